//! Rotated siblings: every poll lists the rotated names of each watched file
//! ([`names::is_rotation_of`]: `app.log.1`, `app.log.2.gz`, `app.log-20261126`, ...) and
//! judges those neither followed nor judged yet. One that is a copy of a generation this run
//! knows (equal to its fingerprint or a prefix of it, or matching both chain digests of one the
//! chain was following) holds no bytes of its own; one that is not holds a generation never
//! seen under a watched name and is captured: a plain file is followed like a renamed one, a
//! `.gz` is read decompressed, once complete, and closed. A file that looks like a copy is
//! judged only once it has stopped growing ([`SETTLE`]), so a copy being written never
//! becomes a generation.
//!
//! Which siblings present when a run starts were captured before is the job of
//! [`crate::resume`].

use crate::copies::{self, Fingerprint, Verdict};
use crate::events::{Closing, GenRef};
use crate::follow::{Opened, read_copy, still_matches};
use crate::identity::{Changed, FileId, Stamp, split};
use crate::names;
use crate::resume::{Horizon, NEVER};
use crate::{ChunkSink, Tracker};
use logkeep_format::{Event, HEAD_LEN, Sha256, Timestamp};
use std::collections::HashSet;
use std::ffi::OsString;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long a file that looks like a copy of a known generation must have kept its size and
/// modification time before it is judged: a copy being written is only a prefix.
pub(crate) const SETTLE: Duration = Duration::from_secs(1);

/// Generations remembered after they ended, to recognise copies of them (about 2 KiB each).
pub(crate) const PAST_MAX: usize = 1024;

/// A generation that ended in this run, or a file taken as captured by an earlier one: what
/// its copies look like.
pub(crate) struct Past {
    pub(crate) dir: PathBuf,
    pub(crate) name: OsString,
    /// The file that held it when it ended (a copy of it is another file).
    pub(crate) id: FileId,
    pub(crate) gen_id: u64,
    pub(crate) fp: Fingerprint,
}

/// Why a file found under a pattern or as a rotated sibling is not followed.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Why {
    /// A copy of this generation (`copytruncate`'s copy, a `.gz`): its bytes are that
    /// generation's.
    Copy(u64),
    /// A rotated file present when this run started that the chain is taken to hold.
    Seen,
    /// A compressed generation captured whole, or a generation that was followed and closed.
    Captured(u64),
}

/// A file judged not to be followed, with its stamp when it was judged.
pub(crate) struct Settled {
    pub(crate) stamp: Stamp,
    pub(crate) why: Why,
}

impl Why {
    /// The generation the file holds, if it is known.
    pub(crate) fn gen_id(self) -> Option<u64> {
        match self {
            Why::Copy(g) | Why::Captured(g) => Some(g),
            Why::Seen => None,
        }
    }
}

/// A file that looked like a copy while it may still have been growing.
pub(crate) struct Pending {
    pub(crate) stamp: Stamp,
    pub(crate) since: Instant,
}

/// The length of the content of the file at `path` whose stamp is `stamp`: decompressed for
/// a `.gz` (0 if that cannot be told: it is then judged by its first bytes alone, as a copy).
fn content_len(path: &Path, stamp: Stamp) -> u64 {
    if copies::is_gz(path) {
        copies::gz_len(path).ok().flatten().unwrap_or(0)
    } else {
        stamp.len
    }
}

/// A rotated sibling found in a directory listing, neither followed nor judged yet.
pub(crate) struct Candidate {
    pub(crate) path: PathBuf,
    pub(crate) id: FileId,
    pub(crate) stamp: Stamp,
}

/// A watched file name: its rotated siblings are reconciled on every poll.
pub(crate) struct Family {
    pub(crate) dir: PathBuf,
    pub(crate) base: OsString,
    pub(crate) source: usize,
    pub(crate) horizon: Horizon,
}

/// A generation read whole from a compressed sibling and closed at once, until its bytes are
/// committed: if they never are, [`Tracker::rewind`] makes the next poll read it again.
pub(crate) struct OneShot {
    pub(crate) gen_id: u64,
    pub(crate) key: FileId,
    pub(crate) end: u64,
}

