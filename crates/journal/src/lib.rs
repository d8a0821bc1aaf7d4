//! Journal capture: the systemd journal's entries, losslessly, exactly once.
//!
//! A journal source names a directory of journal files (the system journal by default) and
//! optional matches. Each journal file is a generation of its own, found by its identity
//! (`st_dev`, `st_ino`) under whatever name journald gives it: its bytes are the file's
//! entries in the journal export format as `journalctl --file FILE -o export` writes them
//! (binary fields intact, every field, `__CURSOR` included), so that the captured bytes are an
//! export stream `systemd-journal-remote` imports. Reading is by `journalctl` rather than by a
//! library over sd-journal: the journal's file format changes with systemd versions
//! (compression, compact mode, keyed hashes) and `journalctl` on the host is the reader that
//! always matches the files journald writes there, while the export format is stable and
//! documented; it also keeps C out of the daemon.
//!
//! The position is the cursor: every chunk ends at an entry boundary and carries the cursor of
//! its last entry, which the chain records in the same `segment` record as the bytes. After a
//! restart each file is read after the cursor the chain last committed for it, in a new
//! generation (so that every generation's digests cover bytes logkeep read itself).
//!
//! What journald does itself is not tampering: it archives an active file by renaming it
//! (`system.journal` → `system@….journal`), which changes nothing here, and it removes archived
//! files (vacuuming). An archived file read to its end is closed (`closed`, reason `archived`);
//! one removed before that is a `gap` naming the cursor after which entries were lost. An active
//! file that disappears, a file that shrinks, or a file that no longer holds the entry at the
//! committed cursor is `tamper`. Each generation begins with a `journal_file` record holding
//! the file's id and journald's own sealing (FSS) state from its header.

mod export;
mod files;

/// What the fuzz targets (`fuzz/`) call: not an interface.
#[doc(hidden)]
pub mod fuzzing {
    /// Read the next entry of a journal export stream as the journal source does (the
    /// crate's `export::next_entry`).
    pub fn next_entry(
        r: &mut impl std::io::BufRead,
        buf: &mut Vec<u8>,
    ) -> std::io::Result<Option<String>> {
        crate::export::next_entry(r, buf)
    }
}

use logkeep_capture::ChunkSink;
use logkeep_format::record::{HEAD_LEN, TAIL_LEN};
use logkeep_format::segment::ChunkOrigin;
use logkeep_format::{Event, GenPos, Sha256, Timestamp};
use std::collections::{HashSet, VecDeque};
use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

pub use files::SYSTEM_DIRS;

/// A configured journal source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalSpec {
    /// Source id.
    pub id: String,
    /// A directory of journal files; `None`: the system journal ([`SYSTEM_DIRS`]).
    pub directory: Option<PathBuf>,
    /// `journalctl` matches (`_SYSTEMD_UNIT=ssh.service`, `+` for a disjunction).
    pub matches: Vec<String>,
}

impl JournalSpec {
    /// The directories the source reads.
    pub fn directories(&self) -> Vec<PathBuf> {
        match &self.directory {
            Some(d) => vec![d.clone()],
            None => SYSTEM_DIRS.iter().map(PathBuf::from).collect(),
        }
    }
}

/// One generation: what was read of one journal file since it was (re)opened.
struct Gen {
    gen_id: u64,
    /// Bytes handed to the sink.
    pos: u64,
    /// Bytes committed.
    committed: u64,
    /// The first `HEAD_LEN` bytes, and the last `TAIL_LEN` bytes before `pos`.
    head: Vec<u8>,
    tail: Vec<u8>,
    /// Chunk ends not yet committed, with the cursor each ends at.
    pending: VecDeque<(u64, String)>,
}

