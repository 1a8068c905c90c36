//! What can go wrong, as values: a refused task, a task that did not
//! produce its value, a pool that could not be built, a wait that would
//! deadlock.

use std::any::Any;
use std::error::Error;
use std::fmt;
use std::io;

/// Why the pool refused a task.
///
/// ```
/// use verified_pool::{Pool, RejectReason};
///
/// let pool = Pool::new(1).unwrap();
/// pool.shutdown();
/// let refused = pool.execute(|| ()).unwrap_err();
/// assert_eq!(refused.reason(), RejectReason::ShutDown);
/// ```
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RejectReason {
    /// `shutdown()`, `stop()` or `join()` has been called: the pool takes
    /// no new tasks.
    ShutDown,
    /// The bounded queue was full (only from `try_submit`).
    Full,
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RejectReason::ShutDown => "the pool is shut down",
            RejectReason::Full => "the pool's queue is full",
        })
    }
}

/// A task the pool refused, handed back whole: the closure was neither run
/// nor dropped, and [`into_inner`](Rejected::into_inner) returns it.
///
/// ```
/// use verified_pool::{Pool, RejectReason};
///
/// let pool = Pool::new(1).unwrap();
/// pool.shutdown();
/// let refused = pool.submit(|| 6 * 7).unwrap_err();
/// assert_eq!(refused.reason(), RejectReason::ShutDown);
/// let task = refused.into_inner();
/// assert_eq!(task(), 42); // ours to run elsewhere
/// ```
pub struct Rejected<F> {
    task: F,
    reason: RejectReason,
}

impl<F> Rejected<F> {
    pub(crate) fn new(task: F, reason: RejectReason) -> Self {
        Rejected { task, reason }
    }

    /// Why the task was refused.
    ///
    /// ```
    /// use verified_pool::{Pool, RejectReason};
    ///
    /// let pool = Pool::new(1).unwrap();
    /// pool.stop();
    /// assert_eq!(pool.execute(|| ()).unwrap_err().reason(), RejectReason::ShutDown);
    /// ```
    pub fn reason(&self) -> RejectReason {
        self.reason
    }

    /// The refused closure, back in the caller's hands.
    ///
    /// ```
    /// use verified_pool::Pool;
    ///
    /// let pool = Pool::new(1).unwrap();
    /// pool.shutdown();
    /// let name = String::from("kept");
    /// let task = pool.execute(move || drop(name)).unwrap_err().into_inner();
    /// task(); // the captured String was never dropped by the pool
    /// ```
    pub fn into_inner(self) -> F {
        self.task
    }
}

impl<F> fmt::Debug for Rejected<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rejected")
            .field("reason", &self.reason)
            .finish_non_exhaustive()
    }
}

impl<F> fmt::Display for Rejected<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "task rejected: {}", self.reason)
    }
}

impl<F> Error for Rejected<F> {}

/// Why a [`TaskHandle`](crate::TaskHandle) has no value.
///
/// ```
/// use verified_pool::{Pool, TaskError};
///
/// let pool = Pool::new(1).unwrap();
/// let handle = pool.submit(|| -> u32 { panic!("boom") }).unwrap();
/// match handle.join() {
///     Err(TaskError::Panicked(payload)) => {
///         assert_eq!(payload.downcast_ref::<&str>(), Some(&"boom"));
///     }
///     other => panic!("unexpected: {other:?}"),
/// }
/// ```
#[non_exhaustive]
pub enum TaskError {
    /// The task panicked; this is the payload it panicked with, intact.
    Panicked(Box<dyn Any + Send + 'static>),
    /// The task was handed back by `stop()` and then dropped without being
    /// run.
    Cancelled,
}

/// The message of a panic payload, when it is a string.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> Option<&str> {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
}

impl fmt::Debug for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TaskError::Panicked(payload) => match panic_message(payload.as_ref()) {
                Some(msg) => f.debug_tuple("Panicked").field(&msg).finish(),
                None => f.write_str("Panicked(..)"),
            },
            TaskError::Cancelled => f.write_str("Cancelled"),
        }
    }
}

impl fmt::Display for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TaskError::Panicked(payload) => match panic_message(payload.as_ref()) {
                Some(msg) => write!(f, "task panicked: {msg}"),
                None => f.write_str("task panicked"),
            },
            TaskError::Cancelled => f.write_str("task cancelled: stopped before it ran"),
        }
    }
}

impl Error for TaskError {}

/// Why [`Builder::build`](crate::Builder::build) or
/// [`Pool::new`](crate::Pool::new) failed. No thread is left running when
/// it does.
///
/// ```
/// use verified_pool::{BuildError, Pool};
///
/// assert!(matches!(Pool::new(0), Err(BuildError::ZeroWorkers)));
/// ```
#[non_exhaustive]
#[derive(Debug)]
pub enum BuildError {
    /// A pool needs at least one worker.
    ZeroWorkers,
    /// A bounded queue needs room for at least one task.
    ZeroCapacity,
    /// The operating system refused to start a worker thread (for example
    /// an impossible stack size, or a thread name with a NUL byte).
    Spawn(io::Error),
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::ZeroWorkers => f.write_str("a pool needs at least one worker"),
            BuildError::ZeroCapacity => {
                f.write_str("a bounded queue needs a capacity of at least 1")
            }
            BuildError::Spawn(e) => write!(f, "could not spawn a worker thread: {e}"),
        }
    }
}

impl Error for BuildError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            BuildError::Spawn(e) => Some(e),
            _ => None,
        }
    }
}

/// Why [`Pool::join`](crate::Pool::join) or
/// [`Pool::wait_idle`](crate::Pool::wait_idle) refused to wait.
///
/// ```
/// use std::sync::Arc;
/// use verified_pool::{Pool, WaitError};
///
/// let pool = Arc::new(Pool::new(1).unwrap());
/// let inner = Arc::clone(&pool);
/// let handle = pool.submit(move || inner.join()).unwrap();
/// assert!(matches!(handle.join().unwrap(), Err(WaitError::InsideWorker)));
/// ```
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WaitError {
    /// Called from one of the pool's own workers: waiting would wait for
    /// the very task that is waiting.
    InsideWorker,
}

impl fmt::Display for WaitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WaitError::InsideWorker => {
                f.write_str("cannot wait for a pool from one of its own worker threads")
            }
        }
    }
}

impl Error for WaitError {}
