//! Promises 1 (nothing is lost), 2 (refusal returns ownership) and 3
//! (closing twice is harmless): closing the pool while tasks arrive, run,
//! or wait in the queue. Every task carries a `Tracker`, so under loom a
//! task that is neither run nor dropped also fails the model (leak check).
#![cfg(any(loom, shuttle))]

mod common;

use common::{assert_terminated, check, thread, Arc, Bound, Scale, Tracker};
use verified_pool::{Pool, RejectReason, TaskError};

/// Promises 1, 2 (B4, B7): submits racing `shutdown()` are each either
/// refused with the closure handed back, or run exactly once before
/// `join()` returns.
/// Mutants: B7-check-then-send, B7-drop-after-close, B4-exit-before-drain.
/// loom: bound 3; 2 workers, 1 submitter of 1 task, main closing.
#[test]
fn submit_racing_shutdown_runs_or_returns_the_task() {
    let loom = Scale::new(2, 1, 1);
    check("submit_racing_shutdown", Bound::Preemptions(3), loom, |s| {
        let pool = Arc::new(Pool::new(s.workers).unwrap());
        let ran = Tracker::new();
        let submitters: Vec<_> = (0..s.threads)
            .map(|_| {
                let pool = pool.clone();
                let ran = ran.clone();
                thread::spawn(move || {
                    let mut accepted = 0;
                    for _ in 0..s.tasks {
                        let task = ran.clone();
                        match pool.execute(move || task.hit()) {
                            Ok(()) => accepted += 1,
                            Err(refused) => {
                                assert_eq!(refused.reason(), RejectReason::ShutDown);
                                drop(refused.into_inner());
                            }
                        }
                    }
                    accepted
                })
            })
            .collect();
        pool.shutdown();
        let accepted: usize = submitters.into_iter().map(|t| t.join().unwrap()).sum();
        pool.join().unwrap();
        assert_eq!(ran.count(), accepted);
        assert_terminated(&pool);
        let total = (s.threads * s.tasks) as u64;
        assert_eq!(pool.stats().rejected, total - accepted as u64);
    });
}

/// Promise 1: `stop()` racing running and queued tasks. Each task either
/// runs (its handle gives the value) or comes back exactly once as a
/// `PendingTask`; the dropped ones resolve to `Cancelled`.
/// Mutants: B4-stop-forgets-queued.
/// loom: unbounded (exhaustive); 1 worker, 2 tasks from main, 1 stopper.
#[test]
fn stop_racing_running_and_queued_tasks_hands_back_each_once() {
    let loom = Scale::new(1, 1, 2);
    check("stop_racing_tasks", Bound::Unbounded, loom, |s| {
        let pool = Arc::new(Pool::new(s.workers).unwrap());
        let ran = Tracker::new();
        let handles: Vec<_> = (0..s.tasks * s.threads)
            .map(|i| {
                let ran = ran.clone();
                pool.submit(move || {
                    ran.hit();
                    i
                })
                .unwrap()
            })
            .collect();
        let stoppers: Vec<_> = (0..s.threads)
            .map(|_| {
                let pool = pool.clone();
                thread::spawn(move || pool.stop().len())
            })
            .collect();
        let handed_back: usize = stoppers.into_iter().map(|t| t.join().unwrap()).sum();
        pool.join().unwrap();
        assert_eq!(ran.count() + handed_back, handles.len());
        for (i, handle) in handles.into_iter().enumerate() {
            match handle.join() {
                Ok(value) => assert_eq!(value, i),
                Err(TaskError::Cancelled) => {}
                Err(other) => panic!("task {i}: {other:?}"),
            }
        }
        assert_terminated(&pool);
        assert_eq!(pool.stats().cancelled, handed_back as u64);
    });
}

#[derive(Clone, Copy, Debug)]
enum Close {
    Shutdown,
    Stop,
    Join,
}

fn close(pool: &Pool, how: Close) -> usize {
    match how {
        Close::Shutdown => {
            pool.shutdown();
            0
        }
        // Dropping what stop hands back cancels it.
        Close::Stop => pool.stop().len(),
        Close::Join => {
            pool.join().unwrap();
            0
        }
    }
}

/// Promise 3 (B2): other threads and main close the same pool, in every
/// pairing of shutdown/stop/join; no panic, no hang, each queued task met
/// one fate.
/// Mutants: B2-close-twice-panics, B8-close-forgets-sleeping-workers.
/// loom: unbounded (exhaustive) per pairing; 1 worker, 1 task, 1 closer.
#[test]
fn closing_twice_from_two_threads_is_harmless() {
    use Close::*;
    let pairs = [
        (Shutdown, Shutdown),
        (Stop, Stop),
        (Shutdown, Stop),
        (Stop, Shutdown),
        (Join, Stop),
        (Join, Join),
    ];
    for (theirs, ours) in pairs {
        let name = format!("close_twice_{theirs:?}_{ours:?}");
        check(&name, Bound::Unbounded, Scale::new(1, 1, 1), move |s| {
            let pool = Arc::new(Pool::new(s.workers).unwrap());
            let ran = Tracker::new();
            for _ in 0..s.tasks {
                let task = ran.clone();
                pool.execute(move || task.hit()).unwrap();
            }
            let closers: Vec<_> = (0..s.threads)
                .map(|_| {
                    let pool = pool.clone();
                    thread::spawn(move || close(&pool, theirs))
                })
                .collect();
            let mine = close(&pool, ours);
            let handed_back = mine
                + closers
                    .into_iter()
                    .map(|t| t.join().unwrap())
                    .sum::<usize>();
            pool.join().unwrap();
            assert_eq!(ran.count() + handed_back, s.tasks);
            assert_terminated(&pool);
        });
    }
}
