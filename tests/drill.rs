//! `logkeep drill` against a real daemon with real media: a healthy installation passes and
//! reports every step; each thing that would fail on the day of an incident fails the drill and
//! is named (a medium unplugged past its age, a medium rolled back, a wrong fingerprint on
//! record, a file that cannot be read, a segment damaged on the medium, a remote that cannot
//! be reached). With `--remote` the bundle comes from the remote's copy on the real S3 test
//! server, pulled back whole. The drill changes the store only by its snapshot, the epoch
//! switch its signed bundle ends with, and its record, and leaves nothing behind in the
//! temporary directory. The timer and service units verify.
//! Every drill that must fail names its cause and nothing else: the steps it is not about
//! (the timeline among them) must pass.

use crate::support::bundle::{STEP, run};
use crate::support::media::init;
use crate::support::seal::keygen;
use crate::support::store::{logkeep, records, verify, walk, writable};
use crate::support::tools::require_tool;
use crate::support::{FAST_STORE, Site, bin, source};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// A site with a fast store, a control socket, a signing state, source `app` over
/// `logs/*.log`, media `usb-a` (and the `more_media` ids), and `[incident]` naming every
/// contact and the fingerprint `fp` (the site's own when `None`), plus `extra` lines.
fn site(more_media: &[&str], fp: Option<&str>, extra: &str) -> (Site, String) {
    let site = Site::new("");
    let own = keygen(&site.path("state"));
    let mut config = format!(
        "{FAST_STORE}\n[control]\nsocket = \"ctl.sock\"\n\n[signing]\nkey = \"state\"\n{}",
        source("app", &["logs/*.log"])
    );
    for id in std::iter::once(&"usb-a").chain(more_media) {
        init(&site.path(id), id);
        config.push_str(&format!("\n[[media]]\nid = \"{id}\"\npath = \"{id}\"\n"));
    }
    config.push_str(&format!(
        "\n[incident]\npolice = \"Prefectural police cyber-crime desk, 03-0000-0000\"\n\
         responders = [\"Sato, IT, 090-0000-0000\"]\n\
         fingerprint_holder = \"Tanaka, the office safe\"\nfingerprint = \"{}\"\n{extra}",
        fp.unwrap_or(&own)
    ));
    fs::write(site.config(), config).expect("config");
    fs::create_dir_all(site.path("tmp")).expect("tmp");
    site.append(
        "app.log",
        b"Dec  1 03:00:01 vpn-gw-1 sshd[1234]: Accepted password for alice from 203.0.113.7 port 50022 ssh2\n",
    );
    (site, own)
}

/// Start the daemon (under `wrapper`, if any) and wait until it captured the log and every
/// medium holds the chain.
fn start(site: &mut Site, wrapper: &[&str]) {
    site.start_under(wrapper);
    site.wait_captured(1);
    wait_media_caught_up(site);
}

/// `logkeep status --json` of the site's daemon.
fn status(site: &Site) -> Value {
    let run = logkeep(&[
        "status".as_ref(),
        "--json".as_ref(),
        "--config".as_ref(),
        site.config().as_os_str(),
    ]);
    assert_eq!(run.code, 0, "{run}");
    serde_json::from_str(&run.stdout).expect("status JSON")
}

