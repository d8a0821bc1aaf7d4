//! File capture: which files a source names, which generation each one is, and which bytes of
//! it have not been captured yet — through rotation, truncation, deletion and restarts.
//!
//! The [`Tracker`] is synchronous and owns one open descriptor per file generation it follows.
//! A poll re-resolves every pattern (the filesystem is the truth; change notifications only
//! make the next poll come sooner), then reads what each descriptor has beyond its position
//! with positioned reads in large chunks and hands every chunk to a [`ChunkSink`]. It never
//! looks at lines: bytes are bytes. Patterns are matched on raw names, so a file whose name is
//! not UTF-8 is captured like any other (see [`names`] for how its path is recorded).
//!
//! Identity: a file is `(st_dev, st_ino)` plus its content fingerprint (the first bytes and the
//! bytes just before our position, see [`copies::Fingerprint`]). A generation is one identity
//! followed from offset 0. A file that shrinks below our position, or whose fingerprint no
//! longer matches, is a new generation; before switching, the rotated copy (`copytruncate`'s
//! copy, or its `.gz`) is searched and the old generation's tail read from it. If there is no
//! copy, the chain gets a `tamper` record, because logs do not shrink by themselves. After a
//! restart the bytes are gone from memory and only the chain's digests of the two windows
//! remain ([`Known`]): a file, or a rotated copy, continues a generation only when both digests
//! match it at the committed end.
//!
//! Because the descriptor stays open, a renamed or deleted file is read to its end; a file that
//! left its path is closed once it has been idle for [`TrackerOptions::linger`] and everything
//! read from it is committed.
//!
//! Rotated siblings: every poll also lists the rotated names of each watched file
//! ([`names::is_rotation_of`]: `app.log.1`, `app.log.2.gz`, `app.log-20261126`, ...). A sibling
//! that is not followed and whose content is no copy of a generation this run knows (equal to,
//! or a prefix of, its fingerprint; by both chain digests for one the chain was following) holds
//! a generation never seen under a watched name — created and rotated away between two polls,
//! or while logkeep was stopped — and is captured as a generation of its own: a plain file is
//! followed like a renamed one, a `.gz` is read decompressed, once complete, and closed. A file
//! that looks like a copy is judged only once it has stopped growing, so a copy being written
//! never becomes a generation; a file that merely starts like a followed one (compared byte for
//! byte while that one still holds its bytes) is not taken for a copy.
//!
//! Which siblings present when a run starts are new, the chain says by content: it lists the
//! generations still followed and the newest it finished ([`Tracker::with_finished`]). A
//! sibling that holds none of them (by both digests at its end, or as a shorter copy with the
//! same head) was never captured and is captured now: on a new store, for a source added to an
//! existing one, and after rotations that deleted what logkeep was following while it was
//! stopped. Only a sibling last modified before the oldest finished generation the chain still
//! lists falls back to the rule in [`Tracker::poll`], which captures again only what evidently
//! came later. Siblings that appear or change during a run are judged by content against what
//! the run knows.
//!
//! Positions here run ahead of what is durable: the sink reports commits with
//! [`Tracker::committed`], and [`Tracker::rewind`] returns every file to its committed position
//! when a segment could not be written.

pub mod copies;
mod events;
mod identity;
pub mod names;

pub use identity::FileId;

use events::{Closing, Damage, GenRef};
use identity::{Stamp, mtime_ns, now_ns, split};

use copies::{Fingerprint, Verdict};
use logkeep_format::segment::ChunkOrigin;
use logkeep_format::{Event, HEAD_LEN, Sha256};
use std::collections::{HashMap, HashSet, VecDeque};
use std::ffi::OsString;
use std::fs::File;
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

/// How long a file that looks like a copy of a known generation must have kept its size and
/// modification time before it is judged: a copy being written is only a prefix.
const SETTLE: Duration = Duration::from_secs(1);

/// Generations remembered after they ended, to recognise copies of them (about 2 KiB each).
const PAST_MAX: usize = 1024;

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

impl Known {
    /// The identity of the file the generation was read from.
    pub fn id(&self) -> FileId {
        FileId {
            dev: self.dev,
            ino: self.ino,
        }
    }

    /// The generation as the chain names it, at the path the chain last recorded.
    fn generation(&self) -> GenRef<'_> {
        GenRef {
            source: &self.source,
            path: &self.path,
            id: self.id(),
            gen_id: self.gen_id,
        }
    }
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
    /// The path as recorded (see [`names::record_name`]).
    path: String,
    /// The path itself.
    real: PathBuf,
    key: FileId,
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
    /// The path the chain last recorded for it (the last chunk's, or the resumed one's).
    chain_path: String,
    /// Generations that must be closed before this one is: a generation captured from a
    /// rotated sibling stays open in the chain while an older one last recorded at the watched
    /// name is, so that a restart cannot take it for a file made after that one.
    hold: Vec<u64>,
}

impl Tracked {
    /// The generation as the chain names it, at the path it is followed at.
    fn generation(&self) -> GenRef<'_> {
        GenRef {
            source: &self.source,
            path: &self.path,
            id: self.key,
            gen_id: self.gen_id,
        }
    }
}

/// A generation that ended in this run, or a file taken as captured by an earlier one: what
/// its copies look like.
struct Past {
    dir: PathBuf,
    name: OsString,
    gen_id: u64,
    fp: Fingerprint,
}

/// Why a file found under a pattern or as a rotated sibling is not followed.
#[derive(Debug, Clone, Copy)]
enum Why {
    /// A copy of this generation (`copytruncate`'s copy, a `.gz`): its bytes are that
    /// generation's.
    Copy(u64),
    /// A rotated file present when this run started that the chain is taken to hold.
    Seen,
    /// A compressed generation captured whole, or a generation that was followed and closed.
    Captured(u64),
}

struct Settled {
    stamp: Stamp,
    why: Why,
}

impl Why {
    fn gen_id(self) -> Option<u64> {
        match self {
            Why::Copy(g) | Why::Captured(g) => Some(g),
            Why::Seen => None,
        }
    }
}

/// A file that looked like a copy while it may still have been growing.
struct Pending {
    stamp: Stamp,
    since: Instant,
}

/// Which rotated siblings of a watched file are captured, by their modification time
/// (nanoseconds since the epoch).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Horizon {
    /// Not decided yet (until the first poll has found the generations the chain knows).
    Unset,
    /// Every sibling whose content is new.
    All,
    /// Siblings last written during this run, and those last written before it in
    /// `(after, until]`; the others are taken as captured by an earlier run.
    Window { after: i128, until: i128 },
}

/// A watched file name: its rotated siblings are reconciled on every poll.
struct Family {
    dir: PathBuf,
    base: OsString,
    source: usize,
    horizon: Horizon,
}

/// A generation read whole from a compressed sibling and closed at once, until its bytes are
/// committed: if they never are, [`Tracker::rewind`] makes the next poll read it again.
struct OneShot {
    gen_id: u64,
    key: FileId,
    end: u64,
}

/// Tuning for a [`Tracker`].
#[derive(Debug, Clone)]
pub struct TrackerOptions {
    /// Bytes read per chunk (and per segment member).
    pub chunk_bytes: usize,
    /// How long a file that left its path (renamed away or deleted) must have been idle before
    /// it is closed, for writers that keep writing to it until they reopen.
    pub linger: Duration,
    /// Whether files ending in `.gz` that match a pattern are captured as files of their own
    /// (their compressed bytes). By default they are not: a `.gz` is a rotated copy in nearly
    /// every setup, read decompressed to recover bytes a plain generation had not yet been read
    /// for, or captured decompressed as a rotated sibling the chain has never seen.
    pub capture_compressed: bool,
    /// The path patterns earlier runs on this store watched (from the chain's `config`
    /// records). A watched name that none of them matches is new to the store, so its rotated
    /// siblings present at start are captured as on a new store: a source added to an
    /// existing store keeps the rotated files it finds as evidence.
    pub watched_before: Vec<String>,
    /// The most files followed at once (each holds a descriptor). Past it, new files wait,
    /// with one warning, until followed ones are closed: the store must keep descriptors to
    /// write with, or nothing read could ever be committed.
    pub max_open: usize,
}

