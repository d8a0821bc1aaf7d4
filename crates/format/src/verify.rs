//! Verification of a store directory (or a copy of one): every record, every link, every
//! segment, every byte, and nothing extra.
//!
//! The walk is by sequence number, so memory does not grow with the length of the chain beyond
//! one entry per file generation (to check that captured ranges continue each other).

use crate::hash::Sha256;
use crate::layout::{self, Head, StoreInfo};
use crate::record::{Event, FORMAT_VERSION, MAX_RECORD_BYTES, Record};
use crate::segment::{self, MemberSink, esc};
use serde::Serialize;
use std::collections::{BTreeSet, HashMap};
use std::fs::File;
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

/// The result of verifying a store.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    /// Store id, if `logkeep-store.json` could be read.
    pub store: Option<String>,
    /// The newest record the chain verified up to (its links, not necessarily its segments).
    pub head: Option<Head>,
    /// Records read.
    pub records: u64,
    /// Segments checked.
    pub segments: u64,
    /// Captured bytes in those segments.
    pub captured_bytes: u64,
    /// Sources seen in segments.
    pub sources: BTreeSet<String>,
    /// Wall-clock time of the first and last captured read.
    pub time_range: Option<(String, String)>,
    /// Integrity problems. Empty means the store verified.
    pub problems: Vec<Problem>,
    /// Things worth knowing that are not integrity problems (left-over temporary files).
    pub notes: Vec<Problem>,
}

impl Report {
    /// Whether nothing was wrong.
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }

    fn problem(&mut self, file: impl Into<String>, what: impl Into<String>) {
        self.problems.push(Problem {
            file: file.into(),
            what: what.into(),
        });
    }
}

/// An error that stops verification before it can judge the data: the path is not a store, or
/// it cannot be read. Exit code 2, not 1.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {source}")]
pub struct VerifyError {
    /// The file or directory concerned.
    pub path: PathBuf,
    /// The underlying error.
    pub source: io::Error,
}

fn at(path: &Path) -> impl FnOnce(io::Error) -> VerifyError + '_ {
    move |source| VerifyError {
        path: path.to_owned(),
        source,
    }
}

/// Options for [`verify_store`].
#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    /// A head known from elsewhere (another copy, a bundle, a note): the chain must reach it and
    /// hold exactly that record at that position.
    pub expect_head: Option<Head>,
}

/// Read and check a record file; on success also return its hash.
pub fn read_record(path: &Path) -> io::Result<Result<(Record, Sha256), String>> {
    let file = File::open(path)?;
    let mut bytes = Vec::new();
    file.take(MAX_RECORD_BYTES + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_RECORD_BYTES {
        return Ok(Err(format!(
            "record is larger than {MAX_RECORD_BYTES} bytes"
        )));
    }
    let hash = Sha256::of(&bytes);
    Ok(Record::parse(&bytes)
        .map(|r| (r, hash))
        .map_err(|e| e.to_string()))
}

/// Read `logkeep-store.json`.
pub fn read_store_info(root: &Path) -> Result<StoreInfo, VerifyError> {
    let path = root.join(layout::STORE_FILE);
    let bytes = std::fs::read(&path).map_err(at(&path))?;
    let info: StoreInfo = serde_json::from_slice(&bytes).map_err(|e| VerifyError {
        path: path.clone(),
        source: io::Error::new(io::ErrorKind::InvalidData, e),
    })?;
    if info.format != "logkeep-store" || info.v != FORMAT_VERSION {
        return Err(VerifyError {
            path,
            source: io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "unsupported store format {:?} version {} (this logkeep reads version {FORMAT_VERSION})",
                    info.format, info.v
                ),
            ),
        });
    }
    Ok(info)
}

/// What the walk over the chain hands to its visitor for each record.
pub struct Visit<'a> {
    /// The record.
    pub record: &'a Record,
    /// Its hash.
    pub hash: Sha256,
    /// Path of the segment file, for segment records.
    pub segment: Option<PathBuf>,
}

/// Verify the store at `root`. Integrity problems go into the report; only an unreadable or
/// unrecognisable store is an error.
pub fn verify_store(root: &Path, opts: &VerifyOptions) -> Result<Report, VerifyError> {
    verify_store_with(root, opts, &mut NoVisitor)
}

