//! Settings for a pool, checked when it is built.

use std::any::Any;
use std::fmt;

use crate::error::BuildError;
use crate::pool::Pool;
use crate::sync;
use crate::task::{HandlerFn, PanicHandler};

/// Settings for a [`Pool`]. Start from [`Pool::builder`].
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use std::sync::Arc;
/// use verified_pool::Pool;
///
/// let panics = Arc::new(AtomicUsize::new(0));
/// let seen = Arc::clone(&panics);
/// let pool = Pool::builder()
///     .workers(2)
///     .queue_capacity(100)
///     .thread_name("crunch")
///     .stack_size(256 * 1024)
///     .panic_handler(move |_payload| { seen.fetch_add(1, Ordering::SeqCst); })
///     .build()
///     .unwrap();
/// pool.execute(|| panic!("caught by the handler")).unwrap();
/// pool.join().unwrap();
/// assert_eq!(panics.load(Ordering::SeqCst), 1);
/// ```
#[must_use = "a Builder does nothing until .build() is called"]
pub struct Builder {
    workers: Option<usize>,
    capacity: Option<usize>,
    name: String,
    stack_size: Option<usize>,
    handler: Option<HandlerFn>,
}

impl Builder {
    pub(crate) fn new() -> Self {
        Builder {
            workers: None,
            capacity: None,
            name: String::from("verified-pool"),
            stack_size: None,
            handler: None,
        }
    }

    /// How many worker threads (default: the machine's available
    /// parallelism). Zero makes `build` fail with
    /// [`BuildError::ZeroWorkers`].
    ///
    /// ```
    /// let pool = verified_pool::Pool::builder().workers(3).build().unwrap();
    /// assert_eq!(pool.stats().workers, 3);
    /// ```
    pub fn workers(mut self, n: usize) -> Self {
        self.workers = Some(n);
        self
    }

    /// Bounds the queue to `n` waiting tasks (default: unbounded). When it
    /// is full, `submit` and `execute` block and `try_submit` refuses with
    /// [`RejectReason::Full`](crate::RejectReason::Full). Zero makes `build`
    /// fail with [`BuildError::ZeroCapacity`].
    ///
    /// ```
    /// use verified_pool::{BuildError, Pool};
    ///
    /// assert!(Pool::builder().workers(1).queue_capacity(8).build().is_ok());
    /// assert!(matches!(
    ///     Pool::builder().workers(1).queue_capacity(0).build(),
    ///     Err(BuildError::ZeroCapacity)
    /// ));
    /// ```
    pub fn queue_capacity(mut self, n: usize) -> Self {
        self.capacity = Some(n);
        self
    }

    /// Names the worker threads `"{prefix}-{id}"`, ids from 0 (default
    /// prefix: `"verified-pool"`).
    ///
    /// ```
    /// let pool = verified_pool::Pool::builder().workers(1).thread_name("db").build().unwrap();
    /// let name = pool
    ///     .submit(|| std::thread::current().name().map(String::from))
    ///     .unwrap()
    ///     .join()
    ///     .unwrap();
    /// assert_eq!(name.as_deref(), Some("db-0"));
    /// ```
    pub fn thread_name(mut self, prefix: impl Into<String>) -> Self {
        self.name = prefix.into();
        self
    }

    /// The stack size of each worker thread, in bytes (default: std's). A
    /// size the system refuses makes `build` fail with
    /// [`BuildError::Spawn`].
    ///
    /// ```
    /// use verified_pool::{BuildError, Pool};
    ///
    /// assert!(Pool::builder().workers(1).stack_size(1 << 20).build().is_ok());
    /// let absurd = Pool::builder().workers(2).stack_size(usize::MAX).build();
    /// assert!(matches!(absurd, Err(BuildError::Spawn(_))));
    /// ```
    pub fn stack_size(mut self, bytes: usize) -> Self {
        self.stack_size = Some(bytes);
        self
    }

    /// Receives the panic payload of every `execute` task that panics (a
    /// `submit` task's panic goes to its handle instead). It runs on the
    /// thread that ran the task (a worker, or the caller of
    /// [`PendingTask::run`](crate::PendingTask::run)), outside every pool
    /// lock; if it panics itself, that panic is contained too. Without one,
    /// payloads are dropped.
    ///
    /// ```
    /// use std::sync::mpsc;
    /// use verified_pool::Pool;
    ///
    /// let (tx, rx) = mpsc::channel();
    /// let tx = std::sync::Mutex::new(tx);
    /// let pool = Pool::builder()
    ///     .workers(1)
    ///     .panic_handler(move |payload| {
    ///         let msg = payload.downcast_ref::<&str>().copied().unwrap_or("?");
    ///         tx.lock().unwrap().send(msg.to_string()).unwrap();
    ///     })
    ///     .build()
    ///     .unwrap();
    /// pool.execute(|| panic!("oops")).unwrap();
    /// assert_eq!(rx.recv().unwrap(), "oops");
    /// ```
    pub fn panic_handler(
        mut self,
        f: impl Fn(Box<dyn Any + Send>) + Send + Sync + 'static,
    ) -> Self {
        self.handler = Some(Box::new(f));
        self
    }

    /// Starts the workers. On any error no thread is left running: the
    /// workers already started are shut down and joined first.
    ///
    /// ```
    /// use verified_pool::{BuildError, Pool};
    ///
    /// let err = Pool::builder().workers(0).build().unwrap_err();
    /// assert!(matches!(err, BuildError::ZeroWorkers));
    /// assert_eq!(err.to_string(), "a pool needs at least one worker");
    /// ```
    pub fn build(self) -> Result<Pool, BuildError> {
        let workers = self.workers.unwrap_or_else(sync::available_parallelism);
        if workers == 0 {
            return Err(BuildError::ZeroWorkers);
        }
        if self.capacity == Some(0) {
            return Err(BuildError::ZeroCapacity);
        }
        Pool::start(
            workers,
            self.capacity,
            &self.name,
            self.stack_size,
            PanicHandler::new(self.handler),
        )
    }
}

impl Default for Builder {
    fn default() -> Self {
        Builder::new()
    }
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("workers", &self.workers)
            .field("queue_capacity", &self.capacity)
            .field("thread_name", &self.name)
            .field("stack_size", &self.stack_size)
            .field("panic_handler", &self.handler.is_some())
            .finish()
    }
}
