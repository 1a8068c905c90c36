//! What every model shares: which checker runs it, how far it explores
//! (set here, never taken from the environment), a panic hook that keeps
//! expected task panics quiet and prints the pool trace of a failing
//! execution, and helpers built on the checker's own primitives.
//!
//! Each scenario body is written once and run by both checkers: under
//! `--cfg loom` exhaustively (to a preemption bound) at the small `Scale`
//! the model names, under `--cfg shuttle` by random and PCT schedules at
//! `Scale::SHUTTLE` (4 workers, 3 extra threads, 21+ tasks), which loom's
//! 5-thread limit and state space cannot reach.

#![allow(dead_code, unused_imports)] // each model file uses a different subset

use std::cell::Cell;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;

use verified_pool::internals::{trace_clear, trace_lanes};

#[cfg(loom)]
pub use loom::{
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Condvar, Mutex,
    },
    thread,
};
#[cfg(shuttle)]
pub use shuttle::{
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Condvar, Mutex,
    },
    thread,
};

/// The payload every deliberate panic in the models carries (via
/// `std::panic::panic_any`, so it arrives as a `&str`); the hook below
/// prints every other panic.
pub const EXPECTED: &str = "expected panic (model)";

/// How far loom's exploration goes.
#[derive(Clone, Copy, Debug)]
pub enum Bound {
    /// Every interleaving: the claim is exhaustive.
    Unbounded,
    /// Every interleaving with at most this many preemptions.
    Preemptions(usize),
}

/// The size of a scenario: worker threads, extra threads (submitters,
/// closers, joiners or waiters, as the model says) and tasks per thread.
#[derive(Clone, Copy, Debug)]
pub struct Scale {
    pub workers: usize,
    pub threads: usize,
    pub tasks: usize,
}

impl Scale {
    pub const fn new(workers: usize, threads: usize, tasks: usize) -> Self {
        Scale {
            workers,
            threads,
            tasks,
        }
    }

    /// What shuttle runs every scenario at.
    pub const SHUTTLE: Scale = Scale::new(4, 3, 7);
}

/// shuttle schedules per scenario and scheduler.
#[cfg(shuttle)]
pub const SHUTTLE_ITERATIONS: usize = 20_000;
/// PCT's bug depth: finds every bug needing at most this many ordering
/// constraints with a known probability per run.
#[cfg(shuttle)]
pub const PCT_DEPTH: usize = 3;

thread_local! {
    /// Whether the pool trace of the model running on this OS thread is
    /// still to be printed (loom and shuttle run all of a model's threads
    /// on the test's OS thread, where the panic hook runs too).
    static TRACE_PENDING: Cell<bool> = const { Cell::new(false) };
}

/// Runs `scenario` under the checker this build uses: loom at `loom_scale`
/// and `bound`, or shuttle at `Scale::SHUTTLE`, and prints what was
/// explored (see it with `--nocapture`).
///
/// When the model fails, the pool events of the failing execution are
/// printed as lanes (one column per thread) before the checker's report:
/// by the panic hook at the first unexpected panic (so they show even if
/// loom then aborts), or here if only an expected panic escaped.
pub fn check<F>(name: &str, bound: Bound, loom_scale: Scale, scenario: F)
where
    F: Fn(Scale) + Sync + Send + 'static,
{
    quiet_expected_panics();
    TRACE_PENDING.with(|pending| pending.set(true));
    let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
        explore(name, bound, loom_scale, scenario)
    }));
    let pending = TRACE_PENDING.with(|pending| pending.replace(false));
    if let Err(payload) = outcome {
        if pending {
            eprintln!("{}", trace_lanes(&message(payload.as_ref())));
        }
        panic::resume_unwind(payload);
    }
}

