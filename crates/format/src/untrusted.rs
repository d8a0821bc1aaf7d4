//! The one way a file of a store, a medium or a bundle is opened and read: as untrusted input.
//!
//! A store on a USB disk that was plugged into a compromised host may hold anything where a
//! file belongs: a symbolic link to `/dev/zero` or to a copy elsewhere, a FIFO that blocks the
//! first read forever, a device, a directory, a file of a terabyte. [`open`] opens the final
//! component with `O_NOFOLLOW | O_NONBLOCK` (so a link is never followed and a FIFO never waits
//! for a writer), then checks with `fstat` on the open descriptor that it is a regular file,
//! and refuses anything else, naming what it is. [`read_bounded`] reads a whole small file
//! (a record, an identity file, a head hint) and refuses one larger than the format allows
//! before reading it. [`check_dir`] checks that a directory of the layout (`chain/`,
//! `segments/`) is a real directory and not a link to one.
//!
//! Every reader of stores, media and bundles goes through this module; docs/FORMAT.md §12 says
//! what a verifier must never do.

use rustix::fs::{FileType, Mode, OFlags};
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

/// Why a file of untrusted input was not opened or not read.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    /// It does not exist.
    #[error("does not exist")]
    Missing,
    /// It is not a regular file (a link, a FIFO, a device, a socket or a directory): not opened,
    /// or opened and closed without reading.
    #[error("is {0}, not a regular file (not opened, not followed)")]
    NotRegular(&'static str),
    /// It is larger than the format allows in its place: not read.
    #[error("is {size} bytes, more than the {max} bytes allowed here (not read)")]
    TooLarge {
        /// Its size (or the bytes found beyond the limit).
        size: u64,
        /// The limit.
        max: u64,
    },
    /// Reading it failed.
    #[error("{0}")]
    Io(#[from] io::Error),
}

impl Refused {
    /// Whether this is a property of the input (its type or size) rather than an I/O failure
    /// or absence: an integrity finding about the store, not a reason to stop.
    pub fn is_finding(&self) -> bool {
        matches!(self, Refused::NotRegular(_) | Refused::TooLarge { .. })
    }

    /// As an `io::Error` (for callers whose errors are I/O errors).
    pub fn into_io(self) -> io::Error {
        match self {
            Refused::Io(e) => e,
            Refused::Missing => io::ErrorKind::NotFound.into(),
            other => io::Error::new(io::ErrorKind::InvalidData, other.to_string()),
        }
    }
}

/// A name for a file type, as a report says it ("a symbolic link").
pub fn type_name(t: std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if t.is_symlink() {
        "a symbolic link"
    } else if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_file() {
        "a regular file"
    } else {
        "a special file"
    }
}

fn raw_type_name(t: FileType) -> &'static str {
    match t {
        FileType::RegularFile => "a regular file",
        FileType::Directory => "a directory",
        FileType::Symlink => "a symbolic link",
        FileType::Fifo => "a FIFO",
        FileType::Socket => "a socket",
        FileType::CharacterDevice => "a character device",
        FileType::BlockDevice => "a block device",
        _ => "a special file",
    }
}

/// Open `path` for reading as untrusted input: never through a symbolic link in its last
/// component, never blocking on a FIFO, and only if it is a regular file. Returns the file and
/// its size at opening.
pub fn open(path: &Path) -> Result<(File, u64), Refused> {
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
    let fd = match rustix::fs::open(path, flags, Mode::empty()) {
        Ok(fd) => fd,
        Err(rustix::io::Errno::NOENT) => return Err(Refused::Missing),
        Err(e @ (rustix::io::Errno::LOOP | rustix::io::Errno::MLINK)) => {
            // ELOOP is what O_NOFOLLOW answers for a link; confirm without following.
            return match std::fs::symlink_metadata(path) {
                Ok(m) if m.file_type().is_symlink() => Err(Refused::NotRegular("a symbolic link")),
                _ => Err(Refused::Io(e.into())),
            };
        }
        Err(e) => {
            // Opening a socket fails with ENXIO; say what it is when it is not a file.
            if let Ok(m) = std::fs::symlink_metadata(path)
                && !m.file_type().is_file()
            {
                return Err(Refused::NotRegular(type_name(m.file_type())));
            }
            return Err(Refused::Io(e.into()));
        }
    };
    let st = rustix::fs::fstat(&fd).map_err(io::Error::from)?;
    let kind = FileType::from_raw_mode(st.st_mode);
    if kind != FileType::RegularFile {
        return Err(Refused::NotRegular(raw_type_name(kind)));
    }
    // O_NONBLOCK has no effect on a regular file's reads; it stays set.
    Ok((File::from(fd), u64::try_from(st.st_size).unwrap_or(0)))
}

/// Open a file whose path the user gave (a bundle named on the command line): links on the
/// way to it, the last one included, are the user's choice and are followed; the file they
/// lead to is opened as [`open`] opens every file of an input (only a regular file, never
/// blocking).
pub fn open_given(path: &Path) -> Result<(File, u64), Refused> {
    match std::fs::canonicalize(path) {
        Ok(real) => open(&real),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(Refused::Missing),
        Err(e) => Err(Refused::Io(e)),
    }
}

/// [`open`], refusing a file larger than `max` bytes without reading it. The file returned is
/// wrapped so that no more than `max + 1` bytes can be read from it even if it grows.
pub fn open_bounded(path: &Path, max: u64) -> Result<(io::Take<File>, u64), Refused> {
    let (file, size) = open(path)?;
    if size > max {
        return Err(Refused::TooLarge { size, max });
    }
    Ok((file.take(max.saturating_add(1)), size))
}

