//! `logkeep status --json` and `logkeep media list --json` report the same state for a medium,
//! before and after `logkeep media eject`, with the real daemon running: both read the
//! daemon's one status type, so an ejected medium is "ejected" in both, never "present" in
//! one of them.
//!
//! The set-up (a temporary site, the daemon started and stopped) is copied here in its
//! smallest form so that this file stands alone.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_logkeep")
}

/// Run logkeep to completion: exit code and stdout, with stderr on failure.
fn logkeep(args: &[&str]) -> (i32, String) {
    let out = Command::new(bin()).args(args).output().expect("run logkeep");
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        text.push_str(&String::from_utf8_lossy(&out.stderr));
    }
    (out.status.code().unwrap_or(-1), text)
}

/// The daemon on a temporary site; stopped (and waited for) when dropped.
struct Daemon {
    child: Child,
    stderr: PathBuf,
}

impl Daemon {
    fn start(config: &Path, stderr: PathBuf) -> Daemon {
        let child = Command::new(bin())
            .args(["run", "--config", config.to_str().expect("utf-8")])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(fs::File::create(&stderr).expect("stderr file"))
            .spawn()
            .expect("start the daemon");
        Daemon { child, stderr }
    }

    fn log(&self) -> String {
        fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// SIGTERM, and the exit code.
    fn stop(mut self) -> Option<i32> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        self.child.wait().expect("wait for the daemon").code()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The state of medium `id` as `status --json` and as `media list --json` report it.
fn states(config: &str, id: &str, daemon: &Daemon) -> (serde_json::Value, serde_json::Value) {
    let (code, out) = logkeep(&["status", "--json", "--config", config]);
    assert_eq!(code, 0, "status: {out}\n{}", daemon.log());
    let status: serde_json::Value = serde_json::from_str(&out).expect("status JSON");
    let (code, out) = logkeep(&["media", "list", "--json", "--config", config]);
    assert_eq!(code, 0, "media list: {out}\n{}", daemon.log());
    let list: serde_json::Value = serde_json::from_str(&out).expect("media list JSON");
    let find = |v: &serde_json::Value| {
        v.as_array()
            .and_then(|a| a.iter().find(|m| m["id"] == id))
            .cloned()
            .unwrap_or(serde_json::Value::Null)
    };
    (find(&status["media"]), find(&list))
}

/// Wait until `status` and `media list` both say `want` for the medium, and return what they
/// said; fail if that does not happen within a minute.
fn wait_state(config: &str, id: &str, daemon: &Daemon, want: &str) -> (serde_json::Value, serde_json::Value) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (s, l) = states(config, id, daemon);
        if s["state"] == want && s["behind"] == 0 {
            return (s, l);
        }
        assert!(
            Instant::now() < deadline,
            "medium {id} never became {want:?} with nothing behind: status {s}, list {l}\n{}",
            daemon.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn status_and_media_list_agree_before_and_after_eject() {
    let site = tempfile::tempdir().expect("tmp");
    let usb = site.path().join("usb");
    fs::create_dir_all(&usb).expect("medium dir");
    let (code, out) = logkeep(&[
        "media",
        "init",
        usb.to_str().expect("utf-8"),
        "--id",
        "usb-a",
        "--force",
    ]);
    assert_eq!(code, 0, "media init: {out}");
    fs::create_dir_all(site.path().join("logs")).expect("logs");
    fs::write(site.path().join("logs/a.log"), b"one line\nanother line\n").expect("log");
    let config = site.path().join("c.toml");
    fs::write(
        &config,
        format!(
            "[control]\nsocket = \"ctl.sock\"\n\
             [store]\npath = \"store\"\nseal_interval = \"200ms\"\nscan_interval = \"100ms\"\n\
             [[source]]\nid = \"app\"\npaths = [\"logs/*.log\"]\n\
             [[media]]\nid = \"usb-a\"\npath = \"{}\"\n",
            usb.display()
        ),
    )
    .expect("config");
    let config_str = config.to_str().expect("utf-8");
    let daemon = Daemon::start(&config, site.path().join("daemon.stderr"));
    let deadline = Instant::now() + Duration::from_secs(60);
    while !site.path().join("ctl.sock").exists() {
        assert!(
            Instant::now() < deadline,
            "the control socket never appeared\n{}",
            daemon.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    // Before: the copier has caught up; both say so. (Free space and the time of the last copy
    // may change between the two questions, the state may not.)
    let (status, list) = wait_state(config_str, "usb-a", &daemon, "present");
    assert_eq!(status["state"], list["state"], "before eject\n{}", daemon.log());
    assert_eq!(status["path"], list["path"]);

    let (code, out) = logkeep(&["media", "eject", "usb-a", "--config", config_str]);
    assert_eq!(code, 0, "media eject: {out}\n{}", daemon.log());
    assert!(out.contains("safe to unplug"), "{out}");

    // After: ejected in both, never "present" in one of them.
    let (status, list) = wait_state(config_str, "usb-a", &daemon, "ejected (safe to unplug)");
    assert_eq!(status["state"], list["state"], "after eject\n{}", daemon.log());
    assert_eq!(status["head"], list["head"], "after eject\n{}", daemon.log());

    assert_eq!(daemon.stop(), Some(0), "the daemon must stop cleanly");
}
