//! A Fetch v12 response read as it arrives, for a reader that moves record
//! bytes itself (the splice path): the scanner is given the bytes read so
//! far and says how many more it needs, or that a partition's record set
//! starts (which the caller reads, or moves, on its own), or that the
//! response is complete. It asks only for bytes that belong to the fields
//! it is reading, never for record bytes, so a caller that reads exactly
//! what is asked never pulls records into memory by accident.
//!
//! Every count and length is checked against what arrives before anything
//! is reserved; the caller bounds the whole by the frame's size.

use bytes::Bytes;

use crate::batch::RecordBatch;
use crate::error::ProtoError;
use crate::error_code::ErrorCode;
use crate::fetch::{AbortedTransaction, FetchPartitionResponse, FetchResponse, FetchTopicResponse};

/// What the scanner needs next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// At least this many bytes beyond those given.
    Need(usize),
    /// The current partition's record set, this many bytes, comes next on
    /// the wire; hand it over with [`FetchScan::records_done`].
    Records(usize),
    /// The response is complete.
    Done,
}

/// A Fetch v12 response being read, from just after the correlation id.
#[derive(Debug)]
pub struct FetchScan {
    state: State,
    response: FetchResponse,
    topics_left: usize,
    partitions_left: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Header,
    Topic,
    Partition,
    Records,
    AfterRecords,
    Done,
}

impl FetchScan {
    pub fn new(version: i16) -> Result<FetchScan, ProtoError> {
        if version != 12 {
            return Err(ProtoError::Codec {
                api: "Fetch",
                version,
                detail: "only Fetch v12 is decoded".into(),
            });
        }
        Ok(FetchScan {
            state: State::Header,
            response: FetchResponse {
                throttle_time_ms: 0,
                error: ErrorCode::NONE,
                session_id: 0,
                topics: Vec::new(),
            },
            topics_left: 0,
            partitions_left: 0,
        })
    }

    /// Reads whole fields from `buf` (the bytes not yet consumed) until it
    /// needs more, reaches a record set, or the end. Returns what comes
    /// next and how many bytes of `buf` were consumed.
    pub fn step(&mut self, buf: &[u8]) -> Result<(Step, usize), ProtoError> {
        let mut used = 0;
        loop {
            let mut c = Cursor {
                b: &buf[used..],
                pos: 0,
            };
            let next = match self.state {
                State::Header => self.header(&mut c),
                State::Topic => self.topic(&mut c),
                State::Partition => self.partition(&mut c),
                State::AfterRecords => self.after_records(&mut c),
                State::Records => return Err(misuse("the record set was not handed over")),
                State::Done => return Ok((Step::Done, used)),
            };
            match next {
                Ok(step) => {
                    used += c.pos;
                    match step {
                        Some(step) => return Ok((step, used)),
                        None => continue,
                    }
                }
                Err(Stop::Short(n)) => return Ok((Step::Need(n), used)),
                Err(Stop::Bad(e)) => return Err(e),
            }
        }
    }

    /// The topic and partition whose record set comes next.
    pub fn current(&self) -> Option<(&str, i32)> {
        let t = self.response.topics.last()?;
        Some((&t.name, t.partitions.last()?.partition))
    }

    /// Hands over the current partition's record set: the bytes read into
    /// memory and the batches held outside it.
    pub fn records_done(&mut self, records: Bytes, external: Vec<(usize, RecordBatch)>) {
        if self.state != State::Records {
            return;
        }
        if let Some(p) = self
            .response
            .topics
            .last_mut()
            .and_then(|t| t.partitions.last_mut())
        {
            p.records = records;
            p.external = external;
        }
        self.state = State::AfterRecords;
    }

    /// The whole response, once [`Step::Done`] was returned.
    pub fn finish(self) -> Result<FetchResponse, ProtoError> {
        if self.state != State::Done {
            return Err(ProtoError::malformed(
                "fetch response",
                "the response ended before its last field",
            ));
        }
        Ok(self.response)
    }

    fn header(&mut self, c: &mut Cursor) -> Result<Option<Step>, Stop> {
        c.tagged_fields()?;
        let throttle = c.i32()?;
        let error = c.i16()?;
        let session_id = c.i32()?;
        let topics = c.compact_len()?;
        if topics == 0 {
            // Nothing but the response's tagged fields left.
            c.tagged_fields()?;
        }
        self.response.throttle_time_ms = throttle;
        self.response.error = ErrorCode(error);
        self.response.session_id = session_id;
        self.topics_left = topics;
        if topics == 0 {
            self.state = State::Done;
            return Ok(Some(Step::Done));
        }
        self.state = State::Topic;
        Ok(None)
    }

    fn topic(&mut self, c: &mut Cursor) -> Result<Option<Step>, Stop> {
        let name = c.compact_string()?;
        let partitions = c.compact_len()?;
        // A unit changes nothing until all of it has been read (a short
        // read is retried from its start).
        let end = if partitions == 0 {
            Some(self.read_topic_end(c)?)
        } else {
            None
        };
        self.response.topics.push(FetchTopicResponse {
            name,
            partitions: Vec::new(),
        });
        self.partitions_left = partitions;
        self.state = State::Partition;
        Ok(end.and_then(|last| self.end_topic(last)))
    }

