//! A fake Kafka broker: a one-node "cluster" on 127.0.0.1 that answers
//! every request kmirror sends, and can be scripted to answer any of them
//! badly ([`Fault`]): a malformed body, a Kafka error, a delay, a partial
//! frame, a huge size followed by silence, a trickle, a wrong correlation
//! id, or a disconnect, at a chosen request.
//!
//! It serves two purposes and must never serve a third:
//! - error-path and hostile-input tests that run in seconds without JVMs;
//! - the ceiling benchmark, which takes the brokers' own cost out of the
//!   measurement of kmirror's.
//!
//! It proves nothing about mirroring: its source side serves copies of one
//! template batch and its target side acknowledges produces without keeping
//! them. Every claim that mirroring works is tested against real Kafka.
//!
//! One thread per connection, blocking I/O, requests answered in order.
//! The control plane goes through the `kafka-protocol` codec (an
//! implementation independent of kmirror's own); Fetch answers
//! ([`fetch_serve`]) and Produce acknowledgements ([`produce_ack`]) have
//! their own framing.

pub mod batches;
pub mod faults;
mod fetch_serve;
mod produce_ack;
mod tls;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages as kp;
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use kmirror_proto::api::Api;
use kmirror_proto::header::{request_header_version, response_header_version};

use self::tls::BrokerStream;

pub use batches::{Run, Template};
pub use faults::{Fault, Rule};

/// Log end offset of an endless source: far ahead of anything a run can
/// mirror, and the same in every answer.
pub const ENDLESS: i64 = 1 << 40;

/// Error codes used in answers.
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;

/// What a fake broker plays.
pub enum Role {
    /// Serves `topic` with `partitions` partitions, each holding copies of
    /// `template` up to offset `log_end` (use [`ENDLESS`] for a stream that
    /// never ends). Fetches at the log end wait like a long poll.
    Source {
        topic: String,
        partitions: i32,
        template: Template,
        log_end: i64,
    },
    /// Acknowledges every produce; topics exist once created.
    Target,
}

/// Counters the target keeps of what it acknowledged.
#[derive(Default)]
pub struct Acked {
    pub bytes: AtomicU64,
    pub batches: AtomicU64,
    pub requests: AtomicU64,
}

/// Called on each connection thread as it starts (the benchmark pins the
/// thread and records its id).
pub type ThreadHook = Arc<dyn Fn() + Send + Sync>;

struct Shared {
    name: String,
    addr: SocketAddr,
    /// TLS on every connection, when set; Metadata then names the broker
    /// `localhost` (the name the harness's certificates carry).
    tls: Option<Arc<rustls::ServerConfig>>,
    role: Role,
    acked: Acked,
    topics: Mutex<HashMap<String, i32>>,
    /// Requests seen per API key, over all connections.
    seen: Mutex<HashMap<i16, u64>>,
    connections: AtomicU64,
    rules: Mutex<Vec<Rule>>,
    /// Highest versions advertised, where lower than kmirror's.
    max_versions: Mutex<HashMap<i16, i16>>,
    stop: AtomicBool,
    on_thread: Option<ThreadHook>,
}

/// A running fake broker; dropping it stops the listener.
pub struct FakeBroker {
    shared: Arc<Shared>,
}

impl FakeBroker {
    /// Listens on 127.0.0.1 (a free port) and serves each connection on its
    /// own thread.
    pub fn start(name: &str, role: Role) -> std::io::Result<FakeBroker> {
        FakeBroker::start_with(name, role, None)
    }

    /// [`FakeBroker::start`] with a hook run on every connection thread.
    pub fn start_with(
        name: &str,
        role: Role,
        on_thread: Option<ThreadHook>,
    ) -> std::io::Result<FakeBroker> {
        FakeBroker::start_inner(name, role, on_thread, None)
    }