/// One journal file followed.
struct Followed {
    source: usize,
    id: (u64, u64),
    path: String,
    /// Size and times when last read; `None`: read at the next poll.
    seen: Option<(u64, (i128, i128))>,
    /// The cursor reading continues after (`None`: from the first entry).
    cursor: Option<String>,
    /// The cursor of the last entry committed.
    committed_cursor: Option<String>,
    current: Option<Gen>,
    /// The generation and committed end the chain knows for this file (for records about it
    /// before a new generation begins).
    chain: (u64, u64),
    /// Whether the committed cursor must be found in the file before reading on (after a
    /// restart).
    check: bool,
    /// Read to its end as an archived file and closed, or reported: nothing more to read.
    done: bool,
}

impl Followed {
    fn gen_end(&self) -> (u64, u64) {
        match &self.current {
            Some(g) => (g.gen_id, g.pos),
            None => self.chain,
        }
    }
}

/// Follows the journal files of every journal source. Synchronous, like file capture: the
/// daemon's engine calls [`Journal::poll`] with the same sink.
pub struct Journal {
    specs: Vec<JournalSpec>,
    journalctl: PathBuf,
    chunk_bytes: usize,
    files: Vec<Followed>,
    /// The generations the chain was following (first poll only).
    resume: Option<Vec<(u64, GenPos)>>,
    /// The generations the chain closed: files read to their end.
    finished: Vec<GenPos>,
    complained: HashSet<String>,
    buf: Vec<u8>,
}

impl Journal {
    /// A reader for `specs`, resuming the journal generations the chain was following
    /// (`open`, each with its cursor) and knowing those it closed (`closed`).
    pub fn new(
        specs: Vec<JournalSpec>,
        open: Vec<(u64, GenPos)>,
        closed: Vec<GenPos>,
        chunk_bytes: usize,
    ) -> Journal {
        let journalctl = std::env::var_os("LOGKEEP_JOURNALCTL")
            .map_or_else(|| PathBuf::from("journalctl"), PathBuf::from);
        Journal {
            specs,
            journalctl,
            chunk_bytes: chunk_bytes.max(1),
            files: Vec::new(),
            resume: Some(open),
            finished: closed,
            complained: HashSet::new(),
            buf: Vec::new(),
        }
    }

    /// Whether any journal source is configured.
    pub fn is_empty(&self) -> bool {
        self.specs.is_empty()
    }

    /// Journal files followed now, as `(source id, path, bytes read, bytes committed)`.
    pub fn files(&self) -> Vec<(String, String, u64, u64)> {
        self.files
            .iter()
            .filter(|f| !f.done)
            .map(|f| {
                let (pos, committed) = f.current.as_ref().map_or((0, 0), |g| (g.pos, g.committed));
                (
                    self.specs[f.source].id.clone(),
                    f.path.clone(),
                    pos,
                    committed,
                )
            })
            .collect()
    }

    /// Take a reloaded configuration's journal sources: files of sources no longer configured
    /// are forgotten (what was committed stays in the chain).
    pub fn reconfigure(&mut self, specs: Vec<JournalSpec>) {
        let ids: Vec<Option<usize>> = self
            .specs
            .iter()
            .map(|old| specs.iter().position(|s| s == old))
            .collect();
        self.files.retain_mut(|f| match ids[f.source] {
            Some(i) => {
                f.source = i;
                true
            }
            None => false,
        });
        self.specs = specs;
    }

    /// Mark positions durable: `(dev, ino, gen_id, end)` for every committed span (spans of
    /// files are ignored).
    pub fn committed(&mut self, spans: &[(u64, u64, u64, u64)]) {
        for &(_, _, gen_id, end) in spans {
            for f in &mut self.files {
                let Some(g) = f.current.as_mut().filter(|g| g.gen_id == gen_id) else {
                    continue;
                };
                while let Some((e, _)) = g.pending.front() {
                    if *e > end {
                        break;
                    }
                    if let Some((e, c)) = g.pending.pop_front() {
                        g.committed = e;
                        f.committed_cursor = Some(c);
                    }
                }
            }
        }
    }

