//! Journal export streams: what a journal source captures (crates/journal). Each entry is
//! a run of fields ended by an empty line; a text field is `NAME=value\n`, a binary one is
//! `NAME\n`, the value's length as a little-endian `u64`, the value, and `\n`. [`Framer`]
//! finds where entries end in a stream handed over in pieces of any size, without holding
//! it; [`Entry::read`] takes the fields the timeline uses out of one whole entry.

/// Longest entry read for events; a longer one is skipped whole (journald itself cuts
/// messages far shorter, and a bound keeps memory flat).
pub const MAX_ENTRY: usize = 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Phase {
    /// At the start of a field, or of the empty line that ends the entry.
    #[default]
    LineStart,
    /// In a field's first line; `eq` tells whether it had a `=` so far.
    Line { eq: bool },
    /// Reading a binary field's 8 length bytes.
    Len { got: usize },
    /// Reading a binary field's value.
    Data { left: u64 },
    /// The `\n` after a binary value.
    DataLf,
}

/// Where entries end in an export stream read in pieces.
#[derive(Debug, Clone, Default)]
pub struct Framer {
    phase: Phase,
    len: [u8; 8],
}

impl Framer {
    /// Whether the next byte begins an entry (no byte of the current one was read).
    pub fn at_entry_start(&self, entry_len: usize) -> bool {
        self.phase == Phase::LineStart && entry_len == 0
    }

    /// Start again at an entry boundary (after bytes that are not in the input).
    pub fn reset(&mut self) {
        *self = Framer::default();
    }

    /// Read from the start of `data`: how many bytes belong to the current entry, and
    /// whether they end it (its empty line included).
    pub fn step(&mut self, data: &[u8]) -> (usize, bool) {
        let mut i = 0;
        while i < data.len() {
            let rest = &data[i..];
            match self.phase {
                Phase::LineStart => {
                    if rest[0] == b'\n' {
                        return (i + 1, true);
                    }
                    self.phase = Phase::Line { eq: false };
                }
                Phase::Line { eq } => match memchr::memchr(b'\n', rest) {
                    Some(n) => {
                        let eq = eq || memchr::memchr(b'=', &rest[..n]).is_some();
                        self.phase = if eq {
                            Phase::LineStart
                        } else {
                            Phase::Len { got: 0 }
                        };
                        i += n + 1;
                    }
                    None => {
                        let eq = eq || memchr::memchr(b'=', rest).is_some();
                        self.phase = Phase::Line { eq };
                        i = data.len();
                    }
                },
                Phase::Len { got } => {
                    let n = (8 - got).min(rest.len());
                    self.len[got..got + n].copy_from_slice(&rest[..n]);
                    i += n;
                    self.phase = if got + n == 8 {
                        match u64::from_le_bytes(self.len) {
                            0 => Phase::DataLf,
                            left => Phase::Data { left },
                        }
                    } else {
                        Phase::Len { got: got + n }
                    };
                }
                Phase::Data { left } => {
                    let n = left.min(rest.len() as u64);
                    i += n as usize;
                    self.phase = if n == left {
                        Phase::DataLf
                    } else {
                        Phase::Data { left: left - n }
                    };
                }
                Phase::DataLf => {
                    // A stream that is not an export stream here: the byte is taken all the
                    // same, and the entry's fields will not read.
                    i += 1;
                    self.phase = Phase::LineStart;
                }
            }
        }
        (i, false)
    }
}

/// The fields of one entry the timeline reads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Entry<'a> {
    /// `__REALTIME_TIMESTAMP`: microseconds since the epoch, UTC.
    pub realtime: Option<u64>,
    /// `_HOSTNAME`.
    pub hostname: Option<&'a str>,
    /// `SYSLOG_IDENTIFIER`, else `_COMM`.
    pub program: Option<&'a str>,
    /// `MESSAGE` (text or binary), as bytes.
    pub message: Option<&'a [u8]>,
}

