//! Reading a store directory's `chain/`: the one walk over record files and the one statement
//! of what makes a record continue the chain.
//!
//! [`ChainFiles`] opens record `N`, `N + 1`, ... where the store's [`Layout`] puts them until
//! the first one that does not exist, bounding each read by [`MAX_RECORD_BYTES`]. In layout 2
//! a record is in its own file until its run is packed, and then a line of its pack; a reader
//! takes the single file when there is one (a crash between writing a pack and removing the
//! files it replaces leaves both, identical) and the pack's line otherwise. [`ChainReader`] builds on it: it parses
//! each record strictly and checks its link with [`link_faults`] (the position it sits at,
//! the hash of its predecessor, the store it belongs to), yielding [`Link`]s and stopping at
//! the first record that does not continue the chain, with an error naming the file. The
//! store's replay, media copies, export and `head` lookups read through it; verification,
//! which must report every problem rather than stop at the first, walks [`ChainFiles`] and
//! lets its checker apply the same [`link_faults`].

use crate::hash::Sha256;
use crate::layout::{self, Head, Layout};
use crate::record::{MAX_RECORD_BYTES, Record, RecordError};
use crate::shown::text as esc;
use crate::untrusted::{self, Refused};
use std::fmt;
use std::io::{self, BufRead, Read};
use std::path::{Path, PathBuf};

/// Why a chain could not be read further. Every variant names the record file concerned.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    /// The record file exists but could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The record file.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// The record file is larger than any record ([`MAX_RECORD_BYTES`]): hostile or not one.
    #[error("{}: record is larger than {MAX_RECORD_BYTES} bytes", path.display())]
    TooLarge {
        /// The record file.
        path: PathBuf,
    },
    /// The record file is not a regular file (a link, a FIFO, a device, a directory): it was
    /// not opened or not read, and no link was followed.
    #[error("{}: {what}", path.display())]
    Refused {
        /// The record file.
        path: PathBuf,
        /// What it is, in one line.
        what: String,
    },
    /// The file is not a valid record.
    #[error("{}: {source}", path.display())]
    Invalid {
        /// The record file.
        path: PathBuf,
        /// What is wrong with it.
        source: RecordError,
    },
    /// A pack (layout 2) that does not hold its run: it ends before a record of its run, or
    /// holds more lines than its run has.
    #[error("{}: {what}", path.display())]
    Pack {
        /// The pack file.
        path: PathBuf,
        /// What is wrong, naming the record.
        what: String,
    },
    /// A valid record that does not continue the chain where it sits.
    #[error("{}: {fault}", path.display())]
    Broken {
        /// The record file.
        path: PathBuf,
        /// The first link check it fails.
        fault: LinkFault,
    },
}

impl ChainError {
    /// The record file the error is about.
    pub fn path(&self) -> &Path {
        match self {
            ChainError::Io { path, .. }
            | ChainError::TooLarge { path }
            | ChainError::Refused { path, .. }
            | ChainError::Pack { path, .. }
            | ChainError::Invalid { path, .. }
            | ChainError::Broken { path, .. } => path,
        }
    }

    /// What is wrong, without the file name.
    pub fn what(&self) -> String {
        match self {
            ChainError::Io { source, .. } => source.to_string(),
            ChainError::TooLarge { .. } => {
                format!("record is larger than {MAX_RECORD_BYTES} bytes")
            }
            ChainError::Refused { what, .. } | ChainError::Pack { what, .. } => what.clone(),
            ChainError::Invalid { source, .. } => source.to_string(),
            ChainError::Broken { fault, .. } => fault.to_string(),
        }
    }
}

/// One way a record fails to continue the chain at its position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkFault {
    /// The record's `seq` is not the position its file name gives it.
    Seq {
        /// The position (from the file name).
        at: u64,
        /// What the record says.
        says: u64,
    },
    /// The record's `prev` is not the hash of the record before it.
    Prev {
        /// The hash of the record before.
        expected: Sha256,
        /// What the record says.
        says: Sha256,
    },
    /// The record belongs to another store.
    Store {
        /// The store being read.
        expected: String,
        /// What the record says.
        says: String,
    },
}

impl fmt::Display for LinkFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LinkFault::Seq { at, says } => {
                write!(f, "record says seq {says} but sits at position {at}")
            }
            LinkFault::Prev { expected, says } => write!(
                f,
                "broken link: prev is {says} but the record before hashes to {expected}"
            ),
            LinkFault::Store { expected, says } => {
                write!(f, "belongs to store {} not {expected}", esc(says))
            }
        }
    }
}

