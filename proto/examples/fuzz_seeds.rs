//! Writes the seed inputs of the fuzz targets in `proto/fuzz` from valid
//! encodings: record batches, record sets and Fetch and Produce responses
//! made by this crate's own encoders, control-plane responses at every
//! version kmirror speaks made by the independent `kafka-protocol` codec.
//! Seeds give the fuzzer the shapes a real broker sends; it mutates from
//! there. Each file starts with the byte the target reads first (API and
//! version, codec, or flags; see each target's doc).
//!
//! Run from the repository root; it overwrites the files it names and
//! leaves others (crash reproducers kept as seeds) alone:
//!
//!     cargo run --release -p kmirror-proto --example fuzz_seeds -- proto/fuzz/seeds

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages as kp;
use kafka_protocol::protocol::{Encodable, StrBytes};

use kmirror_proto::any_response::versions_spoken;
use kmirror_proto::api::Api;
use kmirror_proto::batch::{ATTR_CONTROL, HEADER_LEN};
use kmirror_proto::compression::Compression;
use kmirror_proto::error_code::ErrorCode;
use kmirror_proto::fetch::{
    self, AbortedTransaction, FetchPartitionResponse, FetchResponse, FetchTopicResponse,
};
use kmirror_proto::header::response_header_version;
use kmirror_proto::produce::{
    self, ProducePartitionResponse, ProduceResponse, ProduceTopicResponse,
};
use kmirror_proto::records::{encode_batch, BatchMeta, NewRecord};

fn main() {
    let root = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("proto/fuzz/seeds"));
    let mut seeds = Seeds { root, count: 0 };
    control_and_frames(&mut seeds);
    batches_and_records(&mut seeds);
    fetch_and_produce(&mut seeds);
    decompress(&mut seeds);
    println!("wrote {} seeds under {}", seeds.count, seeds.root.display());
}

struct Seeds {
    root: PathBuf,
    count: usize,
}

