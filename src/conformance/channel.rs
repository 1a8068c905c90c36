//! The pool's queue on its own, against a `VecDeque` model.
//!
//! [`ChannelUnderTest`] is a thin public wrapper over the crate-private
//! channel; [`check_channel_program`] drives it from one thread with
//! [`ChannelOp`]s, skipping the operations that would block (the model says
//! which), and compares every result and snapshot with [`ChannelModel`].

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};

use arbitrary::{Arbitrary, Unstructured};

use crate::channel::{Channel, Gate, Refusal};

use super::program::from_fuzz_input;
use super::{ensure, violation, Violation};

/// The receivers a [`ChannelProgram`] takes items with (each like a worker:
/// it holds its last item until it reports it finished).
///
/// ```
/// use verified_pool::conformance::{ChannelModel, CHANNEL_RECEIVERS};
///
/// let mut model = ChannelModel::new(None);
/// for r in 0..CHANNEL_RECEIVERS {
///     model.send().1.unwrap();
///     assert_eq!(model.recv(r), Some(r as u64)); // each receiver holds one item
/// }
/// assert_eq!(model.snapshot().taken, CHANNEL_RECEIVERS);
/// ```
pub const CHANNEL_RECEIVERS: usize = 3;
/// The largest bounded capacity a [`ChannelProgram`] uses.
const MAX_CHANNEL_CAPACITY: usize = 8;
/// The most operations a [`ChannelProgram`] has.
const MAX_CHANNEL_OPS: usize = 128;

/// Whether the channel still accepts items.
///
/// ```
/// use verified_pool::conformance::{ChannelGate, ChannelUnderTest};
///
/// let channel = ChannelUnderTest::new(None);
/// assert_eq!(channel.snapshot().gate, ChannelGate::Open);
/// channel.close();
/// assert_eq!(channel.snapshot().gate, ChannelGate::Closed);
/// channel.drain();
/// assert_eq!(channel.snapshot().gate, ChannelGate::Drained);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ChannelGate {
    /// Accepting.
    Open,
    /// `close()`d: refusing, still handing out what is queued.
    Closed,
    /// `drain()`ed: refusing, what was queued was handed back.
    Drained,
}

/// Why a send was refused.
///
/// ```
/// use verified_pool::conformance::{ChannelRefusal, ChannelUnderTest};
///
/// let channel = ChannelUnderTest::new(Some(1));
/// channel.send(0, false).unwrap();
/// assert_eq!(channel.send(1, false), Err((1, ChannelRefusal::Full)));
/// channel.close();
/// assert_eq!(channel.send(2, true), Err((2, ChannelRefusal::Closed))); // no wait once closed
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ChannelRefusal {
    /// The gate is not open.
    Closed,
    /// The bounded queue is full and the sender would not wait.
    Full,
}

/// The channel's counters and gate, read under one lock.
///
/// ```
/// use verified_pool::conformance::{ChannelGate, ChannelSnapshot, ChannelUnderTest};
///
/// let channel = ChannelUnderTest::new(Some(2));
/// for item in 0..3 {
///     let _ = channel.send(item, false); // the third is refused
/// }
/// assert_eq!(channel.recv(false), Some(0)); // this thread now holds item 0
/// let s: ChannelSnapshot = channel.snapshot();
/// assert_eq!((s.gate, s.queued, s.taken), (ChannelGate::Open, 1, 1));
/// assert_eq!((s.accepted, s.refused, s.drained), (2, 1, 0));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ChannelSnapshot {
    /// The gate.
    pub gate: ChannelGate,
    /// Items queued.
    pub queued: usize,
    /// Items taken by receivers and not yet reported finished.
    pub taken: usize,
    /// Sends accepted.
    pub accepted: u64,
    /// Sends refused.
    pub refused: u64,
    /// Items handed back by `drain()`.
    pub drained: u64,
}

