//! Reading what a run left in its store: which byte ranges each segment record made durable,
//! and when. The benchmark trusts nothing the daemon printed; the chain is the answer.

use anyhow::{Context, Result};
use logkeep_format::Event;
use logkeep_format::chain::ChainReader;
use logkeep_format::layout::Layout;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// One sealed segment.
#[derive(Debug, Clone)]
pub struct Sealed {
    /// When its record was committed.
    pub wall: SystemTime,
    /// The segment file.
    pub file: PathBuf,
    /// Compressed size.
    pub size: u64,
    /// Size of the tar stream (captured bytes plus headers and the manifest).
    pub content_size: u64,
    /// Captured ranges: (dev, ino, start, end).
    pub spans: Vec<(u64, u64, u64, u64)>,
}

/// Every segment record of a store, in chain order (read through the format's chain reader,
/// in whatever layout the store has).
pub fn segments(store: &Path) -> Result<Vec<Sealed>> {
    let mut out = Vec::new();
    let lay = Layout::detect(store);
    for link in ChainReader::new(store) {
        let link = link.map_err(|e| anyhow::anyhow!("{e}"))?;
        let path = &link.path;
        let record = link.record;
        if let Event::Segment {
            file,
            size,
            content_size,
            spans,
            ..
        } = record.event
        {
            out.push(Sealed {
                wall: humantime::parse_rfc3339(&record.wall)
                    .with_context(|| format!("{}: bad wall time", path.display()))?,
                file: store.join(lay.segment_rel(record.seq, &file)),
                size,
                content_size,
                spans: spans
                    .iter()
                    .map(|s| (s.dev, s.ino, s.start, s.end))
                    .collect(),
            });
        }
    }
    Ok(out)
}

/// Captured bytes and compressed bytes over all segments.
pub fn totals(segs: &[Sealed]) -> (u64, u64) {
    let data = segs
        .iter()
        .flat_map(|s| &s.spans)
        .map(|&(_, _, a, b)| b - a)
        .sum();
    (data, segs.iter().map(|s| s.size).sum())
}

/// Ranges captured per file identity, each with the time it became durable, sorted by start.
/// Sealed ranges of each file identity: `(start, end, sealed at)`.
pub type ByFile = HashMap<(u64, u64), Vec<(u64, u64, SystemTime)>>;

pub fn by_file(segs: &[Sealed]) -> ByFile {
    let mut m: ByFile = HashMap::new();
    for s in segs {
        for &(dev, ino, a, b) in &s.spans {
            m.entry((dev, ino)).or_default().push((a, b, s.wall));
        }
    }
    for v in m.values_mut() {
        v.sort_by_key(|r| r.0);
    }
    m
}

/// Whether `ranges` (sorted) cover `[0, size)` exactly once: no hole, no overlap, nothing past
/// the end. Returns a description of the first problem.
pub fn exactly_once(ranges: &[(u64, u64, SystemTime)], size: u64) -> Result<(), String> {
    let mut at = 0;
    for &(a, b, _) in ranges {
        if a > at {
            return Err(format!("bytes [{at}, {a}) missing"));
        }
        if a < at {
            return Err(format!("bytes [{a}, {}) captured twice", at.min(b)));
        }
        at = b;
    }
    if at != size {
        return Err(format!("captured up to {at} of {size} bytes"));
    }
    Ok(())
}