    /// [`FakeBroker::start_with`] serving TLS with `tls` on every
    /// connection. Its address is then `localhost:<port>`.
    pub fn start_tls(
        name: &str,
        role: Role,
        on_thread: Option<ThreadHook>,
        tls: Arc<rustls::ServerConfig>,
    ) -> std::io::Result<FakeBroker> {
        FakeBroker::start_inner(name, role, on_thread, Some(tls))
    }

    fn start_inner(
        name: &str,
        role: Role,
        on_thread: Option<ThreadHook>,
        tls: Option<Arc<rustls::ServerConfig>>,
    ) -> std::io::Result<FakeBroker> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let topics = match &role {
            Role::Source {
                topic, partitions, ..
            } => HashMap::from([(topic.clone(), *partitions)]),
            Role::Target => HashMap::new(),
        };
        let shared = Arc::new(Shared {
            name: name.to_string(),
            addr,
            tls,
            role,
            acked: Acked::default(),
            topics: Mutex::new(topics),
            seen: Mutex::new(HashMap::new()),
            connections: AtomicU64::new(0),
            rules: Mutex::new(Vec::new()),
            max_versions: Mutex::new(HashMap::new()),
            stop: AtomicBool::new(false),
            on_thread,
        });
        let s = shared.clone();
        std::thread::Builder::new()
            .name(format!("{name}-accept"))
            .spawn(move || accept_loop(s, listener))?;
        Ok(FakeBroker { shared })
    }

    pub fn bootstrap(&self) -> String {
        match self.shared.tls {
            None => self.shared.addr.to_string(),
            Some(_) => format!("localhost:{}", self.shared.addr.port()),
        }
    }

    pub fn acked(&self) -> &Acked {
        &self.shared.acked
    }

    /// Adds a fault rule; rules are tried in the order they were added.
    pub fn inject(&self, rule: Rule) {
        lock(&self.shared.rules).push(rule);
    }

    /// Makes `topic` exist with `partitions` partitions (a target topic
    /// created earlier, say).
    pub fn add_topic(&self, topic: &str, partitions: i32) {
        lock(&self.shared.topics).insert(topic.to_string(), partitions);
    }

    /// Advertises at most version `max` of `api` (to reach the classic,
    /// non-flexible encodings kmirror also reads).
    pub fn limit_version(&self, api: Api, max: i16) {
        lock(&self.shared.max_versions).insert(api.key(), max);
    }

    /// Removes every fault rule: from now on every answer is good.
    pub fn heal(&self) {
        lock(&self.shared.rules).clear();
    }

    /// Requests of `api` answered or faulted so far.
    pub fn requests(&self, api: Api) -> u64 {
        lock(&self.shared.seen)
            .get(&api.key())
            .copied()
            .unwrap_or(0)
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.shared.connections.load(Ordering::SeqCst)
    }
}

impl Drop for FakeBroker {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so that it sees the flag.
        let _ = TcpStream::connect(self.shared.addr);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn accept_loop(shared: Arc<Shared>, listener: TcpListener) {
    for conn in listener.incoming() {
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(stream) = conn else { continue };
        shared.connections.fetch_add(1, Ordering::SeqCst);
        let s = shared.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("{}-conn", shared.name))
            .spawn(move || {
                if let Some(hook) = &s.on_thread {
                    hook();
                }
                if let Err(e) = serve(&s, stream) {
                    if !s.stop.load(Ordering::SeqCst) {
                        eprintln!("fake broker {}: connection closed: {e}", s.name);
                    }
                }
            });
        if let Err(e) = spawned {
            eprintln!("fake broker {}: cannot start a thread: {e}", shared.name);
        }
    }
}

/// Per-connection state: the receive buffer and the source's batch run.
struct Connection {
    stream: BrokerStream,
    frame: Vec<u8>,
    run: Option<Run>,
    next_offsets: HashMap<(String, i32), i64>,
    crc_checked: bool,
    /// The connection's fetch session (a source's).
    session: fetch_serve::Session,
}

