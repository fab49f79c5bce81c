//! A fake Kafka broker for the ceiling benchmark only: a one-node "cluster"
//! on 127.0.0.1 that answers every request kmirror sends at start-up and
//! while mirroring, stores nothing, and costs as little CPU as it can.
//!
//! It exists to take the brokers' own cost out of the measurement of
//! kmirror's. It must never be used to claim that mirroring works: it does
//! not keep what it is sent, and its source side serves one batch over and
//! over. The real-Kafka tests in `tests/` do that.
//!
//! One thread per connection, blocking I/O, requests answered in order.
//! The control plane goes through the `kafka-protocol` codec; Fetch answers
//! ([`super::fetch_serve`]) and Produce acknowledgements
//! ([`super::produce_ack`]) have their own framing.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::create_topics_response::CreatableTopicResult;
use kafka_protocol::messages::describe_configs_response::DescribeConfigsResult;
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::incremental_alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponsePartition, OffsetFetchResponseTopic,
};
use kafka_protocol::messages::{
    ApiVersionsRequest, ApiVersionsResponse, BrokerId, CreatePartitionsRequest,
    CreatePartitionsResponse, CreateTopicsRequest, CreateTopicsResponse, DescribeConfigsRequest,
    DescribeConfigsResponse, FetchRequest, FindCoordinatorRequest, FindCoordinatorResponse,
    IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse, InitProducerIdRequest,
    InitProducerIdResponse, ListOffsetsRequest, ListOffsetsResponse, MetadataRequest,
    MetadataResponse, OffsetCommitRequest, OffsetCommitResponse, OffsetFetchRequest,
    OffsetFetchResponse, ProducerId, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use kmirror_proto::header::{request_header_version, response_header_version};

use super::batches::{Run, Template};
use super::{fetch_serve, produce_ack};
use crate::procstat;

/// Log end offset the fake source reports: far ahead of anything a run
/// can mirror, and the same in every answer.
pub const HIGH_WATERMARK: i64 = 1 << 40;

/// Error codes used in answers.
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;

/// What a fake broker plays.
pub enum Role {
    /// Serves `topic` with `partitions` partitions from one batch in memory.
    Source {
        topic: String,
        partitions: i32,
        template: Template,
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

struct Shared {
    name: &'static str,
    addr: SocketAddr,
    role: Role,
    acked: Acked,
    topics: Mutex<HashMap<String, i32>>,
    tids: Mutex<Vec<i32>>,
    stop: AtomicBool,
    cpus: Vec<usize>,
}

/// A running fake broker; dropping it stops the listener.
pub struct FakeBroker {
    shared: Arc<Shared>,
}

impl FakeBroker {
    /// Listens on 127.0.0.1 (a free port) and serves each connection on its
    /// own thread, pinned to `cpus` when given.
    pub fn start(name: &'static str, role: Role, cpus: Vec<usize>) -> std::io::Result<FakeBroker> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let topics = match &role {
            Role::Source {
                topic, partitions, ..
            } => HashMap::from([(topic.clone(), *partitions)]),
            Role::Target => HashMap::new(),
        };
        let shared = Arc::new(Shared {
            name,
            addr,
            role,
            acked: Acked::default(),
            topics: Mutex::new(topics),
            tids: Mutex::new(Vec::new()),
            stop: AtomicBool::new(false),
            cpus,
        });
        let s = shared.clone();
        std::thread::Builder::new()
            .name(format!("{name}-accept"))
            .spawn(move || accept_loop(s, listener))?;
        Ok(FakeBroker { shared })
    }

    pub fn bootstrap(&self) -> String {
        self.shared.addr.to_string()
    }

    pub fn acked(&self) -> &Acked {
        &self.shared.acked
    }

    /// CPU time of the broker's threads that are alive now.
    pub fn cpu_time(&self) -> Duration {
        let tids = self.shared.tids.lock().unwrap_or_else(|e| e.into_inner());
        tids.iter()
            .filter_map(|t| procstat::thread_cpu_time(*t))
            .sum()
    }
}

impl Drop for FakeBroker {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so that it sees the flag.
        let _ = TcpStream::connect(self.shared.addr);
    }
}

fn accept_loop(shared: Arc<Shared>, listener: TcpListener) {
    for conn in listener.incoming() {
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(stream) = conn else { continue };
        let s = shared.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("{}-conn", shared.name))
            .spawn(move || {
                super::pin_current_thread(&s.cpus);
                s.tids
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(procstat::current_tid());
                if let Err(e) = serve(&s, stream) {
                    if !s.stop.load(Ordering::SeqCst) {
                        eprintln!("kmirror-bench: {}: connection closed: {e}", s.name);
                    }
                }
            });
        if let Err(e) = spawned {
            eprintln!("kmirror-bench: {}: cannot start a thread: {e}", shared.name);
        }
    }
}

