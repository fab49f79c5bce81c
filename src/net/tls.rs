//! TLS over a [`Tcp`] socket of either backend, with rustls's unbuffered
//! API, so that the connection owns every buffer:
//!
//! - TLS bytes are read from the socket into one buffer and decrypted there.
//!   rustls hands each decrypted record over in a buffer of its own, which
//!   is copied into the connection's frame buffer (or, for the part that
//!   does not fit, kept here until the next read).
//! - A request is encrypted straight from its slices into the buffer the
//!   socket write sends; small slices (request and partition headers, small
//!   batches) are gathered first so they share a TLS record.
//!
//! The bytes copied on the way in and the bytes encryption copies on the
//! way out are counted ([`copied_bytes`]) as the TLS slow path.
//!
//! Reading and writing may run at once from two tasks of the same thread:
//! the rustls state is borrowed only between awaits. Socket writes,
//! including TLS messages that reading produces (a KeyUpdate answer), are
//! serialised by one async lock and leave in the order rustls produced them.

use std::cell::{Cell, RefCell};
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use rustls::client::{ClientConnectionData, UnbufferedClientConnection};
use rustls::pki_types::ServerName;
use rustls::unbuffered::{
    ConnectionState, EncodeError, EncryptError, UnbufferedStatus, WriteTraffic,
};
use rustls::ClientConfig;

use super::buffers;
use super::stream::Tcp;

/// The largest plaintext in one TLS record.
const RECORD: usize = 16 * 1024;
/// What a record adds to its plaintext, rounded up over every cipher suite
/// (header, explicit nonce, tag, inner content type).
const RECORD_OVERHEAD: usize = 64;
/// Room kept for TLS messages rustls queues ahead of application data (a
/// KeyUpdate).
const SLACK: usize = 1024;
/// TLS bytes read from the socket per read call.
const READ_CHUNK: usize = 256 * 1024;
/// Encrypted bytes gathered before they are written out.
const WRITE_CHUNK: usize = 1 << 20;
/// Slices shorter than this are gathered into shared records.
const SMALL_SLICE: usize = 8 * 1024;

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

/// TLS bytes read from the socket. rustls processes `buf[start..]` and says
/// how much of its front it is done with; those bytes are skipped, and moved
/// over only when the buffer's end runs out of room.
struct Incoming {
    /// `None` while a socket read has the buffer.
    buf: Option<Vec<u8>>,
    start: usize,
}

/// Bytes for the socket: `buf[..used]` of a buffer that is initialised up to
/// its length (rustls writes into slices).
#[derive(Default)]
struct Filled {
    buf: Vec<u8>,
    used: usize,
}

impl Filled {
    /// Makes room for `n` more bytes, up to a length of `cap`; false when
    /// that is not enough.
    fn room_for(&mut self, n: usize, cap: usize) -> bool {
        let want = self.used + n;
        if want <= self.buf.len() {
            return true;
        }
        if want > cap.max(self.buf.len()) {
            return false;
        }
        self.buf.resize(want.max(self.buf.len() * 2).min(cap), 0);
        true
    }
}

/// Encrypted bytes on their way to the socket.
#[derive(Default)]
struct Outgoing {
    /// `None` while a socket write has the buffer.
    main: Option<Filled>,
    /// TLS messages produced while `main` was being written; they follow it.
    later: Filled,
    /// Small slices gathered into one record.
    stage: Vec<u8>,
}

impl Outgoing {
    /// Where the next TLS bytes go: after everything produced before them.
    fn tail(&mut self) -> &mut Filled {
        match &mut self.main {
            Some(m) if self.later.used == 0 => m,
            _ => &mut self.later,
        }
    }

    /// Takes back the written buffer, with what was produced meanwhile
    /// moved into it.
    fn returned(&mut self, buf: Vec<u8>) {
        let mut main = Filled { buf, used: 0 };
        let later = std::mem::take(&mut self.later);
        if later.used > 0 {
            main.room_for(later.used, usize::MAX);
            main.buf[..later.used].copy_from_slice(&later.buf[..later.used]);
            main.used = later.used;
        }
        self.main = Some(main);
    }

    fn capacity(&self) -> usize {
        self.main.as_ref().map_or(0, |m| m.buf.capacity())
            + self.later.buf.capacity()
            + self.stage.capacity()
    }
}

