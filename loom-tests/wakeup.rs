//! Promise 4 (no lost wakeup): workers, blocked submitters and idle
//! waiters all wake when their condition holds. Each model ends with the
//! main thread waiting on the outcome, so a lost wakeup is a deadlock that
//! loom reports.
#![cfg(loom)]

mod common;

use common::{assert_terminated, check, Bound, Gate, Tracker};
use loom::sync::Arc;
use loom::thread;
use verified_pool::{Pool, RejectReason};

/// Promise 4 (B3): two idle workers, two submitters with one task each,
/// each waiting on its task's handle before the pool is closed.
/// Mutants: B3-check-then-sleep.
/// Bound 2; 2 workers, 2 submitters, main.
#[test]
fn idle_workers_take_tasks_from_two_submitters() {
    check("two_submitters_two_workers", Bound::Preemptions(2), || {
        let pool = Arc::new(Pool::new(2).unwrap());
        let submitters: Vec<_> = (0..2)
            .map(|i| {
                let pool = pool.clone();
                thread::spawn(move || pool.submit(move || i).unwrap().join().unwrap())
            })
            .collect();
        for (i, submitter) in submitters.into_iter().enumerate() {
            assert_eq!(submitter.join().unwrap(), i);
        }
        pool.join().unwrap();
        assert_terminated(&pool);
    });
}

/// Promise 4 (B3): a worker finishing its last task just as the next
/// submit arrives (it is about to wait on an empty queue) still takes it.
/// Mutants: B3-check-then-sleep.
/// Unbounded (exhaustive); 1 worker, a submitter, main.
#[test]
fn worker_finishing_as_a_submit_arrives_takes_it() {
    check("finish_as_submit_arrives", Bound::Unbounded, || {
        let pool = Arc::new(Pool::new(1).unwrap());
        let first = pool.submit(|| 1).unwrap();
        let submitter = {
            let pool = pool.clone();
            thread::spawn(move || pool.submit(|| 2).unwrap().join().unwrap())
        };
        assert_eq!(first.join().unwrap(), 1);
        assert_eq!(submitter.join().unwrap(), 2);
        pool.join().unwrap();
        assert_terminated(&pool);
    });
}

/// Promise 4 (B9): a submitter blocked on a full bounded queue when
/// `shutdown()` comes wakes with `Rejected(ShutDown)` and its closure,
/// while the only worker is still busy (so no room ever frees).
/// Mutants: B9-close-forgets-blocked-submitters.
/// Unbounded (exhaustive); 1 worker, a submitter, main.
#[test]
fn blocked_submitter_wakes_at_shutdown() {
    check("blocked_submitter_at_shutdown", Bound::Unbounded, || {
        let pool = Arc::new(
            Pool::builder()
                .workers(1)
                .queue_capacity(1)
                .build()
                .unwrap(),
        );
        let (started, release) = (Gate::new(), Gate::new());
        {
            let (started, release) = (started.clone(), release.clone());
            pool.execute(move || {
                started.open();
                release.wait();
            })
            .unwrap();
        }
        started.wait();
        let ran = Tracker::new();
        let queued = ran.clone();
        pool.execute(move || queued.hit()).unwrap(); // the queue is now full
        let submitter = {
            let pool = pool.clone();
            let blocked = ran.clone();
            thread::spawn(move || {
                let refused = pool.execute(move || blocked.hit()).unwrap_err();
                assert_eq!(refused.reason(), RejectReason::ShutDown);
                drop(refused.into_inner());
            })
        };
        pool.shutdown();
        submitter.join().unwrap(); // before the worker can make room
        release.open();
        pool.join().unwrap();
        assert_eq!(ran.count(), 1);
        assert_terminated(&pool);
    });
}

/// Promise 4 (wait_idle; the shape of threadpool PR #89): two idle
/// waiters, one of them arriving while a second wave of work is submitted;
/// every waiter returns, and only once its work is done.
/// Mutants: B5-quiet-notify-one, B3-quiet-never-notified.
/// Bound 3; 1 worker, a waiter, main (submitting and waiting).
#[test]
fn idle_waiters_all_wake_across_waves() {
    check("wait_idle_waves", Bound::Preemptions(3), || {
        let pool = Arc::new(Pool::new(1).unwrap());
        let ran = Tracker::new();
        let task = ran.clone();
        pool.execute(move || task.hit()).unwrap();
        let waiter = {
            let pool = pool.clone();
            let ran = ran.clone();
            thread::spawn(move || {
                pool.wait_idle().unwrap();
                ran.count()
            })
        };
        let task = ran.clone();
        pool.execute(move || task.hit()).unwrap();
        pool.wait_idle().unwrap();
        assert_eq!(ran.count(), 2, "wait_idle returned with work pending");
        assert!(
            waiter.join().unwrap() >= 1,
            "waiter returned before the first wave"
        );
        pool.join().unwrap();
        assert_terminated(&pool);
    });
}
