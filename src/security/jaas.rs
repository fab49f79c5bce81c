//! `sasl.jaas.config` as Kafka clients read it: one login module, a control
//! flag, `name=value` options (values quoted or bare), and a final `;`:
//!
//! ```text
//! org.apache.kafka.common.security.scram.ScramLoginModule required username="mirror" password="...";
//! ```
//!
//! Errors describe the shape that was expected and never quote the text,
//! which holds passwords.

use std::collections::BTreeMap;

use crate::security::secret::Secret;

/// A parsed JAAS entry. Option values are secrets: some of them are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JaasConfig {
    pub login_module: String,
    pub options: BTreeMap<String, Secret>,
}

impl JaasConfig {
    pub fn parse(text: &str) -> Result<JaasConfig, String> {
        let tokens = tokenize(text)?;
        let mut it = tokens.into_iter().peekable();
        let Some(Token::Word(login_module)) = it.next() else {
            return Err("expected a login module class name first".into());
        };
        match it.next() {
            Some(Token::Word(flag))
                if ["required", "requisite", "sufficient", "optional"]
                    .contains(&flag.to_ascii_lowercase().as_str()) => {}
            _ => {
                return Err(format!(
                    "expected a control flag ('required', 'requisite', 'sufficient' or 'optional') after '{login_module}'"
                ))
            }
        }
        let mut options = BTreeMap::new();
        loop {
            match it.next() {
                Some(Token::Semicolon) => break,
                Some(Token::Word(name)) => {
                    if it.next() != Some(Token::Equals) {
                        return Err(format!("option '{name}' is not followed by '='"));
                    }
                    match it.next() {
                        Some(Token::Word(v)) | Some(Token::Quoted(v)) => {
                            options.insert(name, Secret::new(v));
                        }
                        _ => return Err(format!("option '{name}' has no value")),
                    }
                }
                Some(_) => return Err("expected an option name or ';'".into()),
                None => return Err("it must end with ';'".into()),
            }
        }
        if it.next().is_some() {
            return Err(
                "it holds more than one login module; a Kafka client takes exactly one".into(),
            );
        }
        Ok(JaasConfig {
            login_module,
            options,
        })
    }

    /// The option `name`, if given.
    pub fn option(&self, name: &str) -> Option<&Secret> {
        self.options.get(name)
    }

    /// The option `name`, which must be given.
    pub fn required(&self, name: &str) -> Result<&Secret, String> {
        self.option(name).ok_or_else(|| {
            format!(
                "the {} entry has no '{name}' option",
                self.login_module.rsplit('.').next().unwrap_or_default()
            )
        })
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Token {
    Word(String),
    Quoted(String),
    Equals,
    Semicolon,
}

fn tokenize(text: &str) -> Result<Vec<Token>, String> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '=' => {
                chars.next();
                out.push(Token::Equals);
            }
            ';' => {
                chars.next();
                out.push(Token::Semicolon);
            }
            '"' | '\'' => {
                let quote = c;
                chars.next();
                let mut s = String::new();
                loop {
                    match chars.next() {
                        None => return Err("a quoted value is not closed".into()),
                        Some(c) if c == quote => break,
                        Some('\\') => match chars.next() {
                            Some('n') => s.push('\n'),
                            Some('t') => s.push('\t'),
                            Some('r') => s.push('\r'),
                            Some(c) => s.push(c),
                            None => return Err("a quoted value is not closed".into()),
                        },
                        Some(c) => s.push(c),
                    }
                }
                out.push(Token::Quoted(s));
            }
            _ => {
                let mut s = String::new();
                while let Some(&c) = chars.peek() {
                    if c.is_whitespace() || c == '=' || c == ';' || c == '"' || c == '\'' {
                        break;
                    }
                    s.push(c);
                    chars.next();
                }
                out.push(Token::Word(s));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kafka_style_entries() {
        let j = JaasConfig::parse(
            "org.apache.kafka.common.security.scram.ScramLoginModule required\n  username=\"mirror\" password=\"p;a=s\\\"s\";",
        )
        .unwrap();
        assert_eq!(
            j.login_module,
            "org.apache.kafka.common.security.scram.ScramLoginModule"
        );
        assert_eq!(j.option("username").unwrap().expose(), "mirror");
        assert_eq!(j.option("password").unwrap().expose(), "p;a=s\"s");

        let j = JaasConfig::parse(
            "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required unsecuredLoginStringClaim_sub=alice ;",
        )
        .unwrap();
        assert_eq!(
            j.option("unsecuredLoginStringClaim_sub").unwrap().expose(),
            "alice"
        );
    }

    #[test]
    fn errors_never_quote_values() {
        for bad in [
            "M required password=\"hunter2\"",
            "M password=\"hunter2\";",
            "M required password=;",
            "M required password \"hunter2\";",
            "M required password=\"hunter2;",
            "M required a=\"hunter2\"; N required b=c;",
        ] {
            let e = JaasConfig::parse(bad).unwrap_err();
            assert!(!e.contains("hunter2"), "{e}");
        }
    }
}