/// Decrypted bytes that did not fit the reader's buffer, in order.
#[derive(Default)]
struct Plaintext {
    buf: Vec<u8>,
    read: usize,
}

/// Where a read delivers decrypted bytes: the spare capacity of `buf`, at
/// most `left` bytes.
struct Delivery<'a> {
    buf: &'a mut Vec<u8>,
    left: usize,
    delivered: usize,
}

impl Delivery<'_> {
    fn is_full(&self) -> bool {
        self.left == 0 || self.buf.len() == self.buf.capacity()
    }

    /// Copies what fits of `bytes`; how much that was.
    fn take(&mut self, bytes: &[u8]) -> usize {
        let room = self.buf.capacity() - self.buf.len();
        let n = bytes.len().min(self.left).min(room);
        self.buf.extend_from_slice(&bytes[..n]);
        self.left -= n;
        self.delivered += n;
        n
    }
}

/// What a caller of [`TlsStream::drive`] wants from rustls.
enum Goal<'a, 'b> {
    /// Finish the handshake.
    Handshake,
    /// Decrypt into the delivery until it is full or more TLS bytes are
    /// needed.
    Read(&'a mut Delivery<'b>),
    /// Encrypt from `bufs[first..]` what fits into the outgoing buffer; the
    /// count of plaintext bytes encrypted is left in `done`.
    Write {
        bufs: &'a [Bytes],
        first: usize,
        done: &'a mut usize,
    },
}

/// Where [`TlsStream::drive`] stopped.
#[derive(Debug, PartialEq, Eq)]
enum Stop {
    /// Application data may be sent (the handshake is done; for a write,
    /// it was encrypted).
    Open,
    /// More TLS bytes from the socket are needed.
    NeedsInput,
    /// The read's buffer is full.
    Delivered,
    /// The broker sent close_notify.
    PeerClosed,
}

pub struct TlsStream {
    tcp: Tcp,
    conn: RefCell<UnbufferedClientConnection>,
    incoming: RefCell<Incoming>,
    outgoing: RefCell<Outgoing>,
    plaintext: RefCell<Plaintext>,
    peer_closed: Cell<bool>,
    /// The buffers' capacity as counted in `buffers::held`.
    counted: Cell<usize>,
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
        let conn = UnbufferedClientConnection::new(config, name).map_err(tls_io)?;
        let s = TlsStream {
            tcp,
            conn: RefCell::new(conn),
            incoming: RefCell::new(Incoming {
                buf: Some(Vec::with_capacity(READ_CHUNK + RECORD + RECORD_OVERHEAD)),
                start: 0,
            }),
            outgoing: RefCell::new(Outgoing {
                main: Some(Filled::default()),
                ..Outgoing::default()
            }),
            plaintext: RefCell::new(Plaintext::default()),
            peer_closed: Cell::new(false),
            counted: Cell::new(0),
            write_lock: tokio::sync::Mutex::new(()),
        };
        s.recount();
        let mut heard = false;
        loop {
            let stop = match s.drive(&mut Goal::Handshake) {
                Ok(stop) => stop,
                Err(e) => {
                    // Send the alert that says why, then fail.
                    let _ = s.send_pending().await;
                    return Err(e);
                }
            };
            s.send_pending().await?;
            match stop {
                Stop::Open => {
                    HANDSHAKES.fetch_add(1, Ordering::Relaxed);
                    if s.conn.borrow().handshake_kind() == Some(rustls::HandshakeKind::Resumed) {
                        RESUMED.fetch_add(1, Ordering::Relaxed);
                    }
                    return Ok(s);
                }
                Stop::NeedsInput => {}
                Stop::Delivered | Stop::PeerClosed => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the broker closed the TLS session during the handshake",
                    ))
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

