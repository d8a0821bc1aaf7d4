//! logkeep's syslog receiver: UDP, TCP and TLS listeners that keep exactly what arrived.
//!
//! A listener never talks to the store. It writes every message, raw, into a **write-ahead log
//! of plain files** inside the store directory (`STORE/wal/SOURCE/*.wal`, see [`wal`] and
//! `docs/SYSLOG.md`), and the daemon captures those files with the ordinary file capture. So
//! byte-exactness, exactly-once capture, crash recovery, sealing, verification and extraction
//! are the file capture's, already tested; this crate only has to get every message durably
//! into a file, once, and to delete files only when capture is done with them.
//!
//! A message counts as received when the fsync of its record has returned. Sending syslog over
//! plain TCP or UDP has no application acknowledgement, so what the kernel accepted but was
//! not yet written when the process is killed is lost, as with every syslog receiver (RELP
//! exists for that); what reached the write-ahead log is not.
//!
//! Async lives here and only here: [`Ingest::start`] builds its own tokio runtime, whose worker
//! threads serve the sockets, and one writer thread per source does the blocking file I/O.
//!
//! The framing of a TCP stream is plain data in, frames out, without I/O:
//!
//! ```
//! use logkeep_syslog::framing::{Framer, Framing};
//! let mut framer = Framer::new(Framing::Auto, 64 * 1024);
//! let mut frames = Vec::new();
//! framer.push(b"11 <13>1 a b c", &mut frames); // octet counting, detected
//! framer.push(b"5 x\ny\nz", &mut frames);
//! framer.finish(&mut frames);
//! assert_eq!(frames[0].body, b"<13>1 a b c");
//! assert_eq!(frames[1].body, b"x\ny\nz");
//! ```

pub mod framing;
#[doc(hidden)]
pub mod fuzzing;
pub mod kernel;
pub mod meta;
mod net;
pub mod relp;
pub mod stats;
pub mod tls;
pub mod wal;

pub use framing::Framing;
pub use stats::{ListenerStatus, PeerStatus, UdpStatus};
pub use tls::TlsFiles;

use logkeep_format::layout::WAL_DIR;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{Semaphore, mpsc};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Default `max_message_bytes`: longer messages are stored in pieces of this size.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 256 * 1024;
/// Default `max_connections` of a TCP or TLS listener.
pub const DEFAULT_MAX_CONNECTIONS: usize = 256;
/// Default `idle_timeout`. Long, because closing an idle connection can cost a message: a
/// plain-TCP sender learns of the close only when its next write fails, and that message is
/// gone. It exists to free the slots of peers that vanished.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(3600);
/// The receive buffer a UDP socket asks for. Without `CAP_NET_ADMIN` the kernel caps it at
/// `net.core.rmem_max`.
const UDP_RCVBUF: usize = 8 << 20;
/// Batches queued for a writer, at most (the byte budget is the real bound).
const QUEUE: usize = 1024;
/// Bytes of records (bodies and headers) in flight per listener, at most (or twice the
/// largest record, if more); when they are all waiting for the writer, the connections stop
/// reading. Twice the writer's batch, so that one batch arrives while the last is fsynced.
const BUDGET_BYTES: usize = 2 * wal::BATCH_BYTES;
/// Environment variable, for tests only: the writer sleeps this many milliseconds before every
/// batch and writes at most [`wal::TEST_BATCH_BYTES`] per batch, to make it the bottleneck and
/// show that senders are slowed, not dropped.
pub const TEST_DELAY_ENV: &str = "LOGKEEP_TEST_WAL_DELAY_MS";

/// How a listener receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// `udp://`: one datagram, one message.
    Udp,
    /// `tcp://`: RFC 6587 framing.
    Tcp,
    /// `tls://`: RFC 5425, TLS over TCP.
    Tls,
    /// `relp://`: RELP over TCP; each message is answered once it is durable.
    Relp,
    /// `relps://`: RELP over TLS.
    Relps,
}

impl Transport {
    /// Whether the listener needs certificate files (`tls://`, `relps://`).
    pub fn uses_tls(self) -> bool {
        matches!(self, Transport::Tls | Transport::Relps)
    }
}

