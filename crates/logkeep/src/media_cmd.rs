//! `logkeep media init|list|eject`.

use crate::cli::MediaAction;
use crate::config::Config;
use anyhow::{Context, Result, bail};
use logkeep_format::Event;
use logkeep_format::Timestamp;
use logkeep_format::shown;
use logkeep_media::replicator::{MediaState, MediumState, describe};
use std::path::Path;
use std::sync::atomic::AtomicBool;

/// Run a media subcommand.
pub fn run(action: MediaAction) -> Result<u8> {
    match action {
        MediaAction::Init {
            path,
            id,
            force,
            json,
        } => crate::output::json_errors(json, || init(&path, &id, force, json)),
        MediaAction::List { config, json } => crate::output::json_errors(json, || {
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
                // Ejected (through the daemon before it stopped, or directly on the store) and
                // not written since: as the daemon reports it when it starts.
                let ejected = presence == logkeep_media::Presence::Present
                    && logkeep_media::still_ejected(&c.store, store_head, &m.id, &m.path);
                let last_sync = std::fs::metadata(m.path.join(logkeep_format::layout::HEAD_FILE))
                    .and_then(|md| md.modified())
                    .ok()
                    .map(|t| Timestamp::from(t).to_rfc3339());
                states.push(MediumState {
                    id: m.id.clone(),
                    path: m.path.display().to_string(),
                    state: if ejected {
                        MediaState::Ejected
                    } else {
                        MediaState::from(&presence)
                    },
                    head,
                    behind: store_head
                        .map_or(0, |s| s.seq.saturating_sub(head.map_or(0, |h| h.seq))),
                    free_bytes: logkeep_media::free_bytes(&m.path),
                    last_sync,
                });
            }
            if json {
                crate::output::print_json(&states)?;
                return Ok(0);
            }
            let mut lines = Vec::new();
            if states.is_empty() {
                lines.push(format!(
                    "no [[media]] configured in {}",
                    shown::path(&config)
                ));
            }
            for s in &states {
                lines.push(format!(
                    "{}  {}  {}  head {}  behind {} record(s)  last sync {}  free {}",
                    shown::text(&s.id),
                    shown::text(&s.path),
                    shown::text(&s.state.to_string()),
                    s.head.map_or("-".into(), |h| h.seq.to_string()),
                    s.behind,
                    s.last_sync.as_deref().unwrap_or("never"),
                    s.free_bytes
                        .map_or("-".into(), |b| bytesize::ByteSize(b).to_string())
                ));
            }
            crate::output::print_lines(&lines)?;
            Ok(0)
        }),
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

/// `logkeep media init PATH --id ID`: make the directory a medium and print the configuration
/// lines that name it, as valid TOML with the absolute path.
fn init(path: &Path, id: &str, force: bool, json: bool) -> Result<u8> {
    // A medium is never made inside a store or another medium, nor over a key.
    crate::no_clobber::check_place(path, "PATH", &crate::no_clobber::Protected::new())?;
    let info = logkeep_media::init(path, id, force)?;
    let abs = std::fs::canonicalize(path)
        .with_context(|| format!("{}: cannot resolve", shown::path(path)))?;
    let suggestion = config_lines(&info.id, &abs);
    if json {
        crate::output::print_json(&serde_json::json!({
            "path": shown::path(&abs),
            "id": info.id,
            "created": info.created,
            "config": suggestion.as_ref().ok(),
        }))?;
        return Ok(0);
    }
    let mut lines = vec![format!(
        "{} is medium {} (initialised {})",
        shown::path(&abs),
        shown::text(&info.id),
        shown::text(&info.created)
    )];
    match suggestion {
        Ok(toml) => {
            lines.push("Add it to the configuration:".into());
            lines.extend(toml.lines().map(str::to_owned));
        }
        Err(why) => lines.push(why),
    }
    crate::output::print_lines(&lines)?;
    Ok(0)
}

/// The `[[media]]` table naming medium `id` at `path`, as TOML a configuration takes.
fn config_lines(id: &str, path: &Path) -> std::result::Result<String, String> {
    let Some(p) = path.to_str() else {
        return Err(format!(
            "{} is not valid UTF-8, which a configuration cannot name: mount the disk under another name",
            shown::path(path)
        ));
    };
    let mut medium = toml::Table::new();
    medium.insert("id".into(), toml::Value::String(id.to_owned()));
    medium.insert("path".into(), toml::Value::String(p.to_owned()));
    let mut doc = toml::Table::new();
    doc.insert(
        "media".into(),
        toml::Value::Array(vec![toml::Value::Table(medium)]),
    );
    toml::to_string(&doc).map_err(|e| format!("cannot write the configuration lines: {e}"))
}
