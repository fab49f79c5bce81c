//! Tuning, through the real binary and without Kafka: each built-in
//! profile starts kmirror with the settings it claims (read from the
//! start-up line of effective settings), the file's keys and the flags win
//! over the profile's, a profile's mistakes name its file, line and key,
//! and `kmirror tune check` / `kmirror tune bdp` print real findings and
//! hand-checked figures with the exit statuses they promise. The clusters
//! named are unreachable: kmirror logs its settings before it connects.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const KMIRROR: &str = env!("CARGO_BIN_EXE_kmirror");

/// An A->B file of unreachable clusters, plus `extra` lines.
fn config(dir: &Path, extra: &str) -> PathBuf {
    let path = dir.join("mm2.properties");
    std::fs::write(
        &path,
        format!(
            "clusters = A, B\n\
             A.bootstrap.servers = 127.0.0.1:1\n\
             B.bootstrap.servers = 127.0.0.1:2\n\
             A->B.enabled = true\n\
             kmirror.metrics.address = none\n\
             {extra}"
        ),
    )
    .expect("write mm2.properties");
    path
}

/// Starts kmirror with `args`, returns its effective-settings line (and
/// stops it), or everything it printed if it exited first.
fn effective_settings(args: &[&str]) -> Result<String, String> {
    let mut child = Command::new(KMIRROR)
        .args(args)
        .env("KMIRROR_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start kmirror");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut seen = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("effective settings") {
                let _ = tx.send(Ok(line));
                return;
            }
            seen.push_str(&line);
            seen.push('\n');
        }
        let _ = tx.send(Err(seen));
    });
    let got = rx
        .recv_timeout(Duration::from_secs(30))
        .unwrap_or_else(|_| Err("no effective-settings line within 30 s".to_string()));
    let _ = child.kill();
    let _ = child.wait();
    got
}

fn assert_has(line: &str, claims: &[&str]) {
    for claim in claims {
        assert!(line.contains(claim), "'{claim}' is not in:\n{line}");
    }
}

#[test]
fn each_profile_starts_kmirror_with_what_it_claims() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = config(dir.path(), "");
    let file = file.to_str().expect("utf-8");

    let none = effective_settings(&[file]).expect("starts");
    assert_has(
        &none,
        &[
            "profile=none",
            "streams=1",
            "fetch.max.bytes=52428800 max.partition.fetch.bytes=1048576",
            "source[receive.buffer.bytes=65536 send.buffer.bytes=131072 congestion=default(",
        ],
    );

    let wan = effective_settings(&[file, "--profile", "wan-high-bdp"]).expect("starts");
    assert_has(
        &wan,
        &[
            "profile=wan-high-bdp",
            "streams=4",
            "fetch.max.bytes=52428800 max.partition.fetch.bytes=8388608",
            "max.in.flight.requests.per.connection=5",
            "source[receive.buffer.bytes=33554432 send.buffer.bytes=auto congestion=bbr]",
            "target[receive.buffer.bytes=33554432 send.buffer.bytes=auto congestion=bbr]",
        ],
    );

    let lan = effective_settings(&[file, "--profile", "lan-low-latency"]).expect("starts");
    assert_has(
        &lan,
        &[
            "profile=lan-low-latency",
            "streams=1",
            "fetch.max.bytes=8388608 max.partition.fetch.bytes=1048576",
            "source[receive.buffer.bytes=auto send.buffer.bytes=auto congestion=default(",
        ],
    );

    let max = effective_settings(&[file, "--profile", "max-throughput"]).expect("starts");
    assert_has(
        &max,
        &[
            "profile=max-throughput",
            "streams=2",
            "fetch.max.bytes=52428800 max.partition.fetch.bytes=16777216",
            "source[receive.buffer.bytes=16777216 send.buffer.bytes=16777216",
        ],
    );

    let small = effective_settings(&[file, "--profile", "small-host"]).expect("starts");
    let first_cpu = small_host_cpu();
    assert_has(
        &small,
        &[
            "profile=small-host",
            "workers=1",
            &format!("cpus={first_cpu} "),
            "streams=1",
            "fetch.max.bytes=8388608 max.partition.fetch.bytes=1048576",
            "source[receive.buffer.bytes=auto send.buffer.bytes=auto",
        ],
    );
}

/// The first CPU this process may use: where small-host's one worker goes.
fn small_host_cpu() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").expect("a Linux host");
    let list = status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .expect("Cpus_allowed_list")
        .trim()
        .to_string();
    list.split([',', '-'])
        .next()
        .and_then(|c| c.parse().ok())
        .expect("a CPU number")
}

