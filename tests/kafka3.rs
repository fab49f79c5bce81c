//! The core mirroring scenarios against real Apache Kafka 3.9.x brokers.

mod common;

use common::{scenarios, KAFKA_3};

#[test]
fn partitions_1_3_12_and_every_codec() {
    scenarios::partitions_1_3_12_and_every_codec(KAFKA_3);
}

#[test]
fn headers_null_keys_null_values_and_timestamps() {
    scenarios::headers_null_keys_null_values_and_timestamps(KAFKA_3);
}

#[test]
fn aborted_transactions_never_reach_the_target() {
    scenarios::aborted_transactions_never_reach_the_target(KAFKA_3);
}

#[test]
fn stop_and_restart_loses_nothing() {
    scenarios::stop_and_restart_loses_nothing(KAFKA_3);
}

#[test]
fn rejected_batch_stops_only_its_partition() {
    scenarios::rejected_batch_stops_only_its_partition(KAFKA_3);
}

#[test]
fn exactly_once_across_kills() {
    scenarios::exactly_once_across_kills(KAFKA_3);
}
