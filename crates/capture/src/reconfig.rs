//! Sources changed while running (the daemon reloading its configuration): a source added is
//! scanned from the next poll like one configured at start; the files of a source removed,
//! and those a changed source's patterns no longer match, are closed as `unwatched` where
//! everything read from them is committed, so that the chain says where capture of each one
//! ended and no later byte of it is taken.

use crate::events::Closing;
use crate::identity::FileId;
use crate::names;
use crate::{ChunkSink, SourceSpec, Tracker};
use std::io;
use std::path::Path;

/// Whether any of `spec`'s patterns names `path`.
fn watched_by(spec: &SourceSpec, path: &Path) -> bool {
    spec.patterns.iter().any(|p| names::matches(p, path))
}

impl Tracker {
    /// Capture `sources` from now on instead of the configured ones (matched by id). Call it
    /// with everything read committed (the daemon seals first): a file that is no longer
    /// watched is then closed (`closed`, reason `unwatched`) at once; one with bytes still
    /// uncommitted is left to be closed like any file that left its path.
    pub fn reconfigure(
        &mut self,
        sources: Vec<SourceSpec>,
        sink: &mut dyn ChunkSink,
    ) -> io::Result<()> {
        let new_index = |old: usize, this: &Tracker| {
            let id = &this.sources[old].id;
            sources.iter().position(|s| &s.id == id)
        };
        let remap: Vec<Option<usize>> = (0..self.sources.len())
            .map(|i| new_index(i, self))
            .collect();
        // Rotated siblings are reconciled only for names the new patterns still watch.
        let families = std::mem::take(&mut self.families);
        for mut f in families {
            let Some(Some(ni)) = remap.get(f.source).copied() else {
                continue;
            };
            if watched_by(&sources[ni], &f.dir.join(&f.base)) {
                f.source = ni;
                self.families.push(f);
            }
        }
        self.waiting
            .retain(|_, w| match remap.get(w.source).copied().flatten() {
                Some(ni) if watched_by(&sources[ni], &w.path) => {
                    w.source = ni;
                    true
                }
                _ => false,
            });
        // Followed files no pattern of their source watches any more.
        let mut unwatched: Vec<FileId> = self
            .files
            .values()
            .filter(|t| match sources.iter().find(|s| s.id == t.source) {
                None => true,
                Some(spec) => t.left.is_none() && !watched_by(spec, &t.real),
            })
            .map(|t| t.key)
            .collect();
        unwatched.sort_by(|a, b| self.files[a].path.cmp(&self.files[b].path));
        for key in unwatched {
            let Some(t) = self.files.get_mut(&key) else {
                continue;
            };
            // The next scan does not find it; a file with uncommitted bytes is closed once
            // they are committed and it is idle, like any file that left its path.
            t.seen = false;
            if t.fp.pos != t.committed || self.holding(&self.files[&key].hold) {
                continue;
            }
            let t = &self.files[&key];
            tracing::info!(source = %t.source, path = %t.path, gen_id = t.gen_id, end = t.fp.pos, "no longer watched: closed");
            sink.notice(t.generation().closed(t.fp.pos, Closing::Unwatched))?;
            self.files.remove(&key);
        }
        self.unreadable
            .retain(|_, u| sources.iter().any(|s| s.id == u.source));
        self.matched = sources
            .iter()
            .map(|s| {
                self.sources
                    .iter()
                    .position(|o| o.id == s.id)
                    .and_then(|i| self.matched.get(i).copied())
                    .unwrap_or(false)
            })
            .collect();
        self.unlisted.clear();
        // Problems with the new patterns are worth a warning again.
        self.complained.clear();
        self.sources = sources;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::Recorder;
    use crate::{SourceSpec, Tracker, TrackerOptions};
    use logkeep_format::Event;

    fn spec(id: &str, pattern: &std::path::Path) -> SourceSpec {
        SourceSpec {
            id: id.into(),
            patterns: vec![pattern.to_string_lossy().into_owned()],
        }
    }

    #[test]
    fn a_removed_source_s_files_are_closed_and_an_added_one_is_captured() {
        let dir = tempfile::tempdir().expect("tmp");
        let (a, b) = (dir.path().join("a.log"), dir.path().join("b.log"));
        std::fs::write(&a, b"aaaa\n").expect("write");
        std::fs::write(&b, b"bb\n").expect("write");
        let mut t = Tracker::new(vec![spec("a", &a)], [], 0, TrackerOptions::default());
        let mut sink = Recorder::default();
        t.poll(&mut sink).expect("poll");
        let f = &t.files()[0];
        t.committed([(f.key.dev, f.key.ino, f.gen_id, 5)]);
        t.reconfigure(vec![spec("b", &b)], &mut sink)
            .expect("reconfigure");
        assert!(
            matches!(sink.events.as_slice(), [Event::Closed { end: 5, reason, .. }] if reason == "unwatched"),
            "{:?}",
            sink.events
        );
        std::fs::write(&a, b"aaaa\nlater\n").expect("write");
        t.poll(&mut sink).expect("poll");
        assert_eq!(sink.names(), ["a.log", "b.log"]);
        assert_eq!(sink.bytes(), 8);
        assert_eq!(t.unmatched(), Vec::<String>::new());
    }

    #[test]
    fn a_changed_pattern_closes_what_it_no_longer_matches_and_follows_what_it_does() {
        let dir = tempfile::tempdir().expect("tmp");
        let (old, new) = (dir.path().join("old.log"), dir.path().join("new.log"));
        std::fs::write(&old, b"old\n").expect("write");
        std::fs::write(&new, b"new\n").expect("write");
        let mut t = Tracker::new(vec![spec("s", &old)], [], 0, TrackerOptions::default());
        let mut sink = Recorder::default();
        t.poll(&mut sink).expect("poll");
        let f = &t.files()[0];
        t.committed([(f.key.dev, f.key.ino, f.gen_id, 4)]);
        t.reconfigure(vec![spec("s", &new)], &mut sink)
            .expect("reconfigure");
        assert!(
            matches!(sink.events.as_slice(), [Event::Closed { path, reason, .. }] if reason == "unwatched" && path.ends_with("/old.log")),
            "{:?}",
            sink.events
        );
        t.poll(&mut sink).expect("poll");
        assert_eq!(sink.names(), ["old.log", "new.log"]);
        let files = t.files();
        assert_eq!(files.len(), 1);
        assert!(files[0].path.ends_with("/new.log"));
    }
}
