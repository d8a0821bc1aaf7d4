//! `logkeep status` and `logkeep snapshot`: the client side of the control socket, and the
//! rule that finds the socket (`--socket`, else the configuration's `[control] socket`).

use crate::config::{self, Config};
use crate::status::{EjectReply, SealReply, SnapshotReply, Status};
use anyhow::{Context, Result};
use logkeep_format::segment::esc;
use logkeep_format::shown::Shown;
use serde_json::{Value, json};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long `status` waits for the daemon.
const STATUS_TIMEOUT: Duration = Duration::from_secs(30);
/// How long `snapshot` and `export` wait: sealing a large backlog takes time.
pub const SEAL_TIMEOUT: Duration = Duration::from_secs(300);

/// The socket to talk to: `--socket`, else the one `--config` names, else the one the default
/// configuration names, else the default path.
pub fn socket_path(socket: Option<PathBuf>, config: Option<&Path>) -> Result<PathBuf> {
    if let Some(s) = socket {
        return Ok(s);
    }
    if let Some(c) = config {
        return Ok(Config::load(c)?.control_socket);
    }
    // The default configuration may be unreadable for a group member; its socket is then
    // most likely the default one.
    Ok(Config::load(Path::new(crate::cli::DEFAULT_CONFIG))
        .map(|c| c.control_socket)
        .unwrap_or_else(|_| PathBuf::from(config::DEFAULT_SOCKET)))
}

/// A text member as `status` prints it: escaped, `-` when empty.
fn text(v: Option<&str>) -> String {
    v.map_or_else(|| "-".into(), esc)
}

/// A number member that may be empty, as `status` has always printed it (`null` when empty).
fn number(v: Option<u64>) -> String {
    v.map_or_else(|| "null".into(), |n| n.to_string())
}

fn duration(secs: u64) -> String {
    humantime::format_duration(Duration::from_secs(secs)).to_string()
}

/// Ask the daemon for its status.
pub fn fetch_status(socket: &Path) -> Result<Status> {
    let v = crate::control::call(socket, &json!({"op": "status"}), STATUS_TIMEOUT)?;
    serde_json::from_value(v).with_context(|| {
        format!(
            "{}: the daemon's status answer is not in the form this logkeep reads",
            socket.display()
        )
    })
}

