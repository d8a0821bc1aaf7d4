//! Everything before the loop: the open-file limit, the store opened and replayed, the syslog
//! write-ahead log recovered after a crash, the tracker rebuilt from the chain, the start and
//! configuration records, and every thread started. Returns the [`Engine`] ready to serve.
//!
//! The conversions between the store's replay (`GenPos`, record times as RFC 3339 text) and
//! what capture wants (`Known`, times as nanoseconds) all live here.

use super::engine::Engine;
use super::notify::{self, Wake};
use super::pipeline::Pipeline;
use super::shutdown::Threads;
use super::systemd::Notifier;
use crate::config::Config;
use crate::control;
use crate::media_link::MediaLink;
use anyhow::{Context, Result};
use logkeep_capture::versions::Versions;
use logkeep_capture::{SourceSpec, Tracker, TrackerOptions};
use logkeep_format::Timestamp;
use logkeep_format::{Event, SourceDecl};
use logkeep_store::{Replay, Store};
use std::sync::mpsc;
use std::time::Instant;

/// What [`start`] hands to the loop.
pub(super) struct Started<'c> {
    /// The engine, with the store, the tracker, the copier and the listeners.
    pub(super) engine: Engine<'c>,
    /// The other threads, to be joined at shutdown.
    pub(super) threads: Threads,
    /// Where every thread's wake-ups arrive.
    pub(super) wakes: mpsc::Receiver<Wake>,
    /// The systemd notification socket.
    pub(super) systemd: Notifier,
}

/// Start the daemon: everything up to the first poll.
pub(super) fn start(config: &Config) -> Result<Started<'_>> {
    // The store, media, control socket and signals need a few dozen; each syslog connection one.
    let reserve = 128
        + config
            .sources
            .iter()
            .filter_map(|s| s.listen.as_ref())
            .map(|l| l.max_connections as u64)
            .sum::<u64>();
    let max_open = raise_open_file_limit(reserve);
    let mut systemd = Notifier::new();
    systemd.status("opening the store".into());
    // The signing state first: a missing or damaged one stops the daemon before it creates
    // or touches the store.
    let mut signer =
        crate::keys::open_configured(config).context("cannot open the signing state")?;
    let new_layout = logkeep_format::layout::Layout::Sharded {
        pack: config.pack_records,
    };
    let (mut store, replay) =
        Store::open_as(&config.store, new_layout, config.compression_level)
            .with_context(|| format!("cannot open the store at {}", config.store.display()))?;
    match &mut signer {
        Some(state) => {
            crate::keys::reconcile(state, &mut store, replay.epoch.as_ref())
                .context("cannot bring the signing state and the chain into agreement")?;
            tracing::info!(epoch = state.epoch(), root = %state.fingerprint(), "sealing with the signing state");
        }
        None => tracing::warn!(
            state = %logkeep_format::shown::Shown::path(&config.signing_key),
            "no signing state: records are chained but NOT SEALED (no checkpoints; verify reports them all as an unsealed tail). Create one with `logkeep keygen` and name it in [signing] key"
        ),
    }
    tracing::info!(
        store = %config.store.display(),
        id = store.id(),
        records = replay.records,
        head = %store.head().hash,
        "store opened"
    );
    if replay.records > 0 && !replay.clean_stop {
        tracing::warn!(
            "the previous run did not stop cleanly; resuming from the last committed record"
        );
    }
    let wal_cut = if replay.clean_stop {
        Vec::new()
    } else {
        wal_cut_by_crash(&config.store, &replay)
    };
    // Syslog listeners write into the store's write-ahead log, which the `listen` sources
    // capture as files. They start before capture, under the store's lock, and stop before
    // the last poll (see the shutdown), so everything received is sealed.
    let listeners: Vec<_> = config
        .sources
        .iter()
        .filter_map(|s| s.listen.clone())
        .collect();
    let syslog = logkeep_syslog::Ingest::start(&config.store, &listeners)?;

    let specs: Vec<SourceSpec> = config
        .sources
        .iter()
        .filter(|s| s.journal.is_none() && !s.rewritten)
        .map(|s| SourceSpec {
            id: s.id.clone(),
            patterns: s.paths.clone(),
        })
        .collect();
    // Threads from here on: each one started is stopped again if a later step fails. Signals
    // are caught before the first record is written, so that a stop asked for from then on is
    // a clean one.
    let (tx, wakes) = mpsc::channel::<Wake>();
    let mut threads = Threads {
        control: None,
        watcher: None,
        signals: Some(start_signals(&tx)?),
    };
    let versions = versions(config, &replay);
    let tracker = tracker(
        specs.clone(),
        &replay,
        &wal_cut,
        max_open,
        &rewritten_ids(config),
    );
    let journal = journal(config, &replay);
    for e in start_records(config, replay.sources.unwrap_or_default(), wal_cut) {
        if let Err(e) = store.append(e) {
            threads.join();
            return Err(anyhow::Error::new(e).context("cannot write to the store"));
        }
    }
    threads.watcher = notify::watch(&specs, tx.clone());
    let mtx = tx.clone();
    let media = match MediaLink::start(config, store.id(), move |ev| {
        let _ = mtx.send(Wake::Media(ev));
    }) {
        Ok(m) => m,
        Err(e) => {
            threads.join();
            return Err(anyhow::Error::new(e).context("cannot start the media copier"));
        }
    };
    threads.control = start_control(config, &tx);

    let engine = Engine {
        config: std::borrow::Cow::Borrowed(config),
        tracker,
        journal,
        versions,
        pipe: Pipeline::new(store, config.segment_max_bytes, config.seal_on_tamper)
            .with_signer(signer),
        media,
        media_events: Vec::new(),
        syslog,
        failing: None,
        started: Instant::now(),
        started_wall: Timestamp::now().to_rfc3339(),
        control: threads.control.is_some(),
        snapshots: 0,
        last_snapshot: None,
        last_drill: None,
        wake: tx,
        auto: None,
        last_auto: None,
        unmatched: Vec::new(),
        watcher: None,
    };
    Ok(Started {
        engine,
        threads,
        wakes,
        systemd,
    })
}

