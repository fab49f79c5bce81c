//! Records inside a v2 batch: the slow path that decodes and re-encodes a
//! batch when it cannot be forwarded as it is (offset holes left by
//! compaction, records below a resume offset, LogAppendTime timestamps).
//! Each record's key, value and headers are carried over as one untouched
//! byte range.

use bytes::{BufMut, Bytes, BytesMut};

use crate::batch::{
    RecordBatch, ATTR_LOG_APPEND_TIME, ATTR_TRANSACTIONAL, HEADER_LEN, LOG_OVERHEAD,
};
use crate::compression::Compression;
use crate::error::ProtoError;
use crate::wire::{put_varint, put_varlong, varint_len, varlong_len, Reader};

/// A record as read from a batch: its absolute offset and timestamp, and the
/// key/value/headers section as raw bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawRecord {
    pub offset: i64,
    pub timestamp: i64,
    pub attributes: i8,
    /// keyLength, key, valueLength, value, headerCount, headers — as stored.
    pub body: Bytes,
}

/// A record to encode (tests and tools build batches from these).
#[derive(Debug, Clone)]
pub struct NewRecord {
    pub offset_delta: i32,
    pub timestamp: i64,
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    pub headers: Vec<(String, Option<Bytes>)>,
}

/// Header fields of a batch to encode.
#[derive(Debug, Clone)]
pub struct BatchMeta {
    pub base_offset: i64,
    pub partition_leader_epoch: i32,
    pub compression: Compression,
    pub log_append_time: bool,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub transactional: bool,
}

/// The fewest bytes a record can take: length, attributes, timestamp
/// delta, offset delta, key length, value length, header count.
const MIN_RECORD_BYTES: usize = 7;

/// Decodes every record of a batch (decompressing when needed, to at most
/// `max_decompressed` bytes). Offsets and timestamps are checked: deltas
/// must rise within the batch's own range, and nothing may overflow.
pub fn decode_records(
    batch: &RecordBatch,
    max_decompressed: usize,
) -> Result<Vec<RawRecord>, ProtoError> {
    if batch.is_external() {
        return Err(crate::coalesce::spliced(batch));
    }
    let data = batch
        .compression()?
        .decompress(&batch.records(), max_decompressed)?;
    let count = batch.record_count() as usize;
    let base_offset = batch.base_offset();
    let at = |detail: String| ProtoError::Malformed {
        what: "record batch",
        detail: format!("at offset {base_offset}: {detail}"),
    };
    if count.saturating_mul(MIN_RECORD_BYTES) > data.len() {
        return Err(at(format!(
            "{count} records cannot fit in {} bytes",
            data.len()
        )));
    }
    let mut r = Reader::new(data);
    let mut out = Vec::with_capacity(count.min(1024));
    let mut last_delta: i64 = -1;
    for _ in 0..count {
        let len = r.varint("record length")?;
        if len < 0 {
            return Err(at(format!("negative record length {len}")));
        }
        let mut rec = Reader::new(r.bytes(len as usize, "record")?);
        let attributes = rec.i8("record attributes")?;
        let ts_delta = rec.varlong("record timestamp delta")?;
        let off_delta = i64::from(rec.varint("record offset delta")?);
        if off_delta <= last_delta || off_delta > i64::from(batch.last_offset_delta()) {
            return Err(at(format!(
                "record offset delta {off_delta} after {last_delta} (lastOffsetDelta {})",
                batch.last_offset_delta()
            )));
        }
        last_delta = off_delta;
        let timestamp = batch
            .base_timestamp()
            .checked_add(ts_delta)
            .ok_or_else(|| at(format!("timestamp delta {ts_delta} overflows")))?;
        let rest = rec.remaining();
        let body = rec.bytes(rest, "record body")?;
        out.push(RawRecord {
            // Within [base, base + lastOffsetDelta], which parse checked.
            offset: base_offset + off_delta,
            timestamp,
            attributes,
            body,
        });
    }
    Ok(out)
}

/// A record's key, value and headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordFields {
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    pub headers: Vec<(String, Option<Bytes>)>,
}