/// Receives every data member of every segment while the chain is verified.
pub trait ChainVisitor {
    /// One member of the segment committed by `record`, in archive order.
    fn member(
        &mut self,
        record: &Record,
        index: usize,
        name: &str,
        size: u64,
        data: &mut dyn Read,
    ) -> io::Result<()>;
}

struct NoVisitor;

impl ChainVisitor for NoVisitor {
    fn member(
        &mut self,
        _: &Record,
        _: usize,
        _: &str,
        _: u64,
        _: &mut dyn Read,
    ) -> io::Result<()> {
        Ok(())
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

/// Like [`verify_store`], and hand every segment member to `visitor` while it is checked
/// (extraction uses this).
pub fn verify_store_with(
    root: &Path,
    opts: &VerifyOptions,
    visitor: &mut dyn ChainVisitor,
) -> Result<Report, VerifyError> {
    let info = read_store_info(root)?;
    let mut report = Report {
        store: Some(info.store.clone()),
        ..Report::default()
    };
    let chain = root.join(layout::CHAIN_DIR);
    let segments = root.join(layout::SEGMENTS_DIR);
    let mut prev = Sha256::ZERO;
    let mut seq = 0u64;
    let mut gens: HashMap<u64, GenState> = HashMap::new();
    let mut expect_seen = false;

    loop {
        let next = seq + 1;
        let name = layout::record_name(next);
        let rel = format!("{}/{name}", layout::CHAIN_DIR);
        let path = chain.join(&name);
        let (record, hash) = match read_record(&path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => break,
            Err(e) => return Err(at(&path)(e)),
            Ok(Err(why)) => {
                report.problem(rel, why);
                break;
            }
            Ok(Ok(x)) => x,
        };
        report.records += 1;
        if record.seq != next {
            report.problem(
                &rel,
                format!("record says seq {} but sits at position {next}", record.seq),
            );
        }
        if record.prev != prev {
            report.problem(
                &rel,
                format!(
                    "broken link: prev is {} but record {seq} hashes to {prev}",
                    record.prev
                ),
            );
        }
        if record.store != info.store {
            report.problem(
                &rel,
                format!("belongs to store {} not {}", esc(&record.store), info.store),
            );
        }
        if let Some(h) = opts.expect_head
            && h.seq == next
        {
            expect_seen = true;
            if h.hash != hash {
                report.problem(
                    &rel,
                    format!(
                        "differs from the expected head: hashes to {hash}, expected {}",
                        h.hash
                    ),
                );
            }
        }
        match &record.event {
            Event::Segment { .. } => {
                check_segment(&segments, &record, &mut report, &mut gens, visitor).map_err(
                    |e| VerifyError {
                        path: segments.clone(),
                        source: e,
                    },
                )?;
            }
            Event::Gap { gen_id, .. } if *gen_id != 0 => {
                gens.entry(*gen_id).or_default().gap = true;
            }
            Event::Closed { gen_id, end, .. } => {
                let g = gens.entry(*gen_id).or_default();
                if g.end != *end {
                    report.problem(
                        &rel,
                        format!(
                            "closes generation {gen_id} at {end} but {} bytes of it were captured",
                            g.end
                        ),
                    );
                }
                g.closed = true;
            }
            _ => {}
        }
        prev = hash;
        seq = next;
    }
    if seq > 0 {
        report.head = Some(Head { seq, hash: prev });
    }
    check_listing(root, &chain, &segments, seq, &mut report)?;
    check_head_file(root, report.head, &mut report);
    if let Some(h) = opts.expect_head
        && !expect_seen
    {
        report.problem(
            layout::CHAIN_DIR,
            format!(
                "chain ends at record {seq} but record {} ({}) is known to exist: truncated or rolled back",
                h.seq, h.hash
            ),
        );
    }
    if seq == 0 && report.problems.is_empty() {
        report.problem(layout::CHAIN_DIR, "the chain is empty");
    }
    Ok(report)
}

#[derive(Default)]
struct GenState {
    end: u64,
    gap: bool,
    closed: bool,
}

fn check_segment(
    segments: &Path,
    record: &Record,
    report: &mut Report,
    gens: &mut HashMap<u64, GenState>,
    visitor: &mut dyn ChainVisitor,
) -> io::Result<()> {
    let Event::Segment {
        file,
        sha256,
        size,
        content_sha256,
        content_size,
        first,
        last,
        spans,
    } = &record.event
    else {
        return Ok(());
    };
    report.segments += 1;
    let rel = format!("{}/{}", layout::SEGMENTS_DIR, esc(file));
    let rec_rel = format!("{}/{}", layout::CHAIN_DIR, layout::record_name(record.seq));
    match layout::parse_segment_name(file) {
        Some((s, h)) if s == record.seq && h == *sha256 => {}
        _ => {
            report.problem(
                &rec_rel,
                format!(
                    "names segment file {} which does not match its seq and hash",
                    esc(file)
                ),
            );
            return Ok(());
        }
    }
    let path = segments.join(file);
    let f = match File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            report.problem(rel, format!("missing (committed by record {})", record.seq));
            return Ok(());
        }
        Err(e) => return Err(e),
    };
    let observed = segment::read_segment(f, *content_size, &mut Adapter { visitor, record })?;
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
    if let Some((c, n)) = observed.content
        && (c != *content_sha256 || n != *content_size)
    {
        report.problem(
            &rel,
            format!("content hashes to {c} ({n} bytes), record says {content_sha256} ({content_size} bytes)"),
        );
    }
    let Some(manifest) = observed.manifest else {
        return Ok(());
    };
    if manifest.seq != record.seq || manifest.prev != record.prev || manifest.store != record.store
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
        let g = gens.entry(m.gen_id).or_default();
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
        } else if m.start > g.end && !g.gap {
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
        Some((_, l)) => *l = last.clone(),
    }
    Ok(())
}

