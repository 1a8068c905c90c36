//! The contract as a sequential state machine.
//!
//! [`Model`] follows one caller issuing [`Op`]s one at a time, each applied
//! only once the pool has settled (every worker that can take a task has
//! taken it, every task that can finish has finished). In that setting the
//! contract leaves almost nothing open: which tasks a worker holds, what is
//! queued, what each operation returns and every counter follow from the
//! operations alone. The few things that stay timing-dependent (whether
//! idle workers have already exited after a shutdown, how far the
//! bookkeeping after a task's last instruction has got) are given as
//! ranges by [`Model::check_state`] and [`Model::check_stats`].
//!
//! Tasks are of three kinds ([`TaskKind`]): they return their id, panic
//! with a [`DeliberatePanic`](super::DeliberatePanic), or block until one
//! of two gates opens. An operation that would wait for a blocked task
//! (a blocking submit on a full queue, `join`, `wait_idle`, joining an
//! unfinished handle, running a blocked task handed back by `stop`) is
//! modelled as opening every gate first ([`Release`]); the harness does
//! the same, so a sequential run never hangs on its own tasks.
//!
//! The model assumes the queue is FIFO (as `Pool`'s is): tasks are taken,
//! and handed back by `stop()`, in the order they were accepted.

use std::collections::VecDeque;

use arbitrary::Arbitrary;

use crate::{RejectReason, State, Stats};

/// The most workers a [`Program`](super::Program) pool has.
///
/// ```
/// use verified_pool::conformance::{Op, Program, MAX_WORKERS};
///
/// let program = Program::sequential(100, None, vec![Op::Join]);
/// assert_eq!(program.normalized().workers, MAX_WORKERS);
/// ```
pub const MAX_WORKERS: usize = 4;
/// The largest bounded queue a [`Program`](super::Program) pool has.
///
/// ```
/// use verified_pool::conformance::{Op, Program, MAX_CAPACITY};
///
/// let program = Program::sequential(1, Some(100), vec![Op::Join]);
/// assert_eq!(program.normalized().capacity, Some(MAX_CAPACITY));
/// ```
pub const MAX_CAPACITY: usize = 4;

/// A task's number: the order in which the harness created it, from 0.
/// Value-returning tasks return their own id.
///
/// ```
/// use verified_pool::conformance::{Lab, Role, TaskId, TaskKind, Via};
///
/// let lab = Lab::new();
/// let first = lab.task(TaskKind::Value, Via::Submit);
/// let second = lab.task(TaskKind::Value, Via::Submit);
/// let id: TaskId = second.id();
/// assert_eq!((first.id(), id), (0, 1));
/// let _caller = Role::RunningPending.enter(); // run here, as if stop() had handed it back
/// assert_eq!(second.run(), id); // a value task returns its id
/// ```
pub type TaskId = u64;

/// One of the two gates that blocking tasks wait on.
///
/// ```
/// use verified_pool::conformance::{GateId, Model, Op, TaskKind};
///
/// let mut model = Model::new(1, None);
/// model.apply(&Op::Submit(TaskKind::Block(GateId::B)));
/// model.apply(&Op::Open(GateId::A));
/// assert_eq!(model.held(), &[0]); // still waiting: its gate is B
/// model.apply(&Op::Open(GateId::B));
/// assert!(model.held().is_empty());
/// ```
#[derive(Arbitrary, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GateId {
    /// The first gate.
    A,
    /// The second gate.
    B,
}

impl GateId {
    /// Both gates.
    ///
    /// ```
    /// use verified_pool::conformance::{GateId, Model, Op};
    ///
    /// let mut model = Model::new(1, None);
    /// for gate in GateId::ALL {
    ///     model.apply(&Op::Open(gate));
    /// }
    /// assert!(model.is_open(GateId::A) && model.is_open(GateId::B));
    /// ```
    pub const ALL: [GateId; 2] = [GateId::A, GateId::B];

    /// 0 for `A`, 1 for `B`.
    ///
    /// ```
    /// use verified_pool::conformance::GateId;
    ///
    /// let mut open = [false; 2];
    /// open[GateId::B.index()] = true;
    /// assert_eq!(open, [false, true]);
    /// assert_eq!(GateId::A.index(), 0);
    /// ```
    pub fn index(self) -> usize {
        match self {
            GateId::A => 0,
            GateId::B => 1,
        }
    }
}

/// What a task does when it runs.
///
/// ```
/// use verified_pool::conformance::{GateId, HandleOutcome, Model, Op, TaskKind};
///
/// let mut model = Model::new(2, None);
/// model.apply(&Op::Submit(TaskKind::Value)); // task 0
/// model.apply(&Op::Submit(TaskKind::Panic)); // task 1
/// model.apply(&Op::Submit(TaskKind::Block(GateId::A))); // task 2
/// assert_eq!(model.handle_outcome(0), Some(HandleOutcome::Value(0)));
/// assert_eq!(model.handle_outcome(1), Some(HandleOutcome::Panicked));
/// assert_eq!(model.handle_outcome(2), None); // waiting on gate A
/// ```
#[derive(Arbitrary, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TaskKind {
    /// Returns its id.
    Value,
    /// Panics with a [`DeliberatePanic`](super::DeliberatePanic).
    Panic,
    /// Waits until the gate is open, then returns its id.
    Block(GateId),
}

