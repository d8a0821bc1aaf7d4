//! Small value types for what capture compares: a file's identity ([`FileId`]), a file's size
//! and modification time ([`Stamp`]), the times a write changes ([`Changed`]), and the path
//! helper every job shares. Times are the format's [`Timestamp`].
//!
//! They exist so that a signature says what it takes: a `FileId` rather than a pair of numbers
//! whose order a reader has to remember.

use logkeep_format::Timestamp;
use std::ffi::OsString;
use std::fs::Metadata;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// A file's identity on this host: its device and inode numbers (`st_dev`, `st_ino`).
///
/// Identity alone does not make a generation (an inode number is reused once its file is
/// deleted); capture pairs it with the content fingerprint ([`crate::copies::Fingerprint`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct FileId {
    /// `st_dev`.
    pub dev: u64,
    /// `st_ino`.
    pub ino: u64,
}

impl FileId {
    /// The identity of the file `m` describes.
    pub fn of(m: &Metadata) -> FileId {
        FileId {
            dev: m.dev(),
            ino: m.ino(),
        }
    }
}

impl From<(u64, u64)> for FileId {
    fn from((dev, ino): (u64, u64)) -> FileId {
        FileId { dev, ino }
    }
}

impl From<FileId> for (u64, u64) {
    fn from(id: FileId) -> (u64, u64) {
        (id.dev, id.ino)
    }
}

/// Size and modification time: a file whose stamp is unchanged has not been written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stamp {
    pub(crate) len: u64,
    pub(crate) mtime: Timestamp,
}

impl Stamp {
    pub(crate) fn of(m: &Metadata) -> Stamp {
        Stamp {
            len: m.len(),
            mtime: Timestamp::modified(m),
        }
    }
}

/// How close to the present a change time must be for a later write to possibly leave it as it
/// is. Filesystems keep times at a granularity: the kernel's coarse clock tick on most, a
/// second on some (ext4 with small inodes, NFS servers), two on FAT.
const TIME_GRANULARITY: Duration = Duration::from_secs(2);

/// The times every write changes: the modification time and the change time, to the
/// nanosecond. A writer can set the modification time back (`touch -d`, `utimes`), but not the
/// change time, which the kernel sets on every write, truncation and time change. A file whose
/// size and `Changed` are what they were at the previous look has not been written since,
/// unless the times were then [`Changed::recent`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Changed {
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Changed {
    /// The times in `m`.
    pub(crate) fn of(m: &Metadata) -> Changed {
        Changed {
            mtime: (m.mtime(), m.mtime_nsec()),
            ctime: (m.ctime(), m.ctime_nsec()),
        }
    }

    /// Whether a write after `now` (taken before the times were read) could still leave both
    /// times as they are: the change time is within the filesystem's granularity of `now`, or
    /// ahead of it (a clock set back). Such times prove nothing, and the file is compared by
    /// content at the next look even if they stay the same.
    pub(crate) fn recent(self, now: SystemTime) -> bool {
        let (secs, nanos) = self.ctime;
        let (Ok(secs), Ok(nanos)) = (u64::try_from(secs), u32::try_from(nanos)) else {
            return false; // before 1970: not written lately, whatever the clock says
        };
        let ctime = SystemTime::UNIX_EPOCH + Duration::new(secs, nanos);
        match now.duration_since(ctime) {
            Ok(age) => age < TIME_GRANULARITY,
            Err(_) => true,
        }
    }
}

/// A path's directory and file name, the two halves siblings are compared by.
pub(crate) fn split(path: &Path) -> Option<(PathBuf, OsString)> {
    Some((path.parent()?.to_owned(), path.file_name()?.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_id_is_the_metadata_s_device_and_inode() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("a");
        std::fs::write(&p, b"x").expect("write");
        let m = std::fs::metadata(&p).expect("stat");
        let id = FileId::of(&m);
        assert_eq!((id.dev, id.ino), (m.dev(), m.ino()));
        assert_eq!(FileId::from((m.dev(), m.ino())), id);
        assert_eq!(<(u64, u64)>::from(id), (m.dev(), m.ino()));
    }

    #[test]
    fn file_ids_order_by_device_then_inode() {
        let a = FileId { dev: 1, ino: 9 };
        let b = FileId { dev: 2, ino: 1 };
        assert!(a < b);
        assert!(FileId { dev: 1, ino: 1 } < a);
    }

    #[test]
    fn a_stamp_changes_when_the_file_is_written() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("a");
        std::fs::write(&p, b"x").expect("write");
        let before = Stamp::of(&std::fs::metadata(&p).expect("stat"));
        std::fs::write(&p, b"xy").expect("write");
        let after = Stamp::of(&std::fs::metadata(&p).expect("stat"));
        assert_ne!(before, after);
        assert_eq!(after.len, 2);
    }

    #[test]
    fn changed_times_differ_after_a_same_size_rewrite_and_recent_ones_prove_nothing() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("a");
        std::fs::write(&p, b"aaaa").expect("write");
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(&p)
            .expect("open");
        // Times set in the past, as an old file has them.
        let past = SystemTime::now() - Duration::from_secs(3600);
        f.set_modified(past).expect("set mtime");
        let before = Changed::of(&std::fs::metadata(&p).expect("stat"));
        // The change time is the present (set by the kernel, not by `set_modified`): recent.
        assert!(before.recent(SystemTime::now()));
        // An hour later it would prove that nothing was written.
        assert!(!before.recent(SystemTime::now() + Duration::from_secs(3600)));
        std::fs::write(&p, b"bbbb").expect("rewrite");
        f.set_modified(past).expect("set mtime back");
        let after = Changed::of(&std::fs::metadata(&p).expect("stat"));
        // Same size, same modification time: only the change time, or its being recent, tells.
        assert_eq!(std::fs::metadata(&p).expect("stat").len(), 4);
        assert!(after != before || before.recent(SystemTime::now()));
    }

    #[test]
    fn times_before_the_epoch_are_negative() {
        use std::time::SystemTime;
        let t = SystemTime::UNIX_EPOCH - std::time::Duration::from_nanos(5);
        assert_eq!(Timestamp::from(t).unix_nanos(), -5);
        assert_eq!(Timestamp::from(SystemTime::UNIX_EPOCH).unix_nanos(), 0);
    }

    #[test]
    fn split_gives_directory_and_name() {
        let (d, n) = split(Path::new("/var/log/app.log")).expect("split");
        assert_eq!(d, Path::new("/var/log"));
        assert_eq!(n, "app.log");
        assert!(split(Path::new("/")).is_none());
    }
}
