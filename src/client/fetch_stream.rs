//! Reading a Fetch response as it arrives, for the splice path: the
//! response's fields and each batch's 61-byte header are read into memory,
//! exactly as many bytes as they take; a batch that will go out as it came
//! has its records moved into the partition's pipe on this connection; a
//! batch the mirror must look into (control, LogAppendTime, offset holes,
//! small enough to merge) is read into memory as on the copying path; the
//! truncated tail of a record set is thrown away without being read.
//!
//! Never waits for pipe room (a body that does not fit is finished in
//! memory), so a slow target cannot stall the source connection.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use kmirror_proto::batch::{forwardable_as_is, RecordBatch, HEADER_LEN, LOG_OVERHEAD};
use kmirror_proto::external::ExternalBody;
use kmirror_proto::fetch::FetchResponse;
use kmirror_proto::fetch_stream::{FetchScan, Step};
use tokio::net::TcpStream;

use crate::net::buffers;
use crate::net::splice::{self, Pipe, PipeBody};
use crate::net::Stream;

/// At most this many pipes per connection (two descriptors each); the
/// partitions beyond take the copying path on it.
const MAX_PIPES_PER_CONN: usize = 1024;
/// At most this many pipes per partition on a connection.
const MAX_PIPES_PER_PARTITION: usize = 16;
/// How often a connection closes the pipes nothing is in or waiting for
/// (an idle partition's), and tries again to open pipes after a refusal.
const SWEEP_EVERY: Duration = Duration::from_secs(10);

/// What a Fetch request asks of the splice path.
#[derive(Debug, Clone, Copy)]
pub struct SpliceAsk {
    /// Records shorter than this are read into memory (merging small
    /// batches and a syscall's cost make splicing them a loss).
    pub min_body: usize,
    /// The pipe size to ask for (the system may grant less).
    pub pipe_bytes: usize,
}

/// Where the bytes of a streamed response went.
#[derive(Debug, Default, Clone, Copy)]
pub struct SpliceCounts {
    /// Read into memory: the response's fields, batch headers, and the
    /// records of batches that were not spliced.
    pub field_bytes: u64,
    pub header_bytes: u64,
    pub copied_bytes: u64,
    /// Moved into pipes, never read.
    pub spliced_bytes: u64,
    pub spliced_batches: u64,
    /// Batches read into memory whole; and batches that could have been
    /// spliced but were read into memory, whole or in part, because the
    /// partition's pipes were full.
    pub copied_batches: u64,
    pub pipe_full_batches: u64,
    /// Truncated tails thrown away without being read (past the header of
    /// their batch, when it arrived whole).
    pub discarded_bytes: u64,
    pub truncated_batches: u64,
}

impl SpliceCounts {
    pub fn add(&mut self, o: &SpliceCounts) {
        self.field_bytes += o.field_bytes;
        self.header_bytes += o.header_bytes;
        self.copied_bytes += o.copied_bytes;
        self.spliced_bytes += o.spliced_bytes;
        self.spliced_batches += o.spliced_batches;
        self.copied_batches += o.copied_batches;
        self.pipe_full_batches += o.pipe_full_batches;
        self.discarded_bytes += o.discarded_bytes;
        self.truncated_batches += o.truncated_batches;
    }
}

/// Why a streamed response could not be read: the connection failed, or
/// the broker's bytes are malformed. Either closes the connection.
#[derive(Debug)]
pub enum StreamError {
    Closed(String),
    Malformed(String),
}

impl StreamError {
    pub fn reason(&self) -> &str {
        match self {
            StreamError::Closed(r) | StreamError::Malformed(r) => r,
        }
    }
}

fn malformed(e: impl std::fmt::Display) -> StreamError {
    StreamError::Malformed(e.to_string())
}

/// A Fetch response read on the splice path.
#[derive(Debug)]
pub struct StreamedFetch {
    pub response: FetchResponse,
    pub counts: SpliceCounts,
}

