//! Byte-exact reconstruction of captured files from a verified store or bundle.
//!
//! Every file generation becomes one output file, `OUT/SOURCE/ORIGINAL/PATH.genN`, written from
//! the segments in chain order. The output directory must be new or empty; every name written
//! under it is built from checked components (a valid source id, then the normal components of
//! an absolute path), so nothing is ever written outside it, and no symlink is ever followed.
//!
//! **Names never collide.** A host can hold, over time, a file `/var/log/vpn.gen1/x` and a file
//! `/var/log/vpn` whose first generation is number 1: written as they are, the second's output
//! `vpn.gen1` would be the first's directory. So every component of an original path is
//! escaped ([`escape_component`]): `%` becomes `%25`, and the `.` of every `.gen` followed by a
//! digit becomes `%2E`. No escaped component then contains `.gen<digit>`, while every output
//! file's name ends in `.genN` (and perhaps a marker, below): a file and a directory can never
//! have the same name, and two generations never share one, as generation numbers are unique
//! in a store. A component whose escaped form would be too long for a file name (with the
//! suffix) is cut, and `%~` and 16 hex digits of the SHA-256 of the original component end it.
//! The index (`logkeep-extract.jsonl`) gives each output's original path exactly.
//!
//! **Damage is marked.** A generation is written whole only when every byte of it from its
//! first captured byte to its last comes from a segment that verified. Otherwise its file name
//! carries a marker and the index and the console name the ranges: `.DAMAGED` when a range comes
//! from a segment that did not verify (its bytes may be wrong, or left as zeros), else
//! `.INCOMPLETE` when a range was never captured (a `gap`), or is in a segment that is not
//! there (not selected for a partial bundle, pruned to media, refused, or left out by
//! `--source`/`--since`/`--until`). Ranges inside the file that were not written read as zero.

use crate::hash::Sha256;
use crate::layout::valid_source_id;
use crate::record::{Event, Record, Span};
use crate::shown::text as esc;
use crate::time::Timestamp;
use crate::verify::{self, ChainVisitor, Report, Tee, VerifyError, VerifyOptions};
use serde::Serialize;
use sha2::Digest;
use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Component, Path, PathBuf};

/// Name of the index written next to the extracted tree.
pub const INDEX_NAME: &str = "logkeep-extract.jsonl";

/// Marker appended to the name of a generation with a range from a segment that did not verify.
pub const DAMAGED_SUFFIX: &str = ".DAMAGED";

/// Marker appended to the name of a generation with a range that is not in the output.
pub const INCOMPLETE_SUFFIX: &str = ".INCOMPLETE";

/// Longest escaped component kept whole; longer ones are cut and end in a digest, so that with
/// `.genN` and a marker a name stays within the 255 bytes file systems allow.
const MAX_COMPONENT: usize = 200;

/// Whether a generation was written whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Condition {
    /// Every byte from 0 to its captured end, from segments that verified.
    Whole,
    /// Some range is not in the output (holes read as zeros; a missing end is not written).
    Incomplete,
    /// Some range comes from a segment that did not verify.
    Damaged,
}

/// One line of the index: an extracted file and where it came from.
#[derive(Debug, Clone, Serialize)]
pub struct Extracted {
    /// Output path relative to the output directory.
    pub output: String,
    /// Source id.
    pub source: String,
    /// Original absolute path.
    pub path: String,
    /// Device and inode of the original.
    pub dev: u64,
    /// Inode of the original.
    pub ino: u64,
    /// Generation number.
    pub gen_id: u64,
    /// Bytes written.
    pub size: u64,
    /// SHA-256 of the output file.
    pub sha256: Sha256,
    /// `whole`, `incomplete` or `damaged` (see the module documentation).
    pub condition: Condition,
    /// Where the chain says the generation's captured bytes end (may be past `size` when its
    /// last segments are not in the output).
    pub end: u64,
    /// Byte ranges `[start, end)` below `size` that were not written (they read as zeros).
    pub missing: Vec<(u64, u64)>,
    /// Byte ranges `[start, end)` from segments that did not verify (bytes may be wrong).
    pub damaged: Vec<(u64, u64)>,
    /// Byte ranges `[start, end)` past `size` the chain records but the output does not hold.
    pub not_included: Vec<(u64, u64)>,
}

