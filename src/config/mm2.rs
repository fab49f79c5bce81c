//! The MirrorMaker 2 model: the clusters in an `mm2.properties` file, the
//! flows between them, and each flow's settings, resolved the way
//! MirrorMaker 2 resolves them (`A->B.key`, then `key`, then the default).
//!
//! Everything is parsed here, once, into typed values; later code never
//! re-reads strings from the file. A key kmirror does not implement is never
//! dropped silently: it becomes a line in [`MirrorConfig::warnings`]. Which
//! keys are honoured is decided by the lists in [`crate::config::keys`] only.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use regex::Regex;

use crate::config::client_props::ClientProps;
use crate::config::keys::{self, ClientRole, ValueType};
use crate::config::providers;
use crate::config::replication_policy::ReplicationPolicy;
use crate::config::topic_filter::{self, PatternList, TopicFilter};
use crate::config::{ConfigError, Properties, Setting};

// Defaults for the typed flow settings, MirrorMaker 2's own.
pub const DEFAULT_REPLICATION_FACTOR: i16 = 2;
/// MirrorMaker 2's default `emit.checkpoints.interval.seconds`.
pub const DEFAULT_EMIT_CHECKPOINTS_INTERVAL: Duration = Duration::from_secs(60);
/// MirrorMaker 2's default replication factor for its internal topics.
pub const DEFAULT_INTERNAL_REPLICATION_FACTOR: i16 = 3;
pub const DEFAULT_SYNC_TOPIC_CONFIGS_INTERVAL: Duration = Duration::from_secs(600);
pub const DEFAULT_REFRESH_TOPICS_INTERVAL: Duration = Duration::from_secs(600);
pub const DEFAULT_TASKS_MAX: u32 = 1;
/// kmirror's choice, the value Kafka's sample Connect configurations use;
/// MirrorMaker 2 inherits Kafka Connect's worker default of 60 s.
pub const DEFAULT_OFFSET_FLUSH_INTERVAL: Duration = Duration::from_millis(10_000);
/// kmirror's defaults for its process-wide settings.
pub const DEFAULT_MEMORY_MAX_BYTES: usize = 256 << 20;
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);
pub const DEFAULT_TRANSACTION_INTERVAL: Duration = Duration::from_millis(100);
/// Where the metrics endpoint listens unless told otherwise.
pub const DEFAULT_METRICS_ADDRESS: &str = "127.0.0.1:9408";
pub const DEFAULT_HEALTH_STUCK: Duration = Duration::from_secs(60);

/// A MirrorMaker 2 configuration: the clusters, the enabled flows this
/// instance runs, and the keys that were ignored.
#[derive(Clone, Debug)]
pub struct MirrorConfig {
    pub path: PathBuf,
    /// Every cluster listed in `clusters`, in that order.
    pub clusters: Vec<ClusterConfig>,
    /// The enabled flows, limited to the `--clusters` targets if given.
    pub flows: Vec<FlowConfig>,
    /// The other pairs of clusters, as flows would be if enabled (those
    /// whose settings build): commands such as failback use them.
    pub other_pairs: Vec<FlowConfig>,
    /// One line per ignored key or ignored value, `file:line: key '...' ...`,
    /// in line order. To be logged at start-up.
    pub warnings: Vec<String>,
    pub process: ProcessSettings,
    /// The entries everything above was read from (config providers
    /// resolved, a profile beneath), each with its file and line: for
    /// errors found later, e.g. in a flow's client values.
    pub properties: Properties,
}

/// kmirror's own settings for the whole process (top-level keys only).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcessSettings {
    /// `kmirror.memory.max.bytes`: receive buffers held, all flows together.
    pub memory_max_bytes: usize,
    /// `kmirror.shutdown.timeout.ms`: how long a stop waits for produce
    /// requests in flight and the final progress commit.
    pub shutdown_timeout: Duration,
    /// `kmirror.transaction.interval.ms`: exactly-once mode's commit interval.
    pub transaction_interval: Duration,
    /// `kmirror.metrics.address`: where the metrics endpoint listens;
    /// `None` when set to `none`.
    pub metrics_address: Option<String>,
    /// Whether the address was set (an address set and not available stops
    /// kmirror; the default one only warns).
    pub metrics_address_set: bool,
    /// `kmirror.health.stuck.seconds`: a partition stalled this long makes
    /// `/health` answer 503.
    pub health_stuck: Duration,
    /// `kmirror.abort.on.send.failure`: a stopped partition stops the mirror.
    pub abort_on_send_failure: bool,
}

/// A cluster and the client properties every client of it starts from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterConfig {
    pub alias: String,
    /// `host:port` items of `<alias>.bootstrap.servers`.
    pub bootstrap_servers: Vec<String>,
    /// Kafka client settings common to all clients (`security.protocol`,
    /// `ssl.*`, `sasl.*`, `client.id`, ...): top-level ones overlaid with
    /// `<alias>.<key>`. Values are trimmed.
    pub client: ClientProps,
}

/// `kmirror.splice.min.bytes` when not set.
pub const DEFAULT_SPLICE_MIN_BYTES: usize = 16 * 1024;

/// `kmirror.splice`: whether record bytes take the splice path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpliceMode {
    /// Where it can run: the epoll backend, plaintext on both clusters,
    /// `check.crcs = false`, no `compression.type` on the producer.
    Auto,
    /// Required: kmirror refuses to start where it cannot run.
    On,
    Off,
}

/// One enabled replication flow, `source->target`, with its settings.
#[derive(Clone, Debug)]
pub struct FlowConfig {
    pub source: String,
    pub target: String,
    /// `topics`, `topics.exclude` (or the older `topics.blacklist`).
    pub topics: TopicFilter,
    /// `groups`, `groups.exclude` (or the older `groups.blacklist`).
    pub groups: TopicFilter,
    pub replication_policy: ReplicationPolicy,
    /// For topics created on the target; -1 means the broker's default.
    pub replication_factor: i16,
    /// False also when `sync.topic.configs.interval.seconds` is negative,
    /// which is how MirrorMaker 2 turns a periodic task off.
    pub sync_topic_configs_enabled: bool,
    pub sync_topic_configs_interval: Duration,
    /// `use.defaults.from = source`.
    pub defaults_from_source: bool,
    /// `sync.topic.acls.enabled` (default true) and its interval (600 s);
    /// `None` when off (or the interval is negative).
    pub sync_topic_acls: Option<Duration>,
    /// Topic config names never copied to the target; whole-name matches.
    pub config_properties_exclude: Vec<Regex>,
    /// False also when `refresh.topics.interval.seconds` is negative.
    pub refresh_topics_enabled: bool,
    pub refresh_topics_interval: Duration,
    pub offset_flush_interval: Duration,
    /// Kafka Connect's offsets topic on the target, where MirrorMaker 2's
    /// source connector kept this flow's positions: top-level
    /// `offset.storage.topic`, else `<target>.offset.storage.topic`, else
    /// `mm2-offsets.<source>.internal`, as MirrorMaker 2 resolves it.
    pub mm2_offsets_topic: String,
    /// `kmirror.progress.group`; `None`: `kmirror.progress.<source>.<target>`.
    pub progress_group: Option<String>,
    /// `kmirror.progress.cluster = source`.
    pub progress_on_source: bool,
    /// `kmirror.partitions.mismatch = route`.
    pub route_mismatched_partitions: bool,
    pub emit_heartbeats_enabled: bool,
    pub emit_checkpoints_enabled: bool,
    pub sync_group_offsets_enabled: bool,
    /// `emit.checkpoints.interval.seconds` (default 60); `None` when
    /// negative, which turns checkpoints off as `emit.checkpoints.enabled =
    /// false` does.
    pub emit_checkpoints_interval: Option<Duration>,
    /// `emit.heartbeats.interval.seconds` (default 1); `None` when negative.
    pub emit_heartbeats_interval: Option<Duration>,
    /// `heartbeats.topic.replication.factor` (default 3, as in MM2).
    pub heartbeats_replication_factor: i16,
    /// `heartbeats.replication.enabled` (default true): heartbeats topics
    /// are mirrored whatever `topics` says.
    pub heartbeats_replication_enabled: bool,
    /// `sync.group.offsets.interval.seconds` (default 60); `None` when
    /// negative.
    pub sync_group_offsets_interval: Option<Duration>,
    /// `checkpoints.topic.replication.factor` (default 3, as in MM2).
    pub checkpoints_replication_factor: i16,
    /// `emit.offset-syncs.enabled` (default true).
    pub emit_offset_syncs_enabled: bool,
    /// `offset-syncs.topic.location = target` (default: source).
    pub offset_syncs_on_target: bool,
    /// `offset-syncs.topic.replication.factor` (default 3, as in MM2).
    pub offset_syncs_replication_factor: i16,
    pub tasks_max: u32,
    /// Several instances sharing the flow (`kmirror.fleet.*`); `None` when
    /// `kmirror.fleet.enabled = false`.
    pub fleet: Option<crate::config::fleet::FleetConfig>,
    /// `exactly.once.source.support = enabled` (set for the target cluster,
    /// as `<target>.exactly.once.source.support`, or at top level) or
    /// `exactly.once.support = required`.
    pub exactly_once: bool,
    /// `kmirror.offsets.preserve` (default false): on an empty target
    /// partition, every record lands at its source offset.
    pub preserve_offsets: bool,
    /// `kmirror.coalesce.enabled` (default true): small consecutive batches
    /// of a partition are merged up to the producer's `batch.size`.
    pub coalesce: bool,
    /// `kmirror.splice` (default auto), and where it was set (file, line,
    /// key as written) to name in an error.
    pub splice: SpliceMode,
    pub splice_origin: Option<(PathBuf, Option<usize>, String)>,
    /// `kmirror.splice.min.bytes` (default 16384).
    pub splice_min_bytes: usize,
    /// Client properties for fetching from the source: the source cluster's
    /// client properties, then `consumer.*`, `<source>.consumer.*`,
    /// `<source>-><target>.consumer.*` (prefixes removed), each overriding
    /// the one before. `auto.offset.reset` defaults to `earliest`, as in
    /// MirrorMaker 2.
    pub source_consumer: ClientProps,
    /// Likewise for producing to the target, from `producer.*` keys.
    pub target_producer: ClientProps,
    /// Likewise for admin requests to the source, from `admin.*` keys.
    pub source_admin: ClientProps,
    /// Likewise for admin requests to the target, from `admin.*` keys.
    pub target_admin: ClientProps,
}

