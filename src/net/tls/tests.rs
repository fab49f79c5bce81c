//! The TLS stream against an in-process rustls server that echoes every
//! byte: requests cut into slices of every size, reads of every size, both
//! directions at once, the server renewing its keys (and asking for ours)
//! while data flows, and its close_notify at the end.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::rc::Rc;
use std::thread::JoinHandle;

use super::*;
use crate::net::backend::{run_on_this_thread, Backend};
use crate::security::stores::StoreType;
use crate::security::tls::{TlsOptions, TlsSettings, TrustSource};
use kmirror_harness::certs::TestPki;

const TOTAL: u64 = 6 << 20;

/// The byte at position `i` of the stream both sides agree on.
fn byte_at(i: u64) -> u8 {
    (i.wrapping_mul(31) ^ (i >> 9)) as u8
}

/// A small deterministic generator for slice and read sizes.
struct Sizes(u64);

impl Sizes {
    fn next(&mut self, max: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        // Mostly small (headers, small batches), sometimes up to `max`.
        let r = self.0 as usize;
        match r % 4 {
            0 => 1 + r / 4 % 40,
            1 => 1 + r / 4 % 9000,
            _ => 1 + r / 4 % max,
        }
    }
}

/// Echoes `TOTAL` bytes, renewing its keys (TLS 1.3: with a request that
/// the client renews its own) every 500 kB, then closes with close_notify.
fn echo_server() -> (SocketAddr, JoinHandle<io::Result<u64>>) {
    let config = TestPki::shared()
        .server_config(false)
        .expect("server config");
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("address");
    let handle = std::thread::spawn(move || {
        let (sock, _) = listener.accept()?;
        let conn = rustls::ServerConnection::new(config).map_err(io::Error::other)?;
        let mut tls = rustls::StreamOwned::new(conn, sock);
        let mut buf = vec![0u8; 100_000];
        let (mut total, mut since_rekey, mut rekeys) = (0u64, 0u64, 0u64);
        while total < TOTAL {
            let n = tls.read(&mut buf)?;
            if n == 0 {
                break;
            }
            tls.write_all(&buf[..n])?;
            tls.flush()?;
            total += n as u64;
            since_rekey += n as u64;
            if since_rekey > 500_000
                && tls.conn.protocol_version() == Some(rustls::ProtocolVersion::TLSv1_3)
            {
                tls.conn.refresh_traffic_keys().map_err(io::Error::other)?;
                since_rekey = 0;
                rekeys += 1;
            }
        }
        tls.conn.send_close_notify();
        tls.flush()?;
        Ok(rekeys)
    });
    (addr, handle)
}

fn client_config(tls13: bool) -> Arc<ClientConfig> {
    TlsSettings::new(TlsOptions {
        trust: TrustSource::File {
            path: TestPki::shared().path("ca.pem"),
            store_type: StoreType::Pem,
            password: None,
        },
        key: None,
        verify_hostname: true,
        tls13,
        tls12: !tls13,
        cipher_suites: None,
    })
    .expect("client TLS settings")
    .client_config("test")
}

/// Writes and reads the stream at once; the count of bytes read back.
async fn round_trip(backend: Backend, addr: SocketAddr, tls13: bool) -> io::Result<u64> {
    let std = std::net::TcpStream::connect(addr)?;
    std.set_nonblocking(true)?;
    let tcp = Tcp::from_tokio(tokio::net::TcpStream::from_std(std)?, backend)?;
    let stream = Rc::new(TlsStream::connect(tcp, client_config(tls13), "localhost").await?);
    let writer = tokio::task::spawn_local({
        let stream = stream.clone();
        async move {
            let mut sizes = Sizes(0x9e37_79b9_7f4a_7c15);
            let mut pos = 0u64;
            while pos < TOTAL {
                // One request: up to ~1.5 MB in slices of every size.
                let mut bufs = Vec::new();
                let mut len = 0;
                while len < 1_500_000 && pos < TOTAL {
                    let n = (sizes.next(300_000) as u64).min(TOTAL - pos);
                    bufs.push(Bytes::from(
                        (pos..pos + n).map(byte_at).collect::<Vec<u8>>(),
                    ));
                    pos += n;
                    len += n;
                }
                stream.write_all(bufs).await?;
            }
            io::Result::Ok(())
        }
    });
    let mut sizes = Sizes(0x2545_f491_4f6c_dd1d);
    let mut got = 0u64;
    loop {
        let buf = Vec::with_capacity(sizes.next(70_000));
        let (res, buf) = stream.read_into(buf, sizes.next(70_000)).await;
        let n = res?;
        if n == 0 {
            break;
        }
        for (k, b) in buf.iter().enumerate() {
            assert_eq!(
                *b,
                byte_at(got + k as u64),
                "byte {} read back",
                got + k as u64
            );
        }
        got += n as u64;
    }
    writer.await.map_err(io::Error::other)??;
    Ok(got)
}

fn check(backend: Backend, tls13: bool) {
    let (addr, server) = echo_server();
    let got = run_on_this_thread(backend, round_trip(backend, addr, tls13)).expect("round trip");
    let rekeys = server.join().expect("server thread").expect("server");
    assert_eq!(
        got, TOTAL,
        "every byte came back, then close_notify ended the stream"
    );
    if tls13 {
        assert!(rekeys >= 5, "the server renewed its keys {rekeys} times");
    }
}

#[test]
fn tls13_stream_survives_key_updates_on_epoll() {
    check(Backend::Epoll, true);
}

#[test]
fn tls12_stream_on_epoll() {
    check(Backend::Epoll, false);
}

#[test]
fn tls13_stream_survives_key_updates_on_io_uring() {
    match Backend::detect() {
        (Backend::Uring, _) => check(Backend::Uring, true),
        (_, why) => eprintln!("io_uring unavailable here ({why:?}); epoll tests cover the stream"),
    }
}
