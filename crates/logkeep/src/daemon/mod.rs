//! `logkeep run`: the capture daemon, in the order it lives.
//!
//! - [`startup`] raises the open-file limit, opens the store and replays it, recovers the
//!   syslog write-ahead log after a crash, writes the start and configuration records, and
//!   starts every thread; it returns the [`engine::Engine`] and the [`shutdown::Threads`].
//! - [`engine`] is the loop. One thread (the engine) owns the store and the tracker and does
//!   all capture work; everything else — signal handling, filesystem notifications, the media
//!   copier, the control socket — only sends it [`notify::Wake`] messages through a channel. A
//!   wake-up from a notification and a timer tick run the same poll, so a missed or overflowing
//!   notification costs at most one scan interval and never a byte. Control requests (status,
//!   snapshot, seal, eject) are answered by the engine between polls, so they see and change
//!   the store exactly as capture does.
//! - [`pipeline`] turns what the tracker reads, and the snapshot's host context, into
//!   committed segments and records: the one path by which anything is sealed.
//! - [`shutdown`] is the one way the daemon stops, whatever asked it to: tell systemd and the
//!   listeners, seal everything read, answer or refuse what is queued, join every thread, and
//!   record the stop.
//! - [`reload`] is SIGHUP: the configuration file read again, the sources changed (and
//!   recorded) without a restart, what cannot change while running kept and named in the log.
//! - [`notify`] holds the wake-up messages and the filesystem watches, [`systemd`] the
//!   messages to systemd (`Type=notify`: readiness after the first poll, a one-line `STATUS=`,
//!   watchdog pings from the loop, so that a stuck engine is restarted while a busy control
//!   socket or a slow medium is not mistaken for one).

mod engine;
mod notify;
mod pipeline;
mod reload;
mod shutdown;
mod startup;
mod systemd;

use crate::config::Config;
use anyhow::Result;

/// Source id of the host context files a snapshot writes (the `logkeep.` prefix is reserved).
pub const SNAPSHOT_SOURCE: &str = "logkeep.snapshot";

/// Run until SIGTERM or SIGINT, then stop with everything read sealed; SIGHUP reloads the
/// configuration.
pub fn run(config: &Config) -> Result<()> {
    let startup::Started {
        mut engine,
        threads,
        wakes,
        mut systemd,
    } = startup::start(config)?;
    let stop = engine.serve(&wakes, &mut systemd);
    shutdown::stop(engine, threads, wakes, &systemd, stop)
}