/// Which captured files to write: the `extract --source/--since/--until` selection. A segment
/// is taken when its reads overlap the time bounds (as `export` selects segments).
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Source ids to write; empty means all.
    pub sources: Vec<String>,
    /// Only segments with a read at or after this time.
    pub since: Option<Timestamp>,
    /// Only segments with a read at or before this time.
    pub until: Option<Timestamp>,
}

impl Filter {
    fn takes_segment(&self, record: &Record) -> bool {
        let Event::Segment { first, last, .. } = &record.event else {
            return false;
        };
        let at = |t: &str| Timestamp::parse(t).ok();
        let after_since = match (self.since, at(last)) {
            (Some(s), Some(l)) => l >= s,
            _ => true,
        };
        let before_until = match (self.until, at(first)) {
            (Some(u), Some(f)) => f <= u,
            _ => true,
        };
        after_since && before_until
    }

    fn takes_source(&self, source: &str) -> bool {
        self.sources.is_empty() || self.sources.iter().any(|s| s == source)
    }
}

/// What is known of one generation's ranges.
#[derive(Default)]
struct Ranges {
    /// From segments that did not.
    damaged: Vec<(u64, u64)>,
    /// The furthest end any record states for it.
    end: u64,
}

struct GenOut {
    rel: PathBuf,
    len: u64,
    hasher: sha2::Sha256,
    span: Span,
    /// Holes left below `len` (they read as zeros).
    missing: Vec<(u64, u64)>,
}

pub(crate) struct Extractor {
    out: PathBuf,
    filter: Filter,
    gens: HashMap<u64, GenOut>,
    ranges: BTreeMap<u64, Ranges>,
    /// Generations of the selected sources, with a span, for the index: (source, path, dev, ino).
    seen: BTreeMap<u64, Span>,
    order: Vec<u64>,
    /// Position in the current segment's spans: (record seq, span index, offset in span).
    cursor: (u64, usize, u64),
    /// The first error writing the output, which ends the extraction (the input is not at
    /// fault).
    failed: Option<(PathBuf, io::Error)>,
}

/// Escape one component of an original path for an output name (see the module
/// documentation): reversible, and never containing `.gen` followed by a digit.
pub fn escape_component(c: &str) -> String {
    let mut out = String::with_capacity(c.len());
    let b = c.as_bytes();
    for (i, ch) in c.char_indices() {
        match ch {
            '%' => out.push_str("%25"),
            '.' if b[i + 1..].starts_with(b"gen")
                && b.get(i + 4).is_some_and(u8::is_ascii_digit) =>
            {
                out.push_str("%2E")
            }
            _ => out.push(ch),
        }
    }
    if out.len() > MAX_COMPONENT {
        let mut cut = MAX_COMPONENT - 20;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        // Never cut inside a `%XX` escape.
        if let Some(p) = out[cut.saturating_sub(2)..cut].find('%') {
            cut = cut - 2 + p;
        }
        let digest = Sha256::of(c.as_bytes()).to_string();
        out.truncate(cut);
        out.push_str("%~");
        out.push_str(&digest[..16]);
    }
    out
}

/// The output path (relative) of a generation, or why it cannot be made safely.
pub fn output_path(source: &str, path: &str, gen_id: u64) -> Result<PathBuf, String> {
    if !valid_source_id(source) {
        return Err(format!("invalid source id {:?}", esc(source)));
    }
    let p = Path::new(path);
    if !p.is_absolute() || path.contains('\0') {
        return Err(format!("path {:?} is not absolute", esc(path)));
    }
    let mut rel = PathBuf::from(source);
    let mut last = None;
    for c in p.components() {
        match c {
            Component::RootDir => {}
            Component::Normal(n) => {
                if let Some(prev) = last.replace(n) {
                    rel.push(escape_component(&prev.to_string_lossy()));
                }
            }
            _ => {
                return Err(format!("path {:?} has a forbidden component", esc(path)));
            }
        }
    }
    let Some(name) = last else {
        return Err(format!("path {:?} names no file", esc(path)));
    };
    rel.push(format!(
        "{}.gen{gen_id}",
        escape_component(&name.to_string_lossy())
    ));
    Ok(rel)
}

