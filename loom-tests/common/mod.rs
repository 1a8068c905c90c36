//! What every model shares: how it is run (bound and branch limit set
//! here, not taken from the environment), a panic hook that keeps expected
//! task panics quiet, and a tracker that turns a lost task into a failure.

#![allow(dead_code)] // each model file uses a different subset

use std::panic;
use std::sync::Once;

use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::sync::Arc;

/// The payload every deliberate panic in the models carries (via
/// `std::panic::panic_any`, so it arrives as a `&str`); the hook below
/// prints every other panic.
pub const EXPECTED: &str = "expected panic (loom model)";

/// How far a model's exploration goes.
#[derive(Clone, Copy, Debug)]
pub enum Bound {
    /// Every interleaving: the claim is exhaustive.
    Unbounded,
    /// Every interleaving with at most this many preemptions.
    Preemptions(usize),
}

/// Runs `f` under loom with the given bound and reports how many
/// executions were explored (printed with `--nocapture`).
pub fn check<F>(name: &str, bound: Bound, f: F)
where
    F: Fn() + Sync + Send + 'static,
{
    quiet_expected_panics();
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = match bound {
        Bound::Unbounded => None,
        Bound::Preemptions(n) => Some(n),
    };
    builder.max_branches = 10_000;
    // Never cut exploration short silently: these stop "as a pass".
    builder.max_permutations = None;
    builder.max_duration = None;
    let counter = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = std::sync::Arc::clone(&counter);
    let started = std::time::Instant::now();
    builder.check(move || {
        seen.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        f();
    });
    println!(
        "model {name}: bound {bound:?}, {} executions, {:.2} s",
        counter.load(std::sync::atomic::Ordering::Relaxed),
        started.elapsed().as_secs_f64()
    );
}

fn quiet_expected_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let default = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            let payload = info.payload();
            let msg = payload
                .downcast_ref::<&str>()
                .copied()
                .or_else(|| payload.downcast_ref::<String>().map(String::as_str));
            if msg != Some(EXPECTED) {
                default(info);
            }
        }));
    });
}

/// Counts how often tasks carrying it ran. Each task holds a clone of the
/// inner `loom::sync::Arc`; a task that is neither run nor dropped leaks
/// it, and loom fails the execution.
#[derive(Clone, Default)]
pub struct Tracker(Arc<AtomicUsize>);

impl Tracker {
    pub fn new() -> Self {
        Tracker(Arc::new(AtomicUsize::new(0)))
    }

    pub fn hit(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    pub fn count(&self) -> usize {
        self.0.load(Ordering::Relaxed)
    }
}

/// A one-shot gate built on loom's primitives: a task can block on it
/// until the model opens it, and report that it has started.
#[derive(Clone, Default)]
pub struct Gate(Arc<(loom::sync::Mutex<bool>, loom::sync::Condvar)>);

impl Gate {
    pub fn new() -> Self {
        Gate(Arc::new((
            loom::sync::Mutex::new(false),
            loom::sync::Condvar::new(),
        )))
    }

    pub fn open(&self) {
        *self.0 .0.lock().unwrap() = true;
        self.0 .1.notify_all();
    }

    pub fn wait(&self) {
        let mut open = self.0 .0.lock().unwrap();
        while !*open {
            open = self.0 .1.wait(open).unwrap();
        }
    }
}

/// `submitted == completed + panicked + cancelled + queued + running`,
/// checked on a snapshot taken at a quiescent moment.
pub fn assert_counts_add_up(stats: &verified_pool::Stats) {
    assert_eq!(
        stats.submitted,
        stats.completed
            + stats.panicked
            + stats.cancelled
            + stats.queued as u64
            + stats.running as u64,
        "counts do not add up: {stats:?}"
    );
    assert_eq!(stats.idle, stats.workers - stats.running, "{stats:?}");
}

/// The state after `join()` returned: every worker gone.
pub fn assert_terminated(pool: &verified_pool::Pool) {
    assert_eq!(pool.state(), verified_pool::State::Terminated);
    let stats = pool.stats();
    assert_eq!(
        (stats.workers, stats.queued, stats.running),
        (0, 0, 0),
        "{stats:?}"
    );
    assert_counts_add_up(&stats);
}
