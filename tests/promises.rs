#![cfg(not(any(loom, shuttle)))]
//! Real-thread tests of CONTRACT.md, one section per promise (1-9), then
//! the state machine and the rest of the public API.
//!
//! Every test runs under a watchdog (`common::bounded`): a hang fails the
//! test instead of stalling the run. Nothing synchronises by sleeping:
//! workers are held busy with latches, "a thread is blocked" is read from
//! the kernel (`/proc`), and everything else waits on channels, barriers
//! or conditions.

mod common;

use std::any::Any;
use std::collections::BTreeSet;
use std::error::Error;
use std::fmt::{Debug, Display};
use std::panic;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc, Barrier, Mutex, Weak};
use std::thread;

use common::*;
use verified_pool::{
    BuildError, PendingTask, Pool, RejectReason, Rejected, State, Stats, TaskError, TaskHandle,
    WaitError,
};

// ---------------------------------------------------------------- helpers

/// `try_submit` until the pool takes `f`; only `Full` may refuse it.
/// Counts the refusals in `refusals`.
fn try_submit_until_accepted<F, T>(pool: &Pool, mut f: F, refusals: &AtomicUsize) -> TaskHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    loop {
        match pool.try_submit(f) {
            Ok(handle) => return handle,
            Err(refused) => {
                assert_eq!(refused.reason(), RejectReason::Full);
                refusals.fetch_add(1, SeqCst);
                f = refused.into_inner();
                thread::yield_now();
            }
        }
    }
}

/// A task that counts its run in `runs[id]`.
fn counting(runs: &Arc<Vec<AtomicUsize>>, id: usize) -> impl FnOnce() + Send + 'static {
    let runs = Arc::clone(runs);
    move || {
        runs[id].fetch_add(1, SeqCst);
    }
}

fn expected_panic() -> ! {
    panic::panic_any(EXPECTED)
}

/// The accounting identity of promise 8 and `idle == workers - running`.
fn assert_books_balance(s: &Stats) {
    assert_eq!(
        s.submitted,
        s.completed + s.panicked + s.cancelled + s.queued as u64 + s.running as u64,
        "submitted == completed + panicked + cancelled + queued + running: {s:?}"
    );
    assert_eq!(
        s.workers.checked_sub(s.running),
        Some(s.idle),
        "idle == workers - running: {s:?}"
    );
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Close {
    Shutdown,
    Stop,
    Join,
}

/// Closes `pool` the given way; tasks `stop()` hands back are run here.
fn close(pool: &Pool, how: Close) -> usize {
    match how {
        Close::Shutdown => {
            pool.shutdown();
            0
        }
        Close::Stop => {
            let pending = pool.stop();
            let n = pending.len();
            pending.into_iter().for_each(PendingTask::run);
            n
        }
        Close::Join => {
            pool.join().expect("join from a plain thread");
            0
        }
    }
}

/// Checks a refusal: the reason, and that the closure was neither run nor
/// dropped; then takes the closure back and runs it.
fn take_back<F, T>(refused: Rejected<F>, probe: &Probe, why: RejectReason) -> T
where
    F: FnOnce() -> T,
{
    assert_eq!(refused.reason(), why);
    assert_eq!(
        (probe.runs(), probe.drops()),
        (0, 0),
        "a refused task is never run and never dropped by the pool"
    );
    let f = refused.into_inner();
    assert_eq!((probe.runs(), probe.drops()), (0, 0));
    let value = f();
    assert_eq!((probe.runs(), probe.drops()), (1, 1));
    value
}

// ===================================================== 1. Nothing is lost

#[test]
fn p1_every_accepted_task_runs_exactly_once() {
    bounded(|| {
        const SUBMITTERS: usize = 4;
        const PER: usize = 300;
        let pool = Arc::new(
            Pool::builder()
                .workers(3)
                .queue_capacity(8)
                .build()
                .unwrap(),
        );
        let runs = counters(SUBMITTERS * PER);
        let refusals = Arc::new(AtomicUsize::new(0));
        let start = Arc::new(Barrier::new(SUBMITTERS));
        let submitters: Vec<_> = (0..SUBMITTERS)
            .map(|s| {
                let (pool, runs, start) = (pool.clone(), runs.clone(), start.clone());
                let refusals = refusals.clone();
                thread::spawn(move || {
                    start.wait();
                    let mut handles = Vec::new();
                    for i in 0..PER {
                        let id = s * PER + i;
                        let run = counting(&runs, id);
                        let task = move || {
                            run();
                            id
                        };
                        match i % 3 {
                            0 => handles.push((id, pool.submit(task).expect("running pool"))),
                            1 => pool
                                .execute(move || {
                                    task();
                                })
                                .expect("running pool"),
                            _ => handles
                                .push((id, try_submit_until_accepted(&pool, task, &refusals))),
                        }
                    }
                    for (id, handle) in handles {
                        assert_eq!(handle.join().unwrap(), id);
                    }
                })
            })
            .collect();
        for s in submitters {
            s.join().unwrap();
        }
        pool.join().unwrap();
        assert_eq!(load_all(&runs), vec![1; SUBMITTERS * PER]);
        let st = pool.stats();
        let n = (SUBMITTERS * PER) as u64;
        assert_eq!(
            (st.submitted, st.completed, st.panicked, st.cancelled),
            (n, n, 0, 0)
        );
        assert_eq!(st.rejected, refusals.load(SeqCst) as u64);
        assert_books_balance(&st);
    });
}

#[test]
fn p1_stop_hands_back_each_unstarted_task_once_to_run_or_cancel() {
    bounded(|| {
        let pool = Pool::new(1).unwrap();
        let busy = occupy(&pool, 1);
        let probes: Vec<Probe> = (0..20).map(|_| Probe::new()).collect();
        let mut handles = Vec::new();
        for (i, p) in probes.iter().enumerate() {
            if i % 2 == 0 {
                handles.push((i, pool.submit(p.task(i)).unwrap()));
            } else {
                pool.execute(p.unit()).unwrap();
            }
        }
        let pending = pool.stop();
        assert_eq!(pending.len(), 20, "stop() hands back every unstarted task");
        assert!(probes.iter().all(|p| p.runs() == 0 && p.drops() == 0));
        assert!(pool.stop().is_empty(), "a second stop() finds nothing left");
        // Run two in three here, drop (cancel) the rest: both kinds of
        // task meet both fates.
        let mut ran_here = 0;
        for (k, task) in pending.into_iter().enumerate() {
            if k % 3 == 0 {
                drop(task);
            } else {
                task.run();
                ran_here += 1;
            }
        }
        busy.open();
        pool.join().unwrap();
        for (i, p) in probes.iter().enumerate() {
            assert!(p.runs() <= 1, "task {i} ran {} times", p.runs());
            assert_eq!(p.drops(), 1, "task {i}'s closure dropped once");
        }
        assert_eq!(probes.iter().map(Probe::runs).sum::<usize>(), ran_here);
        for (i, handle) in handles {
            match (probes[i].runs(), handle.join()) {
                (1, Ok(v)) => assert_eq!(v, i),
                (0, Err(TaskError::Cancelled)) => {}
                (runs, other) => panic!("task {i}: ran {runs} times, handle gave {other:?}"),
            }
        }
        let st = pool.stats();
        assert_eq!(
            (
                st.submitted,
                st.completed,
                st.cancelled,
                st.queued,
                st.running
            ),
            (21, 1, 20, 0, 0)
        );
        assert_books_balance(&st);
    });
}

#[test]
fn p1_stop_racing_busy_workers_loses_and_duplicates_nothing() {
    bounded(|| {
        const N: usize = 3000;
        let pool = Arc::new(Pool::new(2).unwrap());
        let runs = counters(N);
        let refused = counters(N);
        let (progress_tx, progress) = mpsc::channel();
        let submitter = {
            let (pool, runs, refused) = (pool.clone(), runs.clone(), refused.clone());
            thread::spawn(move || {
                let mut accepted = 0u64;
                for id in 0..N {
                    if id == N / 4 {
                        progress_tx.send(()).unwrap();
                    }
                    match pool.execute(counting(&runs, id)) {
                        Ok(()) => accepted += 1,
                        Err(r) => {
                            assert_eq!(r.reason(), RejectReason::ShutDown);
                            refused[id].fetch_add(1, SeqCst);
                        }
                    }
                }
                accepted
            })
        };
        progress.recv().unwrap();
        let pending = pool.stop();
        let handed_back = pending.len() as u64;
        for task in pending {
            task.run();
        }
        let accepted = submitter.join().unwrap();
        pool.join().unwrap();
        let (runs, refused) = (load_all(&runs), load_all(&refused));
        for id in 0..N {
            assert_eq!(
                (runs[id], refused[id]),
                if refused[id] == 1 { (0, 1) } else { (1, 0) },
                "task {id}: each task is run once or refused, never both, never neither"
            );
        }
        let st = pool.stats();
        assert_eq!(st.submitted, accepted);
        assert_eq!(st.cancelled, handed_back);
        assert_eq!(st.completed, accepted - handed_back);
        assert_eq!(st.rejected, N as u64 - accepted);
        assert_books_balance(&st);
    });
}

#[test]
fn p1_pending_task_run_resolves_its_handle_with_the_value() {
    bounded(|| {
        let pool = Pool::new(1).unwrap();
        let busy = occupy(&pool, 1);
        let value = pool.submit(|| String::from("ran on the caller")).unwrap();
        let panics = pool.submit(|| -> u8 { expected_panic() }).unwrap();
        assert!(!value.is_finished());
        let pending = pool.stop();
        assert_eq!(pending.len(), 2);
        let caller = thread::current().id();
        for task in pending {
            // A panicking task does not unwind into the caller of run().
            task.run();
            assert_eq!(thread::current().id(), caller);
        }
        assert!(value.is_finished());
        assert_eq!(value.join().unwrap(), "ran on the caller");
        match panics.join() {
            Err(TaskError::Panicked(p)) => assert_eq!(p.downcast_ref::<&str>(), Some(&EXPECTED)),
            other => panic!("expected Panicked, got {other:?}"),
        }
        drop(busy);
        pool.join().unwrap();
    });
}

#[test]
fn p1_dropped_pending_task_resolves_cancelled_and_never_runs() {
    bounded(|| {
        let pool = Pool::new(1).unwrap();
        let busy = occupy(&pool, 1);
        let probe = Probe::new();
        let handle = pool.submit(probe.task(1)).unwrap();
        let fire_and_forget = Probe::new();
        pool.execute(fire_and_forget.unit()).unwrap();
        let pending = pool.stop();
        assert_eq!(pending.len(), 2);
        assert!(!handle.is_finished());
        drop(pending);
        assert!(
            handle.is_finished(),
            "dropping the PendingTask resolves the handle"
        );
        assert!(matches!(handle.join(), Err(TaskError::Cancelled)));
        for p in [&probe, &fire_and_forget] {
            assert_eq!(
                (p.runs(), p.drops()),
                (0, 1),
                "cancelled: dropped, never run"
            );
        }
        busy.open();
        pool.join().unwrap();
        assert_eq!((probe.runs(), fire_and_forget.runs()), (0, 0));
    });
}

/// Queues a `submit` task that holds `captured` behind the pool's one busy
/// worker, and stops the pool: its handle, and the task `stop()` hands back.
fn stopped_holding<C: Send + 'static>(pool: &Pool, captured: C) -> (TaskHandle<u32>, PendingTask) {
    let handle = pool
        .submit(move || {
            let _keep = &captured;
            1
        })
        .unwrap();
    let mut pending = pool.stop();
    assert_eq!(pending.len(), 1);
    (handle, pending.pop().unwrap())
}

