//! `logkeep check-config`: validate a configuration file and check what the daemon will need
//! with it — the store and media writable or creatable, the control socket's directory, the
//! signing key — and list every section, with exactly the files each source's patterns make
//! the daemon capture now (found by the capture layer's own expansion, names printed escaped).
//!
//! A problem (something that will fail) is exit 2 naming the field; a warning (a pattern that
//! matches nothing, a key not made yet, a file that cannot be read) is printed and exit 0.

use crate::config::Config;
use anyhow::Result;
use logkeep_capture::names;
use logkeep_format::shown;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// What the check found, as it prints it.
#[derive(Default)]
struct Findings {
    lines: Vec<String>,
    warnings: Vec<String>,
    problems: Vec<String>,
}

impl Findings {
    fn line(&mut self, s: String) {
        self.lines.push(s);
    }
    fn warn(&mut self, s: String) {
        self.lines.push(format!("  warning: {s}"));
        self.warnings.push(s);
    }
    fn problem(&mut self, s: String) {
        self.lines.push(format!("  PROBLEM: {s}"));
        self.problems.push(s);
    }
}

/// Whether this process may access `path` as `mode` (the kernel's answer for this user).
fn may(path: &Path, mode: rustix::fs::Access) -> bool {
    rustix::fs::access(path, mode).is_ok()
}

/// The nearest existing ancestor of `path` (itself included).
fn existing_ancestor(path: &Path) -> Option<&Path> {
    path.ancestors()
        .find(|a| !a.as_os_str().is_empty() && std::fs::symlink_metadata(a).is_ok())
}

/// A directory the daemon writes in (and creates if missing): its state, or why it will fail.
fn writable_dir(path: &Path) -> std::result::Result<String, String> {
    use rustix::fs::Access;
    let rw = Access::WRITE_OK | Access::EXEC_OK;
    match std::fs::metadata(path) {
        Ok(m) if !m.is_dir() => Err("exists and is not a directory".into()),
        Ok(_) if may(path, rw) => Ok("exists, writable".into()),
        Ok(_) => Err(format!("exists but is not writable by {}", who())),
        Err(_) => match existing_ancestor(path) {
            Some(a) if std::fs::metadata(a).is_ok_and(|m| m.is_dir()) && may(a, rw) => Ok(format!(
                "does not exist yet; will be created ({} is writable)",
                shown::path(a)
            )),
            Some(a) => Err(format!(
                "does not exist and cannot be created: {} is not a directory writable by {}",
                shown::path(a),
                who()
            )),
            None => Err("does not exist and cannot be created".into()),
        },
    }
}

/// The user this check runs as (what "writable" and "readable" are checked for).
fn who() -> String {
    let uid = rustix::process::getuid().as_raw();
    let name = nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
        .ok()
        .flatten()
        .map(|u| u.name);
    match name {
        Some(n) => format!("user {} (uid {uid})", shown::text(&n)),
        None => format!("uid {uid}"),
    }
}

/// `logkeep check-config`.
pub fn run(path: &Path, json: bool) -> Result<u8> {
    crate::output::json_errors(json, || check(path, json))
}

