//! The pipeline: where everything the daemon seals goes. It receives chunks (from the tracker
//! as a [`ChunkSink`], and the snapshot's host context files through [`Pipeline::seal_files`])
//! and turns them into committed segments, and events into records. It remembers what was made
//! durable for the tracker, the newest seal, and the tamper and loss records for `status`.
//! With a signing state it ends every seal with a signed checkpoint and switches epochs
//! (`crate::keys`).

use crate::status::{Alert, Seal};
use logkeep_capture::ChunkSink;
use logkeep_format::layout::Head;
use logkeep_format::segment::ChunkOrigin;
use logkeep_format::{Event, Record};
use logkeep_seal::SigningState;
use logkeep_store::{OpenSegment, Store};
use std::collections::VecDeque;
use std::io;
use std::time::{Duration, Instant};

/// How many tamper and loss events `status` keeps.
const MAX_ALERTS: usize = 32;

/// Receives chunks and events and turns them into committed segments and records.
pub(super) struct Pipeline {
    pub(super) store: Store,
    /// The segment being filled, and when it was begun.
    open: Option<(OpenSegment, Instant)>,
    max_bytes: u64,
    /// Whether a tamper event seals what was read before it at once (the default), so that
    /// the evidence up to the tampering is durable without waiting for the seal interval.
    seal_on_tamper: bool,
    /// Spans made durable since the tracker was last told: (dev, ino, gen, end).
    committed: Vec<(u64, u64, u64, u64)>,
    last_record: Instant,
    /// The newest segment record.
    last_seal: Option<Seal>,
    /// The newest tamper, gap and unreadable records, for `status` (an unreadable one until
    /// its file is read again).
    alerts: VecDeque<Alert>,
    /// The latest tampering not yet answered by an automatic snapshot (`on_tamper = "snapshot"`).
    pub(super) tamper_seen: Option<String>,
    /// The signing state, when the daemon seals (format 2 checkpoints and epoch keys).
    pub(super) signer: Option<SigningState>,
    /// When the current epoch began.
    epoch_began: Instant,
    /// The head the newest checkpoint covers.
    checkpointed: Option<Head>,
}

impl Pipeline {
    pub(super) fn new(store: Store, max_bytes: u64, seal_on_tamper: bool) -> Pipeline {
        Pipeline {
            store,
            open: None,
            max_bytes,
            seal_on_tamper,
            committed: Vec::new(),
            last_record: Instant::now(),
            last_seal: None,
            alerts: VecDeque::new(),
            tamper_seen: None,
            signer: None,
            epoch_began: Instant::now(),
            checkpointed: None,
        }
    }

    /// Take a reloaded configuration's segment size and tamper rule.
    pub(super) fn retune(&mut self, max_bytes: u64, seal_on_tamper: bool) {
        self.max_bytes = max_bytes;
        self.seal_on_tamper = seal_on_tamper;
    }

    /// Seal with `signer` from now on.
    pub(super) fn with_signer(mut self, signer: Option<SigningState>) -> Pipeline {
        self.signer = signer;
        self
    }

    /// Append a checkpoint of the head, signed by the current epoch key, unless it is already
    /// checkpointed or the daemon does not seal.
    pub(super) fn checkpoint(&mut self) -> io::Result<()> {
        let Some(state) = &self.signer else {
            return Ok(());
        };
        let head = self.store.head();
        if self.checkpointed == Some(head) || head.seq == 0 {
            return Ok(());
        }
        let r = crate::keys::checkpoint(state, &mut self.store).map_err(io::Error::other)?;
        tracing::debug!(seq = r.seq, epoch = state.epoch(), "checkpoint");
        self.checkpointed = Some(self.store.head());
        Ok(())
    }

    /// Whether the current epoch has lasted `length`.
    pub(super) fn epoch_due(&self, length: Duration) -> bool {
        self.signer.is_some() && self.epoch_began.elapsed() >= length
    }

    /// End the current epoch: seal what is open, checkpoint with the current key, then switch
    /// to the next key and destroy the current one (see `crate::keys::switch`).
    pub(super) fn switch_epoch(&mut self, why: &str) -> io::Result<()> {
        if self.signer.is_none() {
            return Ok(());
        }
        self.seal()?;
        self.checkpoint()?;
        let Some(state) = self.signer.as_mut() else {
            return Ok(());
        };
        crate::keys::switch(state, &mut self.store).map_err(io::Error::other)?;
        self.epoch_began = Instant::now();
        tracing::info!(
            epoch = state.epoch(),
            "new epoch key ({why}); the previous secret is destroyed"
        );
        Ok(())
    }

    /// Commit the open segment, if it holds anything; returns its record.
    pub(super) fn seal(&mut self) -> io::Result<Option<Record>> {
        let Some((seg, _)) = self.open.take() else {
            return Ok(None);
        };
        if seg.is_empty() {
            seg.abandon();
            return Ok(None);
        }
        let record = self.store.commit_segment(seg).map_err(io::Error::other)?;
        if let Event::Segment { spans, file, .. } = &record.event {
            let bytes: u64 = spans.iter().map(|s| s.end - s.start).sum();
            tracing::info!(seq = record.seq, segment = %file, bytes, "sealed");
            self.committed
                .extend(spans.iter().map(|s| (s.dev, s.ino, s.gen_id, s.end)));
        }
        self.last_seal = Some(Seal {
            seq: record.seq,
            time: record.wall.clone(),
        });
        self.last_record = Instant::now();
        self.checkpoint()?;
        Ok(Some(record))
    }

