//! `cargo run --release -p kmirror-bench -- scale`: one kmirror instance
//! mirrors 10,000 partitions (2 topics of 5,000: a KRaft controller refuses
//! to create more than about 10,000 partitions in one operation) between two
//! local Kafka clusters while producers write to them at a fixed aggregate
//! rate, one record per partition in turn (so every partition is live). Reports kmirror's peak
//! RSS and CPU, whether the target kept up (lag sampled through the run and
//! the time to drain once the producer stops), what scraping its metrics
//! endpoint every second costs while it does (the endpoint thread's CPU,
//! each scrape's time and size), and writes bench/results/scale.md.
//!
//! Flags: `--partitions N` in all (10000), `--topics N` (2),
//! `--rate RECORDS/S` in all (1000), `--record-size BYTES` (1024),
//! `--seconds S` (60).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use kmirror_harness::cluster::{ClusterOptions, KafkaCluster};
use kmirror_harness::dist::KAFKA_4;
use kmirror_harness::tools;

use crate::procstat;

struct ScaleArgs {
    partitions: i32,
    topics: i32,
    rate: u64,
    record_size: usize,
    seconds: u64,
}

fn parse(args: &[String]) -> Result<ScaleArgs, String> {
    let mut a = ScaleArgs {
        partitions: 10_000,
        topics: 2,
        rate: 1000,
        record_size: 1024,
        seconds: 60,
    };
    for (flag, v) in crate::flags::pairs(args)? {
        match flag {
            "--partitions" => a.partitions = crate::flags::number(flag, v)?,
            "--topics" => a.topics = crate::flags::number(flag, v)?,
            "--rate" => a.rate = crate::flags::number(flag, v)?,
            "--record-size" => a.record_size = crate::flags::number(flag, v)?,
            "--seconds" => a.seconds = crate::flags::number(flag, v)?,
            _ => return Err(format!("scale: unknown flag {flag}")),
        }
    }
    if a.topics < 1 || a.partitions < a.topics {
        return Err("scale: need at least one topic and one partition per topic".into());
    }
    Ok(a)
}

/// One sample of the run: seconds since the producers started, records on
/// the source (every partition's end offset), records kmirror reports
/// mirrored (its `--readout` line), kmirror's resident set.
struct Sample {
    at: f64,
    /// `None` when a kcat query failed (the broker was too busy to answer).
    source: Option<i64>,
    target: i64,
    rss_kib: u64,
}

/// The records total of kmirror's latest readout line.
fn mirrored_so_far(log: &str) -> Option<i64> {
    log.lines().rev().find_map(|l| {
        l.split_once("] mirrored ")?
            .1
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    })
}

