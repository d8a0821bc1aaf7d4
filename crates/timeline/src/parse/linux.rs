//! Linux hosts: sshd and PAM (auth.log, secure, the journal), sudo, useradd, OpenVPN (syslog
//! and its own log file), strongSwan's charon, xrdp and xrdp-sesman (syslog and their own log
//! files).

use super::{Found, Header, after, looks_like_ip};
use crate::event::Kind;
use crate::when;

pub(super) fn parse(h: &Header<'_>, line: &str) -> Option<Found> {
    match h.program {
        Some("sshd") | Some("sshd-session") => sshd(h.msg).or_else(|| pam(h.msg, "sshd")),
        Some("sudo") => sudo(h.msg).or_else(|| pam(h.msg, "sudo")),
        Some("useradd") => useradd(h.msg),
        Some(p) if p == "openvpn" || p.starts_with("ovpn-") || p.starts_with("openvpn@") => {
            openvpn(h.msg)
        }
        Some(p) if p == "charon" || p == "charon-systemd" || p == "ipsec" => strongswan(h.msg),
        Some("xrdp") | Some("xrdp-sesman") => xrdp(h.msg),
        Some(p) => pam(h.msg, p),
        None => own_files(line),
    }
}

/// The formats of log files the daemons write themselves, without a syslog header.
fn own_files(line: &str) -> Option<Found> {
    // xrdp: `[20261120-03:10:12] [INFO ] message`.
    if let Some(r) = line.strip_prefix('[')
        && let Some((ts, r)) = r.split_once("] ")
        && let Some(t) = when::compact(ts)
    {
        let msg = r
            .strip_prefix('[')
            .and_then(|r| r.split_once("] "))
            .map_or(r, |(_, m)| m);
        let mut f = xrdp(msg)?;
        f.time = Some(t);
        return Some(f);
    }
    // OpenVPN: `Fri Nov 20 03:10:12 2026 message` or `2026-11-20 03:10:12 message`.
    if let Some((t, msg)) = when::ctime(line) {
        let mut f = openvpn(msg)?;
        f.time = Some(t);
        return Some(f);
    }
    let mut it = line.splitn(3, ' ');
    if let (Some(d), Some(t), Some(msg)) = (it.next(), it.next(), it.next())
        && let Some(c) = when::iso(d, Some(t))
    {
        let mut f = openvpn(msg)?;
        f.time = Some(c);
        return Some(f);
    }
    None
}

/// `… for USER from IP port N …`, `USER` perhaps after `invalid user `.
fn for_from(msg: &str) -> Option<(&str, &str)> {
    let r = msg.split_once(" for ")?.1;
    let r = r.strip_prefix("invalid user ").unwrap_or(r);
    let (user, r) = r.rsplit_once(" from ")?;
    let ip = r.split(' ').next()?;
    looks_like_ip(ip).then_some((user, ip))
}

pub(super) fn sshd(msg: &str) -> Option<Found> {
    const ACCEPTED: [&str; 5] = [
        "Accepted password ",
        "Accepted publickey ",
        "Accepted keyboard-interactive/pam ",
        "Accepted gssapi-with-mic ",
        "Accepted hostbased ",
    ];
    const FAILED: [&str; 5] = [
        "Failed password ",
        "Failed publickey ",
        "Failed keyboard-interactive/pam ",
        "Failed none ",
        "Failed gssapi-with-mic ",
    ];
    if ACCEPTED.iter().any(|p| msg.starts_with(p)) {
        let (u, ip) = for_from(msg)?;
        return Some(Found::new(Kind::LogonSuccess, "sshd", msg).user(u).ip(ip));
    }
    if FAILED.iter().any(|p| msg.starts_with(p)) {
        let (u, ip) = for_from(msg)?;
        return Some(Found::new(Kind::LogonFailure, "sshd", msg).user(u).ip(ip));
    }
    if let Some(r) = msg.strip_prefix("Invalid user ") {
        let (u, r) = r.rsplit_once(" from ")?;
        let ip = r.split(' ').next()?;
        looks_like_ip(ip).then_some(())?;
        return Some(Found::new(Kind::LogonFailure, "sshd", msg).user(u).ip(ip));
    }
    if let Some(r) = msg.strip_prefix("Disconnected from user ") {
        let mut w = r.split(' ');
        let (u, ip) = (w.next()?, w.next()?);
        looks_like_ip(ip).then_some(())?;
        return Some(Found::new(Kind::Logoff, "sshd", msg).user(u).ip(ip));
    }
    None
}

