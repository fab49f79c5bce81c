//! The harness itself against real Kafka 4 and 3 clusters: they start,
//! restart and stop, single-node or three brokers in racks, and the tools
//! put records in and read them back with every field intact, so later tests
//! can trust them as checkers.

use std::path::Path;
use std::ptr;
use std::time::{Duration, Instant};

use kmirror_harness::tools::{
    self, ConsumedRecord, Isolation, TestRecord, TimestampType, TxnOutcome,
};
use kmirror_harness::{shared_pair, ClusterOptions, KafkaCluster, KAFKA_3, KAFKA_4};

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

/// Three brokers in racks r1..r3 with the rack-aware replica selector: a
/// topic gets a replica on each, and a consumer in r2 reads every record
/// back from the broker in its own rack (KIP-392), also after that broker
/// restarts.
#[test]
fn kafka4_three_brokers_in_racks_serve_a_rack_aware_consumer() {
    let started = Instant::now();
    let cluster = KafkaCluster::start_with(
        "smoke-racks",
        KAFKA_4,
        &ClusterOptions::default().one_broker_per_rack(&["r1", "r2", "r3"]),
    )
    .unwrap();
    eprintln!("3 brokers up in {:.1?}", started.elapsed());
    assert_eq!(cluster.broker_ids(), [1, 2, 3]);
    assert_eq!(cluster.bootstrap().split(',').count(), 3);
    let dir = cluster.dir().to_owned();
    for node in ["", "broker-2/", "broker-3/"] {
        let props = std::fs::read_to_string(dir.join(format!("{node}server.properties"))).unwrap();
        assert!(props.contains("replica.selector.class="), "{node}: {props}");
    }

    let topic = "smoke-racks";
    tools::create_replicated_topic(&cluster, topic, 2, 3, &[]).unwrap();
    let partitions = tools::partition_replicas(&cluster, topic).unwrap();
    assert_eq!(partitions.len(), 2, "{partitions:?}");
    for p in &partitions {
        let mut replicas = p.replicas.clone();
        replicas.sort();
        assert_eq!(replicas, [1, 2, 3], "{p:?}");
    }
    // Two partitions, two different leaders: at least one is not broker 2.
    assert!(partitions.iter().any(|p| p.leader != 2), "{partitions:?}");

    // acks=all: every replica has every record before the consumer starts.
    let value_size = 1000;
    let sent: Vec<TestRecord> = (0..300)
        .map(|i| {
            let mut value = format!("rec-{i:04}-").into_bytes();
            value.resize(value_size, b'.');
            TestRecord::new(value).with_partition(i % 2)
        })
        .collect();
    tools::produce(&cluster, topic, &sent).unwrap();
    let payload = (sent.len() * value_size) as u64;

    let read_in_r2 = || {
        tools::consume_all_with(
            &cluster,
            topic,
            Isolation::ReadUncommitted,
            Some(sent.len()),
            TIMEOUT,
            &[("client.rack", "r2")],
        )
        .unwrap()
    };
    let check = |got: &tools::Consumption| {
        let mut want: Vec<_> = sent.iter().map(|r| r.value.clone()).collect();
        let mut values: Vec<_> = got.records.iter().map(|r| r.value.clone()).collect();
        want.sort();
        values.sort();
        assert_eq!(values, want);
        // The leaders answer the first fetch with broker 2 as preferred
        // read replica; the records themselves come from broker 2.
        eprintln!("bytes by broker: {:?}", got.bytes_from_broker);
        let from = |id| {
            got.bytes_from_broker
                .iter()
                .find(|(node, _)| *node == id)
                .map_or(0, |(_, bytes)| *bytes)
        };
        assert!(from(2) >= payload, "{:?}", got.bytes_from_broker);
        assert!(
            from(1) < payload / 4 && from(3) < payload / 4,
            "{:?}",
            got.bytes_from_broker
        );
    };
    check(&read_in_r2());

    let started = Instant::now();
    cluster.restart_broker(2).unwrap();
    eprintln!("broker 2 restarted in {:.1?}", started.elapsed());
    assert!(cluster.is_running());
    // A leader names only in-sync followers as preferred read replicas.
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let partitions = tools::partition_replicas(&cluster, topic).unwrap();
        if partitions.iter().all(|p| p.isr.contains(&2)) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "broker 2 not back in sync: {partitions:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    check(&read_in_r2());

    drop(cluster);
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
