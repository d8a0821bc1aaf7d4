//! A running `logkeep run` process: the one place where the tests stop the daemon with SIGTERM
//! or SIGINT, or kill it with SIGKILL, and check how it ended.
//!
//! `kill -9` checks three things, so that a crash test cannot pass without crashing anything:
//! the daemon was alive when the signal was sent (it had not exited by itself), it died by
//! signal 9, and, unless the caller asks to kill it at any moment, it had committed its own
//! start record (it was really capturing when it died).

use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

/// A daemon process, killed and reaped when dropped so that a failing test leaves none behind.
pub struct Daemon {
    child: Child,
}

impl Daemon {
    /// Start `cmd` (a `logkeep run` command line the caller prepared).
    pub fn spawn(cmd: &mut Command) -> Daemon {
        Daemon {
            child: cmd.spawn().expect("start logkeep run"),
        }
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// How it ended, if it has exited.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().expect("try_wait")
    }

    /// Send `signal` and wait (at most [`super::DEADLINE`]) for the process to exit; `log` says
    /// what the daemon wrote, for the failure message.
    pub fn signal(
        mut self,
        signal: rustix::process::Signal,
        log: &dyn Fn() -> String,
    ) -> ExitStatus {
        let pid = rustix::process::Pid::from_child(&self.child);
        rustix::process::kill_process(pid, signal)
            .unwrap_or_else(|e| panic!("send {signal:?} to {}: {e}", self.child.id()));
        let deadline = Instant::now() + super::DEADLINE;
        loop {
            if let Some(st) = self.exited() {
                return st;
            }
            assert!(
                Instant::now() < deadline,
                "the daemon did not exit within {:?} of {signal:?}:\n{}",
                super::DEADLINE,
                log()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// SIGTERM (or SIGINT): the daemon must exit 0.
    pub fn stop(self, signal: rustix::process::Signal, log: &dyn Fn() -> String) {
        let st = self.signal(signal, log);
        assert_eq!(
            st.code(),
            Some(0),
            "{signal:?} must stop the daemon with exit 0, got {st}:\n{}",
            log()
        );
    }

    /// `kill -9` a daemon that has committed its start record to `store`: it must be alive,
    /// must have committed that record, and must die by signal 9.
    pub fn kill9(self, store: &Path, log: &dyn Fn() -> String) {
        let pid = self.pid();
        assert!(
            started_in(store, pid),
            "kill -9 was due for a daemon that had not committed its start record:\n{}",
            log()
        );
        self.kill9_at_any_moment(log);
    }

    /// `kill -9` at whatever point the daemon has reached, even before it opened the store:
    /// it must be alive when the signal is sent and must die by signal 9.
    pub fn kill9_at_any_moment(mut self, log: &dyn Fn() -> String) {
        if let Some(st) = self.exited() {
            panic!(
                "the daemon had already exited by itself ({st}) when kill -9 was due:\n{}",
                log()
            );
        }
        let st = self.signal(rustix::process::Signal::KILL, log);
        assert_eq!(
            st.signal(),
            Some(9),
            "kill -9 did not end the daemon by signal 9 but with {st}:\n{}",
            log()
        );
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            // Only cleaning up after a test that failed half-way: how it ends does not matter.
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// Whether the chain of `store` holds the start record of process `pid`.
pub fn started_in(store: &Path, pid: u32) -> bool {
    super::store::records(store)
        .iter()
        .any(|r| r["event"]["kind"] == "start" && r["event"]["pid"].as_u64() == Some(pid as u64))
}
