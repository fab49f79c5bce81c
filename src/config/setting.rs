//! One configuration value together with where it came from, so that code
//! parsing it (topic filters, the replication policy, numbers) can report an
//! error naming the file, line and key without knowing about the file.

use std::path::Path;

use crate::config::ConfigError;

/// A value as written in the configuration, with its origin.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Setting<'a> {
    /// The file the value was read from.
    pub path: &'a Path,
    /// The key exactly as written, e.g. `A->B.topics` or `topics`.
    pub key: &'a str,
    /// The value with surrounding whitespace removed, as Kafka's `ConfigDef`
    /// trims values before parsing them.
    pub value: &'a str,
    /// The 1-based line of the entry, when it came from a file.
    pub line: Option<usize>,
}

impl Setting<'_> {
    /// An [`ConfigError::InvalidValue`] for this setting.
    pub fn invalid(&self, message: impl Into<String>) -> ConfigError {
        ConfigError::InvalidValue {
            path: self.path.to_path_buf(),
            line: self.line,
            key: self.key.to_string(),
            message: message.into(),
        }
    }
}
