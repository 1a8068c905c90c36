//! One interface over every pool in the comparison.

use std::time::Duration;

use crate::handwritten::{CondvarPool, CrossbeamPool, MpscPool};
use crate::latch::LATCH;

/// A task's result, waited for.
pub trait Joinable<T> {
    fn join(self) -> T;
}

/// What the workloads need from a pool.
pub trait Peer: Sync + Sized {
    const NAME: &'static str;
    /// How "wait until every task of the batch ran" is done for this pool.
    const WAIT: &'static str;
    /// The pool has no wait of its own: tasks are counted by [`LATCH`].
    const USES_LATCH: bool;
    /// Its shutdown really joins the worker threads (they have exited when
    /// it returns), rather than leaving them to exit on their own.
    const JOINS_THREADS: bool;
    /// How `submit` gets a result back.
    const SUBMIT: &'static str;

    type Handle<T: Send + 'static>: Joinable<T>;

    /// A running pool with `workers` started threads.
    fn build(workers: usize) -> Self;
    fn execute<F: FnOnce() + Send + 'static>(&self, f: F);
    fn submit<T: Send + 'static, F: FnOnce() -> T + Send + 'static>(&self, f: F)
        -> Self::Handle<T>;
    /// The pool's own wait-until-idle (unused when `USES_LATCH`).
    fn wait_own(&self) {}
    /// Shut down after every accepted task has run; see `JOINS_THREADS`
    /// for what happens to the threads.
    fn shutdown_join(self);
}

/// Prepares the wait for a batch of `n` tracked tasks.
pub fn start_batch<P: Peer>(n: usize) {
    if P::USES_LATCH {
        LATCH.arm(n);
    }
}

/// Executes a task that [`wait_all`] accounts for.
#[inline]
pub fn exec_tracked<P: Peer, F: FnOnce() + Send + 'static>(pool: &P, f: F) {
    if P::USES_LATCH {
        pool.execute(move || {
            f();
            LATCH.count_down();
        })
    } else {
        pool.execute(f)
    }
}

/// Waits until every tracked task of the batch has run.
pub fn wait_all<P: Peer>(pool: &P) {
    if P::USES_LATCH {
        LATCH.wait()
    } else {
        pool.wait_own()
    }
}

/// The receiving end of a `oneshot` channel (one allocation, lock-free
/// send, blocking receive): the "task + oneshot" stand-in for pools
/// without task handles.
pub struct Oneshot<T>(oneshot::Receiver<T>);

impl<T> Joinable<T> for Oneshot<T> {
    fn join(self) -> T {
        self.0.recv().expect("task ran")
    }
}

/// Wraps `f` so that its value goes down a fresh oneshot channel.
fn with_oneshot<T, F>(f: F) -> (impl FnOnce() + Send + 'static, Oneshot<T>)
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let (tx, rx) = oneshot::channel();
    let job = move || {
        let _ = tx.send(f());
    };
    (job, Oneshot(rx))
}

/// Defines the verified-pool peer for a crate path, so a scratch copy of
/// the library can be measured side by side under another name.
#[macro_export]
macro_rules! verified_pool_peer {
    ($ty:ident, $krate:ident, $name:expr) => {
        pub struct $ty($krate::Pool);

        impl<T> $crate::peers::Joinable<T> for $krate::TaskHandle<T> {
            fn join(self) -> T {
                $krate::TaskHandle::join(self).expect("task ran")
            }
        }

        impl $crate::peers::Peer for $ty {
            const NAME: &'static str = $name;
            const WAIT: &'static str = "Pool::wait_idle";
            const USES_LATCH: bool = false;
            const JOINS_THREADS: bool = true;
            const SUBMIT: &'static str = "Pool::submit -> TaskHandle::join";
            type Handle<T: Send + 'static> = $krate::TaskHandle<T>;

            fn build(workers: usize) -> Self {
                $ty($krate::Pool::new(workers).expect("build pool"))
            }
            #[inline]
            fn execute<F: FnOnce() + Send + 'static>(&self, f: F) {
                if self.0.execute(f).is_err() {
                    panic!("pool refused a task");
                }
            }
            #[inline]
            fn submit<T: Send + 'static, F: FnOnce() -> T + Send + 'static>(
                &self,
                f: F,
            ) -> Self::Handle<T> {
                match self.0.submit(f) {
                    Ok(handle) => handle,
                    Err(_) => panic!("pool refused a task"),
                }
            }
            fn wait_own(&self) {
                self.0.wait_idle().expect("not on a worker");
            }
            fn shutdown_join(self) {
                self.0.join().expect("not on a worker");
            }
        }
    };
}

/// The `threadpool` crate: a std mpsc receiver behind a mutex, with
/// queued/active counters that `join()` waits on.
pub struct ThreadPoolCrate(threadpool::ThreadPool);

impl Peer for ThreadPoolCrate {
    const NAME: &'static str = "threadpool";
    const WAIT: &'static str = "ThreadPool::join (waits for idle)";
    const USES_LATCH: bool = false;
    const JOINS_THREADS: bool = false;
    const SUBMIT: &'static str = "execute + oneshot::channel";
    type Handle<T: Send + 'static> = Oneshot<T>;

