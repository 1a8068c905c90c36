//! The pool: a channel of jobs, a wait-group of live workers, and the
//! lifecycle read off the two.
//!
//! There is no separate lifecycle field to keep in step: the channel's gate
//! says whether the pool is running, shutting down (closed) or stopping
//! (drained), and the wait-group reaching zero says it has terminated.
//! User code (tasks, the panic handler, the drop of a refused or cancelled
//! closure) never runs while a pool lock is held.

use std::cell::Cell;
use std::fmt;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};

use crate::builder::Builder;
use crate::channel::{Channel, Gate, Refusal};
use crate::error::{BuildError, RejectReason, Rejected, WaitError};
use crate::spent::{Batch, Pile};
use crate::sync::{self, thread_local, Arc, JoinHandle, Mutex};
use crate::task::{
    drop_contained, execute_job, submit_job, unbox, Counters, Job, PanicHandler, PendingTask,
    TaskHandle,
};
use crate::trace;
use crate::wait_group::WaitGroup;

thread_local! {
    /// The identity (see `Shared::id`) of the pool this thread works for;
    /// 0 on threads that are not workers.
    // loom's `thread_local!` takes no `const` initialiser.
    #[allow(clippy::missing_const_for_thread_local)]
    static WORKER_OF: Cell<usize> = Cell::new(0);
}

/// Where a pool is in its life. It only ever moves forward:
///
/// ```text
/// Running --shutdown()--> ShuttingDown --queue empty, all workers exited--> Terminated
/// Running --stop()------> Stopping -----all workers exited----------------> Terminated
/// ShuttingDown --stop()-> Stopping
/// ```
///
/// ```
/// use verified_pool::{Pool, State};
///
/// let pool = Pool::new(2).unwrap();
/// assert_eq!(pool.state(), State::Running);
/// pool.join().unwrap();
/// assert_eq!(pool.state(), State::Terminated);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum State {
    /// Accepting and running tasks.
    Running,
    /// `shutdown()` (or `join()`) was called: new tasks are refused, queued
    /// ones still run.
    ShuttingDown,
    /// `stop()` was called: new tasks are refused, queued ones were handed
    /// back; running ones finish.
    Stopping,
    /// Every worker has left its loop for good (the queue is empty or was
    /// handed back). The OS threads may still be finishing their
    /// thread-local destructors; [`Pool::join`] waits for those too, as it
    /// joins the threads.
    Terminated,
}

/// A snapshot of a pool's counters, from [`Pool::stats`].
///
/// Counters never decrease. When the pool is quiescent (no task between
/// two of these buckets, e.g. after `wait_idle()` or `join()`),
/// `submitted == completed + panicked + cancelled + queued + running`.
///
/// ```
/// use verified_pool::Pool;
///
/// let pool = Pool::new(2).unwrap();
/// pool.execute(|| ()).unwrap();
/// pool.execute(|| panic!("counted, not fatal")).unwrap();
/// pool.wait_idle().unwrap();
/// let stats = pool.stats();
/// assert_eq!((stats.submitted, stats.completed, stats.panicked), (2, 1, 1));
/// assert_eq!(stats.workers, 2);
/// ```
#[non_exhaustive]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Stats {
    /// Live worker threads.
    pub workers: usize,
    /// Live workers not running a task (`workers - running`).
    pub idle: usize,
    /// Accepted, not yet taken by a worker.
    pub queued: usize,
    /// Taken by a worker, not yet finished.
    pub running: usize,
    /// Accepted by `submit`, `try_submit` or `execute`.
    pub submitted: u64,
    /// Ran to the end.
    pub completed: u64,
    /// Ran and panicked.
    pub panicked: u64,
    /// Handed back by `stop()` (they left the pool, whether later run or not).
    pub cancelled: u64,
    /// Refused: the closure went back to the caller.
    pub rejected: u64,
}

/// State shared by the pool and its workers.
pub(crate) struct Shared {
    channel: Channel<Job>,
    live: WaitGroup,
    counters: Counters,
    handler: Arc<PanicHandler>,
    /// Workers' spent task boxes, for the next `execute` to free.
    spent: Pile,
}

impl Shared {
    /// A pool's identity: where its shared state lives, which is unique
    /// while a worker (holding an `Arc` to it) can ask.
    fn id(&self) -> usize {
        self as *const Shared as usize
    }
}

/// A fixed set of worker threads running closures from one queue.
///
/// `Pool` is `Send + Sync`: share it as `&Pool` or `Arc<Pool>`. Dropping it
/// performs [`join`](Pool::join) (except on one of its own workers, where it
/// shuts the pool down and lets the workers exit on their own).
///
/// ```
/// use verified_pool::Pool;
///
/// let pool = Pool::new(4)?;
/// let handles: Vec<_> = (0..10u64)
///     .map(|i| pool.submit(move || i * i).unwrap())
///     .collect();
/// let sum: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
/// assert_eq!(sum, 285);
/// pool.join()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Pool {
    shared: Arc<Shared>,
    threads: Mutex<Vec<JoinHandle>>,
}

