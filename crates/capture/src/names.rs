//! File names: glob patterns matched against raw names, the name a path is recorded under in
//! the chain, and which names are rotations of a file.
//!
//! **Patterns.** The syntax is the `glob` crate's, which `check-config` validates (`*`, `?`,
//! `[...]`, `[!...]`, `**` as a whole component), with the options `glob::glob` uses. That crate
//! skips names that are not UTF-8, so the directories are walked here and each name is matched
//! on its own: a UTF-8 name exactly as `glob` would, any other name with every byte that is not
//! part of valid UTF-8 taken as one U+FFFD character, which `*`, `?` and `[!...]` match and no
//! literal in a pattern does (unless the pattern spells U+FFFD itself).
//!
//! **Recorded names.** Records carry paths as JSON strings, which must be UTF-8. A UTF-8 path is
//! recorded as it is. Any other path is recorded with its valid UTF-8 runs kept, every `\` in them
//! doubled, and every other byte written `\xNN` (two lowercase hex digits), so that
//! `/logs/app-<0xff>.log` becomes `/logs/app-\xff.log`. The captured bytes are unchanged;
//! `logkeep extract` writes the generation under the recorded name.
//!
//! **Rotated names.** A name is a rotation of `BASE` when it is `BASE` followed by `.`, `-` or
//! `_` and a counter or date (`app.log.1`, `app.log-20261126`, `app.log.2026-11-26`), or, for a
//! `BASE` with an extension, `STEM.N.EXT` or a date before the extension (`app.1.log`,
//! `app-20261126.log`); either may end in `.gz`. A counter or date is digits with `.`, `-` or
//! `_` between them, starting and ending with a digit; a date before the extension needs six
//! digits or more, so that `server-2.log` is not taken for a rotation of `server.log`.

use crate::identity::FileId;
use std::ffi::{OsStr, OsString};
use std::fs;
use std::io;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

/// The options `glob::glob` uses.
const OPTS: glob::MatchOptions = glob::MatchOptions {
    case_sensitive: true,
    require_literal_separator: false,
    require_literal_leading_dot: false,
};

enum Part {
    Literal(OsString),
    Pattern(glob::Pattern),
    /// `**`: this directory and every directory below it.
    Recursive,
}

/// What a pattern matched.
#[derive(Debug, Default)]
pub struct Expansion {
    /// Existing paths that match, each directory's entries in byte order.
    pub paths: Vec<PathBuf>,
    /// Directories that could not be listed.
    pub errors: Vec<(PathBuf, io::Error)>,
}

fn parts(pattern: &str) -> Result<(PathBuf, Vec<Part>), glob::PatternError> {
    // The whole pattern first: its errors (with positions) are the ones check-config reports.
    glob::Pattern::new(pattern)?;
    let (root, rest) = match pattern.strip_prefix('/') {
        Some(r) => (PathBuf::from("/"), r),
        None => (PathBuf::new(), pattern),
    };
    let mut out = Vec::new();
    for c in rest.split('/').filter(|c| !c.is_empty()) {
        if c == "**" {
            if !matches!(out.last(), Some(Part::Recursive)) {
                out.push(Part::Recursive);
            }
        } else if c.contains(['*', '?', '[']) {
            out.push(Part::Pattern(glob::Pattern::new(c)?));
        } else {
            out.push(Part::Literal(c.into()));
        }
    }
    Ok((root, out))
}

/// Every existing path `pattern` matches, names that are not UTF-8 included.
pub fn expand(pattern: &str) -> Result<Expansion, glob::PatternError> {
    let (root, parts) = parts(pattern)?;
    let mut x = Expansion::default();
    if !parts.is_empty() {
        walk(&root, &parts, &mut x, &mut Vec::new());
    }
    Ok(x)
}

/// Whether `path` (which need not exist) is one `pattern` names.
pub fn matches(pattern: &str, path: &Path) -> bool {
    let Ok((root, parts)) = parts(pattern) else {
        return false;
    };
    let Ok(rel) = path.strip_prefix(&root) else {
        return false;
    };
    let names: Vec<&OsStr> = rel.iter().collect();
    matches_parts(&parts, &names)
}