/// Splits a [`RawRecord::body`] into its key, value and headers; the byte
/// fields share the body's buffer.
pub fn split_body(body: &Bytes) -> Result<RecordFields, ProtoError> {
    fn field(r: &mut Reader, what: &'static str) -> Result<Option<Bytes>, ProtoError> {
        match r.varint(what)? {
            -1 => Ok(None),
            n if n < 0 => Err(ProtoError::Malformed {
                what,
                detail: format!("length {n}"),
            }),
            n => r.bytes(n as usize, what).map(Some),
        }
    }
    let mut r = Reader::new(body.clone());
    let key = field(&mut r, "record key")?;
    let value = field(&mut r, "record value")?;
    let count = r.varint("record header count")?;
    if count < 0 || count as usize > r.remaining() {
        return Err(ProtoError::Malformed {
            what: "record header count",
            detail: format!("{count} headers in {} bytes", r.remaining()),
        });
    }
    let mut headers = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let name = field(&mut r, "record header name")?.ok_or_else(|| ProtoError::Malformed {
            what: "record header name",
            detail: "null".into(),
        })?;
        let name = String::from_utf8(name.to_vec()).map_err(|_| ProtoError::Malformed {
            what: "record header name",
            detail: "not UTF-8".into(),
        })?;
        headers.push((name, field(&mut r, "record header value")?));
    }
    Ok(RecordFields {
        key,
        value,
        headers,
    })
}

/// What a re-encode keeps and how it stamps the result.
#[derive(Debug, Clone, Copy)]
pub struct Reencode {
    /// Drop records below this source offset.
    pub min_offset: i64,
    /// Give every record this timestamp (the batch's LogAppendTime), as a
    /// consumer of the source saw them.
    pub force_timestamp: Option<i64>,
    /// The most bytes the batch may decompress to.
    pub max_decompressed: usize,
    /// Compress the result with this codec instead of the batch's own.
    pub compression: Option<Compression>,
}

/// A batch rebuilt on the slow path, with the source offsets it covers.
#[derive(Debug, Clone)]
pub struct ReencodedBatch {
    pub batch: RecordBatch,
    pub first_source_offset: i64,
    pub last_source_offset: i64,
    /// Where the records' source offsets run consecutively: (source offset,
    /// index in the rebuilt batch) of the first record and of each record
    /// that follows a hole. The rebuilt batch numbers its records 0, 1, ...,
    /// so these are what map its target offsets back to source offsets.
    pub runs: Vec<(i64, i32)>,
}

/// Rebuilds `batch` with consecutive offset deltas, keeping records at or
/// above `opts.min_offset`, recompressed with the same codec (or
/// `opts.compression`). Producer
/// fields are copied; the caller rewrites them as for any batch.
/// Returns `None` when no record is left.
pub fn reencode(batch: &RecordBatch, opts: Reencode) -> Result<Option<ReencodedBatch>, ProtoError> {
    let records = decode_records(batch, opts.max_decompressed)?;
    let kept: Vec<&RawRecord> = records
        .iter()
        .filter(|r| r.offset >= opts.min_offset)
        .collect();
    if kept.is_empty() {
        return Ok(None);
    }
    rebuild(batch, &kept, opts).map(Some)
}

/// [`reencode`], but one batch per run of consecutive source offsets, so
/// that no rebuilt batch spans a hole (for a target whose offsets must
/// match the source's). In source order; empty when no record is left.
pub fn reencode_runs(
    batch: &RecordBatch,
    opts: Reencode,
) -> Result<Vec<ReencodedBatch>, ProtoError> {
    let records = decode_records(batch, opts.max_decompressed)?;
    let kept: Vec<&RawRecord> = records
        .iter()
        .filter(|r| r.offset >= opts.min_offset)
        .collect();
    kept.chunk_by(|a, b| b.offset == a.offset + 1)
        .map(|run| rebuild(batch, run, opts))
        .collect()
}

/// [`reencode`], the kept records split by `route` (the index of the
/// batch each goes to, e.g. a target partition) into one rebuilt batch per
/// index, each in source order: for a target whose partition count differs
/// from the source's. Ordered by index; empty when no record is left.
pub fn reencode_split(
    batch: &RecordBatch,
    opts: Reencode,
    mut route: impl FnMut(&RawRecord) -> Result<i32, ProtoError>,
) -> Result<Vec<(i32, ReencodedBatch)>, ProtoError> {
    let records = decode_records(batch, opts.max_decompressed)?;
    let mut by_index: std::collections::BTreeMap<i32, Vec<&RawRecord>> = Default::default();
    for r in records.iter().filter(|r| r.offset >= opts.min_offset) {
        by_index.entry(route(r)?).or_default().push(r);
    }
    by_index
        .into_iter()
        .map(|(i, kept)| rebuild(batch, &kept, opts).map(|b| (i, b)))
        .collect()
}

