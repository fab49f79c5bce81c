//! TLS and SASL against real brokers: the harness's secured listeners
//! (mutual TLS, SASL_SSL with SCRAM, SASL_PLAINTEXT with PLAIN, OAUTHBEARER)
//! with certificates made at test time. Kafka's own consumer checks the
//! results through the clusters' PLAINTEXT listeners.

mod common;

use std::path::Path;
use std::time::Duration;

use kmirror_harness::certs::{TestPki, STORE_PASSWORD};
use kmirror_harness::cluster::{shared_pair_with, ClusterOptions, ClusterPair, KafkaCluster};
use kmirror_harness::secure::{PLAIN_PASSWORD, SCRAM_PASSWORD, USER};
use kmirror_harness::token_server::TokenServer;
use kmirror_harness::tools;

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
    for (codec, parts) in [
        ("none", 1),
        ("gzip", 3),
        ("snappy", 4),
        ("lz4", 3),
        ("zstd", 4),
    ] {
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
    assert!(
        tls.is_some_and(|n| n > 0),
        "no TLS traffic in the summary:\n{out}"
    );
    // Whether a session resumes depends on a ticket having arrived before
    // the next connection opens, which connections opened together at
    // start-up race; security_errors.rs checks resumption where the order
    // is fixed.
    assert!(out.contains(" handshakes ("), "{out}");
}

/// PEM text as one `.properties` value (newlines escaped).
fn inline(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap()
        .trim_end()
        .replace('\n', "\\n")
}

/// PLAIN over SASL_PLAINTEXT into SCRAM-SHA-256 (inline PEM truststore),
/// OAUTHBEARER, and mutual TLS from a PKCS#12 keystore with host name
/// checks off: one source, three target aliases of the same cluster, each
/// flow its own topic.
#[test]
fn plain_scram256_oauthbearer_and_pkcs12_flows() {
    let pair = secure_pair();
    let pki = TestPki::shared();
    for t in ["sec-multi-b", "sec-multi-c", "sec-multi-d", "sec-multi-e"] {
        fill(&pair.source, t, 2, "lz4", 800);
    }
    let tokens = token_server();
    // By address: the certificate names only localhost.
    let d = format!("127.0.0.1:{}", pair.target.listener_port("SSL").unwrap());
    let cfg = scratch("multi").join("mm2.properties");
    std::fs::write(
        &cfg,
        format!(
            "clusters = A, B, C, D, E\n\
             replication.factor = 1\n\
             offset-syncs.topic.replication.factor = 1\n\
             checkpoints.topic.replication.factor = 1\n\
             heartbeats.topic.replication.factor = 1\n\
             offset.flush.interval.ms = 500\n\
             A.bootstrap.servers = {a}\n\
             A.security.protocol = SASL_PLAINTEXT\n\
             A.sasl.mechanism = PLAIN\n\
             A.sasl.jaas.config = org.apache.kafka.common.security.plain.PlainLoginModule required username=\"{USER}\" password=\"{PLAIN_PASSWORD}\";\n\
             B.bootstrap.servers = {b}\n\
             B.security.protocol = SASL_SSL\n\
             B.sasl.mechanism = SCRAM-SHA-256\n\
             B.sasl.jaas.config = {scram}\n\
             B.ssl.truststore.type = PEM\n\
             B.ssl.truststore.certificates = {ca}\n\
             C.bootstrap.servers = {c}\n\
             C.security.protocol = SASL_PLAINTEXT\n\
             C.sasl.mechanism = OAUTHBEARER\n\
             C.sasl.jaas.config = org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required unsecuredLoginStringClaim_sub=\"{USER}\";\n\
             D.bootstrap.servers = {d}\n\
             D.security.protocol = SSL\n\
             D.ssl.endpoint.identification.algorithm =\n\
             D.ssl.truststore.location = {ts}\n\
             D.ssl.truststore.password = {STORE_PASSWORD}\n\
             D.ssl.keystore.type = PKCS12\n\
             D.ssl.keystore.location = {ks}\n\
             D.ssl.keystore.password = {STORE_PASSWORD}\n\
             A->B.enabled = true\n\
             A->B.topics = sec-multi-b\n\
             A->C.enabled = true\n\
             A->C.topics = sec-multi-c\n\
             A->D.enabled = true\n\
             A->D.topics = sec-multi-d\n\
             E.bootstrap.servers = {c}\n\
             E.security.protocol = SASL_PLAINTEXT\n\
             E.sasl.mechanism = OAUTHBEARER\n\
             E.sasl.login.callback.handler.class = org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginCallbackHandler\n\
             E.sasl.oauthbearer.token.endpoint.url = {token_url}\n\
             E.sasl.jaas.config = org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required clientId=\"{USER}\" clientSecret=\"{TOKEN_SECRET}\";\n\
             A->E.enabled = true\n\
             A->E.topics = sec-multi-e\n",
            a = listener(&pair.source, "SASL_PLAINTEXT"),
            b = listener(&pair.target, "SASL_SSL"),
            c = listener(&pair.target, "OAUTH"),
            scram = scram_jaas(SCRAM_PASSWORD),
            ca = inline(&pki.path("ca.pem")),
            ts = pki.path("truststore.p12").display(),
            ks = pki.path("client.p12").display(),
            token_url = tokens.url,
        ),
    )
    .unwrap();
    let mut km = Kmirror::start(&cfg, &[]);
    let topics: Vec<String> = ["sec-multi-b", "sec-multi-c", "sec-multi-d", "sec-multi-e"]
        .map(String::from)
        .to_vec();
    wait_mirrored(pair, &topics, &km);
    assert_eq!(km.stop(), Some(0), "{}", km.output());
    for t in &topics {
        assert_mirrored_exactly(&pair.source, t, &pair.target, &format!("A.{t}"));
    }
    assert_tls_used(&km);
    assert!(tokens.issued() >= 1, "the token endpoint was never asked");
}

