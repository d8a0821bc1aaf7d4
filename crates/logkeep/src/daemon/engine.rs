//! The engine: the one thread that owns the store and the tracker. Its loop waits for a
//! [`Wake`] or a deadline (scan interval, seal interval, watchdog ping), polls the sources,
//! seals what is due, writes heartbeats and media records, answers control requests, and
//! starts automatic snapshots, until a signal (or the loss of every sender) asks it to stop;
//! [`super::shutdown`] does the rest.

use super::SNAPSHOT_SOURCE;
use super::notify::Wake;
use super::pipeline::Pipeline;
use super::systemd::Notifier;
use crate::config::Config;
use crate::control::{self, Call, Command};
use crate::media_link::MediaLink;
use crate::status::{
    self, ControlStatus, EjectReply, FileStatus, SealReply, SnapshotContext, SnapshotReply,
    SnapshotSummary, Snapshots, SourceStatus, Status, StoreStatus, Summary, UnreadableFile,
    Waiting,
};
use logkeep_capture::Tracker;
use logkeep_format::Timestamp;
use logkeep_format::segment::ChunkOrigin;
use logkeep_format::shown;
use logkeep_format::{Event, HEAD_LEN, Sha256, TAIL_LEN};
use logkeep_media::replicator::MediaEvent;
use serde_json::json;
use std::borrow::Cow;
use std::io;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Automatic snapshots (`on_tamper = "snapshot"`) are at least this far apart, so that an
/// intruder truncating logs in a loop cannot make the daemon spend its time on snapshots.
const AUTO_SNAPSHOT_EVERY: Duration = Duration::from_secs(60);

/// Shortest time between two polls that file notifications ask for (timers, signals, media and
/// control requests are not delayed by it).
const MIN_POLL_GAP: Duration = Duration::from_millis(50);

/// Why the loop ended, and the control requests that arrived with the stop and still wait for
/// an answer.
pub(super) struct Stop {
    /// The signal, or 0 when every sender of wake-ups went away.
    pub(super) signal: i32,
    /// Requests not yet answered.
    pub(super) calls: Vec<Call>,
}

/// What the engine thread owns besides the channel.
pub(super) struct Engine<'c> {
    /// The configuration: the one the daemon started with until a reload replaces it.
    pub(super) config: Cow<'c, Config>,
    pub(super) tracker: Tracker,
    /// The journal sources' reader.
    pub(super) journal: logkeep_journal::Journal,
    /// The files rewritten in place, captured as versions.
    pub(super) versions: logkeep_capture::versions::Versions,
    pub(super) pipe: Pipeline,
    pub(super) media: MediaLink,
    pub(super) media_events: Vec<MediaEvent>,
    /// The syslog listeners: they write into the store's write-ahead log, which capture reads.
    pub(super) syslog: logkeep_syslog::Ingest,
    /// Whether the last attempt to write the store failed (retried every scan interval).
    pub(super) failing: Option<String>,
    pub(super) started: Instant,
    pub(super) started_wall: String,
    /// Whether the control socket is served.
    pub(super) control: bool,
    pub(super) snapshots: u64,
    pub(super) last_snapshot: Option<SnapshotSummary>,
    /// The newest incident drill recorded since start (`status` and the systemd line show it).
    pub(super) last_drill: Option<crate::status::DrillSummary>,
    /// For automatic snapshots: the channel to the engine itself, the thread gathering the
    /// host context, and when the last one started.
    pub(super) wake: mpsc::Sender<Wake>,
    pub(super) auto: Option<JoinHandle<()>>,
    pub(super) last_auto: Option<Instant>,
    /// The sources whose patterns matched no file at the latest poll, as last logged.
    pub(super) unmatched: Vec<String>,
    /// The filesystem watches of the sources a reload configured (those of the start stay
    /// with the other threads).
    pub(super) watcher: Option<notify::RecommendedWatcher>,
}

/// The warning `status` shows for a source: its patterns match no file, and the directories
/// it cannot list (what they hold is not captured).
fn source_warning<'a>(
    unmatched: bool,
    unlisted: impl Iterator<Item = (&'a str, &'a str)>,
) -> Option<String> {
    let mut parts = Vec::new();
    if unmatched {
        parts.push("its patterns match no file: nothing is captured".to_owned());
    }
    for (dir, e) in unlisted {
        parts.push(format!(
            "directory {dir} cannot be listed ({e}): the files in it are not captured"
        ));
    }
    (!parts.is_empty()).then(|| parts.join("; "))
}