/// Wait until every configured medium is present, holds the chain, and its catch-up is
/// recorded (the copier lists media only after its first pass, and records `caught_up` once).
fn wait_media_caught_up(site: &mut Site) {
    let config = fs::read_to_string(site.config()).expect("config");
    let lines: Vec<&str> = config.lines().collect();
    let ids: Vec<String> = lines
        .windows(2)
        .filter(|w| w[0] == "[[media]]")
        .filter_map(|w| w[1].strip_prefix("id = \"")?.strip_suffix('"'))
        .map(str::to_owned)
        .collect();
    site.wait_until(30, "every medium present, caught up and recorded", |s| {
        let st = status(s);
        let media = st["media"].as_array().expect("media");
        let caught_up = records(&s.store())
            .into_iter()
            .filter(|r| r["event"]["kind"] == "medium" && r["event"]["what"] == "caught_up")
            .map(|r| r["event"]["medium"].as_str().unwrap_or_default().to_owned())
            .collect::<Vec<_>>();
        // The head each medium holds, against the chain's head now (a medium's `behind` is
        // as of its last copy).
        let head = st["chain"]["head"]["seq"].as_u64().expect("head");
        media.len() == ids.len()
            && media.iter().all(|m| {
                m["state"] == "present" && m["head"]["seq"].as_u64().is_some_and(|h| h >= head)
            })
            && ids.iter().all(|id| caught_up.contains(id))
    });
}

/// `logkeep drill --json --config CONFIG ARGS...` with TMPDIR inside the site; returns the
/// exit code and the report.
fn drill(site: &Site, args: &[&str]) -> (i32, Value, String) {
    let mut cmd = Command::new(bin());
    cmd.arg("drill")
        .arg("--json")
        .arg("--config")
        .arg(site.config())
        .args(args)
        .env("TMPDIR", site.path("tmp"))
        .env_remove("JOURNAL_STREAM");
    let out = run(&mut cmd, None, STEP);
    let report: Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("drill printed no JSON report ({e}):\n{}", out.describe()));
    (out.code.unwrap_or(-1), report, out.describe())
}

/// The failures the drill named.
fn causes(report: &Value) -> Vec<String> {
    report["failures"]
        .as_array()
        .expect("failures")
        .iter()
        .map(|f| f.as_str().expect("a failure is a string").to_owned())
        .collect()
}

/// The steps as (name, ok).
fn steps(report: &Value) -> Vec<(String, bool)> {
    report["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|s| {
            (
                s["step"].as_str().expect("name").to_owned(),
                s["ok"].as_bool().expect("ok"),
            )
        })
        .collect()
}

/// The `drill` records of the store.
fn drill_records(store: &Path) -> Vec<Value> {
    records(store)
        .into_iter()
        .filter(|r| r["event"]["kind"] == "drill")
        .collect()
}

/// A failed drill: exit 1, recorded as failed, with `want` among its causes, and no step
/// failed but those in `may_fail` (the steps the test is about). When a bundle was made, the
/// timeline and latest-bytes steps ran over it and passed.
#[track_caller]
fn assert_fails_with(
    site: &Site,
    code: i32,
    report: &Value,
    text: &str,
    want: &[&str],
    may_fail: &[&str],
) {
    assert_eq!(code, 1, "{text}");
    assert_eq!(report["verdict"], "failed", "{text}");
    let steps = steps(report);
    for (name, ok) in &steps {
        assert!(
            *ok || may_fail.contains(&name.as_str()),
            "step {name} failed, and this test is about {may_fail:?} only:\n{text}"
        );
    }
    if !report["bundle_sha256"].is_null() {
        for want in ["verify", "openssl", "timeline", "latest"] {
            assert!(
                steps.iter().any(|(n, _)| n == want),
                "a bundle was made but step {want} did not run:\n{text}"
            );
        }
    }
    let causes = causes(report);
    for w in want {
        assert!(
            causes.iter().any(|c| c.contains(w)),
            "no cause names {w:?}: {causes:#?}\n{text}"
        );
    }
    let recorded = drill_records(&site.store());
    assert_eq!(recorded.len(), 1, "one drill record");
    assert_eq!(recorded[0]["event"]["verdict"], "failed");
    assert_eq!(
        recorded[0]["event"]["failures"], report["failures"],
        "the record holds the causes the report names"
    );
}