/// The client secret the harness's token endpoint accepts.
const TOKEN_SECRET: &str = "token-secret-4b1a";

/// A token endpoint for [`USER`], shared by the tests (tokens live 60 s).
fn token_server() -> &'static TokenServer {
    static SERVER: std::sync::OnceLock<TokenServer> = std::sync::OnceLock::new();
    SERVER.get_or_init(|| {
        TokenServer::start(USER, TOKEN_SECRET, Duration::from_secs(60)).expect("token server")
    })
}

/// A flow whose target refuses kmirror's password stops with one clear
/// error; the other flow mirrors everything; kmirror exits 5 at the end.
#[test]
fn refused_credentials_stop_only_their_flow() {
    let pair = secure_pair();
    let pki = TestPki::shared();
    fill(&pair.source, "sec-survivor", 2, "none", 500);
    let cfg = scratch("refused").join("mm2.properties");
    std::fs::write(
        &cfg,
        format!(
            "clusters = A, B, X\n\
             replication.factor = 1\n\
             offset-syncs.topic.replication.factor = 1\n\
             checkpoints.topic.replication.factor = 1\n\
             heartbeats.topic.replication.factor = 1\n\
             offset.flush.interval.ms = 500\n\
             A.bootstrap.servers = {a}\n\
             {mtls}\
             B.bootstrap.servers = {b}\n\
             X.bootstrap.servers = {b}\n\
             B.security.protocol = SASL_SSL\n\
             X.security.protocol = SASL_SSL\n\
             sasl.mechanism = SCRAM-SHA-512\n\
             B.sasl.jaas.config = {good}\n\
             X.sasl.jaas.config = {bad}\n\
             ssl.truststore.type = PEM\n\
             ssl.truststore.location = {ca}\n\
             A->B.enabled = true\n\
             A->B.topics = sec-survivor\n\
             A->X.enabled = true\n\
             A->X.topics = sec-never\n",
            a = listener(&pair.source, "SSL"),
            b = listener(&pair.target, "SASL_SSL"),
            mtls = mtls_pem("A", pki),
            good = scram_jaas(SCRAM_PASSWORD),
            bad = scram_jaas("not-the-password"),
            ca = pki.path("ca.pem").display(),
        ),
    )
    .unwrap();
    let mut km = Kmirror::start(&cfg, &[]);
    wait_mirrored(pair, &["sec-survivor".to_string()], &km);
    wait_until(Duration::from_secs(30), "the refusal to be logged", || {
        km.output().contains("flow stopped")
    });
    assert!(
        km.is_running(),
        "the healthy flow must keep kmirror running"
    );
    let code = km.stop();
    let out = km.output();
    assert_eq!(code, Some(5), "{out}");
    assert_mirrored_exactly(&pair.source, "sec-survivor", &pair.target, "A.sec-survivor");
    let refusals: Vec<&str> = out.lines().filter(|l| l.contains("flow stopped")).collect();
    assert_eq!(refusals.len(), 1, "one error, not a storm:\n{out}");
    assert!(
        refusals[0].contains("A->X")
            && refusals[0].contains("cluster X: authentication with")
            && refusals[0].contains("SASL_AUTHENTICATION_FAILED"),
        "{out}"
    );
    assert!(out.contains("stopped flow A->X"), "{out}");
    assert!(!out.contains("not-the-password"), "{out}");
}

