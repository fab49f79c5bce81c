//! What one flow (source -> target) does, with every setting resolved to a
//! typed value: built once from the configuration, shared read-only by the
//! control thread and the workers.

use std::time::Duration;

use kmirror_proto::compression::Compression;
use regex::Regex;

use crate::client::ClientSettings;
use crate::config::replication_policy::ReplicationPolicy;
use crate::config::topic_filter::TopicFilter;

#[derive(Debug, Clone)]
pub struct FetchSettings {
    pub max_wait_ms: i32,
    pub min_bytes: i32,
    pub max_bytes: i32,
    pub partition_max_bytes: i32,
    pub read_committed: bool,
    pub check_crcs: bool,
    /// `auto.offset.reset = latest`: new partitions start at the log end
    /// instead of the earliest offset (MM2's default).
    pub start_from_latest: bool,
    /// Stop fetching a partition while this many bytes wait to be produced.
    pub max_queued_bytes_per_partition: usize,
    /// The most bytes one batch may decompress to on the re-encoding slow
    /// path (`kmirror.decompression.max.bytes`).
    pub max_decompressed_bytes: usize,
    /// The producer file's explicit `compression.type`: batches in another
    /// codec are recompressed on the slow path, as MirrorMaker's producer
    /// would; `None` (not set) forwards batches as the source wrote them.
    pub recompress: Option<Compression>,
    /// Consecutive batches of a partition smaller than this together are
    /// merged into one (the producer's `batch.size`); 0 turns coalescing
    /// off (`kmirror.coalesce.enabled = false`, or `batch.size = 0`).
    pub coalesce_max_bytes: usize,
    /// Record bytes take the splice path (`kmirror.splice`, where it can
    /// run): socket to pipe to socket, never read by kmirror.
    pub splice: bool,
    /// Records shorter than this are read into memory on the splice path
    /// (`kmirror.splice.min.bytes`).
    pub splice_min_bytes: usize,
}

#[derive(Debug, Clone)]
pub struct ProduceSettings {
    pub acks: i16,
    pub idempotent: bool,
    pub timeout_ms: i32,
    pub max_request_bytes: usize,
    /// At most 5 with idempotence: brokers remember 5 batches per producer.
    pub max_in_flight_per_partition: usize,
    pub max_in_flight_requests: usize,
    pub retry_backoff: Duration,
    /// Exactly-once mode: how often a worker's transaction commits
    /// (`kmirror.transaction.interval.ms`).
    pub transaction_interval: Duration,
    /// Exactly-once mode: how long a transaction may stay open before the
    /// coordinator aborts it (`transaction.timeout.ms`).
    pub transaction_timeout_ms: i32,
}

#[derive(Debug)]
pub struct FlowPlan {
    pub index: usize,
    pub source: ClientSettings,
    pub target: ClientSettings,
    pub topics: TopicFilter,
    pub policy: ReplicationPolicy,
    pub replication_factor: i16,
    pub config_exclude: Vec<Regex>,
    pub refresh_topics: Option<Duration>,
    /// MirrorMaker 2's topic ACL sync and its interval, when on.
    pub sync_topic_acls: Option<Duration>,
    /// MirrorMaker 2's topic config sync and its interval, when on.
    pub sync_topic_configs: Option<Duration>,
    /// `use.defaults.from = source`.
    pub defaults_from_source: bool,
    pub commit_interval: Duration,
    pub fetch: FetchSettings,
    pub produce: ProduceSettings,
    /// `exactly.once.source.support = enabled` (or `exactly.once.support =
    /// required`): data and progress committed in one transaction.
    pub exactly_once: bool,
    /// `kmirror.offsets.preserve`: on an empty target partition, records
    /// land at their source offsets, gaps filled with placeholders.
    pub preserve_offsets: bool,
    /// The consumer groups whose offsets are checkpointed.
    pub groups: TopicFilter,
    /// Where checkpoints go and how often; `None` when off.
    pub checkpoints: Option<(CheckpointsTopic, Duration)>,
    /// Heartbeats written every interval, with the replication factor of
    /// the `heartbeats` topics; `None` when off. Besides the flow's own
    /// (source, target) heartbeat on the target, `reverse` asks for the
    /// (target, source) one on the source when no flow of the file does it,
    /// as MirrorMaker 2 emits heartbeats for every pair of clusters.
    pub heartbeats: Option<Heartbeats>,
    /// `heartbeats.replication.enabled`.
    pub mirror_heartbeats: bool,
    /// `sync.group.offsets.enabled` and its interval.
    pub sync_group_offsets: Option<Duration>,
    /// Where the flow's offset syncs go; `None` when
    /// `emit.offset-syncs.enabled = false`.
    pub offset_syncs: Option<SyncsTopic>,
    /// Kafka Connect's offsets topic on the target, where MirrorMaker 2
    /// kept this flow's positions (read to take over from it).
    pub mm2_offsets_topic: String,
    /// `kmirror.progress.group`, when set.
    pub progress_group_name: Option<String>,
    /// `kmirror.progress.cluster = source`: progress is committed to the
    /// source cluster (MirrorMaker 1's consumer group).
    pub progress_on_source: bool,
    /// `kmirror.partitions.mismatch = route`.
    pub route_mismatched_partitions: bool,
    /// `kmirror.abort.on.send.failure`.
    pub abort_on_send_failure: bool,
    /// Instances sharing the flow through a group on the target; `None`
    /// when `kmirror.fleet.enabled = false`.
    pub fleet: Option<crate::config::fleet::FleetConfig>,
}

