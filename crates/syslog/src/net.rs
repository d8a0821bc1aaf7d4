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

use crate::framing::{self, Framer};
use crate::relp::{self, Command};
use crate::stats::{Shared, UdpStatus};
use crate::wal::{self, Batch, Pool, Tally};
use crate::{ListenerConfig, Transport, kernel};
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
/// A read is framed this many bytes at a time...
pub(crate) const FEED_BYTES: usize = 16 * 1024;
/// ...and its records go to the writer as soon as they fill this much (else at the end of the
/// read), so a batch stays small even for tiny messages with their headers.
const FLUSH_BYTES: usize = 128 * 1024;

/// What every task of one listener shares.
pub(crate) struct Ctx {
    pub cfg: ListenerConfig,
    pub tx: mpsc::Sender<Batch>,
    /// Batch buffers, shared with the writer.
    pub pool: Arc<Pool>,
    pub budget: Arc<Semaphore>,
    /// The budget's size: no record may ask for more.
    pub budget_max: u32,
    pub stats: Arc<Shared>,
    pub cancel: CancellationToken,
    /// RELP listeners: what each host sent last, to recognise messages sent again.
    pub recent: Option<Arc<relp::Recent>>,
}

fn transport_name(t: Transport) -> &'static str {
    match t {
        Transport::Udp => "udp",
        Transport::Tcp => "tcp",
        Transport::Tls => "tls",
        Transport::Relp => "relp",
        Transport::Relps => "relps",
    }
}

impl Ctx {
    /// Hand the records in `batch` to the writer, waiting for budget first; `batch` and
    /// `tally` start again empty (`batch` without a buffer: the next records take one from the
    /// pool, so an idle connection holds none). False if the writer is gone.
    async fn submit(&self, batch: &mut Vec<u8>, tally: &mut Tally) -> bool {
        self.submit_with(batch, tally, None).await
    }

    /// [`Ctx::submit`], telling `done` when the records are durable.
    async fn submit_with(
        &self,
        batch: &mut Vec<u8>,
        tally: &mut Tally,
        done: Option<tokio::sync::oneshot::Sender<bool>>,
    ) -> bool {
        let n = batch.len().clamp(1, self.budget_max as usize) as u32;
        let Ok(permit) = self.budget.clone().acquire_many_owned(n).await else {
            return false;
        };
        let data = std::mem::take(batch);
        let tally = std::mem::replace(tally, Tally::new(tally.peer));
        self.tx
            .send(Batch {
                data,
                tally,
                _permit: Some(permit),
                done,
            })
            .await
            .is_ok()
    }
}