impl MirrorConfig {
    /// Reads an `mm2.properties` file. `only_targets` is the `--clusters`
    /// command-line list: when given and not empty, only flows whose target
    /// is one of those aliases are kept, as in MirrorMaker 2.
    pub fn load(path: &Path, only_targets: Option<&[String]>) -> Result<MirrorConfig, ConfigError> {
        let props = Properties::load(path)?;
        MirrorConfig::from_properties(&props, only_targets)
    }

    /// Builds the model from parsed properties; see [`MirrorConfig::load`].
    pub fn from_properties(
        props: &Properties,
        only_targets: Option<&[String]>,
    ) -> Result<MirrorConfig, ConfigError> {
        let (resolved, mut notes) = providers::resolve(props)?;
        if let Some((key, entry)) = props
            .iter()
            .find(|(k, e)| crate::security::secret::is_secret_key(k) && !e.value.contains("${"))
        {
            if let Some(w) = crate::security::readable_by_others(props.path()) {
                notes.push((
                    entry.line,
                    format!("key '{key}' is a secret written in the file, and {w}; or move it to a config provider"),
                ));
            }
        }
        let props = &resolved;
        let path = props.path();
        let clusters_entry = props
            .get(keys::CLUSTERS)
            .ok_or_else(|| ConfigError::MissingKey {
                path: path.to_path_buf(),
                key: keys::CLUSTERS.to_string(),
                line: None,
                reason:
                    "it lists the aliases of the clusters to mirror between, e.g. 'clusters = A, B'"
                        .to_string(),
            })?;
        let clusters_line = clusters_entry.line;
        let aliases = parse_aliases(&Setting {
            path,
            key: keys::CLUSTERS,
            value: clusters_entry.value.trim(),
            line: Some(clusters_line),
        })?;

        let layers = Layers::build(props, &aliases, &mut notes)?;
        layers.check_all(&mut notes)?;

        let clusters = (0..aliases.len())
            .map(|c| layers.cluster_config(c, clusters_line))
            .collect::<Result<Vec<_>, _>>()?;

        let mut flows = Vec::new();
        let mut other_pairs = Vec::new();
        for source in 0..aliases.len() {
            for target in 0..aliases.len() {
                if source != target && layers.flow_enabled(source, target)? {
                    flows.push(layers.flow_config(source, target, &clusters)?);
                } else if source != target {
                    other_pairs.extend(layers.flow_config(source, target, &clusters).ok());
                }
            }
        }
        if flows.is_empty() {
            notes.push((
                clusters_line,
                format!(
                    "{}:{}: no flow is enabled; nothing will be mirrored (enable one with e.g. \
                     '<source>-><target>.enabled = true')",
                    path.display(),
                    clusters_line
                ),
            ));
        }

        if let Some(targets) = only_targets.filter(|targets| !targets.is_empty()) {
            if let Some(unknown) = targets.iter().find(|target| !aliases.contains(target)) {
                return Err(ConfigError::UnknownCluster {
                    path: path.to_path_buf(),
                    line: Some(clusters_line),
                    key: "--clusters".to_string(),
                    alias: unknown.clone(),
                    known: aliases.clone(),
                });
            }
            let enabled = flows.len();
            flows.retain(|flow| targets.contains(&flow.target));
            if flows.is_empty() && enabled > 0 {
                notes.push((
                    clusters_line,
                    format!(
                        "{}: no enabled flow targets the clusters given with --clusters ({}); \
                         nothing will be mirrored",
                        path.display(),
                        targets.join(", ")
                    ),
                ));
            }
        }

        let process = layers.process_settings()?;
        notes.sort_by_key(|(line, _)| *line);
        Ok(MirrorConfig {
            path: path.to_path_buf(),
            clusters,
            flows,
            other_pairs,
            warnings: notes.into_iter().map(|(_, note)| note).collect(),
            process,
            properties: props.clone(),
        })
    }

    /// The cluster named `alias`, if it is listed in `clusters`.
    pub fn cluster(&self, alias: &str) -> Option<&ClusterConfig> {
        self.clusters.iter().find(|cluster| cluster.alias == alias)
    }

    /// The cluster named `alias`, for aliases taken from this configuration's
    /// flows, which are always listed.
    ///
    /// # Panics
    ///
    /// If `alias` is not listed in `clusters`.
    pub fn client_for(&self, alias: &str) -> &ClusterConfig {
        self.cluster(alias)
            .unwrap_or_else(|| panic!("cluster alias '{alias}' is not listed in 'clusters'"))
    }

    pub fn source_cluster(&self, flow: &FlowConfig) -> &ClusterConfig {
        self.client_for(&flow.source)
    }

    pub fn target_cluster(&self, flow: &FlowConfig) -> &ClusterConfig {
        self.client_for(&flow.target)
    }
}

/// The value of `key` in a client property map.
pub fn get_str<'m>(map: &'m BTreeMap<String, String>, key: &str) -> Option<&'m str> {
    map.get(key).map(String::as_str)
}

/// The 32-bit integer value of `key` in a client property map, or `default`.
pub fn get_i32(map: &BTreeMap<String, String>, key: &str, default: i32) -> Result<i32, String> {
    match map.get(key) {
        Some(value) => value
            .trim()
            .parse()
            .map_err(|_| format!("client setting '{key}' = '{value}' is not a 32-bit integer")),
        None => Ok(default),
    }
}

/// The 64-bit integer value of `key` in a client property map, or `default`.
pub fn get_i64(map: &BTreeMap<String, String>, key: &str, default: i64) -> Result<i64, String> {
    match map.get(key) {
        Some(value) => value
            .trim()
            .parse()
            .map_err(|_| format!("client setting '{key}' = '{value}' is not a 64-bit integer")),
        None => Ok(default),
    }
}

/// The boolean value of `key` in a client property map, or `default`.
pub fn get_bool(map: &BTreeMap<String, String>, key: &str, default: bool) -> Result<bool, String> {
    match map.get(key).map(|value| value.trim()) {
        Some(value) if value.eq_ignore_ascii_case("true") => Ok(true),
        Some(value) if value.eq_ignore_ascii_case("false") => Ok(false),
        Some(value) => Err(format!(
            "client setting '{key}' = '{value}' is not a boolean (true or false)"
        )),
        None => Ok(default),
    }
}

/// An entry of the file, with its value trimmed.
#[derive(Clone, Copy, Debug)]
struct Origin<'p> {
    /// The file the entry came from: the file itself, or a tuning profile
    /// layered beneath it.
    path: &'p Path,
    key: &'p str,
    value: &'p str,
    line: usize,
}

/// Entries by setting name (the key without its `A.` or `A->B.` prefix).
type Layer<'p> = BTreeMap<&'p str, Origin<'p>>;

/// The file's entries split by scope: top level, per cluster, per flow.
struct Layers<'p> {
    path: &'p Path,
    aliases: &'p [String],
    top: Layer<'p>,
    clusters: Vec<Layer<'p>>,
    flows: BTreeMap<(usize, usize), Layer<'p>>,
}

/// Why an entry is reported.
enum Note {
    NotImplemented,
    Unknown,
    Connect,
    Says(String),
}

/// A warning with the line it is sorted by.
type Notes = Vec<(usize, String)>;

