//! IncrementalAlterConfigs: setting or removing single configs of a
//! resource (the target topics' configs kept in step with their sources).

use crate::api::Api;
use crate::control::ControlRequest;
use crate::error::ProtoError;
use crate::error_code::ErrorCode;
use crate::versioned::{MessageReader, MessageWriter};

/// What to do with one config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigOp {
    /// Give it this value.
    Set,
    /// Remove the resource's own value (the default applies again).
    Delete,
}

impl ConfigOp {
    fn code(self) -> i8 {
        match self {
            ConfigOp::Set => 0,
            ConfigOp::Delete => 1,
        }
    }
}

/// One change: the config's name, the operation, and the value to set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlterConfig {
    pub name: String,
    pub op: ConfigOp,
    pub value: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncrementalAlterConfigsRequest {
    /// (resource type, resource name, changes).
    pub resources: Vec<(i8, String, Vec<AlterConfig>)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlterConfigsResult {
    pub error: ErrorCode,
    pub message: Option<String>,
    pub resource_type: i8,
    pub resource_name: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncrementalAlterConfigsResponse {
    pub results: Vec<AlterConfigsResult>,
}

impl ControlRequest for IncrementalAlterConfigsRequest {
    const API: Api = Api::IncrementalAlterConfigs;
    type Response = IncrementalAlterConfigsResponse;

    fn encode(&self, w: &mut MessageWriter) -> Result<(), ProtoError> {
        w.array("resources", &self.resources, |w, (kind, name, changes)| {
            w.i8(*kind);
            w.string("resource name", name)?;
            w.array("configs", changes, |w, c| {
                w.string("config name", &c.name)?;
                w.i8(c.op.code());
                w.nullable_string("config value", c.value.as_deref())?;
                w.tagged_fields();
                Ok(())
            })?;
            w.tagged_fields();
            Ok(())
        })?;
        w.bool(false); // validate only
        w.tagged_fields();
        Ok(())
    }

    fn decode_response(
        r: &mut MessageReader,
    ) -> Result<IncrementalAlterConfigsResponse, ProtoError> {
        r.i32("throttle time")?;
        let results = r.array("responses", 6, |r| {
            let error = ErrorCode(r.i16("error code")?);
            let message = r.nullable_string("error message")?;
            let resource_type = r.i8("resource type")?;
            let resource_name = r.string("resource name")?;
            r.tagged_fields("response tags")?;
            Ok(AlterConfigsResult {
                error,
                message,
                resource_type,
                resource_name,
            })
        })?;
        r.tagged_fields("incremental alter configs tags")?;
        Ok(IncrementalAlterConfigsResponse { results })
    }
}
