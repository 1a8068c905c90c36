//! The pool's channel: a lock-based MPMC queue with close semantics.
//!
//! Two locks, so that senders and receivers rarely meet. Senders lock the
//! **inbox** (the items they push, the gate, the sender-side counts);
//! receivers lock the **outbox** (items moved out of the inbox, the number
//! of items taken and not yet finished, the `wait_quiet` sleepers). A
//! receiver with an empty outbox also locks the inbox, takes its oldest
//! item and moves the rest across in one swap, so while senders run ahead
//! of the receivers most takes never touch the senders' lock. A bounded
//! channel takes the oldest item alone instead: its bound then counts the
//! inbox alone, exactly, under the lock the senders hold.
//!
//! The inbox keeps its oldest item in a field of its own, `first`, which
//! shares a cache line with the inbox's lock word (see [`Channel`]): when
//! one item at a time goes from a sender to an idle receiver, the hand-off
//! moves that one line between their cores instead of also the queue's
//! buffer.
//!
//! Lock order: outbox, then inbox. A sender holds only the inbox.
//!
//! Keeping "taken" under the outbox lock is what lets
//! [`Channel::wait_quiet`] see "empty and nothing in flight" atomically
//! (it holds the outbox and looks at the inbox); a receiver reports the
//! previous item finished in the same critical section in which it takes
//! the next one.
//!
//! Waking receivers crosses the two locks. A receiver decides to sleep
//! holding both: it counts itself in the inbox's `sleeping_receivers`,
//! lets go of the inbox, and waits on the outbox lock. A sender that
//! pushes while the count is non-zero takes one count off (a wake-up it
//! now owes), and before notifying it locks and releases the outbox: the
//! receiver held the outbox from its count until its wait released it, so
//! once the sender has had the outbox, the receiver is waiting and cannot
//! miss the notify. A count left over by a receiver that woke for another
//! reason only costs a later sender one notify nobody needed.
//!
//! Every wait re-checks its condition under its lock (no lost wakeup), and
//! a condvar is only notified when someone sleeps on it (no syscall on the
//! fast path).

use std::collections::VecDeque;

use crate::sync::{padded, Backoff, Condvar, Hint, Mutex, MutexGuard, Padded};
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

/// The senders' side. `repr(C)`: `first` and `rest` come right after the
/// lock word (see [`Channel`]).
#[repr(C)]
struct Inbox<T> {
    /// The oldest queued item; `None` only when nothing is queued.
    first: Option<T>,
    /// The items queued after `first`, oldest first.
    rest: VecDeque<T>,
    gate: Gate,
    /// Receivers asleep on `items` that no sender has woken yet (see the
    /// module docs).
    sleeping_receivers: usize,
    refused: u64,
    sleeping_senders: usize,
}

impl<T> Inbox<T> {
    fn len(&self) -> usize {
        usize::from(self.first.is_some()) + self.rest.len()
    }

    fn is_empty(&self) -> bool {
        self.first.is_none()
    }

    fn push(&mut self, item: T) {
        if self.first.is_none() {
            self.first = Some(item);
        } else {
            self.rest.push_back(item);
        }
    }
}

/// The receivers' side.
struct Outbox<T> {
    items: VecDeque<T>,
    /// Items that ever left the inbox (taken or moved here by receivers,
    /// or handed back by `drain`): with what the inbox holds, everything
    /// ever accepted. Counted here, not by the senders, so that a send
    /// writes nothing outside the inbox's first cache line.
    left_inbox: u64,
    taken: usize,
    drained: u64,
    sleeping_quiet: usize,
}

/// A lock-based MPMC queue with close semantics (see the module docs).
///
/// `repr(C)`, with the two cache-padded fields first, starts the inbox on
/// a cache line of its own, and that line holds the lock word, `first`
/// and `rest`'s header (asserted below for the pool's item type). A
/// sender that finds the inbox empty writes only that line; a receiver
/// that takes a lone item reads only that line.
#[repr(C)]
pub struct Channel<T> {
    outbox: Padded<Mutex<Outbox<T>>>,
    /// Whether an item is queued or the gate is shut, for receivers that
    /// spin without the locks (see `recv`). Written under the inbox lock.
    hint: Hint,
    inbox: Mutex<Inbox<T>>,
    /// The most items queued at once (`usize::MAX`: unbounded).
    capacity: usize,
    /// Receivers wait here (releasing the outbox) for an item or the gate
    /// closing.
    items: Condvar,
    /// Senders blocked on a full queue wait here (releasing the inbox) for
    /// room or the gate closing.
    room: Condvar,
    /// `wait_quiet` callers wait here (releasing the outbox).
    quiet: Condvar,
}

// The layout `Channel` describes, for the pool's channel: the inbox starts
// a cache line, and its lock word, `first` and `rest` fit in that line.
// (std's `Mutex<T>` keeps `T` last, since `T` may be unsized.)
#[cfg(not(any(loom, shuttle)))]
const _: () = {
    use std::mem::{offset_of, size_of};
    type Pooled = crate::task::Job;
    const LINE: usize = 64;
    let lock_word = size_of::<Mutex<Inbox<Pooled>>>() - size_of::<Inbox<Pooled>>();
    assert!(offset_of!(Channel<Pooled>, inbox) % LINE == 0);
    assert!(std::mem::align_of::<Channel<Pooled>>() % LINE == 0);
    assert!(
        lock_word + offset_of!(Inbox<Pooled>, rest) + size_of::<VecDeque<Pooled>>() <= LINE
    );
};

