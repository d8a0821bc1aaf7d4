//! The write-ahead log: plain files of records, one per received message, that file capture
//! archives like any other log file. `docs/SYSLOG.md` specifies the bytes.
//!
//! ```text
//! STORE/wal/SOURCE/00000000000000000007.wal        being written (the highest number)
//! STORE/wal/SOURCE/00000000000000000006.wal        finished, not yet fully committed
//! STORE/wal/SOURCE/00000000000000000005.wal.done   finished and fully committed; deleted once
//!                                                  capture has recorded it as closed
//! ```
//!
//! Rules that make this safe without any state besides the files and the chain:
//!
//! - Only the highest-numbered file is ever appended to. A file is *finished* exactly when a
//!   higher-numbered one exists; the writer creates the next file only after fsyncing the
//!   previous one, and on every start (after a crash the last file may end in a partial record,
//!   which must never be appended after).
//! - A message is received when the fsync of its record has returned (group commit: one fsync
//!   per batch of whatever arrived meanwhile). Nothing is counted before.
//! - [`sweep`] renames a finished file to `.wal.done` only when capture has committed it up to
//!   its size. The rename takes it out of the source's pattern (`*.wal`), so capture reads it to
//!   its end through its open descriptor and records it `closed`; a `.wal.done` file that
//!   capture no longer follows is deleted. A file is never deleted while capture might still need
//!   a byte of it, and never renamed before capture has seen it (a file created and finished
//!   between two scans stays under its name until it is captured).

use crate::framing::{Delim, FrameRef, Part};
use crate::stats::Shared;
use logkeep_format::Timestamp;
use std::fs::{self, File, OpenOptions};
use std::io::{self, IoSlice};
use std::net::{IpAddr, SocketAddr};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use tokio::sync::mpsc;

/// Magic word at the start of every record header.
pub const MAGIC: &str = "LKS1";
/// Suffix of write-ahead log files (the capture pattern is `*.wal`).
pub const SUFFIX: &str = ".wal";
/// Suffix of finished, fully committed files waiting to be closed by capture and deleted.
pub const DONE_SUFFIX: &str = ".wal.done";
/// Default size at which a file is finished and the next one started.
pub const DEFAULT_FILE_BYTES: u64 = 16 << 20;
/// At most this many bytes of records are written per fsync.
pub const BATCH_BYTES: usize = 2 << 20;
/// The batch limit when the test delay is set (see `TEST_DELAY_ENV` in the crate root).
pub const TEST_BATCH_BYTES: usize = 128 << 10;

/// File name of write-ahead log file `seq`.
pub fn file_name(seq: u64) -> String {
    format!("{seq:020}{SUFFIX}")
}

