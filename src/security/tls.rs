//! The rustls client configuration of one cluster's connections, built
//! from Kafka's `ssl.*` keys, with its key and trust files watched: a
//! changed file is read again for the next new connection (a connection
//! already open keeps the material it started with). One `ClientConfig` is
//! shared by every connection to the cluster, so TLS 1.3 sessions resume
//! across reconnects.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};

use crate::security::secret::Secret;
use crate::security::stores::{self, KeyMaterial, StoreFile, StoreType};

/// Where trusted certificates come from.
#[derive(Debug, Clone)]
pub enum TrustSource {
    /// No truststore configured: the Mozilla roots (a Java client would use
    /// its JVM's `cacerts`, which holds the same public CAs).
    PublicRoots,
    File {
        path: PathBuf,
        store_type: StoreType,
        password: Option<Secret>,
    },
    /// `ssl.truststore.certificates`.
    Inline(String),
}

/// Where the client certificate comes from, for mutual TLS.
#[derive(Debug, Clone)]
pub enum KeySource {
    File {
        path: PathBuf,
        store_type: StoreType,
        password: Option<Secret>,
        key_password: Option<Secret>,
    },
    /// `ssl.keystore.key` and `ssl.keystore.certificate.chain`.
    Inline {
        key: Secret,
        chain: String,
        key_password: Option<Secret>,
    },
}

/// Everything `ssl.*` says, checked at start-up.
#[derive(Debug, Clone)]
pub struct TlsOptions {
    pub trust: TrustSource,
    pub key: Option<KeySource>,
    /// `ssl.endpoint.identification.algorithm = https` (the default).
    pub verify_hostname: bool,
    pub tls13: bool,
    pub tls12: bool,
    /// `ssl.cipher.suites` as rustls suites; `None`: rustls's defaults.
    pub cipher_suites: Option<Vec<String>>,
}

/// A cluster's TLS client configuration, rebuilt when its files change.
pub struct TlsSettings {
    options: TlsOptions,
    current: Mutex<Current>,
}

impl KeySource {
    /// The key at fault when this material cannot be used.
    fn key_name(&self) -> &'static str {
        match self {
            KeySource::File { .. } => "ssl.keystore.location",
            KeySource::Inline { .. } => "ssl.keystore.key",
        }
    }

    /// Reads the certificate chain and private key.
    fn load(&self) -> Result<KeyMaterial, TlsBuildError> {
        match self {
            KeySource::File {
                path,
                store_type,
                password,
                key_password,
            } => stores::key_from_file(
                &StoreFile {
                    path,
                    store_type: *store_type,
                    password: password.as_ref(),
                },
                key_password.as_ref().or(password.as_ref()),
            ),
            KeySource::Inline {
                key,
                chain,
                key_password,
            } => stores::key_from_pem(key, chain, key_password.as_ref()),
        }
        .map_err(at(self.key_name()))
    }
}

/// When the client certificate stops being valid (seconds since the Unix
/// epoch), for errors that say why a broker refused it.
fn client_not_after(options: &TlsOptions) -> Option<i64> {
    let material = options.key.as_ref()?.load().ok()?;
    crate::security::x509::not_after(material.chain.first()?)
}

struct Current {
    stamps: Vec<Option<SystemTime>>,
    config: Arc<ClientConfig>,
}

impl std::fmt::Debug for TlsSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsSettings")
            .field("options", &self.options)
            .finish()
    }
}

impl TlsSettings {
    /// Reads the key and trust material once, so that every mistake in it
    /// is reported at start-up.
    pub fn new(options: TlsOptions) -> Result<TlsSettings, TlsBuildError> {
        let stamps = stamps(&options);
        let config = build(&options)?;
        Ok(TlsSettings {
            options,
            current: Mutex::new(Current { stamps, config }),
        })
    }

