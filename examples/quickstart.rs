//! The pool in five minutes: build it, hand it work three ways, wait for it,
//! read its counters, and shut it down.
//!
//! ```sh
//! cargo run --example quickstart
//! ```

// The loom and shuttle builds replace the pool's primitives with the model
// checker's, which only work inside a model: there the example does nothing.
#[cfg(any(loom, shuttle))]
fn main() {}

#[cfg(not(any(loom, shuttle)))]
fn main() -> Result<(), Box<dyn std::error::Error>> {
    use std::sync::mpsc;

    use verified_pool::{Pool, RejectReason, State, TaskError};

    // Four worker threads, and room for at most 16 tasks waiting in the
    // queue. Without `queue_capacity` the queue is unbounded.
    let pool = Pool::builder()
        .workers(4)
        .queue_capacity(16)
        .thread_name("quickstart")
        .build()?;
    println!("built a pool: {:?}", pool.stats());

    // 1. `submit` returns a handle; `join` on the handle gives the value.
    let handles: Vec<_> = (1..=5u64)
        .map(|n| {
            pool.submit(move || (n, n * n))
                .expect("the pool is running")
        })
        .collect();
    for handle in handles {
        let (n, square) = handle.join()?;
        println!("submit: {n} squared is {square}");
    }

    // 2. `execute` is fire-and-forget: no handle, so report back some other
    //    way (here a channel).
    let (tx, rx) = mpsc::channel();
    for word in ["fire", "and", "forget"] {
        let tx = tx.clone();
        pool.execute(move || {
            let worker = std::thread::current().name().unwrap_or("?").to_string();
            tx.send(format!("{word:>6} ran on {worker}")).unwrap();
        })
        .expect("the pool is running");
    }
    drop(tx);
    let mut lines: Vec<String> = rx.iter().collect();
    lines.sort(); // workers finish in any order; sort for a stable printout
    for line in lines {
        println!("execute: {line}");
    }

    // 3. `try_submit` never blocks; on a full queue it hands the closure
    //    back instead of waiting for room. Here the queue has room.
    match pool.try_submit(|| "accepted") {
        Ok(handle) => println!("try_submit: {}", handle.join()?),
        Err(refused) => println!("try_submit: refused ({})", refused.reason()),
    }

    // A panicking task costs neither the pool nor a worker: the panic comes
    // back through the handle. The process-wide panic hook still sees it
    // first (on the worker, before the pool catches it); the default hook
    // prints a message and maybe a backtrace, so swap in a one-line one.
    std::panic::set_hook(Box::new(|info| {
        let at = info.location().map(|l| l.to_string()).unwrap_or_default();
        println!("[panic hook] a task panicked at {at}; the pool catches it next");
    }));
    let oops = pool.submit(|| -> u32 { panic!("a task panicked on purpose") })?;
    match oops.join() {
        Err(TaskError::Panicked(payload)) => println!(
            "submit: the handle holds the panic ({:?}); the pool carries on",
            payload.downcast_ref::<&str>().copied().unwrap_or("?")
        ),
        other => println!("submit: unexpected {other:?}"),
    }

    // `wait_idle` waits until the queue is empty and no task is running,
    // and leaves the pool running: a good moment to read the counters.
    pool.wait_idle()?;
    let stats = pool.stats();
    println!(
        "idle: {} workers, {} submitted = {} completed + {} panicked (+ {} queued, {} running)",
        stats.workers,
        stats.submitted,
        stats.completed,
        stats.panicked,
        stats.queued,
        stats.running
    );

    // `join` shuts the pool down (new work is refused, queued work still
    // runs) and returns once every worker thread has exited.
    pool.join()?;
    println!("after join: state {:?}", pool.state());
    assert_eq!(pool.state(), State::Terminated);

    // A refused task is handed back, never dropped: here we run it ourselves.
    let refused = pool.submit(|| "ran on the caller instead").unwrap_err();
    assert_eq!(refused.reason(), RejectReason::ShutDown);
    println!(
        "submit after join: refused ({}), so: {}",
        refused.reason(),
        (refused.into_inner())()
    );
    Ok(())
}
