//! The scenario harness for capture: a recording [`ChunkSink`] that stands in for the daemon's
//! pipeline and the store's replay, a small step language that drives a [`Tracker`] over files
//! in a temporary directory the way writers and logrotate do, and the check that every
//! generation was captured exactly once, byte for byte, with exactly the expected events.
//!
//! The recorder keeps what the daemon would: chunks read but not yet sealed (`pending`), and a
//! chain of sealed segments and event records. An event seals what was read before it, as the
//! pipeline's `record` does. After a stop or a crash the next tracker is built from that chain
//! as `Store::open`'s replay would: the generations still followed are resumed from their
//! [`GenPos`], the finished ones (closed, truncated, ended by a gap) go to [`Tracker::with_finished`].
//!
//! The model beside it knows what was written: every file name that a writer owns maps to a
//! stream of bytes. A rename moves the name's stream, a truncation or a creation starts a new
//! one, and copies and compressed files hold bytes of streams that already exist. At the end
//! every non-empty stream must be exactly one captured generation, and every captured
//! generation one stream.

#![allow(dead_code)]

use logkeep_capture::{ChunkSink, SourceSpec, Tracker, TrackerOptions};
use logkeep_format::segment::ChunkOrigin;
use logkeep_format::{Event, GenPos, HEAD_LEN, Sha256, TAIL_LEN, Timestamp};
use std::collections::{BTreeMap, HashMap};
use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::ffi::OsStringExt;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

/// One chunk as the tracker handed it over, owned.
#[derive(Debug, Clone)]
pub struct Chunk {
    /// Source id.
    pub source: String,
    /// Recorded path.
    pub path: String,
    /// st_dev.
    pub dev: u64,
    /// st_ino.
    pub ino: u64,
    /// Generation.
    pub gen_id: u64,
    /// Offset of the first byte.
    pub start: u64,
    /// The bytes.
    pub data: Vec<u8>,
    /// Head digest the tracker computed.
    pub head: Sha256,
    /// Tail digest the tracker computed.
    pub tail: Sha256,
}

impl Chunk {
    fn end(&self) -> u64 {
        self.start + self.data.len() as u64
    }
}

/// One entry of the recorded chain.
#[derive(Debug, Clone)]
pub enum Entry {
    /// A sealed segment: its chunks in the order they were read.
    Segment(Vec<Chunk>),
    /// An event record, with the time it was written.
    Event(Event, Timestamp),
}

/// The recording sink: the daemon's pipeline without the store.
#[derive(Debug, Default)]
pub struct Recorder {
    /// Read, not sealed.
    pub pending: Vec<Chunk>,
    /// What is durable, in chain order.
    pub chain: Vec<Entry>,
    /// Spans sealed since the tracker was last told: (dev, ino, gen, end).
    pub sealed: Vec<(u64, u64, u64, u64)>,
}

impl Recorder {
    /// Seal what is pending into one segment, as `Pipeline::seal` does.
    pub fn seal(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let chunks = std::mem::take(&mut self.pending);
        self.sealed
            .extend(chunks.iter().map(|c| (c.dev, c.ino, c.gen_id, c.end())));
        self.chain.push(Entry::Segment(chunks));
    }

    /// Every committed chunk, in chain order.
    pub fn chunks(&self) -> impl Iterator<Item = &Chunk> {
        self.chain.iter().flat_map(|e| match e {
            Entry::Segment(c) => c.as_slice(),
            Entry::Event(..) => &[],
        })
    }

    /// Every event, in chain order.
    pub fn events(&self) -> impl Iterator<Item = &Event> {
        self.chain.iter().filter_map(|e| match e {
            Entry::Event(ev, _) => Some(ev),
            Entry::Segment(_) => None,
        })
    }
}

impl ChunkSink for Recorder {
    fn chunk(&mut self, origin: &ChunkOrigin<'_>, data: &[u8]) -> io::Result<()> {
        self.pending.push(Chunk {
            source: origin.source.to_owned(),
            path: origin.path.to_owned(),
            dev: origin.dev,
            ino: origin.ino,
            gen_id: origin.gen_id,
            start: origin.start,
            data: data.to_vec(),
            head: origin.head,
            tail: origin.tail,
        });
        Ok(())
    }

