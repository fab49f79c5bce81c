//! Resolving a broker's `host:port` without blocking the thread that asks:
//! a worker drives every connection of its partitions on one thread, and a
//! slow or hung DNS server must not stall them. A literal address is
//! parsed in place; a name is looked up on a short-lived thread of its
//! own, given up after `timeout` (the thread may linger in the resolver,
//! the caller does not).

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

use tokio::sync::oneshot;

/// Every address `addr` resolves to, in the resolver's order (callers try
/// each in turn: `localhost` may be ::1 first and 127.0.0.1 second).
pub async fn resolve(addr: &str, timeout: Duration) -> io::Result<Vec<SocketAddr>> {
    if let Ok(literal) = addr.parse::<SocketAddr>() {
        return Ok(vec![literal]);
    }
    let name = addr.to_string();
    let (tx, rx) = oneshot::channel();
    std::thread::Builder::new()
        .name("kmirror-resolve".into())
        .spawn(move || {
            let _ = tx.send(name.to_socket_addrs().map(Iterator::collect));
        })?;
    match tokio::time::timeout(timeout, rx).await {
        Ok(Ok(found)) => found,
        Ok(Err(_)) => Err(io::Error::other(
            "the resolver thread ended without an answer",
        )),
        Err(_) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("no answer from the name resolver within {timeout:?}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn literals_names_and_failures() {
        let second = Duration::from_secs(5);
        assert_eq!(
            run(resolve("127.0.0.1:9092", second)).unwrap(),
            vec!["127.0.0.1:9092".parse().unwrap()]
        );
        assert_eq!(
            run(resolve("[::1]:9092", second)).unwrap(),
            vec!["[::1]:9092".parse().unwrap()]
        );
        let local = run(resolve("localhost:9092", second)).unwrap();
        assert!(!local.is_empty() && local.iter().all(|a| a.port() == 9092));
        assert!(run(resolve("no-port-here", second)).is_err());
        assert!(run(resolve("host.invalid:9092", second)).is_err());
    }
}
