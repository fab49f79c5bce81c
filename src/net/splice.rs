//! The splice path (epoll backend, plaintext connections): record bytes
//! move from the source socket into a kernel pipe and from the pipe into
//! the target socket with splice(2), never through user space.
//!
//! A [`Pipe`] belongs to one source connection and one partition, so the
//! bodies in it leave in the order they entered: the produce side writes a
//! partition's batches in order. A body that is dropped before it is written
//! (a rewind, a stale response, a released partition) is drained from the
//! pipe as soon as everything before it has left, so the pipe never
//! stalls. Nothing here waits for pipe room: what does not fit is read into
//! memory instead, so the source reader never waits on the target writer.
//!
//! Readiness drives non-blocking splice calls (io_uring's splice op runs in
//! a kernel worker thread, and tokio-uring does not offer it).

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use bytes::Bytes;
use kmirror_proto::external::ExternalBytes;
use tokio::io::Interest;
use tokio::net::TcpStream;

use super::buffers;

/// A pipe smaller than this is not worth its descriptors: the user's pipe
/// budget (`fs.pipe-user-pages-soft`) is spent, and new pipes get 2 pages.
const SMALLEST_USEFUL_PIPE: usize = 64 * 1024;

/// Pipes open in the process (all workers).
static OPEN_PIPES: AtomicUsize = AtomicUsize::new(0);

/// The most pipes the process opens: a quarter of the open-file soft limit
/// (a pipe takes two descriptors, so half the limit), leaving the rest to
/// broker connections, which must never fail for want of a descriptor.
fn most_pipes() -> usize {
    static MOST: OnceLock<usize> = OnceLock::new();
    *MOST.get_or_init(|| match super::limits::open_files() {
        Ok((Some(soft), _)) => usize::try_from(soft / 4).unwrap_or(usize::MAX),
        Ok((None, _)) => usize::MAX,
        Err(_) => 256,
    })
}

/// A kernel pipe holding the record bytes of one partition's batches
/// between the source connection that read them and the target connection
/// that writes them.
pub struct Pipe {
    read_end: OwnedFd,
    write_end: OwnedFd,
    capacity: usize,
    state: RefCell<PipeState>,
    /// The `left` count when the kernel last refused bytes though the
    /// accounting had room (it counts pages, and a page may hold a small
    /// piece of a segment): no room until something leaves.
    saturated_at: Cell<Option<u64>>,
    /// Set when the pipe's contents can no longer be trusted to match its
    /// accounting: nothing more enters, and writing from it fails (the
    /// partition then refetches, as after any lost produce).
    broken: Cell<bool>,
}

#[derive(Default)]
struct PipeState {
    /// Bytes that entered and that left (written or drained) so far.
    entered: u64,
    left: u64,
    /// Bodies dropped before their turn: start -> length.
    dropped: BTreeMap<u64, usize>,
}

