//! Several instances, one flow: the `kmirror.fleet.*` keys. Instances
//! started with the same file join one group per flow on the target
//! cluster and share the flow's partitions (see `crate::fleet`).

use std::time::Duration;

use crate::config::{ConfigError, Setting};

pub const ENABLED: &str = "kmirror.fleet.enabled";
pub const GROUP: &str = "kmirror.fleet.group";
pub const INSTANCE_ID: &str = "kmirror.fleet.instance.id";
pub const SESSION_TIMEOUT_MS: &str = "kmirror.fleet.session.timeout.ms";
pub const HEARTBEAT_INTERVAL_MS: &str = "kmirror.fleet.heartbeat.interval.ms";
pub const REBALANCE_TIMEOUT_MS: &str = "kmirror.fleet.rebalance.timeout.ms";

/// Every fleet key, for the list of flow settings kmirror knows.
pub const KEYS: &[&str] = &[
    ENABLED,
    GROUP,
    INSTANCE_ID,
    SESSION_TIMEOUT_MS,
    HEARTBEAT_INTERVAL_MS,
    REBALANCE_TIMEOUT_MS,
];

/// Kafka Connect's defaults for its workers' group (MirrorMaker 2's
/// instances find each other through it).
pub const DEFAULT_SESSION_TIMEOUT: Duration = Duration::from_secs(10);
pub const DEFAULT_HEARTBEAT_INTERVAL: Duration = Duration::from_secs(3);
/// Below the default request timeout (30 s, plus kmirror's 5 s), so a
/// JoinGroup the coordinator holds for the whole rebalance is answered
/// before the request times out.
pub const DEFAULT_REBALANCE_TIMEOUT: Duration = Duration::from_secs(30);

/// A flow's membership settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetConfig {
    /// The group the flow's instances join on the target cluster.
    pub group: String,
    /// Static membership (KIP-345): a restart under the same id takes the
    /// member's place back without a rebalance.
    pub instance_id: Option<String>,
    pub session_timeout: Duration,
    pub heartbeat_interval: Duration,
    pub rebalance_timeout: Duration,
    /// `tasks.max`: at most this many instances receive partitions; the
    /// others stand by.
    pub tasks_max: u32,
}

/// The default group of a flow: `kmirror.fleet.<source>.<target>.<hash>`,
/// the hash over `identity` (what the flow mirrors: the source cluster's
/// bootstrap servers, the topic selection, the naming policy). Instances
/// started with the same file meet in it; kmirrors mirroring other topics
/// between clusters with the same aliases do not, so they never split one
/// another's partitions.
pub fn default_group(source: &str, target: &str, identity: &str) -> String {
    // FNV-1a: stable across builds and platforms.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in identity.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!(
        "kmirror.fleet.{source}.{target}.{:08x}",
        (h >> 32) as u32 ^ h as u32
    )
}

