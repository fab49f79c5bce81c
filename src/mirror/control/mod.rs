//! The control thread: owns topic discovery, target preparation, partition
//! assignment, progress commits, the live readout and shutdown. It talks to
//! workers only by messages.
//!
//! Each flow has a task of its own for discovery and commits, so a cluster
//! that is down or slow delays only the flows that use it. A stop (SIGTERM,
//! SIGINT, or the stop flag) ends in bounded time: workers stop fetching and
//! sending, produce requests in flight may be acknowledged until three
//! quarters of the shutdown deadline, progress is committed by the deadline,
//! and whatever is still unanswered then is abandoned and counted. A second
//! signal exits at once.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Write;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc::{self, Receiver, Sender};
use tokio::sync::Notify;

use crate::client::{ClientSettings, ClusterClient};
use crate::metrics::registry::{Metrics, PartitionLabels};
use crate::mirror::counters::Counters;
use crate::mirror::messages::{
    Assignment, Failure, FromWorker, Progress, Report, ToWorker, TO_CONTROL_CAPACITY,
    TO_WORKER_CAPACITY,
};
use crate::mirror::progress::{CommitNote, LatestProgress, ProgressStore};
use crate::mirror::routed;
use crate::mirror::summary::Summary;
use crate::mirror::worker;
use crate::net::{self, buffers, Backend};
use crate::offsets::checkpoints::Checkpointer;
use crate::offsets::mm2_takeover;
use crate::offsets::syncs::OffsetSyncs;
use crate::plan::FlowPlan;
use crate::topics::sync;

mod fleet;

/// How the mirror runs.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub backend: Backend,
    /// CPUs to pin workers to, one worker per CPU; `None`: `workers` unpinned.
    pub cpus: Option<Vec<usize>>,
    pub workers: usize,
    /// Connections per broker for each worker's fetches and produces.
    pub streams: usize,
    /// Print a progress line every second.
    pub readout: bool,
    /// Set to stop the mirror (signals set it too).
    pub stop: Arc<AtomicBool>,
    /// How long a stop may take (`kmirror.shutdown.timeout.ms`).
    pub shutdown_timeout: Duration,
    /// Cap on receive-buffer bytes for the whole process.
    pub memory_max_bytes: usize,
    /// Where the metrics endpoint listens (`None`: no endpoint), and
    /// whether the address was asked for (then failing to bind it is an
    /// error; the default address only warns).
    pub metrics_address: Option<(String, bool)>,
    /// A partition stalled this long makes `/health` answer 503.
    pub health_stuck: Duration,
}

/// Discovery retried this soon after a round that left topics unready,
/// doubling up to the flow's refresh interval.
const RETRY_REFRESH_FROM: Duration = Duration::from_secs(5);

/// Runs the mirror until `opts.stop` is set or a signal arrives; returns the totals.
pub fn run(plans: Vec<FlowPlan>, opts: RunOptions) -> std::io::Result<Summary> {
    buffers::set_cap(opts.memory_max_bytes);
    let plans = Arc::new(plans);
    let (to_control, from_workers) = mpsc::channel(TO_CONTROL_CAPACITY);
    let slots: Vec<Option<usize>> = match &opts.cpus {
        Some(cpus) => cpus.iter().map(|c| Some(*c)).collect(),
        None => vec![None; opts.workers.max(1)],
    };
    let mut senders = Vec::new();
    let mut threads = Vec::new();
    let n_workers = slots.len();
    for (id, cpu) in slots.into_iter().enumerate() {
        let (tx, rx) = mpsc::channel(TO_WORKER_CAPACITY);
        threads.push(worker::spawn(
            id,
            n_workers,
            opts.backend,
            cpu,
            opts.streams,
            plans.clone(),
            rx,
            to_control.clone(),
        )?);
        senders.push(tx);
    }
    drop(to_control);
    let metrics = Arc::new(Metrics::new(opts.backend.name(), opts.health_stuck));
    for plan in plans.iter() {
        metrics.flow_expected(&plan.name());
    }
    if let Some((addr, asked)) = &opts.metrics_address {
        match crate::metrics::http::serve(addr, metrics.clone()) {
            Ok(bound) => tracing::info!(
                "metrics endpoint listening on http://{bound}/metrics (also /health and /ready)"
            ),
            Err(e) if *asked => {
                return Err(std::io::Error::new(
                    e.kind(),
                    format!("kmirror.metrics.address = {addr}: cannot listen there: {e}"),
                ))
            }
            Err(e) => tracing::warn!(
                "no metrics endpoint: the default address {addr} is not available ({e}); set kmirror.metrics.address (host:port, or none)"
            ),
        }
    }
    tracing::info!(
        backend = opts.backend.name(),
        workers = senders.len(),
        flows = plans.len(),
        memory_cap_bytes = opts.memory_max_bytes,
        "kmirror starting"
    );
    let shutdown_timeout = opts.shutdown_timeout;
    let summary = net::run_on_this_thread(
        Backend::Epoll,
        control(plans, senders, from_workers, opts, metrics),
    );
    // Workers end by their deadline; one that does not (stuck in the
    // kernel) is left behind rather than holding the process.
    let give_up = Instant::now() + shutdown_timeout.min(Duration::from_secs(5));
    for t in threads {
        while !t.is_finished() && Instant::now() < give_up {
            std::thread::sleep(Duration::from_millis(10));
        }
        if t.is_finished() {
            let _ = t.join();
        }
    }
    Ok(summary)
}