#[test]
fn p1_a_cancelled_handle_resolves_only_after_its_task_is_dropped() {
    // What a cancelled task captured is gone by the time its handle says
    // so: a joiner may count on it (the conformance kit does).
    struct SlowDrop {
        dropping: mpsc::Sender<()>,
        gate: Latch,
    }
    impl Drop for SlowDrop {
        fn drop(&mut self) {
            let _ = self.dropping.send(());
            self.gate.wait();
        }
    }
    bounded(|| {
        let pool = Pool::new(1).unwrap();
        let busy = occupy(&pool, 1);
        let (dropping, dropping_rx) = mpsc::channel();
        let gate = Latch::new();
        let release = gate.guard();
        let (handle, pending) = stopped_holding(&pool, SlowDrop { dropping, gate });
        let dropper = thread::spawn(move || drop(pending));
        dropping_rx.recv().unwrap();
        let early = handle.is_finished();
        release.open();
        dropper.join().unwrap();
        assert!(
            !early,
            "the handle resolved while its task's closure was still being dropped"
        );
        assert!(matches!(handle.join(), Err(TaskError::Cancelled)));
        busy.open();
        pool.join().unwrap();
    });
}

#[test]
fn p1_a_cancelled_handle_resolves_even_if_dropping_its_task_panics() {
    quiet_expected_panics();
    bounded(|| {
        let pool = Pool::new(1).unwrap();
        let busy = occupy(&pool, 1);
        let (handle, pending) = stopped_holding(&pool, BadDrop);
        let dropped = panic::catch_unwind(panic::AssertUnwindSafe(|| drop(pending)));
        assert!(
            dropped.is_err(),
            "the closure's drop panicked into the caller"
        );
        assert!(
            handle.is_finished(),
            "the handle resolved although dropping the task panicked"
        );
        assert!(matches!(handle.join(), Err(TaskError::Cancelled)));
        busy.open();
        pool.join().unwrap();
    });
}

#[test]
fn p1_pending_execute_task_panic_goes_to_the_panic_handler() {
    bounded(|| {
        let (tx, rx) = mpsc::channel::<Box<dyn Any + Send>>();
        let tx = Mutex::new(tx);
        let pool = Pool::builder()
            .workers(1)
            .panic_handler(move |payload| tx.lock().unwrap().send(payload).unwrap())
            .build()
            .unwrap();
        let busy = occupy(&pool, 1);
        pool.execute(|| {
            panic::panic_any(Boom {
                code: 7,
                note: "pending".into(),
            })
        })
        .unwrap();
        let pending = pool.stop();
        assert_eq!(pending.len(), 1);
        pending.into_iter().for_each(PendingTask::run);
        let payload = rx.try_recv().expect("the handler ran during run()");
        assert_eq!(
            payload.downcast_ref::<Boom>(),
            Some(&Boom {
                code: 7,
                note: "pending".into()
            })
        );
        busy.open();
        pool.join().unwrap();
    });
}

#[test]
fn p1_join_returns_with_every_handle_resolved() {
    bounded(|| {
        let pool = Pool::new(2).unwrap();
        let busy = occupy(&pool, 2);
        let handles: Vec<_> = (0..200u32)
            .map(|i| pool.submit(move || i).unwrap())
            .collect();
        pool.shutdown();
        busy.open();
        pool.join().unwrap();
        assert!(handles.iter().all(TaskHandle::is_finished));
        for (i, h) in handles.into_iter().enumerate() {
            assert_eq!(h.join().unwrap(), i as u32);
        }
    });
}

// ============================================ 2. Refusal returns ownership

#[test]
fn p2_refused_tasks_come_back_whole_after_shutdown_stop_and_join() {
    bounded(|| {
        for how in [Close::Shutdown, Close::Stop, Close::Join] {
            let pool = Pool::builder()
                .workers(2)
                .queue_capacity(4)
                .build()
                .unwrap();
            close(&pool, how);

            let p = Probe::new();
            let refused = pool
                .submit(p.task(5))
                .expect_err("closed pool refuses submit");
            assert_eq!(take_back(refused, &p, RejectReason::ShutDown), 5);

            let p = Probe::new();
            let refused = pool.try_submit(p.task(6)).expect_err("refuses try_submit");
            assert_eq!(take_back(refused, &p, RejectReason::ShutDown), 6);

            let p = Probe::new();
            let refused = pool.execute(p.unit()).expect_err("refuses execute");
            take_back(refused, &p, RejectReason::ShutDown);

            let st = pool.stats();
            assert_eq!((st.submitted, st.rejected), (0, 3), "{how:?}");
        }
    });
}