fn check_listing(
    root: &Path,
    chain: &Path,
    segments: &Path,
    last: u64,
    report: &mut Report,
) -> Result<(), VerifyError> {
    for entry in std::fs::read_dir(root).map_err(at(root))? {
        let entry = entry.map_err(at(root))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        match name.as_str() {
            layout::STORE_FILE | layout::HEAD_FILE | layout::CHAIN_DIR | layout::SEGMENTS_DIR => {}
            n if n.starts_with(layout::TMP_PREFIX) => report.notes.push(Problem {
                file: esc(n),
                what: "left-over temporary file (an interrupted write; not part of the evidence)"
                    .into(),
            }),
            n => report.problem(esc(n), "extra file not part of the store"),
        }
    }
    for entry in std::fs::read_dir(chain).map_err(at(chain))? {
        let entry = entry.map_err(at(chain))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let rel = format!("{}/{}", layout::CHAIN_DIR, esc(&name));
        if name.starts_with(layout::TMP_PREFIX) {
            report.notes.push(Problem {
                file: rel,
                what: "left-over temporary file".into(),
            });
            continue;
        }
        match layout::parse_record_name(&name) {
            Some(s) if s <= last => {}
            Some(s) if s == last + 1 => {} // unreadable record, already reported
            Some(s) => report.problem(
                rel,
                format!("record {s} is beyond a break in the chain at {}", last + 1),
            ),
            None => report.problem(rel, "extra file not part of the chain"),
        }
    }
    for entry in std::fs::read_dir(segments).map_err(at(segments))? {
        let entry = entry.map_err(at(segments))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let rel = format!("{}/{}", layout::SEGMENTS_DIR, esc(&name));
        if name.starts_with(layout::TMP_PREFIX) {
            report.notes.push(Problem {
                file: rel,
                what: "left-over temporary file".into(),
            });
            continue;
        }
        let Some((s, _)) = layout::parse_segment_name(&name) else {
            report.problem(rel, "extra file not part of the store");
            continue;
        };
        if s > last {
            report.problem(
                rel,
                format!("segment {s} has no record (the chain ends at {last})"),
            );
            continue;
        }
        let rec = chain.join(layout::record_name(s));
        match read_record(&rec) {
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
    let path = root.join(layout::HEAD_FILE);
    let Ok(bytes) = std::fs::read(&path) else {
        if head.is_some() {
            report.notes.push(Problem {
                file: layout::HEAD_FILE.into(),
                what: "missing".into(),
            });
        }
        return;
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
