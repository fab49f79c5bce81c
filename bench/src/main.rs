//! `cargo run --release -p kmirror-bench -- e2e`: MirrorMaker 2 and kmirror
//! mirror the same pre-loaded backlog between the same two local Kafka
//! clusters, one after the other, each driven by the same mm2.properties
//! (different source aliases, so their target topics differ). Reports per
//! mirror: MB/s, CPU-seconds per GB of the mirror process alone, and peak
//! RSS; writes bench/results/e2e.md.
//!
//! `cargo run --release -p kmirror-bench -- ceiling`: kmirror between fake
//! brokers beside a kernel-only splice relay; see [`ceiling`].
//!
//! `cargo run --release -p kmirror-bench -- chaos`: kmirror under a fault
//! schedule (kills, broker faults, connection cuts), checked record by
//! record; see [`chaos`].

mod ceiling;
mod chaos;
mod failover;
mod flags;
mod latency;
mod mirrors;
mod procstat;
mod scale;
mod wan;

use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use kmirror_harness::certs::TestPki;
use kmirror_harness::cluster::{ClusterOptions, KafkaCluster};
use kmirror_harness::dist::{KafkaDist, KAFKA_4};
use kmirror_harness::tools;

use crate::mirrors::{kmirror_binary, spawn_logged, sum_offsets};

struct Args {
    records: u64,
    partitions: i32,
    record_size: usize,
    /// Fixed rate of the live stream, records/s, and its length in seconds.
    rate: u64,
    live_secs: u64,
    /// Which modes run: at-least-once, exactly-once, or both.
    modes: Vec<bool>,
    /// Plaintext, TLS (mutual TLS on both clusters), or both.
    tls: Vec<bool>,
    /// `--profile` for kmirror (a tuning profile; recorded in the report).
    profile: Option<String>,
}

