//! The listeners: a UDP socket, or a TCP socket with connections (optionally TLS), each turning
//! what arrives into write-ahead log records for the source's writer thread.
//!
//! Backpressure: every record holds a share of the listener's byte budget (a semaphore) until
//! the writer has made it durable, and the writer's queue is bounded. When the writer falls
//! behind, a connection waits for budget before it reads again, so its TCP receive window fills
//! and the sender slows down; nothing is dropped. A UDP socket waiting the same way leaves
//! datagrams in its (large) kernel buffer, and the kernel's drop counter says if it overflows.
//!
//! Shutdown (a cancellation token): stop accepting, read what the connections still have in
//! flight until they are quiet for a moment (bounded), hand the rest of each stream to the
//! framer as its end, and return; the writer then writes and fsyncs what is queued.

use crate::framing::{self, Delim, Frame, Framer, Part};
use crate::stats::{Shared, Stored, UdpStatus};
use crate::wal::{self, Item};
use crate::{ListenerConfig, Transport, kernel, meta};
use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{Semaphore, mpsc};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// After a stop is requested, a connection is read until it has been quiet this long...
const DRAIN_QUIET: Duration = Duration::from_millis(200);
/// ...but no longer than this.
const DRAIN_MAX: Duration = Duration::from_secs(2);
/// A TLS handshake must finish within this time.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);
/// How often a UDP listener reads the kernel's drop counters.
const DROPS_EVERY: Duration = Duration::from_secs(1);
/// Bytes read from a connection at a time.
const READ_BYTES: usize = 64 * 1024;

/// What every task of one listener shares.
pub(crate) struct Ctx {
    pub cfg: ListenerConfig,
    pub tx: mpsc::Sender<Item>,
    pub budget: Arc<Semaphore>,
    /// The budget's size: no record may ask for more.
    pub budget_max: u32,
    pub stats: Arc<Shared>,
    pub cancel: CancellationToken,
}

fn transport_name(t: Transport) -> &'static str {
    match t {
        Transport::Udp => "udp",
        Transport::Tcp => "tcp",
        Transport::Tls => "tls",
    }
}

/// The record header of `frame` (see `docs/SYSLOG.md`), LF included.
pub(crate) fn header(
    time: &str,
    transport: Transport,
    local: SocketAddr,
    peer: SocketAddr,
    frame: &Frame,
) -> Vec<u8> {
    let mut h = Vec::with_capacity(160);
    let _ = write!(
        h,
        "{} {time} {} {local} {peer} {}",
        wal::MAGIC,
        transport_name(transport),
        frame.body.len()
    );
    match frame.delim {
        Delim::OctetCounted => h.extend_from_slice(b" oc"),
        Delim::Lf => h.extend_from_slice(b" lf"),
        Delim::CrLf => h.extend_from_slice(b" crlf"),
        Delim::Datagram => {}
    }
    if frame.eof {
        h.extend_from_slice(b" eof");
    }
    if let Some(w) = frame.want {
        let _ = write!(h, " want={w}");
    }
    let first = match frame.part {
        None => true,
        Some(Part::Of { index, total }) => {
            let _ = write!(h, " part={index}/{total}");
            index == 1
        }
        Some(Part::More { index }) => {
            let _ = write!(h, " part={index}+");
            index == 1
        }
    };
    // The syslog header is at the start of the message: only its first piece has one.
    if first && let Some(m) = meta::parse(&frame.body) {
        h.extend_from_slice(match m.rfc {
            meta::Rfc::R5424 => b" rfc=5424",
            meta::Rfc::R3164 => b" rfc=3164",
        });
        for (k, v) in [("ts", m.time), ("host", m.host), ("app", m.app)] {
            if let Some(v) = v {
                let _ = write!(h, " {k}=");
                wal::encode_value(&mut h, v);
            }
        }
    }
    h.push(b'\n');
    h
}

fn now_text() -> String {
    humantime::format_rfc3339_nanos(SystemTime::now()).to_string()
}

impl Ctx {
    /// Queue a record for the writer, waiting for budget first. False if the writer is gone.
    async fn submit(&self, header: Vec<u8>, frame: Frame, peer: Option<SocketAddr>) -> bool {
        let size = header.len() + frame.body.len() + 1;
        let n = size.clamp(1, self.budget_max as usize) as u32;
        let Ok(permit) = self.budget.clone().acquire_many_owned(n).await else {
            return false;
        };
        let stored = Stored {
            peer: peer.map(|p| p.ip()),
            bytes: frame.body.len() as u64,
            piece: frame.part.is_some(),
            // Records without a peer are logkeep's own (`drops=N`), not messages.
            last: peer.is_some()
                && !matches!(frame.part, Some(Part::More { .. }))
                && !matches!(frame.part, Some(Part::Of { index, total }) if index < total && !frame.eof),
            cut: frame.eof,
        };
        self.tx
            .send(Item {
                header,
                body: frame.body,
                stored,
                _permit: Some(permit),
            })
            .await
            .is_ok()
    }

