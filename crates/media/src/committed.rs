//! The one list of what a copy of the store holds: every committed file, in commit order.
//!
//! Every target of the replication engine — a medium directory, an S3 remote — copies the store
//! by walking this list, so the store's layout is known here alone. Each file is immutable once
//! committed, which is what lets a copy be checked once and trusted afterwards. A target names
//! a file by its path relative to the store ([`CommittedFile::rel`]): a medium writes it there,
//! a remote appends it to its prefix.

use logkeep_format::chain::{ChainError, ChainReader};
use logkeep_format::layout::{self, Head};
use logkeep_format::{Event, Sha256};
use std::path::{Path, PathBuf};

/// One committed file of the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedFile {
    /// What it is.
    pub kind: Kind,
    /// Its path relative to the store (`chain/0000000000000007.json`), `/`-separated.
    pub rel: String,
    /// Its file name (the last component of `rel`).
    pub name: String,
    /// Where it is in the store.
    pub path: PathBuf,
    /// Its SHA-256, as the chain says.
    pub sha256: Sha256,
    /// Its size, when the chain says it (segments).
    pub size: Option<u64>,
    /// The sequence number of the record: the record itself, or the one that commits the
    /// segment.
    pub seq: u64,
}

/// Kinds of committed file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A segment: copied before the record that commits it.
    Segment,
    /// A chain record.
    Record(Head),
}

/// The committed files of the store at `root` (id `store_id`) after `after` (from the first
/// record if `None`), in commit order: each segment, then the record that commits it. Only
/// records that continue the chain are listed; the walk ends at the first that does not, with
/// its error. A segment listed may be missing from the store (pruned): the caller decides.
pub fn committed_files(root: &Path, store_id: &str, after: Option<Head>) -> CommittedFiles {
    let reader = match after {
        Some(h) => ChainReader::after(root, h),
        None => ChainReader::new(root),
    }
    .of_store(store_id);
    CommittedFiles {
        root: root.to_owned(),
        reader,
        pending: None,
    }
}

/// The iterator [`committed_files`] returns.
pub struct CommittedFiles {
    root: PathBuf,
    reader: ChainReader,
    pending: Option<CommittedFile>,
}

impl CommittedFiles {
    /// The sequence number of the record the walk reads next.
    pub fn next_seq(&self) -> u64 {
        self.reader.next_seq()
    }
}

impl Iterator for CommittedFiles {
    type Item = Result<CommittedFile, ChainError>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(p) = self.pending.take() {
            return Some(Ok(p));
        }
        let link = match self.reader.next()? {
            Ok(l) => l,
            Err(e) => return Some(Err(e)),
        };
        let name = layout::record_name(link.record.seq);
        let record = CommittedFile {
            kind: Kind::Record(link.head()),
            rel: format!("{}/{name}", layout::CHAIN_DIR),
            name,
            path: link.path.clone(),
            sha256: link.hash,
            size: None,
            seq: link.record.seq,
        };
        if let Event::Segment {
            file, sha256, size, ..
        } = &link.record.event
        {
            self.pending = Some(record);
            return Some(Ok(CommittedFile {
                kind: Kind::Segment,
                rel: format!("{}/{file}", layout::SEGMENTS_DIR),
                name: file.clone(),
                path: self.root.join(layout::SEGMENTS_DIR).join(file),
                sha256: *sha256,
                size: Some(*size),
                seq: link.record.seq,
            }));
        }
        Some(Ok(record))
    }
}
