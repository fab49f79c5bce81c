//! `kmirror verify`: compares source topics with their mirrors on the
//! target, partition by partition, record by record (key, value, headers,
//! timestamp), and says whether the target holds the source's records in
//! the source's order. Offsets are not compared: MirrorMaker 2 renumbers,
//! and compaction and transactions leave gaps on one side only. Both sides
//! are streamed in lockstep, one Fetch response at a time, so memory does
//! not grow with the partitions. It reads both clusters and never writes.

pub mod compare;
pub mod progress;
pub mod reader;

use std::fmt;
use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::cli::{self, CliError, VerifyArgs};
use crate::client::{small_topic, ClientError, ClusterClient};
use crate::net::Backend;
use crate::plan::FlowPlan;
use compare::{Aligner, FieldDifference, Lockstep, RecordDigest, Skip, Step, Tally, ALIGN_RUN};
use progress::Progress;
use reader::PartitionReader;

/// The exit status when the check could not be made (a usage error, a
/// cluster that does not answer): distinct from 1, "they differ".
pub const EXIT_TROUBLE: u8 = 2;

/// Whether every partition compared was identical.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Identical,
    Differs,
}

/// Runs `kmirror verify`: prints one line per partition as it is done and
/// a total line on stdout, progress on stderr.
pub fn run(args: &VerifyArgs) -> Result<Verdict, CliError> {
    if args.target_topic.is_some() && args.topics.len() != 1 {
        return Err(CliError::Usage(
            "--target-topic names the mirror of one --topic; give exactly one".into(),
        ));
    }
    let plan = cli::pick_flow(&args.flow)?;
    let usage = |e: ClientError| CliError::Usage(e.to_string());
    crate::net::backend::run_on_this_thread(Backend::Epoll, async {
        let clients = Clients {
            source: ClusterClient::new(plan.source.clone()),
            target: ClusterClient::new(plan.target.clone()),
        };
        let pairs = partition_pairs(&plan, &clients, args).await?;
        let settings = Settings {
            wait: Duration::from_secs(args.wait),
            look_ahead: args.look_ahead,
            max_decompressed: plan.fetch.max_decompressed_bytes,
        };
        let total = pairs.iter().map(|p| p.source_offsets()).sum();
        let mut progress = Progress::new(total);
        let mut totals = Totals::default();
        for pair in &pairs {
            let result = match verify_partition(pair, &clients, &settings, &mut progress).await {
                Ok(result) => result,
                Err(e) => {
                    progress.clear();
                    return Err(usage(e));
                }
            };
            progress.partition_done(pair.source_offsets());
            progress.clear();
            println!("{}", render(pair, &result));
            totals.add(&result);
        }
        progress.clear();
        println!("{totals}");
        Ok(totals.verdict())
    })
}

/// One source partition and its mirror.
#[derive(Debug, Clone)]
pub struct PartitionPair {
    pub source_topic: String,
    pub target_topic: String,
    pub partition: i32,
    /// The source's log start and last stable offset when verify began.
    pub source_range: (i64, i64),
    pub on_target: OnTarget,
}

/// Whether the mirror of a source partition exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnTarget {
    Partition,
    /// The target topic has fewer partitions.
    NoPartition,
    NoTopic,
}

impl PartitionPair {
    fn source_offsets(&self) -> u64 {
        (self.source_range.1 - self.source_range.0).max(0) as u64
    }
}

/// What comparing one partition found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionResult {
    pub outcome: Outcome,
    /// The records that matched before the outcome.
    pub tally: Tally,
    /// Leading records of one side passed over to line the two up.
    pub skip: Option<Skip>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Every source record of the range has its match, in order.
    Identical,
    /// The first pair of records that differ.
    Differs {
        source_offset: i64,
        target_offset: i64,
        fields: Vec<FieldDifference>,
    },
    /// The target ran out (and stood still for `--wait`) with these source
    /// records left.
    Missing {
        source_offset: i64,
        records: u64,
        target_end: i64,
    },
    /// The target has no such partition, or no such topic.
    NoMirror(OnTarget),
}

