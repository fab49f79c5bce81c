//! Command-line arguments and turning a configuration file into a running
//! mirror: shared by the `kmirror` binary, the demo and the tests.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use clap::Parser;

use crate::config::profile::Layered;
use crate::config::run_flags::{self, RunFlags};
use crate::config::{keys, ConfigError, MirrorConfig};
use crate::mirror::{self, RunOptions, Summary};
use crate::net::{affinity, Backend};

/// `kmirror mm2.properties [--clusters A B ...]`
#[derive(Debug, Parser, Clone)]
#[command(
    name = "kmirror",
    version,
    about = "Mirrors Kafka topics between clusters, driven by a MirrorMaker 2 properties file",
    after_help = "Every command also takes --log-format text|json (default text: human-readable lines on stderr; json: one object per line). KMIRROR_LOG sets the level (default info), e.g. KMIRROR_LOG=debug.\n\nTuning profiles for --profile (built in; the file's own keys win over the profile's):\n  lan-low-latency   source and target in one data center; a record's delay matters most\n  wan-high-bdp      near the target, fetching across a WAN (tens of ms, Gbit/s)\n  max-throughput    moving a backlog as fast as possible on a host given to kmirror\n  small-host        a small VM shared with other work: one worker, bounded memory\n\nOther commands: kmirror mirror-maker (MirrorMaker 1's command line), kmirror status, kmirror verify, kmirror offsets translate, kmirror failover, kmirror failback, kmirror tune check [--profile NAME] [--config FILE] (the host against a profile, with fixes), kmirror tune bdp --rtt 80ms --bandwidth 10gbit (buffers, fetch sizes and streams for a path); each with --help."
)]
pub struct MirrorArgs {
    /// The MirrorMaker 2 properties file (connect-mirror-maker.properties).
    pub config: PathBuf,
    /// Run only the flows whose target is one of these cluster aliases.
    #[arg(long, num_args = 1..)]
    pub clusters: Vec<String>,
    /// A tuning profile laid beneath the file's own keys (any key the file
    /// sets wins): lan-low-latency, wan-high-bdp, max-throughput,
    /// small-host, or a path to a profile file.
    #[arg(long)]
    pub profile: Option<String>,
    /// I/O backend: uring or epoll (default: kmirror.io, else uring when the kernel allows it).
    #[arg(long = "io")]
    pub io: Option<String>,
    /// CPUs to pin one worker each to, e.g. 0,1 or 2-5 (default: kmirror.cpus or
    /// kmirror.workers, else every CPU this process may use).
    #[arg(long)]
    pub cpus: Option<String>,
    /// Connections per broker for each worker's fetches and produces, with the
    /// worker's partitions spread over them: for long fat pipes where one TCP
    /// connection's window limits throughput. MirrorMaker 1's --num.streams.
    /// Default: kmirror.streams, else 1.
    #[arg(long, alias = "num.streams", value_parser = clap::value_parser!(u16).range(1..=64))]
    pub streams: Option<u16>,
    /// Print a progress line every second.
    #[arg(long)]
    pub readout: bool,
    /// This instance's static membership id in every flow's fleet group
    /// (KIP-345; overrides kmirror.fleet.instance.id): restarted under the
    /// same id, it takes its partitions back without a rebalance. Give each
    /// instance sharing the file its own.
    #[arg(long = "instance-id")]
    pub instance_id: Option<String>,
}

