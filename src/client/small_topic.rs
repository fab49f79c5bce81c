//! Writing and reading the small single-partition topics kmirror keeps
//! beside the data (MirrorMaker 2's offset syncs, checkpoints and
//! heartbeats): records appended in one batch with acks=all, and a
//! partition read from an offset to its end. Not the data path: these move
//! a few records at a time through the control thread.

use bytes::{Bytes, BytesMut};
use kmirror_proto::api::Api;
use kmirror_proto::batch::OutBatch;
use kmirror_proto::batch::{split_record_set, RecordBatch, RecordSetEntry};
use kmirror_proto::compression::Compression;
use kmirror_proto::fetch::{
    FetchPartition, FetchPartitionResponse, FetchRequest, FetchResponse, FetchTopic,
};
use kmirror_proto::header::{begin_request, finish_frame};
use kmirror_proto::produce::{
    self, ProduceHeader, ProducePartitionResponse, ProduceResponse, ProduceTopic,
};
use kmirror_proto::records::{decode_records, encode_batch, split_body, BatchMeta, NewRecord};

use crate::client::admin::{self, EARLIEST, LATEST};
use crate::client::cluster::ClusterClient;
use crate::client::conn::Conn;
use crate::client::error::ClientError;

/// The most a record of these topics may decompress to.
const MAX_BATCH_BYTES: usize = 16 << 20;

/// One record read back: its offset, key and value.
#[derive(Debug, Clone)]
pub struct Keyed {
    pub offset: i64,
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
}

/// Now, in milliseconds since the epoch, for records' timestamps.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Creates `topic` on `cluster` as these topics are made: one partition,
/// compacted, `replication_factor` replicas. True when it was created now,
/// false when it was there already.
pub async fn create_compacted(
    cluster: &ClusterClient,
    topic: &str,
    replication_factor: i16,
) -> Result<bool, ClientError> {
    let new = admin::NewTopic {
        name: topic.to_string(),
        partitions: 1,
        replication_factor,
        configs: vec![("cleanup.policy".into(), "compact".into())],
    };
    match admin::create_topics(cluster, &[new]).await.pop() {
        Some((_, Err(e))) => Err(e),
        Some((_, Ok(created))) => Ok(created == admin::Created::New),
        None => Ok(false),
    }
}

/// Whether writing one of these topics failed in a way retrying will not
/// fix: a permanent error, or a replication factor, ACL, policy or config
/// the cluster refuses.
pub fn retry_cannot_fix(e: &ClientError) -> bool {
    use kmirror_proto::error_code::ErrorCode;
    e.is_permanent()
        || matches!(
            e,
            ClientError::Kafka { code, .. } if *code == ErrorCode::INVALID_REPLICATION_FACTOR
                || code.is_authorization_error()
                || *code == ErrorCode::POLICY_VIOLATION
                || *code == ErrorCode::INVALID_CONFIG
        )
}

/// Whether `topic` exists on `cluster`.
pub async fn exists(cluster: &ClusterClient, topic: &str) -> Result<bool, ClientError> {
    let meta = cluster.metadata(Some(&[topic.to_string()])).await?;
    Ok(meta.iter().any(|t| t.name == topic && t.error.is_ok()))
}

/// The connection to the leader of `topic`'s `partition`.
pub async fn leader(
    cluster: &ClusterClient,
    topic: &str,
    partition: i32,
) -> Result<Conn, ClientError> {
    let meta = cluster.metadata(Some(&[topic.to_string()])).await?;
    let found = meta
        .iter()
        .find(|t| t.name == topic)
        .and_then(|t| t.partitions.iter().find(|p| p.partition == partition));
    match found {
        Some(p) if p.error.is_ok() && p.leader >= 0 => cluster.broker(p.leader).await,
        Some(p) => Err(other(
            cluster,
            format!("{topic}[{partition}] has no leader ({})", p.error),
        )),
        None => Err(other(
            cluster,
            format!("{topic}[{partition}] does not exist"),
        )),
    }
}

fn other(cluster: &ClusterClient, reason: String) -> ClientError {
    ClientError::Other {
        cluster: cluster.name().to_string(),
        reason,
    }
}

