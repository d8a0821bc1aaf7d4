//! Cisco ASA (and FTD) messages: `%ASA-6-113039: Group <g> User <u> IP <ip> AnyConnect parent
//! session started.` The time is the syslog header's (or the ASA's own timestamp, which the
//! header reader finds).

use super::{Found, looks_like_ip};
use crate::event::Kind;

/// `<value>` after `key <`.
fn angle<'a>(s: &'a str, key: &str) -> Option<&'a str> {
    let r = s.split_once(&format!("{key} <"))?.1;
    Some(r.split_once('>')?.0)
}

/// `key = value,` (113019's form).
fn eq<'a>(s: &'a str, key: &str) -> Option<&'a str> {
    let r = s.split_once(&format!("{key} = "))?.1;
    Some(r.split([',', ' ']).next().unwrap_or(r))
}

pub(super) fn parse(msg: &str) -> Option<Found> {
    let i = msg.find("%ASA-").or_else(|| msg.find("%FTD-"))?;
    let r = &msg[i + 5..];
    let (_sev, r) = r.split_once('-')?;
    let (id, text) = r.split_once(": ")?;
    let text = text.trim();
    let kind = match id {
        "113039" | "716001" | "722022" | "722051" => Kind::VpnConnect,
        "113019" | "716002" | "722023" => Kind::VpnDisconnect,
        "716038" | "611101" => Kind::LogonSuccess,
        "716039" | "611102" | "605004" => Kind::LogonFailure,
        "605005" => Kind::AdminLogin,
        "111008" | "111010" => Kind::ConfigChange,
        _ => return None,
    };
    let mut f = Found::new(kind, "cisco_asa", format!("{id} {text}"));
    match id {
        "113019" => {
            f = f.user(eq(text, "Username")?);
            f = f.ip(eq(text, "IP")?);
        }
        "605004" | "605005" => {
            // `Login permitted from 198.51.100.7/52311 to outside:192.0.2.1/ssh for user "admin"`
            let from = text.split_once(" from ")?.1.split(['/', ' ']).next()?;
            let user = text.split_once("for user \"")?.1.split_once('"')?.0;
            f = f.user(user).ip(from);
        }
        "611101" | "611102" => {
            // `User authentication succeeded: IP address: 198.51.100.7, Uname: admin`
            let ip = text.split_once("IP address: ")?.1.split(',').next()?;
            let user = text.split_once("Uname: ")?.1.trim();
            f = f.user(user).ip(ip);
        }
        "111008" => {
            // `User 'admin' executed the 'write memory' command.`
            f = f.user(text.split_once("User '")?.1.split_once('\'')?.0);
        }
        "111010" => {
            // `User 'admin', running 'CLI' from IP 198.51.100.7, executed 'write memory'`
            f = f.user(text.split_once("User '")?.1.split_once('\'')?.0);
            if let Some(ip) = text
                .split_once("from IP ")
                .and_then(|(_, r)| r.split(',').next())
            {
                f = f.ip(ip);
            }
        }
        _ => {
            f = f.user(angle(text, "User")?);
            f = f.ip(angle(text, "IP")?);
        }
    }
    if kind != Kind::ConfigChange && f.src_ip.as_deref().is_some_and(|ip| !looks_like_ip(ip)) {
        return None;
    }
    Some(f)
}
