//! Packing a complete run of chain records into one immutable file (layout 2), and settling
//! what a crash during packing left.
//!
//! A record is committed as its own durable file (the commit point stays one `link` of one
//! small file). When the run of records a pack holds (`pack` in `logkeep-store.json`) is
//! complete, [`settle_run`] writes the pack — the records' exact bytes, one per
//! line, in order — durably under its final name, and only then removes the record files it
//! replaces. A crash in between leaves both; the next [`settle_run`] of that run finds the pack,
//! checks that every record file left beside it holds the same bytes as its line, and removes
//! them. Readers accept either ([`logkeep_format::chain::ChainFiles`]). The store and media
//! pack the same way.

use crate::durable;
use logkeep_format::chain::read_record_file;
use logkeep_format::layout::{self, Layout};
use logkeep_format::record::MAX_RECORD_BYTES;
use std::fs::{self, File};
use std::io::{self, BufRead, BufWriter, Read, Write};
use std::path::Path;

/// What [`settle_run`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settled {
    /// Wrote the pack, then removed the run's record files.
    Packed,
    /// Found the pack already written, and removed record files identical to its lines.
    Tidied(usize),
    /// Nothing to do: the pack exists and no record file of its run is left.
    Nothing,
    /// The run is not complete in this directory (a record file is missing): left alone.
    Incomplete,
}

fn invalid(path: &Path, what: String) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("{}: {what}", path.display()),
    )
}

/// Pack the run of records holding record `first` in the store (or medium) at `root`, of
/// layout 2 `lay`, or finish a packing a crash interrupted (see the module documentation). Every
/// record of the run must be committed. A record file that differs from its pack's line is
/// an error (`InvalidData`, naming both): the store is damaged and nothing is removed.
pub fn settle_run(root: &Path, lay: Layout, first: u64) -> io::Result<Settled> {
    let first = lay.pack_first(first);
    let last = lay.pack_last(first);
    let dir = root.join(lay.record_dir(first));
    let Some(prel) = lay.pack_rel(first) else {
        return Ok(Settled::Nothing);
    };
    let pack = root.join(&prel);
    let single = |seq: u64| -> io::Result<Option<Vec<u8>>> {
        let path = root.join(lay.record_rel(seq));
        read_record_file(&path).map_err(|e| match e {
            logkeep_format::chain::ChainError::Io { source, .. } => source,
            other => invalid(&path, other.what()),
        })
    };
    if fs::symlink_metadata(&pack).is_ok() {
        let f = File::open(&pack)?;
        let mut lines = io::BufReader::with_capacity(64 << 10, f);
        let mut line = Vec::new();
        let mut same = Vec::new();
        for seq in first..=last {
            line.clear();
            (&mut lines)
                .take(MAX_RECORD_BYTES + 1)
                .read_until(b'\n', &mut line)?;
            if let Some(bytes) = single(seq)? {
                if bytes != line {
                    return Err(invalid(
                        &root.join(lay.record_rel(seq)),
                        format!(
                            "differs from line {} of {prel}: the store is damaged; run `logkeep verify`",
                            seq - first + 1
                        ),
                    ));
                }
                same.push(seq);
            }
        }
        if same.is_empty() {
            return Ok(Settled::Nothing);
        }
        for seq in &same {
            fs::remove_file(root.join(lay.record_rel(*seq)))?;
        }
        durable::sync_dir(&dir)?;
        return Ok(Settled::Tidied(same.len()));
    }
    if (first..=last).any(|s| fs::symlink_metadata(root.join(lay.record_rel(s))).is_err()) {
        return Ok(Settled::Incomplete);
    }
    let (temp, f) = durable::create_temp(&dir, "pack")?;
    let written = (|| {
        let mut w = BufWriter::with_capacity(256 << 10, f);
        for seq in first..=last {
            let Some(bytes) = single(seq)? else {
                return Err(invalid(
                    &root.join(lay.record_rel(seq)),
                    "removed while its run was packed".into(),
                ));
            };
            // One record, one line: the newline ends it and appears nowhere else.
            if bytes.last() != Some(&b'\n') || bytes[..bytes.len() - 1].contains(&b'\n') {
                return Err(invalid(
                    &root.join(lay.record_rel(seq)),
                    "is not one line: not a record".into(),
                ));
            }
            w.write_all(&bytes)?;
        }
        w.into_inner().map_err(|e| e.into_error())
    })();
    let f = match written {
        Ok(f) => f,
        Err(e) => {
            let _ = fs::remove_file(&temp);
            return Err(e);
        }
    };
    durable::commit_new(f, &temp, &dir, &layout::pack_name(first))?;
    for seq in first..=last {
        fs::remove_file(root.join(lay.record_rel(seq)))?;
    }
    durable::sync_dir(&dir)?;
    Ok(Settled::Packed)
}

/// Settle every run of the shard directory holding record `seq` that ends at or before
/// `head` and still has record files: what a crash during packing (or a packing that failed)
/// left. Lists that one shard directory only.
pub fn settle_shard(
    root: &Path,
    lay: Layout,
    seq: u64,
    head: u64,
) -> io::Result<Vec<(u64, Settled)>> {
    let dir = root.join(lay.record_dir(seq));
    let mut runs = std::collections::BTreeSet::new();
    match fs::read_dir(&dir) {
        Ok(rd) => {
            for e in rd {
                let e = e?;
                if let Some(s) = layout::parse_record_name(&e.file_name().to_string_lossy())
                    && lay.pack_last(s) <= head
                {
                    runs.insert(lay.pack_first(s));
                }
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    }
    let mut out = Vec::new();
    for first in runs {
        out.push((first, settle_run(root, lay, first)?));
    }
    Ok(out)
}
