//! Chain records: one JSON object per file, each bound to its predecessor by hash.
//!
//! A record's hash is the SHA-256 of its file's exact bytes, so `sha256sum` of record `n` equals
//! the `prev` field of record `n + 1`. Parsing is strict: unknown fields, duplicate fields and
//! unknown versions are errors, so two verifiers cannot read one record two ways.

use crate::hash::Sha256;
use crate::layout::Head;
use serde::{Deserialize, Serialize};

/// Version 1 of records and stores, and the version of segment manifests in both formats
/// (format 2 changed the chain, not the segments).
pub const FORMAT_VERSION: u32 = 1;

/// Version 2 of records and stores: what new stores are written in. It adds the `epoch` and
/// `checkpoint` records (forward-secure seals, see [`crate::seal`]); everything else is as in
/// version 1.
pub const FORMAT_V2: u32 = 2;

/// Whether this crate reads records and stores of version `v`.
pub fn known_version(v: u64) -> bool {
    v == u64::from(FORMAT_VERSION) || v == u64::from(FORMAT_V2)
}

/// Largest record file a verifier reads. Records are small; anything bigger is hostile.
pub const MAX_RECORD_BYTES: u64 = 16 * 1024 * 1024;

/// One link of the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    /// Format version: 1 or 2, the version of the store. Readers abort on any other value.
    pub v: u32,
    /// Position in the chain, starting at 1, without holes.
    pub seq: u64,
    /// SHA-256 of the previous record file; all zero for `seq` 1.
    pub prev: Sha256,
    /// Id of the store that wrote the chain (from `logkeep-store.json`).
    pub store: String,
    /// Wall-clock time of the commit, RFC 3339 in UTC.
    pub wall: String,
    /// Nanoseconds since boot (CLOCK_BOOTTIME) at the commit; with `host.boot_id` it orders
    /// records even when the wall clock jumps.
    pub mono_ns: u64,
    /// The machine that wrote the record.
    pub host: Host,
    /// What happened.
    pub event: Event,
}

/// Identity of the machine that wrote a record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Host {
    /// The kernel's host name.
    pub hostname: String,
    /// `/etc/machine-id`, or empty when the machine has none.
    pub machine_id: String,
    /// `/proc/sys/kernel/random/boot_id`, or empty when unknown.
    pub boot_id: String,
}

/// A contiguous byte range `[start, end)` of one file generation, as listed in a segment record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Span {
    /// Source id from the configuration.
    pub source: String,
    /// Absolute path the bytes were read from.
    pub path: String,
    /// Device number of the file (st_dev).
    pub dev: u64,
    /// Inode number of the file (st_ino).
    pub ino: u64,
    /// Generation number, unique within the store, given to each file identity logkeep sees.
    pub gen_id: u64,
    /// First byte offset captured.
    pub start: u64,
    /// One past the last byte offset captured.
    pub end: u64,
    /// SHA-256 of the generation's first `min(end, HEAD_LEN)` bytes: with `dev` and `ino`, how
    /// logkeep recognises the file again after a restart.
    pub head: Sha256,
    /// SHA-256 of the generation's `min(end, TAIL_LEN)` bytes before `end`: with `head`, how
    /// logkeep tells apart, after a restart, generations that begin alike (a rotated copy, a
    /// reused inode).
    pub tail: Sha256,
    /// Journal sources only: the `__CURSOR` of the last journal entry that ends at `end`, the
    /// position capture resumes after. Absent (not written) for files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

/// How many leading bytes of a generation the `head` digests cover.
pub const HEAD_LEN: u64 = 1024;

/// How many bytes before a span's end the `tail` digests cover.
pub const TAIL_LEN: u64 = 1024;

/// A configured source, as recorded in a `config` event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceDecl {
    /// Source id.
    pub id: String,
    /// Paths and glob patterns.
    pub paths: Vec<String>,
    /// The parser family the timeline tries first for the source's lines (`preset = "..."`).
    /// Absent (not written) when the source has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preset: Option<String>,
}

