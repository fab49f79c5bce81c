//! A Kafka client's properties after MirrorMaker 2's layering, by key.
//! Its `Debug` hides the values of keys that hold secrets (passwords, JAAS
//! configurations, inline private keys), so a configuration printed while
//! debugging never shows them.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::{Deref, DerefMut};

use crate::security::secret::is_secret_key;

#[derive(Clone, Default, PartialEq, Eq)]
pub struct ClientProps(BTreeMap<String, String>);

impl Deref for ClientProps {
    type Target = BTreeMap<String, String>;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl DerefMut for ClientProps {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

impl FromIterator<(String, String)> for ClientProps {
    fn from_iter<I: IntoIterator<Item = (String, String)>>(iter: I) -> Self {
        ClientProps(iter.into_iter().collect())
    }
}

impl fmt::Debug for ClientProps {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut m = f.debug_map();
        for (k, v) in &self.0 {
            if is_secret_key(k) {
                m.entry(k, &format_args!("[hidden]"));
            } else {
                m.entry(k, v);
            }
        }
        m.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_secrets() {
        let p: ClientProps = [
            (
                "sasl.jaas.config".to_string(),
                "X required password=\"hunter2\";".to_string(),
            ),
            (
                "ssl.truststore.location".to_string(),
                "/etc/ts.p12".to_string(),
            ),
        ]
        .into_iter()
        .collect();
        let text = format!("{p:?}");
        assert!(
            !text.contains("hunter2") && text.contains("/etc/ts.p12"),
            "{text}"
        );
    }
}