/// What the control thread's tasks share.
struct Shared {
    summary: RefCell<Summary>,
    window: RefCell<Window>,
    /// Per flow: the latest position of every partition, from reports.
    latest: Vec<LatestProgress>,
    /// Per flow: partitions assigned so far.
    assigned: Vec<Cell<usize>>,
    /// Per worker: its partitions waiting out a fetch defect.
    stalled: RefCell<HashMap<usize, Vec<Failure>>>,
    /// Source topics not mirrored, by (flow, topic), with the reason.
    refused: RefCell<HashMap<(usize, String), String>>,
    /// Flows stopped by an error that will not go away by itself.
    stopped_flows: RefCell<BTreeMap<usize, String>>,
    /// Per flow: the offset map and the offset syncs still to write.
    syncs: Vec<OffsetSyncs>,
    metrics: Arc<Metrics>,
    flow_names: Vec<String>,
    /// The id of the next partition handed to a worker.
    next_id: Cell<u64>,
    /// Per flow: `kmirror.abort.on.send.failure`.
    abort_on_failure: Vec<bool>,
    stop: Arc<AtomicBool>,
}

async fn control(
    plans: Arc<Vec<FlowPlan>>,
    workers: Vec<Sender<ToWorker>>,
    mut inbox: Receiver<FromWorker>,
    opts: RunOptions,
    metrics: Arc<Metrics>,
) -> Summary {
    let stop = opts.stop.clone();
    let stopping = Rc::new(Notify::new());
    tokio::task::spawn_local(watch_signals(stop.clone(), stopping.clone()));
    let started = Instant::now();
    let shared = Rc::new(Shared {
        summary: RefCell::new(Summary::new()),
        window: RefCell::new(Window::new()),
        latest: plans.iter().map(|_| LatestProgress::default()).collect(),
        assigned: plans.iter().map(|_| Cell::new(0)).collect(),
        stalled: RefCell::new(HashMap::new()),
        refused: RefCell::new(HashMap::new()),
        stopped_flows: RefCell::new(BTreeMap::new()),
        syncs: plans
            .iter()
            .map(|p| OffsetSyncs::new(p.name(), p.offset_syncs.clone()))
            .collect(),
        metrics,
        flow_names: plans.iter().map(|p| p.name()).collect(),
        next_id: Cell::new(0),
        abort_on_failure: plans.iter().map(|p| p.abort_on_send_failure).collect(),
        stop: stop.clone(),
    });
    let client = |s: &ClientSettings| {
        let mut s = s.clone();
        s.backend = Backend::Epoll;
        s.client_id = format!("{}-control", s.client_id);
        ClusterClient::new(s)
    };
    let workers = Rc::new(workers);
    let next_worker = Rc::new(Cell::new(0usize));
    let mut flows = Vec::new();
    let mut tasks = Vec::new();
    for (i, plan) in plans.iter().enumerate() {
        let flow = Rc::new(FlowControl {
            source: client(&plan.source),
            target: client(&plan.target),
            store: ProgressStore::new(plan.progress_group(), shared.latest[i].clone()),
            fenced: Cell::new(!plan.exactly_once),
            acls: crate::topics::acls::AclSync::new(),
            configs: crate::topics::config_sync::ConfigSync::default(),
            mirrored_topics: RefCell::new(Vec::new()),
            mm2_positions: RefCell::new(None),
            progress_on_source: plan.progress_on_source,
            assigned: RefCell::new(HashSet::new()),
            metric_ids: RefCell::new(Vec::new()),
            routed: RefCell::new(Vec::new()),
            fleet: plan
                .fleet
                .as_ref()
                .map(|_| Rc::new(fleet::FleetState::default())),
        });
        if flow.fleet.is_some() {
            // The fleet fences transactional ids per generation.
            flow.fenced.set(true);
            shared.latest[i].restrict(Some(HashSet::new()));
            tasks.push(tokio::task::spawn_local(fleet::membership_task(
                plans.clone(),
                i,
                flow.clone(),
                shared.clone(),
                workers.clone(),
                stop.clone(),
            )));
        }
        tasks.push(tokio::task::spawn_local(flow_task(
            plans.clone(),
            i,
            flow.clone(),
            shared.clone(),
            workers.clone(),
            next_worker.clone(),
            stop.clone(),
        )));
        if plan.heartbeats.is_some() {
            tasks.push(tokio::task::spawn_local(heartbeat_task(
                plans.clone(),
                i,
                flow.clone(),
            )));
        }
        if plan.checkpoints.is_some() || plan.sync_group_offsets.is_some() {
            tasks.push(tokio::task::spawn_local(checkpoint_task(
                plans.clone(),
                i,
                flow.clone(),
                shared.clone(),
            )));
        }
        flows.push(flow);
    }
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    let mut next_readout = Instant::now() + Duration::from_secs(1);
    let mut next_metrics = Instant::now() + Duration::from_secs(2);
    loop {
        tokio::select! {
            msg = inbox.recv() => match msg {
                Some(FromWorker::Report(r)) => absorb(&shared, r),
                Some(FromWorker::Stopped { .. }) | None => {}
            },
            _ = stopping.notified() => break,
            _ = tick.tick() => {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let now = Instant::now();
                if now >= next_metrics {
                    next_metrics = now + Duration::from_secs(2);
                    shared.metrics.tick();
                }
                if opts.readout && now >= next_readout {
                    next_readout = now + Duration::from_secs(1);
                    let line = shared.window.borrow_mut().line(&shared.summary.borrow(), started.elapsed());
                    let _ = writeln!(std::io::stderr(), "{line}");
                }
            }
        }
    }

    // A bounded stop: no new work, acknowledgements until `acks_by`,
    // commits until `deadline`.
    let stop_began = Instant::now();
    let deadline = stop_began + opts.shutdown_timeout;
    let acks_by = stop_began + opts.shutdown_timeout * 3 / 4;
    tracing::info!(
        deadline_ms = opts.shutdown_timeout.as_millis() as u64,
        "stopping: waiting for produce requests in flight"
    );
    for t in &tasks {
        t.abort();
    }
    for w in workers.iter() {
        let _ =
            tokio::time::timeout_at(acks_by.into(), w.send(ToWorker::Shutdown { acks_by })).await;
    }
    let (mut stopped, mut abandoned) = (0, 0);
    while stopped < workers.len() {
        // Workers answer right after their own deadline.
        let wait_until = acks_by + Duration::from_millis(500);
        match tokio::time::timeout_at(wait_until.min(deadline).into(), inbox.recv()).await {
            Ok(Some(FromWorker::Report(r))) => absorb(&shared, r),
            Ok(Some(FromWorker::Stopped { abandoned: n, .. })) => {
                stopped += 1;
                abandoned += n;
            }
            Ok(None) | Err(_) => break,
        }
    }
    let commits = (0..plans.len()).map(|i| {
        let (plans, flow, shared) = (plans.clone(), flows[i].clone(), shared.clone());
        async move {
            let plan = &plans[i];
            let syncs = flush_syncs(plan, &flow, &shared.syncs[i]);
            if tokio::time::timeout_at(deadline.into(), syncs).await.is_err() {
                tracing::warn!(flow = %plan.name(), "the last offset syncs were not written by the shutdown deadline");
            }
            // Exactly-once progress was committed by the workers' transactions.
            if !plan.exactly_once {
                match tokio::time::timeout_at(deadline.into(), flow.store.commit(flow.progress_home())).await {
                    Ok(res) => report_commit(plan, res),
                    Err(_) => tracing::warn!(
                        flow = %plan.name(),
                        "the last progress commit did not finish by the shutdown deadline; the batches after the previous commit are mirrored again after a restart"
                    ),
                }
            }
            let _ = tokio::time::timeout_at(deadline.into(), fleet::leave(plan, &flow)).await;
        }
    });
    futures_join_all(commits).await;
    let mut summary = shared.summary.replace(Summary::new());
    summary.elapsed = started.elapsed();
    summary.partitions = shared.assigned.iter().map(Cell::get).sum();
    summary.abandoned = abandoned + (workers.len() - stopped);
    summary.peak_buffer_bytes = buffers::peak();
    summary.tls_copied_bytes = crate::net::tls::copied_bytes();
    summary.tls_handshakes = crate::net::tls::handshakes();
    summary.stalled = shared
        .stalled
        .borrow()
        .values()
        .flatten()
        .cloned()
        .collect();
    summary.stopped_flows = shared.stopped_flows.borrow().values().cloned().collect();
    summary.refused = shared
        .refused
        .borrow()
        .iter()
        .map(|((_, topic), reason)| (topic.clone(), reason.clone()))
        .collect();
    summary
}

