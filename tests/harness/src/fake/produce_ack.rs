//! The fake target's Produce answer: the request is read only as far as
//! topic, partition and record-set boundaries; every partition is answered
//! with no error and a base offset that grows by the records it was sent.
//! Nothing is stored. The first batch on each connection has its CRC-32C
//! checked, so a run that mirrors garbage does not go unnoticed.

use std::collections::HashMap;
use std::sync::atomic::Ordering;

use kmirror_proto::error_code::ErrorCode;
use kmirror_proto::produce::{
    encode_response, ProducePartitionResponse, ProduceResponse, ProduceTopicResponse,
};

use super::{Acked, Cursor};

const CORRUPT_MESSAGE: ErrorCode = ErrorCode(2);

/// Answers one Produce request body (after the request header). `None` for
/// acks = 0, which gets no response. With `error`, every partition is
/// answered with that Kafka error code and nothing counts as acknowledged.
pub fn answer(
    body: &[u8],
    version: i16,
    next_offsets: &mut HashMap<(String, i32), i64>,
    crc_checked: &mut bool,
    acked: &Acked,
    error: Option<i16>,
) -> Result<Option<Vec<u8>>, String> {
    let flexible = version >= 9;
    let mut r = Cursor::new(body);
    let txn_len = len(&mut r, flexible, false)?;
    if let Some(n) = txn_len {
        r.skip(n)?;
    }
    let acks = r.i16()?;
    r.i32()?; // timeout
    let n_topics = len(&mut r, flexible, true)?.unwrap_or(0);
    let mut topics = Vec::with_capacity(n_topics);
    let (mut bytes, mut batches) = (0u64, 0u64);
    for _ in 0..n_topics {
        let name_len = len(&mut r, flexible, false)?.unwrap_or(0);
        let name = String::from_utf8_lossy(r.take(name_len)?).into_owned();
        let n_parts = len(&mut r, flexible, true)?.unwrap_or(0);
        let mut partitions = Vec::with_capacity(n_parts);
        for _ in 0..n_parts {
            let partition = r.i32()?;
            let records_len = if flexible {
                (r.uvarint()? as usize).checked_sub(1)
            } else {
                usize::try_from(r.i32()?).ok()
            };
            let records = r.take(records_len.unwrap_or(0))?;
            if flexible {
                r.skip_tagged_fields()?;
            }
            let (error, count) = match (error, check_record_set(records, crc_checked)) {
                (Some(e), _) => (ErrorCode(e), 0),
                (None, Ok((n_batches, n_records))) => {
                    bytes += records.len() as u64;
                    batches += n_batches;
                    (ErrorCode::NONE, n_records)
                }
                (None, Err(e)) => {
                    eprintln!("fake target: {name}[{partition}]: {e}");
                    (CORRUPT_MESSAGE, 0)
                }
            };
            let next = next_offsets.entry((name.clone(), partition)).or_insert(0);
            let base_offset = *next;
            *next += count;
            partitions.push(ProducePartitionResponse {
                partition,
                error,
                base_offset,
                log_append_time_ms: -1,
                log_start_offset: 0,
                record_errors: Vec::new(),
                error_message: None,
            });
        }
        if flexible {
            r.skip_tagged_fields()?;
        }
        topics.push(ProduceTopicResponse { name, partitions });
    }
    acked.bytes.fetch_add(bytes, Ordering::Relaxed);
    acked.batches.fetch_add(batches, Ordering::Relaxed);
    acked.requests.fetch_add(1, Ordering::Relaxed);
    if acks == 0 {
        return Ok(None);
    }
    let resp = ProduceResponse {
        topics,
        throttle_time_ms: 0,
    };
    Ok(Some(encode_response(&resp, version).to_vec()))
}

/// A compact (flexible) or classic length; `None` for null.
fn len(r: &mut Cursor<'_>, flexible: bool, array: bool) -> Result<Option<usize>, String> {
    if flexible {
        Ok((r.uvarint()? as usize).checked_sub(1))
    } else if array {
        Ok(usize::try_from(r.i32()?).ok())
    } else {
        Ok(usize::try_from(r.i16()?).ok())
    }
}

/// Walks the batches of a record set: (batches, records). Checks magic 2 and
/// a zero base offset on each, and the CRC of the first one a connection sees.
fn check_record_set(mut set: &[u8], crc_checked: &mut bool) -> Result<(u64, i64), String> {
    let (mut batches, mut records) = (0u64, 0i64);
    while !set.is_empty() {
        if set.len() < 61 {
            return Err("record set shorter than a batch header".into());
        }
        let base_offset = i64::from_be_bytes(set[0..8].try_into().unwrap_or_default());
        let batch_len = i32::from_be_bytes(set[8..12].try_into().unwrap_or_default());
        let total = usize::try_from(batch_len)
            .ok()
            .and_then(|l| l.checked_add(12))
            .filter(|&t| t >= 61 && t <= set.len())
            .ok_or_else(|| format!("batch length {batch_len} does not fit the record set"))?;
        if set[16] != 2 || base_offset != 0 {
            return Err(format!(
                "magic {} base offset {base_offset}: not a v2 batch to produce",
                set[16]
            ));
        }
        if !*crc_checked {
            let want = u32::from_be_bytes(set[17..21].try_into().unwrap_or_default());
            if crc32c::crc32c(&set[21..total]) != want {
                return Err("CRC-32C mismatch".into());
            }
            *crc_checked = true;
        }
        let last_delta = i32::from_be_bytes(set[23..27].try_into().unwrap_or_default());
        batches += 1;
        records += last_delta as i64 + 1;
        set = &set[total..];
    }
    Ok((batches, records))
}
