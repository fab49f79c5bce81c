//! The one RecordBatch the fake source serves, over and over, and a run of
//! consecutive copies of it whose base offsets are patched per response.
//!
//! The batch's CRC-32C covers bytes 21.. (attributes to the end), so the
//! base offset (bytes 0..8) and partition leader epoch (12..16) can change
//! per response without recomputing it.

use bytes::Bytes;
use kmirror_proto::compression::Compression;
use kmirror_proto::records::{encode_batch, BatchMeta, NewRecord};

/// Record value size aimed at: 1 KiB records, uncompressed.
const RECORD_BYTES: usize = 1024;

/// A valid magic-2 batch of exactly `len` bytes (or as close as varint
/// lengths allow) and the number of offsets it covers.
#[derive(Debug, Clone)]
pub struct Template {
    pub bytes: Bytes,
    pub records: i64,
}

impl Template {
    /// Builds an uncompressed batch of `size` bytes made of ~1 KiB records.
    pub fn new(size: usize) -> Result<Template, String> {
        let n = (size / RECORD_BYTES).max(1);
        let overhead_guess = 61 + n * 10;
        let mut last_value = size.saturating_sub(overhead_guess) / n;
        let mut value = last_value;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        for _ in 0..8 {
            let bytes = build(n, value, last_value, now)?;
            if bytes.len() == size {
                return Ok(Template {
                    bytes,
                    records: n as i64,
                });
            }
            // Move the difference into the last record; varint lengths may
            // shift by a byte, so try again.
            let diff = size as i64 - bytes.len() as i64;
            let adjusted = last_value as i64 + diff;
            if adjusted < 0 {
                value = value.saturating_sub(1);
                last_value = value;
            } else {
                last_value = adjusted as usize;
            }
        }
        let bytes = build(n, value, last_value, now)?;
        Ok(Template {
            bytes,
            records: n as i64,
        })
    }

    /// A template of one given batch (hostile-input tests serve batches
    /// built to be bad); `records` offsets per copy.
    pub fn from_batch(bytes: Bytes, records: i64) -> Template {
        Template { bytes, records }
    }

    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
}

fn build(n: usize, value: usize, last_value: usize, ts: i64) -> Result<Bytes, String> {
    let payload: Vec<u8> = (0..value.max(last_value))
        .map(|i| b'a' + (i % 26) as u8)
        .collect();
    let payload = Bytes::from(payload);
    let records: Vec<NewRecord> = (0..n)
        .map(|i| NewRecord {
            offset_delta: i as i32,
            timestamp: ts,
            key: None,
            value: Some(payload.slice(..if i + 1 == n { last_value } else { value })),
            headers: Vec::new(),
        })
        .collect();
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
    encode_batch(&meta, &records).map_err(|e| format!("cannot build the template batch: {e}"))
}

/// Consecutive copies of the template in one buffer, reused across
/// responses: only the base offsets are rewritten.
pub struct Run {
    buf: Vec<u8>,
    batch_len: usize,
    records: i64,
}

impl Run {
    pub fn new(template: &Template) -> Run {
        Run {
            buf: Vec::new(),
            batch_len: template.len(),
            records: template.records,
        }
    }

    /// `count` batches starting at `first_offset`, as one slice.
    pub fn batches(&mut self, template: &Template, first_offset: i64, count: usize) -> &[u8] {
        let need = count * self.batch_len;
        while self.buf.len() < need {
            self.buf.extend_from_slice(&template.bytes);
        }
        for i in 0..count {
            let at = i * self.batch_len;
            let base = first_offset + i as i64 * self.records;
            self.buf[at..at + 8].copy_from_slice(&base.to_be_bytes());
        }
        &self.buf[..need]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kmirror_proto::RecordBatch;

    #[test]
    fn template_has_the_asked_size_and_a_valid_crc() {
        for size in [1024, 65536, 1 << 20] {
            let t = Template::new(size).unwrap();
            assert_eq!(t.len(), size);
            let b = RecordBatch::parse(t.bytes.clone()).unwrap();
            b.verify_crc().unwrap();
            assert_eq!(b.record_count() as i64, t.records);
        }
    }

    #[test]
    fn run_patches_offsets_and_keeps_crcs() {
        let t = Template::new(4096).unwrap();
        let mut run = Run::new(&t);
        let bytes = Bytes::copy_from_slice(run.batches(&t, 100, 3));
        for i in 0..3 {
            let b = RecordBatch::parse(bytes.slice(i * t.len()..(i + 1) * t.len())).unwrap();
            b.verify_crc().unwrap();
            assert_eq!(b.base_offset(), 100 + i as i64 * t.records);
        }
    }
}
