//! Shared pieces of the integration tests: the cluster pair, MirrorMaker 2
//! files, running the real `kmirror` binary, and comparing what a real Kafka
//! consumer reads on both sides.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use kmirror_harness::cluster::{shared_pair, ClusterPair, KafkaCluster};
use kmirror_harness::tools::{self, ConsumedRecord, Isolation};

#[allow(unused_imports)]
pub use kmirror_harness::dist::{KAFKA_3, KAFKA_4};

pub mod fake;
pub mod scenarios;

pub fn pair(version: &str) -> &'static ClusterPair {
    shared_pair(version)
}

/// A scratch directory that lives as long as the test process.
pub fn scratch(name: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "kmirror-test-{}-{}-{}",
        std::process::id(),
        name,
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// An mm2.properties for flow A -> B over the pair, plus `extra` lines.
pub fn mm2_file(pair: &ClusterPair, name: &str, extra: &str) -> PathBuf {
    write_mm2(
        name,
        &pair.source.bootstrap(),
        &pair.target.bootstrap(),
        &format!("offset.flush.interval.ms = 500\n{extra}"),
    )
}

/// The replication factors of the mirrored and internal topics on the
/// harness's one-broker clusters.
pub const ONE_REPLICA: &str = "replication.factor = 1\n\
     offset-syncs.topic.replication.factor = 1\n\
     checkpoints.topic.replication.factor = 1\n\
     heartbeats.topic.replication.factor = 1\n";

/// Configs of a compacted topic the harness's brokers clean within seconds
/// (segments roll every 100 ms, any dirt is worth cleaning, tombstones go
/// at once), so that tests see batches with offset holes.
pub const QUICK_COMPACTION: &[(&str, &str)] = &[
    ("cleanup.policy", "compact"),
    ("segment.ms", "100"),
    ("min.cleanable.dirty.ratio", "0.01"),
    ("delete.retention.ms", "100"),
    ("segment.bytes", "1048576"),
];

/// Tests run several kmirrors at once: each endpoint takes a free port
/// (the log says which, see [`Kmirror::metrics_address`]).
pub const METRICS_ANY_PORT: &str = "kmirror.metrics.address = 127.0.0.1:0\n";

/// An mm2.properties in a scratch directory: flow A -> B between the
/// given bootstrap servers, replication factor 1, plus `extra` lines.
pub fn write_mm2(name: &str, source: &str, target: &str, extra: &str) -> PathBuf {
    write_mm2_between(name, ("A", "B"), source, target, extra)
}

/// [`write_mm2`] with aliases of the test's own: a flow's transactional
/// ids, fleet group and target topic names come from its aliases, so a
/// test whose flow must not meet another test's on the shared clusters
/// names its own.
pub fn write_mm2_between(
    name: &str,
    (src, tgt): (&str, &str),
    source: &str,
    target: &str,
    extra: &str,
) -> PathBuf {
    let path = scratch(name).join("mm2.properties");
    std::fs::write(
        &path,
        format!(
            "clusters = {src}, {tgt}\n\
             {src}.bootstrap.servers = {source}\n\
             {tgt}.bootstrap.servers = {target}\n\
             {src}->{tgt}.enabled = true\n\
             {ONE_REPLICA}\
             {METRICS_ANY_PORT}\
             {}\
             {extra}\n",
            splice_lines()
        ),
    )
    .expect("write mm2.properties");
    path
}

/// KMIRROR_TEST_SPLICE=on runs a whole test binary on the splice path:
/// required, and taken by every batch it can take (no size floor, no
/// coalescing), so the scenarios exercise it rather than the copying path.
fn splice_lines() -> &'static str {
    match std::env::var("KMIRROR_TEST_SPLICE").as_deref() {
        Ok("on") => {
            "kmirror.splice = on\n\
             consumer.check.crcs = false\n\
             kmirror.splice.min.bytes = 1\n\
             kmirror.coalesce.enabled = false\n"
        }
        _ => "",
    }
}

