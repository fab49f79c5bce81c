//! Totals of a run, for the live readout and the final summary.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use crate::mirror::messages::Failure;

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

#[derive(Debug)]
pub struct Summary {
    pub counts: Counters,
    pub elapsed: Duration,
    pub failures: Vec<Failure>,
    /// Partitions waiting out a fetch defect when the mirror stopped.
    pub stalled: Vec<Failure>,
    /// Source topics not mirrored, with the reason.
    pub refused: Vec<(String, String)>,
    /// Flows stopped by refused credentials, certificates or permissions.
    pub stopped_flows: Vec<String>,
    pub partitions: usize,
    /// Produce requests still unanswered at the shutdown deadline.
    pub abandoned: usize,
    /// The most receive-buffer bytes held at once.
    pub peak_buffer_bytes: usize,
    /// Bytes copied on the TLS slow path (decrypted out of rustls, and
    /// encrypted records gathered for the socket).
    pub tls_copied_bytes: u64,
    /// TLS handshakes, and how many resumed an earlier session.
    pub tls_handshakes: (u64, u64),
}

impl Summary {
    pub fn new() -> Summary {
        Summary {
            counts: Counters::new(),
            elapsed: Duration::ZERO,
            failures: Vec::new(),
            stalled: Vec::new(),
            refused: Vec::new(),
            stopped_flows: Vec::new(),
            partitions: 0,
            abandoned: 0,
            peak_buffer_bytes: 0,
            tls_copied_bytes: 0,
            tls_handshakes: (0, 0),
        }
    }

    pub fn mb_per_sec(&self) -> f64 {
        let s = self.elapsed.as_secs_f64();
        if s <= 0.0 {
            0.0
        } else {
            self.counts.bytes as f64 / 1e6 / s
        }
    }

    /// Record batch megabytes per second over the time the mirror was busy
    /// (first to last acknowledgement), or 0 before two acknowledgements.
    pub fn active_mb_per_sec(&self) -> f64 {
        let s = self.counts.active().as_secs_f64();
        if s <= 0.0 {
            0.0
        } else {
            self.counts.acked_bytes as f64 / 1e6 / s
        }
    }

    /// The closing lines kmirror prints: what was mirrored, how fast, with
    /// what latency, and what it cost.
    pub fn render(&self) -> String {
        let c = &self.counts;
        let mut s = format!(
            "kmirror summary: {} records, {:.1} MB in {} batches over {} partitions; ran {:.1} s, mirroring for {:.1} s of it at {:.1} MB/s ({:.1} MB/s over the whole run)",
            c.records,
            c.bytes as f64 / 1e6,
            c.batches,
            self.partitions,
            self.elapsed.as_secs_f64(),
            c.active().as_secs_f64(),
            self.active_mb_per_sec(),
            self.mb_per_sec(),
        );
        s.push_str(&format!(
            "\n  latency kmirror added (its fetch response read to the target's acknowledgement, per batch): p50 {:.1} ms, p99 {:.1} ms, p99.9 {:.1} ms",
            c.added_ms(0.50),
            c.added_ms(0.99),
            c.added_ms(0.999),
        ));
        s.push_str(&format!(
            "\n  latency end to end (source record timestamp to the target's acknowledgement, so it includes the producer's own wait and the source broker): p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            c.latency_ms(0.50),
            c.latency_ms(0.99),
            if c.latency_us.is_empty() { 0.0 } else { c.latency_us.max() as f64 / 1000.0 },
        ));
        s.push_str(&format!(
            "\n  work: slow-path copies {} bytes in {} re-encoded batches; {} fetch requests, {} of them in fetch sessions; peak buffer memory {:.1} MB; {} produce requests abandoned at the shutdown deadline",
            c.copied_bytes,
            c.reencoded_batches,
            c.fetch_requests,
            c.session_fetches,
            self.peak_buffer_bytes as f64 / 1e6,
            self.abandoned,
        ));
        if c.recompressed_batches > 0 {
            s.push_str(&format!(
                "; {} of the re-encoded batches recompressed into the producer's compression.type ({} bytes)",
                c.recompressed_batches, c.recompressed_bytes
            ));
        }
        if c.routed_batches > 0 {
            s.push_str(&format!(
                "; {} source batches routed to targets with another partition count ({} bytes rebuilt)",
                c.routed_batches, c.routed_bytes
            ));
        }
        if self.tls_copied_bytes > 0 {
            s.push_str(&format!(
                "; TLS copies {} bytes, {} handshakes ({} resumed)",
                self.tls_copied_bytes, self.tls_handshakes.0, self.tls_handshakes.1
            ));
        }
        if c.txn_commits + c.txn_aborts > 0 {
            s.push_str(&format!(
                "; {} transactions committed, {} aborted",
                c.txn_commits, c.txn_aborts
            ));
        }
        if c.placeholder_fills + c.preserve_stopped > 0 {
            s.push_str(&format!(
                "; offsets preserved with {} placeholder fills ({} target offsets), {} partitions left offset-preserving mode (the log says why)",
                c.placeholder_fills, c.placeholder_offsets, c.preserve_stopped
            ));
        }
        for f in &self.failures {
            s.push_str(&format!(
                "\n  stopped partition {}[{}]: {}",
                f.source_topic, f.partition, f.reason
            ));
        }
        for reason in &self.stopped_flows {
            s.push_str(&format!("\n  stopped flow {reason}"));
        }
        for (topic, reason) in &self.refused {
            s.push_str(&format!("\n  refused topic {topic}: {reason}"));
        }
        for f in &self.stalled {
            s.push_str(&format!(
                "\n  partition {}[{}] was waiting to fetch again: {}",
                f.source_topic, f.partition, f.reason
            ));
        }
        s
    }
}

impl Default for Summary {
    fn default() -> Self {
        Summary::new()
    }
}
