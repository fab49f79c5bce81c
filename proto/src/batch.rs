//! `RecordBatch` v2 as a view over received bytes, and the in-place rewrite a
//! forwarder needs: producer fields and attribute bits change, the records
//! do not move.
//!
//! Layout (offsets in bytes): baseOffset 0, batchLength 8, partitionLeaderEpoch
//! 12, magic 16, crc 17, attributes 21, lastOffsetDelta 23, baseTimestamp 27,
//! maxTimestamp 35, producerId 43, producerEpoch 51, baseSequence 53,
//! recordCount 57, records 61. The CRC-32C covers byte 21 to the end.
//!
//! A rewrite changes only bytes 0..61, so the new CRC is derived from the old
//! one and the two 40-byte header windows (CRC-32C is linear): the record
//! bytes are never read or copied on the fast path, and damage inside them
//! survives the rewrite for the target broker to detect.

use bytes::{BufMut, Bytes, BytesMut};

use crate::compression::Compression;
use crate::error::ProtoError;
use crate::external::ExternalBody;

/// Length of the v2 batch header, up to and including recordCount.
pub const HEADER_LEN: usize = 61;
/// Bytes before the batchLength field ends; `batchLength` counts what follows.
pub const LOG_OVERHEAD: usize = 12;
const CRC_START: usize = 21;

pub const ATTR_COMPRESSION_MASK: i16 = 0x07;
pub const ATTR_LOG_APPEND_TIME: i16 = 0x08;
pub const ATTR_TRANSACTIONAL: i16 = 0x10;
pub const ATTR_CONTROL: i16 = 0x20;
pub const ATTR_DELETE_HORIZON: i16 = 0x40;

/// A complete magic-v2 record batch. Its bytes are in memory, or (on the
/// splice path) its header is and its records are held outside user space.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordBatch {
    bytes: Bytes,
    external: Option<ExternalBody>,
}

/// The producer identity and flags a batch is rewritten to before producing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchRewrite {
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    /// Keep the transactional bit (only when the mirror runs its own transaction).
    pub transactional: bool,
}

impl BatchRewrite {
    /// Fields for a producer without idempotence.
    pub const NON_IDEMPOTENT: BatchRewrite = BatchRewrite {
        producer_id: -1,
        producer_epoch: -1,
        base_sequence: -1,
        transactional: false,
    };
}

/// A batch ready to produce: a fresh header and the untouched record bytes.
/// The header is held inline (no allocation per batch) and copied into the
/// produce request's own bytes; `body` is a slice of the fetch buffer on the
/// fast path, written as it is.
#[derive(Debug, Clone)]
pub struct OutBatch {
    pub header: [u8; HEADER_LEN],
    pub body: Bytes,
    /// On the splice path, the records after `body` (which is then empty).
    pub external: Option<ExternalBody>,
}

impl OutBatch {
    pub fn len(&self) -> usize {
        HEADER_LEN + self.body.len() + self.external.as_ref().map_or(0, ExternalBody::len)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The whole batch as one buffer (tests and slow paths only: this copies;
    /// external records are not included).
    pub fn to_contiguous(&self) -> Bytes {
        let mut b = BytesMut::with_capacity(self.len());
        b.put_slice(&self.header);
        b.put_slice(&self.body);
        b.freeze()
    }
}

fn be_i16(b: &[u8], at: usize) -> i16 {
    i16::from_be_bytes([b[at], b[at + 1]])
}
fn be_i32(b: &[u8], at: usize) -> i32 {
    i32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}
fn be_i64(b: &[u8], at: usize) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    i64::from_be_bytes(a)
}

impl RecordBatch {
    /// Wraps exactly one v2 batch. The length must match `batchLength`.
    pub fn parse(bytes: Bytes) -> Result<RecordBatch, ProtoError> {
        if bytes.len() < HEADER_LEN {
            return Err(ProtoError::Truncated {
                what: "record batch header",
                needed: HEADER_LEN,
                available: bytes.len(),
            });
        }
        let base_offset = be_i64(&bytes, 0);
        let magic = bytes[16] as i8;
        if magic != 2 {
            return Err(ProtoError::Unsupported {
                base_offset,
                detail: format!(
                    "magic v{magic} message set (only v2 record batches are forwarded)"
                ),
            });
        }
        let batch_length = be_i32(&bytes, 8);
        if batch_length < (HEADER_LEN - LOG_OVERHEAD) as i32
            || batch_length as usize + LOG_OVERHEAD != bytes.len()
        {
            return Err(ProtoError::malformed(
                "record batch",
                format!(
                    "batchLength {batch_length} at offset {base_offset} does not fit its {} bytes",
                    bytes.len()
                ),
            ));
        }
        let batch = RecordBatch {
            bytes,
            external: None,
        };
        batch.check_offsets()?;
        Ok(batch)
    }

