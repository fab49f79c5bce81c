//! The Apache Kafka jars the harness runs: fetched from Maven by
//! `tests/kafka/fetch.sh` into `<repo>/.kafka/VERSION/libs`.

use std::collections::HashMap;
use std::io;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use crate::{process, repo_root};

/// The Kafka 4 release the harness tests against; its clients are also the
/// harness's tools.
pub const KAFKA_4: &str = "4.1.1";
/// The Kafka 3 release the harness tests against (ZooKeeper-free, KRaft).
pub const KAFKA_3: &str = "3.9.1";

/// A fetched Kafka release: broker, tools and MirrorMaker 2 jars in one
/// directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KafkaDist {
    pub version: String,
    pub libs_dir: PathBuf,
}

impl KafkaDist {
    /// Fetches `version` unless it is already in `.kafka/`. Cheap after the
    /// first call in a process; safe while other processes fetch too.
    pub fn ensure(version: &str) -> io::Result<KafkaDist> {
        // One lock per version, so a slow fetch of one does not hold up
        // callers that want another that is already there.
        static LOCKS: OnceLock<Mutex<HashMap<String, &'static Mutex<()>>>> = OnceLock::new();
        let lock = *LOCKS
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(version.to_owned())
            .or_insert_with(|| Box::leak(Box::default()));
        let _guard = lock.lock().unwrap_or_else(|e| e.into_inner());

        let home = repo_root().join(".kafka").join(version);
        let dist = KafkaDist {
            version: version.to_owned(),
            libs_dir: home.join("libs"),
        };
        if home.join(".complete").is_file() {
            return Ok(dist);
        }
        let script = repo_root().join("tests/kafka/fetch.sh");
        let cmd = process::guarded("bash", &[script.as_os_str(), version.as_ref()]);
        let what = format!("fetching Kafka {version} with {}", script.display());
        let fetched = process::run_unchecked(cmd, None, Duration::from_secs(900), &what)?;
        if !fetched.status.success() {
            return Err(io::Error::other(format!(
                "{what}: {}; stderr:\n{}\nstdout:\n{}",
                fetched.status,
                process::tail(&fetched.stderr_text(), 40),
                process::tail(&fetched.stdout_text(), 40)
            )));
        }
        if !home.join(".complete").is_file() {
            return Err(io::Error::other(format!(
                "{what}: finished but left no {}",
                home.join(".complete").display()
            )));
        }
        Ok(dist)
    }

    /// The release whose Java clients and command-line tools the harness
    /// uses against every broker: always Kafka 4, which speaks to 3.9 fine.
    pub fn tools() -> io::Result<KafkaDist> {
        KafkaDist::ensure(KAFKA_4)
    }

    /// A `java -cp` value holding every jar of the release.
    pub fn classpath(&self) -> String {
        format!("{}/*", self.libs_dir.display())
    }

    /// The major version, e.g. 4 for "4.1.1".
    pub fn major(&self) -> u32 {
        self.version
            .split('.')
            .next()
            .and_then(|m| m.parse().ok())
            .unwrap_or(0)
    }
}
