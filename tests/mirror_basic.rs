//! Mirroring against real Apache Kafka 4.x: partition counts, every
//! compression codec, record fields, transactions, compaction, naming
//! policies, topic discovery, restarts, rejected batches, `kmirror verify`
//! (also on a topic MirrorMaker 2 mirrored). Checked with
//! Kafka's own consumer; the scenarios live in common/scenarios.rs.

mod common;

use common::{scenarios, KAFKA_4};

#[test]
fn partitions_1_3_12_and_every_codec() {
    scenarios::partitions_1_3_12_and_every_codec(KAFKA_4);
}

#[test]
fn fetch_sessions_and_streams() {
    scenarios::fetch_sessions_and_streams(KAFKA_4);
}

#[test]
fn headers_null_keys_null_values_and_timestamps() {
    scenarios::headers_null_keys_null_values_and_timestamps(KAFKA_4);
}

#[test]
fn aborted_transactions_never_reach_the_target() {
    scenarios::aborted_transactions_never_reach_the_target(KAFKA_4);
}

#[test]
fn compacted_topic_after_cleaning() {
    scenarios::compacted_topic_after_cleaning(KAFKA_4);
}

#[test]
fn naming_policies_exclude_and_discovery() {
    scenarios::naming_policies_exclude_and_discovery(KAFKA_4);
}

#[test]
fn default_policy_prefixes_and_refuses_cycles() {
    scenarios::default_policy_prefixes_and_refuses_cycles(KAFKA_4);
}

#[test]
fn stop_and_restart_loses_nothing() {
    scenarios::stop_and_restart_loses_nothing(KAFKA_4);
}

#[test]
fn rejected_batch_stops_only_its_partition() {
    scenarios::rejected_batch_stops_only_its_partition(KAFKA_4);
}

#[test]
fn topic_configs_are_copied_minus_excludes() {
    scenarios::topic_configs_are_copied_minus_excludes(KAFKA_4);
}

#[test]
fn log_append_time_source_keeps_what_consumers_saw() {
    scenarios::log_append_time_source_keeps_what_consumers_saw(KAFKA_4);
}

#[test]
fn exactly_once_across_kills() {
    scenarios::exactly_once_across_kills(KAFKA_4);
}

#[test]
fn exactly_once_fences_an_older_instance() {
    scenarios::exactly_once_fences_an_older_instance(KAFKA_4);
}

#[test]
fn metrics_endpoint_counts_every_record() {
    scenarios::metrics_endpoint_counts_every_record(KAFKA_4);
}

#[test]
fn verify_reports_identical_and_names_an_altered_record() {
    scenarios::verify_reports_identical_and_names_an_altered_record(KAFKA_4);
}

#[test]
fn verify_accepts_a_topic_mirrormaker_2_mirrored() {
    scenarios::verify_accepts_a_topic_mirrormaker_2_mirrored(KAFKA_4);
}

#[test]
fn exactly_once_mirrors_a_topic_created_while_running() {
    scenarios::exactly_once_mirrors_a_topic_created_while_running(KAFKA_4);
}