#[test]
fn p2_try_submit_on_a_full_queue_gives_full_and_the_closure() {
    bounded(|| {
        let pool = Pool::builder()
            .workers(1)
            .queue_capacity(2)
            .build()
            .unwrap();
        let busy = occupy(&pool, 1);
        let queued: Vec<_> = (0..2)
            .map(|i| pool.try_submit(move || i).unwrap())
            .collect();
        for _ in 0..3 {
            let p = Probe::new();
            let refused = pool
                .try_submit(p.task("full"))
                .expect_err("the queue is full");
            assert_eq!(take_back(refused, &p, RejectReason::Full), "full");
        }
        assert_eq!(pool.stats().rejected, 3);
        assert_eq!(pool.state(), State::Running, "Full does not close the pool");
        busy.open();
        for (i, h) in queued.into_iter().enumerate() {
            assert_eq!(h.join().unwrap(), i);
        }
        // Room again: accepted.
        assert_eq!(pool.try_submit(|| 9).unwrap().join().unwrap(), 9);
        pool.join().unwrap();
    });
}

#[test]
fn p2_rejected_is_debug_display_and_error_without_f_debug() {
    bounded(|| {
        struct NotDebug(u8);
        let pool = Pool::new(1).unwrap();
        pool.shutdown();
        let captured = NotDebug(1);
        let refused = pool
            .execute(move || assert_eq!(captured.0, 1))
            .expect_err("closed pool refuses");
        let debug = format!("{refused:?}");
        let display = refused.to_string();
        assert!(!debug.is_empty() && !display.is_empty());
        let as_error: &dyn Error = &refused;
        assert!(!as_error.to_string().is_empty());
        // The reasons are distinguishable, printable values.
        assert_ne!(RejectReason::ShutDown, RejectReason::Full);
        assert_ne!(
            RejectReason::ShutDown.to_string(),
            RejectReason::Full.to_string()
        );
        assert!(!format!("{:?}", RejectReason::Full).is_empty());
        let f = refused.into_inner();
        f();
    });
}

// ========================================== 3. Closing twice is harmless

#[test]
fn p3_closing_calls_in_every_order_and_repeated_are_harmless() {
    bounded(|| {
        use Close::*;
        let orders = [
            [Shutdown, Stop, Join],
            [Shutdown, Join, Stop],
            [Stop, Shutdown, Join],
            [Stop, Join, Shutdown],
            [Join, Shutdown, Stop],
            [Join, Stop, Shutdown],
        ];
        for order in orders {
            let pool = Pool::new(2).unwrap();
            let runs = counters(50);
            for id in 0..50 {
                pool.execute(counting(&runs, id)).unwrap();
            }
            for how in order {
                close(&pool, how);
                close(&pool, how);
            }
            pool.join().unwrap();
            assert_eq!(pool.state(), State::Terminated, "{order:?}");
            assert_eq!(load_all(&runs), vec![1; 50], "{order:?}");
            assert!(pool.stop().is_empty());
            pool.shutdown();
            assert_eq!(pool.state(), State::Terminated, "{order:?}");
            drop(pool); // Drop joins once more
        }
    });
}

#[test]
fn p3_shutdown_stop_join_concurrently_from_many_threads() {
    bounded(|| {
        const CLOSERS: usize = 6;
        const TASKS: usize = 300;
        let pool = Arc::new(Pool::new(2).unwrap());
        let busy = occupy(&pool, 2);
        let runs = counters(TASKS);
        for id in 0..TASKS {
            pool.execute(counting(&runs, id)).unwrap();
        }
        let start = Arc::new(Barrier::new(CLOSERS + 1));
        let closers: Vec<_> = (0..CLOSERS)
            .map(|c| {
                let (pool, start) = (pool.clone(), start.clone());
                thread::spawn(move || {
                    start.wait();
                    let mut handed_back = 0;
                    for round in 0..30 {
                        let how = match (c + round) % 3 {
                            0 => Close::Shutdown,
                            1 => Close::Stop,
                            _ if round > 20 => Close::Join,
                            _ => Close::Shutdown,
                        };
                        handed_back += close(&pool, how);
                    }
                    pool.join().unwrap();
                    assert_eq!(pool.state(), State::Terminated);
                    handed_back
                })
            })
            .collect();
        start.wait();
        busy.open();
        let handed_back: usize = closers.into_iter().map(|c| c.join().unwrap()).sum();
        pool.join().unwrap();
        assert_eq!(load_all(&runs), vec![1; TASKS]);
        let st = pool.stats();
        assert_eq!(st.cancelled, handed_back as u64);
        assert_books_balance(&st);
    });
}

#[test]
fn p3_closing_from_inside_tasks_is_harmless() {
    bounded(|| {
        let pool = Arc::new(Pool::new(2).unwrap());
        let busy = occupy(&pool, 2);
        let runs = counters(100);
        let mut closers = Vec::new();
        for id in 0..100 {
            pool.execute(counting(&runs, id)).unwrap();
            if id % 25 == 0 {
                // Closes the pool from a worker (or, once handed back by
                // another closer's stop(), from the worker running it).
                let inner = Arc::clone(&pool);
                closers.push(
                    pool.submit(move || {
                        inner.shutdown();
                        inner.stop().into_iter().for_each(PendingTask::run);
                        inner.shutdown();
                        let _ = inner.stop();
                        inner.join()
                    })
                    .unwrap(),
                );
            }
        }
        busy.open();
        for closer in closers {
            assert_eq!(closer.join().unwrap(), Err(WaitError::InsideWorker));
        }
        pool.join().unwrap();
        assert_eq!(load_all(&runs), vec![1; 100]);
        assert_eq!(pool.state(), State::Terminated);
    });
}

// =============================================== 4. No lost wakeup

#[test]
fn p4_idle_workers_take_every_task_ping_pong() {
    bounded(|| {
        for workers in [1, 2, 4] {
            let pool = Pool::new(workers).unwrap();
            for i in 0..1500u32 {
                assert_eq!(pool.submit(move || i + 1).unwrap().join().unwrap(), i + 1);
            }
            let (tx, rx) = mpsc::channel();
            for i in 0..500u32 {
                let tx = tx.clone();
                pool.execute(move || tx.send(i).unwrap()).unwrap();
                assert_eq!(rx.recv().unwrap(), i);
            }
            pool.join().unwrap();
        }
    });
}

/// A thread that reports its kernel tid and then runs `f`.
fn spawn_reporting<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> (thread::JoinHandle<T>, Option<u32>) {
    let (tid_tx, tid_rx) = mpsc::channel();
    let handle = thread::spawn(move || {
        tid_tx.send(current_tid()).unwrap();
        f()
    });
    (handle, tid_rx.recv().unwrap())
}

#[test]
fn p4_blocked_submitter_wakes_when_room_frees() {
    bounded(|| {
        for use_execute in [false, true] {
            let pool = Arc::new(
                Pool::builder()
                    .workers(1)
                    .queue_capacity(1)
                    .build()
                    .unwrap(),
            );
            let busy = occupy(&pool, 1);
            let first = pool.try_submit(|| 1).unwrap();
            assert_eq!(
                pool.try_submit(|| 0).unwrap_err().reason(),
                RejectReason::Full
            );
            let (tx, rx) = mpsc::channel();
            let inner = pool.clone();
            let (submitter, tid) = spawn_reporting(move || {
                if use_execute {
                    inner
                        .execute(move || tx.send(2).unwrap())
                        .map_err(|r| r.reason())
                } else {
                    inner
                        .submit(move || tx.send(2).unwrap())
                        .map(drop)
                        .map_err(|r| r.reason())
                }
            });
            wait_until_asleep(tid);
            assert!(
                !submitter.is_finished(),
                "submit/execute must block on a full queue"
            );
            busy.open(); // the worker takes `first`: room frees
            assert_eq!(submitter.join().unwrap(), Ok(()), "woken and accepted");
            assert_eq!(first.join().unwrap(), 1);
            assert_eq!(rx.recv().unwrap(), 2);
            pool.join().unwrap();
        }
    });
}

