//! A plain TCP relay in front of one broker, placed where the broker
//! advertises itself (an extra listener), so that every connection a mirror
//! makes to that broker runs through it and can be cut: [`CutRelay::cut`]
//! resets every open connection at once and, for an outage, resets new
//! ones as they arrive, like a network path that fails and comes back.
//!
//! Between cuts it forwards bytes unchanged and in order, with no delay. It
//! must never alter, drop or reorder a byte of a connection it keeps open.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use socket2::SockRef;

/// A relay whose port is known (so that a broker can advertise it) but
/// which does not accept yet.
pub struct BoundRelay {
    listener: TcpListener,
}

/// A running relay; dropping it closes its listener and every connection.
pub struct CutRelay {
    port: u16,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

impl BoundRelay {
    pub fn bind() -> io::Result<BoundRelay> {
        Ok(BoundRelay {
            listener: TcpListener::bind("127.0.0.1:0")?,
        })
    }

    pub fn address(&self) -> io::Result<String> {
        Ok(format!("127.0.0.1:{}", self.listener.local_addr()?.port()))
    }

    /// Starts accepting; every connection is relayed to `upstream`.
    pub fn forward_to(self, upstream: SocketAddr) -> io::Result<CutRelay> {
        let port = self.listener.local_addr()?.port();
        let shared = Arc::new(Shared {
            stop: AtomicBool::new(false),
            open: Mutex::new(HashMap::new()),
            refuse_until: Mutex::new(None),
            next_id: AtomicU64::new(0),
            accepted: AtomicU64::new(0),
            refused: AtomicU64::new(0),
        });
        let acceptor = {
            let shared = shared.clone();
            let listener = self.listener;
            thread::Builder::new()
                .name("chaos-relay".into())
                .spawn(move || accept_loop(&listener, upstream, &shared))?
        };
        Ok(CutRelay {
            port,
            shared,
            acceptor: Some(acceptor),
        })
    }
}

impl CutRelay {
    /// `127.0.0.1:PORT`, where the broker behind it is advertised.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Resets every open connection, and every new one for `outage`;
    /// returns how many open connections were cut.
    pub fn cut(&self, outage: Duration) -> usize {
        *lock(&self.shared.refuse_until) = Some(Instant::now() + outage);
        let open: Vec<(TcpStream, TcpStream)> =
            lock(&self.shared.open).drain().map(|(_, c)| c).collect();
        for (client, server) in &open {
            reset(client);
            reset(server);
        }
        open.len()
    }

    /// Connections accepted and relayed so far.
    pub fn accepted(&self) -> u64 {
        self.shared.accepted.load(Ordering::Relaxed)
    }

    /// Connections reset on arrival during outages.
    pub fn refused(&self) -> u64 {
        self.shared.refused.load(Ordering::Relaxed)
    }
}

impl Drop for CutRelay {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        // Wakes the blocked accept so that it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
        for (client, server) in lock(&self.shared.open).drain().map(|(_, c)| c) {
            let _ = client.shutdown(Shutdown::Both);
            let _ = server.shutdown(Shutdown::Both);
        }
    }
}

struct Shared {
    stop: AtomicBool,
    /// Open connections by id: both sockets, to reset them on a cut.
    open: Mutex<HashMap<u64, (TcpStream, TcpStream)>>,
    /// New connections are reset until then.
    refuse_until: Mutex<Option<Instant>>,
    next_id: AtomicU64,
    accepted: AtomicU64,
    refused: AtomicU64,
}

fn accept_loop(listener: &TcpListener, upstream: SocketAddr, shared: &Arc<Shared>) {
    for client in listener.incoming() {
        if shared.stop.load(Ordering::Relaxed) {
            return;
        }
        let Ok(client) = client else { continue };
        let refusing = lock(&shared.refuse_until).is_some_and(|until| Instant::now() < until);
        if refusing {
            shared.refused.fetch_add(1, Ordering::Relaxed);
            reset(&client);
            continue;
        }
        // A broker that is down refuses the relay; the client sees its
        // connection closed, as it would without the relay.
        let Ok(server) = TcpStream::connect_timeout(&upstream, Duration::from_secs(5)) else {
            reset(&client);
            continue;
        };
        shared.accepted.fetch_add(1, Ordering::Relaxed);
        if let Err(e) = relay(client, server, shared) {
            eprintln!("kmirror-bench: chaos relay to {upstream}: {e}");
        }
    }
}

/// Copies both ways on two threads; the connection leaves the open set
/// when both directions have ended.
fn relay(client: TcpStream, server: TcpStream, shared: &Arc<Shared>) -> io::Result<()> {
    client.set_nodelay(true)?;
    server.set_nodelay(true)?;
    let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
    lock(&shared.open).insert(id, (client.try_clone()?, server.try_clone()?));
    let ended = Arc::new(AtomicU64::new(0));
    for (from, to) in [(client.try_clone()?, server.try_clone()?), (server, client)] {
        let (shared, ended) = (shared.clone(), ended.clone());
        thread::Builder::new()
            .name("chaos-relay-copy".into())
            .spawn(move || {
                copy(from, to);
                if ended.fetch_add(1, Ordering::AcqRel) == 1 {
                    lock(&shared.open).remove(&id);
                }
            })?;
    }
    Ok(())
}

/// Forwards until end of stream (passed on as a half close) or an error
/// (both sockets shut down).
fn copy(mut from: TcpStream, mut to: TcpStream) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) => {
                let _ = to.shutdown(Shutdown::Write);
                return;
            }
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        }
    }
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}

/// Ends a connection abruptly: with a zero linger the last close sends a
/// reset, and the shutdown wakes the threads blocked on it at once.
fn reset(socket: &TcpStream) {
    let _ = SockRef::from(socket).set_linger(Some(Duration::ZERO));
    let _ = socket.shutdown(Shutdown::Both);
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn echo_server() -> SocketAddr {
        let echo = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = echo.local_addr().unwrap();
        thread::spawn(move || {
            for s in echo.incoming() {
                let Ok(mut s) = s else { return };
                thread::spawn(move || {
                    let mut r = s.try_clone().unwrap();
                    let _ = io::copy(&mut r, &mut s);
                });
            }
        });
        addr
    }

    #[test]
    fn relays_bytes_in_order_until_cut_and_refuses_during_an_outage() {
        let bound = BoundRelay::bind().unwrap();
        let address = bound.address().unwrap();
        let relay = bound.forward_to(echo_server()).unwrap();

        let mut c = TcpStream::connect(&address).unwrap();
        let data: Vec<u8> = (0..200_000u32).map(|i| (i * 31 + i / 7) as u8).collect();
        c.write_all(&data).unwrap();
        let mut back = vec![0u8; data.len()];
        c.read_exact(&mut back).unwrap();
        assert!(back == data, "bytes changed or reordered");

        assert_eq!(relay.cut(Duration::from_secs(2)), 1);
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut byte = [0u8; 1];
        assert!(
            matches!(c.read(&mut byte), Ok(0) | Err(_)),
            "a cut connection must end"
        );
        // During the outage a new connection is accepted and reset at once.
        let mut during = TcpStream::connect(&address).unwrap();
        during
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        assert!(matches!(during.read(&mut byte), Ok(0) | Err(_)));
        assert_eq!(relay.refused(), 1);

        thread::sleep(Duration::from_millis(2100));
        let mut after = TcpStream::connect(&address).unwrap();
        after.write_all(b"again").unwrap();
        let mut five = [0u8; 5];
        after.read_exact(&mut five).unwrap();
        assert_eq!(&five, b"again");
        assert_eq!(relay.accepted(), 2);
    }
}
