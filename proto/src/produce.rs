//! Produce v7..v12: a request written as a small metadata buffer interleaved
//! with untouched batch slices (for vectored writes), and its response.
//! Exactly one batch per partition per request, as brokers require.

use bytes::{BufMut, Bytes, BytesMut};

use crate::batch::{OutBatch, HEADER_LEN};
use crate::error::ProtoError;
use crate::error_code::ErrorCode;
use crate::external::Frame;
use crate::header::{begin_request, finish_frame};
use crate::wire::{
    put_compact_array_len, put_compact_string, put_empty_tagged_fields, put_string, put_uvarint,
    Reader,
};

pub const API_KEY: i16 = 0;

/// Elements reserved up front for a decoded array (see `fetch.rs`).
const INITIAL_CAPACITY: usize = 64;

/// Partitions of one topic to produce to, one batch each (a topic with no
/// partitions is not encoded).
#[derive(Debug, Clone)]
pub struct ProduceTopic {
    pub name: String,
    pub partitions: Vec<(i32, OutBatch)>,
}

/// The request-level fields of a Produce.
#[derive(Debug, Clone, Copy)]
pub struct ProduceHeader<'a> {
    pub correlation_id: i32,
    pub client_id: &'a str,
    /// Set when the batches are transactional (the broker authorizes the
    /// write against it).
    pub transactional_id: Option<&'a str>,
    pub acks: i16,
    pub timeout_ms: i32,
}

/// A whole Produce request frame (size prefix included) as the slices to
/// write in order, with the external records of spliced batches between
/// them. Batch bytes are not copied.
pub fn encode_request(
    version: i16,
    head: &ProduceHeader<'_>,
    topics: &[ProduceTopic],
) -> Result<Frame, ProtoError> {
    let ProduceHeader {
        correlation_id,
        client_id,
        transactional_id,
        acks,
        timeout_ms,
    } = *head;
    if !(7..=12).contains(&version) {
        return Err(ProtoError::Codec {
            api: "Produce",
            version,
            detail: "kmirror encodes Produce v7 to v12".into(),
        });
    }
    let flexible = version >= 9;
    // A topic without batches is left out (callers reuse their topic lists).
    let n_topics = topics.iter().filter(|t| !t.partitions.is_empty()).count();
    let n_parts: usize = topics.iter().map(|t| t.partitions.len()).sum();
    let mut meta = BytesMut::with_capacity(64 + topics.len() * 32 + n_parts * (16 + HEADER_LEN));
    let mut out: Vec<Bytes> = Vec::with_capacity(1 + n_parts * 2);
    let mut external = Vec::new();
    let mut total = 0usize;
    begin_request(&mut meta, API_KEY, version, correlation_id, client_id);
    if flexible {
        put_compact_string(&mut meta, transactional_id);
    } else {
        put_string(&mut meta, transactional_id);
    }
    meta.put_i16(acks);
    meta.put_i32(timeout_ms);
    put_len(&mut meta, flexible, n_topics);
    for t in topics.iter().filter(|t| !t.partitions.is_empty()) {
        if flexible {
            put_compact_string(&mut meta, Some(&t.name));
        } else {
            put_string(&mut meta, Some(&t.name));
        }
        put_len(&mut meta, flexible, t.partitions.len());
        for (partition, batch) in &t.partitions {
            meta.put_i32(*partition);
            if flexible {
                put_uvarint(&mut meta, batch.len() as u32 + 1);
            } else {
                meta.put_i32(batch.len() as i32);
            }
            meta.put_slice(&batch.header);
            let seg = meta.split().freeze();
            total += seg.len();
            out.push(seg);
            if !batch.body.is_empty() {
                total += batch.body.len();
                out.push(batch.body.clone());
            }
            if let Some(ext) = &batch.external {
                total += ext.len();
                external.push((out.len(), ext.clone()));
            }
            if flexible {
                put_empty_tagged_fields(&mut meta);
            }
        }
        if flexible {
            put_empty_tagged_fields(&mut meta);
        }
    }
    if flexible {
        put_empty_tagged_fields(&mut meta);
    }
    if !meta.is_empty() {
        let seg = meta.split().freeze();
        total += seg.len();
        out.push(seg);
    }
    // The size prefix sits at the front of the first segment.
    let mut first = BytesMut::from(&out[0][..]);
    finish_frame(&mut first, total - 4);
    out[0] = first.freeze();
    Ok(Frame {
        parts: out,
        external,
    })
}