impl<'p> Layers<'p> {
    fn build(
        props: &'p Properties,
        aliases: &'p [String],
        notes: &mut Notes,
    ) -> Result<Layers<'p>, ConfigError> {
        let mut layers = Layers {
            path: props.path(),
            aliases,
            top: Layer::new(),
            clusters: vec![Layer::new(); aliases.len()],
            flows: BTreeMap::new(),
        };
        for (key, entry) in props.iter() {
            if key == keys::CLUSTERS {
                continue;
            }
            let origin = Origin {
                path: props.file_of(entry),
                key,
                value: entry.value.trim(),
                line: entry.line,
            };
            if let Some((left, right)) = key.split_once("->") {
                let source = aliases
                    .iter()
                    .position(|alias| alias == left)
                    .ok_or_else(|| layers.unknown_cluster(origin, left))?;
                let (target, name) = alias_prefix(aliases, right).ok_or_else(|| {
                    let named = right.split('.').next().unwrap_or(right);
                    layers.unknown_cluster(origin, named)
                })?;
                if source == target {
                    let note = Note::Says(
                        "names a flow from a cluster to itself, which is never run; ignored".into(),
                    );
                    notes.push((origin.line, layers.render(origin, note)));
                    continue;
                }
                layers
                    .flows
                    .entry((source, target))
                    .or_default()
                    .insert(name, origin);
            } else if let Some((cluster, name)) = alias_prefix(aliases, key) {
                layers.clusters[cluster].insert(name, origin);
            } else {
                layers.top.insert(key, origin);
            }
        }
        Ok(layers)
    }

    fn unknown_cluster(&self, origin: Origin<'_>, alias: &str) -> ConfigError {
        ConfigError::UnknownCluster {
            path: origin.path.to_path_buf(),
            line: Some(origin.line),
            key: origin.key.to_string(),
            alias: alias.to_string(),
            known: self.aliases.to_vec(),
        }
    }

    fn setting(&self, origin: &Origin<'p>) -> Setting<'p> {
        Setting {
            path: origin.path,
            key: origin.key,
            value: origin.value,
            line: Some(origin.line),
        }
    }

    fn render(&self, origin: Origin<'_>, note: Note) -> String {
        let at = format!("{}:{}", origin.path.display(), origin.line);
        match note {
            Note::NotImplemented => format!(
                "{at}: key '{}' is not implemented by kmirror yet and is ignored",
                origin.key
            ),
            Note::Unknown => format!("{at}: unknown key '{}' is ignored", origin.key),
            Note::Connect => format!(
                "{at}: key '{}' configures Kafka Connect, which kmirror does not run on; ignored",
                origin.key
            ),
            Note::Says(text) => format!("{at}: key '{}' {text}", origin.key),
        }
    }

    /// Validates every entry and reports those kmirror ignores.
    fn check_all(&self, notes: &mut Notes) -> Result<(), ConfigError> {
        let mut report = |origin: &Origin<'p>, note: Option<Note>| {
            if let Some(note) = note {
                notes.push((origin.line, self.render(*origin, note)));
            }
        };
        for (name, origin) in &self.top {
            report(origin, self.check_top(name, origin)?);
        }
        for (cluster, layer) in self.clusters.iter().enumerate() {
            for (name, origin) in layer {
                report(origin, self.check_cluster(cluster, name, origin)?);
            }
        }
        for (&(source, target), layer) in &self.flows {
            for (name, origin) in layer {
                report(origin, self.check_flow(source, target, name, origin)?);
            }
        }
        Ok(())
    }

    /// kmirror's process-wide settings from the top level.
    fn process_settings(&self) -> Result<ProcessSettings, ConfigError> {
        let top = |name: &str| self.top.get(name).map(|origin| self.setting(origin));
        let memory_max_bytes = match top(keys::MEMORY_MAX_BYTES) {
            Some(setting) => match parse_i64(&setting)? {
                n if n >= 16 << 20 => usize::try_from(n).unwrap_or(usize::MAX),
                _ => return Err(setting.invalid("must be at least 16777216 (16 MiB)")),
            },
            None => DEFAULT_MEMORY_MAX_BYTES,
        };
        let shutdown_timeout = match top(keys::SHUTDOWN_TIMEOUT_MS) {
            Some(setting) => match parse_i64(&setting)? {
                ms if ms > 0 => Duration::from_millis(ms.unsigned_abs()),
                _ => return Err(setting.invalid("must be a positive number of milliseconds")),
            },
            None => DEFAULT_SHUTDOWN_TIMEOUT,
        };
        let transaction_interval = match top(keys::TRANSACTION_INTERVAL_MS) {
            Some(setting) => match parse_i64(&setting)? {
                ms if (10..=600_000).contains(&ms) => Duration::from_millis(ms.unsigned_abs()),
                _ => return Err(setting.invalid("must be from 10 to 600000 milliseconds")),
            },
            None => DEFAULT_TRANSACTION_INTERVAL,
        };
        let metrics = top(keys::METRICS_ADDRESS);
        let metrics_address = match metrics {
            Some(setting) if setting.value.trim().eq_ignore_ascii_case("none") => None,
            Some(setting) => {
                let v = setting.value.trim();
                if v.rsplit_once(':')
                    .is_none_or(|(_, port)| port.parse::<u16>().is_err())
                {
                    return Err(setting.invalid("must be host:port (e.g. 127.0.0.1:9408, or 0.0.0.0:9408 for every interface), or none"));
                }
                Some(v.to_string())
            }
            None => Some(DEFAULT_METRICS_ADDRESS.to_string()),
        };
        let health_stuck = match top(keys::HEALTH_STUCK_SECONDS) {
            Some(setting) => match parse_i64(&setting)? {
                s if s > 0 => Duration::from_secs(s.unsigned_abs()),
                _ => return Err(setting.invalid("must be a positive number of seconds")),
            },
            None => DEFAULT_HEALTH_STUCK,
        };
        let abort_on_send_failure = bool_or(top(keys::ABORT_ON_SEND_FAILURE), false)?;
        Ok(ProcessSettings {
            abort_on_send_failure,
            memory_max_bytes,
            shutdown_timeout,
            transaction_interval,
            metrics_address,
            metrics_address_set: metrics.is_some(),
            health_stuck,
        })
    }

    fn check_top(&self, name: &str, origin: &Origin<'p>) -> Result<Option<Note>, ConfigError> {
        if keys::is_process_setting(name)
            || keys::is_host_setting(name)
            || name.starts_with("config.providers")
        {
            // config.providers* were applied by `providers::resolve`; host.*
            // are for `kmirror tune check`.
            return Ok(None);
        }
        if name == keys::ENABLED {
            return Ok(Some(Note::Says(
                "applies only per flow, as '<source>-><target>.enabled'; ignored".into(),
            )));
        }
        if keys::is_flow_setting(name)
            || keys::is_worker_setting(name)
            || name == keys::BOOTSTRAP_SERVERS
        {
            return Ok(None);
        }
        if keys::is_mm2_not_implemented(name) {
            return Ok(Some(Note::NotImplemented));
        }
        if let Some((role, setting)) = keys::split_role(name) {
            return self.check_client(role, setting, origin);
        }
        if keys::is_common_client_key(name) {
            return self.check_client(ClientRole::Common, name, origin);
        }
        if keys::is_connect_key(name) {
            return Ok(Some(Note::Connect));
        }
        if let Some(role) = keys::specific_role(name) {
            let prefix = role.prefix();
            return Ok(Some(Note::Says(format!(
                "is a {} setting, which MirrorMaker 2 reads only as '{prefix}{name}' or \
                 '<cluster>.{prefix}{name}'; ignored",
                role_name(role)
            ))));
        }
        if let Some((cluster, rest)) = name.split_once('.') {
            if looks_like_cluster_setting(rest) {
                return Ok(Some(Note::Says(format!(
                    "names cluster '{cluster}', which is not listed in 'clusters'; ignored"
                ))));
            }
        }
        Ok(Some(Note::Unknown))
    }

    fn check_cluster(
        &self,
        cluster: usize,
        name: &str,
        origin: &Origin<'p>,
    ) -> Result<Option<Note>, ConfigError> {
        if name == keys::BOOTSTRAP_SERVERS || keys::is_worker_setting(name) {
            return Ok(None);
        }
        if keys::is_process_setting(name) {
            return Ok(Some(Note::Says(format!(
                "applies to the whole process; set '{name}' at top level; ignored"
            ))));
        }
        if let Some((role, setting)) = keys::split_role(name) {
            return self.check_client(role, setting, origin);
        }
        if keys::is_common_client_key(name) {
            return self.check_client(ClientRole::Common, name, origin);
        }
        if keys::is_connect_key(name) {
            return Ok(Some(Note::Connect));
        }
        if name == keys::ENABLED
            || keys::is_flow_setting(name)
            || keys::is_mm2_not_implemented(name)
        {
            return Ok(Some(Note::Says(format!(
                "has no effect per cluster in MirrorMaker 2; set '{name}' at top level or per flow \
                 as '<source>-><target>.{name}'; ignored"
            ))));
        }
        if let Some(role) = keys::specific_role(name) {
            return Ok(Some(Note::Says(format!(
                "is a {} setting, which MirrorMaker 2 reads only as '{}.{}{name}'; ignored",
                role_name(role),
                self.aliases[cluster],
                role.prefix()
            ))));
        }
        Ok(Some(Note::Unknown))
    }

    fn check_flow(
        &self,
        source: usize,
        target: usize,
        name: &str,
        origin: &Origin<'p>,
    ) -> Result<Option<Note>, ConfigError> {
        if name == keys::ENABLED {
            parse_bool(&self.setting(origin))?;
            return Ok(None);
        }
        if keys::is_flow_setting(name) || keys::is_worker_setting(name) {
            return Ok(None);
        }
        if keys::is_process_setting(name) {
            return Ok(Some(Note::Says(format!(
                "applies to the whole process; set '{name}' at top level; ignored"
            ))));
        }
        if keys::is_mm2_not_implemented(name) {
            return Ok(Some(Note::NotImplemented));
        }
        if let Some((role, setting)) = keys::split_role(name) {
            return self.check_client(role, setting, origin);
        }
        if keys::is_common_client_key(name) {
            return Ok(Some(Note::Says(format!(
                "is a client setting, which MirrorMaker 2 reads per cluster \
                 ('{}.{name}' or '{}.{name}'); ignored",
                self.aliases[source], self.aliases[target]
            ))));
        }
        if keys::is_connect_key(name) {
            return Ok(Some(Note::Connect));
        }
        Ok(Some(Note::Unknown))
    }

    /// Checks a client setting: honoured ones must parse, and some honoured
    /// values are reported because kmirror behaves differently.
    fn check_client(
        &self,
        role: ClientRole,
        name: &str,
        origin: &Origin<'p>,
    ) -> Result<Option<Note>, ConfigError> {
        if let Some(why) = keys::ignored_security_key(name) {
            return Ok(Some(Note::Says(format!("is ignored: {why}"))));
        }
        let Some(spec) = keys::honoured_client_key(role, name) else {
            return Ok(Some(if keys::is_known_client_key(role, name) {
                Note::NotImplemented
            } else {
                Note::Unknown
            }));
        };
        let setting = self.setting(origin);
        check_value(spec.value_type, &setting)?;
        let value = setting.value;
        let note = match name {
            "acks" if value != "all" && value != "-1" => Some(format!(
                "= '{value}': kmirror always produces with acks=all; ignored"
            )),
            "compression.type" => Some(format!(
                "= '{value}': batches the source compressed otherwise are recompressed on the slow path (without this key they pass through as they are)"
            )),
            _ => None,
        };
        Ok(note.map(Note::Says))
    }

    fn cluster_config(
        &self,
        cluster: usize,
        clusters_line: usize,
    ) -> Result<ClusterConfig, ConfigError> {
        let alias = &self.aliases[cluster];
        let origin = self.clusters[cluster]
            .get(keys::BOOTSTRAP_SERVERS)
            .or_else(|| self.top.get(keys::BOOTSTRAP_SERVERS))
            .ok_or_else(|| ConfigError::MissingKey {
                path: self.path.to_path_buf(),
                key: format!("{alias}.{}", keys::BOOTSTRAP_SERVERS),
                line: Some(clusters_line),
                reason: format!(
                    "cluster '{alias}' is listed in 'clusters' and needs its broker addresses, \
                     e.g. '{alias}.bootstrap.servers = host1:9092,host2:9092'"
                ),
            })?;
        let bootstrap_servers = parse_bootstrap_servers(&self.setting(origin))?;

        let mut client = ClientProps::default();
        for layer in [&self.top, &self.clusters[cluster]] {
            for (name, origin) in layer {
                if keys::is_common_client_key(name) {
                    client.insert(name.to_string(), origin.value.to_string());
                }
            }
        }
        Ok(ClusterConfig {
            alias: alias.clone(),
            bootstrap_servers,
            client,
        })
    }

    fn flow_enabled(&self, source: usize, target: usize) -> Result<bool, ConfigError> {
        match self
            .flows
            .get(&(source, target))
            .and_then(|layer| layer.get(keys::ENABLED))
        {
            Some(origin) => parse_bool(&self.setting(origin)),
            None => Ok(false),
        }
    }

    /// `A->B.name`, else top-level `name`.
    fn flow_setting(&self, source: usize, target: usize, name: &str) -> Option<Setting<'p>> {
        self.flows
            .get(&(source, target))
            .and_then(|layer| layer.get(name))
            .or_else(|| self.top.get(name))
            .map(|origin| self.setting(origin))
    }

    /// `A->B.name`, else `<target>.name`, else top-level `name`.
    fn worker_setting(&self, source: usize, target: usize, name: &str) -> Option<Setting<'p>> {
        self.flows
            .get(&(source, target))
            .and_then(|layer| layer.get(name))
            .or_else(|| self.clusters[target].get(name))
            .or_else(|| self.top.get(name))
            .map(|origin| self.setting(origin))
    }

    fn flow_config(
        &self,
        source: usize,
        target: usize,
        clusters: &[ClusterConfig],
    ) -> Result<FlowConfig, ConfigError> {
        let flow = |name: &str| self.flow_setting(source, target, name);
        let either = |name: &str, older: &str| flow(name).or_else(|| flow(older));

        let topics = TopicFilter::from_settings(
            flow(keys::TOPICS).as_ref(),
            either(keys::TOPICS_EXCLUDE, keys::TOPICS_BLACKLIST).as_ref(),
            topic_filter::TOPICS_DEFAULT,
            topic_filter::TOPICS_EXCLUDE_DEFAULT,
        )?;
        let groups = TopicFilter::from_settings(
            flow(keys::GROUPS).as_ref(),
            either(keys::GROUPS_EXCLUDE, keys::GROUPS_BLACKLIST).as_ref(),
            topic_filter::GROUPS_DEFAULT,
            topic_filter::GROUPS_EXCLUDE_DEFAULT,
        )?;
        let replication_policy = ReplicationPolicy::from_settings(
            flow(keys::REPLICATION_POLICY_CLASS).as_ref(),
            flow(keys::REPLICATION_POLICY_SEPARATOR).as_ref(),
            flow(keys::INTERNAL_TOPIC_SEPARATOR_ENABLED).as_ref(),
        )?;
        let replication_factor = match flow(keys::REPLICATION_FACTOR) {
            Some(setting) => parse_replication_factor(&setting)?,
            None => DEFAULT_REPLICATION_FACTOR,
        };

        let sync_interval = interval_seconds(
            flow(keys::SYNC_TOPIC_CONFIGS_INTERVAL_SECONDS),
            DEFAULT_SYNC_TOPIC_CONFIGS_INTERVAL,
        )?;
        let sync_topic_configs_enabled =
            bool_or(flow(keys::SYNC_TOPIC_CONFIGS_ENABLED), true)? && sync_interval.is_some();
        let acls_interval = interval_seconds(
            flow(keys::SYNC_TOPIC_ACLS_INTERVAL_SECONDS),
            DEFAULT_SYNC_TOPIC_CONFIGS_INTERVAL,
        )?;
        let sync_topic_acls = if bool_or(flow(keys::SYNC_TOPIC_ACLS_ENABLED), true)? {
            acls_interval
        } else {
            None
        };
        let defaults_from_source = match flow(keys::USE_DEFAULTS_FROM) {
            None => false,
            Some(s) => match s.value.trim().to_ascii_lowercase().as_str() {
                "source" => true,
                "target" => false,
                _ => return Err(s.invalid("must be source or target")),
            },
        };
        let refresh_interval = interval_seconds(
            flow(keys::REFRESH_TOPICS_INTERVAL_SECONDS),
            DEFAULT_REFRESH_TOPICS_INTERVAL,
        )?;
        let refresh_topics_enabled =
            bool_or(flow(keys::REFRESH_TOPICS_ENABLED), true)? && refresh_interval.is_some();
        let config_properties_exclude = match either(
            keys::CONFIG_PROPERTIES_EXCLUDE,
            keys::CONFIG_PROPERTIES_BLACKLIST,
        ) {
            Some(setting) => PatternList::from_setting(&setting)?,
            None => PatternList::parse(keys::CONFIG_PROPERTIES_EXCLUDE_DEFAULT)
                .expect("default patterns compile"),
        };

        let offset_flush_interval =
            match self.worker_setting(source, target, keys::OFFSET_FLUSH_INTERVAL_MS) {
                Some(setting) => match parse_i64(&setting)? {
                    ms if ms > 0 => Duration::from_millis(ms.unsigned_abs()),
                    _ => return Err(setting.invalid("must be a positive number of milliseconds")),
                },
                None => DEFAULT_OFFSET_FLUSH_INTERVAL,
            };
        // MirrorMaker 2 lets a top-level offset.storage.* key override the
        // target cluster's (MirrorMakerConfig.workerConfig).
        let mm2_offsets_topic = self
            .top
            .get(keys::OFFSET_STORAGE_TOPIC)
            .or_else(|| self.clusters[target].get(keys::OFFSET_STORAGE_TOPIC))
            .map(|origin| self.setting(origin).value.trim().to_string())
            .filter(|name| !name.is_empty())
            .unwrap_or_else(|| format!("mm2-offsets.{}.internal", self.aliases[source]));
        let progress_group = match flow(keys::PROGRESS_GROUP) {
            Some(setting) if setting.value.trim().is_empty() => {
                return Err(setting.invalid("must name a consumer group"))
            }
            Some(setting) => Some(setting.value.trim().to_string()),
            None => None,
        };
        let progress_cluster = flow(keys::PROGRESS_CLUSTER);
        let progress_on_source = match &progress_cluster {
            Some(setting) => one_of(setting, &["source", "target"])? == "source",
            None => false,
        };
        let route_mismatched_partitions = match flow(keys::PARTITIONS_MISMATCH) {
            Some(setting) => {
                let route = one_of(&setting, &["grow", "route"])? == "route";
                if route && !progress_on_source {
                    // The progress of source partition 11 cannot be kept
                    // under a 5-partition target topic.
                    return Err(setting.invalid(format!(
                        "route needs the progress kept on the source cluster: set {} = source",
                        keys::PROGRESS_CLUSTER
                    )));
                }
                route
            }
            None => false,
        };
        let tasks_max = match flow(keys::TASKS_MAX) {
            Some(setting) => match parse_i32(&setting)? {
                n if n >= 1 => n.unsigned_abs(),
                _ => return Err(setting.invalid("must be at least 1")),
            },
            None => DEFAULT_TASKS_MAX,
        };
        // What the flow mirrors names its fleet: the source, the topics
        // and how their targets are named.
        let identity = [
            keys::TOPICS,
            keys::TOPICS_EXCLUDE,
            keys::TOPICS_BLACKLIST,
            keys::REPLICATION_POLICY_CLASS,
            keys::REPLICATION_POLICY_SEPARATOR,
        ]
        .iter()
        .map(|k| flow(k).map_or("", |s| s.value))
        .chain(std::iter::once(
            clusters[source].bootstrap_servers.join(",").as_str(),
        ))
        .collect::<Vec<_>>()
        .join("|");
        let fleet = crate::config::fleet::parse(
            flow,
            &self.aliases[source],
            &self.aliases[target],
            &identity,
            tasks_max,
        )?;
        // The worker switch (per target cluster) or the connector's demand.
        let worker_exactly_once =
            match self.worker_setting(source, target, keys::EXACTLY_ONCE_SOURCE_SUPPORT) {
                Some(setting) => {
                    one_of(&setting, &["enabled", "preparing", "disabled"])? == "enabled"
                }
                None => false,
            };
        let flow_exactly_once = match flow(keys::EXACTLY_ONCE_SUPPORT) {
            Some(setting) => one_of(&setting, &["requested", "required"])? == "required",
            None => false,
        };
        let exactly_once = worker_exactly_once || flow_exactly_once;
        if let Some(setting) = flow(keys::OFFSET_LAG_MAX) {
            parse_i64(&setting)?;
        }
        let coalesce = bool_or(flow(keys::COALESCE_ENABLED), true)?;
        let splice_setting = flow(keys::SPLICE);
        let splice = match &splice_setting {
            None => SpliceMode::Auto,
            Some(s) => match one_of(s, &["auto", "on", "off"])?.as_str() {
                "on" => SpliceMode::On,
                "off" => SpliceMode::Off,
                _ => SpliceMode::Auto,
            },
        };
        let splice_min_bytes = match flow(keys::SPLICE_MIN_BYTES) {
            None => DEFAULT_SPLICE_MIN_BYTES,
            Some(s) => match s.value.parse::<usize>() {
                Ok(n) if n >= 1 => n,
                _ => {
                    return Err(s.invalid(format!(
                        "'{}' is not a number of bytes (1 or more)",
                        s.value
                    )))
                }
            },
        };
        let splice_origin = splice_setting
            .as_ref()
            .map(|s| (s.path.to_path_buf(), s.line, s.key.to_string()));
        let preserve = flow(keys::OFFSETS_PRESERVE);
        let preserve_offsets = bool_or(preserve, false)?;
        if let (true, true, Some(setting)) = (preserve_offsets, exactly_once, preserve) {
            // Each target transaction adds a marker offset the source does
            // not have.
            return Err(setting.invalid(
                "cannot be combined with exactly-once mode: every transaction kmirror commits on the target adds a marker at an offset the source uses for a record",
            ));
        }

        if let (true, true, Some(setting)) = (exactly_once, progress_on_source, &progress_cluster) {
            return Err(setting.invalid(
                "cannot be source in exactly-once mode: progress is committed in the target cluster's transactions",
            ));
        }
        if let (true, true, Some(setting)) = (
            preserve_offsets,
            route_mismatched_partitions,
            flow(keys::PARTITIONS_MISMATCH),
        ) {
            return Err(setting.invalid(
                "route cannot keep source offsets: records of one source partition land in several target partitions",
            ));
        }
        let (source_cluster, target_cluster) = (&clusters[source], &clusters[target]);
        let mut source_consumer = self.role_props(
            source_cluster,
            source,
            (source, target),
            ClientRole::Consumer,
        );
        source_consumer
            .entry("auto.offset.reset".to_string())
            .or_insert_with(|| "earliest".to_string());

        Ok(FlowConfig {
            source: self.aliases[source].clone(),
            target: self.aliases[target].clone(),
            topics,
            groups,
            replication_policy,
            replication_factor,
            sync_topic_configs_enabled,
            sync_topic_configs_interval: sync_interval
                .unwrap_or(DEFAULT_SYNC_TOPIC_CONFIGS_INTERVAL),
            defaults_from_source,
            sync_topic_acls,
            config_properties_exclude: config_properties_exclude.into_regexes(),
            refresh_topics_enabled,
            refresh_topics_interval: refresh_interval.unwrap_or(DEFAULT_REFRESH_TOPICS_INTERVAL),
            offset_flush_interval,
            mm2_offsets_topic,
            progress_group,
            progress_on_source,
            route_mismatched_partitions,
            emit_heartbeats_enabled: bool_or(flow(keys::EMIT_HEARTBEATS_ENABLED), true)?,
            emit_checkpoints_enabled: bool_or(flow(keys::EMIT_CHECKPOINTS_ENABLED), true)?,
            sync_group_offsets_enabled: bool_or(flow(keys::SYNC_GROUP_OFFSETS_ENABLED), false)?,
            emit_offset_syncs_enabled: bool_or(flow(keys::EMIT_OFFSET_SYNCS_ENABLED), true)?,
            emit_checkpoints_interval: interval_seconds(
                flow(keys::EMIT_CHECKPOINTS_INTERVAL_SECONDS),
                DEFAULT_EMIT_CHECKPOINTS_INTERVAL,
            )?,
            emit_heartbeats_interval: interval_seconds(
                flow(keys::EMIT_HEARTBEATS_INTERVAL_SECONDS),
                Duration::from_secs(1),
            )?,
            heartbeats_replication_factor: match flow(keys::HEARTBEATS_TOPIC_REPLICATION_FACTOR) {
                Some(setting) => parse_replication_factor(&setting)?,
                None => DEFAULT_INTERNAL_REPLICATION_FACTOR,
            },
            heartbeats_replication_enabled: bool_or(
                flow(keys::HEARTBEATS_REPLICATION_ENABLED),
                true,
            )?,
            sync_group_offsets_interval: interval_seconds(
                flow(keys::SYNC_GROUP_OFFSETS_INTERVAL_SECONDS),
                DEFAULT_EMIT_CHECKPOINTS_INTERVAL,
            )?,
            checkpoints_replication_factor: match flow(keys::CHECKPOINTS_TOPIC_REPLICATION_FACTOR) {
                Some(setting) => parse_replication_factor(&setting)?,
                None => DEFAULT_INTERNAL_REPLICATION_FACTOR,
            },
            offset_syncs_on_target: match flow(keys::OFFSET_SYNCS_TOPIC_LOCATION) {
                Some(setting) => one_of(&setting, &["source", "target"])? == "target",
                None => false,
            },
            offset_syncs_replication_factor: match flow(keys::OFFSET_SYNCS_TOPIC_REPLICATION_FACTOR)
            {
                Some(setting) => parse_replication_factor(&setting)?,
                None => DEFAULT_INTERNAL_REPLICATION_FACTOR,
            },
            tasks_max,
            fleet,
            exactly_once,
            preserve_offsets,
            coalesce,
            splice,
            splice_origin,
            splice_min_bytes,
            source_consumer,
            target_producer: self.role_props(
                target_cluster,
                target,
                (source, target),
                ClientRole::Producer,
            ),
            source_admin: self.role_props(
                source_cluster,
                source,
                (source, target),
                ClientRole::Admin,
            ),
            target_admin: self.role_props(
                target_cluster,
                target,
                (source, target),
                ClientRole::Admin,
            ),
        })
    }

    /// A cluster's client properties overlaid with `<role>.*` from the top
    /// level, then the cluster, then the flow.
    fn role_props(
        &self,
        cluster: &ClusterConfig,
        cluster_index: usize,
        flow: (usize, usize),
        role: ClientRole,
    ) -> ClientProps {
        let mut props = cluster.client.clone();
        let prefix = role.prefix();
        let layers = [
            (Some(&self.top), true),
            (Some(&self.clusters[cluster_index]), false),
            (self.flows.get(&flow), true),
        ];
        for (layer, mm2_scope) in layers {
            for (name, origin) in layer.into_iter().flatten() {
                // At top level and per flow, `consumer.poll.timeout.ms` and
                // `admin.timeout.ms` are MirrorMaker 2 settings, not client ones.
                if mm2_scope && keys::is_mm2_not_implemented(name) {
                    continue;
                }
                if let Some(setting) = name.strip_prefix(prefix) {
                    props.insert(setting.to_string(), origin.value.to_string());
                }
            }
        }
        props
    }
}

