//! The control socket: a local Unix socket through which `logkeep status`, `logkeep snapshot`
//! and `logkeep export` talk to the running daemon. The protocol is in `docs/CONTROL.md`.
//!
//! Shape (after mini-redis): a [`Server`] owns a listener thread and one handler thread per
//! connection, with a fixed number of slots. The listener takes a slot *before* it accepts, so
//! when every slot is busy further clients wait in the kernel's backlog instead of being
//! refused; every connection must deliver its request within [`REQUEST_TIMEOUT`], so a slow or
//! silent client holds its slot for a bounded time. Handlers never touch the store: they check
//! the peer, parse the request and hand it to the engine thread as a [`Call`] with a reply
//! channel. Nothing a client sends can reach capture except as a well-formed call.
//!
//! Access: the socket file is mode 0660 (group: the configured group), and every connection is
//! checked again with the peer's kernel credentials (SO_PEERCRED): root, the daemon's own
//! user, and members of the configured group (primary or supplementary) are admitted.

use logkeep_format::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Protocol version, in every response.
pub const PROTOCOL_VERSION: u32 = 1;
/// Largest request line, newline included. Requests are tiny; anything bigger is refused.
pub const MAX_REQUEST: usize = 64 * 1024;
/// Largest `reason` of a snapshot, in bytes.
pub const MAX_REASON: usize = 1024;
/// The whole request must arrive within this time after the connection is accepted.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// A client must take the response within this time.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a handler waits for the engine (a snapshot with a large backlog seals it all).
const ENGINE_TIMEOUT: Duration = Duration::from_secs(300);
/// Connections served at once.
pub const MAX_CLIENTS: usize = 16;
/// How often blocked threads look at the stop flag.
const TICK: Duration = Duration::from_millis(200);

/// The peer of a connection, as the kernel reports it (SO_PEERCRED, at `connect` time).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Peer {
    /// Effective uid.
    pub uid: u32,
    /// Effective gid.
    pub gid: u32,
    /// Process id.
    pub pid: u32,
}

/// What a client asks for, once parsed and admitted.
#[derive(Debug)]
pub enum Command {
    /// Sources, positions, chain head, alerts, media, version, uptime.
    Status,
    /// Capture everything now, seal, record a snapshot with the host context.
    Snapshot {
        /// The requester's reason.
        reason: Option<String>,
        /// When the request arrived, RFC 3339 UTC.
        requested: String,
        /// Host context files gathered by the handler (name, bytes): the handler thread reads
        /// `/proc` so that the engine thread never waits on it.
        context: Vec<(String, Vec<u8>)>,
    },
    /// Capture everything now and seal; reply with the store path and head (for `export`).
    Seal,
    /// Seal, finish copying to a medium, flush it, record the detach; reply with its head.
    Eject {
        /// Medium id.
        medium: String,
    },
    /// Sign a bundle's SHA256SUMS (given by its SHA-256) with the current epoch key, which
    /// must be epoch `epoch`, then end that epoch (its secret is destroyed).
    SignBundle {
        /// SHA-256 of the bundle's SHA256SUMS.
        sha256: logkeep_format::Sha256,
        /// The epoch the bundle names (the one current at its head).
        epoch: u64,
    },
    /// Record an incident drill's verdict in the chain (`logkeep drill`).
    Drill {
        /// What the drill found, already checked with [`crate::status::DrillReport::check`].
        report: crate::status::DrillReport,
    },
}

/// The answer to `sign_bundle`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignReply {
    /// Ed25519 signature (base64) of the bundle text (`logkeep_format::seal::bundle_text`).
    pub sig: String,
    /// The public key that signed (base64): epoch `epoch`'s.
    pub key: String,
    /// The epoch that signed, now ended.
    pub epoch: u64,
    /// The epoch current from now on.
    pub next_epoch: u64,
}