/// Serve a UDP socket until cancelled.
pub(crate) async fn udp_loop(sock: UdpSocket, rcvbuf: u64, ctx: Arc<Ctx>) {
    let local = sock.local_addr().unwrap_or(ctx.cfg.addr);
    let inode = rustix::fs::fstat(&sock).map(|s| s.st_ino).ok();
    let mut seen_drops = inode.and_then(kernel::socket_drops).unwrap_or(0);
    let mut buf = vec![0u8; 65536];
    let mut head = Vec::with_capacity(128);
    let mut batch = Vec::new();
    let mut tally = Tally::new(None);
    let mut tick = tokio::time::interval(DROPS_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let max = ctx.cfg.max_message_bytes;
    loop {
        tokio::select! {
            r = sock.recv_from(&mut buf) => match r {
                Ok((n, peer)) => {
                    datagram(&ctx.pool, &mut head, &mut batch, &mut tally, &buf[..n], local, peer, max);
                    if !ctx.submit(&mut batch, &mut tally).await {
                        return;
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
        datagram(
            &ctx.pool,
            &mut head,
            &mut batch,
            &mut tally,
            &buf[..n],
            local,
            peer,
            max,
        );
        if !ctx.submit(&mut batch, &mut tally).await {
            return;
        }
    }
    check_drops(&ctx, inode, local, rcvbuf, &mut seen_drops).await;
}

/// The records of one datagram, into `batch`.
#[allow(clippy::too_many_arguments)]
fn datagram(
    pool: &Pool,
    head: &mut Vec<u8>,
    batch: &mut Vec<u8>,
    tally: &mut Tally,
    data: &[u8],
    local: SocketAddr,
    peer: SocketAddr,
    max: usize,
) {
    wal::write_head(head, SystemTime::now(), "udp", local, Some(peer));
    *tally = Tally::new(Some(peer.ip()));
    if batch.capacity() == 0 {
        *batch = pool.take();
    }
    framing::datagram_with(data, max, &mut |f| wal::encode(batch, tally, head, &f));
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
    let mut batch = ctx.pool.take();
    wal::write_head(&mut batch, SystemTime::now(), "udp", local, None);
    batch.extend_from_slice(b"0 drops=");
    wal::push_decimal(&mut batch, lost);
    batch.extend_from_slice(b"\n\n");
    let mut tally = Tally::new(None);
    tally.records = 1;
    ctx.submit(&mut batch, &mut tally).await
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
        None => session(stream, local, peer, ctx).await,
        Some(acceptor) => {
            let hs = tokio::select! {
                r = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)) => r,
                _ = ctx.cancel.cancelled() => {
                    ctx.stats.connection_closed(peer.ip(), 0, 0);
                    return;
                }
            };
            match hs {
                Ok(Ok(s)) => session(s, local, peer, ctx).await,
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

/// Serve one connection with the listener's protocol. Returns the framer's (framing errors,
/// empty frames).
async fn session<S: AsyncRead + tokio::io::AsyncWrite + Unpin>(
    s: S,
    local: SocketAddr,
    peer: SocketAddr,
    ctx: &Ctx,
) -> (u64, u64) {
    match ctx.cfg.transport {
        Transport::Relp | Transport::Relps => {
            relp_session(s, local, peer, ctx).await;
            (0, 0)
        }
        _ => read_stream(s, local, peer, ctx).await,
    }
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
    let mut head = Vec::with_capacity(128);
    let mut batch = Vec::new();
    let mut tally = Tally::new(Some(peer.ip()));
    let transport = transport_name(ctx.cfg.transport);
    let mut drain_until: Option<Instant> = None;
    let forever = Duration::from_secs(365 * 86400);
    let stats = |f: &Framer| (f.stats().framing_errors, f.stats().empty_frames);
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
                // Every message completed by this read has its receive time.
                wal::write_head(&mut head, SystemTime::now(), transport, local, Some(peer));
                if batch.capacity() == 0 {
                    batch = ctx.pool.take();
                }
                for chunk in buf[..n].chunks(FEED_BYTES) {
                    framer.push_with(chunk, &mut |f| {
                        wal::encode(&mut batch, &mut tally, &head, &f)
                    });
                    if batch.len() >= FLUSH_BYTES {
                        if !ctx.submit(&mut batch, &mut tally).await {
                            return stats(&framer);
                        }
                        batch = ctx.pool.take();
                    }
                }
                if batch.is_empty() {
                    // Nothing completed (a message continues in the next read): hold no buffer.
                    ctx.pool.give(std::mem::take(&mut batch));
                } else if !ctx.submit(&mut batch, &mut tally).await {
                    return stats(&framer);
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
    wal::write_head(&mut head, SystemTime::now(), transport, local, Some(peer));
    framer.finish_with(&mut |f| wal::encode(&mut batch, &mut tally, &head, &f));
    if !batch.is_empty() {
        ctx.submit(&mut batch, &mut tally).await;
    }
    ctx.pool.give(batch);
    let _ = tokio::time::timeout(Duration::from_secs(1), s.shutdown()).await;
    stats(&framer)
}

/// The most data a RELP frame may carry: four times `max_message_bytes` (a longer message is
/// still stored, in pieces), at least 64 KiB. A longer frame ends the session.
fn relp_max_data(max_message_bytes: usize) -> usize {
    max_message_bytes.saturating_mul(4).max(64 * 1024)
}

/// What a RELP session has read and not yet answered: the records of its `syslog` frames, their
/// transaction numbers and fingerprints.
struct Unanswered {
    batch: Vec<u8>,
    tally: Tally,
    txnrs: Vec<u64>,
    prints: Vec<u64>,
    /// Of them, messages this host had sent before (see [`relp::Recent`]).
    resent: u64,
}

impl Unanswered {
    /// Hand the records to the writer, wait until they are durable, and append the answers to
    /// `out`. False if the writer is gone (stopping: the client sends them again).
    async fn flush(&mut self, ctx: &Ctx, peer: SocketAddr, out: &mut Vec<u8>) -> bool {
        if self.txnrs.is_empty() {
            return true;
        }
        let (tx, rx) = tokio::sync::oneshot::channel();
        if !ctx
            .submit_with(&mut self.batch, &mut self.tally, Some(tx))
            .await
        {
            return false;
        }
        let Ok(durable) = rx.await else {
            return false;
        };
        for &t in &self.txnrs {
            if durable {
                relp::respond(out, t, 200, "OK", "");
            } else {
                relp::respond(
                    out,
                    t,
                    500,
                    "not stored durably (fsync failed); send again",
                    "",
                );
            }
        }
        if let Some(r) = &ctx.recent {
            r.add(peer.ip(), self.prints.drain(..));
        }
        if self.resent > 0 {
            tracing::info!(source = %ctx.cfg.source, %peer, resent = self.resent, "RELP: the client sent messages again that were stored before their answer was lost; stored again");
            ctx.stats.resent(self.resent);
        }
        self.txnrs.clear();
        self.prints.clear();
        self.resent = 0;
        true
    }
}

/// Serve one RELP session: every `syslog` frame is answered once its record is durable, so a
/// client never drops a message logkeep might not have. When logkeep stops it says
/// `serverclose` and the client keeps what is unanswered for the next run.
async fn relp_session<S: AsyncRead + tokio::io::AsyncWrite + Unpin>(
    mut s: S,
    local: SocketAddr,
    peer: SocketAddr,
    ctx: &Ctx,
) {
    let mut parser = relp::Parser::new(relp_max_data(ctx.cfg.max_message_bytes));
    let mut buf = vec![0u8; READ_BYTES];
    let mut head = Vec::with_capacity(128);
    let mut out = Vec::new();
    let mut un = Unanswered {
        batch: Vec::new(),
        tally: Tally::new(Some(peer.ip())),
        txnrs: Vec::new(),
        prints: Vec::new(),
        resent: 0,
    };
    let transport = transport_name(ctx.cfg.transport);
    let max = ctx.cfg.max_message_bytes;
    let idle = ctx
        .cfg
        .idle_timeout
        .unwrap_or(Duration::from_secs(365 * 86400));
    let mut opened = false;
    // A client sends what was left unanswered first, so only the start of a session is
    // compared with what this host sent before.
    let mut checking = true;
    loop {
        let read = tokio::select! {
            r = tokio::time::timeout(idle, s.read(&mut buf)) => r,
            _ = ctx.cancel.cancelled() => {
                let _ = tokio::time::timeout(Duration::from_secs(1), s.write_all(relp::SERVERCLOSE)).await;
                break;
            }
        };
        let n = match read {
            Err(_) => {
                tracing::info!(source = %ctx.cfg.source, %peer, "closing a RELP session idle for {}", humantime::format_duration(idle));
                ctx.stats.idle_closed();
                break;
            }
            Ok(Ok(0)) => break,
            Ok(Ok(n)) => n,
            Ok(Err(e)) => {
                tracing::debug!(source = %ctx.cfg.source, %peer, "RELP session ended: {e}");
                break;
            }
        };
        parser.push(&buf[..n]);
        wal::write_head(&mut head, SystemTime::now(), transport, local, Some(peer));
        let mut end = false;
        loop {
            let f = match parser.next_frame() {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(source = %ctx.cfg.source, %peer, "RELP protocol error, closing the session: {e}");
                    ctx.stats.protocol_error();
                    end = true;
                    break;
                }
            };
            match &f.command {
                Command::Syslog if opened => {
                    let data = parser.data(&f);
                    if un.batch.capacity() == 0 {
                        un.batch = ctx.pool.take();
                    }
                    let print = relp::fingerprint(data);
                    if checking {
                        if ctx
                            .recent
                            .as_ref()
                            .is_some_and(|r| r.contains(peer.ip(), print))
                        {
                            un.resent += 1;
                        } else {
                            checking = false;
                        }
                    }
                    let (batch, tally) = (&mut un.batch, &mut un.tally);
                    framing::datagram_with(data, max, &mut |fr| {
                        wal::encode(batch, tally, &head, &fr)
                    });
                    un.txnrs.push(f.txnr);
                    un.prints.push(print);
                    if un.batch.len() >= FLUSH_BYTES && !un.flush(ctx, peer, &mut out).await {
                        return;
                    }
                }
                Command::Open if !opened => {
                    opened = true;
                    relp::respond(&mut out, f.txnr, 200, "OK", &relp::open_offers());
                }
                Command::Close => {
                    if !un.flush(ctx, peer, &mut out).await {
                        return;
                    }
                    relp::respond(&mut out, f.txnr, 200, "OK", "");
                    end = true;
                    break;
                }
                Command::Syslog => {
                    relp::respond(&mut out, f.txnr, 500, "no session: send open first", "")
                }
                Command::Open => {
                    relp::respond(&mut out, f.txnr, 500, "the session is open already", "")
                }
                Command::Other(c) => {
                    tracing::debug!(source = %ctx.cfg.source, %peer, command = %c, "RELP: unknown command");
                    relp::respond(&mut out, f.txnr, 500, "unknown command", "")
                }
            }
        }
        if !un.flush(ctx, peer, &mut out).await {
            return;
        }
        if un.batch.is_empty() && un.batch.capacity() > 0 {
            ctx.pool.give(std::mem::take(&mut un.batch));
        }
        if !out.is_empty() {
            if s.write_all(&out).await.is_err() || s.flush().await.is_err() {
                break;
            }
            out.clear();
        }
        if end {
            break;
        }
    }
    ctx.pool.give(std::mem::take(&mut un.batch));
    let _ = tokio::time::timeout(Duration::from_secs(1), s.shutdown()).await;
}
