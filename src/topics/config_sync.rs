//! MirrorMaker 2's topic config sync (`sync.topic.configs.enabled`, on by
//! default, every `sync.topic.configs.interval.seconds`, 600 s): later
//! changes to a mirrored source topic's configs reach its target topic
//! through IncrementalAlterConfigs. As in MirrorMaker 2, a value the
//! source sets (on the topic or as a dynamic broker setting) is set on the
//! target; a value the source leaves at its default is removed from the
//! target so the target's default applies (or, with `use.defaults.from =
//! source`, set to the source's default); static broker settings,
//! read-only and sensitive configs and `config.properties.exclude` are left
//! alone. Unlike MirrorMaker 2, only the changes are sent, and each is
//! logged.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};

use regex::Regex;

use crate::client::admin::{self, AlterConfig, ConfigEntry, ConfigOp, CONFIG_SOURCE_TOPIC};
use crate::client::ClusterClient;
use crate::plan::FlowPlan;
use crate::topics::sync::SourceTopic;

/// Kafka's ConfigSource of a value from the broker's static file.
const CONFIG_SOURCE_STATIC_BROKER: i8 = 4;
/// Kafka's ConfigSource of a built-in default.
const CONFIG_SOURCE_DEFAULT: i8 = 5;

/// What the sync needs of a flow's settings.
#[derive(Debug, Clone, Copy)]
pub struct SyncRules<'a> {
    pub exclude: &'a [Regex],
    /// `use.defaults.from = source`: a source default is set on the target
    /// too, instead of the target's own default applying.
    pub defaults_from_source: bool,
}

/// The changes that bring a target topic's configs (`target`) in step
/// with its source topic's (`source`); empty when they already are.
pub fn config_changes(
    rules: SyncRules<'_>,
    source: &[ConfigEntry],
    target: &[ConfigEntry],
) -> Vec<AlterConfig> {
    let on_target: HashMap<&str, &ConfigEntry> =
        target.iter().map(|e| (e.name.as_str(), e)).collect();
    let mut out = Vec::new();
    for e in source {
        if e.read_only
            || e.is_sensitive
            || e.source == CONFIG_SOURCE_STATIC_BROKER
            || rules.exclude.iter().any(|r| r.is_match(&e.name))
        {
            continue;
        }
        let there = on_target.get(e.name.as_str());
        // The target's own value, when the topic carries one.
        let override_there = there
            .filter(|t| t.source == CONFIG_SOURCE_TOPIC)
            .and_then(|t| t.value.as_deref());
        if e.source == CONFIG_SOURCE_DEFAULT && !rules.defaults_from_source {
            if there.is_some_and(|t| t.source == CONFIG_SOURCE_TOPIC) {
                out.push(AlterConfig {
                    name: e.name.clone(),
                    op: ConfigOp::Delete,
                    value: None,
                });
            }
            continue;
        }
        let Some(value) = e.value.as_deref() else {
            continue;
        };
        // A target that does not know the config (another Kafka version)
        // is not asked to take it.
        if there.is_none() || override_there == Some(value) {
            continue;
        }
        out.push(AlterConfig {
            name: e.name.clone(),
            op: ConfigOp::Set,
            value: Some(value.to_string()),
        });
    }
    out
}

/// One flow's config sync: what it has said (each problem once).
#[derive(Default)]
pub struct ConfigSync {
    said: RefCell<HashSet<String>>,
}

