//! A flow's offset syncs: the points of every mirrored partition's offset
//! map, kept whole on the control thread and written as MirrorMaker 2
//! offset sync records to `mm2-offset-syncs.<target>.internal` (on the
//! source cluster unless `offset-syncs.topic.location = target`). A point
//! is written wherever a partition's target-minus-source difference
//! changes, so the syncs alone define the map exactly (see [`super::map`]).
//!
//! Syncs are written before the progress commit that covers them, so a
//! committed position never runs ahead of the syncs that describe it.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;

use bytes::Bytes;
use kmirror_proto::mm2::OffsetSync;

use crate::client::small_topic;
use crate::client::{ClientError, ClusterClient};
use crate::mirror::messages::{MapPoints, Progress};
use crate::offsets::map::{PartitionMap, Translation};
use crate::plan::SyncsTopic;

/// Records per write.
const SYNCS_PER_WRITE: usize = 2000;
/// Points a partition's map keeps before it forgets those no selected
/// group needs (a transactional source adds one per transaction).
const POINTS_KEPT: usize = 10_000;
/// The most points a partition's map holds: past it the oldest half goes,
/// and groups committed before what is left are translated from the syncs
/// topic after a restart, or not at all.
const POINTS_MAX: usize = 1_000_000;

pub struct OffsetSyncs {
    flow: String,
    topic: Option<SyncsTopic>,
    created: Cell<bool>,
    /// Set after a write failure that retrying cannot fix.
    given_up: RefCell<Option<String>>,
    maps: RefCell<HashMap<(String, i32), PartitionMap>>,
    unwritten: RefCell<Vec<OffsetSync>>,
    /// One write at a time: the flow's commits and a fleet release both
    /// flush, and each write takes the oldest unwritten syncs.
    writing: tokio::sync::Mutex<()>,
}

impl OffsetSyncs {
    /// `topic` is `None` when `emit.offset-syncs.enabled = false`: the map
    /// is still kept (for checkpoints), nothing is written.
    pub fn new(flow: String, topic: Option<SyncsTopic>) -> OffsetSyncs {
        OffsetSyncs {
            flow,
            topic,
            created: Cell::new(false),
            given_up: RefCell::new(None),
            maps: RefCell::new(HashMap::new()),
            unwritten: RefCell::new(Vec::new()),
            writing: tokio::sync::Mutex::new(()),
        }
    }

    /// New points from a worker's report.
    pub fn record_points(&self, points: &MapPoints) {
        let mut maps = self.maps.borrow_mut();
        let map = maps
            .entry((points.source_topic.clone(), points.partition))
            .or_default();
        let mut unwritten = self.unwritten.borrow_mut();
        if map.len() + points.points.len() > POINTS_MAX {
            tracing::warn!(
                flow = %self.flow,
                topic = %points.source_topic,
                partition = points.partition,
                "the offset map holds {POINTS_MAX} points; the oldest half is forgotten (groups committed before them are not checkpointed until a restart reads them back from the offset syncs)"
            );
            map.forget_oldest(map.len() / 2);
        }
        for p in &points.points {
            map.restore(*p);
            if self.topic.is_some() && self.given_up.borrow().is_none() {
                unwritten.push(OffsetSync {
                    topic: points.source_topic.clone(),
                    partition: points.partition,
                    upstream_offset: p.upstream,
                    downstream_offset: p.downstream,
                });
            }
        }
    }

    /// Maps read back from the syncs topic at start-up (before any worker
    /// reports): partitions the workers already reported keep theirs.
    pub fn load(&self, maps: HashMap<(String, i32), PartitionMap>) {
        let mut mine = self.maps.borrow_mut();
        for (key, map) in maps {
            mine.entry(key).or_insert(map);
        }
    }

    /// Takes the maps read from the offset syncs topic in place of those
    /// held, except for the partitions `keep` names (mirrored here, where
    /// the reported map is newer).
    pub fn replace_unless(
        &self,
        maps: HashMap<(String, i32), PartitionMap>,
        keep: impl Fn(&(String, i32)) -> bool,
    ) {
        let mut mine = self.maps.borrow_mut();
        for (key, mut map) in maps {
            if keep(&key) {
                continue;
            }
            // Where kmirror took over from MirrorMaker 2 is not in the
            // syncs: it stays.
            if let Some(at) = mine.get(&key).and_then(PartitionMap::approximate_from) {
                map.approximate_below(at);
            }
            mine.insert(key, map);
        }
    }

