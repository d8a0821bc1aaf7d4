//! A temporary site (configuration, `logs/`, the daemon's `store/`, its stderr) and the real
//! `logkeep` daemon running on it as a child process.
//!
//! Everything waits on what the store says (chain records, captured spans) with a deadline,
//! never on a fixed sleep alone, and every daemon started here is killed when its [`Site`] is
//! dropped, so a failing test never leaves a process behind.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::daemon::{Daemon, started_in};
use super::store::{captured_bytes, records};
use super::{DEADLINE, bin};

/// The `[store]` table of a daemon that seals quickly and often: segments of 4 KiB (the
/// minimum), a seal at least every 200 ms, a scan every 50 ms.
pub const FAST_STORE: &str = "[store]\n\
    path = \"store\"\n\
    seal_interval = \"200ms\"\n\
    scan_interval = \"50ms\"\n\
    segment_max_bytes = \"4KiB\"\n";

/// A `[[source]]` table.
pub fn source(id: &str, patterns: &[&str]) -> String {
    let list: Vec<String> = patterns.iter().map(|p| format!("{p:?}")).collect();
    format!(
        "\n[[source]]\nid = \"{id}\"\npaths = [{}]\n",
        list.join(", ")
    )
}

/// A temporary directory holding `logkeep.toml`, `logs/`, the daemon's `store/` and its
/// stderr, and the daemon when it runs.
pub struct Site {
    dir: tempfile::TempDir,
    daemon: Option<Daemon>,
    runs: usize,
}

impl Site {
    /// A site whose configuration is `config` (relative paths resolve against the site).
    pub fn new(config: &str) -> Site {
        let dir = tempfile::tempdir().expect("temp dir");
        fs::create_dir_all(dir.path().join("logs")).expect("logs dir");
        // The daemon runs with its working directory here, so that a relative path resolved
        // against the working directory instead of the configuration's would be noticed.
        fs::create_dir_all(dir.path().join("cwd")).expect("cwd dir");
        fs::write(dir.path().join("logkeep.toml"), config).expect("config");
        Site {
            dir,
            daemon: None,
            runs: 0,
        }
    }

    /// A path inside the site.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// The configuration file.
    pub fn config(&self) -> PathBuf {
        self.path("logkeep.toml")
    }

    /// The store directory.
    pub fn store(&self) -> PathBuf {
        self.path("store")
    }

    /// A log file under `logs/`.
    pub fn log(&self, name: &str) -> PathBuf {
        self.path("logs").join(name)
    }

    /// Append `bytes` to `logs/<name>` in one write, creating it if needed.
    pub fn append(&self, name: &str, bytes: &[u8]) {
        append(&self.log(name), bytes);
    }

    /// Start the daemon and wait until it is ready: its `start` record (with its pid) is in the
    /// chain, which the daemon writes only after its signal handlers are installed, so a
    /// SIGTERM sent after this returns is always handled.
    pub fn start(&mut self) {
        self.start_with(&[]);
    }

    /// [`Site::start`] with extra environment variables for the daemon.
    pub fn start_with(&mut self, env: &[(&str, &str)]) {
        let pid = self.spawn_with(env);
        self.wait_started(pid);
    }

