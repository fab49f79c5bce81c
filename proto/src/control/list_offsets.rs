//! ListOffsets: a partition's offset at a time, or its earliest or latest.

use crate::api::Api;
use crate::control::ControlRequest;
use crate::error::ProtoError;
use crate::error_code::ErrorCode;
use crate::versioned::{MessageReader, MessageWriter};

/// ListOffsets' special timestamps.
pub const EARLIEST: i64 = -2;
pub const LATEST: i64 = -1;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListOffsetsRequest {
    /// 0: read_uncommitted, 1: read_committed (the latest offset is then
    /// the last stable offset).
    pub isolation_level: i8,
    /// Per topic: (partition, timestamp).
    pub topics: Vec<(String, Vec<(i32, i64)>)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListOffsetsPartition {
    pub partition: i32,
    pub error: ErrorCode,
    pub timestamp: i64,
    pub offset: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListOffsetsTopic {
    pub name: String,
    pub partitions: Vec<ListOffsetsPartition>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListOffsetsResponse {
    pub topics: Vec<ListOffsetsTopic>,
}

impl ControlRequest for ListOffsetsRequest {
    const API: Api = Api::ListOffsets;
    type Response = ListOffsetsResponse;

    fn encode(&self, w: &mut MessageWriter) -> Result<(), ProtoError> {
        w.i32(-1); // replica id: a consumer
        if w.version() >= 2 {
            w.i8(self.isolation_level);
        }
        w.array("topics", &self.topics, |w, (name, partitions)| {
            w.string("topic name", name)?;
            w.array("partitions", partitions, |w, &(partition, timestamp)| {
                w.i32(partition);
                if w.version() >= 4 {
                    w.i32(-1); // current leader epoch: unknown
                }
                w.i64(timestamp);
                w.tagged_fields();
                Ok(())
            })?;
            w.tagged_fields();
            Ok(())
        })?;
        w.tagged_fields();
        Ok(())
    }

    fn decode_response(r: &mut MessageReader) -> Result<ListOffsetsResponse, ProtoError> {
        if r.version() >= 2 {
            r.i32("throttle time")?;
        }
        let topics = r.array("topics", 3, |r| {
            let name = r.string("topic name")?;
            let partitions = r.array("partitions", 22, |r| {
                let partition = r.i32("partition index")?;
                let error = ErrorCode(r.i16("partition error code")?);
                let timestamp = r.i64("timestamp")?;
                let offset = r.i64("offset")?;
                if r.version() >= 4 {
                    r.i32("leader epoch")?;
                }
                r.tagged_fields("partition tags")?;
                Ok(ListOffsetsPartition {
                    partition,
                    error,
                    timestamp,
                    offset,
                })
            })?;
            r.tagged_fields("topic tags")?;
            Ok(ListOffsetsTopic { name, partitions })
        })?;
        r.tagged_fields("list offsets tags")?;
        Ok(ListOffsetsResponse { topics })
    }
}
