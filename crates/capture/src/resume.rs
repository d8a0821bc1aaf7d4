//! Resuming after a restart: what only the chain remembers. The generations it was following
//! ([`Known`]) are found again by identity and both digests, or finished from a rotated
//! copy, or reported; the generations it had finished tell which rotated siblings present at
//! start were captured; and for siblings older than what the chain still lists, the time rule
//! ([`Horizon`]) decides.

use crate::copies::{self, Fingerprint};
use crate::events::{Closing, Damage, GenRef};
use crate::follow::{Opened, read_copy, refingerprint};
use crate::identity::{FileId, Stamp, split};
use crate::names;
use crate::siblings::{Family, Why};
use crate::{ChunkSink, Tracker};
use logkeep_format::{GenPos, HEAD_LEN, Sha256, Timestamp};
use std::collections::{HashMap, HashSet};
use std::ffi::OsString;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

/// Where a generation stood in the chain when the daemon started: its number and position.
#[derive(Debug, Clone)]
pub(crate) struct Known {
    pub(crate) gen_id: u64,
    pub(crate) pos: GenPos,
}

impl From<(u64, GenPos)> for Known {
    fn from((gen_id, pos): (u64, GenPos)) -> Known {
        Known { gen_id, pos }
    }
}

impl Known {
    /// The identity of the file the generation was read from.
    pub(crate) fn id(&self) -> FileId {
        FileId {
            dev: self.pos.dev,
            ino: self.pos.ino,
        }
    }

    /// The generation as the chain names it, at the path the chain last recorded.
    pub(crate) fn generation(&self) -> GenRef<'_> {
        GenRef {
            source: &self.pos.source,
            path: &self.pos.path,
            id: self.id(),
            gen_id: self.gen_id,
        }
    }
}

/// The earliest time there is: a window ending there holds nothing.
pub(crate) const NEVER: Timestamp = Timestamp::from_unix_nanos(i128::MIN);

/// Which rotated siblings of a watched file are captured, by their modification time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Horizon {
    /// Not decided yet (until the first poll has found the generations the chain knows).
    Unset,
    /// Every sibling whose content is new.
    All,
    /// Siblings last written during this run, and those last written before it in
    /// `(after, until]`; the others are taken as captured by an earlier run.
    Window { after: Timestamp, until: Timestamp },
}

impl Horizon {
    /// Whether a rotated sibling present at start and last modified at `mtime` (one the
    /// finished generations do not cover, see [`Finished::covers`]) is captured.
    pub(crate) fn captures(self, mtime: Timestamp) -> bool {
        match self {
            Horizon::Window { after, until } => after < mtime && mtime <= until,
            Horizon::Unset | Horizon::All => true,
        }
    }
}

/// What only the first poll of a run needs: the generations the chain was following when the
/// run started, and what that poll learns about where they went. [`Tracker::poll`] drops it
/// once the first poll has found, finished or reported every one of them and fixed the
/// horizon of every watched name, so later polls cannot consult stale restart state.
pub(crate) struct Resume {
    /// Generations the chain says were being followed, not yet found again; the newest one
    /// for each identity, since an inode number may have served several generations.
    pub(crate) known: HashMap<FileId, Known>,
    /// Every generation the chain was following at start: `(gen_id, recorded path)`.
    pub(crate) start_known: Vec<(u64, String)>,
    /// Where generations of `start_known` were found (the file or the copy holding them).
    pub(crate) anchors: HashMap<u64, PathBuf>,
    /// Files holding the inode of a generation of `start_known`, under another name, with
    /// other content: made after that generation's file was deleted.
    pub(crate) witnesses: HashMap<u64, PathBuf>,
    /// Generations of `start_known` whose inode is still at the path they were read at, with
    /// other content, and whose rest a copy holds (`copytruncate` while logkeep was stopped).
    pub(crate) displaced: HashSet<u64>,
}

impl Resume {
    /// The restart state for the generations the chain was following.
    pub(crate) fn new(known: Vec<Known>) -> Resume {
        let start_known = known
            .iter()
            .map(|k| (k.gen_id, k.pos.path.clone()))
            .collect();
        // Several generations may have had one (dev, ino) over time; the newest one counts.
        let mut by_id: HashMap<FileId, Known> = HashMap::new();
        for k in known {
            match by_id.get(&k.id()) {
                Some(old) if old.gen_id > k.gen_id => {}
                _ => {
                    by_id.insert(k.id(), k);
                }
            }
        }
        Resume {
            known: by_id,
            start_known,
            anchors: HashMap::new(),
            witnesses: HashMap::new(),
            displaced: HashSet::new(),
        }
    }
}

