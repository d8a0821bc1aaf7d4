//! The walk: a [`ChainVisitor`] that follows every captured file generation through the
//! segments in chain order, cuts it into lines (or utmp records, or the syslog write-ahead
//! log's records, or a journal source's export stream entries), and hands each event found to a [`Sink`] with the offset, length and
//! SHA-256 of the bytes that prove it. Memory is bounded: per generation, at most one line
//! of [`MAX_LINE`] bytes is held.

use crate::event::{Clock, Evidence, Kind, TimelineEvent};
use crate::journal::{self, Framer, MAX_ENTRY};
use crate::parse;
use crate::when::Context;
use crate::wtmp;
use logkeep_format::layout;
use logkeep_format::record::{Event, Record};
use logkeep_format::verify::ChainVisitor;
use logkeep_format::{Sha256, Timestamp};
use std::collections::{HashMap, HashSet};
use std::io::{self, Read};

/// Longest line read for events; a longer one is skipped whole (no product writes an event
/// line this long, and a bound keeps memory flat on a 100 MiB line).
pub const MAX_LINE: usize = 64 * 1024;

/// Longest `message` written, in bytes: the evidence holds the whole line, and a bound keeps
/// the report's rows (and a reader's memory) small.
pub const MAX_MESSAGE: usize = 1024;

/// `m` cut to [`MAX_MESSAGE`] bytes at a character boundary, marked with `…` when cut.
fn cut(mut m: String) -> String {
    if m.len() > MAX_MESSAGE {
        let mut at = MAX_MESSAGE;
        while !m.is_char_boundary(at) {
            at -= 1;
        }
        m.truncate(at);
        m.push('…');
    }
    m
}

/// Where events go.
pub trait Sink {
    /// One event, in the order the walk finds them (chain order, then file order).
    fn event(&mut self, e: &TimelineEvent) -> io::Result<()>;
}

/// Which events to keep.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Only events at or after this time.
    pub since: Option<Timestamp>,
    /// Only events at or before this time.
    pub until: Option<Timestamp>,
    /// Only these sources (empty: all).
    pub sources: Vec<String>,
    /// Seconds east of UTC assumed for times written without a zone.
    pub assumed_offset: i32,
}

impl Filter {
    fn takes_source(&self, s: &str) -> bool {
        self.sources.is_empty() || self.sources.iter().any(|x| x == s)
    }

