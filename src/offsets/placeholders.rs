//! Offset-preserving mode's placeholders: the target offsets where the
//! source has nothing a read_committed consumer sees (transaction markers,
//! aborted records, compacted-away records, the log below its start) are
//! filled with records of a transaction kmirror aborts. `n` offsets take
//! `n - 1` placeholder records and the abort marker; one offset takes the
//! marker alone (a transaction that joined the partition and wrote
//! nothing). read_committed consumers never see either; read_uncommitted
//! ones see records with no key, no value and the header
//! [`PLACEHOLDER_HEADER`](kmirror_proto::records::PLACEHOLDER_HEADER).
//!
//! Each fill reads the partition's end first and after every transaction,
//! so a try that failed half way (written or not) is simply continued from
//! where the target stands. A target that ends past the gap was written by
//! someone else: offsets cannot be preserved there.

use std::time::{Duration, Instant};

use kmirror_proto::batch::{BatchRewrite, RecordBatch};
use kmirror_proto::compression::Compression;
use kmirror_proto::control::delete_records::DeleteRecordsRequest;
use kmirror_proto::control::find_coordinator::CoordinatorType;
use kmirror_proto::control::producer_id::InitProducerIdRequest;
use kmirror_proto::control::txn::{AddPartitionsToTxnRequest, EndTxnRequest, TxnProducer};
use kmirror_proto::error_code::ErrorCode;
use kmirror_proto::records::placeholder_batch;

use crate::client::admin::{self, LATEST};
use crate::client::{small_topic, ClientError, ClusterClient, Conn};

/// The most offsets one placeholder transaction covers.
const CHUNK: i64 = 100_000;
/// How long the abort marker of a fill may take to appear.
const MARKER_WAIT: Duration = Duration::from_secs(30);
/// Transactions in a row that may leave the partition's end where it was
/// before the caller backs off.
const TRIES: u32 = 5;

/// Why a fill did not finish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FillError {
    /// Worth trying again later.
    Retry(String),
    /// Offsets cannot be preserved on this partition.
    GiveUp(String),
}

impl From<ClientError> for FillError {
    fn from(e: ClientError) -> FillError {
        if small_topic::retry_cannot_fix(&e) {
            FillError::GiveUp(e.to_string())
        } else {
            FillError::Retry(e.to_string())
        }
    }
}

/// The transactional id whose aborted transactions fill the gaps of
/// `target_topic[partition]` for the flow `source -> target`: one per
/// partition, so that whichever worker mirrors it next finds (and aborts)
/// a transaction an earlier run left open there.
pub fn transactional_id(source: &str, target: &str, target_topic: &str, partition: i32) -> String {
    format!("kmirror.{source}.{target}.placeholders.{target_topic}.{partition}")
}

/// The placeholder producer of one target partition.
pub struct Placeholders {
    transactional_id: String,
    timeout_ms: i32,
    producer: Option<TxnProducer>,
    coordinator: Option<Conn>,
    /// The next sequence number under the current producer.
    sequence: i32,
}

impl Placeholders {
    pub fn new(transactional_id: String, timeout_ms: i32) -> Placeholders {
        Placeholders {
            transactional_id,
            timeout_ms,
            producer: None,
            coordinator: None,
            sequence: 0,
        }
    }

    /// Takes the transactional id (InitProducerId): a placeholder
    /// transaction an earlier run left open on the partition is aborted,
    /// its marker written, before the partition's end is looked at.
    pub async fn recover(&mut self, cluster: &ClusterClient) -> Result<(), FillError> {
        self.forget_producer();
        self.producer(cluster).await.map(drop)
    }

    /// Fills `topic[partition]` on `cluster` from `from` (its end when the
    /// fill began) up to `to`.
    pub async fn fill(
        &mut self,
        cluster: &ClusterClient,
        topic: &str,
        partition: i32,
        from: i64,
        to: i64,
    ) -> Result<(), FillError> {
        let leader = small_topic::leader(cluster, topic, partition).await?;
        let (mut stuck, mut last) = (0, None);
        while stuck < TRIES {
            // After a failed try, taking the id again first aborts what it
            // left open (its marker lands now), so the end read next is
            // where the partition stays.
            self.producer(cluster).await?;
            let end = end_offset(cluster, &leader, topic, partition).await?;
            if end == to {
                return Ok(());
            }
            // A big gap takes many transactions; only a try that moved
            // nothing counts against the fill.
            if last == Some(end) {
                stuck += 1;
            } else {
                stuck = 0;
            }
            last = Some(end);
            if end < from || end > to {
                return Err(FillError::GiveUp(format!(
                    "the target partition ends at offset {end}, outside the gap {from}..{to} being filled: something else writes to it or its log was truncated"
                )));
            }
            let n = (to - end).min(CHUNK);
            if let Err(e) = self.aborted_transaction(cluster, topic, partition, n).await {
                // The next InitProducerId aborts whatever is open.
                self.forget_producer();
                match e {
                    FillError::GiveUp(_) => return Err(e),
                    FillError::Retry(reason) => {
                        tracing::debug!(
                            topic,
                            partition,
                            "placeholder transaction failed: {reason}"
                        );
                        continue;
                    }
                }
            }
            wait_for_end(cluster, &leader, topic, partition, end + n).await?;
        }
        Err(FillError::Retry(format!(
            "placeholders for offsets {from}..{to} stuck at offset {} after {TRIES} transactions",
            last.unwrap_or(from)
        )))
    }

