//! The ceiling report: a markdown table and a small SVG bar chart of GB/s
//! per core, kmirror beside the splice relay, per batch size.

use super::Row;

/// The run's fixed settings, for the report's preamble.
pub struct Setup<'a> {
    pub cpus: usize,
    pub kmirror_cpus: &'a str,
    pub partitions: i32,
    pub seconds: u64,
    pub warmup: u64,
    /// kmirror reaches both fake brokers over TLS (the relay stays plain).
    pub tls: bool,
    /// kmirror's I/O backends, the main table's first.
    pub io: &'a [String],
    /// kmirror ran with the Kafka clients' default socket buffers.
    pub kafka_sockets: bool,
    /// The chart's file name, beside the report.
    pub svg_name: &'a str,
}

/// The share of the relay's per-core throughput kmirror should reach at
/// 1 MiB: on the copying paths, and on the splice path.
const GOAL: f64 = 0.40;
const SPLICE_GOAL: f64 = 0.60;

struct Figures {
    km_gbps: f64,
    km_cores: f64,
    km_per_core: f64,
    relay_gbps: f64,
    relay_cores: f64,
    relay_per_core: f64,
    ratio: f64,
    brokers_cores: f64,
}

fn figures(r: &Row) -> Figures {
    let m = &r.mirror;
    let wall = m.wall.as_secs_f64().max(1e-9);
    let rwall = r.relay.wall.as_secs_f64().max(1e-9);
    let km_per_core = m.bytes as f64 / m.cpu.as_secs_f64().max(1e-9) / 1e9;
    let relay_per_core = r.relay.bytes as f64 / r.relay.relay_cpu.as_secs_f64().max(1e-9) / 1e9;
    Figures {
        km_gbps: m.bytes as f64 / wall / 1e9,
        km_cores: m.cpu.as_secs_f64() / wall,
        km_per_core,
        relay_gbps: r.relay.bytes as f64 / rwall / 1e9,
        relay_cores: r.relay.relay_cpu.as_secs_f64() / rwall,
        relay_per_core,
        ratio: km_per_core / relay_per_core.max(1e-9),
        brokers_cores: (m.source_cpu + m.target_cpu).as_secs_f64() / wall,
    }
}

fn backend_name(io: &str) -> &str {
    match io {
        "uring" => "io_uring",
        "splice" => "splice path (epoll)",
        other => other,
    }
}

/// GB/s per kmirror CPU-second on each backend, each over epoll's (the
/// yardstick), or over the last one asked for.
fn backends_table(s: &mut String, io: &[String], rows: &[Row]) {
    let base_at = io.iter().position(|b| b == "epoll").unwrap_or(io.len() - 1);
    let last = backend_name(&io[base_at]);
    s.push_str("\nThe same windows, kmirror on each I/O backend (each in its own window, one after the other):\n\n| batch |");
    for b in io {
        s.push_str(&format!(" {} GB/s per core |", backend_name(b)));
    }
    for (i, b) in io.iter().enumerate().filter(|&(i, _)| i != base_at) {
        let _ = i;
        s.push_str(&format!(" {} / {last} |", backend_name(b)));
    }
    s.push_str("\n|---|");
    s.push_str(&"---:|".repeat(2 * io.len() - 1));
    s.push('\n');
    for r in rows {
        let per_core: Vec<f64> = r
            .by_backend
            .iter()
            .map(|(_, m)| m.bytes as f64 / m.cpu.as_secs_f64().max(1e-9) / 1e9)
            .collect();
        s.push_str(&format!("| {} |", size_name(r.batch_len)));
        for v in &per_core {
            s.push_str(&format!(" {v:.3} |"));
        }
        let base = per_core.get(base_at).copied().unwrap_or(0.0).max(1e-9);
        for (_, v) in per_core.iter().enumerate().filter(|&(i, _)| i != base_at) {
            s.push_str(&format!(" **{:.2}x** |", v / base));
        }
        s.push('\n');
    }
}

fn size_name(len: usize) -> String {
    if len >= 1 << 20 && len.is_multiple_of(1 << 20) {
        format!("{} MiB", len >> 20)
    } else if len >= 1024 && len.is_multiple_of(1024) {
        format!("{} KiB", len >> 10)
    } else {
        format!("{len} B")
    }
}

