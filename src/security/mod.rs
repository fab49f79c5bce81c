//! How kmirror proves who it is to a cluster and checks who the cluster
//! is: `security.protocol`, TLS from the `ssl.*` keys, SASL from the
//! `sasl.*` keys, read the way a Kafka client reads them. Built once per
//! cluster and client role at start-up; a setting kmirror cannot honour
//! stops it there with the key named. Nothing here opens a connection.

pub mod jaas;
pub mod oauth;
pub mod sasl;
pub mod scram;
pub mod secret;
pub mod stores;
pub mod tls;
pub mod x509;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use crate::security::jaas::JaasConfig;
use crate::security::sasl::SaslSettings;
use crate::security::secret::Secret;
use crate::security::stores::StoreType;
use crate::security::tls::{KeySource, TlsOptions, TlsSettings, TrustSource};

/// `security.protocol`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecurityProtocol {
    Plaintext,
    Ssl,
    SaslPlaintext,
    SaslSsl,
}

impl SecurityProtocol {
    pub fn parse(s: &str) -> Option<SecurityProtocol> {
        match s.trim().to_ascii_uppercase().as_str() {
            "PLAINTEXT" => Some(SecurityProtocol::Plaintext),
            "SSL" => Some(SecurityProtocol::Ssl),
            "SASL_PLAINTEXT" => Some(SecurityProtocol::SaslPlaintext),
            "SASL_SSL" => Some(SecurityProtocol::SaslSsl),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            SecurityProtocol::Plaintext => "PLAINTEXT",
            SecurityProtocol::Ssl => "SSL",
            SecurityProtocol::SaslPlaintext => "SASL_PLAINTEXT",
            SecurityProtocol::SaslSsl => "SASL_SSL",
        }
    }

    pub fn uses_tls(self) -> bool {
        matches!(self, SecurityProtocol::Ssl | SecurityProtocol::SaslSsl)
    }

    pub fn uses_sasl(self) -> bool {
        matches!(
            self,
            SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl
        )
    }
}

/// One cluster's security as one client role sees it.
#[derive(Debug)]
pub struct Security {
    pub protocol: SecurityProtocol,
    pub tls: Option<TlsSettings>,
    pub sasl: Option<SaslSettings>,
}

impl Security {
    pub fn plaintext() -> Arc<Security> {
        Arc::new(Security {
            protocol: SecurityProtocol::Plaintext,
            tls: None,
            sasl: None,
        })
    }

    /// Reads a client's properties (the cluster's, overlaid with the
    /// role's). `bad(key, message)` makes the error for a key, naming where
    /// it was set. Warnings (files others can read) are logged.
    pub fn from_client_props<E>(
        props: &BTreeMap<String, String>,
        bad: impl Fn(&str, String) -> E,
    ) -> Result<Arc<Security>, E> {
        let get = |k: &str| props.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
        let protocol = match get("security.protocol") {
            None => SecurityProtocol::Plaintext,
            Some(v) => SecurityProtocol::parse(v).ok_or_else(|| {
                bad(
                    "security.protocol",
                    format!("'{v}' is not one of PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL"),
                )
            })?,
        };
        let tls = if protocol.uses_tls() {
            let options = tls_options(props, &bad)?;
            Some(TlsSettings::new(options).map_err(|e| bad(e.key, e.message))?)
        } else {
            None
        };
        let sasl = if protocol.uses_sasl() {
            Some(sasl::SaslSettings::from_props(props, &bad)?)
        } else {
            None
        };
        Ok(Arc::new(Security {
            protocol,
            tls,
            sasl,
        }))
    }
}

