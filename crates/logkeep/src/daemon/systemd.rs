//! Messages to systemd (`Type=notify`): readiness, the one-line `STATUS=`, reloading, stopping,
//! and the watchdog pings. All of them do nothing without `NOTIFY_SOCKET`.

use std::time::{Duration, Instant};

/// The daemon's side of the systemd notification socket.
pub(super) struct Notifier {
    /// Half the watchdog interval, when systemd asked for pings.
    watchdog: Option<Duration>,
    next_ping: Instant,
    last_status: String,
    ready: bool,
}

impl Notifier {
    pub(super) fn new() -> Notifier {
        let watchdog = sd_notify::watchdog_enabled().map(|d| d / 2);
        if let Some(w) = watchdog {
            tracing::debug!(every = ?w, "pinging the systemd watchdog");
        }
        Notifier {
            watchdog,
            next_ping: Instant::now(),
            last_status: String::new(),
            ready: false,
        }
    }

    fn send(&self, states: &[sd_notify::NotifyState<'_>]) {
        if let Err(e) = sd_notify::notify(states) {
            tracing::debug!("cannot notify systemd: {e}");
        }
    }

    /// Set the `STATUS=` line (sent only when it changed).
    pub(super) fn status(&mut self, text: String) {
        if text != self.last_status {
            self.send(&[sd_notify::NotifyState::Status(&text)]);
            self.last_status = text;
        }
    }

    /// Say the daemon is ready (once: after the first poll).
    pub(super) fn ready(&mut self) {
        if !self.ready {
            self.ready = true;
            self.send(&[sd_notify::NotifyState::Ready]);
        }
    }

    /// Say the daemon is reloading its configuration (`RELOADING=1`, with the time systemd
    /// wants with it); [`Notifier::reloaded`] ends it.
    pub(super) fn reloading(&self) {
        let mut states = vec![sd_notify::NotifyState::Reloading];
        if let Ok(t) = sd_notify::NotifyState::monotonic_usec_now() {
            states.push(t);
        }
        states.push(sd_notify::NotifyState::Status(
            "reloading the configuration",
        ));
        self.send(&states);
    }

    /// Say the reload is over (`READY=1`); the next `STATUS=` line is sent again.
    pub(super) fn reloaded(&mut self) {
        self.send(&[sd_notify::NotifyState::Ready]);
        self.last_status.clear();
    }

    /// Say the daemon is stopping.
    pub(super) fn stopping(&self) {
        self.send(&[
            sd_notify::NotifyState::Stopping,
            sd_notify::NotifyState::Status("stopping: sealing what was read"),
        ]);
    }

    /// When the next watchdog ping is due, if any.
    pub(super) fn deadline(&self) -> Option<Instant> {
        self.watchdog.map(|_| self.next_ping)
    }

    /// Ping the watchdog if a ping is due.
    pub(super) fn ping_if_due(&mut self) {
        if let Some(w) = self.watchdog
            && Instant::now() >= self.next_ping
        {
            self.send(&[sd_notify::NotifyState::Watchdog]);
            self.next_ping = Instant::now() + w;
        }
    }
}
