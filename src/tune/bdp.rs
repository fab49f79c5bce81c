//! `kmirror tune bdp`: the socket buffers, fetch sizes, requests in flight
//! and streams that fill a path of a given round trip and bandwidth. The
//! arithmetic is pure functions of the inputs, checked in the tests
//! against hand computations; only the default for `--rmem-max` reads the
//! host.
//!
//! The model, and its assumptions:
//! - Linux doubles an SO_RCVBUF request (capped at `net.core.rmem_max`)
//!   and keeps about half of the doubled buffer for its own bookkeeping
//!   (skb overhead; `tcp_adv_win_scale` on older kernels, the measured
//!   payload ratio on newer ones, both near one half for full-sized
//!   segments). So the TCP window a connection gets is about what was
//!   asked, and at most `net.core.rmem_max`: a connection moves at most
//!   `min(asked, rmem_max)` bytes per round trip.
//! - kmirror keeps one fetch in flight per fetch connection (one per
//!   worker, source broker and stream). A fetch of F bytes takes a round
//!   trip plus F / bandwidth, so fetches of F bytes on n connections
//!   sharing the path fill a fraction nF / (nF + BDP) of it. Filling 90%
//!   takes nF = 9 x BDP.
//! - The source brokers cap every fetch answer at their `fetch.max.bytes`
//!   (57671680 unless raised); asking for more does not get more.
//! - Partitions' data is spread evenly over the workers and brokers.

use std::fmt::Write as _;
use std::time::Duration;

/// Bytes fetched per round trip, in BDPs, for the path to be 90% full:
/// nF / (nF + BDP) = 0.9 gives nF = 9 BDP (see the module comment).
pub const FETCH_BYTES_PER_BDP: u64 = 9;
/// Kafka brokers' default `fetch.max.bytes`: the largest answer they send.
pub const BROKER_FETCH_MAX_BYTES: u64 = 57_671_680;
/// Kafka's default `max.partition.fetch.bytes`; no fetch size goes below.
pub const MIN_FETCH_BYTES: u64 = 1_048_576;
/// kmirror's `max.request.size` default: the most one produce request carries.
pub const PRODUCE_REQUEST_BYTES: u64 = 8_388_608;
/// Produce requests kmirror keeps in flight per connection.
pub const PRODUCE_IN_FLIGHT_PER_CONNECTION: u64 = 16;
/// The most `--streams` takes.
pub const MAX_STREAMS: u64 = 64;

/// What `kmirror tune bdp` is asked about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Path {
    pub rtt: Duration,
    pub bits_per_second: u64,
    /// `net.core.rmem_max` of the host kmirror runs on.
    pub rmem_max: u64,
    /// Worker threads (one per CPU by default).
    pub workers: u64,
    /// Source brokers leading the mirrored partitions.
    pub brokers: u64,
    /// Busy partitions one fetch is expected to carry.
    pub partitions: u64,
}

/// The sizes that fill the path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sizes {
    /// Bandwidth-delay product: bytes in flight on a full path.
    pub bdp: u64,
    /// `receive.buffer.bytes` to ask for: the BDP, or the cap if lower.
    pub receive_buffer: u64,
    /// The window one connection gets (see the module comment).
    pub window: u64,
    /// Connections needed for their windows to hold the BDP.
    pub connections_for_window: u64,
    /// Connections needed for their fetches to fill 90% of the path at the
    /// brokers' largest answer.
    pub connections_for_fetch: u64,
    /// Fetch connections to run: the larger of the two.
    pub connections: u64,
    /// `--streams` for that many connections over the workers and brokers.
    pub streams: u64,
    /// `fetch.max.bytes` per fetch, each connection's share of 9 x BDP.
    pub fetch_max_bytes: u64,
    /// `max.partition.fetch.bytes`: a fetch filled by `partitions` partitions.
    pub partition_fetch_bytes: u64,
    /// `kmirror.memory.max.bytes`: every fetch in flight, and as much again
    /// fetched and waiting to be produced.
    pub memory: u64,
    /// `net.core.rmem_max` for one connection's window to hold the BDP.
    pub rmem_max_for_one: u64,
    /// `net.ipv4.tcp_rmem` max for autotuning to reach the BDP (the buffer
    /// is about twice the window).
    pub tcp_rmem_max: u64,
    /// Produce requests of [`PRODUCE_REQUEST_BYTES`] in flight to fill the
    /// path when kmirror produces across it (near the source).
    pub produce_requests: u64,
}

