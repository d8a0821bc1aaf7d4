//! Nothing silent: a log file the daemon cannot read is an alert in `status`, in the systemd
//! `STATUS=` line and in the chain (`unreadable`, once, then `readable` when it can be read
//! and is captured), and a source whose patterns match nothing is a warning in `status` and
//! the daemon's log. The daemon runs as uid 65534 (through `setpriv`), so that a file of mode
//! 000 really cannot be opened: root would read it.

use crate::support::control::{OpenDir, is_root};
use crate::support::daemon::{Daemon, started_in};
use crate::support::{self as util, DEADLINE, FAST_STORE, Run, records};
use serde_json::Value;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const NOBODY: u32 = 65534;

/// A site in a directory any user may enter, whose store and socket directory belong to
/// uid 65534, with the daemon running as that user.
struct Nobody {
    open: OpenDir,
    daemon: Option<Daemon>,
}

impl Nobody {
    fn new(config_sources: &str) -> Nobody {
        let open = OpenDir::new();
        let d = open.dir.path();
        for sub in ["logs", "store", "run"] {
            fs::create_dir(d.join(sub)).expect("mkdir");
            fs::set_permissions(d.join(sub), fs::Permissions::from_mode(0o755)).expect("chmod");
        }
        for owned in ["store", "run"] {
            std::os::unix::fs::chown(d.join(owned), Some(NOBODY), Some(NOBODY)).expect("chown");
        }
        let config = format!(
            "{FAST_STORE}\n[control]\nsocket = {:?}\n{config_sources}",
            d.join("run/control.sock").to_str().expect("utf-8")
        );
        fs::write(d.join("logkeep.toml"), config).expect("config");
        Nobody { open, daemon: None }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.open.dir.path().join(rel)
    }

    fn store(&self) -> PathBuf {
        self.path("store")
    }

    fn socket(&self) -> PathBuf {
        self.path("run/control.sock")
    }

    fn stderr(&self) -> String {
        fs::read_to_string(self.path("daemon.err")).unwrap_or_default()
    }

    /// Start the daemon as uid 65534 with `NOTIFY_SOCKET` set to `notify`, and wait for its
    /// start record.
    fn start(&mut self, notify: &Path) {
        let err = fs::File::create(self.path("daemon.err")).expect("stderr file");
        let mut cmd = Command::new("setpriv");
        cmd.arg(format!("--reuid={NOBODY}"))
            .arg(format!("--regid={NOBODY}"))
            .arg("--clear-groups")
            .arg(self.open.binary())
            .arg("run")
            .arg("--config")
            .arg(self.path("logkeep.toml"))
            .current_dir(self.open.dir.path())
            .env("LOGKEEP_LOG", "info")
            .env("NOTIFY_SOCKET", notify)
            .env_remove("WATCHDOG_USEC")
            .env_remove("WATCHDOG_PID")
            .env_remove("JOURNAL_STREAM")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(err);
        let daemon = Daemon::spawn(&mut cmd);
        let pid = daemon.pid();
        self.daemon = Some(daemon);
        self.wait("the start record", |s| started_in(&s.store(), pid));
    }

