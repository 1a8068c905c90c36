//! Promise 9 (bad input gets a clear error): a build that cannot succeed
//! returns a `BuildError`, never panics, and leaves no thread behind (the
//! checker fails a model whose threads never finish).
#![cfg(any(loom, shuttle))]

mod common;

use common::{check, thread, Bound, Scale};
use verified_pool::{BuildError, Pool};

/// Promise 9: zero workers, zero capacity, and a worker thread that cannot
/// be spawned (a NUL byte in its name) each give their `BuildError`; the
/// failed spawn is counted out of the wait-group, so dropping the
/// half-built pool does not wait for a worker that never started.
/// Mutants: P9-zero-workers-accepted, P9-failed-spawn-not-counted-out.
/// loom: unbounded (exhaustive); main, one builder thread, then 1 worker.
#[test]
fn bad_input_is_a_build_error_with_no_thread_left() {
    let loom = Scale::new(1, 0, 0);
    check("bad_input", Bound::Unbounded, loom, |s| {
        assert!(matches!(Pool::new(0), Err(BuildError::ZeroWorkers)));
        let zero_capacity = Pool::builder().workers(s.workers).queue_capacity(0).build();
        assert!(matches!(zero_capacity, Err(BuildError::ZeroCapacity)));
        // From another thread, so shuttle (which rejects a model that never
        // runs two threads) explores it too.
        let workers = s.workers;
        let unspawnable = thread::spawn(move || {
            let built = Pool::builder()
                .workers(workers)
                .thread_name("bad\0name")
                .build();
            matches!(built, Err(BuildError::Spawn(_)))
        });
        assert!(unspawnable.join().unwrap());
        // And a good build after the bad ones starts and joins cleanly.
        Pool::new(s.workers).unwrap().join().unwrap();
    });
}
