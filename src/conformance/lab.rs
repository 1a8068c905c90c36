//! Instrumented tasks and the ledger they write to.
//!
//! Every task the harness hands to a pool is a [`LabTask`]: it records in
//! its [`Lab`] where it ran (on a worker, or on the caller through a
//! `PendingTask`), when it finished, and, if it was dropped without
//! running, on which kind of thread that happened. The thread's [`Role`]
//! (a thread-local the harness sets) is what tells a cancelled task (dropped
//! by the caller that got it back from `stop()`) from a refused one (dropped
//! by the caller after `into_inner`) from a lost one (dropped by the pool).
//!
//! A worker thread that runs a task also gets a thread-local sentinel whose
//! destructor runs as the thread exits: after `join()` returns, the lab
//! must count no live sentinel (promise 5).

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::fmt;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use super::model::{GateId, Progress, TaskId, TaskKind, Via};
use super::DeliberatePanic;

/// What the current thread is doing for the harness; tasks read it when
/// they run or are dropped.
///
/// ```
/// use verified_pool::conformance::{Lab, Role, TaskKind, Via};
/// use verified_pool::Pool;
///
/// let (lab, pool) = (Lab::new(), Pool::new(1).unwrap());
/// let handle = pool.submit(lab.task(TaskKind::Value, Via::Submit).into_submit()).unwrap();
/// handle.join().unwrap();
/// pool.shutdown();
/// let refused = pool.execute(lab.task(TaskKind::Value, Via::Execute).into_execute()).unwrap_err();
/// let _role = Role::DroppingRefused.enter();
/// drop(refused.into_inner());
/// assert_eq!(lab.record(0).ran_as, Some(Role::Other)); // a worker of the pool
/// assert_eq!(lab.record(1).dropped_as, Some(Role::DroppingRefused));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// Not a harness thread: for a task, a worker of the pool.
    Other,
    /// A harness thread issuing operations.
    Driver,
    /// A harness thread running a `PendingTask` that `stop()` handed back.
    RunningPending,
    /// A harness thread dropping `PendingTask`s (cancelling them).
    DroppingPending,
    /// A harness thread dropping a closure a refusal handed back.
    DroppingRefused,
}

thread_local! {
    static ROLE: Cell<Role> = const { Cell::new(Role::Other) };
    static SENTINEL: RefCell<Option<Sentinel>> = const { RefCell::new(None) };
}

impl Role {
    /// The current thread's role.
    ///
    /// ```
    /// use verified_pool::conformance::Role;
    ///
    /// assert_eq!(Role::current(), Role::Other); // a thread the harness has not marked
    /// let _role = Role::Driver.enter();
    /// assert_eq!(Role::current(), Role::Driver);
    /// ```
    pub fn current() -> Role {
        ROLE.with(Cell::get)
    }

    /// Makes this the current thread's role until the guard is dropped.
    ///
    /// ```
    /// use verified_pool::conformance::Role;
    ///
    /// {
    ///     let _running = Role::RunningPending.enter();
    ///     let _dropping = Role::DroppingPending.enter();
    ///     assert_eq!(Role::current(), Role::DroppingPending);
    /// }
    /// assert_eq!(Role::current(), Role::Other); // both guards dropped
    /// ```
    pub fn enter(self) -> RoleGuard {
        RoleGuard {
            previous: ROLE.with(|r| r.replace(self)),
            _not_send: std::marker::PhantomData,
        }
    }
}

/// Restores the thread's previous [`Role`] when dropped.
///
/// ```
/// use verified_pool::conformance::{Role, RoleGuard};
///
/// let guard: RoleGuard = Role::Driver.enter();
/// // The role is this thread's alone.
/// assert_eq!(std::thread::spawn(Role::current).join().unwrap(), Role::Other);
/// drop(guard);
/// assert_eq!(Role::current(), Role::Other);
/// ```
#[must_use = "the role lasts only as long as the guard"]
pub struct RoleGuard {
    previous: Role,
    _not_send: std::marker::PhantomData<*const ()>,
}

