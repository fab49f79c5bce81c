//! Consumer failover against real Apache Kafka 4.x: the offset syncs
//! kmirror writes and `kmirror offsets translate`, checked against what
//! Kafka's own consumer reads on both clusters.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{
    mm2_file, pair, run_kmirror, total_end_offset, wait_until, Kmirror, KAFKA_4, ONE_REPLICA,
    QUICK_COMPACTION,
};
use kmirror_harness::tools::{self, ConsumedRecord, Isolation, TestRecord, TxnOutcome};
use kmirror_proto::records::PLACEHOLDER_HEADER;

/// Per partition: source offset -> record value.
fn by_offset(records: &[ConsumedRecord]) -> BTreeMap<i32, BTreeMap<i64, Vec<u8>>> {
    let mut out: BTreeMap<i32, BTreeMap<i64, Vec<u8>>> = BTreeMap::new();
    for r in records {
        out.entry(r.partition)
            .or_default()
            .insert(r.offset, r.value.clone().unwrap_or_default());
    }
    out
}

/// The rows `kmirror offsets translate` printed: (source topic, partition)
/// -> (committed, translated target offset).
fn parse_table(out: &str) -> BTreeMap<(String, i32), (i64, Option<i64>)> {
    let mut rows = BTreeMap::new();
    for line in out
        .lines()
        .skip_while(|l| !l.starts_with("SOURCE TOPIC"))
        .skip(1)
    {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 5 {
            continue;
        }
        let (Ok(partition), Ok(committed)) = (f[1].parse(), f[2].parse()) else {
            continue;
        };
        rows.insert(
            (f[0].to_string(), partition),
            (committed, f[4].parse().ok()),
        );
    }
    rows
}