/// The tracker, resuming where the chain says capture was: the open generations (less those
/// a crash cut from the write-ahead log, which are closed), the newest finished ones with the
/// time of their last record, and the patterns ever watched.
fn tracker(
    specs: Vec<SourceSpec>,
    replay: &Replay,
    wal_cut: &[(u64, Event)],
    max_open: usize,
    rewritten: &[String],
) -> Tracker {
    let known = replay
        .gens
        .iter()
        .filter(|(gen_id, _)| !wal_cut.iter().any(|(g, _)| g == *gen_id))
        // Journal generations (positioned by cursor) are the journal reader's, versions of
        // files rewritten in place the version watcher's.
        .filter(|(_, g)| g.cursor.is_none() && !rewritten.contains(&g.source))
        .map(|(gen_id, g)| (*gen_id, g.clone()));
    let opts = TrackerOptions {
        watched_before: replay.patterns_ever.clone(),
        max_open,
        ..TrackerOptions::default()
    };
    // The replay counts a record time that cannot be read as late, so that the files it
    // concerns are held rather than captured again.
    let finished = replay
        .finished
        .iter()
        .filter(|(_, g, _)| g.cursor.is_none() && !rewritten.contains(&g.source))
        .map(|(gen_id, g, wall)| ((*gen_id, g.clone()), *wall))
        .collect();
    Tracker::new(specs, known, replay.max_gen, opts)
        .with_finished(finished, replay.finished_forgotten)
}

/// The ids of the sources whose files are rewritten in place.
fn rewritten_ids(config: &Config) -> Vec<String> {
    config
        .sources
        .iter()
        .filter(|s| s.rewritten)
        .map(|s| s.id.clone())
        .collect()
}

