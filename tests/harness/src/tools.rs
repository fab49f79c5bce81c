//! Real Kafka clients, used by tests as independent producers and checkers:
//! Kafka's own command-line tools (always from Kafka 4, see
//! [`KafkaDist::tools`](crate::KafkaDist::tools)), `kcat` for quick
//! metadata and offset queries, and two small Java clients of ours.
//!
//! Why our own Java clients (`tests/kafka/java/`) rather than `kcat` for
//! records: kcat cannot give a message an explicit timestamp, cannot send a
//! null key next to an empty one, and its output cannot tell a null header
//! value from an empty one; the Java clients pass every field base64-encoded
//! with an explicit null marker, and let a test commit or abort transactions
//! at will.
//!
//! Every function blocks, has a timeout, and on failure returns an error
//! carrying the tool's stderr.

use std::fmt::Write as _;
use std::fs;
use std::io;
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use crate::java::{self, Jvm};
use crate::{process, wire, KafkaCluster};

/// How long admin commands and short producer runs may take.
pub const TOOL_TIMEOUT: Duration = Duration::from_secs(120);

/// Anything that names the bootstrap servers of a cluster: a
/// [`KafkaCluster`] or a `"host:port"` string.
pub trait BootstrapServers {
    fn bootstrap_servers(&self) -> String;
}

impl BootstrapServers for KafkaCluster {
    fn bootstrap_servers(&self) -> String {
        self.bootstrap()
    }
}

impl BootstrapServers for str {
    fn bootstrap_servers(&self) -> String {
        self.to_owned()
    }
}

impl BootstrapServers for String {
    fn bootstrap_servers(&self) -> String {
        self.clone()
    }
}

impl<T: BootstrapServers + ?Sized> BootstrapServers for &T {
    fn bootstrap_servers(&self) -> String {
        (**self).bootstrap_servers()
    }
}

/// A record to produce, with every field under the test's control. `None`
/// key or value is a Kafka null, distinct from an empty array.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TestRecord {
    /// `None`: the producer's partitioner chooses.
    pub partition: Option<i32>,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub headers: Vec<(String, Vec<u8>)>,
    /// `None`: the producer's clock (CreateTime).
    pub timestamp: Option<i64>,
}

impl TestRecord {
    /// A record with this value, a null key and no headers.
    pub fn new(value: impl Into<Vec<u8>>) -> TestRecord {
        TestRecord {
            value: Some(value.into()),
            ..TestRecord::default()
        }
    }

    pub fn with_key(mut self, key: impl Into<Vec<u8>>) -> TestRecord {
        self.key = Some(key.into());
        self
    }

    /// A null value: a tombstone on a compacted topic.
    pub fn with_null_value(mut self) -> TestRecord {
        self.value = None;
        self
    }

    pub fn with_partition(mut self, partition: i32) -> TestRecord {
        self.partition = Some(partition);
        self
    }

    pub fn with_timestamp(mut self, timestamp_ms: i64) -> TestRecord {
        self.timestamp = Some(timestamp_ms);
        self
    }

    pub fn with_header(mut self, name: &str, value: impl Into<Vec<u8>>) -> TestRecord {
        self.headers.push((name.to_owned(), value.into()));
        self
    }
}

/// What a transaction of [`produce_transactions`] ends with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxnOutcome {
    Commit,
    Abort,
}

/// The consumer's `isolation.level`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Isolation {
    /// Every record in the log, aborted transactions included.
    ReadUncommitted,
    /// Committed records only, up to the last stable offset.
    ReadCommitted,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimestampType {
    CreateTime,
    LogAppendTime,
    NoTimestamp,
}

/// A record as a real Kafka consumer saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsumedRecord {
    pub partition: i32,
    pub offset: i64,
    pub timestamp: i64,
    pub timestamp_type: TimestampType,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub headers: Vec<(String, Option<Vec<u8>>)>,
}

/// What [`consume_all_with`] read, and from which brokers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Consumption {
    /// Ordered by partition and offset.
    pub records: Vec<ConsumedRecord>,
    /// Bytes the consumer received from each broker (node id, ascending;
    /// negative ids are bootstrap connections), responses of every kind:
    /// tells whether a follower served fetches.
    pub bytes_from_broker: Vec<(i32, u64)>,
}

/// One partition's replicas as metadata shows them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionReplicas {
    pub partition: i32,
    pub leader: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
}

/// The summary line of `ProducerPerformance`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PerfSummary {
    pub records: u64,
    pub records_per_sec: f64,
    pub mb_per_sec: f64,
    pub avg_latency_ms: f64,
    pub max_latency_ms: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
}

/// One partition of a consumer group, as `kafka-consumer-groups --describe`
/// reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupOffset {
    pub topic: String,
    pub partition: i32,
    /// The committed offset; `None` when the group has none for it.
    pub offset: Option<i64>,
    pub log_end_offset: Option<i64>,
}

/// Creates a topic (replication factor 1) with per-topic configs, and waits
/// until its metadata shows every partition.
pub fn create_topic(
    cluster: &(impl BootstrapServers + ?Sized),
    topic: &str,
    partitions: i32,
    configs: &[(&str, &str)],
) -> io::Result<()> {
    create_replicated_topic(cluster, topic, partitions, 1, configs)
}

/// [`create_topic`] with `replication_factor` replicas of each partition,
/// placed by the controller (across racks when brokers have them).
pub fn create_replicated_topic(
    cluster: &(impl BootstrapServers + ?Sized),
    topic: &str,
    partitions: i32,
    replication_factor: i16,
    configs: &[(&str, &str)],
) -> io::Result<()> {
    let bootstrap = cluster.bootstrap_servers();
    let mut args = vec![
        "--bootstrap-server".to_owned(),
        bootstrap.clone(),
        "--create".into(),
        "--topic".into(),
        topic.into(),
        "--partitions".into(),
        partitions.to_string(),
        "--replication-factor".into(),
        replication_factor.to_string(),
    ];
    for (key, value) in configs {
        args.push("--config".into());
        args.push(format!("{key}={value}"));
    }
    let what = format!("creating topic {topic} on {bootstrap}");
    run_tool(
        "org.apache.kafka.tools.TopicCommand",
        Jvm::Brief,
        args,
        &what,
    )?;
    wait_for_partition_count(cluster, topic, Some(partitions), &what)
}