/// The alias `text` starts with (the longest, if aliases nest like `us` and
/// `us.east`), followed by `.`, and the rest after the dot.
fn alias_prefix<'t>(aliases: &[String], text: &'t str) -> Option<(usize, &'t str)> {
    aliases
        .iter()
        .enumerate()
        .filter_map(|(index, alias)| {
            let rest = text.strip_prefix(alias.as_str())?;
            if rest.is_empty() {
                Some((index, alias.len(), rest))
            } else {
                rest.strip_prefix('.')
                    .map(|rest| (index, alias.len(), rest))
            }
        })
        .max_by_key(|&(_, len, _)| len)
        .map(|(index, _, rest)| (index, rest))
}

/// Whether `name` is something one sets for a cluster, so that
/// `<name-of-unlisted-cluster>.<name>` is most likely a cluster left out of
/// `clusters` rather than a typo.
fn looks_like_cluster_setting(name: &str) -> bool {
    name == keys::BOOTSTRAP_SERVERS
        || keys::is_common_client_key(name)
        || keys::is_worker_setting(name)
        || keys::split_role(name).is_some()
}

fn role_name(role: ClientRole) -> &'static str {
    match role {
        ClientRole::Common => "client",
        ClientRole::Consumer => "consumer",
        ClientRole::Producer => "producer",
        ClientRole::Admin => "admin client",
    }
}