    fn takes_time(&self, t: Timestamp) -> bool {
        self.since.is_none_or(|s| t >= s) && self.until.is_none_or(|u| t <= u)
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Not decided until the first line (text, or the write-ahead log's records).
    Unknown,
    Text,
    Wal,
    Utmp {
        btmp: bool,
    },
    /// A journal source's generation: the journal export stream, one event per entry.
    Journal,
}

/// A write-ahead log record's body being read.
struct Body {
    left: usize,
    start: u64,
    len: u64,
    received: Timestamp,
}

struct Gen {
    source: String,
    path: String,
    gen_id: u64,
    mode: Mode,
    /// The offset the next byte handed over should have.
    next: u64,
    buf: Vec<u8>,
    start: u64,
    /// The current line is longer than [`MAX_LINE`], or began before the bytes we have.
    skip: bool,
    body: Option<Body>,
    eat_lf: bool,
    /// Where entries end ([`Mode::Journal`]).
    framer: Framer,
}

/// The visitor. Build it with [`Walker::new`], walk a verified input with it, then call
/// [`Walker::finish`].
pub struct Walker<'a> {
    filter: Filter,
    sink: &'a mut dyn Sink,
    gens: HashMap<u64, Gen>,
    /// Generations a `journal_file` record said are journal files.
    journal_gens: HashSet<u64>,
    /// Each source's `preset`, from the last `config` record walked.
    presets: HashMap<String, String>,
    cursor: (u64, usize, u64),
    captured: Timestamp,
    /// A segment that did not verify was read in this walk.
    pub damaged: bool,
    /// Events handed to the sink.
    pub events: u64,
    /// The sink's error while a record was handed over (returned by the next call that can).
    record_error: Option<io::Error>,
    /// The store walked, when the input is a store directory (a bundle holds every record as
    /// `chain/N.json`): where a record's bytes are depends on its layout.
    store: Option<std::path::PathBuf>,
}

impl<'a> Walker<'a> {
    /// A walker handing events `filter` keeps to `sink`.
    pub fn new(filter: Filter, sink: &'a mut dyn Sink) -> Walker<'a> {
        Walker {
            filter,
            sink,
            gens: HashMap::new(),
            journal_gens: HashSet::new(),
            presets: HashMap::new(),
            cursor: (0, 0, 0),
            captured: Timestamp::EPOCH,
            damaged: false,
            events: 0,
            record_error: None,
            store: None,
        }
    }

    /// The input is the store directory `root`: a record's evidence names its file there, or
    /// its line in its run's pack (layout 2).
    pub fn in_store(mut self, root: &std::path::Path) -> Self {
        self.store = Some(root.to_owned());
        self
    }

    /// Where record `seq`'s bytes are: its own file, or (layout 2, packed) its pack and the
    /// offset of its line there.
    fn record_place(&self, seq: u64) -> (String, u64) {
        let flat = format!("{}/{}", layout::CHAIN_DIR, layout::record_name(seq));
        let Some(root) = &self.store else {
            return (flat, 0);
        };
        let lay = layout::Layout::detect(root);
        let own = lay.record_rel(seq);
        if root.join(&own).exists() {
            return (own, 0);
        }
        let Some(pack) = lay.pack_rel(seq) else {
            return (own, 0);
        };
        let line = seq - lay.pack_first(seq);
        let offset =
            logkeep_format::untrusted::read_bounded(&root.join(&pack), lay.max_pack_bytes())
                .ok()
                .and_then(|b| {
                    let mut at = 0u64;
                    for (i, l) in b.split(|&c| c == b'\n').enumerate() {
                        if i as u64 == line {
                            return Some(at);
                        }
                        at += l.len() as u64 + 1;
                    }
                    None
                });
        match offset {
            Some(o) => (pack, o),
            None => (own, 0),
        }
    }

    fn emit(&mut self, e: TimelineEvent) -> io::Result<()> {
        if !self.filter.takes_time(e.datetime) {
            return Ok(());
        }
        self.events += 1;
        self.sink.event(&e)
    }

    /// A last line without its LF at the end of what was captured is an event all the same.
    pub fn finish(mut self) -> io::Result<u64> {
        if let Some(e) = self.record_error.take() {
            return Err(e);
        }
        let mut ids: Vec<u64> = self.gens.keys().copied().collect();
        ids.sort_unstable();
        for id in ids {
            let Some(mut g) = self.gens.remove(&id) else {
                continue;
            };
            if g.body.is_none()
                && !g.buf.is_empty()
                && !g.skip
                && !matches!(g.mode, Mode::Utmp { .. } | Mode::Journal)
            {
                let line = std::mem::take(&mut g.buf);
                let start = g.start;
                self.line(&mut g, start, &line)?;
            }
        }
        Ok(self.events)
    }

    fn feed(&mut self, g: &mut Gen, mut pos: u64, mut data: &[u8]) -> io::Result<()> {
        if pos != g.next {
            // Bytes before these are not in the input: start at the next whole line (or
            // record), never in the middle of one.
            g.buf.clear();
            g.body = None;
            g.eat_lf = false;
            g.skip = pos != 0;
            if g.mode == Mode::Journal {
                // A journal source's chunks end at entry boundaries, so the bytes after a
                // missing part begin an entry.
                g.framer.reset();
                g.skip = false;
            }
            if let Mode::Utmp { .. } = g.mode {
                let skip = (wtmp::RECORD as u64 - pos % wtmp::RECORD as u64) % wtmp::RECORD as u64;
                let n = skip.min(data.len() as u64) as usize;
                pos += n as u64;
                data = &data[n..];
                g.skip = false;
                g.start = pos;
            }
        }
        if let Mode::Utmp { btmp } = g.mode {
            while !data.is_empty() {
                if g.buf.is_empty() {
                    g.start = pos;
                }
                let n = (wtmp::RECORD - g.buf.len()).min(data.len());
                g.buf.extend_from_slice(&data[..n]);
                pos += n as u64;
                data = &data[n..];
                if g.buf.len() == wtmp::RECORD {
                    let rec = std::mem::take(&mut g.buf);
                    self.utmp(g, btmp, &rec)?;
                }
            }
            g.next = pos;
            return Ok(());
        }
        if g.mode == Mode::Journal {
            while !data.is_empty() {
                if g.framer.at_entry_start(g.buf.len()) && !g.skip {
                    g.start = pos;
                }
                let (n, done) = g.framer.step(data);
                if !g.skip {
                    if g.buf.len() + n <= MAX_ENTRY {
                        g.buf.extend_from_slice(&data[..n]);
                    } else {
                        g.buf.clear();
                        g.skip = true;
                    }
                }
                pos += n as u64;
                data = &data[n..];
                if done {
                    if !g.skip {
                        let entry = std::mem::take(&mut g.buf);
                        let start = g.start;
                        self.journal_entry(g, start, &entry)?;
                        g.buf = entry;
                    }
                    g.buf.clear();
                    g.skip = false;
                }
            }
            g.next = pos;
            return Ok(());
        }
        while !data.is_empty() {
            if let Some(b) = g.body.as_mut() {
                let n = b.left.min(data.len());
                if g.buf.len() + n <= MAX_LINE {
                    g.buf.extend_from_slice(&data[..n]);
                } else {
                    g.skip = true;
                }
                b.left -= n;
                pos += n as u64;
                data = &data[n..];
                if b.left == 0 {
                    self.wal_body(g)?;
                }
                continue;
            }
            if g.eat_lf {
                g.eat_lf = false;
                if data[0] == b'\n' {
                    pos += 1;
                    data = &data[1..];
                }
                continue;
            }
            if g.buf.is_empty() && !g.skip {
                g.start = pos;
            }
            match memchr::memchr(b'\n', data) {
                Some(i) => {
                    if g.buf.len() + i <= MAX_LINE && !g.skip {
                        g.buf.extend_from_slice(&data[..i]);
                        let line = std::mem::take(&mut g.buf);
                        let start = g.start;
                        self.line(g, start, &line)?;
                        g.buf = line;
                    }
                    g.buf.clear();
                    g.skip = false;
                    pos += i as u64 + 1;
                    data = &data[i + 1..];
                }
                None => {
                    if g.buf.len() + data.len() <= MAX_LINE && !g.skip {
                        g.buf.extend_from_slice(data);
                    } else {
                        g.buf.clear();
                        g.skip = true;
                    }
                    pos += data.len() as u64;
                    data = &[];
                }
            }
        }
        g.next = pos;
        Ok(())
    }

    fn evidence(g: &Gen, offset: u64, bytes: &[u8]) -> Evidence {
        Evidence {
            path: g.path.clone(),
            generation: g.gen_id,
            offset,
            length: bytes.len() as u64,
            sha256: Sha256::of(bytes),
        }
    }

    /// One whole line at `start`, without its LF.
    fn line(&mut self, g: &mut Gen, start: u64, line: &[u8]) -> io::Result<()> {
        if g.mode == Mode::Unknown {
            // The syslog listeners' write-ahead log (docs/SYSLOG.md): a `.wal` file whose first
            // line is a record header. Any other file is text, whatever its first line says.
            let wal = g.path.ends_with(".wal") || g.path.ends_with(".wal.done");
            g.mode = if wal && start == 0 && line.starts_with(b"LKS1 ") {
                Mode::Wal
            } else {
                Mode::Text
            };
        }
        if g.mode == Mode::Wal {
            return self.wal_header(g, start, line);
        }
        let captured = self.captured;
        self.text(g, start, line, captured)
    }

    fn text(&mut self, g: &Gen, start: u64, line: &[u8], captured: Timestamp) -> io::Result<()> {
        let s = String::from_utf8_lossy(line);
        let preset = self.presets.get(&g.source).map(String::as_str);
        let Some(f) = parse::parse_preset(&s, preset) else {
            return Ok(());
        };
        let cx = Context {
            captured,
            assumed_offset: self.filter.assumed_offset,
        };
        let (datetime, clock) = f
            .time
            .and_then(|c| c.resolve(&cx))
            .unwrap_or((captured, Clock::Captured));
        let e = TimelineEvent {
            datetime,
            clock,
            kind: f.kind,
            message: cut(f.message),
            user: f.user,
            src_ip: f.src_ip,
            host: f.host,
            product: f.product,
            source: g.source.clone(),
            evidence: Self::evidence(g, start, line),
        };
        self.emit(e)
    }

    /// One whole journal export entry at `start` (its ending empty line included): its
    /// `MESSAGE` goes to the same parsers as a syslog line's message, with `_HOSTNAME` as the
    /// host and `SYSLOG_IDENTIFIER` (else `_COMM`) as the program; the time is the entry's
    /// `__REALTIME_TIMESTAMP` (UTC), and the evidence is the whole entry.
    fn journal_entry(&mut self, g: &Gen, start: u64, entry: &[u8]) -> io::Result<()> {
        let Some(j) = journal::Entry::read(entry) else {
            return Ok(());
        };
        let Some(message) = j.message else {
            return Ok(());
        };
        let message = String::from_utf8_lossy(message);
        // Parsers read one line, as syslog carries it; a multi-line message's first line.
        let first = message.lines().next().unwrap_or("");
        let h = parse::Header {
            time: None,
            host: j.hostname,
            program: j.program,
            msg: first,
        };
        let preset = self.presets.get(&g.source).map(String::as_str);
        let Some(f) = parse::parse_header_preset(&h, first, preset) else {
            return Ok(());
        };
        let cx = Context {
            captured: self.captured,
            assumed_offset: self.filter.assumed_offset,
        };
        let stated = j.realtime.map(|us| {
            (
                Timestamp::from_unix_nanos(i128::from(us) * 1000),
                Clock::Stated,
            )
        });
        let (datetime, clock) = stated
            .or_else(|| f.time.and_then(|c| c.resolve(&cx)))
            .unwrap_or((self.captured, Clock::Captured));
        let e = TimelineEvent {
            datetime,
            clock,
            kind: f.kind,
            message: cut(f.message),
            user: f.user,
            src_ip: f.src_ip,
            host: f.host,
            product: f.product,
            source: g.source.clone(),
            evidence: Self::evidence(g, start, entry),
        };
        self.emit(e)
    }

    /// `LKS1 TIME TRANSPORT LOCAL PEER LENGTH FLAGS…` (docs/SYSLOG.md): the body follows.
    fn wal_header(&mut self, g: &mut Gen, start: u64, line: &[u8]) -> io::Result<()> {
        let s = String::from_utf8_lossy(line);
        let mut f = s.split(' ');
        let (magic, time, len) = (f.next(), f.next(), f.nth(3));
        let (Some("LKS1"), Some(time), Some(len)) = (magic, time, len) else {
            return Ok(());
        };
        let Ok(len) = len.parse::<usize>() else {
            return Ok(());
        };
        let received = Timestamp::parse(time).unwrap_or(self.captured);
        g.buf.clear();
        g.skip = false;
        g.body = Some(Body {
            left: len,
            start: start + line.len() as u64 + 1,
            len: len as u64,
            received,
        });
        if len == 0 {
            self.wal_body(g)?;
        }
        Ok(())
    }

    fn wal_body(&mut self, g: &mut Gen) -> io::Result<()> {
        let Some(b) = g.body.take() else {
            return Ok(());
        };
        g.eat_lf = true;
        let body = std::mem::take(&mut g.buf);
        if !g.skip && body.len() as u64 == b.len {
            self.text(g, b.start, &body, b.received)?;
        }
        g.skip = false;
        g.buf = body;
        g.buf.clear();
        Ok(())
    }

    fn utmp(&mut self, g: &Gen, btmp: bool, rec: &[u8]) -> io::Result<()> {
        let Some(l) = wtmp::parse(rec, btmp) else {
            return Ok(());
        };
        let what = match l.kind {
            Kind::LogonFailure => "failed login",
            Kind::Logoff => "logout",
            _ => "login",
        };
        let from = (!l.from.is_empty()).then(|| l.from.clone());
        let ip = from.clone().filter(|f| parse::looks_like_ip(f));
        let host = from.filter(|f| !parse::looks_like_ip(f));
        let e = TimelineEvent {
            datetime: l.at,
            clock: Clock::Stated,
            kind: l.kind,
            message: format!("{what} on {}", l.line),
            user: (!l.user.is_empty()).then_some(l.user),
            src_ip: ip,
            host,
            product: if btmp { "btmp" } else { "wtmp" },
            source: g.source.clone(),
            evidence: Self::evidence(g, g.start, rec),
        };
        self.emit(e)
    }

    fn record_event(&mut self, record: &Record) -> io::Result<()> {
        let (kind, source, message) = match &record.event {
            Event::Tamper {
                source,
                path,
                what,
                captured,
                size_now,
                ..
            } => (
                Kind::Tamper,
                source,
                format!(
                    "{path}: {what} ({captured} bytes captured, size now {})",
                    size_now.map_or("gone".to_owned(), |s| s.to_string())
                ),
            ),
            Event::Gap {
                source,
                path,
                from,
                size_seen,
                reason,
                ..
            } => (
                Kind::Gap,
                source,
                format!(
                    "{path}: bytes from {from}{} not captured ({reason})",
                    size_seen.map_or(String::new(), |s| format!(" to {s}"))
                ),
            ),
            _ => return Ok(()),
        };
        if !self.filter.takes_source(source) {
            return Ok(());
        }
        let bytes = record.to_bytes();
        let (path, offset) = self.record_place(record.seq);
        let e = TimelineEvent {
            datetime: Timestamp::parse(&record.wall).unwrap_or(self.captured),
            clock: Clock::Recorded,
            kind,
            message,
            user: None,
            src_ip: None,
            host: Some(record.host.hostname.clone()),
            product: "logkeep",
            source: source.clone(),
            // The record as a bundle holds it (bundles are flat); a store of layout 2 keeps it
            // in a shard directory, or as a line of a pack.
            evidence: Evidence {
                path,
                generation: 0,
                offset,
                length: bytes.len() as u64,
                sha256: Sha256::of(&bytes),
            },
        };
        self.emit(e)
    }
}

impl ChainVisitor for Walker<'_> {
    fn member(
        &mut self,
        record: &Record,
        _: usize,
        _: &str,
        size: u64,
        data: &mut dyn Read,
    ) -> io::Result<()> {
        if let Some(e) = self.record_error.take() {
            return Err(e);
        }
        let Event::Segment { spans, first, .. } = &record.event else {
            return Ok(());
        };
        if self.cursor.0 != record.seq {
            self.cursor = (record.seq, 0, 0);
            self.captured = Timestamp::parse(first).unwrap_or(Timestamp::EPOCH);
        }
        let (_, k, off) = self.cursor;
        let Some(span) = spans.get(k) else {
            return Ok(());
        };
        self.cursor = if span.start + off + size >= span.end {
            (record.seq, k + 1, 0)
        } else {
            (record.seq, k, off + size)
        };
        if !self.filter.takes_source(&span.source) {
            return Ok(());
        }
        let mut g = self.gens.remove(&span.gen_id).unwrap_or_else(|| Gen {
            source: span.source.clone(),
            path: span.path.clone(),
            gen_id: span.gen_id,
            mode: if span.cursor.is_some() || self.journal_gens.contains(&span.gen_id) {
                Mode::Journal
            } else if wtmp::is_utmp_path(&span.path) {
                Mode::Utmp {
                    btmp: wtmp::is_btmp(&span.path),
                }
            } else {
                Mode::Unknown
            },
            next: 0,
            buf: Vec::new(),
            start: 0,
            skip: false,
            body: None,
            eat_lf: false,
            framer: Framer::default(),
        });
        let mut pos = span.start + off;
        let mut chunk = vec![0u8; 64 * 1024];
        let result = loop {
            let n = match data.read(&mut chunk) {
                Ok(0) => break Ok(()),
                Ok(n) => n,
                Err(e) => break Err(e),
            };
            if let Err(e) = self.feed(&mut g, pos, &chunk[..n]) {
                break Err(e);
            }
            pos += n as u64;
        };
        self.gens.insert(span.gen_id, g);
        result
    }