/// Deletes a topic and waits until it is gone from metadata.
pub fn delete_topic(cluster: &(impl BootstrapServers + ?Sized), topic: &str) -> io::Result<()> {
    let bootstrap = cluster.bootstrap_servers();
    let what = format!("deleting topic {topic} on {bootstrap}");
    run_tool(
        "org.apache.kafka.tools.TopicCommand",
        Jvm::Brief,
        [
            "--bootstrap-server",
            &bootstrap,
            "--delete",
            "--topic",
            topic,
        ],
        &what,
    )?;
    wait_for_partition_count(cluster, topic, None, &what)
}

/// Raises a topic's partition count and waits until metadata shows it.
pub fn alter_partitions(
    cluster: &(impl BootstrapServers + ?Sized),
    topic: &str,
    partitions: i32,
) -> io::Result<()> {
    let bootstrap = cluster.bootstrap_servers();
    let what = format!("raising topic {topic} on {bootstrap} to {partitions} partitions");
    run_tool(
        "org.apache.kafka.tools.TopicCommand",
        Jvm::Brief,
        [
            "--bootstrap-server",
            &bootstrap,
            "--alter",
            "--topic",
            topic,
            "--partitions",
            &partitions.to_string(),
        ],
        &what,
    )?;
    wait_for_partition_count(cluster, topic, Some(partitions), &what)
}

/// The topic's partition count, `None` when it does not exist (kcat).
pub fn partition_count(
    cluster: &(impl BootstrapServers + ?Sized),
    topic: &str,
) -> io::Result<Option<i32>> {
    let bootstrap = cluster.bootstrap_servers();
    let out = kcat(&["-L", "-b", &bootstrap, "-t", topic], &bootstrap)?;
    let header = format!("topic \"{topic}\" with ");
    let Some(line) = out.lines().map(str::trim).find(|l| l.starts_with(&header)) else {
        return Err(io::Error::other(format!(
            "kcat -L on {bootstrap}: no metadata for topic {topic} in:\n{out}"
        )));
    };
    if line.contains("Unknown topic") {
        return Ok(None);
    }
    let count = line[header.len()..]
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| {
            io::Error::other(format!("kcat -L on {bootstrap}: cannot parse {line:?}"))
        })?;
    Ok(Some(count))
}

/// Leader, replicas and in-sync replicas of every partition, by partition
/// (kcat).
pub fn partition_replicas(
    cluster: &(impl BootstrapServers + ?Sized),
    topic: &str,
) -> io::Result<Vec<PartitionReplicas>> {
    let bootstrap = cluster.bootstrap_servers();
    let out = kcat(&["-L", "-b", &bootstrap, "-t", topic], &bootstrap)?;
    // "partition 0, leader 2, replicas: 2,3,1, isrs: 2,3,1"
    let mut partitions = Vec::new();
    for line in out.lines().map(str::trim) {
        let Some(rest) = line.strip_prefix("partition ") else {
            continue;
        };
        let parsed = parse_partition_line(rest).ok_or_else(|| {
            io::Error::other(format!("kcat -L on {bootstrap}: cannot parse {line:?}"))
        })?;
        partitions.push(parsed);
    }
    if partitions.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("kcat -L on {bootstrap}: no partitions of {topic} in:\n{out}"),
        ));
    }
    partitions.sort_by_key(|p| p.partition);
    Ok(partitions)
}

/// Every topic of the cluster, internal ones included, sorted (kcat).
pub fn list_topics(cluster: &(impl BootstrapServers + ?Sized)) -> io::Result<Vec<String>> {
    let bootstrap = cluster.bootstrap_servers();
    let out = kcat(&["-L", "-b", &bootstrap], &bootstrap)?;
    let mut topics: Vec<String> = out
        .lines()
        .filter_map(|l| l.trim().strip_prefix("topic \""))
        .filter_map(|rest| rest.split('"').next())
        .map(str::to_owned)
        .collect();
    topics.sort();
    Ok(topics)
}

/// The high watermark of every partition, by partition (kcat -Q).
pub fn end_offsets(
    cluster: &(impl BootstrapServers + ?Sized),
    topic: &str,
) -> io::Result<Vec<(i32, i64)>> {
    // Timestamp -1 asks for the latest offset.
    offsets_at(cluster, topic, -1)
}

/// The log start offset of every partition, by partition (kcat -Q).
pub fn start_offsets(
    cluster: &(impl BootstrapServers + ?Sized),
    topic: &str,
) -> io::Result<Vec<(i32, i64)>> {
    // Timestamp -2 asks for the earliest offset.
    offsets_at(cluster, topic, -2)
}

fn offsets_at(
    cluster: &(impl BootstrapServers + ?Sized),
    topic: &str,
    at: i64,
) -> io::Result<Vec<(i32, i64)>> {
    let bootstrap = cluster.bootstrap_servers();
    let Some(partitions) = partition_count(cluster, topic)? else {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("end offsets: topic {topic} does not exist on {bootstrap}"),
        ));
    };
    let mut args = vec!["-Q".to_owned(), "-b".into(), bootstrap.clone()];
    for p in 0..partitions {
        args.push("-t".into());
        args.push(format!("{topic}:{p}:{at}"));
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = kcat(&args, &bootstrap)?;
    let mut offsets = Vec::new();
    let prefix = format!("{topic} [");
    for line in out.lines() {
        let Some(rest) = line.trim().strip_prefix(&prefix) else {
            continue;
        };
        let parsed = rest
            .split_once("] offset ")
            .and_then(|(p, o)| Some((p.parse::<i32>().ok()?, o.trim().parse::<i64>().ok()?)));
        match parsed {
            Some(entry) => offsets.push(entry),
            None => {
                return Err(io::Error::other(format!(
                    "kcat -Q on {bootstrap}: cannot parse {line:?}"
                )))
            }
        }
    }
    offsets.sort();
    if offsets.len() != partitions as usize {
        return Err(io::Error::other(format!(
            "kcat -Q on {bootstrap}: {} offsets for {partitions} partitions of {topic}:\n{out}",
            offsets.len()
        )));
    }
    Ok(offsets)
}