/// The flow's fleet settings from `flow` (a key looked up for the flow,
/// then at top level); `None` when `kmirror.fleet.enabled = false`.
/// `identity` names what the flow mirrors (see [`default_group`]).
pub fn parse<'a>(
    flow: impl Fn(&str) -> Option<Setting<'a>>,
    source: &str,
    target: &str,
    identity: &str,
    tasks_max: u32,
) -> Result<Option<FleetConfig>, ConfigError> {
    if let Some(s) = flow(ENABLED) {
        match s.value.to_ascii_lowercase().as_str() {
            "true" => {}
            "false" => return Ok(None),
            _ => return Err(s.invalid(format!("'{}' is neither true nor false", s.value))),
        }
    }
    let name = |key: &str| -> Result<Option<String>, ConfigError> {
        match flow(key) {
            Some(s) if s.value.is_empty() => Err(s.invalid("must not be empty")),
            Some(s) => Ok(Some(s.value.to_string())),
            None => Ok(None),
        }
    };
    let ms =
        |key: &str, default: Duration| -> Result<(Duration, Option<Setting<'a>>), ConfigError> {
            match flow(key) {
                Some(s) => match s.value.parse::<u32>() {
                    Ok(n) if n >= 1 && n <= i32::MAX as u32 => {
                        Ok((Duration::from_millis(u64::from(n)), Some(s)))
                    }
                    _ => Err(s.invalid(format!(
                        "'{}' is not a positive number of milliseconds",
                        s.value
                    ))),
                },
                None => Ok((default, None)),
            }
        };
    let (session_timeout, _) = ms(SESSION_TIMEOUT_MS, DEFAULT_SESSION_TIMEOUT)?;
    let (heartbeat_interval, hb) = ms(HEARTBEAT_INTERVAL_MS, DEFAULT_HEARTBEAT_INTERVAL)?;
    let (rebalance_timeout, _) = ms(REBALANCE_TIMEOUT_MS, DEFAULT_REBALANCE_TIMEOUT)?;
    if heartbeat_interval >= session_timeout {
        let message = format!(
            "must be less than {SESSION_TIMEOUT_MS} ({} ms): a member that beats less often than its session lasts is expelled",
            session_timeout.as_millis()
        );
        return Err(match (hb, flow(SESSION_TIMEOUT_MS)) {
            (Some(s), _) | (None, Some(s)) => s.invalid(message),
            (None, None) => unreachable!("the defaults are in order"),
        });
    }
    Ok(Some(FleetConfig {
        group: name(GROUP)?.unwrap_or_else(|| default_group(source, target, identity)),
        instance_id: name(INSTANCE_ID)?,
        session_timeout,
        heartbeat_interval,
        rebalance_timeout,
        tasks_max,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::path::Path;

    fn parse_from(
        pairs: &[(&'static str, &'static str)],
    ) -> Result<Option<FleetConfig>, ConfigError> {
        let map: HashMap<&str, &str> = pairs.iter().copied().collect();
        let path = Path::new("mm2.properties");
        parse(
            |key| {
                map.get_key_value(key).map(|(k, v)| Setting {
                    path,
                    key: k,
                    value: v,
                    line: Some(7),
                })
            },
            "A",
            "B",
            "a:9092|orders",
            3,
        )
    }

    #[test]
    fn on_by_default_with_connects_timeouts() {
        let f = parse_from(&[]).unwrap().unwrap();
        assert_eq!(f.group, default_group("A", "B", "a:9092|orders"));
        assert!(f.group.starts_with("kmirror.fleet.A.B."), "{}", f.group);
        assert_ne!(f.group, default_group("A", "B", "a:9092|clicks"));
        // Stable: a fleet's instances built at other times meet.
        assert_eq!(default_group("A", "B", ""), "kmirror.fleet.A.B.4fd0bfc1");
        assert_eq!(f.instance_id, None);
        assert_eq!(f.session_timeout, Duration::from_secs(10));
        assert_eq!(f.heartbeat_interval, Duration::from_secs(3));
        assert_eq!(f.tasks_max, 3);
        assert_eq!(parse_from(&[(ENABLED, "false")]).unwrap(), None);
        let f = parse_from(&[(GROUP, "g"), (INSTANCE_ID, "host-1")])
            .unwrap()
            .unwrap();
        assert_eq!(
            (f.group.as_str(), f.instance_id.as_deref()),
            ("g", Some("host-1"))
        );
    }

    #[test]
    fn bad_values_name_the_key() {
        for (pairs, key) in [
            (vec![(ENABLED, "yes")], ENABLED),
            (vec![(INSTANCE_ID, "")], INSTANCE_ID),
            (vec![(SESSION_TIMEOUT_MS, "0")], SESSION_TIMEOUT_MS),
            (
                vec![(HEARTBEAT_INTERVAL_MS, "10000")],
                HEARTBEAT_INTERVAL_MS,
            ),
            (vec![(SESSION_TIMEOUT_MS, "2000")], SESSION_TIMEOUT_MS),
        ] {
            let e = parse_from(&pairs).unwrap_err().to_string();
            assert!(e.contains(key) && e.contains("mm2.properties"), "{e}");
        }
    }
}
