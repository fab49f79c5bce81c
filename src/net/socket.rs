//! Opening TCP connections with the socket options Kafka clients honour.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use socket2::SockRef;

/// Socket options for a cluster's connections. `None` leaves the kernel's
/// default (and autotuning) in place, like Kafka's `-1`.
#[derive(Debug, Clone, Default)]
pub struct SocketTuning {
    pub receive_buffer: Option<usize>,
    pub send_buffer: Option<usize>,
    pub connect_timeout: Duration,
    /// TCP congestion control algorithm, e.g. `bbr`.
    pub congestion: Option<String>,
    /// TCP_NOTSENT_LOWAT: unsent bytes the kernel holds before the socket
    /// stops being writable (keeps latency low on fat pipes).
    pub notsent_lowat: Option<u32>,
    /// TCP_USER_TIMEOUT: how long sent data may stay unacknowledged before
    /// the connection is dropped.
    pub user_timeout: Option<Duration>,
}

impl SocketTuning {
    /// How long a connection attempt (and the name lookup before it) may
    /// take: `connect_timeout`, or 10 s when it is zero.
    pub fn connect_timeout_or_default(&self) -> Duration {
        if self.connect_timeout.is_zero() {
            Duration::from_secs(10)
        } else {
            self.connect_timeout
        }
    }
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
    if let Some(cc) = &tuning.congestion {
        set_congestion(&socket, cc)?;
    }
    let timeout = tuning.connect_timeout_or_default();
    let stream = tokio::time::timeout(timeout, socket.connect(addr))
        .await
        .map_err(|_| {
            io::Error::new(
                io::ErrorKind::TimedOut,
                format!("connect timed out after {timeout:?}"),
            )
        })??;
    stream.set_nodelay(true)?;
    let sock = SockRef::from(&stream);
    sock.set_keepalive(true)?;
    if let Some(lowat) = tuning.notsent_lowat {
        sock.set_tcp_notsent_lowat(lowat)?;
    }
    if let Some(t) = tuning.user_timeout {
        sock.set_tcp_user_timeout(Some(t))?;
    }
    report_buffers(&sock, addr, tuning);
    Ok(stream)
}

/// Whether this process may use congestion control `name` on its sockets:
/// tried on a socket that is never connected, so a name the kernel refuses
/// stops kmirror at start-up rather than failing every connection. The
/// error says what the kernel offers and what it lets unprivileged
/// processes choose.
pub fn check_congestion(name: &str) -> io::Result<()> {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
    socket
        .set_tcp_congestion(name.as_bytes())
        .map_err(|e| congestion_error(name, e))
}

/// Sets the congestion control algorithm before connecting; a name the
/// kernel does not offer is an error naming what it does offer.
fn set_congestion(socket: &tokio::net::TcpSocket, name: &str) -> io::Result<()> {
    SockRef::from(socket)
        .set_tcp_congestion(name.as_bytes())
        .map_err(|e| congestion_error(name, e))
}

fn congestion_error(name: &str, e: io::Error) -> io::Error {
    let read = |file: &str| {
        std::fs::read_to_string(format!("/proc/sys/net/ipv4/{file}"))
            .map_or_else(|_| "?".to_string(), |s| s.trim().to_string())
    };
    let (available, allowed) = (
        read("tcp_available_congestion_control"),
        read("tcp_allowed_congestion_control"),
    );
    let fix = if !available.split_whitespace().any(|a| a == name) {
        format!("load its module first if the kernel has one: modprobe tcp_{name}")
    } else {
        format!(
            "allow it for processes without CAP_NET_ADMIN: sysctl -w \
             net.ipv4.tcp_allowed_congestion_control='{allowed} {name}'"
        )
    };
    io::Error::new(
        e.kind(),
        format!(
            "TCP congestion control '{name}' is not available ({e}); this kernel offers: \
             {available}; processes without CAP_NET_ADMIN may choose: {allowed}; {fix}"
        ),
    )
}

/// The socket options in effect on a connection, as the kernel reports them.
pub fn describe(sock: &SockRef<'_>) -> String {
    let cc = sock.tcp_congestion().map(|v| {
        String::from_utf8_lossy(&v)
            .trim_end_matches('\0')
            .to_string()
    });
    format!(
        "receive buffer {} B, send buffer {} B, congestion control {}, notsent_lowat {} B, user timeout {:?}",
        sock.recv_buffer_size().unwrap_or(0),
        sock.send_buffer_size().unwrap_or(0),
        cc.unwrap_or_else(|_| "?".into()),
        sock.tcp_notsent_lowat().unwrap_or(0),
        sock.tcp_user_timeout().ok().flatten().unwrap_or_default(),
    )
}

/// Logs the buffer sizes the kernel granted and warns (once per process)
/// when it capped a requested size: Linux doubles what is asked and caps it
/// at twice `net.core.rmem_max` / `wmem_max`.
fn report_buffers(sock: &SockRef<'_>, addr: SocketAddr, tuning: &SocketTuning) {
    static WARNED: AtomicBool = AtomicBool::new(false);
    let granted_rcv = sock.recv_buffer_size().unwrap_or(0);
    let granted_snd = sock.send_buffer_size().unwrap_or(0);
    static REPORTED: AtomicBool = AtomicBool::new(false);
    if !REPORTED.swap(true, Ordering::Relaxed) {
        tracing::info!(peer = %addr, "socket options in effect: {}", describe(sock));
    } else {
        tracing::debug!(peer = %addr, "socket options in effect: {}", describe(sock));
    }
    let capped = |asked: Option<usize>, granted: usize| asked.is_some_and(|a| granted < a);
    if (capped(tuning.receive_buffer, granted_rcv) || capped(tuning.send_buffer, granted_snd))
        && !WARNED.swap(true, Ordering::Relaxed)
    {
        tracing::warn!(
            peer = %addr,
            asked_receive = tuning.receive_buffer,
            granted_receive = granted_rcv,
            asked_send = tuning.send_buffer,
            granted_send = granted_snd,
            "the kernel capped the socket buffers; raise net.core.rmem_max / net.core.wmem_max (kmirror tune check prints the commands)"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_congestion_control_the_kernel_lacks_is_refused_with_what_it_offers() {
        let err = check_congestion("no-such-algorithm").unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("'no-such-algorithm' is not available"),
            "{text}"
        );
        assert!(text.contains("this kernel offers: "), "{text}");
        // The host's default is always allowed.
        let default = std::fs::read_to_string("/proc/sys/net/ipv4/tcp_congestion_control")
            .expect("a Linux host");
        check_congestion(default.trim()).expect("the default congestion control");
    }
}