/// `logkeep status`.
pub fn status(socket: &Path, json_out: bool) -> Result<u8> {
    let v = fetch_status(socket)?;
    let mut out = crate::out::stdout();
    if json_out {
        serde_json::to_writer_pretty(&mut out, &crate::status::to_value(&v))?;
        writeln!(out)?;
        return Ok(0);
    }
    writeln!(
        out,
        "logkeep {} (pid {}), up {} since {}",
        esc(&v.version),
        v.pid,
        duration(v.uptime_seconds),
        esc(&v.started)
    )?;
    let store = &v.store;
    writeln!(
        out,
        "store {} (id {}){}",
        esc(&store.path),
        esc(&store.id),
        if store.writable {
            String::new()
        } else {
            format!("  WRITES FAILING: {}", text(store.error.as_deref()))
        }
    )?;
    let chain = &v.chain;
    writeln!(
        out,
        "chain head: record {} sha256 {}",
        chain.head.seq, chain.head.hash
    )?;
    match &chain.last_seal {
        Some(s) => writeln!(out, "last seal: record {} at {}", s.seq, esc(&s.time))?,
        None => writeln!(out, "last seal: none since the daemon started")?,
    }
    for s in &v.sources {
        writeln!(out, "source {}: {} file(s)", esc(&s.id), s.files.len())?;
        for f in &s.files {
            writeln!(
                out,
                "  {}  dev {} ino {}  gen {}  committed {} of {} bytes  lag {}",
                esc(&f.path),
                f.dev,
                f.ino,
                f.generation,
                f.committed,
                f.size,
                f.lag
            )?;
        }
        if !s.waiting.is_empty() {
            writeln!(
                out,
                "  {} more file(s) wait for a descriptor (open-file limit; raise LimitNOFILE):",
                s.waiting.len()
            )?;
            for w in s.waiting.iter().take(10) {
                writeln!(out, "    {}  {} bytes", esc(&w.path), w.size)?;
            }
            if s.waiting.len() > 10 {
                writeln!(out, "    ...")?;
            }
        }
        if let Some(w) = &s.warning {
            writeln!(out, "  warning: {}", Shown::text(w))?;
        }
        for u in &s.unreadable {
            writeln!(
                out,
                "  ALERT: {}  dev {} ino {}  cannot be read, not captured since {}: {}",
                Shown::text(&u.path),
                u.dev,
                u.ino,
                Shown::text(&u.since),
                Shown::text(&u.error)
            )?;
        }
    }
    // Syslog listeners: what they stored (counted only once fsynced) and from whom.
    for l in &v.listeners {
        writeln!(
            out,
            "listener {} {}: {} messages ({} bytes) stored, {} oversize, {} cut at close, {} framing errors; connections {} open, {} total, {} waits at the limit, {} idle-closed, {} TLS failures",
            esc(&l.source),
            esc(&l.listen),
            l.messages,
            l.bytes,
            l.oversize,
            l.cut,
            l.framing_errors,
            l.open_connections,
            l.connections,
            l.at_limit,
            l.idle_closed,
            l.tls_failures
        )?;
        if l.listen.starts_with("relp") {
            writeln!(
                out,
                "  RELP: {} messages sent again after a lost answer (stored again), {} sessions ended by protocol errors",
                l.resent, l.protocol_errors
            )?;
        }
        if let Some(u) = &l.udp {
            writeln!(
                out,
                "  UDP receive buffer {} bytes; datagrams dropped by the kernel: {} (host RcvbufErrors {})",
                u.rcvbuf_bytes,
                number(u.socket_drops),
                number(u.host_rcvbuf_errors)
            )?;
        }
        for p in &l.peers {
            writeln!(
                out,
                "  peer {}: {} messages ({} bytes), {} oversize, {} cut; connections {} open, {} total; last {}",
                esc(&p.peer),
                p.messages,
                p.bytes,
                p.oversize,
                p.cut,
                p.open_connections,
                p.connections,
                esc(&p.last)
            )?;
        }
    }
    if v.alerts.is_empty() {
        writeln!(out, "alerts: none since the daemon started")?;
    } else {
        writeln!(out, "alerts (newest first):")?;
        for a in &v.alerts {
            writeln!(
                out,
                "  {}  record {}  {} {} ({}): {}",
                esc(&a.time),
                a.seq,
                esc(&a.kind),
                esc(&a.path),
                esc(&a.source),
                esc(&a.what)
            )?;
        }
    }
    for m in &v.media {
        writeln!(
            out,
            "medium {}  {}  {}  head {}  behind {} record(s)  last sync {}",
            esc(&m.id),
            esc(&m.path),
            esc(&m.state.to_string()),
            number(m.head.map(|h| h.seq)),
            m.behind,
            text(m.last_sync.as_deref())
        )?;
    }
    for r in &v.remotes {
        writeln!(
            out,
            "remote {}  {}  {}  head {}  behind {} record(s)  last checkpoint {}  last copy {}",
            esc(&r.id),
            esc(&r.location),
            esc(&r.state),
            number(r.head.map(|h| h.seq)),
            r.behind,
            number(r.checkpoint),
            text(r.last_copy.as_deref())
        )?;
    }
    if let Some(last) = &v.snapshots.last {
        writeln!(
            out,
            "snapshots: {}; last {} at {}",
            v.snapshots.count,
            esc(&last.id),
            esc(&last.time)
        )?;
    }
    if let Some(d) = &v.drill {
        writeln!(
            out,
            "last incident drill: {} at {} (record {}){}",
            if d.report.failures.is_empty() {
                "passed"
            } else {
                "FAILED"
            },
            esc(&d.time),
            d.seq,
            d.report.verified_ms.map_or_else(String::new, |ms| format!(
                "; a verified bundle {:.1} s after the start",
                ms as f64 / 1000.0
            ))
        )?;
        for f in &d.report.failures {
            writeln!(out, "  would fail on the day: {}", esc(f))?;
        }
    }
    Ok(0)
}

