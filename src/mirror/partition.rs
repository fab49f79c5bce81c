//! One mirrored partition's state on its worker: the fetch position, the
//! batches fetched and not yet produced, the batches produced and not yet
//! acknowledged, the acknowledged position (what progress commits), and the
//! idempotent producer's sequence. Pure bookkeeping: no I/O here.

use std::collections::VecDeque;
use std::rc::Rc;
use std::time::Instant;

use kmirror_proto::batch::{BatchRewrite, OutBatch, RecordBatch};

use crate::metrics::sample::{PartitionSample, State, Window};
use crate::offsets::map::{PartitionMap, Point};

/// A batch fetched and waiting to be produced.
#[derive(Debug, Clone)]
pub struct Queued {
    pub batch: RecordBatch,
    /// The source offset after this batch (and any dropped batches after it).
    pub next_offset: i64,
    /// A batch rebuilt on the slow path: its records' source offsets (see
    /// `ReencodedBatch::runs`); `None` when forwarded as fetched.
    pub runs: Option<Rc<[(i64, i32)]>>,
    /// When its fetch response was read: the start of the latency kmirror
    /// itself adds.
    pub fetched_at: Instant,
}

impl Queued {
    /// The source offset of the batch's first record.
    pub fn first_source(&self) -> i64 {
        first_source(&self.batch, self.runs.as_deref())
    }
}

/// The source offset of the first record of `batch`, rebuilt with `runs`.
fn first_source(batch: &RecordBatch, runs: Option<&[(i64, i32)]>) -> i64 {
    runs.and_then(|r| r.first())
        .map_or(batch.base_offset(), |r| r.0)
}

impl Sent {
    /// The source offset of the batch's first record.
    pub fn first_source(&self) -> i64 {
        self.runs
            .as_deref()
            .and_then(|r| r.first())
            .map_or(self.base_offset, |r| r.0)
    }
}

/// A batch produced and awaiting its acknowledgement.
#[derive(Debug, Clone)]
pub struct Sent {
    pub base_offset: i64,
    /// The source offset after the batch's own last record.
    pub batch_end: i64,
    /// The source offset after this batch and any dropped batches after it.
    pub next_offset: i64,
    /// As in [`Queued::runs`].
    pub runs: Option<Rc<[(i64, i32)]>>,
    pub sequence: i32,
    pub records: i32,
    pub bytes: usize,
    pub max_timestamp: i64,
    /// As in [`Queued::fetched_at`].
    pub fetched_at: Instant,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    Active,
    /// A produce failed: wait for in-flight requests, then resume from the
    /// last acknowledged batch.
    Recovering {
        reset_producer: bool,
        retry_at: Instant,
    },
    /// Stopped for good, with the operator-facing reason.
    Failed(String),
    /// Given back to the fleet (another instance may own it now): nothing
    /// new is fetched or sent; what is in flight may still be acknowledged
    /// until the partition is detached.
    Released,
}

/// `kmirror.offsets.preserve` on one partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preserve {
    /// Not asked for, or given up: records land where the target puts them
    /// and the offset map serves translation.
    Off,
    /// Asked for: nothing is sent until the target partition's end has been
    /// compared with the start position.
    Unchecked,
    /// Records land at their source offsets. `next` is the target offset
    /// the next batch sent lands at, `acked` the one after the last
    /// acknowledged batch or placeholder fill.
    On { next: i64, acked: i64 },
}

/// The producer identity a partition's batches carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducerIdentity {
    pub producer_id: i64,
    pub epoch: i16,
    /// Bumped whenever the worker gets a new producer id for the cluster.
    pub generation: u32,
}

/// What a partition counted for the metrics since the worker's last report.
#[derive(Debug, Clone, Default)]
pub struct Measured {
    pub records: u64,
    pub bytes: u64,
    pub latency: Window,
    pub age: Window,
    /// The source's end as the last fetch saw it.
    pub log_end: Option<i64>,
    /// State, source end and position as last reported.
    pub reported: Option<(State, Option<i64>, Option<i64>)>,
}

impl Measured {
    /// A sample the control thread did not receive: its counts go into
    /// the next one.
    pub fn put_back(&mut self, s: &PartitionSample) {
        self.records += s.records;
        self.bytes += s.bytes;
        let (mut latency, mut age) = (s.latency, s.age);
        latency.merge(&self.latency);
        age.merge(&self.age);
        self.latency = latency;
        self.age = age;
        self.reported = None;
    }
}