impl Pipe {
    /// A non-blocking pipe, as large as the system allows up to `want`
    /// bytes (`fs.pipe-max-size` caps unprivileged processes, 1 MiB by
    /// default). An error when the system grants less than 64 KiB.
    pub fn new(want: usize) -> io::Result<Rc<Pipe>> {
        // The splice path's test of a spent pipe budget sets this (the
        // kernel's pipe limits do not bind root, which the tests run as).
        if std::env::var_os("KMIRROR_FAILPOINT_NO_PIPES").is_some() {
            return Err(io::Error::other("failpoint: the system grants no pipes"));
        }
        let most = most_pipes();
        if OPEN_PIPES.fetch_add(1, Ordering::Relaxed) >= most {
            OPEN_PIPES.fetch_sub(1, Ordering::Relaxed);
            return Err(io::Error::other(format!(
                "{most} pipes are open, a quarter of the open-file limit (the rest is kept for connections)"
            )));
        }
        let mut fds = [0 as RawFd; 2];
        // SAFETY: `fds` is a valid array of two ints for pipe2 to fill.
        let rc = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) };
        if rc != 0 {
            OPEN_PIPES.fetch_sub(1, Ordering::Relaxed);
            return Err(io::Error::last_os_error());
        }
        // SAFETY: pipe2 succeeded, so both descriptors are open and owned
        // by nobody else.
        let (read_end, write_end) =
            unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        for size in [want, 1 << 20] {
            // SAFETY: F_SETPIPE_SZ takes an int size on a pipe descriptor.
            let got = unsafe {
                libc::fcntl(
                    write_end.as_raw_fd(),
                    libc::F_SETPIPE_SZ,
                    size.min(i32::MAX as usize) as libc::c_int,
                )
            };
            if got > 0 {
                break;
            }
        }
        // SAFETY: F_GETPIPE_SZ takes no argument and returns the size.
        let capacity = unsafe { libc::fcntl(write_end.as_raw_fd(), libc::F_GETPIPE_SZ) };
        if capacity < SMALLEST_USEFUL_PIPE as libc::c_int {
            OPEN_PIPES.fetch_sub(1, Ordering::Relaxed);
            return Err(io::Error::other(format!(
                "the system grants pipes of {capacity} bytes (fs.pipe-user-pages-soft is spent)"
            )));
        }
        let capacity = capacity as usize;
        Ok(Rc::new(Pipe {
            read_end,
            write_end,
            capacity,
            state: RefCell::new(PipeState::default()),
            saturated_at: Cell::new(None),
            broken: Cell::new(false),
        }))
    }

    /// Bytes that may still enter without the pipe's accounting exceeding
    /// its size (the kernel may hold fewer: it counts pages, not bytes).
    pub fn room(&self) -> usize {
        let st = self.state.borrow();
        if self.broken.get() || self.saturated_at.get() == Some(st.left) {
            return 0;
        }
        self.capacity
            .saturating_sub((st.entered - st.left) as usize)
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// `n` bytes entered: they count as held memory until they leave.
    fn entered_by(&self, n: usize) {
        self.state.borrow_mut().entered += n as u64;
        buffers::held_elsewhere(n);
    }

    /// `n` bytes left (written or drained).
    fn left(&self, n: usize) {
        self.state.borrow_mut().left += n as u64;
        buffers::released(n);
    }

    /// Whether the pipe's contents no longer match its accounting.
    pub fn is_broken(&self) -> bool {
        self.broken.get()
    }

    /// Whether every byte that entered has left.
    pub fn is_empty(&self) -> bool {
        let st = self.state.borrow();
        st.entered == st.left
    }

    /// Where the next byte to enter will sit.
    pub fn entered(&self) -> u64 {
        self.state.borrow().entered
    }

    /// A body of `len` bytes starting at `at` will never be written.
    fn release(&self, at: u64, len: usize) {
        if len == 0 {
            return;
        }
        self.state.borrow_mut().dropped.insert(at, len);
        self.drain_dropped();
    }

    /// Drains the dropped bodies that are next to leave.
    fn drain_dropped(&self) {
        loop {
            let (at, len) = {
                let mut st = self.state.borrow_mut();
                let left = st.left;
                match st.dropped.remove(&left) {
                    Some(len) => (left, len),
                    None => return,
                }
            };
            if let Err(e) = drain(self.read_end.as_raw_fd(), len) {
                tracing::warn!(at, len, "cannot drain a dropped body from its pipe: {e}");
                self.broken.set(true);
                return;
            }
            self.left(len);
        }
    }
}

impl Drop for Pipe {
    fn drop(&mut self) {
        OPEN_PIPES.fetch_sub(1, Ordering::Relaxed);
        let st = self.state.borrow();
        buffers::released((st.entered - st.left) as usize);
    }
}

/// One run of a body's bytes in one pipe.
struct Segment {
    pipe: Rc<Pipe>,
    at: u64,
    len: usize,
}

/// A batch's record bytes: in one pipe, or in several when a pipe filled
/// part-way (each pipe then empty or new, so nothing in it is ahead), and
/// the bytes that fitted in none, read into memory (`tail`).
pub struct PipeBody {
    /// The first run inline, the rare others after it (no allocation for a
    /// body in one pipe).
    first: Option<Segment>,
    more: Vec<Segment>,
    tail: Bytes,
    written: Cell<bool>,
}

