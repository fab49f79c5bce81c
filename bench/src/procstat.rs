//! CPU time and peak memory of a process or one of our threads, from /proc.

use std::time::Duration;

/// User plus system CPU time of `pid` (its threads included).
pub fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    cpu_from_stat(&stat)
}

/// utime + stime of a /proc stat line (process or thread).
fn cpu_from_stat(stat: &str) -> Option<Duration> {
    // Fields after the parenthesised command name; utime and stime are the
    // 14th and 15th fields of the whole line.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    // SAFETY: sysconf has no memory-safety preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Some(Duration::from_millis((utime + stime) * 1000 / ticks))
}

/// Peak resident set size (VmHWM) of `pid`, in KiB.
pub fn peak_rss_kib(pid: u32) -> Option<u64> {
    status_kib(pid, "VmHWM:")
}

/// Current resident set size (VmRSS) of `pid`, in KiB.
pub fn current_rss_kib(pid: u32) -> Option<u64> {
    status_kib(pid, "VmRSS:")
}

/// A `kB` figure of /proc/`pid`/status.
fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// User plus system CPU time of the thread of `pid` named `name` (its
/// /proc comm), if there is one.
pub fn named_thread_cpu_time(pid: u32, name: &str) -> Option<Duration> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    tasks.filter_map(|t| t.ok()).find_map(|t| {
        let comm = std::fs::read_to_string(t.path().join("comm")).ok()?;
        if comm.trim() != name {
            return None;
        }
        cpu_from_stat(&std::fs::read_to_string(t.path().join("stat")).ok()?)
    })
}

/// User plus system CPU time of thread `tid` of this process.
pub fn thread_cpu_time(tid: i32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).ok()?;
    cpu_from_stat(&stat)
}

/// The calling thread's id, for [`thread_cpu_time`].
pub fn current_tid() -> i32 {
    // SAFETY: gettid takes no arguments and cannot fail.
    unsafe { libc::syscall(libc::SYS_gettid) as i32 }
}

/// Time the threads of `pid` spent runnable but waiting for a CPU (second
/// field of /proc/PID/task/TID/schedstat): how much a busy machine held a
/// process back.
pub fn run_queue_wait(pid: u32) -> Option<Duration> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    Some(
        tasks
            .filter_map(|t| t.ok())
            .filter_map(|t| schedstat_wait(&t.path().join("schedstat")))
            .sum(),
    )
}

/// [`run_queue_wait`] of one thread of this process.
pub fn thread_run_queue_wait(tid: i32) -> Option<Duration> {
    schedstat_wait(std::path::Path::new(&format!(
        "/proc/self/task/{tid}/schedstat"
    )))
}

fn schedstat_wait(path: &std::path::Path) -> Option<Duration> {
    let text = std::fs::read_to_string(path).ok()?;
    let ns: u64 = text.split_whitespace().nth(1)?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}