    /// The configuration for a new connection: read again when a key or
    /// trust file changed since the last one (a file that no longer reads
    /// is logged and the last good configuration kept).
    pub fn client_config(&self, cluster: &str) -> Arc<ClientConfig> {
        let mut cur = self.current.lock().unwrap_or_else(|p| p.into_inner());
        let now = stamps(&self.options);
        if now != cur.stamps {
            cur.stamps = now;
            match build(&self.options) {
                Ok(config) => {
                    tracing::info!(cluster, "TLS key or trust files changed; new connections use them");
                    cur.config = config;
                }
                Err(e) => tracing::error!(
                    cluster,
                    "TLS key or trust files changed but cannot be used ({e}); new connections keep the previous ones"
                ),
            }
        }
        cur.config.clone()
    }

    /// Words for a TLS failure with this configuration.
    pub fn describe(&self, e: &rustls::Error) -> String {
        if let rustls::Error::AlertReceived(_) = e {
            if self.options.key.is_none() {
                return "the broker requires a client certificate (mutual TLS) and kmirror has none \
                        configured (ssl.keystore.location, or ssl.keystore.key with \
                        ssl.keystore.certificate.chain)"
                    .into();
            }
            let now = SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0);
            if let Some(t) = client_not_after(&self.options).filter(|t| *t < now) {
                return format!(
                    "the broker refused kmirror's client certificate, which expired on {} (ssl.keystore.*)",
                    crate::security::x509::date(t)
                );
            }
        }
        describe_error(e, self.options.verify_hostname)
    }
}

/// The rustls cipher suites a Kafka/Java suite name stands for, or `None`
/// when rustls has no such suite.
pub fn rustls_suite(name: &str) -> Option<rustls::SupportedCipherSuite> {
    let want = name.trim().to_ascii_uppercase();
    rustls::crypto::aws_lc_rs::default_provider()
        .cipher_suites
        .into_iter()
        .find(|s| {
            let ours = format!("{:?}", s.suite()).replace("TLS13_", "TLS_");
            ours == want
        })
}

/// The names of every suite rustls offers, for error messages.
pub fn rustls_suite_names() -> Vec<String> {
    rustls::crypto::aws_lc_rs::default_provider()
        .cipher_suites
        .iter()
        .map(|s| format!("{:?}", s.suite()).replace("TLS13_", "TLS_"))
        .collect()
}

fn watched(options: &TlsOptions) -> Vec<PathBuf> {
    let mut files = Vec::new();
    if let TrustSource::File { path, .. } = &options.trust {
        files.push(path.clone());
    }
    if let Some(KeySource::File { path, .. }) = &options.key {
        files.push(path.clone());
    }
    files
}

fn stamps(options: &TlsOptions) -> Vec<Option<SystemTime>> {
    watched(options)
        .iter()
        .map(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok())
        .collect()
}

/// Why a TLS configuration cannot be built: the key at fault and why.
#[derive(Debug, Clone)]
pub struct TlsBuildError {
    pub key: &'static str,
    pub message: String,
}

impl std::fmt::Display for TlsBuildError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

fn at(key: &'static str) -> impl Fn(String) -> TlsBuildError {
    move |message| TlsBuildError { key, message }
}

