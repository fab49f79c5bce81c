//! The records of MirrorMaker 2's internal topics, byte for byte, so that
//! Kafka's own tools (`RemoteClusterUtils`, MM2's checkpoint connector, the
//! console consumer's formatters) read what kmirror writes and kmirror reads
//! what MirrorMaker 2 wrote. Fields use Kafka's fixed schema types: INT16,
//! INT32 and INT64 big-endian; STRING is an INT16 length and UTF-8 (never
//! null here).
//!
//! - offset sync (`mm2-offset-syncs.<cluster>.internal`): key (topic,
//!   partition) of the *source* partition; value (upstream offset,
//!   downstream offset): the record at upstream offset on the source is at
//!   downstream offset on the target.
//! - checkpoint (`<source>.checkpoints.internal` on the target): key
//!   (group, topic, partition) with the *target* topic name; value (version
//!   INT16 = 0, upstream offset, downstream offset, metadata): the group's
//!   committed offset on the source and where it resumes on the target.
//! - heartbeat (`heartbeats`): key (source alias, target alias); value
//!   (version INT16 = 0, timestamp in ms).
//!
//! Decoders accept trailing bytes (a later version may append fields, as
//! Kafka's schema reader does) and reject everything short or malformed.

use bytes::{BufMut, Bytes, BytesMut};

use crate::error::ProtoError;
use crate::wire::Reader;