/// Runs futures side by side on this thread and waits for all of them.
async fn futures_join_all<F: std::future::Future<Output = ()> + 'static>(
    futs: impl Iterator<Item = F>,
) {
    let handles: Vec<_> = futs.map(tokio::task::spawn_local).collect();
    for h in handles {
        let _ = h.await;
    }
}

/// The clusters and progress of one flow, as the control thread holds them.
struct FlowControl {
    source: Rc<ClusterClient>,
    target: Rc<ClusterClient>,
    store: ProgressStore,
    /// Exactly-once mode: earlier holders of the flow's transactional ids
    /// were fenced (so none of them can still commit, and no transaction
    /// of theirs holds the progress group's offsets unstable).
    fenced: Cell<bool>,
    acls: crate::topics::acls::AclSync,
    configs: crate::topics::config_sync::ConfigSync,
    /// The topics mirrored (their targets exist), as of the last refresh.
    mirrored_topics: RefCell<Vec<sync::SourceTopic>>,
    /// MirrorMaker 2's positions for this flow, read once (empty when it
    /// never ran or cannot be read).
    mm2_positions: RefCell<Option<Rc<mm2_takeover::Positions>>>,
    /// `kmirror.progress.cluster = source`.
    progress_on_source: bool,
    /// (source topic, partition) of the partitions handed out (to workers
    /// or the routing slow path) and not given back.
    assigned: RefCell<HashSet<(String, i32)>>,
    /// The metric ids of the partitions handed to workers.
    metric_ids: RefCell<Vec<u64>>,
    /// The routing slow path's tasks, stopped when the partitions go back
    /// to the fleet.
    routed: RefCell<Vec<tokio::task::JoinHandle<()>>>,
    /// This instance's share when it runs in a fleet; `None` on its own.
    fleet: Option<Rc<fleet::FleetState>>,
}

impl FlowControl {
    /// The cluster that holds the flow's progress group.
    fn progress_home(&self) -> &ClusterClient {
        if self.progress_on_source {
            &self.source
        } else {
            &self.target
        }
    }
}