/// The sequence number of a file name, and whether it is a `.wal.done` file.
pub fn parse_name(name: &str) -> Option<(u64, bool)> {
    let (digits, done) = match name.strip_suffix(DONE_SUFFIX) {
        Some(d) => (d, true),
        None => (name.strip_suffix(SUFFIX)?, false),
    };
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((digits.parse().ok()?, done))
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Append `n` in decimal.
pub(crate) fn push_decimal(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

/// What a batch of records means for the counters, once durable. A batch holds the records of
/// one connection or one datagram, so one peer.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Tally {
    /// `None` for records logkeep writes itself (`drops=N`).
    pub peer: Option<IpAddr>,
    pub records: u64,
    /// Messages complete with this batch (a whole message, or an oversize one's last piece).
    pub messages: u64,
    /// Body bytes.
    pub bytes: u64,
    /// Records that are pieces of oversize messages.
    pub pieces: u64,
    /// Oversize messages complete with this batch.
    pub oversize: u64,
    /// Records cut by the end of their connection.
    pub cut: u64,
}

impl Tally {
    pub fn new(peer: Option<IpAddr>) -> Tally {
        Tally {
            peer,
            ..Tally::default()
        }
    }

    fn add(&mut self, f: &FrameRef<'_>) {
        self.records += 1;
        self.bytes += f.body.len() as u64;
        // Records without a peer are logkeep's own (`drops=N`), not messages.
        let last = self.peer.is_some()
            && !matches!(f.part, Some(Part::More { .. }))
            && !matches!(f.part, Some(Part::Of { index, total }) if index < total && !f.eof);
        if f.part.is_some() {
            self.pieces += 1;
        }
        if last {
            self.messages += 1;
            if f.part.is_some() {
                self.oversize += 1;
            }
        }
        if f.eof {
            self.cut += 1;
        }
    }
}

/// Records of one connection (or datagram) on their way to the writer, back to back in one
/// buffer that the writer writes whole and hands back to the [`Pool`].
pub(crate) struct Batch {
    pub data: Vec<u8>,
    pub tally: Tally,
    /// Holds this batch's share of the listener's byte budget until it is durable: while the
    /// writer is behind, the budget runs out and the connections stop reading.
    pub _permit: Option<tokio::sync::OwnedSemaphorePermit>,
    /// Told `true` once the batch is durable (`false` if its fsync failed); dropped unsent if
    /// it could not be written. RELP answers its messages only then.
    pub done: Option<tokio::sync::oneshot::Sender<bool>>,
}

/// Batch buffers, recycled between the writer and the listeners so that the hot path
/// allocates nothing.
pub(crate) struct Pool {
    free: Mutex<Vec<Vec<u8>>>,
}

/// Buffers kept in a [`Pool`], at most.
const POOL_BUFFERS: usize = 64;
/// A batch buffer is allocated with this capacity.
pub(crate) const BATCH_CAPACITY: usize = 128 << 10;
/// A buffer that grew beyond this (an oversize piece, say) is freed rather than kept.
const POOL_KEEP: usize = 1 << 20;

impl Pool {
    pub fn new() -> Pool {
        Pool {
            free: Mutex::new(Vec::new()),
        }
    }

    /// An empty buffer.
    pub fn take(&self) -> Vec<u8> {
        let got = self.free.lock().unwrap_or_else(|e| e.into_inner()).pop();
        got.unwrap_or_else(|| Vec::with_capacity(BATCH_CAPACITY))
    }

    /// Return a buffer for reuse.
    pub fn give(&self, mut buf: Vec<u8>) {
        if buf.capacity() > POOL_KEEP || buf.capacity() == 0 {
            return;
        }
        buf.clear();
        let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
        if free.len() < POOL_BUFFERS {
            free.push(buf);
        }
    }
}

/// Append the record of frame `f` to `out`: `head` is the header up to the length
/// (`LKS1 TIME TRANSPORT LOCAL PEER `), the same for every frame of one read.
pub(crate) fn encode(out: &mut Vec<u8>, tally: &mut Tally, head: &[u8], f: &FrameRef<'_>) {
    out.reserve(head.len() + f.body.len() + 64);
    out.extend_from_slice(head);
    push_decimal(out, f.body.len() as u64);
    match f.delim {
        Delim::OctetCounted => out.extend_from_slice(b" oc"),
        Delim::Lf => out.extend_from_slice(b" lf"),
        Delim::CrLf => out.extend_from_slice(b" crlf"),
        Delim::Datagram => {}
    }
    if f.eof {
        out.extend_from_slice(b" eof");
    }
    if let Some(w) = f.want {
        out.extend_from_slice(b" want=");
        push_decimal(out, w);
    }
    match f.part {
        None => {}
        Some(Part::Of { index, total }) => {
            out.extend_from_slice(b" part=");
            push_decimal(out, index.into());
            out.push(b'/');
            push_decimal(out, total.into());
        }
        Some(Part::More { index }) => {
            out.extend_from_slice(b" part=");
            push_decimal(out, index.into());
            out.push(b'+');
        }
    }
    // No metadata parsed from the message: the body holds it, and a reader parses it there
    // ([`crate::meta::parse`], `docs/SYSLOG.md`).
    out.push(b'\n');
    out.extend_from_slice(f.body);
    out.push(b'\n');
    tally.add(f);
}

/// Append the start of a record header, up to the length: `LKS1 TIME TRANSPORT LOCAL PEER `
/// (`-` without a peer).
pub(crate) fn write_head(
    out: &mut Vec<u8>,
    time: SystemTime,
    transport: &str,
    local: SocketAddr,
    peer: Option<SocketAddr>,
) {
    use std::io::Write;
    out.clear();
    let _ = write!(
        out,
        "{MAGIC} {} {transport} {local} ",
        Timestamp::from(time)
    );
    match peer {
        Some(p) => {
            let _ = write!(out, "{p} ");
        }
        None => out.extend_from_slice(b"- "),
    }
}

/// The file being appended to.
pub(crate) struct Wal {
    dir: PathBuf,
    seq: u64,
    file: File,
    size: u64,
    file_bytes: u64,
}

impl Wal {
    /// Open the log in `dir` (created if absent): reuse the highest file if it is empty, else
    /// start the next one, so nothing is ever appended after a crash's partial record.
    pub fn open(dir: &Path, file_bytes: u64) -> io::Result<Wal> {
        if !dir.exists() {
            fs::create_dir_all(dir)?;
            for d in dir.ancestors().skip(1).take(2) {
                sync_dir(d)?;
            }
        }
        let mut max: Option<(u64, bool)> = None;
        for e in fs::read_dir(dir)? {
            let e = e?;
            if let Some((seq, done)) = e.file_name().to_str().and_then(parse_name)
                && max.is_none_or(|(m, _)| seq > m)
            {
                max = Some((seq, done));
            }
        }
        let (seq, file) = match max {
            Some((seq, false)) if fs::metadata(dir.join(file_name(seq)))?.len() == 0 => {
                let f = OpenOptions::new()
                    .write(true)
                    .open(dir.join(file_name(seq)))?;
                (seq, f)
            }
            Some((seq, _)) => (seq + 1, Self::create(dir, seq + 1)?),
            None => (1, Self::create(dir, 1)?),
        };
        Ok(Wal {
            dir: dir.to_owned(),
            seq,
            file,
            size: 0,
            file_bytes: file_bytes.max(1),
        })
    }

    fn create(dir: &Path, seq: u64) -> io::Result<File> {
        let f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(dir.join(file_name(seq)))?;
        sync_dir(dir)?;
        Ok(f)
    }

    /// The file being written.
    pub fn path(&self) -> PathBuf {
        self.dir.join(file_name(self.seq))
    }

    /// Write `parts`, one after the other, at the end of the file (one `pwritev` when it
    /// takes them all), retrying while the disk refuses (full, say) and `give_up` is not set;
    /// returns how many bytes were written.
    fn write(&mut self, parts: &[&[u8]], give_up: &AtomicBool) -> usize {
        let total: usize = parts.iter().map(|p| p.len()).sum();
        let mut done = 0;
        let mut complained = false;
        // Position: part `i`, byte `off` of it.
        let (mut i, mut off) = (0, 0);
        let mut iov: Vec<IoSlice<'_>> = Vec::with_capacity(parts.len().min(IOV_MAX));
        while done < total {
            while i < parts.len() && off == parts[i].len() {
                i += 1;
                off = 0;
            }
            iov.clear();
            iov.push(IoSlice::new(&parts[i][off..]));
            iov.extend(
                parts[i + 1..]
                    .iter()
                    .take(IOV_MAX - 1)
                    .map(|p| IoSlice::new(p)),
            );
            match rustix::io::pwritev(&self.file, &iov, self.size) {
                Ok(0) => {
                    if self.wait(&mut complained, "wrote nothing", give_up) {
                        break;
                    }
                }
                Ok(mut n) => {
                    done += n;
                    self.size += n as u64;
                    while n > 0 {
                        let k = n.min(parts[i].len() - off);
                        n -= k;
                        off += k;
                        if off == parts[i].len() && n > 0 {
                            i += 1;
                            off = 0;
                        }
                    }
                }
                Err(rustix::io::Errno::INTR) => {}
                Err(e) => {
                    if self.wait(&mut complained, &io::Error::from(e).to_string(), give_up) {
                        break;
                    }
                }
            }
        }
        if complained && done == total {
            tracing::info!(file = %self.path().display(), "writing to the write-ahead log works again");
        }
        done
    }

    /// After a failed write: log once, wait, and say whether to give up.
    fn wait(&self, complained: &mut bool, why: &str, give_up: &AtomicBool) -> bool {
        if !*complained {
            tracing::error!(file = %self.path().display(), "cannot write to the write-ahead log: {why}; holding the messages and pausing the senders until it works");
            *complained = true;
        }
        if give_up.load(Ordering::Relaxed) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(500));
        false
    }

    /// Make everything written durable; start the next file when this one is full.
    fn commit(&mut self) -> io::Result<()> {
        let synced = self.file.sync_data();
        if synced.is_err() || self.size >= self.file_bytes {
            // After a failed fsync the kernel may have dropped the dirty pages: never append
            // to that file again.
            match Self::create(&self.dir, self.seq + 1) {
                Ok(f) => {
                    self.file = f;
                    self.seq += 1;
                    self.size = 0;
                }
                Err(e) => {
                    tracing::error!(dir = %self.dir.display(), "cannot start the next write-ahead log file: {e}")
                }
            }
        }
        synced
    }
}