/// Each way a secured connection can be refused: one error naming the
/// cluster and the cause, and kmirror stops (its only flow stopped).
#[test]
fn every_refusal_names_the_cluster_and_the_cause() {
    let pair = secure_pair();
    let pki = TestPki::shared();
    let ssl = listener(&pair.target, "SSL");
    let client = pki.client();
    let ca = pki.path("ca.pem").display().to_string();
    let cert = |key: &Path, cert: &Path| {
        format!(
            "B.security.protocol = SSL\n\
             B.ssl.truststore.type = PEM\n\
             B.ssl.truststore.location = {ca}\n\
             B.ssl.keystore.type = PEM\n\
             B.ssl.keystore.location = {}\n",
            pem_bundle(key, cert).display()
        )
    };
    let sasl = |listener_name: &str, protocol: &str, mechanism: &str, jaas: &str| {
        (
            listener(&pair.target, listener_name),
            format!(
                "B.security.protocol = {protocol}\n\
                 B.sasl.mechanism = {mechanism}\n\
                 B.sasl.jaas.config = {jaas}\n\
                 B.ssl.truststore.type = PEM\n\
                 B.ssl.truststore.location = {ca}\n"
            ),
        )
    };
    let stranger = pki.stranger();
    let expired = pki.expired();
    let cases: Vec<(&str, (String, String), &str)> = vec![
        (
            "wrong CA",
            (
                ssl.clone(),
                cert(&client.key, &client.cert)
                    .replace(&ca, &pki.path("other-ca.pem").display().to_string()),
            ),
            "not signed by a CA in the truststore",
        ),
        (
            "client certificate from an unknown CA",
            (ssl.clone(), cert(&stranger.key, &stranger.cert)),
            "rejected kmirror's client certificate",
        ),
        (
            "expired client certificate",
            (ssl.clone(), cert(&expired.key, &expired.cert)),
            "client certificate, which expired on 2021-01-01",
        ),
        (
            "no client certificate",
            (
                ssl.clone(),
                format!(
                    "B.security.protocol = SSL\nB.ssl.truststore.type = PEM\nB.ssl.truststore.location = {ca}\n"
                ),
            ),
            "requires a client certificate (mutual TLS) and kmirror has none",
        ),
        (
            "host name mismatch",
            (
                format!("127.0.0.1:{}", pair.target.listener_port("SSL").unwrap()),
                cert(&client.key, &client.cert),
            ),
            "host name mismatch",
        ),
        (
            "wrong SCRAM password",
            sasl("SASL_SSL", "SASL_SSL", "SCRAM-SHA-512", &scram_jaas("wrong")),
            "SASL_AUTHENTICATION_FAILED",
        ),
        (
            "mechanism the listener does not offer",
            sasl("SASL_PLAINTEXT", "SASL_PLAINTEXT", "SCRAM-SHA-256", &scram_jaas(SCRAM_PASSWORD)),
            "does not offer SASL mechanism SCRAM-SHA-256 (sasl.mechanism); it offers PLAIN",
        ),
    ];
    let mut cases = cases;
    cases.push((
        "OAuth client secret the token endpoint refuses",
        (
            listener(&pair.target, "OAUTH"),
            format!(
                "B.security.protocol = SASL_PLAINTEXT\n\
                 B.sasl.mechanism = OAUTHBEARER\n\
                 B.sasl.oauthbearer.token.endpoint.url = {}\n\
                 B.sasl.jaas.config = org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required clientId=\"{USER}\" clientSecret=\"wrong\";\n",
                token_server().url
            ),
        ),
        "answered HTTP 401",
    ));
    for (what, (bootstrap, extra), cause) in cases {
        let cfg = write_mm2(
            "refusal",
            &pair.source.bootstrap(),
            &bootstrap,
            &format!("topics = sec-nothing\n{extra}"),
        );
        let mut km = Kmirror::start(&cfg, &[]);
        let code = km.wait_exit(Duration::from_secs(60));
        let out = km.output();
        assert_eq!(
            code,
            Some(Some(5)),
            "{what}: kmirror must stop by itself with 5:\n{out}"
        );
        let errors: Vec<&str> = out.lines().filter(|l| l.contains("flow stopped")).collect();
        assert_eq!(errors.len(), 1, "{what}: one error:\n{out}");
        assert!(
            errors[0].contains("cluster B") && errors[0].contains(cause),
            "{what}: the error must name cluster B and say '{cause}':\n{out}"
        );
    }

    // What kmirror cannot do at all is a configuration error naming the key.
    let cfg = write_mm2(
        "gssapi",
        &pair.source.bootstrap(),
        &listener(&pair.target, "SASL_PLAINTEXT"),
        "B.security.protocol = SASL_PLAINTEXT\nB.sasl.mechanism = GSSAPI\n",
    );
    let (code, out) = run_kmirror(&[cfg.to_str().unwrap()]);
    assert_eq!(code, Some(2), "{out}");
    assert!(
        out.contains("key 'B.sasl.mechanism'") && out.contains("GSSAPI (Kerberos)"),
        "{out}"
    );
}