/// `kmirror mirror-maker`: MirrorMaker 1's command line.
#[derive(Debug, Parser, Clone)]
#[command(
    name = "kmirror mirror-maker",
    about = "MirrorMaker 1's command line (kafka-mirror-maker.sh): its consumer and producer files and flags, mirrored with its semantics",
    after_help = "Topics keep their names; progress is committed to the source cluster under the consumer file's group.id, so the group's committed offsets are the starting point and kafka-consumer-groups --describe shows the lag. A target topic with another partition count gets records as Kafka's default partitioner places them (a counted slow path). The producer file's compression.type, when set, is applied on a counted slow path; without it batches pass through as the source compressed them. MirrorMaker 1 flags kmirror does not implement (--blacklist, --message.handler, --message.handler.args, --consumer.rebalance.listener, --rebalance.listener.args) are refused."
)]
pub struct MirrorMakerArgs {
    /// The consumer's properties file (the source cluster, group.id).
    #[arg(long = "consumer.config")]
    pub consumer_config: PathBuf,
    /// The producer's properties file (the target cluster).
    #[arg(long = "producer.config")]
    pub producer_config: PathBuf,
    /// The topics to mirror: a Java regular expression (commas read as |).
    #[arg(long = "whitelist", alias = "include")]
    pub include: Option<String>,
    /// Connections per broker for each worker (MirrorMaker 1's consumer streams).
    #[arg(long = "num.streams", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub num_streams: u16,
    /// How often progress is committed to the group (default 60000).
    #[arg(long = "offset.commit.interval.ms")]
    pub offset_commit_interval_ms: Option<u64>,
    /// true (the default): a partition whose data the target refuses stops
    /// the mirror; false: only that partition stops. Nothing is skipped.
    #[arg(long = "abort.on.send.failure", default_value = "true")]
    pub abort_on_send_failure: String,
    /// Accepted and ignored: kmirror has only the one consumer.
    #[arg(long = "new.consumer", hide = true)]
    pub new_consumer: bool,
    #[arg(long = "blacklist", hide = true)]
    pub blacklist: Option<String>,
    #[arg(long = "message.handler", hide = true)]
    pub message_handler: Option<String>,
    #[arg(long = "message.handler.args", hide = true)]
    pub message_handler_args: Option<String>,
    #[arg(long = "consumer.rebalance.listener", hide = true)]
    pub rebalance_listener: Option<String>,
    #[arg(long = "rebalance.listener.args", hide = true)]
    pub rebalance_listener_args: Option<String>,
    /// As for `kmirror FILE`.
    #[arg(long)]
    pub profile: Option<String>,
    /// As for `kmirror FILE`.
    #[arg(long = "io")]
    pub io: Option<String>,
    /// As for `kmirror FILE`.
    #[arg(long)]
    pub cpus: Option<String>,
    /// Print a progress line every second.
    #[arg(long)]
    pub readout: bool,
}

impl MirrorMakerArgs {
    /// The options, or a usage error naming a flag kmirror refuses.
    pub fn options(&self) -> Result<crate::config::mm1::Mm1Options, CliError> {
        let refused = [
            ("--blacklist", self.blacklist.is_some(), "it worked only with MirrorMaker 1's old consumer; exclude topics with a --whitelist pattern instead"),
            ("--message.handler", self.message_handler.is_some(), "kmirror does not run MirrorMaker 1's custom message handlers (Java code)"),
            ("--message.handler.args", self.message_handler_args.is_some(), "kmirror does not run MirrorMaker 1's custom message handlers (Java code)"),
            ("--consumer.rebalance.listener", self.rebalance_listener.is_some(), "kmirror does not run custom rebalance listeners (Java code)"),
            ("--rebalance.listener.args", self.rebalance_listener_args.is_some(), "kmirror does not run custom rebalance listeners (Java code)"),
        ];
        if let Some((flag, _, why)) = refused.iter().find(|(_, given, _)| *given) {
            return Err(CliError::Usage(format!("{flag} is not supported: {why}")));
        }
        let Some(include) = self.include.clone() else {
            return Err(CliError::Usage(
                "--whitelist (or --include) is required: the topics to mirror".into(),
            ));
        };
        let abort_on_send_failure = match self.abort_on_send_failure.trim() {
            v if v.eq_ignore_ascii_case("true") => true,
            v if v.eq_ignore_ascii_case("false") => false,
            v => {
                return Err(CliError::Usage(format!(
                    "--abort.on.send.failure {v}: must be true or false"
                )))
            }
        };
        Ok(crate::config::mm1::Mm1Options {
            consumer_config: self.consumer_config.clone(),
            producer_config: self.producer_config.clone(),
            include,
            offset_commit_interval_ms: self.offset_commit_interval_ms,
            abort_on_send_failure,
        })
    }
}

/// `kmirror offsets translate`
#[derive(Debug, Parser, Clone)]
#[command(
    name = "kmirror offsets translate",
    about = "Where a consumer group committed on the source resumes on the target (read-only)"
)]
pub struct TranslateArgs {
    #[command(flatten)]
    pub flow: FlowChoice,
    /// The consumer group, as committed on the source cluster.
    #[arg(long)]
    pub group: String,
}

