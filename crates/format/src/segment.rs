//! Segments: one tar archive compressed as exactly one zstd frame.
//!
//! Writing streams: each captured chunk becomes one tar member, hashed on its way in; the
//! manifest, which lists every member with its origin and digest, is the last member. Reading
//! streams too, and is strict: the zstd magic at byte 0, one frame and nothing after it, regular
//! files only, members exactly as the manifest lists them, and decompression bounded by the size
//! the chain record promised.

use crate::hash::{HashReader, HashWriter, Sha256};
use crate::record::{FORMAT_VERSION, Span};
use serde::{Deserialize, Serialize};
use std::io::Take;
use std::io::{self, BufRead, BufReader, Read, Write};

/// Name of the manifest member, always the last member of a segment's tar archive.
pub const MANIFEST_NAME: &str = "logkeep-manifest.json";

/// The four bytes every segment file starts with (a zstd frame, RFC 8878).
pub const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// Largest manifest a reader accepts.
pub const MAX_MANIFEST_BYTES: u64 = 64 * 1024 * 1024;

/// The manifest inside a segment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Format version; always 1.
    pub v: u32,
    /// Store id.
    pub store: String,
    /// Sequence number of the chain record that commits this segment.
    pub seq: u64,
    /// Hash of the chain record before that one; binds the segment to its place in the chain.
    pub prev: Sha256,
    /// Every data member, in archive order.
    pub members: Vec<Member>,
}

/// One data member of a segment: a chunk of one file generation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Member {
    /// The member's path inside the tar archive.
    pub name: String,
    /// Source id.
    pub source: String,
    /// Absolute path the bytes were read from.
    pub path: String,
    /// st_dev of the file.
    pub dev: u64,
    /// st_ino of the file.
    pub ino: u64,
    /// Generation number.
    pub gen_id: u64,
    /// Offset of the first byte.
    pub start: u64,
    /// Offset one past the last byte; the member holds `end - start` bytes.
    pub end: u64,
    /// SHA-256 of the member's bytes.
    pub sha256: Sha256,
    /// SHA-256 of the generation's first `min(end, HEAD_LEN)` bytes (see [`Span::head`]).
    pub head: Sha256,
    /// SHA-256 of the generation's `min(end, TAIL_LEN)` bytes before `end` (see [`Span::tail`]).
    pub tail: Sha256,
    /// Wall-clock time of the read, RFC 3339 UTC.
    pub read_at: String,
    /// Journal sources only: the `__CURSOR` of the member's last entry (see [`Span::cursor`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

/// Where a chunk came from, given to [`SegmentWriter::append`].
#[derive(Debug, Clone)]
pub struct ChunkOrigin<'a> {
    /// Source id.
    pub source: &'a str,
    /// Absolute path.
    pub path: &'a str,
    /// st_dev.
    pub dev: u64,
    /// st_ino.
    pub ino: u64,
    /// Generation number.
    pub gen_id: u64,
    /// Offset of the chunk's first byte in the file.
    pub start: u64,
    /// SHA-256 of the generation's first `min(start + len, HEAD_LEN)` bytes, chunk included.
    pub head: Sha256,
    /// SHA-256 of the generation's `min(start + len, TAIL_LEN)` bytes that end with the chunk.
    pub tail: Sha256,
    /// Wall-clock time of the read.
    pub read_at: &'a str,
    /// Seconds since the epoch of the read, used as the member's tar mtime.
    pub read_unix: u64,
    /// Journal sources only: the `__CURSOR` of the chunk's last entry.
    pub cursor: Option<&'a str>,
}

/// The tar member name of a chunk: `SOURCE/PATH.genN/START`, START zero-padded to 20 digits so
/// that `cat` of a generation's directory after extracting every segment into one place gives
/// the file back in order.
pub fn member_name(source: &str, path: &str, gen_id: u64, start: u64) -> String {
    format!(
        "{source}/{}.gen{gen_id}/{start:020}",
        path.trim_start_matches('/')
    )
}

