//! Coalescing: consecutive small batches of one partition merged into one
//! batch, so that the target gets fewer, larger batches and the mirror pays
//! its per-batch cost (a partition's slot in a produce request) once for
//! many. Each record's key, value and headers are copied as one untouched
//! byte range; only its length, timestamp delta and offset delta are
//! written anew. Compressed batches are decompressed and the merged records
//! compressed once with the same codec.

use bytes::{BufMut, BytesMut};

use crate::batch::{RecordBatch, ATTR_TRANSACTIONAL, HEADER_LEN};
use crate::compression::Compression;
use crate::error::ProtoError;
use crate::records::{finish_batch, put_record, BatchMeta};
use crate::wire::Reader;

/// Whether `batch` may be part of a merged batch: records with consecutive
/// offsets, CreateTime stamps, no delete horizon, a known codec.
pub fn mergeable(batch: &RecordBatch) -> bool {
    !batch.is_external()
        && !batch.is_control()
        && !batch.is_log_append_time()
        && !batch.has_delete_horizon()
        && !batch.has_offset_holes()
        && batch.record_count() > 0
        && batch.compression().is_ok()
}

/// Whether `next` may be merged after `prev`: both mergeable, the same
/// codec, and `next` starting at the offset after `prev`'s last record.
pub fn can_follow(prev: &RecordBatch, next: &RecordBatch) -> bool {
    mergeable(prev)
        && mergeable(next)
        && next.base_offset() == prev.next_offset()
        && prev.compression().ok() == next.compression().ok()
}

/// Merges `batches` (each following the one before, see [`can_follow`])
/// into one batch at the first one's base offset, with its producer fields
/// and leader epoch. At most `max_decompressed` bytes of records are
/// decompressed in all.
pub fn merge(batches: &[RecordBatch], max_decompressed: usize) -> Result<RecordBatch, ProtoError> {
    let Some(first) = batches.first() else {
        return Err(ProtoError::malformed("record batch", "nothing to merge"));
    };
    if let Some(b) = batches.iter().find(|b| b.is_external()) {
        return Err(spliced(b));
    }
    let compression = first.compression()?;
    let base_offset = first.base_offset();
    let base_ts = first.base_timestamp();
    let at = |offset: i64, detail: String| ProtoError::Malformed {
        what: "record batch",
        detail: format!("at offset {offset}: {detail}"),
    };
    for pair in batches.windows(2) {
        if !can_follow(&pair[0], &pair[1]) {
            return Err(at(
                pair[1].base_offset(),
                "does not follow the batch before it".into(),
            ));
        }
    }
    let records_len: usize = batches.iter().map(|b| b.len() - HEADER_LEN).sum();
    // Uncompressed records go straight behind the header; compressed ones
    // are gathered first and compressed behind it at the end.
    let mut out = BytesMut::with_capacity(HEADER_LEN + records_len + records_len / 8 + 16);
    out.resize(HEADER_LEN, 0);
    let mut plain = BytesMut::new();
    let body = if compression == Compression::None {
        &mut out
    } else {
        &mut plain
    };
    let mut budget = max_decompressed;
    let (mut count, mut max_ts) = (0i32, i64::MIN);
    for batch in batches {
        let data = compression.decompress(&batch.records(), budget)?;
        budget = budget.saturating_sub(data.len());
        let n = batch.record_count();
        let shift = batch.base_offset() - base_offset;
        let mut r = Reader::new(data.clone());
        for expected in 0..n {
            let len = r.varint("record length")?;
            if len < 0 || len as usize > r.remaining() {
                return Err(at(
                    batch.base_offset(),
                    format!("record length {len} with {} bytes left", r.remaining()),
                ));
            }
            let end = r.position() + len as usize;
            let attributes = r.i8("record attributes")?;
            let ts_delta = r.varlong("record timestamp delta")?;
            let offset_delta = r.varint("record offset delta")?;
            if offset_delta != expected || r.position() > end {
                return Err(at(
                    batch.base_offset(),
                    format!("record {expected} has offset delta {offset_delta}"),
                ));
            }
            let timestamp = batch
                .base_timestamp()
                .checked_add(ts_delta)
                .ok_or_else(|| at(batch.base_offset(), "timestamp overflows".into()))?;
            let new_ts = timestamp
                .checked_sub(base_ts)
                .ok_or_else(|| at(batch.base_offset(), "timestamps too far apart".into()))?;
            let new_offset = i32::try_from(shift + i64::from(offset_delta))
                .map_err(|_| at(batch.base_offset(), "offset delta overflows".into()))?;
            max_ts = max_ts.max(timestamp);
            put_record(
                body,
                attributes,
                new_ts,
                new_offset,
                &data[r.position()..end],
            );
            r.skip(end - r.position(), "record")?;
            count = count
                .checked_add(1)
                .ok_or_else(|| at(batch.base_offset(), "too many records".into()))?;
        }
    }
    if compression != Compression::None {
        out.put_slice(&compression.compress(&plain)?);
    }
    let last = batches.last().unwrap_or(first);
    let meta = BatchMeta {
        base_offset,
        partition_leader_epoch: first.partition_leader_epoch(),
        compression,
        log_append_time: false,
        producer_id: first.producer_id(),
        producer_epoch: first.producer_epoch(),
        base_sequence: first.base_sequence(),
        transactional: first.attributes() & ATTR_TRANSACTIONAL != 0,
    };
    let last_delta = i32::try_from(last.last_offset() - base_offset)
        .map_err(|_| at(base_offset, "merged batch spans too many offsets".into()))?;
    finish_batch(&mut out, &meta, last_delta, base_ts, max_ts, count);
    RecordBatch::parse(out.freeze())
}

