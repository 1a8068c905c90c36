#![cfg(not(any(loom, shuttle)))]
//! Property-based state-machine tests: random operation sequences run
//! against the conformance kit's sequential [`Model`] and, step by step,
//! against a real [`Pool`] driven through its public API (and the pool's
//! channel against a `VecDeque` model). Every step's result is compared
//! with the model's, and the invariants are checked after every step.
//!
//! Cases: proptest's default of 256 per test, or `PROPTEST_CASES`.
//! Failures are saved under `tests/proptest-regressions/` and replayed
//! first on the next run.

use std::time::Duration;

use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence};
use proptest_state_machine::{prop_state_machine, ReferenceStateMachine, StateMachineTest};
use verified_pool::conformance::{
    silence_deliberate_panics, ChannelModel, ChannelOp, ChannelRefusal, ChannelUnderTest,
    DeliberatePanic, Expect, Fate, GateId, HandleOutcome, Lab, Model, Op, Release, Role, RoleGuard,
    Step, TaskId, TaskKind, Via, CHANNEL_RECEIVERS, MAX_CAPACITY, MAX_WORKERS,
};
use verified_pool::{PendingTask, Pool, Rejected, State, TaskError, TaskHandle};

/// How long the pool may take to settle after a step.
const SETTLE: Duration = Duration::from_secs(10);

fn config(regressions: &'static str) -> Config {
    Config {
        // `Config::default()` reads PROPTEST_CASES (default 256).
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(regressions))),
        ..Config::default()
    }
}

// ---------------------------------------------------------------------------
// The pool

/// The reference state: the model, and what the last operation did to it.
#[derive(Clone, Debug)]
struct PoolRef {
    model: Model,
    last: Option<(Op, Step)>,
}

struct PoolMachine;

fn task_kind() -> impl Strategy<Value = TaskKind> {
    prop_oneof![
        3 => Just(TaskKind::Value),
        1 => Just(TaskKind::Panic),
        2 => gate().prop_map(TaskKind::Block),
    ]
}

fn gate() -> impl Strategy<Value = GateId> {
    prop_oneof![Just(GateId::A), Just(GateId::B)]
}

impl ReferenceStateMachine for PoolMachine {
    type State = PoolRef;
    type Transition = Op;

    fn init_state() -> BoxedStrategy<PoolRef> {
        // Bounded and unbounded queues alike.
        let capacity = prop_oneof![Just(None), (1..=MAX_CAPACITY).prop_map(Some)];
        (1..=MAX_WORKERS, capacity)
            .prop_map(|(workers, capacity)| PoolRef {
                model: Model::new(workers, capacity),
                last: None,
            })
            .boxed()
    }

    fn transitions(_: &PoolRef) -> BoxedStrategy<Op> {
        // Every operation is valid in every state: the model says what it
        // must return, and which ones must open the gates first.
        prop_oneof![
            4 => task_kind().prop_map(Op::Submit),
            3 => task_kind().prop_map(Op::TrySubmit),
            2 => task_kind().prop_map(Op::Execute),
            1 => Just(Op::Shutdown),
            1 => (0u8..4).prop_map(|run| Op::Stop { run }),
            1 => Just(Op::Join),
            1 => Just(Op::WaitIdle),
            2 => gate().prop_map(Op::Open),
            2 => any::<u8>().prop_map(Op::JoinHandle),
            1 => any::<u8>().prop_map(Op::DropHandle),
            1 => Just(Op::State),
            1 => Just(Op::Stats),
        ]
        .boxed()
    }

    fn apply(mut state: PoolRef, op: &Op) -> PoolRef {
        let step = state.model.apply(op);
        state.last = Some((*op, step));
        state
    }
}

/// The real pool, the lab its tasks report to, and the handles kept (in
/// the model's order).
struct PoolSut {
    pool: Pool,
    lab: Lab,
    handles: Vec<(TaskId, TaskHandle<u64>)>,
    _driver: RoleGuard,
}