/// Buffers handed to one `pwritev`, at most (Linux's `IOV_MAX`).
const IOV_MAX: usize = 1024;

/// The writer thread of one source: group commits until every sender is gone.
pub(crate) fn run_writer(
    mut wal: Wal,
    mut rx: mpsc::Receiver<Batch>,
    pool: Arc<Pool>,
    stats: Arc<Shared>,
    give_up: Arc<AtomicBool>,
    delay: Option<Duration>,
) {
    let mut group: Vec<Batch> = Vec::new();
    let mut next: Option<Batch> = None;
    let batch_bytes = if delay.is_some() {
        TEST_BATCH_BYTES
    } else {
        BATCH_BYTES
    };
    let mut path = wal.path().display().to_string();
    stats.wal_file(&path);
    while let Some(first) = next.take().or_else(|| rx.blocking_recv()) {
        let mut bytes = first.data.len();
        group.push(first);
        // Whatever queued up during the previous fsync goes into this one, up to the limit
        // (a batch that would pass it waits for the next one).
        while bytes < batch_bytes {
            match rx.try_recv() {
                Ok(b) if bytes + b.data.len() > batch_bytes => {
                    next = Some(b);
                    break;
                }
                Ok(b) => {
                    bytes += b.data.len();
                    group.push(b);
                }
                Err(_) => break,
            }
        }
        if let Some(d) = delay {
            std::thread::sleep(d);
        }
        let parts: Vec<&[u8]> = group.iter().map(|b| &b.data[..]).collect();
        let written = wal.write(&parts, &give_up);
        drop(parts);
        if written < bytes {
            let lost: u64 = group.iter().map(|b| b.tally.records).sum();
            tracing::error!(
                file = %wal.path().display(),
                lost,
                "stopping with messages that could not be written to the write-ahead log: they are lost"
            );
            group.clear();
            continue;
        }
        let durable = match wal.commit() {
            Ok(()) => true,
            Err(e) => {
                let n: u64 = group.iter().map(|b| b.tally.records).sum();
                tracing::error!(file = %wal.path().display(), "fsync of the write-ahead log failed: {e}; its last {n} record(s) may not survive a power loss");
                false
            }
        };
        let now = Timestamp::now().to_rfc3339();
        if !path.ends_with(&file_name(wal.seq)) {
            path = wal.path().display().to_string();
        }
        stats.stored(group.iter().map(|b| b.tally), &now, &path);
        // Returns the budget (the permits) and the buffers.
        for mut b in group.drain(..) {
            if let Some(done) = b.done.take() {
                let _ = done.send(durable);
            }
            pool.give(b.data);
        }
    }
}

