//! Several instances, one flow, against real Kafka 4.x: three kmirrors
//! started with the same file share a 24-partition flow through a group on
//! the target (each mirrors a third); one killed with SIGKILL and restarted
//! at once under the same `--instance-id` takes its share back in the same
//! generation (no rebalance); one killed and left down has its partitions
//! taken by the others within the session timeout; nothing is lost
//! (exactly-once mode: nothing is written twice either). Checked with
//! Kafka's own consumer.

mod common;

use std::time::Duration;

use common::{
    assert_mirrored_at_least_once, assert_mirrored_exactly, pair, total_end_offset, wait_until,
    Kmirror, KAFKA_4,
};
use kmirror_harness::cluster::ClusterPair;
use kmirror_harness::tools::{self, Isolation, TestRecord};

const PARTITIONS: i32 = 24;

/// The (generation, partitions) of every "fleet generation" line in a log.
fn generations(log: &str) -> Vec<(i32, usize)> {
    log.lines()
        .filter_map(|line| {
            let rest = line.split("fleet generation ").nth(1)?;
            let (generation, rest) = rest.split_once(':')?;
            let count = rest
                .split("mirrors ")
                .nth(1)?
                .split_whitespace()
                .next()?
                .parse()
                .ok()?;
            Some((generation.trim().parse().ok()?, count))
        })
        .collect()
}

fn last_generation(km: &Kmirror) -> Option<(i32, usize)> {
    generations(&km.output()).last().copied()
}

fn start(file: &std::path::Path, id: &str) -> Kmirror {
    Kmirror::start(file, &["--instance-id", id])
}

/// Waits until every running instance is in one generation with the shares
/// given (in any order); returns the generation.
fn wait_for_shares(instances: &[&Kmirror], shares: &[usize], what: &str) -> i32 {
    let mut generation = -1;
    wait_until(Duration::from_secs(120), what, || {
        let last: Vec<Option<(i32, usize)>> =
            instances.iter().map(|k| last_generation(k)).collect();
        let Some(Some((g, _))) = last.first().copied() else {
            return false;
        };
        let mut counts: Vec<usize> = last
            .iter()
            .filter_map(|l| l.filter(|(lg, _)| *lg == g).map(|(_, n)| n))
            .collect();
        counts.sort();
        let mut want = shares.to_vec();
        want.sort();
        generation = g;
        counts == want
    });
    generation
}

fn produce_round(pair: &ClusterPair, topic: &str, round: usize, per_partition: usize) {
    produce_round_to(pair, topic, PARTITIONS, round, per_partition);
}

fn produce_round_to(
    pair: &ClusterPair,
    topic: &str,
    partitions: i32,
    round: usize,
    per_partition: usize,
) {
    let n = partitions as usize;
    let records: Vec<TestRecord> = (0..n * per_partition)
        .map(|i| TestRecord::new(format!("r{round}-{i}")).with_partition((i % n) as i32))
        .collect();
    tools::produce(&pair.source, topic, &records).unwrap();
}

/// The file every instance of a test's fleet starts with: flow
/// `src`->`tgt` of `topic` (the target topic is `<src>.<topic>`), a 6 s
/// session (the brokers' least) beating every 500 ms, no checkpoints or
/// heartbeat topics (other tests' would join the flow), plus `extra`
/// lines. Exactly-once flows running at once need aliases of their own:
/// transactional ids are named after the aliases.
fn fleet_file(
    pair: &ClusterPair,
    (src, tgt): (&str, &str),
    topic: &str,
    extra: &str,
) -> std::path::PathBuf {
    common::write_mm2_between(
        topic,
        (src, tgt),
        &pair.source.bootstrap(),
        &pair.target.bootstrap(),
        &format!(
            "{src}->{tgt}.topics = {topic}\n\
             offset.flush.interval.ms = 500\n\
             kmirror.fleet.session.timeout.ms = 6000\n\
             kmirror.fleet.heartbeat.interval.ms = 500\n\
             emit.checkpoints.enabled = false\n\
             heartbeats.replication.enabled = false\n\
             {extra}"
        ),
    )
}

