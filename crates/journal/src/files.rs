//! Which journal files a source reads, and what their headers say.
//!
//! A journal directory holds the active files journald writes (`system.journal`,
//! `user-1000.journal`), the files it archived at rotation (renamed to
//! `system@SEQNUMID-HEADSEQ-HEADTIME.journal`) and files it put aside as damaged
//! (`….journal~`). Only journald removes archived and put-aside files (vacuuming); an active
//! file leaves its name only by being archived.

use std::fs;
use std::io::{self, Read};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// The directories journald writes when no directory is configured: persistent, then volatile.
pub const SYSTEM_DIRS: [&str; 2] = ["/var/log/journal", "/run/log/journal"];

/// The eight bytes a journal file begins with.
const SIGNATURE: &[u8; 8] = b"LPKSHHRH";

/// The header's compatible flag of a file journald sealed (Forward Secure Sealing).
const COMPATIBLE_SEALED: u32 = 1;

/// One journal file seen in a listing.
#[derive(Debug, Clone)]
pub(crate) struct Listed {
    /// Path, as recorded.
    pub path: String,
    /// st_dev, st_ino.
    pub id: (u64, u64),
    /// Size in bytes.
    pub size: u64,
    /// Modification and change times (ns), which journald touches after every write.
    pub times: (i128, i128),
}

/// Whether a file name is one journald archived or put aside: only journald's own vacuuming
/// removes such a file.
pub(crate) fn is_archived(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    name.ends_with(".journal~") || (name.contains('@') && name.ends_with(".journal"))
}

/// The journal files directly in `dir` and in its subdirectories one level down (the
/// machine-id directories), sorted by path. A directory that does not exist holds none.
pub(crate) fn list(dir: &Path) -> io::Result<Vec<Listed>> {
    let mut out = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    match fs::read_dir(dir) {
        Ok(rd) => {
            for e in rd.flatten() {
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    dirs.push(e.path());
                }
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e),
    }
    for d in dirs {
        let Ok(rd) = fs::read_dir(&d) else { continue };
        for e in rd.flatten() {
            let name = e.file_name();
            let Some(name) = name.to_str() else { continue };
            if !(name.ends_with(".journal") || name.ends_with(".journal~")) {
                continue;
            }
            let path: PathBuf = e.path();
            let Ok(md) = fs::symlink_metadata(&path) else {
                continue;
            };
            if !md.file_type().is_file() {
                continue;
            }
            let Some(p) = path.to_str() else { continue };
            out.push(Listed {
                path: p.to_owned(),
                id: (md.dev(), md.ino()),
                size: md.len(),
                times: (
                    i128::from(md.mtime()) * 1_000_000_000 + i128::from(md.mtime_nsec()),
                    i128::from(md.ctime()) * 1_000_000_000 + i128::from(md.ctime_nsec()),
                ),
            });
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

/// What a journal file's header says, as far as capture records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Header {
    /// The file's id, 32 lowercase hex digits.
    pub file_id: String,
    /// Whether journald sealed it (FSS).
    pub sealed: bool,
    /// `offline`, `online`, `archived` or `unknown(N)`.
    pub state: String,
}

/// Read the header of the journal file at `path`; an error names what is wrong.
pub(crate) fn header(path: &str) -> io::Result<Header> {
    let mut b = [0u8; 40];
    let mut f = fs::File::open(path)?;
    f.read_exact(&mut b)
        .map_err(|e| io::Error::new(e.kind(), format!("{path}: too short for a journal header")))?;
    if &b[..8] != SIGNATURE {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{path}: not a journal file (no LPKSHHRH signature)"),
        ));
    }
    let compatible = u32::from_le_bytes([b[8], b[9], b[10], b[11]]);
    let state = match b[16] {
        0 => "offline".to_owned(),
        1 => "online".to_owned(),
        2 => "archived".to_owned(),
        n => format!("unknown({n})"),
    };
    Ok(Header {
        file_id: hex::encode(&b[24..40]),
        sealed: compatible & COMPATIBLE_SEALED != 0,
        state,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archived_names_are_journalds_own() {
        assert!(is_archived(
            "/var/log/journal/m/system@0123456789abcdef0123456789abcdef-0000000000000001-0005f00000000000.journal"
        ));
        assert!(is_archived("/var/log/journal/m/user-1000@x.journal~"));
        assert!(!is_archived("/var/log/journal/m/system.journal"));
        assert!(!is_archived("/var/log/j@x/system.journal"));
    }

    #[test]
    fn a_file_without_the_signature_is_refused_by_name() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x.journal");
        fs::write(&p, [0u8; 64]).unwrap();
        let e = header(p.to_str().unwrap()).unwrap_err();
        assert!(
            e.to_string().contains("x.journal: not a journal file"),
            "{e}"
        );
        let mut h = b"LPKSHHRH".to_vec();
        h.extend_from_slice(&1u32.to_le_bytes());
        h.extend_from_slice(&[0u8; 4]);
        h.push(2);
        h.extend_from_slice(&[0u8; 7]);
        h.extend_from_slice(&[0xab; 16]);
        fs::write(&p, &h).unwrap();
        let got = header(p.to_str().unwrap()).unwrap();
        assert_eq!(
            got,
            Header {
                file_id: "ab".repeat(16),
                sealed: true,
                state: "archived".into()
            }
        );
    }
}
