//! Exactly-once mode: one transactional producer per (worker, flow). Data
//! and progress go into the same transaction on the target: batches are
//! produced with the transactional bit, the flow's positions are committed
//! with TxnOffsetCommit to its progress group, and the transaction commits
//! every `kmirror.transaction.interval.ms`. A read_committed consumer of
//! the target therefore sees each source record exactly once, whatever
//! crashes: an unfinished transaction is aborted (by the next holder of the
//! transactional id, or by its timeout) and mirroring resumes from the
//! position committed with the last finished one.
//!
//! The transactional id is derived from the flow and the worker, so a
//! restarted kmirror fences its predecessor: InitProducerId bumps the
//! producer epoch, the broker refuses the old epoch, and the old instance's
//! open transaction is aborted. An instance that finds itself fenced stops
//! the flow's partitions: another holds its place.
//!
//! Any failure inside a transaction (a produce error, a lost coordinator)
//! aborts it; the flow's partitions on this worker rewind to their last
//! committed position under a new epoch, and nothing is skipped or written
//! twice.

use std::collections::HashSet;
use std::rc::Rc;
use std::time::{Duration, Instant};

use kmirror_proto::control::find_coordinator::CoordinatorType;
use kmirror_proto::control::offset_commit::CommitOffset;
use kmirror_proto::control::producer_id::InitProducerIdRequest;
use kmirror_proto::control::txn::{
    AddOffsetsToTxnRequest, AddPartitionsToTxnRequest, EndTxnRequest, TxnOffsetCommitRequest,
    TxnProducer,
};
use kmirror_proto::control::{group_by_topic, TopicErrors};
use kmirror_proto::error_code::ErrorCode;

use crate::client::{admin, ClientError, Conn};
use crate::mirror::partition::ProducerIdentity;
use crate::mirror::progress::CommitNote;

use super::Worker;

/// Backoff for transaction requests: from this, doubling, up to the cap.
const BACKOFF_FROM: Duration = Duration::from_millis(100);
const BACKOFF_CAP: Duration = Duration::from_secs(5);

/// The transactional id of `worker` for the flow `source -> target`, in
/// the instance at `slot` among the fleet's working members (0 for an
/// instance on its own, whose ids keep the name they had before fleets).
pub fn transactional_id(source: &str, target: &str, slot: usize, worker: usize) -> String {
    if slot == 0 {
        format!("kmirror.{source}.{target}.worker-{worker}")
    } else {
        format!("kmirror.{source}.{target}.member-{slot}.worker-{worker}")
    }
}

/// A worker's transaction state for one flow.
pub(super) struct Txn {
    pub transactional_id: String,
    /// The fleet's working members when the id was given (recorded in the
    /// commits, for a later run to fence every id in use).
    members: usize,
    /// The open transaction has the progress group added (AddOffsetsToTxn).
    offsets_added: bool,
    /// The producer while it is usable; `None` until (re)initialised.
    pub producer: Option<TxnProducer>,
    /// Bumped with each new producer; partitions adopt it.
    generation: u32,
    /// When the open transaction got its first partition.
    pub opened_at: Option<Instant>,
    /// When the last transaction ended (commit or abort).
    ended_at: Instant,
    /// How long ending a transaction takes (sends stop meanwhile), as a
    /// moving average: the interval stretches to keep that under a fifth of
    /// the time.
    commit_cost: Duration,
    /// No new batches go out while the transaction is being ended.
    pub ending: bool,
    /// A failure inside the open transaction: it must be aborted.
    pub doomed: Option<String>,
    /// Another instance holds the transactional id; the flow has stopped.
    pub fenced: bool,
    /// The producer id and epoch last held, for a re-init after an abort.
    last: Option<(i64, i16)>,
    coordinator: Option<Conn>,
    /// The progress group's coordinator, for TxnOffsetCommit.
    group_coordinator: Option<Conn>,
}

impl Txn {
    pub fn new(transactional_id: String) -> Txn {
        Txn {
            transactional_id,
            members: 1,
            offsets_added: false,
            producer: None,
            generation: 0,
            opened_at: None,
            ended_at: Instant::now(),
            commit_cost: Duration::ZERO,
            ending: false,
            doomed: None,
            fenced: false,
            last: None,
            coordinator: None,
            group_coordinator: None,
        }
    }

