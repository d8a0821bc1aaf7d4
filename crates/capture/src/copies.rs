//! Finding the rotated copy of a file generation: the renamed file, the copy `copytruncate`
//! made, or its `.gz`.
//!
//! A copy is recognised by content, not by name: its first bytes must equal the generation's
//! head, and where it is long enough, the bytes just before our position must equal the last
//! bytes we read (the tail window). Names only narrow the search to siblings that share the
//! file's stem (`auth.log` → `auth.log.1`, `auth.log-20261126`, `auth-20261126.log`,
//! `auth.log.2.gz`).

use crate::identity::FileId;
use flate2::read::MultiGzDecoder;
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};

/// Length of the tail window compared.
pub const TAIL_LEN: usize = 1024;

/// What we know of a generation's content, to recognise a copy of it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fingerprint {
    /// The first `min(pos, HEAD_LEN)` bytes.
    pub head: Vec<u8>,
    /// The `min(pos, TAIL_LEN)` bytes before `pos`.
    pub tail: Vec<u8>,
    /// Bytes read.
    pub pos: u64,
}

impl Fingerprint {
    /// Account for `data` read at `start` (which must equal `pos`).
    pub fn update(&mut self, data: &[u8], head_len: usize) {
        if self.head.len() < head_len {
            let take = (head_len - self.head.len()).min(data.len());
            self.head.extend_from_slice(&data[..take]);
        }
        if data.len() >= TAIL_LEN {
            self.tail.clear();
            self.tail.extend_from_slice(&data[data.len() - TAIL_LEN..]);
        } else {
            self.tail.extend_from_slice(data);
            let excess = self.tail.len().saturating_sub(TAIL_LEN);
            self.tail.drain(..excess);
        }
        self.pos += data.len() as u64;
    }
}

/// A fingerprint kept for later, as compactly as it can be: the window before `pos` only.
/// The head window of an earlier position of the same generation is a prefix of the current
/// fingerprint's, so it is not kept twice.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mark {
    /// Bytes read when it was taken.
    pub pos: u64,
    /// The `min(pos, TAIL_LEN)` bytes before `pos`.
    tail: Box<[u8]>,
}

impl Mark {
    /// Keep `fp` for later.
    pub fn of(fp: &Fingerprint) -> Mark {
        Mark {
            pos: fp.pos,
            tail: fp.tail.as_slice().into(),
        }
    }

    /// The fingerprint this mark was taken from, given the generation's fingerprint `now` at
    /// the same or a later position.
    pub fn restore(&self, now: &Fingerprint) -> Fingerprint {
        debug_assert!(now.pos >= self.pos);
        let head = now
            .head
            .len()
            .min(usize::try_from(self.pos).unwrap_or(usize::MAX));
        Fingerprint {
            head: now.head[..head].to_vec(),
            tail: self.tail.to_vec(),
            pos: self.pos,
        }
    }
}

/// How a candidate compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Same content up to our position (as far as the windows show).
    Match,
    /// Different content.
    Differs,
    /// Shorter than our position but the head matches: a copy made before our last read, or a
    /// `.gz` still being written.
    Prefix,
}

/// A rotated copy.
#[derive(Debug, Clone)]
pub struct Copy {
    /// Where it is.
    pub path: PathBuf,
    /// Whether it is gzip-compressed.
    pub gz: bool,
    /// The copy's identity.
    pub key: FileId,
    /// How it compares.
    pub verdict: Verdict,
}

/// Whether `path` names a gzip file (read decompressed).
pub fn is_gz(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "gz")
}

/// Sibling files of `path` that could be rotated copies of it, newest first. Names are compared
/// as bytes, so names that are not UTF-8 are siblings like any other.
pub fn siblings(path: &Path) -> Vec<(PathBuf, std::fs::Metadata)> {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return Vec::new();
    };
    let name = name.as_bytes();
    let stem = name.split(|&c| c == b'.').next().unwrap_or(name);
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<(PathBuf, std::fs::Metadata)> = entries
        .filter_map(|e| e.ok())
        .filter(|e| {
            let n = e.file_name();
            let n = n.as_bytes();
            n != name && n.starts_with(stem)
        })
        .filter_map(|e| {
            let p = e.path();
            let m = std::fs::symlink_metadata(&p).ok()?;
            m.is_file().then_some((p, m))
        })
        .collect();
    out.sort_by_key(|(_, m)| std::cmp::Reverse((m.mtime(), m.mtime_nsec())));
    out
}

