//! SASL mechanisms kmirror authenticates with (PLAIN, SCRAM-SHA-256,
//! SCRAM-SHA-512, OAUTHBEARER), read from `sasl.mechanism` and
//! `sasl.jaas.config`, and the token exchange of each as a sans-I/O state
//! machine: the connection carries the tokens in SaslAuthenticate
//! requests. GSSAPI and custom callback handlers are refused by name.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;

use std::sync::Arc;

use crate::security::jaas::JaasConfig;
use crate::security::oauth::{TokenCache, TokenEndpoint, TokenError};
use crate::security::scram::{ScramClient, ScramHash};
use crate::security::secret::Secret;

const PLAIN_MODULE: &str = "org.apache.kafka.common.security.plain.PlainLoginModule";
const SCRAM_MODULE: &str = "org.apache.kafka.common.security.scram.ScramLoginModule";
const OAUTH_MODULE: &str = "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule";
/// Kafka's login callback handler for token endpoints, by both its names.
const OAUTH_HANDLERS: &[&str] = &[
    "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginCallbackHandler",
    "org.apache.kafka.common.security.oauthbearer.secured.OAuthBearerLoginCallbackHandler",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mechanism {
    Plain,
    Scram(ScramHash),
    OAuthBearer,
}

impl Mechanism {
    pub fn name(self) -> &'static str {
        match self {
            Mechanism::Plain => "PLAIN",
            Mechanism::Scram(h) => h.mechanism(),
            Mechanism::OAuthBearer => "OAUTHBEARER",
        }
    }
}

/// A cluster's SASL settings.
#[derive(Debug, Clone)]
pub struct SaslSettings {
    pub mechanism: Mechanism,
    credentials: Credentials,
}

#[derive(Debug, Clone)]
enum Credentials {
    UserPassword {
        username: String,
        password: Secret,
    },
    /// OAUTHBEARER with an unsecured JWT made here (what brokers accept
    /// with their default, unsecured validator: for tests and labs).
    UnsecuredJwt {
        claims: BTreeMap<String, Claim>,
        lifetime_seconds: u64,
        extensions: BTreeMap<String, Secret>,
    },
    /// OAUTHBEARER with tokens from a token endpoint.
    TokenEndpoint {
        cache: Arc<TokenCache>,
        extensions: BTreeMap<String, Secret>,
    },
}

#[derive(Debug, Clone)]
enum Claim {
    Text(String),
    Number(String),
    List(Vec<String>),
}

impl SaslSettings {
    pub(crate) fn from_props<E>(
        props: &BTreeMap<String, String>,
        bad: &impl Fn(&str, String) -> E,
    ) -> Result<SaslSettings, E> {
        let get = |k: &str| props.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
        for key in ["sasl.client.callback.handler.class", "sasl.login.class"] {
            if get(key).is_some() {
                return Err(bad(
                    key,
                    "custom SASL classes are not supported: kmirror cannot run Java code; \
                     use PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER with sasl.jaas.config"
                        .into(),
                ));
            }
        }
        let name = get("sasl.mechanism").unwrap_or("GSSAPI");
        let mechanism = match name {
            "PLAIN" => Mechanism::Plain,
            "SCRAM-SHA-256" => Mechanism::Scram(ScramHash::Sha256),
            "SCRAM-SHA-512" => Mechanism::Scram(ScramHash::Sha512),
            "OAUTHBEARER" => Mechanism::OAuthBearer,
            "GSSAPI" => {
                return Err(bad(
                    "sasl.mechanism",
                    format!(
                        "{} GSSAPI (Kerberos), which kmirror does not support; use PLAIN, \
                         SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER",
                        if get("sasl.mechanism").is_some() {
                            "is"
                        } else {
                            "is not set, so it defaults to"
                        }
                    ),
                ))
            }
            other => {
                return Err(bad(
                    "sasl.mechanism",
                    format!(
                        "'{other}' is not supported; kmirror speaks PLAIN, SCRAM-SHA-256, \
                         SCRAM-SHA-512 and OAUTHBEARER"
                    ),
                ))
            }
        };
        if mechanism != Mechanism::OAuthBearer && get("sasl.login.callback.handler.class").is_some()
        {
            return Err(bad(
                "sasl.login.callback.handler.class",
                "custom login callback handlers are not supported: kmirror cannot run Java code"
                    .into(),
            ));
        }
        let credentials = match mechanism {
            Mechanism::Plain | Mechanism::Scram(_) => {
                let module = if mechanism == Mechanism::Plain {
                    PLAIN_MODULE
                } else {
                    SCRAM_MODULE
                };
                let jaas = super::jaas_for(props, mechanism.name(), module, bad)?;
                let username = jaas
                    .required("username")
                    .map_err(|m| bad("sasl.jaas.config", m))?
                    .expose()
                    .to_string();
                let password = jaas
                    .required("password")
                    .map_err(|m| bad("sasl.jaas.config", m))?
                    .clone();
                Credentials::UserPassword { username, password }
            }
            Mechanism::OAuthBearer => oauth_credentials(props, bad)?,
        };
        Ok(SaslSettings {
            mechanism,
            credentials,
        })
    }

