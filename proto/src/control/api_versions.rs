//! ApiVersions: which versions of each API a broker speaks.

use crate::api::Api;
use crate::control::ControlRequest;
use crate::error::ProtoError;
use crate::error_code::ErrorCode;
use crate::versioned::{MessageReader, MessageWriter};

#[derive(Debug, Clone)]
pub struct ApiVersionsRequest {
    pub client_software_name: String,
    pub client_software_version: String,
}

impl ApiVersionsRequest {
    pub fn new(name: &str, version: &str) -> ApiVersionsRequest {
        ApiVersionsRequest {
            client_software_name: name.to_string(),
            client_software_version: version.to_string(),
        }
    }
}

/// One API's version range as the broker advertises it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiVersionRange {
    pub api_key: i16,
    pub min_version: i16,
    pub max_version: i16,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiVersionsResponse {
    pub error: ErrorCode,
    pub api_keys: Vec<ApiVersionRange>,
}

impl ControlRequest for ApiVersionsRequest {
    const API: Api = Api::ApiVersions;
    type Response = ApiVersionsResponse;

    fn encode(&self, w: &mut MessageWriter) -> Result<(), ProtoError> {
        if w.version() >= 3 {
            w.string("client software name", &self.client_software_name)?;
            w.string("client software version", &self.client_software_version)?;
            w.tagged_fields();
        }
        Ok(())
    }

    fn decode_response(r: &mut MessageReader) -> Result<ApiVersionsResponse, ProtoError> {
        let error = ErrorCode(r.i16("api versions error code")?);
        if error == ErrorCode::UNSUPPORTED_VERSION && r.version() > 0 {
            // A broker answers a version it does not know in the v0 layout,
            // listing what it does speak.
            let mut v0 = MessageReader::new(r.rest()?, 0, false);
            let api_keys = read_ranges(&mut v0)?;
            return Ok(ApiVersionsResponse { error, api_keys });
        }
        let api_keys = read_ranges(r)?;
        if r.version() >= 1 {
            r.i32("throttle time")?;
        }
        r.tagged_fields("api versions tags")?;
        Ok(ApiVersionsResponse { error, api_keys })
    }
}

fn read_ranges(r: &mut MessageReader) -> Result<Vec<ApiVersionRange>, ProtoError> {
    r.array("api keys", 6, |r| {
        let range = ApiVersionRange {
            api_key: r.i16("api key")?,
            min_version: r.i16("min version")?,
            max_version: r.i16("max version")?,
        };
        r.tagged_fields("api key tags")?;
        Ok(range)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[test]
    fn the_seven_byte_answer_that_used_to_abort_is_an_error() {
        // Error 0, then a compact array "of about 2^32 elements".
        let body = Bytes::from_static(&[0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0x0f]);
        let err = crate::control::decode_response::<ApiVersionsRequest>(body, 3).unwrap_err();
        assert!(err.to_string().contains("api keys"), "{err}");
    }

    #[test]
    fn unsupported_version_answers_are_read_in_the_v0_layout() {
        let body = Bytes::from_static(&[0, 35, 0, 0, 0, 1, 0, 1, 0, 4, 0, 12]);
        let resp = crate::control::decode_response::<ApiVersionsRequest>(body, 3).unwrap();
        assert_eq!(resp.error, ErrorCode::UNSUPPORTED_VERSION);
        assert_eq!(
            resp.api_keys,
            vec![ApiVersionRange {
                api_key: 1,
                min_version: 4,
                max_version: 12
            }]
        );
    }
}
