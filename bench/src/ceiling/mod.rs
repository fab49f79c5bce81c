//! `cargo build --release && cargo run --release -p kmirror-bench -- ceiling`:
//! kmirror's own cost, with the brokers taken out. kmirror mirrors from a
//! fake source broker that serves Fetch responses from memory to a fake
//! target broker that acknowledges every Produce without storing it (see
//! `kmirror_harness::fake`: they isolate kmirror's cost and prove nothing about
//! mirroring). In the same run a kernel-only TCP relay ([`splice_relay`])
//! moves the same batches socket -> pipe -> socket. For 1 KiB, 64 KiB and
//! 1 MiB batches it reports GB/s and GB/s per CPU-second of kmirror (bytes
//! acknowledged by the fake target / CPU time of the kmirror process) and
//! of the relay thread, and their ratio; writes bench/results/ceiling.md and
//! ceiling.svg.
//!
//! Flags: `--seconds S` (measured window per run, default 10), `--warmup S`
//! (default 2), `--partitions N` (default 12), `--cpus LIST` (kmirror's
//! `--cpus`, default `1`: one pinned worker; the fake brokers, and the
//! relay's sender and sink, are pinned to the other CPUs), `--sizes
//! 1024,65536,1048576` (batch sizes in bytes), `--io uring,epoll,splice`
//! (kmirror's I/O paths, each measured in its own window: the two backends
//! copying, and the splice path on epoll with `check.crcs = false`; the
//! first fills the main table, and with more than one a table compares
//! them; with `--tls on` the default leaves the splice path out, which
//! does not run over TLS), `--sockets kernel|kafka` (kmirror's socket buffers: `kernel`,
//! the default, leaves them to the kernel's autotuning as the relay's and
//! the fake brokers' sockets are, so the two movers are compared on equal
//! sockets; `kafka` runs kmirror with the Kafka clients' defaults, 64 KiB
//! receive and 128 KiB send buffers, fixed, which is what kmirror uses
//! when a file sets no buffer size and no profile), `--config 'K = V;...'`
//! (more lines for kmirror's configuration, e.g. to try a setting).

mod report;
mod splice_relay;

use std::path::Path;
use std::process::Command;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kmirror_harness::certs::TestPki;
use kmirror_harness::fake::{FakeBroker, Role, Run, Template, ENDLESS};
use splice_relay::RelayOutcome;

use crate::procstat;

/// The source topic kmirror mirrors (to `src.ceiling` on the target).
const TOPIC: &str = "ceiling";

/// What the relay's sender writes per call: about one fetch partition's worth.
const RELAY_WRITE: usize = 1 << 20;

struct Args {
    seconds: u64,
    warmup: u64,
    partitions: i32,
    cpus: String,
    sizes: Vec<usize>,
    /// kmirror reaches both fake brokers over TLS.
    tls: bool,
    /// kmirror's `--io` for each measured window: the first is the main
    /// row, the others are compared with it.
    io: Vec<String>,
    /// kmirror's socket buffers are the Kafka clients' defaults rather
    /// than the kernel's autotuning.
    kafka_sockets: bool,
    /// More lines for kmirror's configuration (`;` between them).
    extra: String,
}

/// One measured window of kmirror between the fake brokers.
#[derive(Debug, Clone, Copy)]
struct MirrorOutcome {
    bytes: u64,
    batches: u64,
    requests: u64,
    wall: Duration,
    cpu: Duration,
    /// Time kmirror's threads were runnable but had no CPU.
    waited: Duration,
    source_cpu: Duration,
    target_cpu: Duration,
}

struct Row {
    batch_len: usize,
    records_per_batch: i64,
    /// The window of the first backend asked for.
    mirror: MirrorOutcome,
    /// Every backend's window, in the order asked for.
    by_backend: Vec<(String, MirrorOutcome)>,
    relay: RelayOutcome,
}

/// Runs the benchmark; `argv` are the flags after `ceiling`.
/// The flags `ceiling` takes.
pub const USAGE: &str = "usage: kmirror-bench ceiling [--seconds S] [--warmup S] [--partitions N] [--cpus LIST] [--sizes BYTES,...] [--tls on|off] [--io uring,epoll,splice] [--sockets kernel|kafka] [--config 'KEY = VALUE;...']";

