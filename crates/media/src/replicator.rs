//! The replication engine: one thread that keeps every target in step with the store — each
//! configured medium (a directory on a disk that comes and goes) and each remote (an S3
//! bucket with Object Lock, [`crate::remote`]) — notices targets coming, going and failing,
//! and reports the changes worth a chain record. Both kinds copy the same list of committed
//! files ([`crate::committed`]); they differ only in how a file is written and read back.
//!
//! It only reads the store (committed files never change) and writes the media; chain records
//! about media are written by the daemon's engine thread, which owns the store, from the
//! [`MediaEvent`]s this thread sends. Routine copies produce no event — otherwise every copy
//! would make a record that needs copying.

use crate::remote::{RemoteSpec, RemoteState};
use crate::{Presence, Synced};
use logkeep_format::Timestamp;
use logkeep_format::layout::Head;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// A configured medium.
#[derive(Debug, Clone)]
pub struct MediumSpec {
    /// Id.
    pub id: String,
    /// Mount point.
    pub path: PathBuf,
}

/// The kind of target an event is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetKind {
    /// A medium (`medium` records).
    Medium,
    /// A remote (`remote` records).
    Remote,
}

/// A change worth a chain record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaEvent {
    /// What kind of target.
    pub kind: TargetKind,
    /// Medium (or remote) id.
    pub medium: String,
    /// A medium: `attached`, `caught_up`, `missing`, `failed`, `recovered`, `detached` or
    /// `rolled_back`; a remote: `reachable`, `caught_up`, `failed` or `recovered`.
    pub what: &'static str,
    /// The medium's head.
    pub head: Option<Head>,
    /// Details.
    pub detail: Option<String>,
}

/// A medium's state, for `logkeep media list` and `status`. Every `Option` member must be
/// present in the JSON (as `null` when empty): a client reading an answer with a member
/// missing or renamed gets an error, not a silent `null`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediumState {
    /// Id.
    pub id: String,
    /// Mount point.
    pub path: String,
    /// Whether the medium can be written to, and if not why.
    pub state: MediaState,
    /// Head of the copy.
    #[serde(deserialize_with = "Option::deserialize")]
    pub head: Option<Head>,
    /// Records the copy is behind the store.
    pub behind: u64,
    /// Free space on the medium, bytes.
    #[serde(deserialize_with = "Option::deserialize")]
    pub free_bytes: Option<u64>,
    /// When the last copy finished, RFC 3339 UTC.
    #[serde(deserialize_with = "Option::deserialize")]
    pub last_sync: Option<String>,
}

/// What a medium is to the copier. In JSON it is the one line an operator reads (`present`,
/// `absent`, `uninitialised (run ...)`, `foreign: WHY`, `failed: WHY`, `ejected (safe to
/// unplug)`), the form `status --json` and `media list --json` have always had; reading any
/// other text back is an error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum MediaState {
    /// The expected medium, written to.
    Present,
    /// Nothing there (not mounted, or the NAS is down).
    Absent,
    /// A directory without a medium identity: never written to.
    Uninitialised,
    /// Another medium, or another store's copy: never written to.
    Foreign(String),
    /// Writing failed (the medium is full, or an I/O error); retried when it has more room.
    Failed(String),
    /// Flushed and detached by `logkeep media eject`: not written to until it is unplugged.
    Ejected,
}

const UNINITIALISED: &str = "uninitialised (run `logkeep media init`)";
const EJECTED: &str = "ejected (safe to unplug)";

impl std::fmt::Display for MediaState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MediaState::Present => f.write_str("present"),
            MediaState::Absent => f.write_str("absent"),
            MediaState::Uninitialised => f.write_str(UNINITIALISED),
            MediaState::Foreign(why) => write!(f, "foreign: {why}"),
            MediaState::Failed(why) => write!(f, "failed: {why}"),
            MediaState::Ejected => f.write_str(EJECTED),
        }
    }
}

impl From<MediaState> for String {
    fn from(s: MediaState) -> String {
        s.to_string()
    }
}

