//! Topic selection and naming: which source topics a flow mirrors and what
//! they are called on the target.

pub mod filter;
pub mod replication_policy;
pub mod sync;
