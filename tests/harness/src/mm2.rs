//! Apache Kafka's own MirrorMaker 2 in dedicated mode
//! (`org.apache.kafka.connect.mirror.MirrorMaker`), run from a harness
//! Kafka release: the baseline the benchmarks measure kmirror against, and
//! a real MM2 whose output the tests feed to kmirror's tools. Like every
//! harness child it dies with the process that started it.

use std::ffi::OsString;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::{process, repo_root, KafkaDist};

/// The JVM heap MirrorMaker 2 may grow to: room for the benchmarks'
/// throughput runs (the JVM takes it only as it needs it).
const HEAP: &str = "-Xmx2g";

/// `java ... MirrorMaker props` from `dist`, logging as Kafka's defaults
/// say; the caller sets its output.
pub fn mm2_command(dist: &KafkaDist, props: &Path) -> Command {
    command(dist, props, &[])
}

/// A running MirrorMaker 2, its output (warnings and errors) in a file.
/// Killed when dropped.
pub struct MirrorMaker2 {
    child: Option<Child>,
    log: PathBuf,
}

impl MirrorMaker2 {
    /// Starts MirrorMaker 2 of `dist` on `props`, writing its output to
    /// `log`.
    pub fn start(dist: &KafkaDist, props: &Path, log: &Path) -> io::Result<MirrorMaker2> {
        let out = File::create(log)?;
        let log_config = repo_root().join("tests/kafka/tools-log4j2.properties");
        let mut cmd = command(
            dist,
            props,
            &[format!("-Dlog4j2.configurationFile={}", log_config.display()).into()],
        );
        cmd.stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out);
        let child = cmd.spawn().map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot start MirrorMaker 2 on {}: {e}", props.display()),
            )
        })?;
        Ok(MirrorMaker2 {
            child: Some(child),
            log: log.to_path_buf(),
        })
    }

    /// Whether it is still running (MM2 exits at once on a bad file).
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.as_mut().map(|c| c.try_wait()), Some(Ok(None)))
    }

    /// The last lines it wrote, for a test's failure message.
    pub fn output_tail(&self) -> String {
        process::tail(&std::fs::read_to_string(&self.log).unwrap_or_default(), 40)
    }

    /// SIGTERM, and SIGKILL when it has not exited within `grace`.
    pub fn stop(&mut self, grace: Duration) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        process::kill_process(child.id(), libc::SIGTERM);
        let _ = process::wait_timeout(&mut child, grace);
        // The group holds its watchdog too, which outlives a clean exit.
        process::kill_group(child.id(), libc::SIGKILL);
        let _ = child.wait();
    }
}

impl Drop for MirrorMaker2 {
    fn drop(&mut self) {
        self.stop(Duration::ZERO);
    }
}

fn command(dist: &KafkaDist, props: &Path, jvm_args: &[OsString]) -> Command {
    let mut argv: Vec<OsString> = vec![HEAP.into()];
    argv.extend_from_slice(jvm_args);
    argv.extend([
        "-cp".into(),
        dist.classpath().into(),
        "org.apache.kafka.connect.mirror.MirrorMaker".into(),
        props.as_os_str().to_owned(),
    ]);
    process::guarded("java", &argv)
}
