//! `logkeep run`: the capture loop.
//!
//! One thread owns the store and the tracker and does all capture work; everything else (signal
//! handling, filesystem notifications) only wakes it through a channel. A wake-up from a
//! notification and a timer tick run the same poll, so a missed or overflowing notification
//! costs at most one scan interval and never a byte.

use crate::config::Config;
use anyhow::{Context, Result};
use logkeep_capture::{ChunkSink, Known, SourceSpec, Tracker, TrackerOptions};
use logkeep_format::segment::ChunkOrigin;
use logkeep_format::{Event, SourceDecl};
use logkeep_store::{OpenSegment, Store};
use notify::Watcher;
use std::io;
use std::sync::mpsc;
use std::time::Instant;

enum Wake {
    Fs,
    Signal(i32),
    /// Something happened to an offline medium that belongs in the chain.
    Media(logkeep_media::replicator::MediaEvent),
}

/// Receives chunks from the tracker and turns them into committed segments and records.
struct Pipeline<'s> {
    store: &'s mut Store,
    open: Option<(OpenSegment, Instant)>,
    max_bytes: u64,
    /// Whether a tamper event seals what was read before it at once (the default), so that
    /// the evidence up to the tampering is durable without waiting for the seal interval.
    seal_on_tamper: bool,
    /// Spans made durable since the tracker was last told: (dev, ino, gen, end).
    committed: Vec<(u64, u64, u64, u64)>,
    last_record: Instant,
}

impl Pipeline<'_> {
    fn seal(&mut self) -> io::Result<()> {
        let Some((seg, _)) = self.open.take() else {
            return Ok(());
        };
        if seg.is_empty() {
            seg.abandon();
            return Ok(());
        }
        let record = self.store.commit_segment(seg).map_err(io::Error::other)?;
        if let Event::Segment { spans, file, .. } = &record.event {
            let bytes: u64 = spans.iter().map(|s| s.end - s.start).sum();
            tracing::info!(seq = record.seq, segment = %file, bytes, "sealed");
            self.committed
                .extend(spans.iter().map(|s| (s.dev, s.ino, s.gen_id, s.end)));
        }
        self.last_record = Instant::now();
        Ok(())
    }

    fn record(&mut self, event: Event) -> io::Result<()> {
        self.seal()?;
        let r = self.store.append(event).map_err(io::Error::other)?;
        tracing::debug!(seq = r.seq, kind = r.event.kind(), "recorded");
        self.last_record = Instant::now();
        Ok(())
    }

    fn abandon(&mut self) {
        if let Some((seg, _)) = self.open.take() {
            seg.abandon();
        }
    }
}

impl ChunkSink for Pipeline<'_> {
    fn chunk(&mut self, origin: &ChunkOrigin<'_>, data: &[u8]) -> io::Result<()> {
        if self.open.is_none() {
            let seg = self.store.begin_segment().map_err(io::Error::other)?;
            self.open = Some((seg, Instant::now()));
        }
        if let Some((seg, _)) = self.open.as_mut() {
            seg.append(origin, data)?;
            if seg.data_bytes() >= self.max_bytes {
                self.seal()?;
            }
        }
        Ok(())
    }

    fn notice(&mut self, event: Event) -> io::Result<()> {
        if matches!(event, Event::Tamper { .. }) && !self.seal_on_tamper {
            // Record only: the open segment is sealed when it is due, after this record.
            let r = self.store.append(event).map_err(io::Error::other)?;
            tracing::debug!(seq = r.seq, "recorded tampering without sealing");
            self.last_record = Instant::now();
            return Ok(());
        }
        self.record(event)
    }
}

