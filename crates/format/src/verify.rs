//! Verification of a chain and its segments: every record, every link, every segment, every
//! byte, and nothing extra.
//!
//! [`ChainChecker`] holds the checks; it is fed one record at a time, each followed by its
//! segment (or told that the segment is deliberately absent, as in a partial bundle). The store
//! walker [`verify_store`] feeds it from a directory, by sequence number, through the chain
//! module's one walk ([`ChainFiles`]); the bundle reader feeds it from a tar stream. Its link
//! checks are the chain module's [`link_faults`], every one of them reported where a
//! [`ChainReader`](crate::chain::ChainReader) stops at the first. Memory does not grow with the length of the chain beyond one entry per
//! file generation (to check that captured ranges continue each other).

use crate::chain::{self, ChainError, ChainFiles, LinkFault, link_faults};
use crate::hash::Sha256;
use crate::layout::{self, Head, Layout, StoreInfo};
use crate::record::{Event, FORMAT_V2, FORMAT_VERSION, MAX_RECORD_BYTES, Record, known_version};
use crate::seal::{SealSummary, SealWalk};
use crate::segment::{self, MemberSink};
use crate::shown::Shown;
use crate::shown::text as esc;
use crate::untrusted::{self, Refused};
use serde::Serialize;
use std::collections::{BTreeSet, HashMap};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

/// One integrity finding, about one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// Path of the file relative to the store (or bundle) root.
    pub file: String,
    /// What is wrong, in one line.
    pub what: String,
}

/// The result of a verification.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    /// Store id, if `logkeep-store.json` could be read.
    pub store: Option<String>,
    /// The newest record the chain verified up to (its links, not necessarily its segments).
    pub head: Option<Head>,
    /// The first record checked (1 for a whole store; later for a partial bundle).
    pub first_seq: Option<u64>,
    /// Records read.
    pub records: u64,
    /// Segments checked.
    pub segments: u64,
    /// Segment records whose segment is deliberately not included (partial bundles).
    pub segments_omitted: u64,
    /// Captured bytes in the checked segments.
    pub captured_bytes: u64,
    /// Sources seen in checked segments.
    pub sources: BTreeSet<String>,
    /// Wall-clock time of the first and last captured read in the checked segments.
    pub time_range: Option<(String, String)>,
    /// Tamper and gap events found in the chain (logkeep's own findings at capture time).
    pub alerts: Vec<Problem>,
    /// Integrity problems. Empty means the data verified.
    pub problems: Vec<Problem>,
    /// Things worth knowing that are not integrity problems (left-over temporary files).
    pub notes: Vec<Problem>,
    /// Format 2: what the seals prove (key statements from the root, checkpoints).
    pub seal: Option<SealSummary>,
}

impl Report {
    /// Whether nothing was wrong.
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }

    /// Add an integrity problem.
    pub fn problem(&mut self, file: impl Into<String>, what: impl Into<String>) {
        self.problems.push(Problem {
            file: file.into(),
            what: what.into(),
        });
    }

    /// Add a note.
    pub fn note(&mut self, file: impl Into<String>, what: impl Into<String>) {
        self.notes.push(Problem {
            file: file.into(),
            what: what.into(),
        });
    }
}

/// An error that stops verification before it can judge the data: the path is not a store, or
/// it cannot be read. Exit code 2, not 1.
#[derive(Debug, thiserror::Error)]
#[error("{}", Shown::path(path))]
pub struct VerifyError {
    /// The file or directory concerned.
    pub path: PathBuf,
    /// The underlying error, reported as this error's `source()`.
    pub source: io::Error,
}

pub(crate) fn at(path: &Path) -> impl FnOnce(io::Error) -> VerifyError + '_ {
    move |source| VerifyError {
        path: path.to_owned(),
        source,
    }
}

/// Options for verification.
#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    /// A head known from elsewhere (another copy, a bundle, a note): the chain must reach it and
    /// hold exactly that record at that position.
    pub expect_head: Option<Head>,
    /// Format 2: the root key's fingerprint, received out of band. Without it the seals are
    /// checked against the root key the chain names.
    pub fingerprint: Option<String>,
}

/// Parse and check a record file's bytes; on success also return its hash.
pub fn parse_record(bytes: &[u8]) -> Result<(Record, Sha256), String> {
    let hash = Sha256::of(bytes);
    Record::parse(bytes)
        .map(|r| (r, hash))
        .map_err(|e| e.to_string())
}

/// Read, parse and check a record file (through [`chain::read_record_file`], the one bounded
/// read of a record).
pub fn read_record(path: &Path) -> io::Result<Result<(Record, Sha256), String>> {
    match chain::read_record_file(path) {
        Ok(Some(bytes)) => Ok(parse_record(&bytes)),
        Ok(None) => Err(io::ErrorKind::NotFound.into()),
        Err(ChainError::Io { source, .. }) => Err(source),
        Err(e) => Ok(Err(e.what())),
    }
}