    fn wait(&mut self, what: &str, mut f: impl FnMut(&Nobody) -> bool) {
        let deadline = Instant::now() + DEADLINE;
        while !f(self) {
            if let Some(d) = self.daemon.as_mut()
                && let Some(st) = d.exited()
            {
                panic!(
                    "the daemon exited ({st}) while waiting for {what}:\n{}",
                    self.stderr()
                );
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn status_json(&self) -> Value {
        let run = util::logkeep(&[
            "status",
            "--json",
            "--socket",
            self.socket().to_str().expect("utf-8"),
        ]);
        assert_eq!(run.code, 0, "{run}");
        serde_json::from_str(&run.stdout).expect("status json")
    }

    fn status_text(&self) -> Run {
        let run = util::logkeep(&["status", "--socket", self.socket().to_str().expect("utf-8")]);
        assert_eq!(run.code, 0, "{run}");
        run
    }

    fn stop(&mut self) {
        let daemon = self.daemon.take().expect("running");
        let log = self.stderr();
        daemon.stop(rustix::process::Signal::TERM, &|| log.clone());
    }
}

/// The records of `kind`, in chain order.
fn of_kind(store: &Path, kind: &str) -> Vec<Value> {
    records(store)
        .into_iter()
        .filter(|r| r["event"]["kind"] == kind)
        .map(|r| r["event"].clone())
        .collect()
}

/// The bytes the chain's segment records hold of files whose path ends in `name`.
fn spans_end(store: &Path, name: &str) -> u64 {
    records(store)
        .iter()
        .filter(|r| r["event"]["kind"] == "segment")
        .flat_map(|r| r["event"]["spans"].as_array().cloned().unwrap_or_default())
        .filter(|s| s["path"].as_str().is_some_and(|p| p.ends_with(name)))
        .map(|s| s["end"].as_u64().unwrap_or(0))
        .max()
        .unwrap_or(0)
}

#[test]
fn a_file_the_daemon_cannot_read_is_an_alert_until_it_is_captured() {
    assert!(
        is_root(),
        "this test makes a file unreadable to the daemon by running it as another uid, and must run as root (CI does)"
    );
    util::require_tool("setpriv", "util-linux");
    let mut site = Nobody::new(&format!(
        "{}{}{}",
        util::source("app", &["logs/*.log"]),
        util::source("nothing", &["logs/none-*.txt"]),
        util::source("private", &["logs/private/*.log"])
    ));
    fs::write(site.path("logs/app.log"), b"readable line\n").expect("write");
    let auth = site.path("logs/auth.log");
    fs::write(&auth, b"secret login line\n").expect("write");
    fs::set_permissions(&auth, fs::Permissions::from_mode(0o000)).expect("chmod 000");
    // A directory the daemon cannot list: what it holds is not captured either.
    let private = site.path("logs/private");
    fs::create_dir(&private).expect("mkdir");
    fs::write(private.join("vpn.log"), b"hidden\n").expect("write");
    fs::set_permissions(&private, fs::Permissions::from_mode(0o700)).expect("chmod 700");
    let ns = site.path("notify");
    let listener = UnixDatagram::bind(&ns).expect("bind NOTIFY_SOCKET");
    fs::set_permissions(&ns, fs::Permissions::from_mode(0o777)).expect("chmod");
    listener
        .set_read_timeout(Some(Duration::from_millis(100)))
        .expect("timeout");
    site.start(&ns);

    // In the chain: the file existed, with its identity and the error.
    site.wait("an unreadable record", |s| {
        !of_kind(&s.store(), "unreadable").is_empty()
    });
    let un = &of_kind(&site.store(), "unreadable")[0];
    assert!(
        un["path"]
            .as_str()
            .expect("path")
            .ends_with("/logs/auth.log"),
        "{un}"
    );
    assert_eq!(un["source"], "app");
    assert_eq!(un["gen_id"], 0);
    assert!(un["ino"].as_u64().expect("ino") > 0, "{un}");
    assert!(
        un["error"]
            .as_str()
            .expect("error")
            .contains("Permission denied"),
        "{un}"
    );

    // In the systemd STATUS= line.
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + DEADLINE;
    while !seen
        .iter()
        .any(|m: &String| m.starts_with("STATUS=1 FILE(S) CANNOT BE READ, NOT CAPTURED"))
    {
        if let Ok(n) = listener.recv(&mut buf) {
            seen.extend(
                String::from_utf8_lossy(&buf[..n])
                    .lines()
                    .map(str::to_owned),
            );
        }
        assert!(
            Instant::now() < deadline,
            "messages: {seen:?}\n{}",
            site.stderr()
        );
    }
    assert!(
        seen.iter()
            .any(|m| m.starts_with("STATUS=") && m.contains("2 source(s) match no file")),
        "{seen:?}"
    );

    // In status, human and JSON: an alert, and the source that matches nothing a warning.
    site.wait("app.log captured", |s| {
        spans_end(&s.store(), "/app.log") == 14
    });
    let st = site.status_json();
    let app = &st["sources"][0];
    assert_eq!(app["id"], "app");
    assert_eq!(
        app["unreadable"].as_array().expect("unreadable").len(),
        1,
        "{app}"
    );
    assert!(
        app["unreadable"][0]["path"]
            .as_str()
            .expect("path")
            .ends_with("/auth.log")
    );
    assert_eq!(app["warning"], Value::Null);
    let nothing = &st["sources"][1];
    assert!(
        nothing["warning"]
            .as_str()
            .expect("warning")
            .contains("match no file"),
        "{nothing}"
    );
    assert!(
        st["alerts"]
            .as_array()
            .expect("alerts")
            .iter()
            .any(|a| a["kind"] == "unreadable"),
        "{st}"
    );
    let private_warning = st["sources"][2]["warning"].as_str().expect("warning");
    assert!(
        private_warning.contains("/logs/private cannot be listed")
            && private_warning.contains("Permission denied"),
        "{private_warning}"
    );
    let text = site.status_text().stdout;
    assert!(
        text.contains("ALERT:") && text.contains("auth.log"),
        "{text}"
    );
    assert!(!text.contains("alerts: none"), "{text}");
    assert!(
        text.contains("warning: its patterns match no file"),
        "{text}"
    );
    assert!(site.stderr().contains("match no file"), "{}", site.stderr());

    // Once, not once per poll.
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(of_kind(&site.store(), "unreadable").len(), 1);

    // Readable again: recorded, captured, and the alert is gone.
    fs::set_permissions(&auth, fs::Permissions::from_mode(0o644)).expect("chmod 644");
    site.wait("a readable record", |s| {
        !of_kind(&s.store(), "readable").is_empty()
    });
    site.wait("auth.log captured", |s| {
        spans_end(&s.store(), "/auth.log") == 18
    });
    let re = &of_kind(&site.store(), "readable")[0];
    assert_eq!(re["ino"], un["ino"]);
    assert!(re["gen_id"].as_u64().expect("gen") > 0, "{re}");
    let st = site.status_json();
    assert!(
        st["sources"][0]["unreadable"]
            .as_array()
            .expect("list")
            .is_empty(),
        "{st}"
    );
    assert!(
        !st["alerts"]
            .as_array()
            .expect("alerts")
            .iter()
            .any(|a| a["kind"] == "unreadable"),
        "{st}"
    );
    site.stop();

    // The investigator sees it too.
    let run = util::verify(&site.store(), &[]);
    assert_eq!(run.code, 0, "{run}");
    assert!(run.text().contains("could not be read"), "{run}");
}
