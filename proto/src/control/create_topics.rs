//! CreateTopics: new target topics with their partition count, replication
//! factor and config overrides.

use crate::api::Api;
use crate::control::ControlRequest;
use crate::error::ProtoError;
use crate::error_code::ErrorCode;
use crate::versioned::{MessageReader, MessageWriter};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTopic {
    pub name: String,
    pub partitions: i32,
    /// -1: the broker's default.
    pub replication_factor: i16,
    pub configs: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateTopicsRequest {
    pub topics: Vec<NewTopic>,
    pub timeout_ms: i32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateTopicResult {
    pub name: String,
    pub error: ErrorCode,
    pub message: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateTopicsResponse {
    pub topics: Vec<CreateTopicResult>,
}

impl ControlRequest for CreateTopicsRequest {
    const API: Api = Api::CreateTopics;
    type Response = CreateTopicsResponse;

    fn encode(&self, w: &mut MessageWriter) -> Result<(), ProtoError> {
        w.array("topics", &self.topics, |w, t| {
            w.string("topic name", &t.name)?;
            w.i32(t.partitions);
            w.i16(t.replication_factor);
            w.array_len("replica assignments", Some(0))?;
            w.array("configs", &t.configs, |w, (name, value)| {
                w.string("config name", name)?;
                w.nullable_string("config value", Some(value))?;
                w.tagged_fields();
                Ok(())
            })?;
            w.tagged_fields();
            Ok(())
        })?;
        w.i32(self.timeout_ms);
        if w.version() >= 1 {
            w.bool(false); // validate only
        }
        w.tagged_fields();
        Ok(())
    }

    fn decode_response(r: &mut MessageReader) -> Result<CreateTopicsResponse, ProtoError> {
        if r.version() >= 2 {
            r.i32("throttle time")?;
        }
        let topics = r.array("topics", 5, |r| {
            let v = r.version();
            let name = r.string("topic name")?;
            if v >= 7 {
                r.skip_uuid("topic id")?;
            }
            let error = ErrorCode(r.i16("topic error code")?);
            let message = if v >= 1 {
                r.nullable_string("topic error message")?
            } else {
                None
            };
            if v >= 5 {
                r.i32("partition count")?;
                r.i16("replication factor")?;
                r.skip_array("topic configs", 6, |r| {
                    r.skip_string("config name")?;
                    r.skip_string("config value")?;
                    r.bool("read only")?;
                    r.i8("config source")?;
                    r.bool("is sensitive")?;
                    r.tagged_fields("config tags")
                })?;
            }
            r.tagged_fields("topic tags")?;
            Ok(CreateTopicResult {
                name,
                error,
                message,
            })
        })?;
        r.tagged_fields("create topics tags")?;
        Ok(CreateTopicsResponse { topics })
    }
}
