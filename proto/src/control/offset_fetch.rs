//! OffsetFetch: a group's committed offsets.

use crate::api::Api;
use crate::control::ControlRequest;
use crate::error::ProtoError;
use crate::error_code::ErrorCode;
use crate::versioned::{MessageReader, MessageWriter};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetFetchRequest {
    pub group_id: String,
    /// `None`: every partition the group has committed.
    pub topics: Option<Vec<(String, Vec<i32>)>>,
    /// Wait out transactional commits in flight (UNSTABLE_OFFSET_COMMIT
    /// until they end) instead of reading past them; v7+.
    pub require_stable: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedOffset {
    pub partition: i32,
    /// -1 when nothing is committed.
    pub offset: i64,
    pub metadata: Option<String>,
    pub error: ErrorCode,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetFetchTopic {
    pub name: String,
    pub partitions: Vec<FetchedOffset>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetFetchResponse {
    pub topics: Vec<OffsetFetchTopic>,
    pub error: ErrorCode,
}

impl ControlRequest for OffsetFetchRequest {
    const API: Api = Api::OffsetFetch;
    type Response = OffsetFetchResponse;

    fn encode(&self, w: &mut MessageWriter) -> Result<(), ProtoError> {
        let v = w.version();
        w.string("group id", &self.group_id)?;
        match &self.topics {
            None if v < 2 => {
                return Err(ProtoError::Codec {
                    api: "OffsetFetch",
                    version: v,
                    detail: "all of a group's partitions can be asked for from v2".into(),
                })
            }
            None => w.array_len("topics", None)?,
            Some(topics) => w.array("topics", topics, |w, (name, partitions)| {
                w.string("topic name", name)?;
                w.i32_array("partition indexes", partitions)?;
                w.tagged_fields();
                Ok(())
            })?,
        }
        if v >= 7 {
            w.bool(self.require_stable);
        }
        w.tagged_fields();
        Ok(())
    }

    fn decode_response(r: &mut MessageReader) -> Result<OffsetFetchResponse, ProtoError> {
        let v = r.version();
        if v >= 3 {
            r.i32("throttle time")?;
        }
        let topics = r.array("topics", 3, |r| {
            let name = r.string("topic name")?;
            let partitions = r.array("partitions", 15, |r| {
                let partition = r.i32("partition index")?;
                let offset = r.i64("committed offset")?;
                if r.version() >= 5 {
                    r.i32("committed leader epoch")?;
                }
                let metadata = r.nullable_string("commit metadata")?;
                let error = ErrorCode(r.i16("partition error code")?);
                r.tagged_fields("partition tags")?;
                Ok(FetchedOffset {
                    partition,
                    offset,
                    metadata,
                    error,
                })
            })?;
            r.tagged_fields("topic tags")?;
            Ok(OffsetFetchTopic { name, partitions })
        })?;
        let error = if v >= 2 {
            ErrorCode(r.i16("error code")?)
        } else {
            ErrorCode::NONE
        };
        r.tagged_fields("offset fetch tags")?;
        Ok(OffsetFetchResponse { topics, error })
    }
}
