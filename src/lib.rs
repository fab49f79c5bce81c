//! kmirror: mirrors Apache Kafka topics between clusters by forwarding record
//! batches as they are, driven by an unchanged MirrorMaker 2 properties file.

pub mod alloc_count;
pub mod cli;
pub mod client;
pub mod config;
pub mod fleet;
pub mod logging;
pub mod metrics;
pub mod mirror;
pub mod net;
pub mod offsets;
pub mod plan;
pub mod security;
pub mod status;
pub mod topics;
pub mod tune;
pub mod verify;
