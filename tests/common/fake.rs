//! Fake-broker setups for error-path tests (they prove nothing about
//! mirroring; see `kmirror_harness::fake`).

use std::path::PathBuf;

use kmirror_harness::fake::{FakeBroker, Role, Template};

/// A fake source serving `topic` (`partitions` partitions of copies of a
/// `batch_bytes` batch, `log_end` offsets each) and a fake target.
pub fn fake_pair(
    name: &str,
    topic: &str,
    partitions: i32,
    batch_bytes: usize,
    log_end: i64,
) -> (FakeBroker, FakeBroker) {
    let source = FakeBroker::start(
        &format!("{name}-source"),
        Role::Source {
            topic: topic.into(),
            partitions,
            template: Template::new(batch_bytes).expect("template"),
            log_end,
        },
    )
    .expect("fake source");
    let target = FakeBroker::start(&format!("{name}-target"), Role::Target).expect("fake target");
    (source, target)
}

/// An mm2.properties mirroring `A -> B` between fake brokers, plus `extra`.
/// Heartbeats, checkpoints and offset syncs are off: the fake brokers keep
/// no topics, and the tests that use them count the data path's requests.
pub fn fake_mm2(name: &str, source: &FakeBroker, target: &FakeBroker, extra: &str) -> PathBuf {
    super::write_mm2(
        name,
        &source.bootstrap(),
        &target.bootstrap(),
        &format!(
            "offset.flush.interval.ms = 300\n\
             emit.heartbeats.enabled = false\n\
             emit.checkpoints.enabled = false\n\
             emit.offset-syncs.enabled = false\n\
             {extra}"
        ),
    )
}

/// Peak resident set of a process, in KiB (VmHWM).
pub fn peak_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}
