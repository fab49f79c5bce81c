//! A real single-node Apache Kafka cluster (KRaft, broker and controller in
//! one JVM) on loopback ports, started from the jars of a [`KafkaDist`].
//!
//! Each cluster lives in its own directory (configuration, data, logs) under
//! `target/kafka-clusters/` or `$KMIRROR_KAFKA_DIR`; the directory is kept
//! when a test fails so the broker's `logs/server.log` can be read, and
//! removed by the next run once its process is gone.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::fs::{self, OpenOptions};
use std::hash::{BuildHasher, RandomState};
use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use crate::harness::{process, repo_root, wire, KafkaDist};

/// How a cluster differs from the harness defaults.
#[derive(Clone, Debug, Default)]
pub struct ClusterOptions {
    /// `server.properties` entries added to, or replacing, the defaults.
    pub broker_props: Vec<(String, String)>,
    /// JVM options (heap, GC); when empty, a small heap and the serial
    /// collector, which suit tests on a 2-core machine.
    pub jvm_args: Vec<String>,
    /// Extra PLAINTEXT listeners: (name, advertised `host:port`). Each binds
    /// its own loopback port, which [`KafkaCluster::listener_port`] reports.
    pub extra_listeners: Vec<(String, String)>,
}

impl ClusterOptions {
    /// Adds or replaces one broker property.
    pub fn broker_prop(mut self, key: &str, value: &str) -> Self {
        self.broker_props.push((key.to_owned(), value.to_owned()));
        self
    }

    /// Adds a PLAINTEXT listener `name` on a port of its own that advertises
    /// `advertised` (`host:port`) instead, so clients that bootstrap through
    /// it learn that address from Metadata: e.g. a delay relay in front of
    /// the broker. The `PLAINTEXT` listener, its [`KafkaCluster::bootstrap`],
    /// and inter-broker traffic are unchanged.
    pub fn advertised_listener(mut self, name: &str, advertised: &str) -> Self {
        self.extra_listeners
            .push((name.to_ascii_uppercase(), advertised.to_owned()));
        self
    }

    /// Replaces the default JVM options.
    pub fn jvm_args<S: Into<String>>(mut self, args: impl IntoIterator<Item = S>) -> Self {
        self.jvm_args = args.into_iter().map(Into::into).collect();
        self
    }
}

/// A running (or stopped) single-node Kafka cluster. Dropping it stops it;
/// when it is never dropped (a `static`), it dies with the test process.
pub struct KafkaCluster {
    name: String,
    dist: KafkaDist,
    dir: PathBuf,
    broker_port: u16,
    controller_port: u16,
    /// Extra listeners: name, bound port, advertised `host:port`.
    extra_listeners: Vec<(String, u16, String)>,
    cluster_id: String,
    jvm_args: Vec<String>,
    process: Mutex<Option<Child>>,
    /// Cleared when a start fails, so the logs stay for a post-mortem.
    healthy: AtomicBool,
}

/// Two clusters of one version for mirroring tests.
pub struct ClusterPair {
    pub source: KafkaCluster,
    pub target: KafkaCluster,
}

/// The source/target pair of `version` shared by every test in this test
/// binary, started on first use (both clusters in parallel).
///
/// # Panics
/// When the clusters cannot be started; the message carries the broker logs.
pub fn shared_pair(version: &str) -> &'static ClusterPair {
    match try_shared_pair(version) {
        Ok(pair) => pair,
        Err(e) => panic!("cannot start the shared Kafka {version} cluster pair: {e}"),
    }
}

