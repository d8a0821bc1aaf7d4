//! Following open generations: starting to follow a file (resuming its generation where the
//! chain left it, or a new one), reading everything beyond the position in large chunks,
//! noticing a file that no longer holds what was read (finished from its `copytruncate` copy, or
//! reported as `tamper`), and closing a file that left its path once it has been idle for
//! [`crate::TrackerOptions::linger`] and everything read from it is committed.
//!
//! Descriptors stay open per generation, so a renamed or deleted file is read to its end.

use crate::copies::{self, Fingerprint, Mark, Verdict};
use crate::events::{Closing, Damage, GenRef};
use crate::identity::{Changed, FileId, Stamp, split};
use crate::names;
use crate::siblings::Why;
use crate::{ChunkSink, Tracker};
use logkeep_format::{HEAD_LEN, Sha256, Timestamp};
use std::fs::File;
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime};

/// A file just opened to be followed: its descriptor, the name it is recorded under (see
/// [`names::record_name`]), the path itself, and the identity it had when it was found.
pub(crate) struct Opened {
    pub(crate) file: File,
    pub(crate) path: String,
    pub(crate) real: PathBuf,
    pub(crate) id: FileId,
}

/// How a followed file left its path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Left {
    /// Renamed away (still linked) or replaced by another file at the path.
    Rotated,
    /// Unlinked, but a rotated copy (e.g. the `.gz`) exists.
    Compressed,
    /// Unlinked with no copy while another file took its name (logrotate's `rotate 0`, or a
    /// rotated name removed before a scan saw the rename): read to its end, not tamper.
    Replaced,
    /// Unlinked with no copy and, when this was first seen, no file at its name: decided
    /// once a file takes the name ([`Left::Replaced`]) or once it stayed so for
    /// [`crate::TrackerOptions::linger`] ([`Left::Deleted`]), so that a scan between a
    /// rotation's steps is not taken for a deletion.
    Unlinked(Instant),
    /// Unlinked with no copy: reported as tamper.
    Deleted,
}

/// A generation being followed, with its open descriptor.
pub(crate) struct Tracked {
    pub(crate) source: String,
    /// The path as recorded (see [`names::record_name`]).
    pub(crate) path: String,
    /// The path itself.
    pub(crate) real: PathBuf,
    pub(crate) key: FileId,
    pub(crate) gen_id: u64,
    /// Next byte to read; `fp.pos` always equals it.
    pub(crate) fp: Fingerprint,
    /// Bytes durable in the chain.
    pub(crate) committed: u64,
    /// The fingerprint at `committed`, where [`crate::Tracker::rewind`] returns to, while
    /// `fp` is beyond it; `None` while everything read is committed (then `fp` is that
    /// fingerprint, and a followed file costs no second copy of it). It is kept rather than
    /// read again from the file, which may no longer hold those bytes (truncated by a
    /// `copytruncate` after the reads that were lost).
    pub(crate) durable: Option<Mark>,
    /// The fingerprints at the ends of the chunks read beyond `committed` before the last
    /// one, oldest first: a commit ends at one of them (which becomes `durable`) or at `fp`.
    pub(crate) marks: Vec<Mark>,
    pub(crate) file: File,
    /// Whether the latest scan found the file under a configured pattern.
    pub(crate) seen: bool,
    /// Size at the previous poll, to check the fingerprint only when something changed.
    pub(crate) last_size: u64,
    /// The times at the previous poll: a file emptied and refilled to the same size between
    /// two polls changes them, not its size.
    pub(crate) last_changed: Changed,
    /// Whether those times were too recent to prove that nothing was written since (see
    /// [`Changed::recent`]): the next poll compares the content even if they stay the same.
    pub(crate) recheck: bool,
    pub(crate) last_growth: Instant,
    /// Set once the file is known to have left its path.
    pub(crate) left: Option<Left>,
    /// Whether it was seen under another name than the first (a rotated file the patterns
    /// also match); its deletion later is the rotation's expiry, not tampering.
    pub(crate) renamed: bool,
    /// The path the chain last recorded for it (the last chunk's, or the resumed one's).
    pub(crate) chain_path: String,
    /// Generations that must be closed before this one is: a generation captured from a
    /// rotated sibling stays open in the chain while an older one last recorded at the watched
    /// name is, so that a restart cannot take it for a file made after that one.
    pub(crate) hold: Vec<u64>,
}

