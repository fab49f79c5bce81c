//! The host settings a tuning profile needs, its `host.*` keys: sysctls
//! such as `host.net.core.rmem_max = 67108864` and the open-file limit
//! `host.limits.nofile = 65536`. They are typed here, once; `kmirror tune
//! check` compares them with the host and prints the fixes. kmirror never
//! changes the host itself, and mirroring ignores these keys.

use std::path::PathBuf;

use crate::config::keys;
use crate::config::{ConfigError, Properties, Setting};

/// One host setting a profile (or the mm2.properties file) asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostSetting {
    pub what: HostKey,
    pub want: Want,
    /// Where it was set, for messages.
    pub path: PathBuf,
    pub line: usize,
}

/// What a host setting is about.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum HostKey {
    /// A sysctl, by its dotted name (`net.core.rmem_max`).
    Sysctl(String),
    /// The soft open-file limit (RLIMIT_NOFILE), `host.limits.nofile`.
    OpenFiles,
}

/// What value passes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Want {
    /// A size or limit: the host's value or more.
    AtLeast(u64),
    /// `min default max` triples such as `net.ipv4.tcp_rmem`: each field at
    /// least the one asked for.
    EachAtLeast(Vec<u64>),
    /// The host's value or less (`vm.swappiness`).
    AtMost(u64),
    /// A budget where 0 means no limit (`fs.pipe-user-pages-soft`): 0, or
    /// the host's value or more.
    Budget(u64),
    /// A name (`bbr`, `fq`) or a switch, compared as written.
    Exactly(String),
}

/// How a known sysctl compares, and why a mirror cares (said next to a
/// difference).
#[derive(Clone, Copy)]
enum Compare {
    AtLeast,
    EachAtLeast,
    AtMost,
    Budget,
    Exactly,
}

/// The sysctls kmirror's profiles use. Others may be given too; they are
/// compared exactly as written.
const KNOWN: &[(&str, Compare, &str)] = &[
    (
        "net.core.rmem_max",
        Compare::AtLeast,
        "the kernel caps a socket's receive buffer (and so its TCP window) at this",
    ),
    (
        "net.core.wmem_max",
        Compare::AtLeast,
        "the kernel caps a socket's send buffer at this",
    ),
    (
        "net.ipv4.tcp_rmem",
        Compare::EachAtLeast,
        "receive autotuning's min, default and max for sockets that set no buffer",
    ),
    (
        "net.ipv4.tcp_wmem",
        Compare::EachAtLeast,
        "send autotuning's min, default and max for sockets that set no buffer",
    ),
    (
        "net.core.netdev_max_backlog",
        Compare::AtLeast,
        "packets queued per CPU before the kernel drops them at 10 Gbit/s and up",
    ),
    (
        "net.ipv4.tcp_congestion_control",
        Compare::Exactly,
        "the default congestion control, and one unprivileged processes may choose",
    ),
    (
        "net.core.default_qdisc",
        Compare::Exactly,
        "the queueing discipline of interfaces; fq paces BBR",
    ),
    (
        "net.ipv4.tcp_slow_start_after_idle",
        Compare::Exactly,
        "1 shrinks an idle connection's window back to slow start",
    ),
    (
        "net.ipv4.tcp_mtu_probing",
        Compare::Exactly,
        "finds the path MTU where ICMP is filtered",
    ),
    (
        "kernel.io_uring_disabled",
        Compare::AtMost,
        "1 limits io_uring to one group, 2 turns it off: kmirror then runs on epoll",
    ),
    (
        "vm.swappiness",
        Compare::AtMost,
        "how eagerly the kernel swaps out process memory such as fetch buffers",
    ),
    (
        "fs.nr_open",
        Compare::AtLeast,
        "the most file descriptors any process may be allowed",
    ),
    (
        "fs.pipe-max-size",
        Compare::AtLeast,
        "the largest pipe an unprivileged process may have; the splice path moves up to this much of a partition's records per pipe",
    ),
    (
        "fs.pipe-user-pages-soft",
        Compare::Budget,
        "pages all pipes of one user may hold (0: no limit); past it new pipes get 2 pages, too small for the splice path, which then reads records into memory",
    ),
    (
        "fs.pipe-user-pages-hard",
        Compare::Budget,
        "pages all pipes of one user may hold (0: no limit); past it no new pipe can be opened, and the splice path reads records into memory",
    ),
];

