//! File capture: which files a source names, which generation each one is, and which bytes of
//! it have not been captured yet — through rotation, truncation, deletion and restarts.
//!
//! The [`Tracker`] is synchronous and owns one open descriptor per file generation it follows.
//! A poll re-resolves every pattern (the filesystem is the truth; change notifications only
//! make the next poll come sooner), then reads what each descriptor has beyond its position
//! with positioned reads in large chunks and hands every chunk to a [`ChunkSink`]. It never
//! looks at lines: bytes are bytes.
//!
//! Identity: a file is `(st_dev, st_ino)` plus its content fingerprint (the first bytes and the
//! bytes just before our position, see [`copies::Fingerprint`]). A generation is one identity
//! followed from offset 0. A file that shrinks below our position, or whose fingerprint no
//! longer matches, is a new generation; before switching, the rotated copy (`copytruncate`'s
//! copy, or its `.gz`) is searched and the old generation's tail read from it. If there is no
//! copy, the chain gets a `tamper` record, because logs do not shrink by themselves.
//!
//! Because the descriptor stays open, a renamed or deleted file is read to its end; a file that
//! left its path is closed once it has been idle for [`TrackerOptions::linger`] and everything
//! read from it is committed.
//!
//! Positions here run ahead of what is durable: the sink reports commits with
//! [`Tracker::committed`], and [`Tracker::rewind`] returns every file to its committed position
//! when a segment could not be written.

pub mod copies;

use copies::{Fingerprint, Verdict};
use logkeep_format::segment::ChunkOrigin;
use logkeep_format::{Event, HEAD_LEN, Sha256};
use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

/// A configured source: an id and the paths or glob patterns it captures.
#[derive(Debug, Clone)]
pub struct SourceSpec {
    /// Source id.
    pub id: String,
    /// Absolute paths or glob patterns.
    pub patterns: Vec<String>,
}

/// Where a generation stood in the chain when the daemon started.
#[derive(Debug, Clone)]
pub struct Known {
    /// Generation number.
    pub gen_id: u64,
    /// Source id.
    pub source: String,
    /// Path last read at.
    pub path: String,
    /// st_dev.
    pub dev: u64,
    /// st_ino.
    pub ino: u64,
    /// Committed end.
    pub end: u64,
    /// SHA-256 of the first `min(end, HEAD_LEN)` bytes.
    pub head: Sha256,
    /// SHA-256 of the `min(end, TAIL_LEN)` bytes before `end`.
    pub tail: Sha256,
}

