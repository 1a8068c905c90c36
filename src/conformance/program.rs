//! Operation programs and the checker that runs them against a real pool.
//!
//! A [`Program`] is a pool configuration and up to [`MAX_THREADS`] lists of
//! [`Op`]s; [`check_program`] runs each list on its own thread against one
//! pool (a thread may submit, close, join, wait, all of these), then joins
//! the pool and checks what every task did against what the pool said.
//!
//! Blocking tasks wait on gates. So that a program never hangs on its own
//! tasks, a thread marks itself *waiting* before any operation that might
//! wait for one, and once every thread is waiting or done, every gate opens.
//! With a single thread, the [`Model`] says exactly which operations would
//! wait, and every result and every reading of `state()`/`stats()` is
//! compared with the model's after the pool settles.
//!
//! The whole run is watched: if it makes no progress for twice
//! [`CheckOptions::hang_timeout`], the check returns a violation that says
//! what each thread was doing (the stuck threads are left behind).

use std::collections::HashMap;
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::sync::{mpsc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use arbitrary::{Arbitrary, Unstructured};

use crate::{Pool, RejectReason, State, Stats, TaskError};

use super::lab::{Lab, Record, Role};
use super::model::{
    Expect, HandleOutcome, Model, Op, Release, Step, TaskId, TaskKind, Via, MAX_CAPACITY,
    MAX_WORKERS,
};
use super::under_test::{BuildSpec, HandleUnderTest, PendingUnderTest, PoolUnderTest, Refused};
use super::{ensure, violation, DeliberatePanic, Promise, Violation};

/// The most threads a program runs.
///
/// ```
/// use verified_pool::conformance::{Op, Program, MAX_THREADS};
///
/// let mut program = Program::sequential(1, None, vec![Op::State]);
/// program.threads = vec![vec![Op::State]; 5];
/// assert_eq!(program.normalized().threads.len(), MAX_THREADS);
/// ```
pub const MAX_THREADS: usize = 3;
/// The most operations one thread of a program runs.
///
/// ```
/// use verified_pool::conformance::{Op, Program, MAX_OPS_PER_THREAD};
///
/// let program = Program::sequential(1, None, vec![Op::Stats; 100]);
/// assert_eq!(program.normalized().threads[0].len(), MAX_OPS_PER_THREAD);
/// ```
pub const MAX_OPS_PER_THREAD: usize = 32;
/// The most trace lines a violation keeps (the last ones).
const TRACE_LINES: usize = 400;

/// A pool configuration and the operations each thread runs on it.
///
/// ```
/// use verified_pool::conformance::{Op, Program, TaskKind};
///
/// // One thread; two threads would be `threads: vec![ops_a, ops_b]`.
/// let program = Program::sequential(1, Some(2), vec![Op::Submit(TaskKind::Value), Op::Shutdown]);
/// assert_eq!((program.workers, program.capacity, program.threads.len()), (1, Some(2), 1));
/// // What the fuzzer does: any bytes give a program within the limits, or None.
/// let _ = Program::from_fuzz_input(&[7; 64]);
/// ```
///
/// Its `Arbitrary` implementation (what the fuzzer uses) only makes values
/// within the limits; [`check_program`] clamps a hand-made program into
/// them ([`normalized`](Self::normalized)).
#[derive(Arbitrary, Clone, Debug, PartialEq, Eq, Hash)]
pub struct Program {
    /// Worker threads, 1 to [`MAX_WORKERS`].
    #[arbitrary(with = |u: &mut Unstructured| u.int_in_range(1..=MAX_WORKERS))]
    pub workers: usize,
    /// Queue bound, 1 to [`MAX_CAPACITY`], or `None` for unbounded.
    #[arbitrary(with = arbitrary_capacity)]
    pub capacity: Option<usize>,
    /// Before the program, run one task on every worker at once, so that
    /// every worker thread is known to the lab (the promise-5 check then
    /// covers workers that run no task of the program).
    pub warm_up: bool,
    /// Each thread's operations, 1 to [`MAX_THREADS`] threads of up to
    /// [`MAX_OPS_PER_THREAD`] operations.
    #[arbitrary(with = arbitrary_threads)]
    pub threads: Vec<Vec<Op>>,
}

fn arbitrary_capacity(u: &mut Unstructured<'_>) -> arbitrary::Result<Option<usize>> {
    Ok(if u.arbitrary()? {
        Some(u.int_in_range(1..=MAX_CAPACITY)?)
    } else {
        None
    })
}

fn arbitrary_threads(u: &mut Unstructured<'_>) -> arbitrary::Result<Vec<Vec<Op>>> {
    let n = u.int_in_range(1..=MAX_THREADS)?;
    (0..n)
        .map(|_| u.arbitrary_iter::<Op>()?.take(MAX_OPS_PER_THREAD).collect())
        .collect()
}

impl Program {
    /// A one-thread program.
    ///
    /// ```
    /// use verified_pool::conformance::{check_program, Op, Program, TaskKind};
    ///
    /// let ops = vec![Op::Submit(TaskKind::Value), Op::JoinHandle(0)];
    /// let program = Program::sequential(2, None, ops.clone());
    /// assert_eq!(program.threads, [ops]);
    /// assert!(!program.warm_up);
    /// check_program(&program).unwrap();
    /// ```
    pub fn sequential(workers: usize, capacity: Option<usize>, ops: Vec<Op>) -> Self {
        Program {
            workers,
            capacity,
            warm_up: false,
            threads: vec![ops],
        }
    }

    /// The program decoded from fuzzer input bytes exactly as
    /// `libfuzzer_sys::fuzz_target!` decodes a `Program` argument (`None`
    /// where the target would skip the input), so that committed fuzz
    /// inputs can be replayed by ordinary tests.
    ///
    /// ```
    /// use verified_pool::conformance::{
    ///     check_program, silence_deliberate_panics, Program, MAX_THREADS,
    /// };
    ///
    /// silence_deliberate_panics();
    /// assert!(Program::from_fuzz_input(&[0; 4]).is_none()); // too short: the target skips it
    /// let program = Program::from_fuzz_input(&[1; 64]).unwrap();
    /// assert!(program.threads.len() <= MAX_THREADS);
    /// check_program(&program).unwrap(); // what the pool_ops fuzz target does with it
    /// ```
    pub fn from_fuzz_input(bytes: &[u8]) -> Option<Program> {
        from_fuzz_input(bytes)
    }

    /// The program with every number clamped into the limits, empty threads
    /// removed (one is kept) and thread lists cut to the limits.
    ///
    /// ```
    /// use verified_pool::conformance::{Op, Program, MAX_CAPACITY};
    ///
    /// let wild = Program {
    ///     workers: 0,
    ///     capacity: Some(99),
    ///     warm_up: true,
    ///     threads: vec![vec![], vec![Op::Join]],
    /// };
    /// let program = wild.normalized();
    /// assert_eq!((program.workers, program.capacity), (1, Some(MAX_CAPACITY)));
    /// assert_eq!(program.threads, [vec![Op::Join]]); // the empty thread is gone
    /// ```
    pub fn normalized(&self) -> Program {
        let mut threads: Vec<Vec<Op>> = self
            .threads
            .iter()
            .filter(|ops| !ops.is_empty())
            .take(MAX_THREADS)
            .map(|ops| ops.iter().take(MAX_OPS_PER_THREAD).copied().collect())
            .collect();
        if threads.is_empty() {
            threads.push(Vec::new());
        }
        Program {
            workers: self.workers.clamp(1, MAX_WORKERS),
            capacity: self.capacity.map(|c| c.clamp(1, MAX_CAPACITY)),
            warm_up: self.warm_up,
            threads,
        }
    }
}

/// Decodes fuzzer input as `libfuzzer_sys::fuzz_target!` does for a typed
/// argument: too short for the type's size hint, or undecodable, is `None`.
pub(crate) fn from_fuzz_input<'a, T: Arbitrary<'a>>(bytes: &'a [u8]) -> Option<T> {
    if bytes.len() < T::size_hint(0).0 {
        return None;
    }
    T::arbitrary_take_rest(Unstructured::new(bytes)).ok()
}

/// Settings of a check run.
///
/// ```
/// use std::time::Duration;
/// use verified_pool::conformance::{check_program_on, CheckOptions, Op, Program};
/// use verified_pool::Pool;
///
/// assert_eq!(CheckOptions::default().hang_timeout, Duration::from_secs(10));
/// let quick = CheckOptions { hang_timeout: Duration::from_secs(2) };
/// check_program_on::<Pool>(&Program::sequential(1, None, vec![Op::WaitIdle]), &quick).unwrap();
/// ```
#[derive(Clone, Debug)]
pub struct CheckOptions {
    /// How long any wait may take before it counts as a hang (the whole
    /// run gets twice this). Programs take milliseconds; the default, 10 s,
    /// leaves room for a loaded machine.
    pub hang_timeout: Duration,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            hang_timeout: Duration::from_secs(10),
        }
    }
}