    fn notice(&mut self, event: Event) -> io::Result<()> {
        // The pipeline seals before every event record, so the chunks read before an event
        // precede it in the chain.
        self.seal();
        self.chain.push(Entry::Event(event, Timestamp::now()));
        Ok(())
    }
}

/// What the store's replay of a chain gives a new tracker.
#[derive(Debug, Default)]
pub struct Replayed {
    /// Generations still followed: number and position.
    pub known: Vec<(u64, GenPos)>,
    /// Finished generations with the time of the record that finished each, oldest first.
    pub finished: Vec<((u64, GenPos), Timestamp)>,
    /// Highest generation number used.
    pub max_gen: u64,
}

/// Replay a recorded chain the way `Store::open` does (`Replay::apply`).
pub fn replay(chain: &[Entry]) -> Replayed {
    let mut gens: BTreeMap<u64, GenPos> = BTreeMap::new();
    let mut out = Replayed::default();
    let finish =
        |gens: &mut BTreeMap<u64, GenPos>, out: &mut Replayed, gen_id: u64, at: Timestamp| {
            if let Some(k) = gens.remove(&gen_id) {
                out.finished.push(((gen_id, k), at));
            }
        };
    for e in chain {
        match e {
            Entry::Segment(chunks) => {
                for c in chunks {
                    out.max_gen = out.max_gen.max(c.gen_id);
                    let k = gens.entry(c.gen_id).or_insert_with(|| GenPos {
                        source: c.source.clone(),
                        path: c.path.clone(),
                        dev: c.dev,
                        ino: c.ino,
                        end: 0,
                        head: c.head,
                        tail: c.tail,
                        cursor: None,
                    });
                    if c.end() >= k.end {
                        k.end = c.end();
                        k.head = c.head;
                        k.tail = c.tail;
                    }
                    k.path.clone_from(&c.path);
                }
            }
            Entry::Event(ev, at) => match ev {
                Event::Closed { gen_id, .. } => finish(&mut gens, &mut out, *gen_id, *at),
                Event::Tamper { gen_id, what, .. } => {
                    out.max_gen = out.max_gen.max(*gen_id);
                    if what != "deleted" {
                        finish(&mut gens, &mut out, *gen_id, *at);
                    }
                }
                Event::Gap { gen_id, .. } => {
                    out.max_gen = out.max_gen.max(*gen_id);
                    finish(&mut gens, &mut out, *gen_id, *at);
                }
                _ => {}
            },
        }
    }
    out.known = gens.into_iter().collect();
    out
}

/// A scenario in progress: files in a temporary directory, the tracker (absent while
/// stopped), the recorder and the model of what was written.
pub struct Driver {
    dir: tempfile::TempDir,
    sources: Vec<SourceSpec>,
    opts: TrackerOptions,
    tracker: Option<Tracker>,
    /// The recording sink.
    pub sink: Recorder,
    /// Patterns some earlier run watched (the chain's `config` records).
    watched_before: Vec<String>,
    /// Every stream of bytes a writer produced.
    streams: Vec<Vec<u8>>,
    /// File name → the stream its writer appends to.
    owners: HashMap<OsString, usize>,
    writes: u64,
    /// The steps done so far, for failure messages.
    pub done: Vec<String>,
}

/// Payload of a `write` step.
fn payload(spec: &str, tag: &str) -> Vec<u8> {
    let (kind, n) = match spec.split_once(':') {
        Some((k, n)) => (k, n),
        None => ("lines", spec),
    };
    let n: usize = n.parse().unwrap_or_else(|_| panic!("bad size in {spec}"));
    let mut v = Vec::with_capacity(n);
    match kind {
        // Lines that name the write, so that no two writes look alike.
        "lines" | "noeol" => {
            let mut i = 0u64;
            while v.len() < n {
                v.extend_from_slice(
                    format!("{tag} line {i:05} abcdefghijklmnopqrstuvwxyz\n").as_bytes(),
                );
                i += 1;
            }
            v.truncate(n);
            if let Some(last) = v.last_mut() {
                *last = if kind == "noeol" { b'x' } else { b'\n' };
            }
        }
        // The same bytes every time: headers that files share.
        "same" => {
            while v.len() < n {
                v.extend_from_slice(b"# the same header line in every file\n");
            }
            v.truncate(n);
        }
        // NUL bytes and every other byte value, invalid UTF-8 included, after a unique tag.
        "bin" => {
            v.extend_from_slice(tag.as_bytes());
            let mut i = 0u32;
            while v.len() < n {
                v.push((i.wrapping_mul(131) % 256) as u8);
                i += 1;
            }
            v.truncate(n);
        }
        // One line of n bytes.
        "long" => {
            v.extend_from_slice(tag.as_bytes());
            v.resize(n.saturating_sub(1).max(v.len()), b'L');
            v.push(b'\n');
        }
        _ => panic!("unknown payload kind {kind}"),
    }
    v
}