#[test]
fn p4_blocked_submitters_woken_by_shutdown_stop_or_join_get_their_task_back() {
    bounded(|| {
        for how in [Close::Shutdown, Close::Stop, Close::Join] {
            let pool = Arc::new(
                Pool::builder()
                    .workers(1)
                    .queue_capacity(1)
                    .build()
                    .unwrap(),
            );
            let busy = occupy(&pool, 1);
            let filler = Probe::new();
            pool.execute(filler.unit()).unwrap();
            let mut submitters = Vec::new();
            for k in 0..3 {
                let inner = pool.clone();
                let probe = Probe::new();
                let mine = probe.clone();
                let (t, tid) = spawn_reporting(move || {
                    let why = if k == 1 {
                        inner.execute(mine.unit()).map(drop).map_err(|r| {
                            let why = r.reason();
                            (why, (mine.runs(), mine.drops()), r.into_inner())
                        })
                    } else {
                        inner.submit(mine.unit()).map(drop).map_err(|r| {
                            let why = r.reason();
                            (why, (mine.runs(), mine.drops()), r.into_inner())
                        })
                    };
                    why.map_err(|(why, seen, f)| {
                        drop(f);
                        (why, seen)
                    })
                });
                submitters.push((t, tid, probe));
            }
            for (t, tid, _) in &submitters {
                wait_until_asleep(*tid);
                assert!(!t.is_finished(), "blocked on the full queue");
            }
            let joiner = match how {
                Close::Join => {
                    let inner = pool.clone();
                    Some(thread::spawn(move || inner.join()))
                }
                other => {
                    close(&pool, other);
                    None
                }
            };
            for (t, _, probe) in submitters {
                assert_eq!(
                    t.join().unwrap(),
                    Err((RejectReason::ShutDown, (0, 0))),
                    "{how:?}: a blocked submitter wakes with its task, unrun and undropped"
                );
                assert_eq!((probe.runs(), probe.drops()), (0, 1));
            }
            busy.open();
            if let Some(j) = joiner {
                j.join().unwrap().unwrap();
            }
            pool.join().unwrap();
            assert_eq!(filler.drops(), 1);
            assert_eq!(
                filler.runs(),
                1,
                "{how:?}: queued task ran (or was run by stop's caller)"
            );
            assert_eq!(pool.stats().rejected, 3);
        }
    });
}

