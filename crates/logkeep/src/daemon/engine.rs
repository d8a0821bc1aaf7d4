//! `logkeep run`: the capture loop.
//!
//! One thread (the engine) owns the store and the tracker and does all capture work; everything
//! else — signal handling, filesystem notifications, the media copier, the control socket —
//! only sends it [`Wake`] messages through a channel. A wake-up from a notification and a timer
//! tick run the same poll, so a missed or overflowing notification costs at most one scan
//! interval and never a byte. Control requests (status, snapshot, seal) are answered by the
//! engine between polls, so they see and change the store exactly as capture does.
//!
//! Under systemd (`Type=notify`) the engine reports readiness after its first poll, keeps a
//! one-line `STATUS=` current, and pings the watchdog from this loop: a stuck engine is
//! restarted, a busy control socket or a slow medium is not mistaken for one.

use crate::config::Config;
use crate::control::{self, Call, Command};
use anyhow::{Context, Result};
use logkeep_capture::{ChunkSink, Known, SourceSpec, Tracker, TrackerOptions};
use logkeep_format::segment::ChunkOrigin;
use logkeep_format::{Event, HEAD_LEN, Record, Sha256, SourceDecl, TAIL_LEN};
use logkeep_store::{OpenSegment, Replay, Store};
use notify::Watcher;
use serde::Serialize;
use serde_json::json;
use std::collections::VecDeque;
use std::io;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Source id of the host context files a snapshot writes (the `logkeep.` prefix is reserved).
pub const SNAPSHOT_SOURCE: &str = "logkeep.snapshot";
/// How many tamper and loss events `status` keeps.
const MAX_ALERTS: usize = 32;
/// Automatic snapshots (`on_tamper = "snapshot"`) are at least this far apart, so that an
/// intruder truncating logs in a loop cannot make the daemon spend its time on snapshots.
const AUTO_SNAPSHOT_EVERY: Duration = Duration::from_secs(60);

/// Shortest time between two polls that file notifications ask for (timers, signals, media and
/// control requests are not delayed by it).
const MIN_POLL_GAP: Duration = Duration::from_millis(50);

enum Wake {
    Fs,
    Signal(i32),
    /// Something happened to an offline medium that belongs in the chain.
    Media(logkeep_media::replicator::MediaEvent),
    /// A request from the control socket.
    Control(Call),
}

/// A tamper or loss record, kept for `status`.
#[derive(Debug, Clone, Serialize)]
struct Alert {
    seq: u64,
    time: String,
    kind: &'static str,
    source: String,
    path: String,
    what: String,
}

impl Alert {
    fn of(record: &Record) -> Option<Alert> {
        let (source, path, what) = match &record.event {
            Event::Tamper {
                source,
                path,
                what,
                captured,
                size_now,
                ..
            } => (
                source,
                path,
                format!(
                    "{what}: {captured} bytes had been captured, size now {}",
                    size_now.map_or("gone".into(), |s| s.to_string())
                ),
            ),
            Event::Gap {
                source,
                path,
                from,
                reason,
                ..
            } => (
                source,
                path,
                format!("bytes from offset {from} lost: {reason}"),
            ),
            _ => return None,
        };
        Some(Alert {
            seq: record.seq,
            time: record.wall.clone(),
            kind: record.event.kind(),
            source: source.clone(),
            path: path.clone(),
            what,
        })
    }
}

/// Receives chunks from the tracker and turns them into committed segments and records.
struct Pipeline {
    store: Store,
    open: Option<(OpenSegment, Instant)>,
    max_bytes: u64,
    /// Whether a tamper event seals what was read before it at once (the default), so that
    /// the evidence up to the tampering is durable without waiting for the seal interval.
    seal_on_tamper: bool,
    /// Spans made durable since the tracker was last told: (dev, ino, gen, end).
    committed: Vec<(u64, u64, u64, u64)>,
    last_record: Instant,
    /// The newest segment record: (seq, wall time).
    last_seal: Option<(u64, String)>,
    /// The newest tamper and gap records, for `status`.
    alerts: VecDeque<Alert>,
    /// The latest tampering not yet answered by an automatic snapshot (`on_tamper = "snapshot"`).
    tamper_seen: Option<String>,
}

