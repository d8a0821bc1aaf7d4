//! What the host looks like at export time: identity, network configuration and listening
//! services, read from `/proc` and the kernel, not from other programs' output.

use logkeep_format::Timestamp;
use logkeep_format::bundle::HostInfo;
use serde::Serialize;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

fn read_trim(path: &str) -> String {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

/// Host identity and basics.
pub fn host_info() -> HostInfo {
    let h = logkeep_store::clock::host();
    let os = std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("PRETTY_NAME=")
                    .map(|v| v.trim_matches('"').to_owned())
            })
        })
        .unwrap_or_default();
    let uname = rustix::system::uname();
    let timezone = match read_trim("/etc/timezone") {
        t if !t.is_empty() => t,
        _ => std::fs::read_link("/etc/localtime")
            .map(|p| {
                p.to_string_lossy()
                    .trim_start_matches("/usr/share/zoneinfo/")
                    .to_owned()
            })
            .unwrap_or_else(|_| "UTC (no /etc/localtime)".into()),
    };
    HostInfo {
        hostname: h.hostname,
        machine_id: h.machine_id,
        boot_id: h.boot_id,
        os,
        kernel: format!(
            "{} {} {}",
            uname.sysname().to_string_lossy(),
            uname.release().to_string_lossy(),
            uname.version().to_string_lossy()
        ),
        timezone,
    }
}

/// An address of an interface.
#[derive(Debug, Serialize)]
pub struct Address {
    /// Interface name.
    pub interface: String,
    /// Address.
    pub ip: IpAddr,
    /// Prefix length.
    pub prefix: u8,
}

/// An IPv4 route from `/proc/net/route`.
#[derive(Debug, Serialize)]
pub struct Route {
    /// Interface.
    pub interface: String,
    /// Destination network.
    pub destination: Ipv4Addr,
    /// Gateway (0.0.0.0 for directly connected).
    pub gateway: Ipv4Addr,
    /// Netmask.
    pub mask: Ipv4Addr,
}

/// A listening socket from `/proc/net/{tcp,tcp6,udp,udp6}`.
#[derive(Debug, Serialize)]
pub struct Listener {
    /// `tcp`, `tcp6`, `udp`, `udp6`.
    pub proto: String,
    /// Local address.
    pub address: IpAddr,
    /// Local port.
    pub port: u16,
    /// Owning uid.
    pub uid: u32,
}

/// The host's network picture.
#[derive(Debug, Serialize)]
pub struct Network {
    /// When it was read, RFC 3339 UTC.
    pub taken: String,
    /// Seconds since boot.
    pub uptime_seconds: f64,
    /// Interface addresses.
    pub addresses: Vec<Address>,
    /// IPv4 routing table.
    pub routes: Vec<Route>,
    /// Listening sockets.
    pub listening: Vec<Listener>,
}

fn hex_v4(s: &str) -> Option<Ipv4Addr> {
    // /proc/net shows IPv4 addresses as the host-order hex of the network-order integer.
    u32::from_str_radix(s, 16)
        .ok()
        .map(|n| Ipv4Addr::from(n.to_le_bytes()))
}

fn hex_v6(s: &str) -> Option<Ipv6Addr> {
    if s.len() != 32 {
        return None;
    }
    let mut b = [0u8; 16];
    for w in 0..4 {
        let word = u32::from_str_radix(&s[w * 8..w * 8 + 8], 16).ok()?;
        b[w * 4..w * 4 + 4].copy_from_slice(&word.to_le_bytes());
    }
    Some(Ipv6Addr::from(b))
}

fn listeners(proto: &str) -> Vec<Listener> {
    let Ok(text) = std::fs::read_to_string(format!("/proc/net/{proto}")) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 8 {
            continue;
        }
        let tcp = proto.starts_with("tcp");
        // TCP: state 0A is LISTEN. UDP: state 07 (closed) with no remote peer is a bound socket.
        if (tcp && f[3] != "0A") || (!tcp && f[3] != "07") {
            continue;
        }
        let Some((addr, port)) = f[1].split_once(':') else {
            continue;
        };
        let ip = if addr.len() == 8 {
            hex_v4(addr).map(IpAddr::V4)
        } else {
            hex_v6(addr).map(IpAddr::V6)
        };
        let (Some(ip), Ok(port)) = (ip, u16::from_str_radix(port, 16)) else {
            continue;
        };
        out.push(Listener {
            proto: proto.to_owned(),
            address: ip,
            port,
            uid: f[7].parse().unwrap_or(0),
        });
    }
    out
}

/// Read the network picture now.
pub fn network() -> Network {
    let addresses = if_addrs::get_if_addrs()
        .map(|v| {
            v.into_iter()
                .map(|i| {
                    let prefix = match &i.addr {
                        if_addrs::IfAddr::V4(a) => u32::from(a.netmask).count_ones() as u8,
                        if_addrs::IfAddr::V6(a) => u128::from(a.netmask).count_ones() as u8,
                    };
                    Address {
                        ip: i.ip(),
                        interface: i.name,
                        prefix,
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    let routes = std::fs::read_to_string("/proc/net/route")
        .map(|t| {
            t.lines()
                .skip(1)
                .filter_map(|l| {
                    let f: Vec<&str> = l.split_whitespace().collect();
                    Some(Route {
                        interface: f.first()?.to_string(),
                        destination: hex_v4(f.get(1)?)?,
                        gateway: hex_v4(f.get(2)?)?,
                        mask: hex_v4(f.get(7)?)?,
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    let mut listening = Vec::new();
    for p in ["tcp", "tcp6", "udp", "udp6"] {
        listening.extend(listeners(p));
    }
    let uptime_seconds = read_trim("/proc/uptime")
        .split_whitespace()
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0.0);
    Network {
        taken: Timestamp::now().to_rfc3339(),
        uptime_seconds,
        addresses,
        routes,
        listening,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_hex_addresses() {
        assert_eq!(hex_v4("0100007F"), Some(Ipv4Addr::LOCALHOST));
        assert_eq!(
            hex_v6("00000000000000000000000001000000"),
            Some(Ipv6Addr::LOCALHOST)
        );
    }
}
