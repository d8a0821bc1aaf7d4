//! The event model: what one timeline row says, and the evidence that proves it.

use logkeep_format::{Sha256, Timestamp};
use serde::Serialize;

/// What happened. The names are the `event` column's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A user logged on (SSH, RDP, console, VPN portal).
    LogonSuccess,
    /// A logon was refused (bad password, unknown user, locked account).
    LogonFailure,
    /// A user logged off.
    Logoff,
    /// An interactive or remote session began (PAM session, RDP session, reconnect).
    SessionStart,
    /// A session ended or was disconnected.
    SessionEnd,
    /// A VPN tunnel came up.
    VpnConnect,
    /// A VPN tunnel went down.
    VpnDisconnect,
    /// An administrator logged on to a device's management interface.
    AdminLogin,
    /// Privileges were used or granted (sudo, special privileges, explicit credentials).
    PrivilegeUse,
    /// An account was created or added to a group.
    AccountChange,
    /// A device's configuration was changed.
    ConfigChange,
    /// A service was installed.
    ServiceInstalled,
    /// An event log was cleared.
    LogCleared,
    /// logkeep saw a log file shrink or vanish outside rotation.
    Tamper,
    /// logkeep could not capture some bytes.
    Gap,
}

impl Kind {
    /// Every kind, in the order the report lists them.
    pub const ALL: [Kind; 15] = [
        Kind::LogonSuccess,
        Kind::LogonFailure,
        Kind::Logoff,
        Kind::SessionStart,
        Kind::SessionEnd,
        Kind::VpnConnect,
        Kind::VpnDisconnect,
        Kind::AdminLogin,
        Kind::PrivilegeUse,
        Kind::AccountChange,
        Kind::ConfigChange,
        Kind::ServiceInstalled,
        Kind::LogCleared,
        Kind::Tamper,
        Kind::Gap,
    ];

    /// The `event` column's value.
    pub fn name(self) -> &'static str {
        match self {
            Kind::LogonSuccess => "logon_success",
            Kind::LogonFailure => "logon_failure",
            Kind::Logoff => "logoff",
            Kind::SessionStart => "session_start",
            Kind::SessionEnd => "session_end",
            Kind::VpnConnect => "vpn_connect",
            Kind::VpnDisconnect => "vpn_disconnect",
            Kind::AdminLogin => "admin_login",
            Kind::PrivilegeUse => "privilege_use",
            Kind::AccountChange => "account_change",
            Kind::ConfigChange => "config_change",
            Kind::ServiceInstalled => "service_installed",
            Kind::LogCleared => "log_cleared",
            Kind::Tamper => "tamper",
            Kind::Gap => "gap",
        }
    }

    /// Whether a logon of some kind succeeded (the report's "logons").
    pub fn is_logon(self) -> bool {
        matches!(
            self,
            Kind::LogonSuccess | Kind::VpnConnect | Kind::AdminLogin | Kind::SessionStart
        )
    }
}

/// Where the bytes that prove an event are: `length` bytes at `offset` of generation
/// `generation` of the original file `path`, whose SHA-256 is `sha256`. For events logkeep
/// recorded itself (`tamper`, `gap`), `path` is where the chain record's bytes are, relative to
/// the store: its file (`chain/N.json` in a bundle or a flat store, `chain/SHARD/N.json` in
/// layout 2), or, once its run is packed, the pack (`chain/SHARD/FIRST.pack`) with `offset` at
/// its line; generation 0, and the bytes are the whole record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Evidence {
    /// Original absolute path (or the chain record's path).
    pub path: String,
    /// Generation number of the file (as `logkeep extract` names it, `.genN`).
    pub generation: u64,
    /// Byte offset of the raw line (or record) in that generation.
    pub offset: u64,
    /// Its length in bytes, without the line's LF.
    pub length: u64,
    /// SHA-256 of those bytes.
    pub sha256: Sha256,
}

/// How the event's time was found, for the `timestamp_desc` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clock {
    /// The line states its time with a zone (or in UTC).
    Stated,
    /// The line states a local time without a zone; this offset (seconds east of UTC) was
    /// assumed.
    Assumed(i32),
    /// As [`Clock::Assumed`], and the line had no year: it came from the capture time.
    AssumedYear(i32),
    /// The line holds no time: the capture time of its segment (the time logkeep read it).
    Captured,
    /// The time logkeep wrote the record.
    Recorded,
}

impl Clock {
    /// The `timestamp_desc` text.
    pub fn describe(self) -> String {
        match self {
            Clock::Stated => "Event Time".to_owned(),
            Clock::Assumed(o) => format!("Event Time (local time, zone assumed {})", offset(o)),
            Clock::AssumedYear(o) => format!(
                "Event Time (local time, zone assumed {}, year from capture time)",
                offset(o)
            ),
            Clock::Captured => "Capture Time (the line states no time)".to_owned(),
            Clock::Recorded => "Record Time".to_owned(),
        }
    }
}

fn offset(secs: i32) -> String {
    let sign = if secs < 0 { '-' } else { '+' };
    let a = secs.unsigned_abs();
    format!("UTC{sign}{:02}:{:02}", a / 3600, (a % 3600) / 60)
}

/// One timeline row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimelineEvent {
    /// When, in UTC.
    pub datetime: Timestamp,
    /// How `datetime` was found.
    pub clock: Clock,
    /// What happened.
    pub kind: Kind,
    /// A one-line description.
    pub message: String,
    /// The account, if the line names one.
    pub user: Option<String>,
    /// The remote address, if the line names one.
    pub src_ip: Option<String>,
    /// The host the line is about or came from.
    pub host: Option<String>,
    /// The product whose format the line is in (`sshd`, `fortigate`, `windows`, ...).
    pub product: &'static str,
    /// The logkeep source id.
    pub source: String,
    /// The bytes that prove it.
    pub evidence: Evidence,
}

/// The columns, in order, of both output formats (the evidence flattened for CSV).
pub const COLUMNS: [&str; 14] = [
    "datetime",
    "timestamp_desc",
    "event",
    "message",
    "user",
    "src_ip",
    "host",
    "product",
    "source",
    "evidence_path",
    "evidence_generation",
    "evidence_offset",
    "evidence_length",
    "evidence_sha256",
];
