//! TLS over a [`Tcp`] socket of either backend, with rustls. Record bytes
//! pass through user space twice more than in plaintext: decrypted
//! plaintext is copied out of rustls into the connection's frame buffers,
//! and encrypted records are gathered into one buffer per socket write.
//! Both copies are counted ([`copied_bytes`]) as the TLS slow path.
//!
//! Reading and writing may run at once from two tasks of the same thread:
//! the rustls state is borrowed only between awaits, and socket writes
//! (including the TLS messages a read may produce) are serialised by one
//! async lock.

use std::cell::RefCell;
use std::io::{self, BufRead, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection};

use super::buffers;
use super::stream::{consume, io_slices, Tcp};

/// TLS bytes read from the socket per read call.
const READ_CHUNK: usize = 256 * 1024;
/// Encrypted bytes gathered before they are written out.
const WRITE_CHUNK: usize = 1 << 20;

static COPIED: AtomicU64 = AtomicU64::new(0);
static HANDSHAKES: AtomicU64 = AtomicU64::new(0);
static RESUMED: AtomicU64 = AtomicU64::new(0);

/// Bytes copied on the TLS slow path since start, all connections.
pub fn copied_bytes() -> u64 {
    COPIED.load(Ordering::Relaxed)
}

/// TLS handshakes completed since start, and how many of them resumed an
/// earlier session (TLS 1.3 tickets: no certificate exchange).
pub fn handshakes() -> (u64, u64) {
    (
        HANDSHAKES.load(Ordering::Relaxed),
        RESUMED.load(Ordering::Relaxed),
    )
}

/// A TLS failure, kept whole inside the `io::Error` it travels in so the
/// connection can tell a certificate problem from a lost socket.
#[derive(Debug)]
pub struct TlsError(pub rustls::Error);

impl std::fmt::Display for TlsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TLS: {}", self.0)
    }
}

impl std::error::Error for TlsError {}

/// The rustls error inside `e`, if `e` is a TLS failure.
pub fn tls_error(e: &io::Error) -> Option<&rustls::Error> {
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<TlsError>())
        .map(|t| &t.0)
}

pub struct TlsStream {
    tcp: Tcp,
    conn: RefCell<ClientConnection>,
    /// TLS bytes read from the socket and the count handed to rustls.
    incoming: RefCell<(Vec<u8>, usize)>,
    /// Encrypted records gathered for one socket write (kept between
    /// writes; only the write lock's holder uses it).
    outgoing: RefCell<Vec<u8>>,
    /// The outgoing buffer's capacity as counted in `buffers::held`.
    outgoing_counted: std::cell::Cell<usize>,
    write_lock: tokio::sync::Mutex<()>,
}

