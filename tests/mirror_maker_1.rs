//! MirrorMaker 1's command line (`kmirror mirror-maker --consumer.config F
//! --producer.config F --whitelist R`) against real Kafka 4.x: topics keep
//! their names, the MirrorMaker 1 group's committed offsets on the source
//! are where mirroring starts and where kmirror's progress goes (as
//! `kafka-consumer-groups --describe` shows), the producer file's
//! compression.type is honoured, and a target topic with fewer partitions
//! gets each key where Kafka's default partitioner puts it, in source
//! order. Checked with Kafka's own consumer and tools.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::{pair, run_kmirror, scratch, total_end_offset, wait_until, Kmirror, KAFKA_4};
use kmirror::mirror::route::partition_for;
use kmirror_harness::tools::{self, Isolation, TestRecord};

#[test]
fn mirror_maker_1_files_flags_group_and_partition_routing() {
    let pair = pair(KAFKA_4);
    let (same, wide) = ("mm1-orders", "mm1-wide");
    tools::create_topic(&pair.source, same, 3, &[]).unwrap();
    tools::create_topic(&pair.source, wide, 12, &[]).unwrap();
    // An MM1 user's targets: one like its source, one with fewer partitions.
    tools::create_topic(&pair.target, same, 3, &[]).unwrap();
    tools::create_topic(&pair.target, wide, 5, &[]).unwrap();
    let orders: Vec<TestRecord> = (0..3000)
        .map(|i| TestRecord::new(format!("o{i}")).with_partition(i % 3))
        .collect();
    tools::produce_with(&pair.source, same, &orders, &[("compression.type", "lz4")]).unwrap();
    // Keys spread over the 12 source partitions by the producer; each key's
    // values carry a sequence number to check order.
    let keyed: Vec<TestRecord> = (0..2400)
        .map(|i| TestRecord::new(format!("{}:{i}", i % 97)).with_key(format!("key-{}", i % 97)))
        .collect();
    tools::produce(&pair.source, wide, &keyed).unwrap();
    // MirrorMaker 1 got this far before it was stopped.
    let group = "mm1-group";
    tools::set_group_offsets(&pair.source, group, same, &[(0, 100), (1, 200), (2, 0)]).unwrap();

    let dir = scratch("mm1");
    let consumer = dir.join("consumer.properties");
    let producer = dir.join("producer.properties");
    std::fs::write(
        &consumer,
        format!(
            "bootstrap.servers={}\ngroup.id={group}\nauto.offset.reset=earliest\n\
             key.deserializer=org.apache.kafka.common.serialization.ByteArrayDeserializer\n\
             metadata.max.age.ms=2000\nkmirror.metrics.address=127.0.0.1:0\n",
            pair.source.bootstrap()
        ),
    )
    .unwrap();
    std::fs::write(
        &producer,
        format!(
            "bootstrap.servers={}\ncompression.type=zstd\nacks=all\n",
            pair.target.bootstrap()
        ),
    )
    .unwrap();
    let (c, p) = (
        consumer.display().to_string(),
        producer.display().to_string(),
    );

    // MirrorMaker 1 flags kmirror does not implement are refused by name.
    let files = [
        "mirror-maker",
        "--consumer.config",
        &c,
        "--producer.config",
        &p,
        "--whitelist",
        "mm1-.*",
    ];
    let (status, out) =
        run_kmirror(&[&files[..], &["--message.handler", "com.example.Handler"]].concat());
    assert_eq!(status, Some(2), "{out}");
    assert!(out.contains("--message.handler"), "{out}");

    let mut km = Kmirror::start_command(
        &dir.join("kmirror.log"),
        &[
            &files[..],
            &["--offset.commit.interval.ms", "500", "--num.streams", "2"],
        ]
        .concat(),
    );
    let want_same = 3000 - 300;
    wait_until(Duration::from_secs(120), "both topics mirrored", || {
        assert!(km.is_running(), "kmirror exited:\n{}", km.output());
        total_end_offset(&pair.target, same) >= want_same
            && total_end_offset(&pair.target, wide) >= 2400
    });
    // The progress reaches the group on the source.
    wait_until(
        Duration::from_secs(30),
        "the group at the source's end",
        || {
            tools::consumer_group_offsets(&pair.source, group)
                .unwrap()
                .iter()
                .filter(|o| o.topic == same)
                .all(|o| o.offset.is_some() && o.offset == o.log_end_offset)
        },
    );
    assert_eq!(km.stop(), Some(0), "{}", km.output());
    let out = km.output();
    assert!(
        out.contains("recompressed into the producer's compression.type"),
        "{out}"
    );
    assert!(
        out.contains("routed to targets with another partition count"),
        "{out}"
    );

    // Same names, from the group's offsets on: nothing below them again.
    let read = |cluster, topic| {
        tools::consume_all(
            cluster,
            topic,
            Isolation::ReadCommitted,
            None,
            Duration::from_secs(60),
        )
        .unwrap()
    };
    let src = read(&pair.source, same);
    let dst = read(&pair.target, same);
    for (partition, from) in [(0, 100), (1, 200), (2, 0)] {
        let s: Vec<_> = src
            .iter()
            .filter(|r| r.partition == partition && r.offset >= from)
            .map(|r| r.value.clone())
            .collect();
        let d: Vec<_> = dst
            .iter()
            .filter(|r| r.partition == partition)
            .map(|r| r.value.clone())
            .collect();
        assert_eq!(s, d, "{same}[{partition}] from offset {from}");
    }

    // Every keyed record, each in its partitioner's partition, in order.
    let dst = read(&pair.target, wide);
    assert_eq!(dst.len(), 2400, "records on the 5-partition target");
    let mut last: HashMap<Vec<u8>, i64> = HashMap::new();
    for r in &dst {
        let key = r.key.clone().expect("keyed");
        assert_eq!(
            r.partition,
            partition_for(Some(&key), 5, 0),
            "{} landed in partition {}",
            String::from_utf8_lossy(&key),
            r.partition
        );
        let value = String::from_utf8(r.value.clone().unwrap()).unwrap();
        let seq: i64 = value.split_once(':').unwrap().1.parse().unwrap();
        if let Some(before) = last.insert(key.clone(), seq) {
            assert!(before < seq, "{value} after sequence {before}");
        }
    }
    assert_eq!(last.len(), 97);
}