/// An mm2.properties that Apache Kafka's MirrorMaker 2 runs as well as
/// kmirror: flow A -> B over the pair for `topics`, one task, Connect's
/// internal topics with one replica, no ACL sync, plus `extra` lines.
pub fn mm2_file_for_both(dir: &Path, pair: &ClusterPair, topics: &str, extra: &str) -> PathBuf {
    let path = dir.join("mm2.properties");
    std::fs::write(
        &path,
        format!(
            "clusters = A, B\n\
             A.bootstrap.servers = {}\n\
             B.bootstrap.servers = {}\n\
             A->B.enabled = true\n\
             A->B.topics = {topics}\n\
             tasks.max = 1\n\
             {ONE_REPLICA}\
             offset.storage.replication.factor = 1\n\
             status.storage.replication.factor = 1\n\
             config.storage.replication.factor = 1\n\
             sync.topic.acls.enabled = false\n\
             {extra}",
            pair.source.bootstrap(),
            pair.target.bootstrap()
        ),
    )
    .expect("write mm2.properties");
    path
}

/// The `kmirror` binary under test, running in the background.
pub struct Kmirror {
    child: Option<Child>,
    log: PathBuf,
}

impl Kmirror {
    pub fn start(config: &Path, args: &[&str]) -> Kmirror {
        Kmirror::start_with_env(config, args, &[])
    }

    /// [`Kmirror::start`] with extra environment variables.
    pub fn start_with_env(config: &Path, args: &[&str], env: &[(&str, &str)]) -> Kmirror {
        let log = config.with_extension(format!("log.{}", std::process::id()));
        let mut all: Vec<&str> = vec![config.to_str().expect("utf-8 path")];
        all.extend_from_slice(args);
        Kmirror::spawn(&unique_path(&log), &all, env)
    }

    /// `kmirror <args>` (a command other than the mirror on a file, e.g.
    /// `mirror-maker`), its output in `log`.
    pub fn start_command(log: &Path, args: &[&str]) -> Kmirror {
        Kmirror::spawn(log, args, &[])
    }

    fn spawn(log: &Path, args: &[&str], env: &[(&str, &str)]) -> Kmirror {
        let log = log.to_path_buf();
        let err = File::create(&log).expect("log file");
        // KMIRROR_TEST_IO picks the I/O backend for a whole test binary.
        let io: Vec<String> = match std::env::var("KMIRROR_TEST_IO") {
            Ok(io) if !args.contains(&"--io") => vec!["--io".into(), io],
            _ => Vec::new(),
        };
        let child = Command::new(env!("CARGO_BIN_EXE_kmirror"))
            .args(args)
            .args(&io)
            .env(
                "KMIRROR_LOG",
                std::env::var("KMIRROR_LOG").unwrap_or_else(|_| "info".into()),
            )
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(err.try_clone().expect("dup"))
            .stderr(err)
            .spawn()
            .expect("start kmirror");
        Kmirror {
            child: Some(child),
            log,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    /// Where the metrics endpoint listens, once the log says so.
    pub fn metrics_address(&self) -> Option<String> {
        let out = self.output();
        let line = out
            .lines()
            .find(|l| l.contains("metrics endpoint listening on"))?;
        let rest = line.split_once("http://")?.1;
        Some(rest.split('/').next()?.to_string())
    }

    /// `GET path` from the metrics endpoint (waiting for it to be up): the
    /// status code and the body.
    pub fn get(&self, path: &str) -> (u16, String) {
        let mut addr = None;
        wait_until(Duration::from_secs(30), "the metrics endpoint", || {
            addr = self.metrics_address();
            addr.is_some()
        });
        http_get(&addr.unwrap_or_default(), path)
    }

    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.as_mut().map(|c| c.try_wait()), Some(Ok(None)))
    }

