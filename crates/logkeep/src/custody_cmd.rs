//! `logkeep custody add`: add an entry to the custody log of an evidence bundle. The bundle
//! file is never changed (its SHA-256, read out at export, stays checkable): the entry goes to
//! the custody companion beside it, chained to the bundle's SHA-256 and to the entry before.

use crate::no_clobber;
use crate::verify_cmd::{check_fp, phone_form};
use anyhow::{Context, Result, bail};
use logkeep_format::Timestamp;
use logkeep_format::bundle::{self, BundleOptions};
use logkeep_format::shown;
use std::path::{Path, PathBuf};

/// What `logkeep custody add` was given.
pub struct Add {
    /// Bundle file.
    pub bundle: PathBuf,
    /// Who.
    pub actor: String,
    /// What happened.
    pub action: String,
    /// Free text.
    pub note: Option<String>,
    /// The bundle's signing key fingerprint, received out of band.
    pub fingerprint: Option<String>,
    /// The actor's own key, to sign the entry.
    pub key: Option<PathBuf>,
    /// Print JSON.
    pub json: bool,
}

/// `logkeep custody add BUNDLE --actor NAME --action TEXT [--note TEXT] [--key FILE]`: 0 when
/// added, 1 when the bundle or its custody log fails verification (nothing is added), 2 on a
/// usage or I/O error.
pub fn add(a: Add) -> Result<u8> {
    let json = a.json;
    crate::output::json_errors(json, || add_entry(a))
}

fn add_entry(a: Add) -> Result<u8> {
    let Add {
        bundle: path,
        actor,
        action,
        note,
        fingerprint,
        key,
        json,
    } = a;
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
    let key = key.as_deref().map(load_key).transpose()?;
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
        key.as_ref(),
    )
    .with_context(|| format!("{}: cannot add to the custody log", shown::path(&companion)))?;
    let signed_by = key
        .as_ref()
        .map(|k| bundle::fingerprint(&k.verifying_key()));
    if json {
        crate::output::print_json(&serde_json::json!({
            "bundle": shown_bundle,
            "bundle_sha256": bundle_sha256,
            "bundle_changed": false,
            "custody": shown::path(&added.path),
            "custody_sha256": added.companion_sha256,
            "custody_previous_sha256": previous,
            "entry": added.entry,
            "signer_fingerprint": signed_by,
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
        match &signed_by {
            Some(fp) => format!("  signed by the key with fingerprint {fp}"),
            None => "  not signed (--key FILE signs with the actor's own key)".into(),
        },
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

/// The actor's key: an Ed25519 PKCS#8 PEM file that others cannot read (never a key on the
/// command line).
fn load_key(path: &Path) -> Result<ed25519_dalek::SigningKey> {
    use ed25519_dalek::pkcs8::DecodePrivateKey;
    use std::os::unix::fs::PermissionsExt;
    let shown_key = shown::path(path);
    let meta =
        std::fs::metadata(path).with_context(|| format!("--key {shown_key}: cannot read"))?;
    if !meta.is_file() {
        bail!("--key {shown_key}: not a key file");
    }
    if meta.permissions().mode() & 0o077 != 0 {
        bail!(
            "--key {shown_key}: readable by others (mode {:o}); chmod 600 it",
            meta.permissions().mode() & 0o777
        );
    }
    let pem =
        std::fs::read_to_string(path).with_context(|| format!("--key {shown_key}: cannot read"))?;
    ed25519_dalek::SigningKey::from_pkcs8_pem(&pem)
        .map_err(|e| anyhow::anyhow!("--key {shown_key}: not an Ed25519 PKCS#8 PEM key: {e}"))
}
