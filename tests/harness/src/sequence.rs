//! Numbered record streams for fault tests, and the record-by-record check
//! of a mirror's target topic against its source topic.
//!
//! Record `n` of a stream goes to partition `n % partitions` and its value
//! carries `n`, its place in the whole stream, whatever partition it went
//! to. The checker does not trust the numbers to be contiguous (a producer
//! may fail a send): it reads the source as it really is and uses the
//! numbers only to tell which source record a target record is a copy of.
//! Per partition it then counts source records missing from the target,
//! copies beyond the first (duplicates), records whose first copy came after
//! the first copy of a later source record (reordered), target records that
//! are no source record of that partition (foreign), and copies that differ
//! from their source record in key, value, headers or timestamp (altered).
//!
//! At least once allows duplicates and nothing else; exactly once, read by
//! a read_committed consumer, allows nothing: the target is the source.
//!
//! It must never call a run good that lost, invented or reordered a record.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::stream::{StreamProducer, StreamTotals};
use crate::tools::{ConsumedRecord, TestRecord};

/// How many examples of each kind of problem a check keeps per partition.
pub const EXAMPLES: usize = 10;

/// The first bytes of every numbered value; the number follows, 16 digits.
const VALUE_PREFIX: &str = "kmirror-seq ";

/// Record `seq` of a stream over `partitions` partitions.
pub fn record(seq: u64, partitions: i32) -> TestRecord {
    let partition = (seq % partitions.max(1) as u64) as i32;
    TestRecord::new(format!("{VALUE_PREFIX}{seq:016}"))
        .with_key(format!("k{}", seq % 1000))
        .with_partition(partition)
}

/// The stream position a value carries, if it is a numbered value.
pub fn sequence_of(value: Option<&[u8]>) -> Option<u64> {
    let digits = value?.strip_prefix(VALUE_PREFIX.as_bytes())?;
    if digits.len() != 16 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// What a [`SequenceStream`] produces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamPlan {
    /// The number of the first record.
    pub first: u64,
    /// How many records; `None` runs until [`SequenceStream::stop`].
    pub count: Option<u64>,
    /// Records per second; 0 sends as fast as the producer takes them.
    pub rate: u64,
    pub partitions: i32,
}

/// A numbered stream produced in the background by a [`StreamProducer`].
pub struct SequenceStream {
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicU64>,
    finished_at: Arc<Mutex<Option<Instant>>>,
    handle: Option<JoinHandle<io::Result<StreamTotals>>>,
}

impl SequenceStream {
    /// Starts producing `plan` to `topic` at `bootstrap` (the producer's
    /// defaults: idempotent, acks=all; `producer_props` add to them).
    pub fn start(
        bootstrap: &str,
        topic: &str,
        plan: StreamPlan,
        producer_props: &[(&str, &str)],
    ) -> io::Result<SequenceStream> {
        let mut producer = StreamProducer::start(bootstrap, topic, producer_props)?;
        let stop = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(AtomicU64::new(0));
        let finished_at = Arc::new(Mutex::new(None));
        let handle = {
            let (stop, sent, finished_at) = (stop.clone(), sent.clone(), finished_at.clone());
            thread::Builder::new()
                .name("sequence-stream".into())
                .spawn(move || {
                    // Leave room for a producer retrying through a broker
                    // fault (delivery.timeout.ms is 2 minutes).
                    let totals = pace(&mut producer, plan, &stop, &sent)
                        .and_then(|()| producer.finish(Duration::from_secs(300)));
                    *finished_at.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
                    totals
                })?
        };
        Ok(SequenceStream {
            stop,
            sent,
            finished_at,
            handle: Some(handle),
        })
    }

    /// Records handed to the producer so far.
    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    /// When every record was acknowledged or failed (or the stream
    /// failed); `None` while it runs.
    pub fn finished_at(&self) -> Option<Instant> {
        *self.finished_at.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Ends the stream after the records handed over so far.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    /// Waits until every record handed over was acknowledged or failed.
    pub fn join(mut self) -> io::Result<StreamTotals> {
        match self.handle.take().map(JoinHandle::join) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(io::Error::other("the sequence stream thread panicked")),
            None => Err(io::Error::other("the sequence stream was already joined")),
        }
    }
}

