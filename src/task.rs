//! A task as the pool carries it, and the two ends a caller can hold:
//! [`TaskHandle`] (the result of a `submit`) and [`PendingTask`] (a task
//! handed back by `stop`).

use std::any::Any;
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::error::TaskError;
use crate::sync::{padded, Arc, AtomicU64, Condvar, Mutex, Ordering, Padded};

pub(crate) type Payload = Box<dyn Any + Send>;

/// A user's panic handler, as `Builder::panic_handler` stores it.
pub(crate) type HandlerFn = Box<dyn Fn(Payload) + Send + Sync>;

/// Completions, counted by whoever runs a task, before its handle resolves,
/// so a caller that has joined a handle sees its task counted.
pub(crate) struct Counters {
    completed: Padded<AtomicU64>,
    panicked: Padded<AtomicU64>,
}

impl Counters {
    pub(crate) fn new() -> Self {
        Counters {
            completed: padded(AtomicU64::new(0)),
            panicked: padded(AtomicU64::new(0)),
        }
    }

    fn record(&self, panicked: bool) {
        let counter = if panicked {
            &self.panicked
        } else {
            &self.completed
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn completed(&self) -> u64 {
        self.completed.load(Ordering::Relaxed)
    }

    pub(crate) fn panicked(&self) -> u64 {
        self.panicked.load(Ordering::Relaxed)
    }
}

/// A queued task. `Any` lets a refused task be unboxed back into the
/// caller's closure.
pub(crate) trait Task: Any + Send {
    /// Runs the task, records it in `counters` (when run by a worker), and
    /// resolves its handle, if it has one. Returns the panic payload when
    /// nobody else has received it: the panic handler's to take.
    fn run(self: Box<Self>, counters: Option<&Counters>) -> Option<Payload>;
}

pub(crate) type Job = Box<dyn Task>;

/// Recovers the closure of a task that was never run.
pub(crate) fn unbox<J: Task>(job: Job) -> J {
    let any: Box<dyn Any> = job;
    match any.downcast::<J>() {
        Ok(job) => *job,
        Err(_) => unreachable!("a refused job is the one that was sent"),
    }
}

/// Drops `value` on this thread without letting a panicking `Drop` unwind
/// into the caller (a worker must survive whatever its tasks leave behind).
pub(crate) fn drop_contained<T>(value: T) {
    if let Err(payload) = catch_unwind(AssertUnwindSafe(move || drop(value))) {
        // A payload whose own drop panicked: leaking it is the only way out.
        std::mem::forget(payload);
    }
}

/// A fire-and-forget task from `execute`.
pub(crate) struct Execute<F>(pub(crate) F);

impl<F: FnOnce() + Send + 'static> Task for Execute<F> {
    fn run(self: Box<Self>, counters: Option<&Counters>) -> Option<Payload> {
        let outcome = catch_unwind(AssertUnwindSafe(self.0));
        if let Some(counters) = counters {
            counters.record(outcome.is_err());
        }
        outcome.err()
    }
}

/// A task from `submit`/`try_submit`, with the sending end of its handle.
pub(crate) struct Submit<F, T> {
    pub(crate) f: F,
    pub(crate) done: Completer<T>,
}

impl<F, T> Task for Submit<F, T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    fn run(self: Box<Self>, counters: Option<&Counters>) -> Option<Payload> {
        let Submit { f, done } = *self;
        let outcome = catch_unwind(AssertUnwindSafe(f));
        if let Some(counters) = counters {
            counters.record(outcome.is_err());
        }
        done.complete(outcome.map_err(TaskError::Panicked));
        None
    }
}

struct Slot<T> {
    state: Mutex<SlotState<T>>,
    ready: Condvar,
}

struct SlotState<T> {
    result: Option<Result<T, TaskError>>,
    /// The handle's owner sleeps on `ready`: only then is a notify needed.
    waiting: bool,
}

impl<T> Slot<T> {
    fn fill(&self, result: Result<T, TaskError>) {
        let mut s = self.state.lock();
        s.result = Some(result);
        let wake = s.waiting;
        drop(s);
        if wake {
            self.ready.notify_one();
        }
    }
}

/// The sending end of a [`TaskHandle`]. Dropped unused (the task was
/// cancelled, or refused), it resolves the handle to `Cancelled`.
pub(crate) struct Completer<T> {
    slot: Option<Arc<Slot<T>>>,
}

impl<T> Completer<T> {
    /// Lets go of the handle without resolving it: for a refused task,
    /// whose handle was never given out.
    pub(crate) fn disarm(mut self) {
        self.slot = None;
    }

    fn complete(mut self, result: Result<T, TaskError>) {
        if let Some(slot) = self.slot.take() {
            slot.fill(result);
        }
    }
}

impl<T> Drop for Completer<T> {
    fn drop(&mut self) {
        if let Some(slot) = self.slot.take() {
            slot.fill(Err(TaskError::Cancelled));
        }
    }
}

/// A new handle and the completer that resolves it.
pub(crate) fn handle_pair<T>() -> (TaskHandle<T>, Completer<T>) {
    let slot = Arc::new(Slot {
        state: Mutex::new(SlotState {
            result: None,
            waiting: false,
        }),
        ready: Condvar::new(),
    });
    let done = Completer {
        slot: Some(Arc::clone(&slot)),
    };
    (TaskHandle { slot }, done)
}

