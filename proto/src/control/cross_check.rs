//! Our control-plane codecs checked against an independent implementation
//! of the same schemas (the `kafka-protocol` crate, a test dependency only):
//! responses it encodes at every version kmirror speaks must decode to the
//! same fields here, and requests encoded here must decode there.

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages as kp;
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use proptest::prelude::*;

use crate::api::Api;
use crate::control::{self, ControlRequest};
use crate::error_code::ErrorCode;
use crate::header::{request_header_version, split_response};

fn s(x: &str) -> StrBytes {
    StrBytes::from_string(x.to_string())
}

fn versions(api: Api) -> std::ops::RangeInclusive<i16> {
    let (lo, hi) = api.ours();
    lo..=hi
}

/// Encodes a response with `kafka-protocol` at `version`.
fn theirs<T: Encodable>(resp: &T, version: i16) -> Bytes {
    let mut b = BytesMut::new();
    resp.encode(&mut b, version)
        .expect("kafka-protocol encodes");
    b.freeze()
}

/// Encodes `req` with our code and decodes the body with `kafka-protocol`.
fn ours_decoded_there<R: ControlRequest, T: Decodable>(req: &R, version: i16) -> T {
    let frame = control::encode_request(req, version, 7, "kmirror").expect("we encode");
    let mut body = frame.slice(4..);
    let header =
        kp::RequestHeader::decode(&mut body, request_header_version(R::API.key(), version))
            .expect("header decodes");
    assert_eq!(header.request_api_version, version);
    assert_eq!(header.correlation_id, 7);
    let out = T::decode(&mut body, version).expect("kafka-protocol decodes our request");
    assert!(
        body.is_empty(),
        "{} v{version}: bytes left over",
        R::API.name()
    );
    out
}

