//! One escaping rule for everything logkeep prints that came from outside: file names, captured
//! paths, source ids and strings read from a store, a medium or a bundle.
//!
//! A file name on a host can hold any byte but `/` and NUL: a terminal escape sequence that
//! rewrites the screen, a carriage return that hides the start of a line, a newline followed by
//! a forged report line ("OK: verified"), invalid UTF-8, or Unicode controls that reverse the
//! order text is shown in. Printed raw, such a name can lie to the administrator reading the
//! daemon's log or the investigator reading a verify report. Every command and the daemon print
//! such strings through [`Shown`], so that one rule decides what reaches the terminal:
//!
//! - printable characters, including all non-ASCII letters, are printed as they are;
//! - `\` is printed `\\`, so that an escape in the output is never ambiguous;
//! - tab, line feed and carriage return are printed `\t`, `\n`, `\r`;
//! - other control characters (U+0000–U+001F, U+007F, U+0080–U+009F) and the Unicode format
//!   controls that change how text is laid out (bidirectional marks, embeddings, overrides and
//!   isolates, the line and paragraph separators, zero-width characters, the byte order mark)
//!   are printed `\u{XXXX}`;
//! - bytes that are not valid UTF-8 are printed `\xNN`, one per byte.
//!
//! The result is one line of text that names the original exactly (the rule can be undone).
//!
//! ```
//! use logkeep_format::shown::Shown;
//! use std::path::Path;
//!
//! let name = Path::new("/var/log/x\n2026-01-01 OK: verified\x1b[2J");
//! assert_eq!(
//!     Shown::path(name).to_string(),
//!     r"/var/log/x\n2026-01-01 OK: verified\u{001B}[2J"
//! );
//! assert_eq!(Shown::bytes(b"caf\xc3\xa9 \xff").to_string(), r"café \xFF");
//! ```

use std::fmt;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Bytes from outside, printed by the escaping rule of this module (see its documentation).
#[derive(Clone, Copy, Debug)]
pub struct Shown<'a>(&'a [u8]);

impl<'a> Shown<'a> {
    /// A path: every byte of its name, however the host's file system spelled it.
    pub fn path(path: &'a Path) -> Self {
        Shown(path.as_os_str().as_bytes())
    }

    /// A string read from a store, a bundle, a configuration or a network peer.
    pub fn text(text: &'a str) -> Self {
        Shown(text.as_bytes())
    }

    /// Raw bytes that are meant to be text but may not be.
    pub fn bytes(bytes: &'a [u8]) -> Self {
        Shown(bytes)
    }
}

/// The escaped form of `path` as an owned string.
pub fn path(path: &Path) -> String {
    Shown::path(path).to_string()
}

/// The escaped form of `text` as an owned string.
pub fn text(text: &str) -> String {
    Shown::text(text).to_string()
}

/// Whether `c` is printed as `\u{XXXX}` rather than as itself.
fn hidden(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{00AD}'
                | '\u{061C}'
                | '\u{180E}'
                | '\u{200B}'..='\u{200F}'
                | '\u{2028}'..='\u{202E}'
                | '\u{2060}'..='\u{206F}'
                | '\u{FEFF}'
                | '\u{FFF9}'..='\u{FFFB}'
        )
}

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for chunk in self.0.utf8_chunks() {
            let valid = chunk.valid();
            // Runs of plain characters go out in one write.
            let mut start = 0;
            for (i, c) in valid.char_indices() {
                let escape = match c {
                    '\\' => Some("\\\\"),
                    '\t' => Some("\\t"),
                    '\n' => Some("\\n"),
                    '\r' => Some("\\r"),
                    _ => None,
                };
                if escape.is_none() && !hidden(c) {
                    continue;
                }
                f.write_str(&valid[start..i])?;
                match escape {
                    Some(e) => f.write_str(e)?,
                    None => write!(f, "\\u{{{:04X}}}", c as u32)?,
                }
                start = i + c.len_utf8();
            }
            f.write_str(&valid[start..])?;
            for b in chunk.invalid() {
                write!(f, "\\x{b:02X}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_unchanged() {
        assert_eq!(
            text("/var/log/openvpn/ログ.log"),
            "/var/log/openvpn/ログ.log"
        );
    }

    #[test]
    fn every_control_is_escaped_and_the_result_is_one_line() {
        let all: Vec<u8> = (0u8..=0x7f).collect();
        let s = Shown::bytes(&all).to_string();
        assert!(s.chars().all(|c| !c.is_control()), "{s}");
        assert!(s.contains(r"\u{0000}") && s.contains(r"\u{007F}") && s.contains(r"\n"));
    }

    #[test]
    fn layout_controls_and_invalid_bytes_are_escaped() {
        assert_eq!(
            text("a\u{202E}b\u{2028}c\u{0085}"),
            r"a\u{202E}b\u{2028}c\u{0085}"
        );
        assert_eq!(Shown::bytes(b"\xc3(\xff").to_string(), r"\xC3(\xFF");
        assert_eq!(text(r"a\b"), r"a\\b");
    }
}