/// `cp -a` of a medium the copier may be writing to (its temporary files come and go): tried
/// again until one copy finds every file it listed.
fn copy_medium(from: &Path, to: &Path) {
    for _ in 0..50 {
        let ok = Command::new("cp")
            .arg("-a")
            .arg(from)
            .arg(to)
            .stderr(std::process::Stdio::null())
            .status()
            .expect("run cp")
            .success();
        if ok {
            return;
        }
        let _ = fs::remove_dir_all(to);
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("cannot copy {}", from.display());
}

/// Every file under `dir` with its bytes.
fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    walk(dir)
        .into_iter()
        .map(|p| {
            let rel = p
                .strip_prefix(dir)
                .expect("under dir")
                .display()
                .to_string();
            (rel, fs::read(&p).expect("read"))
        })
        .collect()
}

#[test]
fn a_healthy_drill_exports_from_the_medium_verifies_and_changes_only_its_records() {
    require_tool("openssl", "openssl");
    require_tool("zstd", "zstd");
    let (mut site, _) = site(&[], None, "");
    start(&mut site, &[]);
    let before = tree(&site.store());
    let head_before = records(&site.store()).len() as u64;

    let (code, report, text) = drill(&site, &[]);
    let names: Vec<String> = steps(&report).into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        names,
        [
            "arrangements",
            "medium",
            "snapshot",
            "copy",
            "export",
            "verify",
            "openssl",
            "timeline",
            "latest",
            "record"
        ],
        "{text}"
    );
    for (name, ok) in steps(&report) {
        assert!(ok, "step {name} failed:\n{text}");
    }
    assert!(causes(&report).is_empty(), "{text}");
    assert_eq!(report["medium"], "usb-a", "{text}");
    assert!(report["verified_ms"].as_u64().is_some(), "{text}");
    assert_eq!(code, 0, "{text}");
    assert_eq!(report["verdict"], "passed", "{text}");
    let tmp: Vec<_> = walk(&site.path("tmp"));
    assert!(tmp.is_empty(), "the drill left {tmp:?} behind");

    // The store: every file it had is unchanged; what is new is the snapshot (its context
    // segment and record), the epoch switch signing ends with, and the drill's record.
    let after = tree(&site.store());
    for (rel, bytes) in &before {
        if rel != "head.json" {
            assert_eq!(after.get(rel), Some(bytes), "{rel} changed");
        }
    }
    let new: Vec<Value> = records(&site.store())
        .into_iter()
        .filter(|r| r["seq"].as_u64().expect("seq") > head_before)
        .collect();
    for r in &new {
        let kind = r["event"]["kind"].as_str().expect("kind");
        match kind {
            "snapshot" => assert_eq!(r["event"]["reason"], "drill"),
            "segment" => {
                for span in r["event"]["spans"].as_array().expect("spans") {
                    assert_eq!(span["source"], "logkeep.snapshot", "{r}");
                }
            }
            "epoch" | "checkpoint" | "drill" => {}
            other => panic!("the drill wrote a {other} record: {r}"),
        }
    }
    let drills = drill_records(&site.store());
    assert_eq!(drills.len(), 1);
    assert_eq!(drills[0]["event"]["verdict"], report["verdict"]);
    assert_eq!(drills[0]["event"]["medium"], "usb-a");
    assert_eq!(drills[0]["event"]["bundle"], report["bundle_sha256"]);
    assert_eq!(drills[0]["seq"], report["record"]);
    // The daemon shows it; the store with its new record kind verifies.
    let st = status(&site);
    assert_eq!(st["drill"]["seq"], report["record"]);
    assert_eq!(st["drill"]["report"]["verdict"], report["verdict"]);
    let run = verify(&site.store(), &[]);
    assert_eq!(run.code, 0, "{run}");
    site.term();
}