/// The topic-level config overrides of a topic (ConfigCommand --describe),
/// sorted by key.
pub fn topic_config_overrides(
    cluster: &(impl BootstrapServers + ?Sized),
    topic: &str,
) -> io::Result<Vec<(String, String)>> {
    let bootstrap = cluster.bootstrap_servers();
    let what = format!("describing configs of topic {topic} on {bootstrap}");
    let out = run_tool(
        "kafka.admin.ConfigCommand",
        Jvm::Brief,
        [
            "--bootstrap-server",
            &bootstrap,
            "--entity-type",
            "topics",
            "--entity-name",
            topic,
            "--describe",
        ],
        &what,
    )?;
    // Lines look like "  key=value sensitive=false synonyms={...}".
    let mut configs: Vec<(String, String)> = out
        .lines()
        .filter(|l| l.starts_with("  "))
        .filter_map(|l| {
            let entry = l.trim().split(" sensitive=").next()?;
            let (key, value) = entry.split_once('=')?;
            Some((key.to_owned(), value.to_owned()))
        })
        .collect();
    configs.sort();
    Ok(configs)
}

/// Sets and removes topic-level configs (ConfigCommand --alter). Values
/// holding commas are bracketed for the tool.
pub fn alter_topic_configs(
    cluster: &(impl BootstrapServers + ?Sized),
    topic: &str,
    set: &[(&str, &str)],
    delete: &[&str],
) -> io::Result<()> {
    let bootstrap = cluster.bootstrap_servers();
    let mut args = vec![
        "--bootstrap-server".to_owned(),
        bootstrap.clone(),
        "--entity-type".into(),
        "topics".into(),
        "--entity-name".into(),
        topic.into(),
        "--alter".into(),
    ];
    if !set.is_empty() {
        let list: Vec<String> = set
            .iter()
            .map(|(k, v)| {
                if v.contains(',') {
                    format!("{k}=[{v}]")
                } else {
                    format!("{k}={v}")
                }
            })
            .collect();
        args.push("--add-config".into());
        args.push(list.join(","));
    }
    if !delete.is_empty() {
        args.push("--delete-config".into());
        args.push(delete.join(","));
    }
    let what = format!("altering configs of topic {topic} on {bootstrap}");
    run_tool("kafka.admin.ConfigCommand", Jvm::Brief, args, &what).map(drop)
}

/// A fixed-rate stream of `count` records of `size` random bytes at `rate`
/// records/s (tests/kafka/java/PacedProducer.java), each record stamped with
/// the time it was *due*, so latencies measured from record timestamps are
/// free of coordinated omission, and with its sequence number in the header
/// `seq`. Returns how far behind its schedule the
/// producer fell at worst.
pub fn paced_produce(
    cluster: &(impl BootstrapServers + ?Sized),
    topic: &str,
    rate: u64,
    count: u64,
    size: usize,
    producer_props: &[(&str, &str)],
) -> io::Result<Duration> {
    let bootstrap = cluster.bootstrap_servers();
    let mut args = vec![
        bootstrap.clone(),
        topic.to_owned(),
        rate.to_string(),
        count.to_string(),
        size.to_string(),
    ];
    args.extend(producer_props.iter().map(|(k, v)| format!("{k}={v}")));
    let what = format!("PacedProducer of {count} records at {rate}/s to {topic} on {bootstrap}");
    let paced = Duration::from_secs(count / rate.max(1));
    let cmd = java::tool("PacedProducer", Jvm::Data, args)?;
    let out = process::run(cmd, None, TOOL_TIMEOUT + paced * 2, &what)?;
    let stdout = out.stdout_text();
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("SENT "))
        .and_then(|rest| rest.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map(Duration::from_millis)
        .ok_or_else(|| {
            io::Error::other(format!(
                "{what}: no SENT line; stdout:\n{}\nstderr:\n{}",
                process::tail(&stdout, 20),
                process::tail(&out.stderr_text(), 40)
            ))
        })
}

/// Kafka's `ProducerPerformance` at up to `throughput` records/s (-1: no
/// limit). `producer_props` go to the producer, e.g. `compression.type`.
/// Fails unless every record was acknowledged.
pub fn producer_perf(
    cluster: &(impl BootstrapServers + ?Sized),
    topic: &str,
    num_records: u64,
    record_size: usize,
    throughput: i64,
    producer_props: &[(&str, &str)],
) -> io::Result<PerfSummary> {
    let bootstrap = cluster.bootstrap_servers();
    let mut args = vec![
        "--topic".to_owned(),
        topic.into(),
        "--num-records".into(),
        num_records.to_string(),
        "--record-size".into(),
        record_size.to_string(),
        "--throughput".into(),
        throughput.to_string(),
        "--producer-props".into(),
        format!("bootstrap.servers={bootstrap}"),
    ];
    args.extend(producer_props.iter().map(|(k, v)| format!("{k}={v}")));
    let what = format!("ProducerPerformance of {num_records} records to {topic} on {bootstrap}");
    // Leave room for slow runs: at least the rate-limited duration.
    let paced = if throughput > 0 {
        Duration::from_secs(num_records / throughput as u64)
    } else {
        Duration::ZERO
    };
    let cmd = java::tool(
        "org.apache.kafka.tools.ProducerPerformance",
        Jvm::Data,
        args,
    )?;
    let out = process::run(cmd, None, TOOL_TIMEOUT + paced * 2, &what)?;
    let stdout = out.stdout_text();
    let summary = stdout
        .lines()
        .rev()
        .find(|l| l.contains(" records sent, "))
        .and_then(parse_perf_summary)
        .ok_or_else(|| {
            io::Error::other(format!(
                "{what}: no summary line; stdout:\n{}\nstderr:\n{}",
                process::tail(&stdout, 20),
                process::tail(&out.stderr_text(), 40)
            ))
        })?;
    // The tool exits 0 even when sends fail; its count is of acknowledged
    // records only.
    if summary.records != num_records {
        return Err(io::Error::other(format!(
            "{what}: {} of {num_records} records acknowledged; output:\n{}\n{}",
            summary.records,
            process::tail(&stdout, 20),
            process::tail(&out.stderr_text(), 40)
        )));
    }
    Ok(summary)
}