/// Bytes in flight on a full path: bandwidth x round trip, rounded up.
pub fn bdp_bytes(bits_per_second: u64, rtt: Duration) -> u64 {
    let bits = u128::from(bits_per_second) * rtt.as_nanos();
    let bytes = bits.div_ceil(8 * 1_000_000_000);
    u64::try_from(bytes).unwrap_or(u64::MAX)
}

/// The window a connection gets when it asks for `asked` bytes of receive
/// buffer on a host whose `net.core.rmem_max` is `rmem_max`.
pub fn window(asked: u64, rmem_max: u64) -> u64 {
    asked.min(rmem_max)
}

/// Everything `kmirror tune bdp` prints, from its inputs.
pub fn sizes(path: &Path) -> Sizes {
    let bdp = bdp_bytes(path.bits_per_second, path.rtt).max(1);
    let receive_buffer = bdp.min(path.rmem_max.max(1));
    let window = window(receive_buffer, path.rmem_max.max(1));
    let connections_for_window = bdp.div_ceil(window);
    let fetch_total = bdp.saturating_mul(FETCH_BYTES_PER_BDP);
    let connections_for_fetch = fetch_total.div_ceil(BROKER_FETCH_MAX_BYTES);
    let connections = connections_for_window.max(connections_for_fetch).max(1);
    let spread = path.workers.max(1) * path.brokers.max(1);
    let streams = connections.div_ceil(spread);
    let fetch_max_bytes = fetch_total
        .div_ceil(connections)
        .clamp(MIN_FETCH_BYTES, BROKER_FETCH_MAX_BYTES);
    let partition_fetch_bytes = fetch_max_bytes
        .div_ceil(path.partitions.max(1))
        .max(MIN_FETCH_BYTES)
        .min(fetch_max_bytes);
    Sizes {
        bdp,
        receive_buffer,
        window,
        connections_for_window,
        connections_for_fetch,
        connections,
        streams,
        fetch_max_bytes,
        partition_fetch_bytes,
        memory: 2 * streams * spread * fetch_max_bytes,
        rmem_max_for_one: bdp,
        tcp_rmem_max: 2 * bdp,
        produce_requests: bdp.div_ceil(PRODUCE_REQUEST_BYTES),
    }
}

/// Parses a round trip: `80ms`, `0.5ms`, `150us`, `1.2s`.
pub fn parse_rtt(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let value: f64 = number.parse().map_err(|_| {
        format!("--rtt {text}: expected a number and a unit, e.g. 80ms, 0.5ms, 150us, 1s")
    })?;
    let scale = match unit.trim() {
        "s" => 1e9,
        "ms" => 1e6,
        "us" | "µs" => 1e3,
        "ns" => 1.0,
        "" => return Err(format!("--rtt {text}: give a unit: 80ms, 150us, 1s")),
        other => {
            return Err(format!(
                "--rtt {text}: '{other}' is not a unit of time (s, ms, us, ns)"
            ))
        }
    };
    let nanos = (value * scale).round();
    if !(1.0..3.6e12).contains(&nanos) {
        return Err(format!(
            "--rtt {text}: expected a round trip from 1 ns to an hour"
        ));
    }
    Ok(Duration::from_nanos(nanos as u64))
}

/// Parses a bandwidth into bits per second: `10gbit`, `1gbps`, `500mbit`,
/// `10Gbit/s` (bits), `100MB/s`, `1.25GBps` (bytes), with decimal
/// prefixes k, M, G, T (any case) or binary ones Ki, Mi, Gi, Ti. A lower
/// case `b` or `bit` is bits, an upper case `B` bytes.
pub fn parse_bandwidth(text: &str) -> Result<u64, String> {
    let usage =
        || format!("--bandwidth {text}: expected a rate such as 10gbit, 1gbps, 500mbit or 100MB/s");
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(usage)?;
    let (number, unit) = t.split_at(split);
    let value: f64 = number.parse().map_err(|_| usage())?;
    let unit = unit.trim();
    let unit = unit
        .strip_suffix("/s")
        .or_else(|| unit.strip_suffix("ps"))
        .or_else(|| unit.strip_suffix("PS"))
        .unwrap_or(unit);
    let (rest, bits_per_unit) = if let Some(rest) = unit
        .strip_suffix("bits")
        .or_else(|| unit.strip_suffix("bit"))
        .or_else(|| unit.strip_suffix("Bit"))
        .or_else(|| unit.strip_suffix("BIT"))
        .or_else(|| unit.strip_suffix('b'))
    {
        (rest, 1.0)
    } else if let Some(rest) = unit.strip_suffix('B') {
        (rest, 8.0)
    } else {
        return Err(usage());
    };
    let prefix = match rest {
        "" => 1.0,
        "k" | "K" => 1e3,
        "m" | "M" => 1e6,
        "g" | "G" => 1e9,
        "t" | "T" => 1e12,
        "ki" | "Ki" => 1024.0,
        "mi" | "Mi" => 1024.0 * 1024.0,
        "gi" | "Gi" => 1024.0 * 1024.0 * 1024.0,
        "ti" | "Ti" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        _ => return Err(usage()),
    };
    let bits = (value * prefix * bits_per_unit).round();
    if !(1.0..1e15).contains(&bits) {
        return Err(format!(
            "--bandwidth {text}: expected a rate from 1 bit/s to 1 Pbit/s"
        ));
    }
    Ok(bits as u64)
}