fn build(o: &TlsOptions) -> Result<Arc<ClientConfig>, TlsBuildError> {
    let mut provider = rustls::crypto::aws_lc_rs::default_provider();
    if let Some(names) = &o.cipher_suites {
        provider.cipher_suites = names
            .iter()
            .map(|n| {
                rustls_suite(n)
                    .ok_or_else(|| at("ssl.cipher.suites")(format!("rustls has no suite '{n}'")))
            })
            .collect::<Result<_, _>>()?;
    }
    let provider = Arc::new(provider);
    let mut versions = Vec::new();
    if o.tls13 {
        versions.push(&rustls::version::TLS13);
    }
    if o.tls12 {
        versions.push(&rustls::version::TLS12);
    }
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|e| {
            at("ssl.cipher.suites")(format!(
                "the configured TLS versions and cipher suites do not fit together: {e}"
            ))
        })?;

    let mut roots = RootCertStore::empty();
    match &o.trust {
        TrustSource::PublicRoots => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        TrustSource::File {
            path,
            store_type,
            password,
        } => add_roots(
            &mut roots,
            stores::trust_from_file(&StoreFile {
                path,
                store_type: *store_type,
                password: password.as_ref(),
            })
            .map_err(at("ssl.truststore.location"))?,
        )
        .map_err(at("ssl.truststore.location"))?,
        TrustSource::Inline(pem) => add_roots(
            &mut roots,
            stores::trust_from_pem(pem).map_err(at("ssl.truststore.certificates"))?,
        )
        .map_err(at("ssl.truststore.certificates"))?,
    }
    let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| {
            at("ssl.truststore.location")(format!("the truststore cannot be used: {e}"))
        })?;
    let builder = if o.verify_hostname {
        builder.with_webpki_verifier(webpki)
    } else {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyHostName(webpki)))
    };
    let mut config = match &o.key {
        None => builder.with_no_client_auth(),
        Some(source) => {
            let KeyMaterial { chain, key } = source.load()?;
            builder.with_client_auth_cert(chain, key).map_err(|e| {
                at(source.key_name())(format!(
                    "the client certificate and key cannot be used together: {e}"
                ))
            })?
        }
    };
    // Kafka responses and batches are large: let TLS records be full size.
    config.max_fragment_size = None;
    Ok(Arc::new(config))
}

fn add_roots(roots: &mut RootCertStore, certs: Vec<CertificateDer<'static>>) -> Result<(), String> {
    let (added, ignored) = roots.add_parsable_certificates(certs);
    if added == 0 {
        return Err(format!("none of its {ignored} certificates can be parsed"));
    }
    Ok(())
}

/// `ssl.endpoint.identification.algorithm` set empty: the chain is still
/// verified against the truststore, only the host name is not compared.
#[derive(Debug)]
struct AnyHostName(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for AnyHostName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// Words for a TLS failure an operator can act on.
fn describe_error(e: &rustls::Error, verify_hostname: bool) -> String {
    use rustls::AlertDescription as A;
    match e {
        rustls::Error::InvalidCertificate(c) => match c {
            CertificateError::UnknownIssuer => "the broker's certificate is not signed by a CA in the truststore (ssl.truststore.*)".into(),
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => "the broker's certificate has expired".into(),
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => "the broker's certificate is not valid yet (check the clocks)".into(),
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                let presented = match c {
                    CertificateError::NotValidForNameContext { presented, .. } => format!(" (it names {})", presented.join(", ")),
                    _ => String::new(),
                };
                format!(
                    "host name mismatch: the broker's certificate is not valid for the address connected to{presented}{}",
                    if verify_hostname { "; ssl.endpoint.identification.algorithm = https checks it" } else { "" }
                )
            }
            CertificateError::Revoked => "the broker's certificate is revoked".into(),
            CertificateError::BadSignature => "the broker's certificate has a bad signature".into(),
            other => format!("the broker's certificate is refused: {other:?}"),
        },
        rustls::Error::AlertReceived(A::CertificateRequired) => "the broker requires a client certificate (mutual TLS) and none is configured (ssl.keystore.*)".into(),
        rustls::Error::AlertReceived(A::BadCertificate | A::UnknownCA | A::CertificateUnknown | A::DecryptError) => {
            "the broker rejected kmirror's client certificate (is it signed by a CA the broker trusts?)".into()
        }
        rustls::Error::AlertReceived(A::CertificateExpired) => "the broker says kmirror's client certificate has expired".into(),
        rustls::Error::AlertReceived(A::HandshakeFailure | A::ProtocolVersion | A::InsufficientSecurity) => {
            "the broker found no TLS version and cipher suite in common with kmirror (ssl.enabled.protocols, ssl.cipher.suites)".into()
        }
        rustls::Error::PeerIncompatible(p) => format!("the broker's TLS is incompatible: {p:?}"),
        rustls::Error::InvalidMessage(_) | rustls::Error::InappropriateMessage { .. } => {
            "the broker did not answer with TLS (is this a plaintext listener?)".into()
        }
        other => format!("TLS failed: {other}"),
    }
}

