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
//! `cargo run --release -p kmirror-bench -- scale-fake`: kmirror's own cost
//! per partition up to 100,000 partitions, between fake brokers; see
//! [`scale_fake`].
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
mod scale_fake;
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
    /// Fixed rates of the live streams, records/s, one stream after the
    /// other, and each one's length in seconds.
    rates: Vec<u64>,
    live_secs: u64,
    /// Which modes run: at-least-once, exactly-once, or both.
    modes: Vec<bool>,
    /// Plaintext, TLS (mutual TLS on both clusters), or both.
    tls: Vec<bool>,
    /// `--profile` for kmirror (a tuning profile; recorded in the report).
    profile: Option<String>,
    /// The loading producer's `batch.size` (0: one record per batch, with
    /// linger.ms 0); other than the default, the report is
    /// `e2e-batch-<N>.md`.
    source_batch_bytes: u64,
    /// `--report NAME`: write bench/results/NAME.md (and its plots).
    report: Option<String>,
    /// `--splice on`: kmirror on the splice path too (plaintext runs, epoll,
    /// `check.crcs = false`), in the same run.
    splice: bool,
}

/// The loading producer's default `batch.size` and `linger.ms`.
const LOAD_BATCH_BYTES: u64 = 65_536;

fn parse_args(rest: &[String]) -> Result<Args, String> {
    let mut a = Args {
        records: 1_000_000,
        partitions: 12,
        record_size: 1024,
        rates: vec![1000, 5000],
        live_secs: 20,
        modes: vec![false, true],
        tls: vec![false, true],
        profile: None,
        source_batch_bytes: LOAD_BATCH_BYTES,
        report: None,
        splice: false,
    };
    for (flag, v) in flags::pairs(rest)? {
        match flag {
            "--profile" => a.profile = Some(v.to_string()),
            "--source-batch-bytes" => a.source_batch_bytes = flags::number(flag, v)?,
            "--report" => a.report = Some(v.to_string()),
            "--records" => a.records = flags::number(flag, v)?,
            "--partitions" => a.partitions = flags::number(flag, v)?,
            "--record-size" => a.record_size = flags::number(flag, v)?,
            "--rate" => {
                a.rates = v
                    .split(',')
                    .map(|r| flags::number(flag, r.trim()))
                    .collect::<Result<_, _>>()?
            }
            "--live-seconds" => a.live_secs = flags::number(flag, v)?,
            "--exactly-once" => {
                a.modes = match v {
                    "both" => vec![false, true],
                    "off" => vec![false],
                    "only" => vec![true],
                    _ => return Err(format!("{flag} {v}: expected both, off or only")),
                }
            }
            "--splice" => {
                a.splice = match v {
                    "on" => true,
                    "off" => false,
                    _ => return Err(format!("{flag} {v}: expected on or off")),
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
            Err(e) => usage(&e, "e2e [--records N per topic] [--partitions N] [--record-size BYTES] [--rate RECORDS/S[,RECORDS/S...]] [--live-seconds S] [--exactly-once both|off|only] [--tls both|off|only] [--profile NAME] [--source-batch-bytes N (0: one record per batch)] [--splice on|off] [--report NAME]"),
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
        "scale-fake" => {
            kmirror::logging::init(kmirror::logging::LogFormat::Text);
            scale_fake::run(&rest)
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
            "unknown benchmark '{other}' (available: e2e, wan, scale, scale-fake, ceiling, chaos, failover)"
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
    /// One fixed-rate stream per rate, after the backlog.
    live: Vec<Live>,
    /// From the mirror's start to the first record on the target.
    first_record: Option<Duration>,
    name: &'static str,
    bytes: u64,
    records: i64,
    active: Duration,
    cpu: Duration,
    peak_rss_kib: u64,
}

/// A fixed-rate stream through a caught-up mirror.
struct Live {
    rate: u64,
    /// End to end: arrival on the target minus the record's due time.
    latency_us: hdrhistogram::Histogram<u64>,
    /// The same stream read on the source cluster at the same time: what
    /// the producer, broker and consumer cost without any mirror.
    baseline_us: hdrhistogram::Histogram<u64>,
    /// Per record: arrival on the target minus arrival on the source.
    added_us: hdrhistogram::Histogram<u64>,
    /// Per record: how far apart two readers of the source saw it, the
    /// floor of `added_us` as measured here.
    floor_us: hdrhistogram::Histogram<u64>,
    /// How far the paced producer fell behind its schedule at worst.
    producer_late: Duration,
    seen: u64,
    /// kmirror's own share of the added latency, p50 and p99 in ms: its
    /// fetch response read to the target's acknowledgement, per batch, as
    /// its metrics endpoint gives it over the last 30 to 60 s. Read when the
    /// stream ends, and only when streams last at least a minute, so that
    /// the window holds nothing else.
    own_ms: Option<(f64, f64)>,
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
                (
                    "linger.ms",
                    if args.source_batch_bytes == LOAD_BATCH_BYTES {
                        "10"
                    } else {
                        "0"
                    },
                ),
                ("batch.size", &args.source_batch_bytes.to_string()),
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
            let mut mirrors = vec![("MirrorMaker 2", "mm2"), ("kmirror", "km")];
            if args.source_batch_bytes != LOAD_BATCH_BYTES {
                // What merging small batches earns, in the same run.
                mirrors.push(("kmirror (coalescing off)", "kmnc"));
            }
            if args.splice && !tls {
                mirrors.push(("kmirror (splice path)", "kmsp"));
            }
            for (name, base) in mirrors {
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
                    &if base == "kmnc" {
                        let mut off = extra.clone();
                        off.push(("kmirror.coalesce.enabled".into(), "false".into()));
                        off
                    } else if base == "kmsp" {
                        let mut on = extra.clone();
                        for (k, v) in [
                            ("kmirror.io", "epoll"),
                            ("kmirror.splice", "on"),
                            ("consumer.check.crcs", "false"),
                        ] {
                            on.push((k.into(), v.into()));
                        }
                        on
                    } else {
                        extra.clone()
                    }
                    .into_iter()
                    .chain(
                        (base != "mm2")
                            .then(|| ("kmirror.metrics.address".to_string(), METRICS.to_string())),
                    )
                    .collect::<Vec<_>>(),
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
    let name = report_name(args);
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("results/{name}.md"));
    std::fs::write(&out, report).map_err(e)?;
    let labels: Vec<String> = outcomes.iter().map(Outcome::label).collect();
    // End to end at the highest rate; added latency at each rate.
    let top = args.rates.iter().copied().max().unwrap_or(0);
    fn at(o: &Outcome, rate: u64) -> Option<&Live> {
        o.live.iter().find(|l| l.rate == rate)
    }
    let mut series: Vec<(String, &hdrhistogram::Histogram<u64>)> = outcomes
        .iter()
        .zip(&labels)
        .filter_map(|(o, l)| Some((format!("{l}, {top}/s"), &at(o, top)?.latency_us)))
        .collect();
    if let Some(live) = outcomes.last().and_then(|o| at(o, top)) {
        series.push(("no mirror (read on the source)".into(), &live.baseline_us));
    }
    write_plot(&out.with_file_name(format!("{name}-latency.svg")), &series)?;
    let mut added: Vec<(String, &hdrhistogram::Histogram<u64>)> = Vec::new();
    for &rate in &args.rates {
        for (o, l) in outcomes.iter().zip(&labels) {
            if let Some(live) = at(o, rate) {
                added.push((format!("{l}, {rate}/s"), &live.added_us));
            }
        }
        if let Some(live) = outcomes.first().and_then(|o| at(o, rate)) {
            added.push((
                format!("floor: two source readers, {rate}/s"),
                &live.floor_us,
            ));
        }
    }
    write_plot(
        &out.with_file_name(format!("{name}-added-latency.svg")),
        &added,
    )?;
    eprintln!("kmirror-bench: wrote {}", out.display());
    Ok(())
}

/// Writes the latency plot of labelled histograms to `path`.
fn write_plot(
    path: &Path,
    series: &[(String, &hdrhistogram::Histogram<u64>)],
) -> Result<(), String> {
    let named: Vec<(&str, &hdrhistogram::Histogram<u64>)> =
        series.iter().map(|(l, h)| (l.as_str(), *h)).collect();
    std::fs::write(path, latency::svg(&named)).map_err(|e| e.to_string())
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
        // Finely until the first record (the start-up time), then coarsely.
        std::thread::sleep(Duration::from_millis(if first.is_none() {
            20
        } else {
            250
        }));
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
    let mut live = Vec::new();
    for &rate in &args.rates {
        let mut stream = live_stream(source, target, &live_source, &live_target, rate, args)?;
        if name.starts_with("kmirror") && args.live_secs >= 60 {
            stream.own_ms = own_added_ms();
        }
        live.push(stream);
    }
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
    for l in &live {
        eprintln!(
            "kmirror-bench: {shown} live at {}/s: {} of {} records, end to end p50 {:.1} ms p99 {:.1} ms, added p50 {:.1} ms p99 {:.1} ms (floor p99 {:.1} ms)",
            l.rate,
            l.seen,
            l.rate * args.live_secs,
            l.latency_us.value_at_quantile(0.5) as f64 / 1000.0,
            l.latency_us.value_at_quantile(0.99) as f64 / 1000.0,
            l.added_us.value_at_quantile(0.5) as f64 / 1000.0,
            l.added_us.value_at_quantile(0.99) as f64 / 1000.0,
            l.floor_us.value_at_quantile(0.99) as f64 / 1000.0,
        );
    }
    Ok(Outcome {
        exactly_once,
        tls,
        live,
        first_record: first.map(|f| f.duration_since(started)),
        name,
        bytes,
        records: want,
        active,
        cpu,
        peak_rss_kib,
    })
}

/// One fixed-rate stream of `rate` records/s into `live_source`, read on
/// the target by one kcat and on the source by two, all at once.
fn live_stream(
    source: &KafkaCluster,
    target: &KafkaCluster,
    live_source: &str,
    live_target: &str,
    rate: u64,
    args: &Args,
) -> Result<Live, String> {
    let n = rate * args.live_secs;
    let timeout = Duration::from_secs(args.live_secs * 3 + 60);
    let follow = |bootstrap: String, topic: &str| {
        let topic = topic.to_string();
        std::thread::spawn(move || latency::follow(&bootstrap, &topic, n, timeout))
    };
    let on_target = follow(target.bootstrap(), live_target);
    let on_source = follow(source.bootstrap(), live_source);
    let on_source_too = follow(source.bootstrap(), live_source);
    std::thread::sleep(Duration::from_secs(2));
    let producer_late = tools::paced_produce(
        source,
        live_source,
        rate,
        n,
        args.record_size,
        &[("compression.type", "lz4"), ("linger.ms", "0")],
    )
    .map_err(|e| e.to_string())?;
    let joined = |h: std::thread::JoinHandle<Result<latency::Followed, String>>| {
        h.join()
            .map_err(|_| "latency follower panicked".to_string())?
    };
    let (t, s1, s2) = (
        joined(on_target)?,
        joined(on_source)?,
        joined(on_source_too)?,
    );
    Ok(Live {
        rate,
        added_us: latency::differences(&s1.arrivals, &t.arrivals, false)?,
        floor_us: latency::differences(&s1.arrivals, &s2.arrivals, true)?,
        latency_us: t.latency_us,
        baseline_us: s1.latency_us,
        producer_late,
        seen: t.seen,
        own_ms: None,
    })
}

/// Where the kmirror under test serves its metrics (one runs at a time).
const METRICS: &str = "127.0.0.1:9408";

/// kmirror's `kmirror_added_latency_ms` p50 and p99, from its endpoint.
fn own_added_ms() -> Option<(f64, f64)> {
    let (code, body) = kmirror::status::scrape::get(METRICS, "/metrics").ok()?;
    if code != 200 {
        return None;
    }
    let samples = kmirror::status::scrape::parse(&body);
    let at = |q: &str| {
        samples
            .iter()
            .find(|s| {
                s.name == "kmirror_added_latency_ms"
                    && s.labels.get("quantile").map(String::as_str) == Some(q)
            })
            .map(|s| s.value)
    };
    Some((at("0.5")?, at("0.99")?))
}

/// p50, p99, p99.9 and max of a histogram of microseconds, in ms, as
/// table cells.
fn quantiles(h: &hdrhistogram::Histogram<u64>) -> String {
    let q = |p: f64| h.value_at_quantile(p) as f64 / 1000.0;
    format!(
        "{:.1} | {:.1} | {:.1} | {:.1}",
        q(0.5),
        q(0.99),
        q(0.999),
        h.max() as f64 / 1000.0
    )
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

/// `--report`, else `e2e`, or `e2e-batch-<N>` for a backlog loaded with
/// another batch size.
fn report_name(args: &Args) -> String {
    if let Some(name) = &args.report {
        name.clone()
    } else if args.source_batch_bytes == LOAD_BATCH_BYTES {
        "e2e".to_string()
    } else {
        format!("e2e-batch-{}", args.source_batch_bytes)
    }
}

fn render(args: &Args, records: i64, outcomes: &[Outcome]) -> String {
    let name = report_name(args);
    let mut s = String::new();
    s.push_str("# kmirror vs MirrorMaker 2: end-to-end backlog\n\n");
    s.push_str(&format!(
        "Two local Kafka {KAFKA_4} clusters on this machine ({} CPUs). Backlog: {} records of {} B in each of {} topics \
         ({} partitions each; one lz4, one uncompressed; loaded with {}), {records} records and {:.2} GB of payload in all. \
         Each mirror runs alone with the same mm2.properties (tasks.max = 2), MirrorMaker 2 first; the exactly-once rows \
         add `exactly.once.source.support = enabled` to that file (kmirror commits a transaction every 100 ms, its default); \
         the TLS rows reach both clusters over mutual TLS (TLS 1.3, PEM key and trust files, the same for both mirrors).\n\n",
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        args.records,
        args.record_size,
        TOPICS.len(),
        args.partitions,
        if args.source_batch_bytes == LOAD_BATCH_BYTES {
            "the producer's batch.size 65536 and linger.ms 10".to_string()
        } else if args.source_batch_bytes == 0 {
            "batch.size 0 and linger.ms 0: one record per source batch".to_string()
        } else {
            format!("batch.size {} and linger.ms 0", args.source_batch_bytes)
        },
        outcomes.first().map_or(0.0, |o| o.bytes as f64 / 1e9),
    ));
    s.push_str(&mirrors::profile_line(args.profile.as_deref()));
    s.push_str("| mirror | first record on the target after (s) | active time (s) | MB/s (payload) | CPU-s total | CPU-s per GB | peak RSS (MiB) |\n");
    s.push_str("|---|---:|---:|---:|---:|---:|---:|\n");
    for o in outcomes {
        let secs = o.active.as_secs_f64().max(0.001);
        s.push_str(&format!(
            "| {} ({} records) | {} | {:.1} | {:.1} | {:.1} | {:.2} | {} |\n",
            o.label(),
            o.records,
            o.first_record
                .map_or("-".to_string(), |d| format!("{:.2}", d.as_secs_f64())),
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
    let rates = args
        .rates
        .iter()
        .map(|r| r.to_string())
        .collect::<Vec<_>>()
        .join(" and ");
    s.push_str(&format!(
        "\n## Fixed-rate streams\n\n{rates} records/s of {} B (lz4, linger.ms 0, acks all), {} s each, into a {}-partition topic, after each mirror caught up the backlog. \
         End to end = arrival at a kcat consumer on the target (read_committed, librdkafka's default) minus the record's timestamp, which the paced producer sets to the time the record was *due* \
         (start + i / rate), so a producer that falls behind does not hide the wait (no coordinated omission). \
         The baseline row is the same stream read by kcat on the source cluster at the same time: the producer, broker and consumer without a mirror.\n\n",
        args.record_size, args.live_secs, args.partitions
    ));
    s.push_str("| path | rate (records/s) | records seen | p50 (ms) | p99 (ms) | p99.9 (ms) | max (ms) | producer behind schedule at worst (ms) |\n|---|---:|---:|---:|---:|---:|---:|---:|\n");
    for o in outcomes {
        for l in &o.live {
            let rows = [
                (format!("{} (target)", o.label()), &l.latency_us, l.seen),
                (
                    format!("baseline during {} (source)", o.label()),
                    &l.baseline_us,
                    l.baseline_us.len(),
                ),
            ];
            for (label, h, seen) in rows {
                s.push_str(&format!(
                    "| {label} | {} | {seen} | {} | {} |\n",
                    l.rate,
                    quantiles(h),
                    l.producer_late.as_millis()
                ));
            }
        }
    }
    s.push_str(&format!(
        "\n## Latency the mirror adds\n\nPer record (matched by the sequence number the producer puts in a header): its arrival at the kcat on the target minus its arrival at a kcat on the source, both reading at once, in microseconds of this machine's clock. \
         The floor is the same difference between two kcats reading the source at once: what this way of measuring cannot see below.\n\n![added latency]({name}-added-latency.svg)\n\n"
    ));
    if args.live_secs >= 60 {
        s.push_str("The last columns are kmirror's own part, as its metrics give it (`kmirror_added_latency_ms`, per batch, from reading the fetch response to the target's acknowledgement, over the stream's last 30 to 60 s): what is left of the added latency is the source broker waking kmirror's fetch rather than a consumer's, and the target broker's own append and delivery to its consumer.\n\n");
    }
    s.push_str("| mirror | rate (records/s) | records matched | p50 (ms) | p99 (ms) | p99.9 (ms) | max (ms) | floor p50 (ms) | floor p99 (ms) | kmirror's own p50 (ms) | kmirror's own p99 (ms) |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for o in outcomes {
        for l in &o.live {
            let own = l.own_ms.map_or("- | -".to_string(), |(p50, p99)| {
                format!("{p50:.1} | {p99:.1}")
            });
            s.push_str(&format!(
                "| {} | {} | {} | {} | {:.1} | {:.1} | {own} |\n",
                o.label(),
                l.rate,
                l.added_us.len(),
                quantiles(&l.added_us),
                l.floor_us.value_at_quantile(0.5) as f64 / 1000.0,
                l.floor_us.value_at_quantile(0.99) as f64 / 1000.0,
            ));
        }
    }
    s.push('\n');
    for eos in [false, true] {
        for tls in [false, true] {
            let (Some(mm2), Some(km)) = (
                Outcome::find(outcomes, "MirrorMaker 2", eos, tls),
                Outcome::find(outcomes, "kmirror", eos, tls),
            ) else {
                continue;
            };
            for (a, b) in mm2.live.iter().zip(&km.live) {
                let p99 =
                    |h: &hdrhistogram::Histogram<u64>| h.value_at_quantile(0.99) as f64 / 1000.0;
                s.push_str(&format!(
                    "- {}, {} records/s: kmirror added p99 {:.1} ms, {:.3} of MirrorMaker 2's {:.1} ms (goal at 1000/s: at most 0.2), {:+.1} ms from the floor's {:.1} ms (goal at 1000/s: within 5 ms); end to end, kmirror's p99 is {:.3} of MirrorMaker 2's.\n",
                    match (eos, tls) {
                        (false, false) => "At-least-once",
                        (true, false) => "Exactly-once",
                        (false, true) => "At-least-once, TLS",
                        (true, true) => "Exactly-once, TLS",
                    },
                    b.rate,
                    p99(&b.added_us),
                    p99(&b.added_us) / p99(&a.added_us).max(0.001),
                    p99(&a.added_us),
                    p99(&b.added_us) - p99(&b.floor_us),
                    p99(&b.floor_us),
                    p99(&b.latency_us) / p99(&a.latency_us).max(0.001),
                ));
                if let Some((_, own)) = b.own_ms {
                    s.push_str(&format!(
                        "  Of that, kmirror's own p99 (fetch response read to the target's acknowledgement) was {own:.1} ms.\n"
                    ));
                }
            }
        }
    }
    if let Some(km) = Outcome::find(outcomes, "kmirror", false, false) {
        if let Some(first) = km.first_record {
            s.push_str(&format!(
                "- kmirror's first record reached the target {:.2} s after its start (goal: within 1 s).\n",
                first.as_secs_f64()
            ));
        }
    }
    s.push_str("\nCPU time is user+system of the mirror process alone (/proc/PID/stat), including its start-up; \
                the active window runs from the first record seen on the target to the last move of the target's end offsets. \
                Timestamps have millisecond resolution (Kafka's), so sub-millisecond figures round.\n");
    s
}
