//! Crash-safe file writes: temporary name, fsync, then a hard link (evidence: never replaces
//! an existing name) or a rename (hints), then fsync of the directory.
//!
//! After any crash a path holds either its old content or its new content, never a mix, and a
//! link or rename that was reported done survives power loss. Segments and chain records are
//! committed with [`commit_new`] / [`write_new`]: a hard link fails if the name exists, so
//! committed evidence is never overwritten, which a rename would do silently. Temporary files
//! carry the `.tmp-` prefix and are removed by [`remove_temps`] when a store is opened.

use logkeep_format::layout::TMP_PREFIX;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

/// Set by [`skip_fsync_for_benchmarks`]: fsyncs are not made (durability off).
static SKIP_FSYNC: AtomicBool = AtomicBool::new(false);

/// Make no fsync in this process from now on: every write is then durable only when the
/// kernel writes it back, and a power loss can lose committed evidence. Only the benchmark's
/// generator of large stores calls it (it must create millions of files in minutes); the
/// daemon and every other command never do.
#[doc(hidden)]
pub fn skip_fsync_for_benchmarks() {
    SKIP_FSYNC.store(true, Ordering::Relaxed);
}

/// fsync `file`, unless [`skip_fsync_for_benchmarks`] was called.
fn sync_file(file: &File) -> io::Result<()> {
    if SKIP_FSYNC.load(Ordering::Relaxed) {
        return Ok(());
    }
    file.sync_all()
}

/// fsync a directory so that renames and creations inside it are durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    if SKIP_FSYNC.load(Ordering::Relaxed) {
        return Ok(());
    }
    File::open(dir)?.sync_all()
}

/// A unique temporary path inside `dir`.
pub fn temp_path(dir: &Path, hint: &str) -> PathBuf {
    let mut r = [0u8; 6];
    rustix::rand::getrandom(&mut r, rustix::rand::GetRandomFlags::empty()).ok();
    dir.join(format!("{TMP_PREFIX}{hint}-{}", hex::encode(r)))
}

/// Create a new temporary file inside `dir` for writing.
pub fn create_temp(dir: &Path, hint: &str) -> io::Result<(PathBuf, File)> {
    let path = temp_path(dir, hint);
    let f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)?;
    Ok((path, f))
}

/// Make a fully written temporary file permanent under `dir/name`: fsync it, make it read-only,
/// rename it, fsync the directory. The file must already be closed for writing or flushed.
pub fn commit(file: File, temp: &Path, dir: &Path, name: &str) -> io::Result<()> {
    file.set_permissions(fs::Permissions::from_mode(0o444))?;
    sync_file(&file)?;
    drop(file);
    fs::rename(temp, dir.join(name))?;
    sync_dir(dir)
}

/// Like [`commit`], but never replaces an existing `dir/name`: evidence already committed
/// under a name is never overwritten (the temporary file is removed and the call fails with
/// `AlreadyExists`).
pub fn commit_new(file: File, temp: &Path, dir: &Path, name: &str) -> io::Result<()> {
    file.set_permissions(fs::Permissions::from_mode(0o444))?;
    sync_file(&file)?;
    drop(file);
    // A hard link fails if the name exists, unlike rename; then the temporary name goes.
    let linked = fs::hard_link(temp, dir.join(name));
    let _ = fs::remove_file(temp);
    linked?;
    sync_dir(dir)
}

/// Write `bytes` to `dir/name` durably, never replacing an existing file.
pub fn write_new(dir: &Path, name: &str, bytes: &[u8]) -> io::Result<()> {
    let (temp, mut f) = create_temp(dir, name)?;
    if let Err(e) = f.write_all(bytes) {
        let _ = fs::remove_file(&temp);
        return Err(e);
    }
    commit_new(f, &temp, dir, name)
}

/// Write `bytes` to `dir/name` atomically and durably.
pub fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> io::Result<()> {
    let (temp, mut f) = create_temp(dir, name)?;
    let r = f.write_all(bytes).and_then(|_| commit(f, &temp, dir, name));
    if r.is_err() {
        let _ = fs::remove_file(&temp);
    }
    r
}

/// Remove temporary files a crash left in `dir`; returns how many.
pub fn remove_temps(dir: &Path) -> io::Result<usize> {
    let mut n = 0;
    for e in fs::read_dir(dir)? {
        let e = e?;
        if e.file_name().to_string_lossy().starts_with(TMP_PREFIX) {
            fs::remove_file(e.path())?;
            n += 1;
        }
    }
    if n > 0 {
        sync_dir(dir)?;
    }
    Ok(n)
}