/// Builds the batch of `kept` (at least one record) from `batch`.
fn rebuild(
    batch: &RecordBatch,
    kept: &[&RawRecord],
    opts: Reencode,
) -> Result<ReencodedBatch, ProtoError> {
    let (Some(first), Some(last)) = (kept.first(), kept.last()) else {
        return Err(ProtoError::malformed("record batch", "nothing to rebuild"));
    };
    let base_ts = opts.force_timestamp.unwrap_or(first.timestamp);
    let mut max_ts = i64::MIN;
    let mut body = BytesMut::new();
    for (i, r) in kept.iter().enumerate() {
        let ts = opts.force_timestamp.unwrap_or(r.timestamp);
        max_ts = max_ts.max(ts);
        let ts_delta = ts.checked_sub(base_ts).ok_or_else(|| {
            ProtoError::malformed(
                "record batch",
                format!(
                    "at offset {}: timestamps {base_ts} and {ts} are too far apart",
                    batch.base_offset()
                ),
            )
        })?;
        put_record(&mut body, r.attributes, ts_delta, i as i32, &r.body);
    }
    let compression = match opts.compression {
        Some(c) => c,
        None => batch.compression()?,
    };
    let payload = compression.compress(&body)?;
    let bytes = assemble(
        &BatchMeta {
            base_offset: batch.base_offset(),
            partition_leader_epoch: batch.partition_leader_epoch(),
            compression,
            log_append_time: false,
            producer_id: batch.producer_id(),
            producer_epoch: batch.producer_epoch(),
            base_sequence: batch.base_sequence(),
            transactional: batch.attributes() & ATTR_TRANSACTIONAL != 0,
        },
        kept.len() as i32 - 1,
        base_ts,
        max_ts,
        kept.len() as i32,
        &payload,
    );
    let mut runs = Vec::new();
    let mut previous: Option<i64> = None;
    for (i, r) in kept.iter().enumerate() {
        if previous.is_none_or(|p| r.offset != p + 1) {
            runs.push((r.offset, i as i32));
        }
        previous = Some(r.offset);
    }
    Ok(ReencodedBatch {
        batch: RecordBatch::parse(bytes)?,
        first_source_offset: first.offset,
        last_source_offset: last.offset,
        runs,
    })
}

/// The header every placeholder record carries, so that a read_uncommitted
/// reader can tell one apart.
pub const PLACEHOLDER_HEADER: &str = "kmirror.placeholder";

/// A batch of `count` placeholder records (no key, no value, the
/// [`PLACEHOLDER_HEADER`]), compressed with `compression`. Their timestamp
/// is -1 (none): no time lookup lands on one, and neither segment rolling
/// nor time retention counts them (a timestamp of 0 would make the broker
/// roll a segment after them and delete it at once). Its producer fields
/// are the caller's to set.
pub fn placeholder_batch(count: i32, compression: Compression) -> Result<Bytes, ProtoError> {
    let records: Vec<NewRecord> = (0..count.max(0))
        .map(|i| NewRecord {
            offset_delta: i,
            timestamp: -1,
            key: None,
            value: None,
            headers: vec![(PLACEHOLDER_HEADER.to_string(), Some(Bytes::new()))],
        })
        .collect();
    encode_batch(
        &BatchMeta {
            base_offset: 0,
            partition_leader_epoch: -1,
            compression,
            log_append_time: false,
            producer_id: -1,
            producer_epoch: -1,
            base_sequence: -1,
            transactional: false,
        },
        &records,
    )
}

