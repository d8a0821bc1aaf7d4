//! Where things live in a store directory, and what their names look like.
//!
//! ```text
//! STORE/
//!   logkeep-store.json                     store identity, written once
//!   head.json                              newest committed record (a hint, rewritten each commit)
//!   chain/0000000000000001.json            chain records, one per file, 16-digit sequence
//!   segments/0000000000000002-<sha256>.tar.zst   segments, named by sequence and file hash
//!   wal/SOURCE/00000000000000000001.wal    syslog write-ahead log (not evidence: captured
//!                                          into segments like any log file, then deleted)
//! ```
//!
//! Names starting with `.tmp-` are files being written; a crash can leave them behind and the
//! daemon removes them on start. Verification reports any other name as an extra file.

use crate::hash::Sha256;
use serde::{Deserialize, Serialize};

/// File holding the store's identity.
pub const STORE_FILE: &str = "logkeep-store.json";
/// File naming the newest committed record.
pub const HEAD_FILE: &str = "head.json";
/// Directory of chain records.
pub const CHAIN_DIR: &str = "chain";
/// Directory of segments.
pub const SEGMENTS_DIR: &str = "segments";
/// Directory of the syslog listeners' write-ahead logs, one subdirectory per source. Not
/// evidence: what it holds is captured into segments like any log file.
pub const WAL_DIR: &str = "wal";
/// Identity file of an offline medium (a store copy on a separate disk).
pub const MEDIUM_FILE: &str = "logkeep-medium.json";
/// On a medium: the newest head of its source store it has seen (it may hold less).
pub const SEEN_FILE: &str = "seen-head.json";
/// Prefix of files being written.
pub const TMP_PREFIX: &str = ".tmp-";

/// Contents of `logkeep-store.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreInfo {
    /// Always `"logkeep-store"`.
    pub format: String,
    /// Format version; always 1.
    pub v: u32,
    /// Random id (32 hex characters), repeated in every record and manifest.
    pub store: String,
    /// When the store was created, RFC 3339 UTC.
    pub created: String,
}

/// Contents of `head.json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Head {
    /// Sequence number of the newest record.
    pub seq: u64,
    /// SHA-256 of that record's file.
    pub hash: Sha256,
}

/// File name of record `seq` inside `chain/`.
pub fn record_name(seq: u64) -> String {
    format!("{seq:016}.json")
}

/// File name of the segment committed by record `seq` inside `segments/`.
pub fn segment_name(seq: u64, sha256: &Sha256) -> String {
    format!("{seq:016}-{sha256}.tar.zst")
}

/// The sequence number of a record file name, if it is one.
pub fn parse_record_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".json")?;
    parse_seq(digits)
}

/// The sequence number and hash of a segment file name, if it is one.
pub fn parse_segment_name(name: &str) -> Option<(u64, Sha256)> {
    let stem = name.strip_suffix(".tar.zst")?;
    let (digits, hash) = stem.split_once('-')?;
    Some((parse_seq(digits)?, Sha256::parse(hash)?))
}

fn parse_seq(digits: &str) -> Option<u64> {
    if digits.len() != 16 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok().filter(|&n| n > 0)
}

/// Whether `id` is acceptable as a source id: 1 to 64 of `A-Z a-z 0-9 . _ -`, not starting
/// with a dot. Source ids become directory names in segments and extracted trees.
pub fn valid_source_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && !id.starts_with('.')
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        let h = Sha256::of(b"s");
        assert_eq!(parse_record_name(&record_name(42)), Some(42));
        assert_eq!(parse_segment_name(&segment_name(42, &h)), Some((42, h)));
        assert_eq!(parse_record_name("0000000000000000.json"), None);
        assert_eq!(parse_record_name("000000000000001.json"), None);
        assert_eq!(parse_segment_name("0000000000000001-xyz.tar.zst"), None);
        assert!(valid_source_id("openvpn-1.a_b"));
        assert!(!valid_source_id(".."));
        assert!(!valid_source_id("a/b"));
    }
}
