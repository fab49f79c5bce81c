//! One connection to one broker: requests are written in order and may be
//! pipelined; Kafka answers in the same order, so responses are matched to
//! the queue of waiting requests by correlation id.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use kmirror_proto::api::{Api, BrokerVersions};
use kmirror_proto::control;
use kmirror_proto::control::api_versions::ApiVersionsRequest;
use kmirror_proto::control::sasl::{SaslAuthenticateRequest, SaslHandshakeRequest};
use kmirror_proto::control::ControlRequest;
use kmirror_proto::error_code::ErrorCode;
use kmirror_proto::external::Frame;
use kmirror_proto::header::{peek_correlation_id, split_response};
use kmirror_proto::ProtoError;
use tokio::sync::oneshot;

use crate::client::error::ClientError;
use crate::client::fetch_stream::{self, Pipes, SpliceAsk, StreamError, StreamedFetch};
use crate::net::tls::{tls_error, TlsStream};
use crate::net::{buffers, resolve, socket, Backend, SocketTuning, Stream, Tcp};
use crate::security::{tls as tls_settings, Security};

type Reply = Result<Response, ClientError>;

/// A response as the connection read it.
pub enum Response {
    /// The body after the response header, in memory.
    Body(Bytes),
    /// A Fetch response read on the splice path.
    Fetch(Box<StreamedFetch>),
}

struct Pending {
    correlation_id: i32,
    api: Api,
    version: i16,
    /// The largest response frame accepted for this request.
    max_response: usize,
    /// A Fetch whose response is read on the splice path.
    splice: Option<SpliceAsk>,
    reply: oneshot::Sender<Reply>,
}

struct Inner {
    cluster: String,
    addr: String,
    client_id: String,
    stream: Stream,
    write_lock: tokio::sync::Mutex<()>,
    pending: RefCell<VecDeque<Pending>>,
    next_correlation: Cell<i32>,
    closed: RefCell<Option<String>>,
    versions: RefCell<BrokerVersions>,
    request_timeout: Duration,
    security: Arc<Security>,
    /// When the broker's SASL session (KIP-368) should be renewed.
    reauth_at: Cell<Option<Instant>>,
    /// Whether the connection runs TLS.
    tls: bool,
    /// A TLS failure that will happen again on every attempt (a refused
    /// certificate): connecting reports it as an authentication error.
    tls_refused: RefCell<Option<String>>,
    /// The splice path's pipes on this connection.
    pipes: RefCell<Pipes>,
}

/// A connection handle; clones share the connection.
#[derive(Clone)]
pub struct Conn {
    inner: Rc<Inner>,
}

/// A request written and not yet answered.
pub struct InFlight {
    rx: oneshot::Receiver<Reply>,
    conn: Conn,
    api: Api,
}

