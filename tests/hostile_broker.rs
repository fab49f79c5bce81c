//! Hostile and broken brokers, played by the harness's scriptable fake
//! broker (no JVM; these tests prove nothing about mirroring, only that bad
//! answers cannot crash, hang or bloat kmirror). For each bad answer kmirror
//! must stay up, keep its peak RSS under 256 MiB, log a line naming the
//! broker's address and the defect, try again with backoff, and exit 0
//! within its shutdown deadline on SIGTERM.

mod common;

use std::time::{Duration, Instant};

use common::*;
use kmirror_harness::fake::{FakeBroker, Fault, Role, Rule, Template};
use kmirror_proto::api::Api;

const TOPIC: &str = "hostile";
const RSS_LIMIT_KIB: u64 = 256 * 1024;
/// What kmirror is given to stop in; the tests allow it more.
const SHUTDOWN_MS: u64 = 4000;

/// Which fake broker plays the bad part.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Side {
    Source,
    Target,
}

struct Case {
    name: String,
    side: Side,
    api: Api,
    fault: Fault,
    /// Words the log line must hold besides the broker's address.
    defect: &'static str,
    /// Advertise at most this version of `api` (classic encodings).
    max_version: Option<i16>,
    /// The source's batch, when it is the bad part.
    template: Option<Template>,
    /// More lines for the mm2.properties (exactly-once mode, say).
    extra: &'static str,
    /// Target topics that exist before kmirror starts: (name, partitions).
    target_topics: Vec<(&'static str, i32)>,
}

impl Case {
    fn new(name: &str, side: Side, api: Api, fault: Fault, defect: &'static str) -> Case {
        Case {
            name: name.to_string(),
            side,
            api,
            fault,
            defect,
            max_version: None,
            template: None,
            extra: "",
            target_topics: Vec::new(),
        }
    }

    /// The same case with Fetch responses read on the splice path (epoll,
    /// every batch spliced that can be).
    fn spliced(mut self) -> Case {
        self.name.push_str("-spliced");
        self.extra = "kmirror.io = epoll\n\
                      kmirror.splice = on\n\
                      consumer.check.crcs = false\n\
                      kmirror.splice.min.bytes = 1\n\
                      kmirror.coalesce.enabled = false";
        self
    }