#[test]
fn a_healthy_drill_passes_with_the_timeline() {
    require_tool("openssl", "openssl");
    let (mut site, fp) = site(&[], None, "");
    start(&mut site, &[]);
    let kept = site.path("kept");
    let (code, report, text) = drill(&site, &["--out", kept.to_str().expect("utf-8")]);
    assert_eq!(code, 0, "{text}");
    assert_eq!(report["verdict"], "passed", "{text}");
    assert!(steps(&report).iter().all(|(_, ok)| *ok), "{text}");
    let timeline = fs::read_to_string(kept.join("timeline.jsonl")).expect("timeline kept");
    // The sshd logon is an event, pointing at the bytes of the source `app`.
    assert!(
        timeline.lines().any(|l| {
            let v: Value = serde_json::from_str(l).expect("a JSON line");
            v["source"] == "app" && l.contains("203.0.113.7") && !v["evidence"]["sha256"].is_null()
        }),
        "the timeline holds the logon:\n{timeline}"
    );
    let bundle = walk(&kept)
        .into_iter()
        .find(|p| p.extension().is_some_and(|e| e == "tar"))
        .expect("the bundle is kept");
    let run = verify(&bundle, &["--fingerprint", &fp]);
    assert_eq!(run.code, 0, "{run}");
    let st = logkeep(&[
        "status".as_ref(),
        "--config".as_ref(),
        site.config().as_os_str(),
    ]);
    assert!(st.stdout.contains("last incident drill: passed"), "{st}");
    assert_eq!(
        drill_records(&site.store())[0]["event"]["verdict"],
        "passed"
    );
    site.term();
}

#[test]
fn a_medium_left_unplugged_past_its_age_fails_the_drill() {
    let (mut site, _) = site(&["usb-b"], None, "\n[drill]\nmedia_max_age = \"1s\"\n");
    start(&mut site, &[]);
    // Unplugged: the copier finds it gone, and it stays away longer than its age.
    fs::rename(site.path("usb-b"), site.path("usb-b.away")).expect("unplug");
    site.wait_until(30, "usb-b absent", |s| {
        status(s)["media"][1]["state"] == "absent"
    });
    std::thread::sleep(Duration::from_millis(1500));
    let (code, report, text) = drill(&site, &["--medium", "usb-a"]);
    assert_fails_with(
        &site,
        code,
        &report,
        &text,
        &["medium usb-b", "media_max_age"],
        &["arrangements"],
    );
    assert_eq!(causes(&report).len(), 1, "only usb-b is named:\n{text}");
    // The verdict is the daemon's to show: first on the systemd line, and in `status`.
    let st = logkeep(&[
        "status".as_ref(),
        "--config".as_ref(),
        site.config().as_os_str(),
    ]);
    assert!(st.stdout.contains("last incident drill: FAILED"), "{st}");
    assert!(
        st.stdout.contains("would fail on the day: medium usb-b"),
        "{st}"
    );
    site.term();
}

#[test]
fn a_medium_rolled_back_fails_the_drill() {
    let (mut site, _) = site(&[], None, "");
    start(&mut site, &[]);
    let old = site.path("usb-a.old");
    copy_medium(&site.path("usb-a"), &old);
    site.append(
        "app.log",
        b"2026-12-01 03:05:00 vpn login mallory from 198.51.100.9\n",
    );
    let n = records(&site.store()).len();
    site.wait_until(30, "more records", |s| records(&s.store()).len() > n);
    wait_media_caught_up(&mut site);
    // The medium's disk is put back to the older copy behind the copier's back: its
    // directories are swapped in one rename each, so the copier never finds it absent.
    let newer = site.path("usb-a.newer");
    fs::rename(site.path("usb-a"), &newer).expect("move the medium aside");
    fs::rename(&old, site.path("usb-a")).expect("put the older copy in its place");
    // Found by the drill or by the copier first: either way the drill names it.
    let (code, report, text) = drill(&site, &[]);
    assert_fails_with(
        &site,
        code,
        &report,
        &text,
        &["medium usb-a was rolled back"],
        &["arrangements", "medium", "copy"],
    );
    site.term();
}

