//! logkeep's local store: the only writer of a store directory's evidence.
//!
//! It writes `chain/`, `segments/`, `head.json` and `logkeep-store.json`, and nothing else
//! writes them: it commits segments and chain records in the crash-safe order
//! `docs/FORMAT.md` specifies, holds an exclusive lock so two daemons never write one chain,
//! and on open it recovers from whatever a crash left (temporary files, a segment sealed but
//! not yet recorded) and replays the chain to tell the capture layer how far every file
//! generation was captured. The chain is the only position file: a position is durable exactly
//! when the record naming it is.
//!
//! One directory of a store is not the store's: `wal/`, the syslog listeners' write-ahead
//! logs, is written by the listeners (`logkeep-syslog`) and read back by capture like any log
//! file. It is not evidence until captured into a segment, and the store neither writes it nor
//! replays it; it only knows its path, so that the listeners' files are not kept among the
//! finished generations of rotated log files.

pub mod cache;
pub mod clock;
pub mod durable;
pub mod pack;

use logkeep_format::chain::{ChainError, ChainReader};
use logkeep_format::layout::{self, Head, Layout, StoreInfo};
use logkeep_format::segment::{self, ChunkOrigin, Discard, SegmentWriter};
use logkeep_format::{Event, Host, Record, Sha256, SourceDecl, Span, Timestamp};
use std::collections::{HashMap, VecDeque};
use std::fs::{self, File};
use std::io::{self, BufWriter};
use std::path::{Path, PathBuf};

/// How far the wall clock may move against the boot clock between two records, beyond 0.1 %
/// of the time between them (clock discipline slews at most 0.05 %), before the store records a
/// `clock` record: 2 s.
pub const CLOCK_STEP_NS: i128 = 2_000_000_000;

/// An error with the file it is about.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// An I/O error on a path.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// The store's own files are damaged; the daemon will not extend a chain it cannot trust.
    #[error("{}: {what}", path.display())]
    Corrupt {
        /// The damaged file.
        path: PathBuf,
        /// What is wrong.
        what: String,
    },
    /// A format 1 store: verifiable, but not extended with format 2 records.
    #[error("{}: a format 1 store; this logkeep writes format 2 (forward-secure seals) and does not extend it. It stays verifiable as it is: keep it as evidence, and point [store] path at a new directory", path.display())]
    OldFormat {
        /// The store directory.
        path: PathBuf,
    },
    /// Another process holds the store.
    #[error("{}: the store is in use by another logkeep process", path.display())]
    Locked {
        /// The store directory.
        path: PathBuf,
    },
}

fn io_at(path: &Path) -> impl FnOnce(io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Source ids starting with this are logkeep's own (e.g. `logkeep.snapshot`), never configured.
pub const RESERVED_PREFIX: &str = "logkeep.";

/// How far one file generation was captured, as the chain says (defined with the format, so
/// that capture resumes from the same type).
pub use logkeep_format::GenPos;

/// How many finished generations [`Replay::finished`] keeps (about 200 bytes each).
pub const FINISHED_KEPT: usize = 8192;

/// What replaying the chain found.
#[derive(Debug, Default, Clone, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Replay {
    /// Committed end of every generation still followed when the chain ended (not closed, not
    /// superseded after a truncation), by generation number.
    pub gens: HashMap<u64, GenPos>,
    /// The newest generations the chain finished (closed, truncated, ended by a gap), oldest
    /// first, with the wall time of the record that finished each: at most [`FINISHED_KEPT`].
    /// With them a restart tells a rotated file that was captured from one never seen. A
    /// record whose time cannot be read counts as [`Timestamp::LATEST`], so that the files it
    /// concerns are held rather than captured again.
    pub finished: VecDeque<(u64, GenPos, Timestamp)>,
    /// The wall time of the newest finished generation no longer in `finished`: a file last
    /// modified after it, if captured at all, is by a generation `finished` or `gens` holds.
    /// `None` while `finished` holds every generation the chain finished.
    pub finished_forgotten: Option<Timestamp>,
    /// Recorded paths under this prefix (the store's own write-ahead logs) are never rotated
    /// files: their generations are not kept in `finished`, where they would crowd out those
    /// of log files.
    #[serde(skip)]
    wal_prefix: Option<String>,
    /// Highest generation number used.
    pub max_gen: u64,
    /// The newest key statement in the chain: its epoch and public key (base64).
    pub epoch: Option<(u64, String)>,
    /// Sources of the most recent `config` record.
    pub sources: Option<Vec<SourceDecl>>,
    /// Every path pattern any `config` record in the chain declared, each once, in the order
    /// first declared: what some earlier run watched.
    pub patterns_ever: Vec<String>,
    /// Records in the chain.
    pub records: u64,
    /// Whether the last daemon stopped cleanly (its last record is a `stop`).
    pub clean_stop: bool,
}

