//! Receive buffers, and the process-wide account of the memory they hold.
//!
//! A response frame is read into a buffer that grows as its bytes arrive
//! (never reserved from the size a peer announces) and is handed on as
//! `Bytes`; batches keep slices of it until they are produced. When the last
//! slice is gone the buffer comes back to its thread's pool, so the next
//! frame reuses memory whose pages are already mapped.
//!
//! Every buffer's capacity is counted while it exists, in use or pooled: a
//! small batch that keeps a large fetch response alive counts the whole
//! response. Fetches are admitted against one cap for the process
//! ([`admit`]), so the bytes held stay near it whatever the peers send.

use std::cell::RefCell;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;

/// The cap when the configuration sets none (`kmirror.memory.max.bytes`).
pub const DEFAULT_MEMORY_CAP: usize = 256 << 20;
/// A new buffer starts this small and doubles as bytes arrive.
const GROW_FROM: usize = 64 * 1024;
/// Free buffers kept per thread, and the bytes they may hold in all.
const MAX_POOLED: usize = 32;
const MAX_POOLED_BYTES: usize = 32 << 20;

static HELD: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
static RESERVED: AtomicUsize = AtomicUsize::new(0);
static CAP: AtomicUsize = AtomicUsize::new(DEFAULT_MEMORY_CAP);

thread_local! {
    static POOL: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
}

/// Sets the process-wide cap on buffered bytes.
pub fn set_cap(bytes: usize) {
    CAP.store(bytes, Ordering::Relaxed);
}

pub fn cap() -> usize {
    CAP.load(Ordering::Relaxed)
}

/// Bytes of receive buffers that exist now (in use or pooled).
pub fn held() -> usize {
    HELD.load(Ordering::Relaxed)
}

/// The most [`held`] has been since the process started.
pub fn peak() -> usize {
    PEAK.load(Ordering::Relaxed)
}

/// Room set aside for responses not yet received, by fetches in flight.
pub fn reserved() -> usize {
    RESERVED.load(Ordering::Relaxed)
}

/// Counts `bytes` of another kind of buffer (a TLS connection's) as held
/// from now on, until [`released`] takes them off.
pub(crate) fn held_elsewhere(bytes: usize) {
    grew(bytes);
}

/// Takes bytes counted with [`held_elsewhere`] off again.
pub(crate) fn released(bytes: usize) {
    shrank(bytes);
}

fn grew(by: usize) {
    let now = HELD.fetch_add(by, Ordering::Relaxed) + by;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

fn shrank(by: usize) {
    HELD.fetch_sub(by, Ordering::Relaxed);
}

/// Room for one response of up to `bytes`, held until dropped (by then the
/// response's own buffer counts).
#[derive(Debug)]
pub struct Admission {
    bytes: usize,
}

impl Drop for Admission {
    fn drop(&mut self) {
        RESERVED.fetch_sub(self.bytes, Ordering::Relaxed);
    }
}

/// Sets aside room for a response of up to `bytes` when what is held and
/// reserved leaves it under the cap; `None` means wait. A request larger
/// than the cap on its own is admitted only while nothing else is reserved,
/// so it cannot wait forever.
pub fn admit(bytes: usize) -> Option<Admission> {
    let fits = |reserved: usize| {
        let total = held().saturating_add(reserved).saturating_add(bytes);
        total <= cap() || (reserved == 0 && bytes >= cap())
    };
    if !fits(reserved()) {
        // This thread's idle buffers are the first to give way.
        trim_pool();
    }
    RESERVED
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |r| {
            fits(r).then(|| r + bytes)
        })
        .ok()?;
    Some(Admission { bytes })
}

/// Frees this thread's pooled buffers.
pub fn trim_pool() {
    let freed: Vec<Vec<u8>> = POOL.with(|p| std::mem::take(&mut *p.borrow_mut()));
    shrank(freed.iter().map(Vec::capacity).sum());
}

/// A frame being received: `size` bytes announced, filled as they arrive.
pub struct FrameBuf {
    buf: Vec<u8>,
    size: usize,
}

impl FrameBuf {
    /// A pooled buffer large enough for the whole frame if this thread has
    /// one free, else a small new one that grows with what arrives.
    pub fn new(size: usize) -> FrameBuf {
        let pooled = POOL.with(|p| {
            let mut pool = p.borrow_mut();
            let i = pool.iter().position(|b| b.capacity() >= size)?;
            Some(pool.swap_remove(i))
        });
        let buf = pooled.unwrap_or_else(|| {
            let b = Vec::with_capacity(size.min(GROW_FROM));
            grew(b.capacity());
            b
        });
        FrameBuf { buf, size }
    }

    pub fn is_full(&self) -> bool {
        self.buf.len() >= self.size
    }

