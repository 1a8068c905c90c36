//! The floor under the build-run-join cycle: what two std threads that
//! return at once cost to spawn and join, beside one verified-pool cycle
//! (build, 100 tasks, `join`, split into its three parts) and one
//! rusty_pool cycle (its `shutdown_join` waits for the tasks, not for the
//! threads, which exit after it returns). Medians of 2,000 cycles, three
//! times over, each kind interleaved with the others.
//!
//! `cargo run --release --bin lifecycle_floor`

use std::hint::black_box;
use std::time::{Duration, Instant};

const CYCLES: usize = 2_000;
const TASKS: usize = 100;
const WORKERS: usize = 2;

/// Median of `samples`, in us.
fn median_us(samples: &mut [Duration]) -> f64 {
    samples.sort_unstable();
    samples[samples.len() / 2].as_secs_f64() * 1e6
}

/// Times `CYCLES` cycles of `build`, `run` and `finish`, and prints the
/// median of each part and of the whole.
fn cycles<P>(label: &str, build: impl Fn() -> P, run: impl Fn(&P), finish: impl Fn(P)) {
    let mut parts: [Vec<Duration>; 4] = Default::default();
    for _ in 0..CYCLES {
        let t0 = Instant::now();
        let pool = build();
        let t1 = Instant::now();
        run(&pool);
        let t2 = Instant::now();
        finish(pool);
        let t3 = Instant::now();
        for (part, d) in parts.iter_mut().zip([t1 - t0, t2 - t1, t3 - t2, t3 - t0]) {
            part.push(d);
        }
    }
    let [build, run, finish, total] = parts.map(|mut p| median_us(&mut p));
    println!(
        "{label:<14} build/spawn {build:6.1}  tasks {run:5.1}  join {finish:6.1}  total {total:6.1} us"
    );
}

fn main() {
    println!("{WORKERS} workers, {TASKS} tasks, medians of {CYCLES} cycles");
    for round in 1..=3 {
        println!("round {round}");
        cycles(
            "verified-pool",
            || verified_pool::Pool::new(WORKERS).expect("build pool"),
            |pool| {
                for i in 0..TASKS {
                    pool.execute(move || {
                        black_box(i);
                    })
                    .expect("pool is open");
                }
            },
            |pool| pool.join().expect("not on a worker"),
        );
        cycles(
            "rusty_pool",
            || {
                let pool = rusty_pool::ThreadPool::new(WORKERS, WORKERS, Duration::from_secs(60));
                pool.start_core_threads();
                pool
            },
            |pool| {
                for i in 0..TASKS {
                    pool.execute(move || {
                        black_box(i);
                    });
                }
            },
            rusty_pool::ThreadPool::shutdown_join,
        );
        cycles(
            "bare threads",
            || {
                (0..WORKERS)
                    .map(|_| std::thread::spawn(|| black_box(())))
                    .collect::<Vec<_>>()
            },
            |_| {},
            |threads| {
                threads
                    .into_iter()
                    .for_each(|t| t.join().expect("no panic"))
            },
        );
    }
}
