//! What a pool must offer to be checked, and the adapter for [`Pool`].

use crate::{Pool, RejectReason, State, Stats, TaskError, TaskHandle, WaitError};

use super::lab::PanicSink;

/// How the harness wants a pool built.
///
/// ```
/// use verified_pool::conformance::{BuildSpec, PanicSink, PoolUnderTest};
/// use verified_pool::Pool;
///
/// let spec = BuildSpec { workers: 2, capacity: Some(8), panic_sink: PanicSink::discard() };
/// let pool = <Pool as PoolUnderTest>::build(spec).unwrap();
/// assert_eq!(pool.stats().workers, 2);
/// ```
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
///
/// ```
/// use verified_pool::conformance::{PoolUnderTest, Refused};
/// use verified_pool::{Pool, RejectReason};
///
/// let pool = Pool::new(1).unwrap();
/// pool.shutdown();
/// let refused: Refused<_> = PoolUnderTest::submit(&pool, || 6 * 7).unwrap_err();
/// assert_eq!(refused.reason, RejectReason::ShutDown);
/// assert_eq!((refused.task)(), 42); // handed back unrun
/// ```
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
///
/// ```
/// use verified_pool::conformance::{BuildSpec, HandleUnderTest, PanicSink, PoolUnderTest};
/// use verified_pool::Pool;
///
/// // Written against the trait: runs on any pool that implements it.
/// fn sum_of_squares<P: PoolUnderTest>(pool: &P) -> u64 {
///     let handles: Vec<_> = (1..=3u64)
///         .map(|i| pool.submit(move || i * i).ok().expect("a running pool accepts"))
///         .collect();
///     handles.into_iter().map(|h| h.join().unwrap()).sum()
/// }
///
/// let spec = BuildSpec { workers: 2, capacity: None, panic_sink: PanicSink::discard() };
/// let pool = <Pool as PoolUnderTest>::build(spec).unwrap();
/// assert_eq!(sum_of_squares(&pool), 14);
/// ```
pub trait PoolUnderTest: Send + Sync + Sized + 'static {
    /// The handle `submit`/`try_submit` return.
    ///
    /// ```
    /// use verified_pool::conformance::{HandleUnderTest, PoolUnderTest};
    /// use verified_pool::{Pool, TaskHandle};
    ///
    /// let pool = Pool::new(1).unwrap();
    /// let handle: <Pool as PoolUnderTest>::Handle<u32> =
    ///     PoolUnderTest::submit(&pool, || 42).ok().expect("a running pool accepts");
    /// let same: TaskHandle<u32> = handle; // Pool's adapter hands out its own handles
    /// assert_eq!(HandleUnderTest::join(same).unwrap(), 42);
    /// ```
    type Handle<T: Send + 'static>: HandleUnderTest<T>;

    /// An unstarted task handed back by `stop()`; dropping it cancels it.
    ///
    /// ```
    /// use std::time::Duration;
    /// use verified_pool::conformance::{
    ///     GateId, Lab, PendingUnderTest, PoolUnderTest, Progress, TaskKind, Via,
    /// };
    /// use verified_pool::{PendingTask, Pool};
    ///
    /// let (lab, pool) = (Lab::new(), Pool::new(1).unwrap());
    /// pool.execute(lab.task(TaskKind::Block(GateId::A), Via::Execute).into_execute()).unwrap();
    /// let busy = Progress { worker_started: 1, ..Progress::default() };
    /// lab.settle(busy, Duration::from_secs(10)).unwrap(); // the only worker is blocked
    /// let queued = pool.submit(|| "ran here").unwrap(); // behind the blocked task
    /// let pending: Vec<<Pool as PoolUnderTest>::Pending> = PoolUnderTest::stop(&pool);
    /// let pending: Vec<PendingTask> = pending; // Pool's adapter hands back its own
    /// pending.into_iter().for_each(PendingUnderTest::run);
    /// lab.open(GateId::A);
    /// assert_eq!(queued.join().unwrap(), "ran here");
    /// ```
    type Pending: PendingUnderTest;

    /// Builds a pool, or says why it could not.
    ///
    /// ```
    /// use verified_pool::conformance::{BuildSpec, PanicSink, PoolUnderTest};
    /// use verified_pool::Pool;
    ///
    /// let spec = |workers| BuildSpec {
    ///     workers,
    ///     capacity: None,
    ///     panic_sink: PanicSink::discard(),
    /// };
    /// let pool = <Pool as PoolUnderTest>::build(spec(2)).unwrap();
    /// assert_eq!(pool.stats().workers, 2);
    /// let error = <Pool as PoolUnderTest>::build(spec(0)).err().unwrap();
    /// assert!(!error.is_empty()); // the reason, in words
    /// ```
    fn build(spec: BuildSpec) -> Result<Self, String>;

    /// Runs `f` on a worker; blocks while a bounded queue is full.
    ///
    /// ```
    /// use verified_pool::conformance::{HandleUnderTest, PoolUnderTest};
    /// use verified_pool::Pool;
    ///
    /// let pool = Pool::new(1).unwrap();
    /// let handle = PoolUnderTest::submit(&pool, || 6 * 7).ok().expect("a running pool accepts");
    /// assert_eq!(HandleUnderTest::join(handle).unwrap(), 42);
    /// ```
    fn submit<F, T>(&self, f: F) -> Result<Self::Handle<T>, Refused<F>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static;

    /// As `submit`, but refuses with `Full` instead of blocking.
    ///
    /// ```
    /// use std::time::Duration;
    /// use verified_pool::conformance::{GateId, Lab, PoolUnderTest, Progress, TaskKind, Via};
    /// use verified_pool::{Pool, RejectReason};
    ///
    /// let lab = Lab::new();
    /// let pool = Pool::builder().workers(1).queue_capacity(1).build().unwrap();
    /// pool.execute(lab.task(TaskKind::Block(GateId::A), Via::Execute).into_execute()).unwrap();
    /// let busy = Progress { worker_started: 1, ..Progress::default() };
    /// lab.settle(busy, Duration::from_secs(10)).unwrap(); // the only worker is blocked
    /// let queued = PoolUnderTest::try_submit(&pool, || 1).ok().expect("room for one");
    /// let refused = PoolUnderTest::try_submit(&pool, || 2).unwrap_err(); // no wait
    /// lab.open(GateId::A);
    /// assert_eq!(refused.reason, RejectReason::Full);
    /// assert_eq!(queued.join().unwrap(), 1);
    /// ```
    fn try_submit<F, T>(&self, f: F) -> Result<Self::Handle<T>, Refused<F>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static;

    /// Runs `f` on a worker without a handle; a panic goes to the panic
    /// handler.
    ///
    /// ```
    /// use verified_pool::conformance::{
    ///     silence_deliberate_panics, BuildSpec, Lab, PoolUnderTest, TaskKind, Via,
    /// };
    /// use verified_pool::Pool;
    ///
    /// silence_deliberate_panics();
    /// let lab = Lab::new();
    /// let spec = BuildSpec { workers: 1, capacity: None, panic_sink: lab.panic_sink() };
    /// let pool = <Pool as PoolUnderTest>::build(spec).unwrap();
    /// let task = lab.task(TaskKind::Panic, Via::Execute).into_execute();
    /// PoolUnderTest::execute(&pool, task).ok().expect("a running pool accepts");
    /// PoolUnderTest::join(&pool).unwrap();
    /// assert_eq!(lab.record(0).handler_deliveries, 1); // the panic reached the sink
    /// ```
    fn execute<F>(&self, f: F) -> Result<(), Refused<F>>
    where
        F: FnOnce() + Send + 'static;

    /// Refuses new tasks; queued ones still run.
    ///
    /// ```
    /// use verified_pool::conformance::PoolUnderTest;
    /// use verified_pool::{Pool, RejectReason};
    ///
    /// let pool = Pool::new(1).unwrap();
    /// PoolUnderTest::shutdown(&pool);
    /// PoolUnderTest::shutdown(&pool); // promise 3: harmless
    /// let refused = PoolUnderTest::execute(&pool, || ()).unwrap_err();
    /// assert_eq!(refused.reason, RejectReason::ShutDown);
    /// ```
    fn shutdown(&self);

    /// Refuses new tasks and hands back the queued ones.
    ///
    /// ```
    /// use std::time::Duration;
    /// use verified_pool::conformance::{GateId, Lab, PoolUnderTest, Progress, TaskKind, Via};
    /// use verified_pool::{Pool, TaskError};
    ///
    /// let (lab, pool) = (Lab::new(), Pool::new(1).unwrap());
    /// pool.execute(lab.task(TaskKind::Block(GateId::A), Via::Execute).into_execute()).unwrap();
    /// let busy = Progress { worker_started: 1, ..Progress::default() };
    /// lab.settle(busy, Duration::from_secs(10)).unwrap(); // the only worker is blocked
    /// let queued = pool.submit(|| 1).unwrap(); // behind the blocked task
    /// let pending = PoolUnderTest::stop(&pool);
    /// let handed_back = pending.len();
    /// drop(pending); // cancels it
    /// lab.open(GateId::A);
    /// assert_eq!(handed_back, 1);
    /// assert!(matches!(queued.join(), Err(TaskError::Cancelled)));
    /// ```
    fn stop(&self) -> Vec<Self::Pending>;

    /// `shutdown()`, then waits until every worker thread is gone.
    ///
    /// ```
    /// use verified_pool::conformance::{Lab, PoolUnderTest, TaskKind, Via};
    /// use verified_pool::{Pool, State};
    ///
    /// let (lab, pool) = (Lab::new(), Pool::new(2).unwrap());
    /// pool.execute(lab.task(TaskKind::Value, Via::Execute).into_execute()).unwrap();
    /// PoolUnderTest::join(&pool).unwrap();
    /// assert!(lab.record(0).finished); // queued tasks still run
    /// assert_eq!(PoolUnderTest::state(&pool), State::Terminated);
    /// assert_eq!(lab.live_workers(), 0); // promise 5
    /// ```
    fn join(&self) -> Result<(), WaitError>;

    /// Waits until nothing is queued or running.
    ///
    /// ```
    /// use verified_pool::conformance::PoolUnderTest;
    /// use verified_pool::{Pool, State};
    ///
    /// let pool = Pool::new(2).unwrap();
    /// for _ in 0..3 {
    ///     pool.execute(|| ()).unwrap();
    /// }
    /// PoolUnderTest::wait_idle(&pool).unwrap();
    /// assert_eq!(PoolUnderTest::stats(&pool).completed, 3);
    /// assert_eq!(PoolUnderTest::state(&pool), State::Running); // still open
    /// ```
    fn wait_idle(&self) -> Result<(), WaitError>;

    /// Where the pool is in its life.
    ///
    /// ```
    /// use verified_pool::conformance::{Model, Op, PoolUnderTest};
    /// use verified_pool::{Pool, State};
    ///
    /// let (pool, mut model) = (Pool::new(1).unwrap(), Model::new(1, None));
    /// assert_eq!(PoolUnderTest::state(&pool), State::Running);
    /// assert!(PoolUnderTest::stop(&pool).is_empty());
    /// model.apply(&Op::Stop { run: 0 });
    /// model.check_state(PoolUnderTest::state(&pool)).unwrap(); // Stopping or Terminated
    /// ```
    fn state(&self) -> State;

    /// A snapshot of the counters.
    ///
    /// ```
    /// use verified_pool::conformance::PoolUnderTest;
    /// use verified_pool::Pool;
    ///
    /// let pool = Pool::new(1).unwrap();
    /// PoolUnderTest::shutdown(&pool);
    /// assert!(PoolUnderTest::execute(&pool, || ()).is_err());
    /// let stats = PoolUnderTest::stats(&pool);
    /// assert_eq!((stats.submitted, stats.rejected), (0, 1));
    /// ```
    fn stats(&self) -> Stats;
}

