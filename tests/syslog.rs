//! Syslog listeners with real senders — util-linux `logger`, rsyslog over TCP and TLS, raw
//! sockets, senders killed mid-frame — and the daemon killed under load: every message's bytes
//! are found exactly once in the extracted archive, whether a sender or the daemon died mid-frame.

use crate::support::rng::noise;
use crate::support::syslog::*;
use crate::support::*;
use std::collections::HashSet;
use std::fs;
use std::io::{ErrorKind, Write};
use std::net::{TcpStream, UdpSocket};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Stop the daemon, check the store, and return every message it holds for `id`.
fn stop_and_read(site: &mut Site, id: &str) -> Vec<Msg> {
    site.term();
    let (code, out) = verify(&site.path("store"), &[]).code_and_text();
    assert_eq!(code, 0, "{out}");
    messages(&stored_records(&site.path("store"), id))
}

fn logger(args: &[&str], file: &std::path::Path) {
    let out = Command::new("logger")
        .args(args)
        .arg("-f")
        .arg(file)
        .stdin(Stdio::null())
        .output()
        .expect("run logger");
    assert!(
        out.status.success(),
        "logger {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A record carries no metadata parsed from its message (`docs/SYSLOG.md`, "Metadata").
fn no_metadata(r: &Rec) -> bool {
    ["rfc", "ts", "host", "app"]
        .iter()
        .all(|k| r.flag(k).is_none())
}

/// HOSTNAME and APP-NAME (RFC 5424) or TAG without `[pid]:` (RFC 3164, as logger writes it:
/// `<PRI>Mmm dd hh:mm:ss HOST TAG: MSG`) of a stored body, read here without logkeep's parser.
fn header_fields<'a>(body: &'a [u8], rfc: &str) -> (&'a str, &'a str) {
    let text = std::str::from_utf8(body).expect("logger sends UTF-8");
    let f: Vec<&str> = text.splitn(8, ' ').collect();
    match rfc {
        "5424" => {
            assert!(f[0].starts_with('<') && f[0].ends_with(">1"), "{text:?}");
            (f[2], f[3])
        }
        _ => {
            // The day is padded with a space: `Nov  2`.
            let rest = text.split_once('>').expect("PRI").1;
            let fields: Vec<&str> = rest[15..].trim_start().splitn(3, ' ').collect();
            let tag = fields[1].trim_end_matches(':');
            (fields[0], tag.split('[').next().unwrap_or(tag))
        }
    }
}

#[test]
fn logger_over_udp_and_tcp_with_lf_and_octet_counting() {
    require_tool("logger", "bsdutils");
    let (u, t) = (free_udp_port(), free_tcp_port());
    let mut site = Site::new(&config(&format!(
        "{}{}",
        listener("fw", &format!("udp://127.0.0.1:{u}"), &[]),
        listener("vpn", &format!("tcp://127.0.0.1:{t}"), &[])
    )));
    start_with(&mut site, &[]);
    struct Run {
        args: &'static [&'static str],
        id: &'static str,
        tag: &'static str,
        /// The framing flag expected (none for UDP).
        framing: Option<&'static str>,
        rfc: &'static str,
    }
    let run = |args, id, tag, framing, rfc| Run {
        args,
        id,
        tag,
        framing,
        rfc,
    };
    let runs = [
        run(&["-d", "--rfc5424"], "fw", "udp5424", None, "5424"),
        run(&["-d", "--rfc3164"], "fw", "udp3164", None, "3164"),
        run(&["-T", "--rfc5424"], "vpn", "tcplf", Some("lf"), "5424"),
        run(&["-T", "--rfc3164"], "vpn", "tcp3164", Some("lf"), "3164"),
        run(
            &["-T", "--octet-count", "--rfc5424"],
            "vpn",
            "tcpoc",
            Some("oc"),
            "5424",
        ),
    ];
    let mut expect: Vec<(String, &str, Option<&str>, &str, &str)> = Vec::new();
    for Run {
        args,
        id,
        tag,
        framing,
        rfc,
    } in runs
    {
        let port = if id == "fw" { u } else { t };
        // Bodies that start with digits, and one of logger's 1 KiB maximum.
        let mut lines: Vec<String> = (0..40).map(|i| format!("{tag}-{i:03} login ok")).collect();
        lines.push(format!("{tag}-digits 404 200 1 2 3"));
        lines.push(format!("{tag}-long {}", "x".repeat(700)));
        let file = site.path(&format!("{tag}.txt"));
        fs::write(&file, lines.join("\n") + "\n").expect("lines");
        let port = port.to_string();
        let mut a = args.to_vec();
        a.extend(["-n", "127.0.0.1", "-P", &port, "-t", tag]);
        logger(&a, &file);
        for l in lines {
            expect.push((l, id, framing, rfc, tag));
        }
    }
    for id in ["fw", "vpn"] {
        let needles: Vec<&[u8]> = expect
            .iter()
            .filter(|e| e.1 == id)
            .map(|e| e.0.as_bytes())
            .collect();
        wait_wal(&site, id, &needles);
    }
    site.term();
    let (code, out) = verify(&site.path("store"), &[]).code_and_text();
    assert_eq!(code, 0, "{out}");
    for id in ["fw", "vpn"] {
        let msgs = messages(&stored_records(&site.path("store"), id));
        let mine: Vec<_> = expect.iter().filter(|e| e.1 == id).collect();
        assert_eq!(msgs.len(), mine.len(), "{id}: one message per line");
        for (text, _, framing, rfc, tag) in mine {
            let m = only(&msgs, text.as_bytes());
            let r = m.first();
            assert!(m.body.ends_with(text.as_bytes()), "{:?}", r);
            assert!(m.body.starts_with(b"<13>"), "{:?}", r);
            match framing {
                Some(f) => assert!(r.has(f) && r.transport == "tcp", "{r:?}"),
                None => assert!(
                    r.transport == "udp" && !r.has("lf") && !r.has("oc"),
                    "{r:?}"
                ),
            }
            // No metadata in the record: the header of the stored body says it all.
            assert!(no_metadata(r), "{r:?}");
            let (host, app) = header_fields(&m.body, rfc);
            assert!(!host.is_empty(), "{r:?}");
            assert_eq!(app, *tag, "{r:?}");
            assert!(r.local.starts_with("127.0.0.1:") && r.peer.starts_with("127.0.0.1:"));
        }
    }
}

