#![cfg(not(any(loom, shuttle)))]
//! What the real-thread tests share: a watchdog that turns a hang into a
//! failure, a latch to hold workers busy, probes that make "run" and
//! "dropped" observable, thread-exit notices, and a few Linux `/proc`
//! readers (thread state and names) that degrade to no-ops elsewhere.
//!
//! No helper synchronises by sleeping: everything waits for a condition.

#![allow(dead_code)] // each test file uses a different subset

use std::any::Any;
use std::cell::RefCell;
use std::fs;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Barrier, Condvar, Mutex, Once};
use std::thread;
use std::time::{Duration, Instant};

use verified_pool::{Pool, State};

/// The default bound on one test. Generous: the machine is shared.
pub const LIMIT: Duration = Duration::from_secs(30);

/// Every deliberate panic in these tests carries this text (or one of the
/// payload types below); the panic hook keeps those quiet.
pub const EXPECTED: &str = "deliberate test panic";

/// A custom panic payload, to check payloads arrive intact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Boom {
    pub code: u32,
    pub note: String,
}

/// A panic payload whose own `Drop` panics.
pub struct BadDrop;

impl Drop for BadDrop {
    fn drop(&mut self) {
        if !thread::panicking() {
            panic::panic_any(format!("{EXPECTED}: BadDrop::drop"));
        }
    }
}

fn is_expected(payload: &(dyn Any + Send)) -> bool {
    let text = payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str));
    text.is_some_and(|t| t.contains(EXPECTED)) || payload.is::<Boom>() || payload.is::<BadDrop>()
}

/// Installs (once per test binary) a panic hook that stays silent for the
/// deliberate panics and prints every other one as usual.
pub fn quiet_expected_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let default = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if !is_expected(info.payload()) {
                default(info);
            }
        }));
    });
}

/// Runs `body` on its own thread and fails the test if it has not finished
/// within `limit`: a hang or deadlock becomes a failure instead of a stalled
/// run. A panic in `body` fails the test with the body's own message.
pub fn within<T, F>(limit: Duration, body: F) -> T
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    quiet_expected_panics();
    let (tx, rx) = mpsc::channel();
    let runner = thread::Builder::new()
        .name("test-body".into())
        .spawn(move || {
            let outcome = panic::catch_unwind(AssertUnwindSafe(body));
            let _ = tx.send(outcome);
        })
        .expect("spawn the test body");
    match rx.recv_timeout(limit) {
        Ok(Ok(value)) => {
            runner.join().expect("test body thread");
            value
        }
        Ok(Err(payload)) => {
            let _ = runner.join();
            panic::resume_unwind(payload)
        }
        Err(RecvTimeoutError::Timeout) => panic!(
            "watchdog: the test did not finish within {limit:?} (a hang or deadlock); \
             its thread is left behind"
        ),
        Err(RecvTimeoutError::Disconnected) => {
            panic!("watchdog: the test body ended without reporting")
        }
    }
}

/// [`within`] with the default [`LIMIT`].
pub fn bounded<T, F>(body: F) -> T
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    within(LIMIT, body)
}

/// A one-shot gate: `wait` blocks until someone calls `open`.
#[derive(Clone, Default)]
pub struct Latch(Arc<(Mutex<bool>, Condvar)>);

impl Latch {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn open(&self) {
        let (open, cv) = &*self.0;
        *open.lock().unwrap() = true;
        cv.notify_all();
    }

    pub fn wait(&self) {
        let (open, cv) = &*self.0;
        let mut guard = open.lock().unwrap();
        while !*guard {
            guard = cv.wait(guard).unwrap();
        }
    }

    pub fn is_open(&self) -> bool {
        *self.0 .0.lock().unwrap()
    }

    /// A guard that opens the latch when dropped, so a failing assertion
    /// does not leave workers blocked (and the pool's drop hanging).
    pub fn guard(&self) -> Release {
        Release(self.clone())
    }
}

/// Opens its latch on drop (or earlier, with [`Release::open`]).
pub struct Release(Latch);

impl Release {
    pub fn open(&self) {
        self.0.open();
    }

    pub fn latch(&self) -> Latch {
        self.0.clone()
    }
}

impl Drop for Release {
    fn drop(&mut self) {
        self.0.open();
    }
}

/// Makes `n` workers of `pool` busy: returns once `n` `execute` tasks are
/// running, each blocked until the returned guard opens (or is dropped).
/// Declare the guard after the pool so that it drops first.
///
/// `n` must not exceed the pool's worker count.
pub fn occupy(pool: &Pool, n: usize) -> Release {
    let latch = Latch::new();
    let (tx, rx) = mpsc::channel();
    for _ in 0..n {
        let tx = tx.clone();
        let latch = latch.clone();
        pool.execute(move || {
            tx.send(()).unwrap();
            latch.wait();
        })
        .expect("the pool accepts the blocker");
    }
    for _ in 0..n {
        rx.recv().expect("a blocker started");
    }
    latch.guard()
}

/// Counts how often a value was dropped.
pub struct Token(pub Arc<AtomicUsize>);