/// What a [`sweep`] did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Swept {
    /// Finished, fully committed files renamed to `.wal.done`.
    pub finished: usize,
    /// `.wal.done` files deleted.
    pub deleted: usize,
}

/// Retire what capture no longer needs in the write-ahead log directory `dir` (see the module
/// documentation). `committed(dev, ino)` is how far capture has committed the file with that
/// identity, `None` if capture does not follow it. Call it only after a poll, so that capture
/// has had the chance to find every file.
pub fn sweep(dir: &Path, committed: &dyn Fn((u64, u64)) -> Option<u64>) -> io::Result<Swept> {
    let mut files: Vec<(u64, bool, PathBuf)> = Vec::new();
    for e in fs::read_dir(dir)? {
        let e = e?;
        if let Some((seq, done)) = e.file_name().to_str().and_then(parse_name) {
            files.push((seq, done, e.path()));
        }
    }
    let Some(newest) = files.iter().map(|f| f.0).max() else {
        return Ok(Swept::default());
    };
    let mut swept = Swept::default();
    for (seq, done, path) in files {
        let m = match fs::symlink_metadata(&path) {
            Ok(m) if m.is_file() => m,
            _ => continue,
        };
        let key = (m.dev(), m.ino());
        if done {
            if committed(key).is_none() {
                fs::remove_file(&path)?;
                swept.deleted += 1;
            }
        } else if seq < newest && committed(key) == Some(m.len()) {
            retire(&path)?;
            swept.finished += 1;
        }
    }
    if swept.finished + swept.deleted > 0 {
        sync_dir(dir)?;
    }
    Ok(swept)
}

