//! The control socket with the real daemon and a real socket: an emergency snapshot end to end
//! (its records and host context are in the store, and the store verifies), `status`, a peer
//! outside the group refused, garbage, oversized and silent clients answered with errors while
//! capture goes on, 50 concurrent clients, export through the daemon, the sd_notify messages,
//! journald-style logging, and the shipped systemd unit, configurations and package metadata.

use crate::support::control::*;
use crate::support::{self as util, DEADLINE, Site};
use serde_json::{Value, json};
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixDatagram, UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The repository root.
fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A site that seals only when asked (seal interval of an hour) and polls every 50 ms.
fn lazy_site(open: &OpenDir) -> Site {
    Site::new(&format!(
        "[store]\npath = \"store\"\nseal_interval = \"1h\"\nscan_interval = \"50ms\"\n\n\
         [control]\nsocket = {:?}\n{}",
        open.socket().to_str().expect("utf-8"),
        util::source("vpn", &["logs/*.log"])
    ))
}

/// Wait until `status` shows `path` read up to `size` bytes.
fn wait_read(socket: &Path, path: &Path, size: u64) -> Value {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let st = ok(socket, json!({"op": "status"}));
        let file = st["sources"][0]["files"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|f| f["path"] == path.to_str().expect("utf-8"))
            .cloned();
        if let Some(f) = file
            && f["position"] == size
            && f["size"] == size
        {
            return f;
        }
        assert!(
            Instant::now() < deadline,
            "{} never read to {size}: {st}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn snapshot_seals_everything_and_stores_the_host_context() {
    let open = OpenDir::new();
    let sock = open.socket();
    let mut site = lazy_site(&open);
    site.append(
        "vpn.log",
        b"2026-11-20 02:58 TLS handshake from 198.51.100.7\n",
    );
    site.start();
    wait_socket(&sock, &site);
    site.append("vpn.log", b"2026-11-20 03:00 user admin authenticated\n");
    let log = site.log("vpn.log");
    let size = fs::metadata(&log).expect("log").len();
    // Read but not sealed: the lag is what a snapshot must make durable.
    let before = wait_read(&sock, &log, size);
    assert!(before["lag"].as_u64() > Some(0), "{before}");
    assert_eq!(
        before["lag"].as_u64(),
        Some(size - before["committed"].as_u64().expect("committed"))
    );

    let t = Instant::now();
    let run = util::logkeep(&[
        "snapshot",
        "--reason",
        "EDR alert: odd VPN login",
        "--json",
        "--socket",
        sock.to_str().expect("utf-8"),
    ]);
    let took = t.elapsed();
    assert_eq!(run.code, 0, "{run}");
    eprintln!("snapshot answered in {took:?}");
    assert!(took < Duration::from_secs(10), "a snapshot took {took:?}");
    let v: Value = serde_json::from_str(&run.stdout).expect("snapshot --json");
    let id = v["id"].as_str().expect("id").to_owned();
    // It answers once everything is durable: the head it names is the store's head.
    assert_eq!(head(&site.store()), v["head"], "{v}");

    let recs = util::records(&site.store());
    let snap = recs
        .iter()
        .find(|r| r["event"]["kind"] == "snapshot")
        .expect("a snapshot record");
    let ev = &snap["event"];
    assert_eq!(snap["seq"], v["seq"]);
    assert_eq!(ev["id"], id.as_str());
    assert_eq!(ev["reason"], "EDR alert: odd VPN login");
    assert_eq!(ev["uid"], rustix::process::geteuid().as_raw());
    assert!(ev["pid"].as_u64() > Some(0), "{ev}");
    assert!(ev["requested"].as_str().is_some_and(|t| t.ends_with('Z')));
    let context = ev["context"].as_u64().expect("context seq");
    assert_eq!(v["context"]["seq"], context);
    assert!(context < snap["seq"].as_u64().expect("seq"));

    // The context segment holds exactly the host context files, each a whole generation.
    let ctx = &recs[context as usize - 1];
    assert_eq!(ctx["event"]["kind"], "segment", "{ctx}");
    let names = [
        "request.json",
        "host.json",
        "users.json",
        "network.json",
        "connections.json",
        "processes.json",
    ];
    let spans = ctx["event"]["spans"].as_array().expect("spans");
    let paths: Vec<&str> = spans
        .iter()
        .map(|s| s["path"].as_str().expect("path"))
        .collect();
    let want: Vec<String> = names
        .iter()
        .map(|n| format!("/logkeep/snapshot/{id}/{n}"))
        .collect();
    assert_eq!(paths, want);
    assert!(
        spans
            .iter()
            .all(|s| s["source"] == "logkeep.snapshot" && s["start"] == 0)
    );
    assert_eq!(v["context"]["files"], json!(want));

    // Everything the log held was sealed before the context, by the snapshot itself.
    let sealed: u64 = recs
        .iter()
        .filter(|r| r["event"]["kind"] == "segment" && r["seq"].as_u64().expect("seq") < context)
        .flat_map(|r| r["event"]["spans"].as_array().expect("spans").clone())
        .filter(|s| s["source"] == "vpn")
        .map(|s| s["end"].as_u64().expect("end") - s["start"].as_u64().expect("start"))
        .sum();
    assert_eq!(sealed, size);
    let sealed_through = v["sealed_through"]["seq"]
        .as_u64()
        .unwrap_or_else(|| panic!("the snapshot answer names sealed_through.seq: {v}"));
    assert!(sealed_through < context, "{v}");
    let after = wait_read(&sock, &log, size);
    assert_eq!(after["lag"], 0, "{after}");

    util::assert_verifies(&site.store());
    let x = util::extract_all(&site.store());
    assert_eq!(
        x.only_generation("vpn", &log),
        &fs::read(&log).expect("log")[..]
    );
    let part = |name: &str| -> Value {
        let path = PathBuf::from(format!("/logkeep/snapshot/{id}/{name}"));
        serde_json::from_slice(x.only_generation("logkeep.snapshot", &path)).expect(name)
    };
    let daemon_pid = ok(&sock, json!({"op": "status"}))["pid"].clone();
    let req = part("request.json");
    assert_eq!(req["reason"], "EDR alert: odd VPN login");
    assert_eq!(req["daemon_pid"], daemon_pid);
    assert!(
        req["requester"]
            .as_str()
            .is_some_and(|c| c.contains("snapshot")),
        "{req}"
    );
    assert_eq!(
        req["sources"][0]["files"][0]["lag"].as_u64(),
        Some(0),
        "{req}"
    );
    assert_eq!(part("host.json")["hostname"], snap["host"]["hostname"]);
    let procs = part("processes.json");
    assert!(
        procs["processes"]
            .as_array()
            .expect("processes")
            .iter()
            .any(|p| p["pid"] == daemon_pid && p["comm"] == "logkeep"),
        "the daemon lists itself"
    );
    let net = part("network.json");
    assert!(
        net["addresses"].as_array().is_some_and(|a| !a.is_empty()),
        "{net}"
    );
    assert!(
        net["interfaces"].as_array().is_some_and(|a| !a.is_empty()),
        "{net}"
    );
    assert!(part("connections.json")["sockets"].is_array());
    assert!(part("users.json")["sessions"].is_array());

    // The human form names the id and the head.
    let run = util::logkeep(&[
        "snapshot",
        "--config",
        site.config().to_str().expect("utf-8"),
    ]);
    assert_eq!(run.code, 0, "{run}");
    assert!(run.stdout.starts_with("snapshot "), "{run}");
    assert!(run.stdout.contains("chain head: record "), "{run}");
    let snaps = ok(&sock, json!({"op": "status"}))["snapshots"].clone();
    assert_eq!(snaps["count"], 2, "{snaps}");
    assert_eq!(snaps["last"]["reason"], Value::Null, "{snaps}");

    // A restart does not try to follow the snapshot's files: no gap, no tamper.
    site.term();
    site.start();
    site.term();
    let kinds: Vec<Value> = util::records(&site.store())
        .iter()
        .map(|r| r["event"]["kind"].clone())
        .collect();
    assert!(
        !kinds.contains(&json!("gap")) && !kinds.contains(&json!("tamper")),
        "{kinds:?}"
    );
    util::assert_verifies(&site.store());
}

#[test]
fn status_reports_files_positions_head_and_recent_tampering() {
    let (mut site, open) = started("");
    let sock = open.socket();
    site.append("a.log", &[b'x'; 5000]);
    site.wait_captured(5000);
    // Logs do not shrink by themselves: a truncation is tampering.
    fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(site.log("a.log"))
        .expect("truncate");
    let deadline = Instant::now() + DEADLINE;
    while !util::records(&site.store())
        .iter()
        .any(|r| r["event"]["kind"] == "tamper")
    {
        assert!(
            Instant::now() < deadline,
            "no tamper record:\n{}",
            site.stderr()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    site.append("a.log", b"after\n");
    site.wait_captured(5006);

    let st = ok(&sock, json!({"op": "status"}));
    assert_eq!(st["version"], env!("CARGO_PKG_VERSION"));
    assert!(
        st["pid"].as_u64() > Some(0) && st["uptime_seconds"].is_u64(),
        "{st}"
    );
    assert!(
        st["started"].as_str().is_some_and(|t| t.ends_with('Z')),
        "{st}"
    );
    assert_eq!(st["store"]["path"], site.store().to_str().expect("utf-8"));
    assert_eq!(st["store"]["writable"], true);
    assert_eq!(st["config"], site.config().to_str().expect("utf-8"));
    assert_eq!(st["chain"]["head"], head(&site.store()), "{st}");
    assert!(st["chain"]["last_seal"]["seq"].as_u64() > Some(0), "{st}");
    assert_eq!(st["control"]["socket"], sock.to_str().expect("utf-8"));
    let src = &st["sources"][0];
    assert_eq!(src["id"], "vpn");
    let files = src["files"].as_array().expect("files");
    assert_eq!(files.len(), 1, "{src}");
    let f = &files[0];
    let meta = fs::metadata(site.log("a.log")).expect("meta");
    assert_eq!(f["path"], site.log("a.log").to_str().expect("utf-8"));
    assert_eq!(
        (f["dev"].as_u64(), f["ino"].as_u64()),
        (Some(meta.dev()), Some(meta.ino()))
    );
    assert!(
        f["generation"].as_u64() > Some(1),
        "a new generation after the truncation: {f}"
    );
    assert_eq!(
        (f["position"].as_u64(), f["committed"].as_u64()),
        (Some(6), Some(6))
    );
    assert_eq!((f["size"].as_u64(), f["lag"].as_u64()), (Some(6), Some(0)));
    let alert = &st["alerts"][0];
    assert_eq!(alert["kind"], "tamper", "{st}");
    assert_eq!(alert["path"], f["path"]);
    assert!(
        alert["what"]
            .as_str()
            .is_some_and(|w| w.starts_with("truncated")),
        "{alert}"
    );

    // The human form, with the socket found through the configuration.
    let run = util::logkeep(&["status", "--config", site.config().to_str().expect("utf-8")]);
    assert_eq!(run.code, 0, "{run}");
    for want in [
        "chain head: record ",
        "last seal: record ",
        "source vpn: 1 file(s)",
        "lag 0",
        "tamper",
    ] {
        assert!(run.stdout.contains(want), "{want:?} missing:\n{run}");
    }
    site.term();
}

#[test]
fn a_peer_outside_the_group_is_refused() {
    assert!(
        is_root(),
        "this test switches to another uid and must run as root (CI does)"
    );
    util::require_tool("setpriv", "util-linux");
    let group = "adm";
    let gid = gid_of(group).expect("Debian has group adm");
    let (mut site, open) = started(&format!("group = {group:?}"));
    let sock = open.socket();
    let bin = open.binary();
    let meta = fs::metadata(&sock).expect("socket");
    assert_eq!(meta.mode() & 0o777, 0o660, "socket mode");
    assert_eq!(
        meta.gid(),
        gid,
        "the socket belongs to the configured group"
    );
    let args = [
        "status",
        "--json",
        "--socket",
        sock.to_str().expect("utf-8"),
    ];

    // Outside the group: the socket's mode already keeps it out, and the CLI says why.
    let run = as_nobody(&[], &bin, &args);
    assert_eq!(run.code, 2, "{run}");
    assert!(run.stderr.contains("permission denied"), "{run}");
    assert!(run.stderr.contains("group adm"), "{run}");

    // In the group only as a supplementary group: admitted (the daemon reads /proc/PID/status).
    let run = as_nobody(&[gid], &bin, &args);
    assert_eq!(run.code, 0, "{run}");
    let st: Value = serde_json::from_str(&run.stdout).expect("status json");
    assert_eq!(st["chain"]["head"], head(&site.store()));

    // Even with the socket opened to everyone, the peer check refuses a stranger.
    fs::set_permissions(&sock, fs::Permissions::from_mode(0o666)).expect("chmod");
    let run = as_nobody(&[], &bin, &args);
    assert_eq!(run.code, 2, "{run}");
    assert!(
        run.stderr.contains("uid 65534")
            && run.stderr.contains("admits root and members of group adm"),
        "{run}"
    );
    let run = as_nobody(
        &[],
        &bin,
        &["snapshot", "--socket", sock.to_str().expect("utf-8")],
    );
    assert_eq!(run.code, 2, "{run}");
    assert!(
        !util::records(&site.store())
            .iter()
            .any(|r| r["event"]["kind"] == "snapshot"),
        "a refused peer caused no snapshot"
    );
    assert!(
        site.stderr().contains("refused a peer"),
        "{}",
        site.stderr()
    );
    site.term();
}

#[test]
fn garbage_oversized_and_silent_requests_get_errors_while_capture_goes_on() {
    let (mut site, open) = started("");
    let sock = open.socket();
    let err = |a: &Value, code: &str| {
        assert_eq!(a["ok"], false, "{a}");
        assert_eq!(a["code"], code, "{a}");
        assert!(a["error"].as_str().is_some_and(|e| !e.is_empty()), "{a}");
    };
    err(&raw(&sock, b"hello\n"), "bad_request");
    err(&raw(&sock, b"\x00\xff\xfe{{{\n"), "bad_request");
    err(&raw(&sock, b"\n"), "bad_request");
    err(&request(&sock, json!({"op": "reboot"})), "bad_request");
    err(
        &request(&sock, json!({"op": "status", "extra": 1})),
        "bad_request",
    );
    err(
        &request(&sock, json!({"v": 2, "op": "status"})),
        "bad_request",
    );
    err(
        &request(&sock, json!({"op": "status", "reason": "x"})),
        "bad_request",
    );
    err(
        &request(&sock, json!({"op": "snapshot", "reason": "x".repeat(2000)})),
        "bad_request",
    );
    // A megabyte without a newline.
    err(&raw(&sock, &vec![b'{'; 1 << 20]), "too_large");
    assert!(
        !util::records(&site.store())
            .iter()
            .any(|r| r["event"]["kind"] == "snapshot"),
        "no garbage turned into a snapshot"
    );

    // Silent clients take every slot...
    let silent: Vec<UnixStream> = (0..16)
        .map(|_| UnixStream::connect(&sock).expect("connect"))
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    // ... and capture does not notice.
    let t = Instant::now();
    site.append("a.log", &[b'y'; 20_000]);
    site.wait_captured(20_000);
    assert!(
        t.elapsed() < Duration::from_secs(4),
        "capture waited for the control socket: {:?}",
        t.elapsed()
    );
    // One more client waits for a slot and is answered once the silent ones time out.
    let t = Instant::now();
    let st = ok(&sock, json!({"op": "status"}));
    assert!(st["sources"][0]["files"][0]["committed"] == 20_000, "{st}");
    eprintln!(
        "a client behind 16 silent ones was answered after {:?}",
        t.elapsed()
    );
    for mut s in silent {
        err(&read_answer(&mut s), "timeout");
    }
    site.append("a.log", b"still capturing\n");
    site.wait_captured(20_016);
    assert_eq!(
        ok(&sock, json!({"op": "status"}))["store"]["writable"],
        true
    );
    site.term();
    util::assert_verifies(&site.store());
}

#[test]
fn fifty_concurrent_clients_are_all_served() {
    let (mut site, open) = started("");
    let sock = open.socket();
    let writer = {
        let log = site.log("a.log");
        std::thread::spawn(move || {
            for i in 0..200 {
                util::append(&log, format!("line {i:05}\n").as_bytes());
                std::thread::sleep(Duration::from_millis(2));
            }
        })
    };
    let clients: Vec<_> = (0..50)
        .map(|i| {
            let sock = sock.clone();
            std::thread::spawn(move || {
                // Every tenth client asks for a snapshot, the others for the status.
                let req = if i % 10 == 0 {
                    json!({"op": "snapshot", "reason": format!("client {i}")})
                } else {
                    json!({"op": "status"})
                };
                request(&sock, req)
            })
        })
        .collect();
    let answers: Vec<Value> = clients
        .into_iter()
        .map(|c| c.join().expect("client thread"))
        .collect();
    writer.join().expect("writer");
    for a in &answers {
        assert_eq!(a["ok"], true, "{a}");
    }
    let ids: std::collections::BTreeSet<&str> = answers
        .iter()
        .filter_map(|a| a["result"]["id"].as_str())
        .collect();
    assert_eq!(ids.len(), 5, "five distinct snapshots: {ids:?}");
    site.wait_captured(200 * 11);
    site.term();
    let snaps = util::records(&site.store())
        .iter()
        .filter(|r| r["event"]["kind"] == "snapshot")
        .count();
    assert_eq!(snaps, 5);
    util::assert_verifies(&site.store());
}

#[test]
fn export_without_store_seals_through_the_daemon() {
    let open = OpenDir::new();
    let sock = open.socket();
    let mut site = lazy_site(&open);
    // The daemon seals with the signing state and signs the bundle through the socket.
    let key = site.path("state");
    let run = util::logkeep(&["keygen", "--key", key.to_str().expect("utf-8")]);
    assert_eq!(run.code, 0, "{run}");
    let mut config = fs::read_to_string(site.config()).expect("config");
    config.push_str("\n[signing]\nkey = \"state\"\n");
    fs::write(site.config(), config).expect("config");
    site.start();
    wait_socket(&sock, &site);
    site.append("vpn.log", b"read but not sealed yet\n");
    wait_read(&sock, &site.log("vpn.log"), 24);
    let bundle = site.path("case.tar");
    let run = util::logkeep(&[
        "export",
        "--out",
        bundle.to_str().expect("utf-8"),
        "--config",
        site.config().to_str().expect("utf-8"),
        "--key",
        key.to_str().expect("utf-8"),
    ]);
    assert_eq!(run.code, 0, "{run}");
    assert!(run.stderr.contains("the daemon sealed its store"), "{run}");
    let run = util::verify(&bundle, &[]);
    assert_eq!(run.code, 0, "{run}");
    let out = site.path("x");
    let run = util::extract(&bundle, &out);
    assert_eq!(run.code, 0, "{run}");
    let got: Vec<u8> = util::walk(&out)
        .iter()
        .filter(|p| p.to_string_lossy().contains("vpn.log.gen"))
        .flat_map(|p| fs::read(p).expect("read"))
        .collect();
    assert_eq!(got, b"read but not sealed yet\n");
    site.term();
}

#[test]
fn capture_goes_on_when_the_socket_cannot_be_served_and_a_stale_one_is_replaced() {
    // A directory that does not exist: capture works, the log says why there is no socket.
    let mut site = Site::new(&format!(
        "{}\n[control]\nsocket = \"/nonexistent-logkeep-dir/control.sock\"\n{}",
        util::FAST_STORE,
        util::source("vpn", &["logs/*.log"])
    ));
    site.start();
    site.append("a.log", b"captured anyway\n");
    site.wait_captured(16);
    site.term();
    assert!(
        site.stderr().contains("control socket not served"),
        "{}",
        site.stderr()
    );
    let run = util::logkeep(&["status", "--config", site.config().to_str().expect("utf-8")]);
    assert_eq!(run.code, 2, "{run}");
    assert!(run.stderr.contains("is the daemon running?"), "{run}");

    // A socket file left by a crash (nothing listens) is replaced.
    let open = OpenDir::new();
    drop(UnixListener::bind(open.socket()).expect("bind"));
    assert!(open.socket().exists());
    let mut site = Site::new(&config(&open.socket(), ""));
    site.start();
    wait_socket(&open.socket(), &site);
    ok(&open.socket(), json!({"op": "status"}));
    // A second daemon on another store finds the socket alive and leaves it alone.
    let mut second = Site::new(&config(&open.socket(), ""));
    second.start();
    second.append("b.log", b"second daemon captures too\n");
    second.wait_captured(27);
    second.term();
    assert!(
        second.stderr().contains("another process"),
        "{}",
        second.stderr()
    );
    let st = ok(&open.socket(), json!({"op": "status"}));
    assert_eq!(st["store"]["path"], site.store().to_str().expect("utf-8"));
    site.term();
    assert!(
        !open.socket().exists(),
        "the daemon removes its socket when it stops"
    );
}

#[test]
fn systemd_notifications_ready_status_watchdog_stopping() {
    let dir = tempfile::tempdir().expect("tmp");
    let ns = dir.path().join("notify");
    let listener = UnixDatagram::bind(&ns).expect("bind NOTIFY_SOCKET");
    listener
        .set_read_timeout(Some(Duration::from_millis(100)))
        .expect("timeout");
    let open = OpenDir::new();
    let mut site = Site::new(&config(&open.socket(), ""));
    site.spawn_with(&[
        ("NOTIFY_SOCKET", ns.to_str().expect("utf-8")),
        ("WATCHDOG_USEC", "300000"),
    ]);
    let mut seen: Vec<String> = Vec::new();
    let mut buf = [0u8; 4096];
    let mut recv = |seen: &mut Vec<String>| {
        if let Ok(n) = listener.recv(&mut buf) {
            let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
            seen.extend(msg.lines().map(str::to_owned));
            true
        } else {
            false
        }
    };
    let deadline = Instant::now() + DEADLINE;
    let mut ready_answered = false;
    loop {
        recv(&mut seen);
        if !ready_answered && seen.iter().any(|m| m == "READY=1") {
            // READY=1 comes once capture runs: the control socket answers by then.
            ok(&open.socket(), json!({"op": "status"}));
            ready_answered = true;
        }
        let pings = seen.iter().filter(|m| *m == "WATCHDOG=1").count();
        if ready_answered && pings >= 3 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "messages so far: {seen:?}\n{}",
            site.stderr()
        );
    }
    assert!(
        seen.iter().any(|m| m.starts_with("STATUS=capturing ")),
        "{seen:?}"
    );
    let first_status = seen
        .iter()
        .position(|m| m.starts_with("STATUS="))
        .expect("status");
    let ready = seen.iter().position(|m| m == "READY=1").expect("ready");
    assert!(
        first_status < ready,
        "a STATUS= line while starting: {seen:?}"
    );
    assert_eq!(
        seen.iter().filter(|m| *m == "READY=1").count(),
        1,
        "{seen:?}"
    );
    site.term();
    while recv(&mut seen) {}
    assert!(seen.iter().any(|m| m == "STOPPING=1"), "{seen:?}");
    let last = util::records(&site.store()).pop().expect("records");
    assert_eq!(last["event"]["kind"], "stop");
}

#[test]
fn under_journald_lines_carry_syslog_priorities() {
    let open = OpenDir::new();
    let mut site = Site::new(&config(&open.socket(), ""));
    // The daemon's stderr file exists before it starts (opening it again truncates the same
    // inode), so that JOURNAL_STREAM can name its device and inode as systemd does.
    let path = site.stderr_file(1);
    fs::File::create(&path).expect("stderr");
    let meta = fs::metadata(&path).expect("meta");
    let stream = format!("{}:{}", meta.dev(), meta.ino());
    site.spawn_with(&[("JOURNAL_STREAM", &stream)]);
    site.append("a.log", &[b'z'; 3000]);
    let deadline = Instant::now() + DEADLINE;
    while util::captured_bytes(&site.store()) < 3000 {
        assert!(Instant::now() < deadline, "not captured");
        std::thread::sleep(Duration::from_millis(20));
    }
    fs::remove_file(site.log("a.log")).expect("delete the log");
    while !util::records(&site.store())
        .iter()
        .any(|r| r["event"]["kind"] == "tamper")
    {
        assert!(Instant::now() < deadline, "no tamper record");
        std::thread::sleep(Duration::from_millis(20));
    }
    site.term();
    let text = fs::read_to_string(&path).expect("stderr");
    assert!(
        !text.contains('\x1b'),
        "no colours for the journal:\n{text}"
    );
    for line in text.lines() {
        let ok = line.len() > 3
            && line.starts_with('<')
            && line.as_bytes()[1].is_ascii_digit()
            && line.as_bytes()[2] == b'>';
        assert!(ok, "every line starts with <N>: {line:?}");
        assert!(
            !line[3..].starts_with("20"),
            "no timestamp (journald adds one): {line:?}"
        );
    }
    assert!(
        text.lines()
            .any(|l| l.starts_with("<6>") && l.contains("capturing")),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("<4>") && l.contains("tampering recorded")),
        "tampering is a warning in the journal:\n{text}"
    );
}

#[test]
fn the_systemd_unit_verifies_and_rates_2_or_lower() {
    util::require_tool("systemd-analyze", "systemd");
    let unit = repo().join("systemd/logkeep.service");
    let text = fs::read_to_string(&unit).expect("systemd/logkeep.service");
    for want in [
        "Type=notify",
        "WatchdogSec=",
        "RuntimeDirectory=logkeep",
        "StateDirectory=logkeep",
        "User=logkeep",
        "SupplementaryGroups=adm systemd-journal",
        "ExecStart=/usr/bin/logkeep run --config /etc/logkeep/logkeep.toml",
    ] {
        assert!(text.contains(want), "the unit lacks {want}");
    }
    // `verify` checks that the command exists: point it at the binary under test.
    let dir = tempfile::tempdir().expect("tmp");
    let copy = dir.path().join("logkeep.service");
    fs::write(&copy, text.replace("/usr/bin/logkeep", util::bin())).expect("copy unit");
    let out = std::process::Command::new("systemd-analyze")
        .arg("verify")
        .arg(&copy)
        .output()
        .expect("systemd-analyze verify");
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "systemd-analyze verify: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let out = std::process::Command::new("systemd-analyze")
        .args(["security", "--offline=yes"])
        .arg(&unit)
        .env("SYSTEMD_COLORS", "0")
        .output()
        .expect("systemd-analyze security");
    let report = String::from_utf8_lossy(&out.stdout);
    let level: f64 = report
        .lines()
        .find_map(|l| {
            l.split("Overall exposure level for logkeep.service: ")
                .nth(1)
        })
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no overall exposure level in:\n{report}"));
    eprintln!("systemd-analyze security --offline=yes: exposure {level}");
    assert!(level <= 2.0, "exposure {level} > 2.0:\n{report}");
}

#[test]
fn shipped_configurations_are_valid() {
    for name in ["config/logkeep.toml", "config/edge-host.toml"] {
        let path = repo().join(name);
        let run = util::logkeep(&["check-config", "--config", path.to_str().expect("utf-8")]);
        assert_eq!(run.code, 0, "{name}:\n{run}");
    }
    let manifest = fs::read_to_string(repo().join("crates/logkeep/Cargo.toml")).expect("manifest");
    for want in [
        "[package.metadata.deb]",
        "\"../../config/logkeep.toml\", \"etc/logkeep/logkeep.toml\"",
        "unit-scripts = \"../../systemd\"",
    ] {
        assert!(manifest.contains(want), "package metadata lacks {want}");
    }
}

#[test]
fn tampering_triggers_an_automatic_snapshot_when_configured() {
    let open = OpenDir::new();
    let mut site = Site::new(&format!(
        "{}on_tamper = \"snapshot\"\n\n[control]\nsocket = {:?}\n{}",
        util::FAST_STORE,
        open.socket().to_str().expect("utf-8"),
        util::source("vpn", &["logs/*.log"])
    ));
    site.append("auth.log", &[b'a'; 4000]);
    site.start();
    site.wait_captured(4000);
    // An intruder empties the log: a tamper record, then an automatic snapshot.
    fs::write(site.log("auth.log"), b"").expect("truncate");
    let truncated_at = Instant::now();
    std::thread::sleep(Duration::from_millis(300));
    site.append("auth.log", b"new\n");
    let deadline = Instant::now() + DEADLINE;
    let snap = loop {
        let recs = util::records(&site.store());
        if let Some(r) = recs.iter().find(|r| r["event"]["kind"] == "snapshot") {
            break r.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no automatic snapshot:\n{}",
            site.stderr()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let ev = &snap["event"];
    let reason = ev["reason"].as_str().expect("reason");
    assert!(
        reason.starts_with("automatic, after tampering: "),
        "{reason}"
    );
    assert!(
        reason.contains("auth.log") && reason.contains("truncated"),
        "{reason}"
    );
    assert_eq!(ev["uid"], rustix::process::geteuid().as_raw());
    let tamper_seq = util::records(&site.store())
        .iter()
        .find(|r| r["event"]["kind"] == "tamper")
        .and_then(|r| r["seq"].as_u64())
        .expect("tamper record");
    assert!(snap["seq"].as_u64() > Some(tamper_seq));
    let first_took = truncated_at.elapsed();

    // The intruder empties it again, after the snapshot: tampering is recorded again, and the
    // snapshot it would trigger waits its minute.
    // The snapshot's own context files are captured too: count the log's bytes alone.
    let log_bytes = |site: &Site| -> u64 {
        util::records(&site.store())
            .iter()
            .filter(|r| r["event"]["kind"] == "segment")
            .flat_map(|r| r["event"]["spans"].as_array().expect("spans").clone())
            .filter(|s| s["source"] == "vpn")
            .map(|s| s["end"].as_u64().expect("end") - s["start"].as_u64().expect("start"))
            .sum()
    };
    let wait_log_bytes = |site: &Site, n: u64| {
        let deadline = Instant::now() + DEADLINE;
        while log_bytes(site) < n {
            assert!(
                Instant::now() < deadline,
                "only {} of {n} bytes of auth.log were committed:\n{}",
                log_bytes(site),
                site.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    wait_log_bytes(&site, 4000 + 4);
    fs::write(site.log("auth.log"), b"").expect("truncate again");
    std::thread::sleep(Duration::from_millis(300));
    site.append("auth.log", b"new again\n");
    let snap_seq = snap["seq"].as_u64().expect("snapshot seq");
    let deadline = Instant::now() + DEADLINE;
    while !util::records(&site.store()).iter().any(|r| {
        r["event"]["kind"] == "tamper"
            && r["seq"].as_u64() > Some(snap_seq)
            && r["event"]["what"] == "truncated"
    }) {
        assert!(
            Instant::now() < deadline,
            "the second truncation made no tamper record:\n{}",
            site.stderr()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // Time for a second snapshot to be taken, were it not held back: three times what the
    // first one took from the truncation to its record, at least two seconds, and capture
    // going on meanwhile (the engine has looked again at what is due).
    std::thread::sleep((first_took * 3).max(Duration::from_secs(2)));
    site.append("auth.log", b"and on\n");
    wait_log_bytes(&site, 4000 + 4 + 10 + 7);
    let snaps = |site: &Site| {
        util::records(&site.store())
            .iter()
            .filter(|r| r["event"]["kind"] == "snapshot")
            .count()
    };
    assert_eq!(
        snaps(&site),
        1,
        "tampering again within the minute must not take a second automatic snapshot"
    );
    site.term();
    assert_eq!(snaps(&site), 1, "at most one automatic snapshot a minute");
    util::assert_verifies(&site.store());
}
