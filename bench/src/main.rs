//! `cargo run --release -p kmirror-bench -- e2e`: MirrorMaker 2 and kmirror
//! mirror the same pre-loaded backlog between the same two local Kafka
//! clusters, one after the other, each driven by the same mm2.properties
//! (different source aliases, so their target topics differ). Reports per
//! mirror: MB/s, CPU-seconds per GB of the mirror process alone, and peak
//! RSS; writes bench/results/e2e.md.
//!
//! `cargo run --release -p kmirror-bench -- ceiling`: kmirror between fake
//! brokers beside a kernel-only splice relay; see [`ceiling`].

mod ceiling;
mod latency;
mod procstat;

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use kmirror::harness::cluster::KafkaCluster;
use kmirror::harness::dist::{KafkaDist, KAFKA_4};
use kmirror::harness::tools;

struct Args {
    records: u64,
    partitions: i32,
    record_size: usize,
    /// Fixed rate of the live stream, records/s, and its length in seconds.
    rate: u64,
    live_secs: u64,
}

fn parse_args() -> Result<(String, Args), String> {
    let mut it = std::env::args().skip(1);
    let cmd = it.next().unwrap_or_else(|| "e2e".into());
    let mut a = Args {
        records: 1_000_000,
        partitions: 12,
        record_size: 1024,
        rate: 5000,
        live_secs: 20,
    };
    while let Some(flag) = it.next() {
        let v = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let bad = |_| format!("{flag} {v}: not a number");
        match flag.as_str() {
            "--records" => a.records = v.parse().map_err(bad)?,
            "--partitions" => a.partitions = v.parse().map_err(bad)?,
            "--record-size" => a.record_size = v.parse().map_err(bad)?,
            "--rate" => a.rate = v.parse().map_err(bad)?,
            "--live-seconds" => a.live_secs = v.parse().map_err(bad)?,
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    Ok((cmd, a))
}

const USAGE: &str = "usage: kmirror-bench e2e [--records N per topic] [--partitions N] [--record-size BYTES] [--rate RECORDS/S] [--live-seconds S]\n       kmirror-bench ceiling [--seconds S] [--warmup S] [--partitions N] [--cpus LIST] [--sizes BYTES,...]";

fn main() {
    if std::env::args().nth(1).as_deref() == Some("ceiling") {
        kmirror::cli::init_logging();
        let flags: Vec<String> = std::env::args().skip(2).collect();
        if let Err(e) = ceiling::run(&flags) {
            eprintln!("kmirror-bench: {e}");
            std::process::exit(1);
        }
        return;
    }
    let (cmd, args) = match parse_args() {
        Ok(x) => x,
        Err(e) => {
            eprintln!("kmirror-bench: {e}\n{USAGE}");
            std::process::exit(2);
        }
    };
    kmirror::cli::init_logging();
    let result = match cmd.as_str() {
        "e2e" => e2e(&args),
        other => Err(format!(
            "unknown benchmark '{other}' (available: e2e, ceiling)"
        )),
    };
    if let Err(e) = result {
        eprintln!("kmirror-bench: {e}");
        std::process::exit(1);
    }
}

const TOPICS: [(&str, &str); 2] = [("bench-lz4", "lz4"), ("bench-none", "none")];

const LIVE_TOPIC: &str = "bench-live";

struct Outcome {
    latency_us: hdrhistogram::Histogram<u64>,
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
    let source = KafkaCluster::start("bench-src", KAFKA_4).map_err(e)?;
    let target = KafkaCluster::start("bench-dst", KAFKA_4).map_err(e)?;
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
    tools::create_topic(&source, LIVE_TOPIC, args.partitions, &[]).map_err(e)?;
    let want: i64 = TOPICS.iter().map(|(t, _)| sum_offsets(&source, t)).sum();
    let dir = std::env::temp_dir().join(format!("kmirror-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(e)?;
    let dist = KafkaDist::ensure(KAFKA_4).map_err(e)?;

    let mm2_props = write_props(&dir, "mm2", &source, &target)?;
    let mut mm2 = Command::new("java");
    mm2.args([
        "-Xmx2g",
        "-cp",
        &dist.classpath(),
        "org.apache.kafka.connect.mirror.MirrorMaker",
    ])
    .arg(&mm2_props);
    let mm2 = spawn_logged(&mut mm2, &dir, "mm2")?;
    let mm2 = measure(
        "MirrorMaker 2",
        mm2,
        &source,
        &target,
        "mm2",
        want,
        total_bytes,
        args,
    )?;

    let km_props = write_props(&dir, "km", &source, &target)?;
    let mut km = Command::new(kmirror_binary()?);
    km.arg(&km_props);
    let km = spawn_logged(&mut km, &dir, "kmirror")?;
    let km = measure(
        "kmirror",
        km,
        &source,
        &target,
        "km",
        want,
        total_bytes,
        args,
    )?;

    let outcomes = [mm2, km];
    let report = render(args, want, &outcomes);
    println!("{report}");
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("results/e2e.md");
    std::fs::write(&out, report).map_err(e)?;
    let plot = latency::svg(&[
        (outcomes[0].name, &outcomes[0].latency_us),
        (outcomes[1].name, &outcomes[1].latency_us),
    ]);
    std::fs::write(out.with_file_name("e2e-latency.svg"), plot).map_err(e)?;
    eprintln!("kmirror-bench: wrote {}", out.display());
    Ok(())
}

fn kmirror_binary() -> Result<PathBuf, String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let path = root.join("target/release/kmirror");
    if !path.exists() {
        return Err(format!(
            "{} is missing: run `cargo build --release` first",
            path.display()
        ));
    }
    Ok(path)
}

/// Starts a mirror with its stdout and stderr in `<dir>/<name>.out|.err`.
fn spawn_logged(cmd: &mut Command, dir: &Path, name: &str) -> Result<Child, String> {
    let log = |ext: &str| {
        std::fs::File::create(dir.join(format!("{name}.{ext}"))).map_err(|e| e.to_string())
    };
    cmd.stdout(log("out")?)
        .stderr(log("err")?)
        .spawn()
        .map_err(|e| format!("cannot start {name}: {e}"))
}

fn write_props(
    dir: &Path,
    alias: &str,
    source: &KafkaCluster,
    target: &KafkaCluster,
) -> Result<PathBuf, String> {
    let path = dir.join(format!("{alias}.properties"));
    let text = format!(
        "clusters = {alias}, dst\n\
         {alias}.bootstrap.servers = {}\n\
         dst.bootstrap.servers = {}\n\
         {alias}->dst.enabled = true\n\
         {alias}->dst.topics = bench-.*\n\
         tasks.max = 2\n\
         replication.factor = 1\n\
         checkpoints.topic.replication.factor = 1\n\
         heartbeats.topic.replication.factor = 1\n\
         offset-syncs.topic.replication.factor = 1\n\
         offset.storage.replication.factor = 1\n\
         status.storage.replication.factor = 1\n\
         config.storage.replication.factor = 1\n\
         refresh.topics.interval.seconds = 5\n",
        source.bootstrap(),
        target.bootstrap()
    );
    std::fs::write(&path, text).map_err(|e| e.to_string())?;
    Ok(path)
}

fn sum_offsets(cluster: &KafkaCluster, topic: &str) -> i64 {
    tools::end_offsets(cluster, topic)
        .map(|v| v.iter().map(|(_, o)| *o).sum())
        .unwrap_or(0)
}

/// Waits until the mirror's target topics hold `want` records, sampling the
/// process's CPU time and peak RSS; the active window runs from the first
/// mirrored record to the last.
#[allow(clippy::too_many_arguments)]
fn measure(
    name: &'static str,
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
    let mut got = 0;
    while got < want {
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
        got = TOPICS
            .iter()
            .map(|(t, _)| sum_offsets(target, &format!("{alias}.{t}")))
            .sum();
        if got > 0 && first.is_none() {
            first = Some(Instant::now());
        }
    }
    let active = first.map(|f| f.elapsed()).unwrap_or_default();
    let cpu = procstat::cpu_time(pid).unwrap_or_default();
    let peak_rss_kib = procstat::peak_rss_kib(pid).unwrap_or(0);

    // Live phase: a fixed-rate stream through the caught-up mirror.
    let live_target = format!("{alias}.{LIVE_TOPIC}");
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
    let follower = {
        let topic = live_target.clone();
        let timeout = Duration::from_secs(args.live_secs * 3 + 60);
        std::thread::spawn(move || latency::follow(&bootstrap, &topic, n, timeout))
    };
    std::thread::sleep(Duration::from_secs(2));
    tools::producer_perf(
        source,
        LIVE_TOPIC,
        n,
        args.record_size,
        args.rate as i64,
        &[("compression.type", "lz4"), ("linger.ms", "5")],
    )
    .map_err(|e| e.to_string())?;
    let (latency_us, live_seen) = follower
        .join()
        .map_err(|_| "latency follower panicked".to_string())??;
    // SAFETY: plain kill(2) on our own child.
    unsafe {
        libc::kill(pid as i32, libc::SIGTERM);
    }
    let _ = child.wait();
    eprintln!(
        "kmirror-bench: {name}: {want} records in {:.1} s active, {:.1} CPU-s, peak RSS {} MiB",
        active.as_secs_f64(),
        cpu.as_secs_f64(),
        peak_rss_kib / 1024
    );
    eprintln!(
        "kmirror-bench: {name} live: {live_seen} of {n} records, p50 {:.1} ms, p99 {:.1} ms",
        latency_us.value_at_quantile(0.5) as f64 / 1000.0,
        latency_us.value_at_quantile(0.99) as f64 / 1000.0
    );
    Ok(Outcome {
        latency_us,
        live_seen,
        name,
        bytes,
        records: want,
        active,
        cpu,
        peak_rss_kib,
    })
}

fn render(args: &Args, records: i64, outcomes: &[Outcome]) -> String {
    let mut s = String::new();
    s.push_str("# kmirror vs MirrorMaker 2: end-to-end backlog\n\n");
    s.push_str(&format!(
        "Two local Kafka {KAFKA_4} clusters on this machine ({} CPUs). Backlog: {} records of {} B in each of {} topics \
         ({} partitions each; one lz4, one uncompressed), {records} records and {:.2} GB of payload in all. \
         Each mirror runs alone with the same mm2.properties (tasks.max = 2), MirrorMaker 2 first.\n\n",
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        args.records,
        args.record_size,
        TOPICS.len(),
        args.partitions,
        outcomes.first().map_or(0.0, |o| o.bytes as f64 / 1e9),
    ));
    s.push_str("| mirror | active time (s) | MB/s (payload) | CPU-s total | CPU-s per GB | peak RSS (MiB) |\n");
    s.push_str("|---|---:|---:|---:|---:|---:|\n");
    for o in outcomes {
        let secs = o.active.as_secs_f64().max(0.001);
        let gb = o.bytes as f64 / 1e9;
        s.push_str(&format!(
            "| {} ({} records) | {:.1} | {:.1} | {:.1} | {:.2} | {} |\n",
            o.name,
            o.records,
            secs,
            o.bytes as f64 / 1e6 / secs,
            o.cpu.as_secs_f64(),
            o.cpu.as_secs_f64() / gb,
            o.peak_rss_kib / 1024
        ));
    }
    if let [mm2, km] = outcomes {
        let ratio = km.cpu.as_secs_f64() / mm2.cpu.as_secs_f64().max(1e-9);
        s.push_str(&format!("\nkmirror used {:.3} of MirrorMaker 2's CPU time for the same backlog (goal: at most 0.1).\n", ratio));
    }
    s.push_str(&format!(
        "\n## Fixed-rate stream\n\n{} records/s of {} B (lz4) for {} s into a {}-partition topic, after each mirror caught up the backlog. \
         Latency = arrival at a kcat consumer on the target minus the record's CreateTime (stamped by the source producer).\n\n",
        args.rate, args.record_size, args.live_secs, args.partitions
    ));
    s.push_str("| mirror | records seen | p50 (ms) | p99 (ms) | p99.9 (ms) | max (ms) |\n|---|---:|---:|---:|---:|---:|\n");
    for o in outcomes {
        let q = |p: f64| o.latency_us.value_at_quantile(p) as f64 / 1000.0;
        s.push_str(&format!(
            "| {} | {} | {:.1} | {:.1} | {:.1} | {:.1} |\n",
            o.name,
            o.live_seen,
            q(0.5),
            q(0.99),
            q(0.999),
            o.latency_us.max() as f64 / 1000.0
        ));
    }
    if let [mm2, km] = outcomes {
        let r = km.latency_us.value_at_quantile(0.99) as f64
            / (mm2.latency_us.value_at_quantile(0.99) as f64).max(1.0);
        s.push_str(&format!("\nkmirror's p99 is {r:.3} of MirrorMaker 2's (goal: at most 0.1, and under 5 ms on loopback).\n\n![latency percentiles](e2e-latency.svg)\n"));
    }
    s.push_str("\nCPU time is user+system of the mirror process alone (/proc/PID/stat), including its start-up; \
                the active window runs from the first record seen on the target to the last. \
                The live stream's timestamps come from ProducerPerformance, which does not correct coordinated omission.\n");
    s
}