#[derive(Debug, Clone)]
pub struct Heartbeats {
    pub every: Duration,
    pub replication_factor: i16,
    pub reverse: bool,
}

impl FlowPlan {
    pub fn name(&self) -> String {
        format!("{}->{}", self.source.cluster, self.target.cluster)
    }

    /// The consumer group on the target under which kmirror keeps this
    /// flow's source positions.
    pub fn progress_group(&self) -> String {
        self.progress_group_name.clone().unwrap_or_else(|| {
            format!(
                "kmirror.progress.{}.{}",
                self.source.cluster, self.target.cluster
            )
        })
    }
}

/// Room in a Fetch answer beyond its byte limits: a broker returns the first
/// batch even when it is larger than the limits, so that a consumer makes
/// progress, and no batch exceeds what one produce request could carry
/// (`socket.request.max.bytes`, 100 MiB by default).
pub const FETCH_OVERSIZED_BATCH_ROOM: usize = 100 << 20;
/// Per partition named: its fields and aborted-transaction list.
const FETCH_PER_PARTITION_ROOM: usize = 64 << 10;

impl FetchSettings {
    /// Memory to set aside before a fetch of `partitions` partitions: what
    /// its byte limits let the broker send.
    pub fn reservation(&self, partitions: usize) -> usize {
        let data = (self.max_bytes.max(0) as usize)
            .min(partitions.saturating_mul(self.partition_max_bytes.max(0) as usize));
        data.saturating_add(partitions.saturating_mul(128))
            .saturating_add(1024)
    }

    /// The largest Fetch answer accepted for `partitions` partitions.
    pub fn max_response(&self, partitions: usize) -> usize {
        (self.max_bytes.max(0) as usize)
            .saturating_add(FETCH_OVERSIZED_BATCH_ROOM)
            .saturating_add(partitions.saturating_mul(FETCH_PER_PARTITION_ROOM))
    }
}

impl Default for FetchSettings {
    fn default() -> Self {
        FetchSettings {
            max_wait_ms: 500,
            min_bytes: 1,
            max_bytes: 52_428_800,
            partition_max_bytes: 1_048_576,
            read_committed: true,
            check_crcs: true,
            start_from_latest: false,
            max_queued_bytes_per_partition: 4 * 1_048_576,
            max_decompressed_bytes: kmirror_proto::compression::DEFAULT_MAX_DECOMPRESSED,
            recompress: None,
            coalesce_max_bytes: DEFAULT_BATCH_SIZE,
            splice: false,
            splice_min_bytes: crate::config::mm2::DEFAULT_SPLICE_MIN_BYTES,
        }
    }
}

/// Kafka's producer default `batch.size`.
pub const DEFAULT_BATCH_SIZE: usize = 16_384;