/// A request for the engine thread, with the channel its answer goes back on.
#[derive(Debug)]
pub struct Call {
    /// Who asked.
    pub peer: Peer,
    /// What they asked.
    pub command: Command,
    /// The engine's answer: a JSON result, or an error message.
    pub reply: mpsc::Sender<Result<serde_json::Value, String>>,
}

/// A request line as sent. Strict: unknown members are errors.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRequest {
    /// Protocol version; absent means 1.
    #[serde(default)]
    v: Option<u32>,
    /// `status`, `snapshot` or `seal`.
    op: String,
    /// For `snapshot`: why.
    #[serde(default)]
    reason: Option<String>,
    /// For `eject`: the medium's id.
    #[serde(default)]
    medium: Option<String>,
    /// For `sign_bundle`: SHA-256 of SHA256SUMS, 64 lowercase hex digits.
    #[serde(default)]
    sha256: Option<String>,
    /// For `sign_bundle`: the epoch expected to sign.
    #[serde(default)]
    epoch: Option<u64>,
    /// For `drill`: the drill's verdict and findings.
    #[serde(default)]
    drill: Option<crate::status::DrillReport>,
}

/// An error response's machine-readable code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Not JSON, not the schema, unknown op.
    BadRequest,
    /// The request line is longer than [`MAX_REQUEST`].
    TooLarge,
    /// The request did not arrive within [`REQUEST_TIMEOUT`].
    Timeout,
    /// The peer is not root, the daemon's user or a member of the configured group.
    Forbidden,
    /// The daemon is stopping.
    Unavailable,
    /// The engine could not do it (e.g. the store cannot be written).
    Failed,
}

/// A response line.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Response {
    /// Protocol version.
    pub v: u32,
    /// Whether the request was carried out.
    pub ok: bool,
    /// The result, when `ok`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<serde_json::Value>,
    /// The error's code, when not `ok`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<ErrorCode>,
    /// The error, in one line, when not `ok`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Response {
    fn ok(result: serde_json::Value) -> Response {
        Response {
            v: PROTOCOL_VERSION,
            ok: true,
            result: Some(result),
            code: None,
            error: None,
        }
    }

    fn err(code: ErrorCode, error: impl Into<String>) -> Response {
        Response {
            v: PROTOCOL_VERSION,
            ok: false,
            result: None,
            code: Some(code),
            error: Some(error.into()),
        }
    }
}

/// Who may use the socket besides root.
#[derive(Debug, Clone)]
pub struct Access {
    /// The daemon's own effective uid (always admitted: it can read the store anyway).
    pub own_uid: u32,
    /// The admitted group's gid.
    pub gid: u32,
    /// Its name, for messages.
    pub group: String,
}

impl Access {
    /// The configured group, else the daemon's own effective group.
    pub fn new(configured: Option<(String, u32)>) -> Access {
        let own_uid = rustix::process::geteuid().as_raw();
        let (group, gid) = configured.unwrap_or_else(|| {
            let gid = rustix::process::getegid().as_raw();
            let name = nix::unistd::Group::from_gid(nix::unistd::Gid::from_raw(gid))
                .ok()
                .flatten()
                .map_or_else(|| gid.to_string(), |g| g.name);
            (name, gid)
        });
        Access {
            own_uid,
            gid,
            group,
        }
    }

    /// Admit or refuse `peer`, saying why in the refusal.
    pub fn check(&self, peer: &Peer) -> Result<(), String> {
        if peer.uid == 0 || peer.uid == self.own_uid || peer.gid == self.gid {
            return Ok(());
        }
        // Supplementary groups are not in SO_PEERCRED; the kernel shows them in
        // /proc/PID/status. The pid could have been reused since `connect`, so the entry must
        // still show the peer's uid and gid.
        if let Some((uid, gid, groups)) = proc_groups(peer.pid) {
            if uid != peer.uid || gid != peer.gid {
                return Err(format!(
                    "uid {} pid {}: the process changed identity since it connected; refused",
                    peer.uid, peer.pid
                ));
            }
            if groups.contains(&self.gid) {
                return Ok(());
            }
        }
        Err(format!(
            "uid {} (gid {}) is not allowed: the control socket admits root and members of group {} (gid {}) only",
            peer.uid, peer.gid, self.group, self.gid
        ))
    }
}