    /// A batch whose 61-byte `header` is in memory and whose records are
    /// `body`, held outside user space. The header's `batchLength` must
    /// count exactly those records.
    pub fn with_external_body(
        header: Bytes,
        body: ExternalBody,
    ) -> Result<RecordBatch, ProtoError> {
        if header.len() != HEADER_LEN {
            return Err(ProtoError::Truncated {
                what: "record batch header",
                needed: HEADER_LEN,
                available: header.len(),
            });
        }
        let base_offset = be_i64(&header, 0);
        let magic = header[16] as i8;
        let batch_length = be_i32(&header, 8);
        if magic != 2 || batch_length as i64 != (HEADER_LEN - LOG_OVERHEAD + body.len()) as i64 {
            return Err(ProtoError::malformed(
                "record batch",
                format!(
                    "magic v{magic} batch at offset {base_offset} with batchLength {batch_length} does not fit its {} record bytes",
                    body.len()
                ),
            ));
        }
        let batch = RecordBatch {
            bytes: header,
            external: Some(body),
        };
        batch.check_offsets()?;
        Ok(batch)
    }

    /// Whether the records are held outside user space (then only the
    /// header's fields can be read, and the batch goes out as it is).
    pub fn is_external(&self) -> bool {
        self.external.is_some()
    }

    fn check_offsets(&self) -> Result<(), ProtoError> {
        let batch = self;
        let base_offset = batch.base_offset();
        let last = i64::from(batch.last_offset_delta());
        if base_offset < 0
            || base_offset
                .checked_add(last)
                .and_then(|o| o.checked_add(1))
                .is_none()
        {
            return Err(ProtoError::malformed(
                "record batch",
                format!("base offset {base_offset} with lastOffsetDelta {last} is out of range"),
            ));
        }
        if batch.record_count() < 0 || batch.last_offset_delta() < 0 {
            return Err(ProtoError::malformed(
                "record batch",
                format!(
                    "negative recordCount {} or lastOffsetDelta {} at offset {base_offset}",
                    batch.record_count(),
                    batch.last_offset_delta()
                ),
            ));
        }
        Ok(())
    }

    /// The bytes in memory: the whole batch, or only the header of one
    /// with external records.
    pub fn as_bytes(&self) -> &Bytes {
        &self.bytes
    }
    pub fn len(&self) -> usize {
        self.bytes.len() + self.external.as_ref().map_or(0, ExternalBody::len)
    }
    pub fn is_empty(&self) -> bool {
        self.record_count() == 0
    }
    pub fn base_offset(&self) -> i64 {
        be_i64(&self.bytes, 0)
    }
    pub fn partition_leader_epoch(&self) -> i32 {
        be_i32(&self.bytes, 12)
    }
    pub fn magic(&self) -> i8 {
        self.bytes[16] as i8
    }
    pub fn crc(&self) -> u32 {
        be_i32(&self.bytes, 17) as u32
    }
    pub fn attributes(&self) -> i16 {
        be_i16(&self.bytes, 21)
    }
    pub fn compression(&self) -> Result<Compression, ProtoError> {
        Compression::from_attributes(self.attributes()).ok_or_else(|| ProtoError::Unsupported {
            base_offset: self.base_offset(),
            detail: format!(
                "unknown compression codec {}",
                self.attributes() & ATTR_COMPRESSION_MASK
            ),
        })
    }
    pub fn is_log_append_time(&self) -> bool {
        self.attributes() & ATTR_LOG_APPEND_TIME != 0
    }
    pub fn is_transactional(&self) -> bool {
        self.attributes() & ATTR_TRANSACTIONAL != 0
    }
    pub fn is_control(&self) -> bool {
        self.attributes() & ATTR_CONTROL != 0
    }
    pub fn has_delete_horizon(&self) -> bool {
        self.attributes() & ATTR_DELETE_HORIZON != 0
    }
    pub fn last_offset_delta(&self) -> i32 {
        be_i32(&self.bytes, 23)
    }
    /// The offset after this batch: where the next fetch resumes.
    /// The offset after the batch; `parse` checked that it fits.
    pub fn next_offset(&self) -> i64 {
        self.base_offset() + self.last_offset_delta() as i64 + 1
    }
    pub fn last_offset(&self) -> i64 {
        self.base_offset() + self.last_offset_delta() as i64
    }
    pub fn base_timestamp(&self) -> i64 {
        be_i64(&self.bytes, 27)
    }
    pub fn max_timestamp(&self) -> i64 {
        be_i64(&self.bytes, 35)
    }
    pub fn producer_id(&self) -> i64 {
        be_i64(&self.bytes, 43)
    }
    pub fn producer_epoch(&self) -> i16 {
        be_i16(&self.bytes, 51)
    }
    pub fn base_sequence(&self) -> i32 {
        be_i32(&self.bytes, 53)
    }
    pub fn record_count(&self) -> i32 {
        be_i32(&self.bytes, 57)
    }
    /// The record bytes after the header (compressed when the batch is).
    /// Empty for a batch with external records: whatever reads records
    /// (decoding, merging, re-encoding) must not be given one.
    pub fn records(&self) -> Bytes {
        self.bytes.slice(HEADER_LEN..)
    }

