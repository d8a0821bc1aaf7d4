//! SIGHUP reloads the configuration (`systemctl reload`): sources added and removed take
//! effect and are recorded in the chain, the removed source's later writes are not captured,
//! what cannot change while running is named in the log as needing a restart, and a
//! configuration that does not load leaves the daemon running on the previous one.

use crate::support::{self as util, FAST_STORE, Site, records};
use serde_json::Value;
use std::fs;
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::time::Duration;

fn hup(pid: u32) {
    let pid = rustix::process::Pid::from_raw(pid.try_into().expect("pid")).expect("pid");
    rustix::process::kill_process(pid, rustix::process::Signal::HUP).expect("send SIGHUP");
}

/// The events of `kind`, in chain order.
fn of_kind(store: &Path, kind: &str) -> Vec<Value> {
    records(store)
        .into_iter()
        .filter(|r| r["event"]["kind"] == kind)
        .map(|r| r["event"].clone())
        .collect()
}

/// The highest span end the chain holds of files whose path ends in `name`.
fn captured_of(store: &Path, name: &str) -> u64 {
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
fn sighup_adds_and_removes_sources_and_survives_a_bad_config() {
    let mut site = Site::new(&format!(
        "{FAST_STORE}{}{}",
        util::source("a", &["logs/a.log"]),
        util::source("b", &["logs/b.log"])
    ));
    site.append("a.log", b"a before\n");
    site.append("b.log", b"b before\n");
    site.append("c.log", b"c before\n");
    let ns = site.path("notify");
    let listener = UnixDatagram::bind(&ns).expect("bind NOTIFY_SOCKET");
    listener
        .set_read_timeout(Some(Duration::from_millis(100)))
        .expect("timeout");
    let pid = site.spawn_with(&[("NOTIFY_SOCKET", ns.to_str().expect("utf-8"))]);
    site.wait_started(pid);
    let store = site.store();
    site.wait_until(30, "a.log and b.log captured", |s| {
        captured_of(&s.store(), "/a.log") == 9 && captured_of(&s.store(), "/b.log") == 9
    });
    assert_eq!(captured_of(&store, "/c.log"), 0, "c is not a source yet");

    // Remove a, add c, keep b; and ask for a store path that cannot change while running.
    fs::write(
        site.config(),
        format!(
            "{}{}{}",
            FAST_STORE.replace("path = \"store\"", "path = \"elsewhere\""),
            util::source("b", &["logs/b.log"]),
            util::source("c", &["logs/c.log"])
        ),
    )
    .expect("new config");
    let configs_before = of_kind(&store, "config").len();
    hup(pid);
    site.wait_until(30, "the reloaded config recorded", |s| {
        of_kind(&s.store(), "config").len() > configs_before
    });
    // systemd hears of the reload (`Type=notify-reload` needs it; `kill -HUP` does no harm).
    let mut seen: Vec<String> = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = std::time::Instant::now() + util::DEADLINE;
    loop {
        if let Ok(n) = listener.recv(&mut buf) {
            seen.extend(
                String::from_utf8_lossy(&buf[..n])
                    .lines()
                    .map(str::to_owned),
            );
        }
        let reloading = seen.iter().position(|m| m == "RELOADING=1");
        let ready_after = reloading.is_some_and(|r| seen[r..].iter().any(|m| m == "READY=1"));
        if ready_after {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "messages: {seen:?}");
    }
    assert!(
        seen.iter().any(|m| m.starts_with("MONOTONIC_USEC=")),
        "{seen:?}"
    );
    site.append("a.log", b"a after the reload\n");
    site.append("b.log", b"b after\n");
    site.append("c.log", b"c after\n");
    site.wait_until(30, "c.log and b.log captured", |s| {
        captured_of(&s.store(), "/c.log") == 17 && captured_of(&s.store(), "/b.log") == 17
    });
    // Give a.log every chance to be taken (many polls) before checking it was not.
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(
        captured_of(&store, "/a.log"),
        9,
        "a removed source's later writes are not captured"
    );
    let log = site.stderr();
    assert!(
        log.contains("[store] path changed") && log.contains("needs a restart"),
        "{log}"
    );
    assert!(
        !store.parent().expect("site").join("elsewhere").exists(),
        "the store path is kept"
    );

    // A configuration that does not load: logged, and the daemon runs on with the last one.
    fs::write(site.config(), "[store]\npath = 7\n").expect("bad config");
    hup(pid);
    site.wait_until(30, "the rejection logged", |s| {
        s.stderr().contains("the configuration is rejected")
    });
    site.append("b.log", b"b still\n");
    site.wait_until(30, "b.log captured after the bad reload", |s| {
        captured_of(&s.store(), "/b.log") == 25
    });
    site.assert_running("after a bad configuration");
    site.term();

    let config = of_kind(&store, "config");
    let last = config.last().expect("config record");
    let ids: Vec<&str> = last["sources"]
        .as_array()
        .expect("sources")
        .iter()
        .map(|s| s["id"].as_str().expect("id"))
        .collect();
    assert_eq!(ids, ["b", "c"], "{last}");
    assert!(
        of_kind(&store, "source_added")
            .iter()
            .any(|e| e["source"] == "c")
    );
    assert!(
        of_kind(&store, "source_removed")
            .iter()
            .any(|e| e["source"] == "a")
    );
    let closed: Vec<Value> = of_kind(&store, "closed");
    assert!(
        closed.iter().any(
            |e| e["path"].as_str().is_some_and(|p| p.ends_with("/a.log"))
                && e["reason"] == "unwatched"
                && e["end"] == 9
        ),
        "{closed:?}"
    );
    assert_eq!(
        captured_of(&store, "/c.log"),
        17,
        "c captured from its start"
    );
    util::assert_verifies(&store);
}