/// The line printed for one partition.
pub fn render(pair: &PartitionPair, result: &PartitionResult) -> String {
    let p = pair.partition;
    let mut line = format!("{}[{p}] -> {}[{p}]: ", pair.source_topic, pair.target_topic);
    let tally = &result.tally;
    match &result.outcome {
        Outcome::Identical => match (tally.source, tally.target) {
            (Some(s), Some(t)) => line.push_str(&format!(
                "identical: {} (source offsets {}..{}, target offsets {}..{})",
                records(tally.records),
                s.0,
                s.1 + 1,
                t.0,
                t.1 + 1
            )),
            _ => line.push_str(&format!(
                "identical: 0 records (source offsets {}..{} hold none)",
                pair.source_range.0, pair.source_range.1
            )),
        },
        Outcome::Differs {
            source_offset,
            target_offset,
            fields,
        } => {
            let fields: Vec<String> = fields.iter().map(ToString::to_string).collect();
            line.push_str(&format!(
                "first difference at source offset {source_offset} / target offset {target_offset}: {}; {} identical before it",
                fields.join(", "),
                records(tally.records)
            ));
        }
        Outcome::Missing {
            source_offset,
            records: missing,
            target_end,
        } => line.push_str(&format!(
            "target is missing {} from source offset {source_offset} (the target ends at offset {target_end}; {} identical before)",
            records(*missing),
            records(tally.records)
        )),
        Outcome::NoMirror(missing) => line.push_str(&format!(
            "the target {} (the source has {} offsets, {}..{})",
            match missing {
                OnTarget::NoTopic => "topic does not exist",
                _ => "topic has no such partition",
            },
            pair.source_offsets(),
            pair.source_range.0,
            pair.source_range.1
        )),
    }
    if let Some(skip) = &result.skip {
        line.push_str(&format!("; {skip}"));
    }
    line
}

/// The total line's counts.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Totals {
    pub partitions: u64,
    pub differing: u64,
    pub records: u64,
}

impl Totals {
    pub fn add(&mut self, result: &PartitionResult) {
        self.partitions += 1;
        self.records += result.tally.records;
        if result.outcome != Outcome::Identical {
            self.differing += 1;
        }
    }

    pub fn verdict(&self) -> Verdict {
        if self.differing == 0 {
            Verdict::Identical
        } else {
            Verdict::Differs
        }
    }
}

impl fmt::Display for Totals {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let partitions = |n: u64| format!("{n} partition{}", if n == 1 { "" } else { "s" });
        if self.differing == 0 {
            write!(
                f,
                "identical: {} in {}",
                records(self.records),
                partitions(self.partitions)
            )
        } else {
            write!(
                f,
                "different: {} of {} ({} identical before any difference)",
                self.differing,
                partitions(self.partitions),
                records(self.records)
            )
        }
    }
}

fn records(n: u64) -> String {
    format!("{n} record{}", if n == 1 { "" } else { "s" })
}

struct Clients {
    source: Rc<ClusterClient>,
    target: Rc<ClusterClient>,
}

struct Settings {
    /// How long the target may stand still while it has fewer records.
    wait: Duration,
    /// Records of each side looked through for an alignment.
    look_ahead: u64,
    max_decompressed: usize,
}

/// Every partition to compare, in topic and partition order, with the
/// source range fixed now.
async fn partition_pairs(
    plan: &FlowPlan,
    clients: &Clients,
    args: &VerifyArgs,
) -> Result<Vec<PartitionPair>, CliError> {
    let usage = |e: ClientError| CliError::Usage(e.to_string());
    let mut out = Vec::new();
    for topic in &args.topics {
        let target_topic = args
            .target_topic
            .clone()
            .unwrap_or_else(|| plan.policy.format_remote_topic(&plan.source.cluster, topic));
        let source_parts = partitions_of(&clients.source, topic).await.map_err(usage)?;
        let Some(source_parts) = source_parts else {
            return Err(CliError::Usage(format!(
                "--topic {topic}: no such topic on cluster {}",
                plan.source.cluster
            )));
        };
        let target_parts = partitions_of(&clients.target, &target_topic)
            .await
            .map_err(usage)?;
        for partition in chosen(topic, &source_parts, &args.partitions)? {
            let source_range = reader::source_range(&clients.source, topic, partition)
                .await
                .map_err(usage)?;
            out.push(PartitionPair {
                source_topic: topic.clone(),
                target_topic: target_topic.clone(),
                partition,
                source_range,
                on_target: match &target_parts {
                    None => OnTarget::NoTopic,
                    Some(parts) if parts.contains(&partition) => OnTarget::Partition,
                    Some(_) => OnTarget::NoPartition,
                },
            });
        }
    }
    Ok(out)
}