    /// Compaction leaves batches whose offsets skip; brokers reject those on
    /// produce, so they take the re-encoding slow path.
    pub fn has_offset_holes(&self) -> bool {
        self.record_count() as i64 != self.last_offset_delta() as i64 + 1
    }

    /// Checks the stored CRC-32C against the bytes (reads the whole batch).
    pub fn verify_crc(&self) -> Result<(), ProtoError> {
        if self.is_external() {
            return Err(ProtoError::Unsupported {
                base_offset: self.base_offset(),
                detail:
                    "the records were spliced, not read: their CRC is left to the target broker"
                        .into(),
            });
        }
        let computed = crc32c::crc32c(&self.bytes[CRC_START..]);
        if computed != self.crc() {
            return Err(ProtoError::CorruptBatch {
                base_offset: self.base_offset(),
                stored: self.crc(),
                computed,
            });
        }
        Ok(())
    }

    /// The control record's type for a control batch: 0 = ABORT, 1 = COMMIT.
    /// Control batches are never compressed and hold one record whose key is
    /// (version INT16, type INT16).
    pub fn control_type(&self) -> Option<i16> {
        if !self.is_control() {
            return None;
        }
        let mut r = crate::wire::Reader::new(self.records());
        r.varint("control record length").ok()?;
        r.i8("control record attributes").ok()?;
        r.varlong("control record timestamp").ok()?;
        r.varint("control record offset").ok()?;
        let key_len = r.varint("control record key").ok()?;
        if key_len < 4 {
            return None;
        }
        r.i16("control key version").ok()?;
        r.i16("control key type").ok()
    }