fn serve(shared: &Shared, stream: TcpStream) -> Result<(), String> {
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    let stream = match &shared.tls {
        None => BrokerStream::Plain(stream),
        Some(config) => {
            let conn = rustls::ServerConnection::new(config.clone()).map_err(|e| e.to_string())?;
            BrokerStream::Tls(Box::new(rustls::StreamOwned::new(conn, stream)))
        }
    };
    let run = match &shared.role {
        Role::Source { template, .. } => Some(Run::new(template)),
        Role::Target => None,
    };
    let mut c = Connection {
        stream,
        frame: Vec::new(),
        run,
        next_offsets: HashMap::new(),
        crc_checked: false,
        session: fetch_serve::Session::default(),
    };
    loop {
        let mut size = [0u8; 4];
        match c.stream.read_exact(&mut size) {
            Ok(()) => {}
            Err(e) if client_left(&e) => return Ok(()),
            Err(e) => return Err(e.to_string()),
        }
        let size = i32::from_be_bytes(size);
        if !(8..=(256 << 20)).contains(&size) {
            return Err(format!("request frame of {size} bytes"));
        }
        c.frame.resize(size as usize, 0);
        match c.stream.read_exact(&mut c.frame) {
            Ok(()) => {}
            Err(e) if client_left(&e) => return Ok(()),
            Err(e) => return Err(e.to_string()),
        }
        let head = RequestHead::parse(&c.frame)?;
        let nth = {
            let mut seen = lock(&shared.seen);
            let n = seen.entry(head.api_key).or_insert(0);
            *n += 1;
            *n
        };
        let fault = faults::pick(&mut lock(&shared.rules), head.api_key, nth);
        match fault {
            None => answer(shared, &mut c, head, None)?,
            Some(f) => {
                if !faults::act(shared, &mut c, head, f)? {
                    return Ok(());
                }
            }
        }
    }
}

/// kmirror closing its end (as it does when stopped) is not an error.
fn client_left(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::{BrokenPipe, ConnectionReset, UnexpectedEof};
    matches!(e.kind(), UnexpectedEof | ConnectionReset | BrokenPipe)
}

/// The request header fields a broker needs, and where the body starts.
#[derive(Debug, Clone, Copy)]
pub struct RequestHead {
    pub api_key: i16,
    pub version: i16,
    pub correlation_id: i32,
    pub body_start: usize,
}

impl RequestHead {
    fn parse(frame: &[u8]) -> Result<RequestHead, String> {
        let mut r = Cursor::new(frame);
        let api_key = r.i16()?;
        let version = r.i16()?;
        let correlation_id = r.i32()?;
        let client_id_len = r.i16()?;
        if client_id_len > 0 {
            r.skip(client_id_len as usize)?;
        }
        if request_header_version(api_key, version) >= 2 {
            r.skip_tagged_fields()?;
        }
        Ok(RequestHead {
            api_key,
            version,
            correlation_id,
            body_start: r.pos,
        })
    }
}