impl Drop for PoolSut {
    fn drop(&mut self) {
        // A failed step must not leave the pool's drop (a join) waiting on
        // a blocked task.
        self.lab.open_all();
    }
}

impl PoolSut {
    fn submit(&mut self, kind: TaskKind, via: Via) -> Expect {
        let task = self.lab.task(kind, via);
        let id = task.id();
        match via {
            Via::Submit => match self.pool.submit(task.into_submit()) {
                Ok(handle) => self.keep(id, handle),
                Err(refused) => give_back(id, refused),
            },
            Via::TrySubmit => match self.pool.try_submit(task.into_submit()) {
                Ok(handle) => self.keep(id, handle),
                Err(refused) => give_back(id, refused),
            },
            Via::Execute => match self.pool.execute(task.into_execute()) {
                Ok(()) => Expect::Accepted(id),
                Err(refused) => give_back(id, refused),
            },
        }
    }

    fn keep(&mut self, id: TaskId, handle: TaskHandle<u64>) -> Expect {
        self.handles.push((id, handle));
        Expect::Accepted(id)
    }

    /// `stop()`, then runs the first `run` tasks handed back and drops the
    /// rest; returns how many came back.
    fn stop(&mut self, release: Release, run: usize) -> usize {
        let pending: Vec<PendingTask> = self.pool.stop();
        if release == Release::AfterDrain {
            self.lab.open_all();
        }
        let count = pending.len();
        for (i, task) in pending.into_iter().enumerate() {
            if i < run {
                let _role = Role::RunningPending.enter();
                task.run();
            } else {
                let _role = Role::DroppingPending.enter();
                drop(task);
            }
        }
        assert!(
            matches!(self.pool.state(), State::Stopping | State::Terminated),
            "state() after stop()"
        );
        count
    }
}

/// A refusal must hand back the very closure, unrun and undropped.
fn give_back<F>(id: TaskId, refused: Rejected<F>) -> Expect {
    let reason = refused.reason();
    assert!(!format!("{refused:?} {refused}").is_empty());
    let task = refused.into_inner();
    let _role = Role::DroppingRefused.enter();
    drop(task);
    Expect::Refused(id, reason)
}

fn outcome_of(result: &Result<u64, TaskError>, id: TaskId) -> HandleOutcome {
    match result {
        Ok(v) => HandleOutcome::Value(*v),
        Err(TaskError::Panicked(payload)) => {
            assert_eq!(
                payload.downcast_ref::<DeliberatePanic>(),
                Some(&DeliberatePanic { task: id }),
                "task {id}'s panic payload was not its own"
            );
            HandleOutcome::Panicked
        }
        Err(TaskError::Cancelled) => HandleOutcome::Cancelled,
        Err(e) => panic!("unexpected task error {e:?}"),
    }
}

/// What the ledger must say about task `id` given the model's fate for it.
fn assert_fate(lab: &Lab, id: TaskId, fate: Fate) {
    let rec = lab.record(id);
    let fine = match fate {
        Fate::Refused(_) => rec.ran_as.is_none() && rec.dropped_as == Some(Role::DroppingRefused),
        Fate::Queued => rec.ran_as.is_none() && rec.dropped_as.is_none(),
        Fate::Held => rec.ran_on_worker() && !rec.finished,
        Fate::RanOnWorker => rec.ran_on_worker() && rec.finished && rec.dropped_as.is_none(),
        Fate::RanByCaller => rec.ran_as == Some(Role::RunningPending) && rec.finished,
        Fate::Cancelled => rec.ran_as.is_none() && rec.dropped_as == Some(Role::DroppingPending),
    };
    assert!(
        fine,
        "task {id}: the model says {fate:?}, the ledger {rec:?}"
    );
    assert!(
        !rec.ran_twice && !rec.started_after_join,
        "task {id}: {rec:?}"
    );
    let handler = rec.kind == TaskKind::Panic
        && rec.via == Via::Execute
        && matches!(fate, Fate::RanOnWorker | Fate::RanByCaller);
    assert_eq!(
        rec.handler_deliveries,
        u32::from(handler),
        "task {id} ({fate:?}): panic-handler deliveries"
    );
}

