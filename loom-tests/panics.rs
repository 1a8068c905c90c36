//! Promises 6 (panics are contained) and 8 (counts add up): panicking
//! tasks and a panicking panic handler while the pool shuts down.
#![cfg(any(loom, shuttle))]

mod common;

use std::panic::panic_any;

use common::{assert_terminated, check, thread, Arc, Bound, Scale, Tracker, EXPECTED};
use verified_pool::{Pool, TaskError};

/// Promises 6, 8 (B6): `submit` tasks and `execute` tasks panic while
/// other threads shut the pool down. The workers survive (the task after
/// them still runs, with a single worker on the same one), payloads reach
/// handles intact, the handler gets the others, and the counts add up.
/// Mutants: B6-submit-panic-escapes, B6-execute-panic-lost, B6-worker-exits-on-panic.
/// loom: bound 3; 1 worker, 1 round of 3 tasks, 1 closer.
#[test]
fn task_panicking_during_shutdown_is_contained() {
    let loom = Scale::new(1, 1, 1);
    check("panic_during_shutdown", Bound::Preemptions(3), loom, |s| {
        let handled = Tracker::new();
        let seen = handled.clone();
        let pool = Arc::new(
            Pool::builder()
                .workers(s.workers)
                .panic_handler(move |payload| {
                    assert_eq!(payload.downcast_ref::<&str>(), Some(&EXPECTED));
                    seen.hit();
                })
                .build()
                .unwrap(),
        );
        let rounds: Vec<_> = (0..s.tasks)
            .map(|_| {
                let failing = pool.submit(|| -> u8 { panic_any(EXPECTED) }).unwrap();
                pool.execute(|| panic_any(EXPECTED)).unwrap();
                let after = pool.submit(|| 7).unwrap();
                (failing, after)
            })
            .collect();
        let closers: Vec<_> = (0..s.threads)
            .map(|_| {
                let pool = pool.clone();
                thread::spawn(move || pool.shutdown())
            })
            .collect();
        for (failing, after) in rounds {
            match failing.join() {
                Err(TaskError::Panicked(payload)) => {
                    assert_eq!(payload.downcast_ref::<&str>(), Some(&EXPECTED))
                }
                other => panic!("expected the panic payload, got {other:?}"),
            }
            assert_eq!(after.join().unwrap(), 7);
        }
        for closer in closers {
            closer.join().unwrap();
        }
        pool.join().unwrap();
        assert_eq!(handled.count(), s.tasks);
        assert_terminated(&pool);
        let stats = pool.stats();
        let n = s.tasks as u64;
        assert_eq!(
            (stats.submitted, stats.completed, stats.panicked),
            (3 * n, n, 2 * n)
        );
    });
}

/// Promise 6: a panic handler that panics itself is contained; the worker
/// goes on to the next task, and `wait_idle` sees the handler finished.
/// Mutants: B6-handler-panic-escapes.
/// loom: unbounded (exhaustive); 1 worker, 2 tasks, main.
#[test]
fn panicking_panic_handler_is_contained() {
    let loom = Scale::new(1, 0, 1);
    check("panicking_handler", Bound::Unbounded, loom, |s| {
        let handled = Tracker::new();
        let seen = handled.clone();
        let pool = Pool::builder()
            .workers(s.workers)
            .panic_handler(move |_| {
                seen.hit();
                panic_any(EXPECTED);
            })
            .build()
            .unwrap();
        let ran = Tracker::new();
        for _ in 0..s.tasks {
            pool.execute(|| panic_any(EXPECTED)).unwrap();
            let task = ran.clone();
            pool.execute(move || task.hit()).unwrap();
        }
        pool.wait_idle().unwrap();
        assert_eq!((handled.count(), ran.count()), (s.tasks, s.tasks));
        assert_eq!(pool.stats().workers, s.workers);
        pool.join().unwrap();
        assert_terminated(&pool);
    });
}
