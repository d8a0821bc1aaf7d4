//! Counters of each listener and each peer, for `logkeep status` and the daemon's log.
//!
//! Messages and bytes are counted by the write-ahead log writer after the fsync that made them
//! durable, never when they arrive: a counted message is a stored message. Connection counters
//! are kept by the connection tasks. A std mutex guards them because no `.await` happens while
//! it is held and every update is a few additions.

use crate::wal::Tally;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

/// Peers tracked one by one; beyond this many (a UDP flood with forged sources, say) the rest
/// are summed under `other`, so memory stays bounded.
const MAX_PEERS: usize = 4096;

/// Counters of one sending host (by IP address).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PeerStatus {
    /// The peer's IP address, or `other` for the sum beyond the tracked peers.
    pub peer: String,
    /// Messages stored (an oversize message counts once, when its last piece is stored).
    pub messages: u64,
    /// Message bytes stored (bodies only, without framing or record headers).
    pub bytes: u64,
    /// Messages longer than the maximum, stored in pieces.
    pub oversize: u64,
    /// Messages cut short by the end of the connection (stored as far as they arrived).
    pub cut: u64,
    /// Connections accepted (TCP, TLS).
    pub connections: u64,
    /// Connections open now.
    pub open_connections: u64,
    /// Receive time of the newest stored message (RFC 3339 UTC).
    pub last: String,
}

/// UDP socket figures from the kernel.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct UdpStatus {
    /// The socket's receive buffer as the kernel reports it (`SO_RCVBUF`).
    pub rcvbuf_bytes: u64,
    /// Datagrams the kernel dropped for this socket (`drops` in `/proc/net/udp`): lost
    /// messages. Each increase is also written into the write-ahead log as a `drops=N` record.
    #[serde(deserialize_with = "Option::deserialize")]
    pub socket_drops: Option<u64>,
    /// The host's UDP `RcvbufErrors` (IPv4 and IPv6, all sockets), from `/proc/net/snmp*`.
    #[serde(deserialize_with = "Option::deserialize")]
    pub host_rcvbuf_errors: Option<u64>,
}

/// Counters of one listener.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ListenerStatus {
    /// Source id.
    pub source: String,
    /// What it listens on, as configured (`tcp://127.0.0.1:514`).
    pub listen: String,
    /// Messages stored.
    pub messages: u64,
    /// Message bytes stored.
    pub bytes: u64,
    /// Write-ahead log records written for pieces of oversize messages.
    pub pieces: u64,
    /// Messages longer than the maximum, stored in pieces.
    pub oversize: u64,
    /// Messages cut short by the end of their connection.
    pub cut: u64,
    /// Times an octet-counted connection sent something else and was read as LF-framed.
    pub framing_errors: u64,
    /// Empty LF frames (nothing to store).
    pub empty_frames: u64,
    /// Connections accepted.
    pub connections: u64,
    /// Connections open now.
    pub open_connections: u64,
    /// Times a connection had to wait because `max_connections` were open.
    pub at_limit: u64,
    /// Connections closed after `idle_timeout` without data.
    pub idle_closed: u64,
    /// TLS handshakes that failed (bad or missing client certificate, not TLS at all).
    pub tls_failures: u64,
    /// RELP: messages a client sent again that were already stored (their answer was lost
    /// to a crash or a broken connection). Stored again, and counted in `messages` too.
    #[serde(default)]
    pub resent: u64,
    /// RELP: sessions ended because the client broke the protocol.
    #[serde(default)]
    pub protocol_errors: u64,
    /// The write-ahead log file being written.
    pub wal_file: String,
    /// UDP only.
    #[serde(deserialize_with = "Option::deserialize")]
    pub udp: Option<UdpStatus>,
    /// Per peer, busiest first.
    pub peers: Vec<PeerStatus>,
}

#[derive(Default)]
struct Inner {
    status: ListenerStatus,
    peers: HashMap<IpAddr, PeerStatus>,
    other: PeerStatus,
}

