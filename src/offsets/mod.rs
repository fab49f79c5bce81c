//! Consumer failover: the exact offset map kmirror learns from every
//! acknowledged batch, and what is built on it.

pub mod checkpoints;
pub mod failback;
pub mod failover;
pub mod heartbeats;
pub mod map;
pub mod mm2_takeover;
pub mod placeholders;
pub mod resume;
pub mod syncs;
pub mod table;
pub mod translate;
