//! The listeners' input path without sockets, clocks or files, for the fuzz targets in `fuzz/`
//! (`docs/FUZZING.md`): the same calls, in the same order and with the same feed size, that a
//! TCP or TLS connection and a UDP datagram make in `net.rs`, writing the write-ahead log
//! records into a buffer instead of a file. Not a stable interface.

use crate::framing::{self, Framer, FramerStats, Framing};
use crate::net::FEED_BYTES;
use crate::wal::{self, Tally};
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, SystemTime};

/// The fixed addresses and time written into every record header (the real ones vary).
fn head(out: &mut Vec<u8>, transport: &str) {
    let local = SocketAddr::from((Ipv4Addr::LOCALHOST, 514));
    let peer = SocketAddr::from((Ipv4Addr::LOCALHOST, 40000));
    let time = SystemTime::UNIX_EPOCH + Duration::from_secs(1_790_000_000);
    wal::write_head(out, time, transport, local, Some(peer));
}

/// One connection that delivered `reads` (each one `read` of the socket) and then ended: the
/// write-ahead log records it leaves, and its framer's counters.
pub fn stream(framing: Framing, max: usize, reads: &[&[u8]]) -> (Vec<u8>, FramerStats) {
    let mut framer = Framer::new(framing, max);
    let mut out = Vec::new();
    let mut head_buf = Vec::new();
    let mut tally = Tally::new(Some(Ipv4Addr::LOCALHOST.into()));
    for read in reads {
        head(&mut head_buf, "tcp");
        for chunk in read.chunks(FEED_BYTES) {
            framer.push_with(chunk, &mut |f| {
                wal::encode(&mut out, &mut tally, &head_buf, &f)
            });
        }
    }
    head(&mut head_buf, "tcp");
    framer.finish_with(&mut |f| wal::encode(&mut out, &mut tally, &head_buf, &f));
    (out, framer.stats())
}

/// One UDP datagram: the write-ahead log records it leaves.
pub fn datagram(data: &[u8], max: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let mut head_buf = Vec::new();
    let mut tally = Tally::new(Some(Ipv4Addr::LOCALHOST.into()));
    head(&mut head_buf, "udp");
    framing::datagram_with(data, max, &mut |f| {
        wal::encode(&mut out, &mut tally, &head_buf, &f)
    });
    out
}
