//! The three hand-written peers: the simplest pools one would write with
//! each primitive. All three really join their threads on shutdown; none
//! has a "wait until idle", so the benchmark counts their tasks with the
//! shared latch.

use std::collections::VecDeque;
use std::sync::{mpsc, Arc, Condvar, Mutex};
use std::thread::{self, JoinHandle};

type Job = Box<dyn FnOnce() + Send + 'static>;

fn start_workers(
    n: usize,
    prefix: &str,
    work: impl Fn() + Send + Clone + 'static,
) -> Vec<JoinHandle<()>> {
    (0..n)
        .map(|i| {
            let work = work.clone();
            thread::Builder::new()
                .name(format!("{prefix}-{i}"))
                .spawn(work)
                .expect("spawn worker")
        })
        .collect()
}

fn join_all(threads: &mut Vec<JoinHandle<()>>) {
    for t in threads.drain(..) {
        t.join().expect("worker panicked");
    }
}

/// A pool whose workers take jobs from a channel: it closes the channel
/// (the workers drain it, then see it disconnected) and joins every thread
/// on `join` or drop. The two channel peers differ only in the channel.
pub struct ChannelPool<S: JobSender> {
    tx: Option<S>,
    threads: Vec<JoinHandle<()>>,
}

/// The sending end of a job channel.
pub trait JobSender {
    fn send_job(&self, job: Job);
}

impl JobSender for mpsc::Sender<Job> {
    fn send_job(&self, job: Job) {
        self.send(job).expect("workers alive");
    }
}

impl JobSender for crossbeam_channel::Sender<Job> {
    fn send_job(&self, job: Job) {
        self.send(job).expect("workers alive");
    }
}

impl<S: JobSender> ChannelPool<S> {
    pub fn execute(&self, f: impl FnOnce() + Send + 'static) {
        self.tx.as_ref().expect("running").send_job(Box::new(f));
    }

    pub fn join(mut self) {
        self.close_and_join();
    }

    fn close_and_join(&mut self) {
        self.tx = None;
        join_all(&mut self.threads);
    }
}

impl<S: JobSender> Drop for ChannelPool<S> {
    fn drop(&mut self) {
        self.close_and_join();
    }
}

/// Workers share one std `mpsc::Receiver` behind a mutex: the lock is held
/// only while receiving, never while a job runs.
pub type MpscPool = ChannelPool<mpsc::Sender<Job>>;

impl MpscPool {
    pub fn new(workers: usize) -> Self {
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        let threads = start_workers(workers, "mpsc", move || loop {
            let next = {
                let guard = rx.lock().unwrap();
                guard.recv()
            };
            match next {
                Ok(job) => job(),
                Err(mpsc::RecvError) => return, // every sender is gone
            }
        });
        ChannelPool {
            tx: Some(tx),
            threads,
        }
    }
}

/// Workers on a shared crossbeam MPMC channel (no lock of ours at all).
pub type CrossbeamPool = ChannelPool<crossbeam_channel::Sender<Job>>;

impl CrossbeamPool {
    pub fn new(workers: usize) -> Self {
        let (tx, rx) = crossbeam_channel::unbounded::<Job>();
        let threads = start_workers(workers, "xbeam", move || {
            for job in rx.iter() {
                job();
            }
        });
        ChannelPool {
            tx: Some(tx),
            threads,
        }
    }
}

/// The textbook lock-based pool: `Mutex<VecDeque>` plus one condvar, and
/// a `notify_one` after every push whether or not anyone sleeps.
pub struct CondvarPool {
    inner: Arc<Inner>,
    threads: Vec<JoinHandle<()>>,
}

struct Inner {
    queue: Mutex<Queue>,
    ready: Condvar,
}

struct Queue {
    jobs: VecDeque<Job>,
    closed: bool,
}

impl CondvarPool {
    pub fn new(workers: usize) -> Self {
        let inner = Arc::new(Inner {
            queue: Mutex::new(Queue {
                jobs: VecDeque::new(),
                closed: false,
            }),
            ready: Condvar::new(),
        });
        let shared = Arc::clone(&inner);
        let threads = start_workers(workers, "condvar", move || loop {
            let job = {
                let mut q = shared.queue.lock().unwrap();
                loop {
                    if let Some(job) = q.jobs.pop_front() {
                        break job;
                    }
                    if q.closed {
                        return;
                    }
                    q = shared.ready.wait(q).unwrap();
                }
            };
            job();
        });
        CondvarPool { inner, threads }
    }

    pub fn execute(&self, f: impl FnOnce() + Send + 'static) {
        self.inner.queue.lock().unwrap().jobs.push_back(Box::new(f));
        self.inner.ready.notify_one();
    }

    pub fn join(mut self) {
        self.close_and_join();
    }

    fn close_and_join(&mut self) {
        self.inner.queue.lock().unwrap().closed = true;
        self.inner.ready.notify_all();
        join_all(&mut self.threads);
    }
}

impl Drop for CondvarPool {
    fn drop(&mut self) {
        self.close_and_join();
    }
}
