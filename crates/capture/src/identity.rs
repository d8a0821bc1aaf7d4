//! Small value types for what capture compares: a file's identity ([`FileId`]), a file's size
//! and modification time ([`Stamp`]), and the path helper every job shares. Times are the
//! format's [`Timestamp`].
//!
//! They exist so that a signature says what it takes: a `FileId` rather than a pair of numbers
//! whose order a reader has to remember.

use logkeep_format::Timestamp;
use std::ffi::OsString;
use std::fs::Metadata;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

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
