//! Starting the two mirrors the benchmarks compare, MirrorMaker 2 and
//! kmirror, from one mm2.properties, and reading their progress on the
//! target.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use kmirror_harness::cluster::KafkaCluster;
use kmirror_harness::tools;

/// The release kmirror built beside this benchmark binary (which honours
/// `CARGO_TARGET_DIR`), else target/release/kmirror of this workspace; it
/// must have been built.
pub fn kmirror_binary() -> Result<PathBuf, String> {
    let beside = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.join("kmirror")))
        .filter(|p| p.exists());
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let path = beside.unwrap_or_else(|| root.join("target/release/kmirror"));
    if !path.exists() {
        return Err(format!(
            "{} is missing: run `cargo build --release` first",
            path.display()
        ));
    }
    Ok(path)
}

/// Kafka's own MirrorMaker 2 (dedicated mode) on `props`: the harness's.
pub use kmirror_harness::mm2::mm2_command;

/// Starts a mirror with its stdout and stderr in `<dir>/<name>.out|.err`.
pub fn spawn_logged(cmd: &mut Command, dir: &Path, name: &str) -> Result<Child, String> {
    let log = |ext: &str| {
        std::fs::File::create(dir.join(format!("{name}.{ext}"))).map_err(|e| e.to_string())
    };
    cmd.stdout(log("out")?)
        .stderr(log("err")?)
        .spawn()
        .map_err(|e| format!("cannot start {name}: {e}"))
}

/// Writes `<dir>/<alias>.properties`: one flow `alias -> dst` of the topics
/// matching `topics`, replication factor 1 everywhere, plus `extra` lines.
pub fn write_props(
    dir: &Path,
    alias: &str,
    source_bootstrap: &str,
    target_bootstrap: &str,
    topics: &str,
    extra: &[(String, String)],
) -> Result<PathBuf, String> {
    let path = dir.join(format!("{alias}.properties"));
    let mut text = format!(
        "clusters = {alias}, dst\n\
         {alias}.bootstrap.servers = {source_bootstrap}\n\
         dst.bootstrap.servers = {target_bootstrap}\n\
         {alias}->dst.enabled = true\n\
         {alias}->dst.topics = {topics}\n\
         tasks.max = 2\n\
         replication.factor = 1\n\
         checkpoints.topic.replication.factor = 1\n\
         heartbeats.topic.replication.factor = 1\n\
         offset-syncs.topic.replication.factor = 1\n\
         offset.storage.replication.factor = 1\n\
         status.storage.replication.factor = 1\n\
         config.storage.replication.factor = 1\n\
         refresh.topics.interval.seconds = 5\n"
    );
    for (key, value) in extra {
        text.push_str(&format!("{key} = {value}\n"));
    }
    std::fs::write(&path, text).map_err(|e| e.to_string())?;
    Ok(path)
}

/// The sum of a topic's end offsets (0 when it does not exist yet).
pub fn sum_offsets(cluster: &KafkaCluster, topic: &str) -> i64 {
    tools::end_offsets(cluster, topic)
        .map(|v| v.iter().map(|(_, o)| *o).sum())
        .unwrap_or(0)
}

/// SIGTERM, then SIGKILL if the mirror has not exited within `grace`.
pub fn stop(child: &mut Child, grace: Duration) {
    // SAFETY: plain kill(2) on our own child.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// The report's line saying which tuning profile kmirror ran with.
pub fn profile_line(profile: Option<&str>) -> String {
    format!(
        "kmirror's tuning profile: {}.\n\n",
        profile.map_or("none (kmirror's defaults)".to_string(), |p| format!(
            "`{p}` (--profile)"
        ))
    )
}
