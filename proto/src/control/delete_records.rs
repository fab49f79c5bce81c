//! DeleteRecords: moving a partition's log start offset up (offset-preserving
//! mode removes the placeholders it wrote below the source's log start).

use crate::api::Api;
use crate::control::ControlRequest;
use crate::error::ProtoError;
use crate::error_code::ErrorCode;
use crate::versioned::{MessageReader, MessageWriter};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteRecordsRequest {
    /// (topic, [(partition, delete below this offset)])
    pub topics: Vec<(String, Vec<(i32, i64)>)>,
    pub timeout_ms: i32,
}

/// One partition's answer: its log start offset after the deletion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeletedRecords {
    pub topic: String,
    pub partition: i32,
    pub low_watermark: i64,
    pub error: ErrorCode,
}

impl ControlRequest for DeleteRecordsRequest {
    const API: Api = Api::DeleteRecords;
    type Response = Vec<DeletedRecords>;

    fn encode(&self, w: &mut MessageWriter) -> Result<(), ProtoError> {
        w.array("topics", &self.topics, |w, (name, partitions)| {
            w.string("topic name", name)?;
            w.array("partitions", partitions, |w, (partition, offset)| {
                w.i32(*partition);
                w.i64(*offset);
                w.tagged_fields();
                Ok(())
            })?;
            w.tagged_fields();
            Ok(())
        })?;
        w.i32(self.timeout_ms);
        w.tagged_fields();
        Ok(())
    }

    fn decode_response(r: &mut MessageReader) -> Result<Vec<DeletedRecords>, ProtoError> {
        r.i32("throttle time")?;
        let topics = r.array("topics", 3, |r| {
            let topic = r.string("topic name")?;
            let partitions = r.array("partitions", 14, |r| {
                let partition = r.i32("partition index")?;
                let low_watermark = r.i64("low watermark")?;
                let error = ErrorCode(r.i16("error code")?);
                r.tagged_fields("partition tags")?;
                Ok((partition, low_watermark, error))
            })?;
            r.tagged_fields("topic tags")?;
            Ok((topic, partitions))
        })?;
        r.tagged_fields("delete records tags")?;
        Ok(topics
            .into_iter()
            .flat_map(|(topic, partitions)| {
                partitions
                    .into_iter()
                    .map(move |(partition, low_watermark, error)| DeletedRecords {
                        topic: topic.clone(),
                        partition,
                        low_watermark,
                        error,
                    })
            })
            .collect())
    }
}
