//! Partition leaders failing under a running mirror, on clusters of three
//! brokers (the topics with three replicas and `min.insync.replicas=2`):
//! while a numbered stream flows, the source broker that leads the most
//! mirrored partitions is killed (SIGKILL) and later restarted, then the
//! same on the target. kmirror must follow the new leaders on both sides,
//! keep mirroring while the broker is down, and end with every source
//! record on the target: at least once, none missing and none out of
//! order; exactly once, read_committed, each record once.
//!
//! Both tests share one cluster pair, started once for this binary, and take
//! turns: each kills brokers, and two faults at once would leave partitions
//! short of in-sync replicas.

mod common;

use std::sync::Mutex;
use std::time::Duration;

use common::*;
use kmirror_harness::cluster::{shared_pair_with, ClusterOptions, ClusterPair, KafkaCluster};
use kmirror_harness::leaders;
use kmirror_harness::sequence::{Delivery, SequenceCheck, SequenceStream, StreamPlan};
use kmirror_harness::tools::{self, Isolation};

const PARTITIONS: i32 = 6;
/// Records per second of the stream, lingering so that batches hold a few
/// records each (exactly-once mode keeps up with fewer batches per second
/// than at-least-once on a loaded two-core machine).
const RATE: u64 = 500;
const PRODUCER: [(&str, &str); 1] = [("linger.ms", "50")];

static TURN: Mutex<()> = Mutex::new(());

/// Three brokers per cluster. Brokers heartbeat faster than Kafka's
/// defaults so that a killed leader is fenced, and its partitions move,
/// within seconds.
fn clusters() -> &'static ClusterPair {
    shared_pair_with(
        KAFKA_4,
        &ClusterOptions::default()
            .brokers(3)
            .broker_prop("broker.heartbeat.interval.ms", "500")
            .broker_prop("broker.session.timeout.ms", "4000"),
    )
}

#[test]
fn leaders_failing_on_either_side_lose_nothing() {
    failover(Delivery::AtLeastOnce, "failover-alo", "");
}

#[test]
fn leaders_failing_on_either_side_duplicate_nothing_exactly_once() {
    failover(
        Delivery::ExactlyOnce,
        "failover-eos",
        "B.exactly.once.source.support = enabled\nkmirror.transaction.interval.ms = 100",
    );
}

fn failover(delivery: Delivery, topic: &str, extra: &str) {
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    let pair = clusters();
    let mirrored = format!("A.{topic}");
    // kmirror would create the target topic, but without
    // min.insync.replicas, which MirrorMaker 2's exclude list drops.
    for (cluster, t) in [(&pair.source, topic), (&pair.target, mirrored.as_str())] {
        tools::create_replicated_topic(cluster, t, PARTITIONS, 3, &[("min.insync.replicas", "2")])
            .unwrap();
    }
    let cfg = mm2_file(pair, topic, &format!("topics = {topic}\n{extra}"));
    let plan = StreamPlan {
        first: 0,
        count: None,
        rate: RATE,
        partitions: PARTITIONS,
    };
    let stream = SequenceStream::start(&pair.source.bootstrap(), topic, plan, &PRODUCER).unwrap();
    let mut km = Kmirror::start(&cfg, &[]);
    wait_until(
        Duration::from_secs(90),
        "the first mirrored records",
        || total_end_offset(&pair.target, &mirrored) >= 1000,
    );

    for (side, cluster, t) in [
        ("source", &pair.source, topic),
        ("target", &pair.target, mirrored.as_str()),
    ] {
        let (victim, led) = leaders::busiest_leader(cluster, t)
            .unwrap()
            .unwrap_or_else(|| panic!("no {side} broker but the controller leads {t}"));
        let before = end_offsets_of(&pair.target, &mirrored, &led);
        cluster.kill_broker(victim).unwrap();
        let moved =
            leaders::wait_until_led_elsewhere(cluster, t, victim, Duration::from_secs(60)).unwrap();
        assert!(
            moved.iter().all(|p| p.leader != victim),
            "{side} broker {victim} still leads: {moved:?}"
        );
        // The partitions it led keep being mirrored while it is down.
        wait_until(
            Duration::from_secs(90),
            &format!("partitions {led:?} mirrored with {side} broker {victim} down"),
            || {
                let now = end_offsets_of(&pair.target, &mirrored, &led);
                now.iter().zip(&before).all(|(n, b)| *n >= b + 100)
            },
        );
        assert!(km.is_running(), "kmirror exited:\n{}", km.output());
        cluster.restart_broker(victim).unwrap();
        leaders::wait_until_in_sync(cluster, t, Duration::from_secs(120)).unwrap();
    }

    stream.stop();
    let produced = stream.join().unwrap();
    assert_eq!(
        produced.failed, 0,
        "the source producer failed: {produced:?}"
    );
    let ends = tools::end_offsets(&pair.source, topic).unwrap();
    wait_until(Duration::from_secs(120), "kmirror to catch up", || {
        tools::group_reached(&pair.target, "kmirror.progress.A.B", &mirrored, &ends)
            .unwrap_or(false)
    });
    assert_eq!(km.stop(), Some(0), "{}", km.output());
    assert!(
        !km.output().contains("partition stopped"),
        "{}",
        km.output()
    );

    let read = |cluster: &KafkaCluster, t: &str| {
        tools::consume_all(
            cluster,
            t,
            Isolation::ReadCommitted,
            None,
            Duration::from_secs(120),
        )
        .unwrap()
    };
    let check = SequenceCheck::run(
        delivery,
        &read(&pair.source, topic),
        &read(&pair.target, &mirrored),
    );
    assert!(
        check.passed(),
        "{delivery:?} broken:\n{}\nkmirror output:\n{}",
        check.problems().join("\n"),
        km.output()
    );
    assert_eq!(check.totals().source_records, produced.acked);
}

/// The end offsets of `partitions` of `topic`, in that order.
fn end_offsets_of(cluster: &KafkaCluster, topic: &str, partitions: &[i32]) -> Vec<i64> {
    let ends = tools::end_offsets(cluster, topic).unwrap_or_default();
    partitions
        .iter()
        .map(|p| ends.iter().find(|(q, _)| q == p).map_or(-1, |(_, o)| *o))
        .collect()
}
