//! Reads one partition as a stream of record digests for `kmirror verify`,
//! read_committed, one Fetch response at a time: it holds at most one
//! response, the digests of one decoded batch and the few records looked at
//! ahead, whatever the partition's size. Aborted transactions, control
//! batches and records below the position asked for are passed over as a
//! read_committed consumer passes them. It never writes.

use std::collections::{HashSet, VecDeque};
use std::rc::Rc;
use std::time::Duration;

use kmirror_proto::batch::{split_record_set, RecordBatch, RecordSetEntry, RecordSetIter};
use kmirror_proto::fetch::{AbortedTransaction, FetchPartitionResponse};
use kmirror_proto::records::{decode_records, split_body};

use crate::client::small_topic;
use crate::client::{ClientError, ClusterClient, Conn};
use crate::verify::compare::RecordDigest;

/// Control record type of an abort marker.
const CONTROL_ABORT: i16 = 0;
/// Fetches retried after a leader change or a lost connection.
const FETCH_RETRIES: u32 = 5;
/// Empty answers in a row below a bounded reader's end before it gives up.
const STALLED_FETCHES: u32 = 3;

/// One partition of one cluster, read forward from a position.
pub struct PartitionReader {
    cluster: Rc<ClusterClient>,
    conn: Option<Conn>,
    topic: String,
    partition: i32,
    /// Records below this offset are read; `None` reads on to the end
    /// there is now (the target, which may still be growing).
    end: Option<i64>,
    /// The offset after the last batch taken: where the next fetch starts,
    /// and the lowest record offset wanted.
    position: i64,
    /// The rest of the last Fetch response, not yet decoded.
    pending: Option<Pending>,
    /// Digests decoded and not yet taken.
    ready: VecDeque<RecordDigest>,
    /// The partition's high watermark in the last Fetch response.
    high_watermark: i64,
    max_decompressed: usize,
}

/// The undecoded rest of one Fetch response.
struct Pending {
    batches: RecordSetIter,
    /// Aborted transactions not yet reached, the lowest first offset last.
    aborted: Vec<AbortedTransaction>,
    /// Producers inside an aborted transaction at the current batch.
    aborting: HashSet<i64>,
}

impl PartitionReader {
    /// A reader of `topic[partition]` from `start`, stopping before `end`
    /// when given.
    pub fn new(
        cluster: Rc<ClusterClient>,
        topic: &str,
        partition: i32,
        start: i64,
        end: Option<i64>,
        max_decompressed: usize,
    ) -> PartitionReader {
        PartitionReader {
            cluster,
            conn: None,
            topic: topic.to_string(),
            partition,
            end,
            position: start,
            pending: None,
            ready: VecDeque::new(),
            high_watermark: start,
            max_decompressed,
        }
    }

    /// The partition's high watermark as the last fetch saw it.
    pub fn high_watermark(&self) -> i64 {
        self.high_watermark
    }

    /// Reads on from `offset`, dropping whatever was read ahead.
    pub fn seek(&mut self, offset: i64) {
        self.position = offset;
        self.pending = None;
        self.ready.clear();
    }

    /// The next record: `None` at the end (the bounded reader's end, or for
    /// an open-ended one, when a fetch brings nothing new).
    pub async fn next(&mut self) -> Result<Option<RecordDigest>, ClientError> {
        if self.ready.is_empty() {
            self.fill(1).await?;
        }
        Ok(self.ready.pop_front())
    }

    /// The next `n` records (fewer at the end), left in place to be taken.
    pub async fn peek(&mut self, n: usize) -> Result<Vec<RecordDigest>, ClientError> {
        self.fill(n).await?;
        Ok(self.ready.iter().take(n).copied().collect())
    }

    /// Decodes batches, fetching as needed, until `n` records are ready or
    /// the end is reached.
    async fn fill(&mut self, n: usize) -> Result<(), ClientError> {
        let mut stalled = 0;
        while self.ready.len() < n {
            if self.decode_next_batch()? {
                continue;
            }
            if self.end.is_some_and(|end| self.position >= end) {
                return Ok(());
            }
            let before = self.position;
            let answer = self.fetch().await?;
            self.high_watermark = answer.high_watermark;
            self.pending = Some(Pending::new(&answer));
            if self.decode_next_batch()? || self.position > before {
                stalled = 0;
                continue;
            }
            // Nothing readable at the position.
            match self.end {
                None => return Ok(()),
                Some(_) if answer.last_stable_offset.min(answer.high_watermark) <= before => {
                    // The log ends below the range asked for (it was
                    // truncated since verify began): read to where it ends.
                    return Ok(());
                }
                Some(end) => {
                    stalled += 1;
                    if stalled >= STALLED_FETCHES {
                        return Err(self.error(format!(
                            "no records readable at offset {before} below the end {end} after {stalled} fetches"
                        )));
                    }
                }
            }
        }
        Ok(())
    }