pub struct Partition {
    /// The assignment's id, which names it in metric samples.
    pub id: u64,
    pub flow: usize,
    pub source_topic: Rc<str>,
    pub target_topic: Rc<str>,
    pub partition: i32,
    pub src_leader: Option<i32>,
    /// A replica the source leader told us to fetch from instead of itself
    /// (KIP-392, when `client.rack` is set), until the instant given.
    pub src_replica: Option<(i32, Instant)>,
    pub tgt_leader: Option<i32>,
    /// Which of the worker's connections per broker (`--streams`) carries
    /// this partition's fetches and produces.
    pub stream: usize,
    /// Next source offset to fetch; `None` until the start offset is known.
    pub fetch_offset: Option<i64>,
    /// Set by OFFSET_OUT_OF_RANGE: the position must be checked against the log.
    pub out_of_range: bool,
    pub queue: VecDeque<Queued>,
    pub queued_bytes: usize,
    /// Listed in the worker's pending partitions (see `Worker::pending`):
    /// true whenever `queue` is not empty.
    pub pending: bool,
    /// Source ranges `[first, end)` of batches that failed after being
    /// sent: the target may hold them.
    pub unconfirmed: Vec<(i64, i64)>,
    /// After a rewind, those of them still ahead, in order: refetched
    /// records are queued in the same batches (coalescing could group them
    /// otherwise), so their sequence numbers match what the target may hold
    /// and it answers them as duplicates instead of writing them twice.
    pub resend_bounds: VecDeque<(i64, i64)>,
    pub inflight: VecDeque<Sent>,
    /// The source offset after the last acknowledged batch.
    pub acked_offset: Option<i64>,
    /// Exactly-once mode: the source offset after the last batch whose
    /// transaction committed (with this position in it); an abort rewinds
    /// to it.
    pub committed_offset: Option<i64>,
    /// Where kmirror took the partition over from MirrorMaker 2 (kept in
    /// its progress commits).
    pub mm2_below: Option<i64>,
    /// Exactly-once mode: the partition belongs to the open transaction.
    pub in_txn: bool,
    pub reported_offset: Option<i64>,
    pub producer: Option<ProducerIdentity>,
    pub next_sequence: i32,
    pub acked_sequence: i32,
    /// A batch was acknowledged under the current producer identity. Until
    /// then only one batch is in flight: a broker that has no state for a
    /// producer accepts any first sequence, so a failed first batch followed
    /// by an accepted second one would leave a gap nothing detects.
    pub confirmed: bool,
    /// A batch sent after the last acknowledged one failed, and may not be
    /// written: acknowledgements of later batches cannot move the position
    /// past it (its records would be skipped). They join `unconfirmed` and
    /// go out again with it after the rewind, matched as duplicates.
    pub behind_failure: bool,
    pub status: Status,
    /// Why the last fetch's data could not be forwarded (a malformed
    /// record set, a CRC mismatch, a batch that inflates past the limit, an
    /// error the source keeps answering); cleared by a fetch that works.
    /// The same offset is fetched again after a backoff: nothing is skipped.
    pub defect: Option<String>,
    /// Not fetched before this instant, after fetch errors.
    pub fetch_retry_at: Option<Instant>,
    /// Fetch errors in a row, for the backoff.
    pub fetch_errors: u32,
    /// Produce failures since the last acknowledgement, for the backoff.
    pub produce_failures: u32,
    /// The source-to-target offset map from this run's acknowledgements
    /// (only its last point and its end are kept here; the control thread
    /// keeps the whole map).
    pub map: PartitionMap,
    /// Points of the map not yet reported to the control thread.
    pub unreported_points: Vec<Point>,
    pub preserve: Preserve,
    pub measured: Measured,
    /// Released, and its last position reported: the worker says nothing
    /// more about it (another instance may own it now).
    pub detached: bool,
}

/// The longest wait before a partition fetches again after fetch errors.
const MAX_FETCH_BACKOFF: std::time::Duration = std::time::Duration::from_secs(60);
/// The longest wait before a partition resends after produce failures.
const MAX_PRODUCE_BACKOFF: std::time::Duration = std::time::Duration::from_secs(10);

impl Partition {
    pub fn new(
        flow: usize,
        source_topic: Rc<str>,
        target_topic: Rc<str>,
        partition: i32,
        start: Option<i64>,
    ) -> Self {
        Partition {
            id: 0,
            flow,
            source_topic,
            target_topic,
            partition,
            src_leader: None,
            src_replica: None,
            tgt_leader: None,
            stream: 0,
            fetch_offset: start,
            out_of_range: false,
            queue: VecDeque::new(),
            queued_bytes: 0,
            pending: false,
            unconfirmed: Vec::new(),
            resend_bounds: VecDeque::new(),
            inflight: VecDeque::new(),
            acked_offset: start,
            committed_offset: start,
            mm2_below: None,
            in_txn: false,
            reported_offset: None,
            producer: None,
            next_sequence: 0,
            acked_sequence: 0,
            confirmed: false,
            behind_failure: false,
            status: Status::Active,
            defect: None,
            fetch_retry_at: None,
            fetch_errors: 0,
            produce_failures: 0,
            map: PartitionMap::default(),
            unreported_points: Vec::new(),
            preserve: Preserve::Off,
            measured: Measured::default(),
            detached: false,
        }
    }

    /// A fetch of this partition failed; returns how long it waits before
    /// fetching again: `base`, doubling with each error in a row, at most a
    /// minute.
    pub fn on_fetch_error(
        &mut self,
        now: Instant,
        base: std::time::Duration,
    ) -> std::time::Duration {
        let backoff = base
            .saturating_mul(1 << self.fetch_errors.min(10))
            .min(MAX_FETCH_BACKOFF);
        self.fetch_errors = self.fetch_errors.saturating_add(1);
        self.fetch_retry_at = Some(now + backoff);
        backoff
    }