#[test]
fn raw_bytes_come_back_exactly_over_tcp_and_udp() {
    let (u, t) = (free_udp_port(), free_tcp_port());
    let mut site = Site::new(&config(&format!(
        "{}{}",
        listener("raw", &format!("tcp://127.0.0.1:{t}"), &[]),
        listener("dg", &format!("udp://127.0.0.1:{u}"), &[])
    )));
    start_with(&mut site, &[]);
    // Octet counting: bodies with LF, NUL, invalid UTF-8, leading digits, 64 KiB.
    let oc_bodies: Vec<Vec<u8>> = vec![
        b"<13>1 - gw app - - - \x00\xff\xfe\xc3\x28 binary".to_vec(),
        noise(64 * 1024, 1),
        b"123 starts with digits".to_vec(),
        b"line one\nline two\r\n\n".to_vec(),
    ];
    let mut wire = Vec::new();
    for b in &oc_bodies {
        wire.extend(octet(b));
    }
    tcp_send(t, &wire);
    // LF framing, the first byte deciding: then bodies may start with digits; CR LF; NULs; a
    // 64 KiB line; and a last message without its LF.
    let big_line = noise_without_lf(64 * 1024, 2);
    let mut lf_wire = b"<13>Nov 20 04:00:00 gw sshd[1]: first\n".to_vec();
    lf_wire.extend(b"404 leading digits are text here\n");
    lf_wire.extend(b"2026-11-20 a date first\n");
    lf_wire.extend(b"ends with crlf\r\n");
    lf_wire.extend(b"nul\x00and\xffinvalid\n");
    lf_wire.extend(&big_line);
    lf_wire.extend(b"\nno final newline");
    tcp_send(t, &lf_wire);
    // UDP: one datagram, one message, trailing LF and all; the largest datagram IPv4 carries.
    let dg_bodies: Vec<Vec<u8>> = vec![
        b"<13>1 - gw app - - - udp \x00\xff".to_vec(),
        noise(65507, 3),
        b"99 bottles\n".to_vec(),
    ];
    let s = UdpSocket::bind("127.0.0.1:0").expect("bind");
    for b in &dg_bodies {
        s.send_to(b, ("127.0.0.1", u)).expect("send");
    }
    wait_wal(&site, "raw", &[b"no final newline", &big_line[..100]]);
    wait_wal(&site, "dg", &[b"99 bottles"]);
    site.term();
    let (code, out) = verify(&site.path("store"), &[]).code_and_text();
    assert_eq!(code, 0, "{out}");
    let raw = messages(&stored_records(&site.path("store"), "raw"));
    assert_each_once(&raw, &oc_bodies);
    for b in &oc_bodies {
        let m = raw.iter().find(|m| &m.body == b).expect("stored");
        assert!(m.last().has("oc") && !m.last().has("eof"), "{:?}", m.last());
    }
    let lf_expect: Vec<(&[u8], &str)> = vec![
        (b"<13>Nov 20 04:00:00 gw sshd[1]: first", "lf"),
        (b"404 leading digits are text here", "lf"),
        (b"2026-11-20 a date first", "lf"),
        (b"ends with crlf", "crlf"),
        (b"nul\x00and\xffinvalid", "lf"),
        (&big_line, "lf"),
        (b"no final newline", "lf"),
    ];
    assert_each_once(
        &raw,
        &lf_expect
            .iter()
            .map(|(b, _)| b.to_vec())
            .collect::<Vec<_>>(),
    );
    assert_eq!(raw.len(), oc_bodies.len() + lf_expect.len(), "nothing else");
    for (b, f) in &lf_expect {
        let m = raw.iter().find(|m| &m.body == b).expect("stored");
        assert!(m.last().has(f), "{f}: {:?}", m.last().flags);
        assert_eq!(m.last().has("eof"), *b == b"no final newline");
    }
    let first = raw
        .iter()
        .find(|m| m.body.ends_with(b"first"))
        .expect("first");
    assert_eq!(first.first().flags, ["lf"], "framing only, no metadata");
    // The metadata a reader derives from the stored bytes, with the documented rules.
    let m = logkeep_syslog::meta::parse(&first.body).expect("an RFC 3164 header");
    assert_eq!(
        (m.rfc, m.time, m.host, m.app),
        (
            logkeep_syslog::meta::Rfc::R3164,
            Some(&b"Nov 20 04:00:00"[..]),
            Some(&b"gw"[..]),
            Some(&b"sshd"[..])
        )
    );
    // The daemon is stopped and the store verified above.
    let dg = messages(&stored_records(&site.store(), "dg"));
    assert_each_once(&dg, &dg_bodies);
    assert_eq!(dg.len(), dg_bodies.len());
}

