//! Files rewritten in place (`rewritten = true`): OpenVPN's status file, `lastlog`, EVTX files
//! copied again from Windows. Such a file is not a log that grows; each distinct content it
//! takes is captured whole, as a generation of its own (a **version**), followed by a `version`
//! record with its SHA-256 and modification time. A rewrite is not tampering; a file that
//! disappears is (`tamper` `deleted`).
//!
//! Every poll stats each file a pattern matches (one poll per `scan_interval`, so at most one
//! version per file and interval). When its size, times or identity changed, it is read: whole
//! into memory when it fits in one chunk, otherwise once to hash it and, only when that content
//! was not captured before, once more to capture it (the version is the bytes of the second
//! read, with their own hash). Contents already captured in this run (by SHA-256) are not
//! captured again; after a restart each file's content is captured once more unless its size,
//! head and tail match the newest version the chain holds of it. A file deleted while logkeep
//! runs is `tamper`; one found gone at a restart is only logged, since the chain may already
//! hold the `tamper` record of its deletion.

use crate::names;
use crate::{ChunkSink, SourceSpec};
use logkeep_format::record::{HEAD_LEN, TAIL_LEN};
use logkeep_format::segment::ChunkOrigin;
use logkeep_format::{Event, GenPos, Sha256, Timestamp};
use std::collections::{HashMap, HashSet};
use std::fs;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::time::SystemTime;

/// What is known of one watched file.
struct Watched {
    source: usize,
    dev: u64,
    ino: u64,
    /// Size, modification and change times at the latest look.
    stat: (u64, i128, i128),
    /// Contents captured in this run.
    hashes: HashSet<Sha256>,
    /// The newest version: generation and size (0, 0: none).
    last: (u64, u64),
    /// The newest version the chain held at start: size, head and tail digests.
    chain: Option<(u64, Sha256, Sha256)>,
    /// Whether the content must be looked at (new, or changed since the latest look).
    dirty: bool,
    /// Consecutive polls that saw the file change (see [`SETTLE_POLLS`]).
    unsettled: u32,
}

/// A changed file is read once a poll finds it as the previous one did (a writer that
/// truncates and writes again is not caught between the two), or, if it never stops changing,
/// at this many polls in a row.
const SETTLE_POLLS: u32 = 5;

/// Captures the versions of the files of every `rewritten` source.
pub struct Versions {
    sources: Vec<SourceSpec>,
    files: HashMap<String, Watched>,
    chunk_bytes: usize,
    buf: Vec<u8>,
    complained: HashSet<String>,
}

impl Versions {
    /// A watcher for `sources`, knowing the newest version the chain holds of each file
    /// (`known`: their positions; a file among them that is gone is reported as deleted).
    pub fn new(
        sources: Vec<SourceSpec>,
        known: Vec<(u64, GenPos)>,
        chunk_bytes: usize,
    ) -> Versions {
        let mut files: HashMap<String, Watched> = HashMap::new();
        for (gen_id, g) in known {
            let Some(si) = sources.iter().position(|s| s.id == g.source) else {
                continue;
            };
            let newer = files.get(&g.path).is_none_or(|w| w.last.0 < gen_id);
            if newer {
                files.insert(
                    g.path.clone(),
                    Watched {
                        source: si,
                        dev: g.dev,
                        ino: g.ino,
                        stat: (u64::MAX, 0, 0),
                        hashes: HashSet::new(),
                        last: (gen_id, g.end),
                        chain: Some((g.end, g.head, g.tail)),
                        dirty: true,
                        unsettled: 0,
                    },
                );
            }
        }
        Versions {
            sources,
            files,
            chunk_bytes: chunk_bytes.max(HEAD_LEN as usize),
            buf: Vec::new(),
            complained: HashSet::new(),
        }
    }

    /// Take a reloaded configuration's `rewritten` sources; files no longer watched are
    /// forgotten.
    pub fn reconfigure(&mut self, sources: Vec<SourceSpec>) {
        let old = std::mem::replace(&mut self.sources, sources);
        self.files.retain(|_, w| {
            let Some(spec) = old.get(w.source) else {
                return false;
            };
            match self.sources.iter().position(|s| s.id == spec.id) {
                Some(i) => {
                    w.source = i;
                    true
                }
                None => false,
            }
        });
    }

