//! What happens to queued tasks when a pool is closed gracefully
//! (`shutdown`) and when it is stopped (`stop`).
//!
//! Both halves keep the pool's only worker busy with a task that waits on a
//! channel, queue a few tasks behind it, close the pool, and then let the
//! busy task finish. Nothing here waits by sleeping.
//!
//! ```sh
//! cargo run --example graceful_vs_stop
//! ```

// The loom and shuttle builds replace the pool's primitives with the model
// checker's, which only work inside a model: there the example does nothing.
#[cfg(any(loom, shuttle))]
fn main() {}

#[cfg(not(any(loom, shuttle)))]
fn main() -> Result<(), Box<dyn std::error::Error>> {
    graceful()?;
    println!();
    stopped()?;
    Ok(())
}

/// Occupies one worker until the returned sender is used (or dropped).
/// Returns only once the worker has started the task, so whatever is
/// submitted next is certain to wait in the queue.
#[cfg(not(any(loom, shuttle)))]
fn occupy_a_worker(pool: &verified_pool::Pool) -> std::sync::mpsc::Sender<()> {
    use std::sync::mpsc;

    let (started_tx, started) = mpsc::channel();
    let (release, wait) = mpsc::channel::<()>();
    pool.execute(move || {
        started_tx.send(()).unwrap();
        let _ = wait.recv(); // returns on a message or when `release` is dropped
    })
    .expect("the pool is running");
    started.recv().unwrap();
    release
}

/// `shutdown`: the pool refuses new tasks, but everything already queued
/// still runs before the workers exit.
#[cfg(not(any(loom, shuttle)))]
fn graceful() -> Result<(), Box<dyn std::error::Error>> {
    use verified_pool::Pool;

    println!("== shutdown(): refuse new work, finish queued work");
    let pool = Pool::builder().workers(1).thread_name("graceful").build()?;
    let release = occupy_a_worker(&pool);

    let queued: Vec<_> = ["a", "b", "c"]
        .into_iter()
        .map(|name| {
            pool.submit(move || {
                let thread = std::thread::current().name().unwrap_or("?").to_string();
                format!("task {name} ran on {thread}")
            })
            .expect("the pool is running")
        })
        .collect();
    println!(
        "queued {} tasks behind a busy worker; state {:?}",
        pool.stats().queued,
        pool.state()
    );

    pool.shutdown();
    println!("shutdown() returned at once; state {:?}", pool.state());

    // A task offered now is refused and handed back whole.
    let refused = pool.submit(|| "task d ran on the caller").unwrap_err();
    println!(
        "submitting task d: refused ({}); running it here: {}",
        refused.reason(),
        (refused.into_inner())()
    );

    // Let the busy task finish; the worker then drains the queue and exits.
    release.send(()).unwrap();
    pool.join()?;
    for handle in queued {
        println!("  {}", handle.join()?);
    }
    let stats = pool.stats();
    println!(
        "state {:?}: {} submitted, {} completed, {} cancelled, {} rejected",
        pool.state(),
        stats.submitted,
        stats.completed,
        stats.cancelled,
        stats.rejected
    );
    Ok(())
}

/// `stop`: the pool refuses new tasks and hands back every queued task
/// that no worker has started. Each comes back exactly once, as a
/// `PendingTask`: run it (here, on this thread) or drop it to cancel it.
/// The task already running is not interrupted.
#[cfg(not(any(loom, shuttle)))]
fn stopped() -> Result<(), Box<dyn std::error::Error>> {
    use verified_pool::{Pool, TaskError};

    println!("== stop(): refuse new work, hand back queued work");
    let pool = Pool::builder().workers(1).thread_name("stopped").build()?;
    let release = occupy_a_worker(&pool);

    let where_it_ran = || std::thread::current().name().unwrap_or("?").to_string();
    let first = pool.submit(move || format!("first ran on {}", where_it_ran()))?;
    let second = pool.submit(move || format!("second ran on {}", where_it_ran()))?;
    pool.execute(move || println!("  third (an execute task) ran on {}", where_it_ran()))?;
    let fourth = pool.submit(move || format!("fourth ran on {}", where_it_ran()))?;
    println!("queued {} tasks behind a busy worker", pool.stats().queued);

    let pending = pool.stop();
    println!(
        "stop() handed back {} tasks, in queue order; state {:?}",
        pending.len(),
        pool.state()
    );
    println!(
        "a second stop() hands back {} (each task comes back once)",
        pool.stop().len()
    );

    // Run the first and third here, drop the second and fourth.
    for (i, task) in pending.into_iter().enumerate() {
        if i % 2 == 0 {
            task.run();
        } else {
            drop(task);
        }
    }

    for (name, handle) in [("first", first), ("second", second), ("fourth", fourth)] {
        match handle.join() {
            Ok(line) => println!("  handle of {name}: Ok({line:?})"),
            Err(TaskError::Cancelled) => {
                println!("  handle of {name}: Cancelled (its PendingTask was dropped)")
            }
            Err(other) => println!("  handle of {name}: {other}"),
        }
    }

    println!(
        "the busy task is still running (state {:?}, {} running): stop() does not interrupt it",
        pool.state(),
        pool.stats().running
    );
    release.send(()).unwrap();
    pool.join()?;
    let stats = pool.stats();
    println!(
        "state {:?}: {} submitted, {} completed, {} cancelled",
        pool.state(),
        stats.submitted,
        stats.completed,
        stats.cancelled
    );
    println!(
        "(`cancelled` counts every task stop() handed back, whether it was then run or dropped)"
    );
    Ok(())
}