impl PipeBody {
    pub fn new() -> PipeBody {
        PipeBody {
            first: None,
            more: Vec::new(),
            tail: Bytes::new(),
            written: Cell::new(false),
        }
    }

    /// The next `len` bytes of the body entered `pipe` at `at`.
    pub fn push(&mut self, pipe: Rc<Pipe>, at: u64, len: usize) {
        if len == 0 {
            return;
        }
        let seg = Segment { pipe, at, len };
        match self.first {
            None => self.first = Some(seg),
            Some(_) => self.more.push(seg),
        }
    }

    /// The last bytes, read into memory.
    pub fn set_tail(&mut self, tail: Bytes) {
        self.tail = tail;
    }

    pub fn tail(&self) -> &Bytes {
        &self.tail
    }

    /// Bytes in pipes.
    pub fn piped(&self) -> usize {
        self.segments().map(|s| s.len).sum()
    }

    fn segments(&self) -> impl Iterator<Item = &Segment> {
        self.first.iter().chain(&self.more)
    }
}

impl Default for PipeBody {
    fn default() -> PipeBody {
        PipeBody::new()
    }
}

impl ExternalBytes for PipeBody {
    fn len(&self) -> usize {
        self.piped() + self.tail.len()
    }
}

impl Drop for PipeBody {
    fn drop(&mut self) {
        if !self.written.get() {
            for s in self.segments() {
                s.pipe.release(s.at, s.len);
            }
        }
    }
}

/// Moves up to `len` bytes from `sock` into `pipe`, waiting for them to
/// arrive. Returns fewer when the pipe fills (the caller reads the rest).
pub async fn splice_in(sock: &TcpStream, pipe: &Pipe, len: usize) -> io::Result<usize> {
    let fd = sock.as_raw_fd();
    let mut done = 0;
    while done < len {
        sock.readable().await?;
        let moved = sock.try_io(Interest::READABLE, || {
            match splice(fd, pipe.write_end.as_raw_fd(), len - done) {
                Ok(n) => Ok(Some(n)),
                // The socket has bytes, so the pipe is what is full: say
                // so without clearing the socket's readiness.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && bytes_waiting(fd) > 0 => {
                    Ok(None)
                }
                Err(e) => Err(e),
            }
        });
        match moved {
            Ok(Some(0)) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(Some(n)) => {
                done += n;
                pipe.entered_by(n);
            }
            Ok(None) => {
                let st = pipe.state.borrow();
                tracing::debug!(
                    held = st.entered - st.left,
                    capacity = pipe.capacity,
                    "splice pipe full"
                );
                pipe.saturated_at.set(Some(st.left));
                drop(st);
                break;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => {
                pipe.broken.set(true);
                return Err(e);
            }
        }
    }
    Ok(done)
}

/// Reads `len` bytes from `sock` and throws them away without copying them
/// into user space (through `scratch`, a pipe of the caller's, to
/// /dev/null).
pub async fn discard(sock: &TcpStream, scratch: &Pipe, len: usize) -> io::Result<()> {
    let mut left = len;
    while left > 0 {
        let n = splice_in(sock, scratch, left.min(scratch.capacity)).await?;
        if n == 0 {
            // Cannot happen with an empty pipe; refuse to spin.
            return Err(io::Error::other("the scratch pipe takes nothing"));
        }
        drain(scratch.read_end.as_raw_fd(), n)?;
        scratch.left(n);
        left -= n;
    }
    Ok(())
}

/// Writes the piped part of `body` to `sock` (the caller writes its tail).
/// Bodies of a pipe must be written in the order they entered it.
pub async fn write_body(sock: &TcpStream, body: &PipeBody) -> io::Result<()> {
    if body.written.replace(true) {
        return Err(io::Error::other("a spliced body was written twice"));
    }
    for seg in body.segments() {
        write_segment(sock, seg).await?;
    }
    Ok(())
}