/// The generations the chain had finished when this run started (the newest of them, as the
/// store's replay keeps them), by directory, oldest first, each with the time of the record
/// that finished it; and the time before which the chain may have finished others it no
/// longer lists. Unlike [`Resume`] this lives for the whole run: a rotated sibling present at
/// start may be judged only on a later poll (it was still being written, or gzip had not
/// finished it).
#[derive(Default)]
pub(crate) struct Finished {
    by_dir: HashMap<PathBuf, Vec<(OsString, Known, Timestamp)>>,
    forgotten: Option<Timestamp>,
}

/// Where a generation the chain was following resumes in a file found again: its number, the
/// fingerprint rebuilt at its committed end, and the source and path the chain recorded.
pub(crate) struct Resumed {
    pub(crate) gen_id: u64,
    pub(crate) fp: Fingerprint,
    pub(crate) source: String,
    pub(crate) chain_path: String,
}

impl Finished {
    /// The finished generations `list` (each with the time it was finished), the chain having
    /// forgotten those finished before `forgotten` (`None`: it lists every one).
    pub(crate) fn new(list: Vec<(Known, Timestamp)>, forgotten: Option<Timestamp>) -> Finished {
        let mut by_dir: HashMap<PathBuf, Vec<(OsString, Known, Timestamp)>> = HashMap::new();
        for (k, at) in list {
            if let Some((dir, base)) = split(&names::real_path(&k.pos.path)) {
                by_dir.entry(dir).or_default().push((base, k, at));
            }
        }
        Finished { by_dir, forgotten }
    }

    /// Whether a rotated file last modified at `mtime` is judged by content against the
    /// generations listed here: every one is when the chain lists all it finished; otherwise
    /// only one modified after the oldest it still lists. Older ones fall to the time rule
    /// ([`Horizon`]).
    pub(crate) fn covers(&self, mtime: Timestamp) -> bool {
        self.forgotten.is_none_or(|t| mtime > t)
    }

    /// The generation the chain finished that the file at `path` (a `.gz` decompressed, `len`
    /// bytes, last modified at `mtime`) holds: one of the same family whose head and tail
    /// digests match at its end, or, for a file shorter than that end, whose head digest
    /// matches and that was last written before the generation was finished (a copytruncate
    /// copy that missed what was written between its copy and its truncation; a later file
    /// that merely begins the same way is not one).
    pub(crate) fn holder(&self, path: &Path, len: u64, mtime: Timestamp) -> Option<u64> {
        let (dir, name) = split(path)?;
        let gz = copies::is_gz(path);
        let head = copies::read_prefix(path, HEAD_LEN as usize).ok()?;
        for (base, k, at) in self.by_dir.get(&dir)?.iter().rev() {
            if k.pos.end == 0 || !names::related(base, &name) {
                continue;
            }
            let hl = k.pos.end.min(HEAD_LEN) as usize;
            if head.len() < hl || Sha256::of(&head[..hl]) != k.pos.head {
                continue;
            }
            if len < k.pos.end {
                if mtime <= *at {
                    return Some(k.gen_id);
                }
                continue;
            }
            // Decompressing to each candidate's end is costly: a `.gz` longer than the
            // generation was not made from it.
            if gz && len != k.pos.end {
                continue;
            }
            if let Ok(Some(w)) = copies::window(path, k.pos.end, HEAD_LEN as usize)
                && Sha256::of(&w.tail) == k.pos.tail
            {
                return Some(k.gen_id);
            }
        }
        None
    }
}

impl Tracker {
    /// Whether the chain was following the file `id` and the first poll has not found it yet.
    pub(crate) fn resuming(&self, id: FileId) -> bool {
        self.resume
            .as_ref()
            .is_some_and(|r| r.known.contains_key(&id))
    }