/// The result of a submitted task.
///
/// ```
/// use verified_pool::conformance::HandleUnderTest;
/// use verified_pool::Pool;
///
/// fn value_of<H: HandleUnderTest<u64>>(handle: H) -> u64 {
///     handle.join().unwrap()
/// }
///
/// let pool = Pool::new(1).unwrap();
/// assert_eq!(value_of(pool.submit(|| 7).unwrap()), 7); // TaskHandle implements it
/// ```
pub trait HandleUnderTest<T>: Send {
    /// Waits for the task's value, its panic, or its cancellation.
    ///
    /// ```
    /// use verified_pool::conformance::{
    ///     is_deliberate_panic, silence_deliberate_panics, HandleUnderTest, Lab, TaskKind, Via,
    /// };
    /// use verified_pool::{Pool, TaskError};
    ///
    /// silence_deliberate_panics();
    /// let (lab, pool) = (Lab::new(), Pool::new(1).unwrap());
    /// let handle = pool.submit(lab.task(TaskKind::Panic, Via::Submit).into_submit()).unwrap();
    /// match HandleUnderTest::join(handle) {
    ///     Err(TaskError::Panicked(payload)) => assert!(is_deliberate_panic(&*payload)),
    ///     other => panic!("unexpected: {other:?}"),
    /// }
    /// ```
    fn join(self) -> Result<T, TaskError>;

