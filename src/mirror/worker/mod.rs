//! A worker: one thread, one single-threaded runtime, the partitions dealt
//! to it, and its own connections to every broker it fetches from or
//! produces to. Tasks on the worker share state through `Rc<RefCell<..>>`
//! (one thread: no locks); only messages leave the thread.
//!
//! Tasks: a resolver per flow that finds leaders, start offsets and
//! producer ids ([`resolve`]); one fetch loop per (flow, source broker,
//! stream) ([`fetch`]); one produce loop per (flow, target broker, stream)
//! ([`produce`]); and a reporter that sends progress to the control thread.
//! A flow whose cluster is down stalls only its own tasks.

mod fetch;
mod preserve;
mod produce;
mod resolve;
pub mod txn;

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc::{Receiver, Sender};
use tokio::sync::Notify;

use crate::client::ClusterClient;
use crate::mirror::counters::Counters;
use crate::mirror::messages::{
    Assignment, Failure, FromWorker, MapPoints, Progress, Report, ToWorker,
};
use crate::mirror::partition::{Partition, ProducerIdentity};
use crate::net::{self, Backend};
use crate::plan::FlowPlan;

/// How often a worker reports progress and counters.
const REPORT_EVERY: Duration = Duration::from_millis(500);
/// Upper bound on an idle loop's sleep, so missed wake-ups cost little.
const IDLE_TICK: Duration = Duration::from_millis(100);

/// Starts a worker thread running on `backend`, pinned to `cpu` if given.
#[allow(clippy::too_many_arguments)]
pub fn spawn(
    id: usize,
    workers: usize,
    backend: Backend,
    cpu: Option<usize>,
    streams: usize,
    plans: Arc<Vec<FlowPlan>>,
    rx: Receiver<ToWorker>,
    tx: Sender<FromWorker>,
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
                let w = Rc::new(Worker::new(id, workers, backend, streams, plans, tx));
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
    /// Workers in the process (recorded with exactly-once progress).
    worker_count: usize,
    /// Connections per broker and side; partitions are spread over them.
    streams: usize,
    plans: Arc<Vec<FlowPlan>>,
    tx: Sender<FromWorker>,
    sources: Vec<Rc<ClusterClient>>,
    targets: Vec<Rc<ClusterClient>>,
    parts: RefCell<Vec<Partition>>,
    /// Indexes of partitions whose `pending` flag is set: every partition
    /// with queued batches, and some whose queue emptied since (dropped when
    /// a produce loop next looks). Produce loops look at these, not at
    /// every partition.
    pending: RefCell<Vec<usize>>,
    by_source: RefCell<HashMap<(usize, String, i32), usize>>,
    by_target: RefCell<HashMap<(usize, String, i32), usize>>,
    loops: RefCell<HashSet<LoopKey>>,
    producer_ids: RefCell<Vec<Option<ProducerIdentity>>>,
    producer_reset: RefCell<Vec<bool>>,
    failures: RefCell<Vec<Failure>>,
    /// Counted since the last report that reached the control thread.
    stats: RefCell<Counters>,
    /// Produce requests sent and not yet answered, per flow.
    flow_in_flight: Vec<Cell<usize>>,
    /// Per flow: the transaction state in exactly-once mode.
    txns: RefCell<Vec<Option<txn::Txn>>>,
    /// Per flow: the fleet epoch of the last release (assignments made
    /// before it are stale).
    released_epoch: Vec<Cell<u64>>,
    /// Per flow: something changed that the flow's resolver acts on (a
    /// partition assigned, a leader or position forgotten, a produce to
    /// retry, a replica to fetch from). Its rounds walk every partition,
    /// so they run when asked and otherwise every [`resolve::FULL_ROUND_EVERY`],
    /// not on every response.
    resolve_wanted: Vec<Cell<bool>>,
    /// Per flow: bumped after each resolver round. A fetch loop that sees
    /// it move looks at all its partitions again (leaders, positions or
    /// statuses may have changed), not only at those that changed for it.
    fetch_generation: Vec<Cell<u64>>,
    /// Partitions a fetch loop is to look at again (their queue drained
    /// under the limit), by loop.
    fetch_marks: RefCell<HashMap<LoopKey, Vec<usize>>>,
    wake: Notify,
    shutting_down: Cell<bool>,
    /// Lists of the partitions a produce request carried, given back when
    /// its answer was handled and reused by the next request.
    spare_sent: RefCell<Vec<Vec<usize>>>,
    /// Allocations this thread made while building and sending reports:
    /// taken off its count, so the reported figure is the data path's.
    report_allocations: Cell<u64>,
}