    /// If the chain was following the generation in the file just opened (`len` bytes long),
    /// where it resumes; `None` for a file the chain does not know, and for one whose
    /// content no longer matches both digests at the committed end, whose generation is then
    /// finished from a rotated copy or reported.
    pub(crate) fn resume_generation(
        &mut self,
        opened: &Opened,
        len: u64,
        sink: &mut dyn ChunkSink,
    ) -> io::Result<Option<Resumed>> {
        let key = opened.id;
        let Some(k) = self.resume.as_mut().and_then(|r| r.known.remove(&key)) else {
            return Ok(None);
        };
        match refingerprint(&opened.file, k.pos.end, &k.pos.head, Some(&k.pos.tail))? {
            Some(fp) if len >= k.pos.end => {
                if let Some(r) = &mut self.resume {
                    r.anchors.insert(k.gen_id, opened.real.clone());
                }
                Ok(Some(Resumed {
                    gen_id: k.gen_id,
                    fp,
                    source: k.pos.source,
                    chain_path: k.pos.path,
                }))
            }
            _ => {
                // Shrunk or different content while logkeep was stopped. At the path it was
                // read at, that is a truncation or a rewrite unless a rotated copy holds the
                // rest. Under another name, the inode went to a file made after the
                // generation's own was deleted.
                let own = names::real_path(&k.pos.path) == opened.real;
                if let Some(r) = &mut self.resume {
                    r.known.insert(key, k.clone());
                    if !own && !copies::is_gz(&opened.real) {
                        r.witnesses.insert(k.gen_id, opened.real.clone());
                    }
                }
                self.finish_known_elsewhere(&k, own.then_some(opened.path.as_str()), sink)?;
                if let Some(r) = &mut self.resume {
                    if own && r.anchors.contains_key(&k.gen_id) {
                        r.displaced.insert(k.gen_id);
                    }
                    r.known.remove(&key);
                }
                Ok(None)
            }
        }
    }

