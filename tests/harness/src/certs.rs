//! Certificates for the harness's TLS listeners, made at test time: a CA,
//! a broker certificate for `localhost` (no IP address in it, so a client
//! that connects to `127.0.0.1` and checks host names refuses it), and
//! client certificates for mutual TLS in every form kmirror reads (PEM
//! files, PKCS#12, inline PEM). Also the certificates tests use to get
//! refused: one from another CA and one that has expired.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use p12_keystore::{Certificate as P12Cert, KeyStore, KeyStoreEntry, PrivateKeyChain};
use rcgen::{
    BasicConstraints, Certificate, CertificateParams, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose,
};

/// The password of every PKCS#12 store the harness writes.
pub const STORE_PASSWORD: &str = "harness-store-pw";

/// A directory of test key material.
#[derive(Debug)]
pub struct TestPki {
    pub dir: PathBuf,
}

/// One certificate and key, as PEM files.
#[derive(Debug, Clone)]
pub struct IssuedPem {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl TestPki {
    /// The PKI every test of this process shares, made on first use.
    pub fn shared() -> &'static TestPki {
        static PKI: OnceLock<TestPki> = OnceLock::new();
        PKI.get_or_init(|| {
            let dir = std::env::temp_dir().join(format!("kmirror-pki-{}", std::process::id()));
            TestPki::generate(&dir).expect("test certificates are generated")
        })
    }

    /// Writes a fresh PKI into `dir`:
    /// - `ca.pem`: the CA brokers and kmirror trust;
    /// - `broker.pem`: the broker's key and certificate chain (`localhost`);
    /// - `client.crt` / `client.key` (PEM), `client.p12` (PKCS#12), for
    ///   kmirror's client certificate;
    /// - `truststore.p12`: `ca.pem` as a PKCS#12 truststore;
    /// - `other-ca.pem` and `stranger.crt`/`stranger.key`: a CA nobody
    ///   trusts and a client certificate it signed;
    /// - `expired.crt` / `expired.key`: a client certificate of the real CA
    ///   that expired in 2021.
    pub fn generate(dir: &Path) -> io::Result<TestPki> {
        fs::create_dir_all(dir)?;
        let (ca, ca_key) = new_ca("kmirror harness CA")?;
        let (other_ca, other_key) = new_ca("a CA nobody trusts")?;
        fs::write(dir.join("ca.pem"), ca.pem())?;
        fs::write(dir.join("other-ca.pem"), other_ca.pem())?;

        let (broker, broker_key) = leaf("localhost", &["localhost"], &ca, &ca_key, false)?;
        fs::write(
            dir.join("broker.pem"),
            format!("{}{}{}", broker_key.serialize_pem(), broker.pem(), ca.pem()),
        )?;

        let (client, client_key) = leaf("kmirror", &[], &ca, &ca_key, false)?;
        fs::write(
            dir.join("client.crt"),
            format!("{}{}", client.pem(), ca.pem()),
        )?;
        fs::write(dir.join("client.key"), client_key.serialize_pem())?;
        fs::write(
            dir.join("client.p12"),
            pkcs12_key(&client, &client_key, &ca)?,
        )?;
        fs::write(dir.join("truststore.p12"), pkcs12_trust(&ca)?)?;

        let (stranger, stranger_key) = leaf("stranger", &[], &other_ca, &other_key, false)?;
        fs::write(dir.join("stranger.crt"), stranger.pem())?;
        fs::write(dir.join("stranger.key"), stranger_key.serialize_pem())?;
        let (expired, expired_key) = leaf("kmirror-expired", &[], &ca, &ca_key, true)?;
        fs::write(dir.join("expired.crt"), expired.pem())?;
        fs::write(dir.join("expired.key"), expired_key.serialize_pem())?;
        Ok(TestPki {
            dir: dir.to_path_buf(),
        })
    }

