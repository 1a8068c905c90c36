#![cfg(not(any(loom, shuttle)))]
//! The conformance kit checks itself: fixed programs pass on the real
//! [`Pool`], and broken adapters around it (mutants reproducing bugs of the
//! contract's catalogue) are caught, each by the promise it breaks.

use std::sync::mpsc;
use std::time::Duration;

use verified_pool::conformance::{
    check_program, check_program_on, silence_deliberate_panics, BuildSpec, CheckOptions, GateId,
    Op, PanicSink, PoolUnderTest, Program, Promise, Refused, TaskKind,
};
use verified_pool::{Pool, RejectReason, State, Stats, TaskHandle, WaitError};

const BUG_FORGETS_ON_STOP: u8 = 1;
const BUG_COUNTS_REJECTIONS_TWICE: u8 = 2;
const BUG_SAYS_FULL_AFTER_SHUTDOWN: u8 = 3;
const BUG_LOSES_PANIC_PAYLOADS: u8 = 4;
const BUG_SECOND_STOP_PANICS: u8 = 5;
const BUG_JOIN_HANGS: u8 = 6;
const BUG_SUBMIT_IGNORES_SHUTDOWN: u8 = 7;

/// `Pool` with one bug, chosen by `BUG`.
struct Mutant<const BUG: u8> {
    pool: Pool,
    capacity: usize,
    stopped: std::sync::atomic::AtomicBool,
    /// For `BUG_JOIN_HANGS`: never sent to.
    never: std::sync::Mutex<mpsc::Receiver<()>>,
    _keep: mpsc::Sender<()>,
}

impl<const BUG: u8> PoolUnderTest for Mutant<BUG> {
    type Handle<T: Send + 'static> = TaskHandle<T>;
    type Pending = verified_pool::PendingTask;

    fn build(mut spec: BuildSpec) -> Result<Self, String> {
        if BUG == BUG_LOSES_PANIC_PAYLOADS {
            spec.panic_sink = PanicSink::discard();
        }
        let (keep, never) = mpsc::channel();
        let capacity = spec.capacity.unwrap_or(usize::MAX);
        Ok(Mutant {
            capacity,
            pool: <Pool as PoolUnderTest>::build(spec)?,
            stopped: false.into(),
            never: never.into(),
            _keep: keep,
        })
    }

    fn submit<F, T>(&self, f: F) -> Result<TaskHandle<T>, Refused<F>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        if BUG != BUG_SUBMIT_IGNORES_SHUTDOWN {
            return PoolUnderTest::submit(&self.pool, f);
        }
        // B9: waits for room only, never for the pool closing.
        while self.pool.stats().queued >= self.capacity {
            std::thread::yield_now();
        }
        // Only this program's one submitting thread fills the queue, so the
        // room is still there.
        PoolUnderTest::try_submit(&self.pool, f)
    }

    fn try_submit<F, T>(&self, f: F) -> Result<TaskHandle<T>, Refused<F>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        PoolUnderTest::try_submit(&self.pool, f).map_err(|mut refused| {
            if BUG == BUG_SAYS_FULL_AFTER_SHUTDOWN {
                refused.reason = RejectReason::Full;
            }
            refused
        })
    }

    fn execute<F>(&self, f: F) -> Result<(), Refused<F>>
    where
        F: FnOnce() + Send + 'static,
    {
        PoolUnderTest::execute(&self.pool, f)
    }

    fn shutdown(&self) {
        self.pool.shutdown();
    }

    fn stop(&self) -> Vec<Self::Pending> {
        if BUG == BUG_SECOND_STOP_PANICS
            && self.stopped.swap(true, std::sync::atomic::Ordering::SeqCst)
        {
            panic!("mutant: stop() on a stopped pool");
        }
        let mut pending = self.pool.stop();
        if BUG == BUG_FORGETS_ON_STOP {
            // Dropped by the pool instead of handed back.
            pending.pop();
        }
        pending
    }

    fn join(&self) -> Result<(), WaitError> {
        if BUG == BUG_JOIN_HANGS {
            let _ = self.never.lock().unwrap().recv();
        }
        self.pool.join()
    }

    fn wait_idle(&self) -> Result<(), WaitError> {
        self.pool.wait_idle()
    }

    fn state(&self) -> State {
        self.pool.state()
    }

    fn stats(&self) -> Stats {
        let mut stats = self.pool.stats();
        if BUG == BUG_COUNTS_REJECTIONS_TWICE {
            stats.rejected *= 2;
        }
        stats
    }
}

fn options() -> CheckOptions {
    CheckOptions {
        hang_timeout: Duration::from_secs(2),
    }
}

fn caught<const BUG: u8>(program: &Program) -> Promise {
    silence_deliberate_panics();
    match check_program_on::<Mutant<BUG>>(program, &options()) {
        Ok(()) => panic!("mutant {BUG} passed:\n{program}"),
        Err(v) => {
            println!("mutant {BUG}: {v}");
            v.promise
        }
    }
}