    /// Forget everything read but not committed: the next poll reads it again, after the
    /// committed cursor, as a new generation.
    pub fn rewind(&mut self) {
        for f in &mut self.files {
            if let Some(g) = &f.current
                && g.pos != g.committed
            {
                f.chain = (g.gen_id, g.committed);
                f.current = None;
                f.cursor.clone_from(&f.committed_cursor);
                f.seen = None;
                f.done = false;
            }
        }
    }

    /// List every source's files, report what left or shrank, and read every file that
    /// changed since it was last read. `new_gen` hands out generation numbers (shared with file
    /// capture, so that they stay unique in the store). Returns the bytes read.
    pub fn poll(
        &mut self,
        sink: &mut dyn ChunkSink,
        new_gen: &mut dyn FnMut() -> u64,
    ) -> io::Result<u64> {
        let mut bytes = 0;
        for si in 0..self.specs.len() {
            let mut listed = Vec::new();
            for dir in self.specs[si].directories() {
                match files::list(&dir) {
                    Ok(mut l) => listed.append(&mut l),
                    Err(e) => self.complain(
                        format!("list {}", dir.display()),
                        format_args!("cannot list journal directory {}: {e}", dir.display()),
                    ),
                }
            }
            if self.resume.is_some() {
                self.resume_source(si, &listed, sink)?;
            }
            self.reconcile(si, &listed, sink)?;
            for l in &listed {
                let Some(fi) = self
                    .files
                    .iter()
                    .position(|f| f.source == si && f.id == l.id)
                else {
                    continue;
                };
                let f = &self.files[fi];
                if f.done || f.seen == Some((l.size, l.times)) {
                    continue;
                }
                bytes += self.read(fi, l, sink, new_gen)?;
            }
        }
        self.resume = None;
        Ok(bytes)
    }

    /// First poll: find the files of the generations the chain was following, by identity,
    /// and those it had closed. A followed file that is gone was removed while logkeep was
    /// stopped: the entries after its committed cursor, if any, are lost (`gap`).
    fn resume_source(
        &mut self,
        si: usize,
        listed: &[files::Listed],
        sink: &mut dyn ChunkSink,
    ) -> io::Result<()> {
        let id = self.specs[si].id.clone();
        let mut open: Vec<(u64, GenPos)> = self
            .resume
            .as_mut()
            .map(|r| {
                let (mine, rest) = std::mem::take(r)
                    .into_iter()
                    .partition(|(_, g)| g.source == id);
                *r = rest;
                mine
            })
            .unwrap_or_default();
        // The newest generation of a file is where it stands (older ones were continued).
        open.sort_by_key(|(gen_id, _)| std::cmp::Reverse(*gen_id));
        for (gen_id, g) in open {
            if self
                .files
                .iter()
                .any(|f| f.source == si && f.id == (g.dev, g.ino))
            {
                continue;
            }
            // An archived name is never given again: a file there under another name is
            // another file with a reused inode.
            let found = listed.iter().find(|l| {
                l.id == (g.dev, g.ino) && (!files::is_archived(&g.path) || l.path == g.path)
            });
            match found {
                Some(l) => self.files.push(Followed {
                    source: si,
                    id: l.id,
                    path: l.path.clone(),
                    seen: None,
                    cursor: g.cursor.clone(),
                    committed_cursor: g.cursor.clone(),
                    current: None,
                    chain: (gen_id, g.end),
                    check: g.cursor.is_some(),
                    done: false,
                }),
                None => {
                    let reason = format!(
                        "journal file removed while logkeep was stopped; entries after cursor {} in it, if any, were not captured",
                        g.cursor.as_deref().unwrap_or("(none)")
                    );
                    sink.notice(Event::Gap {
                        source: id.clone(),
                        path: g.path.clone(),
                        dev: g.dev,
                        ino: g.ino,
                        gen_id,
                        from: g.end,
                        size_seen: None,
                        reason,
                    })?;
                }
            }
        }
        for g in &self.finished {
            if g.source != id {
                continue;
            }
            if let Some(l) = listed
                .iter()
                .find(|l| l.id == (g.dev, g.ino) && l.path == g.path)
                && !self.files.iter().any(|f| f.source == si && f.id == l.id)
            {
                self.files.push(Followed {
                    source: si,
                    id: l.id,
                    path: l.path.clone(),
                    seen: Some((l.size, l.times)),
                    cursor: g.cursor.clone(),
                    committed_cursor: g.cursor.clone(),
                    current: None,
                    chain: (0, g.end),
                    check: false,
                    done: true,
                });
            }
        }
        Ok(())
    }

