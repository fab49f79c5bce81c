//! The metrics endpoint: MirrorMaker 2's source metrics under the names
//! Strimzi's JMX exporter rules give them, kmirror's own under `kmirror_`,
//! and `/health` and `/ready`, served by a thread of their own so that a
//! slow scraper never holds up a worker.

pub mod http;
pub mod partitions;
pub mod registry;
pub mod sample;
