//! Offline media: a directory on a separate disk (a USB disk plugged in weekly, a NAS share
//! that is sometimes down) holding a complete, self-verifying copy of the store.
//!
//! A medium is a store directory plus `logkeep-medium.json`, its identity, written once by
//! [`init`]. logkeep writes only to a path whose identity file names the expected medium and
//! store, so an unmounted mount point (an empty directory on the root disk) is never filled by
//! mistake.
//!
//! Copies follow the store's own commit order — a segment before the record that commits it,
//! then `head.json` — and each file is written to a temporary name, synced, read back from the
//! disk and hash-checked before it is renamed into place. A medium that disappears mid-copy
//! therefore holds a valid prefix of the chain and at most a `.tmp-` file, never a half file
//! under a real name; the next sync removes the temporary file and continues.

use logkeep_format::chain::{self, ChainError, ChainReader};
use logkeep_format::layout::{self, Head, Layout};
use logkeep_format::untrusted;
use logkeep_format::verify::MAX_HEAD_BYTES;
use logkeep_format::{Event, Sha256, Timestamp};
use logkeep_store::durable;
use serde::{Deserialize, Serialize};
use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

pub mod remote;
pub mod replicator;

pub use logkeep_format::layout::MEDIUM_FILE;

/// Contents of `logkeep-medium.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MediumInfo {
    /// Always `"logkeep-medium"`.
    pub format: String,
    /// Always 1.
    pub v: u32,
    /// The medium's id, as configured in `[[media]] id`.
    pub id: String,
    /// When it was initialised, RFC 3339 UTC.
    pub created: String,
}

/// An error about a medium, with its path.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    /// I/O on the medium (including ENOSPC).
    #[error("{}: {source}", path.display())]
    Io {
        /// Path.
        path: PathBuf,
        /// Error.
        source: io::Error,
    },
    /// The medium is not what it should be.
    #[error("{}: {what}", path.display())]
    Refused {
        /// Path.
        path: PathBuf,
        /// Why.
        what: String,
    },
}

impl MediaError {
    /// Whether the error is the disk being full.
    pub fn is_full(&self) -> bool {
        matches!(self, MediaError::Io { source, .. } if source.raw_os_error() == Some(28))
    }
}

fn io_at(path: &Path) -> impl FnOnce(io::Error) -> MediaError + '_ {
    move |source| MediaError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Make the directory `path` (a mounted disk) into medium `id`. Refuses a directory that holds
/// anything but another medium's identity of the same id (re-initialising is harmless), and
/// unless `force`, a directory on the same filesystem as its parent (not a mount point).
pub fn init(path: &Path, id: &str, force: bool) -> Result<MediumInfo, MediaError> {
    let meta = fs::metadata(path).map_err(io_at(path))?;
    if !meta.is_dir() {
        return Err(MediaError::Refused {
            path: path.into(),
            what: "not a directory".into(),
        });
    }
    if !layout::valid_source_id(id) {
        return Err(MediaError::Refused {
            path: path.into(),
            what: format!(
                "medium id {id:?} must be 1 to 64 of A-Z a-z 0-9 . _ - and not start with a dot"
            ),
        });
    }
    if let Ok(existing) = read_info(path) {
        if existing.id == id {
            return Ok(existing);
        }
        return Err(MediaError::Refused {
            path: path.into(),
            what: format!(
                "already medium {:?}; refusing to re-initialise it as {id:?}",
                existing.id
            ),
        });
    }
    // A freshly formatted disk may hold the filesystem's own `lost+found`; anything else means
    // the directory is in use for something else.
    for e in fs::read_dir(path).map_err(io_at(path))? {
        let name = e.map_err(io_at(path))?.file_name();
        if name != "lost+found" {
            return Err(MediaError::Refused {
                path: path.into(),
                what: format!(
                    "not empty (holds {:?}); a medium must start empty",
                    name.to_string_lossy()
                ),
            });
        }
    }
    if !force {
        let parent = path
            .canonicalize()
            .ok()
            .and_then(|p| p.parent().map(Path::to_path_buf));
        if let Some(parent) = parent
            && fs::metadata(&parent).map(|m| m.dev()).ok() == Some(meta.dev())
        {
            return Err(MediaError::Refused {
                path: path.into(),
                what: "is on the same filesystem as its parent, not a mounted disk; mount the medium first (or pass --force)".into(),
            });
        }
    }
    let info = MediumInfo {
        format: "logkeep-medium".into(),
        v: 1,
        id: id.into(),
        created: Timestamp::now().to_rfc3339(),
    };
    let mut bytes = serde_json::to_vec_pretty(&info).unwrap_or_default();
    bytes.push(b'\n');
    durable::write_atomic(path, MEDIUM_FILE, &bytes).map_err(io_at(path))?;
    Ok(info)
}