/// Parse `logkeep-store.json`.
pub fn parse_store_info(bytes: &[u8]) -> Result<StoreInfo, String> {
    let info: StoreInfo = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    if info.format != "logkeep-store" || !known_version(u64::from(info.v)) {
        return Err(format!(
            "unsupported store format {:?} version {} (this logkeep reads versions {FORMAT_VERSION} and {FORMAT_V2})",
            esc(&info.format),
            info.v
        ));
    }
    Layout::of(&info)?;
    Ok(info)
}

/// Largest `logkeep-store.json` a reader reads (docs/FORMAT.md §1, *Limits*).
pub const MAX_STORE_INFO_BYTES: u64 = 1 << 20;

/// Largest `head.json` a reader reads: a hint of one line.
pub const MAX_HEAD_BYTES: u64 = 64 << 10;

/// Read `logkeep-store.json` of the store at `root`, as untrusted input.
pub fn read_store_info(root: &Path) -> Result<StoreInfo, VerifyError> {
    let path = root.join(layout::STORE_FILE);
    let bytes = match untrusted::read_bounded(&path, MAX_STORE_INFO_BYTES) {
        Ok(b) => b,
        Err(Refused::Missing) => {
            return Err(VerifyError {
                path: root.to_owned(),
                source: io::Error::new(
                    io::ErrorKind::NotFound,
                    format!(
                        "not a logkeep store, medium or bundle (it holds no {})",
                        layout::STORE_FILE
                    ),
                ),
            });
        }
        Err(e) => return Err(at(&path)(e.into_io())),
    };
    parse_store_info(&bytes).map_err(|e| VerifyError {
        path,
        source: io::Error::new(io::ErrorKind::InvalidData, e),
    })
}

/// Receives every data member of every checked segment while it is verified.
pub trait ChainVisitor {
    /// One member of the segment committed by `record`, in archive order. The default
    /// ignores it (the reader skips what the visitor does not read).
    fn member(
        &mut self,
        record: &Record,
        index: usize,
        name: &str,
        size: u64,
        data: &mut dyn Read,
    ) -> io::Result<()> {
        let _ = (record, index, name, size, data);
        Ok(())
    }

    /// The segment committed by `record` has been read and checked; `verified` says whether
    /// it was found intact (no problem about it). Members handed over before a problem was
    /// found are not to be trusted when it was not.
    fn segment_end(&mut self, record: &Record, verified: bool) {
        let _ = (record, verified);
    }

    /// The segment committed by `record` was not read: not in a partial bundle, missing, or
    /// refused (not a regular file, larger than its record says).
    fn segment_absent(&mut self, record: &Record) {
        let _ = record;
    }

    /// A record that continues the chain, before its segment (if any) is read. The default
    /// ignores it (the timeline reads `tamper` and `gap` records here).
    fn record(&mut self, record: &Record) {
        let _ = record;
    }
}

/// A visitor that ignores the members.
pub struct NoVisitor;

impl ChainVisitor for NoVisitor {}

/// Two visitors fed as one: every call goes to the first, then the second (an extraction and
/// a progress display, say).
pub struct Tee<'a>(pub &'a mut dyn ChainVisitor, pub &'a mut dyn ChainVisitor);

impl ChainVisitor for Tee<'_> {
    fn member(
        &mut self,
        record: &Record,
        index: usize,
        name: &str,
        size: u64,
        data: &mut dyn Read,
    ) -> io::Result<()> {
        self.0.member(record, index, name, size, data)
    }

    fn segment_end(&mut self, record: &Record, verified: bool) {
        self.0.segment_end(record, verified);
        self.1.segment_end(record, verified);
    }

    fn segment_absent(&mut self, record: &Record) {
        self.0.segment_absent(record);
        self.1.segment_absent(record);
    }

    fn record(&mut self, record: &Record) {
        self.0.record(record);
        self.1.record(record);
    }
}

struct Adapter<'a> {
    visitor: &'a mut dyn ChainVisitor,
    record: &'a Record,
}

impl MemberSink for Adapter<'_> {
    fn member(
        &mut self,
        index: usize,
        name: &str,
        size: u64,
        data: &mut dyn Read,
    ) -> io::Result<()> {
        self.visitor.member(self.record, index, name, size, data)
    }
}

#[derive(Default)]
struct GenState {
    end: u64,
    /// Bytes before `end` may be missing legitimately (a gap record, or a partial chain).
    gap: bool,
    closed: bool,
}

/// The checks of a chain, fed record by record. See the module documentation.
pub struct ChainChecker {
    store: String,
    /// Directory prefix of chain and segment files in messages (`""` or `"store/"`).
    prefix: String,
    opts: VerifyOptions,
    prev: Option<Sha256>,
    seq: u64,
    gens: HashMap<u64, GenState>,
    expect_seen: bool,
    /// The chain does not start at record 1: generations may start mid-file.
    partial: bool,
    /// Segments found missing, judged at the end: a later `pruned` record explains them.
    missing: Vec<(u64, String)>,
    /// Segments the chain says were pruned, with the media holding them.
    pruned: HashMap<u64, Vec<String>>,
    /// The format version every record must have, once known.
    version: Option<u32>,
    /// Format 2: the walk over key statements and checkpoints.
    seal: Option<SealWalk>,
    /// Where records and segments live in a store directory (a bundle's are flat).
    layout: Layout,
    /// Where the next record was read, when not its own file (a line of a pack).
    next_rel: Option<String>,
    report: Report,
}

