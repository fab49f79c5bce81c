//! Control-plane calls: offsets by time, producer ids, topic creation and
//! growth, topic configs, topic ACLs, group coordinators and committed
//! offsets.

use std::collections::HashMap;

use kmirror_proto::control::acls::{AclBinding, CreateAclsRequest, DescribeAclsRequest};
use kmirror_proto::control::create_partitions::CreatePartitionsRequest;
use kmirror_proto::control::create_topics::CreateTopicsRequest;
use kmirror_proto::control::describe_configs::{DescribeConfigsRequest, RESOURCE_TOPIC};
use kmirror_proto::control::find_coordinator::{CoordinatorType, FindCoordinatorRequest};
use kmirror_proto::control::incremental_alter_configs::IncrementalAlterConfigsRequest;
use kmirror_proto::control::list_groups::ListGroupsRequest;
use kmirror_proto::control::list_offsets::ListOffsetsRequest;
use kmirror_proto::control::offset_commit::{CommitOffset, OffsetCommitRequest};
use kmirror_proto::control::offset_fetch::{OffsetFetchRequest, OffsetFetchResponse};
use kmirror_proto::control::producer_id::InitProducerIdRequest;
use kmirror_proto::error_code::ErrorCode;

pub use kmirror_proto::control::create_topics::NewTopic;
pub use kmirror_proto::control::describe_configs::{ConfigEntry, CONFIG_SOURCE_TOPIC};
pub use kmirror_proto::control::incremental_alter_configs::{AlterConfig, ConfigOp};
pub use kmirror_proto::control::list_groups::ListedGroup;
pub use kmirror_proto::control::list_offsets::{EARLIEST, LATEST};

use crate::client::cluster::ClusterClient;
use crate::client::conn::Conn;
use crate::client::error::ClientError;

