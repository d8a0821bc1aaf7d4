//! Figure 9: UDP under overload. Numbered datagrams are sent over loopback at rising rates (the
//! last step as fast as one sender thread can) to the real `logkeep run` with one `udp://`
//! listener, then to rsyslog (`imudp` → `omfile`), both asking for the same 8 MiB receive
//! buffer. For each rate the figure says how many each received and how many were lost.
//!
//! UDP has no flow control: what a receiver cannot take in time the kernel drops when the
//! socket's receive buffer is full, and counts. logkeep's side must account for every datagram:
//! received (stored, counted after their fsync) plus the drops the kernel reported for its
//! socket (status `udp.socket_drops`, also written into the chain) equals sent, or the run is
//! a problem. rsyslog's side is what its output file holds; its loss is the rest, and the
//! kernel's drop count for its socket (`/proc/net/udp`) is shown beside it.

use crate::figures::{Bench, Figure, fresh_dir, toml_str};
use crate::proc::{self, Measured, Spec};
use anyhow::{Context, Result, bail};
use serde::Serialize;
use serde_json::json;
use std::fs;
use std::io::{Read, Seek, SeekFrom};
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const TITLE: &str = "9. UDP under overload";
/// Messages per second of each step; 0: as fast as one thread sends.
const RATES: [u64; 5] = [10_000, 50_000, 100_000, 200_000, 0];
/// The receive buffer both receivers ask for.
const RCVBUF: &str = "8MiB";
/// A step is over when the receiver's counts have not moved for this long.
const QUIET: Duration = Duration::from_secs(2);
/// Bytes of one datagram.
const DATAGRAM: usize = 200;

/// One step of one receiver.
#[derive(Debug, Clone, Serialize)]
struct Step {
    /// Asked rate (0: unpaced).
    rate: u64,
    /// Rate achieved by the sender.
    sent_per_s: f64,
    sent: u64,
    received: u64,
    /// logkeep: drops the kernel reported for its socket; rsyslog: sent − received.
    lost: u64,
    /// The kernel's drop count for the socket, this step (rsyslog: read from /proc/net/udp).
    kernel_drops: Option<u64>,
}

/// Send `count` numbered datagrams (from `first`) at `rate` per second (0: unpaced); returns
/// the seconds it took.
fn blast(port: u16, first: u64, count: u64, rate: u64) -> Result<f64> {
    let s = UdpSocket::bind("127.0.0.1:0")?;
    s.connect(("127.0.0.1", port))?;
    let mut buf = Vec::with_capacity(DATAGRAM);
    let t0 = Instant::now();
    for i in 0..count {
        if rate > 0 && i % 100 == 0 {
            let due = Duration::from_secs_f64(i as f64 / rate as f64);
            if let Some(wait) = due.checked_sub(t0.elapsed()) {
                std::thread::sleep(wait);
            }
        }
        buf.clear();
        buf.extend_from_slice(format!("<13>1 - bench udp - - - U{:010} ", first + i).as_bytes());
        buf.resize(DATAGRAM, b'u');
        // A full socket buffer on the sending side is not the receiver's loss: retry.
        while let Err(e) = s.send(&buf) {
            if e.kind() != std::io::ErrorKind::WouldBlock && e.raw_os_error() != Some(105) {
                return Err(e).context("send");
            }
            std::thread::yield_now();
        }
    }
    Ok(t0.elapsed().as_secs_f64())
}

fn free_udp_port() -> Result<u16> {
    Ok(UdpSocket::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// The `drops` column of `/proc/net/udp` for the socket bound to 127.0.0.1:`port`.
fn proc_drops(port: u16) -> Option<u64> {
    let text = fs::read_to_string("/proc/net/udp").ok()?;
    let local = format!("0100007F:{port:04X}");
    text.lines().skip(1).find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        (f.len() >= 13 && f[1] == local).then(|| f[12].parse().ok())?
    })
}