fn matches_parts(parts: &[Part], names: &[&OsStr]) -> bool {
    match (parts.split_first(), names.split_first()) {
        (None, None) => true,
        (Some((Part::Recursive, rest)), _) => {
            (0..=names.len()).any(|skip| matches_parts(rest, &names[skip..]))
        }
        (Some((Part::Literal(l), rest)), Some((n, more))) => l == *n && matches_parts(rest, more),
        (Some((Part::Pattern(p), rest)), Some((n, more))) => {
            name_matches(p, n) && matches_parts(rest, more)
        }
        _ => false,
    }
}

fn name_matches(p: &glob::Pattern, name: &OsStr) -> bool {
    match name.to_str() {
        Some(s) => p.matches_with(s, OPTS),
        None => p.matches_with(&String::from_utf8_lossy(name.as_bytes()), OPTS),
    }
}

fn is_dir(p: &Path) -> bool {
    fs::metadata(p).is_ok_and(|m| m.is_dir())
}

/// The entries of `dir` in byte order of their names.
fn children(dir: &Path, x: &mut Expansion) -> Vec<(OsString, PathBuf)> {
    let listed = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let entries = match fs::read_dir(listed) {
        Ok(d) => d,
        Err(e) => {
            if e.kind() != io::ErrorKind::NotFound {
                x.errors.push((dir.to_owned(), e));
            }
            return Vec::new();
        }
    };
    let mut v: Vec<(OsString, PathBuf)> = entries
        .filter_map(|e| e.ok())
        .map(|e| {
            let name = e.file_name();
            let path = dir.join(&name);
            (name, path)
        })
        .collect();
    v.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    v
}

fn walk(dir: &Path, parts: &[Part], x: &mut Expansion, visiting: &mut Vec<FileId>) {
    let Some((first, rest)) = parts.split_first() else {
        x.paths.push(dir.to_owned());
        return;
    };
    match first {
        Part::Literal(name) => {
            let next = dir.join(name);
            if rest.is_empty() {
                if fs::symlink_metadata(&next).is_ok() {
                    x.paths.push(next);
                }
            } else if is_dir(&next) {
                walk(&next, rest, x, visiting);
            }
        }
        Part::Pattern(p) => {
            for (name, path) in children(dir, x) {
                if !name_matches(p, &name) {
                    continue;
                }
                if rest.is_empty() {
                    x.paths.push(path);
                } else if is_dir(&path) {
                    walk(&path, rest, x, visiting);
                }
            }
        }
        Part::Recursive => {
            // Zero directories deep, then every directory below, once each (a symlink loop
            // ends at a directory already being walked).
            walk(dir, rest, x, visiting);
            let listed = if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                dir
            };
            let Ok(m) = fs::metadata(listed) else { return };
            let id = FileId::of(&m);
            if visiting.contains(&id) {
                return;
            }
            visiting.push(id);
            for (_, path) in children(dir, x) {
                if is_dir(&path) {
                    walk(&path, parts, x, visiting);
                }
            }
            visiting.pop();
        }
    }
}