/// One worker held by a blocked task, two tasks queued behind it.
fn busy_then(ops: &[Op]) -> Vec<Op> {
    let mut all = vec![
        Op::Submit(TaskKind::Block(GateId::A)),
        Op::TrySubmit(TaskKind::Value),
        Op::Execute(TaskKind::Panic),
    ];
    all.extend_from_slice(ops);
    all
}

#[test]
fn fixed_programs_pass_on_the_pool() {
    silence_deliberate_panics();
    let sequential = [
        Program::sequential(1, Some(2), busy_then(&[Op::Stop { run: 1 }, Op::Join])),
        Program::sequential(
            2,
            None,
            busy_then(&[Op::Open(GateId::A), Op::WaitIdle, Op::Stats]),
        ),
        Program::sequential(
            1,
            Some(1),
            busy_then(&[Op::TrySubmit(TaskKind::Value), Op::Join]),
        ),
        Program::sequential(
            3,
            None,
            busy_then(&[Op::JoinHandle(0), Op::Shutdown, Op::Stop { run: 9 }]),
        ),
    ];
    for program in &sequential {
        if let Err(v) = check_program(program) {
            panic!("{v}");
        }
    }
    let concurrent = Program {
        workers: 2,
        capacity: Some(1),
        warm_up: true,
        threads: vec![
            busy_then(&[Op::Submit(TaskKind::Value), Op::Submit(TaskKind::Value)]),
            vec![Op::Stats, Op::Shutdown, Op::Stop { run: 1 }, Op::Join],
            vec![Op::Join, Op::State, Op::Join],
        ],
    };
    for _ in 0..20 {
        if let Err(v) = check_program(&concurrent) {
            panic!("{v}");
        }
    }
}

#[test]
fn a_task_dropped_by_stop_is_caught() {
    let program = Program::sequential(1, None, busy_then(&[Op::Stop { run: 0 }]));
    assert_eq!(
        caught::<BUG_FORGETS_ON_STOP>(&program),
        Promise::NothingIsLost
    );
}

#[test]
fn a_miscounted_rejection_is_caught() {
    let program = Program::sequential(
        1,
        None,
        vec![Op::Shutdown, Op::Execute(TaskKind::Value), Op::Stats],
    );
    assert_eq!(
        caught::<BUG_COUNTS_REJECTIONS_TWICE>(&program),
        Promise::CountsAddUp
    );
}

#[test]
fn a_wrong_refusal_reason_is_caught() {
    let program = Program::sequential(1, None, vec![Op::Shutdown, Op::TrySubmit(TaskKind::Value)]);
    assert_eq!(
        caught::<BUG_SAYS_FULL_AFTER_SHUTDOWN>(&program),
        Promise::Api
    );
}

#[test]
fn a_lost_panic_payload_is_caught() {
    let program = Program::sequential(2, None, vec![Op::Execute(TaskKind::Panic)]);
    assert_eq!(
        caught::<BUG_LOSES_PANIC_PAYLOADS>(&program),
        Promise::PanicsAreContained
    );
}

#[test]
fn a_double_close_panic_is_caught() {
    // Two threads, so the second stop runs on a thread of its own.
    let program = Program {
        workers: 1,
        capacity: None,
        warm_up: false,
        threads: vec![vec![Op::Stop { run: 0 }], vec![Op::Stop { run: 0 }]],
    };
    assert_eq!(
        caught::<BUG_SECOND_STOP_PANICS>(&program),
        Promise::ClosingTwiceIsHarmless
    );
}

#[test]
fn a_hang_is_caught_by_the_watchdog() {
    // The stuck conductor thread is left behind, blocked forever.
    let program = Program::sequential(1, None, vec![Op::Submit(TaskKind::Value), Op::Join]);
    assert_eq!(caught::<BUG_JOIN_HANGS>(&program), Promise::NoLostWakeup);
}

#[test]
fn a_submitter_left_blocked_by_shutdown_is_caught() {
    // t0 fills the queue behind a blocked worker and blocks in a third
    // submit; t1 shuts the pool down. Whether t1 closes before or after
    // t0 blocks is up to the scheduler: run until the second order comes.
    let program = Program {
        workers: 1,
        capacity: Some(1),
        warm_up: false,
        threads: vec![
            vec![
                Op::Submit(TaskKind::Block(GateId::A)),
                Op::Submit(TaskKind::Value),
                Op::Submit(TaskKind::Value),
            ],
            // Reading stats a while makes "t0 blocks first" the likely order.
            [Op::Stats; 31].into_iter().chain([Op::Shutdown]).collect(),
        ],
    };
    silence_deliberate_panics();
    // The other order wins most runs (a worker takes a while to wake up
    // for the first task), and a run in that order takes a millisecond.
    for _ in 0..500 {
        match check_program_on::<Mutant<BUG_SUBMIT_IGNORES_SHUTDOWN>>(&program, &options()) {
            Ok(()) => continue,
            Err(v) => {
                println!("{v}");
                assert_eq!(v.promise, Promise::NoLostWakeup);
                return;
            }
        }
    }
    panic!("the blocked submitter was never caught in 500 runs");
}