/// Wait until `counts` stops moving (or reaches `want`); returns its last value.
fn settle(want: u64, mut counts: impl FnMut() -> Result<u64>) -> Result<u64> {
    let mut last = counts()?;
    let mut moved = Instant::now();
    let give_up = Instant::now() + Duration::from_secs(120);
    while last < want && moved.elapsed() < QUIET && Instant::now() < give_up {
        std::thread::sleep(Duration::from_millis(100));
        let n = counts()?;
        if n != last {
            last = n;
            moved = Instant::now();
        }
    }
    Ok(last)
}

impl Bench {
    /// Figure 9: messages received and lost at rising UDP send rates, logkeep and rsyslog.
    pub fn udp(&mut self) -> Result<Figure> {
        let d = self.dir.join("udp");
        fresh_dir(&d)?;
        let per_step = self.opts.udp_messages;
        let ours = self.udp_logkeep(&d, per_step)?;
        let theirs = match proc::find_program("rsyslogd") {
            Some(r) => Some(self.udp_rsyslog(&r, &d, per_step)?),
            None => None,
        };
        let show = |steps: &[Step]| {
            steps
                .iter()
                .map(|s| {
                    format!(
                        "{}/s: {} of {} lost",
                        if s.rate == 0 {
                            format!("max {:.0}", s.sent_per_s)
                        } else {
                            s.rate.to_string()
                        },
                        s.lost,
                        s.sent
                    )
                })
                .collect::<Vec<_>>()
                .join("; ")
        };
        let lost = |steps: &[Step]| steps.iter().map(|s| s.lost).sum::<u64>();
        let ratio = theirs
            .as_ref()
            .map(|t| (lost(t) as f64 + 1.0) / (lost(&ours) as f64 + 1.0));
        Ok(Figure {
            key: "udp",
            title: TITLE,
            logkeep: show(&ours),
            baseline: theirs
                .as_ref()
                .map_or("rsyslogd not installed".into(), |t| {
                    format!("rsyslog {}: {}", crate::figures::rsyslog_version(), show(t))
                }),
            ratio,
            target: "every datagram received or reported lost".into(),
            met: Some(
                ours.iter()
                    .all(|s| s.received + s.lost == s.sent && s.kernel_drops == Some(s.lost)),
            ),
            notes: vec![
                format!(
                    "{per_step} datagrams of {DATAGRAM} bytes per step over loopback from one thread; both receivers ask for a {RCVBUF} receive buffer; ratio = (rsyslog's losses + 1) / (logkeep's + 1)"
                ),
                "logkeep counts a message once fsynced; rsyslog once in its output file (no fsync)"
                    .into(),
            ],
            details: json!({ "logkeep": ours, "rsyslog": theirs }),
        })
    }

    fn udp_logkeep(&mut self, d: &Path, per_step: u64) -> Result<Vec<Step>> {
        let d = d.join("logkeep");
        fresh_dir(&d)?;
        let socket = d.join("control.sock");
        let port = free_udp_port()?;
        let cfg = d.join("logkeep.toml");
        fs::write(
            &cfg,
            format!(
                "# Written by logkeep-bench.\n[store]\npath = {}\n\n[control]\nsocket = {}\n\n[[source]]\nid = \"udp\"\nlisten = \"udp://127.0.0.1:{port}\"\nreceive_buffer = \"{RCVBUF}\"\n",
                toml_str(&d.join("store")),
                toml_str(&socket)
            ),
        )?;
        let m = self.start_daemon(&cfg, "udp-logkeep")?;
        let r = self.udp_logkeep_steps(&socket, port, per_step);
        m.terminate()?;
        let (usage, stderr) = m.wait()?;
        fs::write(d.join("daemon.err"), &stderr)?;
        if !usage.ok() {
            bail!("logkeep run exited with {usage:?}; stderr:\n{stderr}");
        }
        let steps = r?;
        for s in &steps {
            if s.received + s.lost != s.sent {
                self.problems.push(format!(
                    "udp: at {}/s logkeep stored {} and reported {} lost of {} sent",
                    s.rate, s.received, s.lost, s.sent
                ));
            }
        }
        Ok(steps)
    }