/// The link checks of `record` found at position `at`: its `seq`, then (when the hash of the
/// record before is known) its `prev`, then (when the store is known) its store id. A record
/// continues the chain exactly when this yields nothing.
pub fn link_faults<'a>(
    record: &'a Record,
    at: u64,
    prev: Option<Sha256>,
    store: Option<&'a str>,
) -> impl Iterator<Item = LinkFault> + 'a {
    let seq = (record.seq != at).then_some(LinkFault::Seq {
        at,
        says: record.seq,
    });
    let prev = prev
        .filter(|p| *p != record.prev)
        .map(|expected| LinkFault::Prev {
            expected,
            says: record.prev,
        });
    let store = store
        .filter(|s| *s != record.store)
        .map(|expected| LinkFault::Store {
            expected: expected.to_owned(),
            says: record.store.clone(),
        });
    [seq, prev, store].into_iter().flatten()
}

/// Read a record file's bytes as untrusted input ([`untrusted::read_bounded`]): only a regular
/// file, never through a link, refusing one larger than [`MAX_RECORD_BYTES`]. `Ok(None)` when it
/// does not exist.
pub fn read_record_file(path: &Path) -> Result<Option<Vec<u8>>, ChainError> {
    match untrusted::read_bounded(path, MAX_RECORD_BYTES) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(Refused::Missing) => Ok(None),
        Err(Refused::TooLarge { .. }) => Err(ChainError::TooLarge {
            path: path.to_owned(),
        }),
        Err(r @ Refused::NotRegular(_)) => Err(ChainError::Refused {
            path: path.to_owned(),
            what: r.to_string(),
        }),
        Err(Refused::Io(source)) => Err(ChainError::Io {
            path: path.to_owned(),
            source,
        }),
    }
}

/// One record of a chain, as read from the disk (not yet parsed).
#[derive(Debug, Clone)]
pub struct RecordFile {
    /// Its position, from its name.
    pub seq: u64,
    /// Its file: the record's own, or the pack holding it.
    pub path: PathBuf,
    /// Its exact bytes.
    pub bytes: Vec<u8>,
    /// When read from a pack: its line number there (1 for the pack's first record).
    pub line: Option<u64>,
}

impl RecordFile {
    /// Where the record was read, relative to the store, for messages: `chain/…/N.json`, or
    /// `chain/…/F.pack line L`.
    pub fn rel(&self, layout: Layout) -> String {
        match (self.line, layout.pack_rel(self.seq)) {
            (Some(line), Some(pack)) => format!("{pack} line {line}"),
            _ => layout.record_rel(self.seq),
        }
    }
}

/// An open pack being read line by line.
#[derive(Debug)]
struct PackCursor {
    path: PathBuf,
    reader: io::BufReader<io::Take<std::fs::File>>,
    /// The record its next line holds.
    next: u64,
    /// The pack's first record.
    first: u64,
}

/// The records of a store's chain, by position from a first one, up to the first that does
/// not exist. Ends after an error.
#[derive(Debug)]
pub struct ChainFiles {
    root: PathBuf,
    layout: Layout,
    next: u64,
    done: bool,
    pack: Option<PackCursor>,
}

impl ChainFiles {
    /// The records of the store at `root` (in the layout its `logkeep-store.json` declares),
    /// from record `first`.
    pub fn new(root: &Path, first: u64) -> ChainFiles {
        ChainFiles::with_layout(root, Layout::detect(root), first)
    }

    /// The records of the store at `root` in layout `layout`, from record `first`.
    pub fn with_layout(root: &Path, layout: Layout, first: u64) -> ChainFiles {
        ChainFiles {
            root: root.to_owned(),
            layout,
            next: first.max(1),
            done: false,
            pack: None,
        }
    }

    /// A walk that yields nothing (a `chain/` that cannot be walked safely).
    pub fn empty() -> ChainFiles {
        ChainFiles {
            root: PathBuf::new(),
            layout: Layout::Flat,
            next: 1,
            done: true,
            pack: None,
        }
    }

    /// The position of the next file the walk opens.
    pub fn next_seq(&self) -> u64 {
        self.next
    }

