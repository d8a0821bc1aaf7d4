//! RFC 6587 framing of syslog over a byte stream (TCP, TLS), without I/O.
//!
//! Two framings exist on the wire. *Octet counting* sends `LEN SP MSG`; *non-transparent
//! framing* ends each message with LF (some senders CR LF). A [`Framer`] turns the bytes of one
//! connection into [`Frame`]s and never loses a byte of a message:
//!
//! - **Detection per connection.** With [`Framing::Auto`] the first byte of the connection
//!   decides: a digit means octet counting, anything else LF framing, for the rest of the
//!   connection. rsyslog decides per frame, which misreads an LF-framed message that happens to
//!   start with a digit (`2026-11-20 ...`, `404 ...`) as a length; a conforming syslog message
//!   starts with `<`, so the first frame decides reliably and later frames may start with
//!   anything. A listener can also fix the framing.
//! - **Framing errors** (an octet-counted connection whose next frame does not start with
//!   `DIGITS SP`) switch the connection to LF framing; the bytes that failed to parse as a
//!   length become the start of the next message. Counted, never dropped.
//! - **Oversize messages** (longer than the maximum) are cut into pieces of at most the
//!   maximum, marked with their position ([`Part`]), so memory stays bounded and the message
//!   can be put back together.
//! - **End of stream.** Bytes after the last complete frame (a missing final LF, or an
//!   octet-counted frame cut short by a sender that died) are a frame of their own, marked
//!   [`Frame::eof`].
//!
//! The framing bytes themselves (`LEN SP`, the LF, the CR of CR LF) are not part of a frame's
//! body; what the frame's flags say about them is enough to rebuild the wire bytes.

use std::mem;

/// How a listener expects messages to be framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Framing {
    /// Decided by the first byte of each connection (a digit: octet counting).
    #[default]
    Auto,
    /// Octet counting (RFC 6587 3.4.1, RFC 5425).
    OctetCounted,
    /// LF-terminated (RFC 6587 3.4.2).
    Lf,
}

/// How one frame ended on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delim {
    /// `LEN SP` before the body.
    OctetCounted,
    /// LF after the body (or nothing, when [`Frame::eof`]).
    Lf,
    /// CR LF after the body; the CR is not in the body.
    CrLf,
    /// A datagram: no framing at all.
    Datagram,
}

/// The position of a piece of a message longer than the maximum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// Piece `index` (from 1) of `total`.
    Of {
        /// Position, from 1.
        index: u32,
        /// Number of pieces.
        total: u32,
    },
    /// Piece `index` (from 1) of a message whose length is not known yet: more follows.
    More {
        /// Position, from 1.
        index: u32,
    },
}

/// One message (or piece of one) as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The message bytes, raw.
    pub body: Vec<u8>,
    /// How it was delimited.
    pub delim: Delim,
    /// The stream ended before the frame did (no final LF; fewer bytes than announced).
    pub eof: bool,
    /// For an octet-counted frame cut short by the end of the stream: the announced length.
    pub want: Option<u64>,
    /// Set when the message was longer than the maximum and this is one piece of it.
    pub part: Option<Part>,
}

/// A [`Frame`] lent to a callback: its body borrows from the bytes just pushed when the whole
/// frame is among them, else from the framer's buffer. The listeners use this form, so that a
/// message is copied once, from the read buffer into the write-ahead log batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameRef<'a> {
    /// The message bytes, raw.
    pub body: &'a [u8],
    /// How it was delimited.
    pub delim: Delim,
    /// The stream ended before the frame did.
    pub eof: bool,
    /// For an octet-counted frame cut short by the end of the stream: the announced length.
    pub want: Option<u64>,
    /// Set for a piece of an oversize message.
    pub part: Option<Part>,
}

impl FrameRef<'_> {
    /// An owned copy.
    pub fn to_frame(&self) -> Frame {
        Frame {
            body: self.body.to_vec(),
            delim: self.delim,
            eof: self.eof,
            want: self.want,
            part: self.part,
        }
    }
}

