//! A small, lock-based worker pool whose every lifecycle interleaving is
//! model-checked.
//!
//! `verified-pool` runs closures on a fixed set of worker threads, like
//! many pools before it. What it adds is evidence: each promise below is
//! checked by a [loom](https://docs.rs/loom) model that explores every
//! interleaving of a small scenario, and each model is shown to catch a
//! deliberately broken variant of the pool (a mutant) reproducing a bug
//! that real pools have shipped.
//!
#![cfg_attr(
    not(all(doctest, checker_build)),
    doc = r#"
```
use verified_pool::Pool;

let pool = Pool::new(4)?;
let answer = pool.submit(|| 6 * 7).expect("pool is running");
pool.execute(|| println!("fire and forget")).expect("pool is running");
assert_eq!(answer.join()?, 42);
pool.join()?; // every queued task has run, every worker thread is gone
# Ok::<(), Box<dyn std::error::Error>>(())
```

"#
)]
//!
//! # The promises
//!
//! 1. **Nothing is lost.** Every accepted task is, exactly once, run by a
//!    worker or handed back by [`Pool::stop`] as a [`PendingTask`].
//! 2. **Refusal returns ownership.** A refused task comes back inside
//!    [`Rejected`], never dropped, never run.
//! 3. **Closing twice is harmless.** `shutdown`, `stop` and `join` may be
//!    called any number of times, from any threads, concurrently.
//! 4. **No lost wakeup.** A queued task is always taken by some worker;
//!    blocked submitters and waiters all wake when their condition holds.
//! 5. **Join means gone.** [`Pool::join`] returns only when every worker
//!    thread has exited and been joined.
//! 6. **Panics are contained.** A panicking task (or panic handler) never
//!    costs a worker; the payload reaches its [`TaskHandle`] or the panic
//!    handler.
//! 7. **No self-deadlock.** `join`/`wait_idle` from the pool's own worker
//!    return [`WaitError::InsideWorker`] at once.
//! 8. **Counts add up.** At a quiescent moment `submitted == completed +
//!    panicked + cancelled + queued + running` (see [`Stats`]).
//! 9. **Bad input gets a clear error.** [`BuildError`], never a panic, and
//!    no thread left behind.
//!
//! # Verifying it yourself
//!
//! `RUSTFLAGS="--cfg loom" cargo test --release` runs the models (the
//! whole pool is built on loom's primitives under that cfg);
//! `cargo test` runs the real-thread tests.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

// See build.rs: under `--cfg loom`/`shuttle`, rustdoc must find no examples to run.
macro_rules! hidden_from_checker_buildtests {
    ($($item:item)*) => { $(#[cfg(not(all(doctest, checker_build)))] $item)* };
}

hidden_from_checker_buildtests! {
    mod builder;
    mod channel;
    mod error;
    mod pool;
    mod spent;
    mod sync;
    mod task;
    mod trace;
    mod wait_group;

    /// Test tooling: the reference model, operation programs and checkers
    /// behind the property tests and fuzz targets (feature `conformance`).
    #[cfg(all(feature = "conformance", not(any(loom, shuttle))))]
    pub mod conformance;

    pub use builder::Builder;
    pub use error::{BuildError, RejectReason, Rejected, TaskError, WaitError};
    pub use pool::{Pool, State, Stats};
    pub use task::{PendingTask, TaskHandle};

    /// The pool's two building blocks, for the loom models of each on its own.
    #[cfg(any(loom, shuttle))]
    #[doc(hidden)]
    pub mod internals {
        pub use crate::channel::{Channel, Gate, Refusal};
        pub use crate::wait_group::WaitGroup;

        /// Makes the channel's receivers in the models run on this thread
        /// take the spin path before parking (one round), as they do in
        /// normal builds; off by default.
        pub fn spin_in_models(on: bool) {
            crate::sync::spin_in_models(on);
        }

        /// Makes this model thread send to the channel's inbox shard
        /// `shard` (every thread sends to shard 0 unless told otherwise).
        pub fn send_on_shard(shard: usize) {
            crate::sync::send_on_shard(shard);
        }

        /// Makes the unbounded channels (and pools) made on this thread
        /// have all their inboxes, as in normal builds; off by default (one
        /// inbox).
        pub fn shards_in_models(on: bool) {
            crate::sync::shards_in_models(on);
        }

        /// Forgets the pool-event trace: call as each model execution starts.
        pub fn trace_clear() {
            crate::trace::clear();
        }

        /// The pool events of the last execution on this OS thread as lanes,
        /// one column per model thread, ending at `failure` (the panic
        /// message that ended it). Print it when a model fails.
        pub fn trace_lanes(failure: &str) -> String {
            crate::trace::lanes(failure)
        }
    }

    /// README.md's example, compiled and run with the doc examples.
    #[cfg(doctest)]
    #[doc = include_str!("../README.md")]
    pub struct ReadmeExample;

    static_assertions::assert_impl_all!(Pool: Send, Sync);
    static_assertions::assert_impl_all!(
        TaskHandle<u32>: Send,
        Sync,
        std::panic::UnwindSafe,
        std::panic::RefUnwindSafe
    );
    static_assertions::assert_impl_all!(PendingTask: Send);
    static_assertions::assert_impl_all!(Rejected<fn()>: Send);
    static_assertions::assert_impl_all!(BuildError: std::error::Error, Send, Sync);
    static_assertions::assert_impl_all!(TaskError: std::error::Error, Send);
}
