//! Offset-preserving mode's error paths against the harness's fake brokers
//! (they prove nothing about mirroring; `failover.rs` does, against real
//! Kafka): a target that refuses the placeholder transactions ends the
//! mode for each partition, with a warning naming the ACL, and mirroring
//! goes on.

mod common;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::fake::{fake_mm2, fake_pair};
use common::*;
use kmirror_harness::fake::{Fault, Rule};
use kmirror_proto::api::Api;

/// TRANSACTIONAL_ID_AUTHORIZATION_FAILED.
const NO_TRANSACTIONAL_ID_ACL: i16 = 53;

#[test]
fn refused_placeholder_transactions_end_the_mode_not_the_mirroring() {
    let (source, target) = fake_pair("preserve-acl", "orders", 2, 16 << 10, 400);
    // One worker: its first InitProducerId is the idempotent producer's;
    // every later one (the partitions' placeholder transactional ids) is
    // refused.
    target.inject(Rule::on(Api::InitProducerId, Fault::Error(NO_TRANSACTIONAL_ID_ACL)).from_nth(2));
    let cfg = fake_mm2(
        "preserve-acl",
        &source,
        &target,
        "kmirror.offsets.preserve = true\nkmirror.shutdown.timeout.ms = 3000",
    );
    let mut km = Kmirror::start(&cfg, &["--cpus", "0"]);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out = km.output();
        let left = out.matches("no longer preserved").count();
        if left == 2 && target.acked().bytes.load(Ordering::Relaxed) > 0 {
            break;
        }
        assert!(km.is_running(), "kmirror exited:\n{out}");
        assert!(
            Instant::now() < deadline,
            "{left} partitions left the mode:\n{out}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(km.stop(), Some(0), "{}", km.output());
    let out = km.output();
    assert!(
        out.contains("Write on TransactionalId 'kmirror.A.B.placeholders.A.orders."),
        "{out}"
    );
    assert!(
        out.contains("2 partitions left offset-preserving mode"),
        "{out}"
    );
    assert!(!out.contains("partition stopped"), "{out}");
}
