//! The drill's judgments, without I/O: given what the daemon's status, the host's chain and
//! the bundle say, what would fail on the day of an incident. Each finding is one line that
//! names the medium, source, file or configuration key concerned.

use crate::config::Incident;
use crate::status::{FileStatus, SourceStatus};
use logkeep_format::Timestamp;
use logkeep_format::contents::{Generation, RangeState};
use logkeep_format::layout::Head;
use logkeep_format::shown;
use logkeep_media::remote::RemoteState;
use logkeep_media::replicator::{MediaState, MediumState};
use std::collections::BTreeMap;
use std::time::Duration;

/// The `[incident]` contacts that are not set, by their configuration key.
pub fn missing_contacts(inc: &Incident) -> Vec<&'static str> {
    let blank = |o: &Option<String>| o.as_deref().is_none_or(|s| s.trim().is_empty());
    let mut missing = Vec::new();
    if blank(&inc.police) {
        missing.push("police");
    }
    if inc.responders.iter().all(|r| r.trim().is_empty()) {
        missing.push("responders");
    }
    if blank(&inc.fingerprint_holder) {
        missing.push("fingerprint_holder");
    }
    missing
}

/// What is missing from the preparations in `[incident]`: a contact, or the fingerprint as it
/// was written down.
pub fn arrangements(inc: &Incident) -> Vec<String> {
    let mut out: Vec<String> = missing_contacts(inc)
        .into_iter()
        .map(|key| {
            format!(
                "no incident contact: [incident] {key} is not set (`logkeep incident` prints it on the day)"
            )
        })
        .collect();
    if inc.fingerprint.is_none() {
        out.push(
            "the signing key's fingerprint was never recorded: write it into [incident] fingerprint \
             exactly as it was written down when `logkeep keygen` printed it (an investigator checks \
             the bundle against that copy, not against this host)"
                .into(),
        );
    }
    out
}

/// Sources that captured nothing, and files that cannot be read.
pub fn sources(sources: &[SourceStatus]) -> Vec<String> {
    let mut out = Vec::new();
    for s in sources {
        if !s.files.iter().any(|f| f.committed > 0) {
            out.push(format!(
                "source {} has captured nothing{}",
                shown::text(&s.id),
                s.warning
                    .as_deref()
                    .map_or_else(String::new, |w| format!(": {}", shown::text(w)))
            ));
        }
        for u in &s.unreadable {
            out.push(format!(
                "source {}: {} cannot be read and is not captured: {}",
                shown::text(&s.id),
                shown::text(&u.path),
                shown::text(&u.error)
            ));
        }
    }
    out
}

/// Media not seen for longer than `max_age`. A medium present now is seen now; otherwise it
/// was last seen at its last copy or at the newest `medium` record the host's chain holds
/// about it (`recorded`), whichever is newer.
pub fn media_age(
    media: &[MediumState],
    recorded: &BTreeMap<String, Timestamp>,
    now: Timestamp,
    max_age: Duration,
) -> Vec<String> {
    let mut out = Vec::new();
    for m in media {
        if m.state == MediaState::Present {
            continue;
        }
        let synced = m
            .last_sync
            .as_deref()
            .and_then(|t| Timestamp::parse(t).ok());
        let seen = synced.max(recorded.get(&m.id).copied());
        let max = humantime::format_duration(max_age);
        match seen {
            None => out.push(format!(
                "medium {} ({}) has never been seen by this host; it is {}",
                shown::text(&m.id),
                shown::text(&m.path),
                m.state
            )),
            Some(t) => {
                let age = now.unix_nanos().saturating_sub(t.unix_nanos());
                if age > max_age.as_nanos() as i128 {
                    let age = Duration::from_secs((age / 1_000_000_000) as u64);
                    out.push(format!(
                        "medium {} ({}) not seen for {} (since {t}), longer than [drill] media_max_age = {max}: on the day its copy would be that old; it is {}",
                        shown::text(&m.id),
                        shown::text(&m.path),
                        humantime::format_duration(age),
                        m.state
                    ));
                }
            }
        }
    }
    out
}