/// Produces `records` in order (idempotent producer, acks=all) and returns
/// where each landed, as (partition, offset).
pub fn produce(
    cluster: &(impl BootstrapServers + ?Sized),
    topic: &str,
    records: &[TestRecord],
) -> io::Result<Vec<(i32, i64)>> {
    produce_with(cluster, topic, records, &[])
}

/// [`produce`] with extra producer properties (`compression.type`,
/// `linger.ms`, `batch.size`, ...).
pub fn produce_with(
    cluster: &(impl BootstrapServers + ?Sized),
    topic: &str,
    records: &[TestRecord],
    producer_props: &[(&str, &str)],
) -> io::Result<Vec<(i32, i64)>> {
    let mut script = String::new();
    for record in records {
        write_record(&mut script, record);
    }
    run_test_producer(cluster, topic, producer_props, script, records.len())
}

/// Produces transactions with one transactional producer, committing or
/// aborting each as told; returns each transaction's (partition, offset)s.
/// Aborted records are flushed before the abort, so they are in the log
/// (visible to read_uncommitted consumers) and followed by abort markers.
pub fn produce_transactions(
    cluster: &(impl BootstrapServers + ?Sized),
    topic: &str,
    transactional_id: &str,
    transactions: &[(TxnOutcome, Vec<TestRecord>)],
) -> io::Result<Vec<Vec<(i32, i64)>>> {
    let mut script = String::new();
    let mut total = 0;
    for (outcome, records) in transactions {
        script.push_str("BEGIN\n");
        for record in records {
            write_record(&mut script, record);
        }
        total += records.len();
        script.push_str(match outcome {
            TxnOutcome::Commit => "COMMIT\n",
            TxnOutcome::Abort => "ABORT\n",
        });
    }
    let props = [("transactional.id", transactional_id)];
    let mut positions = run_test_producer(cluster, topic, &props, script, total)?.into_iter();
    Ok(transactions
        .iter()
        .map(|(_, records)| positions.by_ref().take(records.len()).collect())
        .collect())
}

/// Copies every partition of `input_topic` to the same partition of
/// `output_topic` in transactions of `transaction_size` records with Kafka's
/// `TransactionalMessageCopier`, which aborts transactions at random and
/// redoes them: the output holds every input record once in committed
/// transactions, plus (usually, not certainly) aborted copies. Use
/// [`produce_transactions`] when a test needs aborts for sure.
pub fn transactional_copy(
    cluster: &(impl BootstrapServers + ?Sized),
    input_topic: &str,
    output_topic: &str,
    transactional_id: &str,
    transaction_size: usize,
) -> io::Result<()> {
    let bootstrap = cluster.bootstrap_servers();
    let Some(partitions) = partition_count(cluster, input_topic)? else {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("transactional copy: topic {input_topic} does not exist on {bootstrap}"),
        ));
    };
    for p in 0..partitions {
        let what = format!(
            "TransactionalMessageCopier {input_topic}[{p}] -> {output_topic} on {bootstrap}"
        );
        let cmd = java::tool(
            "org.apache.kafka.tools.TransactionalMessageCopier",
            Jvm::Data,
            [
                "--broker-list".to_owned(),
                bootstrap.clone(),
                "--input-topic".into(),
                input_topic.into(),
                "--input-partition".into(),
                p.to_string(),
                "--output-topic".into(),
                output_topic.into(),
                "--transactional-id".into(),
                format!("{transactional_id}-{p}"),
                "--consumer-group".into(),
                transactional_id.into(),
                "--transaction-size".into(),
                transaction_size.to_string(),
                "--max-messages".into(),
                "-1".into(),
                "--enable-random-aborts".into(),
            ],
        )?;
        process::run(cmd, None, TOOL_TIMEOUT, &what)?;
    }
    Ok(())
}

/// Reads every record of every partition from the beginning up to the end
/// offsets (the last stable offsets under [`Isolation::ReadCommitted`]) and
/// returns them ordered by partition and offset.
///
/// With `expected`, keeps reading (waiting for the topic to exist and for
/// more records, re-reading end offsets and partitions) until at least that
/// many records arrived; fails if they do not within `timeout`.
pub fn consume_all(
    cluster: &(impl BootstrapServers + ?Sized),
    topic: &str,
    isolation: Isolation,
    expected: Option<usize>,
    timeout: Duration,
) -> io::Result<Vec<ConsumedRecord>> {
    consume_all_with(cluster, topic, isolation, expected, timeout, &[]).map(|c| c.records)
}

/// [`consume_all`] with extra consumer properties (`client.rack`,
/// `fetch.max.bytes`, ...), also reporting how many bytes came from each
/// broker.
pub fn consume_all_with(
    cluster: &(impl BootstrapServers + ?Sized),
    topic: &str,
    isolation: Isolation,
    expected: Option<usize>,
    timeout: Duration,
    consumer_props: &[(&str, &str)],
) -> io::Result<Consumption> {
    let bootstrap = cluster.bootstrap_servers();
    let level = match isolation {
        Isolation::ReadUncommitted => "read_uncommitted",
        Isolation::ReadCommitted => "read_committed",
    };
    let expected_arg = expected.map_or("-1".to_owned(), |n| n.to_string());
    let what = format!("consuming {topic} ({level}) from {bootstrap}");
    let mut args = vec![
        bootstrap.clone(),
        topic.to_owned(),
        level.to_owned(),
        expected_arg,
        timeout.as_millis().to_string(),
    ];
    args.extend(consumer_props.iter().map(|(k, v)| format!("{k}={v}")));
    let cmd = java::tool("TestConsumer", Jvm::Data, args)?;
    // The consumer enforces `timeout` itself and then reports what it saw;
    // the margin is for JVM start-up.
    let out = process::run(cmd, None, timeout + Duration::from_secs(60), &what)?;
    let stdout = out.stdout_text();
    let mut records = Vec::new();
    let mut bytes_from_broker = Vec::new();
    let mut ended = false;
    for (n, line) in stdout.lines().enumerate() {
        if line == "END" {
            ended = true;
            break;
        }
        let bad = |e: io::Error| io::Error::other(format!("{what}: line {}: {e}", n + 1));
        match line.strip_prefix("B ") {
            Some(rest) => bytes_from_broker.push(parse_node_bytes(rest).map_err(bad)?),
            None => records.push(parse_consumed(line).map_err(bad)?),
        }
    }
    if !ended {
        return Err(io::Error::other(format!(
            "{what}: output ended early; stderr:\n{}",
            process::tail(&out.stderr_text(), 40)
        )));
    }
    records.sort_by_key(|r| (r.partition, r.offset));
    bytes_from_broker.sort();
    Ok(Consumption {
        records,
        bytes_from_broker,
    })
}

