//! `logkeep media init|list|eject`.

use crate::cli::MediaAction;
use crate::config::Config;
use anyhow::{Context, Result, bail};
use logkeep_format::Event;
use logkeep_media::replicator::{MediaState, MediumState, describe};
use std::sync::atomic::AtomicBool;

/// Run a media subcommand.
pub fn run(action: MediaAction) -> Result<u8> {
    match action {
        MediaAction::Init { path, id, force } => {
            let info = logkeep_media::init(&path, &id, force)?;
            println!(
                "{} is medium {:?} (initialised {})",
                path.display(),
                info.id,
                info.created
            );
            println!(
                "Add it to the configuration as [[media]] id = {:?}, path = {:?}",
                info.id,
                path.display().to_string()
            );
            Ok(0)
        }
        MediaAction::List { config, json } => {
            let c = Config::load(&config)?;
            let store_head = logkeep_media::chain_head(&c.store).ok().flatten();
            let store_id = logkeep_format::verify::read_store_info(&c.store)
                .map(|i| i.store)
                .unwrap_or_default();
            // A running daemon knows what a probe cannot see (an ejected medium, one whose
            // writes fail): its word counts for every medium it reports, so that `media list`
            // and `status` never disagree.
            let daemon = crate::control_cmd::socket_path(None, Some(&config))
                .and_then(|socket| crate::control_cmd::fetch_status(&socket))
                .map(|s| s.media);
            if let Err(e) = &daemon {
                tracing::debug!("media states probed here, not from the daemon: {e:#}");
            }
            let daemon = daemon.unwrap_or_default();
            let mut states = Vec::new();
            for m in &c.media {
                if let Some(s) = daemon.iter().find(|s| s.id == m.id) {
                    states.push(s.clone());
                    continue;
                }
                let presence = logkeep_media::probe(&m.path, &m.id, &store_id);
                let head = logkeep_media::medium_head(&m.path);
                let last_sync = std::fs::metadata(m.path.join(logkeep_format::layout::HEAD_FILE))
                    .and_then(|md| md.modified())
                    .ok()
                    .map(logkeep_store::clock::wall_at);
                states.push(MediumState {
                    id: m.id.clone(),
                    path: m.path.display().to_string(),
                    state: MediaState::from(&presence),
                    head,
                    behind: store_head
                        .map_or(0, |s| s.seq.saturating_sub(head.map_or(0, |h| h.seq))),
                    free_bytes: logkeep_media::free_bytes(&m.path),
                    last_sync,
                });
            }
            if json {
                println!("{}", serde_json::to_string_pretty(&states)?);
                return Ok(0);
            }
            if states.is_empty() {
                println!("no [[media]] configured in {}", config.display());
            }
            for s in &states {
                println!(
                    "{}  {}  {}  head {}  behind {} record(s)  last sync {}  free {}",
                    s.id,
                    s.path,
                    s.state,
                    s.head.map_or("-".into(), |h| h.seq.to_string()),
                    s.behind,
                    s.last_sync.as_deref().unwrap_or("never"),
                    s.free_bytes
                        .map_or("-".into(), |b| bytesize::ByteSize(b).to_string())
                );
            }
            Ok(0)
        }
        MediaAction::Eject { id, config } => {
            let c = Config::load(&config)?;
            let Some(m) = c.media.iter().find(|m| m.id == id) else {
                bail!("{}: no [[media]] with id {id:?}", config.display());
            };
            // With the store lock this process is the only writer; a running daemon holds the
            // lock and must do the eject itself.
            let (mut store, _) =
                match logkeep_store::Store::open(&c.store, false, c.compression_level) {
                    Ok(x) => x,
                    Err(logkeep_store::StoreError::Locked { .. }) => {
                        // The daemon holds the store: it does the eject, through its socket.
                        let socket = crate::control_cmd::socket_path(None, Some(&config))?;
                        return crate::control_cmd::eject(&socket, &id);
                    }
                    Err(e) => return Err(e.into()),
                };
            match logkeep_media::probe(&m.path, &m.id, store.id()) {
                logkeep_media::Presence::Present => {}
                p => bail!("{}: medium {id:?} is {}", m.path.display(), describe(&p)),
            }
            let head = store.head();
            let stop = AtomicBool::new(false);
            let synced = logkeep_media::sync(&c.store, &m.path, head, &stop)
                .with_context(|| format!("cannot finish copying to medium {id:?}"))?;
            logkeep_media::flush(&m.path)?;
            let mhead = synced.head.context("nothing to copy: the store is empty")?;
            store.append(Event::Medium {
                medium: id.clone(),
                what: "detached".into(),
                head: Some(mhead),
                detail: None,
            })?;
            println!(
                "medium {id:?} holds the chain up to record {} sha256 {} ({} records, {} segments copied now)",
                mhead.seq, mhead.hash, synced.records, synced.segments
            );
            println!("flushed: safe to unplug {}", m.path.display());
            Ok(0)
        }
    }
}
