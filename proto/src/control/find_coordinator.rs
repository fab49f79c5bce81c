//! FindCoordinator: the broker coordinating a consumer group or a
//! transactional id.

use crate::api::Api;
use crate::control::ControlRequest;
use crate::error::ProtoError;
use crate::error_code::ErrorCode;
use crate::versioned::{MessageReader, MessageWriter};

/// What a coordinator is looked up for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CoordinatorType {
    Group = 0,
    Transaction = 1,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FindCoordinatorRequest {
    pub key: String,
    pub key_type: CoordinatorType,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FindCoordinatorResponse {
    pub error: ErrorCode,
    pub message: Option<String>,
    pub node_id: i32,
    pub host: String,
    pub port: i32,
}

impl ControlRequest for FindCoordinatorRequest {
    const API: Api = Api::FindCoordinator;
    type Response = FindCoordinatorResponse;

    fn encode(&self, w: &mut MessageWriter) -> Result<(), ProtoError> {
        if w.version() <= 3 {
            w.string("coordinator key", &self.key)?;
            if w.version() >= 1 {
                w.i8(self.key_type as i8);
            }
        } else {
            w.i8(self.key_type as i8);
            w.array(
                "coordinator keys",
                std::slice::from_ref(&self.key),
                |w, k| w.string("coordinator key", k),
            )?;
        }
        w.tagged_fields();
        Ok(())
    }

    fn decode_response(r: &mut MessageReader) -> Result<FindCoordinatorResponse, ProtoError> {
        let v = r.version();
        if v >= 1 {
            r.i32("throttle time")?;
        }
        if v <= 3 {
            let error = ErrorCode(r.i16("error code")?);
            let message = if v >= 1 {
                r.nullable_string("error message")?
            } else {
                None
            };
            let node_id = r.i32("node id")?;
            let host = r.string("host")?;
            let port = r.i32("port")?;
            r.tagged_fields("find coordinator tags")?;
            return Ok(FindCoordinatorResponse {
                error,
                message,
                node_id,
                host,
                port,
            });
        }
        let mut found = r.array("coordinators", 13, |r| {
            r.skip_string("coordinator key")?;
            let node_id = r.i32("node id")?;
            let host = r.string("host")?;
            let port = r.i32("port")?;
            let error = ErrorCode(r.i16("error code")?);
            let message = r.nullable_string("error message")?;
            r.tagged_fields("coordinator tags")?;
            Ok(FindCoordinatorResponse {
                error,
                message,
                node_id,
                host,
                port,
            })
        })?;
        r.tagged_fields("find coordinator tags")?;
        if found.len() != 1 {
            return Err(ProtoError::Codec {
                api: "FindCoordinator",
                version: v,
                detail: format!("{} coordinators for the one key asked", found.len()),
            });
        }
        Ok(found.remove(0))
    }
}