impl Drop for RoleGuard {
    fn drop(&mut self) {
        ROLE.with(|r| r.set(self.previous));
    }
}

impl fmt::Debug for RoleGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RoleGuard")
            .field("previous", &self.previous)
            .finish()
    }
}

/// What happened to one task, as it recorded it.
///
/// ```
/// use verified_pool::conformance::{silence_deliberate_panics, Lab, Record, Role, TaskKind, Via};
/// use verified_pool::Pool;
///
/// silence_deliberate_panics();
/// let (lab, pool) = (Lab::new(), Pool::new(1).unwrap());
/// let handle = pool.submit(lab.task(TaskKind::Panic, Via::Submit).into_submit()).unwrap();
/// assert!(handle.join().is_err());
/// let record: Record = lab.record(0);
/// assert_eq!((record.kind, record.via), (TaskKind::Panic, Via::Submit));
/// assert_eq!(record.ran_as, Some(Role::Other)); // a worker
/// assert!(record.finished && !record.ran_twice && !record.started_after_join);
/// // Its panic went to the handle, not to the panic handler.
/// assert_eq!((record.dropped_as, record.handler_deliveries), (None, 0));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record {
    /// What the task does.
    pub kind: TaskKind,
    /// How the harness handed it over.
    pub via: Via,
    /// The role of the thread it ran on (`Other`: a worker), if it ran.
    pub ran_as: Option<Role>,
    /// Whether it ran more than once (impossible for an `FnOnce`, but
    /// cheap to check).
    pub ran_twice: bool,
    /// Whether it reached its end (return or panic).
    pub finished: bool,
    /// The role of the thread that dropped it unrun, if it was.
    pub dropped_as: Option<Role>,
    /// How many times its panic reached the panic handler.
    pub handler_deliveries: u32,
    /// Whether a worker started it after some `join()` had returned.
    pub started_after_join: bool,
}

impl Record {
    /// Whether it ran on a pool worker.
    ///
    /// ```
    /// use verified_pool::conformance::{Lab, Role, TaskKind, Via};
    /// use verified_pool::Pool;
    ///
    /// let (lab, pool) = (Lab::new(), Pool::new(1).unwrap());
    /// pool.submit(lab.task(TaskKind::Value, Via::Submit).into_submit()).unwrap().join().unwrap();
    /// let here = lab.task(TaskKind::Value, Via::Submit);
    /// let _role = Role::RunningPending.enter();
    /// here.run();
    /// assert!(lab.record(0).ran_on_worker());
    /// assert!(!lab.record(1).ran_on_worker());
    /// ```
    pub fn ran_on_worker(&self) -> bool {
        self.ran_as == Some(Role::Other)
    }
}

struct LabState {
    open: [bool; 2],
    records: Vec<Record>,
    progress: Progress,
    live_workers: usize,
    workers_seen: usize,
    joined: bool,
    warm: usize,
    anomalies: Vec<String>,
}

struct Inner {
    state: Mutex<LabState>,
    changed: Condvar,
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, LabState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn changed(&self, guard: MutexGuard<'_, LabState>) {
        drop(guard);
        self.changed.notify_all();
    }

    fn wait_until(
        &self,
        timeout: Duration,
        mut done: impl FnMut(&LabState) -> Result<bool, String>,
    ) -> Result<(), String> {
        // `None`: too far away to matter, wait without a deadline.
        let deadline = Instant::now().checked_add(timeout);
        let mut s = self.lock();
        loop {
            if done(&s)? {
                return Ok(());
            }
            s = match deadline {
                None => self.changed.wait(s).unwrap_or_else(PoisonError::into_inner),
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        return Err(format!("still waiting after {timeout:?}"));
                    }
                    self.changed
                        .wait_timeout(s, deadline - now)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
            };
        }
    }
}

