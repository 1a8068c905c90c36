//! Why verified-pool's workers stop yielding once they have parked: on this
//! kernel a thread that called `sched_yield` before it parked is woken
//! *behind* the thread that woke it, instead of preempting it.
//!
//! One hand-written worker parks on a condvar; the main thread sleeps
//! 200 us, hands it a token, and spins (4,000 spin hints, then
//! `yield_now`, like the benchmark's ping-pong) until the worker echoes it.
//! The worker either parks at once after each echo, or first calls
//! `yield_now` four times (what a spin-then-yield backoff does). Printed:
//! the median and p99 round trip of each, and in how many round trips the
//! worker ran on the CPU the main thread was spinning on.
//!
//! `cargo run --release --bin yield_then_park`

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

const ROUNDS: usize = 1_000;

struct Mailbox {
    token: Mutex<Option<usize>>,
    ready: Condvar,
    echo: AtomicUsize,
    worker_cpu: AtomicUsize,
}

fn cpu() -> usize {
    // SAFETY: sched_getcpu has no preconditions.
    unsafe { libc::sched_getcpu() as usize }
}

fn run(yields_before_park: u32) -> (u64, u64, usize) {
    let mb = Arc::new(Mailbox {
        token: Mutex::new(None),
        ready: Condvar::new(),
        echo: AtomicUsize::new(0),
        worker_cpu: AtomicUsize::new(0),
    });
    let worker = {
        let mb = Arc::clone(&mb);
        thread::spawn(move || loop {
            let token = {
                let mut slot = mb.token.lock().unwrap();
                loop {
                    if let Some(t) = slot.take() {
                        break t;
                    }
                    slot = mb.ready.wait(slot).unwrap();
                }
            };
            if token == usize::MAX {
                return;
            }
            mb.worker_cpu.store(cpu(), Ordering::Relaxed);
            mb.echo.store(token, Ordering::Release);
            for _ in 0..yields_before_park {
                thread::yield_now();
            }
        })
    };
    let mut samples = Vec::with_capacity(ROUNDS);
    let mut same_cpu = 0;
    for token in 1..=ROUNDS + 100 {
        thread::sleep(Duration::from_micros(200));
        let main_cpu = cpu();
        let start = Instant::now();
        *mb.token.lock().unwrap() = Some(token);
        mb.ready.notify_one();
        let mut spins = 0u32;
        while mb.echo.load(Ordering::Acquire) != token {
            if spins < 4_000 {
                std::hint::spin_loop();
                spins += 1;
            } else {
                thread::yield_now();
            }
        }
        if token > 100 {
            samples.push(start.elapsed().as_nanos() as u64);
            same_cpu += usize::from(mb.worker_cpu.load(Ordering::Relaxed) == main_cpu);
        }
    }
    *mb.token.lock().unwrap() = Some(usize::MAX);
    mb.ready.notify_one();
    worker.join().unwrap();
    samples.sort_unstable();
    (samples[ROUNDS / 2], samples[ROUNDS * 99 / 100], same_cpu)
}

fn main() {
    println!("{ROUNDS} round trips after 200 us idle, one worker");
    for yields in [0, 4, 0, 4] {
        let (p50, p99, same) = run(yields);
        println!(
            "worker yields {yields} times before parking: median {:>7.1} us, p99 {:>7.1} us, \
             ran on the waker's CPU in {same}/{ROUNDS}",
            p50 as f64 / 1e3,
            p99 as f64 / 1e3
        );
    }
}