fn check(path: &Path, json: bool) -> Result<u8> {
    let c = Config::load(path)?;
    let mut f = Findings::default();
    let mut out = serde_json::Map::new();
    f.line(format!(
        "config {} (sha256 {})",
        shown::path(&c.file),
        c.sha256
    ));
    f.line(format!(
        "checked as {}; run it as the daemon's user (e.g. `sudo -u logkeep logkeep check-config`) to check what that user may read and write",
        who()
    ));
    out.insert("config".into(), json!(shown::path(&c.file)));
    out.insert("sha256".into(), json!(c.sha256));
    out.insert("checked_as".into(), json!(who()));

    // [store]
    f.line(format!("[store] path {}", shown::path(&c.store)));
    let store_state = writable_dir(&c.store);
    match &store_state {
        Ok(s) => f.line(format!("  {s}")),
        Err(e) => f.problem(format!("[store] path {}: {e}", shown::path(&c.store))),
    }
    f.line(format!(
        "  seal_interval {}, segment_max_bytes {}, heartbeat_interval {}, scan_interval {}, compression_level {}",
        humantime::format_duration(c.seal_interval),
        bytesize::ByteSize(c.segment_max_bytes),
        humantime::format_duration(c.heartbeat_interval),
        humantime::format_duration(c.scan_interval),
        c.compression_level
    ));
    f.line(format!(
        "  retain_local {}, min_copies {}, seal_on_tamper {}, snapshot_on_tamper {}",
        c.retain_local.map_or("never (nothing pruned)".into(), |d| {
            humantime::format_duration(d).to_string()
        }),
        c.min_copies,
        c.seal_on_tamper,
        c.snapshot_on_tamper
    ));
    out.insert(
        "store".into(),
        json!({
            "path": shown::path(&c.store),
            "state": store_state.clone().unwrap_or_else(|e| e),
            "ok": store_state.is_ok(),
            "seal_interval": humantime::format_duration(c.seal_interval).to_string(),
            "segment_max_bytes": c.segment_max_bytes,
        }),
    );

    // [control]
    check_control(&c, &mut f, &mut out);
    // [signing]
    check_signing(&c, &mut f, &mut out);
    // [[source]]
    check_sources(&c, &mut f, &mut out);
    // [[media]]
    check_media(&c, &mut f, &mut out);
    // [[remote]]
    check_remotes(&c, &mut f, &mut out);
    // [inventory]
    let inv = &c.inventory;
    f.line(format!(
        "[inventory] organisation {}, contact {}, police_contact {}, network_diagram {}, {} device(s)",
        opt(&inv.organisation),
        opt(&inv.contact),
        opt(&inv.police_contact),
        opt(&inv.network_diagram),
        inv.device.len()
    ));
    for d in &inv.device {
        f.line(format!(
            "  device {}  model {}  patch_status {}",
            shown::text(&d.name),
            opt(&d.model),
            opt(&d.patch_status)
        ));
    }
    out.insert("inventory".into(), serde_json::to_value(inv)?);
    // [drill] and [incident]: what `logkeep drill` checks and `logkeep incident` prints. A
    // missing contact is not a configuration error (the daemon runs without one); the drill
    // reports it as something that would fail on the day.
    let inc = &c.incident;
    let missing = crate::drill::checks::missing_contacts(inc);
    f.line(format!(
        "[incident] police {}, {} responder(s), fingerprint_holder {}, fingerprint {}{}",
        opt(&inc.police),
        inc.responders.len(),
        opt(&inc.fingerprint_holder),
        opt(&inc.fingerprint),
        if missing.is_empty() {
            String::new()
        } else {
            format!(" (`logkeep drill` fails until set: {})", missing.join(", "))
        }
    ));
    f.line(format!(
        "[drill] media_max_age {}",
        humantime::format_duration(c.drill_media_max_age)
    ));
    out.insert("incident".into(), serde_json::to_value(inc)?);
    out.insert(
        "drill".into(),
        json!({ "media_max_age_seconds": c.drill_media_max_age.as_secs() }),
    );

    let valid = f.problems.is_empty();
    let verdict = if !valid {
        format!(
            "config {}: NOT valid: {} problem(s) above will make the daemon fail{}",
            shown::path(&c.file),
            f.problems.len(),
            if f.warnings.is_empty() {
                String::new()
            } else {
                format!(", and {} warning(s)", f.warnings.len())
            }
        )
    } else if f.warnings.is_empty() {
        format!("config {} is valid", shown::path(&c.file))
    } else {
        format!(
            "config {} is valid, with {} warning(s) above",
            shown::path(&c.file),
            f.warnings.len()
        )
    };
    f.line(verdict);
    let code = if valid { 0 } else { 2 };
    if json {
        out.insert("valid".into(), json!(valid));
        out.insert("warnings".into(), json!(f.warnings));
        out.insert("problems".into(), json!(f.problems));
        crate::output::print_json(&Value::Object(out))?;
    } else {
        crate::output::print_lines(&f.lines)?;
    }
    Ok(code)
}

fn opt(o: &Option<String>) -> String {
    o.as_deref().map_or_else(|| "-".into(), shown::text)
}