/// Builds the whole answer frame to `head`, with `error` (a Kafka error
/// code) in its main error field when given. `None` for requests that get
/// no answer (acks = 0), or whose answer was already written (Fetch).
fn answer_frame(
    shared: &Shared,
    c: &mut Connection,
    head: RequestHead,
    error: Option<i16>,
) -> Result<Option<Vec<u8>>, String> {
    let body = &c.frame[head.body_start..];
    let v = head.version;
    let e = error.unwrap_or(0);
    let out = match head.api_key {
        0 => {
            let acked = produce_ack::answer(
                body,
                v,
                &mut c.next_offsets,
                &mut c.crc_checked,
                &shared.acked,
                error,
            )?;
            // None for acks = 0.
            acked.map(|resp| frame_response(head, |b| b.put_slice(&resp)))
        }
        1 => {
            let req: kp::FetchRequest = decode(body, v, "Fetch")?;
            let (Some(served), Some(run)) = (served(shared, error), c.run.as_mut()) else {
                return Err("the fake target was sent a Fetch".into());
            };
            Some(served.frame(head.correlation_id, &req, run, &mut c.session))
        }
        2 => Some(control(
            head,
            list_offsets(decode(body, v, "ListOffsets")?, shared, e),
        )?),
        3 => Some(control(
            head,
            metadata(shared, decode(body, v, "Metadata")?, e),
        )?),
        8 => Some(control(
            head,
            offset_commit(decode(body, v, "OffsetCommit")?, e),
        )?),
        9 => Some(control(
            head,
            offset_fetch(decode(body, v, "OffsetFetch")?, e),
        )?),
        10 => Some(control(
            head,
            find_coordinator(shared, decode(body, v, "FindCoordinator")?, v, e),
        )?),
        18 => Some(control(
            head,
            api_versions(
                decode(body, v, "ApiVersions")?,
                &lock(&shared.max_versions),
                e,
            ),
        )?),
        19 => Some(control(
            head,
            create_topics(shared, decode(body, v, "CreateTopics")?, e),
        )?),
        22 => Some(control(
            head,
            init_producer_id(decode(body, v, "InitProducerId")?, e),
        )?),
        24 => Some(control(
            head,
            add_partitions_to_txn(decode(body, v, "AddPartitionsToTxn")?, e),
        )?),
        25 => Some(control(
            head,
            kp::AddOffsetsToTxnResponse::default().with_error_code(e),
        )?),
        26 => Some(control(
            head,
            kp::EndTxnResponse::default().with_error_code(e),
        )?),
        28 => Some(control(
            head,
            txn_offset_commit(decode(body, v, "TxnOffsetCommit")?, e),
        )?),
        32 => Some(control(
            head,
            describe_configs(decode(body, v, "DescribeConfigs")?, e),
        )?),
        37 => Some(control(
            head,
            create_partitions(shared, decode(body, v, "CreatePartitions")?, e),
        )?),
        // A group of one: every member that joins leads it alone.
        11 => Some(control(head, join_group(decode(body, v, "JoinGroup")?, e))?),
        12 => {
            let _: kp::HeartbeatRequest = decode(body, v, "Heartbeat")?;
            Some(control(
                head,
                kp::HeartbeatResponse::default().with_error_code(e),
            )?)
        }
        13 => {
            let req: kp::LeaveGroupRequest = decode(body, v, "LeaveGroup")?;
            Some(control(
                head,
                kp::LeaveGroupResponse::default()
                    .with_error_code(e)
                    .with_members(
                        req.members
                            .iter()
                            .map(|m| {
                                kp::leave_group_response::MemberResponse::default()
                                    .with_member_id(m.member_id.clone())
                                    .with_group_instance_id(m.group_instance_id.clone())
                            })
                            .collect(),
                    ),
            )?)
        }
        14 => {
            let req: kp::SyncGroupRequest = decode(body, v, "SyncGroup")?;
            // The leader's assignment of itself.
            let mine = req
                .assignments
                .iter()
                .find(|a| a.member_id == req.member_id)
                .map(|a| a.assignment.clone())
                .unwrap_or_default();
            Some(control(
                head,
                kp::SyncGroupResponse::default()
                    .with_error_code(e)
                    .with_protocol_type(req.protocol_type.clone())
                    .with_protocol_name(req.protocol_name.clone())
                    .with_assignment(mine),
            )?)
        }
        // As a broker without an authorizer answers.
        29 => {
            let _: kp::DescribeAclsRequest = decode(body, v, "DescribeAcls")?;
            Some(control(
                head,
                kp::DescribeAclsResponse::default()
                    .with_error_code(if e == 0 { 54 } else { e })
                    .with_error_message(Some(s("No Authorizer is configured."))),
            )?)
        }
        other => {
            return Err(format!(
                "api key {other} v{v} is not answered by the fake broker"
            ))
        }
    };
    Ok(out)
}

