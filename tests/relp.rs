//! RELP listeners: rsyslog's `omrelp` forwarding through a `kill -9` of the daemon loses
//! nothing, and a message sent again after its answer was lost is stored again and counted —
//! with rsyslog, and with a client written here that speaks the frames of the protocol itself.

use crate::support::syslog::*;
use crate::support::*;
use std::collections::HashMap;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// Fail unless rsyslog has its RELP output module.
fn need_omrelp() {
    let found = fs::read_dir("/usr/lib")
        .into_iter()
        .flatten()
        .flatten()
        .any(|d| d.path().join("rsyslog/omrelp.so").exists());
    assert!(
        found,
        "rsyslog's RELP output (omrelp) is missing: install the Debian package rsyslog-relp (scripts/test does)"
    );
}

fn relp_site(port: u16) -> Site {
    Site::new(&format!(
        "{}[control]\nsocket = \"ctl.sock\"\n",
        config(&listener(
            "relp",
            &format!("relp://127.0.0.1:{port}"),
            &["wal_file_bytes = \"256KiB\""]
        ))
    ))
}

fn listener_status(site: &Site) -> serde_json::Value {
    status_json(&site.path("ctl.sock"))["listeners"][0].clone()
}

/// Complete records per body, of everything the store holds for `relp`.
fn stored_counts(site: &Site) -> HashMap<Vec<u8>, u64> {
    let mut counts = HashMap::new();
    for r in stored_records(&site.path("store"), "relp") {
        if r.complete {
            assert_eq!(r.transport, "relp");
            *counts.entry(r.body).or_default() += 1;
        }
    }
    counts
}

#[test]
fn rsyslog_over_relp_loses_nothing_across_kill_9() {
    need_omrelp();
    let (ours, input) = (free_tcp_port(), free_tcp_port());
    let mut site = relp_site(ours);
    start_with(&mut site, &[]);
    let conf = format!(
        "module(load=\"imtcp\" StreamDriver.Name=\"ptcp\")\nmodule(load=\"omrelp\")\n\
         template(name=\"raw\" type=\"string\" string=\"%rawmsg%\")\n\
         ruleset(name=\"fwd\") {{\n  action(type=\"omrelp\" target=\"127.0.0.1\" port=\"{ours}\" template=\"raw\"\n    \
         queue.type=\"LinkedList\" queue.size=\"200000\" action.resumeRetryCount=\"-1\" action.resumeInterval=\"1\")\n}}\n\
         input(type=\"imtcp\" port=\"{input}\" address=\"127.0.0.1\" ruleset=\"fwd\")\n"
    );
    let rs = Rsyslog::start("", &conf, input);
    let pad = "r".repeat(200);
    let lines: Vec<Vec<u8>> = (0..40_000)
        .map(|i| format!("<13>Nov 20 04:00:00 gw relp[1]: message {i:06} {pad}").into_bytes())
        .collect();
    let feeder = {
        let mut wire = Vec::new();
        for l in &lines {
            wire.extend(l);
            wire.push(b'\n');
        }
        std::thread::spawn(move || tcp_send(input, &wire))
    };
    // Mid-stream: some messages stored and answered, more on their way.
    wait_until(&site, 60, "messages over RELP", || {
        listener_status(&site)["messages"].as_u64().unwrap_or(0) >= 5000
    });
    site.kill9();
    let killed_at = Instant::now();
    feeder.join().expect("feeder");
    start_with(&mut site, &[]);
    // rsyslog reconnects and sends what was unanswered, then the rest.
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut last = 0;
    loop {
        let l = listener_status(&site);
        let (m, again) = (l["messages"].as_u64(), l["resent"].as_u64());
        let (m, again) = (m.expect("messages"), again.expect("resent"));
        // Done when the new run's messages stop growing for a while after the last one.
        if m > 0 && m == last && killed_at.elapsed() > Duration::from_secs(5) {
            // Check with the store once it holds everything.
            site.term();
            let counts = stored_counts(&site);
            if lines.iter().all(|l| counts.contains_key(l)) {
                let total: u64 = counts.values().sum();
                let twice: u64 = counts.values().map(|c| c - 1).sum();
                assert_eq!(counts.len(), lines.len(), "only what was sent is stored");
                assert_eq!(
                    twice, again,
                    "the messages stored twice are the ones status counts as sent again"
                );
                assert!(
                    counts.values().all(|&c| c <= 2),
                    "nothing stored three times"
                );
                let (code, out) = verify(&site.path("store"), &[]).code_and_text();
                assert_eq!(code, 0, "{out}");
                eprintln!(
                    "RELP through kill -9: {} messages sent by rsyslog, {total} stored, {again} sent again after a lost answer",
                    lines.len()
                );
                drop(rs);
                return;
            }
            assert!(
                Instant::now() < deadline,
                "rsyslog did not deliver everything: {} of {} stored; rsyslog said:\n{}\nlogkeep said:\n{}",
                counts.len(),
                lines.len(),
                rs.stderr(),
                site.stderr()
            );
            start_with(&mut site, &[]);
            last = 0;
            continue;
        }
        assert!(
            Instant::now() < deadline,
            "rsyslog did not deliver everything in time; rsyslog said:\n{}\nlogkeep said:\n{}",
            rs.stderr(),
            site.stderr()
        );
        last = m;
        std::thread::sleep(Duration::from_secs(2));
    }
}

