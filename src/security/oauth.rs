//! OAUTHBEARER tokens from an OAuth 2 token endpoint by the client
//! credentials grant, as Kafka's `OAuthBearerLoginCallbackHandler` gets
//! them: `sasl.oauthbearer.token.endpoint.url`, and `clientId`,
//! `clientSecret` and `scope` in `sasl.jaas.config`. A token is kept and
//! shared by every connection to the cluster until 80% of its lifetime has
//! passed. The HTTP exchange is small and rare: it runs on a short-lived
//! thread of its own, never on a worker's event loop.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;

use crate::security::secret::Secret;

/// The most of a token endpoint's answer kmirror reads.
const MAX_ANSWER: usize = 1 << 20;

/// Where and how to ask for tokens.
#[derive(Debug, Clone)]
pub struct TokenEndpoint {
    pub url: String,
    https: bool,
    host: String,
    port: u16,
    path: String,
    pub client_id: String,
    pub client_secret: Secret,
    pub scope: Option<String>,
    /// `sasl.oauthbearer.header.urlencode`.
    pub urlencode: bool,
    pub connect_timeout: Duration,
    pub read_timeout: Duration,
}

/// Why no token came: `permanent` when asking again cannot help (the
/// endpoint refused the client's credentials).
#[derive(Debug, Clone)]
pub struct TokenError {
    pub reason: String,
    pub permanent: bool,
}

impl TokenEndpoint {
    /// `url` is `http://` or `https://host[:port]/path`.
    pub fn new(
        url: &str,
        client_id: String,
        client_secret: Secret,
        scope: Option<String>,
    ) -> Result<TokenEndpoint, String> {
        let (https, rest) = if let Some(r) = url.strip_prefix("https://") {
            (true, r)
        } else if let Some(r) = url.strip_prefix("http://") {
            (false, r)
        } else {
            return Err(format!("'{url}' is neither an http:// nor an https:// URL"));
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || authority.starts_with('[') => (
                h.trim_start_matches('[').trim_end_matches(']').to_string(),
                p.parse::<u16>()
                    .map_err(|_| format!("'{url}' has a port that is not a number"))?,
            ),
            _ => (authority.to_string(), if https { 443 } else { 80 }),
        };
        if host.is_empty() {
            return Err(format!("'{url}' names no host"));
        }
        Ok(TokenEndpoint {
            url: url.to_string(),
            https,
            host,
            port,
            path: path.to_string(),
            client_id,
            client_secret,
            scope,
            urlencode: false,
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(10),
        })
    }

    /// Asks for a token (blocking): the token and its lifetime.
    fn fetch(
        &self,
        tls: Option<Arc<rustls::ClientConfig>>,
    ) -> Result<(Secret, Duration), TokenError> {
        let transient = |reason: String| TokenError {
            reason,
            permanent: false,
        };
        let addr = (self.host.as_str(), self.port)
            .to_socket_addrs()
            .map_err(|e| transient(format!("cannot resolve {}: {e}", self.host)))?
            .next()
            .ok_or_else(|| transient(format!("{} resolves to no address", self.host)))?;
        let tcp = TcpStream::connect_timeout(&addr, self.connect_timeout)
            .map_err(|e| transient(format!("cannot connect to {}: {e}", self.url)))?;
        tcp.set_read_timeout(Some(self.read_timeout)).ok();
        tcp.set_write_timeout(Some(self.read_timeout)).ok();
        let request = self.request();
        let answer = if self.https {
            let config = tls.unwrap_or_else(public_roots);
            let name =
                rustls::pki_types::ServerName::try_from(self.host.clone()).map_err(|_| {
                    transient(format!("'{}' is not a valid TLS server name", self.host))
                })?;
            let conn = rustls::ClientConnection::new(config, name)
                .map_err(|e| transient(format!("TLS to {}: {e}", self.url)))?;
            let mut stream = rustls::StreamOwned::new(conn, tcp);
            exchange(&mut stream, &request)
        } else {
            let mut tcp = tcp;
            exchange(&mut tcp, &request)
        }
        .map_err(|e| transient(format!("talking to {}: {e}", self.url)))?;
        parse_answer(&answer, &self.url)
    }

