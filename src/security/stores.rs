//! Key and trust material as Kafka's `ssl.*` keys describe it: PEM files,
//! PKCS#12 stores, and PEM text given inline in the configuration. JKS
//! stores are recognised and refused with the `keytool` command that turns
//! them into PKCS#12. Errors name the file, never a password or key.

use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use rustls::pki_types::{
    CertificateDer, PrivateKeyDer, PrivatePkcs1KeyDer, PrivatePkcs8KeyDer, PrivateSec1KeyDer,
};

use crate::security::secret::Secret;

/// What `ssl.keystore.type` / `ssl.truststore.type` name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreType {
    Pem,
    Pkcs12,
    Jks,
}

impl StoreType {
    pub fn parse(s: &str) -> Option<StoreType> {
        match s.to_ascii_uppercase().as_str() {
            "PEM" => Some(StoreType::Pem),
            "PKCS12" | "P12" | "PFX" => Some(StoreType::Pkcs12),
            "JKS" => Some(StoreType::Jks),
            _ => None,
        }
    }
}

/// A client certificate chain and its private key.
#[derive(Debug)]
pub struct KeyMaterial {
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
}

/// Where a store comes from, for messages.
pub struct StoreFile<'a> {
    pub path: &'a Path,
    pub store_type: StoreType,
    pub password: Option<&'a Secret>,
}

/// Trusted certificates from a truststore file.
pub fn trust_from_file(f: &StoreFile<'_>) -> Result<Vec<CertificateDer<'static>>, String> {
    let data = read(f.path)?;
    let certs = match detect(&data, f)? {
        StoreType::Pem => pem_certs(&data).map_err(|e| in_file(f.path, e))?,
        StoreType::Pkcs12 => {
            let ks = pkcs12(&data, f)?;
            let mut certs = Vec::new();
            for (_, entry) in ks.entries() {
                match entry {
                    p12_keystore::KeyStoreEntry::Certificate(c) => {
                        certs.push(CertificateDer::from(c.as_der().to_vec()))
                    }
                    p12_keystore::KeyStoreEntry::PrivateKeyChain(chain) => certs.extend(
                        chain
                            .chain()
                            .iter()
                            .map(|c| CertificateDer::from(c.as_der().to_vec())),
                    ),
                    p12_keystore::KeyStoreEntry::Secret(_) => {}
                }
            }
            certs
        }
        StoreType::Jks => unreachable!("detect refuses JKS"),
    };
    if certs.is_empty() {
        return Err(in_file(f.path, "holds no certificate".into()));
    }
    Ok(certs)
}

/// Trusted certificates given inline (`ssl.truststore.certificates`).
pub fn trust_from_pem(text: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = pem_certs(text.as_bytes())?;
    if certs.is_empty() {
        return Err("holds no PEM certificate".into());
    }
    Ok(certs)
}

/// A key and chain from a keystore file. `key_password` decrypts an
/// encrypted PEM key (`ssl.key.password`).
pub fn key_from_file(
    f: &StoreFile<'_>,
    key_password: Option<&Secret>,
) -> Result<KeyMaterial, String> {
    let data = read(f.path)?;
    match detect(&data, f)? {
        StoreType::Pem => {
            let chain = pem_certs(&data).map_err(|e| in_file(f.path, e))?;
            let key = pem_key(&data, key_password).map_err(|e| in_file(f.path, e))?;
            material(chain, key).map_err(|e| in_file(f.path, e))
        }
        StoreType::Pkcs12 => {
            let ks = pkcs12(&data, f)?;
            let (_, chain) = ks
                .private_key_chain()
                .ok_or_else(|| in_file(f.path, "holds no private key entry".into()))?;
            let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(chain.key().to_vec()));
            let certs = chain
                .chain()
                .iter()
                .map(|c| CertificateDer::from(c.as_der().to_vec()))
                .collect();
            material(certs, Some(key)).map_err(|e| in_file(f.path, e))
        }
        StoreType::Jks => unreachable!("detect refuses JKS"),
    }
}

