//! Spent task boxes go back to the submitting side to be freed.
//!
//! An `execute` task is boxed on the thread that submits it and, left to
//! itself, freed on the worker that runs it. glibc's allocator makes that
//! the slow way round: the worker's frees land on a free list that the
//! submitter's next allocation then pops, so every task moves that list's
//! head between the two cores, and one submitter feeding two workers
//! spent a third of its time in `malloc` (docs/PERFORMANCE.md). Freed on
//! the submitting thread instead, a box goes to that thread's own cache,
//! where its next allocation finds it.
//!
//! So a small task runs in place and its emptied box (a [`Shell`]) stays
//! with the worker; every [`BATCH`] shells the worker leaves them on the
//! pool's [`Pile`], and the next `execute` frees them on its own thread.
//!
//! Nothing here waits, and nothing here can be seen by a task or a caller.
//! Both sides only *try* the pile's lock; a worker that finds the pile
//! busy or not yet collected frees its batch itself. A shell holds nothing
//! of its task: the closure was moved out of it and consumed when it ran.
//! So no promise depends on where or when a shell is freed, and under the
//! model checkers the pile frees every batch on the worker at once: it
//! adds no lock or atomic for them to explore. What it costs is memory:
//! at most `BATCH` shells of at most [`LARGEST`] bytes each per worker and
//! on the pile, until the worker's next batch or the next `execute`.

use std::mem::size_of;

/// A task's box after its closure has run: nothing left to drop but the
/// allocation.
pub(crate) type Shell = Box<dyn Send>;

/// How many shells a worker gathers before it leaves them on the pile.
pub(crate) const BATCH: usize = 32;

/// The largest box handed back, in bytes: glibc's default limit for the
/// free lists whose head the submitter and the workers would share. A
/// larger closure is rare on a hot path, and would tie up more memory.
pub(crate) const LARGEST: usize = 128;

/// Whether a closure of type `F`, boxed in an `Option`, is worth running
/// in place so that its box can be handed back. A zero-sized closure's
/// box allocates nothing, and its `Option` would.
pub(crate) const fn worth_handing_back<F>() -> bool {
    size_of::<F>() != 0 && size_of::<Option<F>>() <= LARGEST
}

/// A worker's shells, not yet left on the pile.
pub(crate) struct Batch {
    shells: [Option<Shell>; BATCH],
    len: usize,
}

impl Batch {
    pub(crate) fn new() -> Self {
        Batch {
            shells: std::array::from_fn(|_| None),
            len: 0,
        }
    }

    pub(crate) fn keep(&mut self, shell: Shell) {
        if self.is_full() {
            // Not reached from the worker loop, which leaves a full batch
            // before it runs the next task; freeing here is always right.
            return;
        }
        self.shells[self.len] = Some(shell);
        self.len += 1;
    }

    pub(crate) fn is_full(&self) -> bool {
        self.len == BATCH
    }

    #[cfg(all(test, not(any(loom, shuttle))))]
    fn len(&self) -> usize {
        self.len
    }
}

#[cfg(not(any(loom, shuttle)))]
pub(crate) use handing_back::Pile;

#[cfg(not(any(loom, shuttle)))]
mod handing_back {
    use super::Batch;
    use crate::sync::{padded, AtomicUsize, Mutex, Ordering, Padded};

    /// Where workers leave full batches for the submitting side. On a
    /// cache line of its own: every `execute` reads `waiting`.
    pub(crate) struct Pile(Padded<Inner>);

    struct Inner {
        /// How many shells the pile holds; read without the lock, so that
        /// an `execute` with nothing to collect touches only this word.
        waiting: AtomicUsize,
        shells: Mutex<Batch>,
    }

    impl Pile {
        pub(crate) fn new() -> Self {
            Pile(padded(Inner {
                waiting: AtomicUsize::new(0),
                shells: Mutex::named("pile", Batch::new()),
            }))
        }