/// The name a finished file `path` (`N.wal`) takes once retired: `N.wal.done`.
pub fn done_path(path: &Path) -> PathBuf {
    let mut to = path.as_os_str().to_owned();
    to.push(".done");
    PathBuf::from(to)
}

/// Retire the write-ahead log file `path`: rename it to its `.wal.done` name, which takes it
/// out of the capture pattern (capture reads it to its end through its descriptor).
pub fn retire(path: &Path) -> io::Result<()> {
    fs::rename(path, done_path(path))
}

/// Whether `path` (a recorded file name) names a write-ahead log file of the store at `store`.
pub fn is_wal_file(store: &Path, path: &str) -> bool {
    Path::new(path).starts_with(store.join(logkeep_format::layout::WAL_DIR))
        && path.ends_with(SUFFIX)
}

/// What the chain says capture holds of one file: its generation, recorded name, identity and
/// how far it was committed.
#[derive(Debug, Clone, Copy)]
pub struct Captured<'a> {
    /// Generation id.
    pub gen_id: u64,
    /// Recorded name.
    pub path: &'a str,
    /// Device number.
    pub dev: u64,
    /// Inode number.
    pub ino: u64,
    /// Committed up to here.
    pub end: u64,
}

/// After an unclean stop: the write-ahead log files of the store at `store` that the chain
/// captured further than they now reach, each retired (renamed `.wal.done` for the sweep to
/// delete); returns their generation ids, in order.
///
/// Capture reads a write-ahead log file as soon as its bytes are written, so a power cut
/// between that and the log's own fsync leaves the file shorter than its generation in the
/// chain, whose segments were fsynced first: those bytes are not lost, they are in the store.
/// Such a file holds nothing that is not captured, so its generation is to be closed
/// (`wal-cut`) and the file done with; following it as a shrunk file would raise a false tamper
/// alarm and capture its bytes a second time. Files that are not write-ahead log files of this
/// store, or that are not the file the chain captured, are left alone.
pub fn cut_by_crash<'a>(
    store: &Path,
    captured: impl IntoIterator<Item = Captured<'a>>,
) -> Vec<u64> {
    let mut out = Vec::new();
    for g in captured {
        if !is_wal_file(store, g.path) {
            continue;
        }
        let path = Path::new(g.path);
        let Ok(meta) = fs::symlink_metadata(path) else {
            continue;
        };
        if !meta.is_file() || (meta.dev(), meta.ino()) != (g.dev, g.ino) || meta.len() >= g.end {
            continue;
        }
        tracing::warn!(
            path = %g.path,
            captured = g.end,
            size_now = meta.len(),
            "a write-ahead log file lost its last bytes in the crash; the store holds them"
        );
        if let Err(e) = retire(path) {
            tracing::warn!(path = %g.path, "cannot mark it done: {e}");
        }
        out.push(g.gen_id);
    }
    out.sort_unstable();
    out
}

