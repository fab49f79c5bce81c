//! A secret value (password, private key, token) that never shows itself:
//! `Debug` and `Display` print a fixed placeholder, so a secret carried in a
//! struct cannot reach a log line, an error or a panic message by accident.

use std::fmt;

#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The value itself, for the one place that must use it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[hidden]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[hidden]")
    }
}

/// Whether a Kafka client or provider setting holds a secret: its value is
/// never printed, in warnings, errors or `Debug` output.
pub fn is_secret_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    k.ends_with("password")
        || k.ends_with("sasl.jaas.config")
        || k.ends_with("ssl.keystore.key")
        || k.contains("secret")
        || k.ends_with("token")
        || k.ends_with("basic.auth.user.info")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_prints_itself() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?} {s}"), "[hidden] [hidden]");
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn secret_keys() {
        for k in [
            "B.sasl.jaas.config",
            "ssl.truststore.password",
            "A.consumer.ssl.key.password",
            "ssl.keystore.key",
            "sasl.oauthbearer.client.secret",
        ] {
            assert!(is_secret_key(k), "{k}");
        }
        for k in [
            "ssl.truststore.location",
            "sasl.mechanism",
            "bootstrap.servers",
        ] {
            assert!(!is_secret_key(k), "{k}");
        }
    }
}
