//! The wait-group: how many worker threads are still alive.
//!
//! Built on the facade's Mutex + Condvar (not crossbeam's `WaitGroup`,
//! which loom cannot see), so the models check that it never goes below
//! zero and that every waiter wakes when it reaches zero.

use crate::sync::{Condvar, Mutex};
use crate::trace;

/// A counter of live members that waiters can block on until it is zero.
pub struct WaitGroup {
    live: Mutex<usize>,
    zero: Condvar,
}

impl WaitGroup {
    /// A wait-group with no members.
    pub fn new() -> Self {
        WaitGroup {
            live: Mutex::new(0),
            zero: Condvar::new(),
        }
    }

    /// Counts one more member. Called before the member can possibly call
    /// [`done`](Self::done), i.e. before its thread is spawned.
    pub fn add(&self) {
        *self.live.lock() += 1;
    }

    /// Counts one member out.
    ///
    /// # Panics
    /// If the count is already zero: a `done` without its `add` is a bug in
    /// the pool, and a loud one is easier to find than a counter that wraps.
    pub fn done(&self) {
        let mut live = self.live.lock();
        *live = live
            .checked_sub(1)
            .expect("wait-group: done() without a matching add()");
        trace::event!(Live { left: *live });
        if *live == 0 {
            self.zero.notify_all();
        }
    }

    /// How many members are live now.
    pub fn count(&self) -> usize {
        *self.live.lock()
    }

    /// Blocks until the count is zero.
    pub fn wait(&self) {
        let mut live = self.live.lock();
        while *live > 0 {
            live = self.zero.wait(live);
        }
    }
}

impl Default for WaitGroup {
    fn default() -> Self {
        WaitGroup::new()
    }
}