#[test]
fn the_files_keys_and_the_flags_win_over_the_profile() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = config(
        dir.path(),
        "consumer.fetch.max.bytes = 1234567\n\
         A.receive.buffer.bytes = 262144\n\
         kmirror.streams = 2\n",
    );
    let file = file.to_str().expect("utf-8");
    let line = effective_settings(&[file, "--profile", "wan-high-bdp"]).expect("starts");
    assert_has(
        &line,
        &[
            "streams=2",
            "fetch.max.bytes=1234567 max.partition.fetch.bytes=8388608",
            // A's own key for A's connections; B keeps the profile's.
            "source[receive.buffer.bytes=262144 ",
            "target[receive.buffer.bytes=33554432 ",
        ],
    );
    let line = effective_settings(&[
        file,
        "--profile",
        "wan-high-bdp",
        "--streams",
        "3",
        "--io",
        "epoll",
    ])
    .expect("starts");
    assert_has(&line, &["streams=3", "io=epoll"]);
}

#[test]
fn a_profile_file_by_path_and_its_mistakes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = config(dir.path(), "");
    let file = file.to_str().expect("utf-8");
    let profile = dir.path().join("mine.properties");
    std::fs::write(
        &profile,
        "# mine\nkmirror.streams = 7\nconsumer.fetch.max.bytes = 2097152\n",
    )
    .expect("write");
    let profile = profile.to_str().expect("utf-8");
    let line = effective_settings(&[file, "--profile", profile]).expect("starts");
    assert_has(
        &line,
        &[
            &format!("profile={profile}"),
            "streams=7",
            "fetch.max.bytes=2097152 ",
        ],
    );

    std::fs::write(profile, "# mine\n\nconsumer.fetch.max.bytes = lots\n").expect("write");
    let out = Command::new(KMIRROR)
        .args([file, "--profile", profile])
        .output()
        .expect("run kmirror");
    let text = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(
        text.contains(&format!("{profile}:3: key 'consumer.fetch.max.bytes'")),
        "{text}"
    );

    std::fs::write(profile, "kmirror.tcp.congestion.control = no-such-cc\n").expect("write");
    let out = Command::new(KMIRROR)
        .args([file, "--profile", profile])
        .output()
        .expect("run kmirror");
    let text = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(
        text.contains(&format!(
            "{profile}:1: key 'kmirror.tcp.congestion.control': TCP congestion control 'no-such-cc' is not available"
        )),
        "{text}"
    );

    let out = Command::new(KMIRROR)
        .args([file, "--profile", "wan"])
        .output()
        .expect("run kmirror");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--profile wan: no built-in profile"));
}

#[test]
fn the_packaged_example_configuration_reads_without_warnings() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("tuning/example.properties");
    let config = kmirror::config::MirrorConfig::load(&example, None).expect("the example loads");
    assert!(config.warnings.is_empty(), "{:?}", config.warnings);
    assert_eq!(config.flows.len(), 1);
}

/// This host's sysctl, as /proc/sys has it.
fn sysctl(name: &str) -> String {
    std::fs::read_to_string(format!("/proc/sys/{}", name.replace('.', "/")))
        .expect("a Linux host")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn tune_check_reports_this_host_with_fixes() {
    let out = Command::new(KMIRROR)
        .args(["tune", "check", "--profile", "wan-high-bdp"])
        .output()
        .expect("run kmirror tune check");
    let report = String::from_utf8_lossy(&out.stdout);
    let rmem_max: u64 = sysctl("net.core.rmem_max").parse().expect("a number");
    let finding = report
        .lines()
        .find(|l| {
            l.contains("  net.core.rmem_max  ") && (l.contains(" ok ") || l.contains("DIFFERS"))
        })
        .unwrap_or_else(|| panic!("no net.core.rmem_max finding:\n{report}"));
    let qdisc = sysctl("net.core.default_qdisc");
    if rmem_max < 67_108_864 {
        // As on this project's 4 MiB machine.
        assert_eq!(out.status.code(), Some(1), "{report}");
        assert!(
            finding.starts_with("  DIFFERS  net.core.rmem_max "),
            "{finding}"
        );
        assert!(
            finding.ends_with(&format!(" {rmem_max}   wanted: at least 67108864")),
            "{finding}"
        );
        assert!(
            report.contains("    sysctl -w net.core.rmem_max=67108864\n"),
            "{report}"
        );
        assert!(
            report.contains(
                "    echo 'net.core.rmem_max = 67108864' >> /etc/sysctl.d/90-kmirror.conf\n"
            ),
            "{report}"
        );
    }
    if qdisc != "fq" {
        assert!(
            report.contains("    sysctl -w net.core.default_qdisc=fq\n"),
            "{report}"
        );
    }
    // Without --profile, the default is named and explained.
    let out = Command::new(KMIRROR)
        .args(["tune", "check"])
        .output()
        .expect("run kmirror tune check");
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        report.starts_with(
            "kmirror tune check: this host against profile wan-high-bdp (no --profile given: "
        ),
        "{report}"
    );
}