/// Encodes records into a new batch (used by tests, benchmarks and fake brokers).
pub fn encode_batch(meta: &BatchMeta, records: &[NewRecord]) -> Result<Bytes, ProtoError> {
    let base_ts = records.first().map(|r| r.timestamp).unwrap_or(-1);
    let max_ts = records.iter().map(|r| r.timestamp).max().unwrap_or(-1);
    let last_delta = records.last().map(|r| r.offset_delta).unwrap_or(0);
    let mut body = BytesMut::new();
    for r in records {
        let mut inner = BytesMut::new();
        inner.put_i8(0);
        put_varlong(&mut inner, r.timestamp - base_ts);
        put_varint(&mut inner, r.offset_delta);
        put_opt_bytes(&mut inner, r.key.as_deref());
        put_opt_bytes(&mut inner, r.value.as_deref());
        put_varint(&mut inner, r.headers.len() as i32);
        for (k, v) in &r.headers {
            put_varint(&mut inner, k.len() as i32);
            inner.put_slice(k.as_bytes());
            put_opt_bytes(&mut inner, v.as_deref());
        }
        put_varint(&mut body, inner.len() as i32);
        body.put_slice(&inner);
    }
    let payload = meta.compression.compress(&body)?;
    Ok(assemble(
        meta,
        last_delta,
        base_ts,
        max_ts,
        records.len() as i32,
        &payload,
    ))
}

fn put_opt_bytes(buf: &mut BytesMut, b: Option<&[u8]>) {
    match b {
        None => put_varint(buf, -1),
        Some(b) => {
            put_varint(buf, b.len() as i32);
            buf.put_slice(b);
        }
    }
}

fn assemble(
    meta: &BatchMeta,
    last_offset_delta: i32,
    base_ts: i64,
    max_ts: i64,
    count: i32,
    payload: &[u8],
) -> Bytes {
    let mut b = BytesMut::with_capacity(HEADER_LEN + payload.len());
    b.resize(HEADER_LEN, 0);
    b.put_slice(payload);
    finish_batch(&mut b, meta, last_offset_delta, base_ts, max_ts, count);
    b.freeze()
}

/// Writes the v2 header into the first [`HEADER_LEN`] bytes of `b`, whose
/// records follow them, and the CRC over both.
pub(crate) fn finish_batch(
    b: &mut [u8],
    meta: &BatchMeta,
    last_offset_delta: i32,
    base_ts: i64,
    max_ts: i64,
    count: i32,
) {
    let mut attrs = meta.compression as i16;
    if meta.log_append_time {
        attrs |= ATTR_LOG_APPEND_TIME;
    }
    if meta.transactional {
        attrs |= ATTR_TRANSACTIONAL;
    }
    let batch_length = (b.len() - LOG_OVERHEAD) as i32;
    let mut h = &mut b[..HEADER_LEN];
    h.put_i64(meta.base_offset);
    h.put_i32(batch_length);
    h.put_i32(meta.partition_leader_epoch);
    h.put_i8(2);
    h.put_u32(0);
    h.put_i16(attrs);
    h.put_i32(last_offset_delta);
    h.put_i64(base_ts);
    h.put_i64(max_ts);
    h.put_i64(meta.producer_id);
    h.put_i16(meta.producer_epoch);
    h.put_i32(meta.base_sequence);
    h.put_i32(count);
    let crc = crc32c::crc32c(&b[21..]);
    b[17..21].copy_from_slice(&crc.to_be_bytes());
}

/// Appends one record: its length, `attributes`, the deltas, and `rest`
/// (keyLength, key, valueLength, value, headerCount, headers as stored).
pub(crate) fn put_record(
    buf: &mut BytesMut,
    attributes: i8,
    timestamp_delta: i64,
    offset_delta: i32,
    rest: &[u8],
) {
    let inner = 1 + varlong_len(timestamp_delta) + varint_len(offset_delta) + rest.len();
    put_varint(buf, inner as i32);
    buf.put_i8(attributes);
    put_varlong(buf, timestamp_delta);
    put_varint(buf, offset_delta);
    buf.put_slice(rest);
}

/// Size a record body would take as a varint-length-prefixed entry.
pub fn framed_len(inner_len: usize) -> usize {
    varint_len(inner_len as i32) + inner_len
}

#[cfg(test)]
mod tests {
    #[test]
    fn bodies_split_into_key_value_and_headers() {
        let rec = NewRecord {
            offset_delta: 0,
            timestamp: 5,
            key: Some(Bytes::from_static(b"k")),
            value: None,
            headers: vec![("h".into(), Some(Bytes::from_static(b"v")))],
        };
        let meta = BatchMeta {
            base_offset: 0,
            partition_leader_epoch: 0,
            compression: Compression::None,
            log_append_time: false,
            producer_id: -1,
            producer_epoch: -1,
            base_sequence: -1,
            transactional: false,
        };
        let batch =
            RecordBatch::parse(encode_batch(&meta, std::slice::from_ref(&rec)).unwrap()).unwrap();
        let raw = decode_records(&batch, 1 << 20).unwrap();
        let f = split_body(&raw[0].body).unwrap();
        assert_eq!(
            (f.key, f.value, f.headers),
            (rec.key, rec.value, rec.headers)
        );
        assert!(split_body(&Bytes::from_static(&[0x03])).is_err());
    }