/// What sealing a segment produced; everything a chain record needs.
#[derive(Debug, Clone)]
pub struct Sealed {
    /// SHA-256 of the compressed file.
    pub sha256: Sha256,
    /// Size of the compressed file.
    pub size: u64,
    /// Size of the decompressed tar stream.
    pub content_size: u64,
    /// SHA-256 of the manifest member's bytes.
    pub manifest_sha256: Sha256,
    /// The manifest that was written.
    pub manifest: Manifest,
}

/// Bytes of input per zstd job when compressing on workers. zstd's default for level 3 is
/// 8 MiB, and every job in flight holds its input and output: at 2 MiB two workers need about
/// 20 MiB less memory, for the same compression ratio on log text (docs/PERFORMANCE.md).
const JOB_SIZE: u32 = 2 * 1024 * 1024;

/// A zstd compression context with its parameters set; with workers it owns their threads and
/// job buffers.
type Compressor = zstd::stream::raw::Encoder<'static>;

type Inner<W> = Counted<zstd::stream::zio::Writer<HashWriter<W>, Compressor>>;

/// Compression contexts of finished segments, kept for the next ones: a context with workers
/// starts their threads and allocates (and faults in) tens of MiB of buffers and match tables
/// when it is made, so making one per segment cost every seal that work again. A context is
/// reset between segments; the frames it makes are the same as a new context's.
static COMPRESSORS: std::sync::Mutex<Vec<(i32, u32, Compressor)>> =
    std::sync::Mutex::new(Vec::new());

/// How many idle contexts are kept: one segment is open at a time in the daemon, and an idle
/// context keeps its memory.
const KEPT_COMPRESSORS: usize = 1;

/// A context for `level` and `workers`: a kept one if there is one, or a new one.
fn compressor(level: i32, workers: u32) -> io::Result<Compressor> {
    use zstd::stream::raw::{CParameter, Operation};
    let kept = COMPRESSORS.lock().ok().and_then(|mut pool| {
        let i = pool
            .iter()
            .position(|(l, w, _)| *l == level && *w == workers)?;
        Some(pool.swap_remove(i).2)
    });
    if let Some(mut enc) = kept {
        enc.reinit()?;
        return Ok(enc);
    }
    let mut enc = Compressor::new(level)?;
    enc.set_parameter(CParameter::ChecksumFlag(true))?;
    if workers > 0 {
        enc.set_parameter(CParameter::NbWorkers(workers))?;
        enc.set_parameter(CParameter::JobSize(JOB_SIZE))?;
    }
    Ok(enc)
}

/// Keep `enc` (whose frame is finished) for the next segment.
fn keep_compressor(level: i32, workers: u32, enc: Compressor) {
    if let Ok(mut pool) = COMPRESSORS.lock() {
        if pool.len() >= KEPT_COMPRESSORS {
            pool.remove(0);
        }
        pool.push((level, workers, enc));
    }
}

/// Counts the bytes written through it (the tar stream's size; its bytes are hashed once, per
/// member, and the compressed file once: nothing is hashed twice).
struct Counted<W> {
    inner: W,
    count: u64,
}

impl<W: Write> Write for Counted<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.count += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Streams chunks into a segment. Memory use is the caller's chunk plus zstd's window.
pub struct SegmentWriter<W: Write> {
    tar: tar::Builder<Inner<W>>,
    members: Vec<Member>,
    data_bytes: u64,
    level: i32,
    workers: u32,
}

impl<W: Write> SegmentWriter<W> {
    /// Start a segment on `out` at zstd `level`, compressing on `workers` background threads
    /// (0: in the caller's thread). With workers, reading and hashing overlap compression; the
    /// output is still a single zstd frame.
    ///
    /// The compression context (and its workers) of a finished segment is kept for the next
    /// one with the same level and workers.
    pub fn new(out: W, level: i32, workers: u32) -> io::Result<Self> {
        let enc = zstd::stream::zio::Writer::new(HashWriter::new(out), compressor(level, workers)?);
        let mut tar = tar::Builder::new(Counted {
            inner: enc,
            count: 0,
        });
        tar.mode(tar::HeaderMode::Deterministic);
        Ok(SegmentWriter {
            tar,
            members: Vec::new(),
            data_bytes: 0,
            level,
            workers,
        })
    }

