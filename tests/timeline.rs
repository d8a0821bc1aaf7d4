//! The investigator's timeline end to end: a real daemon captures known lines of every product
//! (in files and over syslog), and `logkeep timeline` must find each expected event with the
//! right user, address and time, whose evidence — offset, length and SHA-256 — cuts exactly
//! the original line out of the file `logkeep extract` writes (checked with `tail`, `head` and
//! `sha256sum`); lines that look alike but are not events give none. A bundle gives the same
//! timeline and carries `report.html`; a flipped byte makes the timeline refuse.

use crate::support::bundle::*;
use crate::support::require_tool;
use crate::support::store::segment_files;
use crate::support::syslog::{free_tcp_port, listener, tcp_send};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// One line a test writes, and the event it must give (`None`: a look-alike that gives none).
struct Line {
    text: String,
    want: Option<(
        &'static str,
        Option<&'static str>,
        Option<&'static str>,
        String,
    )>,
}

fn ev(
    text: String,
    kind: &'static str,
    user: Option<&'static str>,
    ip: Option<&'static str>,
    at: String,
) -> Line {
    Line {
        text,
        want: Some((kind, user, ip, at)),
    }
}

fn no(text: String) -> Line {
    Line { text, want: None }
}

/// Today in UTC, so that year-less syslog times resolve to this year whatever the date.
fn today() -> (String, String, String) {
    let out = run(Command::new("date").args(["-u", "+%Y %m %d"]), None, STEP);
    out.expect(0);
    let v: Vec<String> = out.stdout.split_whitespace().map(str::to_owned).collect();
    (v[0].clone(), v[1].clone(), v[2].clone())
}

fn month_abbr(mm: &str) -> &'static str {
    const M: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    M[mm.parse::<usize>().expect("month") - 1]
}

