//! Checkpoints as MirrorMaker 2 writes them: for each consumer group on the
//! source that the flow's `groups` / `groups.exclude` select, each committed
//! offset of a mirrored topic and where it resumes on the target, written
//! to `<source>.checkpoints.internal` on the target. Kafka's
//! `RemoteClusterUtils.translateOffsets` reads them.
//!
//! kmirror's downstream offset is exact (see [`super::map`]): the target
//! offset of the record at the committed offset, or of the next mirrored
//! record. A group committed past what the mirror has reached gets no new
//! checkpoint until the mirror catches up (its earlier one stays).

use std::cell::RefCell;
use std::collections::HashMap;

use bytes::Bytes;
use kmirror_proto::mm2::Checkpoint;

use crate::client::admin;
use crate::client::small_topic;
use crate::client::{ClientError, ClusterClient};
use crate::offsets::syncs::OffsetSyncs;
use crate::plan::CheckpointsTopic;
use crate::plan::FlowPlan;

/// Checkpoint records per write.
const PER_WRITE: usize = 2000;

/// (group, target topic, partition) -> (upstream, downstream) offsets.
type Written = HashMap<(String, String, i32), (i64, i64)>;

/// What the last round wrote, so unchanged checkpoints are not written
/// again.
#[derive(Default)]
pub struct Checkpointer {
    created: std::cell::Cell<bool>,
    written: RefCell<Written>,
    /// Checkpoints written since the last [`Checkpointer::take_latencies`]:
    /// (group, target topic, partition, ms from the record's timestamp to
    /// its acknowledgement), MirrorMaker 2's checkpoint latency.
    latencies: RefCell<Vec<(String, String, i32, u64)>>,
}

impl Checkpointer {
    /// One round: the selected groups' committed offsets, translated, and
    /// the changed ones written. The count written, and every checkpoint
    /// of the round.
    pub async fn run(
        &self,
        plan: &FlowPlan,
        topic: &CheckpointsTopic,
        source: &ClusterClient,
        target: &ClusterClient,
        syncs: &OffsetSyncs,
    ) -> Result<(usize, Vec<Checkpoint>), ClientError> {
        let checkpoints = current(plan, source, syncs).await?;
        let changed: Vec<Checkpoint> = {
            let written = self.written.borrow();
            checkpoints
                .iter()
                .filter(|c| {
                    written.get(&(c.group.clone(), c.topic.clone(), c.partition))
                        != Some(&(c.upstream_offset, c.downstream_offset))
                })
                .cloned()
                .collect()
        };
        if changed.is_empty() {
            return Ok((0, checkpoints));
        }
        if !self.created.get() {
            if small_topic::create_compacted(target, &topic.name, topic.replication_factor).await? {
                tracing::info!(cluster = target.name(), topic = %topic.name, "created the checkpoints topic");
            }
            self.created.set(true);
        }
        let now = small_topic::now_ms();
        for chunk in changed.chunks(PER_WRITE) {
            let records = chunk
                .iter()
                .map(|c| Ok((c.key()?, c.value()?)))
                .collect::<Result<Vec<(Bytes, Bytes)>, kmirror_proto::ProtoError>>()
                .map_err(|e| ClientError::Other {
                    cluster: target.name().to_string(),
                    reason: format!("checkpoint: {e}"),
                })?;
            small_topic::append(target, &topic.name, 0, &records, now).await?;
            let latency = small_topic::now_ms().saturating_sub(now).max(0) as u64;
            self.latencies.borrow_mut().extend(
                chunk
                    .iter()
                    .map(|c| (c.group.clone(), c.topic.clone(), c.partition, latency)),
            );
            let mut written = self.written.borrow_mut();
            for c in chunk {
                written.insert(
                    (c.group.clone(), c.topic.clone(), c.partition),
                    (c.upstream_offset, c.downstream_offset),
                );
            }
        }
        Ok((changed.len(), checkpoints))
    }
}

impl Checkpointer {
    /// The latencies of the checkpoints written since the last call.
    pub fn take_latencies(&self) -> Vec<(String, String, i32, u64)> {
        std::mem::take(&mut *self.latencies.borrow_mut())
    }
}

/// The checkpoints of every selected group as of now.
pub async fn current(
    plan: &FlowPlan,
    source: &ClusterClient,
    syncs: &OffsetSyncs,
) -> Result<Vec<Checkpoint>, ClientError> {
    let mut out = Vec::new();
    let mut oldest: HashMap<(String, i32), i64> = HashMap::new();
    for group in admin::list_groups(source).await? {
        // kmirror's own groups (progress, fleets) are not consumers.
        if !plan.groups.matches(&group.group_id)
            || group.group_id.starts_with("kmirror.progress.")
            || group.protocol_type == kmirror_proto::fleet::PROTOCOL_TYPE
        {
            continue;
        }
        let coordinator = admin::group_coordinator(source, &group.group_id).await?;
        for (topic, partition, offset, metadata) in
            admin::group_offsets(source, &coordinator, &group.group_id).await?
        {
            if !plan.topics.matches(&topic) {
                continue;
            }
            let o = oldest.entry((topic.clone(), partition)).or_insert(offset);
            *o = (*o).min(offset);
            if let Some(downstream) = syncs.translate(&topic, partition, offset).safe_offset() {
                out.push(Checkpoint {
                    group: group.group_id.clone(),
                    topic: plan
                        .policy
                        .format_remote_topic(&plan.source.cluster, &topic),
                    partition,
                    upstream_offset: offset,
                    downstream_offset: downstream,
                    metadata: metadata.unwrap_or_default(),
                });
            }
        }
    }
    for ((topic, partition), offset) in oldest {
        syncs.forget_below(&topic, partition, offset);
    }
    Ok(out)
}
