//! Figure 7: syslog ingest over TCP. The same messages, sent the same way, to the real
//! `logkeep run` with one `tcp://` listener and to rsyslog (`imtcp` → `omfile`), one after the
//! other in the same invocation.
//!
//! The load is built from the corpus before the clock starts: message `i` is corpus line `i`
//! wrapped in an RFC 5424 header whose MSGID is `i`, octet-counted (RFC 6587 3.4.1: `LEN SP
//! MSG`, which both receivers take), and the lines are dealt round-robin to a few connections.
//! Each sender thread writes its connection's bytes in 1 MiB `write`s as fast as the receiver
//! reads them, then half-closes. The MSGID makes every message unique, so what a receiver kept
//! can be counted against what was sent: exactly once, lost, duplicated or altered.
//!
//! "Done" is "everything durable". For logkeep: once every connection has been read to its end
//! and closed by logkeep (what it read is then in its writer's queue or its write-ahead log),
//! SIGTERM makes it fsync the rest, capture the log to its end, seal and exit; the time ends at
//! the exit. For rsyslog: the output file holds every message's bytes (polled every 10 ms);
//! rsyslog does not fsync. logkeep's messages are then read back from `logkeep extract` of its
//! store, which verifies the chain on the way, with a reader of write-ahead log records written
//! from `docs/SYSLOG.md`; rsyslog's from its output file, one message per line.

use crate::chain;
use crate::figures::{Bench, Figure, fresh_dir, mibs, toml_str};
use crate::proc::{self, Measured, Spec, Usage};
use anyhow::{Context, Result, bail};
use serde::Serialize;
use serde_json::json;
use std::collections::HashMap;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

const TITLE: &str = "7. syslog ingest (TCP)";
/// Bytes per `write` of a sender.
const SEND_BATCH: usize = 1 << 20;
/// The source id of logkeep's listener.
const SOURCE: &str = "syslog";
/// How often rsyslog's output file is looked at.
const POLL: Duration = Duration::from_millis(10);
/// How long a sender waits for the receiver to close its side after reading everything.
const CLOSE_WAIT: Duration = Duration::from_secs(300);

/// The messages of one run, as sent.
pub struct Load {
    /// Connections.
    conns: usize,
    /// The wire bytes of each connection (octet-counted frames).
    wire: Vec<Vec<u8>>,
    /// Where each message's body lies in its connection's wire bytes: message `i` is entry
    /// `i / conns` of connection `i % conns`.
    bodies: Vec<Vec<(usize, usize)>>,
    /// Messages.
    count: usize,
    /// Bytes of the message bodies (syslog header and corpus line, without framing).
    body_bytes: u64,
    /// Bytes of the corpus lines in them.
    line_bytes: u64,
}

impl Load {
    fn body(&self, i: usize) -> &[u8] {
        let (a, n) = self.bodies[i % self.conns][i / self.conns];
        &self.wire[i % self.conns][a..a + n]
    }

    /// What `omfile` writes with the template `%rawmsg%\n`: every body and a newline.
    fn output_bytes(&self) -> u64 {
        self.body_bytes + self.count as u64
    }
}

/// Build the load: the first `messages` corpus lines (all of them if fewer), over `conns`
/// connections.
pub fn build_load(corpus: &Path, messages: usize, conns: usize) -> Result<Load> {
    let conns = conns.max(1);
    let mut r = BufReader::with_capacity(
        1 << 20,
        fs::File::open(corpus).with_context(|| format!("{}: cannot open", corpus.display()))?,
    );
    let base = humantime::parse_rfc3339("2026-11-20T03:00:00Z")?;
    let mut load = Load {
        conns,
        wire: vec![Vec::new(); conns],
        bodies: vec![Vec::new(); conns],
        count: 0,
        body_bytes: 0,
        line_bytes: 0,
    };
    let mut line = Vec::new();
    let mut msg = Vec::new();
    while load.count < messages {
        line.clear();
        if r.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        if line.last() == Some(&b'\n') {
            line.pop();
        }
        let i = load.count;
        let k = i % conns;
        let ts = humantime::format_rfc3339_micros(base + Duration::from_millis(i as u64));
        msg.clear();
        // PRI 134 = local0.info; MSGID = the message's number, which makes it unique.
        write!(msg, "<134>1 {ts} vpn-gw-{k} logkeep-bench - {i} - ")?;
        msg.extend_from_slice(&line);
        let w = &mut load.wire[k];
        write!(w, "{} ", msg.len())?;
        load.bodies[k].push((w.len(), msg.len()));
        w.extend_from_slice(&msg);
        load.count += 1;
        load.body_bytes += msg.len() as u64;
        load.line_bytes += line.len() as u64;
    }
    Ok(load)
}