/// The gates, the ledger of tasks and the census of worker threads for one
/// run of the harness. Cloning gives another handle to the same lab.
///
/// ```
/// use std::time::Duration;
/// use verified_pool::conformance::{GateId, Lab, Progress, TaskKind, Via};
/// use verified_pool::Pool;
///
/// let (lab, pool) = (Lab::new(), Pool::new(1).unwrap());
/// let task = lab.task(TaskKind::Block(GateId::A), Via::Submit);
/// let handle = pool.submit(task.into_submit()).unwrap();
/// let busy = Progress { worker_started: 1, ..Progress::default() };
/// lab.settle(busy, Duration::from_secs(10)).unwrap(); // task 0 waits on gate A
/// lab.open(GateId::A);
/// assert_eq!(handle.join().unwrap(), 0);
/// pool.join().unwrap();
/// assert_eq!(lab.live_workers(), 0); // promise 5: the worker thread is gone
/// ```
#[derive(Clone)]
pub struct Lab {
    inner: Arc<Inner>,
}

impl Default for Lab {
    fn default() -> Self {
        Lab::new()
    }
}

impl fmt::Debug for Lab {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.inner.lock();
        f.debug_struct("Lab")
            .field("open", &s.open)
            .field("tasks", &s.records.len())
            .field("progress", &s.progress)
            .field("live_workers", &s.live_workers)
            .finish_non_exhaustive()
    }
}

impl Lab {
    /// A lab with both gates closed and no task.
    ///
    /// ```
    /// use verified_pool::conformance::{Lab, Progress};
    ///
    /// let lab = Lab::new();
    /// assert!(lab.records().is_empty());
    /// assert_eq!(lab.progress(), Progress::default());
    /// assert_eq!((lab.live_workers(), lab.workers_seen()), (0, 0));
    /// ```
    pub fn new() -> Self {
        Lab {
            inner: Arc::new(Inner {
                state: Mutex::new(LabState {
                    open: [false; 2],
                    records: Vec::new(),
                    progress: Progress::default(),
                    live_workers: 0,
                    workers_seen: 0,
                    joined: false,
                    warm: 0,
                    anomalies: Vec::new(),
                }),
                changed: Condvar::new(),
            }),
        }
    }

    /// A new task; ids are handed out in order from 0.
    ///
    /// ```
    /// use verified_pool::conformance::{Lab, TaskKind, Via};
    ///
    /// let lab = Lab::new();
    /// let task = lab.task(TaskKind::Panic, Via::Execute);
    /// assert_eq!(task.id(), 0);
    /// let record = lab.record(0);
    /// assert_eq!((record.kind, record.via), (TaskKind::Panic, Via::Execute));
    /// assert_eq!(record.ran_as, None); // made, not run yet
    /// ```
    pub fn task(&self, kind: TaskKind, via: Via) -> LabTask {
        let mut s = self.inner.lock();
        let id = s.records.len() as TaskId;
        s.records.push(Record {
            kind,
            via,
            ran_as: None,
            ran_twice: false,
            finished: false,
            dropped_as: None,
            handler_deliveries: 0,
            started_after_join: false,
        });
        LabTask {
            lab: Arc::clone(&self.inner),
            id,
            kind,
            armed: true,
        }
    }

    /// Opens gate `g`: tasks blocked on it return.
    ///
    /// ```
    /// use verified_pool::conformance::{GateId, Lab, TaskKind, Via};
    /// use verified_pool::Pool;
    ///
    /// let (lab, pool) = (Lab::new(), Pool::new(2).unwrap());
    /// let on_a = lab.task(TaskKind::Block(GateId::A), Via::Submit).into_submit();
    /// let on_a = pool.submit(on_a).unwrap();
    /// let on_b = lab.task(TaskKind::Block(GateId::B), Via::Submit).into_submit();
    /// let on_b = pool.submit(on_b).unwrap();
    /// lab.open(GateId::A);
    /// assert_eq!(on_a.join().unwrap(), 0);
    /// let b_done = on_b.is_finished(); // gate B is still shut
    /// lab.open(GateId::B);
    /// assert!(!b_done);
    /// assert_eq!(on_b.join().unwrap(), 1);
    /// ```
    pub fn open(&self, g: GateId) {
        let mut s = self.inner.lock();
        s.open[g.index()] = true;
        self.inner.changed(s);
    }