    /// The identity the current producer's batches carry, while there is
    /// one: a partition assigned meanwhile adopts it (sequences from 0 are
    /// right for it, as this epoch has not written it).
    pub fn identity(&self) -> Option<ProducerIdentity> {
        self.producer.as_ref().map(|p| ProducerIdentity {
            producer_id: p.producer_id,
            epoch: p.producer_epoch,
            generation: self.generation,
        })
    }

    /// Forgets the producer and whatever transaction it had open (ended
    /// on the coordinator or left to be aborted there): the next batches
    /// wait for a new epoch, and no stale "open" or "ending" mark holds
    /// them back once it comes.
    pub fn forget_open(&mut self) {
        self.producer = None;
        self.opened_at = None;
        self.offsets_added = false;
        self.doomed = None;
        self.ending = false;
        self.ended_at = Instant::now();
    }

    /// Whether batches may go out now.
    pub fn can_send(&self) -> bool {
        self.producer.is_some() && !self.ending && self.doomed.is_none() && !self.fenced
    }
}

/// Why a transaction step failed, and what follows.
enum Step {
    /// Abort the transaction and start over from the last commit.
    Abort(String),
    /// Another instance took the transactional id: stop.
    Fenced(String),
}

impl From<ClientError> for Step {
    fn from(e: ClientError) -> Step {
        Step::Abort(e.to_string())
    }
}

impl Worker {
    /// Marks the flow's open transaction for abort (a produce failed).
    pub(super) fn doom_txn(&self, flow: usize, reason: String) {
        let mut txns = self.txns.borrow_mut();
        if let Some(t) = txns[flow].as_mut() {
            if t.doomed.is_none() {
                t.doomed = Some(reason);
            }
        }
        drop(txns);
        self.wake.notify_waiters();
    }

    /// A fleet's new generation gave this instance `slot` among `members`
    /// working ones: the next transaction runs under that slot's id (its
    /// InitProducerId fences whoever held the id before). The worker's
    /// partitions of the flow were released, so no transaction is open.
    pub(super) fn set_txn_slot(self: &Rc<Self>, flow: usize, slot: usize, members: usize) {
        let plan = &self.plans[flow];
        let id = transactional_id(&plan.source.cluster, &plan.target.cluster, slot, self.id);
        let was_fenced = {
            let mut txns = self.txns.borrow_mut();
            let Some(t) = txns[flow].as_mut() else {
                return;
            };
            t.members = members.max(1);
            if t.transactional_id != id {
                tracing::debug!(worker = self.id, from = %t.transactional_id, to = %id, "new transactional id");
                t.transactional_id = id;
                t.coordinator = None;
            }
            // A plain InitProducerId next: the slot's ids were just taken
            // from their earlier holders (which may have been this worker),
            // so the epoch held before means nothing any more.
            t.producer = None;
            t.last = None;
            std::mem::replace(&mut t.fenced, false)
        };
        if was_fenced && !self.shutting_down.get() {
            // The loop ended when another took the id; the fleet gave this
            // worker a place again.
            tokio::task::spawn_local(self.clone().txn_loop(flow));
        }
    }