    /// kmirror took `source_topic`'s `partition` over from MirrorMaker 2 at
    /// source offset `upstream`; see [`PartitionMap::approximate_below`].
    pub fn approximate_below(&self, source_topic: &str, partition: i32, upstream: i64) {
        self.maps
            .borrow_mut()
            .entry((source_topic.to_string(), partition))
            .or_default()
            .approximate_below(upstream);
    }

    /// A partition's reported position.
    pub fn record_progress(&self, progress: &Progress) {
        if let Some(end) = progress.map_end {
            self.maps
                .borrow_mut()
                .entry((progress.source_topic.clone(), progress.partition))
                .or_default()
                .set_end(end);
        }
    }

    /// Forgets the points of a long map that no offset at or above
    /// `oldest_needed` (the oldest committed offset of the selected groups)
    /// needs.
    pub fn forget_below(&self, source_topic: &str, partition: i32, oldest_needed: i64) {
        if let Some(map) = self
            .maps
            .borrow_mut()
            .get_mut(&(source_topic.to_string(), partition))
        {
            if map.len() > POINTS_KEPT {
                map.forget_below(oldest_needed);
            }
        }
    }

    /// Where `offset` of the source partition resumes on the target.
    pub fn translate(&self, source_topic: &str, partition: i32, offset: i64) -> Translation {
        self.maps
            .borrow()
            .get(&(source_topic.to_string(), partition))
            .map_or(Translation::Unknown, |m| m.translate(offset))
    }

    /// Writes the syncs not written yet to the cluster that holds the
    /// topic (`source` or `target`), creating the topic on first use.
    pub async fn flush(
        &self,
        source: &ClusterClient,
        target: &ClusterClient,
    ) -> Result<usize, ClientError> {
        let Some(topic) = &self.topic else {
            return Ok(0);
        };
        if self.given_up.borrow().is_some() || self.unwritten.borrow().is_empty() {
            return Ok(0);
        }
        let _writing = self.writing.lock().await;
        if self.unwritten.borrow().is_empty() {
            return Ok(0); // written meanwhile
        }
        let cluster = if topic.on_target { target } else { source };
        if !self.created.get() {
            match small_topic::create_compacted(cluster, &topic.name, topic.replication_factor)
                .await
            {
                Ok(new) => {
                    if new {
                        tracing::info!(flow = %self.flow, cluster = cluster.name(), topic = %topic.name, "created the offset syncs topic");
                    }
                    self.created.set(true);
                }
                Err(e) if small_topic::retry_cannot_fix(&e) => {
                    self.give_up(cluster, topic, &e);
                    return Err(e);
                }
                Err(e) => return Err(e),
            }
        }
        let batch: Vec<OffsetSync> = {
            let unwritten = self.unwritten.borrow();
            unwritten.iter().take(SYNCS_PER_WRITE).cloned().collect()
        };
        let records = batch
            .iter()
            .map(|s| Ok((s.key()?, s.value())))
            .collect::<Result<Vec<(Bytes, Bytes)>, kmirror_proto::ProtoError>>()
            .map_err(|e| ClientError::Other {
                cluster: cluster.name().to_string(),
                reason: format!("offset sync: {e}"),
            })?;
        match small_topic::append(cluster, &topic.name, 0, &records, small_topic::now_ms()).await {
            Ok(_) => {
                let mut unwritten = self.unwritten.borrow_mut();
                let n = batch.len().min(unwritten.len());
                unwritten.drain(..n);
                Ok(batch.len())
            }
            Err(e) => {
                if small_topic::retry_cannot_fix(&e) {
                    self.give_up(cluster, topic, &e);
                }
                Err(e)
            }
        }
    }

    /// Whether syncs wait to be written.
    pub fn has_unwritten(&self) -> bool {
        self.given_up.borrow().is_none() && !self.unwritten.borrow().is_empty()
    }

    fn give_up(&self, cluster: &ClusterClient, topic: &SyncsTopic, e: &ClientError) {
        let reason = format!(
            "offset syncs are not written for {}: {} on cluster {} failed: {e}; check offset-syncs.topic.replication.factor, offset-syncs.topic.location and kmirror's ACLs (Create and Write on that topic), or set emit.offset-syncs.enabled = false",
            self.flow,
            topic.name,
            cluster.name()
        );
        tracing::error!("{reason}");
        self.unwritten.borrow_mut().clear();
        *self.given_up.borrow_mut() = Some(reason);
    }

    /// Why syncs are no longer written, if they are not.
    pub fn given_up(&self) -> Option<String> {
        self.given_up.borrow().clone()
    }
}