    /// Takes the next batch of the pending response and queues its wanted
    /// records' digests; false when the response has no batch left.
    fn decode_next_batch(&mut self) -> Result<bool, ClientError> {
        loop {
            let Some(pending) = self.pending.as_mut() else {
                return Ok(false);
            };
            let batch = match pending.batches.next() {
                None => {
                    self.pending = None;
                    return Ok(false);
                }
                Some(Ok(RecordSetEntry::Batch(b))) => b,
                Some(Ok(RecordSetEntry::Legacy { base_offset, magic })) => {
                    if base_offset < self.position {
                        continue;
                    }
                    return Err(self.error(format!(
                        "offset {base_offset} is a magic v{magic} message set from an old log segment; verify reads only v2 record batches"
                    )));
                }
                Some(Err(e)) => {
                    return Err(self.error(format!(
                        "malformed record set at offset {}: {e}",
                        self.position
                    )))
                }
            };
            if batch.next_offset() <= self.position {
                continue;
            }
            let skipped = pending.skips(&batch);
            let records_start = self.ready.len();
            if !skipped {
                self.queue_records(&batch)?;
            }
            self.position = batch.next_offset();
            if self.ready.len() > records_start {
                return Ok(true);
            }
        }
    }

    /// Queues the digests of `batch`'s records at or past the position and
    /// below the end.
    fn queue_records(&mut self, batch: &RecordBatch) -> Result<(), ClientError> {
        let records = decode_records(batch, self.max_decompressed).map_err(|e| {
            self.error(format!(
                "cannot decode the batch at offset {}: {e}",
                batch.base_offset()
            ))
        })?;
        // LogAppendTime batches keep the broker's time in the batch header;
        // every record of the batch carries it, as consumers see it.
        let append_time = batch.is_log_append_time().then(|| batch.max_timestamp());
        let (from, end) = (self.position, self.end.unwrap_or(i64::MAX));
        for r in records
            .iter()
            .filter(|r| r.offset >= from && r.offset < end)
        {
            let fields = split_body(&r.body)
                .map_err(|e| self.error(format!("record at offset {}: {e}", r.offset)))?;
            let timestamp = append_time.unwrap_or(r.timestamp);
            self.ready
                .push_back(RecordDigest::of(r.offset, timestamp, &fields));
        }
        Ok(())
    }

    /// One Fetch at the position from the partition's leader, retried
    /// (with the leader looked up again) after a leader change or a lost
    /// connection.
    async fn fetch(&mut self) -> Result<FetchPartitionResponse, ClientError> {
        let mut attempt = 0;
        loop {
            let conn = match &self.conn {
                Some(c) if !c.is_closed() => c.clone(),
                _ => {
                    let c = small_topic::leader(&self.cluster, &self.topic, self.partition).await?;
                    self.conn = Some(c.clone());
                    c
                }
            };
            let answer = small_topic::fetch(
                &self.cluster,
                &conn,
                &self.topic,
                self.partition,
                self.position,
                true,
            )
            .await;
            match answer {
                Err(e) if e.is_retriable() && attempt < FETCH_RETRIES => {
                    attempt += 1;
                    tracing::warn!(topic = %self.topic, partition = self.partition,
                        offset = self.position, attempt, "fetch failed, retrying: {e}");
                    self.conn = None;
                    tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
                }
                other => return other,
            }
        }
    }

    fn error(&self, reason: String) -> ClientError {
        ClientError::Other {
            cluster: self.cluster.name().to_string(),
            reason: format!("{}[{}]: {reason}", self.topic, self.partition),
        }
    }
}

impl Pending {
    fn new(answer: &FetchPartitionResponse) -> Pending {
        let mut aborted = answer.aborted_transactions.clone();
        aborted.sort_by_key(|a| std::cmp::Reverse(a.first_offset));
        Pending {
            batches: split_record_set(answer.records.clone()),
            aborted,
            aborting: HashSet::new(),
        }
    }

    /// Whether a read_committed consumer passes over `batch`: a control
    /// batch (which also ends its producer's aborted transaction), or a
    /// batch of an aborted transaction.
    fn skips(&mut self, batch: &RecordBatch) -> bool {
        while let Some(a) = self.aborted.last() {
            if a.first_offset > batch.last_offset() {
                break;
            }
            self.aborting.insert(a.producer_id);
            self.aborted.pop();
        }
        if batch.is_control() {
            if batch.control_type() == Some(CONTROL_ABORT) {
                self.aborting.remove(&batch.producer_id());
            }
            return true;
        }
        batch.is_transactional() && self.aborting.contains(&batch.producer_id())
    }
}

/// The source range verify reads of a partition: from its log start to
/// its last stable offset now (everything below it is decided: committed
/// or aborted, so the range never waits on an open transaction).
pub async fn source_range(
    cluster: &ClusterClient,
    topic: &str,
    partition: i32,
) -> Result<(i64, i64), ClientError> {
    small_topic::bounds_to(cluster, topic, partition, true).await
}