impl ChainChecker {
    /// Start checking a chain of store `store`. If `anchor` is `None` the chain must start at
    /// record 1; otherwise it starts at record `anchor` and its first record's `prev` is taken
    /// as given (a partial chain, as in a bundle).
    pub fn new(store: &str, prefix: &str, opts: VerifyOptions, anchor: Option<u64>) -> Self {
        ChainChecker {
            store: store.to_owned(),
            prefix: prefix.to_owned(),
            opts,
            prev: if anchor.is_some() {
                None
            } else {
                Some(Sha256::ZERO)
            },
            seq: anchor.map_or(0, |a| a.saturating_sub(1)),
            gens: HashMap::new(),
            expect_seen: false,
            partial: anchor.is_some_and(|a| a > 1),
            missing: Vec::new(),
            pruned: HashMap::new(),
            version: None,
            seal: None,
            layout: Layout::Flat,
            next_rel: None,
            report: Report {
                store: Some(store.to_owned()),
                ..Report::default()
            },
        }
    }

    /// The chain is of format `version` (the store's or bundle's): every record must say so,
    /// and a format 2 chain's seals are walked (see [`crate::seal`]).
    pub fn with_format(mut self, version: u32) -> Self {
        self.version = Some(version);
        if version == FORMAT_V2 {
            self.seal = Some(SealWalk::new(&self.store, self.opts.fingerprint.as_deref()));
        } else if self.opts.fingerprint.is_some() {
            let p = format!("{}{}", self.prefix, layout::CHAIN_DIR);
            self.report.note(
                p,
                "a format 1 chain carries no seals: the fingerprint applies to its bundles only",
            );
        }
        self
    }

    /// The records and segments are in a store directory of layout `layout` (messages name
    /// them where they are).
    pub fn with_layout(mut self, layout: Layout) -> Self {
        self.layout = layout;
        self
    }

    /// The next record was read from `rel` rather than its own file (a line of a pack).
    pub fn read_from(&mut self, rel: Option<String>) {
        self.next_rel = rel;
    }

    /// Format 2 chains that start after record 1: take in the key statements from before the
    /// first record (checked by their signatures alone).
    pub fn prior_statement(&mut self, record: &Record) -> Result<(), String> {
        match &mut self.seal {
            Some(w) => w.prior_statement(record),
            None => Err("not a format 2 chain".into()),
        }
    }

    /// The report so far.
    pub fn report_mut(&mut self) -> &mut Report {
        &mut self.report
    }

    /// The sequence number the next record must have.
    pub fn next_seq(&self) -> u64 {
        self.seq + 1
    }

    /// Relative name of record `seq` in messages.
    pub fn record_rel(&self, seq: u64) -> String {
        format!("{}{}", self.prefix, self.layout.record_rel(seq))
    }

    /// Check the next record, given its file's bytes. Returns the record if it parsed (even if
    /// a link check failed, so that its segment can still be examined).
    pub fn record(&mut self, bytes: &[u8]) -> Option<Record> {
        let next = self.seq + 1;
        let rel = match self.next_rel.take() {
            Some(r) => format!("{}{r}", self.prefix),
            None => self.record_rel(next),
        };
        let (record, hash) = match parse_record(bytes) {
            Ok(x) => x,
            Err(why) => {
                self.report.problem(rel, why);
                return None;
            }
        };
        self.report.records += 1;
        self.report.first_seq.get_or_insert(next);
        if let Some(v) = self.version
            && record.v != v
        {
            self.report.problem(
                &rel,
                format!("is a version {} record in a version {v} chain", record.v),
            );
        }
        if let Some(w) = &mut self.seal {
            w.record(&record, hash);
        }
        for fault in link_faults(&record, next, self.prev, Some(&self.store)) {
            match fault {
                LinkFault::Seq { says, .. } => self.report.problem(
                    &rel,
                    format!("record says seq {says} but sits at position {next}"),
                ),
                LinkFault::Prev { expected: p, says } => {
                    // The link between two records broke: one of them was changed, and which
                    // one cannot be told from the link alone, so both are named, the earlier
                    // (the likelier forgery) first.
                    let before = self.record_rel(next - 1);
                    self.report.problem(
                        before,
                        format!("hashes to {p}, which record {next} does not name as its predecessor: changed, or the next record was"),
                    );
                    self.report.problem(
                        &rel,
                        format!(
                            "broken link: prev is {says} but record {} hashes to {p}",
                            next - 1
                        ),
                    );
                }
                LinkFault::Store { expected, says } => self.report.problem(
                    &rel,
                    format!("belongs to store {} not {expected}", esc(&says)),
                ),
            }
        }
        if let Some(h) = self.opts.expect_head
            && h.seq == next
        {
            self.expect_seen = true;
            if h.hash != hash {
                self.report.problem(
                    &rel,
                    format!(
                        "differs from the expected head: hashes to {hash}, expected {}",
                        h.hash
                    ),
                );
            }
        }
        match &record.event {
            Event::Clock { step_ns } => {
                self.report.notes.push(Problem {
                    file: rel.clone(),
                    what: format!(
                        "the wall clock was set {} by {:.3} s here: the records from this one on carry the new time",
                        if *step_ns < 0 { "back" } else { "forward" },
                        step_ns.unsigned_abs() as f64 / 1e9
                    ),
                });
            }
            Event::Gap {
                gen_id,
                source,
                path,
                from,
                reason,
                ..
            } => {
                if *gen_id != 0 {
                    self.gens.entry(*gen_id).or_default().gap = true;
                }
                self.report.alerts.push(Problem {
                    file: rel.clone(),
                    what: format!(
                        "gap in {} ({}) from offset {from}: {}",
                        esc(path),
                        esc(source),
                        esc(reason)
                    ),
                });
            }
            Event::Tamper {
                source,
                path,
                what,
                captured,
                size_now,
                ..
            } => {
                self.report.alerts.push(Problem {
                    file: rel.clone(),
                    what: format!(
                        "{} ({}) {}: {captured} bytes had been captured, size now {}",
                        esc(path),
                        esc(source),
                        esc(what),
                        size_now.map_or("gone".to_string(), |s| s.to_string())
                    ),
                });
            }
            Event::Unreadable {
                source,
                path,
                error,
                ..
            } => {
                self.report.alerts.push(Problem {
                    file: rel.clone(),
                    what: format!(
                        "{} ({}) existed and could not be read: {}",
                        esc(path),
                        esc(source),
                        esc(error)
                    ),
                });
            }
            Event::Pruned { seq, media, .. } => {
                self.pruned.insert(*seq, media.clone());
            }
            Event::Closed { gen_id, end, .. } => {
                let partial = self.partial;
                let g = self.gens.entry(*gen_id).or_default();
                if g.end != *end && !(partial && g.end == 0) {
                    let have = g.end;
                    self.report.problem(
                        &rel,
                        format!("closes generation {gen_id} at {end} but {have} bytes of it were captured"),
                    );
                }
                g.closed = true;
            }
            _ => {}
        }
        self.prev = Some(hash);
        self.seq = next;
        Some(record)
    }