/// Compare the content of `r` (a stream from offset 0) with `fp`. Reads at most `fp.pos` bytes.
fn compare_stream(mut r: impl Read, fp: &Fingerprint) -> io::Result<Verdict> {
    let mut head = vec![0u8; fp.head.len()];
    let n = read_full(&mut r, &mut head)?;
    if n < head.len() {
        return Ok(if head[..n] == fp.head[..n] {
            Verdict::Prefix
        } else {
            Verdict::Differs
        });
    }
    if head != fp.head {
        return Ok(Verdict::Differs);
    }
    let tail_start = fp.pos - fp.tail.len() as u64;
    let skip = tail_start.saturating_sub(fp.head.len() as u64);
    let skipped = skip_bytes(&mut r, skip)?;
    if skipped < skip {
        return Ok(Verdict::Prefix);
    }
    // The windows may overlap when pos < HEAD_LEN + TAIL_LEN; compare what lies past the head.
    let already = (fp.head.len() as u64).saturating_sub(tail_start) as usize;
    let mut tail = vec![0u8; fp.tail.len() - already.min(fp.tail.len())];
    let n = read_full(&mut r, &mut tail)?;
    if tail[..n] != fp.tail[already..already + n] {
        return Ok(Verdict::Differs);
    }
    Ok(if n < tail.len() {
        Verdict::Prefix
    } else {
        Verdict::Match
    })
}

/// Read and drop `n` bytes; fewer if the stream ends first (a `.gz` cut short included).
fn skip_bytes(r: &mut impl Read, n: u64) -> io::Result<u64> {
    let mut buf = vec![0u8; 64 << 10];
    let mut done = 0u64;
    while done < n {
        let want = (n - done).min(buf.len() as u64) as usize;
        let k = read_full(r, &mut buf[..want])?;
        if k == 0 {
            break;
        }
        done += k as u64;
    }
    Ok(done)
}

fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            // A truncated gzip stream (still being written) ends early: that is a prefix.
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Compare the file at `path` with `fp`.
pub fn compare(path: &Path, fp: &Fingerprint) -> io::Result<Verdict> {
    let f = File::open(path)?;
    if is_gz(path) {
        compare_stream(MultiGzDecoder::new(io::BufReader::new(f)), fp)
    } else {
        compare_stream(io::BufReader::new(f), fp)
    }
}

/// The best rotated copy of the generation last seen at `path` with fingerprint `fp`, other
/// than the file `own` itself.
pub fn find_copy(path: &Path, own: impl Into<FileId>, fp: &Fingerprint) -> Option<Copy> {
    let own = own.into();
    if fp.pos == 0 {
        return None;
    }
    let mut prefix: Option<Copy> = None;
    for (p, m) in siblings(path) {
        let key = FileId::of(&m);
        if key == own {
            continue;
        }
        let verdict = match compare(&p, fp) {
            Ok(v) => v,
            Err(_) => continue,
        };
        let copy = Copy {
            gz: is_gz(&p),
            path: p,
            key,
            verdict,
        };
        match verdict {
            Verdict::Match => return Some(copy),
            Verdict::Prefix if prefix.is_none() => prefix = Some(copy),
            _ => {}
        }
    }
    prefix
}

/// The sibling of `path` whose identity is `key` (the same file renamed), if any.
pub fn find_by_identity(path: &Path, key: impl Into<FileId>) -> Option<PathBuf> {
    let key = key.into();
    // Where it was last read first: a generation followed at a rotated name the patterns do not
    // match is still there after a restart.
    if std::fs::metadata(path).is_ok_and(|m| m.is_file() && FileId::of(&m) == key) {
        return Some(path.to_owned());
    }
    siblings(path)
        .into_iter()
        .find(|(_, m)| FileId::of(m) == key)
        .map(|(p, _)| p)
}

