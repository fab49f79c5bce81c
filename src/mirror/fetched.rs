//! Turning one partition's fetched record set into batches to produce:
//! truncated tails, control batches, aborted transactions and empty batches
//! are dropped; batches with offset holes, records below the fetch position,
//! LogAppendTime timestamps or (when the producer file sets
//! `compression.type`) another codec take the re-encoding slow path.
//! Consecutive small batches are merged up to the producer's `batch.size`
//! (`kmirror_proto::coalesce`), a counted copy.
//!
//! On the splice path some batches' records sit in a pipe, not in memory:
//! such a batch can only go out as it came. The splice reader chose them by
//! the same header fields; one that needs anything else (it starts below
//! the fetch position, say) ends the record set there, and the loop fetches
//! it again with copying.

use std::collections::HashSet;

use kmirror_proto::batch::{split_record_set, RecordBatch, RecordSetEntry, RecordSetIter};
use kmirror_proto::coalesce;
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
    /// Source batches merged into the batch before them, and the bytes of
    /// the merged batches built (not in `copied_bytes`).
    pub coalesced: u64,
    pub coalesced_bytes: u64,
    /// A spliced batch could not go out as it came: the partition's next
    /// fetch must read its records into memory.
    pub refetch_copying: bool,
}

/// Consecutive forwarded batches waiting to be queued as one.
struct Run<'s> {
    settings: &'s FetchSettings,
    batches: Vec<RecordBatch>,
    bytes: usize,
}

impl Run<'_> {
    /// Queues `batch`, or holds it to merge with the ones after it.
    fn add(&mut self, p: &mut Partition, batch: RecordBatch, out: &mut Fetched) {
        if p.resend_bounds
            .front()
            .is_some_and(|&(_, end)| end <= batch.base_offset())
        {
            // A range whose records are no longer in the log.
            p.give_up_resend();
        }
        if let Some(&(first, end)) = p.resend_bounds.front() {
            if batch.base_offset() >= first && batch.next_offset() <= end {
                // Sent before a failure, maybe held by the target: queued
                // in the same batch as then, whatever its size.
                let follows = self
                    .batches
                    .last()
                    .is_some_and(|last| coalesce::can_follow(last, &batch));
                if batch.base_offset() == first || !follows {
                    self.flush(p, out);
                }
                self.bytes += batch.len();
                let done = batch.next_offset() == end;
                self.batches.push(batch);
                if done {
                    self.flush(p, out);
                    p.resend_bounds.pop_front();
                }
                return;
            }
            if batch.next_offset() > first {
                // Across a resent range's start: that range cannot be
                // repeated as it was (the source's batches differ).
                self.flush(p, out);
                p.give_up_resend();
            }
        }
        let limit = self.settings.coalesce_max_bytes;
        // Only small batches are held; anything else goes after what is.
        // A merged batch gets a new CRC, so damage must not get into one
        // unchecked (with `check.crcs` on, every batch was checked above).
        let holdable = !batch.is_external()
            && batch.len() <= limit / 2
            && coalesce::mergeable(&batch)
            && (self.settings.check_crcs || batch.verify_crc().is_ok());
        let joins = holdable
            && self.bytes + batch.len() <= limit
            && self
                .batches
                .last()
                .is_none_or(|last| coalesce::can_follow(last, &batch));
        if !joins {
            self.flush(p, out);
        }
        if holdable {
            self.bytes += batch.len();
            self.batches.push(batch);
        } else {
            out.batches += 1;
            let next = batch.next_offset();
            p.enqueue_with_runs(batch, next, None);
        }
    }

    /// Whether what is held is the start of the partition's next resend
    /// range, cut short by the end of a response that began before it
    /// (fetched at `requested`): fetched again from the range's start, it
    /// may come whole. Batches in a pipe are never let go this way.
    fn holds_cut_range(&self, p: &Partition, requested: i64) -> bool {
        let Some(&(first, _)) = p.resend_bounds.front() else {
            return false;
        };
        requested < first
            && self
                .batches
                .first()
                .is_some_and(|b| b.base_offset() == first)
            && !self.batches.iter().any(RecordBatch::is_external)
    }

    /// Lets go of what is held, unqueued, and fetches again from where it
    /// begins (the offsets between the last batch queued and it, if any,
    /// hold no records): the next response starts at the range, so it is
    /// never let go twice.
    fn drop_held(&mut self, p: &mut Partition) {
        if let Some(first) = self.batches.first() {
            p.fetch_offset = Some(first.base_offset());
        }
        self.batches.clear();
        self.bytes = 0;
    }

    /// Queues what is held: one batch as it is, several merged. Batches
    /// whose records cannot be read are queued as they came, for the
    /// target to judge, as they would be without coalescing.
    fn flush(&mut self, p: &mut Partition, out: &mut Fetched) {
        self.bytes = 0;
        if self.batches.len() > 1 {
            if let Ok(merged) = coalesce::merge(&self.batches, self.settings.max_decompressed_bytes)
            {
                out.batches += 1;
                out.coalesced += self.batches.len() as u64 - 1;
                out.coalesced_bytes += merged.len() as u64;
                self.batches.clear();
                let next = merged.next_offset();
                p.enqueue_with_runs(merged, next, None);
                return;
            }
        }
        for batch in self.batches.drain(..) {
            out.batches += 1;
            let next = batch.next_offset();
            p.enqueue_with_runs(batch, next, None);
        }
    }
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
    let mut out = Fetched::default();
    let mut run = Run {
        settings,
        batches: Vec::new(),
        bytes: 0,
    };
    let result = apply_batches(p, data, requested, &mut run, &mut out);
    if result.is_ok() && run.holds_cut_range(p, requested) {
        // The response ended inside a range sent before: queued now, its
        // part would be a batch the target never saw with sequences it
        // expects elsewhere (a new producer id, and what it holds of the
        // range written twice). The next fetch starts at the range, so
        // the whole of it fits in the partition's byte limit if anything
        // does.
        run.drop_held(p);
        return Ok(out);
    }
    // Batches before a defect are queued; the next fetch starts after them.
    run.flush(p, &mut out);
    result.map(|()| out)
}