impl StateMachineTest for PoolSut {
    type SystemUnderTest = Self;
    type Reference = PoolMachine;

    fn init_test(state: &PoolRef) -> Self {
        silence_deliberate_panics();
        let lab = Lab::new();
        let sink = lab.panic_sink();
        let mut builder = Pool::builder()
            .workers(state.model.workers())
            .thread_name("vp-state-machine")
            .panic_handler(move |payload| sink.deliver(payload));
        if let Some(capacity) = state.model.capacity() {
            builder = builder.queue_capacity(capacity);
        }
        PoolSut {
            pool: builder.build().expect("valid settings"),
            lab,
            handles: Vec::new(),
            _driver: Role::Driver.enter(),
        }
    }

    fn apply(mut sut: Self, state: &PoolRef, op: Op) -> Self {
        let (_, step) = state.last.clone().expect("a step was applied");
        if step.release == Release::BeforeOp {
            sut.lab.open_all();
        }
        let got = match op {
            Op::Submit(kind) => sut.submit(kind, Via::Submit),
            Op::TrySubmit(kind) => sut.submit(kind, Via::TrySubmit),
            Op::Execute(kind) => sut.submit(kind, Via::Execute),
            Op::Shutdown => {
                sut.pool.shutdown();
                assert_ne!(sut.pool.state(), State::Running);
                Expect::Done
            }
            Op::Stop { run } => {
                let count = sut.stop(step.release, usize::from(run));
                let Expect::Stopped { pending, run } = &step.expect else {
                    panic!("the model's Stop gave {:?}", step.expect)
                };
                assert_eq!(count, pending.len(), "stop() handed back {count} tasks");
                // The first `run` handed back (in queue order) were run.
                for (i, &id) in pending.iter().enumerate() {
                    let fate = if i < *run {
                        Fate::RanByCaller
                    } else {
                        Fate::Cancelled
                    };
                    assert_fate(&sut.lab, id, fate);
                }
                step.expect.clone()
            }
            Op::Join => {
                sut.pool.join().expect("join() from the test thread");
                assert_eq!(sut.pool.state(), State::Terminated);
                assert_eq!(sut.lab.live_workers(), 0, "a worker outlived join()");
                Expect::Done
            }
            Op::WaitIdle => {
                sut.pool
                    .wait_idle()
                    .expect("wait_idle() from the test thread");
                Expect::Done
            }
            Op::Open(g) => {
                sut.lab.open(g);
                Expect::Done
            }
            Op::JoinHandle(i) if !sut.handles.is_empty() => {
                let at = usize::from(i) % sut.handles.len();
                let (id, handle) = sut.handles.remove(at);
                let result = handle.join();
                Expect::HandleJoined(id, outcome_of(&result, id))
            }
            Op::DropHandle(i) if !sut.handles.is_empty() => {
                let at = usize::from(i) % sut.handles.len();
                let (id, handle) = sut.handles.remove(at);
                drop(handle);
                Expect::HandleDropped(id)
            }
            Op::JoinHandle(_) | Op::DropHandle(_) => Expect::NoHandle,
            Op::State | Op::Stats => Expect::Done, // checked as invariants
        };
        assert_eq!(got, step.expect, "{op:?} returned {got:?}");
        if let Err(e) = sut.lab.settle(state.model.progress(), SETTLE) {
            panic!("after {op:?}: {e}");
        }
        sut
    }

