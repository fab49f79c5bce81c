//! What `kmirror status` shows, built from one scrape: per partition and
//! per flow, worst first.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::status::scrape::Sample;

const MM2: &str = "kafka_connect_mirror_mirrorsourceconnector_";

/// One partition's row.
#[derive(Debug, Clone, PartialEq)]
pub struct PartitionRow {
    pub source: String,
    pub target: String,
    /// The target topic (as MirrorMaker 2's metrics name it).
    pub topic: String,
    pub partition: i32,
    pub records: f64,
    /// Records per second over the last 30 s.
    pub rate: f64,
    pub lag_records: f64,
    pub lag_seconds: f64,
    /// The greatest replication latency over the last 30 s, ms.
    pub latency_max_ms: Option<f64>,
    pub state: &'static str,
}

/// One flow's row: its partitions summed up.
#[derive(Debug, Clone, PartialEq)]
pub struct FlowRow {
    pub source: String,
    pub target: String,
    pub partitions: usize,
    pub rate: f64,
    pub lag_records: f64,
    pub lag_seconds: f64,
    pub latency_max_ms: Option<f64>,
    /// The worst state among its partitions.
    pub state: &'static str,
    /// Partitions per state.
    pub states: BTreeMap<&'static str, usize>,
}

/// Everything one refresh shows.
#[derive(Debug, Clone, PartialEq)]
pub struct View {
    pub address: String,
    pub version: String,
    pub backend: String,
    /// `/health`: healthy, and its answer.
    pub health: (bool, String),
    pub ready: (bool, String),
    pub records: f64,
    pub bytes: f64,
    /// Replication latency quantiles, all partitions (p50, p99, p99.9), ms.
    pub latency_ms: Vec<(String, f64)>,
    pub flows: Vec<FlowRow>,
    pub partitions: Vec<PartitionRow>,
}

/// The name of a `kmirror_partition_state` value.
fn state_name(code: f64) -> &'static str {
    match code as i64 {
        0 => "active",
        1 => "waiting",
        2 => "stalled",
        3 => "stopped",
        _ => "unknown",
    }
}

/// How bad a state is: the larger, the earlier it is listed.
fn severity(state: &str) -> u8 {
    match state {
        "stopped" => 4,
        "stalled" => 3,
        "unknown" => 2,
        "waiting" => 1,
        _ => 0,
    }
}

/// Worst first: state, then lag in time, lag in records, latency.
fn worse(a: (&str, f64, f64, Option<f64>), b: (&str, f64, f64, Option<f64>)) -> std::cmp::Ordering {
    severity(b.0)
        .cmp(&severity(a.0))
        .then(b.1.total_cmp(&a.1))
        .then(b.2.total_cmp(&a.2))
        .then(b.3.unwrap_or(0.0).total_cmp(&a.3.unwrap_or(0.0)))
}

impl View {
    pub fn build(
        address: &str,
        samples: &[Sample],
        health: (bool, String),
        ready: (bool, String),
    ) -> View {
        let mut rows: BTreeMap<(String, String, String, i32), PartitionRow> = BTreeMap::new();
        let mut view = View {
            address: address.to_string(),
            version: String::new(),
            backend: String::new(),
            health,
            ready,
            records: 0.0,
            bytes: 0.0,
            latency_ms: Vec::new(),
            flows: Vec::new(),
            partitions: Vec::new(),
        };
        for s in samples {
            match s.name.as_str() {
                "kmirror_info" => {
                    view.version = s.label("version").to_string();
                    view.backend = s.label("backend").to_string();
                    continue;
                }
                "kmirror_records_mirrored" => view.records = s.value,
                "kmirror_bytes_mirrored" => view.bytes = s.value,
                "kmirror_replication_latency_ms" => view
                    .latency_ms
                    .push((s.label("quantile").to_string(), s.value)),
                _ => {}
            }
            let Ok(partition) = s.label("partition").parse::<i32>() else {
                continue;
            };
            let key = (
                s.label("source").to_string(),
                s.label("target").to_string(),
                s.label("topic").to_string(),
                partition,
            );
            let row = rows.entry(key.clone()).or_insert_with(|| PartitionRow {
                source: key.0,
                target: key.1,
                topic: key.2,
                partition,
                records: 0.0,
                rate: 0.0,
                lag_records: 0.0,
                lag_seconds: 0.0,
                latency_max_ms: None,
                state: "unknown",
            });
            match s.name.strip_prefix(MM2) {
                Some("record_count") => row.records = s.value,
                Some("record_rate") => row.rate = s.value,
                Some("replication_latency_ms_max") => row.latency_max_ms = Some(s.value),
                _ => match s.name.as_str() {
                    "kmirror_partition_lag_records" => row.lag_records = s.value,
                    "kmirror_partition_lag_seconds" => row.lag_seconds = s.value,
                    "kmirror_partition_state" => row.state = state_name(s.value),
                    _ => {}
                },
            }
        }
        view.latency_ms.sort_by(|a, b| {
            a.0.parse::<f64>()
                .unwrap_or(0.0)
                .total_cmp(&b.0.parse().unwrap_or(0.0))
        });
        let mut partitions: Vec<PartitionRow> = rows.into_values().collect();
        partitions.sort_by(|a, b| {
            worse(
                (a.state, a.lag_seconds, a.lag_records, a.latency_max_ms),
                (b.state, b.lag_seconds, b.lag_records, b.latency_max_ms),
            )
        });
        view.flows = flows(&partitions);
        view.partitions = partitions;
        view
    }