impl Default for ProduceSettings {
    fn default() -> Self {
        ProduceSettings {
            acks: -1,
            idempotent: true,
            timeout_ms: 30_000,
            max_request_bytes: 8 * 1_048_576,
            max_in_flight_per_partition: 5,
            max_in_flight_requests: 16,
            retry_backoff: Duration::from_millis(100),
            transaction_interval: Duration::from_millis(100),
            transaction_timeout_ms: 60_000,
        }
    }
}

/// The plans of flow `source`->`target` and of its reverse, whether the
/// file enables them or not (for `kmirror failback`).
pub fn flow_pair(
    config: &crate::config::MirrorConfig,
    source: &str,
    target: &str,
    backend: crate::net::Backend,
) -> Result<(FlowPlan, FlowPlan), crate::config::ConfigError> {
    let find = |s: &str, t: &str| {
        config
            .flows
            .iter()
            .chain(&config.other_pairs)
            .find(|f| f.source == s && f.target == t)
            .cloned()
            .ok_or_else(|| crate::config::ConfigError::InvalidValue {
                path: config.path.clone(),
                line: None,
                key: "clusters".to_string(),
                message: format!("does not list both '{s}' and '{t}'"),
            })
    };
    let mut pair = config.clone();
    pair.flows = vec![find(source, target)?, find(target, source)?];
    let mut plans = plans_from_config(&pair, backend)?;
    let reverse = plans.pop().expect("two flows give two plans");
    let forward = plans.pop().expect("two flows give two plans");
    Ok((forward, reverse))
}

/// Whether a flow's record bytes take the splice path: `kmirror.splice`
/// `auto` where it can run, `on` where it can and an error naming what
/// stands in the way where it cannot, `off` never.
fn splice_runs(
    flow: &crate::config::mm2::FlowConfig,
    fetch: &FetchSettings,
    source: &ClientSettings,
    target: &ClientSettings,
    backend: crate::net::Backend,
    config_path: &std::path::Path,
) -> Result<bool, crate::config::ConfigError> {
    use crate::config::mm2::SpliceMode;
    let obstacle = if backend != crate::net::Backend::Epoll {
        Some(format!(
            "the splice path runs on the epoll backend and this instance runs on {} (set {} = epoll or --io epoll)",
            backend.name(),
            crate::config::keys::IO
        ))
    } else if fetch.check_crcs {
        Some(format!(
            "the splice path leaves the records' CRC check to the target broker, and the {} consumer has check.crcs = true (set it to false)",
            flow.source
        ))
    } else if fetch.recompress.is_some() {
        Some(format!(
            "the {} producer sets compression.type, so batches may be recompressed, which reads their records",
            flow.target
        ))
    } else if source.security.tls.is_some() || target.security.tls.is_some() {
        Some(
            "TLS connections need the records in memory to encrypt them (kTLS is not used)"
                .to_string(),
        )
    } else {
        None
    };
    match (flow.splice, obstacle) {
        (SpliceMode::Off, _) => Ok(false),
        (SpliceMode::Auto, obstacle) => Ok(obstacle.is_none()),
        (SpliceMode::On, None) => Ok(true),
        (SpliceMode::On, Some(why)) => {
            let (path, line, key) = flow.splice_origin.clone().unwrap_or((
                config_path.to_path_buf(),
                None,
                crate::config::keys::SPLICE.to_string(),
            ));
            Err(crate::config::ConfigError::InvalidValue {
                path,
                line,
                key,
                message: format!(
                    "on cannot be honoured for {} -> {}: {why}",
                    flow.source, flow.target
                ),
            })
        }
    }
}

