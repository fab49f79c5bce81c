//! The client side of SCRAM-SHA-256 and SCRAM-SHA-512 (RFC 5802, RFC 7677)
//! as Kafka brokers run it: no channel binding, at least 4096 iterations,
//! and the server's signature checked before the exchange counts as done.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256, Sha512};

use crate::security::secret::Secret;

/// Kafka refuses SCRAM credentials with fewer iterations; so does kmirror
/// (a broker offering fewer is not one it should send a proof to).
const MIN_ITERATIONS: u32 = 4096;
/// More than this is a broker trying to burn the client's CPU.
const MAX_ITERATIONS: u32 = 1_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScramHash {
    Sha256,
    Sha512,
}

impl ScramHash {
    pub fn mechanism(self) -> &'static str {
        match self {
            ScramHash::Sha256 => "SCRAM-SHA-256",
            ScramHash::Sha512 => "SCRAM-SHA-512",
        }
    }

    fn hmac(self, key: &[u8], data: &[u8]) -> Vec<u8> {
        match self {
            ScramHash::Sha256 => {
                let mut m = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key");
                m.update(data);
                m.finalize().into_bytes().to_vec()
            }
            ScramHash::Sha512 => {
                let mut m = Hmac::<Sha512>::new_from_slice(key).expect("HMAC takes any key");
                m.update(data);
                m.finalize().into_bytes().to_vec()
            }
        }
    }

    fn hash(self, data: &[u8]) -> Vec<u8> {
        match self {
            ScramHash::Sha256 => Sha256::digest(data).to_vec(),
            ScramHash::Sha512 => Sha512::digest(data).to_vec(),
        }
    }

    fn salted_password(self, password: &[u8], salt: &[u8], iterations: u32) -> Vec<u8> {
        match self {
            ScramHash::Sha256 => {
                let mut out = vec![0u8; 32];
                pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, iterations, &mut out);
                out
            }
            ScramHash::Sha512 => {
                let mut out = vec![0u8; 64];
                pbkdf2::pbkdf2_hmac::<Sha512>(password, salt, iterations, &mut out);
                out
            }
        }
    }
}

/// One SCRAM exchange: client-first, then client-final for the server's
/// first message, then the server's final message verified.
pub struct ScramClient {
    hash: ScramHash,
    password: Secret,
    client_first_bare: String,
    nonce: String,
    /// Set once the client-final message is written.
    server_signature: Option<Vec<u8>>,
}

impl ScramClient {
    /// `nonce` must be fresh random printable characters (no ',').
    pub fn new(hash: ScramHash, username: &str, password: Secret, nonce: String) -> ScramClient {
        let user = username.replace('=', "=3D").replace(',', "=2C");
        ScramClient {
            hash,
            password,
            client_first_bare: format!("n={user},r={nonce}"),
            nonce,
            server_signature: None,
        }
    }

    pub fn client_first(&self) -> Vec<u8> {
        format!("n,,{}", self.client_first_bare).into_bytes()
    }

    /// The client-final message for the server-first message.
    pub fn client_final(&mut self, server_first: &[u8]) -> Result<Vec<u8>, String> {
        let server_first = std::str::from_utf8(server_first)
            .map_err(|_| "the broker's SCRAM challenge is not UTF-8".to_string())?;
        let mut nonce = None;
        let mut salt = None;
        let mut iterations = None;
        for attr in server_first.split(',') {
            match attr.split_once('=') {
                Some(("r", v)) => nonce = Some(v),
                Some(("s", v)) => salt = Some(v),
                Some(("i", v)) => iterations = Some(v),
                Some(("e", v)) => return Err(format!("the broker refused: {v}")),
                _ => {}
            }
        }
        let (Some(nonce), Some(salt), Some(iterations)) = (nonce, salt, iterations) else {
            return Err(
                "the broker's SCRAM challenge lacks its nonce, salt or iteration count".into(),
            );
        };
        if !nonce.starts_with(&self.nonce) || nonce.len() == self.nonce.len() {
            return Err("the broker's SCRAM nonce does not extend kmirror's".into());
        }
        let salt = B64
            .decode(salt)
            .map_err(|_| "the broker's SCRAM salt is not base64".to_string())?;
        let iterations: u32 = iterations
            .parse()
            .map_err(|_| "the broker's SCRAM iteration count is not a number".to_string())?;
        if !(MIN_ITERATIONS..=MAX_ITERATIONS).contains(&iterations) {
            return Err(format!(
                "the broker asks for {iterations} SCRAM iterations; kmirror accepts {MIN_ITERATIONS} to {MAX_ITERATIONS}"
            ));
        }
        let h = self.hash;
        let salted = h.salted_password(self.password.expose().as_bytes(), &salt, iterations);
        let client_key = h.hmac(&salted, b"Client Key");
        let stored_key = h.hash(&client_key);
        let without_proof = format!("c=biws,r={nonce}");
        let auth_message = format!("{},{server_first},{without_proof}", self.client_first_bare);
        let signature = h.hmac(&stored_key, auth_message.as_bytes());
        let proof: Vec<u8> = client_key
            .iter()
            .zip(&signature)
            .map(|(a, b)| a ^ b)
            .collect();
        let server_key = h.hmac(&salted, b"Server Key");
        self.server_signature = Some(h.hmac(&server_key, auth_message.as_bytes()));
        Ok(format!("{without_proof},p={}", B64.encode(proof)).into_bytes())
    }

    /// Checks the server-final message: the broker proves it knows the
    /// credentials too.
    pub fn verify_server_final(&self, server_final: &[u8]) -> Result<(), String> {
        let text = std::str::from_utf8(server_final)
            .map_err(|_| "the broker's SCRAM final message is not UTF-8".to_string())?;
        if let Some(e) = text.strip_prefix("e=") {
            return Err(format!("the broker refused: {e}"));
        }
        let v = text
            .split(',')
            .find_map(|a| a.strip_prefix("v="))
            .ok_or("the broker's SCRAM final message has no signature")?;
        let got = B64
            .decode(v)
            .map_err(|_| "the broker's SCRAM signature is not base64".to_string())?;
        match &self.server_signature {
            Some(want) if *want == got => Ok(()),
            _ => Err(
                "the broker's SCRAM signature is wrong: it does not hold this user's credentials"
                    .into(),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The SCRAM-SHA-256 example exchange of RFC 7677, section 3.
    #[test]
    fn rfc7677_example() {
        let mut c = ScramClient::new(
            ScramHash::Sha256,
            "user",
            Secret::new("pencil"),
            "rOprNGfwEbeRWgbNEkqO".into(),
        );
        assert_eq!(c.client_first(), b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
        let fin = c
            .client_final(b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096")
            .unwrap();
        assert_eq!(
            String::from_utf8(fin).unwrap(),
            "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
        );
        c.verify_server_final(b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
            .unwrap();
        assert!(c
            .verify_server_final(b"v=AAAATRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
            .is_err());
    }

    #[test]
    fn hostile_challenges_are_refused() {
        let mut c = ScramClient::new(ScramHash::Sha512, "u", Secret::new("p"), "abc".into());
        for bad in [
            &b"r=xyz123,s=c2FsdA==,i=4096"[..],
            b"r=abc,s=c2FsdA==,i=4096",
            b"r=abcd,s=c2FsdA==,i=1",
            b"r=abcd,s=c2FsdA==,i=4000000000",
            b"r=abcd,s=!!,i=4096",
            b"e=invalid-proof",
            b"\xff",
        ] {
            assert!(c.client_final(bad).is_err());
        }
    }
}
