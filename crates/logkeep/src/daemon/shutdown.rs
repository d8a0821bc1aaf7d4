//! The one way the daemon stops, whatever asked it to (SIGTERM, SIGINT, or every sender of
//! wake-ups gone): decide (the loop has returned the reason), tell (systemd, and the syslog
//! listeners, which stop and fsync what they received), seal everything read, answer the
//! requests that came with the stop, join every thread, and record the stop — or, when the
//! store cannot be written, say that the sources still hold what was not sealed.

use super::engine::{Engine, Stop};
use super::notify::Wake;
use super::systemd::Notifier;
use crate::control;
use anyhow::{Context, Result};
use logkeep_format::Event;
use std::sync::mpsc::Receiver;
use std::thread::JoinHandle;

/// The threads besides the engine, its copier and its syslog listeners (which the engine owns
/// and stops itself): each is stopped and joined by [`Threads::join`].
pub(super) struct Threads {
    /// The control socket, when it is served.
    pub(super) control: Option<control::Server>,
    /// The filesystem watches (dropping the watcher stops its thread).
    pub(super) watcher: Option<notify::RecommendedWatcher>,
    /// The thread that turns signals into wake-ups, and the handle that ends it.
    pub(super) signals: Option<(signal_hook::iterator::Handle, JoinHandle<()>)>,
}

impl Threads {
    /// Stop the control socket first, so that no request arrives any more, then the watches
    /// and the signal thread; wait for each.
    pub(super) fn join(self) {
        if let Some(c) = self.control {
            c.shutdown();
        }
        drop(self.watcher);
        if let Some((handle, thread)) = self.signals {
            handle.close();
            let _ = thread.join();
        }
    }
}

/// Stop the daemon after the loop returned `stop`.
pub(super) fn stop(
    mut engine: Engine<'_>,
    threads: Threads,
    wakes: Receiver<Wake>,
    systemd: &Notifier,
    stop: Stop,
) -> Result<()> {
    let Stop { signal, calls } = stop;
    let reason = match signal {
        signal_hook::consts::SIGTERM => "SIGTERM".to_string(),
        signal_hook::consts::SIGINT => "SIGINT".to_string(),
        n => format!("signal {n}"),
    };
    systemd.stopping();
    // Stop the listeners and fsync what they received before the last poll seals it.
    engine.syslog.shutdown();
    // A deletion that waited to be told from a rotation is decided now, after the last poll.
    let sealed = engine
        .step(true)
        .and_then(|()| engine.tracker.conclude(&mut engine.pipe));
    match &sealed {
        Ok(()) => {
            for call in calls {
                engine.handle(call);
            }
        }
        Err(e) => {
            for call in calls {
                let _ = call.reply.send(Err(format!("the daemon is stopping: {e}")));
            }
        }
    }
    // Requests still queued are answered "stopping" by their handlers once the channel closes;
    // a snapshot still gathering finds it closed too, and its thread ends by itself.
    drop(wakes);
    threads.join();
    let Engine {
        mut pipe,
        media,
        auto,
        ..
    } = engine;
    if let Some(h) = auto {
        let _ = h.join();
    }
    media.shutdown();
    if let Err(e) = sealed {
        anyhow::bail!("stopped with unsealed data still in the sources: {e}");
    }
    pipe.record(Event::Stop {
        reason: reason.clone(),
    })
    .context("cannot record the stop")?;
    pipe.checkpoint().context("cannot seal the stop")?;
    let head = pipe.store.head();
    tracing::info!(head = %head.hash, seq = head.seq, "stopped on {reason}; everything read is sealed");
    Ok(())
}