/// Appends `records` (key, value) to `topic`'s `partition` as one batch;
/// the offset of the first.
pub async fn append(
    cluster: &ClusterClient,
    topic: &str,
    partition: i32,
    records: &[(Bytes, Bytes)],
    timestamp_ms: i64,
) -> Result<i64, ClientError> {
    if records.is_empty() {
        return Ok(-1);
    }
    let new: Vec<NewRecord> = records
        .iter()
        .enumerate()
        .map(|(i, (k, v))| NewRecord {
            offset_delta: i as i32,
            timestamp: timestamp_ms,
            key: Some(k.clone()),
            value: Some(v.clone()),
            headers: Vec::new(),
        })
        .collect();
    let meta = BatchMeta {
        base_offset: 0,
        partition_leader_epoch: -1,
        compression: Compression::None,
        log_append_time: false,
        producer_id: -1,
        producer_epoch: -1,
        base_sequence: -1,
        transactional: false,
    };
    let bytes = encode_batch(&meta, &new).map_err(|e| other(cluster, e.to_string()))?;
    let batch = RecordBatch::parse(bytes).map_err(|e| other(cluster, e.to_string()))?;
    let out = batch.rewrite(&kmirror_proto::batch::BatchRewrite::NON_IDEMPOTENT);
    let answer = produce_one(cluster, topic, partition, out, None).await?;
    if !answer.error.is_ok() {
        return Err(ClientError::Kafka {
            cluster: cluster.name().to_string(),
            what: format!("writing to {topic}[{partition}]"),
            code: answer.error,
            message: answer.error_message.clone(),
        });
    }
    Ok(answer.base_offset)
}

/// Sends `batch` alone to `topic[partition]`'s leader with acks=all (in
/// the transaction of `transactional_id`, if given) and returns the
/// partition's answer, whatever its error code.
pub async fn produce_one(
    cluster: &ClusterClient,
    topic: &str,
    partition: i32,
    batch: OutBatch,
    transactional_id: Option<&str>,
) -> Result<ProducePartitionResponse, ClientError> {
    let conn = leader(cluster, topic, partition).await?;
    // As Kafka 3.x clients produce (v12 would ask a Kafka 4 broker for
    // KIP-890's implicit transaction partitions).
    let version = conn.version(Api::Produce)?.min(11);
    let client_id = cluster.settings().client_id.clone();
    let topics = vec![ProduceTopic {
        name: topic.to_string(),
        partitions: vec![(partition, batch)],
    }];
    let body = conn
        .send(Api::Produce, version, |corr| {
            let head = ProduceHeader {
                correlation_id: corr,
                client_id: &client_id,
                transactional_id,
                acks: -1,
                timeout_ms: 30_000,
            };
            produce::encode_request(version, &head, &topics)
        })
        .await?
        .wait()
        .await?;
    let resp = ProduceResponse::decode(body, version)
        .map_err(|e| ClientError::protocol(cluster.name(), conn.addr(), "Produce", e))?;
    resp.topics
        .into_iter()
        .flat_map(|t| t.partitions)
        .find(|p| p.partition == partition)
        .ok_or_else(|| other(cluster, format!("no answer for {topic}[{partition}]")))
}

/// The first and the next offset of `topic`'s `partition`.
pub async fn bounds(
    cluster: &ClusterClient,
    topic: &str,
    partition: i32,
) -> Result<(i64, i64), ClientError> {
    bounds_to(cluster, topic, partition, false).await
}

/// The first offset of `topic`'s `partition`, and its next offset or, when
/// `committed`, its last stable offset (everything below it is decided).
pub async fn bounds_to(
    cluster: &ClusterClient,
    topic: &str,
    partition: i32,
    committed: bool,
) -> Result<(i64, i64), ClientError> {
    let conn = leader(cluster, topic, partition).await?;
    let mut out = [0i64; 2];
    for (slot, at, stable) in [(0, EARLIEST, false), (1, LATEST, committed)] {
        let got = admin::list_offsets(&conn, topic, &[partition], at, stable).await?;
        out[slot] = match got.first() {
            Some((_, Ok(o))) => *o,
            Some((_, Err(code))) => {
                return Err(ClientError::Kafka {
                    cluster: cluster.name().to_string(),
                    what: format!("listing offsets of {topic}[{partition}]"),
                    code: *code,
                    message: None,
                })
            }
            None => {
                return Err(other(
                    cluster,
                    format!("no offsets for {topic}[{partition}]"),
                ))
            }
        };
    }
    Ok((out[0], out[1]))
}