    /// Look at every file; capture each changed one whose content is new as a version.
    /// Returns the bytes captured.
    pub fn poll(
        &mut self,
        sink: &mut dyn ChunkSink,
        new_gen: &mut dyn FnMut() -> u64,
    ) -> io::Result<u64> {
        let mut seen: HashSet<String> = HashSet::new();
        let mut bytes = 0;
        for si in 0..self.sources.len() {
            for pattern in self.sources[si].patterns.clone() {
                let x = match names::expand(&pattern) {
                    Ok(x) => x,
                    Err(e) => {
                        self.complain(pattern.clone(), format_args!("bad pattern {pattern}: {e}"));
                        continue;
                    }
                };
                for p in x.paths {
                    let Ok(md) = fs::metadata(&p) else { continue };
                    if !md.is_file() {
                        continue;
                    }
                    let name = names::record_name(&p);
                    if !seen.insert(name.clone()) {
                        continue;
                    }
                    let stat = (
                        md.len(),
                        i128::from(md.mtime()) * 1_000_000_000 + i128::from(md.mtime_nsec()),
                        i128::from(md.ctime()) * 1_000_000_000 + i128::from(md.ctime_nsec()),
                    );
                    // A new file is read once two polls found it alike, as a changed one.
                    let w = self.files.entry(name.clone()).or_insert_with(|| Watched {
                        source: si,
                        dev: md.dev(),
                        ino: md.ino(),
                        stat: (u64::MAX, 0, 0),
                        hashes: HashSet::new(),
                        last: (0, 0),
                        chain: None,
                        dirty: true,
                        unsettled: 0,
                    });
                    if w.stat != stat || (w.dev, w.ino) != (md.dev(), md.ino()) {
                        w.stat = stat;
                        w.dev = md.dev();
                        w.ino = md.ino();
                        w.dirty = true;
                        w.unsettled += 1;
                    } else {
                        w.unsettled = 0;
                    }
                    if w.dirty && (w.unsettled == 0 || w.unsettled >= SETTLE_POLLS) {
                        w.unsettled = 0;
                        let looked = self.look(&name, &p, sink, new_gen);
                        let looked = match looked {
                            Ok(r) => r,
                            Err(e) => {
                                // Not stored: looked at again at the next poll.
                                if let Some(w) = self.files.get_mut(&name) {
                                    w.dirty = true;
                                }
                                return Err(e);
                            }
                        };
                        match looked {
                            Ok(n) => bytes += n,
                            Err(e) => self.complain(
                                name.clone(),
                                format_args!(
                                    "cannot read {name}: {e}; tried again at the next scan"
                                ),
                            ),
                        }
                    }
                }
            }
        }
        // A file whose version the chain holds and that no pattern finds now is gone.
        let gone: Vec<String> = self
            .files
            .keys()
            .filter(|k| !seen.contains(*k))
            .cloned()
            .collect();
        for name in gone {
            let Some(w) = self.files.remove(&name) else {
                continue;
            };
            if w.last.0 == 0 {
                continue;
            }
            if w.chain.is_some() {
                // Known only from the chain and gone since: a `tamper` may already say so
                // (the chain does not tell), so it is not said again.
                tracing::info!(path = %name, "a file rewritten in place that the chain holds versions of is gone");
                continue;
            }
            sink.notice(Event::Tamper {
                source: self.sources[w.source].id.clone(),
                path: name,
                dev: w.dev,
                ino: w.ino,
                gen_id: w.last.0,
                captured: w.last.1,
                size_now: None,
                what: "deleted".into(),
            })?;
        }
        Ok(bytes)
    }

