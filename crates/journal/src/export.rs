//! The journal export format, read from `journalctl -o export`.
//!
//! An entry is a run of fields ended by an empty line. A field is `NAME=value\n` when the value
//! is text, or `NAME\n`, the value's length as a little-endian 64-bit number, the value's bytes
//! and `\n` when it is not (binary, or holding a newline). Capture copies the bytes as
//! `journalctl` writes them and parses only enough to find where each entry ends and its
//! `__CURSOR`.

use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};

/// The largest entry capture accepts (journald's own limit on an entry is far below).
pub(crate) const MAX_ENTRY_BYTES: usize = 256 * 1024 * 1024;

/// A running `journalctl -o export` over one journal file.
pub(crate) struct Export {
    child: Child,
    pub(crate) out: BufReader<ChildStdout>,
}

impl Export {
    /// Export the entries of the journal file `file` after `after` (from its first entry when
    /// `None`), or at and after `at`, that match `matches` (journalctl's match syntax).
    pub(crate) fn start(
        journalctl: &Path,
        file: &str,
        after: Option<&str>,
        at: Option<&str>,
        matches: &[String],
    ) -> io::Result<Export> {
        let mut cmd = Command::new(journalctl);
        // `--file` takes a glob pattern: the path's own `*`, `?`, `[` and `\` are escaped.
        let mut escaped = String::with_capacity(file.len());
        for c in file.chars() {
            if matches!(c, '*' | '?' | '[' | '\\') {
                escaped.push('\\');
            }
            escaped.push(c);
        }
        cmd.arg("--file")
            .arg(escaped)
            .args(["--output=export", "--no-pager", "--quiet"]);
        if let Some(c) = after {
            cmd.arg(format!("--after-cursor={c}"));
        }
        if let Some(c) = at {
            cmd.arg(format!("--cursor={c}"));
        }
        cmd.args(matches)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().map_err(|e| {
            io::Error::new(
                e.kind(),
                format!(
                    "cannot run {}: {e} (Debian package systemd)",
                    journalctl.display()
                ),
            )
        })?;
        let out = child
            .stdout
            .take()
            .ok_or_else(|| io::Error::other("journalctl: no standard output"))?;
        Ok(Export {
            child,
            out: BufReader::with_capacity(1 << 16, out),
        })
    }

    /// Wait for `journalctl` after its output was read to the end; an exit other than 0 is an
    /// error with what it said.
    pub(crate) fn finish(mut self) -> io::Result<()> {
        let mut err = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            let _ = e.by_ref().take(64 * 1024).read_to_string(&mut err);
        }
        let status = self.child.wait()?;
        if status.success() {
            Ok(())
        } else {
            Err(io::Error::other(format!(
                "journalctl exited with {status}: {}",
                err.trim()
            )))
        }
    }

    /// Stop `journalctl` early (after the entries wanted were read).
    pub(crate) fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Append the next entry's bytes, exactly as read, to `buf` and return its `__CURSOR`
/// (`None` at the end of the stream). An entry without a cursor, a stream that ends inside an
/// entry and an entry larger than `MAX_ENTRY_BYTES` are errors.
pub(crate) fn next_entry(r: &mut impl BufRead, buf: &mut Vec<u8>) -> io::Result<Option<String>> {
    let begin = buf.len();
    let mut cursor: Option<String> = None;
    loop {
        let line_start = buf.len();
        let n = r
            .by_ref()
            .take((MAX_ENTRY_BYTES + 1) as u64)
            .read_until(b'\n', buf)?;
        if n == 0 {
            if buf.len() == begin {
                return Ok(None);
            }
            buf.truncate(begin);
            return Err(bad("the export stream ends inside an entry"));
        }
        if buf.len() - begin > MAX_ENTRY_BYTES {
            buf.truncate(begin);
            return Err(bad("an entry is larger than 256 MiB"));
        }
        let line = &buf[line_start..];
        if line.last() != Some(&b'\n') {
            buf.truncate(begin);
            return Err(bad("the export stream ends inside a field"));
        }
        if line == b"\n" {
            if line_start == begin {
                // A stray empty line between entries: keep it, it is part of the stream.
                continue;
            }
            return match cursor {
                Some(c) => Ok(Some(c)),
                None => {
                    buf.truncate(begin);
                    Err(bad("an entry has no __CURSOR field"))
                }
            };
        }
        if let Some(eq) = line.iter().position(|&b| b == b'=') {
            if &line[..eq] == b"__CURSOR" {
                let v = &line[eq + 1..line.len() - 1];
                match std::str::from_utf8(v) {
                    Ok(c) => cursor = Some(c.to_owned()),
                    Err(_) => {
                        buf.truncate(begin);
                        return Err(bad("a __CURSOR is not UTF-8"));
                    }
                }
            }
            continue;
        }
        // A binary field: its name, then a little-endian 64-bit length, the value, a newline.
        let mut len = [0u8; 8];
        if r.read_exact(&mut len).is_err() {
            buf.truncate(begin);
            return Err(bad("the export stream ends inside a binary field"));
        }
        let len = u64::from_le_bytes(len);
        if len > (MAX_ENTRY_BYTES - (buf.len() - begin)) as u64 {
            buf.truncate(begin);
            return Err(bad("an entry is larger than 256 MiB"));
        }
        buf.extend_from_slice(&len.to_le_bytes());
        let at = buf.len();
        let got = r.by_ref().take(len + 1).read_to_end(buf)?;
        if got as u64 != len + 1 || buf.last() != Some(&b'\n') {
            buf.truncate(begin);
            return Err(bad("a binary field is cut short or not ended by a newline"));
        }
        debug_assert_eq!(buf.len() - at, got);
    }
}

fn bad(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("journal export: {what}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(cursor: &str, binary: &[u8]) -> Vec<u8> {
        let mut e = format!("__CURSOR={cursor}\nMESSAGE=hi\n").into_bytes();
        e.extend_from_slice(b"DATA\n");
        e.extend_from_slice(&(binary.len() as u64).to_le_bytes());
        e.extend_from_slice(binary);
        e.extend_from_slice(b"\n\n");
        e
    }

    #[test]
    fn entries_are_copied_exactly_with_their_cursors() {
        let a = entry("s=1;i=1", b"two\nlines\0and a NUL\n\n");
        let b = entry("s=1;i=2", b"");
        let stream = [a.clone(), b.clone()].concat();
        let mut r = &stream[..];
        let mut buf = Vec::new();
        assert_eq!(
            next_entry(&mut r, &mut buf).unwrap().as_deref(),
            Some("s=1;i=1")
        );
        assert_eq!(buf, a);
        assert_eq!(
            next_entry(&mut r, &mut buf).unwrap().as_deref(),
            Some("s=1;i=2")
        );
        assert_eq!(buf, stream);
        assert_eq!(next_entry(&mut r, &mut buf).unwrap(), None);
    }

    #[test]
    fn a_cut_stream_is_an_error_and_leaves_the_buffer_as_it_was() {
        let a = entry("s=1;i=1", b"0123456789");
        for cut in 1..a.len() {
            let mut r = &a[..cut];
            let mut buf = b"before".to_vec();
            let e = next_entry(&mut r, &mut buf).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidData, "cut at {cut}: {e}");
            assert_eq!(buf, b"before", "cut at {cut}");
        }
        let mut r = &b"MESSAGE=no cursor\n\n"[..];
        assert!(next_entry(&mut r, &mut Vec::new()).is_err());
    }
}
