//! One record batch given whole to `RecordBatch::parse`, then checked as in
//! `check_batch` (header fields, CRC, control record type, rewrite, record
//! decoding). The first input byte picks the rewrite's producer fields and,
//! when its top bit is set, has the batchLength field corrected to the
//! input's length so the fuzzer gets past that check to everything after.
#![no_main]

use bytes::Bytes;
use kmirror_proto::batch::{RecordBatch, LOG_OVERHEAD};
use kmirror_proto_fuzz::{check_batch, log, rewrite_from};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, bytes)) = data.split_first() else {
        return;
    };
    let mut bytes = bytes.to_vec();
    if pick & 0x80 != 0 && bytes.len() >= LOG_OVERHEAD {
        if let Ok(length) = i32::try_from(bytes.len() - LOG_OVERHEAD) {
            bytes[8..12].copy_from_slice(&length.to_be_bytes());
        }
    }
    match RecordBatch::parse(Bytes::from(bytes)) {
        Ok(batch) => check_batch(&batch, &rewrite_from(pick)),
        Err(e) => log(e),
    }
});
