//! Latency of a mirror under a fixed-rate stream: kcat follows the target
//! topic and every record's arrival time minus its timestamp goes into an
//! HdrHistogram (end to end); two more follow the source topic at the same
//! time, so that each record's arrival on the target minus its arrival on
//! the source is the latency the mirror adds, and the two source readers'
//! difference is the floor of that measurement.
//!
//! The producer (the harness's PacedProducer) stamps each record with the
//! time it was due on its fixed schedule, not the time it was sent, so a
//! producer that falls behind does not hide the delay (no coordinated
//! omission). Both mirrors are measured the same way in the same run.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hdrhistogram::Histogram;

/// What one consumer saw of a paced stream.
pub struct Followed {
    /// Arrival minus the record's (due) timestamp, in microseconds.
    pub latency_us: Histogram<u64>,
    pub seen: u64,
    /// Arrival time (µs since the epoch) of record `seq`, 0 when not seen.
    pub arrivals: Vec<i64>,
}

/// Follows `topic` on `bootstrap` from its end until `expected` records have
/// arrived or `timeout` passes.
pub fn follow(
    bootstrap: &str,
    topic: &str,
    expected: u64,
    timeout: Duration,
) -> Result<Followed, String> {
    let mut child = Command::new("kcat")
        .args([
            "-C", "-u", "-q", "-b", bootstrap, "-t", topic, "-o", "end", "-f", "%T %h\\n",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start kcat: {e}"))?;
    let stdout = child.stdout.take().ok_or("kcat has no stdout")?;
    let (tx, rx) = mpsc::channel::<(String, i64)>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let now_us = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_micros() as i64)
                .unwrap_or(0);
            if tx.send((line, now_us)).is_err() {
                break;
            }
        }
    });
    let mut latency_us = histogram()?;
    let mut arrivals = vec![0i64; expected as usize];
    let mut seen = 0u64;
    let deadline = std::time::Instant::now() + timeout;
    while seen < expected {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            break;
        }
        match rx.recv_timeout(left) {
            Ok((line, now_us)) => {
                // "<timestamp ms> seq=<n>"
                let mut fields = line.split_whitespace();
                let Some(Ok(ts_ms)) = fields.next().map(str::parse::<i64>) else {
                    continue;
                };
                let seq = fields
                    .next()
                    .and_then(|h| h.strip_prefix("seq="))
                    .and_then(|n| n.parse::<usize>().ok());
                let lat = (now_us - ts_ms * 1000).max(1) as u64;
                let _ = latency_us.record(lat.min(3_600_000_000));
                if let Some(slot) = seq.and_then(|n| arrivals.get_mut(n)) {
                    *slot = now_us;
                }
                seen += 1;
            }
            Err(_) => break,
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    Ok(Followed {
        latency_us,
        seen,
        arrivals,
    })
}

/// A histogram of microseconds, 1 µs to 1 hour, 3 significant digits.
pub fn histogram() -> Result<Histogram<u64>, String> {
    Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).map_err(|e| e.to_string())
}

/// Per record seen by both: `later` minus `earlier` in microseconds (at
/// least 1), or its absolute value when `absolute`.
pub fn differences(
    earlier: &[i64],
    later: &[i64],
    absolute: bool,
) -> Result<Histogram<u64>, String> {
    let mut h = histogram()?;
    for (a, b) in earlier.iter().zip(later) {
        if *a > 0 && *b > 0 {
            let d = if absolute { (b - a).abs() } else { b - a };
            let _ = h.record((d.max(1) as u64).min(3_600_000_000));
        }
    }
    Ok(h)
}

/// An SVG plot of both latency distributions: latency (ms, log) against
/// percentile on the usual 1/(1-p) axis.
pub fn svg(series: &[(&str, &Histogram<u64>)]) -> String {
    let (w, h, left, bottom) = (760.0f64, 420.0f64, 70.0f64, 50.0f64);
    let quantiles: Vec<f64> = (0..=400)
        .map(|i| 1.0 - 10f64.powf(-(i as f64) / 100.0))
        .collect();
    let x_of = |q: f64| left + ((1.0 / (1.0 - q).max(1e-4)).log10() / 4.0) * (w - left - 20.0);
    let max_ms = series
        .iter()
        .map(|(_, hst)| hst.max() as f64 / 1000.0)
        .fold(1.0f64, f64::max);
    let (lo, hi) = (0.1f64.log10(), (max_ms * 1.5).log10());
    let y_of =
        |ms: f64| (h - bottom) - ((ms.max(0.1).log10() - lo) / (hi - lo)) * (h - bottom - 20.0);
    let colours = ["#c0392b", "#2471a3", "#27ae60", "#7f8c8d"];
    let mut s = format!("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"12\">\n");
    s.push_str(&format!(
        "<rect width=\"{w}\" height=\"{h}\" fill=\"white\"/>\n"
    ));
    for (label, q) in [
        ("0%", 0.0),
        ("90%", 0.9),
        ("99%", 0.99),
        ("99.9%", 0.999),
        ("99.99%", 0.9999),
    ] {
        let x = x_of(q);
        s.push_str(&format!("<line x1=\"{x:.1}\" y1=\"20\" x2=\"{x:.1}\" y2=\"{:.1}\" stroke=\"#ddd\"/><text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{label}</text>\n", h - bottom, h - bottom + 18.0));
    }
    let mut ms = 0.1f64;
    while ms <= max_ms * 1.5 {
        let y = y_of(ms);
        s.push_str(&format!("<line x1=\"{left}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" stroke=\"#eee\"/><text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{ms} ms</text>\n", w - 20.0, left - 6.0, y + 4.0));
        ms *= 10.0;
    }
    for (i, (name, hst)) in series.iter().enumerate() {
        let pts: Vec<String> = quantiles
            .iter()
            .map(|q| {
                format!(
                    "{:.1},{:.1}",
                    x_of(*q),
                    y_of(hst.value_at_quantile(*q) as f64 / 1000.0)
                )
            })
            .collect();
        let c = colours[i % colours.len()];
        s.push_str(&format!(
            "<polyline fill=\"none\" stroke=\"{c}\" stroke-width=\"2\" points=\"{}\"/>\n",
            pts.join(" ")
        ));
        s.push_str(&format!(
            "<text x=\"{:.1}\" y=\"{:.1}\" fill=\"{c}\">{name}</text>\n",
            left + 10.0,
            35.0 + 16.0 * i as f64
        ));
    }
    s.push_str(&format!(
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">percentile</text>\n",
        (w + left) / 2.0,
        h - 8.0
    ));
    s.push_str("</svg>\n");
    s
}