/// How a task was handed to the pool.
///
/// ```
/// use verified_pool::conformance::{Model, Op, TaskKind, Via};
///
/// let mut model = Model::new(1, None);
/// model.apply(&Op::Execute(TaskKind::Value));
/// model.apply(&Op::TrySubmit(TaskKind::Value));
/// let vias: Vec<Via> = model.tasks().iter().map(|task| task.via).collect();
/// assert_eq!(vias, [Via::Execute, Via::TrySubmit]);
/// assert_eq!(model.handles(), &[1]); // execute gave no handle
/// ```
#[derive(Arbitrary, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Via {
    /// `submit`: blocks on a full bounded queue; gives a handle.
    Submit,
    /// `try_submit`: refuses on a full bounded queue; gives a handle.
    TrySubmit,
    /// `execute`: blocks on a full bounded queue; no handle, panics go to
    /// the panic handler.
    Execute,
}

impl Via {
    /// Whether an accepted task comes with a handle.
    ///
    /// ```
    /// use verified_pool::conformance::Via;
    ///
    /// assert!(Via::Submit.has_handle() && Via::TrySubmit.has_handle());
    /// assert!(!Via::Execute.has_handle());
    /// ```
    pub fn has_handle(self) -> bool {
        !matches!(self, Via::Execute)
    }
}

/// One operation of a caller.
///
/// ```
/// use verified_pool::conformance::{Expect, HandleOutcome, Model, Op, TaskKind};
/// use verified_pool::State;
///
/// let mut model = Model::new(1, None);
/// model.apply(&Op::Submit(TaskKind::Value));
/// let joined = model.apply(&Op::JoinHandle(0)).expect;
/// assert_eq!(joined, Expect::HandleJoined(0, HandleOutcome::Value(0)));
/// assert_eq!(model.apply(&Op::DropHandle(0)).expect, Expect::NoHandle); // none left
/// model.apply(&Op::Stop { run: 0 });
/// assert_eq!(model.state(), State::Stopping);
/// ```
#[derive(Arbitrary, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    /// `submit` a task; the handle is kept.
    Submit(TaskKind),
    /// `try_submit` a task; the handle is kept.
    TrySubmit(TaskKind),
    /// `execute` a task.
    Execute(TaskKind),
    /// `shutdown()`.
    Shutdown,
    /// `stop()`, then run the first `run` tasks handed back on this thread
    /// and drop (cancel) the rest.
    Stop {
        /// How many of the handed-back tasks to run.
        run: u8,
    },
    /// `join()`.
    Join,
    /// `wait_idle()`.
    WaitIdle,
    /// Open a gate: the tasks blocked on it return.
    Open(GateId),
    /// Join one of this caller's kept handles (index modulo how many).
    JoinHandle(u8),
    /// Drop one of this caller's kept handles early (the task still runs).
    DropHandle(u8),
    /// Read `state()`.
    State,
    /// Read `stats()`.
    Stats,
}

impl Op {
    /// The task kind and how it is handed over, for the three submitting
    /// operations.
    ///
    /// ```
    /// use verified_pool::conformance::{Op, TaskKind, Via};
    ///
    /// let op = Op::Execute(TaskKind::Panic);
    /// assert_eq!(op.submission(), Some((TaskKind::Panic, Via::Execute)));
    /// assert_eq!(Op::Join.submission(), None);
    /// ```
    pub fn submission(self) -> Option<(TaskKind, Via)> {
        match self {
            Op::Submit(kind) => Some((kind, Via::Submit)),
            Op::TrySubmit(kind) => Some((kind, Via::TrySubmit)),
            Op::Execute(kind) => Some((kind, Via::Execute)),
            _ => None,
        }
    }
}

/// Where a task stands, as the model sees it.
///
/// ```
/// use verified_pool::conformance::{Fate, GateId, Model, Op, TaskKind};
/// use verified_pool::RejectReason;
///
/// let mut model = Model::new(1, Some(1));
/// model.apply(&Op::Submit(TaskKind::Block(GateId::A))); // 0: the worker holds it
/// model.apply(&Op::Submit(TaskKind::Value)); // 1: queued behind it
/// model.apply(&Op::TrySubmit(TaskKind::Value)); // 2: the queue is full
/// let fates: Vec<Fate> = model.tasks().iter().map(|task| task.fate).collect();
/// assert_eq!(fates, [Fate::Held, Fate::Queued, Fate::Refused(RejectReason::Full)]);
/// model.apply(&Op::Stop { run: 0 });
/// assert_eq!(model.tasks()[1].fate, Fate::Cancelled);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fate {
    /// Refused; the closure went back to the caller.
    Refused(RejectReason),
    /// Accepted, not yet taken by a worker.
    Queued,
    /// Taken by a worker and blocked on a closed gate.
    Held,
    /// Run by a worker (to its end or to its panic).
    RanOnWorker,
    /// Handed back by `stop()` and run by the caller.
    RanByCaller,
    /// Handed back by `stop()` and dropped unrun.
    Cancelled,
}