/// `bash` holding a connection open after writing `data`, to be killed mid-frame.
fn half_sender(port: u16, printf: &str) -> std::process::Child {
    Command::new("bash")
        .arg("-c")
        .arg(format!(
            "exec 3<>/dev/tcp/127.0.0.1/{port} && printf '{printf}' >&3 && exec sleep 30"
        ))
        .stdin(Stdio::null())
        .spawn()
        .expect("bash")
}

#[test]
fn oversize_messages_are_kept_in_pieces_and_senders_killed_mid_frame_lose_nothing() {
    require_tool("bash", "bash");
    let (t, u) = (free_tcp_port(), free_udp_port());
    let small = ["max_message_bytes = \"1KiB\""];
    let mut site = Site::new(&config(&format!(
        "{}{}[control]\nsocket = \"ctl.sock\"\n",
        listener("fw", &format!("tcp://127.0.0.1:{t}"), &small),
        listener("dg", &format!("udp://127.0.0.1:{u}"), &small)
    )));
    start_with(&mut site, &[]);
    let oc_big = noise(5000, 7);
    tcp_send(t, &octet(&oc_big));
    let lf_big = noise_without_lf(3000, 8);
    let mut w = lf_big.clone();
    w.extend(b"\r\n<13>after the big one\n");
    tcp_send(t, &w);
    let dg_big = noise(2500, 9);
    UdpSocket::bind("127.0.0.1:0")
        .expect("bind")
        .send_to(&dg_big, ("127.0.0.1", u))
        .expect("send");
    // Senders killed mid-frame: an octet-counted frame cut short, a line without its LF, and
    // an oversize frame cut after its first piece.
    let cut_big = "y".repeat(1500);
    let mut kids = vec![
        half_sender(t, "100 <13>cut short"),
        half_sender(t, "<13>line without end"),
        half_sender(t, &format!("3000 {cut_big}")),
    ];
    wait_wal(
        &site,
        "fw",
        &[b"after the big one", &cut_big.as_bytes()[..1024]],
    );
    std::thread::sleep(Duration::from_millis(300));
    for k in &mut kids {
        k.kill().expect("kill -9 the sender");
        k.wait().expect("wait");
    }
    wait_wal(&site, "fw", &[b"<13>cut short", b"<13>line without end"]);
    wait_wal(&site, "dg", &[&dg_big[2048..]]);
    // `logkeep status` counts what was stored, per listener and per peer.
    let sock = site.path("ctl.sock");
    let mut st = serde_json::Value::Null;
    wait_until(&site, 30, "the counters in `logkeep status`", || {
        st = status_json(&sock);
        st["listeners"][0]["messages"] == 6 && st["listeners"][0]["open_connections"] == 0
    });
    let l = &st["listeners"][0];
    assert_eq!(l["source"], "fw");
    assert_eq!(
        (&l["oversize"], &l["cut"], &l["connections"]),
        (&3.into(), &3.into(), &5.into()),
        "{l}"
    );
    assert_eq!(l["pieces"], 5 + 3 + 2, "{l}");
    let peer = &l["peers"][0];
    assert_eq!(
        (&peer["peer"], &peer["messages"], &peer["connections"]),
        (&"127.0.0.1".into(), &6.into(), &5.into()),
        "{l}"
    );
    let d = &st["listeners"][1];
    assert_eq!(
        (&d["source"], &d["messages"], &d["oversize"]),
        (&"dg".into(), &1.into(), &1.into()),
        "{d}"
    );
    assert!(d["udp"]["rcvbuf_bytes"].as_u64() > Some(0), "{d}");
    assert_eq!(d["udp"]["socket_drops"], 0, "{d}");
    let fw = stop_and_read(&mut site, "fw");
    let pieces = |m: &Msg| -> Vec<String> {
        m.recs
            .iter()
            .map(|r| r.flag("part").unwrap_or("-").to_owned())
            .collect()
    };
    let m = fw.iter().find(|m| m.body == oc_big).expect("octet-counted");
    assert_eq!(pieces(m), ["1/5", "2/5", "3/5", "4/5", "5/5"]);
    assert!(m.recs.iter().all(|r| r.body.len() <= 1024 && r.has("oc")));
    let m = fw.iter().find(|m| m.body == lf_big).expect("lf");
    assert_eq!(pieces(m), ["1+", "2+", "3/3"]);
    assert!(m.last().has("crlf"));
    let m = only(&fw, b"<13>cut short");
    assert_eq!(m.body, b"<13>cut short");
    assert!(m.last().has("oc") && m.last().has("eof") && m.last().flag("want") == Some("100"));
    let m = only(&fw, b"<13>line without end");
    assert!(m.last().has("lf") && m.last().has("eof"));
    let m = fw
        .iter()
        .find(|m| m.body == cut_big.as_bytes())
        .expect("cut big");
    assert_eq!(pieces(m), ["1/3", "2/3"]);
    assert_eq!(m.last().flag("want"), Some("3000"));
    assert!(m.last().has("eof"));
    only(&fw, b"<13>after the big one");
    assert_eq!(fw.len(), 6);
    let dg = messages(&stored_records(&site.path("store"), "dg"));
    assert_eq!(dg.len(), 1);
    assert_eq!(dg[0].body, dg_big);
    assert_eq!(pieces(&dg[0]), ["1/3", "2/3", "3/3"]);
}

