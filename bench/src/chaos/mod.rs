//! `cargo build --release && cargo run --release -p kmirror-bench -- chaos`:
//! kmirror mirroring a numbered stream between two three-broker clusters
//! while a seeded fault schedule kills kmirror, kills source and target
//! brokers that lead mirrored partitions, and cuts kmirror's connections;
//! then every target record is checked against the source
//! (`kmirror_harness::sequence`). Writes bench/results/chaos.md, prints a
//! one-line verdict, and exits non-zero when the run failed.
//!
//! Flags: `--records N` (default 1,000,000), `--mode alo|eos`, `--kills K`
//! (default 20), `--broker-faults on|off` (default on), `--cuts C` (default
//! 4), `--partitions P` (default 12), `--seed S` (default: from the clock),
//! `--rate R` (records/s while the faults run, default 5,000; 0 produces a
//! backlog first and spreads the faults over a minute), `--commit-ms MS`
//! (`offset.flush.interval.ms` at least once, default 1,000;
//! `kmirror.transaction.interval.ms` exactly once, default 100),
//! `--linger-ms MS` (the source producer's `linger.ms`, default 5, Kafka's),
//! `--catch-up-secs S` (how long kmirror may take to catch up, default 600),
//! `--instances N` (default 1: N kmirrors share the flow as a fleet, with
//! `tasks.max = N`; each kill hits one of them, drawn from the seed; the
//! report goes to bench/results/chaos-fleet.md).
//!
//! It must never report a pass for a run whose target it did not read back
//! in full.

mod broker_fault;
mod relay;
mod report;
mod schedule;
mod supervisor;

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use kmirror_harness::cluster::{ClusterOptions, KafkaCluster};
use kmirror_harness::dist::KAFKA_4;
use kmirror_harness::sequence::{Delivery, SequenceCheck, SequenceStream, StreamPlan};
use kmirror_harness::tools::{self, Isolation};

use crate::flags;
use crate::mirrors::kmirror_binary;
use relay::{BoundRelay, CutRelay};
use schedule::{QuickFault, Schedule, Side};
use supervisor::{RunEnd, Supervisor};

pub const USAGE: &str = "chaos [--records N] [--mode alo|eos] [--kills K] [--broker-faults on|off] \
[--cuts C] [--partitions P] [--seed S] [--rate RECORDS/S, 0 = backlog] [--commit-ms MS] [--linger-ms MS] \
[--catch-up-secs S] [--instances N]";

pub struct ChaosArgs {
    pub records: u64,
    pub delivery: Delivery,
    pub kills: u32,
    pub broker_faults: bool,
    pub cuts: u32,
    pub partitions: i32,
    pub seed: Option<u64>,
    pub rate: u64,
    pub commit_ms: Option<u64>,
    pub linger_ms: u64,
    pub catch_up_secs: u64,
    pub instances: usize,
}

