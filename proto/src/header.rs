//! Request and response headers, and the 4-byte size frame around both.

use bytes::{BufMut, Bytes, BytesMut};

use crate::api::Api;
use crate::error::ProtoError;
use crate::wire::{put_empty_tagged_fields, put_string, Reader};

/// Header version a request of `api_key` at `version` uses (1, or 2 when flexible).
pub fn request_header_version(api_key: i16, version: i16) -> i16 {
    match Api::from_key(api_key) {
        Some(api) if api.is_flexible(version) => 2,
        _ => 1,
    }
}

/// Header version the response uses (0, or 1 when flexible; ApiVersions is always 0).
pub fn response_header_version(api_key: i16, version: i16) -> i16 {
    match Api::from_key(api_key) {
        // Its response header stays v0 so that a client that asked in a
        // version the broker does not know can still read the answer.
        Some(Api::ApiVersions) => 0,
        Some(api) if api.is_flexible(version) => 1,
        _ => 0,
    }
}

/// Starts a request frame: a size placeholder and the request header.
/// Finish it with [`finish_frame`] once the body is appended.
pub fn begin_request(
    buf: &mut BytesMut,
    api_key: i16,
    version: i16,
    correlation_id: i32,
    client_id: &str,
) {
    buf.put_i32(0);
    buf.put_i16(api_key);
    buf.put_i16(version);
    buf.put_i32(correlation_id);
    put_string(buf, Some(client_id));
    if request_header_version(api_key, version) >= 2 {
        put_empty_tagged_fields(buf);
    }
}

/// Writes the frame size, given the total length of everything after the
/// size field (including bytes that travel in separate slices).
pub fn finish_frame(buf: &mut BytesMut, total_after_size: usize) {
    let size = (total_after_size as i32).to_be_bytes();
    buf[0..4].copy_from_slice(&size);
}

/// Splits a received response frame (without its size prefix) into the
/// correlation id and the body, skipping the header's tagged fields.
pub fn split_response(
    frame: Bytes,
    api_key: i16,
    version: i16,
) -> Result<(i32, Bytes), ProtoError> {
    let mut r = Reader::new(frame.clone());
    let correlation_id = r.i32("response header")?;
    if response_header_version(api_key, version) >= 1 {
        r.skip_tagged_fields("response header tagged fields")?;
    }
    Ok((correlation_id, frame.slice(r.position()..)))
}

/// Reads only the correlation id at the front of a response frame.
pub fn peek_correlation_id(frame: &[u8]) -> Result<i32, ProtoError> {
    if frame.len() < 4 {
        return Err(ProtoError::Truncated {
            what: "response header",
            needed: 4,
            available: frame.len(),
        });
    }
    Ok(i32::from_be_bytes([frame[0], frame[1], frame[2], frame[3]]))
}