    /// SIGTERM, then wait for a clean exit.
    pub fn stop(&mut self) -> Option<i32> {
        let mut child = self.child.take()?;
        // SAFETY: plain kill(2) on our own child's pid.
        unsafe {
            libc::kill(child.id() as i32, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(40);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return status.code();
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "kmirror did not stop within 40 s after SIGTERM; output:\n{}",
                    self.output()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Sends `signal` without waiting.
    pub fn signal(&self, signal: i32) {
        if let Some(child) = &self.child {
            // SAFETY: plain kill(2) on our own child's pid.
            unsafe {
                libc::kill(child.id() as i32, signal);
            }
        }
    }

    /// Waits up to `timeout` for the process to exit; its status, if it did.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<Option<i32>> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(|c| c.try_wait()) {
                self.child = None;
                return Some(status.code());
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGKILL: a crash.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Kmirror {
    fn drop(&mut self) {
        self.kill();
    }
}

fn unique_path(p: &Path) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    PathBuf::from(format!(
        "{}.{}",
        p.display(),
        N.fetch_add(1, Ordering::Relaxed)
    ))
}

/// Runs `kmirror` to completion with `args` (for configuration errors).
pub fn run_kmirror(args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_kmirror"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run kmirror");
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.code(), text)
}

/// Established TCP connections process `pid` holds to local port `port`:
/// its socket inodes (from /proc/PID/fd) matched against /proc/net/tcp{,6}.
pub fn connections_to(pid: u32, port: u16) -> usize {
    let inodes: std::collections::HashSet<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|dir| {
            dir.filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
                .filter_map(|l| {
                    let l = l.to_string_lossy().into_owned();
                    Some(l.strip_prefix("socket:[")?.strip_suffix(']')?.to_string())
                })
                .collect()
        })
        .unwrap_or_default();
    let mut n = 0;
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let text = std::fs::read_to_string(table).unwrap_or_default();
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 10 || f[3] != "01" || !inodes.contains(f[9]) {
                continue; // 01: ESTABLISHED
            }
            let remote_port = f[2]
                .rsplit(':')
                .next()
                .and_then(|h| u16::from_str_radix(h, 16).ok());
            if remote_port == Some(port) {
                n += 1;
            }
        }
    }
    n
}

/// Polls `cond` every 500 ms until it holds or `timeout` passes.
pub fn wait_until(timeout: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if cond() {
            return;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    panic!("timed out after {timeout:?} waiting for {what}");
}

pub fn total_end_offset(cluster: &KafkaCluster, topic: &str) -> i64 {
    tools::end_offsets(cluster, topic)
        .map(|v| v.iter().map(|(_, o)| *o).sum())
        .unwrap_or(-1)
}

/// What must match between a source record and its mirror.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Essence {
    pub timestamp: i64,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub headers: Vec<(String, Option<Vec<u8>>)>,
}

pub fn by_partition(records: &[ConsumedRecord]) -> BTreeMap<i32, Vec<Essence>> {
    let mut out: BTreeMap<i32, Vec<Essence>> = BTreeMap::new();
    for r in records {
        out.entry(r.partition).or_default().push(Essence {
            timestamp: r.timestamp,
            key: r.key.clone(),
            value: r.value.clone(),
            headers: r.headers.clone(),
        });
    }
    out
}

/// Every committed record of the source topic, and at least as many of the target's.
fn consume_both(
    source: &KafkaCluster,
    src_topic: &str,
    target: &KafkaCluster,
    tgt_topic: &str,
) -> (Vec<ConsumedRecord>, Vec<ConsumedRecord>) {
    let wait = Duration::from_secs(120);
    let src = tools::consume_all(source, src_topic, Isolation::ReadCommitted, None, wait)
        .expect("consume source");
    let dst = tools::consume_all(
        target,
        tgt_topic,
        Isolation::ReadCommitted,
        Some(src.len()),
        wait,
    )
    .unwrap_or_else(|e| {
        panic!(
            "consume target: {e}\n{}",
            why_short(&src, target, tgt_topic)
        )
    });
    (src, dst)
}

/// What a failing read_committed read of the target saw, per partition:
/// the source's records, the target's records committed or not, and the
/// producers the target's leader knows (an open transaction holds the
/// partition's last stable offset back). For the panic message only.
fn why_short(src: &[ConsumedRecord], target: &KafkaCluster, tgt_topic: &str) -> String {
    let uncommitted = tools::consume_all(
        target,
        tgt_topic,
        Isolation::ReadUncommitted,
        None,
        Duration::from_secs(30),
    );
    let u = uncommitted.as_deref().map(by_partition);
    let mut out = String::new();
    for (p, srecs) in &by_partition(src) {
        // A failed read says so rather than passing for an empty target.
        let written = match &u {
            Ok(u) => u.get(p).map_or(0, Vec::len).to_string(),
            Err(e) => format!("unknown ({e})"),
        };
        let producers = tools::describe_producers(target, tgt_topic, *p)
            .unwrap_or_else(|e| format!("(describe-producers failed: {e})"));
        out.push_str(&format!(
            "{tgt_topic}[{p}]: source {}, target read_uncommitted {written}\n{producers}\n",
            srecs.len()
        ));
    }
    out
}

