//! A worker's fetch loops: one per (flow, source broker, stream), each with
//! its own fetch session (KIP-227). A fetch is sent only when the memory it
//! may bring fits under the process-wide cap; its answer may be at most the
//! fetch's byte limits plus room for one oversized batch.

use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use kmirror_proto::api::Api;
use kmirror_proto::error_code::ErrorCode;
use kmirror_proto::fetch::{FetchPartition, FetchRequest, FetchResponse, FetchTopic};
use kmirror_proto::header::begin_request;

use crate::client::ClientError;
use crate::mirror::fetch_session::{FetchSession, Wanted};
use crate::mirror::fetched;
use crate::net::buffers;

use super::{LoopKey, Worker};

/// How long a preferred read replica (KIP-392) is followed before the
/// leader is asked again (Kafka clients use `metadata.max.age.ms`, 5 min).
const PREFERRED_REPLICA_FOR: Duration = Duration::from_secs(300);

impl Worker {
    pub(super) async fn fetch_loop(self: Rc<Self>, key: LoopKey) {
        let plan = &self.plans[key.flow];
        let mut rotate = 0usize;
        let mut backoff = Duration::from_millis(100);
        let mut session = FetchSession::new();
        loop {
            if self.shutting_down.get() {
                break;
            }
            let mut armed = std::pin::pin!(self.wake.notified());
            armed.as_mut().enable();
            let wanted = self.fetchable(key, &mut rotate);
            if wanted.is_empty() {
                self.idle(armed).await;
                continue;
            }
            // Room for the answer under the process-wide memory cap.
            let Some(admission) = buffers::admit(plan.fetch.reservation(wanted.len())) else {
                self.idle(armed).await;
                continue;
            };
            let res = self.fetch_once(key, &wanted, &mut session).await;
            drop(admission);
            match res {
                Ok(()) => backoff = Duration::from_millis(100),
                Err(e) => {
                    tracing::warn!(worker = self.id, cluster = %plan.source.cluster, broker = key.broker, "fetch failed: {e}");
                    session.reset();
                    self.want_resolving(key.flow);
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
                && !p.held_back(now)
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
            .send_limited(
                Api::Fetch,
                version,
                plan.fetch.max_response(wanted.len()),
                |corr| {
                    let mut b = BytesMut::with_capacity(256);
                    begin_request(&mut b, Api::Fetch.key(), version, corr, &client_id);
                    req.encode(&mut b, version)?;
                    let len = b.len();
                    kmirror_proto::header::finish_frame(&mut b, len - 4);
                    Ok(vec![b.freeze()])
                },
            )
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
        if !resp.error.is_ok() {
            self.stats.borrow_mut().error("fetch", resp.error.0);
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
                        self.want_resolving(key.flow);
                        self.wake.notify_waiters();
                        continue;
                    }
                }
                if !data.error.is_ok() {
                    self.stats.borrow_mut().error("fetch", data.error.0);
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
                    self.want_resolving(key.flow);
                    continue;
                }
                if data.error == ErrorCode::OFFSET_OUT_OF_RANGE {
                    p.out_of_range = true;
                    self.want_resolving(key.flow);
                    continue;
                }
                if !data.error.is_ok() {
                    p.src_leader = None;
                    self.want_resolving(key.flow);
                    let mut reason = format!("the source answered {}", data.error);
                    if data.error.is_authorization_error() {
                        reason.push_str(&format!(
                            "; kmirror's principal lacks the ACL Read on Topic '{}' on cluster {}",
                            p.source_topic, plan.source.cluster
                        ));
                    }
                    // A leader moving gets a short pause and new metadata;
                    // anything else (authorization and the like), or an
                    // error that persists, is said once per backoff until
                    // it clears. Nothing is skipped either way.
                    let transient =
                        data.error.needs_metadata_refresh() || data.error.is_retriable();
                    let retry_in = if transient {
                        p.on_fetch_error(now, Duration::from_millis(100))
                    } else {
                        p.on_fetch_defect(reason.clone(), now)
                    };
                    if transient && p.fetch_errors < 3 {
                        tracing::debug!(
                            broker = %conn.addr(),
                            topic = %p.source_topic,
                            partition = p.partition,
                            retry_in_ms = retry_in.as_millis() as u64,
                            "{reason}"
                        );
                    } else {
                        p.defect = Some(reason.clone());
                        tracing::warn!(
                            cluster = %plan.source.cluster,
                            broker = %conn.addr(),
                            topic = %p.source_topic,
                            partition = p.partition,
                            offset = requested,
                            retry_in_ms = retry_in.as_millis() as u64,
                            "fetch failed: {reason}"
                        );
                    }
                    continue;
                }
                let queued_before = p.queue.len();
                let applied = fetched::apply(p, data, requested, &plan.fetch);
                if !p.queue.is_empty() && !p.pending {
                    // Batches before a defect are queued too.
                    p.pending = true;
                    self.pending.borrow_mut().push(idx);
                }
                match applied {
                    Ok(f) => {
                        p.on_fetch_ok();
                        p.measured.log_end = Some(if plan.fetch.read_committed {
                            data.last_stable_offset
                        } else {
                            data.high_watermark
                        });
                        let now_ms = crate::client::small_topic::now_ms();
                        let crate::mirror::partition::Partition {
                            queue, measured, ..
                        } = &mut *p;
                        for q in queue.iter().skip(queued_before) {
                            let age = now_ms.saturating_sub(q.batch.max_timestamp()).max(0);
                            measured.age.record(age as u64);
                        }
                        let mut s = self.stats.borrow_mut();
                        s.copied_bytes += f.copied_bytes;
                        s.reencoded_batches += f.reencoded;
                        s.recompressed_batches += f.recompressed;
                        s.recompressed_bytes += f.recompressed_bytes;
                        s.coalesced_batches += f.coalesced;
                        s.coalesced_bytes += f.coalesced_bytes;
                    }
                    Err(reason) => {
                        // Nothing is skipped: the same offset is fetched
                        // again after a backoff, from whichever replica
                        // leads then.
                        let offset = p.fetch_offset.unwrap_or(requested);
                        let retry_in = p.on_fetch_defect(reason.clone(), now);
                        tracing::warn!(
                            cluster = %plan.source.cluster,
                            broker = %conn.addr(),
                            topic = %p.source_topic,
                            partition = p.partition,
                            offset,
                            retry_in_ms = retry_in.as_millis() as u64,
                            "cannot forward fetched data: {reason}"
                        );
                    }
                }
            }
        }
        self.wake.notify_waiters();
        Ok(())
    }
}
