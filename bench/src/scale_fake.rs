//! `cargo run --release -p kmirror-bench -- scale-fake`: kmirror's own cost
//! per partition, at partition counts real brokers on this machine cannot
//! hold (the `scale` benchmark's two Kafka clusters top out near 10,000).
//! For each size, a fake source serves one topic of N partitions, each
//! holding one 16 KiB batch of 16 records, and a fake target acknowledges
//! every Produce; one kmirror (default settings, one worker per CPU)
//! mirrors it all. Reported per size: time until every partition was
//! started and until every batch was acknowledged, CPU-seconds to get
//! there, CPU while idle afterwards (every partition caught up, fetches
//! long-polling), peak and idle resident memory, and the per-partition
//! slopes between sizes; writes bench/results/scale-fake.md and a plot.
//!
//! The fake brokers answer every request kmirror makes but store nothing:
//! nothing here shows that mirroring is correct (the tests against real
//! Kafka do), only what kmirror itself spends on many partitions.
//!
//! Flags: `--sizes N,N,...` (10000,25000,50000,100000), `--idle-seconds S`
//! (10).

use std::path::Path;
use std::process::Command;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use kmirror_harness::fake::{FakeBroker, Role, Template};

use crate::procstat;

const TOPIC: &str = "scale";
/// One batch per partition, large enough that no coalescing applies.
const BATCH_BYTES: usize = 16 * 1024;

struct Args {
    sizes: Vec<i32>,
    idle_seconds: u64,
}

struct Row {
    partitions: i32,
    started_after: Duration,
    mirrored_after: Duration,
    cpu_to_mirrored: Duration,
    idle_cpu: Duration,
    idle_wall: Duration,
    peak_rss_kib: u64,
    idle_rss_kib: u64,
}

fn parse(argv: &[String]) -> Result<Args, String> {
    let mut a = Args {
        sizes: vec![10_000, 25_000, 50_000, 100_000],
        idle_seconds: 10,
    };
    for (flag, v) in crate::flags::pairs(argv)? {
        match flag {
            "--sizes" => {
                a.sizes = v
                    .split(',')
                    .map(|n| crate::flags::number(flag, n.trim()))
                    .collect::<Result<_, _>>()?
            }
            "--idle-seconds" => a.idle_seconds = crate::flags::number(flag, v)?,
            _ => return Err(format!("scale-fake: unknown flag {flag}")),
        }
    }
    Ok(a)
}