pub fn markdown(setup: &Setup<'_>, rows: &[Row]) -> String {
    let mut s = String::new();
    s.push_str(if setup.tls {
        "# kmirror's ceiling over TLS: fake TLS brokers beside a splice relay\n\n"
    } else {
        "# kmirror's ceiling: fake brokers beside a splice relay\n\n"
    });
    if setup.tls {
        s.push_str(
            "Both fake brokers serve TLS 1.3 (rustls, AES-256-GCM unless negotiated otherwise) and kmirror \
             reaches them with `security.protocol = SSL`; the fake brokers' CPU includes their side of TLS. \
             The relay row is plaintext, for scale only.\n\n",
        );
    }
    s.push_str(&format!(
        "kmirror (`--cpus {}`) mirrors one {}-partition topic from a fake source broker, which serves every \
         Fetch from one pre-built uncompressed RecordBatch in memory, to a fake target broker, which acknowledges \
         every Produce without storing it. In the same run a kernel-only relay moves the same batches \
         socket → pipe → socket with `splice(2)` from a sender to a sink that discards them. \
         Each is measured alone for {} s after a {} s warm-up, on this machine's {} CPUs. \
         GB = 10⁹ bytes of record batches.\n\n",
        setup.kmirror_cpus, setup.partitions, setup.seconds, setup.warmup, setup.cpus
    ));
    s.push_str(if setup.kafka_sockets {
        "kmirror's sockets have the Kafka clients' default buffers (`--sockets kafka`): 64 KiB to receive and \
         128 KiB to send, fixed, which turns the kernel's autotuning off; kmirror runs so when a file sets no \
         buffer size and no profile. The relay's and the fake brokers' sockets are autotuned by the kernel, so \
         the ratio to the relay also counts the smaller buffers.\n\n"
    } else {
        "Every socket here, kmirror's (`socket.receive.buffer.bytes = -1`, `socket.send.buffer.bytes = -1`), \
         the relay's and the fake brokers', has the kernel's default buffers and autotuning, so the two movers \
         are compared on equal sockets. kmirror's own default when a file sets no buffer size is the Kafka \
         clients' 64 KiB receive and 128 KiB send buffers, fixed; `--sockets kafka` measures that.\n\n"
    });
    s.push_str(&format!(
        "The main table is kmirror on its {} backend.\n\n",
        backend_name(&setup.io[0])
    ));
    s.push_str(
        "| batch | kmirror GB/s | kmirror CPU (cores) | kmirror GB/s per core | relay GB/s | relay CPU (cores) | relay GB/s per core | kmirror / relay per core | fake brokers CPU (cores) |\n",
    );
    s.push_str("|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for r in rows {
        let f = figures(r);
        s.push_str(&format!(
            "| {} | {:.3} | {:.2} | {:.3} | {:.3} | {:.2} | {:.3} | **{:.0}%** | {:.2} |\n",
            size_name(r.batch_len),
            f.km_gbps,
            f.km_cores,
            f.km_per_core,
            f.relay_gbps,
            f.relay_cores,
            f.relay_per_core,
            f.ratio * 100.0,
            f.brokers_cores
        ));
    }
    if let Some(r) = rows.iter().find(|r| r.batch_len == 1 << 20) {
        let relay = figures(r).relay_per_core.max(1e-9);
        s.push('\n');
        for (io, m) in &r.by_backend {
            let ratio = m.bytes as f64 / m.cpu.as_secs_f64().max(1e-9) / 1e9 / relay;
            let goal = if io == "splice" { SPLICE_GOAL } else { GOAL };
            s.push_str(&format!(
                "At 1 MiB batches kmirror on {} moves {:.0}% of the relay's bytes per CPU-second (goal: at least {:.0}%): {}.\n",
                backend_name(io),
                ratio * 100.0,
                goal * 100.0,
                if ratio >= goal { "met" } else { "not met" }
            ));
        }
    }
    if setup.io.len() > 1 {
        backends_table(&mut s, setup.io, rows);
    }
    s.push_str(&format!("\n![GB/s per core]({})\n\n", setup.svg_name));
    s.push_str("| batch | records per batch | batches/s | produce requests/s | kmirror waiting for a CPU (cores) | relay waiting for a CPU (cores) | fake source CPU (cores) | fake target CPU (cores) | relay sender + sink CPU (cores) |\n");
    s.push_str("|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for r in rows {
        let m = &r.mirror;
        let wall = m.wall.as_secs_f64().max(1e-9);
        let rwall = r.relay.wall.as_secs_f64().max(1e-9);
        s.push_str(&format!(
            "| {} | {} | {:.0} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} |\n",
            size_name(r.batch_len),
            r.records_per_batch,
            m.batches as f64 / wall,
            m.requests as f64 / wall,
            m.waited.as_secs_f64() / wall,
            r.relay.relay_waited.as_secs_f64() / rwall,
            m.source_cpu.as_secs_f64() / wall,
            m.target_cpu.as_secs_f64() / wall,
            r.relay.ends_cpu.as_secs_f64() / rwall,
        ));
    }
    s.push_str(
        "\nHow to read it. *Per core* is bytes moved per CPU-second of the mover alone: for kmirror, bytes the \
         fake target acknowledged over the user+system time of the whole kmirror process (workers and control \
         thread, from /proc/PID/stat); for the relay, bytes spliced over the relay thread's own time \
         (/proc/self/task/TID/stat). This machine has only a few cores, shared by kmirror, the fake brokers, \
         the relay's sender and sink, and whatever else runs on it; the mover is pinned to its CPUs and the \
         others to the rest, and each setup runs alone, one after the other. Raw GB/s therefore depends on \
         how much CPU the mover and its other side (fake brokers, sender and sink) could get on a machine \
         shared with other work (the *waiting for a CPU* columns, from /proc/…/schedstat, show how long the \
         mover was runnable with no CPU free); per-core figures normalise for that. The relay never looks at the bytes, so its figures hardly depend on the batch size; \
         kmirror's per-batch work (CRC-32C check of every source batch, producer-field rewrite, one batch per \
         partition per produce request) is what the smaller batches expose; source batches of at most half \
         the producer's `batch.size` (16 KiB by default) are merged into target batches of up to that size, \
         so at 1 KiB the batches/s column counts merged target batches and kmirror's CPU includes the merging. On loopback the receiving side's \
         TCP processing runs inside the sender's system call, so kmirror's produce writes and the relay's \
         splices out both pay for their peer's receive path.\n\n\
         The fake brokers exist only for this measurement: they answer every request kmirror makes \
         (ApiVersions, Metadata, ListOffsets, FindCoordinator, OffsetFetch/OffsetCommit, InitProducerId, \
         DescribeConfigs, CreateTopics, Fetch v12, Produce) but store nothing; nothing here shows that \
         mirroring is correct, which is what the tests against real Kafka are for.\n",
    );
    s
}