fn check_control(c: &Config, f: &mut Findings, out: &mut serde_json::Map<String, Value>) {
    let socket = &c.control_socket;
    f.line(format!(
        "[control] socket {}, group {}",
        shown::path(socket),
        c.control_group
            .as_ref()
            .map_or("the daemon's own".into(), |(g, gid)| format!(
                "{} (gid {gid})",
                shown::text(g)
            ))
    ));
    let dir = socket.parent().unwrap_or(Path::new("/"));
    let state = match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => {
            if may(
                dir,
                rustix::fs::Access::WRITE_OK | rustix::fs::Access::EXEC_OK,
            ) {
                f.line(format!("  directory {} exists, writable", shown::path(dir)));
                "ok"
            } else {
                f.problem(format!(
                    "[control] socket {}: its directory is not writable by {}",
                    shown::path(socket),
                    who()
                ));
                "not writable"
            }
        }
        Ok(_) => {
            f.problem(format!(
                "[control] socket {}: {} is not a directory",
                shown::path(socket),
                shown::path(dir)
            ));
            "not a directory"
        }
        Err(_) if dir == Path::new("/run/logkeep") => {
            f.warn(format!(
                "[control] socket {}: {} does not exist now; systemd makes it when it starts the unit (RuntimeDirectory=logkeep), but `logkeep run` outside systemd would fail",
                shown::path(socket),
                shown::path(dir)
            ));
            "made by systemd"
        }
        Err(_) => {
            f.problem(format!(
                "[control] socket {}: its directory {} does not exist (the daemon does not create it)",
                shown::path(socket),
                shown::path(dir)
            ));
            "missing"
        }
    };
    out.insert(
        "control".into(),
        json!({"socket": shown::path(socket), "directory": state,
               "group": c.control_group.as_ref().map(|(g, _)| g)}),
    );
}

fn check_signing(c: &Config, f: &mut Findings, out: &mut serde_json::Map<String, Value>) {
    let key = &c.signing_key;
    f.line(format!("[signing] key {}", shown::path(key)));
    let readable = may(key, rustix::fs::Access::READ_OK);
    let (kind, ok) = match std::fs::metadata(key) {
        Ok(m) if m.is_dir() => {
            let can = readable && may(key, rustix::fs::Access::EXEC_OK);
            ("a directory of signing state (format v2)", can)
        }
        Ok(m) if m.is_file() => ("a key file (PEM, format v1)", readable),
        Ok(_) => ("neither a file nor a directory", false),
        Err(_) => ("missing", false),
    };
    match (kind, ok) {
        ("missing", _) => f.warn(format!(
            "[signing] key {}: does not exist: `logkeep export` will fail until `logkeep keygen` makes it (the daemon itself runs without it)",
            shown::path(key)
        )),
        (k, true) => f.line(format!("  {k}, readable by {}", who())),
        (k, false) => f.warn(format!(
            "[signing] key {}: {k}, not readable by {}: `logkeep export` run as this user will fail",
            shown::path(key),
            who()
        )),
    }
    out.insert(
        "signing".into(),
        json!({"key": shown::path(key), "kind": kind, "readable": ok}),
    );
}

/// A journal source: its directories, how many journal files each holds now, and whether the
/// daemon's user can read them (through group `systemd-journal` under the shipped unit).
fn check_journal(
    id: &str,
    j: &logkeep_journal::JournalSpec,
    f: &mut Findings,
    js: &mut serde_json::Map<String, Value>,
) {
    if !j.matches.is_empty() {
        f.line(format!(
            "  journal entries matching {}",
            shown::text(&j.matches.join(" "))
        ));
    }
    let mut found = Vec::new();
    for dir in j.directories() {
        match logkeep_journal::journal_files(&dir) {
            Ok(files) => {
                f.line(format!(
                    "  journal {}  ({} journal file(s) now)",
                    shown::path(&dir),
                    files.len()
                ));
                for name in &files {
                    if !may(Path::new(name), rustix::fs::Access::READ_OK) {
                        f.warn(format!(
                            "[[source]] {} journal file {}: not readable by {}: the daemon's user needs group systemd-journal (the shipped unit has SupplementaryGroups=adm systemd-journal)",
                            shown::text(id),
                            shown::text(name),
                            who()
                        ));
                    }
                }
                found.extend(files);
            }
            Err(e) => f.warn(format!(
                "[[source]] {} journal {}: cannot be listed: {e}",
                shown::text(id),
                shown::path(&dir)
            )),
        }
    }
    if found.is_empty() {
        f.warn(format!(
            "[[source]] {} finds no journal file now: nothing is captured for it until one appears",
            shown::text(id)
        ));
    }
    js.insert("journal".into(), json!(found));
}