impl Tracked {
    /// Before reading beyond what is committed: keep the fingerprint a rewind returns to
    /// (while nothing uncommitted was read, `fp` is that fingerprint and none is kept).
    fn keep_durable(&mut self) {
        if self.durable.is_none() {
            debug_assert_eq!(self.fp.pos, self.committed);
            self.durable = Some(Mark::of(&self.fp));
        }
    }

    /// Whether the file, `size` bytes long now with the times `changed`, no longer holds what
    /// was read: its next read finishes the generation and follows the file as a new one.
    ///
    /// A shorter file is known at once. Otherwise the content is compared (at most two KiB
    /// read) only when the size or the times changed since the previous poll, or those times
    /// were too recent to tell: an idle file costs its `fstat` and nothing more.
    pub(crate) fn no_longer_holds(&self, size: u64, changed: Changed) -> io::Result<bool> {
        if size < self.fp.pos {
            return Ok(true);
        }
        let touched = size != self.last_size || changed != self.last_changed || self.recheck;
        Ok(touched && !still_matches(&self.file, &self.fp)?)
    }

    /// The generation as the chain names it, at the path it is followed at.
    pub(crate) fn generation(&self) -> GenRef<'_> {
        GenRef {
            source: &self.source,
            path: &self.path,
            id: self.key,
            gen_id: self.gen_id,
        }
    }
}

/// Hand `data` (read at `fp.pos`) to the sink as one chunk of `generation` and account for it.
pub(crate) fn emit(
    sink: &mut dyn ChunkSink,
    generation: GenRef<'_>,
    fp: &mut Fingerprint,
    data: &[u8],
) -> io::Result<()> {
    let start = fp.pos;
    fp.update(data, HEAD_LEN as usize);
    let now = SystemTime::now();
    let read_at = Timestamp::from(now).to_rfc3339();
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
pub(crate) fn read_copy(
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

/// Whether another regular file than `key` is at `path` now: the name of a file that was
/// unlinked went on with a new one.
fn replaced_at(path: &Path, key: FileId) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && FileId::of(&m) != key)
}

