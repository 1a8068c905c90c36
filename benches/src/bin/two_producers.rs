//! The two-producer workload (the benchmark's `exec_2p`) with one pool per
//! process, to tell the pools apart from the process's history.
//!
//! Each process builds one pool, then every round warms it with 50,000
//! tasks, waits until idle, and times two fresh producer threads sending
//! 250,000 empty tasks each until the pool is idle again. The pools are
//! verified-pool and the benchmark's `crossbeam-chan` (its hand-written
//! pool on one crossbeam-channel, counted with its latch). Processes
//! alternate between the two pools, so drift of the machine hits both
//! alike. Printed per process: the median ns per task of the first and the
//! last ten rounds and of all of them; then the medians over the processes
//! and their ratio.
//!
//! `--workers N` sets the pool size (`1`: one consumer, with no other to
//! contend with); `--zst` makes the timed tasks capture nothing, so boxing
//! them allocates nothing and what is left is the hand-off; `--rounds 40`
//! shows how a pool drifts as its process ages.
//!
//! `cargo run --release --bin two_producers -- [--runs 3] [--rounds 40] [--workers 2] [--zst]`

use std::hint::black_box;
use std::process::Command;
use std::thread;
use std::time::Instant;

// The benchmark's own hand-written pools and latch, so that
// `crossbeam-chan` here is the benchmark's peer, counted the same way.
#[allow(dead_code)] // the other two hand-written pools
#[path = "../handwritten.rs"]
mod handwritten;
#[path = "../latch.rs"]
mod latch;

use handwritten::CrossbeamPool;
use latch::LATCH;

const EACH: usize = 250_000;

trait Pool: Sync {
    fn execute<F: FnOnce() + Send + 'static>(&self, f: F);
    /// Expects `n` more tasks before the next `wait` may return.
    fn arm(&self, _n: usize) {}
    /// Waits until every task sent so far has run.
    fn wait(&self);
}

impl Pool for verified_pool::Pool {
    fn execute<F: FnOnce() + Send + 'static>(&self, f: F) {
        if verified_pool::Pool::execute(self, f).is_err() {
            panic!("pool refused a task");
        }
    }
    fn wait(&self) {
        self.wait_idle().expect("not on a worker");
    }
}

/// The benchmark's `crossbeam-chan` peer, as the benchmark counts it: each
/// task counts itself down on the shared latch.
impl Pool for CrossbeamPool {
    fn execute<F: FnOnce() + Send + 'static>(&self, f: F) {
        CrossbeamPool::execute(self, move || {
            f();
            LATCH.count_down();
        });
    }
    fn arm(&self, n: usize) {
        LATCH.arm(n);
    }
    fn wait(&self) {
        LATCH.wait();
    }
}

/// ns per task of each round.
fn rounds<P: Pool>(pool: &P, rounds: usize, zst: bool) -> Vec<f64> {
    (0..rounds)
        .map(|_| {
            pool.arm(EACH / 5);
            for i in 0..EACH / 5 {
                pool.execute(move || {
                    black_box(i);
                });
            }
            pool.wait();
            pool.arm(2 * EACH);
            let start = Instant::now();
            thread::scope(|scope| {
                for _ in 0..2 {
                    scope.spawn(|| {
                        for i in 0..EACH {
                            if zst {
                                pool.execute(|| {
                                    black_box(());
                                });
                            } else {
                                pool.execute(move || {
                                    black_box(i);
                                });
                            }
                        }
                    });
                }
            });
            pool.wait();
            start.elapsed().as_nanos() as f64 / (2 * EACH) as f64
        })
        .collect()
}

fn median(xs: &[f64]) -> f64 {
    let mut xs = xs.to_vec();
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|at| args.get(at + 1))
        .map_or(default, |v| v.parse().expect("a number"))
}

fn main() {
    let (runs, count, workers) = (arg("--runs", 3), arg("--rounds", 40), arg("--workers", 2));
    assert!(count >= 10, "--rounds: at least 10");
    let args: Vec<String> = std::env::args().collect();
    let zst = args.iter().any(|a| a == "--zst");
    if let Some(at) = args.iter().position(|a| a == "--child") {
        let per_round = match args.get(at + 1).map(String::as_str) {
            Some("verified-pool") => {
                rounds(&verified_pool::Pool::new(workers).unwrap(), count, zst)
            }
            Some("crossbeam-chan") => rounds(&CrossbeamPool::new(workers), count, zst),
            other => panic!("unknown pool {other:?}"),
        };
        let (first, last) = (&per_round[..10], &per_round[count - 10..]);
        println!(
            "{:>5.0} {:>5.0} {:>5.0}",
            median(first),
            median(last),
            median(&per_round)
        );
        return;
    }
    let tasks = if zst {
        "tasks capturing nothing"
    } else {
        "tasks capturing 8 bytes"
    };
    println!("{workers} workers, {count} rounds per process, {tasks}; median ns per task");
    println!("run  pool            first10 last10   all");
    let me = std::env::current_exe().expect("own path");
    const POOLS: [&str; 2] = ["verified-pool", "crossbeam-chan"];
    // Per pool, per column (first ten, last ten, all rounds): one median
    // per process.
    let mut seen = [
        [Vec::new(), Vec::new(), Vec::new()],
        [Vec::new(), Vec::new(), Vec::new()],
    ];
    for run in 1..=runs {
        for (pool, columns) in POOLS.iter().zip(seen.iter_mut()) {
            let out = Command::new(&me)
                .args(["--child", pool, "--rounds", &count.to_string()])
                .args(["--workers", &workers.to_string()])
                .args(zst.then_some("--zst"))
                .output()
                .expect("child ran");
            assert!(out.status.success(), "child failed: {out:?}");
            let line = String::from_utf8_lossy(&out.stdout);
            println!("{run:>3}  {pool:<15} {}", line.trim_end());
            for (column, value) in columns.iter_mut().zip(line.split_whitespace()) {
                column.push(value.parse::<f64>().expect("a median"));
            }
        }
    }
    println!("median of the {runs} processes:");
    for (pool, columns) in POOLS.iter().zip(&seen) {
        let [first, last, all] = columns.each_ref().map(|c| median(c));
        println!("     {pool:<15} {first:>5.0} {last:>5.0} {all:>5.0}");
    }
    let [ours, theirs] = seen.each_ref().map(|columns| median(&columns[2]));
    println!(
        "verified-pool / crossbeam-chan (all rounds): {:.2}",
        ours / theirs
    );
}