    async fn submit_frame(
        &self,
        time: &str,
        local: SocketAddr,
        peer: SocketAddr,
        f: Frame,
    ) -> bool {
        let h = header(time, self.cfg.transport, local, peer, &f);
        self.submit(h, f, Some(peer)).await
    }
}

/// Serve a UDP socket until cancelled.
pub(crate) async fn udp_loop(sock: UdpSocket, rcvbuf: u64, ctx: Arc<Ctx>) {
    let local = sock.local_addr().unwrap_or(ctx.cfg.addr);
    let inode = rustix::fs::fstat(&sock).map(|s| s.st_ino).ok();
    let mut seen_drops = inode.and_then(kernel::socket_drops).unwrap_or(0);
    let mut buf = vec![0u8; 65536];
    let mut tick = tokio::time::interval(DROPS_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let max = ctx.cfg.max_message_bytes;
    loop {
        tokio::select! {
            r = sock.recv_from(&mut buf) => match r {
                Ok((n, peer)) => {
                    let time = now_text();
                    for f in framing::datagram(&buf[..n], max) {
                        if !ctx.submit_frame(&time, local, peer, f).await {
                            return;
                        }
                    }
                }
                Err(e) => tracing::warn!(%local, "UDP receive failed: {e}"),
            },
            _ = tick.tick() => {
                if !check_drops(&ctx, inode, local, rcvbuf, &mut seen_drops).await {
                    return;
                }
            }
            _ = ctx.cancel.cancelled() => break,
        }
    }
    // Stopping: take what the kernel still holds, then count the drops a last time.
    while let Ok((n, peer)) = sock.try_recv_from(&mut buf) {
        let time = now_text();
        for f in framing::datagram(&buf[..n], max) {
            if !ctx.submit_frame(&time, local, peer, f).await {
                return;
            }
        }
    }
    check_drops(&ctx, inode, local, rcvbuf, &mut seen_drops).await;
}

/// Publish the kernel's counters; an increase of this socket's drops is logged and written
/// into the write-ahead log, so the loss is on record in the chain.
async fn check_drops(
    ctx: &Ctx,
    inode: Option<u64>,
    local: SocketAddr,
    rcvbuf: u64,
    seen: &mut u64,
) -> bool {
    let drops = inode.and_then(kernel::socket_drops);
    ctx.stats.udp(UdpStatus {
        rcvbuf_bytes: rcvbuf,
        socket_drops: drops,
        host_rcvbuf_errors: kernel::rcvbuf_errors(),
    });
    let Some(d) = drops else { return true };
    if d <= *seen {
        return true;
    }
    let lost = d - *seen;
    *seen = d;
    tracing::error!(source = %ctx.cfg.source, %local, lost, total = d, "the kernel dropped UDP datagrams: its receive buffer was full (these messages are lost; see net.core.rmem_max)");
    let header = format!(
        "{} {} udp {local} - 0 drops={lost}\n",
        wal::MAGIC,
        now_text()
    );
    let frame = Frame {
        body: Vec::new(),
        delim: Delim::Datagram,
        eof: false,
        want: None,
        part: None,
    };
    ctx.submit(header.into_bytes(), frame, None).await
}

/// Accept connections until cancelled; each is served in its own task.
pub(crate) async fn tcp_loop(
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    ctx: Arc<Ctx>,
    tasks: TaskTracker,
) {
    let slots = Arc::new(Semaphore::new(ctx.cfg.max_connections.max(1)));
    let mut warned_at: Option<Instant> = None;
    loop {
        // At the limit, stop accepting: new connections wait in the kernel's backlog with
        // their data, rather than being accepted and closed, which would lose what they sent.
        if slots.available_permits() == 0 {
            ctx.stats.at_limit();
            if warned_at.is_none_or(|t| t.elapsed() > Duration::from_secs(60)) {
                tracing::warn!(source = %ctx.cfg.source, max_connections = ctx.cfg.max_connections, "connection limit reached; new connections wait");
                warned_at = Some(Instant::now());
            }
        }
        let slot = tokio::select! {
            s = slots.clone().acquire_owned() => match s { Ok(s) => s, Err(_) => break },
            _ = ctx.cancel.cancelled() => break,
        };
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // Out of descriptors, say: wait a little rather than spin.
                    tracing::warn!(source = %ctx.cfg.source, "accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = ctx.cancel.cancelled() => break,
        };
        let ctx = ctx.clone();
        let tls = tls.clone();
        tasks.spawn(async move {
            let _slot = slot;
            serve(stream, peer, tls, &ctx).await;
        });
    }
}

async fn serve(
    stream: TcpStream,
    peer: SocketAddr,
    tls: Option<tokio_rustls::TlsAcceptor>,
    ctx: &Ctx,
) {
    let local = stream.local_addr().unwrap_or(ctx.cfg.addr);
    // Keepalive finds peers that vanished without a FIN, so their slot is freed.
    let ka = socket2::TcpKeepalive::new()
        .with_time(Duration::from_secs(60))
        .with_interval(Duration::from_secs(10));
    let _ = socket2::SockRef::from(&stream).set_tcp_keepalive(&ka);
    ctx.stats.connection_opened(peer.ip());
    tracing::debug!(source = %ctx.cfg.source, %peer, "connected");
    let counts = match tls {
        None => read_stream(stream, local, peer, ctx).await,
        Some(acceptor) => {
            let hs = tokio::select! {
                r = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)) => r,
                _ = ctx.cancel.cancelled() => {
                    ctx.stats.connection_closed(peer.ip(), 0, 0);
                    return;
                }
            };
            match hs {
                Ok(Ok(s)) => read_stream(s, local, peer, ctx).await,
                Ok(Err(e)) => {
                    tracing::warn!(source = %ctx.cfg.source, %peer, "TLS handshake failed: {e}");
                    ctx.stats.tls_failure();
                    (0, 0)
                }
                Err(_) => {
                    tracing::warn!(source = %ctx.cfg.source, %peer, "TLS handshake timed out");
                    ctx.stats.tls_failure();
                    (0, 0)
                }
            }
        }
    };
    ctx.stats.connection_closed(peer.ip(), counts.0, counts.1);
    tracing::debug!(source = %ctx.cfg.source, %peer, "disconnected");
}

