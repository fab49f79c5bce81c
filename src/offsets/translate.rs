//! `kmirror offsets translate`: where a consumer group committed on the
//! source would resume on the target, partition by partition, from the
//! flow's offset syncs and kmirror's committed progress. Read-only.

use std::collections::HashMap;

use crate::client::admin::{self, LATEST};
use crate::client::small_topic;
use crate::client::{ClientError, ClusterClient};
use crate::mirror::progress::CommitNote;
use crate::offsets::map::{PartitionMap, Point, Translation};
use crate::plan::FlowPlan;

/// One partition of the group.
#[derive(Debug, Clone)]
pub struct Row {
    pub source_topic: String,
    pub partition: i32,
    /// The group's committed offset on the source.
    pub committed: i64,
    pub target_topic: String,
    pub translation: Translation,
    /// The target partition's end (read_committed), for the lag.
    pub target_end: Option<i64>,
}

impl Row {
    /// The target offset the group would be placed at, if known.
    pub fn target_offset(&self) -> Option<i64> {
        match self.translation {
            Translation::Exact(o) | Translation::Approximate(o) => Some(o),
            Translation::AheadOfMirror { target_end, .. } => Some(target_end),
            Translation::BeforeMap { .. } | Translation::Unknown => None,
        }
    }
}

/// The offset maps of a flow as its syncs topic and progress describe them.
pub async fn load_maps(
    plan: &FlowPlan,
    source: &ClusterClient,
    target: &ClusterClient,
) -> Result<HashMap<(String, i32), PartitionMap>, ClientError> {
    let mut maps: HashMap<(String, i32), PartitionMap> = HashMap::new();
    let Some(topic) = &plan.offset_syncs else {
        return Ok(maps);
    };
    let holder = if topic.on_target { target } else { source };
    if !small_topic::exists(holder, &topic.name).await? {
        return Ok(maps); // no syncs written yet
    }
    for record in small_topic::read_all(holder, &topic.name, 0).await? {
        let (Some(k), Some(v)) = (record.key, record.value) else {
            continue;
        };
        match kmirror_proto::mm2::OffsetSync::decode(k, v) {
            Ok(s) => maps
                .entry((s.topic, s.partition))
                .or_default()
                .restore(Point {
                    upstream: s.upstream_offset,
                    downstream: s.downstream_offset,
                }),
            Err(e) => tracing::warn!(
                topic = %topic.name,
                offset = record.offset,
                "not an offset sync, passed over: {e}"
            ),
        }
    }
    // kmirror's committed progress says how far each map reaches: every
    // source offset below it was mirrored or skipped, and syncs are written
    // before the progress that covers them.
    for (target_topic, partition, next, metadata) in
        admin::group_offsets_patiently(target, &plan.progress_group()).await?
    {
        let note = metadata.as_deref().and_then(CommitNote::parse);
        let source_topic = note
            .as_ref()
            .map(|n| n.source_topic.clone())
            .unwrap_or_else(|| plan.policy.original_topic(&target_topic).to_string());
        if let Some(at) = note.and_then(|n| n.mm2_below) {
            maps.entry((source_topic.clone(), partition))
                .or_default()
                .approximate_below(at);
        }
        if let Some(map) = maps.get_mut(&(source_topic, partition)) {
            if let Some(last) = map.points().last().copied() {
                if next >= last.upstream {
                    map.set_end(Point {
                        upstream: next,
                        downstream: last.downstream + (next - last.upstream),
                    });
                }
            }
        }
    }
    Ok(maps)
}

/// The rows for `group`: every partition it committed on the source for a
/// topic this flow mirrors.
pub async fn translate_group(
    plan: &FlowPlan,
    source: &ClusterClient,
    target: &ClusterClient,
    group: &str,
) -> Result<Vec<Row>, ClientError> {
    let committed = admin::group_offsets_patiently(source, group).await?;
    let maps = load_maps(plan, source, target).await?;
    let mut rows = Vec::new();
    for (topic, partition, offset, _) in committed {
        if !plan.topics.matches(&topic) {
            continue;
        }
        let target_topic = plan
            .policy
            .format_remote_topic(&plan.source.cluster, &topic);
        let translation = maps
            .get(&(topic.clone(), partition))
            .map_or(Translation::Unknown, |m| m.translate(offset));
        rows.push(Row {
            source_topic: topic,
            partition,
            committed: offset,
            target_topic,
            translation,
            target_end: None,
        });
    }
    rows.sort_by(|a, b| (&a.source_topic, a.partition).cmp(&(&b.source_topic, b.partition)));
    for row in &mut rows {
        if let Ok(conn) = small_topic::leader(target, &row.target_topic, row.partition).await {
            if let Ok(got) =
                admin::list_offsets(&conn, &row.target_topic, &[row.partition], LATEST, true).await
            {
                row.target_end = got.first().and_then(|(_, r)| r.ok());
            }
        }
    }
    Ok(rows)
}

/// The table `kmirror offsets translate` prints.
pub fn render(plan: &FlowPlan, group: &str, rows: &[Row]) -> String {
    let mut out = format!(
        "group '{group}', {} -> {}: committed source offsets and where they resume on the target\n",
        plan.source.cluster, plan.target.cluster
    );
    let header = [
        "SOURCE TOPIC",
        "PARTITION",
        "COMMITTED",
        "TARGET TOPIC",
        "TRANSLATED",
        "TARGET END",
        "LAG",
        "NOTE",
    ];
    let mut lines: Vec<Vec<String>> = Vec::new();
    for r in rows {
        let translated = r.target_offset();
        let note = match r.translation {
            Translation::Exact(_) => "exact".to_string(),
            Translation::AheadOfMirror { missing, .. } => {
                format!(
                    "{missing} source offsets past the mirror's position are not on the target yet"
                )
            }
            Translation::BeforeMap { oldest_upstream } => {
                format!("before the oldest offset sync (source offset {oldest_upstream})")
            }
            Translation::Unknown => "no offset syncs for this partition".to_string(),
            Translation::Approximate(_) => {
                "mirrored by MirrorMaker 2 before kmirror took over: translated from its sparse syncs, at or before the exact offset".to_string()
            }
        };
        let lag = match (translated, r.target_end) {
            (Some(t), Some(end)) => (end - t).max(0).to_string(),
            _ => "-".to_string(),
        };
        lines.push(vec![
            r.source_topic.clone(),
            r.partition.to_string(),
            r.committed.to_string(),
            r.target_topic.clone(),
            translated.map_or("-".to_string(), |t| t.to_string()),
            r.target_end.map_or("-".to_string(), |t| t.to_string()),
            lag,
            note,
        ]);
    }
    out.push_str(&super::table::render(&header, &lines));
    if rows.is_empty() {
        out.push_str("(the group has no committed offsets for topics this flow mirrors)\n");
    }
    out
}
