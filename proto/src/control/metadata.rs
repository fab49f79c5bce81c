//! Metadata: the brokers of a cluster and the partitions and leaders of
//! its topics.

use crate::api::Api;
use crate::control::ControlRequest;
use crate::error::ProtoError;
use crate::error_code::ErrorCode;
use crate::versioned::{MessageReader, MessageWriter};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataRequest {
    /// `None`: every topic.
    pub topics: Option<Vec<String>>,
    pub allow_auto_topic_creation: bool,
}

impl MetadataRequest {
    pub fn all_topics() -> MetadataRequest {
        MetadataRequest {
            topics: None,
            allow_auto_topic_creation: false,
        }
    }

    pub fn topics(names: &[String]) -> MetadataRequest {
        MetadataRequest {
            topics: Some(names.to_vec()),
            allow_auto_topic_creation: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataBroker {
    pub node_id: i32,
    pub host: String,
    pub port: i32,
    pub rack: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetadataPartition {
    pub error: ErrorCode,
    pub partition: i32,
    pub leader: i32,
    pub leader_epoch: i32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataTopic {
    pub error: ErrorCode,
    pub name: String,
    pub is_internal: bool,
    pub partitions: Vec<MetadataPartition>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataResponse {
    pub brokers: Vec<MetadataBroker>,
    pub cluster_id: Option<String>,
    pub controller_id: i32,
    pub topics: Vec<MetadataTopic>,
}

impl ControlRequest for MetadataRequest {
    const API: Api = Api::Metadata;
    type Response = MetadataResponse;

    fn encode(&self, w: &mut MessageWriter) -> Result<(), ProtoError> {
        let v = w.version();
        match &self.topics {
            None => w.array_len("topics", None)?,
            Some(names) => w.array("topics", names, |w, name| {
                if w.version() >= 10 {
                    w.zero_uuid();
                }
                w.string("topic name", name)?;
                w.tagged_fields();
                Ok(())
            })?,
        }
        w.bool(self.allow_auto_topic_creation);
        if (8..=10).contains(&v) {
            w.bool(false); // include cluster authorized operations
        }
        if v >= 8 {
            w.bool(false); // include topic authorized operations
        }
        w.tagged_fields();
        Ok(())
    }

    fn decode_response(r: &mut MessageReader) -> Result<MetadataResponse, ProtoError> {
        let v = r.version();
        if v >= 3 {
            r.i32("throttle time")?;
        }
        let brokers = r.array("brokers", 10, |r| {
            let node_id = r.i32("broker node id")?;
            let host = r.string("broker host")?;
            let port = r.i32("broker port")?;
            let rack = if r.version() >= 1 {
                r.nullable_string("broker rack")?
            } else {
                None
            };
            r.tagged_fields("broker tags")?;
            Ok(MetadataBroker {
                node_id,
                host,
                port,
                rack,
            })
        })?;
        let cluster_id = if v >= 2 {
            r.nullable_string("cluster id")?
        } else {
            None
        };
        let controller_id = if v >= 1 { r.i32("controller id")? } else { -1 };
        let topics = r.array("topics", 5, |r| {
            let v = r.version();
            let error = ErrorCode(r.i16("topic error code")?);
            let name = r.nullable_string("topic name")?.unwrap_or_default();
            if v >= 10 {
                r.skip_uuid("topic id")?;
            }
            let is_internal = if v >= 1 {
                r.bool("is internal")?
            } else {
                false
            };
            let partitions = r.array("partitions", 14, |r| {
                let v = r.version();
                let error = ErrorCode(r.i16("partition error code")?);
                let partition = r.i32("partition index")?;
                let leader = r.i32("leader id")?;
                let leader_epoch = if v >= 7 { r.i32("leader epoch")? } else { -1 };
                r.skip_i32_array("replica nodes")?;
                r.skip_i32_array("isr nodes")?;
                if v >= 5 {
                    r.skip_i32_array("offline replicas")?;
                }
                r.tagged_fields("partition tags")?;
                Ok(MetadataPartition {
                    error,
                    partition,
                    leader,
                    leader_epoch,
                })
            })?;
            if v >= 8 {
                r.i32("topic authorized operations")?;
            }
            r.tagged_fields("topic tags")?;
            Ok(MetadataTopic {
                error,
                name,
                is_internal,
                partitions,
            })
        })?;
        if (8..=10).contains(&v) {
            r.i32("cluster authorized operations")?;
        }
        r.tagged_fields("metadata tags")?;
        Ok(MetadataResponse {
            brokers,
            cluster_id,
            controller_id,
            topics,
        })
    }
}
