//! Checks another pool against the contract with the conformance kit.
//!
//! The other pool is the classic naive one, written below in a few lines:
//! an `Arc<Mutex<mpsc::Receiver<Job>>>` shared by N worker threads. A thin
//! adapter implements the kit's `PoolUnderTest` for it, filling in what the
//! naive pool lacks (handles, stop, state, stats, a queue bound) the naive
//! way. The same programs then run against it and against
//! `verified_pool::Pool`, and a table says, for each pool and each promise,
//! whether it held.
//!
//! ```sh
//! cargo run --release --example check_another_pool --features conformance
//! ```

// The loom and shuttle builds have no conformance kit: there the example
// does nothing.
#[cfg(any(loom, shuttle))]
fn main() {}

#[cfg(not(any(loom, shuttle)))]
fn main() {
    checker::main();
}

/// The naive pool, as it is usually first written. Its known defects are
/// the point: no `catch_unwind` (a panicking task kills its worker), no
/// stop, and a task executed after shutdown is silently dropped.
#[cfg(not(any(loom, shuttle)))]
mod naive {
    use std::sync::{mpsc, Arc, Mutex};
    use std::thread;

    type Job = Box<dyn FnOnce() + Send + 'static>;

    pub struct NaivePool {
        sender: Mutex<Option<mpsc::Sender<Job>>>,
        threads: Mutex<Vec<thread::JoinHandle<()>>>,
    }

    impl NaivePool {
        pub fn new(workers: usize) -> NaivePool {
            let (sender, receiver) = mpsc::channel::<Job>();
            let receiver = Arc::new(Mutex::new(receiver));
            let threads = (0..workers)
                .map(|_| {
                    let receiver = Arc::clone(&receiver);
                    thread::spawn(move || loop {
                        // The guard is dropped at the end of this statement,
                        // so the job runs without the lock.
                        let job = receiver.lock().unwrap().recv();
                        match job {
                            Ok(job) => job(), // a panic here ends the thread
                            Err(_) => return, // the sender is gone
                        }
                    })
                })
                .collect();
            NaivePool {
                sender: Mutex::new(Some(sender)),
                threads: Mutex::new(threads),
            }
        }

        /// Queues `f`; after shutdown, `f` is silently dropped.
        pub fn execute(&self, f: impl FnOnce() + Send + 'static) {
            if let Some(sender) = self.sender.lock().unwrap().as_ref() {
                let _ = sender.send(Box::new(f));
            }
        }

        /// Drops the sender: the workers exit once the channel is drained.
        pub fn shutdown(&self) {
            self.sender.lock().unwrap().take();
        }

        /// Shuts down, then joins every worker thread.
        pub fn join(&self) {
            self.shutdown();
            for thread in self.threads.lock().unwrap().drain(..) {
                let _ = thread.join(); // Err for a worker a panic killed
            }
        }
    }
}

#[cfg(not(any(loom, shuttle)))]
mod checker {
    use std::panic::{catch_unwind, AssertUnwindSafe};
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
    use std::sync::{mpsc, Arc, Mutex};
    use std::thread;
    use std::time::{Duration, Instant};

    use arbitrary::{Arbitrary, Unstructured};
    use verified_pool::conformance::{
        check_program_on, silence_deliberate_panics, BuildSpec, CheckOptions, GateId,
        HandleUnderTest, Op, PanicSink, PendingUnderTest, PoolUnderTest, Program, Promise, Refused,
        TaskKind, Violation,
    };
    use verified_pool::{Pool, RejectReason, State, Stats, TaskError, WaitError};

    use crate::naive::NaivePool;

    // ---- The adapter -----------------------------------------------------

    /// `NaivePool` seen through `PoolUnderTest`. Everything the naive pool
    /// lacks is added here, naively.
    pub struct Naive {
        pool: NaivePool,
        workers: usize,
        capacity: Option<usize>,
        closed: AtomicBool,
        stopped: AtomicBool,
        joined: AtomicBool,
        counts: Arc<Counts>,
    }