/// The report `kmirror tune bdp` prints. `rmem_source` says where the
/// `net.core.rmem_max` figure came from.
pub fn render(path: &Path, rmem_source: &str) -> String {
    let s = sizes(path);
    let mut out = String::new();
    let rtt_ms = path.rtt.as_secs_f64() * 1e3;
    let _ = writeln!(
        out,
        "path: {}, {rtt_ms} ms round trip",
        rate(path.bits_per_second)
    );
    let _ = writeln!(
        out,
        "bandwidth-delay product: {} B ({}): the bytes in flight on a full path",
        thousands(s.bdp),
        mib(s.bdp)
    );
    let _ = writeln!(out);

    let _ = writeln!(out, "socket buffers (the WAN side's connections)");
    let _ = writeln!(
        out,
        "  net.core.rmem_max = {} ({rmem_source}): each connection's window is at most about {} B",
        path.rmem_max,
        thousands(s.window)
    );
    let _ = writeln!(
        out,
        "  (Linux doubles a receive buffer request, caps it at twice rmem_max, and keeps about half for its own overhead: the window is about what was asked)"
    );
    let _ = writeln!(
        out,
        "  receive.buffer.bytes = {}{}",
        s.receive_buffer,
        if s.receive_buffer < s.bdp {
            format!(
                "   (capped: the BDP is {}; one window holds the BDP only with net.core.rmem_max >= {})",
                s.bdp, s.rmem_max_for_one
            )
        } else {
            String::new()
        }
    );
    let _ = writeln!(
        out,
        "  or leave it at -1 for autotuning, with net.ipv4.tcp_rmem max >= {} (about twice the window)",
        s.tcp_rmem_max
    );
    let _ = writeln!(
        out,
        "  the source brokers send the fetch answers: their socket.send.buffer.bytes (102400 by default) needs to be {} or -1 as well",
        s.bdp
    );
    let _ = writeln!(out);

    let _ = writeln!(out, "connections (one fetch in flight each)");
    let _ = writeln!(
        out,
        "  for the windows: ceil({} / {}) = {}",
        s.bdp, s.window, s.connections_for_window
    );
    let _ = writeln!(
        out,
        "  for the fetches: 90% of the path needs {} x BDP = {} B fetched per round trip, at most {} B per answer: {}",
        FETCH_BYTES_PER_BDP,
        thousands(s.bdp.saturating_mul(FETCH_BYTES_PER_BDP)),
        thousands(BROKER_FETCH_MAX_BYTES),
        s.connections_for_fetch
    );
    let _ = writeln!(
        out,
        "  fetch requests in flight: {} (workers x brokers x streams = {} x {} x {})",
        s.streams * path.workers.max(1) * path.brokers.max(1),
        path.workers.max(1),
        path.brokers.max(1),
        s.streams
    );
    if s.connections_for_window > s.connections_for_fetch {
        let _ = writeln!(
            out,
            "  the kernel's cap on buffers decides: {} connections instead of {}",
            s.connections_for_window, s.connections_for_fetch
        );
    }
    let _ = writeln!(out);

    let _ = writeln!(
        out,
        "produce (only where kmirror produces across this path, near the source)"
    );
    let _ = writeln!(
        out,
        "  send.buffer.bytes = {} (net.core.wmem_max >= {}); {} requests of up to {} B in flight; kmirror keeps up to {} per connection and 5 per partition",
        s.bdp,
        s.bdp,
        s.produce_requests,
        thousands(PRODUCE_REQUEST_BYTES),
        PRODUCE_IN_FLIGHT_PER_CONNECTION
    );
    let _ = writeln!(out);

    let plural = |n: u64, one: &str| format!("{n} {one}{}", if n == 1 { "" } else { "s" });
    let _ = writeln!(
        out,
        "# for mm2.properties (or a profile): {}, {rtt_ms} ms round trip, {}, {}",
        rate(path.bits_per_second),
        plural(path.workers.max(1), "worker"),
        plural(path.brokers.max(1), "source broker")
    );
    let _ = writeln!(out, "socket.receive.buffer.bytes = {}", s.receive_buffer);
    let _ = writeln!(out, "consumer.fetch.max.bytes = {}", s.fetch_max_bytes);
    let _ = writeln!(
        out,
        "consumer.max.partition.fetch.bytes = {}",
        s.partition_fetch_bytes
    );
    let _ = writeln!(out, "kmirror.streams = {}", s.streams.min(MAX_STREAMS));
    let _ = writeln!(
        out,
        "kmirror.memory.max.bytes = {}",
        s.memory.max(256 << 20)
    );
    if s.streams > MAX_STREAMS {
        let _ = writeln!(
            out,
            "# {} streams are needed but kmirror opens at most {MAX_STREAMS}: raise net.core.rmem_max, or run more workers (--cpus) or instances",
            s.streams
        );
    }
    out
}

