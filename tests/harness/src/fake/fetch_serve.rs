//! The fake source's Fetch v12 answer: for each partition asked for, as many
//! consecutive copies of the template batch as fit in the partition's and
//! the request's byte limits (at least one batch in the first partition, as
//! Kafka does) and below the log end, starting at the requested offset. A
//! fetch that finds nothing waits out its `max_wait_ms`, as a broker's long
//! poll does.
//!
//! Fetch sessions (KIP-227) as a broker keeps them, one per connection
//! ([`Session`]): a full request (session id 0, epoch 0) opens one and is
//! answered for every partition it names; an incremental request (the
//! session's id and next epoch) names only partitions that join or move and
//! lists those that leave, and is answered only for partitions with data or
//! an error; any other id or epoch gets FETCH_SESSION_ID_NOT_FOUND or
//! INVALID_FETCH_SESSION_EPOCH.
//!
//! Nothing is assembled per response on the good path: the small field runs
//! are built in one buffer and each partition's batches are written straight
//! from the connection's [`Run`] with `writev`.

use std::io::{IoSlice, Write};
use std::time::Duration;

use bytes::{BufMut, BytesMut};
use kafka_protocol::messages::FetchRequest;
use kmirror_proto::wire::{put_compact_array_len, put_compact_string, put_uvarint};

use super::batches::{Run, Template};

const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
const FETCH_SESSION_ID_NOT_FOUND: i16 = 70;
const INVALID_FETCH_SESSION_EPOCH: i16 = 71;
/// Longest a fetch that finds nothing is held back.
const LONG_POLL_CAP: Duration = Duration::from_millis(500);

/// What the source serves.
pub struct Served<'a> {
    pub topic: &'a str,
    pub partitions: i32,
    pub template: &'a Template,
    pub log_end: i64,
    /// A Kafka error code for every partition instead of data.
    pub error: Option<i16>,
}

/// One connection's fetch session: what the broker holds for the client.
#[derive(Default)]
pub struct Session {
    /// 0 while none is open.
    id: i32,
    /// The epoch the next incremental request must carry.
    epoch: i32,
    /// Per topic: partition -> (fetch offset, partition max bytes).
    held: std::collections::BTreeMap<String, std::collections::BTreeMap<i32, (i64, i32)>>,
}

/// A partition asked for: index, fetch offset, partition max bytes.
type AskedPartition = (i32, i64, i32);

/// A partition answered for: index, fetch offset, error, batches served.
type Answered = (i32, i64, i16, usize);

/// What one request asks of the session: the partitions to answer for and
/// whether only those with something to say are answered.
struct Asked {
    error: i16,
    session_id: i32,
    topics: Vec<(String, Vec<AskedPartition>)>,
    incremental: bool,
}

impl Session {
    fn take(&mut self, req: &FetchRequest, next_id: i32) -> Asked {
        let named: Vec<(String, Vec<AskedPartition>)> = req
            .topics
            .iter()
            .map(|t| {
                let parts = t
                    .partitions
                    .iter()
                    .map(|p| (p.partition, p.fetch_offset, p.partition_max_bytes));
                (t.topic.0.to_string(), parts.collect())
            })
            .collect();
        if req.session_id == 0 {
            // Epoch 0 opens a session; epoch -1 (sessionless) keeps none.
            *self = Session::default();
            if req.session_epoch == 0 {
                self.id = next_id;
                self.epoch = 1;
                self.hold(&named);
            }
            return Asked {
                error: 0,
                session_id: self.id,
                topics: named,
                incremental: false,
            };
        }
        let refused = |error| Asked {
            error,
            session_id: 0,
            topics: Vec::new(),
            incremental: false,
        };
        if req.session_id != self.id {
            return refused(FETCH_SESSION_ID_NOT_FOUND);
        }
        if req.session_epoch != self.epoch {
            *self = Session::default();
            return refused(INVALID_FETCH_SESSION_EPOCH);
        }
        self.epoch = if self.epoch == i32::MAX {
            1
        } else {
            self.epoch + 1
        };
        self.hold(&named);
        for f in &req.forgotten_topics_data {
            if let Some(held) = self.held.get_mut(f.topic.0.as_str()) {
                for p in &f.partitions {
                    held.remove(p);
                }
            }
        }
        self.held.retain(|_, ps| !ps.is_empty());
        Asked {
            error: 0,
            session_id: self.id,
            topics: self
                .held
                .iter()
                .map(|(t, ps)| {
                    (
                        t.clone(),
                        ps.iter().map(|(&p, &(o, m))| (p, o, m)).collect(),
                    )
                })
                .collect(),
            incremental: true,
        }
    }

    /// Holds the partitions a request named, at the positions it gave.
    fn hold(&mut self, named: &[(String, Vec<AskedPartition>)]) {
        for (t, ps) in named {
            let held = self.held.entry(t.clone()).or_default();
            for &(p, offset, max) in ps {
                held.insert(p, (offset, max));
            }
        }
    }
}

/// Field bytes up to a partition's record set, and the batches that follow.
struct Piece {
    fields: std::ops::Range<usize>,
    batches: Option<(i64, usize)>,
}

struct Planned {
    meta: BytesMut,
    pieces: Vec<Piece>,
    any_data: bool,
    /// A session error: answered at once.
    refused: bool,
}

