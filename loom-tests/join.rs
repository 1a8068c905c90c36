//! Promises 5 (join means gone) and 7 (no self-deadlock): joiners racing
//! submits and each other, and a pool waited on or dropped from its own
//! worker.
#![cfg(loom)]

mod common;

use common::{assert_terminated, check, Bound, Tracker};
use loom::sync::Arc;
use loom::thread;
use verified_pool::{Pool, WaitError};

/// Promises 1, 5 (B4, B8): `join()` racing a `submit()`. If the submit
/// was accepted, its task has run by the time `join()` returns, and every
/// worker is gone.
/// Mutants: B8-join-returns-early, B4-exit-before-drain, B1-empty-slot.
/// Bound 3; 2 workers, a submitter, main.
#[test]
fn join_racing_submit_waits_for_accepted_work() {
    check("join_racing_submit", Bound::Preemptions(3), || {
        let pool = Arc::new(Pool::new(2).unwrap());
        let ran = Tracker::new();
        let submitter = {
            let pool = pool.clone();
            let task = ran.clone();
            thread::spawn(move || pool.submit(move || task.hit()).is_ok())
        };
        pool.join().unwrap();
        let ran_at_join = ran.count();
        assert_terminated(&pool);
        let accepted = submitter.join().unwrap();
        assert_eq!(ran_at_join, usize::from(accepted));
    });
}

/// Promise 5 (B5, B8): three threads join at once; all return, each only
/// once every worker has exited.
/// Mutants: B1-empty-slot, B5-add-twice, B5-done-twice, B8-join-returns-early.
/// Bound 3; 1 worker, 2 joiners, main joining too.
#[test]
fn many_joiners_all_return_after_the_workers_exit() {
    check("many_joiners", Bound::Preemptions(3), || {
        let pool = Arc::new(Pool::new(1).unwrap());
        let ran = Tracker::new();
        let task = ran.clone();
        pool.execute(move || task.hit()).unwrap();
        let joiners: Vec<_> = (0..2)
            .map(|_| {
                let pool = pool.clone();
                let ran = ran.clone();
                thread::spawn(move || {
                    pool.join().unwrap();
                    assert_terminated(&pool);
                    assert_eq!(ran.count(), 1);
                })
            })
            .collect();
        pool.join().unwrap();
        assert_terminated(&pool);
        assert_eq!(ran.count(), 1);
        for joiner in joiners {
            joiner.join().unwrap();
        }
    });
}

/// Promise 7 (B10): `join()` and `wait_idle()` from the pool's own worker
/// return `InsideWorker` at once instead of waiting for themselves.
/// Mutants: B10-self-join.
/// Unbounded (exhaustive); 1 worker, main.
#[test]
fn waiting_from_own_worker_is_refused() {
    check("wait_from_own_worker", Bound::Unbounded, || {
        let pool = Arc::new(Pool::new(1).unwrap());
        let inner = pool.clone();
        let handle = pool
            .submit(move || (inner.wait_idle(), inner.join()))
            .unwrap();
        let (idle, join) = handle.join().unwrap();
        assert_eq!(idle, Err(WaitError::InsideWorker));
        assert_eq!(join, Err(WaitError::InsideWorker));
        pool.join().unwrap();
        assert_terminated(&pool);
    });
}

/// Promises 5, 7 (B10): the last `Arc<Pool>` may be dropped on one of the
/// pool's own workers; the drop shuts down instead of joining itself, and
/// the workers exit on their own (loom fails a model whose threads never
/// finish). Queued work still runs.
/// Mutants: B10-self-join.
/// Unbounded (exhaustive); 1 worker, main.
#[test]
fn last_pool_dropped_on_its_own_worker_does_not_deadlock() {
    check("drop_on_own_worker", Bound::Unbounded, || {
        let pool = Arc::new(Pool::new(1).unwrap());
        let ran = Tracker::new();
        let (holder, task) = (pool.clone(), ran.clone());
        pool.execute(move || {
            task.hit();
            drop(holder);
        })
        .unwrap();
        let second = ran.clone();
        pool.execute(move || second.hit()).unwrap();
        drop(pool);
        // Whoever dropped last, both tasks ran exactly once or loom reports
        // the leaked tracker.
        let _ = &ran;
    });
}
