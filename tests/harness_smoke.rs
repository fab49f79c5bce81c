//! The harness itself against real Kafka 4 and 3 clusters: they start,
//! restart and stop, and the tools put records in and read them back with
//! every field intact, so later tests can trust them as checkers.

use std::path::Path;
use std::ptr;
use std::time::Duration;

use kmirror::harness::tools::{
    self, ConsumedRecord, Isolation, TestRecord, TimestampType, TxnOutcome,
};
use kmirror::harness::{shared_pair, KafkaCluster, KAFKA_3, KAFKA_4};

const TIMEOUT: Duration = Duration::from_secs(90);

#[test]
fn kafka4_round_trips_exact_records_and_manages_topics() {
    let pair = shared_pair(KAFKA_4);
    assert!(ptr::eq(pair, shared_pair(KAFKA_4)), "pair not memoised");
    assert_ne!(pair.source.bootstrap(), pair.target.bootstrap());
    let cluster = &pair.source;
    assert_eq!(cluster.version(), KAFKA_4);

    round_trip(cluster, "smoke-roundtrip");

    let topic = "smoke-admin";
    tools::create_topic(cluster, topic, 2, &[("max.message.bytes", "200000")]).unwrap();
    assert!(tools::list_topics(cluster)
        .unwrap()
        .contains(&topic.to_owned()));
    tools::alter_topic_configs(
        cluster,
        topic,
        &[("cleanup.policy", "compact,delete")],
        &["max.message.bytes"],
    )
    .unwrap();
    let configs = tools::topic_config_overrides(cluster, topic).unwrap();
    assert_eq!(
        configs,
        vec![("cleanup.policy".to_owned(), "compact,delete".to_owned())]
    );

    tools::alter_partitions(cluster, topic, 4).unwrap();
    assert_eq!(tools::partition_count(cluster, topic).unwrap(), Some(4));

    tools::produce(
        cluster,
        topic,
        &[
            TestRecord::new("a").with_key("k").with_partition(3),
            TestRecord::new("b").with_key("k").with_partition(3),
        ],
    )
    .unwrap();
    assert_eq!(
        tools::consumer_group_offsets(cluster, "smoke-group").unwrap(),
        vec![]
    );
    tools::set_group_offsets(cluster, "smoke-group", topic, &[(3, 1)]).unwrap();
    let group = tools::consumer_group_offsets(cluster, "smoke-group").unwrap();
    assert_eq!(group.len(), 1, "{group:?}");
    assert_eq!((group[0].topic.as_str(), group[0].partition), (topic, 3));
    assert_eq!(group[0].offset, Some(1));
    assert_eq!(group[0].log_end_offset, Some(2));

    tools::delete_topic(cluster, topic).unwrap();
    assert_eq!(tools::partition_count(cluster, topic).unwrap(), None);
}

#[test]
fn kafka4_transactions_leave_aborted_records_in_the_log() {
    let cluster = &shared_pair(KAFKA_4).target;
    let topic = "smoke-txn";
    tools::create_topic(cluster, topic, 2, &[]).unwrap();
    let txns = vec![
        (
            TxnOutcome::Commit,
            vec![
                TestRecord::new("c1").with_partition(0),
                TestRecord::new("c2").with_partition(0),
                TestRecord::new("c3").with_partition(0),
            ],
        ),
        (
            TxnOutcome::Abort,
            vec![
                TestRecord::new("a1").with_partition(0),
                TestRecord::new("a2").with_partition(1),
            ],
        ),
        (
            TxnOutcome::Commit,
            vec![TestRecord::new("c4").with_partition(1)],
        ),
    ];
    let positions = tools::produce_transactions(cluster, topic, "smoke-txn-id", &txns).unwrap();
    assert_eq!(
        positions,
        vec![
            vec![(0, 0), (0, 1), (0, 2)],
            vec![(0, 4), (1, 0)],
            vec![(1, 2)]
        ]
    );
    // Each transaction leaves a marker in every partition it wrote to.
    assert_eq!(
        tools::end_offsets(cluster, topic).unwrap(),
        vec![(0, 6), (1, 4)]
    );

    let committed =
        tools::consume_all(cluster, topic, Isolation::ReadCommitted, None, TIMEOUT).unwrap();
    assert_eq!(values(&committed), ["c1", "c2", "c3", "c4"]);
    let everything =
        tools::consume_all(cluster, topic, Isolation::ReadUncommitted, None, TIMEOUT).unwrap();
    assert_eq!(values(&everything), ["c1", "c2", "c3", "a1", "a2", "c4"]);

    // Kafka's own copier: every input record exactly once when committed.
    let (input, output) = ("smoke-copy-in", "smoke-copy-out");
    tools::create_topic(cluster, input, 2, &[]).unwrap();
    tools::create_topic(cluster, output, 2, &[]).unwrap();
    tools::producer_perf(cluster, input, 300, 20, -1, &[]).unwrap();
    tools::transactional_copy(cluster, input, output, "smoke-copier", 25).unwrap();
    let source =
        tools::consume_all(cluster, input, Isolation::ReadUncommitted, None, TIMEOUT).unwrap();
    let copied = tools::consume_all(
        cluster,
        output,
        Isolation::ReadCommitted,
        Some(300),
        TIMEOUT,
    )
    .unwrap();
    let mut want: Vec<_> = source.iter().map(|r| r.value.clone()).collect();
    let mut got: Vec<_> = copied.iter().map(|r| r.value.clone()).collect();
    want.sort();
    got.sort();
    assert_eq!(got, want);
    let raw =
        tools::consume_all(cluster, output, Isolation::ReadUncommitted, None, TIMEOUT).unwrap();
    assert!(raw.len() >= 300);
}