/// Reads both topics with a real consumer and checks that, partition by
/// partition, the target holds exactly the source's committed records in
/// the same order, with the same keys, values, headers and timestamps.
pub fn assert_mirrored_exactly(
    source: &KafkaCluster,
    src_topic: &str,
    target: &KafkaCluster,
    tgt_topic: &str,
) {
    let (src, dst) = consume_both(source, src_topic, target, tgt_topic);
    assert!(
        !src.is_empty(),
        "source topic {src_topic} is empty: the test produced nothing"
    );
    let (s, d) = (by_partition(&src), by_partition(&dst));
    assert_eq!(
        s.keys().collect::<Vec<_>>(),
        d.keys().collect::<Vec<_>>(),
        "partitions with data differ between {src_topic} and {tgt_topic}"
    );
    for (p, srecs) in &s {
        let drecs = &d[p];
        assert_eq!(
            srecs.len(),
            drecs.len(),
            "{tgt_topic}[{p}]: {} records on the source, {} on the target",
            srecs.len(),
            drecs.len()
        );
        for (i, (a, b)) in srecs.iter().zip(drecs).enumerate() {
            assert_eq!(a, b, "{tgt_topic}[{p}] record #{i} differs");
        }
    }
}

/// Like [`assert_mirrored_exactly`] but allows duplicates after a crash:
/// the source sequence must appear in order in the target, every record.
pub fn assert_mirrored_at_least_once(
    source: &KafkaCluster,
    src_topic: &str,
    target: &KafkaCluster,
    tgt_topic: &str,
) {
    let (src, dst) = consume_both(source, src_topic, target, tgt_topic);
    let (s, d) = (by_partition(&src), by_partition(&dst));
    for (p, srecs) in &s {
        let drecs = d.get(p).cloned().unwrap_or_default();
        let mut j = 0;
        for (i, a) in srecs.iter().enumerate() {
            // Find a in the target at or after j, tolerating re-sent runs.
            match drecs[j..].iter().position(|b| b == a) {
                Some(k) => j += k + 1,
                None => panic!(
                    "{tgt_topic}[{p}]: source record #{i} of {} is missing from the target (which has {})",
                    srecs.len(),
                    drecs.len()
                ),
            }
        }
    }
}

/// A plain HTTP/1.1 GET of `path` from `addr`: the status code and body.
pub fn http_get(addr: &str, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut c = std::net::TcpStream::connect(addr).unwrap_or_else(|e| panic!("{addr}: {e}"));
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(c, "GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut raw = String::new();
    c.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let code = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status in {head:?}"));
    (code, body.to_string())
}

/// Runs `kmirror args` with a pseudo-terminal as its stdout (stderr and
/// stdin to nothing) until what it has written satisfies `done` or
/// `timeout` passes; then kills it and returns what it wrote.
pub fn run_kmirror_in_pty(
    args: &[&str],
    timeout: Duration,
    mut done: impl FnMut(&str) -> bool,
) -> String {
    use std::io::Read;
    use std::os::fd::FromRawFd;
    let (mut master, mut slave) = (0, 0);
    let size = libc::winsize {
        ws_row: 30,
        ws_col: 120,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: openpty writes the two descriptors and reads the size.
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            &size,
        )
    };
    assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: both descriptors were just opened and are owned here alone.
    let (master, slave) = unsafe { (File::from_raw_fd(master), File::from_raw_fd(slave)) };
    // Reads from the master time out instead of blocking forever.
    unsafe {
        let flags = libc::fcntl(std::os::fd::AsRawFd::as_raw_fd(&master), libc::F_GETFL);
        libc::fcntl(
            std::os::fd::AsRawFd::as_raw_fd(&master),
            libc::F_SETFL,
            flags | libc::O_NONBLOCK,
        );
    }
    let mut child = Command::new(env!("CARGO_BIN_EXE_kmirror"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::from(slave))
        .stderr(Stdio::null())
        .spawn()
        .expect("run kmirror");
    let mut seen = Vec::new();
    let deadline = Instant::now() + timeout;
    let mut master = master;
    while Instant::now() < deadline {
        let mut buf = [0u8; 8192];
        match master.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => seen.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(50))
            }
            Err(_) => break,
        }
        if done(&String::from_utf8_lossy(&seen)) {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    String::from_utf8_lossy(&seen).into_owned()
}
