//! `logkeep status --json` and `logkeep media list --json` report the same state for a medium,
//! before and after `logkeep media eject`, with the real daemon running: both read the
//! daemon's one status type, so an ejected medium is "ejected" in both, never "present" in
//! one of them.

use crate::support::*;
use std::time::{Duration, Instant};

/// The state of medium `id` as `status --json` and as `media list --json` report it.
fn states(site: &Site, id: &str) -> (serde_json::Value, serde_json::Value) {
    let config = site.config();
    let run = logkeep(&[
        "status".as_ref(),
        "--json".as_ref(),
        "--config".as_ref(),
        config.as_os_str(),
    ]);
    assert_eq!(run.code, 0, "status: {run}\n{}", site.stderr());
    let status: serde_json::Value = serde_json::from_str(&run.stdout).expect("status JSON");
    let run = logkeep(&[
        "media".as_ref(),
        "list".as_ref(),
        "--json".as_ref(),
        "--config".as_ref(),
        config.as_os_str(),
    ]);
    assert_eq!(run.code, 0, "media list: {run}\n{}", site.stderr());
    let list: serde_json::Value = serde_json::from_str(&run.stdout).expect("media list JSON");
    let find = |v: &serde_json::Value| {
        v.as_array()
            .and_then(|a| a.iter().find(|m| m["id"] == id))
            .cloned()
            .unwrap_or(serde_json::Value::Null)
    };
    // Null until the copier has reported the medium; the callers wait for a state.
    (find(&status["media"]), find(&list))
}

/// Wait until `status` says `want` for the medium, with nothing behind if `caught_up`, or
/// something behind if not, and return what `status` and `media list` said then; fail if that
/// does not happen within the deadline. (An ejected medium lacks at least the record of its own
/// detach, which the daemon commits after the eject: once the copier has seen that record, it
/// is behind.)
fn wait_state(
    site: &Site,
    id: &str,
    want: &str,
    caught_up: bool,
) -> (serde_json::Value, serde_json::Value) {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let (s, l) = states(site, id);
        let behind = s["behind"].as_u64().unwrap_or(0);
        if s["state"] == want && (caught_up == (behind == 0)) {
            return (s, l);
        }
        assert!(
            Instant::now() < deadline,
            "medium {id} never became {want:?} with {} behind: status {s}, list {l}\n{}",
            if caught_up { "nothing" } else { "something" },
            site.stderr()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn status_and_media_list_agree_before_and_after_eject() {
    let mut site = Site::new("");
    let usb = site.path("usb");
    media::init(&usb, "usb-a");
    std::fs::write(
        site.config(),
        format!(
            "[control]\nsocket = \"ctl.sock\"\n{FAST_STORE}{}\n[[media]]\nid = \"usb-a\"\npath = \"{}\"\n",
            source("app", &["logs/*.log"]),
            usb.display()
        ),
    )
    .expect("config");
    site.append("a.log", b"one line\nanother line\n");
    site.start();
    control::wait_socket(&site.path("ctl.sock"), &site);

    // Before: the copier has caught up; both say so. (Free space and the time of the last copy
    // may change between the two questions, the state may not.)
    let (status, list) = wait_state(&site, "usb-a", "present", true);
    assert_eq!(
        status["state"],
        list["state"],
        "before eject\n{}",
        site.stderr()
    );
    assert_eq!(status["path"], list["path"]);

    media::eject(&site, "usb-a");

    // After: ejected in both, never "present" in one of them.
    let (status, list) = wait_state(&site, "usb-a", "ejected (safe to unplug)", false);
    assert_eq!(
        status["state"],
        list["state"],
        "after eject\n{}",
        site.stderr()
    );
    assert_eq!(
        status["head"],
        list["head"],
        "after eject\n{}",
        site.stderr()
    );
    assert!(
        list["behind"].as_u64() > Some(0),
        "the detach record is not on the ejected medium: it is behind in both\n{list}"
    );

    site.term();
}
