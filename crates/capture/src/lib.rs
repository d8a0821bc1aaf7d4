//! File capture: which files a source names, which generation each one is, and which bytes of
//! it have not been captured yet — through rotation, truncation, deletion and restarts.
//!
//! The [`Tracker`] is synchronous and owns one open descriptor per file generation it follows.
//! Each [`Tracker::poll`] re-resolves every pattern (the filesystem is the truth; change
//! notifications only make the next poll come sooner), then reads what each descriptor has
//! beyond its position with positioned reads in large chunks and hands every chunk to a
//! [`ChunkSink`], with the `closed`, `gap` and `tamper` events the chain must record. It never
//! looks at lines: bytes are bytes.
//!
//! Identity: a file is a [`FileId`] (`st_dev`, `st_ino`) plus its content fingerprint (the
//! first bytes and the bytes just before the position, see [`copies::Fingerprint`]). A
//! generation is one identity followed from offset 0. Positions here run ahead of what is
//! durable: the sink reports commits with [`Tracker::committed`], and [`Tracker::rewind`]
//! returns every file to its committed position when a segment could not be written.
//!
//! The tracker's jobs, one module each, in the order a poll runs them:
//!
//! - `scan` — expanding the patterns (matched on raw names, see [`names`]) into files: a file
//!   found again may have been renamed, a new one is followed unless it is a copy of a
//!   generation already captured.
//! - `resume` — what only the chain remembers after a restart. The generations it was
//!   following (each a generation number and its [`GenPos`]) are a restart-only value the
//!   first poll uses and drops: each is resumed where both of its chain digests match at the
//!   committed end, or finished from a rotated copy, or reported. The generations the chain had finished
//!   ([`Tracker::with_finished`]) tell, for the whole run, which rotated files present at start
//!   were captured; the time rule decides for those older than anything the chain still
//!   lists.
//! - `siblings` — the rotated siblings of every watched file (`app.log.1`, `app.log.2.gz`,
//!   `app.log-20261126`, ...): a copy of a known generation is judged only once it has stopped
//!   growing and is never a generation of its own; a sibling holding a generation never seen
//!   under a watched name (rotated away between two polls, or while logkeep was stopped) is
//!   captured, a `.gz` decompressed.
//! - `limit` — the open-file limit ([`TrackerOptions::max_open`]): past it new files wait, and
//!   one gone before it could be followed gets a `gap`.
//! - `follow` — reading each followed generation beyond its position. A file that shrinks or
//!   no longer matches its fingerprint becomes a new generation after the old one is finished
//!   from its rotated copy (`copytruncate`), or reported as `tamper`. The fingerprint is
//!   compared only when the file's size or times changed since the previous poll (or those
//!   times were too recent to prove anything), so that a file emptied and refilled to the same
//!   size is noticed and an idle one costs one `fstat`. Because the descriptor
//!   stays open, a renamed or deleted file is read to its end; one that left its path is
//!   closed once idle for [`TrackerOptions::linger`] with everything read from it committed.
//!
//! - `unreadable` — a file a pattern matches that cannot be opened or read is recorded once
//!   as `unreadable`, and as `readable` when it can be read again; `reconfig` — sources
//!   changed while running ([`Tracker::reconfigure`]).
//!
//! Beneath them: [`copies`] finds a generation's rotated copy by content and reads from it,
//! [`names`] matches patterns and names rotations, `events` builds every chunk origin and
//! chain event from one generation reference, and `identity` holds the small value types.

pub mod copies;
mod events;
mod follow;
mod identity;
mod limit;
pub mod names;
mod reconfig;
mod resume;
mod scan;
mod siblings;
#[cfg(test)]
mod testing;
mod unreadable;
pub mod versions;

pub use identity::FileId;
pub use unreadable::UnreadableFile;

use follow::Tracked;
use limit::Waiting;
use logkeep_format::segment::ChunkOrigin;
use logkeep_format::{Event, GenPos, Timestamp};
use resume::{Finished, Known, Resume};
use siblings::{Family, OneShot, Past, Pending, Settled};
use std::collections::{HashMap, HashSet, VecDeque};
use std::io;
use std::time::{Duration, Instant};
use unreadable::Unreadable;