async fn write_segment(sock: &TcpStream, seg: &Segment) -> io::Result<()> {
    let pipe = &*seg.pipe;
    pipe.drain_dropped();
    if pipe.broken.get() || pipe.state.borrow().left != seg.at {
        pipe.broken.set(true);
        return Err(io::Error::other(
            "the bodies in a splice pipe are out of order; the partition refetches",
        ));
    }
    let fd = sock.as_raw_fd();
    let from = pipe.read_end.as_raw_fd();
    let mut left = seg.len;
    while left > 0 {
        sock.writable().await?;
        let moved = sock.try_io(Interest::WRITABLE, || match splice(from, fd, left) {
            // An empty pipe is a broken promise, not a full socket: say so
            // rather than wait for writability that is already there.
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && bytes_waiting(from) == 0 => Err(
                io::Error::other("the splice pipe holds fewer bytes than its accounting"),
            ),
            other => other,
        });
        match moved {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                left -= n;
                pipe.left(n);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => {
                pipe.broken.set(true);
                return Err(e);
            }
        }
    }
    pipe.drain_dropped();
    Ok(())
}

/// One non-blocking splice(2) of at most `len` bytes from `from` to `to`.
fn splice(from: RawFd, to: RawFd, len: usize) -> io::Result<usize> {
    // SAFETY: both descriptors are open for the duration of the call (their
    // owners are borrowed by the callers); null offsets mean "current
    // position", required for sockets and pipes.
    let n = unsafe {
        libc::splice(
            from,
            std::ptr::null_mut(),
            to,
            std::ptr::null_mut(),
            len,
            libc::SPLICE_F_NONBLOCK | libc::SPLICE_F_MOVE,
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(n as usize)
}

/// Bytes ready to read on a socket or pipe (0 if it cannot tell).
fn bytes_waiting(fd: RawFd) -> usize {
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD writes one int to the pointer given.
    let rc = unsafe { libc::ioctl(fd, libc::FIONREAD, &mut n) };
    if rc != 0 {
        return 0;
    }
    n.max(0) as usize
}

/// Moves `len` bytes that are in the pipe `from` to /dev/null.
fn drain(from: RawFd, len: usize) -> io::Result<()> {
    static DEV_NULL: OnceLock<io::Result<File>> = OnceLock::new();
    let null = match DEV_NULL.get_or_init(|| File::options().write(true).open("/dev/null")) {
        Ok(f) => f.as_raw_fd(),
        Err(e) => return Err(io::Error::new(e.kind(), format!("/dev/null: {e}"))),
    };
    let mut left = len;
    while left > 0 {
        match splice(from, null, left) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => left -= n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(pipe: &Rc<Pipe>, n: usize) -> PipeBody {
        // Bytes entered by hand, as splice_in would count them.
        let at = pipe.entered();
        let data = vec![7u8; n];
        // SAFETY: writing a live buffer to the pipe's own write end.
        let w =
            unsafe { libc::write(pipe.write_end.as_raw_fd(), data.as_ptr().cast(), data.len()) };
        assert_eq!(w as usize, n);
        pipe.entered_by(n);
        let mut b = PipeBody::new();
        b.push(pipe.clone(), at, n);
        b
    }

    #[test]
    fn dropped_bodies_leave_the_pipe_in_order() {
        let pipe = Pipe::new(1 << 20).unwrap();
        let a = body(&pipe, 1000);
        let b = body(&pipe, 2000);
        let c = body(&pipe, 3000);
        assert_eq!(pipe.room(), pipe.capacity() - 6000);
        // Dropping the middle one drains nothing yet: `a` is still ahead.
        drop(b);
        assert_eq!(bytes_waiting(pipe.read_end.as_raw_fd()), 6000);
        // Dropping the first drains it and the middle one.
        drop(a);
        assert_eq!(bytes_waiting(pipe.read_end.as_raw_fd()), 3000);
        assert_eq!(pipe.state.borrow().left, 3000);
        drop(c);
        assert_eq!(bytes_waiting(pipe.read_end.as_raw_fd()), 0);
        assert_eq!(pipe.room(), pipe.capacity());
    }
}
