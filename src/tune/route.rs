//! Which network interface carries kmirror's traffic to a cluster, and the
//! NUMA node that interface's device sits on: fetch buffers are best
//! filled by CPUs on the NIC's node. The route comes from `ip route get`,
//! or `/proc/net/route` (IPv4) where `ip` is missing; the node from
//! `/sys/class/net/IF/device/numa_node`. Read-only.

use std::net::{IpAddr, Ipv4Addr, ToSocketAddrs};
use std::process::Command;

/// A NIC's NUMA placement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Numa {
    /// On node `node`, whose CPUs are `cpus` (sysfs list form).
    Node { node: u32, cpus: Option<String> },
    /// A device that reports no node: a single-node host, or a VM's
    /// virtual NIC.
    NoNode,
    /// No device behind the interface (lo, bridges, veth, tunnels).
    Virtual,
}

/// The way to one broker of a cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Way {
    pub cluster: String,
    /// The bootstrap server, `host:port`.
    pub server: String,
    /// Where it resolved to, or why it did not.
    pub address: Result<IpAddr, String>,
    /// The interface routing to it, or why it is unknown.
    pub interface: Result<String, String>,
    pub numa: Option<Numa>,
}

/// Resolves `server` and finds its route and the NUMA node of the
/// interface on it.
pub fn way_to(cluster: &str, server: &str) -> Way {
    let address = server
        .to_socket_addrs()
        .map_err(|e| format!("does not resolve: {e}"))
        .and_then(|mut addrs| {
            addrs
                .next()
                .map(|a| a.ip())
                .ok_or_else(|| "resolves to no address".to_string())
        });
    let interface = match &address {
        Ok(ip) => route_interface(*ip),
        Err(_) => Err("no address to route to".to_string()),
    };
    let numa = interface.as_ref().ok().map(|name| numa_of(name));
    Way {
        cluster: cluster.to_string(),
        server: server.to_string(),
        address,
        interface,
        numa,
    }
}

/// The interface the kernel routes `addr` through.
pub fn route_interface(addr: IpAddr) -> Result<String, String> {
    match Command::new("ip")
        .args(["-o", "route", "get", &addr.to_string()])
        .output()
    {
        Ok(out) if out.status.success() => {
            parse_ip_route_get(&String::from_utf8_lossy(&out.stdout))
                .ok_or_else(|| "ip route get named no device".to_string())
        }
        Ok(out) => Err(format!(
            "ip route get {addr}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )),
        // /proc/net/route holds the main table only, not the local one.
        Err(_) if addr.is_loopback() => Ok("lo".to_string()),
        Err(_) => match addr {
            IpAddr::V4(v4) => std::fs::read_to_string("/proc/net/route")
                .ok()
                .and_then(|text| parse_proc_net_route(&text, v4))
                .ok_or_else(|| format!("no route to {addr} in /proc/net/route")),
            IpAddr::V6(_) => Err("no `ip` command to look up an IPv6 route".to_string()),
        },
    }
}

/// The device named in `ip -o route get` output (`... dev eth0 src ...`).
pub fn parse_ip_route_get(output: &str) -> Option<String> {
    let mut words = output.split_whitespace();
    words.by_ref().find(|w| *w == "dev")?;
    words.next().map(str::to_string)
}

/// The interface of the longest-prefix route to `addr` in
/// `/proc/net/route` (addresses and masks as the kernel prints them: the
/// network-order bytes as one native-endian hex number).
pub fn parse_proc_net_route(text: &str, addr: Ipv4Addr) -> Option<String> {
    const RTF_UP: u32 = 0x1;
    let target = u32::from_be_bytes(addr.octets());
    let hex = |s: &str| u32::from_str_radix(s, 16).ok();
    let net = |s: &str| hex(s).map(|n| u32::from_be_bytes(n.to_ne_bytes()));
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 8 {
                return None;
            }
            let (dest, flags, mask) = (net(f[1])?, hex(f[3])?, net(f[7])?);
            (flags & RTF_UP != 0 && target & mask == dest & mask)
                .then(|| (mask.count_ones(), f[0].to_string()))
        })
        .max_by_key(|(prefix, _)| *prefix)
        .map(|(_, iface)| iface)
}