impl Conn {
    /// Connects, starts the response reader and negotiates API versions.
    pub async fn connect(
        cluster: &str,
        addr: &str,
        backend: Backend,
        tuning: &SocketTuning,
        security: &Arc<Security>,
        client_id: &str,
        request_timeout: Duration,
    ) -> Result<Conn, ClientError> {
        let connect_err = |reason: String| ClientError::Connect {
            cluster: cluster.to_string(),
            addr: addr.to_string(),
            reason,
        };
        // Off this thread: a slow resolver must not stall the worker.
        let sockaddrs = resolve::resolve(addr, tuning.connect_timeout_or_default())
            .await
            .map_err(|e| connect_err(format!("cannot resolve: {e}")))?;
        if sockaddrs.is_empty() {
            return Err(connect_err("name resolves to no address".into()));
        }
        // Each address the name resolves to, in order (`localhost` may be
        // ::1 first and 127.0.0.1 second).
        let mut tcp = Err(connect_err(String::new()));
        for sockaddr in sockaddrs {
            tcp = socket::connect(sockaddr, tuning)
                .await
                .map_err(|e| connect_err(e.to_string()));
            if tcp.is_ok() {
                break;
            }
        }
        let tcp = tcp?;
        let tcp = Tcp::from_tokio(tcp, backend).map_err(|e| connect_err(e.to_string()))?;
        let stream = match &security.tls {
            None => Stream::Plain(tcp),
            Some(tls) => {
                let host = host_of(addr);
                let handshake = TlsStream::connect(tcp, tls.client_config(cluster), host);
                match tokio::time::timeout(tuning.connect_timeout.max(request_timeout), handshake)
                    .await
                {
                    Ok(Ok(s)) => Stream::Tls(Box::new(s)),
                    Ok(Err(e)) => {
                        return Err(match tls_error(&e) {
                            Some(t) if tls_settings::is_permanent(t) => ClientError::Auth {
                                cluster: cluster.to_string(),
                                addr: addr.to_string(),
                                reason: tls.describe(t),
                            },
                            Some(t) => connect_err(tls.describe(t)),
                            None => connect_err(format!("TLS handshake failed: {e}")),
                        })
                    }
                    Err(_) => {
                        return Err(connect_err(
                            "the TLS handshake did not finish in time".into(),
                        ))
                    }
                }
            }
        };
        let conn = Conn {
            inner: Rc::new(Inner {
                cluster: cluster.to_string(),
                addr: addr.to_string(),
                client_id: client_id.to_string(),
                stream,
                write_lock: tokio::sync::Mutex::new(()),
                pending: RefCell::new(VecDeque::new()),
                next_correlation: Cell::new(1),
                closed: RefCell::new(None),
                versions: RefCell::new(BrokerVersions::default()),
                request_timeout,
                security: security.clone(),
                reauth_at: Cell::new(None),
                tls_refused: RefCell::new(None),
                tls: security.tls.is_some(),
                pipes: RefCell::new(Pipes::default()),
            }),
        };
        tokio::task::spawn_local(read_loop(conn.inner.clone()));
        let ready = async {
            conn.negotiate().await?;
            if conn.inner.security.sasl.is_some() {
                let _guard = conn.inner.write_lock.lock().await;
                conn.authenticate_locked().await?;
            }
            Ok::<(), ClientError>(())
        };
        if let Err(e) = ready.await {
            // TLS 1.3 reports a refused client certificate only after the
            // handshake, on the first read.
            if let Some(reason) = conn.inner.tls_refused.borrow().clone() {
                return Err(ClientError::Auth {
                    cluster: cluster.to_string(),
                    addr: addr.to_string(),
                    reason,
                });
            }
            conn.close("connection set-up failed");
            return Err(e);
        }
        Ok(conn)
    }

    pub fn addr(&self) -> &str {
        &self.inner.addr
    }

    pub fn cluster(&self) -> &str {
        &self.inner.cluster
    }

    pub fn is_closed(&self) -> bool {
        self.inner.closed.borrow().is_some()
    }

    pub fn in_flight(&self) -> usize {
        self.inner.pending.borrow().len()
    }

    /// Whether responses can be read, and requests written, on the splice
    /// path: a plaintext connection on the epoll backend.
    pub fn can_splice(&self) -> bool {
        self.inner.stream.plain_epoll().is_some()
    }

    /// The version to use for `api`, or an error naming both ranges.
    pub fn version(&self, api: Api) -> Result<i16, ClientError> {
        let v = self.inner.versions.borrow();
        v.pick(api).ok_or_else(|| ClientError::UnsupportedVersion {
            cluster: self.inner.cluster.clone(),
            addr: self.inner.addr.clone(),
            api: api.name(),
            ours: format!("{:?}", api.ours()),
            theirs: v
                .advertised(api)
                .map(|r| format!("{r:?}"))
                .unwrap_or_else(|| "none".into()),
        })
    }

    async fn negotiate(&self) -> Result<(), ClientError> {
        let req = ApiVersionsRequest::new("kmirror", env!("CARGO_PKG_VERSION"));
        let mut version = 3;
        loop {
            let frame = |corr| {
                control::encode_request(&req, version, corr, &self.inner.client_id).map(|b| vec![b])
            };
            let body = self
                .send(Api::ApiVersions, version, frame)
                .await?
                .wait()
                .await?;
            let resp =
                control::decode_response::<ApiVersionsRequest>(body, version).map_err(|e| {
                    ClientError::protocol(&self.inner.cluster, &self.inner.addr, "ApiVersions", e)
                })?;
            let code = resp.error;
            if code == ErrorCode::UNSUPPORTED_VERSION && version > 0 {
                version = 0;
                continue;
            }
            if !code.is_ok() {
                return Err(ClientError::Kafka {
                    cluster: self.inner.cluster.clone(),
                    what: format!("ApiVersions from {}", self.inner.addr),
                    code,
                    message: None,
                });
            }
            let ranges: HashMap<i16, (i16, i16)> = resp
                .api_keys
                .iter()
                .map(|k| (k.api_key, (k.min_version, k.max_version)))
                .collect();
            *self.inner.versions.borrow_mut() = BrokerVersions::new(ranges);
            return Ok(());
        }
    }