fn apply_batches(
    p: &mut Partition,
    data: &FetchPartitionResponse,
    requested: i64,
    run: &mut Run,
    out: &mut Fetched,
) -> Result<(), String> {
    let settings = run.settings;
    let (read_committed, check_crcs) = (settings.read_committed, settings.check_crcs);
    let mut aborted: Vec<_> = if read_committed {
        data.aborted_transactions.clone()
    } else {
        Vec::new()
    };
    aborted.sort_by_key(|a| std::cmp::Reverse(a.first_offset));
    let mut aborted_pids: HashSet<i64> = HashSet::new();
    let mut position = requested;
    for entry in entries(data) {
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
            skip(p, run, &mut position, &batch, out);
            continue;
        }
        if batch.is_transactional() && aborted_pids.contains(&batch.producer_id()) {
            skip(p, run, &mut position, &batch, out);
            continue;
        }
        if batch.is_empty() {
            skip(p, run, &mut position, &batch, out);
            continue;
        }
        let recompress = settings
            .recompress
            .filter(|c| batch.compression().ok() != Some(*c));
        let rebuild = batch.has_offset_holes()
            || batch.base_offset() < position
            || batch.is_log_append_time()
            || recompress.is_some();
        if batch.is_external() && (check_crcs || rebuild) {
            run.flush(p, out);
            out.refetch_copying = true;
            return Ok(());
        }
        if check_crcs {
            batch
                .verify_crc()
                .map_err(|e| format!("source batch failed its CRC check: {e}"))?;
        }
        let next = batch.next_offset();
        if rebuild {
            run.flush(p, out);
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
            // A rebuilt batch comes out as it did when first sent (nothing
            // is merged into it): the resend ranges it covers are matched.
            while p.resend_bounds.front().is_some_and(|&(_, end)| end <= next) {
                p.resend_bounds.pop_front();
            }
        } else {
            run.add(p, batch, out);
        }
        position = next;
    }
    Ok(())
}

