//! Errors from decoding or encoding protocol bytes.

/// What was wrong with bytes a peer sent us, or with a value we could not encode.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProtoError {
    /// The input ended before a field was complete.
    #[error("truncated {what}: needed {needed} bytes, {available} left")]
    Truncated {
        what: &'static str,
        needed: usize,
        available: usize,
    },
    /// A field held a value outside what the protocol allows.
    #[error("malformed {what}: {detail}")]
    Malformed { what: &'static str, detail: String },
    /// A record batch failed its CRC-32C check.
    #[error("corrupt record batch at offset {base_offset}: stored crc {stored:#010x}, computed {computed:#010x}")]
    CorruptBatch {
        base_offset: i64,
        stored: u32,
        computed: u32,
    },
    /// A record batch used a format we do not forward.
    #[error("unsupported record batch at offset {base_offset}: {detail}")]
    Unsupported { base_offset: i64, detail: String },
    /// Compressing or decompressing a batch failed.
    #[error("{codec} {direction} failed: {detail}")]
    Compression {
        codec: &'static str,
        direction: &'static str,
        detail: String,
    },
    /// The control-plane codec rejected a message.
    #[error("{api} v{version}: {detail}")]
    Codec {
        api: &'static str,
        version: i16,
        detail: String,
    },
}

impl ProtoError {
    pub(crate) fn malformed(what: &'static str, detail: impl Into<String>) -> Self {
        ProtoError::Malformed {
            what,
            detail: detail.into(),
        }
    }
}
