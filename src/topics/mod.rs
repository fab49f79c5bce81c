//! Topic selection and naming: which source topics a flow mirrors, what
//! they are called on the target, and the ACLs their mirrors get.

pub mod acls;
pub mod config_sync;
pub mod filter;
pub mod replication_policy;
pub mod sync;