/// One listener, as configured and checked.
#[derive(Debug, Clone, PartialEq)]
pub struct ListenerConfig {
    /// The source id; its write-ahead log is `STORE/wal/ID/`.
    pub source: String,
    /// The `listen` value as written (`tcp://0.0.0.0:514`).
    pub url: String,
    /// Transport.
    pub transport: Transport,
    /// Address to bind.
    pub addr: SocketAddr,
    /// Certificate files (`tls://` only).
    pub tls: Option<TlsFiles>,
    /// TCP framing.
    pub framing: Framing,
    /// Longer messages are stored in marked pieces of at most this many bytes.
    pub max_message_bytes: usize,
    /// Open connections at most (TCP, TLS).
    pub max_connections: usize,
    /// Close a connection that sent nothing for this long (`None`: never).
    pub idle_timeout: Option<Duration>,
    /// A write-ahead log file is finished at this size.
    pub wal_file_bytes: u64,
    /// `udp://`: the receive buffer to ask the kernel for (`SO_RCVBUFFORCE`, else
    /// `SO_RCVBUF`); `None`: the default, 8 MiB.
    pub receive_buffer: Option<usize>,
}

impl ListenerConfig {
    /// A listener for `url` with the default settings.
    pub fn new(source: &str, url: &str) -> Result<ListenerConfig, String> {
        let (transport, addr) = parse_listen(url)?;
        Ok(ListenerConfig {
            source: source.to_owned(),
            url: url.to_owned(),
            transport,
            addr,
            tls: None,
            framing: Framing::Auto,
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            idle_timeout: Some(DEFAULT_IDLE_TIMEOUT),
            wal_file_bytes: wal::DEFAULT_FILE_BYTES,
            receive_buffer: None,
        })
    }
}

/// Parse `udp://HOST:PORT`, `tcp://HOST:PORT`, `tls://HOST:PORT`, `relp://HOST:PORT` or
/// `relps://HOST:PORT`; HOST is an IP address
/// (`[...]` for IPv6), so what is bound never depends on name resolution.
pub fn parse_listen(url: &str) -> Result<(Transport, SocketAddr), String> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| format!("{url:?} is not like \"tcp://0.0.0.0:514\""))?;
    let transport = match scheme {
        "udp" => Transport::Udp,
        "tcp" => Transport::Tcp,
        "tls" => Transport::Tls,
        "relp" => Transport::Relp,
        "relps" => Transport::Relps,
        other => {
            return Err(format!(
                "{other:?}: the scheme must be udp, tcp, tls, relp or relps (as in \"tcp://0.0.0.0:514\")"
            ));
        }
    };
    let addr: SocketAddr = rest.parse().map_err(|_| {
        format!("{rest:?} is not IP:PORT (an IP address, `[...]` for IPv6, and a port)")
    })?;
    if addr.port() == 0 {
        return Err(format!("{rest:?}: the port must not be 0"));
    }
    Ok((transport, addr))
}

/// The write-ahead log directory of `source` in the store at `store`.
pub fn wal_dir(store: &Path, source: &str) -> PathBuf {
    store.join(WAL_DIR).join(source)
}

/// The glob pattern that captures the write-ahead log of `source` (finished files renamed to
/// `.wal.done` leave it); `None` if the store path is not UTF-8.
pub fn wal_pattern(store: &Path, source: &str) -> Option<String> {
    let dir = wal_dir(store, source);
    let dir = dir.to_str()?;
    Some(format!(
        "{}/*{}",
        glob::Pattern::escape(dir.trim_end_matches('/')),
        wal::SUFFIX
    ))
}

/// Why the listeners could not start; each names what it is about.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The write-ahead log directory could not be opened.
    #[error("source {source_id}: write-ahead log {}: {error}", path.display())]
    Wal {
        /// Source id.
        source_id: String,
        /// Directory.
        path: PathBuf,
        /// The error.
        error: std::io::Error,
    },
    /// The TLS files are unusable.
    #[error("source {source_id}: TLS: {what}")]
    Tls {
        /// Source id.
        source_id: String,
        /// What is wrong, naming the file.
        what: String,
    },
    /// The socket could not be bound.
    #[error("source {source_id}: cannot listen on {url}: {error}")]
    Bind {
        /// Source id.
        source_id: String,
        /// The `listen` value.
        url: String,
        /// The error.
        error: std::io::Error,
    },
    /// The runtime or a thread could not be started.
    #[error("cannot start the syslog listeners: {0}")]
    Start(std::io::Error),
}

