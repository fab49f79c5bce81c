//! Worker threads: one per CPU given with `--cpus`, each pinned to one of them.

mod common;

use std::time::Duration;

use common::*;

fn affinity_of(pid: u32, tid: &str) -> String {
    let status =
        std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

fn worker_threads(pid: u32) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .flatten()
    {
        let tid = entry.file_name().to_string_lossy().into_owned();
        let comm = std::fs::read_to_string(entry.path().join("comm")).unwrap_or_default();
        // Linux keeps 15 bytes of a thread name: workers are kmirror-w0, kmirror-w1, ...
        if comm.trim().starts_with("kmirror-w") {
            out.push((comm.trim().to_string(), affinity_of(pid, &tid)));
        }
    }
    out.sort();
    out
}

#[test]
fn cpus_flag_pins_one_worker_per_cpu() {
    let cpus: Vec<usize> = kmirror::net::affinity::allowed_cpus();
    let chosen: Vec<usize> = cpus.iter().copied().take(2).collect();
    let list = chosen
        .iter()
        .map(|c| c.to_string())
        .collect::<Vec<_>>()
        .join(",");
    // No cluster needs to answer for the workers to start.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let path = scratch("cpus").join("mm2.properties");
    std::fs::write(
        &path,
        format!("clusters = A, B\nA.bootstrap.servers = 127.0.0.1:{port}\nB.bootstrap.servers = 127.0.0.1:{port}\nA->B.enabled = true\n"),
    )
    .unwrap();
    let mut km = Kmirror::start(&path, &["--cpus", &list]);
    let pid = km.pid();
    let mut threads = Vec::new();
    wait_until(Duration::from_secs(20), "worker threads", || {
        threads = worker_threads(pid);
        threads.len() == chosen.len()
    });
    for (i, (name, allowed)) in threads.iter().enumerate() {
        assert_eq!(name, &format!("kmirror-w{i}"));
        assert_eq!(
            allowed,
            &chosen[i].to_string(),
            "{name} may run on {allowed}, expected only CPU {}",
            chosen[i]
        );
    }
    km.stop();
}

#[test]
fn bad_cpu_list_is_a_usage_error() {
    let path = scratch("badcpus").join("mm2.properties");
    std::fs::write(&path, "clusters = A, B\nA.bootstrap.servers = 127.0.0.1:1\nB.bootstrap.servers = 127.0.0.1:1\nA->B.enabled = true\n").unwrap();
    let (code, out) = run_kmirror(&[path.to_str().unwrap(), "--cpus", "zero"]);
    assert_ne!(code, Some(0), "{out}");
    assert!(out.contains("--cpus"), "{out}");
}
