//! Tuning profiles: named sets of kmirror's knobs (socket buffers, fetch
//! and produce sizes, congestion control, streams, workers, memory) and
//! the host settings they need (`host.*`, read by `kmirror tune check`),
//! applied beneath an mm2.properties file with `--profile NAME`: every key
//! the file sets wins over the profile's.
//!
//! The four profiles of `tuning/profiles/` are built into the binary, so an
//! installed kmirror needs no checkout; a path to a file of the same form
//! works too. A profile holds tuning only: it must never name clusters,
//! flows, topics or security settings, which belong to the file, and its
//! entries keep their own file and line so that errors point into it.

use std::path::{Path, PathBuf};

use crate::config::host::{self, HostSetting};
use crate::config::keys;
use crate::config::run_flags::RunFlags;
use crate::config::{ConfigError, MirrorConfig, Properties, Setting};

/// A profile built into kmirror.
#[derive(Clone, Copy, Debug)]
pub struct Builtin {
    pub name: &'static str,
    /// When to use it, in one line (for `--help` texts and listings).
    pub about: &'static str,
    text: &'static str,
}

/// The profiles of `tuning/profiles/`, as built in.
pub const BUILTIN: &[Builtin] = &[
    Builtin {
        name: "lan-low-latency",
        about: "source and target in one data center; a record's delay matters most",
        text: include_str!("../../tuning/profiles/lan-low-latency.properties"),
    },
    Builtin {
        name: "wan-high-bdp",
        about: "near the target, fetching across a WAN (tens of ms, Gbit/s)",
        text: include_str!("../../tuning/profiles/wan-high-bdp.properties"),
    },
    Builtin {
        name: "max-throughput",
        about: "moving a backlog as fast as possible on a host given to kmirror",
        text: include_str!("../../tuning/profiles/max-throughput.properties"),
    },
    Builtin {
        name: "small-host",
        about: "a small VM shared with other work: one worker, bounded memory",
        text: include_str!("../../tuning/profiles/small-host.properties"),
    },
];

/// The profile `kmirror tune check` compares the host with when none is
/// named: kmirror's usual place is near the target, fetching across a WAN.
pub const DEFAULT_FOR_HOST_CHECK: &str = "wan-high-bdp";

/// A loaded, checked profile.
#[derive(Clone, Debug)]
pub struct Profile {
    name: String,
    props: Properties,
}

impl Profile {
    /// The built-in profile `arg`, or the profile file at `arg` when it
    /// contains `/` or ends in `.properties`. Every key is checked as it
    /// would be in an mm2.properties file; errors name the profile's file,
    /// line and key.
    pub fn load(arg: &str) -> Result<Profile, ConfigError> {
        let props = if arg.contains('/') || arg.ends_with(".properties") {
            Properties::load(Path::new(arg))?
        } else {
            let builtin = BUILTIN.iter().find(|b| b.name == arg).ok_or_else(|| {
                ConfigError::UnknownProfile {
                    name: arg.to_string(),
                    known: BUILTIN.iter().map(|b| b.name.to_string()).collect(),
                }
            })?;
            Properties::parse(&builtin_path(builtin.name), builtin.text)?
        };
        let profile = Profile {
            name: arg.to_string(),
            props,
        };
        profile.check()?;
        Ok(profile)
    }

    /// The name it was loaded by: a built-in name or the path given.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn properties(&self) -> &Properties {
        &self.props
    }

    /// Its `host.*` settings.
    pub fn host_settings(&self) -> Result<Vec<HostSetting>, ConfigError> {
        host::host_settings(&self.props)
    }

    /// Only tuning keys, no config-provider references, and values that
    /// parse: checked by the same code that reads an mm2.properties file,
    /// with the profile beneath a file of two clusters that sets nothing
    /// else.
    fn check(&self) -> Result<(), ConfigError> {
        for (key, entry) in self.props.iter() {
            let setting = Setting {
                path: self.props.path(),
                key,
                value: entry.value.trim(),
                line: Some(entry.line),
            };
            if !is_tuning_key(key) {
                return Err(setting.invalid(format!(
                    "is not a tuning setting: a profile holds socket, fetch and produce settings \
                     (e.g. consumer.fetch.max.bytes), kmirror's process settings ({}) and host.* \
                     settings; set '{key}' in the mm2.properties file instead",
                    PROCESS_TUNING.join(", ")
                )));
            }
            if entry.value.contains("${") {
                return Err(setting.invalid(
                    "holds a config-provider reference; a profile holds plain values only",
                ));
            }
        }
        let probe = Properties::parse(
            Path::new("(profile check)"),
            "clusters = a, b\n\
             a.bootstrap.servers = localhost:9092\n\
             b.bootstrap.servers = localhost:9093\n\
             a->b.enabled = true\n",
        )?;
        let layered = Layered::new(probe, Some(self.clone()));
        layered.mirror_config(None)?;
        layered.run_flags()?;
        layered.host_settings()?;
        Ok(())
    }
}