/// A record the target refuses on the partition-count mismatch path stops
/// its partition, and with `--abort.on.send.failure true` (MirrorMaker 1's
/// default) the whole mirror: exit 3, the log naming the topic and Kafka's
/// error.
#[test]
fn a_refused_record_aborts_the_mirror_as_mirror_maker_1_did() {
    let pair = pair(KAFKA_4);
    let t = "mm1-refused";
    tools::create_topic(&pair.source, t, 1, &[]).unwrap();
    // Another partition count (routed), refusing batches over 2000 bytes.
    tools::create_topic(&pair.target, t, 2, &[("max.message.bytes", "2000")]).unwrap();
    let mut recs: Vec<TestRecord> = (0..10)
        .map(|i| TestRecord::new(format!("small-{i}")).with_key(format!("k{i}")))
        .collect();
    recs.push(TestRecord::new(vec![b'x'; 5000]).with_key("big"));
    tools::produce(&pair.source, t, &recs).unwrap();

    let dir = scratch("mm1-refused");
    let consumer = dir.join("consumer.properties");
    let producer = dir.join("producer.properties");
    std::fs::write(
        &consumer,
        format!(
            "bootstrap.servers={}\ngroup.id=mm1-refused\nkmirror.metrics.address=127.0.0.1:0\n",
            pair.source.bootstrap()
        ),
    )
    .unwrap();
    std::fs::write(
        &producer,
        format!("bootstrap.servers={}\n", pair.target.bootstrap()),
    )
    .unwrap();
    let mut km = Kmirror::start_command(
        &dir.join("kmirror.log"),
        &[
            "mirror-maker",
            "--consumer.config",
            &consumer.display().to_string(),
            "--producer.config",
            &producer.display().to_string(),
            "--whitelist",
            t,
        ],
    );
    let status = km
        .wait_exit(Duration::from_secs(90))
        .unwrap_or_else(|| panic!("kmirror did not stop:\n{}", km.output()));
    let out = km.output();
    assert_eq!(status, Some(3), "{out}");
    assert!(
        out.contains("kmirror.abort.on.send.failure = true"),
        "{out}"
    );
    assert!(
        out.contains(t) && out.contains("MESSAGE_TOO_LARGE"),
        "{out}"
    );
}