/// `topic`'s partitions on `cluster`, sorted; `None` when it does not exist.
async fn partitions_of(
    cluster: &ClusterClient,
    topic: &str,
) -> Result<Option<Vec<i32>>, ClientError> {
    let meta = cluster.metadata(Some(&[topic.to_string()])).await?;
    Ok(meta
        .into_iter()
        .find(|t| t.name == topic && t.error.is_ok())
        .map(|t| {
            let mut parts: Vec<i32> = t.partitions.iter().map(|p| p.partition).collect();
            parts.sort_unstable();
            parts
        }))
}

/// The partitions of `topic` asked for (all when none was named).
fn chosen(topic: &str, existing: &[i32], asked: &[i32]) -> Result<Vec<i32>, CliError> {
    if asked.is_empty() {
        return Ok(existing.to_vec());
    }
    if let Some(missing) = asked.iter().find(|p| !existing.contains(p)) {
        return Err(CliError::Usage(format!(
            "--partition {missing}: topic {topic} has partitions 0..{}",
            existing.len()
        )));
    }
    let mut out = asked.to_vec();
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

/// Compares one partition: lines the two sides up, then walks them in
/// lockstep to the end of the source range or the first difference.
async fn verify_partition(
    pair: &PartitionPair,
    clients: &Clients,
    settings: &Settings,
    progress: &mut Progress,
) -> Result<PartitionResult, ClientError> {
    if pair.on_target != OnTarget::Partition {
        return Ok(PartitionResult {
            outcome: Outcome::NoMirror(pair.on_target),
            tally: Tally::default(),
            skip: None,
        });
    }
    let (source_start, source_end) = pair.source_range;
    let mut source = PartitionReader::new(
        clients.source.clone(),
        &pair.source_topic,
        pair.partition,
        source_start,
        Some(source_end),
        settings.max_decompressed,
    );
    let (target_start, _) =
        small_topic::bounds(&clients.target, &pair.target_topic, pair.partition).await?;
    let mut target = PartitionReader::new(
        clients.target.clone(),
        &pair.target_topic,
        pair.partition,
        target_start,
        None,
        settings.max_decompressed,
    );
    let mut still = TargetStill::new(settings.wait);
    let skip = align(&mut source, &mut target, &mut still, settings.look_ahead).await?;
    let mut walk = Lockstep::default();
    loop {
        let s = source.next().await?;
        let t = match s {
            Some(_) => next_target(&mut target, &mut still).await?,
            None => None,
        };
        let outcome = match walk.step(s, t) {
            Step::Continue => {
                let passed = s.map_or(0, |s| s.offset + 1 - source_start);
                progress.compared(passed.max(0) as u64);
                continue;
            }
            Step::SourceDone => Outcome::Identical,
            Step::TargetShort { source: first } => Outcome::Missing {
                source_offset: first.offset,
                records: 1 + count_rest(&mut source).await?,
                target_end: target.high_watermark(),
            },
            Step::Different {
                source,
                target,
                fields,
            } => Outcome::Differs {
                source_offset: source.offset,
                target_offset: target.offset,
                fields,
            },
        };
        return Ok(PartitionResult {
            outcome,
            tally: walk.tally,
            skip,
        });
    }
}

/// When the two sides' first records differ, finds where they line up
/// (see [`Aligner`]) and leaves both readers there; otherwise, or when no
/// alignment is found within the look-ahead, leaves both at their first
/// records so that the walk reports the difference.
async fn align(
    source: &mut PartitionReader,
    target: &mut PartitionReader,
    still: &mut TargetStill,
    look_ahead: u64,
) -> Result<Option<Skip>, ClientError> {
    let source_first = source.peek(ALIGN_RUN).await?;
    let Some(source_from) = source_first.first().copied() else {
        return Ok(None);
    };
    let target_first = peek_target(target, still).await?;
    let Some(target_from) = target_first.first().copied() else {
        return Ok(None);
    };
    if source_from.same_data(&target_from) {
        return Ok(None);
    }
    let mut aligner = Aligner::new(source_first, target_first);
    let mut skip = None;
    // A side that ran out is not asked again: at the target's end each
    // ask is a Fetch the broker holds for half a second.
    let (mut source_left, mut target_left) = (true, true);
    while skip.is_none() && (source_left || target_left) && aligner.looked_at() < look_ahead {
        let s = if source_left {
            source.next().await?
        } else {
            None
        };
        let t = if target_left {
            target.next().await?
        } else {
            None
        };
        (source_left, target_left) = (s.is_some(), t.is_some());
        skip = s
            .and_then(|r| aligner.feed_source(r))
            .or_else(|| t.and_then(|r| aligner.feed_target(r)));
    }
    // The readers went past where the walk starts: put them back.
    let (source_at, target_at) = match skip {
        Some(Skip {
            side: compare::Side::Source,
            to,
            ..
        }) => (to, target_from.offset),
        Some(Skip {
            side: compare::Side::Target,
            to,
            ..
        }) => (source_from.offset, to),
        None => (source_from.offset, target_from.offset),
    };
    source.seek(source_at);
    target.seek(target_at);
    Ok(skip)
}

/// How long the target has had nothing new, measured from the first
/// empty look since it last gave a record: a target still catching up
/// gets `wait` of standing still, not `wait` in all.
struct TargetStill {
    wait: Duration,
    since: Option<Instant>,
}

impl TargetStill {
    fn new(wait: Duration) -> TargetStill {
        TargetStill { wait, since: None }
    }

    fn moved(&mut self) {
        self.since = None;
    }

    /// After an empty look: whether the target has now stood still for
    /// `wait`.
    fn waited_out(&mut self) -> bool {
        self.since.get_or_insert_with(Instant::now).elapsed() >= self.wait
    }
}

/// Between two looks at a target that had nothing new (each look is a
/// Fetch the broker holds for up to 500 ms when there is nothing).
const RECHECK_PAUSE: Duration = Duration::from_millis(100);

/// The target's first records, waiting for any to arrive.
async fn peek_target(
    target: &mut PartitionReader,
    still: &mut TargetStill,
) -> Result<Vec<RecordDigest>, ClientError> {
    loop {
        let first = target.peek(ALIGN_RUN).await?;
        if !first.is_empty() {
            still.moved();
            return Ok(first);
        }
        if still.waited_out() {
            return Ok(first);
        }
        tokio::time::sleep(RECHECK_PAUSE).await;
    }
}

/// The target's next record, waiting while it stands still.
async fn next_target(
    target: &mut PartitionReader,
    still: &mut TargetStill,
) -> Result<Option<RecordDigest>, ClientError> {
    loop {
        if let Some(r) = target.next().await? {
            still.moved();
            return Ok(Some(r));
        }
        if still.waited_out() {
            return Ok(None);
        }
        tokio::time::sleep(RECHECK_PAUSE).await;
    }
}

/// The records the source range still holds, read to its end.
async fn count_rest(source: &mut PartitionReader) -> Result<u64, ClientError> {
    let mut n = 0;
    while source.next().await?.is_some() {
        n += 1;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair() -> PartitionPair {
        PartitionPair {
            source_topic: "orders".into(),
            target_topic: "A.orders".into(),
            partition: 2,
            source_range: (0, 120),
            on_target: OnTarget::Partition,
        }
    }

    fn tally(records: u64, source: (i64, i64), target: (i64, i64)) -> Tally {
        Tally {
            records,
            source: Some(source),
            target: Some(target),
        }
    }

    #[test]
    fn identical_partition_line() {
        let result = PartitionResult {
            outcome: Outcome::Identical,
            tally: tally(120, (0, 119), (0, 119)),
            skip: None,
        };
        assert_eq!(
            render(&pair(), &result),
            "orders[2] -> A.orders[2]: identical: 120 records (source offsets 0..120, target offsets 0..120)"
        );
        let empty = PartitionResult {
            outcome: Outcome::Identical,
            tally: Tally::default(),
            skip: None,
        };
        assert_eq!(
            render(&pair(), &empty),
            "orders[2] -> A.orders[2]: identical: 0 records (source offsets 0..120 hold none)"
        );
    }

    #[test]
    fn difference_line_names_offsets_fields_and_skip() {
        let result = PartitionResult {
            outcome: Outcome::Differs {
                source_offset: 77,
                target_offset: 80,
                fields: vec![
                    FieldDifference::Value {
                        source: Some(100),
                        target: Some(100),
                    },
                    FieldDifference::Timestamp {
                        source: 5,
                        target: 6,
                    },
                ],
            },
            tally: tally(70, (7, 76), (10, 79)),
            skip: Some(Skip {
                side: compare::Side::Source,
                records: 7,
                from: 0,
                to: 7,
            }),
        };
        assert_eq!(
            render(&pair(), &result),
            "orders[2] -> A.orders[2]: first difference at source offset 77 / target offset 80: \
             value differs (source 100 bytes, target 100 bytes), timestamp differs (source 5, target 6); \
             70 records identical before it; \
             skipped 7 leading source records (offsets 0..7) the target does not have"
        );
    }

    #[test]
    fn missing_and_absent_partition_lines() {
        let missing = PartitionResult {
            outcome: Outcome::Missing {
                source_offset: 100,
                records: 20,
                target_end: 100,
            },
            tally: tally(100, (0, 99), (0, 99)),
            skip: None,
        };
        assert_eq!(
            render(&pair(), &missing),
            "orders[2] -> A.orders[2]: target is missing 20 records from source offset 100 (the target ends at offset 100; 100 records identical before)"
        );
        let absent = PartitionResult {
            outcome: Outcome::NoMirror(OnTarget::NoPartition),
            tally: Tally::default(),
            skip: None,
        };
        assert!(render(&pair(), &absent).ends_with(
            "the target topic has no such partition (the source has 120 offsets, 0..120)"
        ));
        let no_topic = PartitionResult {
            outcome: Outcome::NoMirror(OnTarget::NoTopic),
            ..absent
        };
        assert_eq!(
            render(&pair(), &no_topic),
            "orders[2] -> A.orders[2]: the target topic does not exist (the source has 120 offsets, 0..120)"
        );
    }

    #[test]
    fn totals_line_and_verdict() {
        let mut totals = Totals::default();
        let same = PartitionResult {
            outcome: Outcome::Identical,
            tally: tally(10, (0, 9), (0, 9)),
            skip: None,
        };
        totals.add(&same);
        totals.add(&same);
        assert_eq!(totals.to_string(), "identical: 20 records in 2 partitions");
        assert_eq!(totals.verdict(), Verdict::Identical);
        totals.add(&PartitionResult {
            outcome: Outcome::NoMirror(OnTarget::NoTopic),
            ..same
        });
        assert_eq!(
            totals.to_string(),
            "different: 1 of 3 partitions (30 records identical before any difference)"
        );
        assert_eq!(totals.verdict(), Verdict::Differs);
    }

    #[test]
    fn partitions_chosen() {
        assert_eq!(chosen("t", &[0, 1, 2], &[]).unwrap(), vec![0, 1, 2]);
        assert_eq!(chosen("t", &[0, 1, 2], &[2, 0, 2]).unwrap(), vec![0, 2]);
        assert!(chosen("t", &[0, 1, 2], &[3]).is_err());
    }
}