    fn request(&self) -> Vec<u8> {
        let enc = |s: &str| {
            if self.urlencode {
                form_encode(s)
            } else {
                s.to_string()
            }
        };
        let credentials = B64.encode(format!(
            "{}:{}",
            enc(&self.client_id),
            enc(self.client_secret.expose())
        ));
        let mut body = "grant_type=client_credentials".to_string();
        if let Some(scope) = &self.scope {
            body.push_str(&format!("&scope={}", form_encode(scope)));
        }
        format!(
            "POST {} HTTP/1.1\r\nHost: {}:{}\r\nAuthorization: Basic {credentials}\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nAccept: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.path,
            self.host,
            self.port,
            body.len()
        )
        .into_bytes()
    }
}

/// One cluster's tokens, shared by its connections.
#[derive(Debug)]
pub struct TokenCache {
    pub endpoint: TokenEndpoint,
    current: Mutex<Option<(Secret, Instant)>>,
}

impl TokenCache {
    pub fn new(endpoint: TokenEndpoint) -> TokenCache {
        TokenCache {
            endpoint,
            current: Mutex::new(None),
        }
    }

    /// A token that has at least a fifth of its life left, fetched when
    /// there is none.
    pub async fn token(
        self: &Arc<Self>,
        tls: Option<Arc<rustls::ClientConfig>>,
    ) -> Result<Secret, TokenError> {
        if let Some((token, renew_at)) = self
            .current
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
        {
            if Instant::now() < renew_at {
                return Ok(token);
            }
        }
        let (tx, rx) = tokio::sync::oneshot::channel();
        let me = self.clone();
        std::thread::Builder::new()
            .name("oauth-token".into())
            .spawn(move || {
                let _ = tx.send(me.endpoint.fetch(tls));
            })
            .map_err(|e| TokenError {
                reason: format!("cannot start a thread to fetch a token: {e}"),
                permanent: false,
            })?;
        let (token, lifetime) = rx.await.map_err(|_| TokenError {
            reason: "the token fetch ended without an answer".into(),
            permanent: false,
        })??;
        let renew_at = Instant::now() + lifetime * 4 / 5;
        *self.current.lock().unwrap_or_else(|p| p.into_inner()) = Some((token.clone(), renew_at));
        tracing::debug!(endpoint = %self.endpoint.url, lifetime_s = lifetime.as_secs(), "OAuth token fetched");
        Ok(token)
    }
}

fn public_roots() -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    Arc::new(
        rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("the default versions fit the default provider")
        .with_root_certificates(roots)
        .with_no_client_auth(),
    )
}

fn exchange(stream: &mut (impl Read + Write), request: &[u8]) -> std::io::Result<Vec<u8>> {
    stream.write_all(request)?;
    stream.flush()?;
    let mut answer = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => {
                answer.extend_from_slice(&chunk[..n]);
                if answer.len() > MAX_ANSWER {
                    return Err(std::io::Error::other("the answer is larger than 1 MiB"));
                }
            }
            // A TLS peer that closes without close_notify: what came is kept.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(e),
        }
    }
    Ok(answer)
}

