//! Promises 1, 2 and 3: closing the pool while tasks arrive.
#![cfg(loom)]

mod common;

use common::{check, Bound, Tracker};
use loom::thread;
use verified_pool::{Pool, RejectReason};

/// Promise 1 and 2 (B4, B7): a submit racing `shutdown()` is either
/// refused with its closure handed back, or runs exactly once; `join()`
/// returns.
#[test]
fn submit_racing_shutdown_runs_or_returns_the_task() {
    check("submit_racing_shutdown", Bound::Preemptions(3), || {
        let pool = loom::sync::Arc::new(Pool::new(2).unwrap());
        let ran = Tracker::new();
        let submitter = {
            let pool = pool.clone();
            let ran = ran.clone();
            thread::spawn(move || {
                let task = ran.clone();
                match pool.execute(move || task.hit()) {
                    Ok(()) => true,
                    Err(refused) => {
                        assert_eq!(refused.reason(), RejectReason::ShutDown);
                        refused.into_inner()();
                        false
                    }
                }
            })
        };
        pool.shutdown();
        let accepted = submitter.join().unwrap();
        pool.join().unwrap();
        // A refused closure was run by hand above, so either way exactly once.
        assert_eq!(ran.count(), 1, "accepted = {accepted}");
    });
}