/// A RELP client that sends frames and reads answers.
struct Client {
    s: TcpStream,
    r: BufReader<TcpStream>,
}

impl Client {
    fn connect(port: u16) -> Client {
        let s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        s.set_read_timeout(Some(DEADLINE)).expect("timeout");
        let r = BufReader::new(s.try_clone().expect("clone"));
        Client { s, r }
    }

    fn send(&mut self, txnr: u64, cmd: &str, data: &[u8]) {
        let mut f = format!("{txnr} {cmd} {}", data.len()).into_bytes();
        if !data.is_empty() {
            f.push(b' ');
            f.extend(data);
        }
        f.push(b'\n');
        self.s.write_all(&f).expect("send");
    }

    /// One answer: (txnr, command, data).
    fn answer(&mut self) -> (u64, String, String) {
        let mut head = Vec::new();
        for _ in 0..3 {
            let mut field = Vec::new();
            self.r.read_until(b' ', &mut field).expect("read");
            assert!(!field.is_empty(), "the connection ended");
            head.push(String::from_utf8(field).expect("ascii").trim().to_owned());
        }
        let len: usize = head[2].parse().expect("length");
        let mut data = vec![0u8; len + 1];
        self.r.read_exact(&mut data).expect("data");
        assert_eq!(data.pop(), Some(b'\n'), "trailer");
        (
            head[0].parse().expect("txnr"),
            head[1].clone(),
            String::from_utf8(data).expect("utf-8"),
        )
    }

    fn open(&mut self) {
        self.send(
            1,
            "open",
            b"relp_version=0\nrelp_software=test\ncommands=syslog",
        );
        let (t, cmd, data) = self.answer();
        assert_eq!((t, cmd.as_str()), (1, "rsp"));
        assert!(data.starts_with("200 OK\n"), "{data:?}");
        assert!(data.contains("commands=syslog"), "{data:?}");
    }
}

#[test]
fn a_message_whose_answer_was_lost_is_stored_again_and_counted_even_across_kill_9() {
    let port = free_tcp_port();
    let mut site = relp_site(port);
    start_with(&mut site, &[]);
    let mut c = Client::connect(port);
    c.open();
    c.send(2, "syslog", b"<13>1 - gw app - - - first");
    assert_eq!(c.answer(), (2, "rsp".into(), "200 OK".into()));
    // Unknown commands are refused, the session goes on.
    c.send(3, "starttls", b"");
    let (t, _, data) = c.answer();
    assert_eq!(t, 3);
    assert!(data.starts_with("500 "), "{data:?}");
    // The answer to "second" is never read: the connection breaks first.
    c.send(4, "syslog", b"<13>1 - gw app - - - second");
    wait_until(&site, 30, "the second message stored", || {
        listener_status(&site)["messages"] == 2
    });
    drop(c);
    // The client sends it again at the start of its next session: stored again, counted.
    let mut c = Client::connect(port);
    c.open();
    c.send(2, "syslog", b"<13>1 - gw app - - - second");
    assert_eq!(c.answer(), (2, "rsp".into(), "200 OK".into()));
    c.send(3, "syslog", b"<13>1 - gw app - - - third");
    assert_eq!(c.answer(), (3, "rsp".into(), "200 OK".into()));
    // Past the start of the session the same bytes are a new message (logs repeat).
    c.send(4, "syslog", b"<13>1 - gw app - - - first");
    assert_eq!(c.answer(), (4, "rsp".into(), "200 OK".into()));
    let l = listener_status(&site);
    assert_eq!(
        (l["messages"].as_u64(), l["resent"].as_u64()),
        (Some(5), Some(1))
    );
    // Across a kill -9: "fourth" is answered and stored, the answer is lost with the process.
    c.send(5, "syslog", b"<13>1 - gw app - - - fourth");
    assert_eq!(c.answer(), (5, "rsp".into(), "200 OK".into()));
    site.kill9();
    start_with(&mut site, &[]);
    let mut c = Client::connect(port);
    c.open();
    c.send(2, "syslog", b"<13>1 - gw app - - - fourth");
    assert_eq!(c.answer(), (2, "rsp".into(), "200 OK".into()));
    c.send(3, "close", b"");
    assert_eq!(c.answer(), (3, "rsp".into(), "200 OK".into()));
    let l = listener_status(&site);
    assert_eq!(
        (l["messages"].as_u64(), l["resent"].as_u64()),
        (Some(1), Some(1))
    );
    // A frame that breaks the protocol ends the session and is counted.
    let mut c = Client::connect(port);
    c.open();
    c.s.write_all(b"2 syslog 3 abcdef\n").expect("send");
    let mut rest = Vec::new();
    let _ = c.r.read_to_end(&mut rest);
    assert!(rest.is_empty(), "no answer to a broken frame: {rest:?}");
    assert_eq!(listener_status(&site)["protocol_errors"].as_u64(), Some(1));
    site.term();
    let counts = stored_counts(&site);
    let want: Vec<(&str, u64)> = vec![("first", 2), ("second", 2), ("third", 1), ("fourth", 2)];
    for (w, n) in want {
        let body = format!("<13>1 - gw app - - - {w}").into_bytes();
        assert_eq!(counts.get(&body), Some(&n), "{w}");
    }
    assert_eq!(counts.len(), 4);
}