/// The pool's channel carrying `u64`s, for tests: each method calls the
/// channel's method of the same name.
///
/// ```
/// use verified_pool::conformance::ChannelUnderTest;
///
/// let channel = ChannelUnderTest::new(None);
/// channel.send(7, false).unwrap();
/// channel.close(); // refuses new items, still hands out what is queued
/// assert_eq!(channel.recv(false), Some(7));
/// assert_eq!(channel.recv(true), None); // closed and empty: a worker would exit
/// ```
pub struct ChannelUnderTest {
    channel: Channel<u64>,
}

impl std::fmt::Debug for ChannelUnderTest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChannelUnderTest")
            .field("snapshot", &self.snapshot())
            .finish()
    }
}

impl ChannelUnderTest {
    /// A channel holding at most `capacity` items (`None`: unbounded).
    ///
    /// ```
    /// use verified_pool::conformance::ChannelUnderTest;
    ///
    /// let bounded = ChannelUnderTest::new(Some(1));
    /// bounded.send(0, false).unwrap();
    /// assert!(bounded.send(1, false).is_err());
    /// let unbounded = ChannelUnderTest::new(None);
    /// for item in 0..100 {
    ///     unbounded.send(item, false).unwrap();
    /// }
    /// assert_eq!(unbounded.snapshot().queued, 100);
    /// ```
    pub fn new(capacity: Option<usize>) -> Self {
        ChannelUnderTest {
            channel: Channel::new(capacity),
        }
    }

    /// Queues `item`, or hands it back with the reason. With `block`, waits
    /// while the queue is full.
    ///
    /// ```
    /// use verified_pool::conformance::{ChannelRefusal, ChannelUnderTest};
    ///
    /// let channel = ChannelUnderTest::new(Some(1));
    /// assert_eq!(channel.send(0, false), Ok(()));
    /// assert_eq!(channel.send(1, false), Err((1, ChannelRefusal::Full))); // handed back
    /// std::thread::scope(|s| {
    ///     s.spawn(|| channel.send(2, true).unwrap()); // waits for room
    ///     assert_eq!(channel.recv(false), Some(0)); // makes room
    /// });
    /// assert_eq!(channel.recv(true), Some(2));
    /// ```
    pub fn send(&self, item: u64, block: bool) -> Result<(), (u64, ChannelRefusal)> {
        self.channel.send(item, block).map_err(|(item, why)| {
            let why = match why {
                Refusal::Closed => ChannelRefusal::Closed,
                Refusal::Full => ChannelRefusal::Full,
            };
            (item, why)
        })
    }

    /// Takes the next item, waiting for one; `None` once the gate is closed
    /// and the queue empty. `finished` reports the caller's previous item
    /// done (only pass it when the caller holds one).
    ///
    /// ```
    /// use verified_pool::conformance::ChannelUnderTest;
    ///
    /// let channel = ChannelUnderTest::new(None);
    /// channel.send(1, false).unwrap();
    /// channel.send(2, false).unwrap();
    /// assert_eq!(channel.recv(false), Some(1)); // this receiver held nothing before
    /// assert_eq!(channel.recv(true), Some(2)); // item 1 is reported finished
    /// assert_eq!(channel.snapshot().taken, 1);
    /// ```
    pub fn recv(&self, finished: bool) -> Option<u64> {
        self.channel.recv(finished)
    }

    /// Reports the caller's held item done (only call it when it holds one).
    ///
    /// ```
    /// use verified_pool::conformance::ChannelUnderTest;
    ///
    /// let channel = ChannelUnderTest::new(None);
    /// channel.send(1, false).unwrap();
    /// channel.recv(false);
    /// assert_eq!(channel.snapshot().taken, 1);
    /// channel.finish();
    /// assert_eq!(channel.snapshot().taken, 0);
    /// ```
    pub fn finish(&self) {
        self.channel.finish();
    }

