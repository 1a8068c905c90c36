//! The workloads, generic over the pool. Every "empty" task captures one
//! `usize` and passes it through `black_box`: a zero-sized closure would let
//! every pool skip the heap allocation of its box, which no real task does.
//! (`--zst` does that on purpose, for workloads 1 and 2, to take the
//! allocator out of the comparison.)

use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use crate::alloc::count_during;
use crate::latch::LATCH;
use crate::peers::{exec_tracked, start_batch, wait_all, Joinable, Peer};

/// How big each workload is.
#[derive(Clone, Debug)]
pub struct Sizes {
    /// Workload 1: tasks from one producer.
    pub exec: usize,
    /// Workload 2: tasks from each of the two producers.
    pub per_producer: usize,
    /// Workload 3: round trips back to back, and round trips after an idle gap.
    pub pingpong: usize,
    pub pingpong_idle: usize,
    /// Workload 4: build + tasks + join cycles, and tasks per cycle.
    pub cycles: usize,
    pub cycle_tasks: usize,
    /// Workload 5: submits (each handle joined).
    pub submit: usize,
    /// Workload 6: tasks in the counted batch.
    pub alloc: usize,
    /// `--zst`: the tasks of workloads 1 and 2 capture nothing, so boxing
    /// them allocates nothing, in every pool alike: what is left is the
    /// hand-off, without the allocator's part (docs/PERFORMANCE.md).
    pub zst: bool,
}

impl Sizes {
    pub fn full() -> Self {
        Sizes {
            exec: 1_000_000,
            per_producer: 250_000,
            pingpong: 20_000,
            pingpong_idle: 2_000,
            cycles: 200,
            cycle_tasks: 100,
            submit: 100_000,
            alloc: 20_000,
            zst: false,
        }
    }

