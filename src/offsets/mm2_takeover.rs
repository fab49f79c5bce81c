//! Taking over from MirrorMaker 2: where its source connector stopped, per
//! partition, read from Kafka Connect's offsets topic on the target
//! (`mm2-offsets.<source>.internal` unless `offset.storage.topic` says
//! otherwise).
//!
//! Connect keeps a source task's positions in that compacted topic, keyed
//! by the connector's name and the task's source partition, both as plain
//! JSON (its internal converter has schemas off):
//!
//! - key: `["MirrorSourceConnector",{"cluster":"A","topic":"orders","partition":3}]`
//! - value: `{"offset":1234}`, the source offset of the last record the
//!   connector's producer had acknowledged at its last offset flush; a
//!   null value (a tombstone) forgets the partition's position.
//!
//! MirrorMaker 2 resumes a partition at that offset plus one, and so does
//! kmirror. The latest record of a key wins; a key always lands in the
//! same partition of the topic, so reading each partition in order is
//! enough. MirrorMaker 2's checkpoint and heartbeat connectors keep their
//! own positions in the same topic under other keys; they are passed over.

use std::collections::HashMap;

use serde_json::Value;

use crate::client::small_topic;
use crate::client::{ClientError, ClusterClient};

/// (source topic, partition) -> the next source offset to mirror.
pub type Positions = HashMap<(String, i32), i64>;

/// One record of the offsets topic, read as a source connector position.
#[derive(Debug, PartialEq, Eq)]
pub struct Entry {
    pub connector: String,
    pub topic: String,
    pub partition: i32,
    /// The next source offset to mirror; `None` for a tombstone or a
    /// position that says nothing was mirrored (MirrorMaker 2 writes -1
    /// for an offset reset).
    pub next: Option<i64>,
}

/// The positions MirrorMaker 2 kept for the flow from `source_alias`, read
/// from `topic` on the target; `None` when the topic does not exist.
pub async fn read(
    target: &ClusterClient,
    topic: &str,
    source_alias: &str,
) -> Result<Option<Positions>, ClientError> {
    let meta = target.metadata(Some(&[topic.to_string()])).await?;
    let Some(found) = meta.iter().find(|t| t.name == topic) else {
        return Ok(None);
    };
    if found.error.is_authorization_error() {
        return Err(ClientError::Kafka {
            cluster: target.name().to_string(),
            what: format!("describing MirrorMaker 2's offsets topic {topic}"),
            code: found.error,
            message: None,
        });
    }
    if !found.error.is_ok() {
        return Ok(None); // unknown topic: MirrorMaker 2 never ran here
    }
    // (connector, topic, partition) -> next; several connector names
    // (renamed connectors) are folded together below.
    let mut latest: HashMap<(String, String, i32), Option<i64>> = HashMap::new();
    for p in &found.partitions {
        for record in small_topic::read_all(target, topic, p.partition).await? {
            let Some(key) = record.key else { continue };
            if let Some(e) = parse(&key, record.value.as_deref(), source_alias) {
                latest.insert((e.connector, e.topic, e.partition), e.next);
            }
        }
    }
    let mut out = Positions::new();
    for ((_, topic, partition), next) in latest {
        if let Some(next) = next {
            let at = out.entry((topic, partition)).or_insert(next);
            *at = (*at).max(next);
        }
    }
    Ok(Some(out))
}

/// Where a partition starts: kmirror's committed position or MirrorMaker
/// 2's, whichever is further on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Start {
    /// `None` starts from the earliest offset.
    pub offset: Option<i64>,
    /// Where kmirror took the partition over from MirrorMaker 2 (now or in
    /// an earlier run).
    pub mm2_below: Option<i64>,
    /// MirrorMaker 2's position was taken now.
    pub taken_over: bool,
}

/// The start of a partition with kmirror's committed position `ours` (and
/// the takeover point that commit recorded) and MirrorMaker 2's `theirs`.
pub fn start(ours: Option<(i64, Option<i64>)>, theirs: Option<i64>) -> Start {
    let (offset, mm2_below) = (ours.map(|o| o.0), ours.and_then(|o| o.1));
    match theirs {
        Some(t) if offset.is_none_or(|o| t > o) => Start {
            offset: Some(t),
            mm2_below: Some(t),
            taken_over: true,
        },
        _ => Start {
            offset,
            mm2_below,
            taken_over: false,
        },
    }
}