    /// Check the segment committed by `record` (a segment record just passed to
    /// [`record`](Self::record)), reading the segment file from `file`. The visitor is told
    /// at the end whether the segment verified.
    pub fn segment<R: Read>(
        &mut self,
        record: &Record,
        file: R,
        visitor: &mut dyn ChainVisitor,
    ) -> io::Result<()> {
        let before = self.report.problems.len();
        self.segment_checks(record, file, visitor)?;
        let verified = self.report.problems.len() == before;
        visitor.segment_end(record, verified);
        Ok(())
    }

    fn segment_checks<R: Read>(
        &mut self,
        record: &Record,
        file: R,
        visitor: &mut dyn ChainVisitor,
    ) -> io::Result<()> {
        let Event::Segment {
            file: name,
            sha256,
            size,
            content_size,
            manifest_sha256,
            first,
            last,
            spans,
        } = &record.event
        else {
            return Ok(());
        };
        let rel = format!(
            "{}{}",
            self.prefix,
            self.layout.segment_rel(record.seq, &esc(name))
        );
        let rec_rel = self.record_rel(record.seq);
        self.report.segments += 1;
        let observed =
            segment::read_segment(file, *content_size, &mut Adapter { visitor, record })?;
        let report = &mut self.report;
        for flaw in &observed.flaws {
            report.problem(&rel, flaw.0.clone());
        }
        if observed.sha256 != *sha256 || observed.size != *size {
            report.problem(
                &rel,
                format!(
                    "file hashes to {} ({} bytes), record {} says {} ({} bytes)",
                    observed.sha256, observed.size, record.seq, sha256, size
                ),
            );
        }
        if let Some(n) = observed.content
            && n != *content_size
        {
            report.problem(
                &rel,
                format!("content is {n} bytes, record says {content_size}"),
            );
        }
        let Some((manifest, manifest_digest)) = observed.manifest else {
            // Unreadable: the record's spans say how far its generations reach, so the next
            // segment is judged on its own and not blamed for this one's bytes.
            for s in spans {
                let g = self.gens.entry(s.gen_id).or_default();
                g.end = g.end.max(s.end);
            }
            return Ok(());
        };
        if manifest_digest != *manifest_sha256 {
            report.problem(
                &rel,
                format!(
                    "manifest hashes to {manifest_digest}, record {} says {manifest_sha256}",
                    record.seq
                ),
            );
        }
        if manifest.seq != record.seq
            || manifest.prev != record.prev
            || manifest.store != record.store
        {
            report.problem(
                &rel,
                format!(
                    "manifest binds it to seq {} after {}, but it is committed at seq {} after {}: replayed or moved",
                    manifest.seq, manifest.prev, record.seq, record.prev
                ),
            );
        }
        if segment::spans_of(&manifest.members) != *spans {
            report.problem(&rec_rel, "spans differ from the segment's manifest");
        }
        for m in &manifest.members {
            let g = self.gens.entry(m.gen_id).or_default();
            if g.closed {
                report.problem(
                    &rel,
                    format!(
                        "captures generation {} of {} after it was closed",
                        m.gen_id,
                        esc(&m.path)
                    ),
                );
            }
            let fresh = g.end == 0 && self.partial;
            if m.start < g.end {
                report.problem(
                    &rel,
                    format!(
                        "{} bytes [{}, {}) of {} generation {} were already captured",
                        m.end.min(g.end) - m.start,
                        m.start,
                        m.end.min(g.end),
                        esc(&m.path),
                        m.gen_id
                    ),
                );
            } else if m.start > g.end && !g.gap && !fresh {
                report.problem(
                    &rel,
                    format!(
                        "bytes [{}, {}) of {} generation {} are missing before this member",
                        g.end,
                        m.start,
                        esc(&m.path),
                        m.gen_id
                    ),
                );
            }
            g.end = g.end.max(m.end);
            report.captured_bytes += m.end - m.start;
            report.sources.insert(m.source.clone());
        }
        match &mut report.time_range {
            None => report.time_range = Some((first.clone(), last.clone())),
            Some((_, l)) => last.clone_into(l),
        }
        Ok(())
    }