/// The file and the flow in it a command works on.
#[derive(Debug, clap::Args, Clone)]
pub struct FlowChoice {
    /// The MirrorMaker 2 properties file the mirror runs with.
    pub config: PathBuf,
    /// The flow's source cluster alias (needed when the file has several flows).
    #[arg(long)]
    pub source: Option<String>,
    /// The flow's target cluster alias (needed when the file has several flows).
    #[arg(long)]
    pub target: Option<String>,
}

/// `kmirror failover`
#[derive(Debug, Parser, Clone)]
#[command(
    name = "kmirror failover",
    about = "Commits a consumer group's translated offsets on the target cluster (reads only the target)"
)]
pub struct FailoverArgs {
    #[command(flatten)]
    pub flow: FlowChoice,
    /// The consumer group to move.
    #[arg(long)]
    pub group: String,
    /// Print what would be committed, commit nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Place partitions without a checkpoint at the first record at or after
    /// this time (RFC 3339, e.g. 2026-12-02T05:00:00Z, or ms since the epoch).
    #[arg(long)]
    pub to_time: Option<String>,
    /// Target topics whose partitions --to-time also places (every partition
    /// of each), for a group with no checkpoint at all.
    #[arg(long = "topic")]
    pub topics: Vec<String>,
}

/// `kmirror failback`
#[derive(Debug, Parser, Clone)]
#[command(
    name = "kmirror failback",
    about = "Prepares the reverse flow B->A to mirror back only what was written on B after a failover from A"
)]
pub struct FailbackArgs {
    /// The MirrorMaker 2 properties file; it must define both clusters (the
    /// reverse flow need not be enabled in it yet).
    pub config: PathBuf,
    /// The original source cluster alias (A, the old primary).
    #[arg(long)]
    pub source: String,
    /// The original target cluster alias (B, the new primary).
    #[arg(long)]
    pub target: String,
    /// Print the starting positions, commit nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// `kmirror verify`
#[derive(Debug, Parser, Clone)]
#[command(
    name = "kmirror verify",
    about = "Compares source topics with their mirrors on the target, partition by partition, record by record (reads only)"
)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub flow: FlowChoice,
    /// A source topic to compare with its mirror (repeat for more).
    #[arg(long = "topic", required = true)]
    pub topics: Vec<String>,
    /// Compare only this partition (repeat for more; default: every one).
    #[arg(long = "partition")]
    pub partitions: Vec<i32>,
    /// The target topic, when it is not the flow's replication policy's
    /// name for --topic (one --topic only).
    #[arg(long)]
    pub target_topic: Option<String>,
    /// How long a target that has fewer records than the source may stand
    /// still before the rest counts as missing, in seconds.
    #[arg(long, default_value_t = 30)]
    pub wait: u64,
    /// When the first records differ, how many records of each side to
    /// look through for where the two line up (retention may have deleted
    /// the oldest records on one side).
    #[arg(long, default_value_t = 1_000_000)]
    pub look_ahead: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// The exit status after an internal error (a panic).
pub const EXIT_INTERNAL_ERROR: i32 = 4;

/// Makes every panic, on any thread or task, end the process with
/// [`EXIT_INTERNAL_ERROR`] after one log line naming the thread, the
/// message and the source location. Nothing is left half-running: a
/// panic in a task would otherwise end that task alone and stall its
/// partitions in silence. Progress committed before it is kept, so a
/// restart resumes from there.
pub fn exit_on_panic() {
    std::panic::set_hook(Box::new(|info| {
        let thread = std::thread::current();
        let name = thread.name().unwrap_or("unnamed").to_string();
        let payload = info.payload();
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "(no message)".to_string());
        let location = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_else(|| "an unknown place".to_string());
        tracing::error!(
            thread = %name,
            "internal error (a bug in kmirror): {message} at {location}; exiting with status {EXIT_INTERNAL_ERROR}. Progress committed before now is kept and a restart resumes from it"
        );
        // RUST_BACKTRACE=1 adds where it happened in kmirror's own code.
        let trace = std::backtrace::Backtrace::capture();
        if trace.status() == std::backtrace::BacktraceStatus::Captured {
            let _ = writeln!(std::io::stderr(), "{trace}");
        }
        std::process::exit(EXIT_INTERNAL_ERROR);
    }));
}