impl Frame {
    /// Lend this frame.
    pub fn lend(&self) -> FrameRef<'_> {
        FrameRef {
            body: &self.body,
            delim: self.delim,
            eof: self.eof,
            want: self.want,
            part: self.part,
        }
    }
}

/// Counters a framer keeps about what it saw.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FramerStats {
    /// Times an octet-counted connection sent something that is not `DIGITS SP`.
    pub framing_errors: u64,
    /// Empty LF frames (a bare LF or CR LF): nothing to store.
    pub empty_frames: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Undecided,
    Octet,
    Lf,
}

#[derive(Debug)]
enum State {
    /// Between frames.
    Start,
    /// Reading the digits of an octet count (kept in `buf`).
    Count { value: u64 },
    /// Inside an octet-counted body.
    Body { total: u64, remaining: u64 },
    /// Inside an LF-terminated line.
    Line,
}

/// At most this many digits in an octet count (a length of up to 9,999,999,999 bytes); more is a
/// framing error rather than an overflow.
const MAX_COUNT_DIGITS: usize = 10;

/// A framer's buffer keeps its allocation between frames up to this size; a larger one (an
/// oversize message's piece) is freed, so an idle connection holds little memory.
const KEEP_BUF: usize = 64 * 1024;

/// Splits one connection's bytes into frames. See the module documentation.
#[derive(Debug)]
pub struct Framer {
    mode: Mode,
    max: usize,
    state: State,
    buf: Vec<u8>,
    /// Pieces of the current message already emitted.
    pieces: u32,
    stats: FramerStats,
}

impl Framer {
    /// A framer for one connection; bodies longer than `max` bytes (at least 1) are cut.
    pub fn new(framing: Framing, max: usize) -> Framer {
        Framer {
            mode: match framing {
                Framing::Auto => Mode::Undecided,
                Framing::OctetCounted => Mode::Octet,
                Framing::Lf => Mode::Lf,
            },
            max: max.max(1),
            state: State::Start,
            buf: Vec::new(),
            pieces: 0,
            stats: FramerStats::default(),
        }
    }

    /// What was counted so far.
    pub fn stats(&self) -> FramerStats {
        self.stats
    }