    /// Deletes the records of `topic[partition]` below `offset` (the
    /// placeholders under the source's log start, so that the target's log
    /// starts where the source's does); the new log start.
    pub async fn delete_below(
        &self,
        cluster: &ClusterClient,
        topic: &str,
        partition: i32,
        offset: i64,
    ) -> Result<i64, ClientError> {
        let leader = small_topic::leader(cluster, topic, partition).await?;
        let req = DeleteRecordsRequest {
            topics: vec![(topic.to_string(), vec![(partition, offset)])],
            timeout_ms: 30_000,
        };
        let resp = leader.call(&req).await?;
        let answer = resp
            .iter()
            .find(|d| d.topic == topic && d.partition == partition);
        match answer {
            Some(d) if d.error.is_ok() => Ok(d.low_watermark),
            Some(d) => Err(ClientError::Kafka {
                cluster: cluster.name().to_string(),
                what: format!("DeleteRecords below offset {offset} of {topic}[{partition}]"),
                code: d.error,
                message: d
                    .error
                    .is_authorization_error()
                    .then(|| format!("kmirror's principal needs Delete on Topic '{topic}'")),
            }),
            None => Err(ClientError::Other {
                cluster: cluster.name().to_string(),
                reason: format!("DeleteRecords: no answer for {topic}[{partition}]"),
            }),
        }
    }

    fn forget_producer(&mut self) {
        self.producer = None;
        self.sequence = 0;
    }

    /// One transaction that joins the partition, writes `n - 1`
    /// placeholders and aborts: `n` offsets once its marker is written.
    async fn aborted_transaction(
        &mut self,
        cluster: &ClusterClient,
        topic: &str,
        partition: i32,
        n: i64,
    ) -> Result<(), FillError> {
        let producer = self.producer(cluster).await?;
        let add = AddPartitionsToTxnRequest {
            producer: producer.clone(),
            topics: vec![(topic.to_string(), vec![partition])],
        };
        self.coordinator_call(cluster, &add, "AddPartitionsToTxn", |r| {
            r.topics
                .iter()
                .flat_map(|t| t.partitions.iter())
                .map(|p| p.error)
                .find(|e| !e.is_ok())
                .unwrap_or(ErrorCode::NONE)
        })
        .await?;
        let records = (n - 1) as i32;
        if records > 0 {
            self.produce(cluster, &producer, topic, partition, records)
                .await?;
        }
        let end = EndTxnRequest {
            producer,
            committed: false,
        };
        self.coordinator_call(cluster, &end, "EndTxn (abort)", |c| *c)
            .await
    }

    /// The producer, initialised (which aborts any transaction an earlier
    /// holder of the id left open) when there is none.
    async fn producer(&mut self, cluster: &ClusterClient) -> Result<TxnProducer, FillError> {
        if let Some(p) = &self.producer {
            return Ok(p.clone());
        }
        let req = InitProducerIdRequest {
            transactional_id: Some(self.transactional_id.clone()),
            transaction_timeout_ms: self.timeout_ms,
            producer_id: -1,
            producer_epoch: -1,
        };
        let mut got = None;
        self.coordinator_call(cluster, &req, "InitProducerId", |r| {
            got = Some((r.producer_id, r.producer_epoch));
            r.error
        })
        .await?;
        let (producer_id, producer_epoch) =
            got.ok_or_else(|| FillError::Retry("InitProducerId: no answer".into()))?;
        let p = TxnProducer {
            transactional_id: self.transactional_id.clone(),
            producer_id,
            producer_epoch,
        };
        self.sequence = 0;
        self.producer = Some(p.clone());
        Ok(p)
    }