/// Per-connection state: the receive buffer and the source's batch run.
struct Connection {
    stream: TcpStream,
    frame: Vec<u8>,
    run: Option<Run>,
    next_offsets: HashMap<(String, i32), i64>,
    crc_checked: bool,
}

fn serve(shared: &Shared, stream: TcpStream) -> Result<(), String> {
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
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
        answer(shared, &mut c, head)?;
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

fn answer(shared: &Shared, c: &mut Connection, head: RequestHead) -> Result<(), String> {
    let body = &c.frame[head.body_start..];
    let v = head.version;
    let out = match head.api_key {
        0 => {
            let acked = produce_ack::answer(
                body,
                v,
                &mut c.next_offsets,
                &mut c.crc_checked,
                &shared.acked,
            )?;
            match acked {
                Some(resp) => frame_response(head, |b| b.put_slice(&resp)),
                None => return Ok(()), // acks = 0
            }
        }
        1 => {
            let req: FetchRequest = decode(body, v, "Fetch")?;
            let (
                Role::Source {
                    topic,
                    partitions,
                    template,
                },
                Some(run),
            ) = (&shared.role, c.run.as_mut())
            else {
                return Err("the fake target was sent a Fetch".into());
            };
            return match fetch_serve::answer(
                &mut c.stream,
                head.correlation_id,
                &req,
                topic,
                *partitions,
                template,
                run,
            ) {
                Err(e) if !client_left(&e) => Err(e.to_string()),
                _ => Ok(()),
            };
        }
        2 => control(head, list_offsets(decode(body, v, "ListOffsets")?))?,
        3 => control(head, metadata(shared, decode(body, v, "Metadata")?))?,
        8 => control(head, offset_commit(decode(body, v, "OffsetCommit")?))?,
        9 => control(head, offset_fetch(decode(body, v, "OffsetFetch")?))?,
        10 => control(
            head,
            find_coordinator(shared, decode(body, v, "FindCoordinator")?, v),
        )?,
        18 => control(head, api_versions(decode(body, v, "ApiVersions")?))?,
        19 => control(
            head,
            create_topics(shared, decode(body, v, "CreateTopics")?),
        )?,
        22 => control(head, init_producer_id(decode(body, v, "InitProducerId")?))?,
        32 => control(head, describe_configs(decode(body, v, "DescribeConfigs")?))?,
        37 => control(
            head,
            create_partitions(shared, decode(body, v, "CreatePartitions")?),
        )?,
        44 => control(
            head,
            incremental_alter_configs(decode(body, v, "IncrementalAlterConfigs")?),
        )?,
        other => {
            return Err(format!(
                "api key {other} v{v} is not answered by the fake broker"
            ))
        }
    };
    match c.stream.write_all(&out) {
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

fn api_versions(_req: ApiVersionsRequest) -> ApiVersionsResponse {
    // What this fake answers, within the ranges kmirror speaks.
    const RANGES: [(i16, i16, i16); 13] = [
        (0, 7, 12),  // Produce
        (1, 12, 12), // Fetch
        (2, 1, 8),   // ListOffsets
        (3, 4, 12),  // Metadata
        (8, 2, 8),   // OffsetCommit
        (9, 1, 7),   // OffsetFetch
        (10, 1, 4),  // FindCoordinator
        (18, 0, 3),  // ApiVersions
        (19, 2, 7),  // CreateTopics
        (22, 0, 4),  // InitProducerId
        (32, 1, 4),  // DescribeConfigs
        (37, 0, 3),  // CreatePartitions
        (44, 0, 1),  // IncrementalAlterConfigs
    ];
    ApiVersionsResponse::default().with_api_keys(
        RANGES
            .iter()
            .map(|&(key, min, max)| {
                ApiVersion::default()
                    .with_api_key(key)
                    .with_min_version(min)
                    .with_max_version(max)
            })
            .collect(),
    )
}

fn metadata(shared: &Shared, req: MetadataRequest) -> MetadataResponse {
    let topics = shared.topics.lock().unwrap_or_else(|e| e.into_inner());
    let names: Vec<String> = match &req.topics {
        None => topics.keys().cloned().collect(),
        Some(ts) => ts
            .iter()
            .filter_map(|t| t.name.as_ref().map(|n| n.0.to_string()))
            .collect(),
    };
    MetadataResponse::default()
        .with_brokers(vec![MetadataResponseBroker::default()
            .with_node_id(BrokerId(0))
            .with_host(s(&shared.addr.ip().to_string()))
            .with_port(shared.addr.port() as i32)])
        .with_cluster_id(Some(s(shared.name)))
        .with_controller_id(BrokerId(0))
        .with_topics(
            names
                .into_iter()
                .map(|name| {
                    let t = MetadataResponseTopic::default().with_name(Some(TopicName(s(&name))));
                    match topics.get(&name) {
                        None => t.with_error_code(UNKNOWN_TOPIC_OR_PARTITION),
                        Some(&n) => t.with_partitions(
                            (0..n)
                                .map(|p| {
                                    MetadataResponsePartition::default()
                                        .with_partition_index(p)
                                        .with_leader_id(BrokerId(0))
                                        .with_leader_epoch(0)
                                        .with_replica_nodes(vec![BrokerId(0)])
                                        .with_isr_nodes(vec![BrokerId(0)])
                                })
                                .collect(),
                        ),
                    }
                })
                .collect(),
        )
}

fn list_offsets(req: ListOffsetsRequest) -> ListOffsetsResponse {
    ListOffsetsResponse::default().with_topics(
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
                                let offset = if p.timestamp == -1 { HIGH_WATERMARK } else { 0 };
                                ListOffsetsPartitionResponse::default()
                                    .with_partition_index(p.partition_index)
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
    req: FindCoordinatorRequest,
    version: i16,
) -> FindCoordinatorResponse {
    let host = s(&shared.addr.ip().to_string());
    let port = shared.addr.port() as i32;
    if version < 4 {
        return FindCoordinatorResponse::default()
            .with_node_id(BrokerId(0))
            .with_host(host)
            .with_port(port);
    }
    FindCoordinatorResponse::default().with_coordinators(
        req.coordinator_keys
            .iter()
            .map(|k| {
                Coordinator::default()
                    .with_key(k.clone())
                    .with_node_id(BrokerId(0))
                    .with_host(host.clone())
                    .with_port(port)
            })
            .collect(),
    )
}

fn offset_fetch(req: OffsetFetchRequest) -> OffsetFetchResponse {
    // No progress was ever committed: every partition starts from scratch.
    OffsetFetchResponse::default().with_topics(
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

fn offset_commit(req: OffsetCommitRequest) -> OffsetCommitResponse {
    OffsetCommitResponse::default().with_topics(
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
                            })
                            .collect(),
                    )
            })
            .collect(),
    )
}

fn init_producer_id(_req: InitProducerIdRequest) -> InitProducerIdResponse {
    InitProducerIdResponse::default()
        .with_producer_id(ProducerId(4242))
        .with_producer_epoch(0)
}

fn describe_configs(req: DescribeConfigsRequest) -> DescribeConfigsResponse {
    // The source topic has no config overrides.
    DescribeConfigsResponse::default().with_results(
        req.resources
            .iter()
            .map(|r| {
                DescribeConfigsResult::default()
                    .with_resource_type(r.resource_type)
                    .with_resource_name(r.resource_name.clone())
            })
            .collect(),
    )
}

fn create_topics(shared: &Shared, req: CreateTopicsRequest) -> CreateTopicsResponse {
    let mut topics = shared.topics.lock().unwrap_or_else(|e| e.into_inner());
    CreateTopicsResponse::default().with_topics(
        req.topics
            .iter()
            .map(|t| {
                let n = t.num_partitions.max(1);
                topics.entry(t.name.0.to_string()).or_insert(n);
                CreatableTopicResult::default()
                    .with_name(t.name.clone())
                    .with_num_partitions(n)
                    .with_replication_factor(t.replication_factor.max(1))
                    .with_configs(Some(Vec::new()))
            })
            .collect(),
    )
}

fn create_partitions(shared: &Shared, req: CreatePartitionsRequest) -> CreatePartitionsResponse {
    let mut topics = shared.topics.lock().unwrap_or_else(|e| e.into_inner());
    CreatePartitionsResponse::default().with_results(
        req.topics
            .iter()
            .map(|t| {
                topics.insert(t.name.0.to_string(), t.count);
                CreatePartitionsTopicResult::default().with_name(t.name.clone())
            })
            .collect(),
    )
}

fn incremental_alter_configs(
    req: IncrementalAlterConfigsRequest,
) -> IncrementalAlterConfigsResponse {
    IncrementalAlterConfigsResponse::default().with_responses(
        req.resources
            .iter()
            .map(|r| {
                AlterConfigsResourceResponse::default()
                    .with_resource_type(r.resource_type)
                    .with_resource_name(r.resource_name.clone())
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
