//! `kmirror tune check`'s verdict: the host's facts against a profile's
//! host settings, each difference with the commands that fix it. Pure: it
//! takes what `tune::host` and `tune::route` found and renders text, so
//! every rule is tested on made-up hosts.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use crate::config::host::{HostKey, HostSetting, Want};
use crate::config::run_flags::format_cpu_list;
use crate::tune::host::{parse_cpulist, Facts};
use crate::tune::route::{Numa, Way};

/// The sysctl.d file the fixes persist settings in (the one
/// tuning/90-kmirror.conf is installed as).
pub const SYSCTL_FILE: &str = "/etc/sysctl.d/90-kmirror.conf";

/// The pipe limits the splice path needs: pipes of 1 MiB (a pipe smaller
/// than a large batch splits it), and room for 1024 of them, the most one
/// source connection opens. Pipe pages are the kernel's accounting of a
/// pipe's size; memory is taken only by the bytes in them, which
/// `kmirror.memory.max.bytes` bounds.
pub const SPLICE_PIPES: [(&str, Want); 3] = [
    ("fs.pipe-max-size", Want::AtLeast(1 << 20)),
    ("fs.pipe-user-pages-soft", Want::Budget(1024 * 256)),
    ("fs.pipe-user-pages-hard", Want::Budget(1024 * 256)),
];

/// What to check.
#[derive(Clone, Debug)]
pub struct Input<'a> {
    /// The profile's name, and why it was chosen when it was not named.
    pub profile: &'a str,
    pub default_because: Option<&'a str>,
    /// The host settings asked for (the profile's, overlaid with the file's).
    pub wants: &'a [HostSetting],
    /// `kmirror.tcp.congestion.control` values in effect, each with where
    /// it was set (`file:line`).
    pub congestion: &'a [(String, String)],
    /// Whether the configuration asks for io_uring explicitly (`kmirror.io`).
    pub io_uring_asked: bool,
    /// Whether the configuration asks for the splice path explicitly
    /// (`kmirror.splice = on`): the pipe limits are then checked too, at
    /// [`SPLICE_PIPES`] unless the profile or the file asks for them.
    pub splice_asked: bool,
    pub facts: &'a Facts,
    /// The routes to each cluster's brokers, when a configuration was given.
    pub ways: &'a [Way],
}

/// One line of the verdict.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// The setting, e.g. `net.core.rmem_max`.
    pub name: String,
    pub found: String,
    /// What the profile asks, described (`at least 67108864`).
    pub want: String,
    pub ok: bool,
    /// Why a difference matters.
    pub why: Option<String>,
    /// Commands that fix a difference, in order.
    pub fixes: Vec<String>,
}

/// The verdict: findings against the profile, and advice that is not a
/// difference from it.
#[derive(Clone, Debug, Default)]
pub struct Report {
    pub header: String,
    pub host: Vec<(String, String)>,
    pub findings: Vec<Finding>,
    pub paths: Vec<String>,
    pub advice: Vec<String>,
}

impl Report {
    pub fn differences(&self) -> usize {
        self.findings.iter().filter(|f| !f.ok).count()
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "{}", self.header);
        let _ = writeln!(out, "\nHost");
        let width = self.host.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        for (name, value) in &self.host {
            let _ = writeln!(out, "  {name:width$}  {value}");
        }
        let _ = writeln!(out, "\nAgainst the profile");
        let width = self
            .findings
            .iter()
            .map(|f| f.name.len())
            .max()
            .unwrap_or(0);
        for f in &self.findings {
            let mark = if f.ok { "ok     " } else { "DIFFERS" };
            let want = if f.ok {
                String::new()
            } else {
                format!("   wanted: {}", f.want)
            };
            let _ = writeln!(out, "  {mark}  {:width$}  {}{want}", f.name, f.found);
        }
        if !self.paths.is_empty() {
            let _ = writeln!(out, "\nNetwork paths");
            for line in &self.paths {
                let _ = writeln!(out, "  {line}");
            }
        }
        if !self.advice.is_empty() {
            let _ = writeln!(out, "\nAdvice");
            for line in &self.advice {
                let _ = writeln!(out, "  {line}");
            }
        }
        let differing: Vec<&Finding> = self.findings.iter().filter(|f| !f.ok).collect();
        if !differing.is_empty() {
            let _ = writeln!(out, "\nFixes (as root)");
            for f in &differing {
                let why = f
                    .why
                    .as_deref()
                    .map(|w| format!(": {w}"))
                    .unwrap_or_default();
                let _ = writeln!(out, "  {} is {}, wanted {}{why}", f.name, f.found, f.want);
                for fix in &f.fixes {
                    let _ = writeln!(out, "    {fix}");
                }
            }
        }
        let _ = writeln!(
            out,
            "\n{} of {} settings differ from the profile{}",
            differing.len(),
            self.findings.len(),
            if differing.is_empty() {
                "."
            } else {
                " (exit status 1)."
            }
        );
        out
    }
}