/// The producers a partition's leader knows (TransactionsCommand
/// describe-producers), as the tool prints them: a failing test shows
/// which transaction keeps a read_committed reader waiting (its
/// CurrentTransactionStartOffset is not -1).
pub fn describe_producers(
    cluster: &(impl BootstrapServers + ?Sized),
    topic: &str,
    partition: i32,
) -> io::Result<String> {
    let bootstrap = cluster.bootstrap_servers();
    let what = format!("describing the producers of {topic}[{partition}] on {bootstrap}");
    let partition = partition.to_string();
    run_tool(
        "org.apache.kafka.tools.TransactionsCommand",
        Jvm::Brief,
        [
            "--bootstrap-server",
            &bootstrap,
            "describe-producers",
            "--topic",
            topic,
            "--partition",
            &partition,
        ],
        &what,
    )
}

/// The committed offsets of a consumer group (kafka-consumer-groups
/// --describe), sorted by topic and partition; empty when the group does not
/// exist.
pub fn consumer_group_offsets(
    cluster: &(impl BootstrapServers + ?Sized),
    group: &str,
) -> io::Result<Vec<GroupOffset>> {
    let bootstrap = cluster.bootstrap_servers();
    let what = format!("describing consumer group {group} on {bootstrap}");
    let cmd = java::tool(
        "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
        Jvm::Brief,
        [
            "--bootstrap-server",
            &bootstrap,
            "--describe",
            "--group",
            group,
        ],
    )?;
    let out = process::run_unchecked(cmd, None, TOOL_TIMEOUT, &what)?;
    let (stdout, stderr) = (out.stdout_text(), out.stderr_text());
    if stdout.contains("does not exist") || stderr.contains("does not exist") {
        return Ok(Vec::new());
    }
    if !out.status.success() {
        return Err(io::Error::other(format!(
            "{what}: {}; stderr:\n{}\nstdout:\n{}",
            out.status,
            process::tail(&stderr, 40),
            process::tail(&stdout, 20)
        )));
    }
    parse_group_offsets(&stdout).map_err(|e| io::Error::other(format!("{what}: {e}")))
}

/// Whether `group` has committed, for each (partition, offset) of `topic`
/// in `ends`, that offset or a later one (an offset of 0 needs no commit):
/// e.g. whether a mirror's progress covers a source's end offsets.
pub fn group_reached(
    cluster: &(impl BootstrapServers + ?Sized),
    group: &str,
    topic: &str,
    ends: &[(i32, i64)],
) -> io::Result<bool> {
    let committed = consumer_group_offsets(cluster, group)?;
    Ok(ends.iter().all(|(partition, end)| {
        *end == 0
            || committed.iter().any(|g| {
                g.topic == topic && g.partition == *partition && g.offset.is_some_and(|o| o >= *end)
            })
    }))
}

/// Deletes an inactive consumer group and its offsets
/// (kafka-consumer-groups --delete).
pub fn delete_group(cluster: &(impl BootstrapServers + ?Sized), group: &str) -> io::Result<()> {
    let bootstrap = cluster.bootstrap_servers();
    let what = format!("deleting group {group} on {bootstrap}");
    let cmd = java::tool(
        "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
        Jvm::Brief,
        [
            "--bootstrap-server",
            &bootstrap,
            "--delete",
            "--group",
            group,
        ],
    )?;
    process::run(cmd, None, TOOL_TIMEOUT, &what).map(drop)
}