    /// The segment of `record` is deliberately absent (not selected for a partial bundle): the
    /// generations it covers advance by what the record says.
    pub fn segment_omitted(&mut self, record: &Record) {
        let Event::Segment { spans, .. } = &record.event else {
            return;
        };
        self.report.segments_omitted += 1;
        for s in spans {
            let g = self.gens.entry(s.gen_id).or_default();
            g.end = g.end.max(s.end);
            g.gap = g.gap || self.partial;
        }
    }

    /// The segment file of `record` is not there. Whether that is a problem is decided at the
    /// end: a later `pruned` record says it was removed after being copied to media.
    pub fn segment_missing(&mut self, record: &Record, rel: String) {
        self.missing.push((record.seq, rel));
        self.segment_omitted(record);
    }

    /// Finish: the head reached, and whether an expected head was seen.
    pub fn finish(mut self) -> Report {
        for (seq, rel) in std::mem::take(&mut self.missing) {
            match self.pruned.get(&seq) {
                Some(media) => self.report.note(
                    rel,
                    format!(
                        "pruned from this copy after being copied to media {}",
                        media.iter().map(|m| esc(m)).collect::<Vec<_>>().join(", ")
                    ),
                ),
                None => self
                    .report
                    .problem(rel, format!("missing (committed by record {seq})")),
            }
        }
        if let Some(prev) = self.prev
            && self.seq > 0
        {
            self.report.head = Some(Head {
                seq: self.seq,
                hash: prev,
            });
        }
        if let Some(h) = self.opts.expect_head
            && !self.expect_seen
        {
            let seq = self.seq;
            self.report.problem(
                format!("{}{}", self.prefix, layout::CHAIN_DIR),
                format!(
                    "chain ends at record {seq} but record {} ({}) is known to exist: truncated or rolled back",
                    h.seq, h.hash
                ),
            );
        }
        if let Some(w) = self.seal.take() {
            let summary = w.finish();
            self.seal_findings(&summary);
            self.report.seal = Some(summary);
        }
        if self.report.records == 0 && self.report.problems.is_empty() {
            let p = format!("{}{}", self.prefix, layout::CHAIN_DIR);
            self.report.problem(p, "the chain is empty");
        }
        self.report
    }
}

impl ChainChecker {
    fn seal_findings(&mut self, s: &SealSummary) {
        if let Some(u) = &s.unproven {
            let proven = s.proven.as_ref().map_or_else(
                || "no checkpoint before it checked out".to_string(),
                |p| {
                    format!(
                        "proven up to record {} (checkpoint of epoch {} at {})",
                        p.seq, p.epoch, p.time
                    )
                },
            );
            self.report.problem(
                self.record_rel(u.first),
                format!(
                    "not proven (epoch {}): {} in record {}: this record or one after it was changed; {proven}",
                    u.epoch,
                    esc(&u.why),
                    u.at
                ),
            );
        } else if let Some((first, last)) = s.unsealed {
            self.report.note(
                self.record_rel(first),
                format!(
                    "records {first} to {last} come after the last checkpoint: not sealed yet (the unsealed tail; only a copy elsewhere, such as a medium, witnesses them)"
                ),
            );
        }
    }
}

/// Verify the store at `root`. Integrity problems go into the report; only an unreadable or
/// unrecognisable store is an error.
pub fn verify_store(root: &Path, opts: &VerifyOptions) -> Result<Report, VerifyError> {
    verify_store_with(root, opts, &mut NoVisitor)
}