/// A connection's pipes: a few per partition it fetches on the splice path
/// (a pipe holds what the system lets it, 1 MiB unprivileged, and a
/// partition may have several MiB queued), and one to throw bytes away
/// through.
#[derive(Default)]
pub struct Pipes {
    /// A partition's pipes, the one filling last. Bodies enter one pipe at
    /// a time, so each pipe's bodies leave in the order they entered.
    by_partition: HashMap<String, HashMap<i32, Vec<Rc<Pipe>>>>,
    count: usize,
    /// The system refused a pipe: none is asked for until the next sweep.
    refused: bool,
    /// A refusal was logged (once per connection).
    warned: bool,
    swept: Option<Instant>,
    scratch: Option<Rc<Pipe>>,
    scratch_refused: bool,
}

impl Pipes {
    /// The pipe a body of `len` bytes of the partition enters: the filling
    /// one if it has room, else an empty one, else a new one. A body larger
    /// than an empty pipe fills one and the rest is read into memory.
    /// `None` when every pipe is busy: the body is read into memory.
    fn for_body(
        &mut self,
        topic: &str,
        partition: i32,
        len: usize,
        ask: &SpliceAsk,
    ) -> Option<Rc<Pipe>> {
        let list = match self.by_partition.get_mut(topic) {
            Some(t) => t.entry(partition).or_default(),
            None => self
                .by_partition
                .entry(topic.to_string())
                .or_default()
                .entry(partition)
                .or_default(),
        };
        // A broken pipe takes nothing more; bodies still holding it keep
        // it alive until they are dropped.
        self.count -= drop_pipes(list, |p| p.is_broken());
        if let Some(last) = list.last().filter(|p| p.room() >= len) {
            return Some(last.clone());
        }
        if let Some(i) = list.iter().position(|p| p.is_empty()) {
            // Nothing is ahead of a body in an empty pipe. Other empty
            // pipes are closed: the user's pipe budget is shared.
            let pipe = list.remove(i);
            self.count -= drop_pipes(list, |p| p.is_empty());
            list.push(pipe.clone());
            return Some(pipe);
        }
        if self.refused || list.len() >= MAX_PIPES_PER_PARTITION || self.count >= MAX_PIPES_PER_CONN
        {
            return None;
        }
        let pipe = match Pipe::new(ask.pipe_bytes) {
            Ok(p) => p,
            Err(e) => {
                // Copy what does not fit the open pipes until the next
                // sweep has closed idle ones.
                if !std::mem::replace(&mut self.warned, true) {
                    tracing::warn!(topic, partition, "cannot open a splice pipe; records that do not fit the pipes already open are copied: {e}");
                }
                self.refused = true;
                return None;
            }
        };
        self.count += 1;
        list.push(pipe.clone());
        Some(pipe)
    }

    /// Closes the pipes nothing is in and no body holds, at most once every
    /// [`SWEEP_EVERY`]: an idle partition keeps no pipe (pipes count
    /// against the user's pipe budget and the open-file limit), and
    /// partitions gone from the connection leave no entry.
    fn sweep(&mut self, now: Instant) {
        if self
            .swept
            .is_some_and(|at| now.duration_since(at) < SWEEP_EVERY)
        {
            return;
        }
        self.swept = Some(now);
        self.refused = false;
        self.scratch_refused = false;
        let mut closed = 0;
        for partitions in self.by_partition.values_mut() {
            for list in partitions.values_mut() {
                closed += drop_pipes(list, |p| p.is_empty() && Rc::strong_count(p) == 1);
            }
            partitions.retain(|_, list| !list.is_empty());
        }
        self.by_partition
            .retain(|_, partitions| !partitions.is_empty());
        self.count -= closed;
    }

    /// The pipe truncated tails are thrown away through; `None` when the
    /// system grants none (the user's pipe budget is spent), and then until
    /// the next sweep.
    fn scratch(&mut self) -> Option<Rc<Pipe>> {
        if self.scratch.is_none() && !self.scratch_refused {
            match Pipe::new(1 << 20) {
                Ok(p) => self.scratch = Some(p),
                Err(e) => {
                    if !std::mem::replace(&mut self.warned, true) {
                        tracing::warn!(
                            "cannot open a splice pipe; truncated tails are read and dropped: {e}"
                        );
                    }
                    self.scratch_refused = true;
                }
            }
        }
        self.scratch.clone()
    }
}