impl Pool {
    /// A pool of `workers` threads with an unbounded queue; the same as
    /// `Pool::builder().workers(workers).build()`.
    ///
    /// ```
    /// use verified_pool::{BuildError, Pool};
    ///
    /// assert!(Pool::new(2).is_ok());
    /// assert!(matches!(Pool::new(0), Err(BuildError::ZeroWorkers)));
    /// ```
    pub fn new(workers: usize) -> Result<Pool, BuildError> {
        Builder::new().workers(workers).build()
    }

    /// A [`Builder`] for a pool with more settings.
    ///
    /// ```
    /// let pool = verified_pool::Pool::builder()
    ///     .workers(2)
    ///     .queue_capacity(64)
    ///     .thread_name("io")
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(pool.stats().workers, 2);
    /// ```
    pub fn builder() -> Builder {
        Builder::new()
    }

    pub(crate) fn start(
        workers: usize,
        capacity: Option<usize>,
        name: &str,
        stack_size: Option<usize>,
        handler: PanicHandler,
    ) -> Result<Pool, BuildError> {
        let shared = Arc::new(Shared {
            channel: Channel::new(capacity),
            live: WaitGroup::new(),
            counters: Counters::new(),
            handler: Arc::new(handler),
            spent: Pile::new(),
        });
        // Not `with_capacity(workers)`: an absurd count must fail at spawn
        // with a BuildError, not abort on the reservation.
        let mut threads = Vec::new();
        for id in 0..workers {
            shared.live.add();
            let mine = Arc::clone(&shared);
            match sync::spawn(format!("{name}-{id}"), stack_size, move || work(mine)) {
                Ok(thread) => threads.push(thread),
                Err(e) => {
                    // The worker that never started counts itself out here;
                    // dropping the half-built pool joins the ones that did.
                    shared.live.done();
                    drop(Pool {
                        shared,
                        threads: Mutex::new(threads),
                    });
                    return Err(BuildError::Spawn(e));
                }
            }
        }
        Ok(Pool {
            shared,
            threads: Mutex::new(threads),
        })
    }