    /// Fetched data could not be forwarded: recorded for the operator and
    /// fetched again after a backoff from a second on.
    pub fn on_fetch_defect(&mut self, reason: String, now: Instant) -> std::time::Duration {
        self.defect = Some(reason);
        self.on_fetch_error(now, std::time::Duration::from_secs(1))
    }

    /// A fetch of this partition worked.
    pub fn on_fetch_ok(&mut self) {
        self.defect = None;
        self.fetch_retry_at = None;
        self.fetch_errors = 0;
    }

    /// Whether an earlier fetch error keeps the partition from fetching at `now`.
    pub fn held_back(&self, now: Instant) -> bool {
        self.fetch_retry_at.is_some_and(|t| now < t)
    }

    pub fn is_active(&self) -> bool {
        self.status == Status::Active
    }

    pub fn is_failed(&self) -> bool {
        matches!(self.status, Status::Failed(_))
    }

    /// Failed, or given back to the fleet: no leader look-ups, no sends.
    pub fn is_stopped(&self) -> bool {
        matches!(self.status, Status::Failed(_) | Status::Released)
    }

    pub fn is_released(&self) -> bool {
        self.status == Status::Released
    }

    /// Gives the partition back: what was fetched and not sent is dropped;
    /// batches in flight may still be acknowledged.
    pub fn release(&mut self) {
        self.status = Status::Released;
        self.queue.clear();
        self.queued_bytes = 0;
    }

    /// The source broker to fetch from: the preferred read replica while it
    /// holds, else the leader.
    pub fn fetch_broker(&self, now: Instant) -> Option<i32> {
        self.src_leader?;
        match self.src_replica {
            Some((replica, until)) if now < until => Some(replica),
            _ => self.src_leader,
        }
    }

    /// Queues a fetched batch; the fetch position moves past it.
    pub fn enqueue(&mut self, batch: RecordBatch, next_offset: i64) {
        self.enqueue_with_runs(batch, next_offset, None);
    }

    /// [`Partition::enqueue`] for a batch rebuilt on the slow path, with the
    /// source offsets of its records.
    pub fn enqueue_with_runs(
        &mut self,
        batch: RecordBatch,
        next_offset: i64,
        runs: Option<Rc<[(i64, i32)]>>,
    ) {
        self.queued_bytes += batch.len();
        self.queue.push_back(Queued {
            batch,
            next_offset,
            runs,
            fetched_at: Instant::now(),
        });
        self.fetch_offset = Some(next_offset);
    }

    /// Moves past a batch that is not forwarded (control, aborted, empty):
    /// progress reaches `next_offset` once everything before it is acked.
    pub fn skip_to(&mut self, next_offset: i64) {
        if let Some(q) = self.queue.back_mut() {
            q.next_offset = q.next_offset.max(next_offset);
        } else if let Some(s) = self.inflight.back_mut() {
            s.next_offset = s.next_offset.max(next_offset);
        } else {
            self.acked_offset = Some(
                self.acked_offset
                    .map_or(next_offset, |a| a.max(next_offset)),
            );
            if let Some(point) = self.map.on_skip(next_offset) {
                self.add_point(point);
            }
        }
        self.fetch_offset = Some(next_offset);
    }

    /// The acknowledged batch `sent` landed at target offset `target_base`
    /// (negative when the broker did not say: a duplicate of a batch
    /// written before, whose mapping is already known).
    /// `from` is the acknowledged position before this batch.
    pub fn on_mapped(&mut self, sent: &Sent, target_base: i64, from: Option<i64>) {
        if target_base < 0 {
            return;
        }
        let first_source = sent
            .runs
            .as_ref()
            .and_then(|r| r.first())
            .map_or(sent.base_offset, |r| r.0);
        if let Some(from) = from.filter(|f| *f < first_source) {
            if let Some(point) = self.map.begin(from, target_base) {
                self.add_point(point);
            }
        }
        let Some(runs) = &sent.runs else {
            if let Some(point) = self.map.on_batch(
                sent.base_offset,
                sent.batch_end,
                sent.next_offset,
                target_base,
            ) {
                self.add_point(point);
            }
            return;
        };
        // A rebuilt batch: each run of consecutive source offsets is mapped
        // as a batch of its own, the holes between them as gaps.
        for (k, &(source, index)) in runs.iter().enumerate() {
            let (end, next) = match runs.get(k + 1) {
                Some(&(later, later_index)) => (source + i64::from(later_index - index), later),
                None => (source + i64::from(sent.records - index), sent.next_offset),
            };
            if let Some(point) =
                self.map
                    .on_batch(source, end, next, target_base + i64::from(index))
            {
                self.add_point(point);
            }
        }
    }

    fn add_point(&mut self, point: Point) {
        self.unreported_points.push(point);
        self.map.forget_below(point.upstream);
    }