impl Worker {
    fn new(
        id: usize,
        worker_count: usize,
        backend: Backend,
        streams: usize,
        plans: Arc<Vec<FlowPlan>>,
        tx: Sender<FromWorker>,
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
        let txns = plans
            .iter()
            .map(|p| {
                p.exactly_once.then(|| {
                    txn::Txn::new(txn::transactional_id(
                        &p.source.cluster,
                        &p.target.cluster,
                        0,
                        id,
                    ))
                })
            })
            .collect();
        Worker {
            id,
            worker_count,
            streams: streams.max(1),
            plans,
            tx,
            sources,
            targets,
            parts: RefCell::new(Vec::new()),
            pending: RefCell::new(Vec::new()),
            by_source: RefCell::new(HashMap::new()),
            by_target: RefCell::new(HashMap::new()),
            loops: RefCell::new(HashSet::new()),
            producer_ids: RefCell::new(vec![None; n]),
            producer_reset: RefCell::new(vec![false; n]),
            failures: RefCell::new(Vec::new()),
            stats: RefCell::new(Counters::new()),
            flow_in_flight: (0..n).map(|_| Cell::new(0)).collect(),
            txns: RefCell::new(txns),
            released_epoch: (0..n).map(|_| Cell::new(0)).collect(),
            resolve_wanted: (0..n).map(|_| Cell::new(true)).collect(),
            fetch_generation: (0..n).map(|_| Cell::new(0)).collect(),
            fetch_marks: RefCell::new(HashMap::new()),
            wake: Notify::new(),
            shutting_down: Cell::new(false),
            spare_sent: RefCell::new(Vec::new()),
            report_allocations: Cell::new(0),
        }
    }