/// Whether a TLS failure will fail the same way on every retry.
pub fn is_permanent(e: &rustls::Error) -> bool {
    matches!(
        e,
        rustls::Error::InvalidCertificate(_)
            | rustls::Error::AlertReceived(_)
            | rustls::Error::PeerIncompatible(_)
            | rustls::Error::InvalidMessage(_)
            | rustls::Error::InappropriateMessage { .. }
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use kmirror_harness::certs::TestPki;

    fn pem_trust(path: &std::path::Path) -> TlsOptions {
        TlsOptions {
            trust: TrustSource::File {
                path: path.to_path_buf(),
                store_type: StoreType::Pem,
                password: None,
            },
            key: None,
            verify_hostname: true,
            tls13: true,
            tls12: true,
            cipher_suites: None,
        }
    }

    #[test]
    fn changed_files_are_read_again_and_bad_ones_keep_the_last_good() {
        let pki = TestPki::shared();
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        std::fs::copy(pki.path("ca.pem"), &ca).unwrap();
        let settings = TlsSettings::new(pem_trust(&ca)).unwrap();
        let first = settings.client_config("B");
        assert!(
            Arc::ptr_eq(&first, &settings.client_config("B")),
            "unchanged files: same config"
        );

        // A rotated CA file (its modification time moves).
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::copy(pki.path("other-ca.pem"), &ca).unwrap();
        let rotated = settings.client_config("B");
        assert!(
            !Arc::ptr_eq(&first, &rotated),
            "a changed file is read again"
        );

        // A broken file: the last good configuration stays.
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(&ca, "not a certificate").unwrap();
        assert!(Arc::ptr_eq(&rotated, &settings.client_config("B")));
    }

    #[test]
    fn every_store_form_loads() {
        let pki = TestPki::shared();
        let client = pki.client();
        let p12 = TlsOptions {
            trust: TrustSource::File {
                path: pki.path("truststore.p12"),
                store_type: StoreType::Pkcs12,
                password: Some(Secret::new(kmirror_harness::certs::STORE_PASSWORD)),
            },
            key: Some(KeySource::File {
                path: pki.path("client.p12"),
                store_type: StoreType::Jks, // Java reads PKCS12 through JKS too.
                password: Some(Secret::new(kmirror_harness::certs::STORE_PASSWORD)),
                key_password: None,
            }),
            ..pem_trust(&pki.path("ca.pem"))
        };
        TlsSettings::new(p12).unwrap();
        let inline = TlsOptions {
            trust: TrustSource::Inline(std::fs::read_to_string(pki.path("ca.pem")).unwrap()),
            key: Some(KeySource::Inline {
                key: Secret::new(std::fs::read_to_string(&client.key).unwrap()),
                chain: std::fs::read_to_string(&client.cert).unwrap(),
                key_password: None,
            }),
            ..pem_trust(&pki.path("ca.pem"))
        };
        TlsSettings::new(inline).unwrap();
        let wrong_password = TlsOptions {
            key: Some(KeySource::File {
                path: pki.path("client.p12"),
                store_type: StoreType::Pkcs12,
                password: Some(Secret::new("wrong")),
                key_password: None,
            }),
            ..pem_trust(&pki.path("ca.pem"))
        };
        let e = TlsSettings::new(wrong_password).unwrap_err();
        assert_eq!(e.key, "ssl.keystore.location");
        assert!(e.message.contains("wrong password"), "{e}");
    }
}