impl Inner {
    fn peer(&mut self, ip: Option<IpAddr>) -> &mut PeerStatus {
        let Some(ip) = ip else {
            return &mut self.other;
        };
        if !self.peers.contains_key(&ip) && self.peers.len() >= MAX_PEERS {
            return &mut self.other;
        }
        self.peers.entry(ip).or_insert_with(|| PeerStatus {
            peer: ip.to_string(),
            ..PeerStatus::default()
        })
    }
}

/// The live counters of one listener.
pub(crate) struct Shared {
    inner: Mutex<Inner>,
}

impl Shared {
    pub fn new(source: &str, listen: &str) -> Shared {
        Shared {
            inner: Mutex::new(Inner {
                status: ListenerStatus {
                    source: source.to_owned(),
                    listen: listen.to_owned(),
                    ..ListenerStatus::default()
                },
                peers: HashMap::new(),
                other: PeerStatus {
                    peer: "other".into(),
                    ..PeerStatus::default()
                },
            }),
        }
    }

    fn with<R>(&self, f: impl FnOnce(&mut Inner) -> R) -> R {
        // A panic elsewhere while holding the lock leaves counters, not invariants: go on.
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut g)
    }

    /// Batches of records made durable by one fsync; `last_time` is the time of the newest.
    pub fn stored(&self, batches: impl Iterator<Item = Tally>, last_time: &str, wal_file: &str) {
        self.with(|s| {
            for t in batches {
                s.status.pieces += t.pieces;
                s.status.messages += t.messages;
                s.status.oversize += t.oversize;
                s.status.cut += t.cut;
                s.status.bytes += t.bytes;
                let p = s.peer(t.peer);
                p.bytes += t.bytes;
                p.messages += t.messages;
                p.oversize += t.oversize;
                p.cut += t.cut;
                if p.last != last_time {
                    last_time.clone_into(&mut p.last);
                }
            }
            if s.status.wal_file != wal_file {
                wal_file.clone_into(&mut s.status.wal_file);
            }
        });
    }

    pub fn wal_file(&self, name: &str) {
        self.with(|s| name.clone_into(&mut s.status.wal_file));
    }

    pub fn connection_opened(&self, ip: IpAddr) {
        self.with(|s| {
            s.status.connections += 1;
            s.status.open_connections += 1;
            let p = s.peer(Some(ip));
            p.connections += 1;
            p.open_connections += 1;
        });
    }

    pub fn connection_closed(&self, ip: IpAddr, framing_errors: u64, empty_frames: u64) {
        self.with(|s| {
            s.status.open_connections = s.status.open_connections.saturating_sub(1);
            s.status.framing_errors += framing_errors;
            s.status.empty_frames += empty_frames;
            let p = s.peer(Some(ip));
            p.open_connections = p.open_connections.saturating_sub(1);
        });
    }

    pub fn at_limit(&self) {
        self.with(|s| s.status.at_limit += 1);
    }

    pub fn idle_closed(&self) {
        self.with(|s| s.status.idle_closed += 1);
    }

    pub fn resent(&self, n: u64) {
        self.with(|s| s.status.resent += n);
    }

    pub fn protocol_error(&self) {
        self.with(|s| s.status.protocol_errors += 1);
    }

    pub fn tls_failure(&self) {
        self.with(|s| s.status.tls_failures += 1);
    }

    pub fn udp(&self, u: UdpStatus) {
        self.with(|s| s.status.udp = Some(u));
    }

    /// A snapshot, peers busiest first.
    pub fn snapshot(&self) -> ListenerStatus {
        self.with(|s| {
            let mut st = s.status.clone();
            st.peers = s.peers.values().cloned().collect();
            if s.other.messages > 0 || s.other.connections > 0 {
                st.peers.push(s.other.clone());
            }
            st.peers
                .sort_by(|a, b| b.messages.cmp(&a.messages).then(a.peer.cmp(&b.peer)));
            st
        })
    }
}