fn check_sources(c: &Config, f: &mut Findings, out: &mut serde_json::Map<String, Value>) {
    // A file matched by several patterns or sources is captured once, by the first.
    let mut claimed: HashMap<(u64, u64), String> = HashMap::new();
    let mut sources = Vec::new();
    for s in &c.sources {
        f.line(format!("[[source]] {}", shown::text(&s.id)));
        let mut js = serde_json::Map::new();
        js.insert("id".into(), json!(s.id));
        if let Some(l) = &s.listen {
            let stream = if l.transport == logkeep_syslog::Transport::Udp {
                String::new()
            } else {
                format!(
                    ", max_connections {}, idle_timeout {}, framing {:?}",
                    l.max_connections,
                    l.idle_timeout
                        .map_or("never".into(), |d| humantime::format_duration(d)
                            .to_string()),
                    l.framing
                )
            };
            let tls = l.tls.as_ref().map_or(String::new(), |t| {
                format!(
                    ", tls_cert {}{}",
                    shown::path(&t.cert),
                    if t.client_ca.is_some() {
                        ", client certificates required"
                    } else {
                        ""
                    }
                )
            });
            f.line(format!(
                "  listen {} on {} (max_message_bytes {}{stream}{tls})",
                shown::text(&l.url),
                l.addr,
                bytesize::ByteSize(l.max_message_bytes as u64)
            ));
            if let Some(t) = &l.tls {
                for (what, p) in [("tls_cert", &t.cert), ("tls_key", &t.key)] {
                    if !may(p, rustix::fs::Access::READ_OK) {
                        f.problem(format!(
                            "[[source]] {} {what} {}: not readable by {}",
                            shown::text(&s.id),
                            shown::path(p),
                            who()
                        ));
                    }
                }
            }
            // Cheap to try: bind the address and let it go at once.
            let bound = if l.transport == logkeep_syslog::Transport::Udp {
                std::net::UdpSocket::bind(l.addr).map(drop)
            } else {
                std::net::TcpListener::bind(l.addr).map(drop)
            };
            match &bound {
                Ok(()) => f.line(format!("  {} can be bound now", l.addr)),
                Err(e) => f.warn(format!(
                    "[[source]] {} listen {}: cannot be bound now: {e} (in use by a running daemon? a port below 1024 needs root or CAP_NET_BIND_SERVICE, which the unit grants)",
                    shown::text(&s.id),
                    shown::text(&l.url)
                )),
            }
            js.insert("listen".into(), json!(l.url));
            js.insert("bindable".into(), json!(bound.is_ok()));
            f.line("  its write-ahead log, captured as files:".into());
        }
        if let Some(j) = &s.journal {
            check_journal(&s.id, j, f, &mut js);
        }
        if s.rewritten {
            f.line(
                "  rewritten in place: each distinct content is captured whole, as a version"
                    .into(),
            );
            js.insert("rewritten".into(), json!(true));
        }
        let mut patterns = Vec::new();
        for p in &s.paths {
            let (files, notes) = matched(p, &s.id, &mut claimed);
            f.line(format!(
                "  {}  ({} file(s) now)",
                shown::text(p),
                files.len()
            ));
            for (name, _, _) in &files {
                f.line(format!("    {name}"));
            }
            let rotated = rotated_siblings(&files, &mut claimed, &s.id);
            if !rotated.is_empty() {
                f.line(format!(
                    "    and {} rotated cop{} beside them, captured when they hold bytes the store has not (all of them on a new store):",
                    rotated.len(),
                    if rotated.len() == 1 { "y" } else { "ies" }
                ));
                for r in &rotated {
                    f.line(format!("    {r}"));
                }
            }
            for n in &notes {
                f.line(format!("    {n}"));
            }
            for (name, why) in files
                .iter()
                .filter_map(|(n, w, _)| w.as_ref().map(|w| (n, w)))
            {
                f.warn(format!(
                    "[[source]] {} file {name}: {why}: it will be an alert, not captured",
                    shown::text(&s.id)
                ));
            }
            // A listener's write-ahead log appears when the first message arrives.
            if files.is_empty() && s.listen.is_none() {
                f.warn(format!(
                    "[[source]] {} pattern {} matches no file now: nothing is captured for it until one appears",
                    shown::text(&s.id),
                    shown::text(p)
                ));
            }
            patterns.push(json!({
                "pattern": p,
                "files": files.iter().map(|(n, _, _)| n).collect::<Vec<_>>(),
                "rotated": rotated,
                "unreadable": files.iter().filter(|(_, w, _)| w.is_some()).map(|(n, _, _)| n).collect::<Vec<_>>(),
                "notes": notes,
            }));
        }
        js.insert("patterns".into(), Value::Array(patterns));
        sources.push(Value::Object(js));
    }
    if c.sources.is_empty() {
        f.warn("no [[source]]: the daemon captures nothing".into());
    }
    out.insert("sources".into(), Value::Array(sources));
}