/// Takes the pipes `drop` picks out of `list`; how many went.
fn drop_pipes(list: &mut Vec<Rc<Pipe>>, drop: impl Fn(&Rc<Pipe>) -> bool) -> usize {
    let before = list.len();
    list.retain(|p| !drop(p));
    before - list.len()
}

/// Reads the rest of a Fetch v12 response frame (`left` bytes after the
/// correlation id) from `stream`, whose socket is `sock`. An error is the
/// reason to close the connection.
pub async fn read(
    stream: &Stream,
    sock: &TcpStream,
    pipes: &RefCell<Pipes>,
    mut left: usize,
    version: i16,
    ask: SpliceAsk,
) -> Result<StreamedFetch, StreamError> {
    pipes.borrow_mut().sweep(Instant::now());
    let mut scan = FetchScan::new(version).map_err(malformed)?;
    let mut counts = SpliceCounts::default();
    let mut fields: Vec<u8> = Vec::with_capacity(256);
    let mut heads = BytesMut::new();
    loop {
        let (step, used) = scan.step(&fields).map_err(malformed)?;
        fields.drain(..used);
        match step {
            Step::Need(n) => {
                if n > left {
                    return Err(StreamError::Malformed(format!(
                        "it needs {n} more bytes than its frame's {left}"
                    )));
                }
                read_exact(stream, &mut fields, n).await?;
                counts.field_bytes += n as u64;
                left -= n;
            }
            Step::Records(len) => {
                if len > left {
                    return Err(StreamError::Malformed(format!(
                        "a record set of {len} bytes does not fit the {left} left in its frame"
                    )));
                }
                let (topic, partition) = scan
                    .current()
                    .map(|(t, p)| (t.to_string(), p))
                    .ok_or_else(|| malformed("a record set outside a partition"))?;
                let set = RecordSet {
                    stream,
                    sock,
                    pipes,
                    topic: &topic,
                    partition,
                    ask,
                };
                let (records, external) = set.read(len, &mut heads, &mut counts).await?;
                left -= len;
                scan.records_done(records, external);
            }
            Step::Done => {
                if left != 0 || !fields.is_empty() {
                    return Err(StreamError::Malformed(format!(
                        "{} bytes follow its end",
                        left + fields.len()
                    )));
                }
                let response = scan.finish().map_err(malformed)?;
                return Ok(StreamedFetch { response, counts });
            }
        }
    }
}

/// One partition's record set on the wire.
struct RecordSet<'a> {
    stream: &'a Stream,
    sock: &'a TcpStream,
    pipes: &'a RefCell<Pipes>,
    topic: &'a str,
    partition: i32,
    ask: SpliceAsk,
}

