//! Logs through `tracing`: human-readable lines by default, one JSON object
//! per line with `--log-format json`, filtered by `KMIRROR_LOG` (default
//! `info`). Conditions every fresh cluster goes through are said once at
//! info, not as a warning per retry.

use std::collections::HashSet;
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

impl LogFormat {
    pub fn parse(s: &str) -> Option<LogFormat> {
        match s.to_ascii_lowercase().as_str() {
            "text" => Some(LogFormat::Text),
            "json" => Some(LogFormat::Json),
            _ => None,
        }
    }
}

/// Takes `--log-format F` (or `--log-format=F`) out of a command line: the
/// format asked for (text when none), and the arguments left.
pub fn take_log_format(args: &[String]) -> Result<(LogFormat, Vec<String>), String> {
    let mut format = LogFormat::Text;
    let mut rest = Vec::with_capacity(args.len());
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let value = if a == "--log-format" {
            Some(it.next().cloned().unwrap_or_default())
        } else {
            a.strip_prefix("--log-format=").map(str::to_string)
        };
        match value {
            Some(v) => {
                format = LogFormat::parse(&v)
                    .ok_or_else(|| format!("--log-format {v:?}: expected text or json"))?;
            }
            None => rest.push(a.clone()),
        }
    }
    Ok((format, rest))
}

/// Whether log lines are JSON (set by [`init`]).
static JSON: AtomicBool = AtomicBool::new(false);

/// A command's closing error: a plain line on stderr, or with
/// `--log-format json` one more JSON line, so that every line parses.
pub fn say_error(text: &str) {
    if JSON.load(Ordering::Relaxed) {
        tracing::error!("{text}");
    } else {
        eprintln!("{text}");
    }
}

/// Installs the subscriber (once; later calls do nothing).
pub fn init(format: LogFormat) {
    JSON.store(format == LogFormat::Json, Ordering::Relaxed);
    let filter = tracing_subscriber::EnvFilter::try_from_env("KMIRROR_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder
            .with_ansi(std::io::stderr().is_terminal())
            .try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init(),
    };
}

/// Says `text` at info the first time `what` happens; later times go to
/// debug. For the expected retries of a cluster that is starting.
pub fn starting_up(what: &'static str, text: &str) {
    static SAID: Mutex<Option<HashSet<&'static str>>> = Mutex::new(None);
    let first = SAID
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get_or_insert_with(HashSet::new)
        .insert(what);
    if first {
        tracing::info!("{text} (expected while a cluster starts or moves a coordinator; retrying)");
    } else {
        tracing::debug!("{text}; retrying");
    }
}

/// Sorted numbers as ranges: `0-3,7,9-10`.
pub fn ranges(sorted: impl IntoIterator<Item = i32>) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut run: Option<(i32, i32)> = None;
    for n in sorted {
        run = match run {
            Some((a, b)) if n == b + 1 => Some((a, n)),
            Some((a, b)) => {
                out.push(range(a, b));
                Some((n, n))
            }
            None => Some((n, n)),
        };
    }
    if let Some((a, b)) = run {
        out.push(range(a, b));
    }
    out.join(",")
}

fn range(a: i32, b: i32) -> String {
    if a == b {
        a.to_string()
    } else {
        format!("{a}-{b}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_format_is_taken_out_of_the_arguments() {
        let args: Vec<String> = [
            "kmirror",
            "--log-format",
            "json",
            "m.properties",
            "--readout",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let (f, rest) = take_log_format(&args).unwrap();
        assert_eq!(f, LogFormat::Json);
        assert_eq!(rest, ["kmirror", "m.properties", "--readout"]);
        let args: Vec<String> = ["kmirror", "--log-format=TEXT"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(take_log_format(&args).unwrap().0, LogFormat::Text);
        let args: Vec<String> = ["kmirror", "--log-format", "xml"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert!(take_log_format(&args).unwrap_err().contains("text or json"));
    }

    #[test]
    fn partition_numbers_read_as_ranges() {
        assert_eq!(ranges([0, 1, 2, 3, 7, 9, 10]), "0-3,7,9-10");
        assert_eq!(ranges([5]), "5");
        assert_eq!(ranges([]), "");
    }
}