fn parse_args(rest: &[String]) -> Result<Args, String> {
    let mut a = Args {
        records: 1_000_000,
        partitions: 12,
        record_size: 1024,
        rate: 5000,
        live_secs: 20,
        modes: vec![false, true],
        tls: vec![false, true],
        profile: None,
    };
    for (flag, v) in flags::pairs(rest)? {
        match flag {
            "--profile" => a.profile = Some(v.to_string()),
            "--records" => a.records = flags::number(flag, v)?,
            "--partitions" => a.partitions = flags::number(flag, v)?,
            "--record-size" => a.record_size = flags::number(flag, v)?,
            "--rate" => a.rate = flags::number(flag, v)?,
            "--live-seconds" => a.live_secs = flags::number(flag, v)?,
            "--exactly-once" => {
                a.modes = match v {
                    "both" => vec![false, true],
                    "off" => vec![false],
                    "only" => vec![true],
                    _ => return Err(format!("{flag} {v}: expected both, off or only")),
                }
            }
            "--tls" => {
                a.tls = match v {
                    "both" => vec![false, true],
                    "off" => vec![false],
                    "only" => vec![true],
                    _ => return Err(format!("{flag} {v}: expected both, off or only")),
                }
            }
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    Ok(a)
}

fn main() {
    let mut argv = std::env::args().skip(1);
    let cmd = argv.next().unwrap_or_else(|| "e2e".into());
    let rest: Vec<String> = argv.collect();
    let result = match cmd.as_str() {
        "e2e" => match parse_args(&rest) {
            Ok(args) => {
                kmirror::logging::init(kmirror::logging::LogFormat::Text);
                e2e(&args)
            }
            Err(e) => usage(&e, "e2e [--records N per topic] [--partitions N] [--record-size BYTES] [--rate RECORDS/S] [--live-seconds S] [--exactly-once both|off|only] [--tls both|off|only] [--profile NAME]"),
        },
        "wan" => match wan::parse_args(&rest) {
            Ok(args) => {
                kmirror::logging::init(kmirror::logging::LogFormat::Text);
                wan::run(&args)
            }
            Err(e) => usage(&e, wan::USAGE),
        },
        "scale" => {
            kmirror::logging::init(kmirror::logging::LogFormat::Text);
            scale::run(&rest)
        }
        "ceiling" => {
            kmirror::logging::init(kmirror::logging::LogFormat::Text);
            ceiling::run(&rest)
        }
        "failover" => match failover::parse_args(&rest) {
            Ok(args) => {
                kmirror::logging::init(kmirror::logging::LogFormat::Text);
                failover::run(&args)
            }
            Err(e) => usage(&e, failover::USAGE),
        },
        "chaos" => match chaos::parse_args(&rest) {
            Ok(args) => {
                kmirror::logging::init(kmirror::logging::LogFormat::Text);
                chaos::run(&args)
            }
            Err(e) => usage(&e, chaos::USAGE),
        },
        other => Err(format!(
            "unknown benchmark '{other}' (available: e2e, wan, scale, ceiling, chaos, failover)"
        )),
    };
    if let Err(e) = result {
        eprintln!("kmirror-bench: {e}");
        std::process::exit(1);
    }
}

fn usage(error: &str, usage: &str) -> ! {
    eprintln!("kmirror-bench: {error}\nusage: kmirror-bench {usage}");
    std::process::exit(2);
}

const TOPICS: [(&str, &str); 2] = [("bench-lz4", "lz4"), ("bench-none", "none")];

/// The live stream's topic for the mirror with `alias`: each mirror has its
/// own, so none copies another's stream while it is measured.
fn live_topic(alias: &str) -> String {
    format!("bench-live-{alias}")
}

/// The topics the mirror with `alias` mirrors: the backlog and its own live
/// topic.
fn mirrored_topics(alias: &str) -> String {
    let mut topics: Vec<String> = TOPICS.iter().map(|(t, _)| t.to_string()).collect();
    topics.push(live_topic(alias));
    topics.join(", ")
}

struct Outcome {
    /// Exactly-once mode (the mirror's own, as its file asks).
    exactly_once: bool,
    /// Both clusters reached over mutual TLS.
    tls: bool,
    latency_us: hdrhistogram::Histogram<u64>,
    /// The same stream read on the source cluster during this mirror's run:
    /// what the producer, broker and consumer cost without any mirror.
    baseline_us: hdrhistogram::Histogram<u64>,
    /// How far the paced producer fell behind its schedule at worst.
    producer_late: Duration,
    live_seen: u64,
    name: &'static str,
    bytes: u64,
    records: i64,
    active: Duration,
    cpu: Duration,
    peak_rss_kib: u64,
}

fn e2e(args: &Args) -> Result<(), String> {
    let e = |x: std::io::Error| x.to_string();
    let pki = TestPki::shared();
    let options = if args.tls.contains(&true) {
        ClusterOptions::default().secure_listeners(&pki.dir)
    } else {
        ClusterOptions::default()
    };
    let source = KafkaCluster::start_with("bench-src", KAFKA_4, &options).map_err(e)?;
    let target = KafkaCluster::start_with("bench-dst", KAFKA_4, &options).map_err(e)?;
    let mut total_bytes = 0u64;
    for (topic, codec) in TOPICS {
        tools::create_topic(&source, topic, args.partitions, &[]).map_err(e)?;
        eprintln!(
            "kmirror-bench: loading {} records of {} B into {topic} ({codec})",
            args.records, args.record_size
        );
        tools::producer_perf(
            &source,
            topic,
            args.records,
            args.record_size,
            -1,
            &[
                ("compression.type", codec),
                ("linger.ms", "10"),
                ("batch.size", "65536"),
            ],
        )
        .map_err(e)?;
        total_bytes += args.records * args.record_size as u64;
    }
    let want: i64 = TOPICS.iter().map(|(t, _)| sum_offsets(&source, t)).sum();
    let dir = std::env::temp_dir().join(format!("kmirror-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(e)?;
    let dist = KafkaDist::ensure(KAFKA_4).map_err(e)?;

    // Mutual TLS for both mirrors: PEM files, which Java clients read too.
    let keystore = dir.join("client-keystore.pem");
    let client = pki.client();
    std::fs::write(
        &keystore,
        format!(
            "{}{}",
            std::fs::read_to_string(&client.key).map_err(e)?,
            std::fs::read_to_string(&client.cert).map_err(e)?
        ),
    )
    .map_err(e)?;
    let mut outcomes = Vec::new();
    for &eos in &args.modes {
        for &tls in &args.tls {
            let mut extra: Vec<(String, String)> = Vec::new();
            if eos {
                extra.push((
                    "exactly.once.source.support".to_string(),
                    "enabled".to_string(),
                ));
            }
            let (source_bootstrap, target_bootstrap) = if tls {
                for (k, v) in [
                    ("security.protocol", "SSL".to_string()),
                    ("ssl.truststore.type", "PEM".to_string()),
                    (
                        "ssl.truststore.location",
                        pki.path("ca.pem").display().to_string(),
                    ),
                    ("ssl.keystore.type", "PEM".to_string()),
                    ("ssl.keystore.location", keystore.display().to_string()),
                ] {
                    extra.push((k.to_string(), v));
                }
                let ssl =
                    |c: &KafkaCluster| format!("localhost:{}", c.listener_port("SSL").unwrap_or(0));
                (ssl(&source), ssl(&target))
            } else {
                (source.bootstrap(), target.bootstrap())
            };
            for (name, base) in [("MirrorMaker 2", "mm2"), ("kmirror", "km")] {
                let alias = format!(
                    "{base}{}{}",
                    if eos { "eos" } else { "" },
                    if tls { "tls" } else { "" }
                );
                tools::create_topic(&source, &live_topic(&alias), args.partitions, &[])
                    .map_err(e)?;
                let props = mirrors::write_props(
                    &dir,
                    &alias,
                    &source_bootstrap,
                    &target_bootstrap,
                    &mirrored_topics(&alias),
                    &extra,
                )?;
                let mut cmd = if base == "mm2" {
                    mirrors::mm2_command(&dist, &props)
                } else {
                    let mut km = Command::new(kmirror_binary()?);
                    km.arg(&props);
                    if let Some(profile) = &args.profile {
                        km.args(["--profile", profile]);
                    }
                    km
                };
                let child = spawn_logged(&mut cmd, &dir, &alias)?;
                outcomes.push(measure(
                    name,
                    (eos, tls),
                    child,
                    &source,
                    &target,
                    &alias,
                    want,
                    total_bytes,
                    args,
                )?);
            }
        }
    }
    let report = render(args, want, &outcomes);
    println!("{report}");
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("results/e2e.md");
    std::fs::write(&out, report).map_err(e)?;
    let labels: Vec<String> = outcomes.iter().map(Outcome::label).collect();
    let mut series: Vec<(&str, &hdrhistogram::Histogram<u64>)> = outcomes
        .iter()
        .zip(&labels)
        .map(|(o, l)| (l.as_str(), &o.latency_us))
        .collect();
    if let Some(last) = outcomes.last() {
        series.push(("no mirror (read on the source)", &last.baseline_us));
    }
    let plot = latency::svg(&series);
    std::fs::write(out.with_file_name("e2e-latency.svg"), plot).map_err(e)?;
    eprintln!("kmirror-bench: wrote {}", out.display());
    Ok(())
}

/// Waits until the mirror's target topics hold `want` records, sampling the
/// process's CPU time and peak RSS; the active window runs from the first
/// mirrored record to the last.
#[allow(clippy::too_many_arguments)]
fn measure(
    name: &'static str,
    (exactly_once, tls): (bool, bool),
    mut child: Child,
    source: &KafkaCluster,
    target: &KafkaCluster,
    alias: &str,
    want: i64,
    bytes: u64,
    args: &Args,
) -> Result<Outcome, String> {
    let pid = child.id();
    let started = Instant::now();
    let mut first: Option<Instant> = None;
    let deadline = started + Duration::from_secs(3600);
    // Done when the target's end offsets reach the records mirrored (in
    // exactly-once mode transaction markers take offsets too) and stop
    // moving; the active window ends at their last move.
    let (mut got, mut last_move) = (0i64, Instant::now());
    loop {
        if Instant::now() > deadline {
            let _ = child.kill();
            return Err(format!(
                "{name} did not finish within an hour ({got} of {want} records)"
            ));
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("{name} exited early with {status}"));
        }
        std::thread::sleep(Duration::from_millis(250));
        let now: i64 = TOPICS
            .iter()
            .map(|(t, _)| sum_offsets(target, &format!("{alias}.{t}")))
            .sum();
        if now != got {
            got = now;
            last_move = Instant::now();
        }
        if got > 0 && first.is_none() {
            first = Some(Instant::now());
        }
        if got >= want && last_move.elapsed() > Duration::from_secs(3) {
            break;
        }
    }
    let active = first
        .map(|f| last_move.duration_since(f))
        .unwrap_or_default();
    let cpu = procstat::cpu_time(pid).unwrap_or_default();
    let peak_rss_kib = procstat::peak_rss_kib(pid).unwrap_or(0);

    // Live phase: a fixed-rate stream through the caught-up mirror.
    let live_source = live_topic(alias);
    let live_target = format!("{alias}.{live_source}");
    let ready = Instant::now();
    while !matches!(tools::partition_count(target, &live_target), Ok(Some(_))) {
        if ready.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            return Err(format!("{name} never created {live_target}"));
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let n = args.rate * args.live_secs;
    let bootstrap = target.bootstrap();
    let timeout = Duration::from_secs(args.live_secs * 3 + 60);
    let follower = {
        let topic = live_target.clone();
        std::thread::spawn(move || latency::follow(&bootstrap, &topic, n, timeout))
    };
    let baseline = {
        let bootstrap = source.bootstrap();
        let topic = live_source.clone();
        std::thread::spawn(move || latency::follow(&bootstrap, &topic, n, timeout))
    };
    std::thread::sleep(Duration::from_secs(2));
    let producer_late = tools::paced_produce(
        source,
        &live_source,
        args.rate,
        n,
        args.record_size,
        &[("compression.type", "lz4"), ("linger.ms", "0")],
    )
    .map_err(|e| e.to_string())?;
    let (latency_us, live_seen) = follower
        .join()
        .map_err(|_| "latency follower panicked".to_string())??;
    let (baseline_us, _) = baseline
        .join()
        .map_err(|_| "latency follower panicked".to_string())??;
    // SAFETY: plain kill(2) on our own child.
    unsafe {
        libc::kill(pid as i32, libc::SIGTERM);
    }
    let _ = child.wait();
    let shown = label(name, exactly_once, tls);
    eprintln!(
        "kmirror-bench: {shown}: {want} records in {:.1} s active, {:.1} CPU-s, peak RSS {} MiB",
        active.as_secs_f64(),
        cpu.as_secs_f64(),
        peak_rss_kib / 1024
    );
    eprintln!(
        "kmirror-bench: {shown} live: {live_seen} of {n} records, p50 {:.1} ms, p99 {:.1} ms",
        latency_us.value_at_quantile(0.5) as f64 / 1000.0,
        latency_us.value_at_quantile(0.99) as f64 / 1000.0
    );
    Ok(Outcome {
        exactly_once,
        tls,
        latency_us,
        baseline_us,
        producer_late,
        live_seen,
        name,
        bytes,
        records: want,
        active,
        cpu,
        peak_rss_kib,
    })
}

fn label(name: &str, exactly_once: bool, tls: bool) -> String {
    match (exactly_once, tls) {
        (false, false) => name.to_string(),
        (true, false) => format!("{name} (exactly-once)"),
        (false, true) => format!("{name} (TLS)"),
        (true, true) => format!("{name} (exactly-once, TLS)"),
    }
}

impl Outcome {
    fn label(&self) -> String {
        label(self.name, self.exactly_once, self.tls)
    }

    fn cpu_per_gb(&self) -> f64 {
        self.cpu.as_secs_f64() / (self.bytes as f64 / 1e9).max(1e-9)
    }

    fn find<'a>(all: &'a [Outcome], name: &str, eos: bool, tls: bool) -> Option<&'a Outcome> {
        all.iter()
            .find(|o| o.name == name && o.exactly_once == eos && o.tls == tls)
    }
}

fn render(args: &Args, records: i64, outcomes: &[Outcome]) -> String {
    let mut s = String::new();
    s.push_str("# kmirror vs MirrorMaker 2: end-to-end backlog\n\n");
    s.push_str(&format!(
        "Two local Kafka {KAFKA_4} clusters on this machine ({} CPUs). Backlog: {} records of {} B in each of {} topics \
         ({} partitions each; one lz4, one uncompressed), {records} records and {:.2} GB of payload in all. \
         Each mirror runs alone with the same mm2.properties (tasks.max = 2), MirrorMaker 2 first; the exactly-once rows \
         add `exactly.once.source.support = enabled` to that file (kmirror commits a transaction every 100 ms, its default); \
         the TLS rows reach both clusters over mutual TLS (TLS 1.3, PEM key and trust files, the same for both mirrors).\n\n",
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        args.records,
        args.record_size,
        TOPICS.len(),
        args.partitions,
        outcomes.first().map_or(0.0, |o| o.bytes as f64 / 1e9),
    ));
    s.push_str(&mirrors::profile_line(args.profile.as_deref()));
    s.push_str("| mirror | active time (s) | MB/s (payload) | CPU-s total | CPU-s per GB | peak RSS (MiB) |\n");
    s.push_str("|---|---:|---:|---:|---:|---:|\n");
    for o in outcomes {
        let secs = o.active.as_secs_f64().max(0.001);
        s.push_str(&format!(
            "| {} ({} records) | {:.1} | {:.1} | {:.1} | {:.2} | {} |\n",
            o.label(),
            o.records,
            secs,
            o.bytes as f64 / 1e6 / secs,
            o.cpu.as_secs_f64(),
            o.cpu_per_gb(),
            o.peak_rss_kib / 1024
        ));
    }
    s.push('\n');
    for eos in [false, true] {
        for tls in [false, true] {
            if let (Some(mm2), Some(km)) = (
                Outcome::find(outcomes, "MirrorMaker 2", eos, tls),
                Outcome::find(outcomes, "kmirror", eos, tls),
            ) {
                let ratio = km.cpu.as_secs_f64() / mm2.cpu.as_secs_f64().max(1e-9);
                s.push_str(&format!(
                    "- {}{}: kmirror used {:.3} of MirrorMaker 2's CPU time for the same backlog (goal: at most {}).\n",
                    if eos { "Exactly-once" } else { "At-least-once" },
                    if tls { ", TLS on both clusters" } else { "" },
                    ratio,
                    if tls { "1/15 = 0.067" } else { "0.1" }
                ));
            }
        }
        if let (Some(plain), Some(tls)) = (
            Outcome::find(outcomes, "kmirror", eos, false),
            Outcome::find(outcomes, "kmirror", eos, true),
        ) {
            s.push_str(&format!(
                "- {}: TLS added {:+.2} CPU-s per GB to kmirror's plaintext figure (goal: at most +0.5).\n",
                if eos { "Exactly-once" } else { "At-least-once" },
                tls.cpu_per_gb() - plain.cpu_per_gb()
            ));
        }
    }
    if let (Some(alo), Some(eos)) = (
        Outcome::find(outcomes, "kmirror", false, false),
        Outcome::find(outcomes, "kmirror", true, false),
    ) {
        s.push_str(&format!(
            "- kmirror's exactly-once mode used {:+.1}% CPU per GB against its at-least-once mode (goal: under +20%).\n",
            (eos.cpu_per_gb() / alo.cpu_per_gb().max(1e-9) - 1.0) * 100.0
        ));
    }
    s.push_str(&format!(
        "\n## Fixed-rate stream\n\n{} records/s of {} B (lz4, linger.ms 0, acks all) for {} s into a {}-partition topic, after each mirror caught up the backlog. \
         Latency = arrival at a kcat consumer on the target (read_committed, librdkafka's default) minus the record's timestamp, which the paced producer sets to the time the record was *due* \
         (start + i / rate), so a producer that falls behind does not hide the wait (no coordinated omission). \
         The baseline row is the same stream read by kcat on the source cluster at the same time: the producer, broker and consumer without a mirror.\n\n",
        args.rate, args.record_size, args.live_secs, args.partitions
    ));
    s.push_str("| path | records seen | p50 (ms) | p99 (ms) | p99.9 (ms) | max (ms) | producer behind schedule at worst (ms) |\n|---|---:|---:|---:|---:|---:|---:|\n");
    for o in outcomes {
        let rows = [
            (
                format!("{} (target)", o.label()),
                &o.latency_us,
                o.live_seen,
            ),
            (
                format!("baseline during {} (source)", o.label()),
                &o.baseline_us,
                o.baseline_us.len(),
            ),
        ];
        for (label, h, seen) in rows {
            let q = |p: f64| h.value_at_quantile(p) as f64 / 1000.0;
            s.push_str(&format!(
                "| {label} | {seen} | {:.1} | {:.1} | {:.1} | {:.1} | {} |\n",
                q(0.5),
                q(0.99),
                q(0.999),
                h.max() as f64 / 1000.0,
                o.producer_late.as_millis()
            ));
        }
    }
    if let (Some(mm2), Some(km)) = (
        Outcome::find(outcomes, "MirrorMaker 2", false, false),
        Outcome::find(outcomes, "kmirror", false, false),
    ) {
        let r = km.latency_us.value_at_quantile(0.99) as f64
            / (mm2.latency_us.value_at_quantile(0.99) as f64).max(1.0);
        s.push_str(&format!("\nkmirror's p99 is {r:.3} of MirrorMaker 2's (goal: at most 0.1, and under 5 ms on loopback).\n\n![latency percentiles](e2e-latency.svg)\n"));
    }
    s.push_str("\nCPU time is user+system of the mirror process alone (/proc/PID/stat), including its start-up; \
                the active window runs from the first record seen on the target to the last move of the target's end offsets. \
                Timestamps have millisecond resolution (Kafka's), so sub-millisecond figures round.\n");
    s
}