    /// Writes one request and returns without waiting for its response.
    /// `frame` builds the whole frame for the correlation id it is given.
    /// The response may be at most `api`'s [`Api::max_response_bytes`].
    pub async fn send<F: Into<Frame>>(
        &self,
        api: Api,
        version: i16,
        frame: impl FnOnce(i32) -> Result<F, ProtoError>,
    ) -> Result<InFlight, ClientError> {
        self.send_limited(api, version, api.max_response_bytes(), None, frame)
            .await
    }

    /// [`Conn::send`] with the largest response frame accepted given, and
    /// for a Fetch on a connection that [can splice](Conn::can_splice),
    /// what its response's splice path should do.
    pub async fn send_limited<F: Into<Frame>>(
        &self,
        api: Api,
        version: i16,
        max_response: usize,
        splice: Option<SpliceAsk>,
        frame: impl FnOnce(i32) -> Result<F, ProtoError>,
    ) -> Result<InFlight, ClientError> {
        let inner = &self.inner;
        let _guard =
            match tokio::time::timeout(inner.request_timeout, inner.write_lock.lock()).await {
                Ok(g) => g,
                Err(_) => {
                    close(inner, "a request write stalled".into());
                    return Err(self.disconnected("a request write stalled".into()));
                }
            };
        if inner.reauth_at.get().is_some_and(|at| Instant::now() >= at) {
            if let Err(e) = self.authenticate_locked().await {
                tracing::warn!(cluster = %inner.cluster, broker = %inner.addr, "SASL re-authentication failed; reconnecting: {e}");
                close(inner, format!("re-authentication failed: {e}"));
                return Err(e);
            }
        }
        let splice = splice.filter(|_| api == Api::Fetch && self.can_splice());
        self.write_locked(api, version, max_response, splice, frame)
            .await
    }