/// Compares the host with what `input` asks.
pub fn check(input: &Input<'_>) -> Report {
    let facts = input.facts;
    let mut report = Report {
        header: match input.default_because {
            Some(why) => format!(
                "kmirror tune check: this host against profile {} (no --profile given: {why}; --profile NAME picks another)",
                input.profile
            ),
            None => format!("kmirror tune check: this host against profile {}", input.profile),
        },
        ..Report::default()
    };
    report.host = host_lines(facts);
    for want in input.wants {
        report.findings.push(match &want.what {
            HostKey::Sysctl(name) => sysctl_finding(name, &want.want, facts, input.ways),
            HostKey::OpenFiles => open_files_finding(&want.want, facts),
        });
    }
    let mut seen = BTreeSet::new();
    for (algorithm, at) in input.congestion {
        if seen.insert(algorithm.clone()) {
            report
                .findings
                .push(congestion_finding(algorithm, at, facts));
        }
    }
    if input.io_uring_asked {
        report.findings.push(io_uring_finding(facts));
    }
    if input.splice_asked {
        for (name, want) in &SPLICE_PIPES {
            let asked = input
                .wants
                .iter()
                .any(|w| matches!(&w.what, HostKey::Sysctl(n) if n == name));
            if !asked {
                let mut finding = sysctl_finding(name, want, facts, input.ways);
                finding.name = format!("{name} (kmirror.splice = on)");
                report.findings.push(finding);
            }
        }
    }
    for way in input.ways {
        report.paths.push(way.describe());
    }
    report.advice = numa_advice(input.ways, &facts.allowed_cpus);
    report
}