    /// Opens both gates.
    ///
    /// ```
    /// use verified_pool::conformance::{GateId, Lab, TaskKind, Via};
    /// use verified_pool::Pool;
    ///
    /// let (lab, pool) = (Lab::new(), Pool::new(2).unwrap());
    /// for gate in GateId::ALL {
    ///     pool.execute(lab.task(TaskKind::Block(gate), Via::Execute).into_execute()).unwrap();
    /// }
    /// lab.open_all();
    /// pool.wait_idle().unwrap();
    /// assert!(lab.records().iter().all(|record| record.finished));
    /// ```
    pub fn open_all(&self) {
        let mut s = self.inner.lock();
        s.open = [true; 2];
        self.inner.changed(s);
    }

    /// What the tasks have reported so far.
    ///
    /// ```
    /// use verified_pool::conformance::{Lab, TaskKind, Via};
    /// use verified_pool::Pool;
    ///
    /// let (lab, pool) = (Lab::new(), Pool::new(1).unwrap());
    /// pool.execute(lab.task(TaskKind::Value, Via::Execute).into_execute()).unwrap();
    /// pool.wait_idle().unwrap();
    /// let progress = lab.progress();
    /// assert_eq!((progress.worker_started, progress.worker_finished), (1, 1));
    /// ```
    pub fn progress(&self) -> Progress {
        self.inner.lock().progress
    }

    /// Waits until the tasks have reported exactly `want` (see
    /// [`Model::progress`](super::Model::progress)). An error says how far
    /// they got, at once if they went past `want`, else after `timeout`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use verified_pool::conformance::{GateId, Lab, Model, Op, Progress, TaskKind, Via};
    /// use verified_pool::Pool;
    ///
    /// let (lab, pool, mut model) = (Lab::new(), Pool::new(1).unwrap(), Model::new(1, None));
    /// pool.execute(lab.task(TaskKind::Block(GateId::A), Via::Execute).into_execute()).unwrap();
    /// model.apply(&Op::Execute(TaskKind::Block(GateId::A)));
    /// lab.settle(model.progress(), Duration::from_secs(10)).unwrap(); // the worker took task 0
    /// let stats = pool.stats();
    /// let past = lab.settle(Progress::default(), Duration::from_secs(10)); // fails at once
    /// lab.open(GateId::A);
    /// model.check_stats(&stats, false).unwrap();
    /// assert!(past.is_err());
    /// ```
    pub fn settle(&self, want: Progress, timeout: Duration) -> Result<(), String> {
        let mut last = Progress::default();
        self.inner
            .wait_until(timeout, |s| {
                let p = s.progress;
                last = p;
                if p.worker_started > want.worker_started
                    || p.worker_finished > want.worker_finished
                    || p.handler_calls > want.handler_calls
                {
                    return Err(format!(
                        "the tasks report {p:?}, more than the model's {want:?}"
                    ));
                }
                Ok(p == want)
            })
            .map_err(|e| {
                if e.starts_with("still waiting") {
                    format!("{e}: the tasks report {last:?}, the model expects {want:?}")
                } else {
                    e
                }
            })
    }

    /// A copy of task `id`'s record.
    ///
    /// ```
    /// use verified_pool::conformance::{Lab, Role, TaskKind, Via};
    ///
    /// let lab = Lab::new();
    /// let task = lab.task(TaskKind::Value, Via::Submit);
    /// {
    ///     let _role = Role::DroppingPending.enter(); // as when cancelling what stop() handed back
    ///     drop(task);
    /// }
    /// let record = lab.record(0);
    /// assert_eq!((record.ran_as, record.dropped_as), (None, Some(Role::DroppingPending)));
    /// ```
    ///
    /// # Panics
    /// If no such task was made.
    pub fn record(&self, id: TaskId) -> Record {
        self.inner.lock().records[id as usize]
    }

