//! The control thread: owns topic discovery, target preparation, partition
//! assignment, progress commits, the live readout and shutdown. It talks to
//! workers only by messages.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc::{self, UnboundedReceiver, UnboundedSender};

use crate::client::ClusterClient;
use crate::mirror::messages::{Assignment, FromWorker, Report, ToWorker};
use crate::mirror::plan::FlowPlan;
use crate::mirror::progress::ProgressStore;
use crate::mirror::summary::{Counters, Summary};
use crate::mirror::worker;
use crate::net::{self, Backend};
use crate::topics::sync;

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
}

struct FlowState {
    source: Rc<ClusterClient>,
    target: Rc<ClusterClient>,
    assigned: HashSet<(String, i32)>,
    progress: ProgressStore,
    next_refresh: Instant,
    next_commit: Instant,
}

/// Runs the mirror until `opts.stop` is set or a signal arrives; returns the totals.
pub fn run(plans: Vec<FlowPlan>, opts: RunOptions) -> std::io::Result<Summary> {
    let plans = Arc::new(plans);
    let (to_control, from_workers) = mpsc::unbounded_channel();
    let slots: Vec<Option<usize>> = match &opts.cpus {
        Some(cpus) => cpus.iter().map(|c| Some(*c)).collect(),
        None => vec![None; opts.workers.max(1)],
    };
    let mut senders = Vec::new();
    let mut threads = Vec::new();
    for (id, cpu) in slots.into_iter().enumerate() {
        let (tx, rx) = mpsc::unbounded_channel();
        threads.push(worker::spawn(
            id,
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
    tracing::info!(
        backend = opts.backend.name(),
        workers = senders.len(),
        flows = plans.len(),
        "kmirror starting"
    );
    let summary =
        net::run_on_this_thread(Backend::Epoll, control(plans, senders, from_workers, opts));
    for t in threads {
        let _ = t.join();
    }
    Ok(summary)
}

async fn control(
    plans: Arc<Vec<FlowPlan>>,
    workers: Vec<UnboundedSender<ToWorker>>,
    mut inbox: UnboundedReceiver<FromWorker>,
    opts: RunOptions,
) -> Summary {
    let stop = opts.stop.clone();
    tokio::task::spawn_local(watch_signals(stop.clone()));
    let started = Instant::now();
    let mut summary = Summary::new();
    let mut flows: Vec<FlowState> = plans
        .iter()
        .map(|p| {
            let client = |s: &crate::client::ClientSettings| {
                let mut s = s.clone();
                s.backend = Backend::Epoll;
                s.client_id = format!("{}-control", s.client_id);
                ClusterClient::new(s)
            };
            FlowState {
                source: client(&p.source),
                target: client(&p.target),
                assigned: HashSet::new(),
                progress: ProgressStore::new(p.progress_group()),
                next_refresh: Instant::now(),
                next_commit: Instant::now() + p.commit_interval,
            }
        })
        .collect();
    let mut next_worker = 0usize;
    let mut window = Window::new();
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    let mut next_readout = Instant::now() + Duration::from_secs(1);
    loop {
        tokio::select! {
            msg = inbox.recv() => match msg {
                Some(FromWorker::Report(r)) => absorb(&mut summary, &mut flows, &mut window, r),
                Some(FromWorker::Stopped { .. }) | None => {}
            },
            _ = tick.tick() => {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let now = Instant::now();
                for (i, plan) in plans.iter().enumerate() {
                    if now >= flows[i].next_refresh {
                        refresh(plan, &mut flows[i], &workers, &mut next_worker, &stop).await;
                        flows[i].next_refresh = match (plan.refresh_topics, flows[i].assigned.is_empty()) {
                            (_, true) => Instant::now() + Duration::from_secs(5),
                            (Some(d), false) => Instant::now() + d,
                            (None, false) => Instant::now() + Duration::from_secs(u32::MAX as u64),
                        };
                    }
                    if now >= flows[i].next_commit {
                        commit(plan, &mut flows[i]).await;
                        flows[i].next_commit = Instant::now() + plan.commit_interval;
                    }
                }
                if opts.readout && now >= next_readout {
                    next_readout = now + Duration::from_secs(1);
                    let line = window.line(&summary, started.elapsed());
                    let mut err = std::io::stderr();
                    let _ = writeln!(err, "{line}");
                }
            }
        }
    }
    tracing::info!("stopping: draining in-flight batches");
    for w in &workers {
        let _ = w.send(ToWorker::Shutdown);
    }
    let mut stopped = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while stopped < workers.len() {
        match tokio::time::timeout_at(deadline, inbox.recv()).await {
            Ok(Some(FromWorker::Report(r))) => absorb(&mut summary, &mut flows, &mut window, r),
            Ok(Some(FromWorker::Stopped { .. })) => stopped += 1,
            Ok(None) | Err(_) => break,
        }
    }
    for (i, plan) in plans.iter().enumerate() {
        commit(plan, &mut flows[i]).await;
    }
    summary.elapsed = started.elapsed();
    summary.partitions = flows.iter().map(|f| f.assigned.len()).sum();
    summary
}

fn absorb(summary: &mut Summary, flows: &mut [FlowState], window: &mut Window, r: Box<Report>) {
    summary.counts.add(&r.counts);
    window.counts.add(&r.counts);
    for p in &r.progress {
        if let Some(f) = flows.get_mut(p.flow) {
            f.progress.record(p);
        }
    }
    summary.failures.extend(r.failures);
}

async fn refresh(
    plan: &FlowPlan,
    flow: &mut FlowState,
    workers: &[UnboundedSender<ToWorker>],
    next_worker: &mut usize,
    stop: &AtomicBool,
) {
    // One metadata request both proves the source reachable (with a log line
    // per failed attempt) and lists its topics.
    let source_topics = match flow
        .source
        .metadata_with_retry(None, || stop.load(Ordering::Relaxed))
        .await
    {
        Ok(m) => m,
        Err(e) => {
            tracing::warn!(flow = %plan.name(), "source unreachable: {e}");
            return;
        }
    };
    if let Err(e) = flow
        .target
        .metadata_with_retry(Some(&[]), || stop.load(Ordering::Relaxed))
        .await
    {
        tracing::warn!(flow = %plan.name(), "target unreachable: {e}");
        return;
    }
    let topics = sync::select(plan, &source_topics);
    let ready = sync::ensure_targets(&flow.source, &flow.target, plan, &topics).await;
    let fresh: Vec<(String, String, i32)> = ready
        .iter()
        .flat_map(|t| (0..t.partitions).map(move |p| (t.name.clone(), t.target.clone(), p)))
        .filter(|(s, _, p)| !flow.assigned.contains(&(s.clone(), *p)))
        .collect();
    if fresh.is_empty() {
        return;
    }
    let mut by_topic: HashMap<String, Vec<i32>> = HashMap::new();
    for (_, t, p) in &fresh {
        by_topic.entry(t.clone()).or_default().push(*p);
    }
    let wanted: Vec<(String, Vec<i32>)> = by_topic.into_iter().collect();
    let committed = match flow.progress.load(&flow.target, &wanted).await {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(flow = %plan.name(), group = flow.progress.group(), "cannot read committed progress; will retry: {e}");
            return;
        }
    };
    let mut batches: Vec<Vec<Assignment>> = vec![Vec::new(); workers.len()];
    for (source_topic, target_topic, partition) in fresh {
        let start_offset = committed.get(&(target_topic.clone(), partition)).copied();
        if let Some(off) = start_offset {
            tracing::info!(flow = %plan.name(), topic = %source_topic, partition, offset = off, "resuming from committed progress");
        }
        flow.assigned.insert((source_topic.clone(), partition));
        batches[*next_worker % workers.len()].push(Assignment {
            flow: plan.index,
            source_topic,
            target_topic,
            partition,
            start_offset,
        });
        *next_worker += 1;
    }
    for (w, list) in batches.into_iter().enumerate() {
        if !list.is_empty() {
            let _ = workers[w].send(ToWorker::Assign(list));
        }
    }
}

async fn commit(plan: &FlowPlan, flow: &mut FlowState) {
    match flow.progress.commit(&flow.target).await {
        Ok(0) => {}
        Ok(n) => tracing::debug!(flow = %plan.name(), partitions = n, "progress committed"),
        Err(e) => tracing::warn!(flow = %plan.name(), "cannot commit progress: {e}"),
    }
}

async fn watch_signals(stop: Arc<AtomicBool>) {
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
            "[{:>5.0}s] mirrored {} records ({:.1} MB) | now {:.0} rec/s, {:.1} MB/s, p99 {:.1} ms | failed partitions {}",
            elapsed.as_secs_f64(),
            total.counts.records,
            total.counts.bytes as f64 / 1e6,
            self.counts.records as f64 / secs,
            self.counts.bytes as f64 / 1e6 / secs,
            self.counts.latency_ms(0.99),
            total.failures.len()
        );
        *self = Window::new();
        line
    }
}
