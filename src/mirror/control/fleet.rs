//! A flow's membership in its fleet (see [`crate::fleet`]), as the control
//! thread runs it: join, take the share the leader dealt, heartbeat, and on
//! a rebalance give every partition back (its progress committed first)
//! before joining again.
//!
//! The flow task mirrors only the share ([`FleetState::discovered`] hands
//! it over); the leader also runs the flow's duties that must happen once
//! (heartbeats, checkpoints, group offset sync, topic config and ACL sync).

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc::Sender;
use tokio::sync::Notify;

use kmirror_proto::fleet::MemberMetadata;

use super::{absorb, flush_syncs, report_commit, stop_flow, FlowControl, Shared};
use crate::fleet::deal::deal;
use crate::fleet::member::{Beat, Member};
use crate::mirror::messages::ToWorker;
use crate::plan::FlowPlan;
use crate::topics::sync::SourceTopic;

type Key = (String, i32);

/// What the flow's tasks know of this instance's place in the fleet.
#[derive(Default)]
pub(super) struct FleetState {
    /// This generation's share; `None` between generations.
    owned: RefCell<Option<HashSet<Key>>>,
    /// Moves at every release and every new share, so a discovery round
    /// that began before can tell its view is stale.
    epoch: Cell<u64>,
    leader: Cell<bool>,
    /// Members that received partitions in this generation.
    working: Cell<usize>,
    /// Every partition the last discovery round found ready, sorted.
    discovered: RefCell<Option<Vec<Key>>>,
    /// What the leader dealt in this generation.
    dealt: RefCell<Option<Vec<Key>>>,
    /// A new share: the flow task runs a discovery round at once.
    pub shared_out: Notify,
    /// The leader found partitions it did not deal.
    rejoin: Notify,
    /// The member id, for leaving the group at shutdown.
    member_id: RefCell<String>,
}

impl FleetState {
    pub fn epoch(&self) -> u64 {
        self.epoch.get()
    }

    /// Takes in what a discovery round found ready; returns this
    /// instance's share (empty between generations).
    pub fn discovered(&self, ready: &[SourceTopic]) -> HashSet<Key> {
        let mut all: Vec<Key> = ready
            .iter()
            .flat_map(|t| (0..t.partitions).map(move |p| (t.name.clone(), p)))
            .collect();
        all.sort();
        *self.discovered.borrow_mut() = Some(all);
        if self.needs_new_deal() {
            self.rejoin.notify_one();
        }
        self.owned.borrow().clone().unwrap_or_default()
    }

    /// The leader dealt other partitions than discovery finds now.
    fn needs_new_deal(&self) -> bool {
        self.leader.get()
            && self
                .dealt
                .borrow()
                .as_ref()
                .is_some_and(|d| Some(d) != self.discovered.borrow().as_ref())
    }

    /// Whether every partition of the share is among those ready.
    pub fn covered(&self, owned: &HashSet<Key>, ready: &[SourceTopic]) -> bool {
        let topics: HashMap<&str, i32> = ready
            .iter()
            .map(|t| (t.name.as_str(), t.partitions))
            .collect();
        owned
            .iter()
            .all(|(t, p)| topics.get(t.as_str()).is_some_and(|n| p < n))
    }
}

/// Whether this instance runs the flow's once-only duties: on its own
/// always, in a fleet when it leads.
pub(super) fn leads(flow: &FlowControl) -> bool {
    flow.fleet.as_ref().is_none_or(|f| f.leader.get())
}