fn fleet_run(topic: &str, exactly_once: bool) {
    let pair = pair(KAFKA_4);
    let aliases = if exactly_once { ("E", "F") } else { ("A", "B") };
    let target_topic = format!("{}.{topic}", aliases.0);
    tools::create_topic(&pair.source, topic, PARTITIONS, &[]).unwrap();
    produce_round(pair, topic, 0, 100);
    let eos = if exactly_once {
        "exactly.once.source.support = enabled\nkmirror.transaction.interval.ms = 500\n"
    } else {
        ""
    };
    let file = fleet_file(pair, aliases, topic, &format!("tasks.max = 3\n{eos}"));
    let mut a = start(&file, "a");
    wait_for_shares(
        &[&a],
        &[PARTITIONS as usize],
        "the first instance mirrors every partition",
    );
    let mut b = start(&file, "b");
    let mut c = start(&file, "c");
    let generation = wait_for_shares(&[&a, &b, &c], &[8, 8, 8], "three instances, a third each");
    let expected = i64::from(PARTITIONS) * 100;
    wait_until(Duration::from_secs(120), "the backlog mirrored", || {
        total_end_offset(&pair.target, &target_topic) >= expected
    });

    // A crash and an immediate restart under the same instance id: the
    // member's place is taken back, no new generation.
    c.kill();
    let mut c = start(&file, "c");
    wait_until(
        Duration::from_secs(30),
        "the restarted instance takes its share back",
        || last_generation(&c) == Some((generation, 8)),
    );
    produce_round(pair, topic, 1, 100);
    for (name, km) in [("a", &a), ("b", &b)] {
        let later: Vec<_> = generations(&km.output())
            .into_iter()
            .filter(|(g, _)| *g > generation)
            .collect();
        assert!(
            later.is_empty(),
            "instance {name} saw a rebalance after a static restart: {later:?}\n{}",
            km.output()
        );
    }

    // A crash left down: the others take its partitions within the session.
    b.kill();
    produce_round(pair, topic, 2, 100);
    wait_for_shares(
        &[&a, &c],
        &[12, 12],
        "the two left take the third's partitions",
    );
    let expected = i64::from(PARTITIONS) * 300;
    // In exactly-once mode the target also holds transaction markers.
    wait_until(
        Duration::from_secs(120),
        "everything mirrored by two",
        || {
            let read = tools::consume_all(
                &pair.target,
                &target_topic,
                Isolation::ReadCommitted,
                Some(expected as usize),
                Duration::from_secs(20),
            )
            .map(|r| r.len() as i64)
            .unwrap_or(0);
            read >= expected
        },
    );

    // It comes back: a new generation, a third each again.
    let mut b = start(&file, "b");
    wait_for_shares(&[&a, &b, &c], &[8, 8, 8], "three again");
    produce_round(pair, topic, 3, 50);
    let expected = expected + i64::from(PARTITIONS) * 50;
    wait_until(Duration::from_secs(120), "the last round mirrored", || {
        tools::consume_all(
            &pair.target,
            &target_topic,
            Isolation::ReadCommitted,
            Some(expected as usize),
            Duration::from_secs(20),
        )
        .map(|r| r.len() as i64 >= expected)
        .unwrap_or(false)
    });
    for km in [&mut a, &mut b, &mut c] {
        assert_eq!(km.stop(), Some(0), "{}", km.output());
    }
    if exactly_once {
        assert_mirrored_exactly(&pair.source, topic, &pair.target, &target_topic);
    } else {
        assert_mirrored_at_least_once(&pair.source, topic, &pair.target, &target_topic);
    }
}

#[test]
fn three_instances_share_a_flow_through_crashes_and_static_restarts() {
    fleet_run("fleet-orders", false);
}

#[test]
fn an_exactly_once_fleet_writes_each_record_once_through_crashes() {
    fleet_run("fleet-eos", true);
}

/// A partition given back to the fleet and dealt again to the same worker
/// starts its sequences afresh, so it must be sent under a producer id that
/// has not written it: the target takes a batch whose sequence range matches
/// one it keeps from that id for a retried duplicate, answers with the old
/// batch's offset and writes nothing. Each round here is one source batch
/// of ten records per partition, the shape that would match; one worker per
/// instance, so whichever partition the first keeps goes back to the worker
/// that wrote it.
#[test]
fn a_partition_dealt_back_to_its_worker_is_not_taken_for_a_duplicate() {
    let pair = pair(KAFKA_4);
    let topic = "fleet-dealt-back";
    let partitions = 2;
    tools::create_topic(&pair.source, topic, partitions, &[]).unwrap();
    let round = |r: usize| {
        let records: Vec<TestRecord> = (0..20i32)
            .map(|i| TestRecord::new(format!("r{r}-{i}")).with_partition(i % partitions))
            .collect();
        let one_batch = [("linger.ms", "1000"), ("batch.size", "1048576")];
        tools::produce_with(&pair.source, topic, &records, &one_batch).unwrap();
    };
    round(0);
    let file = fleet_file(
        pair,
        ("G", "H"),
        topic,
        "tasks.max = 2\nkmirror.workers = 1\n",
    );
    let target_topic = format!("G.{topic}");
    let mut a = start(&file, "a");
    wait_for_shares(&[&a], &[2], "the first instance mirrors both partitions");
    wait_until(Duration::from_secs(120), "round 0 mirrored", || {
        total_end_offset(&pair.target, &target_topic) >= 20
    });
    let mut b = start(&file, "b");
    wait_for_shares(&[&a, &b], &[1, 1], "a partition each");
    round(1);
    wait_until(Duration::from_secs(120), "round 1 mirrored", || {
        total_end_offset(&pair.target, &target_topic) >= 40
    });
    assert_eq!(a.stop(), Some(0), "{}", a.output());
    assert_eq!(b.stop(), Some(0), "{}", b.output());
    assert_mirrored_at_least_once(&pair.source, topic, &pair.target, &target_topic);
}

