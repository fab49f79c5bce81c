//! Brokers going away under a running mirror: the source broker and then the
//! target broker are restarted mid-stream; kmirror reconnects, refreshes
//! metadata and resends from its last acknowledged batch, and the target ends
//! with every source record in order. This binary has its own cluster pair,
//! since it restarts them.

mod common;

use std::time::Duration;

use common::scenarios::{records, Bootstrap};
use common::*;
use kmirror_harness::tools;

#[test]
fn source_and_target_broker_restarts_lose_nothing() {
    let pair = pair(KAFKA_4);
    let t = "restarts";
    tools::create_topic(&pair.source, t, 4, &[]).unwrap();
    tools::produce(&pair.source, t, &records(2000, "before", 4)).unwrap();
    let cfg = mm2_file(pair, "restarts", &format!("topics = {t}"));
    let mut km = Kmirror::start(&cfg, &[]);
    wait_until(Duration::from_secs(60), "the first records", || {
        total_end_offset(&pair.target, "A.restarts") >= 2000
    });

    pair.source.restart().unwrap();
    let src = Bootstrap(pair.source.bootstrap());
    tools::produce(&src, t, &records(2000, "after-source-restart", 4)).unwrap();
    wait_until(
        Duration::from_secs(90),
        "records after the source restart",
        || total_end_offset(&pair.target, "A.restarts") >= 4000,
    );

    // The target goes away while records keep coming.
    let producer = {
        let bootstrap = pair.source.bootstrap();
        std::thread::spawn(move || {
            let c = Bootstrap(bootstrap);
            for round in 0..4 {
                tools::produce(
                    &c,
                    "restarts",
                    &records(500, &format!("during-target-restart-{round}"), 4),
                )
                .unwrap();
                std::thread::sleep(Duration::from_millis(500));
            }
        })
    };
    pair.target.restart().unwrap();
    producer.join().unwrap();
    wait_until(
        Duration::from_secs(120),
        "every record after the target restart",
        || total_end_offset(&pair.target, "A.restarts") >= 6000,
    );
    assert!(km.is_running(), "kmirror exited:\n{}", km.output());
    km.stop();
    assert_mirrored_at_least_once(&pair.source, t, &pair.target, "A.restarts");
    assert!(
        km.output()
            .lines()
            .all(|l| !l.contains("partition stopped")),
        "{}",
        km.output()
    );
}