/// The known lines, per log file (file name, source id, lines).
#[rustfmt::skip]
fn corpus() -> Vec<(&'static str, &'static str, Vec<Line>)> {
    let (y, mm, dd) = today();
    let bsd = format!("{} {:>2}", month_abbr(&mm), dd.trim_start_matches('0'));
    let at = |t: &str| format!("{y}-{mm}-{dd}T{t}Z");
    let mut auth = vec![
        ev(format!("{bsd} 03:10:12 gw sshd[812]: Accepted password for alice from 203.0.113.5 port 50122 ssh2"), "logon_success", Some("alice"), Some("203.0.113.5"), at("03:10:12")),
        ev(format!("{bsd} 03:10:12 gw sshd[812]: pam_unix(sshd:session): session opened for user alice(uid=1000) by (uid=0)"), "session_start", Some("alice"), None, at("03:10:12")),
        no(format!("{bsd} 03:10:13 gw sshd[812]: Connection closed by 198.51.100.9 port 4022 [preauth]")),
        no(format!("{bsd} 03:10:13 gw logger: Accepted password for alice from 203.0.113.5 port 50122 ssh2")),
        no(format!("{bsd} 03:10:13 gw CRON[99]: pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)")),
        ev(format!("{bsd} 03:11:00 gw sudo:    alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/bin/bash"), "privilege_use", Some("alice"), None, at("03:11:00")),
        ev(format!("{bsd} 03:12:00 gw useradd[901]: new user: name=backup2, UID=1002, GID=1002, home=/home/backup2, shell=/bin/bash, from=/dev/pts/0"), "account_change", Some("backup2"), None, at("03:12:00")),
        ev(format!("{bsd} 03:20:00 gw sshd[900]: Invalid user oracle from 198.51.100.9 port 4023"), "logon_failure", Some("oracle"), Some("198.51.100.9"), at("03:20:00")),
    ];
    for s in 1..=5 {
        auth.push(ev(format!("{bsd} 03:20:0{s} gw sshd[900]: Failed password for root from 198.51.100.9 port 40{s}0 ssh2"), "logon_failure", Some("root"), Some("198.51.100.9"), at(&format!("03:20:0{s}"))));
    }
    let ctime = "Sat Dec  5 03:30:00 2026";
    let vpn = vec![
        ev(format!("{ctime} 203.0.113.5:51234 [alice] Peer Connection Initiated with [AF_INET]203.0.113.5:51234"), "vpn_connect", Some("alice"), Some("203.0.113.5"), "2026-12-05T03:30:00Z".into()),
        no(format!("{ctime} alice/203.0.113.5:51234 MULTI_sva: pool returned IPv4=10.8.0.6, IPv6=(Not enabled)")),
        ev(format!("{ctime} alice/203.0.113.5:51234 SIGTERM[soft,remote-exit] received, client-instance exiting"), "vpn_disconnect", Some("alice"), Some("203.0.113.5"), "2026-12-05T03:30:00Z".into()),
        no(format!("{ctime} Initialization Sequence Completed")),
    ];
    let ipsec = vec![
        ev(format!("{bsd} 03:40:00 gw charon: 10[IKE] IKE_SA rw[3] established between 192.0.2.1[gw.example]...203.0.113.7[bob@example.org]"), "vpn_connect", Some("bob@example.org"), Some("203.0.113.7"), at("03:40:00")),
        no(format!("{bsd} 03:40:00 gw charon: 10[IKE] IKE_SA rw[3] state change: CONNECTING => ESTABLISHED")),
        ev(format!("{bsd} 03:50:00 gw charon: 07[IKE] deleting IKE_SA rw[3] between 192.0.2.1[gw.example]...203.0.113.7[bob@example.org]"), "vpn_disconnect", Some("bob@example.org"), Some("203.0.113.7"), at("03:50:00")),
    ];
    let rdp = vec![
        ev("[20261205-04:00:00] [INFO ] ++ created session (access granted): username carol, ip 203.0.113.9:51234 - socket: 12".into(), "session_start", Some("carol"), Some("203.0.113.9"), "2026-12-05T04:00:00Z".into()),
        no("[20261205-04:00:00] [INFO ] connected client computer name: DESKTOP-1".into()),
        ev("[20261205-04:00:01] [INFO ] login failed for user mallory".into(), "logon_failure", Some("mallory"), None, "2026-12-05T04:00:01Z".into()),
    ];
    let fgt = vec![
        ev("date=2026-12-05 time=13:10:12 devname=\"FGT-EDGE\" devid=\"FG100F0000000001\" logid=\"0101039424\" type=\"event\" subtype=\"vpn\" level=\"information\" vd=\"root\" tz=\"+0900\" logdesc=\"SSL VPN tunnel up\" action=\"tunnel-up\" tunneltype=\"ssl-tunnel\" tunnelid=1 remip=203.0.113.5 user=\"alice\" group=\"vpn-users\"".into(), "vpn_connect", Some("alice"), Some("203.0.113.5"), "2026-12-05T04:10:12Z".into()),
        ev("date=2026-12-05 time=13:11:00 devname=\"FGT-EDGE\" logid=\"0100032001\" type=\"event\" subtype=\"system\" tz=\"+0900\" logdesc=\"Admin login successful\" user=\"admin\" srcip=198.51.100.7 action=\"login\" status=\"success\"".into(), "admin_login", Some("admin"), Some("198.51.100.7"), "2026-12-05T04:11:00Z".into()),
        ev("date=2026-12-05 time=13:12:00 devname=\"FGT-EDGE\" logid=\"0100044547\" type=\"event\" subtype=\"system\" tz=\"+0900\" logdesc=\"Object attribute configured\" user=\"admin\" action=\"Edit\" cfgpath=\"log.syslogd.setting\"".into(), "config_change", Some("admin"), None, "2026-12-05T04:12:00Z".into()),
        no("date=2026-12-05 time=13:12:01 devname=\"FGT-EDGE\" logid=\"0000000013\" type=\"traffic\" subtype=\"forward\" srcip=203.0.113.5 dstip=192.0.2.10 action=\"accept\"".into()),
    ];
    let asa = vec![
        ev(format!("{bsd} 04:20:00 asa1 : %ASA-6-113039: Group <GroupPolicy_VPN> User <dave> IP <203.0.113.11> AnyConnect parent session started."), "vpn_connect", Some("dave"), Some("203.0.113.11"), at("04:20:00")),
        ev(format!("{bsd} 04:21:00 asa1 : %ASA-6-611102: User authentication failed: IP address: 198.51.100.9, Uname: admin"), "logon_failure", Some("admin"), Some("198.51.100.9"), at("04:21:00")),
        no(format!("{bsd} 04:21:01 asa1 : %ASA-6-302013: Built inbound TCP connection 1 for outside:203.0.113.5/4000 (203.0.113.5/4000) to inside:192.0.2.10/443 (192.0.2.10/443)")),
    ];
    let ics = vec![
        ev(format!("{bsd} 04:30:00 ics1 PulseSecure: 2026-12-05 04:30:00 - ive - [203.0.113.12] erin(Users)[Users] - AUT23457: Login succeeded for erin/Users (session:00000000) from 203.0.113.12 with Pulse-Secure/9.1.18."), "logon_success", Some("erin"), Some("203.0.113.12"), "2026-12-05T04:30:00Z".into()),
        no(format!("{bsd} 04:30:01 ics1 PulseSecure: 2026-12-05 04:30:01 - ive - [203.0.113.12] erin(Users)[Users] - ERR24670: Cannot connect to NC client")),
    ];
    let win = vec![
        ev("{\"@timestamp\":\"2026-12-05T04:40:00.000Z\",\"winlog\":{\"event_id\":\"4624\",\"channel\":\"Security\",\"provider_name\":\"Microsoft-Windows-Security-Auditing\",\"computer_name\":\"RDS1\",\"event_data\":{\"TargetUserName\":\"frank\",\"LogonType\":\"10\",\"IpAddress\":\"203.0.113.13\"}}}".into(), "logon_success", Some("frank"), Some("203.0.113.13"), "2026-12-05T04:40:00Z".into()),
        no("{\"@timestamp\":\"2026-12-05T04:40:01.000Z\",\"winlog\":{\"event_id\":\"4624\",\"channel\":\"Security\",\"provider_name\":\"Microsoft-Windows-Security-Auditing\",\"computer_name\":\"RDS1\",\"event_data\":{\"TargetUserName\":\"SYSTEM\",\"LogonType\":\"5\"}}}".into()),
        ev("{\"@timestamp\":\"2026-12-05T04:41:00.000Z\",\"winlog\":{\"event_id\":1102,\"channel\":\"Security\",\"provider_name\":\"Microsoft-Windows-Eventlog\",\"computer_name\":\"RDS1\",\"user_data\":{\"SubjectUserName\":\"frank\"}}}".into(), "log_cleared", Some("frank"), None, "2026-12-05T04:41:00Z".into()),
        ev("{\"EventTime\":\"2026-12-05 04:42:00\",\"Hostname\":\"RDS1\",\"EventID\":7045,\"SourceName\":\"Service Control Manager\",\"Channel\":\"System\",\"ServiceName\":\"PSEXESVC\",\"ImagePath\":\"C:\\\\Windows\\\\PSEXESVC.exe\",\"AccountName\":\"LocalSystem\"}".into(), "service_installed", Some("LocalSystem"), None, "2026-12-05T04:42:00Z".into()),
    ];
    vec![
        ("auth.log", "auth", auth),
        ("openvpn.log", "vpn", vpn),
        ("charon.log", "ipsec", ipsec),
        ("xrdp-sesman.log", "rdp", rdp),
        ("fortigate.log", "fgt", fgt),
        ("asa.log", "asa", asa),
        ("ics.log", "ics", ics),
        ("winlogbeat.json", "win", win),
    ]
}