    /// Refuses new items from now on.
    ///
    /// ```
    /// use verified_pool::conformance::{ChannelRefusal, ChannelUnderTest};
    ///
    /// let channel = ChannelUnderTest::new(None);
    /// channel.send(1, false).unwrap();
    /// channel.close();
    /// assert_eq!(channel.send(2, false), Err((2, ChannelRefusal::Closed)));
    /// assert_eq!(channel.recv(false), Some(1)); // queued items still come out
    /// ```
    pub fn close(&self) {
        self.channel.close();
    }

    /// Refuses new items and hands back everything queued, in order.
    ///
    /// ```
    /// use verified_pool::conformance::{ChannelGate, ChannelUnderTest};
    ///
    /// let channel = ChannelUnderTest::new(None);
    /// for item in 0..3 {
    ///     channel.send(item, false).unwrap();
    /// }
    /// assert_eq!(channel.drain(), [0, 1, 2]);
    /// let s = channel.snapshot();
    /// assert_eq!((s.gate, s.queued, s.drained), (ChannelGate::Drained, 0, 3));
    /// ```
    pub fn drain(&self) -> Vec<u64> {
        self.channel.drain().into_iter().collect()
    }

    /// Waits until nothing is queued or held.
    ///
    /// ```
    /// use verified_pool::conformance::ChannelUnderTest;
    ///
    /// let channel = ChannelUnderTest::new(None);
    /// channel.send(1, false).unwrap();
    /// std::thread::scope(|s| {
    ///     s.spawn(|| {
    ///         channel.recv(false);
    ///         channel.finish();
    ///     });
    ///     channel.wait_quiet(); // until item 1 is taken and reported finished
    ///     let snapshot = channel.snapshot();
    ///     assert_eq!((snapshot.queued, snapshot.taken), (0, 0));
    /// });
    /// ```
    pub fn wait_quiet(&self) {
        self.channel.wait_quiet();
    }

    /// The counters and gate.
    ///
    /// ```
    /// use verified_pool::conformance::ChannelUnderTest;
    ///
    /// let channel = ChannelUnderTest::new(Some(1));
    /// channel.send(0, false).unwrap();
    /// let _ = channel.send(1, false); // refused: full
    /// let s = channel.snapshot();
    /// assert_eq!((s.queued, s.accepted, s.refused), (1, 1, 1));
    /// ```
    pub fn snapshot(&self) -> ChannelSnapshot {
        let s = self.channel.snapshot();
        ChannelSnapshot {
            gate: match s.gate {
                Gate::Open => ChannelGate::Open,
                Gate::Closed => ChannelGate::Closed,
                Gate::Drained => ChannelGate::Drained,
            },
            queued: s.queued,
            taken: s.taken,
            accepted: s.accepted,
            refused: s.refused,
            drained: s.drained,
        }
    }
}

/// One operation on the channel. Items are numbered by the checker, from 0.
///
/// ```
/// use verified_pool::conformance::{check_channel_program, ChannelOp, ChannelProgram};
///
/// let program = ChannelProgram {
///     capacity: Some(1),
///     ops: vec![
///         ChannelOp::TrySend, // item 0
///         ChannelOp::Send,    // would wait on the full queue: skipped
///         ChannelOp::Recv(4), // receiver 4 % 3 = 1 takes item 0
///         ChannelOp::Finish(1),
///         ChannelOp::WaitQuiet,
///         ChannelOp::Drain,
///     ],
/// };
/// check_channel_program(&program).unwrap();
/// ```
#[derive(Arbitrary, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ChannelOp {
    /// `send(next, false)`.
    TrySend,
    /// `send(next, true)`, skipped when it would block.
    Send,
    /// Receiver `r % CHANNEL_RECEIVERS` takes an item (reporting its held
    /// one finished), skipped when it would block.
    Recv(u8),
    /// Receiver `r % CHANNEL_RECEIVERS` reports its held item finished,
    /// skipped when it holds none.
    Finish(u8),
    /// `close()`.
    Close,
    /// `drain()`.
    Drain,
    /// `wait_quiet()`, skipped when it would block.
    WaitQuiet,
    /// `snapshot()` (every operation is followed by one anyway).
    Snapshot,
}