/// A configured source: an id and the paths or glob patterns it captures.
#[derive(Debug, Clone)]
pub struct SourceSpec {
    /// Source id.
    pub id: String,
    /// Absolute paths or glob patterns.
    pub patterns: Vec<String>,
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
    /// The file's identity; see [`FileState::id`].
    pub key: FileId,
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
        self.key
    }
}

/// Follows every file of every source. See the crate documentation.
pub struct Tracker {
    sources: Vec<SourceSpec>,
    opts: TrackerOptions,
    /// Problems already warned about (paths, patterns), so that a lasting one is logged once.
    complained: HashSet<String>,

    // Following (`follow`).
    /// Every generation followed, by the identity of its file.
    files: HashMap<FileId, Tracked>,
    next_gen: u64,
    /// The read buffer, one chunk long.
    buf: Vec<u8>,

    // Resuming (`resume`).
    /// The restart-only state, until the first poll has used it.
    resume: Option<Resume>,
    /// Generations the chain had finished when this run started (see
    /// [`Tracker::with_finished`]).
    finished: Finished,
    /// Whether the chain held no generation at all when this run started.
    fresh: bool,
    /// When this run started.
    started: Timestamp,

    // Rotated siblings (`siblings`).
    /// Watched file names whose rotated siblings are reconciled.
    families: Vec<Family>,
    /// Files not followed, and why; forgotten when they are gone, decided again when they
    /// change.
    settled: HashMap<FileId, Settled>,
    /// Files that looked like copies while they may still have been growing.
    pending: HashMap<FileId, Pending>,
    /// Generations that ended in this run, to recognise their copies.
    past: VecDeque<Past>,
    /// Compressed generations read whole, until committed.
    oneshots: Vec<OneShot>,
    /// `closed` records of compressed generations captured whole, waiting for the generations
    /// they are held by (see `Tracked::hold`).
    closing: Vec<(Vec<u64>, Event)>,

    // The open-file limit (`limit`).
    /// Files not followed for want of a descriptor.
    waiting: HashMap<FileId, Waiting>,

    // Files that cannot be read (`unreadable`), and sources that match nothing.
    /// Files a pattern matches that cannot be opened or read, by identity.
    unreadable: HashMap<FileId, Unreadable>,
    /// Per source: whether its patterns matched a file in the latest scan.
    matched: Vec<bool>,
    /// Directories a pattern must list that could not be listed in the latest scan: the
    /// source index, the recorded name and the error.
    unlisted: Vec<(usize, String, String)>,
}

impl Tracker {
    /// A tracker for `sources`, resuming the generations the chain knows: each one's number
    /// and where it stood in the chain when the daemon started.
    pub fn new(
        sources: Vec<SourceSpec>,
        known: impl IntoIterator<Item = (u64, GenPos)>,
        max_gen: u64,
        opts: TrackerOptions,
    ) -> Tracker {
        let buf = vec![0u8; opts.chunk_bytes];
        let known: Vec<Known> = known.into_iter().map(Known::from).collect();
        let fresh = max_gen == 0 && known.is_empty();
        Tracker {
            sources,
            opts,
            files: HashMap::new(),
            resume: Some(Resume::new(known)),
            finished: Finished::default(),
            fresh,
            started: Timestamp::now(),
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
            unreadable: HashMap::new(),
            matched: Vec::new(),
            unlisted: Vec::new(),
        }
    }

    /// Tell the tracker which generations the chain had finished (closed, truncated, ended by
    /// a gap) when this run started, each with the time of the record that finished it, as
    /// far as it lists them: those finished after `forgotten` (`None`: every one). A rotated
    /// sibling present at start and last modified after that time is judged by content: it
    /// was captured if it holds one of these generations (by both digests at its end, or, last
    /// modified before that generation was finished, as a shorter copy with the same head),
    /// and is captured now if not. Older ones are judged by the time rule (the `resume`
    /// module's `Horizon`).
    pub fn with_finished(
        mut self,
        finished: Vec<((u64, GenPos), Timestamp)>,
        forgotten: Option<Timestamp>,
    ) -> Tracker {
        let finished = finished
            .into_iter()
            .map(|(k, at)| (Known::from(k), at))
            .collect();
        self.finished = Finished::new(finished, forgotten);
        self
    }