/// The result of a task given to [`Pool::submit`](crate::Pool::submit) or
/// [`Pool::try_submit`](crate::Pool::try_submit).
///
/// Dropping a handle detaches it: the task still runs, its value is
/// dropped.
///
/// ```
/// use verified_pool::Pool;
///
/// let pool = Pool::new(2).unwrap();
/// let handle = pool.submit(|| "hello".len()).unwrap();
/// assert_eq!(handle.join().unwrap(), 5);
/// ```
pub struct TaskHandle<T> {
    slot: Arc<Slot<T>>,
}

impl<T> TaskHandle<T> {
    /// Blocks until the task has run (its value, or `Panicked` with its
    /// payload) or was cancelled (`Cancelled`: handed back by `stop()` and
    /// dropped unrun).
    ///
    /// This waits without a timeout: a task that never ends keeps its
    /// handle waiting, as `std::thread::JoinHandle::join` would.
    ///
    /// ```
    /// use verified_pool::{Pool, TaskError};
    ///
    /// let pool = Pool::new(1).unwrap();
    /// let (started_tx, started) = std::sync::mpsc::channel();
    /// let (open, wait) = std::sync::mpsc::channel::<()>();
    /// let _blocker = pool.submit(move || { started_tx.send(()).unwrap(); wait.recv() }).unwrap();
    /// started.recv().unwrap(); // the only worker is busy
    /// let queued = pool.submit(|| 1).unwrap();
    /// let pending = pool.stop(); // `queued` comes back unrun...
    /// assert_eq!(pending.len(), 1);
    /// drop(pending); // ...and dropping it cancels it
    /// assert!(matches!(queued.join(), Err(TaskError::Cancelled)));
    /// open.send(()).unwrap();
    /// ```
    pub fn join(self) -> Result<T, TaskError> {
        let mut s = self.slot.state.lock();
        loop {
            if let Some(result) = s.result.take() {
                return result;
            }
            s.waiting = true;
            s = self.slot.ready.wait(s);
        }
    }

    /// Whether the task's result is ready, so that [`join`](Self::join)
    /// would not block.
    ///
    /// ```
    /// use verified_pool::Pool;
    ///
    /// let pool = Pool::new(1).unwrap();
    /// let handle = pool.submit(|| 3).unwrap();
    /// pool.wait_idle().unwrap();
    /// assert!(handle.is_finished());
    /// ```
    pub fn is_finished(&self) -> bool {
        self.slot.state.lock().result.is_some()
    }
}

impl<T> fmt::Debug for TaskHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskHandle")
            .field("finished", &self.is_finished())
            .finish()
    }
}

/// Where the panics of `execute` tasks go.
pub(crate) struct PanicHandler(Option<HandlerFn>);

impl PanicHandler {
    pub(crate) fn new(handler: Option<HandlerFn>) -> Self {
        PanicHandler(handler)
    }

    /// Gives `payload` to the handler; a panicking handler is contained.
    pub(crate) fn handle(&self, payload: Payload) {
        match &self.0 {
            Some(handler) => {
                if let Err(again) = catch_unwind(AssertUnwindSafe(|| handler(payload))) {
                    drop_contained(again);
                }
            }
            None => drop_contained(payload),
        }
    }
}

/// A task that `stop()` took out of the queue before any worker started
/// it. Run it here with [`run`](Self::run), or drop it to cancel it (its
/// handle, if any, then resolves to [`TaskError::Cancelled`]).
///
/// ```
/// use verified_pool::Pool;
///
/// let pool = Pool::new(1).unwrap();
/// let (started_tx, started) = std::sync::mpsc::channel();
/// let (open, wait) = std::sync::mpsc::channel::<()>();
/// pool.execute(move || { started_tx.send(()).unwrap(); let _ = wait.recv(); }).unwrap();
/// started.recv().unwrap(); // the only worker is busy
/// let later = pool.submit(|| 2 + 2).unwrap();
/// for task in pool.stop() {
///     task.run(); // on this thread
/// }
/// assert_eq!(later.join().unwrap(), 4);
/// open.send(()).unwrap();
/// ```
pub struct PendingTask {
    job: Job,
    handler: Arc<PanicHandler>,
}

impl PendingTask {
    pub(crate) fn new(job: Job, handler: Arc<PanicHandler>) -> Self {
        PendingTask { job, handler }
    }

    /// Runs the task on the calling thread. A `submit` task's value or
    /// panic goes to its handle; an `execute` task's panic goes to the
    /// pool's panic handler (called on this thread), as it would have on a
    /// worker. No panic unwinds into the caller.
    ///
    /// ```
    /// use verified_pool::Pool;
    ///
    /// let pool = Pool::new(1).unwrap();
    /// let (started_tx, started) = std::sync::mpsc::channel();
    /// let (open, wait) = std::sync::mpsc::channel::<()>();
    /// pool.execute(move || { started_tx.send(()).unwrap(); let _ = wait.recv(); }).unwrap();
    /// started.recv().unwrap(); // the only worker is busy
    /// let handle = pool.submit(|| "ran").unwrap();
    /// let mut pending = pool.stop();
    /// pending.pop().unwrap().run();
    /// assert_eq!(handle.join().unwrap(), "ran");
    /// open.send(()).unwrap();
    /// ```
    pub fn run(self) {
        let PendingTask { job, handler } = self;
        match catch_unwind(AssertUnwindSafe(|| job.run(None))) {
            Ok(None) => {}
            Ok(Some(payload)) => handler.handle(payload),
            // As on a worker: a panicking drop of what the task left behind
            // (e.g. a result whose handle is gone).
            Err(payload) => drop_contained(payload),
        }
    }
}

impl fmt::Debug for PendingTask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingTask").finish_non_exhaustive()
    }
}
