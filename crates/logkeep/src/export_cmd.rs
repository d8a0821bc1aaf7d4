//! `logkeep export`: seal an evidence bundle from a store directory, or from the running
//! daemon's store once it has sealed what it read, and print what identifies the bundle.

use crate::cli::ExportArgs;
use crate::config;
use crate::control_cmd;
use crate::export;
use crate::verify_cmd::phone_form;
use anyhow::{Context, Result};
use logkeep_format::Timestamp;
use logkeep_format::bundle::Selection;

/// `logkeep export`.
pub fn run(args: ExportArgs) -> Result<u8> {
    let ExportArgs {
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
    } = args;
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
    Ok(Timestamp::from(st).to_rfc3339())
}
