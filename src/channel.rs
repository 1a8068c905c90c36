//! The pool's channel: a lock-based MPMC queue with close semantics.
//!
//! One mutex guards the items, the gate (open, closed, or closed and
//! drained), and the number of items receivers have taken but not yet
//! finished. Keeping "taken" under the same lock as the queue is what lets
//! [`Channel::wait_quiet`] see "empty and nothing in flight" atomically;
//! a receiver reports the previous item finished in the same critical
//! section in which it takes the next one, so a busy worker costs one lock
//! acquisition per item.
//!
//! Every wait re-checks its condition under the lock (no lost wakeup), and
//! a condvar is only notified when someone sleeps on it (no syscall on the
//! fast path).

use std::collections::VecDeque;

use crate::sync::{Backoff, Condvar, Hint, Mutex, MutexGuard};
use crate::trace;

/// Whether the channel still accepts items.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gate {
    /// Accepts items.
    Open,
    /// Refuses new items; what is queued is still handed out.
    Closed,
    /// Refuses new items; what was queued was handed back by `drain`.
    Drained,
}

/// Why `send` handed an item back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The gate is no longer open.
    Closed,
    /// A bounded queue had no room and the sender would not wait.
    Full,
}

/// A consistent view of the channel, taken under its lock.
#[derive(Clone, Copy, Debug)]
pub struct Snapshot {
    pub gate: Gate,
    pub queued: usize,
    pub taken: usize,
    pub accepted: u64,
    pub refused: u64,
    pub drained: u64,
}

struct State<T> {
    items: VecDeque<T>,
    capacity: usize,
    gate: Gate,
    taken: usize,
    accepted: u64,
    refused: u64,
    drained: u64,
    sleeping_receivers: usize,
    sleeping_senders: usize,
    sleeping_quiet: usize,
}

impl<T> State<T> {
    fn is_quiet(&self) -> bool {
        self.items.is_empty() && self.taken == 0
    }
}

/// A lock-based MPMC queue with close semantics (see the module docs).
pub struct Channel<T> {
    state: Mutex<State<T>>,
    /// Receivers wait here for an item or the gate closing.
    items: Condvar,
    /// Senders blocked on a full queue wait here for room or the gate closing.
    room: Condvar,
    /// `wait_quiet` callers wait here.
    quiet: Condvar,
    /// Whether an item is queued or the gate is shut, for receivers that
    /// spin without the lock (see `recv`).
    hint: Hint,
}

impl<T> Channel<T> {
    /// `capacity` is the most items queued at once; `None` is unbounded.
    pub fn new(capacity: Option<usize>) -> Self {
        Channel {
            state: Mutex::new(State {
                items: VecDeque::new(),
                capacity: capacity.unwrap_or(usize::MAX),
                gate: Gate::Open,
                taken: 0,
                accepted: 0,
                refused: 0,
                drained: 0,
                sleeping_receivers: 0,
                sleeping_senders: 0,
                sleeping_quiet: 0,
            }),
            items: Condvar::named("items"),
            room: Condvar::named("room"),
            quiet: Condvar::named("quiet"),
            hint: Hint::new(),
        }
    }

    /// Queues `item`, or hands it back with the reason. With `block`, waits
    /// while the queue is full (until there is room or the gate closes).
    pub fn send(&self, item: T, block: bool) -> Result<(), (T, Refusal)> {
        let mut s = self.state.lock();
        loop {
            if s.gate != Gate::Open {
                s.refused += 1;
                trace::event!(RefusedClosed);
                return Err((item, Refusal::Closed));
            }
            if s.items.len() < s.capacity {
                break;
            }
            if !block {
                s.refused += 1;
                trace::event!(RefusedFull);
                return Err((item, Refusal::Full));
            }
            trace::event!(SendFull);
            s.sleeping_senders += 1;
            s = self.room.wait(s);
            s.sleeping_senders -= 1;
        }
        s.items.push_back(item);
        s.accepted += 1;
        self.hint.set(true);
        trace::event!(Pushed { queued: s.items.len() });
        let wake = s.sleeping_receivers > 0;
        // Notify after unlocking, so the woken receiver does not run
        // straight into the lock this sender still holds. A receiver counted
        // in `sleeping_receivers` was counted under the lock that its `wait`
        // releases atomically, so it is already waiting and cannot miss this.
        drop(s);
        if wake {
            self.items.notify_one();
        }
        Ok(())
    }

