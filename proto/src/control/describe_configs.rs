//! DescribeConfigs: a topic's configs, with where each value comes from.

use crate::api::Api;
use crate::control::ControlRequest;
use crate::error::ProtoError;
use crate::error_code::ErrorCode;
use crate::versioned::{MessageReader, MessageWriter};

/// Resource type of a topic.
pub const RESOURCE_TOPIC: i8 = 2;
/// ConfigSource of a value set on the topic itself (DYNAMIC_TOPIC_CONFIG).
pub const CONFIG_SOURCE_TOPIC: i8 = 1;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribeConfigsRequest {
    /// (resource type, resource name); every config of each is asked for.
    pub resources: Vec<(i8, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigEntry {
    pub name: String,
    pub value: Option<String>,
    pub read_only: bool,
    /// Kafka's ConfigSource; [`CONFIG_SOURCE_TOPIC`] for topic overrides.
    pub source: i8,
    pub is_sensitive: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribeConfigsResult {
    pub error: ErrorCode,
    pub message: Option<String>,
    pub resource_type: i8,
    pub resource_name: String,
    pub configs: Vec<ConfigEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribeConfigsResponse {
    pub results: Vec<DescribeConfigsResult>,
}

impl ControlRequest for DescribeConfigsRequest {
    const API: Api = Api::DescribeConfigs;
    type Response = DescribeConfigsResponse;

    fn encode(&self, w: &mut MessageWriter) -> Result<(), ProtoError> {
        w.array("resources", &self.resources, |w, (kind, name)| {
            w.i8(*kind);
            w.string("resource name", name)?;
            w.array_len("configuration keys", None)?; // all of them
            w.tagged_fields();
            Ok(())
        })?;
        w.bool(false); // include synonyms
        if w.version() >= 3 {
            w.bool(false); // include documentation
        }
        w.tagged_fields();
        Ok(())
    }

    fn decode_response(r: &mut MessageReader) -> Result<DescribeConfigsResponse, ProtoError> {
        r.i32("throttle time")?;
        let results = r.array("results", 8, |r| {
            let error = ErrorCode(r.i16("error code")?);
            let message = r.nullable_string("error message")?;
            let resource_type = r.i8("resource type")?;
            let resource_name = r.string("resource name")?;
            let configs = r.array("configs", 6, |r| {
                let v = r.version();
                let name = r.string("config name")?;
                let value = r.nullable_string("config value")?;
                let read_only = r.bool("read only")?;
                let source = if v >= 1 { r.i8("config source")? } else { -1 };
                let is_sensitive = r.bool("is sensitive")?;
                if v >= 1 {
                    r.skip_array("synonyms", 3, |r| {
                        r.skip_string("synonym name")?;
                        r.skip_string("synonym value")?;
                        r.i8("synonym source")?;
                        r.tagged_fields("synonym tags")
                    })?;
                }
                if v >= 3 {
                    r.i8("config type")?;
                    r.skip_string("documentation")?;
                }
                r.tagged_fields("config tags")?;
                Ok(ConfigEntry {
                    name,
                    value,
                    read_only,
                    source,
                    is_sensitive,
                })
            })?;
            r.tagged_fields("result tags")?;
            Ok(DescribeConfigsResult {
                error,
                message,
                resource_type,
                resource_name,
                configs,
            })
        })?;
        r.tagged_fields("describe configs tags")?;
        Ok(DescribeConfigsResponse { results })
    }
}
