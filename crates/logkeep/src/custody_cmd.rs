//! `logkeep custody add`: append an entry to an evidence bundle's custody log.

use anyhow::{Context, Result};
use logkeep_format::bundle;
use logkeep_format::segment::esc;
use std::path::PathBuf;

/// `logkeep custody add BUNDLE --actor NAME --action TEXT [--note TEXT]`.
pub fn add(path: PathBuf, actor: String, action: String, note: Option<String>) -> Result<u8> {
    let entry = bundle::append_custody(
        &path,
        &actor,
        &action,
        note.as_deref(),
        &logkeep_store::clock::wall_now(),
    )
    .with_context(|| format!("{}: cannot add to the custody log", path.display()))?;
    println!(
        "custody entry {} added to {} ({} by {})",
        entry.seq,
        path.display(),
        esc(&entry.action),
        esc(&entry.actor)
    );
    Ok(0)
}
