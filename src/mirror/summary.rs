//! Totals of a run, for the live readout and the final summary.

use std::time::Duration;

use hdrhistogram::Histogram;

use crate::mirror::messages::Failure;

/// A histogram of latencies in microseconds, 1 µs to 1 hour, 3 significant digits.
pub fn latency_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid histogram bounds")
}

#[derive(Debug)]
pub struct Summary {
    pub records: u64,
    pub bytes: u64,
    pub batches: u64,
    pub copied_bytes: u64,
    pub reencoded_batches: u64,
    pub fetch_requests: u64,
    pub session_fetches: u64,
    pub elapsed: Duration,
    pub latency_us: Histogram<u64>,
    pub failures: Vec<Failure>,
    pub partitions: usize,
}

impl Summary {
    pub fn new() -> Summary {
        Summary {
            records: 0,
            bytes: 0,
            batches: 0,
            copied_bytes: 0,
            reencoded_batches: 0,
            fetch_requests: 0,
            session_fetches: 0,
            elapsed: Duration::ZERO,
            latency_us: latency_histogram(),
            failures: Vec::new(),
            partitions: 0,
        }
    }

    pub fn mb_per_sec(&self) -> f64 {
        let s = self.elapsed.as_secs_f64();
        if s <= 0.0 {
            0.0
        } else {
            self.bytes as f64 / 1e6 / s
        }
    }

    pub fn latency_ms(&self, quantile: f64) -> f64 {
        if self.latency_us.is_empty() {
            return 0.0;
        }
        self.latency_us.value_at_quantile(quantile) as f64 / 1000.0
    }

    /// The closing lines kmirror prints.
    pub fn render(&self) -> String {
        let mut s = format!(
            "kmirror summary: {} records, {:.1} MB in {:.1} s ({:.1} MB/s), {} batches over {} partitions; end-to-end latency p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; slow-path copies {} bytes in {} re-encoded batches; {} fetch requests, {} of them in fetch sessions",
            self.records,
            self.bytes as f64 / 1e6,
            self.elapsed.as_secs_f64(),
            self.mb_per_sec(),
            self.batches,
            self.partitions,
            self.latency_ms(0.50),
            self.latency_ms(0.99),
            if self.latency_us.is_empty() { 0.0 } else { self.latency_us.max() as f64 / 1000.0 },
            self.copied_bytes,
            self.reencoded_batches,
            self.fetch_requests,
            self.session_fetches,
        );
        for f in &self.failures {
            s.push_str(&format!(
                "\n  stopped partition {}[{}]: {}",
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