impl Replay {
    fn finish(&mut self, gen_id: u64, wall: Timestamp) {
        let Some(g) = self.gens.remove(&gen_id) else {
            return;
        };
        if self
            .wal_prefix
            .as_deref()
            .is_some_and(|w| g.path.starts_with(w))
        {
            return;
        }
        self.finished.push_back((gen_id, g, wall));
        if self.finished.len() > FINISHED_KEPT
            && let Some((_, _, w)) = self.finished.pop_front()
        {
            self.finished_forgotten = Some(w);
        }
    }

    fn apply(&mut self, record: &Record) {
        self.records += 1;
        // Read only when a generation finishes; the record keeps its string.
        let wall = || Timestamp::parse(&record.wall).unwrap_or(Timestamp::LATEST);
        // Seals after a `stop` (the checkpoint that seals it) leave the stop clean.
        if !matches!(record.event, Event::Checkpoint { .. } | Event::Epoch { .. }) {
            self.clean_stop = matches!(record.event, Event::Stop { .. });
        }
        match &record.event {
            Event::Epoch { epoch, key, .. } => self.epoch = Some((*epoch, key.clone())),
            Event::Segment { spans, .. } => {
                for s in spans {
                    self.max_gen = self.max_gen.max(s.gen_id);
                    // Sources under the reserved prefix are files logkeep wrote whole (snapshot
                    // context), not files it follows: there is nothing to resume.
                    if s.source.starts_with(RESERVED_PREFIX) {
                        continue;
                    }
                    self.gens
                        .entry(s.gen_id)
                        .and_modify(|g| g.advance(s))
                        .or_insert_with(|| GenPos::of_span(s));
                }
            }
            Event::Config { sources, .. } => {
                for p in sources.iter().flat_map(|d| &d.paths) {
                    if !self.patterns_ever.contains(p) {
                        self.patterns_ever.push(p.clone());
                    }
                }
                self.sources = Some(sources.clone());
            }
            Event::Closed { gen_id, .. } => self.finish(*gen_id, wall()),
            // A version of a file rewritten in place is whole: its generation ends with it.
            Event::Version { gen_id, .. } => self.finish(*gen_id, wall()),
            Event::Tamper { gen_id, what, .. } => {
                self.max_gen = self.max_gen.max(*gen_id);
                // A truncated or rewritten generation is finished: the file goes on as a new
                // one. A deleted one is still read through its open descriptor.
                if what != "deleted" {
                    self.finish(*gen_id, wall());
                }
            }
            Event::Gap { gen_id, .. } => {
                self.max_gen = self.max_gen.max(*gen_id);
                self.finish(*gen_id, wall());
            }
            _ => {}
        }
    }
}

/// The layout new stores are created in ([`Layout::SHARDED`], docs/FORMAT.md §2). A store keeps
/// the layout it was created in: a flat store is extended flat.
pub const NEW_STORE_LAYOUT: Layout = Layout::SHARDED;

/// An open store directory, locked for writing.
pub struct Store {
    root: PathBuf,
    chain: PathBuf,
    segments: PathBuf,
    layout: Layout,
    info: StoreInfo,
    head: Head,
    host: Host,
    level: i32,
    /// The replay state as of the head, kept up to date with every commit, for the start-up
    /// cache ([`cache`]).
    state: Replay,
    /// Head of the last cache written.
    cached: u64,
    /// The wall clock records and segments are stamped with ([`Timestamp::now`], except in
    /// the benchmark's generated stores: [`Store::set_clock`]).
    clock: fn() -> Timestamp,
    /// The wall time and boot-clock time read for the last record this process stamped, to
    /// notice the wall clock being stepped ([`Store::stamp`]); `None` before the first.
    stamped: Option<(Timestamp, u64)>,
    /// Whether steps of the wall clock are recorded (not with a simulated clock).
    watch_clock: bool,
    _lock: File,
}

/// A segment being written to a temporary file.
pub struct OpenSegment {
    temp: PathBuf,
    writer: SegmentWriter<BufWriter<File>>,
    first: Option<String>,
    last: String,
}

