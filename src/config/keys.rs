//! The one list of configuration keys kmirror knows: the MirrorMaker 2 and
//! Kafka client keys it honours, those it recognises but does not implement
//! yet, and the Kafka Connect keys it has no use for.
//!
//! Honouring a new key means moving it into an `HONOURED` list (and reading
//! it in `mm2.rs`); every other key a file sets is reported at start-up.

// Keys of the MirrorMaker 2 model.
pub const CLUSTERS: &str = "clusters";
pub const BOOTSTRAP_SERVERS: &str = "bootstrap.servers";
pub const ENABLED: &str = "enabled";

// Flow settings, resolved as `A->B.key`, then `key`, then the default.
pub const TOPICS: &str = "topics";
pub const TOPICS_EXCLUDE: &str = "topics.exclude";
pub const TOPICS_BLACKLIST: &str = "topics.blacklist";
pub const GROUPS: &str = "groups";
pub const GROUPS_EXCLUDE: &str = "groups.exclude";
pub const GROUPS_BLACKLIST: &str = "groups.blacklist";
pub const REPLICATION_POLICY_CLASS: &str = "replication.policy.class";
pub const REPLICATION_POLICY_SEPARATOR: &str = "replication.policy.separator";
pub const INTERNAL_TOPIC_SEPARATOR_ENABLED: &str =
    "replication.policy.internal.topic.separator.enabled";
pub const REPLICATION_FACTOR: &str = "replication.factor";
pub const SYNC_TOPIC_CONFIGS_ENABLED: &str = "sync.topic.configs.enabled";
pub const SYNC_TOPIC_CONFIGS_INTERVAL_SECONDS: &str = "sync.topic.configs.interval.seconds";
pub const SYNC_TOPIC_ACLS_ENABLED: &str = "sync.topic.acls.enabled";
/// Where a topic config the source leaves at its default takes its value
/// on the target: `target` (its own default; MirrorMaker 2's default) or
/// `source`.
pub const USE_DEFAULTS_FROM: &str = "use.defaults.from";
pub const SYNC_TOPIC_ACLS_INTERVAL_SECONDS: &str = "sync.topic.acls.interval.seconds";
pub const CONFIG_PROPERTIES_EXCLUDE: &str = "config.properties.exclude";
pub const CONFIG_PROPERTIES_BLACKLIST: &str = "config.properties.blacklist";
pub const REFRESH_TOPICS_ENABLED: &str = "refresh.topics.enabled";
pub const REFRESH_TOPICS_INTERVAL_SECONDS: &str = "refresh.topics.interval.seconds";
pub const EMIT_HEARTBEATS_ENABLED: &str = "emit.heartbeats.enabled";
pub const EMIT_CHECKPOINTS_ENABLED: &str = "emit.checkpoints.enabled";
pub const SYNC_GROUP_OFFSETS_ENABLED: &str = "sync.group.offsets.enabled";
pub const EMIT_OFFSET_SYNCS_ENABLED: &str = "emit.offset-syncs.enabled";
pub const EMIT_CHECKPOINTS_INTERVAL_SECONDS: &str = "emit.checkpoints.interval.seconds";
pub const EMIT_HEARTBEATS_INTERVAL_SECONDS: &str = "emit.heartbeats.interval.seconds";
pub const HEARTBEATS_TOPIC_REPLICATION_FACTOR: &str = "heartbeats.topic.replication.factor";
pub const HEARTBEATS_REPLICATION_ENABLED: &str = "heartbeats.replication.enabled";
pub const SYNC_GROUP_OFFSETS_INTERVAL_SECONDS: &str = "sync.group.offsets.interval.seconds";
pub const CHECKPOINTS_TOPIC_REPLICATION_FACTOR: &str = "checkpoints.topic.replication.factor";
pub const OFFSET_SYNCS_TOPIC_LOCATION: &str = "offset-syncs.topic.location";
pub const OFFSET_SYNCS_TOPIC_REPLICATION_FACTOR: &str = "offset-syncs.topic.replication.factor";
pub const TASKS_MAX: &str = "tasks.max";
pub const EXACTLY_ONCE_SUPPORT: &str = "exactly.once.support";
/// kmirror's own flow switch: records land at their source offsets on an
/// empty target partition.
pub const OFFSETS_PRESERVE: &str = "kmirror.offsets.preserve";
/// The consumer group that holds a flow's progress (default
/// `kmirror.progress.<source>.<target>`).
pub const PROGRESS_GROUP: &str = "kmirror.progress.group";
/// Where that group lives: `target` (default) or `source`, where a
/// MirrorMaker 1 consumer group kept its offsets (so `kafka-consumer-groups`
/// on the source shows the mirror's lag).
pub const PROGRESS_CLUSTER: &str = "kmirror.progress.cluster";
/// An existing target topic with fewer partitions than its source: `grow`
/// it (MirrorMaker 2's way, the default), or `route` records as Kafka's
/// default partitioner would (MirrorMaker 1's way, a counted slow path;
/// also used when the target has more partitions).
pub const PARTITIONS_MISMATCH: &str = "kmirror.partitions.mismatch";
/// Consecutive small batches of a partition merged into one target batch of
/// at most the producer's `batch.size` (default true; false forwards every
/// source batch as its own target batch).
pub const COALESCE_ENABLED: &str = "kmirror.coalesce.enabled";
/// The splice path: record bytes moved socket to pipe to socket, never read
/// (`auto`, the default: where it can run; `on`: required, an error where
/// it cannot; `off`).
pub const SPLICE: &str = "kmirror.splice";
/// Records shorter than this (bytes) are read into memory on the splice
/// path (default 16384): splicing a few pages costs more than copying them.
pub const SPLICE_MIN_BYTES: &str = "kmirror.splice.min.bytes";
/// MirrorMaker 2's bound on how far its offset syncs may lag. kmirror's
/// syncs are exact (one wherever the offset difference changes), so every
/// value is met; the key is checked and has nothing more to do.
pub const OFFSET_LAG_MAX: &str = "offset.lag.max";

