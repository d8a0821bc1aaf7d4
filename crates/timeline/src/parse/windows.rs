//! Windows events as JSON, one object per line: Winlogbeat (`winlog.event_id`,
//! `winlog.channel`, `winlog.event_data`, `winlog.user_data`, `@timestamp` in UTC) and NXLog's
//! `to_json()` (`EventID`, `Channel`, `SourceName`, the event data as top-level fields,
//! `EventTime` in local time unless a zone is written). An event counts only when its channel
//! or provider is the one that defines its id, so an application that reuses 4624 is not a
//! logon.

use super::Found;
use crate::event::Kind;
use crate::when::{self, Civil};
use serde_json::Value;

struct Ev<'a> {
    v: &'a Value,
}

impl<'a> Ev<'a> {
    fn at(&self, path: &[&str]) -> Option<&'a Value> {
        let mut v = self.v;
        for p in path {
            v = v.get(p)?;
        }
        Some(v)
    }

    fn text(&self, path: &[&str]) -> Option<String> {
        match self.at(path)? {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }

    /// An event data field: Winlogbeat's `event_data` or `user_data`, or NXLog's top level.
    fn data(&self, name: &str) -> Option<String> {
        self.text(&["winlog", "event_data", name])
            .or_else(|| self.text(&["winlog", "user_data", name]))
            .or_else(|| self.text(&["event_data", name]))
            .or_else(|| self.text(&[name]))
            .filter(|s| !s.is_empty() && s != "-")
    }

    fn id(&self) -> Option<u32> {
        self.text(&["winlog", "event_id"])
            .or_else(|| self.text(&["EventID"]))
            .or_else(|| self.text(&["event_id"]))
            .or_else(|| self.text(&["event", "code"]))?
            .parse()
            .ok()
    }

    fn channel(&self) -> String {
        self.text(&["winlog", "channel"])
            .or_else(|| self.text(&["Channel"]))
            .unwrap_or_default()
    }

    fn provider(&self) -> String {
        self.text(&["winlog", "provider_name"])
            .or_else(|| self.text(&["SourceName"]))
            .or_else(|| self.text(&["ProviderName"]))
            .unwrap_or_default()
    }

    fn host(&self) -> Option<String> {
        self.text(&["winlog", "computer_name"])
            .or_else(|| self.text(&["Hostname"]))
            .or_else(|| self.text(&["host", "name"]))
    }

    fn time(&self) -> Option<Civil> {
        if let Some(t) = self.text(&["@timestamp"]) {
            return when::iso(&t, None);
        }
        let t = self.text(&["EventTime"])?;
        match t.split_once(' ') {
            Some((d, c)) => when::iso(d, Some(c)),
            None => when::iso(&t, None),
        }
    }
}

/// `DOMAIN\user` → `user`.
fn bare(u: String) -> String {
    match u.rsplit_once('\\') {
        Some((_, n)) => n.to_owned(),
        None => u,
    }
}

pub(super) fn parse(line: &str, host: Option<&str>) -> Option<Found> {
    let v: Value = serde_json::from_str(line).ok()?;
    let e = Ev { v: &v };
    let id = e.id()?;
    let channel = e.channel();
    let provider = e.provider();
    let security = channel == "Security" || provider == "Microsoft-Windows-Security-Auditing";
    let rcm = channel.contains("TerminalServices-RemoteConnectionManager")
        || provider.contains("TerminalServices-RemoteConnectionManager");
    let lsm = channel.contains("TerminalServices-LocalSessionManager")
        || provider.contains("TerminalServices-LocalSessionManager");
    let eventlog = provider == "Microsoft-Windows-Eventlog" || provider == "Eventlog";
    let scm = provider == "Service Control Manager";
    let (kind, user, ip, what) = match id {
        4624 if security => {
            let lt = e.data("LogonType").unwrap_or_default();
            let what = match lt.as_str() {
                "10" => "RDP logon (type 10)",
                "7" => "unlock (type 7)",
                "3" => "network logon (type 3)",
                _ => return None,
            };
            (
                Kind::LogonSuccess,
                e.data("TargetUserName"),
                e.data("IpAddress"),
                what,
            )
        }
        4625 if security => (
            Kind::LogonFailure,
            e.data("TargetUserName"),
            e.data("IpAddress"),
            "failed logon",
        ),
        4634 | 4647 if security => (Kind::Logoff, e.data("TargetUserName"), None, "logoff"),
        4778 if security => (
            Kind::SessionStart,
            e.data("AccountName"),
            e.data("ClientAddress"),
            "session reconnected",
        ),
        4779 if security => (
            Kind::SessionEnd,
            e.data("AccountName"),
            e.data("ClientAddress"),
            "session disconnected",
        ),
        4648 if security => (
            Kind::PrivilegeUse,
            e.data("SubjectUserName"),
            e.data("IpAddress"),
            "logon with explicit credentials",
        ),
        4672 if security => (
            Kind::PrivilegeUse,
            e.data("SubjectUserName"),
            None,
            "special privileges assigned",
        ),
        4720 if security => (
            Kind::AccountChange,
            e.data("TargetUserName"),
            None,
            "user account created",
        ),
        4728 | 4732 if security => (
            Kind::AccountChange,
            e.data("MemberName")
                .or_else(|| e.data("TargetUserName"))
                .map(|m| {
                    // MemberName is a distinguished name: `CN=bob,CN=Users,…`.
                    m.strip_prefix("CN=")
                        .and_then(|r| r.split(',').next())
                        .map_or(m.clone(), str::to_owned)
                }),
            None,
            "member added to a security group",
        ),
        1102 if security || eventlog => (
            Kind::LogCleared,
            e.data("SubjectUserName"),
            None,
            "Security log cleared",
        ),
        104 if eventlog => (
            Kind::LogCleared,
            e.data("SubjectUserName"),
            None,
            "event log cleared",
        ),
        7045 if scm => (
            Kind::ServiceInstalled,
            e.data("AccountName"),
            None,
            "service installed",
        ),
        1149 if rcm => (
            Kind::LogonSuccess,
            e.data("Param1"),
            e.data("Param3"),
            "RDP user authentication succeeded",
        ),
        21 | 22 | 25 if lsm => (
            Kind::SessionStart,
            e.data("User").map(bare),
            e.data("Address"),
            match id {
                21 => "RDP session logon",
                22 => "RDP shell start",
                _ => "RDP session reconnection",
            },
        ),
        23 if lsm => (
            Kind::Logoff,
            e.data("User").map(bare),
            None,
            "RDP session logoff",
        ),
        24 if lsm => (
            Kind::SessionEnd,
            e.data("User").map(bare),
            e.data("Address"),
            "RDP session disconnected",
        ),
        _ => return None,
    };
    let mut message = format!("{id} {what}");
    if id == 7045
        && let Some(name) = e.data("ServiceName")
    {
        message.push_str(&format!(": {name}"));
        if let Some(img) = e.data("ImagePath") {
            message.push_str(&format!(" ({img})"));
        }
    }
    if id == 104
        && let Some(ch) = e.data("Channel")
    {
        message.push_str(&format!(": {ch}"));
    }
    let mut f = Found::new(kind, "windows", message);
    if let Some(u) = user {
        f = f.user(u);
    }
    if let Some(ip) = ip {
        f = f.ip(ip);
    }
    f.host = e.host().or_else(|| host.map(str::to_owned));
    f.time = e.time();
    Some(f)
}