/// The files pattern `p` of source `id` makes the daemon capture now, as the capture layer
/// expands it: each escaped name with why it cannot be read, if it cannot; and notes on
/// what it leaves out.
#[allow(clippy::type_complexity)]
fn matched(
    p: &str,
    id: &str,
    claimed: &mut HashMap<(u64, u64), String>,
) -> (Vec<(String, Option<String>, PathBuf)>, Vec<String>) {
    let mut files = Vec::new();
    let mut notes = Vec::new();
    let found = match names::expand(p) {
        Ok(x) => x,
        Err(e) => {
            notes.push(format!("(not a valid pattern: {e})"));
            return (files, notes);
        }
    };
    for (dir, e) in &found.errors {
        notes.push(format!(
            "(directory {} cannot be listed: {e})",
            shown::path(dir)
        ));
    }
    for path in found.paths {
        let name = shown::path(&path);
        // A pattern never captures a .gz itself; as a rotated copy of a file it does capture,
        // it is listed with the rotated copies.
        if logkeep_capture::copies::is_gz(&path) {
            continue;
        }
        let plain = path.is_absolute()
            && path.components().all(|c| {
                matches!(
                    c,
                    std::path::Component::RootDir | std::path::Component::Normal(_)
                )
            });
        if !plain {
            notes.push(format!("(not captured: {name} is not absolute and plain)"));
            continue;
        }
        let Ok(meta) = std::fs::metadata(&path) else {
            continue;
        };
        if !meta.is_file() {
            continue;
        }
        let key = (meta.dev(), meta.ino());
        if let Some(other) = claimed.get(&key) {
            notes.push(format!(
                "(captured once: {name} is already captured for source {})",
                shown::text(other)
            ));
            continue;
        }
        claimed.insert(key, id.to_owned());
        let why = std::fs::File::open(&path)
            .err()
            .map(|e| format!("cannot be opened by {}: {e}", who()));
        files.push((name, why, path));
    }
    (files, notes)
}

/// The rotated copies beside the files a pattern found (`app.log.1`, `app.log.2.gz`,
/// `app.log-20261126`, as the capture layer names rotations), that no pattern found
/// themselves: the daemon captures those holding bytes the store has not, which on a new
/// store is all of them.
fn rotated_siblings(
    files: &[(String, Option<String>, PathBuf)],
    claimed: &mut HashMap<(u64, u64), String>,
    id: &str,
) -> Vec<String> {
    let mut out = Vec::new();
    for (_, _, path) in files {
        let (Some(dir), Some(base)) = (path.parent(), path.file_name()) else {
            continue;
        };
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        let mut found: Vec<PathBuf> = entries
            .filter_map(|e| e.ok())
            .filter(|e| names::is_rotation_of(&e.file_name(), base))
            .map(|e| e.path())
            .collect();
        found.sort();
        for p in found {
            let Ok(m) = std::fs::symlink_metadata(&p) else {
                continue;
            };
            if !m.is_file() || claimed.contains_key(&(m.dev(), m.ino())) {
                continue;
            }
            claimed.insert((m.dev(), m.ino()), id.to_owned());
            out.push(shown::path(&p));
        }
    }
    out
}