/// Builds one plan per enabled flow. Client values that do not parse are
/// errors naming the file, line and key that supplied them.
pub fn plans_from_config(
    config: &crate::config::MirrorConfig,
    backend: crate::net::Backend,
) -> Result<Vec<FlowPlan>, crate::config::ConfigError> {
    let props = &config.properties;
    let mut plans = Vec::new();
    for (index, flow) in config.flows.iter().enumerate() {
        let (src, tgt) = (flow.source.as_str(), flow.target.as_str());
        // Where a resolved key came from, most specific first.
        let origin = |section: &str, alias: &str, key: &str| {
            let candidates = [
                format!("{src}->{tgt}.{section}.{key}"),
                format!("{alias}.{section}.{key}"),
                format!("{section}.{key}"),
                format!("{alias}.{key}"),
                key.to_string(),
            ];
            candidates
                .iter()
                .find_map(|c| {
                    props
                        .get(c)
                        .map(|e| (c.clone(), Some(e.line), props.file_of(e).to_path_buf()))
                })
                // Never set: name the per-cluster key to set.
                .unwrap_or((format!("{alias}.{key}"), None, config.path.clone()))
        };
        let bad = |section: &str, alias: &str, key: &str, message: String| {
            let (key, line, path) = origin(section, alias, key);
            crate::config::ConfigError::InvalidValue {
                path,
                line,
                key,
                message,
            }
        };
        let cons = &flow.source_consumer;
        let prod = &flow.target_producer;
        let ci32 = |key: &str, default: i32| {
            crate::config::mm2::get_i32(cons, key, default)
                .map_err(|m| bad("consumer", src, key, m))
        };
        let pi32 = |key: &str, default: i32| {
            crate::config::mm2::get_i32(prod, key, default)
                .map_err(|m| bad("producer", tgt, key, m))
        };
        // Kafka's client defaults, as `Default` spells them.
        let (df, dp) = (FetchSettings::default(), ProduceSettings::default());
        let partition_max_bytes = ci32("max.partition.fetch.bytes", df.partition_max_bytes)?;
        let fetch = FetchSettings {
            max_wait_ms: ci32("fetch.max.wait.ms", df.max_wait_ms)?,
            min_bytes: ci32("fetch.min.bytes", df.min_bytes)?,
            max_bytes: ci32("fetch.max.bytes", df.max_bytes)?,
            partition_max_bytes,
            read_committed: match cons.get("isolation.level").map(String::as_str) {
                None | Some("read_committed") => true,
                Some("read_uncommitted") => false,
                Some(other) => {
                    return Err(bad(
                        "consumer",
                        src,
                        "isolation.level",
                        format!("'{other}' is neither read_committed nor read_uncommitted"),
                    ))
                }
            },
            check_crcs: crate::config::mm2::get_bool(cons, "check.crcs", df.check_crcs)
                .map_err(|m| bad("consumer", src, "check.crcs", m))?,
            start_from_latest: cons.get("auto.offset.reset").map(String::as_str) == Some("latest"),
            max_queued_bytes_per_partition: partition_max_bytes.max(1) as usize * 4,
            max_decompressed_bytes: match ci32(
                "kmirror.decompression.max.bytes",
                df.max_decompressed_bytes as i32,
            )? {
                n if (1 << 20..=1 << 30).contains(&n) => n as usize,
                n => {
                    return Err(bad(
                        "consumer",
                        src,
                        "kmirror.decompression.max.bytes",
                        format!("{n} is outside 1048576 (1 MiB) to 1073741824 (1 GiB)"),
                    ))
                }
            },
            recompress: match prod.get("compression.type").map(|v| v.trim()) {
                None => None,
                Some(name) => Some(
                    Compression::ALL
                        .into_iter()
                        .find(|c| c.name() == name)
                        .ok_or_else(|| {
                            bad(
                                "producer",
                                tgt,
                                "compression.type",
                                format!("'{name}' is not one of none, gzip, snappy, lz4, zstd"),
                            )
                        })?,
                ),
            },
            coalesce_max_bytes: if flow.coalesce {
                // Never past Kafka's default max.message.bytes (1 MiB + 12).
                (pi32("batch.size", DEFAULT_BATCH_SIZE as i32)?.max(0) as usize).min(1 << 20)
            } else {
                0
            },
            splice: false,
            splice_min_bytes: flow.splice_min_bytes,
        };
        let idempotent = crate::config::mm2::get_bool(prod, "enable.idempotence", dp.idempotent)
            .map_err(|m| bad("producer", tgt, "enable.idempotence", m))?;
        let in_flight = pi32(
            "max.in.flight.requests.per.connection",
            dp.max_in_flight_per_partition as i32,
        )?
        .max(1) as usize;
        let produce = ProduceSettings {
            acks: dp.acks,
            idempotent,
            timeout_ms: pi32("delivery.timeout.ms", dp.timeout_ms)?
                .min(pi32("request.timeout.ms", dp.timeout_ms)?),
            max_request_bytes: pi32("max.request.size", dp.max_request_bytes as i32)?.max(1)
                as usize,
            // Without idempotence a retry could reorder pipelined batches.
            max_in_flight_per_partition: if idempotent { in_flight.min(5) } else { 1 },
            max_in_flight_requests: dp.max_in_flight_requests,
            retry_backoff: std::time::Duration::from_millis(
                pi32("retry.backoff.ms", dp.retry_backoff.as_millis() as i32)?.max(0) as u64,
            ),
            transaction_interval: config.process.transaction_interval,
            transaction_timeout_ms: pi32("transaction.timeout.ms", dp.transaction_timeout_ms)?,
        };
        if flow.exactly_once {
            // Exactly-once needs the committed view of the source and an
            // idempotent producer; say so rather than run weaker.
            if !fetch.read_committed {
                return Err(bad(
                    "consumer",
                    src,
                    "isolation.level",
                    "exactly-once mode reads the source read_committed; read_uncommitted would mirror aborted records".into(),
                ));
            }
            if !produce.idempotent {
                return Err(bad(
                    "producer",
                    tgt,
                    "enable.idempotence",
                    "exactly-once mode needs the idempotent producer".into(),
                ));
            }
        }
        let settings = |alias: &str,
                        section: &str,
                        map: &std::collections::BTreeMap<String, String>| {
            let cluster = config.cluster(alias).expect("flows name listed clusters");
            let get = |key: &str, default: i32| {
                crate::config::mm2::get_i32(map, key, default)
                    .map_err(|m| bad(section, alias, key, m))
            };
            // Kafka clients spell these `receive.buffer.bytes`; brokers (and
            // some MM2 files) `socket.receive.buffer.bytes`. -1: kernel default.
            let buffer =
                |key: &str, default: i32| -> Result<Option<usize>, crate::config::ConfigError> {
                    let socket_key = format!("socket.{key}");
                    let v = if map.contains_key(key) || !map.contains_key(&socket_key) {
                        get(key, default)?
                    } else {
                        get(&socket_key, default)?
                    };
                    Ok((v > 0).then_some(v as usize))
                };
            Ok::<_, crate::config::ConfigError>(crate::client::ClientSettings {
                cluster: alias.to_string(),
                bootstrap: cluster.bootstrap_servers.clone(),
                client_id: map
                    .get("client.id")
                    .cloned()
                    .unwrap_or_else(|| format!("kmirror-{src}-{tgt}")),
                rack: map.get("client.rack").cloned().unwrap_or_default(),
                tuning: crate::net::SocketTuning {
                    receive_buffer: buffer(
                        "receive.buffer.bytes",
                        if section == "consumer" {
                            65_536
                        } else {
                            32_768
                        },
                    )?,
                    send_buffer: buffer("send.buffer.bytes", 131_072)?,
                    connect_timeout: std::time::Duration::from_millis(
                        get("socket.connection.setup.timeout.ms", 10_000)?.max(1) as u64,
                    ),
                    congestion: map.get("kmirror.tcp.congestion.control").cloned(),
                    notsent_lowat: match get("kmirror.tcp.notsent.lowat.bytes", -1)? {
                        v if v > 0 => Some(v as u32),
                        _ => None,
                    },
                    user_timeout: match get("kmirror.tcp.user.timeout.ms", -1)? {
                        v if v > 0 => Some(std::time::Duration::from_millis(v as u64)),
                        _ => None,
                    },
                },
                request_timeout: std::time::Duration::from_millis(
                    get("request.timeout.ms", 30_000)?.max(1000) as u64 + 5_000,
                ),
                backend,
                security: crate::security::Security::from_client_props(map, |key, message| {
                    bad(section, alias, key, message)
                })?,
            })
        };
        // One set of connections per cluster serves data and admin
        // requests: an admin.* security override kmirror cannot apply apart
        // stops it rather than run admin requests with other credentials.
        for (section, alias, data, admin) in [
            ("consumer", src, cons, &flow.source_admin),
            ("producer", tgt, prod, &flow.target_admin),
        ] {
            let security_keys = |m: &crate::config::client_props::ClientProps| {
                m.iter()
                    .filter(|(k, _)| {
                        k.as_str() == "security.protocol"
                            || k.starts_with("ssl.")
                            || k.starts_with("sasl.")
                    })
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect::<std::collections::BTreeMap<_, _>>()
            };
            let (d, a) = (security_keys(data), security_keys(admin));
            if d != a {
                let key = d
                    .keys()
                    .chain(a.keys())
                    .find(|k| d.get(*k) != a.get(*k))
                    .expect("the maps differ in some key")
                    .clone();
                // Name the side that set it.
                let side = if origin("admin", alias, &key).1.is_some() {
                    "admin"
                } else {
                    section
                };
                return Err(bad(
                    side,
                    alias,
                    &key,
                    format!(
                        "differs between the admin and {section} clients of cluster {alias}; kmirror \
                         uses one set of connections (and credentials) per cluster for both, so set \
                         it for the cluster ('{alias}.{key}') instead"
                    ),
                ));
            }
        }
        let (source, target) = (
            settings(src, "consumer", cons)?,
            settings(tgt, "producer", prod)?,
        );
        let mut fetch = fetch;
        fetch.splice = splice_runs(flow, &fetch, &source, &target, backend, &config.path)?;
        plans.push(FlowPlan {
            index,
            source,
            target,
            topics: flow.topics.clone(),
            policy: flow.replication_policy.clone(),
            replication_factor: flow.replication_factor,
            config_exclude: flow.config_properties_exclude.clone(),
            sync_topic_acls: flow.sync_topic_acls,
            sync_topic_configs: flow
                .sync_topic_configs_enabled
                .then_some(flow.sync_topic_configs_interval),
            defaults_from_source: flow.defaults_from_source,
            refresh_topics: flow
                .refresh_topics_enabled
                .then_some(flow.refresh_topics_interval),
            commit_interval: flow.offset_flush_interval,
            mm2_offsets_topic: flow.mm2_offsets_topic.clone(),
            progress_group_name: flow.progress_group.clone(),
            progress_on_source: flow.progress_on_source,
            route_mismatched_partitions: flow.route_mismatched_partitions,
            abort_on_send_failure: config.process.abort_on_send_failure,
            fleet: flow.fleet.clone(),
            fetch,
            produce,
            exactly_once: flow.exactly_once,
            preserve_offsets: flow.preserve_offsets,
            groups: flow.groups.clone(),
            checkpoints: match (
                flow.emit_checkpoints_enabled,
                flow.emit_checkpoints_interval,
            ) {
                (true, Some(every)) => Some((
                    CheckpointsTopic {
                        name: flow.replication_policy.checkpoints_topic(&flow.source),
                        replication_factor: flow.checkpoints_replication_factor,
                    },
                    every,
                )),
                _ => None,
            },
            heartbeats: match (flow.emit_heartbeats_enabled, flow.emit_heartbeats_interval) {
                (true, Some(every)) => Some(Heartbeats {
                    every,
                    replication_factor: flow.heartbeats_replication_factor,
                    reverse: !config
                        .flows
                        .iter()
                        .any(|f| f.source == flow.target && f.target == flow.source),
                }),
                _ => None,
            },
            mirror_heartbeats: flow.heartbeats_replication_enabled,
            sync_group_offsets: if flow.sync_group_offsets_enabled {
                flow.sync_group_offsets_interval
            } else {
                None
            },
            offset_syncs: flow.emit_offset_syncs_enabled.then(|| SyncsTopic {
                name: flow.replication_policy.offset_syncs_topic(&flow.target),
                on_target: flow.offset_syncs_on_target,
                replication_factor: flow.offset_syncs_replication_factor,
            }),
        });
    }
    Ok(plans)
}

/// Where a flow's checkpoints go and which groups they cover.
#[derive(Debug, Clone)]
pub struct CheckpointsTopic {
    /// `<source>.checkpoints.internal`.
    pub name: String,
    pub replication_factor: i16,
}

/// Where a flow's offset syncs go.
#[derive(Debug, Clone)]
pub struct SyncsTopic {
    pub name: String,
    /// `offset-syncs.topic.location = target`.
    pub on_target: bool,
    pub replication_factor: i16,
}