pub fn parse_args(rest: &[String]) -> Result<ChaosArgs, String> {
    let mut a = ChaosArgs {
        records: 1_000_000,
        delivery: Delivery::AtLeastOnce,
        kills: 20,
        broker_faults: true,
        cuts: 4,
        partitions: 12,
        seed: None,
        rate: 5000,
        commit_ms: None,
        linger_ms: 5,
        catch_up_secs: 600,
        instances: 1,
    };
    for (flag, v) in flags::pairs(rest)? {
        match flag {
            "--records" => a.records = flags::number(flag, v)?,
            "--mode" => {
                a.delivery = match v {
                    "alo" => Delivery::AtLeastOnce,
                    "eos" => Delivery::ExactlyOnce,
                    _ => return Err(format!("--mode {v}: expected alo or eos")),
                }
            }
            "--kills" => a.kills = flags::number(flag, v)?,
            "--broker-faults" => {
                a.broker_faults = match v {
                    "on" => true,
                    "off" => false,
                    _ => return Err(format!("--broker-faults {v}: expected on or off")),
                }
            }
            "--cuts" => a.cuts = flags::number(flag, v)?,
            "--partitions" => a.partitions = flags::number(flag, v)?,
            "--seed" => a.seed = Some(flags::number(flag, v)?),
            "--rate" => a.rate = flags::number(flag, v)?,
            "--commit-ms" => a.commit_ms = Some(flags::number(flag, v)?),
            "--linger-ms" => a.linger_ms = flags::number(flag, v)?,
            "--catch-up-secs" => a.catch_up_secs = flags::number(flag, v)?,
            "--instances" => a.instances = flags::number(flag, v)?,
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    if a.records == 0 || a.partitions <= 0 || a.instances == 0 {
        return Err("--records, --partitions and --instances must be positive".into());
    }
    Ok(a)
}

/// The source topic; kmirror mirrors it to `src.chaos`.
const TOPIC: &str = "chaos";
const TARGET_TOPIC: &str = "src.chaos";
const PROGRESS_GROUP: &str = "kmirror.progress.src.dst";
/// The brokers' extra listener that advertises the relays.
const LISTENER: &str = "CHAOS";
const BROKERS: usize = 3;
/// How long kmirror may take to stop after SIGTERM.
const STOP_GRACE: Duration = Duration::from_secs(60);
/// How long reading a topic back may take.
const READ_TIMEOUT: Duration = Duration::from_secs(900);

pub fn run(args: &ChaosArgs) -> Result<(), String> {
    let wall = Instant::now();
    let e = |x: std::io::Error| x.to_string();
    let seed = args.seed.unwrap_or_else(|| {
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
    });
    let window = if args.rate == 0 {
        Duration::from_secs(60)
    } else {
        Duration::from_secs_f64(args.records as f64 / args.rate as f64)
    };
    let schedule = Schedule::plan(seed, window, args.kills, args.cuts, args.broker_faults);
    let mode = report::mode_name(args.delivery);
    let command = command_line(args, seed);
    eprintln!("kmirror-bench: {command}");

    // The relays' ports go into the brokers' configuration, so they are
    // bound first and forward once the brokers run.
    let bind = || {
        (0..BROKERS)
            .map(|_| BoundRelay::bind())
            .collect::<std::io::Result<Vec<_>>>()
    };
    let (src_bound, dst_bound) = (bind().map_err(e)?, bind().map_err(e)?);
    let options = |bound: &[BoundRelay]| -> Result<ClusterOptions, String> {
        let addresses = bound
            .iter()
            .map(BoundRelay::address)
            .collect::<std::io::Result<Vec<_>>>()
            .map_err(e)?;
        Ok(ClusterOptions::default()
            .brokers(BROKERS)
            .advertised_listener_per_node(LISTENER, &addresses))
    };
    let (src_options, dst_options) = (options(&src_bound)?, options(&dst_bound)?);
    eprintln!("kmirror-bench: starting two Kafka {KAFKA_4} clusters of {BROKERS} brokers");
    let (source, target) = thread::scope(|s| {
        let source = s.spawn(|| KafkaCluster::start_with("chaos-src", KAFKA_4, &src_options));
        let target = s.spawn(|| KafkaCluster::start_with("chaos-dst", KAFKA_4, &dst_options));
        let join = |h: thread::ScopedJoinHandle<'_, std::io::Result<KafkaCluster>>| {
            h.join()
                .map_err(|_| "cluster start-up panicked".to_string())?
                .map_err(e)
        };
        Ok::<_, String>((join(source)?, join(target)?))
    })?;
    let forward =
        |bound: Vec<BoundRelay>, cluster: &KafkaCluster| -> Result<Vec<CutRelay>, String> {
            bound
                .into_iter()
                .zip(cluster.broker_ids())
                .map(|(relay, node)| {
                    let port = cluster
                        .node_listener_port(node, LISTENER)
                        .ok_or_else(|| format!("broker {node} has no {LISTENER} listener"))?;
                    relay
                        .forward_to(SocketAddr::from(([127, 0, 0, 1], port)))
                        .map_err(e)
                })
                .collect()
        };
    let src_relays = forward(src_bound, &source)?;
    let dst_relays = forward(dst_bound, &target)?;

    let configs = [("min.insync.replicas", "2")];
    tools::create_replicated_topic(&source, TOPIC, args.partitions, 3, &configs).map_err(e)?;
    // kmirror would create it, but without min.insync.replicas (MM2's
    // default exclude list drops it).
    tools::create_replicated_topic(&target, TARGET_TOPIC, args.partitions, 3, &configs)
        .map_err(e)?;

    let dir = run_dir(mode)?;
    let config = dir.join("mm2.properties");
    std::fs::write(&config, mm2_properties(args, &src_relays, &dst_relays)).map_err(e)?;
    let plan = StreamPlan {
        first: 0,
        count: Some(args.records),
        rate: args.rate,
        partitions: args.partitions,
    };
    let linger = args.linger_ms.to_string();
    let producer_props = [("linger.ms", linger.as_str())];
    let source_bootstrap = source.bootstrap();
    let backlog = if args.rate == 0 {
        eprintln!(
            "kmirror-bench: producing a backlog of {} records",
            args.records
        );
        let began = Instant::now();
        let totals = SequenceStream::start(&source_bootstrap, TOPIC, plan, &producer_props)
            .and_then(SequenceStream::join)
            .map_err(e)?;
        Some((totals, began.elapsed()))
    } else {
        None
    };

    let stream = match backlog {
        Some(_) => None,
        None => Some(
            SequenceStream::start(&source_bootstrap, TOPIC, plan, &producer_props).map_err(e)?,
        ),
    };
    // The schedule's clock starts with the stream.
    let timeline = Mutex::new(Vec::<(Duration, String)>::new());
    let started = Instant::now();
    let note_at = |at: Duration, what: String| {
        eprintln!("kmirror-bench: chaos: {:>7.1} s {what}", at.as_secs_f64());
        lock(&timeline).push((at, what));
    };
    let note = |what: String| note_at(started.elapsed(), what);
    note(format!(
        "stream of {} records at {} records/s starts",
        args.records, args.rate
    ));
    let binary = kmirror_binary()?;
    let mut mirrors = Vec::new();
    for k in 0..args.instances {
        let logs = if args.instances == 1 {
            dir.clone()
        } else {
            let d = dir.join(format!("instance-{}", k + 1));
            std::fs::create_dir_all(&d).map_err(e)?;
            d
        };
        let mut m = Supervisor::new(&binary, &config, &logs, &[], started);
        m.start()?;
        mirrors.push(m);
    }
    note(format!("{} kmirror instance(s) start", args.instances));
    let mut draw = seed;

    let mut kills_done = 0;
    let mut kills_skipped = 0;
    let mut cuts_done = Vec::new();
    let mut unexpected = Vec::new();
    let broker_faults = thread::scope(|s| -> Result<_, String> {
        let brokers = s.spawn(|| {
            let mut outcomes = Vec::new();
            for fault in &schedule.broker_faults {
                sleep_until(started + fault.at);
                let (cluster, topic) = match fault.side {
                    Side::Source => (&source, TOPIC),
                    Side::Target => (&target, TARGET_TOPIC),
                };
                note(format!(
                    "{} broker fault begins (planned at {:.1} s)",
                    fault.side,
                    fault.at.as_secs_f64()
                ));
                let outcome = broker_fault::run(cluster, topic, fault, started);
                note(match &outcome.error {
                    None => format!(
                        "{} broker {} fault over: leaders of {:?} moved to {:?}, broker back in sync",
                        fault.side,
                        outcome.broker.unwrap_or(-1),
                        outcome.led,
                        outcome.new_leaders
                    ),
                    Some(err) => format!("{} broker fault not completed: {err}", fault.side),
                });
                outcomes.push(outcome);
            }
            outcomes
        });
        for fault in schedule.quick_faults() {
            supervise_until(&mut mirrors, started + fault.at(), &note, &mut unexpected)?;
            match fault {
                QuickFault::Kill(kill) => {
                    draw = splitmix(draw);
                    let k = (draw % mirrors.len() as u64) as usize;
                    let mirror = &mut mirrors[k];
                    if mirror.kill() {
                        kills_done += 1;
                        note(format!(
                            "kill {kills_done} (planned at {:.1} s): kmirror instance {} SIGKILLed, restarting in {:.1} s",
                            kill.at.as_secs_f64(),
                            k + 1,
                            kill.down.as_secs_f64()
                        ));
                        thread::sleep(kill.down);
                        mirror.start()?;
                    } else {
                        kills_skipped += 1;
                        note(format!(
                            "kill skipped: kmirror instance {} was not running",
                            k + 1
                        ));
                        mirror.start()?;
                    }
                }
                QuickFault::Cut(cut) => {
                    let relays = match cut.side {
                        Side::Source => &src_relays,
                        Side::Target => &dst_relays,
                    };
                    let reset: usize = relays.iter().map(|r| r.cut(cut.outage)).sum();
                    cuts_done.push((cut.side, reset));
                    note(format!(
                        "cut {} (planned at {:.1} s): {reset} kmirror connections to the {} reset, outage {:.1} s",
                        cuts_done.len(),
                        cut.at.as_secs_f64(),
                        cut.side,
                        cut.outage.as_secs_f64()
                    ));
                }
            }
        }
        // The stream and the broker faults may outlast the quick faults.
        while !brokers.is_finished() || stream.as_ref().is_some_and(|s| s.finished_at().is_none()) {
            let next = Instant::now() + Duration::from_millis(500);
            supervise_until(&mut mirrors, next, &note, &mut unexpected)?;
        }
        brokers
            .join()
            .map_err(|_| "the broker fault thread panicked".to_string())
    })?;
    let (totals, stream_took) = match (stream, backlog) {
        (Some(stream), _) => {
            let end = stream.finished_at().unwrap_or_else(Instant::now);
            (
                stream.join().map_err(e)?,
                end.saturating_duration_since(started),
            )
        }
        (None, Some(backlog)) => backlog,
        (None, None) => unreachable!("either a stream or a backlog"),
    };
    note_at(
        stream_took,
        format!(
            "stream over: {} sent, {} acknowledged, {} failed",
            totals.sent, totals.acked, totals.failed
        ),
    );
    let faults_over = started.elapsed();

    let deadline = Instant::now() + Duration::from_secs(args.catch_up_secs);
    let catch_up = loop {
        supervise_until(&mut mirrors, Instant::now(), &note, &mut unexpected)?;
        match caught_up(&source, &target) {
            Ok(true) => break Ok(started.elapsed() - faults_over),
            Ok(false) => {}
            Err(err) => eprintln!("kmirror-bench: chaos: progress not readable yet: {err}"),
        }
        if Instant::now() >= deadline {
            break Err(format!(
                "kmirror's committed progress did not reach the source's end offsets within {} s",
                args.catch_up_secs
            ));
        }
        supervise_until(
            &mut mirrors,
            Instant::now() + Duration::from_secs(3),
            &note,
            &mut unexpected,
        )?;
    };
    note(match &catch_up {
        Ok(d) => format!(
            "kmirror caught up {:.1} s after the stream",
            d.as_secs_f64()
        ),
        Err(err) => err.clone(),
    });
    let stopped: Vec<Option<RunEnd>> = mirrors.iter_mut().map(|m| m.stop(STOP_GRACE)).collect();
    note(format!("kmirror stopped with SIGTERM: {stopped:?}"));
    let refused = |relays: &[CutRelay]| relays.iter().map(CutRelay::refused).sum::<u64>();
    let refused = (refused(&src_relays), refused(&dst_relays));
    let relayed = |relays: &[CutRelay]| relays.iter().map(CutRelay::accepted).sum::<u64>();
    let relayed = (relayed(&src_relays), relayed(&dst_relays));
    drop(src_relays);
    drop(dst_relays);

    eprintln!("kmirror-bench: reading both topics back");
    let src = tools::consume_all(&source, TOPIC, Isolation::ReadCommitted, None, READ_TIMEOUT)
        .map_err(e)?;
    let dst = tools::consume_all(
        &target,
        TARGET_TOPIC,
        Isolation::ReadCommitted,
        None,
        READ_TIMEOUT,
    )
    .map_err(e)?;
    let check = SequenceCheck::run(args.delivery, &src, &dst);
    drop((src, dst));

    let broker_fault_errors: Vec<String> = broker_faults
        .iter()
        .filter_map(|f| {
            f.error
                .as_ref()
                .map(|err| format!("{} broker fault not completed: {err}", f.side))
        })
        .collect();
    let mut failures = Vec::new();
    if !check.passed() {
        failures.push(format!(
            "the target does not keep {}",
            match args.delivery {
                Delivery::AtLeastOnce => "at-least-once delivery",
                Delivery::ExactlyOnce => "exactly-once delivery",
            }
        ));
    }
    failures.extend(unexpected);
    if let Err(err) = &catch_up {
        failures.push(format!("hang: {err}"));
    }
    for (k, end) in stopped.iter().enumerate() {
        match end {
            Some(RunEnd::Stopped(Some(0))) => {}
            other => failures.push(format!(
                "the final SIGTERM stop of instance {} ended {other:?}, want status 0",
                k + 1
            )),
        }
    }
    let runs: Vec<supervisor::Run> = mirrors.iter().flat_map(|m| m.runs.clone()).collect();
    failures.extend(broker_fault_errors);

    let timeline = lock(&timeline).clone();
    let outcome = report::Outcome {
        args,
        command,
        revision: revision(),
        schedule: &schedule,
        kills_done,
        kills_skipped,
        cuts_done,
        relayed,
        refused,
        broker_faults,
        runs: &runs,
        stream: totals,
        stream_took,
        catch_up,
        check: &check,
        wall: wall.elapsed(),
        timeline,
        log_dir: dir.display().to_string(),
        failures,
    };
    let file = if args.instances == 1 {
        "results/chaos.md"
    } else {
        "results/chaos-fleet.md"
    };
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
    let previous = std::fs::read_to_string(&path).unwrap_or_default();
    std::fs::write(
        &path,
        report::merge(&previous, args.delivery, &outcome.section()),
    )
    .map_err(|x| format!("{}: {x}", path.display()))?;
    eprintln!(
        "kmirror-bench: wrote {} (kmirror logs in {})",
        path.display(),
        dir.display()
    );
    for problem in check.problems() {
        eprintln!("kmirror-bench: {problem}");
    }
    println!("{}", outcome.verdict());
    if outcome.passed() {
        Ok(())
    } else {
        Err(format!("chaos {mode} failed; see {}", path.display()))
    }
}

/// Keeps every kmirror instance running until `deadline`: one that exited
/// on its own is noted as unexpected and started again.
fn supervise_until(
    mirrors: &mut [Supervisor],
    deadline: Instant,
    note: &impl Fn(String),
    unexpected: &mut Vec<String>,
) -> Result<(), String> {
    loop {
        for (k, mirror) in mirrors.iter_mut().enumerate() {
            if mirror.reap() {
                let run = mirror.runs.last().expect("a reaped run exists");
                let what = format!(
                    "kmirror instance {} run {} exited on its own: {:?} (log {})",
                    k + 1,
                    mirror.runs.len(),
                    run.ended.map(|(_, end)| end),
                    run.log.display()
                );
                note(what.clone());
                unexpected.push(what);
                thread::sleep(Duration::from_secs(1));
                mirror.start()?;
                note(format!(
                    "kmirror instance {} run {} starts",
                    k + 1,
                    mirror.runs.len()
                ));
            }
        }
        let now = Instant::now();
        if now >= deadline {
            return Ok(());
        }
        thread::sleep((deadline - now).min(Duration::from_millis(100)));
    }
}

/// The next draw of a seeded sequence (SplitMix64).
fn splitmix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Whether kmirror's committed progress covers every record of the source.
fn caught_up(source: &KafkaCluster, target: &KafkaCluster) -> std::io::Result<bool> {
    let ends = tools::end_offsets(source, TOPIC)?;
    tools::group_reached(target, PROGRESS_GROUP, TARGET_TOPIC, &ends)
}

fn mm2_properties(args: &ChaosArgs, src: &[CutRelay], dst: &[CutRelay]) -> String {
    let list = |relays: &[CutRelay]| {
        relays
            .iter()
            .map(CutRelay::address)
            .collect::<Vec<_>>()
            .join(",")
    };
    let mut text = format!(
        "# kmirror-bench chaos: every connection goes through a relay that can cut it\n\
         clusters = src, dst\n\
         src.bootstrap.servers = {}\n\
         dst.bootstrap.servers = {}\n\
         src->dst.enabled = true\n\
         src->dst.topics = {TOPIC}\n\
         replication.factor = 3\n",
        list(src),
        list(dst)
    );
    if args.instances > 1 {
        // A fleet: every instance mirrors a share; a killed one's share
        // moves after its session (6 s, the brokers' least).
        let _ = writeln!(
            text,
            "tasks.max = {}\nkmirror.fleet.session.timeout.ms = 6000\n\
             kmirror.fleet.heartbeat.interval.ms = 1000\nkmirror.metrics.address = 127.0.0.1:0",
            args.instances
        );
    }
    match args.delivery {
        Delivery::AtLeastOnce => {
            let _ = writeln!(
                text,
                "offset.flush.interval.ms = {}",
                args.commit_ms.unwrap_or(1000)
            );
        }
        Delivery::ExactlyOnce => {
            let _ = writeln!(
                text,
                "dst.exactly.once.source.support = enabled\nkmirror.transaction.interval.ms = {}",
                args.commit_ms.unwrap_or(100)
            );
        }
    }
    text
}

/// A fresh directory for this run's configuration and kmirror logs, kept
/// after the run: target/chaos/<mode>-<pid>.
fn run_dir(mode: &str) -> Result<PathBuf, String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../target/chaos")
        .join(format!("{mode}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    Ok(dir.canonicalize().unwrap_or(dir))
}

fn command_line(args: &ChaosArgs, seed: u64) -> String {
    let commit = args
        .commit_ms
        .map(|ms| format!(" --commit-ms {ms}"))
        .unwrap_or_default();
    let instances = if args.instances > 1 {
        format!(" --instances {}", args.instances)
    } else {
        String::new()
    };
    format!(
        "cargo run --release -p kmirror-bench -- chaos --mode {} --records {} --kills {} --broker-faults {} \
         --cuts {} --partitions {} --rate {} --linger-ms {} --seed {seed}{commit}{instances}",
        report::mode_name(args.delivery),
        args.records,
        args.kills,
        if args.broker_faults { "on" } else { "off" },
        args.cuts,
        args.partitions,
        args.rate,
        args.linger_ms,
    )
}

/// The commit the binaries were built from, as far as git knows.
fn revision() -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let git = |args: &[&str]| {
        Command::new("git")
            .arg("-C")
            .arg(&root)
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    };
    match git(&["rev-parse", "--short", "HEAD"]) {
        Some(rev) => {
            let dirty = git(&["status", "--porcelain", "--untracked-files=no"])
                .is_some_and(|s| !s.is_empty());
            format!(
                "commit {rev}{}",
                if dirty {
                    " (with uncommitted changes)"
                } else {
                    ""
                }
            )
        }
        None => "an unknown commit".into(),
    }
}

fn sleep_until(when: Instant) {
    let now = Instant::now();
    if when > now {
        thread::sleep(when - now);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}
