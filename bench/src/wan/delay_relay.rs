//! A userspace delay line in front of one TCP service, standing in for a
//! long fat WAN pipe on a machine without `netem`.
//!
//! Each accepted connection gets its own connection to the upstream address
//! and two directions, each a [`Line`]: a reader thread reads whatever the
//! sender offers, stamps the chunk with `arrival + delay`, and queues it; a
//! writer thread writes each chunk, in order, no earlier than its stamp.
//! Nothing is shaped: the only bandwidth limit is the loopback itself, and
//! the one bound is `max_buffered`, the bytes a direction may hold in the
//! line at once (read, not yet written). Sized like the bandwidth-delay
//! product of a fast link (64 MiB holds 50 ms of 10 Gbit/s), it is never what
//! limits a mirror; when it is full the reader stops reading, and the
//! sender's TCP sees an ordinary full window.
//!
//! What this model leaves out, and the report must say: TCP's own windows are
//! *not* stretched by the delay. The relay's two sockets are loopback hops
//! that acknowledge at once, so an endpoint's SO_RCVBUF/SO_SNDBUF (the
//! relay's own included, set explicitly to `socket_buffer`) bound only the
//! bytes queued on the local hop, not the bytes in flight across the delay.
//! What a delayed link costs an application here is its request/response
//! round trips: a client with one request in flight gets one response per
//! `2 × delay` at most. No loss, no reordering, no congestion control.
//!
//! It must never reorder, drop or alter a byte, and never deliver a byte
//! before its due time.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use socket2::{Domain, SockRef, Socket, Type};

/// How the relay delays and buffers.
#[derive(Clone, Copy, Debug)]
pub struct RelaySettings {
    /// Added to every byte, each way.
    pub delay: Duration,
    /// Most bytes one direction of one connection holds in the line.
    pub max_buffered: usize,
    /// SO_RCVBUF and SO_SNDBUF requested on the relay's own sockets (the
    /// kernel doubles the value and caps it at net.core.rmem_max/wmem_max).
    pub socket_buffer: usize,
}

/// What the relay saw, for the report.
#[derive(Debug, Default)]
pub struct RelayStats {
    pub connections: AtomicU64,
    /// Bytes towards the upstream service (requests) and back (responses).
    pub bytes_up: AtomicU64,
    pub bytes_down: AtomicU64,
    /// The most bytes one direction held in the line at once.
    pub peak_buffered: AtomicUsize,
    /// Times a reader waited because its line held `max_buffered`.
    pub full_waits: AtomicU64,
    /// Effective buffer sizes of the first relay sockets, as the kernel
    /// reports them after the request (receive, send).
    pub effective_buffers: Mutex<Option<(usize, usize)>>,
}

/// A relay whose listening port is known (so that a broker can advertise it)
/// but which does not accept yet.
pub struct BoundRelay {
    listener: TcpListener,
    settings: RelaySettings,
}

/// A running relay; dropping it closes its listener and every connection.
pub struct DelayRelay {
    port: u16,
    stop: Arc<AtomicBool>,
    stats: Arc<RelayStats>,
    open: Arc<Mutex<Vec<TcpStream>>>,
    acceptor: Option<JoinHandle<()>>,
}

impl BoundRelay {
    /// Binds a loopback port for the relay. The buffer sizes are set on the
    /// listening socket so that accepted sockets start with them (the
    /// window scale is fixed by the handshake).
    pub fn bind(settings: RelaySettings) -> io::Result<BoundRelay> {
        let socket = Socket::new(Domain::IPV4, Type::STREAM, None)?;
        socket.set_reuse_address(true)?;
        set_buffers(&socket, settings.socket_buffer)?;
        socket.bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())?;
        socket.listen(128)?;
        Ok(BoundRelay {
            listener: socket.into(),
            settings,
        })
    }

    pub fn port(&self) -> io::Result<u16> {
        Ok(self.listener.local_addr()?.port())
    }

    /// Starts accepting; every connection is relayed to `upstream`.
    pub fn forward_to(self, upstream: SocketAddr) -> io::Result<DelayRelay> {
        let port = self.port()?;
        let stop = Arc::new(AtomicBool::new(false));
        let stats = Arc::new(RelayStats::default());
        let open = Arc::new(Mutex::new(Vec::new()));
        let acceptor = {
            let (stop, stats, open) = (stop.clone(), stats.clone(), open.clone());
            let (listener, settings) = (self.listener, self.settings);
            thread::Builder::new()
                .name("relay-accept".into())
                .spawn(move || {
                    for client in listener.incoming() {
                        if stop.load(Ordering::Relaxed) {
                            break;
                        }
                        let Ok(client) = client else { continue };
                        if let Err(e) = relay_one(client, upstream, settings, &stats, &open) {
                            eprintln!("kmirror-bench: relay: cannot reach {upstream}: {e}");
                        }
                    }
                })?
        };
        Ok(DelayRelay {
            port,
            stop,
            stats,
            open,
            acceptor: Some(acceptor),
        })
    }
}