/// Read one connection to its end, framing and submitting as bytes arrive. Returns the
/// framer's (framing errors, empty frames).
async fn read_stream<S: AsyncRead + tokio::io::AsyncWrite + Unpin>(
    mut s: S,
    local: SocketAddr,
    peer: SocketAddr,
    ctx: &Ctx,
) -> (u64, u64) {
    let mut framer = Framer::new(ctx.cfg.framing, ctx.cfg.max_message_bytes);
    let mut buf = vec![0u8; READ_BYTES];
    let mut frames: Vec<Frame> = Vec::new();
    let mut drain_until: Option<Instant> = None;
    let forever = Duration::from_secs(365 * 86400);
    loop {
        let wait = match drain_until {
            Some(_) => DRAIN_QUIET,
            None => ctx.cfg.idle_timeout.unwrap_or(forever),
        };
        let read = tokio::select! {
            r = tokio::time::timeout(wait, s.read(&mut buf)) => r,
            _ = ctx.cancel.cancelled(), if drain_until.is_none() => {
                drain_until = Some(Instant::now() + DRAIN_MAX);
                continue;
            }
        };
        match read {
            Err(_) if drain_until.is_some() => break,
            Err(_) => {
                tracing::info!(source = %ctx.cfg.source, %peer, "closing a connection idle for {}", humantime::format_duration(wait));
                ctx.stats.idle_closed();
                break;
            }
            Ok(Ok(0)) => break,
            Ok(Ok(n)) => {
                let time = now_text();
                framer.push(&buf[..n], &mut frames);
                for f in frames.drain(..) {
                    if !ctx.submit_frame(&time, local, peer, f).await {
                        return (framer.stats().framing_errors, framer.stats().empty_frames);
                    }
                }
            }
            Ok(Err(e)) => {
                // A reset, or a TLS peer that closed without close_notify: the stream ends here.
                tracing::debug!(source = %ctx.cfg.source, %peer, "connection ended: {e}");
                break;
            }
        }
        if drain_until.is_some_and(|d| Instant::now() >= d) {
            break;
        }
    }
    let time = now_text();
    framer.finish(&mut frames);
    for f in frames.drain(..) {
        if !ctx.submit_frame(&time, local, peer, f).await {
            break;
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(1), s.shutdown()).await;
    let st = framer.stats();
    (st.framing_errors, st.empty_frames)
}
