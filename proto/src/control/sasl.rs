//! SaslHandshake and SaslAuthenticate: choosing a SASL mechanism and
//! carrying its exchange inside Kafka requests (KIP-152), which is also how
//! a live connection re-authenticates (KIP-368). kmirror speaks
//! SaslHandshake v1 only: v0 framed the SASL tokens outside Kafka requests.

use bytes::Bytes;

use crate::api::Api;
use crate::control::ControlRequest;
use crate::error::ProtoError;
use crate::error_code::ErrorCode;
use crate::versioned::{MessageReader, MessageWriter};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaslHandshakeRequest {
    /// `PLAIN`, `SCRAM-SHA-512`, `OAUTHBEARER`, ...
    pub mechanism: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaslHandshakeResponse {
    pub error: ErrorCode,
    /// The mechanisms the broker's listener has enabled.
    pub mechanisms: Vec<String>,
}

impl ControlRequest for SaslHandshakeRequest {
    const API: Api = Api::SaslHandshake;
    type Response = SaslHandshakeResponse;

    fn encode(&self, w: &mut MessageWriter) -> Result<(), ProtoError> {
        w.string("mechanism", &self.mechanism)
    }

    fn decode_response(r: &mut MessageReader) -> Result<SaslHandshakeResponse, ProtoError> {
        let error = ErrorCode(r.i16("error code")?);
        let mechanisms = r.array("mechanisms", 2, |r| r.string("mechanism"))?;
        Ok(SaslHandshakeResponse { error, mechanisms })
    }
}

/// One SASL token. Its `Debug` shows only the length: tokens carry
/// passwords (PLAIN), proofs (SCRAM) and bearer tokens.
#[derive(Clone, PartialEq, Eq)]
pub struct SaslAuthenticateRequest {
    pub auth_bytes: Vec<u8>,
}

impl std::fmt::Debug for SaslAuthenticateRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "SaslAuthenticateRequest({} bytes)",
            self.auth_bytes.len()
        )
    }
}

#[derive(Clone, PartialEq, Eq)]
pub struct SaslAuthenticateResponse {
    pub error: ErrorCode,
    pub error_message: Option<String>,
    pub auth_bytes: Bytes,
    /// v1+: how long the broker accepts this authentication, 0 when it does
    /// not expire (`connections.max.reauth.ms` unset).
    pub session_lifetime_ms: i64,
}

impl std::fmt::Debug for SaslAuthenticateResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SaslAuthenticateResponse")
            .field("error", &self.error)
            .field("error_message", &self.error_message)
            .field(
                "auth_bytes",
                &format_args!("{} bytes", self.auth_bytes.len()),
            )
            .field("session_lifetime_ms", &self.session_lifetime_ms)
            .finish()
    }
}

impl ControlRequest for SaslAuthenticateRequest {
    const API: Api = Api::SaslAuthenticate;
    type Response = SaslAuthenticateResponse;

    fn encode(&self, w: &mut MessageWriter) -> Result<(), ProtoError> {
        w.bytes("auth bytes", &self.auth_bytes)?;
        w.tagged_fields();
        Ok(())
    }

    fn decode_response(r: &mut MessageReader) -> Result<SaslAuthenticateResponse, ProtoError> {
        let error = ErrorCode(r.i16("error code")?);
        let error_message = r.nullable_string("error message")?;
        let auth_bytes = r.nullable_bytes("auth bytes")?.unwrap_or_default();
        let session_lifetime_ms = if r.version() >= 1 {
            r.i64("session lifetime")?
        } else {
            0
        };
        r.tagged_fields("sasl authenticate tags")?;
        Ok(SaslAuthenticateResponse {
            error,
            error_message,
            auth_bytes,
            session_lifetime_ms,
        })
    }
}