/// A file name of the step language: `\xNN` stands for a raw byte (names that are not UTF-8).
fn name_of(s: &str) -> OsString {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && b.get(i + 1) == Some(&b'x')
            && let Some(hex) = b.get(i + 2..i + 4)
            && let Some(v) = std::str::from_utf8(hex)
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 4;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    OsString::from_vec(out)
}

/// Held shared by every step that may create a file, alone by `reuse_inode` (see
/// [`Driver::step`]).
static FS: std::sync::RwLock<()> = std::sync::RwLock::new(());

impl Driver {
    /// A driver with one source per pattern (`app.log`, `*.log`, ...), relative to the
    /// scenario's directory.
    pub fn new(patterns: &[&str]) -> Driver {
        let dir = {
            let _fs = FS.read().unwrap_or_else(|e| e.into_inner());
            tempfile::tempdir().expect("temporary directory")
        };
        let sources = patterns
            .iter()
            .enumerate()
            .map(|(i, p)| SourceSpec {
                id: format!("s{i}"),
                patterns: vec![dir.path().join(p).to_string_lossy().into_owned()],
            })
            .collect();
        let opts = TrackerOptions {
            // Small chunks, so that long files take several and offsets matter.
            chunk_bytes: 4096,
            linger: Duration::ZERO,
            ..TrackerOptions::default()
        };
        Driver {
            dir,
            sources,
            opts,
            tracker: None,
            sink: Recorder::default(),
            watched_before: Vec::new(),
            streams: Vec::new(),
            owners: HashMap::new(),
            writes: 0,
            done: Vec::new(),
        }
    }

