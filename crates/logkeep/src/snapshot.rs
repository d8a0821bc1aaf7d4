//! The host's volatile context for an emergency snapshot: who is logged in, what the network
//! looks like, which connections are open and which processes run — read from `/proc`, `/sys`
//! and utmp through crates, never by running or parsing other programs.
//!
//! Everything here is best effort: a part that cannot be read (no utmp on this host, a
//! process that exited while it was being read, `/proc/PID/exe` of another user) is recorded as
//! such in the file and never fails the snapshot. Each part becomes one JSON file inside the
//! snapshot's segment, under `/logkeep/snapshot/<id>/`.

use logkeep_format::Timestamp;
use serde::Serialize;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

/// Largest utmp file read (an entry is 384 bytes; a real one holds a few dozen).
const MAX_UTMP: u64 = 4 << 20;
/// Longest command line kept per process.
const MAX_CMDLINE: usize = 4096;

/// Gather every part now: `(file name, bytes)`.
pub fn gather() -> Vec<(String, Vec<u8>)> {
    let started = std::time::Instant::now();
    let sockets = socket_owners();
    let parts: Vec<(&str, serde_json::Value)> = vec![
        ("host.json", value(&host())),
        ("users.json", value(&users())),
        ("network.json", value(&network())),
        ("connections.json", value(&connections(&sockets))),
        ("processes.json", value(&processes())),
    ];
    tracing::debug!(elapsed = ?started.elapsed(), "gathered the host context");
    parts
        .into_iter()
        .map(|(name, v)| {
            let mut bytes = serde_json::to_vec_pretty(&v).unwrap_or_default();
            bytes.push(b'\n');
            (name.to_owned(), bytes)
        })
        .collect()
}

fn value<T: Serialize>(t: &T) -> serde_json::Value {
    serde_json::to_value(t).unwrap_or_else(|e| serde_json::json!({ "error": e.to_string() }))
}

fn wall(t: SystemTime) -> String {
    Timestamp::from(t).to_rfc3339()
}

#[derive(Serialize)]
struct Host {
    taken: String,
    #[serde(flatten)]
    info: logkeep_format::bundle::HostInfo,
    uptime_seconds: f64,
    boot_time: Option<String>,
    load_average: Option<String>,
}

fn host() -> Host {
    let uptime_seconds = std::fs::read_to_string("/proc/uptime")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0);
    Host {
        taken: Timestamp::now().to_rfc3339(),
        info: crate::inventory::host_info(),
        uptime_seconds,
        boot_time: procfs::boot_time_secs()
            .ok()
            .map(|s| wall(SystemTime::UNIX_EPOCH + Duration::from_secs(s))),
        load_average: std::fs::read_to_string("/proc/loadavg")
            .ok()
            .map(|s| s.trim().to_owned()),
    }
}

#[derive(Serialize)]
struct Users {
    /// Where the list came from, or why there is none.
    source: String,
    sessions: Vec<Session>,
}

#[derive(Serialize)]
pub(crate) struct Session {
    user: String,
    line: String,
    host: String,
    pid: i32,
    login: String,
}

fn users() -> Users {
    let mut source = String::new();
    for path in ["/run/utmp", "/var/run/utmp"] {
        let meta = match std::fs::metadata(path) {
            Ok(m) => m,
            Err(e) => {
                source = format!("{path}: {e}");
                continue;
            }
        };
        if meta.len() > MAX_UTMP {
            source = format!("{path}: larger than {MAX_UTMP} bytes; not read");
            break;
        }
        return match utmp_rs::parse_from_path(path) {
            Ok(entries) => Users {
                source: path.to_owned(),
                sessions: sessions(entries),
            },
            Err(e) => Users {
                source: format!("{path}: cannot parse: {e}"),
                sessions: Vec::new(),
            },
        };
    }
    Users {
        source: format!("no utmp ({source}); logins are in the captured auth and wtmp logs"),
        sessions: Vec::new(),
    }
}