/// [`shared_pair`] that returns the error instead of panicking. A failed
/// start is retried by the next caller.
pub fn try_shared_pair(version: &str) -> io::Result<&'static ClusterPair> {
    type Slot = Mutex<Option<&'static ClusterPair>>;
    static PAIRS: OnceLock<Mutex<HashMap<String, &'static Slot>>> = OnceLock::new();
    let slot = *lock(PAIRS.get_or_init(Default::default))
        .entry(version.to_owned())
        .or_insert_with(|| Box::leak(Box::default()));

    let mut pair = lock(slot);
    if let Some(pair) = *pair {
        return Ok(pair);
    }
    let (source, target) = thread::scope(|s| {
        let source = s.spawn(|| KafkaCluster::start("source", version));
        let target = s.spawn(|| KafkaCluster::start("target", version));
        (join(source), join(target))
    });
    let started: &'static ClusterPair = Box::leak(Box::new(ClusterPair {
        source: source?,
        target: target?,
    }));
    *pair = Some(started);
    Ok(started)
}

impl KafkaCluster {
    /// Starts a fresh cluster of Kafka `version` (fetched if needed) with the
    /// harness defaults, and returns once its broker serves metadata.
    pub fn start(name: &str, version: &str) -> io::Result<KafkaCluster> {
        KafkaCluster::start_with(name, version, &ClusterOptions::default())
    }