fn absorb(shared: &Shared, r: Box<Report>) {
    shared.metrics.absorb(&r.samples, &r.counts);
    shared.metrics.worker_cpu(r.worker, r.cpu_ns);
    shared.metrics.worker_allocations(r.worker, r.allocations);
    let flow_name = |flow: usize| shared.flow_names.get(flow).cloned().unwrap_or_default();
    for f in &r.failures {
        shared.metrics.partition_stopped(
            &flow_name(f.flow),
            &f.source_topic,
            f.partition,
            &f.reason,
        );
    }
    shared.metrics.stalled(
        r.worker,
        r.stalled
            .iter()
            .map(|f| {
                (
                    flow_name(f.flow),
                    f.source_topic.clone(),
                    f.partition,
                    f.reason.clone(),
                )
            })
            .collect(),
    );
    let mut summary = shared.summary.borrow_mut();
    summary.counts.add(&r.counts);
    shared.window.borrow_mut().counts.add(&r.counts);
    for p in &r.progress {
        if let Some(latest) = shared.latest.get(p.flow) {
            latest.record(p);
        }
        if let Some(syncs) = shared.syncs.get(p.flow) {
            syncs.record_progress(p);
        }
    }
    for points in &r.points {
        if let Some(syncs) = shared.syncs.get(points.flow) {
            syncs.record_points(points);
        }
    }
    abort_if_asked(shared, &r.failures);
    summary.failures.extend(r.failures);
    shared.stalled.borrow_mut().insert(r.worker, r.stalled);
}

/// `kmirror.abort.on.send.failure = true` (MirrorMaker 1's default): a
/// partition stopped by data the target refused stops the whole mirror.
fn abort_if_asked(shared: &Shared, failures: &[Failure]) {
    if let Some(f) = failures.iter().find(|f| {
        shared
            .abort_on_failure
            .get(f.flow)
            .copied()
            .unwrap_or(false)
    }) {
        tracing::error!(topic = %f.source_topic, partition = f.partition, "a partition stopped and kmirror.abort.on.send.failure = true: stopping the mirror");
        shared.stop.store(true, Ordering::Relaxed);
    }
}

/// Discovery and commits of one flow, for as long as the mirror runs.
async fn flow_task(
    plans: Arc<Vec<FlowPlan>>,
    index: usize,
    flow: Rc<FlowControl>,
    shared: Rc<Shared>,
    workers: Rc<Vec<Sender<ToWorker>>>,
    next_worker: Rc<Cell<usize>>,
    stop: Arc<AtomicBool>,
) {
    let plan = &plans[index];
    // The offset map of earlier runs, from the syncs they wrote, before
    // this run's workers add to it.
    match crate::offsets::translate::load_maps(plan, &flow.source, &flow.target).await {
        Ok(maps) => shared.syncs[index].load(maps),
        Err(e) => tracing::warn!(
            flow = %plan.name(),
            "cannot read the offset syncs of earlier runs; checkpoints cover only what this run mirrors until then: {e}"
        ),
    }
    let mut next_refresh = Instant::now();
    let mut retry = RETRY_REFRESH_FROM;
    let mut next_commit = Instant::now() + plan.commit_interval;
    // The first sync follows the first refresh: changes made while kmirror
    // was down reach the target at start-up.
    let mut next_config_sync = plan.sync_topic_configs.map(|_| Instant::now());
    loop {
        let now = Instant::now();
        if now >= next_refresh {
            let complete =
                refresh(&plans, plan, &flow, &shared, &workers, &next_worker, &stop).await;
            shared.assigned[index].set(flow.assigned.borrow().len());
            if complete {
                shared.metrics.flow_ready(&plan.name());
            }
            if shared.stopped_flows.borrow().contains_key(&index) {
                return;
            }
            let every = plan
                .refresh_topics
                .unwrap_or(Duration::from_secs(u32::MAX as u64));
            let idle_fleet_member = flow.fleet.is_some();
            next_refresh = if complete && (!flow.assigned.borrow().is_empty() || idle_fleet_member)
            {
                retry = RETRY_REFRESH_FROM;
                Instant::now() + every
            } else {
                let wait = retry.min(every);
                retry = (retry * 2).min(Duration::from_secs(60));
                Instant::now() + wait
            };
        }
        if now >= next_commit {
            // Syncs first: a committed position never runs ahead of the
            // syncs that describe the offsets before it.
            flush_syncs(plan, &flow, &shared.syncs[index]).await;
            if !plan.exactly_once {
                report_commit(plan, flow.store.commit(flow.progress_home()).await);
            }
            next_commit = Instant::now() + plan.commit_interval;
        }
        if let (Some(at), Some(every)) = (next_config_sync, plan.sync_topic_configs) {
            if now >= at && fleet::leads(&flow) {
                let topics = flow.mirrored_topics.borrow().clone();
                flow.configs
                    .run(plan, &flow.source, &flow.target, &topics)
                    .await;
                next_config_sync = Some(Instant::now() + every);
            }
        }
        let until = next_config_sync.map_or(next_refresh.min(next_commit), |at| {
            next_refresh.min(next_commit).min(at)
        });
        match &flow.fleet {
            // A new share is mirrored at once.
            Some(f) => {
                tokio::select! {
                    _ = tokio::time::sleep_until(until.into()) => {}
                    _ = f.shared_out.notified() => next_refresh = Instant::now(),
                }
            }
            None => tokio::time::sleep_until(until.into()).await,
        }
    }
}

/// MirrorMaker 2's heartbeats of one flow (and of its reverse pair, see
/// [`crate::offsets::heartbeats`]), for as long as the mirror runs.
async fn heartbeat_task(plans: Arc<Vec<FlowPlan>>, index: usize, flow: Rc<FlowControl>) {
    use crate::offsets::heartbeats::HeartbeatSide;
    let plan = &plans[index];
    let Some(hb) = &plan.heartbeats else {
        return;
    };
    let topic = plan.policy.heartbeats_topic();
    let (forward, reverse) = (HeartbeatSide::default(), HeartbeatSide::default());
    let (src, tgt) = (&plan.source.cluster, &plan.target.cluster);
    let mut last_error: Option<String> = None;
    loop {
        if !fleet::leads(&flow) {
            tokio::time::sleep(hb.every).await;
            continue;
        }
        let mut res = forward
            .beat(&flow.target, topic, hb.replication_factor, src, tgt)
            .await;
        if hb.reverse && res.is_ok() {
            res = reverse
                .beat(&flow.source, topic, hb.replication_factor, tgt, src)
                .await;
        }
        match res {
            Ok(()) => last_error = None,
            Err(e) => {
                let text = e.to_string();
                if last_error.as_deref() != Some(text.as_str()) {
                    tracing::warn!(flow = %plan.name(), "cannot write heartbeats; will retry: {text}");
                    last_error = Some(text);
                }
            }
        }
        tokio::time::sleep(hb.every).await;
    }
}