/// A partition's record set in wire order: the batches read into memory
/// and, on the splice path, those whose records are in a pipe.
fn entries(
    data: &FetchPartitionResponse,
) -> impl Iterator<Item = Result<RecordSetEntry, kmirror_proto::ProtoError>> + '_ {
    struct Entries<'a> {
        memory: RecordSetIter,
        external: std::iter::Peekable<std::slice::Iter<'a, (usize, RecordBatch)>>,
    }
    impl Iterator for Entries<'_> {
        type Item = Result<RecordSetEntry, kmirror_proto::ProtoError>;
        fn next(&mut self) -> Option<Self::Item> {
            let at = self.memory.position();
            if let Some((_, b)) = self.external.next_if(|(pos, _)| *pos <= at) {
                return Some(Ok(RecordSetEntry::Batch(b.clone())));
            }
            match self.memory.next() {
                Some(entry) => Some(entry),
                None => self
                    .external
                    .next()
                    .map(|(_, b)| Ok(RecordSetEntry::Batch(b.clone()))),
            }
        }
    }
    Entries {
        memory: split_record_set(data.records.clone()),
        external: data.external.iter().peekable(),
    }
}

fn skip(
    p: &mut Partition,
    run: &mut Run,
    position: &mut i64,
    batch: &RecordBatch,
    out: &mut Fetched,
) {
    // What is held goes first: the skip moves the position past it.
    run.flush(p, out);
    out.dropped += 1;
    *position = batch.next_offset();
    p.skip_to(*position);
}

#[cfg(test)]
mod tests {
    use bytes::{Bytes, BytesMut};
    use kmirror_proto::compression::Compression;
    use kmirror_proto::error_code::ErrorCode;
    use kmirror_proto::records::{decode_records, encode_batch, BatchMeta, NewRecord};

    use super::*;

    fn batch(base: i64, n: i32, compression: Compression) -> Bytes {
        batch_stamped(base, n, compression, false)
    }

    fn batch_stamped(base: i64, n: i32, compression: Compression, log_append_time: bool) -> Bytes {
        let records: Vec<NewRecord> = (0..n)
            .map(|i| NewRecord {
                offset_delta: i,
                timestamp: 1_000 + base + i64::from(i),
                key: Some(Bytes::from(format!("k{}", base + i64::from(i)))),
                value: Some(Bytes::from(vec![b'v'; 100])),
                headers: vec![],
            })
            .collect();
        let meta = BatchMeta {
            base_offset: base,
            partition_leader_epoch: 0,
            compression,
            log_append_time,
            producer_id: -1,
            producer_epoch: -1,
            base_sequence: -1,
            transactional: false,
        };
        let mut b = BytesMut::from(&encode_batch(&meta, &records).unwrap()[..]);
        b[..8].copy_from_slice(&base.to_be_bytes());
        b.freeze()
    }

    fn response(batches: &[Bytes]) -> FetchPartitionResponse {
        FetchPartitionResponse {
            partition: 0,
            error: ErrorCode::NONE,
            high_watermark: 100,
            last_stable_offset: 100,
            log_start_offset: 0,
            aborted_transactions: vec![],
            preferred_read_replica: -1,
            external: Vec::new(),
            records: batches.concat().into(),
        }
    }

    fn settings(coalesce_max_bytes: usize) -> FetchSettings {
        FetchSettings {
            coalesce_max_bytes,
            ..FetchSettings::default()
        }
    }

    /// (first offset, record count) of each queued batch, and every
    /// queued record's offset and body, in order.
    type Queue = (Vec<(i64, i32)>, Vec<(i64, Bytes)>);

    fn queued(p: &Partition) -> Queue {
        let shape = p
            .queue
            .iter()
            .map(|q| (q.first_source(), q.batch.record_count()))
            .collect();
        let records = p
            .queue
            .iter()
            .flat_map(|q| decode_records(&q.batch, 1 << 20).unwrap())
            .map(|r| (r.offset, r.body))
            .collect();
        (shape, records)
    }

