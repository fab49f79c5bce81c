//! The mirroring scenarios again on the splice path (epoll backend,
//! `kmirror.splice = on`, `check.crcs = false`, every batch spliced that can
//! be), and the proof that the path moves record bytes without reading them.

mod common;

use std::time::Duration;

use common::{scenarios, KAFKA_4};
use kmirror_harness::cluster::ClusterPair;
use kmirror_harness::tools;

fn splice() {
    // Every test in this binary asks for the same values.
    std::env::set_var("KMIRROR_TEST_IO", "epoll");
    std::env::set_var("KMIRROR_TEST_SPLICE", "on");
}

#[test]
fn partitions_1_3_12_and_every_codec() {
    splice();
    scenarios::partitions_1_3_12_and_every_codec(KAFKA_4);
}

#[test]
fn headers_null_keys_null_values_and_timestamps() {
    splice();
    scenarios::headers_null_keys_null_values_and_timestamps(KAFKA_4);
}

#[test]
fn aborted_transactions_never_reach_the_target() {
    splice();
    scenarios::aborted_transactions_never_reach_the_target(KAFKA_4);
}

#[test]
fn compacted_topic_after_cleaning() {
    splice();
    scenarios::compacted_topic_after_cleaning(KAFKA_4);
}

#[test]
fn stop_and_restart_loses_nothing() {
    splice();
    scenarios::stop_and_restart_loses_nothing(KAFKA_4);
}

#[test]
fn fetch_sessions_and_streams() {
    splice();
    scenarios::fetch_sessions_and_streams(KAFKA_4);
}

#[test]
fn rejected_batch_stops_only_its_partition() {
    splice();
    scenarios::rejected_batch_stops_only_its_partition(KAFKA_4);
}

#[test]
fn log_append_time_source_keeps_what_consumers_saw() {
    splice();
    scenarios::log_append_time_source_keeps_what_consumers_saw(KAFKA_4);
}

#[test]
fn exactly_once_across_kills() {
    splice();
    scenarios::exactly_once_across_kills(KAFKA_4);
}

#[test]
fn metrics_endpoint_counts_every_record() {
    splice();
    scenarios::metrics_endpoint_counts_every_record(KAFKA_4);
}

/// `records` 1 KiB records in `partitions` partitions of a new `topic`, in
/// uncompressed batches of up to 256 KiB.
fn large_batches(pair: &ClusterPair, topic: &str, partitions: i32, records: u64) {
    tools::create_topic(&pair.source, topic, partitions, &[]).unwrap();
    tools::producer_perf(
        &pair.source,
        topic,
        records,
        1024,
        -1,
        &[("batch.size", "262144"), ("linger.ms", "50")],
    )
    .unwrap();
}

/// One of the metrics endpoint's splice counters (`family{path="..."}`).
fn metric(km: &common::Kmirror, path: &str, family: &str) -> u64 {
    let (_, body) = km.get("/metrics");
    let prefix = format!("{family}{{path=\"{path}\"}} ");
    body.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map_or(0, |v| v as u64)
}

/// A plain stream of large batches: every record arrives exactly, and the
/// bytes read into kmirror's memory on the splice path are the protocol's
/// fields and 61 bytes per batch, nothing of the records.
#[test]
fn record_bytes_are_moved_without_being_read() {
    splice();
    let pair = common::pair(KAFKA_4);
    let topic = "splice-plain";
    large_batches(pair, topic, 3, 30_000);
    // Other tests' heartbeats stay out of the counters.
    let cfg = common::mm2_file(
        pair,
        "splice-plain",
        &format!(
            "topics = {topic}\n\
             heartbeats.replication.enabled = false\n\
             emit.heartbeats.enabled = false"
        ),
    );
    let mut km = common::Kmirror::start(&cfg, &[]);
    let want = common::total_end_offset(&pair.source, topic);
    common::wait_until(Duration::from_secs(120), "the mirror to catch up", || {
        common::total_end_offset(&pair.target, &format!("A.{topic}")) >= want
    });
    let mut spliced = 0;
    common::wait_until(Duration::from_secs(30), "the splice counters", || {
        spliced = metric(&km, "spliced", "kmirror_splice_bytes");
        spliced > 0
    });
    std::thread::sleep(Duration::from_secs(3));
    let spliced = metric(&km, "spliced", "kmirror_splice_bytes");
    let headers = metric(&km, "headers", "kmirror_splice_bytes");
    let copied = metric(&km, "copied", "kmirror_splice_bytes");
    let batches = metric(&km, "spliced", "kmirror_splice_batches");
    let copied_batches = metric(&km, "copied", "kmirror_splice_batches");
    let truncated = metric(&km, "truncated", "kmirror_splice_batches");
    let (_, all) = km.get("/metrics");
    let counters: Vec<&str> = all
        .lines()
        .filter(|l| l.starts_with("kmirror_splice"))
        .collect();
    let counters = counters.join("\n");
    assert_eq!(km.stop(), Some(0), "{}", km.output());
    common::assert_mirrored_exactly(&pair.source, topic, &pair.target, &format!("A.{topic}"));
    let record_bytes = 30_000u64 * 1024;
    assert!(
        spliced >= record_bytes,
        "the records should have been spliced: {spliced} bytes of at least {record_bytes}\n{counters}"
    );
    // Of the record sets, memory saw 61 bytes per batch (whole, or cut at
    // the end of a response) and nothing else.
    let all_batches = batches + copied_batches + truncated;
    assert!(
        batches > 0 && headers + copied <= 61 * all_batches && copied == 0,
        "bytes of record sets read into memory: {headers} of headers and {copied} of records for {all_batches} batches ({batches} spliced)\n{counters}"
    );
}

/// When the system grants no pipes (the user's pipe budget spent; a
/// failpoint stands in for it, as root is not bound by the limits), the
/// splice path reads everything into memory, truncated tails included, and
/// mirrors every record exactly.
#[test]
fn no_pipes_to_be_had_copies_and_loses_nothing() {
    splice();
    let pair = common::pair(KAFKA_4);
    let topic = "splice-no-pipes";
    large_batches(pair, topic, 2, 20_000);
    // Responses of one 256 KiB batch and the cut start of the next.
    let cfg = common::mm2_file(
        pair,
        "splice-no-pipes",
        &format!(
            "topics = {topic}\n\
             consumer.max.partition.fetch.bytes = 300000\n\
             heartbeats.replication.enabled = false\n\
             emit.heartbeats.enabled = false"
        ),
    );
    let mut km = common::Kmirror::start_with_env(&cfg, &[], &[("KMIRROR_FAILPOINT_NO_PIPES", "1")]);
    let want = common::total_end_offset(&pair.source, topic);
    common::wait_until(Duration::from_secs(120), "the mirror to catch up", || {
        common::total_end_offset(&pair.target, &format!("A.{topic}")) >= want
    });
    let mut copied = 0;
    common::wait_until(Duration::from_secs(30), "the splice counters", || {
        copied = metric(&km, "copied", "kmirror_splice_bytes");
        copied >= 20_000 * 1024
    });
    let spliced = metric(&km, "spliced", "kmirror_splice_bytes");
    let truncated = metric(&km, "truncated", "kmirror_splice_batches");
    assert_eq!(km.stop(), Some(0), "{}", km.output());
    common::assert_mirrored_exactly(&pair.source, topic, &pair.target, &format!("A.{topic}"));
    assert_eq!(spliced, 0, "nothing can be spliced without pipes");
    assert!(
        truncated > 0,
        "the responses should have ended in cut batches"
    );
    assert!(
        km.output().contains("cannot open a splice pipe"),
        "{}",
        km.output()
    );
}
