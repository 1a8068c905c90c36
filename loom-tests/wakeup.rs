//! Promise 4 (no lost wakeup): workers, blocked submitters and idle
//! waiters all wake when their condition holds. Each model ends with the
//! main thread waiting on the outcome, so a lost wakeup is a deadlock that
//! the checker reports.
#![cfg(any(loom, shuttle))]

mod common;

use common::{assert_terminated, check, thread, Arc, Bound, Gate, Scale, Tracker};
use verified_pool::internals::{send_on_shard, shards_in_models, spin_in_models};
use verified_pool::{Pool, RejectReason};

/// Promise 4 (B3): idle workers, submitters each waiting on their tasks'
/// handles before the pool is closed.
/// Mutants: B3-check-then-sleep.
/// loom: bound 2; 2 workers, 2 submitters of 1 task each.
#[test]
fn idle_workers_take_tasks_from_two_submitters() {
    let loom = Scale::new(2, 2, 1);
    check(
        "two_submitters_two_workers",
        Bound::Preemptions(2),
        loom,
        |s| {
            let pool = Arc::new(Pool::new(s.workers).unwrap());
            let submitters: Vec<_> = (0..s.threads)
                .map(|i| {
                    let pool = pool.clone();
                    thread::spawn(move || {
                        for n in 0..s.tasks {
                            let value = pool.submit(move || (i, n)).unwrap().join().unwrap();
                            assert_eq!(value, (i, n));
                        }
                    })
                })
                .collect();
            for submitter in submitters {
                submitter.join().unwrap();
            }
            pool.join().unwrap();
            assert_terminated(&pool);
        },
    );
}

/// Promise 4 (B3) with two inboxes, as an unbounded pool has in normal
/// builds: an idle worker takes tasks sent to either inbox. Each submitter
/// waits for its task before the pool closes (which would wake everyone),
/// so a task left in an inbox the worker did not look at, or a wake-up a
/// sender did not see it owed, is a deadlock.
/// Mutants: B3-one-inbox-looked-at, B3-count-read-before-push,
/// B3-check-then-sleep.
/// loom: bound 3; 1 worker, 2 submitters of 1 task each, one per inbox.
#[test]
fn idle_worker_takes_tasks_from_either_inbox() {
    let loom = Scale::new(1, 2, 1);
    shards_in_models(true);
    check("two_inboxes_one_worker", Bound::Preemptions(3), loom, |s| {
        let pool = Arc::new(Pool::new(s.workers).unwrap());
        let submitters: Vec<_> = (0..s.threads)
            .map(|i| {
                let pool = pool.clone();
                thread::spawn(move || {
                    send_on_shard(i);
                    for n in 0..s.tasks {
                        let value = pool.submit(move || (i, n)).unwrap().join().unwrap();
                        assert_eq!(value, (i, n));
                    }
                })
            })
            .collect();
        for submitter in submitters {
            submitter.join().unwrap();
        }
        pool.join().unwrap();
        assert_terminated(&pool);
    });
    shards_in_models(false);
}

/// Promise 4 (B3): a worker finishing its last task just as the next
/// submit arrives (it is about to wait on an empty queue) still takes it.
/// Mutants: B3-check-then-sleep.
/// loom: unbounded (exhaustive); 1 worker, 1 submitter, main.
#[test]
fn worker_finishing_as_a_submit_arrives_takes_it() {
    let loom = Scale::new(1, 1, 1);
    check("finish_as_submit_arrives", Bound::Unbounded, loom, |s| {
        let pool = Arc::new(Pool::new(s.workers).unwrap());
        let first = pool.submit(|| 1).unwrap();
        let submitters: Vec<_> = (0..s.threads)
            .map(|_| {
                let pool = pool.clone();
                thread::spawn(move || {
                    for _ in 0..s.tasks {
                        assert_eq!(pool.submit(|| 2).unwrap().join().unwrap(), 2);
                    }
                })
            })
            .collect();
        assert_eq!(first.join().unwrap(), 1);
        for submitter in submitters {
            submitter.join().unwrap();
        }
        pool.join().unwrap();
        assert_terminated(&pool);
    });
}