// Worker settings, which MirrorMaker 2 reads per target cluster: resolved as
// `A->B.key`, then `<target>.key`, then `key`, then the default.
pub const OFFSET_FLUSH_INTERVAL_MS: &str = "offset.flush.interval.ms";
pub const EXACTLY_ONCE_SOURCE_SUPPORT: &str = "exactly.once.source.support";
/// Kafka Connect's offsets topic, where MirrorMaker 2's source connector
/// kept its positions (read once, to take over from it).
pub const OFFSET_STORAGE_TOPIC: &str = "offset.storage.topic";

/// MirrorMaker 2's default for `config.properties.exclude`: topic configs
/// that describe the source cluster rather than the data.
pub const CONFIG_PROPERTIES_EXCLUDE_DEFAULT: &str = concat!(
    r"follower\.replication\.throttled\.replicas, ",
    r"leader\.replication\.throttled\.replicas, ",
    r"message\.timestamp\.difference\.max\.ms, ",
    r"message\.timestamp\.type, ",
    r"unclean\.leader\.election\.enable, ",
    r"min\.insync\.replicas",
);

/// Flow settings kmirror honours.
pub const FLOW_SETTINGS: &[&str] = &[
    TOPICS,
    TOPICS_EXCLUDE,
    TOPICS_BLACKLIST,
    GROUPS,
    GROUPS_EXCLUDE,
    GROUPS_BLACKLIST,
    REPLICATION_POLICY_CLASS,
    REPLICATION_POLICY_SEPARATOR,
    INTERNAL_TOPIC_SEPARATOR_ENABLED,
    REPLICATION_FACTOR,
    SYNC_TOPIC_CONFIGS_ENABLED,
    SYNC_TOPIC_CONFIGS_INTERVAL_SECONDS,
    SYNC_TOPIC_ACLS_ENABLED,
    SYNC_TOPIC_ACLS_INTERVAL_SECONDS,
    USE_DEFAULTS_FROM,
    CONFIG_PROPERTIES_EXCLUDE,
    CONFIG_PROPERTIES_BLACKLIST,
    REFRESH_TOPICS_ENABLED,
    REFRESH_TOPICS_INTERVAL_SECONDS,
    EMIT_HEARTBEATS_ENABLED,
    EMIT_CHECKPOINTS_ENABLED,
    SYNC_GROUP_OFFSETS_ENABLED,
    EMIT_OFFSET_SYNCS_ENABLED,
    EMIT_CHECKPOINTS_INTERVAL_SECONDS,
    EMIT_HEARTBEATS_INTERVAL_SECONDS,
    HEARTBEATS_TOPIC_REPLICATION_FACTOR,
    HEARTBEATS_REPLICATION_ENABLED,
    SYNC_GROUP_OFFSETS_INTERVAL_SECONDS,
    CHECKPOINTS_TOPIC_REPLICATION_FACTOR,
    OFFSET_SYNCS_TOPIC_LOCATION,
    OFFSET_SYNCS_TOPIC_REPLICATION_FACTOR,
    TASKS_MAX,
    EXACTLY_ONCE_SUPPORT,
    OFFSETS_PRESERVE,
    OFFSET_LAG_MAX,
    PROGRESS_GROUP,
    PROGRESS_CLUSTER,
    PARTITIONS_MISMATCH,
    COALESCE_ENABLED,
    SPLICE,
    SPLICE_MIN_BYTES,
];