/// The running listeners of all `listen` sources, with their write-ahead log writers.
pub struct Ingest {
    rt: Option<tokio::runtime::Runtime>,
    cancel: CancellationToken,
    tasks: TaskTracker,
    writers: Vec<std::thread::JoinHandle<()>>,
    give_up: Arc<AtomicBool>,
    stats: Vec<Arc<stats::Shared>>,
    dirs: Vec<PathBuf>,
    last_sweep: Option<Instant>,
}

/// A handle that reads the counters while the listeners run (for a status server).
#[derive(Clone)]
pub struct StatusHandle(Vec<Arc<stats::Shared>>);

impl StatusHandle {
    /// Counters of every listener.
    pub fn status(&self) -> Vec<ListenerStatus> {
        self.0.iter().map(|s| s.snapshot()).collect()
    }
}

impl Ingest {
    /// Open the write-ahead logs under `store` and start `listeners`. With none, nothing
    /// starts. Call this with the store locked: its `wal/` belongs to the store's owner.
    pub fn start(store: &Path, listeners: &[ListenerConfig]) -> Result<Ingest, Error> {
        let mut me = Ingest {
            rt: None,
            cancel: CancellationToken::new(),
            tasks: TaskTracker::new(),
            writers: Vec::new(),
            give_up: Arc::new(AtomicBool::new(false)),
            stats: Vec::new(),
            dirs: Vec::new(),
            last_sweep: None,
        };
        if listeners.is_empty() {
            return Ok(me);
        }
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("syslog")
            .enable_all()
            .build()
            .map_err(Error::Start)?;
        let handle = rt.handle().clone();
        // Held from here, so that a listener failing to start stops the ones before it.
        me.rt = Some(rt);
        let delay = std::env::var(TEST_DELAY_ENV)
            .ok()
            .and_then(|v| v.parse().ok())
            .map(Duration::from_millis);
        for l in listeners {
            let dir = wal_dir(store, &l.source);
            let log = wal::Wal::open(&dir, l.wal_file_bytes).map_err(|error| Error::Wal {
                source_id: l.source.clone(),
                path: dir.clone(),
                error,
            })?;
            let tls = match &l.tls {
                Some(files) if l.transport.uses_tls() => Some(
                    tls::server_config(files)
                        .map(tokio_rustls::TlsAcceptor::from)
                        .map_err(|what| Error::Tls {
                            source_id: l.source.clone(),
                            what,
                        })?,
                ),
                _ => None,
            };
            let bind_err = |error| Error::Bind {
                source_id: l.source.clone(),
                url: l.url.clone(),
                error,
            };
            let shared = Arc::new(stats::Shared::new(&l.source, &l.url));
            let (tx, rx) = mpsc::channel(QUEUE);
            let budget_max = BUDGET_BYTES.max(2 * (l.max_message_bytes + 4096));
            let pool = Arc::new(wal::Pool::new());
            let recent = matches!(l.transport, Transport::Relp | Transport::Relps).then(|| {
                let r = Arc::new(relp::Recent::default());
                seed_recent(&dir, &r);
                r
            });
            let ctx = Arc::new(net::Ctx {
                cfg: l.clone(),
                tx,
                pool: pool.clone(),
                budget: Arc::new(Semaphore::new(budget_max)),
                budget_max: budget_max.min(u32::MAX as usize) as u32,
                stats: shared.clone(),
                cancel: me.cancel.clone(),
                recent,
            });
            let _rt = handle.enter();
            match l.transport {
                Transport::Udp => {
                    let want = l.receive_buffer.unwrap_or(UDP_RCVBUF);
                    let (sock, rcvbuf) = udp_socket(l.addr, want).map_err(bind_err)?;
                    let sock = tokio::net::UdpSocket::from_std(sock).map_err(bind_err)?;
                    let granted = rcvbuf / 2; // Linux reports twice what it grants
                    tracing::info!(source = %l.source, listen = %l.url, rcvbuf = rcvbuf, "listening (UDP)");
                    if granted < want as u64 / 2 {
                        tracing::warn!(source = %l.source, rcvbuf = rcvbuf, "the UDP receive buffer is small (net.core.rmem_max caps it); bursts may be dropped by the kernel — raise net.core.rmem_max or run with CAP_NET_ADMIN");
                    }
                    me.tasks.spawn(net::udp_loop(sock, rcvbuf, ctx));
                }
                Transport::Tcp | Transport::Tls | Transport::Relp | Transport::Relps => {
                    let std = std::net::TcpListener::bind(l.addr).map_err(bind_err)?;
                    std.set_nonblocking(true).map_err(bind_err)?;
                    let listener = tokio::net::TcpListener::from_std(std).map_err(bind_err)?;
                    tracing::info!(source = %l.source, listen = %l.url, "listening");
                    me.tasks
                        .spawn(net::tcp_loop(listener, tls, ctx, me.tasks.clone()));
                }
            }
            let give_up = me.give_up.clone();
            let s = shared.clone();
            let w = std::thread::Builder::new()
                .name(format!("wal-{}", l.source))
                .spawn(move || wal::run_writer(log, rx, pool, s, give_up, delay))
                .map_err(Error::Start)?;
            me.writers.push(w);
            me.stats.push(shared);
            me.dirs.push(dir);
        }
        Ok(me)
    }