/// How the heartbeats of a generation ended.
enum Ended {
    /// A rebalance began (or the leader asked for one): the partitions go
    /// back with their progress committed.
    Rebalance(&'static str),
    /// Expelled: the partitions go back without a commit.
    Lost,
    /// Another instance holds this one's `group.instance.id`.
    Fenced,
}

/// The flow's membership, for as long as the mirror runs.
pub(super) async fn membership_task(
    plans: Arc<Vec<FlowPlan>>,
    index: usize,
    flow: Rc<FlowControl>,
    shared: Rc<Shared>,
    workers: Rc<Vec<Sender<ToWorker>>>,
    stop: Arc<AtomicBool>,
) {
    let plan = &plans[index];
    let (Some(state), Some(config)) = (flow.fleet.clone(), plan.fleet.clone()) else {
        return;
    };
    // The leader deals what discovery found: wait for the first round.
    while state.discovered.borrow().is_none() {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut member = Member::new(flow.target.clone(), config.clone(), workers.len());
    let mut reason = "starting";
    let mut backoff = Duration::from_millis(200);
    let mut last_error: Option<String> = None;
    loop {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        let joined = match member.join(reason).await {
            Ok(j) => j,
            Err(e) if e.is_permanent() || is_config_error(&e) => {
                stop_flow(plan, &shared, e);
                return;
            }
            Err(e) if e.is_starting_up() => {
                // A fresh cluster's coordinator is still loading.
                crate::logging::starting_up(
                    "fleet group",
                    &format!(
                        "flow {}: cannot join fleet group '{}' yet: {e}",
                        plan.name(),
                        config.group
                    ),
                );
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
                continue;
            }
            Err(e) => {
                warn_once(
                    plan,
                    &mut last_error,
                    format!(
                        "cannot join fleet group '{}'; will retry: {e}",
                        config.group
                    ),
                );
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
                continue;
            }
        };
        *state.member_id.borrow_mut() = member.member_id().to_string();
        let partitions = state.discovered.borrow().clone().unwrap_or_default();
        let deals = joined.leader && !joined.skip_assignment;
        let dealt = if deals {
            deal(&joined.members, &partitions, config.tasks_max)
        } else {
            Vec::new()
        };
        let assignments: Vec<(String, bytes::Bytes)> = dealt
            .iter()
            .filter_map(|(m, a)| a.encode().ok().map(|b| (m.clone(), b)))
            .collect();
        let share = match member.sync(assignments).await {
            Ok(Some(share)) => share,
            Ok(None) => {
                reason = "the group moved to a new generation while joining";
                continue;
            }
            Err(e) if e.is_permanent() => {
                stop_flow(plan, &shared, e);
                return;
            }
            Err(e) => {
                warn_once(
                    plan,
                    &mut last_error,
                    format!("fleet group '{}': {e}; joining again", config.group),
                );
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
                reason = "the last join did not finish";
                continue;
            }
        };
        backoff = Duration::from_millis(200);
        if last_error.take().is_some() {
            tracing::info!(flow = %plan.name(), group = %config.group, "member of the fleet group again");
        }
        let owned: HashSet<Key> = share
            .topics
            .iter()
            .flat_map(|(t, ps)| ps.iter().map(move |p| (t.clone(), *p)))
            .collect();
        if plan.exactly_once {
            if let Err(e) =
                take_transactional_ids(plan, &flow, &workers, &joined, &dealt, &share).await
            {
                if e.is_permanent() {
                    stop_flow(plan, &shared, e);
                    return;
                }
                // Progress reads wait (UNSTABLE_OFFSET_COMMIT) until an
                // unfenced holder's transaction times out: slower, not wrong.
                tracing::warn!(flow = %plan.name(), "cannot fence earlier holders of the fleet's transactional ids: {e}");
            }
        }
        // A static leader back in a stable group deals nothing: the
        // coordinator's assignment is taken to cover what discovery found
        // (partitions created while it was away are dealt at the next
        // change).
        *state.dealt.borrow_mut() = joined.leader.then(|| partitions.clone());
        state.leader.set(joined.leader);
        state.working.set(share.working.max(0) as usize);
        state.epoch.set(state.epoch.get() + 1);
        shared.latest[index].restrict(Some(owned.clone()));
        tracing::info!(
            flow = %plan.name(),
            group = %config.group,
            generation = joined.generation,
            leader = joined.leader,
            members_working = share.working,
            "fleet generation {}: this instance mirrors {} partitions{}",
            joined.generation,
            owned.len(),
            if share.slot < 0 {
                format!(" (standing by: tasks.max = {} instances receive partitions)", config.tasks_max)
            } else {
                String::new()
            }
        );
        *state.owned.borrow_mut() = Some(owned);
        state.shared_out.notify_one();

        let ended = heartbeats(&mut member, &state, &config, &stop).await;
        let Some(ended) = ended else {
            return; // stopping: the shutdown commits and leaves
        };
        let commit = !matches!(ended, Ended::Lost | Ended::Fenced);
        if commit {
            // Heartbeats go on while the partitions are given back, so a
            // slow release does not outlast the session.
            let keep_alive = async {
                loop {
                    tokio::time::sleep(config.heartbeat_interval).await;
                    let _ = member.heartbeat().await;
                }
            };
            tokio::select! {
                _ = release(plan, &flow, &shared, &workers, &config, true) => {}
                _ = keep_alive => {}
            }
        } else {
            release(plan, &flow, &shared, &workers, &config, false).await;
        }
        match ended {
            Ended::Rebalance(why) => reason = why,
            Ended::Lost => {
                tracing::warn!(flow = %plan.name(), group = %config.group, "expelled from the fleet group (no heartbeat reached the coordinator within {} = {} ms); the partitions went back without a commit and may be mirrored again from their last committed position", crate::config::fleet::SESSION_TIMEOUT_MS, config.session_timeout.as_millis());
                reason = "expelled";
            }
            Ended::Fenced => {
                let e = crate::client::ClientError::Other {
                    cluster: plan.target.cluster.clone(),
                    reason: format!(
                        "another instance joined fleet group '{}' with this instance's {} '{}'; give each instance its own (--instance-id)",
                        config.group,
                        crate::config::fleet::INSTANCE_ID,
                        config.instance_id.as_deref().unwrap_or_default()
                    ),
                };
                stop_flow(plan, &shared, e);
                return;
            }
        }
    }
}

/// Heartbeats until the generation ends; `None` when the mirror stops.
async fn heartbeats(
    member: &mut Member,
    state: &FleetState,
    config: &crate::config::fleet::FleetConfig,
    stop: &AtomicBool,
) -> Option<Ended> {
    let mut last_ok = Instant::now();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(config.heartbeat_interval) => {}
            _ = state.rejoin.notified() => {
                if state.needs_new_deal() {
                    return Some(Ended::Rebalance("the leader found partitions it had not dealt"));
                }
                continue;
            }
        }
        if stop.load(Ordering::Relaxed) {
            return None;
        }
        match member.heartbeat().await {
            Ok(Beat::Fine) => last_ok = Instant::now(),
            Ok(Beat::Rebalance) => return Some(Ended::Rebalance("the group is rebalancing")),
            Ok(Beat::Lost) => return Some(Ended::Lost),
            Ok(Beat::Fenced) => return Some(Ended::Fenced),
            Err(e) if last_ok.elapsed() >= config.session_timeout => {
                tracing::warn!(group = %config.group, "no heartbeat answered for the whole session: {e}");
                return Some(Ended::Lost);
            }
            Err(e) => tracing::debug!(group = %config.group, "heartbeat: {e}"),
        }
    }
}

