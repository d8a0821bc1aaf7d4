//! What capture tells the chain: the origin of every chunk it reads and the `closed`, `gap` and
//! `tamper` events ([`logkeep_format::Event`]) it records, each built from one [`GenRef`].
//!
//! Every event about a generation names the same five things (source, recorded path, device,
//! inode, generation); building them in one place keeps the logic that decides *whether* to
//! record something apart from *how* it is recorded, and keeps every reason string (which the
//! chain and investigators read) in this file.

use crate::identity::FileId;
use logkeep_format::segment::ChunkOrigin;
use logkeep_format::{Event, Sha256};
use std::time::SystemTime;

/// A generation as the chain names it: source id, recorded path, the file's identity and the
/// generation number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct GenRef<'a> {
    pub(crate) source: &'a str,
    /// The path as recorded (see [`crate::names::record_name`]).
    pub(crate) path: &'a str,
    pub(crate) id: FileId,
    /// 0 for a file that never became a generation (it was gone before it could be followed).
    pub(crate) gen_id: u64,
}

/// Why a generation is closed, as its `closed` record says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Closing {
    /// Renamed away, replaced at its path, or finished from a rotated copy.
    Rotated,
    /// Unlinked while another file took its name (`rotate 0`), read to its end.
    Replaced,
    /// Unlinked with no copy (a `tamper` record said so first).
    Deleted,
    /// Its source was removed from the configuration, or no longer matches it.
    Unwatched,
}

impl Closing {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Closing::Rotated => "rotated",
            Closing::Replaced => "replaced",
            Closing::Deleted => "deleted",
            Closing::Unwatched => "unwatched",
        }
    }
}

/// What happened to a file outside a rotation, as its `tamper` record says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Damage {
    /// Shorter than what was captured.
    Truncated,
    /// As long, but no longer holding the bytes captured.
    Rewritten,
    /// Unlinked with no rotated copy.
    Deleted,
}

impl Damage {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Damage::Truncated => "truncated",
            Damage::Rewritten => "rewritten",
            Damage::Deleted => "deleted",
        }
    }
}

impl<'a> GenRef<'a> {
    /// The generation ends at `end`, every byte before it captured.
    pub(crate) fn closed(&self, end: u64, why: Closing) -> Event {
        Event::Closed {
            source: self.source.to_owned(),
            path: self.path.to_owned(),
            dev: self.id.dev,
            ino: self.id.ino,
            gen_id: self.gen_id,
            end,
            reason: why.as_str().into(),
        }
    }

    /// Bytes from `from` on (if any) are lost; `size_seen` is the size last seen, where known.
    pub(crate) fn gap(&self, from: u64, size_seen: Option<u64>, reason: String) -> Event {
        Event::Gap {
            source: self.source.to_owned(),
            path: self.path.to_owned(),
            dev: self.id.dev,
            ino: self.id.ino,
            gen_id: self.gen_id,
            from,
            size_seen,
            reason,
        }
    }

    /// The generation's file, closed at `end`, was written again and now holds `len` bytes:
    /// those from `end` on are not captured.
    pub(crate) fn written_after_close(&self, end: u64, len: u64) -> Event {
        self.gap(
            end,
            Some(len),
            "written after its generation was closed; the bytes from this offset on were not captured"
                .into(),
        )
    }

    /// The file cannot be opened or read: it is not being captured.
    pub(crate) fn unreadable(&self, error: &std::io::Error) -> Event {
        Event::Unreadable {
            source: self.source.to_owned(),
            path: self.path.to_owned(),
            dev: self.id.dev,
            ino: self.id.ino,
            gen_id: self.gen_id,
            error: error.to_string(),
        }
    }

    /// The file recorded as unreadable is read again, as this generation.
    pub(crate) fn readable(&self) -> Event {
        Event::Readable {
            source: self.source.to_owned(),
            path: self.path.to_owned(),
            dev: self.id.dev,
            ino: self.id.ino,
            gen_id: self.gen_id,
        }
    }