/// Effective uid, effective gid and supplementary groups of `pid`, from `/proc/PID/status`.
fn proc_groups(pid: u32) -> Option<(u32, u32, Vec<u32>)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        text.lines().find_map(|l| l.strip_prefix(name)).map(|rest| {
            rest.split_whitespace()
                .filter_map(|n| n.parse::<u32>().ok())
                .collect::<Vec<u32>>()
        })
    };
    let uid = *field("Uid:")?.get(1)?;
    let gid = *field("Gid:")?.get(1)?;
    Some((uid, gid, field("Groups:").unwrap_or_default()))
}

/// Counts free connection slots; the listener waits for one before it accepts.
struct Slots {
    free: Mutex<usize>,
    freed: Condvar,
}

impl Slots {
    /// Take a slot, waiting at most `wait`.
    fn acquire(self: &Arc<Self>, wait: Duration) -> Option<Permit> {
        let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
        if *free == 0 {
            free = self
                .freed
                .wait_timeout(free, wait)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        if *free == 0 {
            return None;
        }
        *free -= 1;
        Some(Permit(self.clone()))
    }
}

/// A taken slot; dropping it frees the slot.
struct Permit(Arc<Slots>);

impl Drop for Permit {
    fn drop(&mut self) {
        *self.0.free.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        self.0.freed.notify_one();
    }
}

/// State shared by the listener and the handlers.
struct Shared {
    stop: AtomicBool,
    access: Access,
    submit: Box<dyn Fn(Call) -> bool + Send + Sync>,
    /// Open connections, so that shutdown can unblock their reads and writes at once.
    open: Mutex<HashMap<u64, UnixStream>>,
    handlers: Mutex<Vec<JoinHandle<()>>>,
    next_id: AtomicU64,
    slots: Arc<Slots>,
}

/// The running control socket.
pub struct Server {
    shared: Arc<Shared>,
    listener: Option<JoinHandle<()>>,
    path: PathBuf,
    /// (dev, ino) of the socket file we made, to remove only our own at shutdown.
    ident: (u64, u64),
}

/// Create the socket at `path` (mode 0660, group `access.gid`). An existing socket nobody
/// answers on is left over from a crash and replaced; a live one, or any other kind of file,
/// is left alone and is an error.
fn bind(path: &Path, access: &Access) -> io::Result<UnixListener> {
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if !meta.file_type().is_socket() {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "exists and is not a socket; not touching it",
            ));
        }
        match UnixStream::connect(path) {
            Ok(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    "another process (a second daemon?) serves this socket",
                ));
            }
            Err(_) => std::fs::remove_file(path)?,
        }
    }
    let listener = UnixListener::bind(path)?;
    // Until the chmod below the socket has the umask's mode; connecting needs write
    // permission, which the usual umasks (022, 027) give the owner alone.
    if access.gid != rustix::process::getegid().as_raw()
        && let Err(e) = std::os::unix::fs::chown(path, None, Some(access.gid))
    {
        // Not fatal: root and the daemon's own group still get in. Under the shipped unit
        // the syscall filter forbids chown; a drop-in with `SystemCallFilter=@chown` allows it.
        tracing::warn!(
            socket = %path.display(),
            "cannot give the control socket to group {} (gid {}): {e}; its members cannot connect",
            access.group,
            access.gid
        );
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))?;
    listener.set_nonblocking(true)?;
    Ok(listener)
}