/// Worker settings kmirror honours.
pub const WORKER_SETTINGS: &[&str] = &[OFFSET_FLUSH_INTERVAL_MS, EXACTLY_ONCE_SOURCE_SUPPORT];

// kmirror's own process-wide settings, top level only.
/// Cap on the bytes held in receive buffers, all flows together.
pub const MEMORY_MAX_BYTES: &str = "kmirror.memory.max.bytes";
/// How long a stop waits for produce requests in flight and the last
/// progress commit.
pub const SHUTDOWN_TIMEOUT_MS: &str = "kmirror.shutdown.timeout.ms";

/// Exactly-once mode: how often each worker commits its transaction.
pub const TRANSACTION_INTERVAL_MS: &str = "kmirror.transaction.interval.ms";

/// Where the metrics endpoint listens (`host:port`; `none` turns it off).
pub const METRICS_ADDRESS: &str = "kmirror.metrics.address";
/// How long a partition may stay stalled before `/health` answers 503.
pub const HEALTH_STUCK_SECONDS: &str = "kmirror.health.stuck.seconds";
/// MirrorMaker 1's `--abort.on.send.failure`: a partition stopped because
/// the target refused its data stops the whole mirror (`true`), or only
/// itself (`false`, the default). Nothing is skipped either way.
pub const ABORT_ON_SEND_FAILURE: &str = "kmirror.abort.on.send.failure";

// Process settings that are also command-line flags (the flag wins over
// the file, and the file over a tuning profile); `config::run_flags` reads
// them.
/// `--cpus`: one worker pinned to each CPU listed, e.g. `0-3`.
pub const CPUS: &str = "kmirror.cpus";
/// Without `kmirror.cpus`: this many workers, pinned to the first CPUs this
/// process may use.
pub const WORKERS: &str = "kmirror.workers";
/// `--streams`: connections per broker for each worker.
pub const STREAMS: &str = "kmirror.streams";
/// `--io`: the I/O backend, `uring` or `epoll`.
pub const IO: &str = "kmirror.io";

