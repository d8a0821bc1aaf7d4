//! The open-file limit: each followed generation holds a descriptor, and the store must keep
//! some to write with, so capture follows at most [`crate::TrackerOptions::max_open`] files.
//! Past it, new files wait (with one warning) until followed ones are closed; a waiting file
//! that is gone before it could be followed gets a `gap` record.

use crate::copies;
use crate::events::GenRef;
use crate::identity::FileId;
use crate::names;
use crate::{ChunkSink, Tracker};
use std::io;
use std::path::{Path, PathBuf};

/// A file not followed for want of a descriptor.
pub(crate) struct Waiting {
    /// Index of the source it was found for.
    pub(crate) source: usize,
    /// Where it is (followed to its new name if it is renamed while it waits).
    pub(crate) path: PathBuf,
    /// Its size when it was found: a file gone with bytes in it is a gap, an empty one is not.
    pub(crate) size: u64,
}

impl Tracker {
    /// Whether following one more file would pass [`crate::TrackerOptions::max_open`]; warns
    /// once each time the limit is reached. A file that waits is remembered (source `si`,
    /// `path`, identity `key`, `size`): if it is gone before it could be followed, a `gap`
    /// record says so.
    pub(crate) fn at_open_limit(&mut self, si: usize, path: &Path, key: FileId, size: u64) -> bool {
        const KEY: &str = "(open-file limit)";
        if self.files.len() < self.opts.max_open {
            self.complained.remove(KEY);
            return false;
        }
        let waiting = Waiting {
            source: si,
            path: path.to_owned(),
            size,
        };
        self.waiting.insert(key, waiting);
        if self.complained.insert(KEY.to_owned()) {
            tracing::warn!(
                path = %names::record_name(path),
                following = self.files.len(),
                "following as many files as the open-file limit allows (raise LimitNOFILE); \
                 this file and others wait until followed files are closed"
            );
        }
        true
    }

    /// Files that waited for a descriptor ([`Tracker::at_open_limit`]): forget those now
    /// followed, follow renamed ones under their new name, and record a `gap` for those gone.
    pub(crate) fn gone_while_waiting(&mut self, sink: &mut dyn ChunkSink) -> io::Result<()> {
        self.waiting.retain(|k, _| !self.files.contains_key(k));
        let mut gone = Vec::new();
        for (key, w) in self.waiting.iter_mut() {
            let here = std::fs::symlink_metadata(&w.path).is_ok_and(|m| FileId::of(&m) == *key);
            if here {
                continue;
            }
            match copies::find_by_identity(&w.path, *key) {
                Some(p) => w.path = p,
                None => gone.push(*key),
            }
        }
        gone.sort();
        for key in gone {
            let Some(Waiting { source, path, size }) = self.waiting.remove(&key) else {
                continue;
            };
            if size == 0 {
                continue;
            }
            let name = names::record_name(&path);
            tracing::error!(path = %name, size, "file gone while it waited for a descriptor (open-file limit)");
            let never = GenRef {
                source: &self.sources[source].id,
                path: &name,
                id: key,
                gen_id: 0,
            };
            sink.notice(never.gap(
                0,
                Some(size),
                "gone before it could be followed: the open-file limit was reached".into(),
            ))?;
        }
        Ok(())
    }

    /// The waiting files as [`Tracker::waiting`] lists them.
    pub(crate) fn waiting_list(&self) -> Vec<(String, String, u64)> {
        let mut v: Vec<(String, String, u64)> = self
            .waiting
            .values()
            .map(|w| {
                let source = self.sources[w.source].id.clone();
                (source, names::record_name(&w.path), w.size)
            })
            .collect();
        v.sort();
        v
    }
}

#[cfg(test)]
mod tests {
    use crate::TrackerOptions;
    use crate::names;
    use crate::testing::{Recorder, tracker_in};
    use logkeep_format::Event;

    #[test]
    fn past_the_limit_a_file_waits_and_is_a_gap_if_it_goes() {
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::write(dir.path().join("a.log"), b"aaaa").expect("write");
        std::fs::write(dir.path().join("b.log"), b"bbbbbb").expect("write");
        let opts = TrackerOptions {
            max_open: 1,
            ..TrackerOptions::default()
        };
        let mut t = tracker_in(dir.path(), "*.log", opts);
        t.poll(&mut Recorder::default()).expect("poll");
        assert_eq!(t.files().len(), 1);
        let waiting = t.waiting();
        assert_eq!(waiting.len(), 1);
        let (source, path, size) = &waiting[0];
        assert_eq!(source, "app");
        let followed = &t.files()[0].path;
        assert_ne!(path, followed);
        std::fs::remove_file(names::real_path(path)).expect("rm");
        let mut sink = Recorder::default();
        t.poll(&mut sink).expect("poll");
        match sink.events.as_slice() {
            [
                Event::Gap {
                    path: p,
                    gen_id,
                    from,
                    size_seen,
                    reason,
                    ..
                },
            ] => {
                assert_eq!(p, path);
                assert_eq!((*gen_id, *from, *size_seen), (0, 0, Some(*size)));
                assert!(reason.contains("open-file limit"), "{reason}");
            }
            other => panic!("expected one gap, got {other:?}"),
        }
        assert!(t.waiting().is_empty());
    }
}