    /// Copies of every record, indexed by task id.
    ///
    /// ```
    /// use verified_pool::conformance::{Lab, TaskKind, Via};
    /// use verified_pool::Pool;
    ///
    /// let (lab, pool) = (Lab::new(), Pool::new(2).unwrap());
    /// for _ in 0..3 {
    ///     pool.execute(lab.task(TaskKind::Value, Via::Execute).into_execute()).unwrap();
    /// }
    /// pool.join().unwrap();
    /// let records = lab.records();
    /// assert_eq!(records.len(), 3);
    /// assert!(records.iter().all(|record| record.ran_on_worker() && record.finished));
    /// ```
    pub fn records(&self) -> Vec<Record> {
        self.inner.lock().records.clone()
    }

    /// Worker threads that ran a task and have not exited yet.
    ///
    /// ```
    /// use verified_pool::conformance::{Lab, TaskKind, Via};
    /// use verified_pool::Pool;
    ///
    /// let (lab, pool) = (Lab::new(), Pool::new(1).unwrap());
    /// pool.submit(lab.task(TaskKind::Value, Via::Submit).into_submit()).unwrap().join().unwrap();
    /// assert_eq!(lab.live_workers(), 1);
    /// pool.join().unwrap();
    /// assert_eq!(lab.live_workers(), 0); // promise 5: join() returned, the thread is gone
    /// ```
    pub fn live_workers(&self) -> usize {
        self.inner.lock().live_workers
    }

    /// Worker threads that ran a task, exited or not.
    ///
    /// ```
    /// use verified_pool::conformance::{Lab, TaskKind, Via};
    /// use verified_pool::Pool;
    ///
    /// let (lab, pool) = (Lab::new(), Pool::new(1).unwrap());
    /// for _ in 0..3 {
    ///     pool.execute(lab.task(TaskKind::Value, Via::Execute).into_execute()).unwrap();
    /// }
    /// pool.join().unwrap();
    /// assert_eq!((lab.workers_seen(), lab.live_workers()), (1, 0)); // one thread ran all three
    /// ```
    pub fn workers_seen(&self) -> usize {
        self.inner.lock().workers_seen
    }

    /// Notes that a `join()` has returned: a worker starting a task from
    /// now on is recorded (`started_after_join`).
    ///
    /// ```
    /// use verified_pool::conformance::{Lab, TaskKind, Via};
    /// use verified_pool::Pool;
    ///
    /// let (lab, pool) = (Lab::new(), Pool::new(1).unwrap());
    /// pool.join().unwrap();
    /// lab.mark_joined();
    /// // A pool whose thread started a task after join() returned is caught:
    /// let late = lab.task(TaskKind::Value, Via::Execute);
    /// std::thread::spawn(move || late.run()).join().unwrap();
    /// assert!(lab.record(0).started_after_join);
    /// ```
    pub fn mark_joined(&self) {
        self.inner.lock().joined = true;
    }

    /// Things tasks or the panic handler saw that no pool may do (a foreign
    /// payload, a panic delivered twice).
    ///
    /// ```
    /// use verified_pool::conformance::Lab;
    ///
    /// let lab = Lab::new();
    /// assert!(lab.anomalies().is_empty());
    /// lab.panic_sink().deliver(Box::new("not a task's panic"));
    /// assert_eq!(lab.anomalies(), ["the panic handler got a payload no task panicked with"]);
    /// ```
    pub fn anomalies(&self) -> Vec<String> {
        self.inner.lock().anomalies.clone()
    }