/// Like [`verify_store`], and hand every segment member to `visitor` while it is checked
/// (extraction uses this).
pub fn verify_store_with(
    root: &Path,
    opts: &VerifyOptions,
    visitor: &mut dyn ChainVisitor,
) -> Result<Report, VerifyError> {
    let info = read_store_info(root)?;
    let lay = Layout::of(&info).unwrap_or_default();
    let chain = root.join(layout::CHAIN_DIR);
    let segments = root.join(layout::SEGMENTS_DIR);
    let mut checker = ChainChecker::new(&info.store, "", opts.clone(), None)
        .with_format(info.v)
        .with_layout(lay);
    // The layout's directories must be directories themselves: a link is never followed.
    let chain_dir = dir_finding(&chain, layout::CHAIN_DIR, checker.report_mut());
    let segments_dir = dir_finding(&segments, layout::SEGMENTS_DIR, checker.report_mut());
    let walk = if chain_dir {
        ChainFiles::with_layout(root, lay, 1)
    } else {
        ChainFiles::empty()
    };
    for file in walk {
        let seq = checker.next_seq();
        let bytes = match file {
            Ok(f) => {
                checker.read_from(f.line.map(|_| f.rel(lay)));
                f.bytes
            }
            Err(ChainError::TooLarge { .. }) => {
                let rel = checker.record_rel(seq);
                checker.report_mut().problem(
                    rel,
                    format!(
                        "is larger than the {MAX_RECORD_BYTES} bytes a record may have (not read)"
                    ),
                );
                break;
            }
            Err(ChainError::Refused { what, .. }) => {
                let rel = checker.record_rel(seq);
                checker.report_mut().problem(rel, what);
                break;
            }
            Err(ChainError::Pack { path, what }) => {
                let rel = path
                    .strip_prefix(root)
                    .map_or_else(|_| path.display().to_string(), |p| p.display().to_string());
                checker.report_mut().problem(esc(&rel), what);
                break;
            }
            Err(e) => {
                return Err(VerifyError {
                    path: e.path().to_owned(),
                    source: match e {
                        ChainError::Io { source, .. } => source,
                        other => io::Error::new(io::ErrorKind::InvalidData, other.what()),
                    },
                });
            }
        };
        let Some(record) = checker.record(&bytes) else {
            break;
        };
        visitor.record(&record);
        if let Event::Segment { file, sha256, .. } = &record.event {
            match layout::parse_segment_name(file) {
                Some((s, h)) if s == record.seq && h == *sha256 => {}
                _ => {
                    let rel = checker.record_rel(seq);
                    checker.report_mut().problem(
                        rel,
                        format!(
                            "names segment file {} which does not match its seq and hash",
                            esc(file)
                        ),
                    );
                    continue;
                }
            }
            let rel = lay.segment_rel(record.seq, &esc(file));
            if !segments_dir {
                visitor.segment_absent(&record);
                checker.segment_missing(&record, rel);
                continue;
            }
            let Event::Segment { size, .. } = &record.event else {
                continue;
            };
            let path = root.join(lay.segment_rel(record.seq, file));
            match untrusted::open_bounded(&path, *size) {
                Ok((f, _)) => checker.segment(&record, f, visitor).map_err(at(&path))?,
                Err(Refused::Missing) => {
                    visitor.segment_absent(&record);
                    checker.segment_missing(&record, rel);
                }
                Err(e) if e.is_finding() => {
                    visitor.segment_absent(&record);
                    checker.segment_omitted(&record);
                    let what = match e {
                        Refused::TooLarge { size: n, max } => format!(
                            "is {n} bytes, more than the {max} bytes record {} says (not read)",
                            record.seq
                        ),
                        other => other.to_string(),
                    };
                    checker.report_mut().problem(rel, what);
                }
                Err(e) => return Err(at(&path)(e.into_io())),
            }
        }
    }
    let mut report = checker.finish();
    let last = report.head.map_or(0, |h| h.seq);
    match lay {
        Layout::Flat => check_listing(
            root,
            chain_dir.then_some(chain.as_path()),
            segments_dir.then_some(segments.as_path()),
            last,
            &mut report,
        )?,
        Layout::Sharded { .. } => crate::shards::check_listing(
            root,
            lay,
            chain_dir.then_some(chain.as_path()),
            segments_dir.then_some(segments.as_path()),
            last,
            &mut report,
        )?,
    }
    check_head_file(root, report.head, &mut report);
    Ok(report)
}

/// Whether the layout directory `path` (named `rel`) is a directory that can be walked; a
/// problem in `report` when it is missing or not a directory itself (a link is not followed).
fn dir_finding(path: &Path, rel: &str, report: &mut Report) -> bool {
    match untrusted::check_dir(path) {
        Ok(()) => true,
        Err(Refused::Missing) => {
            report.problem(rel, "missing");
            false
        }
        Err(e) => {
            report.problem(rel, format!("{e}: not a directory of the store"));
            false
        }
    }
}

/// The type of a directory entry, without following it (`None` if it cannot be told).
pub(crate) fn entry_type(entry: &std::fs::DirEntry) -> Option<std::fs::FileType> {
    entry.file_type().ok()
}

/// A problem when a directory entry named like a file of the layout is not a regular file.
pub(crate) fn not_a_file(entry: &std::fs::DirEntry, rel: &str, report: &mut Report) -> bool {
    match entry_type(entry) {
        Some(t) if t.is_file() => false,
        Some(t) => {
            report.problem(
                rel,
                format!(
                    "is {}, not a regular file (not opened, not followed)",
                    untrusted::type_name(t)
                ),
            );
            true
        }
        None => false,
    }
}

pub(crate) fn check_listing(
    root: &Path,
    chain: Option<&Path>,
    segments: Option<&Path>,
    last: u64,
    report: &mut Report,
) -> Result<(), VerifyError> {
    check_root_listing(root, report)?;
    check_flat_listing(root, chain, segments, last, report)
}