/// A task in the model.
///
/// ```
/// use verified_pool::conformance::{Fate, Model, ModelTask, Op, TaskKind, Via};
///
/// let mut model = Model::new(1, None);
/// model.apply(&Op::Execute(TaskKind::Panic));
/// let task = ModelTask { kind: TaskKind::Panic, via: Via::Execute, fate: Fate::RanOnWorker };
/// assert_eq!(model.tasks(), &[task]);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ModelTask {
    /// What it does.
    pub kind: TaskKind,
    /// How it was handed over.
    pub via: Via,
    /// Where it stands.
    pub fate: Fate,
}

/// What a task's handle resolves to.
///
/// ```
/// use verified_pool::conformance::{Expect, GateId, HandleOutcome, Model, Op, TaskKind};
///
/// let mut model = Model::new(1, None);
/// model.apply(&Op::Submit(TaskKind::Block(GateId::A))); // 0: holds the worker
/// model.apply(&Op::Submit(TaskKind::Panic)); // 1: queued
/// model.apply(&Op::Stop { run: 0 }); // 1 is handed back and dropped
/// assert_eq!(model.handle_outcome(1), Some(HandleOutcome::Cancelled));
/// let joined = model.apply(&Op::JoinHandle(0)).expect;
/// assert_eq!(joined, Expect::HandleJoined(0, HandleOutcome::Value(0)));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HandleOutcome {
    /// `Ok` with this value.
    Value(u64),
    /// `Err(TaskError::Panicked)` with the task's `DeliberatePanic`.
    Panicked,
    /// `Err(TaskError::Cancelled)`.
    Cancelled,
}

/// Whether the harness must open every gate around an operation, because
/// the operation would otherwise wait for a blocked task.
///
/// ```
/// use verified_pool::conformance::{GateId, Model, Op, Release, TaskKind};
///
/// let mut model = Model::new(1, Some(1));
/// model.apply(&Op::Submit(TaskKind::Block(GateId::A))); // 0: holds the worker
/// model.apply(&Op::Submit(TaskKind::Block(GateId::A))); // 1: fills the queue
/// // try_submit refuses at once; submit would wait for task 0 to finish.
/// assert_eq!(model.apply(&Op::TrySubmit(TaskKind::Value)).release, Release::No);
/// assert_eq!(model.apply(&Op::Submit(TaskKind::Value)).release, Release::BeforeOp);
///
/// let mut model = Model::new(1, None);
/// model.apply(&Op::Submit(TaskKind::Block(GateId::A))); // holds the worker
/// model.apply(&Op::Submit(TaskKind::Block(GateId::A))); // queued
/// // Running the handed-back task would wait on gate A: open it after stop().
/// assert_eq!(model.apply(&Op::Stop { run: 1 }).release, Release::AfterDrain);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Release {
    /// No.
    No,
    /// Open every gate before the operation.
    BeforeOp,
    /// For `Stop`: open every gate after `stop()` returns and before the
    /// handed-back tasks are run.
    AfterDrain,
}

/// What an operation must return.
///
/// ```
/// use verified_pool::conformance::{Expect, GateId, Model, Op, TaskKind};
/// use verified_pool::RejectReason;
///
/// let mut model = Model::new(1, Some(1));
/// let first = model.apply(&Op::Submit(TaskKind::Block(GateId::A))).expect;
/// assert_eq!(first, Expect::Accepted(0));
/// model.apply(&Op::Submit(TaskKind::Value)); // 1: queued
/// let full = model.apply(&Op::TrySubmit(TaskKind::Value)).expect;
/// assert_eq!(full, Expect::Refused(2, RejectReason::Full));
/// let stopped = model.apply(&Op::Stop { run: 1 }).expect;
/// assert_eq!(stopped, Expect::Stopped { pending: vec![1], run: 1 });
/// assert_eq!(model.apply(&Op::Stats).expect, Expect::Done);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expect {
    /// The task with this id is accepted.
    Accepted(TaskId),
    /// The task with this id is refused, for this reason.
    Refused(TaskId, RejectReason),
    /// `stop()` hands back exactly these tasks, in this order; the first
    /// `run` are run by the caller, the rest are dropped.
    Stopped {
        /// The tasks handed back, in queue order.
        pending: Vec<TaskId>,
        /// How many of them the caller runs.
        run: usize,
    },
    /// The handle of this task resolves to this outcome.
    HandleJoined(TaskId, HandleOutcome),
    /// The handle of this task is dropped.
    HandleDropped(TaskId),
    /// No handle to join or drop: nothing happens.
    NoHandle,
    /// The operation returns `()` or `Ok(())`, or is an observation to be
    /// checked against the model ([`Model::check_state`],
    /// [`Model::check_stats`]).
    Done,
}

/// An operation's expected effect: what to release around it and what it
/// returns.
///
/// ```
/// use verified_pool::conformance::{Expect, Model, Op, Release, Step, TaskKind};
///
/// let mut model = Model::new(1, None);
/// let step = model.apply(&Op::Submit(TaskKind::Value));
/// assert_eq!(step, Step { release: Release::No, expect: Expect::Accepted(0) });
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// Whether every gate opens around the operation.
    pub release: Release,
    /// What the operation returns.
    pub expect: Expect,
}

