//! The mirroring scenarios, each run against a real cluster pair of the
//! given Kafka version and checked with Kafka's own consumer.

use std::time::Duration;

use kmirror_harness::tools::{self, TestRecord, TxnOutcome};

use super::*;

pub fn records(n: usize, tag: &str, partitions: i32) -> Vec<TestRecord> {
    (0..n)
        .map(|i| {
            TestRecord::new(format!("{tag}-value-{i}-{}", "x".repeat(i % 50)))
                .with_key(format!("{tag}-key-{}", i % 97))
                .with_partition((i as i32) % partitions)
        })
        .collect()
}

pub fn partitions_1_3_12_and_every_codec(version: &str) {
    let pair = pair(version);
    let mut topics = Vec::new();
    for (codec, parts) in [
        ("none", 1),
        ("gzip", 3),
        ("snappy", 12),
        ("lz4", 3),
        ("zstd", 12),
    ] {
        let t = format!("codec-{codec}-{parts}");
        tools::create_topic(&pair.source, &t, parts, &[]).unwrap();
        tools::produce_with(
            &pair.source,
            &t,
            &records(1500, codec, parts),
            &[("compression.type", codec), ("linger.ms", "20")],
        )
        .unwrap();
        topics.push(t);
    }
    // A bulk stream from Kafka's producer perf tool into 12 partitions.
    tools::create_topic(&pair.source, "perf-12", 12, &[]).unwrap();
    tools::producer_perf(
        &pair.source,
        "perf-12",
        20_000,
        1024,
        -1,
        &[("compression.type", "lz4")],
    )
    .unwrap();
    topics.push("perf-12".into());

    let cfg = mm2_file(pair, "codecs", &format!("topics = {}", topics.join(", ")));
    let mut km = Kmirror::start(&cfg, &[]);
    for t in &topics {
        let want = total_end_offset(&pair.source, t);
        wait_until(
            Duration::from_secs(120),
            &format!("A.{t} to catch up"),
            || total_end_offset(&pair.target, &format!("A.{t}")) >= want,
        );
    }
    assert_eq!(km.stop(), Some(0), "{}", km.output());
    for t in &topics {
        assert_mirrored_exactly(&pair.source, t, &pair.target, &format!("A.{t}"));
        assert_eq!(
            tools::partition_count(&pair.target, &format!("A.{t}")).unwrap(),
            tools::partition_count(&pair.source, t).unwrap()
        );
    }
    let out = km.output();
    assert!(
        out.contains("slow-path copies 0 bytes"),
        "plain batches must not be copied:\n{out}"
    );
}

/// Sixty partitions over one worker with `--streams 3`: fetches go as
/// increments of fetch sessions (KIP-227), each worker holds three
/// connections per broker, and every record, backlog and live, arrives once
/// and in order.
pub fn fetch_sessions_and_streams(version: &str) {
    let pair = pair(version);
    let topics = ["streams-a", "streams-b", "streams-c"];
    for t in topics {
        tools::create_topic(&pair.source, t, 20, &[]).unwrap();
        tools::produce(&pair.source, t, &records(400, t, 20)).unwrap();
    }
    let cfg = mm2_file(pair, "streams", "topics = streams-.*");
    let cpu = kmirror::net::affinity::allowed_cpus()[0].to_string();
    let mut km = Kmirror::start(&cfg, &["--cpus", &cpu, "--streams", "3"]);
    let caught_up = |topic: &str| {
        total_end_offset(&pair.target, &format!("A.{topic}"))
            >= total_end_offset(&pair.source, topic)
    };
    for t in topics {
        wait_until(Duration::from_secs(120), &format!("A.{t} backlog"), || {
            caught_up(t)
        });
    }
    // One worker, three streams: three fetch connections to the source
    // broker and three produce connections to the target, besides the
    // control thread's one each.
    let (src_port, tgt_port) = (pair.source.broker_port(), pair.target.broker_port());
    let source_conns = connections_to(km.pid(), src_port);
    let target_conns = connections_to(km.pid(), tgt_port);
    assert!(
        source_conns >= 4 && target_conns >= 4,
        "expected 3 streams + 1 control connection per cluster, got {source_conns} to the source and {target_conns} to the target"
    );
    // Live records while sessions are open.
    for t in topics {
        tools::produce(&pair.source, t, &records(200, &format!("{t}-live"), 20)).unwrap();
    }
    for t in topics {
        wait_until(Duration::from_secs(120), &format!("A.{t} live"), || {
            caught_up(t)
        });
    }
    assert_eq!(km.stop(), Some(0), "{}", km.output());
    for t in topics {
        assert_mirrored_exactly(&pair.source, t, &pair.target, &format!("A.{t}"));
    }
    let out = km.output();
    let (requests, in_sessions) = fetch_counts(&out);
    assert!(
        in_sessions > 0 && in_sessions * 2 >= requests,
        "fetches should go as fetch-session increments: {in_sessions} of {requests}\n{out}"
    );
}

/// The summary's "N fetch requests, M of them in fetch sessions".
fn fetch_counts(out: &str) -> (u64, u64) {
    let re = regex::Regex::new(r"(\d+) fetch requests, (\d+) of them in fetch sessions").unwrap();
    let c = re
        .captures(out)
        .unwrap_or_else(|| panic!("no fetch counts in the summary:\n{out}"));
    (c[1].parse().unwrap(), c[2].parse().unwrap())
}