    /// Runs the flow's transactions for as long as the worker mirrors.
    pub(super) async fn txn_loop(self: Rc<Self>, flow: usize) {
        let configured = self.plans[flow].produce.transaction_interval;
        let mut backoff = BACKOFF_FROM;
        loop {
            if self.shutting_down.get() || self.txn(flow, |t| t.fenced) {
                return;
            }
            let mut armed = std::pin::pin!(self.wake.notified());
            armed.as_mut().enable();
            // Sends pause while a transaction ends (a few coordinator round
            // trips); on a slow cluster the interval grows so that the pause
            // stays under a fifth of the time.
            let interval = configured.max(self.txn(flow, |t| t.commit_cost) * 4);
            let res = self.txn_round(flow, interval).await;
            match res {
                Ok(committed) => {
                    // Only a commit proves the way clear again.
                    if committed {
                        backoff = BACKOFF_FROM;
                    }
                    self.idle(armed).await;
                }
                Err(Step::Fenced(reason)) => {
                    // Our epoch was bumped: by a newer holder of the id (we
                    // are fenced for good), or by the coordinator after our
                    // transaction timed out. A re-init with our own producer
                    // id and epoch tells them apart (KIP-360).
                    self.txn_mut(flow, |t| t.ending = true);
                    self.wait_in_flight(flow).await;
                    self.reset_local(flow);
                    match self.init_producer(flow).await {
                        Ok(()) => tracing::warn!(
                            worker = self.id,
                            transactional_id = %self.txn(flow, |t| t.transactional_id.clone()),
                            "the transaction was ended by its coordinator ({reason}); resuming from the last committed position"
                        ),
                        Err(Step::Fenced(reason)) => {
                            self.on_fenced(flow, reason);
                            return;
                        }
                        Err(Step::Abort(_)) => {
                            tokio::time::sleep(backoff).await;
                            backoff = (backoff * 2).min(BACKOFF_CAP);
                        }
                    }
                }
                Err(Step::Abort(reason)) => {
                    self.abort(flow, &reason).await;
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(BACKOFF_CAP);
                }
            }
        }
    }