/// One `struct utmp` as glibc writes it on x86_64 (384 bytes; see the timeline crate's
/// `wtmp` module for the layout).
fn utmp(ty: i32, line: &str, user: &str, host: &str, sec: u32, addr: [u8; 4]) -> Vec<u8> {
    let mut r = vec![0u8; 384];
    r[0..4].copy_from_slice(&ty.to_le_bytes());
    r[4..8].copy_from_slice(&4242i32.to_le_bytes());
    r[8..8 + line.len()].copy_from_slice(line.as_bytes());
    r[44..44 + user.len()].copy_from_slice(user.as_bytes());
    r[76..76 + host.len()].copy_from_slice(host.as_bytes());
    r[340..344].copy_from_slice(&sec.to_le_bytes());
    r[348..352].copy_from_slice(&addr);
    r
}

fn timeline_of(path: &Path, extra: &[&str]) -> (Output, Vec<Value>) {
    let mut args: Vec<std::ffi::OsString> = vec!["timeline".into(), path.into()];
    args.extend(extra.iter().map(|a| a.into()));
    let out = logkeep(args);
    let rows = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    (out, rows)
}

/// The bytes `[offset, offset + length)` of `file`, cut by `tail -c` and `head -c`, hashed by
/// `sha256sum`: the investigator's check of an event's evidence.
fn cut_and_hash(file: &Path, offset: u64, length: u64) -> (Vec<u8>, String) {
    let script = format!(
        "tail -c +{} '{}' | head -c {length}",
        offset + 1,
        file.display()
    );
    let cut = bash(&script, Path::new("/"));
    cut.expect(0);
    let hash = bash(
        &format!(
            "tail -c +{} '{}' | head -c {length} | sha256sum",
            offset + 1,
            file.display()
        ),
        Path::new("/"),
    );
    hash.expect(0);
    (
        cut.raw.clone(),
        hash.stdout
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_owned(),
    )
}

