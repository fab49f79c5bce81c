//! What the data path counts (a worker's since its last report, a readout
//! line's since the last line, the run's in all) and the latency histograms.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use crate::client::fetch_stream::SpliceCounts;

/// Batches whose newest record's source timestamp (ms since the epoch) is
/// older than this are left out of the latency histograms. Only the demo
/// sets it, past its producer's warm-up, so that the figures it prints
/// describe the steady stream; it is `i64::MIN` (everything counts)
/// otherwise.
pub static MEASURE_FROM_MS: AtomicI64 = AtomicI64::new(i64::MIN);

/// Whether a batch with this newest timestamp counts in the latencies.
pub fn measured(max_timestamp: i64) -> bool {
    max_timestamp >= MEASURE_FROM_MS.load(Ordering::Relaxed)
}

/// A histogram of latencies in microseconds, 1 µs to 1 hour, 3 significant digits.
pub fn latency_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid histogram bounds")
}

/// What the data path counts: a worker's since its last report, a readout
/// line's since the last line, the run's in all.
#[derive(Debug)]
pub struct Counters {
    pub records: u64,
    pub bytes: u64,
    pub batches: u64,
    /// Record bytes copied on slow paths (re-encoded batches).
    pub copied_bytes: u64,
    pub reencoded_batches: u64,
    /// Of those, batches recompressed into the producer file's
    /// `compression.type`, and their bytes.
    pub recompressed_batches: u64,
    pub recompressed_bytes: u64,
    /// Batches mirrored on the partition-count mismatch path, and the
    /// bytes it rebuilt (also in `copied_bytes`).
    pub routed_batches: u64,
    pub routed_bytes: u64,
    /// Source batches merged into the batch before them (coalescing), and
    /// the bytes of the merged batches built (not in `copied_bytes`).
    pub coalesced_batches: u64,
    pub coalesced_bytes: u64,
    /// Where the bytes of Fetch responses read on the splice path went.
    pub splice: SpliceCounts,
    /// Fetches read again with copying because a spliced batch could not
    /// go out as it came.
    pub splice_refetches: u64,
    pub fetch_requests: u64,
    pub produce_requests: u64,
    /// Kafka errors in answers, by request (`fetch`, `produce`) and error
    /// code: the request's own and each partition's.
    pub errors: BTreeMap<(&'static str, i16), u64>,
    /// Fetch requests sent as increments of a fetch session (KIP-227).
    pub session_fetches: u64,
    /// Exactly-once mode: transactions committed and aborted.
    pub txn_commits: u64,
    pub txn_aborts: u64,
    /// Offset-preserving mode: gaps filled, the target offsets they took,
    /// and partitions that left the mode.
    pub placeholder_fills: u64,
    pub placeholder_offsets: u64,
    pub preserve_stopped: u64,
    /// Source record timestamp to produce acknowledgement, in microseconds.
    pub latency_us: Histogram<u64>,
    /// The latency kmirror itself adds: its fetch response read to the
    /// target's acknowledgement, per batch, in microseconds.
    pub added_us: Histogram<u64>,
    /// The first and the last acknowledgement of a batch that carried
    /// records: the span the mirror was busy mirroring, and the batch bytes
    /// acknowledged in it (both only of measured batches, see
    /// [`MEASURE_FROM_MS`]).
    pub acked_span: Option<(Instant, Instant)>,
    pub acked_bytes: u64,
}

impl Counters {
    pub fn new() -> Counters {
        Counters {
            records: 0,
            bytes: 0,
            batches: 0,
            copied_bytes: 0,
            reencoded_batches: 0,
            recompressed_batches: 0,
            recompressed_bytes: 0,
            routed_batches: 0,
            routed_bytes: 0,
            coalesced_batches: 0,
            coalesced_bytes: 0,
            splice: SpliceCounts::default(),
            splice_refetches: 0,
            fetch_requests: 0,
            produce_requests: 0,
            errors: BTreeMap::new(),
            session_fetches: 0,
            txn_commits: 0,
            txn_aborts: 0,
            placeholder_fills: 0,
            placeholder_offsets: 0,
            preserve_stopped: 0,
            latency_us: latency_histogram(),
            added_us: latency_histogram(),
            acked_span: None,
            acked_bytes: 0,
        }
    }

    pub fn add(&mut self, other: &Counters) {
        self.records += other.records;
        self.bytes += other.bytes;
        self.batches += other.batches;
        self.copied_bytes += other.copied_bytes;
        self.reencoded_batches += other.reencoded_batches;
        self.recompressed_batches += other.recompressed_batches;
        self.recompressed_bytes += other.recompressed_bytes;
        self.routed_batches += other.routed_batches;
        self.routed_bytes += other.routed_bytes;
        self.coalesced_batches += other.coalesced_batches;
        self.coalesced_bytes += other.coalesced_bytes;
        self.splice.add(&other.splice);
        self.splice_refetches += other.splice_refetches;
        self.fetch_requests += other.fetch_requests;
        self.produce_requests += other.produce_requests;
        for (k, n) in &other.errors {
            *self.errors.entry(*k).or_insert(0) += n;
        }
        self.session_fetches += other.session_fetches;
        self.txn_commits += other.txn_commits;
        self.txn_aborts += other.txn_aborts;
        self.placeholder_fills += other.placeholder_fills;
        self.placeholder_offsets += other.placeholder_offsets;
        self.preserve_stopped += other.preserve_stopped;
        let _ = self.latency_us.add(&other.latency_us);
        let _ = self.added_us.add(&other.added_us);
        self.acked_bytes += other.acked_bytes;
        self.acked_span = match (self.acked_span, other.acked_span) {
            (Some(a), Some(b)) => Some((a.0.min(b.0), a.1.max(b.1))),
            (a, b) => a.or(b),
        };
    }

    /// A Kafka error `code` in the answer to a `request`.
    pub fn error(&mut self, request: &'static str, code: i16) {
        *self.errors.entry((request, code)).or_insert(0) += 1;
    }

    /// An acknowledgement of `bytes` of records at `at`.
    pub fn acked_at(&mut self, at: Instant, bytes: u64) {
        self.acked_bytes += bytes;
        self.acked_span = Some(match self.acked_span {
            Some((first, last)) => (first.min(at), last.max(at)),
            None => (at, at),
        });
    }

    /// How long the mirror was busy: first to last acknowledgement.
    pub fn active(&self) -> Duration {
        self.acked_span.map_or(Duration::ZERO, |(a, b)| b - a)
    }

    pub fn latency_ms(&self, quantile: f64) -> f64 {
        quantile_ms(&self.latency_us, quantile)
    }

    pub fn added_ms(&self, quantile: f64) -> f64 {
        quantile_ms(&self.added_us, quantile)
    }
}

/// A quantile of a histogram of microseconds, in milliseconds (0 when empty).
fn quantile_ms(h: &Histogram<u64>, quantile: f64) -> f64 {
    if h.is_empty() {
        0.0
    } else {
        h.value_at_quantile(quantile) as f64 / 1000.0
    }
}

impl Default for Counters {
    fn default() -> Self {
        Counters::new()
    }
}
