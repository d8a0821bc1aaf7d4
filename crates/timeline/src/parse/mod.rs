//! Recognising events in lines, by content: the syslog header is read first (RFC 5424, RFC
//! 3164, the ISO 8601 form of rsyslog and journald exports, or none), then each product's
//! parser looks at the message. A parser answers only for lines it is sure of; a line that
//! looks alike but is not one of its events gives nothing.

mod asa;
mod fortigate;
mod ivanti;
mod linux;
mod windows;

use crate::event::Kind;
use crate::when::{self, Civil};

/// What a parser found in one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// What happened.
    pub kind: Kind,
    /// The product whose format the line is in.
    pub product: &'static str,
    /// The account.
    pub user: Option<String>,
    /// The remote address.
    pub src_ip: Option<String>,
    /// The host the line came from.
    pub host: Option<String>,
    /// The time the line states (else the header's).
    pub time: Option<Civil>,
    /// A one-line description.
    pub message: String,
}

impl Found {
    fn new(kind: Kind, product: &'static str, message: impl Into<String>) -> Found {
        Found {
            kind,
            product,
            user: None,
            src_ip: None,
            host: None,
            time: None,
            message: message.into(),
        }
    }

    fn user(mut self, u: impl Into<String>) -> Found {
        let u = u.into();
        if !u.is_empty() && u != "-" && u != "N/A" {
            self.user = Some(u);
        }
        self
    }

    fn ip(mut self, ip: impl Into<String>) -> Found {
        let ip = ip.into();
        if looks_like_ip(&ip) {
            self.src_ip = Some(ip);
        }
        self
    }
}

/// A line split into its syslog header and message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header<'a> {
    /// The time the header states.
    pub time: Option<Civil>,
    /// The host name.
    pub host: Option<&'a str>,
    /// The program (tag without the `[pid]`).
    pub program: Option<&'a str>,
    /// The message.
    pub msg: &'a str,
}

/// Split a syslog or syslog-like line. A line with no header is all message.
pub fn header(line: &str) -> Header<'_> {
    let mut rest = line.trim_end_matches('\r');
    // `<PRI>`
    if let Some(r) = rest.strip_prefix('<')
        && let Some((pri, r)) = r.split_once('>')
        && !pri.is_empty()
        && pri.len() <= 3
        && pri.bytes().all(|b| b.is_ascii_digit())
    {
        rest = r;
        // RFC 5424: `1 TIMESTAMP HOST APP PROCID MSGID SD MSG`.
        if let Some(r) = rest.strip_prefix("1 ") {
            let mut f = r.splitn(6, ' ');
            let (ts, host, app, _pid, _msgid, sdmsg) = (
                f.next().unwrap_or("-"),
                f.next().unwrap_or("-"),
                f.next().unwrap_or("-"),
                f.next(),
                f.next(),
                f.next().unwrap_or(""),
            );
            let msg = skip_sd(sdmsg);
            let msg = msg.strip_prefix('\u{feff}').unwrap_or(msg);
            return Header {
                time: when::iso(ts, None),
                host: nil(host),
                program: nil(app),
                msg,
            };
        }
    }
    // ISO 8601 first token (rsyslog's precise format, `journalctl -o short-iso`).
    if let Some((ts, r)) = rest.split_once(' ')
        && ts.len() >= 19
        && ts.as_bytes()[4] == b'-'
        && let Some(t) = when::iso(ts, None)
    {
        return tagged(Some(t), r);
    }
    if let Some((t, r)) = when::bsd(rest) {
        return tagged(Some(t), r);
    }
    Header {
        time: None,
        host: None,
        program: None,
        msg: rest,
    }
}

fn nil(s: &str) -> Option<&str> {
    (s != "-" && !s.is_empty()).then_some(s)
}

/// Skip RFC 5424 structured data (`-` or `[...]...`) and one space.
fn skip_sd(s: &str) -> &str {
    if let Some(r) = s.strip_prefix("- ") {
        return r;
    }
    if s == "-" {
        return "";
    }
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() && b[i] == b'[' {
        let mut esc = false;
        i += 1;
        while i < b.len() {
            match b[i] {
                b'\\' if !esc => esc = true,
                b']' if !esc => break,
                _ => esc = false,
            }
            i += 1;
        }
        i += 1;
    }
    s.get(i..).unwrap_or("").strip_prefix(' ').unwrap_or("")
}

/// `HOST TAG[PID]: MSG` after a time. A `HOST` followed directly by a message whose first
/// token is not a tag (an appliance that sends no tag) leaves the program unknown.
fn tagged(time: Option<Civil>, r: &str) -> Header<'_> {
    let (host, after) = r.split_once(' ').unwrap_or((r, ""));
    let (tag, msg) = match after.split_once(": ") {
        Some((t, m)) if !t.is_empty() && !t.contains(' ') => (Some(t), m),
        _ => match after.strip_suffix(':') {
            Some(t) if !t.contains(' ') => (Some(t), ""),
            _ => (None, after),
        },
    };
    let program = tag.map(|t| t.split_once('[').map_or(t, |(p, _)| p));
    Header {
        time,
        host: nil(host),
        program,
        msg,
    }
}

/// Whether `s` is an IPv4 or IPv6 address.
pub fn looks_like_ip(s: &str) -> bool {
    s.parse::<std::net::IpAddr>().is_ok()
}