/// A channel configuration and the operations to run on it.
///
/// ```
/// use verified_pool::conformance::{check_channel_program, ChannelOp, ChannelProgram};
///
/// let program = ChannelProgram {
///     capacity: None,
///     ops: vec![ChannelOp::TrySend, ChannelOp::Close, ChannelOp::TrySend, ChannelOp::Recv(0)],
/// };
/// check_channel_program(&program).unwrap();
/// assert_eq!(program.ops.len(), 4);
/// ```
#[derive(Arbitrary, Clone, Debug, PartialEq, Eq, Hash)]
pub struct ChannelProgram {
    /// Capacity 1 to 8, or `None` for unbounded.
    #[arbitrary(with = arbitrary_capacity)]
    pub capacity: Option<usize>,
    /// Up to 128 operations.
    #[arbitrary(with = arbitrary_ops)]
    pub ops: Vec<ChannelOp>,
}

fn arbitrary_capacity(u: &mut Unstructured<'_>) -> arbitrary::Result<Option<usize>> {
    Ok(if u.arbitrary()? {
        Some(u.int_in_range(1..=MAX_CHANNEL_CAPACITY)?)
    } else {
        None
    })
}

fn arbitrary_ops(u: &mut Unstructured<'_>) -> arbitrary::Result<Vec<ChannelOp>> {
    u.arbitrary_iter::<ChannelOp>()?
        .take(MAX_CHANNEL_OPS)
        .collect()
}

impl ChannelProgram {
    /// Decodes fuzzer input as `fuzz_target!` does (see
    /// [`Program::from_fuzz_input`](super::Program::from_fuzz_input)).
    ///
    /// ```
    /// use verified_pool::conformance::{check_channel_program, ChannelProgram};
    ///
    /// assert!(ChannelProgram::from_fuzz_input(&[0; 4]).is_none()); // too short: skipped
    /// let program = ChannelProgram::from_fuzz_input(&[3; 40]).unwrap();
    /// assert!(program.ops.len() <= 128);
    /// check_channel_program(&program).unwrap();
    /// ```
    pub fn from_fuzz_input(bytes: &[u8]) -> Option<ChannelProgram> {
        from_fuzz_input(bytes)
    }
}

/// The channel as a `VecDeque`, a gate and counters.
///
/// ```
/// use verified_pool::conformance::{ChannelModel, ChannelUnderTest};
///
/// let mut model = ChannelModel::new(Some(1));
/// let channel = ChannelUnderTest::new(Some(1));
/// for _ in 0..2 {
///     let (item, want) = model.send();
///     assert_eq!(channel.send(item, false).map_err(|(_, why)| why), want);
/// }
/// assert_eq!(model.snapshot().refused, 1);
/// assert_eq!(channel.recv(false), model.recv(0));
/// assert_eq!(channel.snapshot(), model.snapshot());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChannelModel {
    capacity: Option<usize>,
    items: VecDeque<u64>,
    gate: ChannelGate,
    holding: [bool; CHANNEL_RECEIVERS],
    accepted: u64,
    refused: u64,
    drained: u64,
    next: u64,
}

impl ChannelModel {
    /// An open, empty channel of `capacity` (`None`: unbounded).
    ///
    /// ```
    /// use verified_pool::conformance::{ChannelGate, ChannelModel};
    ///
    /// let model = ChannelModel::new(Some(4));
    /// let s = model.snapshot();
    /// assert_eq!((s.gate, s.queued, s.accepted), (ChannelGate::Open, 0, 0));
    /// ```
    pub fn new(capacity: Option<usize>) -> Self {
        ChannelModel {
            capacity,
            items: VecDeque::new(),
            gate: ChannelGate::Open,
            holding: [false; CHANNEL_RECEIVERS],
            accepted: 0,
            refused: 0,
            drained: 0,
            next: 0,
        }
    }