    /// Whether `join` would return at once.
    ///
    /// ```
    /// use verified_pool::conformance::{GateId, HandleUnderTest, Lab, TaskKind, Via};
    /// use verified_pool::Pool;
    ///
    /// let (lab, pool) = (Lab::new(), Pool::new(1).unwrap());
    /// let task = lab.task(TaskKind::Block(GateId::A), Via::Submit);
    /// let handle = pool.submit(task.into_submit()).unwrap();
    /// let before = HandleUnderTest::is_finished(&handle); // gate A is shut
    /// lab.open(GateId::A);
    /// pool.wait_idle().unwrap();
    /// assert!(!before && HandleUnderTest::is_finished(&handle));
    /// ```
    fn is_finished(&self) -> bool;
}

/// A task handed back by `stop()`.
///
/// ```
/// use std::time::Duration;
/// use verified_pool::conformance::{GateId, Lab, PendingUnderTest, Progress, Role, TaskKind, Via};
/// use verified_pool::Pool;
///
/// fn run_all<T: PendingUnderTest>(pending: Vec<T>) {
///     let _role = Role::RunningPending.enter();
///     pending.into_iter().for_each(T::run);
/// }
///
/// let (lab, pool) = (Lab::new(), Pool::new(1).unwrap());
/// pool.execute(lab.task(TaskKind::Block(GateId::A), Via::Execute).into_execute()).unwrap();
/// let busy = Progress { worker_started: 1, ..Progress::default() };
/// lab.settle(busy, Duration::from_secs(10)).unwrap(); // the only worker is blocked
/// pool.execute(lab.task(TaskKind::Value, Via::Execute).into_execute()).unwrap(); // queued
/// run_all(pool.stop()); // PendingTask implements it
/// lab.open(GateId::A);
/// assert_eq!(lab.record(1).ran_as, Some(Role::RunningPending));
/// ```
pub trait PendingUnderTest: Send {
    /// Runs it on the calling thread.
    ///
    /// ```
    /// use std::time::Duration;
    /// use verified_pool::conformance::{GateId, Lab, PendingUnderTest, Progress, TaskKind, Via};
    /// use verified_pool::Pool;
    ///
    /// let (lab, pool) = (Lab::new(), Pool::new(1).unwrap());
    /// pool.execute(lab.task(TaskKind::Block(GateId::A), Via::Execute).into_execute()).unwrap();
    /// let busy = Progress { worker_started: 1, ..Progress::default() };
    /// lab.settle(busy, Duration::from_secs(10)).unwrap(); // the only worker is blocked
    /// let handle = pool.submit(|| std::thread::current().id()).unwrap(); // queued
    /// let pending = pool.stop().pop().unwrap();
    /// PendingUnderTest::run(pending); // on this thread
    /// lab.open(GateId::A);
    /// assert_eq!(handle.join().unwrap(), std::thread::current().id());
    /// ```
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
