//! One broker fault: the broker (other than the controller) that leads the
//! most partitions of the mirrored topic on one cluster is killed
//! (SIGKILL), stays down until its partitions have new leaders and a while
//! longer, is restarted, and is waited for until it is back in every ISR,
//! so the next fault never finds a cluster short of replicas.

use std::time::{Duration, Instant};

use kmirror_harness::leaders;
use kmirror_harness::KafkaCluster;

use super::schedule::{BrokerFault, Side};

/// How long leadership may take to move off a killed broker (its session
/// times out after 9 s by default).
const MOVE_TIMEOUT: Duration = Duration::from_secs(90);
/// How long a restarted broker's replicas may take to catch up.
const SYNC_TIMEOUT: Duration = Duration::from_secs(180);

/// What a broker fault did; times from the kill unless said otherwise.
#[derive(Clone, Debug)]
pub struct BrokerFaultOutcome {
    pub side: Side,
    /// From the start of the chaos run, when the fault began.
    pub started: Duration,
    pub broker: Option<i32>,
    /// The partitions it led when it was killed.
    pub led: Vec<i32>,
    /// (partition, new leader) of those partitions once they moved.
    pub new_leaders: Vec<(i32, i32)>,
    pub moved_after: Option<Duration>,
    /// When the restarted broker served metadata again.
    pub restarted_after: Option<Duration>,
    pub in_sync_after: Option<Duration>,
    /// Why the fault did not run to its end, if it did not.
    pub error: Option<String>,
}

/// Runs `fault` on `cluster`, whose copy of the mirrored topic is `topic`.
pub fn run(
    cluster: &KafkaCluster,
    topic: &str,
    fault: &BrokerFault,
    epoch: Instant,
) -> BrokerFaultOutcome {
    let mut outcome = BrokerFaultOutcome {
        side: fault.side,
        started: epoch.elapsed(),
        broker: None,
        led: Vec::new(),
        new_leaders: Vec::new(),
        moved_after: None,
        restarted_after: None,
        in_sync_after: None,
        error: None,
    };
    if let Err(e) = run_into(cluster, topic, fault, &mut outcome) {
        outcome.error = Some(e);
    }
    outcome
}

fn run_into(
    cluster: &KafkaCluster,
    topic: &str,
    fault: &BrokerFault,
    outcome: &mut BrokerFaultOutcome,
) -> Result<(), String> {
    let e = |x: std::io::Error| x.to_string();
    let (broker, led) = leaders::busiest_leader(cluster, topic)
        .map_err(e)?
        .ok_or_else(|| format!("no broker but the controller leads a partition of {topic}"))?;
    outcome.broker = Some(broker);
    outcome.led = led.clone();
    eprintln!(
        "kmirror-bench: chaos: killing {} broker {broker} (leads partitions {led:?} of {topic})",
        fault.side
    );
    let killed = Instant::now();
    cluster.kill_broker(broker).map_err(e)?;
    let moved =
        leaders::wait_until_led_elsewhere(cluster, topic, broker, MOVE_TIMEOUT).map_err(e)?;
    outcome.moved_after = Some(killed.elapsed());
    outcome.new_leaders = moved
        .iter()
        .filter(|p| led.contains(&p.partition))
        .map(|p| (p.partition, p.leader))
        .collect();
    std::thread::sleep(fault.down);
    cluster.restart_broker(broker).map_err(e)?;
    outcome.restarted_after = Some(killed.elapsed());
    eprintln!(
        "kmirror-bench: chaos: {} broker {broker} back after {:.1} s",
        fault.side,
        killed.elapsed().as_secs_f64()
    );
    leaders::wait_until_in_sync(cluster, topic, SYNC_TIMEOUT).map_err(e)?;
    outcome.in_sync_after = Some(killed.elapsed());
    Ok(())
}