/// How the messages a receiver kept compare with the messages sent.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Exactness {
    /// Messages sent.
    pub sent: u64,
    /// Messages found byte for byte exactly once.
    pub exactly_once: u64,
    /// Messages of which nothing was found: no exact copy, and nothing with their number.
    pub lost: u64,
    /// Extra exact copies of messages found more than once.
    pub duplicated: u64,
    /// Copies received that carry a sent message's number but differ from it.
    pub altered: u64,
    /// Messages received that carry no number of a sent message (cut, merged or mangled).
    pub unknown: u64,
    /// Messages received in all.
    pub received: u64,
}

impl Exactness {
    /// Every message exactly once and nothing else.
    pub fn exact(&self) -> bool {
        self.exactly_once == self.sent
            && self.lost == 0
            && self.duplicated == 0
            && self.altered == 0
            && self.unknown == 0
    }

    fn summary(&self) -> String {
        format!(
            "{} of {} exactly once, {} lost, {} duplicated, {} altered, {} unknown",
            self.exactly_once, self.sent, self.lost, self.duplicated, self.altered, self.unknown
        )
    }
}

/// Counts received messages against the load.
struct Tally<'a> {
    load: &'a Load,
    /// Exact copies per message (saturating).
    seen: Vec<u8>,
    /// Copies seen with the message's number but other bytes.
    changed: Vec<u32>,
    unknown: u64,
    received: u64,
}