/// Read a medium's identity, as untrusted input (a regular file, never through a link, at most
/// 64 KiB).
pub fn read_info(path: &Path) -> Result<MediumInfo, MediaError> {
    let p = path.join(MEDIUM_FILE);
    let bytes = match untrusted::read_bounded(&p, 64 << 10) {
        Ok(b) => b,
        Err(e) if e.is_finding() => {
            return Err(MediaError::Refused {
                path: p,
                what: e.to_string(),
            });
        }
        Err(e) => return Err(io_at(&p)(e.into_io())),
    };
    let info: MediumInfo = serde_json::from_slice(&bytes).map_err(|e| MediaError::Refused {
        path: p.clone(),
        what: format!("not a medium identity: {e}"),
    })?;
    if info.format != "logkeep-medium" || info.v != 1 {
        return Err(MediaError::Refused {
            path: p,
            what: "unsupported medium format".into(),
        });
    }
    Ok(info)
}

/// What a medium's path holds right now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Presence {
    /// The expected medium.
    Present,
    /// Nothing there (not mounted, or the NAS is down).
    Absent,
    /// A directory without a medium identity: never written to.
    Uninitialised,
    /// Another medium, or another store's copy.
    Foreign(String),
}

/// Check what `path` holds, expecting medium `id` for store `store`.
pub fn probe(path: &Path, id: &str, store: &str) -> Presence {
    match read_info(path) {
        Ok(i) if i.id != id => Presence::Foreign(format!("holds medium {:?}, not {id:?}", i.id)),
        Ok(_) => match logkeep_format::verify::read_store_info(path) {
            Ok(s) if s.store != store => {
                Presence::Foreign(format!("holds a copy of store {}", s.store))
            }
            _ => Presence::Present,
        },
        Err(MediaError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
            if path.is_dir() {
                Presence::Uninitialised
            } else {
                Presence::Absent
            }
        }
        Err(e) => Presence::Foreign(e.to_string()),
    }
}

/// The head of the chain copied to the medium so far (verified to exist with that hash).
pub fn medium_head(path: &Path) -> Option<Head> {
    let bytes = untrusted::read_bounded(&path.join(layout::HEAD_FILE), MAX_HEAD_BYTES).ok()?;
    let head: Head = serde_json::from_slice(&bytes).ok()?;
    holds(path, head).then_some(head)
}

/// Whether the chain at `root` holds `head`: its record at that position hashes to that hash.
fn holds(root: &Path, head: Head) -> bool {
    matches!(chain::read_link(root, head.seq), Ok(Some(l)) if l.hash == head.hash)
}

/// The newest head of its store a medium has seen (`seen-head.json`), if any.
pub fn seen_head(medium: &Path) -> Option<Head> {
    let bytes = untrusted::read_bounded(&medium.join(layout::SEEN_FILE), MAX_HEAD_BYTES).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// The newest head a copy knows of: its own chain's head, or the newer head it saw at its
/// source (a medium). Used by `verify --against`.
pub fn known_head(root: &Path) -> io::Result<Option<Head>> {
    let own = chain_head(root)?;
    Ok(match (own, seen_head(root)) {
        (Some(o), Some(s)) if s.seq > o.seq => Some(s),
        (None, s) => s,
        (o, _) => o,
    })
}

/// The head of a store or medium as its chain says: walk the records from the head hint (or
/// from 1) checking each link, and return the last one that continues the chain.
pub fn chain_head(root: &Path) -> io::Result<Option<Head>> {
    let hint = untrusted::read_bounded(&root.join(layout::HEAD_FILE), MAX_HEAD_BYTES)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<Head>(&bytes).ok())
        .filter(|h| holds(root, *h));
    let mut reader = match hint {
        Some(h) => ChainReader::after(root, h),
        None => ChainReader::new(root),
    };
    for link in reader.by_ref() {
        match link {
            Ok(_) => {}
            Err(ChainError::Io { source, .. }) => return Err(source),
            // The chain this copy holds ends where a record does not continue it.
            Err(_) => break,
        }
    }
    Ok(reader.head())
}

/// How many records back from the head [`still_ejected`] looks for the medium's last event.
pub const EJECT_LOOKBACK: u64 = 20_000;