#[test]
fn p4_many_submitters_squeeze_through_a_one_slot_queue() {
    bounded(|| {
        const SUBMITTERS: usize = 4;
        const PER: usize = 250;
        let pool = Arc::new(
            Pool::builder()
                .workers(2)
                .queue_capacity(1)
                .build()
                .unwrap(),
        );
        let runs = counters(SUBMITTERS * PER);
        let threads: Vec<_> = (0..SUBMITTERS)
            .map(|s| {
                let (pool, runs) = (pool.clone(), runs.clone());
                thread::spawn(move || {
                    for i in 0..PER {
                        let id = s * PER + i;
                        if i % 2 == 0 {
                            pool.execute(counting(&runs, id)).unwrap();
                        } else {
                            drop(pool.submit(counting(&runs, id)).unwrap());
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        pool.join().unwrap();
        assert_eq!(load_all(&runs), vec![1; SUBMITTERS * PER]);
    });
}

#[test]
fn p4_every_wait_idle_waiter_wakes() {
    bounded(|| {
        let pool = Arc::new(Pool::new(2).unwrap());
        let busy = occupy(&pool, 2);
        let done = Arc::new(AtomicUsize::new(0));
        for _ in 0..100 {
            let done = done.clone();
            pool.execute(move || {
                done.fetch_add(1, SeqCst);
            })
            .unwrap();
        }
        let waiters: Vec<_> = (0..6)
            .map(|_| {
                let (pool, done) = (pool.clone(), done.clone());
                spawn_reporting(move || {
                    pool.wait_idle().unwrap();
                    done.load(SeqCst)
                })
            })
            .collect();
        for (w, tid) in &waiters {
            wait_until_asleep(*tid);
            assert!(
                !w.is_finished(),
                "wait_idle() returned while tasks were queued"
            );
        }
        busy.open();
        for (w, _) in waiters {
            assert_eq!(
                w.join().unwrap(),
                100,
                "returned before every task finished"
            );
        }
        let st = pool.stats();
        assert_eq!((st.queued, st.running), (0, 0));
        assert_eq!(
            pool.state(),
            State::Running,
            "wait_idle does not close the pool"
        );

        // Nothing queued, but tasks still running: waiters wait for those too.
        let busy = occupy(&pool, 2);
        let waiters: Vec<_> = (0..4)
            .map(|_| {
                let pool = pool.clone();
                spawn_reporting(move || pool.wait_idle())
            })
            .collect();
        for (w, tid) in &waiters {
            wait_until_asleep(*tid);
            assert!(
                !w.is_finished(),
                "wait_idle() returned while tasks were running"
            );
        }
        busy.open();
        for (w, _) in waiters {
            w.join().unwrap().unwrap();
        }
        assert_eq!(pool.stats().running, 0);
        pool.join().unwrap();
    });
}

#[test]
fn p4_wait_idle_counts_a_task_finished_only_after_its_handle_and_panic_handler() {
    bounded(|| {
        let hold = Latch::new();
        let (entered_tx, entered) = mpsc::channel();
        let entered_tx = Mutex::new(entered_tx);
        let handler_done = Arc::new(AtomicBool::new(false));
        let flag = handler_done.clone();
        let in_handler = hold.clone();
        let pool = Arc::new(
            Pool::builder()
                .workers(2)
                .panic_handler(move |_| {
                    entered_tx.lock().unwrap().send(()).unwrap();
                    in_handler.wait();
                    flag.store(true, SeqCst);
                })
                .build()
                .unwrap(),
        );
        let release = hold.guard(); // after the pool: dropped (opened) first
        let handles: Vec<_> = (0..50).map(|i| pool.submit(move || i).unwrap()).collect();
        pool.execute(|| expected_panic()).unwrap();
        entered.recv().unwrap();
        let inner = pool.clone();
        let (waiter, tid) = spawn_reporting(move || {
            inner.wait_idle().unwrap();
            handler_done.load(SeqCst)
        });
        wait_until_asleep(tid);
        assert!(
            !waiter.is_finished(),
            "wait_idle() returned while the panic handler ran"
        );
        release.open();
        assert!(
            waiter.join().unwrap(),
            "wait_idle() returned before the handler did"
        );
        assert!(handles.iter().all(TaskHandle::is_finished));
        pool.join().unwrap();
    });
}

#[test]
fn p4_wait_idle_when_idle_stopping_or_terminated() {
    bounded(|| {
        let pool = Arc::new(Pool::new(1).unwrap());
        pool.wait_idle().unwrap(); // idle: at once

        let busy = occupy(&pool, 1);
        let probe = Probe::new();
        pool.execute(probe.unit()).unwrap();
        let pending = pool.stop(); // Stopping, one task still running
        let inner = pool.clone();
        let (waiter, tid) = spawn_reporting(move || inner.wait_idle());
        wait_until_asleep(tid);
        assert!(!waiter.is_finished(), "a task is still running");
        busy.open();
        waiter.join().unwrap().unwrap();
        drop(pending);
        pool.join().unwrap();
        pool.wait_idle().unwrap(); // terminated: at once
        assert_eq!(probe.runs(), 0);
    });
}

// ================================================= 5. Join means gone

/// Runs one task on each of the `n` workers (they meet at a barrier, so
/// no worker runs two) that registers `notice` to run when the worker
/// thread exits.
fn on_every_worker_exit(pool: &Pool, n: usize, notice: impl Fn() + Clone + Send + 'static) {
    let all_in = Arc::new(Barrier::new(n));
    for _ in 0..n {
        let all_in = all_in.clone();
        let notice = notice.clone();
        pool.execute(move || {
            all_in.wait();
            on_thread_exit(notice);
        })
        .unwrap();
    }
    pool.wait_idle().unwrap();
}

#[test]
fn p5_join_returns_only_after_every_worker_thread_exited() {
    bounded(|| {
        const N: usize = 4;
        let pool = Pool::builder()
            .workers(N)
            .thread_name("p5exit")
            .build()
            .unwrap();
        let exited = Arc::new(AtomicUsize::new(0));
        let counter = exited.clone();
        on_every_worker_exit(&pool, N, move || {
            counter.fetch_add(1, SeqCst);
        });
        assert_eq!(threads_named("p5exit-").len(), N);
        pool.join().unwrap();
        assert_eq!(
            exited.load(SeqCst),
            N,
            "join() returned before a worker exited"
        );
        assert_eq!(pool.state(), State::Terminated);
        assert_eq!(pool.stats().workers, 0);
        assert_no_thread_named("p5exit-");
    });
}

#[test]
fn p5_join_waits_for_a_worker_thread_still_exiting() {
    bounded(|| {
        for via_drop in [false, true] {
            let pool = Pool::new(2).unwrap();
            let hold = Latch::new();
            let release = hold.guard();
            let (exiting_tx, exiting) = mpsc::channel();
            on_every_worker_exit(&pool, 2, move || {
                // The last thing a worker thread does: it has left the
                // pool's loop, but it has not exited.
                exiting_tx.send(()).unwrap();
                hold.wait();
            });
            let (joiner, tid) = spawn_reporting(move || {
                if via_drop {
                    drop(pool);
                    Ok(())
                } else {
                    pool.join()
                }
            });
            exiting.recv().unwrap();
            exiting.recv().unwrap();
            wait_until_asleep(tid);
            assert!(
                !joiner.is_finished(),
                "join()/drop returned while worker threads were still running"
            );
            release.open();
            joiner.join().unwrap().unwrap();
        }
    });
}

#[test]
fn p5_many_threads_join_at_once_and_all_return_after_termination() {
    bounded(|| {
        const N: usize = 3;
        let pool = Arc::new(Pool::new(N).unwrap());
        let exited = Arc::new(AtomicUsize::new(0));
        let counter = exited.clone();
        on_every_worker_exit(&pool, N, move || {
            counter.fetch_add(1, SeqCst);
        });
        let busy = occupy(&pool, N);
        let runs = counters(100);
        for id in 0..100 {
            pool.execute(counting(&runs, id)).unwrap();
        }
        let joiners: Vec<_> = (0..8)
            .map(|_| {
                let (pool, exited, runs) = (pool.clone(), exited.clone(), runs.clone());
                spawn_reporting(move || {
                    pool.join().unwrap();
                    (pool.state(), exited.load(SeqCst), load_all(&runs))
                })
            })
            .collect();
        for (j, tid) in &joiners {
            wait_until_asleep(*tid);
            assert!(!j.is_finished(), "join() returned while tasks were running");
        }
        busy.open();
        for (j, _) in joiners {
            let (state, exited, runs) = j.join().unwrap();
            assert_eq!(state, State::Terminated);
            assert_eq!(exited, N);
            assert_eq!(runs, vec![1; 100]);
        }
    });
}

#[test]
fn p5_dropping_the_pool_joins_it() {
    bounded(|| {
        let pool = Pool::builder()
            .workers(2)
            .thread_name("p5drop")
            .build()
            .unwrap();
        let exited = Arc::new(AtomicUsize::new(0));
        let counter = exited.clone();
        on_every_worker_exit(&pool, 2, move || {
            counter.fetch_add(1, SeqCst);
        });
        let runs = counters(200);
        for id in 0..200 {
            pool.execute(counting(&runs, id)).unwrap();
        }
        drop(pool);
        assert_eq!(load_all(&runs), vec![1; 200], "drop ran the queue");
        assert_eq!(exited.load(SeqCst), 2, "drop joined every worker");
        assert_no_thread_named("p5drop-");
    });
}

/// Promise 5: `join()` returns only once every worker thread has exited
/// and been joined, even a thread still running a thread-local destructor
/// after its last task. (`state()` reads Terminated as soon as every worker
/// has left its loop; see `State::Terminated`.)
#[test]
fn p5_join_waits_for_worker_threads_past_their_last_task() {
    // `state()` reads Terminated once every worker has left its loop and
    // counted itself out of the wait-group; the OS thread may still be
    // running its thread-local destructors then. `join()` must wait for
    // those too: it joins the threads.
    bounded(|| {
        let pool = Pool::new(1).unwrap();
        let hold = Latch::new();
        let release = hold.guard();
        let finished = Arc::new(AtomicBool::new(false));
        let (exiting_tx, exiting) = mpsc::channel();
        {
            let finished = Arc::clone(&finished);
            on_every_worker_exit(&pool, 1, move || {
                exiting_tx.send(()).unwrap();
                hold.wait();
                finished.store(true, SeqCst);
            });
        }
        pool.shutdown();
        exiting.recv().unwrap(); // the worker is past its loop, in its TLS destructor
        let state = pool.state();
        assert!(
            matches!(state, State::ShuttingDown | State::Terminated),
            "{state:?}"
        );
        let pool = Arc::new(pool);
        let joiner = {
            let pool = Arc::clone(&pool);
            let finished = Arc::clone(&finished);
            thread::spawn(move || {
                pool.join().unwrap();
                finished.load(SeqCst)
            })
        };
        release.open();
        assert!(
            joiner.join().unwrap(),
            "join() returned while a worker thread was still running"
        );
        assert_eq!(pool.state(), State::Terminated);
    });
}

// ================================================ 6. Panics are contained

#[test]
fn p6_task_panic_payloads_reach_the_handle_intact() {
    bounded(|| {
        let pool = Pool::new(2).unwrap();
        let as_str = pool
            .submit(|| -> u8 { panic::panic_any(EXPECTED) })
            .unwrap();
        let as_string = pool
            .try_submit(|| -> u8 { panic::panic_any(format!("{EXPECTED} #{}", 2)) })
            .unwrap();
        let as_struct = pool
            .submit(|| -> u8 {
                panic::panic_any(Boom {
                    code: 42,
                    note: "intact".into(),
                })
            })
            .unwrap();
        let payload = |h: TaskHandle<u8>| match h.join() {
            Err(TaskError::Panicked(p)) => p,
            other => panic!("expected Panicked, got {other:?}"),
        };
        assert_eq!(payload(as_str).downcast_ref::<&str>(), Some(&EXPECTED));
        assert_eq!(
            payload(as_string)
                .downcast_ref::<String>()
                .map(String::as_str),
            Some(format!("{EXPECTED} #2").as_str())
        );
        let boom = payload(as_struct).downcast::<Boom>().expect("a Boom");
        assert_eq!(
            *boom,
            Boom {
                code: 42,
                note: "intact".into()
            }
        );
        assert_eq!(pool.submit(|| 5).unwrap().join().unwrap(), 5);
        pool.wait_idle().unwrap();
        assert_eq!(pool.stats().panicked, 3);
        pool.join().unwrap();
    });
}

#[test]
fn p6_execute_panic_payloads_reach_the_panic_handler_intact() {
    bounded(|| {
        let (tx, rx) = mpsc::channel::<Box<dyn Any + Send>>();
        let tx = Mutex::new(tx);
        let pool = Pool::builder()
            .workers(1)
            .panic_handler(move |payload| tx.lock().unwrap().send(payload).unwrap())
            .build()
            .unwrap();
        pool.execute(|| panic::panic_any(EXPECTED)).unwrap();
        pool.execute(|| panic::panic_any(format!("{EXPECTED} as a String")))
            .unwrap();
        pool.execute(|| {
            panic::panic_any(Boom {
                code: 3,
                note: "to the handler".into(),
            })
        })
        .unwrap();
        // A submit task's panic goes to its handle, not to the handler.
        let handled = pool.submit(|| -> () { expected_panic() }).unwrap();
        assert!(matches!(handled.join(), Err(TaskError::Panicked(_))));
        pool.wait_idle().unwrap();
        let got: Vec<_> = rx.try_iter().collect();
        assert_eq!(
            got.len(),
            3,
            "one handler call per execute panic, none for submit"
        );
        assert_eq!(got[0].downcast_ref::<&str>(), Some(&EXPECTED));
        assert_eq!(
            got[1].downcast_ref::<String>().map(String::as_str),
            Some(format!("{EXPECTED} as a String").as_str())
        );
        assert_eq!(
            got[2].downcast_ref::<Boom>(),
            Some(&Boom {
                code: 3,
                note: "to the handler".into()
            })
        );
        pool.join().unwrap();
    });
}

#[test]
fn p6_worker_count_is_constant_after_many_panics() {
    bounded(|| {
        const N: usize = 3;
        let pool = Pool::new(N).unwrap();
        let mut handles = Vec::new();
        for i in 0..300 {
            if i % 2 == 0 {
                pool.execute(|| expected_panic()).unwrap();
            } else {
                handles.push(pool.submit(|| -> u8 { expected_panic() }).unwrap());
            }
        }
        for h in handles {
            assert!(matches!(h.join(), Err(TaskError::Panicked(_))));
        }
        pool.wait_idle().unwrap();
        let st = pool.stats();
        assert_eq!((st.workers, st.idle, st.panicked), (N, N, 300));
        assert_all_workers_serve(&pool, N);
        assert_eq!(pool.stats().workers, N);
        pool.join().unwrap();
    });
}

#[test]
fn p6_a_panicking_panic_handler_is_contained() {
    bounded(|| {
        const N: usize = 2;
        let calls = Arc::new(AtomicUsize::new(0));
        let seen = calls.clone();
        let pool = Pool::builder()
            .workers(N)
            .panic_handler(move |_payload| {
                seen.fetch_add(1, SeqCst);
                panic::panic_any(format!("{EXPECTED}: from the panic handler"));
            })
            .build()
            .unwrap();
        for _ in 0..40 {
            pool.execute(|| expected_panic()).unwrap();
        }
        pool.wait_idle().unwrap();
        assert_eq!(calls.load(SeqCst), 40);
        let st = pool.stats();
        assert_eq!((st.workers, st.panicked), (N, 40));
        assert_eq!(pool.submit(|| "alive").unwrap().join().unwrap(), "alive");
        assert_all_workers_serve(&pool, N);
        // The same handler, run from a PendingTask on this thread, is contained too.
        let busy = occupy(&pool, N);
        pool.execute(|| expected_panic()).unwrap();
        pool.stop().into_iter().for_each(PendingTask::run);
        assert_eq!(calls.load(SeqCst), 41);
        busy.open();
        pool.join().unwrap();
    });
}

// ============================================== 7. No self-deadlock

#[test]
fn p7_join_and_wait_idle_inside_a_worker_return_inside_worker() {
    bounded(|| {
        let pool = Arc::new(Pool::new(2).unwrap());
        let inner = pool.clone();
        let (join, idle, state) = pool
            .submit(move || (inner.join(), inner.wait_idle(), inner.state()))
            .unwrap()
            .join()
            .unwrap();
        assert!(matches!(join, Err(WaitError::InsideWorker)));
        assert!(matches!(idle, Err(WaitError::InsideWorker)));
        // Per the rustdoc of join(): it returns "without shutting down".
        assert_eq!(state, State::Running);

        let (tx, rx) = mpsc::channel();
        let inner = pool.clone();
        pool.execute(move || tx.send((inner.join(), inner.wait_idle())).unwrap())
            .unwrap();
        let (join, idle) = rx.recv().unwrap();
        assert!(matches!(join, Err(WaitError::InsideWorker)));
        assert!(matches!(idle, Err(WaitError::InsideWorker)));

        assert_eq!(pool.submit(|| 1).unwrap().join().unwrap(), 1);
        pool.join().unwrap();
    });
}

#[test]
fn p7_join_inside_the_panic_handler_returns_inside_worker() {
    bounded(|| {
        let me: Arc<Mutex<Weak<Pool>>> = Arc::new(Mutex::new(Weak::new()));
        let (tx, rx) = mpsc::channel();
        let tx = Mutex::new(tx);
        let handle_me = me.clone();
        let pool = Arc::new(
            Pool::builder()
                .workers(1)
                .panic_handler(move |_| {
                    let pool = handle_me.lock().unwrap().upgrade().expect("pool alive");
                    let outcome = (pool.join(), pool.wait_idle());
                    tx.lock().unwrap().send(outcome).unwrap();
                })
                .build()
                .unwrap(),
        );
        *me.lock().unwrap() = Arc::downgrade(&pool);
        pool.execute(|| expected_panic()).unwrap();
        let (join, idle) = rx.recv().unwrap();
        assert!(matches!(join, Err(WaitError::InsideWorker)));
        assert!(matches!(idle, Err(WaitError::InsideWorker)));
        pool.join().unwrap();
    });
}

#[test]
fn p7_waiting_for_another_pool_from_a_worker_is_allowed() {
    bounded(|| {
        let a = Pool::new(1).unwrap();
        let b = Arc::new(Pool::new(1).unwrap());
        let other = b.clone();
        let (idle, join, state) = a
            .submit(move || {
                other.execute(|| ()).unwrap();
                (other.wait_idle(), other.join(), other.state())
            })
            .unwrap()
            .join()
            .unwrap();
        assert_eq!((idle, join), (Ok(()), Ok(())));
        assert_eq!(state, State::Terminated);
        a.join().unwrap();
    });
}

#[test]
fn p7_dropping_the_last_arc_on_its_own_worker_does_not_deadlock() {
    bounded(|| {
        let pool = Arc::new(Pool::new(1).unwrap());
        let (exit_tx, exited) = mpsc::channel();
        on_every_worker_exit(&pool, 1, move || exit_tx.send(()).unwrap());
        let hold = Latch::new();
        let release = hold.guard();
        let (entered_tx, entered) = mpsc::channel();
        let (done_tx, done) = mpsc::channel();
        let last = pool.clone();
        pool.execute(move || {
            entered_tx.send(()).unwrap();
            hold.wait();
            let was_last = Arc::strong_count(&last) == 1;
            drop(last); // Drop for Pool, on this pool's own worker
            done_tx.send(was_last).unwrap();
        })
        .unwrap();
        entered.recv().unwrap();
        let after = Probe::new();
        pool.execute(after.unit()).unwrap(); // queued behind the dropping task
        drop(pool);
        release.open();
        assert!(done.recv().unwrap(), "the task held the last Arc<Pool>");
        exited.recv().expect("the worker exits on its own");
        assert_eq!(
            after.runs(),
            1,
            "the drop shut down gracefully: queued task ran"
        );
    });
}

// =============================================== 8. Counts add up

#[test]
fn p8_counts_follow_a_known_workload() {
    bounded(|| {
        let pool = Pool::builder()
            .workers(1)
            .queue_capacity(2)
            .build()
            .unwrap();
        let st = pool.stats();
        assert_eq!((st.workers, st.idle, st.queued, st.running), (1, 1, 0, 0));
        assert_eq!(
            (
                st.submitted,
                st.completed,
                st.panicked,
                st.cancelled,
                st.rejected
            ),
            (0, 0, 0, 0, 0)
        );
        for i in 0..9 {
            if i % 2 == 0 {
                pool.execute(|| ()).unwrap();
            } else {
                pool.execute(|| expected_panic()).unwrap();
            }
        }
        let ok = pool.submit(|| 1).unwrap();
        let bad = pool.submit(|| -> u8 { expected_panic() }).unwrap();
        assert_eq!(ok.join().unwrap(), 1);
        assert!(bad.join().is_err());
        pool.wait_idle().unwrap();
        let st = pool.stats();
        assert_eq!((st.submitted, st.completed, st.panicked), (11, 6, 5));
        assert_eq!((st.queued, st.running, st.idle, st.workers), (0, 0, 1, 1));
        assert_books_balance(&st);

        let busy = occupy(&pool, 1);
        let st = pool.stats();
        assert_eq!(
            (st.submitted, st.running, st.idle, st.queued),
            (12, 1, 0, 0)
        );
        let _a = pool.try_submit(|| 1).unwrap();
        let _b = pool.try_submit(|| 2).unwrap();
        for _ in 0..3 {
            assert!(pool.try_submit(|| 3).is_err());
        }
        let st = pool.stats();
        assert_eq!((st.submitted, st.queued, st.rejected), (14, 2, 3));
        let pending = pool.stop();
        assert_eq!(pending.len(), 2);
        let st = pool.stats();
        assert_eq!((st.cancelled, st.queued, st.running), (2, 0, 1));
        assert!(pool.execute(|| ()).is_err());
        assert_eq!(pool.stats().rejected, 4);
        drop(pending);
        busy.open();
        pool.join().unwrap();
        let st = pool.stats();
        assert_eq!((st.workers, st.idle, st.queued, st.running), (0, 0, 0, 0));
        assert_eq!(
            (
                st.submitted,
                st.completed,
                st.panicked,
                st.cancelled,
                st.rejected
            ),
            (14, 7, 5, 2, 4)
        );
        assert_books_balance(&st);
    });
}

#[test]
fn p8_books_balance_at_every_quiescent_moment() {
    bounded(|| {
        let pool = Pool::builder()
            .workers(3)
            .queue_capacity(4)
            .build()
            .unwrap();
        let refusals = AtomicUsize::new(0);
        for round in 0..12usize {
            let mut handles = Vec::new();
            for i in 0..(20 + round * 7) {
                match (i + round) % 4 {
                    0 => pool.execute(|| ()).unwrap(),
                    1 => pool.execute(|| expected_panic()).unwrap(),
                    2 => handles.push(pool.submit(move || i).unwrap()),
                    _ => handles.push(try_submit_until_accepted(&pool, move || i, &refusals)),
                }
            }
            pool.wait_idle().unwrap();
            let st = pool.stats();
            assert_books_balance(&st);
            assert_eq!((st.queued, st.running, st.idle), (0, 0, 3));
            assert_eq!(st.rejected, refusals.load(SeqCst) as u64);
            drop(handles);
        }
        let busy = occupy(&pool, 3);
        for _ in 0..4 {
            pool.execute(|| ()).unwrap();
        }
        assert_books_balance(&pool.stats());
        drop(pool.stop());
        busy.open();
        pool.join().unwrap();
        let st = pool.stats();
        assert_eq!(st.cancelled, 4);
        assert_books_balance(&st);
    });
}

#[test]
fn p8_counters_never_decrease_and_idle_is_workers_minus_running() {
    bounded(|| {
        const N: usize = 3;
        let pool = Arc::new(
            Pool::builder()
                .workers(N)
                .queue_capacity(16)
                .build()
                .unwrap(),
        );
        let finished = Arc::new(AtomicBool::new(false));
        let sampler = {
            let (pool, finished) = (pool.clone(), finished.clone());
            thread::spawn(move || {
                let mut prev = pool.stats();
                let mut samples = 0u64;
                loop {
                    let last_round = finished.load(SeqCst);
                    let s = pool.stats();
                    assert_eq!(s.workers.checked_sub(s.running), Some(s.idle), "{s:?}");
                    assert!(s.workers <= N, "{s:?}");
                    assert!(
                        s.workers <= prev.workers,
                        "workers went up: {prev:?} -> {s:?}"
                    );
                    for (name, before, after) in [
                        ("submitted", prev.submitted, s.submitted),
                        ("completed", prev.completed, s.completed),
                        ("panicked", prev.panicked, s.panicked),
                        ("cancelled", prev.cancelled, s.cancelled),
                        ("rejected", prev.rejected, s.rejected),
                    ] {
                        assert!(after >= before, "{name} decreased: {prev:?} -> {s:?}");
                    }
                    prev = s;
                    samples += 1;
                    if last_round {
                        return (prev, samples);
                    }
                }
            })
        };
        let submitters: Vec<_> = (0..2)
            .map(|s| {
                let pool = pool.clone();
                thread::spawn(move || {
                    let refusals = AtomicUsize::new(0);
                    for i in 0..400usize {
                        let outcome = match (i + s) % 4 {
                            0 => pool.execute(|| ()).map_err(|r| r.reason()),
                            1 => pool.execute(|| expected_panic()).map_err(|r| r.reason()),
                            2 => pool.try_submit(move || i).map(drop).map_err(|r| r.reason()),
                            _ => {
                                drop(try_submit_until_accepted(&pool, move || i, &refusals));
                                Ok(())
                            }
                        };
                        if let Err(why) = outcome {
                            assert!(
                                why == RejectReason::Full || why == RejectReason::ShutDown,
                                "{why:?}"
                            );
                        }
                    }
                })
            })
            .collect();
        for s in submitters {
            s.join().unwrap();
        }
        drop(pool.stop());
        pool.join().unwrap();
        finished.store(true, SeqCst);
        let (last, samples) = sampler.join().unwrap();
        assert!(samples > 0);
        assert_eq!(last.workers, 0, "the wait-group reached zero");
        assert_books_balance(&last);
    });
}

// ======================================= 9. Bad input gets a clear error

fn assert_printable_error<E: Error + Display + Debug>(e: &E) {
    assert!(!e.to_string().is_empty());
    assert!(!format!("{e:?}").is_empty());
}

#[test]
fn p9_zero_workers_is_a_build_error() {
    bounded(|| {
        let err = Pool::new(0).expect_err("zero workers");
        assert!(matches!(err, BuildError::ZeroWorkers), "{err:?}");
        assert_printable_error(&err);
        let err = Pool::builder()
            .workers(0)
            .queue_capacity(4)
            .build()
            .expect_err("zero workers");
        assert!(matches!(err, BuildError::ZeroWorkers), "{err:?}");
    });
}

#[test]
fn p9_zero_capacity_is_a_build_error() {
    bounded(|| {
        let err = Pool::builder()
            .workers(2)
            .queue_capacity(0)
            .build()
            .expect_err("zero capacity");
        assert!(matches!(err, BuildError::ZeroCapacity), "{err:?}");
        assert_printable_error(&err);
        assert_ne!(err.to_string(), BuildError::ZeroWorkers.to_string());
    });
}

#[test]
fn p9_an_impossible_stack_size_is_a_spawn_error_and_leaves_no_thread() {
    bounded(|| {
        let err = Pool::builder()
            .workers(3)
            .thread_name("p9stack")
            .stack_size(usize::MAX)
            .build()
            .expect_err("no thread can have a usize::MAX stack");
        assert!(matches!(err, BuildError::Spawn(_)), "{err:?}");
        assert!(err.source().is_some(), "Spawn carries the io::Error");
        assert_printable_error(&err);
        assert_no_thread_named("p9stack");
    });
}

#[test]
fn p9_a_nul_byte_in_the_thread_name_is_a_spawn_error_and_leaves_no_thread() {
    bounded(|| {
        let err = Pool::builder()
            .workers(2)
            .thread_name("p9nul\0name")
            .build()
            .expect_err("thread names cannot hold NUL");
        assert!(matches!(err, BuildError::Spawn(_)), "{err:?}");
        assert!(err.source().is_some());
        assert_no_thread_named("p9nul");
    });
}

/// Promise 9: an absurd worker count fails at the first spawn with a
/// `BuildError`, not on reserving room for `usize::MAX` handles (a
/// `Vec::with_capacity(workers)` there once panicked with "capacity
/// overflow", and aborted the process for `1 << 40`).
#[test]
fn p9_an_absurd_worker_count_is_a_build_error_not_a_panic() {
    bounded(|| {
        let outcome = panic::catch_unwind(|| {
            Pool::builder()
                .workers(usize::MAX)
                .thread_name("p9huge")
                .stack_size(usize::MAX)
                .build()
                .map(drop)
        });
        match outcome {
            Ok(Err(_build_error)) => {}
            Ok(Ok(())) => panic!("built a pool with usize::MAX impossible threads"),
            Err(payload) => panic!(
                "build() panicked instead of returning a BuildError: {:?}",
                payload
                    .downcast_ref::<&str>()
                    .copied()
                    .or(payload.downcast_ref::<String>().map(String::as_str))
            ),
        }
        assert_no_thread_named("p9huge");
    });
}

#[test]
fn p9_threads_are_named_prefix_dash_id() {
    bounded(|| {
        const N: usize = 3;
        let pool = Pool::builder()
            .workers(N)
            .thread_name("p9names")
            .build()
            .unwrap();
        let all_in = Arc::new(Barrier::new(N));
        let handles: Vec<_> = (0..N)
            .map(|_| {
                let all_in = all_in.clone();
                pool.submit(move || {
                    all_in.wait(); // one task per worker
                    thread::current().name().map(String::from)
                })
                .unwrap()
            })
            .collect();
        let names: BTreeSet<_> = handles
            .into_iter()
            .map(|h| h.join().unwrap().expect("named"))
            .collect();
        let want: BTreeSet<_> = (0..N).map(|i| format!("p9names-{i}")).collect();
        assert_eq!(names, want);
        pool.join().unwrap();
    });
}

#[test]
fn p9_the_default_builder_builds_a_working_pool() {
    bounded(|| {
        let pool = Pool::builder().build().unwrap();
        assert!(pool.stats().workers >= 1);
        assert_eq!(pool.submit(|| 2 + 2).unwrap().join().unwrap(), 4);
        pool.join().unwrap();
    });
}

// ============================================================ States

#[test]
fn state_running_shutting_down_terminated() {
    bounded(|| {
        let pool = Pool::new(1).unwrap();
        assert_eq!(pool.state(), State::Running);
        let busy = occupy(&pool, 1);
        assert_eq!(pool.state(), State::Running);
        pool.shutdown();
        assert_eq!(pool.state(), State::ShuttingDown);
        pool.shutdown();
        assert_eq!(pool.state(), State::ShuttingDown);
        busy.open();
        pool.join().unwrap();
        assert_eq!(pool.state(), State::Terminated);
        pool.shutdown();
        drop(pool.stop());
        assert_eq!(pool.state(), State::Terminated, "no transition goes back");
    });
}

#[test]
fn state_running_stopping_terminated() {
    bounded(|| {
        let pool = Pool::new(1).unwrap();
        let busy = occupy(&pool, 1);
        pool.execute(|| ()).unwrap();
        let pending = pool.stop();
        assert_eq!(pool.state(), State::Stopping);
        pool.shutdown();
        assert_eq!(
            pool.state(),
            State::Stopping,
            "shutdown() does not undo stop()"
        );
        busy.open();
        pool.join().unwrap();
        assert_eq!(pool.state(), State::Terminated);
        drop(pending);
        assert_eq!(pool.state(), State::Terminated);
    });
}

#[test]
fn state_shutting_down_then_stopping_then_terminated() {
    bounded(|| {
        let pool = Pool::new(1).unwrap();
        let busy = occupy(&pool, 1);
        pool.execute(|| ()).unwrap();
        pool.shutdown();
        assert_eq!(pool.state(), State::ShuttingDown);
        assert_eq!(
            pool.stop().len(),
            1,
            "stop() after shutdown still hands back the queue"
        );
        assert_eq!(pool.state(), State::Stopping);
        busy.open();
        pool.join().unwrap();
        assert_eq!(pool.state(), State::Terminated);
    });
}

#[test]
fn state_join_from_running_first_shuts_down() {
    bounded(|| {
        let pool = Arc::new(Pool::new(1).unwrap());
        let busy = occupy(&pool, 1);
        let queued = Probe::new();
        pool.execute(queued.unit()).unwrap();
        let inner = pool.clone();
        let joiner = thread::spawn(move || inner.join());
        assert_eq!(
            wait_state_leaves(&pool, State::Running),
            State::ShuttingDown
        );
        assert_eq!(
            pool.execute(|| ()).unwrap_err().reason(),
            RejectReason::ShutDown
        );
        busy.open();
        joiner.join().unwrap().unwrap();
        assert_eq!(pool.state(), State::Terminated);
        assert_eq!(queued.runs(), 1, "join() shuts down gracefully");
    });
}

#[test]
fn state_never_goes_backwards_while_observed() {
    bounded(|| {
        for stop_too in [false, true] {
            let pool = Arc::new(Pool::new(2).unwrap());
            let (ready_tx, ready) = mpsc::channel();
            let sampler = {
                let pool = pool.clone();
                thread::spawn(move || {
                    let mut seen = vec![pool.state()];
                    ready_tx.send(()).unwrap();
                    while *seen.last().unwrap() != State::Terminated {
                        let now = pool.state();
                        if now != *seen.last().unwrap() {
                            seen.push(now);
                        }
                    }
                    seen
                })
            };
            ready.recv().unwrap(); // the sampler has seen the pool running
            for _ in 0..200 {
                pool.execute(|| ()).unwrap();
            }
            pool.shutdown();
            if stop_too {
                drop(pool.stop());
            }
            pool.join().unwrap();
            let seen = sampler.join().unwrap();
            assert!(
                seen.windows(2).all(|w| rank(w[0]) < rank(w[1])),
                "state went backwards: {seen:?}"
            );
            assert_eq!(seen.first(), Some(&State::Running));
            assert_eq!(seen.last(), Some(&State::Terminated));
            if !stop_too {
                assert!(!seen.contains(&State::Stopping), "{seen:?}");
            }
        }
    });
}

// =================================================== Handles and errors

#[test]
fn handle_is_finished_tracks_the_task() {
    bounded(|| {
        let pool = Pool::new(1).unwrap();
        let hold = Latch::new();
        let release = hold.guard();
        let (started_tx, started) = mpsc::channel();
        let handle = pool
            .submit(move || {
                started_tx.send(()).unwrap();
                hold.wait();
                "done"
            })
            .unwrap();
        started.recv().unwrap();
        assert!(!handle.is_finished());
        let queued = pool.submit(|| 2).unwrap();
        assert!(!queued.is_finished());
        release.open();
        pool.wait_idle().unwrap();
        assert!(handle.is_finished() && queued.is_finished());
        assert_eq!(handle.join().unwrap(), "done");
        assert_eq!(queued.join().unwrap(), 2);
        pool.join().unwrap();
    });
}

#[test]
fn handle_dropped_detaches_and_outlives_the_pool() {
    bounded(|| {
        let pool = Pool::new(2).unwrap();
        let probe = Probe::new();
        drop(pool.submit(probe.task(1)).unwrap());
        let kept = pool.submit(|| vec![1, 2, 3]).unwrap();
        drop(pool);
        assert_eq!(probe.runs(), 1, "a detached task still runs");
        assert_eq!(kept.join().unwrap(), vec![1, 2, 3]);
    });
}

#[test]
fn handles_can_be_joined_from_other_threads() {
    bounded(|| {
        let pool = Pool::new(2).unwrap();
        let handles: Vec<_> = (0..8u64)
            .map(|i| pool.submit(move || i * i).unwrap())
            .collect();
        let joiners: Vec<_> = handles
            .into_iter()
            .map(|h| thread::spawn(move || h.join().unwrap()))
            .collect();
        let sum: u64 = joiners.into_iter().map(|j| j.join().unwrap()).sum();
        assert_eq!(sum, 140);
        pool.join().unwrap();
    });
}

#[test]
fn errors_implement_error_display_and_debug() {
    bounded(|| {
        fn is_error<E: Error + Display + Debug>() {}
        is_error::<TaskError>();
        is_error::<BuildError>();
        is_error::<WaitError>();
        struct NotDebug;
        is_error::<Rejected<NotDebug>>();
        is_error::<Rejected<fn()>>();

        assert_printable_error(&WaitError::InsideWorker);
        assert_printable_error(&TaskError::Cancelled);
        assert_printable_error(&TaskError::Panicked(Box::new(Boom {
            code: 1,
            note: String::new(),
        })));
        assert_printable_error(&TaskError::Panicked(Box::new("message")));
        let spawn = BuildError::Spawn(std::io::Error::other("refused"));
        assert_printable_error(&spawn);
        assert!(spawn.source().is_some());
    });
}

#[test]
fn public_types_are_send_and_sync_as_promised() {
    bounded(|| {
        fn send<T: Send>() {}
        fn send_sync<T: Send + Sync>() {}
        send_sync::<Pool>();
        send::<TaskHandle<u32>>();
        send::<TaskHandle<String>>();
        send::<PendingTask>();
        send::<Rejected<Box<dyn FnOnce() + Send>>>();
        send::<TaskError>();
        send_sync::<BuildError>();
        send_sync::<WaitError>();
        send_sync::<Stats>();
        send_sync::<State>();
        send_sync::<RejectReason>();
        send::<Arc<Pool>>();
    });
}

// ====================================== What `execute` keeps of a task

/// `execute`'s docs: what a task captures is dropped on its worker, when
/// it has run. The pool keeps small tasks' emptied boxes for a while, to
/// free them on the submitting thread (src/spent.rs); a box that still
/// held its closure would keep the captures alive past the task, unseen.
/// A hundred tasks of a few words each: three batches of boxes and more.
#[test]
fn execute_drops_a_task_s_captures_on_its_worker_once_it_has_run() {
    bounded(|| {
        struct Tell(mpsc::Sender<thread::ThreadId>);
        impl Drop for Tell {
            fn drop(&mut self) {
                let _ = self.0.send(thread::current().id());
            }
        }
        let pool = Pool::new(2).unwrap();
        let (tell, dropped) = mpsc::channel();
        let (ran_on, ran) = mpsc::channel();
        for _ in 0..100 {
            let capture = Tell(tell.clone());
            let ran_on = ran_on.clone();
            pool.execute(move || {
                let _held = &capture;
                ran_on.send(thread::current().id()).unwrap();
            })
            .unwrap();
        }
        pool.wait_idle().unwrap();
        let workers: std::collections::HashSet<_> = ran.try_iter().collect();
        let dropped_on: Vec<_> = dropped.try_iter().collect();
        assert_eq!(dropped_on.len(), 100, "a capture outlived its task");
        assert!(!workers.contains(&thread::current().id()));
        assert!(dropped_on.iter().all(|id| workers.contains(id)));
    })
}