/// Commits `offsets` ((partition, offset)s of `topic`) for an inactive
/// consumer group, creating it if needed (kafka-consumer-groups
/// --reset-offsets --from-file).
pub fn set_group_offsets(
    cluster: &(impl BootstrapServers + ?Sized),
    group: &str,
    topic: &str,
    offsets: &[(i32, i64)],
) -> io::Result<()> {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let bootstrap = cluster.bootstrap_servers();
    let what = format!("setting offsets of group {group} on {bootstrap}");
    let csv_path = std::env::temp_dir().join(format!(
        "kmirror-offsets-{}-{}.csv",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    let csv: String = offsets
        .iter()
        .map(|(p, o)| format!("{topic},{p},{o}\n"))
        .collect();
    fs::write(&csv_path, csv)?;
    let result = java::tool(
        "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
        Jvm::Brief,
        [
            "--bootstrap-server".to_owned(),
            bootstrap.clone(),
            "--group".into(),
            group.into(),
            "--reset-offsets".into(),
            "--from-file".into(),
            csv_path.display().to_string(),
            "--execute".into(),
        ],
    )
    .and_then(|cmd| process::run(cmd, None, TOOL_TIMEOUT, &what));
    let _ = fs::remove_file(&csv_path);
    result.map(drop)
}

/// Deletes the records of `topic` below `offsets` ((partition, offset)s)
/// with kafka-delete-records: the partitions' log start offsets move there.
pub fn delete_records(
    cluster: &(impl BootstrapServers + ?Sized),
    topic: &str,
    offsets: &[(i32, i64)],
) -> io::Result<()> {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let bootstrap = cluster.bootstrap_servers();
    let what = format!("deleting records of {topic} on {bootstrap}");
    let json_path = std::env::temp_dir().join(format!(
        "kmirror-delete-records-{}-{}.json",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    let partitions: Vec<String> = offsets
        .iter()
        .map(|(p, o)| format!(r#"{{"topic":"{topic}","partition":{p},"offset":{o}}}"#))
        .collect();
    fs::write(
        &json_path,
        format!(r#"{{"partitions":[{}],"version":1}}"#, partitions.join(",")),
    )?;
    let result = run_tool(
        "org.apache.kafka.tools.DeleteRecordsCommand",
        Jvm::Brief,
        [
            "--bootstrap-server".to_owned(),
            bootstrap.clone(),
            "--offset-json-file".into(),
            json_path.display().to_string(),
        ],
        &what,
    );
    let _ = fs::remove_file(&json_path);
    result.map(drop)
}

/// A member of consumer group `group` resuming on `topic` where the group
/// committed (no reset policy: a partition without a commit fails), reading
/// read_committed to the end and committing: the (partition, offset,
/// value)s it read.
pub fn resume_group(
    cluster: &(impl BootstrapServers + ?Sized),
    topic: &str,
    group: &str,
    timeout: Duration,
) -> io::Result<Vec<(i32, i64, String)>> {
    let bootstrap = cluster.bootstrap_servers();
    let what = format!("group {group} resuming on {topic} at {bootstrap}");
    let cmd = java::tool(
        "GroupConsumer",
        Jvm::Data,
        [
            bootstrap.clone(),
            topic.to_string(),
            group.to_string(),
            timeout.as_millis().to_string(),
        ],
    )?;
    let out = process::run(cmd, None, timeout + Duration::from_secs(60), &what)?;
    let stdout = out.stdout_text();
    if !stdout.lines().any(|l| l == "END") {
        return Err(io::Error::other(format!(
            "{what}: did not reach the end; stderr:\n{}",
            process::tail(&out.stderr_text(), 40)
        )));
    }
    let mut read = Vec::new();
    for line in stdout.lines().filter_map(|l| l.strip_prefix("R ")) {
        let mut f = line.splitn(3, ' ');
        let bad = || io::Error::other(format!("{what}: printed '{line}'"));
        let partition = f.next().and_then(|p| p.parse().ok()).ok_or_else(bad)?;
        let offset = f.next().and_then(|o| o.parse().ok()).ok_or_else(bad)?;
        read.push((partition, offset, f.next().unwrap_or_default().to_string()));
    }
    Ok(read)
}

/// Every record of a MirrorMaker 2 internal topic as Kafka's own formatter
/// prints it (`kafka-console-consumer --formatter
/// org.apache.kafka.connect.mirror.formatters.<formatter>`, e.g.
/// `OffsetSyncFormatter`, `CheckpointFormatter`, `HeartbeatFormatter`), one
/// line each, read from the beginning until `records` lines came or 5 s
/// passed without one.
pub fn mm2_formatted(
    cluster: &(impl BootstrapServers + ?Sized),
    topic: &str,
    formatter: &str,
    records: usize,
) -> io::Result<Vec<String>> {
    let bootstrap = cluster.bootstrap_servers();
    let what = format!("reading {topic} with Kafka's {formatter} at {bootstrap}");
    let class = format!("org.apache.kafka.connect.mirror.formatters.{formatter}");
    let max = records.to_string();
    let cmd = java::tool(
        "org.apache.kafka.tools.consumer.ConsoleConsumer",
        Jvm::Brief,
        [
            "--bootstrap-server",
            &bootstrap,
            "--topic",
            topic,
            "--from-beginning",
            "--max-messages",
            &max,
            "--timeout-ms",
            "5000",
            "--formatter",
            &class,
        ],
    )?;
    let out = process::run_unchecked(cmd, None, TOOL_TIMEOUT, &what)?;
    let lines: Vec<String> = out
        .stdout_text()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect();
    if lines.is_empty() {
        return Err(io::Error::other(format!(
            "{what}: nothing printed; stderr:\n{}",
            process::tail(&out.stderr_text(), 40)
        )));
    }
    Ok(lines)
}

/// What Kafka's own `RemoteClusterUtils.translateOffsets` makes of the
/// checkpoints on `cluster` for `group` mirrored from `source_alias`:
/// (remote topic, partition, offset)s, sorted.
pub fn mm2_translate_offsets(
    cluster: &(impl BootstrapServers + ?Sized),
    source_alias: &str,
    group: &str,
) -> io::Result<Vec<(String, i32, i64)>> {
    let out = mm2_client(cluster, &["translate", source_alias, group])?;
    let mut rows = Vec::new();
    for line in out.lines().filter_map(|l| l.strip_prefix("T ")) {
        let f: Vec<&str> = line.split(' ').collect();
        let bad = || io::Error::other(format!("RemoteClusterUtils printed '{line}'"));
        if f.len() != 3 {
            return Err(bad());
        }
        rows.push((
            f[0].to_string(),
            f[1].parse().map_err(|_| bad())?,
            f[2].parse().map_err(|_| bad())?,
        ));
    }
    rows.sort();
    Ok(rows)
}

/// Kafka's own `RemoteClusterUtils.replicationHops` from `cluster` to the
/// cluster `alias` (-1 when not reachable), read from the heartbeats topics.
pub fn mm2_replication_hops(
    cluster: &(impl BootstrapServers + ?Sized),
    alias: &str,
) -> io::Result<i32> {
    let out = mm2_client(cluster, &["hops", alias])?;
    out.lines()
        .find_map(|l| l.strip_prefix("H "))
        .and_then(|h| h.trim().parse().ok())
        .ok_or_else(|| io::Error::other(format!("RemoteClusterUtils printed:\n{out}")))
}

fn mm2_client(cluster: &(impl BootstrapServers + ?Sized), args: &[&str]) -> io::Result<String> {
    let bootstrap = cluster.bootstrap_servers();
    let what = format!("RemoteClusterUtils {} against {bootstrap}", args.join(" "));
    let mut argv = vec![bootstrap.clone()];
    argv.extend(args.iter().map(|a| a.to_string()));
    let cmd = java::tool("Mm2Client", Jvm::Brief, argv)?;
    let out = process::run(cmd, None, TOOL_TIMEOUT, &what)?;
    let stdout = out.stdout_text();
    if !stdout.lines().any(|l| l == "END") {
        return Err(io::Error::other(format!(
            "{what}: no END; stderr:\n{}",
            process::tail(&out.stderr_text(), 40)
        )));
    }
    Ok(stdout)
}

/// Runs Kafka's `kafka-acls` with `args` (after `--bootstrap-server`),
/// over the cluster's PLAINTEXT listener (a super user on the harness's
/// secured clusters), and returns what it printed.
pub fn acls(cluster: &(impl BootstrapServers + ?Sized), args: &[&str]) -> io::Result<String> {
    let bootstrap = cluster.bootstrap_servers();
    let mut argv = vec!["--bootstrap-server".to_string(), bootstrap.clone()];
    argv.extend(args.iter().map(|a| a.to_string()));
    let what = format!("kafka-acls {} on {bootstrap}", args.join(" "));
    run_tool("org.apache.kafka.tools.AclCommand", Jvm::Brief, argv, &what)
}

fn run_tool<S: Into<std::ffi::OsString>>(
    main: &str,
    jvm: Jvm,
    args: impl IntoIterator<Item = S>,
    what: &str,
) -> io::Result<String> {
    let cmd = java::tool(main, jvm, args)?;
    Ok(process::run(cmd, None, TOOL_TIMEOUT, what)?.stdout_text())
}

fn kcat(args: &[&str], bootstrap: &str) -> io::Result<String> {
    let mut cmd = Command::new("kcat");
    cmd.args(args).args(["-m", "15"]);
    let what = format!(
        "kcat {} on {bootstrap}",
        args.first().copied().unwrap_or_default()
    );
    let out = process::run(cmd, None, Duration::from_secs(30), &what)?;
    Ok(out.stdout_text())
}

fn wait_for_partition_count(
    cluster: &(impl BootstrapServers + ?Sized),
    topic: &str,
    want: Option<i32>,
    what: &str,
) -> io::Result<()> {
    // Thousands of partitions take a loaded broker a while to set up.
    let per_partition = Duration::from_millis(20) * want.unwrap_or(0).max(0) as u32;
    let deadline = Instant::now() + Duration::from_secs(30) + per_partition;
    loop {
        let seen = partition_count(cluster, topic)?;
        if seen == want {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("{what}: metadata still shows {seen:?} partitions, want {want:?}"),
            ));
        }
        thread::sleep(Duration::from_millis(100));
    }
}

fn run_test_producer(
    cluster: &(impl BootstrapServers + ?Sized),
    topic: &str,
    producer_props: &[(&str, &str)],
    script: String,
    records: usize,
) -> io::Result<Vec<(i32, i64)>> {
    let bootstrap = cluster.bootstrap_servers();
    let mut args = vec![bootstrap.clone(), topic.to_owned()];
    args.extend(producer_props.iter().map(|(k, v)| format!("{k}={v}")));
    let what = format!("producing {records} records to {topic} on {bootstrap}");
    let cmd = java::tool("TestProducer", Jvm::Data, args)?;
    let out = process::run(cmd, Some(script.into_bytes()), TOOL_TIMEOUT, &what)?;
    let positions: Vec<(i32, i64)> = out
        .stdout_text()
        .lines()
        .filter_map(|l| {
            let mut f = l.strip_prefix("OK ")?.split(' ');
            Some((f.next()?.parse().ok()?, f.next()?.parse().ok()?))
        })
        .collect();
    if positions.len() != records {
        return Err(io::Error::other(format!(
            "{what}: {} of {records} acknowledged; stderr:\n{}",
            positions.len(),
            process::tail(&out.stderr_text(), 40)
        )));
    }
    Ok(positions)
}

pub(crate) fn write_record(script: &mut String, record: &TestRecord) {
    let partition = record.partition.map_or("*".to_owned(), |p| p.to_string());
    let timestamp = record.timestamp.map_or("*".to_owned(), |t| t.to_string());
    let _ = write!(
        script,
        "R {partition} {timestamp} {} {} {}",
        wire::field(record.key.as_deref()),
        wire::field(record.value.as_deref()),
        record.headers.len()
    );
    for (name, value) in &record.headers {
        let _ = write!(
            script,
            " {} {}",
            wire::field(Some(name.as_bytes())),
            wire::field(Some(value))
        );
    }
    script.push('\n');
}

fn parse_consumed(line: &str) -> io::Result<ConsumedRecord> {
    let bad =
        |what: &str| io::Error::new(io::ErrorKind::InvalidData, format!("{what} in {line:?}"));
    let f: Vec<&str> = line.split(' ').collect();
    if f.len() < 8 || f[0] != "R" {
        return Err(bad("not a record line"));
    }
    let count: usize = f[7].parse().map_err(|_| bad("bad header count"))?;
    if f.len() != 8 + 2 * count {
        return Err(bad("wrong number of header fields"));
    }
    let mut headers = Vec::with_capacity(count);
    for h in 0..count {
        let name = wire::parse_field(f[8 + 2 * h], "header name")?
            .ok_or_else(|| bad("null header name"))?;
        let name = String::from_utf8(name).map_err(|_| bad("header name not UTF-8"))?;
        headers.push((name, wire::parse_field(f[9 + 2 * h], "header value")?));
    }
    Ok(ConsumedRecord {
        partition: f[1].parse().map_err(|_| bad("bad partition"))?,
        offset: f[2].parse().map_err(|_| bad("bad offset"))?,
        timestamp: f[3].parse().map_err(|_| bad("bad timestamp"))?,
        timestamp_type: match f[4] {
            "C" => TimestampType::CreateTime,
            "L" => TimestampType::LogAppendTime,
            "N" => TimestampType::NoTimestamp,
            _ => return Err(bad("bad timestamp type")),
        },
        key: wire::parse_field(f[5], "key")?,
        value: wire::parse_field(f[6], "value")?,
        headers,
    })
}

/// "2 123456" after the "B ".
fn parse_node_bytes(rest: &str) -> io::Result<(i32, u64)> {
    rest.split_once(' ')
        .and_then(|(node, bytes)| Some((node.parse().ok()?, bytes.parse().ok()?)))
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("bad per-broker byte count {rest:?}"),
            )
        })
}

/// "0, leader 2, replicas: 2,3,1, isrs: 2,3,1" after the "partition ".
fn parse_partition_line(rest: &str) -> Option<PartitionReplicas> {
    let ids = |list: &str| -> Option<Vec<i32>> {
        list.split(',')
            .filter(|id| !id.is_empty())
            .map(|id| id.trim().parse().ok())
            .collect()
    };
    let (partition, rest) = rest.split_once(", leader ")?;
    let (leader, rest) = rest.split_once(", replicas: ")?;
    let (replicas, isr) = rest.split_once(", isrs: ")?;
    Some(PartitionReplicas {
        partition: partition.trim().parse().ok()?,
        leader: leader.trim().parse().ok()?,
        replicas: ids(replicas)?,
        isr: ids(isr.split_whitespace().next().unwrap_or(""))?,
    })
}

fn parse_perf_summary(line: &str) -> Option<PerfSummary> {
    let mut summary = PerfSummary::default();
    for part in line.trim().trim_end_matches('.').split(", ") {
        let (number, rest) = part.trim().split_once(' ')?;
        let number: f64 = number.parse().ok()?;
        match rest {
            "records sent" => summary.records = number as u64,
            "ms avg latency" => summary.avg_latency_ms = number,
            "ms max latency" => summary.max_latency_ms = number,
            "ms 50th" => summary.p50_ms = number,
            "ms 95th" => summary.p95_ms = number,
            "ms 99th" => summary.p99_ms = number,
            "ms 99.9th" => summary.p999_ms = number,
            _ if rest.starts_with("records/sec") => {
                summary.records_per_sec = number;
                summary.mb_per_sec = rest
                    .split_once('(')
                    .and_then(|(_, mb)| mb.split_whitespace().next())
                    .and_then(|mb| mb.parse().ok())
                    .unwrap_or_default();
            }
            _ => {}
        }
    }
    Some(summary)
}

/// Reads the table(s) of `--describe`: a header line starting with GROUP,
/// then one row per partition, columns found by header name.
fn parse_group_offsets(stdout: &str) -> Result<Vec<GroupOffset>, String> {
    let mut offsets = Vec::new();
    let mut columns: Option<Vec<&str>> = None;
    for line in stdout.lines() {
        let cells: Vec<&str> = line.split_whitespace().collect();
        if cells.is_empty() {
            continue;
        }
        if cells[0] == "GROUP" {
            columns = Some(cells);
            continue;
        }
        let Some(columns) = &columns else {
            continue;
        };
        let cell = |name: &str| -> Option<&str> {
            let i = columns.iter().position(|c| *c == name)?;
            cells.get(i).copied()
        };
        let number = |name: &str| cell(name).and_then(|v| v.parse::<i64>().ok());
        let (Some(topic), Some(partition)) = (cell("TOPIC"), number("PARTITION")) else {
            continue;
        };
        if topic == "-" {
            continue;
        }
        offsets.push(GroupOffset {
            topic: topic.to_owned(),
            partition: i32::try_from(partition)
                .map_err(|_| format!("bad partition in {line:?}"))?,
            offset: number("CURRENT-OFFSET"),
            log_end_offset: number("LOG-END-OFFSET"),
        });
    }
    offsets.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
    Ok(offsets)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perf_summary_line_parses() {
        let line = "1000 records sent, 2857.142857 records/sec (0.27 MB/sec), 120.51 ms avg \
                    latency, 300.00 ms max latency, 118 ms 50th, 280 ms 95th, 298 ms 99th, \
                    300 ms 99.9th.";
        let s = parse_perf_summary(line).unwrap();
        assert_eq!(s.records, 1000);
        assert_eq!(s.mb_per_sec, 0.27);
        assert_eq!(s.max_latency_ms, 300.0);
        assert_eq!(s.p999_ms, 300.0);
    }

    #[test]
    fn consumed_line_parses_nulls_and_headers() {
        let r = parse_consumed("R 2 7 1700000000000 C ~ = 2 =aA== ~ =aQ== =AP8=").unwrap();
        assert_eq!(
            (r.partition, r.offset, r.timestamp),
            (2, 7, 1_700_000_000_000)
        );
        assert_eq!(r.key, None);
        assert_eq!(r.value, Some(vec![]));
        assert_eq!(
            r.headers,
            vec![("h".to_owned(), None), ("i".to_owned(), Some(vec![0, 255]))]
        );
        assert!(parse_consumed("R 2 7 1 C ~ = 1 =aA==").is_err());
    }

    #[test]
    fn kcat_partition_line_parses() {
        let p = parse_partition_line("1, leader 2, replicas: 2,3,1, isrs: 2,1").unwrap();
        assert_eq!((p.partition, p.leader), (1, 2));
        assert_eq!(p.replicas, [2, 3, 1]);
        assert_eq!(p.isr, [2, 1]);
        assert!(parse_partition_line("1, leader 2").is_none());
        assert_eq!(parse_node_bytes("-1 512").unwrap(), (-1, 512));
        assert!(parse_node_bytes("x 1").is_err());
    }

    #[test]
    fn group_table_parses() {
        let out = "\nConsumer group 'g' has no active members.\n\n\
            GROUP TOPIC PARTITION  CURRENT-OFFSET  LOG-END-OFFSET  LAG  CONSUMER-ID HOST CLIENT-ID\n\
            g     t     1          5               9               4    -           -    -\n\
            g     t     0          -               3               -    -           -    -\n";
        let offsets = parse_group_offsets(out).unwrap();
        assert_eq!(offsets.len(), 2);
        assert_eq!(offsets[0].partition, 0);
        assert_eq!(offsets[0].offset, None);
        assert_eq!(offsets[1].offset, Some(5));
        assert_eq!(offsets[1].log_end_offset, Some(9));
    }
}
