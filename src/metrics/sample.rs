//! What a worker reports about each of its partitions for the metrics
//! endpoint: counts since its previous report, windows of latencies, the
//! source's log end and the mirrored position, and the partition's state.
//! Plain data: workers fill it, the control thread folds it into metrics.

/// Minimum, maximum, sum, count and last of values (milliseconds) seen
/// since a worker's previous report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Window {
    pub n: u64,
    pub min: u64,
    pub max: u64,
    pub sum: u64,
    pub last: u64,
}

impl Window {
    pub fn record(&mut self, v: u64) {
        if self.n == 0 {
            self.min = v;
            self.max = v;
        } else {
            self.min = self.min.min(v);
            self.max = self.max.max(v);
        }
        self.n += 1;
        self.sum = self.sum.saturating_add(v);
        self.last = v;
    }

    /// Folds a later window into this one.
    pub fn merge(&mut self, later: &Window) {
        if later.n == 0 {
            return;
        }
        if self.n == 0 {
            *self = *later;
            return;
        }
        self.min = self.min.min(later.min);
        self.max = self.max.max(later.max);
        self.n += later.n;
        self.sum = self.sum.saturating_add(later.sum);
        self.last = later.last;
    }

    pub fn avg(&self) -> Option<f64> {
        (self.n > 0).then(|| self.sum as f64 / self.n as f64)
    }
}

/// A partition's state as the metrics and `/health` show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// Mirroring.
    Active,
    /// Waiting for a leader, a start offset or a producer id.
    Waiting,
    /// Fetched data it cannot forward; fetched again after a backoff.
    Stalled,
    /// Stopped for good with an error.
    Stopped,
}

impl State {
    /// The number `kmirror_partition_state` carries.
    pub fn code(self) -> i64 {
        match self {
            State::Active => 0,
            State::Waiting => 1,
            State::Stalled => 2,
            State::Stopped => 3,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            State::Active => "active",
            State::Waiting => "waiting",
            State::Stalled => "stalled",
            State::Stopped => "stopped",
        }
    }
}

/// One partition's report.
#[derive(Debug, Clone)]
pub struct PartitionSample {
    /// The assignment's id (see `Assignment::id`).
    pub id: u64,
    pub records: u64,
    pub bytes: u64,
    /// Source record timestamp to produce acknowledgement, per batch (its
    /// newest record).
    pub latency: Window,
    /// Source record timestamp to fetch, per batch (its newest record).
    pub age: Window,
    /// The source's end as the last fetch saw it (the last stable offset
    /// when reading committed data); `None` before the first fetch.
    pub log_end: Option<i64>,
    /// The source offset after everything acknowledged.
    pub position: Option<i64>,
    pub state: State,
}