fn parse_aliases(setting: &Setting<'_>) -> Result<Vec<String>, ConfigError> {
    let mut aliases: Vec<String> = Vec::new();
    for alias in setting
        .value
        .split(',')
        .map(str::trim)
        .filter(|alias| !alias.is_empty())
    {
        if alias.contains("->") || alias.contains(char::is_whitespace) {
            return Err(setting.invalid(format!(
                "'{alias}' cannot be a cluster alias: aliases must not contain '->' or whitespace"
            )));
        }
        if !aliases.iter().any(|known| known == alias) {
            aliases.push(alias.to_string());
        }
    }
    if aliases.is_empty() {
        return Err(setting.invalid("lists no cluster alias; expected e.g. 'clusters = A, B'"));
    }
    Ok(aliases)
}

fn parse_bootstrap_servers(setting: &Setting<'_>) -> Result<Vec<String>, ConfigError> {
    let mut servers = Vec::new();
    for server in setting
        .value
        .split(',')
        .map(str::trim)
        .filter(|server| !server.is_empty())
    {
        let valid = server.rsplit_once(':').is_some_and(|(host, port)| {
            !host.is_empty() && port.parse::<u16>().is_ok_and(|port| port > 0)
        });
        if !valid {
            return Err(setting.invalid(format!(
                "'{server}' is not a broker address of the form host:port"
            )));
        }
        servers.push(server.to_string());
    }
    if servers.is_empty() {
        return Err(setting.invalid("lists no broker address"));
    }
    Ok(servers)
}

fn parse_bool(setting: &Setting<'_>) -> Result<bool, ConfigError> {
    if setting.value.eq_ignore_ascii_case("true") {
        Ok(true)
    } else if setting.value.eq_ignore_ascii_case("false") {
        Ok(false)
    } else {
        Err(setting.invalid(format!(
            "'{}' is not a boolean (true or false)",
            setting.value
        )))
    }
}

fn bool_or(setting: Option<Setting<'_>>, default: bool) -> Result<bool, ConfigError> {
    setting.map_or(Ok(default), |setting| parse_bool(&setting))
}

fn parse_i32(setting: &Setting<'_>) -> Result<i32, ConfigError> {
    setting
        .value
        .parse()
        .map_err(|_| setting.invalid(format!("'{}' is not a 32-bit integer", setting.value)))
}

fn parse_i64(setting: &Setting<'_>) -> Result<i64, ConfigError> {
    setting
        .value
        .parse()
        .map_err(|_| setting.invalid(format!("'{}' is not a 64-bit integer", setting.value)))
}

/// The value, lower-cased, if it is one of `words` (case-insensitively).
fn one_of(setting: &Setting<'_>, words: &[&str]) -> Result<String, ConfigError> {
    let value = setting.value.to_ascii_lowercase();
    if words.iter().any(|word| word.eq_ignore_ascii_case(&value)) {
        Ok(value)
    } else {
        Err(setting.invalid(format!(
            "'{}' is not one of {}",
            setting.value,
            words.join(", ")
        )))
    }
}

/// `-1` (the broker's default) or a count a topic can have.
fn parse_replication_factor(setting: &Setting<'_>) -> Result<i16, ConfigError> {
    match parse_i32(setting)? {
        -1 => Ok(-1),
        n if n >= 1 => i16::try_from(n).map_err(|_| {
            setting.invalid(format!(
                "{n} is more replicas than Kafka allows ({})",
                i16::MAX
            ))
        }),
        _ => Err(setting.invalid("must be -1 (the broker's default) or at least 1")),
    }
}

/// A `*.interval.seconds` setting, `default` when absent, or `None` when
/// negative: MirrorMaker 2's way of turning the task off. Zero is rejected,
/// as MirrorMaker 2 cannot schedule it either.
fn interval_seconds(
    setting: Option<Setting<'_>>,
    default: Duration,
) -> Result<Option<Duration>, ConfigError> {
    let Some(setting) = setting else {
        return Ok(Some(default));
    };
    match parse_i64(&setting)? {
        0 => Err(setting.invalid("must not be 0 (a negative value turns the task off)")),
        seconds if seconds < 0 => Ok(None),
        seconds => Ok(Some(Duration::from_secs(seconds.unsigned_abs()))),
    }
}