    /// Writes one request; the caller holds the write lock.
    async fn write_locked<F: Into<Frame>>(
        &self,
        api: Api,
        version: i16,
        max_response: usize,
        splice: Option<SpliceAsk>,
        frame: impl FnOnce(i32) -> Result<F, ProtoError>,
    ) -> Result<InFlight, ClientError> {
        let inner = &self.inner;
        if let Some(reason) = inner.closed.borrow().clone() {
            return Err(self.disconnected(reason));
        }
        let correlation_id = inner.next_correlation.get();
        inner
            .next_correlation
            .set(correlation_id.wrapping_add(1).max(1));
        let frame: Frame = frame(correlation_id)
            .map_err(|e| ClientError::Other {
                cluster: inner.cluster.clone(),
                reason: format!("cannot encode {} request: {e}", api.name()),
            })?
            .into();
        let (tx, rx) = oneshot::channel();
        inner.pending.borrow_mut().push_back(Pending {
            correlation_id,
            api,
            version,
            max_response,
            splice,
            reply: tx,
        });
        match tokio::time::timeout(inner.request_timeout, inner.stream.write_frame(frame)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                close(inner, format!("write failed: {e}"));
                return Err(self.disconnected(e.to_string()));
            }
            Err(_) => {
                tracing::warn!(cluster = %inner.cluster, broker = %inner.addr, api = api.name(), "request write did not complete in time; reconnecting");
                close(inner, "write timed out".into());
                return Err(self.disconnected("write timed out".into()));
            }
        }
        Ok(InFlight {
            rx,
            conn: self.clone(),
            api,
        })
    }

    /// Sends a control-plane request at the negotiated version and waits for
    /// its decoded response.
    pub async fn call<R: ControlRequest>(&self, req: &R) -> Result<R::Response, ClientError> {
        let api = R::API;
        let version = self.version(api)?;
        let client_id = self.inner.client_id.clone();
        let body = self
            .send(api, version, |corr| {
                control::encode_request(req, version, corr, &client_id).map(|b| vec![b])
            })
            .await?
            .wait()
            .await?;
        control::decode_response::<R>(body, version).map_err(|e| {
            ClientError::protocol(&self.inner.cluster, &self.inner.addr, api.name(), e)
        })
    }

    /// A control request on a connection whose write lock the caller holds.
    async fn call_locked<R: ControlRequest>(&self, req: &R) -> Result<R::Response, ClientError> {
        let api = R::API;
        let version = self.version(api)?;
        let client_id = self.inner.client_id.clone();
        let body = self
            .write_locked(api, version, api.max_response_bytes(), None, |corr| {
                control::encode_request(req, version, corr, &client_id).map(|b| vec![b])
            })
            .await?
            .wait()
            .await?;
        control::decode_response::<R>(body, version).map_err(|e| {
            ClientError::protocol(&self.inner.cluster, &self.inner.addr, api.name(), e)
        })
    }

    /// Authenticates (or, on a live connection, re-authenticates: KIP-368)
    /// with SaslHandshake and SaslAuthenticate. Requests already in flight
    /// are answered first; no other request is written meanwhile, since
    /// the caller holds the write lock.
    async fn authenticate_locked(&self) -> Result<(), ClientError> {
        let inner = &self.inner;
        let Some(sasl) = &inner.security.sasl else {
            return Ok(());
        };
        let auth_err = |reason: String| ClientError::Auth {
            cluster: inner.cluster.clone(),
            addr: inner.addr.clone(),
            reason,
        };
        let mechanism = sasl.mechanism.name();
        let hs = self
            .call_locked(&SaslHandshakeRequest {
                mechanism: mechanism.to_string(),
            })
            .await?;
        if hs.error == ErrorCode::UNSUPPORTED_SASL_MECHANISM {
            return Err(auth_err(format!(
                "the broker's listener does not offer SASL mechanism {mechanism} (sasl.mechanism); it offers {}",
                if hs.mechanisms.is_empty() { "none".to_string() } else { hs.mechanisms.join(", ") }
            )));
        }
        if !hs.error.is_ok() {
            return Err(auth_err(format!(
                "SaslHandshake for {mechanism} failed: {}",
                hs.error
            )));
        }
        let tls = inner
            .security
            .tls
            .as_ref()
            .map(|t| t.client_config(&inner.cluster));
        let mut exchange = sasl.start(tls).await.map_err(|e| {
            if e.permanent {
                auth_err(e.reason)
            } else {
                ClientError::Connect {
                    cluster: inner.cluster.clone(),
                    addr: inner.addr.clone(),
                    reason: format!("cannot get an OAuth token: {}", e.reason),
                }
            }
        })?;
        let mut token = exchange.first();
        loop {
            let resp = self
                .call_locked(&SaslAuthenticateRequest { auth_bytes: token })
                .await?;
            if !resp.error.is_ok() {
                // Brokers word these for operators and put no secret in them.
                return Err(auth_err(format!(
                    "{mechanism} authentication failed: {}{}",
                    resp.error,
                    resp.error_message
                        .map(|m| format!(": {m}"))
                        .unwrap_or_default()
                )));
            }
            match exchange.next(&resp.auth_bytes).map_err(auth_err)? {
                Some(next) => token = next,
                None => {
                    let renewed = inner.reauth_at.get().is_some();
                    inner
                        .reauth_at
                        .set(reauth_deadline(resp.session_lifetime_ms));
                    tracing::debug!(
                        cluster = %inner.cluster,
                        broker = %inner.addr,
                        mechanism,
                        session_lifetime_ms = resp.session_lifetime_ms,
                        "{}",
                        if renewed { "re-authenticated" } else { "authenticated" }
                    );
                    return Ok(());
                }
            }
        }
    }

    fn disconnected(&self, reason: String) -> ClientError {
        ClientError::Disconnected {
            cluster: self.inner.cluster.clone(),
            addr: self.inner.addr.clone(),
            reason,
        }
    }

    /// Closes the connection; waiting requests fail.
    pub fn close(&self, reason: &str) {
        close(&self.inner, reason.to_string());
    }
}

impl InFlight {
    /// Waits for the response body (after its header).
    pub async fn wait(self) -> Result<Bytes, ClientError> {
        let conn = self.conn.clone();
        match self.wait_response().await? {
            Response::Body(b) => Ok(b),
            Response::Fetch(_) => Err(ClientError::Protocol {
                cluster: conn.inner.cluster.clone(),
                addr: conn.inner.addr.clone(),
                api: "Fetch",
                reason: "a streamed Fetch response where a body was expected".into(),
            }),
        }
    }