/// MirrorMaker 2's checkpoints of one flow, every
/// `emit.checkpoints.interval.seconds`, and with `sync.group.offsets.enabled`
/// the groups with no active members on the target moved to them, every
/// `sync.group.offsets.interval.seconds`, for as long as the mirror runs.
async fn checkpoint_task(
    plans: Arc<Vec<FlowPlan>>,
    index: usize,
    flow: Rc<FlowControl>,
    shared: Rc<Shared>,
) {
    let plan = &plans[index];
    let checkpointer = Checkpointer::default();
    let never = Duration::from_secs(u32::MAX as u64);
    let emit_every = plan.checkpoints.as_ref().map_or(never, |(_, every)| *every);
    let sync_every = plan.sync_group_offsets.unwrap_or(never);
    let (mut next_emit, mut next_sync) = (Instant::now() + emit_every, Instant::now() + sync_every);
    let mut last_error: Option<String> = None;
    loop {
        tokio::time::sleep_until(next_emit.min(next_sync).into()).await;
        let now = Instant::now();
        if !fleet::leads(&flow) {
            next_emit = now + emit_every;
            next_sync = now + sync_every;
            continue;
        }
        fleet::refresh_maps(plan, &flow, &shared.syncs[index]).await;
        let res = async {
            let (written, all) = match &plan.checkpoints {
                Some((topic, _)) if now >= next_emit => {
                    checkpointer
                        .run(
                            plan,
                            topic,
                            &flow.source,
                            &flow.target,
                            &shared.syncs[index],
                        )
                        .await?
                }
                _ => (
                    0,
                    crate::offsets::checkpoints::current(plan, &flow.source, &shared.syncs[index])
                        .await?,
                ),
            };
            let synced = if plan.sync_group_offsets.is_some() && now >= next_sync {
                crate::offsets::failover::sync_groups(&flow.target, &all).await?
            } else {
                0
            };
            Ok::<_, crate::client::ClientError>((written, synced))
        }
        .await;
        for (group, topic, partition, ms) in checkpointer.take_latencies() {
            shared.metrics.checkpoint_latency(
                &plan.source.cluster,
                &plan.target.cluster,
                &group,
                &topic,
                partition,
                ms,
            );
        }
        if now >= next_emit {
            next_emit = Instant::now() + emit_every;
        }
        if now >= next_sync {
            next_sync = Instant::now() + sync_every;
        }
        match res {
            Ok((written, synced)) => {
                if last_error.take().is_some() {
                    tracing::info!(flow = %plan.name(), "checkpoints and group offsets are written again");
                }
                tracing::debug!(flow = %plan.name(), checkpoints = written, group_offsets = synced, "checkpoint round");
            }
            Err(e) => {
                let text = e.to_string();
                if last_error.as_deref() != Some(text.as_str()) {
                    tracing::warn!(flow = %plan.name(), "cannot write checkpoints or group offsets; will retry: {text}");
                    last_error = Some(text);
                }
            }
        }
    }
}

/// Writes the flow's offset syncs not written yet; a failure is logged and
/// the syncs wait for the next round (unless retrying cannot help, which
/// [`OffsetSyncs`] reports once and stops writing).
async fn flush_syncs(plan: &FlowPlan, flow: &FlowControl, syncs: &OffsetSyncs) {
    while syncs.has_unwritten() {
        match syncs.flush(&flow.source, &flow.target).await {
            Ok(n) => tracing::debug!(flow = %plan.name(), syncs = n, "offset syncs written"),
            Err(e) => {
                if syncs.given_up().is_none() {
                    tracing::warn!(flow = %plan.name(), "cannot write offset syncs; will retry: {e}");
                }
                return;
            }
        }
    }
}

fn report_commit(plan: &FlowPlan, res: Result<usize, crate::client::ClientError>) {
    match res {
        Ok(0) => {}
        Ok(n) => tracing::debug!(flow = %plan.name(), partitions = n, "progress committed"),
        Err(e) => tracing::warn!(flow = %plan.name(), "cannot commit progress: {e}"),
    }
}

/// Stops a flow for an error that repeats until an operator acts (refused
/// credentials or certificates, a missing ACL): said once, kept for the
/// summary and the exit status. Other flows go on.
fn stop_flow(plan: &FlowPlan, shared: &Shared, e: crate::client::ClientError) {
    tracing::error!(flow = %plan.name(), "flow stopped: {e}");
    shared
        .metrics
        .flow_stopped(&format!("{}: {e}", plan.name()));
    shared
        .stopped_flows
        .borrow_mut()
        .insert(plan.index, format!("{}: {e}", plan.name()));
    if shared.stopped_flows.borrow().len() == shared.flow_names.len() {
        tracing::error!("every flow has stopped; kmirror exits");
        shared.stop.store(true, Ordering::Relaxed);
    }
}

