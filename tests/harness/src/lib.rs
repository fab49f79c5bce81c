//! The project's test harness: real Apache Kafka clusters (KRaft; one node
//! by default, a few brokers in racks on request) on loopback for
//! integration tests, the demo and benchmarks, and real Kafka clients to
//! feed and check them independently of kmirror.
//!
//! Everything here blocks and returns `io::Result` whose errors carry the
//! tools' stderr or the broker's log tail. It must never be used by the
//! mirror itself, and nothing it starts may outlive the process that started
//! it: every child runs under a watchdog (see `process`), because clusters
//! shared through `static`s are never dropped.
//!
//! Needs `java` (17+), `mvn` (first use of a Kafka version) and `kcat`,
//! except [`fake`], a scriptable fake broker for error-path tests and the
//! ceiling benchmark, which proves nothing about mirroring.
//!
//! A crate of its own (kmirror-harness), so that the shipped kmirror binary
//! carries no test tooling: the tests, the benchmarks and the demo (this
//! crate's binary) use it; kmirror's unit tests use its certificates.

pub mod certs;
pub mod cluster;
pub mod demo;
pub mod dist;
pub mod fake;
mod java;
pub mod leaders;
pub mod mm2;
mod process;
pub mod secure;
pub mod sequence;
pub mod stream;
pub mod token_server;
pub mod tools;
mod wire;

use std::path::Path;

pub use cluster::{
    shared_pair, shared_pair_with, try_shared_pair, try_shared_pair_with, ClusterOptions,
    ClusterPair, KafkaCluster,
};
pub use dist::{KafkaDist, KAFKA_3, KAFKA_4};

/// The kmirror repository: `tests/kafka/` lives there, `.kafka/` is filled
/// there.
pub(crate) fn repo_root() -> &'static Path {
    // This crate lives in tests/harness.
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}
