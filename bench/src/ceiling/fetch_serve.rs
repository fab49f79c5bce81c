//! The fake source's Fetch v12 answer: for each partition asked for, as many
//! consecutive copies of the template batch as fit in the partition's and
//! the request's byte limits (at least one batch in the first partition, as
//! Kafka does), starting at the requested offset.
//!
//! Nothing is assembled per response: the small field runs are built in
//! one buffer and each partition's batches are written straight from the
//! connection's [`Run`] with `writev`.

use std::io::{IoSlice, Write};
use std::net::TcpStream;

use bytes::{BufMut, BytesMut};
use kafka_protocol::messages::FetchRequest;
use kmirror_proto::wire::{put_compact_array_len, put_compact_string, put_uvarint};

use super::batches::{Run, Template};
use super::fake_broker::HIGH_WATERMARK;

const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;

/// Field bytes up to a partition's record set, and the batches that follow.
struct Piece {
    fields: std::ops::Range<usize>,
    batches: Option<(i64, usize)>,
}

/// Writes the whole response frame for `req` to `stream`.
pub fn answer(
    stream: &mut TcpStream,
    correlation_id: i32,
    req: &FetchRequest,
    topic: &str,
    partitions: i32,
    template: &Template,
    run: &mut Run,
) -> std::io::Result<()> {
    let batch_len = template.len();
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
        let known = t.topic.0.as_str() == topic;
        put_compact_string(&mut meta, Some(t.topic.0.as_str()));
        put_compact_array_len(&mut meta, t.partitions.len());
        for p in &t.partitions {
            let valid = known && (0..partitions).contains(&p.partition);
            let limit = (p.partition_max_bytes.max(0) as usize).min(budget);
            let mut count = if valid { limit / batch_len } else { 0 };
            if valid && count == 0 && !any_data {
                count = 1; // a first batch larger than the limits still goes out
            }
            budget = budget.saturating_sub(count * batch_len);
            any_data |= count > 0;
            let records = count * batch_len;
            meta.put_i32(p.partition);
            meta.put_i16(if valid { 0 } else { UNKNOWN_TOPIC_OR_PARTITION });
            meta.put_i64(HIGH_WATERMARK);
            meta.put_i64(HIGH_WATERMARK); // last stable offset
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

    for piece in &pieces {
        let fields = &meta[piece.fields.clone()];
        match piece.batches {
            None => stream.write_all(fields)?,
            Some((offset, count)) => {
                let data = run.batches(template, offset, count);
                write_all_vectored(stream, &mut [IoSlice::new(fields), IoSlice::new(data)])?;
            }
        }
    }
    Ok(())
}

fn write_all_vectored(stream: &mut TcpStream, mut bufs: &mut [IoSlice<'_>]) -> std::io::Result<()> {
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