    /// Whether another batch may be sent now under the in-flight limit.
    pub fn can_send(&self, max_in_flight: usize) -> bool {
        let limit = if self.confirmed { max_in_flight } else { 1 };
        self.is_active()
            && !self.queue.is_empty()
            && self.inflight.len() < limit
            && self.producer.is_some()
            && match self.preserve {
                Preserve::Off => true,
                Preserve::Unchecked => false,
                // A batch goes out only where it lands at its own offset;
                // a gap before it is filled first.
                Preserve::On { next, .. } => {
                    self.queue.front().map(Queued::first_source) == Some(next)
                }
            }
    }

    /// The partition's state for the metrics and `/health`.
    pub fn state(&self) -> State {
        if self.is_failed() {
            State::Stopped
        } else if self.defect.is_some() {
            State::Stalled
        } else if self.src_leader.is_none()
            || self.tgt_leader.is_none()
            || self.fetch_offset.is_none()
            || self.producer.is_none()
            || self.preserve == Preserve::Unchecked
        {
            State::Waiting
        } else {
            State::Active
        }
    }

    /// This report's sample, when there is anything new to say (an idle
    /// partition costs its report nothing); the counts start again from
    /// zero.
    pub fn take_sample(&mut self) -> Option<PartitionSample> {
        if self.is_released() {
            return None;
        }
        let state = self.state();
        let m = &mut self.measured;
        let now = (state, m.log_end, self.acked_offset);
        if m.records == 0 && m.latency.n == 0 && m.age.n == 0 && m.reported == Some(now) {
            return None;
        }
        let sample = PartitionSample {
            id: self.id,
            records: m.records,
            bytes: m.bytes,
            latency: m.latency,
            age: m.age,
            log_end: m.log_end,
            position: self.acked_offset,
            state,
        };
        *m = Measured {
            log_end: m.log_end,
            reported: Some(now),
            ..Measured::default()
        };
        Some(sample)
    }

    /// Offset-preserving mode: the target offsets `(from, to)` to fill with
    /// placeholders before anything else is sent, once nothing is in
    /// flight: up to the next batch's first offset, or, with nothing
    /// queued, up to the position (past trailing markers, so that a group
    /// committed at the source's end is at the target's end too).
    pub fn gap(&self) -> Option<(i64, i64)> {
        let Preserve::On { next, acked } = self.preserve else {
            return None;
        };
        if !self.is_active() || !self.inflight.is_empty() || next != acked {
            return None;
        }
        let to = match self.queue.front() {
            Some(q) => q.first_source(),
            None => self.acked_offset?,
        };
        (to > next).then_some((next, to))
    }

    /// Placeholders now fill the target up to `to`.
    pub fn on_filled(&mut self, to: i64) {
        if let Preserve::On { .. } = self.preserve {
            self.preserve = Preserve::On {
                next: to,
                acked: to,
            };
        }
    }

    /// Offset-preserving mode ends for this partition (the log says why).
    pub fn stop_preserving(&mut self) {
        self.preserve = Preserve::Off;
    }

    /// Offset-preserving mode: checks that the acknowledged batch `sent`
    /// landed at its source offset `target_base`; the reason it did not
    /// otherwise (the caller stops preserving).
    pub fn check_preserved(&mut self, sent: &Sent, target_base: i64) -> Option<String> {
        let Preserve::On { next, .. } = self.preserve else {
            return None;
        };
        let first = sent.first_source();
        let end = first + i64::from(sent.records);
        if target_base < 0 || target_base == first {
            self.preserve = Preserve::On { next, acked: end };
            return None;
        }
        Some(format!(
            "the batch with source offsets {first}..{end} landed at target offset {target_base}"
        ))
    }

    /// Offset-preserving mode: why the next batch can never land at its
    /// source offset (it starts below what the target already holds), if so.
    pub fn preserve_conflict(&self) -> Option<String> {
        let Preserve::On { next, acked } = self.preserve else {
            return None;
        };
        let first = self.queue.front()?.first_source();
        (self.inflight.is_empty() && next == acked && first < next).then(|| {
            format!("the next batch starts at source offset {first}, below target offset {next} already written")
        })
    }

    /// Takes the next batch, stamped with the producer's fields and the next
    /// sequence number (and the transactional bit in exactly-once mode).
    pub fn take_next(&mut self, idempotent: bool, transactional: bool) -> Option<OutBatch> {
        let q = self.queue.pop_front()?;
        self.queued_bytes -= q.batch.len();
        let records = q.batch.record_count();
        let rewrite = match (idempotent || transactional, self.producer) {
            (true, Some(p)) => BatchRewrite {
                producer_id: p.producer_id,
                producer_epoch: p.epoch,
                base_sequence: self.next_sequence,
                transactional,
            },
            _ => BatchRewrite::NON_IDEMPOTENT,
        };
        let out = q.batch.rewrite(&rewrite);
        if let Preserve::On { acked, .. } = self.preserve {
            self.preserve = Preserve::On {
                next: q.first_source() + i64::from(records),
                acked,
            };
        }
        self.inflight.push_back(Sent {
            base_offset: q.batch.base_offset(),
            batch_end: q.batch.next_offset(),
            next_offset: q.next_offset,
            runs: q.runs.clone(),
            sequence: self.next_sequence,
            records,
            bytes: q.batch.len(),
            max_timestamp: q.batch.max_timestamp(),
            fetched_at: q.fetched_at,
        });
        self.next_sequence = next_sequence(self.next_sequence, records);
        Some(out)
    }

