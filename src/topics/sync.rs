//! Keeping target topics in step with the source: discovery of the source
//! topics a flow mirrors, creation of their target topics with the source's
//! partition count (and configs, when syncing is on), and growth when the
//! source gains partitions.

use std::collections::HashMap;

use crate::client::admin::{self, NewTopic, CONFIG_SOURCE_TOPIC};
use crate::client::cluster::TopicMetadata;
use crate::client::{ClientError, ClusterClient};
use crate::mirror::plan::FlowPlan;

/// A source topic selected for mirroring.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceTopic {
    pub name: String,
    pub target: String,
    pub partitions: i32,
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
                && plan.topics.matches(&t.name)
                && !plan.policy.is_internal_topic(&t.name)
                && !plan.policy.is_cycle(&t.name, &plan.target.cluster)
        })
        .map(|t| SourceTopic {
            name: t.name.clone(),
            target: plan
                .policy
                .format_remote_topic(&plan.source.cluster, &t.name),
            partitions: t.partitions.len() as i32,
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// Creates missing target topics and adds partitions where the source has
/// more. Returns the topics whose target is ready, with the partition count
/// the target has (never more than the source's).
pub async fn ensure_targets(
    source: &ClusterClient,
    target: &ClusterClient,
    plan: &FlowPlan,
    topics: &[SourceTopic],
) -> Vec<SourceTopic> {
    if topics.is_empty() {
        return Vec::new();
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
            return Vec::new();
        }
    };
    let mut ready = Vec::new();
    let mut to_create = Vec::new();
    for t in topics {
        match existing.get(&t.target) {
            Some(&n) if n >= t.partitions => ready.push(t.clone()),
            Some(&n) => match admin::create_partitions(target, &t.target, t.partitions).await {
                Ok(()) => {
                    tracing::info!(flow = %plan.name(), topic = %t.target, from = n, to = t.partitions, "added partitions to the target topic");
                    ready.push(t.clone());
                }
                Err(e) => {
                    tracing::warn!(flow = %plan.name(), topic = %t.target, "cannot add partitions: {e}");
                    ready.push(SourceTopic {
                        partitions: n,
                        ..t.clone()
                    });
                }
            },
            None => to_create.push(t.clone()),
        }
    }
    if !to_create.is_empty() {
        let mut new_topics = Vec::new();
        for t in &to_create {
            let configs = if plan.sync_topic_configs {
                match synced_configs(source, plan, &t.name).await {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::warn!(flow = %plan.name(), topic = %t.name, "cannot read source topic configs: {e}");
                        Vec::new()
                    }
                }
            } else {
                Vec::new()
            };
            new_topics.push(NewTopic {
                name: t.target.clone(),
                partitions: t.partitions,
                replication_factor: plan.replication_factor,
                configs,
            });
        }
        let mut results = Vec::new();
        for chunk in create_chunks(&new_topics) {
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
                    if let Some(t) = to_create.iter().find(|t| t.target == name) {
                        ready.push(t.clone());
                    }
                }
                Err(e) => {
                    tracing::error!(flow = %plan.name(), topic = %name, "cannot create the target topic: {e}")
                }
            }
        }
    }
    ready.sort_by(|a, b| a.name.cmp(&b.name));
    ready
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

/// The source topic's configs MM2 would copy: those set on the topic itself,
/// minus `config.properties.exclude`, minus sensitive and read-only ones.
pub async fn synced_configs(
    source: &ClusterClient,
    plan: &FlowPlan,
    topic: &str,
) -> Result<Vec<(String, String)>, ClientError> {
    let entries = admin::describe_topic_configs(source, topic).await?;
    Ok(entries
        .into_iter()
        .filter(|e| e.source == CONFIG_SOURCE_TOPIC && !e.is_sensitive && !e.read_only)
        .filter(|e| !plan.config_exclude.iter().any(|r| r.is_match(&e.name)))
        .filter_map(|e| e.value.map(|v| (e.name, v)))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topic(partitions: i32) -> NewTopic {
        NewTopic {
            name: format!("t{partitions}"),
            partitions,
            replication_factor: 1,
            configs: Vec::new(),
        }
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
