//! The mirror: a control thread that discovers topics, prepares the target
//! and deals partitions round-robin to worker threads, which fetch, rewrite
//! and produce record batches and report their progress back.

pub mod control;
pub mod counters;
pub mod effective;
pub mod fetch_session;
pub mod fetched;
pub mod messages;
pub mod partition;
pub mod progress;
pub mod route;
pub mod routed;
pub mod summary;
pub mod worker;

pub use control::{run, RunOptions};

pub use summary::Summary;
