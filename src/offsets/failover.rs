//! Moving a consumer group to the target cluster: `kmirror failover` and
//! `sync.group.offsets.enabled`. Both place the group at the downstream
//! offsets of its latest checkpoints (exact, see [`super::map`]), never
//! move a committed offset backwards, and leave a group with active members
//! on the target alone. `kmirror failover` reads only the target cluster,
//! so it works with the source cluster down.

use std::collections::{BTreeMap, HashMap};

use kmirror_proto::mm2::Checkpoint;

use crate::client::admin::{self, ListedGroup};
use crate::client::small_topic;
use crate::client::{ClientError, ClusterClient};

/// One partition of a group being moved.
#[derive(Debug, Clone)]
pub struct Move {
    pub target_topic: String,
    pub partition: i32,
    /// The source offset of the checkpoint used, if one.
    pub upstream: Option<i64>,
    /// The group's committed offset on the target before.
    pub before: Option<i64>,
    /// Where the group is placed (`None`: left as it is).
    pub after: Option<i64>,
    pub how: String,
}

/// The latest checkpoint of every (group, topic, partition) in `topic` on
/// `target`.
pub async fn latest_checkpoints(
    target: &ClusterClient,
    topic: &str,
) -> Result<HashMap<(String, String, i32), Checkpoint>, ClientError> {
    let mut out = HashMap::new();
    if !small_topic::exists(target, topic).await? {
        return Ok(out); // no checkpoints written yet
    }
    for record in small_topic::read_all(target, topic, 0).await? {
        let (Some(k), Some(v)) = (record.key, record.value) else {
            continue;
        };
        match Checkpoint::decode(k, v) {
            Ok(c) => {
                out.insert((c.group.clone(), c.topic.clone(), c.partition), c);
            }
            Err(e) => tracing::warn!(
                topic,
                offset = record.offset,
                "not a checkpoint, passed over: {e}"
            ),
        }
    }
    Ok(out)
}

/// The state of `group` on `cluster`: `None` when the cluster has no such
/// group.
pub async fn group_state(
    cluster: &ClusterClient,
    group: &str,
) -> Result<Option<ListedGroup>, ClientError> {
    Ok(admin::list_groups(cluster)
        .await?
        .into_iter()
        .find(|g| g.group_id == group))
}

/// Refuses a group with active members (or of unknown state).
pub fn check_inactive(
    cluster: &ClusterClient,
    group: &str,
    state: &Option<ListedGroup>,
) -> Result<(), String> {
    match state {
        None => Ok(()),
        Some(g) => match g.is_inactive() {
            Some(true) => Ok(()),
            Some(false) => Err(format!(
                "group '{group}' has active members on cluster {} (state {}): stop its consumers there first",
                cluster.name(),
                g.state.as_deref().unwrap_or("?")
            )),
            None => Err(format!(
                "cluster {} does not report the state of group '{group}' (ListGroups before v4)",
                cluster.name()
            )),
        },
    }
}

/// Where `group` goes: per partition with a checkpoint, its downstream
/// offset, unless the group is already there or further; partitions of
/// `extra` (target topic, partition)s without a checkpoint are placed by
/// timestamp `to_time` (ms) when given.
pub async fn plan_moves(
    target: &ClusterClient,
    checkpoints: &HashMap<(String, String, i32), Checkpoint>,
    group: &str,
    extra: &[(String, i32)],
    to_time: Option<i64>,
) -> Result<Vec<Move>, ClientError> {
    let before: HashMap<(String, i32), i64> = admin::group_offsets_patiently(target, group)
        .await?
        .into_iter()
        .map(|(t, p, o, _)| ((t, p), o))
        .collect();
    let mut wanted: BTreeMap<(String, i32), Option<&Checkpoint>> = BTreeMap::new();
    for ((g, topic, partition), c) in checkpoints {
        if g == group {
            wanted.insert((topic.clone(), *partition), Some(c));
        }
    }
    for key in extra {
        wanted.entry(key.clone()).or_insert(None);
    }
    let mut moves = Vec::new();
    for ((topic, partition), checkpoint) in wanted {
        let current = before.get(&(topic.clone(), partition)).copied();
        let (upstream, proposal, how) = match (checkpoint, to_time) {
            (Some(c), _) => (
                Some(c.upstream_offset),
                Some(c.downstream_offset),
                "checkpoint".to_string(),
            ),
            (None, Some(ts)) => match offset_at(target, &topic, partition, ts).await? {
                Some(o) => (None, Some(o), format!("timestamp {ts}")),
                // No record at or after the time: the partition's end.
                None => (
                    None,
                    Some(
                        offset_at(target, &topic, partition, admin::LATEST)
                            .await?
                            .unwrap_or(0),
                    ),
                    format!("timestamp {ts} (past the last record: the end)"),
                ),
            },
            (None, None) => (
                None,
                None,
                "no checkpoint (give --to-time to place it)".to_string(),
            ),
        };
        let (after, how) = match (proposal, current) {
            (Some(p), Some(c)) if c >= p => {
                (None, format!("kept: already at {c}, not moved back to {p}"))
            }
            (p, _) => (p, how),
        };
        moves.push(Move {
            target_topic: topic,
            partition,
            upstream,
            before: current,
            after,
            how,
        });
    }
    Ok(moves)
}

