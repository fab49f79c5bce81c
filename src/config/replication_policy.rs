//! What mirrored topics are called on the target, and how to read a topic
//! name back: MirrorMaker 2's `DefaultReplicationPolicy` (`A.orders`) and
//! `IdentityReplicationPolicy` (`orders`), with the same answers for every
//! name so that MirrorMaker 2's tools and kmirror agree on which topics are
//! remote, internal, heartbeats or checkpoints.
//!
//! Custom policy classes cannot be loaded; naming one is a configuration
//! error, never a silent fallback to the default.

use crate::config::{ConfigError, Setting};

/// `replication.policy.class` for [`ReplicationPolicy::Default`].
pub const DEFAULT_POLICY_CLASS: &str = "org.apache.kafka.connect.mirror.DefaultReplicationPolicy";
/// `replication.policy.class` for [`ReplicationPolicy::Identity`].
pub const IDENTITY_POLICY_CLASS: &str = "org.apache.kafka.connect.mirror.IdentityReplicationPolicy";
/// The default `replication.policy.separator`.
pub const DEFAULT_SEPARATOR: &str = ".";
/// The topic MirrorMaker 2 emits heartbeats to.
pub const HEARTBEATS_TOPIC: &str = "heartbeats";

const OFFSET_SYNCS_PREFIX: &str = "mm2-offset-syncs";

/// How source topics are renamed on the target.
///
/// Internal topic names (offset syncs, checkpoints) use the separator too,
/// as MirrorMaker 2 does by default
/// (`replication.policy.internal.topic.separator.enabled = true`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReplicationPolicy {
    /// `orders` from cluster `A` becomes `A<separator>orders`; the source of
    /// a remote topic can be read from its name, so cycles are detected.
    Default { separator: String },
    /// Topic names are kept; only heartbeats topics are renamed as by
    /// `Default`. Nothing in a name tells where it came from, so cycles
    /// cannot be detected: the topology must be acyclic.
    Identity { separator: String },
}

impl Default for ReplicationPolicy {
    fn default() -> ReplicationPolicy {
        ReplicationPolicy::Default {
            separator: DEFAULT_SEPARATOR.to_string(),
        }
    }
}

impl ReplicationPolicy {
    /// The policy from `replication.policy.class`,
    /// `replication.policy.separator` and
    /// `replication.policy.internal.topic.separator.enabled`, each optional.
    ///
    /// The class may be fully qualified or the simple class name. Disabling
    /// the separator in internal topic names is rejected when the separator
    /// is not `.`, because kmirror's internal topics would then not be the
    /// ones MirrorMaker 2's tools look for.
    pub fn from_settings(
        class: Option<&Setting<'_>>,
        separator: Option<&Setting<'_>>,
        internal_separator_enabled: Option<&Setting<'_>>,
    ) -> Result<ReplicationPolicy, ConfigError> {
        let separator_value = match separator {
            Some(setting) if setting.value.is_empty() => {
                return Err(setting.invalid("the separator must not be empty"));
            }
            Some(setting) => setting.value.to_string(),
            None => DEFAULT_SEPARATOR.to_string(),
        };

        if let Some(setting) = internal_separator_enabled {
            let enabled = match setting.value.to_ascii_lowercase().as_str() {
                "true" => true,
                "false" => false,
                _ => {
                    return Err(setting.invalid(format!(
                        "'{}' is not a boolean (true or false)",
                        setting.value
                    )))
                }
            };
            if !enabled && separator_value != DEFAULT_SEPARATOR {
                return Err(setting.invalid(format!(
                    "kmirror always uses the separator '{separator_value}' in internal topic names; \
                     setting this to false is not supported"
                )));
            }
        }

        let Some(class) = class else {
            return Ok(ReplicationPolicy::Default {
                separator: separator_value,
            });
        };
        match class.value {
            DEFAULT_POLICY_CLASS | "DefaultReplicationPolicy" => Ok(ReplicationPolicy::Default {
                separator: separator_value,
            }),
            IDENTITY_POLICY_CLASS | "IdentityReplicationPolicy" => {
                Ok(ReplicationPolicy::Identity {
                    separator: separator_value,
                })
            }
            other => Err(class.invalid(format!(
                "'{other}' is not supported: kmirror implements only {DEFAULT_POLICY_CLASS} \
                 and {IDENTITY_POLICY_CLASS}"
            ))),
        }
    }

