//! The progress line of `kmirror verify`, on stderr: on a terminal a bar
//! redrawn in place, elsewhere (a log file, CI) a plain line every few
//! seconds. Never on stdout, which carries the results.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// How often the bar is redrawn on a terminal.
const REDRAW_EVERY: Duration = Duration::from_millis(200);
/// How often a plain line is written when stderr is not a terminal.
const PLAIN_EVERY: Duration = Duration::from_secs(5);
/// Records compared between two looks at the clock.
const RECORDS_PER_CLOCK_LOOK: u64 = 256;
const BAR_WIDTH: usize = 24;

/// Progress through the source ranges of every partition verified.
pub struct Progress {
    /// Source offsets in every partition's range.
    total_offsets: u64,
    /// Source offsets of the partitions finished.
    finished_offsets: u64,
    /// Source offsets passed in the partition being compared.
    current_offsets: u64,
    records: u64,
    started: Instant,
    last_shown: Instant,
    terminal: bool,
    /// A bar is on the terminal's last line, to be cleared before results.
    drawn: bool,
}

impl Progress {
    /// Progress through `total_offsets` source offsets, drawn as stderr
    /// allows.
    pub fn new(total_offsets: u64) -> Progress {
        let now = Instant::now();
        Progress {
            total_offsets,
            finished_offsets: 0,
            current_offsets: 0,
            records: 0,
            started: now,
            last_shown: now,
            terminal: std::io::stderr().is_terminal(),
            drawn: false,
        }
    }

    /// One more record compared; `passed` source offsets of the current
    /// partition are behind.
    pub fn compared(&mut self, passed: u64) {
        self.records += 1;
        self.current_offsets = passed;
        if self.records % RECORDS_PER_CLOCK_LOOK == 0 {
            self.show_if_due();
        }
    }

    /// The current partition is done; its range held `offsets` offsets.
    pub fn partition_done(&mut self, offsets: u64) {
        self.finished_offsets += offsets;
        self.current_offsets = 0;
    }

    /// Takes the bar off the terminal, so that a result line can be printed.
    pub fn clear(&mut self) {
        if self.drawn {
            eprint!("\r\x1b[2K");
            let _ = std::io::stderr().flush();
            self.drawn = false;
        }
    }

    fn show_if_due(&mut self) {
        let every = if self.terminal {
            REDRAW_EVERY
        } else {
            PLAIN_EVERY
        };
        let now = Instant::now();
        if now.duration_since(self.last_shown) < every {
            return;
        }
        self.last_shown = now;
        let done = (self.finished_offsets + self.current_offsets).min(self.total_offsets);
        let elapsed = now.duration_since(self.started);
        if self.terminal {
            eprint!(
                "\r{}\x1b[K",
                bar_line(done, self.total_offsets, self.records, elapsed)
            );
            let _ = std::io::stderr().flush();
            self.drawn = true;
        } else {
            eprintln!(
                "{}",
                plain_line(done, self.total_offsets, self.records, elapsed)
            );
        }
    }
}

/// `[#####-------]  45.2%  12345 records compared  ETA 1m23s`
pub fn bar_line(done: u64, total: u64, records: u64, elapsed: Duration) -> String {
    let filled = if total == 0 {
        BAR_WIDTH
    } else {
        (done as u128 * BAR_WIDTH as u128 / total as u128) as usize
    };
    format!(
        "[{}{}] {:5.1}%  {records} records compared  ETA {}",
        "#".repeat(filled),
        "-".repeat(BAR_WIDTH - filled),
        percent(done, total),
        eta(done, total, elapsed)
    )
}

/// `kmirror verify: 45.2% of the source range, 12345 records compared, ETA 1m23s`
pub fn plain_line(done: u64, total: u64, records: u64, elapsed: Duration) -> String {
    format!(
        "kmirror verify: {:.1}% of the source range, {records} records compared, ETA {}",
        percent(done, total),
        eta(done, total, elapsed)
    )
}

fn percent(done: u64, total: u64) -> f64 {
    if total == 0 {
        100.0
    } else {
        done as f64 * 100.0 / total as f64
    }
}

/// The time left at the rate so far: `1h02m`, `3m07s`, `12s`, or `?`
/// before there is a rate.
pub fn eta(done: u64, total: u64, elapsed: Duration) -> String {
    if done == 0 || elapsed.is_zero() {
        return "?".to_string();
    }
    let left = elapsed.as_secs_f64() * (total.saturating_sub(done)) as f64 / done as f64;
    let secs = left.round() as u64;
    match secs {
        s if s >= 3600 => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
        s if s >= 60 => format!("{}m{:02}s", s / 60, s % 60),
        s => format!("{s}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eta_follows_the_rate_so_far() {
        let ten_s = Duration::from_secs(10);
        assert_eq!(eta(0, 100, ten_s), "?");
        assert_eq!(eta(50, 100, ten_s), "10s");
        assert_eq!(eta(10, 100, ten_s), "1m30s");
        assert_eq!(eta(1, 1000, ten_s), "2h46m");
        assert_eq!(eta(100, 100, ten_s), "0s");
    }

    #[test]
    fn lines_show_percent_records_and_eta() {
        let line = bar_line(50, 200, 1234, Duration::from_secs(3));
        assert_eq!(
            line,
            "[######------------------]  25.0%  1234 records compared  ETA 9s"
        );
        assert_eq!(
            plain_line(0, 0, 0, Duration::ZERO),
            "kmirror verify: 100.0% of the source range, 0 records compared, ETA ?"
        );
        assert!(
            bar_line(7, 7, 7, Duration::from_secs(1)).starts_with(&format!("[{}]", "#".repeat(24)))
        );
    }
}