impl Drop for SequenceStream {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Sends `plan`'s records on schedule: record `i` no earlier than
/// `i / rate` seconds after the start, in bursts every few milliseconds.
fn pace(
    producer: &mut StreamProducer,
    plan: StreamPlan,
    stop: &AtomicBool,
    sent: &AtomicU64,
) -> io::Result<()> {
    let started = Instant::now();
    let end = plan
        .count
        .map_or(u64::MAX, |c| plan.first.saturating_add(c));
    let mut next = plan.first;
    while next < end && !stop.load(Ordering::Relaxed) {
        let due = if plan.rate == 0 {
            end.min(next + 1000)
        } else {
            let elapsed = started.elapsed().as_secs_f64();
            let due = plan.first + (elapsed * plan.rate as f64) as u64 + 1;
            due.min(end)
        };
        while next < due {
            producer.send(&record(next, plan.partitions))?;
            next += 1;
        }
        producer.flush()?;
        sent.store(next - plan.first, Ordering::Relaxed);
        if plan.rate > 0 {
            thread::sleep(Duration::from_millis(5));
        }
    }
    Ok(())
}

/// The delivery guarantee a target is checked against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// Every source record, first copies in source order; duplicates
    /// allowed (and counted).
    AtLeastOnce,
    /// Exactly the source's records, each once, in source order.
    ExactlyOnce,
}

/// One partition's findings. Offsets in examples are the target's where a
/// target record is meant, the source's otherwise.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PartitionCheck {
    pub partition: i32,
    pub source_records: u64,
    pub target_records: u64,
    pub missing: u64,
    pub duplicates: u64,
    pub reordered: u64,
    pub foreign: u64,
    pub altered: u64,
    /// The first runs of missing records: (first, last) source offset.
    pub missing_runs: Vec<(i64, i64)>,
    /// The first duplicates: (target offset, source offset).
    pub duplicate_examples: Vec<(i64, i64)>,
    /// The first reordered records: (target offset, source offset).
    pub reordered_examples: Vec<(i64, i64)>,
    /// The first foreign target records' offsets.
    pub foreign_examples: Vec<i64>,
    /// The first altered copies: (target offset, source offset).
    pub altered_examples: Vec<(i64, i64)>,
}

/// The whole check: every partition of the source or the target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SequenceCheck {
    pub delivery: Delivery,
    /// By partition.
    pub partitions: Vec<PartitionCheck>,
    /// Source records without a number: something else wrote to the topic.
    pub source_unnumbered: u64,
    /// Source records whose number another source record already has: the
    /// producer itself duplicated, and target copies of them are ambiguous.
    pub source_duplicates: u64,
}

/// Totals over every partition.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CheckTotals {
    pub source_records: u64,
    pub target_records: u64,
    pub missing: u64,
    pub duplicates: u64,
    pub reordered: u64,
    pub foreign: u64,
    pub altered: u64,
}

impl SequenceCheck {
    /// Compares `target` with `source` (each ordered by partition and
    /// offset, as [`consume_all`](crate::tools::consume_all)
    /// returns them), partition by partition.
    pub fn run(delivery: Delivery, source: &[ConsumedRecord], target: &[ConsumedRecord]) -> Self {
        let mut index: HashMap<u64, (i32, usize)> = HashMap::with_capacity(source.len());
        let mut by_partition: Vec<(i32, Vec<&ConsumedRecord>)> = Vec::new();
        let (mut source_unnumbered, mut source_duplicates) = (0, 0);
        for r in source {
            if by_partition.last().is_none_or(|(p, _)| *p != r.partition) {
                by_partition.push((r.partition, Vec::new()));
            }
            let (p, records) = by_partition.last_mut().expect("pushed above");
            match sequence_of(r.value.as_deref()) {
                None => source_unnumbered += 1,
                Some(seq) => {
                    if index.insert(seq, (*p, records.len())).is_some() {
                        source_duplicates += 1;
                    }
                }
            }
            records.push(r);
        }
        let mut partitions: Vec<PartitionCheck> = Vec::new();
        let mut rest = target;
        for (p, src) in &by_partition {
            let split = rest.partition_point(|r| r.partition < *p);
            for orphan in rest[..split].chunk_by(|a, b| a.partition == b.partition) {
                partitions.push(check_partition(orphan[0].partition, &[], orphan, &index));
            }
            rest = &rest[split..];
            let end = rest.partition_point(|r| r.partition == *p);
            partitions.push(check_partition(*p, src, &rest[..end], &index));
            rest = &rest[end..];
        }
        for orphan in rest.chunk_by(|a, b| a.partition == b.partition) {
            partitions.push(check_partition(orphan[0].partition, &[], orphan, &index));
        }
        SequenceCheck {
            delivery,
            partitions,
            source_unnumbered,
            source_duplicates,
        }
    }