impl TryFrom<String> for MediaState {
    type Error = String;

    fn try_from(s: String) -> Result<MediaState, String> {
        Ok(match s.as_str() {
            "present" => MediaState::Present,
            "absent" => MediaState::Absent,
            UNINITIALISED => MediaState::Uninitialised,
            EJECTED => MediaState::Ejected,
            _ => {
                if let Some(why) = s.strip_prefix("foreign: ") {
                    MediaState::Foreign(why.to_owned())
                } else if let Some(why) = s.strip_prefix("failed: ") {
                    MediaState::Failed(why.to_owned())
                } else {
                    return Err(format!("unknown medium state {s:?}"));
                }
            }
        })
    }
}

impl From<&Presence> for MediaState {
    fn from(p: &Presence) -> MediaState {
        match p {
            Presence::Present => MediaState::Present,
            Presence::Absent => MediaState::Absent,
            Presence::Uninitialised => MediaState::Uninitialised,
            Presence::Foreign(why) => MediaState::Foreign(why.clone()),
        }
    }
}

/// How long a failed medium is left alone when its free space does not grow.
const RETRY_AFTER: Duration = Duration::from_secs(300);

enum Cmd {
    Wake,
    Eject(String, Sender<Result<Head, String>>),
}

struct Slot {
    spec: MediumSpec,
    present: bool,
    failed: Option<String>,
    /// Free space when the last copy failed, and when: a retry waits for more room or time.
    failed_at: Option<(Option<u64>, std::time::Instant)>,
    ejected: bool,
    catching_up: bool,
    state: MediumState,
}

/// A remote, as the engine keeps it.
struct RemoteSlot {
    spec: RemoteSpec,
    client: Option<logkeep_remote::Client>,
    /// Where the remote stands, as its listing said and uploads since advanced it; `None`:
    /// list it again (at start and after every failure).
    known: Option<Option<Head>>,
    contacted: bool,
    failed: Option<String>,
    failures: u32,
    retry_at: std::time::Instant,
    catching_up: bool,
    state: RemoteState,
}

/// The longest wait between two attempts at a failing remote.
const REMOTE_BACKOFF_MAX: Duration = Duration::from_secs(60);

/// Handle to the copier thread.
pub struct Replicator {
    tx: Sender<Cmd>,
    stop: Arc<AtomicBool>,
    states: Arc<Mutex<Vec<MediumState>>>,
    remote_states: Arc<Mutex<Vec<RemoteState>>>,
    thread: Option<JoinHandle<()>>,
}

impl Replicator {
    /// Start copying the store at `store` (id `store_id`) to `media`, checking every `poll`.
    /// `events` is called from the copier thread.
    pub fn spawn(
        store: PathBuf,
        store_id: String,
        media: Vec<MediumSpec>,
        poll: Duration,
        events: impl FnMut(MediaEvent) + Send + 'static,
    ) -> std::io::Result<Replicator> {
        Replicator::spawn_with_remotes(store, store_id, media, Vec::new(), poll, events)
    }

    /// [`Replicator::spawn`], with remotes as well as media.
    pub fn spawn_with_remotes(
        store: PathBuf,
        store_id: String,
        media: Vec<MediumSpec>,
        remotes: Vec<RemoteSpec>,
        poll: Duration,
        events: impl FnMut(MediaEvent) + Send + 'static,
    ) -> std::io::Result<Replicator> {
        let (tx, rx) = mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let states = Arc::new(Mutex::new(Vec::new()));
        let remote_states = Arc::new(Mutex::new(Vec::new()));
        let (s2, st2, rs2) = (stop.clone(), states.clone(), remote_states.clone());
        let thread = std::thread::Builder::new()
            .name("media".into())
            .spawn(move || {
                let targets = Targets {
                    media,
                    remotes,
                    states: st2,
                    remote_states: rs2,
                };
                run(store, store_id, targets, poll, rx, s2, events);
            })?;
        Ok(Replicator {
            tx,
            stop,
            states,
            remote_states,
            thread: Some(thread),
        })
    }