    /// Commits what the flow has acknowledged, then stops (the worker is
    /// shutting down and sends nothing new). Bounded by `by`.
    pub(super) async fn finish_txn(&self, flow: usize, by: Instant) {
        // A commit or abort the loop began before the stop ends first.
        while self.txn(flow, |t| t.ending) && Instant::now() < by {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        if self.txn(flow, |t| t.ending) {
            tracing::warn!(
                worker = self.id,
                transactional_id = %self.txn(flow, |t| t.transactional_id.clone()),
                "the transaction being ended when the stop came did not end by the deadline; its coordinator aborts it (at its timeout, or when the id is next taken) and its batches are mirrored again"
            );
            return;
        }
        if self.txn(flow, |t| t.producer.is_none() || t.fenced) {
            return;
        }
        let open = self.txn(flow, |t| t.opened_at.is_some() || t.doomed.is_some());
        if !open && !self.positions_moved(flow) {
            return;
        }
        let done = tokio::time::timeout_at(by.into(), async {
            match self.txn(flow, |t| t.doomed.clone()) {
                Some(reason) => Err(Step::Abort(reason)),
                None => self.commit(flow).await,
            }
        })
        .await;
        match done {
            Ok(Ok(())) => {}
            Ok(Err(Step::Abort(reason) | Step::Fenced(reason))) => tracing::warn!(
                worker = self.id,
                transactional_id = %self.txn(flow, |t| t.transactional_id.clone()),
                "the last transaction did not commit ({reason}); it is aborted and its batches are mirrored again after a restart"
            ),
            Err(_) => tracing::warn!(
                worker = self.id,
                transactional_id = %self.txn(flow, |t| t.transactional_id.clone()),
                "the last transaction did not commit by the shutdown deadline; it is aborted and its batches are mirrored again after a restart"
            ),
        }
    }

    fn txn<T>(&self, flow: usize, f: impl FnOnce(&Txn) -> T) -> T {
        let txns = self.txns.borrow();
        f(txns[flow]
            .as_ref()
            .expect("exactly-once flows have a transaction state"))
    }

    fn txn_mut<T>(&self, flow: usize, f: impl FnOnce(&mut Txn) -> T) -> T {
        let mut txns = self.txns.borrow_mut();
        f(txns[flow]
            .as_mut()
            .expect("exactly-once flows have a transaction state"))
    }

    /// One round: a producer if there is none, partitions with data joined
    /// to the transaction, and a commit when the interval is up. True when
    /// a transaction committed.
    async fn txn_round(&self, flow: usize, interval: Duration) -> Result<bool, Step> {
        if let Some(reason) = self.txn(flow, |t| t.doomed.clone()) {
            return Err(Step::Abort(reason));
        }
        let has_parts = self
            .parts
            .borrow()
            .iter()
            .any(|p| p.flow == flow && !p.detached);
        if !has_parts {
            return Ok(false);
        }
        if self.txn(flow, |t| t.producer.is_none()) {
            self.init_producer(flow).await?;
        }
        self.add_partitions(flow).await?;
        // Data waits at most one interval for its commit; positions that
        // moved without data (past control batches) go with the next one.
        let due = self.txn(flow, |t| match t.opened_at {
            Some(at) => at.elapsed() >= interval,
            None => t.ended_at.elapsed() >= interval,
        });
        let open = self.txn(flow, |t| t.opened_at.is_some());
        if due && (open || self.positions_moved(flow)) {
            self.commit(flow).await?;
            return Ok(true);
        }
        Ok(false)
    }

    /// The transaction coordinator of the flow's transactional id.
    async fn txn_coordinator(&self, flow: usize) -> Result<Conn, ClientError> {
        if let Some(c) = self.txn(flow, |t| t.coordinator.clone()) {
            if !c.is_closed() {
                return Ok(c);
            }
        }
        let id = self.txn(flow, |t| t.transactional_id.clone());
        let c = admin::coordinator(&self.targets[flow], &id, CoordinatorType::Transaction).await?;
        self.txn_mut(flow, |t| t.coordinator = Some(c.clone()));
        Ok(c)
    }

    /// The progress group's coordinator, looked up once and kept.
    async fn group_coordinator(&self, flow: usize, group: &str) -> Result<Conn, ClientError> {
        if let Some(c) = self.txn(flow, |t| t.group_coordinator.clone()) {
            if !c.is_closed() {
                return Ok(c);
            }
        }
        let c = admin::group_coordinator(&self.targets[flow], group).await?;
        self.txn_mut(flow, |t| t.group_coordinator = Some(c.clone()));
        Ok(c)
    }

    fn forget_coordinator(&self, flow: usize) {
        self.txn_mut(flow, |t| t.coordinator = None);
    }

    /// InitProducerId for the transactional id: fences every earlier holder
    /// (first time) or bumps our own epoch after an abort. Partitions adopt
    /// the new producer and start again from their committed positions.
    async fn init_producer(&self, flow: usize) -> Result<(), Step> {
        let (id, held) = self.txn(flow, |t| (t.transactional_id.clone(), t.last));
        let timeout_ms = self.plans[flow].produce.transaction_timeout_ms;
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let conn = self.txn_coordinator(flow).await?;
            let req = InitProducerIdRequest {
                transactional_id: Some(id.clone()),
                transaction_timeout_ms: timeout_ms,
                producer_id: held.map_or(-1, |(p, _)| p),
                producer_epoch: held.map_or(-1, |(_, e)| e),
            };
            let resp = conn.call(&req).await?;
            match resp.error {
                ErrorCode::NONE => {
                    let identity = self.txn_mut(flow, |t| {
                        t.generation += 1;
                        t.producer = Some(TxnProducer {
                            transactional_id: id.clone(),
                            producer_id: resp.producer_id,
                            producer_epoch: resp.producer_epoch,
                        });
                        t.last = Some((resp.producer_id, resp.producer_epoch));
                        ProducerIdentity {
                            producer_id: resp.producer_id,
                            epoch: resp.producer_epoch,
                            generation: t.generation,
                        }
                    });
                    tracing::info!(
                        worker = self.id,
                        cluster = %self.targets[flow].name(),
                        transactional_id = %id,
                        producer_id = resp.producer_id,
                        epoch = resp.producer_epoch,
                        "transactional producer ready"
                    );
                    // Detached partitions are left as they are: their
                    // requests in flight keep their table slot theirs.
                    for p in self
                        .parts
                        .borrow_mut()
                        .iter_mut()
                        .filter(|p| p.flow == flow && !p.detached)
                    {
                        p.on_txn_aborted(Some(identity));
                    }
                    self.wake.notify_waiters();
                    return Ok(());
                }
                ErrorCode::PRODUCER_FENCED | ErrorCode::INVALID_PRODUCER_EPOCH => {
                    return Err(Step::Fenced(format!(
                        "InitProducerId for '{id}' answered {}",
                        resp.error
                    )))
                }
                code if retry_on_coordinator(code) && attempt < 20 => {
                    if matches!(
                        code,
                        ErrorCode::NOT_COORDINATOR | ErrorCode::COORDINATOR_NOT_AVAILABLE
                    ) {
                        self.forget_coordinator(flow);
                    }
                    tokio::time::sleep(BACKOFF_FROM * attempt.min(10)).await;
                }
                code => {
                    return Err(Step::Abort(format!(
                        "InitProducerId for '{id}' at {} answered {code}",
                        conn.addr()
                    )))
                }
            }
        }
    }

