//! What a store, a medium or a bundle holds, generation by generation: the listing that
//! `logkeep list` prints, gathered while the chain is verified (so a listing is never of data
//! that was not checked, and says when it was not intact).
//!
//! One shape for all three inputs: for every file generation, its source, original path,
//! device and inode, the byte ranges the chain records for it and whether each range's segment
//! is in the input and verified, and the times of the first and last read.

use crate::bundle::{self, BundleOptions, BundleReport};
use crate::record::{Event, Record};
use crate::verify::{self, ChainVisitor, Report, VerifyError, VerifyOptions};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

/// What became of one captured range in the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RangeState {
    /// Its segment is in the input and verified.
    Verified,
    /// Its segment is in the input and did not verify.
    Damaged,
    /// Its segment is not in the input (not selected, pruned to media, missing or refused).
    NotIncluded,
}

/// One captured range of a generation: `[start, end)`, the record that commits it (0 for the
/// bytes a generation holds before the first record of a partial input, which are not in it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Range {
    /// First byte offset.
    pub start: u64,
    /// End offset (exclusive).
    pub end: u64,
    /// The segment record.
    pub seq: u64,
    /// What became of it.
    pub state: RangeState,
}

/// One file generation in a store, a medium or a bundle.
#[derive(Debug, Clone, Serialize)]
pub struct Generation {
    /// Source id.
    pub source: String,
    /// Original absolute path (print it escaped).
    pub path: String,
    /// Generation number.
    pub gen_id: u64,
    /// Device of the original.
    pub dev: u64,
    /// Inode of the original.
    pub ino: u64,
    /// Wall-clock time of the first read in its first segment.
    pub first: String,
    /// Wall-clock time of the last read in its last segment.
    pub last: String,
    /// Its ranges in chain order, adjacent ranges of one state merged.
    pub ranges: Vec<Range>,
}

#[derive(Default)]
struct Lister {
    gens: BTreeMap<u64, Generation>,
}

impl Lister {
    fn add(&mut self, record: &Record, state: RangeState) {
        let Event::Segment {
            spans, first, last, ..
        } = &record.event
        else {
            return;
        };
        for s in spans {
            let g = self.gens.entry(s.gen_id).or_insert_with(|| Generation {
                source: s.source.clone(),
                path: s.path.clone(),
                gen_id: s.gen_id,
                dev: s.dev,
                ino: s.ino,
                first: first.clone(),
                last: last.clone(),
                // A generation first met past its start began before the input's first record.
                ranges: (s.start > 0)
                    .then_some(Range {
                        start: 0,
                        end: s.start,
                        seq: 0,
                        state: RangeState::NotIncluded,
                    })
                    .into_iter()
                    .collect(),
            });
            last.clone_into(&mut g.last);
            match g.ranges.last_mut() {
                Some(r) if r.state == state && r.end == s.start => r.end = s.end,
                _ => g.ranges.push(Range {
                    start: s.start,
                    end: s.end,
                    seq: record.seq,
                    state,
                }),
            }
        }
    }

    fn finish(self) -> Vec<Generation> {
        self.gens.into_values().collect()
    }
}

impl ChainVisitor for Lister {
    fn segment_end(&mut self, record: &Record, verified: bool) {
        let state = if verified {
            RangeState::Verified
        } else {
            RangeState::Damaged
        };
        self.add(record, state);
    }

    fn segment_absent(&mut self, record: &Record) {
        self.add(record, RangeState::NotIncluded);
    }
}

/// Verify the store (or medium) at `root` and list its generations.
pub fn list_store(
    root: &Path,
    opts: &VerifyOptions,
) -> Result<(Report, Vec<Generation>), VerifyError> {
    let mut l = Lister::default();
    let report = verify::verify_store_with(root, opts, &mut l)?;
    Ok((report, l.finish()))
}

/// Verify the bundle file at `path` and list its generations.
pub fn list_bundle(
    path: &Path,
    opts: &BundleOptions,
) -> Result<(BundleReport, Vec<Generation>), VerifyError> {
    let mut l = Lister::default();
    let report = bundle::verify_bundle_with(path, opts, &mut l)?;
    Ok((report, l.finish()))
}