/// One discovery round: source topics, target topics, committed progress,
/// and new partitions dealt to workers. False when something failed and the
/// round should be repeated soon.
#[allow(clippy::too_many_arguments)]
async fn refresh(
    plans: &Arc<Vec<FlowPlan>>,
    plan: &FlowPlan,
    flow: &FlowControl,
    shared: &Rc<Shared>,
    workers: &[Sender<ToWorker>],
    next_worker: &Cell<usize>,
    stop: &AtomicBool,
) -> bool {
    // One metadata request both proves the source reachable (with a log line
    // per failed attempt) and lists its topics.
    let source_topics = match flow
        .source
        .metadata_with_retry(None, || stop.load(Ordering::Relaxed))
        .await
    {
        Ok(m) => m,
        Err(e) if e.is_permanent() => {
            stop_flow(plan, shared, e);
            return false;
        }
        Err(e) => {
            tracing::warn!(flow = %plan.name(), "source unreachable: {e}");
            return false;
        }
    };
    match flow
        .target
        .metadata_with_retry(Some(&[]), || stop.load(Ordering::Relaxed))
        .await
    {
        Ok(_) => {}
        Err(e) if e.is_permanent() => {
            stop_flow(plan, shared, e);
            return false;
        }
        Err(e) => {
            tracing::warn!(flow = %plan.name(), "target unreachable: {e}");
            return false;
        }
    }
    let topics = sync::select(plan, &source_topics);
    let mirrored: HashSet<String> = flow
        .assigned
        .borrow()
        .iter()
        .map(|(t, _)| t.clone())
        .collect();
    let prepared = sync::ensure_targets(&flow.source, &flow.target, plan, &topics, &mirrored).await;
    if fleet::leads(flow) {
        flow.acls
            .run_if_due(plan, &flow.source, &flow.target, &topics)
            .await;
    }
    *flow.mirrored_topics.borrow_mut() = prepared.ready.clone();
    {
        let mut refused = shared.refused.borrow_mut();
        for (topic, reason) in &prepared.refused {
            refused.insert((plan.index, topic.clone()), reason.clone());
        }
    }
    let mut complete = prepared.complete && prepared.refused.is_empty();
    // In a fleet only this instance's share is mirrored here; the leader
    // deals again when discovery finds partitions it did not deal.
    let share = flow.fleet.as_ref().map(|f| f.discovered(&prepared.ready));
    let epoch = flow.fleet.as_ref().map(|f| f.epoch());
    let fresh: Vec<(String, String, i32)> = {
        let assigned = flow.assigned.borrow();
        prepared
            .ready
            .iter()
            .flat_map(|t| (0..t.partitions).map(move |p| (t.name.clone(), t.target.clone(), p)))
            .filter(|(s, _, p)| !assigned.contains(&(s.clone(), *p)))
            .filter(|(s, _, p)| {
                share
                    .as_ref()
                    .is_none_or(|owned| owned.contains(&(s.clone(), *p)))
            })
            .collect()
    };
    if let (Some(owned), Some(f)) = (&share, &flow.fleet) {
        // Partitions of the share this discovery has not seen yet (a
        // topic the leader saw first): looked for again soon.
        complete &= f.covered(owned, &prepared.ready);
    }
    if fresh.is_empty() {
        return complete;
    }
    let mut by_topic: HashMap<String, Vec<i32>> = HashMap::new();
    for (_, t, p) in &fresh {
        by_topic.entry(t.clone()).or_default().push(*p);
    }
    let wanted: Vec<(String, Vec<i32>)> = by_topic.into_iter().collect();
    if !flow.fenced.get() {
        match fence_predecessors(plan, flow, workers.len()).await {
            Ok(()) => flow.fenced.set(true),
            Err(e) => {
                tracing::warn!(flow = %plan.name(), "cannot fence earlier holders of the flow's transactional ids; will retry: {e}");
                return false;
            }
        }
    }
    let committed = match flow.store.load(flow.progress_home(), &wanted).await {
        Ok(c) => c,
        Err(e) if e.is_permanent() => {
            stop_flow(plan, shared, e);
            return false;
        }
        Err(e) if e.is_starting_up() => {
            crate::logging::starting_up(
                "committed progress",
                &format!(
                    "flow {}: cannot read committed progress yet: {e}",
                    plan.name()
                ),
            );
            return false;
        }
        Err(e) => {
            tracing::warn!(flow = %plan.name(), group = flow.store.group(), "cannot read committed progress; will retry: {e}");
            return false;
        }
    };
    let Some(mm2) = mm2_positions(plan, flow).await else {
        return false;
    };
    if flow.fleet.as_ref().map(|f| f.epoch()) != epoch {
        // The share changed while this round waited: the next round deals
        // with the new one.
        return false;
    }
    let routed_into: HashMap<&str, i32> = prepared
        .ready
        .iter()
        .filter_map(|t| t.routed_into.map(|n| (t.name.as_str(), n)))
        .collect();
    let mut batches: Vec<Vec<Assignment>> = vec![Vec::new(); workers.len()];
    let mut taken_over = 0usize;
    for (source_topic, target_topic, partition) in fresh {
        let ours = committed
            .get(&(target_topic.clone(), partition))
            .map(|c| (c.next, c.mm2_below));
        let theirs = mm2.get(&(source_topic.clone(), partition)).copied();
        let start = mm2_takeover::start(ours, theirs);
        let start_offset = start.offset;
        if let (true, Some(at)) = (start.taken_over, start.mm2_below) {
            taken_over += 1;
            flow.store.took_over_at(&target_topic, partition, at);
            tracing::debug!(flow = %plan.name(), topic = %source_topic, partition, offset = ?start_offset, kmirror = ?ours.map(|o| o.0), "continuing from MirrorMaker 2's position");
        } else if let Some(off) = start_offset {
            tracing::info!(flow = %plan.name(), topic = %source_topic, partition, offset = off, "resuming from committed progress");
        }
        if let Some(at) = start.mm2_below {
            shared.syncs[plan.index].approximate_below(&source_topic, partition, at);
        }
        flow.assigned
            .borrow_mut()
            .insert((source_topic.clone(), partition));
        if let Some(&n) = routed_into.get(source_topic.as_str()) {
            let part = routed::Routed {
                source_topic,
                target_topic,
                partition,
                target_partitions: n,
                start: start_offset,
            };
            tracing::info!(flow = %plan.name(), topic = %part.source_topic, partition, target_partitions = n, start = ?start_offset, "the target topic has another partition count: this partition is mirrored on the routing slow path");
            spawn_routed(plans, plan.index, flow, shared, part);
            continue;
        }
        let w = next_worker.get();
        next_worker.set(w + 1);
        let id = shared.next_id.get();
        shared.next_id.set(id + 1);
        flow.metric_ids.borrow_mut().push(id);
        shared.metrics.register(
            id,
            PartitionLabels {
                source: plan.source.cluster.clone(),
                target: plan.target.cluster.clone(),
                topic: target_topic.clone(),
                partition: partition.to_string(),
            },
            &source_topic,
        );
        batches[w % workers.len()].push(Assignment {
            id,
            flow: plan.index,
            source_topic,
            target_topic,
            partition,
            start_offset,
            mm2_below: start.mm2_below,
            fleet_epoch: epoch.unwrap_or(0),
        });
    }
    if taken_over > 0 {
        tracing::info!(
            flow = %plan.name(),
            partitions = taken_over,
            offsets_topic = %plan.mm2_offsets_topic,
            "continuing from MirrorMaker 2's offsets: {taken_over} partitions resume where MirrorMaker 2's source connector stopped instead of being copied again"
        );
    }
    for (w, list) in batches.into_iter().enumerate() {
        if !list.is_empty() {
            let _ = workers[w].send(ToWorker::Assign(list)).await;
        }
    }
    complete
}

