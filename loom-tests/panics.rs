//! Promises 6 (panics are contained) and 8 (counts add up): panicking
//! tasks and a panicking panic handler while the pool shuts down.
#![cfg(loom)]

mod common;

use common::{assert_terminated, check, Bound, Tracker, EXPECTED};
use std::panic::panic_any;

use loom::sync::Arc;
use loom::thread;
use verified_pool::{Pool, TaskError};

/// Promises 6, 8 (B6): a `submit` task and an `execute` task panic while
/// another thread shuts the pool down. The single worker survives (the
/// task after them still runs on it), the payload reaches the handle
/// intact, the handler gets the other, and the counts add up.
/// Mutants: B6-submit-panic-escapes, B6-execute-panic-lost, B6-worker-exits-on-panic.
/// Bound 3; 1 worker, a closer, main.
#[test]
fn task_panicking_during_shutdown_is_contained() {
    check("panic_during_shutdown", Bound::Preemptions(3), || {
        let handled = Tracker::new();
        let seen = handled.clone();
        let pool = Arc::new(
            Pool::builder()
                .workers(1)
                .panic_handler(move |payload| {
                    assert_eq!(payload.downcast_ref::<&str>(), Some(&EXPECTED));
                    seen.hit();
                })
                .build()
                .unwrap(),
        );
        let failing = pool.submit(|| -> u8 { panic_any(EXPECTED) }).unwrap();
        pool.execute(|| panic_any(EXPECTED)).unwrap();
        let after = pool.submit(|| 7).unwrap();
        let closer = {
            let pool = pool.clone();
            thread::spawn(move || pool.shutdown())
        };
        match failing.join() {
            Err(TaskError::Panicked(payload)) => {
                assert_eq!(payload.downcast_ref::<&str>(), Some(&EXPECTED))
            }
            other => panic!("expected the panic payload, got {other:?}"),
        }
        assert_eq!(after.join().unwrap(), 7);
        closer.join().unwrap();
        pool.join().unwrap();
        assert_eq!(handled.count(), 1);
        assert_terminated(&pool);
        let stats = pool.stats();
        assert_eq!(
            (stats.submitted, stats.completed, stats.panicked),
            (3, 1, 2)
        );
    });
}

/// Promise 6: a panic handler that panics itself is contained; the worker
/// goes on to the next task, and `wait_idle` sees the handler finished.
/// Mutants: B6-handler-panic-escapes.
/// Unbounded (exhaustive); 1 worker, main.
#[test]
fn panicking_panic_handler_is_contained() {
    check("panicking_handler", Bound::Unbounded, || {
        let handled = Tracker::new();
        let seen = handled.clone();
        let pool = Pool::builder()
            .workers(1)
            .panic_handler(move |_| {
                seen.hit();
                panic_any(EXPECTED);
            })
            .build()
            .unwrap();
        pool.execute(|| panic_any(EXPECTED)).unwrap();
        let ran = Tracker::new();
        let task = ran.clone();
        pool.execute(move || task.hit()).unwrap();
        pool.wait_idle().unwrap();
        assert_eq!((handled.count(), ran.count()), (1, 1));
        assert_eq!(pool.stats().workers, 1);
        pool.join().unwrap();
        assert_terminated(&pool);
    });
}
