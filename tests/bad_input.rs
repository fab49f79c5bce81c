//! Bad input gets a clear error and loses nothing: configuration mistakes
//! exit with code 2 naming the file, line and key; an unreachable cluster is
//! retried with one log line per attempt instead of a crash.

mod common;

use std::time::Duration;

use common::*;

fn write(name: &str, text: &str) -> std::path::PathBuf {
    let path = scratch(name).join("mm2.properties");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn malformed_file_names_file_and_line() {
    let path = write(
        "malformed",
        "clusters = A, B\nA.bootstrap.servers = 127.0.0.1:1\nB.bootstrap.servers = bad\\u12zz\nA->B.enabled = true\n",
    );
    let (code, out) = run_kmirror(&[path.to_str().unwrap()]);
    assert_eq!(code, Some(2), "{out}");
    assert!(
        out.contains(&format!("{}:3", path.display())),
        "file and line missing: {out}"
    );
}

/// `kmirror.splice = on` where the splice path cannot run stops kmirror
/// with what stands in the way, naming the key and its line; `auto` runs
/// without it.
#[test]
fn splice_required_where_it_cannot_run_names_what_stands_in_the_way() {
    let base = "clusters = A, B\nA.bootstrap.servers = 127.0.0.1:1\nB.bootstrap.servers = 127.0.0.1:2\nA->B.enabled = true\n";
    for (name, extra, args, why) in [
        (
            "splice-crc",
            "kmirror.splice = on\n",
            vec!["--io", "epoll"],
            "check.crcs = true",
        ),
        (
            "splice-uring",
            "kmirror.splice = on\nconsumer.check.crcs = false\n",
            vec!["--io", "uring"],
            "epoll backend",
        ),
        (
            "splice-tls",
            "A->B.kmirror.splice = on\nconsumer.check.crcs = false\nB.security.protocol = SSL\n",
            vec!["--io", "epoll"],
            "TLS",
        ),
        (
            "splice-recompress",
            "kmirror.splice = on\nconsumer.check.crcs = false\nproducer.compression.type = zstd\n",
            vec!["--io", "epoll"],
            "compression.type",
        ),
    ] {
        let path = write(name, &format!("{base}{extra}"));
        let mut all = vec![path.to_str().unwrap()];
        all.extend(args);
        let (code, out) = run_kmirror(&all);
        assert_eq!(code, Some(2), "{name}: {out}");
        assert!(
            out.contains(&format!("{}:5", path.display()))
                && out.contains("kmirror.splice")
                && out.contains(why),
            "{name}: {out}"
        );
    }
    let path = write(
        "splice-value",
        &format!("{base}kmirror.splice = sometimes\n"),
    );
    let (code, out) = run_kmirror(&[path.to_str().unwrap()]);
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("kmirror.splice"), "{out}");
}

#[test]
fn unknown_cluster_alias_names_key_and_line() {
    let path = write(
        "alias",
        "clusters = A, B\nA.bootstrap.servers = 127.0.0.1:1\nB.bootstrap.servers = 127.0.0.1:2\n\nA->C.enabled = true\n",
    );
    let (code, out) = run_kmirror(&[path.to_str().unwrap()]);
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains(&format!("{}:5", path.display())), "{out}");
    assert!(out.contains("A->C.enabled"), "{out}");
}

#[test]
fn unknown_alias_on_the_command_line() {
    let path = write(
        "cli-alias",
        "clusters = A, B\nA.bootstrap.servers = 127.0.0.1:1\nB.bootstrap.servers = 127.0.0.1:2\nA->B.enabled = true\n",
    );
    let (code, out) = run_kmirror(&[path.to_str().unwrap(), "--clusters", "Z"]);
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains('Z'), "{out}");
}

#[test]
fn missing_bootstrap_servers_names_the_key() {
    let path = write(
        "bootstrap",
        "clusters = A, B\nA.bootstrap.servers = 127.0.0.1:1\nA->B.enabled = true\n",
    );
    let (code, out) = run_kmirror(&[path.to_str().unwrap()]);
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("B.bootstrap.servers"), "{out}");
    assert!(out.contains(&path.display().to_string()), "{out}");
    assert!(out.contains(":1"), "line of `clusters` missing: {out}");
}

#[test]
fn bad_client_value_names_file_line_and_key() {
    let path = write(
        "value",
        "clusters = A, B\nA.bootstrap.servers = 127.0.0.1:1\nB.bootstrap.servers = 127.0.0.1:2\nA->B.enabled = true\nA.consumer.fetch.max.bytes = lots\n",
    );
    let (code, out) = run_kmirror(&[path.to_str().unwrap()]);
    assert_eq!(code, Some(2), "{out}");
    assert!(
        out.contains(&format!("{}:5", path.display())) && out.contains("fetch.max.bytes"),
        "{out}"
    );
}