/// Answers `head` and writes the answer (Fetch data straight from the
/// connection's batch run, without assembling the frame).
fn answer(
    shared: &Shared,
    c: &mut Connection,
    head: RequestHead,
    error: Option<i16>,
) -> Result<(), String> {
    if head.api_key == Api::Fetch.key() {
        if let (Some(served), Some(run)) = (served(shared, error), c.run.as_mut()) {
            let req: kp::FetchRequest = decode(&c.frame[head.body_start..], head.version, "Fetch")?;
            return match served.write_to(
                &mut c.stream,
                head.correlation_id,
                &req,
                run,
                &mut c.session,
            ) {
                Err(e) if !client_left(&e) => Err(e.to_string()),
                _ => Ok(()),
            };
        }
    }
    if let Some(out) = answer_frame(shared, c, head, error)? {
        write(c, &out)?;
    }
    Ok(())
}

/// What a source serves; `None` for a target.
fn served(shared: &Shared, error: Option<i16>) -> Option<fetch_serve::Served<'_>> {
    match &shared.role {
        Role::Source {
            topic,
            partitions,
            template,
            log_end,
        } => Some(fetch_serve::Served {
            topic,
            partitions: *partitions,
            template,
            log_end: *log_end,
            error,
        }),
        Role::Target => None,
    }
}

fn write(c: &mut Connection, bytes: &[u8]) -> Result<(), String> {
    match c.stream.write_all(bytes) {
        Err(e) if !client_left(&e) => Err(e.to_string()),
        _ => Ok(()),
    }
}

fn decode<T: Decodable>(body: &[u8], version: i16, what: &str) -> Result<T, String> {
    let mut b = Bytes::copy_from_slice(body);
    T::decode(&mut b, version).map_err(|e| format!("cannot decode {what} v{version}: {e}"))
}

fn control<T: Encodable>(head: RequestHead, resp: T) -> Result<Vec<u8>, String> {
    let mut body = BytesMut::new();
    resp.encode(&mut body, head.version)
        .map_err(|e| format!("cannot encode api {} v{}: {e}", head.api_key, head.version))?;
    Ok(frame_response(head, |b| b.put_slice(&body)))
}

/// Size prefix, response header and the body `fill` appends.
fn frame_response(head: RequestHead, fill: impl FnOnce(&mut BytesMut)) -> Vec<u8> {
    let mut b = BytesMut::with_capacity(256);
    b.put_i32(0);
    b.put_i32(head.correlation_id);
    if response_header_version(head.api_key, head.version) >= 1 {
        b.put_u8(0);
    }
    fill(&mut b);
    let size = (b.len() - 4) as i32;
    b[..4].copy_from_slice(&size.to_be_bytes());
    b.to_vec()
}

fn s(x: &str) -> StrBytes {
    StrBytes::from_string(x.to_string())
}

fn api_versions(
    _req: kp::ApiVersionsRequest,
    limits: &HashMap<i16, i16>,
    error: i16,
) -> kp::ApiVersionsResponse {
    // The ranges kmirror speaks, or less where limited.
    kp::ApiVersionsResponse::default()
        .with_error_code(error)
        .with_api_keys(
            Api::ALL
                .iter()
                .map(|api| {
                    let (min, max) = api.ours();
                    let max = limits.get(&api.key()).map_or(max, |&l| l.min(max));
                    kp::api_versions_response::ApiVersion::default()
                        .with_api_key(api.key())
                        .with_min_version(min)
                        .with_max_version(max)
                })
                .collect(),
        )
}

/// The host the broker names itself by: `localhost` under TLS (the name in
/// the harness's certificates), else its IP address.
fn advertised_host(shared: &Shared) -> String {
    match shared.tls {
        None => shared.addr.ip().to_string(),
        Some(_) => "localhost".to_string(),
    }
}

