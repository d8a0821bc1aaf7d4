//! What the kernel knows about lost UDP datagrams: the per-socket `drops` column of
//! `/proc/net/udp` and `/proc/net/udp6`, and the host-wide `RcvbufErrors` of `/proc/net/snmp`
//! and `Udp6RcvbufErrors` of `/proc/net/snmp6`.
//!
//! UDP has no flow control: when the receive buffer is full the kernel drops the datagram and
//! counts it. Those counters are the only trace of the loss, so the listener reads them and
//! makes every increase visible (log, status, and a record in the write-ahead log).

use std::fs;

/// Datagrams dropped for the socket with inode `inode` (from `fstat` on the socket).
pub fn socket_drops(inode: u64) -> Option<u64> {
    ["/proc/net/udp", "/proc/net/udp6"]
        .iter()
        .filter_map(|p| fs::read_to_string(p).ok())
        .find_map(|text| drops_in(&text, inode))
}

/// `drops` of the line whose inode column is `inode`, in the text of `/proc/net/udp`.
fn drops_in(text: &str, inode: u64) -> Option<u64> {
    // sl local rem st tx:rx tr:when retrnsmt uid timeout inode ref pointer drops
    text.lines().skip(1).find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.len() >= 13 && f[9].parse::<u64>().ok() == Some(inode) {
            f[12].parse().ok()
        } else {
            None
        }
    })
}

/// The host's UDP receive-buffer errors over IPv4 and IPv6.
pub fn rcvbuf_errors() -> Option<u64> {
    let v4 = fs::read_to_string("/proc/net/snmp")
        .ok()
        .and_then(|t| snmp_field(&t, "Udp:", "RcvbufErrors"));
    let v6 = fs::read_to_string("/proc/net/snmp6").ok().and_then(|t| {
        t.lines().find_map(|l| {
            let mut f = l.split_whitespace();
            (f.next() == Some("Udp6RcvbufErrors"))
                .then(|| f.next()?.parse().ok())
                .flatten()
        })
    });
    match (v4, v6) {
        (None, None) => None,
        (a, b) => Some(a.unwrap_or(0) + b.unwrap_or(0)),
    }
}

/// In `/proc/net/snmp`, a protocol has a line of names and a line of values.
fn snmp_field(text: &str, proto: &str, name: &str) -> Option<u64> {
    let mut lines = text.lines().filter(|l| l.starts_with(proto));
    let names = lines.next()?;
    let values = lines.next()?;
    let i = names.split_whitespace().position(|n| n == name)?;
    values.split_whitespace().nth(i)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_tables() {
        let udp = "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n\
                   1234: 0100007F:3039 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 98765 2 0000000000000000 17\n";
        assert_eq!(drops_in(udp, 98765), Some(17));
        assert_eq!(drops_in(udp, 1), None);
        let snmp = "Udp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors\nUdp: 10 0 3 9 3 0\n";
        assert_eq!(snmp_field(snmp, "Udp:", "RcvbufErrors"), Some(3));
    }

    #[test]
    fn this_host_has_the_counters() {
        // Linux always has them; the per-socket one is tested through a real socket.
        assert!(rcvbuf_errors().is_some());
        let s = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        let ino = rustix::fs::fstat(&s).expect("fstat").st_ino;
        assert_eq!(socket_drops(ino), Some(0));
    }
}