#[test]
fn a_wrong_fingerprint_on_record_fails_the_drill() {
    require_tool("openssl", "openssl");
    let other = tempfile::tempdir().expect("tmp");
    let wrong = keygen(&other.path().join("state"));
    let (mut site, _) = site(&[], Some(&wrong), "");
    start(&mut site, &[]);
    let (code, report, text) = drill(&site, &[]);
    assert_fails_with(
        &site,
        code,
        &report,
        &text,
        &[
            "not signed by the key whose fingerprint is in [incident] fingerprint",
            "verify-with-openssl.sh says it does not verify",
        ],
        &["verify", "openssl"],
    );
    site.term();
}

#[test]
fn a_file_that_cannot_be_read_fails_the_drill() {
    // Root reads any file; the daemon runs without the capabilities that allow it.
    let root = rustix::process::geteuid().is_root();
    if root {
        require_tool("setpriv", "util-linux");
    }
    let (mut site, _) = site(&[], None, "");
    let secret = site.log("secret.log");
    fs::write(&secret, b"not for logkeep\n").expect("write");
    fs::set_permissions(&secret, std::os::unix::fs::PermissionsExt::from_mode(0o000))
        .expect("chmod 000");
    let wrapper: &[&str] = if root {
        &[
            "setpriv",
            "--bounding-set",
            "-dac_override,-dac_read_search",
            "--",
        ]
    } else {
        &[]
    };
    start(&mut site, wrapper);
    site.wait_until(30, "secret.log unreadable", |s| {
        status(s)["sources"][0]["unreadable"]
            .as_array()
            .is_some_and(|u| !u.is_empty())
    });
    let (code, report, text) = drill(&site, &[]);
    assert_fails_with(
        &site,
        code,
        &report,
        &text,
        &["secret.log cannot be read"],
        &["arrangements"],
    );
    assert_eq!(causes(&report).len(), 1, "only the file is named:\n{text}");
    site.term();
}

#[test]
fn a_segment_damaged_on_the_medium_fails_the_drill() {
    let (mut site, _) = site(&[], None, "");
    start(&mut site, &[]);
    // One bit of the medium's copy of the newest segment flipped.
    let seg = walk(&site.path("usb-a"))
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with(".tar.zst"))
        .max_by_key(|p| fs::metadata(p).map(|m| m.len()).unwrap_or(0))
        .expect("a segment on the medium");
    writable(&seg);
    let mut bytes = fs::read(&seg).expect("read");
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    fs::write(&seg, bytes).expect("write");
    let name = seg
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    let (code, report, text) = drill(&site, &[]);
    assert_fails_with(&site, code, &report, &text, &["export:"], &["export"]);
    assert!(
        causes(&report).iter().any(|c| c.contains(&name[..16])),
        "the cause names the segment {name}:\n{text}"
    );
    assert!(
        report["verified_ms"].is_null(),
        "no verified bundle:\n{text}"
    );
    site.term();
}