/// The `rewritten` sources, as the version watcher takes them.
pub(super) fn version_specs(config: &Config) -> Vec<SourceSpec> {
    config
        .sources
        .iter()
        .filter(|s| s.rewritten)
        .map(|s| SourceSpec {
            id: s.id.clone(),
            patterns: s.paths.clone(),
        })
        .collect()
}

/// The version watcher of the files rewritten in place, knowing the newest versions the chain
/// holds (and any version a crash left without its `version` record).
fn versions(config: &Config, replay: &Replay) -> Versions {
    let ids = rewritten_ids(config);
    let known = replay
        .finished
        .iter()
        .map(|(gen_id, g, _)| (*gen_id, g))
        .chain(replay.gens.iter().map(|(gen_id, g)| (*gen_id, g)))
        .filter(|(_, g)| ids.contains(&g.source))
        .map(|(gen_id, g)| (gen_id, g.clone()))
        .collect();
    Versions::new(version_specs(config), known, 1 << 20)
}

/// The journal reader: the journal sources, resuming the journal generations the chain was
/// following after their cursors and knowing the journal files it closed.
fn journal(config: &Config, replay: &Replay) -> logkeep_journal::Journal {
    let open = replay
        .gens
        .iter()
        .filter(|(_, g)| g.cursor.is_some())
        .map(|(gen_id, g)| (*gen_id, g.clone()))
        .collect();
    let closed = replay
        .finished
        .iter()
        .filter(|(_, g, _)| g.cursor.is_some())
        .map(|(_, g, _)| g.clone())
        .collect();
    logkeep_journal::Journal::new(journal_specs(config), open, closed, 1 << 20)
}

/// The journal sources of `config`.
pub(super) fn journal_specs(config: &Config) -> Vec<logkeep_journal::JournalSpec> {
    config
        .sources
        .iter()
        .filter_map(|s| s.journal.clone())
        .collect()
}

/// The records a start writes: start, configuration, the sources added and removed since the
/// last configuration recorded (`before`), and the generations a crash cut from the
/// write-ahead log.
fn start_records(
    config: &Config,
    before: Vec<SourceDecl>,
    wal_cut: Vec<(u64, Event)>,
) -> Vec<Event> {
    let mut records = vec![Event::Start {
        version: env!("CARGO_PKG_VERSION").into(),
        pid: std::process::id(),
    }];
    records.extend(config_records(config, &before));
    records.extend(wal_cut.into_iter().map(|(_, e)| e));
    records
}

/// The sources of `config` as a `config` record declares them.
pub(super) fn source_decls(config: &Config) -> Vec<SourceDecl> {
    config
        .sources
        .iter()
        .map(|s| SourceDecl {
            id: s.id.clone(),
            paths: match &s.journal {
                // A journal source declares what it reads: `journal:DIR` and `match:M`.
                Some(j) => j
                    .directories()
                    .iter()
                    .map(|d| format!("journal:{}", d.display()))
                    .chain(j.matches.iter().map(|m| format!("match:{m}")))
                    .collect(),
                None => s.paths.clone(),
            },
            preset: s.preset.clone(),
        })
        .collect()
}

/// The records of a configuration loaded (at start, or reloaded): `config`, then the sources
/// added and removed since the configuration recorded before (`before`).
pub(super) fn config_records(config: &Config, before: &[SourceDecl]) -> Vec<Event> {
    let decls = source_decls(config);
    let mut records = vec![Event::Config {
        path: config.file.display().to_string(),
        sha256: config.sha256,
        sources: decls.clone(),
    }];
    for d in &decls {
        if !before.iter().any(|b| b.id == d.id) {
            records.push(Event::SourceAdded {
                source: d.id.clone(),
            });
        }
    }
    for b in before {
        if !decls.iter().any(|d| d.id == b.id) {
            records.push(Event::SourceRemoved {
                source: b.id.clone(),
            });
        }
    }
    records
}

