//! Where the idle round trip's time goes, without touching either pool:
//! the benchmark's idle ping-pong (sleep 200 us, `execute` a task that
//! stores a token, spin until it is seen), with each round trip split
//! into the time spent inside `execute` and the time from `execute`'s
//! return until the store is seen. verified-pool against the hand-written
//! mutex+condvar pool, 2 workers, alternating round by round.
//!
//! If the second part is near zero, the worker has run the task before
//! the submitter got back from its `execute`. The last column says where:
//! the share of round trips whose task ran on the CPU that the submitter
//! is on when `execute` returns. Near 100%, the woken worker took the
//! submitter's CPU, and the submitter got it back when the worker parked
//! again: the round trip is the submitter's send, the wake-up, and the
//! worker's whole path from waking to parking.
//!
//! `cargo run --release --bin idle_split [ROUNDS]` (default 5)

#[allow(dead_code)]
#[path = "../handwritten.rs"]
mod handwritten;

use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

const WORKERS: usize = 2;
const WARMUP: usize = 200;
const ROUND_TRIPS: usize = 2_000;
const IDLE_GAP: Duration = Duration::from_micros(200);

static PONG: AtomicUsize = AtomicUsize::new(0);
/// The CPU the last task ran on.
static TASK_CPU: AtomicUsize = AtomicUsize::new(usize::MAX);

fn cpu() -> usize {
    // SAFETY: sched_getcpu has no preconditions.
    unsafe { libc::sched_getcpu() as usize }
}

/// Medians, in ns, of one round: inside `execute`, after it, in all; and
/// the per mille of round trips whose task ran on the submitter's CPU.
type Split = [u64; 4];

/// A peer's whole measurement: build, one round, join.
type Run = fn() -> Split;

fn median(mut v: Vec<u64>) -> u64 {
    v.sort_unstable();
    v[v.len() / 2]
}

fn await_pong(token: usize) {
    while PONG.load(Ordering::Acquire) != token {
        std::hint::spin_loop();
    }
}

/// A pool's `execute`, with the task's own type (no extra box).
trait Execute {
    fn execute<F: FnOnce() + Send + 'static>(&self, f: F);
}

impl Execute for verified_pool::Pool {
    fn execute<F: FnOnce() + Send + 'static>(&self, f: F) {
        verified_pool::Pool::execute(self, f).expect("pool is open");
    }
}

impl Execute for handwritten::CondvarPool {
    fn execute<F: FnOnce() + Send + 'static>(&self, f: F) {
        handwritten::CondvarPool::execute(self, f);
    }
}

/// One round of idle round trips through `pool.execute`.
fn round(pool: &impl Execute) -> Split {
    let last = PONG.load(Ordering::Acquire);
    let mut samples: [Vec<u64>; 3] = Default::default();
    let mut same_cpu = 0;
    for i in 0..WARMUP + ROUND_TRIPS {
        thread::sleep(IDLE_GAP);
        let t = last + 1 + i;
        let start = Instant::now();
        pool.execute(move || {
            TASK_CPU.store(cpu(), Ordering::Relaxed);
            PONG.store(black_box(t), Ordering::Release);
        });
        let returned = start.elapsed();
        let here = cpu();
        await_pong(t);
        let total = start.elapsed();
        if i >= WARMUP {
            same_cpu += u64::from(TASK_CPU.load(Ordering::Relaxed) == here);
            let inside = returned.as_nanos() as u64;
            let all = total.as_nanos() as u64;
            for (s, x) in samples.iter_mut().zip([inside, all - inside, all]) {
                s.push(x);
            }
        }
    }
    let [inside, after, all] = samples.map(median);
    [inside, after, all, same_cpu * 1000 / ROUND_TRIPS as u64]
}

fn verified_pool() -> Split {
    let pool = verified_pool::Pool::new(WORKERS).expect("pool");
    let split = round(&pool);
    pool.join().expect("no worker panicked");
    split
}

fn mutex_condvar() -> Split {
    let pool = handwritten::CondvarPool::new(WORKERS);
    let split = round(&pool);
    pool.join();
    split
}

fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .map(|r| r.parse().expect("ROUNDS is a number"))
        .unwrap_or(5);
    let peers: [(&str, Run); 2] = [
        ("verified-pool", verified_pool),
        ("mutex+condvar", mutex_condvar),
    ];
    let mut per_peer: [Vec<Split>; 2] = Default::default();
    println!("idle round trips, {WORKERS} workers, {ROUND_TRIPS} per round; medians in ns");
    println!(
        "{:<14} {:>5} {:>9} {:>9} {:>9} {:>9}",
        "peer", "round", "execute", "after", "total", "same CPU"
    );
    for r in 0..rounds {
        // Alternate who goes first, so that drift hits both alike.
        for k in [r % 2, 1 - r % 2] {
            let (name, run) = peers[k];
            let split = run();
            println!(
                "{name:<14} {r:>5} {:>9} {:>9} {:>9} {:>8.1}%",
                split[0],
                split[1],
                split[2],
                split[3] as f64 / 10.0
            );
            per_peer[k].push(split);
        }
    }
    println!("medians of the rounds' medians:");
    for (k, (name, _)) in peers.iter().enumerate() {
        let part = |i: usize| median(per_peer[k].iter().map(|s| s[i]).collect());
        println!(
            "{name:<14} {:>5} {:>9} {:>9} {:>9} {:>8.1}%",
            "all",
            part(0),
            part(1),
            part(2),
            part(3) as f64 / 10.0
        );
    }
    let ratio = |i: usize| {
        median(
            per_peer[0]
                .iter()
                .zip(&per_peer[1])
                .map(|(a, b)| a[i] * 1000 / b[i].max(1))
                .collect(),
        ) as f64
            / 1000.0
    };
    println!(
        "per-round ratio verified-pool / mutex+condvar, median: execute {:.3}, total {:.3}",
        ratio(0),
        ratio(2)
    );
}