/// Checks an honoured client setting's value against its type.
fn check_value(value_type: ValueType, setting: &Setting<'_>) -> Result<(), ConfigError> {
    match value_type {
        ValueType::Text => Ok(()),
        ValueType::Bool => parse_bool(setting).map(drop),
        ValueType::IntAtLeast(min) => match parse_i32(setting)? {
            n if n >= min => Ok(()),
            _ => Err(setting.invalid(format!("must be at least {min}"))),
        },
        ValueType::OneOf(words) => one_of(setting, words).map(drop),
        ValueType::OffsetReset => {
            let by_duration = setting
                .value
                .get(..12)
                .is_some_and(|head| head.eq_ignore_ascii_case("by_duration:"))
                && setting.value.len() > 12;
            if by_duration {
                Ok(())
            } else {
                one_of(setting, &["earliest", "latest", "none"]).map(drop)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<MirrorConfig, ConfigError> {
        let props = Properties::parse(Path::new("mm2.properties"), text)?;
        MirrorConfig::from_properties(&props, None)
    }

    fn parse_ok(text: &str) -> MirrorConfig {
        parse(text).unwrap_or_else(|err| panic!("{err}"))
    }

    const TWO_CLUSTERS: &str =
        "clusters = A, B\nA.bootstrap.servers = a1:9092\nB.bootstrap.servers = b1:9092\n";

    const REALISTIC: &str = r#"# Active/passive: DC A mirrors to DC B.
clusters = A, B
A.bootstrap.servers = a1.dc-a:9092, a2.dc-a:9092,a3.dc-a:9092
B.bootstrap.servers = b1.dc-b:9092

A->B.enabled = true
B->A.enabled = false

topics = orders.*, payments
topics.exclude = .*\\.tmp, __.*
A->B.topics = orders, \
              inventory.*

groups = billing.*
replication.factor = 3
sync.topic.configs.interval.seconds = 60
refresh.topics.interval.seconds = 30
offset.flush.interval.ms = 5000
emit.checkpoints.enabled = false
sync.group.offsets.enabled = true

security.protocol = PLAINTEXT
client.rack = rack-1
B.client.rack = rack-2
A.consumer.fetch.max.bytes = 52428800
consumer.fetch.min.bytes = 1
consumer.fetch.max.wait.ms = 500
A->B.consumer.fetch.max.wait.ms = 100
producer.acks = all
B.producer.max.request.size = 2097152
admin.request.timeout.ms = 20000
"#;

    #[test]
    fn realistic_file() {
        let config = parse_ok(REALISTIC);
        assert!(config.warnings.is_empty(), "{:#?}", config.warnings);
        assert_eq!(config.path, Path::new("mm2.properties"));

        assert_eq!(config.clusters.len(), 2);
        let a = config.client_for("A");
        assert_eq!(
            a.bootstrap_servers,
            ["a1.dc-a:9092", "a2.dc-a:9092", "a3.dc-a:9092"]
        );
        assert_eq!(get_str(&a.client, "client.rack"), Some("rack-1"));
        assert_eq!(get_str(&a.client, "security.protocol"), Some("PLAINTEXT"));
        let b = config.client_for("B");
        assert_eq!(b.bootstrap_servers, ["b1.dc-b:9092"]);
        assert_eq!(get_str(&b.client, "client.rack"), Some("rack-2"));
        assert!(config.cluster("C").is_none());

        assert_eq!(config.flows.len(), 1);
        let flow = &config.flows[0];
        assert_eq!((flow.source.as_str(), flow.target.as_str()), ("A", "B"));
        assert_eq!(config.source_cluster(flow).alias, "A");
        assert_eq!(config.target_cluster(flow).alias, "B");

        // The per-flow `topics` replaces the top-level one; the top-level
        // exclude list still applies.
        assert!(flow.topics.matches("orders"));
        assert!(flow.topics.matches("inventory-eu"));
        assert!(!flow.topics.matches("payments"));
        assert!(!flow.topics.matches("inventory.tmp"));
        assert!(!flow.topics.matches("orders-v2"));
        assert!(flow.groups.matches("billing-daily"));
        assert!(!flow.groups.matches("shipping"));

        assert_eq!(flow.replication_policy, ReplicationPolicy::default());
        assert_eq!(flow.replication_factor, 3);
        assert!(flow.sync_topic_configs_enabled);
        assert_eq!(flow.sync_topic_configs_interval, Duration::from_secs(60));
        assert!(flow.refresh_topics_enabled);
        assert_eq!(flow.refresh_topics_interval, Duration::from_secs(30));
        assert_eq!(flow.offset_flush_interval, Duration::from_millis(5000));
        assert!(flow.emit_heartbeats_enabled);
        assert!(!flow.emit_checkpoints_enabled);
        assert!(flow.sync_group_offsets_enabled);
        assert_eq!(flow.tasks_max, 1);
        assert!(!flow.exactly_once);

        let excluded = |name: &str| {
            flow.config_properties_exclude
                .iter()
                .any(|re| re.is_match(name))
        };
        assert_eq!(flow.config_properties_exclude.len(), 6);
        assert!(excluded("min.insync.replicas"));
        assert!(excluded("leader.replication.throttled.replicas"));
        assert!(!excluded("retention.ms"));
        assert!(!excluded("min.insync.replicasX"));

        let consumer = &flow.source_consumer;
        assert_eq!(get_i32(consumer, "fetch.max.bytes", 0), Ok(52_428_800));
        assert_eq!(get_i32(consumer, "fetch.min.bytes", 0), Ok(1));
        assert_eq!(get_i32(consumer, "fetch.max.wait.ms", 0), Ok(100));
        assert_eq!(get_str(consumer, "client.rack"), Some("rack-1"));
        assert_eq!(get_str(consumer, "auto.offset.reset"), Some("earliest"));
        assert_eq!(get_str(consumer, "acks"), None);

        let producer = &flow.target_producer;
        assert_eq!(get_str(producer, "acks"), Some("all"));
        assert_eq!(get_i32(producer, "max.request.size", 0), Ok(2_097_152));
        assert_eq!(get_str(producer, "client.rack"), Some("rack-2"));
        assert_eq!(get_str(producer, "fetch.min.bytes"), None);

        assert_eq!(
            get_i32(&flow.source_admin, "request.timeout.ms", 0),
            Ok(20_000)
        );
        assert_eq!(get_str(&flow.target_admin, "client.rack"), Some("rack-2"));
    }

    #[test]
    fn defaults() {
        let config = parse_ok(&format!("{TWO_CLUSTERS}A->B.enabled = true\n"));
        let flow = &config.flows[0];
        assert!(flow.topics.matches("orders"));
        assert!(!flow.topics.matches("__consumer_offsets"));
        assert!(!flow.groups.matches("console-consumer-1"));
        assert_eq!(flow.replication_factor, DEFAULT_REPLICATION_FACTOR);
        assert!(flow.sync_topic_configs_enabled && flow.refresh_topics_enabled);
        assert_eq!(
            flow.sync_topic_configs_interval,
            DEFAULT_SYNC_TOPIC_CONFIGS_INTERVAL
        );
        assert_eq!(
            flow.refresh_topics_interval,
            DEFAULT_REFRESH_TOPICS_INTERVAL
        );
        assert_eq!(flow.offset_flush_interval, DEFAULT_OFFSET_FLUSH_INTERVAL);
        assert!(flow.emit_heartbeats_enabled && flow.emit_checkpoints_enabled);
        assert!(!flow.sync_group_offsets_enabled && !flow.exactly_once);
        assert_eq!(flow.tasks_max, DEFAULT_TASKS_MAX);
        assert!(config.warnings.is_empty(), "{:#?}", config.warnings);
    }

    #[test]
    fn client_settings_override_in_order() {
        let config = parse_ok(&format!(
            "{TWO_CLUSTERS}A->B.enabled = true\n\
             client.id = top\n\
             A.client.id = cluster\n\
             consumer.client.id = consumer\n\
             A.consumer.check.crcs = false\n\
             consumer.check.crcs = true\n\
             A.consumer.isolation.level = read_committed\n\
             A->B.consumer.isolation.level = read_uncommitted\n"
        ));
        let flow = &config.flows[0];
        assert_eq!(
            get_str(&config.client_for("A").client, "client.id"),
            Some("cluster")
        );
        assert_eq!(
            get_str(&config.client_for("B").client, "client.id"),
            Some("top")
        );
        assert_eq!(
            get_str(&flow.source_consumer, "client.id"),
            Some("consumer")
        );
        assert_eq!(
            get_bool(&flow.source_consumer, "check.crcs", true),
            Ok(false)
        );
        assert_eq!(
            get_str(&flow.source_consumer, "isolation.level"),
            Some("read_uncommitted")
        );
        assert_eq!(get_str(&flow.target_producer, "client.id"), Some("top"));
    }

    #[test]
    fn mm2_settings_with_client_prefixes_stay_out_of_client_maps() {
        let config = parse_ok(&format!(
            "{TWO_CLUSTERS}A->B.enabled = true\nconsumer.poll.timeout.ms = 500\nadmin.timeout.ms = 1000\n"
        ));
        let flow = &config.flows[0];
        assert_eq!(get_str(&flow.source_consumer, "poll.timeout.ms"), None);
        assert_eq!(get_str(&flow.source_admin, "timeout.ms"), None);
        assert_eq!(config.warnings.len(), 2, "{:#?}", config.warnings);
        assert!(config.warnings[0].contains("'consumer.poll.timeout.ms' is not implemented"));
    }

    #[test]
    fn malformed_file_names_file_and_line() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("mm2.properties");
        std::fs::write(
            &path,
            format!("{TWO_CLUSTERS}A->B.enabled = true\ntopics = orders\\u00zz\n"),
        )
        .expect("write");
        let err = MirrorConfig::load(&path, None).unwrap_err();
        assert!(
            matches!(err, ConfigError::Syntax { line: 5, .. }),
            "{err:?}"
        );
        assert!(
            err.to_string()
                .starts_with(&format!("{}:5: ", path.display())),
            "{err}"
        );
        assert_eq!(err.exit_code(), 2);

        let err = MirrorConfig::load(&dir.path().join("absent.properties"), None).unwrap_err();
        assert!(matches!(err, ConfigError::Io { .. }), "{err:?}");
    }

    #[test]
    fn load_reads_a_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("mm2.properties");
        std::fs::write(&path, REALISTIC).expect("write");
        let config = MirrorConfig::load(&path, None).expect("loads");
        assert_eq!(config.path, path);
        assert_eq!(config.flows.len(), 1);
    }

    #[test]
    fn unknown_alias_in_a_flow_key() {
        let err = parse(&format!(
            "{TWO_CLUSTERS}A->B.enabled = true\nA->C.enabled = true\n"
        ))
        .unwrap_err();
        match &err {
            ConfigError::UnknownCluster {
                line, key, alias, ..
            } => {
                assert_eq!(*line, Some(5));
                assert_eq!(key, "A->C.enabled");
                assert_eq!(alias, "C");
            }
            other => panic!("{other:?}"),
        }
        assert!(
            err.to_string()
                .starts_with("mm2.properties:5: key 'A->C.enabled': cluster alias 'C'"),
            "{err}"
        );

        let err = parse(&format!("{TWO_CLUSTERS}X->B.topics = x\n")).unwrap_err();
        assert!(
            matches!(&err, ConfigError::UnknownCluster { alias, .. } if alias == "X"),
            "{err:?}"
        );
    }

    #[test]
    fn defaults_for_synced_topic_configs_come_from_where_use_defaults_from_says() {
        let flow = |extra: &str| {
            parse(&format!("{TWO_CLUSTERS}A->B.enabled = true\n{extra}"))
                .map(|c| c.flows[0].defaults_from_source)
        };
        assert!(!flow("").unwrap());
        assert!(flow("use.defaults.from = Source\n").unwrap());
        assert!(!flow("A->B.use.defaults.from = target\n").unwrap());
        let err = flow("use.defaults.from = both\n").unwrap_err().to_string();
        assert!(
            err.contains("use.defaults.from") && err.contains(":5:"),
            "{err}"
        );
    }

    #[test]
    fn missing_bootstrap_servers() {
        let err =
            parse("# mirror\nclusters = A, B\nA.bootstrap.servers = a:9092\nA->B.enabled = true\n")
                .unwrap_err();
        match &err {
            ConfigError::MissingKey { key, line, .. } => {
                assert_eq!(key, "B.bootstrap.servers");
                assert_eq!(*line, Some(2));
            }
            other => panic!("{other:?}"),
        }
        assert!(
            err.to_string()
                .starts_with("mm2.properties:2: key 'B.bootstrap.servers': missing"),
            "{err}"
        );

        // A top-level bootstrap.servers serves every cluster, as in MirrorMaker 2.
        let config = parse_ok("clusters = A, B\nbootstrap.servers = x:9092\nA->B.enabled = true\n");
        assert_eq!(config.client_for("B").bootstrap_servers, ["x:9092"]);
    }

    #[test]
    fn missing_or_empty_clusters() {
        let err = parse("A.bootstrap.servers = a:9092\n").unwrap_err();
        assert!(
            matches!(&err, ConfigError::MissingKey { key, .. } if key == "clusters"),
            "{err:?}"
        );
        let err = parse("clusters = , \n").unwrap_err();
        assert!(
            matches!(&err, ConfigError::InvalidValue { key, line: Some(1), .. } if key == "clusters"),
            "{err:?}"
        );
    }

    #[test]
    fn bad_bootstrap_servers() {
        let err = parse("clusters = A\nA.bootstrap.servers = a:9092, b\n").unwrap_err();
        assert!(
            matches!(&err, ConfigError::InvalidValue { key, line: Some(2), .. } if key == "A.bootstrap.servers"),
            "{err:?}"
        );
        assert!(err.to_string().contains("'b'"), "{err}");
    }

    #[test]
    fn clusters_filter_keeps_flows_to_the_named_targets() {
        let text = format!("{TWO_CLUSTERS}A->B.enabled = true\nB->A.enabled = true\n");
        let props = Properties::parse(Path::new("mm2.properties"), &text).expect("parses");

        let all = MirrorConfig::from_properties(&props, None).expect("valid");
        assert_eq!(all.flows.len(), 2);
        let empty: &[String] = &[];
        assert_eq!(
            MirrorConfig::from_properties(&props, Some(empty))
                .expect("valid")
                .flows
                .len(),
            2
        );

        let only_b =
            MirrorConfig::from_properties(&props, Some(&["B".to_string()])).expect("valid");
        assert_eq!(only_b.flows.len(), 1);
        assert_eq!(
            (
                only_b.flows[0].source.as_str(),
                only_b.flows[0].target.as_str()
            ),
            ("A", "B")
        );
        assert_eq!(only_b.clusters.len(), 2);

        let err = MirrorConfig::from_properties(&props, Some(&["B".to_string(), "C".to_string()]))
            .unwrap_err();
        match &err {
            ConfigError::UnknownCluster {
                key, alias, line, ..
            } => {
                assert_eq!(key, "--clusters");
                assert_eq!(alias, "C");
                assert_eq!(*line, Some(1));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn warnings_name_file_line_and_key() {
        let config = parse_ok(&format!(
            "{TWO_CLUSTERS}\
             A->B.enabled = true\n\
             refresh.groups.enabled = false\n\
             no.such.key = 1\n\
             offset.storage.replication.factor = 1\n\
             A.fetch.max.bytes = 100\n\
             B.security.protocol = PLAINTEXT\n\
             producer.compression.type = zstd\n\
             producer.linger.ms = 5\n\
             C.bootstrap.servers = c:9092\n\
             A->B.consumer.fetch.max.byte = 1\n\
             A->A.enabled = true\n\
             A.topics = x\n\
             ssl.keymanager.algorithm = SunX509\n"
        ));
        let expected = [
            "mm2.properties:5: key 'refresh.groups.enabled' is not implemented by kmirror yet and is ignored",
            "mm2.properties:6: unknown key 'no.such.key' is ignored",
            "mm2.properties:7: key 'offset.storage.replication.factor' configures Kafka Connect",
            "mm2.properties:8: key 'A.fetch.max.bytes' is a consumer setting, which MirrorMaker 2 reads only as 'A.consumer.fetch.max.bytes'",
            "mm2.properties:10: key 'producer.compression.type' = 'zstd': batches the source compressed otherwise are recompressed",
            "mm2.properties:11: key 'producer.linger.ms' is not implemented by kmirror yet",
            "mm2.properties:12: key 'C.bootstrap.servers' names cluster 'C', which is not listed in 'clusters'",
            "mm2.properties:13: unknown key 'A->B.consumer.fetch.max.byte' is ignored",
            "mm2.properties:14: key 'A->A.enabled' names a flow from a cluster to itself",
            "mm2.properties:15: key 'A.topics' has no effect per cluster",
            "mm2.properties:16: key 'ssl.keymanager.algorithm' is ignored: rustls selects",
        ];
        assert_eq!(
            config.warnings.len(),
            expected.len(),
            "{:#?}",
            config.warnings
        );
        for (warning, prefix) in config.warnings.iter().zip(expected) {
            assert!(
                warning.starts_with(prefix),
                "{warning:?} does not start with {prefix:?}"
            );
        }
    }

    #[test]
    fn no_enabled_flow_is_a_warning() {
        let config = parse_ok(&format!("{TWO_CLUSTERS}B->A.enabled = false\n"));
        assert!(config.flows.is_empty());
        assert_eq!(config.warnings.len(), 1);
        assert!(
            config.warnings[0].starts_with("mm2.properties:1: no flow is enabled"),
            "{:?}",
            config.warnings
        );
    }

    #[test]
    fn bad_regex_names_key_and_line() {
        let err = parse(&format!(
            "{TWO_CLUSTERS}A->B.enabled = true\nA->B.topics = orders, [bad\n"
        ))
        .unwrap_err();
        match &err {
            ConfigError::InvalidValue { key, line, .. } => {
                assert_eq!(key, "A->B.topics");
                assert_eq!(*line, Some(5));
            }
            other => panic!("{other:?}"),
        }
        assert!(
            err.to_string()
                .starts_with("mm2.properties:5: key 'A->B.topics': '[bad'"),
            "{err}"
        );

        let err = parse(&format!(
            "{TWO_CLUSTERS}A->B.enabled = true\nconfig.properties.exclude = (\n"
        ))
        .unwrap_err();
        assert!(
            matches!(&err, ConfigError::InvalidValue { key, .. } if key == "config.properties.exclude"),
            "{err:?}"
        );
    }

    #[test]
    fn typed_values_are_checked_with_their_origin() {
        let cases = [
            ("A->B.enabled = yes\n", "A->B.enabled"),
            (
                "A->B.enabled = true\nreplication.factor = 0\n",
                "replication.factor",
            ),
            (
                "A->B.enabled = true\nA->B.tasks.max = many\n",
                "A->B.tasks.max",
            ),
            (
                "A->B.enabled = true\nsync.topic.configs.enabled = maybe\n",
                "sync.topic.configs.enabled",
            ),
            (
                "A->B.enabled = true\nrefresh.topics.interval.seconds = 0\n",
                "refresh.topics.interval.seconds",
            ),
            (
                "A->B.enabled = true\nB.offset.flush.interval.ms = -5\n",
                "B.offset.flush.interval.ms",
            ),
            (
                "A->B.enabled = true\nexactly.once.source.support = on\n",
                "exactly.once.source.support",
            ),
            (
                "A.consumer.fetch.max.bytes = lots\n",
                "A.consumer.fetch.max.bytes",
            ),
            ("producer.acks = some\n", "producer.acks"),
            (
                "consumer.auto.offset.reset = oldest\n",
                "consumer.auto.offset.reset",
            ),
            (
                "B->A.enabled = false\nB->A.consumer.check.crcs = 1\n",
                "B->A.consumer.check.crcs",
            ),
        ];
        for (extra, bad_key) in cases {
            let err = parse(&format!("{TWO_CLUSTERS}{extra}")).unwrap_err();
            match &err {
                ConfigError::InvalidValue {
                    key,
                    line: Some(line),
                    ..
                } => {
                    assert_eq!(key, bad_key, "{err}");
                    assert!(*line >= 4, "{err}");
                }
                other => panic!("{extra:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn older_exclude_spellings_are_honoured() {
        let config = parse_ok(&format!(
            "{TWO_CLUSTERS}A->B.enabled = true\ntopics.blacklist = secret.*\ngroups.blacklist = tmp.*\n"
        ));
        let flow = &config.flows[0];
        assert!(!flow.topics.matches("secret-1"));
        assert!(flow.topics.matches("__consumer_offsets"));
        assert!(!flow.groups.matches("tmp-1"));
        assert!(config.warnings.is_empty(), "{:#?}", config.warnings);

        // The current spelling wins over the older one.
        let config = parse_ok(&format!(
            "{TWO_CLUSTERS}A->B.enabled = true\ntopics.exclude = a\nA->B.topics.blacklist = b\n"
        ));
        assert!(config.flows[0].topics.matches("b"));
        assert!(!config.flows[0].topics.matches("a"));
    }

    #[test]
    fn replication_policy_names() {
        let config = parse_ok(&format!(
            "{TWO_CLUSTERS}A->B.enabled = true\nB->A.enabled = true\n\
             replication.policy.class = org.apache.kafka.connect.mirror.DefaultReplicationPolicy\n\
             replication.policy.separator = _\n\
             B->A.replication.policy.class = IdentityReplicationPolicy\n"
        ));
        let a_to_b = &config.flows[0];
        let b_to_a = &config.flows[1];
        assert_eq!((a_to_b.source.as_str(), b_to_a.source.as_str()), ("A", "B"));
        assert_eq!(
            a_to_b.replication_policy,
            ReplicationPolicy::Default {
                separator: "_".into()
            }
        );
        assert_eq!(
            a_to_b.replication_policy.format_remote_topic("A", "orders"),
            "A_orders"
        );
        assert_eq!(
            b_to_a.replication_policy,
            ReplicationPolicy::Identity {
                separator: "_".into()
            }
        );
        assert_eq!(
            b_to_a.replication_policy.format_remote_topic("B", "orders"),
            "orders"
        );

        let err = parse(&format!(
            "{TWO_CLUSTERS}A->B.enabled = true\nreplication.policy.class = com.example.Custom\n"
        ))
        .unwrap_err();
        assert!(
            matches!(&err, ConfigError::InvalidValue { key, line: Some(5), .. } if key == "replication.policy.class"),
            "{err:?}"
        );
        assert!(
            err.to_string().contains("IdentityReplicationPolicy"),
            "{err}"
        );
    }

    #[test]
    fn security_settings_reach_each_client_and_bad_protocols_are_named() {
        let config = parse_ok(&format!(
            "{TWO_CLUSTERS}A->B.enabled = true\n\
             B.security.protocol = SASL_SSL\n\
             B.sasl.mechanism = SCRAM-SHA-512\n\
             A.security.protocol = SSL\n\
             A.consumer.ssl.keystore.location = /etc/kmirror/a.p12\n"
        ));
        assert!(config.warnings.is_empty(), "{:#?}", config.warnings);
        let flow = &config.flows[0];
        assert_eq!(
            get_str(&flow.target_producer, "security.protocol"),
            Some("SASL_SSL")
        );
        assert_eq!(
            get_str(&flow.target_producer, "sasl.mechanism"),
            Some("SCRAM-SHA-512")
        );
        assert_eq!(
            get_str(&flow.source_consumer, "security.protocol"),
            Some("SSL")
        );
        assert_eq!(
            get_str(&flow.source_consumer, "ssl.keystore.location"),
            Some("/etc/kmirror/a.p12")
        );

        let err = parse(&format!(
            "{TWO_CLUSTERS}A->B.enabled = true\nA.consumer.security.protocol = SASL_TLS\n"
        ))
        .unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("mm2.properties:5: key 'A.consumer.security.protocol'"),
            "{text}"
        );
        assert_eq!(err.exit_code(), 2);
    }

    #[test]
    fn mirror_maker_2_offsets_topic_resolved_as_mirror_maker_2_does() {
        let two_ways = format!("{TWO_CLUSTERS}A->B.enabled = true\nB->A.enabled = true\n");
        let config = parse_ok(&two_ways);
        assert_eq!(config.flows[0].mm2_offsets_topic, "mm2-offsets.A.internal");
        assert_eq!(config.flows[1].mm2_offsets_topic, "mm2-offsets.B.internal");
        let config = parse_ok(&format!("{two_ways}B.offset.storage.topic = b-offsets\n"));
        assert_eq!(config.flows[0].mm2_offsets_topic, "b-offsets");
        assert_eq!(config.flows[1].mm2_offsets_topic, "mm2-offsets.B.internal");
        // A top-level key overrides the target cluster's.
        let config = parse_ok(&format!(
            "{two_ways}B.offset.storage.topic = b-offsets\noffset.storage.topic = shared\n"
        ));
        assert_eq!(config.flows[0].mm2_offsets_topic, "shared");
        assert_eq!(config.flows[1].mm2_offsets_topic, "shared");
    }

    #[test]
    fn exactly_once_and_worker_settings_per_target() {
        let config = parse_ok(&format!(
            "{TWO_CLUSTERS}A->B.enabled = true\nB->A.enabled = true\n\
             B.exactly.once.source.support = enabled\n\
             B.offset.flush.interval.ms = 2000\n\
             B->A.exactly.once.support = required\n\
             kmirror.transaction.interval.ms = 250\n"
        ));
        let a_to_b = &config.flows[0];
        let b_to_a = &config.flows[1];
        assert!(a_to_b.exactly_once);
        assert_eq!(a_to_b.offset_flush_interval, Duration::from_millis(2000));
        assert!(b_to_a.exactly_once);
        assert_eq!(b_to_a.offset_flush_interval, DEFAULT_OFFSET_FLUSH_INTERVAL);
        assert_eq!(
            config.process.transaction_interval,
            Duration::from_millis(250)
        );
        assert!(config.warnings.is_empty(), "{:#?}", config.warnings);
        let other = parse_ok(&format!(
            "{TWO_CLUSTERS}A->B.enabled = true\nB.exactly.once.source.support = disabled\n"
        ));
        assert!(!other.flows[0].exactly_once);
    }

    #[test]
    fn offset_preserving_mode_per_flow_and_never_with_exactly_once() {
        let config = parse_ok(&format!(
            "{TWO_CLUSTERS}A->B.enabled = true\nB->A.enabled = true\n\
             A->B.kmirror.offsets.preserve = true\n"
        ));
        assert!(config.flows[0].preserve_offsets);
        assert!(!config.flows[1].preserve_offsets);
        assert!(config.warnings.is_empty(), "{:#?}", config.warnings);
        let err = parse(&format!(
            "{TWO_CLUSTERS}A->B.enabled = true\nkmirror.offsets.preserve = true\n\
             B.exactly.once.source.support = enabled\n"
        ))
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with("mm2.properties:5: key 'kmirror.offsets.preserve'")
                && err.contains("exactly-once"),
            "{err}"
        );
        let err = parse(&format!(
            "{TWO_CLUSTERS}A->B.enabled = true\nkmirror.offsets.preserve = yes\n"
        ))
        .unwrap_err()
        .to_string();
        assert!(err.contains("kmirror.offsets.preserve"), "{err}");
    }

    #[test]
    fn metrics_address_and_health_threshold() {
        let default = parse_ok(&format!("{TWO_CLUSTERS}A->B.enabled = true\n"));
        assert_eq!(
            default.process.metrics_address.as_deref(),
            Some(DEFAULT_METRICS_ADDRESS)
        );
        assert!(!default.process.metrics_address_set);
        assert_eq!(default.process.health_stuck, DEFAULT_HEALTH_STUCK);
        let set = parse_ok(&format!(
            "{TWO_CLUSTERS}A->B.enabled = true\nkmirror.metrics.address = 0.0.0.0:9999\nkmirror.health.stuck.seconds = 5\n"
        ));
        assert_eq!(set.process.metrics_address.as_deref(), Some("0.0.0.0:9999"));
        assert!(set.process.metrics_address_set);
        assert_eq!(set.process.health_stuck, Duration::from_secs(5));
        let off = parse_ok(&format!(
            "{TWO_CLUSTERS}A->B.enabled = true\nkmirror.metrics.address = none\n"
        ));
        assert_eq!(off.process.metrics_address, None);
        let err = parse(&format!(
            "{TWO_CLUSTERS}A->B.enabled = true\nkmirror.metrics.address = 9408\n"
        ))
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with("mm2.properties:5: key 'kmirror.metrics.address'"),
            "{err}"
        );
    }

    #[test]
    fn offset_lag_max_is_met_by_exact_syncs() {
        let config = parse_ok(&format!(
            "{TWO_CLUSTERS}A->B.enabled = true\noffset.lag.max = 0\nA->B.offset.lag.max = 100\n"
        ));
        assert!(config.warnings.is_empty(), "{:#?}", config.warnings);
        let err = parse(&format!(
            "{TWO_CLUSTERS}A->B.enabled = true\noffset.lag.max = many\n"
        ))
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with("mm2.properties:5: key 'offset.lag.max'"),
            "{err}"
        );
    }

    #[test]
    fn negative_interval_turns_the_task_off() {
        let config = parse_ok(&format!(
            "{TWO_CLUSTERS}A->B.enabled = true\nsync.topic.configs.interval.seconds = -1\n\
             A->B.replication.factor = -1\nA->B.tasks.max = 4\n"
        ));
        let flow = &config.flows[0];
        assert!(!flow.sync_topic_configs_enabled);
        assert_eq!(
            flow.sync_topic_configs_interval,
            DEFAULT_SYNC_TOPIC_CONFIGS_INTERVAL
        );
        assert!(flow.refresh_topics_enabled);
        assert_eq!(flow.replication_factor, -1);
        assert_eq!(flow.tasks_max, 4);
    }

    #[test]
    fn nested_aliases_take_the_longest_match() {
        let config = parse_ok(
            "clusters = us, us.east\nus.bootstrap.servers = u:9092\nus.east.bootstrap.servers = e:9092\n\
             us->us.east.enabled = true\n",
        );
        assert_eq!(config.client_for("us.east").bootstrap_servers, ["e:9092"]);
        assert_eq!(config.flows[0].target, "us.east");
    }

    #[test]
    fn map_accessors() {
        let mut map = BTreeMap::new();
        map.insert("n".to_string(), " 42 ".to_string());
        map.insert("b".to_string(), "TRUE".to_string());
        map.insert("x".to_string(), "nope".to_string());
        assert_eq!(get_i32(&map, "n", 0), Ok(42));
        assert_eq!(get_i64(&map, "n", 0), Ok(42));
        assert_eq!(get_i32(&map, "absent", 7), Ok(7));
        assert_eq!(get_bool(&map, "b", false), Ok(true));
        assert!(get_i32(&map, "x", 0).unwrap_err().contains("'x'"));
        assert!(get_bool(&map, "x", false).is_err());
    }
}