pub fn run(argv: &[String]) -> Result<(), String> {
    let args = parse(argv).map_err(|e| format!("{e}\n{USAGE}"))?;
    let worker_cpus = kmirror::cli::parse_cpus(&args.cpus).map_err(|e| e.to_string())?;
    let n_cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let others: Vec<usize> = (0..n_cpus).filter(|c| !worker_cpus.contains(c)).collect();
    let dir = std::env::temp_dir().join(format!("kmirror-ceiling-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let mut rows = Vec::new();
    for &size in &args.sizes {
        let template = Template::new(size)?;
        eprintln!(
            "kmirror-bench: ceiling: {} B batches ({} records), kmirror on CPUs {}",
            template.len(),
            template.records,
            args.cpus
        );
        let mut by_backend = Vec::new();
        for io in &args.io {
            let m = mirror_window(&args, io, &template, &others, &dir)?;
            eprintln!(
                "kmirror-bench: kmirror on {io}: {:.3} GB/s, {:.2} CPU, {:.3} GB/s per core, fake brokers {:.2} CPU",
                m.bytes as f64 / m.wall.as_secs_f64() / 1e9,
                m.cpu.as_secs_f64() / m.wall.as_secs_f64(),
                m.bytes as f64 / m.cpu.as_secs_f64().max(1e-9) / 1e9,
                (m.source_cpu + m.target_cpu).as_secs_f64() / m.wall.as_secs_f64(),
            );
            by_backend.push((io.clone(), m));
        }
        let mirror = by_backend[0].1;
        let count = (RELAY_WRITE / template.len()).max(1);
        let data = Run::new(&template).batches(&template, 0, count).to_vec();
        let relay = splice_relay::measure(
            data,
            Duration::from_secs(args.warmup),
            Duration::from_secs(args.seconds),
            worker_cpus.clone(),
            others.clone(),
        )?;
        eprintln!(
            "kmirror-bench: splice relay: {:.3} GB/s, {:.2} CPU",
            relay.bytes as f64 / relay.wall.as_secs_f64() / 1e9,
            relay.relay_cpu.as_secs_f64() / relay.wall.as_secs_f64(),
        );
        rows.push(Row {
            batch_len: template.len(),
            records_per_batch: template.records,
            mirror,
            by_backend,
            relay,
        });
    }
    let stem = format!(
        "ceiling{}{}",
        if args.tls { "-tls" } else { "" },
        if args.kafka_sockets {
            "-kafka-sockets"
        } else {
            ""
        }
    );
    let svg_name = format!("{stem}.svg");
    let results = Path::new(env!("CARGO_MANIFEST_DIR")).join("results");
    let out = results.join(format!("{stem}.md"));
    let svg_out = results.join(&svg_name);
    let text = report::markdown(
        &report::Setup {
            cpus: n_cpus,
            kmirror_cpus: &args.cpus,
            partitions: args.partitions,
            seconds: args.seconds,
            warmup: args.warmup,
            tls: args.tls,
            io: &args.io,
            kafka_sockets: args.kafka_sockets,
            svg_name: &svg_name,
        },
        &rows,
    );
    println!("{text}");
    std::fs::write(&out, text).map_err(|e| e.to_string())?;
    std::fs::write(&svg_out, report::svg(&rows)).map_err(|e| e.to_string())?;
    eprintln!("kmirror-bench: wrote {}", out.display());
    Ok(())
}

fn parse(argv: &[String]) -> Result<Args, String> {
    let mut io_given = false;
    let mut a = Args {
        seconds: 10,
        warmup: 2,
        partitions: 12,
        cpus: "1".into(),
        sizes: vec![1024, 65536, 1 << 20],
        tls: false,
        io: vec!["uring".into(), "epoll".into(), "splice".into()],
        kafka_sockets: false,
        extra: String::new(),
    };
    for (flag, v) in crate::flags::pairs(argv)? {
        match flag {
            "--seconds" => a.seconds = crate::flags::number(flag, v)?,
            "--warmup" => a.warmup = crate::flags::number(flag, v)?,
            "--partitions" => a.partitions = crate::flags::number(flag, v)?,
            "--cpus" => a.cpus = v.to_string(),
            "--config" => a.extra = v.replace(';', "\n"),
            "--io" => {
                a.io = v.split(',').map(|s| s.trim().to_string()).collect();
                io_given = true;
            }
            "--sockets" => {
                a.kafka_sockets = match v {
                    "kafka" => true,
                    "kernel" => false,
                    _ => return Err(format!("{flag} {v}: expected kernel or kafka")),
                }
            }
            "--tls" => {
                a.tls = match v {
                    "on" => true,
                    "off" => false,
                    _ => return Err(format!("{flag} {v}: expected on or off")),
                }
            }
            "--sizes" => {
                a.sizes = v
                    .split(',')
                    .map(|s| crate::flags::number(flag, s.trim()))
                    .collect::<Result<_, _>>()?
            }
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    if a.tls && a.io.iter().any(|io| io == "splice") {
        if io_given {
            return Err("--io splice: the splice path does not run over TLS (kmirror refuses kmirror.splice = on there)".into());
        }
        a.io.retain(|io| io != "splice");
    }
    if a.io.is_empty()
        || a.io
            .iter()
            .any(|io| !matches!(io.as_str(), "uring" | "epoll" | "splice"))
    {
        return Err("--io takes uring, epoll, splice or several, comma-separated".into());
    }
    if a.seconds == 0 || a.partitions < 1 || a.sizes.iter().any(|&s| s < 128) {
        return Err("--seconds and --partitions must be positive, sizes at least 128 B".into());
    }
    Ok(a)
}

/// Starts both fake brokers and kmirror between them, waits for the first
/// acknowledged produce and the warm-up, then measures one window.
fn mirror_window(
    args: &Args,
    io: &str,
    template: &Template,
    broker_cpus: &[usize],
    dir: &Path,
) -> Result<MirrorOutcome, String> {
    let e = |x: std::io::Error| x.to_string();
    let tls = if args.tls {
        Some(TestPki::shared().server_config(false).map_err(e)?)
    } else {
        None
    };
    let source = PinnedBroker::start(
        "fake-source",
        Role::Source {
            topic: TOPIC.into(),
            partitions: args.partitions,
            template: template.clone(),
            log_end: ENDLESS,
        },
        broker_cpus,
        tls.clone(),
    )
    .map_err(e)?;
    let target =
        PinnedBroker::start("fake-target", Role::Target, broker_cpus, tls.clone()).map_err(e)?;
    let security = if args.tls {
        format!(
            "security.protocol = SSL\n\
             ssl.truststore.type = PEM\n\
             ssl.truststore.location = {}\n",
            TestPki::shared().path("ca.pem").display()
        )
    } else {
        String::new()
    };
    let props = dir.join("ceiling.properties");
    std::fs::write(
        &props,
        format!(
            "clusters = src, dst\n\
             src.bootstrap.servers = {}\n\
             dst.bootstrap.servers = {}\n\
             src->dst.enabled = true\n\
             src->dst.topics = {TOPIC}\n\
             replication.factor = 1\n\
             {security}\n\
             {}\n\
             {}\n\
             {}\n",
            source.broker.bootstrap(),
            target.broker.bootstrap(),
            if io == "splice" {
                "kmirror.splice = on\nsrc.consumer.check.crcs = false"
            } else {
                ""
            },
            if args.kafka_sockets {
                ""
            } else {
                // -1: the kernel's default and autotuning, as Kafka's
                // clients take it.
                "socket.receive.buffer.bytes = -1\nsocket.send.buffer.bytes = -1"
            },
            args.extra,
        ),
    )
    .map_err(e)?;
    let mut cmd = Command::new(crate::kmirror_binary()?);
    cmd.arg(&props).args(["--cpus", &args.cpus]);
    cmd.args(["--io", if io == "splice" { "epoll" } else { io }]);
    let name = format!("kmirror-{}-{io}", template.len());
    let mut child = crate::spawn_logged(&mut cmd, dir, &name)?;
    let pid = child.id();
    let log = dir.join(format!("{name}.err"));
    let alive = |child: &mut std::process::Child| -> Result<(), String> {
        match child.try_wait() {
            Ok(None) => Ok(()),
            _ => Err(format!("kmirror exited early; see {}", log.display())),
        }
    };

    let started = Instant::now();
    let acked = target.broker.acked();
    while acked.bytes.load(Ordering::Relaxed) == 0 {
        alive(&mut child)?;
        if started.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            return Err(format!(
                "kmirror produced nothing in 60 s; see {}",
                log.display()
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_secs(args.warmup));
    let snapshot = || {
        (
            Instant::now(),
            acked.bytes.load(Ordering::Relaxed),
            acked.batches.load(Ordering::Relaxed),
            acked.requests.load(Ordering::Relaxed),
            procstat::cpu_time(pid).unwrap_or_default(),
            source.cpu_time(),
            target.cpu_time(),
            procstat::run_queue_wait(pid).unwrap_or_default(),
        )
    };
    let s0 = snapshot();
    std::thread::sleep(Duration::from_secs(args.seconds));
    let s1 = snapshot();
    alive(&mut child)?;
    // SAFETY: plain kill(2) on our own child.
    unsafe {
        libc::kill(pid as i32, libc::SIGTERM);
    }
    let stopping = Instant::now();
    while matches!(child.try_wait(), Ok(None)) {
        if stopping.elapsed() > Duration::from_secs(15) {
            let _ = child.kill();
            eprintln!("kmirror-bench: kmirror did not stop on SIGTERM within 15 s; killed");
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.wait();
    Ok(MirrorOutcome {
        bytes: s1.1 - s0.1,
        batches: s1.2 - s0.2,
        requests: s1.3 - s0.3,
        wall: s1.0 - s0.0,
        cpu: s1.4.saturating_sub(s0.4),
        waited: s1.7.saturating_sub(s0.7),
        source_cpu: s1.5.saturating_sub(s0.5),
        target_cpu: s1.6.saturating_sub(s0.6),
    })
}

/// A fake broker whose connection threads run pinned to given CPUs, and
/// whose CPU time is theirs.
struct PinnedBroker {
    broker: FakeBroker,
    tids: Arc<Mutex<Vec<i32>>>,
}

impl PinnedBroker {
    fn start(
        name: &str,
        role: Role,
        cpus: &[usize],
        tls: Option<Arc<rustls::ServerConfig>>,
    ) -> std::io::Result<PinnedBroker> {
        let tids = Arc::new(Mutex::new(Vec::new()));
        let (hook_tids, cpus) = (tids.clone(), cpus.to_vec());
        let hook: kmirror_harness::fake::ThreadHook = Arc::new(move || {
            pin_current_thread(&cpus);
            hook_tids
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(procstat::current_tid());
        });
        let broker = match tls {
            None => FakeBroker::start_with(name, role, Some(hook))?,
            Some(config) => FakeBroker::start_tls(name, role, Some(hook), config)?,
        };
        Ok(PinnedBroker { broker, tids })
    }

    /// CPU time of the broker's threads that are alive now.
    fn cpu_time(&self) -> Duration {
        let tids = self.tids.lock().unwrap_or_else(|e| e.into_inner());
        tids.iter()
            .filter_map(|t| procstat::thread_cpu_time(*t))
            .sum()
    }
}

/// Pins the calling thread to `cpus` (no-op when empty).
fn pin_current_thread(cpus: &[usize]) {
    if cpus.is_empty() {
        return;
    }
    // SAFETY: cpu_set_t is plain data; CPU_SET bounds-checks against the
    // set's size; sched_setaffinity(0, ..) affects only the calling thread.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        for &c in cpus {
            libc::CPU_SET(c, &mut set);
        }
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            eprintln!(
                "kmirror-bench: cannot pin a thread to CPUs {cpus:?}: {}",
                std::io::Error::last_os_error()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse;

    fn args(flags: &[&str]) -> Result<super::Args, String> {
        parse(&flags.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn sockets_are_the_kernels_unless_kafka_is_asked_for() {
        assert!(!args(&[]).unwrap().kafka_sockets);
        assert!(!args(&["--sockets", "kernel"]).unwrap().kafka_sockets);
        assert!(args(&["--sockets", "kafka"]).unwrap().kafka_sockets);
        assert!(args(&["--sockets", "big"]).is_err());
    }

    #[test]
    fn tls_leaves_the_splice_path_out_and_refuses_it_when_asked() {
        assert_eq!(args(&[]).unwrap().io, ["uring", "epoll", "splice"]);
        assert_eq!(args(&["--tls", "on"]).unwrap().io, ["uring", "epoll"]);
        let e = args(&["--tls", "on", "--io", "epoll,splice"])
            .err()
            .unwrap();
        assert!(e.contains("does not run over TLS"), "{e}");
    }
}
