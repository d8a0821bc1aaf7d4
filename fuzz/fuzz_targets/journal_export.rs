//! A journal export stream (`journalctl --output=export`) as a journal source reads it
//! (`crates/journal`, `next_entry`), over reads cut at points the fuzzer chooses: the local
//! journal holds whatever any process logged, an intruder's included.
//!
//! Checked, beyond "no panic": the entries read, joined, are the stream's bytes exactly up to
//! where reading stopped (every byte of what is captured is what journalctl wrote), all of it
//! when the stream ended cleanly; and the result does not depend on how the stream was cut.
#![no_main]

use libfuzzer_sys::fuzz_target;
use logkeep_journal::fuzzing::next_entry;
use std::io::{BufRead, BufReader, Read};

/// A reader handing out the chosen reads one at a time, as a pipe from journalctl does.
struct Reads<'a> {
    reads: Vec<&'a [u8]>,
    at: usize,
}

impl Read for Reads<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while let Some(r) = self.reads.first_mut() {
            if r.is_empty() {
                self.reads.remove(0);
                continue;
            }
            let n = r.len().min(buf.len());
            buf[..n].copy_from_slice(&r[..n]);
            *r = &r[n..];
            self.at += n;
            return Ok(n);
        }
        Ok(0)
    }
}

/// Read entries until the end or an error: the bytes of the entries read, their cursors, and
/// whether the stream ended cleanly.
fn read_all(r: &mut impl BufRead) -> (Vec<u8>, Vec<String>, bool) {
    let mut out = Vec::new();
    let mut cursors = Vec::new();
    loop {
        let before = out.len();
        match next_entry(r, &mut out) {
            Ok(Some(c)) => cursors.push(c),
            Ok(None) => return (out, cursors, true),
            Err(_) => {
                assert_eq!(out.len(), before, "a failed entry leaves no bytes behind");
                return (out, cursors, false);
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some(split) = logkeep_fuzz::split(data) else {
        return;
    };
    let capacity = 1 + usize::from(split.control) * 4;
    let mut cut = BufReader::with_capacity(
        capacity,
        Reads {
            reads: split.reads.clone(),
            at: 0,
        },
    );
    let (bytes, cursors, clean) = read_all(&mut cut);
    assert!(
        split.stream.starts_with(&bytes),
        "the entries are the stream's bytes, in order"
    );
    if clean {
        assert_eq!(
            bytes.len(),
            split.stream.len(),
            "a clean end read everything"
        );
    }
    let mut whole = split.stream;
    let again = read_all(&mut whole);
    assert_eq!(again, (bytes, cursors, clean), "independent of the reads");
});