/// A Kafka error for `what`; an authorization error also names `acl`,
/// the ACL kmirror's principal needs for it (as `kafka-acls` words it).
fn kafka_err(
    cluster: &ClusterClient,
    what: String,
    code: ErrorCode,
    message: Option<String>,
    acl: &str,
) -> ClientError {
    let message = if code.is_authorization_error() {
        let needs = format!(
            "kmirror's principal lacks the ACL {acl} on cluster {}",
            cluster.name()
        );
        Some(match message {
            Some(m) => format!("{m}; {needs}"),
            None => needs,
        })
    } else {
        message
    };
    ClientError::Kafka {
        cluster: cluster.name().to_string(),
        what,
        code,
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
    let req = ListOffsetsRequest {
        isolation_level: read_committed as i8,
        topics: vec![(
            topic.to_string(),
            partitions.iter().map(|p| (*p, timestamp)).collect(),
        )],
    };
    let resp = conn.call(&req).await?;
    Ok(resp
        .topics
        .iter()
        .flat_map(|t| t.partitions.iter())
        .map(|p| {
            (
                p.partition,
                if p.error.is_ok() {
                    Ok(p.offset)
                } else {
                    Err(p.error)
                },
            )
        })
        .collect())
}

/// A producer id and epoch for an idempotent (non-transactional) producer.
pub async fn init_producer_id(cluster: &ClusterClient) -> Result<(i64, i16), ClientError> {
    let conn = cluster.any().await?;
    let req = InitProducerIdRequest::idempotent();
    let resp = conn.call(&req).await?;
    if !resp.error.is_ok() {
        return Err(kafka_err(
            cluster,
            format!("InitProducerId from {}", conn.addr()),
            resp.error,
            None,
            "IdempotentWrite on Cluster (or Write on any topic, Kafka 3.0+)",
        ));
    }
    Ok((resp.producer_id, resp.producer_epoch))
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
    let req = CreateTopicsRequest {
        topics: topics.to_vec(),
        timeout_ms: 30_000,
    };
    match conn.call(&req).await {
        Err(e) => topics
            .iter()
            .map(|t| (t.name.clone(), Err(e.clone())))
            .collect(),
        Ok(resp) => resp
            .topics
            .iter()
            .map(|r| {
                let name = r.name.clone();
                let res = if r.error.is_ok() {
                    Ok(Created::New)
                } else if r.error == ErrorCode::TOPIC_ALREADY_EXISTS {
                    Ok(Created::AlreadyThere)
                } else {
                    Err(kafka_err(
                        cluster,
                        format!("creating topic '{name}' at {}", conn.addr()),
                        r.error,
                        r.message.clone(),
                        &format!("Create on Topic '{name}' (or on Cluster)"),
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
    let req = CreatePartitionsRequest {
        topics: vec![(topic.to_string(), count)],
        timeout_ms: 30_000,
    };
    let resp = conn.call(&req).await?;
    for r in &resp.results {
        if !r.error.is_ok() {
            return Err(kafka_err(
                cluster,
                format!(
                    "adding partitions to '{topic}' (to {count}) at {}",
                    conn.addr()
                ),
                r.error,
                r.message.clone(),
                &format!("Alter on Topic '{topic}'"),
            ));
        }
    }
    Ok(())
}

/// Applies each topic's config changes (IncrementalAlterConfigs): each
/// topic's own outcome, or an error for the whole request.
pub async fn alter_topic_configs(
    cluster: &ClusterClient,
    changes: Vec<(String, Vec<AlterConfig>)>,
) -> Result<Vec<(String, Result<(), ClientError>)>, ClientError> {
    if changes.is_empty() {
        return Ok(Vec::new());
    }
    let conn = cluster.any().await?;
    let req = IncrementalAlterConfigsRequest {
        resources: changes
            .into_iter()
            .map(|(topic, c)| (RESOURCE_TOPIC, topic, c))
            .collect(),
    };
    let resp = conn.call(&req).await?;
    Ok(resp
        .results
        .into_iter()
        .map(|r| {
            let res = if r.error.is_ok() {
                Ok(())
            } else {
                Err(kafka_err(
                    cluster,
                    format!(
                        "altering configs of '{}' at {}",
                        r.resource_name,
                        conn.addr()
                    ),
                    r.error,
                    r.message,
                    &format!("AlterConfigs on Topic '{}'", r.resource_name),
                ))
            };
            (r.resource_name, res)
        })
        .collect())
}

/// Every config of each of `topics` with where its value comes from, in
/// requests of at most [`DESCRIBE_CHUNK`] topics. A topic the broker could
/// not describe has its own error.
pub async fn describe_topic_configs(
    cluster: &ClusterClient,
    topics: &[String],
) -> Result<HashMap<String, Result<Vec<ConfigEntry>, ClientError>>, ClientError> {
    let mut out = HashMap::new();
    for chunk in topics.chunks(DESCRIBE_CHUNK) {
        let conn = cluster.any().await?;
        let req = DescribeConfigsRequest {
            resources: chunk.iter().map(|t| (RESOURCE_TOPIC, t.clone())).collect(),
        };
        let resp = conn.call(&req).await?;
        for r in resp.results {
            let res = if r.error.is_ok() {
                Ok(r.configs)
            } else {
                Err(kafka_err(
                    cluster,
                    format!(
                        "describing configs of '{}' at {}",
                        r.resource_name,
                        conn.addr()
                    ),
                    r.error,
                    r.message,
                    &format!("DescribeConfigs on Topic '{}'", r.resource_name),
                ))
            };
            out.insert(r.resource_name, res);
        }
    }
    Ok(out)
}

/// The ACL an offset commit or fetch of `topic` in `group` lacks: Kafka
/// checks Read on the group, then Read (commit) or Describe (fetch) on each
/// topic; Read covers both.
fn group_or_topic_acl(code: ErrorCode, group: &str, topic: &str) -> String {
    if code == ErrorCode::TOPIC_AUTHORIZATION_FAILED {
        format!("Read on Topic '{topic}'")
    } else {
        format!("Read on Group '{group}'")
    }
}

/// Every ACL on every topic (MirrorMaker 2's listing for ACL sync).
pub async fn describe_topic_acls(cluster: &ClusterClient) -> Result<Vec<AclBinding>, ClientError> {
    let conn = cluster.any().await?;
    let resp = conn.call(&DescribeAclsRequest::any_topic()).await?;
    if !resp.error.is_ok() {
        return Err(kafka_err(
            cluster,
            format!("listing topic ACLs at {}", conn.addr()),
            resp.error,
            resp.error_message,
            "Describe on Cluster",
        ));
    }
    Ok(resp.acls)
}

/// Creates `acls` (creating one that exists is a no-op for the broker).
/// The first refusal is the error.
pub async fn create_acls(
    cluster: &ClusterClient,
    acls: Vec<AclBinding>,
) -> Result<(), ClientError> {
    if acls.is_empty() {
        return Ok(());
    }
    let conn = cluster.any().await?;
    let resp = conn
        .call(&CreateAclsRequest {
            creations: acls.clone(),
        })
        .await?;
    for ((code, message), acl) in resp.results.into_iter().zip(&acls) {
        if !code.is_ok() {
            return Err(kafka_err(
                cluster,
                format!(
                    "creating ACL {} {} for {} on topic '{}' at {}",
                    if acl.permission == kmirror_proto::control::acls::code::PERMISSION_DENY {
                        "Deny"
                    } else {
                        "Allow"
                    },
                    kmirror_proto::control::acls::code::operation_name(acl.operation),
                    acl.principal,
                    acl.resource_name,
                    conn.addr()
                ),
                code,
                message,
                "Alter on Cluster",
            ));
        }
    }
    Ok(())
}

/// Topics per DescribeConfigs request.
const DESCRIBE_CHUNK: usize = 500;

/// The connection to the coordinator of consumer group `group`.
pub async fn group_coordinator(cluster: &ClusterClient, group: &str) -> Result<Conn, ClientError> {
    coordinator(cluster, group, CoordinatorType::Group).await
}

/// Runs `call` again for up to 30 s while it fails with an error worth
/// retrying (a group coordinator that is starting or moving, or
/// `__consumer_offsets` being created): for the one-shot commands, which
/// have no later round to retry in.
pub async fn patiently<T, F, Fut>(mut call: F) -> Result<T, ClientError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, ClientError>>,
{
    let mut wait = std::time::Duration::from_millis(200);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        match call().await {
            Err(e) if e.is_retriable() && std::time::Instant::now() < deadline => {
                tracing::debug!("{e}; asking again in {} ms", wait.as_millis());
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(std::time::Duration::from_secs(2));
            }
            other => return other,
        }
    }
}

/// Every committed offset of `group` (see [`group_offsets`]), asking its
/// coordinator [`patiently`].
pub async fn group_offsets_patiently(
    cluster: &ClusterClient,
    group: &str,
) -> Result<Vec<(String, i32, i64, Option<String>)>, ClientError> {
    patiently(|| async {
        let coordinator = group_coordinator(cluster, group).await?;
        group_offsets(cluster, &coordinator, group).await
    })
    .await
}

/// [`commit_offsets`] through the group's coordinator, [`patiently`].
pub async fn commit_offsets_patiently(
    cluster: &ClusterClient,
    group: &str,
    offsets: &[(String, i32, i64, String)],
) -> Result<(), ClientError> {
    patiently(|| async {
        let coordinator = group_coordinator(cluster, group).await?;
        commit_offsets(cluster, &coordinator, group, offsets).await
    })
    .await
}

/// The connection to the coordinator of `key` (a group or a transactional id).
pub async fn coordinator(
    cluster: &ClusterClient,
    key: &str,
    key_type: CoordinatorType,
) -> Result<Conn, ClientError> {
    let conn = cluster.any().await?;
    let req = FindCoordinatorRequest {
        key: key.to_string(),
        key_type,
    };
    let resp = conn.call(&req).await?;
    if !resp.error.is_ok() {
        let what = match key_type {
            CoordinatorType::Group => {
                format!(
                    "finding the coordinator of group '{key}' at {}",
                    conn.addr()
                )
            }
            CoordinatorType::Transaction => format!(
                "finding the coordinator of transactional id '{key}' at {}",
                conn.addr()
            ),
        };
        let acl = match key_type {
            CoordinatorType::Group => format!("Read on Group '{key}'"),
            CoordinatorType::Transaction => format!("Describe on TransactionalId '{key}'"),
        };
        return Err(kafka_err(cluster, what, resp.error, resp.message, &acl));
    }
    cluster
        .conn_to(&format!("{}:{}", resp.host, resp.port))
        .await
}

/// Commits offsets for a group that has no members (a simple commit).
pub async fn commit_offsets(
    cluster: &ClusterClient,
    coordinator: &Conn,
    group: &str,
    offsets: &[(String, i32, i64, String)],
) -> Result<(), ClientError> {
    let items: Vec<(String, CommitOffset)> = offsets
        .iter()
        .map(|(topic, partition, offset, metadata)| {
            (
                topic.clone(),
                CommitOffset {
                    partition: *partition,
                    offset: *offset,
                    metadata: metadata.clone(),
                },
            )
        })
        .collect();
    let req = OffsetCommitRequest {
        group_id: group.to_string(),
        topics: kmirror_proto::control::group_by_topic(&items),
    };
    let resp = coordinator.call(&req).await?;
    for t in &resp.topics {
        for p in &t.partitions {
            if !p.error.is_ok() {
                return Err(kafka_err(
                    cluster,
                    format!(
                        "committing progress of {}[{}] in group '{group}' at {}",
                        t.name,
                        p.partition,
                        coordinator.addr()
                    ),
                    p.error,
                    None,
                    &group_or_topic_acl(p.error, group, &t.name),
                ));
            }
        }
    }
    Ok(())
}

/// Committed offsets of `group` for `topics` ((topic, partition) ->
/// (offset, metadata)); partitions without a commit are absent.
pub async fn fetch_offsets(
    cluster: &ClusterClient,
    coordinator: &Conn,
    group: &str,
    topics: &[(String, Vec<i32>)],
) -> Result<HashMap<(String, i32), (i64, Option<String>)>, ClientError> {
    let resp = offset_fetch(cluster, coordinator, group, Some(topics.to_vec()), true).await?;
    let mut out = HashMap::new();
    for t in &resp.topics {
        for p in &t.partitions {
            if p.error.is_ok() && p.offset >= 0 {
                out.insert(
                    (t.name.clone(), p.partition),
                    (p.offset, p.metadata.clone()),
                );
            } else if !p.error.is_ok() {
                return Err(kafka_err(
                    cluster,
                    format!(
                        "reading the offset of {}[{}] in group '{group}' at {}",
                        t.name,
                        p.partition,
                        coordinator.addr()
                    ),
                    p.error,
                    None,
                    &group_or_topic_acl(p.error, group, &t.name),
                ));
            }
        }
    }
    Ok(out)
}

/// Every committed offset of `group`, with its metadata, reading past
/// transactional commits still in flight (`(topic, partition, offset,
/// metadata)`).
pub async fn group_offsets(
    cluster: &ClusterClient,
    coordinator: &Conn,
    group: &str,
) -> Result<Vec<(String, i32, i64, Option<String>)>, ClientError> {
    let resp = offset_fetch(cluster, coordinator, group, None, false).await?;
    Ok(resp
        .topics
        .into_iter()
        .flat_map(|t| {
            let name = t.name;
            t.partitions
                .into_iter()
                .filter(|p| p.error.is_ok() && p.offset >= 0)
                .map(move |p| (name.clone(), p.partition, p.offset, p.metadata))
        })
        .collect())
}

/// One OffsetFetch of `group` (all its partitions when `topics` is
/// `None`), with the group-level error turned into one naming the group and
/// the coordinator.
async fn offset_fetch(
    cluster: &ClusterClient,
    coordinator: &Conn,
    group: &str,
    topics: Option<Vec<(String, Vec<i32>)>>,
    require_stable: bool,
) -> Result<OffsetFetchResponse, ClientError> {
    let req = OffsetFetchRequest {
        group_id: group.to_string(),
        topics,
        require_stable,
    };
    let resp = coordinator.call(&req).await?;
    if !resp.error.is_ok() {
        return Err(kafka_err(
            cluster,
            format!(
                "reading offsets of group '{group}' at {}",
                coordinator.addr()
            ),
            resp.error,
            None,
            &format!("Read on Group '{group}'"),
        ));
    }
    Ok(resp)
}

/// Every consumer group of the cluster with its state (ListGroups asked of
/// each broker, since each lists only the groups it coordinates).
pub async fn list_groups(cluster: &ClusterClient) -> Result<Vec<ListedGroup>, ClientError> {
    cluster.metadata(Some(&[])).await?;
    let mut out = Vec::new();
    for id in cluster.broker_ids() {
        let conn = cluster.broker(id).await?;
        let resp = conn.call(&ListGroupsRequest).await?;
        if !resp.error.is_ok() {
            return Err(kafka_err(
                cluster,
                format!("listing consumer groups at {}", conn.addr()),
                resp.error,
                None,
                "Describe on Group (for each group to list)",
            ));
        }
        out.extend(resp.groups);
    }
    out.sort_by(|a, b| a.group_id.cmp(&b.group_id));
    out.dedup_by(|a, b| a.group_id == b.group_id);
    Ok(out)
}

/// Takes the transactional id `id` from whoever held it: InitProducerId
/// bumps its epoch (the holder is fenced) and aborts its open transaction.
pub async fn fence_transactional_id(
    cluster: &ClusterClient,
    id: &str,
    transaction_timeout_ms: i32,
) -> Result<(), ClientError> {
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        let conn = coordinator(cluster, id, CoordinatorType::Transaction).await?;
        let req = InitProducerIdRequest {
            transactional_id: Some(id.to_string()),
            transaction_timeout_ms,
            producer_id: -1,
            producer_epoch: -1,
        };
        let resp = conn.call(&req).await?;
        match resp.error {
            ErrorCode::NONE => return Ok(()),
            // The holder's transaction is still being aborted.
            code if code.is_retriable() && attempt < 20 => {
                tokio::time::sleep(std::time::Duration::from_millis(
                    100 * u64::from(attempt.min(10)),
                ))
                .await;
            }
            code => {
                return Err(kafka_err(
                    cluster,
                    format!("InitProducerId for '{id}' at {}", conn.addr()),
                    code,
                    None,
                    &format!("Write on TransactionalId '{id}'"),
                ))
            }
        }
    }
}
