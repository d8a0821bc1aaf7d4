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
//! That is layout 1 ("flat"), which every store written before layout 2 has. Layout 2
//! (`"layout": 2` in `logkeep-store.json`) keeps the same file names but puts them in shard
//! directories of [`SHARD_RECORDS`] sequence numbers each, and packs every complete run of
//! [`PACK_RECORDS`] records into one immutable file:
//!
//! ```text
//!   chain/000000000000/0000000000000001.json        a record not packed yet (the newest ones)
//!   chain/000000000000/0000000000004096.pack        records 4096..=8191, one per line, exact bytes
//!   segments/000000000000/0000000000000002-<sha256>.tar.zst
//! ```
//!
//! Shard `k` holds sequence numbers `k * 65536 ..= k * 65536 + 65535`, so no directory ever
//! holds more than 65,536 segments, or 16 packs plus 4,096 records, whatever the seal rate:
//! [`Layout`] answers where a record or segment lives, and every reader asks it.
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
/// The store's start-up cache (layout 2 stores and flat ones alike): the state the daemon
/// derives from the chain, tagged with the head it was derived from. Not evidence: never
/// copied to media or bundles, never verified; a reader that does not know it ignores it.
pub const CACHE_FILE: &str = "replay-cache.json";
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
    /// The directory layout: absent for layout 1 (flat), `2` for sharded and packed
    /// ([`Layout`]). Readers refuse any other value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layout: Option<u32>,
    /// Layout 2: records per pack, a power of two from 2 to [`SHARD_RECORDS`] (new stores:
    /// [`PACK_RECORDS`]). Absent in layout 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pack: Option<u64>,
}

/// Sequence numbers per shard directory (layout 2): `2^16`.
pub const SHARD_RECORDS: u64 = 1 << 16;
/// Records per pack file of new stores (layout 2): `2^12`. A pack of `P` records holds the
/// records `k * P ..= k * P + P - 1` (the first one, which has no record 0, `1 ..= P - 1`).
pub const PACK_RECORDS: u64 = 1 << 12;
/// The `layout` value of a sharded and packed store.
pub const LAYOUT_SHARDED: u32 = 2;
/// Extension of a pack file.
pub const PACK_SUFFIX: &str = ".pack";

/// Where a store's records and segments live (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Layout {
    /// Layout 1: `chain/` and `segments/` hold every file directly, one file per record.
    #[default]
    Flat,
    /// Layout 2: shard directories of [`SHARD_RECORDS`], records packed by runs of `pack`.
    Sharded {
        /// Records per pack (`logkeep-store.json`'s `pack`).
        pack: u64,
    },
}

impl Layout {
    /// Layout 2 with the pack size of new stores.
    pub const SHARDED: Layout = Layout::Sharded { pack: PACK_RECORDS };

    /// The layout a `logkeep-store.json` declares; `Err` saying why when it is not one this
    /// logkeep knows.
    pub fn of(info: &StoreInfo) -> Result<Layout, String> {
        match (info.layout, info.pack) {
            (None | Some(1), None) => Ok(Layout::Flat),
            (Some(LAYOUT_SHARDED), Some(pack))
                if pack.is_power_of_two() && (2..=SHARD_RECORDS).contains(&pack) =>
            {
                Ok(Layout::Sharded { pack })
            }
            (Some(LAYOUT_SHARDED), pack) => Err(format!(
                "layout 2 needs \"pack\", a power of two from 2 to {SHARD_RECORDS} (it has {pack:?})"
            )),
            (None | Some(1), Some(_)) => Err("\"pack\" belongs to layout 2 only".into()),
            (Some(n), _) => Err(format!(
                "unsupported store layout {n} (this logkeep reads layouts 1 and {LAYOUT_SHARDED})"
            )),
        }
    }

    /// Whether this is layout 2.
    pub fn is_sharded(self) -> bool {
        matches!(self, Layout::Sharded { .. })
    }

    /// Records per pack (1 in the flat layout, where nothing is packed).
    pub fn pack_records(self) -> u64 {
        match self {
            Layout::Flat => 1,
            Layout::Sharded { pack } => pack,
        }
    }

    /// The first record of the pack holding record `seq`.
    pub fn pack_first(self, seq: u64) -> u64 {
        let p = self.pack_records();
        (seq / p * p).max(1)
    }

    /// The last record of the pack holding record `seq`.
    pub fn pack_last(self, seq: u64) -> u64 {
        let p = self.pack_records();
        seq / p * p + (p - 1)
    }

    /// The first record of a pack file name, if it is one (and starts a pack).
    pub fn parse_pack_name(self, name: &str) -> Option<u64> {
        let first = parse_seq(name.strip_suffix(PACK_SUFFIX)?)?;
        (self.is_sharded() && self.pack_first(first) == first).then_some(first)
    }

    /// Largest pack a reader reads: every one of its records at the record limit.
    pub fn max_pack_bytes(self) -> u64 {
        self.pack_records() * crate::record::MAX_RECORD_BYTES
    }