impl Pipeline {
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
        self.last_seal = Some((record.seq, record.wall.clone()));
        self.last_record = Instant::now();
        Ok(())
    }

    fn record(&mut self, event: Event) -> io::Result<Record> {
        self.seal()?;
        self.append(event)
    }

    /// Append an event record without sealing first.
    fn append(&mut self, event: Event) -> io::Result<Record> {
        let r = self.store.append(event).map_err(io::Error::other)?;
        tracing::debug!(seq = r.seq, kind = r.event.kind(), "recorded");
        self.last_record = Instant::now();
        if let Some(a) = Alert::of(&r) {
            // Tampering and loss are what an operator must hear about, in the journal too.
            if a.kind == "gap" {
                tracing::error!(seq = a.seq, source = %a.source, path = %a.path, "loss recorded: {}", a.what);
            } else {
                tracing::warn!(seq = a.seq, source = %a.source, path = %a.path, "tampering recorded: {}", a.what);
                self.tamper_seen = Some(format!(
                    "{} ({}) {} (record {})",
                    a.path, a.source, a.what, a.seq
                ));
            }
            if self.alerts.len() == MAX_ALERTS {
                self.alerts.pop_front();
            }
            self.alerts.push_back(a);
        }
        Ok(r)
    }

    fn abandon(&mut self) {
        if let Some((seg, _)) = self.open.take() {
            seg.abandon();
        }
    }
}

impl ChunkSink for Pipeline {
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
            self.append(event)?;
            return Ok(());
        }
        self.record(event).map(drop)
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

/// Messages to systemd (`Type=notify`); all of them do nothing without `NOTIFY_SOCKET`.
struct Notifier {
    /// Half the watchdog interval, when systemd asked for pings.
    watchdog: Option<Duration>,
    next_ping: Instant,
    last_status: String,
}

impl Notifier {
    fn new() -> Notifier {
        let watchdog = sd_notify::watchdog_enabled().map(|d| d / 2);
        if let Some(w) = watchdog {
            tracing::debug!(every = ?w, "pinging the systemd watchdog");
        }
        Notifier {
            watchdog,
            next_ping: Instant::now(),
            last_status: String::new(),
        }
    }

    fn send(&self, states: &[sd_notify::NotifyState<'_>]) {
        if let Err(e) = sd_notify::notify(states) {
            tracing::debug!("cannot notify systemd: {e}");
        }
    }

    fn status(&mut self, text: String) {
        if text != self.last_status {
            self.send(&[sd_notify::NotifyState::Status(&text)]);
            self.last_status = text;
        }
    }

    /// When the next watchdog ping is due, if any.
    fn deadline(&self) -> Option<Instant> {
        self.watchdog.map(|_| self.next_ping)
    }

    fn ping_if_due(&mut self) {
        if let Some(w) = self.watchdog
            && Instant::now() >= self.next_ping
        {
            self.send(&[sd_notify::NotifyState::Watchdog]);
            self.next_ping = Instant::now() + w;
        }
    }
}

/// What the engine thread owns besides the channel.
struct Engine<'c> {
    config: &'c Config,
    tracker: Tracker,
    pipe: Pipeline,
    media: crate::media_link::MediaLink,
    media_events: Vec<logkeep_media::replicator::MediaEvent>,
    /// Whether the last attempt to write the store failed (retried every scan interval).
    failing: Option<String>,
    started: Instant,
    started_wall: String,
    /// Whether the control socket is served.
    control: bool,
    /// Counters of the syslog listeners.
    syslog: logkeep_syslog::StatusHandle,
    snapshots: u64,
    last_snapshot: Option<serde_json::Value>,
    /// For automatic snapshots: the channel to the engine itself, the thread gathering the
    /// host context, and when the last one started.
    wake: mpsc::Sender<Wake>,
    auto: Option<std::thread::JoinHandle<()>>,
    last_auto: Option<Instant>,
}

