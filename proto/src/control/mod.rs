//! Control-plane messages: everything kmirror sends besides Fetch and
//! Produce. Each file holds one message family: the request kmirror sends,
//! written at any version in [`Api::ours`], and the response it reads,
//! decoded into the fields kmirror uses (the rest is read past, never
//! kept, so a decoded response never outweighs the bytes it came from by
//! much). Decoding never reserves memory from a count read off the wire.

use bytes::{Bytes, BytesMut};

use crate::api::Api;
use crate::error::ProtoError;
use crate::header::{begin_request, finish_frame};
use crate::versioned::{MessageReader, MessageWriter};

pub mod acls;
pub mod api_versions;
pub mod create_partitions;
pub mod create_topics;
pub mod delete_records;
pub mod describe_configs;
pub mod find_coordinator;
pub mod group;
pub mod incremental_alter_configs;
pub mod list_groups;
pub mod list_offsets;
pub mod metadata;
pub mod offset_commit;
pub mod offset_fetch;
pub mod producer_id;
pub mod sasl;
pub mod txn;

/// A request kmirror sends and the response it expects.
pub trait ControlRequest {
    const API: Api;
    type Response;

    /// Writes the request body (after the request header).
    fn encode(&self, w: &mut MessageWriter) -> Result<(), ProtoError>;

    /// Reads the response body (after the response header).
    fn decode_response(r: &mut MessageReader) -> Result<Self::Response, ProtoError>;
}

/// A whole request frame (size prefix and header included).
pub fn encode_request<R: ControlRequest>(
    req: &R,
    version: i16,
    correlation_id: i32,
    client_id: &str,
) -> Result<Bytes, ProtoError> {
    let (lo, hi) = R::API.ours();
    if !(lo..=hi).contains(&version) {
        return Err(ProtoError::Codec {
            api: R::API.name(),
            version,
            detail: format!("kmirror writes versions {lo} to {hi}"),
        });
    }
    let mut buf = BytesMut::with_capacity(128);
    begin_request(&mut buf, R::API.key(), version, correlation_id, client_id);
    let mut w = MessageWriter::new(buf, version, R::API.is_flexible(version));
    req.encode(&mut w)?;
    let mut buf = w.into_inner();
    let len = buf.len();
    finish_frame(&mut buf, len - 4);
    Ok(buf.freeze())
}

/// Decodes a response body (after the response header).
pub fn decode_response<R: ControlRequest>(
    body: Bytes,
    version: i16,
) -> Result<R::Response, ProtoError> {
    let mut r = MessageReader::new(body, version, R::API.is_flexible(version));
    R::decode_response(&mut r).map_err(|e| match e {
        e @ ProtoError::Codec { .. } => e,
        e => ProtoError::Codec {
            api: R::API.name(),
            version,
            detail: e.to_string(),
        },
    })
}

/// Topic and partition errors as Kafka reports them in most responses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionError {
    pub partition: i32,
    pub error: crate::error_code::ErrorCode,
}

/// `(topic, [partition -> error])`, the shape of OffsetCommit,
/// TxnOffsetCommit and AddPartitionsToTxn answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicErrors {
    pub name: String,
    pub partitions: Vec<PartitionError>,
}

/// Reads `[name, [partition INT32, error INT16]]` arrays.
pub(crate) fn read_topic_errors(
    r: &mut MessageReader,
    what: &'static str,
) -> Result<Vec<TopicErrors>, ProtoError> {
    r.array(what, 3, |r| {
        let name = r.string("topic name")?;
        let partitions = r.array("partition results", 6, |r| {
            let partition = r.i32("partition index")?;
            let error = crate::error_code::ErrorCode(r.i16("partition error code")?);
            r.tagged_fields("partition result tags")?;
            Ok(PartitionError { partition, error })
        })?;
        r.tagged_fields("topic result tags")?;
        Ok(TopicErrors { name, partitions })
    })
}

/// `(topic, partitions)` pairs grouped in first-seen order, the shape most
/// requests take.
pub fn group_by_topic<T: Clone>(items: &[(String, T)]) -> Vec<(String, Vec<T>)> {
    let mut out: Vec<(String, Vec<T>)> = Vec::new();
    for (topic, item) in items {
        match out.iter_mut().find(|(t, _)| t == topic) {
            Some((_, v)) => v.push(item.clone()),
            None => out.push((topic.clone(), vec![item.clone()])),
        }
    }
    out
}

#[cfg(test)]
pub(crate) mod cross_check;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_carry_size_and_header() {
        let req = api_versions::ApiVersionsRequest::new("kmirror", "0.1.0");
        let f = encode_request(&req, 3, 1, "kmirror").unwrap();
        let size = i32::from_be_bytes([f[0], f[1], f[2], f[3]]) as usize;
        assert_eq!(size + 4, f.len());
        assert_eq!(&f[4..6], &[0, 18]);
        let m = encode_request(&metadata::MetadataRequest::all_topics(), 12, 2, "kmirror").unwrap();
        assert_eq!(&m[4..8], &[0, 3, 0, 12]);
        assert!(encode_request(&metadata::MetadataRequest::all_topics(), 13, 2, "k").is_err());
    }

    #[test]
    fn grouping_keeps_first_seen_order() {
        let items = vec![
            ("b".to_string(), 1),
            ("a".to_string(), 2),
            ("b".to_string(), 3),
        ];
        assert_eq!(
            group_by_topic(&items),
            vec![("b".to_string(), vec![1, 3]), ("a".to_string(), vec![2])]
        );
    }
}