/// A record of the offsets topic as a MirrorMaker 2 source position of the
/// flow from `source_alias`; `None` for any other record.
pub fn parse(key: &[u8], value: Option<&[u8]>, source_alias: &str) -> Option<Entry> {
    let key: Value = serde_json::from_slice(key).ok()?;
    let [connector, partition] = key.as_array()?.as_slice() else {
        return None;
    };
    let partition = partition.as_object()?;
    // Checkpoint positions carry a group; heartbeat ones no cluster.
    if partition.contains_key("group") || partition.get("cluster")?.as_str()? != source_alias {
        return None;
    }
    let next = match value {
        None => None,
        Some(v) => {
            let v: Value = serde_json::from_slice(v).ok()?;
            let offset = v.as_object()?.get("offset")?.as_i64()?;
            (offset >= 0).then(|| offset.checked_add(1)).flatten()
        }
    };
    Some(Entry {
        connector: connector.as_str()?.to_string(),
        topic: partition.get("topic")?.as_str()?.to_string(),
        partition: i32::try_from(partition.get("partition")?.as_i64()?).ok()?,
        next,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = r#"["MirrorSourceConnector",{"cluster":"A","partition":3,"topic":"orders"}]"#;

    #[test]
    fn a_source_position_resumes_after_its_offset() {
        let e = parse(KEY.as_bytes(), Some(br#"{"offset":1234}"#), "A").unwrap();
        assert_eq!(
            e,
            Entry {
                connector: "MirrorSourceConnector".into(),
                topic: "orders".into(),
                partition: 3,
                next: Some(1235),
            }
        );
    }

    #[test]
    fn the_further_position_wins() {
        let taken = |o| Start {
            offset: Some(o),
            mm2_below: Some(o),
            taken_over: true,
        };
        assert_eq!(start(None, Some(10)), taken(10));
        assert_eq!(start(Some((5, None)), Some(10)), taken(10));
        let ours = Start {
            offset: Some(10),
            mm2_below: Some(3),
            taken_over: false,
        };
        assert_eq!(start(Some((10, Some(3))), Some(10)), ours);
        assert_eq!(start(Some((10, Some(3))), Some(4)), ours);
        assert_eq!(start(Some((10, Some(3))), None), ours);
        let fresh = Start {
            offset: None,
            mm2_below: None,
            taken_over: false,
        };
        assert_eq!(start(None, None), fresh);
    }

    #[test]
    fn tombstones_and_resets_forget_the_position() {
        assert_eq!(parse(KEY.as_bytes(), None, "A").unwrap().next, None);
        let reset = parse(KEY.as_bytes(), Some(br#"{"offset":-1}"#), "A").unwrap();
        assert_eq!(reset.next, None);
    }

    #[test]
    fn other_flows_and_connectors_are_passed_over() {
        assert_eq!(parse(KEY.as_bytes(), Some(br#"{"offset":1}"#), "B"), None);
        let checkpoint =
            br#"["MirrorCheckpointConnector",{"group":"g","topic":"orders","partition":0}]"#;
        assert_eq!(parse(checkpoint, Some(br#"{"offset":0}"#), "A"), None);
        let heartbeat =
            br#"["MirrorHeartbeatConnector",{"sourceClusterAlias":"A","targetClusterAlias":"B"}]"#;
        assert_eq!(parse(heartbeat, Some(br#"{"offset":0}"#), "A"), None);
        assert_eq!(parse(b"not json", Some(b"{}"), "A"), None);
        assert_eq!(parse(KEY.as_bytes(), Some(b"[1]"), "A"), None);
        let huge =
            r#"["MirrorSourceConnector",{"cluster":"A","partition":4294967296,"topic":"t"}]"#;
        assert_eq!(parse(huge.as_bytes(), Some(br#"{"offset":1}"#), "A"), None);
    }
}