    pub fn quick() -> Self {
        Sizes {
            exec: 50_000,
            per_producer: 12_500,
            pingpong: 1_000,
            pingpong_idle: 200,
            cycles: 20,
            cycle_tasks: 100,
            submit: 5_000,
            alloc: 2_000,
            zst: false,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Workload {
    Exec1,
    Exec2,
    PingPong,
    PingPongIdle,
    Lifecycle,
    SubmitJoin,
    Allocs,
}

impl Workload {
    pub const ALL: [Workload; 7] = [
        Workload::Exec1,
        Workload::Exec2,
        Workload::PingPong,
        Workload::PingPongIdle,
        Workload::Lifecycle,
        Workload::SubmitJoin,
        Workload::Allocs,
    ];

    pub fn key(self) -> &'static str {
        match self {
            Workload::Exec1 => "exec1",
            Workload::Exec2 => "exec2",
            Workload::PingPong => "pingpong",
            Workload::PingPongIdle => "pingpong-idle",
            Workload::Lifecycle => "lifecycle",
            Workload::SubmitJoin => "submit",
            Workload::Allocs => "allocs",
        }
    }
}

/// One number a workload produced.
#[derive(Clone, Copy, Debug)]
pub struct Metric {
    pub key: &'static str,
    pub value: f64,
}

/// Every metric, in report order, with its unit and a description.
pub const METRICS: [(&str, &str, &str); 13] = [
    (
        "exec_1p",
        "ns/task",
        "1 producer: N empty execute, then wait until all ran",
    ),
    (
        "exec_2p",
        "ns/task",
        "2 producers x N/2 empty execute each, then wait",
    ),
    (
        "pingpong_p50",
        "ns",
        "ping-pong round trip (submit -> task sets a flag), median",
    ),
    (
        "pingpong_p99",
        "ns",
        "ping-pong round trip, 99th percentile",
    ),
    (
        "pingpong_idle_p50",
        "ns",
        "ping-pong round trip after 200 us idle (worker parked), median",
    ),
    (
        "pingpong_idle_p99",
        "ns",
        "ping-pong round trip after 200 us idle, 99th percentile",
    ),
    (
        "lifecycle",
        "us/cycle",
        "build pool + 100 tasks + join/shutdown, until it returns",
    ),
    (
        "lifecycle_settled",
        "us/cycle",
        "the same cycles, until every pool thread has exited",
    ),
    (
        "submit_join",
        "ns/task",
        "N submit-with-handle, then join every handle",
    ),
    (
        "allocs_execute",
        "allocs/task",
        "heap allocations per execute (whole process)",
    ),
    (
        "bytes_execute",
        "bytes/task",
        "heap bytes allocated per execute",
    ),
    (
        "allocs_submit",
        "allocs/task",
        "heap allocations per submit + join",
    ),
    (
        "bytes_submit",
        "bytes/task",
        "heap bytes allocated per submit + join",
    ),
];

fn metric(key: &'static str, value: f64) -> Metric {
    debug_assert!(METRICS.iter().any(|m| m.0 == key));
    Metric { key, value }
}

fn per(elapsed: Duration, n: usize) -> f64 {
    elapsed.as_nanos() as f64 / n as f64
}

/// `n` tracked empty tasks from this thread (capturing nothing with
/// `zst`), then the wait.
fn batch<P: Peer>(pool: &P, n: usize, zst: bool) {
    start_batch::<P>(n);
    send_empty_tasks(pool, n, zst);
    wait_all(pool);
}

/// `n` empty tasks, each capturing its index, or with `zst` nothing.
fn send_empty_tasks<P: Peer>(pool: &P, n: usize, zst: bool) {
    if zst {
        for _ in 0..n {
            exec_tracked(pool, || {
                black_box(());
            });
        }
    } else {
        for i in 0..n {
            exec_tracked(pool, move || {
                black_box(i);
            });
        }
    }
}

pub fn run<P: Peer>(workload: Workload, workers: usize, sizes: &Sizes) -> Vec<Metric> {
    match workload {
        Workload::Exec1 => vec![metric(
            "exec_1p",
            exec_one_producer::<P>(workers, sizes.exec, sizes.zst),
        )],
        Workload::Exec2 => vec![metric(
            "exec_2p",
            exec_two_producers::<P>(workers, sizes.per_producer, sizes.zst),
        )],
        Workload::PingPong => {
            let (p50, p99) = ping_pong::<P>(workers, sizes.pingpong, None);
            vec![metric("pingpong_p50", p50), metric("pingpong_p99", p99)]
        }
        Workload::PingPongIdle => {
            let (p50, p99) = ping_pong::<P>(workers, sizes.pingpong_idle, Some(IDLE_GAP));
            vec![
                metric("pingpong_idle_p50", p50),
                metric("pingpong_idle_p99", p99),
            ]
        }
        Workload::Lifecycle => {
            let (returned, settled) = lifecycle::<P>(workers, sizes.cycles, sizes.cycle_tasks);
            vec![
                metric("lifecycle", returned),
                metric("lifecycle_settled", settled),
            ]
        }
        Workload::SubmitJoin => vec![metric(
            "submit_join",
            submit_join::<P>(workers, sizes.submit),
        )],
        Workload::Allocs => {
            let (ae, be, as_, bs) = allocations::<P>(workers, sizes.alloc);
            vec![
                metric("allocs_execute", ae),
                metric("bytes_execute", be),
                metric("allocs_submit", as_),
                metric("bytes_submit", bs),
            ]
        }
    }
}

fn exec_one_producer<P: Peer>(workers: usize, n: usize, zst: bool) -> f64 {
    let pool = P::build(workers);
    batch(&pool, n / 10, false); // warm-up: threads running, queue buffers grown
    let start = Instant::now();
    batch(&pool, n, zst);
    let elapsed = start.elapsed();
    pool.shutdown_join();
    per(elapsed, n)
}

fn exec_two_producers<P: Peer>(workers: usize, each: usize, zst: bool) -> f64 {
    let pool = P::build(workers);
    batch(&pool, each / 5, false);
    let pool_ref = &pool;
    start_batch::<P>(2 * each);
    let start = Instant::now();
    thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(move || send_empty_tasks(pool_ref, each, zst));
        }
    });
    wait_all(&pool);
    let elapsed = start.elapsed();
    pool.shutdown_join();
    per(elapsed, 2 * each)
}

/// The last token a ping-pong task wrote; tokens only grow.
static PONG: AtomicUsize = AtomicUsize::new(0);

/// Spins (then yields: the machine has two cores) until the task answers.
fn await_pong(token: usize) {
    let mut spins = 0u32;
    while PONG.load(Ordering::Acquire) != token {
        if spins < 4_000 {
            std::hint::spin_loop();
            spins += 1;
        } else {
            thread::yield_now();
        }
    }
}

/// How long the idle ping-pong sleeps before each round trip: long enough
/// for every pool's workers to have stopped spinning and parked.
const IDLE_GAP: Duration = Duration::from_micros(200);

