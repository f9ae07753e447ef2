//! A global allocator that counts, on top of the system allocator.
//!
//! Install it in a bench or test binary:
//!
//! ```ignore
//! #[global_allocator]
//! static ALLOC: benches::alloc_count::CountingAlloc = benches::alloc_count::CountingAlloc;
//! ```
//!
//! Two views are kept: process-wide totals (allocations and live bytes, for
//! memory per connection across runtime threads), and a per-thread count of
//! allocations (for the cores, which run on one thread, so other threads of
//! a test harness cannot disturb the count). A `realloc` counts as one
//! allocation, as it may move the block.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};

/// The counting allocator. Without it installed as `#[global_allocator]`
/// every count stays zero.
pub struct CountingAlloc;

static ALLOCS: AtomicU64 = AtomicU64::new(0);
static ALLOCATED_BYTES: AtomicU64 = AtomicU64::new(0);
static LIVE_BYTES: AtomicI64 = AtomicI64::new(0);

thread_local! {
    // Const-initialised and without a destructor: touching it never allocates.
    static THREAD_ALLOCS: Cell<u64> = const { Cell::new(0) };
}

fn counted(size: usize) {
    ALLOCS.fetch_add(1, Relaxed);
    ALLOCATED_BYTES.fetch_add(size as u64, Relaxed);
    LIVE_BYTES.fetch_add(size as i64, Relaxed);
    let _ = THREAD_ALLOCS.try_with(|c| c.set(c.get() + 1));
}

// SAFETY: every call is forwarded to `System` with the caller's arguments;
// the counters are plain atomics and a const thread-local, which never
// allocate.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        counted(layout.size());
        // SAFETY: forwarded as received.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        counted(layout.size());
        // SAFETY: forwarded as received.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE_BYTES.fetch_sub(layout.size() as i64, Relaxed);
        // SAFETY: forwarded as received.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        counted(new_size);
        LIVE_BYTES.fetch_sub(layout.size() as i64, Relaxed);
        // SAFETY: forwarded as received.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Process-wide counters at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Snapshot {
    /// Allocations (and reallocations) so far.
    pub allocs: u64,
    /// Bytes requested by them.
    pub allocated_bytes: u64,
    /// Bytes allocated and not yet freed.
    pub live_bytes: i64,
}

/// The process-wide counters now.
pub fn snapshot() -> Snapshot {
    Snapshot {
        allocs: ALLOCS.load(Relaxed),
        allocated_bytes: ALLOCATED_BYTES.load(Relaxed),
        live_bytes: LIVE_BYTES.load(Relaxed),
    }
}

/// Allocations made by the calling thread so far.
pub fn thread_allocs() -> u64 {
    THREAD_ALLOCS.with(Cell::get)
}

/// Allocations made by the calling thread while `f` ran, and its result.
pub fn count_thread_allocs<T>(f: impl FnOnce() -> T) -> (u64, T) {
    let before = thread_allocs();
    let out = f();
    (thread_allocs() - before, out)
}