    #[derive(Default)]
    struct Counts {
        submitted: AtomicU64,
        started: AtomicU64,
        completed: AtomicU64,
        rejected: AtomicU64,
    }

    /// A handle: the task sends its value on a one-shot channel.
    pub struct NaiveHandle<T> {
        value: mpsc::Receiver<T>,
        received: Mutex<Option<T>>,
    }

    /// The naive pool hands nothing back from `stop()`: never made.
    pub enum NoPending {}

    impl PendingUnderTest for NoPending {
        fn run(self) {
            match self {}
        }
    }

    impl<T: Send + 'static> HandleUnderTest<T> for NaiveHandle<T> {
        fn join(self) -> Result<T, TaskError> {
            if let Some(value) = self.received.into_inner().unwrap() {
                return Ok(value);
            }
            // The sender is dropped unsent when the task panicked (the
            // payload is lost with the worker) or was dropped unrun.
            self.value.recv().map_err(|_| TaskError::Cancelled)
        }

        fn is_finished(&self) -> bool {
            let mut received = self.received.lock().unwrap();
            match self.value.try_recv() {
                Ok(value) => {
                    *received = Some(value);
                    true
                }
                Err(mpsc::TryRecvError::Disconnected) => true,
                Err(mpsc::TryRecvError::Empty) => received.is_some(),
            }
        }
    }

    impl Naive {
        fn full(&self) -> bool {
            let c = &self.counts;
            let queued = c.submitted.load(SeqCst) - c.started.load(SeqCst);
            self.capacity.is_some_and(|cap| queued >= cap as u64)
        }

        /// The bound, emulated: wait for room (and for nothing else).
        fn wait_for_room(&self) {
            while self.full() {
                thread::sleep(Duration::from_millis(1));
            }
        }

        /// Hands `f` to the naive pool, counting it in and out.
        fn send(&self, f: impl FnOnce() + Send + 'static) {
            let counts = Arc::clone(&self.counts);
            counts.submitted.fetch_add(1, SeqCst);
            self.pool.execute(move || {
                counts.started.fetch_add(1, SeqCst);
                f(); // a panic skips the next line
                counts.completed.fetch_add(1, SeqCst);
            });
        }
    }

    impl PoolUnderTest for Naive {
        type Handle<T: Send + 'static> = NaiveHandle<T>;
        type Pending = NoPending;

        fn build(spec: BuildSpec) -> Result<Self, String> {
            // No panic handler: spec.panic_sink is dropped unused.
            Ok(Naive {
                pool: NaivePool::new(spec.workers),
                workers: spec.workers,
                capacity: spec.capacity,
                closed: AtomicBool::new(false),
                stopped: AtomicBool::new(false),
                joined: AtomicBool::new(false),
                counts: Arc::default(),
            })
        }

        fn submit<F, T>(&self, f: F) -> Result<NaiveHandle<T>, Refused<F>>
        where
            F: FnOnce() -> T + Send + 'static,
            T: Send + 'static,
        {
            self.wait_for_room();
            let (tx, rx) = mpsc::channel();
            self.send(move || {
                let _ = tx.send(f());
            });
            Ok(NaiveHandle {
                value: rx,
                received: Mutex::new(None),
            })
        }

        fn try_submit<F, T>(&self, f: F) -> Result<NaiveHandle<T>, Refused<F>>
        where
            F: FnOnce() -> T + Send + 'static,
            T: Send + 'static,
        {
            if self.full() {
                self.counts.rejected.fetch_add(1, SeqCst);
                let reason = RejectReason::Full;
                return Err(Refused { task: f, reason });
            }
            self.submit(f)
        }

        fn execute<F>(&self, f: F) -> Result<(), Refused<F>>
        where
            F: FnOnce() + Send + 'static,
        {
            self.wait_for_room();
            self.send(f);
            Ok(())
        }

        fn shutdown(&self) {
            self.closed.store(true, SeqCst);
            self.pool.shutdown();
        }

        fn stop(&self) -> Vec<NoPending> {
            // The queued jobs cannot be taken back out of the channel.
            self.stopped.store(true, SeqCst);
            self.shutdown();
            Vec::new()
        }

        fn join(&self) -> Result<(), WaitError> {
            self.closed.store(true, SeqCst);
            self.pool.join();
            self.joined.store(true, SeqCst);
            Ok(())
        }

        fn wait_idle(&self) -> Result<(), WaitError> {
            // Waits for an empty queue only, not for running tasks.
            let c = &self.counts;
            while c.submitted.load(SeqCst) > c.started.load(SeqCst) {
                thread::sleep(Duration::from_millis(1));
            }
            Ok(())
        }

        fn state(&self) -> State {
            if self.joined.load(SeqCst) {
                State::Terminated
            } else if self.stopped.load(SeqCst) {
                State::Stopping
            } else if self.closed.load(SeqCst) {
                State::ShuttingDown
            } else {
                State::Running
            }
        }

        fn stats(&self) -> Stats {
            let c = &self.counts;
            let (submitted, started) = (c.submitted.load(SeqCst), c.started.load(SeqCst));
            let completed = c.completed.load(SeqCst);
            let mut stats = Stats::default();
            // Counted naively: the configured number until joined.
            stats.workers = if self.joined.load(SeqCst) {
                0
            } else {
                self.workers
            };
            stats.queued = (submitted - started) as usize;
            stats.running = (started - completed) as usize;
            stats.idle = stats.workers.saturating_sub(stats.running);
            stats.submitted = submitted;
            stats.completed = completed;
            stats.rejected = c.rejected.load(SeqCst);
            stats
        }
    }

    // ---- The run ---------------------------------------------------------

    /// How long any wait may take before the kit calls it a hang.
    const HANG_TIMEOUT: Duration = Duration::from_secs(1);
    /// Generated programs per pool, and the time they may take.
    const GENERATED: u64 = 300;
    const BUDGET: Duration = Duration::from_secs(20);

    const PROMISES: [Promise; 10] = [
        Promise::NothingIsLost,
        Promise::RefusalReturnsOwnership,
        Promise::ClosingTwiceIsHarmless,
        Promise::NoLostWakeup,
        Promise::JoinMeansGone,
        Promise::PanicsAreContained,
        Promise::NoSelfDeadlock,
        Promise::CountsAddUp,
        Promise::BadInputGetsAClearError,
        Promise::Api,
    ];

    /// One worker held by a blocked task, two tasks queued behind it.
    fn busy_then(ops: &[Op]) -> Vec<Op> {
        let mut all = vec![
            Op::Submit(TaskKind::Block(GateId::A)),
            Op::TrySubmit(TaskKind::Value),
            Op::Execute(TaskKind::Value),
        ];
        all.extend_from_slice(ops);
        all
    }

    /// Short programs, each aimed at one promise; they run first.
    fn fixed_programs() -> Vec<Program> {
        use Op::*;
        use TaskKind::*;
        let seq = Program::sequential;
        vec![
            seq(1, None, busy_then(&[Stop { run: 1 }, Join])),
            seq(1, None, vec![Shutdown, Submit(Value), Execute(Value)]),
            seq(
                1,
                Some(1),
                busy_then(&[TrySubmit(Value), Open(GateId::A), Join]),
            ),
            seq(2, None, vec![Execute(Panic), Submit(Panic), JoinHandle(0)]),
            seq(
                1,
                None,
                vec![Execute(Panic), Submit(Value), WaitIdle, Stats],
            ),
            seq(2, None, busy_then(&[Open(GateId::A), WaitIdle, Stats])),
            Program {
                workers: 2,
                capacity: None,
                warm_up: true,
                threads: vec![
                    vec![Submit(Value), Stop { run: 0 }, Join, Shutdown],
                    vec![Join, Stop { run: 0 }, Join],
                    vec![Shutdown, Shutdown, State],
                ],
            },
            Program {
                workers: 1,
                capacity: Some(1),
                warm_up: false,
                threads: vec![
                    vec![Submit(Block(GateId::A)), Submit(Value), Submit(Value)],
                    [Stats; 31].into_iter().chain([Shutdown]).collect(),
                ],
            },
        ]
    }

    /// A program of 1 to 3 threads of 1 to 12 operations each, drawn with
    /// `arbitrary` from the bytes of a fixed-seed PRNG (splitmix64), so that
    /// every run checks the same programs.
    fn generated_program(seed: u64) -> Option<Program> {
        let mut state = seed;
        let bytes: Vec<u8> = (0..128)
            .flat_map(|_| {
                state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
                let mut z = state;
                z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
                (z ^ (z >> 31)).to_le_bytes()
            })
            .collect();
        let u = &mut Unstructured::new(&bytes);
        let mut program = Program {
            workers: u.int_in_range(1..=4).ok()?,
            capacity: [None, Some(1), Some(2), Some(4)][u.choose_index(4).ok()?],
            warm_up: u.arbitrary().ok()?,
            threads: Vec::new(),
        };
        for _ in 0..u.int_in_range(1..=3).ok()? {
            let len = u.int_in_range(1..=12).ok()?;
            let ops = (0..len).map(|_| Op::arbitrary(u)).collect::<Result<_, _>>();
            program.threads.push(ops.ok()?);
        }
        Some(program)
    }

    fn ops(program: &Program) -> usize {
        program.threads.iter().map(Vec::len).sum()
    }

    /// What one pool did: how many programs ran, and the shortest failing
    /// run for each promise that broke.
    struct Report {
        name: &'static str,
        programs: usize,
        clean: usize,
        hangs: usize,
        elapsed: Duration,
        broken: Vec<(Promise, usize, Violation)>,
    }

    impl Report {
        fn record(&mut self, size: usize, v: Violation) {
            if v.detail.starts_with("hang") || v.detail.contains("stayed blocked") {
                self.hangs += 1;
            }
            match self.broken.iter_mut().find(|(p, _, _)| *p == v.promise) {
                Some(entry) if entry.1 <= size => {}
                Some(entry) => *entry = (v.promise, size, v),
                None => self.broken.push((v.promise, size, v)),
            }
        }

        fn verdict(&self, promise: Promise) -> String {
            if self.broken.iter().any(|(p, _, _)| *p == promise) {
                return "BROKEN".into();
            }
            match promise {
                Promise::NoSelfDeadlock | Promise::BadInputGetsAClearError => {
                    "holds (probe)".into()
                }
                _ => format!("holds ({} programs)", self.programs),
            }
        }
    }

    fn check_pool<P: PoolUnderTest>(name: &'static str) -> Report {
        let started = Instant::now();
        let options = CheckOptions {
            hang_timeout: HANG_TIMEOUT,
        };
        let mut report = Report {
            name,
            programs: 0,
            clean: 0,
            hangs: 0,
            elapsed: Duration::ZERO,
            broken: Vec::new(),
        };
        let generated = (0..GENERATED).filter_map(generated_program);
        for program in fixed_programs().into_iter().chain(generated) {
            if started.elapsed() > BUDGET {
                break;
            }
            report.programs += 1;
            match check_program_on::<P>(&program, &options) {
                Ok(()) => report.clean += 1,
                Err(v) => report.record(ops(&program), v),
            }
        }
        // The programs never wait from inside a worker nor build with bad
        // settings: promises 7 and 9 get a probe of their own.
        for probe in [self_wait_probe::<P>(false), self_wait_probe::<P>(true)] {
            if let Err(v) = probe {
                report.record(1, v);
            }
        }
        if let Err(v) = bad_input_probe::<P>() {
            report.record(1, v);
        }
        report.elapsed = started.elapsed();
        report
    }

    fn probe_violation(promise: Promise, input: &str, detail: String) -> Violation {
        let mut v = Violation::new(promise, detail);
        v.input = format!("probe (not a kit program): {input}");
        v
    }

    /// Promise 7: a task calls `wait_idle()` (or `join()`) on its own pool.
    fn self_wait_probe<P: PoolUnderTest>(join: bool) -> Result<(), Violation> {
        let what = if join { "join()" } else { "wait_idle()" };
        let input = format!("1 worker; a submitted task calls {what} on its own pool");
        let spec = BuildSpec {
            workers: 1,
            capacity: None,
            panic_sink: PanicSink::discard(),
        };
        let pool =
            Arc::new(P::build(spec).map_err(|e| {
                probe_violation(Promise::Api, &input, format!("build failed: {e}"))
            })?);
        let inner = Arc::clone(&pool);
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let task = move || {
                if join {
                    inner.join()
                } else {
                    inner.wait_idle()
                }
            };
            let outcome = match catch_unwind(AssertUnwindSafe(|| pool.submit(task))) {
                Err(_) => Err("submit panicked".to_string()),
                Ok(Err(refused)) => Err(format!("the task was refused ({:?})", refused.reason)),
                Ok(Ok(handle)) => match handle.join() {
                    Ok(Err(WaitError::InsideWorker)) => Ok(()),
                    Ok(result) => Err(format!("{what} from the worker returned {result:?}")),
                    Err(e) => Err(format!("the task ended with {e:?}, not with a result")),
                },
            };
            let _ = tx.send(outcome);
            let _ = catch_unwind(AssertUnwindSafe(|| pool.join()));
        });
        let detail = match rx.recv_timeout(HANG_TIMEOUT * 2) {
            Ok(Ok(())) => return Ok(()),
            Ok(Err(detail)) => detail,
            Err(_) => format!(
                "{what} from the worker did not return in {:?}",
                HANG_TIMEOUT * 2
            ),
        };
        Err(probe_violation(Promise::NoSelfDeadlock, &input, detail))
    }

    /// Promise 9: zero workers or a zero queue bound must be an error.
    fn bad_input_probe<P: PoolUnderTest>() -> Result<(), Violation> {
        for (workers, capacity) in [(0, None), (1, Some(0))] {
            let input = format!("build with workers {workers}, capacity {capacity:?}");
            let spec = BuildSpec {
                workers,
                capacity,
                panic_sink: PanicSink::discard(),
            };
            let detail = match catch_unwind(|| P::build(spec)) {
                Ok(Err(_)) => continue,
                Err(_) => "build panicked".to_string(),
                Ok(Ok(pool)) => {
                    let _ = catch_unwind(AssertUnwindSafe(|| pool.join()));
                    "build gave a pool, not an error".to_string()
                }
            };
            let promise = Promise::BadInputGetsAClearError;
            return Err(probe_violation(promise, &input, detail));
        }
        Ok(())
    }

    pub fn main() {
        // A panic on a pool's thread is a finding the kit reports itself
        // (or, in the naive pool, the way a worker dies): print only the
        // example's own.
        let print = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if thread::current().name() == Some("main") {
                print(info);
            }
        }));
        silence_deliberate_panics();
        let reports = [
            check_pool::<Pool>("verified_pool::Pool"),
            check_pool::<Naive>("naive mpsc pool"),
        ];
        for r in &reports {
            println!(
                "{}: {} programs in {:.1} s ({} clean), {} hang(s), plus 3 probes",
                r.name,
                r.programs,
                r.elapsed.as_secs_f64(),
                r.clean,
                r.hangs
            );
        }
        println!();
        println!(
            "{:<42} {:<24} {}",
            "promise", reports[0].name, reports[1].name
        );
        for promise in PROMISES {
            let row = match promise.number() {
                Some(n) => format!("{n} {}", promise.title()),
                None => "- other documented results (API)".into(),
            };
            println!(
                "{row:<42} {:<24} {}",
                reports[0].verdict(promise),
                reports[1].verdict(promise)
            );
        }
        for r in &reports {
            for promise in PROMISES {
                if let Some((_, _, v)) = r.broken.iter().find(|(p, _, _)| *p == promise) {
                    println!("\n=== {}: shortest failing run for {promise}", r.name);
                    print!("{v}");
                }
            }
        }
    }
}