impl TlsStream {
    /// Runs the handshake with the broker at `host` (its advertised name:
    /// sent as SNI and checked against the certificate).
    pub async fn connect(tcp: Tcp, config: Arc<ClientConfig>, host: &str) -> io::Result<TlsStream> {
        let name = ServerName::try_from(host.to_string()).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("'{host}' is not a valid TLS server name"),
            )
        })?;
        let mut conn = ClientConnection::new(config, name).map_err(tls_io)?;
        conn.set_buffer_limit(Some(WRITE_CHUNK));
        buffers::held_elsewhere(READ_CHUNK);
        let s = TlsStream {
            tcp,
            conn: RefCell::new(conn),
            incoming: RefCell::new((Vec::with_capacity(READ_CHUNK), 0)),
            outgoing: RefCell::new(Vec::new()),
            outgoing_counted: std::cell::Cell::new(0),
            write_lock: tokio::sync::Mutex::new(()),
        };
        let mut heard = false;
        loop {
            s.flush_tls().await?;
            if !s.conn.borrow().is_handshaking() {
                HANDSHAKES.fetch_add(1, Ordering::Relaxed);
                if s.conn.borrow().handshake_kind() == Some(rustls::HandshakeKind::Resumed) {
                    RESUMED.fetch_add(1, Ordering::Relaxed);
                }
                return Ok(s);
            }
            match s.feed() {
                Ok(true) => continue,
                Ok(false) => {}
                Err(e) => {
                    // Send the alert that says why, then fail.
                    let _ = s.flush_tls().await;
                    return Err(e);
                }
            }
            match s.read_socket().await {
                Ok(n) if n > 0 => heard = true,
                // Closed or reset before a single TLS byte came back: most
                // likely a plaintext listener that refused the ClientHello.
                res => {
                    let what = match res {
                        Err(e) => e.to_string(),
                        Ok(_) => "closed".to_string(),
                    };
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        if heard {
                            format!(
                                "the broker ended the connection during the TLS handshake ({what})"
                            )
                        } else {
                            format!(
                                "the broker ended the connection without answering the TLS handshake ({what}); is this a TLS listener?"
                            )
                        },
                    ));
                }
            }
        }
    }

    /// Encrypts the request's slices as one stream (rustls fills each TLS
    /// record across slice boundaries, so small header segments between
    /// batches cost no records of their own) and writes the records out.
    pub async fn write_all(&self, mut bufs: Vec<Bytes>) -> io::Result<()> {
        let _guard = self.write_lock.lock().await;
        bufs.retain(|b| !b.is_empty());
        let mut first = 0;
        while first < bufs.len() {
            let n = {
                let slices = io_slices(&bufs, first);
                self.conn.borrow_mut().writer().write_vectored(&slices)?
            };
            COPIED.fetch_add(n as u64, Ordering::Relaxed);
            if n == 0 {
                self.flush_tls().await?;
                continue;
            }
            first = consume(&mut bufs, first, n);
        }
        self.flush_tls().await
    }

    pub async fn read_into(&self, mut buf: Vec<u8>, max: usize) -> (io::Result<usize>, Vec<u8>) {
        let max = max.max(1);
        if buf.capacity() == buf.len() {
            buf.reserve(max.min(64 * 1024));
        }
        loop {
            if let Some(res) = self.take_plaintext(&mut buf, max) {
                return (res, buf);
            }
            match self.feed() {
                Ok(true) => continue,
                Ok(false) => {}
                Err(e) => return (Err(e), buf),
            }
            // TLS messages a read produced (a KeyUpdate answer) go out now if
            // no request is being written, else with that request: the
            // reader never waits for the write lock, whose holder may be
            // waiting for a response only the reader can deliver.
            if self.conn.borrow().wants_write() {
                if let Ok(_guard) = self.write_lock.try_lock() {
                    if let Err(e) = self.flush_tls().await {
                        return (Err(e), buf);
                    }
                }
            }
            match self.read_socket().await {
                Ok(0) => {
                    return (
                        Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "closed by the broker without a TLS close_notify",
                        )),
                        buf,
                    )
                }
                Ok(_) => {}
                Err(e) => return (Err(e), buf),
            }
        }
    }

    pub fn shutdown(&self) {
        if let Ok(mut c) = self.conn.try_borrow_mut() {
            c.send_close_notify();
        }
        self.tcp.shutdown();
    }

    /// Moves decrypted bytes into `buf`: `None` when there are none yet.
    fn take_plaintext(&self, buf: &mut Vec<u8>, max: usize) -> Option<io::Result<usize>> {
        let mut c = self.conn.borrow_mut();
        let mut reader = c.reader();
        match reader.fill_buf() {
            Ok([]) => Some(Ok(0)),
            Ok(chunk) => {
                let room = (buf.capacity() - buf.len()).max(1);
                let n = chunk.len().min(max).min(room);
                buf.extend_from_slice(&chunk[..n]);
                reader.consume(n);
                COPIED.fetch_add(n as u64, Ordering::Relaxed);
                Some(Ok(n))
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => None,
            Err(e) => Some(Err(e)),
        }
    }

    /// Hands rustls the TLS bytes read and not yet processed. False when
    /// there are none.
    fn feed(&self) -> io::Result<bool> {
        let mut incoming = self.incoming.borrow_mut();
        let (data, used) = &mut *incoming;
        if *used >= data.len() {
            return Ok(false);
        }
        let mut c = self.conn.borrow_mut();
        let n = c.read_tls(&mut &data[*used..])?;
        *used += n;
        c.process_new_packets().map_err(tls_io)?;
        Ok(n > 0)
    }

    /// Reads more TLS bytes from the socket (after everything read before
    /// was processed).
    async fn read_socket(&self) -> io::Result<usize> {
        let scratch = {
            let mut incoming = self.incoming.borrow_mut();
            let mut v = std::mem::take(&mut incoming.0);
            v.clear();
            incoming.1 = 0;
            v
        };
        let (res, scratch) = self.tcp.read_into(scratch, READ_CHUNK).await;
        self.incoming.borrow_mut().0 = scratch;
        res
    }

    /// Writes out every TLS record rustls has ready. Callers hold the
    /// write lock (or, during the handshake, are alone).
    async fn flush_tls(&self) -> io::Result<()> {
        loop {
            let out = {
                let mut c = self.conn.borrow_mut();
                if !c.wants_write() {
                    return Ok(());
                }
                // The buffer of the last flush, kept at the size it grew to.
                let mut out = std::mem::take(&mut *self.outgoing.borrow_mut());
                out.clear();
                while c.wants_write() && out.len() < WRITE_CHUNK {
                    c.write_tls(&mut out)?;
                }
                out
            };
            COPIED.fetch_add(out.len() as u64, Ordering::Relaxed);
            let before = self.outgoing_counted.get();
            if out.capacity() > before {
                buffers::held_elsewhere(out.capacity() - before);
                self.outgoing_counted.set(out.capacity());
            }
            let (res, out) = self.tcp.write_vec(out).await;
            *self.outgoing.borrow_mut() = out;
            res?;
        }
    }
}

impl Drop for TlsStream {
    fn drop(&mut self) {
        buffers::released(READ_CHUNK + self.outgoing_counted.get());
    }
}

fn tls_io(e: rustls::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, TlsError(e))
}
