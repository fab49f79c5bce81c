//! A real Apache Kafka cluster (KRaft) on loopback ports, started from the
//! jars of a [`KafkaDist`]: by default one node that is broker and
//! controller in one JVM; on request up to a few more broker-only nodes,
//! each in its own JVM and rack, for tests of replication and of fetching
//! from the nearest replica (KIP-392).
//!
//! Each cluster lives in its own directory (configuration, data, logs) under
//! `target/kafka-clusters/` or `$KMIRROR_KAFKA_DIR`; the directory is kept
//! when a test fails so the brokers' `logs/server.log` can be read, and
//! removed by the next run once its processes are gone.

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

use crate::{process, repo_root, secure, wire, KafkaDist};

/// How a cluster differs from the harness defaults.
#[derive(Clone, Debug)]
pub struct ClusterOptions {
    /// `server.properties` entries added to, or replacing, the defaults, on
    /// every node.
    pub broker_props: Vec<(String, String)>,
    /// JVM options (heap, GC) of every node; when empty, a small heap and
    /// the serial collector, which suit tests on a 2-core machine.
    pub jvm_args: Vec<String>,
    /// Extra PLAINTEXT listeners: (name, advertised `host:port`). Each binds
    /// its own loopback port, which [`KafkaCluster::listener_port`] reports.
    /// Node 1 only.
    pub extra_listeners: Vec<(String, String)>,
    /// Extra PLAINTEXT listeners on every node: (name, advertised `host:port`
    /// of node 1, node 2, ...). Each node binds its own loopback port for
    /// it, which [`KafkaCluster::node_listener_port`] reports.
    pub node_listeners: Vec<(String, Vec<String>)>,
    /// How many nodes: node 1 is controller and broker, nodes 2.. are
    /// brokers only. 1 by default.
    pub brokers: usize,
    /// `broker.rack` of nodes 1, 2, ... in order, one per node; empty for
    /// no racks.
    pub racks: Vec<String>,
    /// Secured listeners on node 1, with the key material in this
    /// directory (see [`crate::secure`]).
    pub secure: Option<PathBuf>,
}

impl Default for ClusterOptions {
    fn default() -> Self {
        ClusterOptions {
            broker_props: Vec::new(),
            jvm_args: Vec::new(),
            extra_listeners: Vec::new(),
            node_listeners: Vec::new(),
            brokers: 1,
            racks: Vec::new(),
            secure: None,
        }
    }
}

impl ClusterOptions {
    /// Adds or replaces one broker property (on every node).
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

    /// Like [`ClusterOptions::advertised_listener`], on every node: node
    /// `i + 1` advertises `advertised[i]`, so that clients bootstrapping
    /// through this listener reach every broker at its advertised address
    /// (e.g. one relay per broker). Needs one address per node.
    pub fn advertised_listener_per_node<S: AsRef<str>>(
        mut self,
        name: &str,
        advertised: &[S],
    ) -> Self {
        self.node_listeners.push((
            name.to_ascii_uppercase(),
            advertised.iter().map(|a| a.as_ref().to_owned()).collect(),
        ));
        self
    }

    /// Replaces the default JVM options.
    pub fn jvm_args<S: Into<String>>(mut self, args: impl IntoIterator<Item = S>) -> Self {
        self.jvm_args = args.into_iter().map(Into::into).collect();
        self
    }

    /// Runs `count` broker nodes (ids 1..=count) instead of one.
    pub fn brokers(mut self, count: usize) -> Self {
        self.brokers = count;
        self
    }

    /// Puts node `i + 1` in rack `racks[i]`; needs one rack per node.
    pub fn racks(mut self, racks: &[&str]) -> Self {
        self.racks = racks.iter().map(|r| r.to_string()).collect();
        self
    }

    /// One broker per rack in `racks` (node `i + 1` in `racks[i]`), with
    /// Kafka's rack-aware replica selector, so a consumer that names its
    /// rack is pointed at the replica there (KIP-392).
    pub fn one_broker_per_rack(self, racks: &[&str]) -> Self {
        self.brokers(racks.len()).racks(racks).broker_prop(
            "replica.selector.class",
            "org.apache.kafka.common.replica.RackAwareReplicaSelector",
        )
    }
}