    /// Append one chunk as a member.
    pub fn append(&mut self, origin: &ChunkOrigin<'_>, data: &[u8]) -> io::Result<()> {
        let name = member_name(origin.source, origin.path, origin.gen_id, origin.start);
        let mut header = file_header(data.len() as u64, origin.read_unix);
        self.tar.append_data(&mut header, &name, data)?;
        self.data_bytes += data.len() as u64;
        self.members.push(Member {
            name,
            source: origin.source.to_owned(),
            path: origin.path.to_owned(),
            dev: origin.dev,
            ino: origin.ino,
            gen_id: origin.gen_id,
            start: origin.start,
            end: origin.start + data.len() as u64,
            sha256: Sha256::of(data),
            head: origin.head,
            tail: origin.tail,
            read_at: origin.read_at.to_owned(),
            cursor: origin.cursor.map(str::to_owned),
        });
        Ok(())
    }

    /// Captured bytes appended so far (not counting tar headers or compression).
    pub fn data_bytes(&self) -> u64 {
        self.data_bytes
    }

    /// Members appended so far.
    pub fn members(&self) -> &[Member] {
        &self.members
    }

    /// Write the manifest, close the tar stream and the zstd frame, and return the output with
    /// the digests. The output is flushed but not synced: durability is the caller's job.
    pub fn finish(
        mut self,
        store: &str,
        seq: u64,
        prev: Sha256,
        sealed_unix: u64,
    ) -> io::Result<(W, Sealed)> {
        let manifest = Manifest {
            v: FORMAT_VERSION,
            store: store.to_owned(),
            seq,
            prev,
            members: std::mem::take(&mut self.members),
        };
        let mut bytes = serde_json::to_vec(&manifest).map_err(io::Error::other)?;
        bytes.push(b'\n');
        let manifest_sha256 = Sha256::of(&bytes);
        let mut header = file_header(bytes.len() as u64, sealed_unix);
        self.tar
            .append_data(&mut header, MANIFEST_NAME, &bytes[..])?;
        let content = self.tar.into_inner()?;
        let content_size = content.count;
        let mut zio = content.inner;
        zio.finish()?;
        let (mut file, enc) = zio.into_inner();
        keep_compressor(self.level, self.workers, enc);
        file.flush()?;
        let (out, sha256, size) = file.finish();
        Ok((
            out,
            Sealed {
                sha256,
                size,
                content_size,
                manifest_sha256,
                manifest,
            },
        ))
    }
}

fn file_header(size: u64, mtime: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_size(size);
    h.set_mode(0o444);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(mtime);
    h
}

/// Merge a manifest's members into the spans a chain record lists: adjacent members of one
/// generation that continue each other become one span.
pub fn spans_of(members: &[Member]) -> Vec<Span> {
    let mut spans: Vec<Span> = Vec::new();
    for m in members {
        if let Some(last) = spans.last_mut()
            && last.gen_id == m.gen_id
            && last.end == m.start
            && last.path == m.path
        {
            last.end = m.end;
            last.head = m.head;
            last.tail = m.tail;
            last.cursor.clone_from(&m.cursor);
            continue;
        }
        spans.push(Span {
            source: m.source.clone(),
            path: m.path.clone(),
            dev: m.dev,
            ino: m.ino,
            gen_id: m.gen_id,
            start: m.start,
            end: m.end,
            head: m.head,
            tail: m.tail,
            cursor: m.cursor.clone(),
        });
    }
    spans
}

/// A problem found while reading a segment. Each is one line of a verification report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flaw(pub String);

/// What reading a segment computed, for comparison with its record.
#[derive(Debug, Clone)]
pub struct Observed {
    /// SHA-256 of every byte of the file, including anything after the frame.
    pub sha256: Sha256,
    /// Size of the file.
    pub size: u64,
    /// Number of decompressed bytes (`None` if decompression failed).
    pub content: Option<u64>,
    /// The parsed manifest, if it could be read, and the SHA-256 of its bytes.
    pub manifest: Option<(Manifest, Sha256)>,
    /// Everything wrong with the file on its own.
    pub flaws: Vec<Flaw>,
}

