//! A worker: one thread, one single-threaded runtime, the partitions dealt
//! to it, and its own connections to every broker it fetches from or
//! produces to. Tasks on the worker share state through `Rc<RefCell<..>>`
//! (one thread: no locks); only messages leave the thread.
//!
//! Tasks: one fetch loop per (flow, source broker), one produce loop per
//! (flow, target broker), a resolver that finds leaders, start offsets and
//! producer ids, and a reporter that sends progress to the control thread.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::BytesMut;
use kmirror_proto::api::Api;
use kmirror_proto::error_code::ErrorCode;
use kmirror_proto::fetch::{FetchPartition, FetchRequest, FetchResponse, FetchTopic};
use kmirror_proto::header::begin_request;
use kmirror_proto::produce::{self, ProduceResponse, ProduceTopic};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};
use tokio::sync::Notify;

use crate::client::admin::{self, EARLIEST, LATEST};
use crate::client::{ClientError, ClusterClient};
use crate::mirror::fetch_session::{FetchSession, Wanted};
use crate::mirror::fetched;
use crate::mirror::messages::{Assignment, Failure, FromWorker, Progress, Report, ToWorker};
use crate::mirror::partition::{Partition, ProducerIdentity, Status};
use crate::mirror::plan::FlowPlan;
use crate::mirror::summary::Counters;
use crate::net::{self, Backend};

/// How often a worker reports progress and counters.
const REPORT_EVERY: Duration = Duration::from_millis(500);
/// Upper bound on an idle loop's sleep, so missed wake-ups cost little.
const IDLE_TICK: Duration = Duration::from_millis(100);
/// How long a shutting-down worker keeps producing what it already fetched.
const DRAIN_DEADLINE: Duration = Duration::from_secs(10);
/// How long a preferred read replica (KIP-392) is followed before the
/// leader is asked again (Kafka clients use `metadata.max.age.ms`, 5 min).
const PREFERRED_REPLICA_FOR: Duration = Duration::from_secs(300);

/// Starts a worker thread running on `backend`, pinned to `cpu` if given.
pub fn spawn(
    id: usize,
    backend: Backend,
    cpu: Option<usize>,
    streams: usize,
    plans: Arc<Vec<FlowPlan>>,
    rx: UnboundedReceiver<ToWorker>,
    tx: UnboundedSender<FromWorker>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name(format!("kmirror-w{id}"))
        .spawn(move || {
            if let Some(cpu) = cpu {
                if let Err(e) = crate::net::affinity::pin_current_thread(cpu) {
                    tracing::warn!(worker = id, cpu, "cannot pin worker thread: {e}");
                }
            }
            net::run_on_this_thread(backend, async move {
                let w = Rc::new(Worker::new(id, backend, streams, plans, tx));
                w.run(rx).await;
            })
        })
}

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum Side {
    Fetch,
    Produce,
}

/// A fetch or produce loop: its side, flow, broker and stream.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
struct LoopKey {
    side: Side,
    flow: usize,
    broker: i32,
    stream: usize,
}

struct Worker {
    id: usize,
    /// Connections per broker and side; partitions are spread over them.
    streams: usize,
    plans: Arc<Vec<FlowPlan>>,
    tx: UnboundedSender<FromWorker>,
    sources: Vec<Rc<ClusterClient>>,
    targets: Vec<Rc<ClusterClient>>,
    parts: RefCell<Vec<Partition>>,
    by_source: RefCell<HashMap<(usize, String, i32), usize>>,
    by_target: RefCell<HashMap<(usize, String, i32), usize>>,
    loops: RefCell<HashSet<LoopKey>>,
    producer_ids: RefCell<Vec<Option<ProducerIdentity>>>,
    producer_reset: RefCell<Vec<bool>>,
    failures: RefCell<Vec<Failure>>,
    /// Counted since the last report.
    stats: RefCell<Counters>,
    /// Per (flow, side): no metadata request before this instant, and the
    /// backoff to apply after the next failure.
    metadata_backoff: RefCell<HashMap<(usize, Side), (Instant, Duration)>>,
    wake: Notify,
    shutting_down: Cell<bool>,
}

impl Worker {
    fn new(
        id: usize,
        backend: Backend,
        streams: usize,
        plans: Arc<Vec<FlowPlan>>,
        tx: UnboundedSender<FromWorker>,
    ) -> Worker {
        let client = |s: &crate::client::ClientSettings| {
            let mut s = s.clone();
            s.backend = backend;
            s.client_id = format!("{}-w{id}", s.client_id);
            ClusterClient::new(s)
        };
        let sources = plans.iter().map(|p| client(&p.source)).collect();
        let targets = plans.iter().map(|p| client(&p.target)).collect();
        let n = plans.len();
        Worker {
            id,
            streams: streams.max(1),
            plans,
            tx,
            sources,
            targets,
            parts: RefCell::new(Vec::new()),
            by_source: RefCell::new(HashMap::new()),
            by_target: RefCell::new(HashMap::new()),
            loops: RefCell::new(HashSet::new()),
            producer_ids: RefCell::new(vec![None; n]),
            producer_reset: RefCell::new(vec![false; n]),
            failures: RefCell::new(Vec::new()),
            stats: RefCell::new(Counters::new()),
            metadata_backoff: RefCell::new(HashMap::new()),
            wake: Notify::new(),
            shutting_down: Cell::new(false),
        }
    }