/// Where the drill's bundle is exported from: the two places a copy survives the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A medium: a store directory on a separate disk.
    Medium {
        /// Its id.
        id: String,
        /// Its mount point.
        path: String,
    },
    /// A remote: an object store the host copies to (`[[remote]]`), pulled back whole.
    Remote {
        /// Its id.
        id: String,
    },
}

impl Origin {
    /// The medium's id, if it is one.
    pub fn medium(&self) -> Option<&str> {
        match self {
            Origin::Medium { id, .. } => Some(id),
            Origin::Remote { .. } => None,
        }
    }

    /// The remote's id, if it is one.
    pub fn remote(&self) -> Option<&str> {
        match self {
            Origin::Remote { id } => Some(id),
            Origin::Medium { .. } => None,
        }
    }
}

/// The remote `wanted` to export from: it must be configured, and the daemon must copy to it
/// (`remotes`, its state in the daemon's status).
pub fn choose_remote(remotes: &[RemoteState], wanted: &str) -> Result<Origin, String> {
    let r = remotes.iter().find(|r| r.id == wanted).ok_or_else(|| {
        format!(
            "--remote {}: no such remote in the configuration{}",
            shown::text(wanted),
            if remotes.is_empty() {
                String::new()
            } else {
                format!(
                    " (configured: {})",
                    remotes
                        .iter()
                        .map(|r| shown::text(&r.id).to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }
        )
    })?;
    Ok(Origin::Remote { id: r.id.clone() })
}

/// A remote that is failing or holds less than `seq`, the drill's snapshot record, as one
/// line; `None` when it holds it.
pub fn remote_behind(r: &RemoteState, seq: u64) -> Option<String> {
    let holds = r.head.map_or(0, |h| h.seq);
    if holds >= seq {
        return None;
    }
    Some(if r.state.starts_with("failed") {
        format!(
            "remote {} is unreachable ({}): it holds the chain up to record {holds}, the snapshot is record {seq}",
            shown::text(&r.id),
            shown::text(&r.state)
        )
    } else {
        format!(
            "remote {} is behind the host: it holds the chain up to record {holds}, the snapshot is record {seq} (it is {})",
            shown::text(&r.id),
            shown::text(&r.state)
        )
    })
}

/// The medium to export from: `wanted`, else the first one present. It must be present, so
/// that it receives the drill's snapshot.
pub fn choose(media: &[MediumState], wanted: Option<&str>) -> Result<Origin, String> {
    let pick = match wanted {
        Some(id) => media.iter().find(|m| m.id == id).ok_or_else(|| {
            format!(
                "--medium {}: no such medium in the configuration",
                shown::text(id)
            )
        })?,
        None => media
            .iter()
            .find(|m| m.state == MediaState::Present)
            .ok_or_else(|| {
                if media.is_empty() {
                    "no medium is configured: with the host lost, nothing would hold a copy of its logs ([[media]] in the configuration)".to_owned()
                } else {
                    format!(
                        "no medium is present to export from (configured: {})",
                        media
                            .iter()
                            .map(|m| format!("{} {}", shown::text(&m.id), m.state))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                }
            })?,
    };
    if pick.state != MediaState::Present {
        return Err(format!(
            "medium {} is {}: plug it in, or choose another with --medium",
            shown::text(&pick.id),
            pick.state
        ));
    }
    Ok(Origin::Medium {
        id: pick.id.clone(),
        path: pick.path.clone(),
    })
}

/// A medium holding less than the daemon last copied to it was rolled back (or cut short)
/// behind the copier's back: `on_disk` is its head as read from the disk now.
pub fn rolled_back(m: &MediumState, on_disk: Option<Head>) -> Option<String> {
    let copied = m.head?;
    let holds = on_disk.map_or(0, |h| h.seq);
    (holds < copied.seq).then(|| {
        format!(
            "medium {} was rolled back: it holds the chain up to record {holds}, but the daemon had copied it up to record {}",
            shown::text(&m.id),
            copied.seq
        )
    })
}

/// Files whose latest bytes are not in the bundle: every byte read before the snapshot
/// (`files`, with their sources) must be in a verified range of the bundle, unless nothing of
/// that generation is in the bundle's time selection at all (`generations`).
pub fn latest(files: &[(&str, &FileStatus)], generations: &[Generation]) -> Vec<String> {
    let mut out = Vec::new();
    for (source, f) in files {
        if f.position == 0 {
            continue;
        }
        let Some(g) = generations.iter().find(|g| {
            g.source == *source
                && g.path == f.path
                && g.gen_id == f.generation
                && g.dev == f.dev
                && g.ino == f.ino
        }) else {
            continue;
        };
        let reached = g
            .ranges
            .iter()
            .filter(|r| r.state == RangeState::Verified)
            .map(|r| r.end)
            .max()
            .unwrap_or(0);
        if reached < f.position {
            out.push(format!(
                "source {}: the bundle holds {} up to byte {reached}, but {} bytes had been read before the snapshot",
                shown::text(source),
                shown::text(&f.path),
                f.position
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::UnreadableFile;
    use logkeep_format::Sha256;
    use logkeep_format::contents::Range;

    fn medium(id: &str, state: MediaState, last_sync: Option<&str>) -> MediumState {
        MediumState {
            id: id.into(),
            path: format!("/media/{id}"),
            state,
            head: Some(Head {
                seq: 10,
                hash: Sha256::ZERO,
            }),
            behind: 0,
            free_bytes: None,
            last_sync: last_sync.map(str::to_owned),
        }
    }

    fn file(path: &str, position: u64) -> FileStatus {
        FileStatus {
            path: path.into(),
            dev: 1,
            ino: 2,
            generation: 3,
            position,
            committed: position,
            size: position,
            lag: 0,
        }
    }

    #[test]
    fn contacts_and_the_fingerprint_are_named_by_their_key() {
        let mut inc = Incident::default();
        let all = arrangements(&inc);
        assert_eq!(all.len(), 4, "{all:?}");
        assert!(all[0].contains("[incident] police"));
        assert!(all[3].contains("[incident] fingerprint"));
        inc.police = Some("desk".into());
        inc.responders = vec!["  ".into()];
        inc.fingerprint_holder = Some("Tanaka".into());
        inc.fingerprint = Some("ab".into());
        assert_eq!(missing_contacts(&inc), vec!["responders"]);
    }

    #[test]
    fn a_medium_unseen_past_its_age_fails_and_a_present_one_does_not() {
        let now = Timestamp::parse("2026-12-10T00:00:00Z").unwrap();
        let week = Duration::from_secs(7 * 86400);
        let media = vec![
            medium("a", MediaState::Present, None),
            medium("b", MediaState::Absent, Some("2026-12-01T00:00:00Z")),
            medium("c", MediaState::Absent, Some("2026-12-01T00:00:00Z")),
            medium("d", MediaState::Absent, None),
        ];
        let mut recorded = BTreeMap::new();
        recorded.insert(
            "c".to_owned(),
            Timestamp::parse("2026-12-09T00:00:00Z").unwrap(),
        );
        let out = media_age(&media, &recorded, now, week);
        assert_eq!(out.len(), 2, "{out:?}");
        assert!(out[0].starts_with("medium b ") && out[0].contains("not seen for 9days"));
        assert!(out[1].starts_with("medium d ") && out[1].contains("never been seen"));
    }

    #[test]
    fn the_medium_must_be_present_and_rollback_is_seen() {
        let media = vec![
            medium("a", MediaState::Ejected, None),
            medium("b", MediaState::Present, None),
        ];
        assert!(matches!(choose(&media, None), Ok(Origin::Medium { id, .. }) if id == "b"));
        assert!(
            choose(&media, Some("a"))
                .unwrap_err()
                .contains("plug it in")
        );
        assert!(
            choose(&media, Some("z"))
                .unwrap_err()
                .contains("no such medium")
        );
        assert!(
            choose(&[], None)
                .unwrap_err()
                .contains("no medium is configured")
        );
        let h = |seq| {
            Some(Head {
                seq,
                hash: Sha256::ZERO,
            })
        };
        assert!(rolled_back(&media[1], h(10)).is_none());
        assert!(
            rolled_back(&media[1], h(4))
                .unwrap()
                .contains("holds the chain up to record 4")
        );
    }

    #[test]
    fn a_remote_must_be_configured_and_hold_the_snapshot() {
        let r = |state: &str, seq| RemoteState {
            id: "central".into(),
            location: "http://s3/b/host/".into(),
            state: state.into(),
            head: Some(Head {
                seq,
                hash: Sha256::ZERO,
            }),
            behind: 0,
            checkpoint: None,
            last_copy: None,
        };
        let remotes = vec![r("ok", 10)];
        assert_eq!(
            choose_remote(&remotes, "central"),
            Ok(Origin::Remote {
                id: "central".into()
            })
        );
        assert!(
            choose_remote(&remotes, "other").unwrap_err().contains(
                "--remote other: no such remote in the configuration (configured: central)"
            )
        );
        assert!(remote_behind(&remotes[0], 10).is_none());
        assert!(
            remote_behind(&remotes[0], 12).unwrap().starts_with(
                "remote central is behind the host: it holds the chain up to record 10"
            )
        );
        assert!(
            remote_behind(&r("failed: connection refused", 3), 12)
                .unwrap()
                .starts_with("remote central is unreachable (failed: connection refused)")
        );
    }

    #[test]
    fn sources_that_captured_nothing_or_cannot_be_read_are_named() {
        let s = |id: &str, files: Vec<FileStatus>, unreadable: Vec<UnreadableFile>| SourceStatus {
            id: id.into(),
            paths: vec![],
            files,
            waiting: vec![],
            unreadable,
            warning: None,
        };
        let bad = UnreadableFile {
            path: "/var/log/auth.log".into(),
            dev: 1,
            ino: 2,
            error: "Permission denied (os error 13)".into(),
            since: "2026-12-01T00:00:00Z".into(),
        };
        let out = sources(&[
            s("ok", vec![file("/a", 5)], vec![]),
            s("empty", vec![file("/b", 0)], vec![]),
            s("auth", vec![file("/c", 5)], vec![bad]),
        ]);
        assert_eq!(out.len(), 2, "{out:?}");
        assert!(out[0].starts_with("source empty has captured nothing"));
        assert!(out[1].contains("/var/log/auth.log cannot be read"));
    }

    #[test]
    fn the_latest_bytes_must_be_in_a_verified_range() {
        let g = |end, state| Generation {
            source: "app".into(),
            path: "/a".into(),
            gen_id: 3,
            dev: 1,
            ino: 2,
            first: String::new(),
            last: String::new(),
            ranges: vec![Range {
                start: 0,
                end,
                seq: 4,
                state,
            }],
        };
        let f = file("/a", 100);
        assert!(latest(&[("app", &f)], &[g(100, RangeState::Verified)]).is_empty());
        assert_eq!(
            latest(&[("app", &f)], &[g(60, RangeState::Verified)]).len(),
            1
        );
        assert_eq!(
            latest(&[("app", &f)], &[g(100, RangeState::Damaged)]).len(),
            1
        );
        // Nothing of it in the bundle's day: not this check's business.
        assert!(latest(&[("app", &f)], &[]).is_empty());
    }
}
