//! Offset-preserving mode on a worker (`kmirror.offsets.preserve`): one
//! task per flow checks where each new partition's target stands, and fills
//! the gaps in the source's offsets with placeholders before the batch
//! after them goes out, so that every record lands at its source offset.
//! A partition where that cannot hold leaves the mode, saying why; the
//! exact offset map serves it from there, as for any partition.

use std::collections::HashMap;
use std::rc::Rc;
use std::time::Duration;

use crate::client::admin::{self, LATEST};
use crate::mirror::partition::Preserve;
use crate::offsets::placeholders::{self, FillError, Placeholders};
use crate::offsets::resume;

use super::Worker;

/// Backoff after a fill or check that failed, doubling up to the cap.
const BACKOFF_FROM: Duration = Duration::from_millis(200);
const BACKOFF_CAP: Duration = Duration::from_secs(10);

impl Worker {
    pub(super) async fn preserve_loop(self: Rc<Self>, flow: usize) {
        let plan = &self.plans[flow];
        // Per partition (by index): its placeholder producer.
        let mut fillers: HashMap<usize, Placeholders> = HashMap::new();
        let mut backoff = BACKOFF_FROM;
        // Partitions that start on an empty target above offset 0: the
        // placeholders below their start are deleted after the first fill.
        let mut log_starts: HashMap<usize, i64> = HashMap::new();
        loop {
            if self.shutting_down.get() {
                return;
            }
            let mut armed = std::pin::pin!(self.wake.notified());
            armed.as_mut().enable();
            let mut ok = self
                .check_targets(flow, &mut fillers, &mut log_starts)
                .await;
            let conflicts: Vec<(usize, String)> = self
                .parts
                .borrow()
                .iter()
                .enumerate()
                .filter(|(_, p)| p.flow == flow)
                .filter_map(|(i, p)| Some((i, p.preserve_conflict()?)))
                .collect();
            for (idx, reason) in conflicts {
                self.stop_preserving(idx, &reason);
            }
            let gaps: Vec<(usize, String, i32, i64, i64)> = self
                .parts
                .borrow()
                .iter()
                .enumerate()
                .filter(|(_, p)| p.flow == flow)
                .filter_map(|(i, p)| {
                    let (from, to) = p.gap()?;
                    Some((i, p.target_topic.to_string(), p.partition, from, to))
                })
                .collect();
            let busy = !gaps.is_empty();
            for (idx, topic, partition, from, to) in gaps {
                if self.shutting_down.get() {
                    return;
                }
                let filler = fillers
                    .entry(idx)
                    .or_insert_with(|| self.placeholders(flow, &topic, partition));
                match filler
                    .fill(&self.targets[flow], &topic, partition, from, to)
                    .await
                {
                    Ok(()) => {
                        {
                            let mut stats = self.stats.borrow_mut();
                            stats.placeholder_offsets += (to - from) as u64;
                            stats.placeholder_fills += 1;
                        }
                        self.parts.borrow_mut()[idx].on_filled(to);
                        self.wake.notify_waiters();
                        if let Some(start) = log_starts.remove(&idx).filter(|_| from == 0) {
                            let below = start.min(to);
                            match filler
                                .delete_below(&self.targets[flow], &topic, partition, below)
                                .await
                            {
                                Ok(start) => tracing::debug!(
                                    worker = self.id,
                                    topic,
                                    partition,
                                    start,
                                    "placeholders below the source's log start deleted"
                                ),
                                Err(e) => tracing::warn!(
                                    worker = self.id,
                                    cluster = %plan.target.cluster,
                                    topic,
                                    partition,
                                    "the placeholders below offset {below} stay on the target (read_committed consumers never see them): {e}"
                                ),
                            }
                        }
                    }
                    Err(FillError::Retry(reason)) => {
                        tracing::warn!(
                            worker = self.id,
                            cluster = %plan.target.cluster,
                            topic,
                            partition,
                            "cannot fill target offsets {from}..{to} with placeholders yet: {reason}"
                        );
                        ok = false;
                        break;
                    }
                    Err(FillError::GiveUp(reason)) => {
                        self.stop_preserving(idx, &format!(
                            "target offsets {from}..{to} cannot be filled with placeholders: {reason}"
                        ));
                    }
                }
            }
            if !ok {
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(BACKOFF_CAP);
            } else {
                backoff = BACKOFF_FROM;
                if !busy {
                    self.idle(armed).await;
                }
            }
        }
    }

    fn placeholders(&self, flow: usize, target_topic: &str, partition: i32) -> Placeholders {
        let plan = &self.plans[flow];
        let id = placeholders::transactional_id(
            &plan.source.cluster,
            &plan.target.cluster,
            target_topic,
            partition,
        );
        Placeholders::new(id, plan.produce.transaction_timeout_ms)
    }