/// Every remote: its credentials (the file's mode, its contents) and that the bucket answers
/// with Object Lock enabled. The secret is never printed.
fn check_remotes(c: &Config, f: &mut Findings, out: &mut serde_json::Map<String, Value>) {
    let mut remotes = Vec::new();
    for r in &c.remotes {
        f.line(format!(
            "[[remote]] {}  {}/{}/{}  mode {}  retention {}",
            shown::text(&r.id),
            shown::text(&r.endpoint),
            shown::text(&r.bucket),
            shown::text(&r.prefix),
            r.mode.as_str(),
            humantime::format_duration(r.retention)
        ));
        let state = match r.client() {
            Err(e) => {
                f.problem(format!("[[remote]] {}: {e}", shown::text(&r.id)));
                format!("credentials: {e}")
            }
            Ok(client) => match client.object_lock_enabled() {
                Ok(true) => {
                    f.line("  reachable; the bucket has Object Lock enabled".into());
                    "ok".into()
                }
                Ok(false) => {
                    f.problem(format!(
                        "[[remote]] {}: bucket {} does not have Object Lock enabled: copies there could be deleted; create a bucket with Object Lock",
                        shown::text(&r.id),
                        shown::text(&r.bucket)
                    ));
                    "no object lock".into()
                }
                Err(e @ logkeep_remote::Error::Unreachable { .. }) => {
                    f.warn(format!(
                        "[[remote]] {}: {e}; the daemon copies there once it answers",
                        shown::text(&r.id)
                    ));
                    "unreachable".into()
                }
                Err(e) => {
                    f.problem(format!("[[remote]] {}: {e}", shown::text(&r.id)));
                    e.to_string()
                }
            },
        };
        remotes.push(json!({"id": r.id, "endpoint": r.endpoint, "bucket": r.bucket, "prefix": r.prefix, "state": state}));
    }
    out.insert("remotes".into(), json!(remotes));
}

fn check_media(c: &Config, f: &mut Findings, out: &mut serde_json::Map<String, Value>) {
    let mut media = Vec::new();
    if c.media.is_empty() {
        f.line("[[media]] none: the store is the only copy".into());
    }
    for m in &c.media {
        f.line(format!(
            "[[media]] {}  path {}",
            shown::text(&m.id),
            shown::path(&m.path)
        ));
        let state: String = match std::fs::metadata(&m.path) {
            Err(_) => {
                f.line("  absent now: copied to when it appears".into());
                "absent".into()
            }
            Ok(md) if !md.is_dir() => {
                f.problem(format!(
                    "[[media]] {} path {}: not a directory",
                    shown::text(&m.id),
                    shown::path(&m.path)
                ));
                "not a directory".into()
            }
            Ok(_) => match logkeep_media::read_info(&m.path) {
                Ok(info) if info.id == m.id => {
                    if may(
                        &m.path,
                        rustix::fs::Access::WRITE_OK | rustix::fs::Access::EXEC_OK,
                    ) {
                        f.line(format!(
                            "  present: medium {}, writable",
                            shown::text(&info.id)
                        ));
                        "present".into()
                    } else {
                        f.problem(format!(
                            "[[media]] {} path {}: present but not writable by {}",
                            shown::text(&m.id),
                            shown::path(&m.path),
                            who()
                        ));
                        "not writable".into()
                    }
                }
                Ok(info) => {
                    f.problem(format!(
                        "[[media]] {} path {}: holds medium {}, not {}",
                        shown::text(&m.id),
                        shown::path(&m.path),
                        shown::text(&info.id),
                        shown::text(&m.id)
                    ));
                    "another medium".into()
                }
                Err(_) => {
                    f.warn(format!(
                        "[[media]] {} path {}: present but not a medium: run `logkeep media init {} --id {}` (nothing is copied there until then)",
                        shown::text(&m.id),
                        shown::path(&m.path),
                        shown::path(&m.path),
                        shown::text(&m.id)
                    ));
                    "uninitialised".into()
                }
            },
        };
        media.push(json!({"id": m.id, "path": shown::path(&m.path), "state": state}));
    }
    out.insert("media".into(), Value::Array(media));
}