    /// The batch with baseOffset 0, partitionLeaderEpoch -1, the mirror's
    /// producer fields, and the transactional and delete-horizon bits
    /// normalised; CRC updated without reading the records.
    pub fn rewrite(&self, rw: &BatchRewrite) -> OutBatch {
        let old = &self.bytes[..HEADER_LEN];
        let mut h = [0u8; HEADER_LEN];
        h.copy_from_slice(old);
        h[0..8].copy_from_slice(&0i64.to_be_bytes());
        h[12..16].copy_from_slice(&(-1i32).to_be_bytes());
        let mut attrs = self.attributes() & !(ATTR_DELETE_HORIZON | ATTR_TRANSACTIONAL);
        if rw.transactional {
            attrs |= ATTR_TRANSACTIONAL;
        }
        h[21..23].copy_from_slice(&attrs.to_be_bytes());
        h[43..51].copy_from_slice(&rw.producer_id.to_be_bytes());
        h[51..53].copy_from_slice(&rw.producer_epoch.to_be_bytes());
        h[53..57].copy_from_slice(&rw.base_sequence.to_be_bytes());
        let tail_len = self.len() - HEADER_LEN;
        let crc = updated_crc(self.crc(), &old[CRC_START..], &h[CRC_START..], tail_len);
        h[17..21].copy_from_slice(&crc.to_be_bytes());
        OutBatch {
            header: h,
            body: self.records(),
            external: self.external.clone(),
        }
    }
}

/// Whether a batch can go to the target as it came, judged from its
/// 61-byte header alone (for a reader that has not read the records): a v2
/// data batch, not a control batch, with CreateTime stamps, a known codec,
/// at least one record and consecutive offsets from a valid base offset.
/// The other calls the mirror makes (the fetch position, the producer's
/// codec) need more than the header.
pub fn forwardable_as_is(header: &[u8; HEADER_LEN]) -> bool {
    let base_offset = be_i64(header, 0);
    let attributes = be_i16(header, 21);
    let last_offset_delta = be_i32(header, 23);
    let record_count = be_i32(header, 57);
    header[16] as i8 == 2
        && base_offset >= 0
        && attributes & (ATTR_CONTROL | ATTR_LOG_APPEND_TIME) == 0
        && attributes & ATTR_COMPRESSION_MASK <= 4
        && record_count > 0
        && last_offset_delta >= 0
        && i64::from(record_count) == i64::from(last_offset_delta) + 1
        && base_offset.checked_add(i64::from(record_count)).is_some()
}

/// CRC-32C of `new_head || tail` from the CRC of `old_head || tail`, where
/// both heads have the same length and the tail is `tail_len` bytes: the
/// tail's contribution cancels out.
///
/// CRCs are linear over GF(2): for equal lengths the two whole-message CRCs
/// differ by the heads' CRC difference carried through `tail_len` zero
/// bytes, which is a multiplication by x^(8·tail_len) mod P. That power is
/// assembled from a table of x^(8·2^k), so the cost is a few dozen word
/// operations whatever the batch size.
pub fn updated_crc(old_crc: u32, old_head: &[u8], new_head: &[u8], tail_len: usize) -> u32 {
    debug_assert_eq!(old_head.len(), new_head.len());
    let delta = crc32c::crc32c(old_head) ^ crc32c::crc32c(new_head);
    old_crc ^ gf2_mul(x_pow_8n(tail_len as u64), delta)
}

/// The CRC-32C polynomial, bit-reflected (the x^0 term is the top bit).
const CRC32C_POLY: u32 = 0x82F6_3B78;

/// a·b mod P over GF(2), both in the reflected representation.
const fn gf2_mul(a: u32, mut b: u32) -> u32 {
    let mut product = 0u32;
    let mut bit = 1u32 << 31;
    while bit != 0 {
        if a & bit != 0 {
            product ^= b;
        }
        b = if b & 1 != 0 {
            (b >> 1) ^ CRC32C_POLY
        } else {
            b >> 1
        };
        bit >>= 1;
    }
    product
}

/// X_POW_8_2K[k] = x^(8·2^k) mod P.
const X_POW_8_2K: [u32; 64] = {
    let mut table = [0u32; 64];
    table[0] = 1 << 23; // x^8
    let mut k = 1;
    while k < 64 {
        table[k] = gf2_mul(table[k - 1], table[k - 1]);
        k += 1;
    }
    table
};

/// x^(8n) mod P.
fn x_pow_8n(mut n: u64) -> u32 {
    let mut result = 1u32 << 31; // x^0
    let mut k = 0;
    while n != 0 {
        if n & 1 != 0 {
            result = gf2_mul(X_POW_8_2K[k], result);
        }
        n >>= 1;
        k += 1;
    }
    result
}

/// One entry of a fetched record set.
#[derive(Debug, Clone)]
pub enum RecordSetEntry {
    /// A complete v2 batch.
    Batch(RecordBatch),
    /// A magic v0/v1 entry (old segment data), which kmirror does not forward.
    Legacy { base_offset: i64, magic: i8 },
}

/// Splits a partition's fetched record bytes into batches, zero-copy.
/// A trailing partial batch (the broker cut at the size limit) ends the
/// iteration; [`RecordSetIter::truncated_tail`] tells whether one was seen.
pub struct RecordSetIter {
    bytes: Bytes,
    pos: usize,
    truncated: bool,
    failed: bool,
}

pub fn split_record_set(bytes: Bytes) -> RecordSetIter {
    RecordSetIter {
        bytes,
        pos: 0,
        truncated: false,
        failed: false,
    }
}

impl RecordSetIter {
    pub fn truncated_tail(&self) -> bool {
        self.truncated
    }