/// Process-wide settings kmirror honours (top level only).
pub const PROCESS_SETTINGS: &[&str] = &[
    MEMORY_MAX_BYTES,
    SHUTDOWN_TIMEOUT_MS,
    TRANSACTION_INTERVAL_MS,
    METRICS_ADDRESS,
    HEALTH_STUCK_SECONDS,
    ABORT_ON_SEND_FAILURE,
    CPUS,
    WORKERS,
    STREAMS,
    IO,
];

/// Prefix of the host settings a tuning profile needs, e.g.
/// `host.net.core.rmem_max` (a sysctl) or `host.limits.nofile`: read by
/// `kmirror tune check`, accepted and ignored when mirroring.
pub const HOST_PREFIX: &str = "host.";

/// Whether `name` is a host setting (see [`HOST_PREFIX`]).
pub fn is_host_setting(name: &str) -> bool {
    name.starts_with(HOST_PREFIX)
}

/// Whether `name` is one of kmirror's process-wide settings.
pub fn is_process_setting(name: &str) -> bool {
    PROCESS_SETTINGS.contains(&name)
}

/// MirrorMaker 2 settings kmirror recognises but does not implement yet.
/// `consumer.poll.timeout.ms` and `admin.timeout.ms` are MirrorMaker 2's own
/// settings despite their prefixes, not client settings.
pub const MM2_NOT_IMPLEMENTED: &[&str] = &[
    "refresh.groups.enabled",
    "refresh.groups.interval.seconds",
    "consumer.poll.timeout.ms",
    "admin.timeout.ms",
    "topic.filter.class",
    "group.filter.class",
    "config.property.filter.class",
    "forwarding.admin.class",
    "source.cluster.alias",
    "target.cluster.alias",
    "add.source.alias.to.metrics",
    "dedicated.mode.enable.internal.rest",
];

/// Prefixes of MirrorMaker 2 settings kmirror does not implement: settings
/// passed to a custom replication policy and offset-syncs topic settings.
pub const MM2_NOT_IMPLEMENTED_PREFIXES: &[&str] = &["replication.policy.", "offset-syncs.topic."];

/// Kafka Connect worker and connector settings. kmirror does not run on
/// Connect, so these have nothing to configure.
pub const CONNECT_KEYS: &[&str] = &[
    "group.id",
    "name",
    "connector.class",
    "listeners",
    "admin.listeners",
    "scheduled.rebalance.max.delay.ms",
    "connect.protocol",
    "heartbeat.interval.ms",
    "session.timeout.ms",
    "rebalance.timeout.ms",
    "offset.flush.timeout.ms",
    "config.action.reload",
    "plugin.path",
    "plugin.discovery",
    "transaction.boundary",
    "transforms",
    "predicates",
    "response.http.headers.config",
];

/// Prefixes of Kafka Connect settings.
pub const CONNECT_PREFIXES: &[&str] = &[
    "offset.storage.",
    "config.storage.",
    "status.storage.",
    "key.converter",
    "value.converter",
    "header.converter",
    "task.",
    "worker.",
    "rest.",
    "topic.creation.",
    "topic.tracking.",
    "errors.",
    "transforms.",
    "predicates.",
    "inter.worker.",
    "access.control.",
];

/// Which Kafka client a setting configures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientRole {
    /// Any client of a cluster: `A.security.protocol`.
    Common,
    /// `consumer.*`, for fetching from a flow's source.
    Consumer,
    /// `producer.*`, for producing to a flow's target.
    Producer,
    /// `admin.*`, for topic and config management.
    Admin,
}

impl ClientRole {
    /// The key prefix selecting this client, e.g. `consumer.`.
    pub fn prefix(self) -> &'static str {
        match self {
            ClientRole::Common => "",
            ClientRole::Consumer => "consumer.",
            ClientRole::Producer => "producer.",
            ClientRole::Admin => "admin.",
        }
    }
}