    #[test]
    fn consecutive_small_batches_are_merged_up_to_the_limit() {
        let n = Compression::None;
        let data = response(&[
            batch(0, 1, n),
            batch(1, 1, n),
            batch(2, 2, n),
            // Another codec starts a new run.
            batch(4, 1, Compression::Lz4),
            batch(5, 1, Compression::Lz4),
            // A gap between batches (compaction removed 7) too.
            batch(8, 1, n),
            batch(9, 1, n),
        ]);
        let mut merged = Partition::new(0, "t".into(), "A.t".into(), 0, Some(0));
        let f = apply(&mut merged, &data, 0, &settings(16_384)).unwrap();
        let mut plain = Partition::new(0, "t".into(), "A.t".into(), 0, Some(0));
        apply(&mut plain, &data, 0, &settings(0)).unwrap();
        let (shape, records) = queued(&merged);
        assert_eq!(shape, vec![(0, 4), (4, 2), (8, 2)]);
        assert_eq!((f.batches, f.coalesced), (3, 4));
        assert_eq!(queued(&plain).0.len(), 7);
        assert_eq!(records, queued(&plain).1);
        assert_eq!(merged.fetch_offset, Some(10));
        assert_eq!(merged.queue.back().unwrap().next_offset, 10);
    }

    #[test]
    fn runs_stop_at_the_limit_and_large_batches_pass_as_they_are() {
        let n = Compression::None;
        let one = batch(0, 1, n).len();
        let data = response(&[
            batch(0, 1, n),
            batch(1, 1, n),
            batch(2, 1, n),
            batch(3, 20, n),
            batch(23, 1, n),
        ]);
        let mut p = Partition::new(0, "t".into(), "A.t".into(), 0, Some(0));
        // Room for two one-record batches, not three; the 20-record batch
        // is more than half the limit.
        apply(&mut p, &data, 0, &settings(2 * one + 10)).unwrap();
        assert_eq!(queued(&p).0, vec![(0, 2), (2, 1), (3, 20), (23, 1)]);
    }

    #[test]
    fn a_large_batch_after_held_ones_is_queued_after_them() {
        let n = Compression::None;
        let one = batch(0, 1, n).len();
        let big = batch(2, 9, n);
        // The held pair and the large batch would fit together; the large
        // one is more than half the limit, so it is not merged, and it
        // must not overtake them.
        let limit = 2 * one + big.len();
        assert!(big.len() > limit / 2);
        let data = response(&[batch(0, 1, n), batch(1, 1, n), big, batch(11, 1, n)]);
        let mut p = Partition::new(0, "t".into(), "A.t".into(), 0, Some(0));
        apply(&mut p, &data, 0, &settings(limit)).unwrap();
        assert_eq!(queued(&p).0, vec![(0, 2), (2, 9), (11, 1)]);
    }

    #[test]
    fn batches_resent_after_a_failure_are_grouped_as_they_were_sent() {
        let n = Compression::None;
        let data = response(&(0..6).map(|o| batch(o, 1, n)).collect::<Vec<_>>());
        let mut p = Partition::new(0, "t".into(), "A.t".into(), 0, Some(0));
        // Sent before as [0, 2) and [2, 3); what follows is merged anew.
        p.resend_bounds = [(0, 2), (2, 3)].into_iter().collect();
        apply(&mut p, &data, 0, &settings(16_384)).unwrap();
        assert_eq!(queued(&p).0, vec![(0, 2), (2, 1), (3, 3)]);
        assert!(p.resend_bounds.is_empty());
        // A range the refetched batches cross is given up.
        let mut p = Partition::new(0, "t".into(), "A.t".into(), 0, Some(0));
        p.resend_bounds = [(1, 3)].into_iter().collect();
        let data = response(&[batch(0, 2, n), batch(2, 1, n), batch(3, 1, n)]);
        apply(&mut p, &data, 0, &settings(16_384)).unwrap();
        assert_eq!(queued(&p).0, vec![(0, 4)]);
        assert!(p.resend_bounds.is_empty());
        // ...and the sequences do not carry on past it: the target may
        // hold a batch of that range with the sequences the regrouped
        // records would get. A new producer id first.
        assert!(matches!(
            p.status,
            crate::mirror::partition::Status::Recovering {
                reset_producer: true,
                ..
            }
        ));
    }