    fn partition(&mut self, c: &mut Cursor) -> Result<Option<Step>, Stop> {
        let partition = c.i32()?;
        let error = ErrorCode(c.i16()?);
        let high_watermark = c.i64()?;
        let last_stable_offset = c.i64()?;
        let log_start_offset = c.i64()?;
        let n_aborted = c.compact_len()?;
        // Each entry is at least 17 bytes: ask for them all at once.
        c.want(n_aborted.saturating_mul(17))?;
        let mut aborted_transactions = Vec::with_capacity(n_aborted.min(64));
        for _ in 0..n_aborted {
            let producer_id = c.i64()?;
            let first_offset = c.i64()?;
            c.tagged_fields()?;
            aborted_transactions.push(AbortedTransaction {
                producer_id,
                first_offset,
            });
        }
        let preferred_read_replica = c.i32()?;
        // Compact nullable bytes: 0 is null, n + 1 is n bytes.
        let records_len = (c.uvarint()? as usize).saturating_sub(1);
        let Some(topic) = self.response.topics.last_mut() else {
            return Err(Stop::Bad(misuse("a partition outside a topic")));
        };
        topic.partitions.push(FetchPartitionResponse {
            partition,
            error,
            high_watermark,
            last_stable_offset,
            log_start_offset,
            aborted_transactions,
            preferred_read_replica,
            records: Bytes::new(),
            external: Vec::new(),
        });
        if records_len == 0 {
            self.state = State::AfterRecords;
            return Ok(None);
        }
        self.state = State::Records;
        Ok(Some(Step::Records(records_len)))
    }

    fn after_records(&mut self, c: &mut Cursor) -> Result<Option<Step>, Stop> {
        c.tagged_fields()?;
        if self.partitions_left > 1 {
            self.partitions_left -= 1;
            self.state = State::Partition;
            return Ok(None);
        }
        let last = self.read_topic_end(c)?;
        self.partitions_left = 0;
        Ok(self.end_topic(last))
    }

    /// Reads a topic's tagged fields, and the response's after the last
    /// topic. Whether that was the last topic.
    fn read_topic_end(&self, c: &mut Cursor) -> Result<bool, Stop> {
        c.tagged_fields()?;
        let last = self.topics_left <= 1;
        if last {
            c.tagged_fields()?;
        }
        Ok(last)
    }

    /// Moves on after a topic whose end was read.
    fn end_topic(&mut self, last: bool) -> Option<Step> {
        self.topics_left = self.topics_left.saturating_sub(1);
        if last {
            self.state = State::Done;
            Some(Step::Done)
        } else {
            self.state = State::Topic;
            None
        }
    }
}

/// Why a field could not be read: too few bytes yet, or bad bytes.
enum Stop {
    Short(usize),
    Bad(ProtoError),
}

struct Cursor<'a> {
    b: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    /// Fails with how many more bytes are needed unless `n` are left.
    fn want(&self, n: usize) -> Result<(), Stop> {
        let left = self.b.len() - self.pos;
        if left < n {
            return Err(Stop::Short(n - left));
        }
        Ok(())
    }

    fn take(&mut self, n: usize) -> Result<&[u8], Stop> {
        self.want(n)?;
        let s = &self.b[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], Stop> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    fn i16(&mut self) -> Result<i16, Stop> {
        Ok(i16::from_be_bytes(self.array()?))
    }

    fn i32(&mut self) -> Result<i32, Stop> {
        Ok(i32::from_be_bytes(self.array()?))
    }

    fn i64(&mut self) -> Result<i64, Stop> {
        Ok(i64::from_be_bytes(self.array()?))
    }

    fn uvarint(&mut self) -> Result<u32, Stop> {
        let mut value: u32 = 0;
        for i in 0..5 {
            let byte = self.take(1)?[0];
            value |= u32::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(Stop::Bad(ProtoError::malformed(
            "fetch response",
            "an unsigned varint runs past 5 bytes",
        )))
    }

    /// A compact array's element count (null counts as none).
    fn compact_len(&mut self) -> Result<usize, Stop> {
        Ok((self.uvarint()? as usize).saturating_sub(1))
    }

    fn compact_string(&mut self) -> Result<String, Stop> {
        let len = self.compact_len()?;
        let bytes = self.take(len)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| {
            Stop::Bad(ProtoError::malformed(
                "fetch response",
                "a topic name is not UTF-8",
            ))
        })
    }

    fn tagged_fields(&mut self) -> Result<(), Stop> {
        let n = self.uvarint()?;
        for _ in 0..n {
            self.uvarint()?;
            let size = self.uvarint()? as usize;
            self.take(size)?;
        }
        Ok(())
    }
}