fn explore<F>(name: &str, bound: Bound, loom_scale: Scale, scenario: F)
where
    F: Fn(Scale) + Sync + Send + 'static,
{
    let counter = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = std::time::Instant::now();
    #[cfg(loom)]
    {
        let mut builder = loom::model::Builder::new();
        builder.preemption_bound = match bound {
            Bound::Unbounded => None,
            Bound::Preemptions(n) => Some(n),
        };
        builder.max_branches = 10_000;
        // Never cut exploration short: these stop silently "as a pass".
        builder.max_permutations = None;
        builder.max_duration = None;
        let seen = std::sync::Arc::clone(&counter);
        builder.check(move || {
            seen.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            trace_clear();
            scenario(loom_scale);
        });
        println!(
            "\nmodel {name}: loom, bound {bound:?}, scale {loom_scale:?}, {} executions, {:.2} s",
            counter.load(std::sync::atomic::Ordering::Relaxed),
            started.elapsed().as_secs_f64()
        );
    }
    #[cfg(shuttle)]
    {
        let _ = (bound, loom_scale);
        let scenario = std::sync::Arc::new(scenario);
        let run = {
            let (seen, scenario) = (std::sync::Arc::clone(&counter), scenario.clone());
            move || {
                seen.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                trace_clear();
                scenario(Scale::SHUTTLE);
            }
        };
        // A failing run prints "failing schedule: <s>"; rerun exactly that
        // interleaving with SHUTTLE_REPLAY=<s> and --exact <model>.
        if let Ok(schedule) = std::env::var("SHUTTLE_REPLAY") {
            shuttle::replay(run, &schedule);
            return;
        }
        shuttle::check_pct(run.clone(), SHUTTLE_ITERATIONS, PCT_DEPTH);
        shuttle::check_random(run, SHUTTLE_ITERATIONS);
        println!(
            "\nmodel {name}: shuttle, pct depth {PCT_DEPTH} + random, scale {:?}, {} schedules, {:.2} s",
            Scale::SHUTTLE,
            counter.load(std::sync::atomic::Ordering::Relaxed),
            started.elapsed().as_secs_f64()
        );
    }
}

fn quiet_expected_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        // shuttle installs its own hook (once, at its first run) and that
        // hook prints the schedule for every panic, caught or not: 1.1
        // million schedules, 330 MB of output, for the deliberate panics
        // of the panics model alone. Let it install first, so that this
        // hook wraps it and only unexpected panics reach it.
        #[cfg(shuttle)]
        shuttle::check_random(|| {}, 1);
        let default = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if info.payload().downcast_ref::<&str>() != Some(&EXPECTED) {
                if TRACE_PENDING.with(|pending| pending.replace(false)) {
                    let at = info
                        .location()
                        .map(|at| format!("\n(at {}:{})", at.file(), at.line()))
                        .unwrap_or_default();
                    eprintln!(
                        "{}",
                        trace_lanes(&format!("{}{at}", message(info.payload())))
                    );
                }
                default(info);
            }
        }));
    });
}

/// The text of a panic payload.
fn message(payload: &(dyn std::any::Any + Send)) -> String {
    match (
        payload.downcast_ref::<&str>(),
        payload.downcast_ref::<String>(),
    ) {
        (Some(text), _) => (*text).to_owned(),
        (_, Some(text)) => text.clone(),
        _ => "(a panic with a non-text payload)".to_owned(),
    }
}

/// Counts how often tasks carrying it ran. Each task holds a clone of the
/// checker's `Arc`; under loom, a task that is neither run nor dropped
/// leaks it, and loom fails the execution.
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

/// A counter tasks can block on: `arrive` adds one, `wait_for(n)` returns
/// once n have arrived. With n = 1 it is a one-shot gate.
#[derive(Clone, Default)]
pub struct Gate(Arc<(Mutex<usize>, Condvar)>);

impl Gate {
    pub fn new() -> Self {
        Gate(Arc::new((Mutex::new(0), Condvar::new())))
    }

    pub fn arrive(&self) {
        *self.0 .0.lock().unwrap() += 1;
        self.0 .1.notify_all();
    }

    pub fn open(&self) {
        self.arrive();
    }

    pub fn wait_for(&self, n: usize) {
        let mut arrived = self.0 .0.lock().unwrap();
        while *arrived < n {
            arrived = self.0 .1.wait(arrived).unwrap();
        }
    }

    pub fn wait(&self) {
        self.wait_for(1);
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