    #[test]
    fn a_resend_range_cut_by_the_end_of_a_response_is_fetched_again_whole() {
        let n = Compression::None;
        let mut p = Partition::new(0, "t".into(), "A.t".into(), 0, Some(0));
        // Sent before as [0, 2) and [2, 5); this response ends at 4.
        p.resend_bounds = [(0, 2), (2, 5)].into_iter().collect();
        let cut = response(&(0..4).map(|o| batch(o, 1, n)).collect::<Vec<_>>());
        apply(&mut p, &cut, 0, &settings(16_384)).unwrap();
        assert_eq!(queued(&p).0, vec![(0, 2)], "the cut range waits");
        assert_eq!(p.fetch_offset, Some(2), "fetched again from its start");
        assert_eq!(p.resend_bounds, [(2, 5)]);
        // Fetched from its start, it comes whole and goes as it went.
        let whole = response(&(2..6).map(|o| batch(o, 1, n)).collect::<Vec<_>>());
        apply(&mut p, &whole, 2, &settings(16_384)).unwrap();
        assert_eq!(queued(&p).0, vec![(0, 2), (2, 3), (5, 1)]);
        assert!(p.resend_bounds.is_empty());
        assert!(p.is_active());
    }

    #[test]
    fn a_cut_resend_range_after_a_hole_is_fetched_again_from_its_own_start() {
        // Offset 2 was compacted away: fetching again from 2 would bring
        // the range first in the response, so that is where it starts.
        let n = Compression::None;
        let mut p = Partition::new(0, "t".into(), "A.t".into(), 0, Some(0));
        p.resend_bounds = [(3, 6)].into_iter().collect();
        let cut = response(&[batch(0, 2, n), batch(3, 1, n), batch(4, 1, n)]);
        apply(&mut p, &cut, 0, &settings(16_384)).unwrap();
        assert_eq!(queued(&p).0, vec![(0, 2)]);
        assert_eq!(p.fetch_offset, Some(3));
    }

    #[test]
    fn a_resend_range_cut_from_its_own_start_is_queued_as_far_as_it_came() {
        // Fetched from the range's start and still cut (it is larger than
        // the partition's byte limit): fetching again would bring the
        // same, so what came goes.
        let n = Compression::None;
        let mut p = Partition::new(0, "t".into(), "A.t".into(), 0, Some(2));
        p.resend_bounds = [(2, 5)].into_iter().collect();
        let cut = response(&(2..4).map(|o| batch(o, 1, n)).collect::<Vec<_>>());
        apply(&mut p, &cut, 2, &settings(16_384)).unwrap();
        assert_eq!(queued(&p).0, vec![(2, 2)]);
        assert_eq!(p.fetch_offset, Some(4));
    }

    #[test]
    fn a_rebuilt_batch_matches_its_resend_range() {
        let n = Compression::None;
        // A LogAppendTime batch is rebuilt (its stamp written into each
        // record), the same way each time: resent, it matches its range.
        let data = response(&[batch_stamped(0, 2, n, true), batch(2, 1, n)]);
        let mut p = Partition::new(0, "t".into(), "A.t".into(), 0, Some(0));
        p.resend_bounds = [(0, 2), (2, 3)].into_iter().collect();
        apply(&mut p, &data, 0, &settings(16_384)).unwrap();
        assert_eq!(queued(&p).0, vec![(0, 2), (2, 1)]);
        assert!(p.resend_bounds.is_empty());
        assert!(p.is_active(), "no new producer id for an unchanged log");
    }

    #[test]
    fn a_damaged_batch_is_never_merged_when_crcs_are_not_checked() {
        let n = Compression::None;
        let mut damaged = batch(1, 1, n).to_vec();
        let last = damaged.len() - 1;
        damaged[last] ^= 0x01; // inside the record's value
        let data = response(&[batch(0, 1, n), damaged.into(), batch(2, 1, n)]);
        let mut p = Partition::new(0, "t".into(), "A.t".into(), 0, Some(0));
        let unchecked = FetchSettings {
            check_crcs: false,
            ..settings(16_384)
        };
        apply(&mut p, &data, 0, &unchecked).unwrap();
        // Forwarded as it came, for the target's own CRC check to refuse.
        assert_eq!(queued(&p).0, vec![(0, 1), (1, 1), (2, 1)]);
        assert!(p.queue[1].batch.verify_crc().is_err());
    }

