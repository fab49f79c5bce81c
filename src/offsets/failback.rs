//! `kmirror failback`: after a failover from A to B, when A returns, mirror
//! back to A only what producers wrote on B after the failover. The records
//! B holds as copies of A's own are never sent back: for each partition
//! that flow A->B mirrored, the reverse flow B->A starts at the target
//! offset where A->B's copies end (the end of A->B's offset map), written
//! as B->A's committed progress on A before the reverse flow first runs.

use crate::client::admin;
use crate::client::{ClientError, ClusterClient};
use crate::offsets::translate::load_maps;
use crate::plan::FlowPlan;

/// One partition of the reverse flow.
#[derive(Debug, Clone)]
pub struct Start {
    /// The topic on B (the reverse flow's source).
    pub topic_on_b: String,
    pub partition: i32,
    /// The topic on A it mirrors back into.
    pub topic_on_a: String,
    /// Where the reverse flow starts on B: the first record B did not get
    /// from A.
    pub from: i64,
    /// B's end: records written on B after the failover are `from..end`.
    pub end: Option<i64>,
}

/// The reverse flow's starting positions, from `forward` (A->B)'s offset
/// syncs and progress; `reverse` is the flow B->A.
pub async fn plan_starts(
    forward: &FlowPlan,
    reverse: &FlowPlan,
    a: &ClusterClient,
    b: &ClusterClient,
) -> Result<Vec<Start>, ClientError> {
    let maps = load_maps(forward, a, b).await?;
    let mut starts = Vec::new();
    for ((source_topic, partition), map) in maps {
        let Some(end) = map.end() else {
            continue;
        };
        let topic_on_b = forward
            .policy
            .format_remote_topic(&forward.source.cluster, &source_topic);
        // Only what the reverse flow mirrors: not a topic that came from A
        // (a cycle, e.g. A's heartbeats), nor one its `topics` leave out.
        if reverse
            .policy
            .is_cycle(&topic_on_b, &reverse.target.cluster)
            || reverse.policy.is_heartbeats_topic(&topic_on_b)
            || !reverse.topics.matches(&topic_on_b)
        {
            continue;
        }
        let topic_on_a = reverse
            .policy
            .format_remote_topic(&reverse.source.cluster, &topic_on_b);
        starts.push(Start {
            topic_on_b,
            partition,
            topic_on_a,
            from: end.downstream,
            end: None,
        });
    }
    starts.sort_by(|x, y| (&x.topic_on_b, x.partition).cmp(&(&y.topic_on_b, y.partition)));
    for s in &mut starts {
        if let Ok(conn) = crate::client::small_topic::leader(b, &s.topic_on_b, s.partition).await {
            if let Ok(got) =
                admin::list_offsets(&conn, &s.topic_on_b, &[s.partition], admin::LATEST, true).await
            {
                s.end = got.first().and_then(|(_, r)| r.ok());
            }
        }
    }
    Ok(starts)
}

/// Commits the starts as the reverse flow's progress on A. Refuses when
/// the reverse flow already has progress (it ran before: its own positions
/// are the right ones).
pub async fn commit_starts(
    reverse: &FlowPlan,
    a: &ClusterClient,
    starts: &[Start],
) -> Result<(), String> {
    let group = reverse.progress_group();
    let existing = admin::group_offsets_patiently(a, &group)
        .await
        .map_err(|e| e.to_string())?;
    if let Some((topic, partition, offset, _)) = existing.iter().find(|(t, p, _, _)| {
        starts
            .iter()
            .any(|s| &s.topic_on_a == t && s.partition == *p)
    }) {
        return Err(format!(
            "the flow {} already has progress on cluster {} ({topic}[{partition}] at {offset}): it has run before, and resumes from there without this",
            reverse.name(),
            reverse.target.cluster
        ));
    }
    let commits: Vec<(String, i32, i64, String)> = starts
        .iter()
        .map(|s| {
            (
                s.topic_on_a.clone(),
                s.partition,
                s.from,
                format!("kmirror source topic {}", s.topic_on_b),
            )
        })
        .collect();
    admin::commit_offsets_patiently(a, &group, &commits)
        .await
        .map_err(|e| e.to_string())
}

/// The table `kmirror failback` prints.
pub fn render(forward: &FlowPlan, reverse: &FlowPlan, starts: &[Start], applied: bool) -> String {
    let mut out = format!(
        "failback {}: {} starts where {}'s copies end; {}\n",
        reverse.name(),
        reverse.name(),
        forward.name(),
        if applied {
            "positions committed: run kmirror with the flow enabled"
        } else {
            "dry run, nothing committed"
        }
    );
    let header = [
        "TOPIC ON SOURCE",
        "PARTITION",
        "TOPIC ON TARGET",
        "START",
        "END",
        "RECORDS BACK",
    ];
    let mut lines: Vec<Vec<String>> = Vec::new();
    for s in starts {
        lines.push(vec![
            s.topic_on_b.clone(),
            s.partition.to_string(),
            s.topic_on_a.clone(),
            s.from.to_string(),
            s.end.map_or("-".into(), |e| e.to_string()),
            s.end
                .map_or("-".into(), |e| (e - s.from).max(0).to_string()),
        ]);
    }
    out.push_str(&super::table::render(&header, &lines));
    if starts.is_empty() {
        out.push_str(&format!(
            "(no offset syncs of {} found: nothing to start from)\n",
            forward.name()
        ));
    }
    out
}
