//! Control-plane calls: offsets by time, producer ids, topic creation and
//! growth, topic configs, group coordinators and committed offsets.

use std::collections::HashMap;

use kmirror_proto::api::Api;
use kmirror_proto::control::messages::create_partitions_request::CreatePartitionsTopic;
use kmirror_proto::control::messages::create_topics_request::{
    CreatableTopic, CreatableTopicConfig,
};
use kmirror_proto::control::messages::describe_configs_request::DescribeConfigsResource;
use kmirror_proto::control::messages::list_offsets_request::{
    ListOffsetsPartition, ListOffsetsTopic,
};
use kmirror_proto::control::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kmirror_proto::control::messages::offset_fetch_request::OffsetFetchRequestTopic;
use kmirror_proto::control::messages::{
    BrokerId, CreatePartitionsRequest, CreateTopicsRequest, DescribeConfigsRequest,
    FindCoordinatorRequest, GroupId, InitProducerIdRequest, ListOffsetsRequest,
    OffsetCommitRequest, OffsetFetchRequest, ProducerId,
};
use kmirror_proto::control::{str_bytes, topic_name};
use kmirror_proto::error_code::ErrorCode;

use crate::client::cluster::ClusterClient;
use crate::client::conn::Conn;
use crate::client::error::ClientError;

/// ListOffsets special timestamps.
pub const EARLIEST: i64 = -2;
pub const LATEST: i64 = -1;

fn kafka_err(
    cluster: &ClusterClient,
    what: String,
    code: i16,
    message: Option<String>,
) -> ClientError {
    ClientError::Kafka {
        cluster: cluster.name().to_string(),
        what,
        code: ErrorCode(code),
        message,
    }
}

/// Offsets of `topic` partitions at `timestamp` (EARLIEST, LATEST or a time),
/// asked of the partitions' leader over `conn`.
pub async fn list_offsets(
    conn: &Conn,
    topic: &str,
    partitions: &[i32],
    timestamp: i64,
    read_committed: bool,
) -> Result<Vec<(i32, Result<i64, ErrorCode>)>, ClientError> {
    let req = ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_isolation_level(read_committed as i8)
        .with_topics(vec![ListOffsetsTopic::default()
            .with_name(topic_name(topic))
            .with_partitions(
                partitions
                    .iter()
                    .map(|p| {
                        ListOffsetsPartition::default()
                            .with_partition_index(*p)
                            .with_current_leader_epoch(-1)
                            .with_timestamp(timestamp)
                    })
                    .collect(),
            )]);
    let resp = conn.call(Api::ListOffsets, &req).await?;
    Ok(resp
        .topics
        .iter()
        .flat_map(|t| t.partitions.iter())
        .map(|p| {
            let code = ErrorCode(p.error_code);
            (
                p.partition_index,
                if code.is_ok() {
                    Ok(p.offset)
                } else {
                    Err(code)
                },
            )
        })
        .collect())
}

/// A producer id and epoch for an idempotent (non-transactional) producer.
pub async fn init_producer_id(cluster: &ClusterClient) -> Result<(i64, i16), ClientError> {
    let conn = cluster.any().await?;
    let req = InitProducerIdRequest::default()
        .with_transactional_id(None)
        .with_transaction_timeout_ms(-1)
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1);
    let resp = conn.call(Api::InitProducerId, &req).await?;
    if resp.error_code != 0 {
        return Err(kafka_err(
            cluster,
            "InitProducerId".into(),
            resp.error_code,
            None,
        ));
    }
    Ok((resp.producer_id.0, resp.producer_epoch))
}

/// A topic to create on the target.
#[derive(Debug, Clone)]
pub struct NewTopic {
    pub name: String,
    pub partitions: i32,
    pub replication_factor: i16,
    pub configs: Vec<(String, String)>,
}

/// Whether a topic asked for was made or was there already.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Created {
    New,
    AlreadyThere,
}