/// Read the whole of `path` as untrusted input, refusing it if it is larger than `max` bytes
/// (before reading when its size says so, or as soon as more than `max` bytes arrive).
pub fn read_bounded(path: &Path, max: u64) -> Result<Vec<u8>, Refused> {
    let (mut file, size) = open_bounded(path, max)?;
    let mut bytes = Vec::with_capacity(size.min(max).min(1 << 20) as usize);
    file.read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max {
        return Err(Refused::TooLarge {
            size: bytes.len() as u64,
            max,
        });
    }
    Ok(bytes)
}

/// Check that `path` is a directory itself, not a link to one nor anything else.
pub fn check_dir(path: &Path) -> Result<(), Refused> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_dir() => Ok(()),
        Ok(m) => Err(Refused::NotRegular(type_name(m.file_type()))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(Refused::Missing),
        Err(e) => Err(Refused::Io(e)),
    }
}

/// Largest GNU long-name, long-link or pax extended header a tar reader accepts: the tar
/// library reads such a header whole into memory before the member it describes.
pub const MAX_TAR_META_BYTES: u64 = 1 << 20;

/// A reader that watches the tar stream passing through it and fails, before the tar library
/// sees it, on a GNU long-name or long-link header or a pax extended header larger than
/// [`MAX_TAR_META_BYTES`]: such a header is read whole into memory, so its size is a promise
/// of memory a hostile archive must not obtain. It follows the stream header by header (each
/// member's data is skipped by its size) until the first all-zero block, the end of the
/// archive; from then on, and after a refusal, it lets everything through.
pub struct TarGuard<R> {
    inner: R,
    header: [u8; 512],
    filled: usize,
    skip: u64,
    done: bool,
}

impl<R> TarGuard<R> {
    /// Watch the tar stream read from `inner`.
    pub fn new(inner: R) -> TarGuard<R> {
        TarGuard {
            inner,
            header: [0; 512],
            filled: 0,
            skip: 0,
            done: false,
        }
    }

    fn observe(&mut self, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() && !self.done {
            if self.skip > 0 {
                let k = (self.skip.min(data.len() as u64)) as usize;
                self.skip -= k as u64;
                data = &data[k..];
                continue;
            }
            let k = (512 - self.filled).min(data.len());
            self.header[self.filled..self.filled + k].copy_from_slice(&data[..k]);
            self.filled += k;
            data = &data[k..];
            if self.filled < 512 {
                break;
            }
            self.filled = 0;
            if self.header.iter().all(|&b| b == 0) {
                self.done = true;
                break;
            }
            let size = tar_size(&self.header[124..136]);
            let kind = self.header[156];
            if matches!(kind, b'L' | b'K' | b'x' | b'g') && size > MAX_TAR_META_BYTES {
                self.done = true;
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "a tar long-name or extended header of {size} bytes, more than the {MAX_TAR_META_BYTES} allowed (not read)"
                    ),
                ));
            }
            self.skip = size.div_ceil(512).saturating_mul(512);
        }
        Ok(())
    }
}

/// The size field of a tar header: octal digits, or base-256 when its first byte has the high
/// bit set. Unreadable is 0 (the tar library reports it).
fn tar_size(field: &[u8]) -> u64 {
    if field[0] & 0x80 != 0 {
        return field[1..].iter().fold(0u64, |n, &b| {
            n.saturating_mul(256).saturating_add(u64::from(b))
        });
    }
    let text = String::from_utf8_lossy(field);
    u64::from_str_radix(text.trim_matches(|c| c == ' ' || c == '\0'), 8).unwrap_or(0)
}

impl<R: Read> Read for TarGuard<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.observe(&buf[..n])?;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_what_is_not_a_regular_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, b"hello").unwrap();
        assert_eq!(read_bounded(&file, 5).unwrap(), b"hello");
        assert!(matches!(
            read_bounded(&file, 4),
            Err(Refused::TooLarge { size: 5, max: 4 })
        ));
        let link = dir.path().join("l");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        assert!(matches!(
            open(&link),
            Err(Refused::NotRegular("a symbolic link"))
        ));
        assert!(matches!(
            open(dir.path()),
            Err(Refused::NotRegular("a directory"))
        ));
        assert!(matches!(
            open(Path::new("/dev/null")),
            Err(Refused::NotRegular("a character device"))
        ));
        assert!(matches!(
            open(&dir.path().join("none")),
            Err(Refused::Missing)
        ));
        assert!(check_dir(dir.path()).is_ok());
        let dlink = dir.path().join("d");
        std::os::unix::fs::symlink(dir.path(), &dlink).unwrap();
        assert!(matches!(
            check_dir(&dlink),
            Err(Refused::NotRegular("a symbolic link"))
        ));
    }

    #[test]
    fn a_huge_long_name_header_is_refused_before_it_is_read() {
        let mut h = tar::Header::new_gnu();
        h.set_path("././@LongLink").unwrap();
        h.set_entry_type(tar::EntryType::GNULongName);
        h.set_size(1 << 40);
        h.set_cksum();
        let mut stream = h.as_bytes().to_vec();
        stream.extend_from_slice(&[b'a'; 4096]);
        let mut g = TarGuard::new(&stream[..]);
        let err = io::copy(&mut g, &mut io::sink()).unwrap_err();
        assert!(err.to_string().contains("long-name"), "{err}");
        // A normal archive passes untouched.
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(3);
        h.set_cksum();
        b.append_data(&mut h, "x/".repeat(80) + "f", &b"abc"[..])
            .unwrap();
        let bytes = b.into_inner().unwrap();
        let mut out = Vec::new();
        io::copy(&mut TarGuard::new(&bytes[..]), &mut out).unwrap();
        assert_eq!(out, bytes);
    }
}