    /// The layout of the store (or medium) at `root`, from its `logkeep-store.json`: flat when
    /// the file is absent or cannot be read (verification reports that on its own).
    pub fn detect(root: &std::path::Path) -> Layout {
        let path = root.join(STORE_FILE);
        crate::untrusted::read_bounded(&path, 1 << 20)
            .ok()
            .and_then(|b| serde_json::from_slice::<StoreInfo>(&b).ok())
            .and_then(|i| Layout::of(&i).ok())
            .unwrap_or_default()
    }

    /// The directory holding record `seq`'s file (and its pack), relative to the store.
    pub fn record_dir(self, seq: u64) -> String {
        match self {
            Layout::Flat => CHAIN_DIR.to_owned(),
            Layout::Sharded { .. } => format!("{CHAIN_DIR}/{}", shard_name(seq)),
        }
    }

    /// The file of record `seq` while it is not packed, relative to the store.
    pub fn record_rel(self, seq: u64) -> String {
        format!("{}/{}", self.record_dir(seq), record_name(seq))
    }

    /// The pack that holds record `seq` once its run is complete, relative to the store
    /// (`None` in the flat layout).
    pub fn pack_rel(self, seq: u64) -> Option<String> {
        match self {
            Layout::Flat => None,
            Layout::Sharded { .. } => Some(format!(
                "{}/{}",
                self.record_dir(seq),
                pack_name(self.pack_first(seq))
            )),
        }
    }

    /// The directory holding the segment committed by record `seq`, relative to the store.
    pub fn segment_dir(self, seq: u64) -> String {
        match self {
            Layout::Flat => SEGMENTS_DIR.to_owned(),
            Layout::Sharded { .. } => format!("{SEGMENTS_DIR}/{}", shard_name(seq)),
        }
    }

    /// The segment file `file` (its name, as the record gives it) committed by record `seq`,
    /// relative to the store.
    pub fn segment_rel(self, seq: u64, file: &str) -> String {
        format!("{}/{file}", self.segment_dir(seq))
    }

    /// The values of `layout` and `pack` `logkeep-store.json` carries for this layout.
    pub fn values(self) -> (Option<u32>, Option<u64>) {
        match self {
            Layout::Flat => (None, None),
            Layout::Sharded { pack } => (Some(LAYOUT_SHARDED), Some(pack)),
        }
    }
}

/// Name of the shard directory holding sequence number `seq`: `seq / 65536` in 12 digits.
pub fn shard_name(seq: u64) -> String {
    format!("{:012}", seq / SHARD_RECORDS)
}

/// The shard number of a shard directory name, if it is one.
pub fn parse_shard_name(name: &str) -> Option<u64> {
    if name.len() != 12 || !name.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    name.parse().ok()
}

/// File name of the pack whose first record is `first`.
pub fn pack_name(first: u64) -> String {
    format!("{first:016}{PACK_SUFFIX}")
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

    #[test]
    fn sharded_names_are_bounded_by_construction() {
        let l = Layout::SHARDED;
        assert_eq!(l.record_rel(1), "chain/000000000000/0000000000000001.json");
        assert_eq!(
            l.record_rel(65_536),
            "chain/000000000001/0000000000065536.json"
        );
        assert_eq!(
            l.pack_rel(5).as_deref(),
            Some("chain/000000000000/0000000000000001.pack")
        );
        assert_eq!(
            l.pack_rel(8191).as_deref(),
            Some("chain/000000000000/0000000000004096.pack")
        );
        assert_eq!((l.pack_first(4096), l.pack_last(4096)), (4096, 8191));
        assert_eq!((l.pack_first(4095), l.pack_last(4095)), (1, 4095));
        // A pack never straddles two shards.
        assert_eq!(
            shard_name(l.pack_first(65_535)),
            shard_name(l.pack_last(65_535))
        );
        assert_eq!(l.parse_pack_name(&pack_name(4096)), Some(4096));
        assert_eq!(l.parse_pack_name("0000000000004097.pack"), None);
        let small = Layout::Sharded { pack: 8 };
        assert_eq!((small.pack_first(9), small.pack_last(9)), (8, 15));
        let info = |layout, pack| StoreInfo {
            format: "logkeep-store".into(),
            v: 2,
            store: "s".into(),
            created: "c".into(),
            layout,
            pack,
        };
        assert_eq!(Layout::of(&info(None, None)), Ok(Layout::Flat));
        assert_eq!(Layout::of(&info(Some(2), Some(8))), Ok(small));
        assert!(Layout::of(&info(Some(2), None)).is_err());
        assert!(Layout::of(&info(Some(2), Some(12))).is_err());
        assert!(Layout::of(&info(Some(3), Some(8))).is_err());
        assert!(Layout::of(&info(None, Some(8))).is_err());
        assert_eq!(parse_shard_name(&shard_name(3 << 16)), Some(3));
        assert_eq!(
            l.segment_rel(70_000, "x"),
            "segments/000000000001/x".to_owned()
        );
        assert_eq!(Layout::Flat.record_rel(7), "chain/0000000000000007.json");
        assert_eq!(Layout::Flat.pack_rel(7), None);
    }
}