impl<'a> Tally<'a> {
    fn new(load: &'a Load) -> Tally<'a> {
        Tally {
            load,
            seen: vec![0; load.count],
            changed: vec![0; load.count],
            unknown: 0,
            received: 0,
        }
    }

    /// The message number in an RFC 5424 header built by [`build_load`]: the sixth field.
    fn number(body: &[u8]) -> Option<usize> {
        let f = body.split(|&b| b == b' ').nth(5)?;
        std::str::from_utf8(f).ok()?.parse().ok()
    }

    fn add(&mut self, body: &[u8]) {
        self.received += 1;
        match Self::number(body) {
            Some(i) if i < self.load.count => {
                if body == self.load.body(i) {
                    self.seen[i] = self.seen[i].saturating_add(1);
                } else {
                    self.changed[i] = self.changed[i].saturating_add(1);
                }
            }
            _ => self.unknown += 1,
        }
    }

    fn finish(self) -> Exactness {
        let mut e = Exactness {
            sent: self.load.count as u64,
            unknown: self.unknown,
            received: self.received,
            ..Default::default()
        };
        for (&n, &changed) in self.seen.iter().zip(&self.changed) {
            e.altered += u64::from(changed);
            match n {
                0 if changed == 0 => e.lost += 1,
                0 => {}
                1 => e.exactly_once += 1,
                n => e.duplicated += u64::from(n - 1),
            }
        }
        e
    }
}

/// A loopback TCP port that was free a moment ago (a `listen` value cannot say port 0).
fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// What the senders saw.
#[derive(Debug, Clone, Default, Serialize)]
struct Sent {
    /// Seconds from the start to the last sender's last `write` returning.
    written_s: f64,
    /// Seconds from the start to the last connection's close by the receiver (it had read
    /// everything), if every receiver closed.
    closed_s: Option<f64>,
}

/// Send the load over its connections to `port`; returns when every sender is done. `start`
/// is set just before the first byte goes out.
fn send(load: &Arc<Load>, port: u16, start: &mut Option<Instant>) -> Result<Sent> {
    let n = load.conns;
    let barrier = Arc::new(Barrier::new(n + 1));
    let handles: Vec<_> = (0..n)
        .map(|k| {
            let load = load.clone();
            let barrier = barrier.clone();
            std::thread::spawn(move || -> Result<(Instant, Option<Instant>)> {
                let s = TcpStream::connect(("127.0.0.1", port));
                barrier.wait();
                let mut s = s.with_context(|| format!("cannot connect to 127.0.0.1:{port}"))?;
                for chunk in load.wire[k].chunks(SEND_BATCH) {
                    s.write_all(chunk).context("send")?;
                }
                let written = Instant::now();
                s.shutdown(Shutdown::Write)?;
                // The receiver closes its side once it has read everything.
                s.set_read_timeout(Some(CLOSE_WAIT))?;
                let mut buf = [0u8; 512];
                let closed = loop {
                    match s.read(&mut buf) {
                        Ok(0) => break Some(Instant::now()),
                        Ok(_) => {}
                        Err(_) => break None,
                    }
                };
                Ok((written, closed))
            })
        })
        .collect();
    barrier.wait();
    let t0 = Instant::now();
    *start = Some(t0);
    let mut sent = Sent {
        written_s: 0.0,
        closed_s: Some(0.0),
    };
    for h in handles {
        let (w, c) = h
            .join()
            .map_err(|_| anyhow::anyhow!("a sender thread panicked"))??;
        sent.written_s = sent.written_s.max((w - t0).as_secs_f64());
        sent.closed_s = match (sent.closed_s, c) {
            (Some(a), Some(c)) => Some(a.max((c - t0).as_secs_f64())),
            _ => None,
        };
    }
    Ok(sent)
}

/// What [`send`] returns, with the time of the first byte.
type SendResult = (Result<Sent>, Option<Instant>);

/// Run [`send`] in a thread; the receiver gets a message when it is done.
fn spawn_senders(
    load: &Arc<Load>,
    port: u16,
) -> (
    std::thread::JoinHandle<SendResult>,
    std::sync::mpsc::Receiver<()>,
) {
    let load = load.clone();
    let (tx, rx) = std::sync::mpsc::channel();
    let h = std::thread::spawn(move || {
        let mut start = None;
        let r = send(&load, port, &mut start);
        let _ = tx.send(());
        (r, start)
    });
    (h, rx)
}

fn secs(s: Option<f64>) -> String {
    s.map_or("- (a connection was not closed)".into(), |s| {
        format!("{s:.2} s")
    })
}

fn count(v: &serde_json::Value) -> String {
    v.as_u64().map_or("?".into(), |n| n.to_string())
}

/// The counters logkeep logs when its listener stops (`listener stopped; ...` at INFO):
/// `messages`, `bytes`, `cut`, `framing_errors`, ... as numbers.
fn listener_counts(stderr: &str) -> serde_json::Value {
    let Some(line) = stderr.lines().find(|l| l.contains("listener stopped")) else {
        return serde_json::Value::Null;
    };
    let m: serde_json::Map<String, serde_json::Value> = line
        .split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .filter_map(|(k, v)| Some((k.to_owned(), json!(v.parse::<u64>().ok()?))))
        .collect();
    serde_json::Value::Object(m)
}

/// One receiver's run.
#[derive(Debug, Clone, Serialize)]
struct Run {
    /// Seconds from the first byte sent to everything durable (logkeep: sealed and exited;
    /// rsyslog: the output file holds every message).
    done_s: f64,
    /// What the senders saw.
    sent: Sent,
    /// The receiver's CPU and memory over its whole life.
    usage: Usage,
    /// What it kept.
    check: Exactness,
    /// Anything else worth keeping.
    extra: serde_json::Value,
}

impl Run {
    fn msgs_per_s(&self, load: &Load) -> f64 {
        load.count as f64 / self.done_s.max(1e-9)
    }
}

/// Per-piece state of oversize messages being joined: `(local, peer)` → body so far.
type Pieces = HashMap<(String, String), Vec<u8>>;

/// Read the write-ahead log records of one file (`docs/SYSLOG.md`, "Records") and hand every
/// complete message to `tally`; pieces of oversize messages are joined across `pieces`.
/// Returns the number of records and of records cut short or framed unexpectedly.
fn read_wal(data: &[u8], pieces: &mut Pieces, tally: &mut Tally<'_>) -> Result<(u64, u64)> {
    let (mut records, mut odd) = (0, 0);
    let mut pos = 0;
    while pos < data.len() {
        let Some(nl) = data[pos..].iter().position(|&b| b == b'\n') else {
            // A header cut by a kill: no message bytes follow.
            odd += 1;
            break;
        };
        let line = std::str::from_utf8(&data[pos..pos + nl])
            .map_err(|_| anyhow::anyhow!("offset {pos}: header is not ASCII"))?;
        let f: Vec<&str> = line.split(' ').collect();
        if f.len() < 6 || f[0] != "LKS1" {
            bail!("offset {pos}: not a write-ahead log record: {line:?}");
        }
        let len: usize = f[5]
            .parse()
            .map_err(|_| anyhow::anyhow!("offset {pos}: bad length in {line:?}"))?;
        let start = pos + nl + 1;
        let end = start + len;
        records += 1;
        if end >= data.len() {
            // The last record, cut short by a kill: not a received message.
            odd += 1;
            break;
        }
        if data[end] != b'\n' {
            bail!("offset {end}: record does not end with LF");
        }
        pos = end + 1;
        let (peer, flags) = (f[4], &f[6..]);
        if peer == "-" {
            continue; // logkeep's own records (`drops=N`)
        }
        let body = &data[start..end];
        if !flags.contains(&"oc") || flags.contains(&"eof") {
            odd += 1;
        }
        let part = flags.iter().find_map(|x| x.strip_prefix("part="));
        match part {
            None => tally.add(body),
            Some(p) => {
                let key = (f[3].to_owned(), peer.to_owned());
                let last = match p.strip_suffix('+') {
                    Some(_) => false,
                    None => {
                        p.split_once('/').is_some_and(|(i, n)| i == n) || flags.contains(&"eof")
                    }
                };
                let whole = pieces.entry(key.clone()).or_default();
                whole.extend_from_slice(body);
                if last && let Some(m) = pieces.remove(&key) {
                    tally.add(&m);
                }
            }
        }
    }
    Ok((records, odd))
}

/// Every file under `dir`, recursively.
fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for e in fs::read_dir(dir).with_context(|| format!("{}: cannot list", dir.display()))? {
        let e = e?;
        if e.file_type()?.is_dir() {
            walk(&e.path(), out)?;
        } else {
            out.push(e.path());
        }
    }
    Ok(())
}

