//! Opening TCP connections with the socket options Kafka clients honour.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use socket2::SockRef;

/// Socket options for a cluster's connections. `None` leaves the kernel's
/// default (and autotuning) in place, like Kafka's `-1`.
#[derive(Debug, Clone, Default)]
pub struct SocketTuning {
    pub receive_buffer: Option<usize>,
    pub send_buffer: Option<usize>,
    pub connect_timeout: Duration,
}

/// Connects to `addr` with the tuning applied before the handshake (so the
/// window scale reflects the receive buffer). Returns a tokio stream; the
/// caller turns it into the backend's stream.
pub async fn connect(addr: SocketAddr, tuning: &SocketTuning) -> io::Result<tokio::net::TcpStream> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    if let Some(n) = tuning.receive_buffer {
        socket.set_recv_buffer_size(n as u32)?;
    }
    if let Some(n) = tuning.send_buffer {
        socket.set_send_buffer_size(n as u32)?;
    }
    let timeout = if tuning.connect_timeout.is_zero() {
        Duration::from_secs(10)
    } else {
        tuning.connect_timeout
    };
    let stream = tokio::time::timeout(timeout, socket.connect(addr))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, format!("connect timed out after {timeout:?}")))??;
    stream.set_nodelay(true)?;
    let sock = SockRef::from(&stream);
    sock.set_keepalive(true)?;
    Ok(stream)
}