    /// A new exchange (for an authentication or a re-authentication).
    /// `tls` verifies an https token endpoint (the cluster's own trust, or
    /// the public roots when `None`).
    pub async fn start(
        &self,
        tls: Option<Arc<rustls::ClientConfig>>,
    ) -> Result<Exchange, TokenError> {
        let fixed = |reason: String| TokenError {
            reason,
            permanent: true,
        };
        Ok(match (&self.credentials, self.mechanism) {
            (Credentials::TokenEndpoint { cache, extensions }, Mechanism::OAuthBearer) => {
                let token = cache.token(tls).await?;
                Exchange::OAuth(Some(oauth_first_message(token.expose(), extensions)))
            }
            (Credentials::UserPassword { username, password }, Mechanism::Plain) => {
                let mut token = Vec::new();
                token.push(0);
                token.extend_from_slice(username.as_bytes());
                token.push(0);
                token.extend_from_slice(password.expose().as_bytes());
                Exchange::Plain(Some(token))
            }
            (Credentials::UserPassword { username, password }, Mechanism::Scram(hash)) => {
                Exchange::Scram(
                    ScramClient::new(hash, username, password.clone(), nonce().map_err(fixed)?),
                    0,
                )
            }
            (
                Credentials::UnsecuredJwt {
                    claims,
                    lifetime_seconds,
                    extensions,
                },
                Mechanism::OAuthBearer,
            ) => {
                let token = unsecured_jwt(claims, *lifetime_seconds);
                Exchange::OAuth(Some(oauth_first_message(&token, extensions)))
            }
            _ => return Err(fixed("inconsistent SASL settings".into())),
        })
    }
}

/// One authentication exchange in progress.
pub enum Exchange {
    Plain(Option<Vec<u8>>),
    /// The client and how many broker messages it has seen.
    Scram(ScramClient, u8),
    OAuth(Option<Vec<u8>>),
}

impl Exchange {
    /// The first token kmirror sends.
    pub fn first(&mut self) -> Vec<u8> {
        match self {
            Exchange::Plain(t) | Exchange::OAuth(t) => t.take().unwrap_or_default(),
            Exchange::Scram(c, _) => c.client_first(),
        }
    }

    /// The next token for the broker's answer, `None` when authenticated.
    pub fn next(&mut self, answer: &[u8]) -> Result<Option<Vec<u8>>, String> {
        match self {
            Exchange::Plain(_) => Ok(None),
            Exchange::OAuth(_) => {
                if answer.is_empty() {
                    Ok(None)
                } else {
                    // The broker's JSON error; it has no secret in it.
                    Err(format!(
                        "the broker refused the OAuth token: {}",
                        String::from_utf8_lossy(answer)
                    ))
                }
            }
            Exchange::Scram(c, seen) => {
                *seen += 1;
                match *seen {
                    1 => c.client_final(answer).map(Some),
                    _ => c.verify_server_final(answer).map(|()| None),
                }
            }
        }
    }
}

/// 24 random bytes as URL-safe base64: printable, no ','.
fn nonce() -> Result<String, String> {
    let mut b = [0u8; 24];
    rustls::crypto::aws_lc_rs::default_provider()
        .secure_random
        .fill(&mut b)
        .map_err(|_| "no random numbers for the SCRAM nonce".to_string())?;
    Ok(B64URL.encode(b))
}

