//! A task as the pool carries it, and the two ends a caller can hold:
//! [`TaskHandle`] (the result of a `submit`) and [`PendingTask`] (a task
//! handed back by `stop`).

use std::any::Any;
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::error::TaskError;
use crate::spent::{self, Batch};
use crate::sync::{padded, Arc, AtomicU64, Condvar, DynArc, Mutex, Ordering, Padded};

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

/// A queued `execute` task. `Any` lets a refused task be unboxed back into
/// the caller's closure.
pub(crate) trait Task: Any + Send {
    /// Runs the task and records it in `counters` (when run by a worker).
    /// Returns the panic payload: the panic handler's to take. A task run
    /// in place leaves its emptied box in `spent`, when given one.
    fn run(
        self: Box<Self>,
        counters: Option<&Counters>,
        spent: Option<&mut Batch>,
    ) -> Option<Payload>;
}

/// What the channel carries: an `execute` task in a box, or a `submit` task
/// in the one allocation it shares with its handle.
pub(crate) enum Job {
    Execute(Box<dyn Task>),
    Submit(SubmitJob),
}

impl Job {
    /// Runs the task, records it in `counters` (when run by a worker), and
    /// resolves its handle, if it has one. Returns the panic payload when
    /// nobody else has received it: the panic handler's to take. A worker
    /// passes its `spent` batch, to keep the box of a task run in place.
    pub(crate) fn run(
        self,
        counters: Option<&Counters>,
        spent: Option<&mut Batch>,
    ) -> Option<Payload> {
        match self {
            Job::Execute(task) => task.run(counters, spent),
            Job::Submit(mut job) => {
                if let Some(cell) = job.0.take() {
                    cell.run(counters);
                }
                None
            }
        }
    }
}

/// Boxes an `execute` closure: to run in place when its box is worth
/// handing back to the submitting thread (see `spent`), else to be
/// consumed, box and all, where it runs.
pub(crate) fn execute_job<F: FnOnce() + Send + 'static>(f: F) -> Job {
    if spent::worth_handing_back::<F>() {
        Job::Execute(Box::new(InPlace(Some(f))))
    } else {
        Job::Execute(Box::new(Execute(f)))
    }
}

/// Recovers the closure of an `execute` job that was never run.
pub(crate) fn unbox<F: FnOnce() + Send + 'static>(job: Job) -> F {
    let Job::Execute(task) = job else {
        unreachable!("a refused execute job is the one that was sent")
    };
    let any: Box<dyn Any> = task;
    let any = match any.downcast::<Execute<F>>() {
        Ok(task) => return task.0,
        Err(any) => any,
    };
    match any.downcast::<InPlace<F>>().map(|task| task.0) {
        Ok(Some(f)) => f,
        _ => unreachable!("a refused job is the one that was sent, unrun"),
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

/// A fire-and-forget task from `execute`, freed where it runs.
struct Execute<F>(F);

impl<F: FnOnce() + Send + 'static> Task for Execute<F> {
    fn run(
        self: Box<Self>,
        counters: Option<&Counters>,
        _spent: Option<&mut Batch>,
    ) -> Option<Payload> {
        run_counted(self.0, counters)
    }
}

/// A fire-and-forget task from `execute`, run in place so that its box,
/// emptied, can go back to the submitting thread (see `spent`). `None`
/// once it has run.
struct InPlace<F>(Option<F>);

impl<F: FnOnce() + Send + 'static> Task for InPlace<F> {
    fn run(
        mut self: Box<Self>,
        counters: Option<&Counters>,
        spent: Option<&mut Batch>,
    ) -> Option<Payload> {
        // A box is run once (`run` consumes it): the closure is there.
        let payload = self.0.take().and_then(|f| run_counted(f, counters));
        if let Some(batch) = spent {
            batch.keep(self);
        }
        payload
    }
}

fn run_counted<F: FnOnce()>(f: F, counters: Option<&Counters>) -> Option<Payload> {
    let outcome = catch_unwind(AssertUnwindSafe(f));
    if let Some(counters) = counters {
        counters.record(outcome.is_err());
    }
    outcome.err()
}

/// The queue's end of a `submit` task. Dropped unrun (the task was
/// cancelled), it resolves the handle to `Cancelled`.
pub(crate) struct SubmitJob(Option<DynArc<dyn Runnable>>);

impl Drop for SubmitJob {
    fn drop(&mut self) {
        if let Some(cell) = self.0.take() {
            cell.cancel();
        }
    }
}

/// A `submit` task's one allocation, seen from the queue.
trait Runnable: Send + Sync {
    fn run(&self, counters: Option<&Counters>);
    fn cancel(&self);
}