    /// Joins partitions that have batches waiting to the open transaction.
    async fn add_partitions(&self, flow: usize) -> Result<(), Step> {
        let Some(producer) = self.txn(flow, |t| t.producer.clone()) else {
            return Ok(());
        };
        if self.txn(flow, |t| t.ending) {
            return Ok(());
        }
        let wanted: Vec<(usize, String, i32)> = self
            .parts
            .borrow()
            .iter()
            .enumerate()
            .filter(|(_, p)| p.flow == flow && !p.in_txn && p.is_active() && !p.queue.is_empty())
            .map(|(i, p)| (i, p.target_topic.to_string(), p.partition))
            .collect();
        if wanted.is_empty() {
            return Ok(());
        }
        let items: Vec<(String, i32)> = wanted.iter().map(|(_, t, p)| (t.clone(), *p)).collect();
        let req = AddPartitionsToTxnRequest {
            producer,
            topics: group_by_topic(&items),
        };
        self.txn_call(flow, &req, "AddPartitionsToTxn", |r| r.topics.clone())
            .await?;
        if self.plans[flow].fleet.is_some() {
            self.hold_positions(flow, &wanted).await?;
        }
        let mut parts = self.parts.borrow_mut();
        for (idx, _, _) in &wanted {
            parts[*idx].in_txn = true;
        }
        drop(parts);
        self.txn_mut(flow, |t| {
            t.opened_at.get_or_insert_with(Instant::now);
        });
        self.wake.notify_waiters();
        Ok(())
    }

    /// In a fleet: before a partition's first batch goes into the open
    /// transaction, its committed position is written into the transaction
    /// too, so the progress group holds a pending offset for it until the
    /// transaction ends. A new owner's progress read (require_stable) then
    /// waits for this transaction, committed or aborted, instead of
    /// starting from a position this instance may still commit past (an
    /// instance expelled while alive is fenced by the next holder of its
    /// ids, but not necessarily before the new owner reads).
    async fn hold_positions(
        &self,
        flow: usize,
        added: &[(usize, String, i32)],
    ) -> Result<(), Step> {
        let positions: Vec<(String, CommitOffset)> = {
            let parts = self.parts.borrow();
            added
                .iter()
                .filter_map(|(i, topic, _)| {
                    let p = &parts[*i];
                    let offset = p.committed_offset?;
                    Some((topic.clone(), self.commit_offset(flow, p, offset)))
                })
                .collect()
        };
        self.offsets_into_txn(flow, positions).await
    }

    /// A partition's position as its progress commit carries it.
    fn commit_offset(
        &self,
        flow: usize,
        p: &crate::mirror::partition::Partition,
        offset: i64,
    ) -> CommitOffset {
        CommitOffset {
            partition: p.partition,
            offset,
            metadata: CommitNote {
                source_topic: p.source_topic.to_string(),
                transactional_workers: Some(self.worker_count),
                transactional_members: Some(self.txn(flow, |t| t.members)),
                mm2_below: p.mm2_below,
            }
            .render(),
        }
    }