/// Starts the routing slow path for one partition (see [`routed`]): its
/// rounds count like a worker's report, its position is committed like a
/// worker's, and a failure stops it like a worker's partition.
fn spawn_routed(
    plans: &Arc<Vec<FlowPlan>>,
    index: usize,
    flow: &FlowControl,
    shared: &Rc<Shared>,
    part: routed::Routed,
) {
    let sh = shared.clone();
    let (source_topic, target_topic, partition) = (
        part.source_topic.clone(),
        part.target_topic.clone(),
        part.partition,
    );
    let tell = move |event: routed::Event| match event {
        routed::Event::Round { counts, next } => {
            sh.metrics.absorb(&[], &counts);
            sh.summary.borrow_mut().counts.add(&counts);
            sh.window.borrow_mut().counts.add(&counts);
            if let Some(latest) = sh.latest.get(index) {
                latest.record(&Progress {
                    flow: index,
                    source_topic: source_topic.clone(),
                    target_topic: target_topic.clone(),
                    partition,
                    next_offset: next,
                    map_end: None,
                });
            }
        }
        routed::Event::Failed(reason) => {
            tracing::error!(topic = %source_topic, partition, "partition stopped: {reason}");
            let failure = Failure {
                flow: index,
                source_topic: source_topic.clone(),
                partition,
                reason,
            };
            sh.metrics.partition_stopped(
                &sh.flow_names[index],
                &failure.source_topic,
                partition,
                &failure.reason,
            );
            abort_if_asked(&sh, std::slice::from_ref(&failure));
            sh.summary.borrow_mut().failures.push(failure);
        }
    };
    let handle = tokio::task::spawn_local(routed::run(
        plans.clone(),
        index,
        flow.source.clone(),
        flow.target.clone(),
        part,
        shared.stop.clone(),
        tell,
    ));
    flow.routed.borrow_mut().push(handle);
}

/// MirrorMaker 2's positions for the flow, read from its offsets topic the
/// first time they are needed. `None` when the read failed in a way a
/// retry may fix (the round is repeated: starting without them would copy
/// again what MirrorMaker 2 mirrored).
async fn mm2_positions(plan: &FlowPlan, flow: &FlowControl) -> Option<Rc<mm2_takeover::Positions>> {
    if let Some(known) = flow.mm2_positions.borrow().clone() {
        return Some(known);
    }
    let topic = &plan.mm2_offsets_topic;
    let read = match mm2_takeover::read(&flow.target, topic, &plan.source.cluster).await {
        Ok(Some(positions)) => positions,
        Ok(None) => mm2_takeover::Positions::new(),
        Err(e) if e.is_permanent() => {
            // MirrorMaker 2's own principal can read its offsets topic; one
            // that cannot most likely never ran it.
            tracing::warn!(flow = %plan.name(), offsets_topic = %topic, "cannot read MirrorMaker 2's offsets topic, so partitions without kmirror progress start from the earliest offset; if MirrorMaker 2 mirrored this flow, stop kmirror and allow kmirror's principal Describe and Read on topic {topic}: {e}");
            mm2_takeover::Positions::new()
        }
        Err(e) => {
            tracing::warn!(flow = %plan.name(), offsets_topic = %topic, "cannot read MirrorMaker 2's offsets topic yet; will retry: {e}");
            return None;
        }
    };
    let read = Rc::new(read);
    *flow.mm2_positions.borrow_mut() = Some(read.clone());
    Some(read)
}

