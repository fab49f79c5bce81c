//! Configuration: MirrorMaker 2 properties files, read unchanged.
//!
//! `properties` reads Java `.properties` syntax; `mm2` turns a MirrorMaker 2
//! file into clusters and flows with typed settings; `keys` is the one list
//! of keys kmirror honours, recognises or ignores; `providers` resolves
//! `${file:...}`, `${dir:...}` and `${env:...}` references; `profile` lays
//! a tuning profile beneath the file, `run_flags` reads the process
//! settings that are also command-line flags, and `host` the host settings
//! a profile needs (for `kmirror tune check`); `topic_filter` and
//! `replication_policy` are the topic selection and naming the file
//! describes; `mm1` turns MirrorMaker 1's command line into the same
//! model. This runs once at start-up:
//! it must never touch the network, and a key it does not implement must
//! never be ignored without a warning.

pub mod client_props;
pub mod error;
pub mod fleet;
pub mod host;
pub mod keys;
pub mod mm1;
pub mod mm2;
pub mod profile;
pub mod properties;
pub mod providers;
pub mod replication_policy;
pub mod run_flags;
pub mod setting;
pub mod topic_filter;

pub use error::ConfigError;
pub use mm2::{ClusterConfig, FlowConfig, MirrorConfig};
pub use properties::{Entry, Properties};
pub use setting::Setting;
