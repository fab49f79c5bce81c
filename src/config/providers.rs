//! Config providers, as Kafka clients and MirrorMaker 2 resolve them:
//! `config.providers = file, dir, env` with
//! `config.providers.NAME.class` naming one of Kafka's three providers,
//! and `${NAME:path:key}` (or `${NAME:key}`) in any value replaced by what
//! the provider finds, so that secrets stay out of the MM2 file:
//!
//! - `FileConfigProvider`: `${file:/etc/kmirror/secrets.properties:password}`,
//!   a key of a properties file;
//! - `DirectoryConfigProvider`: `${dir:/run/secrets:db-password}`, a file's
//!   whole content;
//! - `EnvVarConfigProvider`: `${env:KMIRROR_PASSWORD}`.
//!
//! `param.allowed.paths` (file, dir) and `param.allowlist.pattern` (env)
//! restrict what can be read. A reference to a configured provider that
//! finds nothing is an error (naming the reference, never a value); a
//! reference to a provider that is not configured stays as written, as in
//! Kafka, with a warning.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use regex::Regex;

use crate::config::properties::Properties;
use crate::config::ConfigError;

const FILE: &str = "org.apache.kafka.common.config.provider.FileConfigProvider";
const DIR: &str = "org.apache.kafka.common.config.provider.DirectoryConfigProvider";
const ENV: &str = "org.apache.kafka.common.config.provider.EnvVarConfigProvider";

enum Kind {
    File,
    Dir,
    Env,
}

struct Provider {
    kind: Kind,
    allowed_paths: Option<Vec<PathBuf>>,
    allowlist: Option<Regex>,
}

/// `props` with every provider reference resolved, and the warnings (line,
/// text) to log.
pub fn resolve(props: &Properties) -> Result<(Properties, Vec<(usize, String)>), ConfigError> {
    let path = props.path().to_path_buf();
    let invalid = |key: &str, line: usize, message: String| ConfigError::InvalidValue {
        path: path.clone(),
        line: Some(line),
        key: key.to_string(),
        message,
    };
    let mut providers = BTreeMap::new();
    let mut notes = Vec::new();
    if let Some(entry) = props.get("config.providers") {
        for name in entry
            .value
            .split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty())
        {
            let class_key = format!("config.providers.{name}.class");
            let class = props
                .get(&class_key)
                .ok_or_else(|| ConfigError::MissingKey {
                    path: path.clone(),
                    key: class_key.clone(),
                    line: Some(entry.line),
                    reason: format!("config provider '{name}' is listed in 'config.providers'"),
                })?;
            let kind = match class.value.trim() {
                FILE => Kind::File,
                DIR => Kind::Dir,
                ENV => Kind::Env,
                other => {
                    return Err(invalid(
                        &class_key,
                        class.line,
                        format!(
                            "'{other}' is not a provider kmirror has; it has Kafka's \
                             FileConfigProvider, DirectoryConfigProvider and EnvVarConfigProvider"
                        ),
                    ))
                }
            };
            let param = |p: &str| props.get(&format!("config.providers.{name}.param.{p}"));
            let allowed_paths = param("allowed.paths").map(|e| {
                e.value
                    .split(',')
                    .map(|p| PathBuf::from(p.trim()))
                    .filter(|p| !p.as_os_str().is_empty())
                    .collect()
            });
            let allowlist = match param("allowlist.pattern") {
                None => None,
                Some(e) => Some(Regex::new(&format!("^(?:{})$", e.value.trim())).map_err(
                    |err| {
                        invalid(
                            &format!("config.providers.{name}.param.allowlist.pattern"),
                            e.line,
                            format!("not a regular expression: {err}"),
                        )
                    },
                )?),
            };
            providers.insert(
                name.to_string(),
                Provider {
                    kind,
                    allowed_paths,
                    allowlist,
                },
            );
        }
    }

    let reference = Regex::new(r"\$\{([^}]*?):(?:([^}]*?):)?([^}]*?)\}").expect("valid pattern");
    let mut out = props.clone();
    let mut files: BTreeMap<PathBuf, Properties> = BTreeMap::new();
    for (key, entry) in props.iter() {
        if !entry.value.contains("${") || key.starts_with("config.providers") {
            continue;
        }
        let mut failure = None;
        let mut unknown = Vec::new();
        let resolved = reference.replace_all(&entry.value, |c: &regex::Captures<'_>| {
            let whole = c[0].to_string();
            let name = &c[1];
            let Some(provider) = providers.get(name) else {
                unknown.push(name.to_string());
                return whole;
            };
            let path = c.get(2).map(|m| m.as_str());
            let item = &c[3];
            match lookup(provider, path, item, &mut files) {
                Ok(v) => v,
                Err(why) => {
                    failure.get_or_insert(format!("{whole}: {why}"));
                    whole
                }
            }
        });
        if let Some(why) = failure {
            return Err(invalid(key, entry.line, format!("cannot resolve {why}")));
        }
        for name in unknown {
            notes.push((
                entry.line,
                format!(
                    "{}:{}: key '{key}' refers to config provider '{name}', which \
                     'config.providers' does not list; the value is used as written",
                    props.path().display(),
                    entry.line
                ),
            ));
        }
        out.set_value(key, resolved.into_owned());
    }
    Ok((out, notes))
}