/// The payload of a record. Serialized with a `kind` tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Event {
    /// A sealed segment.
    Segment {
        /// File name inside `segments/`.
        file: String,
        /// SHA-256 of the segment file as stored (compressed).
        sha256: Sha256,
        /// Size of the segment file in bytes.
        size: u64,
        /// Size of the decompressed content in bytes.
        content_size: u64,
        /// SHA-256 of the segment's manifest member, which lists every data member's digest:
        /// binds what the segment means, the captured bytes, apart from how they were compressed.
        manifest_sha256: Sha256,
        /// Wall-clock time of the first read in the segment (RFC 3339, UTC).
        first: String,
        /// Wall-clock time of the last read in the segment (RFC 3339, UTC).
        last: String,
        /// The captured ranges in the order their members appear in the segment; adjacent
        /// members of one generation are merged into one span.
        spans: Vec<Span>,
    },
    /// The daemon started.
    Start {
        /// logkeep version.
        version: String,
        /// Process id of the daemon.
        pid: u32,
    },
    /// A configuration was loaded.
    Config {
        /// Path of the configuration file.
        path: String,
        /// SHA-256 of the configuration file's bytes.
        sha256: Sha256,
        /// The sources it declares.
        sources: Vec<SourceDecl>,
    },
    /// A source appeared in the configuration that the previous configuration did not have.
    SourceAdded {
        /// Source id.
        source: String,
    },
    /// A source of the previous configuration is no longer configured.
    SourceRemoved {
        /// Source id.
        source: String,
    },
    /// The daemon stopped cleanly after sealing everything it had read.
    Stop {
        /// Why (`SIGTERM`, `SIGINT`, ...).
        reason: String,
    },
    /// Nothing to seal for a while; proves the chain was alive.
    Heartbeat {},
    /// Bytes that could not be captured. Loss is recorded, never silent.
    Gap {
        /// Source id.
        source: String,
        /// Path of the file.
        path: String,
        /// Device number, 0 if never known.
        dev: u64,
        /// Inode number, 0 if never known.
        ino: u64,
        /// Generation, 0 if none was assigned.
        gen_id: u64,
        /// First offset not captured.
        from: u64,
        /// Last size seen (the bytes `[from, size_seen)` are lost), if known.
        size_seen: Option<u64>,
        /// What happened.
        reason: String,
    },
    /// A file shrank below what was captured, or vanished, outside a recognised rotation.
    Tamper {
        /// Source id.
        source: String,
        /// Path of the file.
        path: String,
        /// Device number.
        dev: u64,
        /// Inode number.
        ino: u64,
        /// Generation that was being captured.
        gen_id: u64,
        /// Bytes captured from that generation.
        captured: u64,
        /// Size seen now (`None` when the file is gone).
        size_now: Option<u64>,
        /// What was seen (`truncated`, `deleted`, ...).
        what: String,
    },
    /// A file that a source's patterns match could not be opened or read: it exists and its
    /// bytes are not being captured. Written once when that starts; [`Event::Readable`] ends it.
    Unreadable {
        /// Source id.
        source: String,
        /// Path of the file.
        path: String,
        /// st_dev.
        dev: u64,
        /// st_ino.
        ino: u64,
        /// Generation, 0 when the file was never followed (it could not be opened).
        gen_id: u64,
        /// The error, as the system gave it.
        error: String,
    },
    /// A file recorded as [`Event::Unreadable`] could be read again: it is captured from here
    /// on as generation `gen_id`.
    Readable {
        /// Source id.
        source: String,
        /// Path of the file.
        path: String,
        /// st_dev.
        dev: u64,
        /// st_ino.
        ino: u64,
        /// The generation it is captured as.
        gen_id: u64,
    },
    /// logkeep stopped following a generation: it was rotated away or deleted, read to its end
    /// and left idle. Rotation history, and the end of what is expected of that generation.
    Closed {
        /// Source id.
        source: String,
        /// Path it was last seen at.
        path: String,
        /// st_dev.
        dev: u64,
        /// st_ino.
        ino: u64,
        /// Generation.
        gen_id: u64,
        /// Bytes captured, all of them committed.
        end: u64,
        /// `rotated`, `replaced`, `deleted`, `unwatched` or `wal-cut`.
        reason: String,
    },
    /// Something happened to an offline medium.
    Medium {
        /// Medium id.
        medium: String,
        /// `attached`, `caught_up`, `detached`, `missing`, `failed` or `recovered`.
        what: String,
        /// The medium's head at that moment, if known.
        head: Option<Head>,
        /// Details (the error of a failure, counts of a catch-up).
        detail: Option<String>,
    },
    /// Something happened to a remote (an S3 bucket with Object Lock holding a copy).
    Remote {
        /// Remote id, as configured in `[[remote]] id`.
        remote: String,
        /// `reachable`, `caught_up`, `failed` or `recovered`.
        what: String,
        /// The newest record the remote held, read back, at that moment, if known.
        head: Option<Head>,
        /// Details (the error of a failure, counts of a catch-up).
        detail: Option<String>,
    },
    /// A segment was removed from the local store after it was copied to enough media.
    Pruned {
        /// Sequence number of the segment's record.
        seq: u64,
        /// Its file name.
        file: String,
        /// The media holding verified copies.
        media: Vec<String>,
    },
    /// A segment left without its record by a crash was checked and committed on restart.
    Recovered {
        /// File name inside `segments/` of the segment committed by the previous record.
        file: String,
    },
    /// An emergency snapshot: everything the sources held was sealed, and the host's volatile
    /// context (users, network, processes) was captured into the segment `context` commits.
    Snapshot {
        /// Snapshot id, also the directory of its files: `/logkeep/snapshot/<id>/`.
        id: String,
        /// Why, as the requester said (`None` when no reason was given).
        reason: Option<String>,
        /// Who asked: the requesting process's uid, from the kernel (SO_PEERCRED).
        uid: u32,
        /// The requesting process's pid, from the kernel (SO_PEERCRED).
        pid: u32,
        /// When the request arrived, RFC 3339 UTC.
        requested: String,
        /// Sequence number of the `segment` record holding the host context files.
        context: u64,
    },
    /// An incident drill: a bundle was exported from a medium or a remote, verified and read
    /// back as an investigator would on the day, and this is its verdict. Recorded by the daemon at the
    /// end of `logkeep drill`, so the chain shows when the arrangements were last proven.
    Drill {
        /// `passed` or `failed`.
        verdict: String,
        /// The medium the bundle was exported from, if one could be used.
        medium: Option<String>,
        /// SHA-256 of the drill's bundle, if one was written (the bundle itself is not kept).
        bundle: Option<Sha256>,
        /// Milliseconds from the start of the drill (the "incident") to a verified bundle, if
        /// one was reached.
        verified_ms: Option<u64>,
        /// What would fail on the day, one line each; empty when the drill passed.
        failures: Vec<String>,
        /// Who ran it: the requesting process's uid, from the kernel (SO_PEERCRED).
        uid: u32,
        /// The remote the bundle was exported from (`drill --remote`), instead of a medium;
        /// absent otherwise.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        remote: Option<String>,
    },
    /// Format 2: a key statement. An epoch key was introduced: by the root key (an enrolment,
    /// `head` null) or by the previous epoch's key at a switch. See [`crate::seal`].
    Epoch {
        /// Epoch number, 1 or more, strictly increasing along the chain.
        epoch: u64,
        /// The epoch's Ed25519 public key, base64 of its 32 bytes.
        key: String,
        /// The chain head when the switch was made; `None` for an enrolment.
        head: Option<Head>,
        /// The public key that signed the statement (base64): the root for an enrolment, else
        /// the previous epoch's key.
        signer_key: String,
        /// Ed25519 signature (base64 of 64 bytes) of the statement text.
        sig: String,
    },
    /// A journal file began to be captured as generation `gen_id` (journal sources), with what
    /// its header says of journald's own sealing (Forward Secure Sealing).
    JournalFile {
        /// Source id.
        source: String,
        /// Path of the journal file.
        path: String,
        /// st_dev.
        dev: u64,
        /// st_ino.
        ino: u64,
        /// The generation its entries are captured as.
        gen_id: u64,
        /// The file's 128-bit id from its header, as 32 lowercase hex digits.
        file_id: String,
        /// Whether journald sealed the file (FSS: the header's compatible flag `SEALED`).
        sealed: bool,
        /// The header's state when capture began: `offline`, `online` or `archived`.
        state: String,
        /// The entry capture begins after (`None`: the file's first entry).
        after_cursor: Option<String>,
    },
    /// A file rewritten in place (a source with `rewritten = true`) was captured whole as
    /// generation `gen_id`: one version of its content. The generation ends here.
    Version {
        /// Source id.
        source: String,
        /// Path of the file.
        path: String,
        /// st_dev.
        dev: u64,
        /// st_ino.
        ino: u64,
        /// The generation holding this version, bytes `[0, size)`.
        gen_id: u64,
        /// Size of the version in bytes.
        size: u64,
        /// SHA-256 of the version's bytes.
        sha256: Sha256,
        /// The file's modification time when it was read (RFC 3339, UTC).
        modified: String,
    },
    /// The wall clock moved against the boot clock (CLOCK_BOOTTIME) since the record before,
    /// by more than clock discipline slews it: set back or forward by hand, stepped by NTP, or
    /// by an intruder. This record carries the new wall time; the records before it the old.
    /// Order is the sequence, whatever the wall times say.
    Clock {
        /// How far the wall clock moved beyond the time that passed on the boot clock, in
        /// nanoseconds: negative when it was set back.
        step_ns: i64,
    },
    /// Format 2: a signed checkpoint of the record directly before this one.
    Checkpoint {
        /// The epoch whose key signed.
        epoch: u64,
        /// The record directly before this one.
        head: Head,
        /// Ed25519 signature (base64 of 64 bytes) of the checkpoint text.
        sig: String,
    },
}

