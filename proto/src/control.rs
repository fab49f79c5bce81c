//! Control-plane messages (ApiVersions, Metadata, ListOffsets,
//! InitProducerId, CreateTopics, CreatePartitions, DescribeConfigs,
//! IncrementalAlterConfigs, FindCoordinator, OffsetCommit, OffsetFetch)
//! through the `kafka-protocol` codec crate, which knows every version of
//! each. Only the framing lives here; the types are re-exported as they are.

use bytes::{Bytes, BytesMut};
pub use kafka_protocol::messages;
pub use kafka_protocol::messages::{BrokerId, TopicName};
use kafka_protocol::protocol::Decodable;
pub use kafka_protocol::protocol::Request;
pub use kafka_protocol::protocol::StrBytes;

use crate::error::ProtoError;
use crate::header::{begin_request, finish_frame};

/// A whole request frame (size prefix and header included).
pub fn encode_request<R: Request>(
    req: &R,
    version: i16,
    correlation_id: i32,
    client_id: &str,
) -> Result<Bytes, ProtoError> {
    let mut buf = BytesMut::with_capacity(128);
    begin_request(&mut buf, R::KEY, version, correlation_id, client_id);
    req.encode(&mut buf, version)
        .map_err(|e| ProtoError::Codec {
            api: api_name(R::KEY),
            version,
            detail: e.to_string(),
        })?;
    let len = buf.len();
    finish_frame(&mut buf, len - 4);
    Ok(buf.freeze())
}

/// Decodes a response body (after the response header).
pub fn decode_response<R: Request>(
    mut body: Bytes,
    version: i16,
) -> Result<R::Response, ProtoError> {
    <R::Response as Decodable>::decode(&mut body, version).map_err(|e| ProtoError::Codec {
        api: api_name(R::KEY),
        version,
        detail: e.to_string(),
    })
}

/// A string in the codec's representation.
pub fn str_bytes(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

pub fn topic_name(s: &str) -> TopicName {
    TopicName(str_bytes(s))
}

fn api_name(key: i16) -> &'static str {
    crate::api::Api::ALL
        .iter()
        .find(|a| a.key() == key)
        .map(|a| a.name())
        .unwrap_or("request")
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::{ApiVersionsRequest, MetadataRequest};

    #[test]
    fn frames_carry_size_and_header() {
        let req = ApiVersionsRequest::default()
            .with_client_software_name(str_bytes("kmirror"))
            .with_client_software_version(str_bytes("0.1.0"));
        let f = encode_request(&req, 3, 1, "kmirror").unwrap();
        let size = i32::from_be_bytes([f[0], f[1], f[2], f[3]]) as usize;
        assert_eq!(size + 4, f.len());
        assert_eq!(&f[4..6], &[0, 18]);
        let m = encode_request(&MetadataRequest::default(), 12, 2, "kmirror").unwrap();
        assert_eq!(&m[4..8], &[0, 3, 0, 12]);
    }
}
