//! The listing checks of a layout 2 store: what may sit in `chain/` and `segments/` and their
//! shard directories, and the leftovers an interrupted packing may leave.
//!
//! The walk over the records themselves is [`crate::chain::ChainFiles`]; this module checks
//! that nothing else is there: every entry of `chain/` and `segments/` is a shard directory,
//! every entry of a shard is a record, pack or segment of that shard, nothing lies beyond the
//! chain's end, every segment is the one its record commits, and a record file left beside
//! its pack holds the same bytes as the pack's line.

use crate::chain::{ChainError, ChainFiles, read_record_file};
use crate::layout::{self, Layout};
use crate::record::{Event, MAX_RECORD_BYTES, Record};
use crate::shown::text as esc;
use crate::untrusted::{self, Refused};
use crate::verify::{Report, VerifyError, at, check_root_listing, entry_type, not_a_file};
use std::collections::BTreeMap;
use std::io::{BufRead, Read};
use std::path::Path;

/// The shard directories of `dir` (named `rel`), by shard number; every other entry is
/// reported.
fn shard_dirs(
    dir: &Path,
    rel: &str,
    report: &mut Report,
) -> Result<BTreeMap<u64, std::path::PathBuf>, VerifyError> {
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(dir).map_err(at(dir))? {
        let entry = entry.map_err(at(dir))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let erel = format!("{rel}/{}", esc(&name));
        if name.starts_with(layout::TMP_PREFIX) {
            report.note(erel, "left-over temporary file");
            continue;
        }
        let Some(k) = layout::parse_shard_name(&name) else {
            report.problem(erel, "extra file not part of the store");
            continue;
        };
        match entry_type(&entry) {
            Some(t) if t.is_dir() => {
                out.insert(k, entry.path());
            }
            Some(t) => report.problem(
                erel,
                format!(
                    "is {}, not a shard directory (not followed)",
                    untrusted::type_name(t)
                ),
            ),
            None => {}
        }
    }
    Ok(out)
}

/// Check the listing of a layout 2 store whose chain ends at `last` (`chain` and `segments`
/// are `None` when they are not directories, already reported).
pub(crate) fn check_listing(
    root: &Path,
    lay: Layout,
    chain: Option<&Path>,
    segments: Option<&Path>,
    last: u64,
    report: &mut Report,
) -> Result<(), VerifyError> {
    check_root_listing(root, report)?;
    if let Some(chain) = chain {
        for (k, dir) in shard_dirs(chain, layout::CHAIN_DIR, report)? {
            check_chain_shard(root, lay, k, &dir, last, report)?;
        }
    }
    if let (Some(_), Some(segments)) = (chain, segments) {
        for (k, dir) in shard_dirs(segments, layout::SEGMENTS_DIR, report)? {
            check_segment_shard(root, lay, k, &dir, last, report)?;
        }
    }
    Ok(())
}

fn check_chain_shard(
    root: &Path,
    lay: Layout,
    k: u64,
    dir: &Path,
    last: u64,
    report: &mut Report,
) -> Result<(), VerifyError> {
    let srel = format!("{}/{}", layout::CHAIN_DIR, layout::shard_name(k << 16));
    // Packs found, and the single files of each pack's run found beside it.
    let mut packs: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
    let mut singles: Vec<u64> = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(at(dir))? {
        let entry = entry.map_err(at(dir))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let rel = format!("{srel}/{}", esc(&name));
        if name.starts_with(layout::TMP_PREFIX) {
            report.note(rel, "left-over temporary file");
            continue;
        }
        let (seq, pack) = match (layout::parse_record_name(&name), lay.parse_pack_name(&name)) {
            (Some(s), _) => (s, false),
            (None, Some(f)) => (f, true),
            (None, None) => {
                report.problem(rel, "extra file not part of the chain");
                continue;
            }
        };
        if not_a_file(&entry, &rel, report) {
            continue;
        }
        if seq / layout::SHARD_RECORDS != k {
            report.problem(
                rel,
                format!(
                    "belongs to shard {}, not this one",
                    seq / layout::SHARD_RECORDS
                ),
            );
        } else if seq > last + 1 {
            report.problem(
                rel,
                format!(
                    "record {seq} is beyond a break in the chain at {}",
                    last + 1
                ),
            );
        } else if pack {
            packs.entry(seq).or_default();
        } else {
            singles.push(seq);
        }
    }
    for s in singles {
        if let Some(run) = packs.get_mut(&lay.pack_first(s)) {
            run.push(s);
        }
    }
    for (first, mut run) in packs {
        if run.is_empty() {
            continue;
        }
        run.sort_unstable();
        compare_leftovers(root, lay, first, &run, report)?;
    }
    Ok(())
}