/// What a file that is not followed yet holds.
pub(crate) enum Check {
    /// Bytes of this known generation: not a generation of its own.
    Copy(u64),
    /// It looks like a copy but may still grow: look again later.
    Wait,
    /// The very file of this generation, which ended at `end`, written again after it ended:
    /// it now holds `len` bytes.
    Grown { gen_id: u64, end: u64, len: u64 },
    /// Content of its own.
    Fresh,
}

impl Tracker {
    /// Watch the rotated siblings of `path` (unless it is itself a rotated sibling of a
    /// watched file).
    pub(crate) fn register_family(&mut self, si: usize, path: &Path) {
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
        let horizon = match (self.resume.is_none(), self.fresh) {
            (_, true) => Horizon::All,
            (false, false) => Horizon::Unset,
            // Watched only now: siblings not modified since this run started were there
            // before it, for earlier runs to capture.
            (true, false) => Horizon::Window {
                after: self.started,
                until: NEVER,
            },
        };
        self.families.push(Family {
            dir,
            base,
            source: si,
            horizon,
        });
    }

    /// List the rotated siblings of every watched file and capture those that hold a
    /// generation never seen.
    pub(crate) fn reconcile(
        &mut self,
        claimed: &HashSet<FileId>,
        sink: &mut dyn ChunkSink,
    ) -> io::Result<()> {
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
                cands.push((
                    fi,
                    Candidate {
                        path,
                        id: key,
                        stamp,
                    },
                ));
            }
            // Oldest first, so that generation numbers follow the order of the files.
            cands.sort_by(|(_, a), (_, b)| (a.stamp.mtime, &a.path).cmp(&(b.stamp.mtime, &b.path)));
            for (fi, found) in cands {
                self.sibling(fi, &found, sink)?;
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
    pub(crate) fn sibling(
        &mut self,
        fi: usize,
        found: &Candidate,
        sink: &mut dyn ChunkSink,
    ) -> io::Result<()> {
        let (path, key, stamp) = (found.path.as_path(), found.id, found.stamp);
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
            Check::Grown { gen_id, end, len } => {
                let si = self.families[fi].source;
                return self.grown(si, &name, key, stamp, (gen_id, end, len), sink);
            }
            Check::Wait => return Ok(()),
            Check::Fresh => {}
        }
        // A sibling last modified during this run is new unless a copy (judged above). One
        // present at start was perhaps captured by an earlier run: judged by content against
        // the generations the chain finished where they cover its age, else by the time rule.
        let at_start = stamp.mtime <= self.started;
        let by_content = at_start && self.finished.covers(stamp.mtime);
        if by_content {
            if let Some(g) = self
                .finished
                .holder(path, gz_len.unwrap_or(stamp.len), stamp.mtime)
            {
                tracing::debug!(path = %name, gen_id = g, "rotated sibling holds a generation the chain finished");
                self.settle(key, stamp, Why::Copy(g));
                if !gz
                    && let Some((dir, base)) = split(path)
                    && let Ok(fp) = copies::fingerprint_of(path, HEAD_LEN as usize)
                {
                    self.remember(dir, base, key, g, fp);
                }
                return Ok(());
            }
        } else if at_start && !self.families[fi].horizon.captures(stamp.mtime) {
            tracing::debug!(path = %name, "rotated sibling older than what the chain holds: taken as captured");
            self.settle(key, stamp, Why::Seen);
            if !gz
                && let Some((dir, base)) = split(path)
                && let Ok(fp) = copies::fingerprint_of(path, HEAD_LEN as usize)
            {
                self.remember(dir, base, key, 0, fp);
            }
            return Ok(());
        }
        let si = self.families[fi].source;
        if gz {
            self.pending.remove(&key);
            let hold = self.hold_for(path);
            return self.capture_gz(si, found, name, hold, sink);
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
        let opened = Opened {
            file,
            path: name,
            real: path.to_owned(),
            id: key,
        };
        self.follow(si, opened, false, sink)?;
        if let Some(t) = self.files.get_mut(&key) {
            t.hold = hold;
        }
        Ok(())
    }

    /// Capture a compressed sibling never seen as one whole generation, decompressed; its
    /// `closed` record waits for the generations in `hold`.
    pub(crate) fn capture_gz(
        &mut self,
        si: usize,
        found: &Candidate,
        name: String,
        hold: Vec<u64>,
        sink: &mut dyn ChunkSink,
    ) -> io::Result<()> {
        let (path, key, stamp) = (found.path.as_path(), found.id, found.stamp);
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
            self.remember(dir, base, key, gen_id, fp);
        }
        Ok(())
    }