impl Engine<'_> {
    /// One poll and whatever sealing is due (everything, with `seal_all`), then the media
    /// records and retention. A store write failure rewinds the tracker: nothing read since the
    /// last commit is lost, the sources still hold it.
    fn step(&mut self, seal_all: bool) -> io::Result<()> {
        let mut result = cycle(&mut self.tracker, &mut self.pipe, self.config, seal_all);
        if result.is_ok() {
            for ev in std::mem::take(&mut self.media_events) {
                if let Err(e) = self.pipe.record(crate::media_link::record_for(ev)) {
                    result = Err(e);
                    break;
                }
            }
        }
        if result.is_ok()
            && let Err(e) = self.media.prune_if_due(&mut self.pipe.store, self.config)
        {
            tracing::error!("retention: {e:#}");
        }
        match &result {
            Ok(()) => {
                if self.failing.take().is_some() {
                    tracing::info!("writing to the store works again");
                }
            }
            Err(e) => {
                tracing::error!("cannot write to the store, will retry: {e}");
                self.pipe.abandon();
                self.tracker.rewind();
                self.failing = Some(e.to_string());
            }
        }
        result
    }

    fn handle(&mut self, call: Call) {
        let kind = match &call.command {
            Command::Status => "status",
            Command::Snapshot { .. } => "snapshot",
            Command::Seal => "seal",
            Command::Eject { .. } => "eject",
        };
        let _span = tracing::info_span!("control", op = kind, uid = call.peer.uid).entered();
        let answer = match call.command {
            Command::Status => Ok(self.status()),
            Command::Seal => self
                .step(true)
                .map_err(|e| format!("cannot seal: the store cannot be written: {e}"))
                .map(|()| {
                    let head = self.pipe.store.head();
                    json!({
                        "store": self.config.store.display().to_string(),
                        "store_id": self.pipe.store.id(),
                        "head": head,
                    })
                }),
            Command::Snapshot {
                reason,
                requested,
                context,
            } => self.snapshot(call.peer, reason, requested, context),
            // Capture pauses while the last copies are made; the copier keeps media in step,
            // so that is normally a moment, and the sources hold the bytes meanwhile.
            Command::Eject { medium } => self
                .step(true)
                .map_err(|e| format!("cannot seal: the store cannot be written: {e}"))
                .and_then(|()| self.media.eject(&medium))
                .map(|head| json!({"medium": medium, "head": head})),
        };
        if let Err(e) = &answer {
            tracing::error!("control request failed: {e}");
        }
        // The client may have gone; its handler then drops the receiver.
        let _ = call.reply.send(answer);
    }

    /// Capture everything the sources hold, seal, write the host context as a segment of its
    /// own, and record the snapshot; reply once all of it is durable.
    fn snapshot(
        &mut self,
        peer: control::Peer,
        reason: Option<String>,
        requested: String,
        context: Vec<(String, Vec<u8>)>,
    ) -> Result<serde_json::Value, String> {
        let fail = |e: &dyn std::fmt::Display| {
            format!("snapshot failed: the store cannot be written: {e}")
        };
        self.step(true).map_err(|e| fail(&e))?;
        let sealed_head = self.pipe.store.head();
        // The id names the snapshot's directory: when it was asked for, and the record that
        // commits its files (unique within the store).
        let context_seq = sealed_head.seq + 1;
        let stamp: String = requested
            .chars()
            .filter(|c| c.is_ascii_digit() || *c == 'T')
            .take(15)
            .collect();
        let id = format!("{stamp}Z-{context_seq}");
        let request = json!({
            "id": id,
            "reason": reason,
            "uid": peer.uid,
            "gid": peer.gid,
            "pid": peer.pid,
            "requester": std::fs::read_to_string(format!("/proc/{}/cmdline", peer.pid))
                .ok()
                .map(|c| c.replace('\0', " ").trim_end().to_owned()),
            "requested": requested,
            "logkeep": env!("CARGO_PKG_VERSION"),
            "daemon_pid": std::process::id(),
            "sealed_through": sealed_head,
            "sources": self.sources_status(),
        });
        let mut files = vec![(
            "request.json".to_owned(),
            serde_json::to_vec_pretty(&request).unwrap_or_default(),
        )];
        files.extend(context);
        let seg = self.pipe.store.begin_segment().map_err(|e| fail(&e))?;
        let mut seg = Some(seg);
        let mut paths = Vec::new();
        for (name, mut bytes) in files {
            if !bytes.ends_with(b"\n") {
                bytes.push(b'\n');
            }
            let path = format!("/logkeep/snapshot/{id}/{name}");
            let now = std::time::SystemTime::now();
            let read_at = logkeep_store::clock::wall_at(now);
            let origin = ChunkOrigin {
                source: SNAPSHOT_SOURCE,
                path: &path,
                dev: 0,
                ino: 0,
                gen_id: self.tracker.reserve_generation(),
                start: 0,
                head: Sha256::of(&bytes[..bytes.len().min(HEAD_LEN as usize)]),
                tail: Sha256::of(&bytes[bytes.len().saturating_sub(TAIL_LEN as usize)..]),
                read_at: &read_at,
                read_unix: logkeep_store::clock::unix_secs(now),
            };
            if let Some(s) = seg.as_mut()
                && let Err(e) = s.append(&origin, &bytes)
            {
                if let Some(s) = seg.take() {
                    s.abandon();
                }
                return Err(fail(&e));
            }
            paths.push(path);
        }
        let Some(seg) = seg else {
            return Err("snapshot failed".into());
        };
        let context_record = self.pipe.store.commit_segment(seg).map_err(|e| fail(&e))?;
        self.pipe.last_seal = Some((context_record.seq, context_record.wall.clone()));
        let record = self
            .pipe
            .append(Event::Snapshot {
                id: id.clone(),
                reason: reason.clone(),
                uid: peer.uid,
                pid: peer.pid,
                requested: requested.clone(),
                context: context_record.seq,
            })
            .map_err(|e| fail(&e))?;
        let head = self.pipe.store.head();
        tracing::warn!(id = %id, seq = record.seq, head = %head.hash, uid = peer.uid, "emergency snapshot recorded");
        self.snapshots += 1;
        let summary = json!({
            "id": id,
            "seq": record.seq,
            "time": record.wall,
            "reason": reason,
            "uid": peer.uid,
            "pid": peer.pid,
        });
        self.last_snapshot = Some(summary);
        Ok(json!({
            "id": id,
            "seq": record.seq,
            "head": head,
            "sealed_through": sealed_head,
            "context": {
                "seq": context_record.seq,
                "source": SNAPSHOT_SOURCE,
                "files": paths,
            },
            "requested": requested,
            "recorded": record.wall,
        }))
    }

    /// With `on_tamper = "snapshot"`: after tampering, take a snapshot as if an administrator
    /// had asked, with the daemon itself as the requester. The host context is gathered on a
    /// thread of its own, which then submits the request like the control socket does.
    fn auto_snapshot_if_due(&mut self) {
        if !self.config.snapshot_on_tamper {
            self.pipe.tamper_seen = None;
            return;
        }
        if self.pipe.tamper_seen.is_none()
            || self.auto.as_ref().is_some_and(|h| !h.is_finished())
            || self
                .last_auto
                .is_some_and(|t| t.elapsed() < AUTO_SNAPSHOT_EVERY)
        {
            return;
        }
        if let Some(h) = self.auto.take() {
            let _ = h.join();
        }
        let Some(what) = self.pipe.tamper_seen.take() else {
            return;
        };
        self.last_auto = Some(Instant::now());
        let peer = control::Peer {
            uid: rustix::process::geteuid().as_raw(),
            gid: rustix::process::getegid().as_raw(),
            pid: std::process::id(),
        };
        let requested = logkeep_store::clock::wall_now();
        let wake = self.wake.clone();
        tracing::warn!("taking an automatic snapshot after tampering: {what}");
        let spawned = std::thread::Builder::new()
            .name("auto-snapshot".into())
            .spawn(move || {
                let context = crate::snapshot::gather();
                // Nobody waits for the answer; the engine logs a failure itself.
                let (reply, _) = mpsc::channel();
                let _ = wake.send(Wake::Control(Call {
                    peer,
                    command: Command::Snapshot {
                        reason: Some(format!("automatic, after tampering: {what}")),
                        requested,
                        context,
                    },
                    reply,
                }));
            });
        match spawned {
            Ok(h) => self.auto = Some(h),
            Err(e) => tracing::error!("cannot start the automatic snapshot: {e}"),
        }
    }

    fn sources_status(&self) -> serde_json::Value {
        let files = self.tracker.files();
        let waiting = self.tracker.waiting();
        let sources: Vec<serde_json::Value> = self
            .config
            .sources
            .iter()
            .map(|s| {
                let files: Vec<serde_json::Value> = files
                    .iter()
                    .filter(|f| f.source == s.id)
                    .map(|f| {
                        json!({
                            "path": f.path,
                            "dev": f.key.0,
                            "ino": f.key.1,
                            "generation": f.gen_id,
                            "position": f.pos,
                            "committed": f.committed,
                            "size": f.size,
                            "lag": f.size.saturating_sub(f.committed),
                        })
                    })
                    .collect();
                let waiting: Vec<serde_json::Value> = waiting
                    .iter()
                    .filter(|w| w.0 == s.id)
                    .map(|(_, path, size)| json!({ "path": path, "size": size }))
                    .collect();
                json!({ "id": s.id, "paths": s.paths, "files": files, "waiting": waiting })
            })
            .collect();
        serde_json::Value::Array(sources)
    }

    fn status(&self) -> serde_json::Value {
        let head = self.pipe.store.head();
        json!({
            "version": env!("CARGO_PKG_VERSION"),
            "pid": std::process::id(),
            "started": self.started_wall,
            "uptime_seconds": self.started.elapsed().as_secs(),
            "config": self.config.file.display().to_string(),
            "store": {
                "path": self.config.store.display().to_string(),
                "id": self.pipe.store.id(),
                "writable": self.failing.is_none(),
                "error": self.failing,
            },
            "chain": {
                "head": head,
                "last_seal": self.pipe.last_seal.as_ref().map(|(seq, time)| json!({"seq": seq, "time": time})),
                "open_segment_bytes": self.pipe.open.as_ref().map(|(s, _)| s.data_bytes()),
            },
            "sources": self.sources_status(),
            "listeners": self.syslog.status(),
            "alerts": self.pipe.alerts.iter().rev().collect::<Vec<_>>(),
            "media": self.media.states(),
            "snapshots": { "count": self.snapshots, "last": self.last_snapshot },
            "control": {
                "socket": self.config.control_socket.display().to_string(),
                "served": self.control,
            },
        })
    }

    /// The one line systemd shows in `systemctl status`.
    fn status_line(&self) -> String {
        let head = self.pipe.store.head();
        match &self.failing {
            Some(e) => format!("STORE WRITES FAILING, retrying: {e}"),
            None => {
                let mut line = format!(
                    "capturing {} file(s) of {} source(s); chain head record {}; {} alert(s)",
                    self.tracker.files().len(),
                    self.config.sources.len(),
                    head.seq,
                    self.pipe.alerts.len()
                );
                let waiting = self.tracker.waiting().len();
                if waiting > 0 {
                    line.push_str(&format!(
                        "; {waiting} file(s) wait for a descriptor (open-file limit)"
                    ));
                }
                line
            }
        }
    }
}