    /// Runs `f` on a worker; the returned handle yields its value, or its
    /// panic as [`TaskError::Panicked`](crate::TaskError::Panicked).
    ///
    /// With a bounded queue, blocks while the queue is full, until a worker
    /// makes room or the pool shuts down. After `shutdown()`/`stop()`,
    /// hands `f` back in [`Rejected`] with [`RejectReason::ShutDown`].
    ///
    /// A task that submits to its own full bounded pool from every worker
    /// at once waits for room only other tasks could make: keep bounded
    /// pools' tasks from blocking on their own pool, or use `try_submit`.
    ///
    /// ```
    /// use verified_pool::Pool;
    ///
    /// let pool = Pool::new(2).unwrap();
    /// let handle = pool.submit(|| 40 + 2).unwrap();
    /// assert_eq!(handle.join().unwrap(), 42);
    /// ```
    pub fn submit<F, T>(&self, f: F) -> Result<TaskHandle<T>, Rejected<F>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.send_with_handle(f, true)
    }

    /// As [`submit`](Pool::submit), but never blocks: a full bounded queue
    /// hands `f` back with [`RejectReason::Full`].
    ///
    /// ```
    /// use verified_pool::{Pool, RejectReason};
    ///
    /// let pool = Pool::builder().workers(1).queue_capacity(1).build().unwrap();
    /// let (started_tx, started) = std::sync::mpsc::channel();
    /// let (open, wait) = std::sync::mpsc::channel::<()>();
    /// pool.execute(move || { started_tx.send(()).unwrap(); let _ = wait.recv(); }).unwrap();
    /// started.recv().unwrap(); // the worker is busy...
    /// let queued = pool.try_submit(|| 1).unwrap(); // ...the queue takes one...
    /// let refused = pool.try_submit(|| 2).unwrap_err(); // ...and is full.
    /// assert_eq!(refused.reason(), RejectReason::Full);
    /// open.send(()).unwrap();
    /// assert_eq!(queued.join().unwrap(), 1);
    /// ```
    pub fn try_submit<F, T>(&self, f: F) -> Result<TaskHandle<T>, Rejected<F>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.send_with_handle(f, false)
    }

    fn send_with_handle<F, T>(&self, f: F, block: bool) -> Result<TaskHandle<T>, Rejected<F>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let (job, unsent) = submit_job(f);
        match self.shared.channel.send(job, block) {
            Ok(()) => Ok(unsent.accepted()),
            Err((job, why)) => Err(Rejected::new(unsent.refused(job), reject_reason(why))),
        }
    }

    /// Runs `f` on a worker, without a handle (one allocation, no result
    /// slot). A panic in `f` goes to the panic handler
    /// ([`Builder::panic_handler`]); without one it is dropped (the default
    /// panic hook has already printed it). Blocks on a full bounded queue
    /// as `submit` does.
    ///
    /// What `f` captures is dropped on the worker, when `f` has run. The
    /// allocation of a small `f` (up to 128 bytes) is not freed there: its
    /// worker gathers such boxes, emptied, and leaves them 32 at a time for
    /// a later `execute` to free on its own thread, which glibc's allocator
    /// serves much faster. So a pool holds at most 32 of these boxes per
    /// worker, plus 32, between its last `execute`s and its `join`.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    /// use verified_pool::Pool;
    ///
    /// let pool = Pool::new(2).unwrap();
    /// let hits = Arc::new(AtomicUsize::new(0));
    /// for _ in 0..100 {
    ///     let hits = Arc::clone(&hits);
    ///     pool.execute(move || { hits.fetch_add(1, Ordering::Relaxed); }).unwrap();
    /// }
    /// pool.join().unwrap();
    /// assert_eq!(hits.load(Ordering::Relaxed), 100);
    /// ```
    pub fn execute<F>(&self, f: F) -> Result<(), Rejected<F>>
    where
        F: FnOnce() + Send + 'static,
    {
        self.shared
            .channel
            .send(execute_job(f), true)
            .map_err(|(job, why)| Rejected::new(unbox::<F>(job), reject_reason(why)))?;
        // After the send: the task's worker is on its way meanwhile.
        self.shared.spent.collect();
        Ok(())
    }

    /// Graceful shutdown: refuses new tasks from now on; queued tasks still
    /// run, then the workers exit. Returns at once (use [`join`](Pool::join)
    /// to wait). Any number of calls, from any thread, are harmless.
    ///
    /// ```
    /// use verified_pool::{Pool, State};
    ///
    /// let pool = Pool::new(1).unwrap();
    /// let handle = pool.submit(|| "still runs").unwrap();
    /// pool.shutdown();
    /// pool.shutdown();
    /// assert!(pool.execute(|| ()).is_err());
    /// assert_eq!(handle.join().unwrap(), "still runs");
    /// pool.join().unwrap();
    /// assert_eq!(pool.state(), State::Terminated);
    /// ```
    pub fn shutdown(&self) {
        self.shared.channel.close();
    }

    /// Refuses new tasks and hands back every queued task that no worker
    /// has started, as [`PendingTask`]s (run them, or drop them to cancel
    /// them). Running tasks finish. Returns at once; a second call returns
    /// an empty `Vec`.
    ///
    /// ```
    /// use verified_pool::Pool;
    ///
    /// let pool = Pool::new(1).unwrap();
    /// let (started_tx, started) = std::sync::mpsc::channel();
    /// let (open, wait) = std::sync::mpsc::channel::<()>();
    /// pool.execute(move || { started_tx.send(()).unwrap(); let _ = wait.recv(); }).unwrap();
    /// started.recv().unwrap();
    /// pool.execute(|| ()).unwrap();
    /// pool.execute(|| ()).unwrap();
    /// assert_eq!(pool.stop().len(), 2);
    /// assert!(pool.stop().is_empty());
    /// open.send(()).unwrap();
    /// pool.join().unwrap();
    /// assert_eq!(pool.stats().cancelled, 2);
    /// ```
    pub fn stop(&self) -> Vec<PendingTask> {
        self.shared
            .channel
            .drain()
            .into_iter()
            .map(|job| PendingTask::new(job, Arc::clone(&self.shared.handler)))
            .collect()
    }

    /// Shuts the pool down (as [`shutdown`](Pool::shutdown)) and waits until
    /// it is [`State::Terminated`]: every queued task has run and every
    /// worker thread has exited and been joined. Many threads may join at
    /// once; all return.
    ///
    /// Waits as long as running tasks take: there is no timeout. From one
    /// of this pool's own workers it returns
    /// `Err(WaitError::InsideWorker)` at once, without shutting down.
    ///
    /// ```
    /// use verified_pool::{Pool, State};
    ///
    /// let pool = Pool::new(2).unwrap();
    /// let handle = pool.submit(|| 7).unwrap();
    /// pool.join().unwrap();
    /// assert_eq!(pool.state(), State::Terminated);
    /// assert_eq!(handle.join().unwrap(), 7);
    /// pool.join().unwrap(); // again: harmless
    /// ```
    pub fn join(&self) -> Result<(), WaitError> {
        self.refuse_own_worker()?;
        self.shutdown();
        let mut threads = self.threads.lock();
        self.shared.live.wait();
        let mut failure = None;
        for thread in threads.drain(..) {
            if let Err(payload) = thread.join() {
                failure.get_or_insert(payload);
            }
        }
        drop(threads);
        match failure {
            // Only a bug in the pool itself can unwind a worker: say so loudly.
            Some(payload) if !sync::thread::panicking() => resume_unwind(payload),
            _ => Ok(()),
        }
    }

    /// Waits until the queue is empty and no task is running (every task
    /// accepted so far has finished, including its handle and any panic
    /// handler call). The pool stays usable. Tasks submitted meanwhile
    /// extend the wait.
    ///
    /// From one of this pool's own workers it returns
    /// `Err(WaitError::InsideWorker)` at once.
    ///
    /// ```
    /// use verified_pool::Pool;
    ///
    /// let pool = Pool::new(2).unwrap();
    /// for _ in 0..10 {
    ///     pool.execute(|| ()).unwrap();
    /// }
    /// pool.wait_idle().unwrap();
    /// assert_eq!(pool.stats().completed, 10);
    /// pool.execute(|| ()).unwrap(); // still running
    /// ```
    pub fn wait_idle(&self) -> Result<(), WaitError> {
        self.refuse_own_worker()?;
        self.shared.channel.wait_quiet();
        Ok(())
    }

    /// Where the pool is in its life.
    ///
    /// ```
    /// use verified_pool::{Pool, State};
    ///
    /// let pool = Pool::new(1).unwrap();
    /// assert_eq!(pool.state(), State::Running);
    /// let _ = pool.stop();
    /// assert!(matches!(pool.state(), State::Stopping | State::Terminated));
    /// ```
    pub fn state(&self) -> State {
        let gate = self.shared.channel.snapshot().gate;
        match gate {
            Gate::Open => State::Running,
            _ if self.shared.live.count() == 0 => State::Terminated,
            Gate::Closed => State::ShuttingDown,
            Gate::Drained => State::Stopping,
        }
    }

    /// A snapshot of the pool's counters.
    ///
    /// ```
    /// use verified_pool::Pool;
    ///
    /// let pool = Pool::new(3).unwrap();
    /// let stats = pool.stats();
    /// assert_eq!((stats.workers, stats.submitted), (3, 0));
    /// ```
    pub fn stats(&self) -> Stats {
        // Workers only ever exit, so reading them first keeps running <= workers.
        let workers = self.shared.live.count();
        let channel = self.shared.channel.snapshot();
        Stats {
            workers,
            idle: workers.saturating_sub(channel.taken),
            queued: channel.queued,
            running: channel.taken,
            submitted: channel.accepted,
            completed: self.shared.counters.completed(),
            panicked: self.shared.counters.panicked(),
            cancelled: channel.drained,
            rejected: channel.refused,
        }
    }

    fn refuse_own_worker(&self) -> Result<(), WaitError> {
        if WORKER_OF.with(Cell::get) == self.shared.id() {
            Err(WaitError::InsideWorker)
        } else {
            Ok(())
        }
    }
}