    async fn run(self: Rc<Self>, mut rx: UnboundedReceiver<ToWorker>) {
        tokio::task::spawn_local(self.clone().resolver());
        let reporter = tokio::task::spawn_local(self.clone().reporter());
        while let Some(msg) = rx.recv().await {
            match msg {
                ToWorker::Assign(list) => self.assign(list),
                ToWorker::Shutdown => break,
            }
        }
        self.shutting_down.set(true);
        self.wake.notify_waiters();
        let deadline = Instant::now() + DRAIN_DEADLINE;
        while Instant::now() < deadline && !self.drained() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        reporter.abort();
        self.report();
        let _ = self.tx.send(FromWorker::Stopped { worker: self.id });
    }

    fn drained(&self) -> bool {
        self.parts.borrow().iter().all(|p| {
            p.is_failed()
                || (p.inflight.is_empty() && (p.queue.is_empty() || p.tgt_leader.is_none()))
        })
    }

    fn assign(&self, list: Vec<Assignment>) {
        let mut parts = self.parts.borrow_mut();
        for a in list {
            let key = (a.flow, a.source_topic.clone(), a.partition);
            if self.by_source.borrow().contains_key(&key) {
                continue;
            }
            let idx = parts.len();
            tracing::debug!(worker = self.id, topic = %a.source_topic, partition = a.partition, start = ?a.start_offset, "assigned");
            let mut p = Partition::new(
                a.flow,
                Rc::from(a.source_topic.as_str()),
                Rc::from(a.target_topic.as_str()),
                a.partition,
                a.start_offset,
            );
            p.stream = idx % self.streams;
            parts.push(p);
            self.by_source.borrow_mut().insert(key, idx);
            self.by_target
                .borrow_mut()
                .insert((a.flow, a.target_topic, a.partition), idx);
        }
        drop(parts);
        self.wake.notify_waiters();
    }