    /// The scenario's directory.
    pub fn dir_path(&self) -> &std::path::Path {
        self.dir.path()
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name_of(name))
    }

    /// Start a tracker from what the chain holds, as the daemon does at start.
    pub fn start(&mut self) {
        assert!(self.tracker.is_none(), "already running");
        let r = replay(&self.sink.chain);
        let opts = TrackerOptions {
            watched_before: self.watched_before.clone(),
            ..self.opts.clone()
        };
        let tracker = Tracker::new(self.sources.clone(), r.known, r.max_gen, opts)
            .with_finished(r.finished, None);
        self.tracker = Some(tracker);
        // The run's `config` record: later runs know these patterns were watched.
        for s in &self.sources {
            for p in &s.patterns {
                if !self.watched_before.contains(p) {
                    self.watched_before.push(p.clone());
                }
            }
        }
    }

    /// One poll; what it read stays pending until `commit`.
    pub fn poll(&mut self) {
        let t = self.tracker.as_mut().expect("poll while stopped");
        t.poll(&mut self.sink).expect("the recorder never fails");
        // Records written during the poll sealed segments: tell the tracker, as the daemon's
        // cycle does after `poll`.
        t.committed(std::mem::take(&mut self.sink.sealed));
    }

    /// Seal what is pending and tell the tracker.
    pub fn commit(&mut self) {
        self.sink.seal();
        if let Some(t) = self.tracker.as_mut() {
            t.committed(std::mem::take(&mut self.sink.sealed));
        }
    }

    /// A segment could not be written: drop it, and the tracker returns to what is committed.
    pub fn rewind(&mut self) {
        self.sink.pending.clear();
        self.tracker
            .as_mut()
            .expect("rewind while stopped")
            .rewind();
    }

    /// A clean stop: everything read is sealed first.
    pub fn stop(&mut self) {
        if let Some(t) = self.tracker.as_mut() {
            // What the daemon's stop does after its last poll.
            t.conclude(&mut self.sink).expect("conclude");
        }
        self.commit();
        self.tracker = None;
    }

    /// `kill -9`: what was read but not sealed is lost with the process.
    pub fn crash(&mut self) {
        self.sink.pending.clear();
        self.sink.sealed.clear();
        self.tracker = None;
    }

    /// Make every file written in the last two seconds look written two seconds earlier:
    /// what waits to settle (copies) is judged at the next poll without sleeping. Files keep
    /// their order (a file aged earlier was written before any file aged later), and a file is
    /// aged only once, since a changed modification time is itself a change the tracker sees.
    pub fn age(&mut self) {
        let now = SystemTime::now();
        let recent = now - Duration::from_secs(2);
        for e in std::fs::read_dir(self.dir.path()).expect("list").flatten() {
            let p = e.path();
            let Ok(m) = std::fs::symlink_metadata(&p) else {
                continue;
            };
            if !m.is_file() {
                continue;
            }
            if let Ok(t) = m.modified()
                && t > recent
                && t <= now
                && let Ok(f) = OpenOptions::new().write(true).open(&p)
            {
                f.set_modified(t - Duration::from_secs(2))
                    .expect("set mtime");
            }
        }
    }

    /// Poll and commit until nothing changes any more: what a daemon does over the next
    /// seconds, with the files aged instead of waited for.
    pub fn settle(&mut self) {
        if self.tracker.is_none() {
            return;
        }
        let mut quiet = 0;
        for _ in 0..20 {
            let before = (self.sink.chain.len(), self.sink.chunks().count());
            self.age();
            self.poll();
            self.commit();
            let after = (self.sink.chain.len(), self.sink.chunks().count());
            quiet = if before == after { quiet + 1 } else { 0 };
            if quiet >= 2 {
                return;
            }
        }
        panic!(
            "capture did not settle after 20 polls; steps: {}",
            self.done.join("; ")
        );
    }

    fn new_stream(&mut self) -> usize {
        self.streams.push(Vec::new());
        self.streams.len() - 1
    }

    /// Append to a file, creating it if needed (a writer with `O_APPEND`).
    pub fn write(&mut self, name: &str, spec: &str) {
        self.writes += 1;
        let data = payload(spec, &format!("[{name} w{}]", self.writes));
        // A write through a symbolic link goes to the file it names.
        let link = std::fs::read_link(self.path(name)).ok();
        let target = link.as_ref().and_then(|l| l.file_name());
        let key = target.map_or_else(|| name_of(name), |t| t.to_owned());
        let path = self.dir.path().join(&key);
        let exists = path.exists();
        let sid = match self.owners.get(&key) {
            Some(&s) if exists => s,
            _ => {
                assert!(!exists, "{name} is a copy; writing to it is not modelled");
                let s = self.new_stream();
                self.owners.insert(key, s);
                s
            }
        };
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .expect("open for append");
        f.write_all(&data).expect("write");
        self.streams[sid].extend_from_slice(&data);
    }

    /// Create an empty file (logrotate's `create`).
    pub fn create(&mut self, name: &str) {
        let path = self.path(name);
        assert!(!path.exists(), "create: {name} exists");
        File::create(&path).expect("create");
        let s = self.new_stream();
        self.owners.insert(name_of(name), s);
    }

    /// Rename, as logrotate shifts its numbered files; a file at `to` is replaced.
    pub fn rename(&mut self, from: &str, to: &str) {
        std::fs::rename(self.path(from), self.path(to)).expect("rename");
        let (f, t) = (name_of(from), name_of(to));
        self.owners.remove(&t);
        if let Some(s) = self.owners.remove(&f) {
            self.owners.insert(t, s);
        }
    }

    /// Copy the first `len` bytes (all of them if `None`) of `from` to `to`, a file written
    /// now, as logrotate's `copytruncate` makes its copy.
    pub fn copy(&mut self, from: &str, to: &str, len: Option<u64>) {
        let data = std::fs::read(self.path(from)).expect("read");
        let n = len.map_or(data.len(), |l| (l as usize).min(data.len()));
        std::fs::write(self.path(to), &data[..n]).expect("write copy");
        self.owners.remove(&name_of(to));
    }

    /// The rest of a half-written copy.
    pub fn copy_rest(&mut self, from: &str, to: &str) {
        let data = std::fs::read(self.path(from)).expect("read");
        let have = std::fs::metadata(self.path(to)).expect("copy").len() as usize;
        let mut f = OpenOptions::new()
            .append(true)
            .open(self.path(to))
            .expect("open copy");
        f.write_all(&data[have..]).expect("write");
    }

    /// Truncate to zero: the writer's next bytes start a new stream.
    pub fn truncate(&mut self, name: &str) {
        OpenOptions::new()
            .write(true)
            .open(self.path(name))
            .expect("open")
            .set_len(0)
            .expect("truncate");
        let s = self.new_stream();
        self.owners.insert(name_of(name), s);
    }

    /// Empty a file in place and refill it with as many different bytes (same inode, same
    /// size): a new stream that only the file's times and content tell from the old one.
    pub fn rewrite(&mut self, name: &str) {
        let len = std::fs::metadata(self.path(name))
            .expect("rewrite: file")
            .len();
        self.truncate(name);
        if len > 0 {
            self.write(name, &len.to_string());
        }
    }

    /// Remove a file.
    pub fn delete(&mut self, name: &str) {
        std::fs::remove_file(self.path(name)).expect("delete");
        self.owners.remove(&name_of(name));
    }

    /// Compress `name` to `name.gz` and remove `name`, as gzip does (keeping the time).
    pub fn gzip(&mut self, name: &str) {
        let path = self.path(name);
        let data = std::fs::read(&path).expect("read");
        let mtime = std::fs::metadata(&path)
            .and_then(|m| m.modified())
            .expect("mtime");
        let gz = self.path(&format!("{name}.gz"));
        let mut enc = flate2::write::GzEncoder::new(
            File::create(&gz).expect("create .gz"),
            flate2::Compression::default(),
        );
        enc.write_all(&data).expect("compress");
        let f = enc.finish().expect("finish .gz");
        f.set_modified(mtime).expect("keep the time");
        self.delete(name);
    }

    /// Half of a `.gz`: gzip is still writing it (no trailer yet).
    pub fn gzip_partial(&mut self, name: &str) {
        let data = std::fs::read(self.path(name)).expect("read");
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(&data).expect("compress");
        let bytes = enc.finish().expect("finish");
        std::fs::write(self.path(&format!("{name}.gz")), &bytes[..bytes.len() / 2]).expect("write");
    }

    /// Delete `old` and create `new` (deleting and creating it again as needed) until the new
    /// file gets the old one's inode; panics if that cannot be forced within a bounded number
    /// of attempts, so that a scenario never passes without the reuse it is about.
    pub fn reuse_inode(&mut self, old: &str, new: &str) {
        let ino = std::fs::metadata(self.path(old))
            .expect("reuse: old file")
            .ino();
        // Files that got another inode are kept aside until the freed one comes: deleted at
        // once, the next file would get the same (lower) free inode again and again.
        let aside = self.path(".reuse-aside");
        std::fs::create_dir_all(&aside).expect("mkdir aside");
        self.delete(old);
        let path = self.path(new);
        let mut found = false;
        for i in 0..1000 {
            File::create(&path).expect("create");
            if std::fs::metadata(&path).expect("stat").ino() == ino {
                found = true;
                break;
            }
            std::fs::rename(&path, aside.join(i.to_string())).expect("set aside");
        }
        std::fs::remove_dir_all(&aside).expect("remove aside");
        assert!(
            found,
            "the filesystem never gave inode {ino} of {old} to {new} in 1000 attempts: inode reuse could not be forced here"
        );
        let s = self.new_stream();
        self.owners.insert(name_of(new), s);
    }

    /// One logrotate run on `name` with numbered rotated files and no limit on their number:
    /// the rotated files shift up by one (`.1` to `.2`, `.2.gz` to `.3.gz`, ...), then `name`
    /// is rotated to `.1` in `mode`: `create` (rename, new empty file), `copytruncate`, and
    /// either with `+compress` (the new `.1` is compressed at once) or `+delaycompress` (the
    /// previous one, now `.2`, is).
    pub fn rotate(&mut self, name: &str, mode: &str) {
        let (how, compress) = mode.split_once('+').unwrap_or((mode, ""));
        if !self.path(name).exists() {
            // logrotate's `missingok`.
            return;
        }
        let mut n = 1;
        while self.path(&format!("{name}.{n}")).exists()
            || self.path(&format!("{name}.{n}.gz")).exists()
        {
            n += 1;
        }
        for i in (1..n).rev() {
            for ext in ["", ".gz"] {
                let from = format!("{name}.{i}{ext}");
                if self.path(&from).exists() {
                    self.rename(&from, &format!("{name}.{}{ext}", i + 1));
                }
            }
        }
        let first = format!("{name}.1");
        match how {
            "create" => {
                self.rename(name, &first);
                self.create(name);
            }
            "copytruncate" => {
                self.copy(name, &first, None);
                self.truncate(name);
            }
            _ => panic!("unknown rotation mode {mode}"),
        }
        match compress {
            "" => {}
            "compress" => self.gzip(&first),
            "delaycompress" => {
                let second = format!("{name}.2");
                if self.path(&second).exists() {
                    self.gzip(&second);
                }
            }
            _ => panic!("unknown rotation mode {mode}"),
        }
    }

    /// Run one step of the step language.
    pub fn step(&mut self, step: &str) {
        let words: Vec<&str> = step.split_whitespace().collect();
        // Scenarios run on parallel threads in one filesystem: a step that creates files holds
        // the lock shared, and forcing an inode's reuse holds it alone, so that no other
        // scenario's new file takes the inode just freed.
        let _fs = if words.first() == Some(&"reuse_inode") {
            Err(FS.write().unwrap_or_else(|e| e.into_inner()))
        } else {
            Ok(FS.read().unwrap_or_else(|e| e.into_inner()))
        };
        self.done.push(step.to_owned());
        match words.as_slice() {
            [] => {}
            ["write", name, spec] => self.write(name, spec),
            ["create", name] => self.create(name),
            ["rename", a, b] => self.rename(a, b),
            ["copy", a, b] => self.copy(a, b, None),
            ["copy", a, b, n] => self.copy(a, b, Some(n.parse().expect("length"))),
            ["copy_rest", a, b] => self.copy_rest(a, b),
            ["copytruncate", a, b] => {
                self.copy(a, b, None);
                self.truncate(a);
            }
            ["truncate", name] => self.truncate(name),
            ["rewrite", name] => self.rewrite(name),
            ["rotate", name, mode] => self.rotate(name, mode),
            ["delete", name] => self.delete(name),
            ["gzip", name] => self.gzip(name),
            ["gzip_partial", name] => self.gzip_partial(name),
            ["mkdir", name] => std::fs::create_dir(self.path(name)).expect("mkdir"),
            ["reuse_inode", old, new] => self.reuse_inode(old, new),
            ["poll"] => self.poll(),
            ["commit"] => self.commit(),
            ["pump"] => {
                self.poll();
                self.commit();
            }
            ["age"] => self.age(),
            ["rewind"] => self.rewind(),
            ["start"] => self.start(),
            ["stop"] => self.stop(),
            ["crash"] => self.crash(),
            ["restart"] => {
                self.stop();
                self.start();
            }
            ["settle"] => self.settle(),
            ["sleep", ms] => std::thread::sleep(Duration::from_millis(ms.parse().expect("ms"))),
            ["linger", ms] => {
                // Options are fixed when a tracker starts: this restarts it with the new one.
                self.opts.linger = Duration::from_millis(ms.parse().expect("ms"));
                self.stop();
                self.start();
            }
            ["max_open", n] => {
                self.opts.max_open = n.parse().expect("count");
                self.stop();
                self.start();
            }
            ["symlink", target, link] => {
                std::os::unix::fs::symlink(self.path(target), self.path(link)).expect("symlink")
            }
            ["future", name] => {
                // A clock that jumped: the file claims to be written an hour from now.
                let f = OpenOptions::new()
                    .write(true)
                    .open(self.path(name))
                    .expect("open");
                f.set_modified(SystemTime::now() + Duration::from_secs(3600))
                    .expect("set mtime");
            }
            _ => panic!("unknown step: {step}"),
        }
    }

    /// Run a scenario: `;`-separated steps, after a first `start`.
    pub fn run(patterns: &[&str], steps: &str) -> Driver {
        let mut d = Driver::new(patterns);
        d.start();
        for s in steps.split(';') {
            d.step(s.trim());
        }
        if d.tracker.is_none() {
            d.start();
        }
        d.done.push("settle (end)".into());
        d.settle();
        d
    }

    /// The streams written, non-empty ones only.
    pub fn written(&self) -> Vec<Vec<u8>> {
        self.streams
            .iter()
            .filter(|s| !s.is_empty())
            .cloned()
            .collect()
    }
}