fn name() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9._-]{1,20}"
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn metadata(topics in proptest::collection::vec((name(), 0i32..8, any::<i16>(), any::<bool>()), 0..4),
                host in name(), port in any::<i32>(), epoch in any::<i32>()) {
        for v in versions(Api::Metadata) {
            let resp = kp::MetadataResponse::default()
                .with_brokers(vec![kp::metadata_response::MetadataResponseBroker::default()
                    .with_node_id(kp::BrokerId(3)).with_host(s(&host)).with_port(port)
                    .with_rack(if v >= 1 { Some(s("r1")) } else { None })])
                .with_topics(topics.iter().map(|(n, parts, err, internal)| {
                    kp::metadata_response::MetadataResponseTopic::default()
                        .with_name(Some(kp::TopicName(s(n))))
                        .with_error_code(*err)
                        .with_is_internal(*internal)
                        .with_partitions((0..*parts).map(|p| kp::metadata_response::MetadataResponsePartition::default()
                            .with_partition_index(p)
                            .with_leader_id(kp::BrokerId(p + 1))
                            .with_leader_epoch(if v >= 7 { epoch } else { -1 })
                            .with_replica_nodes(vec![kp::BrokerId(1), kp::BrokerId(2)])
                            .with_isr_nodes(vec![kp::BrokerId(1)])).collect())
                }).collect());
            let got = control::decode_response::<control::metadata::MetadataRequest>(theirs(&resp, v), v).unwrap();
            prop_assert_eq!(got.brokers.len(), 1);
            prop_assert_eq!(&got.brokers[0].host, &host);
            prop_assert_eq!(got.brokers[0].port, port);
            prop_assert_eq!(got.brokers[0].rack.as_deref(), Some("r1"));
            prop_assert_eq!(got.topics.len(), topics.len());
            for (t, (n, parts, err, internal)) in got.topics.iter().zip(&topics) {
                prop_assert_eq!(&t.name, n);
                prop_assert_eq!(t.error, ErrorCode(*err));
                prop_assert_eq!(t.is_internal, *internal);
                prop_assert_eq!(t.partitions.len(), *parts as usize);
                for (i, p) in t.partitions.iter().enumerate() {
                    prop_assert_eq!(p.partition, i as i32);
                    prop_assert_eq!(p.leader, i as i32 + 1);
                    prop_assert_eq!(p.leader_epoch, if v >= 7 { epoch } else { -1 });
                }
            }
            let names: Vec<String> = topics.iter().map(|t| t.0.clone()).collect();
            let req: kp::MetadataRequest = ours_decoded_there(&control::metadata::MetadataRequest::topics(&names), v);
            let sent: Vec<String> = req.topics.unwrap().iter().map(|t| t.name.as_ref().unwrap().0.to_string()).collect();
            prop_assert_eq!(sent, names);
            prop_assert!(!req.allow_auto_topic_creation);
            let all: kp::MetadataRequest = ours_decoded_there(&control::metadata::MetadataRequest::all_topics(), v);
            prop_assert!(all.topics.is_none());
        }
    }

    #[test]
    fn list_offsets(topic in name(), parts in proptest::collection::vec((any::<i32>(), any::<i16>(), any::<i64>(), any::<i64>()), 0..5)) {
        for v in versions(Api::ListOffsets) {
            let resp = kp::ListOffsetsResponse::default().with_topics(vec![
                kp::list_offsets_response::ListOffsetsTopicResponse::default()
                    .with_name(kp::TopicName(s(&topic)))
                    .with_partitions(parts.iter().map(|(p, e, ts, off)| {
                        kp::list_offsets_response::ListOffsetsPartitionResponse::default()
                            .with_partition_index(*p).with_error_code(*e).with_timestamp(*ts).with_offset(*off)
                    }).collect())]);
            let got = control::decode_response::<control::list_offsets::ListOffsetsRequest>(theirs(&resp, v), v).unwrap();
            prop_assert_eq!(&got.topics[0].name, &topic);
            for (g, (p, e, ts, off)) in got.topics[0].partitions.iter().zip(&parts) {
                prop_assert_eq!((g.partition, g.error, g.timestamp, g.offset), (*p, ErrorCode(*e), *ts, *off));
            }
            let req = control::list_offsets::ListOffsetsRequest {
                isolation_level: 1,
                topics: vec![(topic.clone(), parts.iter().map(|(p, _, ts, _)| (*p, *ts)).collect())],
            };
            let there: kp::ListOffsetsRequest = ours_decoded_there(&req, v);
            prop_assert_eq!(there.topics[0].name.0.as_str(), topic.as_str());
            for (t, (p, _, ts, _)) in there.topics[0].partitions.iter().zip(&parts) {
                prop_assert_eq!((t.partition_index, t.timestamp), (*p, *ts));
            }
            if v >= 2 {
                prop_assert_eq!(there.isolation_level, 1);
            }
        }
    }

    #[test]
    fn offset_fetch_and_commit(group in name(), topic in name(),
                               parts in proptest::collection::vec((0i32..1000, any::<i64>(), any::<i16>()), 0..5)) {
        for v in versions(Api::OffsetFetch) {
            let resp = kp::OffsetFetchResponse::default()
                .with_error_code(if v >= 2 { 16 } else { 0 })
                .with_topics(vec![kp::offset_fetch_response::OffsetFetchResponseTopic::default()
                    .with_name(kp::TopicName(s(&topic)))
                    .with_partitions(parts.iter().map(|(p, off, e)| {
                        kp::offset_fetch_response::OffsetFetchResponsePartition::default()
                            .with_partition_index(*p).with_committed_offset(*off)
                            .with_metadata(Some(s("m"))).with_error_code(*e)
                    }).collect())]);
            let got = control::decode_response::<control::offset_fetch::OffsetFetchRequest>(theirs(&resp, v), v).unwrap();
            prop_assert_eq!(got.error, ErrorCode(if v >= 2 { 16 } else { 0 }));
            for (g, (p, off, e)) in got.topics[0].partitions.iter().zip(&parts) {
                prop_assert_eq!((g.partition, g.offset, g.error), (*p, *off, ErrorCode(*e)));
                prop_assert_eq!(g.metadata.as_deref(), Some("m"));
            }
            let req = control::offset_fetch::OffsetFetchRequest {
                group_id: group.clone(),
                topics: Some(vec![(topic.clone(), parts.iter().map(|x| x.0).collect())]),
                require_stable: true,
            };
            let there: kp::OffsetFetchRequest = ours_decoded_there(&req, v);
            prop_assert_eq!(there.group_id.0.as_str(), group.as_str());
            prop_assert_eq!(there.require_stable, v >= 7);
        }
        for v in versions(Api::OffsetCommit) {
            let offsets: Vec<control::offset_commit::CommitOffset> = parts.iter().map(|(p, off, _)| control::offset_commit::CommitOffset {
                partition: *p, offset: *off, metadata: "kmirror".into(),
            }).collect();
            let req = control::offset_commit::OffsetCommitRequest {
                group_id: group.clone(),
                topics: vec![(topic.clone(), offsets.clone())],
            };
            let there: kp::OffsetCommitRequest = ours_decoded_there(&req, v);
            prop_assert_eq!(there.generation_id_or_member_epoch, -1);
            for (t, o) in there.topics[0].partitions.iter().zip(&offsets) {
                prop_assert_eq!((t.partition_index, t.committed_offset), (o.partition, o.offset));
                prop_assert_eq!(t.committed_metadata.as_ref().map(|m| m.as_str()), Some("kmirror"));
            }
            let resp = kp::OffsetCommitResponse::default().with_topics(vec![
                kp::offset_commit_response::OffsetCommitResponseTopic::default()
                    .with_name(kp::TopicName(s(&topic)))
                    .with_partitions(parts.iter().map(|(p, _, e)| kp::offset_commit_response::OffsetCommitResponsePartition::default()
                        .with_partition_index(*p).with_error_code(*e)).collect())]);
            let got = control::decode_response::<control::offset_commit::OffsetCommitRequest>(theirs(&resp, v), v).unwrap();
            for (g, (p, _, e)) in got.topics[0].partitions.iter().zip(&parts) {
                prop_assert_eq!((g.partition, g.error), (*p, ErrorCode(*e)));
            }
        }
    }

    #[test]
    fn topic_admin(topic in name(), count in 1i32..10_000, rf in -1i16..5, err in any::<i16>(),
                   configs in proptest::collection::vec((name(), name()), 0..4)) {
        for v in versions(Api::CreateTopics) {
            let req = control::create_topics::CreateTopicsRequest {
                topics: vec![control::create_topics::NewTopic {
                    name: topic.clone(), partitions: count, replication_factor: rf, configs: configs.clone(),
                }],
                timeout_ms: 30_000,
            };
            let there: kp::CreateTopicsRequest = ours_decoded_there(&req, v);
            let t = &there.topics[0];
            prop_assert_eq!((t.name.0.as_str(), t.num_partitions, t.replication_factor), (topic.as_str(), count, rf));
            let sent: Vec<(String, String)> = t.configs.iter().map(|c| (c.name.to_string(), c.value.as_ref().unwrap().to_string())).collect();
            prop_assert_eq!(&sent, &configs);
            let resp = kp::CreateTopicsResponse::default().with_topics(vec![
                kp::create_topics_response::CreatableTopicResult::default()
                    .with_name(kp::TopicName(s(&topic))).with_error_code(err)
                    .with_error_message(if v >= 1 { Some(s("why")) } else { None })
                    .with_configs(if v >= 5 { Some(vec![kp::create_topics_response::CreatableTopicConfigs::default().with_name(s("a")).with_value(Some(s("b")))]) } else { None })]);
            let got = control::decode_response::<control::create_topics::CreateTopicsRequest>(theirs(&resp, v), v).unwrap();
            prop_assert_eq!(&got.topics[0].name, &topic);
            prop_assert_eq!(got.topics[0].error, ErrorCode(err));
            prop_assert_eq!(got.topics[0].message.as_deref(), if v >= 1 { Some("why") } else { None });
        }
        for v in versions(Api::CreatePartitions) {
            let req = control::create_partitions::CreatePartitionsRequest { topics: vec![(topic.clone(), count)], timeout_ms: 5 };
            let there: kp::CreatePartitionsRequest = ours_decoded_there(&req, v);
            prop_assert_eq!(there.topics[0].count, count);
            prop_assert!(there.topics[0].assignments.is_none());
            let resp = kp::CreatePartitionsResponse::default().with_results(vec![
                kp::create_partitions_response::CreatePartitionsTopicResult::default()
                    .with_name(kp::TopicName(s(&topic))).with_error_code(err).with_error_message(Some(s("m")))]);
            let got = control::decode_response::<control::create_partitions::CreatePartitionsRequest>(theirs(&resp, v), v).unwrap();
            prop_assert_eq!((&got.results[0].name, got.results[0].error), (&topic, ErrorCode(err)));
        }
        for v in versions(Api::DeleteRecords) {
            let req = control::delete_records::DeleteRecordsRequest { topics: vec![(topic.clone(), vec![(count, i64::from(count) * 3)])], timeout_ms: 5 };
            let there: kp::DeleteRecordsRequest = ours_decoded_there(&req, v);
            prop_assert_eq!(there.topics[0].name.as_str(), topic.as_str());
            prop_assert_eq!((there.topics[0].partitions[0].partition_index, there.topics[0].partitions[0].offset), (count, i64::from(count) * 3));
            prop_assert_eq!(there.timeout_ms, 5);
            let resp = kp::DeleteRecordsResponse::default().with_topics(vec![
                kp::delete_records_response::DeleteRecordsTopicResult::default()
                    .with_name(kp::TopicName(s(&topic)))
                    .with_partitions(vec![kp::delete_records_response::DeleteRecordsPartitionResult::default()
                        .with_partition_index(count).with_low_watermark(77).with_error_code(err)])]);
            let got = control::decode_response::<control::delete_records::DeleteRecordsRequest>(theirs(&resp, v), v).unwrap();
            prop_assert_eq!(&got[0].topic, &topic);
            prop_assert_eq!((got[0].partition, got[0].low_watermark, got[0].error), (count, 77, ErrorCode(err)));
        }
        for v in versions(Api::IncrementalAlterConfigs) {
            use control::incremental_alter_configs::{AlterConfig, ConfigOp, IncrementalAlterConfigsRequest};
            let changes: Vec<AlterConfig> = configs.iter().enumerate().map(|(i, (n, val))| if i % 2 == 0 {
                AlterConfig { name: n.clone(), op: ConfigOp::Set, value: Some(val.clone()) }
            } else {
                AlterConfig { name: n.clone(), op: ConfigOp::Delete, value: None }
            }).collect();
            let req = IncrementalAlterConfigsRequest { resources: vec![(2, topic.clone(), changes.clone())] };
            let there: kp::IncrementalAlterConfigsRequest = ours_decoded_there(&req, v);
            let r = &there.resources[0];
            prop_assert_eq!((r.resource_type, r.resource_name.as_str()), (2, topic.as_str()));
            prop_assert!(!there.validate_only);
            let sent: Vec<(String, i8, Option<String>)> = r.configs.iter().map(|c| (c.name.to_string(), c.config_operation, c.value.as_ref().map(|v| v.to_string()))).collect();
            let want: Vec<(String, i8, Option<String>)> = changes.iter().map(|c| (c.name.clone(), if c.op == ConfigOp::Set { 0 } else { 1 }, c.value.clone())).collect();
            prop_assert_eq!(&sent, &want);
            let resp = kp::IncrementalAlterConfigsResponse::default().with_responses(vec![
                kp::incremental_alter_configs_response::AlterConfigsResourceResponse::default()
                    .with_error_code(err).with_error_message(Some(s("m"))).with_resource_type(2).with_resource_name(s(&topic))]);
            let got = control::decode_response::<IncrementalAlterConfigsRequest>(theirs(&resp, v), v).unwrap();
            prop_assert_eq!((got.results[0].error, &got.results[0].resource_name), (ErrorCode(err), &topic));
            prop_assert_eq!(got.results[0].message.as_deref(), Some("m"));
        }
        for v in versions(Api::DescribeConfigs) {
            let req = control::describe_configs::DescribeConfigsRequest { resources: vec![(2, topic.clone())] };
            let there: kp::DescribeConfigsRequest = ours_decoded_there(&req, v);
            prop_assert_eq!(there.resources[0].resource_name.as_str(), topic.as_str());
            prop_assert!(there.resources[0].configuration_keys.is_none());
            let resp = kp::DescribeConfigsResponse::default().with_results(vec![
                kp::describe_configs_response::DescribeConfigsResult::default()
                    .with_error_code(err).with_resource_type(2).with_resource_name(s(&topic))
                    .with_configs(configs.iter().map(|(n, val)| kp::describe_configs_response::DescribeConfigsResourceResult::default()
                        .with_name(s(n)).with_value(Some(s(val))).with_config_source(if v >= 1 { 1 } else { -1 })
                        .with_is_sensitive(true)
                        .with_synonyms(if v >= 1 { vec![kp::describe_configs_response::DescribeConfigsSynonym::default().with_name(s(n)).with_source(5)] } else { vec![] })
                        .with_documentation(if v >= 3 { Some(s("doc")) } else { None })).collect())]);
            let got = control::decode_response::<control::describe_configs::DescribeConfigsRequest>(theirs(&resp, v), v).unwrap();
            let r = &got.results[0];
            prop_assert_eq!((r.error, &r.resource_name), (ErrorCode(err), &topic));
            let got_configs: Vec<(String, String)> = r.configs.iter().map(|c| (c.name.clone(), c.value.clone().unwrap())).collect();
            prop_assert_eq!(&got_configs, &configs);
            let want_source: i8 = if v >= 1 { 1 } else { -1 };
            prop_assert!(r.configs.iter().all(|c| c.is_sensitive && c.source == want_source));
        }
    }

    #[test]
    fn list_groups(groups in proptest::collection::vec((name(), name(), name()), 0..5), err in any::<i16>()) {
        for v in versions(Api::ListGroups) {
            let there: kp::ListGroupsRequest = ours_decoded_there(&control::list_groups::ListGroupsRequest, v);
            prop_assert!(there.states_filter.is_empty());
            let resp = kp::ListGroupsResponse::default().with_error_code(err).with_groups(
                groups.iter().map(|(g, p, st)| kp::list_groups_response::ListedGroup::default()
                    .with_group_id(kp::GroupId(s(g))).with_protocol_type(s(p))
                    .with_group_state(s(st)).with_group_type(s("classic"))).collect());
            let got = control::decode_response::<control::list_groups::ListGroupsRequest>(theirs(&resp, v), v).unwrap();
            prop_assert_eq!(got.error, ErrorCode(err));
            let want: Vec<(String, String, Option<String>)> = groups.iter().map(|(g, p, st)| (g.clone(), p.clone(), Some(st.clone()))).collect();
            let seen: Vec<(String, String, Option<String>)> = got.groups.into_iter().map(|g| (g.group_id, g.protocol_type, g.state)).collect();
            prop_assert_eq!(seen, want);
        }
    }

    #[test]
    fn coordinators_and_producers(key in name(), host in name(), port in any::<i32>(), node in any::<i32>(),
                                  err in any::<i16>(), pid in any::<i64>(), epoch in any::<i16>()) {
        for v in versions(Api::FindCoordinator) {
            let req = control::find_coordinator::FindCoordinatorRequest {
                key: key.clone(), key_type: control::find_coordinator::CoordinatorType::Transaction,
            };
            let there: kp::FindCoordinatorRequest = ours_decoded_there(&req, v);
            if v >= 4 {
                prop_assert_eq!(there.coordinator_keys[0].as_str(), key.as_str());
            } else {
                prop_assert_eq!(there.key.as_str(), key.as_str());
            }
            if v >= 1 {
                prop_assert_eq!(there.key_type, 1);
            }
            let resp = if v >= 4 {
                kp::FindCoordinatorResponse::default().with_coordinators(vec![
                    kp::find_coordinator_response::Coordinator::default().with_key(s(&key))
                        .with_node_id(kp::BrokerId(node)).with_host(s(&host)).with_port(port).with_error_code(err)])
            } else {
                kp::FindCoordinatorResponse::default().with_node_id(kp::BrokerId(node))
                    .with_host(s(&host)).with_port(port).with_error_code(err)
            };
            let got = control::decode_response::<control::find_coordinator::FindCoordinatorRequest>(theirs(&resp, v), v).unwrap();
            prop_assert_eq!((got.node_id, &got.host, got.port, got.error), (node, &host, port, ErrorCode(err)));
        }
        for v in versions(Api::InitProducerId) {
            let req = control::producer_id::InitProducerIdRequest {
                transactional_id: Some(key.clone()), transaction_timeout_ms: 60_000, producer_id: pid, producer_epoch: epoch,
            };
            let there: kp::InitProducerIdRequest = ours_decoded_there(&req, v);
            prop_assert_eq!(there.transactional_id.as_ref().map(|t| t.0.as_str()), Some(key.as_str()));
            prop_assert_eq!(there.transaction_timeout_ms, 60_000);
            if v >= 3 {
                prop_assert_eq!((there.producer_id.0, there.producer_epoch), (pid, epoch));
            }
            let resp = kp::InitProducerIdResponse::default().with_error_code(err)
                .with_producer_id(kp::ProducerId(pid)).with_producer_epoch(epoch);
            let got = control::decode_response::<control::producer_id::InitProducerIdRequest>(theirs(&resp, v), v).unwrap();
            prop_assert_eq!((got.error, got.producer_id, got.producer_epoch), (ErrorCode(err), pid, epoch));
        }
        for v in versions(Api::ApiVersions) {
            let resp = kp::ApiVersionsResponse::default().with_error_code(0).with_api_keys(vec![
                kp::api_versions_response::ApiVersion::default().with_api_key(err).with_min_version(epoch).with_max_version(3)]);
            let got = control::decode_response::<control::api_versions::ApiVersionsRequest>(theirs(&resp, v), v).unwrap();
            prop_assert_eq!((got.api_keys[0].api_key, got.api_keys[0].min_version, got.api_keys[0].max_version), (err, epoch, 3));
            let req = control::api_versions::ApiVersionsRequest::new("kmirror", &key);
            let there: kp::ApiVersionsRequest = ours_decoded_there(&req, v);
            if v >= 3 {
                prop_assert_eq!(there.client_software_version.as_str(), key.as_str());
            }
        }
    }

    #[test]
    fn transactions(txn in name(), group in name(), topic in name(), pid in any::<i64>(), epoch in any::<i16>(),
                    parts in proptest::collection::vec((0i32..100, any::<i16>()), 1..4), commit in any::<bool>(), err in any::<i16>()) {
        let producer = control::txn::TxnProducer { transactional_id: txn.clone(), producer_id: pid, producer_epoch: epoch };
        for v in versions(Api::AddPartitionsToTxn) {
            let req = control::txn::AddPartitionsToTxnRequest {
                producer: producer.clone(), topics: vec![(topic.clone(), parts.iter().map(|p| p.0).collect())],
            };
            let there: kp::AddPartitionsToTxnRequest = ours_decoded_there(&req, v);
            prop_assert_eq!(there.v3_and_below_transactional_id.0.as_str(), txn.as_str());
            prop_assert_eq!((there.v3_and_below_producer_id.0, there.v3_and_below_producer_epoch), (pid, epoch));
            let resp = kp::AddPartitionsToTxnResponse::default().with_results_by_topic_v3_and_below(vec![
                kp::add_partitions_to_txn_response::AddPartitionsToTxnTopicResult::default()
                    .with_name(kp::TopicName(s(&topic)))
                    .with_results_by_partition(parts.iter().map(|(p, e)| kp::add_partitions_to_txn_response::AddPartitionsToTxnPartitionResult::default()
                        .with_partition_index(*p).with_partition_error_code(*e)).collect())]);
            let got = control::decode_response::<control::txn::AddPartitionsToTxnRequest>(theirs(&resp, v), v).unwrap();
            for (g, (p, e)) in got.topics[0].partitions.iter().zip(&parts) {
                prop_assert_eq!((g.partition, g.error), (*p, ErrorCode(*e)));
            }
        }
        for v in versions(Api::AddOffsetsToTxn) {
            let req = control::txn::AddOffsetsToTxnRequest { producer: producer.clone(), group_id: group.clone() };
            let there: kp::AddOffsetsToTxnRequest = ours_decoded_there(&req, v);
            prop_assert_eq!(there.group_id.0.as_str(), group.as_str());
            let got = control::decode_response::<control::txn::AddOffsetsToTxnRequest>(
                theirs(&kp::AddOffsetsToTxnResponse::default().with_error_code(err), v), v).unwrap();
            prop_assert_eq!(got, ErrorCode(err));
        }
        for v in versions(Api::EndTxn) {
            let req = control::txn::EndTxnRequest { producer: producer.clone(), committed: commit };
            let there: kp::EndTxnRequest = ours_decoded_there(&req, v);
            prop_assert_eq!(there.committed, commit);
            let got = control::decode_response::<control::txn::EndTxnRequest>(
                theirs(&kp::EndTxnResponse::default().with_error_code(err), v), v).unwrap();
            prop_assert_eq!(got, ErrorCode(err));
        }
        for v in versions(Api::TxnOffsetCommit) {
            let req = control::txn::TxnOffsetCommitRequest {
                transactional_id: txn.clone(), group_id: group.clone(), producer_id: pid, producer_epoch: epoch,
                topics: vec![(topic.clone(), parts.iter().map(|(p, _)| control::offset_commit::CommitOffset {
                    partition: *p, offset: 42, metadata: String::new() }).collect())],
            };
            let there: kp::TxnOffsetCommitRequest = ours_decoded_there(&req, v);
            prop_assert_eq!((there.producer_id.0, there.producer_epoch), (pid, epoch));
            prop_assert_eq!(there.topics[0].partitions.len(), parts.len());
            let resp = kp::TxnOffsetCommitResponse::default().with_topics(vec![
                kp::txn_offset_commit_response::TxnOffsetCommitResponseTopic::default()
                    .with_name(kp::TopicName(s(&topic)))
                    .with_partitions(parts.iter().map(|(p, e)| kp::txn_offset_commit_response::TxnOffsetCommitResponsePartition::default()
                        .with_partition_index(*p).with_error_code(*e)).collect())]);
            let got = control::decode_response::<control::txn::TxnOffsetCommitRequest>(theirs(&resp, v), v).unwrap();
            prop_assert_eq!(got.topics[0].partitions.len(), parts.len());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn sasl(mechanism in name(), mechs in proptest::collection::vec(name(), 0..4), err in any::<i16>(),
            token in proptest::collection::vec(any::<u8>(), 0..300), lifetime in any::<i64>(),
            message in proptest::option::of(name())) {
        for v in versions(Api::SaslHandshake) {
            let req = control::sasl::SaslHandshakeRequest { mechanism: mechanism.clone() };
            let there: kp::SaslHandshakeRequest = ours_decoded_there(&req, v);
            prop_assert_eq!(there.mechanism.as_str(), mechanism.as_str());
            let resp = kp::SaslHandshakeResponse::default()
                .with_error_code(err)
                .with_mechanisms(mechs.iter().map(|m| s(m)).collect());
            let got = control::decode_response::<control::sasl::SaslHandshakeRequest>(theirs(&resp, v), v).unwrap();
            prop_assert_eq!(got.error, ErrorCode(err));
            prop_assert_eq!(&got.mechanisms, &mechs);
        }
        for v in versions(Api::SaslAuthenticate) {
            let req = control::sasl::SaslAuthenticateRequest { auth_bytes: token.clone() };
            let there: kp::SaslAuthenticateRequest = ours_decoded_there(&req, v);
            prop_assert_eq!(&there.auth_bytes[..], &token[..]);
            let resp = kp::SaslAuthenticateResponse::default()
                .with_error_code(err)
                .with_error_message(message.as_deref().map(s))
                .with_auth_bytes(Bytes::from(token.clone()))
                .with_session_lifetime_ms(lifetime);
            let got = control::decode_response::<control::sasl::SaslAuthenticateRequest>(theirs(&resp, v), v).unwrap();
            prop_assert_eq!(got.error, ErrorCode(err));
            prop_assert_eq!(&got.error_message, &message);
            prop_assert_eq!(&got.auth_bytes[..], &token[..]);
            prop_assert_eq!(got.session_lifetime_ms, if v >= 1 { lifetime } else { 0 });
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn acls(topic in name(), principal in name(), op in 0i8..15, perm in 0i8..4, pattern in 0i8..5,
            err in any::<i16>(), hosts in proptest::collection::vec(name(), 1..4)) {
        for v in versions(Api::DescribeAcls) {
            let req = control::acls::DescribeAclsRequest { resource_name: Some(topic.clone()), ..control::acls::DescribeAclsRequest::any_topic() };
            let there: kp::DescribeAclsRequest = ours_decoded_there(&req, v);
            prop_assert_eq!(there.resource_type_filter, 2);
            prop_assert_eq!(there.resource_name_filter.map(|s| s.to_string()), Some(topic.clone()));
            let resp = kp::DescribeAclsResponse::default()
                .with_error_code(err)
                .with_resources(vec![kp::describe_acls_response::DescribeAclsResource::default()
                    .with_resource_type(2)
                    .with_resource_name(s(&topic))
                    .with_pattern_type(pattern)
                    .with_acls(hosts.iter().map(|h| kp::describe_acls_response::AclDescription::default()
                        .with_principal(s(&principal))
                        .with_host(s(h))
                        .with_operation(op)
                        .with_permission_type(perm)).collect())]);
            let got = control::decode_response::<control::acls::DescribeAclsRequest>(theirs(&resp, v), v).unwrap();
            prop_assert_eq!(got.error, ErrorCode(err));
            prop_assert_eq!(got.acls.len(), hosts.len());
            for (a, h) in got.acls.iter().zip(&hosts) {
                prop_assert_eq!((&a.resource_name, a.pattern_type, &a.principal, &a.host, a.operation, a.permission),
                    (&topic, pattern, &principal, h, op, perm));
            }
        }
        for v in versions(Api::CreateAcls) {
            let binding = control::acls::AclBinding {
                resource_type: 2, resource_name: topic.clone(), pattern_type: 3,
                principal: principal.clone(), host: "*".into(), operation: op, permission: perm,
            };
            let req = control::acls::CreateAclsRequest { creations: vec![binding.clone(), binding] };
            let there: kp::CreateAclsRequest = ours_decoded_there(&req, v);
            prop_assert_eq!(there.creations.len(), 2);
            prop_assert_eq!(there.creations[0].resource_name.as_str(), topic.as_str());
            prop_assert_eq!(there.creations[0].operation, op);
            let resp = kp::CreateAclsResponse::default().with_results(vec![
                kp::create_acls_response::AclCreationResult::default().with_error_code(err)]);
            let got = control::decode_response::<control::acls::CreateAclsRequest>(theirs(&resp, v), v).unwrap();
            prop_assert_eq!(got.results[0].0, ErrorCode(err));
        }
    }
}

#[test]
fn response_headers_match_theirs() {
    for api in Api::ALL {
        for v in versions(api) {
            let key = kp::ApiKey::try_from(api.key()).expect("a known key");
            assert_eq!(
                crate::header::response_header_version(api.key(), v),
                key.response_header_version(v),
                "{} v{v}",
                api.name()
            );
            assert_eq!(
                request_header_version(api.key(), v),
                key.request_header_version(v),
                "{} v{v}",
                api.name()
            );
        }
    }
    let frame = Bytes::from_static(&[0, 0, 0, 9, 0, 1, 2]);
    let (corr, body) = split_response(frame, Api::Metadata.key(), 12).unwrap();
    assert_eq!(corr, 9);
    assert_eq!(&body[..], &[1, 2]);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn group_membership(group in name(), member in name(), instance in proptest::option::of(name()),
                        generation in any::<i32>(), err in any::<i16>(),
                        metadata in proptest::collection::vec(any::<u8>(), 0..40),
                        others in proptest::collection::vec((name(), proptest::option::of(name())), 0..4)) {
        use control::group::*;
        let meta = Bytes::from(metadata.clone());
        for v in versions(Api::JoinGroup) {
            let req = JoinGroupRequest {
                group_id: group.clone(), session_timeout_ms: 10_000, rebalance_timeout_ms: 30_000,
                member_id: member.clone(), group_instance_id: instance.clone(),
                protocol_type: "kmirror".into(), protocols: vec![("round-robin".into(), meta.clone())],
                reason: Some("joining".into()),
            };
            let there: kp::JoinGroupRequest = ours_decoded_there(&req, v);
            prop_assert_eq!(there.group_id.as_str(), group.as_str());
            prop_assert_eq!((there.session_timeout_ms, there.rebalance_timeout_ms), (10_000, 30_000));
            prop_assert_eq!(there.member_id.as_str(), member.as_str());
            prop_assert_eq!(there.group_instance_id.as_ref().map(|i| i.to_string()), instance.clone());
            prop_assert_eq!(there.protocol_type.as_str(), "kmirror");
            prop_assert_eq!(there.protocols[0].name.as_str(), "round-robin");
            prop_assert_eq!(&there.protocols[0].metadata, &meta);
            prop_assert_eq!(there.reason.as_ref().map(|r| r.to_string()), (v >= 8).then(|| "joining".to_string()));
            let resp = kp::JoinGroupResponse::default()
                .with_error_code(err).with_generation_id(generation)
                .with_protocol_type(Some(s("kmirror"))).with_protocol_name(Some(s("round-robin")))
                .with_leader(s(&member)).with_member_id(s(&member))
                .with_members(others.iter().map(|(m, i)| kp::join_group_response::JoinGroupResponseMember::default()
                    .with_member_id(s(m)).with_group_instance_id(i.as_deref().map(s)).with_metadata(meta.clone())).collect());
            let got = control::decode_response::<JoinGroupRequest>(theirs(&resp, v), v).unwrap();
            prop_assert_eq!((got.error, got.generation_id), (ErrorCode(err), generation));
            prop_assert_eq!(got.protocol_name.as_deref(), Some("round-robin"));
            prop_assert_eq!((&got.leader, &got.member_id), (&member, &member));
            let members: Vec<(String, Option<String>, Bytes)> = got.members.iter().map(|m| (m.member_id.clone(), m.group_instance_id.clone(), m.metadata.clone())).collect();
            let want: Vec<(String, Option<String>, Bytes)> = others.iter().map(|(m, i)| (m.clone(), i.clone(), meta.clone())).collect();
            prop_assert_eq!(members, want);
        }
        for v in versions(Api::SyncGroup) {
            let req = SyncGroupRequest {
                group_id: group.clone(), generation_id: generation, member_id: member.clone(),
                group_instance_id: instance.clone(), protocol_type: Some("kmirror".into()),
                protocol_name: Some("round-robin".into()),
                assignments: others.iter().map(|(m, _)| (m.clone(), meta.clone())).collect(),
            };
            let there: kp::SyncGroupRequest = ours_decoded_there(&req, v);
            prop_assert_eq!((there.group_id.as_str(), there.generation_id), (group.as_str(), generation));
            prop_assert_eq!(there.group_instance_id.as_ref().map(|i| i.to_string()), instance.clone());
            prop_assert_eq!(there.protocol_type.as_ref().map(|p| p.to_string()), (v >= 5).then(|| "kmirror".to_string()));
            let sent: Vec<(String, Bytes)> = there.assignments.iter().map(|a| (a.member_id.to_string(), a.assignment.clone())).collect();
            prop_assert_eq!(sent, req.assignments.clone());
            let resp = kp::SyncGroupResponse::default().with_error_code(err)
                .with_protocol_type(Some(s("kmirror"))).with_protocol_name(Some(s("round-robin")))
                .with_assignment(meta.clone());
            let got = control::decode_response::<SyncGroupRequest>(theirs(&resp, v), v).unwrap();
            prop_assert_eq!((got.error, &got.assignment), (ErrorCode(err), &meta));
        }
        for v in versions(Api::Heartbeat) {
            let req = HeartbeatRequest { group_id: group.clone(), generation_id: generation, member_id: member.clone(), group_instance_id: instance.clone() };
            let there: kp::HeartbeatRequest = ours_decoded_there(&req, v);
            prop_assert_eq!((there.group_id.as_str(), there.generation_id, there.member_id.as_str()), (group.as_str(), generation, member.as_str()));
            prop_assert_eq!(there.group_instance_id.as_ref().map(|i| i.to_string()), instance.clone());
            let resp = kp::HeartbeatResponse::default().with_error_code(err);
            let got = control::decode_response::<HeartbeatRequest>(theirs(&resp, v), v).unwrap();
            prop_assert_eq!(got, ErrorCode(err));
        }
        for v in versions(Api::LeaveGroup) {
            let members: Vec<(String, Option<String>)> = std::iter::once((member.clone(), instance.clone())).chain(others.iter().cloned()).collect();
            let req = LeaveGroupRequest { group_id: group.clone(), members: members.clone(), reason: Some("stopping".into()) };
            let there: kp::LeaveGroupRequest = ours_decoded_there(&req, v);
            prop_assert_eq!(there.group_id.as_str(), group.as_str());
            let sent: Vec<(String, Option<String>, Option<String>)> = there.members.iter().map(|m| (m.member_id.to_string(), m.group_instance_id.as_ref().map(|i| i.to_string()), m.reason.as_ref().map(|r| r.to_string()))).collect();
            let want: Vec<(String, Option<String>, Option<String>)> = members.iter().map(|(m, i)| (m.clone(), i.clone(), (v >= 5).then(|| "stopping".to_string()))).collect();
            prop_assert_eq!(sent, want);
            let resp = kp::LeaveGroupResponse::default().with_error_code(err).with_members(members.iter().map(|(m, i)|
                kp::leave_group_response::MemberResponse::default().with_member_id(s(m)).with_group_instance_id(i.as_deref().map(s)).with_error_code(err)).collect());
            let got = control::decode_response::<LeaveGroupRequest>(theirs(&resp, v), v).unwrap();
            prop_assert_eq!(got.error, ErrorCode(err));
            let back: Vec<(String, ErrorCode)> = got.members;
            prop_assert_eq!(back, members.iter().map(|(m, _)| (m.clone(), ErrorCode(err))).collect::<Vec<_>>());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Random bytes, and random bytes after a valid prefix of huge counts,
    /// are errors for every decoder at every version, never panics.
    #[test]
    fn no_response_decoder_panics(data in proptest::collection::vec(any::<u8>(), 0..160), which in 0usize..64) {
        let api = Api::ALL[which % Api::ALL.len()];
        for v in versions(api) {
            let _ = crate::any_response::decode(api, v, Bytes::from(data.clone()));
        }
    }
}