    /// Read the file `name` at `p` and capture its content if it is new. The outer error is
    /// the sink's (it stops the poll), the inner one the file's (tried again later).
    fn look(
        &mut self,
        name: &str,
        p: &std::path::Path,
        sink: &mut dyn ChunkSink,
        new_gen: &mut dyn FnMut() -> u64,
    ) -> io::Result<io::Result<u64>> {
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        let first = first_read(p, self.chunk_bytes, &mut buf);
        let (mut f, md, digest) = match first {
            Ok(x) => x,
            Err(e) => {
                self.buf = buf;
                return Ok(Err(e));
            }
        };
        let small = md.len() <= self.chunk_bytes as u64 && buf.len() <= self.chunk_bytes;
        let Some(w) = self.files.get_mut(name) else {
            self.buf = buf;
            return Ok(Ok(0));
        };
        w.dirty = false;
        let known = w.hashes.contains(&digest)
            || w.chain.is_some_and(|(end, head, tail)| {
                small && end == buf.len() as u64 && head == head_of(&buf) && tail == tail_of(&buf)
            });
        w.chain = None;
        if known {
            self.buf = buf;
            return Ok(Ok(0));
        }
        let gen_id = new_gen();
        let source = self.sources[w.source].id.clone();
        let (dev, ino) = (md.dev(), md.ino());
        let modified = md
            .modified()
            .map(|t| Timestamp::from(t).to_rfc3339())
            .unwrap_or_default();
        let now = SystemTime::now();
        let read_at = Timestamp::now().to_rfc3339();
        let read_unix = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let mut origin = ChunkOrigin {
            source: &source,
            path: name,
            dev,
            ino,
            gen_id,
            start: 0,
            head: Sha256::ZERO,
            tail: Sha256::ZERO,
            read_at: &read_at,
            read_unix,
            cursor: None,
        };
        let (end, sha256) = if small {
            origin.head = head_of(&buf);
            origin.tail = tail_of(&buf);
            sink.chunk(&origin, &buf)?;
            (buf.len() as u64, digest)
        } else {
            // The second read: what is captured, hashed again as it goes.
            if let Err(e) = f.seek(SeekFrom::Start(0)) {
                self.buf = buf;
                return Ok(Err(e));
            }
            let mut whole = logkeep_format::hash::HashWriter::new(io::sink());
            let mut head = Vec::new();
            let mut tail: Vec<u8> = Vec::new();
            let mut pos = 0u64;
            buf.resize(self.chunk_bytes, 0);
            loop {
                let n = match f.read(&mut buf) {
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        // Part of this version is captured, the rest cannot be read: a loss.
                        sink.notice(Event::Gap {
                            source: source.clone(),
                            path: name.to_owned(),
                            dev,
                            ino,
                            gen_id,
                            from: pos,
                            size_seen: Some(md.len()),
                            reason: format!("the version could not be read to its end: {e}"),
                        })?;
                        self.buf = buf;
                        return Ok(Err(e));
                    }
                };
                if n == 0 {
                    break;
                }
                let chunk = &buf[..n];
                io::Write::write_all(&mut whole, chunk)?;
                if head.len() < HEAD_LEN as usize {
                    let take = (HEAD_LEN as usize - head.len()).min(n);
                    head.extend_from_slice(&chunk[..take]);
                }
                tail.extend_from_slice(&chunk[n.saturating_sub(TAIL_LEN as usize)..]);
                let excess = tail.len().saturating_sub(TAIL_LEN as usize);
                tail.drain(..excess);
                origin.start = pos;
                origin.head = Sha256::of(&head);
                origin.tail = Sha256::of(&tail);
                sink.chunk(&origin, chunk)?;
                pos += n as u64;
            }
            (pos, whole.finish().1)
        };
        self.buf = buf;
        if let Some(w) = self.files.get_mut(name) {
            w.hashes.insert(digest);
            w.hashes.insert(sha256);
            w.last = (gen_id, end);
        }
        sink.notice(Event::Version {
            source,
            path: name.to_owned(),
            dev,
            ino,
            gen_id,
            size: end,
            sha256,
            modified,
        })?;
        Ok(Ok(end))
    }

    fn complain(&mut self, key: String, what: std::fmt::Arguments<'_>) {
        if self.complained.insert(key) {
            tracing::warn!("{what}");
        }
    }
}

/// Open `p` and hash its content; a file that fits in `chunk` bytes is read into `buf`.
fn first_read(
    p: &std::path::Path,
    chunk: usize,
    buf: &mut Vec<u8>,
) -> io::Result<(fs::File, fs::Metadata, Sha256)> {
    let mut f = fs::File::open(p)?;
    let md = f.metadata()?;
    if md.len() <= chunk as u64 {
        f.by_ref().take(chunk as u64 + 1).read_to_end(buf)?;
        if buf.len() <= chunk {
            let d = Sha256::of(buf);
            return Ok((f, md, d));
        }
        buf.clear();
        f.seek(SeekFrom::Start(0))?;
    }
    let mut h = logkeep_format::hash::HashWriter::new(io::sink());
    io::copy(&mut f, &mut h)?;
    let d = h.finish().1;
    Ok((f, md, d))
}

fn head_of(b: &[u8]) -> Sha256 {
    Sha256::of(&b[..b.len().min(HEAD_LEN as usize)])
}

fn tail_of(b: &[u8]) -> Sha256 {
    Sha256::of(&b[b.len().saturating_sub(TAIL_LEN as usize)..])
}
