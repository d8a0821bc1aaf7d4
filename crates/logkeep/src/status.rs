//! The daemon's answers on the control socket as types: what `status` reports (and the one
//! line systemd shows), what `snapshot`, `seal` and `eject` return. The daemon builds these and
//! serialises them; every client command deserialises them. A member that is missing or
//! renamed is then an error on the client's side, never a silently printed `null`.
//!
//! `docs/CONTROL.md` describes the JSON. Every `Option` member is written as `null` when empty
//! and must be present when read (`deserialize_with = "Option::deserialize"` turns serde's
//! default of reading a missing `Option` as `None` into an error).

use logkeep_format::layout::Head;
use logkeep_media::replicator::MediumState;
use logkeep_syslog::ListenerStatus;
use serde::{Deserialize, Serialize};

/// The answer to `status`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Status {
    /// The daemon's version.
    pub version: String,
    /// The daemon's process id.
    pub pid: u32,
    /// When the daemon started, RFC 3339 UTC.
    pub started: String,
    /// Seconds since the daemon started.
    pub uptime_seconds: u64,
    /// The configuration file the daemon runs with.
    pub config: String,
    /// The store and whether it can be written.
    pub store: StoreStatus,
    /// The chain's head and the newest seal.
    pub chain: ChainStatus,
    /// Per configured source, its followed and waiting files.
    pub sources: Vec<SourceStatus>,
    /// Counters of the syslog listeners.
    pub listeners: Vec<ListenerStatus>,
    /// The newest tamper and gap records, newest first.
    pub alerts: Vec<Alert>,
    /// The configured media.
    pub media: Vec<MediumState>,
    /// The configured remotes.
    pub remotes: Vec<logkeep_media::remote::RemoteState>,
    /// Snapshots taken since the daemon started.
    pub snapshots: Snapshots,
    /// The control socket.
    pub control: ControlStatus,
    /// The newest incident drill recorded since the daemon started (`logkeep drill`).
    #[serde(deserialize_with = "Option::deserialize")]
    pub drill: Option<DrillSummary>,
}

/// What `logkeep drill` sends the daemon to record (the `drill` request's `drill` member), and
/// what `status` shows of the newest one. The daemon checks it before recording: see
/// [`DrillReport::check`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DrillReport {
    /// `passed` or `failed`.
    pub verdict: String,
    /// The medium the bundle was exported from.
    #[serde(deserialize_with = "Option::deserialize")]
    pub medium: Option<String>,
    /// The remote the bundle was exported from (`drill --remote`), instead of a medium.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote: Option<String>,
    /// SHA-256 of the drill's bundle.
    #[serde(deserialize_with = "Option::deserialize")]
    pub bundle: Option<logkeep_format::Sha256>,
    /// Milliseconds from the start of the drill to a verified bundle.
    #[serde(deserialize_with = "Option::deserialize")]
    pub verified_ms: Option<u64>,
    /// What would fail on the day, one line each.
    pub failures: Vec<String>,
}

/// Most failures a drill record holds; the drill's own report lists all of them.
pub const MAX_DRILL_FAILURES: usize = 32;
/// Longest failure line a drill record holds, in bytes.
pub const MAX_DRILL_FAILURE_LEN: usize = 1024;

impl DrillReport {
    /// Whether the daemon may record it: a known verdict that agrees with the failures, and
    /// failures within the record's limits.
    pub fn check(&self) -> Result<(), String> {
        match (self.verdict.as_str(), self.failures.is_empty()) {
            ("passed", true) | ("failed", false) => {}
            ("passed", false) => return Err("a passed drill lists no failures".into()),
            ("failed", true) => return Err("a failed drill names at least one failure".into()),
            (other, _) => {
                return Err(format!(
                    "verdict {other:?}: must be \"passed\" or \"failed\""
                ));
            }
        }
        if self.failures.len() > MAX_DRILL_FAILURES {
            return Err(format!("more than {MAX_DRILL_FAILURES} failures"));
        }
        if self
            .failures
            .iter()
            .any(|f| f.len() > MAX_DRILL_FAILURE_LEN)
        {
            return Err(format!(
                "a failure longer than {MAX_DRILL_FAILURE_LEN} bytes"
            ));
        }
        if self.medium.as_ref().is_some_and(|m| m.len() > 64) {
            return Err("a medium id longer than 64 bytes".into());
        }
        if self.remote.as_ref().is_some_and(|m| m.len() > 64) {
            return Err("a remote id longer than 64 bytes".into());
        }
        Ok(())
    }
}