fn metadata(shared: &Shared, req: kp::MetadataRequest, error: i16) -> kp::MetadataResponse {
    use kp::metadata_response::{
        MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
    };
    let topics = lock(&shared.topics);
    let names: Vec<String> = match &req.topics {
        None => topics.keys().cloned().collect(),
        Some(ts) => ts
            .iter()
            .filter_map(|t| t.name.as_ref().map(|n| n.0.to_string()))
            .collect(),
    };
    kp::MetadataResponse::default()
        .with_brokers(vec![MetadataResponseBroker::default()
            .with_node_id(kp::BrokerId(0))
            .with_host(s(&advertised_host(shared)))
            .with_port(shared.addr.port() as i32)])
        .with_cluster_id(Some(s(&shared.name)))
        .with_controller_id(kp::BrokerId(0))
        .with_topics(
            names
                .into_iter()
                .map(|name| {
                    let t =
                        MetadataResponseTopic::default().with_name(Some(kp::TopicName(s(&name))));
                    match topics.get(&name) {
                        None => t.with_error_code(UNKNOWN_TOPIC_OR_PARTITION),
                        Some(_) if error != 0 => t.with_error_code(error),
                        Some(&n) => t.with_partitions(
                            (0..n)
                                .map(|p| {
                                    MetadataResponsePartition::default()
                                        .with_partition_index(p)
                                        .with_leader_id(kp::BrokerId(0))
                                        .with_leader_epoch(0)
                                        .with_replica_nodes(vec![kp::BrokerId(0)])
                                        .with_isr_nodes(vec![kp::BrokerId(0)])
                                })
                                .collect(),
                        ),
                    }
                })
                .collect(),
        )
}

fn list_offsets(
    req: kp::ListOffsetsRequest,
    shared: &Shared,
    error: i16,
) -> kp::ListOffsetsResponse {
    use kp::list_offsets_response::{ListOffsetsPartitionResponse, ListOffsetsTopicResponse};
    let end = match &shared.role {
        Role::Source { log_end, .. } => *log_end,
        Role::Target => 0,
    };
    kp::ListOffsetsResponse::default().with_topics(
        req.topics
            .iter()
            .map(|t| {
                ListOffsetsTopicResponse::default()
                    .with_name(t.name.clone())
                    .with_partitions(
                        t.partitions
                            .iter()
                            .map(|p| {
                                // -1 asks for the log end, anything else
                                // (-2 = earliest, a time) finds the start.
                                let offset = if p.timestamp == -1 { end } else { 0 };
                                ListOffsetsPartitionResponse::default()
                                    .with_partition_index(p.partition_index)
                                    .with_error_code(error)
                                    .with_timestamp(-1)
                                    .with_offset(offset)
                                    .with_leader_epoch(0)
                            })
                            .collect(),
                    )
            })
            .collect(),
    )
}

fn find_coordinator(
    shared: &Shared,
    req: kp::FindCoordinatorRequest,
    version: i16,
    error: i16,
) -> kp::FindCoordinatorResponse {
    let host = s(&advertised_host(shared));
    let port = shared.addr.port() as i32;
    if version < 4 {
        return kp::FindCoordinatorResponse::default()
            .with_error_code(error)
            .with_node_id(kp::BrokerId(0))
            .with_host(host)
            .with_port(port);
    }
    kp::FindCoordinatorResponse::default().with_coordinators(
        req.coordinator_keys
            .iter()
            .map(|k| {
                kp::find_coordinator_response::Coordinator::default()
                    .with_key(k.clone())
                    .with_error_code(error)
                    .with_node_id(kp::BrokerId(0))
                    .with_host(host.clone())
                    .with_port(port)
            })
            .collect(),
    )
}