/// Two running instances given one `--instance-id` (an operator's slip):
/// the older is fenced by the coordinator and stops the flow with an error
/// naming the id; the newer mirrors on.
#[test]
fn a_second_instance_with_the_same_id_stops_the_first_with_a_clear_error() {
    let pair = pair(KAFKA_4);
    let topic = "fleet-same-id";
    tools::create_topic(&pair.source, topic, 2, &[]).unwrap();
    produce_round_to(pair, topic, 2, 0, 50);
    let file = fleet_file(pair, ("A", "B"), topic, "");
    let mut first = start(&file, "twin");
    wait_for_shares(&[&first], &[2], "the first instance mirrors");
    let mut second = start(&file, "twin");
    let code = first.wait_exit(Duration::from_secs(120));
    let out = first.output();
    assert_eq!(code, Some(Some(5)), "{out}");
    assert!(
        out.contains("with this instance's kmirror.fleet.instance.id 'twin'"),
        "the error must name the id:\n{out}"
    );
    wait_until(Duration::from_secs(30), "the second mirrors", || {
        last_generation(&second).is_some_and(|(_, n)| n == 2)
    });
    produce_round_to(pair, topic, 2, 1, 50);
    wait_until(Duration::from_secs(120), "the second mirrors on", || {
        total_end_offset(&pair.target, &format!("A.{topic}")) >= 200
    });
    assert_eq!(second.stop(), Some(0), "{}", second.output());
    assert_mirrored_at_least_once(&pair.source, topic, &pair.target, &format!("A.{topic}"));
}

/// Exactly-once mode, an instance paused (SIGSTOP) past its session while
/// its transaction holds records: the other takes its partitions and
/// mirrors them again from their committed positions; when the paused one
/// wakes, the transaction it still has open cannot be committed (its ids
/// were fenced, and its positions were pending in that transaction, so the
/// other read them only once it was aborted). A read_committed consumer of
/// the target sees each record once. Transactions last a minute here, so
/// only the final stops commit what the waits below saw written.
#[test]
fn an_exactly_once_instance_paused_past_its_session_writes_nothing_twice() {
    let pair = pair(KAFKA_4);
    let topic = "fleet-paused";
    let partitions = 6;
    tools::create_topic(&pair.source, topic, partitions, &[]).unwrap();
    produce_round_to(pair, topic, partitions, 0, 200);
    let file = fleet_file(
        pair,
        ("P", "Q"),
        topic,
        "tasks.max = 2\n\
         exactly.once.source.support = enabled\n\
         kmirror.transaction.interval.ms = 60000\n\
         Q.producer.transaction.timeout.ms = 180000\n",
    );
    let target_topic = format!("P.{topic}");
    // Whether the target holds `want` records, committed or not (a
    // read_uncommitted read).
    let written = |want: usize| {
        tools::consume_all(
            &pair.target,
            &target_topic,
            Isolation::ReadUncommitted,
            Some(want),
            Duration::from_secs(20),
        )
        .map(|r| r.len() >= want)
        .unwrap_or(false)
    };
    let mut a = start(&file, "a");
    wait_for_shares(&[&a], &[6], "the first mirrors every partition");
    let mut b = start(&file, "b");
    // The first gave its partitions back with the backlog committed.
    wait_for_shares(&[&a, &b], &[3, 3], "two halves");

    // Paused with round 1 in its open transaction.
    produce_round_to(pair, topic, partitions, 1, 200);
    wait_until(
        Duration::from_secs(120),
        "round 1 written, not committed",
        || written(2400),
    );
    b.signal(libc::SIGSTOP);
    wait_until(
        Duration::from_secs(120),
        "the other takes every partition",
        || last_generation(&a).is_some_and(|(_, n)| n == 6),
    );
    // The other writes the paused one's share of round 1 again...
    wait_until(Duration::from_secs(120), "round 1 written again", || {
        written(3000)
    });
    // ...and the paused one wakes before its transaction times out: were
    // it not fenced, it would commit its copy of those records too.
    b.signal(libc::SIGCONT);
    wait_for_shares(&[&a, &b], &[3, 3], "the paused one back in the fleet");
    produce_round_to(pair, topic, partitions, 2, 200);
    wait_until(Duration::from_secs(120), "round 2 written", || {
        written(4200)
    });
    assert_eq!(a.stop(), Some(0), "{}", a.output());
    assert_eq!(b.stop(), Some(0), "{}", b.output());
    assert_mirrored_exactly(&pair.source, topic, &pair.target, &target_topic);
}