    /// Whether the file at `path` (not followed) holds bytes of a generation this run knows,
    /// in the same directory under a related name: a followed one, one that ended, or one the
    /// chain was following and that has not been found yet (by its digests).
    pub(crate) fn copy_check(&mut self, path: &Path, key: FileId, stamp: Stamp) -> Check {
        let Some((dir, name)) = split(path) else {
            return Check::Fresh;
        };
        let related = |p: &Path| {
            p.parent() == Some(dir.as_path())
                && p.file_name().is_some_and(|n| names::related(n, &name))
        };
        // An empty file under a rotated name of a followed file: the copy a `copytruncate`
        // has created and not yet written (logrotate, at low priority on a busy host, can sit
        // between the two for seconds). It has no bytes of its own to lose, so it is judged
        // only once it holds some; followed now, it would capture the copy's bytes twice.
        let unwritten_copy = stamp.len == 0
            && self.files.values().any(|t| {
                t.key != key
                    && t.real.parent() == Some(dir.as_path())
                    && t.real
                        .file_name()
                        .is_some_and(|base| names::is_rotation_of(&name, base))
            });
        let mut prefix_of = None;
        // Whether it holds the present bytes of a followed file that this poll will follow as
        // a new generation.
        let mut renewed = false;
        for t in self.files.values() {
            if t.key == key || !related(&t.real) {
                continue;
            }
            if still_matches(&t.file, &t.fp).unwrap_or(false) {
                let size = t.file.metadata().map_or(0, |m| m.len());
                // The generation's own file still holds what was read, and its descriptor will
                // read the rest: a copy holds that file's bytes and nothing else. Every byte is
                // compared, so that a new file that merely begins like it (a header, or the
                // whole of a short generation) is not taken for a copy, and a copy made before
                // anything was read (compressed before its first commit, or after a rewind) is
                // recognised.
                if size == 0 {
                    continue; // nothing to be a copy of
                }
                match copies::copy_of_file(path, &t.file) {
                    Ok(Some(len)) if len > 0 && len >= t.fp.pos => return Check::Copy(t.gen_id),
                    // Shorter than what was read, or empty: a copy still being written, or a
                    // new file nobody has written to yet; decided once it has stopped growing.
                    Ok(Some(_)) => {
                        prefix_of.get_or_insert(t.gen_id);
                        continue;
                    }
                    _ => {}
                }
                // A difference is the candidate's, unless the followed file itself changed
                // while the two were compared: a `copytruncate` that finished its copy and
                // truncated the file meanwhile (a compare of megabytes takes long enough on a
                // loaded machine). That file is judged below as one seen truncated.
                if still_matches(&t.file, &t.fp).unwrap_or(false) {
                    continue;
                }
            }
            // Stat after the content checks, so that a truncation they saw is in the size.
            let meta = t.file.metadata().ok();
            let size = meta.as_ref().map_or(0, |m| m.len());
            // The file no longer holds what was read (truncated by a `copytruncate`): its
            // copy is recognised by the fingerprint, and may hold bytes not read yet.
            match copies::compare(path, &t.fp) {
                Ok(Verdict::Match) => return Check::Copy(t.gen_id),
                Ok(Verdict::Prefix) => {
                    prefix_of.get_or_insert(t.gen_id);
                }
                _ => {}
            }
            // What the file holds now is the start of its next generation, which this poll's
            // reading begins (a `copytruncate` followed by writes, then a rotation that
            // compressed them away): a copy of those bytes is judged once that generation is
            // followed, against it.
            if size > 0
                && let Some(m) = &meta
                && t.no_longer_holds(size, Changed::of(m)).unwrap_or(false)
                && matches!(copies::copy_of_file(path, &t.file), Ok(Some(n)) if n > 0)
            {
                renewed = true;
            }
        }
        let mut len = None;
        for p in self.past.iter().rev() {
            if p.dir != dir || !names::related(&p.name, &name) {
                continue;
            }
            match copies::compare(path, &p.fp) {
                Ok(Verdict::Match) => {
                    // An ended generation was read to its end: a copy of it holds exactly its
                    // bytes. A longer file holds bytes it never had: another file that begins
                    // with the whole of it (a short generation, a header), captured as its
                    // own, or its very file written after it ended, which is reported.
                    let len = *len.get_or_insert_with(|| content_len(path, stamp));
                    if len <= p.fp.pos {
                        return Check::Copy(p.gen_id);
                    }
                    // One taken as captured by an earlier run (generation 0) cannot be named:
                    // captured whole, as a file not known.
                    if p.id == key && p.gen_id != 0 {
                        return Check::Grown {
                            gen_id: p.gen_id,
                            end: p.fp.pos,
                            len,
                        };
                    }
                }
                Ok(Verdict::Prefix) => {
                    prefix_of.get_or_insert(p.gen_id);
                }
                _ => {}
            }
        }
        // Generations the chain was following that have not been found yet (first poll): by
        // both digests, so that a new file that merely starts like one is not taken for it.
        for k in self.resume.iter().flat_map(|r| r.known.values()) {
            if k.id() == key || stamp.len < k.pos.end || !related(&names::real_path(&k.pos.path)) {
                continue;
            }
            if let Ok(Some(w)) = copies::window(path, k.pos.end, HEAD_LEN as usize)
                && Sha256::of(&w.head) == k.pos.head
                && Sha256::of(&w.tail) == k.pos.tail
            {
                return Check::Copy(k.gen_id);
            }
        }
        if renewed {
            return Check::Wait;
        }
        match prefix_of {
            None => Check::Fresh,
            Some(g) => {
                if !self.stable(key, stamp) {
                    Check::Wait
                } else if stamp.len == 0 {
                    // Still empty after a while: a new file nobody has written to yet, unless
                    // it is a rotated name's copy still to be written.
                    if unwritten_copy {
                        Check::Wait
                    } else {
                        Check::Fresh
                    }
                } else {
                    Check::Copy(g)
                }
            }
        }
    }