    /// AddOffsetsToTxn (once per transaction) and TxnOffsetCommit of
    /// `positions` to the flow's progress group.
    async fn offsets_into_txn(
        &self,
        flow: usize,
        positions: Vec<(String, CommitOffset)>,
    ) -> Result<(), Step> {
        if positions.is_empty() {
            return Ok(());
        }
        let Some(producer) = self.txn(flow, |t| t.producer.clone()) else {
            return Ok(());
        };
        let group = self.plans[flow].progress_group();
        if !self.txn(flow, |t| t.offsets_added) {
            let add = AddOffsetsToTxnRequest {
                producer: producer.clone(),
                group_id: group.clone(),
            };
            self.txn_call(flow, &add, "AddOffsetsToTxn", |c| *c).await?;
            self.txn_mut(flow, |t| t.offsets_added = true);
        }
        let req = TxnOffsetCommitRequest {
            transactional_id: producer.transactional_id.clone(),
            group_id: group.clone(),
            producer_id: producer.producer_id,
            producer_epoch: producer.producer_epoch,
            topics: group_by_topic(&positions),
        };
        let coordinator = self.group_coordinator(flow, &group).await?;
        let resp = match coordinator.call(&req).await {
            Ok(r) => r,
            Err(e) => {
                self.txn_mut(flow, |t| t.group_coordinator = None);
                return Err(e.into());
            }
        };
        if let Some(code) = resp.topics.code() {
            if matches!(
                code,
                ErrorCode::NOT_COORDINATOR | ErrorCode::COORDINATOR_NOT_AVAILABLE
            ) {
                self.txn_mut(flow, |t| t.group_coordinator = None);
            }
            return Err(step(
                code,
                format!("TxnOffsetCommit at {} answered {code}", coordinator.addr()),
            ));
        }
        Ok(())
    }

    /// Whether any partition's acknowledged position is past what the last
    /// transaction committed (skipped control batches move it too).
    fn positions_moved(&self, flow: usize) -> bool {
        self.parts.borrow().iter().any(|p| {
            p.flow == flow
                && !p.is_failed()
                && !p.detached
                && p.inflight.is_empty()
                && p.acked_offset != p.committed_offset
        })
    }

    /// Ends the open transaction with a commit: no new batches, the ones in
    /// flight acknowledged, the positions joined to it, then EndTxn.
    async fn commit(&self, flow: usize) -> Result<(), Step> {
        let Some(producer) = self.txn(flow, |t| t.producer.clone()) else {
            return Ok(());
        };
        let began = Instant::now();
        self.txn_mut(flow, |t| t.ending = true);
        self.wait_in_flight(flow).await;
        let drained = began.elapsed();
        if let Some(reason) = self.txn(flow, |t| t.doomed.clone()) {
            return Err(Step::Abort(reason));
        }
        let positions: Vec<(usize, String, CommitOffset)> = self
            .parts
            .borrow()
            .iter()
            .enumerate()
            .filter(|(_, p)| p.flow == flow && !p.is_failed() && !p.detached)
            .filter_map(|(i, p)| {
                let offset = p.acked_offset?;
                (p.acked_offset != p.committed_offset).then(|| {
                    (
                        i,
                        p.target_topic.to_string(),
                        self.commit_offset(flow, p, offset),
                    )
                })
            })
            .collect();
        let opened = self.txn(flow, |t| t.opened_at.is_some());
        self.offsets_into_txn(
            flow,
            positions
                .iter()
                .map(|(_, t, c)| (t.clone(), c.clone()))
                .collect(),
        )
        .await?;
        if opened || !positions.is_empty() {
            let end = EndTxnRequest {
                producer,
                committed: true,
            };
            self.txn_call_with(flow, &end, "EndTxn (commit)", |c| *c, Unanswered::AskAgain)
                .await?;
        }
        tracing::debug!(
            worker = self.id,
            drain_ms = drained.as_millis() as u64,
            total_ms = began.elapsed().as_millis() as u64,
            positions = positions.len(),
            "transaction committed"
        );
        let committed: HashSet<usize> = positions.iter().map(|(i, _, _)| *i).collect();
        let mut parts = self.parts.borrow_mut();
        for (i, p) in parts.iter_mut().enumerate() {
            if p.flow == flow && (committed.contains(&i) || p.in_txn) {
                p.on_txn_committed();
            }
        }
        drop(parts);
        self.txn_mut(flow, |t| {
            t.opened_at = None;
            t.offsets_added = false;
            t.ending = false;
            t.ended_at = Instant::now();
            t.commit_cost = (t.commit_cost * 7 + began.elapsed()) / 8;
        });
        self.stats.borrow_mut().txn_commits += 1;
        self.wake.notify_waiters();
        Ok(())
    }