impl Default for TrackerOptions {
    fn default() -> Self {
        TrackerOptions {
            chunk_bytes: 1 << 20,
            linger: Duration::from_secs(10),
            capture_compressed: false,
            watched_before: Vec::new(),
            max_open: usize::MAX,
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
    /// (dev, ino); see [`FileState::id`].
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

impl FileState {
    /// The followed file's identity.
    pub fn id(&self) -> FileId {
        self.key.into()
    }
}

/// What a file that is not followed yet holds.
enum Check {
    /// Bytes of this known generation: not a generation of its own.
    Copy(u64),
    /// It looks like a copy but may still grow: look again later.
    Wait,
    /// Content of its own.
    Fresh,
}

/// Follows every file of every source. See the crate documentation.
pub struct Tracker {
    sources: Vec<SourceSpec>,
    opts: TrackerOptions,
    files: HashMap<FileId, Tracked>,
    /// Generations the chain says were being followed, not yet found again.
    known: HashMap<FileId, Known>,
    /// Every generation the chain was following at start: `(gen_id, recorded path)`.
    start_known: Vec<(u64, String)>,
    /// Where generations of `start_known` were found (the file or the copy holding them).
    anchors: HashMap<u64, PathBuf>,
    /// Files holding the inode of a generation of `start_known`, under another name, with
    /// other content: made after that generation's file was deleted.
    witnesses: HashMap<u64, PathBuf>,
    /// Generations of `start_known` whose inode is still at the path they were read at, with
    /// other content, and whose rest a copy holds (`copytruncate` while logkeep was stopped).
    displaced: HashSet<u64>,
    resumed: bool,
    /// Generations the chain had finished when this run started (the newest of them), and
    /// the time before which it may have finished others it no longer lists (see
    /// [`Tracker::with_finished`]).
    finished: HashMap<PathBuf, Vec<(OsString, Known, i128)>>,
    finished_forgotten: Option<i128>,
    /// Whether the chain held no generation at all when this run started.
    fresh: bool,
    /// When this run started, in nanoseconds since the epoch.
    started: i128,
    families: Vec<Family>,
    /// Files not followed, and why; forgotten when they are gone, decided again when they
    /// change.
    settled: HashMap<FileId, Settled>,
    /// Files that looked like copies while they may still have been growing.
    pending: HashMap<FileId, Pending>,
    past: VecDeque<Past>,
    oneshots: Vec<OneShot>,
    /// `closed` records of compressed generations captured whole, waiting for the generations
    /// they are held by (see [`Tracked::hold`]).
    closing: Vec<(Vec<u64>, Event)>,
    next_gen: u64,
    buf: Vec<u8>,
    complained: HashSet<String>,
    /// Files not followed for want of a descriptor: source index, path, size seen.
    waiting: HashMap<FileId, (usize, PathBuf, u64)>,
}

/// Hand `data` (read at `fp.pos`) to the sink as one chunk of `generation` and account for it.
fn emit(
    sink: &mut dyn ChunkSink,
    generation: GenRef<'_>,
    fp: &mut Fingerprint,
    data: &[u8],
) -> io::Result<()> {
    let start = fp.pos;
    fp.update(data, HEAD_LEN as usize);
    let now = SystemTime::now();
    let read_at = events::wall(now);
    let origin = generation.origin(
        start,
        Sha256::of(&fp.head),
        Sha256::of(&fp.tail),
        now,
        &read_at,
    );
    sink.chunk(&origin, data)
}

/// Read `copy` from `fp.pos` to its end as chunks of `generation`. The outer error is the
/// sink's (the poll fails); the inner one is the copy's, after the bytes read before it were
/// handed over.
fn read_copy(
    buf: &mut [u8],
    sink: &mut dyn ChunkSink,
    generation: GenRef<'_>,
    fp: &mut Fingerprint,
    copy: &Path,
) -> io::Result<Option<io::Error>> {
    let mut failed = None;
    let from = fp.pos;
    let r = copies::read_from(copy, from, buf, &mut |_, data| {
        emit(sink, generation, fp, data).map_err(|e| {
            let kind = e.kind();
            failed = Some(e);
            io::Error::new(kind, "the sink failed")
        })
    });
    if let Some(e) = failed {
        return Err(e);
    }
    Ok(r.err())
}

/// Whether `file` still holds our fingerprint's bytes at the same offsets.
fn still_matches(file: &File, fp: &Fingerprint) -> io::Result<bool> {
    if fp.pos == 0 {
        return Ok(true);
    }
    if copies::read_at_most(file, fp.head.len(), 0)? != fp.head {
        return Ok(false);
    }
    let start = fp.pos - fp.tail.len() as u64;
    Ok(copies::read_at_most(file, fp.tail.len(), start)? == fp.tail)
}

/// Rebuild a fingerprint from the file itself, for a generation resumed at `end` whose head
/// digest is `head` and, where the chain gives it, whose tail digest (the window before `end`)
/// is `tail`; `None` if the file's content does not match: another file took the inode, or
/// the file was rewritten with the same first bytes.
fn refingerprint(
    file: &File,
    end: u64,
    head: &Sha256,
    tail: Option<&Sha256>,
) -> io::Result<Option<Fingerprint>> {
    let hl = end.min(HEAD_LEN) as usize;
    let h = copies::read_at_most(file, hl, 0)?;
    if h.len() != hl || Sha256::of(&h) != *head {
        return Ok(None);
    }
    let tl = end.min(copies::TAIL_LEN as u64) as usize;
    let t = copies::read_at_most(file, tl, end - tl as u64)?;
    if t.len() != tl || tail.is_some_and(|d| Sha256::of(&t) != *d) {
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
        let known: Vec<Known> = known.into_iter().collect();
        let start_known = known.iter().map(|k| (k.gen_id, k.path.clone())).collect();
        let fresh = max_gen == 0 && known.is_empty();
        // Several generations may have had one (dev, ino) over time; the newest one counts.
        let mut by_key: HashMap<FileId, Known> = HashMap::new();
        for k in known {
            match by_key.get(&k.id()) {
                Some(old) if old.gen_id > k.gen_id => {}
                _ => {
                    by_key.insert(k.id(), k);
                }
            }
        }
        Tracker {
            sources,
            opts,
            files: HashMap::new(),
            known: by_key,
            start_known,
            anchors: HashMap::new(),
            witnesses: HashMap::new(),
            displaced: HashSet::new(),
            resumed: false,
            finished: HashMap::new(),
            finished_forgotten: None,
            fresh,
            started: now_ns(),
            families: Vec::new(),
            settled: HashMap::new(),
            pending: HashMap::new(),
            past: VecDeque::new(),
            oneshots: Vec::new(),
            closing: Vec::new(),
            next_gen: max_gen + 1,
            buf,
            complained: HashSet::new(),
            waiting: HashMap::new(),
        }
    }

    /// Tell the tracker which generations the chain had finished (closed, truncated, ended by
    /// a gap) when this run started, each with the time of the record that finished it
    /// (nanoseconds since the epoch), as far as it lists them: those finished after
    /// `forgotten` (`None`: every one). A rotated sibling present at start and last modified
    /// after that time is judged by content: it was captured if it holds one of these
    /// generations (by both digests at its end, or, last modified before that generation was
    /// finished, as a shorter copy with the same head), and is captured now if not. Older ones
    /// are judged by the rule in [`Tracker::poll`].
    pub fn with_finished(
        mut self,
        finished: Vec<(Known, i128)>,
        forgotten: Option<i128>,
    ) -> Tracker {
        // By directory, oldest first, for the siblings of each family.
        self.finished.clear();
        for (k, at) in finished {
            if let Some((dir, base)) = split(&names::real_path(&k.path)) {
                self.finished.entry(dir).or_default().push((base, k, at));
            }
        }
        self.finished_forgotten = forgotten;
        self
    }

    /// Mark positions durable: `(dev, ino, gen_id, end)` for every committed span.
    pub fn committed(&mut self, spans: impl IntoIterator<Item = (u64, u64, u64, u64)>) {
        for (dev, ino, gen_id, end) in spans {
            if let Some(t) = self.files.get_mut(&FileId { dev, ino })
                && t.gen_id == gen_id
            {
                t.committed = t.committed.max(end);
            }
            self.oneshots
                .retain(|o| !(o.gen_id == gen_id && o.key == FileId { dev, ino } && end >= o.end));
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
                None,
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
        // Compressed generations read whole but not committed: read them again.
        for o in std::mem::take(&mut self.oneshots) {
            self.settled.remove(&o.key);
            self.past.retain(|p| p.gen_id != o.gen_id);
            self.closing
                .retain(|(_, e)| !matches!(e, Event::Closed { gen_id, .. } if *gen_id == o.gen_id));
        }
    }

    /// Files not followed for want of a descriptor (the open-file limit), as
    /// `(source id, recorded path, size seen)`, sorted.
    pub fn waiting(&self) -> Vec<(String, String, u64)> {
        let mut v: Vec<(String, String, u64)> = self
            .waiting
            .values()
            .map(|(si, path, size)| {
                (
                    self.sources[*si].id.clone(),
                    names::record_name(path),
                    *size,
                )
            })
            .collect();
        v.sort();
        v
    }

    /// Files currently followed.
    pub fn files(&self) -> Vec<FileState> {
        let mut v: Vec<FileState> = self
            .files
            .values()
            .map(|t| FileState {
                source: t.source.clone(),
                path: t.path.clone(),
                key: t.key.into(),
                gen_id: t.gen_id,
                pos: t.fp.pos,
                committed: t.committed,
                size: t.last_size,
            })
            .collect();
        v.sort_by(|a, b| (&a.source, &a.path).cmp(&(&b.source, &b.path)));
        v
    }

    /// Resolve the patterns, reconcile the rotated siblings of every watched file, then read
    /// everything new. Errors are from the sink; problems with single files are logged and do
    /// not stop the others.
    ///
    /// The rotated siblings present when a run starts (last modified before it) are captured,
    /// unless a copy of a known generation, as follows. One last modified after the oldest
    /// generation the chain finished and still lists (every one, if it lists all it finished)
    /// is captured unless it holds one of those generations ([`Tracker::with_finished`]). For
    /// older ones: if the chain held no generation at all, or no pattern an earlier run watched
    /// matches the watched name, every one. Otherwise the anchor is the file that now holds the
    /// newest generation the chain was following at the watched name (found by identity, or a
    /// copy or `.gz` found by its digests), and a sibling is captured if it was modified after
    /// the anchor and not after the file now at the watched name was made — a file renamed
    /// away from that name before the present one was created (a copy or `.gz` made later may
    /// hold a generation that ended before this run: a `copytruncate` closes one at once).
    /// When that generation's inode is still at the watched name with other content and its
    /// rest is in a copy made after that inode (a `copytruncate` while logkeep was stopped),
    /// every sibling modified after that copy is captured. When the generation is gone but
    /// another file took its inode under a rotated name (made after it was deleted), siblings
    /// from that file on are. With no anchor, nothing that old is captured, and a `gap` record
    /// for a generation that is gone names the rotated files left uncaptured.
    pub fn poll(&mut self, sink: &mut dyn ChunkSink) -> io::Result<PollStats> {
        let now = Instant::now();
        for t in self.files.values_mut() {
            t.seen = false;
        }
        let claimed = self.scan(sink)?;
        if !self.resumed {
            self.resume_missing(sink)?;
        }
        self.reconcile(&claimed, sink)?;
        self.gone_while_waiting(sink)?;
        self.resumed = true;
        let mut stats = PollStats::default();
        let mut keys: Vec<FileId> = self.files.keys().copied().collect();
        keys.sort_by(|a, b| self.files[a].path.cmp(&self.files[b].path));
        for key in keys {
            stats.bytes += self.read_file(key, now, sink)?;
        }
        let mut i = 0;
        while i < self.closing.len() {
            if self.holding(&self.closing[i].0) {
                i += 1;
            } else {
                let (_, e) = self.closing.remove(i);
                sink.notice(e)?;
            }
        }
        stats.files = self.files.len();
        Ok(stats)
    }

    fn scan(&mut self, sink: &mut dyn ChunkSink) -> io::Result<HashSet<FileId>> {
        let mut claimed: HashSet<FileId> = HashSet::new();
        for si in 0..self.sources.len() {
            for pi in 0..self.sources[si].patterns.len() {
                let pattern = self.sources[si].patterns[pi].clone();
                let found = match names::expand(&pattern) {
                    Ok(x) => x,
                    Err(e) => {
                        self.complain(&pattern, format_args!("bad pattern: {e}"));
                        continue;
                    }
                };
                for (dir, e) in found.errors {
                    let d = names::record_name(&dir);
                    self.complain(&d, format_args!("cannot be listed: {e}"));
                }
                for path in found.paths {
                    if !self.opts.capture_compressed && copies::is_gz(&path) {
                        continue;
                    }
                    self.found(si, &path, &mut claimed, sink)?;
                }
            }
        }
        Ok(claimed)
    }

    /// Whether following one more file would pass [`TrackerOptions::max_open`]; warns once
    /// each time the limit is reached.
    /// A file that waits is remembered (`si`, `path`, `key`, `size`): if it is gone before it
    /// could be followed, a `gap` record says so.
    fn at_open_limit(&mut self, si: usize, path: &Path, key: FileId, size: u64) -> bool {
        const KEY: &str = "(open-file limit)";
        if self.files.len() < self.opts.max_open {
            self.complained.remove(KEY);
            return false;
        }
        self.waiting.insert(key, (si, path.to_owned(), size));
        if self.complained.insert(KEY.to_owned()) {
            tracing::warn!(
                path = %names::record_name(path),
                following = self.files.len(),
                "following as many files as the open-file limit allows (raise LimitNOFILE); \
                 this file and others wait until followed files are closed"
            );
        }
        true
    }

    /// Files that waited for a descriptor ([`Tracker::at_open_limit`]): forget those now
    /// followed, follow renamed ones under their new name, and record a `gap` for those gone.
    fn gone_while_waiting(&mut self, sink: &mut dyn ChunkSink) -> io::Result<()> {
        self.waiting.retain(|k, _| !self.files.contains_key(k));
        let mut gone = Vec::new();
        for (key, (_, path, _)) in self.waiting.iter_mut() {
            let here = std::fs::symlink_metadata(&*path).is_ok_and(|m| FileId::of(&m) == *key);
            if here {
                continue;
            }
            match copies::find_by_identity(path, *key) {
                Some(p) => *path = p,
                None => gone.push(*key),
            }
        }
        gone.sort();
        for key in gone {
            let Some((si, path, size)) = self.waiting.remove(&key) else {
                continue;
            };
            if size == 0 {
                continue;
            }
            let name = names::record_name(&path);
            tracing::error!(path = %name, size, "file gone while it waited for a descriptor (open-file limit)");
            let never = GenRef {
                source: &self.sources[si].id,
                path: &name,
                id: key,
                gen_id: 0,
            };
            sink.notice(never.gap(
                0,
                Some(size),
                "gone before it could be followed: the open-file limit was reached".into(),
            ))?;
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
        claimed: &mut HashSet<FileId>,
        sink: &mut dyn ChunkSink,
    ) -> io::Result<()> {
        let name = names::record_name(path);
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
                &name,
                format_args!("path is not absolute and plain (no `.` or `..`); not captured"),
            );
            return Ok(());
        }
        let meta = match std::fs::metadata(path) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()), // raced a rename
            Err(e) => {
                self.complain(&name, format_args!("cannot stat: {e}"));
                return Ok(());
            }
        };
        if !meta.is_file() {
            return Ok(());
        }
        let key = FileId::of(&meta);
        if !claimed.insert(key) {
            return Ok(()); // the same file through another pattern or source: captured once
        }
        self.register_family(si, path);
        let stamp = Stamp::of(&meta);
        if let Some(s) = self.settled.get(&key) {
            if s.stamp == stamp {
                return Ok(());
            }
            // It changed since it was judged: judge it again.
            tracing::debug!(path = %name, gen_id = ?s.why.gen_id(), "changed since it was judged");
            self.settled.remove(&key);
        }
        if let Some(t) = self.files.get_mut(&key) {
            t.seen = true;
            if t.path != name {
                tracing::info!(from = %t.path, to = %name, gen_id = t.gen_id, "file renamed");
                t.path = name;
                t.real = path.to_owned();
                t.renamed = true;
            }
            return Ok(());
        }
        if self.at_open_limit(si, path, key, meta.len()) {
            return Ok(());
        }
        let file = match File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                // Renamed between the stat and the open: find it by identity among its
                // siblings, or record that it is gone.
                return self.vanished(si, path, &name, key, meta.len(), sink);
            }
            Err(e) => {
                self.complain(&name, format_args!("cannot open: {e}"));
                return Ok(());
            }
        };
        if !self.known.contains_key(&key) {
            match self.copy_check(path, key, stamp) {
                Check::Copy(gen_id) => {
                    tracing::info!(path = %name, gen_id, "a copy of a known generation (copytruncate, compression): not captured twice");
                    self.settle(key, stamp, Why::Copy(gen_id));
                    return Ok(());
                }
                Check::Wait => {
                    tracing::debug!(path = %name, "looks like a copy still being written; deciding when it stops growing");
                    return Ok(());
                }
                Check::Fresh => {
                    self.pending.remove(&key);
                }
            }
        }
        self.follow(si, file, name, path.to_owned(), key, true, sink)
    }

    /// Whether any of `gens` is still followed.
    fn holding(&self, gens: &[u64]) -> bool {
        self.files.values().any(|t| gens.contains(&t.gen_id))
    }

    /// The generations a generation captured from the rotated file `path` must outlast (see
    /// [`Tracked::hold`]): those followed now that the chain last recorded at a name `path` is
    /// a rotation of, except the one at that name now.
    fn hold_for(&self, path: &Path) -> Vec<u64> {
        let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
            return Vec::new();
        };
        self.files
            .values()
            .filter(|t| {
                let recorded = names::real_path(&t.chain_path);
                recorded.parent() == Some(dir)
                    && recorded
                        .file_name()
                        .is_some_and(|base| names::is_rotation_of(name, base))
                    && !(t.seen && t.real == recorded)
            })
            .map(|t| t.gen_id)
            .collect()
    }

    fn settle(&mut self, key: FileId, stamp: Stamp, why: Why) {
        self.pending.remove(&key);
        self.settled.insert(key, Settled { stamp, why });
    }

    /// Whether the file `key` has kept `stamp` for [`SETTLE`]: it was last written that long
    /// ago, or our polls have seen it unchanged that long.
    fn stable(&mut self, key: FileId, stamp: Stamp) -> bool {
        if now_ns() - stamp.mtime >= SETTLE.as_nanos() as i128 {
            return true;
        }
        let now = Instant::now();
        match self.pending.get_mut(&key) {
            Some(p) if p.stamp == stamp => now.duration_since(p.since) >= SETTLE,
            Some(p) => {
                p.stamp = stamp;
                p.since = now;
                false
            }
            None => {
                self.pending.insert(key, Pending { stamp, since: now });
                false
            }
        }
    }

    /// Whether the file at `path` (not followed) holds bytes of a generation this run knows,
    /// in the same directory under a related name: a followed one, one that ended, or one the
    /// chain was following and that has not been found yet (by its digests).
    fn copy_check(&mut self, path: &Path, key: FileId, stamp: Stamp) -> Check {
        let Some((dir, name)) = split(path) else {
            return Check::Fresh;
        };
        let related = |p: &Path| {
            p.parent() == Some(dir.as_path())
                && p.file_name().is_some_and(|n| names::related(n, &name))
        };
        let gz = copies::is_gz(path);
        let mut prefix_of = None;
        for t in self.files.values() {
            if t.key == key || t.fp.pos == 0 || !related(&t.real) {
                continue;
            }
            match copies::compare(path, &t.fp) {
                Ok(Verdict::Match) => return Check::Copy(t.gen_id),
                Ok(Verdict::Prefix) => {
                    // While the generation's own file still holds what was read, compare every
                    // byte: a new file that merely starts alike is not a copy.
                    if !gz
                        && still_matches(&t.file, &t.fp).unwrap_or(false)
                        && !copies::same_bytes(path, &t.file).unwrap_or(false)
                    {
                        continue;
                    }
                    prefix_of.get_or_insert(t.gen_id);
                }
                _ => {}
            }
        }
        for p in self.past.iter().rev() {
            if p.dir != dir || !names::related(&p.name, &name) {
                continue;
            }
            match copies::compare(path, &p.fp) {
                Ok(Verdict::Match) => return Check::Copy(p.gen_id),
                Ok(Verdict::Prefix) => {
                    prefix_of.get_or_insert(p.gen_id);
                }
                _ => {}
            }
        }
        // Generations the chain was following that have not been found yet (first poll): by
        // both digests, so that a new file that merely starts like one is not taken for it.
        for k in self.known.values() {
            if k.id() == key || stamp.len < k.end || !related(&names::real_path(&k.path)) {
                continue;
            }
            if let Ok(Some(w)) = copies::window(path, k.end, HEAD_LEN as usize)
                && Sha256::of(&w.head) == k.head
                && Sha256::of(&w.tail) == k.tail
            {
                return Check::Copy(k.gen_id);
            }
        }
        match prefix_of {
            None => Check::Fresh,
            Some(g) => {
                if !self.stable(key, stamp) {
                    Check::Wait
                } else if stamp.len == 0 {
                    // Still empty after a while: a new file nobody has written to yet.
                    Check::Fresh
                } else {
                    Check::Copy(g)
                }
            }
        }
    }

    /// Remember the file at `dir/name` as holding generation `gen_id` (0: captured by an
    /// earlier run), so that its copies are recognised.
    fn remember(&mut self, dir: PathBuf, name: OsString, gen_id: u64, fp: Fingerprint) {
        if fp.pos == 0 {
            return;
        }
        if self.past.len() >= PAST_MAX {
            self.past.pop_front();
        }
        self.past.push_back(Past {
            dir,
            name,
            gen_id,
            fp,
        });
    }

    /// Watch the rotated siblings of `path` (unless it is itself a rotated sibling of a
    /// watched file).
    fn register_family(&mut self, si: usize, path: &Path) {
        let Some((dir, base)) = split(path) else {
            return;
        };
        if copies::is_gz(path)
            || self
                .families
                .iter()
                .any(|f| f.dir == dir && (f.base == base || names::is_rotation_of(&base, &f.base)))
        {
            return;
        }
        let horizon = match (self.resumed, self.fresh) {
            (_, true) => Horizon::All,
            (false, false) => Horizon::Unset,
            // Watched only now: siblings not modified since this run started were there
            // before it, for earlier runs to capture.
            (true, false) => Horizon::Window {
                after: self.started,
                until: i128::MIN,
            },
        };
        self.families.push(Family {
            dir,
            base,
            source: si,
            horizon,
        });
    }

    /// The horizon of a family watched from the first poll of a run (see [`Tracker::poll`]).
    fn first_horizon(&self, f: &Family) -> Horizon {
        let live = f.dir.join(&f.base);
        if self.fresh
            || !self
                .opts
                .watched_before
                .iter()
                .any(|p| names::matches(p, &live))
        {
            return Horizon::All;
        }
        let none = Horizon::Window {
            after: self.started,
            until: i128::MIN,
        };
        let name = names::record_name(&live);
        let newest = self
            .start_known
            .iter()
            .filter(|(_, p)| *p == name)
            .map(|(g, _)| *g)
            .max();
        let Some(g) = newest else {
            return none;
        };
        // When the file now at the watched name was made: rotated files renamed away from that
        // name were last written before it; a copy or a `.gz` made later may hold a generation
        // that ended before this run (a `copytruncate` closes one at once), so they count only
        // when a copytruncate while logkeep was stopped is evident.
        let born = std::fs::metadata(&live)
            .ok()
            .and_then(|m| m.created().ok())
            .map(|t| match t.duration_since(SystemTime::UNIX_EPOCH) {
                Ok(d) => d.as_nanos() as i128,
                Err(e) => -(e.duration().as_nanos() as i128),
            });
        if let Some(p) = self.anchors.get(&g)
            && let Ok(m) = std::fs::metadata(p)
        {
            let after = mtime_ns(&m);
            if self.displaced.contains(&g) && born.is_some_and(|b| b < after) {
                // Its inode is still at the watched name, made before the copy that holds its
                // rest: copies newer than that one are of generations after it.
                return Horizon::Window {
                    after,
                    until: i128::MAX,
                };
            }
            return Horizon::Window {
                after,
                until: born.unwrap_or(i128::MIN),
            };
        }
        if let Some(w) = self.witnesses.get(&g)
            && let Ok(m) = std::fs::metadata(w)
        {
            return Horizon::Window {
                after: mtime_ns(&m) - 1,
                until: born.unwrap_or(i128::MIN),
            };
        }
        none
    }

    /// List the rotated siblings of every watched file and capture those that hold a
    /// generation never seen.
    fn reconcile(&mut self, claimed: &HashSet<FileId>, sink: &mut dyn ChunkSink) -> io::Result<()> {
        for fi in 0..self.families.len() {
            if self.families[fi].horizon == Horizon::Unset {
                let h = self.first_horizon(&self.families[fi]);
                tracing::debug!(base = ?self.families[fi].base, horizon = ?h, "rotated siblings");
                self.families[fi].horizon = h;
            }
        }
        let mut dirs: Vec<PathBuf> = self.families.iter().map(|f| f.dir.clone()).collect();
        dirs.sort();
        dirs.dedup();
        let mut listed: HashSet<FileId> = HashSet::new();
        let mut unlisted = false;
        // Families with their file or a rotated sibling still there.
        let mut alive: HashSet<usize> = HashSet::new();
        for dir in dirs {
            let entries = match std::fs::read_dir(&dir) {
                Ok(e) => e,
                Err(_) => {
                    unlisted = true;
                    continue;
                }
            };
            let mut cands = Vec::new();
            for e in entries.flatten() {
                let name = e.file_name();
                for (fi, f) in self.families.iter().enumerate() {
                    if f.dir == dir && f.base == name {
                        alive.insert(fi);
                    }
                }
                let Some(fi) = self
                    .families
                    .iter()
                    .position(|f| f.dir == dir && names::is_rotation_of(&name, &f.base))
                else {
                    continue;
                };
                alive.insert(fi);
                let path = dir.join(&name);
                let Ok(m) = std::fs::symlink_metadata(&path) else {
                    continue;
                };
                if !m.is_file() {
                    continue;
                }
                let key = FileId::of(&m);
                listed.insert(key);
                if claimed.contains(&key) || self.files.contains_key(&key) {
                    continue;
                }
                let stamp = Stamp::of(&m);
                if self.settled.get(&key).is_some_and(|s| s.stamp == stamp) {
                    continue;
                }
                cands.push((stamp.mtime, path, fi, key, stamp));
            }
            // Oldest first, so that generation numbers follow the order of the files.
            cands.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
            for (_, path, fi, key, stamp) in cands {
                self.sibling(fi, &path, key, stamp, sink)?;
            }
        }
        // Forget files that are gone (a new file may take the inode), and watched names with
        // neither a file nor a rotated sibling left (a source's write-ahead log makes a new one
        // for every file), unless a directory could not be listed this time.
        if unlisted {
            return Ok(());
        }
        let mut i = 0;
        self.families.retain(|_| {
            i += 1;
            alive.contains(&(i - 1))
        });
        self.settled
            .retain(|k, _| listed.contains(k) || claimed.contains(k));
        self.pending
            .retain(|k, _| listed.contains(k) || claimed.contains(k));
        Ok(())
    }

    /// A rotated sibling that is neither followed nor judged yet.
    fn sibling(
        &mut self,
        fi: usize,
        path: &Path,
        key: FileId,
        stamp: Stamp,
        sink: &mut dyn ChunkSink,
    ) -> io::Result<()> {
        let name = names::record_name(path);
        let gz = copies::is_gz(path);
        // gzip may still be writing it (it writes the trailer last): judged once complete. A
        // corrupt one is judged as far as it can be read.
        let gz_len = match gz.then(|| copies::gz_len(path)) {
            Some(Ok(None)) => return Ok(()),
            Some(Ok(Some(n))) => Some(n),
            _ => None,
        };
        match self.copy_check(path, key, stamp) {
            Check::Copy(gen_id) => {
                tracing::debug!(path = %name, gen_id, "rotated sibling holds a known generation");
                self.settle(key, stamp, Why::Copy(gen_id));
                return Ok(());
            }
            Check::Wait => return Ok(()),
            Check::Fresh => {}
        }
        let at_start = stamp.mtime <= self.started;
        let by_content = at_start && self.finished_forgotten.is_none_or(|t| stamp.mtime > t);
        if by_content {
            if let Some(g) = self.held_by_finished(path, gz_len.unwrap_or(stamp.len), stamp.mtime) {
                tracing::debug!(path = %name, gen_id = g, "rotated sibling holds a generation the chain finished");
                self.settle(key, stamp, Why::Copy(g));
                if !gz
                    && let Some((dir, base)) = split(path)
                    && let Ok(fp) = copies::fingerprint_of(path, HEAD_LEN as usize)
                {
                    self.remember(dir, base, g, fp);
                }
                return Ok(());
            }
        } else if let Horizon::Window { after, until } = self.families[fi].horizon
            && at_start
            && !(after < stamp.mtime && stamp.mtime <= until)
        {
            tracing::debug!(path = %name, "rotated sibling older than what the chain holds: taken as captured");
            self.settle(key, stamp, Why::Seen);
            if !gz
                && let Some((dir, base)) = split(path)
                && let Ok(fp) = copies::fingerprint_of(path, HEAD_LEN as usize)
            {
                self.remember(dir, base, 0, fp);
            }
            return Ok(());
        }
        let si = self.families[fi].source;
        if gz {
            self.pending.remove(&key);
            let hold = self.hold_for(path);
            return self.capture_gz(si, path, name, key, stamp, hold, sink);
        }
        if self.at_open_limit(si, path, key, stamp.len) {
            return Ok(());
        }
        let file = match File::open(path) {
            Ok(f) => f,
            Err(e) => {
                tracing::debug!(path = %name, "rotated sibling cannot be opened: {e}");
                return Ok(());
            }
        };
        tracing::info!(path = %name, "a generation never seen under a watched name: captured from its rotated name");
        self.pending.remove(&key);
        let hold = self.hold_for(path);
        self.follow(si, file, name, path.to_owned(), key, false, sink)?;
        if let Some(t) = self.files.get_mut(&key) {
            t.hold = hold;
        }
        Ok(())
    }

    /// The generation the chain finished that the file at `path` (a `.gz` decompressed, `len`
    /// bytes, last modified at `mtime`) holds: one of the same family whose head and tail
    /// digests match at its end, or, for a file shorter than that end, whose head digest
    /// matches and that was last written before the generation was finished (a copytruncate
    /// copy that missed what was written between its copy and its truncation; a later file
    /// that merely begins the same way is not one).
    fn held_by_finished(&self, path: &Path, len: u64, mtime: i128) -> Option<u64> {
        let (dir, name) = split(path)?;
        let gz = copies::is_gz(path);
        let head = copies::read_prefix(path, HEAD_LEN as usize).ok()?;
        for (base, k, at) in self.finished.get(&dir)?.iter().rev() {
            if k.end == 0 || !names::related(base, &name) {
                continue;
            }
            let hl = k.end.min(HEAD_LEN) as usize;
            if head.len() < hl || Sha256::of(&head[..hl]) != k.head {
                continue;
            }
            if len < k.end {
                if mtime <= *at {
                    return Some(k.gen_id);
                }
                continue;
            }
            // Decompressing to each candidate's end is costly: a `.gz` longer than the
            // generation was not made from it.
            if gz && len != k.end {
                continue;
            }
            if let Ok(Some(w)) = copies::window(path, k.end, HEAD_LEN as usize)
                && Sha256::of(&w.tail) == k.tail
            {
                return Some(k.gen_id);
            }
        }
        None
    }

    /// Capture a compressed sibling never seen as one whole generation, decompressed; its
    /// `closed` record waits for the generations in `hold`.
    #[allow(clippy::too_many_arguments)]
    fn capture_gz(
        &mut self,
        si: usize,
        path: &Path,
        name: String,
        key: FileId,
        stamp: Stamp,
        hold: Vec<u64>,
        sink: &mut dyn ChunkSink,
    ) -> io::Result<()> {
        let source = self.sources[si].id.clone();
        let gen_id = self.new_gen();
        let mut fp = Fingerprint::default();
        let generation = GenRef {
            source: &source,
            path: &name,
            id: key,
            gen_id,
        };
        let failed = read_copy(&mut self.buf, sink, generation, &mut fp, path)?;
        if fp.pos == 0 && failed.is_none() {
            self.settle(key, stamp, Why::Seen);
            return Ok(());
        }
        tracing::info!(path = %name, gen_id, bytes = fp.pos, "a compressed generation never seen: captured decompressed");
        match failed {
            None => {
                let closed = generation.closed(fp.pos, Closing::Rotated);
                if self.holding(&hold) {
                    self.closing.push((hold, closed));
                } else {
                    sink.notice(closed)?;
                }
            }
            Some(e) => {
                tracing::warn!(path = %name, gen_id, "compressed file unreadable after {} bytes: {e}", fp.pos);
                sink.notice(generation.gap(
                    fp.pos,
                    None,
                    format!("compressed rotated file unreadable from this offset: {e}"),
                ))?
            }
        }
        self.settle(key, stamp, Why::Captured(gen_id));
        if let Some((dir, base)) = split(path) {
            self.oneshots.push(OneShot {
                gen_id,
                key,
                end: fp.pos,
            });
            self.remember(dir, base, gen_id, fp);
        }
        Ok(())
    }

    fn vanished(
        &mut self,
        si: usize,
        path: &Path,
        name: &str,
        key: FileId,
        size: u64,
        sink: &mut dyn ChunkSink,
    ) -> io::Result<()> {
        if let Some(p) = copies::find_by_identity(path, key)
            && let Ok(f) = File::open(&p)
        {
            let n = names::record_name(&p);
            return self.follow(si, f, n, p, key, false, sink);
        }
        if size == 0 && !self.known.contains_key(&key) {
            return Ok(());
        }
        tracing::error!(path = name, size, "file vanished before it could be opened");
        let never = GenRef {
            source: &self.sources[si].id,
            path: name,
            id: key,
            gen_id: 0,
        };
        sink.notice(never.gap(0, Some(size), "vanished before it could be opened".into()))
    }

    /// Start following an open file: resume its generation if the chain knows it, else a new one.
    #[allow(clippy::too_many_arguments)]
    fn follow(
        &mut self,
        si: usize,
        file: File,
        path: String,
        real: PathBuf,
        key: FileId,
        seen: bool,
        sink: &mut dyn ChunkSink,
    ) -> io::Result<()> {
        let meta = file.metadata()?;
        if FileId::of(&meta) != key {
            return Ok(()); // replaced between stat and open; the next poll sees the new one
        }
        self.complained.remove(&path);
        let mut source = self.sources[si].id.clone();
        let mut resumed = None;
        let mut chain_path = path.clone();
        if let Some(k) = self.known.remove(&key) {
            match refingerprint(&file, k.end, &k.head, Some(&k.tail))? {
                Some(fp) if meta.len() >= k.end => {
                    source = k.source.clone();
                    chain_path = k.path.clone();
                    resumed = Some((k.gen_id, fp));
                    self.anchors.insert(k.gen_id, real.clone());
                }
                _ => {
                    // Shrunk or different content while logkeep was stopped. At the path it
                    // was read at, that is a truncation or a rewrite unless a rotated copy holds
                    // the rest. Under another name, the inode went to a file made after the
                    // generation's own was deleted.
                    self.known.insert(key, k.clone());
                    let own = names::real_path(&k.path) == real;
                    if !own && !copies::is_gz(&real) {
                        self.witnesses.insert(k.gen_id, real.clone());
                    }
                    self.finish_known_elsewhere(&k, own.then_some(path.as_str()), sink)?;
                    if own && self.anchors.contains_key(&k.gen_id) {
                        self.displaced.insert(k.gen_id);
                    }
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
                real,
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
                chain_path,
                hold: Vec::new(),
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
            let key = k.id();
            let real = names::real_path(&k.path);
            let si = self.sources.iter().position(|s| s.id == k.source);
            // Its name is still watched even if no file has it now: its rotated siblings may
            // hold generations made while logkeep was stopped.
            if let Some(si) = si
                && self.sources[si]
                    .patterns
                    .iter()
                    .any(|p| names::matches(p, &real))
            {
                self.register_family(si, &real);
            }
            // Renamed: same identity among the siblings of its last path.
            // Only if it still holds what was captured: after a delete the inode may have gone to
            // another file (a `.gz` made by the same rotation, say), which is not ours to follow.
            if let Some(si) = si
                && let Some(p) = copies::find_by_identity(&real, key)
                && let Ok(f) = File::open(&p)
            {
                if let Ok(Some(_)) = refingerprint(&f, k.end, &k.head, Some(&k.tail)) {
                    let n = names::record_name(&p);
                    tracing::info!(from = %k.path, to = %n, gen_id = k.gen_id, "found a generation rotated while logkeep was stopped");
                    self.follow(si, f, n, p, key, false, sink)?;
                    if self.files.contains_key(&key) {
                        continue;
                    }
                } else if p != real && !copies::is_gz(&p) {
                    // A plain file took the inode: a later live file, rotated. (A `.gz` may be
                    // the compressed copy of anything, this generation included.)
                    self.witnesses.insert(k.gen_id, p);
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
        let key = k.id();
        let real = names::real_path(&k.path);
        // Without the bytes in memory, match copies by the recorded digests: the head, then the
        // tail window before the committed end, so that a file that merely starts the same way
        // (a banner, a rewrite, the next generation of a copytruncate) is not taken for it.
        let mut found = None;
        // A copy with the same head that cannot show its tail window (shorter than what was
        // captured, or a `.gz` that fails to decompress that far) is taken only if no copy
        // proves itself: copytruncate loses what was written between its copy and its
        // truncation, so its copy can end before our position; a damaged `.gz` is reported
        // as a gap from where it fails.
        let mut shorter = None;
        // The path it was last read at comes first: after a copytruncate the generation's last
        // bytes were read from the copy, which is where the chain says it was.
        let at_path = std::fs::metadata(&real).ok().map(|m| (real.clone(), m));
        let hl = k.end.min(HEAD_LEN) as usize;
        for (p, m) in at_path.into_iter().chain(copies::siblings(&real)) {
            // Its own inode does not hold it any more (that is why this runs), unless another
            // file took the number: a `.gz` is never the plain file itself.
            if FileId::of(&m) == key && !copies::is_gz(&p) {
                continue;
            }
            let Ok(head) = copies::read_prefix(&p, hl) else {
                continue;
            };
            if head.len() != hl || Sha256::of(&head) != k.head {
                continue;
            }
            match copies::window(&p, k.end, HEAD_LEN as usize) {
                Ok(Some(fp)) if Sha256::of(&fp.tail) == k.tail => {
                    found = Some((p, m, fp));
                    break;
                }
                Ok(None) | Err(_) if shorter.is_none() => shorter = Some((p, m)),
                _ => {}
            }
        }
        let found = found.or_else(|| {
            shorter.map(|(p, m)| {
                let fp = Fingerprint {
                    head: Vec::new(),
                    tail: Vec::new(),
                    pos: k.end,
                };
                (p, m, fp)
            })
        });
        if let Some((copy, m, mut fp)) = found {
            let (copy, m) = (&copy, &m);
            let path = names::record_name(copy);
            let generation = GenRef {
                source: &k.source,
                path: &path,
                id: key,
                gen_id: k.gen_id,
            };
            let failed = read_copy(&mut self.buf, sink, generation, &mut fp, copy)?;
            let read = fp.pos - k.end;
            self.anchors.insert(k.gen_id, copy.clone());
            if let Some(e) = failed {
                tracing::warn!(copy = %path, gen_id = k.gen_id, "rotated copy unreadable after {} bytes: {e}", fp.pos);
                return sink.notice(generation.gap(
                    fp.pos,
                    None,
                    format!("rotated copy unreadable from this offset: {e}"),
                ));
            }
            tracing::info!(copy = %path, gen_id = k.gen_id, bytes = read, "finished a generation from its rotated copy");
            let closed = generation.closed(fp.pos, Closing::Rotated);
            // A generation captured whole from a `.gz` (the file is its own) was held open for
            // older generations still followed: it still is.
            let hold = if FileId::of(m) == key {
                self.hold_for(copy)
            } else {
                Vec::new()
            };
            if self.holding(&hold) {
                self.closing.push((hold, closed));
            } else {
                sink.notice(closed)?;
            }
            self.settle(FileId::of(m), Stamp::of(m), Why::Copy(k.gen_id));
            if let Some((dir, base)) = split(copy)
                && !fp.head.is_empty()
            {
                self.remember(dir, base, k.gen_id, fp);
            }
            return Ok(());
        }
        match replaced_at {
            Some(p) => {
                tracing::warn!(
                    path = p,
                    gen_id = k.gen_id,
                    "file shrank or was rewritten while logkeep was stopped, and no rotated copy holds the rest"
                );
                let at = GenRef {
                    source: &k.source,
                    path: p,
                    id: key,
                    gen_id: k.gen_id,
                };
                let size_now = std::fs::metadata(names::real_path(p)).ok().map(|m| m.len());
                sink.notice(at.tamper(k.end, size_now, Damage::Truncated))
            }
            None => {
                let reason = if self.witnesses.contains_key(&k.gen_id) {
                    "rotated away and deleted while logkeep was stopped (its inode now holds a newer file): bytes after this offset, if any, are lost, and so is any generation created and deleted meanwhile".to_owned()
                } else {
                    let mut r = "file gone while logkeep was stopped; no rotated copy found, bytes after this offset (if any) are lost".to_owned();
                    let others = self.unvouched_siblings(&real);
                    if !others.is_empty() {
                        r.push_str(&format!(
                            "; not captured, since the chain cannot tell whether it holds them: {}, which hold later generations if this one was rotated away and deleted",
                            others.join(", ")
                        ));
                    }
                    r
                };
                tracing::warn!(path = %k.path, gen_id = k.gen_id, "file gone while logkeep was stopped and no rotated copy found");
                sink.notice(k.generation().gap(k.end, None, reason))
            }
        }
    }

    /// Names of the rotated siblings of `path` that hold no generation this run follows or
    /// is about to resume.
    fn unvouched_siblings(&self, path: &Path) -> Vec<String> {
        let (Some(dir), Some(base)) = (path.parent(), path.file_name()) else {
            return Vec::new();
        };
        let Ok(entries) = std::fs::read_dir(dir) else {
            return Vec::new();
        };
        let mut v: Vec<String> = entries
            .flatten()
            .filter(|e| names::is_rotation_of(&e.file_name(), base))
            .filter(|e| {
                e.metadata().is_ok_and(|m| {
                    let key = FileId::of(&m);
                    // Those the chain's finished generations cover are judged by content.
                    let judged = self.finished_forgotten.is_none_or(|t| mtime_ns(&m) > t);
                    m.is_file()
                        && !judged
                        && !self.files.contains_key(&key)
                        && !self.known.contains_key(&key)
                })
            })
            .map(|e| names::record_name(Path::new(&e.file_name())))
            .collect();
        v.sort();
        v.truncate(8);
        v
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
        key: FileId,
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
            let generation = GenRef {
                source: &t.source,
                path: &t.path,
                id: t.key,
                gen_id: t.gen_id,
            };
            emit(sink, generation, &mut t.fp, &self.buf[..n])?;
            total += n as u64;
        }
        if total > 0 {
            t.last_growth = now;
            if t.chain_path != t.path {
                t.chain_path.clone_from(&t.path);
            }
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
        key: FileId,
        size: u64,
        sink: &mut dyn ChunkSink,
    ) -> io::Result<()> {
        let Some(t) = self.files.get_mut(&key) else {
            return Ok(());
        };
        let what = if size < t.fp.pos {
            Damage::Truncated
        } else {
            Damage::Rewritten
        };
        let mut ended = None;
        match copies::find_copy(&t.real, key, &t.fp) {
            Some(copy) => {
                let path = names::record_name(&copy.path);
                let before = t.fp.pos;
                let mut failed = None;
                if copy.verdict == Verdict::Match {
                    let generation = GenRef {
                        source: &t.source,
                        path: &path,
                        id: key,
                        gen_id: t.gen_id,
                    };
                    failed = read_copy(&mut self.buf, sink, generation, &mut t.fp, &copy.path)?;
                }
                tracing::info!(path = %t.path, copy = %path, gen_id = t.gen_id, tail = t.fp.pos - before, "copytruncate rotation: finished the generation from its copy");
                if let Some(e) = &failed {
                    tracing::warn!(copy = %path, "rotated copy unreadable: {e}");
                }
                // Before the record: once it is durable, the copy may be compressed at once.
                let stamp = std::fs::metadata(&copy.path).ok().map(|m| Stamp::of(&m));
                ended = Some((copy.path.clone(), copy.key, stamp));
                // The old generation ends here; its record says where its rest went.
                let at_copy = GenRef {
                    source: &t.source,
                    path: &path,
                    id: key,
                    gen_id: t.gen_id,
                };
                sink.notice(at_copy.closed(t.fp.pos, Closing::Rotated))?;
            }
            None => {
                let what_text = what.as_str();
                tracing::warn!(path = %t.path, captured = t.fp.pos, size, "file {what_text} outside a rotation");
                sink.notice(t.generation().tamper(t.fp.pos, Some(size), what))?;
            }
        }
        let old_gen = t.gen_id;
        let old_fp = std::mem::take(&mut t.fp);
        let gen_id = self.new_gen();
        if let Some(t) = self.files.get_mut(&key) {
            t.gen_id = gen_id;
            t.fp = Fingerprint::default();
            t.committed = 0;
            t.chain_path.clone_from(&t.path);
            t.hold.clear();
        }
        if let Some((copy, copy_key, stamp)) = ended {
            if let Some(stamp) = stamp {
                self.settle(copy_key.into(), stamp, Why::Copy(old_gen));
            }
            if let Some((dir, base)) = split(&copy) {
                self.remember(dir, base, old_gen, old_fp);
            }
        }
        Ok(())
    }

    /// The file was not found under any pattern in this poll.
    fn left_path(
        &mut self,
        key: FileId,
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
                match copies::find_copy(&t.real, key, &t.fp) {
                    Some(_) => Left::Compressed,
                    None if t.fp.pos == 0 => Left::Rotated, // empty file: nothing was lost
                    None => Left::Deleted,
                }
            };
            t.left = Some(left);
            if left == Left::Deleted {
                tracing::warn!(path = %t.path, captured = t.fp.pos, "file deleted outside a rotation");
                sink.notice(t.generation().tamper(t.fp.pos, None, Damage::Deleted))?;
            }
        }
        let Some(t) = self.files.get(&key) else {
            return Ok(());
        };
        if now.duration_since(t.last_growth) >= linger
            && t.fp.pos == t.committed
            && !self.holding(&t.hold)
        {
            let why = match t.left {
                Some(Left::Deleted) => Closing::Deleted,
                _ => Closing::Rotated,
            };
            tracing::debug!(path = %t.path, gen_id = t.gen_id, reason = why.as_str(), "closing");
            sink.notice(t.generation().closed(t.fp.pos, why))?;
            if let Some(t) = self.files.remove(&key) {
                // Its file may stay among the rotated siblings (and be compressed later): it is
                // this generation, not a new one.
                if let Ok(m) = t.file.metadata() {
                    self.settle(key, Stamp::of(&m), Why::Captured(t.gen_id));
                }
                if let Some((dir, base)) = split(&t.real) {
                    self.remember(dir, base, t.gen_id, t.fp);
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Collects the paths of the chunks a poll hands over.
    #[derive(Default)]
    struct Paths(Vec<String>);

    impl ChunkSink for Paths {
        fn chunk(&mut self, origin: &ChunkOrigin<'_>, _data: &[u8]) -> io::Result<()> {
            if !self.0.iter().any(|p| p == origin.path) {
                self.0.push(origin.path.to_owned());
            }
            Ok(())
        }
        fn notice(&mut self, _event: Event) -> io::Result<()> {
            Ok(())
        }
    }

    /// A generation of `logs/app.log` the chain finished, which held `bytes` in the inode
    /// `(dev, ino)`.
    fn finished_gen(logs: &Path, bytes: &[u8], dev: u64, ino: u64) -> Known {
        let end = bytes.len() as u64;
        Known {
            gen_id: 7,
            source: "app".into(),
            path: names::record_name(&logs.join("app.log")),
            dev,
            ino,
            end,
            head: Sha256::of(&bytes[..end.min(HEAD_LEN) as usize]),
            tail: Sha256::of(&bytes[bytes.len().saturating_sub(copies::TAIL_LEN)..]),
        }
    }

    /// The names of the files the first poll captures from `logs/app.log` and its rotated
    /// siblings, on a store whose chain watched that name before and had finished `finished`,
    /// forgetting those finished before `forgotten`.
    fn first_poll(
        logs: &Path,
        finished: Vec<(Known, i128)>,
        forgotten: Option<i128>,
    ) -> Vec<String> {
        let pattern = logs.join("app.log").to_string_lossy().into_owned();
        let opts = TrackerOptions {
            watched_before: vec![pattern.clone()],
            ..TrackerOptions::default()
        };
        let sources = vec![SourceSpec {
            id: "app".into(),
            patterns: vec![pattern],
        }];
        let mut t = Tracker::new(sources, Vec::new(), 7, opts).with_finished(finished, forgotten);
        let mut sink = Paths::default();
        t.poll(&mut sink).expect("poll");
        let mut names: Vec<String> = sink
            .0
            .iter()
            .map(|p| p.rsplit('/').next().unwrap_or(p).to_owned())
            .collect();
        names.sort();
        names
    }

    /// A store that has captured before: `app.log.1` holds a generation the chain finished,
    /// `app.log.2` one it never saw, `app.log` a live file it does not know. Returns the names
    /// captured by the first poll of a tracker told that the chain forgot the generations it
    /// finished before `forgotten`.
    fn first_poll_with_finished(forgotten: Option<i128>) -> Vec<String> {
        let dir = tempfile::tempdir().expect("tmp");
        let logs = dir.path().join("logs");
        std::fs::create_dir(&logs).expect("logs");
        let write = |name: &str, text: &str| {
            std::fs::write(logs.join(name), text.repeat(40)).expect("write");
        };
        write("app.log.2", "never seen by the chain\n");
        write("app.log.1", "captured and closed\n");
        write("app.log", "live\n");
        let one = logs.join("app.log.1");
        let bytes = std::fs::read(&one).expect("read");
        let m = std::fs::metadata(&one).expect("stat");
        let finished = vec![(finished_gen(&logs, &bytes, m.dev(), m.ino()), now_ns())];
        first_poll(&logs, finished, forgotten)
    }

    /// Whether the first poll captures `app.log.1`, which begins like a finished generation
    /// of 8 KiB (the same first KiB) but holds only 2 KiB, when that generation was finished
    /// `finished_after` nanoseconds after the file was last written.
    fn shorter_file_with_the_same_head_captured(finished_after: i128) -> bool {
        let dir = tempfile::tempdir().expect("tmp");
        let logs = dir.path().join("logs");
        std::fs::create_dir(&logs).expect("logs");
        let banner = "# gateway audit log, format 7\n".repeat(40);
        let mut long = banner.clone().into_bytes();
        long.resize(8192, b'x');
        let mut short = banner.into_bytes();
        short.resize(2048, b'y');
        std::fs::write(logs.join("app.log"), "live\n").expect("write");
        let one = logs.join("app.log.1");
        std::fs::write(&one, &short).expect("write");
        let m = std::fs::metadata(&one).expect("stat");
        let g = finished_gen(&logs, &long, m.dev(), m.ino() + 1);
        let finished = vec![(g, mtime_ns(&m) + finished_after)];
        first_poll(&logs, finished, None).contains(&"app.log.1".to_owned())
    }

    #[test]
    fn a_shorter_file_with_a_finished_generations_head_is_its_copy_only_if_written_before() {
        // A copytruncate copy that missed the last bytes was written before its generation
        // was finished; a later log that merely begins with the same banner was not.
        assert!(!shorter_file_with_the_same_head_captured(3_600_000_000_000));
        assert!(shorter_file_with_the_same_head_captured(-3_600_000_000_000));
    }

    #[test]
    fn rotated_files_present_at_start_are_judged_by_the_generations_the_chain_finished() {
        // The chain lists every generation it finished: `app.log.1` is one of them, by its
        // digests; `app.log.2` is none of them, so it was never captured.
        assert_eq!(first_poll_with_finished(None), ["app.log", "app.log.2"]);
    }

    #[test]
    fn rotated_files_older_than_what_the_chain_lists_are_not_captured_again() {
        // The chain no longer lists what it finished before now, and nothing anchors the
        // watched name: a rotated file present at start may be one it captured long ago, so
        // none is captured again (the rule of `Tracker::poll`).
        assert_eq!(first_poll_with_finished(Some(i128::MAX)), ["app.log"]);
    }

    #[test]
    fn wall_clock_format() {
        let t = SystemTime::UNIX_EPOCH + Duration::new(1_790_000_000, 5);
        assert_eq!(events::wall(t), "2026-09-21T14:13:20.000000005Z");
    }
}