    fn build(workers: usize) -> Self {
        ThreadPoolCrate(threadpool::ThreadPool::new(workers))
    }
    #[inline]
    fn execute<F: FnOnce() + Send + 'static>(&self, f: F) {
        self.0.execute(f)
    }
    fn submit<T: Send + 'static, F: FnOnce() -> T + Send + 'static>(&self, f: F) -> Oneshot<T> {
        let (job, handle) = with_oneshot(f);
        self.0.execute(job);
        handle
    }
    fn wait_own(&self) {
        self.0.join()
    }
    /// `join()` waits for the queue to empty; dropping the pool then lets
    /// the threads exit on their own (detached, never joined).
    fn shutdown_join(self) {
        self.0.join();
    }
}

/// `rusty_pool` with core = max = `workers` (so it never grows or shrinks),
/// its core threads started up front.
pub struct RustyPool(rusty_pool::ThreadPool);

impl Peer for RustyPool {
    const NAME: &'static str = "rusty_pool";
    const WAIT: &'static str = "ThreadPool::join (waits for idle)";
    const USES_LATCH: bool = false;
    const JOINS_THREADS: bool = false;
    const SUBMIT: &'static str = "ThreadPool::evaluate -> JoinHandle::await_complete";
    type Handle<T: Send + 'static> = rusty_pool::JoinHandle<T>;

    fn build(workers: usize) -> Self {
        let pool = rusty_pool::ThreadPool::new(workers, workers, Duration::from_secs(60));
        pool.start_core_threads();
        RustyPool(pool)
    }
    #[inline]
    fn execute<F: FnOnce() + Send + 'static>(&self, f: F) {
        self.0.execute(f)
    }
    fn submit<T: Send + 'static, F: FnOnce() -> T + Send + 'static>(
        &self,
        f: F,
    ) -> Self::Handle<T> {
        self.0.evaluate(f)
    }
    fn wait_own(&self) {
        self.0.join()
    }
    /// `shutdown_join()` disconnects the channel and waits until no worker
    /// is busy; the threads exit on their own (never `thread::join`ed).
    fn shutdown_join(self) {
        self.0.shutdown_join();
    }
}

impl<T: Send> Joinable<T> for rusty_pool::JoinHandle<T> {
    fn join(self) -> T {
        self.await_complete()
    }
}

/// A `rayon` thread pool used through `ThreadPool::spawn`.
pub struct Rayon(rayon::ThreadPool);

impl Peer for Rayon {
    const NAME: &'static str = "rayon";
    const WAIT: &'static str = "counting latch";
    const USES_LATCH: bool = true;
    const JOINS_THREADS: bool = false;
    const SUBMIT: &'static str = "spawn + oneshot::channel";
    type Handle<T: Send + 'static> = Oneshot<T>;

    fn build(workers: usize) -> Self {
        Rayon(
            rayon::ThreadPoolBuilder::new()
                .num_threads(workers)
                .build()
                .expect("build rayon pool"),
        )
    }
    #[inline]
    fn execute<F: FnOnce() + Send + 'static>(&self, f: F) {
        self.0.spawn(f)
    }
    fn submit<T: Send + 'static, F: FnOnce() -> T + Send + 'static>(&self, f: F) -> Oneshot<T> {
        let (job, handle) = with_oneshot(f);
        self.0.spawn(job);
        handle
    }
    /// Dropping a rayon pool only tells its threads to terminate: they exit
    /// asynchronously and are never joined. (The caller has already waited
    /// on the latch for the tasks.)
    fn shutdown_join(self) {
        drop(self.0);
    }
}

macro_rules! handwritten_peer {
    ($ty:ident, $pool:ty, $name:expr, $submit:expr) => {
        pub struct $ty($pool);

        impl Peer for $ty {
            const NAME: &'static str = $name;
            const WAIT: &'static str = "counting latch";
            const USES_LATCH: bool = true;
            const JOINS_THREADS: bool = true;
            const SUBMIT: &'static str = $submit;
            type Handle<T: Send + 'static> = Oneshot<T>;

            fn build(workers: usize) -> Self {
                $ty(<$pool>::new(workers))
            }
            #[inline]
            fn execute<F: FnOnce() + Send + 'static>(&self, f: F) {
                self.0.execute(f)
            }
            fn submit<T: Send + 'static, F: FnOnce() -> T + Send + 'static>(
                &self,
                f: F,
            ) -> Oneshot<T> {
                let (job, handle) = with_oneshot(f);
                self.0.execute(job);
                handle
            }
            /// Closes the queue; the workers drain it and exit; every thread
            /// is joined.
            fn shutdown_join(self) {
                self.0.join()
            }
        }
    };
}

handwritten_peer!(
    Crossbeam,
    CrossbeamPool,
    "crossbeam-chan",
    "execute + oneshot::channel"
);
handwritten_peer!(Mpsc, MpscPool, "mpsc+mutex", "execute + oneshot::channel");
handwritten_peer!(
    CondvarQ,
    CondvarPool,
    "mutex+condvar",
    "execute + oneshot::channel"
);