pub fn headers_null_keys_null_values_and_timestamps(version: &str) {
    let pair = pair(version);
    let t = "fields";
    tools::create_topic(&pair.source, t, 2, &[]).unwrap();
    let recs = vec![
        TestRecord::new("plain").with_key("k1").with_partition(0),
        TestRecord::new("no-key").with_partition(0),
        TestRecord::default()
            .with_key("tombstone")
            .with_null_value()
            .with_partition(1),
        TestRecord::new("").with_key("").with_partition(1),
        TestRecord::new("with-headers")
            .with_key("k2")
            .with_header("trace", "abc")
            .with_header("empty", "")
            .with_header("trace", "dup-name")
            .with_partition(0),
        TestRecord::new("old")
            .with_key("k3")
            .with_timestamp(1_600_000_000_123)
            .with_partition(1),
        TestRecord::new(vec![0u8, 159, 146, 150, 255])
            .with_key(vec![255u8, 0])
            .with_timestamp(1_700_000_000_000)
            .with_partition(0),
    ];
    tools::produce(&pair.source, t, &recs).unwrap();
    // kmirror's own socket keys ride along: they must be applied, not warned about.
    let cfg = mm2_file(
        pair,
        "fields",
        &format!("topics = {t}\nkmirror.tcp.congestion.control = reno\nkmirror.tcp.notsent.lowat.bytes = 131072"),
    );
    let mut km = Kmirror::start(&cfg, &[]);
    let want = total_end_offset(&pair.source, t);
    wait_until(Duration::from_secs(90), "fields mirrored", || {
        total_end_offset(&pair.target, "A.fields") >= want
    });
    km.stop();
    let out = km.output();
    assert!(
        out.contains("congestion control reno") && out.contains("notsent_lowat 131072"),
        "{out}"
    );
    assert!(
        !out.contains("kmirror.tcp"),
        "socket keys reported as unknown:\n{out}"
    );
    assert_mirrored_exactly(&pair.source, t, &pair.target, "A.fields");
}

pub fn aborted_transactions_never_reach_the_target(version: &str) {
    let pair = pair(version);
    let t = "txn";
    tools::create_topic(&pair.source, t, 3, &[]).unwrap();
    let mut txns = Vec::new();
    for i in 0..12 {
        let outcome = if i % 3 == 1 {
            TxnOutcome::Abort
        } else {
            TxnOutcome::Commit
        };
        let recs: Vec<TestRecord> = (0..40)
            .map(|j| TestRecord::new(format!("txn{i}-rec{j}-{outcome:?}")).with_partition(j % 3))
            .collect();
        txns.push((outcome, recs));
    }
    tools::produce_transactions(&pair.source, t, "kmirror-test-txn", &txns).unwrap();
    // Plain records after the transactions, to see the mirror passes the markers.
    tools::produce(&pair.source, t, &records(30, "after", 3)).unwrap();
    let cfg = mm2_file(pair, "txn", &format!("topics = {t}"));
    let mut km = Kmirror::start(&cfg, &[]);
    let committed = tools::consume_all(
        &pair.source,
        t,
        tools::Isolation::ReadCommitted,
        None,
        Duration::from_secs(60),
    )
    .unwrap();
    assert_eq!(committed.len(), 8 * 40 + 30);
    wait_until(
        Duration::from_secs(90),
        "committed records mirrored",
        || total_end_offset(&pair.target, "A.txn") >= committed.len() as i64,
    );
    // Give a straggler time to show up, then compare.
    std::thread::sleep(Duration::from_secs(2));
    km.stop();
    let mirrored = tools::consume_all(
        &pair.target,
        "A.txn",
        tools::Isolation::ReadUncommitted,
        None,
        Duration::from_secs(60),
    )
    .unwrap();
    assert!(
        mirrored.iter().all(
            |r| !String::from_utf8_lossy(r.value.as_deref().unwrap_or_default()).contains("Abort")
        ),
        "aborted records reached the target"
    );
    assert_mirrored_exactly(&pair.source, t, &pair.target, "A.txn");
}

pub fn compacted_topic_after_cleaning(version: &str) {
    let pair = pair(version);
    let t = "compacted";
    tools::create_topic(&pair.source, t, 1, QUICK_COMPACTION).unwrap();
    // Each batch mixes keys that later batches overwrite ("hot") with keys
    // written once ("cold"), so cleaning leaves batches with offset holes.
    let mut recs = Vec::new();
    for round in 0..6 {
        for i in 0..20 {
            let rec = if i % 2 == 0 {
                TestRecord::new(format!("round{round}-hot{i}")).with_key(format!("hot-{i}"))
            } else if round == 5 && i % 5 == 0 {
                TestRecord::default()
                    .with_key(format!("cold-0-{i}"))
                    .with_null_value()
            } else {
                TestRecord::new(format!("round{round}-cold{i}"))
                    .with_key(format!("cold-{round}-{i}"))
            };
            recs.push(rec.with_partition(0));
        }
    }
    for chunk in recs.chunks(20) {
        tools::produce_with(&pair.source, t, chunk, &[("linger.ms", "50")]).unwrap();
    }
    // Wait until the cleaner has removed records: offsets now have holes.
    wait_until(
        Duration::from_secs(120),
        "the log cleaner to compact the source",
        || {
            let got = tools::consume_all(
                &pair.source,
                t,
                tools::Isolation::ReadCommitted,
                None,
                Duration::from_secs(30),
            )
            .unwrap();
            got.len() < recs.len() && got.windows(2).any(|w| w[1].offset != w[0].offset + 1)
        },
    );
    let cfg = mm2_file(
        pair,
        "compacted",
        &format!("topics = {t}\nsync.topic.configs.enabled = false"),
    );
    let mut km = Kmirror::start(&cfg, &[]);
    let src = tools::consume_all(
        &pair.source,
        t,
        tools::Isolation::ReadCommitted,
        None,
        Duration::from_secs(30),
    )
    .unwrap();
    wait_until(Duration::from_secs(90), "compacted topic mirrored", || {
        tools::consume_all(
            &pair.target,
            "A.compacted",
            tools::Isolation::ReadCommitted,
            None,
            Duration::from_secs(30),
        )
        .map(|v| v.len() >= src.len())
        .unwrap_or(false)
    });
    km.stop();
    assert_mirrored_exactly(&pair.source, t, &pair.target, "A.compacted");
    assert!(
        !km.output().contains(" in 0 re-encoded batches"),
        "holes must take the re-encoding path:\n{}",
        km.output()
    );
}