    /// The capacity (`None`: unbounded).
    ///
    /// ```
    /// use verified_pool::conformance::ChannelModel;
    ///
    /// assert_eq!(ChannelModel::new(Some(4)).capacity(), Some(4));
    /// assert_eq!(ChannelModel::new(None).capacity(), None);
    /// ```
    pub fn capacity(&self) -> Option<usize> {
        self.capacity
    }

    fn full(&self) -> bool {
        self.capacity.is_some_and(|c| self.items.len() >= c)
    }

    /// Whether `op` would block (and is skipped).
    ///
    /// ```
    /// use verified_pool::conformance::{ChannelModel, ChannelOp};
    ///
    /// let mut model = ChannelModel::new(Some(1));
    /// assert!(model.would_block(ChannelOp::Recv(0))); // empty and open: a receiver would wait
    /// model.send().1.unwrap();
    /// assert!(model.would_block(ChannelOp::Send)); // full
    /// assert!(!model.would_block(ChannelOp::TrySend)); // refuses instead
    /// model.close();
    /// assert!(!model.would_block(ChannelOp::Send)); // closed: refused at once
    /// ```
    pub fn would_block(&self, op: ChannelOp) -> bool {
        match op {
            ChannelOp::Send => self.gate == ChannelGate::Open && self.full(),
            ChannelOp::Recv(_) => self.items.is_empty() && self.gate == ChannelGate::Open,
            ChannelOp::WaitQuiet => !self.items.is_empty() || self.holding.contains(&true),
            _ => false,
        }
    }

    /// The next item's number and the result of sending it.
    ///
    /// ```
    /// use verified_pool::conformance::{ChannelModel, ChannelRefusal};
    ///
    /// let mut model = ChannelModel::new(None);
    /// assert_eq!(model.send(), (0, Ok(())));
    /// model.close();
    /// assert_eq!(model.send(), (1, Err(ChannelRefusal::Closed))); // numbered even when refused
    /// ```
    pub fn send(&mut self) -> (u64, Result<(), ChannelRefusal>) {
        let item = self.next;
        self.next += 1;
        let result = if self.gate != ChannelGate::Open {
            Err(ChannelRefusal::Closed)
        } else if self.full() {
            Err(ChannelRefusal::Full)
        } else {
            self.items.push_back(item);
            Ok(())
        };
        match result {
            Ok(()) => self.accepted += 1,
            Err(_) => self.refused += 1,
        }
        (item, result)
    }

    /// What receiver `r` gets (it reports its held item finished first).
    ///
    /// ```
    /// use verified_pool::conformance::ChannelModel;
    ///
    /// let mut model = ChannelModel::new(None);
    /// model.send().1.unwrap();
    /// model.send().1.unwrap();
    /// assert_eq!(model.recv(0), Some(0));
    /// assert_eq!(model.recv(2), Some(1));
    /// assert_eq!(model.recv(0), None); // receiver 0 finished item 0 and found nothing
    /// assert!(!model.holds(0) && model.holds(2));
    /// ```
    pub fn recv(&mut self, r: usize) -> Option<u64> {
        self.holding[r] = false;
        let item = self.items.pop_front();
        if item.is_some() {
            self.holding[r] = true;
        }
        item
    }

    /// Whether receiver `r` holds an item.
    ///
    /// ```
    /// use verified_pool::conformance::ChannelModel;
    ///
    /// let mut model = ChannelModel::new(None);
    /// model.send().1.unwrap();
    /// assert!(!model.holds(1));
    /// model.recv(1);
    /// assert!(model.holds(1));
    /// ```
    pub fn holds(&self, r: usize) -> bool {
        self.holding[r]
    }