    /// Wait until the daemon `pid` has committed its start record.
    pub fn wait_started(&mut self, pid: u32) {
        let deadline = Instant::now() + DEADLINE;
        while !started_in(&self.store(), pid) {
            self.assert_running("while starting");
            assert!(
                Instant::now() < deadline,
                "the daemon did not write its start record within {DEADLINE:?}:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Start the daemon without waiting for anything (to kill it at any moment, even while it
    /// opens and recovers the store). Returns its pid.
    pub fn spawn(&mut self) -> u32 {
        self.spawn_with(&[])
    }

    /// [`Site::spawn`] with extra environment variables for the daemon.
    pub fn spawn_with(&mut self, env: &[(&str, &str)]) -> u32 {
        self.spawn_under(&[], env)
    }

    /// [`Site::start`] with the daemon run by `wrapper` (a program and its arguments that
    /// exec the daemon in the same process, such as `setpriv` dropping capabilities).
    pub fn start_under(&mut self, wrapper: &[&str]) {
        let pid = self.spawn_under(wrapper, &[]);
        self.wait_started(pid);
    }

    /// [`Site::spawn_with`], the daemon exec'd by `wrapper` when there is one.
    fn spawn_under(&mut self, wrapper: &[&str], env: &[(&str, &str)]) -> u32 {
        assert!(self.daemon.is_none(), "the daemon is already running");
        self.runs += 1;
        let err =
            fs::File::create(self.path(&format!("daemon-{}.err", self.runs))).expect("stderr file");
        let mut cmd = match wrapper.split_first() {
            Some((program, args)) => {
                let mut c = Command::new(program);
                c.args(args).arg(bin());
                c
            }
            None => Command::new(bin()),
        };
        cmd.arg("run")
            .arg("--config")
            .arg(self.config())
            .current_dir(self.path("cwd"))
            .env("LOGKEEP_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(err)
            // A test run under systemd must not hand the daemon its own service's sockets:
            // the tests that want them set them.
            .env_remove("NOTIFY_SOCKET")
            .env_remove("WATCHDOG_USEC")
            .env_remove("WATCHDOG_PID")
            .env_remove("JOURNAL_STREAM");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let daemon = Daemon::spawn(&mut cmd);
        let pid = daemon.pid();
        self.daemon = Some(daemon);
        pid
    }

    /// Fail if the daemon has exited.
    pub fn assert_running(&mut self, when: &str) {
        if let Some(d) = self.daemon.as_mut()
            && let Some(st) = d.exited()
        {
            self.daemon = None;
            panic!("the daemon exited {when}: {st}\n{}", self.stderr());
        }
    }

    /// SIGTERM: the daemon must seal what it read, write a `stop` record with reason
    /// `SIGTERM` as the last record, and exit 0.
    pub fn term(&mut self) {
        self.stop_by(rustix::process::Signal::TERM, "SIGTERM");
    }

    /// SIGINT (Ctrl-C): the same as SIGTERM, with reason `SIGINT`.
    pub fn interrupt(&mut self) {
        self.stop_by(rustix::process::Signal::INT, "SIGINT");
    }

    fn stop_by(&mut self, signal: rustix::process::Signal, reason: &str) {
        let daemon = self.daemon.take().expect("the daemon is not running");
        daemon.stop(signal, &|| self.stderr());
        // A sealing daemon checkpoints its stop: the stop is the last record but for seals.
        let last = records(&self.store())
            .into_iter()
            .rfind(|r| r["event"]["kind"] != "checkpoint")
            .expect("records after a stop");
        assert_eq!(
            last["event"],
            serde_json::json!({"kind": "stop", "reason": reason}),
            "the last record after {signal:?} must be its stop record"
        );
    }

    /// SIGKILL a daemon that is capturing: it must be alive, must have committed its start
    /// record, and must die by signal 9 (see [`Daemon::kill9`]).
    pub fn kill9(&mut self) {
        let daemon = self.daemon.take().expect("the daemon is not running");
        daemon.kill9(&self.store(), &|| self.stderr());
    }

    /// SIGKILL wherever the daemon is, even before it opened the store: it must be alive and
    /// must die by signal 9. Returns whether it had committed its start record.
    pub fn kill9_at_any_moment(&mut self) -> bool {
        let daemon = self.daemon.take().expect("the daemon is not running");
        let committed = started_in(&self.store(), daemon.pid());
        daemon.kill9_at_any_moment(&|| self.stderr());
        committed
    }

    /// Wait until the daemon exits by itself (within [`DEADLINE`]) and return how it ended.
    pub fn wait_exit(&mut self) -> std::process::ExitStatus {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let d = self.daemon.as_mut().expect("the daemon is not running");
            if let Some(st) = d.exited() {
                self.daemon = None;
                return st;
            }
            assert!(
                Instant::now() < deadline,
                "the daemon did not exit within {DEADLINE:?}:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The file that run `n` (counted from 1) of the daemon writes its stderr to.
    pub fn stderr_file(&self, n: usize) -> PathBuf {
        self.path(&format!("daemon-{n}.err"))
    }

    /// Everything every run of the daemon wrote to stderr, for failure messages.
    pub fn stderr(&self) -> String {
        (1..=self.runs)
            .map(|n| {
                let text =
                    fs::read_to_string(self.path(&format!("daemon-{n}.err"))).unwrap_or_default();
                format!("--- daemon run {n} stderr ---\n{text}")
            })
            .collect()
    }

    /// Wait until `what` holds, polling every 50 ms for at most `secs` seconds, failing early
    /// if the daemon exits.
    pub fn wait_until(&mut self, secs: u64, what: &str, mut f: impl FnMut(&Site) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while !f(self) {
            self.assert_running(&format!("while waiting for {what}"));
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; the daemon said:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Wait until some chain record's JSON text contains `needle`.
    pub fn wait_record(&mut self, needle: &str) {
        let store = self.store();
        self.wait_until(30, &format!("a record containing {needle}"), |_| {
            super::store::record_texts(&store)
                .iter()
                .any(|r| r.contains(needle))
        });
    }

    /// Wait until the committed segments hold at least `n` captured bytes in all.
    pub fn wait_captured(&mut self, n: u64) {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let have = captured_bytes(&self.store());
            if have >= n {
                return;
            }
            self.assert_running("while capturing");
            assert!(
                Instant::now() < deadline,
                "only {have} of {n} bytes were committed within {DEADLINE:?}:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        // Dropping the daemon kills and reaps it.
        self.daemon.take();
        // LOGKEEP_TEST_KEEP=1 keeps the site of a failed test for a look.
        if std::env::var_os("LOGKEEP_TEST_KEEP").is_some() {
            let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().expect("tmp"));
            eprintln!("kept {}", dir.keep().display());
        }
    }
}

/// Append `bytes` to `path` (creating it) in one write and close it, as a logger that opens
/// the file for each message would.
pub fn append(path: &Path, bytes: &[u8]) {
    let mut f = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    f.write_all(bytes).expect("append");
}

/// `: > path`: open with O_TRUNC, as the shell does.
pub fn truncate_in_place(path: &Path) {
    fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(path)
        .unwrap_or_else(|e| panic!("truncate {}: {e}", path.display()));
}