/// Receives each data member while a segment is read: its index, the manifest it will be
/// checked against is not known yet, so only name and size are given.
pub trait MemberSink {
    /// Consume (or not) the member's bytes. Unread bytes are drained by the reader.
    fn member(
        &mut self,
        index: usize,
        name: &str,
        size: u64,
        data: &mut dyn Read,
    ) -> io::Result<()>;
}

/// A sink that ignores the bytes (verification only).
pub struct Discard;

impl MemberSink for Discard {
    fn member(&mut self, _: usize, _: &str, _: u64, _: &mut dyn Read) -> io::Result<()> {
        Ok(())
    }
}

/// Read a segment from `file`, never decompressing more than `max_content` bytes, and check it
/// on its own terms: framing, tar structure, manifest against members. Checks that need the
/// chain (record digests, `seq`, `prev`, store id) are the caller's, using [`Observed`].
///
/// Errors are I/O errors of `file` itself or of `sink`; everything wrong with the bytes is a
/// [`Flaw`].
pub fn read_segment<R: Read>(
    file: R,
    max_content: u64,
    sink: &mut dyn MemberSink,
) -> io::Result<Observed> {
    let mut raw = BufReader::with_capacity(256 * 1024, HashReader::with_limit(file, u64::MAX));
    let mut flaws = Vec::new();
    let head = raw.fill_buf()?;
    let magic_ok = head.len() >= 4 && head[..4] == ZSTD_MAGIC;
    let mut content = None;
    let mut manifest = None;
    if !magic_ok {
        flaws.push(Flaw("does not start with a zstd frame".into()));
    } else {
        let mut dec = zstd::stream::read::Decoder::with_buffer(raw)?.single_frame();
        {
            let mut plain = Bounded(Read::take(&mut dec, max_content.saturating_add(1)));
            let r = read_tar(&mut plain, sink, &mut flaws);
            match r {
                Ok(m) => {
                    // Read what follows the end-of-archive blocks so the content size counts
                    // every decompressed byte.
                    match io::copy(&mut plain, &mut io::sink()) {
                        Ok(_) => {
                            manifest = m;
                            content = Some(plain.count(max_content));
                        }
                        Err(e) => flaws.push(Flaw(decode_problem(&e, max_content))),
                    }
                }
                Err(e) if is_data_error(&e) => flaws.push(Flaw(decode_problem(&e, max_content))),
                Err(e) => return Err(e),
            }
        };
        raw = dec.finish();
    }
    // Everything after the frame (or the whole file if there was none) is hashed and counted.
    let before = raw.get_ref().count() - raw.buffer().len() as u64;
    io::copy(&mut raw, &mut io::sink())?;
    let hr = raw.into_inner();
    let (sha256, size) = hr.finish();
    if magic_ok && content.is_some() && size > before {
        flaws.push(Flaw(format!(
            "{} bytes after the end of the zstd frame",
            size - before
        )));
    }
    Ok(Observed {
        sha256,
        size,
        content,
        manifest,
        flaws,
    })
}

/// The decompressed content, failing with [`io::ErrorKind::FileTooLarge`] past the bound so
/// that hostile input cannot make us decompress without limit.
struct Bounded<R>(Take<R>);

impl<R: Read> Bounded<R> {
    /// Bytes read so far, given the bound it was made with.
    fn count(&self, max: u64) -> u64 {
        max.saturating_add(1) - self.0.limit()
    }
}

impl<R: Read> Read for Bounded<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.0.read(buf)?;
        if self.0.limit() == 0 && n > 0 {
            return Err(io::Error::new(
                io::ErrorKind::FileTooLarge,
                "more decompressed bytes than allowed here",
            ));
        }
        Ok(n)
    }
}

fn is_data_error(e: &io::Error) -> bool {
    // zstd reports corrupt input as `Other`; tar reports bad headers as `Other` or
    // `InvalidData`; a premature end is `UnexpectedEof`; our bound is `FileTooLarge`.
    !matches!(
        e.kind(),
        io::ErrorKind::PermissionDenied | io::ErrorKind::Interrupted
    )
}