    /// [`KafkaCluster::start`] with extra broker properties or JVM options.
    pub fn start_with(
        name: &str,
        version: &str,
        options: &ClusterOptions,
    ) -> io::Result<KafkaCluster> {
        let dist = KafkaDist::ensure(version)?;
        let root = clusters_root();
        remove_dead_clusters(&root);

        // The ports are free when we look, not necessarily when the broker
        // binds them; another process may take one in between. Try again
        // with new ports then.
        let mut attempt = 0;
        loop {
            attempt += 1;
            let cluster = KafkaCluster::prepare(name, &dist, &root, options)?;
            match cluster.launch() {
                Ok(()) => return Ok(cluster),
                Err(e) if attempt < 3 && cluster.lost_port_race() => {
                    tracing::warn!(cluster = name, error = %e, "port taken, retrying");
                    // Nothing to investigate: let Drop remove its directory.
                    cluster.healthy.store(true, Ordering::Relaxed);
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// `127.0.0.1:PORT` of the broker's PLAINTEXT listener.
    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.broker_port)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn version(&self) -> &str {
        &self.dist.version
    }

    pub fn dist(&self) -> &KafkaDist {
        &self.dist
    }

    /// The cluster's directory: `server.properties`, `data/`, `logs/`.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The broker's log4j log.
    pub fn log_file(&self) -> PathBuf {
        self.dir.join("logs").join("server.log")
    }

    pub fn broker_port(&self) -> u16 {
        self.broker_port
    }

    pub fn controller_port(&self) -> u16 {
        self.controller_port
    }

    /// The port the broker binds for an extra listener added with
    /// [`ClusterOptions::advertised_listener`].
    pub fn listener_port(&self, name: &str) -> Option<u16> {
        self.extra_listeners
            .iter()
            .find(|(n, _, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, port, _)| *port)
    }

    pub fn cluster_id(&self) -> &str {
        &self.cluster_id
    }

    /// The broker JVM's pid while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child().as_ref().map(Child::id)
    }

    /// Whether the broker process is alive (not whether it is healthy).
    pub fn is_running(&self) -> bool {
        let mut child = self.child();
        let Some(running) = child.as_mut() else {
            return false;
        };
        if let Ok(None) = running.try_wait() {
            return true;
        }
        // It died by itself: reap it and end its watchdog.
        if let Some(dead) = child.take() {
            process::kill_group(dead.id(), libc::SIGKILL);
        }
        false
    }

    /// Shuts the broker down cleanly (SIGTERM), killing it if it takes more
    /// than 30 s. Stopping a stopped cluster does nothing.
    pub fn stop(&self) -> io::Result<()> {
        let Some(mut child) = self.child().take() else {
            return Ok(());
        };
        process::kill_process(child.id(), libc::SIGTERM);
        if process::wait_timeout(&mut child, Duration::from_secs(30))?.is_none() {
            tracing::warn!(cluster = %self.name, "broker ignored SIGTERM for 30 s, killing it");
            process::kill_group(child.id(), libc::SIGKILL);
            child.wait()?;
        }
        // The watchdog, still in the broker's process group.
        process::kill_group(child.id(), libc::SIGKILL);
        Ok(())
    }

    /// Kills the broker without warning (SIGKILL), like a crashed host.
    pub fn kill(&self) -> io::Result<()> {
        let Some(mut child) = self.child().take() else {
            return Ok(());
        };
        process::kill_group(child.id(), libc::SIGKILL);
        child.wait()?;
        Ok(())
    }

    /// Stops the broker if it runs and starts it again on the same ports
    /// with the same data; returns once it serves metadata again.
    pub fn restart(&self) -> io::Result<()> {
        self.stop()?;
        self.launch()
    }

    fn prepare(
        name: &str,
        dist: &KafkaDist,
        root: &Path,
        options: &ClusterOptions,
    ) -> io::Result<KafkaCluster> {
        static SEQ: AtomicU64 = AtomicU64::new(0);
        let safe_name: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let dir = root.join(format!(
            "{}-{safe_name}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("logs"))?;

        let (broker_port, controller_port) = free_port_pair()?;
        // Held open together so that their ports differ from each other; a
        // clash with the two ports above is only possible, so skip it.
        let mut held = Vec::new();
        let mut extra_listeners = Vec::new();
        for (listener, advertised) in &options.extra_listeners {
            let port = loop {
                let socket = TcpListener::bind("127.0.0.1:0")?;
                let port = socket.local_addr()?.port();
                held.push(socket);
                if port != broker_port && port != controller_port {
                    break port;
                }
            };
            extra_listeners.push((listener.clone(), port, advertised.clone()));
        }
        drop(held);
        let jvm_args = if options.jvm_args.is_empty() {
            DEFAULT_JVM_ARGS.iter().map(|s| s.to_string()).collect()
        } else {
            options.jvm_args.clone()
        };
        let cluster = KafkaCluster {
            name: name.to_owned(),
            dist: dist.clone(),
            dir,
            broker_port,
            controller_port,
            extra_listeners,
            cluster_id: random_cluster_id(),
            jvm_args,
            process: Mutex::new(None),
            healthy: AtomicBool::new(true),
        };
        fs::write(
            cluster.properties_file(),
            cluster.server_properties(options),
        )?;
        fs::write(
            cluster.dir.join("log4j2.properties"),
            cluster.log4j2_config(),
        )?;
        fs::write(
            cluster.dir.join("log4j.properties"),
            cluster.log4j1_config(),
        )?;
        cluster.format_storage()?;
        Ok(cluster)
    }

    fn properties_file(&self) -> PathBuf {
        self.dir.join("server.properties")
    }

    fn server_properties(&self, options: &ClusterOptions) -> String {
        let (b, c) = (self.broker_port, self.controller_port);
        let (mut listeners, mut advertised, mut protocols) = (
            format!("PLAINTEXT://127.0.0.1:{b},CONTROLLER://127.0.0.1:{c}"),
            format!("PLAINTEXT://127.0.0.1:{b}"),
            "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT".to_owned(),
        );
        for (name, port, addr) in &self.extra_listeners {
            let _ = write!(listeners, ",{name}://127.0.0.1:{port}");
            let _ = write!(advertised, ",{name}://{addr}");
            let _ = write!(protocols, ",{name}:PLAINTEXT");
        }
        let mut props: Vec<(String, String)> = vec![
            ("process.roles".into(), "broker,controller".into()),
            ("node.id".into(), "1".into()),
            (
                "controller.quorum.voters".into(),
                format!("1@127.0.0.1:{c}"),
            ),
            ("listeners".into(), listeners),
            ("advertised.listeners".into(), advertised),
            ("controller.listener.names".into(), "CONTROLLER".into()),
            ("inter.broker.listener.name".into(), "PLAINTEXT".into()),
            ("listener.security.protocol.map".into(), protocols),
            (
                "log.dirs".into(),
                self.dir.join("data").display().to_string(),
            ),
        ];
        let fixed: &[(&str, &str)] = &[
            // One node: every internal topic has one replica, and few
            // partitions so the first group or transaction is quick.
            ("offsets.topic.replication.factor", "1"),
            ("offsets.topic.num.partitions", "4"),
            ("transaction.state.log.replication.factor", "1"),
            ("transaction.state.log.min.isr", "1"),
            ("transaction.state.log.num.partitions", "4"),
            ("default.replication.factor", "1"),
            ("min.insync.replicas", "1"),
            ("num.partitions", "1"),
            ("auto.create.topics.enable", "false"),
            ("delete.topic.enable", "true"),
            ("group.initial.rebalance.delay.ms", "0"),
            // Go easy on two cores.
            ("num.network.threads", "2"),
            ("num.io.threads", "2"),
            ("background.threads", "2"),
            ("num.recovery.threads.per.data.dir", "1"),
            ("num.replica.fetchers", "1"),
            ("log.cleaner.threads", "1"),
            ("log.cleaner.dedupe.buffer.size", "16777216"),
            // Compaction and retention act within a second or two of being
            // due; topics choose segment.bytes, min.cleanable.dirty.ratio,
            // retention.ms and the like themselves.
            ("log.cleaner.backoff.ms", "200"),
            ("log.retention.check.interval.ms", "1000"),
            ("log.segment.delete.delay.ms", "1000"),
            ("log.initial.task.delay.ms", "1000"),
        ];
        props.extend(fixed.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        if self.dist.major() >= 4 {
            props.extend(
                [
                    ("share.coordinator.state.topic.replication.factor", "1"),
                    ("share.coordinator.state.topic.min.isr", "1"),
                    ("share.coordinator.state.topic.num.partitions", "1"),
                ]
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string())),
            );
        }
        for (key, value) in &options.broker_props {
            match props.iter_mut().find(|(k, _)| k == key) {
                Some(entry) => entry.1 = value.clone(),
                None => props.push((key.clone(), value.clone())),
            }
        }

        let mut text = format!(
            "# kmirror test harness: cluster {:?}, Kafka {}\n",
            self.name, self.dist.version
        );
        for (key, value) in props {
            let _ = writeln!(text, "{key}={value}");
        }
        text
    }

    /// Kafka 4 logs through log4j2.
    fn log4j2_config(&self) -> String {
        let log = self.log_file();
        format!(
            "status = warn\n\
             appender.file.type = File\n\
             appender.file.name = FILE\n\
             appender.file.fileName = {}\n\
             appender.file.layout.type = PatternLayout\n\
             appender.file.layout.pattern = [%d] %p %m (%c)%n\n\
             rootLogger.level = INFO\n\
             rootLogger.appenderRef.file.ref = FILE\n\
             {}",
            log.display(),
            QUIET_LOGGERS
                .iter()
                .enumerate()
                .map(|(i, name)| format!("logger.q{i}.name = {name}\nlogger.q{i}.level = WARN\n"))
                .collect::<String>()
        )
    }

    /// Kafka 3 logs through reload4j (log4j 1 configuration).
    fn log4j1_config(&self) -> String {
        format!(
            "log4j.rootLogger=INFO, file\n\
             log4j.appender.file=org.apache.log4j.FileAppender\n\
             log4j.appender.file.File={}\n\
             log4j.appender.file.layout=org.apache.log4j.PatternLayout\n\
             log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n\n\
             {}",
            self.log_file().display(),
            QUIET_LOGGERS
                .iter()
                .map(|name| format!("log4j.logger.{name}=WARN\n"))
                .collect::<String>()
        )
    }

    fn java_command(&self, main: &str, jvm_args: &[String], args: &[String]) -> Command {
        let mut argv: Vec<String> = jvm_args.to_vec();
        argv.extend([
            "-XX:-UsePerfData".to_owned(),
            "-Djava.awt.headless=true".to_owned(),
            format!("-Dkafka.logs.dir={}", self.dir.join("logs").display()),
            format!(
                "-Dlog4j2.configurationFile={}",
                self.dir.join("log4j2.properties").display()
            ),
            format!(
                "-Dlog4j.configuration=file:{}",
                self.dir.join("log4j.properties").display()
            ),
            "-cp".to_owned(),
            self.dist.classpath(),
            main.to_owned(),
        ]);
        argv.extend_from_slice(args);
        process::guarded("java", &argv)
    }

    fn format_storage(&self) -> io::Result<()> {
        let cmd = self.java_command(
            "kafka.tools.StorageTool",
            &["-Xmx256m".into(), "-XX:TieredStopAtLevel=1".into()],
            &[
                "format".into(),
                "-t".into(),
                self.cluster_id.clone(),
                "-c".into(),
                self.properties_file().display().to_string(),
            ],
        );
        let what = format!(
            "formatting storage of Kafka {} cluster {:?} in {}",
            self.dist.version,
            self.name,
            self.dir.display()
        );
        process::run(cmd, None, Duration::from_secs(120), &what).map(drop)
    }

    /// Starts the broker JVM and waits until it serves metadata.
    fn launch(&self) -> io::Result<()> {
        {
            let mut child = self.child();
            if let Some(old) = child.as_mut() {
                if old.try_wait()?.is_none() {
                    return Err(io::Error::other(format!(
                        "Kafka cluster {:?} is already running",
                        self.name
                    )));
                }
                // It crashed on its own; end its watchdog too.
                process::kill_group(old.id(), libc::SIGKILL);
                *child = None;
            }
            let out = OpenOptions::new()
                .create(true)
                .append(true)
                .open(self.dir.join("logs").join("kafka.out"))?;
            let mut cmd = self.java_command(
                "kafka.Kafka",
                &self.jvm_args,
                &[self.properties_file().display().to_string()],
            );
            cmd.stdin(Stdio::null())
                .stdout(out.try_clone()?)
                .stderr(out);
            *child = Some(cmd.spawn().map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("cannot start java for {:?}: {e}", self.name),
                )
            })?);
        }
        match self.wait_ready(Duration::from_secs(60)) {
            Ok(()) => {
                tracing::info!(cluster = %self.name, version = %self.dist.version,
                    bootstrap = %self.bootstrap(), dir = %self.dir.display(), "Kafka cluster up");
                Ok(())
            }
            Err(e) => {
                self.healthy.store(false, Ordering::Relaxed);
                let _ = self.kill();
                Err(io::Error::new(
                    e.kind(),
                    format!(
                        "Kafka {} cluster {:?} ({}) did not come up: {e}\n{}",
                        self.dist.version,
                        self.name,
                        self.dir.display(),
                        self.log_tails()
                    ),
                ))
            }
        }
    }

