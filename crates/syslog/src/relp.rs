//! RELP, the Reliable Event Logging Protocol of rsyslog's `omrelp`: the server side, without
//! I/O. A client sends frames `TXNR SP COMMAND SP DATALEN [SP DATA] LF`; the server answers
//! each with `TXNR rsp DATALEN SP CODE [SP TEXT] [LF OFFERS] LF`. logkeep knows the commands
//! `open` (answered with its offers), `syslog` (one message, answered once it is durable),
//! `close` (answered, then the connection ends) and sends `serverclose` when it stops.
//!
//! Everything here is plain data in, frames out:
//!
//! ```
//! use logkeep_syslog::relp::{Command, Parser};
//! let mut p = Parser::new(1024);
//! p.push(b"1 open 14 relp_version=0\n2 syslog 5 hello\n3 clo");
//! let f = p.next_frame().unwrap().unwrap();
//! assert_eq!((f.txnr, f.command), (1, Command::Open));
//! let f = p.next_frame().unwrap().unwrap();
//! assert_eq!((f.txnr, &f.command, p.data(&f)), (2, &Command::Syslog, &b"hello"[..]));
//! assert!(p.next_frame().unwrap().is_none()); // the third frame is not complete yet
//! ```

use std::collections::{HashMap, VecDeque};
use std::hash::{Hash, Hasher};
use std::net::IpAddr;
use std::ops::Range;
use std::sync::Mutex;

/// Transaction numbers and data lengths have at most this many digits.
const MAX_DIGITS: usize = 9;
/// A command name has at most this many letters.
const MAX_COMMAND: usize = 32;

/// A RELP command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Start of a session; its data are the client's offers.
    Open,
    /// One syslog message.
    Syslog,
    /// The client ends the session.
    Close,
    /// Anything else (answered with `500`).
    Other(String),
}

/// One complete frame; its data are [`Parser::data`] until the next call of
/// [`Parser::next_frame`] or [`Parser::push`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// Transaction number.
    pub txnr: u64,
    /// Command.
    pub command: Command,
    data: Range<usize>,
}

/// Splits a byte stream into RELP frames. Holds at most one incomplete frame plus the last
/// read; a frame whose data are longer than the limit is an error.
pub struct Parser {
    buf: Vec<u8>,
    /// Where the next frame starts in `buf`.
    start: usize,
    max_data: usize,
}

impl Parser {
    /// A parser that refuses frames with more than `max_data` bytes of data.
    pub fn new(max_data: usize) -> Parser {
        Parser {
            buf: Vec::new(),
            start: 0,
            max_data,
        }
    }

    /// Append bytes read from the stream.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes received and not yet part of a returned frame.
    pub fn pending(&self) -> usize {
        self.buf.len() - self.start
    }

    /// The data of `f`, the frame returned last.
    pub fn data(&self, f: &Frame) -> &[u8] {
        &self.buf[f.data.clone()]
    }

    /// The next complete frame; `None` when more bytes are needed. An error says what is
    /// wrong; the stream cannot be read further then.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, String> {
        let b = &self.buf[self.start..];
        let base = self.start;
        let Some((txnr, mut p)) = number(b, 0, "transaction number")? else {
            return Ok(None);
        };
        let Some(&sep) = b.get(p) else {
            return Ok(None);
        };
        if sep != b' ' {
            return Err(format!(
                "transaction number {txnr} is not followed by a space"
            ));
        }
        p += 1;
        let cmd_start = p;
        while p < b.len() && b[p].is_ascii_alphabetic() {
            p += 1;
            if p - cmd_start > MAX_COMMAND {
                return Err(format!(
                    "transaction {txnr}: command longer than {MAX_COMMAND} letters"
                ));
            }
        }
        let Some(&sep) = b.get(p) else {
            return Ok(None);
        };
        if sep != b' ' || p == cmd_start {
            return Err(format!(
                "transaction {txnr}: the command is not letters followed by a space"
            ));
        }
        let command = match &b[cmd_start..p] {
            b"open" => Command::Open,
            b"syslog" => Command::Syslog,
            b"close" => Command::Close,
            other => Command::Other(String::from_utf8_lossy(other).into_owned()),
        };
        p += 1;
        let Some((len, mut q)) = number(b, p, "data length")? else {
            return Ok(None);
        };
        let len = len as usize;
        if len > self.max_data {
            return Err(format!(
                "transaction {txnr}: {len} bytes of data, more than the {} accepted",
                self.max_data
            ));
        }
        let Some(&c) = b.get(q) else { return Ok(None) };
        let data = match c {
            // No data: the trailer may follow the length directly.
            b'\n' if len == 0 => q..q,
            b' ' => {
                q += 1;
                if b.len() < q + len + 1 {
                    return Ok(None);
                }
                if b[q + len] != b'\n' {
                    return Err(format!(
                        "transaction {txnr}: the frame does not end with LF after its {len} bytes of data"
                    ));
                }
                q..q + len
            }
            _ => {
                return Err(format!(
                    "transaction {txnr}: the data length is not followed by a space"
                ));
            }
        };
        self.start = base + data.end + 1;
        Ok(Some(Frame {
            txnr,
            command,
            data: base + data.start..base + data.end,
        }))
    }
}

/// Parse 1 to 9 decimal digits at `at`; `None` if the bytes end first.
fn number(b: &[u8], at: usize, what: &str) -> Result<Option<(u64, usize)>, String> {
    let mut p = at;
    let mut n: u64 = 0;
    while p < b.len() && b[p].is_ascii_digit() {
        n = n * 10 + u64::from(b[p] - b'0');
        p += 1;
        if p - at > MAX_DIGITS {
            return Err(format!("{what} longer than {MAX_DIGITS} digits"));
        }
    }
    if p == b.len() {
        return Ok(None);
    }
    if p == at {
        return Err(format!("{what} expected, found byte 0x{:02x}", b[p]));
    }
    Ok(Some((n, p)))
}