/// One record read back from a write-ahead log file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record<'a> {
    /// Receive time.
    pub time: &'a str,
    /// `udp`, `tcp` or `tls`.
    pub transport: &'a str,
    /// Local address the message arrived at.
    pub local: &'a str,
    /// Sender's address, `-` for records logkeep writes itself (`drops=N`).
    pub peer: &'a str,
    /// Flags after the length.
    pub flags: Vec<&'a str>,
    /// The message bytes.
    pub body: &'a [u8],
    /// False for a last record cut short (the writer was killed while writing it).
    pub complete: bool,
}

/// Read every record of a write-ahead log file's bytes. An error names the byte offset of the
/// first malformed header.
pub fn read_records(data: &[u8]) -> Result<Vec<Record<'_>>, String> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < data.len() {
        let Some(nl) = memchr::memchr(b'\n', &data[pos..]) else {
            // A writer killed inside the last header: no message bytes follow.
            let rest = &data[pos..];
            let head = &rest[..rest.len().min(MAGIC.len() + 1)];
            if format!("{MAGIC} ").as_bytes().starts_with(head)
                || rest.starts_with(MAGIC.as_bytes())
            {
                break;
            }
            return Err(format!("offset {pos}: no {MAGIC} header"));
        };
        let line = std::str::from_utf8(&data[pos..pos + nl])
            .map_err(|_| format!("offset {pos}: header is not ASCII"))?;
        let mut f = line.split(' ');
        let mut next = || {
            f.next()
                .ok_or_else(|| format!("offset {pos}: short header"))
        };
        if next()? != MAGIC {
            return Err(format!("offset {pos}: no {MAGIC} header"));
        }
        let (time, transport, local, peer) = (next()?, next()?, next()?, next()?);
        let len: usize = next()?
            .parse()
            .map_err(|_| format!("offset {pos}: bad length"))?;
        let flags: Vec<&str> = f.collect();
        let start = pos + nl + 1;
        let end = start.saturating_add(len);
        let complete = end < data.len() && data[end] == b'\n';
        if !complete && end < data.len() {
            return Err(format!("offset {end}: record does not end with LF"));
        }
        out.push(Record {
            time,
            transport,
            local,
            peer,
            flags,
            body: &data[start..end.min(data.len())],
            complete,
        });
        if !complete {
            // Cut short: it runs to the end of the file (a length near usize::MAX included).
            break;
        }
        pos = end + 1;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn names() {
        assert_eq!(file_name(7), "00000000000000000007.wal");
        assert_eq!(parse_name("00000000000000000007.wal"), Some((7, false)));
        assert_eq!(parse_name("00000000000000000007.wal.done"), Some((7, true)));
        assert_eq!(parse_name("7.wal"), None);
        assert_eq!(parse_name("00000000000000000007.wal.tmp"), None);
    }

    #[test]
    fn a_file_shorter_than_its_capture_is_retired_and_its_generation_named() {
        let store = tempfile::tempdir().expect("tmp");
        let dir = crate::wal_dir(store.path(), "net");
        fs::create_dir_all(&dir).expect("mkdir");
        let cut = dir.join(file_name(1));
        let whole = dir.join(file_name(2));
        fs::write(&cut, b"abc").expect("write");
        fs::write(&whole, b"abcdef").expect("write");
        let outside = store.path().join("app.wal");
        fs::write(&outside, b"a").expect("write");
        let meta = |p: &Path| {
            let m = fs::metadata(p).expect("meta");
            (m.dev(), m.ino())
        };
        let names: Vec<String> = [&cut, &whole, &outside]
            .iter()
            .map(|p| p.to_str().expect("utf-8").to_owned())
            .collect();
        let captured = [(9, &cut, 0), (4, &whole, 1), (5, &outside, 2)].map(|(gen_id, p, i)| {
            let (dev, ino) = meta(p);
            Captured {
                gen_id,
                path: &names[i],
                dev,
                ino,
                end: 6,
            }
        });
        assert_eq!(cut_by_crash(store.path(), captured), vec![9]);
        assert!(!cut.exists());
        assert!(done_path(&cut).exists());
        assert!(whole.exists());
        assert!(outside.exists());
    }

    #[test]
    fn reads_records_and_a_cut_last_one() {
        let data = b"LKS1 t tcp l p 3 oc\na\nb\nLKS1 t udp l - 0 drops=2\n\nLKS1 t tcp l p 5\nab";
        let r = read_records(data).expect("records");
        assert_eq!(r.len(), 3);
        assert_eq!(r[0].body, b"a\nb");
        assert_eq!(r[0].flags, vec!["oc"]);
        assert_eq!(r[1].body, b"");
        assert!(r[1].complete);
        assert_eq!(r[2].body, b"ab");
        assert!(!r[2].complete);
        assert!(read_records(b"LKS1 t tcp l p 1\nab").is_err());
        // Cut inside the last header.
        assert_eq!(
            read_records(b"LKS1 t tcp l p 1\na\nLKS1 t tc").map(|r| r.len()),
            Ok(1)
        );
        assert!(read_records(b"LKS1 t tcp l p 1\na\nxyz").is_err());
        // A length near usize::MAX is a record cut short, read once (found by fuzzing: the
        // position after it overflowed and the reader started over from the beginning).
        let r = read_records(b"LKS1 t tcp l p 18446744073709551615\nab").expect("records");
        assert_eq!(r.len(), 1);
        assert!(!r[0].complete);
        assert_eq!(r[0].body, b"ab");
    }

    #[test]
    fn vectored_writes_put_every_part_in_order() {
        let dir = tempfile::tempdir().expect("tmp");
        let d = dir.path().join("wal/fw");
        let mut w = Wal::open(&d, 1 << 30).expect("open");
        let stop = AtomicBool::new(false);
        // More parts than one pwritev takes.
        let parts: Vec<Vec<u8>> = (0..2500u32).map(|i| i.to_string().into_bytes()).collect();
        let refs: Vec<&[u8]> = parts.iter().map(|p| &p[..]).collect();
        let total: usize = parts.iter().map(Vec::len).sum();
        assert_eq!(w.write(&refs, &stop), total);
        assert_eq!(w.write(&[b"end"], &stop), 3);
        w.commit().expect("commit");
        let mut expect = parts.concat();
        expect.extend(b"end");
        assert_eq!(fs::read(w.path()).expect("read"), expect);
    }

    #[test]
    fn records_are_encoded_as_specified() {
        let mut out = Vec::new();
        let mut head = Vec::new();
        let t = SystemTime::UNIX_EPOCH + Duration::new(1_795_662_612, 1);
        let local: SocketAddr = "192.0.2.1:514".parse().expect("addr");
        let peer: SocketAddr = "[2001:db8::7]:50123".parse().expect("addr");
        write_head(&mut head, t, "tcp", local, Some(peer));
        let mut tally = Tally::new(Some(peer.ip()));
        let f = FrameRef {
            body: b"<13>1 2026-11-20T03:10:12Z gw1 openvpn - - - hi",
            delim: Delim::OctetCounted,
            eof: false,
            want: None,
            part: None,
        };
        encode(&mut out, &mut tally, &head, &f);
        let g = FrameRef {
            body: b"x\ny",
            delim: Delim::Lf,
            eof: true,
            want: Some(12_345_678_901),
            part: Some(Part::Of { index: 3, total: 3 }),
        };
        encode(&mut out, &mut tally, &head, &g);
        let r = read_records(&out).expect("records");
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].time, "2026-11-26T03:10:12.000000001Z");
        assert_eq!(
            (r[0].transport, r[0].local, r[0].peer),
            ("tcp", "192.0.2.1:514", "[2001:db8::7]:50123")
        );
        assert_eq!(r[0].body, f.body);
        assert_eq!(r[0].flags, ["oc"], "no metadata parsed from the body");
        assert_eq!(r[1].body, g.body);
        assert_eq!(r[1].flags, ["lf", "eof", "want=12345678901", "part=3/3"]);
        assert_eq!(
            (
                tally.records,
                tally.messages,
                tally.pieces,
                tally.oversize,
                tally.cut
            ),
            (2, 2, 1, 1, 1)
        );
        let mut n = Vec::new();
        for v in [0, 7, 10, 99, 100, u64::MAX] {
            n.clear();
            push_decimal(&mut n, v);
            assert_eq!(n, v.to_string().into_bytes());
        }
    }

    fn stat(p: &Path) -> ((u64, u64), u64) {
        let m = fs::metadata(p).expect("stat");
        ((m.dev(), m.ino()), m.len())
    }

    #[test]
    fn every_start_begins_a_new_file_unless_the_last_is_empty() {
        let dir = tempfile::tempdir().expect("tmp");
        let d = dir.path().join("wal/fw");
        let w = Wal::open(&d, 100).expect("open");
        assert_eq!(w.path(), d.join(file_name(1)));
        drop(w);
        let mut w = Wal::open(&d, 100).expect("reopen");
        assert_eq!(w.path(), d.join(file_name(1)), "an empty file is reused");
        let stop = AtomicBool::new(false);
        w.write(&[b"x"], &stop);
        w.commit().expect("commit");
        drop(w);
        let w = Wal::open(&d, 100).expect("reopen");
        assert_eq!(w.path(), d.join(file_name(2)));
    }

    #[test]
    fn files_rotate_at_their_size_and_are_retired_only_when_committed() {
        let dir = tempfile::tempdir().expect("tmp");
        let d = dir.path().to_owned();
        let mut w = Wal::open(&d, 10).expect("open");
        let stop = AtomicBool::new(false);
        w.write(&[b"01234", b"", b"56789ab"], &stop);
        w.commit().expect("commit");
        assert_eq!(w.path(), d.join(file_name(2)));
        let first = d.join(file_name(1));
        let (key, len) = stat(&first);
        let mut followed: HashMap<(u64, u64), u64> = HashMap::new();
        // Not followed yet, or not fully committed: left alone.
        let s = sweep(&d, &|k| followed.get(&k).copied()).expect("sweep");
        assert_eq!(s, Swept::default());
        followed.insert(key, len - 1);
        let s = sweep(&d, &|k| followed.get(&k).copied()).expect("sweep");
        assert_eq!(s, Swept::default());
        // Fully committed: renamed out of the pattern, kept while capture follows it.
        followed.insert(key, len);
        let s = sweep(&d, &|k| followed.get(&k).copied()).expect("sweep");
        assert_eq!(s.finished, 1);
        let done = d.join(format!("{}.done", file_name(1)));
        assert!(done.exists());
        let s = sweep(&d, &|k| followed.get(&k).copied()).expect("sweep");
        assert_eq!(s, Swept::default());
        // Closed by capture: deleted.
        followed.clear();
        let s = sweep(&d, &|k| followed.get(&k).copied()).expect("sweep");
        assert_eq!(s.deleted, 1);
        assert!(!done.exists());
        // The newest file is never retired, even fully committed.
        let (k2, l2) = stat(&d.join(file_name(2)));
        followed.insert(k2, l2);
        assert_eq!(
            sweep(&d, &|k| followed.get(&k).copied()).expect("sweep"),
            Swept::default()
        );
    }
}
