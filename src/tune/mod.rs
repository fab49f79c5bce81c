//! Tuning the host and kmirror for a path: `kmirror tune check` compares
//! the host with a profile's host settings and prints the commands that fix
//! each difference; `kmirror tune bdp` sizes buffers, fetches and streams
//! for a round trip and bandwidth. `host` reads the host, `route` finds
//! the interface and NUMA node towards a cluster, `check` compares, `bdp`
//! computes. Nothing here changes the host or runs while mirroring (the
//! start-up line of effective settings is `mirror::effective`).

pub mod bdp;
pub mod check;
pub mod host;
pub mod route;

use std::path::PathBuf;
use std::time::Duration;

use crate::cli::CliError;
use crate::config::profile::{Layered, Profile, BUILTIN, DEFAULT_FOR_HOST_CHECK};
use crate::config::Properties;

/// `kmirror tune check`
#[derive(Debug, clap::Parser, Clone)]
#[command(
    name = "kmirror tune check",
    about = "Compares this host with a tuning profile's host settings and prints the command that fixes each difference (exit 0: matches, 1: differs, 2: could not check)"
)]
pub struct CheckArgs {
    /// The profile: lan-low-latency, wan-high-bdp, max-throughput,
    /// small-host, or a path to a profile file (default: wan-high-bdp).
    #[arg(long)]
    pub profile: Option<String>,
    /// The mm2.properties kmirror runs with: its host.* keys win over the
    /// profile's, and the route to each cluster and its NIC's NUMA node are
    /// looked up.
    #[arg(long)]
    pub config: Option<PathBuf>,
}

/// `kmirror tune bdp`
#[derive(Debug, clap::Parser, Clone)]
#[command(
    name = "kmirror tune bdp",
    about = "Socket buffers, fetch sizes, requests in flight and streams that fill a path of the given round trip and bandwidth"
)]
pub struct BdpArgs {
    /// Round trip between kmirror and the far cluster, e.g. 80ms, 0.5ms, 150us.
    #[arg(long)]
    pub rtt: String,
    /// The path's bandwidth, e.g. 10gbit, 1gbps, 500mbit (bits) or 100MB/s (bytes).
    #[arg(long)]
    pub bandwidth: String,
    /// net.core.rmem_max of the host kmirror runs on (default: this host's).
    #[arg(long)]
    pub rmem_max: Option<u64>,
    /// kmirror's worker threads (one per CPU it may use, by default).
    #[arg(long, default_value_t = 1)]
    pub workers: u64,
    /// Source brokers leading the mirrored partitions.
    #[arg(long, default_value_t = 1)]
    pub brokers: u64,
    /// Busy partitions one fetch carries (sets max.partition.fetch.bytes).
    #[arg(long, default_value_t = 4)]
    pub partitions: u64,
}

/// Runs `kmirror tune check`: the report, and whether the host matches.
pub fn run_check(args: &CheckArgs) -> Result<(String, bool), CliError> {
    let name = args.profile.as_deref().unwrap_or(DEFAULT_FOR_HOST_CHECK);
    let default_because = args.profile.is_none().then_some(
        "wan-high-bdp is the profile for kmirror's usual place, near the target cluster, fetching across a WAN",
    );
    let layered = match &args.config {
        Some(path) => Layered::load(path, Some(name))?,
        None => {
            let profile = Profile::load(name)?;
            let empty = Properties::parse(std::path::Path::new("(none)"), "")?;
            Layered::new(empty, Some(profile))
        }
    };
    let wants = layered.host_settings()?;
    let flags = layered.run_flags()?;
    let ways = match &args.config {
        Some(_) => {
            let config = layered.mirror_config(None)?;
            config
                .clusters
                .iter()
                .flat_map(|c| {
                    c.bootstrap_servers
                        .iter()
                        .map(|server| route::way_to(&c.alias, server))
                })
                .collect()
        }
        None => Vec::new(),
    };
    let props = layered.properties();
    let congestion: Vec<(String, String)> = props
        .iter()
        .filter(|(key, _)| key.ends_with("kmirror.tcp.congestion.control"))
        .map(|(_, entry)| {
            (
                entry.value.trim().to_string(),
                format!("{}:{}", props.file_of(entry).display(), entry.line),
            )
        })
        .collect();
    let splice_asked = props.iter().any(|(key, entry)| {
        key.ends_with(crate::config::keys::SPLICE) && entry.value.trim().eq_ignore_ascii_case("on")
    });
    let more: Vec<String> = wants
        .iter()
        .filter_map(|w| match &w.what {
            crate::config::host::HostKey::Sysctl(name) => Some(name.clone()),
            crate::config::host::HostKey::OpenFiles => None,
        })
        .chain(std::iter::once("fs.nr_open".to_string()))
        .chain(check::SPLICE_PIPES.iter().map(|(name, _)| name.to_string()))
        .collect();
    let facts = host::Facts::read(&more);
    let report = check::check(&check::Input {
        profile: layered.profile_name(),
        default_because,
        wants: &wants,
        congestion: &congestion,
        io_uring_asked: flags.io.as_deref() == Some("uring"),
        splice_asked,
        facts: &facts,
        ways: &ways,
    });
    Ok((report.render(), report.differences() == 0))
}

/// Runs `kmirror tune bdp` and returns its report.
pub fn run_bdp(args: &BdpArgs) -> Result<String, CliError> {
    let rtt: Duration = bdp::parse_rtt(&args.rtt).map_err(CliError::Usage)?;
    let bits_per_second = bdp::parse_bandwidth(&args.bandwidth).map_err(CliError::Usage)?;
    let (rmem_max, source) = match args.rmem_max {
        Some(n) => (n, "given with --rmem-max"),
        None => {
            let found = host::read_sysctl("net.core.rmem_max")
                .and_then(|v| v.parse::<u64>().ok())
                .ok_or_else(|| {
                    CliError::Usage(
                        "cannot read net.core.rmem_max on this host; give --rmem-max BYTES".into(),
                    )
                })?;
            (found, "this host's")
        }
    };
    if rmem_max == 0 || args.workers == 0 || args.brokers == 0 || args.partitions == 0 {
        return Err(CliError::Usage(
            "--rmem-max, --workers, --brokers and --partitions must be at least 1".into(),
        ));
    }
    Ok(bdp::render(
        &bdp::Path {
            rtt,
            bits_per_second,
            rmem_max,
            workers: args.workers,
            brokers: args.brokers,
            partitions: args.partitions,
        },
        source,
    ))
}

/// The built-in profiles, one per line, for help texts.
pub fn profile_list() -> String {
    BUILTIN
        .iter()
        .map(|b| format!("  {:16} {}", b.name, b.about))
        .collect::<Vec<_>>()
        .join("\n")
}