    pub fn totals(&self) -> CheckTotals {
        let mut t = CheckTotals::default();
        for p in &self.partitions {
            t.source_records += p.source_records;
            t.target_records += p.target_records;
            t.missing += p.missing;
            t.duplicates += p.duplicates;
            t.reordered += p.reordered;
            t.foreign += p.foreign;
            t.altered += p.altered;
        }
        t
    }

    /// Whether the target keeps the delivery guarantee (and the source was
    /// clean enough to tell).
    pub fn passed(&self) -> bool {
        let t = self.totals();
        let clean = self.source_unnumbered == 0 && self.source_duplicates == 0;
        let kept = t.missing == 0 && t.reordered == 0 && t.foreign == 0 && t.altered == 0;
        let once = self.delivery == Delivery::AtLeastOnce || t.duplicates == 0;
        clean && kept && once && t.source_records > 0
    }

    /// One line per partition with a problem (duplicates count as one under
    /// exactly once only), with examples; empty when the check passed.
    pub fn problems(&self) -> Vec<String> {
        let mut lines = Vec::new();
        if self.source_unnumbered > 0 || self.source_duplicates > 0 {
            lines.push(format!(
                "source: {} records without a sequence number, {} with a number already seen (the source is not a clean numbered stream)",
                self.source_unnumbered, self.source_duplicates
            ));
        }
        if self.totals().source_records == 0 {
            lines.push("source: no records".to_owned());
        }
        for p in &self.partitions {
            let dup = self.delivery == Delivery::ExactlyOnce && p.duplicates > 0;
            if p.missing == 0 && p.reordered == 0 && p.foreign == 0 && p.altered == 0 && !dup {
                continue;
            }
            let mut line = format!(
                "partition {}: {} source records, {} target records",
                p.partition, p.source_records, p.target_records
            );
            if p.missing > 0 {
                let runs: Vec<String> = p
                    .missing_runs
                    .iter()
                    .map(|(a, b)| {
                        if a == b {
                            format!("{a}")
                        } else {
                            format!("{a}-{b}")
                        }
                    })
                    .collect();
                let _ = write!(
                    line,
                    "; {} missing (source offsets {}{})",
                    p.missing,
                    runs.join(", "),
                    more(
                        p.missing,
                        p.missing_runs
                            .iter()
                            .map(|(a, b)| (b - a + 1) as usize)
                            .sum()
                    )
                );
            }
            if dup {
                let _ = write!(
                    line,
                    "; {} duplicates (target offset <- source offset: {}{})",
                    p.duplicates,
                    pairs(&p.duplicate_examples),
                    more(p.duplicates, p.duplicate_examples.len())
                );
            }
            if p.reordered > 0 {
                let _ = write!(
                    line,
                    "; {} reordered (target offset <- source offset: {}{})",
                    p.reordered,
                    pairs(&p.reordered_examples),
                    more(p.reordered, p.reordered_examples.len())
                );
            }
            if p.foreign > 0 {
                let offsets: Vec<String> =
                    p.foreign_examples.iter().map(|o| o.to_string()).collect();
                let _ = write!(
                    line,
                    "; {} foreign (target offsets {}{})",
                    p.foreign,
                    offsets.join(", "),
                    more(p.foreign, p.foreign_examples.len())
                );
            }
            if p.altered > 0 {
                let _ = write!(
                    line,
                    "; {} altered (target offset <- source offset: {}{})",
                    p.altered,
                    pairs(&p.altered_examples),
                    more(p.altered, p.altered_examples.len())
                );
            }
            lines.push(line);
        }
        lines
    }
}

