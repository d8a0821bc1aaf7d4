//! The two output formats, with the same columns ([`crate::event::COLUMNS`]): JSON Lines ready
//! for Timesketch (`message`, `datetime`, `timestamp_desc` and the rest, the evidence as an
//! object) and RFC 4180 CSV (the evidence flattened into five columns).

use crate::event::{COLUMNS, TimelineEvent};
use crate::walk::Sink;
use serde::Serialize;
use std::io::{self, Write};

#[derive(Serialize)]
struct Row<'a> {
    datetime: String,
    timestamp_desc: String,
    event: &'static str,
    message: &'a str,
    user: &'a Option<String>,
    src_ip: &'a Option<String>,
    host: &'a Option<String>,
    product: &'static str,
    source: &'a str,
    evidence: &'a crate::event::Evidence,
}

/// The `datetime` column: RFC 3339 in UTC with microseconds (`2026-11-20T03:10:12.000000Z`),
/// the precision every ISO 8601 reader (Timesketch's among them) accepts.
pub fn datetime(t: logkeep_format::Timestamp) -> String {
    humantime::format_rfc3339_micros(t.to_system_time()).to_string()
}

/// One event as a JSON object (one line, no LF).
pub fn json_line(e: &TimelineEvent) -> io::Result<Vec<u8>> {
    let row = Row {
        datetime: datetime(e.datetime),
        timestamp_desc: e.clock.describe(),
        event: e.kind.name(),
        message: &e.message,
        user: &e.user,
        src_ip: &e.src_ip,
        host: &e.host,
        product: e.product,
        source: &e.source,
        evidence: &e.evidence,
    };
    serde_json::to_vec(&row).map_err(io::Error::other)
}

/// JSON Lines.
pub struct Jsonl<W: Write>(pub W);

impl<W: Write> Sink for Jsonl<W> {
    fn event(&mut self, e: &TimelineEvent) -> io::Result<()> {
        let mut line = json_line(e)?;
        line.push(b'\n');
        self.0.write_all(&line)
    }
}

/// RFC 4180 CSV, with a header row.
pub struct Csv<W: Write> {
    w: csv::Writer<W>,
}

impl<W: Write> Csv<W> {
    /// A writer that has written the header row.
    pub fn new(out: W) -> io::Result<Csv<W>> {
        let mut w = csv::WriterBuilder::new()
            .terminator(csv::Terminator::CRLF)
            .from_writer(out);
        w.write_record(COLUMNS).map_err(io::Error::other)?;
        Ok(Csv { w })
    }

    /// Flush and return the output.
    pub fn into_inner(self) -> io::Result<W> {
        self.w
            .into_inner()
            .map_err(|e| io::Error::other(e.to_string()))
    }
}

impl<W: Write> Sink for Csv<W> {
    fn event(&mut self, e: &TimelineEvent) -> io::Result<()> {
        let opt = |o: &Option<String>| o.clone().unwrap_or_default();
        self.w
            .write_record([
                datetime(e.datetime),
                e.clock.describe(),
                e.kind.name().to_owned(),
                e.message.clone(),
                opt(&e.user),
                opt(&e.src_ip),
                opt(&e.host),
                e.product.to_owned(),
                e.source.clone(),
                e.evidence.path.clone(),
                e.evidence.generation.to_string(),
                e.evidence.offset.to_string(),
                e.evidence.length.to_string(),
                e.evidence.sha256.to_string(),
            ])
            .map_err(io::Error::other)
    }
}

/// Two sinks fed as one.
pub struct Both<'a>(pub &'a mut dyn Sink, pub &'a mut dyn Sink);

impl Sink for Both<'_> {
    fn event(&mut self, e: &TimelineEvent) -> io::Result<()> {
        self.0.event(e)?;
        self.1.event(e)
    }
}