    fn segment_end(&mut self, _: &Record, verified: bool) {
        if !verified {
            self.damaged = true;
        }
    }

    fn record(&mut self, record: &Record) {
        match &record.event {
            Event::JournalFile { gen_id, .. } => {
                self.journal_gens.insert(*gen_id);
            }
            Event::Config { sources, .. } => {
                self.presets = sources
                    .iter()
                    .filter_map(|s| Some((s.id.clone(), s.preset.clone()?)))
                    .collect();
            }
            _ => {}
        }
        // A sink error is found again by the next member or at the end; records are rare.
        if let Err(e) = self.record_event(record) {
            self.record_error.get_or_insert(e);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use logkeep_format::record::{Host, Span};

    #[derive(Default)]
    struct Collect(Vec<TimelineEvent>);

    impl Sink for Collect {
        fn event(&mut self, e: &TimelineEvent) -> io::Result<()> {
            self.0.push(e.clone());
            Ok(())
        }
    }

    /// A segment record of one span `[start, end)` of `path` (generation 1).
    fn segment(seq: u64, path: &str, start: u64, end: u64) -> Record {
        Record {
            v: 2,
            seq,
            prev: Sha256::ZERO,
            store: "s".into(),
            wall: "2026-11-20T04:00:00Z".into(),
            mono_ns: 0,
            host: Host {
                hostname: "h".into(),
                machine_id: String::new(),
                boot_id: String::new(),
            },
            event: Event::Segment {
                file: String::new(),
                sha256: Sha256::ZERO,
                size: 0,
                content_size: 0,
                manifest_sha256: Sha256::ZERO,
                first: "2026-11-20T04:00:00Z".into(),
                last: "2026-11-20T04:00:00Z".into(),
                spans: vec![Span {
                    source: "auth".into(),
                    path: path.into(),
                    dev: 1,
                    ino: 2,
                    gen_id: 1,
                    start,
                    end,
                    head: Sha256::ZERO,
                    tail: Sha256::ZERO,
                    cursor: None,
                }],
            },
        }
    }

    /// Hand `data`'s bytes `[from, to)` over as members of segments cut at `cuts`.
    fn walk(path: &str, data: &[u8], from: usize, cuts: &[usize]) -> Vec<TimelineEvent> {
        walk_with(path, data, from, cuts, None)
    }

    fn walk_with(
        path: &str,
        data: &[u8],
        from: usize,
        cuts: &[usize],
        cursor: Option<&str>,
    ) -> Vec<TimelineEvent> {
        let mut sink = Collect::default();
        let mut w = Walker::new(Filter::default(), &mut sink);
        let mut bounds = vec![from];
        bounds.extend(cuts.iter().copied().filter(|&c| c > from && c < data.len()));
        bounds.push(data.len());
        for (i, pair) in bounds.windows(2).enumerate() {
            let mut rec = segment(i as u64 + 1, path, pair[0] as u64, pair[1] as u64);
            if let Event::Segment { spans, .. } = &mut rec.event {
                spans[0].cursor = cursor.map(str::to_owned);
            }
            let mut part = &data[pair[0]..pair[1]];
            w.member(&rec, 0, "m", part.len() as u64, &mut part)
                .expect("member");
        }
        w.finish().expect("finish");
        sink.0
    }

    const LINE: &str =
        "Nov 20 03:10:12 gw sshd[1]: Accepted password for alice from 203.0.113.5 port 1 ssh2";

    #[test]
    fn lines_cut_across_segments_keep_their_offsets() {
        let data = format!("noise\n{LINE}\n{LINE}");
        for cuts in [
            vec![],
            vec![10],
            vec![6, 7, 50, 95],
            (1..data.len()).collect(),
        ] {
            let evs = walk("/var/log/auth.log", data.as_bytes(), 0, &cuts);
            let at: Vec<(u64, u64)> = evs
                .iter()
                .map(|e| (e.evidence.offset, e.evidence.length))
                .collect();
            let n = LINE.len() as u64;
            // The last line has no LF: an event all the same, at the end of the walk.
            assert_eq!(at, vec![(6, n), (7 + n, n)], "cuts {cuts:?}");
            assert_eq!(evs[0].evidence.sha256, Sha256::of(LINE.as_bytes()));
        }
    }

    #[test]
    fn an_overlong_line_is_skipped_whole_and_memory_stays_bounded() {
        let long = "x".repeat(MAX_LINE * 3);
        let data = format!("{long} {LINE}\n{LINE}\n");
        let evs = walk("/l/a", data.as_bytes(), 0, &[MAX_LINE, 2 * MAX_LINE + 5]);
        assert_eq!(evs.len(), 1);
        assert_eq!(
            evs[0].evidence.offset,
            long.len() as u64 + LINE.len() as u64 + 2
        );
    }

    #[test]
    fn long_messages_are_cut_but_the_evidence_is_the_whole_line() {
        let line = format!("{LINE} {}é", "y".repeat(MAX_MESSAGE));
        let evs = walk("/l/a", format!("{line}\n").as_bytes(), 0, &[]);
        assert!(evs[0].message.len() <= MAX_MESSAGE + '…'.len_utf8());
        assert!(evs[0].message.ends_with('…'));
        assert_eq!(evs[0].evidence.length, line.len() as u64);
    }

    #[test]
    fn a_partial_input_starts_at_the_next_whole_line() {
        let data = format!("{LINE}\n{LINE}\n");
        // The input holds the generation from byte 10: the first line is not whole.
        let evs = walk("/l/a", data.as_bytes(), 10, &[]);
        assert_eq!(evs.len(), 1);
        assert_eq!(evs[0].evidence.offset, LINE.len() as u64 + 1);
    }

    #[test]
    fn write_ahead_log_records_give_their_bodies() {
        let body = format!("<38>{LINE}");
        let body2 = "<38>Nov 20 03:10:13 gw sshd[1]: Failed password for bob from 198.51.100.9 port 2 ssh2\nLKS1 fake header";
        let data = format!(
            "LKS1 2026-11-20T03:10:12.5Z tcp 127.0.0.1:514 127.0.0.1:4000 {} lf\n{body}\nLKS1 2026-11-20T03:10:13Z tcp 127.0.0.1:514 127.0.0.1:4000 {} lf\n{body2}\n",
            body.len(),
            body2.len()
        );
        let evs = walk(
            "/store/wal/edge/00000000000000000001.wal",
            data.as_bytes(),
            0,
            &[70, 200],
        );
        assert_eq!(evs.len(), 2, "{evs:?}");
        let off = data.find(&body).unwrap() as u64;
        assert_eq!(
            (evs[0].evidence.offset, evs[0].evidence.length),
            (off, body.len() as u64)
        );
        assert_eq!(evs[1].kind, Kind::LogonFailure);
        assert_eq!(evs[1].evidence.length, body2.len() as u64);
        // The same bytes in a file that is not a write-ahead log are plain lines.
        let evs = walk("/var/log/notes.log", data.as_bytes(), 0, &[]);
        assert_eq!(evs.len(), 2);
        assert_eq!(evs[0].evidence.length, body.len() as u64);
    }

    /// A journal export entry: text fields, then `MESSAGE` as a binary field.
    fn export_entry(message: &str, extra: &[u8]) -> Vec<u8> {
        let mut e = b"__REALTIME_TIMESTAMP=1764900000123456\n_HOSTNAME=edge\n_COMM=sshd\n".to_vec();
        e.extend_from_slice(b"MESSAGE\n");
        e.extend_from_slice(&(message.len() as u64).to_le_bytes());
        e.extend_from_slice(message.as_bytes());
        e.extend_from_slice(b"\nBLOB\n");
        e.extend_from_slice(&(extra.len() as u64).to_le_bytes());
        e.extend_from_slice(extra);
        e.extend_from_slice(b"\n\n");
        e
    }

    #[test]
    fn journal_entries_give_events_with_the_whole_entry_as_evidence() {
        let a = export_entry(
            "Accepted password for alice from 203.0.113.7 port 50022 ssh2",
            b"\n\nMESSAGE=Failed password for bob from 198.51.100.1 port 1 ssh2\n\n",
        );
        let b = export_entry("Server listening on 0.0.0.0 port 22.", b"\0");
        let data = [b.clone(), a.clone(), b.clone()].concat();
        for cuts in [vec![], vec![3, 150], (1..data.len()).collect()] {
            let evs = walk_with("/var/log/journal/x.journal", &data, 0, &cuts, Some("c"));
            assert_eq!(evs.len(), 1, "cuts {cuts:?}: {evs:?}");
            let e = &evs[0];
            assert_eq!(e.kind, Kind::LogonSuccess);
            assert_eq!(e.user.as_deref(), Some("alice"));
            assert_eq!(e.src_ip.as_deref(), Some("203.0.113.7"));
            assert_eq!(e.host.as_deref(), Some("edge"));
            assert_eq!(e.clock, Clock::Stated);
            assert_eq!(
                e.datetime,
                Timestamp::parse("2025-12-05T02:00:00.123456Z").unwrap()
            );
            assert_eq!(
                (e.evidence.offset, e.evidence.length),
                (b.len() as u64, a.len() as u64)
            );
            assert_eq!(e.evidence.sha256, Sha256::of(&a));
        }
        // The same bytes in a file of a file source are lines: the binary field's look-alike
        // text is no event of the journal's.
        let evs = walk("/var/log/x.log", &data, 0, &[]);
        assert!(
            evs.iter().all(|e| e.user.as_deref() != Some("alice")),
            "{evs:?}"
        );
    }
}