/// The content of `path` from offset 0 (decompressed for a `.gz`).
fn open_stream(path: &Path) -> io::Result<Box<dyn Read>> {
    let f = File::open(path)?;
    Ok(if is_gz(path) {
        Box::new(MultiGzDecoder::new(io::BufReader::new(f)))
    } else {
        Box::new(io::BufReader::new(f))
    })
}

/// The first `len` bytes of `path` (decompressed for a `.gz`), fewer if it is shorter.
pub fn read_prefix(path: &Path, len: usize) -> io::Result<Vec<u8>> {
    let mut r = open_stream(path)?;
    let mut buf = vec![0u8; len];
    let n = read_full(&mut r, &mut buf)?;
    buf.truncate(n);
    Ok(buf)
}

/// The fingerprint of the content of `path` (decompressed for a `.gz`) at offset `end`: its
/// first `min(end, head_len)` bytes and the `min(end, TAIL_LEN)` bytes before `end`; `None`
/// if it holds fewer than `end` bytes.
pub fn window(path: &Path, end: u64, head_len: usize) -> io::Result<Option<Fingerprint>> {
    let hl = end.min(head_len as u64) as usize;
    let tl = end.min(TAIL_LEN as u64) as usize;
    if !is_gz(path) {
        let f = File::open(path)?;
        let head = read_at_most(&f, hl, 0)?;
        let tail = read_at_most(&f, tl, end - tl as u64)?;
        return Ok(
            (head.len() == hl && tail.len() == tl).then_some(Fingerprint {
                head,
                tail,
                pos: end,
            }),
        );
    }
    let fp = fingerprint_stream(open_stream(path)?.take(end), head_len)?;
    Ok((fp.pos == end).then_some(fp))
}

/// The fingerprint of everything `r` yields.
fn fingerprint_stream(mut r: impl Read, head_len: usize) -> io::Result<Fingerprint> {
    let mut fp = Fingerprint::default();
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let n = read_full(&mut r, &mut buf)?;
        if n == 0 {
            return Ok(fp);
        }
        fp.update(&buf[..n], head_len);
    }
}

/// The fingerprint of the whole content of `path` (decompressed for a `.gz`), at its end.
pub fn fingerprint_of(path: &Path, head_len: usize) -> io::Result<Fingerprint> {
    if !is_gz(path) {
        let len = std::fs::metadata(path)?.len();
        return window(path, len, head_len)?
            .ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "file shrank"));
    }
    fingerprint_stream(open_stream(path)?, head_len)
}

/// The `len` bytes of `file` at `at`, fewer where it ends sooner.
pub(crate) fn read_at_most(file: &File, len: usize, at: u64) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; len];
    let mut n = 0;
    while n < len {
        match file.read_at(&mut buf[n..], at + n as u64) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf.truncate(n);
    Ok(buf)
}

/// The decompressed length of the gzip file `path` once it is complete (every member ends with
/// its trailer, which gzip writes last); `Ok(None)` while it is still being written, an error
/// if it is corrupt.
pub fn gz_len(path: &Path) -> io::Result<Option<u64>> {
    let mut r = MultiGzDecoder::new(io::BufReader::new(File::open(path)?));
    match io::copy(&mut r, &mut io::sink()) {
        Ok(n) => Ok(Some(n)),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(None),
        Err(e) => Err(e),
    }
}

/// Whether the plain file `path` holds exactly the bytes `file` holds at the same offsets, over
/// the length of `path`.
pub fn same_bytes(path: &Path, file: &File) -> io::Result<bool> {
    let f = File::open(path)?;
    let len = f.metadata()?.len();
    let mut at = 0u64;
    while at < len {
        let want = (len - at).min(64 << 10) as usize;
        let a = read_at_most(&f, want, at)?;
        if a.is_empty() {
            break;
        }
        if read_at_most(file, a.len(), at)? != a {
            return Ok(false);
        }
        at += a.len() as u64;
    }
    Ok(true)
}