/// Whether the medium `id` at `path` is still as `logkeep media eject` left it: the store's last
/// record about that medium (looking at most [`EJECT_LOOKBACK`] records back from the head
/// `upto`) says `detached` at a head, and the medium holds exactly that head (nothing was copied
/// to it since). Such a medium is reported as ejected and not written to until it has been
/// seen absent, whether the eject went through the daemon or was done directly on the store.
pub fn still_ejected(store: &Path, upto: Option<Head>, id: &str, path: &Path) -> bool {
    let Some(upto) = upto else {
        return false;
    };
    let low = upto.seq.saturating_sub(EJECT_LOOKBACK).max(1);
    for seq in (low..=upto.seq).rev() {
        let Ok(Some(link)) = chain::read_link(store, seq) else {
            return false;
        };
        if let Event::Medium {
            medium, what, head, ..
        } = &link.record.event
            && medium == id
        {
            return what == "detached" && head.is_some() && medium_head(path) == *head;
        }
    }
    false
}

/// Free bytes on the filesystem holding `path`.
pub fn free_bytes(path: &Path) -> Option<u64> {
    let s = rustix::fs::statvfs(path).ok()?;
    Some(s.f_bavail.saturating_mul(s.f_frsize))
}

/// What a sync did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Synced {
    /// Records copied.
    pub records: u64,
    /// Segments copied.
    pub segments: u64,
    /// Bytes copied.
    pub bytes: u64,
    /// The medium's head afterwards.
    pub head: Option<Head>,
    /// Segments the store no longer holds (pruned) and so could not be copied.
    pub unavailable: u64,
}

/// Copy `src` (a file in the store) to `dir/name` on the medium: temporary name, sync, read
/// back from the disk and compare the hash, then rename and sync the directory.
fn copy_verified(
    src: &Path,
    dir: &Path,
    name: &str,
    expect: Option<Sha256>,
) -> Result<u64, MediaError> {
    let mut input = File::open(src).map_err(io_at(src))?;
    copy_verified_from(&mut input, src, dir, name, expect)
}