/// What the rsyslog tests feed rsyslog (LF-framed on its input): printable and invalid UTF-8
/// bodies, one of 64 KiB. Not starting with a digit, and without NUL: rsyslog's own input
/// would misframe the one and rewrite the other.
fn rsyslog_lines(tag: &str) -> Vec<Vec<u8>> {
    let mut v: Vec<Vec<u8>> = (0..150)
        .map(|i| format!("<13>Nov 20 04:00:00 gw {tag}[{i}]: message {i:04} 404 ok").into_bytes())
        .collect();
    v.push(format!("<13>Nov 20 04:00:00 gw {tag}: bad \u{fffd}").into_bytes());
    let mut bad = format!("<13>Nov 20 04:00:00 gw {tag}: invalid ").into_bytes();
    bad.extend(b"\xff\xfe\xc3\x28 bytes");
    v.push(bad);
    let mut big = format!("<13>Nov 20 04:00:00 gw {tag}: big ").into_bytes();
    big.extend(
        noise_without_lf(64 * 1024, 4)
            .into_iter()
            .map(|b| if b == 0 { b'0' } else { b }),
    );
    v.push(big);
    v
}

fn feed(port: u16, lines: &[Vec<u8>]) {
    let mut wire = Vec::new();
    for l in lines {
        wire.extend(l);
        wire.push(b'\n');
    }
    tcp_send(port, &wire);
}

/// rsyslog's input on `input`, forwarding each message's raw bytes with octet counting.
fn forward_conf(input: u16, action: &str) -> String {
    format!(
        "module(load=\"imtcp\" StreamDriver.Name=\"ptcp\")\n\
         template(name=\"raw\" type=\"string\" string=\"%rawmsg%\")\n\
         ruleset(name=\"fwd\") {{\n  action(type=\"omfwd\" target=\"127.0.0.1\" protocol=\"tcp\" TCP_Framing=\"octet-counted\" template=\"raw\"\n    queue.type=\"LinkedList\" action.resumeRetryCount=\"-1\" action.resumeInterval=\"1\" {action})\n}}\n\
         input(type=\"imtcp\" port=\"{input}\" address=\"127.0.0.1\" ruleset=\"fwd\")\n"
    )
}