impl Drop for Token {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// How often one closure ran and how often it was dropped.
#[derive(Clone, Default)]
pub struct Probe {
    pub runs: Arc<AtomicUsize>,
    pub drops: Arc<AtomicUsize>,
}

impl Probe {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn runs(&self) -> usize {
        self.runs.load(Ordering::SeqCst)
    }

    pub fn drops(&self) -> usize {
        self.drops.load(Ordering::SeqCst)
    }

    /// A closure that counts its run, returns `value`, and carries a
    /// [`Token`] so that dropping it (run or not) is counted too.
    pub fn task<T: Send + 'static>(&self, value: T) -> impl FnOnce() -> T + Send + 'static {
        let runs = Arc::clone(&self.runs);
        let token = Token(Arc::clone(&self.drops));
        move || {
            let _token = token;
            runs.fetch_add(1, Ordering::SeqCst);
            value
        }
    }

    /// As [`task`](Self::task), for `execute`.
    pub fn unit(&self) -> impl FnOnce() + Send + 'static {
        let f = self.task(());
        move || f()
    }
}

/// A set of counters, one per task id.
pub fn counters(n: usize) -> Arc<Vec<AtomicUsize>> {
    Arc::new((0..n).map(|_| AtomicUsize::new(0)).collect())
}

pub fn load_all(counts: &[AtomicUsize]) -> Vec<usize> {
    counts.iter().map(|c| c.load(Ordering::SeqCst)).collect()
}

thread_local! {
    static AT_EXIT: RefCell<Vec<ExitNotice>> = const { RefCell::new(Vec::new()) };
}

struct ExitNotice(Option<Box<dyn FnOnce()>>);

impl Drop for ExitNotice {
    fn drop(&mut self) {
        if let Some(f) = self.0.take() {
            f();
        }
    }
}

/// Runs `f` when the calling thread exits (from a thread-local destructor:
/// the last user code a thread runs, after its main function returned).
/// A thread is only joined once this has run.
pub fn on_thread_exit(f: impl FnOnce() + 'static) {
    AT_EXIT.with(|list| list.borrow_mut().push(ExitNotice(Some(Box::new(f)))));
}

/// The calling thread's kernel thread id, where `/proc` exists.
pub fn current_tid() -> Option<u32> {
    let stat = fs::read_to_string("/proc/thread-self/stat").ok()?;
    stat.split_whitespace().next()?.parse().ok()
}

fn thread_state(tid: u32) -> Option<char> {
    let stat = fs::read_to_string(format!("/proc/self/task/{tid}/stat")).ok()?;
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.trim_start().chars().next()
}

/// Waits until thread `tid` is asleep in the kernel (state `S`: e.g.
/// blocked on a condition variable). Returns at once where `/proc` is
/// unavailable (the caller's check then only gets weaker). Bounded by the
/// test's watchdog.
pub fn wait_until_asleep(tid: Option<u32>) {
    let Some(tid) = tid else { return };
    loop {
        match thread_state(tid) {
            Some('S') | None => return,
            Some(_) => thread::yield_now(),
        }
    }
}

/// Names (as the kernel keeps them, at most 15 bytes) of this process's
/// live threads that start with `prefix`.
pub fn threads_named(prefix: &str) -> Vec<String> {
    let Ok(tasks) = fs::read_dir("/proc/self/task") else {
        return Vec::new();
    };
    tasks
        .filter_map(|task| fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .map(|name| name.trim_end().to_string())
        .filter(|name| name.starts_with(prefix))
        .collect()
}

/// Threads named `prefix*` that are still listed after `patience`. A
/// joined thread can stay listed for a few microseconds while the kernel
/// reaps it; a leaked one stays forever.
pub fn threads_still_named(prefix: &str, patience: Duration) -> Vec<String> {
    let deadline = Instant::now() + patience;
    loop {
        let left = threads_named(prefix);
        if left.is_empty() || Instant::now() >= deadline {
            return left;
        }
        thread::yield_now();
    }
}

/// Fails unless, within 2 s, no thread of this process is named with
/// `prefix` (a pool that was joined or dropped must leave none behind).
#[track_caller]
pub fn assert_no_thread_named(prefix: &str) {
    assert_eq!(
        threads_still_named(prefix, Duration::from_secs(2)),
        Vec::<String>::new()
    );
}

/// Waits until `pool.state()` is no longer `from` and returns the new state.
pub fn wait_state_leaves(pool: &Pool, from: State) -> State {
    loop {
        let now = pool.state();
        if now != from {
            return now;
        }
        thread::yield_now();
    }
}

/// The state's place in the lifecycle; a transition never lowers it.
pub fn rank(state: State) -> u8 {
    match state {
        State::Running => 0,
        State::ShuttingDown => 1,
        State::Stopping => 2,
        State::Terminated => 3,
    }
}

/// N tasks that can only finish together: passes only if N workers are
/// alive and take work.
pub fn assert_all_workers_serve(pool: &Pool, n: usize) {
    let all = Arc::new(Barrier::new(n + 1));
    for _ in 0..n {
        let all = all.clone();
        pool.execute(move || {
            all.wait();
        })
        .unwrap();
    }
    all.wait();
}