impl OpenSegment {
    /// Append a chunk (see [`SegmentWriter::append`]).
    pub fn append(&mut self, origin: &ChunkOrigin<'_>, data: &[u8]) -> io::Result<()> {
        if self.first.is_none() {
            self.first = Some(origin.read_at.to_owned());
        }
        origin.read_at.clone_into(&mut self.last);
        self.writer.append(origin, data)
    }

    /// Captured bytes so far.
    pub fn data_bytes(&self) -> u64 {
        self.writer.data_bytes()
    }

    /// Whether nothing was appended.
    pub fn is_empty(&self) -> bool {
        self.writer.members().is_empty()
    }

    /// The spans appended so far (positions that become durable with this segment).
    pub fn spans(&self) -> Vec<Span> {
        segment::spans_of(self.writer.members())
    }

    /// Throw the segment away (its bytes will be read again from the sources).
    pub fn abandon(self) {
        let _ = fs::remove_file(&self.temp);
    }
}

impl Store {
    /// Open (creating it if `create` and absent) the store at `root`, take its lock, recover
    /// from a crash, and replay the chain. With `create` (the daemon, which extends the chain)
    /// a format 1 store is refused before anything is written to it.
    pub fn open(root: &Path, create: bool, level: i32) -> Result<(Store, Replay), StoreError> {
        Store::open_with(root, create.then_some(NEW_STORE_LAYOUT), level)
    }

    /// [`Store::open`] with `create`, creating an absent store in layout `new_layout` (the
    /// daemon's `[store] pack_records`). An existing store keeps its own layout.
    pub fn open_as(
        root: &Path,
        new_layout: Layout,
        level: i32,
    ) -> Result<(Store, Replay), StoreError> {
        Store::open_with(root, Some(new_layout), level)
    }