#[test]
fn kafka3_round_trips_and_survives_restart_and_crash() {
    let cluster = KafkaCluster::start("smoke-k3", KAFKA_3).unwrap();
    assert_eq!(cluster.version(), KAFKA_3);
    let dir = cluster.dir().to_owned();
    assert!(dir.join("logs/server.log").is_file());

    let before = round_trip(&cluster, "smoke-k3");

    let bootstrap = cluster.bootstrap();
    let pid = cluster.pid().unwrap();
    cluster.restart().unwrap();
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "old broker still alive"
    );
    assert_eq!(cluster.bootstrap(), bootstrap);
    let after = tools::consume_all(
        &cluster,
        "smoke-k3",
        Isolation::ReadUncommitted,
        None,
        TIMEOUT,
    )
    .unwrap();
    assert_eq!(after, before);

    cluster.kill().unwrap();
    assert!(!cluster.is_running());
    cluster.restart().unwrap();
    let after = tools::consume_all(
        &cluster,
        "smoke-k3",
        Isolation::ReadCommitted,
        None,
        TIMEOUT,
    )
    .unwrap();
    assert_eq!(after, before);

    let pid = cluster.pid().unwrap();
    drop(cluster);
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "broker outlived drop"
    );
    assert!(!dir.exists(), "cluster directory left behind");
}

/// Creates `topic` with 3 partitions, fills it with 1000 ProducerPerformance
/// records and a few exact ones, and checks a consumer sees exactly those.
fn round_trip(cluster: &KafkaCluster, topic: &str) -> Vec<ConsumedRecord> {
    tools::create_topic(cluster, topic, 3, &[]).unwrap();
    assert_eq!(tools::partition_count(cluster, topic).unwrap(), Some(3));

    let perf = tools::producer_perf(
        cluster,
        topic,
        1000,
        100,
        -1,
        &[("compression.type", "lz4"), ("linger.ms", "5")],
    )
    .unwrap();
    assert_eq!(perf.records, 1000);

    let exact = vec![
        TestRecord::new("plain").with_key("k1").with_partition(0),
        // Null key and null value ...
        TestRecord::default().with_partition(1),
        // ... are not empty key and empty value.
        TestRecord::new("").with_key("").with_partition(2),
        TestRecord::new(vec![0u8, 255, 10, 13, 32, 0x80])
            .with_key(b"bin\0\n \xff".to_vec())
            .with_partition(0)
            .with_timestamp(1_600_000_000_123)
            .with_header("h1", "v1")
            .with_header("empty", "")
            .with_header("dup", "a")
            .with_header("dup", vec![0u8, 1]),
        TestRecord::new("old").with_partition(1).with_timestamp(42),
        TestRecord::new("partitioner's choice").with_key("some key"),
    ];
    let positions = tools::produce(cluster, topic, &exact).unwrap();
    assert_eq!(positions.len(), exact.len());

    let records =
        tools::consume_all(cluster, topic, Isolation::ReadUncommitted, None, TIMEOUT).unwrap();
    assert_eq!(records.len(), 1000 + exact.len());
    let ends = tools::end_offsets(cluster, topic).unwrap();
    assert_eq!(ends.len(), 3);
    assert_eq!(ends.iter().map(|(_, o)| o).sum::<i64>(), 1006);

    for (want, &(partition, offset)) in exact.iter().zip(&positions) {
        let got = records
            .iter()
            .find(|r| (r.partition, r.offset) == (partition, offset))
            .unwrap_or_else(|| panic!("record at {partition}/{offset} not consumed"));
        if let Some(p) = want.partition {
            assert_eq!(got.partition, p);
        }
        assert_eq!(got.key, want.key, "key at {partition}/{offset}");
        assert_eq!(got.value, want.value, "value at {partition}/{offset}");
        let headers: Vec<_> = want
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), Some(v.clone())))
            .collect();
        assert_eq!(got.headers, headers);
        assert_eq!(got.timestamp_type, TimestampType::CreateTime);
        match want.timestamp {
            Some(ts) => assert_eq!(got.timestamp, ts),
            None => assert!(got.timestamp > 1_700_000_000_000, "{}", got.timestamp),
        }
    }
    let perf_records: Vec<_> = records
        .iter()
        .filter(|r| !positions.contains(&(r.partition, r.offset)))
        .collect();
    assert_eq!(perf_records.len(), 1000);
    assert!(perf_records
        .iter()
        .all(|r| r.key.is_none() && r.value.as_ref().map(Vec::len) == Some(100)));
    records
}

fn values(records: &[ConsumedRecord]) -> Vec<String> {
    records
        .iter()
        .map(|r| String::from_utf8_lossy(r.value.as_deref().unwrap_or(b"<null>")).into_owned())
        .collect()
}