    /// Ready means the broker lists itself in a metadata response, which a
    /// KRaft broker does only once it is registered and unfenced.
    fn wait_ready(&self, timeout: Duration) -> io::Result<()> {
        let deadline = Instant::now() + timeout;
        let addr = SocketAddr::from(([127, 0, 0, 1], self.broker_port));
        loop {
            if let Some(child) = self.child().as_mut() {
                if let Some(status) = child.try_wait()? {
                    return Err(io::Error::other(format!("the broker exited: {status}")));
                }
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_ok() {
                let mut kcat = Command::new("kcat");
                kcat.args(["-L", "-m", "3", "-b", &self.bootstrap()]);
                let probe = process::run_unchecked(kcat, None, Duration::from_secs(10), "kcat -L")
                    .map_err(|e| io::Error::new(e.kind(), format!("{e} (is kcat installed?)")))?;
                if probe.status.success() && probe.stdout_text().contains("broker 1 at ") {
                    return Ok(());
                }
            }
            if Instant::now() >= deadline {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("no metadata from {} within {timeout:?}", self.bootstrap()),
                ));
            }
            thread::sleep(Duration::from_millis(250));
        }
    }

    fn lost_port_race(&self) -> bool {
        ["server.log", "kafka.out"].iter().any(|f| {
            fs::read_to_string(self.dir.join("logs").join(f))
                .map(|t| t.contains("Address already in use"))
                .unwrap_or(false)
        })
    }

    fn log_tails(&self) -> String {
        let mut text = String::new();
        for f in ["kafka.out", "server.log"] {
            let path = self.dir.join("logs").join(f);
            let body = fs::read_to_string(&path).unwrap_or_default();
            let _ = writeln!(
                text,
                "--- {} (last lines) ---\n{}",
                path.display(),
                process::tail(&body, 40)
            );
        }
        text
    }

    fn child(&self) -> MutexGuard<'_, Option<Child>> {
        lock(&self.process)
    }
}