fn reject_reason(why: Refusal) -> RejectReason {
    match why {
        Refusal::Closed => RejectReason::ShutDown,
        Refusal::Full => RejectReason::Full,
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        if self.join().is_err() {
            // On our own worker: the workers finish the queue and exit
            // on their own; their handles are detached.
            self.shutdown();
        }
    }
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("state", &self.state())
            .field("stats", &self.stats())
            .finish()
    }
}

/// A worker's whole life: take a job, run it, report it finished with the
/// next take. The [`Shift`] guard keeps the books even if the loop itself
/// were ever to unwind.
fn work(shared: Arc<Shared>) {
    WORKER_OF.with(|me| me.set(shared.id()));
    trace::event!(WorkerStart);
    let mut shift = Shift {
        shared: &shared,
        holding: false,
    };
    let mut spent = Batch::new();
    while let Some(job) = shared.channel.recv(std::mem::take(&mut shift.holding)) {
        shift.holding = true;
        trace::event!(RunTask);
        let run = || job.run(Some(&shared.counters), Some(&mut spent));
        match catch_unwind(AssertUnwindSafe(run)) {
            Ok(None) => {}
            Ok(Some(payload)) => shared.handler.handle(payload),
            // The task's own panic was caught inside `run`; this is a
            // panicking drop of what it left behind (e.g. an unclaimed result).
            Err(payload) => drop_contained(payload),
        }
        if spent.is_full() {
            shared.spent.leave(&mut spent);
        }
    }
}

struct Shift<'a> {
    shared: &'a Shared,
    /// A job was taken and not yet reported finished.
    holding: bool,
}

impl Drop for Shift<'_> {
    fn drop(&mut self) {
        trace::event!(WorkerExit);
        if self.holding {
            self.shared.channel.finish();
        }
        self.shared.live.done();
    }
}