/// After an unclean stop: the write-ahead log files a crash cut shorter than the chain
/// captured them (see [`logkeep_syslog::wal::cut_by_crash`], which also retires them), and the
/// `closed` record (`wal-cut`) of each one's generation.
fn wal_cut_by_crash(store: &std::path::Path, replay: &Replay) -> Vec<(u64, Event)> {
    let captured = replay
        .gens
        .iter()
        .map(|(gen_id, g)| logkeep_syslog::wal::Captured {
            gen_id: *gen_id,
            path: &g.path,
            dev: g.dev,
            ino: g.ino,
            end: g.end,
        });
    logkeep_syslog::wal::cut_by_crash(store, captured)
        .into_iter()
        .filter_map(|gen_id| {
            let g = replay.gens.get(&gen_id)?;
            Some((
                gen_id,
                Event::Closed {
                    source: g.source.clone(),
                    path: g.path.clone(),
                    dev: g.dev,
                    ino: g.ino,
                    gen_id,
                    end: g.end,
                    reason: "wal-cut".into(),
                },
            ))
        })
        .collect()
}

/// The thread that turns SIGTERM, SIGINT (stop) and SIGHUP (reload) into wake-ups, and the
/// handle that ends it.
fn start_signals(
    tx: &mpsc::Sender<Wake>,
) -> Result<(signal_hook::iterator::Handle, std::thread::JoinHandle<()>)> {
    let mut signals = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGHUP,
    ])
    .context("cannot install signal handlers")?;
    let handle = signals.handle();
    let stx = tx.clone();
    let thread = std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            for s in signals.forever() {
                if stx.send(Wake::Signal(s)).is_err() {
                    break;
                }
            }
        })?;
    Ok((handle, thread))
}

/// Serve the control socket. It is a convenience next to capture: if it cannot be served,
/// capture goes on and the reason is logged.
fn start_control(config: &Config, tx: &mpsc::Sender<Wake>) -> Option<control::Server> {
    let ctx = tx.clone();
    let socket = &config.control_socket;
    match control::Server::start(
        socket,
        control::Access::new(config.control_group.clone()),
        move |call| ctx.send(Wake::Control(call)).is_ok(),
    ) {
        Ok(s) => {
            tracing::info!(socket = %socket.display(), "control socket ready");
            Some(s)
        }
        Err(e) => {
            let dir_missing = socket.parent().is_some_and(|d| !d.exists());
            if dir_missing {
                tracing::warn!(socket = %socket.display(), "control socket not served: its directory does not exist ({e}); `status` and `snapshot` are unavailable, capture goes on");
            } else {
                tracing::error!(socket = %socket.display(), "control socket not served: {e}; `status` and `snapshot` are unavailable, capture goes on");
            }
            None
        }
    }
}

/// logkeep keeps one descriptor open per followed file (so a renamed or deleted file is read
/// to its end), and a gateway may have thousands. Services and shells start with a soft limit
/// of 1024 and a far higher hard limit; raise the soft limit to the hard one, as the kernel
/// allows any process to.
///
/// Returns how many files capture may keep open: the limit less `reserve`, what the store, the
/// media copies, the control socket and syslog connections need (and at least half of it).
fn raise_open_file_limit(reserve: u64) -> usize {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let lim = getrlimit(Resource::Nofile);
    let mut now = lim.current;
    if lim.current.is_some() && lim.current != lim.maximum {
        let want = Rlimit {
            current: lim.maximum,
            maximum: lim.maximum,
        };
        match setrlimit(Resource::Nofile, want) {
            Ok(()) => {
                tracing::debug!(from = ?lim.current, to = ?lim.maximum, "raised the open-file limit");
                now = lim.maximum;
            }
            Err(e) => tracing::warn!(limit = ?lim.current, "cannot raise the open-file limit: {e}"),
        }
    }
    match now {
        Some(n) => usize::try_from(n.saturating_sub(reserve).max(n / 2)).unwrap_or(usize::MAX),
        None => usize::MAX,
    }
}
