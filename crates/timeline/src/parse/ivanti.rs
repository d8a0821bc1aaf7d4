//! Ivanti (Pulse) Connect Secure: messages carry an id, three letters and five digits, before
//! the text (`AUT23457: Login succeeded for alice/Users (session:…) from 203.0.113.5 with …`),
//! in the standard syslog format or WELF's `msg="…"`.

use super::{Found, after, fortigate::pairs, looks_like_ip};
use crate::event::Kind;
use crate::when;

/// `ABC12345: text` somewhere in the message.
fn id_and_text(msg: &str) -> Option<(&str, &str)> {
    let b = msg.as_bytes();
    let mut i = 0;
    while i + 9 < b.len() {
        let ok = b[i..i + 3].iter().all(u8::is_ascii_uppercase)
            && b[i + 3..i + 8].iter().all(u8::is_ascii_digit)
            && b[i + 8] == b':'
            && b[i + 9] == b' '
            && (i == 0 || !b[i - 1].is_ascii_alphanumeric());
        if ok {
            let text = &msg[i + 10..];
            return Some((&msg[i..i + 8], text.split('"').next().unwrap_or(text)));
        }
        i += 1;
    }
    None
}

pub(super) fn parse(msg: &str) -> Option<Found> {
    let (id, text) = id_and_text(msg)?;
    let kind = match id {
        "AUT23457" | "AUT24326" | "AUT24414" => Kind::LogonSuccess,
        "AUT24327" => Kind::LogonFailure,
        "NWC23464" => Kind::VpnConnect,
        "NWC23465" => Kind::VpnDisconnect,
        "ADM20599" => Kind::AdminLogin,
        "SYS32039" | "SYS32040" => Kind::ConfigChange,
        _ => return None,
    };
    let mut f = Found::new(kind, "ivanti", format!("{id}: {text}"));
    // `for USER/REALM` (the realm tells a user name from an English word).
    if let Some(u) = after(text, "for ")
        && let Some((user, _realm)) = u.split_once('/')
    {
        f = f.user(user);
    }
    if let Some(ip) = after(text, " from ").map(|s| s.trim_end_matches('.'))
        && looks_like_ip(ip)
    {
        f = f.ip(ip);
    }
    // The standard format: `… - ive - [IP] USER(REALM)[ROLES] - text`.
    if f.src_ip.is_none()
        && let Some(r) = msg.split_once(" - [")
        && let Some((ip, r)) = r.1.split_once("] ")
        && looks_like_ip(ip)
    {
        f = f.ip(ip);
        if f.user.is_none() {
            f = f.user(r.split(['(', ' ']).next().unwrap_or(""));
        }
    }
    // WELF: `time="2026-11-20 03:10:12" … user=alice … src=203.0.113.5`.
    let kv = pairs(msg);
    let get = |k: &str| kv.iter().find(|(key, _)| *key == k).map(|(_, v)| *v);
    if f.user.is_none()
        && let Some(u) = get("user")
    {
        f = f.user(u);
    }
    if f.src_ip.is_none()
        && let Some(ip) = get("src")
    {
        f = f.ip(ip);
    }
    if let Some(t) = get("time").and_then(|t| t.split_once(' '))
        && let Some(c) = when::iso(t.0, Some(t.1))
    {
        f.time = Some(c);
    }
    // `2026-11-20 03:10:12 - ive - [...]`: the standard format's own time.
    if f.time.is_none() {
        let mut it = msg.splitn(3, ' ');
        if let (Some(d), Some(t)) = (it.next(), it.next()) {
            f.time = when::iso(d, Some(t));
        }
    }
    Some(f)
}