    /// Aborts the open transaction (best effort: a producer whose epoch is
    /// bumped next has its transaction aborted anyway), then rewinds the
    /// flow's partitions to their committed positions under a new epoch.
    async fn abort(&self, flow: usize, reason: &str) {
        let id = self.txn(flow, |t| t.transactional_id.clone());
        tracing::warn!(
            worker = self.id,
            cluster = %self.targets[flow].name(),
            transactional_id = %id,
            "aborting the transaction: {reason}; resuming from the last committed position"
        );
        self.txn_mut(flow, |t| t.ending = true);
        self.wait_in_flight(flow).await;
        if let Some(producer) = self.txn(flow, |t| t.producer.clone()) {
            let end = EndTxnRequest {
                producer,
                committed: false,
            };
            if let Err(Step::Abort(e) | Step::Fenced(e)) =
                self.txn_call(flow, &end, "EndTxn (abort)", |c| *c).await
            {
                tracing::debug!(worker = self.id, transactional_id = %id, "{e}");
            }
        }
        self.reset_local(flow);
    }

    /// Forgets the producer and the open transaction: a new epoch comes
    /// next, and the flow's partitions rewind to their committed positions
    /// (and stay idle until it arrives).
    fn reset_local(&self, flow: usize) {
        self.txn_mut(flow, Txn::forget_open);
        for p in self
            .parts
            .borrow_mut()
            .iter_mut()
            .filter(|p| p.flow == flow && !p.detached)
        {
            p.on_txn_aborted(None);
        }
        self.stats.borrow_mut().txn_aborts += 1;
        self.wake.notify_waiters();
    }

    fn on_fenced(&self, flow: usize, reason: String) {
        let id = self.txn_mut(flow, |t| {
            t.fenced = true;
            t.producer = None;
            t.transactional_id.clone()
        });
        let message = format!(
            "another kmirror instance took over the transactional id '{id}' ({reason}); this one stops mirroring the flow's partitions so that nothing is written twice"
        );
        let idxs: Vec<usize> = self
            .parts
            .borrow()
            .iter()
            .enumerate()
            .filter(|(_, p)| p.flow == flow && !p.is_released())
            .map(|(i, _)| i)
            .collect();
        for idx in idxs {
            self.fail_partition(idx, message.clone());
        }
    }