/// `logkeep snapshot`.
pub fn snapshot(socket: &Path, reason: Option<String>, json_out: bool) -> Result<u8> {
    if reason
        .as_ref()
        .is_some_and(|r| r.len() > crate::control::MAX_REASON)
    {
        anyhow::bail!(
            "--reason is longer than {} bytes",
            crate::control::MAX_REASON
        );
    }
    let mut req = json!({"op": "snapshot"});
    if let Some(r) = reason {
        req["reason"] = Value::String(r);
    }
    let v = crate::control::call(socket, &req, SEAL_TIMEOUT)?;
    let v: SnapshotReply = serde_json::from_value(v).with_context(|| {
        format!(
            "{}: the daemon's snapshot answer is not in the form this logkeep reads",
            socket.display()
        )
    })?;
    let mut out = crate::out::stdout();
    // The head as `verify --expect-head` takes it.
    let expect_head = format!("{}:{}", v.head.seq, v.head.hash);
    if json_out {
        let mut value = crate::status::to_value(&v);
        value["expect_head"] = Value::String(expect_head);
        serde_json::to_writer_pretty(&mut out, &value)?;
        writeln!(out)?;
        return Ok(0);
    }
    writeln!(out, "snapshot {}", esc(&v.id))?;
    writeln!(
        out,
        "chain head: record {} sha256 {}",
        v.head.seq, v.head.hash
    )?;
    writeln!(out, "expect-head: {expect_head}")?;
    writeln!(
        out,
        "everything read up to record {} is sealed; host context in record {}:",
        v.sealed_through.seq, v.context.seq
    )?;
    for f in &v.context.files {
        writeln!(out, "  {}", esc(f))?;
    }
    writeln!(
        out,
        "Write the head down (or photograph it): with it, `logkeep verify STORE --expect-head {expect_head}` proves later that the chain was not cut back."
    )?;
    Ok(0)
}

/// `logkeep media eject ID` through a running daemon.
pub fn eject(socket: &Path, medium: &str) -> Result<u8> {
    let v = crate::control::call(
        socket,
        &json!({"op": "eject", "medium": medium}),
        SEAL_TIMEOUT,
    )?;
    let v: EjectReply =
        serde_json::from_value(v).context("the daemon's answer has no valid head")?;
    println!(
        "medium {medium:?} holds the chain up to record {} sha256 {}",
        v.head.seq, v.head.hash
    );
    println!("flushed, and the detach is recorded in the chain: safe to unplug");
    Ok(0)
}

/// For `export` without `--store`: have the daemon seal what it read, and return its store
/// directory and head.
pub fn seal(socket: &Path) -> Result<(PathBuf, logkeep_format::layout::Head)> {
    let v = crate::control::call(socket, &json!({"op": "seal"}), SEAL_TIMEOUT)?;
    let v: SealReply =
        serde_json::from_value(v).context("the daemon's answer has no valid head")?;
    Ok((PathBuf::from(v.store), v.head))
}

/// For `drill`: have the daemon record the drill's verdict in the chain.
pub fn record_drill(
    socket: &Path,
    report: &crate::status::DrillReport,
) -> Result<crate::status::DrillReply> {
    let v = crate::control::call(
        socket,
        &json!({"op": "drill", "drill": report}),
        SEAL_TIMEOUT,
    )?;
    serde_json::from_value(v).context("the daemon's answer names no drill record")
}

/// For `drill`: an emergency snapshot with `reason`, its answer as the daemon gave it.
pub fn take_snapshot(socket: &Path, reason: &str) -> Result<SnapshotReply> {
    let v = crate::control::call(
        socket,
        &json!({"op": "snapshot", "reason": reason}),
        SEAL_TIMEOUT,
    )?;
    serde_json::from_value(v).with_context(|| {
        format!(
            "{}: the daemon's snapshot answer is not in the form this logkeep reads",
            socket.display()
        )
    })
}

/// For `export` through the running daemon: have it sign the bundle whose SHA256SUMS hashes to
/// `sums` with epoch `epoch`'s key (then that epoch ends). Returns the signature and the key.
pub fn sign_bundle(
    socket: &Path,
    sums: &logkeep_format::Sha256,
    epoch: u64,
) -> Result<([u8; 64], ed25519_dalek::VerifyingKey)> {
    let v = crate::control::call(
        socket,
        &json!({"op": "sign_bundle", "sha256": sums.to_hex(), "epoch": epoch}),
        SEAL_TIMEOUT,
    )?;
    let v: crate::control::SignReply =
        serde_json::from_value(v).context("the daemon's answer is not a signature")?;
    let sig: [u8; 64] = logkeep_format::seal::unb64(&v.sig)
        .and_then(|b| b.try_into().ok())
        .context("the daemon's signature is not base64 of 64 bytes")?;
    let key = logkeep_format::seal::parse_key(&v.key)
        .map_err(|e| anyhow::anyhow!("the daemon's key: {e}"))?;
    Ok((sig, key))
}
