//! CreatePartitions: growing a target topic to the source's partition count.

use crate::api::Api;
use crate::control::ControlRequest;
use crate::error::ProtoError;
use crate::error_code::ErrorCode;
use crate::versioned::{MessageReader, MessageWriter};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatePartitionsRequest {
    /// (topic, new total partition count)
    pub topics: Vec<(String, i32)>,
    pub timeout_ms: i32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatePartitionsResult {
    pub name: String,
    pub error: ErrorCode,
    pub message: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatePartitionsResponse {
    pub results: Vec<CreatePartitionsResult>,
}

impl ControlRequest for CreatePartitionsRequest {
    const API: Api = Api::CreatePartitions;
    type Response = CreatePartitionsResponse;

    fn encode(&self, w: &mut MessageWriter) -> Result<(), ProtoError> {
        w.array("topics", &self.topics, |w, (name, count)| {
            w.string("topic name", name)?;
            w.i32(*count);
            w.array_len("assignments", None)?; // the controller places them
            w.tagged_fields();
            Ok(())
        })?;
        w.i32(self.timeout_ms);
        w.bool(false); // validate only
        w.tagged_fields();
        Ok(())
    }

    fn decode_response(r: &mut MessageReader) -> Result<CreatePartitionsResponse, ProtoError> {
        r.i32("throttle time")?;
        let results = r.array("results", 5, |r| {
            let name = r.string("topic name")?;
            let error = ErrorCode(r.i16("error code")?);
            let message = r.nullable_string("error message")?;
            r.tagged_fields("result tags")?;
            Ok(CreatePartitionsResult {
                name,
                error,
                message,
            })
        })?;
        r.tagged_fields("create partitions tags")?;
        Ok(CreatePartitionsResponse { results })
    }
}