/// Receives what a poll reads.
pub trait ChunkSink {
    /// A chunk of bytes of one generation at `origin.start`.
    fn chunk(&mut self, origin: &ChunkOrigin<'_>, data: &[u8]) -> io::Result<()>;
    /// An event for the chain (`tamper`, `gap` or `closed`). Chunks handed over before it
    /// precede it in the chain.
    fn notice(&mut self, event: Event) -> io::Result<()>;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Left {
    /// Renamed away (still linked) or replaced by another file at the path.
    Rotated,
    /// Unlinked, but a rotated copy (e.g. the `.gz`) exists.
    Compressed,
    /// Unlinked with no copy: reported as tamper.
    Deleted,
}

struct Tracked {
    source: String,
    path: String,
    key: (u64, u64),
    gen_id: u64,
    /// Next byte to read; `fp.pos` always equals it.
    fp: Fingerprint,
    /// Bytes durable in the chain.
    committed: u64,
    file: File,
    /// Whether the latest scan found the file under a configured pattern.
    seen: bool,
    /// Size at the previous poll, to check the fingerprint only when something changed.
    last_size: u64,
    last_growth: Instant,
    /// Set once the file is known to have left its path.
    left: Option<Left>,
    /// Whether it was seen under another name than the first (a rotated file the patterns
    /// also match); its deletion later is the rotation's expiry, not tampering.
    renamed: bool,
}

/// Tuning for a [`Tracker`].
#[derive(Debug, Clone)]
pub struct TrackerOptions {
    /// Bytes read per chunk (and per segment member).
    pub chunk_bytes: usize,
    /// How long a file that left its path (renamed away or deleted) must have been idle before
    /// it is closed, for writers that keep writing to it until they reopen.
    pub linger: Duration,
    /// Whether files ending in `.gz` that match a pattern are captured as files of their own.
    /// They are rotated copies of plain files in nearly every setup, so by default they are
    /// only read to recover bytes a plain generation had not yet been read for.
    pub capture_compressed: bool,
}

impl Default for TrackerOptions {
    fn default() -> Self {
        TrackerOptions {
            chunk_bytes: 1 << 20,
            linger: Duration::from_secs(10),
            capture_compressed: false,
        }
    }
}

/// What one poll did.
#[derive(Debug, Default, Clone, Copy)]
pub struct PollStats {
    /// Bytes read.
    pub bytes: u64,
    /// Files followed after the poll.
    pub files: usize,
}

/// A followed file, for status displays.
#[derive(Debug, Clone)]
pub struct FileState {
    /// Source id.
    pub source: String,
    /// Path.
    pub path: String,
    /// (dev, ino).
    pub key: (u64, u64),
    /// Generation.
    pub gen_id: u64,
    /// Bytes read.
    pub pos: u64,
    /// Bytes committed.
    pub committed: u64,
    /// The file's size at the latest poll.
    pub size: u64,
}

/// Follows every file of every source. See the crate documentation.
pub struct Tracker {
    sources: Vec<SourceSpec>,
    opts: TrackerOptions,
    files: HashMap<(u64, u64), Tracked>,
    /// Generations the chain says were being followed, not yet found again.
    known: HashMap<(u64, u64), Known>,
    resumed: bool,
    /// Files found to be copies of a followed generation (a `copytruncate` copy under a name the
    /// patterns also match): never captured as files of their own, since their bytes are that
    /// generation's. Kept for the life of the process.
    shadows: HashMap<(u64, u64), u64>,
    next_gen: u64,
    buf: Vec<u8>,
    complained: HashSet<String>,
}

fn wall(t: SystemTime) -> String {
    humantime::format_rfc3339_nanos(t).to_string()
}

/// Hand `data` (read at `fp.pos`) to the sink as one chunk and account for it.
fn emit(
    sink: &mut dyn ChunkSink,
    source: &str,
    path: &str,
    key: (u64, u64),
    gen_id: u64,
    fp: &mut Fingerprint,
    data: &[u8],
) -> io::Result<()> {
    let start = fp.pos;
    fp.update(data, HEAD_LEN as usize);
    let now = SystemTime::now();
    let read_at = wall(now);
    let origin = ChunkOrigin {
        source,
        path,
        dev: key.0,
        ino: key.1,
        gen_id,
        start,
        head: Sha256::of(&fp.head),
        tail: Sha256::of(&fp.tail),
        read_at: &read_at,
        read_unix: now
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
    };
    sink.chunk(&origin, data)
}

fn read_exact_at(file: &File, len: usize, at: u64) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; len];
    let mut n = 0;
    while n < len {
        match file.read_at(&mut buf[n..], at + n as u64) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf.truncate(n);
    Ok(buf)
}

/// Whether `file` still holds our fingerprint's bytes at the same offsets.
fn still_matches(file: &File, fp: &Fingerprint) -> io::Result<bool> {
    if fp.pos == 0 {
        return Ok(true);
    }
    if read_exact_at(file, fp.head.len(), 0)? != fp.head {
        return Ok(false);
    }
    let start = fp.pos - fp.tail.len() as u64;
    Ok(read_exact_at(file, fp.tail.len(), start)? == fp.tail)
}

/// Rebuild a fingerprint from the file itself, for a generation resumed at `end` whose head
/// digest is `head`; `None` if the file's content does not match (another file took the inode).
fn refingerprint(file: &File, end: u64, head: &Sha256) -> io::Result<Option<Fingerprint>> {
    let hl = end.min(HEAD_LEN) as usize;
    let h = read_exact_at(file, hl, 0)?;
    if h.len() != hl || Sha256::of(&h) != *head {
        return Ok(None);
    }
    let tl = end.min(copies::TAIL_LEN as u64) as usize;
    let t = read_exact_at(file, tl, end - tl as u64)?;
    if t.len() != tl {
        return Ok(None);
    }
    Ok(Some(Fingerprint {
        head: h,
        tail: t,
        pos: end,
    }))
}

impl Tracker {
    /// A tracker for `sources`, resuming the generations the chain knows.
    pub fn new(
        sources: Vec<SourceSpec>,
        known: impl IntoIterator<Item = Known>,
        max_gen: u64,
        opts: TrackerOptions,
    ) -> Tracker {
        let buf = vec![0u8; opts.chunk_bytes];
        // Several generations may have had one (dev, ino) over time; the newest one counts.
        let mut by_key: HashMap<(u64, u64), Known> = HashMap::new();
        for k in known {
            match by_key.get(&(k.dev, k.ino)) {
                Some(old) if old.gen_id > k.gen_id => {}
                _ => {
                    by_key.insert((k.dev, k.ino), k);
                }
            }
        }
        Tracker {
            sources,
            opts,
            files: HashMap::new(),
            known: by_key,
            resumed: false,
            shadows: HashMap::new(),
            next_gen: max_gen + 1,
            buf,
            complained: HashSet::new(),
        }
    }