#[test]
fn the_drill_timer_and_service_verify() {
    require_tool("systemd-analyze", "systemd");
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dir = tempfile::tempdir().expect("tmp");
    for unit in [
        "logkeep.service",
        "logkeep-drill.service",
        "logkeep-drill.timer",
    ] {
        let text = fs::read_to_string(repo.join("systemd").join(unit)).expect("unit");
        // `verify` checks that the command exists: point it at the binary under test.
        fs::write(
            dir.path().join(unit),
            text.replace("/usr/bin/logkeep", bin()),
        )
        .expect("copy");
    }
    let timer = fs::read_to_string(dir.path().join("logkeep-drill.timer")).expect("timer");
    assert!(timer.contains("OnCalendar=monthly"), "{timer}");
    let service = fs::read_to_string(dir.path().join("logkeep-drill.service")).expect("service");
    assert!(
        service.contains(&format!(
            "ExecStart={} drill --config /etc/logkeep/logkeep.toml",
            bin()
        )),
        "{service}"
    );
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(dir.path().join("logkeep-drill.timer"))
        .arg(dir.path().join("logkeep-drill.service"))
        .output()
        .expect("systemd-analyze verify");
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "systemd-analyze verify: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_incident_sheet_names_the_contacts_and_the_commands() {
    let (site, fp) = site(&[], None, "");
    let run = logkeep(&[
        "incident".as_ref(),
        "--config".as_ref(),
        site.config().as_os_str(),
    ]);
    assert_eq!(run.code, 0, "{run}");
    for want in [
        "Prefectural police cyber-crime desk, 03-0000-0000",
        "Sato, IT, 090-0000-0000",
        "Tanaka, the office safe",
        fp.as_str(),
        "logkeep snapshot --config",
        &format!("--store {}", site.path("usb-a").display()),
        "logkeep media eject usb-a",
        "power the host off",
        "compromised host",
    ] {
        assert!(
            run.stdout.contains(want),
            "the sheet lacks {want:?}:\n{run}"
        );
    }
    // check-config knows both tables; a wrong value is an error naming the file and line.
    let run = logkeep(&[
        "check-config".as_ref(),
        "--config".as_ref(),
        site.config().as_os_str(),
    ]);
    assert!(
        run.stdout.contains(
            "[incident] police Prefectural police cyber-crime desk, 03-0000-0000, 1 responder(s)"
        ),
        "{run}"
    );
    assert!(run.stdout.contains("[drill] media_max_age 8days"), "{run}");
    let good = fs::read_to_string(site.config()).expect("config");
    for (bad, want) in [
        (
            "\n[drill]\nmedia_max_age = \"soon\"\n",
            "drill.media_max_age: \"soon\" is not a duration",
        ),
        (
            "\n[drill]\nmedia_max_ages = \"8d\"\n",
            "unknown field `media_max_ages`",
        ),
    ] {
        fs::write(site.config(), format!("{good}{bad}")).expect("config");
        let run = logkeep(&[
            "incident".as_ref(),
            "--config".as_ref(),
            site.config().as_os_str(),
        ]);
        assert_eq!(run.code, 2, "{run}");
        assert!(run.stderr.contains(want), "{want:?}:\n{run}");
        assert!(run.stderr.contains("logkeep.toml"), "{run}");
    }
    fs::write(
        site.config(),
        good.replace(
            &format!("fingerprint = \"{fp}\""),
            "fingerprint = \"not-one\"",
        ),
    )
    .expect("config");
    let run = logkeep(&[
        "incident".as_ref(),
        "--config".as_ref(),
        site.config().as_os_str(),
    ]);
    assert_eq!(run.code, 2, "{run}");
    let line = good
        .lines()
        .position(|l| l.starts_with("fingerprint = "))
        .expect("the fingerprint line")
        + 1;
    assert!(
        run.stderr
            .contains(&format!("logkeep.toml:{line}: incident.fingerprint")),
        "{run}"
    );
    // Without [incident], every contact is said to be missing.
    fs::write(
        site.config(),
        format!("{FAST_STORE}{}", source("app", &["logs/*.log"])),
    )
    .expect("config");
    let run = logkeep(&[
        "incident".as_ref(),
        "--config".as_ref(),
        site.config().as_os_str(),
    ]);
    assert_eq!(run.code, 0, "{run}");
    assert_eq!(run.stdout.matches("NOT SET").count(), 4, "{run}");
}

