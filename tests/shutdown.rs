//! Stopping in bounded time, whatever the brokers do; a second signal
//! exits at once; a panic anywhere ends the process with status 4 and says
//! where. Played against the harness's fake brokers (no JVM; nothing here
//! claims that mirroring works).

mod common;

use std::time::{Duration, Instant};

use common::fake::{fake_mm2, fake_pair};
use common::*;
use kmirror_harness::fake::{Fault, Rule};
use kmirror_proto::api::Api;

/// Waits until the target has been sent at least one Produce.
fn wait_for_produce(target: &kmirror_harness::fake::FakeBroker, km: &mut Kmirror) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while target.requests(Api::Produce) == 0 {
        assert!(km.is_running(), "kmirror exited:\n{}", km.output());
        assert!(Instant::now() < deadline, "no produce:\n{}", km.output());
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn unanswered_produces_are_abandoned_at_the_deadline() {
    let (source, target) = fake_pair("abandon", "t", 3, 4096, 100_000);
    // The target never answers a produce in time.
    target.inject(Rule::on(
        Api::Produce,
        Fault::Delay(Duration::from_secs(120)),
    ));
    let cfg = fake_mm2(
        "abandon",
        &source,
        &target,
        "kmirror.shutdown.timeout.ms = 3000\nrequest.timeout.ms = 60000",
    );
    let mut km = Kmirror::start(&cfg, &[]);
    wait_for_produce(&target, &mut km);
    let stopping = Instant::now();
    km.signal(libc::SIGTERM);
    let code = km
        .wait_exit(Duration::from_secs(20))
        .unwrap_or_else(|| panic!("no exit 20 s after SIGTERM:\n{}", km.output()));
    assert_eq!(code, Some(0), "{}", km.output());
    // The deadline, plus room for a loaded machine; never the request
    // timeout (60 s).
    assert!(
        stopping.elapsed() < Duration::from_secs(15),
        "took {:?}",
        stopping.elapsed()
    );
    let out = km.output();
    let abandoned = out
        .lines()
        .find_map(|l| {
            let (before, _) = l.split_once(" produce requests abandoned")?;
            before.rsplit(' ').next()?.parse::<u64>().ok()
        })
        .unwrap_or_else(|| panic!("no abandoned count in the summary:\n{out}"));
    assert!(abandoned >= 1, "{out}");
}

#[test]
fn a_second_signal_exits_at_once() {
    let (source, target) = fake_pair("second-signal", "t", 2, 4096, 100_000);
    target.inject(Rule::on(
        Api::Produce,
        Fault::Delay(Duration::from_secs(120)),
    ));
    let cfg = fake_mm2(
        "second-signal",
        &source,
        &target,
        "kmirror.shutdown.timeout.ms = 60000\nrequest.timeout.ms = 100000",
    );
    let mut km = Kmirror::start(&cfg, &[]);
    wait_for_produce(&target, &mut km);
    km.signal(libc::SIGTERM);
    std::thread::sleep(Duration::from_millis(500));
    assert!(km.is_running(), "the first signal waits for acks");
    km.signal(libc::SIGINT);
    let code = km
        .wait_exit(Duration::from_secs(10))
        .unwrap_or_else(|| panic!("still running after a second signal:\n{}", km.output()));
    assert_eq!(code, Some(128 + libc::SIGINT), "{}", km.output());
    assert!(km.output().contains("second signal"), "{}", km.output());
}

#[test]
fn a_panic_anywhere_exits_4_and_says_where() {
    let (source, target) = fake_pair("panic", "t", 2, 4096, 1000);
    let cfg = fake_mm2("panic", &source, &target, "");
    let mut km =
        Kmirror::start_with_env(&cfg, &[], &[("KMIRROR_FAILPOINT_WORKER_TASK_PANIC", "1")]);
    let code = km
        .wait_exit(Duration::from_secs(30))
        .unwrap_or_else(|| panic!("a panicked task left kmirror running:\n{}", km.output()));
    assert_eq!(code, Some(4), "{}", km.output());
    let out = km.output();
    let line = out
        .lines()
        .find(|l| l.contains("internal error"))
        .unwrap_or_else(|| panic!("no internal-error line:\n{out}"));
    assert!(
        line.contains("failpoint") && line.contains("worker/mod.rs") && line.contains("kmirror-w"),
        "{line}"
    );
}
