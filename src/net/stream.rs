//! A connected stream on either backend, plaintext or TLS, with the two
//! operations a Kafka connection needs: write a list of buffers entirely,
//! and read more bytes into the spare capacity of a buffer.

use std::io;
use std::io::IoSlice;

use bytes::{Buf, BufMut, Bytes};
use kmirror_proto::external::Frame;
use tokio_uring::buf::BoundedBuf;

use super::splice::{self, PipeBody};
use super::tls::TlsStream;
use super::Backend;

/// Linux caps one writev at this many buffers.
const IOV_MAX: usize = 1024;

/// `bufs[first..]` as at most [`IOV_MAX`] slices for one vectored write.
pub(super) fn io_slices(bufs: &[Bytes], first: usize) -> Vec<IoSlice<'_>> {
    let end = (first + IOV_MAX).min(bufs.len());
    bufs[first..end].iter().map(|b| IoSlice::new(b)).collect()
}

/// Marks `n` bytes from `bufs[first]` on as written: whole buffers are
/// passed, a partly written one is advanced. The new first unwritten index.
pub(super) fn consume(bufs: &mut [Bytes], mut first: usize, mut n: usize) -> usize {
    while n > 0 {
        let len = bufs[first].len();
        if n >= len {
            n -= len;
            first += 1;
        } else {
            bufs[first].advance(n);
            n = 0;
        }
    }
    first
}

/// A Kafka connection's byte stream.
pub enum Stream {
    Plain(Tcp),
    Tls(Box<TlsStream>),
}

impl Stream {
    /// Writes every byte of `bufs`, in order.
    pub async fn write_all(&self, bufs: Vec<Bytes>) -> io::Result<()> {
        match self {
            Stream::Plain(t) => t.write_all(bufs).await,
            Stream::Tls(t) => t.write_all(bufs).await,
        }
    }

    /// Writes a frame whose external parts are spliced bodies: only a
    /// plaintext connection on the epoll backend can.
    pub async fn write_frame(&self, frame: Frame) -> io::Result<()> {
        if frame.external.is_empty() {
            return self.write_all(frame.parts).await;
        }
        let Some(sock) = self.plain_epoll() else {
            return Err(io::Error::other(
                "spliced record bytes can only be written to a plaintext connection on the epoll backend",
            ));
        };
        // Corked, the batch heads and the spliced bodies leave in full
        // segments rather than one small segment per head.
        let cork = socket2::SockRef::from(sock);
        let _ = cork.set_tcp_cork(true);
        let res = write_spliced(sock, frame).await;
        let _ = cork.set_tcp_cork(false);
        res
    }

    /// The socket, when this is a plaintext connection on the epoll backend
    /// (what the splice path needs).
    pub fn plain_epoll(&self) -> Option<&tokio::net::TcpStream> {
        match self {
            Stream::Plain(Tcp::Epoll(s)) => Some(s),
            _ => None,
        }
    }

    /// Reads at least one and at most `max` bytes into the spare capacity of
    /// `buf` (appending after its current length; a full buffer gets room
    /// for `max`, at most 64 KiB). `Ok(0)` means the peer closed.
    pub async fn read_into(&self, buf: Vec<u8>, max: usize) -> (io::Result<usize>, Vec<u8>) {
        match self {
            Stream::Plain(t) => t.read_into(buf, max).await,
            Stream::Tls(t) => t.read_into(buf, max).await,
        }
    }

    pub fn shutdown(&self) {
        match self {
            Stream::Plain(t) => t.shutdown(),
            Stream::Tls(t) => t.shutdown(),
        }
    }
}

/// Writes every byte of `bufs` to an epoll-driven socket.
async fn epoll_write_all(s: &tokio::net::TcpStream, bufs: &mut [Bytes]) -> io::Result<()> {
    let mut first = 0;
    while first < bufs.len() {
        if bufs[first].is_empty() {
            first += 1;
            continue;
        }
        let slices = io_slices(bufs, first);
        s.writable().await?;
        let n = match s.try_write_vectored(&slices) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        };
        drop(slices);
        first = consume(bufs, first, n);
    }
    Ok(())
}