fn host_lines(facts: &Facts) -> Vec<(String, String)> {
    let sysctl = |name: &str| facts.sysctl(name).unwrap_or("?").to_string();
    let mut lines = vec![(
        "kernel".to_string(),
        facts.kernel.clone().unwrap_or_else(|| "?".to_string()),
    )];
    let allowed = format_cpu_list(&facts.allowed_cpus);
    let online = facts.online_cpus.as_deref().unwrap_or("?");
    lines.push((
        "CPUs".to_string(),
        format!(
            "{} online ({online}); kmirror may use {} ({allowed}): one worker each by default",
            parse_cpulist(online).len(),
            facts.allowed_cpus.len()
        ),
    ));
    let disabled = match facts.sysctl("kernel.io_uring_disabled") {
        Some(v) => format!("kernel.io_uring_disabled = {v}"),
        None => "no kernel.io_uring_disabled (Linux before 6.6)".to_string(),
    };
    lines.push((
        "io_uring".to_string(),
        match &facts.io_uring {
            Ok(()) => format!("{disabled}; io_uring_setup works: kmirror runs on io_uring"),
            Err(why) => format!("{disabled}; io_uring_setup fails ({why}): kmirror runs on epoll"),
        },
    ));
    lines.push((
        "open files".to_string(),
        match &facts.open_files {
            Ok((soft, hard)) => format!(
                "soft limit {}, hard limit {} (this shell's; a systemd unit sets its own LimitNOFILE)",
                show_limit(*soft),
                show_limit(*hard)
            ),
            Err(e) => format!("? ({e})"),
        },
    ));
    let swap = if facts.swaps.is_empty() {
        "no swap".to_string()
    } else {
        facts
            .swaps
            .iter()
            .map(|s| {
                format!(
                    "{} {} MiB ({} MiB used)",
                    s.name,
                    s.size_kib / 1024,
                    s.used_kib / 1024
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    lines.push((
        "swap".to_string(),
        format!("{swap}; vm.swappiness = {}", sysctl("vm.swappiness")),
    ));
    lines.push((
        "congestion control".to_string(),
        format!(
            "{} (available: {}; processes without CAP_NET_ADMIN may choose: {})",
            sysctl("net.ipv4.tcp_congestion_control"),
            sysctl("net.ipv4.tcp_available_congestion_control"),
            sysctl("net.ipv4.tcp_allowed_congestion_control")
        ),
    ));
    lines.push((
        "default qdisc".to_string(),
        sysctl("net.core.default_qdisc"),
    ));
    for name in [
        "net.core.rmem_max",
        "net.core.wmem_max",
        "net.ipv4.tcp_rmem",
        "net.ipv4.tcp_wmem",
        "net.ipv4.tcp_slow_start_after_idle",
    ] {
        lines.push((name.to_string(), sysctl(name)));
    }
    lines
}

fn show_limit(v: Option<u64>) -> String {
    v.map_or_else(|| "unlimited".to_string(), |v| v.to_string())
}

fn sysctl_finding(name: &str, want: &Want, facts: &Facts, ways: &[Way]) -> Finding {
    let found = facts.sysctl(name);
    let mut finding = Finding {
        name: name.to_string(),
        found: found.unwrap_or("not on this kernel").to_string(),
        want: want.describe(),
        ok: false,
        why: HostKey::Sysctl(name.to_string()).why().map(str::to_string),
        fixes: Vec::new(),
    };
    let Some(found) = found else {
        // Before Linux 6.6 nothing can disable io_uring by sysctl.
        if name == "kernel.io_uring_disabled" && want.accepts("0") {
            finding.found = "none (Linux before 6.6: io_uring cannot be disabled by sysctl)".into();
            finding.ok = true;
        } else {
            finding
                .fixes
                .push(format!("this kernel has no {name}; nothing to set here"));
        }
        return finding;
    };
    finding.ok = want.accepts(found);
    if finding.ok {
        return finding;
    }
    let value = want.value();
    if name == "net.ipv4.tcp_congestion_control" {
        finding.fixes.extend(module_fixes(&value, facts));
    }
    finding.fixes.extend(sysctl_fixes(name, &value));
    if name == "net.core.default_qdisc" {
        let physical: BTreeSet<&str> = ways
            .iter()
            .filter(|w| !matches!(w.numa, Some(Numa::Virtual) | None))
            .filter_map(|w| w.interface.as_deref().ok())
            .collect();
        if physical.is_empty() {
            finding.fixes.push(format!(
                "tc qdisc replace dev <interface> root {value}   # interfaces already up keep their qdisc"
            ));
        }
        for iface in physical {
            finding.fixes.push(format!(
                "tc qdisc replace dev {iface} root {value}   # {iface} is up already and keeps its qdisc"
            ));
        }
    }
    finding
}

/// `sysctl -w` now, and the line that keeps it across reboots.
fn sysctl_fixes(name: &str, value: &str) -> Vec<String> {
    let quoted = if value.contains(' ') {
        format!("'{value}'")
    } else {
        value.to_string()
    };
    vec![
        format!("sysctl -w {name}={quoted}"),
        format!("echo '{name} = {value}' >> {SYSCTL_FILE}"),
    ]
}

/// Loading a congestion control module the kernel does not offer yet.
fn module_fixes(algorithm: &str, facts: &Facts) -> Vec<String> {
    let available = facts
        .sysctl("net.ipv4.tcp_available_congestion_control")
        .unwrap_or("");
    if available.split(' ').any(|a| a == algorithm) {
        return Vec::new();
    }
    vec![
        format!("modprobe tcp_{algorithm}"),
        format!("echo tcp_{algorithm} >> /etc/modules-load.d/kmirror.conf"),
    ]
}

fn open_files_finding(want: &Want, facts: &Facts) -> Finding {
    let mut finding = Finding {
        name: "open files (soft limit)".to_string(),
        found: "?".to_string(),
        want: want.describe(),
        ok: false,
        why: HostKey::OpenFiles.why().map(str::to_string),
        fixes: Vec::new(),
    };
    let (soft, hard) = match &facts.open_files {
        Ok(limits) => *limits,
        Err(e) => {
            finding.found = format!("? ({e})");
            return finding;
        }
    };
    finding.found = show_limit(soft);
    finding.ok = soft.is_none_or(|soft| want.accepts(&soft.to_string()));
    if finding.ok {
        return finding;
    }
    let n = want.value();
    let raise_hard = hard.is_some_and(|hard| !want.accepts(&hard.to_string()));
    finding.fixes.push(format!(
        "ulimit -n {n}   # in the shell that starts kmirror{}",
        if raise_hard {
            format!(
                " (the hard limit is {}: raise it first, as root)",
                show_limit(hard)
            )
        } else {
            String::new()
        }
    ));
    finding.fixes.push(format!(
        "LimitNOFILE={n}   # under systemd: systemctl edit kmirror@.service, under [Service] (the package's unit sets 65536)"
    ));
    finding.fixes.push(format!(
        "echo 'kmirror - nofile {n}' >> /etc/security/limits.d/kmirror.conf   # login sessions of user kmirror"
    ));
    if let (Some(nr_open), Want::AtLeast(wanted)) = (
        facts
            .sysctl("fs.nr_open")
            .and_then(|v| v.parse::<u64>().ok()),
        want,
    ) {
        if nr_open < *wanted {
            finding
                .fixes
                .extend(sysctl_fixes("fs.nr_open", &wanted.to_string()));
        }
    }
    finding
}

fn congestion_finding(algorithm: &str, at: &str, facts: &Facts) -> Finding {
    let list = |name: &str| -> Vec<String> {
        facts
            .sysctl(name)
            .unwrap_or("")
            .split(' ')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    };
    let allowed = list("net.ipv4.tcp_allowed_congestion_control");
    let available = list("net.ipv4.tcp_available_congestion_control");
    let is_default = facts.sysctl("net.ipv4.tcp_congestion_control") == Some(algorithm);
    let ok = is_default || allowed.iter().any(|a| a == algorithm);
    let mut finding = Finding {
        name: "kmirror.tcp.congestion.control".to_string(),
        found: if ok {
            format!("{algorithm} (set at {at}), which kmirror may use")
        } else if available.iter().any(|a| a == algorithm) {
            format!(
                "{algorithm} (set at {at}), not allowed for unprivileged processes (allowed: {})",
                allowed.join(" ")
            )
        } else {
            format!(
                "{algorithm} (set at {at}), not offered by this kernel (offered: {})",
                available.join(" ")
            )
        },
        want: format!("{algorithm} allowed for kmirror's user"),
        ok,
        why: Some(
            "kmirror stops at start-up when the kernel refuses its congestion control".into(),
        ),
        fixes: Vec::new(),
    };
    if !ok {
        finding.fixes.extend(module_fixes(algorithm, facts));
        let mut widened = allowed.clone();
        widened.push(algorithm.to_string());
        finding.fixes.extend(sysctl_fixes(
            "net.ipv4.tcp_allowed_congestion_control",
            &widened.join(" "),
        ));
        finding.fixes.push(format!(
            "# or make it the host's default: sysctl -w net.ipv4.tcp_congestion_control={algorithm}"
        ));
    }
    finding
}

fn io_uring_finding(facts: &Facts) -> Finding {
    let mut finding = Finding {
        name: "io_uring (kmirror.io = uring)".to_string(),
        found: match &facts.io_uring {
            Ok(()) => "io_uring_setup works".to_string(),
            Err(why) => format!("io_uring_setup fails ({why})"),
        },
        want: "io_uring_setup to work".to_string(),
        ok: facts.io_uring.is_ok(),
        why: Some("the configuration asks for the io_uring backend".into()),
        fixes: Vec::new(),
    };
    if !finding.ok {
        if facts
            .sysctl("kernel.io_uring_disabled")
            .is_some_and(|v| v != "0")
        {
            finding
                .fixes
                .extend(sysctl_fixes("kernel.io_uring_disabled", "0"));
        }
        finding.fixes.push(
            "# in a container: allow io_uring_setup, io_uring_enter and io_uring_register in its seccomp profile"
                .to_string(),
        );
        finding
            .fixes
            .push("# or run kmirror with --io epoll (kmirror.io = epoll)".to_string());
    }
    finding
}

/// Pinning advice where the NIC to a cluster sits on a NUMA node whose
/// CPUs kmirror does not (only) run on.
fn numa_advice(ways: &[Way], allowed: &[usize]) -> Vec<String> {
    let mut advice = Vec::new();
    let mut seen = BTreeSet::new();
    for way in ways {
        let (
            Some(Numa::Node {
                node,
                cpus: Some(cpus),
            }),
            Ok(iface),
        ) = (&way.numa, &way.interface)
        else {
            continue;
        };
        if !seen.insert((iface.clone(), *node)) {
            continue;
        }
        let node_cpus = parse_cpulist(cpus);
        let both: Vec<usize> = allowed
            .iter()
            .copied()
            .filter(|c| node_cpus.contains(c))
            .collect();
        if both.len() == allowed.len() {
            continue;
        }
        if both.is_empty() {
            advice.push(format!(
                "{iface} (cluster {}) is on NUMA node {node} (CPUs {cpus}), and kmirror may run on none of them: every byte to it crosses nodes",
                way.cluster
            ));
        } else {
            let list = format_cpu_list(&both);
            advice.push(format!(
                "{iface} (cluster {}) is on NUMA node {node}: pin kmirror's workers to its CPUs with --cpus {list} (or kmirror.cpus = {list}) so fetch buffers stay on the NIC's node",
                way.cluster
            ));
        }
    }
    advice
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::net::IpAddr;
    use std::path::PathBuf;

    use super::*;

    fn facts(sysctls: &[(&str, &str)]) -> Facts {
        Facts {
            kernel: Some("6.1.0".into()),
            sysctls: sysctls
                .iter()
                .map(|(k, v)| (k.to_string(), Some(v.to_string())))
                .collect::<BTreeMap<_, _>>(),
            online_cpus: Some("0-3".into()),
            allowed_cpus: vec![0, 1, 2, 3],
            io_uring: Ok(()),
            open_files: Ok((Some(1024), Some(4096))),
            swaps: Vec::new(),
        }
    }

    fn want(name: &str, want: Want) -> HostSetting {
        HostSetting {
            what: if name == "limits.nofile" {
                HostKey::OpenFiles
            } else {
                HostKey::Sysctl(name.into())
            },
            want,
            path: PathBuf::from("p"),
            line: 1,
        }
    }

    fn input<'a>(wants: &'a [HostSetting], facts: &'a Facts) -> Input<'a> {
        Input {
            profile: "wan-high-bdp",
            default_because: None,
            wants,
            congestion: &[],
            io_uring_asked: false,
            splice_asked: false,
            facts,
            ways: &[],
        }
    }

    #[test]
    fn a_capped_rmem_max_is_a_difference_with_its_fixes() {
        let host = facts(&[("net.core.rmem_max", "4194304"), ("vm.swappiness", "10")]);
        let wants = [
            want("net.core.rmem_max", Want::AtLeast(67108864)),
            want("vm.swappiness", Want::AtMost(10)),
        ];
        let report = check(&input(&wants, &host));
        assert_eq!(report.differences(), 1);
        let rmem = &report.findings[0];
        assert!(!rmem.ok);
        assert_eq!(
            rmem.fixes,
            vec![
                "sysctl -w net.core.rmem_max=67108864".to_string(),
                format!("echo 'net.core.rmem_max = 67108864' >> {SYSCTL_FILE}"),
            ]
        );
        let text = report.render();
        assert!(
            text.contains("DIFFERS  net.core.rmem_max  4194304   wanted: at least 67108864"),
            "{text}"
        );
        assert!(text.contains("ok       vm.swappiness      10"), "{text}");
        assert!(
            text.contains("1 of 2 settings differ from the profile (exit status 1)."),
            "{text}"
        );
    }

    #[test]
    fn triples_are_quoted_and_modules_loaded() {
        let host = facts(&[
            ("net.ipv4.tcp_rmem", "4096 131072 6291456"),
            ("net.ipv4.tcp_congestion_control", "cubic"),
            ("net.ipv4.tcp_available_congestion_control", "reno cubic"),
        ]);
        let wants = [
            want(
                "net.ipv4.tcp_rmem",
                Want::EachAtLeast(vec![4096, 131072, 67108864]),
            ),
            want(
                "net.ipv4.tcp_congestion_control",
                Want::Exactly("bbr".into()),
            ),
        ];
        let report = check(&input(&wants, &host));
        assert_eq!(
            report.findings[0].fixes[0],
            "sysctl -w net.ipv4.tcp_rmem='4096 131072 67108864'"
        );
        assert_eq!(
            report.findings[1].fixes[..3],
            [
                "modprobe tcp_bbr".to_string(),
                "echo tcp_bbr >> /etc/modules-load.d/kmirror.conf".to_string(),
                "sysctl -w net.ipv4.tcp_congestion_control=bbr".to_string(),
            ]
        );
    }

    #[test]
    fn open_files_name_the_unit_and_the_hard_limit() {
        let host = facts(&[("fs.nr_open", "1048576")]);
        let wants = [want("limits.nofile", Want::AtLeast(65536))];
        let report = check(&input(&wants, &host));
        let f = &report.findings[0];
        assert_eq!((f.ok, f.found.as_str()), (false, "1024"));
        assert!(f.fixes[0].starts_with("ulimit -n 65536"), "{:?}", f.fixes);
        assert!(
            f.fixes[0].contains("the hard limit is 4096"),
            "{:?}",
            f.fixes
        );
        assert!(f.fixes[1].starts_with("LimitNOFILE=65536"), "{:?}", f.fixes);
        assert_eq!(f.fixes.len(), 3, "fs.nr_open is high enough: {:?}", f.fixes);
        let mut unlimited = host.clone();
        unlimited.open_files = Ok((None, None));
        assert!(check(&input(&wants, &unlimited)).findings[0].ok);
    }

    #[test]
    fn congestion_control_must_be_allowed_for_kmirrors_user() {
        let host = facts(&[
            ("net.ipv4.tcp_congestion_control", "cubic"),
            (
                "net.ipv4.tcp_available_congestion_control",
                "reno cubic bbr",
            ),
            ("net.ipv4.tcp_allowed_congestion_control", "reno cubic"),
        ]);
        let asked = [("bbr".to_string(), "p:3".to_string())];
        let report = check(&Input {
            congestion: &asked,
            ..input(&[], &host)
        });
        let f = &report.findings[0];
        assert!(!f.ok);
        assert!(
            f.found.contains("not allowed for unprivileged processes"),
            "{}",
            f.found
        );
        assert_eq!(
            f.fixes[0],
            "sysctl -w net.ipv4.tcp_allowed_congestion_control='reno cubic bbr'"
        );
        let mut default = host.clone();
        default
            .sysctls
            .insert("net.ipv4.tcp_congestion_control".into(), Some("bbr".into()));
        assert!(
            check(&Input {
                congestion: &asked,
                ..input(&[], &default)
            })
            .findings[0]
                .ok
        );
    }

    #[test]
    fn splice_on_checks_the_pipe_limits_the_profile_leaves_out() {
        let host = facts(&[
            ("fs.pipe-max-size", "1048576"),
            ("fs.pipe-user-pages-soft", "16384"),
            ("fs.pipe-user-pages-hard", "0"),
        ]);
        let asked = [want("fs.pipe-max-size", Want::AtLeast(4 << 20))];
        let report = check(&Input {
            splice_asked: true,
            ..input(&asked, &host)
        });
        let found: Vec<(&str, bool)> = report
            .findings
            .iter()
            .map(|f| (f.name.as_str(), f.ok))
            .collect();
        assert_eq!(
            found,
            vec![
                ("fs.pipe-max-size", false),
                ("fs.pipe-user-pages-soft (kmirror.splice = on)", false),
                ("fs.pipe-user-pages-hard (kmirror.splice = on)", true),
            ]
        );
        assert_eq!(
            report.findings[1].fixes[0],
            "sysctl -w fs.pipe-user-pages-soft=262144"
        );
        assert_eq!(report.findings[1].want, "at least 262144 (or 0, no limit)");
        assert!(check(&input(&[], &host)).findings.is_empty());
    }

    #[test]
    fn missing_sysctls_and_io_uring() {
        let mut host = facts(&[]);
        host.io_uring = Err("Operation not permitted".into());
        let wants = [
            want("kernel.io_uring_disabled", Want::AtMost(0)),
            want("net.ipv4.tcp_fancy", Want::Exactly("1".into())),
        ];
        let report = check(&Input {
            io_uring_asked: true,
            ..input(&wants, &host)
        });
        assert!(
            report.findings[0].ok,
            "no sysctl: io_uring cannot be disabled by it"
        );
        assert!(!report.findings[1].ok);
        assert!(!report.findings[2].ok);
        assert!(report.findings[2]
            .fixes
            .iter()
            .any(|f| f.contains("--io epoll")));
        assert!(report
            .render()
            .contains("io_uring_setup fails (Operation not permitted)"));
    }

    #[test]
    fn numa_advice_pins_to_the_nics_node() {
        let host = facts(&[]);
        let ways = [Way {
            cluster: "A".into(),
            server: "a:9092".into(),
            address: Ok(IpAddr::from([10, 0, 0, 5])),
            interface: Ok("eth0".into()),
            numa: Some(Numa::Node {
                node: 1,
                cpus: Some("2-3".into()),
            }),
        }];
        let report = check(&Input {
            ways: &ways,
            ..input(&[], &host)
        });
        assert_eq!(
            report.paths,
            vec!["cluster A: a:9092 -> 10.0.0.5 via eth0, NUMA node 1 (CPUs 2-3)"]
        );
        assert_eq!(report.advice.len(), 1);
        assert!(
            report.advice[0].contains("--cpus 2-3"),
            "{:?}",
            report.advice
        );
        assert_eq!(report.differences(), 0, "advice is not a difference");
    }
}
