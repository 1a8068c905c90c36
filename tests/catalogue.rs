#![cfg(not(any(loom, shuttle)))]
//! The bug catalogue of CONTRACT.md (B1-B10), each replayed with real
//! threads: the scenario in which real pools broke, and an assertion that
//! fails if this pool breaks the same way.
//!
//! Every test runs under a watchdog (`common::bounded`), so a hang fails
//! instead of stalling; nothing synchronises by sleeping.

mod common;

use std::panic;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc, Barrier};
use std::thread;

use common::*;
use verified_pool::{
    BuildError, PendingTask, Pool, RejectReason, State, TaskError, TaskHandle, WaitError,
};

/// Runs one task on each of the `n` workers (they meet at a barrier, so no
/// worker runs two) that counts the worker thread's exit in `exited`.
fn count_worker_exits(pool: &Pool, n: usize, exited: &Arc<AtomicUsize>) {
    let all_in = Arc::new(Barrier::new(n));
    for _ in 0..n {
        let (all_in, exited) = (all_in.clone(), exited.clone());
        pool.execute(move || {
            all_in.wait();
            on_thread_exit(move || {
                exited.fetch_add(1, SeqCst);
            });
        })
        .unwrap();
    }
    pool.wait_idle().unwrap();
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

fn expected_panic() -> ! {
    panic::panic_any(EXPECTED)
}

/// B1 (promise 5): stop walked N never-filled worker slots and crashed.
/// Stop and join must visit exactly the workers that were started.
#[test]
fn b1_stop_and_join_visit_exactly_the_started_workers() {
    bounded(|| {
        for n in 1..=6 {
            let pool = Pool::builder()
                .workers(n)
                .thread_name("b1slot")
                .build()
                .unwrap();
            assert_eq!(pool.stats().workers, n);
            let exited = Arc::new(AtomicUsize::new(0));
            count_worker_exits(&pool, n, &exited);
            assert!(pool.stop().is_empty());
            pool.join().unwrap();
            pool.join().unwrap();
            assert_eq!(
                exited.load(SeqCst),
                n,
                "{n} workers: every started worker joined"
            );
            assert_eq!(pool.state(), State::Terminated);
            assert_eq!(pool.stats().workers, 0);
        }
        // Pools that never ran a task: stop, join and drop straight away.
        for n in 1..=6 {
            let pool = Pool::new(n).unwrap();
            assert!(pool.stop().is_empty());
            drop(pool);
            drop(Pool::new(n).unwrap());
        }
        assert_no_thread_named("b1slot");
    });
}

/// B2 (promise 3): a second Stop closed an already-closed channel and
/// panicked. Here every closing call is repeated, from many threads at once.
#[test]
fn b2_double_and_concurrent_close_never_panics() {
    bounded(|| {
        const THREADS: usize = 8;
        let pool = Arc::new(Pool::new(2).unwrap());
        let busy = occupy(&pool, 2);
        let runs = counters(200);
        for id in 0..200 {
            let runs = runs.clone();
            pool.execute(move || {
                runs[id].fetch_add(1, SeqCst);
            })
            .unwrap();
        }
        let start = Arc::new(Barrier::new(THREADS));
        let closers: Vec<_> = (0..THREADS)
            .map(|t| {
                let (pool, start) = (pool.clone(), start.clone());
                thread::spawn(move || {
                    start.wait();
                    let mut handed_back = 0;
                    for round in 0..50 {
                        if (t + round) % 2 == 0 {
                            let pending = pool.stop();
                            handed_back += pending.len();
                            pending.into_iter().for_each(PendingTask::run);
                        } else {
                            pool.shutdown();
                        }
                    }
                    handed_back
                })
            })
            .collect();
        let handed_back: usize = closers.into_iter().map(|c| c.join().unwrap()).sum();
        assert_eq!(handed_back, 200, "the queue is handed back once, in total");
        assert_eq!(pool.state(), State::Stopping);
        busy.open();
        pool.join().unwrap();
        pool.join().unwrap();
        assert!(pool.stop().is_empty());
        pool.shutdown();
        assert_eq!(load_all(&runs), vec![1; 200]);
        assert_eq!(pool.state(), State::Terminated);
    });
}

/// B3 (promise 4): a worker saw "queue empty", then slept without the lock
/// and missed the notify in between. Ping-pong makes every task arrive just
/// as a worker is going back to sleep; a lost wakeup hangs (the watchdog
/// fails the test).
#[test]
fn b3_no_lost_wakeup_when_tasks_arrive_as_workers_fall_asleep() {
    bounded(|| {
        let pool = Pool::new(1).unwrap();
        for i in 0..3000u32 {
            assert_eq!(pool.submit(move || i).unwrap().join().unwrap(), i);
        }
        pool.join().unwrap();

        // Two clients, two workers: wakeups race each other too.
        let pool = Arc::new(Pool::new(2).unwrap());
        let clients: Vec<_> = (0..2)
            .map(|c| {
                let pool = pool.clone();
                thread::spawn(move || {
                    let (tx, rx) = mpsc::channel();
                    for i in 0..1500u32 {
                        let tx = tx.clone();
                        pool.execute(move || tx.send((c, i)).unwrap()).unwrap();
                        assert_eq!(rx.recv().unwrap(), (c, i));
                    }
                })
            })
            .collect();
        for c in clients {
            c.join().unwrap();
        }
        // wait_idle() waiters must be woken too, each round.
        for _ in 0..1000 {
            pool.execute(|| ()).unwrap();
            pool.wait_idle().unwrap();
        }
        pool.join().unwrap();
    });
}

/// B4 (promise 1): the job channel was closed and the pool returned before
/// the workers drained it. join (and drop) must run every queued task first.
#[test]
fn b4_no_queued_task_lost_at_shutdown() {
    bounded(|| {
        const N: usize = 2000;
        for via_drop in [false, true] {
            let pool = Arc::new(Pool::new(2).unwrap());
            let busy = occupy(&pool, 2);
            let runs = counters(N);
            let handles: Vec<TaskHandle<usize>> = (0..N)
                .map(|id| {
                    let runs = runs.clone();
                    pool.submit(move || runs[id].fetch_add(1, SeqCst) + 1)
                        .unwrap()
                })
                .collect();
            let closer = {
                let pool = pool.clone();
                thread::spawn(move || pool.shutdown())
            };
            closer.join().unwrap();
            busy.open();
            if via_drop {
                let pool = Arc::into_inner(pool).expect("the only Arc");
                drop(pool);
            } else {
                pool.join().unwrap();
            }
            assert_eq!(load_all(&runs), vec![1; N], "drop: {via_drop}");
            for h in handles {
                assert_eq!(h.join().unwrap(), 1);
            }
        }
    });
}

/// B5 (promises 5, 8): Add(n) with fewer Done, or Add after Wait began:
/// Wait hangs or the counter goes negative. Every worker must be counted in
/// once and out once, also when the build fails part way.
#[test]
fn b5_wait_group_counts_every_worker_in_and_out_once() {
    bounded(|| {
        for n in 1..=8 {
            let pool = Arc::new(Pool::new(n).unwrap());
            assert_eq!(pool.stats().workers, n);
            let exited = Arc::new(AtomicUsize::new(0));
            count_worker_exits(&pool, n, &exited);
            let joiners: Vec<_> = (0..3)
                .map(|_| {
                    let pool = pool.clone();
                    thread::spawn(move || pool.join())
                })
                .collect();
            pool.join().unwrap();
            for j in joiners {
                j.join().unwrap().unwrap();
            }
            assert_eq!(exited.load(SeqCst), n);
            let st = pool.stats();
            assert_eq!((st.workers, st.idle, st.running), (0, 0, 0));
            assert_eq!(pool.state(), State::Terminated);
        }
        // A build that fails: the workers it counted in must be counted out
        // (no hang in the internal join, no underflow panic).
        for n in 1..=4 {
            let err = Pool::builder()
                .workers(n)
                .thread_name("b5\0bad")
                .build()
                .expect_err("NUL in the thread name");
            assert!(matches!(err, BuildError::Spawn(_)), "{err:?}");
            let err = Pool::builder()
                .workers(n)
                .stack_size(usize::MAX)
                .build()
                .expect_err("impossible stack");
            assert!(matches!(err, BuildError::Spawn(_)), "{err:?}");
        }
    });
}

/// B6 (promise 6): a panicking task killed the process, or silently killed
/// its worker so that capacity shrank.
#[test]
fn b6_panics_neither_kill_workers_nor_shrink_the_pool() {
    bounded(|| {
        const N: usize = 2;
        let pool = Pool::new(N).unwrap();
        let mut handles = Vec::new();
        for i in 0..400 {
            if i % 2 == 0 {
                pool.execute(|| expected_panic()).unwrap(); // no handler: payload dropped
            } else {
                handles.push(pool.submit(|| -> u8 { expected_panic() }).unwrap());
            }
        }
        // Payloads whose own Drop panics, with no handler to take them.
        for _ in 0..20 {
            pool.execute(|| panic::panic_any(BadDrop)).unwrap();
        }
        // Values whose Drop panics, left to the worker by a dropped handle.
        let busy = occupy(&pool, N);
        for _ in 0..20 {
            drop(pool.submit(|| BadDrop).unwrap());
        }
        busy.open();
        for h in handles {
            assert!(matches!(h.join(), Err(TaskError::Panicked(_))));
        }
        pool.wait_idle().unwrap();
        let st = pool.stats();
        assert_eq!((st.workers, st.idle), (N, N), "{st:?}");
        assert_eq!(st.panicked, 420);
        // Full capacity: N tasks that can only finish together all start.
        assert_all_workers_serve(&pool, N);
        assert_eq!(pool.submit(|| 1).unwrap().join().unwrap(), 1);
        pool.join().unwrap();
    });
}

/// B6 (promise 6), the handler's side: a panic handler that panics, with a
/// payload whose Drop panics again, is contained too.
#[test]
fn b6_panicking_panic_handler_with_a_panicking_payload_is_contained() {
    bounded(|| {
        const N: usize = 2;
        let calls = Arc::new(AtomicUsize::new(0));
        let seen = calls.clone();
        let pool = Pool::builder()
            .workers(N)
            .panic_handler(move |_payload| {
                seen.fetch_add(1, SeqCst);
                panic::panic_any(BadDrop);
            })
            .build()
            .unwrap();
        for _ in 0..30 {
            pool.execute(|| expected_panic()).unwrap();
        }
        pool.wait_idle().unwrap();
        assert_eq!(calls.load(SeqCst), 30);
        assert_eq!(pool.stats().workers, N);
        assert_all_workers_serve(&pool, N);
        pool.join().unwrap();
    });
}

/// B7 (promise 2): submit raced shutdown and sent on a closed channel
/// (panic), or the task was dropped silently. Every closure must be run
/// exactly once or handed back unrun and undropped.
#[test]
fn b7_submit_racing_shutdown_never_panics_and_never_drops_silently() {
    bounded(|| {
        const SUBMITTERS: usize = 3;
        const PER: usize = 400;
        let pool = Arc::new(
            Pool::builder()
                .workers(2)
                .queue_capacity(16)
                .build()
                .unwrap(),
        );
        let probes: Arc<Vec<Probe>> =
            Arc::new((0..SUBMITTERS * PER).map(|_| Probe::new()).collect());
        let (progress_tx, progress) = mpsc::channel();
        let submitters: Vec<_> = (0..SUBMITTERS)
            .map(|s| {
                let (pool, probes, progress_tx) =
                    (pool.clone(), probes.clone(), progress_tx.clone());
                thread::spawn(move || {
                    let (mut accepted, mut refused) = (Vec::new(), 0u64);
                    for i in 0..PER {
                        if i == PER / 3 {
                            progress_tx.send(()).unwrap();
                        }
                        let id = s * PER + i;
                        let p = &probes[id];
                        // The refusal, checked on the spot: not run, not dropped.
                        let check = |why: RejectReason| {
                            assert_eq!(why, RejectReason::ShutDown, "task {id}");
                            assert_eq!((p.runs(), p.drops()), (0, 0), "task {id} refused");
                        };
                        let outcome = match i % 3 {
                            0 => pool.submit(p.task(id)).map(Some).map_err(|r| {
                                check(r.reason());
                                drop(r.into_inner());
                            }),
                            1 => pool.execute(p.unit()).map(|()| None).map_err(|r| {
                                check(r.reason());
                                drop(r.into_inner());
                            }),
                            _ => {
                                let mut f = p.task(id);
                                loop {
                                    match pool.try_submit(f) {
                                        Ok(h) => break Ok(Some(h)),
                                        Err(r) if r.reason() == RejectReason::Full => {
                                            f = r.into_inner();
                                            thread::yield_now();
                                        }
                                        Err(r) => {
                                            check(r.reason());
                                            drop(r.into_inner());
                                            break Err(());
                                        }
                                    }
                                }
                            }
                        };
                        match outcome {
                            Ok(handle) => accepted.push((id, handle)),
                            Err(()) => refused += 1,
                        }
                    }
                    (accepted, refused)
                })
            })
            .collect();
        for _ in 0..SUBMITTERS {
            progress.recv().unwrap();
        }
        pool.shutdown();
        let pending = pool.stop();
        let handed_back = pending.len();
        pending.into_iter().for_each(PendingTask::run);
        let mut refused = 0;
        let mut accepted = Vec::new();
        for s in submitters {
            let (a, r) = s.join().unwrap();
            accepted.extend(a);
            refused += r;
        }
        pool.join().unwrap();
        let accepted_ids: std::collections::BTreeSet<usize> =
            accepted.iter().map(|(id, _)| *id).collect();
        for (id, p) in probes.iter().enumerate() {
            assert_eq!(p.drops(), 1, "task {id}: dropped exactly once");
            let was_accepted = accepted_ids.contains(&id);
            assert_eq!(
                p.runs(),
                usize::from(was_accepted),
                "task {id}: ran once iff accepted"
            );
        }
        for (id, handle) in accepted {
            if let Some(h) = handle {
                assert_eq!(h.join().unwrap(), id);
            }
        }
        let st = pool.stats();
        let total = (SUBMITTERS * PER) as u64;
        assert_eq!(st.submitted + refused, total);
        assert_eq!(st.cancelled, handed_back as u64);
        assert_eq!(st.completed + st.cancelled, st.submitted);
        assert!(st.rejected >= refused, "{st:?}"); // plus the Full refusals
    });
}

/// B8 (promise 5): workers blocked forever on a channel nobody closed, and
/// join returned while threads still ran. Here each worker thread, on its
/// way out (in a thread-local destructor, after the pool's loop), lingers
/// until released: join (or drop) must still be waiting then, and no
/// thread of the pool may be left once it returns.
#[test]
fn b8_join_and_drop_leave_no_worker_thread_running() {
    bounded(|| {
        const N: usize = 3;
        for (prefix, via_drop) in [("b8join", false), ("b8drop", true)] {
            let pool = Pool::builder()
                .workers(N)
                .thread_name(prefix)
                .build()
                .unwrap();
            let exited = Arc::new(AtomicUsize::new(0));
            let hold = Latch::new();
            let (exiting_tx, exiting) = mpsc::channel();
            let all_in = Arc::new(Barrier::new(N));
            for _ in 0..N {
                let (all_in, exited) = (all_in.clone(), exited.clone());
                let (hold, exiting_tx) = (hold.clone(), exiting_tx.clone());
                pool.execute(move || {
                    all_in.wait(); // one task per worker
                    on_thread_exit(move || {
                        exiting_tx.send(()).unwrap();
                        hold.wait();
                        exited.fetch_add(1, SeqCst);
                    });
                })
                .unwrap();
            }
            pool.wait_idle().unwrap();
            assert_eq!(threads_named(prefix).len(), N);
            let release = hold.guard();
            let (joiner, tid) = spawn_reporting(move || {
                if via_drop {
                    drop(pool);
                    None
                } else {
                    pool.join().unwrap();
                    Some(pool.stats().workers)
                }
            });
            for _ in 0..N {
                exiting.recv().unwrap();
            }
            wait_until_asleep(tid);
            assert!(
                !joiner.is_finished(),
                "{prefix}: returned while the pool's threads were still running"
            );
            release.open();
            let workers = joiner.join().unwrap();
            assert_eq!(
                exited.load(SeqCst),
                N,
                "{prefix}: a worker thread outlived it"
            );
            assert!(workers.is_none_or(|w| w == 0), "{prefix}: {workers:?}");
            assert_no_thread_named(prefix);
        }
        // Stopping with idle workers: they must be woken to exit.
        let pool = Pool::builder()
            .workers(N)
            .thread_name("b8stop")
            .build()
            .unwrap();
        drop(pool.stop());
        pool.join().unwrap();
        assert_no_thread_named("b8stop");
    });
}

/// B9 (promise 4): a submitter waiting on a full queue stayed blocked after
/// shutdown.
#[test]
fn b9_blocked_submitter_is_woken_by_shutdown() {
    bounded(|| {
        for use_stop in [false, true] {
            let pool = Arc::new(
                Pool::builder()
                    .workers(1)
                    .queue_capacity(2)
                    .build()
                    .unwrap(),
            );
            let busy = occupy(&pool, 1);
            let queued: Vec<_> = (0..2).map(|i| pool.submit(move || i).unwrap()).collect();
            let blocked: Vec<_> = (0..4)
                .map(|k| {
                    let pool = pool.clone();
                    let probe = Probe::new();
                    let mine = probe.clone();
                    // Blocks; once refused, reports the reason and what the
                    // probe saw at that moment, then runs the task it got back.
                    let (t, tid) = spawn_reporting(move || {
                        if k % 2 == 0 {
                            pool.submit(mine.task(k)).map(drop).map_err(|r| {
                                (r.reason(), (mine.runs(), mine.drops()), r.into_inner()())
                            })
                        } else {
                            pool.execute(mine.unit()).map_err(|r| {
                                (r.reason(), (mine.runs(), mine.drops()), {
                                    r.into_inner()();
                                    k
                                })
                            })
                        }
                    });
                    (t, tid, probe)
                })
                .collect();
            for (t, tid, _) in &blocked {
                wait_until_asleep(*tid);
                assert!(!t.is_finished(), "the queue is full: the submitter blocks");
            }
            let pending = if use_stop {
                pool.stop()
            } else {
                pool.shutdown();
                Vec::new()
            };
            for (k, (t, _, probe)) in blocked.into_iter().enumerate() {
                assert_eq!(
                    t.join().unwrap(),
                    Err((RejectReason::ShutDown, (0, 0), k)),
                    "stop: {use_stop}: woken, refused, task handed back whole"
                );
                assert_eq!((probe.runs(), probe.drops()), (1, 1)); // we ran it ourselves
            }
            assert_eq!(pending.len(), if use_stop { 2 } else { 0 });
            pending.into_iter().for_each(PendingTask::run);
            busy.open();
            pool.join().unwrap();
            for (i, h) in queued.into_iter().enumerate() {
                assert_eq!(h.join().unwrap(), i);
            }
        }
    });
}

/// B10 (promise 7): a task waited for the pool it runs on. join() and
/// wait_idle() from a worker return Err(InsideWorker) at once, even with
/// every worker doing it at the same moment.
#[test]
fn b10_task_waiting_for_its_own_pool_gets_inside_worker() {
    bounded(|| {
        const N: usize = 3;
        let pool = Arc::new(Pool::new(N).unwrap());
        let all_in = Arc::new(Barrier::new(N));
        let handles: Vec<_> = (0..N)
            .map(|_| {
                let (inner, all_in) = (pool.clone(), all_in.clone());
                pool.submit(move || {
                    all_in.wait(); // every worker is inside a task now
                    (inner.wait_idle(), inner.join(), inner.wait_idle())
                })
                .unwrap()
            })
            .collect();
        for h in handles {
            let (a, b, c) = h.join().unwrap();
            assert_eq!(a, Err(WaitError::InsideWorker));
            assert_eq!(b, Err(WaitError::InsideWorker));
            assert_eq!(c, Err(WaitError::InsideWorker));
        }
        assert_eq!(
            pool.submit(|| "still serving").unwrap().join().unwrap(),
            "still serving"
        );

        // The Drop variant: the last Arc<Pool> dropped on its own worker.
        let (done_tx, done) = mpsc::channel();
        let last = pool.clone();
        let hold = Latch::new();
        let release = hold.guard();
        let gate = hold.clone();
        pool.execute(move || {
            gate.wait();
            let was_last = Arc::strong_count(&last) == 1;
            drop(last);
            done_tx.send(was_last).unwrap();
        })
        .unwrap();
        drop(pool);
        release.open();
        assert!(done.recv().unwrap(), "the task dropped the last Arc<Pool>");
    });
}
