//! The chaos run's markdown report. bench/results/chaos.md keeps one
//! section per mode, each replaced by that mode's latest run, so that the
//! at-least-once and the exactly-once run stand side by side.

use std::fmt::Write as _;
use std::time::Duration;

use kmirror_harness::sequence::{Delivery, SequenceCheck};
use kmirror_harness::stream::StreamTotals;

use super::broker_fault::BrokerFaultOutcome;
use super::schedule::{Schedule, Side};
use super::supervisor::{Run, RunEnd};
use super::ChaosArgs;

/// Everything a run found out.
pub struct Outcome<'a> {
    pub args: &'a ChaosArgs,
    pub command: String,
    pub revision: String,
    pub schedule: &'a Schedule,
    pub kills_done: u32,
    pub kills_skipped: u32,
    /// (side, connections reset) of every cut done.
    pub cuts_done: Vec<(Side, usize)>,
    /// Connections relayed, and reset on arrival during outages, per side
    /// (source, target).
    pub relayed: (u64, u64),
    pub refused: (u64, u64),
    pub broker_faults: Vec<BrokerFaultOutcome>,
    pub runs: &'a [Run],
    pub stream: StreamTotals,
    /// From the start of the stream.
    pub stream_took: Duration,
    /// From the end of the stream (and of the faults) until kmirror's
    /// committed progress covered the source, or why it never did.
    pub catch_up: Result<Duration, String>,
    pub check: &'a SequenceCheck,
    pub wall: Duration,
    /// (time from the start of the stream, what happened).
    pub timeline: Vec<(Duration, String)>,
    pub log_dir: String,
    /// Why the run failed; empty when it passed.
    pub failures: Vec<String>,
}