/// An mm2.properties file with the profile it runs under beneath it.
#[derive(Clone, Debug)]
pub struct Layered {
    profile: Option<Profile>,
    props: Properties,
}

impl Layered {
    /// Reads the file at `path` and lays the profile `profile` (a name or
    /// a path, see [`Profile::load`]) beneath it.
    pub fn load(path: &Path, profile: Option<&str>) -> Result<Layered, ConfigError> {
        let profile = profile.map(Profile::load).transpose()?;
        Ok(Layered::new(Properties::load(path)?, profile))
    }

    /// `user` with `profile`'s entries beneath it: a profile entry is kept
    /// only where `user` sets neither its key nor another spelling of the
    /// same setting (`receive.buffer.bytes` for `socket.receive.buffer.bytes`,
    /// `kmirror.workers` for `kmirror.cpus`).
    pub fn new(user: Properties, profile: Option<Profile>) -> Layered {
        let mut props = user;
        if let Some(profile) = &profile {
            let user_keys = props.clone();
            props.layer_beneath(&profile.props, |key| !set_by(&user_keys, key));
        }
        Layered { profile, props }
    }

    /// The file's and the profile's entries together.
    pub fn properties(&self) -> &Properties {
        &self.props
    }

    pub fn profile(&self) -> Option<&Profile> {
        self.profile.as_ref()
    }

    /// The profile's name, or `none`.
    pub fn profile_name(&self) -> &str {
        self.profile.as_ref().map_or("none", Profile::name)
    }

    /// The MirrorMaker 2 model of the layered entries (see
    /// [`MirrorConfig::from_properties`]).
    pub fn mirror_config(
        &self,
        only_targets: Option<&[String]>,
    ) -> Result<MirrorConfig, ConfigError> {
        MirrorConfig::from_properties(&self.props, only_targets)
    }

    /// `kmirror.cpus`, `kmirror.workers`, `kmirror.streams`, `kmirror.io`.
    pub fn run_flags(&self) -> Result<RunFlags, ConfigError> {
        RunFlags::from_properties(&self.props)
    }

    /// The `host.*` settings, the file's over the profile's.
    pub fn host_settings(&self) -> Result<Vec<HostSetting>, ConfigError> {
        host::host_settings(&self.props)
    }

    /// The first of `keys` that is set, with the file and line it came from.
    pub fn setting<'a>(&'a self, keys: &'a [String]) -> Option<Setting<'a>> {
        keys.iter().find_map(|key| {
            self.props.get(key).map(|entry| Setting {
                path: self.props.file_of(entry),
                key,
                value: entry.value.trim(),
                line: Some(entry.line),
            })
        })
    }
}

/// The name a built-in profile's entries are reported under.
pub fn builtin_path(name: &str) -> PathBuf {
    PathBuf::from(format!("tuning/profiles/{name}.properties (built in)"))
}

/// Spellings of one setting: the user's file setting any of them overrides
/// a profile's entry for any other.
const SAME_SETTING: &[&[&str]] = &[
    &["receive.buffer.bytes", "socket.receive.buffer.bytes"],
    &["send.buffer.bytes", "socket.send.buffer.bytes"],
    &[keys::CPUS, keys::WORKERS],
];

/// Client settings a profile may hold, at top level or under a role.
const CLIENT_TUNING: &[&str] = &[
    "receive.buffer.bytes",
    "send.buffer.bytes",
    "socket.receive.buffer.bytes",
    "socket.send.buffer.bytes",
    "socket.connection.setup.timeout.ms",
    "request.timeout.ms",
    "retry.backoff.ms",
    "kmirror.tcp.congestion.control",
    "kmirror.tcp.notsent.lowat.bytes",
    "kmirror.tcp.user.timeout.ms",
    "kmirror.decompression.max.bytes",
];
/// Consumer settings a profile may hold, as `consumer.<name>`.
const CONSUMER_TUNING: &[&str] = &[
    "fetch.max.bytes",
    "max.partition.fetch.bytes",
    "fetch.min.bytes",
    "fetch.max.wait.ms",
];
/// Producer settings a profile may hold, as `producer.<name>`.
const PRODUCER_TUNING: &[&str] = &[
    "max.in.flight.requests.per.connection",
    "max.request.size",
    "delivery.timeout.ms",
];
/// kmirror's process settings a profile may hold.
const PROCESS_TUNING: &[&str] = &[
    keys::MEMORY_MAX_BYTES,
    keys::CPUS,
    keys::WORKERS,
    keys::STREAMS,
    keys::IO,
];