/// A key and chain given inline (`ssl.keystore.key`,
/// `ssl.keystore.certificate.chain`).
pub fn key_from_pem(
    key: &Secret,
    chain: &str,
    key_password: Option<&Secret>,
) -> Result<KeyMaterial, String> {
    let certs = pem_certs(chain.as_bytes())?;
    let key = pem_key(key.expose().as_bytes(), key_password)?;
    material(certs, key)
}

fn material(
    chain: Vec<CertificateDer<'static>>,
    key: Option<PrivateKeyDer<'static>>,
) -> Result<KeyMaterial, String> {
    let key = key.ok_or("holds no private key")?;
    if chain.is_empty() {
        return Err("holds no certificate for the private key".into());
    }
    Ok(KeyMaterial { chain, key })
}

fn read(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

fn in_file(path: &Path, what: String) -> String {
    format!("{} {what}", path.display())
}

/// The store's real format, checked against the configured type. A JKS
/// file gets the command that converts it.
fn detect(data: &[u8], f: &StoreFile<'_>) -> Result<StoreType, String> {
    let actual = if data.starts_with(&[0xfe, 0xed, 0xfe, 0xed]) {
        StoreType::Jks
    } else if data.first() == Some(&0x30) {
        StoreType::Pkcs12
    } else if data.windows(11).any(|w| w == b"-----BEGIN ") {
        StoreType::Pem
    } else {
        return Err(in_file(
            f.path,
            "is neither a PEM file, a PKCS12 store nor a JKS store".into(),
        ));
    };
    if actual == StoreType::Jks {
        return Err(format!(
            "{} is a JKS store, which kmirror does not read; convert it to PKCS12 once with\n  \
             keytool -importkeystore -srckeystore {} -srcstoretype JKS -destkeystore {} -deststoretype PKCS12\n\
             and point the location key at the new file with its type set to PKCS12",
            f.path.display(),
            f.path.display(),
            pkcs12_name(f.path).display()
        ));
    }
    // Java reads a PKCS12 file through the JKS type too (keystore.type.compat);
    // a PEM file must be declared as PEM.
    match (f.store_type, actual) {
        (StoreType::Pem, StoreType::Pem) => Ok(actual),
        (StoreType::Pkcs12 | StoreType::Jks, StoreType::Pkcs12) => Ok(actual),
        (declared, _) => Err(in_file(
            f.path,
            format!("is a {actual:?} file but its type is set to {declared:?}"),
        )),
    }
}

fn pkcs12_name(path: &Path) -> PathBuf {
    path.with_extension("p12")
}

fn pkcs12(data: &[u8], f: &StoreFile<'_>) -> Result<p12_keystore::KeyStore, String> {
    let password = f.password.map(Secret::expose).unwrap_or_default();
    p12_keystore::KeyStore::from_pkcs12(data, password).map_err(|e| {
        in_file(
            f.path,
            format!("cannot be opened as PKCS12 (wrong password, or an unsupported cipher): {e}"),
        )
    })
}

/// PEM sections as (label, DER).
fn pem_sections(data: &[u8]) -> Result<Vec<(String, Vec<u8>)>, String> {
    let text = std::str::from_utf8(data).map_err(|_| "is not PEM text".to_string())?;
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("-----BEGIN ") {
        let after = &rest[start + 11..];
        let label_end = after.find("-----").ok_or("has a malformed PEM header")?;
        let label = after[..label_end].to_string();
        let body_start = &after[label_end + 5..];
        let end_marker = format!("-----END {label}-----");
        let body_end = body_start
            .find(&end_marker)
            .ok_or_else(|| format!("has a '{label}' section with no end line"))?;
        let b64: String = body_start[..body_end]
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        if b64.contains(':') {
            return Err(format!(
                "has a '{label}' section encrypted the legacy OpenSSL way; use PKCS#8 \
                 ('openssl pkcs8 -topk8 -v2 aes-256-cbc')"
            ));
        }
        let der = B64
            .decode(b64)
            .map_err(|_| format!("has a '{label}' section that is not base64"))?;
        out.push((label, der));
        rest = &body_start[body_end + end_marker.len()..];
    }
    Ok(out)
}

fn pem_certs(data: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    Ok(pem_sections(data)?
        .into_iter()
        .filter(|(label, _)| label == "CERTIFICATE" || label == "TRUSTED CERTIFICATE")
        .map(|(_, der)| CertificateDer::from(der))
        .collect())
}

fn pem_key(
    data: &[u8],
    password: Option<&Secret>,
) -> Result<Option<PrivateKeyDer<'static>>, String> {
    let mut keys = Vec::new();
    for (label, der) in pem_sections(data)? {
        let key = match label.as_str() {
            "PRIVATE KEY" => PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(der)),
            "RSA PRIVATE KEY" => PrivateKeyDer::Pkcs1(PrivatePkcs1KeyDer::from(der)),
            "EC PRIVATE KEY" => PrivateKeyDer::Sec1(PrivateSec1KeyDer::from(der)),
            "ENCRYPTED PRIVATE KEY" => {
                let password = password
                    .filter(|p| !p.is_empty())
                    .ok_or("holds an encrypted private key and ssl.key.password is not set")?;
                let info = pkcs8::EncryptedPrivateKeyInfo::try_from(der.as_slice())
                    .map_err(|_| "holds an encrypted private key that is not PKCS#8")?;
                let doc = info.decrypt(password.expose()).map_err(|_| {
                    "holds an encrypted private key that ssl.key.password does not open"
                })?;
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(doc.as_bytes().to_vec()))
            }
            _ => continue,
        };
        keys.push(key);
    }
    if keys.len() > 1 {
        return Err("holds more than one private key".into());
    }
    Ok(keys.pop())
}