pub fn run(args: &[String]) -> Result<(), String> {
    let a = parse(args)?;
    let e = |x: std::io::Error| x.to_string();
    // 10,000 partitions need more broker heap than the harness's test default.
    let options = ClusterOptions::default().jvm_args([
        "-Xmx3g",
        "-Xms1g",
        "-XX:+UseParallelGC",
        "-XX:+ExitOnOutOfMemoryError",
    ]);
    let source = KafkaCluster::start_with("scale-src", KAFKA_4, &options).map_err(e)?;
    let target = KafkaCluster::start_with("scale-dst", KAFKA_4, &options).map_err(e)?;
    let per_topic = a.partitions / a.topics;
    let topics: Vec<String> = (0..a.topics).map(|i| format!("scale-{i}")).collect();
    for t in &topics {
        eprintln!("kmirror-bench: creating {t} with {per_topic} partitions");
        tools::create_topic(&source, t, per_topic, &[]).map_err(e)?;
    }

    let dir = std::env::temp_dir().join(format!("kmirror-bench-scale-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(e)?;
    let props = dir.join("scale.properties");
    std::fs::write(
        &props,
        format!(
            "clusters = src, dst\n\
             src.bootstrap.servers = {}\n\
             dst.bootstrap.servers = {}\n\
             src->dst.enabled = true\n\
             src->dst.topics = scale-.*\n\
             replication.factor = 1\n\
             offset-syncs.topic.replication.factor = 1\n\
             checkpoints.topic.replication.factor = 1\n\
             heartbeats.topic.replication.factor = 1\n\
             kmirror.metrics.address = 127.0.0.1:0\n",
            source.bootstrap(),
            target.bootstrap()
        ),
    )
    .map_err(e)?;
    let mut km = Command::new(crate::mirrors::kmirror_binary()?);
    km.arg(&props).arg("--readout");
    let mut km = crate::mirrors::spawn_logged(&mut km, &dir, "kmirror")?;
    let pid = km.id();
    // Ready: every partition has its start offset (a log line per topic
    // and worker says how many).
    let started = Instant::now();
    let log_path = dir.join("kmirror.err");
    let read_log = || std::fs::read_to_string(&log_path).unwrap_or_default();
    let ready = |log: &str| {
        started_partitions(log) >= a.partitions as i64 && log.contains("idempotent producer ready")
    };
    while !ready(&read_log()) {
        if started.elapsed() > Duration::from_secs(900) {
            let _ = km.kill();
            return Err("kmirror did not start every partition within 15 minutes".into());
        }
        if let Ok(Some(status)) = km.try_wait() {
            return Err(format!("kmirror exited early with {status}"));
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    let ready_after = started.elapsed();
    std::thread::sleep(Duration::from_secs(5));
    let idle_rss = procstat::peak_rss_kib(pid).unwrap_or(0);
    let cpu_before = procstat::cpu_time(pid).unwrap_or_default();

    let endpoint =
        metrics_endpoint(&read_log()).ok_or("kmirror did not log its metrics address")?;
    let scraper = Scraper::start(endpoint.clone());
    let scrape_cpu_before =
        procstat::named_thread_cpu_time(pid, "kmirror-metrics").unwrap_or_default();
    let rate = a.rate / a.topics as u64;
    let n = rate * a.seconds;
    eprintln!(
        "kmirror-bench: producing {n} records at {rate} records/s into each of {} topics, round-robin over their partitions",
        a.topics
    );
    let producers: Vec<_> = topics
        .iter()
        .map(|t| {
            let bootstrap = source.bootstrap();
            let (topic, size) = (t.clone(), a.record_size);
            std::thread::spawn(move || {
                tools::producer_perf(
                    &bootstrap,
                    &topic,
                    n,
                    size,
                    rate as i64,
                    &[
                        (
                            "partitioner.class",
                            "org.apache.kafka.clients.producer.RoundRobinPartitioner",
                        ),
                        ("linger.ms", "5"),
                    ],
                )
            })
        })
        .collect();
    let t0 = Instant::now();
    let mut samples = Vec::new();
    let exact_total = |c: &KafkaCluster, prefix: &str| -> Option<i64> {
        topics
            .iter()
            .map(|t| {
                tools::end_offsets(c, &format!("{prefix}{t}"))
                    .ok()
                    .map(|v| v.iter().map(|(_, o)| *o).sum::<i64>())
            })
            .sum()
    };
    let sample = |samples: &mut Vec<Sample>| {
        let source = exact_total(&source, "");
        let s = Sample {
            at: t0.elapsed().as_secs_f64(),
            source,
            target: mirrored_so_far(&read_log()).unwrap_or(0),
            rss_kib: procstat::current_rss_kib(pid).unwrap_or(0),
        };
        eprintln!(
            "kmirror-bench: t={:.0}s source {:?} target {} rss {} MiB",
            s.at,
            s.source,
            s.target,
            s.rss_kib / 1024
        );
        samples.push(s);
    };
    while !producers.iter().all(|p| p.is_finished()) {
        sample(&mut samples);
        std::thread::sleep(Duration::from_secs(10));
    }
    let mut perf = Vec::new();
    for p in producers {
        perf.push(
            p.join()
                .map_err(|_| "producer thread panicked".to_string())?
                .map_err(e)?,
        );
    }
    let produced_for = t0.elapsed();
    let scrapes = scraper.stop();
    let scrape_cpu = procstat::named_thread_cpu_time(pid, "kmirror-metrics")
        .unwrap_or_default()
        .saturating_sub(scrape_cpu_before);
    sample(&mut samples);
    let want = exact_total(&source, "").ok_or("cannot read the source's end offsets")?;
    let drain_start = Instant::now();
    let mut drained = None;
    while drain_start.elapsed() < Duration::from_secs(300) {
        if mirrored_so_far(&read_log()).unwrap_or(0) >= want {
            drained = Some(drain_start.elapsed());
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    sample(&mut samples);
    let on_target = exact_total(&target, "src.").unwrap_or(-1);
    let cpu = procstat::cpu_time(pid).unwrap_or_default() - cpu_before;
    let peak_rss = procstat::peak_rss_kib(pid).unwrap_or(0);
    // SAFETY: plain kill(2) on our own child.
    unsafe {
        libc::kill(pid as i32, libc::SIGTERM);
    }
    let _ = km.wait();
    let log = read_log();
    // The summary's first line and its indented lines (latencies, work).
    let summary: Vec<&str> = log
        .lines()
        .skip_while(|l| !l.starts_with("kmirror summary:"))
        .take_while(|l| l.starts_with("kmirror summary:") || l.starts_with("  "))
        .collect();
    let summary = if summary.is_empty() {
        "(no summary line)".to_string()
    } else {
        summary.join("\n")
    };

    let report = render(
        &a,
        &perf,
        ready_after,
        produced_for,
        drained,
        (want, on_target),
        cpu,
        idle_rss,
        peak_rss,
        &samples,
        &summary,
        &ScrapeCost {
            scrapes,
            cpu: scrape_cpu,
            over: produced_for,
        },
    );
    println!("{report}");
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("results/scale.md");
    std::fs::write(&out, report).map_err(e)?;
    eprintln!("kmirror-bench: wrote {}", out.display());
    Ok(())
}

/// Partitions the log says were started (`starting N partitions ...`).
pub(crate) fn started_partitions(log: &str) -> i64 {
    log.lines()
        .filter_map(|l| {
            let rest = l.split_once("starting ")?.1;
            let (n, rest) = rest.split_once(' ')?;
            rest.starts_with("partition")
                .then(|| n.parse::<i64>().ok())
                .flatten()
        })
        .sum()
}

/// `host:port` of the endpoint, from kmirror's start-up line.
fn metrics_endpoint(log: &str) -> Option<String> {
    let rest = log.split_once("metrics endpoint listening on http://")?.1;
    Some(rest.split_once("/metrics")?.0.to_string())
}

/// One GET of `/metrics`: how long it took and how many bytes came back.
struct Scrape {
    took: Duration,
    bytes: usize,
}

/// A scraper asking for `/metrics` every second, as Prometheus would.
struct Scraper {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<Vec<Result<Scrape, String>>>,
}

impl Scraper {
    fn start(endpoint: String) -> Scraper {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut out = Vec::new();
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                let at = Instant::now();
                out.push(match kmirror::status::scrape::get(&endpoint, "/metrics") {
                    Ok((200, body)) => Ok(Scrape {
                        took: at.elapsed(),
                        bytes: body.len(),
                    }),
                    Ok((code, _)) => Err(format!("answered {code}")),
                    Err(e) => Err(e),
                });
                std::thread::sleep(Duration::from_secs(1).saturating_sub(at.elapsed()));
            }
            out
        });
        Scraper { stop, thread }
    }

    fn stop(self) -> Vec<Result<Scrape, String>> {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.thread.join().unwrap_or_default()
    }
}

/// What scraping every second cost while the producers ran.
struct ScrapeCost {
    scrapes: Vec<Result<Scrape, String>>,
    /// CPU time of kmirror's endpoint thread over `over`.
    cpu: Duration,
    over: Duration,
}

impl ScrapeCost {
    fn rows(&self) -> String {
        let ok: Vec<&Scrape> = self
            .scrapes
            .iter()
            .filter_map(|s| s.as_ref().ok())
            .collect();
        let mut took: Vec<Duration> = ok.iter().map(|s| s.took).collect();
        took.sort();
        let q = |f: f64| {
            took.get(((took.len() as f64 - 1.0) * f).round() as usize)
                .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
        };
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
        let share = self.cpu.as_secs_f64() / self.over.as_secs_f64().max(0.001);
        format!(
            "| scrapes of /metrics, one a second while producing (answered / failed) | {} / {} |\n\
             | one scrape: size; time p50 / max | {:.1} MB; {:.0} ms / {:.0} ms |\n\
             | kmirror's endpoint thread CPU while scraped every second | {:.2} CPU-s over {:.0} s: {:.2}% of one core, {:.2}% of the machine's {cores} (goal: under 2%) |\n",
            ok.len(),
            self.scrapes.len() - ok.len(),
            ok.last().map_or(0.0, |s| s.bytes as f64 / 1e6),
            q(0.5),
            q(1.0),
            self.cpu.as_secs_f64(),
            self.over.as_secs_f64(),
            share * 100.0,
            share * 100.0 / cores,
        )
    }
}

#[allow(clippy::too_many_arguments)]
fn render(
    a: &ScaleArgs,
    perf: &[tools::PerfSummary],
    ready_after: Duration,
    produced_for: Duration,
    drained: Option<Duration>,
    (records, on_target): (i64, i64),
    cpu: Duration,
    idle_rss_kib: u64,
    peak_rss_kib: u64,
    samples: &[Sample],
    summary: &str,
    scrape: &ScrapeCost,
) -> String {
    let mut s = format!("# kmirror at scale: {} partitions\n\n", a.partitions);
    s.push_str(&format!(
        "Two local Kafka {KAFKA_4} clusters on this machine ({} CPUs). {} topics of {} partitions; \
         one ProducerPerformance per topic writes {} B records, {} records/s in all, for {} s with the round-robin partitioner \
         (every partition receives a record every {:.1} s). Brokers with 3 GiB heaps. One kmirror instance, default settings, one worker per CPU.\n\n",
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        a.topics,
        a.partitions / a.topics,
        a.record_size,
        a.rate,
        a.seconds,
        a.partitions as f64 / a.rate.max(1) as f64,
    ));
    let lag_max = samples
        .iter()
        .filter_map(|x| Some(x.source? - x.target))
        .max()
        .unwrap_or(0);
    s.push_str("| figure | value |\n|---|---:|\n");
    s.push_str(&format!(
        "| target topic created and partitions dealt | {:.1} s after start |\n",
        ready_after.as_secs_f64()
    ));
    s.push_str(&format!(
        "| producers: records sent / achieved rate | {} / {:.0} records/s |\n",
        perf.iter().map(|p| p.records).sum::<u64>(),
        perf.iter().map(|p| p.records_per_sec).sum::<f64>()
    ));
    s.push_str(&format!(
        "| producer ran for | {:.1} s |\n",
        produced_for.as_secs_f64()
    ));
    s.push_str(&format!(
        "| largest lag sampled while producing (records) | {lag_max} |\n"
    ));
    s.push_str(&format!(
        "| drained after the producer stopped | {} |\n",
        drained.map_or("not within 300 s".to_string(), |d| format!(
            "{:.1} s",
            d.as_secs_f64()
        ))
    ));
    s.push_str(&format!(
        "| records on the source / on the target at the end | {records} / {on_target} |\n"
    ));
    s.push_str(&format!(
        "| kmirror CPU-s while producing and draining | {:.1} |\n",
        cpu.as_secs_f64()
    ));
    s.push_str(&format!(
        "| kmirror RSS with all partitions assigned, before records | {} MiB |\n",
        idle_rss_kib / 1024
    ));
    s.push_str(&format!(
        "| kmirror peak RSS (VmHWM) | {} MiB (goal: at most 512 MiB) |\n",
        peak_rss_kib / 1024
    ));
    s.push_str(&scrape.rows());
    s.push_str("\n## Samples\n\n| t (s) | records on the source | records kmirror acknowledged | lag | kmirror RSS (MiB) |\n|---:|---:|---:|---:|---:|\n");
    for x in samples {
        let (source, lag) = match x.source {
            Some(v) => (v.to_string(), (v - x.target).to_string()),
            None => ("(kcat failed)".to_string(), "–".to_string()),
        };
        s.push_str(&format!(
            "| {:.0} | {source} | {} | {lag} | {} |\n",
            x.at,
            x.target,
            x.rss_kib / 1024
        ));
    }
    s.push_str(&format!(
        "\nThe source column sums every partition's end offset (kcat, which takes seconds at this partition count, so the \
         two columns are a few seconds apart), the target column is kmirror's own count of acknowledged records (its `--readout` line); \
         the end totals are every partition's end offset on each cluster.\n\n\
         kmirror's own closing line:\n\n```\n{summary}\n```\n"
    ));
    s
}
