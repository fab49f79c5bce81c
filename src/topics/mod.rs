//! The target's topics: creating and growing them (`sync`), keeping their
//! configs (`config_sync`) and ACLs (`acls`) in step with the source's.
//! Which topics a flow selects and what they are called are configuration
//! (`config::topic_filter`, `config::replication_policy`).

pub mod acls;
pub mod config_sync;
pub mod sync;