impl Drop for KafkaCluster {
    fn drop(&mut self) {
        let stopped = self.stop().is_ok();
        if stopped && self.healthy.load(Ordering::Relaxed) && !thread::panicking() {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

impl std::fmt::Debug for KafkaCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaCluster")
            .field("name", &self.name)
            .field("version", &self.dist.version)
            .field("bootstrap", &self.bootstrap())
            .field("dir", &self.dir)
            .finish()
    }
}

const DEFAULT_JVM_ARGS: &[&str] = &[
    "-Xmx768m",
    "-Xms256m",
    "-XX:+UseSerialGC",
    "-XX:+ExitOnOutOfMemoryError",
];

/// Loggers that say a lot at INFO and little a failing test needs.
const QUIET_LOGGERS: &[&str] = &[
    "kafka.request.logger",
    "state.change.logger",
    "org.apache.kafka.clients",
    "org.apache.kafka.common.metrics",
    "org.apache.kafka.common.utils.AppInfoParser",
    "kafka.log.LogCleaner",
];

fn clusters_root() -> PathBuf {
    match std::env::var_os("KMIRROR_KAFKA_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => repo_root().join("target").join("kafka-clusters"),
    }
}

/// Removes, once per process, the directories of clusters whose test
/// process has exited (their brokers died with it).
fn remove_dead_clusters(root: &Path) {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        let Ok(entries) = fs::read_dir(root) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(pid) = name
                .to_str()
                .and_then(|n| n.split('-').next())
                .and_then(|p| p.parse::<u32>().ok())
            else {
                continue;
            };
            if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
                let _ = fs::remove_dir_all(entry.path());
            }
        }
    });
}