    /// The same case in exactly-once mode.
    fn exactly_once(mut self) -> Case {
        self.extra = "exactly.once.source.support = enabled\nkmirror.transaction.interval.ms = 100";
        self
    }
}

/// Runs one case to the end and returns what went wrong, if anything.
fn run_case(case: Case) -> Result<(), String> {
    let template = case
        .template
        .clone()
        .unwrap_or_else(|| Template::new(4096).expect("template"));
    let source = FakeBroker::start(
        &format!("{}-source", case.name),
        Role::Source {
            topic: TOPIC.into(),
            partitions: 3,
            template,
            log_end: 10_000,
        },
    )
    .map_err(|e| e.to_string())?;
    let target = FakeBroker::start(&format!("{}-target", case.name), Role::Target)
        .map_err(|e| e.to_string())?;
    let bad = match case.side {
        Side::Source => &source,
        Side::Target => &target,
    };
    if let Some(v) = case.max_version {
        bad.limit_version(case.api, v);
    }
    for (topic, partitions) in &case.target_topics {
        target.add_topic(topic, *partitions);
    }
    bad.inject(Rule::on(case.api, case.fault.clone()));
    let path = fake::fake_mm2(
        &case.name,
        &source,
        &target,
        &format!(
            "request.timeout.ms = 2000\n\
             kmirror.shutdown.timeout.ms = {SHUTDOWN_MS}\n\
             kmirror.decompression.max.bytes = 1048576\n\
             {}",
            case.extra
        ),
    );
    let mut km = Kmirror::start(&path, &[]);
    let addr = bad.bootstrap();
    let described = |out: &str| {
        out.lines()
            .any(|l| l.contains(&addr) && l.contains(case.defect))
    };
    let deadline = Instant::now() + Duration::from_secs(40);
    while !described(&km.output()) {
        if !km.is_running() {
            return Err(format!("kmirror exited:\n{}", km.output()));
        }
        if Instant::now() > deadline {
            return Err(format!(
                "no log line names {addr} and '{}' ({} faulty {} requests):\n{}",
                case.defect,
                bad.requests(case.api),
                case.api.name(),
                km.output()
            ));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    // It tries again, with backoff: more faulty requests come, but not in
    // a hot loop.
    let first = bad.requests(case.api);
    let deadline = Instant::now() + Duration::from_secs(30);
    while bad.requests(case.api) < first + 1 {
        if Instant::now() > deadline {
            return Err(format!(
                "no retry of {} after the fault:\n{}",
                case.api.name(),
                km.output()
            ));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_secs(3));
    let retries = bad.requests(case.api) - first;
    if retries > 150 {
        return Err(format!(
            "{retries} {} requests in about 3 s after the first fault: no backoff",
            case.api.name()
        ));
    }
    if !km.is_running() {
        return Err(format!("kmirror exited:\n{}", km.output()));
    }
    let rss = fake::peak_rss_kib(km.pid());
    if rss > RSS_LIMIT_KIB {
        return Err(format!("peak RSS {rss} KiB is over {RSS_LIMIT_KIB} KiB"));
    }
    let stopping = Instant::now();
    let code = km.stop();
    let took = stopping.elapsed();
    if code != Some(0) {
        return Err(format!(
            "exit status {code:?} after SIGTERM:\n{}",
            km.output()
        ));
    }
    // The deadline plus room for a loaded machine.
    if took > Duration::from_millis(SHUTDOWN_MS) + Duration::from_secs(6) {
        return Err(format!("took {took:?} to stop, deadline {SHUTDOWN_MS} ms"));
    }
    Ok(())
}

/// Runs cases side by side; fails with every case that went wrong.
fn run_all(cases: Vec<Case>) {
    let handles: Vec<_> = cases
        .into_iter()
        .map(|c| {
            let name = c.name.clone();
            (name, std::thread::spawn(move || run_case(c)))
        })
        .collect();
    let mut failed = Vec::new();
    for (name, h) in handles {
        match h.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => failed.push(format!("{name}: {e}")),
            Err(_) => failed.push(format!("{name}: the case panicked")),
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n\n"));
}

/// A compact (flexible) array length of about 2^32.
const HUGE_COMPACT: [u8; 5] = [0xff, 0xff, 0xff, 0xff, 0x0f];

fn body(prefix: &[u8], tail: &[u8]) -> Vec<u8> {
    [prefix, tail].concat()
}

#[test]
fn huge_array_counts_in_every_response() {
    let throttle = [0u8; 4];
    let cases = vec![
        Case::new(
            "count-apiversions",
            Side::Source,
            Api::ApiVersions,
            Fault::Body(body(&[0, 0], &HUGE_COMPACT)),
            "malformed ApiVersions",
        ),
        Case::new(
            "count-metadata",
            Side::Source,
            Api::Metadata,
            Fault::Body(body(&throttle, &HUGE_COMPACT)),
            "malformed Metadata",
        ),
        Case {
            // Metadata v8 is classic: an INT32 count of 2^31 - 1.
            max_version: Some(8),
            ..Case::new(
                "count-metadata-classic",
                Side::Source,
                Api::Metadata,
                Fault::Body(body(&throttle, &[0x7f, 0xff, 0xff, 0xff])),
                "malformed Metadata",
            )
        },
        Case::new(
            "count-listoffsets",
            Side::Source,
            Api::ListOffsets,
            Fault::Body(body(&throttle, &HUGE_COMPACT)),
            "malformed ListOffsets",
        ),
        Case::new(
            "count-fetch",
            Side::Source,
            Api::Fetch,
            Fault::Body(body(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0], &HUGE_COMPACT)),
            "malformed Fetch",
        ),
        Case::new(
            "count-describeconfigs",
            Side::Source,
            Api::DescribeConfigs,
            Fault::Body(body(&throttle, &HUGE_COMPACT)),
            "malformed DescribeConfigs",
        ),
        Case::new(
            "count-createtopics",
            Side::Target,
            Api::CreateTopics,
            Fault::Body(body(&throttle, &HUGE_COMPACT)),
            "malformed CreateTopics",
        ),
        Case::new(
            "count-findcoordinator",
            Side::Target,
            Api::FindCoordinator,
            Fault::Body(body(&throttle, &HUGE_COMPACT)),
            "malformed FindCoordinator",
        ),
        Case::new(
            "count-offsetfetch",
            Side::Target,
            Api::OffsetFetch,
            Fault::Body(body(&throttle, &HUGE_COMPACT)),
            "malformed OffsetFetch",
        ),
        Case::new(
            "count-produce",
            Side::Target,
            Api::Produce,
            Fault::Body(HUGE_COMPACT.to_vec()),
            "malformed Produce",
        ),
        Case::new(
            "count-offsetcommit",
            Side::Target,
            Api::OffsetCommit,
            Fault::Body(body(&throttle, &HUGE_COMPACT)),
            "malformed OffsetCommit",
        ),
        Case::new(
            "truncated-initproducerid",
            Side::Target,
            Api::InitProducerId,
            Fault::Body(throttle.to_vec()),
            "malformed InitProducerId",
        ),
        Case {
            // The target topic has fewer partitions than the source's.
            target_topics: vec![("A.hostile", 1)],
            ..Case::new(
                "count-createpartitions",
                Side::Target,
                Api::CreatePartitions,
                Fault::Body(body(&throttle, &HUGE_COMPACT)),
                "malformed CreatePartitions",
            )
        },
    ];
    run_all(cases);
}

#[test]
fn huge_counts_and_cut_bodies_in_transaction_responses() {
    let throttle = [0u8; 4];
    let cases = vec![
        Case::new(
            "eos-count-addpartitions",
            Side::Target,
            Api::AddPartitionsToTxn,
            Fault::Body(body(&throttle, &HUGE_COMPACT)),
            "malformed AddPartitionsToTxn",
        )
        .exactly_once(),
        Case::new(
            "eos-count-txnoffsetcommit",
            Side::Target,
            Api::TxnOffsetCommit,
            Fault::Body(body(&throttle, &HUGE_COMPACT)),
            "malformed TxnOffsetCommit",
        )
        .exactly_once(),
        Case::new(
            "eos-cut-addoffsets",
            Side::Target,
            Api::AddOffsetsToTxn,
            Fault::Body(throttle.to_vec()),
            "malformed AddOffsetsToTxn",
        )
        .exactly_once(),
        Case::new(
            "eos-cut-endtxn",
            Side::Target,
            Api::EndTxn,
            Fault::Body(vec![0, 0]),
            "malformed EndTxn",
        )
        .exactly_once(),
        Case::new(
            "eos-gib-initproducerid",
            Side::Target,
            Api::InitProducerId,
            Fault::SizeThenSilence((1 << 30) - 8),
            "announced a response of",
        )
        .exactly_once(),
        Case::new(
            "eos-error-endtxn",
            Side::Target,
            Api::EndTxn,
            Fault::Error(120),
            "TRANSACTION_ABORTABLE",
        )
        .exactly_once(),
    ];
    run_all(cases);
}

#[test]
fn sizes_silence_trickles_and_cut_frames() {
    let cases = vec![
        Case::new(
            "gib-then-silence-fetch",
            Side::Source,
            Api::Fetch,
            Fault::SizeThenSilence((1 << 30) - 8),
            "announced a response of",
        ),
        Case::new(
            "gib-then-silence-metadata",
            Side::Target,
            Api::Metadata,
            Fault::SizeThenSilence((1 << 30) - 8),
            "announced a response of",
        ),
        Case::new(
            "small-size-then-silence",
            Side::Source,
            Api::Fetch,
            Fault::SizeThenSilence(100_000),
            "timed out",
        ),
        Case::new(
            "trickle-fetch",
            Side::Source,
            Api::Fetch,
            Fault::Trickle {
                size: 10_000,
                every: Duration::from_secs(2),
            },
            "timed out",
        ),
        Case::new(
            "trickle-produce",
            Side::Target,
            Api::Produce,
            Fault::Trickle {
                size: 10_000,
                every: Duration::from_secs(2),
            },
            "timed out",
        ),
        Case::new(
            "truncated-frame-then-close",
            Side::Source,
            Api::Fetch,
            Fault::PartialThenClose(30),
            "closed by the broker",
        ),
        Case::new(
            "truncated-frame-then-stall",
            Side::Target,
            Api::Metadata,
            Fault::PartialThenStall(12),
            "timed out",
        ),
    ];
    run_all(cases);
}

/// Bad Fetch answers read on the splice path, where the response is
/// parsed as it arrives and record bytes go into pipes: cut anywhere (in
/// the fields, in a batch's records), random, with counts and lengths past
/// the frame, or never finished.
#[test]
fn fetch_faults_on_the_splice_path() {
    // Fields up to the first partition's record set length (flexible v12,
    // after the response header): throttle, error, session, one topic
    // "hostile", one partition 0 with no error, offsets, no aborted
    // transactions, no preferred replica.
    let mut head = vec![0u8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 8];
    head.extend_from_slice(b"hostile");
    head.push(2);
    head.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    head.extend_from_slice(&[0; 24]);
    head.push(1);
    head.extend_from_slice(&(-1i32).to_be_bytes());
    let cases = vec![
        Case::new(
            "count-fetch",
            Side::Source,
            Api::Fetch,
            Fault::Body(body(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0], &HUGE_COMPACT)),
            "malformed Fetch",
        ),
        Case::new(
            "records-past-frame",
            Side::Source,
            Api::Fetch,
            // A record set of about 2^28 bytes in a frame of a few dozen.
            Fault::Body(body(&head, &[0xff, 0xff, 0xff, 0x7f, 0, 0, 0])),
            "malformed Fetch",
        ),
        Case::new(
            "random-fetch",
            Side::Source,
            Api::Fetch,
            Fault::RandomBody(3000),
            "malformed Fetch",
        ),
        Case::new(
            "cut-in-fields",
            Side::Source,
            Api::Fetch,
            Fault::PartialThenClose(30),
            "closed by the broker",
        ),
        Case::new(
            "cut-in-records",
            Side::Source,
            Api::Fetch,
            Fault::PartialThenClose(3000),
            "closed by the broker",
        ),
        Case::new(
            "stall-in-records",
            Side::Source,
            Api::Fetch,
            Fault::PartialThenStall(3000),
            "timed out",
        ),
        Case::new(
            "wrong-correlation",
            Side::Source,
            Api::Fetch,
            Fault::WrongCorrelation,
            "correlation id",
        ),
    ];
    run_all(cases.into_iter().map(Case::spliced).collect());
}

#[test]
fn random_bytes_and_wrong_correlation_ids() {
    let cases = vec![
        Case::new(
            "random-fetch",
            Side::Source,
            Api::Fetch,
            Fault::RandomBody(3000),
            "malformed Fetch",
        ),
        Case::new(
            "random-metadata",
            Side::Source,
            Api::Metadata,
            Fault::RandomBody(500),
            "malformed Metadata",
        ),
        Case::new(
            "random-produce",
            Side::Target,
            Api::Produce,
            Fault::RandomBody(200),
            "malformed Produce",
        ),
        Case::new(
            "wrong-correlation-fetch",
            Side::Source,
            Api::Fetch,
            Fault::WrongCorrelation,
            "correlation id",
        ),
        Case::new(
            "wrong-correlation-produce",
            Side::Target,
            Api::Produce,
            Fault::WrongCorrelation,
            "correlation id",
        ),
        Case::new(
            "disconnect-produce",
            Side::Target,
            Api::Produce,
            Fault::Disconnect,
            "closed by the broker",
        ),
    ];
    run_all(cases);
}

/// A small zstd batch of zeros that inflates to 8 MiB, with LogAppendTime
/// set so that kmirror must decompress it (to stamp each record).
fn inflating_batch() -> Template {
    use kmirror_proto::compression::Compression;
    use kmirror_proto::records::{encode_batch, BatchMeta, NewRecord};
    let records: Vec<NewRecord> = (0..8)
        .map(|i| NewRecord {
            offset_delta: i,
            timestamp: 1_700_000_000_000,
            key: None,
            value: Some(bytes::Bytes::from(vec![0u8; 1 << 20])),
            headers: Vec::new(),
        })
        .collect();
    let meta = BatchMeta {
        base_offset: 0,
        partition_leader_epoch: 0,
        compression: Compression::Zstd,
        log_append_time: true,
        producer_id: -1,
        producer_epoch: -1,
        base_sequence: -1,
        transactional: false,
    };
    let bytes = encode_batch(&meta, &records).expect("batch");
    assert!(bytes.len() < 64 * 1024, "{} bytes", bytes.len());
    Template::from_batch(bytes, 8)
}

#[test]
fn a_small_batch_that_inflates_past_the_cap() {
    let case = Case {
        template: Some(inflating_batch()),
        ..Case::new(
            "decompression-bomb",
            Side::Source,
            Api::Fetch,
            // No fault in the answer itself: the batch is the bad part.
            Fault::Delay(Duration::ZERO),
            "inflates past the limit",
        )
    };
    run_all(vec![case]);
}

#[test]
fn kafka_errors_are_retried_not_fatal() {
    let cases = vec![
        Case::new(
            "error-fetch-unknown-server",
            Side::Source,
            Api::Fetch,
            Fault::Error(-1),
            "UNKNOWN_SERVER_ERROR",
        ),
        Case::new(
            "error-initproducerid",
            Side::Target,
            Api::InitProducerId,
            Fault::Error(15),
            "COORDINATOR_NOT_AVAILABLE",
        ),
        Case::new(
            "delay-produce",
            Side::Target,
            Api::Produce,
            Fault::Delay(Duration::from_secs(10)),
            "timed out",
        ),
    ];
    run_all(cases);
}

/// Batches whose timestamps sit at the ends of the i64 range are mirrored
/// like any other: nothing computed from them may overflow.
#[test]
fn extreme_timestamps_are_mirrored_without_overflow() {
    use kmirror_proto::compression::Compression;
    use kmirror_proto::records::{encode_batch, BatchMeta, NewRecord};
    for (name, ts, log_append) in [
        ("ts-max", i64::MAX, false),
        ("ts-min", i64::MIN, false),
        ("ts-max-log-append", i64::MAX, true),
    ] {
        let records = vec![NewRecord {
            offset_delta: 0,
            timestamp: ts,
            key: None,
            value: Some(bytes::Bytes::from_static(b"v")),
            headers: Vec::new(),
        }];
        let meta = BatchMeta {
            base_offset: 0,
            partition_leader_epoch: 0,
            compression: Compression::None,
            log_append_time: log_append,
            producer_id: -1,
            producer_epoch: -1,
            base_sequence: -1,
            transactional: false,
        };
        let template = Template::from_batch(encode_batch(&meta, &records).unwrap(), 1);
        let source = FakeBroker::start(
            &format!("{name}-source"),
            Role::Source {
                topic: TOPIC.into(),
                partitions: 2,
                template,
                log_end: 1_000_000,
            },
        )
        .unwrap();
        let target = FakeBroker::start(&format!("{name}-target"), Role::Target).unwrap();
        let cfg = fake::fake_mm2(name, &source, &target, "kmirror.shutdown.timeout.ms = 3000");
        let mut km = Kmirror::start(&cfg, &[]);
        let deadline = Instant::now() + Duration::from_secs(30);
        while target
            .acked()
            .batches
            .load(std::sync::atomic::Ordering::Relaxed)
            < 100
        {
            assert!(km.is_running(), "{name}: kmirror exited:\n{}", km.output());
            assert!(
                Instant::now() < deadline,
                "{name}: nothing mirrored:\n{}",
                km.output()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        assert_eq!(km.stop(), Some(0), "{name}:\n{}", km.output());
    }
}

/// A commit whose answer is lost (the coordinator closes the connection
/// after EndTxn) may have happened: kmirror asks again instead of aborting,
/// since an abort would rewind to the previous commit and write again what
/// the coordinator committed.
#[test]
fn an_unanswered_commit_is_asked_again_not_aborted() {
    let source = FakeBroker::start(
        "eos-lost-commit-source",
        Role::Source {
            topic: TOPIC.into(),
            partitions: 3,
            template: Template::new(4096).expect("template"),
            log_end: 10_000,
        },
    )
    .unwrap();
    let target = FakeBroker::start("eos-lost-commit-target", Role::Target).unwrap();
    target.inject(Rule::on(Api::EndTxn, Fault::Disconnect).times(1));
    let path = fake::fake_mm2(
        "eos-lost-commit",
        &source,
        &target,
        "request.timeout.ms = 2000\n\
         exactly.once.source.support = enabled\n\
         kmirror.transaction.interval.ms = 100",
    );
    let mut km = Kmirror::start(&path, &[]);
    wait_until(Duration::from_secs(40), "a second EndTxn", || {
        target.requests(Api::EndTxn) >= 2
    });
    std::thread::sleep(Duration::from_secs(2));
    let out = km.output();
    assert!(
        out.contains("EndTxn (commit) went unanswered"),
        "the lost answer is not said:\n{out}"
    );
    assert!(
        !out.contains("aborting the transaction"),
        "a commit that may have happened was aborted:\n{out}"
    );
    assert_eq!(km.stop(), Some(0), "{}", km.output());
}