    /// Where the pool's panic handler should send payloads.
    ///
    /// ```
    /// use verified_pool::conformance::{silence_deliberate_panics, Lab, TaskKind, Via};
    /// use verified_pool::Pool;
    ///
    /// silence_deliberate_panics();
    /// let lab = Lab::new();
    /// let sink = lab.panic_sink();
    /// let pool = Pool::builder()
    ///     .workers(1)
    ///     .panic_handler(move |payload| sink.deliver(payload))
    ///     .build()
    ///     .unwrap();
    /// pool.execute(lab.task(TaskKind::Panic, Via::Execute).into_execute()).unwrap();
    /// pool.join().unwrap();
    /// assert_eq!(lab.record(0).handler_deliveries, 1);
    /// assert!(lab.anomalies().is_empty());
    /// ```
    pub fn panic_sink(&self) -> PanicSink {
        PanicSink {
            lab: Some(Arc::clone(&self.inner)),
        }
    }

    /// A task (not in the ledger) that marks its worker thread and then
    /// waits until `workers` such tasks run at once, or `timeout` passes.
    /// Submitting `workers` of them makes every worker thread known to the
    /// lab before a program starts.
    ///
    /// ```
    /// use std::time::Duration;
    /// use verified_pool::conformance::Lab;
    /// use verified_pool::Pool;
    ///
    /// let (lab, pool) = (Lab::new(), Pool::new(2).unwrap());
    /// for _ in 0..2 {
    ///     pool.execute(lab.warm_up_task(2, Duration::from_secs(10))).unwrap();
    /// }
    /// lab.wait_warm(2, Duration::from_secs(10)).unwrap();
    /// assert_eq!(lab.workers_seen(), 2); // both threads are known to the lab
    /// assert!(lab.records().is_empty()); // and no task is in the ledger
    /// ```
    pub fn warm_up_task(
        &self,
        workers: usize,
        timeout: Duration,
    ) -> impl FnOnce() + Send + 'static {
        let inner = Arc::clone(&self.inner);
        move || {
            note_worker_thread(&inner);
            let mut s = inner.lock();
            s.warm += 1;
            inner.changed(s);
            let _ = inner.wait_until(timeout, |s| Ok(s.warm >= workers));
        }
    }

    /// Waits until `workers` warm-up tasks are running at once.
    ///
    /// ```
    /// use std::time::Duration;
    /// use verified_pool::conformance::Lab;
    /// use verified_pool::Pool;
    ///
    /// let (lab, pool) = (Lab::new(), Pool::new(1).unwrap());
    /// pool.execute(lab.warm_up_task(1, Duration::from_secs(10))).unwrap();
    /// lab.wait_warm(1, Duration::from_secs(10)).unwrap();
    /// // Two at once never happens on one worker: an error after the timeout.
    /// let err = lab.wait_warm(2, Duration::from_millis(10)).unwrap_err();
    /// assert!(err.contains("only 1 of 2 warm-up tasks"));
    /// ```
    pub fn wait_warm(&self, workers: usize, timeout: Duration) -> Result<(), String> {
        self.inner
            .wait_until(timeout, |s| Ok(s.warm >= workers))
            .map_err(|e| {
                let warm = self.inner.lock().warm;
                format!("{e}: only {warm} of {workers} warm-up tasks run at once")
            })
    }
}

/// One instrumented task. Turn it into the closure a pool takes with
/// [`into_submit`](Self::into_submit) or [`into_execute`](Self::into_execute).
///
/// ```
/// use verified_pool::conformance::{Lab, LabTask, TaskKind, Via};
/// use verified_pool::Pool;
///
/// let (lab, pool) = (Lab::new(), Pool::new(1).unwrap());
/// let task: LabTask = lab.task(TaskKind::Value, Via::TrySubmit);
/// let id = task.id();
/// let handle = pool.try_submit(task.into_submit()).unwrap();
/// assert_eq!(handle.join().unwrap(), id);
/// assert!(lab.record(id).ran_on_worker());
/// ```
pub struct LabTask {
    lab: Arc<Inner>,
    id: TaskId,
    kind: TaskKind,
    armed: bool,
}

