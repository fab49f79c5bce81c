//! Receive buffers pooled per thread. A response frame is read into a
//! buffer of its own size and handed on as `Bytes`; batches keep slices of
//! it until they are produced. The buffer's handle comes back here, and once
//! every slice is gone (`BytesMut::try_reclaim`) the same memory takes the
//! next frame instead of a fresh allocation, whose pages the kernel would
//! have to clear again.

use std::cell::RefCell;

use bytes::BytesMut;

/// Smallest buffer handed out: small frames share the cost of one.
const MIN_CAPACITY: usize = 64 * 1024;
/// Retired buffers kept per thread, and the bytes they may hold in all.
const MAX_RETIRED: usize = 64;
const MAX_RETIRED_BYTES: usize = 64 * 1024 * 1024;

thread_local! {
    /// Retired handles with the size of their whole allocation (a handle
    /// whose contents were split off reports only what is left after them).
    static RETIRED: RefCell<Vec<(BytesMut, usize)>> = const { RefCell::new(Vec::new()) };
}

/// An empty buffer with room for `capacity` bytes: a retired one whose
/// slices are all gone when there is one, else a new one.
pub fn take(capacity: usize) -> BytesMut {
    let reused = RETIRED.with(|r| {
        let mut retired = r.borrow_mut();
        let pos = retired
            .iter_mut()
            .position(|(b, whole)| *whole >= capacity && b.try_reclaim(capacity))?;
        Some(retired.swap_remove(pos).0)
    });
    reused.unwrap_or_else(|| BytesMut::with_capacity(capacity.max(MIN_CAPACITY)))
}

/// Hands back a buffer of `whole` bytes of capacity whose contents were
/// split off and frozen; its memory is reused once nothing refers to those
/// contents any more.
pub fn retire(mut buf: BytesMut, whole: usize) {
    buf.clear();
    RETIRED.with(|r| {
        let mut retired = r.borrow_mut();
        retired.push((buf, whole));
        let mut total: usize = retired.iter().map(|(_, w)| w).sum();
        while retired.len() > MAX_RETIRED || total > MAX_RETIRED_BYTES {
            // The oldest goes: it is the one most likely still referenced.
            total -= retired.remove(0).1;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_buffer_comes_back_once_its_frames_are_dropped() {
        let mut buf = take(100_000);
        buf.extend_from_slice(&[7u8; 100_000]);
        let (addr, whole) = (buf.as_ptr(), buf.capacity());
        let frame = buf.split().freeze();
        retire(buf, whole);
        // Still referenced: a new buffer.
        let other = take(100_000);
        assert_ne!(other.as_ptr(), addr);
        drop(frame);
        // Released: the same memory again.
        let again = take(100_000);
        assert_eq!(again.as_ptr(), addr);
        assert!(again.is_empty() && again.capacity() >= 100_000);
    }
}
