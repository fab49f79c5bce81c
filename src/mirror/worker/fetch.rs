//! A worker's fetch loops: one per (flow, source broker, stream), each with
//! its own fetch session (KIP-227). A request is planned from the partitions
//! whose state changed since the last one (the session keeps the others), and
//! from a whole pass over the loop's partitions only now and then. A fetch is
//! sent only when the memory it may bring fits under the process-wide cap;
//! its answer may be at most the fetch's byte limits plus room for one
//! oversized batch.

use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use kmirror_proto::api::Api;
use kmirror_proto::error_code::ErrorCode;
use kmirror_proto::fetch::{FetchPartition, FetchRequest, FetchResponse, FetchTopic};
use kmirror_proto::header::begin_request;

use crate::client::conn::Response;
use crate::client::fetch_stream::SpliceAsk;
use crate::client::ClientError;
use crate::mirror::fetch_session::{Change, FetchSession, SessionRequest, Wanted};
use crate::mirror::fetched;
use crate::mirror::partition::Partition;
use crate::net::buffers;

use super::{LoopKey, Worker};

/// How long a preferred read replica (KIP-392) is followed before the
/// leader is asked again (Kafka clients use `metadata.max.age.ms`, 5 min).
const PREFERRED_REPLICA_FOR: Duration = Duration::from_secs(300);

/// How often a fetch loop looks at every partition it may serve, not only
/// at those that changed: it finds what no event reported (a retry backoff
/// that ran out, a preferred replica that expired, a partition given to
/// another broker's loop).
const WHOLE_PASS_EVERY: Duration = Duration::from_secs(1);

/// What the next request is planned from.
enum Plan {
    /// Every partition the loop wants now (the session diffs them).
    Whole(Vec<Wanted>),
    /// Only the partitions whose state changed since the last request.
    Changes(Vec<Change>),
}

/// The partition at `idx` as loop `key` wants it fetched at `now`, if it
/// does: on the loop's broker and stream, active, not backing off after an
/// error, with a known position and room in its queue (`max_queued` bytes).
pub(super) fn wanted_by(
    p: &Partition,
    idx: usize,
    key: LoopKey,
    now: Instant,
    max_queued: usize,
) -> Option<Wanted> {
    let offset = p.fetch_offset?;
    (p.flow == key.flow
        && p.stream == key.stream
        && p.fetch_broker(now) == Some(key.broker)
        && p.is_active()
        && !p.out_of_range
        && !p.held_back(now)
        && p.queued_bytes < max_queued)
        .then(|| Wanted {
            idx,
            topic: p.source_topic.clone(),
            partition: p.partition,
            offset,
        })
}