/// How a client setting's value is checked at start-up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueType {
    Text,
    Bool,
    /// A 32-bit integer no smaller than the bound.
    IntAtLeast(i32),
    /// One of the listed words, compared case-insensitively.
    OneOf(&'static [&'static str]),
    /// `auto.offset.reset`: `earliest`, `latest`, `none` or
    /// `by_duration:<ISO-8601 duration>`.
    OffsetReset,
}

/// A Kafka client setting kmirror honours.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientKey {
    pub name: &'static str,
    pub value_type: ValueType,
}

const fn key(name: &'static str, value_type: ValueType) -> ClientKey {
    ClientKey { name, value_type }
}

/// Client settings honoured for every client of a cluster. Both Kafka's
/// `send.buffer.bytes`/`receive.buffer.bytes` and the `socket.` spellings
/// set socket buffer sizes (-1: the OS default); where both are given the
/// `socket.` one is meant to win.
pub const HONOURED_COMMON: &[ClientKey] = &[
    key(
        "security.protocol",
        ValueType::OneOf(&["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]),
    ),
    key("client.id", ValueType::Text),
    // Sent as the Fetch rack id; sources with a rack-aware replica selector
    // then point fetches at a replica in the same rack (KIP-392).
    key("client.rack", ValueType::Text),
    key("request.timeout.ms", ValueType::IntAtLeast(0)),
    key("retry.backoff.ms", ValueType::IntAtLeast(0)),
    key(
        "socket.connection.setup.timeout.ms",
        ValueType::IntAtLeast(0),
    ),
    key("kmirror.tcp.congestion.control", ValueType::Text),
    key("kmirror.tcp.notsent.lowat.bytes", ValueType::IntAtLeast(0)),
    key("kmirror.tcp.user.timeout.ms", ValueType::IntAtLeast(0)),
    key(
        "kmirror.decompression.max.bytes",
        ValueType::IntAtLeast(1 << 20),
    ),
    key("socket.send.buffer.bytes", ValueType::IntAtLeast(-1)),
    key("socket.receive.buffer.bytes", ValueType::IntAtLeast(-1)),
    key("send.buffer.bytes", ValueType::IntAtLeast(-1)),
    key("receive.buffer.bytes", ValueType::IntAtLeast(-1)),
];

/// TLS and SASL settings honoured for every client of a cluster; their
/// values are checked when the cluster's security is built (see
/// `crate::security`), with the key named in any error.
pub const HONOURED_SECURITY: &[ClientKey] = &[
    key("ssl.truststore.location", ValueType::Text),
    key(
        "ssl.truststore.type",
        ValueType::OneOf(&["JKS", "PKCS12", "PEM"]),
    ),
    key("ssl.truststore.password", ValueType::Text),
    key("ssl.truststore.certificates", ValueType::Text),
    key("ssl.keystore.location", ValueType::Text),
    key(
        "ssl.keystore.type",
        ValueType::OneOf(&["JKS", "PKCS12", "PEM"]),
    ),
    key("ssl.keystore.password", ValueType::Text),
    key("ssl.keystore.key", ValueType::Text),
    key("ssl.keystore.certificate.chain", ValueType::Text),
    key("ssl.key.password", ValueType::Text),
    key("ssl.endpoint.identification.algorithm", ValueType::Text),
    key("ssl.enabled.protocols", ValueType::Text),
    key("ssl.protocol", ValueType::Text),
    key("ssl.cipher.suites", ValueType::Text),
    key("sasl.mechanism", ValueType::Text),
    key("sasl.jaas.config", ValueType::Text),
    // Refused with a clear message when set (custom Java classes).
    key("sasl.client.callback.handler.class", ValueType::Text),
    key("sasl.login.callback.handler.class", ValueType::Text),
    key("sasl.login.class", ValueType::Text),
    key("sasl.oauthbearer.token.endpoint.url", ValueType::Text),
    key("sasl.login.connect.timeout.ms", ValueType::IntAtLeast(0)),
    key("sasl.login.read.timeout.ms", ValueType::IntAtLeast(0)),
    key("sasl.oauthbearer.header.urlencode", ValueType::Bool),
];

/// TLS and SASL settings accepted without effect, and why: Java
/// implementation choices rustls makes itself, and Kerberos settings
/// (GSSAPI is refused by `sasl.mechanism`).
pub const IGNORED_SECURITY: &[(&str, &str)] = &[
    (
        "ssl.keymanager.algorithm",
        "rustls selects the client certificate itself",
    ),
    (
        "ssl.trustmanager.algorithm",
        "rustls verifies certificates with webpki (PKIX)",
    ),
    (
        "ssl.secure.random.implementation",
        "rustls uses aws-lc-rs's random numbers",
    ),
    (
        "ssl.provider",
        "kmirror's TLS is rustls with the aws-lc-rs provider",
    ),
    ("sasl.kerberos.", "kmirror does not speak GSSAPI (Kerberos)"),
    (
        "sasl.login.refresh.",
        "kmirror renews a token when 80% of its lifetime has passed",
    ),
    (
        "sasl.login.retry.backoff",
        "kmirror retries a failed authentication with its own backoff",
    ),
    (
        "sasl.oauthbearer.scope.claim.name",
        "kmirror does not read the claims of its own tokens",
    ),
    (
        "sasl.oauthbearer.sub.claim.name",
        "kmirror does not read the claims of its own tokens",
    ),
];

/// Consumer settings honoured for fetching from a source.
pub const HONOURED_CONSUMER: &[ClientKey] = &[
    key("fetch.max.bytes", ValueType::IntAtLeast(0)),
    key("max.partition.fetch.bytes", ValueType::IntAtLeast(0)),
    key("fetch.min.bytes", ValueType::IntAtLeast(0)),
    key("fetch.max.wait.ms", ValueType::IntAtLeast(0)),
    key(
        "isolation.level",
        ValueType::OneOf(&["read_uncommitted", "read_committed"]),
    ),
    key("check.crcs", ValueType::Bool),
    key("auto.offset.reset", ValueType::OffsetReset),
];

/// Producer settings honoured for producing to a target. `acks` other than
/// `all`/`-1` and any `compression.type` are accepted but reported.
pub const HONOURED_PRODUCER: &[ClientKey] = &[
    key("enable.idempotence", ValueType::Bool),
    key("acks", ValueType::OneOf(&["all", "-1", "0", "1"])),
    key(
        "max.in.flight.requests.per.connection",
        ValueType::IntAtLeast(1),
    ),
    key(
        "compression.type",
        ValueType::OneOf(&["none", "gzip", "snappy", "lz4", "zstd"]),
    ),
    key("max.request.size", ValueType::IntAtLeast(0)),
    key("batch.size", ValueType::IntAtLeast(0)),
    key("delivery.timeout.ms", ValueType::IntAtLeast(0)),
    key("transaction.timeout.ms", ValueType::IntAtLeast(1)),
];

/// kmirror's own per-cluster socket settings (no Kafka client has them):
/// TCP congestion control (e.g. `bbr`), TCP_NOTSENT_LOWAT and
/// TCP_USER_TIMEOUT for the cluster's connections.
pub const KMIRROR_CLIENT_KEYS: &[&str] = &[
    "kmirror.tcp.congestion.control",
    "kmirror.tcp.notsent.lowat.bytes",
    "kmirror.tcp.user.timeout.ms",
    "kmirror.decompression.max.bytes",
];

/// Kafka settings common to all clients (besides `ssl.*` and `sasl.*`).
/// These, set at top level or per cluster, make up a cluster's client
/// properties.
pub const KAFKA_COMMON_CLIENT_KEYS: &[&str] = &[
    "client.dns.lookup",
    "metadata.max.age.ms",
    "send.buffer.bytes",
    "receive.buffer.bytes",
    "socket.send.buffer.bytes",
    "socket.receive.buffer.bytes",
    "client.id",
    "client.rack",
    "reconnect.backoff.ms",
    "reconnect.backoff.max.ms",
    "retries",
    "retry.backoff.ms",
    "retry.backoff.max.ms",
    "metrics.sample.window.ms",
    "metrics.num.samples",
    "metrics.recording.level",
    "metric.reporters",
    "auto.include.jmx.reporter",
    "security.protocol",
    "security.providers",
    "socket.connection.setup.timeout.ms",
    "socket.connection.setup.timeout.max.ms",
    "connections.max.idle.ms",
    "request.timeout.ms",
    "default.api.timeout.ms",
    "enable.metrics.push",
    "metadata.recovery.strategy",
    "metadata.recovery.rebootstrap.trigger.ms",
];

/// Prefixes of common client settings.
pub const KAFKA_COMMON_CLIENT_PREFIXES: &[&str] = &["ssl.", "sasl."];

/// Kafka consumer settings (beyond the common ones).
pub const KAFKA_CONSUMER_KEYS: &[&str] = &[
    "group.id",
    "group.instance.id",
    "group.protocol",
    "group.remote.assignor",
    "max.poll.records",
    "max.poll.interval.ms",
    "session.timeout.ms",
    "heartbeat.interval.ms",
    "partition.assignment.strategy",
    "enable.auto.commit",
    "auto.commit.interval.ms",
    "auto.offset.reset",
    "fetch.min.bytes",
    "fetch.max.bytes",
    "fetch.max.wait.ms",
    "max.partition.fetch.bytes",
    "check.crcs",
    "key.deserializer",
    "value.deserializer",
    "interceptor.classes",
    "exclude.internal.topics",
    "isolation.level",
    "allow.auto.create.topics",
    "internal.leave.group.on.close",
];

/// Kafka producer settings (beyond the common ones).
pub const KAFKA_PRODUCER_KEYS: &[&str] = &[
    "acks",
    "batch.size",
    "linger.ms",
    "delivery.timeout.ms",
    "buffer.memory",
    "compression.type",
    "compression.gzip.level",
    "compression.lz4.level",
    "compression.zstd.level",
    "max.block.ms",
    "max.request.size",
    "max.in.flight.requests.per.connection",
    "enable.idempotence",
    "transactional.id",
    "transaction.timeout.ms",
    "key.serializer",
    "value.serializer",
    "partitioner.class",
    "partitioner.ignore.keys",
    "partitioner.adaptive.partitioning.enable",
    "partitioner.availability.timeout.ms",
    "metadata.max.idle.ms",
    "interceptor.classes",
];

/// Whether `name` is a flow setting kmirror honours.
pub fn is_flow_setting(name: &str) -> bool {
    FLOW_SETTINGS.contains(&name) || crate::config::fleet::KEYS.contains(&name)
}

/// Whether `name` is a worker setting kmirror honours.
pub fn is_worker_setting(name: &str) -> bool {
    WORKER_SETTINGS.contains(&name)
}

/// Whether `name` is a MirrorMaker 2 setting kmirror does not implement.
pub fn is_mm2_not_implemented(name: &str) -> bool {
    MM2_NOT_IMPLEMENTED.contains(&name)
        || MM2_NOT_IMPLEMENTED_PREFIXES
            .iter()
            .any(|p| name.starts_with(p))
}

/// Whether `name` configures Kafka Connect.
pub fn is_connect_key(name: &str) -> bool {
    CONNECT_KEYS.contains(&name) || CONNECT_PREFIXES.iter().any(|p| name.starts_with(p))
}

/// Whether `name` is a setting common to all Kafka clients, i.e. one that
/// belongs in a cluster's client properties.
pub fn is_common_client_key(name: &str) -> bool {
    KAFKA_COMMON_CLIENT_KEYS.contains(&name)
        || KMIRROR_CLIENT_KEYS.contains(&name)
        || KAFKA_COMMON_CLIENT_PREFIXES
            .iter()
            .any(|p| name.starts_with(p))
}

/// The client `name` belongs to if it is a consumer-only or producer-only
/// setting.
pub fn specific_role(name: &str) -> Option<ClientRole> {
    if KAFKA_CONSUMER_KEYS.contains(&name) {
        Some(ClientRole::Consumer)
    } else if KAFKA_PRODUCER_KEYS.contains(&name) {
        Some(ClientRole::Producer)
    } else {
        None
    }
}

/// Splits `consumer.x`, `producer.x` and `admin.x` into role and setting.
pub fn split_role(name: &str) -> Option<(ClientRole, &str)> {
    [
        ClientRole::Consumer,
        ClientRole::Producer,
        ClientRole::Admin,
    ]
    .into_iter()
    .find_map(|role| name.strip_prefix(role.prefix()).map(|rest| (role, rest)))
}

/// The honoured client setting `name` for `role`, if kmirror honours it.
pub fn honoured_client_key(role: ClientRole, name: &str) -> Option<&'static ClientKey> {
    let specific: &[ClientKey] = match role {
        ClientRole::Common | ClientRole::Admin => &[],
        ClientRole::Consumer => HONOURED_CONSUMER,
        ClientRole::Producer => HONOURED_PRODUCER,
    };
    HONOURED_COMMON
        .iter()
        .chain(HONOURED_SECURITY)
        .chain(specific)
        .find(|key| key.name == name)
}

/// Why a TLS or SASL setting kmirror accepts has no effect, if it has none.
pub fn ignored_security_key(name: &str) -> Option<&'static str> {
    IGNORED_SECURITY
        .iter()
        .find(|(key, _)| {
            if key.ends_with('.') {
                name.starts_with(key)
            } else {
                name == *key || name.starts_with(&format!("{key}."))
            }
        })
        .map(|(_, why)| *why)
}

