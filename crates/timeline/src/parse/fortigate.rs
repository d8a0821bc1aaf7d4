//! FortiGate (FortiOS) key=value logs: `date=2026-11-20 time=03:10:12 logid="0101039424"
//! type="event" subtype="vpn" … user="alice" remip=203.0.113.5 action="tunnel-up" …`. The
//! message id is the last five digits of `logid`.

use super::Found;
use crate::event::Kind;
use crate::when;

/// The `key=value` pairs of a line; values may be double-quoted (no escapes inside).
pub(super) fn pairs(s: &str) -> Vec<(&str, &str)> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(eq) = rest.find('=') {
        let key = rest[..eq].rsplit(' ').next().unwrap_or("");
        let r = &rest[eq + 1..];
        let (val, next) = if let Some(q) = r.strip_prefix('"') {
            match q.find('"') {
                Some(end) => (&q[..end], &q[end + 1..]),
                None => (q, ""),
            }
        } else {
            let end = r.find(' ').unwrap_or(r.len());
            (&r[..end], &r[end..])
        };
        if !key.is_empty() {
            out.push((key, val));
        }
        rest = next;
    }
    out
}

pub(super) fn parse(line: &str) -> Option<Found> {
    let kv = pairs(line);
    let get = |k: &str| kv.iter().find(|(key, _)| *key == k).map(|(_, v)| *v);
    let logid = get("logid")?;
    if logid.len() != 10 || !logid.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let kind = match &logid[5..] {
        "39424" | "39947" => Kind::VpnConnect,
        "39425" | "39948" => Kind::VpnDisconnect,
        "39426" => Kind::LogonFailure,
        "32001" => Kind::AdminLogin,
        "32002" | "32021" => Kind::LogonFailure,
        "32003" => Kind::Logoff,
        "44545" | "44546" | "44547" => Kind::ConfigChange,
        _ => return None,
    };
    let desc = get("logdesc").or(get("msg")).unwrap_or("");
    let mut f = Found::new(
        kind,
        "fortigate",
        format!("{} {}", &logid[5..], desc).trim_end().to_owned(),
    );
    if let Some(u) = get("user") {
        f = f.user(u);
    }
    if let Some(ip) = get("remip").or(get("srcip")) {
        f = f.ip(ip);
    }
    f.host = get("devname").map(str::to_owned);
    if let (Some(d), Some(t)) = (get("date"), get("time")) {
        let mut c = when::iso(d, Some(t));
        if let (Some(c), Some(z)) = (c.as_mut(), get("tz").and_then(when::zone)) {
            c.offset = Some(z);
        }
        f.time = c;
    }
    Some(f)
}

#[cfg(test)]
mod tests {
    #[test]
    fn pairs_with_quotes_and_spaces() {
        let p = super::pairs(r#"date=2026-11-20 msg="a b=c" user="x y" n=1"#);
        assert_eq!(
            p,
            vec![
                ("date", "2026-11-20"),
                ("msg", "a b=c"),
                ("user", "x y"),
                ("n", "1")
            ]
        );
    }
}
