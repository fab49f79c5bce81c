//! A worker's produce loops: one per (flow, target leader, stream). Each
//! request carries one batch from every partition ready to send, rewritten
//! for the mirror's producer; acknowledgements move the partitions'
//! progress, errors rewind or stop them.

use std::cell::Cell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use kmirror_proto::api::Api;
use kmirror_proto::error_code::ErrorCode;
use kmirror_proto::produce::{self, ProduceResponse, ProduceTopic};

use crate::client::ClientError;
use crate::mirror::partition::Partition;

use super::{LoopKey, Worker};

impl Worker {
    pub(super) async fn produce_loop(self: Rc<Self>, key: LoopKey) {
        let (flow, broker) = (key.flow, key.broker);
        let plan = &self.plans[flow];
        let in_flight = Rc::new(Cell::new(0usize));
        let mut rotate = 0usize;
        let mut backoff = Duration::from_millis(100);
        // Reused request after request: the topic entries (names kept, batch
        // lists emptied once a request is encoded).
        let mut topics: Vec<ProduceTopic> = Vec::new();
        loop {
            if self.shutting_down.get() {
                // Nothing new goes out; the worker waits for what is in
                // flight until its deadline.
                break;
            }
            let mut armed = std::pin::pin!(self.wake.notified());
            armed.as_mut().enable();
            if in_flight.get() >= plan.produce.max_in_flight_requests || !self.has_sendable(key) {
                self.idle(armed).await;
                continue;
            }
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
                // Transactions as Kafka 3.x clients run them: v12 would
                // ask a Kafka 4 broker for KIP-890's implicit partitions.
                Ok(v) if plan.exactly_once => v.min(11),
                Ok(v) => v,
                Err(e) => {
                    let idxs: Vec<usize> = self.target_parts(key);
                    for idx in idxs {
                        self.fail_partition(idx, e.to_string());
                    }
                    continue;
                }
            };
            let sent = self.take_batches(key, &mut rotate, &mut topics);
            if sent.is_empty() {
                self.spare_sent.borrow_mut().push(sent);
                continue;
            }
            let client_id = &self.targets[flow].settings().client_id;
            let transactional_id = self.transactional_id(flow);
            let res = conn
                .send(Api::Produce, version, |corr| {
                    let head = produce::ProduceHeader {
                        correlation_id: corr,
                        client_id,
                        transactional_id: transactional_id.as_deref(),
                        acks: plan.produce.acks,
                        timeout_ms: plan.produce.timeout_ms,
                    };
                    produce::encode_request(version, &head, &topics)
                })
                .await;
            // The request holds its own references to the batches.
            for t in &mut topics {
                t.partitions.clear();
            }
            self.stats.borrow_mut().produce_requests += 1;
            let worker = self.clone();
            match res {
                Err(e) => {
                    worker.produce_failed(flow, &sent, &e);
                    worker.spare_sent.borrow_mut().push(sent);
                }
                Ok(inflight) => {
                    in_flight.set(in_flight.get() + 1);
                    let flow_count = &self.flow_in_flight[flow];
                    flow_count.set(flow_count.get() + 1);
                    let in_flight = in_flight.clone();
                    tokio::task::spawn_local(async move {
                        let res = inflight.wait().await;
                        match res.and_then(|body| {
                            ProduceResponse::decode(body, version).map_err(|e| {
                                ClientError::protocol(
                                    &worker.plans[flow].target.cluster,
                                    conn.addr(),
                                    "Produce",
                                    e,
                                )
                            })
                        }) {
                            Ok(resp) => worker.produce_done(flow, &sent, resp),
                            Err(e) => worker.produce_failed(flow, &sent, &e),
                        }
                        worker.spare_sent.borrow_mut().push(sent);
                        let flow_count = &worker.flow_in_flight[flow];
                        flow_count.set(flow_count.get() - 1);
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
        self.want_resolving(key.flow);
        for p in self.parts.borrow_mut().iter_mut() {
            if Self::produced_by(p, key) {
                p.tgt_leader = None;
            }
        }
    }

    /// Whether `p` may send a batch now: under its in-flight limit and, in
    /// exactly-once mode, inside an open transaction that is not ending.
    fn may_send(&self, p: &Partition, key: LoopKey) -> bool {
        let plan = &self.plans[key.flow];
        Self::produced_by(p, key)
            && p.can_send(plan.produce.max_in_flight_per_partition)
            && (!plan.exactly_once
                || (p.in_txn
                    && self.txns.borrow()[key.flow]
                        .as_ref()
                        .is_some_and(|t| t.can_send())))
    }

    /// Whether a partition of the loop `key` may send now (only partitions
    /// with queued batches are looked at).
    fn has_sendable(&self, key: LoopKey) -> bool {
        let mut parts = self.parts.borrow_mut();
        let mut pending = self.pending.borrow_mut();
        Self::drop_emptied(&mut parts, &mut pending);
        pending.iter().any(|&i| self.may_send(&parts[i], key))
    }

    /// Drops from `pending` the partitions whose queue emptied.
    fn drop_emptied(parts: &mut [Partition], pending: &mut Vec<usize>) {
        pending.retain(|&i| {
            let p = &mut parts[i];
            p.pending = !p.queue.is_empty();
            p.pending
        });
    }

    /// The transactional id the flow's produce requests carry, if any.
    fn transactional_id(&self, flow: usize) -> Option<String> {
        self.txns.borrow()[flow]
            .as_ref()
            .map(|t| t.transactional_id.clone())
    }

    /// One batch from each sendable partition led by `broker`, up to the
    /// request size limit (always at least one batch). Looks only at the
    /// worker's pending partitions, and drops those whose queue is empty.
    fn take_batches(
        &self,
        key: LoopKey,
        rotate: &mut usize,
        topics: &mut Vec<ProduceTopic>,
    ) -> Vec<usize> {
        let plan = &self.plans[key.flow];
        let produce = &plan.produce;
        let mut parts = self.parts.borrow_mut();
        let mut pending = self.pending.borrow_mut();
        Self::drop_emptied(&mut parts, &mut pending);
        let n = pending.len();
        let mut sent = self.spare_sent.borrow_mut().pop().unwrap_or_default();
        sent.clear();
        let mut size = 0usize;
        if n == 0 {
            return sent;
        }
        *rotate = (*rotate + 1) % n;
        for k in 0..n {
            let idx = pending[(k + *rotate) % n];
            if !self.may_send(&parts[idx], key) {
                continue;
            }
            let p = &mut parts[idx];
            let next_len = p.queue.front().map_or(0, |q| q.batch.len());
            if !sent.is_empty() && size + next_len > produce.max_request_bytes {
                break;
            }
            let was_full = p.queued_bytes >= plan.fetch.max_queued_bytes_per_partition;
            let Some(out) = p.take_next(produce.idempotent, plan.exactly_once) else {
                continue;
            };
            if was_full && p.queued_bytes < plan.fetch.max_queued_bytes_per_partition {
                // Its fetch loop left it out of the session: it may fetch again.
                self.mark_for_fetch(p, idx);
                self.wake.notify_waiters();
            }
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
        sent
    }

    fn produce_failed(&self, flow: usize, sent: &[usize], e: &ClientError) {
        tracing::warn!(worker = self.id, "produce request failed: {e}");
        if self.plans[flow].exactly_once {
            // Whether those batches were written is unknown: the
            // transaction is aborted and everything since the last commit
            // is sent again.
            self.doom_txn(flow, format!("a produce request failed: {e}"));
        }
        self.want_resolving(flow);
        let now = Instant::now();
        let mut parts = self.parts.borrow_mut();
        for &idx in sent {
            let p = &mut parts[idx];
            p.on_retriable_failure(false, now, Duration::from_millis(200));
            p.tgt_leader = None;
        }
    }

    fn produce_done(&self, flow: usize, sent: &[usize], resp: ProduceResponse) {
        let plan = &self.plans[flow];
        let mut results: HashMap<(&str, i32), &produce::ProducePartitionResponse> =
            HashMap::with_capacity(sent.len());
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
        let mut unpreserved = Vec::new();
        let mut doom: Option<String> = None;
        let mut parts = self.parts.borrow_mut();
        let mut stats = self.stats.borrow_mut();
        for &idx in sent {
            let p = &mut parts[idx];
            let result = results.get(&(&*p.target_topic, p.partition)).copied();
            let (now, base) = (Instant::now(), plan.produce.retry_backoff);
            match result {
                None => {
                    doom.get_or_insert_with(|| {
                        format!("no answer for {}[{}]", p.target_topic, p.partition)
                    });
                    p.on_retriable_failure(false, now, base);
                }
                Some(r) if r.error.is_ok() || r.error == ErrorCode::DUPLICATE_SEQUENCE_NUMBER => {
                    let from = p.acked_offset;
                    if let Some(s) = p.on_ack() {
                        p.on_mapped(&s, r.base_offset, from);
                        if let Some(reason) = p.check_preserved(&s, r.base_offset) {
                            unpreserved.push((idx, reason));
                        }
                        stats.records += s.records as u64;
                        stats.bytes += s.bytes as u64;
                        stats.batches += 1;
                        // The timestamp is the source's: any i64 at all.
                        let lat = now_us
                            .saturating_sub(s.max_timestamp.saturating_mul(1000))
                            .max(1) as u64;
                        if crate::mirror::counters::measured(s.max_timestamp) {
                            let _ = stats.latency_us.record(lat.min(3_600_000_000));
                            let added = now.duration_since(s.fetched_at).as_micros() as u64;
                            let _ = stats.added_us.record(added.clamp(1, 3_600_000_000));
                            stats.acked_at(now, s.bytes as u64);
                        }
                        p.measured.records += s.records as u64;
                        p.measured.bytes += s.bytes as u64;
                        p.measured.latency.record(lat / 1000);
                    }
                }
                Some(r) => {
                    let code = r.error;
                    stats.error("produce", code.0);
                    if doom.is_none() {
                        doom = Some(format!(
                            "{}[{}] answered {code}",
                            p.target_topic, p.partition
                        ));
                    }
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
                        p.on_retriable_failure(false, now, base);
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
                        p.on_retriable_failure(!follow_on, now, base);
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
                        if code.is_authorization_error() {
                            reason.push_str(&format!(
                                "; kmirror's principal lacks the ACL {} on cluster {}",
                                if code == ErrorCode::TRANSACTIONAL_ID_AUTHORIZATION_FAILED {
                                    "Write on its TransactionalId".to_string()
                                } else if code == ErrorCode::CLUSTER_AUTHORIZATION_FAILED {
                                    "IdempotentWrite on Cluster".to_string()
                                } else {
                                    format!("Write on Topic '{}'", p.target_topic)
                                },
                                plan.target.cluster
                            ));
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
        // Partitions to resend once their answers are in: the resolver
        // rewinds them.
        if doom.is_some() || sent.iter().any(|&i| !parts[i].is_active()) {
            self.want_resolving(flow);
        }
        drop(stats);
        drop(parts);
        for (idx, reason) in failures {
            self.fail_partition(idx, reason);
        }
        for (idx, reason) in unpreserved {
            self.stop_preserving(idx, &reason);
        }
        if let (true, Some(reason)) = (plan.exactly_once, doom) {
            self.doom_txn(flow, format!("a produce failed: {reason}"));
        }
    }
}