/// `10 Gbit/s`, `500 Mbit/s`, `1.5 Gbit/s`.
fn rate(bits: u64) -> String {
    let (value, unit) = match bits {
        b if b >= 1_000_000_000_000 => (b as f64 / 1e12, "Tbit/s"),
        b if b >= 1_000_000_000 => (b as f64 / 1e9, "Gbit/s"),
        b if b >= 1_000_000 => (b as f64 / 1e6, "Mbit/s"),
        b if b >= 1_000 => (b as f64 / 1e3, "kbit/s"),
        b => (b as f64, "bit/s"),
    };
    format!("{} {unit}", trim_float(value))
}

fn mib(bytes: u64) -> String {
    format!(
        "{} MiB",
        trim_float((bytes as f64 / 1048576.0 * 10.0).round() / 10.0)
    )
}

fn trim_float(v: f64) -> String {
    let s = format!("{v:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// 100000000 as 100,000,000.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    fn path(rtt_ms: u64, bits: u64, rmem_max: u64) -> Path {
        Path {
            rtt: Duration::from_millis(rtt_ms),
            bits_per_second: bits,
            rmem_max,
            workers: 1,
            brokers: 1,
            partitions: 4,
        }
    }

    #[test]
    fn bandwidth_delay_product_by_hand() {
        // 10 Gbit/s = 1,250,000,000 B/s; x 0.080 s = 100,000,000 B.
        assert_eq!(
            bdp_bytes(10_000_000_000, Duration::from_millis(80)),
            100_000_000
        );
        // 1 Gbit/s x 50 ms = 125,000,000 B/s x 0.05 s = 6,250,000 B.
        assert_eq!(
            bdp_bytes(1_000_000_000, Duration::from_millis(50)),
            6_250_000
        );
        // 100 MB/s (800 Mbit/s) x 0.5 ms = 50,000 B.
        assert_eq!(bdp_bytes(800_000_000, Duration::from_micros(500)), 50_000);
        // Rounded up: 1 bit/s x 1 s = 1/8 B -> 1 B.
        assert_eq!(bdp_bytes(1, Duration::from_secs(1)), 1);
    }

    #[test]
    fn ten_gigabit_eighty_ms_on_a_4_mib_cap() {
        let s = sizes(&path(80, 10_000_000_000, 4 * MIB));
        assert_eq!(s.bdp, 100_000_000);
        // Asking beyond rmem_max is capped there: 4,194,304 B per window.
        assert_eq!(s.receive_buffer, 4_194_304);
        assert_eq!(s.window, 4_194_304);
        // 100,000,000 / 4,194,304 = 23.84 -> 24 connections.
        assert_eq!(s.connections_for_window, 24);
        // 9 x 100,000,000 = 900,000,000 B per round trip; / 57,671,680 =
        // 15.6 -> 16 connections at the brokers' largest answer.
        assert_eq!(s.connections_for_fetch, 16);
        assert_eq!(s.connections, 24);
        assert_eq!(s.streams, 24);
        // 900,000,000 / 24 = 37,500,000 B per fetch; / 4 partitions.
        assert_eq!(s.fetch_max_bytes, 37_500_000);
        assert_eq!(s.partition_fetch_bytes, 9_375_000);
        // 2 x 24 x 37,500,000.
        assert_eq!(s.memory, 1_800_000_000);
        assert_eq!(s.rmem_max_for_one, 100_000_000);
        assert_eq!(s.tcp_rmem_max, 200_000_000);
        // 100,000,000 / 8,388,608 = 11.9 -> 12 produce requests.
        assert_eq!(s.produce_requests, 12);
    }

    #[test]
    fn a_raised_cap_leaves_the_fetch_size_to_decide() {
        let s = sizes(&path(80, 10_000_000_000, 64 * MIB));
        // 100,000,000 / 67,108,864 = 1.49 -> 2.
        assert_eq!(s.connections_for_window, 2);
        assert_eq!(s.connections, 16);
        // 900,000,000 / 16 = 56,250,000, under the 57,671,680 answer cap.
        assert_eq!(s.fetch_max_bytes, 56_250_000);
        // Spread over 2 workers and 2 brokers: 16 / 4 = 4 streams.
        let s = sizes(&Path {
            workers: 2,
            brokers: 2,
            ..path(80, 10_000_000_000, 64 * MIB)
        });
        assert_eq!(s.streams, 4);
    }

    #[test]
    fn a_lan_needs_one_connection() {
        // 10 Gbit/s x 1 ms = 1,250,000 B; 9 x that = 11,250,000 B: one fetch.
        let s = sizes(&path(1, 10_000_000_000, 4 * MIB));
        assert_eq!(s.bdp, 1_250_000);
        assert_eq!(s.receive_buffer, 1_250_000);
        assert_eq!((s.connections, s.streams), (1, 1));
        assert_eq!(s.fetch_max_bytes, 11_250_000);
        // 11,250,000 / 4 = 2,812,500 per partition.
        assert_eq!(s.partition_fetch_bytes, 2_812_500);
        // A slow path still fetches at least Kafka's 1 MiB.
        let s = sizes(&path(1, 10_000_000, 4 * MIB));
        assert_eq!(s.bdp, 1_250);
        assert_eq!(s.fetch_max_bytes, MIN_FETCH_BYTES);
    }

    #[test]
    fn rates_and_round_trips() {
        assert_eq!(parse_bandwidth("10gbit"), Ok(10_000_000_000));
        assert_eq!(parse_bandwidth("10Gbit/s"), Ok(10_000_000_000));
        assert_eq!(parse_bandwidth("1gbps"), Ok(1_000_000_000));
        assert_eq!(parse_bandwidth("500mbit"), Ok(500_000_000));
        assert_eq!(parse_bandwidth("100MB/s"), Ok(800_000_000));
        assert_eq!(parse_bandwidth("1.25GBps"), Ok(10_000_000_000));
        assert_eq!(parse_bandwidth("1MiB/s"), Ok(8 * 1_048_576));
        assert_eq!(parse_bandwidth("2.5 Gbit"), Ok(2_500_000_000));
        assert!(parse_bandwidth("10").is_err());
        assert!(parse_bandwidth("10g").is_err());
        assert!(parse_bandwidth("fast").is_err());
        assert_eq!(parse_rtt("80ms"), Ok(Duration::from_millis(80)));
        assert_eq!(parse_rtt("0.5ms"), Ok(Duration::from_micros(500)));
        assert_eq!(parse_rtt("150us"), Ok(Duration::from_micros(150)));
        assert_eq!(parse_rtt("1.2s"), Ok(Duration::from_millis(1200)));
        assert!(parse_rtt("80").is_err());
        assert!(parse_rtt("80 parsecs").is_err());
        assert!(parse_rtt("0ms").is_err());
    }

    #[test]
    fn the_report_quotes_the_figures() {
        let text = render(&path(80, 10_000_000_000, 4 * MIB), "given");
        assert!(text.contains("path: 10 Gbit/s, 80 ms round trip"), "{text}");
        assert!(
            text.contains("bandwidth-delay product: 100,000,000 B (95.4 MiB)"),
            "{text}"
        );
        assert!(
            text.contains("socket.receive.buffer.bytes = 4194304\n"),
            "{text}"
        );
        assert!(
            text.contains("consumer.fetch.max.bytes = 37500000\n"),
            "{text}"
        );
        assert!(text.contains("kmirror.streams = 24\n"), "{text}");
        assert!(
            text.contains("for the windows: ceil(100000000 / 4194304) = 24"),
            "{text}"
        );
        assert_eq!(thousands(1_234), "1,234");
        assert_eq!(thousands(999), "999");
    }
}