/// The entries of the store directory itself.
pub(crate) fn check_root_listing(root: &Path, report: &mut Report) -> Result<(), VerifyError> {
    for entry in std::fs::read_dir(root).map_err(at(root))? {
        let entry = entry.map_err(at(root))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        match name.as_str() {
            layout::STORE_FILE | layout::HEAD_FILE | layout::MEDIUM_FILE | layout::SEEN_FILE => {
                if !not_a_file(&entry, &esc(&name), report) {
                    let max = if name == layout::STORE_FILE {
                        MAX_STORE_INFO_BYTES
                    } else {
                        MAX_HEAD_BYTES
                    };
                    let size = entry.metadata().map_or(0, |m| m.len());
                    // head.json is judged where it is read.
                    if size > max && name != layout::HEAD_FILE {
                        report.problem(
                            esc(&name),
                            format!(
                                "is {size} bytes, more than the {max} bytes allowed here (not read)"
                            ),
                        );
                    }
                }
            }
            // The layout directories were checked before the walk.
            layout::CHAIN_DIR | layout::SEGMENTS_DIR => {}
            // The daemon's start-up cache: derived from the chain, not evidence.
            layout::CACHE_FILE => {}
            // The syslog write-ahead log: working files of the daemon, not evidence. What they
            // hold is checked where it counts, in the segments that captured it.
            "lost+found" | layout::WAL_DIR => {
                if let Some(t) = entry_type(&entry)
                    && !t.is_dir()
                {
                    report.problem(
                        esc(&name),
                        format!(
                            "is {}, not a directory (not followed)",
                            untrusted::type_name(t)
                        ),
                    );
                }
            }
            n if n.starts_with(layout::TMP_PREFIX) => report.note(
                esc(n),
                "left-over temporary file (an interrupted write; not part of the evidence)",
            ),
            n => report.problem(esc(n), "extra file not part of the store"),
        }
    }
    Ok(())
}

