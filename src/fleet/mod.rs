//! Several instances, one flow. Instances started with the same file join
//! one group per flow on the target cluster (`kmirror.fleet.group`, Kafka's
//! classic group protocol with kmirror's own protocol type) and share the
//! flow's partitions: the leader deals them round-robin over at most
//! `tasks.max` members ([`deal`]); the others stand by.
//!
//! Rebalances are eager: when the coordinator announces one, every member
//! stops its partitions, waits for the produce requests in flight, commits
//! their progress and only then joins again, so the coordinator forms the
//! next generation (and a partition gets its new owner) only after the old
//! owner's progress is committed, or after its session expired when it
//! died. A member that learns it was expelled gives its partitions up
//! without committing: they may be mirrored by another already.
//!
//! The conversation with the coordinator is in [`member`]; what a member
//! does with its share is the mirror's (`mirror::control`).

pub mod deal;
pub mod member;