/// Picks the backend: the one asked for, else io_uring when available.
pub fn choose_backend(asked: Option<&str>) -> Result<Backend, CliError> {
    match asked {
        Some(s) => Backend::parse(s)
            .ok_or_else(|| CliError::Usage(format!("--io {s}: expected uring or epoll"))),
        None => {
            let (b, why) = Backend::detect();
            if let Some(why) = why {
                tracing::warn!("io_uring is not available ({why}); using epoll");
            }
            Ok(b)
        }
    }
}

/// Parses a CPU list such as `0,1` or `0-3,6`.
pub fn parse_cpus(s: &str) -> Result<Vec<usize>, CliError> {
    run_flags::parse_cpu_list(s).map_err(|m| CliError::Usage(format!("--cpus {s}: {m}")))
}

/// Loads the file with its tuning profile beneath it, reports
/// unimplemented keys, logs the settings in effect, and runs until stopped.
pub fn run_from_file(
    path: &Path,
    args: &MirrorArgs,
    stop: Arc<AtomicBool>,
) -> Result<Summary, CliError> {
    let layered = Layered::load(path, args.profile.as_deref())?;
    run_layered(path, layered, args, stop)
}

/// `kmirror mirror-maker`: MirrorMaker 1's files and flags as one flow (see
/// [`crate::config::mm1`]), run as [`run_from_file`] runs a file.
pub fn run_mirror_maker(mm: &MirrorMakerArgs, stop: Arc<AtomicBool>) -> Result<Summary, CliError> {
    let opts = mm.options()?;
    let props = crate::config::mm1::properties(&opts)?;
    let profile = mm
        .profile
        .as_deref()
        .map(crate::config::profile::Profile::load)
        .transpose()?;
    let path = props.path().to_path_buf();
    let args = MirrorArgs {
        config: path.clone(),
        clusters: Vec::new(),
        profile: mm.profile.clone(),
        io: mm.io.clone(),
        cpus: mm.cpus.clone(),
        streams: Some(mm.num_streams),
        readout: mm.readout,
        instance_id: None,
    };
    run_layered(&path, Layered::new(props, profile), &args, stop)
}

/// [`run_from_file`] once the properties are loaded.
fn run_layered(
    path: &Path,
    layered: Layered,
    args: &MirrorArgs,
    stop: Arc<AtomicBool>,
) -> Result<Summary, CliError> {
    let only = (!args.clusters.is_empty()).then_some(args.clusters.as_slice());
    let config = layered.mirror_config(only)?;
    for w in &config.warnings {
        tracing::warn!("{w}");
    }
    let flags = layered.run_flags()?;
    let backend = choose_backend(args.io.as_deref().or(flags.io.as_deref()))?;
    let mut plans = crate::plan::plans_from_config(&config, backend)?;
    if let Some(id) = &args.instance_id {
        if id.trim().is_empty() {
            return Err(CliError::Usage("--instance-id must not be empty".into()));
        }
        for fleet in plans.iter_mut().filter_map(|p| p.fleet.as_mut()) {
            fleet.instance_id = Some(id.trim().to_string());
        }
    }
    if plans.is_empty() {
        return Err(CliError::Usage(format!(
            "{}: no replication flow is enabled (set e.g. A->B.enabled = true)",
            path.display()
        )));
    }
    check_congestion(&layered, &plans)?;
    let cpus = worker_cpus(args, &flags, &layered)?;
    let streams = args.streams.or(flags.streams).unwrap_or(1);
    crate::mirror::effective::log(
        &crate::mirror::effective::Process {
            profile: layered.profile_name(),
            workers: cpus.len(),
            cpus: Some(&cpus),
            streams: usize::from(streams),
            io: backend.name(),
        },
        &plans,
    );
    let opts = RunOptions {
        backend,
        workers: cpus.len(),
        cpus: Some(cpus),
        streams: usize::from(streams),
        readout: args.readout,
        stop,
        shutdown_timeout: config.process.shutdown_timeout,
        memory_max_bytes: config.process.memory_max_bytes,
        metrics_address: config
            .process
            .metrics_address
            .clone()
            .map(|a| (a, config.process.metrics_address_set)),
        health_stuck: config.process.health_stuck,
    };
    tracing::info!(io = backend.name(), "using the {} backend", backend.name());
    Ok(mirror::run(plans, opts)?)
}