/// The SCRAM password comes from a `${file:...}` config provider; with
/// debug logging on, it appears nowhere in kmirror's output.
#[test]
fn password_from_a_file_provider_never_appears_in_debug_output() {
    let pair = secure_pair();
    let pki = TestPki::shared();
    fill(&pair.source, "sec-provider", 2, "zstd", 300);
    let dir = scratch("provider");
    let secrets = dir.join("secrets.properties");
    std::fs::write(&secrets, format!("scram.password = {SCRAM_PASSWORD}\n")).unwrap();
    let cfg = write_mm2(
        "provider",
        &pair.source.bootstrap(),
        &listener(&pair.target, "SASL_SSL"),
        &format!(
            "topics = sec-provider\n\
             offset.flush.interval.ms = 500\n\
             config.providers = file\n\
             config.providers.file.class = org.apache.kafka.common.config.provider.FileConfigProvider\n\
             B.security.protocol = SASL_SSL\n\
             B.sasl.mechanism = SCRAM-SHA-512\n\
             B.sasl.jaas.config = {}\n\
             B.ssl.truststore.type = PEM\n\
             B.ssl.truststore.location = {}\n",
            scram_jaas(&format!("${{file:{}:scram.password}}", secrets.display())),
            pki.path("ca.pem").display()
        ),
    );
    let mut km = Kmirror::start_with_env(&cfg, &[], &[("KMIRROR_LOG", "debug")]);
    wait_mirrored(pair, &["sec-provider".to_string()], &km);
    assert_eq!(km.stop(), Some(0), "{}", km.output());
    assert_mirrored_exactly(&pair.source, "sec-provider", &pair.target, "A.sec-provider");
    let out = km.output();
    assert!(
        out.contains("authenticated"),
        "debug output expected:\n{out}"
    );
    assert!(
        !out.contains(SCRAM_PASSWORD),
        "the password leaked into the output"
    );
}