/// The error for a batch whose records were never read into memory.
pub(crate) fn spliced(batch: &RecordBatch) -> ProtoError {
    ProtoError::Unsupported {
        base_offset: batch.base_offset(),
        detail: "the records were spliced, not read, and cannot be rewritten".into(),
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::records::{decode_records, encode_batch, NewRecord, RawRecord};

    fn batch(base: i64, first_ts: i64, n: i32, compression: Compression) -> RecordBatch {
        let records: Vec<NewRecord> = (0..n)
            .map(|i| NewRecord {
                offset_delta: i,
                // Timestamps need not rise: a later record may be older.
                timestamp: first_ts + if i % 2 == 0 { i64::from(i) } else { -7 },
                key: (i % 3 != 0).then(|| Bytes::from(format!("key-{base}-{i}"))),
                value: (i % 4 != 1).then(|| Bytes::from(vec![b'v'; 200 + i as usize])),
                headers: vec![("h".into(), Some(Bytes::from(format!("{i}"))))],
            })
            .collect();
        let mut bytes = BytesMut::from(
            &encode_batch(
                &BatchMeta {
                    base_offset: base,
                    partition_leader_epoch: 3,
                    compression,
                    log_append_time: false,
                    producer_id: 77,
                    producer_epoch: 1,
                    base_sequence: 5,
                    transactional: false,
                },
                &records,
            )
            .unwrap()[..],
        );
        // A source batch carries its log offset.
        bytes[..8].copy_from_slice(&base.to_be_bytes());
        RecordBatch::parse(bytes.freeze()).unwrap()
    }

    fn records(batches: &[RecordBatch]) -> Vec<RawRecord> {
        batches
            .iter()
            .flat_map(|b| decode_records(b, 1 << 20).unwrap())
            .collect()
    }

    #[test]
    fn merged_records_keep_offsets_timestamps_and_bytes() {
        for compression in Compression::ALL {
            let parts = [
                batch(100, 1_000, 1, compression),
                batch(101, 900, 3, compression),
                batch(104, 5_000, 2, compression),
            ];
            let merged = merge(&parts, 1 << 20).unwrap();
            merged.verify_crc().unwrap();
            assert_eq!(merged.base_offset(), 100, "{compression:?}");
            assert_eq!(merged.record_count(), 6);
            assert_eq!(merged.last_offset(), 105);
            assert!(!merged.has_offset_holes());
            assert_eq!(merged.compression().unwrap(), compression);
            assert_eq!(merged.base_timestamp(), 1_000);
            assert_eq!(
                merged.max_timestamp(),
                parts.iter().map(|b| b.max_timestamp()).max().unwrap()
            );
            assert_eq!((merged.producer_id(), merged.producer_epoch()), (77, 1));
            assert_eq!(records(&[merged]), records(&parts), "{compression:?}");
        }
    }

    #[test]
    fn only_consecutive_batches_of_one_codec_follow() {
        let a = batch(0, 10, 2, Compression::None);
        assert!(can_follow(&a, &batch(2, 10, 1, Compression::None)));
        assert!(!can_follow(&a, &batch(3, 10, 1, Compression::None)));
        assert!(!can_follow(&a, &batch(2, 10, 1, Compression::Lz4)));
        assert!(merge(&[a.clone(), batch(3, 10, 1, Compression::None)], 1 << 20).is_err());
        assert!(merge(&[], 1 << 20).is_err());
    }

    #[test]
    fn hostile_records_are_errors() {
        let a = batch(0, 10, 2, Compression::None);
        let b = batch(2, 10, 2, Compression::None);
        let raw = b.as_bytes().to_vec();
        // Every truncation of the second batch's records, and every byte
        // of them flipped: an error or a batch, never a panic.
        for cut in HEADER_LEN..raw.len() {
            let mut bytes = raw[..cut].to_vec();
            let len = (cut - 12) as i32;
            bytes[8..12].copy_from_slice(&len.to_be_bytes());
            if let Ok(short) = RecordBatch::parse(Bytes::from(bytes)) {
                assert!(merge(&[a.clone(), short], 1 << 20).is_err());
            }
        }
        for i in HEADER_LEN..raw.len() {
            let mut bytes = raw.clone();
            bytes[i] ^= 0xff;
            let bad = RecordBatch::parse(Bytes::from(bytes)).unwrap();
            let _ = merge(&[a.clone(), bad], 1 << 20);
        }
    }

    #[test]
    fn decompression_is_capped_over_all_batches() {
        let parts = [
            batch(0, 10, 3, Compression::Lz4),
            batch(3, 10, 3, Compression::Lz4),
        ];
        let each = Compression::Lz4
            .decompress(&parts[0].records(), 1 << 20)
            .unwrap()
            .len();
        assert!(merge(&parts, 2 * each - 1).is_err());
        assert!(merge(&parts, 2 * each).is_ok());
        assert!(merge(&parts, 1 << 20).is_ok());
    }
}