    #[test]
    fn held_batches_are_queued_before_a_defect() {
        let n = Compression::None;
        let mut garbage = batch(2, 1, n).to_vec();
        garbage[16] = 7; // an unknown magic
        let data = response(&[batch(0, 1, n), batch(1, 1, n), garbage.into()]);
        let mut p = Partition::new(0, "t".into(), "A.t".into(), 0, Some(0));
        assert!(apply(&mut p, &data, 0, &settings(16_384)).is_err());
        assert_eq!(queued(&p).0, vec![(0, 2)]);
        assert_eq!(p.fetch_offset, Some(2));
    }

    #[test]
    fn a_batch_starting_below_the_position_ends_the_run() {
        let n = Compression::None;
        let data = response(&[batch(0, 3, n), batch(3, 1, n), batch(4, 1, n)]);
        let mut p = Partition::new(0, "t".into(), "A.t".into(), 0, Some(1));
        let f = apply(&mut p, &data, 1, &settings(16_384)).unwrap();
        assert_eq!(f.reencoded, 1);
        assert_eq!(queued(&p).0, vec![(1, 2), (3, 2)]);
    }

    /// Record bytes held elsewhere, as the splice path holds them.
    struct Elsewhere(usize);

    impl kmirror_proto::external::ExternalBytes for Elsewhere {
        fn len(&self) -> usize {
            self.0
        }
    }

    /// Settings of a flow on the splice path (`check.crcs = false`).
    fn splice_settings() -> FetchSettings {
        FetchSettings {
            check_crcs: false,
            ..settings(0)
        }
    }

    /// `bytes` as the splice reader hands it over: the header in memory,
    /// the records elsewhere.
    fn spliced(bytes: &Bytes) -> RecordBatch {
        let body = kmirror_proto::external::ExternalBody::new(std::rc::Rc::new(Elsewhere(
            bytes.len() - 61,
        )));
        RecordBatch::with_external_body(bytes.slice(..61), body).unwrap()
    }

    #[test]
    fn spliced_batches_go_out_as_they_came_in_wire_order() {
        let (a, b, c) = (
            batch(10, 5, Compression::None),
            batch(15, 5, Compression::None),
            batch(20, 5, Compression::None),
        );
        // `a` and `c` in memory, `b` spliced between them.
        let mut data = response(&[a.clone(), c.clone()]);
        data.external = vec![(a.len(), spliced(&b))];
        let mut p = Partition::new(0, "t".into(), "A.t".into(), 0, Some(10));
        let f = apply(&mut p, &data, 10, &splice_settings()).unwrap();
        assert!(!f.refetch_copying);
        let shape: Vec<(i64, bool)> = p
            .queue
            .iter()
            .map(|q| (q.batch.base_offset(), q.batch.is_external()))
            .collect();
        assert_eq!(shape, vec![(10, false), (15, true), (20, false)]);
        assert_eq!(p.fetch_offset, Some(25));
    }

    #[test]
    fn a_spliced_batch_below_the_position_is_fetched_again_with_copying() {
        let (a, b) = (
            batch(10, 5, Compression::None),
            batch(15, 5, Compression::None),
        );
        // Resuming at 12, inside `a`: its records cannot be cut while they
        // are in a pipe, so nothing of it or after it is queued.
        let mut data = response(&[b]);
        data.external = vec![(0, spliced(&a))];
        let mut p = Partition::new(0, "t".into(), "A.t".into(), 0, Some(12));
        let f = apply(&mut p, &data, 12, &splice_settings()).unwrap();
        assert!(f.refetch_copying);
        assert!(p.queue.is_empty());
        assert_eq!(p.fetch_offset, Some(12));
        // The same with copying re-encodes from 12 on.
        let mut p = Partition::new(0, "t".into(), "A.t".into(), 0, Some(12));
        let data = response(&[
            batch(10, 5, Compression::None),
            batch(15, 5, Compression::None),
        ]);
        let f = apply(&mut p, &data, 12, &splice_settings()).unwrap();
        assert!(!f.refetch_copying);
        assert_eq!(queued(&p).0.first().copied(), Some((12, 3)));
    }
}