    /// Receiver `r` reports its item finished.
    ///
    /// ```
    /// use verified_pool::conformance::{ChannelModel, ChannelOp};
    ///
    /// let mut model = ChannelModel::new(None);
    /// model.send().1.unwrap();
    /// model.recv(0);
    /// assert!(model.would_block(ChannelOp::WaitQuiet)); // receiver 0 holds item 0
    /// model.finish(0);
    /// assert!(!model.holds(0) && !model.would_block(ChannelOp::WaitQuiet));
    /// ```
    pub fn finish(&mut self, r: usize) {
        self.holding[r] = false;
    }

    /// Closes the gate.
    ///
    /// ```
    /// use verified_pool::conformance::{ChannelGate, ChannelModel};
    ///
    /// let mut model = ChannelModel::new(None);
    /// model.close();
    /// assert_eq!(model.snapshot().gate, ChannelGate::Closed);
    /// model.drain();
    /// model.close(); // a drained channel stays drained
    /// assert_eq!(model.snapshot().gate, ChannelGate::Drained);
    /// ```
    pub fn close(&mut self) {
        if self.gate == ChannelGate::Open {
            self.gate = ChannelGate::Closed;
        }
    }

    /// Drains: everything queued, in order.
    ///
    /// ```
    /// use verified_pool::conformance::{ChannelGate, ChannelModel};
    ///
    /// let mut model = ChannelModel::new(None);
    /// model.send().1.unwrap();
    /// model.send().1.unwrap();
    /// model.recv(0); // item 0 is taken, item 1 still queued
    /// assert_eq!(model.drain(), [1]);
    /// let s = model.snapshot();
    /// assert_eq!((s.gate, s.drained), (ChannelGate::Drained, 1));
    /// ```
    pub fn drain(&mut self) -> Vec<u64> {
        self.gate = ChannelGate::Drained;
        let items: Vec<u64> = self.items.drain(..).collect();
        self.drained += items.len() as u64;
        items
    }

    /// The snapshot the channel must report.
    ///
    /// ```
    /// use verified_pool::conformance::ChannelModel;
    ///
    /// let mut model = ChannelModel::new(Some(2));
    /// for _ in 0..3 {
    ///     let _ = model.send(); // the third is refused
    /// }
    /// model.recv(0);
    /// let s = model.snapshot();
    /// assert_eq!((s.queued, s.taken, s.accepted, s.refused), (1, 1, 2, 1));
    /// ```
    pub fn snapshot(&self) -> ChannelSnapshot {
        ChannelSnapshot {
            gate: self.gate,
            queued: self.items.len(),
            taken: self.holding.iter().filter(|&&h| h).count(),
            accepted: self.accepted,
            refused: self.refused,
            drained: self.drained,
        }
    }
}

/// Runs `program` on a fresh channel from one thread, comparing every
/// result and every snapshot with a [`ChannelModel`]; at the end, every
/// accepted item must have been received or drained exactly once.
///
/// ```
/// use verified_pool::conformance::{check_channel_program, ChannelOp, ChannelProgram};
///
/// let program = ChannelProgram {
///     capacity: Some(1),
///     ops: vec![ChannelOp::TrySend, ChannelOp::TrySend, ChannelOp::Recv(0), ChannelOp::Close],
/// };
/// check_channel_program(&program).unwrap();
/// ```
pub fn check_channel_program(program: &ChannelProgram) -> Result<(), Violation> {
    let program = ChannelProgram {
        capacity: program.capacity.map(|c| c.max(1)),
        ops: program.ops.clone(),
    };
    let mut trace = Vec::new();
    run_channel(&program, &mut trace).map_err(|v| v.with_input(&program).with_trace(trace))
}