/// Writes `frame`'s in-memory parts with vectored writes and each external
/// body, in its place, from its pipe.
async fn write_spliced(sock: &tokio::net::TcpStream, frame: Frame) -> io::Result<()> {
    let Frame {
        mut parts,
        external,
    } = frame;
    let mut start = 0;
    for (at, body) in external {
        let at = at.min(parts.len());
        epoll_write_all(sock, &mut parts[start..at]).await?;
        start = at;
        let Some(body) = body.holder().downcast_ref::<PipeBody>() else {
            return Err(io::Error::other(
                "an external body that is not in a splice pipe",
            ));
        };
        splice::write_body(sock, body).await?;
        if !body.tail().is_empty() {
            epoll_write_all(sock, &mut [body.tail().clone()]).await?;
        }
    }
    epoll_write_all(sock, &mut parts[start..]).await
}

/// A connected TCP socket on the thread's backend.
pub enum Tcp {
    Uring(tokio_uring::net::TcpStream),
    Epoll(tokio::net::TcpStream),
}

impl Tcp {
    /// Wraps a freshly connected stream for `backend` (must be called on a
    /// thread running that backend's runtime).
    pub fn from_tokio(stream: tokio::net::TcpStream, backend: Backend) -> io::Result<Tcp> {
        match backend {
            Backend::Epoll => Ok(Tcp::Epoll(stream)),
            Backend::Uring => {
                let std = stream.into_std()?;
                std.set_nonblocking(false)?;
                Ok(Tcp::Uring(tokio_uring::net::TcpStream::from_std(std)))
            }
        }
    }

    /// Writes every byte of `bufs`, in order, looping on short writes.
    pub async fn write_all(&self, mut bufs: Vec<Bytes>) -> io::Result<()> {
        bufs.retain(|b| !b.is_empty());
        match self {
            Tcp::Uring(s) => {
                while !bufs.is_empty() {
                    let rest = if bufs.len() > IOV_MAX {
                        bufs.split_off(IOV_MAX)
                    } else {
                        Vec::new()
                    };
                    let (res, mut sent) = s.writev(bufs).await;
                    let mut n = res?;
                    if n == 0 {
                        return Err(io::ErrorKind::WriteZero.into());
                    }
                    while n > 0 && !sent.is_empty() {
                        if n >= sent[0].len() {
                            n -= sent[0].len();
                            sent.remove(0);
                        } else {
                            sent[0].advance(n);
                            n = 0;
                        }
                    }
                    sent.extend(rest);
                    bufs = sent;
                }
                Ok(())
            }
            Tcp::Epoll(s) => epoll_write_all(s, &mut bufs).await,
        }
    }

    /// Writes `buf[..len]` and hands the buffer back for reuse.
    pub async fn write_prefix(&self, buf: Vec<u8>, len: usize) -> (io::Result<()>, Vec<u8>) {
        let len = len.min(buf.len());
        match self {
            Tcp::Uring(s) => {
                let (res, slice) = s.write_all(buf.slice(..len)).await;
                (res, slice.into_inner())
            }
            Tcp::Epoll(s) => {
                let mut off = 0;
                while off < len {
                    if let Err(e) = s.writable().await {
                        return (Err(e), buf);
                    }
                    match s.try_write(&buf[off..len]) {
                        Ok(0) => return (Err(io::ErrorKind::WriteZero.into()), buf),
                        Ok(n) => off += n,
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                        Err(e) => return (Err(e), buf),
                    }
                }
                (Ok(()), buf)
            }
        }
    }

    /// Reads at least one and at most `max` bytes into the spare capacity of
    /// `buf` (appending after its current length; a full buffer gets room
    /// for `max`, at most 64 KiB). `Ok(0)` means the peer closed.
    pub async fn read_into(&self, mut buf: Vec<u8>, max: usize) -> (io::Result<usize>, Vec<u8>) {
        let max = max.max(1);
        if buf.capacity() == buf.len() {
            buf.reserve(max.min(64 * 1024));
        }
        match self {
            Tcp::Uring(s) => {
                let len = buf.len();
                let end = buf.capacity().min(len + max);
                let (res, slice) = s.read(buf.slice(len..end)).await;
                (res, slice.into_inner())
            }
            Tcp::Epoll(s) => loop {
                if let Err(e) = s.readable().await {
                    return (Err(e), buf);
                }
                let room = buf.capacity() - buf.len();
                match s.try_read_buf(&mut (&mut buf).limit(max.min(room))) {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                    other => return (other, buf),
                }
            },
        }
    }

    pub fn shutdown(&self) {
        match self {
            Tcp::Uring(s) => {
                let _ = s.shutdown(std::net::Shutdown::Both);
            }
            Tcp::Epoll(s) => {
                let _ = socket2::SockRef::from(s).shutdown(std::net::Shutdown::Both);
            }
        }
    }
}