    /// Bytes still to come.
    pub fn missing(&self) -> usize {
        self.size - self.buf.len()
    }

    /// The buffer to read into, with room for at least one more byte and
    /// at most what is still missing.
    pub fn take_for_read(&mut self) -> Vec<u8> {
        if self.buf.len() == self.buf.capacity() {
            let before = self.buf.capacity();
            let want = before.saturating_mul(2).min(self.size).max(before + 1);
            // Large blocks are mremap'ed by the allocator, not copied.
            self.buf.reserve_exact(want - self.buf.len());
            grew(self.buf.capacity() - before);
        }
        std::mem::take(&mut self.buf)
    }

    /// Puts the buffer back after a read.
    pub fn put_back(&mut self, buf: Vec<u8>) {
        self.buf = buf;
    }

    /// The completed frame, sharing the buffer.
    pub fn freeze(self) -> Bytes {
        let mut this = self;
        Bytes::from_owner(Pooled(std::mem::take(&mut this.buf)))
    }
}

impl Drop for FrameBuf {
    fn drop(&mut self) {
        if self.buf.capacity() > 0 {
            give_back(std::mem::take(&mut self.buf));
        }
    }
}

/// `buf` as `Bytes`, its capacity counted as held until the last slice of
/// it is gone (for buffers that do not come from the pool, such as the
/// records the splice path's reader reads into memory).
pub(crate) fn counted(buf: Vec<u8>) -> Bytes {
    struct Counted(Vec<u8>);
    impl AsRef<[u8]> for Counted {
        fn as_ref(&self) -> &[u8] {
            &self.0
        }
    }
    impl Drop for Counted {
        fn drop(&mut self) {
            shrank(self.0.capacity());
        }
    }
    if buf.is_empty() {
        return Bytes::new();
    }
    grew(buf.capacity());
    Bytes::from_owner(Counted(buf))
}

/// Owner of a frame's memory while slices of it live.
struct Pooled(Vec<u8>);

impl AsRef<[u8]> for Pooled {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        give_back(std::mem::take(&mut self.0));
    }
}

/// A buffer nobody refers to any more: pooled on this thread if there is
/// room (and the process holds no more than its cap), else freed.
fn give_back(mut buf: Vec<u8>) {
    let size = buf.capacity();
    buf.clear();
    let freed = POOL.with(|p| {
        let mut pool = p.borrow_mut();
        let pooled: usize = pool.iter().map(Vec::capacity).sum();
        let room = pool.len() < MAX_POOLED && pooled + size <= MAX_POOLED_BYTES;
        if room && held() <= cap() {
            pool.push(buf);
            None
        } else {
            Some(buf)
        }
    });
    if freed.is_some() {
        shrank(size);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filled(size: usize) -> Bytes {
        let mut f = FrameBuf::new(size);
        while !f.is_full() {
            let mut b = f.take_for_read();
            let n = f.missing().min(b.capacity() - b.len());
            b.extend(std::iter::repeat_n(7u8, n));
            f.put_back(b);
        }
        f.freeze()
    }

    #[test]
    fn a_frame_grows_with_its_bytes_and_comes_back_when_its_slices_are_gone() {
        let frame = filled(300_000);
        assert_eq!(frame.len(), 300_000);
        assert!(frame.iter().all(|&b| b == 7));
        let addr = frame.as_ptr();
        let slice = frame.slice(10..20);
        drop(frame);
        // Still referenced by the slice: a new buffer.
        let other = FrameBuf::new(300_000);
        assert_ne!(other.buf.as_ptr(), addr);
        drop(other);
        drop(slice);
        // Released: the same memory again.
        let again = FrameBuf::new(300_000);
        assert_eq!(again.buf.as_ptr(), addr);
        assert!(again.buf.is_empty());
    }

    #[test]
    fn an_announced_size_reserves_nothing_until_bytes_arrive() {
        trim_pool();
        let mut f = FrameBuf::new(1 << 30);
        assert!(f.buf.capacity() <= GROW_FROM, "{}", f.buf.capacity());
        // Each read makes room for at most twice what is there.
        let b = f.take_for_read();
        assert!(b.capacity() <= 2 * GROW_FROM, "{}", b.capacity());
        f.put_back(b);
    }

    #[test]
    fn admission_holds_the_cap() {
        // Far above anything the other tests hold.
        let first = admit(cap() / 2).expect("half the cap fits");
        assert!(admit(cap() / 2 + held() + 1).is_none());
        drop(first);
        // Larger than the cap alone: let through while nothing else waits.
        let huge = admit(cap() + 1).expect("a lone oversized fetch proceeds");
        assert!(admit(1).is_none());
        drop(huge);
        assert_eq!(reserved(), 0);
    }
}
