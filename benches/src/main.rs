//! Benchmark of `verified-pool` against other worker pools.
//!
//! ```text
//! cargo run --release -- [--rounds N] [--quick] [--zst] [--workers 2,4]
//!                        [--peers a,b] [--workloads exec1,pingpong,...]
//!                        [--out results/latest.csv]
//! ```
//!
//! Peers alternate round by round: in every round each workload runs once
//! per peer (in an order rotated each round), so machine drift hits every
//! peer alike. Reported per peer and metric: median, min and max over the
//! rounds, and the median's ratio to the best peer's median.

mod alloc;
mod handwritten;
mod latch;
mod peers;
mod workloads;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Instant;

use peers::{CondvarQ, Crossbeam, Mpsc, Peer, Rayon, RustyPool, ThreadPoolCrate};
use workloads::{Metric, Sizes, Workload, METRICS};

#[global_allocator]
static ALLOC: alloc::Counting = alloc::Counting;

verified_pool_peer!(VerifiedPool, verified_pool, "verified-pool");

/// A peer as the round loop sees it.
struct Entry {
    name: &'static str,
    wait: &'static str,
    submit: &'static str,
    joins_threads: bool,
    run: fn(Workload, usize, &Sizes) -> Vec<Metric>,
}

fn entry<P: Peer>() -> Entry {
    Entry {
        name: P::NAME,
        wait: P::WAIT,
        submit: P::SUBMIT,
        joins_threads: P::JOINS_THREADS,
        run: workloads::run::<P>,
    }
}

fn all_peers() -> Vec<Entry> {
    vec![
        entry::<VerifiedPool>(),
        entry::<ThreadPoolCrate>(),
        entry::<RustyPool>(),
        entry::<Rayon>(),
        entry::<Crossbeam>(),
        entry::<Mpsc>(),
        entry::<CondvarQ>(),
    ]
}

struct Options {
    rounds: usize,
    quick: bool,
    zst: bool,
    workers: Vec<usize>,
    peers: Option<Vec<String>>,
    workloads: Vec<Workload>,
    out: PathBuf,
}

fn usage() -> ! {
    eprintln!(
        "usage: verified-pool-bench [--rounds N] [--quick] [--zst] [--workers 2,4] \
         [--peers NAME,..] [--workloads exec1,exec2,pingpong,pingpong-idle,lifecycle,submit,allocs] [--out FILE.csv]"
    );
    std::process::exit(2)
}

fn parse_args() -> Options {
    let mut opts = Options {
        rounds: 0,
        quick: false,
        zst: false,
        workers: vec![2, 4],
        peers: None,
        workloads: Workload::ALL.to_vec(),
        out: PathBuf::from("results/latest.csv"),
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| usage());
        match arg.as_str() {
            "--rounds" => opts.rounds = value().parse().unwrap_or_else(|_| usage()),
            "--quick" => opts.quick = true,
            "--zst" => opts.zst = true,
            "--workers" => {
                opts.workers = value()
                    .split(',')
                    .map(|w| w.parse().unwrap_or_else(|_| usage()))
                    .collect()
            }
            "--peers" => opts.peers = Some(value().split(',').map(str::to_owned).collect()),
            "--workloads" => {
                let wanted = value();
                opts.workloads = wanted
                    .split(',')
                    .map(|k| {
                        Workload::ALL
                            .into_iter()
                            .find(|w| w.key() == k)
                            .unwrap_or_else(|| usage())
                    })
                    .collect();
            }
            "--out" => opts.out = PathBuf::from(value()),
            "-h" | "--help" => usage(),
            _ => usage(),
        }
    }
    if opts.rounds == 0 {
        opts.rounds = if opts.quick { 2 } else { 5 };
    }
    if opts.workers.is_empty() || opts.workers.contains(&0) {
        usage();
    }
    opts
}

/// Per worker count and metric: every peer's value in every round.
type Results = BTreeMap<(usize, usize), Vec<(&'static str, Vec<f64>)>>;

struct Summary {
    median: f64,
    min: f64,
    max: f64,
}

fn summarize(values: &[f64]) -> Summary {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    let median = if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    };
    Summary {
        median,
        min: v[0],
        max: v[v.len() - 1],
    }
}

fn fmt_num(x: f64) -> String {
    if x >= 100.0 {
        format!("{x:.0}")
    } else if x >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    }
}