/// The newest drill, in [`Status`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DrillSummary {
    /// Sequence number of its `drill` record.
    pub seq: u64,
    /// Wall time of that record.
    pub time: String,
    /// What the drill reported.
    pub report: DrillReport,
}

/// The answer to `drill`: the record that holds the verdict.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DrillReply {
    /// Sequence number of the `drill` record.
    pub seq: u64,
    /// The chain's head: the `drill` record itself.
    pub head: Head,
}

/// The store, in [`Status`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoreStatus {
    /// Its directory.
    pub path: String,
    /// Its id.
    pub id: String,
    /// False while writes to it fail (capture retries every scan interval).
    pub writable: bool,
    /// Why writes fail.
    #[serde(deserialize_with = "Option::deserialize")]
    pub error: Option<String>,
}

/// The chain, in [`Status`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChainStatus {
    /// The newest record.
    pub head: Head,
    /// The newest segment record since the daemon started.
    #[serde(deserialize_with = "Option::deserialize")]
    pub last_seal: Option<Seal>,
    /// Bytes in the segment being filled, if one is open.
    #[serde(deserialize_with = "Option::deserialize")]
    pub open_segment_bytes: Option<u64>,
}

/// A segment record: its sequence number and time.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Seal {
    /// Sequence number.
    pub seq: u64,
    /// Wall time, RFC 3339 UTC.
    pub time: String,
}

/// One configured source, in [`Status`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SourceStatus {
    /// Source id.
    pub id: String,
    /// Its configured patterns.
    pub paths: Vec<String>,
    /// The files it follows.
    pub files: Vec<FileStatus>,
    /// Files that match but wait for a descriptor (open-file limit).
    pub waiting: Vec<Waiting>,
    /// Files that match but cannot be opened or read: they exist and are not captured.
    pub unreadable: Vec<UnreadableFile>,
    /// A warning about the source itself (its patterns match no file).
    #[serde(deserialize_with = "Option::deserialize")]
    pub warning: Option<String>,
}

/// A file that matches but cannot be opened or read, in [`SourceStatus`]. Recorded once in
/// the chain (`unreadable`), and again (`readable`) when it can be read.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UnreadableFile {
    /// Its recorded name.
    pub path: String,
    /// Device number.
    pub dev: u64,
    /// Inode number.
    pub ino: u64,
    /// The error the system gave.
    pub error: String,
    /// Since when, RFC 3339 UTC.
    pub since: String,
}

/// A followed file, in [`SourceStatus`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FileStatus {
    /// Its recorded name.
    pub path: String,
    /// Device number.
    pub dev: u64,
    /// Inode number.
    pub ino: u64,
    /// Generation id.
    pub generation: u64,
    /// What was read.
    pub position: u64,
    /// What is durable in the chain.
    pub committed: u64,
    /// Size at the latest poll.
    pub size: u64,
    /// `size - committed`: bytes written but not yet sealed.
    pub lag: u64,
}

/// A file waiting for a descriptor, in [`SourceStatus`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Waiting {
    /// Its recorded name.
    pub path: String,
    /// Its size when last seen.
    pub size: u64,
}

/// A tamper or loss record, in [`Status`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Alert {
    /// Sequence number of the record.
    pub seq: u64,
    /// Its wall time.
    pub time: String,
    /// `tamper`, `gap` or `unreadable` (an `unreadable` alert is gone once the file is read).
    pub kind: String,
    /// Source id.
    pub source: String,
    /// The file concerned.
    pub path: String,
    /// What happened, in one line.
    pub what: String,
}

/// Snapshots, in [`Status`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Snapshots {
    /// How many were taken since the daemon started.
    pub count: u64,
    /// The newest one.
    #[serde(deserialize_with = "Option::deserialize")]
    pub last: Option<SnapshotSummary>,
}

/// The newest snapshot, in [`Snapshots`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SnapshotSummary {
    /// Snapshot id.
    pub id: String,
    /// Sequence number of its `snapshot` record.
    pub seq: u64,
    /// Wall time of that record.
    pub time: String,
    /// Why it was taken.
    #[serde(deserialize_with = "Option::deserialize")]
    pub reason: Option<String>,
    /// Who asked.
    pub uid: u32,
    /// The requesting process.
    pub pid: u32,
}

/// The control socket, in [`Status`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ControlStatus {
    /// Its path.
    pub socket: String,
    /// Whether it is served.
    pub served: bool,
}

