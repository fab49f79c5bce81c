//! A flow's resolver on a worker: producer ids for the target, leaders on
//! both sides, start offsets for new partitions, and positions after
//! OFFSET_OUT_OF_RANGE. One runs per flow, so an unreachable cluster stalls
//! only the flows that use it; a round that fails backs off before the next.

use std::collections::HashMap;
use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::client::admin::{self, EARLIEST, LATEST};
use crate::client::ClientError;
use crate::mirror::partition::{ProducerIdentity, Status};

use super::{Side, Worker};

/// Backoff after a failed round: from this, doubling, up to the cap.
const BACKOFF_FROM: Duration = Duration::from_millis(200);
const BACKOFF_CAP: Duration = Duration::from_secs(10);
/// A round runs at least this often even when nothing asked for one:
/// preferred replicas expire, and a change no caller reported is found.
pub(super) const FULL_ROUND_EVERY: Duration = Duration::from_secs(1);

impl Worker {
    pub(super) async fn resolver(self: Rc<Self>, flow: usize) {
        let mut backoff = BACKOFF_FROM;
        let mut last_round: Option<Instant> = None;
        loop {
            if self.shutting_down.get() {
                return;
            }
            let mut armed = std::pin::pin!(self.wake.notified());
            armed.as_mut().enable();
            // Rounds walk every partition: only when asked, or now and then.
            let due = self.resolve_wanted[flow].replace(false)
                || last_round.is_none_or(|t| t.elapsed() >= FULL_ROUND_EVERY);
            if !due {
                self.idle(armed).await;
                continue;
            }
            last_round = Some(Instant::now());
            let ok = self.resolve_flow(flow).await;
            // Exactly-once partitions rewind when their transaction aborts.
            let waiting = !self.plans[flow].exactly_once && self.resume_recovering(flow);
            if !ok || waiting {
                // Partitions still waiting to retry keep asking.
                self.want_resolving(flow);
            }
            self.start_loops();
            // Fetch loops look at every partition again.
            let generation = &self.fetch_generation[flow];
            generation.set(generation.get() + 1);
            if ok {
                backoff = BACKOFF_FROM;
                self.idle(armed).await;
            } else {
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(BACKOFF_CAP);
            }
        }
    }

