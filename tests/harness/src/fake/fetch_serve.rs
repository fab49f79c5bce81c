//! The fake source's Fetch v12 answer: for each partition asked for, as many
//! consecutive copies of the template batch as fit in the partition's and
//! the request's byte limits (at least one batch in the first partition, as
//! Kafka does) and below the log end, starting at the requested offset. A
//! fetch that finds nothing waits out its `max_wait_ms`, as a broker's long
//! poll does.
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

/// Field bytes up to a partition's record set, and the batches that follow.
struct Piece {
    fields: std::ops::Range<usize>,
    batches: Option<(i64, usize)>,
}

struct Planned {
    meta: BytesMut,
    pieces: Vec<Piece>,
    any_data: bool,
}

impl Served<'_> {
    fn plan(&self, correlation_id: i32, req: &FetchRequest) -> Planned {
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
        meta.put_i16(0); // error code
        meta.put_i32(0); // session id: sessionless
        put_compact_array_len(&mut meta, req.topics.len());
        for t in &req.topics {
            let known = t.topic.0.as_str() == self.topic;
            put_compact_string(&mut meta, Some(t.topic.0.as_str()));
            put_compact_array_len(&mut meta, t.partitions.len());
            for p in &t.partitions {
                let valid = known && (0..self.partitions).contains(&p.partition);
                let error = match (valid, self.error) {
                    (false, _) => UNKNOWN_TOPIC_OR_PARTITION,
                    (true, Some(e)) => e,
                    (true, None) => 0,
                };
                let left = ((self.log_end - p.fetch_offset.max(0)).max(0) / per_batch) as usize;
                let limit = (p.partition_max_bytes.max(0) as usize).min(budget);
                let mut count = if error == 0 { limit / batch_len } else { 0 };
                if error == 0 && count == 0 && !any_data {
                    count = 1; // a first batch larger than the limits still goes out
                }
                count = count.min(left);
                budget = budget.saturating_sub(count * batch_len);
                any_data |= count > 0;
                let records = count * batch_len;
                meta.put_i32(p.partition);
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
                        batches: Some((p.fetch_offset, count)),
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
        }
    }

    fn long_poll(req: &FetchRequest, planned: &Planned) {
        if !planned.any_data && req.max_wait_ms > 0 {
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
    ) -> std::io::Result<()> {
        let planned = self.plan(correlation_id, req);
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
    pub fn frame(&self, correlation_id: i32, req: &FetchRequest, run: &mut Run) -> Vec<u8> {
        let planned = self.plan(correlation_id, req);
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