    /// Mark positions durable: `(dev, ino, gen_id, end)` for every committed span.
    pub fn committed(&mut self, spans: impl IntoIterator<Item = (u64, u64, u64, u64)>) {
        for (dev, ino, gen_id, end) in spans {
            if let Some(t) = self.files.get_mut(&(dev, ino))
                && t.gen_id == gen_id
            {
                t.committed = t.committed.max(end);
            }
        }
    }

    /// Forget everything read but not committed: the next poll reads it again. Fingerprints
    /// are rebuilt from the files at the committed positions.
    pub fn rewind(&mut self) {
        let mut lost = Vec::new();
        for (key, t) in self.files.iter_mut() {
            if t.fp.pos == t.committed {
                continue;
            }
            match refingerprint(
                &t.file,
                t.committed,
                &Sha256::of(&t.fp.head[..t.committed.min(HEAD_LEN) as usize]),
            ) {
                Ok(Some(fp)) => t.fp = fp,
                _ => lost.push(*key),
            }
        }
        for key in lost {
            // Cannot happen for a file that only grows; if it does, start the file over as a
            // new generation rather than guess.
            if let Some(mut t) = self.files.remove(&key) {
                tracing::warn!(path = %t.path, "cannot return to the committed position; following as a new generation");
                t.gen_id = self.next_gen;
                self.next_gen += 1;
                t.fp = Fingerprint::default();
                t.committed = 0;
                self.files.insert(key, t);
            }
        }
    }

    /// Files currently followed.
    pub fn files(&self) -> Vec<FileState> {
        let mut v: Vec<FileState> = self
            .files
            .values()
            .map(|t| FileState {
                source: t.source.clone(),
                path: t.path.clone(),
                key: t.key,
                gen_id: t.gen_id,
                pos: t.fp.pos,
                committed: t.committed,
                size: t.last_size,
            })
            .collect();
        v.sort_by(|a, b| (&a.source, &a.path).cmp(&(&b.source, &b.path)));
        v
    }

    /// Resolve the patterns, then read everything new. Errors are from the sink; problems with
    /// single files are logged and do not stop the others.
    pub fn poll(&mut self, sink: &mut dyn ChunkSink) -> io::Result<PollStats> {
        let now = Instant::now();
        for t in self.files.values_mut() {
            t.seen = false;
        }
        self.scan(sink)?;
        if !self.resumed {
            self.resume_missing(sink)?;
            self.resumed = true;
        }
        let mut stats = PollStats::default();
        let mut keys: Vec<(u64, u64)> = self.files.keys().copied().collect();
        keys.sort_by(|a, b| self.files[a].path.cmp(&self.files[b].path));
        for key in keys {
            stats.bytes += self.read_file(key, now, sink)?;
        }
        stats.files = self.files.len();
        Ok(stats)
    }

    fn scan(&mut self, sink: &mut dyn ChunkSink) -> io::Result<()> {
        let mut claimed: HashSet<(u64, u64)> = HashSet::new();
        for si in 0..self.sources.len() {
            for pi in 0..self.sources[si].patterns.len() {
                let pattern = self.sources[si].patterns[pi].clone();
                let paths = match glob::glob(&pattern) {
                    Ok(p) => p,
                    Err(e) => {
                        self.complain(&pattern, format_args!("bad pattern: {e}"));
                        continue;
                    }
                };
                for entry in paths {
                    let path = match entry {
                        Ok(p) => p,
                        Err(e) => {
                            let p = e.path().display().to_string();
                            self.complain(&p, format_args!("cannot be listed: {}", e.error()));
                            continue;
                        }
                    };
                    if !self.opts.capture_compressed && path.extension().is_some_and(|e| e == "gz")
                    {
                        continue;
                    }
                    self.found(si, &path, &mut claimed, sink)?;
                }
            }
        }
        Ok(())
    }