fn decode_problem(e: &io::Error, max: u64) -> String {
    if e.kind() == io::ErrorKind::FileTooLarge {
        format!("decompresses to more than the {max} bytes its record allows")
    } else {
        format!("cannot be decoded: {e}")
    }
}

fn read_tar<R: Read>(
    plain: R,
    sink: &mut dyn MemberSink,
    flaws: &mut Vec<Flaw>,
) -> io::Result<Option<(Manifest, Sha256)>> {
    let mut archive = tar::Archive::new(crate::untrusted::TarGuard::new(plain));
    let mut seen: Vec<(String, u64, Sha256)> = Vec::new();
    let mut manifest: Option<(Manifest, Sha256)> = None;
    for (index, entry) in archive.entries()?.enumerate() {
        let mut entry = entry?;
        let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let kind = entry.header().entry_type();
        if kind != tar::EntryType::Regular {
            flaws.push(Flaw(format!(
                "member {index} ({}) is not a regular file",
                esc(&name)
            )));
            continue;
        }
        let size = entry.size();
        if manifest.is_some() {
            flaws.push(Flaw(format!(
                "member {} follows the manifest, which must be last",
                esc(&name)
            )));
        }
        if name == MANIFEST_NAME {
            if size > MAX_MANIFEST_BYTES {
                flaws.push(Flaw(format!("manifest is {size} bytes, more than allowed")));
                io::copy(&mut entry, &mut io::sink())?;
                continue;
            }
            let mut bytes = Vec::with_capacity(size as usize);
            entry.read_to_end(&mut bytes)?;
            match serde_json::from_slice::<Manifest>(&bytes) {
                Ok(m) if m.v != FORMAT_VERSION => {
                    flaws.push(Flaw(format!("manifest has unsupported version {}", m.v)));
                }
                Ok(m) => manifest = Some((m, Sha256::of(&bytes))),
                Err(e) => flaws.push(Flaw(format!("manifest is not valid: {e}"))),
            }
            continue;
        }
        let mut hashed = HashReader::with_limit(&mut entry, u64::MAX);
        sink.member(seen.len(), &name, size, &mut hashed)?;
        io::copy(&mut hashed, &mut io::sink())?;
        let (digest, n) = hashed.finish();
        seen.push((name, n, digest));
    }
    let (manifest, manifest_sha256) = match manifest {
        Some(m) => m,
        None => {
            flaws.push(Flaw("has no manifest".into()));
            return Ok(None);
        }
    };
    if manifest.members.len() != seen.len() {
        flaws.push(Flaw(format!(
            "manifest lists {} members, archive holds {}",
            manifest.members.len(),
            seen.len()
        )));
    }
    for (i, (m, (name, n, digest))) in manifest.members.iter().zip(&seen).enumerate() {
        if &m.name != name {
            flaws.push(Flaw(format!(
                "member {i} is {} where the manifest lists {}",
                esc(name),
                esc(&m.name)
            )));
        } else if m.name != member_name(&m.source, &m.path, m.gen_id, m.start) {
            flaws.push(Flaw(format!(
                "member {} is not named after its origin",
                esc(name)
            )));
        }
        if m.end < m.start || m.end - m.start != *n {
            flaws.push(Flaw(format!(
                "member {} holds {n} bytes, manifest says [{}, {})",
                esc(name),
                m.start,
                m.end
            )));
        }
        if &m.sha256 != digest {
            flaws.push(Flaw(format!(
                "member {} has SHA-256 {digest}, manifest says {}",
                esc(name),
                m.sha256
            )));
        }
    }
    Ok(Some((manifest, manifest_sha256)))
}

/// Escape only control characters (newlines, escape sequences): for report lines that are
/// already readable text but may quote hostile bytes through an error message.
pub fn esc_controls(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_control() {
            out.extend(c.escape_debug());
        } else {
            out.push(c);
        }
    }
    out
}

/// Escape a string from untrusted data for printing on one line: control characters, quotes and
/// backslashes become escapes, so a hostile name cannot forge report lines or terminal output.
pub fn esc(s: &str) -> String {
    s.escape_debug().to_string()
}