    /// The oldest in-flight batch was acknowledged: the batch, or `None`
    /// when it is behind a failed one (see [`Partition::behind_failure`]).
    pub fn on_ack(&mut self) -> Option<Sent> {
        let s = self.inflight.pop_front()?;
        if self.behind_failure {
            self.unconfirmed.push((s.first_source(), s.batch_end));
            return None;
        }
        self.confirmed = true;
        self.produce_failures = 0;
        self.acked_offset = Some(s.next_offset);
        self.acked_sequence = next_sequence(s.sequence, s.records);
        Some(s)
    }

    /// The oldest in-flight batch failed in a way worth retrying; the
    /// partition resends after `base`, doubled for each failure since the
    /// last acknowledgement (at most 10 s).
    pub fn on_retriable_failure(
        &mut self,
        reset_producer: bool,
        now: Instant,
        base: std::time::Duration,
    ) -> Option<Sent> {
        let s = self.inflight.pop_front();
        if let Some(s) = &s {
            self.unconfirmed.push((s.first_source(), s.batch_end));
            self.behind_failure = true;
        }
        match &mut self.status {
            Status::Failed(_) | Status::Released => {}
            Status::Recovering {
                reset_producer: r, ..
            } => *r |= reset_producer,
            Status::Active => {
                let backoff = base
                    .saturating_mul(1 << self.produce_failures.min(10))
                    .min(MAX_PRODUCE_BACKOFF);
                self.produce_failures = self.produce_failures.saturating_add(1);
                self.status = Status::Recovering {
                    reset_producer,
                    retry_at: now + backoff,
                }
            }
        }
        s
    }

    /// The partition stops: nothing after the failed batch is produced.
    pub fn fail(&mut self, reason: String) {
        self.drop_failed();
        if !self.is_stopped() {
            self.status = Status::Failed(reason);
        }
        self.queue.clear();
        self.queued_bytes = 0;
    }

    /// The source log no longer holds the position (deleted or truncated
    /// there): resume at `offset`. Batches sent from the old position and
    /// not acknowledged may be on the target under this producer, and the
    /// sequences carried on from here could match one of them (the target
    /// would answer it as a duplicate and write nothing); then, unless
    /// `transactional` (an abort gives those a new epoch), the partition
    /// waits for a new producer id first.
    pub fn jump_to(&mut self, offset: i64, transactional: bool) {
        self.fetch_offset = Some(offset);
        self.acked_offset = Some(offset);
        let on_target =
            !self.unconfirmed.is_empty() || !self.resend_bounds.is_empty() || self.behind_failure;
        self.unconfirmed.clear();
        self.resend_bounds.clear();
        self.behind_failure = false;
        if on_target && !transactional {
            self.await_new_producer();
        }
    }

    /// A range sent before a failure cannot be sent again as it was (the
    /// source log changed there since): the sequences carried on could
    /// match a batch of that range the target holds, and it would take
    /// other records for it. The partition waits for a new producer id and
    /// fetches again from its position (records the target holds may then
    /// be written twice, as at-least-once allows; exactly-once partitions
    /// never resend ranges, their aborts take a new epoch).
    pub fn give_up_resend(&mut self) {
        self.resend_bounds.clear();
        self.await_new_producer();
    }

    /// An active partition stops sending until the resolver has a new
    /// producer id for it, then resumes from its acknowledged position.
    fn await_new_producer(&mut self) {
        if self.is_active() {
            self.status = Status::Recovering {
                reset_producer: true,
                retry_at: Instant::now(),
            };
        }
    }

    /// The oldest in-flight batch was refused for good: nothing after it
    /// moves the position.
    pub fn drop_failed(&mut self) {
        if self.inflight.pop_front().is_some() {
            self.behind_failure = true;
        }
    }

    /// After a failure, once nothing is in flight: drop what was fetched and
    /// resume from the last acknowledged batch with its sequence.
    pub fn rewind(&mut self) {
        debug_assert!(self.inflight.is_empty());
        self.behind_failure = false;
        self.queue.clear();
        self.queued_bytes = 0;
        self.fetch_offset = self.acked_offset;
        self.next_sequence = self.acked_sequence;
        self.status = Status::Active;
        let acked = self.acked_offset.unwrap_or(i64::MIN);
        let mut ahead: Vec<(i64, i64)> = self
            .unconfirmed
            .drain(..)
            .filter(|(first, _)| *first >= acked)
            .collect();
        ahead.sort_unstable();
        ahead.dedup();
        self.resend_bounds = ahead.into();
        if let Preserve::On { acked, .. } = self.preserve {
            self.preserve = Preserve::On { next: acked, acked };
        }
    }