/// Append the response `TXNR rsp LEN CODE TEXT[\nEXTRA]\n`.
pub fn respond(out: &mut Vec<u8>, txnr: u64, code: u16, text: &str, extra: &str) {
    let mut data = format!("{code} {text}");
    if !extra.is_empty() {
        data.push('\n');
        data.push_str(extra);
    }
    out.extend_from_slice(format!("{txnr} rsp {} {data}\n", data.len()).as_bytes());
}

/// The answer to `open`: logkeep speaks RELP version 0 and the `syslog` command.
pub fn open_offers() -> String {
    format!(
        "relp_version=0\nrelp_software=logkeep,{},-\ncommands=syslog",
        env!("CARGO_PKG_VERSION")
    )
}

/// What the server sends before it closes a session itself.
pub const SERVERCLOSE: &[u8] = b"0 serverclose 0\n";

/// Messages remembered per sending host, at most: more than a client has unanswered (rsyslog's
/// default window is 128).
pub const RECENT: usize = 1024;
/// Hosts remembered, at most.
const RECENT_PEERS: usize = 1024;

/// The fingerprints of the last messages stored from each host, to recognise the ones a
/// client sends again after a session ended before their answer reached it (the process was
/// killed after the fsync, or the connection broke). A client sends those first when it
/// reconnects, so only the start of a session is compared.
#[derive(Default)]
pub struct Recent {
    peers: Mutex<HashMap<IpAddr, VecDeque<u64>>>,
}

/// The fingerprint of a message body.
pub fn fingerprint(body: &[u8]) -> u64 {
    let mut h = std::hash::DefaultHasher::new();
    body.hash(&mut h);
    h.finish()
}

impl Recent {
    /// Remember stored messages of `peer`.
    pub fn add(&self, peer: IpAddr, prints: impl IntoIterator<Item = u64>) {
        let mut m = self.peers.lock().unwrap_or_else(|e| e.into_inner());
        if !m.contains_key(&peer)
            && m.len() >= RECENT_PEERS
            && let Some(k) = m.keys().next().copied()
        {
            m.remove(&k);
        }
        let q = m.entry(peer).or_default();
        for p in prints {
            if q.len() >= RECENT {
                q.pop_front();
            }
            q.push_back(p);
        }
    }

    /// Whether a message with this fingerprint was stored from `peer` lately.
    pub fn contains(&self, peer: IpAddr, print: u64) -> bool {
        let m = self.peers.lock().unwrap_or_else(|e| e.into_inner());
        m.get(&peer).is_some_and(|q| q.contains(&print))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(p: &mut Parser) -> Result<Vec<(u64, Command, Vec<u8>)>, String> {
        let mut v = Vec::new();
        while let Some(f) = p.next_frame()? {
            let d = p.data(&f).to_vec();
            v.push((f.txnr, f.command, d));
        }
        Ok(v)
    }

    #[test]
    fn frames_split_anywhere_come_out_whole() {
        let wire = b"1 open 14 relp_version=0\n2 syslog 6 a\nb c\n\n3 close 0\n4 syslog 0 \n";
        for cut in 0..wire.len() {
            let mut p = Parser::new(64);
            p.push(&wire[..cut]);
            let mut got = all(&mut p).expect("first part");
            p.push(&wire[cut..]);
            got.extend(all(&mut p).expect("second part"));
            assert_eq!(
                got,
                vec![
                    (1, Command::Open, b"relp_version=0".to_vec()),
                    (2, Command::Syslog, b"a\nb c\n".to_vec()),
                    (3, Command::Close, Vec::new()),
                    (4, Command::Syslog, Vec::new()),
                ],
                "cut at {cut}"
            );
            assert_eq!(p.pending(), 0);
        }
    }

    #[test]
    fn bad_frames_are_errors_that_say_why() {
        for (wire, says) in [
            (&b"x open 0\n"[..], "transaction number expected"),
            (b"1234567890 open 0\n", "longer than 9 digits"),
            (b"1 op3n 0\n", "not letters"),
            (b"1 syslog 5 hello!\n", "does not end with LF"),
            (b"1 syslog 99 x\n", "more than the 64"),
            (b"1 syslog 2x\n", "not followed by a space"),
        ] {
            let mut p = Parser::new(64);
            p.push(wire);
            let e = p.next_frame().expect_err("an error");
            assert!(e.contains(says), "{wire:?}: {e}");
        }
    }

    #[test]
    fn responses() {
        let mut out = Vec::new();
        respond(&mut out, 7, 200, "OK", "");
        respond(&mut out, 1, 200, "OK", "commands=syslog");
        assert_eq!(out, b"7 rsp 6 200 OK\n1 rsp 22 200 OK\ncommands=syslog\n");
    }

    #[test]
    fn recent_messages_are_remembered_per_host_and_forgotten_in_order() {
        let r = Recent::default();
        let a: IpAddr = "10.0.0.1".parse().expect("ip");
        let b: IpAddr = "10.0.0.2".parse().expect("ip");
        r.add(
            a,
            (0..RECENT as u64 + 1).map(|i| fingerprint(&i.to_le_bytes())),
        );
        assert!(!r.contains(a, fingerprint(&0u64.to_le_bytes())));
        assert!(r.contains(a, fingerprint(&1u64.to_le_bytes())));
        assert!(!r.contains(b, fingerprint(&1u64.to_le_bytes())));
    }
}
