//! The conformance kit: a sequential reference model of the contract,
//! operation programs that drive a real pool from several threads, and the
//! checkers that say which promise a run broke.
//!
//! The property tests (`tests/state_machine.rs`) and the fuzz targets
//! (`fuzz/`) are both built on this module; so is the replay of the
//! committed fuzz seeds (`tests/fuzz_seeds.rs`). It is compiled only with
//! the `conformance` feature.
//!
//! # Pieces
//!
//! - [`PoolUnderTest`]: what a pool must offer to be checked, implemented
//!   here for [`Pool`](crate::Pool) by a thin adapter. Another pool can be
//!   checked by implementing it.
//! - [`Model`]: the contract as a single-threaded state machine (state,
//!   queue, which task ran or was cancelled, what every operation must
//!   return). It assumes a FIFO queue, as `Pool` has.
//! - [`Program`] and [`check_program`]: up to three threads of [`Op`]s run
//!   against a real pool, then promises 1, 2, 3, 5, 6 and 8 are checked
//!   (and, when a single thread runs, every result is compared with the
//!   [`Model`]). A hang becomes a [`Violation`] after a timeout.
//! - [`Lab`]: the instrumented tasks those checks rely on (tasks that
//!   return a value, panic, or block until a gate opens; a ledger of what
//!   happened to each).
//! - [`ChannelUnderTest`] and [`check_channel_program`]: the pool's queue
//!   alone against a `VecDeque` model.
//! - [`BuildConfig`] and [`check_build`]: any builder settings give an
//!   error or a working pool, never a panic or a leaked thread.
//!
//! # Threads
//!
//! This module is test tooling that only ever runs on real threads, so it
//! uses `std::sync` and `std::thread` directly instead of the crate's
//! facade, and it is not compiled under `--cfg loom` or `--cfg shuttle`.
//!
//! [`PoolUnderTest`]: crate::conformance::PoolUnderTest
//! [`Model`]: crate::conformance::Model
//! [`Program`]: crate::conformance::Program
//! [`check_program`]: crate::conformance::check_program
//! [`Op`]: crate::conformance::Op
//! [`Violation`]: crate::conformance::Violation
//! [`Lab`]: crate::conformance::Lab
//! [`ChannelUnderTest`]: crate::conformance::ChannelUnderTest
//! [`check_channel_program`]: crate::conformance::check_channel_program
//! [`BuildConfig`]: crate::conformance::BuildConfig
//! [`check_build`]: crate::conformance::check_build

mod builder;
mod channel;
mod lab;
mod model;
mod program;
mod under_test;

use std::any::Any;
use std::fmt;
use std::panic::PanicHookInfo;
use std::sync::Once;

pub use builder::{check_build, BuildConfig, ThreadCheck, MAX_BUILD_WORKERS};
pub use channel::{
    check_channel_program, ChannelGate, ChannelModel, ChannelOp, ChannelProgram, ChannelRefusal,
    ChannelSnapshot, ChannelUnderTest, CHANNEL_RECEIVERS,
};
pub use lab::{Lab, LabTask, PanicSink, Record, Role, RoleGuard};
pub use model::{
    Expect, Fate, GateId, HandleOutcome, Model, ModelTask, Op, Progress, Release, Step, TaskId,
    TaskKind, Via, MAX_CAPACITY, MAX_WORKERS,
};
pub use program::{
    check_program, check_program_on, CheckOptions, Program, MAX_OPS_PER_THREAD, MAX_THREADS,
};
pub use under_test::{BuildSpec, HandleUnderTest, PendingUnderTest, PoolUnderTest, Refused};

/// The payload of every deliberate panic in the kit's tasks: the panic
/// hooks of the tests and fuzz targets recognise it (see
/// [`is_deliberate_panic`]) and stay quiet, while any other panic is
/// reported (or, under libFuzzer, aborts the run).
///
/// ```
/// use verified_pool::conformance::{
///     silence_deliberate_panics, DeliberatePanic, Lab, TaskKind, Via,
/// };
/// use verified_pool::{Pool, TaskError};
///
/// silence_deliberate_panics();
/// let lab = Lab::new();
/// let pool = Pool::new(1).unwrap();
/// let handle = pool.submit(lab.task(TaskKind::Panic, Via::Submit).into_submit()).unwrap();
/// match handle.join() {
///     Err(TaskError::Panicked(payload)) => {
///         assert_eq!(payload.downcast_ref(), Some(&DeliberatePanic { task: 0 }));
///     }
///     other => panic!("unexpected: {other:?}"),
/// }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeliberatePanic {
    /// The task that panicked.
    pub task: TaskId,
}