    /// Whether the open segment has been open for `interval`.
    pub(super) fn seal_due(&self, interval: Duration) -> bool {
        self.open
            .as_ref()
            .is_some_and(|(_, opened)| opened.elapsed() >= interval)
    }

    /// When the open segment must be sealed, if one is open.
    pub(super) fn seal_deadline(&self, interval: Duration) -> Option<Instant> {
        self.open.as_ref().map(|(_, opened)| *opened + interval)
    }

    /// Whether nothing was recorded for `interval` and no segment is open (a heartbeat is due).
    pub(super) fn idle_for(&self, interval: Duration) -> bool {
        self.open.is_none() && self.last_record.elapsed() >= interval
    }

    /// Spans made durable since the last call, for the tracker.
    pub(super) fn take_committed(&mut self) -> Vec<(u64, u64, u64, u64)> {
        std::mem::take(&mut self.committed)
    }

    /// Bytes in the open segment.
    pub(super) fn open_bytes(&self) -> Option<u64> {
        self.open.as_ref().map(|(s, _)| s.data_bytes())
    }

    /// The newest segment record.
    pub(super) fn last_seal(&self) -> Option<&Seal> {
        self.last_seal.as_ref()
    }

    /// The newest tamper and gap records, newest first.
    pub(super) fn alerts(&self) -> impl Iterator<Item = &Alert> {
        self.alerts.iter().rev()
    }

    /// Seal what is open, then append a record of `event`.
    pub(super) fn record(&mut self, event: Event) -> io::Result<Record> {
        self.seal()?;
        self.append(event)
    }

    /// Append an event record without sealing first.
    pub(super) fn append(&mut self, event: Event) -> io::Result<Record> {
        let r = self.store.append(event).map_err(io::Error::other)?;
        tracing::debug!(seq = r.seq, kind = r.event.kind(), "recorded");
        self.last_record = Instant::now();
        if let Event::Readable { source, path, .. } = &r.event {
            // The file is captured again: its `unreadable` alert is over.
            self.alerts
                .retain(|a| !(a.kind == "unreadable" && &a.source == source && &a.path == path));
        }
        if let Some(a) = alert_of(&r) {
            // Tampering and loss are what an operator must hear about, in the journal too.
            if a.kind == "unreadable" {
                // Capture logged it with its error; nothing to snapshot.
            } else if a.kind == "gap" {
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

    /// Seal what is open, then seal `files` (each whole, however large) as one segment of their
    /// own, and return its record: the snapshot's host context is committed by one record.
    pub(super) fn seal_files<'a>(
        &mut self,
        files: impl IntoIterator<Item = (ChunkOrigin<'a>, &'a [u8])>,
    ) -> io::Result<Record> {
        self.seal()?;
        for (origin, data) in files {
            if let Err(e) = self.append_chunk(&origin, data) {
                self.abandon();
                return Err(e);
            }
        }
        self.seal()?
            .ok_or_else(|| io::Error::other("nothing to seal"))
    }

    /// Drop the open segment (its bytes are read again after a failed write).
    pub(super) fn abandon(&mut self) {
        if let Some((seg, _)) = self.open.take() {
            seg.abandon();
        }
    }

    /// Add a chunk to the open segment, beginning one if none is open.
    fn append_chunk(&mut self, origin: &ChunkOrigin<'_>, data: &[u8]) -> io::Result<&OpenSegment> {
        if self.open.is_none() {
            let seg = self.store.begin_segment().map_err(io::Error::other)?;
            self.open = Some((seg, Instant::now()));
        }
        match self.open.as_mut() {
            Some((seg, _)) => {
                seg.append(origin, data)?;
                Ok(seg)
            }
            None => Err(io::Error::other("no open segment")),
        }
    }
}

impl ChunkSink for Pipeline {
    fn chunk(&mut self, origin: &ChunkOrigin<'_>, data: &[u8]) -> io::Result<()> {
        if self.append_chunk(origin, data)?.data_bytes() >= self.max_bytes {
            self.seal()?;
        }
        Ok(())
    }

    fn notice(&mut self, event: Event) -> io::Result<()> {
        let tamper = matches!(event, Event::Tamper { .. });
        if tamper && !self.seal_on_tamper {
            // Record only: the open segment is sealed when it is due, after this record.
            self.append(event)?;
        } else {
            self.record(event)?;
        }
        if tamper {
            // What an intruder did next must not be signable with the key in use now.
            self.switch_epoch("tampering seen")?;
        }
        Ok(())
    }
}

/// The alert a tamper, gap or unreadable record makes, for `status`; `None` for other records.
fn alert_of(record: &Record) -> Option<Alert> {
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
        Event::Unreadable {
            source,
            path,
            error,
            ..
        } => (
            source,
            path,
            format!("exists and cannot be read, not captured: {error}"),
        ),
        _ => return None,
    };
    Some(Alert {
        seq: record.seq,
        time: record.wall.clone(),
        kind: record.event.kind().to_owned(),
        source: source.clone(),
        path: path.clone(),
        what,
    })
}