    async fn run(self: Rc<Self>, mut rx: Receiver<ToWorker>) {
        // The panic-policy test sets this to make a worker task panic.
        if std::env::var_os("KMIRROR_FAILPOINT_WORKER_TASK_PANIC").is_some() {
            tokio::task::spawn_local(async {
                tokio::time::sleep(Duration::from_millis(500)).await;
                panic!("failpoint: a worker task panicked on purpose");
            });
        }
        for flow in 0..self.plans.len() {
            tokio::task::spawn_local(self.clone().resolver(flow));
            if self.plans[flow].exactly_once {
                tokio::task::spawn_local(self.clone().txn_loop(flow));
            }
            if self.plans[flow].preserve_offsets {
                tokio::task::spawn_local(self.clone().preserve_loop(flow));
            }
        }
        let reporter = tokio::task::spawn_local(self.clone().reporter());
        let mut acks_by = Instant::now();
        while let Some(msg) = rx.recv().await {
            match msg {
                ToWorker::Assign(list) => self.assign(list),
                ToWorker::Release {
                    flow,
                    epoch,
                    by,
                    reply,
                } => {
                    self.released_epoch[flow].set(epoch);
                    tokio::task::spawn_local(self.clone().release(flow, by, reply));
                }
                ToWorker::TxnSlot {
                    flow,
                    slot,
                    members,
                } => self.set_txn_slot(flow, slot, members),
                ToWorker::Shutdown { acks_by: by } => {
                    acks_by = by;
                    break;
                }
            }
        }
        // Stop fetching and sending; what is in flight may still be
        // acknowledged until the deadline.
        self.shutting_down.set(true);
        self.wake.notify_waiters();
        while self.produce_in_flight() > 0 && Instant::now() < acks_by {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // Exactly-once flows commit what was acknowledged, by the deadline.
        for flow in 0..self.plans.len() {
            if self.plans[flow].exactly_once && self.produce_in_flight() == 0 {
                self.finish_txn(flow, acks_by).await;
            }
        }
        let abandoned = self.produce_in_flight();
        if abandoned > 0 {
            tracing::warn!(
                worker = self.id,
                requests = abandoned,
                "stopping with produce requests unanswered at the deadline; their batches are mirrored again after a restart"
            );
        }
        reporter.abort();
        self.report_final().await;
        let stopped = FromWorker::Stopped {
            worker: self.id,
            abandoned,
        };
        let _ = tokio::time::timeout(Duration::from_secs(1), self.tx.send(stopped)).await;
    }

    /// Produce requests sent and not yet answered, over all flows.
    fn produce_in_flight(&self) -> usize {
        self.flow_in_flight.iter().map(Cell::get).sum()
    }

    fn assign(&self, list: Vec<Assignment>) {
        let mut parts = self.parts.borrow_mut();
        for a in list {
            self.want_resolving(a.flow);
            if a.fleet_epoch < self.released_epoch[a.flow].get() {
                // Made for a share given back since.
                continue;
            }
            let key = (a.flow, a.source_topic.clone(), a.partition);
            let known = self.by_source.borrow().get(&key).copied();
            // A partition given back earlier starts afresh: in its old
            // place when nothing of its is in flight any more, else in a
            // new one (late answers then reach the old, detached one).
            let idx = match known {
                Some(i) if !parts[i].is_released() => continue,
                Some(i) if parts[i].inflight.is_empty() => i,
                _ => parts.len(),
            };
            tracing::debug!(worker = self.id, topic = %a.source_topic, partition = a.partition, start = ?a.start_offset, "assigned");
            let mut p = Partition::new(
                a.flow,
                Rc::from(a.source_topic.as_str()),
                Rc::from(a.target_topic.as_str()),
                a.partition,
                a.start_offset,
            );
            p.id = a.id;
            p.mm2_below = a.mm2_below;
            p.stream = idx % self.streams;
            if self.plans[a.flow].preserve_offsets {
                p.preserve = crate::mirror::partition::Preserve::Unchecked;
            }
            // Exactly-once: the transactional producer, if it is running
            // (else its next InitProducerId gives every partition one).
            // Idempotent flows get theirs from the resolver.
            if let Some(identity) = self.txns.borrow()[a.flow]
                .as_ref()
                .and_then(txn::Txn::identity)
            {
                p.adopt_producer(identity);
            }
            if idx < parts.len() {
                // The old one's place in `pending`, if any, stays its own.
                p.pending = parts[idx].pending;
                parts[idx] = p;
            } else {
                parts.push(p);
            }
            self.by_source.borrow_mut().insert(key, idx);
            self.by_target
                .borrow_mut()
                .insert((a.flow, a.target_topic, a.partition), idx);
        }
        drop(parts);
        self.wake.notify_waiters();
    }

    /// Gives the flow's partitions back to the fleet (see
    /// [`ToWorker::Release`]).
    async fn release(
        self: Rc<Self>,
        flow: usize,
        by: Instant,
        reply: tokio::sync::oneshot::Sender<Box<Report>>,
    ) {
        for p in self
            .parts
            .borrow_mut()
            .iter_mut()
            .filter(|p| p.flow == flow && !p.detached)
        {
            p.release();
        }
        if !self.plans[flow].exactly_once {
            // A partition dealt back here later starts its sequences at 0:
            // under the id that wrote it, the target could take its first
            // batch for a retry of one it holds (same sequence range),
            // answer with that batch's offset and write nothing. Partitions
            // dealt from now on wait for a new id. (Exactly-once flows get
            // a new epoch with every slot.)
            self.producer_ids.borrow_mut()[flow] = None;
        }
        self.wake.notify_waiters();
        while self.flow_in_flight[flow].get() > 0 && Instant::now() < by {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        if self.plans[flow].exactly_once && self.flow_in_flight[flow].get() == 0 {
            self.finish_txn(flow, by).await;
        }
        if let Some(t) = self.txns.borrow_mut()[flow].as_mut() {
            // As for idempotent flows above: partitions dealt from now on
            // wait for a new epoch (the fleet's next slot brings one too,
            // unless fencing it failed). A transaction the commit above
            // could not end is forgotten with it: whoever takes the id
            // next aborts it, and a stale mark left by the cut-off commit
            // would otherwise keep the new epoch from sending until an
            // interval passed and a commit of nothing failed.
            t.forget_open();
        }
        let unanswered = self.flow_in_flight[flow].get();
        if unanswered > 0 {
            tracing::warn!(
                worker = self.id,
                requests = unanswered,
                "giving partitions back with produce requests unanswered; their batches are mirrored again by the next owner"
            );
        }
        // Every released partition's position goes with the answer, said
        // before or not (a periodic report may still wait in the inbox).
        for p in self
            .parts
            .borrow_mut()
            .iter_mut()
            .filter(|p| p.flow == flow && p.is_released() && !p.detached)
        {
            p.reported_offset = None;
        }
        let report = self.take_report();
        for p in self
            .parts
            .borrow_mut()
            .iter_mut()
            .filter(|p| p.flow == flow && p.is_released())
        {
            p.detached = true;
        }
        let _ = reply.send(Box::new(report));
    }

    /// Asks `flow`'s resolver for a round (see [`Worker::resolve_wanted`]);
    /// the caller wakes it.
    fn want_resolving(&self, flow: usize) {
        if let Some(wanted) = self.resolve_wanted.get(flow) {
            wanted.set(true);
        }
    }

    /// Waits for a notification or the idle tick. A loop arms its wake-up
    /// (`pin!(self.wake.notified())`, then `enable()`) *before* it looks for
    /// work, so a notification sent between the look and the wait is not
    /// lost; pinned on the loop's stack, it costs no allocation.
    async fn idle(&self, armed: Pin<&mut tokio::sync::futures::Notified<'_>>) {
        let _ = tokio::time::timeout(IDLE_TICK, armed).await;
    }

    fn fail_partition(&self, idx: usize, reason: String) {
        let mut parts = self.parts.borrow_mut();
        let p = &mut parts[idx];
        if p.is_released() {
            // Given back: the batch is not this instance's to report; the
            // partition's owner sends it again from the committed position.
            p.drop_failed();
            return;
        }
        if p.is_failed() {
            // Stopped already (and said so): the batch leaves the in-flight
            // list, so the list keeps matching the answers still to come.
            p.drop_failed();
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

    fn start_loops(self: &Rc<Self>) {
        if self.shutting_down.get() {
            return;
        }
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
            stalled = count(&|p| p.defect.is_some()),
            no_source_leader = count(&|p| p.src_leader.is_none()),
            no_target_leader = count(&|p| p.tgt_leader.is_none()),
            no_offset = count(&|p| p.fetch_offset.is_none()),
            queued_batches = parts.iter().map(|p| p.queue.len()).sum::<usize>(),
            in_flight_batches = parts.iter().map(|p| p.inflight.len()).sum::<usize>(),
            loops = self.loops.borrow().len(),
            "worker state"
        );
    }

    /// What the control thread has not heard yet, marked as heard (a report
    /// that cannot be delivered is handed back with [`Worker::untake`]).
    fn take_report(&self) -> Report {
        let allocations =
            crate::alloc_count::this_thread().saturating_sub(self.report_allocations.get());
        let mut progress = Vec::new();
        let mut points = Vec::new();
        let mut stalled = Vec::new();
        let mut samples = Vec::new();
        for p in self.parts.borrow_mut().iter_mut().filter(|p| !p.detached) {
            samples.extend(p.take_sample());
            if p.acked_offset.is_some() && p.acked_offset != p.reported_offset {
                p.reported_offset = p.acked_offset;
                progress.push(Progress {
                    flow: p.flow,
                    source_topic: p.source_topic.to_string(),
                    target_topic: p.target_topic.to_string(),
                    partition: p.partition,
                    next_offset: p.acked_offset.unwrap_or(0),
                    map_end: p.map.end(),
                });
            }
            if !p.unreported_points.is_empty() {
                points.push(MapPoints {
                    flow: p.flow,
                    source_topic: p.source_topic.to_string(),
                    target_topic: p.target_topic.to_string(),
                    partition: p.partition,
                    points: std::mem::take(&mut p.unreported_points),
                });
            }
            if let Some(reason) = &p.defect {
                stalled.push(Failure {
                    flow: p.flow,
                    source_topic: p.source_topic.to_string(),
                    partition: p.partition,
                    reason: reason.clone(),
                });
            }
        }
        Report {
            worker: self.id,
            progress,
            points,
            failures: std::mem::take(&mut *self.failures.borrow_mut()),
            stalled,
            counts: std::mem::take(&mut *self.stats.borrow_mut()),
            samples,
            cpu_ns: crate::net::affinity::thread_cpu_ns(),
            allocations,
        }
    }

    /// Takes back a report the control thread did not receive: its counts
    /// and failures go into the next one, its progress is sent again.
    fn untake(&self, report: Report) {
        self.stats.borrow_mut().add(&report.counts);
        let mut failures = self.failures.borrow_mut();
        let later = std::mem::replace(&mut *failures, report.failures);
        failures.extend(later);
        let mut parts = self.parts.borrow_mut();
        for pr in &report.progress {
            let key = (pr.flow, pr.source_topic.clone(), pr.partition);
            if let Some(&idx) = self.by_source.borrow().get(&key) {
                parts[idx].reported_offset = None;
            }
        }
        if !report.samples.is_empty() {
            let by_id: HashMap<u64, usize> =
                parts.iter().enumerate().map(|(i, p)| (p.id, i)).collect();
            for s in &report.samples {
                if let Some(&idx) = by_id.get(&s.id) {
                    parts[idx].measured.put_back(s);
                }
            }
        }
        for mp in report.points {
            let key = (mp.flow, mp.source_topic.clone(), mp.partition);
            if let Some(&idx) = self.by_source.borrow().get(&key) {
                let later = std::mem::replace(&mut parts[idx].unreported_points, mp.points);
                parts[idx].unreported_points.extend(later);
            }
        }
    }

    /// Sends a report without waiting: when the control thread's inbox is
    /// full, everything goes with the next one.
    fn report(&self) {
        let before = crate::alloc_count::this_thread();
        let report = self.take_report();
        if let Err(e) = self.tx.try_send(FromWorker::Report(Box::new(report))) {
            if let FromWorker::Report(report) = e.into_inner() {
                self.untake(*report);
            }
        }
        let made = crate::alloc_count::this_thread() - before;
        self.report_allocations
            .set(self.report_allocations.get() + made);
    }

    /// The last report, waited for (briefly) when the inbox is full.
    async fn report_final(&self) {
        let msg = FromWorker::Report(Box::new(self.take_report()));
        let _ = tokio::time::timeout(Duration::from_secs(1), self.tx.send(msg)).await;
    }
}