#[test]
fn a_drill_exports_from_the_remote_and_names_one_that_is_unreachable() {
    require_tool("openssl", "openssl");
    let s3 = crate::support::s3::server();
    let prefix = crate::support::s3::unique_prefix("drill");
    // `central` is the test server; `lost` a gateway nothing listens for.
    let lost = format!(
        "\n[[remote]]\nid = \"lost\"\nendpoint = \"http://127.0.0.1:9\"\nbucket = \"{}\"\nprefix = \"{prefix}\"\ncredentials = \"creds\"\nretention = \"1h\"\ntimeout = \"2s\"\n",
        s3.get("S3_BUCKET")
    );
    let remotes = format!(
        "{}{lost}",
        s3.remote_toml("S3_ENDPOINT", "S3_BUCKET", &prefix)
    );
    let (mut site, fp) = site(&[], None, &remotes);
    s3.credentials(&site.path("creds"), None);
    start(&mut site, &[]);

    let kept = site.path("kept");
    let (code, report, text) = drill(
        &site,
        &[
            "--remote",
            "central",
            "--out",
            kept.to_str().expect("utf-8"),
        ],
    );
    assert_eq!(code, 0, "{text}");
    assert_eq!(report["verdict"], "passed", "{text}");
    let names: Vec<String> = steps(&report).into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        names,
        [
            "arrangements",
            "remote",
            "snapshot",
            "copy",
            "pull",
            "export",
            "verify",
            "openssl",
            "timeline",
            "latest",
            "record"
        ],
        "{text}"
    );
    assert!(steps(&report).iter().all(|(_, ok)| *ok), "{text}");
    assert_eq!(report["remote"], "central", "{text}");
    assert!(report["medium"].is_null(), "{text}");
    // The bundle came from the pulled copy, which reaches the drill's snapshot.
    let bundle = walk(&kept)
        .into_iter()
        .find(|p| p.extension().is_some_and(|e| e == "tar"))
        .expect("the bundle is kept");
    let run = verify(&bundle, &["--fingerprint", &fp]);
    assert_eq!(run.code, 0, "{run}");
    let run = verify(&kept.join("pulled"), &[]);
    assert_eq!(run.code, 0, "{run}");
    let snapshot = records(&site.store())
        .into_iter()
        .rfind(|r| r["event"]["kind"] == "snapshot")
        .expect("the drill's snapshot");
    assert!(
        records(&kept.join("pulled"))
            .iter()
            .any(|r| r["seq"] == snapshot["seq"] && r["event"]["reason"] == "drill"),
        "the pulled copy holds the drill's snapshot record"
    );
    let recorded = drill_records(&site.store());
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0]["event"]["remote"], "central");
    assert!(recorded[0]["event"]["medium"].is_null());

    // Without --out, the pulled copy and the bundle go with the run.
    let (code, _, text) = drill(&site, &["--remote", "central"]);
    assert_eq!(code, 0, "{text}");
    let tmp: Vec<_> = walk(&site.path("tmp"));
    assert!(tmp.is_empty(), "the drill left {tmp:?} behind");

    // The lost remote: the drill fails at its copy, naming it, and makes no bundle.
    let (code, report, text) = drill(&site, &["--remote", "lost"]);
    assert_eq!(code, 1, "{text}");
    let named = causes(&report);
    assert_eq!(named.len(), 1, "{text}");
    assert!(
        named[0].starts_with("copy: remote lost is unreachable (failed"),
        "{text}"
    );
    for (name, ok) in steps(&report) {
        assert!(ok || name == "copy", "step {name} failed:\n{text}");
    }
    assert!(report["bundle_sha256"].is_null(), "{text}");
    let recorded = drill_records(&site.store());
    assert_eq!(recorded.len(), 3);
    assert_eq!(recorded[2]["event"]["verdict"], "failed");
    assert_eq!(recorded[2]["event"]["remote"], "lost");
    assert_eq!(recorded[2]["event"]["failures"], report["failures"]);

    // A remote that is not configured is named with those that are.
    let (code, report, text) = drill(&site, &["--remote", "nowhere"]);
    assert_eq!(code, 1, "{text}");
    assert!(
        causes(&report).iter().any(|c| c.contains(
            "--remote nowhere: no such remote in the configuration (configured: central, lost)"
        )),
        "{text}"
    );
    site.term();
}