/// One Fetch of `topic[partition]` at `offset` (up to 8 MiB) from its
/// leader `conn`: the partition's answer, checked for errors.
pub async fn fetch(
    cluster: &ClusterClient,
    conn: &Conn,
    topic: &str,
    partition: i32,
    offset: i64,
    read_committed: bool,
) -> Result<FetchPartitionResponse, ClientError> {
    let client_id = cluster.settings().client_id.clone();
    let req = FetchRequest {
        max_wait_ms: 500,
        min_bytes: 1,
        max_bytes: 8 << 20,
        isolation_level: read_committed as i8,
        session_id: 0,
        session_epoch: -1,
        topics: vec![FetchTopic {
            name: topic.to_string(),
            partitions: vec![FetchPartition {
                partition,
                current_leader_epoch: -1,
                fetch_offset: offset,
                partition_max_bytes: 8 << 20,
            }],
        }],
        forgotten: Vec::new(),
        rack_id: String::new(),
    };
    let version = 12;
    let body = conn
        .send(Api::Fetch, version, |corr| {
            let mut b = BytesMut::with_capacity(128);
            begin_request(&mut b, Api::Fetch.key(), version, corr, &client_id);
            req.encode(&mut b, version)?;
            let len = b.len();
            finish_frame(&mut b, len - 4);
            Ok(vec![b.freeze()])
        })
        .await?
        .wait()
        .await?;
    let resp = FetchResponse::decode(body, version)
        .map_err(|e| ClientError::protocol(cluster.name(), conn.addr(), "Fetch", e))?;
    let Some(p) = resp.topics.into_iter().flat_map(|t| t.partitions).next() else {
        return Err(other(
            cluster,
            format!("no fetch answer for {topic}[{partition}]"),
        ));
    };
    if !p.error.is_ok() {
        return Err(ClientError::Kafka {
            cluster: cluster.name().to_string(),
            what: format!("reading {topic}[{partition}]"),
            code: p.error,
            message: None,
        });
    }
    Ok(p)
}

/// Every record of `topic`'s `partition` from its start to the end it had
/// when the read began (control batches and records without a key are
/// passed over).
pub async fn read_all(
    cluster: &ClusterClient,
    topic: &str,
    partition: i32,
) -> Result<Vec<Keyed>, ClientError> {
    let (mut offset, end) = bounds(cluster, topic, partition).await?;
    let mut out = Vec::new();
    let conn = leader(cluster, topic, partition).await?;
    while offset < end {
        let p = fetch(cluster, &conn, topic, partition, offset, true).await?;
        let before = offset;
        for entry in split_record_set(p.records.clone()) {
            let batch = match entry {
                Ok(RecordSetEntry::Batch(b)) => b,
                Ok(RecordSetEntry::Legacy { base_offset, .. }) => {
                    offset = offset.max(base_offset + 1);
                    continue;
                }
                Err(e) => return Err(other(cluster, format!("{topic}[{partition}]: {e}"))),
            };
            if batch.next_offset() <= offset {
                continue;
            }
            if !batch.is_control() {
                let records = decode_records(&batch, MAX_BATCH_BYTES)
                    .map_err(|e| other(cluster, format!("{topic}[{partition}]: {e}")))?;
                for r in records.into_iter().filter(|r| r.offset >= offset) {
                    let fields = split_body(&r.body).map_err(|e| {
                        other(
                            cluster,
                            format!("{topic}[{partition}] offset {}: {e}", r.offset),
                        )
                    })?;
                    out.push(Keyed {
                        offset: r.offset,
                        key: fields.key,
                        value: fields.value,
                    });
                }
            }
            offset = batch.next_offset();
        }
        if offset == before {
            // Nothing readable below the end (aborted data, or the end was
            // a transaction still open): what was read is all there is.
            if p.last_stable_offset <= offset || p.high_watermark <= offset {
                break;
            }
            return Err(other(
                cluster,
                format!("{topic}[{partition}]: no progress reading at offset {offset}"),
            ));
        }
    }
    Ok(out)
}