/// Add `[a, b)` to a sorted list of disjoint ranges, merging.
fn add_range(list: &mut Vec<(u64, u64)>, a: u64, b: u64) {
    if a >= b {
        return;
    }
    list.push((a, b));
    list.sort_unstable();
    let mut merged: Vec<(u64, u64)> = Vec::with_capacity(list.len());
    for &(s, e) in list.iter() {
        match merged.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => merged.push((s, e)),
        }
    }
    *list = merged;
}

fn fail(what: String) -> io::Error {
    io::Error::other(what)
}

impl Extractor {
    /// Remember the first output error (with the output file it is about) and return an error
    /// that stops the walk.
    fn failed(&mut self, path: PathBuf, e: io::Error) -> io::Error {
        let msg = format!("{}: {e}", crate::shown::path(&path));
        self.failed.get_or_insert((path, e));
        fail(msg)
    }

    fn write(&mut self, span: &Span, offset: u64, data: &mut dyn Read) -> io::Result<()> {
        if !self.gens.contains_key(&span.gen_id) {
            let rel = output_path(&span.source, &span.path, span.gen_id)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            let full = self.out.join(&rel);
            if let Some(parent) = full.parent()
                && let Err(e) = fs::create_dir_all(parent)
            {
                return Err(self.failed(parent.to_owned(), e));
            }
            if let Err(e) = File::create_new(&full) {
                return Err(self.failed(full, e));
            }
            self.order.push(span.gen_id);
            self.gens.insert(
                span.gen_id,
                GenOut {
                    rel,
                    len: 0,
                    hasher: sha2::Sha256::new(),
                    span: span.clone(),
                    missing: Vec::new(),
                },
            );
        }
        let Some(g) = self.gens.get_mut(&span.gen_id) else {
            return Ok(());
        };
        if offset < g.len {
            // Only possible in a damaged store extracted with force: keep the first copy.
            io::copy(data, &mut io::sink())?;
            return Ok(());
        }
        let full = self.out.join(&g.rel);
        let opened = match fs::symlink_metadata(&full) {
            Ok(m) if m.file_type().is_symlink() => Err(fail("became a symbolic link".into())),
            Ok(_) => OpenOptions::new().write(true).open(&full),
            Err(e) => Err(e),
        };
        let mut f = match opened.and_then(|mut f| f.seek(SeekFrom::Start(offset)).map(|_| f)) {
            Ok(f) => f,
            Err(e) => return Err(self.failed(full, e)),
        };
        if offset > g.len {
            g.missing.push((g.len, offset));
            hash_zeros(&mut g.hasher, offset - g.len);
        }
        let mut buf = vec![0u8; 256 * 1024];
        let mut pos = offset;
        loop {
            // A read error is the input's (a segment that does not decode): returned as it is.
            let n = data.read(&mut buf)?;
            if n == 0 {
                break;
            }
            if let Err(e) = f.write_all(&buf[..n]) {
                return Err(self.failed(full, e));
            }
            g.hasher.update(&buf[..n]);
            pos += n as u64;
        }
        g.len = pos;
        g.span.end = pos;
        Ok(())
    }
}

/// Hash `n` zero bytes: a hole, as reading the output file returns it.
fn hash_zeros(hasher: &mut sha2::Sha256, mut n: u64) {
    let zeros = [0u8; 8192];
    while n > 0 {
        let k = n.min(zeros.len() as u64) as usize;
        hasher.update(&zeros[..k]);
        n -= k as u64;
    }
}

impl ChainVisitor for Extractor {
    fn member(
        &mut self,
        record: &Record,
        _: usize,
        _: &str,
        size: u64,
        data: &mut dyn Read,
    ) -> io::Result<()> {
        let Event::Segment { spans, .. } = &record.event else {
            return Ok(());
        };
        if self.cursor.0 != record.seq {
            self.cursor = (record.seq, 0, 0);
        }
        let (_, k, off) = self.cursor;
        let Some(span) = spans.get(k) else {
            return Ok(()); // more members than spans: reported by verification
        };
        if self.filter.takes_source(&span.source) && self.filter.takes_segment(record) {
            self.write(span, span.start + off, data)?;
        }
        self.cursor = if span.start + off + size >= span.end {
            (record.seq, k + 1, 0)
        } else {
            (record.seq, k, off + size)
        };
        Ok(())
    }