/// A `submit` task's one allocation, seen from its handle.
trait Outcome<T>: Send + Sync {
    fn join(&self) -> Result<T, TaskError>;
    fn is_finished(&self) -> bool;
}

/// A `submit` task and its result, in one allocation shared by the queue's
/// job and the caller's handle.
struct Cell<F, T> {
    state: Mutex<CellState<F, T>>,
    ready: Condvar,
}

struct CellState<F, T> {
    stage: Stage<F, T>,
    /// The handle's owner sleeps on `ready`: only then is a notify needed.
    waiting: bool,
}

enum Stage<F, T> {
    Queued(F),
    Running,
    Done(Result<T, TaskError>),
    Joined,
}

impl<F, T> Cell<F, T> {
    fn finish(&self, result: Result<T, TaskError>) {
        let mut s = self.state.lock();
        s.stage = Stage::Done(result);
        let wake = s.waiting;
        drop(s);
        if wake {
            self.ready.notify_one();
        }
    }

    /// The closure, if the task was never started.
    fn take_closure(&self) -> Option<F> {
        let mut s = self.state.lock();
        match std::mem::replace(&mut s.stage, Stage::Running) {
            Stage::Queued(f) => Some(f),
            other => {
                s.stage = other;
                None
            }
        }
    }
}

impl<F, T> Runnable for Cell<F, T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    fn run(&self, counters: Option<&Counters>) {
        let Some(f) = self.take_closure() else {
            return;
        };
        let outcome = catch_unwind(AssertUnwindSafe(f));
        if let Some(counters) = counters {
            counters.record(outcome.is_err());
        }
        self.finish(outcome.map_err(TaskError::Panicked));
    }

    fn cancel(&self) {
        if let Some(f) = self.take_closure() {
            // The handle says `Cancelled` only once the closure is gone (a
            // joiner may rely on what it captured being dropped), and still
            // says it if that drop panics. The closure is dropped with the
            // lock let go.
            let _resolve = ResolveCancelled(self);
            drop(f);
        }
    }
}

/// Stores `Cancelled` in its cell when dropped, unwinding or not.
struct ResolveCancelled<'a, F, T>(&'a Cell<F, T>);

impl<F, T> Drop for ResolveCancelled<'_, F, T> {
    fn drop(&mut self) {
        self.0.finish(Err(TaskError::Cancelled));
    }
}

impl<F, T> Outcome<T> for Cell<F, T>
where
    F: Send,
    T: Send,
{
    fn join(&self) -> Result<T, TaskError> {
        let mut s = self.state.lock();
        loop {
            match std::mem::replace(&mut s.stage, Stage::Joined) {
                Stage::Done(result) => return result,
                other => s.stage = other,
            }
            s.waiting = true;
            s = self.ready.wait(s);
        }
    }

    fn is_finished(&self) -> bool {
        matches!(self.state.lock().stage, Stage::Done(_))
    }
}

/// A `submit` task ready to queue, and what becomes of its cell once the
/// queue has answered.
pub(crate) fn submit_job<F, T>(f: F) -> (Job, Unsent<F, T>)
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let cell = DynArc::new(Cell {
        state: Mutex::new(CellState {
            stage: Stage::Queued(f),
            waiting: false,
        }),
        ready: Condvar::new(),
    });
    (Job::Submit(SubmitJob(Some(cell.clone()))), Unsent(cell))
}

/// A `submit` task's cell before the queue has answered: accepted, it
/// becomes the caller's handle; refused, it gives the closure back.
pub(crate) struct Unsent<F, T>(DynArc<Cell<F, T>>);

impl<F, T> Unsent<F, T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    pub(crate) fn accepted(self) -> TaskHandle<T> {
        TaskHandle { cell: self.0 }
    }

    /// Takes the closure out of the job the queue handed back; the job,
    /// dropped after, then finds nothing to cancel.
    pub(crate) fn refused(self, job: Job) -> F {
        let f = self.0.take_closure();
        drop(job);
        f.unwrap_or_else(|| unreachable!("a refused job was never run"))
    }
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
    cell: DynArc<dyn Outcome<T>>,
}

// A trait object is not unwind-safe unless it says so, but what a handle
// reaches is a cell whose every change is made under its mutex (whose
// poisoning the facade ignores), so a panic elsewhere cannot leave it half
// updated. The `Arc<Mutex<..>>` slot this replaced was unwind-safe by
// derivation; these keep that part of the public API as it was.
impl<T> std::panic::UnwindSafe for TaskHandle<T> {}
impl<T> std::panic::RefUnwindSafe for TaskHandle<T> {}

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
        self.cell.join()
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
        self.cell.is_finished()
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
        match catch_unwind(AssertUnwindSafe(|| job.run(None, None))) {
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