fn main() {
    let opts = parse_args();
    let sizes = Sizes {
        zst: opts.zst,
        ..if opts.quick {
            Sizes::quick()
        } else {
            Sizes::full()
        }
    };
    let mut peers = all_peers();
    if let Some(wanted) = &opts.peers {
        peers.retain(|p| wanted.iter().any(|w| w == p.name));
        if peers.is_empty() {
            eprintln!(
                "no such peer; known: {:?}",
                all_peers().iter().map(|p| p.name).collect::<Vec<_>>()
            );
            std::process::exit(2);
        }
    }

    println!(
        "verified-pool benchmark: {} round(s), workers {:?}{}",
        opts.rounds,
        opts.workers,
        if opts.quick { " (--quick sizes)" } else { "" }
    );
    println!("sizes: {sizes:?}");
    println!(
        "host: {} cpus (std::thread::available_parallelism)",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!();
    println!(
        "{:<15} {:<36} {:<52} shutdown joins threads",
        "peer", "wait for a batch", "submit with result"
    );
    for p in &peers {
        println!(
            "{:<15} {:<36} {:<52} {}",
            p.name,
            p.wait,
            p.submit,
            if p.joins_threads {
                "yes"
            } else {
                "no (detached)"
            }
        );
    }
    println!();

    let baseline_threads = workloads::thread_count();
    let mut unsettled = 0usize;
    let started = Instant::now();
    let mut results: Results = BTreeMap::new();
    for &workers in &opts.workers {
        for round in 0..opts.rounds {
            let round_start = Instant::now();
            for &workload in &opts.workloads {
                // Rotate the order each round so no peer always goes first.
                let n = peers.len();
                for k in 0..n {
                    let peer = &peers[(round + k) % n];
                    // Threads a previous pool left exiting must not compete.
                    if !workloads::settle(baseline_threads, std::time::Duration::from_secs(2)) {
                        unsettled += 1;
                    }
                    for m in (peer.run)(workload, workers, &sizes) {
                        let idx = METRICS
                            .iter()
                            .position(|d| d.0 == m.key)
                            .expect("known metric");
                        let row = results.entry((workers, idx)).or_default();
                        match row.iter_mut().find(|(name, _)| *name == peer.name) {
                            Some((_, values)) => values.push(m.value),
                            None => row.push((peer.name, vec![m.value])),
                        }
                    }
                }
            }
            eprintln!(
                "workers {workers}: round {}/{} done in {:.1}s (total {:.1}s)",
                round + 1,
                opts.rounds,
                round_start.elapsed().as_secs_f64(),
                started.elapsed().as_secs_f64()
            );
        }
    }
    let total = started.elapsed();

    // Keep the peers' order stable in the output.
    let order = |name: &str| {
        peers
            .iter()
            .position(|p| p.name == name)
            .unwrap_or(usize::MAX)
    };
    let mut table = String::new();
    let mut csv =
        String::from("workers,metric,unit,peer,median,min,max,ratio_to_best,rounds,values\n");
    for (&(workers, idx), row) in results.iter_mut() {
        row.sort_by_key(|(name, _)| order(name));
        let (key, unit, what) = METRICS[idx];
        let sums: Vec<_> = row
            .iter()
            .map(|(name, v)| (*name, summarize(v), v))
            .collect();
        let best = sums
            .iter()
            .map(|s| s.1.median)
            .fold(f64::INFINITY, f64::min);
        let _ = writeln!(table, "== {key} [{unit}] @ {workers} workers: {what}");
        let _ = writeln!(
            table,
            "   {:<15} {:>10} {:>10} {:>10} {:>8}",
            "peer", "median", "min", "max", "x best"
        );
        for (name, s, values) in &sums {
            let ratio = if best > 0.0 {
                s.median / best
            } else if s.median == 0.0 {
                1.0
            } else {
                f64::NAN
            };
            let mark = if s.median == best { "*" } else { " " };
            let _ = writeln!(
                table,
                "  {mark}{:<15} {:>10} {:>10} {:>10} {:>8}",
                name,
                fmt_num(s.median),
                fmt_num(s.min),
                fmt_num(s.max),
                if ratio.is_nan() {
                    "-".to_owned()
                } else {
                    format!("{ratio:.2}")
                }
            );
            let joined: Vec<String> = values.iter().map(|v| format!("{v:.3}")).collect();
            let _ = writeln!(
                csv,
                "{workers},{key},{unit},{name},{:.3},{:.3},{:.3},{},{},{}",
                s.median,
                s.min,
                s.max,
                if ratio.is_nan() {
                    String::new()
                } else {
                    format!("{ratio:.4}")
                },
                values.len(),
                joined.join(";")
            );
        }
        table.push('\n');
    }
    print!("{table}");
    println!("total time: {:.1}s", total.as_secs_f64());
    if unsettled > 0 {
        println!(
            "note: {unsettled} measurement(s) started with leftover threads still alive after 2s"
        );
    }

    if let Some(dir) = opts.out.parent() {
        if !dir.as_os_str().is_empty() {
            std::fs::create_dir_all(dir).expect("create results directory");
        }
    }
    std::fs::write(&opts.out, csv).expect("write CSV");
    let mut meta = String::new();
    let _ = writeln!(meta, "rounds={}", opts.rounds);
    let _ = writeln!(meta, "quick={}", opts.quick);
    let _ = writeln!(meta, "workers={:?}", opts.workers);
    let _ = writeln!(meta, "sizes={sizes:?}");
    let _ = writeln!(
        meta,
        "cpus={}",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let _ = writeln!(meta, "total_seconds={:.1}", total.as_secs_f64());
    // The allocator's settings move the one-producer row by up to 3x
    // (docs/PERFORMANCE.md, glibc's fastbins), so a run records them.
    let tunables = std::env::var("GLIBC_TUNABLES").unwrap_or_default();
    let _ = writeln!(meta, "glibc_tunables={tunables}");
    let _ = writeln!(meta, "allocator={}", alloc::NAME);
    for p in &peers {
        let _ = writeln!(
            meta,
            "peer={}|wait={}|submit={}|joins_threads={}",
            p.name, p.wait, p.submit, p.joins_threads
        );
    }
    std::fs::write(opts.out.with_extension("meta.txt"), meta).expect("write meta");
    println!(
        "wrote {} and {}",
        opts.out.display(),
        opts.out.with_extension("meta.txt").display()
    );
}