impl<T> Channel<T> {
    /// `capacity` is the most items queued at once; `None` is unbounded.
    pub fn new(capacity: Option<usize>) -> Self {
        Channel {
            outbox: padded(Mutex::named(
                "outbox",
                Outbox {
                    items: VecDeque::new(),
                    left_inbox: 0,
                    taken: 0,
                    drained: 0,
                    sleeping_quiet: 0,
                },
            )),
            inbox: Mutex::named(
                "inbox",
                Inbox {
                    first: None,
                    rest: VecDeque::new(),
                    gate: Gate::Open,
                    refused: 0,
                    sleeping_receivers: 0,
                    sleeping_senders: 0,
                },
            ),
            capacity: capacity.unwrap_or(usize::MAX),
            items: Condvar::named("items"),
            room: Condvar::named("room"),
            quiet: Condvar::named("quiet"),
            hint: Hint::new(),
        }
    }

    /// Queues `item`, or hands it back with the reason. With `block`, waits
    /// while the queue is full (until there is room or the gate closes).
    pub fn send(&self, item: T, block: bool) -> Result<(), (T, Refusal)> {
        let mut i = self.inbox.lock();
        loop {
            if i.gate != Gate::Open {
                i.refused += 1;
                trace::event!(RefusedClosed);
                return Err((item, Refusal::Closed));
            }
            if i.len() < self.capacity {
                break;
            }
            if !block {
                i.refused += 1;
                trace::event!(RefusedFull);
                return Err((item, Refusal::Full));
            }
            trace::event!(SendFull);
            i.sleeping_senders += 1;
            i = self.room.wait(i);
            i.sleeping_senders -= 1;
        }
        i.push(item);
        self.hint.set(true);
        trace::event!(Pushed { queued: i.len() });
        let wake = i.sleeping_receivers > 0;
        if wake {
            i.sleeping_receivers -= 1;
        }
        drop(i);
        if wake {
            self.wake_counted_receivers(false);
        }
        Ok(())
    }

    /// Notifies one (or every) receiver taken off `sleeping_receivers`;
    /// the caller has let go of the inbox. A receiver counts itself asleep
    /// holding the outbox, which it holds until its wait releases it: once
    /// we have had the outbox, it is waiting. Notify after letting go, so
    /// that it does not wake into a lock we hold.
    fn wake_counted_receivers(&self, all: bool) {
        drop(self.outbox.lock());
        if all {
            self.items.notify_all();
        } else {
            self.items.notify_one();
        }
    }

    /// Takes the next item, waiting for one; `None` once the gate is closed
    /// and the queue empty. `finished` reports that the item this receiver
    /// took last time is done.
    pub fn recv(&self, finished: bool) -> Option<T> {
        let mut o = self.outbox.lock_backing_off();
        if finished {
            self.finish_locked(&mut o);
        }
        let backoff = Backoff::new();
        let item = loop {
            if let Some(item) = o.items.pop_front() {
                break item;
            }
            let mut i = self.inbox.lock();
            if let Some(item) = i.first.take() {
                if self.capacity == usize::MAX {
                    o.left_inbox += 1 + i.rest.len() as u64;
                    std::mem::swap(&mut o.items, &mut i.rest);
                } else {
                    o.left_inbox += 1;
                    i.first = i.rest.pop_front();
                    if i.sleeping_senders > 0 {
                        self.room.notify_one();
                    }
                }
                let more = !o.items.is_empty() || !i.is_empty();
                self.hint.set(more || i.gate != Gate::Open);
                break item;
            }
            if i.gate != Gate::Open {
                trace::event!(RecvClosed { queued: 0 });
                return None;
            }
            self.hint.set(false);
            if !backoff.is_completed() {
                // A sender is often about to push: give it the lock and the
                // CPU briefly before paying for a park and a wake-up, and
                // poll the hint rather than the locks. Every condition is
                // checked again under the locks.
                drop(i);
                drop(o);
                backoff.snooze();
                while !self.hint.worth_a_look() && !backoff.is_completed() {
                    backoff.snooze();
                }
                o = self.outbox.lock();
                continue;
            }
            trace::event!(RecvEmpty);
            i.sleeping_receivers += 1;
            drop(i);
            backoff.parking();
            o = self.items.wait(o);
        };
        o.taken += 1;
        backoff.ended();
        trace::event!(Took { left: o.items.len() });
        Some(item)
    }

    /// Reports a taken item done without taking another.
    pub fn finish(&self) {
        let mut o = self.outbox.lock();
        self.finish_locked(&mut o);
    }

    fn finish_locked(&self, o: &mut MutexGuard<'_, Outbox<T>>) {
        trace::event!(Finished);
        o.taken -= 1;
        if o.sleeping_quiet > 0 && self.is_quiet(o) {
            self.quiet.notify_all();
        }
    }