impl ConfigSync {
    /// Brings the target topics of `topics` in step with their sources.
    /// Failures are logged (once each) and retried at the next interval;
    /// they never stop the flow.
    pub async fn run(
        &self,
        plan: &FlowPlan,
        source: &ClusterClient,
        target: &ClusterClient,
        topics: &[SourceTopic],
    ) {
        if topics.is_empty() {
            return;
        }
        let names: Vec<String> = topics.iter().map(|t| t.name.clone()).collect();
        let targets: Vec<String> = topics.iter().map(|t| t.target.clone()).collect();
        let (src, tgt) = match (
            admin::describe_topic_configs(source, &names).await,
            admin::describe_topic_configs(target, &targets).await,
        ) {
            (Ok(s), Ok(t)) => (s, t),
            (Err(e), _) | (_, Err(e)) => {
                self.say(plan, format!("cannot read topic configs to sync them: {e}"));
                return;
            }
        };
        let rules = SyncRules {
            exclude: &plan.config_exclude,
            defaults_from_source: plan.defaults_from_source,
        };
        let mut changes = Vec::new();
        for t in topics {
            let (Some(Ok(s)), Some(Ok(g))) = (src.get(&t.name), tgt.get(&t.target)) else {
                continue;
            };
            let c = config_changes(rules, s, g);
            if c.is_empty() {
                continue;
            }
            for change in &c {
                let was = g
                    .iter()
                    .find(|e| e.name == change.name)
                    .and_then(|e| e.value.clone())
                    .unwrap_or_default();
                match change.op {
                    ConfigOp::Set => {
                        tracing::info!(flow = %plan.name(), topic = %t.target, config = %change.name, from = %was, to = %change.value.as_deref().unwrap_or_default(), "syncing a topic config from the source")
                    }
                    ConfigOp::Delete => {
                        tracing::info!(flow = %plan.name(), topic = %t.target, config = %change.name, from = %was, "removing a topic config the source leaves at its default")
                    }
                }
            }
            changes.push((t.target.clone(), c));
        }
        match admin::alter_topic_configs(target, changes).await {
            Ok(results) => {
                for (topic, res) in results {
                    if let Err(e) = res {
                        self.say(plan, format!("cannot sync the configs of '{topic}': {e}"));
                    }
                }
            }
            Err(e) => self.say(plan, format!("cannot sync topic configs: {e}")),
        }
    }

    fn say(&self, plan: &FlowPlan, text: String) {
        if self.said.borrow_mut().insert(text.clone()) {
            tracing::warn!(flow = %plan.name(), "{text} (retried every sync.topic.configs.interval.seconds)");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topics::sync::tests::entry;

    fn rules(exclude: &[Regex], from_source: bool) -> SyncRules<'_> {
        SyncRules {
            exclude,
            defaults_from_source: from_source,
        }
    }

    fn ops(c: &[AlterConfig]) -> Vec<(String, ConfigOp, Option<String>)> {
        c.iter()
            .map(|a| (a.name.clone(), a.op, a.value.clone()))
            .collect()
    }

    #[test]
    fn a_changed_source_value_is_set_and_an_equal_one_is_not() {
        let source = [
            entry("retention.ms", "3600000", 1),
            entry("cleanup.policy", "delete", 1),
            entry("max.message.bytes", "2000000", 2),
        ];
        let target = [
            entry("retention.ms", "604800000", 1),
            entry("cleanup.policy", "delete", 1),
            entry("max.message.bytes", "1048588", 5),
        ];
        assert_eq!(
            ops(&config_changes(rules(&[], false), &source, &target)),
            vec![
                ("retention.ms".into(), ConfigOp::Set, Some("3600000".into())),
                (
                    "max.message.bytes".into(),
                    ConfigOp::Set,
                    Some("2000000".into())
                ),
            ]
        );
        // Once applied, nothing more to do.
        let after = [
            entry("retention.ms", "3600000", 1),
            entry("cleanup.policy", "delete", 1),
            entry("max.message.bytes", "2000000", 1),
        ];
        assert!(config_changes(rules(&[], false), &source, &after).is_empty());
    }

    #[test]
    fn a_source_default_removes_the_target_override_unless_defaults_come_from_the_source() {
        let source = [entry("retention.ms", "604800000", 5)];
        let target = [entry("retention.ms", "3600000", 1)];
        assert_eq!(
            ops(&config_changes(rules(&[], false), &source, &target)),
            vec![("retention.ms".into(), ConfigOp::Delete, None)]
        );
        assert_eq!(
            ops(&config_changes(rules(&[], true), &source, &target)),
            vec![(
                "retention.ms".into(),
                ConfigOp::Set,
                Some("604800000".into())
            )]
        );
        let target_default = [entry("retention.ms", "604800000", 5)];
        assert!(config_changes(rules(&[], false), &source, &target_default).is_empty());
    }

    #[test]
    fn excluded_static_read_only_and_sensitive_configs_are_left_alone() {
        let exclude = [Regex::new("^(?:min\\.insync\\.replicas)$").unwrap()];
        let mut secret = entry("some.password", "x", 1);
        secret.is_sensitive = true;
        let mut fixed = entry("fixed", "1", 1);
        fixed.read_only = true;
        let source = [
            entry("min.insync.replicas", "2", 1),
            entry("segment.bytes", "1000", 4),
            secret,
            fixed,
            entry("unknown.there", "1", 1),
        ];
        let target = [
            entry("min.insync.replicas", "1", 1),
            entry("segment.bytes", "9", 1),
            entry("some.password", "y", 1),
            entry("fixed", "2", 1),
        ];
        assert!(config_changes(rules(&exclude, false), &source, &target).is_empty());
    }
}