/// Runs `program` against a [`Pool`] and checks promises 1, 2, 3, 5, 6 and
/// 8 (and, for a one-thread program, every result against the [`Model`]).
///
/// ```
/// use verified_pool::conformance::{check_program, GateId, Op, Program, TaskKind};
///
/// let program = Program::sequential(
///     1,
///     Some(1),
///     vec![
///         Op::Submit(TaskKind::Block(GateId::A)),
///         Op::TrySubmit(TaskKind::Value),
///         Op::TrySubmit(TaskKind::Panic), // refused: the queue is full
///         Op::Stop { run: 1 },            // the queued task comes back; run it
///         Op::Join,                       // opens the gate, then joins
///     ],
/// );
/// check_program(&program).unwrap();
/// ```
pub fn check_program(program: &Program) -> Result<(), Violation> {
    check_program_on::<Pool>(program, &CheckOptions::default())
}

/// [`check_program`] for any [`PoolUnderTest`].
///
/// ```
/// use std::time::Duration;
/// use verified_pool::conformance::{check_program_on, CheckOptions, Op, Program, TaskKind};
/// use verified_pool::Pool;
///
/// // Any pool with a PoolUnderTest adapter goes here; Pool has one.
/// let program = Program::sequential(2, None, vec![
///     Op::Execute(TaskKind::Panic),
///     Op::Submit(TaskKind::Value),
///     Op::WaitIdle,
///     Op::Stats,
///     Op::Join,
/// ]);
/// let options = CheckOptions { hang_timeout: Duration::from_secs(5) };
/// check_program_on::<Pool>(&program, &options).unwrap();
/// ```
pub fn check_program_on<P: PoolUnderTest>(
    program: &Program,
    options: &CheckOptions,
) -> Result<(), Violation> {
    let program = program.normalized();
    let run = std::sync::Arc::new(Run::new(&program, options));
    let (tx, rx) = mpsc::channel();
    let conductor = {
        let run = std::sync::Arc::clone(&run);
        thread::Builder::new()
            .name("conformance-conductor".into())
            .spawn(move || {
                let _role = Role::Driver.enter();
                let outcome = catch_unwind(AssertUnwindSafe(|| conduct::<P>(&run)));
                let _ = tx.send(outcome);
            })
    };
    let outcome = match conductor {
        Err(e) => Err(Violation::new(
            Promise::Api,
            format!("could not start the conductor thread: {e}"),
        )),
        Ok(conductor) => match rx.recv_timeout(options.hang_timeout.saturating_mul(2)) {
            Ok(outcome) => {
                let _ = conductor.join();
                outcome.unwrap_or_else(|payload| {
                    Err(Violation::new(
                        Promise::Api,
                        format!("the run panicked: {}", payload_text(payload.as_ref())),
                    ))
                })
            }
            Err(_) => Err(Violation::new(
                Promise::NoLostWakeup,
                format!(
                    "hang: no result after {:?} with every gate open ({})",
                    options.hang_timeout.saturating_mul(2),
                    run.whereabouts()
                ),
            )),
        },
    };
    outcome.map_err(|mut v| {
        v.input = program.to_string();
        v.with_trace(run.trace())
    })
}

