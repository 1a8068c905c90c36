//! What a pool must offer to be checked, and the adapter for [`Pool`].

use crate::{Pool, RejectReason, State, Stats, TaskError, TaskHandle, WaitError};

use super::lab::PanicSink;

/// How the harness wants a pool built.
#[derive(Clone, Debug)]
pub struct BuildSpec {
    /// The number of worker threads (at least 1).
    pub workers: usize,
    /// The queue bound (`None`: unbounded; otherwise at least 1).
    pub capacity: Option<usize>,
    /// Where the panics of `execute` tasks must go (the pool's panic
    /// handler should call [`PanicSink::deliver`]).
    pub panic_sink: PanicSink,
}

/// A task the pool refused, handed back with the reason.
#[derive(Debug)]
pub struct Refused<F> {
    /// The closure, untouched.
    pub task: F,
    /// Why it was refused.
    pub reason: RejectReason,
}

/// A pool the conformance checks can drive: the contract's API, through a
/// thin adapter. [`Pool`] implements it by calling its own methods.
///
/// The vocabulary types ([`State`], [`Stats`], [`RejectReason`],
/// [`TaskError`], [`WaitError`]) are this crate's; `Stats` is built with
/// `Stats::default()` and its public fields.
pub trait PoolUnderTest: Send + Sync + Sized + 'static {
    /// The handle `submit`/`try_submit` return.
    type Handle<T: Send + 'static>: HandleUnderTest<T>;
    /// An unstarted task handed back by `stop()`; dropping it cancels it.
    type Pending: PendingUnderTest;

    /// Builds a pool, or says why it could not.
    fn build(spec: BuildSpec) -> Result<Self, String>;
    /// Runs `f` on a worker; blocks while a bounded queue is full.
    fn submit<F, T>(&self, f: F) -> Result<Self::Handle<T>, Refused<F>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static;
    /// As `submit`, but refuses with `Full` instead of blocking.
    fn try_submit<F, T>(&self, f: F) -> Result<Self::Handle<T>, Refused<F>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static;
    /// Runs `f` on a worker without a handle; a panic goes to the panic
    /// handler.
    fn execute<F>(&self, f: F) -> Result<(), Refused<F>>
    where
        F: FnOnce() + Send + 'static;
    /// Refuses new tasks; queued ones still run.
    fn shutdown(&self);
    /// Refuses new tasks and hands back the queued ones.
    fn stop(&self) -> Vec<Self::Pending>;
    /// `shutdown()`, then waits until every worker thread is gone.
    fn join(&self) -> Result<(), WaitError>;
    /// Waits until nothing is queued or running.
    fn wait_idle(&self) -> Result<(), WaitError>;
    /// Where the pool is in its life.
    fn state(&self) -> State;
    /// A snapshot of the counters.
    fn stats(&self) -> Stats;
}

/// The result of a submitted task.
pub trait HandleUnderTest<T>: Send {
    /// Waits for the task's value, its panic, or its cancellation.
    fn join(self) -> Result<T, TaskError>;
    /// Whether `join` would return at once.
    fn is_finished(&self) -> bool;
}

/// A task handed back by `stop()`.
pub trait PendingUnderTest: Send {
    /// Runs it on the calling thread.
    fn run(self);
}

fn refused<F>(rejected: crate::Rejected<F>) -> Refused<F> {
    let reason = rejected.reason();
    Refused {
        task: rejected.into_inner(),
        reason,
    }
}

impl PoolUnderTest for Pool {
    type Handle<T: Send + 'static> = TaskHandle<T>;
    type Pending = crate::PendingTask;

    fn build(spec: BuildSpec) -> Result<Self, String> {
        let sink = spec.panic_sink;
        let mut builder = Pool::builder()
            .workers(spec.workers)
            .thread_name("vp-conformance")
            .panic_handler(move |payload| sink.deliver(payload));
        if let Some(capacity) = spec.capacity {
            builder = builder.queue_capacity(capacity);
        }
        builder.build().map_err(|e| e.to_string())
    }

    fn submit<F, T>(&self, f: F) -> Result<TaskHandle<T>, Refused<F>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        Pool::submit(self, f).map_err(refused)
    }

    fn try_submit<F, T>(&self, f: F) -> Result<TaskHandle<T>, Refused<F>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        Pool::try_submit(self, f).map_err(refused)
    }

    fn execute<F>(&self, f: F) -> Result<(), Refused<F>>
    where
        F: FnOnce() + Send + 'static,
    {
        Pool::execute(self, f).map_err(refused)
    }

    fn shutdown(&self) {
        Pool::shutdown(self);
    }

    fn stop(&self) -> Vec<crate::PendingTask> {
        Pool::stop(self)
    }

    fn join(&self) -> Result<(), WaitError> {
        Pool::join(self)
    }

    fn wait_idle(&self) -> Result<(), WaitError> {
        Pool::wait_idle(self)
    }

    fn state(&self) -> State {
        Pool::state(self)
    }

    fn stats(&self) -> Stats {
        Pool::stats(self)
    }
}

impl<T: Send + 'static> HandleUnderTest<T> for TaskHandle<T> {
    fn join(self) -> Result<T, TaskError> {
        TaskHandle::join(self)
    }

    fn is_finished(&self) -> bool {
        TaskHandle::is_finished(self)
    }
}

impl PendingUnderTest for crate::PendingTask {
    fn run(self) {
        crate::PendingTask::run(self);
    }
}