    use super::*;
    use crate::compression::DEFAULT_MAX_DECOMPRESSED;

    fn meta(c: Compression) -> BatchMeta {
        BatchMeta {
            base_offset: 1000,
            partition_leader_epoch: 0,
            compression: c,
            log_append_time: false,
            producer_id: -1,
            producer_epoch: -1,
            base_sequence: -1,
            transactional: false,
        }
    }

    fn rec(delta: i32, v: &str) -> NewRecord {
        NewRecord {
            offset_delta: delta,
            timestamp: 5000 + delta as i64,
            key: None,
            value: Some(Bytes::from(v.to_string())),
            headers: vec![("h".into(), None)],
        }
    }

    #[test]
    fn compacted_holes_are_closed() {
        for c in Compression::ALL {
            let bytes = encode_batch(&meta(c), &[rec(0, "a"), rec(3, "b"), rec(7, "c")]).unwrap();
            let b = RecordBatch::parse(bytes).unwrap();
            assert!(b.has_offset_holes());
            let out = reencode(
                &b,
                Reencode {
                    min_offset: 0,
                    force_timestamp: None,
                    max_decompressed: DEFAULT_MAX_DECOMPRESSED,
                    compression: None,
                },
            )
            .unwrap()
            .unwrap();
            assert!(!out.batch.has_offset_holes());
            out.batch.verify_crc().unwrap();
            assert_eq!(out.first_source_offset, 1000);
            assert_eq!(out.last_source_offset, 1007);
            let old = decode_records(&b, DEFAULT_MAX_DECOMPRESSED).unwrap();
            let new = decode_records(&out.batch, DEFAULT_MAX_DECOMPRESSED).unwrap();
            assert_eq!(new.len(), 3);
            for (i, (o, n)) in old.iter().zip(&new).enumerate() {
                assert_eq!(o.body, n.body);
                assert_eq!(o.timestamp, n.timestamp);
                assert_eq!(n.offset, 1000 + i as i64);
            }
        }
    }

    #[test]
    fn recompressed_with_another_codec_keeps_every_record() {
        for from in Compression::ALL {
            for to in Compression::ALL {
                let bytes = encode_batch(&meta(from), &[rec(0, "a"), rec(1, "b")]).unwrap();
                let b = RecordBatch::parse(bytes).unwrap();
                let opts = Reencode {
                    min_offset: 0,
                    force_timestamp: None,
                    max_decompressed: DEFAULT_MAX_DECOMPRESSED,
                    compression: Some(to),
                };
                let out = reencode(&b, opts).unwrap().unwrap();
                out.batch.verify_crc().unwrap();
                assert_eq!(out.batch.compression().unwrap(), to);
                let old = decode_records(&b, DEFAULT_MAX_DECOMPRESSED).unwrap();
                let new = decode_records(&out.batch, DEFAULT_MAX_DECOMPRESSED).unwrap();
                assert_eq!(old.len(), new.len());
                for (o, n) in old.iter().zip(&new) {
                    assert_eq!(
                        (o.offset, o.timestamp, &o.body),
                        (n.offset, n.timestamp, &n.body)
                    );
                }
            }
        }
    }

    #[test]
    fn split_batches_keep_each_index_in_source_order() {
        let bytes = encode_batch(
            &meta(Compression::Lz4),
            &[
                rec(0, "a0"),
                rec(1, "b1"),
                rec(2, "a2"),
                rec(3, "b3"),
                rec(4, "c4"),
            ],
        )
        .unwrap();
        let b = RecordBatch::parse(bytes).unwrap();
        let opts = Reencode {
            min_offset: 1001,
            force_timestamp: None,
            max_decompressed: DEFAULT_MAX_DECOMPRESSED,
            compression: Some(Compression::Zstd),
        };
        let out = reencode_split(&b, opts, |r| {
            let v = split_body(&r.body)?.value.unwrap();
            Ok(i32::from(v[0] - b'a'))
        })
        .unwrap();
        let got: Vec<(i32, Vec<Bytes>)> = out
            .iter()
            .map(|(i, r)| {
                r.batch.verify_crc().unwrap();
                let values = decode_records(&r.batch, DEFAULT_MAX_DECOMPRESSED)
                    .unwrap()
                    .iter()
                    .map(|x| split_body(&x.body).unwrap().value.unwrap())
                    .collect();
                (*i, values)
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (0, vec![Bytes::from_static(b"a2")]),
                (
                    1,
                    vec![Bytes::from_static(b"b1"), Bytes::from_static(b"b3")]
                ),
                (2, vec![Bytes::from_static(b"c4")]),
            ]
        );
        assert_eq!(out[1].1.runs, vec![(1001, 0), (1003, 1)]);
    }