fn misuse(detail: &'static str) -> ProtoError {
    ProtoError::malformed("fetch response", detail)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fetch::encode_response;
    use proptest::prelude::*;

    fn sample() -> FetchResponse {
        let part =
            |partition: i32, records: &'static [u8], aborted: usize| FetchPartitionResponse {
                partition,
                error: ErrorCode::NONE,
                high_watermark: 100 + i64::from(partition),
                last_stable_offset: 90,
                log_start_offset: 3,
                aborted_transactions: (0..aborted as i64)
                    .map(|i| AbortedTransaction {
                        producer_id: i,
                        first_offset: 10 * i,
                    })
                    .collect(),
                preferred_read_replica: -1,
                records: Bytes::from_static(records),
                external: Vec::new(),
            };
        FetchResponse {
            throttle_time_ms: 7,
            error: ErrorCode::NONE,
            session_id: 42,
            topics: vec![
                FetchTopicResponse {
                    name: "orders".into(),
                    partitions: vec![part(0, b"abcdef", 2), part(1, b"", 0)],
                },
                FetchTopicResponse {
                    name: "empty".into(),
                    partitions: vec![],
                },
                FetchTopicResponse {
                    name: "clicks".into(),
                    partitions: vec![part(5, b"0123456789", 0)],
                },
            ],
        }
    }

    /// Feeds `wire` to a scanner `chunk` bytes at a time (never more than
    /// asked for), reading record sets whole; returns the response and how
    /// many bytes were handed over as record sets.
    fn scan(wire: &[u8], chunk: usize) -> Result<(FetchResponse, usize), ProtoError> {
        let mut scan = FetchScan::new(12)?;
        let mut buf: Vec<u8> = Vec::new();
        let mut at = 0;
        let mut record_bytes = 0;
        loop {
            let (step, used) = scan.step(&buf)?;
            buf.drain(..used);
            match step {
                Step::Need(n) => {
                    let n = n.min(chunk).max(1);
                    if at + n > wire.len() {
                        return Err(ProtoError::malformed("test", "ran out"));
                    }
                    buf.extend_from_slice(&wire[at..at + n]);
                    at += n;
                }
                Step::Records(len) => {
                    assert!(buf.is_empty(), "record bytes were read as fields");
                    if at + len > wire.len() {
                        return Err(ProtoError::malformed("test", "ran out"));
                    }
                    scan.records_done(Bytes::copy_from_slice(&wire[at..at + len]), Vec::new());
                    at += len;
                    record_bytes += len;
                }
                Step::Done => {
                    assert_eq!(at, wire.len(), "the whole response is read");
                    return Ok((scan.finish()?, record_bytes));
                }
            }
        }
    }

    #[test]
    fn reads_what_decode_reads_in_any_chunking() {
        let want = sample();
        let mut wire = vec![0u8]; // the response header's tagged fields
        wire.extend_from_slice(&encode_response(&want));
        for chunk in [1, 2, 3, 7, 64, 1 << 20] {
            let (got, record_bytes) = scan(&wire, chunk).unwrap();
            assert_eq!(record_bytes, 16);
            assert_eq!(got.session_id, 42);
            assert_eq!(got.throttle_time_ms, 7);
            assert_eq!(got.topics.len(), 3);
            for (g, w) in got.topics.iter().zip(&want.topics) {
                assert_eq!(g.name, w.name);
                assert_eq!(g.partitions.len(), w.partitions.len());
                for (gp, wp) in g.partitions.iter().zip(&w.partitions) {
                    assert_eq!(gp.partition, wp.partition);
                    assert_eq!(gp.high_watermark, wp.high_watermark);
                    assert_eq!(gp.aborted_transactions, wp.aborted_transactions);
                    assert_eq!(gp.records, wp.records);
                }
            }
        }
    }

    #[test]
    fn asks_for_no_record_byte_as_a_field() {
        // With exact reads the scanner never holds a byte past the record
        // set's length field when it reports the record set.
        let mut wire = vec![0u8];
        wire.extend_from_slice(&encode_response(&sample()));
        let mut scan = FetchScan::new(12).unwrap();
        let mut buf = Vec::new();
        let mut at = 0;
        loop {
            let (step, used) = scan.step(&buf).unwrap();
            buf.drain(..used);
            match step {
                Step::Need(n) => {
                    buf.extend_from_slice(&wire[at..at + n]);
                    at += n;
                }
                Step::Records(len) => {
                    assert!(buf.is_empty());
                    assert_eq!(scan.current().map(|(t, _)| !t.is_empty()), Some(true));
                    scan.records_done(Bytes::copy_from_slice(&wire[at..at + len]), Vec::new());
                    at += len;
                }
                Step::Done => break,
            }
        }
        assert_eq!(at, wire.len());
    }

    #[test]
    fn records_not_handed_over_is_an_error() {
        let mut wire = vec![0u8];
        wire.extend_from_slice(&encode_response(&sample()));
        let mut scan = FetchScan::new(12).unwrap();
        let mut buf = wire.clone();
        loop {
            let (step, used) = scan.step(&buf).unwrap();
            buf.drain(..used);
            if let Step::Records(_) = step {
                break;
            }
        }
        assert!(scan.step(&buf).is_err());
    }

    proptest! {
        #[test]
        fn hostile_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..300), chunk in 1usize..40) {
            let _ = scan(&data, chunk);
        }
    }
}
