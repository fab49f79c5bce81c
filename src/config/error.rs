//! Errors from reading kmirror's configuration.
//!
//! Every message names the file and, when known, the line and the key, so an
//! operator can go straight to the setting to fix. Messages quote the values
//! of settings kmirror parses (numbers, booleans, patterns, class names); they
//! must never quote secrets such as passwords or JAAS configurations.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// Why a configuration could not be used. Fatal: kmirror exits with
/// [`ConfigError::exit_code`] after printing it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{}: cannot read the file: {source}", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    /// The file is not valid `.properties` syntax.
    #[error("{}: {message}", Location(.path, Some(*.line)))]
    Syntax {
        path: PathBuf,
        line: usize,
        message: String,
    },

    /// A required key is absent. `line` is that of a related key, e.g. the
    /// `clusters` line naming the alias whose `bootstrap.servers` is missing.
    #[error("{}: key '{key}': missing; {reason}", Location(.path, *.line))]
    MissingKey {
        path: PathBuf,
        key: String,
        line: Option<usize>,
        reason: String,
    },

    /// A key is present but its value cannot be used.
    #[error("{}: key '{key}': {message}", Location(.path, *.line))]
    InvalidValue {
        path: PathBuf,
        line: Option<usize>,
        key: String,
        message: String,
    },

    /// A key (or `--clusters` on the command line) names a cluster alias that
    /// the `clusters` key does not list.
    #[error(
        "{}: key '{key}': cluster alias '{alias}' is not listed in 'clusters' (listed: {})",
        Location(.path, *.line),
        .known.join(", ")
    )]
    UnknownCluster {
        path: PathBuf,
        line: Option<usize>,
        key: String,
        alias: String,
        known: Vec<String>,
    },

    /// `--profile` names neither a built-in tuning profile nor a file.
    #[error(
        "--profile {name}: no built-in profile has that name (built in: {}); \
         give one of those, or the path of a profile file (containing '/' or ending in .properties)",
        .known.join(", ")
    )]
    UnknownProfile { name: String, known: Vec<String> },
}

impl ConfigError {
    /// The process exit status for a configuration error, the same for every
    /// kind so scripts can tell "fix the file" from a runtime failure.
    pub fn exit_code(&self) -> i32 {
        2
    }
}

/// `file` or `file:line`, the prefix of every message.
struct Location<'a>(&'a Path, Option<usize>);

impl fmt::Display for Location<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.1 {
            Some(line) => write!(f, "{}:{}", self.0.display(), line),
            None => write!(f, "{}", self.0.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_file_line_and_key() {
        let err = ConfigError::MissingKey {
            path: PathBuf::from("mm2.properties"),
            key: "B.bootstrap.servers".into(),
            line: Some(3),
            reason: "cluster 'B' is listed in 'clusters'".into(),
        };
        assert_eq!(
            err.to_string(),
            "mm2.properties:3: key 'B.bootstrap.servers': missing; cluster 'B' is listed in 'clusters'"
        );
        assert_eq!(err.exit_code(), 2);

        let err = ConfigError::InvalidValue {
            path: PathBuf::from("mm2.properties"),
            line: None,
            key: "topics".into(),
            message: "bad".into(),
        };
        assert_eq!(err.to_string(), "mm2.properties: key 'topics': bad");

        let err = ConfigError::UnknownCluster {
            path: PathBuf::from("mm2.properties"),
            line: Some(9),
            key: "A->C.enabled".into(),
            alias: "C".into(),
            known: vec!["A".into(), "B".into()],
        };
        assert_eq!(
            err.to_string(),
            "mm2.properties:9: key 'A->C.enabled': cluster alias 'C' is not listed in 'clusters' (listed: A, B)"
        );

        let err = ConfigError::UnknownProfile {
            name: "wan".into(),
            known: vec!["lan-low-latency".into(), "wan-high-bdp".into()],
        };
        assert!(
            err.to_string()
                .starts_with("--profile wan: no built-in profile has that name (built in: lan-low-latency, wan-high-bdp)"),
            "{err}"
        );
        assert_eq!(err.exit_code(), 2);
    }
}