    #[test]
    fn records_below_resume_offset_are_dropped() {
        let bytes = encode_batch(
            &meta(Compression::Lz4),
            &[rec(0, "a"), rec(1, "b"), rec(2, "c")],
        )
        .unwrap();
        let b = RecordBatch::parse(bytes).unwrap();
        let out = reencode(
            &b,
            Reencode {
                min_offset: 1002,
                force_timestamp: Some(77),
                max_decompressed: DEFAULT_MAX_DECOMPRESSED,
                compression: None,
            },
        )
        .unwrap()
        .unwrap();
        let recs = decode_records(&out.batch, DEFAULT_MAX_DECOMPRESSED).unwrap();
        assert_eq!(recs.len(), 1);
        assert_eq!(recs[0].timestamp, 77);
        assert_eq!(out.first_source_offset, 1002);
        assert!(reencode(
            &b,
            Reencode {
                min_offset: 2000,
                force_timestamp: None,
                max_decompressed: DEFAULT_MAX_DECOMPRESSED,
                compression: None,
            }
        )
        .unwrap()
        .is_none());
    }

    #[test]
    fn runs_are_rebuilt_one_batch_each() {
        let bytes = encode_batch(
            &meta(Compression::Zstd),
            &[
                rec(0, "a"),
                rec(1, "b"),
                rec(3, "c"),
                rec(6, "d"),
                rec(7, "e"),
            ],
        )
        .unwrap();
        let b = RecordBatch::parse(bytes).unwrap();
        let opts = Reencode {
            min_offset: 1001,
            force_timestamp: None,
            max_decompressed: DEFAULT_MAX_DECOMPRESSED,
            compression: None,
        };
        let out = reencode_runs(&b, opts).unwrap();
        let spans: Vec<(i64, i64, i32)> = out
            .iter()
            .map(|r| {
                (
                    r.first_source_offset,
                    r.last_source_offset,
                    r.batch.record_count(),
                )
            })
            .collect();
        assert_eq!(spans, [(1001, 1001, 1), (1003, 1003, 1), (1006, 1007, 2)]);
        for r in &out {
            assert!(!r.batch.has_offset_holes());
            r.batch.verify_crc().unwrap();
            assert_eq!(r.runs, [(r.first_source_offset, 0)]);
        }
        let values: Vec<Bytes> = out
            .iter()
            .flat_map(|r| decode_records(&r.batch, DEFAULT_MAX_DECOMPRESSED).unwrap())
            .map(|r| split_body(&r.body).unwrap().value.unwrap())
            .collect();
        assert_eq!(
            values,
            [b"b", b"c", b"d", b"e"].map(|v| Bytes::from_static(v))
        );
        let past = Reencode {
            min_offset: 2000,
            ..opts
        };
        assert!(reencode_runs(&b, past).unwrap().is_empty());
    }

    #[test]
    fn placeholders_are_empty_records_marked_by_a_header() {
        let b = RecordBatch::parse(placeholder_batch(1000, Compression::Zstd).unwrap()).unwrap();
        assert_eq!((b.record_count(), b.next_offset()), (1000, 1000));
        assert!(!b.has_offset_holes());
        assert!(b.len() < 2000, "compresses to {} bytes", b.len());
        let recs = decode_records(&b, DEFAULT_MAX_DECOMPRESSED).unwrap();
        let f = split_body(&recs[999].body).unwrap();
        assert_eq!((f.key, f.value, recs[999].timestamp), (None, None, -1));
        assert_eq!(b.max_timestamp(), -1);
        assert_eq!(
            f.headers,
            vec![(PLACEHOLDER_HEADER.to_string(), Some(Bytes::new()))]
        );
    }
}
