//! The mirror's position per partition, kept on the target cluster as the
//! committed offsets of a memberless consumer group (one per flow): the
//! group's offset for target partition p is the next *source* offset to
//! mirror into it, and the commit's metadata names the source topic.
//!
//! Every method takes `&self` and holds no borrow across an await, so the
//! flow's task and the shutdown's last commit can share one store.
//!
//! A commit's metadata is a [`CommitNote`]: the source topic, in
//! exactly-once mode how many workers' transactional ids a restart must
//! fence, and where kmirror took the partition over from MirrorMaker 2.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::rc::Rc;

use crate::client::admin;
use crate::client::{ClientError, ClusterClient, Conn};
use crate::mirror::messages::Progress;

/// What a progress commit's metadata records beside the position, as
/// `kmirror source topic T[; transactional workers N][; MirrorMaker 2 below O]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommitNote {
    pub source_topic: String,
    /// Exactly-once mode: the workers whose transactional ids a restart
    /// must fence.
    pub transactional_workers: Option<usize>,
    /// Exactly-once mode in a fleet: the members whose workers' ids a
    /// restart must fence (each with up to `transactional_workers`).
    pub transactional_members: Option<usize>,
    /// kmirror took the partition over from MirrorMaker 2 at this source
    /// offset: the offset syncs below it are MirrorMaker 2's.
    pub mm2_below: Option<i64>,
}

const NOTE_PREFIX: &str = "kmirror source topic ";
const NOTE_WORKERS: &str = "transactional workers ";
const NOTE_MM2: &str = "MirrorMaker 2 below ";
const NOTE_MEMBERS: &str = "transactional members ";

impl CommitNote {
    pub fn render(&self) -> String {
        let mut out = format!("{NOTE_PREFIX}{}", self.source_topic);
        if let Some(n) = self.transactional_workers {
            out.push_str(&format!("; {NOTE_WORKERS}{n}"));
        }
        if let Some(o) = self.mm2_below {
            out.push_str(&format!("; {NOTE_MM2}{o}"));
        }
        if let Some(m) = self.transactional_members.filter(|m| *m > 1) {
            out.push_str(&format!("; {NOTE_MEMBERS}{m}"));
        }
        out
    }

    /// The note in a commit's metadata; `None` when kmirror did not write
    /// it. Parts it does not know are passed over (a later version's).
    pub fn parse(metadata: &str) -> Option<CommitNote> {
        let mut parts = metadata.strip_prefix(NOTE_PREFIX)?.split("; ");
        let mut note = CommitNote {
            source_topic: parts.next()?.trim().to_string(),
            ..CommitNote::default()
        };
        for part in parts {
            if let Some(n) = part.strip_prefix(NOTE_WORKERS) {
                note.transactional_workers = n.trim().parse().ok();
            } else if let Some(o) = part.strip_prefix(NOTE_MM2) {
                note.mm2_below = o.trim().parse().ok();
            } else if let Some(m) = part.strip_prefix(NOTE_MEMBERS) {
                note.transactional_members = m.trim().parse().ok();
            }
        }
        Some(note)
    }
}

/// A partition's committed position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Committed {
    /// The next source offset to mirror.
    pub next: i64,
    /// See [`CommitNote::mm2_below`].
    pub mm2_below: Option<i64>,
}

/// (target topic, partition) -> (source topic, next source offset).
type Positions = HashMap<(String, i32), (String, i64)>;
/// (source topic, partition) of the partitions this instance owns.
type Owned = HashSet<(String, i32)>;

/// The latest reported positions of a flow's partitions, filled from
/// worker reports and read by commits.
#[derive(Clone, Default)]
pub struct LatestProgress {
    positions: Rc<RefCell<Positions>>,
    /// In a fleet: the (source topic, partition) this instance owns; a late
    /// report about another is not recorded (its owner commits it).
    only: Rc<RefCell<Option<Owned>>>,
}

impl LatestProgress {
    pub fn record(&self, p: &Progress) {
        if let Some(only) = &*self.only.borrow() {
            if !only.contains(&(p.source_topic.clone(), p.partition)) {
                return;
            }
        }
        self.positions.borrow_mut().insert(
            (p.target_topic.clone(), p.partition),
            (p.source_topic.clone(), p.next_offset),
        );
    }