impl Server {
    /// Bind `path` and serve it; `submit` hands a call to the engine (false: the engine is gone).
    pub fn start(
        path: &Path,
        access: Access,
        submit: impl Fn(Call) -> bool + Send + Sync + 'static,
    ) -> io::Result<Server> {
        let listener = bind(path, &access)?;
        let meta = std::fs::symlink_metadata(path)?;
        let shared = Arc::new(Shared {
            stop: AtomicBool::new(false),
            access,
            submit: Box::new(submit),
            open: Mutex::new(HashMap::new()),
            handlers: Mutex::new(Vec::new()),
            next_id: AtomicU64::new(0),
            slots: Arc::new(Slots {
                free: Mutex::new(MAX_CLIENTS),
                freed: Condvar::new(),
            }),
        });
        let s = shared.clone();
        let thread = std::thread::Builder::new()
            .name("control".into())
            .spawn(move || listen(&listener, &s))?;
        Ok(Server {
            shared,
            listener: Some(thread),
            path: path.to_owned(),
            ident: (meta.dev(), meta.ino()),
        })
    }

    /// Stop accepting, cut open connections, wait for every thread, remove the socket.
    pub fn shutdown(mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.listener.take() {
            let _ = t.join();
        }
        for s in lock(&self.shared.open).values() {
            let _ = s.shutdown(std::net::Shutdown::Both);
        }
        let handlers = std::mem::take(&mut *lock(&self.shared.handlers));
        // Handlers wake within a tick of the stop flag; one stuck in a read of /proc (a
        // process in uninterruptible sleep) must not keep the daemon from sealing and exiting.
        let deadline = Instant::now() + Duration::from_secs(10);
        for h in handlers {
            while !h.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            if h.is_finished() {
                let _ = h.join();
            } else {
                tracing::warn!("a control connection did not finish in time; leaving it");
            }
        }
        if let Ok(meta) = std::fs::symlink_metadata(&self.path)
            && (meta.dev(), meta.ino()) == self.ident
        {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn listen(listener: &UnixListener, shared: &Arc<Shared>) {
    use rustix::event::{PollFd, PollFlags, Timespec};
    let tick = Timespec {
        tv_sec: 0,
        tv_nsec: TICK.as_nanos() as _,
    };
    while !shared.stop.load(Ordering::SeqCst) {
        // A slot first: with all of them busy, new clients wait in the backlog.
        let Some(permit) = shared.slots.acquire(TICK) else {
            continue;
        };
        let stream = loop {
            if shared.stop.load(Ordering::SeqCst) {
                return;
            }
            let mut fds = [PollFd::new(listener, PollFlags::IN)];
            if let Err(e) = rustix::event::poll(&mut fds, Some(&tick))
                && e != rustix::io::Errno::INTR
            {
                tracing::warn!("control socket: poll failed: {e}");
                std::thread::sleep(TICK);
                continue;
            }
            match listener.accept() {
                Ok((s, _)) => break s,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    // EMFILE and friends: back off rather than spin.
                    tracing::warn!("control socket: accept failed: {e}");
                    std::thread::sleep(TICK);
                }
            }
        };
        let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
        if let Ok(c) = stream.try_clone() {
            lock(&shared.open).insert(id, c);
        }
        let s = shared.clone();
        let spawned = std::thread::Builder::new()
            .name("control-conn".into())
            .spawn(move || {
                let _permit = permit;
                let span = tracing::debug_span!("control", conn = id);
                let _e = span.enter();
                serve(stream, &s);
                lock(&s.open).remove(&id);
            });
        let mut handlers = lock(&shared.handlers);
        handlers.retain(|h| !h.is_finished());
        match spawned {
            Ok(h) => handlers.push(h),
            Err(e) => {
                lock(&shared.open).remove(&id);
                tracing::warn!("control socket: cannot start a connection thread: {e}");
            }
        }
    }
}

/// Why reading a request stopped short.
enum ReadError {
    TooLarge,
    Timeout,
    Io(io::Error),
}

/// Read one request line (or everything up to EOF), at most [`MAX_REQUEST`] bytes, all of it
/// within `deadline`.
fn read_request(
    stream: &mut UnixStream,
    deadline: Instant,
    stop: &AtomicBool,
) -> Result<Vec<u8>, ReadError> {
    let mut buf = Vec::with_capacity(256);
    let mut chunk = [0u8; 4096];
    loop {
        if stop.load(Ordering::SeqCst) {
            return Err(ReadError::Io(io::ErrorKind::Interrupted.into()));
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(ReadError::Timeout);
        }
        stream
            .set_read_timeout(Some(left.min(TICK)))
            .map_err(ReadError::Io)?;
        match stream.read(&mut chunk) {
            Ok(0) => return Ok(buf),
            Ok(n) => {
                let part = &chunk[..n];
                if let Some(i) = part.iter().position(|&b| b == b'\n') {
                    buf.extend_from_slice(&part[..i]);
                    if buf.len() >= MAX_REQUEST {
                        return Err(ReadError::TooLarge);
                    }
                    return Ok(buf);
                }
                buf.extend_from_slice(part);
                if buf.len() >= MAX_REQUEST {
                    return Err(ReadError::TooLarge);
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) => {}
            Err(e) => return Err(ReadError::Io(e)),
        }
    }
}

/// After an error reply, read and drop what the client still sends (until EOF or the
/// deadline), so that closing does not reset the connection before it reads the reply.
fn drain(stream: &mut UnixStream, deadline: Instant) {
    let mut chunk = [0u8; 16384];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            return;
        }
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

fn send(stream: &mut UnixStream, response: &Response) {
    let mut line = serde_json::to_vec(response).unwrap_or_default();
    line.push(b'\n');
    let _ = stream.set_write_timeout(Some(WRITE_TIMEOUT));
    if let Err(e) = stream.write_all(&line).and_then(|()| stream.flush()) {
        tracing::debug!("control: client went away before the response: {e}");
    }
}

/// Reply with an error, then let the client read it.
fn refuse(stream: &mut UnixStream, code: ErrorCode, msg: String, deadline: Instant) {
    send(stream, &Response::err(code, msg));
    let _ = stream.shutdown(std::net::Shutdown::Write);
    drain(stream, deadline);
}

/// Parse and check a request line. `pub(crate)` for the fuzz targets (`docs/FUZZING.md`).
pub(crate) fn parse(line: &[u8]) -> Result<RawRequest, String> {
    let req: RawRequest = serde_json::from_slice(line).map_err(|e| {
        format!(
            "not a request: {e} (send one JSON object such as {{\"op\":\"status\"}} and a newline)"
        )
    })?;
    if let Some(v) = req.v
        && v != PROTOCOL_VERSION
    {
        return Err(format!(
            "protocol version {v} is not supported (this daemon speaks {PROTOCOL_VERSION})"
        ));
    }
    if req.op != "snapshot" && req.reason.is_some() {
        return Err(format!(
            "`reason` applies to `snapshot`, not to {:?}",
            req.op
        ));
    }
    if let Some(r) = &req.reason
        && r.len() > MAX_REASON
    {
        return Err(format!("`reason` is longer than {MAX_REASON} bytes"));
    }
    Ok(req)
}

fn serve(mut stream: UnixStream, shared: &Shared) {
    let deadline = Instant::now() + REQUEST_TIMEOUT;
    let _ = stream.set_nonblocking(false);
    let peer = match rustix::net::sockopt::socket_peercred(&stream) {
        Ok(c) => Peer {
            uid: c.uid.as_raw(),
            gid: c.gid.as_raw(),
            pid: c.pid.as_raw_nonzero().get() as u32,
        },
        Err(e) => {
            refuse(
                &mut stream,
                ErrorCode::Forbidden,
                format!("cannot learn who is connecting (SO_PEERCRED): {e}"),
                deadline,
            );
            return;
        }
    };
    if let Err(why) = shared.access.check(&peer) {
        tracing::warn!(
            uid = peer.uid,
            gid = peer.gid,
            pid = peer.pid,
            "control socket: refused a peer"
        );
        refuse(&mut stream, ErrorCode::Forbidden, why, deadline);
        return;
    }
    let line = match read_request(&mut stream, deadline, &shared.stop) {
        Ok(l) => l,
        Err(ReadError::TooLarge) => {
            tracing::debug!(uid = peer.uid, "control: request too large");
            refuse(
                &mut stream,
                ErrorCode::TooLarge,
                format!("request longer than {MAX_REQUEST} bytes"),
                deadline,
            );
            return;
        }
        Err(ReadError::Timeout) => {
            tracing::debug!(uid = peer.uid, "control: request timed out");
            refuse(
                &mut stream,
                ErrorCode::Timeout,
                format!(
                    "no complete request within {} seconds",
                    REQUEST_TIMEOUT.as_secs()
                ),
                Instant::now(),
            );
            return;
        }
        Err(ReadError::Io(e)) => {
            tracing::debug!("control: read failed: {e}");
            return;
        }
    };
    let req = match parse(&line) {
        Ok(r) => r,
        Err(msg) => {
            refuse(&mut stream, ErrorCode::BadRequest, msg, deadline);
            return;
        }
    };
    let command = match req.op.as_str() {
        "status" => Command::Status,
        "seal" => Command::Seal,
        "eject" => match req.medium {
            Some(medium) => Command::Eject { medium },
            None => {
                refuse(
                    &mut stream,
                    ErrorCode::BadRequest,
                    "`eject` needs `medium`".to_string(),
                    deadline,
                );
                return;
            }
        },
        "sign_bundle" => match (
            req.sha256
                .as_deref()
                .and_then(logkeep_format::Sha256::parse),
            req.epoch,
        ) {
            (Some(sha256), Some(epoch)) => Command::SignBundle { sha256, epoch },
            _ => {
                refuse(
                    &mut stream,
                    ErrorCode::BadRequest,
                    "`sign_bundle` needs `sha256` (64 lowercase hex digits) and `epoch`"
                        .to_string(),
                    deadline,
                );
                return;
            }
        },
        "drill" => match req.drill.map(|d| d.check().map(|()| d)) {
            Some(Ok(report)) => Command::Drill { report },
            Some(Err(why)) => {
                refuse(
                    &mut stream,
                    ErrorCode::BadRequest,
                    format!("`drill`: {why}"),
                    deadline,
                );
                return;
            }
            None => {
                refuse(
                    &mut stream,
                    ErrorCode::BadRequest,
                    "`drill` needs `drill` (the verdict and failures)".to_string(),
                    deadline,
                );
                return;
            }
        },
        "snapshot" => {
            let requested = Timestamp::now().to_rfc3339();
            tracing::warn!(
                uid = peer.uid,
                pid = peer.pid,
                reason = req.reason.as_deref().unwrap_or(""),
                "emergency snapshot requested"
            );
            Command::Snapshot {
                reason: req.reason,
                requested,
                context: crate::snapshot::gather(),
            }
        }
        other => {
            refuse(
                &mut stream,
                ErrorCode::BadRequest,
                format!(
                    "unknown op {other:?} (known: status, snapshot, seal, eject, sign_bundle, drill)"
                ),
                deadline,
            );
            return;
        }
    };
    let (tx, rx) = mpsc::channel();
    let call = Call {
        peer,
        command,
        reply: tx,
    };
    if !(shared.submit)(call) {
        send(
            &mut stream,
            &Response::err(ErrorCode::Unavailable, "the daemon is stopping"),
        );
        return;
    }
    let started = Instant::now();
    let answer = loop {
        match rx.recv_timeout(TICK) {
            Ok(a) => break Some(a),
            Err(mpsc::RecvTimeoutError::Disconnected) => break None,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if shared.stop.load(Ordering::SeqCst) || started.elapsed() > ENGINE_TIMEOUT {
                    break None;
                }
            }
        }
    };
    let response = match answer {
        Some(Ok(v)) => Response::ok(v),
        Some(Err(e)) => Response::err(ErrorCode::Failed, e),
        None => Response::err(
            ErrorCode::Unavailable,
            "the daemon stopped or did not answer in time",
        ),
    };
    send(&mut stream, &response);
}

/// Client side: send `request` to the daemon at `socket` and return its result, or an error
/// that says what to do.
pub fn call(
    socket: &Path,
    request: &serde_json::Value,
    timeout: Duration,
) -> anyhow::Result<serde_json::Value> {
    use anyhow::Context;
    let mut stream = UnixStream::connect(socket).map_err(|e| connect_error(socket, e))?;
    stream.set_write_timeout(Some(REQUEST_TIMEOUT))?;
    stream.set_read_timeout(Some(timeout))?;
    let mut line = serde_json::to_vec(request)?;
    line.push(b'\n');
    stream
        .write_all(&line)
        .with_context(|| format!("{}: cannot send the request", socket.display()))?;
    let mut buf = Vec::new();
    // Responses are bounded too: status of a host with very many files is a few MiB.
    (&stream)
        .take(256 << 20)
        .read_to_end(&mut buf)
        .with_context(|| format!("{}: no answer from the daemon", socket.display()))?;
    let text = buf.strip_suffix(b"\n").unwrap_or(&buf);
    let resp: Response = serde_json::from_slice(text).with_context(|| {
        format!(
            "{}: the daemon's answer is not a valid response",
            socket.display()
        )
    })?;
    if resp.ok {
        resp.result.context("the daemon's answer has no result")
    } else {
        anyhow::bail!(
            "the daemon refused: {}",
            logkeep_format::segment::esc(resp.error.as_deref().unwrap_or("(no message)"))
        )
    }
}

fn connect_error(socket: &Path, e: io::Error) -> anyhow::Error {
    let p = socket.display();
    match e.kind() {
        io::ErrorKind::NotFound => anyhow::anyhow!(
            "{p}: no control socket: is the daemon running? (systemctl status logkeep; or pass --socket/--config)"
        ),
        io::ErrorKind::ConnectionRefused => {
            anyhow::anyhow!("{p}: nothing answers (the daemon is not running)")
        }
        io::ErrorKind::PermissionDenied => {
            let group = std::fs::metadata(socket)
                .ok()
                .map(|m| m.gid())
                .map(|gid| {
                    nix::unistd::Group::from_gid(nix::unistd::Gid::from_raw(gid))
                        .ok()
                        .flatten()
                        .map_or_else(|| format!("gid {gid}"), |g| format!("group {}", g.name))
                })
                .unwrap_or_else(|| "its group".into());
            anyhow::anyhow!(
                "{p}: permission denied: the control socket admits root and members of {group} only"
            )
        }
        _ => anyhow::anyhow!("{p}: cannot connect: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_strict() {
        assert!(parse(br#"{"op":"status"}"#).is_ok());
        assert!(parse(br#"{"v":1,"op":"snapshot","reason":"EDR alert"}"#).is_ok());
        assert!(parse(br#"{"v":2,"op":"status"}"#).is_err());
        assert!(parse(br#"{"op":"status","x":1}"#).is_err());
        assert!(parse(br#"{"op":"status","reason":"x"}"#).is_err());
        assert!(parse(b"\xff\xfe").is_err());
        let long = format!(
            r#"{{"op":"snapshot","reason":"{}"}}"#,
            "a".repeat(MAX_REASON + 1)
        );
        assert!(parse(long.as_bytes()).is_err());
    }

    #[test]
    fn own_process_groups_are_readable() {
        let (uid, gid, _) = proc_groups(std::process::id()).expect("own status");
        assert_eq!(uid, rustix::process::geteuid().as_raw());
        assert_eq!(gid, rustix::process::getegid().as_raw());
    }
}