/// The CPUs to pin one worker each to: `--cpus`, else `kmirror.cpus`, else
/// the first `kmirror.workers` CPUs this process may use, else all of them.
fn worker_cpus(
    args: &MirrorArgs,
    flags: &RunFlags,
    layered: &Layered,
) -> Result<Vec<usize>, CliError> {
    let allowed = affinity::allowed_cpus();
    match (&args.cpus, &flags.cpus, flags.workers) {
        (Some(s), _, _) => parse_cpus(s),
        (None, Some(cpus), _) => Ok(cpus.clone()),
        (None, None, Some(n)) if n <= allowed.len() => Ok(allowed[..n].to_vec()),
        (None, None, Some(n)) => {
            let key = [keys::WORKERS.to_string()];
            let message = format!(
                "{n} workers, but this process may use only {} CPUs ({})",
                allowed.len(),
                run_flags::format_cpu_list(&allowed)
            );
            Err(match layered.setting(&key) {
                Some(setting) => setting.invalid(message).into(),
                None => CliError::Usage(message),
            })
        }
        (None, None, None) => Ok(allowed),
    }
}

/// Tries each congestion control the flows ask for on a socket that never
/// connects, so that one the kernel refuses stops kmirror now, naming the
/// key that asked for it, rather than failing every connection later.
fn check_congestion(layered: &Layered, plans: &[crate::plan::FlowPlan]) -> Result<(), CliError> {
    const KEY: &str = "kmirror.tcp.congestion.control";
    for plan in plans {
        let (src, tgt) = (plan.source.cluster.as_str(), plan.target.cluster.as_str());
        for (alias, role, tuning) in [
            (src, "consumer", &plan.source.tuning),
            (tgt, "producer", &plan.target.tuning),
        ] {
            let Some(name) = &tuning.congestion else {
                continue;
            };
            if let Err(e) = crate::net::socket::check_congestion(name) {
                // Where the value came from, most specific first.
                let candidates = [
                    format!("{src}->{tgt}.{role}.{KEY}"),
                    format!("{alias}.{role}.{KEY}"),
                    format!("{role}.{KEY}"),
                    format!("{alias}.{KEY}"),
                    KEY.to_string(),
                ];
                return Err(match layered.setting(&candidates) {
                    Some(setting) => setting.invalid(e.to_string()).into(),
                    None => CliError::Usage(format!("{KEY} = {name}: {e}")),
                });
            }
        }
    }
    Ok(())
}