impl fmt::Display for DeliberatePanic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "verified-pool conformance: deliberate panic in task {}",
            self.task
        )
    }
}

/// Whether a panic payload is one of the kit's deliberate task panics.
///
/// ```
/// use std::any::Any;
/// use verified_pool::conformance::{is_deliberate_panic, DeliberatePanic};
///
/// let ours: Box<dyn Any + Send> = Box::new(DeliberatePanic { task: 7 });
/// let foreign: Box<dyn Any + Send> = Box::new("index out of bounds");
/// assert!(is_deliberate_panic(&*ours));
/// assert!(!is_deliberate_panic(&*foreign));
/// ```
pub fn is_deliberate_panic(payload: &(dyn Any + Send)) -> bool {
    payload.is::<DeliberatePanic>()
}

/// Installs (once per process) a panic hook that says nothing about the
/// kit's deliberate task panics and hands every other panic to the hook
/// that was installed before.
///
/// ```
/// use std::panic::{catch_unwind, panic_any};
/// use verified_pool::conformance::{
///     is_deliberate_panic, silence_deliberate_panics, DeliberatePanic,
/// };
///
/// silence_deliberate_panics();
/// silence_deliberate_panics(); // installs nothing more
/// // Prints nothing; the payload still unwinds to whoever catches it.
/// let payload = catch_unwind(|| panic_any(DeliberatePanic { task: 0 })).unwrap_err();
/// assert!(is_deliberate_panic(&*payload));
/// ```
pub fn silence_deliberate_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info: &PanicHookInfo<'_>| {
            if !is_deliberate_panic(info.payload()) {
                previous(info);
            }
        }));
    });
}

/// One of the contract's promises (see `CONTRACT.md`), or the documented
/// behaviour of a single operation.
///
/// ```
/// use verified_pool::conformance::Promise;
///
/// assert_eq!(Promise::NothingIsLost.to_string(), "promise 1 (nothing is lost)");
/// assert_eq!(Promise::CountsAddUp.to_string(), "promise 8 (counts add up)");
/// assert_eq!(Promise::Api.to_string(), "documented behaviour of an operation");
/// ```
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Promise {
    /// 1: every accepted task is run exactly once or handed back by `stop()`.
    NothingIsLost,
    /// 2: a refused task comes back to the caller, unrun and undropped.
    RefusalReturnsOwnership,
    /// 3: `shutdown`, `stop` and `join`, any number of times, in any order.
    ClosingTwiceIsHarmless,
    /// 4: queued tasks are taken; blocked callers and waiters wake.
    NoLostWakeup,
    /// 5: `join()` returns only when every worker thread is gone.
    JoinMeansGone,
    /// 6: a panicking task costs no worker; its payload is delivered.
    PanicsAreContained,
    /// 7: waiting on the pool from its own worker is refused.
    NoSelfDeadlock,
    /// 8: the counters add up and never decrease.
    CountsAddUp,
    /// 9: bad settings give a `BuildError`, never a panic or a stray thread.
    BadInputGetsAClearError,
    /// What an operation returns in a given state (the API and state
    /// sections of the contract), where no numbered promise is at stake.
    Api,
}

impl Promise {
    /// The promise's number in the contract (`None` for [`Promise::Api`]).
    ///
    /// ```
    /// use verified_pool::conformance::Promise;
    ///
    /// assert_eq!(Promise::JoinMeansGone.number(), Some(5));
    /// assert_eq!(Promise::Api.number(), None);
    /// ```
    pub fn number(self) -> Option<u8> {
        Some(match self {
            Promise::NothingIsLost => 1,
            Promise::RefusalReturnsOwnership => 2,
            Promise::ClosingTwiceIsHarmless => 3,
            Promise::NoLostWakeup => 4,
            Promise::JoinMeansGone => 5,
            Promise::PanicsAreContained => 6,
            Promise::NoSelfDeadlock => 7,
            Promise::CountsAddUp => 8,
            Promise::BadInputGetsAClearError => 9,
            Promise::Api => return None,
        })
    }

