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

/// The sum of a metric's values over its label sets, from a /metrics body.
fn metric_sum(body: &str, name: &str) -> f64 {
    body.lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// A steady window of kmirror between fake brokers with `partitions`
/// partitions of 16 KiB batches (too large to be merged: the fast path):
/// (worker allocations, batches acknowledged, produce requests) in it.
fn steady_window(partitions: i32) -> (f64, f64, f64) {
    use std::sync::atomic::Ordering::Relaxed;
    let name = format!("allocations-{partitions}");
    let (source, target) = fake_pair(
        &name,
        "alloc",
        partitions,
        16 * 1024,
        kmirror_harness::fake::ENDLESS,
    );
    let config = common::fake::fake_mm2(
        &name,
        &source,
        &target,
        "kmirror.metrics.address = 127.0.0.1:0\n",
    );
    let mut km = Kmirror::start(&config, &["--cpus", "0"]);
    let acked = target.acked();
    wait_until(Duration::from_secs(60), "batches acknowledged", || {
        acked.batches.load(Relaxed) > 20_000
    });
    // Counts next to the first report after now: the metric moves only
    // when a worker reports (every half second).
    let at_report = || {
        let allocations = || metric_sum(&km.get("/metrics").1, "kmirror_worker_allocations");
        let before = allocations();
        loop {
            let body = km.get("/metrics").1;
            let now = metric_sum(&body, "kmirror_worker_allocations");
            if now != before {
                eprintln!(
                    "so far: {} fetch requests, {} produce requests",
                    metric_sum(&body, "kmirror_fetch_requests"),
                    metric_sum(&body, "kmirror_produce_requests")
                );
                return (
                    now,
                    acked.batches.load(Relaxed) as f64,
                    acked.requests.load(Relaxed) as f64,
                );
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    };
    let start = at_report();
    std::thread::sleep(Duration::from_secs(4));
    let end = at_report();
    km.stop();
    (end.0 - start.0, end.1 - start.1, end.2 - start.2)
}

#[test]
fn the_data_path_allocates_nothing_per_batch_in_steady_state() {
    // Produce requests carry one batch per partition: ten times the
    // partitions, ten times the batches per request. Whatever a worker
    // allocates per request stays; anything it allocated per batch (or per
    // partition of a fetch or produce) would grow with them.
    let few = steady_window(4);
    let many = steady_window(40);
    let per_request = |w: (f64, f64, f64)| (w.0 / w.2, w.1 / w.2);
    let (a_few, b_few) = per_request(few);
    let (a_many, b_many) = per_request(many);
    eprintln!(
        "4 partitions: {a_few:.2} allocations and {b_few:.1} batches per produce request ({:.3} per batch); \
         40 partitions: {a_many:.2} and {b_many:.1} ({:.3} per batch)",
        a_few / b_few,
        a_many / b_many
    );
    assert!(
        few.1 > 1000.0 && many.1 > 1000.0,
        "too few batches to judge: {few:?} {many:?}"
    );
    assert!(b_many > b_few * 3.0, "requests did not carry more batches");
    let per_extra_batch = (a_many - a_few) / (b_many - b_few);
    assert!(
        per_extra_batch < 0.2,
        "{per_extra_batch:.3} allocations per extra batch in a request \
         ({a_few:.2} per request at {b_few:.1} batches, {a_many:.2} at {b_many:.1})"
    );
}
