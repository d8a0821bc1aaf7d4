//! Resolving the sources' patterns to files: every poll expands each pattern, stats what it
//! finds and either notes a followed file under its (maybe new) name, starts following a new
//! one, or leaves it alone because it is a copy of a generation already captured. A file is
//! captured once even when several patterns or sources match it.

use crate::copies;
use crate::events::GenRef;
use crate::follow::Opened;
use crate::identity::{FileId, Stamp};
use crate::names;
use crate::siblings::{Check, Why};
use crate::{ChunkSink, Tracker};
use std::collections::HashSet;
use std::fs::File;
use std::io;
use std::path::Path;

impl Tracker {
    /// Expand every source's patterns and take note of every file found; returns the
    /// identities found, so that the sibling step leaves them alone.
    pub(crate) fn scan(&mut self, sink: &mut dyn ChunkSink) -> io::Result<HashSet<FileId>> {
        // A followed file no pattern finds in this scan has left its path (see
        // [`Tracker::left_path`]).
        for t in self.files.values_mut() {
            t.seen = false;
        }
        self.unreadable_unseen();
        self.matched = vec![false; self.sources.len()];
        self.unlisted.clear();
        let mut claimed: HashSet<FileId> = HashSet::new();
        for si in 0..self.sources.len() {
            for pi in 0..self.sources[si].patterns.len() {
                let pattern = self.sources[si].patterns[pi].clone();
                let found = match names::expand(&pattern) {
                    Ok(x) => x,
                    Err(e) => {
                        self.complain(&pattern, format_args!("bad pattern: {e}"));
                        continue;
                    }
                };
                for (dir, e) in found.errors {
                    let d = names::record_name(&dir);
                    self.complain(&d, format_args!("cannot be listed: {e}"));
                    if !self.unlisted.iter().any(|(s, x, _)| *s == si && *x == d) {
                        self.unlisted.push((si, d, e.to_string()));
                    }
                }
                for path in found.paths {
                    if !self.opts.capture_compressed && copies::is_gz(&path) {
                        continue;
                    }
                    self.found(si, &path, &mut claimed, sink)?;
                }
            }
        }
        self.unreadable_sweep();
        Ok(claimed)
    }

    /// Warn about `what` (a path or pattern) once per run.
    pub(crate) fn complain(&mut self, what: &str, why: std::fmt::Arguments<'_>) {
        // Once per path, so a permanent problem does not flood the log every second.
        if self.complained.insert(what.to_owned()) {
            tracing::warn!(path = what, "{why}");
        }
    }

    /// A file a pattern of source `si` found: note it under its name if followed, leave it if
    /// judged or a copy of a known generation, else follow it.
    pub(crate) fn found(
        &mut self,
        si: usize,
        path: &Path,
        claimed: &mut HashSet<FileId>,
        sink: &mut dyn ChunkSink,
    ) -> io::Result<()> {
        let name = names::record_name(path);
        // Recorded paths are absolute and plain: they become member names and output paths.
        if !path.is_absolute()
            || !path.components().all(|c| {
                matches!(
                    c,
                    std::path::Component::RootDir | std::path::Component::Normal(_)
                )
            })
        {
            self.complain(
                &name,
                format_args!("path is not absolute and plain (no `.` or `..`); not captured"),
            );
            return Ok(());
        }
        let meta = match std::fs::metadata(path) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()), // raced a rename
            Err(e) => {
                self.complain(&name, format_args!("cannot stat: {e}"));
                return Ok(());
            }
        };
        if !meta.is_file() {
            return Ok(());
        }
        if let Some(m) = self.matched.get_mut(si) {
            *m = true;
        }
        let key = FileId::of(&meta);
        self.unreadable_seen(key);
        if !claimed.insert(key) {
            return Ok(()); // the same file through another pattern or source: captured once
        }
        self.register_family(si, path);
        let stamp = Stamp::of(&meta);
        if let Some(s) = self.settled.get(&key) {
            if s.stamp == stamp {
                return Ok(());
            }
            // It changed since it was judged: judge it again.
            tracing::debug!(path = %name, gen_id = ?s.why.gen_id(), "changed since it was judged");
            self.settled.remove(&key);
        }
        if let Some(t) = self.files.get_mut(&key) {
            t.seen = true;
            if t.path != name {
                tracing::info!(from = %t.path, to = %name, gen_id = t.gen_id, "file renamed");
                t.path = name;
                t.real = path.to_owned();
                t.renamed = true;
            }
            return Ok(());
        }
        if self.at_open_limit(si, path, key, meta.len()) {
            return Ok(());
        }
        let file = match File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                // Renamed between the stat and the open: find it by identity among its
                // siblings, or record that it is gone.
                return self.vanished(si, path, &name, key, meta.len(), sink);
            }
            Err(e) => {
                // It exists and is not captured: an alert, recorded once.
                let source = self.sources[si].id.clone();
                let never = GenRef {
                    source: &source,
                    path: &name,
                    id: key,
                    gen_id: 0,
                };
                return self.cannot_read(never, &e, sink);
            }
        };
        let was_unreadable = self.is_unreadable(key);
        if !self.resuming(key) {
            match self.copy_check(path, key, stamp) {
                Check::Copy(gen_id) => {
                    tracing::info!(path = %name, gen_id, "a copy of a known generation (copytruncate, compression): not captured twice");
                    self.settle(key, stamp, Why::Copy(gen_id));
                    if was_unreadable {
                        let source = self.sources[si].id.clone();
                        let copy = GenRef {
                            source: &source,
                            path: &name,
                            id: key,
                            gen_id,
                        };
                        self.read_again(copy, sink)?;
                    }
                    return Ok(());
                }
                Check::Grown { gen_id, end, len } => {
                    return self.grown(si, &name, key, stamp, (gen_id, end, len), sink);
                }
                Check::Wait => {
                    tracing::debug!(path = %name, "looks like a copy still being written; deciding when it stops growing");
                    return Ok(());
                }
                Check::Fresh => {
                    self.pending.remove(&key);
                }
            }
        }
        let opened = Opened {
            file,
            path: name,
            real: path.to_owned(),
            id: key,
        };
        self.follow(si, opened, true, sink)?;
        if was_unreadable && let Some(t) = self.files.get(&key) {
            let (source, path, gen_id) = (t.source.clone(), t.path.clone(), t.gen_id);
            let now = GenRef {
                source: &source,
                path: &path,
                id: key,
                gen_id,
            };
            self.read_again(now, sink)?;
        }
        Ok(())
    }

    /// A file found by the scan that was gone before it could be opened: follow it under its
    /// new name if it was renamed, else record a `gap` (unless it was empty and unknown).
    pub(crate) fn vanished(
        &mut self,
        si: usize,
        path: &Path,
        name: &str,
        key: FileId,
        size: u64,
        sink: &mut dyn ChunkSink,
    ) -> io::Result<()> {
        if let Some(p) = copies::find_by_identity(path, key)
            && let Ok(f) = File::open(&p)
        {
            let n = names::record_name(&p);
            let opened = Opened {
                file: f,
                path: n,
                real: p,
                id: key,
            };
            return self.follow(si, opened, false, sink);
        }
        if size == 0 && !self.resuming(key) {
            return Ok(());
        }
        tracing::error!(path = name, size, "file vanished before it could be opened");
        let never = GenRef {
            source: &self.sources[si].id,
            path: name,
            id: key,
            gen_id: 0,
        };
        sink.notice(never.gap(0, Some(size), "vanished before it could be opened".into()))
    }
}
