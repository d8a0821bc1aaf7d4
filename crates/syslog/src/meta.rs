//! Metadata from a syslog message's header (RFC 5424 or RFC 3164), for readers of the
//! write-ahead log.
//!
//! The listeners do not parse messages: a record carries the raw bytes, and the metadata is a
//! function of them, so a reader derives it from a record's body (the first piece of an
//! oversize message) with these rules (`docs/SYSLOG.md`, "Metadata"). Parsing never decides
//! whether a message is kept. This only recognises the common header shapes well enough to name
//! the sending host, the application and the sender's own timestamp, and returns `None` for
//! anything else.

/// Which header layout a message has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rfc {
    /// `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID ...`
    R5424,
    /// `<PRI>Mmm dd hh:mm:ss HOSTNAME TAG: ...` (also with an RFC 3339 timestamp, as rsyslog
    /// forwards by default).
    R3164,
}

/// What a header says; every field borrows from the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meta<'a> {
    /// The layout.
    pub rfc: Rfc,
    /// The sender's timestamp, as written.
    pub time: Option<&'a [u8]>,
    /// HOSTNAME.
    pub host: Option<&'a [u8]>,
    /// APP-NAME, or the TAG of RFC 3164 without its `[pid]` and colon.
    pub app: Option<&'a [u8]>,
}

/// Parse the header of `msg`; `None` if it has neither layout.
pub fn parse(msg: &[u8]) -> Option<Meta<'_>> {
    let rest = pri(msg)?;
    parse_5424(rest).or_else(|| parse_3164(rest))
}

/// `<0>` to `<191>`; returns what follows.
fn pri(msg: &[u8]) -> Option<&[u8]> {
    let rest = msg.strip_prefix(b"<")?;
    let end = rest.iter().take(4).position(|&b| b == b'>')?;
    let digits = &rest[..end];
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let v: u32 = std::str::from_utf8(digits).ok()?.parse().ok()?;
    (v <= 191).then_some(&rest[end + 1..])
}

/// Printable US-ASCII without space (RFC 5424 PRINTUSASCII).
fn printable(token: &[u8]) -> bool {
    !token.is_empty() && token.iter().all(|b| (33..=126).contains(b))
}

fn nil(token: &[u8]) -> Option<&[u8]> {
    (token != b"-").then_some(token)
}

fn parse_5424(rest: &[u8]) -> Option<Meta<'_>> {
    let mut it = rest.splitn(7, |&b| b == b' ');
    let version = it.next()?;
    if version.is_empty()
        || version.len() > 3
        || version[0] == b'0'
        || !version.iter().all(u8::is_ascii_digit)
    {
        return None;
    }
    let mut fields: [&[u8]; 5] = [&[]; 5];
    for f in &mut fields {
        *f = it.next().filter(|t| printable(t))?;
    }
    Some(Meta {
        rfc: Rfc::R5424,
        time: nil(fields[0]),
        host: nil(fields[1]),
        app: nil(fields[2]),
    })
}

const MONTHS: [&[u8]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];

/// `Mmm dd hh:mm:ss` (day padded with a space) or an RFC 3339 timestamp; returns the
/// timestamp and what follows its space.
fn timestamp_3164(rest: &[u8]) -> Option<(&[u8], &[u8])> {
    if rest.len() >= 16 && MONTHS.contains(&&rest[..3]) {
        let ts = &rest[..15];
        let d = |i: usize| ts[i].is_ascii_digit();
        let shape = ts[3] == b' '
            && (ts[4] == b' ' || d(4))
            && d(5)
            && ts[6] == b' '
            && d(7)
            && d(8)
            && ts[9] == b':'
            && d(10)
            && d(11)
            && ts[12] == b':'
            && d(13)
            && d(14);
        return (shape && rest[15] == b' ').then(|| (ts, &rest[16..]));
    }
    // 2026-11-20T04:00:00.123456+09:00
    let end = rest.iter().position(|&b| b == b' ')?;
    let ts = &rest[..end];
    let iso = ts.len() >= 19
        && ts[..4].iter().all(u8::is_ascii_digit)
        && ts[4] == b'-'
        && ts[7] == b'-'
        && (ts[10] == b'T' || ts[10] == b't')
        && printable(ts);
    iso.then(|| (ts, &rest[end + 1..]))
}

/// The TAG's application name: up to `[` or `:`, at most 48 characters.
fn tag(token: &[u8]) -> Option<&[u8]> {
    let end = token
        .iter()
        .position(|&b| b == b'[' || b == b':')
        .unwrap_or(token.len());
    let name = &token[..end];
    (printable(name) && name.len() <= 48).then_some(name)
}

fn parse_3164(rest: &[u8]) -> Option<Meta<'_>> {
    let (time, rest) = timestamp_3164(rest)?;
    let mut it = rest.splitn(3, |&b| b == b' ');
    let first = it.next().filter(|t| printable(t))?;
    // Some senders leave the host out: then the first word is the tag (`sshd[12]:`).
    if first.ends_with(b":") || first.contains(&b'[') {
        return Some(Meta {
            rfc: Rfc::R3164,
            time: Some(time),
            host: None,
            app: tag(first),
        });
    }
    let app = it.next().and_then(tag);
    Some(Meta {
        rfc: Rfc::R3164,
        time: Some(time),
        host: Some(first),
        app,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(msg: &[u8], expect: Option<(Rfc, &str, &str, &str)>) {
        let got = parse(msg).map(|m| {
            let s = |x: Option<&[u8]>| String::from_utf8_lossy(x.unwrap_or(b"")).into_owned();
            (m.rfc, s(m.time), s(m.host), s(m.app))
        });
        let expect = expect.map(|(r, t, h, a)| (r, t.to_owned(), h.to_owned(), a.to_owned()));
        assert_eq!(got, expect, "{}", String::from_utf8_lossy(msg));
    }

    #[test]
    fn headers() {
        use Rfc::*;
        check(
            b"<13>1 2026-11-20T04:00:00.1Z gw1 openvpn 123 - - login",
            Some((R5424, "2026-11-20T04:00:00.1Z", "gw1", "openvpn")),
        );
        check(b"<165>1 - - - - - -", Some((R5424, "", "", "")));
        check(
            b"<34>Oct 11 22:14:15 mymachine su: 'su root' failed",
            Some((R3164, "Oct 11 22:14:15", "mymachine", "su")),
        );
        check(
            b"<13>Nov  2 04:00:00 fw sshd[42]: x",
            Some((R3164, "Nov  2 04:00:00", "fw", "sshd")),
        );
        check(
            b"<13>Nov  2 04:00:00 sshd[42]: no host",
            Some((R3164, "Nov  2 04:00:00", "", "sshd")),
        );
        check(
            b"<13>2026-11-20T04:00:00.123+09:00 gw app: m",
            Some((R3164, "2026-11-20T04:00:00.123+09:00", "gw", "app")),
        );
        check(b"no header at all", None);
        check(b"<999>1 a b c d e", None);
        check(b"<13>\xff\xfe binary", None);
        check(b"<13>", None);
        check(b"", None);
        check(b"<13>1 only three", None);
    }
}