fn wait_all(site: &Site, id: &str, lines: &[Vec<u8>], rs: &Rsyslog) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let got = wal_records(site, id);
        if lines.iter().all(|l| got.iter().any(|r| &r.body == l)) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "rsyslog did not deliver everything ({} records); rsyslog said:\n{}\nlogkeep said:\n{}",
            got.len(),
            rs.stderr(),
            site.stderr()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn rsyslog_forwards_over_tcp_with_octet_counting() {
    let (ours, input) = (free_tcp_port(), free_tcp_port());
    let mut site = Site::new(&config(&listener(
        "fw",
        &format!("tcp://127.0.0.1:{ours}"),
        &[],
    )));
    start_with(&mut site, &[]);
    let rs = Rsyslog::start("", &forward_conf(input, &format!("port=\"{ours}\"")), input);
    let lines = rsyslog_lines("tcp");
    feed(input, &lines);
    wait_all(&site, "fw", &lines, &rs);
    drop(rs);
    let msgs = stop_and_read(&mut site, "fw");
    assert_each_once(&msgs, &lines);
    assert_eq!(msgs.len(), lines.len());
    assert!(msgs.iter().all(|m| m.last().has("oc")));
}

#[test]
fn rsyslog_forwards_over_tls_with_a_client_certificate() {
    need_rsyslog_tls();
    let (ours, input) = (free_tcp_port(), free_tcp_port());
    let certs_dir = tempfile::tempdir().expect("tmp");
    let c = make_certs(certs_dir.path());
    let p = |x: &std::path::Path| x.to_str().expect("utf-8").to_owned();
    let tls = [
        format!("tls_cert = \"{}\"", p(&c.server_cert)),
        format!("tls_key = \"{}\"", p(&c.server_key)),
        format!("tls_client_ca = \"{}\"", p(&c.ca)),
    ];
    let tls: Vec<&str> = tls.iter().map(String::as_str).collect();
    let mut site = Site::new(&config(&listener(
        "fw",
        &format!("tls://127.0.0.1:{ours}"),
        &tls,
    )));
    start_with(&mut site, &[]);
    // A client without a certificate is refused, and nothing it sends is stored.
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "printf '<13>1 - - - - - - no certificate\\n' | timeout 10 openssl s_client -connect 127.0.0.1:{ours} -quiet"
        ))
        .stdin(Stdio::null())
        .output()
        .expect("openssl s_client");
    let said = String::from_utf8_lossy(&out.stderr);
    // Exit 1 after the listener's alert; 124 would be timeout(1) ending a client that hung.
    assert_eq!(
        out.status.code(),
        Some(1),
        "openssl s_client without a client certificate must be refused: {}\n{said}",
        out.status
    );
    assert!(
        said.contains("certificate required"),
        "the listener refuses with the TLS alert `certificate required`:\n{said}"
    );
    let global = format!(
        "DefaultNetstreamDriver=\"gtls\" DefaultNetstreamDriverCAFile=\"{}\" DefaultNetstreamDriverCertFile=\"{}\" DefaultNetstreamDriverKeyFile=\"{}\"",
        p(&c.ca),
        p(&c.client_cert),
        p(&c.client_key)
    );
    let action = format!(
        "port=\"{ours}\" StreamDriver=\"gtls\" StreamDriverMode=\"1\" StreamDriverAuthMode=\"x509/certvalid\""
    );
    let rs = Rsyslog::start(&global, &forward_conf(input, &action), input);
    let lines = rsyslog_lines("tls");
    feed(input, &lines);
    wait_all(&site, "fw", &lines, &rs);
    drop(rs);
    let msgs = stop_and_read(&mut site, "fw");
    assert_each_once(&msgs, &lines);
    assert!(
        !msgs.iter().any(|m| contains(&m.body, b"no certificate")),
        "a message from the client without a certificate was stored"
    );
    assert_eq!(
        msgs.len(),
        lines.len(),
        "the client without a certificate got nothing in"
    );
    assert!(
        msgs.iter()
            .all(|m| m.last().has("oc") && m.last().transport == "tls")
    );
}

/// A TCP sender of numbered LF-framed messages until it fails or `stop` is set; returns the
/// number of messages it wrote completely.
fn load_sender(port: u16, who: usize, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
            return 0;
        };
        let pad = "p".repeat(300);
        let mut n = 0u64;
        let mut batch = Vec::new();
        while !stop.load(Ordering::Relaxed) {
            batch.clear();
            for k in 0..20 {
                batch
                    .extend(format!("<13>1 - h load - - - S{who}-{:08} {pad}\n", n + k).as_bytes());
            }
            if s.write_all(&batch).is_err() {
                break;
            }
            n += 20;
        }
        n
    })
}

fn id_of(body: &[u8]) -> Option<(usize, u64)> {
    let text = std::str::from_utf8(body).ok()?;
    let rest = text.split(" S").nth(1)?;
    let (who, rest) = rest.split_once('-')?;
    Some((who.parse().ok()?, rest.get(..8)?.parse().ok()?))
}