/// Whether `file` still holds our fingerprint's bytes at the same offsets.
pub(crate) fn still_matches(file: &File, fp: &Fingerprint) -> io::Result<bool> {
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
pub(crate) fn refingerprint(
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
    /// Start following an open file: resume its generation if the chain knows it, else a new one.
    /// `seen` says whether a pattern found it at a watched name; one found elsewhere (renamed
    /// away, or a rotated sibling) is followed as having left its path already.
    pub(crate) fn follow(
        &mut self,
        si: usize,
        opened: Opened,
        seen: bool,
        sink: &mut dyn ChunkSink,
    ) -> io::Result<()> {
        // Taken before the times are read, so that times within the granularity of it are
        // judged too recent to prove anything.
        let wall = SystemTime::now();
        let meta = opened.file.metadata()?;
        if FileId::of(&meta) != opened.id {
            return Ok(()); // replaced between stat and open; the next poll sees the new one
        }
        self.complained.remove(&opened.path);
        let (source, chain_path, gen_id, fp) =
            match self.resume_generation(&opened, meta.len(), sink)? {
                Some(r) => (r.source, r.chain_path, r.gen_id, r.fp),
                None => (
                    self.sources[si].id.clone(),
                    opened.path.clone(),
                    self.new_gen(),
                    Fingerprint::default(),
                ),
            };
        let Opened {
            file,
            path,
            real,
            id: key,
        } = opened;
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
                durable: None,
                marks: Vec::new(),
                file,
                seen,
                last_size: meta.len(),
                last_changed: Changed::of(&meta),
                recheck: Changed::of(&meta).recent(wall),
                last_growth: Instant::now(),
                left: if seen { None } else { Some(Left::Rotated) },
                renamed: !seen,
                chain_path,
                hold: Vec::new(),
            },
        );
        Ok(())
    }

    /// The next generation number: numbers are unique in the store, never reused.
    pub(crate) fn new_gen(&mut self) -> u64 {
        let g = self.next_gen;
        self.next_gen += 1;
        g
    }

    /// Read the followed file `key` beyond its position; returns the bytes read. A file that
    /// no longer holds what was read starts a new generation first; one no scan found is
    /// checked for having left its path.
    pub(crate) fn read_file(
        &mut self,
        key: FileId,
        now: Instant,
        sink: &mut dyn ChunkSink,
    ) -> io::Result<u64> {
        let Some(t) = self.files.get(&key) else {
            return Ok(0);
        };
        let wall = SystemTime::now();
        let meta = match t.file.metadata() {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(path = %t.path, "cannot stat open file: {e}");
                return Ok(0);
            }
        };
        let size = meta.len();
        let changed = Changed::of(&meta);
        if t.no_longer_holds(size, changed)? {
            self.restart_generation(key, size, sink)?;
        }
        let Some(t) = self.files.get_mut(&key) else {
            return Ok(0);
        };
        t.last_size = size;
        t.last_changed = changed;
        t.recheck = changed.recent(wall);
        let mut total = 0u64;
        let mut failed = None;
        loop {
            let n = match t.file.read_at(&mut self.buf, t.fp.pos) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            };
            if n == 0 {
                break;
            }
            t.keep_durable();
            if t.fp.pos > t.committed {
                // The end of the previous chunk, where a commit may end; the end of the last
                // one is `fp` itself.
                t.marks.push(Mark::of(&t.fp));
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
        let seen = t.seen;
        if failed.is_some() || self.unreadable.contains_key(&key) {
            // A read error is an alert like a file that cannot be opened, once; the next
            // read that works ends it.
            let (source, path, gen_id) = (t.source.clone(), t.path.clone(), t.gen_id);
            let generation = GenRef {
                source: &source,
                path: &path,
                id: key,
                gen_id,
            };
            match &failed {
                Some(e) => self.cannot_read(generation, e, sink)?,
                None => self.read_again(generation, sink)?,
            }
        }
        if !seen {
            self.left_path(key, meta.nlink(), now, sink)?;
        }
        Ok(total)
    }

    /// The file no longer holds what we read from it: finish the old generation from its
    /// rotated copy (copytruncate), or report the truncation; then follow it as a new one.
    pub(crate) fn restart_generation(
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
                    t.keep_durable();
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
            t.durable = None;
            t.marks.clear();
            t.chain_path.clone_from(&t.path);
            t.hold.clear();
        }
        if let Some((copy, copy_key, stamp)) = ended {
            if let Some(stamp) = stamp {
                self.settle(copy_key, stamp, Why::Copy(old_gen));
            }
            if let Some((dir, base)) = split(&copy) {
                self.remember(dir, base, copy_key, old_gen, old_fp);
            }
        }
        Ok(())
    }

    /// The file was not found under any pattern in this poll.
    pub(crate) fn left_path(
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
        if let None | Some(Left::Unlinked(_)) = t.left {
            // It was at its path in the previous poll: renamed away, replaced, or deleted.
            let left = if nlink > 0 || t.renamed {
                Left::Rotated
            } else {
                match copies::find_copy(&t.real, key, &t.fp) {
                    Some(_) => Left::Compressed,
                    None if t.fp.pos == 0 => Left::Rotated, // empty file: nothing was lost
                    // Every byte the file held was read through the descriptor: the name
                    // went on with another file, as after `rotate 0`.
                    None if replaced_at(&t.real, key) => Left::Replaced,
                    None => match t.left {
                        Some(Left::Unlinked(since)) if now.duration_since(since) < linger => {
                            Left::Unlinked(since)
                        }
                        Some(Left::Unlinked(_)) => Left::Deleted,
                        _ if linger.is_zero() => Left::Deleted,
                        _ => Left::Unlinked(now),
                    },
                }
            };
            if left == Left::Replaced {
                tracing::info!(path = %t.path, gen_id = t.gen_id, captured = t.fp.pos, "file unlinked and another took its name (rotation without a copy): read to its end");
            }
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
            && !matches!(t.left, Some(Left::Unlinked(_)))
            && !self.holding(&t.hold)
        {
            let why = match t.left {
                Some(Left::Deleted) => Closing::Deleted,
                Some(Left::Replaced) => Closing::Replaced,
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
                    self.remember(dir, base, key, t.gen_id, t.fp);
                }
            }
        }
        Ok(())
    }

    /// Decide now for every file unlinked with nothing at its name that waits for
    /// [`crate::TrackerOptions::linger`] to tell (see [`Left::Unlinked`]): before a stop, a
    /// deletion must be in the chain, not left for a later run to guess.
    pub(crate) fn conclude_unlinked(&mut self, sink: &mut dyn ChunkSink) -> io::Result<()> {
        let mut keys: Vec<FileId> = self
            .files
            .iter()
            .filter(|(_, t)| matches!(t.left, Some(Left::Unlinked(_))))
            .map(|(k, _)| *k)
            .collect();
        keys.sort_by(|a, b| self.files[a].path.cmp(&self.files[b].path));
        for key in keys {
            let Some(t) = self.files.get_mut(&key) else {
                continue;
            };
            if replaced_at(&t.real, key) {
                t.left = Some(Left::Replaced);
                continue;
            }
            t.left = Some(Left::Deleted);
            tracing::warn!(path = %t.path, captured = t.fp.pos, "file deleted outside a rotation");
            sink.notice(t.generation().tamper(t.fp.pos, None, Damage::Deleted))?;
        }
        Ok(())
    }

    /// Mark the generation `gen_id` of the followed file `key` durable up to `end`.
    pub(crate) fn commit_file(&mut self, key: FileId, gen_id: u64, end: u64) {
        let Some(t) = self.files.get_mut(&key) else {
            return;
        };
        if t.gen_id != gen_id || end <= t.committed {
            return;
        }
        t.committed = end;
        if end == t.fp.pos {
            // Everything read is durable: `fp` is where a rewind would return to.
            t.durable = None;
            t.marks.clear();
            return;
        }
        // Commits end where chunks ended; the fingerprint there is the one to return to.
        match t.marks.iter().position(|m| m.pos == end) {
            Some(i) => {
                t.durable = Some(t.marks.remove(i));
                t.marks.drain(..i);
            }
            None => t.marks.retain(|m| m.pos > end),
        }
    }

    /// Return every followed file to its committed position (see [`Tracker::rewind`]). The
    /// fingerprint there is the one kept when it was committed, so a file that no longer
    /// holds those bytes is noticed by the next read like any other, and its generation is
    /// finished from its rotated copy or reported.
    pub(crate) fn rewind_files(&mut self) {
        let mut lost = Vec::new();
        for (key, t) in self.files.iter_mut() {
            if t.fp.pos == t.committed {
                continue;
            }
            t.marks.clear();
            if let Some(mark) = t.durable.take().filter(|m| m.pos == t.committed) {
                t.fp = mark.restore(&t.fp);
                continue;
            }
            // A commit that did not end where a chunk ended kept no fingerprint: read it
            // again from the file.
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
            // Commits end where chunks ended, so this cannot happen; if it does, start the
            // file over as a new generation rather than guess.
            if let Some(mut t) = self.files.remove(&key) {
                tracing::warn!(path = %t.path, "cannot return to the committed position; following as a new generation");
                t.gen_id = self.next_gen;
                self.next_gen += 1;
                t.fp = Fingerprint::default();
                t.committed = 0;
                t.durable = None;
                self.files.insert(key, t);
            }
        }
    }

    /// Read every followed file beyond its position, in the order of their paths.
    pub(crate) fn read_all(&mut self, now: Instant, sink: &mut dyn ChunkSink) -> io::Result<u64> {
        let mut keys: Vec<FileId> = self.files.keys().copied().collect();
        keys.sort_by(|a, b| self.files[a].path.cmp(&self.files[b].path));
        let mut bytes = 0;
        for key in keys {
            bytes += self.read_file(key, now, sink)?;
        }
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::{Recorder, tracker_in};
    use crate::{FileId, TrackerOptions};
    use logkeep_format::Event;
    use std::time::Duration;

    #[test]
    fn a_file_truncated_without_a_copy_is_tamper_and_then_a_new_generation() {
        let dir = tempfile::tempdir().expect("tmp");
        let log = dir.path().join("app.log");
        std::fs::write(&log, vec![b'a'; 100]).expect("write");
        let mut t = tracker_in(dir.path(), "app.log", TrackerOptions::default());
        let mut sink = Recorder::default();
        t.poll(&mut sink).expect("poll");
        assert_eq!(sink.bytes(), 100);
        std::fs::write(&log, b"0123456789").expect("truncate");
        let mut sink = Recorder::default();
        t.poll(&mut sink).expect("poll");
        match sink.events.as_slice() {
            [
                Event::Tamper {
                    captured,
                    size_now,
                    what,
                    gen_id,
                    ..
                },
            ] => {
                assert_eq!((*captured, *size_now, *gen_id), (100, Some(10), 1));
                assert_eq!(what, "truncated");
            }
            other => panic!("expected one tamper event, got {other:?}"),
        }
        assert_eq!(sink.chunks.len(), 1);
        let (_, gen_id, start, len) = &sink.chunks[0];
        assert_eq!((*gen_id, *start, *len), (2, 0, 10));
    }

    #[test]
    fn copytruncate_finishes_the_generation_from_its_copy() {
        let dir = tempfile::tempdir().expect("tmp");
        let log = dir.path().join("app.log");
        std::fs::write(&log, b"first generation\n".repeat(10)).expect("write");
        let mut t = tracker_in(dir.path(), "app.log", TrackerOptions::default());
        t.poll(&mut Recorder::default()).expect("poll");
        // What copytruncate does: copy, then truncate in place; the writer goes on.
        std::fs::copy(&log, dir.path().join("app.log.1")).expect("copy");
        std::fs::write(&log, b"second\n").expect("truncate and write");
        let mut sink = Recorder::default();
        t.poll(&mut sink).expect("poll");
        match sink.events.as_slice() {
            [
                Event::Closed {
                    path,
                    gen_id,
                    end,
                    reason,
                    ..
                },
            ] => {
                assert!(path.ends_with("/app.log.1"), "{path}");
                assert_eq!((*gen_id, *end), (1, 170));
                assert_eq!(reason, "rotated");
            }
            other => panic!("expected one closed event, got {other:?}"),
        }
        assert_eq!(sink.names(), ["app.log"]);
        assert_eq!(sink.chunks[0].1, 2);
        assert_eq!(sink.bytes(), 7);
    }

    #[test]
    fn a_file_that_left_its_path_is_closed_only_once_committed() {
        let dir = tempfile::tempdir().expect("tmp");
        let log = dir.path().join("app.log");
        std::fs::write(&log, b"bytes\n").expect("write");
        let opts = TrackerOptions {
            linger: Duration::ZERO,
            ..TrackerOptions::default()
        };
        let mut t = tracker_in(dir.path(), "app.log", opts);
        t.poll(&mut Recorder::default()).expect("poll");
        std::fs::create_dir(dir.path().join("old")).expect("mkdir");
        std::fs::rename(&log, dir.path().join("old/app.log")).expect("rename");
        let mut sink = Recorder::default();
        t.poll(&mut sink).expect("poll");
        assert!(sink.events.is_empty(), "{:?}", sink.events);
        let f = &t.files()[0];
        let id: FileId = f.id();
        assert_eq!((f.pos, f.committed), (6, 0));
        t.committed([(id.dev, id.ino, f.gen_id, 6)]);
        let mut sink = Recorder::default();
        t.poll(&mut sink).expect("poll");
        assert!(
            matches!(sink.events.as_slice(), [Event::Closed { end: 6, reason, .. }] if reason == "rotated"),
            "{:?}",
            sink.events
        );
        assert!(t.files().is_empty());
    }

    #[test]
    fn rewind_reads_again_what_was_not_committed() {
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::write(dir.path().join("app.log"), b"0123456789").expect("write");
        let mut t = tracker_in(dir.path(), "app.log", TrackerOptions::default());
        t.poll(&mut Recorder::default()).expect("poll");
        t.rewind();
        let mut sink = Recorder::default();
        t.poll(&mut sink).expect("poll");
        assert_eq!(sink.chunks, [(sink.chunks[0].0.clone(), 1, 0, 10)]);
    }
}