fn put_len(buf: &mut BytesMut, flexible: bool, n: usize) {
    if flexible {
        put_compact_array_len(buf, n);
    } else {
        buf.put_i32(n as i32);
    }
}

#[derive(Debug, Clone)]
pub struct ProduceResponse {
    pub topics: Vec<ProduceTopicResponse>,
    pub throttle_time_ms: i32,
}

#[derive(Debug, Clone)]
pub struct ProduceTopicResponse {
    pub name: String,
    pub partitions: Vec<ProducePartitionResponse>,
}

#[derive(Debug, Clone)]
pub struct ProducePartitionResponse {
    pub partition: i32,
    pub error: ErrorCode,
    pub base_offset: i64,
    pub log_append_time_ms: i64,
    pub log_start_offset: i64,
    pub record_errors: Vec<(i32, Option<String>)>,
    pub error_message: Option<String>,
}

impl ProduceResponse {
    pub fn decode(body: Bytes, version: i16) -> Result<ProduceResponse, ProtoError> {
        let flexible = version >= 9;
        let mut r = Reader::new(body);
        let n_topics = arr(&mut r, flexible, "produce responses", 2)?;
        let mut topics = Vec::with_capacity(n_topics.min(INITIAL_CAPACITY));
        for _ in 0..n_topics {
            let name = string(&mut r, flexible, "produce topic")?.unwrap_or_default();
            let n_parts = arr(&mut r, flexible, "produce partitions", 26)?;
            // One allocation whatever the count: `arr` has checked that
            // the frame holds at least 26 bytes per partition.
            let mut partitions = Vec::with_capacity(n_parts);
            for _ in 0..n_parts {
                let partition = r.i32("produce partition index")?;
                let error = ErrorCode(r.i16("produce error code")?);
                let base_offset = r.i64("produce base offset")?;
                let log_append_time_ms = r.i64("log append time")?;
                let log_start_offset = r.i64("log start offset")?;
                let n_errs = arr(&mut r, flexible, "record errors", 5)?;
                let mut record_errors = Vec::with_capacity(n_errs.min(INITIAL_CAPACITY));
                for _ in 0..n_errs {
                    let idx = r.i32("record error index")?;
                    let msg = string(&mut r, flexible, "record error message")?;
                    if flexible {
                        r.skip_tagged_fields("record error tags")?;
                    }
                    record_errors.push((idx, msg));
                }
                let error_message = string(&mut r, flexible, "produce error message")?;
                if flexible {
                    r.skip_tagged_fields("produce partition tags")?;
                }
                partitions.push(ProducePartitionResponse {
                    partition,
                    error,
                    base_offset,
                    log_append_time_ms,
                    log_start_offset,
                    record_errors,
                    error_message,
                });
            }
            if flexible {
                r.skip_tagged_fields("produce topic tags")?;
            }
            topics.push(ProduceTopicResponse { name, partitions });
        }
        let throttle_time_ms = r.i32("produce throttle time")?;
        if flexible {
            r.skip_tagged_fields("produce response tags")?;
        }
        Ok(ProduceResponse {
            topics,
            throttle_time_ms,
        })
    }
}

fn arr(
    r: &mut Reader,
    flexible: bool,
    what: &'static str,
    min: usize,
) -> Result<usize, ProtoError> {
    Ok(if flexible {
        r.compact_array_len(what, min)?
    } else {
        r.array_len(what, min)?
    }
    .unwrap_or(0))
}

fn string(
    r: &mut Reader,
    flexible: bool,
    what: &'static str,
) -> Result<Option<String>, ProtoError> {
    if flexible {
        r.compact_string(what)
    } else {
        r.string(what)
    }
}