#[test]
fn kill_9_under_load_loses_nothing_that_reached_the_write_ahead_log() {
    let t = free_tcp_port();
    let mut site = Site::new(&config(&listener(
        "fw",
        &format!("tcp://127.0.0.1:{t}"),
        &["wal_file_bytes = \"256KiB\""],
    )));
    start_with(&mut site, &[]);
    let stop = Arc::new(AtomicBool::new(false));
    let senders: Vec<_> = (0..3).map(|w| load_sender(t, w, stop.clone())).collect();
    // Let files rotate, get captured, renamed and deleted under load.
    std::thread::sleep(Duration::from_millis(1500));
    site.kill9();
    // What reached the write-ahead log, at the moment of the kill. (An empty newest file is
    // reused by the next run, and holds nothing to compare.)
    let snapshot: Vec<(String, Vec<u8>)> = wal_files(&site, "fw")
        .into_iter()
        .map(|(n, p)| {
            (
                n.trim_end_matches(".done").to_owned(),
                fs::read(p).expect("read"),
            )
        })
        .filter(|(_, b)| !b.is_empty())
        .collect();
    stop.store(true, Ordering::Relaxed);
    let sent: Vec<u64> = senders
        .into_iter()
        .map(|s| s.join().expect("sender"))
        .collect();
    assert!(!snapshot.is_empty());
    start_with(&mut site, &[]);
    // After the restart every file of the killed run is finished: wait until capture has
    // committed each of them (renamed to .done, or already gone).
    let names: Vec<String> = snapshot.iter().map(|(n, _)| n.clone()).collect();
    wait_until(
        &site,
        60,
        "the old write-ahead log files to be captured",
        || {
            names
                .iter()
                .all(|n| !site.path("store/wal/fw").join(n).exists())
        },
    );
    site.term();
    let (code, out) = verify(&site.path("store"), &[]).code_and_text();
    assert_eq!(code, 0, "{out}");
    let stored = stored_files(&site.path("store"), "fw");
    for (name, bytes) in &snapshot {
        let got: Vec<&(String, u64, Vec<u8>)> = stored.iter().filter(|f| &f.0 == name).collect();
        assert_eq!(got.len(), 1, "{name}: one generation");
        assert!(
            got[0].2 == *bytes,
            "{name}: the store holds {} bytes, the file held {} at the kill",
            got[0].2.len(),
            bytes.len()
        );
    }
    let recs: Vec<Rec> = stored.iter().flat_map(|f| parse_wal(&f.2)).collect();
    let mut seen = HashSet::new();
    for r in &recs {
        // A record cut by the kill holds a message the sender sent, only partly.
        let Some(id) = id_of(&r.body).filter(|_| r.complete) else {
            continue;
        };
        assert!(seen.insert(id), "message {id:?} stored twice");
        assert!(id.1 < sent[id.0] + 20, "message {id:?} was never sent");
    }
    let total: u64 = sent.iter().sum();
    eprintln!(
        "kill -9 under load: {total} messages sent, {} stored, {} in flight lost with the process",
        seen.len(),
        total.saturating_sub(seen.len() as u64)
    );
    assert!(seen.len() > 1000, "the load was too light to mean anything");
}

#[test]
fn overload_slows_tcp_senders_and_drops_nothing() {
    let t = free_tcp_port();
    let mut site = Site::new(&config(&listener(
        "fw",
        &format!("tcp://127.0.0.1:{t}"),
        &[],
    )));
    // A writer made slow on purpose: 128 KiB per 40 ms, about 3 MiB/s.
    start_with(&mut site, &[("LOGKEEP_TEST_WAL_DELAY_MS", "40")]);
    let total = 24 * 1024 * 1024;
    let line_len = 1024;
    let mut s = TcpStream::connect(("127.0.0.1", t)).expect("connect");
    s.set_write_timeout(Some(Duration::from_millis(50)))
        .expect("timeout");
    let started = Instant::now();
    let mut blocked = Duration::ZERO;
    let mut n = 0u64;
    let mut pending: Vec<u8> = Vec::new();
    let mut written = 0usize;
    while written < total {
        if pending.is_empty() {
            let mut l = format!("<13>1 - h over - - - M{n:08} ").into_bytes();
            l.resize(line_len - 1, b'o');
            l.push(b'\n');
            pending = l;
            n += 1;
        }
        match s.write(&pending) {
            Ok(k) => {
                written += k;
                pending.drain(..k);
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                blocked += Duration::from_millis(50);
            }
            Err(e) => panic!("the listener dropped the connection: {e}"),
        }
    }
    let elapsed = started.elapsed();
    drop(s);
    let last = format!("M{:08} ", n - 1);
    wait_wal(&site, "fw", &[last.as_bytes()]);
    eprintln!(
        "overload: {n} messages ({} MiB) in {elapsed:?}, the sender blocked for {blocked:?}",
        total >> 20
    );
    assert!(
        blocked >= Duration::from_millis(500),
        "the sender was never slowed ({blocked:?} blocked in {elapsed:?})"
    );
    let msgs = stop_and_read(&mut site, "fw");
    assert_eq!(msgs.len() as u64, n, "every message stored once");
    let mut ids = HashSet::new();
    for m in &msgs {
        let text = String::from_utf8_lossy(&m.body);
        let id = text
            .split(" M")
            .nth(1)
            .and_then(|r| r.get(..8))
            .expect("id");
        assert!(ids.insert(id.to_owned()), "M{id} stored twice");
    }
}