    pub fn to_json(&self) -> Value {
        let opt = |v: Option<f64>| v.map_or(Value::Null, |v| json!(v));
        json!({
            "address": self.address,
            "version": self.version,
            "backend": self.backend,
            "healthy": self.health.0,
            "health": self.health.1,
            "ready": self.ready.0,
            "readiness": self.ready.1,
            "records_mirrored": self.records,
            "bytes_mirrored": self.bytes,
            "replication_latency_ms": self.latency_ms.iter()
                .map(|(q, v)| (q.clone(), json!(v)))
                .collect::<serde_json::Map<String, Value>>(),
            "flows": self.flows.iter().map(|f| json!({
                "source": f.source,
                "target": f.target,
                "partitions": f.partitions,
                "records_per_second": f.rate,
                "lag_records": f.lag_records,
                "lag_seconds": f.lag_seconds,
                "replication_latency_max_ms": opt(f.latency_max_ms),
                "state": f.state,
                "states": f.states,
            })).collect::<Vec<_>>(),
            "partitions": self.partitions.iter().map(|p| json!({
                "source": p.source,
                "target": p.target,
                "topic": p.topic,
                "partition": p.partition,
                "records": p.records,
                "records_per_second": p.rate,
                "lag_records": p.lag_records,
                "lag_seconds": p.lag_seconds,
                "replication_latency_max_ms": opt(p.latency_max_ms),
                "state": p.state,
            })).collect::<Vec<_>>(),
        })
    }
}

/// The flows of `partitions` (already sorted worst first), worst first.
fn flows(partitions: &[PartitionRow]) -> Vec<FlowRow> {
    let mut by_flow: BTreeMap<(String, String), FlowRow> = BTreeMap::new();
    for p in partitions {
        let f = by_flow
            .entry((p.source.clone(), p.target.clone()))
            .or_insert_with(|| FlowRow {
                source: p.source.clone(),
                target: p.target.clone(),
                partitions: 0,
                rate: 0.0,
                lag_records: 0.0,
                lag_seconds: 0.0,
                latency_max_ms: None,
                state: "active",
                states: BTreeMap::new(),
            });
        f.partitions += 1;
        f.rate += p.rate;
        f.lag_records += p.lag_records;
        f.lag_seconds = f.lag_seconds.max(p.lag_seconds);
        f.latency_max_ms = match (f.latency_max_ms, p.latency_max_ms) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        if severity(p.state) > severity(f.state) {
            f.state = p.state;
        }
        *f.states.entry(p.state).or_insert(0) += 1;
    }
    let mut out: Vec<FlowRow> = by_flow.into_values().collect();
    out.sort_by(|a, b| {
        worse(
            (a.state, a.lag_seconds, a.lag_records, a.latency_max_ms),
            (b.state, b.lag_seconds, b.lag_records, b.latency_max_ms),
        )
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::scrape::parse;

    fn series(topic: &str, p: i32, rate: f64, lag: f64, state: i32) -> String {
        let l = format!(r#"{{source="A",target="B",topic="{topic}",partition="{p}"}}"#);
        format!(
            "{MM2}record_count{l} 100\n{MM2}record_rate{l} {rate}\n\
             {MM2}replication_latency_ms_max{l} 7\n\
             kmirror_partition_lag_records{l} {lag}\nkmirror_partition_lag_seconds{l} {}\n\
             kmirror_partition_state{l} {state}\n",
            lag / 10.0
        )
    }

    fn view() -> View {
        let body = [
            series("A.t", 0, 10.0, 0.0, 0),
            series("A.t", 1, 5.0, 50.0, 0),
            series("A.t", 2, 0.0, 900.0, 3),
            series("A.u", 0, 1.0, 10.0, 1),
            "kmirror_info{version=\"0.1.0\",backend=\"epoll\"} 1\n".into(),
            "kmirror_replication_latency_ms{quantile=\"0.99\"} 12.5\n".into(),
            "kmirror_replication_latency_ms{quantile=\"0.5\"} 3\n".into(),
            "kmirror_records_mirrored 400\n".into(),
        ]
        .concat();
        View::build(
            "127.0.0.1:9408",
            &parse(&body),
            (false, "partition t[2] stopped".into()),
            (true, "ready".into()),
        )
    }

    #[test]
    fn partitions_are_listed_worst_first() {
        let v = view();
        let order: Vec<(&str, i32, &str)> = v
            .partitions
            .iter()
            .map(|p| (p.topic.as_str(), p.partition, p.state))
            .collect();
        assert_eq!(
            order,
            vec![
                ("A.t", 2, "stopped"),
                ("A.u", 0, "waiting"),
                ("A.t", 1, "active"),
                ("A.t", 0, "active"),
            ]
        );
        assert_eq!(v.latency_ms[0], ("0.5".to_string(), 3.0));
        assert_eq!((v.version.as_str(), v.backend.as_str()), ("0.1.0", "epoll"));
    }

    #[test]
    fn a_flow_sums_its_partitions_and_takes_the_worst_state() {
        let v = view();
        assert_eq!(v.flows.len(), 1);
        let f = &v.flows[0];
        assert_eq!((f.partitions, f.rate, f.lag_records), (4, 16.0, 960.0));
        assert_eq!(f.state, "stopped");
        assert_eq!(f.states.get("active"), Some(&2));
        let j = v.to_json();
        assert_eq!(j["flows"][0]["state"], "stopped");
        assert_eq!(j["partitions"][0]["partition"], 2);
        assert_eq!(j["healthy"], false);
    }
}