/// After an unclean stop: write-ahead log files that the chain captured further than they now
/// reach. Capture reads a WAL file as soon as its bytes are written, so a power cut between that
/// and the WAL's own fsync leaves the file shorter than its generation in the chain, whose
/// segments were fsynced first: those bytes are not lost, they are in the store. Such a file
/// holds nothing that is not captured, so its generation is closed (`wal-cut`) and the file is
/// marked done for the sweep to delete; following it as a shrunk file would raise a false
/// tamper alarm and capture its bytes a second time. Returns the generations and their records.
fn wal_cut_by_crash(store: &std::path::Path, replay: &Replay) -> Vec<(u64, Event)> {
    let wal = store.join(logkeep_format::layout::WAL_DIR);
    let mut out = Vec::new();
    for (gen_id, g) in &replay.gens {
        let path = std::path::Path::new(&g.path);
        if !path.starts_with(&wal) || !g.path.ends_with(logkeep_syslog::wal::SUFFIX) {
            continue;
        }
        let Ok(meta) = std::fs::symlink_metadata(path) else {
            continue;
        };
        use std::os::unix::fs::MetadataExt;
        if !meta.is_file() || (meta.dev(), meta.ino()) != (g.dev, g.ino) || meta.len() >= g.end {
            continue;
        }
        tracing::warn!(
            path = %g.path,
            captured = g.end,
            size_now = meta.len(),
            "a write-ahead log file lost its last bytes in the crash; the store holds them"
        );
        let mut done = path.as_os_str().to_owned();
        done.push(".done");
        if let Err(e) = std::fs::rename(path, &done) {
            tracing::warn!(path = %g.path, "cannot mark it done: {e}");
        }
        out.push((
            *gen_id,
            Event::Closed {
                source: g.source.clone(),
                path: g.path.clone(),
                dev: g.dev,
                ino: g.ino,
                gen_id: *gen_id,
                end: g.end,
                reason: "wal-cut".into(),
            },
        ));
    }
    out.sort_by_key(|(g, _)| *g);
    out
}