    /// A TLS server configuration with the broker's certificate (for
    /// [`crate::fake::FakeBroker::start_tls`]); `client_auth`
    /// requires client certificates signed by the CA.
    pub fn server_config(
        &self,
        client_auth: bool,
    ) -> io::Result<std::sync::Arc<rustls::ServerConfig>> {
        use kmirror::security::stores::{self, StoreFile, StoreType};
        let material = stores::key_from_file(
            &StoreFile {
                path: &self.path("broker.pem"),
                store_type: StoreType::Pem,
                password: None,
            },
            None,
        )
        .map_err(err)?;
        let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(err)?;
        let builder = if client_auth {
            let mut roots = rustls::RootCertStore::empty();
            for cert in stores::trust_from_file(&StoreFile {
                path: &self.path("ca.pem"),
                store_type: StoreType::Pem,
                password: None,
            })
            .map_err(err)?
            {
                roots.add(cert).map_err(err)?;
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                std::sync::Arc::new(roots),
                provider,
            )
            .build()
            .map_err(err)?;
            builder.with_client_cert_verifier(verifier)
        } else {
            builder.with_no_client_auth()
        };
        let mut config = builder
            .with_single_cert(material.chain, material.key)
            .map_err(err)?;
        config.max_fragment_size = None;
        Ok(std::sync::Arc::new(config))
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    pub fn client(&self) -> IssuedPem {
        self.issued("client")
    }

    pub fn stranger(&self) -> IssuedPem {
        self.issued("stranger")
    }

    pub fn expired(&self) -> IssuedPem {
        self.issued("expired")
    }

    fn issued(&self, name: &str) -> IssuedPem {
        IssuedPem {
            cert: self.path(&format!("{name}.crt")),
            key: self.path(&format!("{name}.key")),
        }
    }
}

fn err(e: impl std::fmt::Display) -> io::Error {
    io::Error::other(e.to_string())
}

fn new_ca(name: &str) -> io::Result<(Certificate, KeyPair)> {
    let mut params = CertificateParams::new(Vec::<String>::new()).map_err(err)?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, name);
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let key = KeyPair::generate().map_err(err)?;
    let cert = params.self_signed(&key).map_err(err)?;
    Ok((cert, key))
}

fn leaf(
    cn: &str,
    dns: &[&str],
    ca: &Certificate,
    ca_key: &KeyPair,
    expired: bool,
) -> io::Result<(Certificate, KeyPair)> {
    let mut params = CertificateParams::new(dns.iter().map(|s| s.to_string()).collect::<Vec<_>>())
        .map_err(err)?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    params.distinguished_name = dn;
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    if expired {
        params.not_before = rcgen::date_time_ymd(2020, 1, 1);
        params.not_after = rcgen::date_time_ymd(2021, 1, 1);
    } else {
        params.not_before = rcgen::date_time_ymd(2024, 1, 1);
        params.not_after = rcgen::date_time_ymd(2124, 1, 1);
    }
    let key = KeyPair::generate().map_err(err)?;
    let cert = params.signed_by(&key, ca, ca_key).map_err(err)?;
    Ok((cert, key))
}

fn pkcs12_key(cert: &Certificate, key: &KeyPair, ca: &Certificate) -> io::Result<Vec<u8>> {
    let chain = [
        P12Cert::from_der(cert.der()).map_err(err)?,
        P12Cert::from_der(ca.der()).map_err(err)?,
    ];
    let mut ks = KeyStore::new();
    ks.add_entry(
        "kmirror",
        KeyStoreEntry::PrivateKeyChain(PrivateKeyChain::new(key.serialize_der(), [1u8; 20], chain)),
    );
    ks.writer(STORE_PASSWORD).write().map_err(err)
}

fn pkcs12_trust(ca: &Certificate) -> io::Result<Vec<u8>> {
    let mut ks = KeyStore::new();
    ks.add_entry(
        "ca",
        KeyStoreEntry::Certificate(P12Cert::from_der(ca.der()).map_err(err)?),
    );
    ks.writer(STORE_PASSWORD).write().map_err(err)
}
