//! The metric families and how worker reports move them. The control
//! thread updates them as reports arrive; the endpoint's thread encodes
//! them. Neither waits on a worker.
//!
//! MirrorMaker 2's per-partition source metrics keep its JMX attribute
//! names as the Strimzi JMX exporter rules turn them into Prometheus names
//! (`kafka.connect.mirror:type=MirrorSourceConnector,...` attribute
//! `record-age-ms-max` becomes
//! `kafka_connect_mirror_mirrorsourceconnector_record_age_ms_max`), with
//! the labels `source`, `target`, `topic` (the target topic, as MirrorMaker
//! 2 tags it) and `partition`. Like the exporter's, they are gauges. Rates,
//! minimums, maximums and averages cover the last 30 seconds, as
//! MirrorMaker 2's metric windows do.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::metrics::partitions::{self, Values};
use crate::metrics::sample::{PartitionSample, State, Window};
use crate::mirror::counters::Counters;

/// How far back rates and windowed statistics look.
const WINDOW: Duration = Duration::from_secs(30);
/// Reports within this span share one slot of a partition's window.
const SLOT: Duration = Duration::from_secs(5);

type F64 = Gauge<f64, AtomicU64>;

/// The labels of a partition's series (written by
/// [`crate::metrics::partitions`], not by the prometheus-client registry).
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
pub struct PartitionLabels {
    pub source: String,
    pub target: String,
    pub topic: String,
    pub partition: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct QuantileLabels {
    quantile: String,
}

/// The labels of a checkpoint's series, as MirrorMaker 2 tags them.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CheckpointLabels {
    source: String,
    target: String,
    group: String,
    topic: String,
    partition: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WorkerLabels {
    worker: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ErrorLabels {
    request: String,
    error: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PathLabels {
    path: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct InfoLabels {
    version: String,
    backend: String,
}

/// A partition as the metrics know it: its labels, its source topic (for
/// health messages), and its recent history.
struct Track {
    labels: PartitionLabels,
    source_topic: String,
    records: u64,
    bytes: u64,
    /// (start of slot, records and bytes before it, latency, age).
    slots: VecDeque<(Instant, u64, u64, Window, Window)>,
    last_latency: Option<u64>,
    last_age: Option<u64>,
    state: State,
    state_since: Instant,
    /// Source records not yet mirrored, as last reported.
    lag: Option<i64>,
    /// When the partition last had nothing left to mirror.
    caught_up_at: Instant,
    /// Its label set, rendered once, and its values as last published.
    label_text: String,
    values: Values,
}

/// kmirror's own.
struct Own {
    latency_ms: Family<QuantileLabels, F64>,
    added_ms: Family<QuantileLabels, F64>,
    records: Gauge,
    bytes: Gauge,
    fetch_requests: Gauge,
    produce_requests: Gauge,
    errors: Family<ErrorLabels, Gauge>,
    copied_bytes: Family<PathLabels, Gauge>,
    splice_bytes: Family<PathLabels, Gauge>,
    splice_batches: Family<PathLabels, Gauge>,
    buffer_bytes: Gauge,
    worker_busy: Family<WorkerLabels, F64>,
    worker_cpu: Family<WorkerLabels, F64>,
    worker_allocations: Family<WorkerLabels, F64>,
}

/// A partition `/health` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trouble {
    pub flow: String,
    pub topic: String,
    pub partition: i32,
    pub state: State,
    pub reason: String,
}

/// What `/health` and `/ready` answer from.
#[derive(Debug, Default)]
struct Health {
    /// Flows (by name) ready: their partitions assigned.
    ready: HashMap<String, bool>,
    stopped_flows: Vec<String>,
    /// Stopped partitions, by (flow, source topic, partition).
    stopped: HashMap<(String, String, i32), String>,
    /// Stalled partitions, by worker, as of its last report.
    stalled: HashMap<usize, Vec<(String, String, i32, String)>>,
}

pub struct Metrics {
    registry: Registry,
    /// MirrorMaker 2's checkpoint latency (value, min, max, avg).
    checkpoint: [Family<CheckpointLabels, F64>; 4],
    /// Each checkpoint's latencies over the window.
    checkpoint_windows: Mutex<HashMap<CheckpointLabels, VecDeque<(Instant, u64)>>>,
    own: Own,
    tracks: Mutex<HashMap<u64, Track>>,
    latency: Mutex<Rolling>,
    added: Mutex<Rolling>,
    health: Mutex<Health>,
    /// Each worker's last CPU time (ns) and when it was reported.
    cpu: Mutex<HashMap<usize, (u64, Instant)>>,
    /// The size of the last exposition written.
    last_size: AtomicUsize,
    /// A partition stalled this long makes `/health` answer 503.
    pub stuck_after: Duration,
}

fn gauge_family<L, G>(registry: &mut Registry, name: &str, help: &str) -> Family<L, G>
where
    L: Clone + std::hash::Hash + Eq + EncodeLabelSet + std::fmt::Debug + Send + Sync + 'static,
    G: prometheus_client::metrics::TypedMetric
        + prometheus_client::encoding::EncodeMetric
        + Default
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    let f = Family::<L, G>::default();
    registry.register(name, help, f.clone());
    f
}

fn gauge(registry: &mut Registry, name: &str, help: &str) -> Gauge {
    let g = Gauge::default();
    registry.register(name, help, g.clone());
    g
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid histogram bounds")
}

impl Metrics {
    pub fn new(backend: &str, stuck_after: Duration) -> Metrics {
        let mut r = Registry::default();
        let own = Own {
            latency_ms: gauge_family(&mut r, "kmirror_replication_latency_ms", "Source timestamp to target acknowledgement over the last 30 to 60 s, all partitions, by quantile"),
            added_ms: gauge_family(&mut r, "kmirror_added_latency_ms", "The latency kmirror itself adds, its fetch response read to the target's acknowledgement per batch, over the last 30 to 60 s, by quantile"),
            records: gauge(&mut r, "kmirror_records_mirrored", "Records mirrored since start"),
            bytes: gauge(&mut r, "kmirror_bytes_mirrored", "Record batch bytes mirrored since start"),
            fetch_requests: gauge(&mut r, "kmirror_fetch_requests", "Fetch requests sent since start"),
            produce_requests: gauge(&mut r, "kmirror_produce_requests", "Produce requests sent since start"),
            errors: gauge_family(&mut r, "kmirror_errors", "Kafka errors in fetch and produce answers since start (the request's own and each partition's), by request and Kafka error name"),
            copied_bytes: gauge_family(&mut r, "kmirror_slow_path_copied_bytes", "Bytes copied on slow paths since start, by path (reencode, recompress, route, tls)"),
            splice_bytes: gauge_family(&mut r, "kmirror_splice_bytes", "Bytes of Fetch responses read on the splice path since start, by where they went: spliced (never read), fields and headers (read: the protocol's fields and 61 bytes per batch), copied (records read into memory), discarded (truncated tails, never read)"),
            splice_batches: gauge_family(&mut r, "kmirror_splice_batches", "Batches of Fetch responses read on the splice path since start: spliced, copied (read into memory), pipe_full (of the spliced, those finished in memory because the pipes were full), truncated (cut by the broker's size limit, thrown away), refetched (fetches read again with copying)"),
            buffer_bytes: gauge(&mut r, "kmirror_buffer_bytes", "Bytes held in receive buffers now"),
            worker_busy: gauge_family(&mut r, "kmirror_worker_busy_ratio", "The share of the last report interval (about 0.5 s) each worker thread spent on a CPU: 1 is a worker using its whole core"),
            worker_cpu: gauge_family(&mut r, "kmirror_worker_cpu_seconds", "CPU time each worker thread has used since start"),
            worker_allocations: gauge_family(&mut r, "kmirror_worker_allocations", "Heap allocations each worker thread has made since start, outside its periodic reports (its data path: flat in steady state)"),
        };
        let c = "kafka_connect_mirror_mirrorcheckpointconnector_checkpoint_latency_ms";
        let what =
            "checkpoint latency (the checkpoint record's timestamp to its acknowledgement), ms";
        let checkpoint = [
            gauge_family(&mut r, c, &format!("{what}, last checkpoint")),
            gauge_family(
                &mut r,
                &format!("{c}_min"),
                &format!("Least {what} over the last 30 s"),
            ),
            gauge_family(
                &mut r,
                &format!("{c}_max"),
                &format!("Greatest {what} over the last 30 s"),
            ),
            gauge_family(
                &mut r,
                &format!("{c}_avg"),
                &format!("Mean {what} over the last 30 s"),
            ),
        ];
        let info: Family<InfoLabels, Gauge> =
            gauge_family(&mut r, "kmirror_info", "kmirror's version and I/O backend");
        info.get_or_create(&InfoLabels {
            version: env!("CARGO_PKG_VERSION").to_string(),
            backend: backend.to_string(),
        })
        .set(1);
        Metrics {
            registry: r,
            checkpoint,
            checkpoint_windows: Mutex::new(HashMap::new()),
            own,
            tracks: Mutex::new(HashMap::new()),
            latency: Mutex::new(Rolling::new()),
            added: Mutex::new(Rolling::new()),
            health: Mutex::new(Health::default()),
            cpu: Mutex::new(HashMap::new()),
            last_size: AtomicUsize::new(0),
            stuck_after,
        }
    }

    /// A partition handed to a worker under `id`.
    pub fn register(&self, id: u64, labels: PartitionLabels, source_topic: &str) {
        let now = Instant::now();
        let label_text = partitions::label_text(
            &labels.source,
            &labels.target,
            &labels.topic,
            &labels.partition,
        );
        let track = Track {
            labels,
            source_topic: source_topic.to_string(),
            records: 0,
            bytes: 0,
            slots: VecDeque::new(),
            last_latency: None,
            last_age: None,
            state: State::Waiting,
            state_since: now,
            lag: None,
            caught_up_at: now,
            label_text,
            values: Values {
                state: State::Waiting.code(),
                ..Values::default()
            },
        };
        lock(&self.tracks).insert(id, track);
    }

    /// A partition no longer mirrored here (given back to the fleet): its
    /// series go.
    pub fn unregister(&self, id: u64) {
        lock(&self.tracks).remove(&id);
    }

    /// A worker's report: its partitions' samples and its counters.
    pub fn absorb(&self, samples: &[PartitionSample], counts: &Counters) {
        let now = Instant::now();
        let mut tracks = lock(&self.tracks);
        for s in samples {
            let Some(t) = tracks.get_mut(&s.id) else {
                continue;
            };
            t.update(s, now);
            Self::publish(t, now);
        }
        drop(tracks);
        self.own.records.inc_by(counts.records as i64);
        self.own.bytes.inc_by(counts.bytes as i64);
        self.own.fetch_requests.inc_by(counts.fetch_requests as i64);
        self.own
            .produce_requests
            .inc_by(counts.produce_requests as i64);
        for ((request, code), n) in &counts.errors {
            self.own
                .errors
                .get_or_create(&ErrorLabels {
                    request: request.to_string(),
                    error: kmirror_proto::error_code::ErrorCode(*code)
                        .name()
                        .to_string(),
                })
                .inc_by(*n as i64);
        }
        self.own
            .copied_bytes
            .get_or_create(&PathLabels {
                path: "reencode".into(),
            })
            .inc_by((counts.copied_bytes - counts.recompressed_bytes - counts.routed_bytes) as i64);
        self.own
            .copied_bytes
            .get_or_create(&PathLabels {
                path: "route".into(),
            })
            .inc_by(counts.routed_bytes as i64);
        self.own
            .copied_bytes
            .get_or_create(&PathLabels {
                path: "recompress".into(),
            })
            .inc_by(counts.recompressed_bytes as i64);
        self.own
            .copied_bytes
            .get_or_create(&PathLabels {
                path: "coalesce".into(),
            })
            .inc_by(counts.coalesced_bytes as i64);
        let splice = &counts.splice;
        for (path, n) in [
            ("spliced", splice.spliced_bytes),
            ("fields", splice.field_bytes),
            ("headers", splice.header_bytes),
            ("copied", splice.copied_bytes),
            ("discarded", splice.discarded_bytes),
        ] {
            self.own
                .splice_bytes
                .get_or_create(&PathLabels { path: path.into() })
                .inc_by(n as i64);
        }
        for (path, n) in [
            ("spliced", splice.spliced_batches),
            ("copied", splice.copied_batches),
            ("pipe_full", splice.pipe_full_batches),
            ("truncated", splice.truncated_batches),
            ("refetched", counts.splice_refetches),
        ] {
            self.own
                .splice_batches
                .get_or_create(&PathLabels { path: path.into() })
                .inc_by(n as i64);
        }
        self.own
            .copied_bytes
            .get_or_create(&PathLabels { path: "tls".into() })
            .set(crate::net::tls::copied_bytes() as i64);
        self.own
            .buffer_bytes
            .set(crate::net::buffers::held() as i64);
        lock(&self.latency).add(&counts.latency_us, now, &self.own.latency_ms);
        lock(&self.added).add(&counts.added_us, now, &self.own.added_ms);
    }

    /// A checkpoint of `group` for target `topic[partition]` written, `ms`
    /// after its record's timestamp.
    pub fn checkpoint_latency(
        &self,
        source: &str,
        target: &str,
        group: &str,
        topic: &str,
        partition: i32,
        ms: u64,
    ) {
        let now = Instant::now();
        let labels = CheckpointLabels {
            source: source.to_string(),
            target: target.to_string(),
            group: group.to_string(),
            topic: topic.to_string(),
            partition: partition.to_string(),
        };
        let mut windows = lock(&self.checkpoint_windows);
        let w = windows.entry(labels.clone()).or_default();
        w.push_back((now, ms));
        while w.front().is_some_and(|f| now.duration_since(f.0) > WINDOW) {
            w.pop_front();
        }
        let values = w.iter().map(|(_, v)| *v);
        let (min, max) = (
            values.clone().min().unwrap_or(ms),
            values.clone().max().unwrap_or(ms),
        );
        let avg = values.sum::<u64>() as f64 / w.len().max(1) as f64;
        for (family, v) in self
            .checkpoint
            .iter()
            .zip([ms as f64, min as f64, max as f64, avg])
        {
            family.get_or_create(&labels).set(v);
        }
    }

    /// A worker's CPU time so far (ns): its busy share since its last report.
    pub fn worker_cpu(&self, worker: usize, cpu_ns: u64) {
        let now = Instant::now();
        let labels = WorkerLabels {
            worker: worker.to_string(),
        };
        self.own
            .worker_cpu
            .get_or_create(&labels)
            .set(cpu_ns as f64 / 1e9);
        let before = lock(&self.cpu).insert(worker, (cpu_ns, now));
        if let Some((was, at)) = before {
            let wall = now.duration_since(at).as_nanos() as f64;
            if wall > 0.0 {
                let busy = cpu_ns.saturating_sub(was) as f64 / wall;
                self.own
                    .worker_busy
                    .get_or_create(&labels)
                    .set(busy.min(1.0));
            }
        }
    }

    /// A worker's heap allocations so far, its reports' own excepted.
    pub fn worker_allocations(&self, worker: usize, allocations: u64) {
        let labels = WorkerLabels {
            worker: worker.to_string(),
        };
        self.own
            .worker_allocations
            .get_or_create(&labels)
            .set(allocations as f64);
    }

    /// Moves the partition's values to what its track says at `now`.
    fn publish(t: &mut Track, now: Instant) {
        let (records, bytes, latency, age, span) = t.window(now);
        let secs = span.as_secs_f64().max(1.0);
        let lag = t.lag.unwrap_or(0);
        let behind = if lag > 0 {
            now.duration_since(t.caught_up_at).as_secs_f64()
        } else {
            0.0
        };
        let (last_age, last_latency) = (t.last_age, t.last_latency);
        let v = &mut t.values;
        v.record_count = t.records as f64;
        v.byte_count = t.bytes as f64;
        v.record_rate = records as f64 / secs;
        v.byte_rate = bytes as f64 / secs;
        v.record_age_ms.set(last_age, &age);
        v.replication_latency_ms.set(last_latency, &latency);
        v.lag_records = lag;
        v.lag_seconds = behind;
        v.state = t.state.code();
    }

    /// Rates and lag times move with the clock: every partition's gauges
    /// again, including those whose worker had nothing new to say.
    pub fn tick(&self) {
        let now = Instant::now();
        for t in lock(&self.tracks).values_mut() {
            t.trim(now);
            Self::publish(t, now);
        }
    }

    /// The whole exposition: the registry's families and every
    /// partition's series, in the text format (0.0.4) or OpenMetrics.
    pub fn encode(&self, out: &mut String, openmetrics: bool) -> std::fmt::Result {
        // The last answer's size, so the text is not copied as it grows.
        out.reserve(self.last_size.load(Ordering::Relaxed));
        prometheus_client::encoding::text::encode_registry(out, &self.registry)?;
        let tracks = lock(&self.tracks);
        partitions::encode(
            out,
            tracks.values().map(|t| (t.label_text.as_str(), &t.values)),
        )?;
        if openmetrics {
            prometheus_client::encoding::text::encode_eof(out)?;
        }
        self.last_size.store(out.len(), Ordering::Relaxed);
        Ok(())
    }

    /// A flow's partitions were all assigned.
    pub fn flow_ready(&self, flow: &str) {
        lock(&self.health).ready.insert(flow.to_string(), true);
    }

    /// A flow that will be mirrored (not ready until [`Metrics::flow_ready`]).
    pub fn flow_expected(&self, flow: &str) {
        lock(&self.health)
            .ready
            .entry(flow.to_string())
            .or_insert(false);
    }

    pub fn flow_stopped(&self, reason: &str) {
        lock(&self.health).stopped_flows.push(reason.to_string());
    }

    pub fn partition_stopped(&self, flow: &str, source_topic: &str, partition: i32, reason: &str) {
        lock(&self.health).stopped.insert(
            (flow.to_string(), source_topic.to_string(), partition),
            reason.to_string(),
        );
    }

    /// A worker's stalled partitions as of its latest report.
    pub fn stalled(&self, worker: usize, list: Vec<(String, String, i32, String)>) {
        lock(&self.health).stalled.insert(worker, list);
    }

    /// `/ready`: `Ok` once every flow's partitions are assigned, else the
    /// flows still waiting.
    pub fn ready(&self) -> Result<String, String> {
        let h = lock(&self.health);
        let waiting: Vec<&String> = h
            .ready
            .iter()
            .filter(|(_, r)| !**r)
            .map(|(f, _)| f)
            .collect();
        if h.ready.is_empty() {
            return Err("no flow has started".into());
        }
        if waiting.is_empty() {
            Ok(format!("ready: {} flows assigned", h.ready.len()))
        } else {
            let mut w: Vec<&str> = waiting.iter().map(|s| s.as_str()).collect();
            w.sort();
            Err(format!("waiting for the partitions of {}", w.join(", ")))
        }
    }

    /// `/health`: `Ok` while every flow runs and no partition is stopped or
    /// stalled past [`Metrics::stuck_after`], else the reasons.
    pub fn health(&self) -> Result<String, String> {
        let now = Instant::now();
        let h = lock(&self.health);
        let mut reasons: Vec<String> = h
            .stopped_flows
            .iter()
            .map(|f| format!("flow stopped: {f}"))
            .collect();
        let mut stopped: Vec<String> = h
            .stopped
            .iter()
            .map(|((flow, topic, p), why)| {
                format!("partition {topic}[{p}] of flow {flow} stopped: {why}")
            })
            .collect();
        stopped.sort();
        reasons.extend(stopped);
        let tracks = lock(&self.tracks);
        let stuck: HashMap<(&str, i32), bool> = tracks
            .values()
            .filter(|t| {
                t.state == State::Stalled && now.duration_since(t.state_since) >= self.stuck_after
            })
            .map(|t| {
                (
                    (
                        t.source_topic.as_str(),
                        t.labels.partition.parse().unwrap_or(-1),
                    ),
                    true,
                )
            })
            .collect();
        for list in h.stalled.values() {
            for (flow, topic, p, why) in list {
                if stuck.contains_key(&(topic.as_str(), *p)) {
                    reasons.push(format!(
                        "partition {topic}[{p}] of flow {flow} stalled for over {} s: {why}",
                        self.stuck_after.as_secs()
                    ));
                }
            }
        }
        if reasons.is_empty() {
            Ok(format!("ok: {} partitions", tracks.len()))
        } else {
            Err(reasons.join("\n"))
        }
    }
}

/// Quantiles of microsecond latencies over the last 30 to 60 s: the
/// current window and the one before it.
struct Rolling {
    current: Histogram<u64>,
    previous: Histogram<u64>,
    since: Instant,
}

impl Rolling {
    fn new() -> Rolling {
        Rolling {
            current: histogram(),
            previous: histogram(),
            since: Instant::now(),
        }
    }

    /// Adds a report's latencies and sets `family`'s quantiles, in ms.
    fn add(
        &mut self,
        latencies: &Histogram<u64>,
        now: Instant,
        family: &Family<QuantileLabels, F64>,
    ) {
        if now.duration_since(self.since) >= WINDOW {
            self.previous = std::mem::replace(&mut self.current, histogram());
            self.since = now;
        }
        let _ = self.current.add(latencies);
        let mut both = self.current.clone();
        let _ = both.add(&self.previous);
        if both.is_empty() {
            return;
        }
        for q in ["0.5", "0.99", "0.999"] {
            let v = both.value_at_quantile(q.parse().unwrap_or(0.5)) as f64 / 1000.0;
            family
                .get_or_create(&QuantileLabels { quantile: q.into() })
                .set(v);
        }
    }
}

/// Source records not yet mirrored, when both ends are known.
fn lag(s: &PartitionSample) -> Option<i64> {
    Some((s.log_end? - s.position?).max(0))
}

impl Track {
    fn update(&mut self, s: &PartitionSample, now: Instant) {
        let (records_before, bytes_before) = (self.records, self.bytes);
        self.records += s.records;
        self.bytes += s.bytes;
        if s.latency.n > 0 {
            self.last_latency = Some(s.latency.last);
        }
        if s.age.n > 0 {
            self.last_age = Some(s.age.last);
        }
        match self.slots.back_mut() {
            Some(slot) if now.duration_since(slot.0) < SLOT => {
                slot.3.merge(&s.latency);
                slot.4.merge(&s.age);
            }
            _ => self
                .slots
                .push_back((now, records_before, bytes_before, s.latency, s.age)),
        }
        self.trim(now);
        if s.log_end.is_some() && s.position.is_some() {
            self.lag = lag(s);
        }
        if self.lag.unwrap_or(0) == 0 {
            self.caught_up_at = now;
        }
        if s.state != self.state {
            self.state = s.state;
            self.state_since = now;
        }
    }

    /// Forgets slots older than the window.
    fn trim(&mut self, now: Instant) {
        while self
            .slots
            .front()
            .is_some_and(|f| now.duration_since(f.0) > WINDOW)
        {
            self.slots.pop_front();
        }
    }

    /// Over the window: records and bytes mirrored, latency and age
    /// statistics, and the span they cover.
    fn window(&self, now: Instant) -> (u64, u64, Window, Window, Duration) {
        let (mut latency, mut age) = (Window::default(), Window::default());
        for s in &self.slots {
            latency.merge(&s.3);
            age.merge(&s.4);
        }
        match self.slots.front() {
            // Each slot holds the counts from before its first report.
            Some(f) => (
                self.records.saturating_sub(f.1),
                self.bytes.saturating_sub(f.2),
                latency,
                age,
                now.duration_since(f.0),
            ),
            None => (0, 0, latency, age, Duration::ZERO),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(p: i32) -> PartitionLabels {
        PartitionLabels {
            source: "A".into(),
            target: "B".into(),
            topic: "A.orders".into(),
            partition: p.to_string(),
        }
    }

    fn sample(id: u64, records: u64, latency: &[u64], state: State) -> PartitionSample {
        let mut w = Window::default();
        for v in latency {
            w.record(*v);
        }
        PartitionSample {
            id,
            records,
            bytes: records * 100,
            latency: w,
            age: w,
            log_end: Some(500),
            position: Some(400),
            state,
        }
    }

    fn encoded(m: &Metrics) -> String {
        let mut out = String::new();
        m.encode(&mut out, false).unwrap();
        out
    }

    #[test]
    fn samples_become_mirrormaker_2_series() {
        let m = Metrics::new("epoll", Duration::from_secs(60));
        m.register(7, labels(3), "orders");
        let mut counts = Counters::new();
        counts.records = 30;
        let _ = counts.latency_us.record(12_000);
        m.absorb(&[sample(7, 10, &[5, 9], State::Active)], &counts);
        m.absorb(&[sample(7, 20, &[3], State::Active)], &counts);
        let out = encoded(&m);
        let series = r#"{source="A",target="B",topic="A.orders",partition="3"}"#;
        for (name, value) in [
            (
                "kafka_connect_mirror_mirrorsourceconnector_record_count",
                "30.0",
            ),
            (
                "kafka_connect_mirror_mirrorsourceconnector_byte_count",
                "3000.0",
            ),
            (
                "kafka_connect_mirror_mirrorsourceconnector_replication_latency_ms",
                "3.0",
            ),
            (
                "kafka_connect_mirror_mirrorsourceconnector_replication_latency_ms_min",
                "3.0",
            ),
            (
                "kafka_connect_mirror_mirrorsourceconnector_replication_latency_ms_max",
                "9.0",
            ),
            (
                "kafka_connect_mirror_mirrorsourceconnector_record_age_ms_avg",
                "5.666666666666667",
            ),
            ("kmirror_partition_lag_records", "100"),
            ("kmirror_partition_state", "0"),
        ] {
            let line = format!("{name}{series} {value}");
            assert!(out.lines().any(|l| l == line), "no {line} in\n{out}");
        }
        assert!(out.contains("kafka_connect_mirror_mirrorsourceconnector_record_rate{"));
        assert!(
            out.contains(r#"kmirror_replication_latency_ms{quantile="0.99"} 12"#),
            "{out}"
        );
        assert!(out.contains(r#"kmirror_info{version=""#), "{out}");
        // Errors by Kafka error name; a worker's busy share.
        let mut errs = Counters::new();
        errs.error("produce", 6);
        errs.error("produce", 6);
        errs.error("fetch", 1);
        m.absorb(&[], &errs);
        let out = encoded(&m);
        for line in [
            r#"kmirror_errors{request="produce",error="NOT_LEADER_OR_FOLLOWER"} 2"#,
            r#"kmirror_errors{request="fetch",error="OFFSET_OUT_OF_RANGE"} 1"#,
        ] {
            assert!(out.lines().any(|l| l == line), "no {line} in\n{out}");
        }
        m.worker_cpu(0, 0);
        std::thread::sleep(Duration::from_millis(20));
        m.worker_cpu(0, 10_000_000);
        let out = encoded(&m);
        let busy: f64 = out
            .lines()
            .find_map(|l| l.strip_prefix(r#"kmirror_worker_busy_ratio{worker="0"} "#))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no busy ratio in\n{out}"));
        assert!(busy > 0.0 && busy <= 0.5, "{busy}");
        // Samples of partitions never registered are passed over.
        m.absorb(&[sample(99, 1, &[], State::Active)], &Counters::new());
    }

    /// The Grafana dashboard queries only series kmirror serves.
    #[test]
    fn every_metric_the_dashboard_queries_is_served() {
        let m = Metrics::new("epoll", Duration::from_secs(60));
        m.register(1, labels(0), "orders");
        let mut counts = Counters::new();
        counts.error("fetch", 6);
        let _ = counts.latency_us.record(1000);
        let _ = counts.added_us.record(1000);
        m.absorb(&[sample(1, 10, &[5], State::Active)], &counts);
        m.checkpoint_latency("A", "B", "g", "A.orders", 0, 3);
        m.worker_cpu(0, 1);
        m.worker_cpu(0, 2);
        let served: std::collections::HashSet<String> = encoded(&m)
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.split(['{', ' ']).next())
            .map(str::to_string)
            .collect();
        let dashboard = include_str!("../../docs/grafana/kmirror.json");
        let json: serde_json::Value = serde_json::from_str(dashboard).unwrap();
        let names = regex::Regex::new(r"\b(kmirror_[a-z_]+|kafka_connect_mirror_[a-z_]+)").unwrap();
        let mut queried = 0;
        for panel in json["panels"].as_array().unwrap() {
            for target in panel["targets"].as_array().into_iter().flatten() {
                let expr = target["expr"].as_str().unwrap();
                for name in names.find_iter(expr) {
                    queried += 1;
                    assert!(
                        served.contains(name.as_str()),
                        "{} in {expr}",
                        name.as_str()
                    );
                }
            }
        }
        assert!(queried >= 15, "{queried}");
    }

    #[test]
    fn checkpoints_become_mirrormaker_2_checkpoint_series() {
        let m = Metrics::new("epoll", Duration::from_secs(60));
        m.checkpoint_latency("A", "B", "billing", "A.orders", 2, 30);
        m.checkpoint_latency("A", "B", "billing", "A.orders", 2, 10);
        let out = encoded(&m);
        let series = r#"{source="A",target="B",group="billing",topic="A.orders",partition="2"}"#;
        let c = "kafka_connect_mirror_mirrorcheckpointconnector_checkpoint_latency_ms";
        for (suffix, value) in [
            ("", "10.0"),
            ("_min", "10.0"),
            ("_max", "30.0"),
            ("_avg", "20.0"),
        ] {
            let line = format!("{c}{suffix}{series} {value}");
            assert!(out.lines().any(|l| l == line), "no {line} in\n{out}");
        }
    }

    #[test]
    fn health_names_stopped_partitions_and_ready_waits_for_every_flow() {
        let m = Metrics::new("epoll", Duration::from_secs(60));
        assert!(m.ready().is_err());
        m.flow_expected("A->B");
        m.flow_expected("B->A");
        m.flow_ready("A->B");
        assert_eq!(m.ready().unwrap_err(), "waiting for the partitions of B->A");
        m.flow_ready("B->A");
        assert!(m.ready().is_ok());
        assert!(m.health().is_ok());
        m.partition_stopped("A->B", "orders", 3, "rejected the batch at offset 42");
        let why = m.health().unwrap_err();
        assert!(
            why.contains(
                "partition orders[3] of flow A->B stopped: rejected the batch at offset 42"
            ),
            "{why}"
        );
    }

    #[test]
    fn a_partition_stalled_past_the_threshold_is_unhealthy() {
        let m = Metrics::new("epoll", Duration::ZERO);
        m.register(1, labels(0), "orders");
        m.absorb(&[sample(1, 0, &[], State::Stalled)], &Counters::new());
        m.stalled(
            0,
            vec![("A->B".into(), "orders".into(), 0, "CRC mismatch".into())],
        );
        let why = m.health().unwrap_err();
        assert!(why.contains("orders[0] of flow A->B stalled"), "{why}");
        m.stalled(0, vec![]);
        assert!(m.health().is_ok());
    }
}