/// The login sessions among a utmp file's entries. Its own function so that the fuzz targets
/// (`docs/FUZZING.md`) run the parse and this conversion on hostile bytes.
pub(crate) fn sessions(entries: Vec<utmp_rs::UtmpEntry>) -> Vec<Session> {
    entries
        .into_iter()
        .filter_map(|e| match e {
            utmp_rs::UtmpEntry::UserProcess {
                pid,
                line,
                user,
                host,
                time,
                ..
            } => Some(Session {
                user,
                line,
                host,
                pid,
                login: wall(SystemTime::from(time)),
            }),
            _ => None,
        })
        .collect()
}

#[derive(Serialize)]
struct Interface {
    name: String,
    mac: Option<String>,
    operstate: Option<String>,
    mtu: Option<u32>,
}

#[derive(Serialize)]
struct Neighbour {
    device: String,
    ip: std::net::Ipv4Addr,
    mac: Option<String>,
}

#[derive(Serialize)]
struct Route6 {
    interface: String,
    destination: String,
    prefix: u8,
    gateway: String,
}

#[derive(Serialize)]
struct Network {
    #[serde(flatten)]
    picture: crate::inventory::Network,
    interfaces: Vec<Interface>,
    routes6: Vec<Route6>,
    neighbours: Vec<Neighbour>,
}

fn read_trim(path: &std::path::Path) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_owned())
}

fn mac(b: [u8; 6]) -> String {
    b.iter()
        .map(|x| format!("{x:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn network() -> Network {
    let mut interfaces = Vec::new();
    if let Ok(dir) = std::fs::read_dir("/sys/class/net") {
        for e in dir.flatten() {
            let p = e.path();
            interfaces.push(Interface {
                name: e.file_name().to_string_lossy().into_owned(),
                mac: read_trim(&p.join("address")),
                operstate: read_trim(&p.join("operstate")),
                mtu: read_trim(&p.join("mtu")).and_then(|m| m.parse().ok()),
            });
        }
    }
    interfaces.sort_by(|a, b| a.name.cmp(&b.name));
    let neighbours = procfs::net::arp()
        .map(|v| {
            v.into_iter()
                .map(|a| Neighbour {
                    device: a.device,
                    ip: a.ip_address,
                    mac: a.hw_address.map(mac),
                })
                .collect()
        })
        .unwrap_or_default();
    Network {
        picture: crate::inventory::network(),
        interfaces,
        routes6: routes6(),
        neighbours,
    }
}

/// IPv6 routes from `/proc/net/ipv6_route`: destination, prefix, source, source prefix,
/// next hop, metric, refcount, use, flags, device — addresses as 32 hex digits.
fn routes6() -> Vec<Route6> {
    let hex6 = |s: &str| -> Option<String> {
        let n = u128::from_str_radix(s, 16).ok()?;
        (s.len() == 32).then(|| std::net::Ipv6Addr::from(n).to_string())
    };
    let Ok(text) = std::fs::read_to_string("/proc/net/ipv6_route") else {
        return Vec::new();
    };
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            Some(Route6 {
                destination: hex6(f.first()?)?,
                prefix: u8::from_str_radix(f.get(1)?, 16).ok()?,
                gateway: hex6(f.get(4)?)?,
                interface: f.get(9)?.to_string(),
            })
        })
        .collect()
}

/// A process that holds a socket.
#[derive(Clone, Serialize)]
struct Owner {
    pid: i32,
    comm: String,
}

/// Socket inode → processes holding it. Only processes whose descriptors this process may
/// read are found (all of them as root; under the systemd unit, the daemon's own).
fn socket_owners() -> HashMap<u64, Vec<Owner>> {
    let mut map: HashMap<u64, Vec<Owner>> = HashMap::new();
    let Ok(all) = procfs::process::all_processes() else {
        return map;
    };
    for p in all.flatten() {
        let Ok(fds) = p.fd() else { continue };
        let comm = p.stat().map(|s| s.comm).unwrap_or_default();
        for fd in fds.flatten() {
            if let procfs::process::FDTarget::Socket(inode) = fd.target {
                map.entry(inode).or_default().push(Owner {
                    pid: p.pid,
                    comm: comm.clone(),
                });
            }
        }
    }
    map
}