fn offset_fetch(req: kp::OffsetFetchRequest, error: i16) -> kp::OffsetFetchResponse {
    use kp::offset_fetch_response::{OffsetFetchResponsePartition, OffsetFetchResponseTopic};
    // No progress was ever committed: every partition starts from scratch.
    kp::OffsetFetchResponse::default()
        .with_error_code(error)
        .with_topics(
            req.topics
                .unwrap_or_default()
                .iter()
                .map(|t| {
                    OffsetFetchResponseTopic::default()
                        .with_name(t.name.clone())
                        .with_partitions(
                            t.partition_indexes
                                .iter()
                                .map(|&p| {
                                    OffsetFetchResponsePartition::default()
                                        .with_partition_index(p)
                                        .with_committed_offset(-1)
                                        .with_committed_leader_epoch(-1)
                                        .with_metadata(Some(s("")))
                                })
                                .collect(),
                        )
                })
                .collect(),
        )
}

fn offset_commit(req: kp::OffsetCommitRequest, error: i16) -> kp::OffsetCommitResponse {
    use kp::offset_commit_response::{OffsetCommitResponsePartition, OffsetCommitResponseTopic};
    kp::OffsetCommitResponse::default().with_topics(
        req.topics
            .iter()
            .map(|t| {
                OffsetCommitResponseTopic::default()
                    .with_name(t.name.clone())
                    .with_partitions(
                        t.partitions
                            .iter()
                            .map(|p| {
                                OffsetCommitResponsePartition::default()
                                    .with_partition_index(p.partition_index)
                                    .with_error_code(error)
                            })
                            .collect(),
                    )
            })
            .collect(),
    )
}

fn txn_offset_commit(req: kp::TxnOffsetCommitRequest, error: i16) -> kp::TxnOffsetCommitResponse {
    use kp::txn_offset_commit_response::{
        TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
    };
    kp::TxnOffsetCommitResponse::default().with_topics(
        req.topics
            .iter()
            .map(|t| {
                TxnOffsetCommitResponseTopic::default()
                    .with_name(t.name.clone())
                    .with_partitions(
                        t.partitions
                            .iter()
                            .map(|p| {
                                TxnOffsetCommitResponsePartition::default()
                                    .with_partition_index(p.partition_index)
                                    .with_error_code(error)
                            })
                            .collect(),
                    )
            })
            .collect(),
    )
}

fn add_partitions_to_txn(
    req: kp::AddPartitionsToTxnRequest,
    error: i16,
) -> kp::AddPartitionsToTxnResponse {
    use kp::add_partitions_to_txn_response::{
        AddPartitionsToTxnPartitionResult, AddPartitionsToTxnTopicResult,
    };
    kp::AddPartitionsToTxnResponse::default().with_results_by_topic_v3_and_below(
        req.v3_and_below_topics
            .iter()
            .map(|t| {
                AddPartitionsToTxnTopicResult::default()
                    .with_name(t.name.clone())
                    .with_results_by_partition(
                        t.partitions
                            .iter()
                            .map(|&p| {
                                AddPartitionsToTxnPartitionResult::default()
                                    .with_partition_index(p)
                                    .with_partition_error_code(error)
                            })
                            .collect(),
                    )
            })
            .collect(),
    )
}

/// JoinGroup answered as a coordinator whose group has this one member:
/// generation 1, the member its own leader.
fn join_group(req: kp::JoinGroupRequest, error: i16) -> kp::JoinGroupResponse {
    let member_id = if req.member_id.is_empty() {
        s("fake-member-1")
    } else {
        req.member_id.clone()
    };
    let first = req.protocols.first();
    kp::JoinGroupResponse::default()
        .with_error_code(error)
        .with_generation_id(1)
        .with_protocol_type(Some(req.protocol_type.clone()))
        .with_protocol_name(first.map(|p| p.name.clone()))
        .with_leader(member_id.clone())
        .with_member_id(member_id.clone())
        .with_members(vec![
            kp::join_group_response::JoinGroupResponseMember::default()
                .with_member_id(member_id)
                .with_group_instance_id(req.group_instance_id.clone())
                .with_metadata(first.map(|p| p.metadata.clone()).unwrap_or_default()),
        ])
}