impl DelayRelay {
    /// `127.0.0.1:PORT` clients connect to.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn stats(&self) -> &RelayStats {
        &self.stats
    }
}

impl Drop for DelayRelay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wakes the blocked accept so that it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
        for socket in lock(&self.open).drain(..) {
            let _ = socket.shutdown(Shutdown::Both);
        }
    }
}

/// One direction of one connection: chunks in arrival order with their due
/// times.
struct Line {
    state: Mutex<LineState>,
    changed: Condvar,
}

#[derive(Default)]
struct LineState {
    chunks: VecDeque<(Instant, Vec<u8>)>,
    buffered: usize,
    /// The sender closed its side: the writer closes ours once drained.
    finished: bool,
    /// Either socket failed: both directions stop now.
    broken: bool,
}

fn relay_one(
    client: TcpStream,
    upstream: SocketAddr,
    settings: RelaySettings,
    stats: &Arc<RelayStats>,
    open: &Arc<Mutex<Vec<TcpStream>>>,
) -> io::Result<()> {
    let server = Socket::new(Domain::IPV4, Type::STREAM, None)?;
    set_buffers(&server, settings.socket_buffer)?;
    server.connect_timeout(&upstream.into(), Duration::from_secs(10))?;
    let server: TcpStream = server.into();
    for s in [&client, &server] {
        // The relay adds its delay and nothing else (no Nagle wait).
        s.set_nodelay(true)?;
    }
    stats.connections.fetch_add(1, Ordering::Relaxed);
    {
        let mut effective = lock(&stats.effective_buffers);
        if effective.is_none() {
            let sock = SockRef::from(&client);
            *effective = Some((sock.recv_buffer_size()?, sock.send_buffer_size()?));
        }
    }
    {
        let mut open = lock(open);
        open.push(client.try_clone()?);
        open.push(server.try_clone()?);
    }
    let up = Arc::new(Line::new());
    let down = Arc::new(Line::new());
    let spawn = |name: &str, f: Box<dyn FnOnce() + Send>| {
        thread::Builder::new().name(name.into()).spawn(f).map(drop)
    };
    // Each thread owns clones of both sockets so that a failure on one side
    // can shut the whole connection down.
    let pair =
        || -> io::Result<(TcpStream, TcpStream)> { Ok((client.try_clone()?, server.try_clone()?)) };
    for (from_client, line) in [(true, up.clone()), (false, down.clone())] {
        let other = if from_client {
            down.clone()
        } else {
            up.clone()
        };
        let (c, s) = pair()?;
        let (from, to) = if from_client { (c, s) } else { (s, c) };
        let (stats_r, line_r, other_r) = (stats.clone(), line.clone(), other.clone());
        let (from_r, to_r) = (from.try_clone()?, to.try_clone()?);
        spawn(
            "relay-read",
            Box::new(move || {
                let counter = if from_client {
                    &stats_r.bytes_up
                } else {
                    &stats_r.bytes_down
                };
                read_side(
                    from_r, &to_r, &line_r, &other_r, settings, &stats_r, counter,
                );
            }),
        )?;
        spawn(
            "relay-write",
            Box::new(move || write_side(to, &from, &line, &other)),
        )?;
    }
    Ok(())
}

impl Line {
    fn new() -> Line {
        Line {
            state: Mutex::new(LineState::default()),
            changed: Condvar::new(),
        }
    }

    fn break_off(&self) {
        lock(&self.state).broken = true;
        self.changed.notify_all();
    }
}

const READ_CHUNK: usize = 256 * 1024;

