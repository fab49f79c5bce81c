//! Messages between the control thread and the workers. Workers never share
//! state; this is the only way anything crosses threads.

use crate::mirror::summary::Counters;

/// A partition the control thread hands to a worker.
#[derive(Debug, Clone)]
pub struct Assignment {
    pub flow: usize,
    pub source_topic: String,
    pub target_topic: String,
    pub partition: i32,
    /// The committed position; `None` starts from the earliest offset.
    pub start_offset: Option<i64>,
}

#[derive(Debug)]
pub enum ToWorker {
    Assign(Vec<Assignment>),
    /// Finish what is fetched, report, and stop.
    Shutdown,
}

/// A partition's position: the source offset after everything acknowledged.
#[derive(Debug, Clone)]
pub struct Progress {
    pub flow: usize,
    pub source_topic: String,
    pub target_topic: String,
    pub partition: i32,
    pub next_offset: i64,
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
    pub failures: Vec<Failure>,
    /// Counted since the worker's previous report.
    pub counts: Counters,
}

#[derive(Debug)]
pub enum FromWorker {
    Report(Box<Report>),
    Stopped { worker: usize },
}