    fn complain(&mut self, what: &str, why: std::fmt::Arguments<'_>) {
        // Once per path, so a permanent problem does not flood the log every second.
        if self.complained.insert(what.to_owned()) {
            tracing::warn!(path = what, "{why}");
        }
    }

    fn found(
        &mut self,
        si: usize,
        path: &Path,
        claimed: &mut HashSet<(u64, u64)>,
        sink: &mut dyn ChunkSink,
    ) -> io::Result<()> {
        let Some(path_str) = path.to_str().map(str::to_owned) else {
            self.complain(
                &path.display().to_string(),
                format_args!("path is not UTF-8; not captured"),
            );
            return Ok(());
        };
        // Recorded paths are absolute and plain: they become member names and output paths.
        if !path.is_absolute()
            || !path.components().all(|c| {
                matches!(
                    c,
                    std::path::Component::RootDir | std::path::Component::Normal(_)
                )
            })
        {
            self.complain(
                &path_str,
                format_args!("path is not absolute and plain (no `.` or `..`); not captured"),
            );
            return Ok(());
        }
        let meta = match std::fs::metadata(path) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()), // raced a rename
            Err(e) => {
                self.complain(&path_str, format_args!("cannot stat: {e}"));
                return Ok(());
            }
        };
        if !meta.is_file() {
            return Ok(());
        }
        let key = (meta.dev(), meta.ino());
        if !claimed.insert(key) {
            return Ok(()); // the same file through another pattern or source: captured once
        }
        if self.shadows.contains_key(&key) {
            return Ok(());
        }
        if let Some(t) = self.files.get_mut(&key) {
            t.seen = true;
            if t.path != path_str {
                tracing::info!(from = %t.path, to = %path_str, gen_id = t.gen_id, "file renamed");
                t.path = path_str;
                t.renamed = true;
            }
            return Ok(());
        }
        let file = match File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                // Renamed between the stat and the open: find it by identity among its
                // siblings, or record that it is gone.
                return self.vanished(si, path, &path_str, key, meta.len(), sink);
            }
            Err(e) => {
                self.complain(&path_str, format_args!("cannot open: {e}"));
                return Ok(());
            }
        };
        if !self.known.contains_key(&key)
            && let Some(gen_id) = self.copy_of_followed(path, key)
        {
            tracing::info!(path = %path_str, gen_id, "a copy of a followed file (copytruncate): not captured twice");
            self.shadows.insert(key, gen_id);
            return Ok(());
        }
        self.follow(si, file, path_str, key, true, sink)
    }

    /// The generation a newly found file is a copy of: a followed file in the same directory
    /// with the same stem whose content it repeats.
    fn copy_of_followed(&self, path: &Path, key: (u64, u64)) -> Option<u64> {
        let stem = |p: &Path| {
            p.file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.split('.').next())
                .map(str::to_owned)
        };
        let (dir, mine) = (path.parent()?, stem(path)?);
        self.files.values().find_map(|t| {
            let tp = Path::new(&t.path);
            let related = t.key != key
                && t.fp.pos > 0
                && tp.parent() == Some(dir)
                && stem(tp).as_deref() == Some(mine.as_str());
            // Only a full match (first KiB and the KiB before our position, at that position): a
            // shorter file that merely starts alike may be a new log with the same header, and
            // must be captured. At worst a copy made before our last read is captured twice.
            let same = related && matches!(copies::compare(path, &t.fp), Ok(Verdict::Match));
            same.then_some(t.gen_id)
        })
    }

    fn vanished(
        &mut self,
        si: usize,
        path: &Path,
        path_str: &str,
        key: (u64, u64),
        size: u64,
        sink: &mut dyn ChunkSink,
    ) -> io::Result<()> {
        if let Some(p) = copies::find_by_identity(path, key)
            && let Ok(f) = File::open(&p)
            && let Some(s) = p.to_str()
        {
            return self.follow(si, f, s.to_owned(), key, false, sink);
        }
        if size == 0 && !self.known.contains_key(&key) {
            return Ok(());
        }
        tracing::error!(
            path = path_str,
            size,
            "file vanished before it could be opened"
        );
        sink.notice(Event::Gap {
            source: self.sources[si].id.clone(),
            path: path_str.to_owned(),
            dev: key.0,
            ino: key.1,
            gen_id: 0,
            from: 0,
            size_seen: Some(size),
            reason: "vanished before it could be opened".into(),
        })
    }

    /// Start following an open file: resume its generation if the chain knows it, else a new one.
    fn follow(
        &mut self,
        si: usize,
        file: File,
        path: String,
        key: (u64, u64),
        seen: bool,
        sink: &mut dyn ChunkSink,
    ) -> io::Result<()> {
        let meta = file.metadata()?;
        if (meta.dev(), meta.ino()) != key {
            return Ok(()); // replaced between stat and open; the next poll sees the new one
        }
        self.complained.remove(&path);
        let mut source = self.sources[si].id.clone();
        let mut resumed = None;
        if let Some(k) = self.known.remove(&key) {
            match refingerprint(&file, k.end, &k.head)? {
                Some(fp) if meta.len() >= k.end => {
                    source = k.source.clone();
                    resumed = Some((k.gen_id, fp));
                }
                _ => {
                    // Shrunk or different content while logkeep was stopped.
                    self.known.insert(key, k.clone());
                    self.finish_known_elsewhere(&k, Some(&path), sink)?;
                    self.known.remove(&key);
                }
            }
        }
        let (gen_id, fp) = match resumed {
            Some(x) => x,
            None => (self.new_gen(), Fingerprint::default()),
        };
        tracing::debug!(path = %path, gen_id, pos = fp.pos, "following");
        let committed = fp.pos;
        self.files.insert(
            key,
            Tracked {
                source,
                path,
                key,
                gen_id,
                fp,
                committed,
                file,
                seen,
                last_size: meta.len(),
                last_growth: Instant::now(),
                left: if seen { None } else { Some(Left::Rotated) },
                renamed: !seen,
            },
        );
        Ok(())
    }

    /// After the first scan: generations the chain was following that no pattern matched any
    /// more. They were rotated (or deleted) while logkeep was stopped; find them and finish them.
    fn resume_missing(&mut self, sink: &mut dyn ChunkSink) -> io::Result<()> {
        let mut missing: Vec<Known> = self.known.values().cloned().collect();
        missing.sort_by_key(|k| k.gen_id);
        for k in missing {
            let key = (k.dev, k.ino);
            let si = self.sources.iter().position(|s| s.id == k.source);
            // Renamed: same identity among the siblings of its last path.
            // Only if it still holds what was captured: after a delete the inode may have gone to
            // another file (a `.gz` made by the same rotation, say), which is not ours to follow.
            if let Some(si) = si
                && let Some(p) = copies::find_by_identity(Path::new(&k.path), key)
                && let Ok(f) = File::open(&p)
                && let Ok(Some(_)) = refingerprint(&f, k.end, &k.head)
                && let Some(s) = p.to_str()
            {
                let s = s.to_owned();
                tracing::info!(from = %k.path, to = %s, gen_id = k.gen_id, "found a generation rotated while logkeep was stopped");
                self.follow(si, f, s, key, false, sink)?;
                if self.files.contains_key(&key) {
                    continue;
                }
            }
            if self.known.contains_key(&key) {
                self.finish_known_elsewhere(&k, None, sink)?;
                self.known.remove(&key);
            }
        }
        Ok(())
    }

    /// A known generation's file is gone or is no longer the same content: read what is
    /// missing from a rotated copy if there is one, else record the gap.
    fn finish_known_elsewhere(
        &mut self,
        k: &Known,
        replaced_at: Option<&str>,
        sink: &mut dyn ChunkSink,
    ) -> io::Result<()> {
        let key = (k.dev, k.ino);
        // Without the bytes in memory, match copies by the recorded head digest alone.
        let mut found = None;
        // The path it was last read at comes first: after a copytruncate the generation's last
        // bytes were read from the copy, which is where the chain says it was.
        let at_path = std::fs::metadata(&k.path)
            .ok()
            .map(|m| (std::path::PathBuf::from(&k.path), m));
        for (p, m) in at_path
            .into_iter()
            .chain(copies::siblings(Path::new(&k.path)))
        {
            let hl = k.end.min(HEAD_LEN) as usize;
            let Ok(f) = File::open(&p) else { continue };
            let head = if p.extension().is_some_and(|e| e == "gz") {
                let mut r = flate2::read::MultiGzDecoder::new(io::BufReader::new(f));
                let mut h = vec![0u8; hl];
                let mut n = 0;
                while n < hl {
                    match io::Read::read(&mut r, &mut h[n..]) {
                        Ok(0) | Err(_) => break,
                        Ok(x) => n += x,
                    }
                }
                h.truncate(n);
                h
            } else {
                read_exact_at(&f, hl, 0)?
            };
            if head.len() == hl && Sha256::of(&head) == k.head && (m.dev(), m.ino()) != key {
                found = Some(p);
                break;
            }
        }
        let mut fp = Fingerprint {
            head: Vec::new(),
            tail: Vec::new(),
            pos: k.end,
        };
        if let Some(copy) = &found {
            let path = copy.to_string_lossy().into_owned();
            let buf = &mut self.buf;
            let read = copies::read_from(copy, k.end, buf, &mut |_, data| {
                emit(sink, &k.source, &path, key, k.gen_id, &mut fp, data)
            })?;
            tracing::info!(copy = %path, gen_id = k.gen_id, bytes = read, "finished a generation from its rotated copy");
            sink.notice(Event::Closed {
                source: k.source.clone(),
                path,
                dev: k.dev,
                ino: k.ino,
                gen_id: k.gen_id,
                end: k.end + read,
                reason: "rotated".into(),
            })?;
            return Ok(());
        }
        match replaced_at {
            Some(p) => {
                tracing::warn!(
                    path = p,
                    gen_id = k.gen_id,
                    "file shrank or was rewritten while logkeep was stopped, and no rotated copy holds the rest"
                );
                sink.notice(Event::Tamper {
                    source: k.source.clone(),
                    path: p.to_owned(),
                    dev: k.dev,
                    ino: k.ino,
                    gen_id: k.gen_id,
                    captured: k.end,
                    size_now: std::fs::metadata(p).ok().map(|m| m.len()),
                    what: "truncated".into(),
                })
            }
            None => {
                tracing::warn!(path = %k.path, gen_id = k.gen_id, "file gone while logkeep was stopped and no rotated copy found");
                sink.notice(Event::Gap {
                    source: k.source.clone(),
                    path: k.path.clone(),
                    dev: k.dev,
                    ino: k.ino,
                    gen_id: k.gen_id,
                    from: k.end,
                    size_seen: None,
                    reason: "file gone while logkeep was stopped; no rotated copy found, bytes after this offset (if any) are lost".into(),
                })
            }
        }
    }

    /// A generation number no file has: for files logkeep writes itself (snapshot context),
    /// which share the store's numbering so that every generation stays unique.
    pub fn reserve_generation(&mut self) -> u64 {
        self.new_gen()
    }

    fn new_gen(&mut self) -> u64 {
        let g = self.next_gen;
        self.next_gen += 1;
        g
    }

    fn read_file(
        &mut self,
        key: (u64, u64),
        now: Instant,
        sink: &mut dyn ChunkSink,
    ) -> io::Result<u64> {
        let Some(t) = self.files.get(&key) else {
            return Ok(0);
        };
        let meta = match t.file.metadata() {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(path = %t.path, "cannot stat open file: {e}");
                return Ok(0);
            }
        };
        let size = meta.len();
        let changed = size != t.last_size;
        if size < t.fp.pos || (changed && !still_matches(&t.file, &t.fp)?) {
            self.restart_generation(key, size, sink)?;
        }
        let Some(t) = self.files.get_mut(&key) else {
            return Ok(0);
        };
        t.last_size = size;
        let mut total = 0u64;
        loop {
            let n = match t.file.read_at(&mut self.buf, t.fp.pos) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    tracing::warn!(path = %t.path, "read failed: {e}");
                    break;
                }
            };
            if n == 0 {
                break;
            }
            emit(
                sink,
                &t.source,
                &t.path,
                t.key,
                t.gen_id,
                &mut t.fp,
                &self.buf[..n],
            )?;
            total += n as u64;
        }
        if total > 0 {
            t.last_growth = now;
        }
        if !t.seen {
            self.left_path(key, meta.nlink(), now, sink)?;
        }
        Ok(total)
    }

    /// The file no longer holds what we read from it: finish the old generation from its
    /// rotated copy (copytruncate), or report the truncation; then follow it as a new one.
    fn restart_generation(
        &mut self,
        key: (u64, u64),
        size: u64,
        sink: &mut dyn ChunkSink,
    ) -> io::Result<()> {
        let Some(t) = self.files.get_mut(&key) else {
            return Ok(());
        };
        let what = if size < t.fp.pos {
            "truncated"
        } else {
            "rewritten"
        };
        match copies::find_copy(Path::new(&t.path), key, &t.fp) {
            Some(copy) => {
                let path = copy.path.to_string_lossy().into_owned();
                let before = t.fp.pos;
                if copy.verdict == Verdict::Match {
                    let (source, gen_id) = (t.source.clone(), t.gen_id);
                    let fp = &mut t.fp;
                    let from = fp.pos;
                    copies::read_from(&copy.path, from, &mut self.buf, &mut |_, data| {
                        emit(sink, &source, &path, key, gen_id, fp, data)
                    })?;
                }
                tracing::info!(path = %t.path, copy = %path, gen_id = t.gen_id, tail = t.fp.pos - before, "copytruncate rotation: finished the generation from its copy");
                // The old generation ends here; its record says where its rest went.
                let closed = Event::Closed {
                    source: t.source.clone(),
                    path,
                    dev: key.0,
                    ino: key.1,
                    gen_id: t.gen_id,
                    end: t.fp.pos,
                    reason: "rotated".into(),
                };
                sink.notice(closed)?;
            }
            None => {
                tracing::warn!(path = %t.path, captured = t.fp.pos, size, "file {what} outside a rotation");
                let notice = Event::Tamper {
                    source: t.source.clone(),
                    path: t.path.clone(),
                    dev: key.0,
                    ino: key.1,
                    gen_id: t.gen_id,
                    captured: t.fp.pos,
                    size_now: Some(size),
                    what: what.into(),
                };
                sink.notice(notice)?;
            }
        }
        let gen_id = self.new_gen();
        if let Some(t) = self.files.get_mut(&key) {
            t.gen_id = gen_id;
            t.fp = Fingerprint::default();
            t.committed = 0;
        }
        Ok(())
    }

    /// The file was not found under any pattern in this poll.
    fn left_path(
        &mut self,
        key: (u64, u64),
        nlink: u64,
        now: Instant,
        sink: &mut dyn ChunkSink,
    ) -> io::Result<()> {
        let linger = self.opts.linger;
        let Some(t) = self.files.get_mut(&key) else {
            return Ok(());
        };
        if t.left.is_none() {
            // It was at its path in the previous poll: renamed away, replaced, or deleted.
            let left = if nlink > 0 || t.renamed {
                Left::Rotated
            } else {
                match copies::find_copy(Path::new(&t.path), key, &t.fp) {
                    Some(_) => Left::Compressed,
                    None if t.fp.pos == 0 => Left::Rotated, // empty file: nothing was lost
                    None => Left::Deleted,
                }
            };
            t.left = Some(left);
            if left == Left::Deleted {
                tracing::warn!(path = %t.path, captured = t.fp.pos, "file deleted outside a rotation");
                let notice = Event::Tamper {
                    source: t.source.clone(),
                    path: t.path.clone(),
                    dev: key.0,
                    ino: key.1,
                    gen_id: t.gen_id,
                    captured: t.fp.pos,
                    size_now: None,
                    what: "deleted".into(),
                };
                sink.notice(notice)?;
            }
        }
        let Some(t) = self.files.get(&key) else {
            return Ok(());
        };
        if now.duration_since(t.last_growth) >= linger && t.fp.pos == t.committed {
            let reason = match t.left {
                Some(Left::Deleted) => "deleted",
                _ => "rotated",
            };
            tracing::debug!(path = %t.path, gen_id = t.gen_id, reason, "closing");
            sink.notice(Event::Closed {
                source: t.source.clone(),
                path: t.path.clone(),
                dev: key.0,
                ino: key.1,
                gen_id: t.gen_id,
                end: t.fp.pos,
                reason: reason.into(),
            })?;
            self.files.remove(&key);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wall_clock_format() {
        let t = SystemTime::UNIX_EPOCH + Duration::new(1_790_000_000, 5);
        assert_eq!(wall(t), "2026-09-21T14:13:20.000000005Z");
    }
}