/// `kmirror tune check --profile small-host --config file`.
fn tune_check_small_host(file: &Path) -> std::process::Output {
    Command::new(KMIRROR)
        .args(["tune", "check", "--profile", "small-host", "--config"])
        .arg(file)
        .output()
        .expect("run kmirror tune check")
}

#[test]
fn tune_check_follows_the_route_to_each_cluster() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = config(dir.path(), "host.vm.swappiness = 100\n");
    let out = tune_check_small_host(&file);
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(matches!(out.status.code(), Some(0 | 1)), "{report}");
    assert!(
        report.contains(
            "cluster A: 127.0.0.1:1 -> 127.0.0.1 via lo: NUMA not applicable (virtual interface)"
        ),
        "{report}"
    );
    // The file's host setting ("at most 100") wins over the profile's
    // "at most 10".
    if sysctl("vm.swappiness").parse::<u64>().expect("a number") <= 100 {
        assert!(
            report
                .lines()
                .any(|l| l.starts_with("  ok       vm.swappiness ")),
            "{report}"
        );
    }
}

#[test]
fn tune_check_with_splice_on_checks_this_hosts_pipe_limits() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = config(dir.path(), "kmirror.io = epoll\nA->B.kmirror.splice = on\n");
    let out = tune_check_small_host(&file);
    let report = String::from_utf8_lossy(&out.stdout);
    let soft: u64 = sysctl("fs.pipe-user-pages-soft").parse().expect("a number");
    let line = report
        .lines()
        .find(|l| l.contains("fs.pipe-user-pages-soft (kmirror.splice = on)"))
        .unwrap_or_else(|| panic!("no pipe budget finding:\n{report}"));
    if soft == 0 || soft >= 262_144 {
        assert!(line.starts_with("  ok       "), "{line}");
    } else {
        // As on this project's machine (the kernel's default, 16384).
        assert!(line.starts_with("  DIFFERS  "), "{line}");
        assert!(
            line.ends_with(&format!(
                " {soft}   wanted: at least 262144 (or 0, no limit)"
            )),
            "{line}"
        );
        assert!(
            report.contains("    sysctl -w fs.pipe-user-pages-soft=262144\n"),
            "{report}"
        );
        assert_eq!(out.status.code(), Some(1), "{report}");
    }
    assert!(
        report.contains("fs.pipe-max-size (kmirror.splice = on)"),
        "{report}"
    );
    // Without splice = on, no pipe limits are checked.
    let plain = config(dir.path(), "");
    let out = tune_check_small_host(&plain);
    assert!(!String::from_utf8_lossy(&out.stdout).contains("fs.pipe"));
}

#[test]
fn tune_usage_errors_exit_2() {
    for args in [
        &["tune"][..],
        &["tune", "fix"],
        &["tune", "check", "--profile", "no-such-profile"],
        &["tune", "bdp", "--rtt", "80", "--bandwidth", "10gbit"],
        &["tune", "bdp", "--rtt", "80ms", "--bandwidth", "fast"],
        &["tune", "bdp", "--rtt", "80ms"],
    ] {
        let out = Command::new(KMIRROR)
            .args(args)
            .output()
            .expect("run kmirror");
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn tune_bdp_prints_the_hand_computed_figures() {
    // 80 ms x 10 Gbit/s = 0.08 s x 1,250,000,000 B/s = 100,000,000 B. With
    // a 4 MiB cap on receive buffers a window holds 4,194,304 B, so
    // 100,000,000 / 4,194,304 = 23.8 -> 24 connections.
    let out = Command::new(KMIRROR)
        .args([
            "tune",
            "bdp",
            "--rtt",
            "80ms",
            "--bandwidth",
            "10gbit",
            "--rmem-max",
            "4194304",
        ])
        .output()
        .expect("run kmirror tune bdp");
    let report = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{report}");
    assert_has(
        &report,
        &[
            "bandwidth-delay product: 100,000,000 B",
            "receive.buffer.bytes = 4194304",
            "for the windows: ceil(100000000 / 4194304) = 24",
            "kmirror.streams = 24\n",
            "consumer.fetch.max.bytes = 37500000\n",
        ],
    );
    // 1 Gbit/s as bytes: 125 MB/s x 0.05 s = 6,250,000 B.
    let out = Command::new(KMIRROR)
        .args([
            "tune",
            "bdp",
            "--rtt",
            "50ms",
            "--bandwidth",
            "125MB/s",
            "--rmem-max",
            "67108864",
        ])
        .output()
        .expect("run kmirror tune bdp");
    let report = String::from_utf8_lossy(&out.stdout);
    assert_has(
        &report,
        &[
            "bandwidth-delay product: 6,250,000 B",
            "kmirror.streams = 1\n",
        ],
    );
}