    /// Waits for the response as the connection read it.
    pub async fn wait_response(self) -> Result<Response, ClientError> {
        let timeout = self.conn.inner.request_timeout;
        match tokio::time::timeout(timeout, self.rx).await {
            Ok(Ok(reply)) => reply,
            Ok(Err(_)) => Err(self.conn.disconnected("connection closed".into())),
            Err(_) => {
                // Responses are ordered: a lost one stalls every later one.
                self.conn.close("request timed out");
                Err(ClientError::Timeout {
                    cluster: self.conn.inner.cluster.clone(),
                    addr: self.conn.inner.addr.clone(),
                    api: self.api.name(),
                    ms: timeout.as_millis() as u64,
                })
            }
        }
    }
}

fn close(inner: &Inner, reason: String) {
    if inner.closed.borrow().is_some() {
        return;
    }
    *inner.closed.borrow_mut() = Some(reason.clone());
    inner.stream.shutdown();
    let pending: Vec<Pending> = inner.pending.borrow_mut().drain(..).collect();
    for p in pending {
        let _ = p.reply.send(Err(ClientError::Disconnected {
            cluster: inner.cluster.clone(),
            addr: inner.addr.clone(),
            reason: reason.clone(),
        }));
    }
}

/// Reads response frames whole: first the 4-byte size, checked against
/// what the request waiting for it may receive, then exactly that many
/// bytes into a buffer that grows as they arrive (`net::buffers`), so a
/// frame never straddles two buffers and an announced size alone reserves
/// nothing.
async fn read_loop(inner: Rc<Inner>) {
    let mut head: Vec<u8> = Vec::with_capacity(4);
    loop {
        if inner.closed.borrow().is_some() {
            return;
        }
        head.clear();
        while head.len() < 4 {
            let want = 4 - head.len();
            let (res, b) = inner.stream.read_into(head, want).await;
            head = b;
            note_tls_refusal(&inner, &res);
            if let Err(reason) = read_result(res) {
                close(&inner, reason);
                return;
            }
        }
        let size = i32::from_be_bytes([head[0], head[1], head[2], head[3]]);
        // A defect closes the connection; the requests waiting on it fail
        // with it, and whoever sent them reports it once, with the broker.
        if let Err(defect) = check_frame_size(&inner, size) {
            close(&inner, defect);
            return;
        }
        let splice = inner.pending.borrow().front().and_then(|p| p.splice);
        if let (Some(ask), Some(sock)) = (splice, inner.stream.plain_epoll()) {
            if let Err(defect) = read_streamed(&inner, sock, size as usize, ask).await {
                close(&inner, defect);
                return;
            }
            continue;
        }
        let mut frame = buffers::FrameBuf::new(size as usize);
        while !frame.is_full() {
            let want = frame.missing();
            let (res, b) = inner.stream.read_into(frame.take_for_read(), want).await;
            frame.put_back(b);
            if let Err(reason) = read_result(res) {
                close(&inner, reason);
                return;
            }
        }
        if let Err(defect) = dispatch(&inner, frame.freeze()) {
            close(&inner, defect);
            return;
        }
    }
}

/// Reads a Fetch response of `size` bytes on the splice path and hands it
/// to the request waiting for it.
async fn read_streamed(
    inner: &Inner,
    sock: &tokio::net::TcpStream,
    size: usize,
    ask: SpliceAsk,
) -> Result<(), String> {
    let mut corr = Vec::with_capacity(4);
    fetch_stream::read_exact(&inner.stream, &mut corr, 4)
        .await
        .map_err(|e| e.reason().to_string())?;
    let corr = i32::from_be_bytes([corr[0], corr[1], corr[2], corr[3]]);
    let (expected, version) = match inner.pending.borrow().front() {
        Some(p) => (p.correlation_id, p.version),
        None => return Err(format!("unexpected response with correlation id {corr}")),
    };
    if corr != expected {
        return Err(format!(
            "the broker answered with correlation id {corr} where the oldest request (Fetch) has {expected}"
        ));
    }
    let fetched =
        fetch_stream::read(&inner.stream, sock, &inner.pipes, size - 4, version, ask).await;
    let p = inner
        .pending
        .borrow_mut()
        .pop_front()
        .ok_or_else(|| format!("unexpected response with correlation id {corr}"))?;
    match fetched {
        Ok(f) => {
            let _ = p.reply.send(Ok(Response::Fetch(Box::new(f))));
            Ok(())
        }
        Err(e) => {
            let reason = e.reason().to_string();
            let _ = p.reply.send(Err(match e {
                StreamError::Closed(_) => ClientError::Disconnected {
                    cluster: inner.cluster.clone(),
                    addr: inner.addr.clone(),
                    reason: reason.clone(),
                },
                StreamError::Malformed(_) => ClientError::Protocol {
                    cluster: inner.cluster.clone(),
                    addr: inner.addr.clone(),
                    api: "Fetch",
                    reason: reason.clone(),
                },
            }));
            Err(reason)
        }
    }
}

