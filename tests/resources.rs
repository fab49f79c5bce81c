//! What one flow or one slow cluster may take from the rest: a source that
//! never answers delays only its own flow, and memory held in receive
//! buffers stays near the process-wide cap however slow the target is.
//! Played against the harness's fake brokers (no JVM; nothing here claims
//! that mirroring works).

mod common;

use std::time::{Duration, Instant};

use common::fake::{fake_pair, peak_rss_kib};
use common::*;
use kmirror_harness::fake::{FakeBroker, Fault, Role, Rule, Template};
use kmirror_proto::api::Api;

#[test]
fn a_silent_source_delays_only_its_own_flow() {
    // Flow S->T works; flow D->T's source answers nothing at all.
    let (good, target) = fake_pair("isolation", "good", 3, 4096, 1_000_000);
    let dead = FakeBroker::start(
        "isolation-dead",
        Role::Source {
            topic: "dead".into(),
            partitions: 3,
            template: Template::new(4096).expect("template"),
            log_end: 1000,
        },
    )
    .expect("fake");
    dead.inject(Rule::any(Fault::SizeThenSilence(100)));
    let path = scratch("isolation").join("mm2.properties");
    std::fs::write(
        &path,
        format!(
            "clusters = S, D, T\n\
             S.bootstrap.servers = {}\n\
             D.bootstrap.servers = {}\n\
             T.bootstrap.servers = {}\n\
             S->T.enabled = true\n\
             D->T.enabled = true\n\
             replication.factor = 1\n\
             offset-syncs.topic.replication.factor = 1\n\
             checkpoints.topic.replication.factor = 1\n\
             heartbeats.topic.replication.factor = 1\n\
             offset.flush.interval.ms = 300\n\
             request.timeout.ms = 20000\n\
             kmirror.shutdown.timeout.ms = 4000\n",
            good.bootstrap(),
            dead.bootstrap(),
            target.bootstrap()
        ),
    )
    .unwrap();
    let mut km = Kmirror::start(&path, &[]);
    // The good flow mirrors and commits its progress, again and again,
    // while every request to the dead source hangs until its timeout.
    let deadline = Instant::now() + Duration::from_secs(60);
    while target.requests(Api::OffsetCommit) < 5 {
        assert!(km.is_running(), "kmirror exited:\n{}", km.output());
        assert!(
            Instant::now() < deadline,
            "the good flow made no progress while the other source was silent ({} bytes acked, {} commits):\n{}",
            target.acked().bytes.load(std::sync::atomic::Ordering::Relaxed),
            target.requests(Api::OffsetCommit),
            km.output()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        target
            .acked()
            .bytes
            .load(std::sync::atomic::Ordering::Relaxed)
            > 0
    );
    assert!(
        dead.requests(Api::ApiVersions) >= 1,
        "the dead source was never tried"
    );
    assert_eq!(km.stop(), Some(0), "{}", km.output());
}

#[test]
fn buffered_memory_stays_near_the_cap_when_the_target_is_slow() {
    const CAP: u64 = 48 << 20;
    let (source, target) = fake_pair("memory", "big", 24, 1 << 20, 1 << 40);
    target.inject(Rule::on(
        Api::Produce,
        Fault::Delay(Duration::from_millis(1500)),
    ));
    let cfg = common::fake::fake_mm2(
        "memory",
        &source,
        &target,
        &format!(
            "kmirror.memory.max.bytes = {CAP}\n\
             A.consumer.max.partition.fetch.bytes = 4194304\n\
             A.consumer.fetch.max.bytes = 16777216\n\
             kmirror.shutdown.timeout.ms = 3000"
        ),
    );
    let mut km = Kmirror::start(&cfg, &[]);
    let deadline = Instant::now() + Duration::from_secs(30);
    while target.requests(Api::Produce) < 20 {
        assert!(km.is_running(), "kmirror exited:\n{}", km.output());
        assert!(Instant::now() < deadline, "no produces:\n{}", km.output());
        std::thread::sleep(Duration::from_millis(200));
    }
    // Fetching has long outrun producing by now.
    std::thread::sleep(Duration::from_secs(5));
    let rss = peak_rss_kib(km.pid());
    assert_eq!(km.stop(), Some(0), "{}", km.output());
    let out = km.output();
    let peak_mb: f64 = out
        .lines()
        .find_map(|l| {
            let (_, rest) = l.split_once("peak buffer memory ")?;
            rest.split(' ').next()?.parse().ok()
        })
        .unwrap_or_else(|| panic!("no peak in the summary:\n{out}"));
    // The cap, plus one fetch answer that was admitted just under it.
    let bound_mb = (CAP + (16 << 20) + (2 << 20)) as f64 / 1e6;
    assert!(
        peak_mb <= bound_mb,
        "peak {peak_mb} MB held, cap {} MB:\n{out}",
        CAP as f64 / 1e6
    );
    // Fetching really was held back: more was there to fetch.
    assert!(
        peak_mb > 10.0,
        "peak {peak_mb} MB: the cap was never approached"
    );
    assert!(rss < 256 * 1024, "peak RSS {rss} KiB");
}