fn tls_options<E>(
    props: &BTreeMap<String, String>,
    bad: &impl Fn(&str, String) -> E,
) -> Result<TlsOptions, E> {
    let get = |k: &str| props.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
    let secret = |k: &str| get(k).map(Secret::new);
    let store_type = |k: &str, default: StoreType| match get(k) {
        None => Ok(default),
        Some(v) => StoreType::parse(v)
            .ok_or_else(|| bad(k, format!("'{v}' is not one of JKS, PKCS12, PEM"))),
    };

    let truststore_type = store_type("ssl.truststore.type", StoreType::Jks)?;
    let trust = match (
        get("ssl.truststore.location"),
        get("ssl.truststore.certificates"),
    ) {
        (Some(_), Some(_)) => {
            return Err(bad(
                "ssl.truststore.certificates",
                "is set together with ssl.truststore.location; set one of them".into(),
            ))
        }
        (Some(path), None) => TrustSource::File {
            path: PathBuf::from(path),
            store_type: truststore_type,
            password: secret("ssl.truststore.password"),
        },
        (None, Some(pem)) => {
            if truststore_type != StoreType::Pem {
                return Err(bad(
                    "ssl.truststore.type",
                    "must be PEM when ssl.truststore.certificates is set".into(),
                ));
            }
            TrustSource::Inline(pem.to_string())
        }
        (None, None) => TrustSource::PublicRoots,
    };

    let keystore_type = store_type("ssl.keystore.type", StoreType::Jks)?;
    let key_password = secret("ssl.key.password");
    let inline_key = secret("ssl.keystore.key");
    let inline_chain = get("ssl.keystore.certificate.chain");
    let key = match (get("ssl.keystore.location"), inline_key, inline_chain) {
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
            return Err(bad(
                "ssl.keystore.key",
                "is set together with ssl.keystore.location; set one of them".into(),
            ))
        }
        (Some(path), None, None) => {
            let path = PathBuf::from(path);
            if let Some(w) = readable_by_others(&path) {
                tracing::warn!("ssl.keystore.location: {w}");
            }
            Some(KeySource::File {
                path,
                store_type: keystore_type,
                password: secret("ssl.keystore.password"),
                key_password,
            })
        }
        (None, Some(key), Some(chain)) => {
            if keystore_type != StoreType::Pem {
                return Err(bad(
                    "ssl.keystore.type",
                    "must be PEM when ssl.keystore.key is set".into(),
                ));
            }
            Some(KeySource::Inline {
                key,
                chain: chain.to_string(),
                key_password,
            })
        }
        (None, Some(_), None) => {
            return Err(bad(
                "ssl.keystore.key",
                "needs ssl.keystore.certificate.chain too".into(),
            ))
        }
        (None, None, Some(_)) => {
            return Err(bad(
                "ssl.keystore.certificate.chain",
                "needs ssl.keystore.key too".into(),
            ))
        }
        (None, None, None) => None,
    };

    let verify_hostname = match props.get("ssl.endpoint.identification.algorithm") {
        None => true,
        Some(v) if v.trim().is_empty() => false,
        Some(v) if v.trim().eq_ignore_ascii_case("https") => true,
        Some(v) => {
            return Err(bad(
                "ssl.endpoint.identification.algorithm",
                format!(
                    "'{}' is neither 'https' nor empty (no host name check)",
                    v.trim()
                ),
            ))
        }
    };

    // ssl.enabled.protocols limits the versions; ssl.protocol = TLSv1.2
    // caps them at 1.2 (as Kafka documents).
    let mut tls12 = true;
    let mut tls13 = true;
    if let Some(list) = get("ssl.enabled.protocols") {
        tls12 = false;
        tls13 = false;
        let mut unsupported = Vec::new();
        for p in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match p {
                "TLSv1.3" => tls13 = true,
                "TLSv1.2" => tls12 = true,
                other => unsupported.push(other.to_string()),
            }
        }
        if !tls12 && !tls13 {
            return Err(bad(
                "ssl.enabled.protocols",
                format!(
                    "names no version kmirror speaks ({}); rustls speaks TLSv1.2 and TLSv1.3",
                    unsupported.join(", ")
                ),
            ));
        }
        if !unsupported.is_empty() {
            tracing::warn!(
                "ssl.enabled.protocols: {} not offered: rustls speaks only TLSv1.2 and TLSv1.3",
                unsupported.join(", ")
            );
        }
    }
    match get("ssl.protocol") {
        None | Some("TLSv1.3") | Some("TLS") => {}
        Some("TLSv1.2") => tls13 = false,
        Some(other) => {
            return Err(bad(
                "ssl.protocol",
                format!("'{other}' is not offered by rustls; use TLSv1.3, TLSv1.2 or TLS"),
            ))
        }
    }
    if !tls12 && !tls13 {
        return Err(bad(
            "ssl.protocol",
            "TLSv1.2 excludes every version ssl.enabled.protocols allows".into(),
        ));
    }

    let cipher_suites = match get("ssl.cipher.suites") {
        None => None,
        Some(list) => {
            let names: Vec<String> = list
                .split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect();
            if let Some(missing) = names.iter().find(|n| tls::rustls_suite(n).is_none()) {
                return Err(bad(
                    "ssl.cipher.suites",
                    format!(
                        "rustls has no suite '{missing}'; it offers {}",
                        tls::rustls_suite_names().join(", ")
                    ),
                ));
            }
            Some(names)
        }
    };

    Ok(TlsOptions {
        trust,
        key,
        verify_hostname,
        tls13,
        tls12,
        cipher_suites,
    })
}

/// A warning when a file holding secrets can be read by every user.
pub fn readable_by_others(path: &std::path::Path) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).ok()?.permissions().mode();
    (mode & 0o004 != 0).then(|| {
        format!(
            "{} holds secrets and every user on this machine can read it (mode {:o}); consider chmod o-r",
            path.display(),
            mode & 0o777
        )
    })
}

/// The one login module a mechanism accepts, checked and parsed.
fn jaas_for<E>(
    props: &BTreeMap<String, String>,
    mechanism: &str,
    module: &str,
    bad: &impl Fn(&str, String) -> E,
) -> Result<JaasConfig, E> {
    let text = props
        .get("sasl.jaas.config")
        .map(|v| v.trim())
        .filter(|v| !v.is_empty())
        .ok_or_else(|| {
            bad(
                "sasl.jaas.config",
                format!(
                    "is required for sasl.mechanism {mechanism} (kmirror reads no JAAS file); \
                     e.g. '{module} required username=\"...\" password=\"...\";'"
                ),
            )
        })?;
    let jaas = JaasConfig::parse(text).map_err(|m| bad("sasl.jaas.config", m))?;
    if jaas.login_module != module {
        return Err(bad(
            "sasl.jaas.config",
            format!(
                "names login module '{}', but sasl.mechanism {mechanism} needs {module}",
                jaas.login_module
            ),
        ));
    }
    Ok(jaas)
}
