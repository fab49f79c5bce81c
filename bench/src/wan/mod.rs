//! `cargo build --release && cargo run --release -p kmirror-bench -- wan`:
//! MirrorMaker 2 and kmirror across a delayed link.
//!
//! The source cluster gets a second listener, `WAN`, that advertises the
//! port of a [`delay_relay`] (50 ms each way by default), so a mirror that
//! bootstraps through the relay also reaches the broker it learns from
//! Metadata through it. The load producer and the checks use the direct
//! PLAINTEXT listener; the target cluster is local. After a backlog is
//! loaded, each mirror runs alone, first with default settings and then
//! with tuned consumer/socket settings, each into its own target topic
//! (source aliases `mm2`, `mm2t`, `km`, `kmt`). Reports MB/s of the active
//! window, CPU-seconds per GB of the mirror process, and the settings;
//! writes bench/results/wan.md.
//!
//! Flags: `--delay-ms` (each way), `--records`, `--partitions`,
//! `--record-size`, `--compression` (of the backlog), `--relay-buffer-mib`
//! (most bytes one relay direction holds), `--timeout-secs` (per mirror).

mod delay_relay;

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use kmirror_harness::cluster::{ClusterOptions, KafkaCluster};
use kmirror_harness::dist::{KafkaDist, KAFKA_4};
use kmirror_harness::tools;

use crate::mirrors::{self, kmirror_binary, spawn_logged, sum_offsets};
use crate::procstat;
use delay_relay::{BoundRelay, DelayRelay, RelaySettings};

pub const USAGE: &str = "wan [--delay-ms MS each way] [--records N] [--partitions N] \
[--record-size BYTES] [--compression none|lz4|zstd|...] [--relay-buffer-mib MIB] [--timeout-secs S] [--profile NAME]";

pub struct WanArgs {
    delay_ms: u64,
    records: u64,
    partitions: i32,
    record_size: usize,
    compression: String,
    relay_buffer_mib: usize,
    timeout_secs: u64,
    /// `--profile` for kmirror (a tuning profile; recorded in the report).
    profile: Option<String>,
}