pub fn naming_policies_exclude_and_discovery(version: &str) {
    let pair = pair(version);
    for t in ["names-keep", "names-skip", "names.internal"] {
        tools::create_topic(&pair.source, t, 1, &[]).unwrap();
        tools::produce(&pair.source, t, &records(20, t, 1)).unwrap();
    }
    let cfg = mm2_file(
        pair,
        "names",
        "topics = names-.*\n\
         topics.exclude = names-skip, .*[\\-\\.]internal\n\
         refresh.topics.interval.seconds = 2\n\
         replication.policy.class = org.apache.kafka.connect.mirror.IdentityReplicationPolicy",
    );
    let mut km = Kmirror::start(&cfg, &[]);
    wait_until(Duration::from_secs(60), "names-keep mirrored", || {
        total_end_offset(&pair.target, "names-keep") >= 20
    });
    // A topic created while kmirror runs is picked up on the refresh interval.
    tools::create_topic(&pair.source, "names-late", 2, &[]).unwrap();
    tools::produce(&pair.source, "names-late", &records(25, "late", 2)).unwrap();
    wait_until(Duration::from_secs(60), "names-late mirrored", || {
        total_end_offset(&pair.target, "names-late") >= 25
    });
    km.stop();
    let target_topics = tools::list_topics(&pair.target).unwrap();
    assert!(
        !target_topics.iter().any(|t| t == "names-skip"),
        "topics.exclude ignored: {target_topics:?}"
    );
    assert!(
        !target_topics.iter().any(|t| t.contains("names.internal")),
        "internal topic mirrored: {target_topics:?}"
    );
    assert_mirrored_exactly(&pair.source, "names-keep", &pair.target, "names-keep");
    assert_mirrored_exactly(&pair.source, "names-late", &pair.target, "names-late");
}

pub fn default_policy_prefixes_and_refuses_cycles(version: &str) {
    let pair = pair(version);
    tools::create_topic(&pair.source, "cyc", 1, &[]).unwrap();
    tools::create_topic(&pair.source, "B.cyc", 1, &[]).unwrap();
    tools::produce(&pair.source, "cyc", &records(10, "c", 1)).unwrap();
    tools::produce(&pair.source, "B.cyc", &records(10, "b", 1)).unwrap();
    let cfg = mm2_file(
        pair,
        "cycle",
        "topics = cyc, B\\.cyc\nreplication.policy.separator = .",
    );
    let mut km = Kmirror::start(&cfg, &[]);
    wait_until(Duration::from_secs(60), "A.cyc mirrored", || {
        total_end_offset(&pair.target, "A.cyc") >= 10
    });
    std::thread::sleep(Duration::from_secs(2));
    km.stop();
    let target_topics = tools::list_topics(&pair.target).unwrap();
    assert!(
        !target_topics.iter().any(|t| t == "A.B.cyc"),
        "a topic from the target came back: {target_topics:?}"
    );
}

pub fn stop_and_restart_loses_nothing(version: &str) {
    let pair = pair(version);
    let t = "restart";
    tools::create_topic(&pair.source, t, 3, &[]).unwrap();
    let cfg = mm2_file(pair, "restart", &format!("topics = {t}"));
    let producer = produce_in_background(&pair.source, t, 20, 300, 3);
    let mut km = Kmirror::start(&cfg, &[]);
    wait_until(Duration::from_secs(60), "some progress", || {
        total_end_offset(&pair.target, "A.restart") > 500
    });
    km.stop();
    // A crash this time: SIGKILL mid-stream.
    let mut km = Kmirror::start(&cfg, &[]);
    wait_until(Duration::from_secs(60), "more progress", || {
        total_end_offset(&pair.target, "A.restart") > 2500
    });
    km.kill();
    producer.join().unwrap();
    let mut km = Kmirror::start(&cfg, &[]);
    let want = total_end_offset(&pair.source, t);
    assert_eq!(want, 6000);
    wait_until(
        Duration::from_secs(90),
        "all records after restarts",
        || total_end_offset(&pair.target, "A.restart") >= want,
    );
    std::thread::sleep(Duration::from_secs(1));
    km.stop();
    assert!(
        km.output().contains("resuming from committed progress"),
        "{}",
        km.output()
    );
    assert_mirrored_at_least_once(&pair.source, t, &pair.target, "A.restart");
}

/// `batches` rounds of `per_batch` numbered records spread over
/// `partitions`, produced to `topic` on a thread of their own.
pub fn produce_in_background(
    cluster: &KafkaCluster,
    topic: &str,
    batches: usize,
    per_batch: i32,
    partitions: i32,
) -> std::thread::JoinHandle<()> {
    let c = Bootstrap(cluster.bootstrap());
    let topic = topic.to_string();
    std::thread::spawn(move || {
        for batch in 0..batches {
            let recs: Vec<TestRecord> = (0..per_batch)
                .map(|i| {
                    TestRecord::new(format!("b{batch}-r{i}"))
                        .with_key(format!("k{i}"))
                        .with_partition(i % partitions)
                })
                .collect();
            tools::produce(&c, &topic, &recs).unwrap();
        }
    })
}

pub struct Bootstrap(pub String);

impl tools::BootstrapServers for Bootstrap {
    fn bootstrap_servers(&self) -> String {
        self.0.clone()
    }
}