#[derive(Serialize)]
struct Connection {
    proto: &'static str,
    state: String,
    local: SocketAddr,
    remote: SocketAddr,
    uid: u32,
    inode: u64,
    /// Processes holding the socket, where this process could see them.
    processes: Vec<Owner>,
}

#[derive(Serialize)]
struct Connections {
    taken: String,
    /// Whether every process's descriptors could be read (else `processes` is partial).
    complete: bool,
    sockets: Vec<Connection>,
}

fn connections(owners: &HashMap<u64, Vec<Owner>>) -> Connections {
    let mut sockets = Vec::new();
    let find = |inode: u64| owners.get(&inode).cloned().unwrap_or_default();
    for (proto, entries) in [("tcp", procfs::net::tcp()), ("tcp6", procfs::net::tcp6())] {
        for e in entries.unwrap_or_default() {
            sockets.push(Connection {
                proto,
                state: format!("{:?}", e.state),
                local: e.local_address,
                remote: e.remote_address,
                uid: e.uid,
                inode: e.inode,
                processes: find(e.inode),
            });
        }
    }
    for (proto, entries) in [("udp", procfs::net::udp()), ("udp6", procfs::net::udp6())] {
        for e in entries.unwrap_or_default() {
            sockets.push(Connection {
                proto,
                state: format!("{:?}", e.state),
                local: e.local_address,
                remote: e.remote_address,
                uid: e.uid,
                inode: e.inode,
                processes: find(e.inode),
            });
        }
    }
    Connections {
        taken: Timestamp::now().to_rfc3339(),
        complete: rustix::process::geteuid().is_root(),
        sockets,
    }
}

#[derive(Serialize)]
struct Process {
    pid: i32,
    ppid: i32,
    state: char,
    uid: Option<u32>,
    comm: String,
    cmdline: Option<Vec<String>>,
    exe: Option<String>,
    started: Option<String>,
    threads: i64,
    rss_bytes: u64,
}

#[derive(Serialize)]
struct Processes {
    taken: String,
    processes: Vec<Process>,
}

fn processes() -> Processes {
    let tps = procfs::ticks_per_second().max(1);
    let boot = procfs::boot_time_secs().ok();
    let page = procfs::page_size();
    let mut out = Vec::new();
    if let Ok(all) = procfs::process::all_processes() {
        for p in all.flatten() {
            // A process can exit between listing and reading: skip it.
            let Ok(stat) = p.stat() else { continue };
            let cmdline = p.cmdline().ok().map(|mut args| {
                let mut len = 0;
                args.retain(|a| {
                    len += a.len() + 1;
                    len <= MAX_CMDLINE
                });
                args
            });
            out.push(Process {
                pid: stat.pid,
                ppid: stat.ppid,
                state: stat.state,
                uid: p.uid().ok(),
                comm: stat.comm.clone(),
                cmdline,
                exe: p.exe().ok().map(|e| e.display().to_string()),
                started: boot.map(|b| {
                    wall(
                        SystemTime::UNIX_EPOCH
                            + Duration::from_secs(b)
                            + Duration::from_millis(stat.starttime.saturating_mul(1000) / tps),
                    )
                }),
                threads: stat.num_threads,
                rss_bytes: stat.rss.saturating_mul(page),
            });
        }
    }
    out.sort_by_key(|p| p.pid);
    Processes {
        taken: Timestamp::now().to_rfc3339(),
        processes: out,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_names_this_process() {
        let parts = gather();
        let names: Vec<&str> = parts.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "host.json",
                "users.json",
                "network.json",
                "connections.json",
                "processes.json"
            ]
        );
        let procs: serde_json::Value = serde_json::from_slice(&parts[4].1).expect("processes.json");
        let me = std::process::id() as i64;
        assert!(
            procs["processes"]
                .as_array()
                .expect("list")
                .iter()
                .any(|p| p["pid"].as_i64() == Some(me)),
            "this test's own process is listed"
        );
    }
}
