//! `logkeep status` and `logkeep snapshot`: the client side of the control socket, and the
//! rule that finds the socket (`--socket`, else the configuration's `[control] socket`).

use crate::config::{self, Config};
use anyhow::{Context, Result};
use logkeep_format::segment::esc;
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

fn str_of(v: &Value) -> String {
    match v {
        Value::String(s) => esc(s),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

fn duration(secs: u64) -> String {
    humantime::format_duration(Duration::from_secs(secs)).to_string()
}

/// `logkeep status`.
pub fn status(socket: &Path, json_out: bool) -> Result<u8> {
    let v = crate::control::call(socket, &json!({"op": "status"}), STATUS_TIMEOUT)?;
    let mut out = std::io::stdout().lock();
    if json_out {
        serde_json::to_writer_pretty(&mut out, &v)?;
        writeln!(out)?;
        return Ok(0);
    }
    writeln!(
        out,
        "logkeep {} (pid {}), up {} since {}",
        str_of(&v["version"]),
        v["pid"],
        duration(v["uptime_seconds"].as_u64().unwrap_or(0)),
        str_of(&v["started"])
    )?;
    let store = &v["store"];
    writeln!(
        out,
        "store {} (id {}){}",
        str_of(&store["path"]),
        str_of(&store["id"]),
        if store["writable"] == Value::Bool(false) {
            format!("  WRITES FAILING: {}", str_of(&store["error"]))
        } else {
            String::new()
        }
    )?;
    let chain = &v["chain"];
    writeln!(
        out,
        "chain head: record {} sha256 {}",
        chain["head"]["seq"],
        str_of(&chain["head"]["hash"])
    )?;
    match chain["last_seal"].as_object() {
        Some(s) => writeln!(
            out,
            "last seal: record {} at {}",
            s["seq"],
            str_of(&s["time"])
        )?,
        None => writeln!(out, "last seal: none since the daemon started")?,
    }
    for s in v["sources"].as_array().into_iter().flatten() {
        let files = s["files"].as_array().cloned().unwrap_or_default();
        writeln!(out, "source {}: {} file(s)", str_of(&s["id"]), files.len())?;
        for f in &files {
            writeln!(
                out,
                "  {}  dev {} ino {}  gen {}  committed {} of {} bytes  lag {}",
                str_of(&f["path"]),
                f["dev"],
                f["ino"],
                f["generation"],
                f["committed"],
                f["size"],
                f["lag"]
            )?;
        }
        let waiting = s["waiting"].as_array().cloned().unwrap_or_default();
        if !waiting.is_empty() {
            writeln!(
                out,
                "  {} more file(s) wait for a descriptor (open-file limit; raise LimitNOFILE):",
                waiting.len()
            )?;
            for w in waiting.iter().take(10) {
                writeln!(out, "    {}  {} bytes", str_of(&w["path"]), w["size"])?;
            }
            if waiting.len() > 10 {
                writeln!(out, "    ...")?;
            }
        }
    }
    // Syslog listeners: what they stored (counted only once fsynced) and from whom.
    for l in v["listeners"].as_array().into_iter().flatten() {
        writeln!(
            out,
            "listener {} {}: {} messages ({} bytes) stored, {} oversize, {} cut at close, {} framing errors; connections {} open, {} total, {} waits at the limit, {} idle-closed, {} TLS failures",
            str_of(&l["source"]),
            str_of(&l["listen"]),
            l["messages"],
            l["bytes"],
            l["oversize"],
            l["cut"],
            l["framing_errors"],
            l["open_connections"],
            l["connections"],
            l["at_limit"],
            l["idle_closed"],
            l["tls_failures"]
        )?;
        if l["udp"].is_object() {
            let u = &l["udp"];
            writeln!(
                out,
                "  UDP receive buffer {} bytes; datagrams dropped by the kernel: {} (host RcvbufErrors {})",
                u["rcvbuf_bytes"], u["socket_drops"], u["host_rcvbuf_errors"]
            )?;
        }
        for p in l["peers"].as_array().into_iter().flatten() {
            writeln!(
                out,
                "  peer {}: {} messages ({} bytes), {} oversize, {} cut; connections {} open, {} total; last {}",
                str_of(&p["peer"]),
                p["messages"],
                p["bytes"],
                p["oversize"],
                p["cut"],
                p["open_connections"],
                p["connections"],
                str_of(&p["last"])
            )?;
        }
    }
    let alerts = v["alerts"].as_array().cloned().unwrap_or_default();
    if alerts.is_empty() {
        writeln!(out, "alerts: none since the daemon started")?;
    } else {
        writeln!(out, "alerts (newest first):")?;
        for a in &alerts {
            writeln!(
                out,
                "  {}  record {}  {} {} ({}): {}",
                str_of(&a["time"]),
                a["seq"],
                str_of(&a["kind"]),
                str_of(&a["path"]),
                str_of(&a["source"]),
                str_of(&a["what"])
            )?;
        }
    }
    for m in v["media"].as_array().into_iter().flatten() {
        writeln!(
            out,
            "medium {}  {}  {}  head {}  behind {} record(s)  last sync {}",
            str_of(&m["id"]),
            str_of(&m["path"]),
            str_of(&m["state"]),
            m["head"]["seq"],
            m["behind"],
            str_of(&m["last_sync"])
        )?;
    }
    let snaps = &v["snapshots"];
    if let Some(last) = snaps["last"].as_object() {
        writeln!(
            out,
            "snapshots: {}; last {} at {}",
            snaps["count"],
            str_of(&last["id"]),
            str_of(&last["time"])
        )?;
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
    let mut out = std::io::stdout().lock();
    if json_out {
        serde_json::to_writer_pretty(&mut out, &v)?;
        writeln!(out)?;
        return Ok(0);
    }
    writeln!(out, "snapshot {}", str_of(&v["id"]))?;
    writeln!(
        out,
        "chain head: record {} sha256 {}",
        v["head"]["seq"],
        str_of(&v["head"]["hash"])
    )?;
    writeln!(
        out,
        "everything read up to record {} is sealed; host context in record {}:",
        v["sealed_through"]["seq"], v["context"]["seq"]
    )?;
    for f in v["context"]["files"].as_array().into_iter().flatten() {
        writeln!(out, "  {}", str_of(f))?;
    }
    writeln!(
        out,
        "Write the head down (or photograph it): with it, `logkeep verify --expect-head SEQ:SHA256` proves later that the chain was not cut back."
    )?;
    Ok(0)
}

/// For `export` without `--store`: have the daemon seal what it read, and return its store
/// directory and head.
/// `logkeep media eject ID` through a running daemon.
pub fn eject(socket: &Path, medium: &str) -> Result<u8> {
    let v = crate::control::call(
        socket,
        &json!({"op": "eject", "medium": medium}),
        SEAL_TIMEOUT,
    )?;
    let head = &v["head"];
    println!(
        "medium {medium:?} holds the chain up to record {} sha256 {}",
        head["seq"],
        head["hash"].as_str().unwrap_or("")
    );
    println!("flushed, and the detach is recorded in the chain: safe to unplug");
    Ok(0)
}

pub fn seal(socket: &Path) -> Result<(PathBuf, logkeep_format::layout::Head)> {
    let v = crate::control::call(socket, &json!({"op": "seal"}), SEAL_TIMEOUT)?;
    let store = v["store"]
        .as_str()
        .context("the daemon's answer names no store")?;
    let head = serde_json::from_value(v["head"].clone())
        .context("the daemon's answer has no valid head")?;
    Ok((PathBuf::from(store), head))
}
