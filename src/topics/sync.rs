//! Keeping target topics in step with the source: discovery of the source
//! topics a flow mirrors, creation of their target topics with the source's
//! partition count (and configs, when syncing is on), and growth when the
//! source gains partitions.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use crate::client::admin::{self, ConfigEntry, NewTopic, CONFIG_SOURCE_TOPIC};
use crate::client::cluster::TopicMetadata;
use crate::client::{ClientError, ClusterClient};
use crate::plan::FlowPlan;

/// A source topic selected for mirroring.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceTopic {
    pub name: String,
    pub target: String,
    pub partitions: i32,
    /// The target topic's partition count when it differs from the
    /// source's and records are routed (`kmirror.partitions.mismatch =
    /// route`); `None`: partition p goes to partition p.
    pub routed_into: Option<i32>,
}

/// The source topics the flow mirrors, from the source's full metadata:
/// matching `topics`, not `topics.exclude`, not internal, and not coming back
/// from the target (a cycle).
pub fn select(plan: &FlowPlan, metadata: &[TopicMetadata]) -> Vec<SourceTopic> {
    let mut out: Vec<SourceTopic> = metadata
        .iter()
        .filter(|t| {
            t.error.is_ok()
                && !t.is_internal
                && (plan.topics.matches(&t.name)
                    || (plan.mirror_heartbeats && plan.policy.is_heartbeats_topic(&t.name)))
                && !plan.policy.is_internal_topic(&t.name)
                && !plan.policy.is_cycle(&t.name, &plan.target.cluster)
        })
        .map(|t| SourceTopic {
            name: t.name.clone(),
            target: plan
                .policy
                .format_remote_topic(&plan.source.cluster, &t.name),
            partitions: t.partitions.len() as i32,
            routed_into: None,
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// The outcome of preparing target topics.
#[derive(Debug, Default)]
pub struct Prepared {
    /// Topics whose target is ready, with the partition count the target
    /// has (never more than the source's).
    pub ready: Vec<SourceTopic>,
    /// Source topics not mirrored, with the reason for the operator (a
    /// target topic whose cleanup.policy differs from its source's).
    pub refused: Vec<(String, String)>,
    /// False when something failed and the round should be repeated soon.
    pub complete: bool,
}

/// Tries per DescribeConfigs round before a topic waits for the next round.
const DESCRIBE_ATTEMPTS: u32 = 3;

/// Creates missing target topics with the source topics' configs (as
/// MirrorMaker 2 does) and adds partitions where the source has more (or,
/// with `kmirror.partitions.mismatch = route`, routes records into the
/// partitions the target has). A
/// target topic is never created with fewer configs than its source has:
/// when the source's configs cannot be read, creation waits for the next
/// round. An existing target topic not yet mirrored must have the same
/// `cleanup.policy` as its source, or the topic is refused.
pub async fn ensure_targets(
    source: &ClusterClient,
    target: &ClusterClient,
    plan: &FlowPlan,
    topics: &[SourceTopic],
    mirrored: &HashSet<String>,
) -> Prepared {
    let mut out = Prepared {
        complete: true,
        ..Prepared::default()
    };
    if topics.is_empty() {
        return out;
    }
    let names: Vec<String> = topics.iter().map(|t| t.target.clone()).collect();
    let existing: HashMap<String, i32> = match target.metadata(Some(&names)).await {
        Ok(m) => m
            .into_iter()
            .filter(|t| t.error.is_ok())
            .map(|t| (t.name, t.partitions.len() as i32))
            .collect(),
        Err(e) => {
            tracing::warn!(flow = %plan.name(), "cannot read target topics: {e}");
            out.complete = false;
            return out;
        }
    };
    // Configs: the source's for topics to create or to check, the target's
    // for existing topics to check.
    let to_check: Vec<&SourceTopic> = topics
        .iter()
        .filter(|t| existing.contains_key(&t.target) && !mirrored.contains(&t.name))
        .collect();
    let mut need_source: Vec<String> = topics
        .iter()
        .filter(|t| !existing.contains_key(&t.target))
        .map(|t| t.name.clone())
        .collect();
    need_source.extend(to_check.iter().map(|t| t.name.clone()));
    let check_targets: Vec<String> = to_check.iter().map(|t| t.target.clone()).collect();
    let source_configs = describe_with_retry(source, plan, &need_source).await;
    let target_configs = describe_with_retry(target, plan, &check_targets).await;

    let mut to_create = Vec::new();
    for t in topics {
        match existing.get(&t.target) {
            Some(&n) => {
                if !mirrored.contains(&t.name) {
                    let src = source_configs.get(&t.name);
                    let tgt = target_configs.get(&t.target);
                    match (src, tgt) {
                        (Some(Ok(src)), Some(Ok(tgt))) => {
                            let (a, b) = (cleanup_policy(src), cleanup_policy(tgt));
                            if a != b {
                                let reason = format!(
                                    "the target topic '{}' on {} has cleanup.policy={} but the source topic has cleanup.policy={}; not mirroring it (make them the same, e.g. with kafka-configs.sh --alter)",
                                    t.target,
                                    plan.target.cluster,
                                    b.join(","),
                                    a.join(",")
                                );
                                tracing::error!(flow = %plan.name(), topic = %t.name, "{reason}");
                                out.refused.push((t.name.clone(), reason));
                                continue;
                            }
                        }
                        _ => {
                            // Said when it failed; checked again next round.
                            out.complete = false;
                            continue;
                        }
                    }
                }
                if plan.route_mismatched_partitions && n != t.partitions {
                    out.ready.push(SourceTopic {
                        routed_into: Some(n),
                        ..t.clone()
                    });
                    continue;
                }
                if n >= t.partitions {
                    out.ready.push(t.clone());
                    continue;
                }
                match admin::create_partitions(target, &t.target, t.partitions).await {
                    Ok(()) => {
                        tracing::info!(flow = %plan.name(), topic = %t.target, from = n, to = t.partitions, "added partitions to the target topic");
                        out.ready.push(t.clone());
                    }
                    Err(e) => {
                        tracing::warn!(flow = %plan.name(), topic = %t.target, "cannot add partitions: {e}");
                        out.complete = false;
                        out.ready.push(SourceTopic {
                            partitions: n,
                            ..t.clone()
                        });
                    }
                }
            }
            None => match source_configs.get(&t.name) {
                Some(Ok(entries)) => to_create.push(NewTopic {
                    name: t.target.clone(),
                    partitions: t.partitions,
                    replication_factor: plan.replication_factor,
                    configs: copied_configs(plan, entries),
                }),
                _ => {
                    tracing::warn!(
                        flow = %plan.name(),
                        topic = %t.name,
                        "the target topic is not created until the source topic's configs can be read"
                    );
                    out.complete = false;
                }
            },
        }
    }
    let mut results = Vec::new();
    for chunk in create_chunks(&to_create) {
        results.extend(admin::create_topics(target, chunk).await);
    }
    for (name, res) in results {
        match res {
            Ok(created) => {
                if created == admin::Created::New {
                    tracing::info!(flow = %plan.name(), topic = %name, "created target topic");
                } else {
                    tracing::debug!(flow = %plan.name(), topic = %name, "target topic exists (its metadata is still settling)");
                }
                if let Some(t) = topics.iter().find(|t| t.target == name) {
                    out.ready.push(t.clone());
                }
            }
            Err(e) => {
                out.complete = false;
                tracing::error!(flow = %plan.name(), topic = %name, "cannot create the target topic: {e}")
            }
        }
    }
    out.ready.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// Configs of `topics` on `cluster`, asked up to [`DESCRIBE_ATTEMPTS`]
/// times; topics missing from the map (or with an error) could not be read.
async fn describe_with_retry(
    cluster: &ClusterClient,
    plan: &FlowPlan,
    topics: &[String],
) -> HashMap<String, Result<Vec<ConfigEntry>, ClientError>> {
    let mut found: HashMap<String, Result<Vec<ConfigEntry>, ClientError>> = HashMap::new();
    if topics.is_empty() {
        return found;
    }
    let mut backoff = Duration::from_millis(200);
    for attempt in 1..=DESCRIBE_ATTEMPTS {
        let missing: Vec<String> = topics
            .iter()
            .filter(|t| !matches!(found.get(*t), Some(Ok(_))))
            .cloned()
            .collect();
        if missing.is_empty() {
            break;
        }
        match admin::describe_topic_configs(cluster, &missing).await {
            Ok(got) => {
                for (topic, res) in got {
                    if let Err(e) = &res {
                        tracing::warn!(flow = %plan.name(), cluster = %cluster.name(), topic = %topic, attempt, "cannot read topic configs: {e}");
                    }
                    found.insert(topic, res);
                }
            }
            Err(e) => {
                tracing::warn!(flow = %plan.name(), cluster = %cluster.name(), attempt, "cannot read topic configs: {e}");
            }
        }
        let answered = topics.iter().all(|t| matches!(found.get(t), Some(Ok(_))));
        if attempt < DESCRIBE_ATTEMPTS && !answered {
            tokio::time::sleep(backoff).await;
            backoff *= 2;
        }
    }
    found
}

/// A topic's `cleanup.policy`, as a sorted list (`compact,delete` and
/// `delete,compact` are the same policy).
fn cleanup_policy(entries: &[ConfigEntry]) -> Vec<String> {
    let value = entries
        .iter()
        .find(|e| e.name == "cleanup.policy")
        .and_then(|e| e.value.clone())
        .unwrap_or_else(|| "delete".to_string());
    let mut parts: Vec<String> = value
        .split(',')
        .map(|p| p.trim().to_ascii_lowercase())
        .filter(|p| !p.is_empty())
        .collect();
    parts.sort();
    parts.dedup();
    parts
}

/// Partitions per CreateTopics request: a KRaft controller refuses one
/// operation of more than 10,000 metadata records (a topic is one record
/// plus one per partition), so many topics are created in several requests.
const PARTITIONS_PER_CREATE: i32 = 5000;

/// `topics` cut into runs of at most [`PARTITIONS_PER_CREATE`] partitions
/// (a larger topic goes alone).
fn create_chunks(topics: &[NewTopic]) -> Vec<&[NewTopic]> {
    let mut chunks = Vec::new();
    let (mut start, mut size) = (0, 0);
    for (i, t) in topics.iter().enumerate() {
        let cost = t.partitions.max(1) + 1;
        if i > start && size + cost > PARTITIONS_PER_CREATE {
            chunks.push(&topics[start..i]);
            (start, size) = (i, 0);
        }
        size += cost;
    }
    if start < topics.len() {
        chunks.push(&topics[start..]);
    }
    chunks
}

/// The source topic's configs MirrorMaker 2 copies to a new target topic:
/// every value not left at the broker's built-in or static default
/// (topic overrides and dynamic broker settings), minus read-only and
/// sensitive ones, minus `config.properties.exclude`.
pub fn copied_configs(plan: &FlowPlan, entries: &[ConfigEntry]) -> Vec<(String, String)> {
    entries
        .iter()
        .filter(|e| COPIED_SOURCES.contains(&e.source) && !e.is_sensitive && !e.read_only)
        .filter(|e| !plan.config_exclude.iter().any(|r| r.is_match(&e.name)))
        .filter_map(|e| e.value.clone().map(|v| (e.name.clone(), v)))
        .collect()
}

/// ConfigSources copied: the topic's own (1), dynamic per-broker (2) and
/// dynamic cluster-wide (3); not static broker files (4) nor defaults (5).
const COPIED_SOURCES: [i8; 3] = [CONFIG_SOURCE_TOPIC, 2, 3];

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn topic(partitions: i32) -> NewTopic {
        NewTopic {
            name: format!("t{partitions}"),
            partitions,
            replication_factor: 1,
            configs: Vec::new(),
        }
    }

    /// A config entry as DescribeConfigs answers it (also used by the
    /// config sync's tests).
    pub(crate) fn entry(name: &str, value: &str, source: i8) -> ConfigEntry {
        ConfigEntry {
            name: name.into(),
            value: Some(value.into()),
            read_only: false,
            source,
            is_sensitive: false,
        }
    }

    #[test]
    fn cleanup_policies_compare_as_sets() {
        assert_eq!(
            cleanup_policy(&[entry("cleanup.policy", "compact, delete", 1)]),
            cleanup_policy(&[entry("cleanup.policy", "delete,compact", 5)])
        );
        assert_ne!(
            cleanup_policy(&[entry("cleanup.policy", "compact", 1)]),
            cleanup_policy(&[])
        );
    }

    #[test]
    fn creation_is_cut_under_the_controllers_record_limit() {
        let topics: Vec<NewTopic> = (0..10).map(|_| topic(1000)).collect();
        let chunks = create_chunks(&topics);
        assert_eq!(chunks.iter().map(|c| c.len()).sum::<usize>(), 10);
        for c in &chunks {
            let records: i32 = c.iter().map(|t| t.partitions + 1).sum();
            assert!(records <= PARTITIONS_PER_CREATE, "{records}");
        }
        // A topic larger than the limit still goes, alone.
        let big = [topic(3), topic(9000), topic(3)];
        let sizes: Vec<usize> = create_chunks(&big).iter().map(|c| c.len()).collect();
        assert_eq!(sizes, vec![1, 1, 1]);
        assert!(create_chunks(&[]).is_empty());
    }
}