    /// A wake-up armed *before* a loop looks for work, so a notification
    /// sent between the look and the wait is not lost.
    fn armed(&self) -> Pin<Box<tokio::sync::futures::Notified<'_>>> {
        let mut n = Box::pin(self.wake.notified());
        n.as_mut().enable();
        n
    }

    /// Waits for a notification (armed earlier) or the idle tick.
    async fn idle(&self, armed: Pin<Box<tokio::sync::futures::Notified<'_>>>) {
        let _ = tokio::time::timeout(IDLE_TICK, armed).await;
    }

    fn fail_partition(&self, idx: usize, reason: String) {
        let mut parts = self.parts.borrow_mut();
        let p = &mut parts[idx];
        if p.is_failed() {
            return;
        }
        tracing::error!(
            cluster = %self.plans[p.flow].source.cluster,
            topic = %p.source_topic,
            partition = p.partition,
            "partition stopped: {reason}"
        );
        self.failures.borrow_mut().push(Failure {
            flow: p.flow,
            source_topic: p.source_topic.to_string(),
            partition: p.partition,
            reason: reason.clone(),
        });
        p.fail(reason);
    }

    // ---------------------------------------------------------------- resolver

    /// Finds leaders, start offsets and producer ids; resumes recovering
    /// partitions; starts fetch and produce loops for brokers in use.
    async fn resolver(self: Rc<Self>) {
        loop {
            if self.shutting_down.get() && self.drained() {
                return;
            }
            let armed = self.armed();
            for flow in 0..self.plans.len() {
                self.resolve_flow(flow).await;
            }
            self.resume_recovering();
            self.start_loops();
            self.idle(armed).await;
        }
    }

    async fn resolve_flow(&self, flow: usize) {
        // Producer id for the target.
        let need_pid =
            self.producer_ids.borrow()[flow].is_none() || self.producer_reset.borrow()[flow];
        let has_parts = self.parts.borrow().iter().any(|p| p.flow == flow);
        if need_pid && has_parts {
            if self.plans[flow].produce.idempotent {
                match admin::init_producer_id(&self.targets[flow]).await {
                    Ok((pid, epoch)) => {
                        let gen = self.producer_ids.borrow()[flow].map_or(1, |p| p.generation + 1);
                        tracing::info!(worker = self.id, cluster = %self.targets[flow].name(), producer_id = pid, epoch, "idempotent producer ready");
                        self.producer_ids.borrow_mut()[flow] = Some(ProducerIdentity {
                            producer_id: pid,
                            epoch,
                            generation: gen,
                        });
                        self.producer_reset.borrow_mut()[flow] = false;
                    }
                    Err(e) => tracing::warn!(worker = self.id, "cannot get a producer id: {e}"),
                }
            } else {
                self.producer_ids.borrow_mut()[flow] = Some(ProducerIdentity {
                    producer_id: -1,
                    epoch: -1,
                    generation: 1,
                });
            }
        }
        if let Some(pid) = self.producer_ids.borrow()[flow] {
            for p in self
                .parts
                .borrow_mut()
                .iter_mut()
                .filter(|p| p.flow == flow)
            {
                if p.producer.is_none() {
                    p.adopt_producer(pid);
                }
            }
        }
        // Leaders.
        for side in [Side::Fetch, Side::Produce] {
            let topics: Vec<String> = {
                let parts = self.parts.borrow();
                let mut t: Vec<String> = parts
                    .iter()
                    .filter(|p| p.flow == flow && !p.is_failed())
                    .filter(|p| match side {
                        Side::Fetch => p.src_leader.is_none(),
                        Side::Produce => p.tgt_leader.is_none(),
                    })
                    .map(|p| match side {
                        Side::Fetch => p.source_topic.to_string(),
                        Side::Produce => p.target_topic.to_string(),
                    })
                    .collect();
                t.sort();
                t.dedup();
                t
            };
            if topics.is_empty() {
                continue;
            }
            let not_before = self
                .metadata_backoff
                .borrow()
                .get(&(flow, side))
                .map(|(t, _)| *t);
            if not_before.is_some_and(|t| Instant::now() < t) {
                continue;
            }
            let client = match side {
                Side::Fetch => &self.sources[flow],
                Side::Produce => &self.targets[flow],
            };
            match client.metadata(Some(&topics)).await {
                Ok(meta) => {
                    self.metadata_backoff.borrow_mut().remove(&(flow, side));
                    let mut parts = self.parts.borrow_mut();
                    for t in meta {
                        for l in t.partitions.iter().filter(|l| l.leader >= 0) {
                            let map = match side {
                                Side::Fetch => self.by_source.borrow(),
                                Side::Produce => self.by_target.borrow(),
                            };
                            if let Some(&idx) = map.get(&(flow, t.name.clone(), l.partition)) {
                                match side {
                                    Side::Fetch => parts[idx].src_leader = Some(l.leader),
                                    Side::Produce => parts[idx].tgt_leader = Some(l.leader),
                                }
                            }
                        }
                    }
                }
                Err(e) => {
                    // Back off while a cluster is down: 100 ms doubling to 5 s.
                    let mut backoffs = self.metadata_backoff.borrow_mut();
                    let entry = backoffs
                        .entry((flow, side))
                        .or_insert((Instant::now(), Duration::from_millis(50)));
                    entry.1 = (entry.1 * 2).min(Duration::from_secs(5));
                    entry.0 = Instant::now() + entry.1;
                    tracing::warn!(
                        worker = self.id,
                        retry_in_ms = entry.1.as_millis() as u64,
                        "metadata refresh failed: {e}"
                    );
                }
            }
        }
        // Start offsets, asked of each leader for all its new partitions of a
        // topic at once; out-of-range positions one by one (rare).
        // (leader, topic) -> [(index, partition)]
        type ByLeader = HashMap<(i32, Rc<str>), Vec<(usize, i32)>>;
        let mut fresh = ByLeader::new();
        let mut out_of_range = Vec::new();
        for (i, p) in self.parts.borrow().iter().enumerate() {
            if p.flow != flow || p.is_failed() {
                continue;
            }
            let Some(leader) = p.src_leader else { continue };
            if p.out_of_range {
                out_of_range.push((i, p.source_topic.to_string(), p.partition, leader));
            } else if p.fetch_offset.is_none() {
                fresh
                    .entry((leader, p.source_topic.clone()))
                    .or_default()
                    .push((i, p.partition));
            }
        }
        for ((leader, topic), parts) in fresh {
            if let Err(e) = self.start_offsets(flow, leader, &topic, &parts).await {
                tracing::warn!(worker = self.id, topic = %topic, partitions = parts.len(), "cannot look up start offsets: {e}");
                if e.is_retriable() {
                    let mut all = self.parts.borrow_mut();
                    for (idx, _) in &parts {
                        all[*idx].src_leader = None;
                    }
                }
            }
        }
        for (idx, topic, partition, leader) in out_of_range {
            if let Err(e) = self
                .resolve_offset(flow, idx, &topic, partition, leader)
                .await
            {
                tracing::warn!(worker = self.id, topic = %topic, partition, "cannot look up offsets: {e}");
                if e.is_retriable() {
                    self.parts.borrow_mut()[idx].src_leader = None;
                }
            }
        }
    }

    /// Where new partitions `parts` ((index, partition)) of `topic` led by
    /// `leader` start: the earliest offset, or the latest with
    /// `auto.offset.reset = latest`.
    async fn start_offsets(
        &self,
        flow: usize,
        leader: i32,
        topic: &str,
        parts: &[(usize, i32)],
    ) -> Result<(), ClientError> {
        let conn = self.sources[flow].broker(leader).await?;
        let latest = self.plans[flow].fetch.start_from_latest;
        let numbers: Vec<i32> = parts.iter().map(|(_, p)| *p).collect();
        let found = admin::list_offsets(
            &conn,
            topic,
            &numbers,
            if latest { LATEST } else { EARLIEST },
            false,
        )
        .await?;
        let mut all = self.parts.borrow_mut();
        for (partition, res) in found {
            let Some(&(idx, _)) = parts.iter().find(|(_, p)| *p == partition) else {
                continue;
            };
            match res {
                Ok(offset) => {
                    tracing::info!(
                        worker = self.id,
                        topic,
                        partition,
                        offset,
                        "starting from the {} offset{}",
                        if latest { "latest" } else { "earliest" },
                        if latest {
                            " (auto.offset.reset = latest)"
                        } else {
                            ""
                        }
                    );
                    let p = &mut all[idx];
                    if p.fetch_offset.is_none() {
                        p.fetch_offset = Some(offset);
                        p.acked_offset = Some(offset);
                    }
                }
                Err(code) => {
                    tracing::warn!(
                        worker = self.id,
                        topic,
                        partition,
                        "cannot look up the start offset: {code}"
                    );
                    if code.is_retriable() || code.needs_metadata_refresh() {
                        all[idx].src_leader = None;
                    }
                }
            }
        }
        Ok(())
    }

    /// After OFFSET_OUT_OF_RANGE: moves the position to the log's start or
    /// end, saying what was lost or why.
    async fn resolve_offset(
        &self,
        flow: usize,
        idx: usize,
        topic: &str,
        partition: i32,
        leader: i32,
    ) -> Result<(), ClientError> {
        let conn = self.sources[flow].broker(leader).await?;
        let earliest = admin::list_offsets(&conn, topic, &[partition], EARLIEST, false).await?;
        let earliest = match earliest.first() {
            Some((_, Ok(o))) => *o,
            Some((_, Err(code))) => {
                return Err(ClientError::Kafka {
                    cluster: self.sources[flow].name().to_string(),
                    what: format!("ListOffsets {topic}[{partition}]"),
                    code: *code,
                    message: None,
                })
            }
            None => return Ok(()),
        };
        let latest = admin::list_offsets(&conn, topic, &[partition], LATEST, false).await?;
        let latest = latest.first().and_then(|(_, r)| r.ok()).unwrap_or(earliest);
        let mut parts = self.parts.borrow_mut();
        let p = &mut parts[idx];
        let pos = p.fetch_offset.unwrap_or(earliest);
        p.out_of_range = false;
        if !p.queue.is_empty() || !p.inflight.is_empty() {
            return Ok(());
        }
        if pos < earliest {
            tracing::warn!(
                cluster = %self.sources[flow].name(), topic, partition,
                "records at offsets {pos}..{earliest} were deleted on the source before they were mirrored; resuming at {earliest}"
            );
            p.fetch_offset = Some(earliest);
            p.acked_offset = Some(earliest);
        } else if pos > latest {
            tracing::warn!(
                cluster = %self.sources[flow].name(), topic, partition,
                "position {pos} is beyond the source log end {latest} (the source log was truncated); resuming at {latest}"
            );
            p.fetch_offset = Some(latest);
            p.acked_offset = Some(latest);
        }
        Ok(())
    }

    fn resume_recovering(&self) {
        let now = Instant::now();
        let mut parts = self.parts.borrow_mut();
        for p in parts.iter_mut() {
            if let Status::Recovering {
                reset_producer,
                retry_at,
            } = p.status
            {
                if !p.inflight.is_empty() || retry_at > now {
                    continue;
                }
                if reset_producer {
                    let current = self.producer_ids.borrow()[p.flow];
                    if current.is_none() || current == p.producer {
                        // Ask for a new id once; partitions adopt it when it arrives.
                        self.producer_reset.borrow_mut()[p.flow] = true;
                        continue;
                    }
                    p.adopt_producer(current.expect("checked above"));
                }
                p.rewind();
            }
        }
    }

    fn start_loops(self: &Rc<Self>) {
        let now = Instant::now();
        let wanted: HashSet<LoopKey> = self
            .parts
            .borrow()
            .iter()
            .flat_map(|p| {
                let key = |side, broker| LoopKey {
                    side,
                    flow: p.flow,
                    broker,
                    stream: p.stream,
                };
                let f = p.fetch_broker(now).map(|b| key(Side::Fetch, b));
                let t = p.tgt_leader.map(|b| key(Side::Produce, b));
                f.into_iter().chain(t)
            })
            .collect();
        for key in wanted {
            if self.loops.borrow_mut().insert(key) {
                match key.side {
                    Side::Fetch => tokio::task::spawn_local(self.clone().fetch_loop(key)),
                    Side::Produce => tokio::task::spawn_local(self.clone().produce_loop(key)),
                };
            }
        }
    }

    // ---------------------------------------------------------------- fetch

    async fn fetch_loop(self: Rc<Self>, key: LoopKey) {
        let plan = &self.plans[key.flow];
        let mut rotate = 0usize;
        let mut backoff = Duration::from_millis(100);
        let mut session = FetchSession::new();
        loop {
            if self.shutting_down.get() {
                break;
            }
            let armed = self.armed();
            let wanted = self.fetchable(key, &mut rotate);
            if wanted.is_empty() {
                self.idle(armed).await;
                continue;
            }
            drop(armed);
            match self.fetch_once(key, &wanted, &mut session).await {
                Ok(()) => backoff = Duration::from_millis(100),
                Err(e) => {
                    tracing::warn!(worker = self.id, cluster = %plan.source.cluster, broker = key.broker, "fetch failed: {e}");
                    session.reset();
                    {
                        let mut parts = self.parts.borrow_mut();
                        for w in &wanted {
                            let p = &mut parts[w.idx];
                            p.fetching = false;
                            p.src_leader = None;
                            p.src_replica = None;
                        }
                    }
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
        self.loops.borrow_mut().remove(&key);
    }

    /// The partitions this loop fetches now: on its broker and stream,
    /// active, with a known position and room in their queues.
    fn fetchable(&self, key: LoopKey, rotate: &mut usize) -> Vec<Wanted> {
        let plan = &self.plans[key.flow];
        let parts = self.parts.borrow();
        let n = parts.len();
        let mut out = Vec::new();
        if n == 0 {
            return out;
        }
        let queued: usize = parts.iter().map(|p| p.queued_bytes).sum();
        if queued >= plan.fetch.max_queued_bytes_per_worker {
            return out;
        }
        let now = Instant::now();
        *rotate = (*rotate + 1) % n;
        for k in 0..n {
            let idx = (k + *rotate) % n;
            let p = &parts[idx];
            if p.flow == key.flow
                && p.stream == key.stream
                && p.fetch_broker(now) == Some(key.broker)
                && p.is_active()
                && !p.fetching
                && !p.out_of_range
                && p.queued_bytes < plan.fetch.max_queued_bytes_per_partition
            {
                if let Some(offset) = p.fetch_offset {
                    out.push(Wanted {
                        idx,
                        topic: p.source_topic.clone(),
                        partition: p.partition,
                        offset,
                    });
                }
            }
        }
        out
    }

    /// One Fetch request in `session` for `wanted`, and its response applied.
    async fn fetch_once(
        &self,
        key: LoopKey,
        wanted: &[Wanted],
        session: &mut FetchSession,
    ) -> Result<(), ClientError> {
        let plan = &self.plans[key.flow];
        let client = &self.sources[key.flow];
        let conn = client.broker_stream(key.broker, key.stream).await?;
        let version = conn.version(Api::Fetch)?;
        let planned = session.next_request(wanted);
        let mut topics: Vec<FetchTopic> = Vec::new();
        for w in &planned.send {
            let fp = FetchPartition {
                partition: w.partition,
                current_leader_epoch: -1,
                fetch_offset: w.offset,
                partition_max_bytes: plan.fetch.partition_max_bytes,
            };
            match topics.iter_mut().find(|t| *t.name == *w.topic) {
                Some(t) => t.partitions.push(fp),
                None => topics.push(FetchTopic {
                    name: w.topic.to_string(),
                    partitions: vec![fp],
                }),
            }
        }
        {
            let mut parts = self.parts.borrow_mut();
            for w in wanted {
                parts[w.idx].fetching = true;
            }
        }
        let req = FetchRequest {
            max_wait_ms: plan.fetch.max_wait_ms,
            min_bytes: plan.fetch.min_bytes,
            max_bytes: plan.fetch.max_bytes,
            isolation_level: plan.fetch.read_committed as i8,
            session_id: planned.session_id,
            session_epoch: planned.epoch,
            topics,
            forgotten: planned
                .forget
                .iter()
                .map(|(t, ps)| (t.to_string(), ps.clone()))
                .collect(),
            // With a rack id a broker using a rack-aware replica selector
            // names the replica to fetch from (KIP-392).
            rack_id: client.settings().rack.clone(),
        };
        {
            let mut s = self.stats.borrow_mut();
            s.fetch_requests += 1;
            s.session_fetches += u64::from(!planned.is_full());
        }
        let client_id = client.settings().client_id.clone();
        tracing::trace!(
            worker = self.id,
            broker = key.broker,
            partitions = wanted.len(),
            named = planned.send.len(),
            session = planned.session_id,
            epoch = planned.epoch,
            "fetch sending"
        );
        let body = conn
            .send(Api::Fetch, version, |corr| {
                let mut b = BytesMut::with_capacity(256);
                begin_request(&mut b, Api::Fetch.key(), version, corr, &client_id);
                req.encode(&mut b, version)?;
                let len = b.len();
                kmirror_proto::header::finish_frame(&mut b, len - 4);
                Ok(vec![b.freeze()])
            })
            .await?
            .wait()
            .await?;
        tracing::trace!(
            worker = self.id,
            broker = key.broker,
            bytes = body.len(),
            "fetch answered"
        );
        let resp = FetchResponse::decode(body, version)
            .map_err(|e| ClientError::protocol(client.name(), conn.addr(), "Fetch", e))?;
        {
            let mut parts = self.parts.borrow_mut();
            for w in wanted {
                parts[w.idx].fetching = false;
            }
        }
        let opened = planned.is_full() && resp.error.is_ok() && resp.session_id != 0;
        session.on_response(resp.session_id, resp.error);
        if opened {
            tracing::debug!(
                worker = self.id,
                broker = key.broker,
                stream = key.stream,
                session = resp.session_id,
                "fetch session opened"
            );
        }
        if resp.error == ErrorCode::FETCH_SESSION_ID_NOT_FOUND
            || resp.error == ErrorCode::INVALID_FETCH_SESSION_EPOCH
        {
            // The next request opens a new session; nothing was fetched.
            return Ok(());
        }
        if !resp.error.is_ok() {
            return Err(ClientError::Kafka {
                cluster: client.name().to_string(),
                what: format!("Fetch from {}", conn.addr()),
                code: resp.error,
                message: None,
            });
        }
        let now = Instant::now();
        let mut failures = Vec::new();
        for t in &resp.topics {
            for data in &t.partitions {
                let Some(held) = session.lookup(&t.name, data.partition) else {
                    continue;
                };
                let (idx, requested) = (held.idx, held.offset);
                let mut parts = self.parts.borrow_mut();
                let p = &mut parts[idx];
                if !p.is_active() || p.fetch_offset != Some(requested) {
                    continue; // rewound meanwhile: this data is stale
                }
                let from_replica = p.src_leader != Some(key.broker);
                if data.preferred_read_replica >= 0 && data.preferred_read_replica != key.broker {
                    let replica = data.preferred_read_replica;
                    if client.broker_addr(replica).is_some() {
                        tracing::info!(
                            worker = self.id,
                            topic = %p.source_topic,
                            partition = p.partition,
                            replica,
                            "fetching from the preferred read replica"
                        );
                        p.src_replica = Some((replica, now + PREFERRED_REPLICA_FOR));
                        self.wake.notify_waiters();
                        continue;
                    }
                }
                if !data.error.is_ok() && from_replica {
                    // The replica cannot serve (it lags, or is no longer a
                    // replica): back to the leader, which decides again.
                    tracing::info!(
                        worker = self.id,
                        topic = %p.source_topic,
                        partition = p.partition,
                        replica = key.broker,
                        "the read replica answered {}; fetching from the leader",
                        data.error
                    );
                    p.src_replica = None;
                    if data.error.needs_metadata_refresh() {
                        p.src_leader = None;
                    }
                    continue;
                }
                if data.error == ErrorCode::OFFSET_OUT_OF_RANGE {
                    p.out_of_range = true;
                    continue;
                }
                if !data.error.is_ok() {
                    if data.error.needs_metadata_refresh() || data.error.is_retriable() {
                        p.src_leader = None;
                    } else {
                        failures.push((
                            idx,
                            format!("fetch at offset {requested} failed: {}", data.error),
                        ));
                    }
                    continue;
                }
                match fetched::apply(p, data, requested, &plan.fetch) {
                    Ok(f) => {
                        let mut s = self.stats.borrow_mut();
                        s.copied_bytes += f.copied_bytes;
                        s.reencoded_batches += f.reencoded;
                    }
                    Err(reason) => failures.push((idx, reason)),
                }
            }
        }
        for (idx, reason) in failures {
            self.fail_partition(idx, reason);
        }
        self.wake.notify_waiters();
        Ok(())
    }

    // ---------------------------------------------------------------- produce

    async fn produce_loop(self: Rc<Self>, key: LoopKey) {
        let (flow, broker) = (key.flow, key.broker);
        let plan = &self.plans[flow];
        let in_flight = Rc::new(Cell::new(0usize));
        let mut rotate = 0usize;
        let mut backoff = Duration::from_millis(100);
        loop {
            if self.shutting_down.get() && self.drained() {
                break;
            }
            let armed = self.armed();
            if in_flight.get() >= plan.produce.max_in_flight_requests || !self.has_sendable(key) {
                self.idle(armed).await;
                continue;
            }
            drop(armed);
            let conn = match self.targets[flow].broker_stream(broker, key.stream).await {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(worker = self.id, cluster = %plan.target.cluster, broker, "cannot reach target broker: {e}");
                    self.forget_target_leader(key);
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                    continue;
                }
            };
            backoff = Duration::from_millis(100);
            let version = match conn.version(Api::Produce) {
                Ok(v) => v,
                Err(e) => {
                    let idxs: Vec<usize> = self.target_parts(key);
                    for idx in idxs {
                        self.fail_partition(idx, e.to_string());
                    }
                    continue;
                }
            };
            let (topics, sent) = self.take_batches(key, &mut rotate);
            if sent.is_empty() {
                continue;
            }
            let client_id = self.targets[flow].settings().client_id.clone();
            let (acks, timeout) = (plan.produce.acks, plan.produce.timeout_ms);
            let res = conn
                .send(Api::Produce, version, |corr| {
                    produce::encode_request(version, corr, &client_id, acks, timeout, &topics)
                })
                .await;
            let worker = self.clone();
            match res {
                Err(e) => {
                    worker.produce_failed(&sent, &e);
                }
                Ok(inflight) => {
                    in_flight.set(in_flight.get() + 1);
                    let in_flight = in_flight.clone();
                    tokio::task::spawn_local(async move {
                        let res = inflight.wait().await;
                        match res.and_then(|body| {
                            ProduceResponse::decode(body, version).map_err(|e| {
                                ClientError::protocol(
                                    &worker.plans[flow].target.cluster,
                                    "",
                                    "Produce",
                                    e,
                                )
                            })
                        }) {
                            Ok(resp) => worker.produce_done(flow, &sent, resp),
                            Err(e) => worker.produce_failed(&sent, &e),
                        }
                        in_flight.set(in_flight.get() - 1);
                        worker.wake.notify_waiters();
                    });
                }
            }
        }
        self.loops.borrow_mut().remove(&key);
    }

    /// Whether partition `p` is produced by the loop `key`.
    fn produced_by(p: &Partition, key: LoopKey) -> bool {
        p.flow == key.flow && p.stream == key.stream && p.tgt_leader == Some(key.broker)
    }

    fn target_parts(&self, key: LoopKey) -> Vec<usize> {
        self.parts
            .borrow()
            .iter()
            .enumerate()
            .filter(|(_, p)| Self::produced_by(p, key))
            .map(|(i, _)| i)
            .collect()
    }

    fn forget_target_leader(&self, key: LoopKey) {
        for p in self.parts.borrow_mut().iter_mut() {
            if Self::produced_by(p, key) {
                p.tgt_leader = None;
            }
        }
    }

    fn has_sendable(&self, key: LoopKey) -> bool {
        let max = self.plans[key.flow].produce.max_in_flight_per_partition;
        self.parts
            .borrow()
            .iter()
            .any(|p| Self::produced_by(p, key) && p.can_send(max))
    }

    /// One batch from each sendable partition led by `broker`, up to the
    /// request size limit (always at least one batch).
    fn take_batches(&self, key: LoopKey, rotate: &mut usize) -> (Vec<ProduceTopic>, Vec<usize>) {
        let produce = &self.plans[key.flow].produce;
        let mut parts = self.parts.borrow_mut();
        let n = parts.len();
        let mut topics: Vec<ProduceTopic> = Vec::new();
        let mut sent = Vec::new();
        let mut size = 0usize;
        if n == 0 {
            return (topics, sent);
        }
        *rotate = (*rotate + 1) % n;
        for k in 0..n {
            let idx = (k + *rotate) % n;
            let p = &mut parts[idx];
            if !Self::produced_by(p, key) || !p.can_send(produce.max_in_flight_per_partition) {
                continue;
            }
            let next_len = p.queue.front().map_or(0, |q| q.batch.len());
            if !sent.is_empty() && size + next_len > produce.max_request_bytes {
                break;
            }
            let Some(out) = p.take_next(produce.idempotent) else {
                continue;
            };
            size += out.len();
            match topics.iter_mut().find(|t| *t.name == *p.target_topic) {
                Some(t) => t.partitions.push((p.partition, out)),
                None => topics.push(ProduceTopic {
                    name: p.target_topic.to_string(),
                    partitions: vec![(p.partition, out)],
                }),
            }
            sent.push(idx);
        }
        (topics, sent)
    }

    fn produce_failed(&self, sent: &[usize], e: &ClientError) {
        tracing::warn!(worker = self.id, "produce request failed: {e}");
        let retry_at = Instant::now() + Duration::from_millis(200);
        let mut parts = self.parts.borrow_mut();
        for &idx in sent {
            let p = &mut parts[idx];
            p.on_retriable_failure(false, retry_at);
            p.tgt_leader = None;
        }
    }

    fn produce_done(&self, flow: usize, sent: &[usize], resp: ProduceResponse) {
        let plan = &self.plans[flow];
        let mut results: HashMap<(&str, i32), &produce::ProducePartitionResponse> = HashMap::new();
        for t in &resp.topics {
            for p in &t.partitions {
                results.insert((t.name.as_str(), p.partition), p);
            }
        }
        let now_us = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_micros() as i64)
            .unwrap_or(0);
        let mut failures = Vec::new();
        let mut parts = self.parts.borrow_mut();
        let mut stats = self.stats.borrow_mut();
        for &idx in sent {
            let p = &mut parts[idx];
            let result = results.get(&(&*p.target_topic, p.partition)).copied();
            let retry_at = Instant::now() + plan.produce.retry_backoff;
            match result {
                None => {
                    p.on_retriable_failure(false, retry_at);
                }
                Some(r) if r.error.is_ok() || r.error == ErrorCode::DUPLICATE_SEQUENCE_NUMBER => {
                    if let Some(s) = p.on_ack() {
                        stats.records += s.records as u64;
                        stats.bytes += s.bytes as u64;
                        stats.batches += 1;
                        let lat = (now_us - s.max_timestamp * 1000).max(1) as u64;
                        let _ = stats.latency_us.record(lat.min(3_600_000_000));
                    }
                }
                Some(r) => {
                    let code = r.error;
                    let follow_on = !p.is_active();
                    if !follow_on && code.is_retriable() {
                        tracing::info!(
                            cluster = %plan.target.cluster,
                            topic = %p.target_topic,
                            partition = p.partition,
                            offset = p.inflight.front().map_or(-1, |s| s.base_offset),
                            "produce failed with {code}; resending from the last acknowledged batch"
                        );
                    }
                    if code.is_retriable() {
                        p.on_retriable_failure(false, retry_at);
                        if code.needs_metadata_refresh() {
                            p.tgt_leader = None;
                        }
                    } else if matches!(
                        code,
                        ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER
                            | ErrorCode::UNKNOWN_PRODUCER_ID
                            | ErrorCode::INVALID_PRODUCER_EPOCH
                    ) {
                        // After an earlier failure this is expected; otherwise
                        // the broker lost our producer state: take a new id.
                        p.on_retriable_failure(!follow_on, retry_at);
                    } else {
                        let s = p.inflight.front().cloned();
                        let (first, last) =
                            s.map_or((-1, -1), |s| (s.base_offset, s.next_offset - 1));
                        let mut reason = format!(
                            "the target cluster {} rejected the batch with source offsets {first}..={last} (target topic {}): {code}",
                            plan.target.cluster, p.target_topic
                        );
                        if let Some(m) = &r.error_message {
                            reason.push_str(&format!(": {m}"));
                        }
                        for (i, m) in &r.record_errors {
                            reason.push_str(&format!(
                                "; record {i}: {}",
                                m.as_deref().unwrap_or_default()
                            ));
                        }
                        failures.push((idx, reason));
                    }
                }
            }
        }
        drop(stats);
        drop(parts);
        for (idx, reason) in failures {
            self.fail_partition(idx, reason);
        }
    }

    // ---------------------------------------------------------------- reporting

    async fn reporter(self: Rc<Self>) {
        let mut n = 0u64;
        loop {
            tokio::time::sleep(REPORT_EVERY).await;
            self.report();
            n += 1;
            if n % 10 == 0 {
                self.log_state();
            }
        }
    }

    /// A debug snapshot of where partitions stand, for diagnosing stalls.
    fn log_state(&self) {
        let parts = self.parts.borrow();
        let count = |f: &dyn Fn(&Partition) -> bool| parts.iter().filter(|p| f(p)).count();
        tracing::debug!(
            worker = self.id,
            partitions = parts.len(),
            active = count(&|p| p.is_active()),
            failed = count(&|p| p.is_failed()),
            no_source_leader = count(&|p| p.src_leader.is_none()),
            no_target_leader = count(&|p| p.tgt_leader.is_none()),
            no_offset = count(&|p| p.fetch_offset.is_none()),
            fetching = count(&|p| p.fetching),
            queued_batches = parts.iter().map(|p| p.queue.len()).sum::<usize>(),
            in_flight_batches = parts.iter().map(|p| p.inflight.len()).sum::<usize>(),
            loops = self.loops.borrow().len(),
            "worker state"
        );
    }

    fn report(&self) {
        let mut progress = Vec::new();
        {
            let mut parts = self.parts.borrow_mut();
            for p in parts.iter_mut() {
                if p.acked_offset.is_some() && p.acked_offset != p.reported_offset {
                    p.reported_offset = p.acked_offset;
                    progress.push(Progress {
                        flow: p.flow,
                        source_topic: p.source_topic.to_string(),
                        target_topic: p.target_topic.to_string(),
                        partition: p.partition,
                        next_offset: p.acked_offset.unwrap_or(0),
                    });
                }
            }
        }
        let report = Report {
            worker: self.id,
            progress,
            failures: std::mem::take(&mut *self.failures.borrow_mut()),
            counts: std::mem::take(&mut *self.stats.borrow_mut()),
        };
        let _ = self.tx.send(FromWorker::Report(Box::new(report)));
    }
}
