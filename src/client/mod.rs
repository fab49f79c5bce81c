//! A Kafka client for one cluster: connections with pipelined requests,
//! version negotiation, broker metadata and leaders, and the control-plane
//! calls kmirror makes. One `ClusterClient` lives on one thread; threads do
//! not share connections.

pub mod admin;
pub mod cluster;
pub mod conn;
pub mod error;
pub mod fetch_stream;
pub mod small_topic;

pub use cluster::{ClientSettings, ClusterClient};
pub use conn::Conn;
pub use error::ClientError;