    /// The promise's title, as the contract words it.
    ///
    /// ```
    /// use verified_pool::conformance::Promise;
    ///
    /// assert_eq!(Promise::NoSelfDeadlock.title(), "no self-deadlock");
    /// assert_eq!(Promise::RefusalReturnsOwnership.title(), "refusal returns ownership");
    /// ```
    pub fn title(self) -> &'static str {
        match self {
            Promise::NothingIsLost => "nothing is lost",
            Promise::RefusalReturnsOwnership => "refusal returns ownership",
            Promise::ClosingTwiceIsHarmless => "closing twice is harmless",
            Promise::NoLostWakeup => "no lost wakeup",
            Promise::JoinMeansGone => "join means gone",
            Promise::PanicsAreContained => "panics are contained",
            Promise::NoSelfDeadlock => "no self-deadlock",
            Promise::CountsAddUp => "counts add up",
            Promise::BadInputGetsAClearError => "bad input gets a clear error",
            Promise::Api => "documented behaviour of an operation",
        }
    }
}

impl fmt::Display for Promise {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.number() {
            Some(n) => write!(f, "promise {n} ({})", self.title()),
            None => f.write_str(self.title()),
        }
    }
}

/// A broken promise, with what was being run when it broke.
///
/// Its `Display` names the promise, says what went wrong, prints the input
/// (the program or configuration) and the trace of operations as they
/// happened, one per line.
///
/// ```
/// use verified_pool::conformance::{Promise, Violation};
///
/// let mut v = Violation::new(Promise::NothingIsLost, "task 1 was never run");
/// v.trace.push("t0 #0 Submit(Value) -> accepted task 0".into());
/// assert_eq!(v.promise.number(), Some(1));
/// let text = v.to_string();
/// assert!(text.starts_with("broke promise 1 (nothing is lost): task 1 was never run\n"));
/// assert!(text.contains("trace (operations as they happened):\n    t0 #0 Submit(Value)"));
/// ```
#[derive(Clone, Debug)]
pub struct Violation {
    /// Which promise broke.
    pub promise: Promise,
    /// What was observed, in words.
    pub detail: String,
    /// The input that was run (a [`Program`], [`ChannelProgram`] or
    /// [`BuildConfig`], pretty-printed).
    pub input: String,
    /// The operations as they happened, with their results (the last ones,
    /// when there were many).
    pub trace: Vec<String>,
}

impl Violation {
    /// A violation of `promise`, described by `detail`, with no input or
    /// trace attached yet.
    ///
    /// ```
    /// use verified_pool::conformance::{Promise, Violation};
    ///
    /// let (got, want) = (2, 1);
    /// let detail = format!("rejected is {got}, the model says {want}");
    /// let v = Violation::new(Promise::CountsAddUp, detail);
    /// assert_eq!(v.promise, Promise::CountsAddUp);
    /// assert_eq!(v.detail, "rejected is 2, the model says 1");
    /// assert!(v.input.is_empty() && v.trace.is_empty());
    /// let text = v.to_string();
    /// assert_eq!(text, "broke promise 8 (counts add up): rejected is 2, the model says 1\n");
    /// ```
    pub fn new(promise: Promise, detail: impl Into<String>) -> Self {
        Violation {
            promise,
            detail: detail.into(),
            input: String::new(),
            trace: Vec::new(),
        }
    }

    pub(crate) fn with_input(mut self, input: &impl fmt::Debug) -> Self {
        self.input = format!("{input:#?}");
        self
    }

    pub(crate) fn with_trace(mut self, trace: Vec<String>) -> Self {
        self.trace = trace;
        self
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "broke {}: {}", self.promise, self.detail)?;
        if !self.input.is_empty() {
            writeln!(f, "input:")?;
            for line in self.input.lines() {
                writeln!(f, "    {line}")?;
            }
        }
        if !self.trace.is_empty() {
            writeln!(f, "trace (operations as they happened):")?;
            for line in &self.trace {
                writeln!(f, "    {line}")?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for Violation {}

/// Shorthand for an early return with a violation.
macro_rules! violation {
    ($promise:ident, $($fmt:tt)*) => {
        return Err($crate::conformance::Violation::new(
            $crate::conformance::Promise::$promise,
            format!($($fmt)*),
        ))
    };
}
pub(crate) use violation;

/// Shorthand for "if not `cond`, return a violation".
macro_rules! ensure {
    ($cond:expr, $promise:ident, $($fmt:tt)*) => {
        if !$cond {
            $crate::conformance::violation!($promise, $($fmt)*);
        }
    };
}
pub(crate) use ensure;
