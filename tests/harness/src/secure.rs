//! Secured listeners for harness clusters: what node 1 of a cluster
//! started with [`ClusterOptions::secure_listeners`] serves besides
//! PLAINTEXT (which the harness's own tools keep using), and the users and
//! passwords they accept. Every listener advertises `localhost:<port>`.
//!
//! | listener | protocol | authenticates with |
//! |---|---|---|
//! | `SSL` | SSL | a client certificate signed by the test CA (required) |
//! | `SASL_SSL` | SASL_SSL | SCRAM-SHA-256 or SCRAM-SHA-512 |
//! | `SASL_PLAINTEXT` | SASL_PLAINTEXT | PLAIN |
//! | `OAUTH` | SASL_PLAINTEXT | OAUTHBEARER, unsecured JWTs |
//!
//! The clusters run Kafka's StandardAuthorizer. [`USER`] (by SASL or by its
//! client certificate, `CN=kmirror`) and the PLAINTEXT listener's anonymous
//! user are super users; [`LIMITED_USER`] may do only what ACLs allow it.

use std::path::{Path, PathBuf};

use crate::cluster::ClusterOptions;

/// The SCRAM and PLAIN user kmirror authenticates as.
pub const USER: &str = "kmirror";
/// Its SCRAM password (both SHA-256 and SHA-512 credentials).
pub const SCRAM_PASSWORD: &str = "scram-pw-7d3f";
/// Its PLAIN password.
pub const PLAIN_PASSWORD: &str = "plain-pw-91c2";
/// A SCRAM user with no super powers: it may do what ACLs grant it.
pub const LIMITED_USER: &str = "limited";
pub const LIMITED_PASSWORD: &str = "limited-pw-58e1";

impl ClusterOptions {
    /// Adds the secured listeners, with the key material in `pki_dir`
    /// (see [`crate::certs::TestPki`]).
    pub fn secure_listeners(mut self, pki_dir: &Path) -> Self {
        self.secure = Some(pki_dir.to_path_buf());
        self
    }
}

/// (listener name, security protocol) of the secured listeners.
pub(crate) fn listeners(options: &ClusterOptions) -> Vec<(&'static str, &'static str)> {
    if options.secure.is_none() {
        return Vec::new();
    }
    vec![
        ("SSL", "SSL"),
        ("SASL_SSL", "SASL_SSL"),
        ("SASL_PLAINTEXT", "SASL_PLAINTEXT"),
        ("OAUTH", "SASL_PLAINTEXT"),
    ]
}

/// Broker properties for the secured listeners.
pub(crate) fn broker_props(pki_dir: &Path) -> Vec<(String, String)> {
    let file = |name: &str| -> String { PathBuf::from(pki_dir).join(name).display().to_string() };
    let scram = "org.apache.kafka.common.security.scram.ScramLoginModule required;".to_string();
    [
        ("ssl.keystore.type", "PEM".to_string()),
        ("ssl.keystore.location", file("broker.pem")),
        ("ssl.truststore.type", "PEM".to_string()),
        ("ssl.truststore.location", file("ca.pem")),
        ("listener.name.ssl.ssl.client.auth", "required".to_string()),
        (
            "listener.name.sasl_ssl.sasl.enabled.mechanisms",
            "SCRAM-SHA-256,SCRAM-SHA-512".to_string(),
        ),
        (
            "listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config",
            scram.clone(),
        ),
        (
            "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config",
            scram,
        ),
        (
            "listener.name.sasl_plaintext.sasl.enabled.mechanisms",
            "PLAIN".to_string(),
        ),
        (
            "listener.name.sasl_plaintext.plain.sasl.jaas.config",
            format!(
                "org.apache.kafka.common.security.plain.PlainLoginModule required \
                 user_{USER}=\"{PLAIN_PASSWORD}\";"
            ),
        ),
        (
            "listener.name.oauth.sasl.enabled.mechanisms",
            "OAUTHBEARER".to_string(),
        ),
        (
            "listener.name.oauth.oauthbearer.sasl.jaas.config",
            "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required \
             unsecuredLoginStringClaim_sub=\"broker\";"
                .to_string(),
        ),
        (
            "sasl.enabled.mechanisms",
            "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512,OAUTHBEARER".to_string(),
        ),
        (
            "authorizer.class.name",
            "org.apache.kafka.metadata.authorizer.StandardAuthorizer".to_string(),
        ),
        (
            "super.users",
            format!("User:ANONYMOUS;User:{USER};User:CN={USER}"),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// `kafka-storage format` arguments creating the SCRAM credentials.
pub(crate) fn format_args() -> Vec<String> {
    let mut args = Vec::new();
    for m in ["SCRAM-SHA-256", "SCRAM-SHA-512"] {
        for (user, password) in [(USER, SCRAM_PASSWORD), (LIMITED_USER, LIMITED_PASSWORD)] {
            args.push("--add-scram".to_string());
            args.push(format!("{m}=[name={user},password={password}]"));
        }
    }
    args
}