/// [`copy_verified`] from a reader (a record read from a pack), `src` naming it in messages.
fn copy_verified_from(
    input: &mut dyn io::Read,
    src: &Path,
    dir: &Path,
    name: &str,
    expect: Option<Sha256>,
) -> Result<u64, MediaError> {
    let (temp, out) = durable::create_temp(dir, name).map_err(io_at(dir))?;
    let result = (|| {
        let mut w =
            logkeep_format::hash::HashWriter::new(io::BufWriter::with_capacity(1 << 20, out));
        io::copy(input, &mut w).map_err(io_at(&temp))?;
        let (buf, written, n) = w.finish();
        let out = buf.into_inner().map_err(|e| io_at(&temp)(e.into_error()))?;
        if let Some(e) = expect
            && e != written
        {
            return Err(MediaError::Refused {
                path: src.into(),
                what: format!("hashes to {written}, its record says {e}: the store is damaged"),
            });
        }
        out.sync_data().map_err(io_at(&temp))?;
        // Drop the cached pages so that the read-back comes from the disk, not from memory.
        let _ = rustix::fs::fadvise(&out, 0, None, rustix::fs::Advice::DontNeed);
        let mut back = logkeep_format::hash::HashWriter::new(io::sink());
        let mut r = File::open(&temp).map_err(io_at(&temp))?;
        io::copy(&mut r, &mut back).map_err(io_at(&temp))?;
        let (_, read, _) = back.finish();
        if read != written {
            return Err(MediaError::Refused {
                path: temp.clone(),
                what: format!(
                    "read back as {read} after writing {written}: the medium corrupts data"
                ),
            });
        }
        durable::commit(out, &temp, dir, name).map_err(io_at(dir))?;
        Ok(n)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result
}

/// Bring medium `medium` (already probed as present) up to record `upto` of the store at
/// `store`, stopping early when `stop` is set. Safe to interrupt at any point.
pub fn sync(
    store: &Path,
    medium: &Path,
    upto: Head,
    stop: &AtomicBool,
) -> Result<Synced, MediaError> {
    let mchain = medium.join(layout::CHAIN_DIR);
    let msegs = medium.join(layout::SEGMENTS_DIR);
    for d in [&mchain, &msegs] {
        fs::create_dir_all(d).map_err(io_at(d))?;
        durable::remove_temps(d).map_err(io_at(d))?;
    }
    durable::remove_temps(medium).map_err(io_at(medium))?;
    // Remember the newest head of the store this medium has seen, before copying toward it:
    // if the store is later rolled back below it, the medium says so even if the copy was cut
    // short.
    if seen_head(medium).is_none_or(|s| s.seq < upto.seq) {
        let mut bytes = serde_json::to_vec(&upto).unwrap_or_default();
        bytes.push(b'\n');
        durable::write_atomic(medium, layout::SEEN_FILE, &bytes).map_err(io_at(medium))?;
    }
    if !medium.join(layout::STORE_FILE).exists() {
        let bytes = fs::read(store.join(layout::STORE_FILE)).map_err(io_at(store))?;
        durable::write_atomic(medium, layout::STORE_FILE, &bytes).map_err(io_at(medium))?;
    }
    let lay = Layout::detect(store);
    let mut head = medium_head(medium).or_else(|| chain_head(medium).ok().flatten());
    if lay.is_sharded() {
        // What an interrupted copy left in the shards it was writing: temporary files, and a
        // pack written whose records' files were not removed yet.
        let at = head.map_or(0, |h| h.seq);
        for rel in [lay.record_dir(at + 1), lay.segment_dir(at + 1)] {
            let d = medium.join(rel);
            if d.is_dir() {
                durable::remove_temps(&d).map_err(io_at(&d))?;
            }
        }
        logkeep_store::pack::settle_shard(medium, lay, at, at)
            .map_err(io_at(&medium.join(lay.record_dir(at))))?;
    }
    let mut done = Synced {
        head,
        ..Synced::default()
    };
    if let Some(h) = head {
        // The medium must hold a prefix of the store's chain; anything else is a different
        // history, and copying onto it would hide that.
        match chain::read_link(store, h.seq) {
            Ok(Some(l)) if l.hash == h.hash => {}
            Ok(Some(_)) => {
                return Err(MediaError::Refused {
                    path: medium.into(),
                    what: format!(
                        "its record {} differs from the store's: the histories diverge; run `logkeep verify --against`",
                        h.seq
                    ),
                });
            }
            _ if h.seq > upto.seq => {
                return Err(MediaError::Refused {
                    path: medium.into(),
                    what: format!(
                        "is ahead of the store (record {} > {}): the store was rolled back or truncated",
                        h.seq, upto.seq
                    ),
                });
            }
            _ => {}
        }
    }
    let store_id = logkeep_format::verify::read_store_info(store)
        .map_err(|e| io_at(&e.path)(e.source))?
        .store;
    // Only records that continue the chain are copied: a medium never holds a broken one.
    let mut reader = match head {
        Some(h) => ChainReader::after(store, h),
        None => ChainReader::new(store),
    }
    .of_store(&store_id);
    while head.map_or(0, |h| h.seq) < upto.seq {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let link = match reader.next() {
            Some(Ok(l)) => l,
            Some(Err(ChainError::Io { path, source })) => {
                return Err(MediaError::Io { path, source });
            }
            Some(Err(e)) => {
                return Err(MediaError::Refused {
                    path: e.path().to_owned(),
                    what: e.what(),
                });
            }
            None => {
                // The store's chain ends before the head it was asked to copy up to.
                let missing = store.join(lay.record_rel(reader.next_seq()));
                let gone = io::Error::from_raw_os_error(rustix::io::Errno::NOENT.raw_os_error());
                return Err(io_at(&missing)(gone));
            }
        };
        let seq = link.record.seq;
        if let Event::Segment { file, sha256, .. } = &link.record.event {
            let spath = store.join(lay.segment_rel(seq, file));
            let mdir = medium.join(lay.segment_dir(seq));
            if mdir.join(file).exists() {
                // Copied before an interruption, record not yet: keep it.
            } else if spath.exists() {
                make_dir(&mdir)?;
                done.bytes += copy_verified(&spath, &mdir, file, Some(*sha256))?;
                done.segments += 1;
            } else {
                done.unavailable += 1;
            }
        }
        let name = layout::record_name(seq);
        let rdir = medium.join(lay.record_dir(seq));
        make_dir(&rdir)?;
        // The record's exact bytes as read (from its file or its pack's line), checked again.
        done.bytes += copy_verified_from(
            &mut &link.bytes[..],
            &link.path,
            &rdir,
            &name,
            Some(link.hash),
        )?;
        done.records += 1;
        if lay.is_sharded() && seq == lay.pack_last(seq) {
            // The run is complete on the medium too: pack it as the store does, from the
            // copies just checked.
            logkeep_store::pack::settle_run(medium, lay, seq).map_err(io_at(&rdir))?;
        }
        head = Some(link.head());
        // Keep head.json current so that a medium pulled out now says how far it got.
        if done.records.is_multiple_of(64) || link.record.seq == upto.seq {
            write_head(medium, head)?;
        }
    }
    write_head(medium, head)?;
    done.head = head;
    Ok(done)
}

fn write_head(medium: &Path, head: Option<Head>) -> Result<(), MediaError> {
    let Some(h) = head else { return Ok(()) };
    let mut bytes = serde_json::to_vec(&h).unwrap_or_default();
    bytes.push(b'\n');
    durable::write_atomic(medium, layout::HEAD_FILE, &bytes).map_err(io_at(medium))
}

/// Create directory `dir` (a shard) if absent, durably.
fn make_dir(dir: &Path) -> Result<(), MediaError> {
    match fs::create_dir(dir) {
        Ok(()) => match dir.parent() {
            Some(p) => durable::sync_dir(p).map_err(io_at(p)),
            None => Ok(()),
        },
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(io_at(dir)(e)),
    }
}

/// Segments of the store at `store` that may be pruned: their reads all happened before
/// `before` (RFC 3339 UTC), the store still holds them, and at least `min_copies` of `media`
/// (present now) hold a copy under the same content-hash name and size. Returns
/// `(seq, file, media ids)`.
pub fn prune_candidates(
    store: &Path,
    media: &[replicator::MediumSpec],
    store_id: &str,
    min_copies: usize,
    before: &str,
) -> io::Result<Vec<(u64, String, Vec<String>)>> {
    prune_candidates_with_remotes(store, media, &[], store_id, min_copies, before)
}

/// [`prune_candidates`], counting remotes as well: `remotes` are `(id, seq)`, each remote
/// holding, read back, every file up to record `seq`.
pub fn prune_candidates_with_remotes(
    store: &Path,
    media: &[replicator::MediumSpec],
    remotes: &[(String, u64)],
    store_id: &str,
    min_copies: usize,
    before: &str,
) -> io::Result<Vec<(u64, String, Vec<String>)>> {
    let present: Vec<&replicator::MediumSpec> = media
        .iter()
        .filter(|m| probe(&m.path, &m.id, store_id) == Presence::Present)
        .collect();
    let mut out = Vec::new();
    if present.len() + remotes.len() < min_copies.max(1) {
        return Ok(out);
    }
    let lay = Layout::detect(store);
    let before = Timestamp::parse(before).unwrap_or(Timestamp::EPOCH);
    for link in ChainReader::new(store) {
        let record = match link {
            Ok(l) => l.record,
            Err(ChainError::Io { source, .. }) => return Err(source),
            // Nothing past a record that does not continue the chain is pruned.
            Err(_) => break,
        };
        if let Event::Segment {
            file, size, last, ..
        } = &record.event
            && Timestamp::parse(last).is_ok_and(|l| l < before)
            && store.join(lay.segment_rel(record.seq, file)).exists()
        {
            let holders: Vec<String> = present
                .iter()
                .filter(|m| {
                    // A copy is a regular file on the medium itself: a link there (to a file of
                    // the right size anywhere) is not one.
                    untrusted::check_dir(&m.path.join(layout::SEGMENTS_DIR)).is_ok()
                        && fs::symlink_metadata(m.path.join(lay.segment_rel(record.seq, file)))
                            .is_ok_and(|md| md.file_type().is_file() && md.len() == *size)
                })
                .map(|m| m.id.clone())
                .chain(
                    remotes
                        .iter()
                        .filter(|(_, upto)| *upto >= record.seq)
                        .map(|(id, _)| id.clone()),
                )
                .collect();
            if holders.len() >= min_copies.max(1) {
                out.push((record.seq, file.clone(), holders));
            }
        }
    }
    Ok(out)
}

/// fsync everything a medium holds that matters, before it is unplugged.
pub fn flush(medium: &Path) -> Result<(), MediaError> {
    for d in [
        medium.to_path_buf(),
        medium.join(layout::CHAIN_DIR),
        medium.join(layout::SEGMENTS_DIR),
    ] {
        durable::sync_dir(&d).map_err(io_at(&d))?;
    }
    rustix::fs::sync();
    Ok(())
}

/// Write a small marker and remove it, to learn whether the medium takes writes again (after
/// ENOSPC or an I/O error).
pub fn writable(medium: &Path) -> bool {
    let p = durable::temp_path(medium, "probe");
    let ok = File::create(&p)
        .and_then(|mut f| f.write_all(&[0u8; 4096]).and_then(|_| f.sync_all()))
        .is_ok();
    let _ = fs::remove_file(&p);
    ok
}