impl Served<'_> {
    fn plan(&self, correlation_id: i32, req: &FetchRequest, session: &mut Session) -> Planned {
        let asked = session.take(req, correlation_id.wrapping_mul(7919).max(1));
        let batch_len = self.template.len();
        let per_batch = self.template.records.max(1);
        let mut budget = req.max_bytes.max(0) as usize;
        let mut any_data = false;
        let mut meta = BytesMut::with_capacity(128 + 64 * req.topics.len());
        let mut pieces: Vec<Piece> = Vec::new();
        let mut start = 0usize;
        let mut total = 0usize;

        meta.put_i32(0); // frame size, set below
        meta.put_i32(correlation_id);
        meta.put_u8(0); // response header tagged fields
        meta.put_i32(0); // throttle time
        meta.put_i16(asked.error);
        meta.put_i32(asked.session_id);
        // Per topic, the partitions answered for: (index, offset, max bytes,
        // error, batches). An incremental answer leaves out those with
        // nothing to say.
        let mut answer: Vec<(&str, Vec<Answered>)> = Vec::new();
        for (topic, parts) in &asked.topics {
            let known = topic.as_str() == self.topic;
            let mut out = Vec::new();
            for &(partition, fetch_offset, max_bytes) in parts {
                let valid = known && (0..self.partitions).contains(&partition);
                let error = match (valid, self.error) {
                    (false, _) => UNKNOWN_TOPIC_OR_PARTITION,
                    (true, Some(e)) => e,
                    (true, None) => 0,
                };
                let left = ((self.log_end - fetch_offset.max(0)).max(0) / per_batch) as usize;
                let limit = (max_bytes.max(0) as usize).min(budget);
                let mut count = if error == 0 { limit / batch_len } else { 0 };
                if error == 0 && count == 0 && !any_data {
                    count = 1; // a first batch larger than the limits still goes out
                }
                count = count.min(left);
                budget = budget.saturating_sub(count * batch_len);
                any_data |= count > 0;
                if !asked.incremental || count > 0 || error != 0 {
                    out.push((partition, fetch_offset, error, count));
                }
            }
            if !out.is_empty() || !asked.incremental {
                answer.push((topic.as_str(), out));
            }
        }
        put_compact_array_len(&mut meta, answer.len());
        for (topic, parts) in &answer {
            put_compact_string(&mut meta, Some(topic));
            put_compact_array_len(&mut meta, parts.len());
            for &(partition, fetch_offset, error, count) in parts {
                let records = count * batch_len;
                meta.put_i32(partition);
                meta.put_i16(error);
                meta.put_i64(self.log_end);
                meta.put_i64(self.log_end); // last stable offset
                meta.put_i64(0); // log start offset
                put_compact_array_len(&mut meta, 0); // aborted transactions
                meta.put_i32(-1); // preferred read replica
                put_uvarint(&mut meta, records as u32 + 1);
                if count > 0 {
                    pieces.push(Piece {
                        fields: start..meta.len(),
                        batches: Some((fetch_offset, count)),
                    });
                    start = meta.len();
                    total += records;
                }
                meta.put_u8(0); // partition tagged fields
            }
            meta.put_u8(0); // topic tagged fields
        }
        meta.put_u8(0); // response tagged fields
        pieces.push(Piece {
            fields: start..meta.len(),
            batches: None,
        });
        total += meta.len();
        let size = (total - 4) as i32;
        meta[..4].copy_from_slice(&size.to_be_bytes());
        Planned {
            meta,
            pieces,
            any_data,
            refused: asked.error != 0,
        }
    }

    fn long_poll(req: &FetchRequest, planned: &Planned) {
        if !planned.any_data && !planned.refused && req.max_wait_ms > 0 {
            std::thread::sleep(Duration::from_millis(req.max_wait_ms as u64).min(LONG_POLL_CAP));
        }
    }

    /// Writes the whole response frame for `req` to `stream`.
    pub fn write_to(
        &self,
        stream: &mut impl Write,
        correlation_id: i32,
        req: &FetchRequest,
        run: &mut Run,
        session: &mut Session,
    ) -> std::io::Result<()> {
        let planned = self.plan(correlation_id, req, session);
        Self::long_poll(req, &planned);
        for piece in &planned.pieces {
            let fields = &planned.meta[piece.fields.clone()];
            match piece.batches {
                None => stream.write_all(fields)?,
                Some((offset, count)) => {
                    let data = run.batches(self.template, offset, count);
                    write_all_vectored(stream, &mut [IoSlice::new(fields), IoSlice::new(data)])?;
                }
            }
        }
        Ok(())
    }

    /// The whole response frame as bytes (for faults that cut or alter it).
    pub fn frame(
        &self,
        correlation_id: i32,
        req: &FetchRequest,
        run: &mut Run,
        session: &mut Session,
    ) -> Vec<u8> {
        let planned = self.plan(correlation_id, req, session);
        Self::long_poll(req, &planned);
        let mut out = Vec::new();
        for piece in &planned.pieces {
            out.extend_from_slice(&planned.meta[piece.fields.clone()]);
            if let Some((offset, count)) = piece.batches {
                out.extend_from_slice(run.batches(self.template, offset, count));
            }
        }
        out
    }
}

fn write_all_vectored(
    stream: &mut impl Write,
    mut bufs: &mut [IoSlice<'_>],
) -> std::io::Result<()> {
    while !bufs.is_empty() {
        match stream.write_vectored(bufs) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => IoSlice::advance_slices(&mut bufs, n),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
