//! The facade: the only module that names `std::sync`, `std::thread`,
//! `loom`, `shuttle` or `crossbeam_utils`.
//!
//! Under `--cfg loom` every primitive comes from loom (under `--cfg
//! shuttle`, from shuttle), so the model checker sees each lock, wait,
//! notify and spawn the pool makes; otherwise they are std's, and the thin
//! wrappers below compile away.
//!
//! Two deliberate differences from std: `lock()` and `wait()` return the
//! guard directly (a poisoned std lock is recovered, since loom does not
//! model poisoning and no user code ever runs under a pool lock), and
//! [`spawn`] reports a thread that cannot be started as an `io::Error`
//! instead of a panic.
//!
//! Under the model checkers the facade also records, for `crate::trace`,
//! every lock, wait, wakeup and notify, and provides that module's view of
//! the running model thread and its log (a plain std cell). trace.rs names
//! none of std's, loom's or shuttle's threads or locks itself: the rule
//! "only this module names them" holds for the trace too.

use std::io;
use std::sync::{PoisonError, TryLockError};

use crate::trace;

#[cfg(all(loom, shuttle))]
compile_error!("--cfg loom and --cfg shuttle are exclusive: pick one model checker");

#[cfg(loom)]
use loom::sync as base;
#[cfg(loom)]
pub(crate) use loom::{
    sync::{
        atomic::{AtomicU64, AtomicUsize, Ordering},
        Arc,
    },
    thread, thread_local,
};

#[cfg(shuttle)]
use shuttle::sync as base;
#[cfg(shuttle)]
pub(crate) use shuttle::{
    sync::{
        atomic::{AtomicU64, AtomicUsize, Ordering},
        Arc,
    },
    thread, thread_local,
};

#[cfg(not(any(loom, shuttle)))]
use std::sync as base;
#[cfg(not(any(loom, shuttle)))]
pub(crate) use std::{
    sync::{
        atomic::{AtomicU64, AtomicUsize, Ordering},
        Arc,
    },
    thread, thread_local,
};

/// The `Arc` of the one allocation a `submit` task shares with its handle,
/// which the queue and the handle see as two different trait objects. It
/// is std's in every build: loom's `Arc` cannot be coerced to a trait
/// object (its `from_std` takes only a unique `Arc`, so two views of one
/// allocation are impossible). The checkers then do not track that
/// allocation's reference counts; every decision about the task is taken
/// under the facade `Mutex` inside it, which they do see.
pub(crate) use std::sync::Arc as DynArc;

pub(crate) type MutexGuard<'a, T> = base::MutexGuard<'a, T>;
pub(crate) type JoinHandle = thread::JoinHandle<()>;

/// A hot counter kept on its own cache line in std builds (the model
/// checkers' atomics do not care about layout).
#[cfg(not(any(loom, shuttle)))]
pub(crate) type Padded<T> = crossbeam_utils::CachePadded<T>;
#[cfg(any(loom, shuttle))]
pub(crate) type Padded<T> = T;

#[cfg(not(any(loom, shuttle)))]
pub(crate) fn padded<T>(t: T) -> Padded<T> {
    crossbeam_utils::CachePadded::new(t)
}
#[cfg(any(loom, shuttle))]
pub(crate) fn padded<T>(t: T) -> Padded<T> {
    t
}

