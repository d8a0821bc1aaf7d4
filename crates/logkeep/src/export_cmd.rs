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
    let key = key
        .or_else(|| cfg.as_ref().map(|c| c.signing_key.clone()))
        .unwrap_or_else(|| config::DEFAULT_KEY.into());
    let (store, sealer) = match store {
        Some(s) => {
            // Without the daemon this process signs: it locks the signing state and the host's
            // store (where the epoch switch is recorded). With the daemon running both are
            // its, and it signs through the control socket.
            let sealer = match crate::keys::open(&key) {
                Ok(mut state) => {
                    let host = cfg.as_ref().map_or_else(|| s.clone(), |c| c.store.clone());
                    let level = cfg.as_ref().map_or(3, |c| c.compression_level);
                    let (mut host_store, replay) = logkeep_store::Store::open(&host, false, level)
                        .with_context(|| {
                            format!(
                                "cannot open the store at {} to record the epoch switch",
                                logkeep_format::shown::Shown::path(&host)
                            )
                        })?;
                    crate::keys::reconcile(&mut state, &mut host_store, replay.epoch.as_ref())?;
                    // Seal the head first, so that the bundle ends with a checkpoint.
                    crate::keys::checkpoint(&state, &mut host_store)?;
                    export::Sealer::Local {
                        state: Box::new(state),
                        store: Box::new(host_store),
                    }
                }
                Err(e)
                    if e.downcast_ref::<logkeep_seal::SealError>()
                        .is_some_and(|e| matches!(e, logkeep_seal::SealError::Locked { .. })) =>
                {
                    export::Sealer::Daemon(control_cmd::socket_path(socket, config.as_deref())?)
                }
                Err(e) => return Err(e),
            };
            (s, sealer)
        }
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
            (dir, export::Sealer::Daemon(path))
        }
    };
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
    let mut args = export::ExportArgs {
        store,
        out: out.clone(),
        sealer,
        selection,
        case,
        evidence,
        examiner,
        note,
        config: cfg.as_ref().map(|c| (c.file.clone(), c.bytes.clone())),
        inventory: cfg.map(|c| c.inventory).unwrap_or_default(),
    };
    let e = export::export(&mut args)?;
    println!("bundle:      {}", out.display());
    println!("bundle id:   {}", e.bundle_id);
    println!("sha256:      {}", e.sha256);
    println!("read-out:    {}", phone_form(&e.sha256));
    println!(
        "chain head:  record {} sha256 {} (records {}..={}, {} segment(s))",
        e.head.seq, e.head.hash, e.first_seq, e.head.seq, e.segments
    );
    println!(
        "signing key: {} (root fingerprint), epoch {} (its secret is now destroyed)",
        e.fingerprint, e.epoch
    );
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