/// Record files left beside their pack (an interrupted packing): each must hold exactly its
/// line of the pack.
fn compare_leftovers(
    root: &Path,
    lay: Layout,
    first: u64,
    run: &[u64],
    report: &mut Report,
) -> Result<(), VerifyError> {
    let Some(prel) = lay.pack_rel(first) else {
        return Ok(());
    };
    let ppath = root.join(&prel);
    let (f, _) = match untrusted::open_bounded(&ppath, lay.max_pack_bytes()) {
        Ok(x) => x,
        Err(Refused::Io(e)) => return Err(at(&ppath)(e)),
        // Reported by the walk, which reads the records of this pack from it.
        Err(_) => return Ok(()),
    };
    let mut lines = std::io::BufReader::new(f);
    let mut seq = first;
    for &s in run {
        let mut line = Vec::new();
        while seq <= s {
            line.clear();
            let n = (&mut lines)
                .take(MAX_RECORD_BYTES + 1)
                .read_until(b'\n', &mut line)
                .map_err(at(&ppath))?;
            if n == 0 {
                break;
            }
            seq += 1;
        }
        let rel = lay.record_rel(s);
        let single = match read_record_file(&root.join(&rel)) {
            Ok(Some(b)) => b,
            Ok(None) => continue,
            Err(ChainError::Io { path, source }) => return Err(at(&path)(source)),
            Err(e) => {
                report.problem(rel, e.what());
                continue;
            }
        };
        if seq == s + 1 && single == line {
            report.note(
                rel,
                format!(
                    "also in {prel} (left by an interrupted packing; the daemon removes it on start)"
                ),
            );
        } else {
            report.problem(
                rel,
                format!(
                    "differs from line {} of {prel}, which holds the same record: one of them was changed",
                    s - first + 1
                ),
            );
        }
    }
    Ok(())
}

fn check_segment_shard(
    root: &Path,
    lay: Layout,
    k: u64,
    dir: &Path,
    last: u64,
    report: &mut Report,
) -> Result<(), VerifyError> {
    let srel = format!("{}/{}", layout::SEGMENTS_DIR, layout::shard_name(k << 16));
    let mut wanted: Vec<(u64, String)> = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(at(dir))? {
        let entry = entry.map_err(at(dir))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let rel = format!("{srel}/{}", esc(&name));
        if name.starts_with(layout::TMP_PREFIX) {
            report.note(rel, "left-over temporary file");
            continue;
        }
        let Some((s, _)) = layout::parse_segment_name(&name) else {
            report.problem(rel, "extra file not part of the store");
            continue;
        };
        if not_a_file(&entry, &rel, report) {
            continue;
        }
        if s / layout::SHARD_RECORDS != k {
            report.problem(
                rel,
                format!(
                    "belongs to shard {}, not this one",
                    s / layout::SHARD_RECORDS
                ),
            );
        } else if s == last + 1 {
            report.note(rel, format!("segment {s} follows the chain's end ({last}): a commit interrupted between the segment and its record (a store removes it when it opens, a medium's next copy completes it); not part of the evidence"));
        } else if s > last {
            report.problem(
                rel,
                format!("segment {s} has no record (the chain ends at {last})"),
            );
        } else {
            wanted.push((s, name));
        }
    }
    // One walk over the shard's records, in order, for every segment found in it.
    wanted.sort_unstable();
    let Some(&(from, _)) = wanted.first() else {
        return Ok(());
    };
    let mut walk = ChainFiles::with_layout(root, lay, from);
    let mut found: Option<(u64, Vec<u8>)> = None;
    for (s, name) in wanted {
        let rel = format!("{srel}/{}", esc(&name));
        while walk.next_seq() <= s {
            match walk.next() {
                Some(Ok(f)) if f.seq == s => found = Some((s, f.bytes)),
                Some(Ok(_)) => {}
                _ => break,
            }
        }
        let bytes = found.as_ref().filter(|f| f.0 == s).map(|f| f.1.as_slice());
        match bytes.map(Record::parse) {
            Some(Ok(r)) => match r.event {
                Event::Segment { file, .. } if file == name => {}
                _ => report.problem(rel, format!("not the segment record {s} commits")),
            },
            _ => report.problem(rel, format!("record {s} cannot be read")),
        }
    }
    Ok(())
}