    /// A request to the transaction coordinator, retried while the
    /// coordinator is busy or moving; `code` reads the answer's error.
    async fn coordinator_call<R: kmirror_proto::control::ControlRequest>(
        &mut self,
        cluster: &ClusterClient,
        req: &R,
        what: &str,
        mut code: impl FnMut(&R::Response) -> ErrorCode,
    ) -> Result<(), FillError> {
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let conn = match &self.coordinator {
                Some(c) if !c.is_closed() => c.clone(),
                _ => {
                    let found = admin::coordinator(
                        cluster,
                        &self.transactional_id,
                        CoordinatorType::Transaction,
                    )
                    .await;
                    match found {
                        Ok(c) => {
                            self.coordinator = Some(c.clone());
                            c
                        }
                        // The transaction log is created on first use.
                        Err(e) if attempt < 50 && !small_topic::retry_cannot_fix(&e) => {
                            tracing::debug!("no transaction coordinator yet: {e}");
                            tokio::time::sleep(Duration::from_millis(20) * attempt.min(10)).await;
                            continue;
                        }
                        Err(e) => return Err(e.into()),
                    }
                }
            };
            let resp = match conn.call(req).await {
                Ok(r) => r,
                Err(e) => {
                    self.coordinator = None;
                    return Err(e.into());
                }
            };
            let err = code(&resp);
            match err {
                ErrorCode::NONE => return Ok(()),
                ErrorCode::CONCURRENT_TRANSACTIONS
                | ErrorCode::COORDINATOR_LOAD_IN_PROGRESS
                | ErrorCode::COORDINATOR_NOT_AVAILABLE
                | ErrorCode::NOT_COORDINATOR
                    if attempt < 50 =>
                {
                    if matches!(
                        err,
                        ErrorCode::NOT_COORDINATOR | ErrorCode::COORDINATOR_NOT_AVAILABLE
                    ) {
                        self.coordinator = None;
                    }
                    tokio::time::sleep(Duration::from_millis(20) * attempt.min(10)).await;
                }
                e if e.is_authorization_error() => {
                    return Err(FillError::GiveUp(format!(
                        "{what} for '{}' answered {e}; kmirror's principal needs Write on TransactionalId '{}' on cluster {}",
                        self.transactional_id,
                        self.transactional_id,
                        cluster.name()
                    )))
                }
                e => {
                    return Err(FillError::Retry(format!(
                        "{what} for '{}' at {} answered {e}",
                        self.transactional_id,
                        conn.addr()
                    )))
                }
            }
        }
    }

    /// Writes `records` placeholders in the open transaction.
    async fn produce(
        &mut self,
        cluster: &ClusterClient,
        producer: &TxnProducer,
        topic: &str,
        partition: i32,
        records: i32,
    ) -> Result<(), FillError> {
        let sequence = self.sequence;
        let bytes = placeholder_batch(records, Compression::Zstd)
            .map_err(|e| FillError::GiveUp(format!("cannot build placeholders: {e}")))?;
        let batch = RecordBatch::parse(bytes)
            .map_err(|e| FillError::GiveUp(format!("cannot build placeholders: {e}")))?;
        let out = batch.rewrite(&BatchRewrite {
            producer_id: producer.producer_id,
            producer_epoch: producer.producer_epoch,
            base_sequence: sequence,
            transactional: true,
        });
        let answer = small_topic::produce_one(
            cluster,
            topic,
            partition,
            out,
            Some(&producer.transactional_id),
        )
        .await?;
        let code = answer.error;
        if code.is_ok() {
            self.sequence = crate::mirror::partition::next_sequence(sequence, records);
            return Ok(());
        }
        let reason = format!(
            "writing placeholders to {topic}[{partition}] on cluster {} answered {code}{}",
            cluster.name(),
            answer
                .error_message
                .as_deref()
                .map(|m| format!(": {m}"))
                .unwrap_or_default()
        );
        if code.is_retriable()
            || matches!(
                code,
                ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER
                    | ErrorCode::UNKNOWN_PRODUCER_ID
                    | ErrorCode::INVALID_PRODUCER_EPOCH
                    | ErrorCode::PRODUCER_FENCED
            )
        {
            Err(FillError::Retry(reason))
        } else {
            Err(FillError::GiveUp(reason))
        }
    }
}

/// The partition's end (its high watermark).
async fn end_offset(
    cluster: &ClusterClient,
    leader: &Conn,
    topic: &str,
    partition: i32,
) -> Result<i64, FillError> {
    let got = admin::list_offsets(leader, topic, &[partition], LATEST, false).await?;
    match got.first() {
        Some((_, Ok(o))) => Ok(*o),
        Some((_, Err(code))) => Err(FillError::Retry(format!(
            "listing the end of {topic}[{partition}] on cluster {} answered {code}",
            cluster.name()
        ))),
        None => Err(FillError::Retry(format!(
            "no end offset for {topic}[{partition}] on cluster {}",
            cluster.name()
        ))),
    }
}

/// Waits until the partition's end reaches `want` (the abort marker is
/// written after EndTxn answers).
async fn wait_for_end(
    cluster: &ClusterClient,
    leader: &Conn,
    topic: &str,
    partition: i32,
    want: i64,
) -> Result<(), FillError> {
    let deadline = Instant::now() + MARKER_WAIT;
    let mut pause = Duration::from_millis(2);
    loop {
        let end = end_offset(cluster, leader, topic, partition).await?;
        if end >= want || Instant::now() >= deadline {
            return Ok(());
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(200));
    }
}
