//! The one line kmirror logs at start-up with the settings in effect: the
//! tuning profile, workers and CPUs, streams, I/O backend, and per flow the
//! fetch sizes, socket buffers, produce requests in flight and congestion
//! control, all as resolved from the file, the profile and the flags. An
//! operator (or a test) reads from it that a profile took effect.

use std::fmt::Write as _;

use crate::config::run_flags::format_cpu_list;
use crate::net::SocketTuning;
use crate::plan::FlowPlan;

/// The process-wide part of the line.
#[derive(Clone, Copy, Debug)]
pub struct Process<'a> {
    /// The profile's name, or `none`.
    pub profile: &'a str,
    pub workers: usize,
    /// The CPUs workers are pinned to; `None`: unpinned.
    pub cpus: Option<&'a [usize]>,
    pub streams: usize,
    /// The backend's name (`io_uring`, `epoll`).
    pub io: &'a str,
}

/// Logs the line at info, every value a field of its own.
pub fn log(process: &Process<'_>, plans: &[FlowPlan]) {
    let default_cc = crate::net::limits::read_sysctl("net.ipv4.tcp_congestion_control")
        .unwrap_or_else(|| "?".to_string());
    let cpus = process
        .cpus
        .map_or_else(|| "unpinned".to_string(), format_cpu_list);
    tracing::info!(
        profile = %process.profile,
        workers = process.workers,
        cpus = %cpus,
        streams = process.streams,
        io = %process.io,
        flows = %flows(plans, &default_cc),
        "effective settings"
    );
}

/// Each flow's settings, `; `-separated: `A->B: fetch.max.bytes=... ...`.
pub fn flows(plans: &[FlowPlan], default_cc: &str) -> String {
    let mut out = String::new();
    for (i, plan) in plans.iter().enumerate() {
        if i > 0 {
            out.push_str("; ");
        }
        let _ = write!(
            out,
            "{}: fetch.max.bytes={} max.partition.fetch.bytes={} max.in.flight.requests.per.connection={} source[{}] target[{}]",
            plan.name(),
            plan.fetch.max_bytes,
            plan.fetch.partition_max_bytes,
            plan.produce.max_in_flight_per_partition,
            sockets(&plan.source.tuning, default_cc),
            sockets(&plan.target.tuning, default_cc),
        );
        let _ = match &plan.fleet {
            Some(f) => write!(
                out,
                " fleet[group={} instance.id={} tasks.max={}]",
                f.group,
                f.instance_id.as_deref().unwrap_or("none"),
                f.tasks_max
            ),
            None => write!(out, " fleet[off]"),
        };
    }
    out
}

/// `receive.buffer.bytes=33554432 send.buffer.bytes=auto congestion=bbr`;
/// `auto` is the kernel's autotuning, `default(x)` the host's algorithm.
fn sockets(tuning: &SocketTuning, default_cc: &str) -> String {
    let size = |v: Option<usize>| v.map_or_else(|| "auto".to_string(), |v| v.to_string());
    format!(
        "receive.buffer.bytes={} send.buffer.bytes={} congestion={}",
        size(tuning.receive_buffer),
        size(tuning.send_buffer),
        tuning
            .congestion
            .clone()
            .unwrap_or_else(|| format!("default({default_cc})"))
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::profile::{Layered, BUILTIN};
    use crate::net::Backend;
    use crate::plan::plans_from_config;

    /// The flows part of the line for an A->B file with `extra` lines,
    /// under `profile`.
    fn line(extra: &str, profile: Option<&str>) -> String {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("mm2.properties");
        std::fs::write(
            &path,
            format!(
                "clusters = A, B\nA.bootstrap.servers = 127.0.0.1:1\nB.bootstrap.servers = 127.0.0.1:2\nA->B.enabled = true\n{extra}"
            ),
        )
        .expect("write");
        let layered = Layered::load(&path, profile).expect("loads");
        let config = layered.mirror_config(None).expect("valid");
        let plans = plans_from_config(&config, Backend::Epoll).expect("plans");
        flows(&plans, "cubic")
    }

    #[test]
    fn without_a_profile_kafkas_defaults() {
        assert_eq!(
            line("", None),
            "A->B: fetch.max.bytes=52428800 max.partition.fetch.bytes=1048576 \
             max.in.flight.requests.per.connection=5 \
             source[receive.buffer.bytes=65536 send.buffer.bytes=131072 congestion=default(cubic)] \
             target[receive.buffer.bytes=32768 send.buffer.bytes=131072 congestion=default(cubic)] \
             fleet[group=kmirror.fleet.A.B.f98d5275 instance.id=none tasks.max=1]"
        );
        assert!(line("kmirror.fleet.enabled = false\n", None).ends_with(" fleet[off]"));
    }

    #[test]
    fn each_profile_changes_what_it_claims() {
        let wan = line("", Some("wan-high-bdp"));
        for claim in [
            "max.partition.fetch.bytes=8388608",
            "source[receive.buffer.bytes=33554432 send.buffer.bytes=auto congestion=bbr]",
        ] {
            assert!(wan.contains(claim), "{claim} not in {wan}");
        }
        let lan = line("", Some("lan-low-latency"));
        assert!(
            lan.contains("fetch.max.bytes=8388608 max.partition.fetch.bytes=1048576"),
            "{lan}"
        );
        assert!(
            lan.contains("source[receive.buffer.bytes=auto send.buffer.bytes=auto"),
            "{lan}"
        );
        let max = line("", Some("max-throughput"));
        assert!(max.contains("max.partition.fetch.bytes=16777216"), "{max}");
        assert!(
            max.contains("target[receive.buffer.bytes=16777216 send.buffer.bytes=16777216"),
            "{max}"
        );
        let small = line("", Some("small-host"));
        assert!(small.contains("fetch.max.bytes=8388608"), "{small}");
        assert!(
            small.contains("source[receive.buffer.bytes=auto"),
            "{small}"
        );
        assert_eq!(BUILTIN.len(), 4);
    }

    #[test]
    fn the_files_keys_win() {
        let text = line(
            "consumer.fetch.max.bytes = 1234567\nA.receive.buffer.bytes = 262144\n",
            Some("wan-high-bdp"),
        );
        assert!(text.contains("A->B: fetch.max.bytes=1234567 "), "{text}");
        // A's own buffer, over the profile's top-level one; B keeps the profile's.
        assert!(
            text.contains("source[receive.buffer.bytes=262144 "),
            "{text}"
        );
        assert!(
            text.contains("target[receive.buffer.bytes=33554432 "),
            "{text}"
        );
    }
}