/// Gives every partition of the flow back: the routing tasks stop, the
/// workers stop fetching and wait for what is in flight (exactly-once:
/// commit the transaction), their last positions are committed (unless
/// `commit` is false: the partitions may be another's already), and the
/// flow forgets them.
async fn release(
    plan: &FlowPlan,
    flow: &FlowControl,
    shared: &Shared,
    workers: &[Sender<ToWorker>],
    config: &crate::config::fleet::FleetConfig,
    commit: bool,
) {
    let index = plan.index;
    let mut epoch = 0;
    if let Some(state) = &flow.fleet {
        *state.owned.borrow_mut() = None;
        epoch = state.epoch.get() + 1;
        state.epoch.set(epoch);
    }
    for task in flow.routed.borrow_mut().drain(..) {
        task.abort();
    }
    let by = Instant::now() + (config.rebalance_timeout / 2).min(Duration::from_secs(10));
    let mut replies = Vec::new();
    for w in workers {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let msg = ToWorker::Release {
            flow: index,
            epoch,
            by,
            reply: tx,
        };
        if w.send(msg).await.is_ok() {
            replies.push(rx);
        }
    }
    for rx in replies {
        let wait = by + Duration::from_secs(2);
        if let Ok(Ok(report)) = tokio::time::timeout_at(wait.into(), rx).await {
            absorb(shared, report);
        }
    }
    if commit {
        flush_syncs(plan, flow, &shared.syncs[index]).await;
        if !plan.exactly_once {
            report_commit(plan, flow.store.commit(flow.progress_home()).await);
        }
    }
    // Partitions stopped here (e.g. fenced while this instance was out of
    // the group) are their next owner's now: not this instance's failures.
    let dropped = {
        let mut summary = shared.summary.borrow_mut();
        let before = summary.failures.len();
        summary.failures.retain(|f| f.flow != index);
        before - summary.failures.len()
    };
    if dropped > 0 {
        tracing::info!(flow = %plan.name(), partitions = dropped, "partitions stopped here went back to the fleet; whoever owns them next mirrors them");
    }
    shared.latest[index].restrict(Some(HashSet::new()));
    flow.store.forget_all();
    let released = std::mem::take(&mut *flow.assigned.borrow_mut()).len();
    shared.assigned[index].set(0);
    for id in flow.metric_ids.borrow_mut().drain(..) {
        shared.metrics.unregister(id);
    }
    tracing::debug!(flow = %plan.name(), partitions = released, committed = commit, "partitions given back to the fleet");
}

