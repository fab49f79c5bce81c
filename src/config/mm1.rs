//! MirrorMaker 1's command line (`kafka-mirror-maker.sh --consumer.config
//! F --producer.config F --whitelist R ...`, removed in Kafka 4.0) as the
//! MirrorMaker 2 configuration kmirror runs: one flow `source->target`
//! from the consumer file's cluster to the producer file's, with MirrorMaker
//! 1's semantics:
//!
//! - target topics keep their names (the identity replication policy);
//! - progress is the consumer group's (`group.id` of the consumer file),
//!   committed on the source cluster, so the group's existing offsets are
//!   where mirroring starts and `kafka-consumer-groups --describe` shows
//!   the lag;
//! - a target topic with another partition count gets records as Kafka's
//!   default partitioner would place them (a counted slow path);
//! - no heartbeats, checkpoints, offset syncs, ACL or config syncs
//!   (MirrorMaker 1 had none).
//!
//! Every key of the two files keeps its file and line, so errors and
//! warnings point there. Client keys every client reads (security, SSL,
//! SASL, `client.id`, kmirror's socket keys) apply to every client of that
//! cluster; the others to the consumer or the producer. kmirror's own
//! process keys (`kmirror.metrics.address`, ...) may be set in either file.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::config::keys;
use crate::config::properties::Properties;
use crate::config::ConfigError;

/// The aliases of the two clusters, as logs and metrics name them.
pub const SOURCE: &str = "source";
pub const TARGET: &str = "target";

/// MirrorMaker 1's default `--offset.commit.interval.ms`.
const DEFAULT_COMMIT_INTERVAL_MS: u64 = 60_000;

/// What the command line says.
#[derive(Debug, Clone)]
pub struct Mm1Options {
    pub consumer_config: PathBuf,
    pub producer_config: PathBuf,
    /// `--whitelist` / `--include`: a Java regex of topic names.
    pub include: String,
    pub offset_commit_interval_ms: Option<u64>,
    /// `--abort.on.send.failure` (MirrorMaker 1's default: true).
    pub abort_on_send_failure: bool,
}

/// Consumer and producer keys that configure the Java client's plumbing
/// (or MirrorMaker 1's own consumer handling), with nothing to configure in
/// kmirror.
const CLIENT_PLUMBING: &[&str] = &[
    "key.deserializer",
    "value.deserializer",
    "key.serializer",
    "value.serializer",
    "enable.auto.commit",
    "auto.commit.interval.ms",
    "partition.assignment.strategy",
    "exclude.internal.topics",
    "interceptor.classes",
];