    /// Exactly-once mode: the transaction holding this partition's batches
    /// committed; everything acknowledged is now committed.
    pub fn on_txn_committed(&mut self) {
        self.committed_offset = self.acked_offset;
        self.in_txn = false;
    }

    /// Exactly-once mode: the transaction was aborted (its batches are
    /// discarded by the target): drop what was fetched and resume from the
    /// last committed position under `producer`, whose sequences start at 0.
    /// A failed partition stays failed.
    pub fn on_txn_aborted(&mut self, producer: Option<ProducerIdentity>) {
        // The target discards the aborted batches: nothing to match.
        self.unconfirmed.clear();
        self.resend_bounds.clear();
        self.behind_failure = false;
        self.in_txn = false;
        self.inflight.clear();
        self.queue.clear();
        self.queued_bytes = 0;
        self.fetch_offset = self.committed_offset;
        self.acked_offset = self.committed_offset;
        self.producer = None;
        if let Some(p) = producer {
            self.adopt_producer(p);
        }
        if !self.is_stopped() {
            self.status = Status::Active;
        }
    }

    /// Switches to a new producer identity; sequences restart at 0.
    pub fn adopt_producer(&mut self, p: ProducerIdentity) {
        if self.producer != Some(p) {
            self.producer = Some(p);
            self.confirmed = false;
            self.next_sequence = 0;
            self.acked_sequence = 0;
        }
    }
}

/// Sequence numbers wrap from i32::MAX to 0, as Kafka's do.
pub fn next_sequence(seq: i32, records: i32) -> i32 {
    ((seq as i64 + records as i64) % (i32::MAX as i64 + 1)) as i32
}

#[cfg(test)]
mod tests {
    use super::*;
    use kmirror_proto::compression::Compression;
    use kmirror_proto::records::{encode_batch, BatchMeta, NewRecord};

    fn batch(base: i64, n: i32) -> RecordBatch {
        let recs: Vec<NewRecord> = (0..n)
            .map(|i| NewRecord {
                offset_delta: i,
                timestamp: 1,
                key: None,
                value: Some(bytes::Bytes::from_static(b"v")),
                headers: vec![],
            })
            .collect();
        RecordBatch::parse(
            encode_batch(
                &BatchMeta {
                    base_offset: base,
                    partition_leader_epoch: 0,
                    compression: Compression::None,
                    log_append_time: false,
                    producer_id: -1,
                    producer_epoch: -1,
                    base_sequence: -1,
                    transactional: false,
                },
                &recs,
            )
            .unwrap(),
        )
        .unwrap()
    }

    fn part() -> Partition {
        let mut p = Partition::new(0, "t".into(), "A.t".into(), 0, Some(0));
        p.adopt_producer(ProducerIdentity {
            producer_id: 7,
            epoch: 0,
            generation: 1,
        });
        p
    }

    #[test]
    fn acks_advance_progress_and_sequences() {
        let mut p = part();
        p.enqueue(batch(0, 3), 3);
        p.skip_to(5); // a control batch at 3..5
        p.enqueue(batch(5, 2), 7);
        p.confirmed = true;
        let a = p.take_next(true, false).unwrap();
        let b = p.take_next(true, false).unwrap();
        let ra = RecordBatch::parse(a.to_contiguous()).unwrap();
        let rb = RecordBatch::parse(b.to_contiguous()).unwrap();
        assert_eq!((ra.base_sequence(), rb.base_sequence()), (0, 3));
        p.on_ack();
        assert_eq!(p.acked_offset, Some(5));
        p.on_ack();
        assert_eq!(p.acked_offset, Some(7));
        assert_eq!(p.acked_sequence, 5);
    }

    #[test]
    fn a_released_partition_sends_nothing_new_and_stays_released() {
        let mut p = part();
        p.enqueue(batch(0, 2), 2);
        p.enqueue(batch(2, 2), 4);
        p.enqueue(batch(4, 2), 6);
        p.confirmed = true;
        p.take_next(true, false);
        p.take_next(true, false);
        p.release();
        assert!(p.is_released() && p.is_stopped() && !p.is_failed());
        assert!(p.queue.is_empty() && !p.can_send(5));
        assert!(p.take_sample().is_none(), "its owner reports it now");
        // What was in flight is still acknowledged: the position the
        // release commits covers it.
        p.on_ack();
        assert_eq!(p.acked_offset, Some(2));
        // Failures of the rest neither revive nor fail it.
        p.on_retriable_failure(true, Instant::now(), std::time::Duration::from_millis(1));
        assert!(p.is_released());
        p.fail("rejected".into());
        assert!(p.is_released());
        p.on_txn_aborted(None);
        assert!(p.is_released(), "an abort does not revive it");
        assert_eq!(p.acked_offset, Some(0), "an abort rewinds to the commit");
    }