impl fmt::Debug for LabTask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LabTask")
            .field("id", &self.id)
            .field("kind", &self.kind)
            .finish()
    }
}

impl LabTask {
    /// The task's id.
    ///
    /// ```
    /// use verified_pool::conformance::{Lab, LabTask, TaskKind, Via};
    ///
    /// let lab = Lab::new();
    /// let tasks: Vec<LabTask> = (0..3).map(|_| lab.task(TaskKind::Value, Via::Submit)).collect();
    /// assert_eq!(tasks.iter().map(LabTask::id).collect::<Vec<_>>(), [0, 1, 2]);
    /// ```
    pub fn id(&self) -> TaskId {
        self.id
    }

    /// The task's body: records that it runs (and on what thread), blocks
    /// on its gate if it has one, records that it finished, then returns
    /// its id or panics with a [`DeliberatePanic`].
    ///
    /// ```
    /// use verified_pool::conformance::{Lab, Role, TaskKind, Via};
    ///
    /// let lab = Lab::new();
    /// let task = lab.task(TaskKind::Value, Via::Submit);
    /// let _role = Role::RunningPending.enter(); // as if stop() had handed it back
    /// assert_eq!(task.run(), 0);
    /// let record = lab.record(0);
    /// assert_eq!((record.ran_as, record.finished), (Some(Role::RunningPending), true));
    /// assert_eq!(lab.progress().worker_started, 0); // not a worker
    /// ```
    pub fn run(mut self) -> u64 {
        self.armed = false;
        let role = Role::current();
        let on_worker = role == Role::Other;
        {
            let mut s = self.lab.lock();
            let joined = s.joined;
            if on_worker {
                s.progress.worker_started += 1;
            }
            let rec = &mut s.records[self.id as usize];
            if rec.ran_as.is_some() {
                rec.ran_twice = true;
            }
            rec.ran_as = Some(role);
            rec.started_after_join |= on_worker && joined;
            self.lab.changed(s);
        }
        if on_worker {
            note_worker_thread(&self.lab);
        }
        if let TaskKind::Block(g) = self.kind {
            let _ = self
                .lab
                .wait_until(Duration::MAX, |s| Ok(s.open[g.index()]));
        }
        {
            let mut s = self.lab.lock();
            s.records[self.id as usize].finished = true;
            if on_worker {
                s.progress.worker_finished += 1;
            }
            self.lab.changed(s);
        }
        if self.kind == TaskKind::Panic {
            std::panic::panic_any(DeliberatePanic { task: self.id });
        }
        self.id
    }

    /// The closure for `submit`/`try_submit`.
    ///
    /// ```
    /// use verified_pool::conformance::{Lab, TaskKind, Via};
    /// use verified_pool::Pool;
    ///
    /// let (lab, pool) = (Lab::new(), Pool::new(1).unwrap());
    /// let handle = pool.submit(lab.task(TaskKind::Value, Via::Submit).into_submit()).unwrap();
    /// assert_eq!(handle.join().unwrap(), 0); // a value task returns its id
    /// ```
    pub fn into_submit(self) -> impl FnOnce() -> u64 + Send + 'static {
        move || self.run()
    }

    /// The closure for `execute`.
    ///
    /// ```
    /// use verified_pool::conformance::{Lab, TaskKind, Via};
    /// use verified_pool::Pool;
    ///
    /// let (lab, pool) = (Lab::new(), Pool::new(1).unwrap());
    /// pool.execute(lab.task(TaskKind::Value, Via::Execute).into_execute()).unwrap();
    /// pool.join().unwrap();
    /// assert!(lab.record(0).finished && lab.record(0).ran_on_worker());
    /// ```
    pub fn into_execute(self) -> impl FnOnce() + Send + 'static {
        move || {
            self.run();
        }
    }
}

impl Drop for LabTask {
    fn drop(&mut self) {
        if self.armed {
            let mut s = self.lab.lock();
            let rec = &mut s.records[self.id as usize];
            if rec.dropped_as.is_none() {
                rec.dropped_as = Some(Role::current());
            }
            self.lab.changed(s);
        }
    }
}

