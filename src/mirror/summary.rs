//! Totals of a run, for the live readout and the final summary.

use std::time::Duration;

use crate::mirror::counters::Counters;
use crate::mirror::messages::Failure;

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
        if c.coalesced_batches > 0 {
            s.push_str(&format!(
                "; {} small source batches merged into the batches before them ({} bytes of merged batches built)",
                c.coalesced_batches, c.coalesced_bytes
            ));
        }
        let sp = &c.splice;
        if sp.spliced_batches + sp.copied_batches > 0 {
            s.push_str(&format!(
                "; splice path: {} batches spliced ({} record bytes never read), {} read into memory ({} bytes), {} of them for want of pipe room, {} fetches read again with copying",
                sp.spliced_batches,
                sp.spliced_bytes,
                sp.copied_batches,
                sp.copied_bytes,
                sp.pipe_full_batches,
                c.splice_refetches
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
