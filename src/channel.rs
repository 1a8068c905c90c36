//! The pool's channel: a lock-based MPMC queue with close semantics.
//!
//! Separate locks, so that senders and receivers rarely meet. Senders lock
//! an **inbox** (the items they push, the gate, the sender-side counts);
//! receivers lock the **outbox** (items moved out of the inboxes, the
//! number of items taken and not yet finished, the `wait_quiet` sleepers).
//! A receiver with an empty outbox locks the inboxes, takes the oldest
//! item of one and moves that inbox's other items across in one swap, so
//! while senders run ahead of the receivers most takes never touch a
//! sender's lock.
//!
//! An unbounded channel has [`SHARDS`] inboxes, and each sending thread
//! keeps to one of them (see `sync::send_shard`): two threads submitting
//! at once then each write their own lock and buffer instead of passing
//! one lock's cache line back and forth for every item. A refill first
//! tries, on its own, the inbox the last refill took from (one sender's
//! lock), and every few refills passes it over for the others, so a busy
//! inbox cannot keep another waiting. Items from one thread stay in the
//! order it sent them; items from different threads have no order to
//! keep. A bounded channel has one inbox: its bound then counts the queue
//! exactly, under the one lock its senders hold, and a take moves its
//! oldest item alone.
//!
//! Each inbox keeps its oldest item in a field of its own, `first`, which
//! shares a cache line with the inbox's lock word (see [`Channel`]): when
//! one item at a time goes from a sender to an idle receiver, the hand-off
//! moves that one line between their cores instead of also the queue's
//! buffer.
//!
//! Lock order: the outbox, then the inboxes in index order. A sender holds
//! only its inbox. The gate is kept in every inbox and changed only with
//! all of them held, so under any one inbox lock a sender sees the gate
//! that holds.
//!
//! Keeping "taken" under the outbox lock is what lets
//! [`Channel::wait_quiet`] see "empty and nothing in flight" atomically
//! (it holds the outbox and looks at the inboxes, which only the outbox's
//! holder can take from); a receiver reports the previous item finished in
//! the same critical section in which it takes the next one.
//!
//! Waking receivers crosses the locks. A receiver decides to sleep holding
//! the outbox and every inbox: it counts itself among the sleepers, lets
//! go of the inboxes, and waits on the outbox lock. A sender that pushes
//! while the count is non-zero takes one count off (a wake-up it now
//! owes), and before notifying it locks and releases the outbox: the
//! receiver held the outbox from its count until its wait released it, so
//! once the sender has had the outbox, the receiver is waiting and cannot
//! miss the notify. With one inbox the count is a field of the inbox. With
//! more it is an atomic, because senders on different inboxes take from
//! it at once; it only grows with every inbox held, so a sender that reads
//! it under its inbox lock reads it after any receiver that counted
//! itself having found that inbox empty. A count left over by a receiver
//! that woke for another reason only costs a later sender one notify
//! nobody needed.
//!
//! Every wait re-checks its condition under its lock (no lost wakeup), and
//! a condvar is only notified when someone sleeps on it (no syscall on the
//! fast path).

use std::collections::VecDeque;

use crate::sync::{
    self, padded, AtomicUsize, Backoff, Condvar, Hint, Mutex, MutexGuard, Ordering, Padded,
};
use crate::trace;

/// How many inboxes an unbounded channel has (a power of two). Two: the
/// machine this pool is measured on has two cores, and the benchmark's
/// busiest case is two threads submitting at once.
pub const SHARDS: usize = 2;
const _: () = assert!(SHARDS.is_power_of_two());

/// How many refills in a row may take from the same inbox while another
/// one may be waiting (see `Channel::take_from_last_shard`).
const REFILLS_PER_TURN: u32 = 8;

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

/// A consistent view of the channel, taken under its locks.
#[derive(Clone, Copy, Debug)]
pub struct Snapshot {
    pub gate: Gate,
    pub queued: usize,
    pub taken: usize,
    pub accepted: u64,
    pub refused: u64,
    pub drained: u64,
}

