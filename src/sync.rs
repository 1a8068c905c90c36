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

use std::io;
use std::sync::PoisonError;

#[cfg(all(loom, shuttle))]
compile_error!("--cfg loom and --cfg shuttle are exclusive: pick one model checker");

#[cfg(loom)]
use loom::sync as base;
#[cfg(loom)]
pub(crate) use loom::{
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    thread, thread_local,
};

#[cfg(shuttle)]
use shuttle::sync as base;
#[cfg(shuttle)]
pub(crate) use shuttle::{
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    thread, thread_local,
};

#[cfg(not(any(loom, shuttle)))]
use std::sync as base;
#[cfg(not(any(loom, shuttle)))]
pub(crate) use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    thread, thread_local,
};

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

pub(crate) struct Mutex<T>(base::Mutex<T>);

impl<T> Mutex<T> {
    pub(crate) fn new(value: T) -> Self {
        Mutex(base::Mutex::new(value))
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

pub(crate) struct Condvar(base::Condvar);

impl Condvar {
    pub(crate) fn new() -> Self {
        Condvar(base::Condvar::new())
    }

    pub(crate) fn wait<'a, T>(&self, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
        self.0.wait(guard).unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn notify_one(&self) {
        self.0.notify_one();
    }

    pub(crate) fn notify_all(&self) {
        self.0.notify_all();
    }
}

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