impl RecordSet<'_> {
    /// Reads `len` bytes of record set: the bytes kept in memory, and the
    /// spliced batches with their places among them.
    async fn read(
        &self,
        len: usize,
        heads: &mut BytesMut,
        counts: &mut SpliceCounts,
    ) -> Result<(Bytes, Vec<(usize, RecordBatch)>), StreamError> {
        let mut mem: Vec<u8> = Vec::new();
        let mut external = Vec::new();
        let mut rem = len;
        while rem > 0 {
            if rem < HEADER_LEN {
                self.discard(rem, counts).await?;
                break;
            }
            let at = mem.len();
            read_exact(self.stream, &mut mem, HEADER_LEN).await?;
            let mut head = [0u8; HEADER_LEN];
            head.copy_from_slice(&mem[at..]);
            rem -= HEADER_LEN;
            counts.header_bytes += HEADER_LEN as u64;
            let batch_length = i32::from_be_bytes([head[8], head[9], head[10], head[11]]);
            let Some(body) = (batch_length as i64 + LOG_OVERHEAD as i64)
                .checked_sub(HEADER_LEN as i64)
                .filter(|b| *b >= 0)
                .map(|b| b as usize)
            else {
                // Not a batch we can frame: keep the rest in memory for
                // the record-set parser to name the defect.
                read_exact(self.stream, &mut mem, rem).await?;
                counts.copied_bytes += rem as u64;
                break;
            };
            if body > rem {
                // The broker cut the last batch at the size limit.
                counts.truncated_batches += 1;
                mem.truncate(at);
                self.discard(rem, counts).await?;
                break;
            }
            rem -= body;
            if body < self.ask.min_body {
                // A small batch: producers write runs of them, so the rest
                // of the record set is read in one go, as on the copying
                // path, rather than header and records one by one.
                read_exact(self.stream, &mut mem, body + rem).await?;
                let rest = &mem[at + HEADER_LEN + body..];
                counts.copied_bytes += (body + rem) as u64;
                counts.copied_batches += 1 + complete_batches(rest);
                break;
            }
            let wanted = spliceable(&head, body, &self.ask);
            let pipe = if wanted {
                self.pipes
                    .borrow_mut()
                    .for_body(self.topic, self.partition, body, &self.ask)
                    .filter(|p| p.room() > 0)
            } else {
                None
            };
            let Some(pipe) = pipe else {
                read_exact(self.stream, &mut mem, body).await?;
                counts.copied_bytes += body as u64;
                counts.copied_batches += 1;
                counts.pipe_full_batches += u64::from(wanted);
                continue;
            };
            mem.truncate(at);
            let mut holder = PipeBody::new();
            let mut pipe = Some(pipe);
            let mut moved = 0;
            while let Some(p) = pipe.take() {
                let start = p.entered();
                let n = splice::splice_in(self.sock, &p, (body - moved).min(p.room()))
                    .await
                    .map_err(read_failed)?;
                holder.push(p, start, n);
                moved += n;
                if moved < body {
                    // That pipe is full: the rest goes on in another of the
                    // partition's (what is ahead there is ahead anyway).
                    pipe = self
                        .pipes
                        .borrow_mut()
                        .for_body(self.topic, self.partition, body - moved, &self.ask)
                        .filter(|p| p.room() > 0);
                }
            }
            counts.spliced_bytes += moved as u64;
            if moved < body {
                let mut tail = Vec::new();
                read_exact(self.stream, &mut tail, body - moved).await?;
                counts.copied_bytes += (body - moved) as u64;
                counts.pipe_full_batches += 1;
                holder.set_tail(buffers::counted(tail));
            }
            if heads.capacity() - heads.len() < HEADER_LEN {
                // One allocation for many headers.
                heads.reserve(HEADER_LEN * 64);
            }
            heads.extend_from_slice(&head);
            let header = heads.split().freeze();
            let batch = RecordBatch::with_external_body(header, ExternalBody::new(Rc::new(holder)))
                .map_err(malformed)?;
            counts.spliced_batches += 1;
            external.push((mem.len(), batch));
        }
        Ok((buffers::counted(mem), external))
    }

    async fn discard(&self, n: usize, counts: &mut SpliceCounts) -> Result<(), StreamError> {
        let scratch = self.pipes.borrow_mut().scratch();
        let Some(scratch) = scratch else {
            // No pipe to be had: read the tail a piece at a time and drop it.
            const PIECE: usize = 64 * 1024;
            let mut piece = Vec::with_capacity(n.min(PIECE));
            let mut left = n;
            while left > 0 {
                piece.clear();
                let k = left.min(PIECE);
                read_exact(self.stream, &mut piece, k).await?;
                left -= k;
            }
            counts.copied_bytes += n as u64;
            return Ok(());
        };
        splice::discard(self.sock, &scratch, n)
            .await
            .map_err(read_failed)?;
        counts.discarded_bytes += n as u64;
        Ok(())
    }
}