impl<'a> Entry<'a> {
    /// Read one whole entry (as [`Framer`] cut it). `None` if its framing is broken.
    pub fn read(entry: &'a [u8]) -> Option<Entry<'a>> {
        let mut e = Entry::default();
        let mut comm = None;
        let mut i = 0;
        while i < entry.len() {
            let rest = &entry[i..];
            let n = memchr::memchr(b'\n', rest)?;
            let line = &rest[..n];
            if line.is_empty() {
                break;
            }
            let (name, value) = match memchr::memchr(b'=', line) {
                Some(q) => {
                    i += n + 1;
                    (&line[..q], &line[q + 1..])
                }
                None => {
                    let at = i + n + 1;
                    let len = entry.get(at..at + 8)?;
                    let len = usize::try_from(u64::from_le_bytes(len.try_into().ok()?)).ok()?;
                    let start = at + 8;
                    let end = start.checked_add(len)?;
                    let value = entry.get(start..end)?;
                    i = end + 1;
                    (line, value)
                }
            };
            let text = || std::str::from_utf8(value).ok();
            match name {
                b"MESSAGE" => e.message = Some(value),
                b"__REALTIME_TIMESTAMP" => e.realtime = text().and_then(|t| t.parse().ok()),
                b"_HOSTNAME" => e.hostname = text(),
                b"SYSLOG_IDENTIFIER" => e.program = text(),
                b"_COMM" => comm = text(),
                _ => {}
            }
        }
        if e.program.is_none() {
            e.program = comm;
        }
        Some(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(fields: &[(&str, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        for (name, value) in fields {
            if value.contains(&b'\n') || value.contains(&0) {
                out.extend_from_slice(name.as_bytes());
                out.push(b'\n');
                out.extend_from_slice(&(value.len() as u64).to_le_bytes());
                out.extend_from_slice(value);
                out.push(b'\n');
            } else {
                out.extend_from_slice(format!("{name}=").as_bytes());
                out.extend_from_slice(value);
                out.push(b'\n');
            }
        }
        out.push(b'\n');
        out
    }

    #[test]
    fn entries_are_cut_whole_however_the_stream_is_handed_over() {
        let a = entry(&[
            ("__REALTIME_TIMESTAMP", b"1764900000000000"),
            ("MESSAGE", b"two\n\nlines\n"),
            ("BLOB", &[0, b'\n', b'\n', b'=', 0xff]),
            ("_COMM", b"sshd"),
        ]);
        let b = entry(&[("MESSAGE", b"Accepted"), ("SYSLOG_IDENTIFIER", b"sshd")]);
        let stream = [a.clone(), b.clone()].concat();
        for piece in [1, 2, 3, 7, 100] {
            let mut f = Framer::default();
            let mut ends = Vec::new();
            let mut pos = 0;
            for chunk in stream.chunks(piece) {
                let mut d = chunk;
                while !d.is_empty() {
                    let (n, done) = f.step(d);
                    pos += n;
                    d = &d[n..];
                    if done {
                        ends.push(pos);
                    }
                }
            }
            assert_eq!(ends, vec![a.len(), a.len() + b.len()], "pieces of {piece}");
        }
        let e = Entry::read(&a).expect("entry");
        assert_eq!(e.realtime, Some(1_764_900_000_000_000));
        assert_eq!(e.message, Some(&b"two\n\nlines\n"[..]));
        assert_eq!(e.program, Some("sshd"));
        let e = Entry::read(&b).expect("entry");
        assert_eq!(
            (e.program, e.message),
            (Some("sshd"), Some(&b"Accepted"[..]))
        );
    }

    #[test]
    fn a_broken_entry_reads_as_none_without_panicking() {
        let a = entry(&[("MESSAGE", b"x\ny")]);
        for cut in 0..a.len() {
            let _ = Entry::read(&a[..cut]);
        }
        let mut huge = b"MESSAGE\n".to_vec();
        huge.extend_from_slice(&u64::MAX.to_le_bytes());
        huge.extend_from_slice(b"abc\n\n");
        assert_eq!(Entry::read(&huge), None);
    }
}