/// ListOffsets of one partition at `at` (a time, or LATEST), read
/// committed, asked again while the broker answers with a retriable error
/// (an offset not available yet, a leader moving); `None` when no record is
/// at or after the time. Other errors are errors, never taken for "none".
async fn offset_at(
    target: &ClusterClient,
    topic: &str,
    partition: i32,
    at: i64,
) -> Result<Option<i64>, ClientError> {
    admin::patiently(|| async {
        let conn = small_topic::leader(target, topic, partition).await?;
        match admin::list_offsets(&conn, topic, &[partition], at, true)
            .await?
            .first()
        {
            Some((_, Ok(o))) => Ok((*o >= 0).then_some(*o)),
            Some((_, Err(code))) => Err(ClientError::Kafka {
                cluster: target.name().to_string(),
                what: format!("listing offsets of {topic}[{partition}] at {at}"),
                code: *code,
                message: None,
            }),
            None => Ok(None),
        }
    })
    .await
}

/// Commits the moves that place a partition.
pub async fn apply(
    target: &ClusterClient,
    group: &str,
    moves: &[Move],
) -> Result<usize, ClientError> {
    let commits: Vec<(String, i32, i64, String)> = moves
        .iter()
        .filter_map(|m| {
            m.after
                .map(|o| (m.target_topic.clone(), m.partition, o, String::new()))
        })
        .collect();
    if commits.is_empty() {
        return Ok(0);
    }
    admin::commit_offsets_patiently(target, group, &commits).await?;
    Ok(commits.len())
}

/// The before/after table of a failover.
pub fn render(group: &str, cluster: &str, moves: &[Move], applied: bool) -> String {
    let mut out = format!(
        "group '{group}' on cluster {cluster}: {}\n",
        if applied {
            "moved"
        } else {
            "dry run, nothing committed"
        }
    );
    let header = [
        "TARGET TOPIC",
        "PARTITION",
        "SOURCE OFFSET",
        "BEFORE",
        "AFTER",
        "HOW",
    ];
    let mut lines: Vec<Vec<String>> = Vec::new();
    let dash = |o: Option<i64>| o.map_or("-".to_string(), |o| o.to_string());
    for m in moves {
        lines.push(vec![
            m.target_topic.clone(),
            m.partition.to_string(),
            dash(m.upstream),
            dash(m.before),
            dash(m.after.or(m.before)),
            m.how.clone(),
        ]);
    }
    out.push_str(&super::table::render(&header, &lines));
    if moves.is_empty() {
        out.push_str("(no checkpoint of this group on the target; give --to-time and --topic to place it by time)\n");
    }
    out
}

/// `sync.group.offsets.enabled`: every group with `checkpoints` and no
/// active members on the target is moved to them (never backwards). The
/// count of partitions committed.
pub async fn sync_groups(
    target: &ClusterClient,
    checkpoints: &[Checkpoint],
) -> Result<usize, ClientError> {
    let checkpoints: HashMap<(String, String, i32), Checkpoint> = checkpoints
        .iter()
        .map(|c| ((c.group.clone(), c.topic.clone(), c.partition), c.clone()))
        .collect();
    let mut groups: Vec<&str> = checkpoints.keys().map(|(g, _, _)| g.as_str()).collect();
    groups.sort_unstable();
    groups.dedup();
    let states: HashMap<String, ListedGroup> = admin::list_groups(target)
        .await?
        .into_iter()
        .map(|g| (g.group_id.clone(), g))
        .collect();
    let mut committed = 0;
    for group in groups {
        if states
            .get(group)
            .is_some_and(|g| g.is_inactive() != Some(true))
        {
            continue;
        }
        let moves = plan_moves(target, &checkpoints, group, &[], None).await?;
        committed += apply(target, group, &moves).await?;
    }
    Ok(committed)
}
