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
    pub fn current() -> Role {
        ROLE.with(Cell::get)
    }

    /// Makes this the current thread's role until the guard is dropped.
    pub fn enter(self) -> RoleGuard {
        RoleGuard {
            previous: ROLE.with(|r| r.replace(self)),
            _not_send: std::marker::PhantomData,
        }
    }
}

/// Restores the thread's previous [`Role`] when dropped.
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
    pub fn open(&self, g: GateId) {
        let mut s = self.inner.lock();
        s.open[g.index()] = true;
        self.inner.changed(s);
    }

    /// Opens both gates.
    pub fn open_all(&self) {
        let mut s = self.inner.lock();
        s.open = [true; 2];
        self.inner.changed(s);
    }

    /// What the tasks have reported so far.
    pub fn progress(&self) -> Progress {
        self.inner.lock().progress
    }

    /// Waits until the tasks have reported exactly `want` (see
    /// [`Model::progress`](super::Model::progress)). An error says how far
    /// they got, at once if they went past `want`, else after `timeout`.
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
    /// # Panics
    /// If no such task was made.
    pub fn record(&self, id: TaskId) -> Record {
        self.inner.lock().records[id as usize]
    }

    /// Copies of every record, indexed by task id.
    pub fn records(&self) -> Vec<Record> {
        self.inner.lock().records.clone()
    }

    /// Worker threads that ran a task and have not exited yet.
    pub fn live_workers(&self) -> usize {
        self.inner.lock().live_workers
    }

    /// Worker threads that ran a task, exited or not.
    pub fn workers_seen(&self) -> usize {
        self.inner.lock().workers_seen
    }

    /// Notes that a `join()` has returned: a worker starting a task from
    /// now on is recorded (`started_after_join`).
    pub fn mark_joined(&self) {
        self.inner.lock().joined = true;
    }

    /// Things tasks or the panic handler saw that no pool may do (a foreign
    /// payload, a panic delivered twice).
    pub fn anomalies(&self) -> Vec<String> {
        self.inner.lock().anomalies.clone()
    }

    /// Where the pool's panic handler should send payloads.
    pub fn panic_sink(&self) -> PanicSink {
        PanicSink {
            lab: Some(Arc::clone(&self.inner)),
        }
    }

    /// A task (not in the ledger) that marks its worker thread and then
    /// waits until `workers` such tasks run at once, or `timeout` passes.
    /// Submitting `workers` of them makes every worker thread known to the
    /// lab before a program starts.
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
    pub fn id(&self) -> TaskId {
        self.id
    }

    /// The task's body: records that it runs (and on what thread), blocks
    /// on its gate if it has one, records that it finished, then returns
    /// its id or panics with a [`DeliberatePanic`].
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
    pub fn into_submit(self) -> impl FnOnce() -> u64 + Send + 'static {
        move || self.run()
    }

    /// The closure for `execute`.
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
    pub fn discard() -> Self {
        PanicSink { lab: None }
    }

    /// Takes one payload (call it from the pool's panic handler).
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