    /// Mark positions durable: `(dev, ino, gen_id, end)` for every committed span.
    pub fn committed(&mut self, spans: impl IntoIterator<Item = (u64, u64, u64, u64)>) {
        for (dev, ino, gen_id, end) in spans {
            let id = FileId { dev, ino };
            self.commit_file(id, gen_id, end);
            self.oneshot_committed(id, gen_id, end);
        }
    }

    /// Forget everything read but not committed: the next poll reads it again. Fingerprints
    /// are rebuilt from the files at the committed positions.
    pub fn rewind(&mut self) {
        self.rewind_files();
        self.rewind_oneshots();
    }

    /// Files not followed for want of a descriptor (the open-file limit), as
    /// `(source id, recorded path, size seen)`, sorted.
    pub fn waiting(&self) -> Vec<(String, String, u64)> {
        self.waiting_list()
    }

    /// Files a pattern matches that cannot be opened or read (each recorded once as
    /// `unreadable`), sorted by source and path.
    pub fn unreadable(&self) -> Vec<UnreadableFile> {
        self.unreadable_list()
    }

    /// The ids of the sources whose patterns matched no file in the latest scan (none before
    /// the first poll).
    pub fn unmatched(&self) -> Vec<String> {
        self.sources
            .iter()
            .zip(&self.matched)
            .filter(|(_, m)| !**m)
            .map(|(s, _)| s.id.clone())
            .collect()
    }

    /// Directories a source's pattern must list that could not be listed in the latest scan
    /// (whatever they hold is not captured), as `(source id, recorded name, error)`.
    pub fn unlisted(&self) -> Vec<(String, String, String)> {
        self.unlisted
            .iter()
            .filter_map(|(si, d, e)| {
                Some((self.sources.get(*si)?.id.clone(), d.clone(), e.clone()))
            })
            .collect()
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

    /// Resolve the patterns, reconcile the rotated siblings of every watched file, then read
    /// everything new. Errors are from the sink; problems with single files are logged and do
    /// not stop the others.
    ///
    /// The steps, each in the module that owns its rules:
    /// 1. `scan`: expand every pattern, note renamed files, follow new ones;
    /// 2. `resume` (first poll only): find, finish or report the generations the chain was
    ///    following that no pattern matched;
    /// 3. `siblings`: judge the rotated siblings of every watched file, capturing those that
    ///    hold a generation never seen (which ones present at start were captured before is
    ///    the rule of the `resume` module's `Finished` and `Horizon`);
    /// 4. `limit`: follow up on files that wait for a descriptor;
    /// 5. `follow`: read every followed file beyond its position, finish what no longer
    ///    holds what was read, close what left its path and is idle;
    /// 6. `siblings`: record the `closed` events that waited for older generations.
    pub fn poll(&mut self, sink: &mut dyn ChunkSink) -> io::Result<PollStats> {
        let now = Instant::now();
        let claimed = self.scan(sink)?;
        self.resume_missing(sink)?;
        self.reconcile(&claimed, sink)?;
        self.gone_while_waiting(sink)?;
        // Everything the restart state was for is done: later polls judge by what this run saw.
        self.resume = None;
        let bytes = self.read_all(now, sink)?;
        self.release_closing(sink)?;
        Ok(PollStats {
            bytes,
            files: self.files.len(),
        })
    }

    /// Before a stop: decide what waits for time to tell. A followed file unlinked with no
    /// file at its name is judged a deletion only once it stayed so for
    /// [`TrackerOptions::linger`] (a rotation may be between its steps); at a stop it is
    /// judged now, so that the chain holds the `tamper` record this run owes.
    pub fn conclude(&mut self, sink: &mut dyn ChunkSink) -> io::Result<()> {
        self.conclude_unlinked(sink)
    }

    /// A generation number no file has: for files logkeep writes itself (snapshot context),
    /// which share the store's numbering so that every generation stays unique.
    pub fn reserve_generation(&mut self) -> u64 {
        self.new_gen()
    }
}