pub fn parse_args(rest: &[String]) -> Result<WanArgs, String> {
    let mut a = WanArgs {
        delay_ms: 50,
        records: 500_000,
        partitions: 12,
        record_size: 1024,
        compression: "none".into(),
        relay_buffer_mib: 64,
        timeout_secs: 900,
        profile: None,
    };
    for (flag, v) in crate::flags::pairs(rest)? {
        match flag {
            "--delay-ms" => a.delay_ms = crate::flags::number(flag, v)?,
            "--records" => a.records = crate::flags::number(flag, v)?,
            "--partitions" => a.partitions = crate::flags::number(flag, v)?,
            "--record-size" => a.record_size = crate::flags::number(flag, v)?,
            "--compression" => a.compression = v.to_string(),
            "--relay-buffer-mib" => a.relay_buffer_mib = crate::flags::number(flag, v)?,
            "--timeout-secs" => a.timeout_secs = crate::flags::number(flag, v)?,
            "--profile" => a.profile = Some(v.to_string()),
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    Ok(a)
}

const TOPIC: &str = "bench-wan";
const LISTENER: &str = "WAN";
/// SO_RCVBUF/SO_SNDBUF the relay asks for on its own (loopback) sockets.
const RELAY_SOCKET_BUFFER: usize = 4 << 20;

#[derive(Clone, Copy, PartialEq)]
enum Mirror {
    MirrorMaker2,
    Kmirror,
}

/// One mirror with one set of settings.
struct Variant {
    mirror: Mirror,
    label: String,
    alias: &'static str,
    /// mm2.properties lines beyond the common ones.
    props: Vec<(String, String)>,
    /// kmirror command-line flags.
    flags: Vec<String>,
}

struct Outcome {
    label: String,
    settings: String,
    bytes: u64,
    active: Duration,
    /// From the mirror's start to the first record on the target.
    first_after: Duration,
    cpu: Duration,
    relay_cpu: Duration,
    peak_rss_kib: u64,
    bytes_down: u64,
    peak_buffered: usize,
    full_waits: u64,
    /// kmirror's own log line of the source socket options in effect.
    socket_note: Option<String>,
}

pub fn run(args: &WanArgs) -> Result<(), String> {
    let e = |x: std::io::Error| x.to_string();
    let host = host_settings();
    let relay = BoundRelay::bind(RelaySettings {
        delay: Duration::from_millis(args.delay_ms),
        max_buffered: args.relay_buffer_mib << 20,
        socket_buffer: RELAY_SOCKET_BUFFER,
    })
    .map_err(e)?;
    let relay_port = relay.port().map_err(e)?;
    let options =
        ClusterOptions::default().advertised_listener(LISTENER, &format!("127.0.0.1:{relay_port}"));
    let source = KafkaCluster::start_with("wan-src", KAFKA_4, &options).map_err(e)?;
    let target = KafkaCluster::start("wan-dst", KAFKA_4).map_err(e)?;
    let wan_port = source
        .listener_port(LISTENER)
        .ok_or("the source has no WAN listener")?;
    let relay = relay
        .forward_to(SocketAddr::from(([127, 0, 0, 1], wan_port)))
        .map_err(e)?;

    tools::create_topic(&source, TOPIC, args.partitions, &[]).map_err(e)?;
    eprintln!(
        "kmirror-bench: loading {} records of {} B into {TOPIC} ({})",
        args.records, args.record_size, args.compression
    );
    tools::producer_perf(
        &source,
        TOPIC,
        args.records,
        args.record_size,
        -1,
        &[
            ("compression.type", args.compression.as_str()),
            ("linger.ms", "10"),
            ("batch.size", "65536"),
        ],
    )
    .map_err(e)?;
    let want = sum_offsets(&source, TOPIC);
    let bytes = want as u64 * args.record_size as u64;

    let dir = std::env::temp_dir().join(format!("kmirror-bench-wan-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(e)?;
    let dist = KafkaDist::ensure(KAFKA_4).map_err(e)?;
    let mut outcomes = Vec::new();
    for variant in variants(&kmirror_binary()?) {
        eprintln!(
            "kmirror-bench: {} through {}",
            variant.label,
            relay.address()
        );
        let props = mirrors::write_props(
            &dir,
            variant.alias,
            &relay.address(),
            &target.bootstrap(),
            "bench-.*",
            &variant.props,
        )?;
        let outcome = measure(
            &variant, &props, &dir, &dist, &relay, &target, want, bytes, args,
        )?;
        outcomes.push(outcome);
    }
    let streams_missing = !kmirror_has_streams(&kmirror_binary()?);
    let report = render(args, &host, want, &relay, streams_missing, &outcomes);
    println!("{report}");
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("results/wan.md");
    std::fs::write(&out, report).map_err(e)?;
    eprintln!(
        "kmirror-bench: wrote {} (mirror logs in {})",
        out.display(),
        dir.display()
    );
    Ok(())
}

/// Default and tuned settings of both mirrors. Tuned: the most one fetch may
/// carry (the broker caps a response at its own `fetch.max.bytes`, 55 MiB by
/// default), 8 MiB per partition, and socket buffers the size of 100 ms at
/// about 1.3 Gbit/s.
fn variants(kmirror: &Path) -> Vec<Variant> {
    let tuned = |alias: &str| -> Vec<(String, String)> {
        [
            ("consumer.fetch.max.bytes", "57671680"),
            ("consumer.max.partition.fetch.bytes", "8388608"),
            ("consumer.receive.buffer.bytes", "16777216"),
            ("consumer.send.buffer.bytes", "1048576"),
        ]
        .iter()
        .map(|(k, v)| (format!("{alias}.{k}"), v.to_string()))
        .collect()
    };
    let mut kmirror_tuned = tuned("kmt");
    kmirror_tuned.push(("kmt.kmirror.tcp.congestion.control".into(), "bbr".into()));
    let mut list = vec![
        Variant {
            mirror: Mirror::MirrorMaker2,
            label: "MirrorMaker 2, defaults".into(),
            alias: "mm2",
            props: vec![],
            flags: vec![],
        },
        Variant {
            mirror: Mirror::MirrorMaker2,
            label: "MirrorMaker 2, tuned".into(),
            alias: "mm2t",
            props: tuned("mm2t"),
            flags: vec![],
        },
        Variant {
            mirror: Mirror::Kmirror,
            label: "kmirror, defaults".into(),
            alias: "km",
            props: vec![],
            flags: vec![],
        },
        Variant {
            mirror: Mirror::Kmirror,
            label: "kmirror, tuned".into(),
            alias: "kmt",
            props: kmirror_tuned.clone(),
            flags: vec![],
        },
    ];
    if kmirror_has_streams(kmirror) {
        let props = kmirror_tuned
            .into_iter()
            .map(|(k, v)| (k.replacen("kmt.", "kms.", 1), v))
            .collect();
        list.push(Variant {
            mirror: Mirror::Kmirror,
            label: "kmirror, tuned, --streams 4".into(),
            alias: "kms",
            props,
            flags: vec!["--streams".into(), "4".into()],
        });
    }
    list
}

fn kmirror_has_streams(kmirror: &Path) -> bool {
    Command::new(kmirror)
        .arg("--help")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("--streams"))
        .unwrap_or(false)
}

/// Runs one variant until its target topic holds `want` records.
#[allow(clippy::too_many_arguments)]
fn measure(
    variant: &Variant,
    props: &Path,
    dir: &Path,
    dist: &KafkaDist,
    relay: &DelayRelay,
    target: &KafkaCluster,
    want: i64,
    bytes: u64,
    args: &WanArgs,
) -> Result<Outcome, String> {
    let stats = relay.stats();
    let down_before = stats.bytes_down.load(Ordering::Relaxed);
    let waits_before = stats.full_waits.load(Ordering::Relaxed);
    stats.peak_buffered.store(0, Ordering::Relaxed);
    let relay_cpu_before = procstat::cpu_time(std::process::id()).unwrap_or_default();

    let mut cmd = match variant.mirror {
        Mirror::MirrorMaker2 => mirrors::mm2_command(dist, props),
        Mirror::Kmirror => {
            let mut km = Command::new(kmirror_binary()?);
            km.arg(props).args(&variant.flags);
            if let Some(profile) = &args.profile {
                km.args(["--profile", profile]);
            }
            km
        }
    };
    let mut child = spawn_logged(&mut cmd, dir, variant.alias)?;
    let pid = child.id();
    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.timeout_secs);
    let topic = format!("{}.{TOPIC}", variant.alias);
    let mut first: Option<Instant> = None;
    let mut got = 0;
    while got < want {
        if Instant::now() > deadline {
            mirrors::stop(&mut child, Duration::from_secs(5));
            return Err(format!(
                "{} did not finish within {} s ({got} of {want} records; logs in {})",
                variant.label,
                args.timeout_secs,
                dir.display()
            ));
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!(
                "{} exited early with {status} (logs in {})",
                variant.label,
                dir.display()
            ));
        }
        std::thread::sleep(Duration::from_millis(250));
        got = sum_offsets(target, &topic);
        if got > 0 && first.is_none() {
            first = Some(Instant::now());
        }
    }
    let active = first.map(|f| f.elapsed()).unwrap_or_default();
    let first_after = first.map(|f| f - started).unwrap_or_default();
    let cpu = procstat::cpu_time(pid).unwrap_or_default();
    let peak_rss_kib = procstat::peak_rss_kib(pid).unwrap_or(0);
    let relay_cpu = procstat::cpu_time(std::process::id()).unwrap_or_default() - relay_cpu_before;
    mirrors::stop(&mut child, Duration::from_secs(20));
    let socket_note = (variant.mirror == Mirror::Kmirror)
        .then(|| {
            socket_line(
                &dir.join(format!("{}.err", variant.alias)),
                &relay.address(),
            )
        })
        .flatten();
    let outcome = Outcome {
        label: variant.label.clone(),
        settings: if variant.props.is_empty() && variant.flags.is_empty() {
            "defaults".into()
        } else {
            variant
                .props
                .iter()
                .map(|(k, v)| format!("`{k} = {v}`"))
                .chain(variant.flags.iter().map(|f| format!("`{f}`")))
                .collect::<Vec<_>>()
                .join(", ")
        },
        bytes,
        active,
        first_after,
        cpu,
        relay_cpu,
        peak_rss_kib,
        bytes_down: stats.bytes_down.load(Ordering::Relaxed) - down_before,
        peak_buffered: stats.peak_buffered.load(Ordering::Relaxed),
        full_waits: stats.full_waits.load(Ordering::Relaxed) - waits_before,
        socket_note,
    };
    eprintln!(
        "kmirror-bench: {}: {want} records in {:.1} s active ({:.1} MB/s), {:.1} CPU-s",
        outcome.label,
        active.as_secs_f64(),
        bytes as f64 / 1e6 / active.as_secs_f64().max(0.001),
        cpu.as_secs_f64()
    );
    Ok(outcome)
}

/// kmirror's "socket options in effect" line for a connection through the
/// relay, without the log prefix.
fn socket_line(log: &Path, relay: &str) -> Option<String> {
    let text = std::fs::read_to_string(log).ok()?;
    text.lines()
        .find(|l| l.contains("socket options in effect") && l.contains(relay))
        .and_then(|l| l.split("socket options in effect: ").nth(1))
        .map(|l| l.split(" peer=").next().unwrap_or(l).to_owned())
}

/// The kernel's socket limits, as they were for the run.
fn host_settings() -> Vec<(&'static str, String)> {
    [
        ("net.core.rmem_max", "/proc/sys/net/core/rmem_max"),
        ("net.core.wmem_max", "/proc/sys/net/core/wmem_max"),
        ("net.ipv4.tcp_rmem", "/proc/sys/net/ipv4/tcp_rmem"),
        ("net.ipv4.tcp_wmem", "/proc/sys/net/ipv4/tcp_wmem"),
        (
            "net.ipv4.tcp_congestion_control",
            "/proc/sys/net/ipv4/tcp_congestion_control",
        ),
    ]
    .into_iter()
    .map(|(name, path)| {
        let value = std::fs::read_to_string(path)
            .map(|v| v.split_whitespace().collect::<Vec<_>>().join(" "))
            .unwrap_or_else(|_| "?".into());
        (name, value)
    })
    .collect()
}

fn render(
    args: &WanArgs,
    host: &[(&str, String)],
    records: i64,
    relay: &DelayRelay,
    streams_missing: bool,
    outcomes: &[Outcome],
) -> String {
    let mb = |b: f64| b / 1e6;
    let mut s = String::new();
    s.push_str("# kmirror vs MirrorMaker 2 across a delayed link (WAN)\n\n");
    s.push_str(&format!(
        "Two local Kafka {KAFKA_4} clusters on this machine ({} CPUs, shared with other work). \
         The mirrors reach the source only through a userspace delay relay adding {} ms each way \
         ({} ms round trip); the target is local. Backlog: {records} records of {} B ({}) in one \
         {}-partition topic, {:.2} GB of payload. Each mirror runs alone (tasks.max = 2 for \
         MirrorMaker 2; kmirror one worker per CPU), in the order below.\n\n",
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        args.delay_ms,
        2 * args.delay_ms,
        args.record_size,
        args.compression,
        args.partitions,
        records as f64 * args.record_size as f64 / 1e9,
    ));
    s.push_str(&mirrors::profile_line(args.profile.as_deref()));
    s.push_str("| mirror | active time (s) | MB/s (payload) | first record after (s) | CPU-s | CPU-s per GB | peak RSS (MiB) | bytes through relay (MB) | relay peak buffered (MiB) |\n");
    s.push_str("|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for o in outcomes {
        let secs = o.active.as_secs_f64().max(0.001);
        s.push_str(&format!(
            "| {} | {:.1} | {:.1} | {:.1} | {:.1} | {:.2} | {} | {:.0} | {:.1} |\n",
            o.label,
            secs,
            mb(o.bytes as f64) / secs,
            o.first_after.as_secs_f64(),
            o.cpu.as_secs_f64(),
            o.cpu.as_secs_f64() / (o.bytes as f64 / 1e9),
            o.peak_rss_kib / 1024,
            mb(o.bytes_down as f64),
            o.peak_buffered as f64 / (1 << 20) as f64,
        ));
    }
    s.push_str("\n## Settings\n\n");
    for o in outcomes {
        s.push_str(&format!("- {}: {}\n", o.label, o.settings));
    }
    if streams_missing {
        s.push_str("- kmirror has no `--streams` flag in this build; that variant was not run.\n");
    }
    s.push_str(
        "\nBoth mirrors read `<alias>.consumer.*` as the source consumer's settings \
         (MirrorMaker 2 passes them to its consumers; kmirror to its fetch requests and \
         source sockets).\n",
    );
    let notes: Vec<_> = outcomes
        .iter()
        .filter_map(|o| o.socket_note.as_ref().map(|n| (o, n)))
        .collect();
    if !notes.is_empty() {
        s.push_str("\nkmirror's source sockets, as its log reports them:\n\n");
        for (o, n) in notes {
            s.push_str(&format!("- {}: `{n}`\n", o.label));
        }
    }
    s.push_str("\nKernel socket limits in effect:\n\n");
    for (name, value) in host {
        s.push_str(&format!("- `{name} = {value}`\n"));
    }
    let stats = relay.stats();
    let (rcv, snd) = (*stats
        .effective_buffers
        .lock()
        .unwrap_or_else(|e| e.into_inner()))
    .unwrap_or_default();
    s.push_str(&format!(
        "\n## The delay relay\n\n\
         Every chunk the relay reads from one side is written to the other no earlier than \
         {} ms after it was read, in order, each direction of each connection on its own pair \
         of threads. It does not shape bandwidth. A direction holds at most {} MiB read but not \
         yet written (about 50 ms of 10 Gbit/s); when full, the relay stops reading and the \
         sender sees a full TCP window. Its own sockets ask for {} MiB SO_RCVBUF/SO_SNDBUF \
         (the kernel granted {rcv} / {snd} bytes).\n\n\
         What the model leaves out: the relay's sockets are loopback hops that acknowledge at \
         once, so TCP's windows are *not* stretched by the delay; an endpoint's socket buffers \
         bound only what queues on its local hop. The delay costs a client what it costs its \
         request/response round trips: a connection with one request in flight gets at most one \
         response per {} ms. No loss, no reordering, no congestion control at work. On a real \
         long fat pipe the receive window (`receive.buffer.bytes`, capped by net.core.rmem_max) \
         would bound each connection at window / RTT as well; here it does not.\n\n\
         Columns: active time runs from the first record seen on the target to the last; \
         CPU is user+system of the mirror process alone (/proc/PID/stat), start-up included; \
         relay peak buffered is the most one direction held during that mirror's run; the relay \
         itself (in the benchmark process) used {} CPU-s in all.\n",
        args.delay_ms,
        args.relay_buffer_mib,
        RELAY_SOCKET_BUFFER >> 20,
        2 * args.delay_ms,
        format_args!(
            "{:.1}",
            outcomes
                .iter()
                .map(|o| o.relay_cpu.as_secs_f64())
                .sum::<f64>()
        ),
    ));
    let waits: u64 = outcomes.iter().map(|o| o.full_waits).sum();
    s.push_str(&format!(
        "The relay's buffer cap was reached {waits} times.\n"
    ));
    s
}