impl Engine<'_> {
    /// The loop: returns once a signal arrives or the channel closes, before anything of the
    /// stop is done.
    pub(super) fn serve(&mut self, wakes: &mpsc::Receiver<Wake>, systemd: &mut Notifier) -> Stop {
        tracing::info!(sources = self.config.sources.len(), "capturing");
        let mut next_scan = Instant::now();
        let mut calls: Vec<Call> = Vec::new();
        // A file notification asks for a poll, but no sooner than MIN_POLL_GAP after the last
        // one: a writer appending a hundred times a second is then read in a few large chunks
        // rather than in hundreds of small ones, each with a scan, a tar header and a manifest
        // entry.
        let mut fs_pending = false;
        let mut last_step = Instant::now();
        loop {
            let now = Instant::now();
            let mut deadline = next_scan;
            if fs_pending {
                deadline = deadline.min(last_step + MIN_POLL_GAP);
            }
            if let Some(seal) = self.pipe.seal_deadline(self.config.seal_interval) {
                deadline = deadline.min(seal);
            }
            if let Some(ping) = systemd.deadline() {
                deadline = deadline.min(ping);
            }
            let wait = deadline.saturating_duration_since(now);
            // Whether anything but a control request woke us: only those ask for a poll.
            let mut capture_wake = false;
            let mut stop = None;
            let mut reload = false;
            let mut take = |w: Wake, capture_wake: &mut bool| match w {
                Wake::Signal(signal_hook::consts::SIGHUP) => reload = true,
                Wake::Signal(s) => stop = Some(s),
                Wake::Media(ev) => {
                    self.media_events.push(ev);
                    *capture_wake = true;
                }
                Wake::Fs => fs_pending = true,
                Wake::Control(call) => calls.push(call),
            };
            let mut disconnected = false;
            match wakes.recv_timeout(wait) {
                Ok(w) => take(w, &mut capture_wake),
                Err(mpsc::RecvTimeoutError::Timeout) => capture_wake = true,
                Err(mpsc::RecvTimeoutError::Disconnected) => disconnected = true,
            }
            // Coalesce a burst of notifications into one poll.
            while let Ok(w) = wakes.try_recv() {
                take(w, &mut capture_wake);
            }
            if disconnected {
                stop = Some(0);
            }
            systemd.ping_if_due();
            if let Some(signal) = stop {
                return Stop { signal, calls };
            }
            if reload {
                self.reload(systemd);
            }
            if fs_pending && Instant::now() >= last_step + MIN_POLL_GAP {
                capture_wake = true;
            }
            let now = Instant::now();
            let head_before = self.pipe.store.head();
            if now >= next_scan || (self.failing.is_none() && capture_wake) {
                next_scan = now + self.config.scan_interval;
                fs_pending = false;
                last_step = now;
                let _ = self.step(false);
            }
            for call in calls.drain(..) {
                self.handle(call);
            }
            self.auto_snapshot_if_due();
            self.log_unmatched();
            if self.pipe.store.head() != head_before {
                self.media.committed();
            }
            systemd.ready();
            systemd.status(self.summary().line());
        }
    }

    /// One poll and whatever sealing is due (everything, with `seal_all`), then the media
    /// records and retention, then the sweep of the write-ahead log. A store write failure
    /// rewinds the tracker: nothing read since the last commit is lost, the sources still
    /// hold it.
    pub(super) fn step(&mut self, seal_all: bool) -> io::Result<()> {
        let mut result = self.cycle(seal_all);
        if result.is_ok() {
            for ev in std::mem::take(&mut self.media_events) {
                if let Err(e) = self.pipe.record(crate::media_link::record_for(ev)) {
                    result = Err(e);
                    break;
                }
            }
        }
        if result.is_ok()
            && let Err(e) = self.media.prune_if_due(&mut self.pipe.store, &self.config)
        {
            tracing::error!("retention: {e:#}");
        }
        match &result {
            Ok(()) => {
                if self.failing.take().is_some() {
                    tracing::info!("writing to the store works again");
                }
                // Write-ahead log files that capture is done with can go.
                let t = &self.tracker;
                self.syslog.sweep(|| {
                    t.files()
                        .into_iter()
                        .map(|f| (f.key.into(), f.committed))
                        .collect()
                });
            }
            Err(e) => {
                tracing::error!("cannot write to the store, will retry: {e}");
                self.pipe.abandon();
                self.tracker.rewind();
                self.journal.rewind();
                self.failing = Some(e.to_string());
            }
        }
        result
    }

    /// One poll, then whatever sealing is due (everything, when `seal_all`), then a heartbeat
    /// if nothing was recorded for a while.
    fn cycle(&mut self, seal_all: bool) -> io::Result<()> {
        let polled = self.tracker.poll(&mut self.pipe);
        self.settle();
        polled?;
        let tracker = &mut self.tracker;
        let journaled = self
            .journal
            .poll(&mut self.pipe, &mut || tracker.reserve_generation());
        self.settle();
        journaled?;
        let tracker = &mut self.tracker;
        let versioned = self
            .versions
            .poll(&mut self.pipe, &mut || tracker.reserve_generation());
        self.settle();
        versioned?;
        if seal_all || self.pipe.seal_due(self.config.seal_interval) {
            self.pipe.seal()?;
            self.settle();
        }
        if self.pipe.idle_for(self.config.heartbeat_interval) {
            self.pipe.record(Event::Heartbeat {})?;
            self.pipe.checkpoint()?;
        }
        if self.pipe.epoch_due(self.config.signing_epoch) {
            self.pipe.switch_epoch("the epoch ended")?;
        }
        Ok(())
    }

    /// Tell file capture and the journal reader what was made durable.
    fn settle(&mut self) {
        let spans = self.pipe.take_committed();
        self.journal.committed(&spans);
        self.tracker.committed(spans);
    }

    /// Answer one control request.
    pub(super) fn handle(&mut self, call: Call) {
        let kind = match &call.command {
            Command::Status => "status",
            Command::Snapshot { .. } => "snapshot",
            Command::Seal => "seal",
            Command::Eject { .. } => "eject",
            Command::SignBundle { .. } => "sign_bundle",
            Command::Drill { .. } => "drill",
        };
        let _span = tracing::info_span!("control", op = kind, uid = call.peer.uid).entered();
        let sealed = |e: io::Error| format!("cannot seal: the store cannot be written: {e}");
        let answer = match call.command {
            Command::Status => Ok(status::to_value(&self.status())),
            Command::Seal => self
                .step(true)
                .and_then(|()| self.pipe.checkpoint())
                .map_err(sealed)
                .map(|()| {
                    status::to_value(&SealReply {
                        store: self.config.store.display().to_string(),
                        store_id: self.pipe.store.id().to_owned(),
                        head: self.pipe.store.head(),
                    })
                }),
            Command::Snapshot {
                reason,
                requested,
                context,
            } => self
                .snapshot(call.peer, reason, requested, context)
                .map(|r| status::to_value(&r)),
            // Capture pauses while the last copies are made; the copier keeps media in step,
            // so that is normally a moment, and the sources hold the bytes meanwhile.
            Command::Eject { medium } => self
                .step(true)
                .map_err(sealed)
                .and_then(|()| self.media.eject(&medium))
                .map(|head| status::to_value(&EjectReply { medium, head })),
            Command::SignBundle { sha256, epoch } => self
                .sign_bundle(&sha256, epoch)
                .map(|r| status::to_value(&r)),
            Command::Drill { report } => self
                .record_drill(call.peer, report)
                .map(|r| status::to_value(&r)),
        };
        if let Err(e) = &answer {
            tracing::error!("control request failed: {e}");
        }
        // The client may have gone; its handler then drops the receiver.
        let _ = call.reply.send(answer);
    }

    /// Sign a bundle with the current epoch key, then end the epoch: the key that sealed the
    /// bundle is destroyed right after.
    fn sign_bundle(
        &mut self,
        sums: &logkeep_format::Sha256,
        epoch: u64,
    ) -> Result<control::SignReply, String> {
        let Some(state) = &self.pipe.signer else {
            return Err(
                "this daemon runs without a signing state: nothing can seal a bundle".into(),
            );
        };
        if state.epoch() != epoch {
            return Err(format!(
                "the current epoch is {}, not {epoch} (an epoch ended during the export): export again",
                state.epoch()
            ));
        }
        let text = logkeep_format::seal::bundle_text(sums, epoch);
        let sig = logkeep_format::seal::b64(&state.sign(text.as_bytes()));
        let key = logkeep_format::seal::b64(state.public().as_bytes());
        self.pipe
            .switch_epoch("export")
            .map_err(|e| format!("signed, but cannot end the epoch: {e}"))?;
        Ok(control::SignReply {
            sig,
            key,
            epoch,
            next_epoch: self.pipe.signer.as_ref().map_or(0, |s| s.epoch()),
        })
    }

    /// Record an incident drill's verdict; a failed drill is a warning in the journal, and the
    /// first thing the systemd line says until a drill passes.
    fn record_drill(
        &mut self,
        peer: control::Peer,
        report: crate::status::DrillReport,
    ) -> Result<crate::status::DrillReply, String> {
        let record = self
            .pipe
            .record(Event::Drill {
                verdict: report.verdict.clone(),
                medium: report.medium.clone(),
                bundle: report.bundle,
                verified_ms: report.verified_ms,
                failures: report.failures.clone(),
                uid: peer.uid,
                remote: report.remote.clone(),
            })
            .map_err(|e| format!("cannot record the drill: the store cannot be written: {e}"))?;
        if report.failures.is_empty() {
            tracing::info!(seq = record.seq, uid = peer.uid, "incident drill passed");
        } else {
            tracing::warn!(
                seq = record.seq,
                uid = peer.uid,
                causes = %report.failures.iter().map(|f| shown::text(f).to_string()).collect::<Vec<_>>().join("; "),
                "incident drill FAILED: on the day of an incident the evidence could not be handed over as prepared"
            );
        }
        self.last_drill = Some(crate::status::DrillSummary {
            seq: record.seq,
            time: record.wall.clone(),
            report,
        });
        Ok(crate::status::DrillReply {
            seq: record.seq,
            head: self.pipe.store.head(),
        })
    }

    /// Capture everything the sources hold, seal, seal the host context through the pipeline
    /// as a segment of its own, and record the snapshot; reply once all of it is durable.
    fn snapshot(
        &mut self,
        peer: control::Peer,
        reason: Option<String>,
        requested: String,
        context: Vec<(String, Vec<u8>)>,
    ) -> Result<SnapshotReply, String> {
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
            "sources": status::to_value(&self.sources_status()),
        });
        let mut files = vec![(
            "request.json".to_owned(),
            serde_json::to_vec_pretty(&request).unwrap_or_default(),
        )];
        files.extend(context);
        // Every file ends in a newline, and has a generation of its own under the snapshot's
        // directory; the names and times are made before the origins that borrow them.
        let now = std::time::SystemTime::now();
        let read_at = Timestamp::from(now).to_rfc3339();
        let read_unix = Timestamp::from(now).unix_secs();
        let files: Vec<(String, Vec<u8>, u64)> = files
            .into_iter()
            .map(|(name, mut bytes)| {
                if !bytes.ends_with(b"\n") {
                    bytes.push(b'\n');
                }
                let path = format!("/logkeep/snapshot/{id}/{name}");
                (path, bytes, self.tracker.reserve_generation())
            })
            .collect();
        let chunks = files.iter().map(|(path, bytes, gen_id)| {
            let origin = ChunkOrigin {
                source: SNAPSHOT_SOURCE,
                path,
                dev: 0,
                ino: 0,
                gen_id: *gen_id,
                start: 0,
                head: Sha256::of(&bytes[..bytes.len().min(HEAD_LEN as usize)]),
                tail: Sha256::of(&bytes[bytes.len().saturating_sub(TAIL_LEN as usize)..]),
                read_at: &read_at,
                read_unix,
                cursor: None,
            };
            (origin, bytes.as_slice())
        });
        let context_record = self.pipe.seal_files(chunks).map_err(|e| fail(&e))?;
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
        // An emergency: what happens next must not be signable with the key in use now.
        self.pipe.switch_epoch("snapshot").map_err(|e| fail(&e))?;
        let head = self.pipe.store.head();
        tracing::warn!(id = %id, seq = record.seq, head = %head.hash, uid = peer.uid, "emergency snapshot recorded");
        self.snapshots += 1;
        self.last_snapshot = Some(SnapshotSummary {
            id: id.clone(),
            seq: record.seq,
            time: record.wall.clone(),
            reason,
            uid: peer.uid,
            pid: peer.pid,
        });
        Ok(SnapshotReply {
            id,
            seq: record.seq,
            head,
            sealed_through: sealed_head,
            context: SnapshotContext {
                seq: context_record.seq,
                source: SNAPSHOT_SOURCE.to_owned(),
                files: files.into_iter().map(|(path, _, _)| path).collect(),
            },
            requested,
            recorded: record.wall,
        })
    }

    /// With `on_tamper = "snapshot"`: after tampering, take a snapshot as if an administrator
    /// had asked, with the daemon itself as the requester. The host context is gathered on a
    /// thread of its own, which then submits the request like the control socket does; the
    /// thread is joined before the next one starts and at shutdown.
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
        let requested = Timestamp::now().to_rfc3339();
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

    /// Per configured source, its followed and waiting files.
    fn sources_status(&self) -> Vec<SourceStatus> {
        let files = self.tracker.files();
        let waiting = self.tracker.waiting();
        let unreadable = self.tracker.unreadable();
        let unmatched = self.unmatched_sources();
        let unlisted = self.tracker.unlisted();
        self.config
            .sources
            .iter()
            .map(|s| SourceStatus {
                id: s.id.clone(),
                paths: s.paths.clone(),
                files: files
                    .iter()
                    .filter(|f| f.source == s.id)
                    .map(|f| FileStatus {
                        path: f.path.clone(),
                        dev: f.key.dev,
                        ino: f.key.ino,
                        generation: f.gen_id,
                        position: f.pos,
                        committed: f.committed,
                        size: f.size,
                        lag: f.size.saturating_sub(f.committed),
                    })
                    .collect(),
                waiting: waiting
                    .iter()
                    .filter(|w| w.0 == s.id)
                    .map(|(_, path, size)| Waiting {
                        path: path.clone(),
                        size: *size,
                    })
                    .collect(),
                unreadable: unreadable
                    .iter()
                    .filter(|u| u.source == s.id)
                    .map(|u| UnreadableFile {
                        path: u.path.clone(),
                        dev: u.id.dev,
                        ino: u.id.ino,
                        error: u.error.clone(),
                        since: u.since.to_rfc3339(),
                    })
                    .collect(),
                warning: source_warning(
                    unmatched.contains(&s.id),
                    unlisted
                        .iter()
                        .filter(|(id, ..)| *id == s.id)
                        .map(|(_, dir, e)| (dir.as_str(), e.as_str())),
                ),
            })
            .collect()
    }

    /// The file sources whose patterns matched no file at the latest poll (a syslog source's
    /// write-ahead log may well be empty).
    fn unmatched_sources(&self) -> Vec<String> {
        let mut v = self.tracker.unmatched();
        v.retain(|id| {
            self.config
                .sources
                .iter()
                .any(|s| &s.id == id && s.listen.is_none())
        });
        v
    }

    /// Log the sources that match no file when that changes (at start, after the first poll).
    fn log_unmatched(&mut self) {
        let now = self.unmatched_sources();
        if now == self.unmatched {
            return;
        }
        for id in now.iter().filter(|id| !self.unmatched.contains(id)) {
            let patterns = self
                .config
                .sources
                .iter()
                .find(|s| &s.id == id)
                .map(|s| {
                    s.paths
                        .iter()
                        .map(|p| shown::text(p))
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default();
            tracing::warn!(source = %shown::text(id), "the source's patterns match no file, nothing is captured: {patterns}");
        }
        for id in self.unmatched.iter().filter(|id| !now.contains(id)) {
            tracing::info!(source = %shown::text(id), "the source's patterns match a file again");
        }
        self.unmatched = now;
    }

    /// The counts of [`Engine::status`] that the systemd `STATUS=` line shows.
    fn summary(&self) -> Summary<'_> {
        let remotes = self.media.remotes();
        Summary {
            remotes: remotes.len(),
            remotes_failing: remotes
                .iter()
                .filter(|r| r.state.starts_with("failed"))
                .count(),
            remote_lag: remotes.iter().map(|r| r.behind).max().unwrap_or(0),
            error: self.failing.as_deref(),
            files: self.tracker.files().len(),
            sources: self.config.sources.len(),
            head_seq: self.pipe.store.head().seq,
            alerts: self.pipe.alerts().count(),
            waiting: self.tracker.waiting().len(),
            unreadable: self.tracker.unreadable().len(),
            unmatched: self.unmatched.len(),
            drill_failed: self
                .last_drill
                .as_ref()
                .map(|d| d.report.failures.len())
                .filter(|&n| n > 0),
        }
    }

    /// What `status` answers.
    pub(super) fn status(&self) -> Status {
        Status {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            pid: std::process::id(),
            started: self.started_wall.clone(),
            uptime_seconds: self.started.elapsed().as_secs(),
            config: self.config.file.display().to_string(),
            store: StoreStatus {
                path: self.config.store.display().to_string(),
                id: self.pipe.store.id().to_owned(),
                writable: self.failing.is_none(),
                error: self.failing.clone(),
            },
            chain: status::ChainStatus {
                head: self.pipe.store.head(),
                last_seal: self.pipe.last_seal().cloned(),
                open_segment_bytes: self.pipe.open_bytes(),
            },
            sources: self.sources_status(),
            listeners: self.syslog.status(),
            alerts: self.pipe.alerts().cloned().collect(),
            media: self.media.states(),
            remotes: self.media.remotes(),
            snapshots: Snapshots {
                count: self.snapshots,
                last: self.last_snapshot.clone(),
            },
            control: ControlStatus {
                socket: self.config.control_socket.display().to_string(),
                served: self.control,
            },
            drill: self.last_drill.clone(),
        }
    }
}
