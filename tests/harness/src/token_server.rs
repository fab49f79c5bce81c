//! A minimal OAuth 2 token endpoint for tests (plain HTTP on loopback):
//! the client credentials grant, answered with an unsigned JWT for the
//! client id, which Kafka's default (unsecured) OAUTHBEARER validator
//! accepts. Wrong credentials get 401, as a real identity provider answers.

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::{STANDARD as B64, URL_SAFE_NO_PAD as B64URL};
use base64::Engine;

/// A running token endpoint; it lives as long as the test process.
pub struct TokenServer {
    pub url: String,
    issued: Arc<AtomicUsize>,
}

impl TokenServer {
    /// Serves tokens valid for `lifetime` to `client_id`/`client_secret`.
    pub fn start(
        client_id: &str,
        client_secret: &str,
        lifetime: Duration,
    ) -> io::Result<TokenServer> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let url = format!("http://{}/oauth2/token", listener.local_addr()?);
        let issued = Arc::new(AtomicUsize::new(0));
        let expected = format!(
            "Basic {}",
            B64.encode(format!("{client_id}:{client_secret}"))
        );
        let (id, count) = (client_id.to_string(), issued.clone());
        std::thread::Builder::new()
            .name("token-server".into())
            .spawn(move || {
                for stream in listener.incoming().flatten() {
                    let _ = answer(stream, &expected, &id, lifetime, &count);
                }
            })?;
        Ok(TokenServer { url, issued })
    }

    /// Tokens handed out so far.
    pub fn issued(&self) -> usize {
        self.issued.load(Ordering::Relaxed)
    }
}

fn answer(
    mut stream: TcpStream,
    expected: &str,
    client_id: &str,
    lifetime: Duration,
    issued: &AtomicUsize,
) -> io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut request = Vec::new();
    let mut buf = [0u8; 4096];
    let body_start = loop {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        request.extend_from_slice(&buf[..n]);
        if let Some(i) = request.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&request[..body_start]).to_string();
    let length: usize = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().to_string())
        })
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    while request.len() < body_start + length {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            break;
        }
        request.extend_from_slice(&buf[..n]);
    }
    let body = String::from_utf8_lossy(&request[body_start..]).to_string();
    let authorized = head.lines().any(|l| {
        l.split_once(':')
            .is_some_and(|(k, v)| k.eq_ignore_ascii_case("authorization") && v.trim() == expected)
    });
    let (status, json) = if !authorized {
        (
            "401 Unauthorized",
            "{\"error\":\"invalid_client\"}".to_string(),
        )
    } else if !body.contains("grant_type=client_credentials") {
        (
            "400 Bad Request",
            "{\"error\":\"unsupported_grant_type\"}".to_string(),
        )
    } else {
        issued.fetch_add(1, Ordering::Relaxed);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let claims = format!(
            "{{\"sub\":\"{client_id}\",\"iat\":{now},\"exp\":{}}}",
            now + lifetime.as_secs()
        );
        let token = format!(
            "{}.{}.",
            B64URL.encode(b"{\"alg\":\"none\"}"),
            B64URL.encode(claims.as_bytes())
        );
        (
            "200 OK",
            format!(
                "{{\"access_token\":\"{token}\",\"token_type\":\"Bearer\",\"expires_in\":{}}}",
                lifetime.as_secs()
            ),
        )
    };
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{json}",
        json.len()
    )
}
