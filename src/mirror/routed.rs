//! The partition-count mismatch slow path (`kmirror.partitions.mismatch =
//! route`, MirrorMaker 1's behaviour): a source partition whose target
//! topic has another partition count is mirrored here, its records routed
//! as Kafka's default partitioner would place them ([`super::route`]).
//!
//! One task per such partition, on the control thread, one round at a
//! time: fetch (read_committed, with the fast path's filtering: aborted
//! data, markers, holes, LogAppendTime), rebuild each batch into one batch
//! per target partition, produce them one after another with acks=all and
//! no idempotence, and only then move the position on. A key lands in one
//! target partition and its records are written in source order; a failed
//! round is sent again from its start, so records may be written twice
//! after a retry (as MirrorMaker 1 did), never skipped. Each batch is
//! decoded and re-encoded: the bytes count as copied on path `route`.

use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use kmirror_proto::batch::BatchRewrite;
use kmirror_proto::error_code::ErrorCode;
use kmirror_proto::records::{reencode_split, split_body, Reencode};

use crate::client::admin::{self, EARLIEST, LATEST};
use crate::client::small_topic;
use crate::client::{ClientError, ClusterClient};
use crate::mirror::counters::Counters;
use crate::mirror::fetched;
use crate::mirror::partition::Partition;
use crate::mirror::route::partition_for;
use crate::plan::FlowPlan;

/// Backoff after a failed round, doubling up to the cap.
const BACKOFF_FROM: Duration = Duration::from_millis(200);
const BACKOFF_CAP: Duration = Duration::from_secs(10);

/// A source partition mirrored on this path.
#[derive(Debug, Clone)]
pub struct Routed {
    pub source_topic: String,
    pub target_topic: String,
    pub partition: i32,
    /// The target topic's partition count.
    pub target_partitions: i32,
    /// The committed position; `None` starts where `auto.offset.reset` says.
    pub start: Option<i64>,
}

/// What the task tells the control thread.
pub enum Event {
    /// Records mirrored in one round and the source position after them.
    Round { counts: Box<Counters>, next: i64 },
    /// The partition stops: data the target refuses.
    Failed(String),
}