#[test]
fn listen_configuration_errors_name_the_line() {
    let dir = tempfile::tempdir().expect("tmp");
    let check = |sources: &str, expect: &str| {
        let f = dir.path().join("c.toml");
        fs::write(&f, config(sources)).expect("config");
        let (code, out) =
            logkeep(&["check-config", "--config", f.to_str().expect("utf-8")]).code_and_text();
        assert_eq!(code, 2, "{out}");
        assert!(out.contains(expect), "expected {expect:?} in: {out}");
        assert!(out.contains("c.toml:"), "no file:line in: {out}");
    };
    check(
        "[[source]]\nid = \"fw\"\nlisten = \"tcp://127.0.0.1:514\"\npaths = [\"x.log\"]\n",
        "has both `listen` and `paths`",
    );
    check(
        "[[source]]\nid = \"fw\"\nlisten = \"tls://127.0.0.1:6514\"\n",
        "needs `tls_cert` and `tls_key`",
    );
    check(
        "[[source]]\nid = \"fw\"\nlisten = \"tls://127.0.0.1:6514\"\ntls_cert = \"none.pem\"\ntls_key = \"none.key\"\n",
        "none.pem",
    );
    check(
        "[[source]]\nid = \"fw\"\nlisten = \"http://127.0.0.1:80\"\n",
        "the scheme must be udp, tcp, tls, relp or relps",
    );
    check(
        "[[source]]\nid = \"fw\"\nlisten = \"tcp://gateway:514\"\n",
        "is not IP:PORT",
    );
    check(
        "[[source]]\nid = \"fw\"\nlisten = \"udp://127.0.0.1:514\"\nmax_connections = 5\n",
        "applies to tcp:// and tls:// listeners",
    );
    check(
        "[[source]]\nid = \"fw\"\nlisten = \"tcp://127.0.0.1:514\"\ntls_key = \"k.pem\"\n",
        "applies only to a tls:// listener",
    );
    check(
        "[[source]]\nid = \"fw\"\nlisten = \"tcp://127.0.0.1:514\"\nframing = \"rfc6587\"\n",
        "framing must be",
    );
    check(
        "[[source]]\nid = \"fw\"\nlisten = \"tcp://127.0.0.1:514\"\nmax_message_bytes = \"12\"\n",
        "max_message_bytes must be 1KiB to 64MiB",
    );
    check(
        "[[source]]\nid = \"vpn\"\npaths = [\"x.log\"]\nidle_timeout = \"1m\"\n",
        "applies only to a source with `listen`",
    );
    // A busy port is an error of the daemon's start, naming the source and the address.
    let busy = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = busy.local_addr().expect("addr").port();
    let f = dir.path().join("c.toml");
    fs::write(
        &f,
        config(&listener("fw", &format!("tcp://127.0.0.1:{port}"), &[])),
    )
    .expect("config");
    let (code, out) = logkeep(&["run", "--config", f.to_str().expect("utf-8")]).code_and_text();
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains(&format!(
            "source fw: cannot listen on tcp://127.0.0.1:{port}"
        )),
        "{out}"
    );
}