    fn segment_end(&mut self, record: &Record, verified: bool) {
        let Event::Segment { spans, .. } = &record.event else {
            return;
        };
        let taken = self.filter.takes_segment(record);
        for s in spans {
            if !self.filter.takes_source(&s.source) {
                continue;
            }
            self.seen.entry(s.gen_id).or_insert_with(|| s.clone());
            let r = self.ranges.entry(s.gen_id).or_default();
            r.end = r.end.max(s.end);
            if !taken {
                continue;
            }
            if !verified {
                add_range(&mut r.damaged, s.start, s.end);
            }
        }
    }

    fn segment_absent(&mut self, record: &Record) {
        let Event::Segment { spans, .. } = &record.event else {
            return;
        };
        for s in spans {
            if self.filter.takes_source(&s.source) {
                let r = self.ranges.entry(s.gen_id).or_default();
                r.end = r.end.max(s.end);
            }
        }
    }
}

impl Extractor {
    /// An extractor writing under `out`, which [`prepare_out`] made ready.
    pub(crate) fn new(out: &Path, filter: Filter) -> Extractor {
        Extractor {
            out: out.to_owned(),
            filter,
            gens: HashMap::new(),
            ranges: BTreeMap::new(),
            seen: BTreeMap::new(),
            order: Vec::new(),
            cursor: (0, 0, 0),
            failed: None,
        }
    }

    /// The output error that ended the walk, if one did.
    pub(crate) fn take_failure(&mut self) -> Option<VerifyError> {
        self.failed
            .take()
            .map(|(path, source)| VerifyError { path, source })
    }

    /// A generation with a damaged range but no byte written gets an empty file all the same,
    /// so that the index and the console name it.
    fn create_unwritten(&mut self) -> io::Result<()> {
        let damaged: Vec<u64> = self
            .ranges
            .iter()
            .filter(|(id, r)| !r.damaged.is_empty() && !self.gens.contains_key(id))
            .map(|(id, _)| *id)
            .collect();
        for id in damaged {
            let Some(span) = self.seen.get(&id).cloned() else {
                continue;
            };
            let empty = Span {
                start: 0,
                end: 0,
                ..span
            };
            self.write(&empty, 0, &mut io::empty())?;
        }
        Ok(())
    }

    /// Mark, rename and index every generation written; return what was extracted.
    pub(crate) fn finish(mut self) -> Result<Vec<Extracted>, VerifyError> {
        if let Err(e) = self.create_unwritten() {
            return Err(self.take_failure().unwrap_or(VerifyError {
                path: self.out.clone(),
                source: e,
            }));
        }
        let index_path = self.out.join(INDEX_NAME);
        let at = |path: &Path| {
            let path = path.to_owned();
            move |source| VerifyError { path, source }
        };
        let mut list = Vec::new();
        let mut index = File::create_new(&index_path).map_err(at(&index_path))?;
        for gen_id in std::mem::take(&mut self.order) {
            let Some(mut g) = self.gens.remove(&gen_id) else {
                continue;
            };
            let r = self.ranges.remove(&gen_id).unwrap_or_default();
            let end = r.end.max(g.len);
            let missing = std::mem::take(&mut g.missing);
            let not_included = if end > g.len {
                vec![(g.len, end)]
            } else {
                Vec::new()
            };
            let condition = if !r.damaged.is_empty() {
                Condition::Damaged
            } else if !missing.is_empty() || !not_included.is_empty() {
                Condition::Incomplete
            } else {
                Condition::Whole
            };
            let suffix = match condition {
                Condition::Whole => "",
                Condition::Incomplete => INCOMPLETE_SUFFIX,
                Condition::Damaged => DAMAGED_SUFFIX,
            };
            if !suffix.is_empty() {
                let mut name = g.rel.file_name().unwrap_or_default().to_os_string();
                name.push(suffix);
                let marked = g.rel.with_file_name(name);
                let (from, to) = (self.out.join(&g.rel), self.out.join(&marked));
                if to.exists() {
                    return Err(at(&to)(io::ErrorKind::AlreadyExists.into()));
                }
                fs::rename(&from, &to).map_err(at(&from))?;
                g.rel = marked;
            }
            let e = Extracted {
                output: g.rel.to_string_lossy().into_owned(),
                source: g.span.source,
                path: g.span.path,
                dev: g.span.dev,
                ino: g.span.ino,
                gen_id,
                size: g.len,
                sha256: Sha256(g.hasher.finalize().into()),
                condition,
                end,
                missing,
                damaged: r.damaged,
                not_included,
            };
            let mut line =
                serde_json::to_vec(&e).map_err(|e| at(&index_path)(io::Error::other(e)))?;
            line.push(b'\n');
            index.write_all(&line).map_err(at(&index_path))?;
            list.push(e);
        }
        index.sync_all().map_err(at(&index_path))?;
        Ok(list)
    }
}