impl Outcome<'_> {
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }

    /// The one-line verdict printed at the end.
    pub fn verdict(&self) -> String {
        let t = self.check.totals();
        format!(
            "chaos {}: {} - {} source records, {} on the target; {} missing, {} duplicates, {} reordered; \
             {} kills, {} broker faults, {} cuts; wall {:.0} s{}",
            mode_name(self.check.delivery),
            if self.passed() { "PASS" } else { "FAIL" },
            t.source_records,
            t.target_records,
            t.missing,
            t.duplicates,
            t.reordered,
            self.kills_done,
            self.broker_faults.iter().filter(|f| f.error.is_none()).count(),
            self.cuts_done.len(),
            self.wall.as_secs_f64(),
            if self.passed() {
                String::new()
            } else {
                format!(" ({})", self.failures.join("; "))
            }
        )
    }

    /// This run's section of the report, between its mode's markers.
    pub fn section(&self) -> String {
        let a = self.args;
        let t = self.check.totals();
        let mode = mode_name(self.check.delivery);
        let mut s = String::new();
        let _ = writeln!(s, "{}", begin_marker(self.check.delivery));
        let _ = writeln!(s, "## {} (`--mode {}`)\n", title(self.check.delivery), mode);
        let _ = writeln!(s, "**{}**\n", self.verdict());
        let _ = writeln!(s, "`{}` at {}\n", self.command, self.revision);
        let _ = writeln!(s, "| | |\n|---|---|");
        let row = |s: &mut String, k: &str, v: String| {
            let _ = writeln!(s, "| {k} | {v} |");
        };
        row(
            &mut s,
            "stream",
            format!(
                "{} records to {} partitions ({}), {} acknowledged, {} failed{}; took {:.1} s",
                self.stream.sent,
                a.partitions,
                if a.rate == 0 {
                    "a backlog produced before kmirror started".to_owned()
                } else {
                    format!("{} records/s while the faults ran", a.rate)
                },
                self.stream.acked,
                self.stream.failed,
                self.stream
                    .first_error
                    .as_ref()
                    .map(|e| format!(" (first error: {e})"))
                    .unwrap_or_default(),
                self.stream_took.as_secs_f64()
            ),
        );
        if a.instances > 1 {
            row(
                &mut s,
                "kmirror instances",
                format!(
                    "{} sharing the flow as a fleet (`tasks.max = {}`, session 6 s); each kill hits one drawn from the seed",
                    a.instances, a.instances
                ),
            );
        }
        row(
            &mut s,
            "kmirror kills (SIGKILL, restarted)",
            format!(
                "{} done of {} planned{}",
                self.kills_done,
                self.schedule.kills.len(),
                if self.kills_skipped > 0 {
                    format!(", {} found kmirror not running", self.kills_skipped)
                } else {
                    String::new()
                }
            ),
        );
        let faults: Vec<String> = self.broker_faults.iter().map(describe_fault).collect();
        row(
            &mut s,
            "broker faults",
            if faults.is_empty() {
                "none (`--broker-faults off`)".to_owned()
            } else {
                faults.join("<br>")
            },
        );
        let by_side = |side: Side| self.cuts_done.iter().filter(move |(s, _)| *s == side);
        row(
            &mut s,
            "connection cuts",
            format!(
                "{} done of {} planned: source {} ({} connections reset, {} reset on arrival during outages), \
                 target {} ({} reset, {} on arrival); kmirror opened {} connections to the source and {} to the target in all",
                self.cuts_done.len(),
                self.schedule.cuts.len(),
                by_side(Side::Source).count(),
                by_side(Side::Source).map(|(_, n)| n).sum::<usize>(),
                self.refused.0,
                by_side(Side::Target).count(),
                by_side(Side::Target).map(|(_, n)| n).sum::<usize>(),
                self.refused.1,
                self.relayed.0,
                self.relayed.1
            ),
        );
        row(&mut s, "kmirror runs and exits", describe_runs(self.runs));
        row(
            &mut s,
            "catch-up after the stream and faults",
            match &self.catch_up {
                Ok(d) => format!("{:.1} s", d.as_secs_f64()),
                Err(e) => format!("**never**: {e}"),
            },
        );
        row(&mut s, "source records", t.source_records.to_string());
        row(
            &mut s,
            "target records",
            format!("{} (read_committed)", t.target_records),
        );
        row(&mut s, "missing", t.missing.to_string());
        row(&mut s, "duplicates", t.duplicates.to_string());
        row(&mut s, "reordered", t.reordered.to_string());
        row(
            &mut s,
            "foreign / altered",
            format!("{} / {}", t.foreign, t.altered),
        );
        row(
            &mut s,
            "wall time",
            format!("{:.0} s", self.wall.as_secs_f64()),
        );
        row(&mut s, "kmirror logs", format!("`{}`", self.log_dir));

        if !self.failures.is_empty() {
            let _ = writeln!(s, "\n### Failures\n");
            for f in &self.failures {
                let _ = writeln!(s, "- {f}");
            }
            for p in self.check.problems() {
                let _ = writeln!(s, "- {p}");
            }
        }

        let _ = writeln!(
            s,
            "\n### Per partition\n\n| partition | source | target | missing | duplicates | reordered |\n|---:|---:|---:|---:|---:|---:|"
        );
        for p in &self.check.partitions {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} |",
                p.partition,
                p.source_records,
                p.target_records,
                p.missing,
                p.duplicates,
                p.reordered
            );
        }

        let _ = writeln!(
            s,
            "\n### What happened\n\nSeed {}, a fault window of {:.0} s. Times in seconds from the start of the stream.\n\n| t (s) | event |\n|---:|---|",
            self.schedule.seed,
            self.schedule.window.as_secs_f64()
        );
        let mut timeline = self.timeline.clone();
        timeline.sort_by_key(|(at, _)| *at);
        for (at, what) in &timeline {
            let _ = writeln!(s, "| {:.1} | {what} |", at.as_secs_f64());
        }
        let _ = writeln!(s, "{}", end_marker(self.check.delivery));
        s
    }
}

/// The report with `section` in place of its mode's previous section (or
/// added), under a header that explains the tool.
pub fn merge(previous: &str, delivery: Delivery, section: &str) -> String {
    let mut sections: Vec<(Delivery, String)> = Vec::new();
    for mode in [Delivery::AtLeastOnce, Delivery::ExactlyOnce] {
        if mode == delivery {
            sections.push((mode, section.to_owned()));
            continue;
        }
        let (begin, end) = (begin_marker(mode), end_marker(mode));
        if let (Some(a), Some(b)) = (previous.find(&begin), previous.find(&end)) {
            if a < b {
                let mut kept = previous[a..b + end.len()].to_owned();
                kept.push('\n');
                sections.push((mode, kept));
            }
        }
    }
    let mut out = String::from(HEADER);
    for (_, section) in sections {
        out.push('\n');
        out.push_str(&section);
    }
    out
}

const HEADER: &str = "# kmirror under faults (`kmirror-bench chaos`)

Two local Kafka clusters of three brokers each (KRaft; node 1 of each is also
its only controller and is never killed). The mirrored topic has replication
factor 3 and `min.insync.replicas=2` on both sides. An idempotent Java
producer (acks=all) writes a numbered stream to the source: record *n* goes
to partition *n* mod P and its value carries *n*. kmirror (target/release)
reaches every broker of both clusters through a relay of its own, placed
where the brokers advertise themselves (an extra listener), and the fault
schedule, drawn from the seed, runs while the stream flows:

- **kills**: SIGKILL of kmirror at random moments, restarted 0-2 s later;
- **broker faults**: the broker that leads the most mirrored partitions on
  the source is killed, left down until its partitions have new leaders
  and 10 s more, restarted, and waited for until every replica is back in
  sync; then the same on the target;
- **cuts**: every connection of kmirror to one cluster reset by the relays
  at once, and new ones reset on arrival for an outage of 0-3 s.

Afterwards kmirror is left running until its committed progress covers the
source, stopped with SIGTERM, and both topics are read back with Kafka's Java
consumer (the target read_committed). The check goes record by record, per
partition: at least once means every source record is on the target and
first copies come in source order (duplicates are counted, not failed);
exactly once means the target is the source, each record once, in order.
A run also fails if kmirror exits on its own, never catches up, or does not
stop cleanly.
";

fn begin_marker(d: Delivery) -> String {
    format!("<!-- chaos:{} -->", mode_name(d))
}

fn end_marker(d: Delivery) -> String {
    format!("<!-- /chaos:{} -->", mode_name(d))
}

pub fn mode_name(d: Delivery) -> &'static str {
    match d {
        Delivery::AtLeastOnce => "alo",
        Delivery::ExactlyOnce => "eos",
    }
}

fn title(d: Delivery) -> &'static str {
    match d {
        Delivery::AtLeastOnce => "At least once",
        Delivery::ExactlyOnce => "Exactly once",
    }
}

fn describe_fault(f: &BrokerFaultOutcome) -> String {
    let secs =
        |d: Option<Duration>| d.map_or("-".to_owned(), |d| format!("{:.1} s", d.as_secs_f64()));
    let mut s = match f.broker {
        Some(b) => format!(
            "{} broker {b} (led partitions {:?}) killed at {:.1} s: new leaders {:?} after {}, restarted after {}, in sync after {}",
            f.side,
            f.led,
            f.started.as_secs_f64(),
            f.new_leaders,
            secs(f.moved_after),
            secs(f.restarted_after),
            secs(f.in_sync_after)
        ),
        None => format!("{} broker fault at {:.1} s", f.side, f.started.as_secs_f64()),
    };
    if let Some(e) = &f.error {
        let _ = write!(s, " **not completed: {e}**");
    }
    s
}

fn describe_runs(runs: &[Run]) -> String {
    let count = |want: fn(&RunEnd) -> bool| {
        runs.iter()
            .filter(|r| r.ended.as_ref().is_some_and(|(_, e)| want(e)))
            .count()
    };
    let killed = count(|e| matches!(e, RunEnd::Killed));
    let mut s = format!("{} runs: {killed} killed by the schedule", runs.len());
    for r in runs {
        match r.ended {
            Some((at, RunEnd::Exited(code))) => {
                let _ = write!(
                    s,
                    "; **exited on its own with {} at {:.1} s** (`{}`)",
                    code.map_or("a signal".to_owned(), |c| format!("status {c}")),
                    at.as_secs_f64(),
                    r.log.display()
                );
            }
            Some((_, RunEnd::Stopped(code))) => {
                let _ = write!(
                    s,
                    "; the last stopped by SIGTERM with {}",
                    code.map_or("a signal".to_owned(), |c| format!("status {c}"))
                );
            }
            Some((_, RunEnd::StopTimedOut(grace))) => {
                let _ = write!(
                    s,
                    "; **the last still ran {:.0} s after SIGTERM** (killed)",
                    grace.as_secs_f64()
                );
            }
            _ => {}
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mode_replaces_its_own_section_and_keeps_the_other() {
        let alo = format!(
            "{}\nold alo\n{}\n",
            begin_marker(Delivery::AtLeastOnce),
            end_marker(Delivery::AtLeastOnce)
        );
        let eos = format!(
            "{}\neos\n{}\n",
            begin_marker(Delivery::ExactlyOnce),
            end_marker(Delivery::ExactlyOnce)
        );
        let first = merge("", Delivery::AtLeastOnce, &alo);
        let both = merge(&first, Delivery::ExactlyOnce, &eos);
        let new_alo = alo.replace("old alo", "new alo");
        let again = merge(&both, Delivery::AtLeastOnce, &new_alo);
        assert!(again.starts_with(HEADER));
        assert!(again.contains("new alo") && again.contains("\neos\n"));
        assert!(!again.contains("old alo"));
        assert!(again.find("new alo") < again.find("\neos\n"));
    }
}
