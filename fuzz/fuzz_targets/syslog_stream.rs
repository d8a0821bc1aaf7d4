//! Syslog over a stream (TCP, TLS): RFC 6587 framing, LF and octet counting, over reads cut
//! at points the fuzzer chooses, and the write-ahead log records the listener makes of it.
//!
//! Checked, beyond "no panic": the frames do not depend on how the stream was cut into reads
//! (one read, the chosen reads, one byte at a time); no frame holds more than the maximum;
//! LF-framed input comes back byte for byte from the frames (bare empty lines aside, which
//! are counted, not stored); and every frame's record reads back from the write-ahead log
//! bytes with the same body and flags.
#![no_main]

use libfuzzer_sys::fuzz_target;
use logkeep_syslog::framing::Framer;
use logkeep_syslog::framing::{Delim, Frame, FramerStats, Framing, Part};
use logkeep_syslog::{fuzzing, wal};

fn frames(framing: Framing, max: usize, reads: &[&[u8]]) -> (Vec<Frame>, FramerStats) {
    let mut framer = Framer::new(framing, max);
    let mut out = Vec::new();
    for r in reads {
        framer.push(r, &mut out);
    }
    framer.finish(&mut out);
    (out, framer.stats())
}

/// The wire bytes of LF-framed frames.
fn rebuild_lf(frames: &[Frame]) -> Vec<u8> {
    let mut v = Vec::new();
    for f in frames {
        v.extend_from_slice(&f.body);
        if f.eof || matches!(f.part, Some(Part::More { .. })) {
            continue;
        }
        match f.delim {
            Delim::Lf => v.push(b'\n'),
            Delim::CrLf => v.extend_from_slice(b"\r\n"),
            d => panic!("LF framing made a frame delimited {d:?}"),
        }
    }
    v
}

/// `stream` without its bare empty lines (LF or CR LF alone).
fn without_empty_lines(stream: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    let mut lines = stream.split(|&b| b == b'\n').peekable();
    while let Some(line) = lines.next() {
        let last = lines.peek().is_none();
        if last {
            v.extend_from_slice(line);
        } else if !line.is_empty() && line != b"\r" {
            v.extend_from_slice(line);
            v.push(b'\n');
        }
    }
    v
}

/// The flags `wal::encode` writes for `f`.
fn flags(f: &Frame) -> Vec<String> {
    let mut v = Vec::new();
    match f.delim {
        Delim::OctetCounted => v.push("oc".to_string()),
        Delim::Lf => v.push("lf".to_string()),
        Delim::CrLf => v.push("crlf".to_string()),
        Delim::Datagram => {}
    }
    if f.eof {
        v.push("eof".to_string());
    }
    if let Some(w) = f.want {
        v.push(format!("want={w}"));
    }
    match f.part {
        None => {}
        Some(Part::Of { index, total }) => v.push(format!("part={index}/{total}")),
        Some(Part::More { index }) => v.push(format!("part={index}+")),
    }
    v
}

fuzz_target!(|data: &[u8]| {
    let Some(s) = logkeep_fuzz::split(data) else {
        return;
    };
    let framing = match s.control & 3 {
        1 => Framing::OctetCounted,
        2 => Framing::Lf,
        _ => Framing::Auto,
    };
    // Small maxima make oversize messages (pieces) common; 0 stands for the default.
    let max = match usize::from(s.control >> 2) {
        0 => logkeep_syslog::DEFAULT_MAX_MESSAGE_BYTES,
        m => m,
    };

    let (whole, whole_stats) = frames(framing, max, &[s.stream]);
    let (cut, cut_stats) = frames(framing, max, &s.reads);
    assert_eq!(whole, cut, "the frames depend on where the reads were cut");
    assert_eq!(whole_stats, cut_stats, "the counters depend on the cuts");
    if s.stream.len() <= 512 {
        let bytes: Vec<&[u8]> = s.stream.chunks(1).collect();
        let (single, _) = frames(framing, max, &bytes);
        assert_eq!(
            whole, single,
            "the frames differ when read one byte at a time"
        );
    }

    let mut body = 0;
    for f in &whole {
        assert!(
            f.body.len() <= max,
            "a frame of {} bytes, max {max}",
            f.body.len()
        );
        assert!(
            !f.body.is_empty() || f.delim == Delim::OctetCounted,
            "an empty frame: {f:?}"
        );
        body += f.body.len();
    }
    assert!(
        body <= s.stream.len(),
        "frames hold more bytes than arrived"
    );
    let lf = framing == Framing::Lf
        || (framing == Framing::Auto && !s.stream.first().is_some_and(u8::is_ascii_digit));
    if lf {
        assert_eq!(
            rebuild_lf(&whole),
            without_empty_lines(s.stream),
            "LF-framed bytes do not come back from the frames"
        );
    }

    let (log, stats) = fuzzing::stream(framing, max, &s.reads);
    assert_eq!(stats, whole_stats);
    let records = wal::read_records(&log).expect("the listener wrote a malformed write-ahead log");
    assert_eq!(records.len(), whole.len(), "one record per frame");
    for (r, f) in records.iter().zip(&whole) {
        assert!(r.complete);
        assert_eq!(r.body, &f.body[..]);
        assert_eq!(r.transport, "tcp");
        assert_eq!(r.flags, flags(f));
    }
});