    /// The layout walked.
    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// Record `seq` from its pack, opening the pack when the cursor is not on it. `Ok(None)`
    /// when there is no pack.
    fn packed(&mut self, seq: u64) -> Result<Option<RecordFile>, ChainError> {
        let Some(rel) = self.layout.pack_rel(seq) else {
            return Ok(None);
        };
        if self.pack.as_ref().is_none_or(|p| p.next != seq) {
            self.pack = None;
            let path = self.root.join(&rel);
            let (f, _) = match untrusted::open_bounded(&path, self.layout.max_pack_bytes()) {
                Ok(x) => x,
                Err(Refused::Missing) => return Ok(None),
                Err(Refused::Io(source)) => return Err(ChainError::Io { path, source }),
                Err(r) => {
                    return Err(ChainError::Refused {
                        what: r.to_string(),
                        path,
                    });
                }
            };
            let first = self.layout.pack_first(seq);
            let mut cursor = PackCursor {
                path,
                reader: io::BufReader::with_capacity(64 << 10, f),
                next: first,
                first,
            };
            while cursor.next < seq {
                cursor.line()?;
            }
            self.pack = Some(cursor);
        }
        let Some(cursor) = self.pack.as_mut() else {
            return Ok(None);
        };
        let line = cursor.next - cursor.first + 1;
        let bytes = cursor.line()?;
        let path = cursor.path.clone();
        if seq == self.layout.pack_last(seq) {
            // The run's last record: nothing may follow it in the pack.
            let mut rest = [0u8; 1];
            let more = cursor
                .reader
                .read(&mut rest)
                .map_err(|source| ChainError::Io {
                    path: path.clone(),
                    source,
                })?;
            self.pack = None;
            if more > 0 {
                return Err(ChainError::Pack {
                    path,
                    what: format!("holds more lines than its run (records up to {seq})"),
                });
            }
        }
        Ok(Some(RecordFile {
            seq,
            path,
            bytes,
            line: Some(line),
        }))
    }
}

impl PackCursor {
    /// The next line, with its newline: one record's exact bytes.
    fn line(&mut self) -> Result<Vec<u8>, ChainError> {
        let seq = self.next;
        let mut bytes = Vec::new();
        let mut limited = (&mut self.reader).take(MAX_RECORD_BYTES + 1);
        limited
            .read_until(b'\n', &mut bytes)
            .map_err(|source| ChainError::Io {
                path: self.path.clone(),
                source,
            })?;
        if bytes.is_empty() {
            return Err(ChainError::Pack {
                path: self.path.clone(),
                what: format!("ends before record {seq} (its run is incomplete)"),
            });
        }
        if bytes.len() as u64 > MAX_RECORD_BYTES {
            return Err(ChainError::Pack {
                path: self.path.clone(),
                what: format!("record {seq} is larger than {MAX_RECORD_BYTES} bytes"),
            });
        }
        self.next += 1;
        Ok(bytes)
    }
}

impl Iterator for ChainFiles {
    type Item = Result<RecordFile, ChainError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let seq = self.next;
        let single = if self.pack.as_ref().is_some_and(|p| p.next == seq) {
            // Reading a pack: the run's single files are gone (or identical leftovers).
            Ok(None)
        } else {
            let path = self.root.join(self.layout.record_rel(seq));
            read_record_file(&path).map(|b| {
                b.map(|bytes| RecordFile {
                    seq,
                    path,
                    bytes,
                    line: None,
                })
            })
        };
        let found = match single {
            Ok(None) => self.packed(seq),
            other => other,
        };
        match found {
            Ok(Some(file)) => {
                self.next += 1;
                Some(Ok(file))
            }
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                self.pack = None;
                Some(Err(e))
            }
        }
    }
}

/// A record that continues the chain, with its file.
#[derive(Debug, Clone)]
pub struct Link {
    /// The parsed record.
    pub record: Record,
    /// SHA-256 of its file: what the next record names as `prev`.
    pub hash: Sha256,
    /// The file's exact bytes.
    pub bytes: Vec<u8>,
    /// The file's path.
    pub path: PathBuf,
}

impl Link {
    /// The chain's head if this is its newest record.
    pub fn head(&self) -> Head {
        Head {
            seq: self.record.seq,
            hash: self.hash,
        }
    }
}

/// Parse the bytes of record file `file` into a link, without checking how it links.
fn parse_link(file: RecordFile) -> Result<Link, ChainError> {
    let RecordFile { path, bytes, .. } = file;
    match Record::parse(&bytes) {
        Ok(record) => Ok(Link {
            record,
            hash: Sha256::of(&bytes),
            bytes,
            path,
        }),
        Err(source) => Err(ChainError::Invalid { path, source }),
    }
}