/// Exactly-once mode, before any progress is read: every transactional id
/// this flow's workers use now, or an earlier run recorded in its commits,
/// is taken from its holder. A crashed run's open transactions are aborted
/// at once (instead of at their timeout), and a run still alive somewhere
/// is fenced before it can commit again.
async fn fence_predecessors(
    plan: &FlowPlan,
    flow: &FlowControl,
    workers: usize,
) -> Result<(), crate::client::ClientError> {
    let count = fence_transactional_ids(plan, flow, 1, workers, |_, _| false).await?;
    tracing::info!(
        flow = %plan.name(),
        transactional_ids = count,
        "fenced earlier holders of the flow's transactional ids"
    );
    Ok(())
}

/// Takes the transactional ids of this instance's `workers` at fleet `slot`
/// from whoever held them.
async fn fence_slot(
    plan: &FlowPlan,
    flow: &FlowControl,
    slot: usize,
    workers: usize,
) -> Result<(), crate::client::ClientError> {
    for w in 0..workers {
        fence_id(plan, flow, slot, w).await?;
    }
    Ok(())
}

/// Takes the transactional id of `worker` at fleet `slot` from its holder.
async fn fence_id(
    plan: &FlowPlan,
    flow: &FlowControl,
    slot: usize,
    worker: usize,
) -> Result<(), crate::client::ClientError> {
    let id =
        worker::txn::transactional_id(&plan.source.cluster, &plan.target.cluster, slot, worker);
    retry_coordinator(|| {
        crate::client::admin::fence_transactional_id(
            &flow.target,
            &id,
            plan.produce.transaction_timeout_ms,
        )
    })
    .await
}

/// The most fleet members, and workers per member, whose transactional ids
/// a commit note can ask to fence.
const MAX_RECORDED_IDS: usize = 1024;

/// Fences every transactional id of the flow, (fleet slot, worker) for
/// slots below the larger of `members` and the count recorded in the
/// progress commits, and workers below the larger of `workers` and the
/// recorded count, except those `keep` names; returns how many it fenced.
async fn fence_transactional_ids(
    plan: &FlowPlan,
    flow: &FlowControl,
    members: usize,
    workers: usize,
    keep: impl Fn(usize, usize) -> bool,
) -> Result<usize, crate::client::ClientError> {
    let group = plan.progress_group();
    let coordinator =
        retry_coordinator(|| crate::client::admin::group_coordinator(&flow.target, &group)).await?;
    let notes: Vec<CommitNote> = retry_coordinator(|| {
        crate::client::admin::group_offsets(&flow.target, &coordinator, &group)
    })
    .await?
    .iter()
    .filter_map(|(_, _, _, m)| m.as_deref().and_then(CommitNote::parse))
    .collect();
    let recorded_workers = notes
        .iter()
        .filter_map(|n| n.transactional_workers)
        .max()
        .unwrap_or(0);
    let recorded_members = notes
        .iter()
        .filter_map(|n| n.transactional_members)
        .max()
        .unwrap_or(1);
    // The notes come from the cluster: their counts are capped.
    let (recorded_members, recorded_workers) = (
        recorded_members.min(MAX_RECORDED_IDS),
        recorded_workers.min(MAX_RECORDED_IDS),
    );
    let (members, workers) = (
        members.max(recorded_members).min(MAX_RECORDED_IDS),
        workers.max(recorded_workers).min(MAX_RECORDED_IDS),
    );
    let mut fenced = 0;
    for slot in 0..members {
        for w in 0..workers {
            if keep(slot, w) {
                continue;
            }
            fence_id(plan, flow, slot, w).await?;
            fenced += 1;
        }
    }
    Ok(fenced)
}

/// Runs `call` again while it fails with an error worth retrying soon (a
/// coordinator still loading, as on a fresh cluster): 200 ms doubling, for
/// about ten seconds in all.
async fn retry_coordinator<T, F, Fut>(mut call: F) -> Result<T, crate::client::ClientError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, crate::client::ClientError>>,
{
    let mut wait = Duration::from_millis(200);
    let mut spent = Duration::ZERO;
    loop {
        match call().await {
            Err(e) if e.is_retriable() && spent < Duration::from_secs(10) => {
                tracing::debug!("{e}; asking again in {} ms", wait.as_millis());
                tokio::time::sleep(wait).await;
                spent += wait;
                wait = (wait * 2).min(Duration::from_secs(2));
            }
            other => return other,
        }
    }
}

/// The first SIGTERM or SIGINT stops the mirror; a second one ends the
/// process at once.
async fn watch_signals(stop: Arc<AtomicBool>, stopping: Rc<Notify>) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        return;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    stop.store(true, Ordering::Relaxed);
    stopping.notify_one();
    let signo = tokio::select! {
        _ = term.recv() => libc::SIGTERM,
        _ = int.recv() => libc::SIGINT,
    };
    tracing::warn!(
        "second signal while stopping: exiting now; progress committed before this point is kept"
    );
    std::process::exit(128 + signo);
}

/// Counters since the last readout line.
struct Window {
    counts: Counters,
    at: Instant,
}

impl Window {
    fn new() -> Window {
        Window {
            counts: Counters::new(),
            at: Instant::now(),
        }
    }

    fn line(&mut self, total: &Summary, elapsed: Duration) -> String {
        let secs = self.at.elapsed().as_secs_f64().max(0.001);
        let line = format!(
            "[{:>5.0}s] mirrored {} records ({:.1} MB) | now {:.0} rec/s, {:.1} MB/s, p99 {:.1} ms | buffers {:.1} MB | failed partitions {}",
            elapsed.as_secs_f64(),
            total.counts.records,
            total.counts.bytes as f64 / 1e6,
            self.counts.records as f64 / secs,
            self.counts.bytes as f64 / 1e6 / secs,
            self.counts.latency_ms(0.99),
            buffers::held() as f64 / 1e6,
            total.failures.len()
        );
        *self = Window::new();
        line
    }
}
