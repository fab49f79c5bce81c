//! TLS error paths and TLS plumbing against the harness's fake brokers,
//! which answer in microseconds (they prove nothing about mirroring; the
//! real-broker tests in `security.rs` do): a TLS kmirror and TLS brokers
//! with mutual TLS move batches and count the TLS copies; TLS against a
//! plaintext listener and plaintext against a TLS listener each give a
//! clear, retried error and a clean stop.

mod common;

use std::time::Duration;

use common::fake::fake_pair;
use common::*;
use kmirror_harness::certs::TestPki;
use kmirror_harness::fake::{FakeBroker, Role, Template};

const TOPIC: &str = "tls-fake";

fn tls_pair(client_auth: bool) -> (FakeBroker, FakeBroker) {
    let pki = TestPki::shared();
    let source = FakeBroker::start_tls(
        "tls-source",
        Role::Source {
            topic: TOPIC.into(),
            partitions: 4,
            template: Template::new(16 * 1024).expect("template"),
            log_end: 2000,
        },
        None,
        pki.server_config(client_auth).expect("server config"),
    )
    .expect("fake source");
    let target = FakeBroker::start_tls(
        "tls-target",
        Role::Target,
        None,
        pki.server_config(false).expect("server config"),
    )
    .expect("fake target");
    (source, target)
}

fn tls_keys() -> String {
    let pki = TestPki::shared();
    let client = pki.client();
    format!(
        "security.protocol = SSL\n\
         ssl.truststore.type = PEM\n\
         ssl.truststore.location = {}\n\
         ssl.keystore.type = PEM\n\
         ssl.keystore.key = {}\n\
         ssl.keystore.certificate.chain = {}\n",
        pki.path("ca.pem").display(),
        std::fs::read_to_string(&client.key)
            .unwrap()
            .trim_end()
            .replace('\n', "\\n"),
        std::fs::read_to_string(&client.cert)
            .unwrap()
            .trim_end()
            .replace('\n', "\\n"),
    )
}

#[test]
fn batches_move_over_mutual_tls_and_the_copies_are_counted() {
    let (source, target) = tls_pair(true);
    let cfg = write_mm2(
        "tls-fake",
        &source.bootstrap(),
        &target.bootstrap(),
        &format!("offset.flush.interval.ms = 300\n{}", tls_keys()),
    );
    let mut km = Kmirror::start(&cfg, &[]);
    wait_until(
        Duration::from_secs(30),
        "batches acknowledged over TLS",
        || {
            target
                .acked()
                .batches
                .load(std::sync::atomic::Ordering::Relaxed)
                >= 4 * 2000 / 100
        },
    );
    assert_eq!(km.stop(), Some(0), "{}", km.output());
    let out = km.output();
    assert!(out.contains("TLS copies "), "{out}");
    let (handshakes, resumed) = tls_handshakes(&out);
    assert!(
        handshakes >= 3 && resumed >= 1,
        "later connections to a broker resume the first one's TLS session:\n{out}"
    );
}

/// (handshakes, resumed) from kmirror's summary.
fn tls_handshakes(out: &str) -> (u64, u64) {
    let rest = out.split("handshakes (").next().unwrap_or_default();
    let handshakes = rest
        .trim_end()
        .rsplit(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let resumed = out
        .split("handshakes (")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    (handshakes, resumed)
}

#[test]
fn tls_to_a_plaintext_listener_is_named_and_retried() {
    let (source, target) = fake_pair("tls-to-plain", TOPIC, 1, 1024, 10);
    let cfg = write_mm2(
        "tls-to-plain",
        &source.bootstrap(),
        &target.bootstrap(),
        "A.security.protocol = SSL\nA.ssl.endpoint.identification.algorithm =\n",
    );
    refused_and_retried(&cfg, "without answering the TLS handshake");
}

#[test]
fn plaintext_to_a_tls_listener_is_named_and_retried() {
    let (source, target) = tls_pair(false);
    let cfg = write_mm2("plain-to-tls", &source.bootstrap(), &target.bootstrap(), "");
    refused_and_retried(
        &cfg,
        "this listener needs security.protocol SSL or SASL_SSL",
    );
}

/// kmirror logs `says` on at least two attempts, keeps running, and stops
/// cleanly.
fn refused_and_retried(cfg: &std::path::Path, says: &str) {
    let mut km = Kmirror::start(cfg, &[]);
    wait_until(
        Duration::from_secs(20),
        "the refusal to be logged twice",
        || km.output().matches(says).count() >= 2,
    );
    assert!(km.is_running(), "a retried error must not stop kmirror");
    assert_eq!(km.stop(), Some(0), "{}", km.output());
}