/// Run until SIGTERM or SIGINT.
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

pub fn run(config: &Config) -> Result<()> {
    // The store, media, control socket and signals need a few dozen; each syslog connection one.
    let reserve = 128
        + config
            .sources
            .iter()
            .filter_map(|s| s.listen.as_ref())
            .map(|l| l.max_connections as u64)
            .sum::<u64>();
    let max_open = raise_open_file_limit(reserve);
    let mut notifier = Notifier::new();
    notifier.status("opening the store".into());
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
    let wal_cut = if replay.clean_stop {
        Vec::new()
    } else {
        wal_cut_by_crash(&config.store, &replay)
    };
    // Syslog listeners write into the store's write-ahead log, which the `listen` sources
    // capture as files. They start before capture, under the store's lock, and stop before
    // the last poll (see the loop), so everything received is sealed.
    let listeners: Vec<_> = config
        .sources
        .iter()
        .filter_map(|s| s.listen.clone())
        .collect();
    let mut syslog = logkeep_syslog::Ingest::start(&config.store, &listeners)?;

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
    let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        // Any change, error or overflow only means "look now"; the scan finds the truth. Mere
        // accesses are not changes: a poll's own directory listing is one, and waking on it
        // would make the daemon poll itself in a loop.
        if matches!(&res, Ok(e) if matches!(e.kind, notify::EventKind::Access(_))) {
            return;
        }
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

    let to_known = |gen_id: u64, g: &logkeep_store::GenPos| Known {
        gen_id,
        source: g.source.clone(),
        path: g.path.clone(),
        dev: g.dev,
        ino: g.ino,
        end: g.end,
        head: g.head,
        tail: g.tail,
    };
    let known = replay
        .gens
        .iter()
        .filter(|(gen_id, _)| !wal_cut.iter().any(|(g, _)| g == *gen_id))
        .map(|(gen_id, g)| to_known(*gen_id, g));
    let opts = TrackerOptions {
        watched_before: replay.patterns_ever.clone(),
        max_open,
        ..TrackerOptions::default()
    };
    // Record times as nanoseconds since the epoch; one that cannot be read counts as late,
    // so that the files it concerns are held rather than captured again.
    let ns = |w: &str| {
        humantime::parse_rfc3339(w)
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(i128::MAX, |d| d.as_nanos() as i128)
    };
    let finished = replay
        .finished
        .iter()
        .map(|(gen_id, g, wall)| (to_known(*gen_id, g), ns(wall)))
        .collect();
    let forgotten = replay.finished_forgotten.as_deref().map(ns);
    let tracker =
        Tracker::new(specs, known, replay.max_gen, opts).with_finished(finished, forgotten);

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
    startup.extend(wal_cut.into_iter().map(|(_, e)| e));
    for e in startup {
        store.append(e).context("cannot write to the store")?;
    }

    let mtx = tx.clone();
    let media = crate::media_link::MediaLink::start(config, store.id(), move |ev| {
        let _ = mtx.send(Wake::Media(ev));
    })
    .context("cannot start the media copier")?;

    // The control socket is a convenience next to capture: if it cannot be served, capture
    // goes on and the reason is logged.
    let ctx = tx.clone();
    let socket = &config.control_socket;
    let control = match control::Server::start(
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
    };

    let mut engine = Engine {
        config,
        tracker,
        pipe: Pipeline {
            store,
            open: None,
            max_bytes: config.segment_max_bytes,
            seal_on_tamper: config.seal_on_tamper,
            committed: Vec::new(),
            last_record: Instant::now(),
            last_seal: None,
            alerts: VecDeque::new(),
            tamper_seen: None,
        },
        media,
        media_events: Vec::new(),
        failing: None,
        started: Instant::now(),
        started_wall: logkeep_store::clock::wall_now(),
        control: control.is_some(),
        syslog: syslog.status_handle(),
        snapshots: 0,
        last_snapshot: None,
        wake: tx.clone(),
        auto: None,
        last_auto: None,
    };
    tracing::info!(sources = config.sources.len(), "capturing");
    let mut next_scan = Instant::now();
    let mut stop: Option<i32> = None;
    let mut ready = false;
    let mut calls: Vec<Call> = Vec::new();
    // A file notification asks for a poll, but no sooner than MIN_POLL_GAP after the last one:
    // a writer appending a hundred times a second is then read in a few large chunks rather
    // than in hundreds of small ones, each with a scan, a tar header and a manifest entry.
    let mut fs_pending = false;
    let mut last_step = Instant::now();
    while stop.is_none() {
        let now = Instant::now();
        let mut deadline = next_scan;
        if fs_pending {
            deadline = deadline.min(last_step + MIN_POLL_GAP);
        }
        if let Some((_, opened)) = &engine.pipe.open {
            deadline = deadline.min(*opened + config.seal_interval);
        }
        if let Some(ping) = notifier.deadline() {
            deadline = deadline.min(ping);
        }
        let wait = deadline.saturating_duration_since(now);
        // Whether anything but a control request woke us: only those ask for a poll.
        let mut capture_wake = false;
        let mut take = |w: Wake, capture_wake: &mut bool| match w {
            Wake::Signal(s) => stop = Some(s),
            Wake::Media(ev) => {
                engine.media_events.push(ev);
                *capture_wake = true;
            }
            Wake::Fs => fs_pending = true,
            Wake::Control(call) => calls.push(call),
        };
        let mut disconnected = false;
        match rx.recv_timeout(wait) {
            Ok(w) => take(w, &mut capture_wake),
            Err(mpsc::RecvTimeoutError::Timeout) => capture_wake = true,
            Err(mpsc::RecvTimeoutError::Disconnected) => disconnected = true,
        }
        // Coalesce a burst of notifications into one poll.
        while let Ok(w) = rx.try_recv() {
            take(w, &mut capture_wake);
        }
        if fs_pending && Instant::now() >= last_step + MIN_POLL_GAP {
            capture_wake = true;
        }
        if disconnected {
            stop = Some(0);
        }
        notifier.ping_if_due();
        if stop.is_some() {
            notifier.send(&[
                sd_notify::NotifyState::Stopping,
                sd_notify::NotifyState::Status("stopping: sealing what was read"),
            ]);
        }
        if stop.is_some() {
            // Stop the listeners and fsync what they received before the last poll seals it.
            syslog.shutdown();
        }
        let now = Instant::now();
        let head_before = engine.pipe.store.head();
        if now >= next_scan || (engine.failing.is_none() && (capture_wake || stop.is_some())) {
            next_scan = now + config.scan_interval;
            fs_pending = false;
            last_step = now;
            let result = engine.step(stop.is_some());
            if result.is_ok() {
                // Write-ahead log files that capture is done with can go.
                let t = &engine.tracker;
                syslog.sweep(|| {
                    t.files()
                        .into_iter()
                        .map(|f| (f.key, f.committed))
                        .collect()
                });
            }
            if let Err(e) = result
                && stop.is_some()
            {
                for c in calls.drain(..) {
                    let _ = c.reply.send(Err(format!("the daemon is stopping: {e}")));
                }
                if let Some(c) = control {
                    c.shutdown();
                }
                sig_handle.close();
                let _ = sig_thread.join();
                anyhow::bail!("stopped with unsealed data still in the sources: {e}");
            }
        }
        for call in calls.drain(..) {
            engine.handle(call);
        }
        if stop.is_none() {
            engine.auto_snapshot_if_due();
        }
        if engine.pipe.store.head() != head_before {
            engine.media.committed();
        }
        if !ready {
            ready = true;
            notifier.send(&[sd_notify::NotifyState::Ready]);
        }
        let line = engine.status_line();
        notifier.status(line);
    }
    let signal = stop.unwrap_or(0);
    let reason = match signal {
        signal_hook::consts::SIGTERM => "SIGTERM".to_string(),
        signal_hook::consts::SIGINT => "SIGINT".to_string(),
        n => format!("signal {n}"),
    };
    // Requests still queued are answered "stopping" by their handlers once the channel closes.
    drop(rx);
    if let Some(c) = control {
        c.shutdown();
    }
    let Engine {
        mut pipe,
        media,
        auto,
        ..
    } = engine;
    // A snapshot still gathering finds the channel closed; its thread ends by itself.
    if let Some(h) = auto {
        let _ = h.join();
    }
    media.shutdown();
    pipe.record(Event::Stop {
        reason: reason.clone(),
    })
    .context("cannot record the stop")?;
    drop(watcher);
    sig_handle.close();
    let _ = sig_thread.join();
    let head = pipe.store.head();
    tracing::info!(head = %head.hash, seq = head.seq, "stopped on {reason}; everything read is sealed");
    Ok(())
}

/// One poll, then whatever sealing is due (everything, when `seal_all`).
fn cycle(
    tracker: &mut Tracker,
    pipe: &mut Pipeline,
    config: &Config,
    seal_all: bool,
) -> io::Result<()> {
    let polled = tracker.poll(pipe);
    let committed = std::mem::take(&mut pipe.committed);
    tracker.committed(committed);
    polled?;
    let due = pipe
        .open
        .as_ref()
        .is_some_and(|(_, opened)| opened.elapsed() >= config.seal_interval);
    if due || seal_all {
        pipe.seal()?;
        let committed = std::mem::take(&mut pipe.committed);
        tracker.committed(committed);
    }
    if pipe.open.is_none() && pipe.last_record.elapsed() >= config.heartbeat_interval {
        pipe.record(Event::Heartbeat {})?;
    }
    Ok(())
}