fn lookup(
    provider: &Provider,
    path: Option<&str>,
    item: &str,
    files: &mut BTreeMap<PathBuf, Properties>,
) -> Result<String, String> {
    let allowed = |p: &Path| -> Result<(), String> {
        match &provider.allowed_paths {
            Some(list) if !list.iter().any(|a| p.starts_with(a)) => Err(format!(
                "{} is outside the provider's allowed.paths",
                p.display()
            )),
            _ => Ok(()),
        }
    };
    match provider.kind {
        Kind::Env => {
            if path.is_some_and(|p| !p.is_empty()) {
                return Err("the env provider takes no path: write ${NAME:VARIABLE}".into());
            }
            if let Some(re) = &provider.allowlist {
                if !re.is_match(item) {
                    return Err(format!(
                        "variable {item} is not in the provider's allowlist.pattern"
                    ));
                }
            }
            std::env::var(item).map_err(|_| format!("environment variable {item} is not set"))
        }
        Kind::File => {
            let p = PathBuf::from(
                path.ok_or("the file provider needs a path: ${NAME:/path/file.properties:key}")?,
            );
            allowed(&p)?;
            if !files.contains_key(&p) {
                let props = Properties::load(&p).map_err(|e| e.to_string())?;
                if let Some(w) = crate::security::readable_by_others(&p) {
                    tracing::warn!("{w}");
                }
                files.insert(p.clone(), props);
            }
            files[&p]
                .value(item)
                .map(|v| v.trim_end().to_string())
                .ok_or_else(|| format!("{} has no key '{item}'", p.display()))
        }
        Kind::Dir => {
            let dir =
                PathBuf::from(path.ok_or("the dir provider needs a directory: ${NAME:/dir:file}")?);
            if item.contains('/') || item == ".." {
                return Err(format!("'{item}' is not a file name in {}", dir.display()));
            }
            let p = dir.join(item);
            allowed(&p)?;
            let text = std::fs::read_to_string(&p)
                .map_err(|e| format!("cannot read {}: {e}", p.display()))?;
            if let Some(w) = crate::security::readable_by_others(&p) {
                tracing::warn!("{w}");
            }
            Ok(text)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve_text(text: &str) -> Result<Properties, ConfigError> {
        let props = Properties::parse(Path::new("mm2.properties"), text)?;
        resolve(&props).map(|(p, _)| p)
    }

    #[test]
    fn file_dir_and_env_providers() {
        let dir = tempfile::tempdir().unwrap();
        let secrets = dir.path().join("secrets.properties");
        std::fs::write(&secrets, "scram.password = s3cret\n").unwrap();
        std::fs::write(dir.path().join("token"), "tok-123").unwrap();
        std::env::set_var("KMIRROR_PROVIDER_TEST", "from-env");
        let p = resolve_text(&format!(
            "config.providers = file, dir, env\n\
             config.providers.file.class = {FILE}\n\
             config.providers.dir.class = {DIR}\n\
             config.providers.env.class = {ENV}\n\
             a = password=\"${{file:{}:scram.password}}\";\n\
             b = ${{dir:{}:token}}\n\
             c = ${{env:KMIRROR_PROVIDER_TEST}}\n\
             d = ${{vault:x:y}}\n",
            secrets.display(),
            dir.path().display()
        ))
        .unwrap();
        assert_eq!(p.value("a"), Some("password=\"s3cret\";"));
        assert_eq!(p.value("b"), Some("tok-123"));
        assert_eq!(p.value("c"), Some("from-env"));
        assert_eq!(p.value("d"), Some("${vault:x:y}"));
    }

    #[test]
    fn failures_name_the_reference_and_never_a_value() {
        let dir = tempfile::tempdir().unwrap();
        let secrets = dir.path().join("s.properties");
        std::fs::write(&secrets, "other = hunter2\n").unwrap();
        let err = resolve_text(&format!(
            "config.providers = file\n\
             config.providers.file.class = {FILE}\n\
             config.providers.file.param.allowed.paths = {}\n\
             x = ${{file:{}:missing}}\n",
            dir.path().display(),
            secrets.display()
        ))
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with("mm2.properties:4: key 'x': cannot resolve ${file:"),
            "{err}"
        );
        assert!(
            err.contains("has no key 'missing'") && !err.contains("hunter2"),
            "{err}"
        );

        let err = resolve_text(&format!(
            "config.providers = file\n\
             config.providers.file.class = {FILE}\n\
             config.providers.file.param.allowed.paths = /nowhere\n\
             x = ${{file:{}:other}}\n",
            secrets.display()
        ))
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("outside the provider's allowed.paths"),
            "{err}"
        );

        let err = resolve_text(
            "config.providers = vault\nconfig.providers.vault.class = com.acme.Vault\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with("mm2.properties:2: key 'config.providers.vault.class'"),
            "{err}"
        );
    }
}