/// A short name for an event: `kind:reason` (`closed:rotated`, `tamper:truncated`, `gap`).
pub fn event_name(e: &Event) -> String {
    match e {
        Event::Closed { reason, .. } => format!("closed:{reason}"),
        Event::Tamper { what, .. } => format!("tamper:{what}"),
        other => other.kind().to_owned(),
    }
}

/// Check a recorded chain against what was written: every generation is one contiguous run
/// of bytes from offset 0 whose digests the tracker computed right, every non-empty stream is
/// exactly one generation (a generation ended by a `gap` may hold a prefix of its stream: that
/// loss is recorded), and the events are exactly `expected` (order ignored).
pub fn verify(chain: &[Entry], written: &[Vec<u8>], expected: &str) -> Result<(), String> {
    check_chain(chain, written, Some(expected))
}

/// [`verify`], with the events left unchecked when `expected` is `None`.
pub fn check_chain(
    chain: &[Entry],
    written: &[Vec<u8>],
    expected: Option<&str>,
) -> Result<(), String> {
    let mut problems = Vec::new();
    let mut gens: BTreeMap<u64, Vec<&Chunk>> = BTreeMap::new();
    for e in chain {
        if let Entry::Segment(chunks) = e {
            for c in chunks {
                gens.entry(c.gen_id).or_default().push(c);
            }
        }
    }
    let mut gapped: HashMap<u64, u64> = HashMap::new();
    let mut events: Vec<String> = Vec::new();
    for e in chain {
        if let Entry::Event(ev, _) = e {
            events.push(event_name(ev));
            if let Event::Gap { gen_id, from, .. } = ev {
                gapped.insert(*gen_id, *from);
            }
        }
    }
    let mut captured: Vec<(u64, Vec<u8>)> = Vec::new();
    for (gen_id, mut chunks) in gens {
        chunks.sort_by_key(|c| c.start);
        let mut bytes: Vec<u8> = Vec::new();
        for c in chunks {
            let at = bytes.len() as u64;
            if c.start < at {
                problems.push(format!(
                    "gen {gen_id}: bytes [{}, {}) captured twice",
                    c.start,
                    c.end().min(at)
                ));
                continue;
            }
            if c.start > at {
                problems.push(format!(
                    "gen {gen_id}: bytes [{at}, {}) never captured",
                    c.start
                ));
                continue;
            }
            bytes.extend_from_slice(&c.data);
            let end = bytes.len() as u64;
            let head = &bytes[..end.min(HEAD_LEN) as usize];
            let tail = &bytes[(end - end.min(TAIL_LEN)) as usize..];
            if Sha256::of(head) != c.head || Sha256::of(tail) != c.tail {
                problems.push(format!(
                    "gen {gen_id}: wrong digests on the chunk at {}",
                    c.start
                ));
            }
        }
        captured.push((gen_id, bytes));
    }
    let mut left: Vec<&Vec<u8>> = written.iter().collect();
    for (gen_id, bytes) in &captured {
        let pos = left.iter().position(|s| *s == bytes).or_else(|| {
            let from = gapped.get(gen_id)?;
            left.iter()
                .position(|s| s.starts_with(bytes) && bytes.len() as u64 == *from)
        });
        match pos {
            Some(i) => {
                left.remove(i);
            }
            None => problems.push(format!(
                "gen {gen_id}: {} bytes captured that are no stream written ({:?}...)",
                bytes.len(),
                String::from_utf8_lossy(&bytes[..bytes.len().min(60)])
            )),
        }
    }
    for s in left {
        problems.push(format!(
            "a stream of {} bytes was not captured as one generation ({:?}...)",
            s.len(),
            String::from_utf8_lossy(&s[..s.len().min(60)])
        ));
    }
    if let Some(expected) = expected {
        let mut want: Vec<String> = expected.split_whitespace().map(str::to_owned).collect();
        want.sort();
        events.sort();
        if want != events {
            problems.push(format!("events: expected {want:?}, got {events:?}"));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n"))
    }
}

/// Run a scenario over one source watching `app.log` and check it.
pub fn check(steps: &str, expected: &str) {
    check_with(&["app.log"], steps, expected);
}

/// Run a scenario over sources with the given patterns (`app.log` if none) and check it.
pub fn check_with(patterns: &[&str], steps: &str, expected: &str) {
    let patterns = if patterns.is_empty() {
        &["app.log"][..]
    } else {
        patterns
    };
    let d = Driver::run(patterns, steps);
    if let Err(e) = verify(&d.sink.chain, &d.written(), expected) {
        panic!("scenario failed:\n  steps: {}\n{e}", d.done.join("; "));
    }
}
