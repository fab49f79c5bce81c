//! Counting heap allocations per thread, for the claim that a worker's data
//! path allocates nothing per batch in steady state.
//!
//! The `kmirror` binary installs [`CountingAllocator`] as its global
//! allocator: it hands every request to the system allocator and adds one to
//! a counter of the calling thread. A worker reads its own counter
//! ([`this_thread`]) around the work it does and reports what its data path
//! allocated (`kmirror_worker_allocations`). Without the allocator
//! installed (the library linked elsewhere) every count stays 0.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

thread_local! {
    /// Allocations (and reallocations) this thread has asked for. A const
    /// initialiser and no destructor: reading it never allocates.
    static COUNT: Cell<u64> = const { Cell::new(0) };
}

/// The system allocator, counting each allocation against its thread.
pub struct CountingAllocator;

fn count() {
    // During thread teardown the slot may be gone; such allocations are
    // not counted, which only matters after a worker stopped.
    let _ = COUNT.try_with(|c| c.set(c.get() + 1));
}

// SAFETY: every call is passed unchanged to `System`, which upholds
// GlobalAlloc's contract; counting touches only a thread-local `Cell`.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: the caller's contract is System's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
}

/// Allocations the calling thread has made so far (0 when the counting
/// allocator is not installed).
pub fn this_thread() -> u64 {
    COUNT.try_with(Cell::get).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_each_call_of_the_calling_thread() {
        let a = CountingAllocator;
        let layout = Layout::from_size_align(64, 8).unwrap();
        let before = this_thread();
        // SAFETY: a valid layout; the pointer is freed with the same layout.
        unsafe {
            let p = a.alloc(layout);
            assert!(!p.is_null());
            let q = a.realloc(p, layout, 128);
            assert!(!q.is_null());
            a.dealloc(q, Layout::from_size_align(128, 8).unwrap());
        }
        assert_eq!(this_thread() - before, 2);
        let other = std::thread::spawn(this_thread).join().unwrap();
        assert_eq!(other, 0, "another thread's counter starts at 0");
    }
}
