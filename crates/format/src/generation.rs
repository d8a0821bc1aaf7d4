//! [`GenPos`]: how far one file generation was captured, as the chain says.
//!
//! A generation is one identity of a followed file (device, inode and the bytes it began
//! with). The store derives these positions by replaying the chain's `segment` spans, and the
//! capture layer resumes from them after a restart; the type lives here, next to [`Span`], so
//! that both speak of one position and neither converts field by field. The generation number
//! is the key positions are filed under (`(gen_id, GenPos)`), not a field.

use crate::hash::Sha256;
use crate::record::Span;

/// How far one file generation was captured, as the chain says.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct GenPos {
    /// Source id.
    pub source: String,
    /// Path it was last read at.
    pub path: String,
    /// st_dev.
    pub dev: u64,
    /// st_ino.
    pub ino: u64,
    /// Bytes `[0, end)` are committed.
    pub end: u64,
    /// SHA-256 of the first `min(end, HEAD_LEN)` bytes.
    pub head: Sha256,
    /// SHA-256 of the `min(end, TAIL_LEN)` bytes before `end`.
    pub tail: Sha256,
    /// Journal sources: the cursor of the last entry committed (see [`Span::cursor`]).
    pub cursor: Option<String>,
}

impl GenPos {
    /// The position a span leaves its generation at.
    pub fn of_span(span: &Span) -> GenPos {
        GenPos {
            source: span.source.clone(),
            path: span.path.clone(),
            dev: span.dev,
            ino: span.ino,
            end: span.end,
            head: span.head,
            tail: span.tail,
            cursor: span.cursor.clone(),
        }
    }

    /// Advance by a later span of the same generation: the path is where it was read last,
    /// and the end and digests move only forward (a span never takes a position back).
    pub fn advance(&mut self, span: &Span) {
        if span.end >= self.end {
            self.end = span.end;
            self.head = span.head;
            self.tail = span.tail;
            self.cursor.clone_from(&span.cursor);
        }
        self.path.clone_from(&span.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(path: &str, end: u64, tag: &[u8]) -> Span {
        Span {
            source: "s".into(),
            path: path.into(),
            dev: 1,
            ino: 2,
            gen_id: 3,
            start: 0,
            end,
            head: Sha256::of(b"head"),
            tail: Sha256::of(tag),
            cursor: None,
        }
    }

    #[test]
    fn positions_only_move_forward_and_follow_the_path() {
        let mut g = GenPos::of_span(&span("/l/a.log", 10, b"ten"));
        g.advance(&span("/l/a.log.1", 20, b"twenty"));
        assert_eq!(
            (g.end, g.tail, g.path.as_str()),
            (20, Sha256::of(b"twenty"), "/l/a.log.1")
        );
        g.advance(&span("/l/a.log.2", 5, b"five"));
        assert_eq!(
            (g.end, g.tail, g.path.as_str()),
            (20, Sha256::of(b"twenty"), "/l/a.log.2")
        );
    }
}
