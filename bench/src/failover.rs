//! `kmirror-bench failover`: consumer failover, MirrorMaker 2 beside kmirror
//! on the same data. A transactional source topic (aborted transactions and
//! markers among plain records); consumer groups committed part-way; each
//! mirror moves its groups to the target (MirrorMaker 2 with its own
//! `sync.group.offsets.enabled`, kmirror with the same setting and with
//! `kmirror failover`), and Kafka's consumer resumes each group on the
//! target. Counted per group: records missing and records read again.
//! Writes bench/results/failover.md.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

use kmirror_harness::cluster::KafkaCluster;
use kmirror_harness::dist::{KafkaDist, KAFKA_4};
use kmirror_harness::tools::{self, Isolation, TestRecord, TxnOutcome};

use crate::mirrors::{kmirror_binary, mm2_command, spawn_logged, stop, write_props};

pub const USAGE: &str = "failover [--records N]";

pub struct Args {
    records: usize,
}

pub fn parse_args(rest: &[String]) -> Result<Args, String> {
    let mut a = Args { records: 30_000 };
    for (flag, v) in crate::flags::pairs(rest)? {
        match flag {
            "--records" => a.records = crate::flags::number(flag, v)?,
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    if a.records < 300 {
        return Err("--records must be at least 300".into());
    }
    Ok(a)
}

const TOPIC: &str = "orders";
const PARTITIONS: i32 = 3;

/// One group's outcome.
struct Outcome {
    mirror: &'static str,
    how: &'static str,
    expected: usize,
    read: usize,
    missing: usize,
    reread: usize,
}

pub fn run(a: &Args) -> Result<(), String> {
    let e = |e: std::io::Error| e.to_string();
    let source = KafkaCluster::start("failover-src", KAFKA_4).map_err(e)?;
    let target = KafkaCluster::start("failover-dst", KAFKA_4).map_err(e)?;
    let dir = std::env::temp_dir().join(format!("kmirror-bench-failover-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;

    eprintln!(
        "kmirror-bench: loading {} plain records and transactions into {TOPIC}",
        a.records
    );
    tools::create_topic(&source, TOPIC, PARTITIONS, &[]).map_err(e)?;
    let half = a.records / 2;
    let plain = |from: usize, to: usize| -> Vec<TestRecord> {
        (from..to)
            .map(|i| {
                TestRecord::new(format!("rec-{i}")).with_partition((i % PARTITIONS as usize) as i32)
            })
            .collect()
    };
    tools::produce(&source, TOPIC, &plain(0, half)).map_err(e)?;
    let txns: Vec<(TxnOutcome, Vec<TestRecord>)> = (0..40)
        .map(|i| {
            let outcome = if i % 4 == 1 {
                TxnOutcome::Abort
            } else {
                TxnOutcome::Commit
            };
            let recs = (0..30)
                .map(|j| TestRecord::new(format!("txn-{i}-{j}")).with_partition(j % PARTITIONS))
                .collect();
            (outcome, recs)
        })
        .collect();
    tools::produce_transactions(&source, TOPIC, "bench-failover", &txns).map_err(e)?;
    tools::produce(&source, TOPIC, &plain(half, a.records)).map_err(e)?;
    let records = tools::consume_all(
        &source,
        TOPIC,
        Isolation::ReadCommitted,
        None,
        Duration::from_secs(120),
    )
    .map_err(e)?;
    let mut src: BTreeMap<i32, BTreeMap<i64, String>> = BTreeMap::new();
    for r in &records {
        src.entry(r.partition).or_default().insert(
            r.offset,
            String::from_utf8_lossy(r.value.as_deref().unwrap_or_default()).into_owned(),
        );
    }
    // Every group stops at the same places: 60% into partitions 0 and 2,
    // and inside an aborted transaction in partition 1 (on an offset no
    // committed record has, past the first one of them).
    let committed: BTreeMap<i32, i64> = src
        .iter()
        .map(|(p, recs)| {
            let at = if *p == 1 {
                let gaps: Vec<i64> = (0..*recs.keys().last().unwrap_or(&0))
                    .filter(|o| !recs.contains_key(o))
                    .collect();
                gaps.get(gaps.len() / 2).copied().unwrap_or(0)
            } else {
                *recs.keys().nth(recs.len() * 3 / 5).unwrap_or(&0)
            };
            (*p, at)
        })
        .collect();
    let groups = ["mm2-sync", "kmirror-sync", "kmirror-failover"];
    for g in groups {
        tools::set_group_offsets(
            &source,
            g,
            TOPIC,
            &committed.iter().map(|(p, o)| (*p, *o)).collect::<Vec<_>>(),
        )
        .map_err(e)?;
    }
    let expected: BTreeMap<i32, Vec<String>> = src
        .iter()
        .map(|(p, recs)| {
            (
                *p,
                recs.range(committed[p]..).map(|(_, v)| v.clone()).collect(),
            )
        })
        .collect();
    let mut outcomes = Vec::new();

    // MirrorMaker 2: src -> dst, target topic src.orders.
    let common = |groups: &str| -> Vec<(String, String)> {
        [
            ("groups", groups),
            ("emit.checkpoints.interval.seconds", "1"),
            ("sync.group.offsets.enabled", "true"),
            ("sync.group.offsets.interval.seconds", "1"),
            ("offset.flush.interval.ms", "1000"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    };
    let props = write_props(
        &dir,
        "src",
        &source.bootstrap(),
        &target.bootstrap(),
        TOPIC,
        &common("mm2-sync"),
    )?;
    let dist = KafkaDist::tools().map_err(e)?;
    eprintln!("kmirror-bench: MirrorMaker 2 mirroring and syncing group offsets");
    let mut mm2 = spawn_logged(&mut mm2_command(&dist, &props), &dir, "mm2")?;
    let total = records.len() as i64;
    let synced = wait_for_group(
        &target,
        "src.orders",
        total,
        "mm2-sync",
        Duration::from_secs(300),
    );
    stop(&mut mm2, Duration::from_secs(20));
    synced.map_err(|w| format!("MirrorMaker 2: {w} (logs in {})", dir.display()))?;
    outcomes.push(resume(
        &target,
        "src.orders",
        "mm2-sync",
        &expected,
        "MirrorMaker 2",
        "sync.group.offsets.enabled",
    )?);

    // kmirror: k -> dst (the same source under another alias), target topic k.orders.
    let props = write_props(
        &dir,
        "k",
        &source.bootstrap(),
        &target.bootstrap(),
        TOPIC,
        &common("kmirror-.*"),
    )?;
    eprintln!("kmirror-bench: kmirror mirroring, checkpointing and syncing group offsets");
    let mut km = spawn_logged(
        std::process::Command::new(kmirror_binary()?).arg(&props),
        &dir,
        "kmirror",
    )?;
    let synced = wait_for_group(
        &target,
        "k.orders",
        total,
        "kmirror-sync",
        Duration::from_secs(300),
    );
    // kmirror-failover is synced too: let `kmirror failover` place it
    // instead, after the mirror stopped, from the checkpoints alone.
    stop(&mut km, Duration::from_secs(20));
    synced.map_err(|w| format!("kmirror: {w} (logs in {})", dir.display()))?;
    outcomes.push(resume(
        &target,
        "k.orders",
        "kmirror-sync",
        &expected,
        "kmirror",
        "sync.group.offsets.enabled",
    )?);
    delete_group(&target, "kmirror-failover")?;
    let out = std::process::Command::new(kmirror_binary()?)
        .args(["failover"])
        .arg(&props)
        .args(["--group", "kmirror-failover"])
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!(
            "kmirror failover: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    eprint!("{}", String::from_utf8_lossy(&out.stdout));
    outcomes.push(resume(
        &target,
        "k.orders",
        "kmirror-failover",
        &expected,
        "kmirror",
        "kmirror failover",
    )?);

    // kmirror in offset-preserving mode: p -> dst, target topic p.orders.
    // The group moves by committing the source's numbers as they are.
    let preserve: Vec<(String, String)> = [
        ("kmirror.offsets.preserve", "true"),
        ("emit.checkpoints.enabled", "false"),
        ("offset.flush.interval.ms", "1000"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let props = write_props(
        &dir,
        "p",
        &source.bootstrap(),
        &target.bootstrap(),
        TOPIC,
        &preserve,
    )?;
    eprintln!("kmirror-bench: kmirror mirroring with kmirror.offsets.preserve = true");
    let mut km = spawn_logged(
        std::process::Command::new(kmirror_binary()?).arg(&props),
        &dir,
        "kmirror-preserve",
    )?;
    let ends = tools::end_offsets(&source, TOPIC).map_err(e)?;
    let deadline = Instant::now() + Duration::from_secs(300);
    while tools::end_offsets(&target, "p.orders").ok().as_ref() != Some(&ends) {
        if Instant::now() > deadline {
            stop(&mut km, Duration::from_secs(20));
            return Err(format!(
                "kmirror (offsets preserved): p.orders never ended where {TOPIC} ends (logs in {})",
                dir.display()
            ));
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    stop(&mut km, Duration::from_secs(20));
    tools::set_group_offsets(
        &target,
        "kmirror-preserved",
        "p.orders",
        &committed.iter().map(|(p, o)| (*p, *o)).collect::<Vec<_>>(),
    )
    .map_err(e)?;
    outcomes.push(resume(
        &target,
        "p.orders",
        "kmirror-preserved",
        &expected,
        "kmirror, `kmirror.offsets.preserve = true`",
        "committing the source's offsets unchanged",
    )?);

    write_report(
        a,
        &committed,
        &outcomes,
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("results/failover.md")
            .as_path(),
    )
}

/// Waits until the mirror has copied every record into `topic` and
/// `group` has a committed offset on every partition that has not changed
/// for 10 s: the mirror's last word on the group, so that an early,
/// conservative placement it would improve later is not what is counted.
fn wait_for_group(
    cluster: &KafkaCluster,
    topic: &str,
    records: i64,
    group: &str,
    timeout: Duration,
) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    let mut last: Option<(Vec<Option<i64>>, Instant)> = None;
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_secs(1));
        let copied: i64 = tools::end_offsets(cluster, topic)
            .map(|v| v.iter().map(|(_, o)| *o).sum())
            .unwrap_or(0);
        let got: Vec<Option<i64>> = tools::consumer_group_offsets(cluster, group)
            .unwrap_or_default()
            .iter()
            .map(|o| o.offset)
            .collect();
        if copied < records || got.iter().filter(|o| o.is_some()).count() != PARTITIONS as usize {
            continue;
        }
        match &last {
            Some((prev, since)) if *prev == got => {
                if since.elapsed() >= Duration::from_secs(10) {
                    return Ok(());
                }
            }
            _ => last = Some((got, Instant::now())),
        }
    }
    Err(format!(
        "group {group} had no settled offsets on the target after {timeout:?}"
    ))
}

/// Removes `group`'s offsets on `cluster` (kafka-consumer-groups --delete).
fn delete_group(cluster: &KafkaCluster, group: &str) -> Result<(), String> {
    tools::delete_group(cluster, group).map_err(|e| e.to_string())
}

fn resume(
    target: &KafkaCluster,
    topic: &str,
    group: &str,
    expected: &BTreeMap<i32, Vec<String>>,
    mirror: &'static str,
    how: &'static str,
) -> Result<Outcome, String> {
    let read = tools::resume_group(target, topic, group, Duration::from_secs(120))
        .map_err(|e| e.to_string())?;
    let (mut missing, mut reread, mut total) = (0, 0, 0);
    for (p, want) in expected {
        let got: Vec<&String> = read.iter().filter(|r| r.0 == *p).map(|r| &r.2).collect();
        let want_set: BTreeSet<&String> = want.iter().collect();
        let got_set: BTreeSet<&String> = got.iter().copied().collect();
        missing += want_set.difference(&got_set).count();
        reread += got.len() - got_set.len() + got_set.difference(&want_set).count();
        total += want.len();
    }
    eprintln!(
        "kmirror-bench: {mirror} ({how}): {} read, {missing} missing, {reread} read again",
        read.len()
    );
    Ok(Outcome {
        mirror,
        how,
        expected: total,
        read: read.len(),
        missing,
        reread,
    })
}

fn write_report(
    a: &Args,
    committed: &BTreeMap<i32, i64>,
    outcomes: &[Outcome],
    path: &Path,
) -> Result<(), String> {
    let mut md = String::from("# Consumer failover: MirrorMaker 2 beside kmirror\n\n");
    md.push_str(&format!(
        "Two local Kafka {KAFKA_4} clusters. Source topic `{TOPIC}` ({PARTITIONS} partitions): {} plain records, then 40 transactions of 30 records (every fourth aborted), then the rest; every record's value is unique. Three consumer groups are committed on the source at the same offsets ({}): 60% into partitions 0 and 2, and in partition 1 on an offset of the transactions' range that holds no committed record (aborted data or a marker). MirrorMaker 2 (Kafka's `connect-mirror`, dedicated mode) and kmirror each mirror the topic under their own alias with `emit.checkpoints.interval.seconds = 1` and `sync.group.offsets.enabled = true` (interval 1 s); a third group is moved by `kmirror failover` after kmirror stopped; a fourth mirror run, kmirror with `kmirror.offsets.preserve = true` under a third alias, is followed by committing the source's offsets on its target unchanged. Then Kafka's consumer resumes each group on the target where its offsets were committed (read_committed, no reset policy) and reads to the end.\n\n",
        a.records,
        committed.iter().map(|(p, o)| format!("partition {p}: {o}")).collect::<Vec<_>>().join(", ")
    ));
    md.push_str("| mirror | moved by | records after the committed offsets | read on the target | missing | read again |\n|---|---|---:|---:|---:|---:|\n");
    for o in outcomes {
        md.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} |\n",
            o.mirror, o.how, o.expected, o.read, o.missing, o.reread
        ));
    }
    md.push_str("\n*Read again*: records the group had already consumed on the source (before its committed offsets) that it read once more on the target, plus any read twice. MirrorMaker 2 places a group at the last offset sync at or below its offset, plus one, so it re-reads the records between them; kmirror's offset map is exact.\n");
    std::fs::write(path, md).map_err(|e| e.to_string())?;
    eprintln!("kmirror-bench: wrote {}", path.display());
    Ok(())
}
