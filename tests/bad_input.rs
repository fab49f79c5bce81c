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

#[test]
fn tls_or_sasl_is_refused_not_run_in_plaintext() {
    for (key, value) in [
        ("B.security.protocol", "SASL_SSL"),
        ("A.consumer.security.protocol", "SSL"),
        ("security.protocol", "SASL_PLAINTEXT"),
    ] {
        let path = write(
            "tls",
            &format!(
                "clusters = A, B\nA.bootstrap.servers = 127.0.0.1:1\nB.bootstrap.servers = 127.0.0.1:2\nA->B.enabled = true\n{key} = {value}\n"
            ),
        );
        let (code, out) = run_kmirror(&[path.to_str().unwrap()]);
        assert_eq!(code, Some(2), "{out}");
        assert!(
            out.contains(&format!("{}:5", path.display()))
                && out.contains(key)
                && out.contains(value),
            "{out}"
        );
    }
}