/// The complete batches at the start of `bytes` (by their length fields).
fn complete_batches(bytes: &[u8]) -> u64 {
    let (mut n, mut at) = (0, 0usize);
    while let Some(len) = bytes
        .get(at + 8..at + LOG_OVERHEAD)
        .map(|b| i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    {
        let Some(end) = usize::try_from(len)
            .ok()
            .and_then(|l| (at + LOG_OVERHEAD).checked_add(l))
            .filter(|&end| end <= bytes.len())
        else {
            break;
        };
        n += 1;
        at = end;
    }
    n
}

/// Whether a batch with `head` and `body` record bytes goes out as it came,
/// so its records need not be read: a v2 data batch with CreateTime stamps,
/// consecutive offsets, a known codec, at least one record, and records
/// large enough (the fetched-data filter makes the same calls from the
/// header; what it cannot forward as it is makes the loop refetch with
/// copying).
fn spliceable(head: &[u8; HEADER_LEN], body: usize, ask: &SpliceAsk) -> bool {
    body >= ask.min_body.max(1) && forwardable_as_is(head)
}

/// The reason to close for a failed splice from the socket.
fn read_failed(e: std::io::Error) -> StreamError {
    StreamError::Closed(if e.kind() == std::io::ErrorKind::UnexpectedEof {
        "closed by the broker".into()
    } else {
        format!("read failed: {e}")
    })
}

/// Appends exactly `n` bytes from `stream` to `buf`.
pub(crate) async fn read_exact(
    stream: &Stream,
    buf: &mut Vec<u8>,
    n: usize,
) -> Result<(), StreamError> {
    let want = buf.len() + n;
    while buf.len() < want {
        let b = std::mem::take(buf);
        let missing = want - b.len();
        let (res, b) = stream.read_into(b, missing).await;
        *buf = b;
        match res {
            Ok(0) => return Err(StreamError::Closed("closed by the broker".into())),
            Ok(_) => {}
            Err(e) => return Err(StreamError::Closed(format!("read failed: {e}"))),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sweep_closes_the_pipes_nothing_is_in_or_waiting_for() {
        let ask = SpliceAsk {
            min_body: 1,
            pipe_bytes: 1 << 20,
        };
        let mut pipes = Pipes::default();
        let t0 = Instant::now();
        pipes.sweep(t0);
        let idle = pipes.for_body("idle", 0, 1000, &ask).expect("a pipe");
        let busy = pipes.for_body("busy", 3, 1000, &ask).expect("a pipe");
        assert_eq!(pipes.count, 2);
        drop(idle);
        // A body (here the handle itself) still holds the busy one.
        pipes.sweep(t0 + SWEEP_EVERY / 2);
        assert_eq!(
            pipes.count, 2,
            "not yet: a sweep at most every {SWEEP_EVERY:?}"
        );
        pipes.sweep(t0 + SWEEP_EVERY);
        assert_eq!(pipes.count, 1);
        assert!(!pipes.by_partition.contains_key("idle"));
        assert!(pipes.by_partition["busy"][&3][0].is_empty());
        drop(busy);
        pipes.sweep(t0 + SWEEP_EVERY * 2);
        assert_eq!(pipes.count, 0);
        assert!(pipes.by_partition.is_empty());
    }

    #[test]
    fn only_large_batches_forwarded_as_they_came_are_spliced() {
        let ask = SpliceAsk {
            min_body: 16 * 1024,
            pipe_bytes: 1 << 20,
        };
        let mut head = [0u8; HEADER_LEN];
        head[16] = 2;
        head[23..27].copy_from_slice(&9i32.to_be_bytes());
        head[57..61].copy_from_slice(&10i32.to_be_bytes());
        assert!(spliceable(&head, 100_000, &ask));
        assert!(!spliceable(&head, 1000, &ask), "small: merged");
        assert!(!spliceable(&head, 0, &SpliceAsk { min_body: 0, ..ask }));
        head[16] = 1;
        assert!(!spliceable(&head, 100_000, &ask), "magic v1");
    }
}