    /// Compare the followed files of source `si` with a listing: follow new files, note new
    /// names, report files gone or shrunk.
    fn reconcile(
        &mut self,
        si: usize,
        listed: &[files::Listed],
        sink: &mut dyn ChunkSink,
    ) -> io::Result<()> {
        let source = self.specs[si].id.clone();
        let mut i = 0;
        while i < self.files.len() {
            let f = &mut self.files[i];
            if f.source != si {
                i += 1;
                continue;
            }
            let Some(l) = listed.iter().find(|l| l.id == f.id) else {
                let f = self.files.remove(i);
                if f.done {
                    continue;
                }
                let (gen_id, end) = f.gen_end();
                let cursor = f.cursor.as_deref().unwrap_or("(none)");
                let event = if files::is_archived(&f.path) {
                    Event::Gap {
                        source: source.clone(),
                        path: f.path,
                        dev: f.id.0,
                        ino: f.id.1,
                        gen_id,
                        from: end,
                        size_seen: None,
                        reason: format!(
                            "archived journal file removed (vacuumed) before it was read to its end; entries after cursor {cursor} in it were not captured"
                        ),
                    }
                } else {
                    tracing::warn!(path = %f.path, "an active journal file disappeared without being archived (last entry captured: {cursor})");
                    sink.notice(Event::Tamper {
                        source: source.clone(),
                        path: f.path.clone(),
                        dev: f.id.0,
                        ino: f.id.1,
                        gen_id,
                        captured: end,
                        size_now: None,
                        what: "deleted".into(),
                    })?;
                    // Everything read from it is committed with the tamper record: it ends here.
                    Event::Closed {
                        source: source.clone(),
                        path: f.path,
                        dev: f.id.0,
                        ino: f.id.1,
                        gen_id,
                        end,
                        reason: "deleted".into(),
                    }
                };
                if gen_id != 0 || matches!(event, Event::Gap { .. }) {
                    sink.notice(event)?;
                }
                continue;
            };
            if f.path != l.path {
                tracing::debug!(from = %f.path, to = %l.path, "journal file renamed");
                f.path.clone_from(&l.path);
            }
            if !f.done
                && let Some((size, _)) = f.seen
                && l.size < size
            {
                f.done = true;
                let (gen_id, end) = f.gen_end();
                let event = Event::Tamper {
                    source: source.clone(),
                    path: f.path.clone(),
                    dev: f.id.0,
                    ino: f.id.1,
                    gen_id,
                    captured: end,
                    size_now: Some(l.size),
                    what: "truncated".into(),
                };
                tracing::warn!(path = %f.path, "the journal file shrank from {size} to {} bytes", l.size);
                sink.notice(event)?;
            }
            i += 1;
        }
        for l in listed {
            if self.files.iter().any(|f| f.source == si && f.id == l.id) {
                continue;
            }
            if let Err(e) = files::header(&l.path) {
                self.complain(l.path.clone(), format_args!("not captured: {e}"));
                continue;
            }
            self.complained.remove(&l.path);
            self.files.push(Followed {
                source: si,
                id: l.id,
                path: l.path.clone(),
                seen: None,
                cursor: None,
                committed_cursor: None,
                current: None,
                chain: (0, 0),
                check: false,
                done: false,
            });
        }
        Ok(())
    }