fn check_partition(
    partition: i32,
    source: &[&ConsumedRecord],
    target: &[ConsumedRecord],
    index: &HashMap<u64, (i32, usize)>,
) -> PartitionCheck {
    let mut c = PartitionCheck {
        partition,
        source_records: source.len() as u64,
        target_records: target.len() as u64,
        ..PartitionCheck::default()
    };
    let mut seen = vec![false; source.len()];
    let mut furthest: Option<usize> = None;
    for t in target {
        let found = sequence_of(t.value.as_deref())
            .and_then(|seq| index.get(&seq))
            .filter(|(p, _)| *p == partition);
        let Some(&(_, i)) = found else {
            c.foreign += 1;
            keep(&mut c.foreign_examples, t.offset);
            continue;
        };
        let s = source[i];
        if !same_record(s, t) {
            c.altered += 1;
            keep(&mut c.altered_examples, (t.offset, s.offset));
        }
        if seen[i] {
            c.duplicates += 1;
            keep(&mut c.duplicate_examples, (t.offset, s.offset));
            continue;
        }
        seen[i] = true;
        if furthest.is_some_and(|f| i < f) {
            c.reordered += 1;
            keep(&mut c.reordered_examples, (t.offset, s.offset));
        }
        furthest = furthest.max(Some(i));
    }
    let mut run: Option<(i64, i64)> = None;
    for (i, _) in seen.iter().enumerate().filter(|(_, s)| !**s) {
        c.missing += 1;
        let offset = source[i].offset;
        run = match run {
            Some((a, b)) if b + 1 == offset => Some((a, offset)),
            Some(done) => {
                keep(&mut c.missing_runs, done);
                Some((offset, offset))
            }
            None => Some((offset, offset)),
        };
    }
    if let Some(done) = run {
        keep(&mut c.missing_runs, done);
    }
    c
}

/// Whether a copy keeps what a consumer sees of the original.
fn same_record(a: &ConsumedRecord, b: &ConsumedRecord) -> bool {
    a.timestamp == b.timestamp && a.key == b.key && a.value == b.value && a.headers == b.headers
}

fn keep<T>(examples: &mut Vec<T>, example: T) {
    if examples.len() < EXAMPLES {
        examples.push(example);
    }
}

