//! Configuration: MirrorMaker 2 properties files, read unchanged.
//!
//! `properties` reads Java `.properties` syntax; `mm2` turns a MirrorMaker 2
//! file into clusters and flows with typed settings; `keys` is the one list
//! of keys kmirror honours, recognises or ignores; `providers` resolves
//! `${file:...}`, `${dir:...}` and `${env:...}` references. This runs once at start-up:
//! it must never touch the network, and a key it does not implement must
//! never be ignored without a warning.

pub mod client_props;
pub mod error;
pub mod keys;
pub mod mm2;
pub mod properties;
pub mod providers;
pub mod setting;

pub use error::ConfigError;
pub use mm2::{ClusterConfig, FlowConfig, MirrorConfig};
pub use properties::{Entry, Properties};
pub use setting::Setting;
