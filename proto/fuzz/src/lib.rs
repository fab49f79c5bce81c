//! What the fuzz targets share: the checks run on every record batch a
//! decoder hands out, and the limits that keep a fuzzed input from turning
//! into gigabytes. Every error a decoder returns is a fine answer here; a
//! target fails only on a panic (an overflow, an index out of range, a
//! failed assertion below) or an abort.

use bytes::Bytes;
use kmirror_proto::batch::{split_record_set, BatchRewrite, RecordBatch, RecordSetEntry};
use kmirror_proto::records::{decode_records, reencode, Reencode};
use kmirror_proto::ProtoError;

/// The most a fuzzed batch may decompress to: far below the mirror's
/// default, so one input cannot take the fuzzer's memory.
pub const MAX_DECOMPRESSED: usize = 1 << 20;

/// Formats an error the way a log line would, so message building is
/// exercised too, and drops it.
pub fn log(e: ProtoError) {
    std::hint::black_box(e.to_string());
}

/// Iterates a fetched record set and checks every batch in it, as the
/// mirror's fetch path does.
pub fn check_record_set(records: Bytes, rw: &BatchRewrite) {
    let mut entries = split_record_set(records);
    for entry in entries.by_ref() {
        match entry {
            Ok(RecordSetEntry::Batch(batch)) => check_batch(&batch, rw),
            Ok(RecordSetEntry::Legacy { .. }) => {}
            Err(e) => log(e),
        }
    }
    std::hint::black_box(entries.truncated_tail());
}

/// Everything the mirror reads or derives from a parsed batch, plus the
/// properties the forwarding path relies on: a rewritten batch parses
/// again, keeps its record bytes, and has a good CRC exactly when the
/// original had one.
pub fn check_batch(batch: &RecordBatch, rw: &BatchRewrite) {
    let crc_ok = match batch.verify_crc() {
        Ok(()) => true,
        Err(e) => {
            log(e);
            false
        }
    };
    std::hint::black_box((
        batch.control_type(),
        batch.next_offset(),
        batch.last_offset(),
        batch.has_offset_holes(),
        batch.is_empty(),
        batch.is_log_append_time(),
        batch.max_timestamp(),
    ));
    if let Err(e) = batch.compression() {
        log(e);
    }

    let out = batch.rewrite(rw);
    assert_eq!(out.len(), batch.len(), "a rewrite changes the batch length");
    let again = RecordBatch::parse(out.to_contiguous()).expect("a rewritten batch parses");
    assert_eq!(
        again.verify_crc().is_ok(),
        crc_ok,
        "a rewrite flips CRC validity"
    );
    assert_eq!(again.records(), batch.records());
    assert_eq!(again.base_offset(), 0);
    assert_eq!(again.producer_id(), rw.producer_id);
    assert_eq!(again.base_sequence(), rw.base_sequence);
    assert_eq!(again.is_transactional(), rw.transactional);

    match decode_records(batch, MAX_DECOMPRESSED) {
        Ok(records) => {
            assert!(records.len() == batch.record_count() as usize);
        }
        Err(e) => log(e),
    }
}

/// The slow path: records decoded, the batch rebuilt from those at or above
/// `min_offset`. A rebuilt batch must be one the fast path accepts: a good
/// CRC, no offset holes, and exactly the kept records when decoded again.
pub fn check_reencode(batch: &RecordBatch, min_offset: i64, force_timestamp: Option<i64>) {
    let opts = Reencode {
        min_offset,
        force_timestamp,
        max_decompressed: MAX_DECOMPRESSED,
        compression: None,
    };
    let kept = match decode_records(batch, MAX_DECOMPRESSED) {
        Ok(records) => records.iter().filter(|r| r.offset >= min_offset).count(),
        Err(e) => return log(e),
    };
    match reencode(batch, opts) {
        Ok(None) => assert_eq!(kept, 0, "records kept but no batch rebuilt"),
        Ok(Some(out)) => {
            assert!(kept > 0, "a batch rebuilt from no records");
            out.batch
                .verify_crc()
                .expect("a rebuilt batch has a good CRC");
            assert!(!out.batch.has_offset_holes());
            assert!(out.first_source_offset >= min_offset);
            assert!(out.first_source_offset <= out.last_source_offset);
            // Record bodies are carried over unread, so one that was never a
            // valid key/value/headers section stays invalid (and a batch of
            // records shorter than the smallest valid one fails the size
            // check); a rebuilt batch that decodes must hold what was kept.
            // Its bytes can outgrow the original's by the wider timestamp
            // deltas, never by more than a few bytes a record.
            match decode_records(&out.batch, 4 * MAX_DECOMPRESSED) {
                Ok(again) => {
                    assert_eq!(again.len(), kept);
                    if let Some(ts) = force_timestamp {
                        assert!(again.iter().all(|r| r.timestamp == ts));
                    }
                }
                Err(e) => log(e),
            }
        }
        Err(e) => log(e),
    }
}

/// Rewrite fields taken from one input byte, so the targets try the
/// idempotent, transactional and plain producer shapes.
pub fn rewrite_from(byte: u8) -> BatchRewrite {
    match byte % 3 {
        0 => BatchRewrite::NON_IDEMPOTENT,
        1 => BatchRewrite {
            producer_id: 4242,
            producer_epoch: 7,
            base_sequence: i32::from(byte),
            transactional: false,
        },
        _ => BatchRewrite {
            producer_id: i64::MAX,
            producer_epoch: i16::MAX,
            base_sequence: i32::MAX,
            transactional: true,
        },
    }
}
