//! Fetch v12 (flexible, addressed by topic name): the request we send and
//! the response we read. Record bytes in the response stay slices of the
//! response buffer.

use bytes::{BufMut, Bytes, BytesMut};

use crate::error::ProtoError;
use crate::error_code::ErrorCode;
use crate::wire::{
    put_compact_array_len, put_compact_string, put_empty_tagged_fields, put_uvarint, Reader,
};

/// Elements reserved up front for a decoded array, whatever its count says:
/// the count is checked against the bytes left, and the vector grows by
/// what is actually decoded.
const INITIAL_CAPACITY: usize = 64;

pub const ISOLATION_READ_UNCOMMITTED: i8 = 0;
pub const ISOLATION_READ_COMMITTED: i8 = 1;

#[derive(Debug, Clone)]
pub struct FetchRequest {
    pub max_wait_ms: i32,
    pub min_bytes: i32,
    pub max_bytes: i32,
    pub isolation_level: i8,
    /// 0 with epoch -1: sessionless. See KIP-227.
    pub session_id: i32,
    pub session_epoch: i32,
    pub topics: Vec<FetchTopic>,
    pub forgotten: Vec<(String, Vec<i32>)>,
    pub rack_id: String,
}

#[derive(Debug, Clone)]
pub struct FetchTopic {
    pub name: String,
    pub partitions: Vec<FetchPartition>,
}

#[derive(Debug, Clone, Copy)]
pub struct FetchPartition {
    pub partition: i32,
    pub current_leader_epoch: i32,
    pub fetch_offset: i64,
    pub partition_max_bytes: i32,
}

/// Versions of Fetch this module encodes and decodes.
pub const VERSIONS: (i16, i16) = (12, 12);

impl FetchRequest {
    /// Appends the request body (after the request header) to `buf`.
    pub fn encode(&self, buf: &mut BytesMut, version: i16) -> Result<(), ProtoError> {
        if version != 12 {
            return Err(ProtoError::Codec {
                api: "Fetch",
                version,
                detail: "only Fetch v12 is encoded".into(),
            });
        }
        buf.put_i32(-1); // replica id: a consumer
        buf.put_i32(self.max_wait_ms);
        buf.put_i32(self.min_bytes);
        buf.put_i32(self.max_bytes);
        buf.put_i8(self.isolation_level);
        buf.put_i32(self.session_id);
        buf.put_i32(self.session_epoch);
        put_compact_array_len(buf, self.topics.len());
        for t in &self.topics {
            put_compact_string(buf, Some(&t.name));
            put_compact_array_len(buf, t.partitions.len());
            for p in &t.partitions {
                buf.put_i32(p.partition);
                buf.put_i32(p.current_leader_epoch);
                buf.put_i64(p.fetch_offset);
                buf.put_i32(-1); // last fetched epoch: followers only
                buf.put_i64(-1); // log start offset: followers only
                buf.put_i32(p.partition_max_bytes);
                put_empty_tagged_fields(buf);
            }
            put_empty_tagged_fields(buf);
        }
        put_compact_array_len(buf, self.forgotten.len());
        for (name, parts) in &self.forgotten {
            put_compact_string(buf, Some(name));
            put_compact_array_len(buf, parts.len());
            for p in parts {
                buf.put_i32(*p);
            }
            put_empty_tagged_fields(buf);
        }
        put_compact_string(buf, Some(&self.rack_id));
        put_uvarint(buf, 0);
        Ok(())
    }
}

#[derive(Debug, Clone)]
pub struct FetchResponse {
    pub throttle_time_ms: i32,
    pub error: ErrorCode,
    pub session_id: i32,
    pub topics: Vec<FetchTopicResponse>,
}

#[derive(Debug, Clone)]
pub struct FetchTopicResponse {
    pub name: String,
    pub partitions: Vec<FetchPartitionResponse>,
}