fn is_tuning_key(key: &str) -> bool {
    keys::is_host_setting(key)
        || PROCESS_TUNING.contains(&key)
        || CLIENT_TUNING.contains(&key)
        || key
            .strip_prefix("consumer.")
            .is_some_and(|k| CONSUMER_TUNING.contains(&k) || CLIENT_TUNING.contains(&k))
        || key
            .strip_prefix("producer.")
            .is_some_and(|k| PRODUCER_TUNING.contains(&k) || CLIENT_TUNING.contains(&k))
}

/// Whether `user` sets `key` or another spelling of it, at the same scope.
fn set_by(user: &Properties, key: &str) -> bool {
    let (prefix, name) = ["consumer.", "producer.", "admin."]
        .into_iter()
        .find_map(|p| key.strip_prefix(p).map(|rest| (p, rest)))
        .unwrap_or(("", key));
    user.get(key).is_some()
        || SAME_SETTING
            .iter()
            .filter(|group| group.contains(&name))
            .flat_map(|group| group.iter())
            .any(|other| user.get(&format!("{prefix}{other}")).is_some())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::keys::ClientRole;

    const USER: &str = "clusters = A, B\n\
                        A.bootstrap.servers = 127.0.0.1:1\n\
                        B.bootstrap.servers = 127.0.0.1:2\n\
                        A->B.enabled = true\n";

    fn user(extra: &str) -> Properties {
        Properties::parse(Path::new("mm2.properties"), &format!("{USER}{extra}")).expect("parses")
    }

    fn layered(extra: &str, profile: &str) -> Layered {
        Layered::new(
            user(extra),
            Some(Profile::load(profile).expect("profile loads")),
        )
    }

    #[test]
    fn every_builtin_profile_loads_and_has_host_settings() {
        for builtin in BUILTIN {
            let profile = Profile::load(builtin.name)
                .unwrap_or_else(|e| panic!("profile {} does not load: {e}", builtin.name));
            assert_eq!(profile.name(), builtin.name);
            let host = profile.host_settings().expect("host settings parse");
            assert!(!host.is_empty(), "{} states no host settings", builtin.name);
        }
        assert!(BUILTIN.iter().any(|b| b.name == DEFAULT_FOR_HOST_CHECK));
    }

    #[test]
    fn the_sysctl_file_holds_the_wan_profiles_host_sysctls() {
        let file = Properties::parse(
            Path::new("90-kmirror.conf"),
            include_str!("../../tuning/90-kmirror.conf"),
        )
        .expect("parses");
        let from_file: Vec<(String, String)> = file
            .iter()
            .map(|(k, e)| (k.to_string(), e.value.trim().to_string()))
            .collect();
        let profile = Profile::load("wan-high-bdp").expect("loads");
        let from_profile: Vec<(String, String)> = profile
            .properties()
            .with_prefix(keys::HOST_PREFIX)
            .filter(|(k, _)| !k.starts_with("limits."))
            .map(|(k, e)| (k.to_string(), e.value.trim().to_string()))
            .collect();
        assert_eq!(from_file, from_profile);
    }

    #[test]
    fn tuning_keys_are_keys_kmirror_honours() {
        for name in CLIENT_TUNING {
            assert!(
                keys::honoured_client_key(ClientRole::Common, name).is_some(),
                "{name}"
            );
        }
        for name in CONSUMER_TUNING {
            assert!(
                keys::honoured_client_key(ClientRole::Consumer, name).is_some(),
                "{name}"
            );
        }
        for name in PRODUCER_TUNING {
            assert!(
                keys::honoured_client_key(ClientRole::Producer, name).is_some(),
                "{name}"
            );
        }
        for name in PROCESS_TUNING {
            assert!(keys::is_process_setting(name), "{name}");
        }
    }

    #[test]
    fn the_profile_changes_what_the_file_leaves_unset() {
        let config = layered("", "wan-high-bdp")
            .mirror_config(None)
            .expect("valid");
        let flow = &config.flows[0];
        assert_eq!(
            flow.source_consumer
                .get("fetch.max.bytes")
                .map(String::as_str),
            Some("52428800")
        );
        assert_eq!(
            flow.source_consumer
                .get("socket.receive.buffer.bytes")
                .map(String::as_str),
            Some("33554432")
        );
        assert_eq!(config.process.memory_max_bytes, 1 << 30);
        assert!(config.warnings.is_empty(), "{:?}", config.warnings);
        let flags = layered("", "wan-high-bdp").run_flags().expect("valid");
        assert_eq!(flags.streams, Some(4));
    }

    #[test]
    fn the_files_keys_win_over_the_profiles() {
        let l = layered(
            "consumer.fetch.max.bytes = 1234567\n\
             kmirror.streams = 2\n\
             receive.buffer.bytes = 1000000\n\
             kmirror.cpus = 0\n",
            "wan-high-bdp",
        );
        let config = l.mirror_config(None).expect("valid");
        let consumer = &config.flows[0].source_consumer;
        assert_eq!(
            consumer.get("fetch.max.bytes").map(String::as_str),
            Some("1234567")
        );
        // The other spelling of the receive buffer the profile set is gone.
        assert_eq!(consumer.get("socket.receive.buffer.bytes"), None);
        assert_eq!(
            consumer.get("receive.buffer.bytes").map(String::as_str),
            Some("1000000")
        );
        // Still the profile's where the file is silent.
        assert_eq!(
            consumer
                .get("max.partition.fetch.bytes")
                .map(String::as_str),
            Some("8388608")
        );
        let flags = l.run_flags().expect("valid");
        assert_eq!(flags.streams, Some(2));
        assert_eq!(flags.cpus, Some(vec![0]));

        // kmirror.cpus in the file overrides the profile's kmirror.workers.
        let flags = layered("kmirror.cpus = 1\n", "small-host")
            .run_flags()
            .expect("valid");
        assert_eq!((flags.cpus, flags.workers), (Some(vec![1]), None));
    }

    #[test]
    fn a_per_cluster_key_in_the_file_wins_for_its_cluster() {
        let config = layered("A.receive.buffer.bytes = 4096\n", "wan-high-bdp")
            .mirror_config(None)
            .expect("valid");
        let source = &config.flows[0].source_consumer;
        // A's own key, beside the profile's top-level socket. spelling;
        // kmirror reads the plain spelling first.
        assert_eq!(
            source.get("receive.buffer.bytes").map(String::as_str),
            Some("4096")
        );
    }

    #[test]
    fn errors_in_a_profile_name_its_file_line_and_key() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("mine.properties");
        std::fs::write(
            &path,
            "# mine\nkmirror.streams = 2\nconsumer.fetch.max.bytes = lots\n",
        )
        .expect("write");
        let err = Profile::load(path.to_str().expect("utf-8")).unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with(&format!(
                "{}:3: key 'consumer.fetch.max.bytes'",
                path.display()
            )),
            "{text}"
        );

        std::fs::write(&path, "kmirror.streams = 0\n").expect("write");
        let text = Profile::load(path.to_str().expect("utf-8"))
            .unwrap_err()
            .to_string();
        assert!(
            text.starts_with(&format!("{}:1: key 'kmirror.streams'", path.display())),
            "{text}"
        );

        std::fs::write(&path, "\nclusters = X\n").expect("write");
        let text = Profile::load(path.to_str().expect("utf-8"))
            .unwrap_err()
            .to_string();
        assert!(
            text.contains(":2: key 'clusters': is not a tuning setting"),
            "{text}"
        );

        std::fs::write(&path, "host.net.core.rmem_max = big\n").expect("write");
        let text = Profile::load(path.to_str().expect("utf-8"))
            .unwrap_err()
            .to_string();
        assert!(text.contains(":1: key 'host.net.core.rmem_max'"), "{text}");

        let err = Profile::load("no-such-profile").unwrap_err();
        assert!(matches!(err, ConfigError::UnknownProfile { .. }), "{err}");
        assert!(err.to_string().contains("wan-high-bdp"), "{err}");
    }

    #[test]
    fn where_a_layered_value_came_from() {
        let l = layered("consumer.fetch.max.bytes = 1\n", "lan-low-latency");
        let keys = |k: &str| vec![k.to_string()];
        let mine = keys("consumer.fetch.max.bytes");
        let from_file = l.setting(&mine).expect("set");
        assert_eq!(
            (from_file.path, from_file.line),
            (Path::new("mm2.properties"), Some(5))
        );
        let theirs = keys("kmirror.streams");
        let from_profile = l.setting(&theirs).expect("set");
        assert_eq!(from_profile.path, builtin_path("lan-low-latency"));
        assert_eq!(l.profile_name(), "lan-low-latency");
        assert_eq!(Layered::new(user(""), None).profile_name(), "none");
    }

    #[test]
    fn host_settings_of_the_file_win_too() {
        let l = layered("host.vm.swappiness = 30\n", "wan-high-bdp");
        let host = l.host_settings().expect("valid");
        let swappiness = host
            .iter()
            .find(|s| s.what.name() == "vm.swappiness")
            .expect("set");
        assert_eq!(swappiness.want, host::Want::AtMost(30));
        assert_eq!(swappiness.path, Path::new("mm2.properties"));
    }
}