    /// A handle to the counters.
    pub fn status_handle(&self) -> StatusHandle {
        StatusHandle(self.stats.clone())
    }

    /// Counters of every listener.
    pub fn status(&self) -> Vec<ListenerStatus> {
        self.status_handle().status()
    }

    /// Stop: no new connections, read what is in flight (a few seconds at most), write and
    /// fsync everything received, and return. Does nothing the second time.
    pub fn shutdown(&mut self) {
        let Some(rt) = self.rt.take() else {
            return;
        };
        self.cancel.cancel();
        self.tasks.close();
        let tasks = self.tasks.clone();
        let finished = rt.block_on(async move {
            tokio::time::timeout(Duration::from_secs(10), tasks.wait())
                .await
                .is_ok()
        });
        if !finished {
            // Only a writer that cannot write holds the tasks this long (disk full): stop
            // waiting for it; what it could not write is logged as lost.
            tracing::error!("the syslog listeners did not finish in time; stopping anyway");
            self.give_up.store(true, Ordering::Relaxed);
        }
        rt.shutdown_timeout(Duration::from_secs(1));
        for w in self.writers.drain(..) {
            let _ = w.join();
        }
        for s in self.status() {
            tracing::info!(
                source = %s.source,
                listen = %s.listen,
                messages = s.messages,
                bytes = s.bytes,
                oversize = s.oversize,
                cut = s.cut,
                framing_errors = s.framing_errors,
                udp_drops = s.udp.as_ref().and_then(|u| u.socket_drops),
                "listener stopped; everything received is in the write-ahead log"
            );
        }
    }

    /// Retire write-ahead log files that capture is done with (see [`wal::sweep`]); at most
    /// once a second. `committed` lists the files capture follows, `(dev, ino) → committed
    /// end`; call only after a successful poll.
    pub fn sweep(&mut self, committed: impl FnOnce() -> HashMap<(u64, u64), u64>) {
        if self.dirs.is_empty()
            || self
                .last_sweep
                .is_some_and(|t| t.elapsed() < Duration::from_secs(1))
        {
            return;
        }
        self.last_sweep = Some(Instant::now());
        let map = committed();
        for dir in &self.dirs {
            match wal::sweep(dir, &|k| map.get(&k).copied()) {
                Ok(s) if s != wal::Swept::default() => {
                    tracing::debug!(dir = %dir.display(), finished = s.finished, deleted = s.deleted, "write-ahead log files retired");
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(dir = %dir.display(), "cannot retire write-ahead log files: {e}")
                }
            }
        }
    }
}