/// The length of the content of `path` (decompressed for a `.gz`) if every byte of it equals
/// the byte of `file` at the same offset; `None` if one differs or `file` ends first. A `.gz`
/// still being written is compared as far as it can be decompressed.
pub(crate) fn copy_of_file(path: &Path, file: &File) -> io::Result<Option<u64>> {
    let mut r = open_stream(path)?;
    let mut buf = vec![0u8; 64 << 10];
    let mut at = 0u64;
    loop {
        let n = read_full(&mut r, &mut buf)?;
        if n == 0 {
            return Ok(Some(at));
        }
        if read_at_most(file, n, at)? != buf[..n] {
            return Ok(None);
        }
        at += n as u64;
    }
}

/// Read the bytes of `copy` from offset `from` to its end, in chunks of `buf`'s size, handing
/// each to `f(offset, bytes)`.
pub fn read_from(
    copy: &Path,
    from: u64,
    buf: &mut [u8],
    f: &mut dyn FnMut(u64, &[u8]) -> io::Result<()>,
) -> io::Result<u64> {
    let file = File::open(copy)?;
    let mut pos = from;
    if is_gz(copy) {
        let mut r = MultiGzDecoder::new(io::BufReader::new(file));
        let skipped = skip_bytes(&mut r, from)?;
        if skipped < from {
            return Ok(0);
        }
        loop {
            let n = read_full(&mut r, buf)?;
            if n == 0 {
                break;
            }
            f(pos, &buf[..n])?;
            pos += n as u64;
        }
    } else {
        loop {
            let n = match file.read_at(buf, pos) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if n == 0 {
                break;
            }
            f(pos, &buf[..n])?;
            pos += n as u64;
        }
    }
    Ok(pos - from)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fp(data: &[u8]) -> Fingerprint {
        let mut f = Fingerprint::default();
        for c in data.chunks(700) {
            f.update(c, 1024);
        }
        f
    }

    #[test]
    fn a_mark_restores_the_fingerprint_it_was_taken_from() {
        let data: Vec<u8> = (0..5000u32).map(|i| (i * 7 % 251) as u8).collect();
        // Before, at and after the head window's end, and at the start.
        for at in [0usize, 300, 1024, 2100, 4200] {
            let then = fp(&data[..at]);
            let mark = Mark::of(&then);
            let now = fp(&data);
            assert_eq!(mark.restore(&now), then, "at {at}");
        }
    }

    #[test]
    fn windows_follow_the_data() {
        let data: Vec<u8> = (0..5000u32).map(|i| (i * 7 % 251) as u8).collect();
        let f = fp(&data);
        assert_eq!(f.head, data[..1024]);
        assert_eq!(f.tail, data[5000 - 1024..]);
        assert_eq!(f.pos, 5000);
    }

    #[test]
    fn compare_tells_match_prefix_and_difference() {
        let data: Vec<u8> = (0..5000u32).map(|i| (i * 7 % 251) as u8).collect();
        let f = fp(&data);
        assert_eq!(compare_stream(&data[..], &f).unwrap(), Verdict::Match);
        let mut longer = data.clone();
        longer.extend_from_slice(b"more");
        assert_eq!(compare_stream(&longer[..], &f).unwrap(), Verdict::Match);
        assert_eq!(compare_stream(&data[..3000], &f).unwrap(), Verdict::Prefix);
        let mut other = data.clone();
        other[4500] ^= 1;
        assert_eq!(compare_stream(&other[..], &f).unwrap(), Verdict::Differs);
        // Same header line, different file.
        let mut same_head = data[..1024].to_vec();
        same_head.extend(std::iter::repeat_n(b'x', 4000));
        assert_eq!(
            compare_stream(&same_head[..], &f).unwrap(),
            Verdict::Differs
        );
        // Short files: windows overlap.
        let small = fp(b"abc\n");
        assert_eq!(
            compare_stream(&b"abc\nde"[..], &small).unwrap(),
            Verdict::Match
        );
        assert_eq!(
            compare_stream(&b"abd\n"[..], &small).unwrap(),
            Verdict::Differs
        );
    }
}