/// The name `path` is recorded under (see the module documentation).
pub fn record_name(path: &Path) -> String {
    if let Some(s) = path.to_str() {
        return s.to_owned();
    }
    let mut out = String::new();
    for chunk in path.as_os_str().as_bytes().utf8_chunks() {
        for c in chunk.valid().chars() {
            if c == '\\' {
                out.push_str("\\\\");
            } else {
                out.push(c);
            }
        }
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

/// The path a recorded name stands for: the name itself, unless it is the recorded form of a
/// path that is not UTF-8 (only escapes `\\` and `\xNN`, and it decodes to bytes that are not
/// UTF-8), which is then decoded.
pub fn real_path(name: &str) -> PathBuf {
    match decode(name) {
        Some(bytes) => PathBuf::from(OsString::from_vec(bytes)),
        None => PathBuf::from(name),
    }
}

fn decode(name: &str) -> Option<Vec<u8>> {
    if !name.contains('\\') {
        return None;
    }
    let b = name.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'\\' {
            out.push(b[i]);
            i += 1;
            continue;
        }
        match b.get(i + 1) {
            Some(b'\\') => {
                out.push(b'\\');
                i += 2;
            }
            Some(b'x') => {
                let hex = |c: u8| match c {
                    b'0'..=b'9' => Some(c - b'0'),
                    b'a'..=b'f' => Some(c - b'a' + 10),
                    _ => None,
                };
                let hi = hex(*b.get(i + 2)?)?;
                let lo = hex(*b.get(i + 3)?)?;
                out.push(hi << 4 | lo);
                i += 4;
            }
            _ => return None,
        }
    }
    std::str::from_utf8(&out).is_err().then_some(out)
}

fn is_sep(c: u8) -> bool {
    matches!(c, b'.' | b'-' | b'_')
}

/// A rotation counter or a date: digits with separators between them.
fn is_counter(r: &[u8]) -> bool {
    r.first().is_some_and(u8::is_ascii_digit)
        && r.last().is_some_and(u8::is_ascii_digit)
        && r.iter().all(|&c| c.is_ascii_digit() || is_sep(c))
}

/// Whether `name` is named like a rotation of the file named `base` (see the module
/// documentation).
pub fn is_rotation_of(name: &OsStr, base: &OsStr) -> bool {
    let (n, b) = (name.as_bytes(), base.as_bytes());
    if b.is_empty() {
        return false;
    }
    let n = n.strip_suffix(b".gz").unwrap_or(n);
    if let Some(rest) = n.strip_prefix(b)
        && let Some((&sep, r)) = rest.split_first()
        && is_sep(sep)
        && is_counter(r)
    {
        return true;
    }
    if let Some(dot) = b.iter().rposition(|&c| c == b'.')
        && dot > 0
    {
        let (stem, ext) = b.split_at(dot);
        if let Some(mid) = n.strip_prefix(stem).and_then(|r| r.strip_suffix(ext))
            && let Some((&sep, r)) = mid.split_first()
            && is_sep(sep)
            && is_counter(r)
            && (sep == b'.' || r.iter().filter(|c| c.is_ascii_digit()).count() >= 6)
        {
            return true;
        }
    }
    false
}

/// The part of a file name before its first `.`.
fn stem(name: &OsStr) -> &[u8] {
    let b = name.as_bytes();
    b.split(|&c| c == b'.').next().unwrap_or(b)
}

/// Whether two names in one directory may hold the same generation: the same stem
/// (`auth.log`, `auth.log.1`), or one a rotation of the other (`auth-20261126.log`).
pub fn related(a: &OsStr, b: &OsStr) -> bool {
    stem(a) == stem(b) || is_rotation_of(a, b) || is_rotation_of(b, a)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::ffi::OsStrExt;

    fn os(b: &[u8]) -> &OsStr {
        OsStr::from_bytes(b)
    }

    #[test]
    fn rotated_names() {
        let base = os(b"app.log");
        for yes in [
            &b"app.log.1"[..],
            b"app.log.2.gz",
            b"app.log-20261126",
            b"app.log-20261126.gz",
            b"app.log.2026-11-26",
            b"app.log-1795735763",
            b"app.1.log",
            b"app-20261126.log",
            b"app-20261126.log.gz",
            b"app_2026-11-26.log",
        ] {
            assert!(
                is_rotation_of(os(yes), base),
                "{}",
                String::from_utf8_lossy(yes)
            );
        }
        for no in [
            &b"app.log"[..],
            b"app.log.gz",
            b"app.log.bak",
            b"app.log.1.bz2",
            b"app-2.log",
            b"apple.log",
            b"app.logx",
            b"app.log.1a",
            b"app.log.",
            b"app.log-",
            b"app.log.lock",
            b"other.log.1",
        ] {
            assert!(
                !is_rotation_of(os(no), base),
                "{}",
                String::from_utf8_lossy(no)
            );
        }
        assert!(is_rotation_of(os(b"syslog.1"), os(b"syslog")));
        assert!(is_rotation_of(os(b"syslog.7.gz"), os(b"syslog")));
        assert!(!is_rotation_of(os(b"syslog"), os(b"syslog")));
        // Write-ahead log files of the syslog receiver are not rotations of each other.
        assert!(!is_rotation_of(
            os(b"00000000000000000005.wal.done"),
            os(b"00000000000000000005.wal")
        ));
        assert!(!is_rotation_of(
            os(b"00000000000000000006.wal"),
            os(b"00000000000000000005.wal")
        ));
        assert!(is_rotation_of(os(b"app-\xff.log.1"), os(b"app-\xff.log")));
    }

    #[test]
    fn recorded_names_round_trip() {
        let plain = Path::new("/var/log/a\\b.log");
        assert_eq!(record_name(plain), "/var/log/a\\b.log");
        assert_eq!(real_path("/var/log/a\\b.log"), plain);
        let raw = PathBuf::from(OsString::from_vec(b"/logs/app-\xff\\\xc3.log".to_vec()));
        let name = record_name(&raw);
        assert_eq!(name, "/logs/app-\\xff\\\\\\xc3.log");
        assert_eq!(real_path(&name), raw);
        // Valid UTF-8 is kept, also around the escapes.
        let mixed = PathBuf::from(OsString::from_vec(
            "/l/ü-\u{1F600}".bytes().chain([0x80]).collect(),
        ));
        assert_eq!(record_name(&mixed), "/l/ü-\u{1F600}\\x80");
        assert_eq!(real_path(&record_name(&mixed)), mixed);
        // Escapes that decode to UTF-8 are never a recorded form: such a name is itself.
        assert_eq!(real_path("/l/\\x41"), Path::new("/l/\\x41"));
        assert_eq!(real_path("/l/\\q"), Path::new("/l/\\q"));
    }

    #[test]
    fn patterns_match_raw_names() {
        let dir = tempfile::tempdir().expect("tmp");
        let d = dir.path();
        let odd = OsStr::from_bytes(b"app-\xff.log");
        for n in [os(b"a.log"), odd, os(b".hidden.log"), os(b"b.txt")] {
            fs::write(d.join(n), b"x").expect("write");
        }
        fs::create_dir_all(d.join("sub/deeper")).expect("dirs");
        fs::write(d.join("sub/deeper/c.log"), b"x").expect("write");
        let root = d.to_str().expect("utf-8");
        let got = expand(&format!("{root}/*.log")).expect("pattern").paths;
        let want: Vec<PathBuf> = [os(b".hidden.log"), os(b"a.log"), odd]
            .iter()
            .map(|n| d.join(n))
            .collect();
        assert_eq!(got, want);
        let got = expand(&format!("{root}/app-?.log")).expect("pattern").paths;
        assert_eq!(got, vec![d.join(odd)]);
        let got = expand(&format!("{root}/**/*.log")).expect("pattern").paths;
        assert!(got.contains(&d.join("sub/deeper/c.log")) && got.contains(&d.join(odd)));
        let got = expand(&format!("{root}/sub/deeper/c.log"))
            .expect("pattern")
            .paths;
        assert_eq!(got, vec![d.join("sub/deeper/c.log")]);
        assert!(
            expand(&format!("{root}/nothing/*.log"))
                .expect("p")
                .paths
                .is_empty()
        );
        assert!(expand(&format!("{root}/a**.log")).is_err());
        assert!(matches(&format!("{root}/*.log"), &d.join(odd)));
        assert!(matches(
            &format!("{root}/**/*.log"),
            &d.join("sub/deeper/c.log")
        ));
        assert!(!matches(
            &format!("{root}/*.log"),
            &d.join("sub/deeper/c.log")
        ));
    }
}