    /// The horizon of a family watched from the first poll of a run: the time rule for the
    /// rotated siblings present at start that are older than every finished generation the
    /// chain still lists (younger ones are judged by content, see [`Finished::holder`]).
    ///
    /// If the chain held no generation at all, or no pattern an earlier run watched matches
    /// the watched name, every one is captured. Otherwise the anchor is the file that now
    /// holds the newest generation the chain was following at the watched name (found by
    /// identity, or a copy or `.gz` found by its digests), and a sibling is captured if it was
    /// modified after the anchor and not after the file now at the watched name was made — a
    /// file renamed away from that name before the present one was created (a copy or `.gz`
    /// made later may hold a generation that ended before this run: a `copytruncate` closes
    /// one at once). When that generation's inode is still at the watched name with other
    /// content and its rest is in a copy made after that inode (a `copytruncate` while
    /// logkeep was stopped), every sibling modified after that copy is captured. When the
    /// generation is gone but another file took its inode under a rotated name (made after it
    /// was deleted), siblings from that file on are. With no anchor, nothing that old is
    /// captured, and the `gap` record for a generation that is gone names the rotated files
    /// left uncaptured ([`Tracker::unvouched_siblings`]).
    pub(crate) fn first_horizon(&self, f: &Family) -> Horizon {
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
            until: NEVER,
        };
        let Some(resume) = &self.resume else {
            return none;
        };
        let name = names::record_name(&live);
        let newest = resume
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
            .map(Timestamp::from);
        if let Some(p) = resume.anchors.get(&g)
            && let Ok(m) = std::fs::metadata(p)
        {
            let after = Timestamp::modified(&m);
            if resume.displaced.contains(&g) && born.is_some_and(|b| b < after) {
                // Its inode is still at the watched name, made before the copy that holds its
                // rest: copies newer than that one are of generations after it.
                return Horizon::Window {
                    after,
                    until: Timestamp::LATEST,
                };
            }
            return Horizon::Window {
                after,
                until: born.unwrap_or(NEVER),
            };
        }
        if let Some(w) = resume.witnesses.get(&g)
            && let Ok(m) = std::fs::metadata(w)
        {
            return Horizon::Window {
                after: Timestamp::modified(&m).plus_nanos(-1),
                until: born.unwrap_or(NEVER),
            };
        }
        none
    }

    /// After the first scan: generations the chain was following that no pattern matched any
    /// more. They were rotated (or deleted) while logkeep was stopped; find them and finish them.
    pub(crate) fn resume_missing(&mut self, sink: &mut dyn ChunkSink) -> io::Result<()> {
        let Some(resume) = &self.resume else {
            return Ok(());
        };
        let mut missing: Vec<Known> = resume.known.values().cloned().collect();
        missing.sort_by_key(|k| k.gen_id);
        for k in missing {
            let key = k.id();
            let real = names::real_path(&k.pos.path);
            let si = self.sources.iter().position(|s| s.id == k.pos.source);
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
                if let Ok(Some(_)) = refingerprint(&f, k.pos.end, &k.pos.head, Some(&k.pos.tail)) {
                    let n = names::record_name(&p);
                    tracing::info!(from = %k.pos.path, to = %n, gen_id = k.gen_id, "found a generation rotated while logkeep was stopped");
                    let opened = Opened {
                        file: f,
                        path: n,
                        real: p,
                        id: key,
                    };
                    self.follow(si, opened, false, sink)?;
                    if self.files.contains_key(&key) {
                        continue;
                    }
                } else if p != real && !copies::is_gz(&p) {
                    // A plain file took the inode: a later live file, rotated. (A `.gz` may be
                    // the compressed copy of anything, this generation included.)
                    if let Some(r) = &mut self.resume {
                        r.witnesses.insert(k.gen_id, p);
                    }
                }
            }
            if self.resuming(key) {
                self.finish_known_elsewhere(&k, None, sink)?;
                if let Some(r) = &mut self.resume {
                    r.known.remove(&key);
                }
            }
        }
        Ok(())
    }

    /// A known generation's file is gone or is no longer the same content: read what is
    /// missing from a rotated copy if there is one, else record the gap.
    pub(crate) fn finish_known_elsewhere(
        &mut self,
        k: &Known,
        replaced_at: Option<&str>,
        sink: &mut dyn ChunkSink,
    ) -> io::Result<()> {
        let key = k.id();
        let real = names::real_path(&k.pos.path);
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
        let hl = k.pos.end.min(HEAD_LEN) as usize;
        for (p, m) in at_path.into_iter().chain(copies::siblings(&real)) {
            // Its own inode does not hold it any more (that is why this runs), unless another
            // file took the number: a `.gz` is never the plain file itself.
            if FileId::of(&m) == key && !copies::is_gz(&p) {
                continue;
            }
            let Ok(head) = copies::read_prefix(&p, hl) else {
                continue;
            };
            if head.len() != hl || Sha256::of(&head) != k.pos.head {
                continue;
            }
            match copies::window(&p, k.pos.end, HEAD_LEN as usize) {
                Ok(Some(fp)) if Sha256::of(&fp.tail) == k.pos.tail => {
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
                    pos: k.pos.end,
                };
                (p, m, fp)
            })
        });
        if let Some((copy, m, mut fp)) = found {
            let (copy, m) = (&copy, &m);
            let path = names::record_name(copy);
            let generation = GenRef {
                source: &k.pos.source,
                path: &path,
                id: key,
                gen_id: k.gen_id,
            };
            let failed = read_copy(&mut self.buf, sink, generation, &mut fp, copy)?;
            let read = fp.pos - k.pos.end;
            if let Some(r) = &mut self.resume {
                r.anchors.insert(k.gen_id, copy.clone());
            }
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
                self.remember(dir, base, FileId::of(m), k.gen_id, fp);
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
                    source: &k.pos.source,
                    path: p,
                    id: key,
                    gen_id: k.gen_id,
                };
                let size_now = std::fs::metadata(names::real_path(p)).ok().map(|m| m.len());
                // As when it is seen live: shorter than what was captured is a truncation, as
                // long or longer with other bytes a rewrite (emptied and refilled).
                let what = match size_now {
                    Some(n) if n >= k.pos.end => Damage::Rewritten,
                    _ => Damage::Truncated,
                };
                sink.notice(at.tamper(k.pos.end, size_now, what))
            }
            None => {
                let witnessed = self
                    .resume
                    .as_ref()
                    .is_some_and(|r| r.witnesses.contains_key(&k.gen_id));
                let reason = if witnessed {
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
                tracing::warn!(path = %k.pos.path, gen_id = k.gen_id, "file gone while logkeep was stopped and no rotated copy found");
                sink.notice(k.generation().gap(k.pos.end, None, reason))
            }
        }
    }

    /// Names of the rotated siblings of `path` that hold no generation this run follows or
    /// is about to resume.
    pub(crate) fn unvouched_siblings(&self, path: &Path) -> Vec<String> {
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
                    let judged = self.finished.covers(Timestamp::modified(&m));
                    m.is_file() && !judged && !self.files.contains_key(&key) && !self.resuming(key)
                })
            })
            .map(|e| names::record_name(Path::new(&e.file_name())))
            .collect();
        v.sort();
        v.truncate(8);
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Recorder;
    use crate::{SourceSpec, TrackerOptions};
    use std::os::unix::fs::MetadataExt;

    /// A generation of `logs/app.log` the chain finished, which held `bytes` in the inode
    /// `(dev, ino)`.
    fn finished_gen(logs: &Path, bytes: &[u8], dev: u64, ino: u64) -> Known {
        let end = bytes.len() as u64;
        Known {
            gen_id: 7,
            pos: GenPos {
                source: "app".into(),
                path: names::record_name(&logs.join("app.log")),
                dev,
                ino,
                end,
                head: Sha256::of(&bytes[..end.min(HEAD_LEN) as usize]),
                tail: Sha256::of(&bytes[bytes.len().saturating_sub(copies::TAIL_LEN)..]),
                cursor: None,
            },
        }
    }

    /// The names of the files the first poll captures from `logs/app.log` and its rotated
    /// siblings, on a store whose chain watched that name before and had finished `finished`,
    /// forgetting those finished before `forgotten`.
    fn first_poll(
        logs: &Path,
        finished: Vec<(Known, Timestamp)>,
        forgotten: Option<Timestamp>,
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
        let finished = finished
            .into_iter()
            .map(|(k, at)| ((k.gen_id, k.pos), at))
            .collect();
        let mut t = Tracker::new(sources, Vec::new(), 7, opts).with_finished(finished, forgotten);
        let mut sink = Recorder::default();
        t.poll(&mut sink).expect("poll");
        let mut names = sink.names();
        names.sort();
        names
    }

    /// A store that has captured before: `app.log.1` holds a generation the chain finished,
    /// `app.log.2` one it never saw, `app.log` a live file it does not know. Returns the names
    /// captured by the first poll of a tracker told that the chain forgot the generations it
    /// finished before `forgotten`.
    fn first_poll_with_finished(forgotten: Option<Timestamp>) -> Vec<String> {
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
        let finished = vec![(
            finished_gen(&logs, &bytes, m.dev(), m.ino()),
            Timestamp::now(),
        )];
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
        let finished = vec![(g, Timestamp::modified(&m).plus_nanos(finished_after))];
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
        // none is captured again (the time rule, `Horizon`).
        assert_eq!(
            first_poll_with_finished(Some(Timestamp::LATEST)),
            ["app.log"]
        );
    }

    #[test]
    fn the_time_rule_captures_only_inside_its_window() {
        let at = Timestamp::from_unix_nanos;
        let w = Horizon::Window {
            after: at(10),
            until: at(20),
        };
        assert!(!w.captures(at(10)));
        assert!(w.captures(at(11)));
        assert!(w.captures(at(20)));
        assert!(!w.captures(at(21)));
        // No window: only what this run itself saw being written is new.
        let none = Horizon::Window {
            after: at(5),
            until: NEVER,
        };
        assert!(!none.captures(at(6)));
        assert!(Horizon::All.captures(NEVER));
    }

    #[test]
    fn finished_generations_cover_only_what_the_chain_still_lists() {
        let every = Finished::new(Vec::new(), None);
        assert!(every.covers(NEVER));
        let at = Timestamp::from_unix_nanos;
        let recent = Finished::new(Vec::new(), Some(at(100)));
        assert!(!recent.covers(at(100)));
        assert!(recent.covers(at(101)));
    }

    #[test]
    fn a_file_holds_a_finished_generation_by_both_digests_at_its_end() {
        let dir = tempfile::tempdir().expect("tmp");
        let logs = dir.path();
        let bytes = b"finished generation\n".repeat(100);
        let one = logs.join("app.log.1");
        std::fs::write(&one, &bytes).expect("write");
        let mut other = bytes.clone();
        other[1500] ^= 1;
        let two = logs.join("app.log.2");
        std::fs::write(&two, &other).expect("write");
        let f = Finished::new(
            vec![(finished_gen(logs, &bytes, 1, 2), Timestamp::EPOCH)],
            None,
        );
        let len = bytes.len() as u64;
        assert_eq!(f.holder(&one, len, Timestamp::LATEST), Some(7));
        // The same head, another tail: a rewrite, not the generation.
        assert_eq!(f.holder(&two, len, Timestamp::LATEST), None);
        // An unrelated name in the same directory is never compared.
        let three = logs.join("other.log.1");
        std::fs::write(&three, &bytes).expect("write");
        assert_eq!(f.holder(&three, len, Timestamp::LATEST), None);
    }

    #[test]
    fn resume_keeps_the_newest_generation_of_an_inode() {
        let dir = tempfile::tempdir().expect("tmp");
        let mut old = finished_gen(dir.path(), b"old", 1, 2);
        old.gen_id = 3;
        let mut new = finished_gen(dir.path(), b"new", 1, 2);
        new.gen_id = 9;
        let r = Resume::new(vec![new, old]);
        assert_eq!(r.known.len(), 1);
        assert_eq!(r.known[&FileId { dev: 1, ino: 2 }].gen_id, 9);
        assert_eq!(r.start_known.len(), 2);
    }

    #[test]
    fn the_first_poll_drops_the_restart_state() {
        let mut t = Tracker::new(Vec::new(), Vec::new(), 0, TrackerOptions::default());
        assert!(t.resume.is_some());
        t.poll(&mut Recorder::default()).expect("poll");
        assert!(t.resume.is_none());
    }
}