fn oauth_credentials<E>(
    props: &BTreeMap<String, String>,
    bad: &impl Fn(&str, String) -> E,
) -> Result<Credentials, E> {
    let get = |k: &str| props.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
    if let Some(class) = get("sasl.login.callback.handler.class") {
        if !OAUTH_HANDLERS.contains(&class) {
            return Err(bad(
                "sasl.login.callback.handler.class",
                format!(
                    "'{class}' is not supported: kmirror cannot run Java code; it fetches tokens \
                     as {} does",
                    OAUTH_HANDLERS[0]
                ),
            ));
        }
    }
    let jaas: JaasConfig = super::jaas_for(props, "OAUTHBEARER", OAUTH_MODULE, bad)?;
    if let Some(url) = get("sasl.oauthbearer.token.endpoint.url") {
        let required = |name: &str| {
            jaas.required(name).cloned().map_err(|m| {
                bad(
                    "sasl.jaas.config",
                    format!("{m} (needed with sasl.oauthbearer.token.endpoint.url)"),
                )
            })
        };
        let client_id = required("clientId")?.expose().to_string();
        let client_secret = required("clientSecret")?;
        let scope = jaas.option("scope").map(|s| s.expose().to_string());
        let mut endpoint = TokenEndpoint::new(url, client_id, client_secret, scope)
            .map_err(|m| bad("sasl.oauthbearer.token.endpoint.url", m))?;
        let ms = |key: &str, default: u64| -> Result<std::time::Duration, E> {
            match get(key) {
                None => Ok(std::time::Duration::from_millis(default)),
                Some(v) => v
                    .parse::<u64>()
                    .map(std::time::Duration::from_millis)
                    .map_err(|_| bad(key, format!("'{v}' is not a number of milliseconds"))),
            }
        };
        endpoint.connect_timeout = ms("sasl.login.connect.timeout.ms", 10_000)?;
        endpoint.read_timeout = ms("sasl.login.read.timeout.ms", 10_000)?;
        endpoint.urlencode = match get("sasl.oauthbearer.header.urlencode") {
            None => false,
            Some(v) if v.eq_ignore_ascii_case("true") => true,
            Some(v) if v.eq_ignore_ascii_case("false") => false,
            Some(v) => {
                return Err(bad(
                    "sasl.oauthbearer.header.urlencode",
                    format!("'{v}' is neither true nor false"),
                ))
            }
        };
        let extensions = jaas
            .options
            .iter()
            .filter_map(|(k, v)| {
                k.strip_prefix("extension_")
                    .map(|e| (e.to_string(), v.clone()))
            })
            .collect();
        return Ok(Credentials::TokenEndpoint {
            cache: Arc::new(TokenCache::new(endpoint)),
            extensions,
        });
    }

    let mut claims = BTreeMap::new();
    let mut extensions = BTreeMap::new();
    let mut lifetime_seconds = 3600;
    // Which claim names the principal; the other unsecuredLogin* options
    // (the scope claim's name, say) describe claims kmirror writes as given.
    let mut principal_claim = "sub".to_string();
    for (name, value) in &jaas.options {
        let v = value.expose();
        if let Some(c) = name.strip_prefix("unsecuredLoginStringClaim_") {
            claims.insert(c.to_string(), Claim::Text(v.to_string()));
        } else if let Some(c) = name.strip_prefix("unsecuredLoginNumberClaim_") {
            if v.parse::<f64>().is_err() {
                return Err(bad(
                    "sasl.jaas.config",
                    format!("option '{name}' is not a number"),
                ));
            }
            claims.insert(c.to_string(), Claim::Number(v.to_string()));
        } else if let Some(c) = name.strip_prefix("unsecuredLoginListClaim_") {
            // The first character separates the items, as in Kafka.
            let mut chars = v.chars();
            let items = match chars.next() {
                Some(sep) => chars
                    .as_str()
                    .split(sep)
                    .filter(|s| !s.is_empty())
                    .map(String::from)
                    .collect(),
                None => Vec::new(),
            };
            claims.insert(c.to_string(), Claim::List(items));
        } else if let Some(e) = name.strip_prefix("unsecuredLoginExtension_") {
            extensions.insert(e.to_string(), value.clone());
        } else if name == "unsecuredLoginLifetimeSeconds" {
            lifetime_seconds = v.parse().map_err(|_| {
                bad(
                    "sasl.jaas.config",
                    "option 'unsecuredLoginLifetimeSeconds' is not a whole number".into(),
                )
            })?;
        } else if name == "unsecuredLoginPrincipalClaimName" {
            principal_claim = v.to_string();
        }
    }
    if !claims.contains_key(&principal_claim) {
        return Err(bad(
            "sasl.jaas.config",
            format!("the OAuthBearerLoginModule entry has no 'unsecuredLoginStringClaim_{principal_claim}' option (the principal)"),
        ));
    }
    Ok(Credentials::UnsecuredJwt {
        claims,
        lifetime_seconds,
        extensions,
    })
}

