//! Files that a source's patterns match but that cannot be opened or read (mode 0600 and
//! another owner, an I/O error): such a file exists and is not captured, which is never
//! silent. The first time a file identity cannot be read, an `unreadable` record says so;
//! once it can be read again, a `readable` record names the generation it is captured as.
//! Nothing is recorded on the polls in between: once per file per change of state.
//!
//! The files in that state are also what `status` shows (see [`crate::Tracker::unreadable`]);
//! one that is gone, or that no pattern matches any more, is forgotten without a record (the
//! chain keeps its `unreadable` record).

use crate::events::GenRef;
use crate::identity::FileId;
use crate::{ChunkSink, Tracker};
use logkeep_format::Timestamp;
use std::io;

/// A file that could not be opened or read, as the tracker keeps it.
pub(crate) struct Unreadable {
    pub(crate) source: String,
    /// The path as recorded.
    pub(crate) path: String,
    pub(crate) error: String,
    pub(crate) since: Timestamp,
    /// Whether the latest scan found it under a pattern.
    pub(crate) seen: bool,
}

/// A file a pattern matches that cannot be opened or read, for status displays.
#[derive(Debug, Clone)]
pub struct UnreadableFile {
    /// Source id.
    pub source: String,
    /// Path, as recorded.
    pub path: String,
    /// The file's identity.
    pub id: FileId,
    /// The error the system gave.
    pub error: String,
    /// When it was first found unreadable.
    pub since: Timestamp,
}

impl Tracker {
    /// The file `key` of `source` (generation `gen_id`, 0 if never followed) cannot be opened
    /// or read: record it, unless that was recorded already.
    pub(crate) fn cannot_read(
        &mut self,
        generation: GenRef<'_>,
        error: &io::Error,
        sink: &mut dyn ChunkSink,
    ) -> io::Result<()> {
        if let Some(u) = self.unreadable.get_mut(&generation.id) {
            u.seen = true;
            return Ok(());
        }
        tracing::error!(
            source = generation.source,
            path = generation.path,
            "a file of the source cannot be read and is not captured: {error}"
        );
        // Kept only once the record is written: if the store fails, the next poll tries again.
        sink.notice(generation.unreadable(error))?;
        self.unreadable.insert(
            generation.id,
            Unreadable {
                source: generation.source.to_owned(),
                path: generation.path.to_owned(),
                error: error.to_string(),
                since: Timestamp::now(),
                seen: true,
            },
        );
        Ok(())
    }

    /// The file `key`, recorded as unreadable, was read as `generation`: record that it is
    /// captured again.
    pub(crate) fn read_again(
        &mut self,
        generation: GenRef<'_>,
        sink: &mut dyn ChunkSink,
    ) -> io::Result<()> {
        if !self.unreadable.contains_key(&generation.id) {
            return Ok(());
        }
        tracing::info!(
            source = generation.source,
            path = generation.path,
            gen_id = generation.gen_id,
            "the file can be read again and is captured"
        );
        sink.notice(generation.readable())?;
        self.unreadable.remove(&generation.id);
        Ok(())
    }

    /// Before a scan: no unreadable file has been found yet.
    pub(crate) fn unreadable_unseen(&mut self) {
        for u in self.unreadable.values_mut() {
            u.seen = false;
        }
    }

    /// After a scan: forget the unreadable files it did not find (gone, or no longer matched)
    /// unless they are followed (a read error).
    pub(crate) fn unreadable_sweep(&mut self) {
        let files = &self.files;
        self.unreadable.retain(|key, u| {
            let keep = u.seen || files.contains_key(key);
            if !keep {
                tracing::info!(path = %u.path, "the unreadable file is no longer there");
            }
            keep
        });
    }

    /// Mark the unreadable file `key` found by this scan.
    pub(crate) fn unreadable_seen(&mut self, key: FileId) {
        if let Some(u) = self.unreadable.get_mut(&key) {
            u.seen = true;
        }
    }

    /// Whether `key` is recorded as unreadable.
    pub(crate) fn is_unreadable(&self, key: FileId) -> bool {
        self.unreadable.contains_key(&key)
    }

    /// The files that cannot be opened or read, sorted by source and path.
    pub(crate) fn unreadable_list(&self) -> Vec<UnreadableFile> {
        let mut v: Vec<UnreadableFile> = self
            .unreadable
            .iter()
            .map(|(key, u)| UnreadableFile {
                source: u.source.clone(),
                path: u.path.clone(),
                id: *key,
                error: u.error.clone(),
                since: u.since,
            })
            .collect();
        v.sort_by(|a, b| (&a.source, &a.path).cmp(&(&b.source, &b.path)));
        v
    }
}
