//! The slow path over one record batch: its records decoded (decompressed
//! to at most 1 MiB) and the batch rebuilt from those at or above a resume
//! offset, optionally with every timestamp forced (LogAppendTime), as
//! checked in `check_reencode`. The first input byte picks the resume
//! offset (below, inside or past the batch) and the timestamp; the
//! batchLength field is corrected to the input's length so that inputs go
//! straight to the record decoder.
#![no_main]

use bytes::Bytes;
use kmirror_proto::batch::{RecordBatch, LOG_OVERHEAD};
use kmirror_proto_fuzz::{check_reencode, log};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, bytes)) = data.split_first() else {
        return;
    };
    let mut bytes = bytes.to_vec();
    if bytes.len() >= LOG_OVERHEAD {
        if let Ok(length) = i32::try_from(bytes.len() - LOG_OVERHEAD) {
            bytes[8..12].copy_from_slice(&length.to_be_bytes());
        }
    }
    let batch = match RecordBatch::parse(Bytes::from(bytes)) {
        Ok(batch) => batch,
        Err(e) => return log(e),
    };
    // Low bits: how far into the batch to resume (0 keeps everything, 15
    // is past any small batch); high bits: which timestamp to force.
    let min_offset = batch.base_offset().saturating_add(i64::from(pick & 0x0f));
    let force_timestamp = match pick >> 4 {
        0..=7 => None,
        8..=11 => Some(1_700_000_000_000),
        12 | 13 => Some(i64::MIN),
        _ => Some(i64::MAX),
    };
    check_reencode(&batch, min_offset, force_timestamp);
});