#[test]
fn unreachable_cluster_is_retried_not_fatal() {
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let path = write(
        "unreachable",
        &format!(
            "clusters = A, B\nA.bootstrap.servers = 127.0.0.1:{port}\nB.bootstrap.servers = 127.0.0.1:{port}\nA->B.enabled = true\n"
        ),
    );
    let mut km = Kmirror::start(&path, &[]);
    wait_until(Duration::from_secs(30), "three retry log lines", || {
        km.output().matches("cluster unreachable").count() >= 3
    });
    assert!(km.is_running(), "kmirror exited:\n{}", km.output());
    let out = km.output();
    let lines: Vec<&str> = out
        .lines()
        .filter(|l| l.contains("cluster unreachable"))
        .collect();
    assert!(
        lines
            .iter()
            .all(|l| l.contains("attempt") && l.contains(&port.to_string())),
        "{lines:#?}"
    );
    let code = km.stop();
    assert_eq!(code, Some(0), "{}", km.output());
}

/// TLS and SASL settings kmirror cannot honour stop it at start-up with
/// the file, line and key: it never connects with less security than asked.
#[test]
fn security_settings_it_cannot_honour_stop_it_with_the_key() {
    let dir = scratch("security-refusals");
    let jks = dir.join("truststore.jks");
    std::fs::write(&jks, [0xfe, 0xed, 0xfe, 0xed, 0, 0, 0, 2]).unwrap();
    let missing = dir.join("no-such.p12");
    let jaas = "org.apache.kafka.common.security.scram.ScramLoginModule required username=\"u\" password=\"pw-never-shown\";";
    let cases: Vec<(String, &str, String)> = vec![
        ("B.security.protocol = SASL_TLS".into(), "B.security.protocol", "is not one of".into()),
        ("B.security.protocol = SASL_SSL".into(), "B.sasl.mechanism", "GSSAPI".into()),
        (
            "B.security.protocol = SASL_PLAINTEXT\nB.sasl.mechanism = SCRAM-SHA-512".into(),
            "B.sasl.jaas.config",
            "is required".into(),
        ),
        (
            format!("B.security.protocol = SASL_PLAINTEXT\nB.sasl.mechanism = PLAIN\nB.sasl.jaas.config = {jaas}"),
            "B.sasl.jaas.config",
            "PlainLoginModule".into(),
        ),
        (
            format!("B.security.protocol = SSL\nB.ssl.truststore.location = {}", jks.display()),
            "B.ssl.truststore.location",
            format!("keytool -importkeystore -srckeystore {}", jks.display()),
        ),
        (
            format!("A.security.protocol = SSL\nA.ssl.keystore.type = PKCS12\nA.ssl.keystore.location = {}", missing.display()),
            "A.ssl.keystore.location",
            "cannot read".into(),
        ),
        (
            "B.security.protocol = SSL\nB.ssl.cipher.suites = TLS_RSA_WITH_RC4_128_MD5".into(),
            "B.ssl.cipher.suites",
            "rustls has no suite 'TLS_RSA_WITH_RC4_128_MD5'".into(),
        ),
        (
            "B.security.protocol = SSL\nB.ssl.enabled.protocols = TLSv1.1".into(),
            "B.ssl.enabled.protocols",
            "rustls speaks TLSv1.2 and TLSv1.3".into(),
        ),
        (
            "B.security.protocol = SSL\nB.ssl.endpoint.identification.algorithm = ldap".into(),
            "B.ssl.endpoint.identification.algorithm",
            "neither 'https' nor empty".into(),
        ),
        (
            "A.consumer.security.protocol = SSL".into(),
            "A.consumer.security.protocol",
            "differs between the admin and consumer clients".into(),
        ),
        (
            "B.security.protocol = SASL_SSL\nB.sasl.mechanism = PLAIN\nB.sasl.client.callback.handler.class = com.acme.Handler".into(),
            "B.sasl.client.callback.handler.class",
            "cannot run Java code".into(),
        ),
    ];
    for (lines, key, says) in cases {
        let path = write(
            "security",
            &format!(
                "clusters = A, B\nA.bootstrap.servers = 127.0.0.1:1\nB.bootstrap.servers = 127.0.0.1:2\nA->B.enabled = true\n{lines}\n"
            ),
        );
        let (code, out) = run_kmirror(&[path.to_str().unwrap()]);
        assert_eq!(code, Some(2), "{lines}: {out}");
        assert!(
            out.contains(&format!("{}:", path.display()))
                && out.contains(&format!("key '{key}'"))
                && out.contains(&says),
            "{lines}: expected key '{key}' and '{says}':\n{out}"
        );
        assert!(!out.contains("pw-never-shown"), "{out}");
    }
}

#[test]
fn a_metrics_address_in_use_stops_it_naming_the_key() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let path = write(
        "metrics-in-use",
        &format!(
            "clusters = A, B\nA.bootstrap.servers = 127.0.0.1:1\nB.bootstrap.servers = 127.0.0.1:1\nA->B.enabled = true\nkmirror.metrics.address = {addr}\n"
        ),
    );
    let (code, out) = run_kmirror(&[path.to_str().unwrap()]);
    assert_ne!(code, Some(0), "{out}");
    assert!(
        out.contains(&format!(
            "kmirror.metrics.address = {addr}: cannot listen there"
        )),
        "{out}"
    );
}
