//! The mirror's position per partition, kept on the target cluster as the
//! committed offsets of a memberless consumer group (one per flow): the
//! group's offset for target partition p is the next *source* offset to
//! mirror into it, and the commit's metadata names the source topic.

use std::collections::HashMap;

use crate::client::admin;
use crate::client::{ClientError, ClusterClient, Conn};
use crate::mirror::messages::Progress;

pub struct ProgressStore {
    group: String,
    coordinator: Option<Conn>,
    latest: HashMap<(String, i32), (String, i64)>,
    committed: HashMap<(String, i32), i64>,
}

impl ProgressStore {
    pub fn new(group: String) -> ProgressStore {
        ProgressStore {
            group,
            coordinator: None,
            latest: HashMap::new(),
            committed: HashMap::new(),
        }
    }

    pub fn group(&self) -> &str {
        &self.group
    }

    async fn coordinator(&mut self, target: &ClusterClient) -> Result<Conn, ClientError> {
        if let Some(c) = &self.coordinator {
            if !c.is_closed() {
                return Ok(c.clone());
            }
        }
        let c = admin::group_coordinator(target, &self.group).await?;
        self.coordinator = Some(c.clone());
        Ok(c)
    }

    /// Committed positions for target partitions.
    pub async fn load(
        &mut self,
        target: &ClusterClient,
        topics: &[(String, Vec<i32>)],
    ) -> Result<HashMap<(String, i32), i64>, ClientError> {
        let coord = self.coordinator(target).await?;
        let res = admin::fetch_offsets(target, &coord, &self.group, topics).await;
        if res.is_err() {
            self.coordinator = None;
        }
        let got = res?;
        for (k, v) in &got {
            self.committed.insert(k.clone(), *v);
        }
        Ok(got)
    }

    pub fn record(&mut self, p: &Progress) {
        self.latest.insert(
            (p.target_topic.clone(), p.partition),
            (p.source_topic.clone(), p.next_offset),
        );
    }

    /// Commits positions that moved since the last commit, in requests of
    /// at most [`COMMIT_CHUNK`] partitions.
    pub async fn commit(&mut self, target: &ClusterClient) -> Result<usize, ClientError> {
        let changed: Vec<(String, i32, i64, String)> = self
            .latest
            .iter()
            .filter(|(k, (_, off))| self.committed.get(*k) != Some(off))
            .map(|((t, p), (src, off))| {
                (t.clone(), *p, *off, format!("kmirror source topic {src}"))
            })
            .collect();
        if changed.is_empty() {
            return Ok(0);
        }
        let coord = self.coordinator(target).await?;
        for chunk in changed.chunks(COMMIT_CHUNK) {
            if let Err(e) = admin::commit_offsets(target, &coord, &self.group, chunk).await {
                self.coordinator = None;
                return Err(e);
            }
            for (t, p, off, _) in chunk {
                self.committed.insert((t.clone(), *p), *off);
            }
        }
        Ok(changed.len())
    }
}

/// Partitions per OffsetCommit: the coordinator writes one request's
/// offsets as one batch to `__consumer_offsets`, which refuses a batch over
/// its `max.message.bytes` (1 MiB by default); 10,000 partitions in one
/// commit are over it, 1,000 are far under.
const COMMIT_CHUNK: usize = 1000;