/// PAM services whose sessions are logons.
const INTERACTIVE: [&str; 8] = [
    "sshd",
    "login",
    "xrdp-sesman",
    "su",
    "su-l",
    "gdm-password",
    "lightdm",
    "remote",
];

/// `pam_unix(SERVICE:auth): authentication failure; … rhost=IP  user=U`, `pam_unix(SERVICE:
/// session): session opened for user U(uid=N) by …` and `session closed for user U`.
pub(super) fn pam(msg: &str, program: &str) -> Option<Found> {
    let r = msg.strip_prefix("pam_unix(")?;
    let (svc, r) = r.split_once("): ")?;
    let (service, what) = svc.split_once(':')?;
    // The program is the service's process; the PAM line names the service itself.
    let _ = program;
    let product = "pam";
    match what {
        "auth" if r.starts_with("authentication failure;") => {
            let user = after(r, " user=").unwrap_or("");
            let ip = after(r, " rhost=").unwrap_or("");
            Some(
                Found::new(Kind::LogonFailure, product, format!("{service}: {r}"))
                    .user(user)
                    .ip(ip),
            )
        }
        // Sessions of the services people log in through; cron's and sudo's are not logons.
        "session" if INTERACTIVE.contains(&service) => {
            let (kind, r2) = if let Some(r2) = r.strip_prefix("session opened for user ") {
                (Kind::SessionStart, r2)
            } else if let Some(r2) = r.strip_prefix("session closed for user ") {
                (Kind::SessionEnd, r2)
            } else {
                return None;
            };
            let user = r2.split(['(', ' ']).next().unwrap_or("");
            Some(Found::new(kind, product, format!("{service}: {r}")).user(user))
        }
        _ => None,
    }
}

/// `alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/bin/bash`, and
/// `alice : 3 incorrect password attempts ; TTY=…`.
pub(super) fn sudo(msg: &str) -> Option<Found> {
    let (user, r) = msg.split_once(" : ")?;
    let user = user.trim();
    if user.contains(' ') || user.is_empty() {
        return None;
    }
    if r.contains("incorrect password attempt") {
        return Some(Found::new(Kind::LogonFailure, "sudo", msg).user(user));
    }
    if r.contains("COMMAND=") && r.contains("USER=") && !r.contains("command not allowed") {
        return Some(Found::new(Kind::PrivilegeUse, "sudo", msg).user(user));
    }
    None
}

/// `new user: name=bob, UID=1001, GID=1001, home=/home/bob, shell=/bin/bash, from=/dev/pts/0`.
fn useradd(msg: &str) -> Option<Found> {
    let r = msg.strip_prefix("new user: name=")?;
    let user = r.split(',').next()?;
    Some(Found::new(Kind::AccountChange, "useradd", msg).user(user))
}

/// `IP:PORT [USER] Peer Connection Initiated with [AF_INET]IP:PORT`,
/// `USER/IP:PORT SIGTERM[soft,remote-exit] received, client-instance exiting`,
/// `IP:PORT TLS Auth Error: Auth Username/Password verification failed for peer`.
pub(super) fn openvpn(msg: &str) -> Option<Found> {
    let (peer, r) = msg.split_once(' ')?;
    let (user, addr) = match peer.split_once('/') {
        Some((u, a)) => (Some(u), a),
        None => (None, peer),
    };
    let ip = host_of(addr)?;
    if let Some(r2) = r.strip_prefix('[')
        && let Some((u, rest)) = r2.split_once("] ")
        && rest.starts_with("Peer Connection Initiated with ")
    {
        return Some(Found::new(Kind::VpnConnect, "openvpn", msg).user(u).ip(ip));
    }
    if r.ends_with("client-instance exiting") || r.contains("Inactivity timeout") {
        let f = Found::new(Kind::VpnDisconnect, "openvpn", msg).ip(ip);
        return Some(match user {
            Some(u) => f.user(u),
            None => f,
        });
    }
    if r.contains("TLS Auth Error: Auth Username/Password verification failed") {
        let u = r
            .split_once("username '")
            .and_then(|(_, x)| x.split_once('\''))
            .map(|(u, _)| u);
        let f = Found::new(Kind::LogonFailure, "openvpn", msg).ip(ip);
        return Some(match u.or(user) {
            Some(u) => f.user(u),
            None => f,
        });
    }
    None
}