    /// Read file `fi` after its cursor; `l` is how it was listed before the read.
    fn read(
        &mut self,
        fi: usize,
        l: &files::Listed,
        sink: &mut dyn ChunkSink,
        new_gen: &mut dyn FnMut() -> u64,
    ) -> io::Result<u64> {
        let source = self.specs[self.files[fi].source].id.clone();
        let matches = self.specs[self.files[fi].source].matches.clone();
        if self.files[fi].check {
            self.check_cursor(fi, &source, sink)?;
        }
        let f = &self.files[fi];
        let mut ex = match export::Export::start(
            &self.journalctl,
            &f.path,
            f.cursor.as_deref(),
            None,
            &matches,
        ) {
            Ok(ex) => ex,
            Err(e) => {
                self.complain("journalctl".into(), format_args!("{e}"));
                return Ok(0);
            }
        };
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        let mut last: Option<String> = None;
        let mut bytes = 0;
        let result = loop {
            match export::next_entry(&mut ex.out, &mut buf) {
                Ok(Some(c)) => {
                    last = Some(c);
                    if buf.len() >= self.chunk_bytes
                        && let Some(c) = last.take()
                    {
                        bytes += buf.len() as u64;
                        if let Err(e) = self.emit(fi, &source, &buf, c, sink, new_gen) {
                            ex.stop();
                            self.buf = buf;
                            return Err(e);
                        }
                        buf.clear();
                    }
                }
                Ok(None) => break ex.finish(),
                Err(e) => {
                    ex.stop();
                    break Err(e);
                }
            }
        };
        if let Some(c) = last.take() {
            bytes += buf.len() as u64;
            if let Err(e) = self.emit(fi, &source, &buf, c, sink, new_gen) {
                self.buf = buf;
                return Err(e);
            }
        }
        buf.clear();
        self.buf = buf;
        let f = &mut self.files[fi];
        match result {
            Ok(()) => {
                f.seen = Some((l.size, l.times));
                self.complained.remove(&f.path);
                if files::is_archived(&f.path)
                    && let Some(g) = &f.current
                {
                    // journald never writes to an archived file again: this one is done.
                    f.done = true;
                    sink.notice(Event::Closed {
                        source,
                        path: f.path.clone(),
                        dev: f.id.0,
                        ino: f.id.1,
                        gen_id: g.gen_id,
                        end: g.pos,
                        reason: "archived".into(),
                    })?;
                }
            }
            Err(e) => {
                let path = f.path.clone();
                self.complain(
                    path.clone(),
                    format_args!("journal file {path}: {e}; read again at the next poll"),
                );
            }
        }
        Ok(bytes)
    }

    /// After a restart: the entry at the committed cursor must still be in the file, or the
    /// file was rewritten (or its inode reused): `tamper`. Reading goes on after the cursor.
    fn check_cursor(
        &mut self,
        fi: usize,
        source: &str,
        sink: &mut dyn ChunkSink,
    ) -> io::Result<()> {
        let f = &mut self.files[fi];
        f.check = false;
        let Some(cursor) = f.cursor.clone() else {
            return Ok(());
        };
        let mut ex =
            match export::Export::start(&self.journalctl, &f.path, None, Some(&cursor), &[]) {
                Ok(ex) => ex,
                Err(e) => {
                    f.check = true;
                    let e = e.to_string();
                    self.complain("journalctl".into(), format_args!("{e}"));
                    return Ok(());
                }
            };
        let mut buf = Vec::new();
        let first = export::next_entry(&mut ex.out, &mut buf);
        ex.stop();
        match first {
            Ok(Some(c)) if c == cursor => Ok(()),
            Ok(found) => {
                let (gen_id, end) = f.gen_end();
                tracing::warn!(
                    path = %f.path,
                    "the entry at the committed cursor {cursor} is no longer in the journal file (first entry there now: {})",
                    found.as_deref().unwrap_or("none")
                );
                sink.notice(Event::Tamper {
                    source: source.to_owned(),
                    path: f.path.clone(),
                    dev: f.id.0,
                    ino: f.id.1,
                    gen_id,
                    captured: end,
                    size_now: None,
                    what: "rewritten".into(),
                })
            }
            Err(e) => {
                f.check = true;
                let path = f.path.clone();
                self.complain(path.clone(), format_args!("journal file {path}: {e}"));
                Ok(())
            }
        }
    }