/// A short wait before parking, for a receiver that found nothing: a few
/// rounds of spinning (polling a [`Hint`], not the lock), then a few
/// `yield_now`s, then it reports completion.
///
/// A thread whose previous [`Backoff::LONG_PARKS_TO_SKIP`] waits each ended
/// in a long park (over [`Backoff::LONG_PARK`]) skips all of it and parks
/// at once: it is in an idle phase, and it was most likely woken on its
/// waker's CPU. Linux (EEVDF) pushes back the deadline of a thread that
/// calls `sched_yield`, so a worker that yielded before parking is later
/// woken *behind* the thread that woke it instead of preempting it: in the
/// idle ping-pong benchmark, 64-215 us per round trip instead of ~4 us
/// (every peer whose backoff yields pays the same;
/// `benches/src/bin/yield_then_park.rs` shows it without a pool). And the
/// woken worker shares a CPU with its waker (in 99% of idle round trips,
/// `perf` sched tracepoints say): every moment it spins after its task,
/// before parking again, is a moment the waker cannot run. A thread that
/// found work without parking, or after a short park, is in a busy phase,
/// where spinning catches the next task without a wake-up and the yields
/// hand the CPU to the producers (one producer and two workers on two
/// cores) and keep ping-pong's tail short. One long park is not enough to
/// call a phase idle: in a busy pool a spare worker parks for as long as
/// the others keep up, and if that one park made it skip its backoff, it
/// would park at once after each task it then took, and each of those tasks
/// would wait for a wake-up (ping-pong p99 of 10-22 us instead of ~1 in a
/// third of the rounds, docs/PERFORMANCE.md). In an idle phase every wait
/// ends in a long park, so the cost is one more backoff, in the second wait
/// of each idle phase.
///
/// Under a model checker it remembers nothing and is complete at once, so
/// that most models explore the lock/wait protocol alone; a model that
/// turns the spin path on ([`spin_in_models`]) gets one round of it, the
/// unlock-yield-relock-recheck that the std build makes.
#[cfg(not(any(loom, shuttle)))]
pub(crate) struct Backoff {
    step: std::cell::Cell<u32>,
    rounds: u32,
    parked_at: std::cell::Cell<Option<std::time::Instant>>,
}