    /// Waits until none of the flow's produce requests is in flight (each
    /// ends by its request timeout at the latest).
    async fn wait_in_flight(&self, flow: usize) {
        while self.flow_in_flight[flow].get() > 0 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    /// Sends a request (`what`) to the transaction coordinator, retrying
    /// the coordinator's transient errors; `read` picks the answer's errors.
    /// Any other error becomes the step's failure, naming the coordinator.
    async fn txn_call<R, T>(
        &self,
        flow: usize,
        req: &R,
        what: &str,
        read: impl Fn(&R::Response) -> T,
    ) -> Result<(), Step>
    where
        R: kmirror_proto::control::ControlRequest,
        T: TxnAnswer,
    {
        self.txn_call_with(flow, req, what, read, Unanswered::GiveUp)
            .await
    }

    /// [`Worker::txn_call`], saying what to do when a request goes
    /// unanswered (the connection dropped or timed out).
    async fn txn_call_with<R, T>(
        &self,
        flow: usize,
        req: &R,
        what: &str,
        read: impl Fn(&R::Response) -> T,
        unanswered: Unanswered,
    ) -> Result<(), Step>
    where
        R: kmirror_proto::control::ControlRequest,
        T: TxnAnswer,
    {
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let conn = match self.txn_coordinator(flow).await {
                Ok(c) => c,
                Err(e) if attempt < 10 => {
                    tracing::debug!(worker = self.id, "no transaction coordinator yet: {e}");
                    tokio::time::sleep(BACKOFF_FROM * attempt).await;
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            let resp = match conn.call(req).await {
                Ok(r) => r,
                Err(e) if unanswered == Unanswered::AskAgain && attempt < 20 => {
                    self.forget_coordinator(flow);
                    tracing::info!(
                        worker = self.id,
                        "{what} went unanswered ({e}); asking again"
                    );
                    tokio::time::sleep(BACKOFF_FROM * attempt.min(10)).await;
                    continue;
                }
                Err(e) => {
                    self.forget_coordinator(flow);
                    return Err(e.into());
                }
            };
            let answer = read(&resp);
            match answer.code() {
                Some(code) if retry_on_coordinator(code) && attempt < 20 => {
                    if matches!(
                        code,
                        ErrorCode::NOT_COORDINATOR | ErrorCode::COORDINATOR_NOT_AVAILABLE
                    ) {
                        self.forget_coordinator(flow);
                    }
                    tokio::time::sleep(BACKOFF_FROM * attempt.min(10)).await;
                }
                Some(code) => {
                    return Err(step(
                        code,
                        format!("{what} at {} answered {code}", conn.addr()),
                    ))
                }
                None => return Ok(()),
            }
        }
    }
}

/// What to do about a transaction request that got no answer.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Unanswered {
    /// Fail the step (the transaction is aborted).
    GiveUp,
    /// Send it again: for EndTxn(commit), whose effect may have happened.
    /// Aborting then would rewind to the last commit and write again what
    /// the coordinator committed; asked again, the coordinator answers
    /// NONE for a commit it completed, CONCURRENT_TRANSACTIONS while it
    /// writes the markers, and an error if the transaction was aborted.
    AskAgain,
}

/// What a transaction request's answer says, for the retry decision.
trait TxnAnswer {
    /// The first error in the answer, if any.
    fn code(&self) -> Option<ErrorCode>;
}

impl TxnAnswer for ErrorCode {
    fn code(&self) -> Option<ErrorCode> {
        (!self.is_ok()).then_some(*self)
    }
}

impl TxnAnswer for Vec<TopicErrors> {
    fn code(&self) -> Option<ErrorCode> {
        self.iter()
            .flat_map(|t| t.partitions.iter())
            .map(|p| p.error)
            .find(|e| !e.is_ok())
    }
}

/// Errors after which the same transaction request is tried again.
fn retry_on_coordinator(code: ErrorCode) -> bool {
    matches!(
        code,
        ErrorCode::CONCURRENT_TRANSACTIONS
            | ErrorCode::COORDINATOR_LOAD_IN_PROGRESS
            | ErrorCode::COORDINATOR_NOT_AVAILABLE
            | ErrorCode::NOT_COORDINATOR
    )
}

/// What a transaction error means: fenced, or abort and start over.
fn step(code: ErrorCode, reason: String) -> Step {
    match code {
        ErrorCode::PRODUCER_FENCED | ErrorCode::INVALID_PRODUCER_EPOCH => Step::Fenced(reason),
        _ => Step::Abort(reason),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transactional_ids_name_flow_and_worker() {
        assert_eq!(transactional_id("A", "B", 0, 3), "kmirror.A.B.worker-3");
        assert_eq!(
            transactional_id("A", "B", 2, 0),
            "kmirror.A.B.member-2.worker-0"
        );
    }

    #[test]
    fn a_forgotten_transaction_leaves_nothing_to_hold_the_next_epoch_back() {
        // As a commit cut off by a deadline leaves it: open, ending, doomed.
        let mut t = Txn::new("kmirror.A.B.worker-0".into());
        t.producer = Some(TxnProducer {
            transactional_id: t.transactional_id.clone(),
            producer_id: 7,
            producer_epoch: 3,
        });
        t.opened_at = Some(Instant::now());
        t.offsets_added = true;
        t.ending = true;
        t.doomed = Some("cut off".into());
        t.forget_open();
        assert!(t.identity().is_none(), "the old epoch is not adopted");
        assert!(!t.can_send(), "nothing goes out before a new epoch");
        t.producer = Some(TxnProducer {
            transactional_id: t.transactional_id.clone(),
            producer_id: 7,
            producer_epoch: 4,
        });
        assert!(t.can_send(), "the new epoch sends at once");
        assert!(t.opened_at.is_none() && !t.offsets_added);
    }
}