#[derive(Debug, Clone)]
pub struct FetchPartitionResponse {
    pub partition: i32,
    pub error: ErrorCode,
    pub high_watermark: i64,
    pub last_stable_offset: i64,
    pub log_start_offset: i64,
    /// (producer id, first offset) of aborted transactions in the range.
    pub aborted_transactions: Vec<AbortedTransaction>,
    pub preferred_read_replica: i32,
    /// The record set: a slice of the response buffer.
    pub records: Bytes,
    /// On the splice path, the batches whose records were moved outside
    /// user space, each with the position in `records` it came at (the
    /// bytes of `records` before it came before it on the wire).
    pub external: Vec<(usize, crate::batch::RecordBatch)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AbortedTransaction {
    pub producer_id: i64,
    pub first_offset: i64,
}

impl FetchResponse {
    pub fn decode(body: Bytes, version: i16) -> Result<FetchResponse, ProtoError> {
        if version != 12 {
            return Err(ProtoError::Codec {
                api: "Fetch",
                version,
                detail: "only Fetch v12 is decoded".into(),
            });
        }
        let mut r = Reader::new(body);
        let throttle_time_ms = r.i32("fetch throttle time")?;
        let error = ErrorCode(r.i16("fetch error code")?);
        let session_id = r.i32("fetch session id")?;
        let n_topics = r.compact_array_len("fetch responses", 2)?.unwrap_or(0);
        let mut topics = Vec::with_capacity(n_topics.min(INITIAL_CAPACITY));
        for _ in 0..n_topics {
            let name = r.compact_string("fetch topic name")?.unwrap_or_default();
            let n_parts = r.compact_array_len("fetch partitions", 37)?.unwrap_or(0);
            let mut partitions = Vec::with_capacity(n_parts.min(INITIAL_CAPACITY));
            for _ in 0..n_parts {
                let partition = r.i32("fetch partition index")?;
                let error = ErrorCode(r.i16("fetch partition error")?);
                let high_watermark = r.i64("high watermark")?;
                let last_stable_offset = r.i64("last stable offset")?;
                let log_start_offset = r.i64("log start offset")?;
                let n_aborted = r
                    .compact_array_len("aborted transactions", 17)?
                    .unwrap_or(0);
                let mut aborted_transactions = Vec::with_capacity(n_aborted.min(INITIAL_CAPACITY));
                for _ in 0..n_aborted {
                    let producer_id = r.i64("aborted producer id")?;
                    let first_offset = r.i64("aborted first offset")?;
                    r.skip_tagged_fields("aborted transaction tags")?;
                    aborted_transactions.push(AbortedTransaction {
                        producer_id,
                        first_offset,
                    });
                }
                let preferred_read_replica = r.i32("preferred read replica")?;
                let records = r.compact_nullable_bytes("records")?.unwrap_or_default();
                r.skip_tagged_fields("fetch partition tags")?;
                partitions.push(FetchPartitionResponse {
                    partition,
                    error,
                    high_watermark,
                    last_stable_offset,
                    log_start_offset,
                    aborted_transactions,
                    preferred_read_replica,
                    records,
                    external: Vec::new(),
                });
            }
            r.skip_tagged_fields("fetch topic tags")?;
            topics.push(FetchTopicResponse { name, partitions });
        }
        r.skip_tagged_fields("fetch response tags")?;
        Ok(FetchResponse {
            throttle_time_ms,
            error,
            session_id,
            topics,
        })
    }
}

/// Encodes a response the way a broker would (fake brokers in benchmarks and tests).
pub fn encode_response(resp: &FetchResponse) -> BytesMut {
    let mut b = BytesMut::new();
    b.put_i32(resp.throttle_time_ms);
    b.put_i16(resp.error.0);
    b.put_i32(resp.session_id);
    put_compact_array_len(&mut b, resp.topics.len());
    for t in &resp.topics {
        put_compact_string(&mut b, Some(&t.name));
        put_compact_array_len(&mut b, t.partitions.len());
        for p in &t.partitions {
            b.put_i32(p.partition);
            b.put_i16(p.error.0);
            b.put_i64(p.high_watermark);
            b.put_i64(p.last_stable_offset);
            b.put_i64(p.log_start_offset);
            put_compact_array_len(&mut b, p.aborted_transactions.len());
            for a in &p.aborted_transactions {
                b.put_i64(a.producer_id);
                b.put_i64(a.first_offset);
                put_empty_tagged_fields(&mut b);
            }
            b.put_i32(p.preferred_read_replica);
            put_uvarint(&mut b, p.records.len() as u32 + 1);
            b.put_slice(&p.records);
            put_empty_tagged_fields(&mut b);
        }
        put_empty_tagged_fields(&mut b);
    }
    put_empty_tagged_fields(&mut b);
    b
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn response_round_trip_keeps_records_zero_copy() {
        let resp = FetchResponse {
            throttle_time_ms: 0,
            error: ErrorCode::NONE,
            session_id: 5,
            topics: vec![FetchTopicResponse {
                name: "orders".into(),
                partitions: vec![FetchPartitionResponse {
                    partition: 2,
                    error: ErrorCode::NONE,
                    high_watermark: 10,
                    last_stable_offset: 10,
                    log_start_offset: 0,
                    aborted_transactions: vec![AbortedTransaction {
                        producer_id: 7,
                        first_offset: 3,
                    }],
                    preferred_read_replica: -1,
                    records: Bytes::from_static(b"0123456789"),
                    external: Vec::new(),
                }],
            }],
        };
        let buf = encode_response(&resp).freeze();
        let got = FetchResponse::decode(buf.clone(), 12).unwrap();
        let p = &got.topics[0].partitions[0];
        assert_eq!(got.topics[0].name, "orders");
        assert_eq!(p.aborted_transactions[0].producer_id, 7);
        assert_eq!(&p.records[..], b"0123456789");
        let start = buf.as_ptr() as usize;
        let rec = p.records.as_ptr() as usize;
        assert!(
            rec >= start && rec < start + buf.len(),
            "records must slice the response buffer"
        );
    }

    #[test]
    fn request_encodes() {
        let req = FetchRequest {
            max_wait_ms: 500,
            min_bytes: 1,
            max_bytes: 1 << 20,
            isolation_level: ISOLATION_READ_COMMITTED,
            session_id: 0,
            session_epoch: -1,
            topics: vec![FetchTopic {
                name: "t".into(),
                partitions: vec![FetchPartition {
                    partition: 0,
                    current_leader_epoch: -1,
                    fetch_offset: 42,
                    partition_max_bytes: 1 << 20,
                }],
            }],
            forgotten: vec![],
            rack_id: String::new(),
        };
        let mut b = BytesMut::new();
        req.encode(&mut b, 12).unwrap();
        assert_eq!(
            b.len(),
            4 * 3 + 4 + 1 + 8 + 1 + 2 + 1 + (4 + 4 + 8 + 4 + 8 + 4 + 1) + 1 + 1 + 1 + 1
        );
    }

    proptest! {
        #[test]
        fn decode_never_panics(data in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = FetchResponse::decode(Bytes::from(data), 12);
        }
    }
}