/// The brokers end SASL sessions after 10 s (`connections.max.reauth.ms`):
/// under a 60 s stream kmirror re-authenticates its connections in time,
/// and every record arrives once, in order, with no error storm.
#[test]
fn sessions_renewed_under_a_60s_stream() {
    use kmirror_harness::sequence::{SequenceStream, StreamPlan};
    let pair = secure_pair();
    let pki = TestPki::shared();
    let topic = "sec-reauth";
    tools::create_topic(&pair.source, topic, 4, &[]).unwrap();
    let cfg = write_mm2(
        "reauth",
        &listener(&pair.source, "SASL_PLAINTEXT"),
        &listener(&pair.target, "SASL_SSL"),
        &format!(
            "topics = {topic}\n\
             offset.flush.interval.ms = 500\n\
             A.security.protocol = SASL_PLAINTEXT\n\
             A.sasl.mechanism = PLAIN\n\
             A.sasl.jaas.config = org.apache.kafka.common.security.plain.PlainLoginModule required username=\"{USER}\" password=\"{PLAIN_PASSWORD}\";\n\
             B.security.protocol = SASL_SSL\n\
             B.sasl.mechanism = SCRAM-SHA-512\n\
             B.sasl.jaas.config = {}\n\
             B.ssl.truststore.type = PEM\n\
             B.ssl.truststore.location = {}\n",
            scram_jaas(SCRAM_PASSWORD),
            pki.path("ca.pem").display()
        ),
    );
    let plan = StreamPlan {
        first: 0,
        count: Some(60 * 500),
        rate: 500,
        partitions: 4,
    };
    let stream = SequenceStream::start(&pair.source.bootstrap(), topic, plan, &[]).unwrap();
    let mut km = Kmirror::start_with_env(
        &cfg,
        &[],
        &[("KMIRROR_LOG", "info,kmirror::client::conn=debug")],
    );
    let totals = stream.join().unwrap();
    assert!(totals.acked > 0, "the stream produced nothing");
    wait_mirrored(pair, &[topic.to_string()], &km);
    assert_eq!(km.stop(), Some(0), "{}", km.output());
    assert_mirrored_exactly(&pair.source, topic, &pair.target, &format!("A.{topic}"));
    let out = km.output();
    let renewals = out.matches("re-authenticated").count();
    assert!(
        renewals >= 4,
        "sessions must be renewed (seen {renewals}):\n{out}"
    );
    let warnings = out
        .lines()
        .filter(|l| l.contains("WARN") || l.contains("ERROR"))
        .count();
    assert!(
        warnings <= 2,
        "no error storm ({warnings} warnings):\n{out}"
    );
}

/// Kafka's `kafka-acls` on `cluster` with `args` (split at spaces),
/// panicking with its output on failure.
fn acls(cluster: &KafkaCluster, args: &str) -> String {
    let args: Vec<&str> = args.split_whitespace().collect();
    tools::acls(cluster, &args).unwrap_or_else(|e| panic!("kafka-acls {args:?}: {e}"))
}