impl Event {
    /// The `kind` tag as written.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::Segment { .. } => "segment",
            Event::Start { .. } => "start",
            Event::Config { .. } => "config",
            Event::SourceAdded { .. } => "source_added",
            Event::SourceRemoved { .. } => "source_removed",
            Event::Stop { .. } => "stop",
            Event::Heartbeat {} => "heartbeat",
            Event::Gap { .. } => "gap",
            Event::Tamper { .. } => "tamper",
            Event::Closed { .. } => "closed",
            Event::Unreadable { .. } => "unreadable",
            Event::Readable { .. } => "readable",
            Event::Medium { .. } => "medium",
            Event::Remote { .. } => "remote",
            Event::Pruned { .. } => "pruned",
            Event::Recovered { .. } => "recovered",
            Event::Snapshot { .. } => "snapshot",
            Event::Drill { .. } => "drill",
            Event::Epoch { .. } => "epoch",
            Event::Checkpoint { .. } => "checkpoint",
            Event::JournalFile { .. } => "journal_file",
            Event::Version { .. } => "version",
            Event::Clock { .. } => "clock",
        }
    }
}

/// Why a record could not be read.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// Not JSON or not the v1 schema.
    #[error("not a valid record: {0}")]
    Syntax(#[from] serde_json::Error),
    /// A version this crate does not know; never guess.
    #[error(
        "unsupported record version {0} (this logkeep reads versions {FORMAT_VERSION} and {FORMAT_V2})"
    )]
    Version(u64),
    /// A record kind that its version does not have (a seal in a version 1 record).
    #[error("record kind {0:?} does not exist in format version 1")]
    KindNotInVersion(&'static str),
    /// The bytes are not exactly what the writer produces for the parsed value.
    #[error("record is not in canonical form (one line of compact JSON ending in a newline)")]
    NotCanonical,
}