    fn open_with(
        root: &Path,
        create: Option<Layout>,
        level: i32,
    ) -> Result<(Store, Replay), StoreError> {
        let info_path = root.join(layout::STORE_FILE);
        if !info_path.exists() {
            let Some(new_layout) = create else {
                return Err(StoreError::Io {
                    path: info_path,
                    source: io::Error::new(io::ErrorKind::NotFound, "not a logkeep store"),
                });
            };
            init(root, new_layout)?;
        }
        let lock = File::open(root).map_err(io_at(root))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                return Err(StoreError::Locked {
                    path: root.to_owned(),
                });
            }
            Err(fs::TryLockError::Error(e)) => return Err(io_at(root)(e)),
        }
        let info = logkeep_format::verify::read_store_info(root).map_err(|e| StoreError::Io {
            path: e.path,
            source: e.source,
        })?;
        if create.is_some() && info.v != logkeep_format::FORMAT_V2 {
            return Err(StoreError::OldFormat {
                path: root.to_owned(),
            });
        }
        let chain = root.join(layout::CHAIN_DIR);
        let segments = root.join(layout::SEGMENTS_DIR);
        for dir in [root, chain.as_path(), segments.as_path()] {
            remove_temps(dir)?;
        }
        let mut store = Store {
            root: root.to_owned(),
            chain,
            segments,
            layout: Layout::of(&info).unwrap_or_default(),
            info,
            head: Head {
                seq: 0,
                hash: Sha256::ZERO,
            },
            host: clock::host(),
            level,
            state: Replay::default(),
            cached: 0,
            clock: Timestamp::now,
            stamped: None,
            watch_clock: true,
            _lock: lock,
        };
        let mut replay = Replay {
            wal_prefix: root.join(layout::WAL_DIR).to_str().map(|w| format!("{w}/")),
            ..Replay::default()
        };
        store.start_from_cache(&mut replay);
        store.replay(&mut replay)?;
        store.state = replay.clone();
        if store.layout.is_sharded() {
            store.settle_newest()?;
        }
        store.check_nothing_beyond()?;
        store.recover_orphan(&mut replay)?;
        store.write_head_hint();
        if store.cached != store.head.seq {
            store.save_cache();
        }
        Ok((store, replay))
    }

    /// Take the state from the start-up cache when it matches the chain (see [`cache`]):
    /// then `self.head` is the cached head and the replay goes on after it.
    fn start_from_cache(&mut self, replay: &mut Replay) {
        let (head, cached) = match cache::load(&self.root, &self.info.store) {
            cache::Loaded::Found(h, r) => (h, r),
            cache::Loaded::Absent => {
                if self.root.join(layout::HEAD_FILE).exists() {
                    tracing::info!(store = %self.root.display(), "no start-up cache: replaying the whole chain (it is written for the next start)");
                }
                return;
            }
            cache::Loaded::Unusable(why) => {
                tracing::info!(store = %self.root.display(), "start-up cache not used ({why}): rebuilding it from the whole chain");
                return;
            }
        };
        match logkeep_format::chain::read_link(&self.root, head.seq) {
            Ok(Some(l)) if l.hash == head.hash && l.record.store == self.info.store => {
                tracing::debug!(
                    seq = head.seq,
                    "start-up cache matches the chain: replaying only the records after it"
                );
                let wal_prefix = replay.wal_prefix.take();
                *replay = *cached;
                replay.wal_prefix = wal_prefix;
                self.head = head;
                self.cached = head.seq;
            }
            _ => tracing::info!(
                store = %self.root.display(),
                seq = head.seq,
                "start-up cache does not match the chain (its record {} is missing or differs): rebuilding it from the whole chain",
                head.seq
            ),
        }
    }

    /// Write the start-up cache for the current head; a failure is logged (the cache only
    /// saves time).
    fn save_cache(&mut self) {
        if self.head.seq == 0 {
            return;
        }
        match cache::save(&self.root, &self.info.store, self.head, &self.state) {
            Ok(()) => self.cached = self.head.seq,
            Err(e) => {
                tracing::warn!(file = %self.root.join(layout::CACHE_FILE).display(), "cannot write the start-up cache: {e}")
            }
        }
    }

    fn replay(&mut self, replay: &mut Replay) -> Result<(), StoreError> {
        let reader = if self.head.seq > 0 {
            ChainReader::after(&self.root, self.head)
        } else {
            ChainReader::new(&self.root)
        };
        for link in reader.of_store(&self.info.store) {
            let link = match link {
                Ok(l) => l,
                Err(ChainError::Io { path, source }) => {
                    return Err(StoreError::Io { path, source });
                }
                Err(ChainError::Broken { path, .. }) => {
                    return Err(StoreError::Corrupt {
                        path,
                        what: "does not continue the chain (seq, prev or store differ); run `logkeep verify` on the store".into(),
                    });
                }
                Err(e) => {
                    return Err(StoreError::Corrupt {
                        what: e.what(),
                        path: e.path().to_owned(),
                    });
                }
            };
            replay.apply(&link.record);
            self.head = link.head();
        }
        Ok(())
    }

    /// Layout 2: remove temporary files from the newest shard directories, and finish any
    /// packing a crash interrupted there ([`pack::settle_shard`]). Only the shards around the
    /// head are listed, so that opening costs the same whatever the store's age.
    fn settle_newest(&mut self) -> Result<(), StoreError> {
        let head = self.head.seq;
        let shards = [
            head.saturating_sub(self.layout.pack_records()),
            head,
            head + 1,
        ];
        let mut seen = Vec::new();
        for seq in shards {
            let k = seq / layout::SHARD_RECORDS;
            if seen.contains(&k) {
                continue;
            }
            seen.push(k);
            for rel in [self.layout.record_dir(seq), self.layout.segment_dir(seq)] {
                let dir = self.root.join(rel);
                if dir.is_dir() {
                    remove_temps(&dir)?;
                }
            }
            let settled = pack::settle_shard(&self.root, self.layout, seq, head).map_err(|e| {
                let path = self.root.join(self.layout.record_dir(seq));
                if e.kind() == io::ErrorKind::InvalidData {
                    StoreError::Corrupt {
                        path,
                        what: e.to_string(),
                    }
                } else {
                    io_at(&path)(e)
                }
            })?;
            for (first, what) in settled {
                if matches!(what, pack::Settled::Packed | pack::Settled::Tidied(_)) {
                    tracing::info!(
                        first,
                        ?what,
                        "finished packing chain records interrupted by a crash"
                    );
                }
            }
        }
        Ok(())
    }

    /// The directories records and segments beyond the head could be in: `chain/` and
    /// `segments/` (flat), or the shard directories from the head's on (layout 2; a shard
    /// directory beyond the next record's is reported as it is).
    fn dirs_beyond(&self, top: &Path) -> Result<Vec<PathBuf>, StoreError> {
        if self.layout == Layout::Flat {
            return Ok(vec![top.to_owned()]);
        }
        let from = self.head.seq / layout::SHARD_RECORDS;
        let mut out = Vec::new();
        for e in fs::read_dir(top).map_err(io_at(top))? {
            let e = e.map_err(io_at(top))?;
            if let Some(k) = layout::parse_shard_name(&e.file_name().to_string_lossy())
                && k >= from
                && e.path().is_dir()
            {
                out.push(e.path());
            }
        }
        Ok(out)
    }

    /// Refuse to extend a chain that has lost records: records beyond the first missing one, a
    /// head hint beyond the chain's end, or segments beyond the one a crash can leave without
    /// its record, all mean that files in the middle were removed. Appending now would
    /// overwrite the evidence that follows the hole, so the daemon stops and says so.
    fn check_nothing_beyond(&self) -> Result<(), StoreError> {
        let next = self.head.seq + 1;
        for dir in self.dirs_beyond(&self.chain)? {
            for e in fs::read_dir(&dir).map_err(io_at(&dir))? {
                let e = e.map_err(io_at(&dir))?;
                let name = e.file_name().to_string_lossy().into_owned();
                if let Some(seq) =
                    layout::parse_record_name(&name).or_else(|| self.layout.parse_pack_name(&name))
                    && seq > next
                {
                    return Err(StoreError::Corrupt {
                        path: e.path(),
                        what: format!(
                            "exists although record {next} is missing: records were removed from the chain; run `logkeep verify` and keep this store as evidence (configure a new store path to capture on)"
                        ),
                    });
                }
            }
        }
        if let Ok(bytes) = fs::read(self.root.join(layout::HEAD_FILE))
            && let Ok(hint) = serde_json::from_slice::<Head>(&bytes)
            && hint.seq > self.head.seq
        {
            return Err(StoreError::Corrupt {
                path: self.root.join(layout::HEAD_FILE),
                what: format!(
                    "names record {} but the chain ends at {}: records were removed; run `logkeep verify` and keep this store as evidence (configure a new store path to capture on)",
                    hint.seq, self.head.seq
                ),
            });
        }
        for dir in self.dirs_beyond(&self.segments)? {
            for e in fs::read_dir(&dir).map_err(io_at(&dir))? {
                let e = e.map_err(io_at(&dir))?;
                if let Some((seq, _)) = layout::parse_segment_name(&e.file_name().to_string_lossy())
                    && seq > next
                {
                    return Err(StoreError::Corrupt {
                        path: e.path(),
                        what: format!(
                            "belongs to record {seq} but the chain ends at {}: records were removed; run `logkeep verify`",
                            self.head.seq
                        ),
                    });
                }
            }
        }
        Ok(())
    }

    /// A crash between renaming a segment into place and writing its record leaves a complete,
    /// durable segment without a record. Its manifest names the seq and prev it was sealed for;
    /// if it checks out, write the record now, otherwise remove it (its bytes are still in the
    /// sources, since positions only advance with records).
    fn recover_orphan(&mut self, replay: &mut Replay) -> Result<(), StoreError> {
        let dir = self.root.join(self.layout.segment_dir(self.head.seq + 1));
        if !dir.is_dir() {
            return Ok(());
        }
        for e in fs::read_dir(&dir).map_err(io_at(&dir))? {
            let e = e.map_err(io_at(&dir))?;
            let name = e.file_name().to_string_lossy().into_owned();
            let Some((seq, hash)) = layout::parse_segment_name(&name) else {
                continue;
            };
            if seq <= self.head.seq {
                continue;
            }
            let path = e.path();
            let f = File::open(&path).map_err(io_at(&path))?;
            let seen = segment::read_segment(f, u64::MAX, &mut Discard).map_err(io_at(&path))?;
            let fits = seq == self.head.seq + 1 && seen.flaws.is_empty() && seen.sha256 == hash;
            let manifest = seen.manifest.filter(|(m, _)| {
                fits && m.seq == seq && m.prev == self.head.hash && m.store == self.info.store
            });
            let (Some((m, manifest_sha256)), Some(content_size)) = (manifest, seen.content) else {
                tracing::warn!(file = %path.display(), "removing an unrecorded segment that does not fit the chain");
                fs::remove_file(&path).map_err(io_at(&path))?;
                continue;
            };
            let first = m
                .members
                .first()
                .map(|x| x.read_at.clone())
                .unwrap_or_default();
            let last = m
                .members
                .last()
                .map(|x| x.read_at.clone())
                .unwrap_or_default();
            let event = Event::Segment {
                file: name.clone(),
                sha256: seen.sha256,
                size: seen.size,
                content_size,
                manifest_sha256,
                first,
                last,
                spans: segment::spans_of(&m.members),
            };
            let record = self.commit_record(event)?;
            replay.apply(&record);
            tracing::info!(file = %name, seq, "committed a segment sealed just before a crash");
            let r = self.commit_record(Event::Recovered { file: name })?;
            replay.apply(&r);
        }
        Ok(())
    }

    /// The newest committed record.
    pub fn head(&self) -> Head {
        self.head
    }

    /// The store id.
    pub fn id(&self) -> &str {
        &self.info.store
    }

    /// The store directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Start a new segment in a temporary file, compressed by zstd on worker threads (see
    /// [`compression_workers`]) while the caller reads and hashes.
    pub fn begin_segment(&self) -> Result<OpenSegment, StoreError> {
        let (temp, f) =
            durable::create_temp(&self.segments, "segment").map_err(io_at(&self.segments))?;
        let writer = SegmentWriter::new(
            BufWriter::with_capacity(1 << 20, f),
            self.level,
            compression_workers(),
        )
        .map_err(io_at(&temp))?;
        Ok(OpenSegment {
            temp,
            writer,
            first: None,
            last: String::new(),
        })
    }

    /// Seal `seg` and commit it: segment file durable under its final name first, then its
    /// record. Positions it carries are durable when this returns.
    pub fn commit_segment(&mut self, seg: OpenSegment) -> Result<Record, StoreError> {
        let OpenSegment {
            temp,
            writer,
            first,
            last,
        } = seg;
        let wall = match self.stamp() {
            Ok(w) => w,
            Err(e) => {
                let _ = fs::remove_file(&temp);
                return Err(e);
            }
        };
        let seq = self.head.seq + 1;
        let result = writer.finish(&self.info.store, seq, self.head.hash, wall.unix_secs());
        let (buf, sealed) = match result {
            Ok(x) => x,
            Err(e) => {
                let _ = fs::remove_file(&temp);
                return Err(io_at(&temp)(e));
            }
        };
        let file = buf.into_inner().map_err(|e| io_at(&temp)(e.into_error()))?;
        let name = layout::segment_name(seq, &sealed.sha256);
        let dir = self.root.join(self.layout.segment_dir(seq));
        if let Err(e) = ensure_dir(&dir) {
            let _ = fs::remove_file(&temp);
            return Err(io_at(&dir)(e));
        }
        durable::commit_new(file, &temp, &dir, &name).map_err(io_at(&temp))?;
        let event = Event::Segment {
            file: name,
            sha256: sealed.sha256,
            size: sealed.size,
            content_size: sealed.content_size,
            manifest_sha256: sealed.manifest_sha256,
            first: first.unwrap_or_default(),
            last,
            spans: segment::spans_of(&sealed.manifest.members),
        };
        let committed = self.commit_at(event, wall);
        if committed.is_err() {
            // Without its record the segment is not evidence yet, and a retry seals the same
            // bytes again under the same sequence number: remove it so that the retry (or a
            // restart) finds a clean state.
            let path = dir.join(layout::segment_name(seq, &sealed.sha256));
            if fs::remove_file(&path).is_ok() {
                let _ = durable::sync_dir(&dir);
            }
        }
        committed
    }

    /// Remove the local copy of the segment committed by record `seq` (named `file`), which
    /// `media` hold verified copies of, and record that in the chain. The record keeps the
    /// chain whole: verification tells a pruned segment from a missing one.
    pub fn prune(
        &mut self,
        seq: u64,
        file: &str,
        media: Vec<String>,
    ) -> Result<Record, StoreError> {
        let dir = self.root.join(self.layout.segment_dir(seq));
        let path = dir.join(file);
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_at(&path)(e)),
        }
        durable::sync_dir(&dir).map_err(io_at(&dir))?;
        self.commit_record(Event::Pruned {
            seq,
            file: file.to_owned(),
            media,
        })
    }

    /// Commit an event record.
    pub fn append(&mut self, event: Event) -> Result<Record, StoreError> {
        self.commit_record(event)
    }

    /// Commit a record whose event depends on where it lands: `make` gets the head it follows
    /// and the record's wall time (a checkpoint signs both).
    pub fn append_with(
        &mut self,
        make: impl FnOnce(Head, &str) -> Event,
    ) -> Result<Record, StoreError> {
        let wall = self.stamp()?;
        let text = wall.to_rfc3339();
        let event = make(self.head, &text);
        self.commit_stamped(event, text)
    }

    /// The store's format version (`logkeep-store.json`'s `v`).
    pub fn version(&self) -> u32 {
        self.info.v
    }

    fn commit_record(&mut self, event: Event) -> Result<Record, StoreError> {
        let wall = self.stamp()?;
        self.commit_at(event, wall)
    }

    /// The wall time for the next record. When the wall clock has moved against the boot clock
    /// since the last record by more than [`CLOCK_STEP_NS`] (plus the 0.1 % that clock
    /// discipline may slew), a `clock` record stating the step is committed first: the chain
    /// says the clock was stepped before the first record stamped with the new time, and the
    /// step is never mistaken for anything else.
    fn stamp(&mut self) -> Result<Timestamp, StoreError> {
        // Read together, so that the time a commit takes (a segment's fsync on a slow disk)
        // never counts as a step.
        let wall = (self.clock)();
        let mono = clock::boot_ns();
        let last = self.stamped.filter(|_| self.watch_clock);
        self.stamped = Some((wall, mono));
        if let Some((w0, m0)) = last {
            let elapsed = i128::from(mono.saturating_sub(m0));
            let step = wall.unix_nanos() - w0.unix_nanos() - elapsed;
            if step.abs() > CLOCK_STEP_NS + elapsed / 1000 {
                let step_ns = step.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64;
                tracing::warn!(
                    store = %self.root.display(),
                    "the wall clock moved by {:+.3} s against the boot clock since the last record; recorded",
                    step_ns as f64 / 1e9
                );
                self.commit_at(Event::Clock { step_ns }, wall)?;
            }
        }
        Ok(wall)
    }

    /// Stamp the records and segments committed from now on with `clock` instead of the wall
    /// clock. Only the benchmark uses it, to generate through this code a store equivalent to
    /// months of operation in minutes; the daemon never calls it.
    #[doc(hidden)]
    pub fn set_clock(&mut self, clock: fn() -> Timestamp) {
        self.clock = clock;
        self.watch_clock = false;
    }

    fn commit_at(&mut self, event: Event, wall: Timestamp) -> Result<Record, StoreError> {
        self.commit_stamped(event, wall.to_rfc3339())
    }

    /// Commit `event` stamped with the wall time whose RFC 3339 text is `text`.
    fn commit_stamped(&mut self, event: Event, text: String) -> Result<Record, StoreError> {
        let record = Record {
            v: self.info.v,
            seq: self.head.seq + 1,
            prev: self.head.hash,
            store: self.info.store.clone(),
            wall: text,
            mono_ns: clock::boot_ns(),
            host: self.host.clone(),
            event,
        };
        let bytes = record.to_bytes();
        let name = layout::record_name(record.seq);
        let dir = self.root.join(self.layout.record_dir(record.seq));
        ensure_dir(&dir).map_err(io_at(&dir))?;
        durable::write_new(&dir, &name, &bytes).map_err(io_at(&dir.join(&name)))?;
        self.head = Head {
            seq: record.seq,
            hash: Sha256::of(&bytes),
        };
        self.write_head_hint();
        self.state.apply(&record);
        if record.seq >= self.cached + cache::SAVE_EVERY {
            self.save_cache();
        }
        if self.layout.is_sharded() && record.seq == self.layout.pack_last(record.seq) {
            // The run is complete. The records are committed whatever happens here: a failed
            // packing leaves them as files, which every reader accepts, and the next start
            // finishes it.
            if let Err(e) = pack::settle_run(&self.root, self.layout, record.seq) {
                tracing::warn!(dir = %dir.display(), "cannot pack the chain records of the run ending at {}: {e}", record.seq);
            }
        }
        Ok(record)
    }

    /// The store's directory layout.
    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// Rewrite `head.json`. It is a hint: the record is already committed, so a failure here
    /// is logged and must not make the caller treat the commit as failed (which would capture
    /// the same bytes again).
    fn write_head_hint(&self) {
        if self.head.seq == 0 {
            return;
        }
        let mut bytes = serde_json::to_vec(&self.head).unwrap_or_default();
        bytes.push(b'\n');
        if let Err(e) = durable::write_atomic(&self.root, layout::HEAD_FILE, &bytes) {
            tracing::warn!(file = %self.root.join(layout::HEAD_FILE).display(), "cannot update the head hint: {e}");
        }
    }
}

