//! The counting latch used to learn that a batch has run on pools that have
//! no "wait until idle" of their own (rayon and the three hand-written
//! pools).
//!
//! It is a `static`, so a task reaches it without cloning an `Arc`: the
//! tracked task costs one atomic decrement more than the bare one, and the
//! last task of a batch takes the mutex once to wake the waiter. Batches
//! never overlap (the benchmark runs one measurement at a time).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};

pub struct Latch {
    remaining: AtomicUsize,
    lock: Mutex<()>,
    zero: Condvar,
}

pub static LATCH: Latch = Latch {
    remaining: AtomicUsize::new(0),
    lock: Mutex::new(()),
    zero: Condvar::new(),
};

impl Latch {
    /// Expects `n` more `count_down`s before `wait` returns.
    pub fn arm(&self, n: usize) {
        self.remaining.fetch_add(n, Ordering::SeqCst);
    }

    #[inline]
    pub fn count_down(&self) {
        if self.remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
            // Taking the lock orders this notify after a waiter that saw a
            // non-zero count has gone to sleep.
            let _guard = self.lock.lock().unwrap();
            self.zero.notify_all();
        }
    }

    /// Blocks until every armed count has been counted down.
    pub fn wait(&self) {
        let mut guard = self.lock.lock().unwrap();
        while self.remaining.load(Ordering::Acquire) != 0 {
            guard = self.zero.wait(guard).unwrap();
        }
    }
}