    /// The file `key` (recorded as `name`, found by source `si`) of a generation that ended
    /// was written again: `grown` is the generation, its end and the file's length now. A
    /// generation takes no bytes after its `closed` record, and capturing the file again as a
    /// new generation would hold the bytes already captured twice, so a `gap` names the bytes
    /// from its end on for the investigator to take from the host; the file is then left
    /// alone until it changes again.
    pub(crate) fn grown(
        &mut self,
        si: usize,
        name: &str,
        key: FileId,
        stamp: Stamp,
        grown: (u64, u64, u64),
        sink: &mut dyn ChunkSink,
    ) -> io::Result<()> {
        let (gen_id, end, len) = grown;
        tracing::warn!(
            path = name,
            gen_id,
            end,
            len,
            "written after its generation was closed: the bytes from its end on are not captured"
        );
        let generation = GenRef {
            source: &self.sources[si].id,
            path: name,
            id: key,
            gen_id,
        };
        sink.notice(generation.written_after_close(end, len))?;
        self.settle(key, stamp, Why::Captured(gen_id));
        Ok(())
    }

    /// Remember that the file `key` is not followed, and why, until its stamp changes.
    pub(crate) fn settle(&mut self, key: FileId, stamp: Stamp, why: Why) {
        self.pending.remove(&key);
        self.settled.insert(key, Settled { stamp, why });
    }