pub fn rejected_batch_stops_only_its_partition(version: &str) {
    let pair = pair(version);
    let t = "reject";
    tools::create_topic(&pair.source, t, 2, &[]).unwrap();
    // The target topic exists already and refuses batches over 2000 bytes.
    tools::create_topic(
        &pair.target,
        "A.reject",
        2,
        &[("max.message.bytes", "2000")],
    )
    .unwrap();
    let mut recs = Vec::new();
    for i in 0..20 {
        recs.push(TestRecord::new(format!("small-{i}")).with_partition(1));
    }
    recs.push(
        TestRecord::new(vec![b'x'; 5000])
            .with_key("big")
            .with_partition(0),
    );
    for i in 0..5 {
        recs.push(TestRecord::new(format!("after-big-{i}")).with_partition(0));
    }
    tools::produce(&pair.source, t, &recs).unwrap();
    // The target's own max.message.bytes stays: config sync would remove
    // it (the source leaves it at its default), as MirrorMaker 2 does.
    let cfg = mm2_file(
        pair,
        "reject",
        &format!("topics = {t}\nsync.topic.configs.enabled = false"),
    );
    let mut km = Kmirror::start(&cfg, &[]);
    wait_until(Duration::from_secs(60), "partition 1 mirrored", || {
        tools::end_offsets(&pair.target, "A.reject")
            .map(|v| v.contains(&(1, 20)))
            .unwrap_or(false)
    });
    wait_until(
        Duration::from_secs(30),
        "the rejection to be reported",
        || {
            km.output().contains("MESSAGE_TOO_LARGE")
                || km.output().contains("RECORD_LIST_TOO_LARGE")
        },
    );
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        km.is_running(),
        "a rejected batch must not stop kmirror:\n{}",
        km.output()
    );
    // /health names it (the report reaches the control thread within a
    // second or so).
    let mut health = (0, String::new());
    wait_until(Duration::from_secs(10), "/health to turn 503", || {
        health = km.get("/health");
        health.0 == 503
    });
    assert!(
        health
            .1
            .contains("partition reject[0] of flow A->B stopped")
            && health.1.contains("MESSAGE_TOO_LARGE") | health.1.contains("RECORD_LIST_TOO_LARGE"),
        "{}",
        health.1
    );
    // `kmirror status` lists the stopped partition first and exits 2.
    let addr = km.metrics_address().expect("the metrics address");
    let (status, out) = run_kmirror(&["status", &addr, "--once"]);
    assert_eq!(status, Some(2), "{out}");
    assert!(
        out.contains("UNHEALTHY") && out.contains("! partition reject[0]"),
        "{out}"
    );
    let first = out
        .lines()
        .skip_while(|l| !l.starts_with("PARTITION"))
        .nth(1)
        .unwrap_or_default();
    assert!(
        first.starts_with("A.reject[0] ") && first.contains(" stopped "),
        "{out}"
    );
    let code = km.stop();
    let out = km.output();
    let line = out
        .lines()
        .find(|l| l.contains("partition stopped"))
        .unwrap_or_else(|| panic!("no partition-stopped line:\n{out}"));
    assert!(
        line.contains("reject") && line.contains("partition=0") && line.contains("offsets 0..="),
        "{line}"
    );
    assert_eq!(
        code,
        Some(3),
        "a run with a stopped partition exits 3:\n{out}"
    );
    // Nothing after the rejected batch was produced: no silent skip.
    let after = tools::end_offsets(&pair.target, "A.reject").unwrap();
    assert!(after.contains(&(0, 0)), "{after:?}");
}