/// Events the instrumented tasks report, counted by the model and by the
/// [`Lab`](super::Lab) alike: the harness waits for the two to agree
/// before it looks at the pool ("settling").
///
/// ```
/// use verified_pool::conformance::{GateId, Model, Op, Progress, TaskKind};
///
/// let mut model = Model::new(2, None);
/// model.apply(&Op::Submit(TaskKind::Value));
/// model.apply(&Op::Execute(TaskKind::Panic)); // its panic goes to the handler
/// model.apply(&Op::Submit(TaskKind::Block(GateId::A))); // started, not finished
/// let want = Progress { worker_started: 3, worker_finished: 2, handler_calls: 1 };
/// assert_eq!(model.progress(), want);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    /// Tasks that have started on a worker thread.
    pub worker_started: u64,
    /// Tasks that have reached their end (return or panic) on a worker.
    pub worker_finished: u64,
    /// Panic-handler calls that have returned.
    pub handler_calls: u64,
}

/// The sequential reference model of a pool (see the module docs).
///
/// ```
/// use verified_pool::conformance::{Expect, Model, Op, TaskKind};
/// use verified_pool::{RejectReason, State};
///
/// let mut model = Model::new(1, None);
/// let first = model.apply(&Op::Submit(TaskKind::Value));
/// assert_eq!(first.expect, Expect::Accepted(0));
/// model.apply(&Op::Shutdown);
/// assert_eq!(model.state(), State::ShuttingDown);
/// let late = model.apply(&Op::Execute(TaskKind::Value));
/// assert_eq!(late.expect, Expect::Refused(1, RejectReason::ShutDown));
/// ```
#[derive(Clone, Debug)]
pub struct Model {
    workers: usize,
    capacity: Option<usize>,
    state: State,
    open: [bool; 2],
    queue: VecDeque<TaskId>,
    held: Vec<TaskId>,
    tasks: Vec<ModelTask>,
    handles: Vec<TaskId>,
    submitted: u64,
    rejected: u64,
    cancelled: u64,
    completed: u64,
    panicked: u64,
    progress: Progress,
}

impl Model {
    /// A running pool of `workers` workers with a queue of `capacity`
    /// (`None`: unbounded), with both gates closed and no task yet.
    ///
    /// ```
    /// use verified_pool::conformance::Model;
    /// use verified_pool::State;
    ///
    /// let model = Model::new(2, Some(4));
    /// assert_eq!((model.workers(), model.capacity()), (2, Some(4)));
    /// assert_eq!(model.state(), State::Running);
    /// assert_eq!(model.next_task(), 0);
    /// assert!(std::panic::catch_unwind(|| Model::new(0, None)).is_err());
    /// ```
    ///
    /// # Panics
    /// If `workers` or `capacity` is zero: such a pool cannot be built.
    pub fn new(workers: usize, capacity: Option<usize>) -> Self {
        assert!(workers > 0, "a pool needs a worker");
        assert!(capacity != Some(0), "a bounded queue needs room");
        Model {
            workers,
            capacity,
            state: State::Running,
            open: [false; 2],
            queue: VecDeque::new(),
            held: Vec::new(),
            tasks: Vec::new(),
            handles: Vec::new(),
            submitted: 0,
            rejected: 0,
            cancelled: 0,
            completed: 0,
            panicked: 0,
            progress: Progress::default(),
        }
    }

    /// Counts `n` tasks that were submitted and completed outside the model
    /// (the harness's warm-up tasks).
    ///
    /// ```
    /// use verified_pool::conformance::Model;
    /// use verified_pool::Pool;
    ///
    /// let pool = Pool::new(2).unwrap();
    /// for _ in 0..2 {
    ///     pool.execute(|| ()).unwrap(); // tasks the model was not told about
    /// }
    /// pool.wait_idle().unwrap();
    /// let mut model = Model::new(2, None);
    /// assert!(model.check_stats(&pool.stats(), true).is_err());
    /// model.account_warm_up(2);
    /// model.check_stats(&pool.stats(), true).unwrap();
    /// ```
    pub fn account_warm_up(&mut self, n: u64) {
        self.submitted += n;
        self.completed += n;
    }

    /// The number of workers.
    ///
    /// ```
    /// use verified_pool::conformance::Model;
    ///
    /// assert_eq!(Model::new(3, None).workers(), 3);
    /// ```
    pub fn workers(&self) -> usize {
        self.workers
    }

    /// The queue bound (`None`: unbounded).
    ///
    /// ```
    /// use verified_pool::conformance::Model;
    ///
    /// assert_eq!(Model::new(1, Some(2)).capacity(), Some(2));
    /// assert_eq!(Model::new(1, None).capacity(), None); // unbounded
    /// ```
    pub fn capacity(&self) -> Option<usize> {
        self.capacity
    }