/// Creates topics; an already existing topic counts as success.
pub async fn create_topics(
    cluster: &ClusterClient,
    topics: &[NewTopic],
) -> Vec<(String, Result<Created, ClientError>)> {
    let conn = match cluster.any().await {
        Ok(c) => c,
        Err(e) => {
            return topics
                .iter()
                .map(|t| (t.name.clone(), Err(e.clone())))
                .collect()
        }
    };
    let req = CreateTopicsRequest::default()
        .with_timeout_ms(30_000)
        .with_topics(
            topics
                .iter()
                .map(|t| {
                    CreatableTopic::default()
                        .with_name(topic_name(&t.name))
                        .with_num_partitions(t.partitions)
                        .with_replication_factor(t.replication_factor)
                        .with_configs(
                            t.configs
                                .iter()
                                .map(|(k, v)| {
                                    CreatableTopicConfig::default()
                                        .with_name(str_bytes(k))
                                        .with_value(Some(str_bytes(v)))
                                })
                                .collect(),
                        )
                })
                .collect(),
        );
    match conn.call(Api::CreateTopics, &req).await {
        Err(e) => topics
            .iter()
            .map(|t| (t.name.clone(), Err(e.clone())))
            .collect(),
        Ok(resp) => resp
            .topics
            .iter()
            .map(|r| {
                let name = r.name.0.to_string();
                let res = if r.error_code == 0 {
                    Ok(Created::New)
                } else if ErrorCode(r.error_code) == ErrorCode::TOPIC_ALREADY_EXISTS {
                    Ok(Created::AlreadyThere)
                } else {
                    Err(kafka_err(
                        cluster,
                        format!("creating topic '{name}'"),
                        r.error_code,
                        r.error_message.as_ref().map(|m| m.to_string()),
                    ))
                };
                (name, res)
            })
            .collect(),
    }
}

/// Grows `topic` to `count` partitions.
pub async fn create_partitions(
    cluster: &ClusterClient,
    topic: &str,
    count: i32,
) -> Result<(), ClientError> {
    let conn = cluster.any().await?;
    let req = CreatePartitionsRequest::default()
        .with_timeout_ms(30_000)
        .with_topics(vec![CreatePartitionsTopic::default()
            .with_name(topic_name(topic))
            .with_count(count)
            .with_assignments(None)]);
    let resp = conn.call(Api::CreatePartitions, &req).await?;
    for r in &resp.results {
        if r.error_code != 0 {
            return Err(kafka_err(
                cluster,
                format!("adding partitions to '{topic}' (to {count})"),
                r.error_code,
                r.error_message.as_ref().map(|m| m.to_string()),
            ));
        }
    }
    Ok(())
}

/// One topic config as DescribeConfigs reports it.
#[derive(Debug, Clone)]
pub struct ConfigEntry {
    pub name: String,
    pub value: Option<String>,
    /// Kafka's ConfigSource: 1 = set on the topic (DYNAMIC_TOPIC_CONFIG).
    pub source: i8,
    pub read_only: bool,
    pub is_sensitive: bool,
}

pub const CONFIG_SOURCE_TOPIC: i8 = 1;
const RESOURCE_TOPIC: i8 = 2;

pub async fn describe_topic_configs(
    cluster: &ClusterClient,
    topic: &str,
) -> Result<Vec<ConfigEntry>, ClientError> {
    let conn = cluster.any().await?;
    let req =
        DescribeConfigsRequest::default().with_resources(vec![DescribeConfigsResource::default()
            .with_resource_type(RESOURCE_TOPIC)
            .with_resource_name(str_bytes(topic))
            .with_configuration_keys(None)]);
    let resp = conn.call(Api::DescribeConfigs, &req).await?;
    let mut out = Vec::new();
    for r in &resp.results {
        if r.error_code != 0 {
            return Err(kafka_err(
                cluster,
                format!("describing configs of '{topic}'"),
                r.error_code,
                r.error_message.as_ref().map(|m| m.to_string()),
            ));
        }
        for c in &r.configs {
            out.push(ConfigEntry {
                name: c.name.to_string(),
                value: c.value.as_ref().map(|v| v.to_string()),
                source: c.config_source,
                read_only: c.read_only,
                is_sensitive: c.is_sensitive,
            });
        }
    }
    Ok(out)
}