fn payload_text(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(p) = payload.downcast_ref::<DeliberatePanic>() {
        p.to_string()
    } else if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a non-string payload".into()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[derive(Clone, Debug)]
enum Status {
    Running(String),
    /// In an operation that may wait for a blocked task; `true` for a
    /// blocking submit (which a close must wake, gates or not).
    Waiting(String, bool),
    Done,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Verdict {
    Accepted,
    Refused(RejectReason),
}

/// What the threads of one run share.
struct Run {
    program: Program,
    timeout: Duration,
    lab: Lab,
    trace: Mutex<Vec<String>>,
    statuses: Mutex<Vec<Status>>,
    status_changed: Condvar,
    conductor: Mutex<String>,
    verdicts: Mutex<HashMap<TaskId, Verdict>>,
    /// A `shutdown`, `stop` or `join` has begun on some thread.
    closing: AtomicBool,
    /// A `stop` has begun on some thread.
    stopping: AtomicBool,
    /// Tasks handed back by every `stop()` so far.
    handed_back: AtomicU64,
}

impl Run {
    fn new(program: &Program, options: &CheckOptions) -> Self {
        Run {
            program: program.clone(),
            timeout: options.hang_timeout,
            lab: Lab::new(),
            trace: Mutex::new(Vec::new()),
            statuses: Mutex::new(vec![
                Status::Running("starting".into());
                program.threads.len()
            ]),
            status_changed: Condvar::new(),
            conductor: Mutex::new("starting".into()),
            verdicts: Mutex::new(HashMap::new()),
            closing: AtomicBool::new(false),
            stopping: AtomicBool::new(false),
            handed_back: AtomicU64::new(0),
        }
    }

    fn log(&self, line: String) {
        let mut trace = lock(&self.trace);
        if trace.len() >= TRACE_LINES * 2 {
            trace.drain(..TRACE_LINES);
        }
        trace.push(line);
    }

    fn trace(&self) -> Vec<String> {
        let trace = lock(&self.trace);
        let from = trace.len().saturating_sub(TRACE_LINES);
        trace[from..].to_vec()
    }

    fn phase(&self, what: &str) {
        *lock(&self.conductor) = what.to_string();
        self.log(format!("conductor: {what}"));
    }

    fn whereabouts(&self) -> String {
        let statuses = lock(&self.statuses);
        let mut parts: Vec<String> = statuses
            .iter()
            .enumerate()
            .map(|(i, s)| match s {
                Status::Running(op) => format!("t{i} running {op}"),
                Status::Waiting(op, _) => format!("t{i} waiting in {op}"),
                Status::Done => format!("t{i} done"),
            })
            .collect();
        parts.push(format!("conductor: {}", lock(&self.conductor)));
        parts.join("; ")
    }

    fn set_status(&self, idx: usize, status: Status) {
        lock(&self.statuses)[idx] = status;
        self.status_changed.notify_all();
    }

    /// Multi-thread runs: while the threads run, opens every gate whenever
    /// no thread can open one any more (every thread waits or is done).
    /// Except that a thread blocked in a submit after the pool was closed
    /// must be woken by the close alone (promise 4, bug B9): the gates stay
    /// shut for it for up to the hang timeout.
    fn open_gates_when_stuck(&self) -> Result<(), Violation> {
        let mut verdict = Ok(());
        let mut submit_stuck_since: Option<Instant> = None;
        let mut statuses = lock(&self.statuses);
        loop {
            if statuses.iter().all(|s| matches!(s, Status::Done)) {
                return verdict;
            }
            let mut wait = self.timeout;
            if statuses.iter().all(|s| !matches!(s, Status::Running(_))) {
                let blocked_submit = statuses
                    .iter()
                    .position(|s| matches!(s, Status::Waiting(_, true)));
                match blocked_submit {
                    Some(idx) if self.closing.load(SeqCst) && verdict.is_ok() => {
                        let since = *submit_stuck_since.get_or_insert_with(Instant::now);
                        let waited = since.elapsed();
                        if waited >= self.timeout {
                            let Status::Waiting(op, _) = &statuses[idx] else {
                                unreachable!()
                            };
                            verdict = Err(Violation::new(
                                Promise::NoLostWakeup,
                                format!(
                                    "t{idx} stayed blocked in {op} for {waited:?} after the pool was closed"
                                ),
                            ));
                            self.lab.open_all();
                        } else {
                            wait = self.timeout - waited;
                        }
                    }
                    _ => {
                        submit_stuck_since = None;
                        self.lab.open_all();
                    }
                }
            } else {
                submit_stuck_since = None;
            }
            statuses = self
                .status_changed
                .wait_timeout(statuses, wait)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    fn verdict(&self, id: TaskId, verdict: Verdict) {
        lock(&self.verdicts).insert(id, verdict);
    }
}

/// The conductor: builds the pool, runs the threads, joins, checks.
fn conduct<P: PoolUnderTest>(run: &Run) -> Result<(), Violation> {
    let program = &run.program;
    let lab = &run.lab;
    let workers = program.workers;
    run.phase("building the pool");
    let pool = match P::build(BuildSpec {
        workers,
        capacity: program.capacity,
        panic_sink: lab.panic_sink(),
    }) {
        Ok(pool) => pool,
        Err(e) => violation!(Api, "could not build a pool with valid settings: {e}"),
    };
    let mut model = Model::new(workers, program.capacity);
    if program.warm_up {
        run.phase("warming up every worker");
        warm_up(run, &pool)?;
        model.account_warm_up(workers as u64);
    }

    let single = program.threads.len() == 1;
    run.phase("running the threads");
    let outputs: Vec<DriverOutput<P>> = if single {
        let mut driver = Driver::new(0, run, &pool, Some(model));
        let result = driver.run_ops(&program.threads[0]);
        run.set_status(0, Status::Done);
        model = driver
            .model
            .take()
            .expect("the single driver keeps its model");
        vec![(result, driver.handles)]
    } else {
        thread::scope(|s| {
            let pool = &pool;
            let drivers: Vec<_> = program
                .threads
                .iter()
                .enumerate()
                .map(|(idx, ops)| {
                    thread::Builder::new()
                        .name(format!("conformance-t{idx}"))
                        .spawn_scoped(s, move || {
                            let _role = Role::Driver.enter();
                            let mut driver = Driver::new(idx, run, pool, None);
                            let result = catch_unwind(AssertUnwindSafe(|| driver.run_ops(ops)))
                                .unwrap_or_else(|payload| {
                                    Err(Violation::new(
                                        Promise::Api,
                                        format!(
                                            "t{idx} panicked: {}",
                                            payload_text(payload.as_ref())
                                        ),
                                    ))
                                });
                            run.set_status(idx, Status::Done);
                            (result, std::mem::take(&mut driver.handles))
                        })
                })
                .collect();
            for (idx, d) in drivers.iter().enumerate() {
                if d.is_err() {
                    run.set_status(idx, Status::Done);
                }
            }
            // The conductor watches the threads until they are all done.
            let janitor = run.open_gates_when_stuck();
            std::iter::once((janitor, Vec::new()))
                .chain(drivers.into_iter().map(|d| match d {
                    Ok(d) => d.join().expect("a driver catches its panics"),
                    Err(e) => (
                        Err(Violation::new(
                            Promise::Api,
                            format!("could not start a driver thread: {e}"),
                        )),
                        Vec::new(),
                    ),
                }))
                .collect()
        })
    };

    // Always join, so that a failed run leaves no thread behind.
    run.phase("opening every gate and joining");
    lab.open_all();
    let joined = catch_unwind(AssertUnwindSafe(|| pool.join()));
    lab.mark_joined();
    run.phase("checking");
    let mut first = None;
    let mut handles = Vec::new();
    for (result, kept) in outputs {
        if let Err(v) = result {
            first.get_or_insert(v);
        }
        handles.extend(kept);
    }
    if let Some(v) = first {
        return Err(v);
    }
    match joined {
        Err(payload) => violation!(
            ClosingTwiceIsHarmless,
            "the final join() panicked: {}",
            payload_text(payload.as_ref())
        ),
        Ok(Err(e)) => violation!(NoSelfDeadlock, "the final join() refused: {e}"),
        Ok(Ok(())) => {}
    }
    after_join(run, &pool, "the final join()")?;
    if single {
        model.apply(&Op::Join);
        lab.settle(model.progress(), run.timeout)
            .map_err(|e| Violation::new(Promise::NothingIsLost, format!("after join: {e}")))?;
        model
            .check_stats(&pool.stats(), true)
            .map_err(|e| Violation::new(Promise::CountsAddUp, format!("after join: {e}")))?;
    }
    final_checks(run, &pool, handles)
}

fn warm_up<P: PoolUnderTest>(run: &Run, pool: &P) -> Result<(), Violation> {
    let workers = run.program.workers;
    for _ in 0..workers {
        if pool
            .execute(run.lab.warm_up_task(workers, run.timeout))
            .is_err()
        {
            violation!(Api, "a new pool refused a warm-up task");
        }
    }
    if let Err(e) = run.lab.wait_warm(workers, run.timeout) {
        violation!(
            Api,
            "a pool of {workers} workers did not run {workers} tasks at once: {e}"
        );
    }
    if let Err(e) = pool.wait_idle() {
        violation!(
            NoSelfDeadlock,
            "wait_idle() from a non-worker thread refused: {e}"
        );
    }
    ensure!(
        run.lab.workers_seen() == workers,
        Api,
        "{} threads ran the {workers} warm-up tasks",
        run.lab.workers_seen()
    );
    Ok(())
}

/// Checks that must hold once some `join()` has returned (promise 5).
fn after_join<P: PoolUnderTest>(run: &Run, pool: &P, which: &str) -> Result<(), Violation> {
    let state = pool.state();
    ensure!(
        state == State::Terminated,
        JoinMeansGone,
        "after {which} returned, state() is {state:?}"
    );
    let stats = pool.stats();
    ensure!(
        stats.workers == 0 && stats.running == 0,
        JoinMeansGone,
        "after {which} returned, stats() = {stats:?}"
    );
    let live = run.lab.live_workers();
    ensure!(
        live == 0,
        JoinMeansGone,
        "after {which} returned, {live} worker thread(s) that ran tasks were still alive"
    );
    for (id, rec) in run.lab.records().iter().enumerate() {
        ensure!(
            !rec.ran_on_worker() || rec.finished,
            JoinMeansGone,
            "after {which} returned, task {id} was still running on a worker"
        );
    }
    Ok(())
}

/// What the final join leaves to check: every task's fate, every counter,
/// every handle.
fn final_checks<P: PoolUnderTest>(
    run: &Run,
    pool: &P,
    handles: Vec<Kept<P>>,
) -> Result<(), Violation> {
    let records = run.lab.records();
    let verdicts = lock(&run.verdicts).clone();
    let mut accepted = 0u64;
    let mut refused = 0u64;
    let mut handed_back = 0u64;
    let mut completed = 0u64;
    let mut panicked = 0u64;
    for (id, rec) in records.iter().enumerate() {
        let id = id as TaskId;
        ensure!(!rec.ran_twice, NothingIsLost, "task {id} ran twice");
        ensure!(
            rec.ran_as != Some(Role::Driver),
            Api,
            "task {id} ran on the thread that submitted it"
        );
        ensure!(
            !rec.started_after_join,
            JoinMeansGone,
            "task {id} started on a worker after join() returned"
        );
        match verdicts.get(&id) {
            Some(Verdict::Accepted) => {
                accepted += 1;
                match (rec.ran_as, rec.dropped_as) {
                    (Some(Role::Other), None) => {
                        ensure!(
                            rec.finished,
                            JoinMeansGone,
                            "task {id} was still running after the final join()"
                        );
                        if rec.kind == TaskKind::Panic {
                            panicked += 1;
                        } else {
                            completed += 1;
                        }
                    }
                    (Some(Role::RunningPending), None) | (None, Some(Role::DroppingPending)) => {
                        handed_back += 1;
                    }
                    (None, None) => violation!(
                        NothingIsLost,
                        "accepted task {id} neither ran nor came back from stop() (leaked)"
                    ),
                    (None, Some(role)) => violation!(
                        NothingIsLost,
                        "accepted task {id} was dropped unrun by the pool (on a {role:?} thread)"
                    ),
                    (ran, dropped) => violation!(
                        NothingIsLost,
                        "accepted task {id}: ran as {ran:?}, dropped as {dropped:?}"
                    ),
                }
                let should_reach_handler =
                    rec.kind == TaskKind::Panic && rec.via == Via::Execute && rec.ran_as.is_some();
                ensure!(
                    rec.handler_deliveries == u32::from(should_reach_handler),
                    PanicsAreContained,
                    "task {id} ({:?} via {:?}, ran as {:?}): its panic reached the handler {} time(s)",
                    rec.kind,
                    rec.via,
                    rec.ran_as,
                    rec.handler_deliveries
                );
            }
            Some(Verdict::Refused(_)) => {
                refused += 1;
                ensure!(
                    rec.ran_as.is_none() && rec.dropped_as == Some(Role::DroppingRefused),
                    RefusalReturnsOwnership,
                    "refused task {id}: ran as {:?}, dropped as {:?}",
                    rec.ran_as,
                    rec.dropped_as
                );
            }
            None => violation!(Api, "task {id} has no verdict (harness bug)"),
        }
    }
    let anomalies = run.lab.anomalies();
    ensure!(
        anomalies.is_empty(),
        PanicsAreContained,
        "{}",
        anomalies.join("; ")
    );
    let stop_total = run.handed_back.load(SeqCst);
    ensure!(
        handed_back == stop_total,
        NothingIsLost,
        "stop() handed back {stop_total} tasks in all, but {handed_back} accepted tasks were run or cancelled by a caller"
    );

    let warm = if run.program.warm_up {
        run.program.workers as u64
    } else {
        0
    };
    let s = pool.stats();
    let want = (
        warm + accepted,
        refused,
        handed_back,
        warm + completed,
        panicked,
    );
    let got = (
        s.submitted,
        s.rejected,
        s.cancelled,
        s.completed,
        s.panicked,
    );
    ensure!(
        got == want,
        CountsAddUp,
        "after the final join, stats() = {s:?}; the tasks say (submitted, rejected, cancelled, completed, panicked) = {want:?}"
    );
    ensure!(
        s.queued == 0 && s.running == 0 && s.workers == 0 && s.idle == 0,
        CountsAddUp,
        "after the final join, stats() = {s:?}"
    );
    ensure!(
        s.submitted == s.completed + s.panicked + s.cancelled,
        CountsAddUp,
        "after the final join, stats() = {s:?} does not add up"
    );

    for (id, handle) in handles {
        ensure!(
            handle.is_finished(),
            NothingIsLost,
            "the handle of task {id} was unresolved after the final join()"
        );
        let result = handle.join();
        check_handle(id, &records[id as usize], &result)?;
    }
    Ok(())
}

/// A handle's result must match what its task did.
fn check_handle(
    id: TaskId,
    rec: &Record,
    result: &Result<u64, TaskError>,
) -> Result<(), Violation> {
    let want = match (rec.ran_as, rec.dropped_as) {
        (Some(_), _) if rec.kind == TaskKind::Panic => HandleOutcome::Panicked,
        (Some(_), _) => HandleOutcome::Value(id),
        (None, Some(Role::DroppingPending)) => HandleOutcome::Cancelled,
        (ran, dropped) => violation!(
            NothingIsLost,
            "the handle of task {id} resolved to {result:?}, but the task neither ran nor was cancelled (ran as {ran:?}, dropped as {dropped:?})"
        ),
    };
    let ok = match (want, result) {
        (HandleOutcome::Value(v), Ok(got)) => v == *got,
        (HandleOutcome::Panicked, Err(TaskError::Panicked(p))) => {
            p.downcast_ref::<DeliberatePanic>() == Some(&DeliberatePanic { task: id })
        }
        (HandleOutcome::Cancelled, Err(TaskError::Cancelled)) => true,
        _ => false,
    };
    ensure!(
        ok,
        Api,
        "the handle of task {id} resolved to {result:?}; its task says {want:?}"
    );
    Ok(())
}

type Kept<P> = (TaskId, <P as PoolUnderTest>::Handle<u64>);

/// What a thread leaves behind: its verdict and the handles it kept.
type DriverOutput<P> = (Result<(), Violation>, Vec<Kept<P>>);

/// One thread of a program.
struct Driver<'a, P: PoolUnderTest> {
    idx: usize,
    run: &'a Run,
    pool: &'a P,
    /// Present for a one-thread program: every result is compared with it.
    model: Option<Model>,
    handles: Vec<Kept<P>>,
    accepted: Vec<TaskId>,
    /// This thread has closed the pool or seen it closed.
    saw_closed: bool,
    last_state: State,
    last_stats: Option<Stats>,
}

fn rank(state: State) -> u8 {
    match state {
        State::Running => 0,
        State::ShuttingDown => 1,
        State::Stopping => 2,
        State::Terminated => 3,
    }
}

impl<'a, P: PoolUnderTest> Driver<'a, P> {
    fn new(idx: usize, run: &'a Run, pool: &'a P, model: Option<Model>) -> Self {
        Driver {
            idx,
            run,
            pool,
            model,
            handles: Vec::new(),
            accepted: Vec::new(),
            saw_closed: false,
            last_state: State::Running,
            last_stats: None,
        }
    }

    fn run_ops(&mut self, ops: &[Op]) -> Result<(), Violation> {
        for (n, op) in ops.iter().enumerate() {
            self.run
                .set_status(self.idx, Status::Running(format!("#{n} {op:?}")));
            self.step(n, op)?;
        }
        Ok(())
    }

    fn log(&self, n: usize, op: &Op, outcome: impl fmt::Display) {
        self.run
            .log(format!("t{} #{n} {op:?} -> {outcome}", self.idx));
    }

    /// Marks this thread waiting (multi-thread runs), so that gates open
    /// once every thread waits.
    fn may_wait(&self, n: usize, op: &Op) {
        if self.model.is_none() {
            let submit = op.submission().is_some();
            self.run
                .set_status(self.idx, Status::Waiting(format!("#{n} {op:?}"), submit));
        }
    }

    fn done_waiting(&self, n: usize, op: &Op) {
        if self.model.is_none() {
            self.run
                .set_status(self.idx, Status::Running(format!("#{n} {op:?}")));
        }
    }

    fn step(&mut self, n: usize, op: &Op) -> Result<(), Violation> {
        let step = self.model.as_mut().map(|m| m.apply(op));
        if step.as_ref().map(|s| s.release) == Some(Release::BeforeOp) {
            self.run.lab.open_all();
        }
        let lab = &self.run.lab;
        match *op {
            Op::Submit(kind) | Op::TrySubmit(kind) | Op::Execute(kind) => {
                let via = op.submission().expect("a submitting op").1;
                let task = lab.task(kind, via);
                let id = task.id();
                let blocking = via != Via::TrySubmit && self.run.program.capacity.is_some();
                if blocking {
                    self.may_wait(n, op);
                }
                let outcome = catch_unwind(AssertUnwindSafe(|| match via {
                    Via::Submit => self
                        .pool
                        .submit(task.into_submit())
                        .map(Some)
                        .map_err(erase),
                    Via::TrySubmit => self
                        .pool
                        .try_submit(task.into_submit())
                        .map(Some)
                        .map_err(erase),
                    Via::Execute => self
                        .pool
                        .execute(task.into_execute())
                        .map(|()| None)
                        .map_err(erase),
                }));
                if blocking {
                    self.done_waiting(n, op);
                }
                let outcome = match outcome {
                    Ok(outcome) => outcome,
                    Err(p) => violation!(Api, "{op:?} panicked: {}", payload_text(p.as_ref())),
                };
                match outcome {
                    Ok(handle) => {
                        self.log(n, op, format_args!("accepted task {id}"));
                        self.accepted(id, via, handle, step.as_ref())?;
                    }
                    Err((task, reason)) => {
                        self.log(n, op, format_args!("refused task {id}: {reason:?}"));
                        self.refused(id, via, reason, task, step.as_ref())?;
                    }
                }
            }
            Op::Shutdown => {
                self.run.closing.store(true, SeqCst);
                if let Err(p) = catch_unwind(AssertUnwindSafe(|| self.pool.shutdown())) {
                    violation!(
                        ClosingTwiceIsHarmless,
                        "shutdown() panicked: {}",
                        payload_text(p.as_ref())
                    );
                }
                self.log(n, op, "done");
                self.saw_closed = true;
                let state = self.pool.state();
                ensure!(
                    state != State::Running,
                    Api,
                    "state() is Running after shutdown() returned"
                );
            }
            Op::Stop { run } => self.stop(n, op, usize::from(run), step.as_ref())?,
            Op::Join => {
                self.run.closing.store(true, SeqCst);
                self.may_wait(n, op);
                let result = catch_unwind(AssertUnwindSafe(|| self.pool.join()));
                self.done_waiting(n, op);
                match result {
                    Err(p) => violation!(
                        ClosingTwiceIsHarmless,
                        "join() panicked: {}",
                        payload_text(p.as_ref())
                    ),
                    Ok(Err(e)) => violation!(NoSelfDeadlock, "join() refused: {e}"),
                    Ok(Ok(())) => {}
                }
                self.run.lab.mark_joined();
                self.log(n, op, "Ok");
                self.saw_closed = true;
                after_join(self.run, self.pool, "a join()")?;
            }
            Op::WaitIdle => {
                self.may_wait(n, op);
                let result = catch_unwind(AssertUnwindSafe(|| self.pool.wait_idle()));
                self.done_waiting(n, op);
                match result {
                    Err(p) => violation!(Api, "wait_idle() panicked: {}", payload_text(p.as_ref())),
                    Ok(Err(e)) => violation!(NoSelfDeadlock, "wait_idle() refused: {e}"),
                    Ok(Ok(())) => {}
                }
                self.log(n, op, "Ok");
                self.after_wait_idle()?;
            }
            Op::Open(g) => {
                lab.open(g);
                self.log(n, op, "done");
            }
            Op::JoinHandle(i) => {
                if self.handles.is_empty() {
                    self.log(n, op, "no handle");
                    ensure!(
                        matches!(
                            step.as_ref().map(|s| &s.expect),
                            None | Some(Expect::NoHandle)
                        ),
                        Api,
                        "harness bug: the model has a handle the driver does not"
                    );
                } else {
                    let at = usize::from(i) % self.handles.len();
                    let (id, handle) = self.handles.remove(at);
                    self.may_wait(n, op);
                    let result = catch_unwind(AssertUnwindSafe(|| handle.join()));
                    self.done_waiting(n, op);
                    let result = match result {
                        Ok(result) => result,
                        Err(p) => violation!(
                            Api,
                            "joining the handle of task {id} panicked: {}",
                            payload_text(p.as_ref())
                        ),
                    };
                    self.log(n, op, format_args!("task {id}: {result:?}"));
                    check_handle(id, &lab.record(id), &result)?;
                    if let Some(step) = &step {
                        let Expect::HandleJoined(want_id, want) = step.expect else {
                            violation!(Api, "harness bug: model expected {:?}", step.expect);
                        };
                        ensure!(
                            want_id == id,
                            Api,
                            "harness bug: model joins task {want_id}, driver task {id}"
                        );
                        let got = match &result {
                            Ok(v) => HandleOutcome::Value(*v),
                            Err(TaskError::Panicked(_)) => HandleOutcome::Panicked,
                            Err(_) => HandleOutcome::Cancelled,
                        };
                        ensure!(
                            got == want,
                            NothingIsLost,
                            "the handle of task {id} gave {result:?}; the model says {want:?}"
                        );
                    }
                }
            }
            Op::DropHandle(i) => {
                if self.handles.is_empty() {
                    self.log(n, op, "no handle");
                } else {
                    let at = usize::from(i) % self.handles.len();
                    let (id, handle) = self.handles.remove(at);
                    drop(handle);
                    self.log(n, op, format_args!("dropped the handle of task {id}"));
                }
            }
            Op::State => {
                let state = self.pool.state();
                self.log(n, op, format_args!("{state:?}"));
                self.observe_state(state)?;
            }
            Op::Stats => {
                let stats = self.pool.stats();
                let state = self.pool.state();
                self.log(n, op, format_args!("{stats:?} (then {state:?})"));
                self.observe_stats(&stats, state)?;
                self.observe_state(state)?;
            }
        }
        if let Some(model) = &self.model {
            self.check_against_model(model, op)?;
        }
        Ok(())
    }

    fn accepted(
        &mut self,
        id: TaskId,
        via: Via,
        handle: Option<P::Handle<u64>>,
        step: Option<&Step>,
    ) -> Result<(), Violation> {
        self.run.verdict(id, Verdict::Accepted);
        self.accepted.push(id);
        if let Some(handle) = handle {
            self.handles.push((id, handle));
        }
        ensure!(
            !self.saw_closed,
            RefusalReturnsOwnership,
            "task {id} ({via:?}) was accepted after this thread closed the pool or saw it closed"
        );
        if let Some(step) = step {
            ensure!(
                step.expect == Expect::Accepted(id),
                Api,
                "task {id} ({via:?}) was accepted; the model expected {:?}",
                step.expect
            );
        }
        Ok(())
    }

    fn refused<F>(
        &mut self,
        id: TaskId,
        via: Via,
        reason: RejectReason,
        task: F,
        step: Option<&Step>,
    ) -> Result<(), Violation> {
        self.run.verdict(id, Verdict::Refused(reason));
        let rec = self.run.lab.record(id);
        ensure!(
            rec.ran_as.is_none() && rec.dropped_as.is_none(),
            RefusalReturnsOwnership,
            "refused task {id} came back, but it had run (as {:?}) or been dropped (as {:?})",
            rec.ran_as,
            rec.dropped_as
        );
        {
            let _role = Role::DroppingRefused.enter();
            drop(task);
        }
        let rec = self.run.lab.record(id);
        ensure!(
            rec.dropped_as == Some(Role::DroppingRefused),
            RefusalReturnsOwnership,
            "the closure handed back for refused task {id} was not the task"
        );
        match reason {
            RejectReason::Full => ensure!(
                via == Via::TrySubmit && self.run.program.capacity.is_some(),
                Api,
                "task {id} ({via:?}) was refused as Full"
            ),
            _ => ensure!(
                self.run.closing.load(SeqCst),
                Api,
                "task {id} ({via:?}) was refused ({reason:?}) before any shutdown, stop or join"
            ),
        }
        if let Some(step) = step {
            ensure!(
                step.expect == Expect::Refused(id, reason),
                Api,
                "task {id} ({via:?}) was refused ({reason:?}); the model expected {:?}",
                step.expect
            );
        }
        Ok(())
    }

    fn stop(
        &mut self,
        n: usize,
        op: &Op,
        run: usize,
        step: Option<&Step>,
    ) -> Result<(), Violation> {
        self.run.closing.store(true, SeqCst);
        self.run.stopping.store(true, SeqCst);
        let pending = match catch_unwind(AssertUnwindSafe(|| self.pool.stop())) {
            Ok(pending) => pending,
            Err(p) => violation!(
                ClosingTwiceIsHarmless,
                "stop() panicked: {}",
                payload_text(p.as_ref())
            ),
        };
        let count = pending.len();
        self.run.handed_back.fetch_add(count as u64, SeqCst);
        self.log(n, op, format_args!("{count} task(s) handed back"));
        self.saw_closed = true;
        if step.map(|s| s.release) == Some(Release::AfterDrain) {
            self.run.lab.open_all();
        }
        let running = run.min(count);
        if running > 0 {
            self.may_wait(n, op);
        }
        let mut escaped = None;
        for (i, task) in pending.into_iter().enumerate() {
            if i < running {
                let _role = Role::RunningPending.enter();
                if let Err(p) = catch_unwind(AssertUnwindSafe(|| task.run())) {
                    escaped.get_or_insert(payload_text(p.as_ref()));
                }
            } else {
                let _role = Role::DroppingPending.enter();
                drop(task);
            }
        }
        if running > 0 {
            self.done_waiting(n, op);
        }
        if let Some(text) = escaped {
            violation!(
                PanicsAreContained,
                "a task run from stop() let its panic unwind into the caller: {text}"
            );
        }
        let state = self.pool.state();
        ensure!(
            matches!(state, State::Stopping | State::Terminated),
            Api,
            "state() is {state:?} after stop() returned"
        );
        if let Some(step) = step {
            let Expect::Stopped { pending, run } = &step.expect else {
                violation!(Api, "harness bug: model expected {:?}", step.expect);
            };
            ensure!(
                count == pending.len(),
                NothingIsLost,
                "stop() handed back {count} task(s); the model says {pending:?} were queued"
            );
            for (i, &id) in pending.iter().enumerate() {
                let rec = self.run.lab.record(id);
                let fine = if i < *run {
                    rec.ran_as == Some(Role::RunningPending)
                } else {
                    rec.dropped_as == Some(Role::DroppingPending)
                };
                ensure!(
                    fine,
                    NothingIsLost,
                    "stop() did not hand back the queued tasks {pending:?} in queue order (task {id}: ran as {:?}, dropped as {:?})",
                    rec.ran_as,
                    rec.dropped_as
                );
            }
        }
        Ok(())
    }

    fn after_wait_idle(&mut self) -> Result<(), Violation> {
        let stopping = self.run.stopping.load(SeqCst);
        for &id in &self.accepted {
            let rec = self.run.lab.record(id);
            if rec.ran_on_worker() {
                ensure!(
                    rec.finished,
                    Api,
                    "wait_idle() returned while task {id} was still running"
                );
                let handler = rec.kind == TaskKind::Panic && rec.via == Via::Execute;
                ensure!(
                    !handler || rec.handler_deliveries == 1,
                    PanicsAreContained,
                    "wait_idle() returned before the panic handler got task {id}'s panic"
                );
            } else if rec.ran_as.is_none() && rec.dropped_as.is_none() {
                ensure!(
                    stopping,
                    Api,
                    "wait_idle() returned while task {id} was still queued"
                );
            }
        }
        for (id, handle) in &self.handles {
            let rec = self.run.lab.record(*id);
            ensure!(
                !rec.ran_on_worker() || handle.is_finished(),
                NothingIsLost,
                "wait_idle() returned before the handle of task {id} was resolved"
            );
        }
        Ok(())
    }

    fn observe_state(&mut self, state: State) -> Result<(), Violation> {
        ensure!(
            rank(state) >= rank(self.last_state),
            Api,
            "state() went from {:?} back to {state:?}",
            self.last_state
        );
        ensure!(
            !(self.saw_closed && state == State::Running),
            Api,
            "state() is Running after the pool was closed"
        );
        self.last_state = state;
        if state != State::Running {
            self.saw_closed = true;
        }
        Ok(())
    }

    fn observe_stats(&mut self, s: &Stats, state_after: State) -> Result<(), Violation> {
        let workers = self.run.program.workers;
        ensure!(
            s.running <= s.workers && s.idle == s.workers - s.running && s.workers <= workers,
            CountsAddUp,
            "stats() = {s:?} with {workers} workers"
        );
        if state_after == State::Running {
            ensure!(
                s.workers == workers,
                PanicsAreContained,
                "a running pool of {workers} workers has {} live workers",
                s.workers
            );
        }
        if let Some(last) = &self.last_stats {
            let before = (
                last.submitted,
                last.completed,
                last.panicked,
                last.cancelled,
                last.rejected,
            );
            let now = (
                s.submitted,
                s.completed,
                s.panicked,
                s.cancelled,
                s.rejected,
            );
            ensure!(
                before.0 <= now.0
                    && before.1 <= now.1
                    && before.2 <= now.2
                    && before.3 <= now.3
                    && before.4 <= now.4,
                CountsAddUp,
                "a counter decreased: {last:?} then {s:?}"
            );
        }
        self.last_stats = Some(*s);
        Ok(())
    }

    /// One-thread runs: once the pool settles, everything observable must
    /// match the model.
    fn check_against_model(&self, model: &Model, op: &Op) -> Result<(), Violation> {
        let lab = &self.run.lab;
        let want = model.progress();
        if let Err(e) = lab.settle(want, self.run.timeout) {
            let got = lab.progress();
            if got.worker_started == want.worker_started
                && got.worker_finished == want.worker_finished
            {
                violation!(PanicsAreContained, "after {op:?}: {e}");
            } else if got.worker_started > want.worker_started {
                violation!(Api, "after {op:?}: {e}");
            }
            violation!(NoLostWakeup, "after {op:?}: {e}");
        }
        let state = self.pool.state();
        if let Err(e) = model.check_state(state) {
            violation!(Api, "after {op:?}: {e}");
        }
        let quiescent = matches!(op, Op::WaitIdle | Op::Join);
        let stats = self.pool.stats();
        if let Err(e) = model.check_stats(&stats, quiescent) {
            violation!(CountsAddUp, "after {op:?}: {e}");
        }
        for (id, handle) in &self.handles {
            let decided = model.handle_outcome(*id).is_some();
            let finished = handle.is_finished();
            ensure!(
                decided || !finished,
                Api,
                "after {op:?}: the handle of task {id} is finished, but the model has the task {:?}",
                model.tasks()[*id as usize].fate
            );
            ensure!(
                !quiescent || !decided || finished,
                NothingIsLost,
                "after {op:?}: the handle of task {id} is unresolved, but its task is done"
            );
        }
        Ok(())
    }
}

/// Turns a refusal into its closure and reason, with the closure's type
/// erased (it is only dropped).
fn erase<F: Send + 'static>(r: Refused<F>) -> (Box<dyn Send>, RejectReason) {
    (Box::new(r.task), r.reason)
}

impl fmt::Display for Program {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "workers {}, capacity {:?}, warm-up {}",
            self.workers, self.capacity, self.warm_up
        )?;
        for (i, ops) in self.threads.iter().enumerate() {
            writeln!(f, "t{i}: {ops:?}")?;
        }
        Ok(())
    }
}