/// A transactional topic with aborted transactions, commit markers and a
/// marker at the end of every partition: a group committed at any of those
/// offsets resumes on the target at the record a read_committed consumer
/// would read next, as Kafka's consumer sees it on both clusters.
#[test]
fn translate_places_groups_on_the_next_committed_record() {
    let pair = pair(KAFKA_4);
    let t = "fo-txn";
    tools::create_topic(&pair.source, t, 3, &[]).unwrap();
    tools::produce(
        &pair.source,
        t,
        &(0..30)
            .map(|i| TestRecord::new(format!("plain-{i}")).with_partition(i % 3))
            .collect::<Vec<_>>(),
    )
    .unwrap();
    let txns: Vec<(TxnOutcome, Vec<TestRecord>)> = (0..9)
        .map(|i| {
            let outcome = if i % 3 == 1 {
                TxnOutcome::Abort
            } else {
                TxnOutcome::Commit
            };
            let recs = (0..12)
                .map(|j| TestRecord::new(format!("txn{i}-{j}-{outcome:?}")).with_partition(j % 3))
                .collect();
            (outcome, recs)
        })
        .collect();
    tools::produce_transactions(&pair.source, t, "kmirror-failover-txn", &txns).unwrap();

    let cfg = mm2_file(pair, "failover-translate", &format!("topics = {t}\n"));
    let mut km = Kmirror::start(&cfg, &[]);
    let source = tools::consume_all(
        &pair.source,
        t,
        Isolation::ReadCommitted,
        None,
        Duration::from_secs(60),
    )
    .unwrap();
    assert_eq!(source.len(), 30 + 6 * 12);
    wait_until(
        Duration::from_secs(90),
        "committed records mirrored",
        || total_end_offset(&pair.target, "A.fo-txn") >= source.len() as i64,
    );
    let ends: BTreeMap<i32, i64> = tools::end_offsets(&pair.source, t)
        .unwrap()
        .into_iter()
        .collect();
    // The mirror's progress reaches the source's end (past the last markers),
    // and with it the syncs that describe it.
    wait_until(
        Duration::from_secs(30),
        "progress past the last markers",
        || {
            tools::group_reached(
                &pair.target,
                "kmirror.progress.A.B",
                "A.fo-txn",
                &ends.iter().map(|(p, o)| (*p, *o)).collect::<Vec<_>>(),
            )
            .unwrap_or(false)
        },
    );
    km.stop();
    let target = tools::consume_all(
        &pair.target,
        "A.fo-txn",
        Isolation::ReadCommitted,
        None,
        Duration::from_secs(60),
    )
    .unwrap();
    let (src, tgt) = (by_offset(&source), by_offset(&target));

    // Per partition: offsets that are records, offsets in aborted data or
    // markers (gaps), and the end.
    let mut choices: BTreeMap<i32, Vec<i64>> = BTreeMap::new();
    for (p, end) in &ends {
        let records = &src[p];
        let gaps: Vec<i64> = (0..*end).filter(|o| !records.contains_key(o)).collect();
        assert!(
            gaps.len() >= 4,
            "partition {p} has aborted data and markers"
        );
        let record = *records.keys().nth(records.len() / 2).unwrap();
        choices.insert(*p, vec![gaps[0], gaps[gaps.len() / 2], record, *end]);
    }
    let mut checked = 0;
    for k in 0..4 {
        let group = format!("fo-group-{k}");
        let offsets: Vec<(i32, i64)> = choices
            .iter()
            .map(|(p, c)| (*p, c[(k + *p as usize) % c.len()]))
            .collect();
        tools::set_group_offsets(&pair.source, &group, t, &offsets).unwrap();
        let cfg_path = cfg.to_string_lossy().into_owned();
        let (code, out) = run_kmirror(&["offsets", "translate", &cfg_path, "--group", &group]);
        assert_eq!(code, Some(0), "{out}");
        let rows = parse_table(&out);
        for (p, committed) in offsets {
            let (c, translated) = rows
                .get(&(t.to_string(), p))
                .copied()
                .unwrap_or_else(|| panic!("no row for partition {p}:\n{out}"));
            assert_eq!(c, committed, "{out}");
            // The record a read_committed consumer reads next on the source,
            // and where its copy is on the target.
            let want = match src[&p].range(committed..).next() {
                Some((_, value)) => *tgt[&p]
                    .iter()
                    .find(|(_, v)| *v == value)
                    .map(|(o, _)| o)
                    .expect("every committed record is mirrored"),
                None => tgt[&p].keys().last().map_or(0, |o| o + 1),
            };
            let got =
                translated.unwrap_or_else(|| panic!("no translation for partition {p}:\n{out}"));
            // Placed at `got`, the consumer reads first the target record at
            // or after it: the one wanted.
            let first = tgt[&p].range(got..).next().map(|(o, _)| *o);
            let wanted_first = tgt[&p].range(want..).next().map(|(o, _)| *o);
            assert_eq!(
                first, wanted_first,
                "partition {p}, committed {committed}: translated {got}, want {want}\n{out}"
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 12);

    // Kafka's own formatter reads the offset syncs, and the syncs alone
    // place every record: for each record, the last sync at or below it and
    // the difference give its target offset.
    let printed = tools::mm2_formatted(
        &pair.source,
        "mm2-offset-syncs.B.internal",
        "OffsetSyncFormatter",
        1000,
    )
    .unwrap();
    let mut syncs: BTreeMap<i32, Vec<(i64, i64)>> = BTreeMap::new();
    for line in &printed {
        // OffsetSync{topicPartition=fo-txn-0, upstreamOffset=12, downstreamOffset=10}
        let field = |name: &str| -> Option<&str> {
            let rest = &line[line.find(name)? + name.len()..];
            Some(rest.split([',', '}']).next()?.trim())
        };
        let Some(tp) = field("topicPartition=") else {
            continue;
        };
        let Some(p) = tp.strip_prefix("fo-txn-").and_then(|p| p.parse().ok()) else {
            continue;
        };
        let (Some(u), Some(d)) = (
            field("upstreamOffset=").and_then(|v| v.parse().ok()),
            field("downstreamOffset=").and_then(|v| v.parse().ok()),
        ) else {
            panic!("OffsetSyncFormatter printed '{line}'");
        };
        syncs.entry(p).or_default().push((u, d));
    }
    assert_eq!(
        syncs.len(),
        3,
        "syncs for every partition:\n{}",
        printed.join("\n")
    );
    for (p, records) in &src {
        let by_value: BTreeMap<&Vec<u8>, i64> = tgt[p].iter().map(|(o, v)| (v, *o)).collect();
        for (offset, value) in records {
            let (u, d) = syncs[p]
                .iter()
                .rev()
                .find(|(u, _)| u <= offset)
                .copied()
                .expect("a sync at or below every record");
            assert_eq!(
                d + (offset - u),
                by_value[value],
                "partition {p}, source offset {offset}"
            );
        }
    }
}

/// Checkpoints as MirrorMaker 2 writes them: Kafka's own
/// `RemoteClusterUtils.translateOffsets` reads kmirror's
/// `A.checkpoints.internal` and gets the offsets `kmirror offsets
/// translate` prints, including for a group committed on an aborted range.
#[test]
fn remote_cluster_utils_reads_the_same_offsets_as_translate() {
    let pair = pair(KAFKA_4);
    let t = "fo-ckpt";
    tools::create_topic(&pair.source, t, 2, &[]).unwrap();
    let txns: Vec<(TxnOutcome, Vec<TestRecord>)> = (0..6)
        .map(|i| {
            let outcome = if i % 2 == 1 {
                TxnOutcome::Abort
            } else {
                TxnOutcome::Commit
            };
            let recs = (0..10)
                .map(|j| TestRecord::new(format!("ck{i}-{j}")).with_partition(j % 2))
                .collect();
            (outcome, recs)
        })
        .collect();
    tools::produce_transactions(&pair.source, t, "kmirror-failover-ckpt", &txns).unwrap();
    let source = tools::consume_all(
        &pair.source,
        t,
        Isolation::ReadCommitted,
        None,
        Duration::from_secs(60),
    )
    .unwrap();
    let src = by_offset(&source);
    // Partition 0 committed inside the first aborted transaction, partition 1
    // on a committed record.
    let aborted_at = (0..).find(|o| !src[&0].contains_key(o)).unwrap();
    let record_at = *src[&1].keys().nth(3).unwrap();
    let group = "fo-ckpt-group";
    tools::set_group_offsets(
        &pair.source,
        group,
        t,
        &[(0, aborted_at + 1), (1, record_at)],
    )
    .unwrap();

    let cfg = mm2_file(
        pair,
        "failover-checkpoints",
        &format!("topics = {t}\ngroups = fo-ckpt-.*\nemit.checkpoints.interval.seconds = 1\n"),
    );
    let mut km = Kmirror::start(&cfg, &[]);
    wait_until(
        Duration::from_secs(90),
        "committed records mirrored",
        || total_end_offset(&pair.target, "A.fo-ckpt") >= source.len() as i64,
    );
    let mut theirs = Vec::new();
    wait_until(
        Duration::from_secs(90),
        "checkpoints for both partitions",
        || {
            theirs = tools::mm2_translate_offsets(&pair.target, "A", group).unwrap_or_default();
            theirs.len() == 2
        },
    );
    // MirrorMaker 2's checkpoint latency, per group and target partition.
    let (code, body) = km.get("/metrics");
    assert_eq!(code, 200);
    let latency = |p: i32| {
        format!(
            r#"kafka_connect_mirror_mirrorcheckpointconnector_checkpoint_latency_ms_max{{source="A",target="B",group="{group}",topic="A.fo-ckpt",partition="{p}"}} "#
        )
    };
    for p in 0..2 {
        assert!(
            body.lines().any(|l| l.starts_with(&latency(p))),
            "{}\n{body}",
            latency(p)
        );
    }
    let cfg_path = cfg.to_string_lossy().into_owned();
    let (code, out) = run_kmirror(&["offsets", "translate", &cfg_path, "--group", group]);
    assert_eq!(code, Some(0), "{out}");
    km.stop();
    let ours = parse_table(&out);
    for (topic, partition, offset) in &theirs {
        assert_eq!(topic, "A.fo-ckpt");
        let (_, translated) = ours[&(t.to_string(), *partition)];
        assert_eq!(
            translated,
            Some(*offset),
            "partition {partition}: RemoteClusterUtils {offset}\n{out}"
        );
    }
    // The aborted range resumes at the next committed record on the target.
    let target = tools::consume_all(
        &pair.target,
        "A.fo-ckpt",
        Isolation::ReadCommitted,
        None,
        Duration::from_secs(60),
    )
    .unwrap();
    let tgt = by_offset(&target);
    let next_value = src[&0].range(aborted_at + 1..).next().unwrap().1;
    let at = theirs.iter().find(|r| r.1 == 0).unwrap().2;
    assert_eq!(tgt[&0].range(at..).next().map(|(_, v)| v), Some(next_value));
}

/// Records a resumed group should read: per partition, the committed
/// source records at or after `committed`.
fn expected_after(
    src: &BTreeMap<i32, BTreeMap<i64, Vec<u8>>>,
    committed: &BTreeMap<i32, i64>,
) -> BTreeMap<i32, Vec<String>> {
    src.iter()
        .map(|(p, records)| {
            let from = committed.get(p).copied().unwrap_or(0);
            let values = records
                .range(from..)
                .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
                .collect();
            (*p, values)
        })
        .collect()
}

/// (missing, read twice or read although consumed before) per the records
/// a resumed group read.
fn losses_and_rereads(
    expected: &BTreeMap<i32, Vec<String>>,
    read: &[(i32, i64, String)],
) -> (usize, usize) {
    let mut missing = 0;
    let mut extra = 0;
    for (p, want) in expected {
        let got: Vec<&String> = read.iter().filter(|r| r.0 == *p).map(|r| &r.2).collect();
        let want_set: std::collections::BTreeSet<&String> = want.iter().collect();
        let got_set: std::collections::BTreeSet<&String> = got.iter().copied().collect();
        missing += want_set.difference(&got_set).count();
        extra += got.len() - got_set.len() + got_set.difference(&want_set).count();
    }
    (missing, extra)
}

/// Disaster recovery: a group read part of a transactional topic on the
/// source; with the source unreachable, `kmirror failover` (reading only the
/// target) moves it, and Kafka's consumer reads the rest on the target with
/// none missing and none read twice. Then `sync.group.offsets.enabled`
/// does the same for another group, and a second failover moves nothing
/// back.
#[test]
fn failover_and_group_offset_sync_resume_with_nothing_missing_or_reread() {
    let pair = pair(KAFKA_4);
    let t = "fo-dr";
    tools::create_topic(&pair.source, t, 3, &[]).unwrap();
    let plain: Vec<TestRecord> = (0..3000)
        .map(|i| TestRecord::new(format!("dr-{i}")).with_partition(i % 3))
        .collect();
    tools::produce(&pair.source, t, &plain).unwrap();
    let txns: Vec<(TxnOutcome, Vec<TestRecord>)> = (0..8)
        .map(|i| {
            let outcome = if i % 4 == 1 {
                TxnOutcome::Abort
            } else {
                TxnOutcome::Commit
            };
            let recs = (0..30)
                .map(|j| TestRecord::new(format!("drtx-{i}-{j}")).with_partition(j % 3))
                .collect();
            (outcome, recs)
        })
        .collect();
    tools::produce_transactions(&pair.source, t, "kmirror-failover-dr", &txns).unwrap();
    tools::produce(
        &pair.source,
        t,
        &(0..300)
            .map(|i| TestRecord::new(format!("tail-{i}")).with_partition(i % 3))
            .collect::<Vec<_>>(),
    )
    .unwrap();
    let source = tools::consume_all(
        &pair.source,
        t,
        Isolation::ReadCommitted,
        None,
        Duration::from_secs(60),
    )
    .unwrap();
    let src = by_offset(&source);

    // Both groups stop at different places; partition 1 inside an aborted
    // transaction.
    let gap_in_1 = (1000..).find(|o| !src[&1].contains_key(o)).unwrap();
    let app: BTreeMap<i32, i64> = [(0, 700), (1, gap_in_1 + 1), (2, 1020)]
        .into_iter()
        .collect();
    let synced: BTreeMap<i32, i64> = [(0, 1005), (1, 10), (2, 999)].into_iter().collect();
    tools::set_group_offsets(
        &pair.source,
        "fo-dr-app",
        t,
        &app.iter().map(|(p, o)| (*p, *o)).collect::<Vec<_>>(),
    )
    .unwrap();
    tools::set_group_offsets(
        &pair.source,
        "fo-dr-sync",
        t,
        &synced.iter().map(|(p, o)| (*p, *o)).collect::<Vec<_>>(),
    )
    .unwrap();

    let base = format!("topics = {t}\nemit.checkpoints.interval.seconds = 1\n");
    let cfg = mm2_file(pair, "failover-dr", &format!("{base}groups = fo-dr-app\n"));
    let mut km = Kmirror::start(&cfg, &[]);
    wait_until(Duration::from_secs(90), "checkpoints of fo-dr-app", || {
        tools::mm2_translate_offsets(&pair.target, "A", "fo-dr-app")
            .map(|r| r.len())
            .unwrap_or(0)
            == 3
    });
    km.stop();

    // The source is out of reach for the failover.
    let dr = common::write_mm2(
        "failover-dr-cut",
        "127.0.0.1:1",
        &pair.target.bootstrap(),
        &base,
    );
    let dr_path = dr.to_string_lossy().into_owned();
    let (code, out) = run_kmirror(&["failover", &dr_path, "--group", "fo-dr-app", "--dry-run"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("dry run"), "{out}");
    assert!(
        tools::consumer_group_offsets(&pair.target, "fo-dr-app")
            .unwrap()
            .is_empty(),
        "a dry run commits nothing"
    );
    let (code, out) = run_kmirror(&["failover", &dr_path, "--group", "fo-dr-app"]);
    assert_eq!(code, Some(0), "{out}");
    let read = tools::resume_group(
        &pair.target,
        "A.fo-dr",
        "fo-dr-app",
        Duration::from_secs(60),
    )
    .unwrap();
    let (missing, reread) = losses_and_rereads(&expected_after(&src, &app), &read);
    println!(
        "kmirror failover: {} records read on the target, {missing} missing, {reread} read twice",
        read.len()
    );
    assert_eq!((missing, reread), (0, 0), "failover:\n{out}");
    // Again: the group is past its checkpoints now and stays there.
    let (code, again) = run_kmirror(&["failover", &dr_path, "--group", "fo-dr-app"]);
    assert_eq!(code, Some(0), "{again}");
    assert_eq!(again.matches("kept: already at").count(), 3, "{again}");

    // The other group, moved by the mirror itself.
    let cfg = mm2_file(
        pair,
        "failover-sync",
        &format!("{base}groups = fo-dr-sync\nsync.group.offsets.enabled = true\nsync.group.offsets.interval.seconds = 1\n"),
    );
    let mut km = Kmirror::start(&cfg, &[]);
    wait_until(
        Duration::from_secs(90),
        "fo-dr-sync's offsets on the target",
        || {
            tools::consumer_group_offsets(&pair.target, "fo-dr-sync")
                .map(|g| g.iter().filter(|o| o.offset.is_some()).count() == 3)
                .unwrap_or(false)
        },
    );
    km.stop();
    let read = tools::resume_group(
        &pair.target,
        "A.fo-dr",
        "fo-dr-sync",
        Duration::from_secs(60),
    )
    .unwrap();
    let (missing, reread) = losses_and_rereads(&expected_after(&src, &synced), &read);
    println!(
        "sync.group.offsets: {} records read on the target, {missing} missing, {reread} read twice",
        read.len()
    );
    assert_eq!((missing, reread), (0, 0));
}

/// Heartbeats as MirrorMaker 2 writes and mirrors them: Kafka's own
/// `RemoteClusterUtils.replicationHops` finds A one hop from B, and two
/// hops from C over A->B->C (C is the first cluster under a third alias).
#[test]
fn replication_hops_follow_heartbeats_across_two_hops() {
    let pair = pair(KAFKA_4);
    let (one, two) = (pair.source.bootstrap(), pair.target.bootstrap());
    let path = common::scratch("failover-hops").join("mm2.properties");
    std::fs::write(
        &path,
        format!(
            "clusters = A, B, C\n\
             A.bootstrap.servers = {one}\n\
             B.bootstrap.servers = {two}\n\
             C.bootstrap.servers = {one}\n\
             A->B.enabled = true\n\
             A->B.topics = fo-hops\n\
             B->C.enabled = true\n\
             B->C.topics = none-such\n\
             {ONE_REPLICA}\
             offset.flush.interval.ms = 500\n"
        ),
    )
    .unwrap();
    tools::create_topic(&pair.source, "fo-hops", 1, &[]).unwrap();
    let mut km = Kmirror::start(&path, &[]);
    let mut hops = (-1, -1);
    wait_until(
        Duration::from_secs(90),
        "heartbeats two hops downstream",
        || {
            hops = (
                tools::mm2_replication_hops(&pair.target, "A").unwrap_or(-1),
                tools::mm2_replication_hops(&pair.source, "A").unwrap_or(-1),
            );
            hops.0 == 1 && hops.1 == 2
        },
    );
    km.stop();
    let topics = tools::list_topics(&pair.source).unwrap();
    assert!(topics.iter().any(|t| t == "B.A.heartbeats"), "{topics:?}");
    // The beats decode as MirrorMaker 2's records and name the pair.
    let beats = tools::consume_all(
        &pair.target,
        "heartbeats",
        Isolation::ReadUncommitted,
        None,
        Duration::from_secs(60),
    )
    .unwrap();
    let pairs: std::collections::BTreeSet<(String, String)> = beats
        .iter()
        .map(|r| {
            let h = kmirror_proto::mm2::Heartbeat::decode(
                r.key.clone().unwrap_or_default().into(),
                r.value.clone().unwrap_or_default().into(),
            )
            .expect("a MirrorMaker 2 heartbeat");
            (h.source_alias, h.target_alias)
        })
        .collect();
    assert!(
        pairs.contains(&("A".to_string(), "B".to_string())),
        "{pairs:?}"
    );
}

/// Active/active with the default replication policy: each cluster mirrors
/// the other in one process; every record appears exactly once on the other
/// side under the prefixed name, and nothing comes back.
#[test]
fn active_active_mirrors_each_way_once_and_nothing_loops() {
    let pair = pair(KAFKA_4);
    let (a, b) = (pair.source.bootstrap(), pair.target.bootstrap());
    let t = "fo-aa";
    tools::create_topic(&pair.source, t, 2, &[]).unwrap();
    tools::create_topic(&pair.target, t, 2, &[]).unwrap();
    let on_a: Vec<TestRecord> = (0..400)
        .map(|i| TestRecord::new(format!("from-a-{i}")).with_partition(i % 2))
        .collect();
    let on_b: Vec<TestRecord> = (0..300)
        .map(|i| TestRecord::new(format!("from-b-{i}")).with_partition(i % 2))
        .collect();
    tools::produce(&pair.source, t, &on_a).unwrap();
    tools::produce(&pair.target, t, &on_b).unwrap();
    let path = common::scratch("failover-active-active").join("mm2.properties");
    std::fs::write(
        &path,
        format!(
            "clusters = A, B\n\
             A.bootstrap.servers = {a}\n\
             B.bootstrap.servers = {b}\n\
             A->B.enabled = true\n\
             B->A.enabled = true\n\
             topics = {t}, .*\\.{t}\n\
             {ONE_REPLICA}\
             offset.flush.interval.ms = 500\n"
        ),
    )
    .unwrap();
    let mut km = Kmirror::start(&path, &[]);
    wait_until(Duration::from_secs(90), "both directions mirrored", || {
        total_end_offset(&pair.target, "A.fo-aa") >= 400
            && total_end_offset(&pair.source, "B.fo-aa") >= 300
    });
    // Let anything that would loop show up.
    std::thread::sleep(Duration::from_secs(5));
    km.stop();
    for (cluster, topic, want) in [
        (&pair.target, "A.fo-aa", &on_a),
        (&pair.source, "B.fo-aa", &on_b),
    ] {
        let got = tools::consume_all(
            cluster,
            topic,
            Isolation::ReadCommitted,
            None,
            Duration::from_secs(60),
        )
        .unwrap();
        let mut values: Vec<String> = got
            .iter()
            .map(|r| String::from_utf8_lossy(r.value.as_deref().unwrap_or_default()).into_owned())
            .collect();
        values.sort();
        let mut wanted: Vec<String> = want
            .iter()
            .map(|r| String::from_utf8_lossy(&r.value.clone().unwrap_or_default()).into_owned())
            .collect();
        wanted.sort();
        assert_eq!(values, wanted, "{topic}: each record exactly once");
    }
    for (cluster, looped) in [
        (&pair.source, "A.B.fo-aa"),
        (&pair.source, "B.A.fo-aa"),
        (&pair.target, "B.A.fo-aa"),
        (&pair.target, "A.B.fo-aa"),
    ] {
        let topics = tools::list_topics(cluster).unwrap();
        assert!(
            !topics.iter().any(|x| x == looped),
            "{looped} must not exist: {topics:?}"
        );
    }
}

/// Failback under the identity policy: after A's topic was mirrored to B
/// and producers moved to B, `kmirror failback` starts the reverse flow
/// where A's copies end on B, so A gets each record written on B once and
/// none of its own again.
#[test]
fn failback_sends_back_only_what_was_written_after_failover() {
    let pair = pair(KAFKA_4);
    let (a, b) = (pair.source.bootstrap(), pair.target.bootstrap());
    let t = "fo-back";
    tools::create_topic(&pair.source, t, 2, &[]).unwrap();
    let originals: Vec<TestRecord> = (0..300)
        .map(|i| TestRecord::new(format!("a-{i}")).with_partition(i % 2))
        .collect();
    tools::produce(&pair.source, t, &originals).unwrap();
    let file = |name: &str, flow: &str| {
        let path = common::scratch(name).join("mm2.properties");
        std::fs::write(
            &path,
            format!(
                "clusters = A, B\n\
                 A.bootstrap.servers = {a}\n\
                 B.bootstrap.servers = {b}\n\
                 {flow}.enabled = true\n\
                 topics = {t}\n\
                 replication.policy.class = org.apache.kafka.connect.mirror.IdentityReplicationPolicy\n\
                 {ONE_REPLICA}\
                 offset.flush.interval.ms = 500\n"
            ),
        )
        .unwrap();
        path
    };
    let forward = file("failback-forward", "A->B");
    let mut km = Kmirror::start(&forward, &[]);
    let ends: Vec<(i32, i64)> = tools::end_offsets(&pair.source, t).unwrap();
    wait_until(
        Duration::from_secs(90),
        "A's records on B and the progress covering them",
        || tools::group_reached(&pair.target, "kmirror.progress.A.B", t, &ends).unwrap_or(false),
    );
    km.stop();

    // Failover: producers now write to B.
    let later: Vec<TestRecord> = (0..120)
        .map(|i| TestRecord::new(format!("b-{i}")).with_partition(i % 2))
        .collect();
    tools::produce(&pair.target, t, &later).unwrap();

    let reverse = file("failback-reverse", "B->A");
    let rev = reverse.to_string_lossy().into_owned();
    let (code, out) = run_kmirror(&["failback", &rev, "--source", "A", "--target", "B"]);
    assert_eq!(code, Some(0), "{out}");
    let back: i64 = out
        .lines()
        .skip_while(|l| !l.starts_with("TOPIC ON SOURCE"))
        .skip(1)
        .filter_map(|l| l.split_whitespace().nth(5)?.parse::<i64>().ok())
        .sum();
    assert_eq!(back, 120, "{out}");
    let mut km = Kmirror::start(&reverse, &[]);
    wait_until(Duration::from_secs(90), "B's new records back on A", || {
        total_end_offset(&pair.source, t) >= 420
    });
    std::thread::sleep(Duration::from_secs(2));
    km.stop();
    let on_a = tools::consume_all(
        &pair.source,
        t,
        Isolation::ReadCommitted,
        None,
        Duration::from_secs(60),
    )
    .unwrap();
    let mut got: Vec<String> = on_a
        .iter()
        .map(|r| String::from_utf8_lossy(r.value.as_deref().unwrap_or_default()).into_owned())
        .collect();
    got.sort();
    let mut want: Vec<String> = originals
        .iter()
        .chain(&later)
        .map(|r| String::from_utf8_lossy(&r.value.clone().unwrap_or_default()).into_owned())
        .collect();
    want.sort();
    assert_eq!(
        got, want,
        "A holds its own records once and B's new ones once"
    );
    // A second failback refuses: the reverse flow has its own progress now.
    let (code, out) = run_kmirror(&["failback", &rev, "--source", "A", "--target", "B"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("already has progress"), "{out}");
}

/// A compacted source whose batches have offset holes (rebuilt on the slow
/// path with consecutive offsets): a group committed on a hole or on a
/// record still resumes on the target at the record it would read next.
#[test]
fn translate_is_exact_across_compacted_holes() {
    let pair = pair(KAFKA_4);
    let t = "fo-compacted";
    tools::create_topic(&pair.source, t, 1, QUICK_COMPACTION).unwrap();
    let mut recs = Vec::new();
    for round in 0..6 {
        for i in 0..20 {
            let rec = if i % 2 == 0 {
                TestRecord::new(format!("r{round}-hot{i}")).with_key(format!("hot-{i}"))
            } else {
                TestRecord::new(format!("r{round}-cold{i}")).with_key(format!("cold-{round}-{i}"))
            };
            recs.push(rec.with_partition(0));
        }
    }
    for chunk in recs.chunks(20) {
        tools::produce_with(&pair.source, t, chunk, &[("linger.ms", "50")]).unwrap();
    }
    let mut source = Vec::new();
    wait_until(
        Duration::from_secs(120),
        "the log cleaner to compact the source",
        || {
            source = tools::consume_all(
                &pair.source,
                t,
                Isolation::ReadCommitted,
                None,
                Duration::from_secs(30),
            )
            .unwrap();
            source.len() < recs.len() && source.windows(2).any(|w| w[1].offset != w[0].offset + 1)
        },
    );
    let cfg = mm2_file(
        pair,
        "failover-compacted",
        &format!("topics = {t}\nsync.topic.configs.enabled = false\n"),
    );
    let mut km = Kmirror::start(&cfg, &[]);
    let ends = tools::end_offsets(&pair.source, t).unwrap();
    wait_until(
        Duration::from_secs(90),
        "the compacted topic mirrored",
        || {
            tools::group_reached(
                &pair.target,
                "kmirror.progress.A.B",
                "A.fo-compacted",
                &ends,
            )
            .unwrap_or(false)
        },
    );
    km.stop();
    let target = tools::consume_all(
        &pair.target,
        "A.fo-compacted",
        Isolation::ReadCommitted,
        None,
        Duration::from_secs(60),
    )
    .unwrap();
    let (src, tgt) = (by_offset(&source), by_offset(&target));
    let end = ends[0].1;
    let holes: Vec<i64> = (0..end).filter(|o| !src[&0].contains_key(o)).collect();
    let record = *src[&0].keys().nth(src[&0].len() / 2).unwrap();
    let cfg_path = cfg.to_string_lossy().into_owned();
    for (k, committed) in [
        holes[0],
        holes[holes.len() / 2],
        *holes.last().unwrap(),
        record,
        end,
    ]
    .into_iter()
    .enumerate()
    {
        let group = format!("fo-compacted-{k}");
        tools::set_group_offsets(&pair.source, &group, t, &[(0, committed)]).unwrap();
        let (code, out) = run_kmirror(&["offsets", "translate", &cfg_path, "--group", &group]);
        assert_eq!(code, Some(0), "{out}");
        let got = parse_table(&out)[&(t.to_string(), 0)]
            .1
            .unwrap_or_else(|| panic!("{out}"));
        let next_value = src[&0].range(committed..).next().map(|(_, v)| v);
        let first_read = tgt[&0].range(got..).next().map(|(_, v)| v);
        assert_eq!(
            first_read, next_value,
            "committed {committed}: translated {got}\n{out}"
        );
    }
}

/// A backlog of one record per source batch (an uncompressed and an lz4
/// topic): kmirror merges consecutive batches on the target, every record
/// keeps its key, value, headers, timestamp and offset, and groups translate
/// to exactly their source offsets.
#[test]
fn coalesced_small_batches_keep_every_record_and_an_exact_offset_map() {
    let pair = pair(KAFKA_4);
    let topics = [("fo-tiny", "none"), ("fo-tiny-lz4", "lz4")];
    // Recent (an old timestamp would let retention delete the segment).
    let minute_ago = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
        - 60_000;
    for (t, codec) in topics {
        tools::create_topic(&pair.source, t, 2, &[]).unwrap();
        let recs: Vec<TestRecord> = (0..300)
            .map(|i| {
                let mut r = TestRecord::new(format!("{t}-{i}")).with_partition(i % 2);
                if i % 3 == 0 {
                    r = r.with_key(format!("k{i}"));
                }
                if i % 7 == 0 {
                    r = r.with_header("h", format!("{i}")).with_header("e", "");
                }
                if i % 13 == 0 {
                    r = r.with_null_value();
                }
                if i % 5 == 0 {
                    // Older than the record before it: a negative delta
                    // in the merged batch.
                    r = r.with_timestamp(minute_ago + i64::from(i));
                }
                r
            })
            .collect();
        // batch.size 0: the producer sends every record as its own batch.
        tools::produce_with(
            &pair.source,
            t,
            &recs,
            &[
                ("batch.size", "0"),
                ("linger.ms", "0"),
                ("compression.type", codec),
            ],
        )
        .unwrap();
    }
    let cfg = mm2_file(pair, "failover-coalesce", "topics = fo-tiny, fo-tiny-lz4\n");
    let mut km = Kmirror::start(&cfg, &[]);
    for (t, _) in topics {
        let ends = tools::end_offsets(&pair.source, t).unwrap();
        assert_eq!(ends.iter().map(|(_, o)| o).sum::<i64>(), 300);
        wait_until(
            Duration::from_secs(90),
            "the small batches mirrored",
            || {
                tools::group_reached(
                    &pair.target,
                    "kmirror.progress.A.B",
                    &format!("A.{t}"),
                    &ends,
                )
                .unwrap_or(false)
            },
        );
    }
    km.stop();
    let out = km.output();
    let merged: u64 = out
        .split("; ")
        .find_map(|part| {
            let (n, _) = part.split_once(" small source batches merged")?;
            n.trim().parse().ok()
        })
        .unwrap_or_else(|| panic!("no batches merged:\n{out}"));
    // 600 one-record batches, a backlog that fits in a fetch per partition.
    assert!(merged >= 300, "only {merged} batches merged:\n{out}");
    let cfg_path = cfg.to_string_lossy().into_owned();
    for (t, _) in topics {
        let target = format!("A.{t}");
        common::assert_mirrored_exactly(&pair.source, t, &pair.target, &target);
        for committed in [1, 76, 149, 150] {
            let group = format!("{t}-group-{committed}");
            tools::set_group_offsets(&pair.source, &group, t, &[(0, committed), (1, committed)])
                .unwrap();
            let (code, out) = run_kmirror(&["offsets", "translate", &cfg_path, "--group", &group]);
            assert_eq!(code, Some(0), "{out}");
            let rows = parse_table(&out);
            for p in 0..2 {
                let got = rows[&(t.to_string(), p)].1;
                assert_eq!(
                    got,
                    Some(committed),
                    "{t}[{p}] committed {committed}:\n{out}"
                );
            }
        }
    }
}

/// `kmirror failover --to-time` places a group without checkpoints by
/// timestamp, on the topics named with `--topic`, reading only the target.
#[test]
fn failover_to_time_places_a_group_without_checkpoints() {
    let pair = pair(KAFKA_4);
    let t = "fo-time";
    tools::create_topic(&pair.target, t, 1, &[]).unwrap();
    // Recent times: the harness's brokers check retention every second,
    // and a segment whose newest record is older than retention.ms (a week)
    // is deleted whole, which once left the topic empty before the lookup.
    let base = kmirror::client::small_topic::now_ms() - 3_600_000;
    let recs: Vec<TestRecord> = (0..20)
        .map(|i| {
            TestRecord::new(format!("t-{i}"))
                .with_partition(0)
                .with_timestamp(base + 1000 * i)
        })
        .collect();
    tools::produce(&pair.target, t, &recs).unwrap();
    // Every record readable before times are looked up.
    wait_until(Duration::from_secs(30), "fo-time's records", || {
        total_end_offset(&pair.target, t) >= 20
    });
    let cfg = common::write_mm2(
        "failover-to-time",
        "127.0.0.1:1",
        &pair.target.bootstrap(),
        "",
    );
    let cfg = cfg.to_string_lossy().into_owned();
    let at = (base + 7000).to_string();
    let (code, out) = run_kmirror(&[
        "failover",
        &cfg,
        "--group",
        "fo-time-g",
        "--to-time",
        &at,
        "--topic",
        t,
    ]);
    assert_eq!(code, Some(0), "{out}");
    let got = tools::consumer_group_offsets(&pair.target, "fo-time-g").unwrap();
    assert_eq!(
        got.iter().find(|g| g.topic == t).and_then(|g| g.offset),
        Some(7),
        "{out}"
    );
    // An RFC 3339 time past the last record places it at the end.
    let (code, out) = run_kmirror(&[
        "failover",
        &cfg,
        "--group",
        "fo-time-h",
        "--to-time",
        "2030-01-01T00:00:00Z",
        "--topic",
        t,
    ]);
    assert_eq!(code, Some(0), "{out}");
    let got = tools::consumer_group_offsets(&pair.target, "fo-time-h").unwrap();
    assert_eq!(
        got.iter().find(|g| g.topic == t).and_then(|g| g.offset),
        Some(20),
        "{out}"
    );
}

/// Offset-preserving mode: on empty target partitions every committed
/// record lands at its source offset, across a log start above 0, aborted
/// and committed transactions (markers at the end too) and compacted-away
/// records, and after a clean restart; read_committed consumers of the
/// target see no placeholder, and a group translates to the same numbers.
#[test]
fn offset_preserving_mode_keeps_every_record_at_its_source_offset() {
    let pair = pair(KAFKA_4);
    let (t, tc, tb) = ("keep", "keep-c", "keep-big");
    tools::create_topic(&pair.source, t, 3, &[]).unwrap();
    // Partition 0: its first 120 records deleted.
    let plain = |prefix: &str, n: i32, p: i32| -> Vec<TestRecord> {
        (0..n)
            .map(|i| TestRecord::new(format!("{prefix}-{i}")).with_partition(p))
            .collect()
    };
    tools::produce(&pair.source, t, &plain("p0", 300, 0)).unwrap();
    tools::delete_records(&pair.source, t, &[(0, 120)]).unwrap();
    // Partitions 1 and 2: transactions, some aborted, plain records
    // between them; partition 2 ends on a commit marker.
    let txns = |round: i32| -> Vec<(TxnOutcome, Vec<TestRecord>)> {
        (0..6)
            .map(|i| {
                let outcome = if i % 3 == 1 {
                    TxnOutcome::Abort
                } else {
                    TxnOutcome::Commit
                };
                let recs = (0..10)
                    .map(|j| {
                        TestRecord::new(format!("tx{round}-{i}-{j}")).with_partition(1 + j % 2)
                    })
                    .collect();
                (outcome, recs)
            })
            .collect()
    };
    tools::produce(&pair.source, t, &plain("p1", 40, 1)).unwrap();
    // A log start far above 0: the gap takes several placeholder
    // transactions.
    tools::create_topic(&pair.source, tb, 1, &[]).unwrap();
    tools::producer_perf(
        &pair.source,
        tb,
        250_000,
        10,
        -1,
        &[("batch.size", "65536")],
    )
    .unwrap();
    tools::delete_records(&pair.source, tb, &[(0, 245_000)]).unwrap();
    tools::produce_transactions(&pair.source, t, "kmirror-keep", &txns(0)).unwrap();
    tools::produce(&pair.source, t, &plain("p1-tail", 5, 1)).unwrap();
    // A compacted topic whose cleaned log has holes of every size.
    tools::create_topic(&pair.source, tc, 1, QUICK_COMPACTION).unwrap();
    let keyed: Vec<TestRecord> = (0..200)
        .map(|i| {
            let key = if i % 3 == 0 {
                format!("hot-{}", i % 7)
            } else {
                format!("cold-{i}")
            };
            TestRecord::new(format!("c-{i}"))
                .with_key(key)
                .with_partition(0)
        })
        .collect();
    for chunk in keyed.chunks(25) {
        tools::produce_with(&pair.source, tc, chunk, &[("linger.ms", "50")]).unwrap();
    }
    wait_until(
        Duration::from_secs(120),
        "the log cleaner to compact keep-c",
        || {
            tools::consume_all(
                &pair.source,
                tc,
                Isolation::ReadCommitted,
                None,
                Duration::from_secs(30),
            )
            .map(|r| r.len() < keyed.len())
            .unwrap_or(false)
        },
    );

    let cfg = mm2_file(
        pair,
        "offsets-preserve",
        &format!(
            "topics = {t}, {tc}, {tb}\nsync.topic.configs.enabled = false\nkmirror.offsets.preserve = true\noffset.flush.interval.ms = 600000\n"
        ),
    );
    let same_ends = |topic: &str| {
        let want = tools::end_offsets(&pair.source, topic).unwrap();
        wait_until(
            Duration::from_secs(90),
            &format!("A.{topic} ends where {topic} ends"),
            || tools::end_offsets(&pair.target, &format!("A.{topic}")).ok() == Some(want.clone()),
        );
    };
    let check = |topic: &str| {
        let read = |cluster, name: &str, isolation| {
            tools::consume_all(cluster, name, isolation, None, Duration::from_secs(60)).unwrap()
        };
        let src = read(&pair.source, topic, Isolation::ReadCommitted);
        let tgt = read(
            &pair.target,
            &format!("A.{topic}"),
            Isolation::ReadCommitted,
        );
        let essence = |r: &ConsumedRecord| (r.partition, r.offset, r.key.clone(), r.value.clone());
        let (src_e, tgt_e): (Vec<_>, Vec<_>) = (
            src.iter().map(essence).collect(),
            tgt.iter().map(essence).collect(),
        );
        assert_eq!(src_e.len(), tgt_e.len(), "{topic}: records read");
        assert_eq!(src_e, tgt_e, "{topic}: every record at its source offset");
        let holes = src
            .windows(2)
            .filter(|w| w[0].partition == w[1].partition && w[1].offset != w[0].offset + 1)
            .count();
        // The placeholders are there for read_uncommitted readers only.
        let raw = read(
            &pair.target,
            &format!("A.{topic}"),
            Isolation::ReadUncommitted,
        );
        let placeholders = raw
            .iter()
            .filter(|r| r.headers.iter().any(|(k, _)| k == PLACEHOLDER_HEADER))
            .count();
        (placeholders, holes)
    };

    // Other tests mirror `heartbeats` to the same target: only this test's
    // topics must stay preserved.
    let left_the_mode = |out: &str| {
        out.lines()
            .any(|l| l.contains("no longer preserved") && l.contains("topic=A.keep"))
    };
    let mut km = Kmirror::start(&cfg, &[]);
    same_ends(t);
    same_ends(tc);
    same_ends(tb);
    km.stop();
    let out = km.output();
    assert!(out.contains("placeholder fills"), "{out}");
    assert!(!left_the_mode(&out), "{out}");
    // The placeholders below the source's log start are deleted.
    for topic in [t, tb] {
        assert_eq!(
            tools::start_offsets(&pair.target, &format!("A.{topic}")).unwrap(),
            tools::start_offsets(&pair.source, topic).unwrap()
        );
    }
    check(tb);
    let (placeholders, _) = check(t);
    assert!(
        placeholders >= 2 * 10,
        "{placeholders} placeholders: the aborted transactions' records and markers"
    );
    // Single compacted-away offsets take an abort marker each.
    assert!(check(tc).1 > 10, "the cleaner left holes in keep-c");

    // A clean stop leaves the target where progress stands: a restart
    // keeps preserving.
    tools::produce_transactions(&pair.source, t, "kmirror-keep", &txns(1)).unwrap();
    let mut km = Kmirror::start(&cfg, &[]);
    same_ends(t);
    km.stop();
    let out = km.output();
    assert!(!left_the_mode(&out), "{out}");
    check(t);

    // An unclean stop after writing past the last progress commit (only
    // clean stops commit here): the restart finds the source's records at
    // their offsets on the target and continues after them, writing
    // nothing twice.
    let mut km = Kmirror::start(&cfg, &[]);
    tools::produce(&pair.source, t, &plain("p0-more", 500, 0)).unwrap();
    tools::produce_transactions(&pair.source, t, "kmirror-keep", &txns(2)).unwrap();
    same_ends(t);
    km.kill();
    let mut km = Kmirror::start(&cfg, &[]);
    tools::produce(&pair.source, t, &plain("p0-last", 50, 0)).unwrap();
    same_ends(t);
    km.stop();
    let out = km.output();
    assert!(out.contains("continuing at offset"), "{out}");
    assert!(!left_the_mode(&out), "{out}");
    check(t);

    // A group fails over by committing the same numbers.
    let src = by_offset(
        &tools::consume_all(
            &pair.source,
            t,
            Isolation::ReadCommitted,
            None,
            Duration::from_secs(60),
        )
        .unwrap(),
    );
    let gap_in_1 = (0..).find(|o| !src[&1].contains_key(o)).unwrap();
    let committed = [(0, 150), (1, gap_in_1), (2, 7)];
    tools::set_group_offsets(&pair.source, "keep-g", t, &committed).unwrap();
    let cfg_path = cfg.to_string_lossy().into_owned();
    let (code, out) = run_kmirror(&["offsets", "translate", &cfg_path, "--group", "keep-g"]);
    assert_eq!(code, Some(0), "{out}");
    let rows = parse_table(&out);
    for (p, offset) in committed {
        // At a gap, the next record's offset is as good: nothing a
        // read_committed consumer sees lies between.
        let next_record = src[&p].range(offset..).next().map(|(o, _)| *o);
        let got = rows[&(t.to_string(), p)].1;
        assert!(
            got == Some(offset) || got == next_record,
            "partition {p} committed at {offset}\n{out}"
        );
    }
}

/// `kmirror failover` refuses a group that still has a live member on the
/// target (a kcat consumer in the group), and moves it once the member
/// has gone.
#[test]
fn failover_refuses_a_group_with_live_members() {
    let pair = pair(KAFKA_4);
    let t = "fo-live";
    tools::create_topic(&pair.target, t, 1, &[]).unwrap();
    tools::produce(
        &pair.target,
        t,
        &(0..10)
            .map(|i| TestRecord::new(format!("live-{i}")).with_partition(0))
            .collect::<Vec<_>>(),
    )
    .unwrap();
    let cfg = common::write_mm2("failover-live", "127.0.0.1:1", &pair.target.bootstrap(), "");
    let cfg = cfg.to_string_lossy().into_owned();
    let args = [
        "failover",
        cfg.as_str(),
        "--group",
        "fo-live-g",
        "--to-time",
        "0",
        "--topic",
        t,
    ];
    let mut member = std::process::Command::new("kcat")
        .args(["-b", &pair.target.bootstrap(), "-q"])
        // A member that commits nothing, not even when it leaves.
        .args(["-X", "enable.auto.commit=false"])
        .args(["-X", "enable.auto.offset.store=false"])
        .args(["-G", "fo-live-g", t])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("kcat starts");
    let mut refused = String::new();
    wait_until(
        Duration::from_secs(60),
        "the refusal of a live group",
        || {
            let (code, out) = run_kmirror(&args);
            refused = out;
            code != Some(0) && refused.contains("has active members")
        },
    );
    assert!(refused.contains("fo-live-g"), "{refused}");
    assert!(
        tools::consumer_group_offsets(&pair.target, "fo-live-g")
            .unwrap()
            .iter()
            .all(|g| g.offset.is_none() || g.offset == Some(0)),
        "a refused failover commits nothing"
    );
    // SAFETY: kill(2) on our own child's pid; kcat leaves the group on SIGTERM.
    unsafe {
        libc::kill(member.id() as i32, libc::SIGTERM);
    }
    let _ = member.wait();
    // Once the member has left, the group is moved.
    let mut moved = String::new();
    wait_until(
        Duration::from_secs(90),
        "the failover once the member left",
        || {
            let (code, out) = run_kmirror(&args);
            moved = out;
            code == Some(0)
        },
    );
    let got = tools::consumer_group_offsets(&pair.target, "fo-live-g").unwrap();
    assert_eq!(
        got.iter().find(|g| g.topic == t).and_then(|g| g.offset),
        Some(0),
        "{moved}"
    );
}
