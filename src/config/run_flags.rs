//! kmirror's process settings that are also command-line flags:
//! `kmirror.cpus` (`--cpus`), `kmirror.workers`, `kmirror.streams`
//! (`--streams`) and `kmirror.io` (`--io`). A tuning profile may set them,
//! the mm2.properties file wins over the profile, and a flag given on the
//! command line wins over both (the caller applies that last rule).

use crate::config::keys;
use crate::config::{ConfigError, Properties, Setting};

/// The most connections per broker a worker opens (`--streams`' range).
pub const MAX_STREAMS: u16 = 64;

/// The flags' values from the configuration; `None` where it sets none.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunFlags {
    /// `kmirror.cpus`: one pinned worker per CPU listed.
    pub cpus: Option<Vec<usize>>,
    /// `kmirror.workers`: that many workers on the first CPUs allowed.
    pub workers: Option<usize>,
    /// `kmirror.streams`.
    pub streams: Option<u16>,
    /// `kmirror.io`: `uring` or `epoll`.
    pub io: Option<String>,
}

impl RunFlags {
    /// Reads the four keys from the top level of `props`. Errors name the
    /// file (the profile's, for a key the profile set), line and key.
    pub fn from_properties(props: &Properties) -> Result<RunFlags, ConfigError> {
        let setting = |key: &'static str| {
            props.get(key).map(|entry| Setting {
                path: props.file_of(entry),
                key,
                value: entry.value.trim(),
                line: Some(entry.line),
            })
        };
        let cpus = setting(keys::CPUS)
            .map(|s| parse_cpu_list(s.value).map_err(|m| s.invalid(m)))
            .transpose()?;
        let workers = match setting(keys::WORKERS) {
            Some(s) if cpus.is_some() => {
                return Err(s.invalid(format!(
                    "cannot be combined with '{}', which already runs one worker per CPU listed; set one of the two",
                    keys::CPUS
                )))
            }
            Some(s) => match s.value.parse::<usize>() {
                Ok(n) if n >= 1 => Some(n),
                _ => return Err(s.invalid(format!("'{}' is not a number of workers (1 or more)", s.value))),
            },
            None => None,
        };
        let streams = match setting(keys::STREAMS) {
            Some(s) => match s.value.parse::<u16>() {
                Ok(n) if (1..=MAX_STREAMS).contains(&n) => Some(n),
                _ => {
                    return Err(s.invalid(format!(
                        "'{}' is not a number of connections per broker from 1 to {MAX_STREAMS}",
                        s.value
                    )))
                }
            },
            None => None,
        };
        let io = match setting(keys::IO) {
            Some(s) => match s.value.to_ascii_lowercase().as_str() {
                "uring" | "io_uring" | "io-uring" => Some("uring".to_string()),
                "epoll" => Some("epoll".to_string()),
                _ => return Err(s.invalid(format!("'{}' is neither uring nor epoll", s.value))),
            },
            None => None,
        };
        Ok(RunFlags {
            cpus,
            workers,
            streams,
            io,
        })
    }
}

/// Parses a CPU list such as `0,1` or `0-3,6`, as `--cpus` and
/// `kmirror.cpus` take it. The message says which part is wrong.
pub fn parse_cpu_list(s: &str) -> Result<Vec<usize>, String> {
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let bad = || format!("'{part}' is not a CPU number or range (e.g. 0,1 or 2-5)");
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (usize, usize) = (
                    a.trim().parse().map_err(|_| bad())?,
                    b.trim().parse().map_err(|_| bad())?,
                );
                if a > b {
                    return Err(bad());
                }
                out.extend(a..=b);
            }
            None => out.push(part.parse().map_err(|_| bad())?),
        }
    }
    if out.is_empty() {
        return Err("no CPUs given".to_string());
    }
    Ok(out)
}

/// `0-3,6` for CPUs 0, 1, 2, 3 and 6: the short form of a sorted list.
pub fn format_cpu_list(cpus: &[usize]) -> String {
    let mut parts = Vec::new();
    let mut i = 0;
    while i < cpus.len() {
        let start = cpus[i];
        let mut end = start;
        while i + 1 < cpus.len() && cpus[i + 1] == end + 1 {
            i += 1;
            end = cpus[i];
        }
        parts.push(if start == end {
            start.to_string()
        } else {
            format!("{start}-{end}")
        });
        i += 1;
    }
    parts.join(",")
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn flags(text: &str) -> Result<RunFlags, ConfigError> {
        RunFlags::from_properties(
            &Properties::parse(Path::new("f.properties"), text).expect("parses"),
        )
    }

    #[test]
    fn reads_the_four_keys() {
        assert_eq!(flags("").unwrap(), RunFlags::default());
        let got =
            flags("kmirror.cpus = 0-2,5\nkmirror.streams = 4\nkmirror.io = io_uring\n").unwrap();
        assert_eq!(got.cpus, Some(vec![0, 1, 2, 5]));
        assert_eq!(got.streams, Some(4));
        assert_eq!(got.io.as_deref(), Some("uring"));
        assert_eq!(flags("kmirror.workers = 1\n").unwrap().workers, Some(1));
    }

    #[test]
    fn bad_values_name_file_line_and_key() {
        let err = flags("\nkmirror.streams = 65\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "f.properties:2: key 'kmirror.streams': '65' is not a number of connections per broker from 1 to 64"
        );
        let err = flags("kmirror.cpus = 3-1\n").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("f.properties:1: key 'kmirror.cpus'"),
            "{err}"
        );
        let err = flags("kmirror.io = poll\n").unwrap_err();
        assert!(err.to_string().contains("neither uring nor epoll"), "{err}");
        let err = flags("kmirror.cpus = 0\nkmirror.workers = 2\n").unwrap_err();
        assert!(err.to_string().contains("kmirror.workers"), "{err}");
        assert!(flags("kmirror.workers = 0\n").is_err());
    }

    #[test]
    fn cpu_lists_both_ways() {
        assert_eq!(parse_cpu_list("0,1").unwrap(), vec![0, 1]);
        assert_eq!(parse_cpu_list("2-4,7").unwrap(), vec![2, 3, 4, 7]);
        assert!(parse_cpu_list("x").is_err());
        assert!(parse_cpu_list("").is_err());
        assert_eq!(format_cpu_list(&[0, 1, 2, 3, 6]), "0-3,6");
        assert_eq!(format_cpu_list(&[1]), "1");
        assert_eq!(format_cpu_list(&[]), "");
    }
}
