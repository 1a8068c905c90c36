//! Promises 5 (join means gone) and 7 (no self-deadlock): joiners racing
//! submits and each other, and a pool waited on or dropped from its own
//! worker.
#![cfg(any(loom, shuttle))]

mod common;

use common::{assert_terminated, check, thread, Arc, Bound, Scale, Tracker};
use verified_pool::{Pool, WaitError};

/// Promises 1, 5 (B4, B8): `join()` racing submits. Every accepted task
/// has run by the time `join()` returns, and every worker is gone.
/// Mutants: B1-empty-slot, B4-exit-before-drain, B8-join-returns-early.
/// loom: bound 3; 2 workers, 1 submitter of 1 task, main joining.
#[test]
fn join_racing_submit_waits_for_accepted_work() {
    let loom = Scale::new(2, 1, 1);
    check("join_racing_submit", Bound::Preemptions(3), loom, |s| {
        let pool = Arc::new(Pool::new(s.workers).unwrap());
        let ran = Tracker::new();
        let submitters: Vec<_> = (0..s.threads)
            .map(|_| {
                let pool = pool.clone();
                let ran = ran.clone();
                thread::spawn(move || {
                    (0..s.tasks)
                        .filter(|_| {
                            let task = ran.clone();
                            pool.submit(move || task.hit()).is_ok()
                        })
                        .count()
                })
            })
            .collect();
        pool.join().unwrap();
        let ran_at_join = ran.count();
        assert_terminated(&pool);
        let accepted: usize = submitters.into_iter().map(|t| t.join().unwrap()).sum();
        assert_eq!(ran_at_join, accepted);
    });
}

/// Promise 5 (B5, B8): several threads join at once; all return, each
/// only once every worker has exited.
/// Mutants: B1-empty-slot, B5-add-twice, B5-done-twice, B8-join-returns-early.
/// loom: bound 3; 1 worker, 1 task, 2 joiners and main joining too.
#[test]
fn many_joiners_all_return_after_the_workers_exit() {
    let loom = Scale::new(1, 2, 1);
    check("many_joiners", Bound::Preemptions(3), loom, |s| {
        let pool = Arc::new(Pool::new(s.workers).unwrap());
        let ran = Tracker::new();
        for _ in 0..s.tasks {
            let task = ran.clone();
            pool.execute(move || task.hit()).unwrap();
        }
        let joiners: Vec<_> = (0..s.threads)
            .map(|_| {
                let pool = pool.clone();
                let ran = ran.clone();
                thread::spawn(move || {
                    pool.join().unwrap();
                    assert_terminated(&pool);
                    assert_eq!(ran.count(), s.tasks);
                })
            })
            .collect();
        pool.join().unwrap();
        assert_terminated(&pool);
        assert_eq!(ran.count(), s.tasks);
        for joiner in joiners {
            joiner.join().unwrap();
        }
    });
}

/// Promise 7 (B10): `join()` and `wait_idle()` from the pool's own worker
/// return `InsideWorker` at once instead of waiting for themselves.
/// Mutants: B10-self-join.
/// loom: unbounded (exhaustive); 1 worker, 1 task, main.
#[test]
fn waiting_from_own_worker_is_refused() {
    let loom = Scale::new(1, 0, 1);
    check("wait_from_own_worker", Bound::Unbounded, loom, |s| {
        let pool = Arc::new(Pool::new(s.workers).unwrap());
        let handles: Vec<_> = (0..s.tasks)
            .map(|_| {
                let inner = pool.clone();
                pool.submit(move || (inner.wait_idle(), inner.join()))
                    .unwrap()
            })
            .collect();
        for handle in handles {
            let (idle, join) = handle.join().unwrap();
            assert_eq!(idle, Err(WaitError::InsideWorker));
            assert_eq!(join, Err(WaitError::InsideWorker));
        }
        pool.join().unwrap();
        assert_terminated(&pool);
    });
}

/// Promises 5, 7 (B10): the last `Arc<Pool>` may be dropped on one of the
/// pool's own workers; the drop shuts down instead of joining itself, and
/// the workers exit on their own (the checker fails a model whose threads
/// never finish). Queued work still runs.
/// Mutants: B10-self-join.
/// loom: unbounded (exhaustive); 1 worker, 2 tasks (one holding the pool).
#[test]
fn last_pool_dropped_on_its_own_worker_does_not_deadlock() {
    let loom = Scale::new(1, 0, 1);
    check("drop_on_own_worker", Bound::Unbounded, loom, |s| {
        let pool = Arc::new(Pool::new(s.workers).unwrap());
        let ran = Tracker::new();
        for _ in 0..s.tasks {
            let (holder, task) = (pool.clone(), ran.clone());
            pool.execute(move || {
                task.hit();
                drop(holder);
            })
            .unwrap();
            let second = ran.clone();
            pool.execute(move || second.hit()).unwrap();
        }
        drop(pool);
        // Whoever dropped last, every task ran exactly once or loom
        // reports the leaked tracker.
        let _ = &ran;
    });
}