/// The only value version MirrorMaker 2 writes and reads.
pub const VERSION: i16 = 0;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetSync {
    pub topic: String,
    pub partition: i32,
    pub upstream_offset: i64,
    pub downstream_offset: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub group: String,
    /// The target-side topic name.
    pub topic: String,
    pub partition: i32,
    pub upstream_offset: i64,
    pub downstream_offset: i64,
    pub metadata: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heartbeat {
    pub source_alias: String,
    pub target_alias: String,
    pub timestamp_ms: i64,
}

fn put_str(buf: &mut BytesMut, s: &str, what: &'static str) -> Result<(), ProtoError> {
    let len = i16::try_from(s.len()).map_err(|_| ProtoError::Malformed {
        what,
        detail: format!("{} bytes is longer than a STRING may be", s.len()),
    })?;
    buf.put_i16(len);
    buf.put_slice(s.as_bytes());
    Ok(())
}

fn str_of(r: &mut Reader, what: &'static str) -> Result<String, ProtoError> {
    r.string(what)?.ok_or_else(|| ProtoError::Malformed {
        what,
        detail: "null where a STRING is required".into(),
    })
}

fn version_of(r: &mut Reader, what: &'static str) -> Result<(), ProtoError> {
    match r.i16(what)? {
        VERSION => Ok(()),
        v => Err(ProtoError::Malformed {
            what,
            detail: format!("version {v}; MirrorMaker 2 writes version {VERSION}"),
        }),
    }
}

impl OffsetSync {
    pub fn key(&self) -> Result<Bytes, ProtoError> {
        let mut b = BytesMut::with_capacity(6 + self.topic.len());
        put_str(&mut b, &self.topic, "offset sync topic")?;
        b.put_i32(self.partition);
        Ok(b.freeze())
    }

    pub fn value(&self) -> Bytes {
        let mut b = BytesMut::with_capacity(16);
        b.put_i64(self.upstream_offset);
        b.put_i64(self.downstream_offset);
        b.freeze()
    }

    pub fn decode(key: Bytes, value: Bytes) -> Result<OffsetSync, ProtoError> {
        let mut k = Reader::new(key);
        let topic = str_of(&mut k, "offset sync topic")?;
        let partition = k.i32("offset sync partition")?;
        let mut v = Reader::new(value);
        Ok(OffsetSync {
            topic,
            partition,
            upstream_offset: v.i64("offset sync upstream offset")?,
            downstream_offset: v.i64("offset sync downstream offset")?,
        })
    }
}

impl Checkpoint {
    pub fn key(&self) -> Result<Bytes, ProtoError> {
        let mut b = BytesMut::with_capacity(8 + self.group.len() + self.topic.len());
        put_str(&mut b, &self.group, "checkpoint group")?;
        put_str(&mut b, &self.topic, "checkpoint topic")?;
        b.put_i32(self.partition);
        Ok(b.freeze())
    }

    pub fn value(&self) -> Result<Bytes, ProtoError> {
        let mut b = BytesMut::with_capacity(20 + self.metadata.len());
        b.put_i16(VERSION);
        b.put_i64(self.upstream_offset);
        b.put_i64(self.downstream_offset);
        put_str(&mut b, &self.metadata, "checkpoint metadata")?;
        Ok(b.freeze())
    }

    pub fn decode(key: Bytes, value: Bytes) -> Result<Checkpoint, ProtoError> {
        let mut k = Reader::new(key);
        let group = str_of(&mut k, "checkpoint group")?;
        let topic = str_of(&mut k, "checkpoint topic")?;
        let partition = k.i32("checkpoint partition")?;
        let mut v = Reader::new(value);
        version_of(&mut v, "checkpoint version")?;
        Ok(Checkpoint {
            group,
            topic,
            partition,
            upstream_offset: v.i64("checkpoint upstream offset")?,
            downstream_offset: v.i64("checkpoint downstream offset")?,
            metadata: str_of(&mut v, "checkpoint metadata")?,
        })
    }
}

impl Heartbeat {
    pub fn key(&self) -> Result<Bytes, ProtoError> {
        let mut b = BytesMut::with_capacity(4 + self.source_alias.len() + self.target_alias.len());
        put_str(&mut b, &self.source_alias, "heartbeat source alias")?;
        put_str(&mut b, &self.target_alias, "heartbeat target alias")?;
        Ok(b.freeze())
    }

    pub fn value(&self) -> Bytes {
        let mut b = BytesMut::with_capacity(10);
        b.put_i16(VERSION);
        b.put_i64(self.timestamp_ms);
        b.freeze()
    }

    pub fn decode(key: Bytes, value: Bytes) -> Result<Heartbeat, ProtoError> {
        let mut k = Reader::new(key);
        let source_alias = str_of(&mut k, "heartbeat source alias")?;
        let target_alias = str_of(&mut k, "heartbeat target alias")?;
        let mut v = Reader::new(value);
        version_of(&mut v, "heartbeat version")?;
        Ok(Heartbeat {
            source_alias,
            target_alias,
            timestamp_ms: v.i64("heartbeat timestamp")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    #[test]
    fn offset_sync_matches_the_design_example() {
        let s = OffsetSync {
            topic: "foo".into(),
            partition: 0,
            upstream_offset: 100,
            downstream_offset: 42,
        };
        assert_eq!(hex(&s.key().unwrap()), "0003666f6f00000000");
        assert_eq!(hex(&s.value()), "0000000000000064000000000000002a");
        assert_eq!(OffsetSync::decode(s.key().unwrap(), s.value()).unwrap(), s);
    }

    #[test]
    fn checkpoint_matches_the_design_example() {
        let c = Checkpoint {
            group: "g".into(),
            topic: "A.foo".into(),
            partition: 0,
            upstream_offset: 100,
            downstream_offset: 42,
            metadata: String::new(),
        };
        assert_eq!(hex(&c.key().unwrap()), "0001670005412e666f6f00000000");
        assert_eq!(
            hex(&c.value().unwrap()),
            "00000000000000000064000000000000002a0000"
        );
        assert_eq!(
            Checkpoint::decode(c.key().unwrap(), c.value().unwrap()).unwrap(),
            c
        );
    }

    #[test]
    fn heartbeat_matches_the_design_example() {
        let h = Heartbeat {
            source_alias: "A".into(),
            target_alias: "B".into(),
            timestamp_ms: 0x018b_cfe5_6800,
        };
        assert_eq!(hex(&h.key().unwrap()), "000141000142");
        assert_eq!(hex(&h.value()), "00000000018bcfe56800");
        assert_eq!(Heartbeat::decode(h.key().unwrap(), h.value()).unwrap(), h);
    }

    #[test]
    fn other_versions_and_short_values_are_refused() {
        let key = Bytes::from_static(&[0, 1, b'A', 0, 1, b'B']);
        let v1 = Bytes::from_static(&[0, 1, 0, 0, 0, 0, 0, 0, 0, 1]);
        let e = Heartbeat::decode(key.clone(), v1).unwrap_err().to_string();
        assert!(e.contains("version 1"), "{e}");
        let short = Bytes::from_static(&[0, 0, 0, 0]);
        assert!(Heartbeat::decode(key, short).is_err());
        let null_topic = Bytes::from_static(&[0xff, 0xff, 0, 0, 0, 0]);
        let e = OffsetSync::decode(null_topic, Bytes::from_static(&[0; 16])).unwrap_err();
        assert!(e.to_string().contains("null"), "{e}");
    }

    proptest! {
        #[test]
        fn any_bytes_decode_or_fail_cleanly(k in proptest::collection::vec(any::<u8>(), 0..40),
                                            v in proptest::collection::vec(any::<u8>(), 0..40)) {
            let (k, v) = (Bytes::from(k), Bytes::from(v));
            let _ = OffsetSync::decode(k.clone(), v.clone());
            let _ = Checkpoint::decode(k.clone(), v.clone());
            let _ = Heartbeat::decode(k, v);
        }

        #[test]
        fn checkpoints_round_trip(group in ".{0,20}", topic in "[a-zA-Z0-9._-]{1,30}",
                                  partition in any::<i32>(), up in any::<i64>(), down in any::<i64>(),
                                  metadata in ".{0,20}") {
            let c = Checkpoint { group, topic, partition, upstream_offset: up, downstream_offset: down, metadata };
            prop_assert_eq!(Checkpoint::decode(c.key().unwrap(), c.value().unwrap()).unwrap(), c);
        }
    }
}