/// The MirrorMaker 2 configuration of `opts`.
pub fn properties(opts: &Mm1Options) -> Result<Properties, ConfigError> {
    let consumer = Properties::load(&opts.consumer_config)?;
    let producer = Properties::load(&opts.producer_config)?;
    let mut out = Properties::assembled(Path::new("mirror-maker command line"));
    let mut derived = |key: &str, value: String| out.insert_from(key.to_string(), value, None, 0);
    derived(keys::CLUSTERS, format!("{SOURCE}, {TARGET}"));
    let flow = format!("{SOURCE}->{TARGET}");
    derived(&format!("{flow}.{}", keys::ENABLED), "true".into());
    derived(
        &format!("{flow}.{}", keys::TOPICS),
        include_list(&opts.include)?,
    );
    derived(
        keys::REPLICATION_POLICY_CLASS,
        "org.apache.kafka.connect.mirror.IdentityReplicationPolicy".into(),
    );
    for off in [
        keys::EMIT_HEARTBEATS_ENABLED,
        keys::EMIT_CHECKPOINTS_ENABLED,
        keys::EMIT_OFFSET_SYNCS_ENABLED,
        keys::SYNC_TOPIC_ACLS_ENABLED,
        keys::SYNC_TOPIC_CONFIGS_ENABLED,
        keys::HEARTBEATS_REPLICATION_ENABLED,
    ] {
        derived(off, "false".into());
    }
    // Topics kmirror creates take the broker's default replication.
    derived(keys::REPLICATION_FACTOR, "-1".into());
    derived(
        keys::OFFSET_FLUSH_INTERVAL_MS,
        opts.offset_commit_interval_ms
            .unwrap_or(DEFAULT_COMMIT_INTERVAL_MS)
            .to_string(),
    );
    derived(
        keys::ABORT_ON_SEND_FAILURE,
        opts.abort_on_send_failure.to_string(),
    );
    derived(
        &format!("{flow}.{}", keys::PROGRESS_CLUSTER),
        "source".into(),
    );
    derived(
        &format!("{flow}.{}", keys::PARTITIONS_MISMATCH),
        "route".into(),
    );
    // MirrorMaker 1's instances shared the work through the consumer
    // group, with no cap; the consumer's static membership id becomes the
    // fleet's (below).
    derived(&format!("{flow}.{}", keys::TASKS_MAX), i32::MAX.to_string());

    let group = required(
        &consumer,
        "group.id",
        "MirrorMaker 1 commits its progress under it",
    )?;
    out.insert_from(
        format!("{flow}.{}", keys::PROGRESS_GROUP),
        group.0,
        Some(group.1),
        group.2,
    );
    if let Some(entry) = consumer.get("group.instance.id") {
        out.insert_from(
            format!("{flow}.{}", crate::config::fleet::INSTANCE_ID),
            entry.value.clone(),
            Some(file_of(&consumer)),
            entry.line,
        );
    }
    // MirrorMaker 1 noticed new topics when its consumer's metadata aged.
    if let Some(entry) = consumer.get("metadata.max.age.ms") {
        let secs = entry
            .value
            .trim()
            .parse::<u64>()
            .map(|ms| ms.div_ceil(1000).max(1).to_string())
            .unwrap_or_else(|_| entry.value.clone());
        out.insert_from(
            keys::REFRESH_TOPICS_INTERVAL_SECONDS.to_string(),
            secs,
            Some(file_of(&consumer)),
            entry.line,
        );
    }
    copy_client(&consumer, SOURCE, "consumer", &mut out)?;
    copy_client(&producer, TARGET, "producer", &mut out)?;
    Ok(out)
}

/// `alias.<key>` for keys every client reads, `alias.<role>.<key>` for the
/// rest; `bootstrap.servers` required.
fn copy_client(
    from: &Properties,
    alias: &str,
    role: &str,
    out: &mut Properties,
) -> Result<(), ConfigError> {
    let file = file_of(from);
    required(from, keys::BOOTSTRAP_SERVERS, "the cluster to connect to")?;
    for (key, entry) in from.iter() {
        if matches!(
            key,
            "group.id" | "group.instance.id" | "metadata.max.age.ms"
        ) || CLIENT_PLUMBING.contains(&key)
        {
            continue;
        }
        let name = if keys::is_process_setting(key) || keys::is_host_setting(key) {
            key.to_string()
        } else if key == keys::BOOTSTRAP_SERVERS || keys::is_common_client_key(key) {
            format!("{alias}.{key}")
        } else {
            format!("{alias}.{role}.{key}")
        };
        out.insert_from(name, entry.value.clone(), Some(file.clone()), entry.line);
    }
    Ok(())
}

/// MirrorMaker 1's include list: its regex with commas read as `|`, spaces
/// and surrounding quotes dropped (as MirrorMaker 1 cleaned it), checked.
pub fn include_list(regex: &str) -> Result<String, ConfigError> {
    let cleaned: String = regex
        .trim()
        .replace(',', "|")
        .replace(' ', "")
        .trim_matches(|c| c == '"' || c == '\'')
        .to_string();
    let invalid = |message: String| ConfigError::InvalidValue {
        path: PathBuf::from("the mirror-maker command line"),
        line: None,
        key: "--whitelist".into(),
        message,
    };
    if cleaned.is_empty() {
        return Err(invalid("the topic pattern is empty".into()));
    }
    regex::Regex::new(&format!("^(?:{cleaned})$")).map_err(|e| {
        invalid(format!(
            "'{regex}' is not a regular expression kmirror can read: {e}"
        ))
    })?;
    Ok(cleaned)
}

