//! The mirror's position per partition, kept on the target cluster as the
//! committed offsets of a memberless consumer group (one per flow): the
//! group's offset for target partition p is the next *source* offset to
//! mirror into it, and the commit's metadata names the source topic.
//!
//! Every method takes `&self` and holds no borrow across an await, so the
//! flow's task and the shutdown's last commit can share one store.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use crate::client::admin;
use crate::client::{ClientError, ClusterClient, Conn};
use crate::mirror::messages::Progress;

/// (target topic, partition) -> (source topic, next source offset).
type Positions = HashMap<(String, i32), (String, i64)>;

/// The latest reported positions of a flow's partitions, filled from
/// worker reports and read by commits.
#[derive(Clone, Default)]
pub struct LatestProgress(Rc<RefCell<Positions>>);

impl LatestProgress {
    pub fn record(&self, p: &Progress) {
        self.0.borrow_mut().insert(
            (p.target_topic.clone(), p.partition),
            (p.source_topic.clone(), p.next_offset),
        );
    }
}

pub struct ProgressStore {
    group: String,
    coordinator: RefCell<Option<Conn>>,
    latest: LatestProgress,
    committed: RefCell<HashMap<(String, i32), i64>>,
}

impl ProgressStore {
    pub fn new(group: String, latest: LatestProgress) -> ProgressStore {
        ProgressStore {
            group,
            coordinator: RefCell::new(None),
            latest,
            committed: RefCell::new(HashMap::new()),
        }
    }

    pub fn group(&self) -> &str {
        &self.group
    }

    async fn coordinator(&self, target: &ClusterClient) -> Result<Conn, ClientError> {
        let cached = self.coordinator.borrow().clone();
        if let Some(c) = cached {
            if !c.is_closed() {
                return Ok(c);
            }
        }
        let c = admin::group_coordinator(target, &self.group).await?;
        *self.coordinator.borrow_mut() = Some(c.clone());
        Ok(c)
    }

    /// Committed positions for target partitions.
    pub async fn load(
        &self,
        target: &ClusterClient,
        topics: &[(String, Vec<i32>)],
    ) -> Result<HashMap<(String, i32), i64>, ClientError> {
        let coord = self.coordinator(target).await?;
        let res = admin::fetch_offsets(target, &coord, &self.group, topics).await;
        if res.is_err() {
            *self.coordinator.borrow_mut() = None;
        }
        let got = res?;
        let mut committed = self.committed.borrow_mut();
        for (k, v) in &got {
            committed.insert(k.clone(), *v);
        }
        Ok(got)
    }

    /// Commits positions that moved since the last commit, in requests of
    /// at most [`COMMIT_CHUNK`] partitions.
    pub async fn commit(&self, target: &ClusterClient) -> Result<usize, ClientError> {
        let changed: Vec<(String, i32, i64, String)> = {
            let committed = self.committed.borrow();
            self.latest
                .0
                .borrow()
                .iter()
                .filter(|(k, (_, off))| committed.get(*k) != Some(off))
                .map(|((t, p), (src, off))| {
                    (t.clone(), *p, *off, format!("kmirror source topic {src}"))
                })
                .collect()
        };
        if changed.is_empty() {
            return Ok(0);
        }
        let coord = self.coordinator(target).await?;
        for chunk in changed.chunks(COMMIT_CHUNK) {
            if let Err(e) = admin::commit_offsets(target, &coord, &self.group, chunk).await {
                *self.coordinator.borrow_mut() = None;
                return Err(e);
            }
            let mut committed = self.committed.borrow_mut();
            for (t, p, off, _) in chunk {
                committed.insert((t.clone(), *p), *off);
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