/// Read and parse record `seq` of the store at `root` on its own (no link checks: there is
/// nothing to link it to). `Ok(None)` when it does not exist.
pub fn read_link(root: &Path, seq: u64) -> Result<Option<Link>, ChainError> {
    match ChainFiles::new(root, seq).next() {
        Some(file) => parse_link(file?).map(Some),
        None => Ok(None),
    }
}

/// The records of a store's chain that continue it, in order: see the module documentation.
/// Ends at the first position with no record file, or after the first error.
#[derive(Debug)]
pub struct ChainReader {
    files: ChainFiles,
    prev: Option<Sha256>,
    store: Option<String>,
    head: Option<Head>,
}

impl ChainReader {
    /// The chain of the store at `root` from its first record (whose `prev` is all zero).
    pub fn new(root: &Path) -> ChainReader {
        ChainReader {
            files: ChainFiles::new(root, 1),
            prev: Some(Sha256::ZERO),
            store: None,
            head: None,
        }
    }

    /// The chain of the store at `root` after `head`, a record known to be in it.
    pub fn after(root: &Path, head: Head) -> ChainReader {
        ChainReader {
            files: ChainFiles::new(root, head.seq + 1),
            prev: Some(head.hash),
            store: None,
            head: Some(head),
        }
    }

    /// The chain of the store at `root` from record `first`, whose `prev` is taken as given
    /// (the records from it on must link to each other).
    pub fn from_seq(root: &Path, first: u64) -> ChainReader {
        if first <= 1 {
            return ChainReader::new(root);
        }
        ChainReader {
            files: ChainFiles::new(root, first),
            prev: None,
            store: None,
            head: None,
        }
    }

    /// Also require every record to belong to store `id`.
    pub fn of_store(mut self, id: &str) -> ChainReader {
        self.store = Some(id.to_owned());
        self
    }

    /// The newest record read so far that continues the chain (the starting head of
    /// [`after`](Self::after) until one is read).
    pub fn head(&self) -> Option<Head> {
        self.head
    }

    /// The position of the next record the reader opens.
    pub fn next_seq(&self) -> u64 {
        self.files.next_seq()
    }

    fn check(&mut self, file: RecordFile) -> Result<Link, ChainError> {
        let seq = file.seq;
        let link = parse_link(file)?;
        if let Some(fault) = link_faults(&link.record, seq, self.prev, self.store.as_deref()).next()
        {
            return Err(ChainError::Broken {
                path: link.path,
                fault,
            });
        }
        self.prev = Some(link.hash);
        self.head = Some(link.head());
        Ok(link)
    }
}

impl Iterator for ChainReader {
    type Item = Result<Link, ChainError>;

    fn next(&mut self) -> Option<Self::Item> {
        let file = match self.files.next()? {
            Ok(f) => f,
            Err(e) => return Some(Err(e)),
        };
        let checked = self.check(file);
        if checked.is_err() {
            // Nothing after a record that does not continue the chain is part of it.
            self.files.done = true;
        }
        Some(checked)
    }
}

/// One committed file of a store, as a copier (media, a remote copy) takes it: paths relative
/// to the store, in the store's layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Committed {
    /// The segment committed by record `seq`: `sha256` and `size` are its record's.
    Segment {
        /// The record committing it.
        seq: u64,
        /// Its path relative to the store.
        rel: String,
        /// Its SHA-256, as the record says.
        sha256: Sha256,
        /// Its size in bytes, as the record says.
        size: u64,
    },
    /// Record `seq` as a file of its own (flat layout, or a run not packed yet).
    Record {
        /// The record.
        seq: u64,
        /// Its path relative to the store.
        rel: String,
        /// The SHA-256 of its bytes.
        hash: Sha256,
    },
    /// A pack (layout 2), yielded once its last record is reached: it replaces the files of
    /// records `first..=last` a copier took before (which it may then remove, after checking
    /// the pack's lines are their bytes).
    Pack {
        /// Its first record.
        first: u64,
        /// Its last record.
        last: u64,
        /// Its path relative to the store.
        rel: String,
    },
}