#[cfg(test)]
mod tests {
    use super::*;
    use kmirror_harness::certs::TestPki;

    /// The client key, encrypted as Kafka's PEM keystores hold it
    /// (PKCS#8, PBES2 with PBKDF2-SHA256 and AES-256-CBC).
    fn encrypted_client_key(password: &str) -> String {
        let pki = TestPki::shared();
        let pem = std::fs::read(pki.client().key).unwrap();
        let (_, der) = pem_sections(&pem).unwrap().remove(0);
        let info = pkcs8::PrivateKeyInfo::try_from(der.as_slice()).unwrap();
        let params =
            pkcs8::pkcs5::pbes2::Parameters::pbkdf2_sha256_aes256cbc(2048, b"saltsalt", &[7u8; 16])
                .unwrap();
        let doc = info.encrypt_with_params(params, password).unwrap();
        format!(
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\n{}\n-----END ENCRYPTED PRIVATE KEY-----\n",
            B64.encode(doc.as_bytes())
        )
    }

    #[test]
    fn encrypted_pem_keys_open_with_ssl_key_password_only() {
        let pki = TestPki::shared();
        let chain = std::fs::read_to_string(pki.client().cert).unwrap();
        let key = Secret::new(encrypted_client_key("key-pw"));
        let m = key_from_pem(&key, &chain, Some(&Secret::new("key-pw"))).unwrap();
        assert!(matches!(m.key, PrivateKeyDer::Pkcs8(_)));
        let e = key_from_pem(&key, &chain, Some(&Secret::new("wrong"))).unwrap_err();
        assert!(e.contains("ssl.key.password does not open"), "{e}");
        assert!(!e.contains("wrong"), "{e}");
        let e = key_from_pem(&key, &chain, None).unwrap_err();
        assert!(e.contains("ssl.key.password is not set"), "{e}");
    }

    #[test]
    fn store_types_are_checked_against_the_content() {
        let pki = TestPki::shared();
        fn f(path: &Path, store_type: StoreType) -> StoreFile<'_> {
            StoreFile {
                path,
                store_type,
                password: None,
            }
        }
        let e = trust_from_file(&f(&pki.path("truststore.p12"), StoreType::Pem)).unwrap_err();
        assert!(
            e.contains("is a Pkcs12 file but its type is set to Pem"),
            "{e}"
        );
        let e = trust_from_file(&f(&pki.path("ca.pem"), StoreType::Pkcs12)).unwrap_err();
        assert!(e.contains("is a Pem file"), "{e}");
    }
}