/// Make `out` an empty directory: create it, or accept it if it exists and is empty.
pub(crate) fn prepare_out(out: &Path) -> io::Result<()> {
    match fs::read_dir(out) {
        Ok(mut d) => {
            if d.next().is_some() {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    "output directory is not empty",
                ));
            }
            Ok(())
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => fs::create_dir_all(out),
        Err(e) => Err(e),
    }
}

/// Verify the store at `root` and, if it verified (or `force` is set), write every captured
/// file generation `filter` selects under `out`, which must not exist or be empty. Returns the
/// report of the verification that accompanied the extraction and the list of files written.
/// `progress` is told of every segment of both walks (the verification, then the extraction).
pub fn extract_store(
    root: &Path,
    out: &Path,
    opts: &VerifyOptions,
    force: bool,
    filter: &Filter,
    progress: &mut dyn ChainVisitor,
) -> Result<(Report, Vec<Extracted>), VerifyError> {
    let err = |source| VerifyError {
        path: out.to_owned(),
        source,
    };
    let first = verify::verify_store_with(root, opts, progress)?;
    if !first.ok() && !force {
        return Ok((first, Vec::new()));
    }
    prepare_out(out).map_err(err)?;
    let mut ex = Extractor::new(out, filter.clone());
    let walked = verify::verify_store_with(root, opts, &mut Tee(&mut ex, progress));
    if let Some(e) = ex.take_failure() {
        return Err(e);
    }
    let report = walked?;
    let list = ex.finish()?;
    Ok((report, list))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_paths_stay_inside() {
        assert_eq!(
            output_path("vpn", "/var/log/a.log", 3).unwrap(),
            PathBuf::from("vpn/var/log/a.log.gen3")
        );
        assert!(output_path("vpn", "/var/../etc/passwd", 1).is_err());
        assert!(output_path("vpn", "relative/a", 1).is_err());
        assert!(output_path("..", "/a", 1).is_err());
        assert!(output_path("vpn", "/", 1).is_err());
        assert!(output_path("a/b", "/x", 1).is_err());
    }

    #[test]
    fn files_and_directories_never_share_a_name() {
        // `/l/vpn` generation 1 and a file under a directory `/l/vpn.gen1`.
        let file = output_path("s", "/l/vpn", 1).unwrap();
        let under = output_path("s", "/l/vpn.gen1/x", 2).unwrap();
        assert_eq!(file, PathBuf::from("s/l/vpn.gen1"));
        assert_eq!(under, PathBuf::from("s/l/vpn%2Egen1/x.gen2"));
        assert!(!under.starts_with(&file));
        assert_eq!(escape_component("a%2Egen1"), "a%252Egen1");
        assert_eq!(escape_component("x.general"), "x.general");
        assert_eq!(escape_component("x.gen"), "x.gen");
        let long = "é".repeat(200);
        let e = escape_component(&long);
        assert!(e.len() <= MAX_COMPONENT && e.contains("%~"), "{e}");
        assert_ne!(e, escape_component(&format!("{long}x")));
    }

    #[test]
    fn ranges_merge() {
        let mut v = Vec::new();
        add_range(&mut v, 10, 20);
        add_range(&mut v, 0, 5);
        add_range(&mut v, 5, 10);
        assert_eq!(v, vec![(0, 20)]);
        add_range(&mut v, 30, 40);
        assert_eq!(v, vec![(0, 20), (30, 40)]);
    }
}