    /// The file was damaged outside a rotation after `captured` bytes were captured.
    pub(crate) fn tamper(&self, captured: u64, size_now: Option<u64>, what: Damage) -> Event {
        Event::Tamper {
            source: self.source.to_owned(),
            path: self.path.to_owned(),
            dev: self.id.dev,
            ino: self.id.ino,
            gen_id: self.gen_id,
            captured,
            size_now,
            what: what.as_str().into(),
        }
    }

    /// The origin of a chunk read at `start` at wall-clock time `now` (`read_at` is its text
    /// form), with the digests of the generation's head and tail windows after it.
    pub(crate) fn origin(
        &self,
        start: u64,
        head: Sha256,
        tail: Sha256,
        now: SystemTime,
        read_at: &'a str,
    ) -> ChunkOrigin<'a> {
        ChunkOrigin {
            source: self.source,
            path: self.path,
            dev: self.id.dev,
            ino: self.id.ino,
            gen_id: self.gen_id,
            start,
            head,
            tail,
            read_at,
            read_unix: now
                .duration_since(SystemTime::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
            cursor: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use logkeep_format::Timestamp;

    const GEN: GenRef<'static> = GenRef {
        source: "vpn",
        path: "/var/log/vpn.log",
        id: FileId { dev: 3, ino: 44 },
        gen_id: 7,
    };

    #[test]
    fn closed_names_the_generation_and_its_end() {
        let e = GEN.closed(120, Closing::Rotated);
        assert_eq!(e.kind(), "closed");
        match e {
            Event::Closed {
                source,
                path,
                dev,
                ino,
                gen_id,
                end,
                reason,
            } => {
                assert_eq!(
                    (source.as_str(), path.as_str()),
                    ("vpn", "/var/log/vpn.log")
                );
                assert_eq!((dev, ino, gen_id, end), (3, 44, 7, 120));
                assert_eq!(reason, "rotated");
            }
            other => panic!("not closed: {other:?}"),
        }
        assert!(matches!(
            GEN.closed(0, Closing::Deleted),
            Event::Closed { reason, .. } if reason == "deleted"
        ));
    }

    #[test]
    fn gap_carries_its_offset_size_and_reason() {
        match GEN.gap(9, Some(10), "why".into()) {
            Event::Gap {
                dev,
                ino,
                gen_id,
                from,
                size_seen,
                reason,
                ..
            } => {
                assert_eq!((dev, ino, gen_id, from, size_seen), (3, 44, 7, 9, Some(10)));
                assert_eq!(reason, "why");
            }
            other => panic!("not a gap: {other:?}"),
        }
    }

    #[test]
    fn tamper_says_what_happened() {
        for (what, text) in [
            (Damage::Truncated, "truncated"),
            (Damage::Rewritten, "rewritten"),
            (Damage::Deleted, "deleted"),
        ] {
            match GEN.tamper(5, None, what) {
                Event::Tamper {
                    captured,
                    size_now,
                    what,
                    gen_id,
                    ..
                } => {
                    assert_eq!((captured, size_now, gen_id), (5, None, 7));
                    assert_eq!(what, text);
                }
                other => panic!("not tamper: {other:?}"),
            }
        }
    }

    #[test]
    fn a_chunk_origin_borrows_the_generation_s_names() {
        let now = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(90);
        let at = Timestamp::from(now).to_rfc3339();
        let o = GEN.origin(64, Sha256::of(b"h"), Sha256::of(b"t"), now, &at);
        assert_eq!((o.source, o.path), ("vpn", "/var/log/vpn.log"));
        assert_eq!((o.dev, o.ino, o.gen_id, o.start), (3, 44, 7, 64));
        assert_eq!((o.head, o.tail), (Sha256::of(b"h"), Sha256::of(b"t")));
        assert_eq!(o.read_unix, 90);
        assert_eq!(o.read_at, "1970-01-01T00:01:30.000000000Z");
    }

    #[test]
    fn wall_clock_format() {
        let t = SystemTime::UNIX_EPOCH + std::time::Duration::new(1_790_000_000, 5);
        assert_eq!(
            Timestamp::from(t).to_rfc3339(),
            "2026-09-21T14:13:20.000000005Z"
        );
    }
}
