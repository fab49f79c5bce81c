//! Turning one partition's fetched record set into batches to produce:
//! truncated tails, control batches, aborted transactions and empty batches
//! are dropped; batches with offset holes, records below the fetch position,
//! LogAppendTime timestamps or (when the producer file sets
//! `compression.type`) another codec take the re-encoding slow path.

use std::collections::HashSet;

use kmirror_proto::batch::{split_record_set, RecordBatch, RecordSetEntry};
use kmirror_proto::fetch::FetchPartitionResponse;
use kmirror_proto::records::{reencode, reencode_runs, Reencode, ReencodedBatch};

use crate::mirror::partition::{Partition, Preserve};
use crate::plan::FetchSettings;

/// Control record type of an abort marker.
const CONTROL_ABORT: i16 = 0;

/// Counters from processing one record set.
#[derive(Debug, Default, Clone, Copy)]
pub struct Fetched {
    pub batches: u64,
    pub dropped: u64,
    pub reencoded: u64,
    pub copied_bytes: u64,
    /// Batches recompressed into the producer file's `compression.type`,
    /// and the bytes that made (also in `reencoded` and `copied_bytes`).
    pub recompressed: u64,
    pub recompressed_bytes: u64,
}

/// Applies fetched data to a partition whose fetch position is `requested`.
/// Returns `Err(reason)` when the data cannot be forwarded (the partition
/// must stop and say why).
pub fn apply(
    p: &mut Partition,
    data: &FetchPartitionResponse,
    requested: i64,
    settings: &FetchSettings,
) -> Result<Fetched, String> {
    let (read_committed, check_crcs) = (settings.read_committed, settings.check_crcs);
    let mut out = Fetched::default();
    let mut aborted: Vec<_> = if read_committed {
        data.aborted_transactions.clone()
    } else {
        Vec::new()
    };
    aborted.sort_by_key(|a| std::cmp::Reverse(a.first_offset));
    let mut aborted_pids: HashSet<i64> = HashSet::new();
    let mut position = requested;
    for entry in split_record_set(data.records.clone()) {
        let batch = match entry {
            Ok(RecordSetEntry::Batch(b)) => b,
            Ok(RecordSetEntry::Legacy { base_offset, magic }) => {
                if base_offset < position {
                    continue;
                }
                return Err(format!(
                    "offset {base_offset} is a magic v{magic} message set from an old log segment; kmirror forwards only v2 record batches"
                ));
            }
            Err(e) => return Err(format!("malformed record set at offset {position}: {e}")),
        };
        if batch.next_offset() <= position {
            continue;
        }
        while let Some(a) = aborted.last() {
            if a.first_offset > batch.last_offset() {
                break;
            }
            aborted_pids.insert(a.producer_id);
            aborted.pop();
        }
        if batch.is_control() {
            if batch.control_type() == Some(CONTROL_ABORT) {
                aborted_pids.remove(&batch.producer_id());
            }
            skip(p, &mut position, &batch, &mut out);
            continue;
        }
        if batch.is_transactional() && aborted_pids.contains(&batch.producer_id()) {
            skip(p, &mut position, &batch, &mut out);
            continue;
        }
        if batch.is_empty() {
            skip(p, &mut position, &batch, &mut out);
            continue;
        }
        if check_crcs {
            batch
                .verify_crc()
                .map_err(|e| format!("source batch failed its CRC check: {e}"))?;
        }
        let next = batch.next_offset();
        let recompress = settings
            .recompress
            .filter(|c| batch.compression().ok() != Some(*c));
        if batch.has_offset_holes()
            || batch.base_offset() < position
            || batch.is_log_append_time()
            || recompress.is_some()
        {
            let opts = Reencode {
                min_offset: position,
                force_timestamp: batch.is_log_append_time().then(|| batch.max_timestamp()),
                max_decompressed: settings.max_decompressed_bytes,
                compression: recompress,
            };
            // Offsets that must match the source's: no rebuilt batch spans
            // a hole (placeholders fill it).
            let rebuilt = if p.preserve == Preserve::Off {
                reencode(&batch, opts).map(|r| r.into_iter().collect())
            } else {
                reencode_runs(&batch, opts)
            };
            let rebuilt: Vec<ReencodedBatch> = rebuilt.map_err(|e| {
                format!(
                    "cannot re-encode the batch at offset {}: {e}",
                    batch.base_offset()
                )
            })?;
            out.reencoded += 1;
            if rebuilt.is_empty() {
                out.dropped += 1;
                p.skip_to(next);
            }
            let last = rebuilt.len().saturating_sub(1);
            for (k, r) in rebuilt.into_iter().enumerate() {
                out.copied_bytes += r.batch.len() as u64;
                if recompress.is_some() {
                    out.recompressed += 1;
                    out.recompressed_bytes += r.batch.len() as u64;
                }
                out.batches += 1;
                let after = if k == last {
                    next
                } else {
                    r.last_source_offset + 1
                };
                p.enqueue_with_runs(r.batch, after, Some(std::rc::Rc::from(r.runs)));
            }
        } else {
            out.batches += 1;
            p.enqueue_with_runs(batch, next, None);
        }
        position = next;
    }
    Ok(out)
}

fn skip(p: &mut Partition, position: &mut i64, batch: &RecordBatch, out: &mut Fetched) {
    out.dropped += 1;
    *position = batch.next_offset();
    p.skip_to(*position);
}