const NOFILE: &str = "limits.nofile";

impl HostKey {
    /// The name as written after `host.`.
    pub fn name(&self) -> &str {
        match self {
            HostKey::Sysctl(name) => name,
            HostKey::OpenFiles => NOFILE,
        }
    }

    /// Why kmirror cares, for known settings.
    pub fn why(&self) -> Option<&'static str> {
        match self {
            HostKey::Sysctl(name) => KNOWN
                .iter()
                .find(|(known, _, _)| known == name)
                .map(|(_, _, why)| *why),
            HostKey::OpenFiles => {
                Some("every broker connection of every worker and stream is a file descriptor")
            }
        }
    }
}

impl Want {
    /// Whether `found` (as the host reports it) passes.
    pub fn accepts(&self, found: &str) -> bool {
        match self {
            Want::AtLeast(n) => parse_u64(found).is_some_and(|v| v >= *n),
            Want::AtMost(n) => parse_u64(found).is_some_and(|v| v <= *n),
            Want::Budget(n) => parse_u64(found).is_some_and(|v| v == 0 || v >= *n),
            Want::EachAtLeast(want) => {
                let got: Option<Vec<u64>> = found.split_whitespace().map(parse_u64).collect();
                got.is_some_and(|got| {
                    got.len() == want.len() && got.iter().zip(want).all(|(g, w)| g >= w)
                })
            }
            Want::Exactly(text) => normalise(found) == normalise(text),
        }
    }

    /// The value to set, as sysctl and sysctl.d files write it.
    pub fn value(&self) -> String {
        match self {
            Want::AtLeast(n) | Want::AtMost(n) | Want::Budget(n) => n.to_string(),
            Want::EachAtLeast(v) => v.iter().map(u64::to_string).collect::<Vec<_>>().join(" "),
            Want::Exactly(text) => normalise(text),
        }
    }

    /// "at least 67108864", "at most 10", "bbr".
    pub fn describe(&self) -> String {
        match self {
            Want::AtLeast(_) => format!("at least {}", self.value()),
            Want::EachAtLeast(_) => format!("each at least {}", self.value()),
            Want::AtMost(_) => format!("at most {}", self.value()),
            Want::Budget(_) => format!("at least {} (or 0, no limit)", self.value()),
            Want::Exactly(_) => self.value(),
        }
    }
}

/// The `host.*` settings of `props`, in key order, each checked: a value
/// that does not parse is an error naming its file, line and key.
pub fn host_settings(props: &Properties) -> Result<Vec<HostSetting>, ConfigError> {
    let mut out = Vec::new();
    for (key, entry) in props.with_prefix(keys::HOST_PREFIX) {
        let full = format!("{}{key}", keys::HOST_PREFIX);
        let setting = Setting {
            path: props.file_of(entry),
            key: &full,
            value: entry.value.trim(),
            line: Some(entry.line),
        };
        let (what, compare) = if key == NOFILE {
            (HostKey::OpenFiles, Compare::AtLeast)
        } else if key.starts_with("limits.") {
            return Err(setting.invalid(format!(
                "is not a limit kmirror checks; the one it checks is '{}{NOFILE}'",
                keys::HOST_PREFIX
            )));
        } else if !key.is_empty()
            && key.contains('.')
            && key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        {
            let compare = KNOWN
                .iter()
                .find(|(known, _, _)| *known == key)
                .map_or(Compare::Exactly, |(_, compare, _)| *compare);
            (HostKey::Sysctl(key.to_string()), compare)
        } else {
            return Err(setting.invalid(
                "is not a sysctl name (e.g. 'host.net.core.rmem_max') nor 'host.limits.nofile'",
            ));
        };
        let want = parse_want(compare, &setting)?;
        out.push(HostSetting {
            what,
            want,
            path: setting.path.to_path_buf(),
            line: entry.line,
        });
    }
    Ok(out)
}