/// The entries of a flat (layout 1) `chain/` and `segments/`.
fn check_flat_listing(
    root: &Path,
    chain: Option<&Path>,
    segments: Option<&Path>,
    last: u64,
    report: &mut Report,
) -> Result<(), VerifyError> {
    let chain_entries = match chain {
        Some(c) => std::fs::read_dir(c).map_err(at(c))?.collect(),
        None => Vec::new(),
    };
    for entry in chain_entries {
        let entry = entry.map_err(|e| at(root)(e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let rel = format!("{}/{}", layout::CHAIN_DIR, esc(&name));
        if name.starts_with(layout::TMP_PREFIX) {
            report.note(rel, "left-over temporary file");
            continue;
        }
        if layout::parse_record_name(&name).is_some() && not_a_file(&entry, &rel, report) {
            continue;
        }
        match layout::parse_record_name(&name) {
            Some(s) if s <= last + 1 => {} // up to the head, or the unreadable one already reported
            Some(s) => report.problem(
                rel,
                format!("record {s} is beyond a break in the chain at {}", last + 1),
            ),
            None => report.problem(rel, "extra file not part of the chain"),
        }
    }
    let (Some(chain), Some(segments)) = (chain, segments) else {
        return Ok(());
    };
    for entry in std::fs::read_dir(segments).map_err(at(segments))? {
        let entry = entry.map_err(at(segments))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let rel = format!("{}/{}", layout::SEGMENTS_DIR, esc(&name));
        if name.starts_with(layout::TMP_PREFIX) {
            report.note(rel, "left-over temporary file");
            continue;
        }
        let Some((s, _)) = layout::parse_segment_name(&name) else {
            report.problem(rel, "extra file not part of the store");
            continue;
        };
        if not_a_file(&entry, &rel, report) {
            continue;
        }
        if s == last + 1 {
            report.note(rel, format!("segment {s} follows the chain's end ({last}): a commit interrupted between the segment and its record (a store removes it when it opens, a medium's next copy completes it); not part of the evidence"));
            continue;
        }
        if s > last {
            report.problem(
                rel,
                format!("segment {s} has no record (the chain ends at {last})"),
            );
            continue;
        }
        match read_record(&chain.join(layout::record_name(s))) {
            Ok(Ok((r, _))) => match r.event {
                Event::Segment { file, .. } if file == name => {}
                _ => report.problem(rel, format!("not the segment record {s} commits")),
            },
            _ => report.problem(rel, format!("record {s} cannot be read")),
        }
    }
    Ok(())
}

fn check_head_file(root: &Path, head: Option<Head>, report: &mut Report) {
    let bytes = match untrusted::read_bounded(&root.join(layout::HEAD_FILE), MAX_HEAD_BYTES) {
        Ok(b) => b,
        // Named already by the listing check.
        Err(Refused::NotRegular(_)) => return,
        Err(e @ Refused::TooLarge { .. }) => {
            report.problem(layout::HEAD_FILE, e.to_string());
            return;
        }
        Err(_) => {
            if head.is_some() {
                report.note(layout::HEAD_FILE, "missing");
            }
            return;
        }
    };
    let Ok(hint) = serde_json::from_slice::<Head>(&bytes) else {
        report.problem(layout::HEAD_FILE, "not valid");
        return;
    };
    let last = head.map_or(0, |h| h.seq);
    if hint.seq > last {
        report.problem(
            layout::HEAD_FILE,
            format!(
                "names record {} ({}) but the chain ends at {last}: records were removed",
                hint.seq, hint.hash
            ),
        );
    } else if head.is_some_and(|h| h.seq == hint.seq && h.hash != hint.hash) {
        report.problem(
            layout::HEAD_FILE,
            format!("names a different record {} than the chain holds", hint.seq),
        );
    }
}

/// What a path given to `verify`, `extract` or `list` holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    /// A store or a medium: a directory with `logkeep-store.json`.
    Store,
    /// A bundle: a tar archive whose first member is `logkeep-bundle-ID/bundle.json` (or the
    /// long-name header that precedes it).
    Bundle,
}

fn not_input(path: &Path, why: impl Into<String>) -> VerifyError {
    VerifyError {
        path: path.to_owned(),
        source: io::Error::new(io::ErrorKind::InvalidInput, why.into()),
    }
}

const NOT_INPUT: &str = "not a logkeep store, medium or bundle";

/// Tell what `path` is before reading it as a store or a bundle, so that a wrong input (a
/// missing path, an empty file, a segment, a plain directory, a FIFO) is a usage error naming
/// the reason, never an integrity finding. The path itself is the user's: a link to a store or
/// a bundle is followed; nothing under it is.
pub fn classify_input(path: &Path) -> Result<Input, VerifyError> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(not_input(path, "does not exist"));
        }
        Err(e) => return Err(at(path)(e)),
    };
    if meta.is_dir() {
        if std::fs::symlink_metadata(path.join(layout::STORE_FILE)).is_ok() {
            return Ok(Input::Store);
        }
        let parent = path.parent().filter(|p| !p.as_os_str().is_empty());
        let name = path.file_name().and_then(|n| n.to_str());
        if let (Some(parent), Some(n @ (layout::CHAIN_DIR | layout::SEGMENTS_DIR))) = (parent, name)
            && parent.join(layout::STORE_FILE).exists()
        {
            return Err(not_input(
                path,
                format!(
                    "is the {n}/ directory of a store: give the store directory {}",
                    Shown::path(parent)
                ),
            ));
        }
        if std::fs::symlink_metadata(path.join(layout::MEDIUM_FILE)).is_ok() {
            return Err(not_input(
                path,
                format!(
                    "a medium that holds no copy of a store yet (no {})",
                    layout::STORE_FILE
                ),
            ));
        }
        return Err(not_input(
            path,
            format!("{NOT_INPUT} (a directory without {})", layout::STORE_FILE),
        ));
    }
    if !meta.is_file() {
        let what = untrusted::type_name(meta.file_type());
        return Err(not_input(path, format!("{NOT_INPUT}: it is {what}")));
    }
    let (file, _) = untrusted::open_given(path).map_err(|e| at(path)(e.into_io()))?;
    let mut head = Vec::with_capacity(512);
    file.take(512).read_to_end(&mut head).map_err(at(path))?;
    if head.is_empty() {
        return Err(not_input(path, format!("{NOT_INPUT}: the file is empty")));
    }
    if head.starts_with(&segment::ZSTD_MAGIC) {
        return Err(not_input(
            path,
            format!(
                "{NOT_INPUT}: it is a zstd file (a segment?); verify the store or bundle that holds it"
            ),
        ));
    }
    if head.len() == 512 && tar_checksum_ok(&head) {
        let name_end = head[..100].iter().position(|&b| b == 0).unwrap_or(100);
        let name = &head[..name_end];
        let long_name = head[156] == b'L';
        if name.starts_with(b"logkeep-bundle-") || long_name {
            return Ok(Input::Bundle);
        }
        return Err(not_input(
            path,
            format!(
                "{NOT_INPUT}: a tar archive whose first member is {}, not logkeep-bundle-ID/bundle.json",
                Shown::bytes(name)
            ),
        ));
    }
    if head.len() == 512 && head.iter().all(|&b| b == 0) {
        return Err(not_input(
            path,
            format!("{NOT_INPUT}: an empty tar archive (no members)"),
        ));
    }
    if head.first() == Some(&b'{') {
        return Err(not_input(
            path,
            format!(
                "{NOT_INPUT}: a JSON file (a record or an identity file?); give the directory that holds it"
            ),
        ));
    }
    Err(not_input(path, format!("{NOT_INPUT}: unknown content")))
}

/// Whether a 512-byte block is a tar header with a valid checksum.
fn tar_checksum_ok(block: &[u8]) -> bool {
    let field = String::from_utf8_lossy(&block[148..156]);
    let digits = field.trim_matches(|c| c == ' ' || c == '\0');
    let Ok(stated) = u32::from_str_radix(digits, 8) else {
        return false;
    };
    let sum: u32 = block
        .iter()
        .enumerate()
        .map(|(i, &b)| {
            if (148..156).contains(&i) {
                32
            } else {
                u32::from(b)
            }
        })
        .sum();
    sum == stated
}