    /// Encrypts the request's slices into TLS records and writes them out,
    /// one outgoing buffer at a time.
    pub async fn write_all(&self, mut bufs: Vec<Bytes>) -> io::Result<()> {
        let _guard = self.write_lock.lock().await;
        bufs.retain(|b| !b.is_empty());
        let mut first = 0;
        while first < bufs.len() {
            let mut done = 0;
            let stop = self.drive(&mut Goal::Write {
                bufs: &bufs,
                first,
                done: &mut done,
            })?;
            if stop == Stop::NeedsInput {
                return Err(io::Error::other(
                    "TLS: the session cannot send application data",
                ));
            }
            if done == 0 && !self.has_pending() {
                return Err(io::Error::other(
                    "TLS: a record did not fit the outgoing buffer",
                ));
            }
            first = super::stream::consume(&mut bufs, first, done);
            self.recount();
            self.send_pending().await?;
        }
        self.send_pending().await
    }

    pub async fn read_into(&self, mut buf: Vec<u8>, max: usize) -> (io::Result<usize>, Vec<u8>) {
        let max = max.max(1);
        if buf.capacity() == buf.len() {
            buf.reserve(max.min(64 * 1024));
        }
        loop {
            let mut delivery = Delivery {
                buf: &mut buf,
                left: max,
                delivered: 0,
            };
            self.take_plaintext(&mut delivery);
            let res = if delivery.is_full() {
                Ok(Stop::Delivered)
            } else {
                self.drive(&mut Goal::Read(&mut delivery))
            };
            let delivered = delivery.delivered;
            // TLS messages the read produced (a KeyUpdate answer) go out
            // now if no request is being written, else right after it: the
            // reader never waits for the write lock, whose holder may be
            // waiting for a response only the reader can deliver.
            if let Ok(_guard) = self.write_lock.try_lock() {
                if let Err(e) = self.send_pending().await {
                    return (Err(e), buf);
                }
            }
            if delivered > 0 {
                return (Ok(delivered), buf);
            }
            match res {
                Err(e) => return (Err(e), buf),
                Ok(Stop::PeerClosed) => return (Ok(0), buf),
                Ok(_) if self.peer_closed.get() => return (Ok(0), buf),
                Ok(_) => {}
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
        self.tcp.shutdown();
    }

    /// Moves decrypted bytes kept from an earlier record into the delivery.
    fn take_plaintext(&self, d: &mut Delivery<'_>) {
        let mut p = self.plaintext.borrow_mut();
        if p.read < p.buf.len() {
            let n = d.take(&p.buf[p.read..]);
            p.read += n;
            COPIED.fetch_add(n as u64, Ordering::Relaxed);
        }
        if p.read == p.buf.len() {
            p.buf.clear();
            p.read = 0;
        }
    }

    /// Runs rustls's state machine over the TLS bytes read so far until
    /// `goal` is reached or cannot progress without the socket. TLS messages
    /// rustls wants sent are queued on the outgoing buffer; decrypted bytes
    /// go to the read's delivery, or are kept for the next read.
    fn drive(&self, goal: &mut Goal<'_, '_>) -> io::Result<Stop> {
        let mut conn = self.conn.borrow_mut();
        let mut incoming = self.incoming.borrow_mut();
        let Incoming { buf, start } = &mut *incoming;
        let mut out = self.outgoing.borrow_mut();
        let mut nothing = [0u8; 0];
        // A failure is reported after one more pass, which hands over the
        // alert rustls queued to tell the broker why.
        let mut failed: Option<rustls::Error> = None;
        loop {
            if let Goal::Read(d) = goal {
                if d.is_full() {
                    return Ok(Stop::Delivered);
                }
            }
            // While a socket read holds the buffer there is nothing to
            // process: everything read before was processed or is part of
            // one record (see `read_socket`).
            let input: &mut [u8] = match buf {
                Some(b) => &mut b[*start..],
                None => &mut nothing,
            };
            let UnbufferedStatus { mut discard, state } = conn.process_tls_records(input);
            let state = match (state, failed.take()) {
                (Ok(s @ ConnectionState::EncodeTlsData(_)), f)
                | (Ok(s @ ConnectionState::TransmitTlsData(_)), f) => {
                    failed = f;
                    s
                }
                (Ok(_), Some(f)) | (Err(_), Some(f)) => return Err(tls_io(f)),
                (Err(e), None) => {
                    failed = Some(e);
                    continue;
                }
                (Ok(s), None) => s,
            };
            let stop = match state {
                ConnectionState::ReadTraffic(mut traffic) => {
                    while let Some(record) = traffic.next_record() {
                        let record = record.map_err(tls_io)?;
                        discard += record.discard;
                        let taken = match goal {
                            Goal::Read(d) => d.take(record.payload),
                            _ => 0,
                        };
                        COPIED.fetch_add(record.payload.len() as u64, Ordering::Relaxed);
                        if taken < record.payload.len() {
                            self.plaintext
                                .borrow_mut()
                                .buf
                                .extend_from_slice(&record.payload[taken..]);
                        }
                    }
                    None
                }
                ConnectionState::EncodeTlsData(mut encode) => {
                    let tail = out.tail();
                    loop {
                        match encode.encode(&mut tail.buf[tail.used..]) {
                            Ok(n) => tail.used += n,
                            Err(EncodeError::InsufficientSize(e)) => {
                                tail.room_for(e.required_size, usize::MAX);
                                continue;
                            }
                            Err(EncodeError::AlreadyEncoded) => {}
                        }
                        break;
                    }
                    None
                }
                ConnectionState::TransmitTlsData(transmit) => {
                    // Queued above; `send_pending` writes it before anything
                    // encrypted after it.
                    transmit.done();
                    None
                }
                ConnectionState::WriteTraffic(mut traffic) => match goal {
                    Goal::Write { bufs, first, done } => {
                        **done = encrypt(&mut traffic, &mut out, bufs, *first)?;
                        Some(Stop::Open)
                    }
                    Goal::Handshake => Some(Stop::Open),
                    Goal::Read(_) => Some(Stop::NeedsInput),
                },
                ConnectionState::BlockedHandshake => Some(Stop::NeedsInput),
                ConnectionState::PeerClosed => {
                    self.peer_closed.set(true);
                    match goal {
                        // Writing stays possible.
                        Goal::Write { .. } => None,
                        _ => Some(Stop::PeerClosed),
                    }
                }
                ConnectionState::Closed => Some(Stop::PeerClosed),
                other => {
                    return Err(io::Error::other(format!(
                        "TLS: unexpected session state {other:?}"
                    )))
                }
            };
            if let Some(b) = buf {
                *start += discard;
                if *start >= b.len() {
                    b.clear();
                    *start = 0;
                }
            }
            if let Some(stop) = stop {
                return Ok(stop);
            }
        }
    }

    /// Reads more TLS bytes from the socket after those read before.
    async fn read_socket(&self) -> io::Result<usize> {
        let (scratch, shared) = {
            let mut incoming = self.incoming.borrow_mut();
            let Incoming { buf, start } = &mut *incoming;
            let Some(b) = buf.as_mut() else {
                return Err(io::Error::other("TLS: two reads at once"));
            };
            if *start > 0 && b.capacity() - b.len() < READ_CHUNK / 2 {
                b.copy_within(*start.., 0);
                b.truncate(b.len() - *start);
                *start = 0;
            }
            if holds_whole_record(&b[*start..]) {
                // rustls keeps a handshake message that spans records as
                // positions in this buffer: it must stay where writers can
                // pass it to rustls, so this (rare) read goes elsewhere.
                (Vec::with_capacity(READ_CHUNK), false)
            } else {
                (buf.take().unwrap_or_default(), true)
            }
        };
        let room = scratch.capacity() - scratch.len();
        let (res, back) = self.tcp.read_into(scratch, room.min(READ_CHUNK)).await;
        let mut incoming = self.incoming.borrow_mut();
        if shared {
            incoming.buf = Some(back);
        } else if let Some(b) = incoming.buf.as_mut() {
            b.extend_from_slice(&back);
            COPIED.fetch_add(back.len() as u64, Ordering::Relaxed);
        }
        drop(incoming);
        self.recount();
        res
    }

    /// Writes out everything queued for the socket. Callers hold the write
    /// lock (or, during the handshake, are alone).
    async fn send_pending(&self) -> io::Result<()> {
        loop {
            let (buf, used) = {
                let mut out = self.outgoing.borrow_mut();
                match out.main.take() {
                    None => return Err(io::Error::other("TLS: two writes at once")),
                    Some(m) if m.used == 0 => {
                        out.main = Some(m);
                        return Ok(());
                    }
                    Some(m) => (m.buf, m.used),
                }
            };
            let (res, buf) = self.tcp.write_prefix(buf, used).await;
            self.outgoing.borrow_mut().returned(buf);
            res?;
        }
    }

    /// Whether encrypted bytes wait for the socket.
    fn has_pending(&self) -> bool {
        let out = self.outgoing.borrow();
        out.later.used > 0 || out.main.as_ref().is_some_and(|m| m.used > 0)
    }

    /// Keeps `buffers::held` in step with what this connection holds.
    fn recount(&self) {
        let now = self
            .incoming
            .borrow()
            .buf
            .as_ref()
            .map_or(0, |b| b.capacity())
            + self.outgoing.borrow().capacity()
            + self.plaintext.borrow().buf.capacity();
        let before = self.counted.get();
        if now > before {
            buffers::held_elsewhere(now - before);
        } else if now < before {
            buffers::released(before - now);
        }
        self.counted.set(now);
    }
}

impl Drop for TlsStream {
    fn drop(&mut self) {
        buffers::released(self.counted.get());
    }
}

/// Encrypts from `bufs[first..]` into the outgoing buffer what fits there;
/// the count of plaintext bytes encrypted. Slices shorter than
/// [`SMALL_SLICE`] are gathered so that they share records.
fn encrypt(
    traffic: &mut WriteTraffic<'_, ClientConnectionData>,
    out: &mut Outgoing,
    bufs: &[Bytes],
    first: usize,
) -> io::Result<usize> {
    let mut stage = std::mem::take(&mut out.stage);
    stage.clear();
    let Some(main) = out.main.as_mut() else {
        out.stage = stage;
        return Ok(0);
    };
    let mut done = 0;
    let mut i = first;
    while i < bufs.len() {
        let slice = &bufs[i][..];
        if slice.len() < SMALL_SLICE && stage.len() + slice.len() <= RECORD {
            stage.extend_from_slice(slice);
            i += 1;
            continue;
        }
        if !stage.is_empty() {
            if !seal(traffic, main, &stage)? {
                break;
            }
            done += stage.len();
            stage.clear();
            continue;
        }
        let fits = plaintext_fitting(main, slice.len());
        if fits == 0 || !seal(traffic, main, &slice[..fits])? {
            break;
        }
        done += fits;
        if fits < slice.len() {
            break;
        }
        i += 1;
    }
    if !stage.is_empty() && seal(traffic, main, &stage)? {
        done += stage.len();
    }
    out.stage = stage;
    Ok(done)
}

/// How much of `len` plaintext bytes fits into the outgoing buffer once it
/// has grown to its cap.
fn plaintext_fitting(main: &Filled, len: usize) -> usize {
    let free = WRITE_CHUNK
        .max(main.buf.len())
        .saturating_sub(main.used + SLACK);
    let whole = free / (RECORD + RECORD_OVERHEAD) * RECORD;
    if whole >= len {
        len
    } else if whole > 0 {
        whole
    } else if len + RECORD_OVERHEAD <= free {
        len
    } else {
        0
    }
}

/// Encrypts `data` into the outgoing buffer; false when it does not fit.
fn seal(
    traffic: &mut WriteTraffic<'_, ClientConnectionData>,
    main: &mut Filled,
    data: &[u8],
) -> io::Result<bool> {
    let mut need = data.len() + (data.len() / RECORD + 1) * RECORD_OVERHEAD + SLACK;
    loop {
        if !main.room_for(need, WRITE_CHUNK + 2 * SLACK) {
            return Ok(false);
        }
        match traffic.encrypt(data, &mut main.buf[main.used..]) {
            Ok(n) => {
                main.used += n;
                COPIED.fetch_add(data.len() as u64, Ordering::Relaxed);
                return Ok(true);
            }
            Err(EncryptError::InsufficientSize(e)) if e.required_size > need => {
                need = e.required_size;
            }
            Err(e) => return Err(io::Error::other(format!("TLS: {e}"))),
        }
    }
}

/// Whether `tls` starts with a complete TLS record.
fn holds_whole_record(tls: &[u8]) -> bool {
    tls.len() >= 5 && 5 + u16::from_be_bytes([tls[3], tls[4]]) as usize <= tls.len()
}

fn tls_io(e: rustls::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, TlsError(e))
}

#[cfg(test)]
mod tests;