/// Round trips, timed one by one: submit a task that publishes a token, spin
/// until it shows. With `gap`, sleep that long (untimed) before each one.
fn ping_pong<P: Peer>(workers: usize, n: usize, gap: Option<Duration>) -> (f64, f64) {
    let pool = P::build(workers);
    let mut token = PONG.load(Ordering::Acquire);
    let mut round_trip = |samples: Option<&mut Vec<u64>>| {
        if let Some(gap) = gap {
            thread::sleep(gap);
        }
        token += 1;
        let t = token;
        let start = Instant::now();
        pool.execute(move || PONG.store(black_box(t), Ordering::Release));
        await_pong(t);
        if let Some(samples) = samples {
            samples.push(start.elapsed().as_nanos() as u64);
        }
    };
    for _ in 0..(n / 10).max(100) {
        round_trip(None);
    }
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        round_trip(Some(&mut samples));
    }
    pool.shutdown_join();
    samples.sort_unstable();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize] as f64;
    (at(0.50), at(0.99))
}

/// Threads of this process, from `/proc/self/status` (0 if unreadable).
pub fn thread_count() -> usize {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Threads:"))
                .and_then(|n| n.trim().parse().ok())
        })
        .unwrap_or(0)
}

/// Waits (up to `limit`) until the process is back to `baseline` threads:
/// pools that do not join their threads leave them exiting in the
/// background, and they must not compete with the next measurement.
/// Returns whether it got there.
pub fn settle(baseline: usize, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        let n = thread_count();
        if n <= baseline {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_micros(50));
    }
}

/// µs per cycle until the last `shutdown_join` returned, and until every
/// thread the cycles started has exited.
fn lifecycle<P: Peer>(workers: usize, cycles: usize, tasks: usize) -> (f64, f64) {
    let cycle = || {
        let pool = P::build(workers);
        start_batch::<P>(tasks);
        for i in 0..tasks {
            exec_tracked(&pool, move || {
                black_box(i);
            });
        }
        if P::USES_LATCH && !P::JOINS_THREADS {
            // rayon: its shutdown does not wait for the tasks, the latch does.
            LATCH.wait();
        }
        pool.shutdown_join();
    };
    let baseline = thread_count();
    for _ in 0..(cycles / 10).max(2) {
        cycle();
    }
    settle(baseline, Duration::from_secs(5));
    let start = Instant::now();
    for _ in 0..cycles {
        cycle();
    }
    let returned = start.elapsed();
    settle(baseline, Duration::from_secs(10));
    let settled = start.elapsed();
    let us = |d: Duration| d.as_nanos() as f64 / cycles as f64 / 1_000.0;
    (us(returned), us(settled))
}

fn submit_join<P: Peer>(workers: usize, n: usize) -> f64 {
    let pool = P::build(workers);
    let mut handles = Vec::with_capacity(n);
    let round = |handles: &mut Vec<P::Handle<usize>>, n: usize| {
        for i in 0..n {
            handles.push(pool.submit(move || black_box(i)));
        }
        let sum: usize = handles.drain(..).map(Joinable::join).sum();
        assert_eq!(sum, n * (n - 1) / 2);
    };
    round(&mut handles, n / 10);
    let start = Instant::now();
    round(&mut handles, n);
    let elapsed = start.elapsed();
    pool.shutdown_join();
    per(elapsed, n)
}

/// Allocations (and bytes) per execute and per submit, counted over the
/// whole process (workers included) during a batch of `n`, after a
/// same-sized warm-up batch so that queue buffers are already grown.
fn allocations<P: Peer>(workers: usize, n: usize) -> (f64, f64, f64, f64) {
    let pool = P::build(workers);
    batch(&pool, n, false);
    let (exec_allocs, exec_bytes) = count_during(|| batch(&pool, n, false));

    let mut handles = Vec::with_capacity(n);
    let round = |handles: &mut Vec<P::Handle<usize>>| {
        for i in 0..n {
            handles.push(pool.submit(move || black_box(i)));
        }
        for h in handles.drain(..) {
            black_box(h.join());
        }
    };
    round(&mut handles);
    let (submit_allocs, submit_bytes) = count_during(|| round(&mut handles));
    pool.shutdown_join();
    let n = n as f64;
    (
        exec_allocs as f64 / n,
        exec_bytes as f64 / n,
        submit_allocs as f64 / n,
        submit_bytes as f64 / n,
    )
}