    #[test]
    fn one_batch_in_flight_until_the_first_ack() {
        let mut p = part();
        p.enqueue(batch(0, 1), 1);
        p.enqueue(batch(1, 1), 2);
        assert!(p.can_send(5));
        p.take_next(true, false);
        assert!(
            !p.can_send(5),
            "a second batch before the first ack could land after a failed first"
        );
        p.on_ack();
        assert!(p.can_send(5));
    }

    #[test]
    fn failure_rewinds_to_last_ack() {
        let mut p = part();
        p.enqueue(batch(0, 2), 2);
        p.enqueue(batch(2, 2), 4);
        p.enqueue(batch(4, 2), 6);
        p.confirmed = true;
        p.take_next(true, false);
        p.take_next(true, false);
        p.on_ack();
        p.on_retriable_failure(false, Instant::now(), std::time::Duration::from_millis(100));
        assert!(!p.is_active());
        p.rewind();
        assert_eq!(p.fetch_offset, Some(2));
        assert_eq!(p.next_sequence, 2);
        assert!(p.queue.is_empty());
        // The failed batch may be on the target: it is resent as it was.
        assert_eq!(p.resend_bounds, [(2, 4)]);
    }

    #[test]
    fn an_ack_behind_a_failed_batch_does_not_move_the_position() {
        let mut p = part();
        for base in [0, 2, 4] {
            p.enqueue(batch(base, 2), base + 2);
        }
        p.confirmed = true;
        for _ in 0..3 {
            p.take_next(true, false);
        }
        p.on_ack();
        // 2..4 fails (it may not be written); 4..6 is acknowledged (a
        // broker that forgot the producer takes any sequence).
        p.on_retriable_failure(false, Instant::now(), std::time::Duration::from_millis(1));
        assert!(p.on_ack().is_none(), "no map point, no progress");
        assert_eq!((p.acked_offset, p.acked_sequence), (Some(2), 2));
        p.rewind();
        assert_eq!(p.fetch_offset, Some(2));
        assert_eq!(p.resend_bounds, [(2, 4), (4, 6)]);
        assert!(!p.behind_failure);
    }

    #[test]
    fn a_refused_batch_holds_the_position_of_a_stopped_or_released_partition() {
        for released in [false, true] {
            let mut p = part();
            p.enqueue(batch(0, 2), 2);
            p.enqueue(batch(2, 2), 4);
            p.confirmed = true;
            p.take_next(true, false);
            p.take_next(true, false);
            if released {
                p.release();
                p.drop_failed();
            } else {
                p.fail("rejected".into());
                assert!(p.is_failed());
            }
            // Without idempotence the target takes the next batch anyway:
            // committing past the refused one would skip it after a restart
            // or on the next owner.
            p.on_ack();
            assert_eq!(p.acked_offset, Some(0), "released: {released}");
        }
    }

    #[test]
    fn a_jump_past_batches_the_target_may_hold_takes_a_new_producer() {
        let mut p = part();
        p.enqueue(batch(0, 2), 2);
        p.confirmed = true;
        p.take_next(true, false);
        p.on_retriable_failure(false, Instant::now(), std::time::Duration::from_millis(1));
        p.rewind();
        assert_eq!(p.resend_bounds, [(0, 2)]);
        // The source deleted 0..300 before the refetch.
        p.jump_to(300, false);
        assert_eq!((p.fetch_offset, p.acked_offset), (Some(300), Some(300)));
        assert!(p.resend_bounds.is_empty());
        assert!(matches!(
            p.status,
            Status::Recovering {
                reset_producer: true,
                ..
            }
        ));
        // Nothing unacknowledged: the sequences carry on as they are.
        let mut q = part();
        q.jump_to(300, false);
        assert!(q.is_active());
    }

    #[test]
    fn every_failed_batch_ahead_of_the_ack_is_resent_as_it_was() {
        let mut p = part();
        for base in [0, 2, 4, 6] {
            p.enqueue(batch(base, 2), base + 2);
        }
        p.confirmed = true;
        for _ in 0..4 {
            p.take_next(true, false);
        }
        let now = Instant::now();
        p.on_ack();
        // The rest fail one by one as their answers come back.
        for _ in 0..3 {
            p.on_retriable_failure(false, now, std::time::Duration::from_millis(1));
        }
        p.rewind();
        assert_eq!(p.resend_bounds, [(2, 4), (4, 6), (6, 8)]);
        assert!(p.unconfirmed.is_empty());
        p.on_txn_aborted(None);
        assert!(p.resend_bounds.is_empty());
    }

    #[test]
    fn an_abort_rewinds_to_the_last_commit_not_the_last_ack() {
        let mut p = part();
        p.enqueue(batch(0, 2), 2);
        p.enqueue(batch(2, 2), 4);
        p.confirmed = true;
        let out = p.take_next(true, true).unwrap();
        assert!(RecordBatch::parse(out.to_contiguous())
            .unwrap()
            .is_transactional());
        p.on_ack();
        p.on_txn_committed();
        assert_eq!(p.committed_offset, Some(2));
        p.take_next(true, true);
        p.on_ack();
        assert_eq!(p.acked_offset, Some(4));
        let next = ProducerIdentity {
            producer_id: 7,
            epoch: 1,
            generation: 2,
        };
        p.on_txn_aborted(Some(next));
        assert_eq!((p.fetch_offset, p.acked_offset), (Some(2), Some(2)));
        assert_eq!((p.next_sequence, p.producer), (0, Some(next)));
        assert!(p.is_active() && p.queue.is_empty());
    }