#[test]
fn rsyslog_over_relps_with_a_client_certificate() {
    need_omrelp();
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
    let mut site = Site::new(&format!(
        "{}[control]\nsocket = \"ctl.sock\"\n",
        config(&listener(
            "relp",
            &format!("relps://127.0.0.1:{ours}"),
            &tls
        ))
    ));
    start_with(&mut site, &[]);
    let conf = format!(
        "module(load=\"imtcp\" StreamDriver.Name=\"ptcp\")\nmodule(load=\"omrelp\")\n\
         template(name=\"raw\" type=\"string\" string=\"%rawmsg%\")\n\
         ruleset(name=\"fwd\") {{\n  action(type=\"omrelp\" target=\"127.0.0.1\" port=\"{ours}\" template=\"raw\"\n    \
         tls=\"on\" tls.authMode=\"certvalid\" tls.caCert=\"{}\" tls.myCert=\"{}\" tls.myPrivKey=\"{}\"\n    \
         queue.type=\"LinkedList\" action.resumeRetryCount=\"-1\" action.resumeInterval=\"1\")\n}}\n\
         input(type=\"imtcp\" port=\"{input}\" address=\"127.0.0.1\" ruleset=\"fwd\")\n",
        p(&c.ca),
        p(&c.client_cert),
        p(&c.client_key)
    );
    let rs = Rsyslog::start("", &conf, input);
    let lines: Vec<Vec<u8>> = (0..500)
        .map(|i| format!("<13>Nov 20 04:00:00 gw relps[1]: message {i:04}").into_bytes())
        .collect();
    let mut wire = Vec::new();
    for l in &lines {
        wire.extend(l);
        wire.push(b'\n');
    }
    tcp_send(input, &wire);
    wait_until(&site, 60, "every message over RELP/TLS", || {
        listener_status(&site)["messages"].as_u64() == Some(lines.len() as u64)
    });
    drop(rs);
    site.term();
    let recs = stored_records(&site.path("store"), "relp");
    assert!(recs.iter().all(|r| r.transport == "relps" && r.complete));
    let mut got: Vec<Vec<u8>> = recs.into_iter().map(|r| r.body).collect();
    got.sort();
    assert_eq!(got, lines, "each message once, byte for byte");
}

#[test]
fn relp_and_receive_buffer_configuration_errors_name_the_line() {
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
        "[[source]]\nid = \"fw\"\nlisten = \"relps://127.0.0.1:2514\"\n",
        "a tls:// or relps:// listener needs `tls_cert` and `tls_key`",
    );
    check(
        "[[source]]\nid = \"fw\"\nlisten = \"relp://127.0.0.1:2514\"\ntls_cert = \"c.pem\"\n",
        "applies only to a tls:// listener (or relps://)",
    );
    check(
        "[[source]]\nid = \"fw\"\nlisten = \"tcp://127.0.0.1:514\"\nreceive_buffer = \"8MiB\"\n",
        "`receive_buffer` applies to udp:// listeners only",
    );
    check(
        "[[source]]\nid = \"fw\"\nlisten = \"udp://127.0.0.1:514\"\nreceive_buffer = \"eight\"\n",
        "receive_buffer: \"eight\" is not a size",
    );
    check(
        "[[source]]\nid = \"fw\"\nlisten = \"udp://127.0.0.1:514\"\nreceive_buffer = \"2GiB\"\n",
        "receive_buffer must be 4KiB to 1GiB",
    );
}

#[test]
fn a_relp_answer_waits_for_the_write_ahead_log() {
    let port = free_tcp_port();
    let mut site = relp_site(port);
    // The writer sleeps 1.5 s before each batch: an answer before that would be a promise made
    // before the message was written.
    start_with(&mut site, &[("LOGKEEP_TEST_WAL_DELAY_MS", "1500")]);
    let mut c = Client::connect(port);
    c.open();
    let sent = Instant::now();
    c.send(2, "syslog", b"<13>1 - gw app - - - held until durable");
    assert_eq!(c.answer(), (2, "rsp".into(), "200 OK".into()));
    let waited = sent.elapsed();
    // When the answer arrives the record is in the write-ahead log file already.
    let recs = wal_records(&site, "relp");
    assert!(
        recs.iter()
            .any(|r| r.complete && r.body == b"<13>1 - gw app - - - held until durable"),
        "answered before the record was written"
    );
    assert!(
        waited >= Duration::from_millis(1400),
        "answered after {waited:?}, before the writer's batch"
    );
    site.kill9();
}