    /// Whether the file `key` has kept `stamp` for [`SETTLE`]: it was last written that long
    /// ago, or our polls have seen it unchanged that long.
    pub(crate) fn stable(&mut self, key: FileId, stamp: Stamp) -> bool {
        if Timestamp::now() >= stamp.mtime.plus_nanos(SETTLE.as_nanos() as i128) {
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

    /// Remember the file `id` at `dir/name` as holding generation `gen_id` (0: captured by an
    /// earlier run), so that its copies are recognised.
    pub(crate) fn remember(
        &mut self,
        dir: PathBuf,
        name: OsString,
        id: FileId,
        gen_id: u64,
        fp: Fingerprint,
    ) {
        if fp.pos == 0 {
            return;
        }
        if self.past.len() >= PAST_MAX {
            self.past.pop_front();
        }
        self.past.push_back(Past {
            dir,
            name,
            id,
            gen_id,
            fp,
        });
    }

    /// The generations a generation captured from the rotated file `path` must outlast (see
    /// [`crate::follow::Tracked::hold`]): those followed now that the chain last recorded at a name `path` is
    /// a rotation of, except the one at that name now.
    pub(crate) fn hold_for(&self, path: &Path) -> Vec<u64> {
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

    /// Whether any of `gens` is still followed.
    pub(crate) fn holding(&self, gens: &[u64]) -> bool {
        self.files.values().any(|t| gens.contains(&t.gen_id))
    }

    /// A compressed generation read whole stays to be read again until its bytes up to its
    /// end are committed.
    pub(crate) fn oneshot_committed(&mut self, id: FileId, gen_id: u64, end: u64) {
        self.oneshots
            .retain(|o| !(o.gen_id == gen_id && o.key == id && end >= o.end));
    }

    /// Compressed generations read whole but not committed: forget them, so that the next poll
    /// reads them again.
    pub(crate) fn rewind_oneshots(&mut self) {
        for o in std::mem::take(&mut self.oneshots) {
            self.settled.remove(&o.key);
            self.past.retain(|p| p.gen_id != o.gen_id);
            self.closing
                .retain(|(_, e)| !matches!(e, Event::Closed { gen_id, .. } if *gen_id == o.gen_id));
        }
    }

    /// Record the `closed` events of compressed generations captured whole that no longer wait
    /// for an older generation (see [`crate::follow::Tracked::hold`]).
    pub(crate) fn release_closing(&mut self, sink: &mut dyn ChunkSink) -> io::Result<()> {
        let mut i = 0;
        while i < self.closing.len() {
            if self.holding(&self.closing[i].0) {
                i += 1;
            } else {
                let (_, e) = self.closing.remove(i);
                sink.notice(e)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::TrackerOptions;
    use crate::testing::{Recorder, tracker_in};
    use logkeep_format::Event;
    use std::io::Write;

    #[test]
    fn a_copy_of_a_followed_file_is_not_captured_again() {
        let dir = tempfile::tempdir().expect("tmp");
        let log = dir.path().join("app.log");
        std::fs::write(&log, b"line\n".repeat(50)).expect("write");
        let mut t = tracker_in(dir.path(), "app.log", TrackerOptions::default());
        t.poll(&mut Recorder::default()).expect("poll");
        std::fs::copy(&log, dir.path().join("app.log.1")).expect("copy");
        let mut sink = Recorder::default();
        t.poll(&mut sink).expect("poll");
        assert!(sink.chunks.is_empty(), "{:?}", sink.chunks);
        assert!(sink.events.is_empty(), "{:?}", sink.events);
    }

    #[test]
    fn a_rotated_sibling_never_seen_is_captured_as_its_own_generation() {
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::write(dir.path().join("app.log"), b"live\n").expect("write");
        let mut t = tracker_in(dir.path(), "app.log", TrackerOptions::default());
        t.poll(&mut Recorder::default()).expect("poll");
        std::fs::write(
            dir.path().join("app.log.1"),
            b"made and rotated between polls\n",
        )
        .expect("write");
        let mut sink = Recorder::default();
        t.poll(&mut sink).expect("poll");
        assert_eq!(sink.names(), ["app.log.1"]);
        assert_eq!(sink.chunks[0].1, 2);
    }

    #[test]
    fn a_compressed_sibling_never_seen_is_captured_decompressed_and_closed() {
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::write(dir.path().join("app.log"), b"live\n").expect("write");
        let mut t = tracker_in(dir.path(), "app.log", TrackerOptions::default());
        t.poll(&mut Recorder::default()).expect("poll");
        let text = b"compressed generation\n".repeat(20);
        let gz = std::fs::File::create(dir.path().join("app.log.2.gz")).expect("create");
        let mut enc = flate2::write::GzEncoder::new(gz, flate2::Compression::default());
        enc.write_all(&text).expect("gzip");
        enc.finish().expect("gzip");
        let mut sink = Recorder::default();
        t.poll(&mut sink).expect("poll");
        assert_eq!(sink.names(), ["app.log.2.gz"]);
        assert_eq!(sink.bytes(), text.len());
        assert!(
            matches!(sink.events.as_slice(), [Event::Closed { gen_id: 2, end, .. }] if *end == text.len() as u64),
            "{:?}",
            sink.events
        );
    }
}
