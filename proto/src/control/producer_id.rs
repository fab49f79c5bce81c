//! InitProducerId: a producer id and epoch for an idempotent producer, or
//! for a transactional id (which fences every earlier holder of that id and
//! aborts its open transaction).

use crate::api::Api;
use crate::control::ControlRequest;
use crate::error::ProtoError;
use crate::error_code::ErrorCode;
use crate::versioned::{MessageReader, MessageWriter};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitProducerIdRequest {
    pub transactional_id: Option<String>,
    pub transaction_timeout_ms: i32,
    /// The producer id and epoch held so far, or -1/-1. With a transactional
    /// id and -1/-1 the coordinator bumps the epoch whoever held it (fencing
    /// them); with the current pair (v3+, KIP-360) it bumps it only for the
    /// holder, and answers PRODUCER_FENCED to anyone else.
    pub producer_id: i64,
    pub producer_epoch: i16,
}

impl InitProducerIdRequest {
    /// An idempotent producer without a transactional id.
    pub fn idempotent() -> InitProducerIdRequest {
        InitProducerIdRequest {
            transactional_id: None,
            transaction_timeout_ms: -1,
            producer_id: -1,
            producer_epoch: -1,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InitProducerIdResponse {
    pub error: ErrorCode,
    pub producer_id: i64,
    pub producer_epoch: i16,
}

impl ControlRequest for InitProducerIdRequest {
    const API: Api = Api::InitProducerId;
    type Response = InitProducerIdResponse;

    fn encode(&self, w: &mut MessageWriter) -> Result<(), ProtoError> {
        w.nullable_string("transactional id", self.transactional_id.as_deref())?;
        w.i32(self.transaction_timeout_ms);
        if w.version() >= 3 {
            w.i64(self.producer_id);
            w.i16(self.producer_epoch);
        }
        w.tagged_fields();
        Ok(())
    }

    fn decode_response(r: &mut MessageReader) -> Result<InitProducerIdResponse, ProtoError> {
        r.i32("throttle time")?;
        let error = ErrorCode(r.i16("error code")?);
        let producer_id = r.i64("producer id")?;
        let producer_epoch = r.i16("producer epoch")?;
        r.tagged_fields("init producer id tags")?;
        Ok(InitProducerIdResponse {
            error,
            producer_id,
            producer_epoch,
        })
    }
}
