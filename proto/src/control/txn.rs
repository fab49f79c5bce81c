//! The transaction APIs of a transactional producer: partitions and a
//! group's offsets joined to the open transaction, and its commit or abort.
//! Spoken as Kafka 3.x clients speak them (partitions added explicitly).

use crate::api::Api;
use crate::control::offset_commit::{write_commit_topics, CommitOffset};
use crate::control::{read_topic_errors, ControlRequest, TopicErrors};
use crate::error::ProtoError;
use crate::error_code::ErrorCode;
use crate::versioned::{MessageReader, MessageWriter};

/// The producer a transaction request speaks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnProducer {
    pub transactional_id: String,
    pub producer_id: i64,
    pub producer_epoch: i16,
}

impl TxnProducer {
    fn write(&self, w: &mut MessageWriter) -> Result<(), ProtoError> {
        w.string("transactional id", &self.transactional_id)?;
        w.i64(self.producer_id);
        w.i16(self.producer_epoch);
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddPartitionsToTxnRequest {
    pub producer: TxnProducer,
    pub topics: Vec<(String, Vec<i32>)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddPartitionsToTxnResponse {
    pub topics: Vec<TopicErrors>,
}

impl ControlRequest for AddPartitionsToTxnRequest {
    const API: Api = Api::AddPartitionsToTxn;
    type Response = AddPartitionsToTxnResponse;

    fn encode(&self, w: &mut MessageWriter) -> Result<(), ProtoError> {
        self.producer.write(w)?;
        w.array("topics", &self.topics, |w, (name, partitions)| {
            w.string("topic name", name)?;
            w.i32_array("partitions", partitions)?;
            w.tagged_fields();
            Ok(())
        })?;
        w.tagged_fields();
        Ok(())
    }

    fn decode_response(r: &mut MessageReader) -> Result<AddPartitionsToTxnResponse, ProtoError> {
        r.i32("throttle time")?;
        let topics = read_topic_errors(r, "results by topic")?;
        r.tagged_fields("add partitions tags")?;
        Ok(AddPartitionsToTxnResponse { topics })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddOffsetsToTxnRequest {
    pub producer: TxnProducer,
    pub group_id: String,
}

impl ControlRequest for AddOffsetsToTxnRequest {
    const API: Api = Api::AddOffsetsToTxn;
    type Response = ErrorCode;

    fn encode(&self, w: &mut MessageWriter) -> Result<(), ProtoError> {
        self.producer.write(w)?;
        w.string("group id", &self.group_id)?;
        w.tagged_fields();
        Ok(())
    }

    fn decode_response(r: &mut MessageReader) -> Result<ErrorCode, ProtoError> {
        read_throttle_and_error(r)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndTxnRequest {
    pub producer: TxnProducer,
    /// Commit (true) or abort (false).
    pub committed: bool,
}

impl ControlRequest for EndTxnRequest {
    const API: Api = Api::EndTxn;
    type Response = ErrorCode;

    fn encode(&self, w: &mut MessageWriter) -> Result<(), ProtoError> {
        self.producer.write(w)?;
        w.bool(self.committed);
        w.tagged_fields();
        Ok(())
    }

    fn decode_response(r: &mut MessageReader) -> Result<ErrorCode, ProtoError> {
        read_throttle_and_error(r)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnOffsetCommitRequest {
    pub transactional_id: String,
    pub group_id: String,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub topics: Vec<(String, Vec<CommitOffset>)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnOffsetCommitResponse {
    pub topics: Vec<TopicErrors>,
}

impl ControlRequest for TxnOffsetCommitRequest {
    const API: Api = Api::TxnOffsetCommit;
    type Response = TxnOffsetCommitResponse;

    fn encode(&self, w: &mut MessageWriter) -> Result<(), ProtoError> {
        w.string("transactional id", &self.transactional_id)?;
        w.string("group id", &self.group_id)?;
        w.i64(self.producer_id);
        w.i16(self.producer_epoch);
        if w.version() >= 3 {
            w.i32(-1); // generation: a group without members
            w.string("member id", "")?;
            w.nullable_string("group instance id", None)?;
        }
        write_commit_topics(w, &self.topics, 2)?;
        w.tagged_fields();
        Ok(())
    }

    fn decode_response(r: &mut MessageReader) -> Result<TxnOffsetCommitResponse, ProtoError> {
        r.i32("throttle time")?;
        let topics = read_topic_errors(r, "topics")?;
        r.tagged_fields("txn offset commit tags")?;
        Ok(TxnOffsetCommitResponse { topics })
    }
}

fn read_throttle_and_error(r: &mut MessageReader) -> Result<ErrorCode, ProtoError> {
    r.i32("throttle time")?;
    let error = ErrorCode(r.i16("error code")?);
    if r.version() >= 5 {
        r.i64("producer id")?;
        r.i16("producer epoch")?;
    }
    r.tagged_fields("response tags")?;
    Ok(error)
}