impl Worker {
    pub(super) async fn fetch_loop(self: Rc<Self>, key: LoopKey) {
        let plan = &self.plans[key.flow];
        let mut rotate = 0usize;
        let mut backoff = Duration::from_millis(100);
        let mut session = FetchSession::new();
        // Partitions to look at before the next request: those the last
        // response named and those the produce side marked (queue drained).
        // Every other partition stays in the session as it is, so a request
        // costs what changed, until the next whole pass.
        let mut touched: Vec<usize> = Vec::new();
        // Set when a spliced batch could not go out as it came: the next
        // request reads every record into memory.
        let mut copy_next = false;
        // The last whole pass: when, and the flow's resolver generation then.
        let mut last_pass: Option<(Instant, u64)> = None;
        // The earliest end of a partition's retry backoff.
        let mut retry_at: Option<Instant> = None;
        loop {
            if self.shutting_down.get() {
                break;
            }
            let mut armed = std::pin::pin!(self.wake.notified());
            armed.as_mut().enable();
            self.take_fetch_marks(key, &mut touched);
            let now = Instant::now();
            let generation = self.fetch_generation[key.flow].get();
            let whole = session.id() == 0
                || last_pass.is_none_or(|(at, gen)| {
                    gen != generation || now.duration_since(at) >= WHOLE_PASS_EVERY
                })
                || retry_at.is_some_and(|t| now >= t);
            if whole {
                retry_at = None;
            }
            let next = if whole {
                Plan::Whole(self.fetchable(key, &mut rotate, now, &mut retry_at))
            } else {
                // A partition may be both named and marked.
                touched.sort_unstable();
                touched.dedup();
                Plan::Changes(self.fetch_changes(key, &touched, now))
            };
            // Room for the answer under the process-wide memory cap, for
            // every partition that may be in the session after this request.
            let may_hold = match &next {
                Plan::Whole(wanted) => wanted.len(),
                Plan::Changes(changes) => session.held_count() + changes.len(),
            };
            if may_hold == 0 {
                touched.clear();
                if whole {
                    // Nothing wanted: whatever the session held is dropped
                    // with it, and the next request opens a new one.
                    session.reset();
                    last_pass = Some((now, generation));
                }
                self.idle(armed).await;
                continue;
            }
            let Some(admission) = buffers::admit(plan.fetch.reservation(may_hold)) else {
                self.idle(armed).await;
                continue;
            };
            let planned = match &next {
                Plan::Whole(wanted) => session.next_request(wanted),
                Plan::Changes(changes) => session.next_request_changes(changes),
            };
            if whole {
                last_pass = Some((now, generation));
            }
            touched.clear();
            let held = session.held_count();
            if held == 0 {
                // Everything left the session: the next request opens a
                // new one (the broker drops the old one on its own).
                session.reset();
                drop(admission);
                continue;
            }
            let res = self
                .fetch_once(
                    key,
                    planned,
                    &mut session,
                    &mut touched,
                    &mut retry_at,
                    &mut copy_next,
                )
                .await;
            drop(admission);
            match res {
                Ok(()) => backoff = Duration::from_millis(100),
                Err(e) => {
                    tracing::warn!(worker = self.id, cluster = %plan.source.cluster, broker = key.broker, "fetch failed: {e}");
                    self.want_resolving(key.flow);
                    {
                        let mut parts = self.parts.borrow_mut();
                        for h in session.held() {
                            let p = &mut parts[h.idx];
                            p.src_leader = None;
                            p.src_replica = None;
                        }
                    }
                    session.reset();
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
        self.loops.borrow_mut().remove(&key);
    }

    /// Every partition loop `key` wants fetched at `now` (a whole pass);
    /// the earliest end of a retry backoff among the others into `retry_at`.
    fn fetchable(
        &self,
        key: LoopKey,
        rotate: &mut usize,
        now: Instant,
        retry_at: &mut Option<Instant>,
    ) -> Vec<Wanted> {
        let max_queued = self.plans[key.flow].fetch.max_queued_bytes_per_partition;
        let parts = self.parts.borrow();
        let n = parts.len();
        if n == 0 {
            return Vec::new();
        }
        *rotate = (*rotate + 1) % n;
        let mut out = Vec::new();
        for idx in (0..n).map(|k| (k + *rotate) % n) {
            let p = &parts[idx];
            match wanted_by(p, idx, key, now, max_queued) {
                Some(w) => out.push(w),
                None => {
                    if let Some(at) = p.fetch_retry_at.filter(|&at| at > now) {
                        if p.flow == key.flow && p.stream == key.stream {
                            retry_until(retry_at, at);
                        }
                    }
                }
            }
        }
        out
    }

    /// What changed for loop `key` among the `touched` partitions (each
    /// listed once): each is to be fetched from its position now, or no
    /// longer.
    fn fetch_changes(&self, key: LoopKey, touched: &[usize], now: Instant) -> Vec<Change> {
        let max_queued = self.plans[key.flow].fetch.max_queued_bytes_per_partition;
        let parts = self.parts.borrow();
        touched
            .iter()
            .filter(|&&idx| idx < parts.len())
            .map(|&idx| {
                let p = &parts[idx];
                match wanted_by(p, idx, key, now, max_queued) {
                    Some(w) => Change::Fetch(w),
                    None => Change::Stop {
                        topic: p.source_topic.clone(),
                        partition: p.partition,
                    },
                }
            })
            .collect()
    }

    /// Takes the partitions marked for loop `key` since it last looked.
    fn take_fetch_marks(&self, key: LoopKey, touched: &mut Vec<usize>) {
        if let Some(marked) = self.fetch_marks.borrow_mut().get_mut(&key) {
            touched.append(marked);
        }
    }

    /// Tells the fetch loop serving `p` (at `idx`) to look at it again: its
    /// queue drained under the limit, so it may fetch once more.
    pub(super) fn mark_for_fetch(&self, p: &Partition, idx: usize) {
        let Some(broker) = p.fetch_broker(Instant::now()) else {
            return;
        };
        let key = LoopKey {
            side: super::Side::Fetch,
            flow: p.flow,
            broker,
            stream: p.stream,
        };
        self.fetch_marks
            .borrow_mut()
            .entry(key)
            .or_default()
            .push(idx);
    }

    /// One Fetch request, `planned` in `session`, and its response applied.
    /// The partitions the response named go into `touched`; the earliest end
    /// of a retry backoff it started into `retry_at`. On the splice path,
    /// `copy_next` asks for (and is cleared by) a request read with copying.
    async fn fetch_once(
        &self,
        key: LoopKey,
        planned: SessionRequest,
        session: &mut FetchSession,
        touched: &mut Vec<usize>,
        retry_at: &mut Option<Instant>,
        copy_next: &mut bool,
    ) -> Result<(), ClientError> {
        let plan = &self.plans[key.flow];
        let held = session.held_count();
        let client = &self.sources[key.flow];
        let conn = client.broker_stream(key.broker, key.stream).await?;
        let version = conn.version(Api::Fetch)?;
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
            partitions = held,
            named = planned.send.len(),
            session = planned.session_id,
            epoch = planned.epoch,
            "fetch sending"
        );
        let splice = (plan.fetch.splice && !std::mem::take(copy_next)).then(|| SpliceAsk {
            // Larger than any batch the coalescer would hold back.
            min_body: plan
                .fetch
                .splice_min_bytes
                .max(plan.fetch.coalesce_max_bytes.div_ceil(2)),
            // A response's worth for a partition per pipe, within what
            // the user's pipe budget (64 MiB by default) spreads well.
            pipe_bytes: (plan.fetch.partition_max_bytes.max(0) as usize).clamp(256 << 10, 1 << 20),
        });
        let reply = conn
            .send_limited(
                Api::Fetch,
                version,
                plan.fetch.max_response(held),
                splice,
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
            .wait_response()
            .await?;
        let resp = match reply {
            Response::Body(body) => {
                tracing::trace!(
                    worker = self.id,
                    broker = key.broker,
                    bytes = body.len(),
                    "fetch answered"
                );
                FetchResponse::decode(body, version)
                    .map_err(|e| ClientError::protocol(client.name(), conn.addr(), "Fetch", e))?
            }
            Response::Fetch(streamed) => {
                self.stats.borrow_mut().splice.add(&streamed.counts);
                streamed.response
            }
        };
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
                touched.push(idx);
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
                    retry_until(retry_at, now + retry_in);
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
                if !p.is_active() {
                    // It gave up a resend range: a new producer id first.
                    self.want_resolving(key.flow);
                }
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
                        if f.refetch_copying {
                            s.splice_refetches += 1;
                            *copy_next = true;
                        }
                    }
                    Err(reason) => {
                        // Nothing is skipped: the same offset is fetched
                        // again after a backoff, from whichever replica
                        // leads then.
                        let offset = p.fetch_offset.unwrap_or(requested);
                        let retry_in = p.on_fetch_defect(reason.clone(), now);
                        retry_until(retry_at, now + retry_in);
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

/// Moves `retry_at` to `at` when that is earlier.
fn retry_until(retry_at: &mut Option<Instant>, at: Instant) {
    if retry_at.is_none_or(|t| at < t) {
        *retry_at = Some(at);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mirror::partition::Status;

    const MAX_QUEUED: usize = 1000;

    fn key(broker: i32) -> LoopKey {
        LoopKey {
            side: super::super::Side::Fetch,
            flow: 0,
            broker,
            stream: 0,
        }
    }

    /// A partition of flow 0, stream 0, led by broker 1, at offset 40.
    fn ready() -> Partition {
        let mut p = Partition::new(0, "t".into(), "A.t".into(), 3, Some(40));
        p.src_leader = Some(1);
        p
    }

    #[test]
    fn a_ready_partition_is_wanted_by_its_leaders_loop_only() {
        let now = Instant::now();
        let w = wanted_by(&ready(), 7, key(1), now, MAX_QUEUED).expect("wanted");
        assert_eq!((w.idx, &*w.topic, w.partition, w.offset), (7, "t", 3, 40));
        assert!(wanted_by(&ready(), 7, key(2), now, MAX_QUEUED).is_none());
        let other_stream = LoopKey {
            stream: 1,
            ..key(1)
        };
        assert!(wanted_by(&ready(), 7, other_stream, now, MAX_QUEUED).is_none());
        let other_flow = LoopKey { flow: 1, ..key(1) };
        assert!(wanted_by(&ready(), 7, other_flow, now, MAX_QUEUED).is_none());
    }

    #[test]
    fn a_preferred_replica_takes_the_partition_until_it_expires() {
        let now = Instant::now();
        let mut p = ready();
        p.src_replica = Some((2, now + Duration::from_secs(5)));
        assert!(wanted_by(&p, 0, key(2), now, MAX_QUEUED).is_some());
        assert!(wanted_by(&p, 0, key(1), now, MAX_QUEUED).is_none());
        let later = now + Duration::from_secs(6);
        assert!(wanted_by(&p, 0, key(1), later, MAX_QUEUED).is_some());
        assert!(wanted_by(&p, 0, key(2), later, MAX_QUEUED).is_none());
    }

    #[test]
    fn each_reason_to_wait_keeps_a_partition_out() {
        let now = Instant::now();
        type Make = Box<dyn Fn(&mut Partition)>;
        let cases: Vec<(&str, Make)> = vec![
            ("no position", Box::new(|p| p.fetch_offset = None)),
            ("no leader", Box::new(|p| p.src_leader = None)),
            ("out of range", Box::new(|p| p.out_of_range = true)),
            ("full queue", Box::new(|p| p.queued_bytes = MAX_QUEUED)),
            ("released", Box::new(|p| p.status = Status::Released)),
            (
                "failed",
                Box::new(|p| p.status = Status::Failed("x".into())),
            ),
            (
                "backing off",
                Box::new(move |p| p.fetch_retry_at = Some(now + Duration::from_millis(50))),
            ),
        ];
        for (why, make) in cases {
            let mut p = ready();
            make(&mut p);
            assert!(wanted_by(&p, 0, key(1), now, MAX_QUEUED).is_none(), "{why}");
        }
        // A backoff that ran out no longer keeps it out.
        let mut p = ready();
        p.fetch_retry_at = Some(now);
        assert!(wanted_by(&p, 0, key(1), now, MAX_QUEUED).is_some());
        p.queued_bytes = MAX_QUEUED - 1;
        assert!(wanted_by(&p, 0, key(1), now, MAX_QUEUED).is_some());
    }

    #[test]
    fn retry_until_keeps_the_earliest() {
        let now = Instant::now();
        let mut at = None;
        retry_until(&mut at, now + Duration::from_secs(2));
        retry_until(&mut at, now + Duration::from_secs(1));
        retry_until(&mut at, now + Duration::from_secs(3));
        assert_eq!(at, Some(now + Duration::from_secs(1)));
    }
}