#[cfg(not(any(loom, shuttle)))]
std::thread_local! {
    /// How many of this thread's waits in a row ended in a long park.
    static LONG_PARKS: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

#[cfg(not(any(loom, shuttle)))]
impl Backoff {
    /// Spin rounds of 1, 2, 4, 8, 16 spin hints: about 0.5 us here. Before
    /// a long park stopped the spinning too, each round more cost the idle
    /// wake-up about 0.5 us; more rounds buy nothing in the busy
    /// benchmarks, and one round less costs ping-pong 50%
    /// (docs/PERFORMANCE.md).
    const SPIN_ROUNDS: u32 = 5;
    const YIELD_ROUNDS: u32 = 4;
    /// Several wake-ups' worth (one costs 2.5-4 us here). Measured at 0,
    /// 20 and 50 us: at 0 (any park) the ping-pong p99 at 4 workers was
    /// 14 us instead of 0.9, while the idle wake-up was the same at all
    /// three (docs/PERFORMANCE.md).
    const LONG_PARK: std::time::Duration = std::time::Duration::from_micros(20);
    /// Two: one is what a spare worker in a busy pool has (see above).
    const LONG_PARKS_TO_SKIP: u32 = 2;

    pub(crate) fn new() -> Self {
        let rounds = if LONG_PARKS.with(std::cell::Cell::get) >= Self::LONG_PARKS_TO_SKIP {
            0
        } else {
            Self::SPIN_ROUNDS + Self::YIELD_ROUNDS
        };
        Backoff {
            step: std::cell::Cell::new(0),
            rounds,
            parked_at: std::cell::Cell::new(None),
        }
    }

    pub(crate) fn snooze(&self) {
        let step = self.step.get();
        if step < Self::SPIN_ROUNDS {
            for _ in 0..1u32 << step {
                std::hint::spin_loop();
            }
        } else {
            thread::yield_now();
        }
        self.step.set(step + 1);
    }

    pub(crate) fn is_completed(&self) -> bool {
        self.step.get() >= self.rounds
    }

    /// Called just before parking.
    pub(crate) fn parking(&self) {
        self.parked_at.set(Some(std::time::Instant::now()));
    }

    /// Called when this wait got its item: counts it if it ended in a long
    /// park, and otherwise starts the count again, for this thread's next
    /// wait.
    pub(crate) fn ended(&self) {
        let long = self
            .parked_at
            .get()
            .is_some_and(|at| at.elapsed() >= Self::LONG_PARK);
        LONG_PARKS.with(|n| n.set(if long { n.get().saturating_add(1) } else { 0 }));
    }
}

#[cfg(any(loom, shuttle))]
std::thread_local! {
    /// Whether the models running on this OS thread take the spin path
    /// (one round: unlock, yield, relock). A plain std cell: it is the
    /// model's configuration, not state the checker should explore, and
    /// loom and shuttle run every model thread on the OS thread that
    /// started the model.
    static MODEL_SPINS: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Under a model checker: complete at once, unless the model asked for the
/// spin path with [`spin_in_models`]; then one round, a `yield_now` the
/// checker sees as a scheduling point.
#[cfg(any(loom, shuttle))]
pub(crate) struct Backoff {
    spun: std::cell::Cell<bool>,
}

#[cfg(any(loom, shuttle))]
impl Backoff {
    pub(crate) fn new() -> Self {
        Backoff {
            spun: std::cell::Cell::new(!MODEL_SPINS.with(std::cell::Cell::get)),
        }
    }

    pub(crate) fn snooze(&self) {
        thread::yield_now();
        self.spun.set(true);
    }

    pub(crate) fn is_completed(&self) -> bool {
        self.spun.get()
    }

    pub(crate) fn parking(&self) {}

    pub(crate) fn ended(&self) {}
}

/// Makes the receivers of the models run on this thread take the spin path
/// (see [`Backoff`]); off by default, so that models which do not need it
/// explore no more than the lock/wait protocol.
#[cfg(any(loom, shuttle))]
pub(crate) fn spin_in_models(on: bool) {
    MODEL_SPINS.with(|spins| spins.set(on));
}

thread_local! {
    /// The inbox shard this thread sends to (see `crate::channel`);
    /// `usize::MAX` until its first send.
    // loom's `thread_local!` takes no `const` initialiser.
    #[allow(clippy::missing_const_for_thread_local)]
    static SEND_SHARD: std::cell::Cell<usize> = std::cell::Cell::new(usize::MAX);
}

/// The shard of a channel's inbox this thread sends to, a number that the
/// channel reduces to its shard count. In std builds threads are numbered
/// in the order of their first send, so two threads that start sending one
/// after the other use different shards. Under a model checker every
/// thread uses shard 0 unless its model says otherwise
/// ([`send_on_shard`]): a process-wide counter would number the threads of
/// each execution differently, and the checker needs executions that
/// repeat.
pub(crate) fn send_shard() -> usize {
    SEND_SHARD.with(|shard| {
        if shard.get() == usize::MAX {
            shard.set(first_send_shard());
        }
        shard.get()
    })
}

#[cfg(not(any(loom, shuttle)))]
fn first_send_shard() -> usize {
    // Not a facade atomic: it only spreads threads over shards, and no
    // decision about an item depends on it.
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

#[cfg(any(loom, shuttle))]
fn first_send_shard() -> usize {
    0
}

#[cfg(any(loom, shuttle, test))]
/// Makes the thread that calls it send to inbox shard `shard` (for the
/// models, and for tests that need to know which inbox an item is in).
pub(crate) fn send_on_shard(shard: usize) {
    SEND_SHARD.with(|s| s.set(shard));
}

/// How many inboxes an unbounded channel gets: `wanted` in std builds.
/// Under a model checker, one unless the model asked for more
/// ([`shards_in_models`]): every inbox is one more lock to take in each
/// refill, close and snapshot, so models that do not check the inboxes'
/// own protocol explore no more than the rest of it.
#[cfg(not(any(loom, shuttle)))]
pub(crate) fn inbox_shards(wanted: usize) -> usize {
    wanted
}

#[cfg(any(loom, shuttle))]
std::thread_local! {
    static MODEL_SHARDS: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

#[cfg(any(loom, shuttle))]
pub(crate) fn inbox_shards(wanted: usize) -> usize {
    if MODEL_SHARDS.with(std::cell::Cell::get) {
        wanted
    } else {
        1
    }
}

/// Makes the unbounded channels made on this thread under a model checker
/// have all their inboxes (see [`inbox_shards`]); off by default.
#[cfg(any(loom, shuttle))]
pub(crate) fn shards_in_models(on: bool) {
    MODEL_SHARDS.with(|shards| shards.set(on));
}

/// Whether a channel may have something for a receiver (an item, or a
/// closed gate), readable without the channel's locks. Only a receiver
/// spinning in [`Backoff`] reads it, so that the spinning does not take the
/// locks; the channel sets it under its inbox lock and decides everything
/// again under its locks, so a stale read only costs one more spin or one
/// more lock. Under a model checker it is a unit struct that
/// always says "look" (a model that spins re-checks under the lock after
/// its one round): it adds no atomic for the checker to explore.
#[cfg(not(any(loom, shuttle)))]
pub(crate) struct Hint(Padded<std::sync::atomic::AtomicBool>);

#[cfg(not(any(loom, shuttle)))]
impl Hint {
    pub(crate) fn new() -> Self {
        Hint(padded(std::sync::atomic::AtomicBool::new(false)))
    }

    pub(crate) fn set(&self, worth_a_look: bool) {
        // Skip the store when nothing changes: the spinners keep the line
        // shared instead of every send taking it from them.
        if self.0.load(Ordering::Relaxed) != worth_a_look {
            self.0.store(worth_a_look, Ordering::Relaxed);
        }
    }

    pub(crate) fn worth_a_look(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

#[cfg(any(loom, shuttle))]
pub(crate) struct Hint;

#[cfg(any(loom, shuttle))]
impl Hint {
    pub(crate) fn new() -> Self {
        Hint
    }

    pub(crate) fn set(&self, _worth_a_look: bool) {}

    pub(crate) fn worth_a_look(&self) -> bool {
        true
    }
}

pub(crate) struct Mutex<T> {
    inner: base::Mutex<T>,
    /// What the trace calls it (model-checker builds only).
    #[cfg(any(loom, shuttle))]
    name: &'static str,
}

impl<T> Mutex<T> {
    #[cfg_attr(any(loom, shuttle), track_caller)]
    pub(crate) fn new(value: T) -> Self {
        Mutex {
            inner: base::Mutex::new(value),
            #[cfg(any(loom, shuttle))]
            name: trace::named_by(std::panic::Location::caller()),
        }
    }

    /// A mutex the trace calls `name` (a no-op name in normal builds).
    pub(crate) fn named(name: &'static str, value: T) -> Self {
        #[cfg(not(any(loom, shuttle)))]
        let _ = name;
        Mutex {
            inner: base::Mutex::new(value),
            #[cfg(any(loom, shuttle))]
            name,
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
        trace::event!(Lock(self.name));
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// As [`lock`](Self::lock), but while another thread holds the lock it
    /// backs off between attempts ([`Backoff`]: spins, then yields) before
    /// it blocks. A thread waiting on the lock word takes its cache line
    /// from the holder, which must fetch it back to release the lock: two
    /// receivers taking short tasks from the outbox then pass that line
    /// back and forth on every take. One that backs off for a while leaves
    /// the holder to take several in a row (docs/PERFORMANCE.md). Under a
    /// model checker [`Backoff`] is complete at once, so this is `lock`,
    /// unless the model turns the spin path on.
    pub(crate) fn lock_backing_off(&self) -> MutexGuard<'_, T> {
        let backoff = Backoff::new();
        while !backoff.is_completed() {
            if let Some(guard) = self.try_lock() {
                return guard;
            }
            backoff.snooze();
        }
        self.lock()
    }

    /// The lock if nobody holds it, without waiting.
    pub(crate) fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
        let guard = match self.inner.try_lock() {
            Ok(guard) => guard,
            Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
            Err(TryLockError::WouldBlock) => return None,
        };
        trace::event!(Lock(self.name));
        Some(guard)
    }
}

pub(crate) struct Condvar {
    inner: base::Condvar,
    /// What the trace calls it (model-checker builds only).
    #[cfg(any(loom, shuttle))]
    name: &'static str,
}

impl Condvar {
    #[cfg_attr(any(loom, shuttle), track_caller)]
    pub(crate) fn new() -> Self {
        Condvar {
            inner: base::Condvar::new(),
            #[cfg(any(loom, shuttle))]
            name: trace::named_by(std::panic::Location::caller()),
        }
    }

    /// A condvar the trace calls `name` (a no-op name in normal builds).
    pub(crate) fn named(name: &'static str) -> Self {
        #[cfg(not(any(loom, shuttle)))]
        let _ = name;
        Condvar {
            inner: base::Condvar::new(),
            #[cfg(any(loom, shuttle))]
            name,
        }
    }

    pub(crate) fn wait<'a, T>(&self, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
        trace::event!(Wait(self.name));
        let guard = self.inner.wait(guard).unwrap_or_else(PoisonError::into_inner);
        trace::event!(Woke(self.name));
        guard
    }

    pub(crate) fn notify_one(&self) {
        trace::event!(NotifyOne(self.name));
        self.inner.notify_one();
    }

    pub(crate) fn notify_all(&self) {
        trace::event!(NotifyAll(self.name));
        self.inner.notify_all();
    }
}

// The trace's names exist only under the model checkers: in normal builds
// the wrappers are exactly std's primitives.
#[cfg(not(any(loom, shuttle)))]
static_assertions::assert_eq_size!(Mutex<u64>, base::Mutex<u64>);
#[cfg(not(any(loom, shuttle)))]
static_assertions::assert_eq_size!(Condvar, base::Condvar);

/// Starts a named thread. std's `Builder::spawn` panics on a name with an
/// interior NUL; that and any other refusal comes back as an `io::Error`.
pub(crate) fn spawn<F>(name: String, stack_size: Option<usize>, f: F) -> io::Result<JoinHandle>
where
    F: FnOnce() + Send + 'static,
{
    if name.contains('\0') {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "thread name contains a NUL byte",
        ));
    }
    let mut builder = thread::Builder::new().name(name);
    if let Some(bytes) = stack_size {
        builder = builder.stack_size(bytes);
    }
    builder.spawn(f)
}

/// What `Builder` uses when no worker count is given.
pub(crate) fn available_parallelism() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

// What src/trace.rs needs under the model checkers: the running model
// thread, and a log that the checker cannot see.

#[cfg(any(loom, shuttle))]
std::thread_local! {
    /// The pool-event log of the execution running on this OS thread. A
    /// std cell, not the checker's: recording adds no operation for the
    /// checker to schedule. loom and shuttle run every model thread of an
    /// execution on the test's OS thread, so one cell sees them all.
    pub(crate) static TRACE: std::cell::RefCell<trace::Log> =
        const { std::cell::RefCell::new(trace::Log::new()) };
}

/// Identifies a model thread within an execution.
#[cfg(loom)]
pub(crate) type ThreadKey = thread::ThreadId;
/// Identifies a model thread within an execution.
#[cfg(shuttle)]
pub(crate) type ThreadKey = shuttle::current::TaskId;

/// The running model thread; `None` while unwinding, when the checker may
/// already be past its execution (and asking it would panic again).
#[cfg(loom)]
pub(crate) fn current_thread() -> Option<ThreadKey> {
    (!thread::panicking()).then(|| thread::current().id())
}

/// The running model thread; `None` outside a running task (shuttle's
/// `try_get_current_task` never panics and clones no name).
#[cfg(shuttle)]
pub(crate) fn current_thread() -> Option<ThreadKey> {
    if thread::panicking() {
        return None;
    }
    shuttle::current::try_get_current_task()
}

/// The checker's index of the running model thread (0 is main, then in
/// spawn order), and its name if it has one.
#[cfg(loom)]
pub(crate) fn describe_current_thread() -> (usize, Option<String>) {
    let me = thread::current();
    // loom keeps the index private but prints it: "ThreadId(2)".
    let id = format!("{:?}", me.id());
    let index = id
        .trim_start_matches("ThreadId(")
        .trim_end_matches(')')
        .parse()
        .unwrap_or(usize::MAX);
    (index, me.name().map(str::to_owned))
}

/// The checker's index of the running model thread (0 is main, then in
/// spawn order), and its name if it has one.
#[cfg(shuttle)]
pub(crate) fn describe_current_thread() -> (usize, Option<String>) {
    let me = thread::current();
    (usize::from(me.id()), me.name().map(str::to_owned))
}

/// Whether a thread id belongs to one execution (loom's do; shuttle reuses
/// them), so that meeting a known index under a new id means a new execution.
#[cfg(any(loom, shuttle))]
pub(crate) const THREAD_IDS_NAME_THE_EXECUTION: bool = cfg!(loom);

/// The name the checker gives the main model thread, if any.
#[cfg(loom)]
pub(crate) const MAIN_THREAD_NAME: &str = "main";
/// The name the checker gives the main model thread, if any.
#[cfg(shuttle)]
pub(crate) const MAIN_THREAD_NAME: &str = "main-thread";

#[cfg(all(test, not(any(loom, shuttle))))]
mod tests {
    use super::{Backoff, Mutex};

    fn rounds_until_completed() -> u32 {
        let backoff = Backoff::new();
        let mut rounds = 0;
        while !backoff.is_completed() {
            backoff.snooze();
            rounds += 1;
        }
        rounds
    }

    /// Waits that ended in a long park, [`Backoff::LONG_PARKS_TO_SKIP`] in a
    /// row, make the next backoff complete at once; fewer leave it whole,
    /// and a wait that got its item without parking starts the count
    /// again. (A short park is left out: a preempted test thread could make
    /// it long.)
    #[test]
    fn only_long_parks_in_a_row_skip_the_next_backoff() {
        let full = Backoff::SPIN_ROUNDS + Backoff::YIELD_ROUNDS;
        let long_park = || {
            let backoff = Backoff::new();
            backoff.parking();
            // Not synchronisation: the park has to have lasted this long.
            std::thread::sleep(Backoff::LONG_PARK);
            backoff.ended();
        };
        assert_eq!(rounds_until_completed(), full);

        for _ in 1..Backoff::LONG_PARKS_TO_SKIP {
            long_park();
            assert_eq!(rounds_until_completed(), full);
        }
        long_park();
        assert_eq!(rounds_until_completed(), 0);
        long_park();
        assert_eq!(rounds_until_completed(), 0);

        Backoff::new().ended();
        assert_eq!(rounds_until_completed(), full);
        long_park();
        assert_eq!(rounds_until_completed(), full);
    }

    /// Threads that take a lock in tight loops with `lock_backing_off`
    /// all get it, every time, and exclusively: none gives up, none spins
    /// forever once the backoff is spent, and no increment is lost.
    #[test]
    fn backing_off_lockers_all_get_the_lock() {
        const THREADS: u64 = 3;
        const EACH: u64 = 20_000;
        let counter = std::sync::Arc::new(Mutex::new(0u64));
        let (done, finished) = std::sync::mpsc::channel();
        for _ in 0..THREADS {
            let (counter, done) = (std::sync::Arc::clone(&counter), done.clone());
            std::thread::spawn(move || {
                for _ in 0..EACH {
                    let mut value = counter.lock_backing_off();
                    // Read, pause, write: a second holder would
                    // make an increment vanish.
                    let seen = *value;
                    std::hint::spin_loop();
                    *value = seen + 1;
                }
                done.send(()).unwrap();
            });
        }
        for _ in 0..THREADS {
            finished
                .recv_timeout(std::time::Duration::from_secs(60))
                .expect("a thread still waits for the lock after 60 s");
        }
        assert_eq!(*counter.lock(), THREADS * EACH);
    }
}
