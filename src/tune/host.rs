//! What `kmirror tune check` finds on the host: sysctls, CPUs, io_uring,
//! the open-file limit and swap. Read-only: it never changes a setting.
//! The parsers of `/proc` text are pure functions with tests; the readers
//! around them turn a missing file into "unknown", never into a failure.

use std::collections::BTreeMap;
use std::fs;

use crate::net::{affinity, limits, Backend};

/// The sysctls every check reports, whatever the profile asks.
pub const REPORTED_SYSCTLS: &[&str] = &[
    "net.core.rmem_max",
    "net.core.wmem_max",
    "net.ipv4.tcp_rmem",
    "net.ipv4.tcp_wmem",
    "net.ipv4.tcp_congestion_control",
    "net.ipv4.tcp_available_congestion_control",
    "net.ipv4.tcp_allowed_congestion_control",
    "net.core.default_qdisc",
    "net.ipv4.tcp_slow_start_after_idle",
    "kernel.io_uring_disabled",
    "vm.swappiness",
];

/// The host as found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Facts {
    /// `uname -r`.
    pub kernel: Option<String>,
    /// Sysctl values by dotted name, whitespace runs made one space;
    /// `None` when the host has no such sysctl (or it cannot be read).
    pub sysctls: BTreeMap<String, Option<String>>,
    /// `/sys/devices/system/cpu/online`, e.g. `0-15`.
    pub online_cpus: Option<String>,
    /// The CPUs this process may run on.
    pub allowed_cpus: Vec<usize>,
    /// Whether an io_uring could be set up (`io_uring_setup` tried), and
    /// why not.
    pub io_uring: Result<(), String>,
    /// RLIMIT_NOFILE soft and hard (`None`: unlimited); `Err` when unread.
    pub open_files: Result<(Option<u64>, Option<u64>), String>,
    /// Active swap areas from `/proc/swaps`.
    pub swaps: Vec<Swap>,
}

/// One line of `/proc/swaps`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Swap {
    pub name: String,
    pub size_kib: u64,
    pub used_kib: u64,
}

impl Facts {
    /// Reads the host: [`REPORTED_SYSCTLS`] and `more` sysctls.
    pub fn read(more: &[String]) -> Facts {
        let mut sysctls = BTreeMap::new();
        for name in REPORTED_SYSCTLS
            .iter()
            .map(|s| s.to_string())
            .chain(more.iter().cloned())
        {
            let value = read_sysctl(&name);
            sysctls.insert(name, value);
        }
        Facts {
            kernel: read_trimmed("/proc/sys/kernel/osrelease"),
            sysctls,
            online_cpus: read_trimmed("/sys/devices/system/cpu/online"),
            allowed_cpus: affinity::allowed_cpus(),
            io_uring: match Backend::detect() {
                (Backend::Uring, _) => Ok(()),
                (_, why) => Err(why.unwrap_or_else(|| "unknown reason".to_string())),
            },
            open_files: limits::open_files().map_err(|e| e.to_string()),
            swaps: fs::read_to_string("/proc/swaps")
                .map(|text| parse_swaps(&text))
                .unwrap_or_default(),
        }
    }

    /// A sysctl's value, if the host has it.
    pub fn sysctl(&self, name: &str) -> Option<&str> {
        self.sysctls.get(name).and_then(|v| v.as_deref())
    }
}

pub use crate::net::limits::{read_sysctl, sysctl_path};

fn read_trimmed(path: &str) -> Option<String> {
    fs::read_to_string(path).ok().map(|s| s.trim().to_string())
}

/// The swap areas of `/proc/swaps` (header skipped).
pub fn parse_swaps(text: &str) -> Vec<Swap> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 4 {
                return None;
            }
            Some(Swap {
                name: f[0].to_string(),
                size_kib: f[2].parse().ok()?,
                used_kib: f[3].parse().ok()?,
            })
        })
        .collect()
}

/// The CPUs of a list such as `0-3,8-11` (as sysfs prints them).
pub fn parse_cpulist(text: &str) -> Vec<usize> {
    crate::config::run_flags::parse_cpu_list(text.trim()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swaps() {
        let text = "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n\
                    /dev/dm-1                               partition\t8388604\t\t1024\t\t-2\n";
        assert_eq!(
            parse_swaps(text),
            vec![Swap {
                name: "/dev/dm-1".into(),
                size_kib: 8388604,
                used_kib: 1024
            }]
        );
        assert!(parse_swaps("Filename\tType\tSize\tUsed\tPriority\n").is_empty());
    }

    #[test]
    fn sysctl_names_map_to_proc_sys() {
        assert_eq!(
            sysctl_path("net.core.rmem_max"),
            "/proc/sys/net/core/rmem_max"
        );
        let rmem = read_sysctl("net.ipv4.tcp_rmem").expect("a Linux host");
        assert_eq!(rmem.split(' ').count(), 3, "{rmem}");
        assert_eq!(read_sysctl("net.no.such.setting"), None);
        assert_eq!(parse_cpulist("0-3,8\n"), vec![0, 1, 2, 3, 8]);
    }

    #[test]
    fn reads_this_host() {
        let facts = Facts::read(&["net.ipv4.tcp_mtu_probing".to_string()]);
        assert!(facts.sysctl("net.core.rmem_max").is_some());
        assert!(facts.sysctls.contains_key("net.ipv4.tcp_mtu_probing"));
        assert!(!facts.allowed_cpus.is_empty());
        assert!(facts.kernel.is_some());
        assert!(facts.open_files.is_ok());
    }
}