/// Every committed file of the store at `root` after record `after` (from the start with
/// `None`), in commit order: for each record, the segment it commits (if it is a segment
/// record), then the record's own file, or — when the record is read from a pack — the pack
/// once its last record is reached. The chain is checked as it is read ([`ChainReader`]): the
/// walk ends at the chain's end, or after an error naming the file. Files only the store keeps
/// (`head.json`, `logkeep-store.json`, the start-up cache) are not listed.
pub fn committed_files(root: &Path, after: Option<Head>) -> CommittedFiles {
    let reader = match after {
        Some(h) if h.seq > 0 => ChainReader::after(root, h),
        _ => ChainReader::new(root),
    };
    CommittedFiles {
        layout: reader.files.layout(),
        reader,
        queue: std::collections::VecDeque::new(),
    }
}

/// The iterator [`committed_files`] returns.
#[derive(Debug)]
pub struct CommittedFiles {
    reader: ChainReader,
    layout: Layout,
    queue: std::collections::VecDeque<Committed>,
}

impl Iterator for CommittedFiles {
    type Item = Result<Committed, ChainError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(c) = self.queue.pop_front() {
                return Some(Ok(c));
            }
            let link = match self.reader.next()? {
                Ok(l) => l,
                Err(e) => return Some(Err(e)),
            };
            let seq = link.record.seq;
            if let crate::record::Event::Segment {
                file, sha256, size, ..
            } = &link.record.event
            {
                self.queue.push_back(Committed::Segment {
                    seq,
                    rel: self.layout.segment_rel(seq, file),
                    sha256: *sha256,
                    size: *size,
                });
            }
            let packed = link
                .path
                .extension()
                .is_some_and(|e| e == &layout::PACK_SUFFIX[1..]);
            if !packed {
                self.queue.push_back(Committed::Record {
                    seq,
                    rel: self.layout.record_rel(seq),
                    hash: link.hash,
                });
            } else if seq == self.layout.pack_last(seq)
                && let Some(rel) = self.layout.pack_rel(seq)
            {
                self.queue.push_back(Committed::Pack {
                    first: self.layout.pack_first(seq),
                    last: seq,
                    rel,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Event, Host};

    const STORE: &str = "0123456789abcdef0123456789abcdef";

    fn record(seq: u64, prev: Sha256, store: &str) -> Record {
        Record {
            v: 1,
            seq,
            prev,
            store: store.into(),
            wall: "2026-11-20T03:10:12.000000000Z".into(),
            mono_ns: seq,
            host: Host {
                hostname: "h".into(),
                machine_id: String::new(),
                boot_id: String::new(),
            },
            event: Event::Heartbeat {},
        }
    }

    /// A store directory with a valid chain of `n` records; returns their hashes.
    fn chain(n: u64) -> (tempfile::TempDir, Vec<Sha256>) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join(layout::CHAIN_DIR)).unwrap();
        let mut hashes = Vec::new();
        let mut prev = Sha256::ZERO;
        for seq in 1..=n {
            prev = write(dir.path(), seq, &record(seq, prev, STORE));
            hashes.push(prev);
        }
        (dir, hashes)
    }

    fn write(root: &Path, at: u64, r: &Record) -> Sha256 {
        let bytes = r.to_bytes();
        std::fs::write(
            root.join(layout::CHAIN_DIR).join(layout::record_name(at)),
            &bytes,
        )
        .unwrap();
        Sha256::of(&bytes)
    }

    fn heads(reader: ChainReader) -> (Vec<u64>, Option<ChainError>) {
        let mut seqs = Vec::new();
        for item in reader {
            match item {
                Ok(l) => seqs.push(l.record.seq),
                Err(e) => return (seqs, Some(e)),
            }
        }
        (seqs, None)
    }

    #[test]
    fn reads_a_whole_chain_and_resumes_after_a_head() {
        let (dir, hashes) = chain(4);
        let mut reader = ChainReader::new(dir.path()).of_store(STORE);
        let links: Vec<Link> = reader.by_ref().map(Result::unwrap).collect();
        assert_eq!(links.len(), 4);
        assert_eq!(links[3].hash, hashes[3]);
        assert_eq!(links[3].bytes, std::fs::read(&links[3].path).unwrap());
        assert_eq!(
            reader.head(),
            Some(Head {
                seq: 4,
                hash: hashes[3]
            })
        );
        let resumed = ChainReader::after(
            dir.path(),
            Head {
                seq: 2,
                hash: hashes[1],
            },
        );
        assert_eq!(heads(resumed).0, [3, 4]);
        assert_eq!(heads(ChainReader::from_seq(dir.path(), 3)).0, [3, 4]);
        assert_eq!(read_link(dir.path(), 2).unwrap().unwrap().hash, hashes[1]);
        assert!(read_link(dir.path(), 5).unwrap().is_none());
    }