    /// Whether partition `idx`'s target, ending at `end` past its progress
    /// `start`, holds the source's records at their own offsets.
    /// `None` when they could not be compared now.
    async fn target_holds_source(
        &self,
        flow: usize,
        idx: usize,
        start: i64,
        end: i64,
    ) -> Option<bool> {
        let (source_topic, target_topic, partition) = {
            let parts = self.parts.borrow();
            let p = &parts[idx];
            (p.source_topic.clone(), p.target_topic.clone(), p.partition)
        };
        let sides = resume::Sides {
            source: &self.sources[flow],
            source_topic: &source_topic,
            target: &self.targets[flow],
            target_topic: &target_topic,
            partition,
        };
        match resume::target_matches_source(&sides, start, end).await {
            Ok(matches) => Some(matches),
            Err(e) => {
                tracing::warn!(worker = self.id, topic = %target_topic, partition, "cannot compare the target's last records with the source's yet: {e}");
                None
            }
        }
    }

    /// Offset-preserving mode ends for partition `idx`; the log says why.
    pub(super) fn stop_preserving(&self, idx: usize, reason: &str) {
        let mut parts = self.parts.borrow_mut();
        let p = &mut parts[idx];
        if p.preserve == Preserve::Off {
            return;
        }
        tracing::warn!(
            cluster = %self.plans[p.flow].target.cluster,
            topic = %p.target_topic,
            partition = p.partition,
            "offsets are no longer preserved on this partition: {reason}; the exact offset map serves its translation from here"
        );
        p.stop_preserving();
        drop(parts);
        self.stats.borrow_mut().preserve_stopped += 1;
        self.wake.notify_waiters();
    }

    /// Decides, for each partition whose start position and target leader
    /// are known, whether its records can land at their source offsets:
    /// yes when the target partition ends where mirroring resumes, or is
    /// empty (the gap before the first record is filled). False when a
    /// lookup failed.
    async fn check_targets(
        &self,
        flow: usize,
        fillers: &mut HashMap<usize, Placeholders>,
        log_starts: &mut HashMap<usize, i64>,
    ) -> bool {
        let waiting: Vec<(usize, String, i32, i32, i64)> = self
            .parts
            .borrow()
            .iter()
            .enumerate()
            .filter(|(_, p)| p.flow == flow && p.preserve == Preserve::Unchecked)
            .filter_map(|(i, p)| {
                Some((
                    i,
                    p.target_topic.to_string(),
                    p.partition,
                    p.tgt_leader?,
                    p.acked_offset?,
                ))
            })
            .collect();
        let mut ok = true;
        for (idx, topic, partition, leader, start) in waiting {
            let filler = fillers
                .entry(idx)
                .or_insert_with(|| self.placeholders(flow, &topic, partition));
            match filler.recover(&self.targets[flow]).await {
                Ok(()) => {}
                Err(FillError::Retry(reason)) => {
                    tracing::warn!(
                        worker = self.id,
                        topic,
                        partition,
                        "cannot take the partition's placeholder transactional id yet: {reason}"
                    );
                    ok = false;
                    continue;
                }
                Err(FillError::GiveUp(reason)) => {
                    self.stop_preserving(
                        idx,
                        &format!("its placeholder transactional id cannot be used: {reason}"),
                    );
                    continue;
                }
            }
            let end = match self.targets[flow].broker(leader).await {
                Ok(conn) => admin::list_offsets(&conn, &topic, &[partition], LATEST, false).await,
                Err(e) => Err(e),
            };
            let end = match end.as_deref() {
                Ok([(_, Ok(end))]) => *end,
                other => {
                    tracing::warn!(
                        worker = self.id,
                        topic,
                        partition,
                        "cannot look up the target's end yet: {other:?}"
                    );
                    self.parts.borrow_mut()[idx].tgt_leader = None;
                    self.want_resolving(flow);
                    ok = false;
                    continue;
                }
            };
            let holds = if end > start {
                match self.target_holds_source(flow, idx, start, end).await {
                    Some(holds) => holds,
                    None => {
                        ok = false;
                        continue;
                    }
                }
            } else {
                false
            };
            if holds {
                tracing::info!(
                    worker = self.id,
                    cluster = %self.plans[flow].target.cluster,
                    topic,
                    partition,
                    "continuing at offset {end}, past the committed progress {start}: the target already holds the source's records up to there at their own offsets (written before an unclean stop)"
                );
                let mut parts = self.parts.borrow_mut();
                let p = &mut parts[idx];
                p.queue.clear();
                p.queued_bytes = 0;
                p.skip_to(end);
                p.committed_offset = Some(end);
                p.preserve = Preserve::On {
                    next: end,
                    acked: end,
                };
                drop(parts);
                self.wake.notify_waiters();
            } else if end == start || end == 0 {
                tracing::debug!(
                    worker = self.id,
                    topic,
                    partition,
                    start,
                    end,
                    "offsets preserved"
                );
                if end == 0 && start > 0 {
                    log_starts.insert(idx, start);
                }
                self.parts.borrow_mut()[idx].preserve = Preserve::On {
                    next: end,
                    acked: end,
                };
                self.wake.notify_waiters();
            } else {
                self.stop_preserving(
                    idx,
                    &format!(
                        "the target partition ends at offset {end} but mirroring resumes at source offset {start} (offsets are preserved on an empty target partition, one that ends where progress stands, or one whose last records are the source's at the same offsets)"
                    ),
                );
            }
        }
        ok
    }
}
