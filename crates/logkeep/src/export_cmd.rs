//! `logkeep export`: seal an evidence bundle from a store directory, or from the running
//! daemon's store once it has sealed what it read, and print what identifies the bundle.

use crate::cli::ExportArgs;
use crate::config;
use crate::control_cmd;
use crate::export;
use crate::no_clobber;
use crate::verify_cmd::phone_form;
use anyhow::{Context, Result};
use logkeep_format::bundle::{self, Selection};
use logkeep_format::shown;
use logkeep_format::{Sha256, Timestamp};
use std::io::Write;
use std::path::{Path, PathBuf};

/// `logkeep export`.
pub fn run(args: ExportArgs) -> Result<u8> {
    let json = args.json;
    crate::output::json_errors(json, || export(args))
}

/// The configuration an export uses: `--config FILE`; none with `--no-config`; else the
/// installed one when it exists, as every other command finds it.
fn find_config(
    config: Option<PathBuf>,
    no_config: bool,
) -> Result<(Option<config::Config>, String)> {
    if let Some(p) = config {
        let c = config::Config::load(&p)?;
        let said = format!("{} (--config)", shown::path(&c.file));
        return Ok((Some(c), said));
    }
    let default = Path::new(crate::cli::DEFAULT_CONFIG);
    if no_config {
        return Ok((None, "none (--no-config)".into()));
    }
    if std::fs::symlink_metadata(default).is_err() {
        return Ok((
            None,
            format!(
                "none ({} does not exist; the bundle holds no inventory or configuration)",
                shown::path(default)
            ),
        ));
    }
    let c = config::Config::load(default).with_context(|| {
        "the installed configuration is used by default (its signing key, inventory and \
         configuration go into the bundle): pass --config FILE, or --no-config to export without it"
    })?;
    let said = format!("{} (installed)", shown::path(&c.file));
    Ok((Some(c), said))
}

fn export(args: ExportArgs) -> Result<u8> {
    let ExportArgs {
        out,
        store,
        socket,
        config,
        no_config,
        force,
        json,
        key,
        since,
        until,
        sources,
        case,
        evidence,
        examiner,
        note,
        incident,
    } = args;
    let incident = match &incident {
        Some(path) => Some(crate::incident::Incident::load(path)?),
        None if !json => crate::incident::Incident::ask()?,
        None => None,
    };
    let (cfg, config_said) = find_config(config, no_config)?;
    // Nothing overwritten: the bundle and its custody companion.
    let key = key
        .or_else(|| cfg.as_ref().map(|c| c.signing_key.clone()))
        .unwrap_or_else(|| config::DEFAULT_KEY.into());
    let mut protected = no_clobber::Protected::new();
    if let Some(c) = &cfg {
        protected.add_config(c);
    }
    protected.add(&key, "the signing key");
    if let Some(s) = &store {
        protected.add(s, "the store");
    }
    let companion = bundle::companion_path(&out);
    no_clobber::check(&out, "--out", force, &protected)?;
    no_clobber::check(
        &companion,
        "--out (its custody companion)",
        force,
        &protected,
    )?;
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
                    export::Sealer::Daemon(control_cmd::socket_path(
                        socket.clone(),
                        cfg.as_ref().map(|c| c.file.as_path()),
                    )?)
                }
                Err(e) => return Err(e),
            };
            (s, sealer)
        }
        None => {
            // From the running daemon: it seals what it has read, then the bundle is
            // made from its store (reading a store is safe while the daemon writes).
            let path = control_cmd::socket_path(socket, cfg.as_ref().map(|c| c.file.as_path()))?;
            let (dir, head) = control_cmd::seal(&path).context(
                "cannot export from the running daemon (or export from a store directory with --store DIR)",
            )?;
            eprintln!(
                "the daemon sealed its store {} at record {}",
                shown::path(&dir),
                head.seq
            );
            protected.add(&dir, "the store");
            no_clobber::check(&out, "--out", force, &protected)?;
            no_clobber::check(
                &companion,
                "--out (its custody companion)",
                force,
                &protected,
            )?;
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
        incident,
        force,
    };
    let e = export::export(&mut args)?;
    // The custody log goes on beside the sealed bundle, chained to its SHA-256: adding to it
    // later never changes the hash read out now.
    let entry = bundle::next_entry(
        &[],
        e.sha256,
        &e.created,
        &e.actor,
        "exported",
        args.note.as_deref(),
        None,
    );
    write_companion(&companion, &entry.to_line(), force)
        .with_context(|| format!("{}: cannot write the custody log", shown::path(&companion)))?;
    if json {
        crate::output::print_json(&serde_json::json!({
            "bundle": shown::path(&out),
            "bundle_id": e.bundle_id,
            "sha256": e.sha256,
            "read_out": phone_form(&e.sha256),
            "custody": shown::path(&companion),
            "custody_sha256": Sha256::of(&entry.to_line()),
            "head": e.head,
            "store_head": e.store_head,
            "first_seq": e.first_seq,
            "segments": e.segments,
            "key": shown::path(&key),
            "key_fingerprint": e.fingerprint,
            "epoch": e.epoch,
            "config": config_said,
        }))?;
        return Ok(0);
    }
    crate::output::print_lines(&[
        format!("bundle:      {}", shown::path(&out)),
        format!("bundle id:   {}", e.bundle_id),
        format!("sha256:      {}", e.sha256),
        format!("read-out:    {}", phone_form(&e.sha256)),
        format!(
            "custody log: {} (entry 1 chained to the sha256 above)",
            shown::path(&companion)
        ),
        format!(
            "chain head:  record {} sha256 {} (records {}..={}, {} segment(s)){}",
            e.head.seq,
            e.head.hash,
            e.first_seq,
            e.head.seq,
            e.segments,
            if e.store_head.seq > e.head.seq {
                format!(
                    "; the range ends at that checkpoint, the store's head is record {}",
                    e.store_head.seq
                )
            } else {
                String::new()
            }
        ),
        format!(
            "signing key: {} (root fingerprint; {}), epoch {} (its secret is now destroyed)",
            e.fingerprint,
            shown::path(&key),
            e.epoch
        ),
        format!("config:      {config_said}"),
    ])?;
    Ok(0)
}

/// Write the companion's first version through a temporary file in its directory.
fn write_companion(path: &Path, bytes: &[u8], force: bool) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let (temp, mut file) = logkeep_store::durable::create_temp(&dir, "custody")?;
    let written = file.write_all(bytes).and_then(|()| file.sync_all());
    if let Err(e) = written {
        let _ = std::fs::remove_file(&temp);
        return Err(e.into());
    }
    drop(file);
    no_clobber::rename(&temp, path, force)?;
    logkeep_store::durable::sync_dir(&dir)?;
    Ok(())
}

/// `--since`/`--until` as the store writes times (RFC 3339 UTC, nanoseconds); `flag` names the
/// option in the error.
fn parse_time(flag: &str, t: &str) -> Result<String> {
    let st = humantime::parse_rfc3339_weak(t).map_err(|e| {
        anyhow::anyhow!("{flag}: {t:?} is not a time like 2026-11-20T03:00:00Z: {e}")
    })?;
    Ok(Timestamp::from(st).to_rfc3339())
}