    fn check_invariants(sut: &Self, state: &PoolRef) {
        let model = &state.model;
        let quiescent = matches!(state.last, Some((Op::WaitIdle | Op::Join, _)));
        if let Err(e) = model.check_state(sut.pool.state()) {
            panic!("{e}");
        }
        if let Err(e) = model.check_stats(&sut.pool.stats(), quiescent) {
            panic!("{e}");
        }
        let kept: Vec<TaskId> = sut.handles.iter().map(|(id, _)| *id).collect();
        assert_eq!(kept, model.handles(), "the kept handles");
        for (id, handle) in &sut.handles {
            let decided = model.handle_outcome(*id).is_some();
            assert!(
                decided || !handle.is_finished(),
                "task {id}'s handle is finished but the task is {:?}",
                model.tasks()[*id as usize].fate
            );
            assert!(
                !quiescent || !decided || handle.is_finished(),
                "task {id} is done but its handle is not resolved"
            );
        }
        for (id, task) in model.tasks().iter().enumerate() {
            if !matches!(task.fate, Fate::RanOnWorker) {
                // Worker runs are only final once they settle.
                assert_fate(&sut.lab, id as TaskId, task.fate);
            }
        }
        assert!(sut.lab.anomalies().is_empty(), "{:?}", sut.lab.anomalies());
    }

    fn teardown(mut sut: Self, state: PoolRef) {
        // Join like a last `Join` step, then every task has its final fate.
        let mut model = state.model;
        model.apply(&Op::Join);
        sut.lab.open_all();
        sut.pool.join().expect("join() from the test thread");
        sut.lab
            .settle(model.progress(), SETTLE)
            .unwrap_or_else(|e| panic!("after the final join: {e}"));
        assert_eq!(sut.lab.live_workers(), 0, "a worker outlived join()");
        if let Err(e) = model.check_stats(&sut.pool.stats(), true) {
            panic!("after the final join: {e}");
        }
        for (id, task) in model.tasks().iter().enumerate() {
            assert_fate(&sut.lab, id as TaskId, task.fate);
        }
        for (id, handle) in std::mem::take(&mut sut.handles) {
            assert!(handle.is_finished(), "task {id}'s handle after join()");
            let got = outcome_of(&handle.join(), id);
            assert_eq!(Some(got), model.handle_outcome(id), "task {id}'s handle");
        }
    }
}

prop_state_machine! {
    #![proptest_config(config("tests/proptest-regressions/state_machine_pool.txt"))]

    /// Random operation sequences on bounded and unbounded pools.
    #[test]
    fn pool_matches_the_model(sequential 1..40 => PoolSut);
}

// ---------------------------------------------------------------------------
// The channel on its own

#[derive(Clone, Debug)]
struct ChannelRef {
    model: ChannelModel,
    /// The last operation's expected result, as text.
    last: String,
}

struct ChannelMachine;

impl ReferenceStateMachine for ChannelMachine {
    type State = ChannelRef;
    type Transition = ChannelOp;

    fn init_state() -> BoxedStrategy<ChannelRef> {
        prop_oneof![Just(None), (1usize..=4).prop_map(Some)]
            .prop_map(|capacity| ChannelRef {
                model: ChannelModel::new(capacity),
                last: String::new(),
            })
            .boxed()
    }

    fn transitions(state: &ChannelRef) -> BoxedStrategy<ChannelOp> {
        // Only what one thread can do without blocking, so that few
        // generated steps fail the preconditions.
        let m = &state.model;
        let mut ops: Vec<(u32, BoxedStrategy<ChannelOp>)> = vec![
            (4, Just(ChannelOp::TrySend).boxed()),
            (1, Just(ChannelOp::Close).boxed()),
            (1, Just(ChannelOp::Drain).boxed()),
        ];
        let receivers = 0..CHANNEL_RECEIVERS as u8;
        for op in [ChannelOp::Send, ChannelOp::Recv(0), ChannelOp::WaitQuiet] {
            if !m.would_block(op) {
                let strategy = match op {
                    ChannelOp::Recv(_) => receivers.clone().prop_map(ChannelOp::Recv).boxed(),
                    op => Just(op).boxed(),
                };
                ops.push((if op == ChannelOp::WaitQuiet { 1 } else { 3 }, strategy));
            }
        }
        let holding: Vec<u8> = receivers.filter(|&r| m.holds(usize::from(r))).collect();
        if !holding.is_empty() {
            ops.push((
                2,
                proptest::sample::select(holding)
                    .prop_map(ChannelOp::Finish)
                    .boxed(),
            ));
        }
        proptest::strategy::Union::new_weighted(ops).boxed()
    }

