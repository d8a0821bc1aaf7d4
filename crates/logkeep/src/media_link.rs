//! The daemon's side of offline media: it starts the copier thread, turns the copier's
//! events into chain records (written by the engine thread, which owns the store), wakes the
//! copier after each commit, and prunes the local store when retention allows.

use crate::config::Config;
use logkeep_format::Event;
use logkeep_format::Timestamp;
use logkeep_format::layout::Head;
use logkeep_media::remote::RemoteState;
use logkeep_media::replicator::{MediaEvent, MediumSpec, MediumState, Replicator, TargetKind};
use logkeep_store::Store;
use std::time::{Duration, Instant, SystemTime};

/// How often media are probed when nothing was committed.
const POLL: Duration = Duration::from_secs(2);
/// How often retention looks for prunable segments.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// The copier and the retention clock.
pub struct MediaLink {
    replicator: Option<Replicator>,
    specs: Vec<MediumSpec>,
    next_prune: Instant,
}

/// The chain record for a copier event: `medium` or `remote`.
pub fn record_for(ev: MediaEvent) -> Event {
    if ev.kind == TargetKind::Remote {
        return Event::Remote {
            remote: ev.medium,
            what: ev.what.into(),
            head: ev.head,
            detail: ev.detail,
        };
    }
    Event::Medium {
        medium: ev.medium,
        what: ev.what.into(),
        head: ev.head,
        detail: ev.detail,
    }
}

impl MediaLink {
    /// Start copying to the configured media (nothing to do if there are none). `notify` is
    /// called from the copier thread with each event worth a record.
    pub fn start(
        config: &Config,
        store_id: &str,
        notify: impl FnMut(MediaEvent) + Send + 'static,
    ) -> std::io::Result<MediaLink> {
        let specs: Vec<MediumSpec> = config
            .media
            .iter()
            .map(|m| MediumSpec {
                id: m.id.clone(),
                path: m.path.clone(),
            })
            .collect();
        let replicator = if specs.is_empty() && config.remotes.is_empty() {
            None
        } else {
            Some(Replicator::spawn_with_remotes(
                config.store.clone(),
                store_id.to_owned(),
                specs.clone(),
                config.remotes.clone(),
                POLL,
                notify,
            )?)
        };
        Ok(MediaLink {
            replicator,
            specs,
            next_prune: Instant::now() + Duration::from_secs(5),
        })
    }

    /// Something was committed: copy it soon.
    pub fn committed(&self) {
        if let Some(r) = &self.replicator {
            r.wake();
        }
    }

    /// The media's states.
    pub fn states(&self) -> Vec<MediumState> {
        self.replicator
            .as_ref()
            .map(Replicator::states)
            .unwrap_or_default()
    }

    /// The remotes' states.
    pub fn remotes(&self) -> Vec<RemoteState> {
        self.replicator
            .as_ref()
            .map(Replicator::remotes)
            .unwrap_or_default()
    }

    /// Finish copying to medium `id` and flush it (blocks until done).
    pub fn eject(&self, id: &str) -> Result<Head, String> {
        match &self.replicator {
            Some(r) => r.eject(id),
            None => Err(format!("no medium {id:?} is configured")),
        }
    }

    /// Remove local segments older than `retain_local` that at least `min_copies` media hold,
    /// recording each removal. Runs at most once an hour; returns how many were pruned.
    pub fn prune_if_due(&mut self, store: &mut Store, config: &Config) -> anyhow::Result<usize> {
        let Some(retain) = config.retain_local else {
            return Ok(0);
        };
        if Instant::now() < self.next_prune {
            return Ok(0);
        }
        // Look again in half the retention time, between 5 s and an hour.
        self.next_prune = Instant::now() + (retain / 2).clamp(Duration::from_secs(5), PRUNE_EVERY);
        let cutoff = Timestamp::from(SystemTime::now() - retain).to_rfc3339();
        // A remote holds every segment up to the newest record it read back (it copies in
        // commit order).
        let remote_heads: Vec<(String, u64)> = self
            .remotes()
            .into_iter()
            .filter_map(|r| r.head.map(|h| (r.id, h.seq)))
            .collect();
        let candidates = logkeep_media::prune_candidates_with_remotes(
            &config.store,
            &self.specs,
            &remote_heads,
            store.id(),
            config.min_copies as usize,
            &cutoff,
        )?;
        let n = candidates.len();
        for (seq, file, media) in candidates {
            store.prune(seq, &file, media)?;
        }
        if n > 0 {
            tracing::info!(segments = n, "pruned local segments held by enough media");
        }
        Ok(n)
    }

    /// Stop the copier.
    pub fn shutdown(self) {
        if let Some(r) = self.replicator {
            r.shutdown();
        }
    }
}