/// The one flow of `path` from `source` to `target` (either may be left
/// out when it leaves one flow).
pub fn pick_flow(choice: &FlowChoice) -> Result<crate::plan::FlowPlan, CliError> {
    let (path, source, target) = (
        choice.config.as_path(),
        choice.source.as_deref(),
        choice.target.as_deref(),
    );
    let config = MirrorConfig::load(path, None)?;
    let plans = crate::plan::plans_from_config(&config, Backend::Epoll)?;
    let names: Vec<String> = plans.iter().map(|p| p.name()).collect();
    let mut chosen: Vec<crate::plan::FlowPlan> = plans
        .into_iter()
        .filter(|p| source.is_none_or(|s| p.source.cluster == s))
        .filter(|p| target.is_none_or(|t| p.target.cluster == t))
        .collect();
    match chosen.len() {
        1 => Ok(chosen.remove(0)),
        0 => Err(CliError::Usage(format!(
            "{}: no enabled flow matches (flows: {})",
            path.display(),
            if names.is_empty() {
                "none".to_string()
            } else {
                names.join(", ")
            }
        ))),
        _ => Err(CliError::Usage(format!(
            "{}: several flows match ({}); name one with --source and --target",
            path.display(),
            chosen
                .iter()
                .map(|p| p.name())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// Runs `kmirror offsets translate` and returns the table to print.
pub fn translate_offsets(args: &TranslateArgs) -> Result<String, CliError> {
    let plan = pick_flow(&args.flow)?;
    crate::net::backend::run_on_this_thread(Backend::Epoll, async {
        let source = crate::client::ClusterClient::new(plan.source.clone());
        let target = crate::client::ClusterClient::new(plan.target.clone());
        let rows = crate::offsets::translate::translate_group(&plan, &source, &target, &args.group)
            .await
            .map_err(|e| CliError::Usage(e.to_string()))?;
        Ok(crate::offsets::translate::render(&plan, &args.group, &rows))
    })
}

/// Runs `kmirror failback` and returns the table to print.
pub fn failback(args: &FailbackArgs) -> Result<String, CliError> {
    use crate::offsets::failback;
    let config = MirrorConfig::load(&args.config, None)?;
    let (forward, reverse) =
        crate::plan::flow_pair(&config, &args.source, &args.target, Backend::Epoll)?;
    crate::net::backend::run_on_this_thread(Backend::Epoll, async {
        let a = crate::client::ClusterClient::new(forward.source.clone());
        let b = crate::client::ClusterClient::new(forward.target.clone());
        let starts = failback::plan_starts(&forward, &reverse, &a, &b)
            .await
            .map_err(|e| CliError::Usage(e.to_string()))?;
        if !args.dry_run && !starts.is_empty() {
            failback::commit_starts(&reverse, &a, &starts)
                .await
                .map_err(CliError::Usage)?;
        }
        Ok(failback::render(&forward, &reverse, &starts, !args.dry_run))
    })
}

/// `--to-time`: RFC 3339 or milliseconds since the epoch.
pub fn parse_time(s: &str) -> Result<i64, CliError> {
    if let Ok(ms) = s.parse::<i64>() {
        return Ok(ms);
    }
    let t = humantime::parse_rfc3339_weak(s).map_err(|e| {
        CliError::Usage(format!(
            "--to-time {s}: {e} (expected e.g. 2026-12-02T05:00:00Z or milliseconds since the epoch)"
        ))
    })?;
    Ok(t.duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0))
}

/// Runs `kmirror failover` and returns the table to print.
pub fn failover(args: &FailoverArgs) -> Result<String, CliError> {
    use crate::offsets::failover;
    let plan = pick_flow(&args.flow)?;
    let to_time = args.to_time.as_deref().map(parse_time).transpose()?;
    let topic = match &plan.checkpoints {
        Some((t, _)) => t.name.clone(),
        None => plan.policy.checkpoints_topic(&plan.source.cluster),
    };
    let usage = |e: crate::client::ClientError| CliError::Usage(e.to_string());
    crate::net::backend::run_on_this_thread(Backend::Epoll, async {
        let target = crate::client::ClusterClient::new(plan.target.clone());
        let state = failover::group_state(&target, &args.group)
            .await
            .map_err(usage)?;
        if let Err(why) = failover::check_inactive(&target, &args.group, &state) {
            return Err(CliError::Usage(why));
        }
        let mut extra = Vec::new();
        for t in &args.topics {
            let meta = target
                .metadata(Some(std::slice::from_ref(t)))
                .await
                .map_err(usage)?;
            let parts: Vec<i32> = meta
                .iter()
                .filter(|m| &m.name == t && m.error.is_ok())
                .flat_map(|m| m.partitions.iter().map(|p| p.partition))
                .collect();
            if parts.is_empty() {
                return Err(CliError::Usage(format!(
                    "--topic {t}: no such topic on cluster {}",
                    plan.target.cluster
                )));
            }
            extra.extend(parts.into_iter().map(|p| (t.clone(), p)));
        }
        let checkpoints = failover::latest_checkpoints(&target, &topic)
            .await
            .map_err(usage)?;
        let moves = failover::plan_moves(&target, &checkpoints, &args.group, &extra, to_time)
            .await
            .map_err(usage)?;
        if !args.dry_run {
            failover::apply(&target, &args.group, &moves)
                .await
                .map_err(usage)?;
        }
        Ok(failover::render(
            &args.group,
            &plan.target.cluster,
            &moves,
            !args.dry_run,
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists() {
        assert_eq!(parse_cpus("0,1").unwrap(), vec![0, 1]);
        assert_eq!(parse_cpus("2-4,7").unwrap(), vec![2, 3, 4, 7]);
        assert!(parse_cpus("x").is_err());
        assert!(parse_cpus("3-1").is_err());
    }
}