fn parse_want(compare: Compare, setting: &Setting<'_>) -> Result<Want, ConfigError> {
    let number = || {
        parse_u64(setting.value)
            .ok_or_else(|| setting.invalid(format!("'{}' is not a whole number", setting.value)))
    };
    Ok(match compare {
        Compare::AtLeast => Want::AtLeast(number()?),
        Compare::AtMost => Want::AtMost(number()?),
        Compare::Budget => Want::Budget(number()?),
        Compare::EachAtLeast => {
            let fields: Option<Vec<u64>> =
                setting.value.split_whitespace().map(parse_u64).collect();
            match fields {
                Some(fields) if fields.len() == 3 => Want::EachAtLeast(fields),
                _ => {
                    return Err(setting.invalid(format!(
                        "'{}' is not three whole numbers (min default max), e.g. '4096 131072 67108864'",
                        setting.value
                    )))
                }
            }
        }
        Compare::Exactly => {
            if setting.value.is_empty() {
                return Err(setting.invalid("is empty"));
            }
            Want::Exactly(setting.value.to_string())
        }
    })
}

fn parse_u64(text: &str) -> Option<u64> {
    text.trim().parse().ok()
}

/// Whitespace runs as one space, as /proc/sys prints tabs between fields.
fn normalise(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn settings(text: &str) -> Result<Vec<HostSetting>, ConfigError> {
        host_settings(&Properties::parse(Path::new("p.properties"), text).expect("parses"))
    }

    #[test]
    fn typed_by_what_they_are() {
        let got = settings(
            "host.net.core.rmem_max = 67108864\n\
             host.net.ipv4.tcp_rmem = 4096 131072 67108864\n\
             host.vm.swappiness = 10\n\
             host.net.core.default_qdisc = fq\n\
             host.limits.nofile = 65536\n\
             host.net.ipv4.tcp_fastopen = 3\n\
             other = 1\n",
        )
        .expect("valid");
        let wants: Vec<(&str, &Want)> = got.iter().map(|s| (s.what.name(), &s.want)).collect();
        assert_eq!(
            wants,
            vec![
                ("limits.nofile", &Want::AtLeast(65536)),
                ("net.core.default_qdisc", &Want::Exactly("fq".into())),
                ("net.core.rmem_max", &Want::AtLeast(67108864)),
                ("net.ipv4.tcp_fastopen", &Want::Exactly("3".into())),
                (
                    "net.ipv4.tcp_rmem",
                    &Want::EachAtLeast(vec![4096, 131072, 67108864])
                ),
                ("vm.swappiness", &Want::AtMost(10)),
            ]
        );
        assert_eq!(got[0].what, HostKey::OpenFiles);
        assert_eq!(got[2].line, 1);
    }

    #[test]
    fn comparisons() {
        assert!(Want::AtLeast(100).accepts("100"));
        assert!(Want::AtLeast(100).accepts("4194304\n"));
        assert!(!Want::AtLeast(67108864).accepts("4194304"));
        assert!(!Want::AtLeast(1).accepts("?"));
        assert!(Want::AtMost(10).accepts("0"));
        assert!(!Want::AtMost(10).accepts("60"));
        assert!(Want::Budget(262144).accepts("0"));
        assert!(Want::Budget(262144).accepts("262144"));
        assert!(!Want::Budget(262144).accepts("16384"));
        assert!(!Want::Budget(1).accepts("?"));
        let triple = Want::EachAtLeast(vec![4096, 131072, 67108864]);
        assert!(triple.accepts("4096\t131072\t67108864"));
        assert!(!triple.accepts("4096\t131072\t33554432"));
        assert!(!triple.accepts("4096 131072"));
        assert!(Want::Exactly("bbr".into()).accepts("bbr\n"));
        assert!(!Want::Exactly("fq".into()).accepts("pfifo_fast"));
        assert_eq!(triple.describe(), "each at least 4096 131072 67108864");
    }

    #[test]
    fn bad_values_name_file_line_and_key() {
        let err = settings("\nhost.net.core.rmem_max = lots\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "p.properties:2: key 'host.net.core.rmem_max': 'lots' is not a whole number"
        );
        let err = settings("host.net.ipv4.tcp_wmem = 4096 16384\n").unwrap_err();
        assert!(err.to_string().contains("three whole numbers"), "{err}");
        let err = settings("host.limits.memlock = 1\n").unwrap_err();
        assert!(err.to_string().contains("host.limits.nofile"), "{err}");
        let err = settings("host.rmem_max = 1\n").unwrap_err();
        assert!(err.to_string().contains("not a sysctl name"), "{err}");
    }
}