fn file_of(props: &Properties) -> Arc<Path> {
    Arc::from(props.path())
}

/// The value of `key` in `props` with its file and line, or an error
/// naming the file.
fn required(
    props: &Properties,
    key: &str,
    why: &str,
) -> Result<(String, Arc<Path>, usize), ConfigError> {
    match props.get(key) {
        Some(e) if !e.value.trim().is_empty() => {
            Ok((e.value.trim().to_string(), file_of(props), e.line))
        }
        _ => Err(ConfigError::MissingKey {
            path: props.path().to_path_buf(),
            key: key.to_string(),
            line: None,
            reason: why.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::MirrorConfig;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    fn options(dir: &Path, consumer: &str, producer: &str) -> Mm1Options {
        Mm1Options {
            consumer_config: write(dir, "consumer.properties", consumer),
            producer_config: write(dir, "producer.properties", producer),
            include: "orders.*, payments".into(),
            offset_commit_interval_ms: Some(5000),
            abort_on_send_failure: true,
        }
    }

    #[test]
    fn mirror_maker_1_files_become_one_flow_with_its_semantics() {
        let dir = tempfile::tempdir().unwrap();
        let opts = options(
            dir.path(),
            "bootstrap.servers = a:9092\ngroup.id = mm1\nsecurity.protocol = SSL\n\
             fetch.max.bytes = 1000000\nkey.deserializer = org.apache.kafka.common.serialization.ByteArrayDeserializer\n",
            "bootstrap.servers = b:9092\ncompression.type = zstd\nacks = all\n",
        );
        let props = properties(&opts).unwrap();
        let config = MirrorConfig::from_properties(&props, None).unwrap();
        assert_eq!(config.flows.len(), 1);
        let flow = &config.flows[0];
        assert_eq!(
            (flow.source.as_str(), flow.target.as_str()),
            ("source", "target")
        );
        assert_eq!(flow.progress_group.as_deref(), Some("mm1"));
        assert!(flow.progress_on_source && flow.route_mismatched_partitions);
        assert!(!flow.emit_heartbeats_enabled && !flow.emit_checkpoints_enabled);
        assert!(!flow.emit_offset_syncs_enabled && !flow.sync_topic_configs_enabled);
        assert!(flow.topics.matches("orders-eu") && flow.topics.matches("payments"));
        assert!(!flow.topics.matches("payments-old"));
        assert_eq!(flow.offset_flush_interval.as_millis(), 5000);
        assert!(config.process.abort_on_send_failure);
        assert_eq!(
            flow.source_consumer
                .get("fetch.max.bytes")
                .map(String::as_str),
            Some("1000000")
        );
        assert_eq!(
            flow.source_consumer
                .get("security.protocol")
                .map(String::as_str),
            Some("SSL")
        );
        assert_eq!(
            flow.target_producer
                .get("compression.type")
                .map(String::as_str),
            Some("zstd")
        );
    }

    #[test]
    fn errors_name_the_file_and_line_they_come_from() {
        let dir = tempfile::tempdir().unwrap();
        let opts = options(
            dir.path(),
            "bootstrap.servers = a:9092\ngroup.id = mm1\n",
            "bootstrap.servers = b:9092\n\nacks = sometimes\n",
        );
        let props = properties(&opts).unwrap();
        let err = MirrorConfig::from_properties(&props, None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("producer.properties:3"), "{err}");

        let no_group = options(
            dir.path(),
            "bootstrap.servers = a:9092\n",
            "bootstrap.servers = b:9092\n",
        );
        let err = properties(&no_group).unwrap_err().to_string();
        assert!(
            err.contains("consumer.properties: key 'group.id': missing"),
            "{err}"
        );
    }

    #[test]
    fn include_lists_are_cleaned_as_mirror_maker_1_did() {
        assert_eq!(include_list(" 'a.*, b' ").unwrap(), "a.*|b");
        assert!(include_list("(").is_err());
        assert!(include_list(" ").is_err());
    }
}