pub fn run(argv: &[String]) -> Result<(), String> {
    let args = parse(argv)?;
    let dir = std::env::temp_dir().join(format!("kmirror-scale-fake-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let template = Template::new(BATCH_BYTES)?;
    let mut rows = Vec::new();
    for &n in &args.sizes {
        eprintln!("kmirror-bench: {n} partitions");
        let row = one_size(n, &template, &args, &dir)?;
        eprintln!(
            "kmirror-bench: {n} partitions: started after {:.1} s, mirrored after {:.1} s, {:.1} CPU-s; idle {:.1}% of a core; peak RSS {} MiB, idle RSS {} MiB",
            row.started_after.as_secs_f64(),
            row.mirrored_after.as_secs_f64(),
            row.cpu_to_mirrored.as_secs_f64(),
            idle_share(&row) * 100.0,
            row.peak_rss_kib / 1024,
            row.idle_rss_kib / 1024
        );
        rows.push(row);
    }
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("results/scale-fake.md");
    let report = markdown(&rows, &template, &args);
    println!("{report}");
    std::fs::write(&out, report).map_err(|e| e.to_string())?;
    std::fs::write(out.with_file_name("scale-fake.svg"), svg(&rows)).map_err(|e| e.to_string())?;
    eprintln!("kmirror-bench: wrote {}", out.display());
    Ok(())
}

fn one_size(n: i32, template: &Template, args: &Args, dir: &Path) -> Result<Row, String> {
    let e = |x: std::io::Error| x.to_string();
    let source = FakeBroker::start(
        "scale-source",
        Role::Source {
            topic: TOPIC.into(),
            partitions: n,
            template: template.clone(),
            log_end: template.records,
        },
    )
    .map_err(e)?;
    let target = FakeBroker::start("scale-target", Role::Target).map_err(e)?;
    let props = dir.join(format!("scale-{n}.properties"));
    // The fake brokers keep no topics: no heartbeats, checkpoints or syncs.
    std::fs::write(
        &props,
        format!(
            "clusters = src, dst\n\
             src.bootstrap.servers = {}\n\
             dst.bootstrap.servers = {}\n\
             src->dst.enabled = true\n\
             src->dst.topics = {TOPIC}\n\
             replication.factor = 1\n\
             emit.heartbeats.enabled = false\n\
             emit.checkpoints.enabled = false\n\
             emit.offset-syncs.enabled = false\n",
            source.bootstrap(),
            target.bootstrap()
        ),
    )
    .map_err(e)?;
    let mut cmd = Command::new(crate::kmirror_binary()?);
    cmd.arg(&props);
    let name = format!("kmirror-scale-{n}");
    let start = Instant::now();
    let mut child = crate::spawn_logged(&mut cmd, dir, &name)?;
    let pid = child.id();
    let log = dir.join(format!("{name}.err"));
    let want = n as u64 * template.len() as u64;
    let acked = target.acked();
    let mut started_after = None;
    let outcome = (|| {
        loop {
            if !matches!(child.try_wait(), Ok(None)) {
                return Err(format!("kmirror exited early; see {}", log.display()));
            }
            if start.elapsed() > Duration::from_secs(900) {
                return Err(format!("not mirrored in 15 minutes; see {}", log.display()));
            }
            if started_after.is_none() {
                let text = std::fs::read_to_string(&log).unwrap_or_default();
                if crate::scale::started_partitions(&text) >= i64::from(n) {
                    started_after = Some(start.elapsed());
                }
            }
            if acked.bytes.load(Ordering::Relaxed) >= want && started_after.is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let mirrored_after = start.elapsed();
        let cpu_to_mirrored = procstat::cpu_time(pid).unwrap_or_default();
        // Settle, then measure a quiet stretch: everything caught up.
        std::thread::sleep(Duration::from_secs(2));
        let (c0, t0) = (procstat::cpu_time(pid).unwrap_or_default(), Instant::now());
        std::thread::sleep(Duration::from_secs(args.idle_seconds));
        let (c1, t1) = (procstat::cpu_time(pid).unwrap_or_default(), Instant::now());
        Ok(Row {
            partitions: n,
            started_after: started_after.unwrap_or_default(),
            mirrored_after,
            cpu_to_mirrored,
            idle_cpu: c1.saturating_sub(c0),
            idle_wall: t1 - t0,
            peak_rss_kib: procstat::peak_rss_kib(pid).unwrap_or(0),
            idle_rss_kib: procstat::current_rss_kib(pid).unwrap_or(0),
        })
    })();
    // SAFETY: plain kill(2) on our own child.
    unsafe {
        libc::kill(pid as i32, libc::SIGTERM);
    }
    let stopping = Instant::now();
    while matches!(child.try_wait(), Ok(None)) && stopping.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    outcome
}

fn idle_share(r: &Row) -> f64 {
    r.idle_cpu.as_secs_f64() / r.idle_wall.as_secs_f64().max(1e-9)
}

/// Least-squares slope and intercept of `y` against `x`.
fn fit(points: &[(f64, f64)]) -> (f64, f64) {
    let n = points.len() as f64;
    if points.len() < 2 {
        return (points.first().map_or(0.0, |p| p.1 / p.0.max(1.0)), 0.0);
    }
    let (sx, sy) = points
        .iter()
        .fold((0.0, 0.0), |(a, b), (x, y)| (a + x, b + y));
    let (mx, my) = (sx / n, sy / n);
    let num: f64 = points.iter().map(|(x, y)| (x - mx) * (y - my)).sum();
    let den: f64 = points.iter().map(|(x, _)| (x - mx) * (x - mx)).sum();
    let slope = if den > 0.0 { num / den } else { 0.0 };
    (slope, my - slope * mx)
}

fn markdown(rows: &[Row], template: &Template, args: &Args) -> String {
    let mut s = String::from(
        "# kmirror's own cost per partition: fake brokers, up to 100,000 partitions\n\n",
    );
    s.push_str(&format!(
        "For each size, a fake source serves one topic of N partitions, each holding one {} KiB batch of {} records, and a fake target acknowledges every Produce; \
         one kmirror instance (default settings, one worker per CPU of this machine's {}) mirrors everything, then idles for {} s with every partition caught up \
         (its fetches long-poll the source). The fake brokers store nothing and prove nothing about mirroring (the tests against real Kafka do); \
         they stand in for clusters this machine cannot run at these sizes (the `scale` benchmark's real brokers top out near 10,000 partitions), \
         so the figures are kmirror's own costs. Times run from kmirror's start.\n\n",
        template.len() / 1024,
        template.records,
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        args.idle_seconds
    ));
    s.push_str("| partitions | all partitions started (s) | all batches acknowledged (s) | CPU-s to there | idle CPU (% of one core) | peak RSS (MiB) | idle RSS (MiB) |\n");
    s.push_str("|---:|---:|---:|---:|---:|---:|---:|\n");
    for r in rows {
        s.push_str(&format!(
            "| {} | {:.1} | {:.1} | {:.1} | {:.1} | {} | {} |\n",
            r.partitions,
            r.started_after.as_secs_f64(),
            r.mirrored_after.as_secs_f64(),
            r.cpu_to_mirrored.as_secs_f64(),
            idle_share(r) * 100.0,
            r.peak_rss_kib / 1024,
            r.idle_rss_kib / 1024
        ));
    }
    let xs = |f: &dyn Fn(&Row) -> f64| -> Vec<(f64, f64)> {
        rows.iter().map(|r| (r.partitions as f64, f(r))).collect()
    };
    let (rss_slope, rss_base) = fit(&xs(&|r| r.peak_rss_kib as f64));
    let (idle_slope, _) = fit(&xs(&|r| idle_share(r) * 100.0));
    let (cpu_slope, _) = fit(&xs(&|r| r.cpu_to_mirrored.as_secs_f64()));
    s.push_str(&format!(
        "\nFitted over the sizes (least squares): peak RSS {:.1} KiB per partition over a base of {:.0} MiB, \
         so 100,000 partitions take about {:.0} MiB (goal: at most 1 GiB); \
         {:.2} ms of CPU per partition to start and mirror it; idle CPU {:.4}% of a core per 1,000 partitions.\n",
        rss_slope,
        rss_base / 1024.0,
        (rss_base + rss_slope * 100_000.0) / 1024.0,
        cpu_slope * 1000.0,
        idle_slope * 1000.0,
    ));
    if let Some(big) = rows.iter().find(|r| r.partitions >= 100_000) {
        s.push_str(&format!(
            "\nAt {} partitions, measured: peak RSS {} MiB (goal: at most 1024 MiB: {}).\n",
            big.partitions,
            big.peak_rss_kib / 1024,
            if big.peak_rss_kib <= 1024 * 1024 {
                "met"
            } else {
                "not met"
            }
        ));
    }
    s.push_str("\n![peak RSS and idle CPU against partitions](scale-fake.svg)\n");
    s
}

/// Peak RSS (MiB, blue) and idle CPU (% of a core, orange) against the
/// partition count.
fn svg(rows: &[Row]) -> String {
    let (w, h, left, right, bottom, top) = (620.0f64, 320.0f64, 60.0, 60.0, 40.0, 30.0);
    let max_x = rows.iter().map(|r| r.partitions).max().unwrap_or(1) as f64;
    let max_rss = rows
        .iter()
        .map(|r| r.peak_rss_kib as f64 / 1024.0)
        .fold(1.0, f64::max)
        * 1.15;
    let max_idle = rows
        .iter()
        .map(|r| idle_share(r) * 100.0)
        .fold(1.0, f64::max)
        * 1.15;
    let x = |v: f64| left + (w - left - right) * v / max_x;
    let y = |v: f64, max: f64| h - bottom - (h - bottom - top) * v / max;
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"{left}\" y=\"18\" font-size=\"14\">peak RSS, MiB (blue, left) and idle CPU, % of a core (orange, right)</text>\n\
         <line x1=\"{left}\" y1=\"{b}\" x2=\"{r}\" y2=\"{b}\" stroke=\"black\"/>\n",
        b = h - bottom,
        r = w - right
    );
    for i in 0..=4 {
        let f = i as f64 / 4.0;
        let yy = y(f * max_rss, max_rss);
        s.push_str(&format!(
            "<line x1=\"{left}\" y1=\"{yy:.1}\" x2=\"{:.1}\" y2=\"{yy:.1}\" stroke=\"#ddd\"/>\n\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" fill=\"#3b6fb6\">{:.0}</text>\n\
             <text x=\"{:.1}\" y=\"{:.1}\" fill=\"#d9822b\">{:.1}</text>\n",
            w - right,
            left - 6.0,
            yy + 4.0,
            f * max_rss,
            w - right + 6.0,
            yy + 4.0,
            f * max_idle
        ));
    }
    for r in rows {
        s.push_str(&format!(
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>\n",
            x(r.partitions as f64),
            h - bottom + 16.0,
            r.partitions
        ));
    }
    for (colour, values) in [
        (
            "#3b6fb6",
            rows.iter()
                .map(|r| (r.partitions as f64, r.peak_rss_kib as f64 / 1024.0, max_rss))
                .collect::<Vec<_>>(),
        ),
        (
            "#d9822b",
            rows.iter()
                .map(|r| (r.partitions as f64, idle_share(r) * 100.0, max_idle))
                .collect(),
        ),
    ] {
        let points: Vec<String> = values
            .iter()
            .map(|(px, py, max)| format!("{:.1},{:.1}", x(*px), y(*py, *max)))
            .collect();
        s.push_str(&format!(
            "<polyline points=\"{}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\"/>\n",
            points.join(" ")
        ));
        for (px, py, max) in &values {
            s.push_str(&format!(
                "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"{colour}\"/>\n",
                x(*px),
                y(*py, *max)
            ));
        }
    }
    s.push_str(&format!(
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">partitions</text>\n</svg>\n",
        (left + w - right) / 2.0,
        h - 6.0
    ));
    s
}