    /// Where the next entry starts in the record set's bytes.
    pub fn position(&self) -> usize {
        self.pos
    }
}

impl Iterator for RecordSetIter {
    type Item = Result<RecordSetEntry, ProtoError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let rest = self.bytes.len() - self.pos;
        if rest == 0 {
            return None;
        }
        if rest < 17 {
            self.truncated = true;
            return None;
        }
        let b = &self.bytes[self.pos..];
        let base_offset = be_i64(b, 0);
        let length = be_i32(b, 8);
        let magic = b[16] as i8;
        if length < 0 {
            self.failed = true;
            return Some(Err(ProtoError::malformed(
                "record set",
                format!("negative batch length {length} at offset {base_offset}"),
            )));
        }
        let total = LOG_OVERHEAD + length as usize;
        if total > rest {
            self.truncated = true;
            return None;
        }
        let entry = self.bytes.slice(self.pos..self.pos + total);
        self.pos += total;
        if magic < 2 {
            return Some(Ok(RecordSetEntry::Legacy { base_offset, magic }));
        }
        match RecordBatch::parse(entry) {
            Ok(batch) => Some(Ok(RecordSetEntry::Batch(batch))),
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::{encode_batch, NewRecord};
    use proptest::prelude::*;

    fn head(records: i32, last_delta: i32, attributes: i16) -> [u8; HEADER_LEN] {
        let mut h = [0u8; HEADER_LEN];
        h[8..12].copy_from_slice(&(100_000i32).to_be_bytes());
        h[16] = 2;
        h[21..23].copy_from_slice(&attributes.to_be_bytes());
        h[23..27].copy_from_slice(&last_delta.to_be_bytes());
        h[57..61].copy_from_slice(&records.to_be_bytes());
        h
    }

    #[test]
    fn forwardable_as_is_from_the_header_alone() {
        assert!(forwardable_as_is(&head(10, 9, 0)));
        assert!(forwardable_as_is(&head(10, 9, 4)), "zstd as it is");
        assert!(!forwardable_as_is(&head(10, 12, 0)), "offset holes");
        assert!(!forwardable_as_is(&head(1, 0, ATTR_CONTROL)));
        assert!(!forwardable_as_is(&head(10, 9, ATTR_LOG_APPEND_TIME)));
        assert!(!forwardable_as_is(&head(0, -1, 0)), "empty");
        assert!(!forwardable_as_is(&head(10, 9, 5)), "unknown codec");
        let mut old = head(10, 9, 0);
        old[16] = 1;
        assert!(!forwardable_as_is(&old), "magic v1");
        let mut negative = head(10, 9, 0);
        negative[0] = 0x80;
        assert!(!forwardable_as_is(&negative), "negative base offset");
        let mut last = head(10, 9, 0);
        last[0..8].copy_from_slice(&(i64::MAX - 5).to_be_bytes());
        assert!(!forwardable_as_is(&last), "offsets past i64::MAX");
        // A real batch's header agrees with the batch's own accessors.
        let batch = sample_batch(&[b"a", b"b"], Compression::None);
        let header: [u8; HEADER_LEN] = batch.as_bytes()[..HEADER_LEN].try_into().unwrap();
        assert!(forwardable_as_is(&header));
    }

    fn sample_batch(values: &[&[u8]], compression: Compression) -> RecordBatch {
        let records: Vec<NewRecord> = values
            .iter()
            .enumerate()
            .map(|(i, v)| NewRecord {
                offset_delta: i as i32,
                timestamp: 1_700_000_000_000 + i as i64,
                key: Some(Bytes::from(format!("k{i}"))),
                value: Some(Bytes::copy_from_slice(v)),
                headers: vec![],
            })
            .collect();
        let bytes = encode_batch(
            &crate::records::BatchMeta {
                base_offset: 100,
                partition_leader_epoch: 7,
                compression,
                log_append_time: false,
                producer_id: 4242,
                producer_epoch: 3,
                base_sequence: 17,
                transactional: true,
            },
            &records,
        )
        .unwrap();
        RecordBatch::parse(bytes).unwrap()
    }

    #[test]
    fn rewrite_sets_producer_fields_and_keeps_crc_valid() {
        for c in Compression::ALL {
            let b = sample_batch(&[b"hello", b"world", b""], c);
            b.verify_crc().unwrap();
            assert!(b.is_transactional());
            let out = b.rewrite(&BatchRewrite {
                producer_id: 9,
                producer_epoch: 0,
                base_sequence: 5,
                transactional: false,
            });
            let again = RecordBatch::parse(out.to_contiguous()).unwrap();
            again.verify_crc().unwrap();
            assert_eq!(again.base_offset(), 0);
            assert_eq!(again.partition_leader_epoch(), -1);
            assert_eq!(again.producer_id(), 9);
            assert_eq!(again.producer_epoch(), 0);
            assert_eq!(again.base_sequence(), 5);
            assert!(!again.is_transactional());
            assert_eq!(again.compression().unwrap(), c);
            assert_eq!(again.records(), b.records());
        }
    }

    #[test]
    fn corruption_in_records_survives_rewrite() {
        let b = sample_batch(&[b"payload-one", b"payload-two"], Compression::None);
        let mut raw = b.as_bytes().to_vec();
        let n = raw.len();
        raw[n - 3] ^= 0xff;
        let damaged = RecordBatch::parse(Bytes::from(raw)).unwrap();
        assert!(damaged.verify_crc().is_err());
        let out = damaged.rewrite(&BatchRewrite::NON_IDEMPOTENT);
        assert!(RecordBatch::parse(out.to_contiguous())
            .unwrap()
            .verify_crc()
            .is_err());
    }

    #[test]
    fn split_stops_at_truncated_tail() {
        let a = sample_batch(&[b"x"], Compression::None);
        let b = sample_batch(&[b"y", b"z"], Compression::None);
        let mut set = BytesMut::new();
        set.put_slice(a.as_bytes());
        set.put_slice(&b.as_bytes()[..b.len() - 5]);
        let mut it = split_record_set(set.freeze());
        assert!(matches!(it.next(), Some(Ok(RecordSetEntry::Batch(_)))));
        assert!(it.next().is_none());
        assert!(it.truncated_tail());
    }

    #[test]
    fn legacy_entries_are_reported() {
        let mut v = vec![0u8; 40];
        v[8..12].copy_from_slice(&28i32.to_be_bytes());
        v[16] = 1;
        let mut it = split_record_set(Bytes::from(v));
        assert!(matches!(
            it.next(),
            Some(Ok(RecordSetEntry::Legacy { magic: 1, .. }))
        ));
    }

    #[test]
    fn crc_update_holds_for_megabyte_tails() {
        let head = [7u8; 40];
        let new_head = [9u8; 40];
        for len in [0usize, 1, 4096, 1 << 20, (1 << 20) + 13, 3 << 20] {
            let tail: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
            let old: Vec<u8> = head.iter().chain(&tail).copied().collect();
            let new: Vec<u8> = new_head.iter().chain(&tail).copied().collect();
            assert_eq!(
                updated_crc(crc32c::crc32c(&old), &head, &new_head, len),
                crc32c::crc32c(&new),
                "tail of {len} bytes"
            );
        }
    }

    proptest! {
        #[test]
        fn crc_update_matches_full_recompute(
            head in proptest::collection::vec(any::<u8>(), 40),
            new_head in proptest::collection::vec(any::<u8>(), 40),
            tail in proptest::collection::vec(any::<u8>(), 0..3000),
        ) {
            let mut old = head.clone();
            old.extend_from_slice(&tail);
            let mut new = new_head.clone();
            new.extend_from_slice(&tail);
            let got = updated_crc(crc32c::crc32c(&old), &head, &new_head, tail.len());
            prop_assert_eq!(got, crc32c::crc32c(&new));
        }

        #[test]
        fn split_never_panics(data in proptest::collection::vec(any::<u8>(), 0..300)) {
            for e in split_record_set(Bytes::from(data)) {
                if let Ok(RecordSetEntry::Batch(b)) = e {
                    let _ = b.verify_crc();
                    let _ = b.control_type();
                    let _ = crate::records::decode_records(&b, 1 << 20);
                }
            }
        }
    }
}