    fn udp_logkeep_steps(&self, socket: &Path, port: u16, per_step: u64) -> Result<Vec<Step>> {
        let counts = || -> Result<(u64, u64)> {
            let out = Command::new(&self.logkeep)
                .args(["status", "--json", "--socket"])
                .arg(socket)
                .stderr(Stdio::null())
                .output()?;
            let v: serde_json::Value =
                serde_json::from_slice(&out.stdout).context("logkeep status --json")?;
            let l = &v["listeners"][0];
            Ok((
                l["messages"].as_u64().context("no messages in status")?,
                l["udp"]["socket_drops"].as_u64().unwrap_or(0),
            ))
        };
        let mut steps = Vec::new();
        let mut first = 0;
        for rate in RATES {
            let (m0, d0) = counts()?;
            let secs = blast(port, first, per_step, rate)?;
            first += per_step;
            settle(m0 + d0 + per_step, || counts().map(|(m, d)| m + d))?;
            let (m1, d1) = counts()?;
            steps.push(Step {
                rate,
                sent_per_s: per_step as f64 / secs.max(1e-9),
                sent: per_step,
                received: m1 - m0,
                lost: d1 - d0,
                kernel_drops: Some(d1 - d0),
            });
        }
        Ok(steps)
    }

    fn udp_rsyslog(&mut self, rsyslogd: &Path, d: &Path, per_step: u64) -> Result<Vec<Step>> {
        let d = d.join("rsyslog");
        fresh_dir(&d)?;
        let work = d.join("work");
        fs::create_dir_all(&work)?;
        let out: PathBuf = d.join("out.log");
        let conf = d.join("rsyslog.conf");
        let port = free_udp_port()?;
        fs::write(
            &conf,
            format!(
                "global(workDirectory={})\nmodule(load=\"imudp\")\ntemplate(name=\"raw\" type=\"string\" string=\"%rawmsg%\\n\")\nruleset(name=\"bench\") {{\n  action(type=\"omfile\" file={} template=\"raw\")\n}}\ninput(type=\"imudp\" address=\"127.0.0.1\" port=\"{port}\" rcvbufSize=\"8m\" ruleset=\"bench\")\n",
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
                conf.into(),
                "-i".into(),
                d.join("rsyslogd.pid").into(),
            ],
            stdout: Stdio::null(),
            report: self.report_path("udp-rsyslog"),
            ready_marker: None,
            env: vec![],
        })?;
        let ready_by = Instant::now() + Duration::from_secs(30);
        while proc_drops(port).is_none() {
            if Instant::now() > ready_by {
                m.terminate()?;
                let (_, stderr) = m.wait()?;
                bail!("rsyslogd did not listen on UDP 127.0.0.1:{port}; its stderr:\n{stderr}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        // Lines in the output file, read on from where the last count stopped.
        let mut lines = 0u64;
        let mut offset = 0u64;
        let mut count_lines = || -> Result<u64> {
            let Ok(mut f) = fs::File::open(&out) else {
                return Ok(0);
            };
            f.seek(SeekFrom::Start(offset))?;
            let mut buf = vec![0u8; 1 << 20];
            loop {
                let n = f.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                offset += n as u64;
                lines += buf[..n].iter().filter(|&&b| b == b'\n').count() as u64;
            }
            Ok(lines)
        };
        let mut steps = Vec::new();
        let mut first = 0;
        let r: Result<()> = (|| {
            for rate in RATES {
                let l0 = count_lines()?;
                let k0 = proc_drops(port).unwrap_or(0);
                let secs = blast(port, first, per_step, rate)?;
                first += per_step;
                let l1 = settle(l0 + per_step, &mut count_lines)?;
                let got = l1 - l0;
                steps.push(Step {
                    rate,
                    sent_per_s: per_step as f64 / secs.max(1e-9),
                    sent: per_step,
                    received: got,
                    lost: per_step.saturating_sub(got),
                    kernel_drops: proc_drops(port).map(|k| k - k0),
                });
            }
            Ok(())
        })();
        m.terminate()?;
        let (_, stderr) = m.wait()?;
        fs::write(d.join("rsyslogd.err"), &stderr)?;
        r?;
        Ok(steps)
    }
}
