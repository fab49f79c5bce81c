//! The terminal table of `kmirror status`.

use std::fmt::Write;

use crate::status::view::View;

/// `1234567` as `1,234,567`.
fn grouped(v: f64) -> String {
    let n = v.round() as i64;
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 {
        out.insert(0, '-');
    }
    out
}

fn bytes(v: f64) -> String {
    match v {
        v if v >= 1e9 => format!("{:.2} GB", v / 1e9),
        v if v >= 1e6 => format!("{:.1} MB", v / 1e6),
        v if v >= 1e3 => format!("{:.1} kB", v / 1e3),
        v => format!("{v:.0} B"),
    }
}

fn ms(v: Option<f64>) -> String {
    v.map_or("-".to_string(), |v| format!("{v:.0}"))
}

/// The table; at most `top` partition rows (all when `None`).
pub fn render(v: &View, top: Option<usize>) -> String {
    let mut o = String::new();
    let health = if v.health.0 { "healthy" } else { "UNHEALTHY" };
    let ready = if v.ready.0 { "ready" } else { "not ready" };
    let _ = writeln!(
        o,
        "kmirror {} ({}) at {}: {health}, {ready}",
        v.version, v.backend, v.address
    );
    let latency: Vec<String> = v
        .latency_ms
        .iter()
        .map(|(q, ms)| format!("p{} {ms:.1} ms", quantile_name(q)))
        .collect();
    let _ = writeln!(
        o,
        "mirrored {} records, {}; replication latency {}",
        grouped(v.records),
        bytes(v.bytes),
        if latency.is_empty() {
            "not measured yet".to_string()
        } else {
            latency.join(", ")
        }
    );
    for (ok, text) in [&v.health, &v.ready] {
        if !ok {
            for line in text.lines() {
                let _ = writeln!(o, "  ! {line}");
            }
        }
    }
    let _ = writeln!(
        o,
        "\n{:<16} {:>6} {:<8} {:>10} {:>12} {:>8} {:>11}",
        "FLOW", "PARTS", "STATE", "REC/S", "LAG REC", "LAG S", "LAT MAX MS"
    );
    for f in &v.flows {
        let _ = writeln!(
            o,
            "{:<16} {:>6} {:<8} {:>10} {:>12} {:>8.1} {:>11}",
            format!("{}->{}", f.source, f.target),
            f.partitions,
            f.state,
            grouped(f.rate),
            grouped(f.lag_records),
            f.lag_seconds,
            ms(f.latency_max_ms)
        );
    }
    let shown = top.unwrap_or(v.partitions.len()).min(v.partitions.len());
    let width = v.partitions[..shown]
        .iter()
        .map(|p| p.topic.len() + p.partition.to_string().len() + 2)
        .max()
        .unwrap_or(9)
        .max(9);
    let _ = writeln!(
        o,
        "\n{:<width$} {:<10} {:<8} {:>10} {:>12} {:>8} {:>11}",
        "PARTITION", "FLOW", "STATE", "REC/S", "LAG REC", "LAG S", "LAT MAX MS"
    );
    for p in &v.partitions[..shown] {
        let _ = writeln!(
            o,
            "{:<width$} {:<10} {:<8} {:>10} {:>12} {:>8.1} {:>11}",
            format!("{}[{}]", p.topic, p.partition),
            format!("{}->{}", p.source, p.target),
            p.state,
            grouped(p.rate),
            grouped(p.lag_records),
            p.lag_seconds,
            ms(p.latency_max_ms)
        );
    }
    if shown < v.partitions.len() {
        let _ = writeln!(
            o,
            "... {} more partitions (worst first; --top N shows more)",
            v.partitions.len() - shown
        );
    }
    o
}

/// `0.99` as `99`, `0.999` as `99.9`.
fn quantile_name(q: &str) -> String {
    match q.parse::<f64>() {
        Ok(v) => {
            let s = format!("{:.3}", v * 100.0);
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        }
        Err(_) => q.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_easily() {
        assert_eq!(grouped(1234567.0), "1,234,567");
        assert_eq!(grouped(12.0), "12");
        assert_eq!(grouped(-1000.0), "-1,000");
        assert_eq!(quantile_name("0.999"), "99.9");
        assert_eq!(quantile_name("0.5"), "50");
        assert_eq!(bytes(2_500_000.0), "2.5 MB");
    }
}