/// Mirrors `part` until `stop` is set or the partition fails.
pub async fn run(
    plans: Arc<Vec<FlowPlan>>,
    index: usize,
    source: Rc<ClusterClient>,
    target: Rc<ClusterClient>,
    part: Routed,
    stop: Arc<AtomicBool>,
    mut tell: impl FnMut(Event),
) {
    let plan = &plans[index];
    let (topic, p) = (part.source_topic.as_str(), part.partition);
    let mut backoff = BACKOFF_FROM;
    let mut next = part.start;
    // Keyless records move on to the next target partition with each
    // source batch, starting at one that depends on the source partition.
    let mut sticky = p;
    let mut warned = String::new();
    while !stop.load(Ordering::Relaxed) {
        let round = match next {
            None => start_offset(plan, &source, topic, p).await.map(|o| {
                next = Some(o);
                None
            }),
            Some(at) => one_round(plan, &source, &target, &part, at, &mut sticky)
                .await
                .map(Some),
        };
        match round {
            Ok(None) => {}
            Ok(Some(Outcome::Mirrored {
                counts,
                next: after,
            })) => {
                backoff = BACKOFF_FROM;
                warned.clear();
                next = Some(after);
                tell(Event::Round {
                    counts,
                    next: after,
                });
            }
            Ok(Some(Outcome::Reset(to))) => {
                tracing::warn!(flow = %plan.name(), topic, partition = p, from = ?next, to, "the position is out of the source's range; continuing from its earliest offset, as auto.offset.reset = earliest");
                next = Some(to);
            }
            Err(Stop::Fatal(reason)) => {
                tell(Event::Failed(reason));
                return;
            }
            Err(Stop::Retry(reason)) => {
                if reason != warned {
                    tracing::warn!(flow = %plan.name(), topic, partition = p, "partition-count mismatch path: {reason}; retrying the round from source offset {next:?}");
                    warned = reason;
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(BACKOFF_CAP);
            }
        }
    }
}

enum Outcome {
    Mirrored { counts: Box<Counters>, next: i64 },
    Reset(i64),
}

enum Stop {
    /// Try the round again after a backoff.
    Retry(String),
    /// The partition cannot go on.
    Fatal(String),
}

impl From<ClientError> for Stop {
    fn from(e: ClientError) -> Stop {
        if e.is_permanent() {
            Stop::Fatal(e.to_string())
        } else {
            Stop::Retry(e.to_string())
        }
    }
}

async fn start_offset(
    plan: &FlowPlan,
    source: &ClusterClient,
    topic: &str,
    partition: i32,
) -> Result<i64, Stop> {
    let at = if plan.fetch.start_from_latest {
        LATEST
    } else {
        EARLIEST
    };
    let conn = small_topic::leader(source, topic, partition).await?;
    match admin::list_offsets(&conn, topic, &[partition], at, true)
        .await?
        .first()
    {
        Some((_, Ok(o))) => Ok(*o),
        Some((_, Err(code))) => Err(Stop::Retry(format!("listing offsets: {code}"))),
        None => Err(Stop::Retry("no offsets in the answer".into())),
    }
}

async fn one_round(
    plan: &FlowPlan,
    source: &ClusterClient,
    target: &ClusterClient,
    part: &Routed,
    at: i64,
    sticky: &mut i32,
) -> Result<Outcome, Stop> {
    let (topic, p) = (part.source_topic.as_str(), part.partition);
    let leader = small_topic::leader(source, topic, p).await?;
    let data =
        match small_topic::fetch(source, &leader, topic, p, at, plan.fetch.read_committed).await {
            Ok(d) => d,
            Err(ClientError::Kafka {
                code: ErrorCode::OFFSET_OUT_OF_RANGE,
                ..
            }) if !plan.fetch.start_from_latest => {
                return start_offset(plan, source, topic, p)
                    .await
                    .map(Outcome::Reset)
            }
            Err(e) => return Err(e.into()),
        };
    // The fast path's filtering, on a scratch partition: what it queues is
    // what would be forwarded, its position where the next fetch starts.
    let mut scratch = Partition::new(0, Rc::from(topic), Rc::from(topic), p, Some(at));
    let settings = crate::plan::FetchSettings {
        recompress: None,
        // Each batch is rebuilt per target partition anyway.
        coalesce_max_bytes: 0,
        ..plan.fetch.clone()
    };
    fetched::apply(&mut scratch, &data, at, &settings)
        .map_err(|reason| Stop::Retry(format!("source offset {at}: {reason}")))?;
    let after = scratch.fetch_offset.unwrap_or(at);
    let mut counts = Box::new(Counters::new());
    let mut out: BTreeMap<i32, Vec<kmirror_proto::batch::OutBatch>> = BTreeMap::new();
    for q in &scratch.queue {
        *sticky = sticky.wrapping_add(1);
        let keyless_to = *sticky;
        let opts = Reencode {
            min_offset: i64::MIN,
            force_timestamp: None,
            max_decompressed: plan.fetch.max_decompressed_bytes,
            compression: plan.fetch.recompress,
        };
        let split = reencode_split(&q.batch, opts, |r| {
            let key = split_body(&r.body)?.key;
            Ok(partition_for(
                key.as_deref(),
                part.target_partitions,
                keyless_to,
            ))
        })
        .map_err(|e| {
            Stop::Fatal(format!(
                "the batch at source offset {} cannot be rebuilt for the target's {} partitions: {e}",
                q.first_source(),
                part.target_partitions
            ))
        })?;
        counts.batches += 1;
        counts.records += q.batch.record_count().max(0) as u64;
        counts.bytes += q.batch.len() as u64;
        for (to, rebuilt) in split {
            counts.copied_bytes += rebuilt.batch.len() as u64;
            counts.routed_bytes += rebuilt.batch.len() as u64;
            out.entry(to)
                .or_default()
                .push(rebuilt.batch.rewrite(&BatchRewrite::NON_IDEMPOTENT));
        }
    }
    counts.routed_batches += counts.batches;
    // One batch at a time per target partition: written in order.
    for (to, batches) in out {
        for batch in batches {
            let answer =
                small_topic::produce_one(target, &part.target_topic, to, batch, None).await?;
            if answer.error.is_ok() {
                continue;
            }
            let what = format!(
                "writing to {}[{to}] (records from source offset {at} on): {}{}",
                part.target_topic,
                answer.error,
                answer
                    .error_message
                    .as_deref()
                    .map(|m| format!(" ({m})"))
                    .unwrap_or_default()
            );
            return Err(if answer.error.is_retriable() {
                Stop::Retry(what)
            } else {
                Stop::Fatal(what)
            });
        }
    }
    Ok(Outcome::Mirrored {
        counts,
        next: after,
    })
}
