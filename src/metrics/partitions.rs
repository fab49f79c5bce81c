//! The per-partition series (MirrorMaker 2's source metrics and kmirror's
//! lag and state), written straight into the text exposition.
//!
//! At 10,000 partitions these are 150,000 series, 19 MB of text a scrape.
//! Kept as prometheus-client gauges, each scrape cost about 0.4 s of CPU
//! (a tenth of a core scraped every second); here each partition keeps its
//! label set rendered once and its values as plain numbers, so a scrape is
//! one pass of string appends. The other families stay in the
//! prometheus-client registry, and the two are written as one answer.

use std::fmt::Write;

use crate::metrics::sample::Window;

/// `kafka_connect_mirror_mirrorsourceconnector_`, as Strimzi's JMX
/// exporter rules name MirrorMaker 2's MirrorSourceConnector attributes.
const MM2: &str = "kafka_connect_mirror_mirrorsourceconnector_";

/// A MirrorMaker 2 statistic: its last value, and its minimum, maximum and
/// mean over the window.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Stat {
    pub value: f64,
    pub min: f64,
    pub max: f64,
    pub avg: f64,
}

impl Stat {
    /// The last value (once there is one) and the window's statistics
    /// (while it holds any; the last ones stay otherwise).
    pub fn set(&mut self, last: Option<u64>, window: &Window) {
        if let Some(v) = last {
            self.value = v as f64;
        }
        if let Some(avg) = window.avg() {
            self.min = window.min as f64;
            self.max = window.max as f64;
            self.avg = avg;
        }
    }
}

/// One partition's values as last published.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Values {
    pub record_count: f64,
    pub record_rate: f64,
    pub byte_count: f64,
    pub byte_rate: f64,
    pub record_age_ms: Stat,
    pub replication_latency_ms: Stat,
    pub lag_records: i64,
    pub lag_seconds: f64,
    pub state: i64,
}

/// A number as the text format writes it: gauges of floats keep a decimal
/// point (`30.0`), integer gauges do not (`100`).
enum Number {
    Float(f64),
    Int(i64),
}

type Family = (
    &'static str,
    &'static str,
    &'static str,
    fn(&Values) -> Number,
);

/// Every per-partition family: name prefix, name, help, value.
const FAMILIES: &[Family] = &[
    (MM2, "record_count", "Records mirrored (MirrorMaker 2's record-count)", |v| Number::Float(v.record_count)),
    (MM2, "record_rate", "Records mirrored per second over the last 30 s", |v| Number::Float(v.record_rate)),
    (MM2, "byte_count", "Record batch bytes mirrored", |v| Number::Float(v.byte_count)),
    (MM2, "byte_rate", "Record batch bytes mirrored per second over the last 30 s", |v| Number::Float(v.byte_rate)),
    (MM2, "record_age_ms", "record age at fetch (now minus the newest record's source timestamp), ms, last batch", |v| Number::Float(v.record_age_ms.value)),
    (MM2, "record_age_ms_min", "Least record age at fetch over the last 30 s, ms", |v| Number::Float(v.record_age_ms.min)),
    (MM2, "record_age_ms_max", "Greatest record age at fetch over the last 30 s, ms", |v| Number::Float(v.record_age_ms.max)),
    (MM2, "record_age_ms_avg", "Mean record age at fetch over the last 30 s, ms", |v| Number::Float(v.record_age_ms.avg)),
    (MM2, "replication_latency_ms", "replication latency (source timestamp to target acknowledgement), ms, last batch", |v| Number::Float(v.replication_latency_ms.value)),
    (MM2, "replication_latency_ms_min", "Least replication latency over the last 30 s, ms", |v| Number::Float(v.replication_latency_ms.min)),
    (MM2, "replication_latency_ms_max", "Greatest replication latency over the last 30 s, ms", |v| Number::Float(v.replication_latency_ms.max)),
    (MM2, "replication_latency_ms_avg", "Mean replication latency over the last 30 s, ms", |v| Number::Float(v.replication_latency_ms.avg)),
    ("", "kmirror_partition_lag_records", "Records on the source not yet mirrored (source end minus mirrored position)", |v| Number::Int(v.lag_records)),
    ("", "kmirror_partition_lag_seconds", "How long the partition has had records left to mirror (0 when caught up)", |v| Number::Float(v.lag_seconds)),
    ("", "kmirror_partition_state", "Partition state: 0 active, 1 waiting (leader, offset or producer id), 2 stalled (fetched data it cannot forward, retried), 3 stopped with an error", |v| Number::Int(v.state)),
];

/// `{source="A",target="B",topic="A.orders",partition="3"}`, label values
/// escaped as the text format wants them.
pub fn label_text(source: &str, target: &str, topic: &str, partition: &str) -> String {
    let mut out = String::with_capacity(64);
    out.push('{');
    for (i, (k, v)) in [
        ("source", source),
        ("target", target),
        ("topic", topic),
        ("partition", partition),
    ]
    .iter()
    .enumerate()
    {
        if i > 0 {
            out.push(',');
        }
        out.push_str(k);
        out.push_str("=\"");
        for c in v.chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '"' => out.push_str("\\\""),
                '\n' => out.push_str("\\n"),
                c => out.push(c),
            }
        }
        out.push('"');
    }
    out.push('}');
    out
}

/// Appends every family's series for `partitions` (rendered labels and
/// values) to `out`, each family's lines together.
pub fn encode<'a, I>(out: &mut String, partitions: I) -> std::fmt::Result
where
    I: Iterator<Item = (&'a str, &'a Values)> + Clone,
{
    // Numbers through itoa and ryu: formatting them is most of a scrape's
    // work, and these are several times faster than `fmt`'s.
    let (mut floats, mut ints) = (ryu::Buffer::new(), itoa::Buffer::new());
    for (prefix, name, help, value) in FAMILIES {
        writeln!(out, "# HELP {prefix}{name} {help}.")?;
        writeln!(out, "# TYPE {prefix}{name} gauge")?;
        for (labels, values) in partitions.clone() {
            out.push_str(prefix);
            out.push_str(name);
            out.push_str(labels);
            out.push(' ');
            out.push_str(match value(values) {
                // Every value is finite: counts, rates, milliseconds.
                Number::Float(f) => floats.format(f),
                Number::Int(i) => ints.format(i),
            });
            out.push('\n');
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_escaped_and_families_grouped() {
        let l = label_text("A", "B\"x", "t\\1", "0");
        assert_eq!(
            l,
            r#"{source="A",target="B\"x",topic="t\\1",partition="0"}"#
        );
        let v = Values {
            record_count: 3.0,
            lag_records: 7,
            ..Values::default()
        };
        let mut out = String::new();
        encode(&mut out, [(l.as_str(), &v), (l.as_str(), &v)].into_iter()).unwrap();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), FAMILIES.len() * 4);
        assert_eq!(lines[2], format!("{MM2}record_count{l} 3.0"));
        assert_eq!(lines[3], lines[2]);
        assert!(out.contains(&format!("kmirror_partition_lag_records{l} 7\n")));
    }
}