/// kmirror's principal holds exactly the ACLs docs/security.md lists:
/// mirroring works. Source topic ACLs for a consumer appear on the mirrored
/// topic as read access (never write). With the progress group's ACL
/// taken away, the error names it.
#[test]
fn least_privilege_acls_and_topic_acl_sync() {
    use kmirror_harness::secure::{LIMITED_PASSWORD, LIMITED_USER};
    let pair = secure_pair();
    let pki = TestPki::shared();
    let (src, tgt) = (&pair.source, &pair.target);
    fill(src, "lp-orders", 3, "gzip", 600);

    // The documented set, for flow src->dst.
    let user = format!("--allow-principal User:{LIMITED_USER}");
    acls(src, &format!("--add {user} --operation Describe --operation Read --operation DescribeConfigs --topic lp- --resource-pattern-type prefixed"));
    acls(src, &format!("--add {user} --operation Describe --cluster"));
    acls(src, &format!("--add {user} --operation Create --operation Describe --operation Write --topic mm2-offset-syncs.dst.internal"));
    acls(src, &format!("--add {user} --operation Create --operation Describe --operation Write --operation Read --operation DescribeConfigs --topic heartbeats"));
    acls(tgt, &format!("--add {user} --operation Create --operation Describe --operation Write --topic heartbeats"));
    acls(tgt, &format!("--add {user} --operation Create --operation Describe --operation Write --operation Read --operation DescribeConfigs --operation Alter --operation AlterConfigs --topic src. --resource-pattern-type prefixed"));
    acls(
        tgt,
        &format!("--add {user} --operation Read --group kmirror.progress.src.dst"),
    );
    acls(
        tgt,
        &format!("--add {user} --operation Read --group kmirror.fleet.src.dst. --resource-pattern-type prefixed"),
    );
    acls(tgt, &format!("--add {user} --operation Alter --cluster"));
    acls(
        tgt,
        &format!(
            "--add {user} --operation Describe --operation Read --topic mm2-offsets.src.internal"
        ),
    );
    // Consumers' ACLs on the source topic.
    acls(
        src,
        "--add --allow-principal User:alice --operation Read --operation Write --topic lp-orders",
    );
    acls(
        src,
        "--add --allow-principal User:bob --operation All --topic lp-orders",
    );

    let jaas = format!(
        "org.apache.kafka.common.security.scram.ScramLoginModule required username=\"{LIMITED_USER}\" password=\"{LIMITED_PASSWORD}\";"
    );
    let config = |name: &str| {
        let cfg = scratch(name).join("mm2.properties");
        std::fs::write(
            &cfg,
            format!(
                "clusters = src, dst\n\
                 src.bootstrap.servers = {}\n\
                 dst.bootstrap.servers = {}\n\
                 src->dst.enabled = true\n\
                 src->dst.topics = lp-orders\n\
                 replication.factor = 1\n\
                 offset-syncs.topic.replication.factor = 1\n\
                 checkpoints.topic.replication.factor = 1\n\
                 heartbeats.topic.replication.factor = 1\n\
                 offset.flush.interval.ms = 500\n\
                 security.protocol = SASL_SSL\n\
                 sasl.mechanism = SCRAM-SHA-512\n\
                 sasl.jaas.config = {jaas}\n\
                 ssl.truststore.type = PEM\n\
                 ssl.truststore.location = {}\n",
                listener(src, "SASL_SSL"),
                listener(tgt, "SASL_SSL"),
                pki.path("ca.pem").display()
            ),
        )
        .unwrap();
        // The file holds a password: only its owner may read it.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&cfg, std::fs::Permissions::from_mode(0o600)).unwrap();
        cfg
    };

    let mut km = Kmirror::start(&config("lp"), &[]);
    let want = total_end_offset(src, "lp-orders");
    wait_until(
        Duration::from_secs(120),
        &format!("src.lp-orders to catch up; kmirror said:\n{}", km.output()),
        || total_end_offset(tgt, "src.lp-orders") >= want,
    );
    wait_until(
        Duration::from_secs(60),
        "the topic ACLs on the target",
        || acls(tgt, "--list --topic src.lp-orders").contains("User:bob"),
    );
    assert_eq!(km.stop(), Some(0), "{}", km.output());
    assert_mirrored_exactly(src, "lp-orders", tgt, "src.lp-orders");
    let out = km.output();
    for bad in [
        "AUTHORIZATION_FAILED",
        "lacks the ACL",
        "every user on this machine",
    ] {
        assert!(!out.contains(bad), "least privilege must be enough:\n{out}");
    }

    let listed = acls(tgt, "--list --topic src.lp-orders");
    let lines: Vec<&str> = listed
        .lines()
        .filter(|l| l.contains("principal="))
        .collect();
    let has = |who: &str, op: &str| {
        lines
            .iter()
            .any(|l| l.contains(who) && l.contains(&format!("operation={op},")))
    };
    assert!(
        has("User:alice", "READ"),
        "alice reads the mirror:\n{listed}"
    );
    assert!(has("User:bob", "READ"), "bob's All becomes Read:\n{listed}");
    assert!(
        !lines
            .iter()
            .any(|l| l.contains("operation=WRITE") || l.contains("operation=ALL")),
        "no write grant is copied:\n{listed}"
    );

    // One ACL fewer: the error names it.
    acls(
        tgt,
        &format!("--remove --force {user} --operation Read --group kmirror.progress.src.dst"),
    );
    let mut km = Kmirror::start(&config("lp-missing"), &[]);
    let code = km.wait_exit(Duration::from_secs(60));
    let out = km.output();
    assert_eq!(code, Some(Some(5)), "{out}");
    assert!(
        out.contains("lacks the ACL Read on Group 'kmirror.progress.src.dst' on cluster dst"),
        "the missing ACL must be named:\n{out}"
    );

    // The fleet group's instead.
    acls(
        tgt,
        &format!("--add {user} --operation Read --group kmirror.progress.src.dst"),
    );
    acls(
        tgt,
        &format!("--remove --force {user} --operation Read --group kmirror.fleet.src.dst. --resource-pattern-type prefixed"),
    );
    let mut km = Kmirror::start(&config("lp-no-fleet"), &[]);
    let code = km.wait_exit(Duration::from_secs(60));
    let out = km.output();
    assert_eq!(code, Some(Some(5)), "{out}");
    assert!(
        out.contains("lacks the ACL Read on Group 'kmirror.fleet.src.dst."),
        "the missing fleet group ACL must be named:\n{out}"
    );
}
