//! `logkeep export`: seal an evidence bundle from a store directory, or from the running
//! daemon's store once it has sealed what it read, and print what identifies the bundle.

use crate::config;
use crate::control_cmd;
use crate::export;
use crate::verify_cmd::phone_form;
use anyhow::{Context, Result};
use logkeep_format::bundle::Selection;
use std::path::PathBuf;

/// What `logkeep export` was asked, as parsed from its options.
pub struct Request {
    /// Bundle file to write.
    pub out: PathBuf,
    /// Store directory; `None` exports from the running daemon.
    pub store: Option<PathBuf>,
    /// The daemon's control socket.
    pub socket: Option<PathBuf>,
    /// Configuration file.
    pub config: Option<PathBuf>,
    /// Signing key.
    pub key: Option<PathBuf>,
    /// Only segments with reads at or after this time.
    pub since: Option<String>,
    /// Only segments with reads at or before this time.
    pub until: Option<String>,
    /// Only segments holding these sources.
    pub sources: Vec<String>,
    /// Case number.
    pub case: Option<String>,
    /// Evidence number.
    pub evidence: Option<String>,
    /// Who exports.
    pub examiner: Option<String>,
    /// Free text for the custody record.
    pub note: Option<String>,
}

/// `logkeep export`.
pub fn run(request: Request) -> Result<u8> {
    let Request {
        out,
        store,
        socket,
        config,
        key,
        since,
        until,
        sources,
        case,
        evidence,
        examiner,
        note,
    } = request;
    let cfg = config.as_deref().map(config::Config::load).transpose()?;
    let store = match store {
        Some(s) => s,
        None => {
            // From the running daemon: it seals what it has read, then the bundle is
            // made from its store (reading a store is safe while the daemon writes).
            let path = control_cmd::socket_path(socket, config.as_deref())?;
            let (dir, head) = control_cmd::seal(&path).context(
                "cannot export from the running daemon (or export from a store directory with --store DIR)",
            )?;
            eprintln!(
                "the daemon sealed its store {} at record {}",
                dir.display(),
                head.seq
            );
            dir
        }
    };
    let key = key
        .or_else(|| cfg.as_ref().map(|c| c.signing_key.clone()))
        .unwrap_or_else(|| config::DEFAULT_KEY.into());
    let selection = Selection {
        since: since
            .as_deref()
            .map(|t| parse_time("--since", t))
            .transpose()?,
        until: until
            .as_deref()
            .map(|t| parse_time("--until", t))
            .transpose()?,
        sources,
    };
    let args = export::ExportArgs {
        store,
        out: out.clone(),
        key,
        selection,
        case,
        evidence,
        examiner,
        note,
        config: cfg.as_ref().map(|c| (c.file.clone(), c.bytes.clone())),
        inventory: cfg.map(|c| c.inventory).unwrap_or_default(),
    };
    let e = export::export(&args)?;
    println!("bundle:      {}", out.display());
    println!("bundle id:   {}", e.bundle_id);
    println!("sha256:      {}", e.sha256);
    println!("read-out:    {}", phone_form(&e.sha256));
    println!(
        "chain head:  record {} sha256 {} (records {}..={}, {} segment(s))",
        e.head.seq, e.head.hash, e.first_seq, e.head.seq, e.segments
    );
    println!("signing key: {}", e.fingerprint);
    Ok(0)
}

/// `--since`/`--until` as the store writes times (RFC 3339 UTC, nanoseconds); `flag` names the
/// option in the error.
fn parse_time(flag: &str, t: &str) -> Result<String> {
    let st = humantime::parse_rfc3339_weak(t).map_err(|e| {
        anyhow::anyhow!("{flag}: {t:?} is not a time like 2026-11-20T03:00:00Z: {e}")
    })?;
    Ok(logkeep_store::clock::wall_at(st))
}