    /// One round; false when a request failed (the next round backs off).
    async fn resolve_flow(&self, flow: usize) -> bool {
        let mut ok = true;
        let has_parts = self.parts.borrow().iter().any(|p| p.flow == flow);
        if !has_parts {
            return true;
        }
        // Producer id for the target (exactly-once flows get theirs from
        // their transaction loop).
        let need_pid = !self.plans[flow].exactly_once
            && (self.producer_ids.borrow()[flow].is_none() || self.producer_reset.borrow()[flow]);
        if need_pid {
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
                    Err(e) if e.is_starting_up() => {
                        crate::logging::starting_up(
                            "producer id",
                            &format!("worker {}: cannot get a producer id yet: {e}", self.id),
                        );
                        ok = false;
                    }
                    Err(e) => {
                        tracing::warn!(worker = self.id, cluster = %self.targets[flow].name(), "cannot get a producer id: {e}");
                        ok = false;
                    }
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
        ok &= self.resolve_leaders(flow).await;
        ok &= self.resolve_offsets(flow).await;
        ok
    }

    /// Leaders of partitions that have none known, on both sides.
    async fn resolve_leaders(&self, flow: usize) -> bool {
        let mut ok = true;
        for side in [Side::Fetch, Side::Produce] {
            let topics: Vec<String> = {
                let parts = self.parts.borrow();
                let mut t: Vec<String> = parts
                    .iter()
                    .filter(|p| p.flow == flow && !p.is_stopped())
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
            let client = match side {
                Side::Fetch => &self.sources[flow],
                Side::Produce => &self.targets[flow],
            };
            match client.metadata(Some(&topics)).await {
                Ok(meta) => {
                    let mut parts = self.parts.borrow_mut();
                    let map = match side {
                        Side::Fetch => self.by_source.borrow(),
                        Side::Produce => self.by_target.borrow(),
                    };
                    for t in meta {
                        for l in t.partitions.iter().filter(|l| l.leader >= 0) {
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
                    tracing::warn!(
                        worker = self.id,
                        cluster = %client.name(),
                        "metadata refresh failed: {e}"
                    );
                    ok = false;
                }
            }
        }
        ok
    }

    /// Start offsets, asked of each leader for all its new partitions of a
    /// topic at once; out-of-range positions one by one (rare).
    async fn resolve_offsets(&self, flow: usize) -> bool {
        let mut ok = true;
        // (leader, topic) -> [(index, partition)]
        type ByLeader = HashMap<(i32, Rc<str>), Vec<(usize, i32)>>;
        let mut fresh = ByLeader::new();
        let mut out_of_range = Vec::new();
        for (i, p) in self.parts.borrow().iter().enumerate() {
            if p.flow != flow || p.is_stopped() {
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
                ok = false;
                let mut all = self.parts.borrow_mut();
                for (idx, _) in &parts {
                    all[*idx].src_leader = None;
                }
            }
        }
        for (idx, topic, partition, leader) in out_of_range {
            if let Err(e) = self
                .resolve_offset(flow, idx, &topic, partition, leader)
                .await
            {
                tracing::warn!(worker = self.id, topic = %topic, partition, "cannot look up offsets: {e}");
                ok = false;
                self.parts.borrow_mut()[idx].src_leader = None;
            }
        }
        ok
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
        // Said once per topic below, not once per partition.
        let mut started: Vec<(i32, i64)> = Vec::new();
        for (partition, res) in found {
            let Some(&(idx, _)) = parts.iter().find(|(_, p)| *p == partition) else {
                continue;
            };
            match res {
                Ok(offset) if offset >= 0 => {
                    tracing::debug!(worker = self.id, topic, partition, offset, "start offset");
                    started.push((partition, offset));
                    let p = &mut all[idx];
                    if p.fetch_offset.is_none() {
                        p.fetch_offset = Some(offset);
                        p.acked_offset = Some(offset);
                        // Where an aborted transaction rewinds to: looking
                        // the start up again could skip what it held.
                        p.committed_offset.get_or_insert(offset);
                    }
                }
                Ok(offset) => {
                    tracing::warn!(
                        worker = self.id,
                        broker = %conn.addr(),
                        topic,
                        partition,
                        "the broker answered the start offset {offset}; asking again"
                    );
                    all[idx].src_leader = None;
                }
                Err(code) => {
                    tracing::warn!(
                        worker = self.id,
                        topic,
                        partition,
                        "cannot look up the start offset: {code}"
                    );
                    all[idx].src_leader = None;
                }
            }
        }
        if !started.is_empty() {
            started.sort();
            tracing::info!(
                worker = self.id,
                topic,
                partitions = %crate::logging::ranges(started.iter().map(|(p, _)| *p)),
                "starting {} without committed progress from the {} offset{}",
                if started.len() == 1 {
                    "1 partition".to_string()
                } else {
                    format!("{} partitions", started.len())
                },
                if latest { "latest" } else { "earliest" },
                if latest {
                    " (auto.offset.reset = latest)"
                } else {
                    ""
                }
            );
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
        let transactional = self.plans[flow].exactly_once;
        if pos < earliest {
            tracing::warn!(
                cluster = %self.sources[flow].name(), topic, partition,
                "records at offsets {pos}..{earliest} were deleted on the source before they were mirrored; resuming at {earliest}"
            );
            p.jump_to(earliest, transactional);
        } else if pos > latest {
            tracing::warn!(
                cluster = %self.sources[flow].name(), topic, partition,
                "position {pos} is beyond the source log end {latest} (the source log was truncated); resuming at {latest}"
            );
            p.jump_to(latest, transactional);
        }
        if !p.is_active() {
            // A new producer id first (see `Partition::jump_to`).
            self.want_resolving(flow);
        }
        Ok(())
    }

    /// Partitions of `flow` that failed a produce and have nothing in
    /// flight any more resume from their last acknowledged batch. Whether
    /// some still wait (for answers in flight, or their retry time).
    fn resume_recovering(&self, flow: usize) -> bool {
        let now = Instant::now();
        let mut waiting = false;
        let mut parts = self.parts.borrow_mut();
        for p in parts.iter_mut().filter(|p| p.flow == flow) {
            if let Status::Recovering {
                reset_producer,
                retry_at,
            } = p.status
            {
                if !p.inflight.is_empty() || retry_at > now {
                    waiting = true;
                    continue;
                }
                if reset_producer {
                    let current = self.producer_ids.borrow()[p.flow];
                    match current {
                        Some(id) if current != p.producer => p.adopt_producer(id),
                        _ => {
                            // Ask for a new id once; partitions adopt it
                            // when it arrives.
                            self.producer_reset.borrow_mut()[p.flow] = true;
                            waiting = true;
                            continue;
                        }
                    }
                }
                p.rewind();
            }
        }
        waiting
    }
}