    /// Whether nothing is queued or in flight; the caller holds the outbox.
    fn is_quiet(&self, o: &Outbox<T>) -> bool {
        o.taken == 0 && o.items.is_empty() && self.inbox.lock().is_empty()
    }

    /// Refuses new items from now on. Idempotent.
    pub fn close(&self) {
        let mut i = self.inbox.lock();
        if i.gate == Gate::Open {
            i.gate = Gate::Closed;
            self.hint.set(true);
            trace::event!(Close { queued: i.len() });
            self.wake_all_blocked(i);
        }
    }

    /// Refuses new items and hands back everything queued. Idempotent: a
    /// second call finds the queue empty.
    pub fn drain(&self) -> VecDeque<T> {
        let mut o = self.outbox.lock();
        let mut i = self.inbox.lock();
        let was_open = i.gate == Gate::Open;
        i.gate = Gate::Drained;
        self.hint.set(true);
        let mut items = std::mem::take(&mut o.items);
        o.left_inbox += i.len() as u64;
        items.extend(i.first.take());
        items.append(&mut i.rest);
        o.drained += items.len() as u64;
        trace::event!(Drain { handed_back: items.len() });
        let quiet = o.sleeping_quiet > 0 && o.taken == 0;
        drop(o);
        if quiet {
            self.quiet.notify_all();
        }
        if was_open {
            self.wake_all_blocked(i);
        }
        items
    }

    /// Wakes every receiver and sender asleep; the caller has just shut the
    /// gate under `i`.
    fn wake_all_blocked(&self, mut i: MutexGuard<'_, Inbox<T>>) {
        if i.sleeping_senders > 0 {
            self.room.notify_all();
        }
        let receivers = std::mem::take(&mut i.sleeping_receivers) > 0;
        drop(i);
        if receivers {
            self.wake_counted_receivers(true);
        }
    }

    /// Blocks until the queue is empty and every taken item is finished.
    pub fn wait_quiet(&self) {
        let mut o = self.outbox.lock();
        while !self.is_quiet(&o) {
            o.sleeping_quiet += 1;
            o = self.quiet.wait(o);
            o.sleeping_quiet -= 1;
        }
    }

    /// The counts and gate, read under both locks.
    pub fn snapshot(&self) -> Snapshot {
        let o = self.outbox.lock();
        let i = self.inbox.lock();
        Snapshot {
            gate: i.gate,
            queued: o.items.len() + i.len(),
            taken: o.taken,
            accepted: o.left_inbox + i.len() as u64,
            refused: i.refused,
            drained: o.drained,
        }
    }
}

#[cfg(all(test, not(any(loom, shuttle))))]
mod tests {
    use super::*;

    /// A channel with `0..n` sent.
    fn sent(capacity: Option<usize>, n: u32) -> Channel<u32> {
        let c = Channel::new(capacity);
        for item in 0..n {
            c.send(item, false).unwrap();
        }
        c
    }

    /// The inbox keeps its oldest item apart from the rest; every way out
    /// (a take that moves the rest across, a bounded take, `drain`) must
    /// still hand items over oldest first, and the counts must still add up.
    #[test]
    fn items_leave_oldest_first_whichever_part_of_the_inbox_holds_them() {
        let c = sent(None, 3);
        // 0 was `first`; 1 and 2 move to the outbox with this take.
        assert_eq!(c.recv(false), Some(0));
        c.send(3, false).unwrap();
        assert_eq!([c.recv(true), c.recv(true)], [Some(1), Some(2)]);
        c.send(4, false).unwrap();
        c.send(5, false).unwrap();
        assert_eq!(c.recv(true), Some(3));
        let s = c.snapshot();
        assert_eq!((s.queued, s.taken, s.accepted), (2, 1, 6));
        assert_eq!(c.drain(), [4, 5]);
        let s = c.snapshot();
        assert_eq!((s.queued, s.accepted, s.drained), (0, 6, 2));
    }

    #[test]
    fn drain_hands_back_the_outbox_then_first_then_the_rest() {
        let c = sent(None, 3);
        assert_eq!(c.recv(false), Some(0));
        c.send(3, false).unwrap();
        c.send(4, false).unwrap();
        assert_eq!(c.drain(), [1, 2, 3, 4]);
        let s = c.snapshot();
        assert_eq!((s.queued, s.taken, s.accepted, s.drained), (0, 1, 5, 4));
    }

    #[test]
    fn a_bounded_inbox_counts_first_against_its_bound_and_refills_it_in_order() {
        let c = sent(Some(3), 3);
        assert_eq!(c.send(3, false), Err((3, Refusal::Full)));
        assert_eq!(c.recv(false), Some(0));
        c.send(3, false).unwrap();
        assert_eq!(c.send(4, false), Err((4, Refusal::Full)));
        assert_eq!([c.recv(true), c.recv(true), c.recv(true)], [Some(1), Some(2), Some(3)]);
        let s = c.snapshot();
        assert_eq!((s.queued, s.taken, s.accepted, s.refused), (0, 1, 4, 2));
    }
}
