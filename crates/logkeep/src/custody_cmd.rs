//! `logkeep custody add`: add an entry to the custody log of an evidence bundle. The bundle
//! file is never changed (its SHA-256, read out at export, stays checkable): the entry goes to
//! the custody companion beside it, chained to the bundle's SHA-256 and to the entry before.

use crate::no_clobber;
use crate::verify_cmd::{check_fp, phone_form};
use anyhow::{Context, Result, bail};
use logkeep_format::Timestamp;
use logkeep_format::bundle::{self, BundleOptions};
use logkeep_format::shown;
use std::path::PathBuf;

/// `logkeep custody add BUNDLE --actor NAME --action TEXT [--note TEXT]`: 0 when added, 1 when
/// the bundle or its custody log fails verification (nothing is added), 2 on a usage or I/O
/// error.
pub fn add(
    path: PathBuf,
    actor: String,
    action: String,
    note: Option<String>,
    fingerprint: Option<String>,
    json: bool,
) -> Result<u8> {
    crate::output::json_errors(json, || {
        add_entry(path, actor, action, note, fingerprint, json)
    })
}

fn add_entry(
    path: PathBuf,
    actor: String,
    action: String,
    note: Option<String>,
    fingerprint: Option<String>,
    json: bool,
) -> Result<u8> {
    if actor.trim().is_empty() {
        bail!("--actor: must name who (a person and an organisation), not be empty");
    }
    if action.trim().is_empty() {
        bail!("--action: must say what happened, not be empty");
    }
    let note = note.filter(|n| !n.trim().is_empty());
    let shown_bundle = shown::path(&path);
    let meta =
        std::fs::symlink_metadata(&path).with_context(|| format!("{shown_bundle}: cannot read"))?;
    if !meta.is_file() {
        bail!("{shown_bundle}: not a bundle file");
    }
    let companion = bundle::companion_path(&path);
    // Appending is not overwriting, but the companion must not be a store's or a key's file.
    no_clobber::check(
        &companion,
        "custody log",
        true,
        &no_clobber::Protected::new(),
    )?;
    let opts = BundleOptions {
        fingerprint: check_fp(fingerprint)?,
        ..Default::default()
    };
    let report = bundle::verify_bundle_file(&path, &opts)?;
    let Some(bundle_sha256) = report.bundle_sha256.filter(|_| report.info.is_some()) else {
        bail!("{shown_bundle}: not a logkeep bundle");
    };
    if !report.ok() {
        let n = report.report.problems.len()
            + report.custody_problems.len()
            + report.companion_problems.len();
        let msg = format!(
            "{shown_bundle}: fails verification ({n} problem(s); see `logkeep verify`): nothing added to its custody log"
        );
        if json {
            crate::output::print_json(&serde_json::json!({"error": msg, "exit": 1}))?;
        }
        eprintln!("logkeep: {msg}");
        return Ok(1);
    }
    let previous = report.companion_sha256;
    let added = bundle::append_companion(
        &path,
        bundle_sha256,
        &Timestamp::now().to_rfc3339(),
        &actor,
        &action,
        note.as_deref(),
    )
    .with_context(|| format!("{}: cannot add to the custody log", shown::path(&companion)))?;
    if json {
        crate::output::print_json(&serde_json::json!({
            "bundle": shown_bundle,
            "bundle_sha256": bundle_sha256,
            "bundle_changed": false,
            "custody": shown::path(&added.path),
            "custody_sha256": added.companion_sha256,
            "custody_previous_sha256": previous,
            "entry": added.entry,
        }))?;
        return Ok(0);
    }
    let e = &added.entry;
    crate::output::print_lines(&[
        format!(
            "custody entry {} added to {}:",
            e.seq,
            shown::path(&added.path)
        ),
        format!(
            "  {}. {}  {}  {}{}",
            e.seq,
            shown::text(&e.time),
            shown::text(&e.actor),
            shown::text(&e.action),
            e.note
                .as_deref()
                .map(|n| format!("  ({})", shown::text(n)))
                .unwrap_or_default()
        ),
        format!(
            "custody log sha256: {} (before: {})",
            added.companion_sha256,
            previous.map_or("none: a new log".into(), |h| h.to_string())
        ),
        format!(
            "bundle sha256:      {bundle_sha256} (unchanged; read-out: {})",
            phone_form(&bundle_sha256)
        ),
    ])?;
    Ok(0)
}
