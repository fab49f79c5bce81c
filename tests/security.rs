//! TLS and SASL against real brokers: the harness's secured listeners
//! (mutual TLS, SASL_SSL with SCRAM, SASL_PLAINTEXT with PLAIN, OAUTHBEARER)
//! with certificates made at test time. Kafka's own consumer checks the
//! results through the clusters' PLAINTEXT listeners.

mod common;

use std::path::Path;
use std::time::Duration;

use kmirror::harness::certs::{TestPki, STORE_PASSWORD};
use kmirror::harness::cluster::{shared_pair_with, ClusterOptions, ClusterPair, KafkaCluster};
use kmirror::harness::secure::{PLAIN_PASSWORD, SCRAM_PASSWORD, USER};
use kmirror::harness::tools;

use common::scenarios::records;
use common::*;

/// Both clusters with every secured listener; their SASL sessions expire
/// after 10 s, so every SASL test also re-authenticates (KIP-368).
fn secure_pair() -> &'static ClusterPair {
    let pki = TestPki::shared();
    shared_pair_with(
        KAFKA_4,
        &ClusterOptions::default()
            .secure_listeners(&pki.dir)
            .broker_prop("connections.max.reauth.ms", "10000"),
    )
}

fn listener(cluster: &KafkaCluster, name: &str) -> String {
    format!(
        "localhost:{}",
        cluster.listener_port(name).expect("secured listener")
    )
}

fn scram_jaas(password: &str) -> String {
    format!(
        "org.apache.kafka.common.security.scram.ScramLoginModule required username=\"{USER}\" password=\"{password}\";"
    )
}

/// mTLS with PEM files for cluster `alias`.
fn mtls_pem(alias: &str, pki: &TestPki) -> String {
    let client = pki.client();
    format!(
        "{alias}.security.protocol = SSL\n\
         {alias}.ssl.truststore.type = PEM\n\
         {alias}.ssl.truststore.location = {}\n\
         {alias}.ssl.keystore.type = PEM\n\
         {alias}.ssl.keystore.location = {}\n",
        pki.path("ca.pem").display(),
        pem_bundle(&client.key, &client.cert).display(),
    )
}

/// A key and its chain in one PEM file, as Kafka's PEM keystore takes them.
fn pem_bundle(key: &Path, cert: &Path) -> std::path::PathBuf {
    let out = scratch("bundle").join("keystore.pem");
    let text = format!(
        "{}{}",
        std::fs::read_to_string(key).unwrap(),
        std::fs::read_to_string(cert).unwrap()
    );
    std::fs::write(&out, text).unwrap();
    out
}

fn fill(cluster: &KafkaCluster, topic: &str, parts: i32, codec: &str, n: usize) {
    tools::create_topic(cluster, topic, parts, &[]).unwrap();
    tools::produce_with(
        cluster,
        topic,
        &records(n, codec, parts),
        &[("compression.type", codec), ("linger.ms", "20")],
    )
    .unwrap();
}

fn wait_mirrored(pair: &ClusterPair, topics: &[String], km: &Kmirror) {
    for t in topics {
        let want = total_end_offset(&pair.source, t);
        wait_until(
            Duration::from_secs(120),
            &format!("A.{t} to catch up; kmirror said:\n{}", km.output()),
            || total_end_offset(&pair.target, &format!("A.{t}")) >= want,
        );
    }
}

/// The first acceptance run: the source requires client
/// certificates, the target takes SCRAM-SHA-512 over TLS; a stream with
/// every codec arrives whole, partition by partition.
#[test]
fn mutual_tls_source_to_scram_sha512_target_with_every_codec() {
    let pair = secure_pair();
    let pki = TestPki::shared();
    let mut topics = Vec::new();
    for (codec, parts) in [("none", 1), ("gzip", 3), ("snappy", 4), ("lz4", 3), ("zstd", 4)] {
        let t = format!("sec-codec-{codec}");
        fill(&pair.source, &t, parts, codec, 1200);
        topics.push(t);
    }
    let cfg = write_mm2(
        "mtls-scram",
        &listener(&pair.source, "SSL"),
        &listener(&pair.target, "SASL_SSL"),
        &format!(
            "topics = sec-codec-.*\n\
             offset.flush.interval.ms = 500\n\
             {}\
             B.security.protocol = SASL_SSL\n\
             B.sasl.mechanism = SCRAM-SHA-512\n\
             B.sasl.jaas.config = {}\n\
             B.ssl.truststore.type = PKCS12\n\
             B.ssl.truststore.location = {}\n\
             B.ssl.truststore.password = {STORE_PASSWORD}\n",
            mtls_pem("A", pki),
            scram_jaas(SCRAM_PASSWORD),
            pki.path("truststore.p12").display(),
        ),
    );
    let mut km = Kmirror::start(&cfg, &[]);
    wait_mirrored(pair, &topics, &km);
    assert_eq!(km.stop(), Some(0), "{}", km.output());
    for t in &topics {
        assert_mirrored_exactly(&pair.source, t, &pair.target, &format!("A.{t}"));
    }
    assert_tls_used(&km);
}

/// The summary shows bytes through TLS (so nothing went in plaintext).
fn assert_tls_used(km: &Kmirror) {
    let out = km.output();
    let tls = out
        .split("TLS copies ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse::<u64>().ok());
    assert!(tls.is_some_and(|n| n > 0), "no TLS traffic in the summary:\n{out}");
}