        /// Takes a worker's full batch if the last one was collected;
        /// otherwise frees it here. Either way `batch` is left empty.
        pub(crate) fn leave(&self, batch: &mut Batch) {
            let pile = &self.0;
            if pile.waiting.load(Ordering::Relaxed) == 0 {
                if let Some(mut shells) = pile.shells.try_lock() {
                    if shells.len == 0 {
                        std::mem::swap(&mut *shells, batch);
                        pile.waiting.store(shells.len, Ordering::Relaxed);
                        return;
                    }
                }
            }
            *batch = Batch::new();
        }

        /// Frees, on the calling thread, the shells left on the pile, if
        /// any and if nobody else is at the pile just now.
        pub(crate) fn collect(&self) {
            let pile = &self.0;
            if pile.waiting.load(Ordering::Relaxed) == 0 {
                return;
            }
            let Some(mut shells) = pile.shells.try_lock() else {
                return;
            };
            pile.waiting.store(0, Ordering::Relaxed);
            let taken = std::mem::replace(&mut *shells, Batch::new());
            // Free outside the lock: a worker trying it meanwhile would
            // have to free its own batch.
            drop(shells);
            drop(taken);
        }
    }
}

/// Under the model checkers: every batch is freed on the worker.
#[cfg(any(loom, shuttle))]
pub(crate) struct Pile;

#[cfg(any(loom, shuttle))]
impl Pile {
    pub(crate) fn new() -> Self {
        Pile
    }

    pub(crate) fn leave(&self, batch: &mut Batch) {
        *batch = Batch::new();
    }

    pub(crate) fn collect(&self) {}
}

#[cfg(all(test, not(any(loom, shuttle))))]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::thread::{self, ThreadId};

    /// A shell that reports the thread it is freed on.
    struct Tell(mpsc::Sender<ThreadId>);

    impl Drop for Tell {
        fn drop(&mut self) {
            let _ = self.0.send(thread::current().id());
        }
    }

    fn full_batch(tell: &mpsc::Sender<ThreadId>) -> Batch {
        let mut batch = Batch::new();
        while !batch.is_full() {
            batch.keep(Box::new(Tell(tell.clone())));
        }
        batch
    }

    #[test]
    fn a_batch_left_by_a_worker_is_freed_by_the_thread_that_collects() {
        let pile = Pile::new();
        let (tell, freed) = mpsc::channel();
        let worker = thread::scope(|s| {
            s.spawn(|| {
                let mut batch = full_batch(&tell);
                pile.leave(&mut batch);
                assert_eq!(batch.len(), 0);
                thread::current().id()
            })
            .join()
            .unwrap()
        });
        assert!(freed.try_recv().is_err(), "nothing is freed until collected");
        pile.collect();
        let here = thread::current().id();
        assert_ne!(here, worker);
        assert_eq!(freed.try_iter().filter(|&id| id == here).count(), BATCH);
        pile.collect();
        assert!(freed.try_recv().is_err(), "a batch is freed once");
    }

    #[test]
    fn a_worker_frees_its_own_batch_while_the_last_one_waits() {
        let pile = Pile::new();
        let (tell, freed) = mpsc::channel();
        pile.leave(&mut full_batch(&tell));
        let mut second = full_batch(&tell);
        pile.leave(&mut second);
        assert_eq!(second.len(), 0);
        assert_eq!(freed.try_iter().count(), BATCH, "the second batch, at once");
        pile.collect();
        assert_eq!(freed.try_iter().count(), BATCH, "the first, on collect");
    }

    #[test]
    fn a_full_batch_frees_what_it_cannot_keep() {
        let (tell, freed) = mpsc::channel();
        let mut batch = full_batch(&tell);
        batch.keep(Box::new(Tell(tell.clone())));
        assert_eq!(freed.try_iter().count(), 1);
        assert_eq!(batch.len(), BATCH);
    }

    fn handed_back<F: FnOnce()>(_: &F) -> bool {
        worth_handing_back::<F>()
    }

    #[test]
    fn only_small_closures_that_capture_something_are_handed_back() {
        let small = String::from("7");
        let big: [String; 6] = Default::default();
        assert!(handed_back(&move || drop(small)));
        assert!(!handed_back(&|| ()), "a zero-sized box allocates nothing");
        assert!(size_of::<Option<[String; 6]>>() > LARGEST);
        assert!(!handed_back(&move || drop(big)));
    }
}
