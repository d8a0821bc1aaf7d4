//! File capture: which files a source names, which generation each one is, and which bytes of
//! it have not been captured yet.
//!
//! The [`Tracker`] is synchronous and owns one open descriptor per file generation it follows.
//! A poll re-resolves every pattern (the filesystem is the truth; change notifications only
//! make the next poll come sooner), then reads what each descriptor has beyond its position
//! with positioned reads in large chunks and hands every chunk to a [`ChunkSink`]. It never
//! looks at lines: bytes are bytes.
//!
//! A file is identified by `(st_dev, st_ino)`. A generation is one identity as logkeep followed
//! it from offset 0; a file that shrinks below what was read is a new generation (and an event,
//! since logs do not shrink by themselves). Positions here run ahead of what is durable: the
//! sink reports commits with [`Tracker::committed`], and [`Tracker::rewind`] returns every file
//! to its committed position when a segment could not be written.

use logkeep_format::segment::ChunkOrigin;
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
    /// Committed end.
    pub end: u64,
}

/// Something capture noticed that belongs in the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// A file shrank below what was captured, or vanished, outside a rotation.
    Tamper {
        /// Source id.
        source: String,
        /// Path.
        path: String,
        /// st_dev.
        dev: u64,
        /// st_ino.
        ino: u64,
        /// Generation that was being captured.
        gen_id: u64,
        /// Bytes captured (read) from it.
        captured: u64,
        /// Size now, `None` if gone.
        size_now: Option<u64>,
        /// `truncated` or `deleted`.
        what: String,
    },
    /// Bytes that could not be read.
    Gap {
        /// Source id.
        source: String,
        /// Path.
        path: String,
        /// st_dev.
        dev: u64,
        /// st_ino.
        ino: u64,
        /// Generation.
        gen_id: u64,
        /// First byte not captured.
        from: u64,
        /// Size last seen.
        size_seen: Option<u64>,
        /// Why.
        reason: String,
    },
}