    /// The fully-qualified MirrorMaker 2 class this policy behaves like.
    pub fn class_name(&self) -> &'static str {
        match self {
            ReplicationPolicy::Default { .. } => DEFAULT_POLICY_CLASS,
            ReplicationPolicy::Identity { .. } => IDENTITY_POLICY_CLASS,
        }
    }

    pub fn separator(&self) -> &str {
        match self {
            ReplicationPolicy::Default { separator }
            | ReplicationPolicy::Identity { separator } => separator,
        }
    }

    /// The name on the target of `topic` mirrored from `source_alias`.
    pub fn format_remote_topic(&self, source_alias: &str, topic: &str) -> String {
        match self {
            ReplicationPolicy::Identity { .. } if !looks_like_heartbeats(topic) => {
                topic.to_string()
            }
            _ => format!("{source_alias}{}{topic}", self.separator()),
        }
    }

    /// The alias of the cluster a remote topic came from, or `None` if the
    /// name does not say (a local topic, or any non-heartbeats topic under
    /// `Identity`).
    pub fn topic_source<'t>(&self, topic: &'t str) -> Option<&'t str> {
        match self {
            ReplicationPolicy::Identity { .. } if !looks_like_heartbeats(topic) => None,
            _ => prefixed_source(topic, self.separator()),
        }
    }

    /// The name of a remote topic on the cluster it came from, one hop up
    /// (`B.A.orders` gives `A.orders`), or `None` if it is not a remote topic.
    ///
    /// Under `Identity` every non-heartbeats topic may be remote and keeps
    /// its name, so this gives the topic itself, as MirrorMaker 2 does.
    pub fn upstream_topic<'t>(&self, topic: &'t str) -> Option<&'t str> {
        match self {
            ReplicationPolicy::Identity { .. } if !looks_like_heartbeats(topic) => Some(topic),
            _ => {
                let source = prefixed_source(topic, self.separator())?;
                Some(&topic[source.len() + self.separator().len()..])
            }
        }
    }

    /// The name of the topic at its origin, following every hop upstream.
    pub fn original_topic<'t>(&self, topic: &'t str) -> &'t str {
        let mut current = topic;
        while let Some(upstream) = self.upstream_topic(current) {
            if upstream == current {
                break;
            }
            current = upstream;
        }
        current
    }

    /// Whether mirroring `topic` to `target_alias` would send it back to a
    /// cluster it has already been on. Never true under `Identity` except
    /// for heartbeats, whose names still carry their path.
    pub fn is_cycle(&self, topic: &str, target_alias: &str) -> bool {
        let mut current = topic;
        loop {
            let Some(source) = self.topic_source(current) else {
                return false;
            };
            if source == target_alias {
                return true;
            }
            match self.upstream_topic(current) {
                Some(upstream) if upstream != current => current = upstream,
                _ => return false,
            }
        }
    }

    pub fn heartbeats_topic(&self) -> &'static str {
        HEARTBEATS_TOPIC
    }

    /// `mm2-offset-syncs.<alias>.internal` (with this policy's separator).
    pub fn offset_syncs_topic(&self, cluster_alias: &str) -> String {
        let sep = self.separator();
        format!("{OFFSET_SYNCS_PREFIX}{sep}{cluster_alias}{sep}internal")
    }

    /// `<alias>.checkpoints.internal` (with this policy's separator).
    pub fn checkpoints_topic(&self, source_alias: &str) -> String {
        let sep = self.separator();
        format!("{source_alias}{sep}checkpoints{sep}internal")
    }

    /// Whether `topic` is a heartbeats topic, local (`heartbeats`) or
    /// mirrored any number of hops (`A.heartbeats`, `B.A.heartbeats`).
    pub fn is_heartbeats_topic(&self, topic: &str) -> bool {
        self.original_topic(topic) == HEARTBEATS_TOPIC
    }

    pub fn is_checkpoints_topic(&self, topic: &str) -> bool {
        let sep = self.separator();
        topic
            .strip_suffix("internal")
            .and_then(|rest| rest.strip_suffix(sep))
            .and_then(|rest| rest.strip_suffix("checkpoints"))
            .is_some_and(|rest| rest.ends_with(sep))
    }

    /// Whether `topic` has the suffix of MirrorMaker 2's own topics (offset
    /// syncs, checkpoints, and its Connect topics `mm2-configs.A.internal`,
    /// `mm2-offsets.A.internal`, `mm2-status.A.internal`).
    pub fn is_mm2_internal_topic(&self, topic: &str) -> bool {
        topic
            .strip_suffix("internal")
            .is_some_and(|rest| rest.ends_with(self.separator()))
    }

    /// Whether `topic` is internal and never mirrored: MirrorMaker 2's own
    /// topics, Kafka's (`__consumer_offsets`, names starting with `.`), and
    /// Kafka Connect's (`...-internal`, `....internal`).
    pub fn is_internal_topic(&self, topic: &str) -> bool {
        self.is_mm2_internal_topic(topic)
            || topic.starts_with("__")
            || topic.starts_with('.')
            || topic.ends_with(".internal")
            || topic.ends_with("-internal")
    }
}