    /// The state as far as the model knows: `Terminated` only after a
    /// `Join` (see [`possible_states`](Self::possible_states)).
    ///
    /// ```
    /// use verified_pool::conformance::{Model, Op};
    /// use verified_pool::State;
    ///
    /// let mut model = Model::new(1, None);
    /// model.apply(&Op::Shutdown);
    /// assert_eq!(model.state(), State::ShuttingDown); // though the pool may have terminated
    /// model.apply(&Op::Join);
    /// assert_eq!(model.state(), State::Terminated);
    /// ```
    pub fn state(&self) -> State {
        self.state
    }

    /// Whether gate `g` is open.
    ///
    /// ```
    /// use verified_pool::conformance::{GateId, Model, Op};
    ///
    /// let mut model = Model::new(1, None);
    /// assert!(!model.is_open(GateId::A));
    /// model.apply(&Op::Open(GateId::A));
    /// assert!(model.is_open(GateId::A) && !model.is_open(GateId::B));
    /// ```
    pub fn is_open(&self, g: GateId) -> bool {
        self.open[g.index()]
    }

    /// Accepted tasks no worker has taken yet, in queue order.
    ///
    /// ```
    /// use verified_pool::conformance::{GateId, Model, Op, TaskKind};
    ///
    /// let mut model = Model::new(1, None);
    /// model.apply(&Op::Submit(TaskKind::Block(GateId::A))); // 0: holds the worker
    /// model.apply(&Op::Submit(TaskKind::Value));
    /// model.apply(&Op::Execute(TaskKind::Panic));
    /// assert_eq!(model.queued().collect::<Vec<_>>(), [1, 2]);
    /// assert_eq!(model.queued().len(), 2);
    /// ```
    pub fn queued(&self) -> impl ExactSizeIterator<Item = TaskId> + '_ {
        self.queue.iter().copied()
    }

    /// Tasks held by a worker, blocked on a closed gate.
    ///
    /// ```
    /// use verified_pool::conformance::{GateId, Model, Op, TaskKind};
    ///
    /// let mut model = Model::new(2, None);
    /// model.apply(&Op::Submit(TaskKind::Block(GateId::A)));
    /// model.apply(&Op::Submit(TaskKind::Block(GateId::B)));
    /// assert_eq!(model.held(), &[0, 1]);
    /// model.apply(&Op::Open(GateId::A));
    /// assert_eq!(model.held(), &[1]);
    /// ```
    pub fn held(&self) -> &[TaskId] {
        &self.held
    }

    /// Every task so far, indexed by id.
    ///
    /// ```
    /// use verified_pool::conformance::{Fate, Model, Op, TaskKind, Via};
    /// use verified_pool::RejectReason;
    ///
    /// let mut model = Model::new(1, None);
    /// model.apply(&Op::Shutdown);
    /// model.apply(&Op::Submit(TaskKind::Value)); // refused, but still a task
    /// let task = model.tasks()[0];
    /// assert_eq!((task.kind, task.via), (TaskKind::Value, Via::Submit));
    /// assert_eq!(task.fate, Fate::Refused(RejectReason::ShutDown));
    /// ```
    pub fn tasks(&self) -> &[ModelTask] {
        &self.tasks
    }

    /// The handles the caller keeps, oldest first.
    ///
    /// ```
    /// use verified_pool::conformance::{Model, Op, TaskKind};
    ///
    /// let mut model = Model::new(1, None);
    /// model.apply(&Op::Submit(TaskKind::Value)); // 0
    /// model.apply(&Op::Execute(TaskKind::Value)); // 1: no handle
    /// model.apply(&Op::TrySubmit(TaskKind::Value)); // 2
    /// assert_eq!(model.handles(), &[0, 2]);
    /// model.apply(&Op::DropHandle(3)); // index 3 modulo 2: task 2's handle
    /// assert_eq!(model.handles(), &[0]);
    /// ```
    pub fn handles(&self) -> &[TaskId] {
        &self.handles
    }

    /// The id the next task will get.
    ///
    /// ```
    /// use verified_pool::conformance::{Model, Op, TaskKind};
    ///
    /// let mut model = Model::new(1, None);
    /// assert_eq!(model.next_task(), 0);
    /// model.apply(&Op::Shutdown);
    /// model.apply(&Op::Execute(TaskKind::Value)); // refused tasks are numbered too
    /// assert_eq!(model.next_task(), 1);
    /// ```
    pub fn next_task(&self) -> TaskId {
        self.tasks.len() as TaskId
    }

    /// What the instrumented tasks must have reported by now.
    ///
    /// ```
    /// use std::time::Duration;
    /// use verified_pool::conformance::{Lab, Model, Op, TaskKind, Via};
    /// use verified_pool::Pool;
    ///
    /// let (lab, pool, mut model) = (Lab::new(), Pool::new(1).unwrap(), Model::new(1, None));
    /// pool.execute(lab.task(TaskKind::Value, Via::Execute).into_execute()).unwrap();
    /// model.apply(&Op::Execute(TaskKind::Value));
    /// assert_eq!(model.progress().worker_finished, 1);
    /// // The harness waits until the real tasks have reported as much.
    /// lab.settle(model.progress(), Duration::from_secs(10)).unwrap();
    /// ```
    pub fn progress(&self) -> Progress {
        self.progress
    }

    /// The states `state()` may report now.
    ///
    /// ```
    /// use verified_pool::conformance::{GateId, Model, Op, TaskKind};
    /// use verified_pool::State;
    ///
    /// let mut model = Model::new(1, None);
    /// model.apply(&Op::Submit(TaskKind::Block(GateId::A)));
    /// model.apply(&Op::Stop { run: 0 });
    /// assert_eq!(model.possible_states(), &[State::Stopping]); // a worker still holds task 0
    /// model.apply(&Op::Open(GateId::A));
    /// assert_eq!(model.possible_states(), &[State::Stopping, State::Terminated]);
    /// ```
    pub fn possible_states(&self) -> &'static [State] {
        match self.state {
            State::Running => &[State::Running],
            State::ShuttingDown if self.queue.is_empty() && self.held.is_empty() => {
                &[State::ShuttingDown, State::Terminated]
            }
            State::ShuttingDown => &[State::ShuttingDown],
            State::Stopping if self.held.is_empty() => &[State::Stopping, State::Terminated],
            State::Stopping => &[State::Stopping],
            State::Terminated => &[State::Terminated],
        }
    }

    /// The fewest and most live workers there may be now.
    ///
    /// ```
    /// use verified_pool::conformance::{GateId, Model, Op, TaskKind};
    ///
    /// let mut model = Model::new(3, None);
    /// assert_eq!(model.worker_range(), (3, 3));
    /// model.apply(&Op::Submit(TaskKind::Block(GateId::A)));
    /// model.apply(&Op::Shutdown);
    /// // Idle workers may or may not have exited yet; the one holding task 0 has not.
    /// assert_eq!(model.worker_range(), (1, 3));
    /// ```
    pub fn worker_range(&self) -> (usize, usize) {
        match self.state {
            State::Running => (self.workers, self.workers),
            // A non-empty queue means every worker holds a blocked task.
            State::ShuttingDown if !self.queue.is_empty() => (self.workers, self.workers),
            State::ShuttingDown | State::Stopping => (self.held.len(), self.workers),
            State::Terminated => (0, 0),
        }
    }

    /// Checks a `state()` reading against the model.
    ///
    /// ```
    /// use verified_pool::conformance::{Model, Op};
    /// use verified_pool::{Pool, State};
    ///
    /// let (pool, mut model) = (Pool::new(1).unwrap(), Model::new(1, None));
    /// pool.shutdown();
    /// model.apply(&Op::Shutdown);
    /// model.check_state(pool.state()).unwrap(); // ShuttingDown or already Terminated
    /// let err = model.check_state(State::Running).unwrap_err();
    /// assert!(err.starts_with("state() is Running"));
    /// ```
    pub fn check_state(&self, state: State) -> Result<(), String> {
        if self.possible_states().contains(&state) {
            Ok(())
        } else {
            Err(format!(
                "state() is {state:?}; the model allows {:?}",
                self.possible_states()
            ))
        }
    }

    /// Checks a `stats()` reading against the model. With `quiescent`
    /// (right after `wait_idle()` or `join()` returned, nothing submitted
    /// since), every counter must be exact and the sum of promise 8 must
    /// hold; otherwise the counters a worker bumps after a task's last
    /// instruction may still lag.
    ///
    /// ```
    /// use verified_pool::conformance::{Model, Op, TaskKind};
    /// use verified_pool::Pool;
    ///
    /// let (pool, mut model) = (Pool::new(1).unwrap(), Model::new(1, None));
    /// pool.execute(|| ()).unwrap();
    /// model.apply(&Op::Execute(TaskKind::Value));
    /// pool.wait_idle().unwrap();
    /// model.check_stats(&pool.stats(), true).unwrap();
    /// let mut wrong = pool.stats();
    /// wrong.rejected += 1;
    /// let err = model.check_stats(&wrong, true).unwrap_err();
    /// assert!(err.contains("rejected is 1, the model says 0"));
    /// ```
    pub fn check_stats(&self, s: &Stats, quiescent: bool) -> Result<(), String> {
        let mut wrong = Vec::new();
        let mut exact = |name: &str, got: u64, want: u64| {
            if got != want {
                wrong.push(format!("{name} is {got}, the model says {want}"));
            }
        };
        exact("submitted", s.submitted, self.submitted);
        exact("rejected", s.rejected, self.rejected);
        exact("cancelled", s.cancelled, self.cancelled);
        exact("queued", s.queued as u64, self.queue.len() as u64);
        if quiescent {
            exact("completed", s.completed, self.completed);
            exact("panicked", s.panicked, self.panicked);
            exact("running", s.running as u64, self.held.len() as u64);
        }
        let (lo, hi) = self.worker_range();
        if s.workers < lo || s.workers > hi {
            wrong.push(format!(
                "workers is {}, the model allows {lo}..={hi}",
                s.workers
            ));
        }
        if s.completed > self.completed || s.panicked > self.panicked {
            wrong.push(format!(
                "completed/panicked are {}/{}, more than the model's {}/{}",
                s.completed, s.panicked, self.completed, self.panicked
            ));
        }
        if s.running < self.held.len() || s.running > s.workers {
            wrong.push(format!(
                "running is {} with {} workers; the model has {} blocked tasks on workers",
                s.running,
                s.workers,
                self.held.len()
            ));
        }
        if s.idle != s.workers.saturating_sub(s.running) {
            wrong.push(format!(
                "idle is {} with {} workers and {} running",
                s.idle, s.workers, s.running
            ));
        }
        if quiescent {
            let sum = s.completed + s.panicked + s.cancelled + s.queued as u64 + s.running as u64;
            if s.submitted != sum {
                wrong.push(format!(
                    "submitted ({}) != completed + panicked + cancelled + queued + running ({sum})",
                    s.submitted
                ));
            }
        }
        if wrong.is_empty() {
            Ok(())
        } else {
            Err(format!("stats() = {s:?}: {}", wrong.join("; ")))
        }
    }

    /// What the handle of task `id` resolves to, once the task has met its
    /// fate (`None` while it is queued or held, or if it has no handle).
    ///
    /// ```
    /// use verified_pool::conformance::{GateId, HandleOutcome, Model, Op, TaskKind};
    ///
    /// let mut model = Model::new(1, None);
    /// model.apply(&Op::Submit(TaskKind::Block(GateId::A)));
    /// assert_eq!(model.handle_outcome(0), None); // held by the worker
    /// model.apply(&Op::Open(GateId::A));
    /// assert_eq!(model.handle_outcome(0), Some(HandleOutcome::Value(0)));
    /// assert_eq!(model.handle_outcome(1), None); // no such task
    /// ```
    pub fn handle_outcome(&self, id: TaskId) -> Option<HandleOutcome> {
        let task = self.tasks.get(id as usize)?;
        let ran = |kind| match kind {
            TaskKind::Panic => HandleOutcome::Panicked,
            _ => HandleOutcome::Value(id),
        };
        match task.fate {
            Fate::RanOnWorker | Fate::RanByCaller => Some(ran(task.kind)),
            Fate::Cancelled => Some(HandleOutcome::Cancelled),
            Fate::Refused(_) | Fate::Queued | Fate::Held => None,
        }
    }

    /// Whether `op` would wait for a task blocked on a closed gate (so the
    /// harness opens every gate first).
    ///
    /// ```
    /// use verified_pool::conformance::{GateId, Model, Op, TaskKind};
    ///
    /// let mut model = Model::new(1, None);
    /// model.apply(&Op::Submit(TaskKind::Block(GateId::A)));
    /// assert!(model.would_block(&Op::WaitIdle)); // task 0 holds the only worker
    /// assert!(model.would_block(&Op::JoinHandle(0)));
    /// assert!(!model.would_block(&Op::Submit(TaskKind::Value))); // the queue is unbounded
    /// ```
    pub fn would_block(&self, op: &Op) -> bool {
        match op {
            Op::Submit(_) | Op::Execute(_) => {
                self.state == State::Running
                    && self.capacity.is_some_and(|cap| self.queue.len() >= cap)
            }
            Op::Join | Op::WaitIdle => !self.held.is_empty(),
            Op::JoinHandle(i) => match self.pick_handle(*i) {
                Some((_, id)) => self.handle_outcome(id).is_none(),
                None => false,
            },
            _ => false,
        }
    }

    fn pick_handle(&self, i: u8) -> Option<(usize, TaskId)> {
        if self.handles.is_empty() {
            return None;
        }
        let at = usize::from(i) % self.handles.len();
        Some((at, self.handles[at]))
    }

    /// Applies `op`, returning what it must do and return.
    ///
    /// ```
    /// use verified_pool::conformance::{Expect, GateId, Model, Op, Release, Step, TaskKind};
    ///
    /// let mut model = Model::new(1, None);
    /// model.apply(&Op::Submit(TaskKind::Block(GateId::A)));
    /// // wait_idle() would wait for task 0: the harness opens every gate first.
    /// let step = model.apply(&Op::WaitIdle);
    /// assert_eq!(step, Step { release: Release::BeforeOp, expect: Expect::Done });
    /// assert!(model.is_open(GateId::A) && model.held().is_empty());
    /// ```
    pub fn apply(&mut self, op: &Op) -> Step {
        let release = if self.would_block(op) {
            self.open_all();
            Release::BeforeOp
        } else {
            Release::No
        };
        let expect = match *op {
            Op::Submit(kind) => self.submit(kind, Via::Submit),
            Op::TrySubmit(kind) => self.submit(kind, Via::TrySubmit),
            Op::Execute(kind) => self.submit(kind, Via::Execute),
            Op::Shutdown => {
                if self.state == State::Running {
                    self.state = State::ShuttingDown;
                }
                Expect::Done
            }
            Op::Stop { run } => return self.stop(usize::from(run)),
            Op::Join => {
                // Opened above if anything was held; with nothing held the
                // queue is empty too, so everything has met its fate.
                debug_assert!(self.held.is_empty() && self.queue.is_empty());
                self.state = State::Terminated;
                Expect::Done
            }
            Op::WaitIdle | Op::State | Op::Stats => Expect::Done,
            Op::Open(g) => {
                self.open(g);
                Expect::Done
            }
            Op::JoinHandle(i) => match self.pick_handle(i) {
                Some((at, id)) => {
                    self.handles.remove(at);
                    let outcome = self
                        .handle_outcome(id)
                        .expect("a handle waited on has met its fate once every gate is open");
                    Expect::HandleJoined(id, outcome)
                }
                None => Expect::NoHandle,
            },
            Op::DropHandle(i) => match self.pick_handle(i) {
                Some((at, id)) => {
                    self.handles.remove(at);
                    Expect::HandleDropped(id)
                }
                None => Expect::NoHandle,
            },
        };
        Step { release, expect }
    }

    fn submit(&mut self, kind: TaskKind, via: Via) -> Expect {
        let id = self.next_task();
        let refusal = if self.state != State::Running {
            Some(RejectReason::ShutDown)
        } else if self.capacity.is_some_and(|cap| self.queue.len() >= cap) {
            // Only try_submit gets here: a blocking submit released first.
            debug_assert_eq!(via, Via::TrySubmit);
            Some(RejectReason::Full)
        } else {
            None
        };
        if let Some(reason) = refusal {
            self.rejected += 1;
            self.tasks.push(ModelTask {
                kind,
                via,
                fate: Fate::Refused(reason),
            });
            return Expect::Refused(id, reason);
        }
        self.submitted += 1;
        self.tasks.push(ModelTask {
            kind,
            via,
            fate: Fate::Queued,
        });
        self.queue.push_back(id);
        if via.has_handle() {
            self.handles.push(id);
        }
        self.cascade();
        Expect::Accepted(id)
    }

    fn stop(&mut self, run: usize) -> Step {
        let pending: Vec<TaskId> = self.queue.drain(..).collect();
        if matches!(self.state, State::Running | State::ShuttingDown) {
            self.state = State::Stopping;
        }
        self.cancelled += pending.len() as u64;
        let run = run.min(pending.len());
        let blocks = pending[..run].iter().any(
            |&id| matches!(self.tasks[id as usize].kind, TaskKind::Block(g) if !self.is_open(g)),
        );
        let release = if blocks {
            self.open_all();
            Release::AfterDrain
        } else {
            Release::No
        };
        for (n, &id) in pending.iter().enumerate() {
            let task = &mut self.tasks[id as usize];
            if n < run {
                task.fate = Fate::RanByCaller;
                if task.kind == TaskKind::Panic && task.via == Via::Execute {
                    self.progress.handler_calls += 1;
                }
            } else {
                task.fate = Fate::Cancelled;
            }
        }
        Step {
            release,
            expect: Expect::Stopped { pending, run },
        }
    }

    fn open(&mut self, g: GateId) {
        self.open[g.index()] = true;
        let (released, still): (Vec<TaskId>, Vec<TaskId>) = self
            .held
            .iter()
            .partition(|&&id| self.tasks[id as usize].kind == TaskKind::Block(g));
        self.held = still;
        for id in released {
            self.finish_on_worker(id);
        }
        self.cascade();
    }

    fn open_all(&mut self) {
        for g in GateId::ALL {
            self.open(g);
        }
    }

    /// Free workers take queued tasks, in order, until every worker holds a
    /// blocked task or the queue is empty.
    fn cascade(&mut self) {
        if !matches!(self.state, State::Running | State::ShuttingDown) {
            return;
        }
        while self.held.len() < self.workers {
            let Some(id) = self.queue.pop_front() else {
                break;
            };
            self.progress.worker_started += 1;
            match self.tasks[id as usize].kind {
                TaskKind::Block(g) if !self.is_open(g) => {
                    self.tasks[id as usize].fate = Fate::Held;
                    self.held.push(id);
                }
                _ => self.finish_on_worker(id),
            }
        }
    }

    fn finish_on_worker(&mut self, id: TaskId) {
        let task = &mut self.tasks[id as usize];
        task.fate = Fate::RanOnWorker;
        self.progress.worker_finished += 1;
        if task.kind == TaskKind::Panic {
            self.panicked += 1;
            if task.via == Via::Execute {
                self.progress.handler_calls += 1;
            }
        } else {
            self.completed += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocked_workers_fill_the_queue_in_order() {
        let mut m = Model::new(1, Some(1));
        assert_eq!(
            m.apply(&Op::TrySubmit(TaskKind::Block(GateId::A))).expect,
            Expect::Accepted(0)
        );
        assert_eq!(m.held(), &[0]);
        assert_eq!(
            m.apply(&Op::TrySubmit(TaskKind::Value)).expect,
            Expect::Accepted(1)
        );
        assert_eq!(
            m.apply(&Op::TrySubmit(TaskKind::Value)).expect,
            Expect::Refused(2, RejectReason::Full)
        );
        // A blocking submit on the full queue releases the gates first.
        let step = m.apply(&Op::Submit(TaskKind::Panic));
        assert_eq!(step.release, Release::BeforeOp);
        assert_eq!(step.expect, Expect::Accepted(3));
        assert_eq!(m.progress().worker_finished, 3);
        let step = m.apply(&Op::Stop { run: 0 });
        assert_eq!(
            step.expect,
            Expect::Stopped {
                pending: vec![],
                run: 0
            }
        );
        assert_eq!(m.possible_states(), &[State::Stopping, State::Terminated]);
    }
}