/// Reads from `from` into `line` until end of stream or failure.
fn read_side(
    mut from: TcpStream,
    to: &TcpStream,
    line: &Line,
    other: &Line,
    settings: RelaySettings,
    stats: &RelayStats,
    counter: &AtomicU64,
) {
    let mut buf = vec![0u8; READ_CHUNK];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => {
                lock(&line.state).finished = true;
                line.changed.notify_all();
                return;
            }
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return fail(&from, to, line, other),
        };
        let due = Instant::now() + settings.delay;
        counter.fetch_add(n as u64, Ordering::Relaxed);
        let mut state = lock(&line.state);
        while state.buffered > 0 && state.buffered + n > settings.max_buffered && !state.broken {
            stats.full_waits.fetch_add(1, Ordering::Relaxed);
            state = line.changed.wait(state).unwrap_or_else(|e| e.into_inner());
        }
        if state.broken {
            return;
        }
        state.chunks.push_back((due, buf[..n].to_vec()));
        state.buffered += n;
        stats
            .peak_buffered
            .fetch_max(state.buffered, Ordering::Relaxed);
        drop(state);
        line.changed.notify_all();
    }
}

/// Writes `line`'s chunks to `to`, each at its due time.
fn write_side(mut to: TcpStream, from: &TcpStream, line: &Line, other: &Line) {
    loop {
        let chunk = {
            let mut state = lock(&line.state);
            loop {
                if state.broken {
                    return;
                }
                let now = Instant::now();
                match state.chunks.front() {
                    Some((due, _)) if *due <= now => {
                        let (_, chunk) = state.chunks.pop_front().expect("front exists");
                        state.buffered -= chunk.len();
                        break Some(chunk);
                    }
                    // Later chunks are due later still: sleep until this one.
                    Some((due, _)) => {
                        let wait = *due - now;
                        state = line
                            .changed
                            .wait_timeout(state, wait)
                            .unwrap_or_else(|e| e.into_inner())
                            .0;
                    }
                    None if state.finished => break None,
                    None => {
                        state = line.changed.wait(state).unwrap_or_else(|e| e.into_inner());
                    }
                }
            }
        };
        line.changed.notify_all();
        match chunk {
            Some(chunk) => {
                if to.write_all(&chunk).is_err() {
                    return fail(from, &to, line, other);
                }
            }
            None => {
                let _ = to.shutdown(Shutdown::Write);
                return;
            }
        }
    }
}

/// Ends both directions of a connection after a socket error.
fn fail(a: &TcpStream, b: &TcpStream, line: &Line, other: &Line) {
    let _ = a.shutdown(Shutdown::Both);
    let _ = b.shutdown(Shutdown::Both);
    line.break_off();
    other.break_off();
}

fn set_buffers(socket: &Socket, bytes: usize) -> io::Result<()> {
    socket.set_recv_buffer_size(bytes)?;
    socket.set_send_buffer_size(bytes)
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An echo server behind the relay: every byte comes back intact, in
    /// order, and no sooner than two delays after it was sent.
    #[test]
    fn delays_each_way_and_keeps_every_byte_in_order() {
        let echo = TcpListener::bind("127.0.0.1:0").unwrap();
        let upstream = echo.local_addr().unwrap();
        thread::spawn(move || {
            let (mut s, _) = echo.accept().unwrap();
            let mut r = s.try_clone().unwrap();
            io::copy(&mut r, &mut s).unwrap();
            s.shutdown(Shutdown::Write).unwrap();
        });
        let delay = Duration::from_millis(40);
        let relay = BoundRelay::bind(RelaySettings {
            delay,
            max_buffered: 1 << 20,
            socket_buffer: 1 << 20,
        })
        .unwrap()
        .forward_to(upstream)
        .unwrap();

        let mut c = TcpStream::connect(relay.address()).unwrap();
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
        let started = Instant::now();
        let mut w = c.try_clone().unwrap();
        let sent = data.clone();
        let writer = thread::spawn(move || {
            w.write_all(&sent).unwrap();
            w.shutdown(Shutdown::Write).unwrap();
        });
        let mut first = [0u8; 1];
        c.read_exact(&mut first).unwrap();
        assert!(started.elapsed() >= 2 * delay, "{:?}", started.elapsed());
        let mut back = first.to_vec();
        c.read_to_end(&mut back).unwrap();
        writer.join().unwrap();
        assert_eq!(back.len(), data.len());
        assert!(back == data, "bytes changed or reordered");
        let stats = relay.stats();
        assert_eq!(stats.bytes_up.load(Ordering::Relaxed), data.len() as u64);
        assert!(stats.peak_buffered.load(Ordering::Relaxed) <= 1 << 20);
    }
}