/// The word after `key` (up to a space, or the end).
pub(crate) fn after<'a>(s: &'a str, key: &str) -> Option<&'a str> {
    let i = s.find(key)?;
    let r = &s[i + key.len()..];
    Some(r.split([' ', ',', ';']).next().unwrap_or(r))
}

/// Find the events in one line (UTF-8, lossily decoded; without its LF).
pub fn parse(line: &str) -> Option<Found> {
    // Windows events as JSON, bare (Winlogbeat, NXLog's file output) or after a syslog header.
    if line.starts_with('{') {
        return windows::parse(line, None);
    }
    parse_header(&header(line), line)
}

/// The parser families a source's `preset` may name.
pub const PRESETS: [&str; 10] = [
    "sshd",
    "sudo",
    "openvpn",
    "strongswan",
    "xrdp",
    "fortigate",
    "cisco-asa",
    "ivanti",
    "windows",
    "pam",
];

/// [`parse`] with a source's `preset`: that family's parser is tried first, on the message
/// whatever its header says (a device that logs without the program name the family is
/// recognised by), then recognition by content as without it.
pub fn parse_preset(line: &str, preset: Option<&str>) -> Option<Found> {
    parse_header_preset(&header(line), line, preset)
}

/// [`parse_header`] with a source's `preset` (see [`parse_preset`]).
pub fn parse_header_preset(h: &Header<'_>, line: &str, preset: Option<&str>) -> Option<Found> {
    let hinted = preset.and_then(|p| match p {
        "sshd" => linux::sshd(h.msg).or_else(|| linux::pam(h.msg, "sshd")),
        "sudo" => linux::sudo(h.msg).or_else(|| linux::pam(h.msg, "sudo")),
        "pam" => linux::pam(h.msg, h.program.unwrap_or("pam")),
        "openvpn" => linux::openvpn(h.msg),
        "strongswan" => linux::strongswan(h.msg),
        "xrdp" => linux::xrdp(h.msg),
        "fortigate" => fortigate::parse(if h.msg.contains("logid=") {
            h.msg
        } else {
            line
        }),
        "cisco-asa" => asa::parse(h.msg),
        "ivanti" => ivanti::parse(h.msg),
        "windows" if line.starts_with('{') => windows::parse(line, None),
        "windows" => windows::parse(h.msg, h.host),
        _ => None,
    });
    match hinted {
        Some(found) => Some(fill(found, h)),
        None => parse_header(h, line),
    }
}

/// The header's host and time where the parser found none.
fn fill(mut found: Found, h: &Header<'_>) -> Found {
    if found.host.is_none() {
        found.host = h.host.map(str::to_owned);
    }
    if found.time.is_none() {
        found.time = h.time;
    }
    found
}

/// What [`parse`] finds once the header is known: `h` from a syslog line (`line` whole), or
/// built from a journal entry's fields (`line` is then its `MESSAGE`).
pub fn parse_header(h: &Header<'_>, line: &str) -> Option<Found> {
    let found = if h.msg.starts_with('{') {
        windows::parse(h.msg, h.host)
    } else if h.msg.contains("logid=") || line.contains("logid=") {
        fortigate::parse(if h.msg.contains("logid=") {
            h.msg
        } else {
            line
        })
    } else if let Some(f) = asa::parse(h.msg) {
        Some(f)
    } else if let Some(f) = ivanti::parse(h.msg) {
        Some(f)
    } else {
        linux::parse(h, line)
    }?;
    Some(fill(found, h))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers() {
        let h = header("<13>1 2026-11-20T03:10:12Z gw1 openvpn 12 - - hi there");
        assert_eq!(
            (h.host, h.program, h.msg),
            (Some("gw1"), Some("openvpn"), "hi there")
        );
        let h = header("<13>1 2026-11-20T03:10:12Z gw1 app - - [a b=\"\\]\\\"\"][c] msg");
        assert_eq!(h.msg, "msg");
        let h = header("Nov 20 03:10:12 gw sshd[12]: Accepted");
        assert_eq!(
            (h.host, h.program, h.msg),
            (Some("gw"), Some("sshd"), "Accepted")
        );
        let h = header("2026-11-20T03:10:12.123456+09:00 gw sudo: alice : x");
        assert_eq!((h.program, h.msg), (Some("sudo"), "alice : x"));
        let h = header("no header at all");
        assert_eq!((h.time, h.msg), (None, "no header at all"));
    }

    #[test]
    fn a_preset_recognises_a_line_content_alone_does_not() {
        let bare = "Accepted password for alice from 203.0.113.7 port 50022 ssh2";
        assert_eq!(parse(bare), None);
        let f = parse_preset(bare, Some("sshd")).expect("with the sshd preset");
        assert_eq!(
            (f.kind, f.user.as_deref(), f.src_ip.as_deref()),
            (Kind::LogonSuccess, Some("alice"), Some("203.0.113.7"))
        );
        // A preset that does not fit the line leaves recognition by content as it was.
        let line =
            "Nov 20 03:10:12 gw sshd[1]: Accepted password for bob from 192.0.2.1 port 1 ssh2";
        assert_eq!(parse_preset(line, Some("fortigate")), parse(line));
        assert!(parse(line).is_some());
    }
}