/// An unsigned JWT (`alg: none`) with `iat`, `exp` and the configured
/// claims.
fn unsecured_jwt(claims: &BTreeMap<String, Claim>, lifetime: u64) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let mut body = format!("{{\"iat\":{now},\"exp\":{}", now + lifetime);
    for (name, claim) in claims {
        body.push(',');
        body.push_str(&json_string(name));
        body.push(':');
        match claim {
            Claim::Text(s) => body.push_str(&json_string(s)),
            Claim::Number(n) => body.push_str(n),
            Claim::List(items) => {
                body.push('[');
                body.push_str(
                    &items
                        .iter()
                        .map(|i| json_string(i))
                        .collect::<Vec<_>>()
                        .join(","),
                );
                body.push(']');
            }
        }
    }
    body.push('}');
    format!(
        "{}.{}.",
        B64URL.encode(b"{\"alg\":\"none\"}"),
        B64URL.encode(body.as_bytes())
    )
}

fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The OAUTHBEARER client message (RFC 7628): GS2 header, the bearer
/// token, then SASL extensions, each item ended by ^A.
fn oauth_first_message(token: &str, extensions: &BTreeMap<String, Secret>) -> Vec<u8> {
    let mut m = format!("n,,\u{1}auth=Bearer {token}\u{1}");
    for (k, v) in extensions {
        m.push_str(&format!("{k}={}\u{1}", v.expose()));
    }
    m.push('\u{1}');
    m.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    fn settings(pairs: &[(&str, &str)]) -> Result<SaslSettings, String> {
        SaslSettings::from_props(&props(pairs), &|k: &str, m: String| format!("{k}: {m}"))
    }

    #[test]
    fn plain_token() {
        let s = settings(&[
            ("sasl.mechanism", "PLAIN"),
            (
                "sasl.jaas.config",
                &format!("{PLAIN_MODULE} required username=\"u\" password=\"p\";"),
            ),
        ])
        .unwrap();
        let mut x = block_on(s.start(None)).unwrap();
        assert_eq!(x.first(), b"\0u\0p");
        assert_eq!(x.next(b"").unwrap(), None);
    }

    #[test]
    fn unsupported_mechanisms_and_modules_are_named() {
        let e = settings(&[]).unwrap_err();
        assert!(
            e.starts_with("sasl.mechanism: is not set, so it defaults to GSSAPI"),
            "{e}"
        );
        let e = settings(&[("sasl.mechanism", "GSSAPI")]).unwrap_err();
        assert!(e.contains("GSSAPI (Kerberos)"), "{e}");
        let e = settings(&[
            ("sasl.mechanism", "SCRAM-SHA-512"),
            (
                "sasl.jaas.config",
                &format!("{PLAIN_MODULE} required username=\"u\" password=\"secret-pw\";"),
            ),
        ])
        .unwrap_err();
        assert!(
            e.contains("ScramLoginModule") && !e.contains("secret-pw"),
            "{e}"
        );
        let e = settings(&[
            ("sasl.mechanism", "PLAIN"),
            ("sasl.client.callback.handler.class", "com.Foo"),
        ])
        .unwrap_err();
        assert!(e.starts_with("sasl.client.callback.handler.class"), "{e}");
    }

    #[test]
    fn unsecured_jwt_carries_the_principal() {
        let s = settings(&[
            ("sasl.mechanism", "OAUTHBEARER"),
            ("sasl.jaas.config", &format!("{OAUTH_MODULE} required unsecuredLoginStringClaim_sub=\"alice\" unsecuredLoginExtension_traceId=\"123\";")),
        ])
        .unwrap();
        let mut x = block_on(s.start(None)).unwrap();
        let first = String::from_utf8(x.first()).unwrap();
        assert!(first.starts_with("n,,\u{1}auth=Bearer "), "{first}");
        assert!(first.ends_with("\u{1}traceId=123\u{1}\u{1}"), "{first}");
        let token = first
            .split("Bearer ")
            .nth(1)
            .unwrap()
            .split('\u{1}')
            .next()
            .unwrap();
        let payload = token.split('.').nth(1).unwrap();
        let json = String::from_utf8(B64URL.decode(payload).unwrap()).unwrap();
        assert!(json.contains("\"sub\":\"alice\""), "{json}");
    }
}
