//! The endpoint's HTTP server: one thread, one connection at a time,
//! `GET /metrics`, `/health` and `/ready`. Requests are read with a size
//! cap and a timeout and answered with `Connection: close`, so a client
//! that sends too much, too slowly or nothing at all costs this thread a
//! few seconds and never touches a worker.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use crate::metrics::registry::Metrics;

/// The most of a request that is read.
const MAX_REQUEST: usize = 8 << 10;
const READ_TIMEOUT: Duration = Duration::from_secs(2);
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// Binds `addr` and serves `metrics` from a thread of its own; the address
/// bound (with the port the system chose for port 0).
pub fn serve(addr: &str, metrics: Arc<Metrics>) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr)?;
    let bound = listener.local_addr()?;
    std::thread::Builder::new()
        .name("kmirror-metrics".into())
        .spawn(move || {
            for conn in listener.incoming() {
                match conn {
                    Ok(c) => {
                        if let Err(e) = answer(c, &metrics) {
                            tracing::debug!("metrics endpoint: {e}");
                        }
                    }
                    Err(e) => {
                        tracing::debug!("metrics endpoint: accept failed: {e}");
                        std::thread::sleep(Duration::from_millis(100));
                    }
                }
            }
        })?;
    Ok(bound)
}

/// The path of a GET request, or why it is not one.
fn request_path(head: &str) -> Result<&str, (u16, &'static str)> {
    let line = head.lines().next().unwrap_or_default();
    let mut parts = line.split(' ');
    let (method, path) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    if !parts.next().unwrap_or_default().starts_with("HTTP/1.") {
        return Err((400, "Bad Request"));
    }
    if method != "GET" && method != "HEAD" {
        return Err((405, "Method Not Allowed"));
    }
    Ok(path.split('?').next().unwrap_or_default())
}

fn answer(mut c: TcpStream, metrics: &Metrics) -> std::io::Result<()> {
    c.set_read_timeout(Some(READ_TIMEOUT))?;
    c.set_write_timeout(Some(WRITE_TIMEOUT))?;
    let mut buf = vec![0u8; MAX_REQUEST];
    let mut len = 0;
    while !buf[..len].windows(4).any(|w| w == b"\r\n\r\n") {
        if len == buf.len() {
            return respond(
                &mut c,
                431,
                "Request Header Fields Too Large",
                "text/plain",
                "request too large\n",
            );
        }
        let n = c.read(&mut buf[len..])?;
        if n == 0 {
            return Ok(());
        }
        len += n;
    }
    let head = String::from_utf8_lossy(&buf[..len]);
    let openmetrics = head
        .lines()
        .any(|l| l.to_ascii_lowercase().starts_with("accept:") && l.contains("openmetrics"));
    match request_path(&head) {
        Err((code, reason)) => respond(&mut c, code, reason, "text/plain", &format!("{reason}\n")),
        Ok("/metrics") => {
            let mut body = String::new();
            let encoded = metrics.encode(&mut body, openmetrics);
            if encoded.is_err() {
                return respond(
                    &mut c,
                    500,
                    "Internal Server Error",
                    "text/plain",
                    "cannot encode the metrics\n",
                );
            }
            let kind = if openmetrics {
                "application/openmetrics-text; version=1.0.0; charset=utf-8"
            } else {
                "text/plain; version=0.0.4; charset=utf-8"
            };
            respond(&mut c, 200, "OK", kind, &body)
        }
        Ok("/health") => status(&mut c, metrics.health()),
        Ok("/ready") => status(&mut c, metrics.ready()),
        Ok(_) => respond(
            &mut c,
            404,
            "Not Found",
            "text/plain",
            "try /metrics, /health or /ready\n",
        ),
    }
}

/// 200 with the text when `answer` is `Ok`, 503 with the reasons when not.
fn status(c: &mut TcpStream, answer: Result<String, String>) -> std::io::Result<()> {
    match answer {
        Ok(s) => respond(c, 200, "OK", "text/plain", &format!("{s}\n")),
        Err(s) => respond(
            c,
            503,
            "Service Unavailable",
            "text/plain",
            &format!("{s}\n"),
        ),
    }
}

fn respond(
    c: &mut TcpStream,
    code: u16,
    reason: &str,
    kind: &str,
    body: &str,
) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    c.write_all(head.as_bytes())?;
    c.write_all(body.as_bytes())?;
    c.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exchange(addr: SocketAddr, request: &[u8]) -> String {
        let mut c = TcpStream::connect(addr).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let _ = c.write_all(request);
        let mut out = String::new();
        let _ = c.read_to_string(&mut out);
        out
    }

    #[test]
    fn oversized_and_garbled_requests_get_an_error_and_the_next_one_an_answer() {
        let metrics = Arc::new(Metrics::new("epoll", Duration::from_secs(60)));
        let addr = serve("127.0.0.1:0", metrics).unwrap();
        let big = exchange(addr, &vec![b'x'; MAX_REQUEST + 10]);
        assert!(big.starts_with("HTTP/1.1 431 "), "{big}");
        let garbled = exchange(addr, b"\x00\xff nonsense\r\n\r\n");
        assert!(garbled.starts_with("HTTP/1.1 400 "), "{garbled}");
        let ready = exchange(addr, b"GET /ready HTTP/1.1\r\n\r\n");
        assert!(ready.starts_with("HTTP/1.1 503 "), "{ready}");
        assert!(ready.ends_with("no flow has started\n"), "{ready}");
        let metrics = exchange(
            addr,
            b"GET /metrics HTTP/1.1\r\nAccept: application/openmetrics-text\r\n\r\n",
        );
        assert!(
            metrics.contains("application/openmetrics-text") && metrics.ends_with("# EOF\n"),
            "{metrics}"
        );
    }

    #[test]
    fn only_gets_of_http_1_are_answered() {
        assert_eq!(
            request_path("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"),
            Ok("/metrics")
        );
        assert_eq!(
            request_path("GET /health?x=1 HTTP/1.0\r\n\r\n"),
            Ok("/health")
        );
        assert_eq!(
            request_path("POST /metrics HTTP/1.1\r\n\r\n"),
            Err((405, "Method Not Allowed"))
        );
        assert_eq!(
            request_path("GET /metrics\r\n\r\n"),
            Err((400, "Bad Request"))
        );
        assert_eq!(request_path(""), Err((400, "Bad Request")));
    }
}
