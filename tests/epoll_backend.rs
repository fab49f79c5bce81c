//! The mirroring scenarios again with the epoll backend (`--io epoll`), which
//! kmirror falls back to where io_uring is unavailable.

mod common;

use common::{scenarios, KAFKA_4};

fn epoll() {
    // Every test in this binary asks for the same value.
    std::env::set_var("KMIRROR_TEST_IO", "epoll");
}

#[test]
fn partitions_1_3_12_and_every_codec() {
    epoll();
    scenarios::partitions_1_3_12_and_every_codec(KAFKA_4);
}

#[test]
fn headers_null_keys_null_values_and_timestamps() {
    epoll();
    scenarios::headers_null_keys_null_values_and_timestamps(KAFKA_4);
}

#[test]
fn aborted_transactions_never_reach_the_target() {
    epoll();
    scenarios::aborted_transactions_never_reach_the_target(KAFKA_4);
}

#[test]
fn compacted_topic_after_cleaning() {
    epoll();
    scenarios::compacted_topic_after_cleaning(KAFKA_4);
}

#[test]
fn stop_and_restart_loses_nothing() {
    epoll();
    scenarios::stop_and_restart_loses_nothing(KAFKA_4);
}

#[test]
fn backend_in_use_is_logged() {
    epoll();
    let pair = common::pair(KAFKA_4);
    kmirror_harness::tools::create_topic(&pair.source, "backend-log", 1, &[]).unwrap();
    let cfg = common::mm2_file(pair, "backend", "topics = backend-log");
    let mut km = common::Kmirror::start(&cfg, &[]);
    common::wait_until(
        std::time::Duration::from_secs(30),
        "the start-up log",
        || km.output().contains("kmirror starting"),
    );
    km.stop();
    assert!(km.output().contains("backend=\"epoll\""), "{}", km.output());
}