fn free_port_pair() -> io::Result<(u16, u16)> {
    // Both listeners are open at once so the two ports differ.
    let a = TcpListener::bind("127.0.0.1:0")?;
    let b = TcpListener::bind("127.0.0.1:0")?;
    Ok((a.local_addr()?.port(), b.local_addr()?.port()))
}

/// 16 random bytes as 22 characters of unpadded base64url, the form
/// `kafka-storage format -t` expects.
fn random_cluster_id() -> String {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let seed = (
        std::process::id(),
        nanos,
        SEQ.fetch_add(1, Ordering::Relaxed),
    );
    let state = RandomState::new();
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&state.hash_one((seed, 1u8)).to_le_bytes());
    bytes[8..].copy_from_slice(&state.hash_one((seed, 2u8)).to_le_bytes());
    // A leading '-' reads as an option to kafka-storage: keep the first
    // character a letter, as Kafka's own ids do.
    bytes[0] &= 0x7f;
    wire::base64(&bytes, wire::URL_SAFE, false)
}

fn join(
    handle: thread::ScopedJoinHandle<'_, io::Result<KafkaCluster>>,
) -> io::Result<KafkaCluster> {
    handle
        .join()
        .unwrap_or_else(|_| Err(io::Error::other("cluster start-up thread panicked")))
}

/// A poisoned lock only means another test panicked; the data is still good.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_ids_are_22_chars_of_base64url() {
        let id = random_cluster_id();
        assert_eq!(id.len(), 22);
        assert!(id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert_ne!(id, random_cluster_id());
        for _ in 0..2000 {
            let id = random_cluster_id();
            assert!(id.as_bytes()[0].is_ascii_alphabetic(), "{id}");
        }
    }
}