/// Where interface `name`'s device sits.
pub fn numa_of(name: &str) -> Numa {
    let device = format!("/sys/class/net/{name}/device");
    if std::fs::symlink_metadata(&device).is_err() {
        return Numa::Virtual;
    }
    match std::fs::read_to_string(format!("{device}/numa_node"))
        .ok()
        .and_then(|s| s.trim().parse::<i64>().ok())
    {
        Some(node) if node >= 0 => {
            let node = node as u32;
            let cpus =
                std::fs::read_to_string(format!("/sys/devices/system/node/node{node}/cpulist"))
                    .ok()
                    .map(|s| s.trim().to_string());
            Numa::Node { node, cpus }
        }
        _ => Numa::NoNode,
    }
}

impl Way {
    /// One line: `cluster A: kafka-a1:9092 -> 10.0.0.5 via eth0, NUMA node 0 (CPUs 0-15)`.
    pub fn describe(&self) -> String {
        let mut line = format!("cluster {}: {}", self.cluster, self.server);
        match &self.address {
            Ok(ip) => line.push_str(&format!(" -> {ip}")),
            Err(why) => return format!("{line} {why}"),
        }
        match &self.interface {
            Ok(iface) => line.push_str(&format!(" via {iface}")),
            Err(why) => return format!("{line}: route unknown ({why})"),
        }
        match &self.numa {
            Some(Numa::Node { node, cpus }) => {
                line.push_str(&format!(", NUMA node {node}"));
                if let Some(cpus) = cpus {
                    line.push_str(&format!(" (CPUs {cpus})"));
                }
            }
            Some(Numa::NoNode) => {
                line.push_str(": NUMA not applicable (the device reports no NUMA node: a single-node host or a virtual NIC)")
            }
            Some(Numa::Virtual) | None => {
                line.push_str(": NUMA not applicable (virtual interface)")
            }
        }
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_from_ip_route_get() {
        assert_eq!(
            parse_ip_route_get("8.8.8.8 via 192.0.2.1 dev eth0 src 192.0.2.2 uid 0 \\    cache \n"),
            Some("eth0".to_string())
        );
        assert_eq!(
            parse_ip_route_get("local 127.0.0.1 dev lo src 127.0.0.1 uid 0 \\    cache <local>"),
            Some("lo".to_string())
        );
        assert_eq!(parse_ip_route_get("unreachable"), None);
    }

    #[test]
    fn longest_prefix_from_proc_net_route() {
        // As a little-endian host prints it: default via 192.0.2.1 on eth0,
        // 192.0.2.0/24 on eth0, 10.1.0.0/16 on eth1.
        let text =
            "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
                    eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n\
                    eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n\
                    eth1\t0000010A\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n";
        if cfg!(target_endian = "little") {
            let route = |a: [u8; 4]| parse_proc_net_route(text, Ipv4Addr::from(a));
            assert_eq!(route([10, 1, 2, 3]).as_deref(), Some("eth1"));
            assert_eq!(route([192, 0, 2, 9]).as_deref(), Some("eth0"));
            assert_eq!(route([8, 8, 8, 8]).as_deref(), Some("eth0"));
        }
    }

    #[test]
    fn loopback_is_virtual() {
        assert_eq!(numa_of("lo"), Numa::Virtual);
        let way = way_to("A", "127.0.0.1:9092");
        assert_eq!(way.address, Ok(IpAddr::from([127, 0, 0, 1])));
        assert_eq!(way.interface.as_deref(), Ok("lo"));
        assert_eq!(
            way.describe(),
            "cluster A: 127.0.0.1:9092 -> 127.0.0.1 via lo: NUMA not applicable (virtual interface)"
        );
    }
}
