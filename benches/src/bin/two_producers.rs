//! How much of the two-producer gap is the process's history rather than
//! the pool: the two-producer workload, repeated in one long-lived process.
//!
//! One process per pool and run: a pool is built once, then each round
//! warms it with 50,000 tasks, waits until idle, and times two fresh
//! producer threads sending 250,000 empty tasks each until the pool is idle
//! again (the benchmark's `exec_2p`, without rebuilding the pool). The
//! pools are verified-pool and a pool of workers on one unbounded
//! crossbeam-channel (boxed tasks, a completion counter for the wait; the
//! benchmark's `crossbeam-chan`). Processes alternate between the two
//! pools, so drift of the machine hits both alike. Printed per process:
//! the median ns per task of the first and the last ten rounds, and of
//! all of them.
//!
//! `cargo run --release --bin two_producers -- [--runs 3] [--rounds 40] [--workers 2]`

use std::hint::black_box;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::Instant;

const EACH: usize = 250_000;

trait Pool: Sync {
    fn execute<F: FnOnce() + Send + 'static>(&self, f: F);
    /// Waits until `total` tasks (counted since the pool was built) ran.
    fn wait_for(&self, total: usize);
}

impl Pool for verified_pool::Pool {
    fn execute<F: FnOnce() + Send + 'static>(&self, f: F) {
        if verified_pool::Pool::execute(self, f).is_err() {
            panic!("pool refused a task");
        }
    }
    fn wait_for(&self, _total: usize) {
        self.wait_idle().expect("not on a worker");
    }
}

type Task = Box<dyn FnOnce() + Send>;

static RAN: AtomicUsize = AtomicUsize::new(0);

struct Crossbeam(crossbeam_channel::Sender<Task>);

impl Crossbeam {
    fn new(workers: usize) -> Self {
        let (tx, rx) = crossbeam_channel::unbounded::<Task>();
        for _ in 0..workers {
            let rx = rx.clone();
            thread::spawn(move || {
                while let Ok(task) = rx.recv() {
                    task();
                    RAN.fetch_add(1, Ordering::Release);
                }
            });
        }
        Crossbeam(tx)
    }
}

impl Pool for Crossbeam {
    fn execute<F: FnOnce() + Send + 'static>(&self, f: F) {
        self.0.send(Box::new(f)).expect("workers alive");
    }
    fn wait_for(&self, total: usize) {
        while RAN.load(Ordering::Acquire) < total {
            thread::yield_now();
        }
    }
}

/// ns per task of each round.
fn rounds<P: Pool>(pool: &P, rounds: usize, zst: bool) -> Vec<f64> {
    let mut sent = 0;
    (0..rounds)
        .map(|_| {
            for i in 0..EACH / 5 {
                pool.execute(move || {
                    black_box(i);
                });
            }
            sent += EACH / 5;
            pool.wait_for(sent);
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
            sent += 2 * EACH;
            pool.wait_for(sent);
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
            Some("crossbeam-chan") => rounds(&Crossbeam::new(workers), count, zst),
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
