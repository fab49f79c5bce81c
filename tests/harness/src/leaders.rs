//! Who leads a topic's partitions, and waiting for leadership and replicas
//! to settle around a broker fault (through kcat's view of metadata).
//!
//! Node 1 of a harness cluster is also its only KRaft controller: killing
//! it stops leader elections altogether, so fault helpers never choose it.

use std::collections::BTreeMap;
use std::io;
use std::thread;
use std::time::{Duration, Instant};

use crate::tools::{self, PartitionReplicas};
use crate::KafkaCluster;

/// The partitions of `topic` each broker leads, by broker id (brokers
/// that lead nothing are absent; leaderless partitions are under -1).
pub fn leaders_by_broker(
    cluster: &KafkaCluster,
    topic: &str,
) -> io::Result<BTreeMap<i32, Vec<i32>>> {
    let mut led: BTreeMap<i32, Vec<i32>> = BTreeMap::new();
    for p in tools::partition_replicas(cluster, topic)? {
        led.entry(p.leader).or_default().push(p.partition);
    }
    Ok(led)
}

/// The broker other than the controller that leads the most partitions of
/// `topic` (the lowest id on a tie), with those partitions; `None` when
/// only the controller leads any.
pub fn busiest_leader(cluster: &KafkaCluster, topic: &str) -> io::Result<Option<(i32, Vec<i32>)>> {
    let controller = cluster.controller_node();
    Ok(leaders_by_broker(cluster, topic)?
        .into_iter()
        .filter(|(b, _)| *b >= 0 && *b != controller)
        .max_by(|(a, pa), (b, pb)| pa.len().cmp(&pb.len()).then(b.cmp(a))))
}

/// Waits until every partition of `topic` has a leader other than
/// `broker`, and returns the partitions as they are then.
pub fn wait_until_led_elsewhere(
    cluster: &KafkaCluster,
    topic: &str,
    broker: i32,
    timeout: Duration,
) -> io::Result<Vec<PartitionReplicas>> {
    poll(
        timeout,
        &format!("every partition of {topic} led by a broker other than {broker}"),
        || {
            let partitions = tools::partition_replicas(cluster, topic)?;
            let moved = partitions
                .iter()
                .all(|p| p.leader >= 0 && p.leader != broker);
            Ok(moved.then_some(partitions))
        },
    )
}

/// Waits until every replica of every partition of `topic` is in sync.
pub fn wait_until_in_sync(
    cluster: &KafkaCluster,
    topic: &str,
    timeout: Duration,
) -> io::Result<()> {
    poll(
        timeout,
        &format!("every replica of {topic} in sync"),
        || {
            let partitions = tools::partition_replicas(cluster, topic)?;
            let synced = partitions
                .iter()
                .all(|p| p.leader >= 0 && p.replicas.iter().all(|r| p.isr.contains(r)));
            Ok(synced.then_some(()))
        },
    )
}

/// Calls `probe` every 500 ms until it returns something; a failing probe
/// (a broker just killed may fail a metadata request) is tried again.
fn poll<T>(
    timeout: Duration,
    what: &str,
    mut probe: impl FnMut() -> io::Result<Option<T>>,
) -> io::Result<T> {
    let deadline = Instant::now() + timeout;
    let mut last_error = None;
    loop {
        match probe() {
            Ok(Some(found)) => return Ok(found),
            Ok(None) => {}
            Err(e) => last_error = Some(e),
        }
        if Instant::now() >= deadline {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                match last_error {
                    Some(e) => format!("no {what} within {timeout:?} (last error: {e})"),
                    None => format!("no {what} within {timeout:?}"),
                },
            ));
        }
        thread::sleep(Duration::from_millis(500));
    }
}