/// The connection to the coordinator of consumer group `group`.
pub async fn group_coordinator(cluster: &ClusterClient, group: &str) -> Result<Conn, ClientError> {
    let conn = cluster.any().await?;
    // v4+ batches keys; earlier versions take exactly one.
    let req = if conn.version(Api::FindCoordinator)? >= 4 {
        FindCoordinatorRequest::default()
            .with_key_type(0)
            .with_coordinator_keys(vec![str_bytes(group)])
    } else {
        FindCoordinatorRequest::default()
            .with_key(str_bytes(group))
            .with_key_type(0)
    };
    let resp = conn.call(Api::FindCoordinator, &req).await?;
    let (code, host, port, message) = match resp.coordinators.first() {
        Some(c) => (
            c.error_code,
            c.host.to_string(),
            c.port,
            c.error_message.as_ref().map(|m| m.to_string()),
        ),
        None => (
            resp.error_code,
            resp.host.to_string(),
            resp.port,
            resp.error_message.as_ref().map(|m| m.to_string()),
        ),
    };
    if code != 0 {
        return Err(kafka_err(
            cluster,
            format!("finding the coordinator of group '{group}'"),
            code,
            message,
        ));
    }
    cluster.conn_to(&format!("{host}:{port}")).await
}

/// Commits offsets for a group that has no members (a simple commit).
pub async fn commit_offsets(
    cluster: &ClusterClient,
    coordinator: &Conn,
    group: &str,
    offsets: &[(String, i32, i64, String)],
) -> Result<(), ClientError> {
    let mut by_topic: HashMap<&str, Vec<OffsetCommitRequestPartition>> = HashMap::new();
    for (topic, partition, offset, metadata) in offsets {
        by_topic.entry(topic).or_default().push(
            OffsetCommitRequestPartition::default()
                .with_partition_index(*partition)
                .with_committed_offset(*offset)
                .with_committed_leader_epoch(-1)
                .with_committed_metadata(Some(str_bytes(metadata))),
        );
    }
    let req = OffsetCommitRequest::default()
        .with_group_id(GroupId(str_bytes(group)))
        .with_generation_id_or_member_epoch(-1)
        .with_member_id(str_bytes(""))
        .with_retention_time_ms(-1)
        .with_topics(
            by_topic
                .into_iter()
                .map(|(t, ps)| {
                    OffsetCommitRequestTopic::default()
                        .with_name(topic_name(t))
                        .with_partitions(ps)
                })
                .collect(),
        );
    let resp = coordinator.call(Api::OffsetCommit, &req).await?;
    for t in &resp.topics {
        for p in &t.partitions {
            if p.error_code != 0 {
                return Err(kafka_err(
                    cluster,
                    format!(
                        "committing progress of {}[{}] in group '{group}'",
                        t.name.0.as_str(),
                        p.partition_index
                    ),
                    p.error_code,
                    None,
                ));
            }
        }
    }
    Ok(())
}

/// Committed offsets of `group` for `topics` ((topic, partition) -> offset);
/// partitions without a commit are absent.
pub async fn fetch_offsets(
    cluster: &ClusterClient,
    coordinator: &Conn,
    group: &str,
    topics: &[(String, Vec<i32>)],
) -> Result<HashMap<(String, i32), i64>, ClientError> {
    let req = OffsetFetchRequest::default()
        .with_group_id(GroupId(str_bytes(group)))
        .with_topics(Some(
            topics
                .iter()
                .map(|(t, ps)| {
                    OffsetFetchRequestTopic::default()
                        .with_name(topic_name(t))
                        .with_partition_indexes(ps.clone())
                })
                .collect(),
        ));
    let resp = coordinator.call(Api::OffsetFetch, &req).await?;
    if resp.error_code != 0 {
        return Err(kafka_err(
            cluster,
            format!("reading offsets of group '{group}'"),
            resp.error_code,
            None,
        ));
    }
    let mut out = HashMap::new();
    for t in &resp.topics {
        for p in &t.partitions {
            if p.error_code == 0 && p.committed_offset >= 0 {
                out.insert(
                    (t.name.0.to_string(), p.partition_index),
                    p.committed_offset,
                );
            }
        }
    }
    Ok(out)
}