pub fn svg(rows: &[Row]) -> String {
    let (w, h) = (560.0, 280.0);
    let (left, bottom, top) = (60.0, 40.0, 30.0);
    let plot_h = h - bottom - top;
    let figs: Vec<Figures> = rows.iter().map(figures).collect();
    let max = figs
        .iter()
        .flat_map(|f| [f.km_per_core, f.relay_per_core])
        .fold(0.0f64, f64::max)
        .max(1e-9)
        * 1.15;
    let group_w = (w - left - 20.0) / rows.len().max(1) as f64;
    let bar_w = group_w * 0.3;
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"{left}\" y=\"18\" font-size=\"14\">GB/s per core: kmirror (blue) vs splice relay (grey)</text>\n\
         <line x1=\"{left}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"black\"/>\n",
        h - bottom,
        w - 10.0,
        h - bottom
    );
    for i in 0..=4 {
        let v = max * i as f64 / 4.0;
        let y = h - bottom - plot_h * i as f64 / 4.0;
        s.push_str(&format!(
            "<text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{v:.1}</text>\n<line x1=\"{left}\" y1=\"{y:.1}\" x2=\"{}\" y2=\"{y:.1}\" stroke=\"#ddd\"/>\n",
            left - 6.0,
            y + 4.0,
            w - 10.0
        ));
    }
    for (i, (r, f)) in rows.iter().zip(&figs).enumerate() {
        let x0 = left + group_w * i as f64 + group_w * 0.15;
        for (j, (v, colour)) in [(f.km_per_core, "#3b6fb6"), (f.relay_per_core, "#999999")]
            .into_iter()
            .enumerate()
        {
            let bh = plot_h * v / max;
            let x = x0 + j as f64 * (bar_w + 4.0);
            let y = h - bottom - bh;
            s.push_str(&format!(
                "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{bar_w:.1}\" height=\"{bh:.1}\" fill=\"{colour}\"/>\n\
                 <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"11\">{v:.2}</text>\n",
                x + bar_w / 2.0,
                y - 4.0
            ));
        }
        s.push_str(&format!(
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{} ({:.0}%)</text>\n",
            x0 + bar_w + 2.0,
            h - bottom + 18.0,
            size_name(r.batch_len),
            f.ratio * 100.0
        ));
    }
    s.push_str("</svg>\n");
    s
}