/// A power cut after capture read a write-ahead log file's newest records but before the WAL's
/// own fsync returned leaves the file shorter than the chain says (the store's segment was
/// fsynced first). Simulated by `kill -9` and cutting the file's end: after the restart this is
/// neither tamper nor a new generation read from 0 (which would store the file's bytes twice);
/// the file is closed as captured and every message is in the store exactly once.
#[test]
fn a_wal_file_cut_short_by_a_power_cut_is_not_tamper_and_nothing_is_stored_twice() {
    let t = free_tcp_port();
    let mut site = Site::new(&config(&listener(
        "fw",
        &format!("tcp://127.0.0.1:{t}"),
        &[],
    )));
    start_with(&mut site, &[]);
    let body =
        |tag: &str, i: usize| format!("<13>Nov 20 03:10:12 fw vpn: {tag} message {i}").into_bytes();
    let first: Vec<Vec<u8>> = (0..20).map(|i| body("before", i)).collect();
    tcp_send(t, &first.iter().flat_map(|b| octet(b)).collect::<Vec<u8>>());
    // Every message reached the WAL and the chain (the store is read while the daemon runs).
    wait_until(&site, 30, "the first messages to be sealed", || {
        let recs = stored_records(&site.path("store"), "fw");
        first
            .iter()
            .all(|b| recs.iter().any(|r| r.complete && &r.body == b))
    });
    site.kill9();
    let files = wal_files(&site, "fw");
    let (name, path) = files
        .iter()
        .find(|(n, _)| n.ends_with(".wal"))
        .cloned()
        .expect("the write-ahead log file");
    let len = fs::metadata(&path).expect("stat").len();
    // The last record's fsync never happened: its bytes are gone from the file.
    let f = fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .expect("open");
    f.set_len(len - 20).expect("cut");
    drop(f);
    start_with(&mut site, &[]);
    let second: Vec<Vec<u8>> = (0..20).map(|i| body("after", i)).collect();
    tcp_send(
        t,
        &second.iter().flat_map(|b| octet(b)).collect::<Vec<u8>>(),
    );
    wait_wal(&site, "fw", &[&second[19]]);
    site.term();
    let (code, out) = verify(&site.path("store"), &[]).code_and_text();
    assert_eq!(code, 0, "{out}");
    let chain = record_texts(&site.store()).join("");
    assert!(
        !chain.contains("\"kind\":\"tamper\""),
        "a WAL file cut by a power cut is not tamper:\n{chain}"
    );
    let stored = stored_files(&site.path("store"), "fw");
    let gens: Vec<&(String, u64, Vec<u8>)> = stored.iter().filter(|f| f.0 == name).collect();
    assert_eq!(
        gens.len(),
        1,
        "{name}: one generation, never read again from 0"
    );
    assert_eq!(
        gens[0].2.len() as u64,
        len,
        "{name}: the store holds what was captured"
    );
    let msgs = messages(
        &stored
            .iter()
            .flat_map(|f| parse_wal(&f.2))
            .collect::<Vec<Rec>>(),
    );
    let all: Vec<Vec<u8>> = first.iter().chain(&second).cloned().collect();
    assert_each_once(&msgs, &all);
}

#[test]
fn a_listener_at_its_connection_limit_keeps_new_senders_waiting_and_closes_idle_ones() {
    // `max_connections = 2`, `idle_timeout = "2s"`. Two senders connect and fall silent; a third
    // connects and sends at once. Its message waits in the kernel's backlog (not accepted and
    // closed, which would lose it) until the idle ones are closed, and is then stored. The
    // counters in `logkeep status` say what happened.
    let t = free_tcp_port();
    let mut site = Site::new(&config(&format!(
        "{}[control]\nsocket = \"ctl.sock\"\n",
        listener(
            "fw",
            &format!("tcp://127.0.0.1:{t}"),
            &["max_connections = 2", "idle_timeout = \"2s\""]
        ),
    )));
    start_with(&mut site, &[]);
    let sock = site.path("ctl.sock");
    let status = || status_json(&sock)["listeners"][0].clone();
    let mut idle = Vec::new();
    for who in ["a", "b"] {
        let mut s = TcpStream::connect(("127.0.0.1", t)).expect("connect");
        s.write_all(format!("<13>first words of {who}\n").as_bytes())
            .expect("send");
        idle.push(s);
    }
    // The idle timers start no earlier than this.
    let quiet_since = Instant::now();
    wait_until(&site, 30, "two connections open", || {
        let l = status();
        l["open_connections"] == 2 && l["messages"] == 2
    });
    let mut third = TcpStream::connect(("127.0.0.1", t)).expect("connect");
    third
        .write_all(b"<13>the third sender, kept waiting\n")
        .expect("send");
    wait_until(&site, 30, "the third message stored", || {
        status()["messages"] == 3
    });
    // It could be stored only once a slot was free: after the idle timeout closed one.
    assert!(
        quiet_since.elapsed() >= Duration::from_millis(1900),
        "the third connection was served {:?} after the others fell silent, before an idle \
         one was closed",
        quiet_since.elapsed()
    );
    let l = status();
    assert!(l["at_limit"].as_u64() >= Some(1), "{l}");
    assert!(l["idle_closed"].as_u64() >= Some(1), "{l}");
    // Both idle senders were closed by the listener: a read sees the end of the stream (or a
    // reset). A read that times out means the connection is still open, and fails the test.
    for (who, s) in ["a", "b"].iter().zip(&mut idle) {
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let mut b = [0u8; 1];
        match std::io::Read::read(s, &mut b) {
            Ok(0) => {}
            Ok(n) => panic!("the listener sent {n} bytes to idle sender {who}"),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
            Err(e) => panic!("idle sender {who} was not closed within 10 s: {e}"),
        }
    }
    // Each closure was counted as an idle one.
    let l = status();
    assert!(
        l["idle_closed"].as_u64() >= Some(2),
        "both idle senders were closed, so both must be counted: {l}"
    );
    drop(third);
    let msgs = stop_and_read(&mut site, "fw");
    assert_each_once(
        &msgs,
        &[
            b"<13>first words of a".to_vec(),
            b"<13>first words of b".to_vec(),
            b"<13>the third sender, kept waiting".to_vec(),
        ],
    );
}