fn init_producer_id(_req: kp::InitProducerIdRequest, error: i16) -> kp::InitProducerIdResponse {
    kp::InitProducerIdResponse::default()
        .with_error_code(error)
        .with_producer_id(kp::ProducerId(4242))
        .with_producer_epoch(0)
}

fn describe_configs(req: kp::DescribeConfigsRequest, error: i16) -> kp::DescribeConfigsResponse {
    use kp::describe_configs_response::DescribeConfigsResult;
    // The source topic has no config overrides.
    kp::DescribeConfigsResponse::default().with_results(
        req.resources
            .iter()
            .map(|r| {
                DescribeConfigsResult::default()
                    .with_error_code(error)
                    .with_resource_type(r.resource_type)
                    .with_resource_name(r.resource_name.clone())
            })
            .collect(),
    )
}

fn create_topics(
    shared: &Shared,
    req: kp::CreateTopicsRequest,
    error: i16,
) -> kp::CreateTopicsResponse {
    use kp::create_topics_response::CreatableTopicResult;
    let mut topics = lock(&shared.topics);
    kp::CreateTopicsResponse::default().with_topics(
        req.topics
            .iter()
            .map(|t| {
                let n = t.num_partitions.max(1);
                if error == 0 {
                    topics.entry(t.name.0.to_string()).or_insert(n);
                }
                CreatableTopicResult::default()
                    .with_name(t.name.clone())
                    .with_error_code(error)
                    .with_num_partitions(n)
                    .with_replication_factor(t.replication_factor.max(1))
                    .with_configs(Some(Vec::new()))
            })
            .collect(),
    )
}

fn create_partitions(
    shared: &Shared,
    req: kp::CreatePartitionsRequest,
    error: i16,
) -> kp::CreatePartitionsResponse {
    use kp::create_partitions_response::CreatePartitionsTopicResult;
    let mut topics = lock(&shared.topics);
    kp::CreatePartitionsResponse::default().with_results(
        req.topics
            .iter()
            .map(|t| {
                if error == 0 {
                    topics.insert(t.name.0.to_string(), t.count);
                }
                CreatePartitionsTopicResult::default()
                    .with_name(t.name.clone())
                    .with_error_code(error)
            })
            .collect(),
    )
}

/// A bounds-checked reader over a request frame.
pub struct Cursor<'a> {
    buf: &'a [u8],
    pub pos: usize,
}

impl<'a> Cursor<'a> {
    pub fn new(buf: &'a [u8]) -> Cursor<'a> {
        Cursor { buf, pos: 0 }
    }

    pub fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.buf.len())
            .ok_or_else(|| format!("request truncated at byte {} (wanted {n} more)", self.pos))?;
        let out = &self.buf[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    pub fn skip(&mut self, n: usize) -> Result<(), String> {
        self.take(n).map(|_| ())
    }

    pub fn i16(&mut self) -> Result<i16, String> {
        let b = self.take(2)?;
        Ok(i16::from_be_bytes([b[0], b[1]]))
    }

    pub fn i32(&mut self) -> Result<i32, String> {
        let b = self.take(4)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub fn uvarint(&mut self) -> Result<u32, String> {
        let mut v = 0u32;
        for shift in (0..35).step_by(7) {
            let b = self.take(1)?[0];
            v |= ((b & 0x7f) as u32) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(format!("varint too long at byte {}", self.pos))
    }

    pub fn skip_tagged_fields(&mut self) -> Result<(), String> {
        for _ in 0..self.uvarint()? {
            self.uvarint()?;
            let len = self.uvarint()? as usize;
            self.skip(len)?;
        }
        Ok(())
    }
}