/// A running (or stopped) Kafka cluster: one node that is both controller
/// and broker, plus any broker-only nodes asked for. Dropping it stops it;
/// when it is never dropped (a `static`), it dies with the test process.
pub struct KafkaCluster {
    name: String,
    dist: KafkaDist,
    dir: PathBuf,
    /// Node 1 (controller and broker) first, then the broker-only nodes.
    nodes: Vec<Node>,
    controller_port: u16,
    cluster_id: String,
    jvm_args: Vec<String>,
    /// Cleared when a start fails, so the logs stay for a post-mortem.
    healthy: AtomicBool,
    /// Whether node 1 has the secured listeners (and SCRAM users).
    secure: bool,
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
    try_shared_pair_with(version, &ClusterOptions::default())
}

/// [`shared_pair`] of clusters started with `options` (both alike), shared
/// by every caller in this test binary that asks for the same version and
/// options.
///
/// # Panics
/// When the clusters cannot be started; the message carries the broker logs.
pub fn shared_pair_with(version: &str, options: &ClusterOptions) -> &'static ClusterPair {
    match try_shared_pair_with(version, options) {
        Ok(pair) => pair,
        Err(e) => panic!("cannot start the shared Kafka {version} cluster pair: {e}"),
    }
}

/// [`shared_pair_with`] that returns the error instead of panicking. A
/// failed start is retried by the next caller.
pub fn try_shared_pair_with(
    version: &str,
    options: &ClusterOptions,
) -> io::Result<&'static ClusterPair> {
    type Slot = Mutex<Option<&'static ClusterPair>>;
    static PAIRS: OnceLock<Mutex<HashMap<String, &'static Slot>>> = OnceLock::new();
    let slot = *lock(PAIRS.get_or_init(Default::default))
        .entry(format!("{version} {options:?}"))
        .or_insert_with(|| Box::leak(Box::default()));

    let mut pair = lock(slot);
    if let Some(pair) = *pair {
        return Ok(pair);
    }
    let (source, target) = thread::scope(|s| {
        let source = s.spawn(|| KafkaCluster::start_with("source", version, options));
        let target = s.spawn(|| KafkaCluster::start_with("target", version, options));
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

    /// [`KafkaCluster::start`] with extra broker properties, JVM options,
    /// more brokers or racks. Returns once every broker serves metadata
    /// that lists every broker.
    pub fn start_with(
        name: &str,
        version: &str,
        options: &ClusterOptions,
    ) -> io::Result<KafkaCluster> {
        if options.brokers == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("Kafka cluster {name:?}: a cluster needs at least one broker"),
            ));
        }
        if !options.racks.is_empty() && options.racks.len() != options.brokers {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "Kafka cluster {name:?}: {} racks for {} brokers, want one per broker",
                    options.racks.len(),
                    options.brokers
                ),
            ));
        }
        if let Some((listener, advertised)) = options
            .node_listeners
            .iter()
            .find(|(_, advertised)| advertised.len() != options.brokers)
        {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "Kafka cluster {name:?}: listener {listener} advertises {} addresses for {} brokers, want one per broker",
                    advertised.len(),
                    options.brokers
                ),
            ));
        }
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

    /// `127.0.0.1:PORT` of every broker's PLAINTEXT listener, comma-separated
    /// in node id order; a single-node cluster has just one.
    pub fn bootstrap(&self) -> String {
        self.nodes
            .iter()
            .map(Node::address)
            .collect::<Vec<_>>()
            .join(",")
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

    /// The cluster's directory: node 1's `server.properties`, `data/` and
    /// `logs/`, and a `broker-ID/` directory like it for every other node.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Node 1's log4j log.
    pub fn log_file(&self) -> PathBuf {
        self.nodes[0].log_file()
    }

    /// The PLAINTEXT port of node 1.
    pub fn broker_port(&self) -> u16 {
        self.nodes[0].broker_port
    }

    pub fn controller_port(&self) -> u16 {
        self.controller_port
    }

    /// The port the broker binds for an extra listener added with
    /// [`ClusterOptions::advertised_listener`].
    pub fn listener_port(&self, name: &str) -> Option<u16> {
        self.nodes[0].listener_port(name)
    }

    /// The port node `node_id` binds for an extra listener added with
    /// [`ClusterOptions::advertised_listener_per_node`] (or, on node 1,
    /// [`ClusterOptions::advertised_listener`]).
    pub fn node_listener_port(&self, node_id: i32, name: &str) -> Option<u16> {
        self.node(node_id).ok()?.listener_port(name)
    }

    pub fn cluster_id(&self) -> &str {
        &self.cluster_id
    }

    /// The node that is also the cluster's only KRaft controller (node 1):
    /// while it is down no leader can be elected.
    pub fn controller_node(&self) -> i32 {
        self.nodes[0].id
    }

    /// The node ids of the brokers, 1..=N.
    pub fn broker_ids(&self) -> Vec<i32> {
        self.nodes.iter().map(|n| n.id).collect()
    }

    /// Node 1's JVM pid while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.nodes[0].pid()
    }

    /// Whether every node's process is alive (not whether it is healthy).
    pub fn is_running(&self) -> bool {
        // Every node is looked at, not just up to the first dead one, so
        // that all the dead ones are reaped.
        let alive: Vec<bool> = self.nodes.iter().map(Node::is_alive).collect();
        alive.iter().all(|&a| a)
    }

    /// Shuts the cluster down cleanly (SIGTERM), broker-only nodes first
    /// so their controlled shutdown still finds the controller; a node that
    /// takes more than 30 s is killed. Stopping a stopped cluster does
    /// nothing.
    pub fn stop(&self) -> io::Result<()> {
        let (controller, brokers) = self.nodes.split_first().expect("a cluster has a node");
        let brokers: Vec<&Node> = brokers.iter().collect();
        self.stop_nodes(&brokers)?;
        self.stop_nodes(&[controller])
    }

    /// Kills every node without warning (SIGKILL), like a crashed host.
    pub fn kill(&self) -> io::Result<()> {
        for node in &self.nodes {
            node.kill()?;
        }
        Ok(())
    }

    /// Stops the cluster if it runs and starts it again on the same ports
    /// with the same data; returns once it serves metadata again.
    pub fn restart(&self) -> io::Result<()> {
        self.stop()?;
        self.launch()
    }

    /// Kills one node (SIGKILL). The others notice once its broker session
    /// times out (9 s by default).
    pub fn kill_broker(&self, node_id: i32) -> io::Result<()> {
        self.node(node_id)?.kill()
    }

    /// Stops one node cleanly if it runs and starts it again on the same
    /// port with the same data; returns once every node's metadata lists
    /// every node. Its replicas may still be catching up then.
    pub fn restart_broker(&self, node_id: i32) -> io::Result<()> {
        let node = self.node(node_id)?;
        self.stop_nodes(&[node])?;
        self.launch()
    }

    fn node(&self, node_id: i32) -> io::Result<&Node> {
        self.nodes.iter().find(|n| n.id == node_id).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "Kafka cluster {:?} has no broker {node_id} (brokers {:?})",
                    self.name,
                    self.broker_ids()
                ),
            )
        })
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

        let secure = secure::listeners(options);
        let extra_ports = options.extra_listeners.len()
            + options.node_listeners.len() * options.brokers
            + secure.len();
        let mut ports = free_ports(options.brokers + 1 + extra_ports)?.into_iter();
        let controller_port = ports.next().expect("free_ports returns as many as asked");
        let mut nodes: Vec<Node> = (1..=options.brokers)
            .map(|n| Node {
                id: n as i32,
                dir: if n == 1 {
                    dir.clone()
                } else {
                    dir.join(format!("broker-{n}"))
                },
                broker_port: ports.next().expect("free_ports returns as many as asked"),
                listeners: Vec::new(),
                rack: options.racks.get(n - 1).cloned(),
                process: Mutex::new(None),
            })
            .collect();
        for (name, advertised) in &options.extra_listeners {
            let port = ports.next().expect("free_ports returns as many as asked");
            nodes[0].listeners.push(Listener {
                name: name.clone(),
                port,
                advertised: advertised.clone(),
                protocol: "PLAINTEXT",
            });
        }
        for (name, advertised) in &options.node_listeners {
            for (node, advertised) in nodes.iter_mut().zip(advertised) {
                let port = ports.next().expect("free_ports returns as many as asked");
                node.listeners.push(Listener {
                    name: name.clone(),
                    port,
                    advertised: advertised.clone(),
                    protocol: "PLAINTEXT",
                });
            }
        }
        for (name, protocol) in secure {
            let port = ports.next().expect("free_ports returns as many as asked");
            nodes[0].listeners.push(Listener {
                name: name.to_string(),
                port,
                advertised: format!("localhost:{port}"),
                protocol,
            });
        }
        let jvm_args = if options.jvm_args.is_empty() {
            DEFAULT_JVM_ARGS.iter().map(|s| s.to_string()).collect()
        } else {
            options.jvm_args.clone()
        };
        let cluster = KafkaCluster {
            name: name.to_owned(),
            dist: dist.clone(),
            dir,
            nodes,
            controller_port,
            cluster_id: random_cluster_id(),
            jvm_args,
            healthy: AtomicBool::new(true),
            secure: options.secure.is_some(),
        };
        for node in &cluster.nodes {
            fs::create_dir_all(node.dir.join("logs"))?;
            fs::write(
                node.properties_file(),
                cluster.server_properties(node, options),
            )?;
            fs::write(node.dir.join("log4j2.properties"), node.log4j2_config())?;
            fs::write(node.dir.join("log4j.properties"), node.log4j1_config())?;
        }
        // One JVM per node: format them side by side.
        thread::scope(|s| {
            let formats: Vec<_> = cluster
                .nodes
                .iter()
                .map(|node| s.spawn(|| cluster.format_storage(node)))
                .collect();
            formats.into_iter().try_for_each(|f| {
                f.join()
                    .unwrap_or_else(|_| Err(io::Error::other("storage format thread panicked")))
            })
        })?;
        Ok(cluster)
    }

    fn server_properties(&self, node: &Node, options: &ClusterOptions) -> String {
        let (b, c) = (node.broker_port, self.controller_port);
        let controller = node.id == 1;
        let (mut listeners, mut advertised, mut protocols) = (
            format!("PLAINTEXT://127.0.0.1:{b}"),
            format!("PLAINTEXT://127.0.0.1:{b}"),
            "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT".to_owned(),
        );
        if controller {
            let _ = write!(listeners, ",CONTROLLER://127.0.0.1:{c}");
        }
        for l in &node.listeners {
            let _ = write!(listeners, ",{}://127.0.0.1:{}", l.name, l.port);
            let _ = write!(advertised, ",{}://{}", l.name, l.advertised);
            let _ = write!(protocols, ",{}:{}", l.name, l.protocol);
        }
        let mut props: Vec<(String, String)> = vec![
            (
                "process.roles".into(),
                if controller {
                    "broker,controller"
                } else {
                    "broker"
                }
                .into(),
            ),
            ("node.id".into(), node.id.to_string()),
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
                node.dir.join("data").display().to_string(),
            ),
        ];
        if let Some(rack) = &node.rack {
            props.push(("broker.rack".into(), rack.clone()));
        }
        // Internal topics get a replica on every broker, up to three, but
        // need only one in sync: a test may stop brokers.
        let replicas = self.nodes.len().min(3).to_string();
        for key in [
            "offsets.topic.replication.factor",
            "transaction.state.log.replication.factor",
            "default.replication.factor",
        ] {
            props.push((key.into(), replicas.clone()));
        }
        let fixed: &[(&str, &str)] = &[
            // Few partitions, so the first group or transaction is quick.
            ("offsets.topic.num.partitions", "4"),
            ("transaction.state.log.min.isr", "1"),
            ("transaction.state.log.num.partitions", "4"),
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
        if let Some(dir) = options.secure.as_ref().filter(|_| controller) {
            props.extend(secure::broker_props(dir));
        }
        if self.dist.major() >= 4 {
            props.extend([
                (
                    "share.coordinator.state.topic.replication.factor".to_owned(),
                    replicas,
                ),
                (
                    "share.coordinator.state.topic.min.isr".to_owned(),
                    "1".to_owned(),
                ),
                (
                    "share.coordinator.state.topic.num.partitions".to_owned(),
                    "1".to_owned(),
                ),
            ]);
        }
        for (key, value) in &options.broker_props {
            match props.iter_mut().find(|(k, _)| k == key) {
                Some(entry) => entry.1 = value.clone(),
                None => props.push((key.clone(), value.clone())),
            }
        }

        let mut text = format!(
            "# kmirror test harness: cluster {:?} node {}, Kafka {}\n",
            self.name, node.id, self.dist.version
        );
        for (key, value) in props {
            let _ = writeln!(text, "{key}={value}");
        }
        text
    }

    fn java_command(
        &self,
        node: &Node,
        main: &str,
        jvm_args: &[String],
        args: &[String],
    ) -> Command {
        let mut argv: Vec<String> = jvm_args.to_vec();
        argv.extend([
            "-XX:-UsePerfData".to_owned(),
            "-Djava.awt.headless=true".to_owned(),
            format!("-Dkafka.logs.dir={}", node.dir.join("logs").display()),
            format!(
                "-Dlog4j2.configurationFile={}",
                node.dir.join("log4j2.properties").display()
            ),
            format!(
                "-Dlog4j.configuration=file:{}",
                node.dir.join("log4j.properties").display()
            ),
            "-cp".to_owned(),
            self.dist.classpath(),
            main.to_owned(),
        ]);
        argv.extend_from_slice(args);
        process::guarded("java", &argv)
    }

    fn format_storage(&self, node: &Node) -> io::Result<()> {
        let mut args = vec![
            "format".into(),
            "-t".into(),
            self.cluster_id.clone(),
            "-c".into(),
            node.properties_file().display().to_string(),
        ];
        if self.secure {
            args.extend(secure::format_args());
        }
        let cmd = self.java_command(
            node,
            "kafka.tools.StorageTool",
            &["-Xmx256m".into(), "-XX:TieredStopAtLevel=1".into()],
            &args,
        );
        let what = format!(
            "formatting storage of node {} of Kafka {} cluster {:?} in {}",
            node.id,
            self.dist.version,
            self.name,
            node.dir.display()
        );
        process::run(cmd, None, Duration::from_secs(120), &what).map(drop)
    }

    /// Starts the JVM of every node that is not running and waits until
    /// they all serve metadata.
    fn launch(&self) -> io::Result<()> {
        for node in &self.nodes {
            self.spawn_node(node)?;
        }
        // Several JVMs share two cores: give each extra node more time.
        let timeout = Duration::from_secs(60 + 30 * (self.nodes.len() as u64 - 1));
        match self.wait_ready(timeout) {
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

    fn spawn_node(&self, node: &Node) -> io::Result<()> {
        let mut child = node.child();
        if let Some(old) = child.as_mut() {
            if old.try_wait()?.is_none() {
                return Ok(());
            }
            // It crashed on its own; end its watchdog too.
            process::kill_group(old.id(), libc::SIGKILL);
            *child = None;
        }
        let out = OpenOptions::new()
            .create(true)
            .append(true)
            .open(node.dir.join("logs").join("kafka.out"))?;
        let mut cmd = self.java_command(
            node,
            "kafka.Kafka",
            &self.jvm_args,
            &[node.properties_file().display().to_string()],
        );
        cmd.stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out);
        *child = Some(cmd.spawn().map_err(|e| {
            io::Error::new(
                e.kind(),
                format!(
                    "cannot start java for node {} of {:?}: {e}",
                    node.id, self.name
                ),
            )
        })?);
        Ok(())
    }

    /// Ready means every broker lists every broker in a metadata response
    /// from its own listener: a KRaft broker lists only registered, unfenced
    /// brokers, and asking each one directly rules out a stale registration
    /// of a node that was just restarted.
    fn wait_ready(&self, timeout: Duration) -> io::Result<()> {
        let deadline = Instant::now() + timeout;
        let listed: Vec<String> = self
            .nodes
            .iter()
            .map(|n| format!("broker {} at ", n.id))
            .collect();
        loop {
            for node in &self.nodes {
                if let Some(child) = node.child().as_mut() {
                    if let Some(status) = child.try_wait()? {
                        return Err(io::Error::other(format!(
                            "node {} exited: {status}",
                            node.id
                        )));
                    }
                }
            }
            let mut ready = true;
            for node in &self.nodes {
                if !node.lists(&listed)? {
                    ready = false;
                    break;
                }
            }
            if ready {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "no metadata listing brokers {:?} from each of {} within {timeout:?}",
                        self.broker_ids(),
                        self.bootstrap()
                    ),
                ));
            }
            thread::sleep(Duration::from_millis(250));
        }
    }

    /// Sends SIGTERM to every node given, then waits for each, killing any
    /// still there after 30 s.
    fn stop_nodes(&self, nodes: &[&Node]) -> io::Result<()> {
        let children: Vec<(i32, Child)> = nodes
            .iter()
            .filter_map(|n| n.child().take().map(|c| (n.id, c)))
            .collect();
        for (_, child) in &children {
            process::kill_process(child.id(), libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        for (id, mut child) in children {
            let left = deadline.saturating_duration_since(Instant::now());
            if process::wait_timeout(&mut child, left)?.is_none() {
                tracing::warn!(cluster = %self.name, node = id,
                    "broker ignored SIGTERM for 30 s, killing it");
                process::kill_group(child.id(), libc::SIGKILL);
                child.wait()?;
            }
            // The watchdog, still in the broker's process group.
            process::kill_group(child.id(), libc::SIGKILL);
        }
        Ok(())
    }

    fn lost_port_race(&self) -> bool {
        self.nodes.iter().any(|node| {
            ["server.log", "kafka.out"].iter().any(|f| {
                fs::read_to_string(node.dir.join("logs").join(f))
                    .map(|t| t.contains("Address already in use"))
                    .unwrap_or(false)
            })
        })
    }

    fn log_tails(&self) -> String {
        let mut text = String::new();
        for node in &self.nodes {
            for f in ["kafka.out", "server.log"] {
                let path = node.dir.join("logs").join(f);
                let body = fs::read_to_string(&path).unwrap_or_default();
                let _ = writeln!(
                    text,
                    "--- {} (last lines) ---\n{}",
                    path.display(),
                    process::tail(&body, 40)
                );
            }
        }
        text
    }
}

/// One broker JVM of a cluster, in its own directory.
struct Node {
    id: i32,
    /// `server.properties`, `data/`, `logs/`: the cluster's directory for
    /// node 1, `broker-ID/` in it for the others.
    dir: PathBuf,
    broker_port: u16,
    /// Extra listeners.
    listeners: Vec<Listener>,
    rack: Option<String>,
    process: Mutex<Option<Child>>,
}

/// A listener besides PLAINTEXT and CONTROLLER.
struct Listener {
    name: String,
    port: u16,
    /// `host:port` in Metadata.
    advertised: String,
    /// Its `listener.security.protocol.map` entry.
    protocol: &'static str,
}

impl Node {
    fn address(&self) -> String {
        format!("127.0.0.1:{}", self.broker_port)
    }

    fn listener_port(&self, name: &str) -> Option<u16> {
        self.listeners
            .iter()
            .find(|l| l.name.eq_ignore_ascii_case(name))
            .map(|l| l.port)
    }

    fn properties_file(&self) -> PathBuf {
        self.dir.join("server.properties")
    }

    fn log_file(&self) -> PathBuf {
        self.dir.join("logs").join("server.log")
    }

    fn pid(&self) -> Option<u32> {
        self.child().as_ref().map(Child::id)
    }

    fn is_alive(&self) -> bool {
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

    fn kill(&self) -> io::Result<()> {
        let Some(mut child) = self.child().take() else {
            return Ok(());
        };
        process::kill_group(child.id(), libc::SIGKILL);
        child.wait()?;
        Ok(())
    }

    /// Whether this node's own listener answers metadata naming every
    /// `broker N at ` in `listed`.
    fn lists(&self, listed: &[String]) -> io::Result<bool> {
        let addr = SocketAddr::from(([127, 0, 0, 1], self.broker_port));
        if TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_err() {
            return Ok(false);
        }
        let mut kcat = Command::new("kcat");
        kcat.args(["-L", "-m", "3", "-b", &self.address()]);
        let probe = process::run_unchecked(kcat, None, Duration::from_secs(10), "kcat -L")
            .map_err(|e| io::Error::new(e.kind(), format!("{e} (is kcat installed?)")))?;
        let text = probe.stdout_text();
        Ok(probe.status.success() && listed.iter().all(|b| text.contains(b.as_str())))
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

/// `count` distinct free loopback ports.
fn free_ports(count: usize) -> io::Result<Vec<u16>> {
    // Every listener is open at once so the ports differ.
    let listeners = (0..count)
        .map(|_| TcpListener::bind("127.0.0.1:0"))
        .collect::<io::Result<Vec<_>>>()?;
    listeners
        .iter()
        .map(|l| l.local_addr().map(|a| a.port()))
        .collect()
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