fn run_channel(program: &ChannelProgram, trace: &mut Vec<String>) -> Result<(), Violation> {
    let channel = ChannelUnderTest::new(program.capacity);
    let mut model = ChannelModel::new(program.capacity);
    // How many times each item came out (received or drained).
    let mut seen: Vec<u32> = Vec::new();
    let out = |item: u64, seen: &mut Vec<u32>| {
        let at = item as usize;
        if seen.len() <= at {
            seen.resize(at + 1, 0);
        }
        seen[at] += 1;
    };
    for (n, &op) in program.ops.iter().enumerate() {
        if model.would_block(op) {
            trace.push(format!("#{n} {op:?} -> skipped (would block)"));
            continue;
        }
        let result = catch_unwind(AssertUnwindSafe(|| -> Result<String, Violation> {
            Ok(match op {
                ChannelOp::TrySend | ChannelOp::Send => {
                    let (item, want) = model.send();
                    let got = channel.send(item, op == ChannelOp::Send);
                    let got_reason = match got {
                        Ok(()) => Ok(()),
                        Err((back, why)) => {
                            ensure!(
                                back == item,
                                RefusalReturnsOwnership,
                                "sending item {item} was refused and item {back} came back"
                            );
                            Err(why)
                        }
                    };
                    ensure!(
                        got_reason == want,
                        Api,
                        "send({item}) gave {got_reason:?}; the model says {want:?}"
                    );
                    format!("item {item}: {got_reason:?}")
                }
                ChannelOp::Recv(r) => {
                    let r = usize::from(r) % CHANNEL_RECEIVERS;
                    let finished = model.holds(r);
                    let want = model.recv(r);
                    let got = channel.recv(finished);
                    ensure!(
                        got == want,
                        NothingIsLost,
                        "receiver {r} got {got:?}; the model says {want:?}"
                    );
                    if let Some(item) = got {
                        out(item, &mut seen);
                    }
                    format!("receiver {r}: {got:?}")
                }
                ChannelOp::Finish(r) => {
                    let r = usize::from(r) % CHANNEL_RECEIVERS;
                    if model.holds(r) {
                        model.finish(r);
                        channel.finish();
                        format!("receiver {r} finished")
                    } else {
                        format!("receiver {r} holds nothing: skipped")
                    }
                }
                ChannelOp::Close => {
                    model.close();
                    channel.close();
                    "closed".into()
                }
                ChannelOp::Drain => {
                    let want = model.drain();
                    let got = channel.drain();
                    ensure!(
                        got == want,
                        NothingIsLost,
                        "drain() gave {got:?}; the model says {want:?}"
                    );
                    for &item in &got {
                        out(item, &mut seen);
                    }
                    format!("drained {got:?}")
                }
                ChannelOp::WaitQuiet => {
                    channel.wait_quiet();
                    "quiet".into()
                }
                ChannelOp::Snapshot => "snapshot".into(),
            })
        }));
        let line = match result {
            Ok(Ok(line)) => line,
            Ok(Err(v)) => {
                trace.push(format!("#{n} {op:?} -> failed"));
                return Err(v);
            }
            Err(p) => violation!(Api, "{op:?} panicked: {p:?}"),
        };
        trace.push(format!("#{n} {op:?} -> {line}"));
        let got = channel.snapshot();
        let want = model.snapshot();
        ensure!(
            got == want,
            CountsAddUp,
            "after {op:?}, snapshot() = {got:?}; the model says {want:?}"
        );
    }
    // Whatever is left comes out through a final drain.
    for item in channel.drain() {
        out(item, &mut seen);
    }
    let accepted = channel.snapshot().accepted;
    let delivered: u64 = seen.iter().map(|&c| u64::from(c)).sum();
    if let Some(item) = seen.iter().position(|&c| c > 1) {
        violation!(NothingIsLost, "item {item} came out {} times", seen[item]);
    }
    ensure!(
        delivered == accepted,
        NothingIsLost,
        "{accepted} items were accepted but {delivered} came out"
    );
    Ok(())
}
