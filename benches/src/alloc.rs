//! A counting global allocator: wraps the allocator every peer runs on
//! (`System`, or mimalloc with `--features mimalloc`) and, while counting
//! is on, counts every allocation (and its bytes) made by any thread.
//!
//! Counting is off except inside the allocation workload, so the timed
//! workloads pay one relaxed load of a flag that never changes under them.
//!
//! The allocator is a build option because the one-producer row depends on
//! it: glibc's fastbins meet a pool's hand-off differently from pool to
//! pool (docs/PERFORMANCE.md), and a user may run on either.

use std::alloc::{GlobalAlloc, Layout};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

#[cfg(not(feature = "mimalloc"))]
use std::alloc::System as Inner;

#[cfg(feature = "mimalloc")]
use mimalloc::MiMalloc as Inner;

/// What the run's `.meta.txt` calls the allocator underneath.
pub const NAME: &str = if cfg!(feature = "mimalloc") {
    "mimalloc"
} else {
    "system"
};

pub struct Counting;

static ON: AtomicBool = AtomicBool::new(false);
static ALLOCS: AtomicU64 = AtomicU64::new(0);
static BYTES: AtomicU64 = AtomicU64::new(0);

#[inline]
fn count(bytes: usize) {
    if ON.load(Ordering::Relaxed) {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(bytes as u64, Ordering::Relaxed);
    }
}

// SAFETY: every call is forwarded unchanged to `Inner`; the counters have
// no effect on the memory handed out.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        unsafe { Inner.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        unsafe { Inner.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // A realloc that grows a buffer is a fresh allocation as far as the
        // cost model goes.
        count(new_size);
        unsafe { Inner.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { Inner.dealloc(ptr, layout) }
    }
}

/// Counts allocations made (by every thread) while `f` runs.
/// Returns `(allocations, bytes)`.
pub fn count_during(f: impl FnOnce()) -> (u64, u64) {
    ALLOCS.store(0, Ordering::SeqCst);
    BYTES.store(0, Ordering::SeqCst);
    ON.store(true, Ordering::SeqCst);
    f();
    ON.store(false, Ordering::SeqCst);
    (ALLOCS.load(Ordering::SeqCst), BYTES.load(Ordering::SeqCst))
}