impl Bench {
    /// Figure 7: syslog ingest over TCP, logkeep against rsyslog `imtcp` → `omfile`.
    pub fn syslog(&mut self) -> Result<Figure> {
        let (file, stats) = self.corpus()?;
        // Default: one message per corpus line.
        let messages = self
            .opts
            .syslog_messages
            .unwrap_or(stats.lines as usize)
            .max(1);
        let load = Arc::new(build_load(&file, messages, self.opts.syslog_connections)?);
        if load.count < messages {
            eprintln!(
                "logkeep-bench: syslog: the corpus has only {} lines; sending those",
                load.count
            );
        }
        let d = self.dir.join("syslog");
        let load_before = crate::figures::load();
        let mut best_lk: Option<Run> = None;
        let mut best_rs: Option<Run> = None;
        let rsyslogd = proc::find_program("rsyslogd");
        // Every run's (seconds, CPU seconds) of each side, and the load average before it.
        let mut runs = Vec::new();
        for _ in 0..self.opts.repeat.max(1) {
            fresh_dir(&d)?;
            let before = crate::figures::load();
            let r = self.syslog_logkeep(&d, &load)?;
            let lk_run = (r.done_s, r.usage.cpu_s());
            if !r.check.exact() {
                self.problems.push(format!(
                    "syslog: logkeep did not keep every message exactly once: {}",
                    r.check.summary()
                ));
            }
            if best_lk.as_ref().is_none_or(|b| r.done_s < b.done_s) {
                best_lk = Some(r);
            }
            let mut rs_run = None;
            if let Some(rsyslogd) = &rsyslogd {
                let r = self.syslog_rsyslog(rsyslogd, &d, &load)?;
                rs_run = Some((r.done_s, r.usage.cpu_s()));
                if best_rs.as_ref().is_none_or(|b| r.done_s < b.done_s) {
                    best_rs = Some(r);
                }
                fs::remove_file(d.join("rsyslog").join("out.log")).ok();
            }
            runs.push(json!({ "load_before": before, "logkeep": lk_run, "rsyslog": rs_run }));
        }
        let load_after = crate::figures::load();
        let lk = best_lk.context("no logkeep run")?;
        let mib = |u: &Usage| u.maxrss_kib as f64 / 1024.0;
        let side = |r: &Run| {
            format!(
                "{:.0} msgs/s, {:.1} MiB/s, {:.2} CPU-s ({:.2} cores), peak RSS {:.1} MiB, {}",
                r.msgs_per_s(&load),
                mibs(load.body_bytes, r.done_s),
                r.usage.cpu_s(),
                r.usage.cpu_s() / r.done_s.max(1e-9),
                mib(&r.usage),
                if r.check.exact() {
                    "every message exactly once".to_string()
                } else {
                    r.check.summary()
                }
            )
        };
        let mut notes = vec![
            format!(
                "{} RFC 5424 messages ({} of message bodies, {} of corpus lines; {} to {} bytes each) over {} TCP connections to 127.0.0.1, octet-counted framing (RFC 6587 3.4.1), sent in 1 MiB writes as fast as the receiver reads; best of {}; load average {} before, {} after",
                load.count,
                bytesize::ByteSize::b(load.body_bytes).display().iec(),
                bytesize::ByteSize::b(load.line_bytes).display().iec(),
                load.bodies.iter().flatten().map(|b| b.1).min().unwrap_or(0),
                load.bodies.iter().flatten().map(|b| b.1).max().unwrap_or(0),
                load.conns,
                self.opts.repeat.max(1),
                load_before,
                load_after
            ),
            format!(
                "logkeep: had read every connection to its end after {} (logkeep closed them), then got SIGTERM; everything fsynced, captured, sealed into the chain and exited after {:.2} s; its listener counted {} messages, {} cut, {} framing errors; {}",
                secs(lk.sent.closed_s),
                lk.done_s,
                count(&lk.extra["listener_at_stop"]["messages"]),
                count(&lk.extra["listener_at_stop"]["cut"]),
                count(&lk.extra["listener_at_stop"]["framing_errors"]),
                lk.extra["chain"].as_str().unwrap_or("?"),
            ),
        ];
        let (baseline, ratio, met) = match &best_rs {
            Some(rs) => {
                let ratio = lk.msgs_per_s(&load) / rs.msgs_per_s(&load);
                notes.push(format!(
                    "rsyslog {}: imtcp → omfile with the template `%rawmsg%\\n`, maxMessageSize 256k (logkeep's max_message_bytes; the default 8k would cut the longest lines), everything else default; had read every connection to its end after {}; done when the output file holds every message's bytes (polled every 10 ms), without fsync: {:.2} s; {}",
                    crate::figures::rsyslog_version(),
                    secs(rs.sent.closed_s),
                    rs.done_s,
                    rs.check.summary()
                ));
                notes.push(format!(
                    "CPU per message: logkeep {:.2} µs, rsyslog {:.2} µs; CPU ratio (rsyslog / logkeep) {:.2} (load-independent); ratio of the times to read every connection to its end: {:.2}",
                    1e6 * lk.usage.cpu_s() / load.count as f64,
                    1e6 * rs.usage.cpu_s() / load.count as f64,
                    rs.usage.cpu_s() / lk.usage.cpu_s().max(1e-9),
                    rs.sent.closed_s.unwrap_or(f64::NAN) / lk.sent.closed_s.unwrap_or(f64::NAN)
                ));
                (
                    format!("rsyslog imtcp → omfile: {}", side(rs)),
                    Some(ratio),
                    Some(ratio >= 1.0 && lk.check.exact()),
                )
            }
            None => (
                "not measured: rsyslogd is not installed (apt-get install rsyslog)".to_string(),
                None,
                None,
            ),
        };
        if runs.len() > 1 {
            let times = |side: &str| {
                runs.iter()
                    .map(|r| {
                        r[side][0]
                            .as_f64()
                            .map_or("-".into(), |t| format!("{t:.2}"))
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            notes.push(format!(
                "every run, in seconds: logkeep {}; rsyslog {}",
                times("logkeep"),
                times("rsyslog")
            ));
        }
        notes.push("ratio = logkeep msgs/s / rsyslog msgs/s, each from the first byte sent to everything durable; CPU and peak RSS are the receiver process's over its whole life".into());
        Ok(Figure {
            key: "syslog",
            title: TITLE,
            logkeep: side(&lk),
            baseline,
            ratio,
            target: "≥ 1.0 (at least matching rsyslog while compressing and chaining)".into(),
            met,
            notes,
            details: json!({
                "messages": load.count,
                "connections": load.conns,
                "body_bytes": load.body_bytes,
                "line_bytes": load.line_bytes,
                "framing": "octet-counted",
                "load_before": load_before,
                "load_after": load_after,
                "runs_s_cpu_s": runs,
                "logkeep": lk,
                "rsyslog": best_rs,
            }),
        })
    }

    /// logkeep's side: one `tcp://` listener, default store settings, a control socket.
    fn syslog_logkeep(&mut self, d: &Path, load: &Arc<Load>) -> Result<Run> {
        let d = d.join("logkeep");
        fresh_dir(&d)?;
        let store = d.join("store");
        let socket = d.join("control.sock");
        let port = free_port()?;
        let cfg = d.join("logkeep.toml");
        fs::write(
            &cfg,
            format!(
                "# Written by logkeep-bench.\n[store]\npath = {}\n\n[control]\nsocket = {}\n\n[[source]]\nid = \"{SOURCE}\"\nlisten = \"tcp://127.0.0.1:{port}\"\n",
                toml_str(&store),
                toml_str(&socket)
            ),
        )?;
        let m = self.start_daemon(&cfg, "syslog-logkeep")?;
        // Every connection read to its end and closed by logkeep: what remains is in its
        // writer's queue or its write-ahead log. SIGTERM then makes it fsync the rest, capture
        // the log to its end, seal and exit; the exit is "everything durable". (Asking `status`
        // instead would add the engine's answer time: it answers between polls, and under this
        // load answers were seen to take up to seconds.)
        let mut start = None;
        let sent = send(load, port, &mut start);
        m.terminate()?;
        let (usage, stderr) = m.wait()?;
        let exited = Instant::now();
        fs::write(d.join("daemon.err"), &stderr)?;
        let sent = sent?;
        let start = start.context("the senders never started")?;
        if !usage.ok() {
            bail!("logkeep run exited with {usage:?}; stderr:\n{stderr}");
        }
        if sent.closed_s.is_none() {
            self.problems.push(
                "syslog: logkeep did not close every connection after reading it to its end".into(),
            );
        }
        let counted = listener_counts(&stderr);
        let segs = chain::segments(&store)?;
        let (captured, compressed) = chain::totals(&segs);
        // Read back what the chain holds, the way an investigator would.
        let out = d.join("extract");
        let (xu, xerr) = proc::run(
            &self.exe,
            vec![
                self.logkeep.clone().into(),
                "extract".into(),
                store.clone().into(),
                "--out".into(),
                out.clone().into(),
            ],
            Stdio::null(),
            self.report_path("syslog-extract"),
        )?;
        if !xu.ok() {
            self.problems
                .push(format!("syslog: logkeep extract failed ({xu:?}): {xerr}"));
        }
        let mut files = Vec::new();
        if out.join(SOURCE).is_dir() {
            walk(&out.join(SOURCE), &mut files)?;
        }
        // In write-ahead log order (file number, then generation), so that the pieces of an
        // oversize message that spans two files are joined in order.
        let key = |p: &PathBuf| {
            let n = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let (stem, g) = n.rsplit_once(".gen").unwrap_or((&n, "0"));
            (
                stem.trim_end_matches(".done").to_owned(),
                g.parse::<u64>().unwrap_or(0),
            )
        };
        files.sort_by_key(key);
        let mut tally = Tally::new(load);
        let mut pieces = Pieces::new();
        let (mut records, mut odd) = (0, 0);
        for f in &files {
            let data = fs::read(f).with_context(|| format!("{}: cannot read", f.display()))?;
            let (r, o) = read_wal(&data, &mut pieces, &mut tally)
                .with_context(|| format!("{}: bad write-ahead log", f.display()))?;
            records += r;
            odd += o;
        }
        let unfinished = pieces.len();
        let check = tally.finish();
        fs::remove_dir_all(&out).ok();
        Ok(Run {
            done_s: (exited - start).as_secs_f64(),
            sent,
            usage,
            check,
            extra: json!({
                "chain": format!(
                    "{} segments, {} of write-ahead log compressed to {} ({:.2}:1)",
                    segs.len(),
                    bytesize::ByteSize::b(captured).display().iec(),
                    bytesize::ByteSize::b(compressed).display().iec(),
                    captured as f64 / compressed.max(1) as f64
                ),
                "segments": segs.len(),
                "captured": captured,
                "compressed": compressed,
                "wal_files": files.len(),
                "records": records,
                "records_cut_or_unexpected_framing": odd,
                "unfinished_oversize": unfinished,
                "listener_at_stop": counted,
                "extract": xu,
            }),
        })
    }

    /// rsyslog's side: `imtcp` → `omfile` writing each message raw, in its own directory.
    fn syslog_rsyslog(&mut self, rsyslogd: &Path, d: &Path, load: &Arc<Load>) -> Result<Run> {
        let d = d.join("rsyslog");
        fresh_dir(&d)?;
        let work = d.join("work");
        fs::create_dir_all(&work)?;
        let out = d.join("out.log");
        let conf = d.join("rsyslog.conf");
        let port = free_port()?;
        fs::write(
            &conf,
            format!(
                "global(workDirectory={} maxMessageSize=\"256k\")\nmodule(load=\"imtcp\")\ntemplate(name=\"raw\" type=\"string\" string=\"%rawmsg%\\n\")\nruleset(name=\"bench\") {{\n  action(type=\"omfile\" file={} template=\"raw\")\n}}\ninput(type=\"imtcp\" address=\"127.0.0.1\" port=\"{port}\" ruleset=\"bench\")\n",
                toml_str(&work),
                toml_str(&out)
            ),
        )?;
        let m = Measured::start(Spec {
            bench: &self.exe,
            argv: vec![
                rsyslogd.into(),
                "-n".into(),
                "-f".into(),
                conf.clone().into(),
                "-i".into(),
                d.join("rsyslogd.pid").into(),
            ],
            stdout: Stdio::null(),
            report: self.report_path("syslog-rsyslog"),
            ready_marker: None,
            env: vec![],
        })?;
        // Ready when it accepts connections (an empty one carries no message).
        let ready_by = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > ready_by {
                m.terminate()?;
                let (_, stderr) = m.wait()?;
                bail!("rsyslogd did not listen on 127.0.0.1:{port}; its stderr:\n{stderr}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let (sender, rx) = spawn_senders(load, port);
        let want = load.output_bytes();
        let give_up = Instant::now()
            + Duration::from_secs(120)
            + Duration::from_secs_f64(load.body_bytes as f64 / MIB_PER_S_FLOOR);
        let mut complete_at = None;
        let mut last_growth = None;
        let mut last_size = 0;
        let mut senders_done = false;
        while Instant::now() < give_up {
            std::thread::sleep(POLL);
            senders_done |= rx.try_recv().is_ok();
            let size = fs::metadata(&out).map(|m| m.len()).unwrap_or(0);
            if size != last_size {
                last_size = size;
                last_growth = Some(Instant::now());
            }
            if size >= want {
                complete_at = Some(Instant::now());
                break;
            }
            // Something was dropped or changed: the size is never reached. Stop once the
            // senders are done and the file has not grown for 3 s.
            if senders_done && last_growth.is_none_or(|t| t.elapsed() > Duration::from_secs(3)) {
                break;
            }
        }
        m.terminate()?;
        let (usage, stderr) = m.wait()?;
        fs::write(d.join("rsyslogd.err"), &stderr)?;
        let (sent, start) = sender
            .join()
            .map_err(|_| anyhow::anyhow!("the sender thread panicked"))?;
        let sent = sent?;
        let start = start.context("the senders never started")?;
        let Some(done) = complete_at.or(last_growth) else {
            bail!("rsyslog wrote nothing; its stderr:\n{stderr}");
        };
        let mut tally = Tally::new(load);
        let mut r = BufReader::with_capacity(1 << 20, fs::File::open(&out)?);
        let mut line = Vec::new();
        loop {
            line.clear();
            if r.read_until(b'\n', &mut line)? == 0 {
                break;
            }
            if line.last() == Some(&b'\n') {
                line.pop();
            }
            tally.add(&line);
        }
        let check = tally.finish();
        Ok(Run {
            done_s: (done - start).as_secs_f64(),
            sent,
            usage,
            check,
            extra: json!({
                "output_bytes": fs::metadata(&out).map(|m| m.len()).unwrap_or(0),
                "expected_output_bytes": want,
                "complete": complete_at.is_some(),
            }),
        })
    }
}

/// The slowest rate at which a receiver is still waited for, in bytes per second.
const MIB_PER_S_FLOOR: f64 = 1024.0 * 1024.0;

#[cfg(test)]
mod tests {
    use super::*;

    fn small_load(lines: &[&str], conns: usize) -> Load {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("c.log");
        fs::write(&p, lines.join("\n") + "\n").expect("write");
        build_load(&p, usize::MAX, conns).expect("load")
    }

    #[test]
    fn load_is_octet_counted_rfc5424_round_robin() {
        let l = small_load(&["first line", "", "third"], 2);
        assert_eq!(l.count, 3);
        assert_eq!(l.line_bytes, 15);
        let b0 = l.body(0);
        assert!(
            b0.starts_with(b"<134>1 2026-11-20T03:00:00.000000Z vpn-gw-0 logkeep-bench - 0 - ")
        );
        assert!(b0.ends_with(b" - first line"));
        assert_eq!(
            l.body(1),
            b"<134>1 2026-11-20T03:00:00.001000Z vpn-gw-1 logkeep-bench - 1 - "
        );
        assert_eq!(Tally::number(l.body(2)), Some(2));
        let w0 = String::from_utf8(l.wire[0].clone()).expect("ascii");
        let (len, rest) = w0.split_once(' ').expect("LEN SP");
        assert_eq!(len.parse::<usize>().expect("len"), b0.len());
        assert!(rest.starts_with("<134>1"));
        assert_eq!(l.output_bytes(), l.body_bytes + 3);
    }

    #[test]
    fn tally_counts_lost_duplicated_altered_and_unknown() {
        let l = small_load(&["a", "b", "c", "d", "e"], 3);
        let mut t = Tally::new(&l);
        t.add(l.body(0));
        t.add(l.body(1));
        t.add(l.body(1));
        let mut changed = l.body(2).to_vec();
        changed.push(b'!');
        t.add(&changed);
        t.add(b"garbage");
        t.add(l.body(4));
        // A changed copy next to an exact one is counted too.
        t.add(&l.body(4)[..l.body(4).len() - 1]);
        let e = t.finish();
        assert_eq!(
            (
                e.sent,
                e.exactly_once,
                e.lost,
                e.duplicated,
                e.altered,
                e.unknown,
                e.received
            ),
            (5, 2, 1, 1, 2, 1, 7)
        );
        assert!(!e.exact());
        let mut t = Tally::new(&l);
        for i in 0..5 {
            t.add(l.body(i));
        }
        assert!(t.finish().exact());
    }

    #[test]
    fn write_ahead_log_records_and_pieces_are_read_as_documented() {
        let l = small_load(&["x", "y"], 1);
        let (m0, m1) = (l.body(0).to_vec(), l.body(1).to_vec());
        let rec = |body: &[u8], flags: &str| {
            let mut v = format!(
                "LKS1 2026-11-20T03:10:12.000000001Z tcp 127.0.0.1:514 127.0.0.1:5000 {} {flags}\n",
                body.len()
            )
            .into_bytes();
            v.extend_from_slice(body);
            v.push(b'\n');
            v
        };
        let mut wal = rec(&m0, "oc");
        wal.extend(b"LKS1 2026-11-20T03:10:13.000000000Z udp 0.0.0.0:514 - 0 drops=2\n\n");
        let (a, b) = m1.split_at(10);
        let first = rec(a, "oc part=1/2");
        let second = rec(b, "oc part=2/2");
        wal.extend(&first);
        let mut pieces = Pieces::new();
        let mut t = Tally::new(&l);
        // The pieces of one message may lie in two files.
        let (n, odd) = read_wal(&wal, &mut pieces, &mut t).expect("read");
        assert_eq!((n, odd, pieces.len()), (3, 0, 1));
        let (n, odd) = read_wal(&second, &mut pieces, &mut t).expect("read");
        assert_eq!((n, odd, pieces.len()), (1, 0, 0));
        assert!(t.finish().exact());
        // A record cut by a kill ends the file; a record without LF after its body is an error.
        let mut t = Tally::new(&l);
        let whole = rec(&m0, "oc");
        let header_end = whole.iter().position(|&b| b == b'\n').expect("LF");
        assert_eq!(
            read_wal(&whole[..header_end + 5], &mut pieces, &mut t).expect("cut"),
            (1, 1)
        );
        assert_eq!(
            read_wal(&whole[..20], &mut pieces, &mut t).expect("cut"),
            (0, 1)
        );
        let mut bad = rec(&m0, "oc");
        bad.pop();
        bad.push(b'x');
        bad.extend(rec(&m1, "oc"));
        assert!(read_wal(&bad, &mut pieces, &mut t).is_err());
    }
}
