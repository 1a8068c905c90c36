//! Panicking tasks are contained: a `submit` task's panic comes back
//! through its handle with the payload intact (whatever its type), an
//! `execute` task's panic goes to the pool's panic handler, a panic handler
//! that panics itself is contained too, and no worker is ever lost.
//!
//! ```sh
//! cargo run --example panics
//! ```

// The loom and shuttle builds replace the pool's primitives with the model
// checker's, which only work inside a model: there the example does nothing.
#[cfg(any(loom, shuttle))]
fn main() {}

/// A custom panic payload: `std::panic::panic_any` can panic with any
/// `Send + 'static` value, not only a message.
#[cfg(not(any(loom, shuttle)))]
struct Overheated {
    celsius: u32,
}

/// Names a panic payload. `panic!("literal")` carries a `&'static str`,
/// `panic!("{}", x)` a `String`, and `panic_any(v)` whatever `v` is.
#[cfg(not(any(loom, shuttle)))]
fn describe(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        format!("&str {text:?}")
    } else if let Some(text) = payload.downcast_ref::<String>() {
        format!("String {text:?}")
    } else if let Some(hot) = payload.downcast_ref::<Overheated>() {
        format!("Overheated at {} °C", hot.celsius)
    } else if let Some(code) = payload.downcast_ref::<u32>() {
        format!("u32 {code}")
    } else {
        "a payload of some other type".to_string()
    }
}

/// Occupies one worker until the returned sender is used (or dropped),
/// returning once the worker has started.
#[cfg(not(any(loom, shuttle)))]
fn occupy_a_worker(pool: &verified_pool::Pool) -> std::sync::mpsc::Sender<()> {
    let (started_tx, started) = std::sync::mpsc::channel();
    let (release, wait) = std::sync::mpsc::channel::<()>();
    pool.execute(move || {
        started_tx.send(()).unwrap();
        let _ = wait.recv();
    })
    .expect("the pool is running");
    started.recv().unwrap();
    release
}

#[cfg(not(any(loom, shuttle)))]
fn main() -> Result<(), Box<dyn std::error::Error>> {
    use std::panic::panic_any;
    use std::sync::{Arc, Barrier, Mutex};

    use verified_pool::{Pool, TaskError};

    // The process-wide panic hook runs first, on the panicking thread,
    // before the pool catches the unwind. Replace the default one (which
    // prints a multi-line message) with a one-line note.
    std::panic::set_hook(Box::new(|info| {
        let thread = std::thread::current();
        println!(
            "    [panic hook] thread {:?} panicked with {}",
            thread.name().unwrap_or("?"),
            describe(info.payload())
        );
    }));

    // The handler receives the payload of every `execute` task that panics.
    // It may run on any worker at once, so it must be `Send + Sync`.
    let handled = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&handled);
    let pool = Pool::builder()
        .workers(2)
        .thread_name("panics")
        .panic_handler(move |payload| {
            let thread = std::thread::current().name().unwrap_or("?").to_string();
            log.lock()
                .unwrap()
                .push(format!("{} (handled on {thread:?})", describe(&*payload)));
        })
        .build()?;
    let workers = pool.stats().workers;

    println!("== submit: the panic comes back through the handle");
    let handles = vec![
        pool.submit(|| -> u32 { panic!("a plain message") })?,
        pool.submit(|| -> u32 { panic!("a formatted message: {}", 6 * 7) })?,
        pool.submit(|| -> u32 { panic_any(Overheated { celsius: 97 }) })?,
        pool.submit(|| -> u32 { panic_any(404_u32) })?,
        pool.submit(|| -> u32 { 7 })?,
    ];
    for handle in handles {
        match handle.join() {
            Ok(value) => println!("  handle: Ok({value})"),
            Err(TaskError::Panicked(payload)) => {
                println!("  handle: Panicked with {}", describe(&*payload))
            }
            Err(other) => println!("  handle: {other}"),
        }
    }

    println!("== execute: the panic goes to the panic handler");
    pool.execute(|| panic!("an execute task failed"))?;
    pool.execute(|| panic_any(Overheated { celsius: 120 }))?;
    // A task counts as finished only once the handler has returned, so
    // after `wait_idle` both payloads are in the log.
    pool.wait_idle()?;
    for entry in handled.lock().unwrap().drain(..) {
        println!("  handler got {entry}");
    }
    println!(
        "  after 6 panics: {} of {workers} workers alive",
        pool.stats().workers
    );

    println!("== a task handed back by stop() and run here");
    let releases = [occupy_a_worker(&pool), occupy_a_worker(&pool)];
    pool.execute(|| panic!("a handed-back execute task failed"))?;
    for task in pool.stop() {
        task.run(); // the panic does not unwind into this thread...
    }
    for entry in handled.lock().unwrap().drain(..) {
        println!("  handler got {entry}"); // ...it goes to the same handler
    }
    drop(releases); // lets both busy tasks return
    pool.join()?;

    let stats = pool.stats();
    println!(
        "stats: {} completed, {} panicked, {} cancelled",
        stats.completed, stats.panicked, stats.cancelled
    );
    println!("(a task stop() handed back counts as cancelled, even when it then ran and panicked)");

    println!("== a panic handler that panics");
    let pool = Pool::builder()
        .workers(2)
        .thread_name("fragile")
        .panic_handler(|payload| {
            panic!("the handler itself failed on {}", describe(&*payload));
        })
        .build()?;
    for _ in 0..3 {
        pool.execute(|| panic!("a task failed"))?;
    }
    pool.wait_idle()?;
    let stats = pool.stats();
    println!(
        "  after 3 task panics and 3 handler panics: {} of 2 workers alive, {} panicked",
        stats.workers, stats.panicked
    );
    // Two tasks that can only finish together: this returns only if both
    // workers are still alive and taking work.
    let barrier = Arc::new(Barrier::new(2));
    let together: Vec<_> = (0..2)
        .map(|_| {
            let barrier = Arc::clone(&barrier);
            pool.submit(move || {
                barrier.wait();
            })
        })
        .collect::<Result<_, _>>()?;
    for handle in together {
        handle.join()?;
    }
    println!("  both workers then met at a barrier: no worker was lost");
    pool.join()?;
    Ok(())
}