/// Exactly-once mode, after a generation formed: the workers take the
/// transactional ids of this instance's slot (first taken from any earlier
/// holder, so progress reads are not held up by its open transaction),
/// and the leader fences the ids no member holds in this generation (those
/// of members that died or left).
async fn take_transactional_ids(
    plan: &FlowPlan,
    flow: &FlowControl,
    workers: &[Sender<ToWorker>],
    joined: &crate::fleet::member::Joined,
    dealt: &[(String, kmirror_proto::fleet::Assignment)],
    share: &kmirror_proto::fleet::Assignment,
) -> Result<(), crate::client::ClientError> {
    if share.slot >= 0 {
        let slot = share.slot as usize;
        // Fenced before the workers hear of the slot: a worker that took
        // an id first would have its new epoch bumped by this fence and
        // take that for another instance taking over.
        super::fence_slot(plan, flow, slot, workers.len()).await?;
        tracing::info!(
            flow = %plan.name(),
            slot,
            transactional_ids = workers.len(),
            "fenced earlier holders of the flow's transactional ids of this instance's fleet slot"
        );
        for w in workers {
            let _ = w
                .send(ToWorker::TxnSlot {
                    flow: plan.index,
                    slot,
                    members: share.working.max(1) as usize,
                })
                .await;
        }
    }
    if joined.leader && !dealt.is_empty() {
        // (slot -> workers) of this generation's working members.
        let mut held: HashMap<usize, usize> = HashMap::new();
        for (member_id, a) in dealt {
            let Ok(slot) = usize::try_from(a.slot) else {
                continue;
            };
            let workers = joined
                .members
                .iter()
                .find(|m| &m.member_id == member_id)
                .and_then(|m| MemberMetadata::decode(m.metadata.clone()).ok())
                .map_or(1, |m| m.workers as usize);
            held.insert(slot, workers);
        }
        let most = held.values().copied().max().unwrap_or(1);
        let fenced = super::fence_transactional_ids(plan, flow, held.len().max(1), most, |s, w| {
            held.get(&s).is_some_and(|n| w < *n)
        })
        .await?;
        if fenced > 0 {
            tracing::info!(flow = %plan.name(), transactional_ids = fenced, "fenced the transactional ids no fleet member holds now");
        }
    }
    Ok(())
}

/// Errors that repeat until the operator changes the configuration.
fn is_config_error(e: &crate::client::ClientError) -> bool {
    use kmirror_proto::error_code::ErrorCode;
    matches!(
        e,
        crate::client::ClientError::Kafka { code, .. }
            if matches!(*code, ErrorCode::INCONSISTENT_GROUP_PROTOCOL | ErrorCode::INVALID_SESSION_TIMEOUT | ErrorCode::GROUP_MAX_SIZE_REACHED)
    )
}

fn warn_once(plan: &FlowPlan, last: &mut Option<String>, text: String) {
    if last.as_deref() != Some(text.as_str()) {
        tracing::warn!(flow = %plan.name(), "{text}");
        *last = Some(text);
    }
}

/// At shutdown, after the last commit: a dynamic member leaves, so the
/// others take its partitions at once instead of after its session.
pub(super) async fn leave(plan: &FlowPlan, flow: &FlowControl) {
    let (Some(state), Some(config)) = (&flow.fleet, &plan.fleet) else {
        return;
    };
    let member_id = state.member_id.borrow().clone();
    crate::fleet::member::leave(&flow.target, config, &member_id).await;
}

/// The leader of a fleet checkpoints every partition, but its own workers
/// report the offset map of its share only: the others' maps are read
/// again from the offset syncs the other members wrote.
pub(super) async fn refresh_maps(
    plan: &FlowPlan,
    flow: &FlowControl,
    syncs: &crate::offsets::syncs::OffsetSyncs,
) {
    let Some(state) = &flow.fleet else {
        return;
    };
    if state.working.get() <= 1 {
        return; // every partition is mirrored here
    }
    let owned = state.owned.borrow().clone().unwrap_or_default();
    match crate::offsets::translate::load_maps(plan, &flow.source, &flow.target).await {
        Ok(maps) => syncs.replace_unless(maps, |key| owned.contains(key)),
        Err(e) => tracing::debug!(flow = %plan.name(), "cannot read the fleet's offset syncs: {e}"),
    }
}