impl Seeds {
    fn write(&mut self, target: &str, name: &str, first: u8, body: &[u8]) {
        let dir = self.root.join(target);
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        let mut bytes = Vec::with_capacity(body.len() + 1);
        bytes.push(first);
        bytes.extend_from_slice(body);
        let path: &Path = &dir.join(name);
        std::fs::write(path, bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        self.count += 1;
    }
}

fn s(x: &str) -> StrBytes {
    StrBytes::from_string(x.to_string())
}

fn encode<T: Encodable>(msg: &T, version: i16) -> Bytes {
    let mut b = BytesMut::new();
    msg.encode(&mut b, version)
        .unwrap_or_else(|e| panic!("kafka-protocol encodes v{version}: {e}"));
    b.freeze()
}

/// A tagged field kmirror does not know, on flexible versions, so the
/// seeds carry a non-empty tagged section to skip.
fn tags(flexible: bool) -> BTreeMap<i32, Bytes> {
    if flexible {
        BTreeMap::from([(99, Bytes::from_static(b"unknown"))])
    } else {
        BTreeMap::new()
    }
}

/// A response body such as a broker of today sends, at `version`.
fn control_response(api: Api, v: i16) -> Bytes {
    use kp::*;
    let flex = api.is_flexible(v);
    match api {
        Api::ApiVersions => encode(
            &ApiVersionsResponse::default()
                .with_api_keys(
                    Api::ALL
                        .iter()
                        .map(|a| {
                            api_versions_response::ApiVersion::default()
                                .with_api_key(a.key())
                                .with_min_version(a.ours().0)
                                .with_max_version(a.ours().1)
                        })
                        .collect(),
                )
                .with_unknown_tagged_fields(tags(flex)),
            v,
        ),
        Api::Metadata => encode(
            &MetadataResponse::default()
                .with_brokers(vec![
                    metadata_response::MetadataResponseBroker::default()
                        .with_node_id(BrokerId(1))
                        .with_host(s("broker-1.dc1"))
                        .with_port(9092)
                        .with_rack(Some(s("a"))),
                    metadata_response::MetadataResponseBroker::default()
                        .with_node_id(BrokerId(2))
                        .with_host(s("broker-2.dc1"))
                        .with_port(9092),
                ])
                .with_cluster_id(Some(s("dc1")))
                .with_controller_id(BrokerId(1))
                .with_topics(vec![
                    metadata_response::MetadataResponseTopic::default()
                        .with_name(Some(TopicName(s("orders"))))
                        .with_partitions(
                            (0..2)
                                .map(|p| {
                                    metadata_response::MetadataResponsePartition::default()
                                        .with_partition_index(p)
                                        .with_leader_id(BrokerId(p + 1))
                                        .with_leader_epoch(if v >= 7 { 5 } else { -1 })
                                        .with_replica_nodes(vec![BrokerId(1), BrokerId(2)])
                                        .with_isr_nodes(vec![BrokerId(1)])
                                })
                                .collect(),
                        ),
                    metadata_response::MetadataResponseTopic::default()
                        .with_name(Some(TopicName(s("missing"))))
                        .with_error_code(3),
                ])
                .with_unknown_tagged_fields(tags(flex)),
            v,
        ),
        Api::ListOffsets => encode(
            &ListOffsetsResponse::default()
                .with_topics(vec![list_offsets_response::ListOffsetsTopicResponse::default()
                    .with_name(TopicName(s("orders")))
                    .with_partitions(vec![
                        list_offsets_response::ListOffsetsPartitionResponse::default()
                            .with_partition_index(0)
                            .with_timestamp(-1)
                            .with_offset(1234),
                        list_offsets_response::ListOffsetsPartitionResponse::default()
                            .with_partition_index(1)
                            .with_error_code(6)
                            .with_offset(-1),
                    ])])
                .with_unknown_tagged_fields(tags(flex)),
            v,
        ),
        Api::OffsetCommit => encode(
            &OffsetCommitResponse::default()
                .with_topics(vec![offset_commit_response::OffsetCommitResponseTopic::default()
                    .with_name(TopicName(s("orders")))
                    .with_partitions(vec![
                        offset_commit_response::OffsetCommitResponsePartition::default()
                            .with_partition_index(0),
                        offset_commit_response::OffsetCommitResponsePartition::default()
                            .with_partition_index(1)
                            .with_error_code(25),
                    ])])
                .with_unknown_tagged_fields(tags(flex)),
            v,
        ),
        Api::OffsetFetch => encode(
            &OffsetFetchResponse::default()
                .with_topics(vec![offset_fetch_response::OffsetFetchResponseTopic::default()
                    .with_name(TopicName(s("orders")))
                    .with_partitions(vec![
                        offset_fetch_response::OffsetFetchResponsePartition::default()
                            .with_partition_index(0)
                            .with_committed_offset(42)
                            .with_metadata(Some(s("kmirror"))),
                        offset_fetch_response::OffsetFetchResponsePartition::default()
                            .with_partition_index(1)
                            .with_committed_offset(-1),
                    ])])
                .with_unknown_tagged_fields(tags(flex)),
            v,
        ),
        Api::ListGroups => encode(
            &ListGroupsResponse::default()
                .with_groups(vec![
                    list_groups_response::ListedGroup::default()
                        .with_group_id(GroupId(s("billing")))
                        .with_protocol_type(s("consumer"))
                        .with_group_state(s("Stable"))
                        .with_group_type(s("classic")),
                    list_groups_response::ListedGroup::default()
                        .with_group_id(GroupId(s("audit")))
                        .with_protocol_type(s("consumer"))
                        .with_group_state(s("Empty"))
                        .with_group_type(s("consumer")),
                ])
                .with_unknown_tagged_fields(tags(flex)),
            v,
        ),
        Api::FindCoordinator => {
            let resp = if v >= 4 {
                FindCoordinatorResponse::default().with_coordinators(vec![
                    find_coordinator_response::Coordinator::default()
                        .with_key(s("mirror-txn-0"))
                        .with_node_id(BrokerId(2))
                        .with_host(s("broker-2.dc1"))
                        .with_port(9092),
                ])
            } else {
                FindCoordinatorResponse::default()
                    .with_node_id(BrokerId(2))
                    .with_host(s("broker-2.dc1"))
                    .with_port(9092)
                    .with_error_message(if v >= 1 { Some(s("none")) } else { None })
            };
            encode(&resp.with_unknown_tagged_fields(tags(flex)), v)
        }
        Api::CreateTopics => encode(
            &CreateTopicsResponse::default()
                .with_topics(vec![create_topics_response::CreatableTopicResult::default()
                    .with_name(TopicName(s("dc1.orders")))
                    .with_error_code(36)
                    .with_error_message(Some(s("Topic already exists")))
                    .with_num_partitions(if v >= 5 { 2 } else { -1 })
                    .with_replication_factor(if v >= 5 { 3 } else { -1 })
                    .with_configs(if v >= 5 {
                        Some(vec![create_topics_response::CreatableTopicConfigs::default()
                            .with_name(s("cleanup.policy"))
                            .with_value(Some(s("compact")))])
                    } else {
                        None
                    })])
                .with_unknown_tagged_fields(tags(flex)),
            v,
        ),
        Api::InitProducerId => encode(
            &InitProducerIdResponse::default()
                .with_producer_id(ProducerId(4242))
                .with_producer_epoch(3)
                .with_unknown_tagged_fields(tags(flex)),
            v,
        ),
        Api::AddPartitionsToTxn => encode(
            &AddPartitionsToTxnResponse::default()
                .with_results_by_topic_v3_and_below(vec![
                    add_partitions_to_txn_response::AddPartitionsToTxnTopicResult::default()
                        .with_name(TopicName(s("dc1.orders")))
                        .with_results_by_partition(vec![
                            add_partitions_to_txn_response::AddPartitionsToTxnPartitionResult::default()
                                .with_partition_index(0),
                            add_partitions_to_txn_response::AddPartitionsToTxnPartitionResult::default()
                                .with_partition_index(1)
                                .with_partition_error_code(51),
                        ]),
                ])
                .with_unknown_tagged_fields(tags(flex)),
            v,
        ),
        Api::AddOffsetsToTxn => encode(
            &AddOffsetsToTxnResponse::default()
                .with_error_code(15)
                .with_unknown_tagged_fields(tags(flex)),
            v,
        ),
        Api::EndTxn => encode(
            &EndTxnResponse::default()
                .with_error_code(0)
                .with_unknown_tagged_fields(tags(flex)),
            v,
        ),
        Api::TxnOffsetCommit => encode(
            &TxnOffsetCommitResponse::default()
                .with_topics(vec![txn_offset_commit_response::TxnOffsetCommitResponseTopic::default()
                    .with_name(TopicName(s("orders")))
                    .with_partitions(vec![
                        txn_offset_commit_response::TxnOffsetCommitResponsePartition::default()
                            .with_partition_index(0),
                        txn_offset_commit_response::TxnOffsetCommitResponsePartition::default()
                            .with_partition_index(1)
                            .with_error_code(47),
                    ])])
                .with_unknown_tagged_fields(tags(flex)),
            v,
        ),
        Api::DescribeConfigs => encode(
            &DescribeConfigsResponse::default()
                .with_results(vec![describe_configs_response::DescribeConfigsResult::default()
                    .with_resource_type(2)
                    .with_resource_name(s("orders"))
                    .with_configs(vec![
                        describe_configs_response::DescribeConfigsResourceResult::default()
                            .with_name(s("retention.ms"))
                            .with_value(Some(s("604800000")))
                            .with_config_source(if v >= 1 { 1 } else { -1 })
                            .with_synonyms(if v >= 1 {
                                vec![describe_configs_response::DescribeConfigsSynonym::default()
                                    .with_name(s("log.retention.ms"))
                                    .with_value(Some(s("604800000")))
                                    .with_source(5)]
                            } else {
                                vec![]
                            })
                            .with_config_type(if v >= 3 { 5 } else { 0 })
                            .with_documentation(if v >= 3 { Some(s("how long")) } else { None }),
                        describe_configs_response::DescribeConfigsResourceResult::default()
                            .with_name(s("sasl.jaas.config"))
                            .with_value(None)
                            .with_is_sensitive(true),
                    ])])
                .with_unknown_tagged_fields(tags(flex)),
            v,
        ),
        Api::CreatePartitions => encode(
            &CreatePartitionsResponse::default()
                .with_results(vec![
                    create_partitions_response::CreatePartitionsTopicResult::default()
                        .with_name(TopicName(s("dc1.orders"))),
                    create_partitions_response::CreatePartitionsTopicResult::default()
                        .with_name(TopicName(s("dc1.payments")))
                        .with_error_code(37)
                        .with_error_message(Some(s("Number of partitions is invalid"))),
                ])
                .with_unknown_tagged_fields(tags(flex)),
            v,
        ),
        Api::DeleteRecords => encode(
            &DeleteRecordsResponse::default()
                .with_topics(vec![delete_records_response::DeleteRecordsTopicResult::default()
                    .with_name(TopicName(s("B.orders")))
                    .with_partitions(vec![
                        delete_records_response::DeleteRecordsPartitionResult::default()
                            .with_partition_index(0)
                            .with_low_watermark(120),
                        delete_records_response::DeleteRecordsPartitionResult::default()
                            .with_partition_index(1)
                            .with_low_watermark(-1)
                            .with_error_code(6),
                    ])])
                .with_unknown_tagged_fields(tags(flex)),
            v,
        ),
        Api::IncrementalAlterConfigs => encode(
            &IncrementalAlterConfigsResponse::default()
                .with_responses(vec![
                    incremental_alter_configs_response::AlterConfigsResourceResponse::default()
                        .with_resource_type(2)
                        .with_resource_name(s("B.orders")),
                    incremental_alter_configs_response::AlterConfigsResourceResponse::default()
                        .with_resource_type(2)
                        .with_resource_name(s("B.payments"))
                        .with_error_code(29)
                        .with_error_message(Some(s("Topic authorization failed"))),
                ])
                .with_unknown_tagged_fields(tags(flex)),
            v,
        ),
        Api::JoinGroup => encode(
            &JoinGroupResponse::default()
                .with_generation_id(7)
                .with_protocol_type(Some(s("kmirror")))
                .with_protocol_name(Some(s("round-robin")))
                .with_leader(s("kmirror-a-1"))
                .with_member_id(s("kmirror-a-1"))
                .with_members(vec![
                    join_group_response::JoinGroupResponseMember::default()
                        .with_member_id(s("kmirror-a-1"))
                        .with_group_instance_id(Some(s("host-a")))
                        .with_metadata(Bytes::from_static(b"\x00\x01a")),
                    join_group_response::JoinGroupResponseMember::default()
                        .with_member_id(s("kmirror-b-1"))
                        .with_metadata(Bytes::from_static(b"\x00\x01b")),
                ])
                .with_unknown_tagged_fields(tags(flex)),
            v,
        ),
        Api::SyncGroup => encode(
            &SyncGroupResponse::default()
                .with_protocol_type(Some(s("kmirror")))
                .with_protocol_name(Some(s("round-robin")))
                .with_assignment(Bytes::from_static(b"\x00\x00\x00\x01\x00\x06orders"))
                .with_unknown_tagged_fields(tags(flex)),
            v,
        ),
        Api::Heartbeat => encode(
            &HeartbeatResponse::default()
                .with_error_code(27)
                .with_unknown_tagged_fields(tags(flex)),
            v,
        ),
        Api::LeaveGroup => encode(
            &LeaveGroupResponse::default()
                .with_members(vec![leave_group_response::MemberResponse::default()
                    .with_member_id(s("kmirror-a-1"))
                    .with_group_instance_id(Some(s("host-a")))])
                .with_unknown_tagged_fields(tags(flex)),
            v,
        ),
        Api::DescribeAcls => encode(
            &DescribeAclsResponse::default()
                .with_resources(vec![describe_acls_response::DescribeAclsResource::default()
                    .with_resource_type(2)
                    .with_resource_name(s("orders"))
                    .with_pattern_type(3)
                    .with_acls(vec![describe_acls_response::AclDescription::default()
                        .with_principal(s("User:alice"))
                        .with_host(s("*"))
                        .with_operation(3)
                        .with_permission_type(3)])])
                .with_unknown_tagged_fields(tags(flex)),
            v,
        ),
        Api::CreateAcls => encode(
            &CreateAclsResponse::default()
                .with_results(vec![create_acls_response::AclCreationResult::default()])
                .with_unknown_tagged_fields(tags(flex)),
            v,
        ),
        Api::SaslHandshake => encode(
            &SaslHandshakeResponse::default()
                .with_mechanisms(vec![s("PLAIN"), s("SCRAM-SHA-512")]),
            v,
        ),
        Api::SaslAuthenticate => encode(
            &SaslAuthenticateResponse::default()
                .with_auth_bytes(Bytes::from_static(b"r=nonce,s=c2FsdA==,i=4096"))
                .with_session_lifetime_ms(10_000)
                .with_unknown_tagged_fields(tags(flex)),
            v,
        ),
        Api::Fetch => fetch::encode_response(&sample_fetch()).freeze(),
        Api::Produce => produce::encode_response(&sample_produce(), v).freeze(),
    }
}

/// `control_response`: every control API at every version; `response_frame`:
/// the same bodies (and Fetch and Produce) behind their response header.
fn control_and_frames(seeds: &mut Seeds) {
    let spoken = versions_spoken();
    let control: Vec<(Api, i16)> = spoken
        .iter()
        .copied()
        .filter(|(api, _)| !matches!(api, Api::Fetch | Api::Produce))
        .collect();
    for (i, &(api, v)) in spoken.iter().enumerate() {
        let body = control_response(api, v);
        let name = format!("{}-v{v}", api.name());
        if let Some(j) = control.iter().position(|&x| x == (api, v)) {
            seeds.write("control_response", &name, j as u8, &body);
        }
        let mut frame = BytesMut::new();
        frame.put_i32(7);
        if response_header_version(api.key(), v) >= 1 {
            frame.put_u8(0);
        }
        frame.put_slice(&body);
        seeds.write("response_frame", &name, i as u8, &frame);
    }
}

fn meta(compression: Compression) -> BatchMeta {
    BatchMeta {
        base_offset: 1000,
        partition_leader_epoch: 4,
        compression,
        log_append_time: false,
        producer_id: 4242,
        producer_epoch: 1,
        base_sequence: 17,
        transactional: false,
    }
}

fn record(offset_delta: i32, value: &str) -> NewRecord {
    NewRecord {
        offset_delta,
        timestamp: 1_700_000_000_000 + i64::from(offset_delta) * 10,
        key: Some(Bytes::from(format!("key-{offset_delta}"))),
        value: Some(Bytes::from(value.to_string())),
        headers: vec![
            ("trace".into(), Some(Bytes::from_static(b"abc"))),
            ("none".into(), None),
        ],
    }
}

fn batch(meta: &BatchMeta, records: &[NewRecord]) -> Bytes {
    encode_batch(meta, records).expect("our encoder encodes")
}

/// A transaction marker as brokers write it: a control batch holding one
/// record whose key is (version 0, type) and value (version 0, epoch).
fn control_batch(commit: bool) -> Bytes {
    let mut key = BytesMut::new();
    key.put_i16(0);
    key.put_i16(i16::from(commit));
    let mut value = BytesMut::new();
    value.put_i16(0);
    value.put_i32(9);
    let rec = NewRecord {
        offset_delta: 0,
        timestamp: 1_700_000_000_500,
        key: Some(key.freeze()),
        value: Some(value.freeze()),
        headers: vec![],
    };
    let mut m = meta(Compression::None);
    m.transactional = true;
    m.base_offset = 1010;
    let mut raw = batch(&m, &[rec]).to_vec();
    let attrs = i16::from_be_bytes([raw[21], raw[22]]) | ATTR_CONTROL;
    raw[21..23].copy_from_slice(&attrs.to_be_bytes());
    let crc = crc32c::crc32c(&raw[21..]);
    raw[17..21].copy_from_slice(&crc.to_be_bytes());
    Bytes::from(raw)
}

/// A magic v1 message set entry as old segments hold it.
fn legacy_entry() -> Bytes {
    let mut b = BytesMut::new();
    b.put_i64(990);
    b.put_i32(26);
    b.put_u32(0); // crc, not read
    b.put_i8(1); // magic
    b.put_i8(0);
    b.put_i64(1_600_000_000_000);
    b.put_i32(-1);
    b.put_i32(4);
    b.put_slice(b"old!");
    b.freeze()
}

/// Named batches covering each shape the fast and slow paths treat apart.
fn sample_batches() -> Vec<(String, Bytes)> {
    let mut out = Vec::new();
    for c in Compression::ALL {
        let recs = [record(0, "first"), record(1, "second"), record(2, "")];
        out.push((c.name().to_string(), batch(&meta(c), &recs)));
        let holes = [record(0, "a"), record(3, "b"), record(7, "c")];
        out.push((format!("{}-compacted", c.name()), batch(&meta(c), &holes)));
    }
    let mut m = meta(Compression::None);
    m.log_append_time = true;
    m.transactional = true;
    out.push(("log-append-time-txn".into(), batch(&m, &[record(0, "x")])));
    out.push(("empty".into(), batch(&meta(Compression::None), &[])));
    out.push(("commit-marker".into(), control_batch(true)));
    out.push(("abort-marker".into(), control_batch(false)));
    let mut damaged = batch(&meta(Compression::None), &[record(0, "damaged")]).to_vec();
    let n = damaged.len();
    damaged[n - 2] ^= 0x55;
    out.push(("bad-crc".into(), Bytes::from(damaged)));
    out
}

fn batches_and_records(seeds: &mut Seeds) {
    for (name, b) in sample_batches() {
        // record_batch: as received (length kept) and with the length fix-up.
        seeds.write("record_batch", &name, 0x01, &b);
        seeds.write("record_batch", &format!("{name}-fixup"), 0x82, &b);
        // records: keep all, resume inside, and force LogAppendTime.
        seeds.write("records", &name, 0x00, &b);
        seeds.write("records", &format!("{name}-resume"), 0x02, &b);
        seeds.write("records", &format!("{name}-append-time"), 0x80, &b);
    }
    let batches = sample_batches();
    let by = |n: &str| batches.iter().find(|(x, _)| x == n).expect(n).1.clone();
    let mut set = BytesMut::new();
    set.put_slice(&legacy_entry());
    set.put_slice(&by("none"));
    set.put_slice(&by("zstd-compacted"));
    set.put_slice(&by("commit-marker"));
    let whole = set.clone().freeze();
    set.put_slice(&by("lz4")[..40]);
    let truncated = set.freeze();
    seeds.write("record_set", "mixed", 0, &whole);
    seeds.write("record_set", "mixed-truncated-tail", 1, &truncated);
    seeds.write(
        "record_set",
        "gzip-then-abort",
        2,
        &[by("gzip"), by("abort-marker")].concat(),
    );
    seeds.write("record_set", "bad-crc", 1, &by("bad-crc"));
}

fn sample_fetch() -> FetchResponse {
    let batches = sample_batches();
    let by = |n: &str| batches.iter().find(|(x, _)| x == n).expect(n).1.clone();
    let partition = |p: i32, records: Bytes| FetchPartitionResponse {
        partition: p,
        error: ErrorCode::NONE,
        high_watermark: 2000,
        last_stable_offset: 1990,
        log_start_offset: 0,
        aborted_transactions: vec![],
        preferred_read_replica: -1,
        records,
        external: Vec::new(),
    };
    let mut txn = partition(
        1,
        [by("log-append-time-txn"), by("abort-marker")]
            .concat()
            .into(),
    );
    txn.aborted_transactions = vec![AbortedTransaction {
        producer_id: 4242,
        first_offset: 1000,
    }];
    let mut gone = partition(2, Bytes::new());
    gone.error = ErrorCode(1);
    FetchResponse {
        throttle_time_ms: 0,
        error: ErrorCode::NONE,
        session_id: 77,
        topics: vec![
            FetchTopicResponse {
                name: "orders".into(),
                partitions: vec![
                    partition(0, [by("none"), by("snappy")].concat().into()),
                    txn,
                    gone,
                ],
            },
            FetchTopicResponse {
                name: "payments".into(),
                partitions: vec![partition(0, by("gzip-compacted"))],
            },
        ],
    }
}

fn sample_produce() -> ProduceResponse {
    ProduceResponse {
        topics: vec![ProduceTopicResponse {
            name: "dc1.orders".into(),
            partitions: vec![
                ProducePartitionResponse {
                    partition: 0,
                    error: ErrorCode::NONE,
                    base_offset: 5000,
                    log_append_time_ms: -1,
                    log_start_offset: 0,
                    record_errors: vec![],
                    error_message: None,
                },
                ProducePartitionResponse {
                    partition: 1,
                    error: ErrorCode(2),
                    base_offset: -1,
                    log_append_time_ms: -1,
                    log_start_offset: -1,
                    record_errors: vec![(0, Some("bad record".into())), (2, None)],
                    error_message: Some("CORRUPT_MESSAGE".into()),
                },
            ],
        }],
        throttle_time_ms: 3,
    }
}

fn fetch_and_produce(seeds: &mut Seeds) {
    let fetch = fetch::encode_response(&sample_fetch());
    seeds.write("fetch_response", "two-topics", 0, &fetch[..]);
    let mut empty = sample_fetch();
    empty.topics.clear();
    seeds.write(
        "fetch_response",
        "empty",
        0,
        &fetch::encode_response(&empty)[..],
    );
    let (lo, hi) = Api::Produce.ours();
    for v in lo..=hi {
        let body = produce::encode_response(&sample_produce(), v);
        seeds.write("produce_response", &format!("v{v}"), (v - lo) as u8, &body);
    }
}

fn decompress(seeds: &mut Seeds) {
    // The record section of a small batch, as every codec carries it.
    let plain = batch(
        &meta(Compression::None),
        &[record(0, "first"), record(1, "second")],
    );
    let records = &plain[HEADER_LEN..];
    for (i, c) in Compression::ALL.iter().enumerate() {
        let z = c.compress(records).expect("our codecs compress");
        seeds.write("decompress", c.name(), i as u8, &z);
    }
    let raw_snappy = snap::raw::Encoder::new()
        .compress_vec(records)
        .expect("snappy compresses");
    let snappy = Compression::ALL
        .iter()
        .position(|c| *c == Compression::Snappy);
    seeds.write(
        "decompress",
        "snappy-raw",
        snappy.expect("snappy") as u8,
        &raw_snappy,
    );
}