/// The counts of a [`Status`] that systemd's one line shows. The daemon fills it after every
/// turn of its loop, which is cheaper than a whole [`Status`] with every file's position.
#[derive(Debug, Clone, Copy)]
pub struct Summary<'a> {
    /// Why writes to the store fail, if they do.
    pub error: Option<&'a str>,
    /// Files followed.
    pub files: usize,
    /// Sources configured.
    pub sources: usize,
    /// Sequence number of the chain's head.
    pub head_seq: u64,
    /// Alerts kept.
    pub alerts: usize,
    /// Files waiting for a descriptor.
    pub waiting: usize,
    /// Files that match but cannot be opened or read.
    pub unreadable: usize,
    /// Sources whose patterns match no file.
    pub unmatched: usize,
    /// Remotes configured.
    pub remotes: usize,
    /// Remotes whose copies fail (retried).
    pub remotes_failing: usize,
    /// Records the furthest-behind remote lacks.
    pub remote_lag: u64,
    /// How many causes the newest drill named, when it failed.
    pub drill_failed: Option<usize>,
}

impl Summary<'_> {
    /// The one line systemd shows in `systemctl status` (`STATUS=`).
    pub fn line(&self) -> String {
        if let Some(e) = self.error {
            return format!("STORE WRITES FAILING, retrying: {e}");
        }
        let mut line = String::new();
        if let Some(n) = self.drill_failed {
            line.push_str(&format!(
                "LAST INCIDENT DRILL FAILED ({n} cause(s), see `logkeep status`); "
            ));
        }
        if self.unreadable > 0 {
            // First, where `systemctl status` cannot cut it off: a log not being captured.
            line.push_str(&format!(
                "{} FILE(S) CANNOT BE READ, NOT CAPTURED; ",
                self.unreadable
            ));
        }
        line.push_str(&format!(
            "capturing {} file(s) of {} source(s); chain head record {}; {} alert(s)",
            self.files, self.sources, self.head_seq, self.alerts
        ));
        if self.unmatched > 0 {
            line.push_str(&format!("; {} source(s) match no file", self.unmatched));
        }
        if self.waiting > 0 {
            line.push_str(&format!(
                "; {} file(s) wait for a descriptor (open-file limit)",
                self.waiting
            ));
        }
        if self.remotes > 0 {
            line.push_str(&format!("; remote lag {} record(s)", self.remote_lag));
            if self.remotes_failing > 0 {
                line.push_str(&format!(
                    " ({} REMOTE(S) FAILING, retrying)",
                    self.remotes_failing
                ));
            }
        }
        line
    }
}

/// The answer to `snapshot`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SnapshotReply {
    /// Snapshot id (also its directory under `/logkeep/snapshot/`).
    pub id: String,
    /// Sequence number of the `snapshot` record.
    pub seq: u64,
    /// The chain's head: the `snapshot` record itself.
    pub head: Head,
    /// The head everything read was sealed into before the context was written.
    pub sealed_through: Head,
    /// The segment holding the host context.
    pub context: SnapshotContext,
    /// When it was asked for.
    pub requested: String,
    /// Wall time of the `snapshot` record.
    pub recorded: String,
}

/// The host context of a snapshot, in [`SnapshotReply`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SnapshotContext {
    /// Sequence number of the segment record holding the files.
    pub seq: u64,
    /// Their source id (`logkeep.snapshot`).
    pub source: String,
    /// Their recorded names.
    pub files: Vec<String>,
}

/// The answer to `seal`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SealReply {
    /// The store's directory.
    pub store: String,
    /// The store's id.
    pub store_id: String,
    /// The chain's head once everything read is sealed.
    pub head: Head,
}

/// The answer to `eject`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EjectReply {
    /// The medium's id.
    pub medium: String,
    /// The head the medium holds.
    pub head: Head,
}