/// Under `Identity`, heartbeats topics are still renamed so that each hop
/// stays visible; MirrorMaker 2 recognises them by suffix alone.
fn looks_like_heartbeats(topic: &str) -> bool {
    topic.ends_with(HEARTBEATS_TOPIC)
}

/// The part before the first separator, if the name has one and something
/// other than separators follows it (a name like `A.` or `A..` is not remote,
/// matching how MirrorMaker 2 splits names).
fn prefixed_source<'t>(topic: &'t str, separator: &str) -> Option<&'t str> {
    if separator.is_empty() {
        return None;
    }
    let (source, rest) = topic.split_once(separator)?;
    if rest.split(separator).all(str::is_empty) {
        return None;
    }
    Some(source)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn default_policy() -> ReplicationPolicy {
        ReplicationPolicy::default()
    }

    fn identity() -> ReplicationPolicy {
        ReplicationPolicy::Identity {
            separator: ".".into(),
        }
    }

    fn setting<'a>(key: &'a str, value: &'a str) -> Setting<'a> {
        Setting {
            path: Path::new("mm2.properties"),
            key,
            value,
            line: Some(4),
        }
    }

    #[test]
    fn default_names() {
        let p = default_policy();
        assert_eq!(p.format_remote_topic("A", "orders"), "A.orders");
        assert_eq!(p.topic_source("A.orders"), Some("A"));
        assert_eq!(p.upstream_topic("A.orders"), Some("orders"));
        assert_eq!(p.topic_source("B.A.orders"), Some("B"));
        assert_eq!(p.upstream_topic("B.A.orders"), Some("A.orders"));
        assert_eq!(p.original_topic("B.A.orders"), "orders");
        assert_eq!(p.topic_source("orders"), None);
        assert_eq!(p.upstream_topic("orders"), None);
        assert_eq!(p.original_topic("orders"), "orders");
    }

    #[test]
    fn default_edge_names() {
        let p = default_policy();
        assert_eq!(p.topic_source("A."), None);
        assert_eq!(p.topic_source("A.."), None);
        assert_eq!(p.topic_source("."), None);
        assert_eq!(p.topic_source("A..x"), Some("A"));
        assert_eq!(p.upstream_topic("A..x"), Some(".x"));
        assert_eq!(p.topic_source(".x"), Some(""));
    }

    #[test]
    fn custom_separator() {
        let p = ReplicationPolicy::Default {
            separator: "__".into(),
        };
        assert_eq!(p.format_remote_topic("A", "orders.v1"), "A__orders.v1");
        assert_eq!(p.topic_source("A__orders.v1"), Some("A"));
        assert_eq!(p.upstream_topic("A__orders.v1"), Some("orders.v1"));
        assert_eq!(p.topic_source("A.orders"), None);
        assert_eq!(p.offset_syncs_topic("B"), "mm2-offset-syncs__B__internal");
        assert_eq!(p.checkpoints_topic("A"), "A__checkpoints__internal");
        assert!(p.is_checkpoints_topic("A__checkpoints__internal"));
        assert!(p.is_internal_topic("mm2-offset-syncs__B__internal"));
    }

    #[test]
    fn identity_names() {
        let p = identity();
        assert_eq!(p.format_remote_topic("A", "orders"), "orders");
        assert_eq!(p.topic_source("orders"), None);
        assert_eq!(p.topic_source("A.orders"), None);
        assert_eq!(p.upstream_topic("orders"), Some("orders"));
        assert_eq!(p.original_topic("A.orders"), "A.orders");
        // Heartbeats keep the hop prefix so they can be traced.
        assert_eq!(p.format_remote_topic("A", "heartbeats"), "A.heartbeats");
        assert_eq!(p.topic_source("A.heartbeats"), Some("A"));
        assert_eq!(p.upstream_topic("B.A.heartbeats"), Some("A.heartbeats"));
        assert_eq!(p.topic_source("heartbeats"), None);
    }

    #[test]
    fn internal_topic_names() {
        let p = default_policy();
        assert_eq!(p.offset_syncs_topic("B"), "mm2-offset-syncs.B.internal");
        assert_eq!(p.checkpoints_topic("A"), "A.checkpoints.internal");
        assert_eq!(p.heartbeats_topic(), "heartbeats");
        for topic in [
            "__consumer_offsets",
            ".hidden",
            "connect-offsets-internal",
            "mm2-offset-syncs.B.internal",
            "A.checkpoints.internal",
            "mm2-configs.A.internal",
            "mm2-offsets.A.internal",
            "mm2-status.A.internal",
        ] {
            assert!(p.is_internal_topic(topic), "{topic}");
            assert!(identity().is_internal_topic(topic), "{topic}");
        }
        for topic in [
            "orders",
            "A.orders",
            "heartbeats",
            "internal",
            "A.internalize",
        ] {
            assert!(!p.is_internal_topic(topic), "{topic}");
        }
        assert!(p.is_mm2_internal_topic("mm2-offset-syncs.B.internal"));
        assert!(!p.is_mm2_internal_topic("x-internal"));
    }

    #[test]
    fn heartbeats_and_checkpoints() {
        for p in [default_policy(), identity()] {
            assert!(p.is_heartbeats_topic("heartbeats"));
            assert!(p.is_heartbeats_topic("A.heartbeats"));
            assert!(p.is_heartbeats_topic("B.A.heartbeats"));
            assert!(!p.is_heartbeats_topic("orders"));
            assert!(!p.is_heartbeats_topic("A.orders"));
            assert!(p.is_checkpoints_topic("A.checkpoints.internal"));
            assert!(!p.is_checkpoints_topic("checkpoints.internal"));
            assert!(!p.is_checkpoints_topic("A.orders"));
        }
        assert!(!default_policy().is_heartbeats_topic("myheartbeats"));
    }

    #[test]
    fn cycles() {
        let p = default_policy();
        assert!(p.is_cycle("B.orders", "B"));
        assert!(p.is_cycle("A.B.orders", "B"));
        assert!(!p.is_cycle("A.orders", "B"));
        assert!(!p.is_cycle("orders", "B"));

        let p = identity();
        assert!(!p.is_cycle("orders", "B"));
        assert!(!p.is_cycle("B.orders", "B"));
        assert!(p.is_cycle("B.heartbeats", "B"));
        assert!(p.is_cycle("A.B.heartbeats", "B"));
        assert!(!p.is_cycle("A.heartbeats", "B"));
    }

    #[test]
    fn class_names() {
        for (class, identity_expected) in [
            (DEFAULT_POLICY_CLASS, false),
            ("DefaultReplicationPolicy", false),
            (IDENTITY_POLICY_CLASS, true),
            ("IdentityReplicationPolicy", true),
        ] {
            let s = setting("replication.policy.class", class);
            let policy = ReplicationPolicy::from_settings(Some(&s), None, None).expect("supported");
            assert_eq!(
                matches!(policy, ReplicationPolicy::Identity { .. }),
                identity_expected,
                "{class}"
            );
            assert_eq!(policy.separator(), ".");
        }
        let policy = ReplicationPolicy::from_settings(None, None, None).expect("default");
        assert_eq!(policy, ReplicationPolicy::default());
        assert_eq!(policy.class_name(), DEFAULT_POLICY_CLASS);
    }

    #[test]
    fn unsupported_class_is_an_error_naming_the_key() {
        let s = setting("A->B.replication.policy.class", "com.example.MyPolicy");
        let err = ReplicationPolicy::from_settings(Some(&s), None, None).unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with(
                "mm2.properties:4: key 'A->B.replication.policy.class': 'com.example.MyPolicy'"
            ),
            "{text}"
        );
        assert!(
            text.contains("DefaultReplicationPolicy") && text.contains("IdentityReplicationPolicy"),
            "{text}"
        );
    }

    #[test]
    fn separator_settings() {
        let sep = setting("replication.policy.separator", "_");
        let policy = ReplicationPolicy::from_settings(None, Some(&sep), None).expect("valid");
        assert_eq!(policy.separator(), "_");

        let empty = setting("replication.policy.separator", "");
        assert!(ReplicationPolicy::from_settings(None, Some(&empty), None).is_err());

        let off = setting(
            "replication.policy.internal.topic.separator.enabled",
            "false",
        );
        assert!(ReplicationPolicy::from_settings(None, Some(&sep), Some(&off)).is_err());
        assert!(ReplicationPolicy::from_settings(None, None, Some(&off)).is_ok());
        let on = setting(
            "replication.policy.internal.topic.separator.enabled",
            "TRUE",
        );
        assert!(ReplicationPolicy::from_settings(None, Some(&sep), Some(&on)).is_ok());
        let junk = setting("replication.policy.internal.topic.separator.enabled", "yes");
        assert!(ReplicationPolicy::from_settings(None, None, Some(&junk)).is_err());
    }
}