    /// Feed the next bytes of the stream; complete frames are appended to `out`.
    pub fn push(&mut self, data: &[u8], out: &mut Vec<Frame>) {
        self.push_with(data, &mut |f: FrameRef<'_>| out.push(f.to_frame()));
    }

    /// The stream ended: whatever is buffered becomes a last frame marked `eof`.
    pub fn finish(&mut self, out: &mut Vec<Frame>) {
        self.finish_with(&mut |f: FrameRef<'_>| out.push(f.to_frame()));
    }

    /// Feed the next bytes of the stream; `out` is called with each complete frame, in order.
    pub fn push_with(&mut self, mut data: &[u8], out: &mut impl FnMut(FrameRef<'_>)) {
        while !data.is_empty() {
            match self.state {
                State::Start => {
                    let b = data[0];
                    if self.mode == Mode::Undecided {
                        self.mode = if b.is_ascii_digit() {
                            Mode::Octet
                        } else {
                            Mode::Lf
                        };
                    }
                    self.pieces = 0;
                    if self.mode == Mode::Octet && b.is_ascii_digit() {
                        self.state = State::Count { value: 0 };
                    } else {
                        if self.mode == Mode::Octet {
                            self.framing_error();
                        }
                        self.state = State::Line;
                    }
                }
                State::Count { value } => {
                    let b = data[0];
                    if b.is_ascii_digit() && self.buf.len() < MAX_COUNT_DIGITS {
                        self.buf.push(b);
                        self.state = State::Count {
                            value: value * 10 + u64::from(b - b'0'),
                        };
                        data = &data[1..];
                    } else if b == b' ' && value > 0 {
                        self.buf.clear();
                        self.state = State::Body {
                            total: value,
                            remaining: value,
                        };
                        data = &data[1..];
                    } else {
                        // Not `DIGITS SP`: the digits were the start of an LF-framed message.
                        self.framing_error();
                        self.state = State::Line;
                    }
                }
                State::Body { total, remaining } => {
                    let room = self.max - self.buf.len();
                    let n = (remaining.min(data.len() as u64) as usize).min(room);
                    let remaining = remaining - n as u64;
                    let pieces = total.div_ceil(self.max as u64).min(u64::from(u32::MAX)) as u32;
                    // A piece is complete when the body ends or the piece is full.
                    let complete = remaining == 0 || n == room;
                    let part = if remaining == 0 {
                        (pieces > 1).then_some(Part::Of {
                            index: self.pieces + 1,
                            total: pieces,
                        })
                    } else {
                        Some(Part::Of {
                            index: self.pieces + 1,
                            total: pieces,
                        })
                    };
                    if complete && self.buf.is_empty() {
                        // All of it is in `data`: lend it from there.
                        out(FrameRef {
                            body: &data[..n],
                            delim: Delim::OctetCounted,
                            eof: false,
                            want: None,
                            part,
                        });
                    } else {
                        self.buf.extend_from_slice(&data[..n]);
                        if complete {
                            self.emit(Delim::OctetCounted, false, None, part, out);
                        }
                    }
                    data = &data[n..];
                    if remaining == 0 {
                        self.state = State::Start;
                    } else {
                        if complete {
                            self.pieces += 1;
                        }
                        self.state = State::Body { total, remaining };
                    }
                }
                State::Line => match memchr::memchr(b'\n', data) {
                    Some(i) => {
                        let line = &data[..i];
                        data = &data[i + 1..];
                        if self.buf.is_empty() && self.pieces == 0 {
                            // The whole line is in `data`: lend it unless it is oversize.
                            let (body, delim) = match line.strip_suffix(b"\r") {
                                Some(b) => (b, Delim::CrLf),
                                None => (line, Delim::Lf),
                            };
                            if body.is_empty() {
                                self.stats.empty_frames += 1;
                                self.state = State::Start;
                                continue;
                            }
                            if body.len() <= self.max {
                                out(FrameRef {
                                    body,
                                    delim,
                                    eof: false,
                                    want: None,
                                    part: None,
                                });
                                self.state = State::Start;
                                continue;
                            }
                        }
                        self.buf.extend_from_slice(line);
                        let delim = if self.buf.last() == Some(&b'\r') {
                            self.buf.pop();
                            Delim::CrLf
                        } else {
                            Delim::Lf
                        };
                        self.cut_line_pieces(0, out);
                        if self.buf.is_empty() && self.pieces == 0 {
                            self.stats.empty_frames += 1;
                        } else {
                            let part = (self.pieces > 0).then_some(Part::Of {
                                index: self.pieces + 1,
                                total: self.pieces + 1,
                            });
                            self.emit(delim, false, None, part, out);
                        }
                        self.state = State::Start;
                    }
                    None => {
                        self.buf.extend_from_slice(data);
                        data = &[];
                        // Two bytes stay back: with a CR among them, the last piece still
                        // holds a byte once the CR of a CR LF is taken off.
                        self.cut_line_pieces(1, out);
                    }
                },
            }
        }
    }

    /// The stream ended: whatever is buffered becomes a last frame marked `eof`, given to `out`.
    pub fn finish_with(&mut self, out: &mut impl FnMut(FrameRef<'_>)) {
        match mem::replace(&mut self.state, State::Start) {
            State::Start => {}
            State::Body { total, .. } => {
                let pieces = total.div_ceil(self.max as u64).min(u64::from(u32::MAX)) as u32;
                let part = (pieces > 1).then_some(Part::Of {
                    index: self.pieces + 1,
                    total: pieces,
                });
                self.emit(Delim::OctetCounted, true, Some(total), part, out);
            }
            // Only part of a length arrived: those bytes are kept as they are, an unterminated
            // line (cut like one when the maximum is shorter than the digits).
            State::Count { .. } | State::Line => {
                self.cut_line_pieces(0, out);
                if !self.buf.is_empty() || self.pieces > 0 {
                    let part = (self.pieces > 0).then_some(Part::Of {
                        index: self.pieces + 1,
                        total: self.pieces + 1,
                    });
                    self.emit(Delim::Lf, true, None, part, out);
                }
            }
        }
        self.pieces = 0;
    }

    /// An LF line longer than the maximum: emit full pieces while more than `max + spare`
    /// bytes are buffered, so the last piece of a message is never empty. Pieces start at
    /// multiples of the maximum however the stream was chunked.
    fn cut_line_pieces(&mut self, spare: usize, out: &mut impl FnMut(FrameRef<'_>)) {
        while self.buf.len() > self.max + spare {
            self.pieces += 1;
            out(FrameRef {
                body: &self.buf[..self.max],
                delim: Delim::Lf,
                eof: false,
                want: None,
                part: Some(Part::More { index: self.pieces }),
            });
            self.buf.drain(..self.max);
        }
    }

    /// Lend the buffer as a frame, then empty it.
    fn emit(
        &mut self,
        delim: Delim,
        eof: bool,
        want: Option<u64>,
        part: Option<Part>,
        out: &mut impl FnMut(FrameRef<'_>),
    ) {
        out(FrameRef {
            body: &self.buf,
            delim,
            eof,
            want,
            part,
        });
        self.buf.clear();
        if self.buf.capacity() > KEEP_BUF {
            self.buf = Vec::new();
        }
    }

    fn framing_error(&mut self) {
        self.stats.framing_errors += 1;
        self.mode = Mode::Lf;
    }
}

/// Cut one datagram (or any complete message) into pieces of at most `max` bytes.
pub fn datagram(body: &[u8], max: usize) -> Vec<Frame> {
    let mut v = Vec::new();
    datagram_with(body, max, &mut |f: FrameRef<'_>| v.push(f.to_frame()));
    v
}

/// [`datagram`], lending each piece to `out`.
pub fn datagram_with(body: &[u8], max: usize, out: &mut impl FnMut(FrameRef<'_>)) {
    let max = max.max(1);
    if body.len() <= max {
        out(FrameRef {
            body,
            delim: Delim::Datagram,
            eof: false,
            want: None,
            part: None,
        });
        return;
    }
    let total = body.len().div_ceil(max) as u32;
    for (i, c) in body.chunks(max).enumerate() {
        out(FrameRef {
            body: c,
            delim: Delim::Datagram,
            eof: false,
            want: None,
            part: Some(Part::Of {
                index: i as u32 + 1,
                total,
            }),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Frame `input` fed in pieces of every size from 1 to 7 bytes, of 64 bytes, and whole
    /// (where frames are lent from the input rather than copied); all must agree.
    fn frames(framing: Framing, max: usize, input: &[u8]) -> Vec<Frame> {
        let mut first: Option<Vec<Frame>> = None;
        for step in (1..=7).chain([64, input.len().max(1)]) {
            let mut f = Framer::new(framing, max);
            let mut out = Vec::new();
            for c in input.chunks(step) {
                f.push(c, &mut out);
            }
            f.finish(&mut out);
            match &first {
                None => first = Some(out),
                Some(x) => assert_eq!(x, &out, "step {step}"),
            }
        }
        first.unwrap_or_default()
    }

    fn bodies(framing: Framing, max: usize, input: &[u8]) -> Vec<(Vec<u8>, Delim, bool)> {
        frames(framing, max, input)
            .into_iter()
            .map(|f| (f.body, f.delim, f.eof))
            .collect()
    }

    fn b(s: &[u8], d: Delim, eof: bool) -> (Vec<u8>, Delim, bool) {
        (s.to_vec(), d, eof)
    }

    #[test]
    fn lf_framing_keeps_every_byte_and_strips_only_the_trailer() {
        use Delim::*;
        assert_eq!(
            bodies(Framing::Auto, 100, b"<13>a\n<13>b\r\n\n<13>\0\xff\ntail"),
            vec![
                b(b"<13>a", Lf, false),
                b(b"<13>b", CrLf, false),
                b(b"<13>\0\xff", Lf, false),
                b(b"tail", Lf, true),
            ]
        );
    }

    #[test]
    fn octet_counting_with_bodies_holding_lf_and_digits() {
        use Delim::*;
        assert_eq!(
            bodies(Framing::Auto, 100, b"5 a\nb\nc3 123"),
            vec![
                b(b"a\nb\nc", OctetCounted, false),
                b(b"123", OctetCounted, false)
            ]
        );
    }

    #[test]
    fn an_lf_connection_may_send_messages_starting_with_digits() {
        use Delim::*;
        assert_eq!(
            bodies(Framing::Auto, 100, b"<13>x\n123 abc\n2026-11-20 y\n"),
            vec![
                b(b"<13>x", Lf, false),
                b(b"123 abc", Lf, false),
                b(b"2026-11-20 y", Lf, false)
            ]
        );
        assert_eq!(
            bodies(Framing::Lf, 100, b"12 ab\n"),
            vec![b(b"12 ab", Lf, false)]
        );
    }

    #[test]
    fn a_framing_error_switches_to_lf_and_keeps_the_bytes() {
        use Delim::*;
        let mut f = Framer::new(Framing::Auto, 100);
        let mut out = Vec::new();
        f.push(b"3 abc12x34\nnext\n", &mut out);
        f.finish(&mut out);
        let got: Vec<_> = out.into_iter().map(|f| (f.body, f.delim, f.eof)).collect();
        assert_eq!(
            got,
            vec![
                b(b"abc", OctetCounted, false),
                b(b"12x34", Lf, false),
                b(b"next", Lf, false)
            ]
        );
        assert_eq!(f.stats().framing_errors, 1);
        // A zero length is an error too, as is a length without its space.
        assert_eq!(
            bodies(Framing::OctetCounted, 100, b"0 x\n"),
            vec![b(b"0 x", Lf, false)]
        );
        assert_eq!(
            bodies(Framing::OctetCounted, 100, b"12345678901 x\n"),
            vec![b(b"12345678901 x", Lf, false)]
        );
    }

    #[test]
    fn a_stream_cut_mid_frame_keeps_what_arrived() {
        let got = frames(Framing::Auto, 100, b"10 abcd");
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].body, b"abcd");
        assert!(got[0].eof);
        assert_eq!(got[0].want, Some(10));
        assert_eq!(got[0].delim, Delim::OctetCounted);
        // Cut inside the length: the digits themselves are kept.
        let got = frames(Framing::Auto, 100, b"3 abc12");
        assert_eq!(got[1].body, b"12");
        assert!(got[1].eof);
        // A complete frame then nothing: no extra frame.
        assert_eq!(frames(Framing::Auto, 100, b"3 abc").len(), 1);
    }

    #[test]
    fn oversize_octet_frames_come_in_numbered_pieces() {
        let got = frames(Framing::Auto, 4, b"10 0123456789<1>x\n");
        let parts: Vec<_> = got.iter().map(|f| (f.body.clone(), f.part)).collect();
        assert_eq!(
            parts[..3],
            [
                (b"0123".to_vec(), Some(Part::Of { index: 1, total: 3 })),
                (b"4567".to_vec(), Some(Part::Of { index: 2, total: 3 })),
                (b"89".to_vec(), Some(Part::Of { index: 3, total: 3 })),
            ]
        );
        // The next frame starts with `<`: a framing error, kept as an LF line.
        assert_eq!(got[3].body, b"<1>x");
        // Exactly a multiple of the maximum.
        let got = frames(Framing::Auto, 4, b"8 01234567");
        assert_eq!(got.len(), 2);
        assert_eq!(got[1].part, Some(Part::Of { index: 2, total: 2 }));
    }

    #[test]
    fn oversize_lines_come_in_pieces_whose_last_one_is_never_empty() {
        let got = frames(Framing::Lf, 4, b"abcdefgh\r\nxy\n");
        let parts: Vec<_> = got
            .iter()
            .map(|f| (f.body.clone(), f.part, f.delim))
            .collect();
        assert_eq!(
            parts,
            vec![
                (b"abcd".to_vec(), Some(Part::More { index: 1 }), Delim::Lf),
                (
                    b"efgh".to_vec(),
                    Some(Part::Of { index: 2, total: 2 }),
                    Delim::CrLf
                ),
                (b"xy".to_vec(), None, Delim::Lf),
            ]
        );
        // Cut by the end of the stream.
        let got = frames(Framing::Lf, 4, b"abcdefghi");
        assert_eq!(got.len(), 3);
        assert_eq!(got[2].body, b"i");
        assert!(got[2].eof);
        assert_eq!(got[2].part, Some(Part::Of { index: 3, total: 3 }));
    }

    #[test]
    fn frames_lent_from_the_input_equal_frames_copied() {
        let mut input = Vec::new();
        let mut all: Vec<u8> = Vec::new();
        let mut pieces = 0;
        for i in 0..50usize {
            let body: Vec<u8> = (0..(i * 7) % 23 + 1).map(|k| (k * 31 + i) as u8).collect();
            input.extend(format!("{} ", body.len()).as_bytes());
            input.extend(&body);
            all.extend(&body);
            pieces += body.len().div_ceil(10);
        }
        let oc = frames(Framing::OctetCounted, 10, &input);
        assert_eq!(oc.len(), pieces, "pieces of the ones over 10 bytes");
        assert_eq!(
            oc.iter().flat_map(|f| f.body.clone()).collect::<Vec<u8>>(),
            all
        );
        let lf: Vec<u8> = b"a\r\n\nbcdefghijklmnop\nq\r\n0123456789\r\nxyz".to_vec();
        let got = frames(Framing::Lf, 10, &lf);
        let bodies: Vec<&[u8]> = got.iter().map(|f| &f.body[..]).collect();
        assert_eq!(
            bodies,
            [
                &b"a"[..],
                b"bcdefghijk",
                b"lmnop",
                b"q",
                b"0123456789",
                b"xyz"
            ]
        );
    }

    #[test]
    fn empty_lines_are_counted_not_stored() {
        let mut f = Framer::new(Framing::Lf, 10);
        let mut out = Vec::new();
        f.push(b"\n\r\na\n", &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(f.stats().empty_frames, 2);
    }

    /// Found by the `syslog_stream` fuzz target: a stream that ended inside an octet count
    /// gave its digits as one frame, longer than a maximum shorter than the digits.
    #[test]
    fn a_count_cut_by_the_end_is_cut_to_the_maximum() {
        use Delim::*;
        let f = frames(Framing::Auto, 1, b"23");
        assert_eq!(
            f.iter()
                .map(|f| (&f.body[..], f.delim, f.eof, f.part))
                .collect::<Vec<_>>(),
            vec![
                (&b"2"[..], Lf, false, Some(Part::More { index: 1 })),
                (&b"3"[..], Lf, true, Some(Part::Of { index: 2, total: 2 })),
            ]
        );
    }

    #[test]
    fn datagrams_are_cut_only_when_oversize() {
        assert_eq!(datagram(b"abc", 3).len(), 1);
        let d = datagram(b"abcdefg", 3);
        assert_eq!(d.len(), 3);
        assert_eq!(d[2].body, b"g");
        assert_eq!(d[2].part, Some(Part::Of { index: 3, total: 3 }));
    }
}