impl Drop for Store {
    /// A store closed cleanly leaves a start-up cache of its head.
    fn drop(&mut self) {
        if self.cached != self.head.seq {
            self.save_cache();
        }
    }
}

/// Remove temporary files a crash left in `dir`, saying so.
fn remove_temps(dir: &Path) -> Result<(), StoreError> {
    let n = durable::remove_temps(dir).map_err(io_at(dir))?;
    if n > 0 {
        tracing::info!(dir = %dir.display(), files = n, "removed temporary files left by an interrupted write");
    }
    Ok(())
}

/// Make sure directory `dir` exists, durably: a shard directory is created (and its parent
/// synced) before the first file goes into it.
fn ensure_dir(dir: &Path) -> io::Result<()> {
    match fs::create_dir(dir) {
        Ok(()) => match dir.parent() {
            Some(p) => durable::sync_dir(p),
            None => Ok(()),
        },
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// Create an empty store in layout `lay` at `root`. Public for tests and the benchmark,
/// which make stores of both layouts; the daemon creates through [`Store::open`].
pub fn init(root: &Path, lay: Layout) -> Result<(), StoreError> {
    fs::create_dir_all(root).map_err(io_at(root))?;
    for d in [layout::CHAIN_DIR, layout::SEGMENTS_DIR] {
        let p = root.join(d);
        fs::create_dir_all(&p).map_err(io_at(&p))?;
    }
    let mut id = [0u8; 16];
    rustix::rand::getrandom(&mut id, rustix::rand::GetRandomFlags::empty())
        .map_err(|e| io_at(root)(e.into()))?;
    let info = StoreInfo {
        format: "logkeep-store".into(),
        v: logkeep_format::FORMAT_V2,
        store: hex::encode(id),
        created: Timestamp::now().to_rfc3339(),
        layout: lay.values().0,
        pack: lay.values().1,
    };
    let mut bytes = serde_json::to_vec_pretty(&info).unwrap_or_default();
    bytes.push(b'\n');
    durable::write_atomic(root, layout::STORE_FILE, &bytes).map_err(io_at(root))?;
    durable::sync_dir(root).map_err(io_at(root))?;
    if let Some(parent) = root.parent() {
        let _ = durable::sync_dir(parent);
    }
    Ok(())
}

/// zstd worker threads per segment: one per CPU this process may run on, at most 2. A burst
/// (catching up after a restart, a log flood) then compresses on two cores while the capture
/// thread reads and hashes; a trickle costs nothing, since an idle worker sleeps. Every worker
/// adds its own jobs' buffers, so the cap keeps memory within budget on large machines
/// (docs/PERFORMANCE.md).
pub fn compression_workers() -> u32 {
    std::thread::available_parallelism()
        .map(|n| n.get().clamp(1, 2) as u32)
        .unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finished_generations_are_kept_up_to_the_bound_and_the_forgotten_time_follows() {
        let mut r = Replay::default();
        let total = FINISHED_KEPT as u64 + 2;
        for g in 1..=total {
            r.gens.insert(
                g,
                GenPos {
                    source: "s".into(),
                    path: "/l/app.log".into(),
                    dev: 1,
                    ino: g,
                    end: 10,
                    head: Sha256::of(b"h"),
                    tail: Sha256::of(b"t"),
                    cursor: None,
                },
            );
            r.finish(g, Timestamp::from_unix_nanos(g as i128));
        }
        // The store's own write-ahead logs are not rotated files: not kept.
        r.wal_prefix = Some("/store/wal/".into());
        let mut wal = r.finished.back().expect("kept").1.clone();
        wal.path = "/store/wal/fw/0000000000000001.wal".into();
        r.gens.insert(total + 1, wal);
        r.finish(total + 1, Timestamp::LATEST);
        assert!(r.gens.is_empty());
        // A generation finished twice (a gap after a close) is listed once.
        r.finish(total, Timestamp::LATEST);
        assert!(r.gens.is_empty());
        assert_eq!(r.finished.len(), FINISHED_KEPT);
        assert_eq!(r.finished.front().map(|f| f.0), Some(3));
        assert_eq!(r.finished.back().map(|f| f.0), Some(total));
        assert_eq!(r.finished_forgotten, Some(Timestamp::from_unix_nanos(2)));
    }
}
