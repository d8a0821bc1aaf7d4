//! Helpers for the unit tests of the tracker's modules: a sink that records what a poll hands
//! over, and a tracker watching one directory of a fresh store.

use crate::{ChunkSink, SourceSpec, Tracker, TrackerOptions};
use logkeep_format::Event;
use logkeep_format::segment::ChunkOrigin;
use std::io;
use std::path::Path;

/// What a poll handed over: every chunk (recorded path, generation, start, length) and event.
#[derive(Default)]
pub(crate) struct Recorder {
    pub(crate) chunks: Vec<(String, u64, u64, usize)>,
    pub(crate) events: Vec<Event>,
}

impl Recorder {
    /// The file names (last path component) chunks were read from, in order, once each.
    pub(crate) fn names(&self) -> Vec<String> {
        let mut v: Vec<String> = Vec::new();
        for (p, ..) in &self.chunks {
            let n = p.rsplit('/').next().unwrap_or(p).to_owned();
            if !v.contains(&n) {
                v.push(n);
            }
        }
        v
    }

    /// Bytes handed over.
    pub(crate) fn bytes(&self) -> usize {
        self.chunks.iter().map(|c| c.3).sum()
    }
}

impl ChunkSink for Recorder {
    fn chunk(&mut self, origin: &ChunkOrigin<'_>, data: &[u8]) -> io::Result<()> {
        self.chunks.push((
            origin.path.to_owned(),
            origin.gen_id,
            origin.start,
            data.len(),
        ));
        Ok(())
    }
    fn notice(&mut self, event: Event) -> io::Result<()> {
        self.events.push(event);
        Ok(())
    }
}

/// A tracker on a new store for the source `app` watching `pattern` (a file name or glob in
/// `dir`), with `opts`.
pub(crate) fn tracker_in(dir: &Path, pattern: &str, opts: TrackerOptions) -> Tracker {
    let sources = vec![SourceSpec {
        id: "app".into(),
        patterns: vec![dir.join(pattern).to_string_lossy().into_owned()],
    }];
    Tracker::new(sources, Vec::new(), 0, opts)
}