/// Where a pool's panic handler sends payloads, so the lab can check that
/// every `execute` task's panic arrives exactly once.
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
/// let pool = <Pool as PoolUnderTest>::build(spec).unwrap(); // the adapter wires the sink in
/// pool.execute(lab.task(TaskKind::Panic, Via::Execute).into_execute()).unwrap();
/// pool.join().unwrap();
/// assert_eq!(lab.record(0).handler_deliveries, 1);
/// ```
#[derive(Clone)]
pub struct PanicSink {
    lab: Option<Arc<Inner>>,
}

impl fmt::Debug for PanicSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PanicSink")
            .field("connected", &self.lab.is_some())
            .finish()
    }
}

impl PanicSink {
    /// A sink that drops every payload.
    ///
    /// ```
    /// use verified_pool::conformance::{BuildSpec, PanicSink, PoolUnderTest};
    /// use verified_pool::Pool;
    ///
    /// let spec = BuildSpec { workers: 1, capacity: None, panic_sink: PanicSink::discard() };
    /// let pool = <Pool as PoolUnderTest>::build(spec).unwrap();
    /// pool.execute(|| panic!("nobody is told")).unwrap();
    /// pool.join().unwrap();
    /// assert_eq!(pool.stats().panicked, 1); // contained and counted; the payload is dropped
    /// ```
    pub fn discard() -> Self {
        PanicSink { lab: None }
    }

    /// Takes one payload (call it from the pool's panic handler).
    ///
    /// ```
    /// use verified_pool::conformance::{DeliberatePanic, Lab, TaskKind, Via};
    ///
    /// let lab = Lab::new();
    /// let _task = lab.task(TaskKind::Panic, Via::Execute);
    /// let sink = lab.panic_sink();
    /// sink.deliver(Box::new(DeliberatePanic { task: 0 }));
    /// assert_eq!(lab.record(0).handler_deliveries, 1);
    /// sink.deliver(Box::new(DeliberatePanic { task: 0 }));
    /// assert_eq!(lab.anomalies(), ["task 0's panic reached the handler twice"]);
    /// assert_eq!(lab.progress().handler_calls, 2);
    /// ```
    pub fn deliver(&self, payload: Box<dyn Any + Send>) {
        let Some(lab) = &self.lab else {
            return;
        };
        let mut s = lab.lock();
        match payload.downcast::<DeliberatePanic>() {
            Ok(p) => match s.records.get_mut(p.task as usize) {
                Some(rec) => {
                    rec.handler_deliveries += 1;
                    if rec.handler_deliveries > 1 {
                        s.anomalies
                            .push(format!("task {}'s panic reached the handler twice", p.task));
                    }
                }
                None => s.anomalies.push(format!(
                    "the handler got the panic of unknown task {}",
                    p.task
                )),
            },
            Err(_) => s
                .anomalies
                .push("the panic handler got a payload no task panicked with".into()),
        }
        s.progress.handler_calls += 1;
        lab.changed(s);
    }
}

/// A thread-local whose destructor counts its worker thread out.
struct Sentinel {
    lab: Arc<Inner>,
}

impl Drop for Sentinel {
    fn drop(&mut self) {
        let mut s = self.lab.lock();
        s.live_workers -= 1;
        self.lab.changed(s);
    }
}

/// Counts the current (worker) thread in, once per lab.
fn note_worker_thread(lab: &Arc<Inner>) {
    SENTINEL.with(|slot| {
        let mut slot = slot.borrow_mut();
        if slot.as_ref().is_some_and(|s| Arc::ptr_eq(&s.lab, lab)) {
            return;
        }
        {
            let mut s = lab.lock();
            s.live_workers += 1;
            s.workers_seen += 1;
        }
        // Replacing a sentinel of another lab counts this thread out there.
        *slot = Some(Sentinel {
            lab: Arc::clone(lab),
        });
    });
}