    #[test]
    fn skip_with_nothing_pending_moves_progress() {
        let mut p = part();
        p.skip_to(10);
        assert_eq!(p.acked_offset, Some(10));
        assert_eq!(p.fetch_offset, Some(10));
    }

    #[test]
    fn fetch_defects_back_off_and_clear() {
        let mut p = part();
        let now = Instant::now();
        assert_eq!(p.on_fetch_defect("bad".into(), now).as_secs(), 1);
        assert_eq!(p.on_fetch_defect("bad".into(), now).as_secs(), 2);
        assert!(p.held_back(now));
        for _ in 0..10 {
            p.on_fetch_defect("bad".into(), now);
        }
        assert_eq!(
            p.fetch_retry_at.unwrap() - now,
            std::time::Duration::from_secs(60)
        );
        assert!(!p.held_back(now + std::time::Duration::from_secs(61)));
        p.on_fetch_ok();
        assert!(p.defect.is_none() && !p.held_back(now));
        assert_eq!(
            p.on_fetch_error(now, std::time::Duration::from_millis(100))
                .as_millis(),
            100
        );
    }

    #[test]
    fn preserving_sends_only_where_a_batch_lands_at_its_own_offset() {
        let mut p = part();
        p.preserve = Preserve::Unchecked;
        p.enqueue(batch(0, 3), 3);
        assert!(
            !p.can_send(5),
            "nothing goes out before the target is checked"
        );
        p.preserve = Preserve::On { next: 0, acked: 0 };
        assert_eq!(p.gap(), None);
        assert!(p.can_send(5));
        p.take_next(true, false);
        p.skip_to(5); // a marker and an aborted batch at 3..5
        p.enqueue(batch(5, 2), 7);
        p.confirmed = true;
        assert!(!p.can_send(5), "offsets 3..5 come first");
        assert_eq!(p.gap(), None, "not while a batch is in flight");
        let s = p.on_ack().unwrap();
        assert_eq!(p.check_preserved(&s, 0), None);
        assert_eq!(p.gap(), Some((3, 5)));
        p.on_filled(5);
        assert_eq!(p.gap(), None);
        assert!(p.can_send(5));
        p.take_next(true, false);
        let s = p.on_ack().unwrap();
        assert!(p
            .check_preserved(&s, 9)
            .unwrap()
            .contains("source offsets 5..7 landed at target offset 9"));
    }

    #[test]
    fn preserving_fills_past_trailing_markers_and_rewinds_to_the_last_ack() {
        let mut p = part();
        p.preserve = Preserve::On { next: 0, acked: 0 };
        p.enqueue(batch(0, 2), 2);
        p.enqueue(batch(2, 2), 4);
        p.confirmed = true;
        p.take_next(true, false);
        p.take_next(true, false);
        assert_eq!(p.preserve, Preserve::On { next: 4, acked: 0 });
        let s = p.on_ack().unwrap();
        p.check_preserved(&s, 0);
        p.on_retriable_failure(false, Instant::now(), std::time::Duration::from_millis(1));
        p.rewind();
        assert_eq!(p.preserve, Preserve::On { next: 2, acked: 2 });
        // The last batch, then a commit marker and nothing after it.
        p.enqueue(batch(2, 2), 4);
        p.take_next(true, false);
        p.skip_to(5);
        let s = p.on_ack().unwrap();
        p.check_preserved(&s, 2);
        assert_eq!(p.gap(), Some((4, 5)));
        // A batch below what the target holds can never land in place.
        p.on_filled(5);
        p.enqueue(batch(3, 1), 4);
        assert!(p.preserve_conflict().unwrap().contains("source offset 3"));
    }

    #[test]
    fn samples_only_say_what_is_new_and_lost_ones_are_put_back() {
        let mut p = part();
        p.src_leader = Some(1);
        p.tgt_leader = Some(2);
        let first = p.take_sample().unwrap();
        assert_eq!((first.state, first.position), (State::Active, Some(0)));
        assert!(p.take_sample().is_none(), "nothing new: no sample");
        p.measured.records = 5;
        p.measured.latency.record(7);
        let lost = p.take_sample().unwrap();
        assert_eq!(lost.records, 5);
        p.measured.records = 2;
        p.measured.put_back(&lost);
        let again = p.take_sample().unwrap();
        assert_eq!(
            (again.records, again.latency.n, again.latency.max),
            (7, 1, 7)
        );
        p.fail("rejected".into());
        assert_eq!(p.take_sample().unwrap().state, State::Stopped);
    }

    #[test]
    fn sequence_wraps() {
        assert_eq!(next_sequence(i32::MAX, 1), 0);
        assert_eq!(next_sequence(i32::MAX - 1, 3), 1);
    }
}