pub fn topic_configs_are_copied_minus_excludes(version: &str) {
    let pair = pair(version);
    let t = "configured";
    tools::create_topic(
        &pair.source,
        t,
        2,
        &[
            ("retention.ms", "123456789"),
            ("cleanup.policy", "compact"),
            ("min.insync.replicas", "1"),
        ],
    )
    .unwrap();
    tools::produce(&pair.source, t, &records(20, "cfg", 2)).unwrap();
    let cfg = mm2_file(
        pair,
        "configs",
        &format!("topics = {t}\nsync.topic.configs.interval.seconds = 2"),
    );
    let mut km = Kmirror::start(&cfg, &["--log-format", "json"]);
    wait_until(Duration::from_secs(60), "A.configured mirrored", || {
        total_end_offset(&pair.target, "A.configured") >= 20
    });
    let overrides = || tools::topic_config_overrides(&pair.target, "A.configured").unwrap();
    let get = |got: &[(String, String)], k: &str| {
        got.iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.to_string())
    };
    let got = overrides();
    assert_eq!(
        get(&got, "retention.ms").as_deref(),
        Some("123456789"),
        "{got:?}"
    );
    assert_eq!(
        get(&got, "cleanup.policy").as_deref(),
        Some("compact"),
        "{got:?}"
    );
    assert_eq!(
        get(&got, "min.insync.replicas"),
        None,
        "config.properties.exclude ignored: {got:?}"
    );
    // Later changes on the source reach the target within the sync
    // interval: a changed value, a new one; an excluded one does not.
    tools::alter_topic_configs(
        &pair.source,
        t,
        &[
            ("retention.ms", "3600000"),
            ("max.compaction.lag.ms", "86400000"),
            ("min.insync.replicas", "1"),
        ],
        &[],
    )
    .unwrap();
    let mut got = Vec::new();
    wait_until(
        Duration::from_secs(60),
        "the changed configs on the target",
        || {
            got = overrides();
            get(&got, "retention.ms").as_deref() == Some("3600000")
                && get(&got, "max.compaction.lag.ms").as_deref() == Some("86400000")
        },
    );
    assert_eq!(get(&got, "min.insync.replicas"), None, "{got:?}");
    // A config the source puts back to its default loses its override on
    // the target too.
    tools::alter_topic_configs(&pair.source, t, &[], &["max.compaction.lag.ms"]).unwrap();
    wait_until(
        Duration::from_secs(60),
        "the removed config gone from the target",
        || {
            got = overrides();
            get(&got, "max.compaction.lag.ms").is_none()
        },
    );
    assert_eq!(
        get(&got, "retention.ms").as_deref(),
        Some("3600000"),
        "{got:?}"
    );
    assert_eq!(
        get(&got, "cleanup.policy").as_deref(),
        Some("compact"),
        "{got:?}"
    );
    assert_eq!(km.stop(), Some(0), "{}", km.output());
    // --log-format json: every line is one JSON object, with the change's
    // structured fields.
    let out = km.output();
    let lines: Vec<serde_json::Value> = out
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let synced = lines
        .iter()
        .find(|l| {
            l["message"] == "syncing a topic config from the source"
                && l["config"] == "retention.ms"
        })
        .unwrap_or_else(|| panic!("no sync line:\n{out}"));
    assert_eq!(synced["level"], "INFO", "{synced}");
    assert_eq!(synced["topic"], "A.configured", "{synced}");
    assert_eq!(synced["flow"], "A->B", "{synced}");
    assert_eq!(synced["to"], "3600000", "{synced}");
    assert!(
        lines.iter().any(|l| l["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("kmirror summary:"))),
        "{out}"
    );
}

pub fn log_append_time_source_keeps_what_consumers_saw(version: &str) {
    let pair = pair(version);
    let t = "appendtime";
    tools::create_topic(
        &pair.source,
        t,
        1,
        &[("message.timestamp.type", "LogAppendTime")],
    )
    .unwrap();
    let recs: Vec<TestRecord> = (0..50)
        .map(|i| {
            TestRecord::new(format!("lat-{i}"))
                .with_timestamp(1_500_000_000_000 + i)
                .with_partition(0)
        })
        .collect();
    tools::produce_with(&pair.source, t, &recs, &[("linger.ms", "20")]).unwrap();
    let cfg = mm2_file(pair, "appendtime", &format!("topics = {t}"));
    let mut km = Kmirror::start(&cfg, &[]);
    wait_until(Duration::from_secs(60), "A.appendtime mirrored", || {
        total_end_offset(&pair.target, "A.appendtime") >= 50
    });
    km.stop();
    // The source's consumers saw broker append times, not 2017 timestamps;
    // so must the target's.
    let src = tools::consume_all(
        &pair.source,
        t,
        tools::Isolation::ReadCommitted,
        None,
        Duration::from_secs(60),
    )
    .unwrap();
    assert!(
        src.iter().all(|r| r.timestamp > 1_600_000_000_000),
        "source did not apply LogAppendTime"
    );
    assert_mirrored_exactly(&pair.source, t, &pair.target, "A.appendtime");
}

/// Exactly-once mode: a stream mirrored while kmirror is killed (SIGKILL)
/// twice and stopped once; a read_committed consumer of the target must see
/// every source record once, in source order per partition. The source
/// holds committed transactions and an aborted one, so the mirror also
/// reads the source read_committed.
pub fn exactly_once_across_kills(version: &str) {
    let pair = pair(version);
    let t = "eos";
    tools::create_topic(&pair.source, t, 3, &[]).unwrap();
    let cfg = mm2_file(
        pair,
        "eos",
        &format!(
            "topics = {t}\n\
             B.exactly.once.source.support = enabled\n\
             kmirror.transaction.interval.ms = 50\n\
             kmirror.shutdown.timeout.ms = 5000"
        ),
    );
    let producer = produce_in_background(&pair.source, t, 20, 300, 3);
    tools::produce_transactions(
        &pair.source,
        t,
        "eos-source-txn",
        &[
            (TxnOutcome::Commit, records(40, "committed", 3)),
            (TxnOutcome::Abort, records(40, "aborted", 3)),
        ],
    )
    .unwrap();
    let mut km = Kmirror::start(&cfg, &[]);
    wait_until(Duration::from_secs(90), "some progress", || {
        total_end_offset(&pair.target, "A.eos") > 600
    });
    km.kill();
    let mut km = Kmirror::start(&cfg, &[]);
    wait_until(Duration::from_secs(90), "more progress", || {
        total_end_offset(&pair.target, "A.eos") > 3000
    });
    km.kill();
    let mut km = Kmirror::start(&cfg, &[]);
    wait_until(Duration::from_secs(90), "still more progress", || {
        total_end_offset(&pair.target, "A.eos") > 4500
    });
    assert_eq!(km.stop(), Some(0), "{}", km.output());
    producer.join().unwrap();
    let mut km = Kmirror::start(&cfg, &[]);
    let out_before = km.output();
    assert!(!out_before.contains("partition stopped"), "{out_before}");
    // Every record of the source, committed on the target.
    let want = tools::consume_all(
        &pair.source,
        t,
        tools::Isolation::ReadCommitted,
        None,
        Duration::from_secs(60),
    )
    .unwrap()
    .len();
    assert_eq!(want, 6040);
    wait_until(Duration::from_secs(120), "every record committed", || {
        tools::consume_all(
            &pair.target,
            "A.eos",
            tools::Isolation::ReadCommitted,
            Some(want),
            Duration::from_secs(10),
        )
        .map(|r| r.len() >= want)
        .unwrap_or(false)
    });
    assert_eq!(km.stop(), Some(0), "{}", km.output());
    assert!(
        km.output().contains("fenced earlier holders"),
        "{}",
        km.output()
    );
    assert_mirrored_exactly(&pair.source, t, &pair.target, "A.eos");
}

/// Exactly-once mode without a fleet (`kmirror.fleet.enabled = false`): a
/// second instance with the same file takes the transactional ids over;
/// the first stops its partitions instead of writing twice, and the target
/// still holds each record once. (In a fleet, the default, the second
/// would join the first's group instead: `tests/fleet.rs`.)
pub fn exactly_once_fences_an_older_instance(version: &str) {
    let pair = pair(version);
    let t = "eos-fence";
    tools::create_topic(&pair.source, t, 2, &[]).unwrap();
    tools::produce(&pair.source, t, &records(2000, "first", 2)).unwrap();
    // Aliases of its own: transactional ids are per flow, and another test
    // in this binary runs an exactly-once A->B flow on the same clusters.
    let cfg = write_mm2_between(
        "eos-fence",
        ("C", "D"),
        &pair.source.bootstrap(),
        &pair.target.bootstrap(),
        &format!(
            "C->D.topics = {t}\n\
             exactly.once.source.support = enabled\n\
             kmirror.fleet.enabled = false\n"
        ),
    );
    let mut old = Kmirror::start(&cfg, &[]);
    wait_until(
        Duration::from_secs(90),
        "the first instance mirrors",
        || total_end_offset(&pair.target, "C.eos-fence") >= 1000,
    );
    let mut new = Kmirror::start(&cfg, &[]);
    wait_until(
        Duration::from_secs(60),
        "the second instance to fence",
        || new.output().contains("fenced earlier holders"),
    );
    // Both see the new records; only one may write them.
    tools::produce(&pair.source, t, &records(2000, "second", 2)).unwrap();
    wait_until(
        Duration::from_secs(60),
        "the first instance is fenced",
        || old.output().contains("another kmirror instance took over"),
    );
    wait_until(Duration::from_secs(120), "every record committed", || {
        tools::consume_all(
            &pair.target,
            "C.eos-fence",
            tools::Isolation::ReadCommitted,
            Some(4000),
            Duration::from_secs(10),
        )
        .map(|r| r.len() >= 4000)
        .unwrap_or(false)
    });
    assert_eq!(new.stop(), Some(0), "{}", new.output());
    // The fenced one says why and exits 3 (its partitions stopped).
    assert_eq!(old.stop(), Some(3), "{}", old.output());
    assert_mirrored_exactly(&pair.source, t, &pair.target, "C.eos-fence");
}

/// The metrics endpoint during a stream: MirrorMaker 2's per-partition
/// series (parsed by a Prometheus text parser) count every record, the lag
/// drains to 0 once the stream stops, latency quantiles are there, and
/// `/ready` and `/health` answer 200.
pub fn metrics_endpoint_counts_every_record(version: &str) {
    let pair = pair(version);
    let t = "metered";
    tools::create_topic(&pair.source, t, 3, &[]).unwrap();
    let cfg = mm2_file(pair, "metrics", &format!("topics = {t}"));
    let mut km = Kmirror::start(&cfg, &[]);
    let mut ready = (0, String::new());
    wait_until(Duration::from_secs(60), "/ready", || {
        ready = km.get("/ready");
        ready.0 == 200
    });
    let total = 3000u64;
    tools::producer_perf(&pair.source, t, total, 100, 1000, &[]).unwrap();
    let scrape = || -> prometheus_parse::Scrape {
        let (code, body) = km.get("/metrics");
        assert_eq!(code, 200, "{body}");
        prometheus_parse::Scrape::parse(body.lines().map(|l| Ok(l.to_string())))
            .unwrap_or_else(|e| panic!("{e}: {body}"))
    };
    let value = |s: &prometheus_parse::Sample| match s.value {
        prometheus_parse::Value::Gauge(v) | prometheus_parse::Value::Untyped(v) => v,
        prometheus_parse::Value::Counter(v) => v,
        _ => f64::NAN,
    };
    let per_partition = |scrape: &prometheus_parse::Scrape, name: &str| -> Vec<(String, f64)> {
        let mut v: Vec<(String, f64)> = scrape
            .samples
            .iter()
            .filter(|s| s.metric == name && s.labels.get("topic") == Some("A.metered"))
            .map(|s| {
                assert_eq!(
                    (s.labels.get("source"), s.labels.get("target")),
                    (Some("A"), Some("B")),
                    "{name}"
                );
                (
                    s.labels.get("partition").unwrap_or("?").to_string(),
                    value(s),
                )
            })
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    };
    let mut last = None;
    wait_until(
        Duration::from_secs(90),
        "record_count to reach the records produced and lag 0",
        || {
            let s = scrape();
            let counts = per_partition(
                &s,
                "kafka_connect_mirror_mirrorsourceconnector_record_count",
            );
            let lags = per_partition(&s, "kmirror_partition_lag_records");
            let done = counts.len() == 3
                && counts.iter().map(|(_, v)| *v).sum::<f64>() == total as f64
                && lags.len() == 3
                && lags.iter().all(|(_, v)| *v == 0.0);
            last = Some((counts, lags));
            done
        },
    );
    // The source's own count per partition.
    let ends = tools::end_offsets(&pair.source, t).unwrap();
    let s = scrape();
    let counts = per_partition(
        &s,
        "kafka_connect_mirror_mirrorsourceconnector_record_count",
    );
    for (p, end) in &ends {
        assert_eq!(
            counts
                .iter()
                .find(|(q, _)| q == &p.to_string())
                .map(|(_, v)| *v),
            Some(*end as f64),
            "partition {p}: {last:?}"
        );
    }
    for name in [
        "byte_count",
        "record_rate",
        "byte_rate",
        "record_age_ms",
        "record_age_ms_min",
        "record_age_ms_max",
        "record_age_ms_avg",
        "replication_latency_ms",
        "replication_latency_ms_min",
        "replication_latency_ms_max",
        "replication_latency_ms_avg",
    ] {
        let full = format!("kafka_connect_mirror_mirrorsourceconnector_{name}");
        assert_eq!(per_partition(&s, &full).len(), 3, "{full}");
    }
    let quantiles: Vec<&str> = s
        .samples
        .iter()
        .filter(|x| x.metric == "kmirror_replication_latency_ms")
        .filter_map(|x| x.labels.get("quantile"))
        .collect();
    for q in ["0.5", "0.99", "0.999"] {
        assert!(quantiles.contains(&q), "{quantiles:?}");
    }
    // kmirror's own added latency, requests and each worker's busy share.
    let series = |name: &str| -> Vec<&prometheus_parse::Sample> {
        s.samples.iter().filter(|x| x.metric == name).collect()
    };
    assert_eq!(series("kmirror_added_latency_ms").len(), 3);
    assert!(series("kmirror_produce_requests")
        .iter()
        .all(|x| value(x) > 0.0));
    let busy = series("kmirror_worker_busy_ratio");
    assert!(!busy.is_empty());
    for b in busy {
        assert!((0.0..=1.0).contains(&value(b)), "{:?}", b);
    }
    assert_eq!(km.get("/health").0, 200);
    assert_eq!(km.get("/nothing").0, 404);
    status_shows_the_partitions(&km, &ends);
    assert_eq!(km.stop(), Some(0), "{}", km.output());
}

/// `kmirror status` on a healthy run of the `metered` topic: `--once`
/// lists the flow and its three partitions, `--json` carries each
/// partition's count (`ends` from the source), and the live view redraws
/// in a terminal.
fn status_shows_the_partitions(km: &Kmirror, ends: &[(i32, i64)]) {
    let addr = km.metrics_address().expect("the metrics address");
    let (code, out) = run_kmirror(&["status", &addr, "--once"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains(": healthy, ready"), "{out}");
    let flow = out
        .lines()
        .find(|l| l.starts_with("A->B "))
        .unwrap_or_else(|| panic!("no flow row:\n{out}"));
    // The three partitions of `metered` and the mirrored heartbeats.
    assert_eq!(
        flow.split_whitespace().take(3).collect::<Vec<_>>(),
        ["A->B", "4", "active"],
        "{out}"
    );
    for p in 0..3 {
        assert!(
            out.lines()
                .any(|l| l.starts_with(&format!("A.metered[{p}] ")) && l.contains(" active ")),
            "{out}"
        );
    }
    let (code, out) = run_kmirror(&["status", &addr, "--json"]);
    assert_eq!(code, Some(0), "{out}");
    let json: serde_json::Value =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(json["healthy"], true, "{out}");
    assert_eq!(json["flows"][0]["partitions"], 4, "{out}");
    let rows = json["partitions"].as_array().expect("partitions");
    let metered: Vec<&serde_json::Value> =
        rows.iter().filter(|r| r["topic"] == "A.metered").collect();
    assert_eq!(metered.len(), 3, "{out}");
    for (p, end) in ends {
        let row = metered
            .iter()
            .find(|r| r["partition"] == *p)
            .unwrap_or_else(|| panic!("no partition {p}: {out}"));
        assert_eq!(row["records"].as_f64(), Some(*end as f64), "{out}");
        assert_eq!(row["lag_records"].as_f64(), Some(0.0), "{out}");
    }
    // Live: the screen is cleared and redrawn at each refresh.
    let clear = "\x1b[H\x1b[2J";
    let shown = run_kmirror_in_pty(
        &["status", &addr, "--interval", "0.3"],
        Duration::from_secs(20),
        |seen| seen.matches(clear).count() >= 2 && seen.ends_with('\n'),
    );
    assert!(shown.matches(clear).count() >= 2, "{shown:?}");
    let last = shown.rsplit(clear).next().unwrap_or_default();
    assert!(
        last.contains("A.metered[") && last.contains("A->B"),
        "{shown:?}"
    );
}

/// `kmirror verify` on two topics kmirror mirrored: the first is identical
/// (keys, null keys, null values, headers, explicit timestamps), then lacks
/// records produced after the mirror stopped; the second's target is
/// altered (its oldest records deleted, one record in the middle changed)
/// and verify lines the two up and names that record.
pub fn verify_reports_identical_and_names_an_altered_record(version: &str) {
    let pair = pair(version);
    let (same, altered) = ("verified", "verified-altered");
    tools::create_topic(&pair.source, same, 3, &[]).unwrap();
    tools::create_topic(&pair.source, altered, 2, &[]).unwrap();
    // Explicit timestamps, an hour old: older ones would fall to the
    // brokers' time-based retention at once.
    let hour_ago = kmirror::client::small_topic::now_ms() - 3_600_000;
    let at = |i: usize| hour_ago + i as i64;
    let varied: Vec<TestRecord> = (0..300)
        .map(|i| {
            let r = TestRecord::new(format!("value-{i}"))
                .with_partition(i as i32 % 3)
                .with_timestamp(at(i));
            match i % 4 {
                0 => r.with_key(format!("key-{i}")),
                1 => r
                    .with_key(format!("key-{i}"))
                    .with_header("trace", format!("t{i}"))
                    .with_header("empty", ""),
                2 => r.with_key(format!("key-{i}")).with_null_value(),
                _ => r,
            }
        })
        .collect();
    tools::produce(&pair.source, same, &varied).unwrap();
    // verified-altered[1]: 10 records, an aborted transaction (3 records
    // and its marker), 6 records: the mirror's offsets fall behind by 4.
    let plain = |tag: &str, n: usize, partition: i32| -> Vec<TestRecord> {
        (0..n)
            .map(|i| {
                TestRecord::new(format!("{tag}-{i}"))
                    .with_key(format!("{tag}-key-{i}"))
                    .with_partition(partition)
                    .with_timestamp(at(1000 + i))
            })
            .collect()
    };
    let mut first = plain("zero", 5, 0);
    first.extend(plain("a", 10, 1));
    tools::produce(&pair.source, altered, &first).unwrap();
    tools::produce_transactions(
        &pair.source,
        altered,
        "kmirror-test-verify",
        &[(TxnOutcome::Abort, plain("aborted", 3, 1))],
    )
    .unwrap();
    tools::produce(&pair.source, altered, &plain("b", 6, 1)).unwrap();

    let cfg = mm2_file(pair, "verify", &format!("topics = {same}, {altered}"));
    let mut km = Kmirror::start(&cfg, &[]);
    wait_until(Duration::from_secs(90), "both topics mirrored", || {
        total_end_offset(&pair.target, &format!("A.{same}")) >= 300
            && total_end_offset(&pair.target, &format!("A.{altered}")) >= 5 + 16
    });
    km.stop();
    let cfg = cfg.display().to_string();

    let (status, out) = run_kmirror(&["verify", &cfg, "--topic", same]);
    assert_eq!(status, Some(0), "{out}");
    for p in 0..3 {
        assert!(
            out.contains(&format!(
                "{same}[{p}] -> A.{same}[{p}]: identical: 100 records (source offsets 0..100, target offsets 0..100)"
            )),
            "{out}"
        );
    }
    assert!(
        out.contains("identical: 300 records in 3 partitions"),
        "{out}"
    );

    // Records the mirror never saw: missing once the target stood still.
    let late = tools::produce(&pair.source, same, &plain("late", 2, 2)).unwrap();
    let (status, out) = run_kmirror(&[
        "verify",
        &cfg,
        "--topic",
        same,
        "--partition",
        "2",
        "--wait",
        "1",
    ]);
    assert_eq!(status, Some(1), "{out}");
    assert!(
        out.contains(&format!(
            "{same}[2] -> A.{same}[2]: target is missing 2 records from source offset {}",
            late[0].1
        )),
        "{out}"
    );
    assert!(
        !out.contains(&format!("{same}[0]")),
        "--partition 2 only: {out}"
    );

    // The target loses its 3 oldest records of partition 1, then both
    // sides get the same 5 records after one that differs in its value.
    let target_topic = format!("A.{altered}");
    tools::delete_records(&pair.target, &target_topic, &[(1, 3)]).unwrap();
    let changed = |value: &str| {
        let mut records = vec![TestRecord::new(value)
            .with_key("changed-key")
            .with_header("h", "v")
            .with_partition(1)
            .with_timestamp(at(2000))];
        records.extend(plain("z", 5, 1));
        records
    };
    let on_source = tools::produce(&pair.source, altered, &changed("original")).unwrap();
    let on_target = tools::produce(&pair.target, &target_topic, &changed("altered")).unwrap();
    let (source_offset, target_offset) = (on_source[0].1, on_target[0].1);
    assert_eq!(
        (source_offset, target_offset),
        (20, 16),
        "the offsets this test expects"
    );
    let (status, out) = run_kmirror(&["verify", &cfg, "--topic", altered]);
    assert_eq!(status, Some(1), "{out}");
    assert!(
        out.contains(&format!(
            "{altered}[0] -> {target_topic}[0]: identical: 5 records"
        )),
        "{out}"
    );
    let line = out
        .lines()
        .find(|l| l.starts_with(&format!("{altered}[1] -> {target_topic}[1]: ")))
        .unwrap_or_else(|| panic!("no line for partition 1: {out}"));
    assert_eq!(
        line,
        format!(
            "{altered}[1] -> {target_topic}[1]: first difference at source offset {source_offset} \
             / target offset {target_offset}: value differs (source 8 bytes, target 7 bytes); \
             13 records identical before it; \
             skipped 3 leading source records (offsets 0..3) the target does not have"
        )
    );
    assert!(
        out.contains("different: 1 of 2 partitions (18 records identical before any difference)"),
        "{out}"
    );
}

/// `kmirror verify` on a topic Apache Kafka's MirrorMaker 2 mirrored: MM2
/// re-batches and renumbers, and every record must still match.
pub fn verify_accepts_a_topic_mirrormaker_2_mirrored(version: &str) {
    use kmirror_harness::mm2::MirrorMaker2;

    let pair = pair(version);
    let t = "mm2-verified";
    tools::create_topic(&pair.source, t, 2, &[]).unwrap();
    let recs: Vec<TestRecord> = records(2000, "mm2", 2)
        .into_iter()
        .enumerate()
        .map(|(i, r)| match i % 5 {
            0 => r.with_header("n", i.to_string()),
            1 => r.with_null_value(),
            _ => r,
        })
        .collect();
    tools::produce_with(&pair.source, t, &recs, &[("linger.ms", "20")]).unwrap();
    let dir = scratch("verify-mm2");
    let props = mm2_file_for_both(
        &dir,
        pair,
        t,
        "emit.checkpoints.enabled = false\nemit.heartbeats.enabled = false\n",
    );
    let mut mm2 = MirrorMaker2::start(pair.source.dist(), &props, &dir.join("mm2.log"))
        .expect("start MirrorMaker 2");
    let target = format!("A.{t}");
    wait_until(Duration::from_secs(180), "MirrorMaker 2 to mirror", || {
        assert!(
            mm2.is_running(),
            "MirrorMaker 2 exited:\n{}",
            mm2.output_tail()
        );
        total_end_offset(&pair.target, &target) >= 2000
    });
    mm2.stop(Duration::from_secs(2));
    let (status, out) = run_kmirror(&["verify", &props.display().to_string(), "--topic", t]);
    assert_eq!(status, Some(0), "{out}");
    assert!(
        out.contains("identical: 2000 records in 2 partitions"),
        "{out}"
    );
}

/// Exactly-once, a topic created while kmirror runs: its partitions join
/// the running transactional producer's transactions (they were once left
/// without a producer until the next abort, and nothing of them was sent).
pub fn exactly_once_mirrors_a_topic_created_while_running(version: &str) {
    let pair = pair(version);
    let (first, late) = ("eos-late-a", "eos-late-b");
    tools::create_topic(&pair.source, first, 1, &[]).unwrap();
    tools::produce(&pair.source, first, &records(20, "first", 1)).unwrap();
    // Aliases of its own, for transactional ids of its own.
    let cfg = write_mm2_between(
        "eos-late",
        ("L", "M"),
        &pair.source.bootstrap(),
        &pair.target.bootstrap(),
        "L->M.topics = eos-late-.*\n\
         refresh.topics.interval.seconds = 2\n\
         exactly.once.source.support = enabled\n\
         kmirror.transaction.interval.ms = 200\n\
         kmirror.fleet.enabled = false\n",
    );
    let committed = |topic: &str, want: usize| {
        tools::consume_all(
            &pair.target,
            topic,
            tools::Isolation::ReadCommitted,
            Some(want),
            Duration::from_secs(20),
        )
        .is_ok_and(|r| r.len() >= want)
    };
    let mut km = Kmirror::start(&cfg, &[]);
    wait_until(Duration::from_secs(90), "the first topic mirrored", || {
        committed(&format!("L.{first}"), 20)
    });
    tools::create_topic(&pair.source, late, 2, &[]).unwrap();
    tools::produce(&pair.source, late, &records(30, "late", 2)).unwrap();
    wait_until(Duration::from_secs(90), "the late topic mirrored", || {
        committed(&format!("L.{late}"), 30)
    });
    assert_eq!(km.stop(), Some(0), "{}", km.output());
    assert_mirrored_exactly(&pair.source, first, &pair.target, &format!("L.{first}"));
    assert_mirrored_exactly(&pair.source, late, &pair.target, &format!("L.{late}"));
}