impl Drop for Ingest {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// A UDP socket with a receive buffer of `rcvbuf` bytes if permitted; returns it with the size
/// the kernel reports.
fn udp_socket(addr: SocketAddr, rcvbuf: usize) -> std::io::Result<(std::net::UdpSocket, u64)> {
    use socket2::{Domain, Protocol, Socket, Type};
    let s = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    // The forcing variant goes past net.core.rmem_max when permitted (CAP_NET_ADMIN).
    if rustix::net::sockopt::set_socket_recv_buffer_size_force(&s, rcvbuf).is_err() {
        let _ = s.set_recv_buffer_size(rcvbuf);
    }
    s.set_nonblocking(true)?;
    s.bind(&addr.into())?;
    let got = s.recv_buffer_size()? as u64;
    Ok((s.into(), got))
}

/// Bytes read from the end of the write-ahead log to remember what RELP clients sent last.
const SEED_BYTES: u64 = 8 << 20;

/// Remember the RELP messages at the end of the write-ahead log in `dir` (the newest files, at
/// most [`SEED_BYTES`]), so that those a client sends again after a crash are recognised.
/// What cannot be read is skipped: this only feeds a counter.
fn seed_recent(dir: &Path, recent: &relp::Recent) {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut files: Vec<(u64, PathBuf)> = entries
        .flatten()
        .filter_map(|e| {
            let (seq, _) = e.file_name().to_str().and_then(wal::parse_name)?;
            Some((seq, e.path()))
        })
        .collect();
    files.sort();
    let mut budget = SEED_BYTES;
    let mut tails = Vec::new();
    for (_, path) in files.iter().rev() {
        if budget == 0 {
            break;
        }
        let Ok(mut f) = std::fs::File::open(path) else {
            continue;
        };
        let Ok(len) = f.metadata().map(|m| m.len()) else {
            continue;
        };
        let take = len.min(budget);
        budget -= take;
        let mut data = Vec::with_capacity(take as usize);
        if f.seek(SeekFrom::Start(len - take)).is_err()
            || f.take(take).read_to_end(&mut data).is_err()
        {
            continue;
        }
        if take < len {
            // Started inside the file: skip to the first record header.
            let Some(at) = memchr::memmem::find(&data, b"\nLKS1 ") else {
                continue;
            };
            data.drain(..at + 1);
        }
        tails.push(data);
    }
    for data in tails.iter().rev() {
        let Ok(recs) = wal::read_records(data) else {
            continue;
        };
        for r in recs {
            let relp = matches!(r.transport, "relp" | "relps");
            if !relp || !r.complete || r.flags.iter().any(|f| f.starts_with("part=")) {
                continue;
            }
            if let Ok(peer) = r.peer.parse::<SocketAddr>() {
                recent.add(peer.ip(), [relp::fingerprint(r.body)]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_values() {
        assert_eq!(
            parse_listen("tcp://0.0.0.0:514"),
            Ok((Transport::Tcp, "0.0.0.0:514".parse().expect("addr")))
        );
        assert_eq!(
            parse_listen("tls://[::1]:6514").map(|x| x.0),
            Ok(Transport::Tls)
        );
        assert!(parse_listen("udp://localhost:514").is_err());
        assert!(parse_listen("http://1.2.3.4:80").is_err());
        assert!(parse_listen("tcp://1.2.3.4").is_err());
        assert!(parse_listen("tcp://1.2.3.4:0").is_err());
        assert!(parse_listen("1.2.3.4:514").is_err());
    }

    #[test]
    fn wal_patterns_escape_the_store_path() {
        assert_eq!(
            wal_pattern(Path::new("/var/lib/logkeep"), "fw").as_deref(),
            Some("/var/lib/logkeep/wal/fw/*.wal")
        );
        let p = wal_pattern(Path::new("/data/st[1]*"), "fw").expect("utf-8");
        assert_eq!(p, "/data/st[[]1[]][*]/wal/fw/*.wal");
        let pat = glob::Pattern::new(&p).expect("pattern");
        assert!(pat.matches("/data/st[1]*/wal/fw/00000000000000000001.wal"));
        assert!(!pat.matches("/data/st[1]*/wal/fw/00000000000000000001.wal.done"));
    }
}