/// Receives what a poll reads.
pub trait ChunkSink {
    /// A chunk of bytes of one generation at `origin.start`.
    fn chunk(&mut self, origin: &ChunkOrigin<'_>, data: &[u8]) -> io::Result<()>;
    /// Something for the chain. Chunks handed over before it precede it in the chain.
    fn notice(&mut self, notice: Notice) -> io::Result<()>;
}

struct Tracked {
    source: String,
    path: String,
    dev: u64,
    ino: u64,
    gen_id: u64,
    /// Next byte to read.
    pos: u64,
    /// Bytes durable in the chain.
    committed: u64,
    file: File,
    /// When a scan last found the file under a configured pattern.
    last_seen: Instant,
    /// Whether the file was found by the scan at least once (it may be followed before that
    /// only when resumed; used to tell a deletion from a rotation away).
    warned: bool,
}

/// Tuning for a [`Tracker`].
#[derive(Debug, Clone)]
pub struct TrackerOptions {
    /// Bytes read per chunk (and per segment member).
    pub chunk_bytes: usize,
    /// How long a file that no longer matches any pattern (renamed away or deleted) is still
    /// read through its open descriptor before it is closed, for writers that keep writing to
    /// it until they reopen.
    pub linger: Duration,
}

impl Default for TrackerOptions {
    fn default() -> Self {
        TrackerOptions {
            chunk_bytes: 1 << 20,
            linger: Duration::from_secs(10),
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

/// Follows every file of every source. See the crate documentation.
pub struct Tracker {
    sources: Vec<SourceSpec>,
    opts: TrackerOptions,
    files: HashMap<(u64, u64), Tracked>,
    known: HashMap<(u64, u64), Known>,
    next_gen: u64,
    buf: Vec<u8>,
    complained: HashSet<String>,
}

fn wall(t: SystemTime) -> String {
    humantime::format_rfc3339_nanos(t).to_string()
}

impl Tracker {
    /// A tracker for `sources`, resuming the generations the chain knows.
    pub fn new(
        sources: Vec<SourceSpec>,
        known: impl IntoIterator<Item = ((u64, u64), Known)>,
        max_gen: u64,
        opts: TrackerOptions,
    ) -> Tracker {
        let buf = vec![0u8; opts.chunk_bytes];
        Tracker {
            sources,
            opts,
            files: HashMap::new(),
            known: known.into_iter().collect(),
            next_gen: max_gen + 1,
            buf,
            complained: HashSet::new(),
        }
    }

    /// Mark positions durable: every generation in `spans` is committed up to its span's end.
    pub fn committed(&mut self, spans: impl IntoIterator<Item = (u64, u64, u64, u64)>) {
        // (dev, ino, gen_id, end)
        for (dev, ino, gen_id, end) in spans {
            if let Some(t) = self.files.get_mut(&(dev, ino))
                && t.gen_id == gen_id
            {
                t.committed = t.committed.max(end);
            }
        }
    }

    /// Forget everything read but not committed: the next poll reads it again.
    pub fn rewind(&mut self) {
        for t in self.files.values_mut() {
            t.pos = t.committed;
        }
    }

    /// Files currently followed: (source, path, gen, position, committed).
    pub fn positions(&self) -> Vec<(String, String, u64, u64, u64)> {
        let mut v: Vec<_> = self
            .files
            .values()
            .map(|t| {
                (
                    t.source.clone(),
                    t.path.clone(),
                    t.gen_id,
                    t.pos,
                    t.committed,
                )
            })
            .collect();
        v.sort();
        v
    }

    /// Resolve the patterns, then read everything new. Errors are from the sink; problems with
    /// single files are logged and do not stop the others.
    pub fn poll(&mut self, sink: &mut dyn ChunkSink) -> io::Result<PollStats> {
        let now = Instant::now();
        self.scan(now, sink)?;
        let mut stats = PollStats::default();
        let mut keys: Vec<(u64, u64)> = self.files.keys().copied().collect();
        keys.sort_by(|a, b| self.files[a].path.cmp(&self.files[b].path));
        for key in keys {
            stats.bytes += self.read_file(key, now, sink)?;
        }
        stats.files = self.files.len();
        Ok(stats)
    }

    fn scan(&mut self, now: Instant, sink: &mut dyn ChunkSink) -> io::Result<()> {
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
                    self.found(si, &path, now, &mut claimed, sink)?;
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
        now: Instant,
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
        if let Some(t) = self.files.get_mut(&key) {
            t.last_seen = now;
            if t.path != path_str {
                tracing::info!(from = %t.path, to = %path_str, gen_id = t.gen_id, "file renamed");
                t.path = path_str;
            }
            return Ok(());
        }
        let file = match File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => {
                self.complain(&path_str, format_args!("cannot open: {e}"));
                return Ok(());
            }
        };
        let fmeta = file.metadata()?;
        if (fmeta.dev(), fmeta.ino()) != key {
            return Ok(()); // replaced between stat and open; the next poll sees the new one
        }
        self.complained.remove(&path_str);
        let source = self.sources[si].id.clone();
        let (gen_id, pos) = match self.known.remove(&key) {
            Some(k) if fmeta.len() >= k.end => (k.gen_id, k.end),
            Some(k) => {
                sink.notice(Notice::Tamper {
                    source: k.source.clone(),
                    path: path_str.clone(),
                    dev: key.0,
                    ino: key.1,
                    gen_id: k.gen_id,
                    captured: k.end,
                    size_now: Some(fmeta.len()),
                    what: "truncated".into(),
                })?;
                tracing::warn!(path = %path_str, captured = k.end, size = fmeta.len(), "file shrank below what was captured while logkeep was stopped");
                (self.new_gen(), 0)
            }
            None => (self.new_gen(), 0),
        };
        tracing::debug!(path = %path_str, gen_id, pos, "following");
        self.files.insert(
            key,
            Tracked {
                source,
                path: path_str,
                dev: key.0,
                ino: key.1,
                gen_id,
                pos,
                committed: pos,
                file,
                last_seen: now,
                warned: false,
            },
        );
        Ok(())
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
        let Some(t) = self.files.get_mut(&key) else {
            return Ok(0);
        };
        let meta = match t.file.metadata() {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(path = %t.path, "cannot stat open file: {e}");
                return Ok(0);
            }
        };
        if meta.len() < t.pos {
            let notice = Notice::Tamper {
                source: t.source.clone(),
                path: t.path.clone(),
                dev: t.dev,
                ino: t.ino,
                gen_id: t.gen_id,
                captured: t.pos,
                size_now: Some(meta.len()),
                what: "truncated".into(),
            };
            tracing::warn!(path = %t.path, captured = t.pos, size = meta.len(), "file shrank below what was captured");
            t.gen_id = self.next_gen;
            self.next_gen += 1;
            t.pos = 0;
            t.committed = 0;
            sink.notice(notice)?;
        }
        let Some(t) = self.files.get_mut(&key) else {
            return Ok(0);
        };
        let mut total = 0u64;
        loop {
            let n = match t.file.read_at(&mut self.buf, t.pos) {
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
            let now_wall = SystemTime::now();
            let read_at = wall(now_wall);
            let origin = ChunkOrigin {
                source: &t.source,
                path: &t.path,
                dev: t.dev,
                ino: t.ino,
                gen_id: t.gen_id,
                start: t.pos,
                read_at: &read_at,
                read_unix: now_wall
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .map(|d| d.as_secs())
                    .unwrap_or(0),
            };
            sink.chunk(&origin, &self.buf[..n])?;
            t.pos += n as u64;
            total += n as u64;
        }
        let gone = now.duration_since(t.last_seen) > Duration::ZERO;
        if gone {
            // No pattern matched the file in this poll: rotated away or deleted.
            if meta.nlink() == 0 && !t.warned {
                t.warned = true;
                let notice = Notice::Tamper {
                    source: t.source.clone(),
                    path: t.path.clone(),
                    dev: t.dev,
                    ino: t.ino,
                    gen_id: t.gen_id,
                    captured: t.pos,
                    size_now: None,
                    what: "deleted".into(),
                };
                tracing::warn!(path = %t.path, "file deleted");
                sink.notice(notice)?;
            }
            let t = &self.files[&key];
            if now.duration_since(t.last_seen) >= self.opts.linger && t.pos == t.committed {
                tracing::debug!(path = %t.path, gen_id = t.gen_id, "closing file no longer matched");
                self.files.remove(&key);
            }
        }
        Ok(total)
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