    /// Records only these (source topic, partition) from now; `None`: all.
    pub fn restrict(&self, only: Option<Owned>) {
        *self.only.borrow_mut() = only;
    }
}

pub struct ProgressStore {
    group: String,
    coordinator: RefCell<Option<Conn>>,
    latest: LatestProgress,
    committed: RefCell<HashMap<(String, i32), i64>>,
    /// (target topic, partition) -> where kmirror took it over from
    /// MirrorMaker 2, kept in every commit's note.
    mm2_below: RefCell<HashMap<(String, i32), i64>>,
}

impl ProgressStore {
    pub fn new(group: String, latest: LatestProgress) -> ProgressStore {
        ProgressStore {
            group,
            coordinator: RefCell::new(None),
            latest,
            committed: RefCell::new(HashMap::new()),
            mm2_below: RefCell::new(HashMap::new()),
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
    ) -> Result<HashMap<(String, i32), Committed>, ClientError> {
        let coord = self.coordinator(target).await?;
        let res = admin::fetch_offsets(target, &coord, &self.group, topics).await;
        if res.is_err() {
            *self.coordinator.borrow_mut() = None;
        }
        let mut out = HashMap::new();
        let mut committed = self.committed.borrow_mut();
        for (k, (next, metadata)) in res? {
            let mm2_below = metadata
                .as_deref()
                .and_then(CommitNote::parse)
                .and_then(|n| n.mm2_below);
            if let Some(o) = mm2_below {
                self.mm2_below.borrow_mut().insert(k.clone(), o);
            }
            committed.insert(k.clone(), next);
            out.insert(k, Committed { next, mm2_below });
        }
        Ok(out)
    }

    /// kmirror took `target_topic`'s `partition` over from MirrorMaker 2
    /// at source offset `at`: recorded in the partition's commits from now.
    pub fn took_over_at(&self, target_topic: &str, partition: i32, at: i64) {
        self.mm2_below
            .borrow_mut()
            .insert((target_topic.to_string(), partition), at);
    }

    /// Forgets every position: the partitions went back to the fleet, and
    /// whoever owns them next commits them.
    pub fn forget_all(&self) {
        self.latest.positions.borrow_mut().clear();
        self.committed.borrow_mut().clear();
        self.mm2_below.borrow_mut().clear();
    }

    /// Commits positions that moved since the last commit, in requests of
    /// at most [`COMMIT_CHUNK`] partitions.
    pub async fn commit(&self, target: &ClusterClient) -> Result<usize, ClientError> {
        let changed: Vec<(String, i32, i64, String)> = {
            let committed = self.committed.borrow();
            let mm2_below = self.mm2_below.borrow();
            self.latest
                .positions
                .borrow()
                .iter()
                .filter(|(k, (_, off))| committed.get(*k) != Some(off))
                .map(|(k, (src, off))| {
                    let note = CommitNote {
                        source_topic: src.clone(),
                        transactional_workers: None,
                        transactional_members: None,
                        mm2_below: mm2_below.get(k).copied(),
                    };
                    (k.0.clone(), k.1, *off, note.render())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_notes_read_back_what_they_wrote() {
        let full = CommitNote {
            source_topic: "orders".into(),
            transactional_workers: Some(4),
            transactional_members: Some(3),
            mm2_below: Some(1234),
        };
        assert_eq!(
            full.render(),
            "kmirror source topic orders; transactional workers 4; MirrorMaker 2 below 1234; transactional members 3"
        );
        assert_eq!(CommitNote::parse(&full.render()), Some(full));
        let plain = CommitNote::parse("kmirror source topic orders").unwrap();
        assert_eq!(plain.source_topic, "orders");
        assert_eq!((plain.transactional_workers, plain.mm2_below), (None, None));
        let old = CommitNote::parse("kmirror source topic orders; transactional workers 2");
        assert_eq!(old.unwrap().transactional_workers, Some(2));
        assert_eq!(CommitNote::parse("written by someone else"), None);
    }
}