/// Promise 4 (B9): submitters blocked on a full bounded queue when
/// `shutdown()` comes wake with `Rejected(ShutDown)` and their closures,
/// while every worker is still busy (so no room ever frees).
/// Mutants: B9-close-forgets-blocked-submitters.
/// loom: unbounded (exhaustive); 1 worker, 1 submitter, main.
#[test]
fn blocked_submitter_wakes_at_shutdown() {
    let loom = Scale::new(1, 1, 1);
    check(
        "blocked_submitter_at_shutdown",
        Bound::Unbounded,
        loom,
        |s| {
            let pool = Arc::new(
                Pool::builder()
                    .workers(s.workers)
                    .queue_capacity(1)
                    .build()
                    .unwrap(),
            );
            let (started, release) = (Gate::new(), Gate::new());
            for _ in 0..s.workers {
                let (started, release) = (started.clone(), release.clone());
                pool.execute(move || {
                    started.arrive();
                    release.wait();
                })
                .unwrap();
                // An idle worker takes each blocker, so main never waits long here.
            }
            started.wait_for(s.workers);
            let ran = Tracker::new();
            let queued = ran.clone();
            pool.execute(move || queued.hit()).unwrap(); // the queue is now full
            let submitters: Vec<_> = (0..s.threads)
                .map(|_| {
                    let pool = pool.clone();
                    let ran = ran.clone();
                    thread::spawn(move || {
                        for _ in 0..s.tasks {
                            let blocked = ran.clone();
                            let refused = pool.execute(move || blocked.hit()).unwrap_err();
                            assert_eq!(refused.reason(), RejectReason::ShutDown);
                            drop(refused.into_inner());
                        }
                    })
                })
                .collect();
            pool.shutdown();
            for submitter in submitters {
                submitter.join().unwrap(); // before any worker can make room
            }
            release.open();
            pool.join().unwrap();
            assert_eq!(ran.count(), 1);
            assert_terminated(&pool);
        },
    );
}

/// Promise 4 (wait_idle; the shape of threadpool PR #89): idle waiters,
/// arriving while a second wave of work is submitted; every waiter
/// returns, and `wait_idle` never returns with work pending.
/// Mutants: B5-quiet-notify-one, B3-quiet-never-notified.
/// loom: bound 3; 1 worker, 1 waiter, main (submitting and waiting).
#[test]
fn idle_waiters_all_wake_across_waves() {
    let loom = Scale::new(1, 1, 1);
    check("wait_idle_waves", Bound::Preemptions(3), loom, |s| {
        let pool = Arc::new(Pool::new(s.workers).unwrap());
        let ran = Tracker::new();
        for _ in 0..s.tasks {
            let task = ran.clone();
            pool.execute(move || task.hit()).unwrap();
        }
        let waiters: Vec<_> = (0..s.threads)
            .map(|_| {
                let pool = pool.clone();
                let ran = ran.clone();
                thread::spawn(move || {
                    pool.wait_idle().unwrap();
                    ran.count()
                })
            })
            .collect();
        for _ in 0..s.tasks {
            let task = ran.clone();
            pool.execute(move || task.hit()).unwrap();
        }
        pool.wait_idle().unwrap();
        assert_eq!(
            ran.count(),
            2 * s.tasks,
            "wait_idle returned with work pending"
        );
        for waiter in waiters {
            assert!(
                waiter.join().unwrap() >= s.tasks,
                "a waiter returned before the first wave"
            );
        }
        pool.join().unwrap();
        assert_terminated(&pool);
    });
}

/// Promise 4 (B3) with the spin path on, as in normal builds: a worker
/// that found the queue empty backs off (unlocks, yields, relocks) before
/// it parks; a task pushed while it was not looking, when no one slept
/// and so no one was notified, must still be taken. All but one task wait
/// for the last, so every task must reach a worker of its own.
/// Mutants: B3-spin-then-sleep-unchecked, B3-check-then-sleep.
/// loom: bound 3; 2 workers, main.
#[test]
fn backing_off_workers_still_take_every_task() {
    let loom = Scale::new(2, 0, 0);
    spin_in_models(true);
    check("backoff_then_park", Bound::Preemptions(3), loom, |s| {
        let pool = Pool::new(s.workers).unwrap();
        let opened = Gate::new();
        let mut handles = Vec::new();
        for _ in 1..s.workers {
            let opened = opened.clone();
            handles.push(pool.submit(move || opened.wait()).unwrap());
        }
        let opener = opened.clone();
        handles.push(pool.submit(move || opener.open()).unwrap());
        for handle in handles {
            handle.join().unwrap();
        }
        pool.join().unwrap();
        assert_terminated(&pool);
    });
    spin_in_models(false);
}
