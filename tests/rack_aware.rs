//! Fetching from the nearest replica (KIP-392): a three-broker source with
//! one broker per rack and the rack-aware replica selector; kmirror sets
//! `client.rack`, the leaders name the replica in that rack, kmirror fetches
//! from it, and the target still gets every record once and in order.

mod common;

use std::time::Duration;

use common::scenarios::records;
use common::*;
use kmirror_harness::cluster::{ClusterOptions, KafkaCluster};
use kmirror_harness::tools;

#[test]
fn fetches_follow_the_preferred_read_replica_of_the_consumers_rack() {
    let source = KafkaCluster::start_with(
        "racks-src",
        KAFKA_4,
        &ClusterOptions::default().one_broker_per_rack(&["r1", "r2", "r3"]),
    )
    .unwrap();
    let target = KafkaCluster::start("racks-dst", KAFKA_4).unwrap();
    let t = "racked";
    tools::create_replicated_topic(&source, t, 6, 3, &[]).unwrap();
    let away: Vec<i32> = tools::partition_replicas(&source, t)
        .unwrap()
        .iter()
        .filter(|p| p.leader != 2)
        .map(|p| p.partition)
        .collect();
    assert!(!away.is_empty(), "some partition must be led outside r2");
    tools::produce(&source, t, &records(1200, "backlog", 6)).unwrap();

    let cfg = write_mm2_between(
        "racks",
        ("R", "B"),
        &source.bootstrap(),
        &target.bootstrap(),
        &format!(
            "R->B.topics = {t}\n\
             offset.flush.interval.ms = 500\n\
             R.consumer.client.rack = r2\n"
        ),
    );
    let mut km = Kmirror::start(&cfg, &[]);
    let mirrored = format!("R.{t}");
    let caught_up = || total_end_offset(&target, &mirrored) >= total_end_offset(&source, t);
    wait_until(Duration::from_secs(120), "the backlog", caught_up);
    // Live records, served by the follower once its high watermark moves.
    tools::produce(&source, t, &records(600, "live", 6)).unwrap();
    wait_until(Duration::from_secs(120), "the live records", caught_up);
    assert_eq!(km.stop(), Some(0), "{}", km.output());
    assert_mirrored_exactly(&source, t, &target, &mirrored);

    let out = km.output();
    let redirects: Vec<&str> = out
        .lines()
        .filter(|l| l.contains("fetching from the preferred read replica"))
        .collect();
    for p in &away {
        assert!(
            redirects
                .iter()
                .any(|l| l.contains(&format!("partition={p} ")) && l.contains("replica=2")),
            "partition {p} (led outside r2) was never fetched from broker 2:\n{out}"
        );
    }
    assert!(
        redirects.iter().all(|l| l.contains("replica=2")),
        "only the r2 replica may be preferred:\n{out}"
    );
}