/// One inbox: what the senders on it share. `repr(C)`: `first` and `rest`
/// come right after the lock word (see [`Channel`]).
#[repr(C)]
struct Inbox<T> {
    /// The oldest queued item; `None` only when nothing is queued.
    first: Option<T>,
    /// The items queued after `first`, oldest first.
    rest: VecDeque<T>,
    /// The same in every inbox (see the module docs).
    gate: Gate,
    /// With one inbox: receivers asleep on `items` that no sender has
    /// woken yet (see `Channel::sleeping_receivers`).
    sleeping_receivers: usize,
    refused: u64,
    sleeping_senders: usize,
}

impl<T> Inbox<T> {
    fn new() -> Self {
        Inbox {
            first: None,
            rest: VecDeque::new(),
            gate: Gate::Open,
            sleeping_receivers: 0,
            refused: 0,
            sleeping_senders: 0,
        }
    }

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

/// Every inbox of a channel, locked in index order.
struct Inboxes<'a, T>([Option<MutexGuard<'a, Inbox<T>>>; SHARDS]);

impl<'a, T> Inboxes<'a, T> {
    fn iter(&self) -> impl Iterator<Item = &Inbox<T>> {
        self.0.iter().flatten().map(|guard| &**guard)
    }

    fn iter_mut(&mut self) -> impl Iterator<Item = &mut Inbox<T>> + use<'_, 'a, T> {
        self.0.iter_mut().flatten().map(|guard| &mut **guard)
    }

    fn len(&self) -> usize {
        self.iter().map(Inbox::len).sum()
    }

    fn is_empty(&self) -> bool {
        self.iter().all(Inbox::is_empty)
    }

    /// The gate, which every inbox holds alike.
    fn gate(&self) -> Gate {
        self.iter().next().map_or(Gate::Closed, |inbox| inbox.gate)
    }

    fn set_gate(&mut self, gate: Gate) {
        for inbox in self.iter_mut() {
            inbox.gate = gate;
        }
    }
}

/// The receivers' side.
struct Outbox<T> {
    items: VecDeque<T>,
    /// Items that ever left an inbox (taken or moved here by receivers,
    /// or handed back by `drain`): with what the inboxes hold, everything
    /// ever accepted. Counted here, not by the senders, so that a send
    /// writes nothing outside its inbox's first cache line.
    left_inbox: u64,
    taken: usize,
    drained: u64,
    sleeping_quiet: usize,
    /// The inbox the last refill took from.
    shard: usize,
    /// Refills since an inbox other than `shard` was looked at first.
    refills: u32,
}

/// A lock-based MPMC queue with close semantics (see the module docs).
///
/// `repr(C)`, with the cache-padded fields first, starts each inbox on a
/// cache line of its own, and that line holds the inbox's lock word,
/// `first` and `rest`'s header (asserted below for the pool's item type).
/// A sender that finds its inbox empty writes only that line; a receiver
/// that takes a lone item reads only that line.
#[repr(C)]
pub struct Channel<T> {
    outbox: Padded<Mutex<Outbox<T>>>,
    /// Whether an item is queued or the gate is shut, for receivers that
    /// spin without the locks (see `recv`). Written under an inbox lock.
    hint: Hint,
    inboxes: [Padded<Mutex<Inbox<T>>>; SHARDS],
    /// With more than one inbox: receivers asleep on `items` that no
    /// sender has woken yet (see the module docs). With one, the count is
    /// kept in the inbox instead, under its lock, and this stays 0: the
    /// model checkers then see no atomic in the standard models.
    sleeping_receivers: Padded<AtomicUsize>,
    /// How many of `inboxes` are used: 1 when bounded, else [`SHARDS`].
    shards: usize,
    /// The most items queued at once (`usize::MAX`: unbounded).
    capacity: usize,
    /// Receivers wait here (releasing the outbox) for an item or the gate
    /// closing.
    items: Condvar,
    /// Senders blocked on a full queue wait here (releasing their inbox)
    /// for room or the gate closing.
    room: Condvar,
    /// `wait_quiet` callers wait here (releasing the outbox).
    quiet: Condvar,
}

