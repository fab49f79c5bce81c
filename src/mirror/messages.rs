//! Messages between the control thread and the workers. Workers never share
//! state; this is the only way anything crosses threads. Both directions
//! go through bounded channels: a worker never waits on the control thread
//! (a full inbox keeps its report for the next one), and the control
//! thread waits on a worker only to hand it work.

use std::time::Instant;

use crate::metrics::sample::PartitionSample;
use crate::mirror::counters::Counters;
use crate::offsets::map::Point;

/// Messages a worker's inbox holds before the control thread waits.
pub const TO_WORKER_CAPACITY: usize = 64;
/// Reports the control thread's inbox holds before workers hold theirs back.
pub const TO_CONTROL_CAPACITY: usize = 256;

/// A partition the control thread hands to a worker.
#[derive(Debug, Clone)]
pub struct Assignment {
    /// Names the partition in the worker's metric samples.
    pub id: u64,
    pub flow: usize,
    pub source_topic: String,
    pub target_topic: String,
    pub partition: i32,
    /// The committed position; `None` starts from the earliest offset.
    pub start_offset: Option<i64>,
    /// Where kmirror took the partition over from MirrorMaker 2, carried
    /// in its progress commits (see `progress::CommitNote`).
    pub mm2_below: Option<i64>,
    /// In a fleet, the share this assignment belongs to: one made before a
    /// later [`ToWorker::Release`] of the flow is stale and passed over.
    pub fleet_epoch: u64,
}

#[derive(Debug)]
pub enum ToWorker {
    Assign(Vec<Assignment>),
    /// Give every partition of `flow` back to the fleet: stop fetching and
    /// sending, wait for the produce requests in flight until `by` (in
    /// exactly-once mode, commit the transaction), and answer with a report
    /// holding their last positions. After it the worker says nothing more
    /// about them until they are assigned again.
    Release {
        flow: usize,
        /// The fleet's epoch after the release (see
        /// [`Assignment::fleet_epoch`]).
        epoch: u64,
        by: Instant,
        reply: tokio::sync::oneshot::Sender<Box<Report>>,
    },
    /// Exactly-once mode in a fleet: this instance's place among the
    /// members that mirror `flow`, which names its workers' transactional
    /// ids; sent (between a release and the next assignment) when it changes.
    TxnSlot {
        flow: usize,
        slot: usize,
        members: usize,
    },
    /// Stop fetching and sending; wait for the produce requests in flight
    /// until `acks_by`, report, and stop.
    Shutdown {
        acks_by: Instant,
    },
}

/// A partition's position: the source offset after everything acknowledged.
#[derive(Debug, Clone)]
pub struct Progress {
    pub flow: usize,
    pub source_topic: String,
    pub target_topic: String,
    pub partition: i32,
    pub next_offset: i64,
    /// Where the offset map ends: the source position mirrored or skipped
    /// up to and the target offset the next mirrored record gets.
    pub map_end: Option<Point>,
}

/// New points of a partition's offset map, in the order they arose.
#[derive(Debug, Clone)]
pub struct MapPoints {
    pub flow: usize,
    pub source_topic: String,
    pub target_topic: String,
    pub partition: i32,
    pub points: Vec<Point>,
}

/// A partition that stopped, with the reason for the operator.
#[derive(Debug, Clone)]
pub struct Failure {
    pub flow: usize,
    pub source_topic: String,
    pub partition: i32,
    pub reason: String,
}

/// What a worker tells the control thread periodically.
#[derive(Debug)]
pub struct Report {
    pub worker: usize,
    pub progress: Vec<Progress>,
    pub points: Vec<MapPoints>,
    pub failures: Vec<Failure>,
    /// Partitions waiting to fetch again after data they could not forward
    /// (all of this worker's, as of the report).
    pub stalled: Vec<Failure>,
    /// Counted since the worker's previous report.
    pub counts: Counters,
    /// Every partition of the worker, for the metrics endpoint.
    pub samples: Vec<PartitionSample>,
    /// CPU time the worker's thread has used since it started, ns.
    pub cpu_ns: u64,
    /// Heap allocations the worker's thread has made since it started,
    /// except those of its reports (0 without the counting allocator).
    pub allocations: u64,
}

#[derive(Debug)]
pub enum FromWorker {
    Report(Box<Report>),
    /// The worker's last word: its final report came before this.
    Stopped {
        worker: usize,
        /// Produce requests still unanswered at the deadline, given up.
        abandoned: usize,
    },
}