/// Encodes a response as a broker would (fake brokers in benchmarks).
pub fn encode_response(resp: &ProduceResponse, version: i16) -> BytesMut {
    let flexible = version >= 9;
    let mut b = BytesMut::new();
    put_len(&mut b, flexible, resp.topics.len());
    for t in &resp.topics {
        if flexible {
            put_compact_string(&mut b, Some(&t.name));
        } else {
            put_string(&mut b, Some(&t.name));
        }
        put_len(&mut b, flexible, t.partitions.len());
        for p in &t.partitions {
            b.put_i32(p.partition);
            b.put_i16(p.error.0);
            b.put_i64(p.base_offset);
            b.put_i64(p.log_append_time_ms);
            b.put_i64(p.log_start_offset);
            put_len(&mut b, flexible, 0);
            if flexible {
                put_compact_string(&mut b, None);
                put_empty_tagged_fields(&mut b);
            } else {
                put_string(&mut b, None);
            }
        }
        if flexible {
            put_empty_tagged_fields(&mut b);
        }
    }
    b.put_i32(resp.throttle_time_ms);
    if flexible {
        put_empty_tagged_fields(&mut b);
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn request_is_framed_and_batches_are_not_copied() {
        let body = Bytes::from_static(b"RECORDS-BODY");
        let batch = OutBatch {
            header: [1u8; 61],
            body: body.clone(),
            external: None,
        };
        for (version, txn) in [(7, None), (8, Some("t")), (9, None), (12, Some("txn-1"))] {
            let head = ProduceHeader {
                correlation_id: 9,
                client_id: "kmirror",
                transactional_id: txn,
                acks: -1,
                timeout_ms: 30_000,
            };
            let segs = encode_request(
                version,
                &head,
                &[ProduceTopic {
                    name: "A.orders".into(),
                    partitions: vec![(0, batch.clone()), (3, batch.clone())],
                }],
            )
            .unwrap()
            .parts;
            let total: usize = segs.iter().map(|s| s.len()).sum();
            let size =
                i32::from_be_bytes([segs[0][0], segs[0][1], segs[0][2], segs[0][3]]) as usize;
            assert_eq!(size + 4, total);
            assert!(segs.iter().any(|s| s.as_ptr() == body.as_ptr()));
            // An independent decoder reads the same request.
            use kafka_protocol::protocol::Decodable;
            let whole: Vec<u8> = segs.iter().flat_map(|s| s.iter().copied()).collect();
            let mut b = Bytes::from(whole).slice(4..);
            let hv = crate::header::request_header_version(API_KEY, version);
            kafka_protocol::messages::RequestHeader::decode(&mut b, hv).unwrap();
            let req = kafka_protocol::messages::ProduceRequest::decode(&mut b, version).unwrap();
            assert_eq!(req.transactional_id.as_ref().map(|t| t.0.as_str()), txn);
            assert_eq!(req.topic_data.len(), 1);
            assert_eq!(req.topic_data[0].partition_data.len(), 2);
            assert!(b.is_empty());
        }
    }

    #[test]
    fn response_round_trip() {
        for version in [7, 8, 9, 12] {
            let resp = ProduceResponse {
                topics: vec![ProduceTopicResponse {
                    name: "x".into(),
                    partitions: vec![ProducePartitionResponse {
                        partition: 1,
                        error: ErrorCode::INVALID_RECORD,
                        base_offset: 77,
                        log_append_time_ms: -1,
                        log_start_offset: 0,
                        record_errors: vec![],
                        error_message: None,
                    }],
                }],
                throttle_time_ms: 0,
            };
            let got =
                ProduceResponse::decode(encode_response(&resp, version).freeze(), version).unwrap();
            assert_eq!(got.topics[0].partitions[0].base_offset, 77);
            assert_eq!(got.topics[0].partitions[0].error, ErrorCode::INVALID_RECORD);
        }
    }

    proptest! {
        #[test]
        fn decode_never_panics(data in proptest::collection::vec(any::<u8>(), 0..200), v in 7i16..=12) {
            let _ = ProduceResponse::decode(Bytes::from(data), v);
        }
    }
}