    /// Hand one chunk of whole entries, ending with the entry at `cursor`, to the sink.
    fn emit(
        &mut self,
        fi: usize,
        source: &str,
        data: &[u8],
        cursor: String,
        sink: &mut dyn ChunkSink,
        new_gen: &mut dyn FnMut() -> u64,
    ) -> io::Result<()> {
        let f = &mut self.files[fi];
        if f.current.is_none() {
            if f.chain.0 != 0 {
                // The file is read on as a new generation: the chain's one ends where it was
                // committed.
                sink.notice(Event::Closed {
                    source: source.to_owned(),
                    path: f.path.clone(),
                    dev: f.id.0,
                    ino: f.id.1,
                    gen_id: f.chain.0,
                    end: f.chain.1,
                    reason: "continued".into(),
                })?;
                f.chain = (0, 0);
            }
            let gen_id = new_gen();
            f.current = Some(Gen {
                gen_id,
                pos: 0,
                committed: 0,
                head: Vec::new(),
                tail: Vec::new(),
                pending: VecDeque::new(),
            });
            let h = files::header(&f.path);
            let (file_id, sealed, state) = match h {
                Ok(h) => (h.file_id, h.sealed, h.state),
                Err(e) => (String::new(), false, format!("unreadable header: {e}")),
            };
            if sealed {
                tracing::info!(path = %f.path, "journal file sealed by journald (FSS)");
            }
            sink.notice(Event::JournalFile {
                source: source.to_owned(),
                path: f.path.clone(),
                dev: f.id.0,
                ino: f.id.1,
                gen_id,
                file_id,
                sealed,
                state,
                after_cursor: f.cursor.clone(),
            })?;
        }
        let Some(g) = f.current.as_mut() else {
            return Ok(());
        };
        let head_len = HEAD_LEN as usize;
        if g.head.len() < head_len {
            let take = (head_len - g.head.len()).min(data.len());
            g.head.extend_from_slice(&data[..take]);
        }
        let tail_len = TAIL_LEN as usize;
        if data.len() >= tail_len {
            g.tail.clear();
            g.tail.extend_from_slice(&data[data.len() - tail_len..]);
        } else {
            g.tail.extend_from_slice(data);
            let excess = g.tail.len().saturating_sub(tail_len);
            g.tail.drain(..excess);
        }
        let now = SystemTime::now();
        let read_at = Timestamp::now().to_rfc3339();
        let origin = ChunkOrigin {
            source,
            path: &f.path,
            dev: f.id.0,
            ino: f.id.1,
            gen_id: g.gen_id,
            start: g.pos,
            head: Sha256::of(&g.head),
            tail: Sha256::of(&g.tail),
            read_at: &read_at,
            read_unix: now
                .duration_since(SystemTime::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
            cursor: Some(&cursor),
        };
        sink.chunk(&origin, data)?;
        g.pos += data.len() as u64;
        g.pending.push_back((g.pos, cursor.clone()));
        f.cursor = Some(cursor);
        Ok(())
    }

    /// Log a lasting problem once (until it goes away).
    fn complain(&mut self, key: String, what: std::fmt::Arguments<'_>) {
        if self.complained.insert(key) {
            tracing::warn!("{what}");
        }
    }
}

/// The journal files of `dir` (and of its subdirectories one level down), sorted: what a
/// journal source reading `dir` finds there now.
pub fn journal_files(dir: &Path) -> io::Result<Vec<String>> {
    Ok(files::list(dir)?.into_iter().map(|l| l.path).collect())
}

/// Whether `path` is where a journal source's generation lives: under one of its directories.
pub fn under(spec: &JournalSpec, path: &str) -> bool {
    spec.directories()
        .iter()
        .any(|d| Path::new(path).starts_with(d))
}