// The layout `Channel` describes, for the pool's channel: each inbox starts
// a cache line, and its lock word, `first` and `rest` fit in that line.
// (std's `Mutex<T>` keeps `T` last, since `T` may be unsized.)
#[cfg(not(any(loom, shuttle)))]
const _: () = {
    use std::mem::{align_of, offset_of, size_of};
    type Pooled = crate::task::Job;
    const LINE: usize = 64;
    let lock_word = size_of::<Mutex<Inbox<Pooled>>>() - size_of::<Inbox<Pooled>>();
    assert!(offset_of!(Channel<Pooled>, inboxes) % LINE == 0);
    assert!(align_of::<Padded<Mutex<Inbox<Pooled>>>>() % LINE == 0);
    assert!(align_of::<Channel<Pooled>>() % LINE == 0);
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
                    shard: 0,
                    refills: 0,
                },
            )),
            inboxes: std::array::from_fn(|_| padded(Mutex::named("inbox", Inbox::new()))),
            sleeping_receivers: padded(AtomicUsize::new(0)),
            shards: if capacity.is_some() { 1 } else { sync::inbox_shards(SHARDS) },
            capacity: capacity.unwrap_or(usize::MAX),
            items: Condvar::named("items"),
            room: Condvar::named("room"),
            quiet: Condvar::named("quiet"),
            hint: Hint::new(),
        }
    }

    /// Every inbox in use, locked in index order.
    fn lock_inboxes(&self) -> Inboxes<'_, T> {
        Inboxes(std::array::from_fn(|k| {
            (k < self.shards).then(|| self.inboxes[k].lock())
        }))
    }

    /// Queues `item`, or hands it back with the reason. With `block`, waits
    /// while the queue is full (until there is room or the gate closes).
    pub fn send(&self, item: T, block: bool) -> Result<(), (T, Refusal)> {
        let shard = if self.shards > 1 {
            sync::send_shard() & (SHARDS - 1)
        } else {
            0
        };
        let mut i = self.inboxes[shard].lock();
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
        let wake = self.take_sleeping_receiver(&mut i);
        drop(i);
        if wake {
            self.wake_counted_receivers(false);
        }
        Ok(())
    }

    /// Counts a receiver asleep; the caller holds every inbox.
    fn count_sleeping_receiver(&self, all: &mut Inboxes<'_, T>) {
        match all.0.as_mut_slice() {
            [Some(only), ..] if self.shards == 1 => only.sleeping_receivers += 1,
            _ => {
                self.sleeping_receivers.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Takes a receiver off the count of sleepers, if there is one, for a
    /// sender that has just pushed under `i` and now owes it a wake-up.
    /// Read under the inbox lock: see the module docs.
    fn take_sleeping_receiver(&self, i: &mut Inbox<T>) -> bool {
        if self.shards == 1 {
            let owed = i.sleeping_receivers > 0;
            i.sleeping_receivers -= usize::from(owed);
            owed
        } else {
            self.sleeping_receivers.load(Ordering::Relaxed) > 0
                && self
                    .sleeping_receivers
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                    .is_ok()
        }
    }

    /// Takes every receiver off the count of sleepers; the caller holds
    /// every inbox. Whether there was any.
    fn take_all_sleeping_receivers(&self, all: &mut Inboxes<'_, T>) -> bool {
        let in_inboxes: usize = all
            .iter_mut()
            .map(|i| std::mem::take(&mut i.sleeping_receivers))
            .sum();
        in_inboxes > 0 || (self.shards > 1 && self.sleeping_receivers.swap(0, Ordering::Relaxed) > 0)
    }

    /// Notifies one (or every) receiver taken off the count of sleepers;
    /// the caller has let go of its inbox. A receiver counts itself asleep
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
            if let Some(item) = self.take_from_last_shard(&mut o) {
                break item;
            }
            let mut all = self.lock_inboxes();
            if let Some(item) = self.refill(&mut o, &mut all) {
                let more = !o.items.is_empty() || !all.is_empty();
                self.hint.set(more || all.gate() != Gate::Open);
                break item;
            }
            if all.gate() != Gate::Open {
                trace::event!(RecvClosed { queued: 0 });
                return None;
            }
            self.hint.set(false);
            if !backoff.is_completed() {
                // A sender is often about to push: give it the lock and the
                // CPU briefly before paying for a park and a wake-up, and
                // poll the hint rather than the locks. Every condition is
                // checked again under the locks.
                drop(all);
                drop(o);
                backoff.snooze();
                while !self.hint.worth_a_look() && !backoff.is_completed() {
                    backoff.snooze();
                }
                o = self.outbox.lock();
                continue;
            }
            trace::event!(RecvEmpty);
            self.count_sleeping_receiver(&mut all);
            drop(all);
            backoff.parking();
            o = self.items.wait(o);
        };
        o.taken += 1;
        backoff.ended();
        trace::event!(Took { left: o.items.len() });
        Some(item)
    }

    /// With more than one inbox: takes from the inbox the last refill took
    /// from, on its own, when it has items, so that a refill usually
    /// touches one sender's lock; every [`REFILLS_PER_TURN`]th refill
    /// passes it over for the others (through [`refill`](Self::refill)),
    /// so a busy inbox cannot keep the others waiting.
    ///
    /// Workers that keep up with a sender come here for every item it
    /// pushes, and find its lock held; backing off on it rather than
    /// spinning on its word lets the sender push several items in a row
    /// (one producer on mimalloc: 91-106 against 130-166 ns per task;
    /// docs/PERFORMANCE.md).
    fn take_from_last_shard(&self, o: &mut Outbox<T>) -> Option<T> {
        if self.shards == 1 {
            return None;
        }
        o.refills += 1;
        if o.refills >= REFILLS_PER_TURN {
            o.refills = 0;
            return None;
        }
        let mut i = self.inboxes[o.shard].lock_backing_off();
        let item = i.first.take()?;
        o.left_inbox += 1 + i.rest.len() as u64;
        std::mem::swap(&mut o.items, &mut i.rest);
        // Other inboxes are not looked at: one with items and a false hint
        // only makes a spinning receiver finish its backoff before it looks.
        self.hint.set(!o.items.is_empty() || i.gate != Gate::Open);
        Some(item)
    }

    /// Takes the oldest item of the first non-empty inbox after the one the
    /// last refill took from (that one last); from an unbounded channel,
    /// also moves that inbox's other items to the outbox.
    fn refill(&self, o: &mut Outbox<T>, all: &mut Inboxes<'_, T>) -> Option<T> {
        for step in 1..=self.shards {
            let k = (o.shard + step) % self.shards;
            let Some(i) = all.0[k].as_deref_mut() else {
                continue;
            };
            let Some(item) = i.first.take() else {
                continue;
            };
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
            o.shard = k;
            return Some(item);
        }
        None
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
    /// The inboxes are looked at one at a time: only the outbox's holder
    /// takes from them, so one found empty stays empty or gains items sent
    /// after the moment the first was found empty.
    fn is_quiet(&self, o: &Outbox<T>) -> bool {
        o.taken == 0
            && o.items.is_empty()
            && self.inboxes[..self.shards]
                .iter()
                .all(|inbox| inbox.lock().is_empty())
    }

    /// Refuses new items from now on. Idempotent.
    pub fn close(&self) {
        let mut all = self.lock_inboxes();
        if all.gate() == Gate::Open {
            all.set_gate(Gate::Closed);
            self.hint.set(true);
            trace::event!(Close { queued: all.len() });
            self.wake_all_blocked(all);
        }
    }

    /// Refuses new items and hands back everything queued. Idempotent: a
    /// second call finds the queue empty.
    pub fn drain(&self) -> VecDeque<T> {
        let mut o = self.outbox.lock();
        let mut all = self.lock_inboxes();
        let was_open = all.gate() == Gate::Open;
        all.set_gate(Gate::Drained);
        self.hint.set(true);
        let mut items = std::mem::take(&mut o.items);
        for i in all.iter_mut() {
            o.left_inbox += i.len() as u64;
            items.extend(i.first.take());
            items.append(&mut i.rest);
        }
        o.drained += items.len() as u64;
        trace::event!(Drain { handed_back: items.len() });
        let quiet = o.sleeping_quiet > 0 && o.taken == 0;
        drop(o);
        if quiet {
            self.quiet.notify_all();
        }
        if was_open {
            self.wake_all_blocked(all);
        }
        items
    }

    /// Wakes every receiver and sender asleep; the caller has just shut the
    /// gate under `all`.
    fn wake_all_blocked(&self, mut all: Inboxes<'_, T>) {
        if all.iter().any(|i| i.sleeping_senders > 0) {
            self.room.notify_all();
        }
        let receivers = self.take_all_sleeping_receivers(&mut all);
        drop(all);
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

    /// The counts and gate, read under every lock.
    pub fn snapshot(&self) -> Snapshot {
        let o = self.outbox.lock();
        let all = self.lock_inboxes();
        Snapshot {
            gate: all.gate(),
            queued: o.items.len() + all.len(),
            taken: o.taken,
            accepted: o.left_inbox + all.len() as u64,
            refused: all.iter().map(|i| i.refused).sum(),
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

    /// Items `(0, n)` sent from this thread on inbox 0 and `(1, n)` from
    /// another on inbox 1, `n` in `0..each`.
    fn sent_on_both_inboxes(each: u32) -> Channel<(u8, u32)> {
        let c = Channel::new(None);
        crate::sync::send_on_shard(0);
        std::thread::scope(|s| {
            s.spawn(|| {
                crate::sync::send_on_shard(1);
                (0..each).for_each(|n| c.send((1, n), false).unwrap());
            });
            (0..each).for_each(|n| c.send((0, n), false).unwrap());
        });
        c
    }

    #[test]
    fn items_sent_to_two_inboxes_all_leave_each_sender_s_in_order() {
        let c = sent_on_both_inboxes(100);
        assert_eq!(c.snapshot().queued, 200);
        let mut next = [0, 0];
        for _ in 0..200 {
            let (from, n) = c.recv(false).unwrap();
            assert_eq!(n, next[usize::from(from)]);
            next[usize::from(from)] += 1;
        }
        assert_eq!(next, [100, 100]);
        c.close();
        assert_eq!(c.recv(false), None);
    }

    #[test]
    fn drain_hands_back_the_items_of_every_inbox() {
        let c = sent_on_both_inboxes(3);
        assert!(c.recv(false).is_some());
        let handed_back = c.drain();
        assert_eq!(handed_back.len(), 5);
        let s = c.snapshot();
        assert_eq!((s.queued, s.accepted, s.drained), (0, 6, 5));
        assert_eq!(c.send((0, 9), false), Err(((0, 9), Refusal::Closed)));
    }

    /// One thread keeps its inbox busy; an item waiting in the other one is
    /// still taken within one turn of refills.
    #[test]
    fn a_busy_inbox_does_not_keep_another_waiting() {
        let c = Channel::new(None);
        crate::sync::send_on_shard(0);
        c.send(0, false).unwrap();
        assert_eq!(c.recv(false), Some(0));
        std::thread::scope(|s| {
            s.spawn(|| {
                crate::sync::send_on_shard(1);
                c.send(u32::MAX, false).unwrap();
            });
        });
        let waited = (1..=2 * REFILLS_PER_TURN)
            .find(|&n| {
                c.send(n, false).unwrap();
                c.recv(true) == Some(u32::MAX)
            })
            .expect("the other inbox's item was never taken");
        assert!(waited <= REFILLS_PER_TURN, "taken after {waited} refills");
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