    #[test]
    fn a_missing_record_ends_the_chain() {
        let (dir, _) = chain(4);
        std::fs::remove_file(dir.path().join("chain").join(layout::record_name(3))).unwrap();
        let (seqs, err) = heads(ChainReader::new(dir.path()));
        assert_eq!(seqs, [1, 2]);
        assert!(err.is_none());
        let files: Vec<u64> = ChainFiles::new(dir.path(), 1)
            .map(|f| f.unwrap().seq)
            .collect();
        assert_eq!(files, [1, 2]);
    }

    #[test]
    fn a_gap_in_seq_is_refused_naming_the_file() {
        let (dir, hashes) = chain(2);
        // Record 4 written at position 3: it links to record 2 but skips a number.
        write(dir.path(), 3, &record(4, hashes[1], STORE));
        let (seqs, err) = heads(ChainReader::new(dir.path()));
        assert_eq!(seqs, [1, 2]);
        let err = err.expect("refused");
        assert!(err.path().ends_with("chain/0000000000000003.json"), "{err}");
        assert!(
            matches!(
                &err,
                ChainError::Broken {
                    fault: LinkFault::Seq { at: 3, says: 4 },
                    ..
                }
            ),
            "{err}"
        );
        assert_eq!(err.what(), "record says seq 4 but sits at position 3");
    }

    #[test]
    fn a_wrong_prev_is_refused_and_ends_the_walk() {
        let (dir, hashes) = chain(2);
        write(dir.path(), 3, &record(3, hashes[0], STORE));
        write(dir.path(), 4, &record(4, Sha256::ZERO, STORE));
        let (seqs, err) = heads(ChainReader::new(dir.path()));
        assert_eq!(seqs, [1, 2]);
        let err = err.expect("refused");
        assert!(err.path().ends_with("0000000000000003.json"));
        assert!(matches!(
            err,
            ChainError::Broken {
                fault: LinkFault::Prev { expected, says },
                ..
            } if expected == hashes[1] && says == hashes[0]
        ));
    }

    #[test]
    fn a_foreign_store_id_is_refused_only_when_the_store_is_bound() {
        let (dir, hashes) = chain(1);
        let other = "fedcba9876543210fedcba9876543210";
        write(dir.path(), 2, &record(2, hashes[0], other));
        assert_eq!(heads(ChainReader::new(dir.path())).0, [1, 2]);
        let (seqs, err) = heads(ChainReader::new(dir.path()).of_store(STORE));
        assert_eq!(seqs, [1]);
        let err = err.expect("refused");
        assert!(err.path().ends_with("0000000000000002.json"));
        assert_eq!(err.what(), format!("belongs to store {other} not {STORE}"));
    }

    #[test]
    fn a_file_that_is_not_a_record_is_refused_naming_it() {
        let (dir, _) = chain(1);
        let at = dir.path().join("chain").join(layout::record_name(2));
        std::fs::write(&at, b"not json\n").unwrap();
        let (seqs, err) = heads(ChainReader::new(dir.path()));
        assert_eq!(seqs, [1]);
        let err = err.expect("refused");
        assert!(
            matches!(&err, ChainError::Invalid { path, .. } if *path == at),
            "{err}"
        );
        assert!(err.to_string().starts_with(&at.display().to_string()));
        // An oversized file is refused before it is parsed.
        let big = vec![b' '; MAX_RECORD_BYTES as usize + 1];
        std::fs::write(&at, big).unwrap();
        let mut files = ChainFiles::new(dir.path(), 2);
        assert!(matches!(
            files.next(),
            Some(Err(ChainError::TooLarge { .. }))
        ));
        assert!(files.next().is_none());
    }

    #[test]
    fn every_fault_of_a_record_is_listed_in_order() {
        let r = record(5, Sha256::of(b"x"), "other");
        let faults: Vec<LinkFault> = link_faults(&r, 4, Some(Sha256::ZERO), Some(STORE)).collect();
        assert_eq!(faults.len(), 3);
        assert!(matches!(faults[0], LinkFault::Seq { .. }));
        assert!(matches!(faults[1], LinkFault::Prev { .. }));
        assert!(matches!(faults[2], LinkFault::Store { .. }));
        assert_eq!(link_faults(&r, 5, None, None).count(), 0);
    }
}
