//! The Kafka wire protocol as kmirror speaks it: bytes in, typed values out,
//! and back. No I/O happens here, and nothing here may panic on bytes that
//! came from a peer: every length, count and offset is checked and a
//! malformed input is an error value that says what was wrong.
//!
//! The hot path (Fetch responses, Produce requests, record batches) has its
//! own zero-copy framing; control-plane messages have theirs in [`control`],
//! on the versioned field readers of [`versioned`]. No decoder reserves
//! memory from a count or length read off the wire before the bytes behind
//! it are there.
#![forbid(unsafe_code)]

pub mod any_response;
pub mod api;
pub mod batch;
pub mod coalesce;
pub mod compression;
pub mod control;
pub mod error;
pub mod error_code;
pub mod external;
pub mod fetch;
pub mod fetch_stream;
pub mod fleet;
pub mod header;
pub mod mm2;
pub mod produce;
pub mod records;
pub mod versioned;
pub mod wire;

pub use batch::{BatchRewrite, RecordBatch};
pub use error::ProtoError;