fn pairs(examples: &[(i64, i64)]) -> String {
    examples
        .iter()
        .map(|(t, s)| format!("{t}<-{s}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn more(count: u64, shown: usize) -> &'static str {
    if count > shown as u64 {
        ", ..."
    } else {
        ""
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools::TimestampType;

    fn consumed(partition: i32, offset: i64, seq: u64) -> ConsumedRecord {
        let r = record(seq, 2);
        ConsumedRecord {
            partition,
            offset,
            timestamp: 1_700_000_000_000 + seq as i64,
            timestamp_type: TimestampType::CreateTime,
            key: r.key,
            value: r.value,
            headers: Vec::new(),
        }
    }

    /// Partition 0 holds the even numbers 0..2n, partition 1 the odd ones.
    fn source(n: u64) -> Vec<ConsumedRecord> {
        let mut s: Vec<ConsumedRecord> = (0..2 * n)
            .map(|seq| consumed((seq % 2) as i32, (seq / 2) as i64, seq))
            .collect();
        s.sort_by_key(|r| (r.partition, r.offset));
        s
    }

    /// A target partition holding the given source offsets, in that order.
    fn target(partition: i32, source_offsets: &[u64]) -> Vec<ConsumedRecord> {
        source_offsets
            .iter()
            .enumerate()
            .map(|(o, s)| consumed(partition, o as i64, s * 2 + partition as u64))
            .collect()
    }

    #[test]
    fn values_carry_their_number_and_nothing_else_parses() {
        let r = record(1234, 3);
        assert_eq!(r.partition, Some(1234 % 3));
        assert_eq!(sequence_of(r.value.as_deref()), Some(1234));
        assert!(r.value.as_ref().unwrap().len() < 40);
        for bad in [
            &b"kmirror-seq 12"[..],
            b"kmirror-seq 000000000000001x",
            b"other 0000000000000001",
        ] {
            assert_eq!(sequence_of(Some(bad)), None);
        }
        assert_eq!(sequence_of(None), None);
    }

    #[test]
    fn an_exact_copy_passes_both_guarantees() {
        let src = source(50);
        for delivery in [Delivery::AtLeastOnce, Delivery::ExactlyOnce] {
            let check = SequenceCheck::run(delivery, &src, &src);
            assert!(check.passed(), "{:?}", check.problems());
            assert_eq!(check.totals().source_records, 100);
            assert!(check.problems().is_empty());
        }
    }

    #[test]
    fn replayed_runs_are_duplicates_not_reorders() {
        let src = source(10);
        // After a crash the mirror resent offsets 4..7 of partition 0.
        let mut dst = target(0, &[0, 1, 2, 3, 4, 5, 6, 7, 4, 5, 6, 7, 8, 9]);
        dst.extend(target(1, &(0..10).collect::<Vec<_>>()));
        let alo = SequenceCheck::run(Delivery::AtLeastOnce, &src, &dst);
        assert!(alo.passed(), "{:?}", alo.problems());
        assert_eq!(alo.totals().duplicates, 4);
        assert_eq!(alo.partitions[0].duplicate_examples[0], (8, 4));
        let eos = SequenceCheck::run(Delivery::ExactlyOnce, &src, &dst);
        assert!(!eos.passed());
        assert!(
            eos.problems()[0].contains("4 duplicates"),
            "{:?}",
            eos.problems()
        );
    }

    #[test]
    fn missing_reordered_foreign_and_altered_records_fail() {
        let src = source(10);
        // Partition 0: offsets 3..5 lost, 8 before 7. Partition 1: a
        // record of partition 0 and an altered copy.
        let mut dst = target(0, &[0, 1, 2, 6, 8, 7, 9]);
        let mut p1 = target(1, &(0..10).collect::<Vec<_>>());
        p1.push(consumed(1, 10, 4));
        p1[2].timestamp += 1;
        dst.extend(p1);
        let check = SequenceCheck::run(Delivery::AtLeastOnce, &src, &dst);
        assert!(!check.passed());
        let p0 = &check.partitions[0];
        assert_eq!((p0.missing, p0.reordered), (3, 1));
        assert_eq!(p0.missing_runs, [(3, 5)]);
        assert_eq!(p0.reordered_examples, [(5, 7)]);
        let p1 = &check.partitions[1];
        assert_eq!((p1.foreign, p1.altered, p1.missing), (1, 1, 0));
        assert_eq!(p1.foreign_examples, [10]);
        assert_eq!(p1.altered_examples, [(2, 2)]);
        let problems = check.problems().join("\n");
        assert!(problems.contains("source offsets 3-5"), "{problems}");
        assert!(
            problems.contains("1 foreign (target offsets 10)"),
            "{problems}"
        );
    }

    #[test]
    fn an_empty_target_partition_misses_everything_and_extra_partitions_are_foreign() {
        let src = source(5);
        let mut dst = target(0, &[0, 1, 2, 3, 4]);
        dst.push(consumed(7, 0, 3));
        let check = SequenceCheck::run(Delivery::AtLeastOnce, &src, &dst);
        assert_eq!(check.partitions.len(), 3);
        assert_eq!(check.partitions[1].missing, 5);
        assert_eq!(check.partitions[1].missing_runs, [(0, 4)]);
        assert_eq!(check.partitions[2].partition, 7);
        assert_eq!(check.partitions[2].foreign, 1);
        assert!(!check.passed());
    }

    #[test]
    fn an_unclean_source_fails_the_check() {
        let mut src = source(3);
        src.push(consumed(1, 3, 1));
        let check = SequenceCheck::run(Delivery::AtLeastOnce, &src, &src);
        assert_eq!(check.source_duplicates, 1);
        assert!(!check.passed());
        let empty = SequenceCheck::run(Delivery::AtLeastOnce, &[], &[]);
        assert!(!empty.passed());
    }
}