/// Remembers a TLS failure that will repeat on every attempt.
fn note_tls_refusal(inner: &Inner, res: &std::io::Result<usize>) {
    if let Err(e) = res {
        if let (Some(t), Some(tls)) = (
            tls_error(e).filter(|t| tls_settings::is_permanent(t)),
            &inner.security.tls,
        ) {
            *inner.tls_refused.borrow_mut() = Some(tls.describe(t));
        }
    }
}

/// The host part of `host:port` (brackets of an IPv6 address removed).
fn host_of(addr: &str) -> &str {
    let host = addr.rsplit_once(':').map(|(h, _)| h).unwrap_or(addr);
    host.trim_start_matches('[').trim_end_matches(']')
}

/// When to renew a SASL session the broker grants for `lifetime_ms`:
/// at 85% of it, as Kafka's clients do (the rest absorbs a slow round
/// trip). `None` when it does not expire.
fn reauth_deadline(lifetime_ms: i64) -> Option<Instant> {
    (lifetime_ms > 0).then(|| Instant::now() + Duration::from_millis(lifetime_ms as u64 * 85 / 100))
}

/// A response size is acceptable only for a request that is waiting and
/// only up to what that request may receive.
fn check_frame_size(inner: &Inner, size: i32) -> Result<(), String> {
    let pending = inner.pending.borrow();
    let Some(p) = pending.front() else {
        return Err(format!(
            "the broker sent a response frame ({size} bytes announced) with no request waiting"
        ));
    };
    if size < 4 || size as usize > p.max_response {
        // A TLS record header (alert 0x15 or handshake 0x16, version 3.x)
        // read as a Kafka size: a TLS listener reached in plaintext.
        let b = size.to_be_bytes();
        if matches!(b[0], 0x15 | 0x16) && b[1] == 0x03 && !inner.tls {
            return Err(
                "the broker answered with TLS: this listener needs security.protocol SSL or SASL_SSL"
                    .into(),
            );
        }
        return Err(format!(
            "the broker announced a response of {size} bytes to {}; at most {} are accepted",
            p.api.name(),
            p.max_response
        ));
    }
    Ok(())
}

/// A read's outcome as the reason to close, if it ends the connection.
fn read_result(res: std::io::Result<usize>) -> Result<(), String> {
    match res {
        Ok(0) => Err("closed by the broker".into()),
        Ok(_) => Ok(()),
        Err(e) => Err(format!("read failed: {e}")),
    }
}

fn dispatch(inner: &Inner, frame: Bytes) -> Result<(), String> {
    let corr = peek_correlation_id(&frame).map_err(|e| e.to_string())?;
    let p = inner
        .pending
        .borrow_mut()
        .pop_front()
        .ok_or_else(|| format!("unexpected response with correlation id {corr}"))?;
    if p.correlation_id != corr {
        let defect = format!(
            "the broker answered with correlation id {corr} where the oldest request ({}) has {}",
            p.api.name(),
            p.correlation_id
        );
        let _ = p.reply.send(Err(ClientError::Protocol {
            cluster: inner.cluster.clone(),
            addr: inner.addr.clone(),
            api: p.api.name(),
            reason: defect.clone(),
        }));
        return Err(defect);
    }
    let reply = split_response(frame, p.api.key(), p.version)
        .map(|(_, body)| Response::Body(body))
        .map_err(|e| ClientError::Protocol {
            cluster: inner.cluster.clone(),
            addr: inner.addr.clone(),
            api: "response header",
            reason: e.to_string(),
        });
    let _ = p.reply.send(reply);
    Ok(())
}