/// The address of `IP:PORT`, `[AF_INET]IP:PORT` or `[IPv6]:PORT`.
fn host_of(addr: &str) -> Option<&str> {
    let a = addr
        .strip_prefix("[AF_INET]")
        .or_else(|| addr.strip_prefix("[AF_INET6]"))
        .unwrap_or(addr);
    let host = if let Some(r) = a.strip_prefix('[') {
        r.split_once(']')?.0
    } else {
        a.rsplit_once(':').map_or(a, |(h, _)| h)
    };
    looks_like_ip(host).then_some(host)
}

/// charon: `NN[IKE] IKE_SA NAME[N] established between LOCAL[ID]...REMOTE[ID]` and
/// `deleting IKE_SA NAME[N] between …`.
pub(super) fn strongswan(msg: &str) -> Option<Found> {
    let m = match msg.split_once("] ") {
        Some((pre, m)) if pre.len() <= 8 && pre.contains('[') => m,
        _ => msg,
    };
    let (kind, r) = if m.starts_with("IKE_SA ") && m.contains(" established between ") {
        (Kind::VpnConnect, m.split_once(" established between ")?.1)
    } else if m.starts_with("deleting IKE_SA ") && m.contains(" between ") {
        (Kind::VpnDisconnect, m.split_once(" between ")?.1)
    } else {
        return None;
    };
    let (_, remote) = r.split_once("...")?;
    let (ip, id) = remote.split_once('[')?;
    let id = id.strip_suffix(']').unwrap_or(id);
    looks_like_ip(ip).then_some(())?;
    let f = Found::new(kind, "strongswan", m).ip(ip);
    Some(if id == ip || id == "%any" {
        f
    } else {
        f.user(id)
    })
}

/// xrdp-sesman: `++ created session (access granted): username alice, ip 203.0.113.5:51234 -
/// socket: 12`, `++ terminated session: …`, `login successful for user alice on display 10`,
/// `pam_authenticate failed: Authentication failure`, `login failed for user alice`; xrdp:
/// `connected client computer name: …` is not an event.
pub(super) fn xrdp(msg: &str) -> Option<Found> {
    fn user_ip(m: &str) -> (Option<&str>, Option<&str>) {
        let u = after(m, "username ").map(|u| u.trim_end_matches(','));
        let ip = after(m, "ip ").and_then(host_of);
        (u, ip)
    }
    let with = |f: Found, (u, ip): (Option<&str>, Option<&str>)| {
        let f = match u {
            Some(u) => f.user(u),
            None => f,
        };
        match ip {
            Some(ip) => f.ip(ip),
            None => f,
        }
    };
    if msg.starts_with("++ created session") {
        return Some(with(
            Found::new(Kind::SessionStart, "xrdp", msg),
            user_ip(msg),
        ));
    }
    if msg.starts_with("++ terminated session") {
        return Some(with(
            Found::new(Kind::SessionEnd, "xrdp", msg),
            user_ip(msg),
        ));
    }
    if let Some(r) = msg.strip_prefix("login successful for user ") {
        let u = r.split(' ').next()?;
        return Some(Found::new(Kind::LogonSuccess, "xrdp", msg).user(u));
    }
    if let Some(r) = msg.strip_prefix("login failed for user ") {
        let u = r.split(' ').next()?;
        return Some(Found::new(Kind::LogonFailure, "xrdp", msg).user(u));
    }
    if msg.starts_with("pam_authenticate failed") {
        return Some(Found::new(Kind::LogonFailure, "xrdp", msg));
    }
    None
}
