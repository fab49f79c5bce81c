//! kmirror's own group protocol: what instances sharing a flow tell each
//! other through the group coordinator. The coordinator treats both as
//! opaque bytes; they come from other instances (or whoever else joined the
//! group), so they are read as hostile input like any broker answer.
//!
//! Member metadata (sent with JoinGroup):
//! `version: i16 = 0, workers: i32`.
//!
//! Assignment (sent by the leader with SyncGroup, one per member):
//! `version: i16 = 0, slot: i32, working: i32, topics: [topic: string,
//! partitions: [i32]]`. `slot` is the member's place among the `working`
//! members that received partitions (-1 for a standby member).

use bytes::{Bytes, BytesMut};

use crate::error::ProtoError;
use crate::versioned::{MessageReader, MessageWriter};

/// The protocol type of kmirror's groups, checked by the coordinator: a
/// consumer group of the same name is refused rather than mixed in.
pub const PROTOCOL_TYPE: &str = "kmirror";
/// The one assignment strategy.
pub const STRATEGY: &str = "round-robin";

const VERSION: i16 = 0;
/// The most members an assignment may count: far above any real fleet,
/// and a bound on what a peer's assignment can make an instance do.
pub const MAX_MEMBERS: i32 = 65_536;

/// What a member says about itself when it joins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemberMetadata {
    /// Worker threads of the instance (each holds a transactional id in
    /// exactly-once mode).
    pub workers: i32,
}

/// A member's share of the flow.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Assignment {
    /// The member's place among the members that received partitions;
    /// -1 for a standby member.
    pub slot: i32,
    /// How many members received partitions.
    pub working: i32,
    /// Source topics and their partitions.
    pub topics: Vec<(String, Vec<i32>)>,
}

fn writer() -> MessageWriter {
    MessageWriter::new(BytesMut::new(), 0, false)
}

fn reader(bytes: Bytes) -> MessageReader {
    MessageReader::new(bytes, 0, false)
}

fn check_version(r: &mut MessageReader, what: &'static str) -> Result<(), ProtoError> {
    let v = r.i16(what)?;
    if v < VERSION {
        return Err(ProtoError::malformed(what, format!("version {v}")));
    }
    // A later version keeps version 0's fields first.
    Ok(())
}

impl MemberMetadata {
    pub fn encode(&self) -> Bytes {
        let mut w = writer();
        w.i16(VERSION);
        w.i32(self.workers);
        w.into_inner().freeze()
    }

    pub fn decode(bytes: Bytes) -> Result<MemberMetadata, ProtoError> {
        let mut r = reader(bytes);
        check_version(&mut r, "kmirror member metadata version")?;
        let workers = r.i32("kmirror member workers")?;
        if !(1..=MAX_MEMBERS).contains(&workers) {
            return Err(ProtoError::malformed(
                "kmirror member workers",
                format!("{workers}"),
            ));
        }
        Ok(MemberMetadata { workers })
    }
}

impl Assignment {
    pub fn encode(&self) -> Result<Bytes, ProtoError> {
        let mut w = writer();
        w.i16(VERSION);
        w.i32(self.slot);
        w.i32(self.working);
        w.array("kmirror assignment topics", &self.topics, |w, (t, ps)| {
            w.string("kmirror assignment topic", t)?;
            w.i32_array("kmirror assignment partitions", ps)
        })?;
        Ok(w.into_inner().freeze())
    }

    /// An empty answer (a member the leader left out) is an empty share.
    pub fn decode(bytes: Bytes) -> Result<Assignment, ProtoError> {
        if bytes.is_empty() {
            return Ok(Assignment {
                slot: -1,
                ..Assignment::default()
            });
        }
        let mut r = reader(bytes);
        check_version(&mut r, "kmirror assignment version")?;
        let slot = r.i32("kmirror assignment slot")?;
        let working = r.i32("kmirror assignment members")?;
        if slot < -1 || !(0..=MAX_MEMBERS).contains(&working) || (slot != -1 && slot >= working) {
            return Err(ProtoError::malformed(
                "kmirror assignment slot",
                format!("slot {slot} of {working} members"),
            ));
        }
        // A topic is at least a name length and a partition count.
        let topics = r.array("kmirror assignment topics", 6, |r| {
            let topic = r.string("kmirror assignment topic")?;
            let partitions = r.array("kmirror assignment partitions", 4, |r| {
                let p = r.i32("kmirror assignment partition")?;
                if p < 0 {
                    return Err(ProtoError::malformed(
                        "kmirror assignment partition",
                        format!("{p}"),
                    ));
                }
                Ok(p)
            })?;
            Ok((topic, partitions))
        })?;
        Ok(Assignment {
            slot,
            working,
            topics,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_and_assignments_read_back() {
        let m = MemberMetadata { workers: 3 };
        assert_eq!(MemberMetadata::decode(m.encode()).unwrap(), m);
        let a = Assignment {
            slot: 1,
            working: 3,
            topics: vec![("orders".into(), vec![0, 3, 6]), ("clicks".into(), vec![2])],
        };
        assert_eq!(Assignment::decode(a.encode().unwrap()).unwrap(), a);
        let standby = Assignment::decode(Bytes::new()).unwrap();
        assert_eq!((standby.slot, standby.topics.len()), (-1, 0));
    }

    #[test]
    fn hostile_bytes_are_errors() {
        // Truncated at every length, and counts that promise more than
        // there is: errors, no panic, no allocation from the count.
        let a = Assignment {
            slot: 0,
            working: 1,
            topics: vec![("t".into(), vec![0, 1])],
        }
        .encode()
        .unwrap();
        for n in 1..a.len() {
            assert!(Assignment::decode(a.slice(..n)).is_err(), "prefix {n}");
        }
        let huge = [0u8, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0x7f, 0xff, 0xff, 0xff];
        assert!(Assignment::decode(Bytes::copy_from_slice(&huge)).is_err());
        let bad_slot = [0u8, 0, 0, 0, 0, 5, 0, 0, 0, 2, 0, 0, 0, 0];
        assert!(Assignment::decode(Bytes::copy_from_slice(&bad_slot)).is_err());
        let too_many = [0u8, 0, 0, 0, 0, 1, 0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0];
        assert!(Assignment::decode(Bytes::copy_from_slice(&too_many)).is_err());
        assert!(MemberMetadata::decode(Bytes::from_static(&[0, 0, 0, 0, 0, 0])).is_err());
        assert!(MemberMetadata::decode(Bytes::from_static(&[0, 0, 0])).is_err());
    }
}