    fn preconditions(state: &ChannelRef, op: &ChannelOp) -> bool {
        // One thread: never call what would block.
        !state.model.would_block(*op)
            && !matches!(op, ChannelOp::Finish(r) if !state.model.holds(usize::from(*r)))
    }

    fn apply(mut state: ChannelRef, op: &ChannelOp) -> ChannelRef {
        let m = &mut state.model;
        state.last = match *op {
            ChannelOp::TrySend | ChannelOp::Send => format!("{:?}", m.send()),
            ChannelOp::Recv(r) => format!("{:?}", m.recv(usize::from(r))),
            ChannelOp::Finish(r) => {
                m.finish(usize::from(r));
                String::new()
            }
            ChannelOp::Close => {
                m.close();
                String::new()
            }
            ChannelOp::Drain => format!("{:?}", m.drain()),
            ChannelOp::WaitQuiet | ChannelOp::Snapshot => String::new(),
        };
        state
    }
}

struct ChannelSut {
    channel: ChannelUnderTest,
    holding: [bool; CHANNEL_RECEIVERS],
    next: u64,
}

impl StateMachineTest for ChannelSut {
    type SystemUnderTest = Self;
    type Reference = ChannelMachine;

    fn init_test(state: &ChannelRef) -> Self {
        ChannelSut {
            channel: ChannelUnderTest::new(state.model.capacity()),
            holding: [false; CHANNEL_RECEIVERS],
            next: 0,
        }
    }

    fn apply(mut sut: Self, state: &ChannelRef, op: ChannelOp) -> Self {
        let got = match op {
            ChannelOp::TrySend | ChannelOp::Send => {
                let item = sut.next;
                sut.next += 1;
                let result: Result<(), ChannelRefusal> =
                    match sut.channel.send(item, op == ChannelOp::Send) {
                        Ok(()) => Ok(()),
                        Err((back, why)) => {
                            assert_eq!(back, item, "a refused send handed back another item");
                            Err(why)
                        }
                    };
                format!("{:?}", (item, result))
            }
            ChannelOp::Recv(r) => {
                let r = usize::from(r);
                let item = sut.channel.recv(sut.holding[r]);
                sut.holding[r] = item.is_some();
                format!("{item:?}")
            }
            ChannelOp::Finish(r) => {
                sut.channel.finish();
                sut.holding[usize::from(r)] = false;
                String::new()
            }
            ChannelOp::Close => {
                sut.channel.close();
                String::new()
            }
            ChannelOp::Drain => format!("{:?}", sut.channel.drain()),
            ChannelOp::WaitQuiet => {
                sut.channel.wait_quiet();
                String::new()
            }
            ChannelOp::Snapshot => String::new(),
        };
        assert_eq!(got, state.last, "{op:?}");
        sut
    }

    fn check_invariants(sut: &Self, state: &ChannelRef) {
        assert_eq!(sut.channel.snapshot(), state.model.snapshot());
    }
}

prop_state_machine! {
    #![proptest_config(config("tests/proptest-regressions/state_machine_channel.txt"))]

    /// Random operation sequences on the pool's channel.
    #[test]
    fn channel_matches_the_model(sequential 1..60 => ChannelSut);
}