#[test]
fn timeline_finds_every_known_event_with_evidence_that_reads_back() {
    require_investigator_tools();
    require_tool("python3", "python3");
    let port = free_tcp_port();
    let mut sources: Vec<(&str, &str)> = corpus().iter().map(|(f, s, _)| (*s, *f)).collect();
    sources.push(("wtmp", "wtmp"));
    sources.push(("btmp", "btmp"));
    sources.push(("victim", "victim.log"));
    let mut cap = Capture::start_with(
        &sources,
        &format!(
            "\n{}",
            listener("edge", &format!("tcp://127.0.0.1:{port}"), &[])
        ),
    );

    // Files: each line's offset is known, so each event's evidence can be checked exactly.
    let mut expected: BTreeMap<(String, u64), (String, &Line)> = BTreeMap::new();
    let corpus = corpus();
    let mut written: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for (file, _, lines) in &corpus {
        let mut data = Vec::new();
        for l in lines {
            let path = cap.log_path(file).display().to_string();
            expected.insert((path, data.len() as u64), (file.to_string(), l));
            data.extend_from_slice(l.text.as_bytes());
            data.push(b'\n');
        }
        cap.append(file, &data);
        written.insert(cap.log_path(file).display().to_string(), data);
    }
    // wtmp: a logon and a logout; btmp: a failed logon; a boot record gives nothing.
    let w = [
        utmp(2, "~", "reboot", "6.1.0", 1_796_443_200, [0; 4]),
        utmp(
            7,
            "pts/1",
            "grace",
            "203.0.113.20",
            1_796_443_260,
            [203, 0, 113, 20],
        ),
        utmp(8, "pts/1", "", "", 1_796_443_320, [0; 4]),
    ]
    .concat();
    cap.append("wtmp", &w);
    cap.append(
        "btmp",
        &utmp(
            6,
            "ssh:notty",
            "root",
            "198.51.100.30",
            1_796_443_380,
            [198, 51, 100, 30],
        ),
    );

    // Over syslog (TCP, LF-framed): an sshd line and a FortiGate line through the listener.
    let syslog_lines = [
        format!("<38>{} gw2 sshd[77]: Accepted publickey for heidi from 203.0.113.21 port 5000 ssh2", corpus[0].2[0].text.split(" gw ").next().unwrap_or("")),
        "<189>date=2026-12-05 time=05:00:00 devname=\"FGT-2\" logid=\"0101039426\" type=\"event\" subtype=\"vpn\" tz=\"+0000\" logdesc=\"SSL VPN login fail\" action=\"ssl-login-fail\" remip=198.51.100.31 user=\"ivan\"".to_owned(),
        "<38>Dec  5 05:00:01 gw2 sshd[77]: Server listening on 0.0.0.0 port 22.".to_owned(),
    ];
    let mut framed = Vec::new();
    for l in &syslog_lines {
        framed.extend_from_slice(l.as_bytes());
        framed.push(b'\n');
    }
    tcp_send(port, &framed);

    // A log truncated outside rotation: logkeep's own tamper record is an event too.
    cap.append("victim.log", b"some line\nanother line\n");
    fs::write(cap.log_path("victim.log"), b"").expect("truncate");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let tamper = cap
            .records()
            .iter()
            .any(|(_, r, _)| r["event"]["kind"] == "tamper");
        let wal_sealed = cap.records().iter().any(|(_, r, _)| {
            r["event"]["kind"] == "segment"
                && r["event"]["spans"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|s| {
                        s["source"] == "edge"
                            && s["end"].as_u64().unwrap_or(0) > framed.len() as u64
                    })
        });
        if tamper && wal_sealed {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no tamper record or sealed syslog messages"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    cap.stop();

    let (out, rows) = timeline_of(&cap.store, &[]);
    out.expect(0);
    // Timesketch's required fields on every row.
    for r in &rows {
        for f in [
            "message",
            "datetime",
            "timestamp_desc",
            "event",
            "source",
            "product",
        ] {
            assert!(r[f].is_string(), "{f} missing in {r}");
        }
    }

    // Every expected event, exactly once, at its line; nothing for the look-alikes.
    let extract_dir = cap.root.path().join("extracted");
    logkeep([
        "extract".as_ref(),
        cap.store.as_os_str(),
        "--out".as_ref(),
        extract_dir.as_os_str(),
    ])
    .expect(0);
    let index: BTreeMap<(String, u64), PathBuf> =
        fs::read_to_string(extract_dir.join("logkeep-extract.jsonl"))
            .expect("index")
            .lines()
            .map(|l| {
                let v: Value = serde_json::from_str(l).expect("index line");
                (
                    (
                        v["path"].as_str().unwrap_or("").to_owned(),
                        v["gen_id"].as_u64().unwrap_or(0),
                    ),
                    extract_dir.join(v["output"].as_str().unwrap_or("")),
                )
            })
            .collect();
    let mut found: BTreeMap<(String, u64), &Value> = BTreeMap::new();
    for r in &rows {
        let e = &r["evidence"];
        let key = (
            e["path"].as_str().unwrap_or("").to_owned(),
            e["offset"].as_u64().unwrap_or(u64::MAX),
        );
        assert!(
            found.insert(key.clone(), r).is_none(),
            "two events for one line: {r}"
        );
    }
    for ((path, offset), (file, line)) in &expected {
        let got = found.get(&(path.clone(), *offset));
        let Some((kind, user, ip, at)) = &line.want else {
            assert!(
                got.is_none(),
                "{file}: a look-alike line gave an event: {}\n{:?}",
                line.text,
                got
            );
            continue;
        };
        let r = got.unwrap_or_else(|| panic!("{file}: no event for {}", line.text));
        assert_eq!(r["event"], *kind, "{}", line.text);
        assert_eq!(r["user"].as_str(), *user, "user: {}", line.text);
        assert_eq!(r["src_ip"].as_str(), *ip, "address: {}", line.text);
        assert_eq!(
            r["datetime"].as_str().map(|d| d.replace(".000000", "")),
            Some(at.clone()),
            "time: {}",
            line.text
        );
        let e = &r["evidence"];
        let (len, gen_id) = (
            e["length"].as_u64().unwrap(),
            e["generation"].as_u64().unwrap(),
        );
        assert_eq!(len, line.text.len() as u64, "length: {}", line.text);
        // Cut the bytes out of the extracted original with standard tools.
        let extracted = index
            .get(&(path.clone(), gen_id))
            .unwrap_or_else(|| panic!("{path} gen {gen_id} not extracted"));
        let (bytes, hash) = cut_and_hash(extracted, *offset, len);
        assert_eq!(
            bytes,
            line.text.as_bytes(),
            "{file}: the evidence cuts another line"
        );
        assert_eq!(
            e["sha256"].as_str(),
            Some(hash.as_str()),
            "{file}: sha256sum of the cut bytes"
        );
        assert_eq!(
            &written[path][*offset as usize..(*offset + len) as usize],
            line.text.as_bytes()
        );
    }
    let file_events = rows
        .iter()
        .filter(|r| written.contains_key(r["evidence"]["path"].as_str().unwrap_or("")))
        .count();
    assert_eq!(
        file_events,
        expected.values().filter(|(_, l)| l.want.is_some()).count(),
        "extra events in the files"
    );

    // wtmp and btmp: records at multiples of 384, with the user, address and time they hold.
    let utmp_rows: Vec<&Value> = rows
        .iter()
        .filter(|r| matches!(r["product"].as_str(), Some("wtmp" | "btmp")))
        .collect();
    let summary: Vec<(String, String, String, u64)> = utmp_rows
        .iter()
        .map(|r| {
            (
                r["event"].as_str().unwrap_or("").to_owned(),
                r["user"].as_str().unwrap_or("").to_owned(),
                r["src_ip"].as_str().unwrap_or("").to_owned(),
                r["evidence"]["offset"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (
                "logon_success".into(),
                "grace".into(),
                "203.0.113.20".into(),
                384
            ),
            ("logoff".into(), "".into(), "".into(), 768),
            (
                "logon_failure".into(),
                "root".into(),
                "198.51.100.30".into(),
                0
            ),
        ]
    );
    assert_eq!(utmp_rows[0]["datetime"], "2026-12-05T04:01:00.000000Z");
    for r in &utmp_rows {
        let e = &r["evidence"];
        let f = &index[&(
            e["path"].as_str().unwrap().to_owned(),
            e["generation"].as_u64().unwrap(),
        )];
        let (_, hash) = cut_and_hash(f, e["offset"].as_u64().unwrap(), 384);
        assert_eq!(e["sha256"].as_str(), Some(hash.as_str()));
    }

    // Over syslog: the message bodies in the write-ahead log, not the framing around them.
    let edge: Vec<&Value> = rows.iter().filter(|r| r["source"] == "edge").collect();
    assert_eq!(edge.len(), 2, "two events over syslog: {edge:?}");
    assert_eq!(
        (edge[0]["event"].as_str(), edge[0]["user"].as_str()),
        (Some("logon_success"), Some("heidi"))
    );
    assert_eq!(
        (edge[1]["event"].as_str(), edge[1]["src_ip"].as_str()),
        (Some("logon_failure"), Some("198.51.100.31"))
    );
    for (r, sent) in edge.iter().zip(&syslog_lines) {
        let e = &r["evidence"];
        let f = &index[&(
            e["path"].as_str().unwrap().to_owned(),
            e["generation"].as_u64().unwrap(),
        )];
        let (bytes, hash) = cut_and_hash(
            f,
            e["offset"].as_u64().unwrap(),
            e["length"].as_u64().unwrap(),
        );
        assert_eq!(bytes, sent.as_bytes());
        assert_eq!(e["sha256"].as_str(), Some(hash.as_str()));
    }
    // Year-less syslog times say the zone was assumed and the year came from the capture.
    assert!(
        edge[0]["timestamp_desc"]
            .as_str()
            .unwrap_or("")
            .contains("year from capture time"),
        "{}",
        edge[0]
    );

    // logkeep's own tamper record, with the record file as its evidence.
    let tamper: Vec<&Value> = rows.iter().filter(|r| r["event"] == "tamper").collect();
    assert_eq!(tamper.len(), 1, "{tamper:?}");
    let e = &tamper[0]["evidence"];
    let rec = cap.store.join(e["path"].as_str().unwrap());
    let whole = fs::read(&rec).expect("record");
    let at = e["offset"].as_u64().expect("offset") as usize;
    let len = e["length"].as_u64().expect("length") as usize;
    assert_eq!(
        e["sha256"].as_str(),
        Some(sha256sum_hex(&whole[at..at + len]).as_str())
    );

    // --since and --until keep only the events inside; CSV carries the same rows.
    let (out, some) = timeline_of(
        &cap.store,
        &[
            "--since",
            "2026-12-05T04:00:00Z",
            "--until",
            "2026-12-05T04:59:59Z",
        ],
    );
    out.expect(0);
    assert!(!some.is_empty() && some.len() < rows.len());
    assert!(some.iter().all(|r| {
        r["datetime"]
            .as_str()
            .is_some_and(|d| d.starts_with("2026-12-05T04:"))
    }));
    let csv = cap.root.path().join("timeline.csv");
    logkeep([
        "timeline".as_ref(),
        cap.store.as_os_str(),
        "--format".as_ref(),
        "csv".as_ref(),
        "--out".as_ref(),
        csv.as_os_str(),
    ])
    .expect(0);
    let check = bash(
        &format!(
            "python3 -c 'import csv,sys; r=list(csv.reader(open(sys.argv[1], newline=\"\"))); print(len(r)-1, r[0][0], r[0][-1])' '{}'",
            csv.display()
        ),
        Path::new("/"),
    );
    check.expect(0);
    assert_eq!(
        check.stdout.trim(),
        format!("{} datetime evidence_sha256", rows.len())
    );

    // The report: self-contained, every alarm and number present.
    let html = cap.root.path().join("report.html");
    logkeep([
        "report".as_ref(),
        cap.store.as_os_str(),
        "--out".as_ref(),
        html.as_os_str(),
    ])
    .expect(0);
    let page = fs::read_to_string(&html).expect("report");
    check_self_contained(&html);
    for needle in [
        "log_cleared",
        "198.51.100.9",
        "alice",
        "<svg",
        "href=\"#r",
        "FGT-EDGE",
        "ログオン",
    ] {
        assert!(page.contains(needle), "the report lacks {needle}");
    }
    let dom = render_in_chromium(&html);
    assert!(
        dom.matches("class=\"bar\"").count() >= 5,
        "the chart's bars are in the rendered page"
    );
    assert!(
        dom.contains("class=\"mark\""),
        "the tamper hour is marked in the chart"
    );
    assert!(
        dom.contains("href=\"#g-kind-log_cleared\">1</a>"),
        "one cleared log, linked to its row"
    );
    assert!(
        dom.contains("href=\"#g-kind-logon_failure\">"),
        "failed logons counted"
    );
    assert!(
        page.contains("<h2 id=\"bursts\">") && page.contains("<td>198.51.100.9</td><td>"),
        "the burst of six failures from 198.51.100.9"
    );

    // A bundle gives the same timeline and seals report.html.
    let key = Key::generate(cap.root.path(), "host");
    let bundle = cap.root.path().join("evidence.tar");
    let incident = cap.root.path().join("incident.toml");
    fs::write(&incident, "notes = \"ransom note on FS01\"\n\n[[terminal]]\nname = \"FS01\"\nencrypted = \"yes\"\nsymptoms = \"files renamed *.locked\"\n\n[[terminal]]\nname = \"PC-042\"\nencrypted = \"unknown\"\ncolour = \"red\"\n").expect("incident");
    let export = |extra: &[&std::ffi::OsStr]| {
        let mut a: Vec<&std::ffi::OsStr> = vec![
            "export".as_ref(),
            "--store".as_ref(),
            cap.store.as_os_str(),
            "--out".as_ref(),
            bundle.as_os_str(),
            "--key".as_ref(),
            key.path.as_os_str(),
            "--config".as_ref(),
            cap.config.as_os_str(),
        ];
        a.extend_from_slice(extra);
        logkeep(a)
    };
    // An unknown key in the incident file: refused, naming the file and the line.
    let bad = export(&["--incident".as_ref(), incident.as_os_str()]);
    bad.expect(2);
    assert!(
        bad.stderr.contains("incident.toml")
            && bad.stderr.contains("colour")
            && bad.stderr.contains("line 11"),
        "{}",
        bad.describe()
    );
    assert!(!bundle.exists());
    let text = fs::read_to_string(&incident)
        .expect("incident")
        .replace("colour = \"red\"\n", "");
    fs::write(&incident, text).expect("incident");
    export(&["--incident".as_ref(), incident.as_os_str()]).expect(0);
    let (out, from_bundle) = timeline_of(&bundle, &["--fingerprint", &key.fingerprint]);
    out.expect(0);
    // The same events with the same evidence, but for where logkeep's own records are: a
    // bundle holds every record as `chain/N.json`, a layout 2 store in its shard (or pack).
    let placed = |rows: &[Value]| -> Vec<Value> {
        rows.iter()
            .map(|r| {
                let mut r = r.clone();
                if r["product"] == "logkeep" {
                    let e = r["evidence"].as_object_mut().expect("evidence");
                    e.remove("path");
                    e.remove("offset");
                }
                r
            })
            .collect()
    };
    assert_eq!(
        placed(&from_bundle),
        placed(&rows),
        "a bundle's timeline is its store's"
    );
    assert!(
        from_bundle
            .iter()
            .filter(|r| r["product"] == "logkeep")
            .all(|r| r["evidence"]["path"]
                .as_str()
                .is_some_and(|p| p.starts_with("chain/"))),
        "{from_bundle:?}"
    );
    let top = cap.root.path().join("untarred");
    fs::create_dir(&top).expect("mkdir");
    run(
        Command::new("tar")
            .arg("-xf")
            .arg(&bundle)
            .arg("-C")
            .arg(&top),
        None,
        STEP,
    )
    .expect(0);
    let dir = fs::read_dir(&top)
        .expect("read")
        .flatten()
        .next()
        .expect("bundle dir")
        .path();
    let sums = fs::read_to_string(dir.join("SHA256SUMS")).expect("SHA256SUMS");
    assert!(
        sums.lines().any(|l| l.ends_with("  report.html")),
        "report.html is sealed"
    );
    bash("sha256sum -c --strict --quiet SHA256SUMS", &dir).expect(0);
    check_self_contained(&dir.join("report.html"));
    assert!(
        sums.lines().any(|l| l.ends_with("  incident.json")),
        "incident.json is sealed"
    );
    let inc: Value =
        serde_json::from_slice(&fs::read(dir.join("incident.json")).expect("incident.json"))
            .expect("JSON");
    assert_eq!(inc["incident"]["terminal"][0]["name"], "FS01");
    assert_eq!(inc["incident"]["terminal"][1]["encrypted"], "unknown");
    assert_eq!(inc["inventory"]["device"][0]["name"], "vpn-gw-1");
    assert!(inc["network"].is_object());
    let sealed = fs::read_to_string(dir.join("report.html")).expect("report");
    assert!(
        sealed.contains("FS01: 暗号化あり / encrypted; files renamed *.locked"),
        "the first question answered"
    );
    assert!(
        sealed.contains("vpn-gw-1"),
        "the inventory's devices answer the third question"
    );
    assert!(
        sealed.contains("PSEXESVC") && sealed.contains("<svg"),
        "the bundle's report holds the store's events"
    );

    // A flipped byte in a segment: no timeline, exit 1, nothing on standard output.
    let copy = cap.root.path().join("store-copy");
    run(
        Command::new("cp").arg("-a").arg(&cap.store).arg(&copy),
        None,
        STEP,
    )
    .expect(0);
    let seg = segment_files(&copy).into_iter().max().expect("a segment");
    let mut bytes = fs::read(&seg).expect("segment");
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    fs::set_permissions(&seg, std::os::unix::fs::PermissionsExt::from_mode(0o644)).expect("chmod");
    fs::write(&seg, &bytes).expect("flip");
    let (out, none) = timeline_of(&copy, &[]);
    out.expect(1);
    assert!(none.is_empty(), "rows from a damaged store: {}", out.stdout);
    assert!(out.stderr.contains("does not verify"), "{}", out.describe());
    let flipped_out = cap.root.path().join("never.jsonl");
    logkeep([
        "timeline".as_ref(),
        copy.as_os_str(),
        "--out".as_ref(),
        flipped_out.as_os_str(),
    ])
    .expect(1);
    assert!(
        !flipped_out.exists(),
        "no output file for a store that does not verify"
    );
}

/// Open the page in headless Chromium with no network: the DOM it renders holds the chart's
/// bars and the numbers, and a screenshot is taken (left beside the page for a human to look
/// at when the test fails).
fn render_in_chromium(html: &Path) -> String {
    require_tool("chromium", "chromium");
    let dir = html.parent().expect("a directory");
    let profile = dir.join("chromium-profile");
    let shot = dir.join("report.png");
    let flags = |c: &mut Command| {
        c.arg("--headless")
            .arg("--no-sandbox")
            .arg("--disable-gpu")
            .arg("--disable-dev-shm-usage")
            .arg("--disable-background-networking")
            .arg("--no-first-run")
            .arg("--proxy-server=127.0.0.1:9")
            .arg("--host-resolver-rules=MAP * ~NOTFOUND")
            .arg(format!("--user-data-dir={}", profile.display()))
            .env("HOME", dir);
    };
    let mut c = Command::new("chromium");
    flags(&mut c);
    c.arg("--window-size=1280,4000")
        .arg(format!("--screenshot={}", shot.display()))
        .arg(format!("file://{}", html.display()));
    run(&mut c, None, STEP).expect(0);
    let png = fs::read(&shot).expect("screenshot");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "a screenshot of the page"
    );
    let mut c = Command::new("chromium");
    flags(&mut c);
    c.arg("--dump-dom")
        .arg(format!("file://{}", html.display()));
    let dom = run(&mut c, None, STEP);
    dom.expect(0);
    dom.stdout.clone()
}

/// Parse the page with Python's HTML parser: no script, no external reference of any kind.
fn check_self_contained(html: &Path) {
    let py = r##"
import sys
from html.parser import HTMLParser
bad = []
class P(HTMLParser):
    def handle_starttag(self, tag, attrs):
        if tag in ("script", "link", "iframe", "object", "embed", "img"):
            bad.append(tag)
        for k, v in attrs:
            if k in ("src", "href", "action", "srcset") and v and not v.startswith("#"):
                bad.append(k + "=" + v)
            if k == "style" and "url(" in (v or ""):
                bad.append("style url")
p = P()
text = open(sys.argv[1], encoding="utf-8").read()
p.feed(text)
if "url(" in text or "@import" in text:
    bad.append("css url")
print("BAD", bad) if bad else print("OK")
"##;
    let out = run(
        Command::new("python3").arg("-c").arg(py).arg(html),
        None,
        STEP,
    );
    out.expect(0);
    assert_eq!(out.stdout.trim(), "OK", "{}", out.stdout);
}

/// `preset = "sshd"` on a source: a logon line without the syslog header that names sshd
/// (a relay that forwards the message alone) is recognised in that source, and the same line
/// in a source without the preset is not; the preset is in the `config` record the timeline
/// reads.
#[test]
fn a_preset_recognises_lines_content_alone_does_not() {
    let line = "Accepted password for alice from 203.0.113.7 port 50022 ssh2\n";
    let mut site = crate::support::Site::new(&format!(
        "{}{}preset = \"sshd\"\n{}",
        crate::support::FAST_STORE,
        crate::support::source("relay", &["logs/relay.log"]),
        crate::support::source("plain", &["logs/plain.log"])
    ));
    site.append("relay.log", format!("noise\n{line}").as_bytes());
    site.append("plain.log", line.as_bytes());
    site.start();
    site.wait_captured((line.len() * 2 + 6) as u64);
    site.term();
    let recs = crate::support::records(&site.store());
    assert!(
        recs.iter().any(|r| r["event"]["kind"] == "config"
            && r["event"]["sources"][0]["preset"] == "sshd"
            && r["event"]["sources"][1].get("preset").is_none()),
        "the config record holds the preset"
    );
    let out = logkeep(["timeline".as_ref(), site.store().as_os_str()]);
    out.expect(0);
    let rows: Vec<serde_json::Value> = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(rows.len(), 1, "one event:\n{}", out.stdout);
    let r = &rows[0];
    assert_eq!(
        (&r["event"], &r["user"], &r["src_ip"], &r["source"]),
        (
            &serde_json::json!("logon_success"),
            &serde_json::json!("alice"),
            &serde_json::json!("203.0.113.7"),
            &serde_json::json!("relay")
        ),
        "{r}"
    );
    assert_eq!(r["evidence"]["offset"], 6, "{r}");
    assert_eq!(r["evidence"]["length"], line.len() - 1, "{r}");
}
