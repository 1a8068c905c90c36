//! Promises 1 (nothing is lost), 2 (refusal returns ownership) and 3
//! (closing twice is harmless): closing the pool while tasks arrive, run,
//! or wait in the queue. Every task carries a `Tracker`, a loom `Arc`, so a
//! task that is neither run nor dropped also fails the model (leak check).
#![cfg(loom)]

mod common;

use common::{assert_terminated, check, Bound, Tracker};
use loom::sync::Arc;
use loom::thread;
use verified_pool::{Pool, RejectReason, TaskError};

/// Promises 1, 2 (B4, B7): a submit racing `shutdown()` is either refused
/// with its closure handed back, or runs exactly once before `join()`
/// returns.
/// Mutants: B7-check-then-send, B7-drop-after-close, B4-exit-before-drain.
/// Bound 3; 2 workers, a submitter, main closing.
#[test]
fn submit_racing_shutdown_runs_or_returns_the_task() {
    check("submit_racing_shutdown", Bound::Preemptions(3), || {
        let pool = Arc::new(Pool::new(2).unwrap());
        let ran = Tracker::new();
        let submitter = {
            let pool = pool.clone();
            let task = ran.clone();
            thread::spawn(move || match pool.execute(move || task.hit()) {
                Ok(()) => true,
                Err(refused) => {
                    assert_eq!(refused.reason(), RejectReason::ShutDown);
                    drop(refused.into_inner());
                    false
                }
            })
        };
        pool.shutdown();
        let accepted = submitter.join().unwrap();
        pool.join().unwrap();
        assert_eq!(ran.count(), usize::from(accepted));
        assert_terminated(&pool);
        assert_eq!(pool.stats().rejected, u64::from(!accepted));
    });
}

/// Promise 1: `stop()` racing a running task and a queued one. Each task
/// either runs (its handle gives the value) or comes back exactly once as
/// a `PendingTask`; the dropped ones resolve to `Cancelled`.
/// Mutants: B4-stop-forgets-queued.
/// Unbounded (exhaustive); 1 worker, a stopper, main.
#[test]
fn stop_racing_running_and_queued_tasks_hands_back_each_once() {
    check("stop_racing_tasks", Bound::Unbounded, || {
        let pool = Arc::new(Pool::new(1).unwrap());
        let ran = Tracker::new();
        let handles: Vec<_> = (0..2)
            .map(|i| {
                let ran = ran.clone();
                pool.submit(move || {
                    ran.hit();
                    i
                })
                .unwrap()
            })
            .collect();
        let stopper = {
            let pool = pool.clone();
            thread::spawn(move || pool.stop().len())
        };
        let handed_back = stopper.join().unwrap();
        pool.join().unwrap();
        assert_eq!(ran.count() + handed_back, 2);
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

/// Promise 3 (B2): two threads close the same pool, in every pairing of
/// shutdown/stop/join; no panic, no hang, the queued task met one fate.
/// Mutants: B2-close-twice-panics, B8-close-forgets-sleeping-workers.
/// Unbounded (exhaustive) per pairing; 1 worker, a closer, main.
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
        check(
            &format!("close_twice_{theirs:?}_{ours:?}"),
            Bound::Unbounded,
            move || {
                let pool = Arc::new(Pool::new(1).unwrap());
                let ran = Tracker::new();
                let task = ran.clone();
                pool.execute(move || task.hit()).unwrap();
                let closer = {
                    let pool = pool.clone();
                    thread::spawn(move || close(&pool, theirs))
                };
                let mine = close(&pool, ours);
                let handed_back = mine + closer.join().unwrap();
                pool.join().unwrap();
                assert_eq!(ran.count() + handed_back, 1);
                assert_terminated(&pool);
            },
        );
    }
}
