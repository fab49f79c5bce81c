//! OffsetCommit: committed offsets of a group with no members (kmirror's
//! progress, and translated consumer offsets).

use crate::api::Api;
use crate::control::{read_topic_errors, ControlRequest, TopicErrors};
use crate::error::ProtoError;
use crate::versioned::{MessageReader, MessageWriter};

/// One partition's offset to commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitOffset {
    pub partition: i32,
    pub offset: i64,
    pub metadata: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetCommitRequest {
    pub group_id: String,
    pub topics: Vec<(String, Vec<CommitOffset>)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetCommitResponse {
    pub topics: Vec<TopicErrors>,
}

/// The partitions of a commit in the request layout, shared with
/// TxnOffsetCommit (whose partitions have no retention or timestamp).
pub(crate) fn write_commit_topics(
    w: &mut MessageWriter,
    topics: &[(String, Vec<CommitOffset>)],
    leader_epoch_from: i16,
) -> Result<(), ProtoError> {
    w.array("topics", topics, |w, (name, partitions)| {
        w.string("topic name", name)?;
        w.array("partitions", partitions, |w, p| {
            w.i32(p.partition);
            w.i64(p.offset);
            if w.version() >= leader_epoch_from {
                w.i32(-1); // committed leader epoch: unknown
            }
            w.nullable_string("commit metadata", Some(&p.metadata))?;
            w.tagged_fields();
            Ok(())
        })?;
        w.tagged_fields();
        Ok(())
    })
}

impl ControlRequest for OffsetCommitRequest {
    const API: Api = Api::OffsetCommit;
    type Response = OffsetCommitResponse;

    fn encode(&self, w: &mut MessageWriter) -> Result<(), ProtoError> {
        let v = w.version();
        w.string("group id", &self.group_id)?;
        w.i32(-1); // generation: a group without members
        w.string("member id", "")?;
        if v >= 7 {
            w.nullable_string("group instance id", None)?;
        }
        if (2..=4).contains(&v) {
            w.i64(-1); // retention: the broker's default
        }
        write_commit_topics(w, &self.topics, 6)?;
        w.tagged_fields();
        Ok(())
    }

    fn decode_response(r: &mut MessageReader) -> Result<OffsetCommitResponse, ProtoError> {
        if r.version() >= 3 {
            r.i32("throttle time")?;
        }
        let topics = read_topic_errors(r, "topics")?;
        r.tagged_fields("offset commit tags")?;
        Ok(OffsetCommitResponse { topics })
    }
}