    /// The remotes' states.
    pub fn remotes(&self) -> Vec<RemoteState> {
        self.remote_states
            .lock()
            .map(|s| s.clone())
            .unwrap_or_default()
    }

    /// Something was committed: copy it soon.
    pub fn wake(&self) {
        let _ = self.tx.send(Cmd::Wake);
    }

    /// Finish copying to medium `id`, flush it, and stop writing to it until it is unplugged.
    /// Blocks until done; returns the head the medium holds.
    pub fn eject(&self, id: &str) -> Result<Head, String> {
        let (rtx, rrx) = mpsc::channel();
        self.tx
            .send(Cmd::Eject(id.to_owned(), rtx))
            .map_err(|_| "the copier has stopped".to_string())?;
        rrx.recv()
            .map_err(|_| "the copier has stopped".to_string())?
    }

    /// The media's states.
    pub fn states(&self) -> Vec<MediumState> {
        self.states.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Stop the copier (an interrupted copy leaves only a temporary file) and wait for it.
    pub fn shutdown(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.tx.send(Cmd::Wake);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The targets the engine copies to, and where their states are published.
struct Targets {
    media: Vec<MediumSpec>,
    remotes: Vec<RemoteSpec>,
    states: Arc<Mutex<Vec<MediumState>>>,
    remote_states: Arc<Mutex<Vec<RemoteState>>>,
}

fn run(
    store: PathBuf,
    store_id: String,
    targets: Targets,
    poll: Duration,
    rx: Receiver<Cmd>,
    stop: Arc<AtomicBool>,
    mut events: impl FnMut(MediaEvent),
) {
    let Targets {
        media,
        remotes,
        states,
        remote_states,
    } = targets;
    let mut remotes: Vec<RemoteSlot> = remotes
        .into_iter()
        .map(|spec| RemoteSlot {
            state: RemoteState {
                id: spec.id.clone(),
                location: format!("{}/{}/{}", spec.endpoint, spec.bucket, spec.prefix),
                state: "connecting".into(),
                head: None,
                behind: 0,
                checkpoint: None,
                last_copy: None,
            },
            spec,
            client: None,
            known: None,
            contacted: false,
            failed: None,
            failures: 0,
            retry_at: std::time::Instant::now(),
            catching_up: true,
        })
        .collect();
    let mut slots: Vec<Slot> = media
        .into_iter()
        .map(|spec| Slot {
            state: MediumState {
                id: spec.id.clone(),
                path: spec.path.display().to_string(),
                state: MediaState::Absent,
                head: None,
                behind: 0,
                free_bytes: None,
                last_sync: None,
            },
            spec,
            present: false,
            failed: None,
            failed_at: None,
            ejected: false,
            catching_up: false,
        })
        .collect();
    // A medium ejected before this start (by a daemon that stopped since, or directly on the
    // store) and not written since stays ejected until it is seen absent: not written to, not
    // reported as attached, and reported as `media list` reports it without a daemon.
    let upto = crate::chain_head(&store).ok().flatten();
    for slot in &mut slots {
        if crate::probe(&slot.spec.path, &slot.spec.id, &store_id) == Presence::Present
            && crate::still_ejected(&store, upto, &slot.spec.id, &slot.spec.path)
        {
            slot.present = true;
            slot.ejected = true;
            slot.state.head = crate::medium_head(&slot.spec.path);
            slot.state.state = MediaState::Ejected;
            slot.state.last_sync =
                std::fs::metadata(slot.spec.path.join(logkeep_format::layout::HEAD_FILE))
                    .and_then(|m| m.modified())
                    .ok()
                    .map(|t| Timestamp::from(t).to_rfc3339());
            tracing::info!(medium = %slot.spec.id, "medium still ejected since before this start; not written to until it is unplugged");
        }
    }
    // The first look is at once, so that `status` reports every medium from the start.
    let mut first = true;
    loop {
        let mut eject = None;
        let wait = if first { Duration::ZERO } else { poll };
        first = false;
        match rx.recv_timeout(wait) {
            Ok(Cmd::Wake) | Err(RecvTimeoutError::Timeout) => {}
            Ok(Cmd::Eject(id, reply)) => eject = Some((id, reply)),
            Err(RecvTimeoutError::Disconnected) => break,
        }
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let upto = crate::chain_head(&store).ok().flatten();
        for slot in &mut slots {
            let want_eject = eject.as_ref().is_some_and(|(id, _)| *id == slot.spec.id);
            let result = step(
                &store,
                &store_id,
                slot,
                upto,
                want_eject,
                &stop,
                &mut events,
            );
            if want_eject && let Some((_, reply)) = eject.take() {
                let _ = reply.send(result);
            }
        }
        if let Some((id, reply)) = eject.take() {
            let _ = reply.send(Err(format!("no medium {id:?} is configured")));
        }
        if let Ok(mut s) = states.lock() {
            *s = slots.iter().map(|x| x.state.clone()).collect();
        }
        for i in 0..remotes.len() {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            step_remote(&store, &store_id, &mut remotes[i], upto, &stop, &mut events);
            if let Ok(mut s) = remote_states.lock() {
                *s = remotes.iter().map(|x| x.state.clone()).collect();
            }
        }
    }
}

fn step(
    store: &std::path::Path,
    store_id: &str,
    slot: &mut Slot,
    upto: Option<Head>,
    eject: bool,
    stop: &AtomicBool,
    events: &mut impl FnMut(MediaEvent),
) -> Result<Head, String> {
    let id = slot.spec.id.clone();
    let path = slot.spec.path.clone();
    let presence = crate::probe(&path, &id, store_id);
    let ev = |what, head, detail| MediaEvent {
        kind: TargetKind::Medium,
        medium: id.clone(),
        what,
        head,
        detail,
    };
    if presence != Presence::Present {
        if slot.present {
            slot.present = false;
            if !slot.ejected {
                tracing::warn!(medium = %id, path = %path.display(), "medium went away without being ejected");
                events(ev("missing", slot.state.head, None));
            }
        }
        slot.ejected = false;
        slot.failed = None;
        slot.state.state = MediaState::from(&presence);
        if matches!(presence, Presence::Foreign(_) | Presence::Uninitialised) && !slot.catching_up {
            // Say it once per appearance; writing there could destroy someone else's data.
            tracing::warn!(medium = %id, path = %path.display(), state = %slot.state.state, "not writing to this path");
            slot.catching_up = true;
        }
        if !matches!(presence, Presence::Foreign(_) | Presence::Uninitialised) {
            slot.catching_up = false;
        }
        return Err(slot.state.state.to_string());
    }
    if !slot.present {
        slot.present = true;
        slot.catching_up = true;
        let head = crate::medium_head(&path);
        tracing::info!(medium = %id, path = %path.display(), "medium attached");
        events(ev("attached", head, None));
    }
    slot.state.free_bytes = crate::free_bytes(&path);
    // A medium holding less than was copied to it was rolled back or cut short behind the
    // copier's back (an older copy put in its place). Copying again would hide that, so it is
    // reported first; the copy then catches up as for any medium behind.
    if let Some(copied) = slot.state.head {
        let holds = crate::medium_head(&path);
        if holds.map_or(0, |h| h.seq) < copied.seq {
            tracing::error!(
                medium = %id,
                path = %path.display(),
                copied = copied.seq,
                holds = holds.map_or(0, |h| h.seq),
                "medium rolled back: it holds less than was copied to it"
            );
            events(ev(
                "rolled_back",
                holds,
                Some(format!(
                    "it had been copied up to record {}, it holds record {}",
                    copied.seq,
                    holds.map_or(0, |h| h.seq)
                )),
            ));
            slot.state.head = holds;
        }
    }
    if slot.ejected {
        slot.state.state = MediaState::Ejected;
        // What the store committed since is not on the medium: behind grows.
        if let Some(u) = upto {
            slot.state.behind = u.seq.saturating_sub(slot.state.head.map_or(0, |h| h.seq));
        }
        return slot.state.head.ok_or_else(|| "ejected".into());
    }
    if let (Some(err), Some((free_then, when))) = (&slot.failed, slot.failed_at) {
        // Retry only once there is clearly more room (or after a while, for I/O errors that
        // may have cleared), so that a full medium does not fail again every few seconds.
        let more_room = match (slot.state.free_bytes, free_then) {
            (Some(now), Some(then)) => now > then + (1 << 16),
            _ => false,
        };
        if !(more_room || when.elapsed() > RETRY_AFTER) || !crate::writable(&path) {
            slot.state.state = MediaState::Failed(err.clone());
            return Err(slot.state.state.to_string());
        }
    }
    let Some(upto) = upto else {
        slot.state.state = MediaState::Present;
        return Err("the store has no records yet".into());
    };
    match crate::sync(store, &path, upto, stop) {
        Ok(Synced {
            records,
            segments,
            head,
            unavailable,
            ..
        }) => {
            if slot.failed.take().is_some() {
                slot.failed_at = None;
                tracing::info!(medium = %id, "medium takes writes again");
                events(ev("recovered", head, None));
            }
            slot.state.head = head;
            slot.state.behind = upto.seq.saturating_sub(head.map_or(0, |h| h.seq));
            slot.state.state = MediaState::Present;
            if records > 0 {
                slot.state.last_sync = Some(Timestamp::now().to_rfc3339());
            }
            if slot.catching_up && slot.state.behind == 0 {
                slot.catching_up = false;
                let detail = format!(
                    "{records} records, {segments} segments copied; {unavailable} segments no longer in the store"
                );
                events(ev("caught_up", head, Some(detail)));
            }
            if eject {
                crate::flush(&path).map_err(|e| e.to_string())?;
                slot.ejected = true;
                slot.state.state = MediaState::Ejected;
                tracing::info!(medium = %id, "medium ejected; safe to unplug");
                events(ev("detached", head, None));
            }
            head.ok_or_else(|| "nothing copied".into())
        }
        Err(e) => {
            let msg = e.to_string();
            let what = if e.is_full() {
                "the medium is full"
            } else {
                "cannot write to the medium"
            };
            tracing::error!(medium = %id, "{what}: {msg}; the local store keeps everything and copying resumes when it can");
            // Note the free space before anyone hears of the failure, so that space freed in
            // response counts as more room.
            slot.failed_at = Some((crate::free_bytes(&path), std::time::Instant::now()));
            if slot.failed.is_none() {
                events(ev("failed", slot.state.head, Some(msg.clone())));
            }
            slot.failed = Some(msg.clone());
            slot.state.state = MediaState::Failed(msg.clone());
            Err(msg)
        }
    }
}

/// One turn at a remote: find where it stands by listing it if that is not known (at start,
/// after a failure), then copy on up to `upto`. A failure is retried with a backoff that
/// doubles up to [`REMOTE_BACKOFF_MAX`]; the store is never held up by it.
fn step_remote(
    store: &std::path::Path,
    store_id: &str,
    slot: &mut RemoteSlot,
    upto: Option<Head>,
    stop: &AtomicBool,
    events: &mut impl FnMut(MediaEvent),
) {
    let now = std::time::Instant::now();
    if now < slot.retry_at {
        return;
    }
    let id = slot.spec.id.clone();
    let ev = |what, head, detail| MediaEvent {
        kind: TargetKind::Remote,
        medium: id.clone(),
        what,
        head,
        detail,
    };
    let result = (|| {
        let client = match slot.client.take() {
            Some(c) => c,
            None => slot.spec.client()?,
        };
        let known = match slot.known {
            Some(k) => k,
            None => {
                let k = crate::remote::remote_head(&client, &slot.spec, store)?;
                slot.known = Some(k);
                slot.state.head = k;
                if !slot.contacted {
                    slot.contacted = true;
                    tracing::info!(remote = %id, head = k.map_or(0, |h| h.seq), "remote reachable");
                    events(ev("reachable", k, None));
                }
                k
            }
        };
        let pushed = match upto {
            Some(u) if known.map_or(0, |h| h.seq) < u.seq => {
                let state = &mut slot.state;
                let known_slot = &mut slot.known;
                crate::remote::sync(&client, &slot.spec, store, store_id, known, u, stop, |h| {
                    *known_slot = Some(Some(h));
                    state.head = Some(h);
                })?
            }
            _ => crate::remote::Pushed::default(),
        };
        slot.client = Some(client);
        Ok::<_, logkeep_remote::Error>(pushed)
    })();
    let head = slot.known.flatten();
    match result {
        Ok(pushed) => {
            if slot.failed.take().is_some() {
                tracing::info!(remote = %id, "remote copies resumed");
                events(ev("recovered", head, None));
            }
            slot.failures = 0;
            slot.state.state = "ok".into();
            slot.state.behind = upto.map_or(0, |u| u.seq.saturating_sub(head.map_or(0, |h| h.seq)));
            if pushed.checkpoint.is_some() {
                slot.state.checkpoint = pushed.checkpoint;
            }
            if pushed.records > 0 || pushed.segments > 0 {
                slot.state.last_copy = Some(Timestamp::now().to_rfc3339());
            }
            if slot.catching_up && slot.state.behind == 0 {
                slot.catching_up = false;
                let detail = format!(
                    "{} records, {} segments uploaded; {} files found already there; {} segments no longer in the store",
                    pushed.records, pushed.segments, pushed.present, pushed.unavailable
                );
                events(ev("caught_up", head, Some(detail)));
            }
        }
        Err(e) => {
            let msg = e.to_string();
            // Find where the remote stands again by listing it, and read the credentials
            // again, before the next attempt.
            slot.known = None;
            slot.client = None;
            slot.catching_up = true;
            slot.failures = slot.failures.saturating_add(1);
            let wait = Duration::from_secs(1)
                .saturating_mul(1 << slot.failures.min(7).saturating_sub(1))
                .min(REMOTE_BACKOFF_MAX);
            slot.retry_at = std::time::Instant::now() + wait;
            if slot.failed.is_none() {
                tracing::error!(remote = %id, "cannot copy to the remote: {msg}; the local store keeps everything and copying resumes when it can (retrying with backoff)");
                events(ev("failed", head, Some(msg.clone())));
            } else {
                tracing::debug!(remote = %id, "still failing: {msg}; next attempt in {wait:?}");
            }
            slot.failed = Some(msg.clone());
            slot.state.state = format!("failed: {msg}");
            if let Some(u) = upto {
                slot.state.behind = u.seq.saturating_sub(slot.state.head.map_or(0, |h| h.seq));
            }
        }
    }
}

/// How a presence reads in `media list`.
pub fn describe(p: &Presence) -> String {
    MediaState::from(p).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_reads_back_as_itself() {
        for s in [
            MediaState::Present,
            MediaState::Absent,
            MediaState::Uninitialised,
            MediaState::Foreign("another store".into()),
            MediaState::Failed("No space left on device".into()),
            MediaState::Ejected,
        ] {
            let json = serde_json::to_string(&s).unwrap();
            assert_eq!(
                serde_json::from_str::<MediaState>(&json).unwrap(),
                s,
                "{json}"
            );
        }
        assert_eq!(
            serde_json::to_string(&MediaState::Ejected).unwrap(),
            "\"ejected (safe to unplug)\""
        );
        assert!(serde_json::from_str::<MediaState>("\"gone\"").is_err());
    }

    #[test]
    fn a_missing_member_is_an_error_not_null() {
        let json =
            r#"{"id":"a","path":"/m","state":"present","head":null,"behind":0,"free_bytes":null}"#;
        let err = serde_json::from_str::<MediumState>(json).unwrap_err();
        assert!(err.to_string().contains("last_sync"), "{err}");
    }
}