    /// Takes the next item, waiting for one; `None` once the gate is closed
    /// and the queue empty. `finished` reports that the item this receiver
    /// took last time is done.
    pub fn recv(&self, finished: bool) -> Option<T> {
        let mut s = self.state.lock();
        if finished {
            self.finish_locked(&mut s);
        }
        let backoff = Backoff::new();
        loop {
            if let Some(item) = s.items.pop_front() {
                s.taken += 1;
                self.hint.set(!s.items.is_empty() || s.gate != Gate::Open);
                backoff.ended();
                trace::event!(Took { left: s.items.len() });
                if s.sleeping_senders > 0 {
                    self.room.notify_one();
                }
                return Some(item);
            }
            if s.gate != Gate::Open {
                trace::event!(RecvClosed { queued: s.items.len() });
                return None;
            }
            if !backoff.is_completed() {
                // A sender is often about to push: give it the lock and the
                // CPU briefly before paying for a park and a wake-up, and
                // poll the hint rather than the lock the sender needs.
                // Every condition is checked again under the lock.
                drop(s);
                backoff.snooze();
                while !self.hint.worth_a_look() && !backoff.is_completed() {
                    backoff.snooze();
                }
                s = self.state.lock();
                continue;
            }
            trace::event!(RecvEmpty);
            s.sleeping_receivers += 1;
            backoff.parking();
            s = self.items.wait(s);
            s.sleeping_receivers -= 1;
        }
    }

    /// Reports a taken item done without taking another.
    pub fn finish(&self) {
        let mut s = self.state.lock();
        self.finish_locked(&mut s);
    }

    fn finish_locked(&self, s: &mut MutexGuard<'_, State<T>>) {
        trace::event!(Finished);
        s.taken -= 1;
        if s.sleeping_quiet > 0 && s.is_quiet() {
            self.quiet.notify_all();
        }
    }

    /// Refuses new items from now on. Idempotent.
    pub fn close(&self) {
        let mut s = self.state.lock();
        if s.gate == Gate::Open {
            s.gate = Gate::Closed;
            self.hint.set(true);
            trace::event!(Close { queued: s.items.len() });
            self.wake_all_blocked(&s);
        }
    }

    /// Refuses new items and hands back everything queued. Idempotent: a
    /// second call finds the queue empty.
    pub fn drain(&self) -> VecDeque<T> {
        let mut s = self.state.lock();
        let was_open = s.gate == Gate::Open;
        s.gate = Gate::Drained;
        self.hint.set(true);
        let items = std::mem::take(&mut s.items);
        s.drained += items.len() as u64;
        trace::event!(Drain { handed_back: items.len() });
        if was_open {
            self.wake_all_blocked(&s);
        }
        if s.sleeping_quiet > 0 && s.is_quiet() {
            self.quiet.notify_all();
        }
        items
    }

    fn wake_all_blocked(&self, s: &State<T>) {
        if s.sleeping_receivers > 0 {
            self.items.notify_all();
        }
        if s.sleeping_senders > 0 {
            self.room.notify_all();
        }
    }

    /// Blocks until the queue is empty and every taken item is finished.
    pub fn wait_quiet(&self) {
        let mut s = self.state.lock();
        while !s.is_quiet() {
            s.sleeping_quiet += 1;
            s = self.quiet.wait(s);
            s.sleeping_quiet -= 1;
        }
    }

    /// The counts and gate, read under one lock acquisition.
    pub fn snapshot(&self) -> Snapshot {
        let s = self.state.lock();
        Snapshot {
            gate: s.gate,
            queued: s.items.len(),
            taken: s.taken,
            accepted: s.accepted,
            refused: s.refused,
            drained: s.drained,
        }
    }
}
