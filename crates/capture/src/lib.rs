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
mod follow;
mod identity;
mod limit;
pub mod names;
mod resume;
mod scan;
mod siblings;

pub use identity::FileId;

use copies::Fingerprint;
use events::GenRef;
use follow::{Tracked, refingerprint};
use identity::now_ns;
use logkeep_format::segment::ChunkOrigin;
use logkeep_format::{Event, HEAD_LEN, Sha256};
use resume::{Finished, Resume};
use siblings::{Family, OneShot, Past, Pending, Settled};
use std::collections::{HashMap, HashSet, VecDeque};
use std::io;
use std::path::PathBuf;
use std::time::{Duration, Instant};

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

/// Follows every file of every source. See the crate documentation.
pub struct Tracker {
    sources: Vec<SourceSpec>,
    opts: TrackerOptions,
    files: HashMap<FileId, Tracked>,
    /// The restart-only state, until the first poll has used it.
    resume: Option<Resume>,
    /// Generations the chain had finished when this run started (see
    /// [`Tracker::with_finished`]).
    finished: Finished,
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
        let fresh = max_gen == 0 && known.is_empty();
        Tracker {
            sources,
            opts,
            files: HashMap::new(),
            resume: Some(Resume::new(known)),
            finished: Finished::default(),
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
        self.finished = Finished::new(finished, forgotten);
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
        self.resume_missing(sink)?;
        self.reconcile(&claimed, sink)?;
        self.gone_while_waiting(sink)?;
        self.resume = None;
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

    /// A generation number no file has: for files logkeep writes itself (snapshot context),
    /// which share the store's numbering so that every generation stays unique.
    pub fn reserve_generation(&mut self) -> u64 {
        self.new_gen()
    }
}