#[derive(Deserialize)]
struct VersionProbe {
    v: u64,
}

impl Record {
    /// The exact bytes of a record file: compact JSON, fields in declaration order, one `\n`.
    pub fn to_bytes(&self) -> Vec<u8> {
        // Serializing plain structs, strings and integers cannot fail.
        let mut out = serde_json::to_vec(self).unwrap_or_default();
        out.push(b'\n');
        out
    }

    /// Parse a record file's bytes strictly: version first, then the v1 schema, then a check that
    /// the bytes are canonical so that the hash of the file is the hash of one meaning.
    pub fn parse(bytes: &[u8]) -> Result<Record, RecordError> {
        let probe: VersionProbe = serde_json::from_slice(bytes)?;
        if !known_version(probe.v) {
            return Err(RecordError::Version(probe.v));
        }
        let record: Record = serde_json::from_slice(bytes)?;
        if record.to_bytes() != bytes {
            return Err(RecordError::NotCanonical);
        }
        if record.v == FORMAT_VERSION
            && matches!(record.event, Event::Epoch { .. } | Event::Checkpoint { .. })
        {
            return Err(RecordError::KindNotInVersion(record.event.kind()));
        }
        Ok(record)
    }

    /// SHA-256 of the record file's bytes: the value the next record carries as `prev`.
    pub fn hash(&self) -> Sha256 {
        Sha256::of(&self.to_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Record {
        Record {
            v: 1,
            seq: 7,
            prev: Sha256::of(b"x"),
            store: "s".into(),
            wall: "2026-01-01T00:00:00Z".into(),
            mono_ns: 5,
            host: Host {
                hostname: "h".into(),
                machine_id: "m".into(),
                boot_id: "b".into(),
            },
            event: Event::Stop {
                reason: "SIGTERM".into(),
            },
        }
    }

    #[test]
    fn round_trip_is_exact() {
        let r = sample();
        let b = r.to_bytes();
        assert_eq!(Record::parse(&b).unwrap(), r);
        assert!(b.ends_with(b"}\n"));
        assert!(
            String::from_utf8(b)
                .unwrap()
                .contains(r#""event":{"kind":"stop","reason":"SIGTERM"}"#)
        );
    }

    #[test]
    fn unknown_version_is_refused_before_schema() {
        let err = Record::parse(br#"{"v":3,"whatever":true}"#).unwrap_err();
        assert!(matches!(err, RecordError::Version(3)), "{err}");
    }

    #[test]
    fn seal_kinds_exist_in_version_2_only() {
        let mut r = sample();
        r.v = FORMAT_V2;
        r.event = Event::Checkpoint {
            epoch: 1,
            head: Head {
                seq: 6,
                hash: Sha256::of(b"y"),
            },
            sig: "AAAA".into(),
        };
        assert_eq!(Record::parse(&r.to_bytes()).unwrap(), r);
        r.v = FORMAT_VERSION;
        assert!(matches!(
            Record::parse(&r.to_bytes()),
            Err(RecordError::KindNotInVersion("checkpoint"))
        ));
    }

    #[test]
    fn unknown_and_duplicate_fields_are_refused() {
        let b = String::from_utf8(sample().to_bytes()).unwrap();
        let extra = b.replacen("\"seq\":7", "\"seq\":7,\"extra\":1", 1);
        assert!(Record::parse(extra.as_bytes()).is_err());
        let extra_in_event = b.replacen("\"reason\"", "\"x\":1,\"reason\"", 1);
        assert!(Record::parse(extra_in_event.as_bytes()).is_err());
        let dup = b.replacen("\"seq\":7", "\"seq\":7,\"seq\":7", 1);
        assert!(Record::parse(dup.as_bytes()).is_err());
        let spaced = b.replacen("\"seq\":7", "\"seq\": 7", 1);
        assert!(matches!(
            Record::parse(spaced.as_bytes()),
            Err(RecordError::NotCanonical)
        ));
    }
}