/// Whether `name` is a Kafka setting of a `role` client, honoured or not.
pub fn is_known_client_key(role: ClientRole, name: &str) -> bool {
    is_common_client_key(name)
        || match role {
            ClientRole::Common | ClientRole::Admin => false,
            ClientRole::Consumer => KAFKA_CONSUMER_KEYS.contains(&name),
            ClientRole::Producer => KAFKA_PRODUCER_KEYS.contains(&name),
        }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn honoured_keys_are_known_keys() {
        for key in HONOURED_COMMON {
            assert!(is_common_client_key(key.name), "{}", key.name);
        }
        for key in HONOURED_CONSUMER {
            assert!(
                is_known_client_key(ClientRole::Consumer, key.name),
                "{}",
                key.name
            );
        }
        for key in HONOURED_PRODUCER {
            assert!(
                is_known_client_key(ClientRole::Producer, key.name),
                "{}",
                key.name
            );
        }
    }

    #[test]
    fn honoured_mm2_keys_are_not_also_listed_as_unimplemented() {
        for name in FLOW_SETTINGS.iter().chain(WORKER_SETTINGS) {
            assert!(
                !MM2_NOT_IMPLEMENTED.contains(name) && !is_connect_key(name),
                "{name}"
            );
        }
    }

    #[test]
    fn roles() {
        assert_eq!(
            split_role("consumer.fetch.max.bytes"),
            Some((ClientRole::Consumer, "fetch.max.bytes"))
        );
        assert_eq!(
            split_role("admin.client.id"),
            Some((ClientRole::Admin, "client.id"))
        );
        assert_eq!(split_role("consumers.x"), None);
        assert!(honoured_client_key(ClientRole::Producer, "acks").is_some());
        assert!(honoured_client_key(ClientRole::Consumer, "acks").is_none());
        assert!(honoured_client_key(ClientRole::Admin, "client.id").is_some());
    }
}