/// Serialise an answer for the control socket. The types above hold nothing that JSON cannot
/// represent, so this cannot fail; the fallback keeps a bug from becoming a panic.
pub fn to_value<T: Serialize>(answer: &T) -> serde_json::Value {
    serde_json::to_value(answer).unwrap_or(serde_json::Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;
    use logkeep_format::Sha256;

    fn sample() -> Status {
        Status {
            version: "0.1.0".into(),
            pid: 1,
            started: "2026-01-01T00:00:00Z".into(),
            uptime_seconds: 3,
            config: "/etc/logkeep/logkeep.toml".into(),
            store: StoreStatus {
                path: "/var/lib/logkeep".into(),
                id: "ab".into(),
                writable: true,
                error: None,
            },
            chain: ChainStatus {
                head: Head {
                    seq: 7,
                    hash: Sha256([0; 32]),
                },
                last_seal: None,
                open_segment_bytes: Some(10),
            },
            sources: vec![SourceStatus {
                id: "app".into(),
                paths: vec!["/var/log/app.log".into()],
                files: Vec::new(),
                waiting: vec![Waiting {
                    path: "/var/log/b.log".into(),
                    size: 1,
                }],
                unreadable: vec![UnreadableFile {
                    path: "/var/log/auth.log".into(),
                    dev: 1,
                    ino: 2,
                    error: "Permission denied (os error 13)".into(),
                    since: "2026-01-01T00:00:00Z".into(),
                }],
                warning: None,
            }],
            listeners: Vec::new(),
            alerts: Vec::new(),
            media: Vec::new(),
            remotes: Vec::new(),
            snapshots: Snapshots {
                count: 0,
                last: None,
            },
            control: ControlStatus {
                socket: "/run/logkeep/control.sock".into(),
                served: true,
            },
            drill: None,
        }
    }

    #[test]
    fn status_reads_back_and_a_renamed_member_is_an_error() {
        let v = to_value(&sample());
        let back: Status = serde_json::from_value(v.clone()).unwrap();
        assert_eq!(back.chain.head.seq, 7);
        assert_eq!(v["chain"]["last_seal"], serde_json::Value::Null);
        let mut renamed = v.clone();
        let store = renamed["store"].as_object_mut().unwrap();
        let e = store.remove("error").unwrap();
        store.insert("err".into(), e);
        assert!(serde_json::from_value::<Status>(renamed).is_err());
        let mut missing = v;
        missing["chain"]
            .as_object_mut()
            .unwrap()
            .remove("last_seal");
        assert!(serde_json::from_value::<Status>(missing).is_err());
    }

    #[test]
    fn the_systemd_line_counts_files_waiting_and_alerts() {
        let mut s = Summary {
            error: None,
            files: 0,
            sources: 1,
            head_seq: 7,
            alerts: 0,
            waiting: 1,
            unreadable: 0,
            unmatched: 0,
            remotes: 0,
            remotes_failing: 0,
            remote_lag: 0,
            drill_failed: None,
        };
        assert_eq!(
            s.line(),
            "capturing 0 file(s) of 1 source(s); chain head record 7; 0 alert(s); 1 file(s) wait for a descriptor (open-file limit)"
        );
        s.unreadable = 2;
        s.unmatched = 1;
        assert_eq!(
            s.line(),
            "2 FILE(S) CANNOT BE READ, NOT CAPTURED; capturing 0 file(s) of 1 source(s); chain head record 7; 0 alert(s); 1 source(s) match no file; 1 file(s) wait for a descriptor (open-file limit)"
        );
        s.drill_failed = Some(2);
        assert!(
            s.line().starts_with(
                "LAST INCIDENT DRILL FAILED (2 cause(s), see `logkeep status`); 2 FILE(S)"
            ),
            "{}",
            s.line()
        );
        s.error = Some("disk full");
        assert_eq!(s.line(), "STORE WRITES FAILING, retrying: disk full");
    }

    #[test]
    fn the_systemd_line_shows_the_remote_lag_and_failures() {
        let mut s = Summary {
            error: None,
            files: 1,
            sources: 1,
            head_seq: 9,
            alerts: 0,
            waiting: 0,
            unreadable: 0,
            unmatched: 0,
            remotes: 1,
            remotes_failing: 0,
            remote_lag: 0,
            drill_failed: None,
        };
        assert!(
            s.line().ends_with("; remote lag 0 record(s)"),
            "{}",
            s.line()
        );
        s.remotes_failing = 1;
        s.remote_lag = 5;
        assert!(
            s.line()
                .ends_with("; remote lag 5 record(s) (1 REMOTE(S) FAILING, retrying)"),
            "{}",
            s.line()
        );
    }
}

#[cfg(test)]
mod drill_tests {
    use super::DrillReport;

    fn report(verdict: &str, failures: &[&str]) -> DrillReport {
        DrillReport {
            verdict: verdict.into(),
            medium: Some("usb-a".into()),
            remote: None,
            bundle: None,
            verified_ms: None,
            failures: failures.iter().map(|f| (*f).to_owned()).collect(),
        }
    }

    #[test]
    fn a_drill_report_must_agree_with_itself() {
        assert!(report("passed", &[]).check().is_ok());
        assert!(report("failed", &["medium usb-b not seen"]).check().is_ok());
        assert!(report("passed", &["x"]).check().is_err());
        assert!(report("failed", &[]).check().is_err());
        assert!(report("ok", &[]).check().is_err());
        let long = "x".repeat(super::MAX_DRILL_FAILURE_LEN + 1);
        assert!(report("failed", &[&long]).check().is_err());
        // A missing member is an error, not a null.
        let v = serde_json::json!({"verdict": "passed", "medium": null, "bundle": null, "failures": []});
        assert!(serde_json::from_value::<DrillReport>(v).is_err());
    }
}