fn watch_dirs(sources: &[SourceSpec]) -> Vec<(std::path::PathBuf, notify::RecursiveMode)> {
    let mut out = Vec::new();
    for s in sources {
        for p in &s.patterns {
            let path = std::path::Path::new(p);
            let mut base = std::path::PathBuf::new();
            let mut rest = 0;
            for c in path.components() {
                let t = c.as_os_str().to_string_lossy();
                if rest > 0 || t.contains(['*', '?', '[']) {
                    rest += 1;
                } else {
                    base.push(c);
                }
            }
            // `base` is the file itself when there is no wildcard: watch its directory.
            let (dir, mode) = match rest {
                0 => (
                    base.parent().map(|p| p.to_path_buf()).unwrap_or(base),
                    notify::RecursiveMode::NonRecursive,
                ),
                1 => (base, notify::RecursiveMode::NonRecursive),
                _ => (base, notify::RecursiveMode::Recursive),
            };
            if !out.iter().any(|(d, _)| d == &dir) {
                out.push((dir, mode));
            }
        }
    }
    out
}

/// Run until SIGTERM or SIGINT.
pub fn run(config: &Config) -> Result<()> {
    let (mut store, replay) = Store::open(&config.store, true, config.compression_level)
        .with_context(|| format!("cannot open the store at {}", config.store.display()))?;
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

    let (tx, rx) = mpsc::channel::<Wake>();
    let mut signals = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGINT,
    ])
    .context("cannot install signal handlers")?;
    let sig_handle = signals.handle();
    let stx = tx.clone();
    let sig_thread = std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            for s in signals.forever() {
                if stx.send(Wake::Signal(s)).is_err() {
                    break;
                }
            }
        })?;

    let specs: Vec<SourceSpec> = config
        .sources
        .iter()
        .map(|s| SourceSpec {
            id: s.id.clone(),
            patterns: s.paths.clone(),
        })
        .collect();
    let ftx = tx.clone();
    let mut watcher = notify::recommended_watcher(move |_res: notify::Result<notify::Event>| {
        // Any event, error or overflow only means "look now"; the scan finds the truth.
        let _ = ftx.send(Wake::Fs);
    })
    .ok();
    if let Some(w) = watcher.as_mut() {
        for (dir, mode) in watch_dirs(&specs) {
            if let Err(e) = w.watch(&dir, mode) {
                tracing::debug!(dir = %dir.display(), "not watched, polling only: {e}");
            }
        }
    }

    let known = replay.gens.iter().map(|(gen_id, g)| Known {
        gen_id: *gen_id,
        source: g.source.clone(),
        path: g.path.clone(),
        dev: g.dev,
        ino: g.ino,
        end: g.end,
        head: g.head,
    });
    let mut tracker = Tracker::new(specs, known, replay.max_gen, TrackerOptions::default());

    let decls: Vec<SourceDecl> = config
        .sources
        .iter()
        .map(|s| SourceDecl {
            id: s.id.clone(),
            paths: s.paths.clone(),
        })
        .collect();
    let mut startup = vec![
        Event::Start {
            version: env!("CARGO_PKG_VERSION").into(),
            pid: std::process::id(),
        },
        Event::Config {
            path: config.file.display().to_string(),
            sha256: config.sha256,
            sources: decls.clone(),
        },
    ];
    let before = replay.sources.unwrap_or_default();
    for d in &decls {
        if !before.iter().any(|b| b.id == d.id) {
            startup.push(Event::SourceAdded {
                source: d.id.clone(),
            });
        }
    }
    for b in &before {
        if !decls.iter().any(|d| d.id == b.id) {
            startup.push(Event::SourceRemoved {
                source: b.id.clone(),
            });
        }
    }
    for e in startup {
        store.append(e).context("cannot write to the store")?;
    }

    let mtx = tx.clone();
    let mut media = crate::media_link::MediaLink::start(config, store.id(), move |ev| {
        let _ = mtx.send(Wake::Media(ev));
    })
    .context("cannot start the media copier")?;
    let mut media_events = Vec::new();
    let mut pipe = Pipeline {
        store: &mut store,
        open: None,
        max_bytes: config.segment_max_bytes,
        seal_on_tamper: config.seal_on_tamper,
        committed: Vec::new(),
        last_record: Instant::now(),
    };
    tracing::info!(sources = config.sources.len(), "capturing");
    let mut next_scan = Instant::now();
    let mut stop: Option<i32> = None;
    let mut failing = false;
    while stop.is_none() {
        let now = Instant::now();
        let mut deadline = next_scan;
        if let Some((_, opened)) = &pipe.open {
            deadline = deadline.min(*opened + config.seal_interval);
        }
        let wait = deadline.saturating_duration_since(now);
        match rx.recv_timeout(wait) {
            Ok(Wake::Signal(s)) => stop = Some(s),
            Ok(Wake::Media(ev)) => media_events.push(ev),
            Ok(Wake::Fs) | Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => stop = Some(0),
        }
        // Coalesce a burst of notifications into one poll.
        while let Ok(w) = rx.try_recv() {
            match w {
                Wake::Signal(s) => stop = Some(s),
                Wake::Media(ev) => media_events.push(ev),
                Wake::Fs => {}
            }
        }
        let now = Instant::now();
        if now >= next_scan || !failing {
            next_scan = now + config.scan_interval;
            let head_before = pipe.store.head();
            let mut result = cycle(&mut tracker, &mut pipe, config, stop.is_some());
            if result.is_ok() {
                for ev in std::mem::take(&mut media_events) {
                    if let Err(e) = pipe.record(crate::media_link::record_for(ev)) {
                        result = Err(e);
                        break;
                    }
                }
            }
            if result.is_ok()
                && let Err(e) = media.prune_if_due(pipe.store, config)
            {
                tracing::error!("retention: {e:#}");
            }
            if pipe.store.head() != head_before {
                media.committed();
            }
            match result {
                Ok(()) => {
                    if failing {
                        tracing::info!("writing to the store works again");
                    }
                    failing = false;
                }
                Err(e) => {
                    // Nothing read since the last commit is lost: the tracker rewinds and the
                    // sources still hold the bytes.
                    tracing::error!("cannot write to the store, will retry: {e}");
                    pipe.abandon();
                    tracker.rewind();
                    failing = true;
                    if stop.is_some() {
                        sig_handle.close();
                        let _ = sig_thread.join();
                        anyhow::bail!("stopped with unsealed data still in the sources: {e}");
                    }
                }
            }
        }
    }
    let signal = stop.unwrap_or(0);
    let reason = match signal {
        signal_hook::consts::SIGTERM => "SIGTERM".to_string(),
        signal_hook::consts::SIGINT => "SIGINT".to_string(),
        n => format!("signal {n}"),
    };
    media.shutdown();
    pipe.record(Event::Stop {
        reason: reason.clone(),
    })
    .context("cannot record the stop")?;
    drop(watcher);
    sig_handle.close();
    let _ = sig_thread.join();
    tracing::info!(head = %store.head().hash, seq = store.head().seq, "stopped on {reason}; everything read is sealed");
    Ok(())
}

/// One poll, then whatever sealing is due (everything, when stopping).
fn cycle(
    tracker: &mut Tracker,
    pipe: &mut Pipeline<'_>,
    config: &Config,
    stopping: bool,
) -> io::Result<()> {
    let polled = tracker.poll(pipe);
    let committed = std::mem::take(&mut pipe.committed);
    tracker.committed(committed);
    polled?;
    let due = pipe
        .open
        .as_ref()
        .is_some_and(|(_, opened)| opened.elapsed() >= config.seal_interval);
    if due || stopping {
        pipe.seal()?;
        let committed = std::mem::take(&mut pipe.committed);
        tracker.committed(committed);
    }
    if pipe.open.is_none() && pipe.last_record.elapsed() >= config.heartbeat_interval {
        pipe.record(Event::Heartbeat {})?;
    }
    Ok(())
}