/// The token and its lifetime from an HTTP answer.
fn parse_answer(answer: &[u8], url: &str) -> Result<(Secret, Duration), TokenError> {
    let transient = |reason: String| TokenError {
        reason,
        permanent: false,
    };
    let split = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| transient(format!("{url} sent no complete HTTP answer")))?;
    let head = String::from_utf8_lossy(&answer[..split]);
    let mut body = answer[split + 4..].to_vec();
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| transient(format!("{url} sent no HTTP status")))?;
    if head.lines().any(|l| {
        l.to_ascii_lowercase().starts_with("transfer-encoding:")
            && l.to_ascii_lowercase().contains("chunked")
    }) {
        body = dechunk(&body)
            .ok_or_else(|| transient(format!("{url} sent a malformed chunked body")))?;
    }
    let text = String::from_utf8_lossy(&body);
    if status != 200 {
        let excerpt: String = text.chars().take(300).collect();
        return Err(TokenError {
            reason: format!("the token endpoint {url} answered HTTP {status}: {excerpt}"),
            permanent: (400..500).contains(&status) && status != 408 && status != 429,
        });
    }
    let json: serde_json::Value = serde_json::from_slice(&body).map_err(|e| {
        transient(format!(
            "{url} answered with something that is not JSON: {e}"
        ))
    })?;
    let token = json
        .get("access_token")
        .and_then(|v| v.as_str())
        .filter(|t| !t.is_empty())
        .ok_or_else(|| transient(format!("{url} answered without an access_token")))?;
    let lifetime = json
        .get("expires_in")
        .and_then(|v| {
            v.as_u64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        })
        .unwrap_or(3600)
        .max(1);
    Ok((Secret::new(token), Duration::from_secs(lifetime)))
}

fn dechunk(mut body: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = body.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&body[..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        body = &body[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(body.get(..size)?);
        body = body.get(size + 2..)?;
    }
}

/// `application/x-www-form-urlencoded` encoding of one value.
fn form_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let e = TokenEndpoint::new(
            "https://idp.example.com/oauth2/token",
            "c".into(),
            Secret::new("s"),
            None,
        )
        .unwrap();
        assert_eq!(
            (e.host.as_str(), e.port, e.path.as_str(), e.https),
            ("idp.example.com", 443, "/oauth2/token", true)
        );
        let e = TokenEndpoint::new("http://127.0.0.1:8080", "c".into(), Secret::new("s"), None)
            .unwrap();
        assert_eq!(
            (e.host.as_str(), e.port, e.path.as_str()),
            ("127.0.0.1", 8080, "/")
        );
        assert!(TokenEndpoint::new("ftp://x/y", "c".into(), Secret::new("s"), None).is_err());
    }

    #[test]
    fn answers() {
        let ok = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{\"access_token\":\"abc\",\"expires_in\":60}";
        let (t, l) = parse_answer(ok, "u").unwrap();
        assert_eq!((t.expose(), l), ("abc", Duration::from_secs(60)));
        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6\r\n{\"acce\r\n15\r\nss_token\":\"xyz\"}     \r\n0\r\n\r\n";
        assert_eq!(parse_answer(chunked, "u").unwrap().0.expose(), "xyz");
        let refused = b"HTTP/1.1 401 Unauthorized\r\n\r\n{\"error\":\"invalid_client\"}";
        let e = parse_answer(refused, "u").unwrap_err();
        assert!(e.permanent && e.reason.contains("401"), "{e:?}");
        let down = b"HTTP/1.1 503 Unavailable\r\n\r\n";
        assert!(!parse_answer(down, "u").unwrap_err().permanent);
        assert!(parse_answer(b"garbage", "u").is_err());
    }

    #[test]
    fn request_carries_basic_credentials() {
        let mut e = TokenEndpoint::new(
            "http://h:1/t",
            "id".into(),
            Secret::new("p w"),
            Some("a b".into()),
        )
        .unwrap();
        let r = String::from_utf8(e.request()).unwrap();
        assert!(
            r.contains(&format!("Basic {}", B64.encode("id:p w"))),
            "{r}"
        );
        assert!(
            r.ends_with("grant_type=client_credentials&scope=a+b"),
            "{r}"
        );
        e.urlencode = true;
        let r = String::from_utf8(e.request()).unwrap();
        assert!(
            r.contains(&format!("Basic {}", B64.encode("id:p+w"))),
            "{r}"
        );
    }
}
