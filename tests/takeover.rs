//! Taking over from Apache Kafka's MirrorMaker 2 (connect-mirror from
//! Maven Central) against real Kafka 4.x: MirrorMaker 2 mirrors part of a
//! stream and is stopped mid-stream, kmirror started with the same file
//! continues where MirrorMaker 2's source connector stopped. Checked with
//! Kafka's own consumer.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::scenarios::produce_in_background;
use common::{
    assert_mirrored_at_least_once, mm2_file_for_both, pair, run_kmirror, scratch, total_end_offset,
    wait_until, Kmirror, KAFKA_4,
};
use kmirror::offsets::mm2_takeover;
use kmirror_harness::mm2::MirrorMaker2;
use kmirror_harness::tools::{self, Isolation};

#[test]
fn continues_where_mirrormaker_2_stopped() {
    let pair = pair(KAFKA_4);
    let t = "takeover";
    let remote = format!("A.{t}");
    tools::create_topic(&pair.source, t, 3, &[]).unwrap();
    let dir = scratch("takeover");
    // One file for both mirrors, as an operator would switch.
    let props = mm2_file_for_both(
        &dir,
        pair,
        t,
        "offset.flush.interval.ms = 1000\n\
         emit.checkpoints.enabled = false\n\
         emit.heartbeats.enabled = false\n\
         kmirror.metrics.address = 127.0.0.1:0\n",
    );
    // 30 rounds of 300 records over 3 partitions, a round at a time.
    let producer = produce_in_background(&pair.source, t, 30, 300, 3);
    let mut mm2 = MirrorMaker2::start(pair.source.dist(), &props, &dir.join("mm2.log"))
        .expect("start MirrorMaker 2");
    wait_until(
        Duration::from_secs(180),
        "MirrorMaker 2 to mirror part of the stream",
        || {
            assert!(
                mm2.is_running(),
                "MirrorMaker 2 exited:\n{}",
                mm2.output_tail()
            );
            total_end_offset(&pair.target, &remote) >= 2000
        },
    );
    // Stopped while the stream goes on, as a switch-over happens.
    mm2.stop(Duration::from_secs(20));
    let on_target_at_stop = total_end_offset(&pair.target, &remote);
    let mm2_next = mm2_positions(&pair.target, "mm2-offsets.A.internal", t);
    assert_eq!(
        mm2_next.len(),
        3,
        "MirrorMaker 2 kept no position for some partitions: {mm2_next:?}"
    );
    let mm2_total: i64 = mm2_next.values().sum();
    // What MirrorMaker 2 wrote after its last offset commit: a switch may
    // write these again, nothing else.
    let window = on_target_at_stop - mm2_total;
    assert!(
        window >= 0,
        "{on_target_at_stop} on the target, MirrorMaker 2 at {mm2_total}"
    );

    let mut km = Kmirror::start(&props, &[]);
    producer.join().unwrap();
    let want = total_end_offset(&pair.source, t);
    assert_eq!(want, 9000);
    wait_until(Duration::from_secs(120), "kmirror to catch up", || {
        total_end_offset(&pair.target, &remote) >= want
    });
    // Let anything still in flight land before counting.
    std::thread::sleep(Duration::from_secs(2));
    km.stop();
    let out = km.output();
    assert!(
        out.contains("continuing from MirrorMaker 2's offsets") && out.contains("partitions=3"),
        "{out}"
    );
    assert_mirrored_at_least_once(&pair.source, t, &pair.target, &remote);

    let target = tools::consume_all(
        &pair.target,
        &remote,
        Isolation::ReadCommitted,
        None,
        Duration::from_secs(60),
    )
    .unwrap();
    let duplicates = target.len() as i64 - want;
    eprintln!(
        "takeover: MirrorMaker 2 wrote {on_target_at_stop} records, its positions covered {mm2_total}; \
         {duplicates} records written twice by the switch (window {window}); {} on the target for {want} on the source",
        target.len()
    );
    assert!(
        (0..=window).contains(&duplicates),
        "{duplicates} duplicates, more than MirrorMaker 2's uncommitted window of {window}"
    );
    // Nothing below MirrorMaker 2's positions was copied again.
    let mut seen: HashMap<Vec<u8>, usize> = HashMap::new();
    for r in &target {
        *seen.entry(r.value.clone().unwrap_or_default()).or_default() += 1;
    }
    let source = tools::consume_all(
        &pair.source,
        t,
        Isolation::ReadCommitted,
        None,
        Duration::from_secs(60),
    )
    .unwrap();
    for r in source.iter().filter(|r| r.offset < mm2_next[&r.partition]) {
        let n = seen[&r.value.clone().unwrap_or_default()];
        assert_eq!(
            n, 1,
            "{t}[{}] offset {} (below MirrorMaker 2's position) is {n} times on the target",
            r.partition, r.offset
        );
    }

    // A consumer group committed where MirrorMaker 2 mirrored is translated
    // from MirrorMaker 2's sparse syncs: at or before its record on the
    // target, never past it (also after kmirror's restart, from the note in
    // its progress commits).
    let below = (mm2_next[&0] / 2).max(1);
    tools::set_group_offsets(&pair.source, "takeover-readers", t, &[(0, below)]).unwrap();
    let value_at = source
        .iter()
        .find(|r| r.partition == 0 && r.offset == below)
        .and_then(|r| r.value.clone())
        .unwrap();
    let true_target = target
        .iter()
        .find(|r| r.partition == 0 && r.value.as_ref() == Some(&value_at))
        .map(|r| r.offset)
        .unwrap();
    let (status, text) = run_kmirror(&[
        "offsets",
        "translate",
        &props.display().to_string(),
        "--group",
        "takeover-readers",
    ]);
    assert_eq!(status, Some(0), "{text}");
    let row = text
        .lines()
        .find(|l| l.split_whitespace().next() == Some(t))
        .unwrap_or_else(|| panic!("no row for {t}:\n{text}"));
    assert!(row.contains("mirrored by MirrorMaker 2"), "{text}");
    let translated: i64 = row.split_whitespace().nth(4).unwrap().parse().unwrap();
    assert!(
        translated <= true_target,
        "source offset {below} translated to {translated}, past its record at {true_target}:\n{text}"
    );
}

/// MirrorMaker 2's next source offset per partition of `topic`, from
/// Connect's offsets topic on `cluster`.
fn mm2_positions(
    cluster: &kmirror_harness::KafkaCluster,
    offsets_topic: &str,
    topic: &str,
) -> HashMap<i32, i64> {
    let records = tools::consume_all(
        cluster,
        offsets_topic,
        Isolation::ReadCommitted,
        None,
        Duration::from_secs(60),
    )
    .unwrap();
    let mut out = HashMap::new();
    for r in records {
        let Some(key) = r.key else { continue };
        if let Some(e) = mm2_takeover::parse(&key, r.value.as_deref(), "A") {
            if e.topic == topic {
                match e.next {
                    Some(n) => out.insert(e.partition, n),
                    None => out.remove(&e.partition),
                };
            }
        }
    }
    out
}
