//! What the fuzz targets share (`docs/FUZZING.md`): splitting an input into the reads of a
//! stream at points the fuzzer chooses, a scratch directory per process, and the parsers of the
//! `logkeep` binary crate.
//!
//! The binary is not a library, so its modules that read outside input (the configuration, the
//! control socket's requests, the snapshot's utmp reading) are compiled into this crate from
//! their own source files: the fuzzer runs exactly the code the daemon runs. Each stays what it
//! is in the binary; only the few functions a target calls are `pub(crate)` there.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

#[allow(dead_code, missing_docs)]
#[path = "../../crates/logkeep/src/config.rs"]
mod config;
#[allow(dead_code, missing_docs)]
#[path = "../../crates/logkeep/src/control.rs"]
mod control;
#[allow(dead_code, missing_docs)]
#[path = "../../crates/logkeep/src/inventory.rs"]
mod inventory;
#[allow(dead_code, missing_docs)]
#[path = "../../crates/logkeep/src/snapshot.rs"]
mod snapshot;
#[allow(dead_code, missing_docs)]
#[path = "../../crates/logkeep/src/status.rs"]
mod status;

/// An input cut into a control byte and the reads of a stream: byte 0 is the control byte
/// (each target gives it a meaning), byte 1's low three bits a number of cuts `n`, then `n`
/// little-endian `u16` cut positions (taken modulo the stream's length plus one); the rest is
/// the stream. Empty reads are dropped (a socket read of 0 bytes is the end of the stream).
pub struct Split<'a> {
    /// The target's own choice (framing, maximum, mode).
    pub control: u8,
    /// The whole stream.
    pub stream: &'a [u8],
    /// The stream in reads, at the chosen points.
    pub reads: Vec<&'a [u8]>,
}

/// Cut `data` as [`Split`] describes; `None` when it is too short to hold the header.
pub fn split(data: &[u8]) -> Option<Split<'_>> {
    let (&control, rest) = data.split_first()?;
    let (&n, rest) = rest.split_first()?;
    let n = usize::from(n & 7);
    if rest.len() < 2 * n {
        return None;
    }
    let (cuts, stream) = rest.split_at(2 * n);
    let mut at: Vec<usize> = cuts
        .chunks(2)
        .map(|c| usize::from(u16::from_le_bytes([c[0], c[1]])) % (stream.len() + 1))
        .collect();
    at.sort_unstable();
    let mut reads = Vec::new();
    let mut from = 0;
    for cut in at.into_iter().chain([stream.len()]) {
        if cut > from {
            reads.push(&stream[from..cut]);
            from = cut;
        }
    }
    Some(Split {
        control,
        stream,
        reads,
    })
}

/// The inverse of [`split`], for writing seeds: `stream` with control byte `control`, cut at
/// `cuts`.
pub fn join(control: u8, cuts: &[u16], stream: &[u8]) -> Vec<u8> {
    let mut v = vec![control, cuts.len().min(7) as u8];
    for c in cuts.iter().take(7) {
        v.extend_from_slice(&c.to_le_bytes());
    }
    v.extend_from_slice(stream);
    v
}

/// A scratch directory for this process, under a fresh name in `TMPDIR`. libFuzzer ends the
/// process without running destructors, so it is left behind: each target clears what it made
/// before the next input, and `scripts/fuzz` points `TMPDIR` into a directory it removes.
pub fn scratch() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        tempfile::Builder::new()
            .prefix("logkeep-fuzz-")
            .tempdir()
            .map(tempfile::TempDir::keep)
            .unwrap_or_else(|e| panic!("cannot make a scratch directory: {e}"))
    })
}

/// Load `text` as the daemon loads its configuration file (`config.rs`), from a file named
/// `logkeep.toml` in the scratch directory. The error message, or a summary of the result.
pub fn load_config(text: &[u8]) -> Result<String, String> {
    let path = scratch().join("logkeep.toml");
    std::fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    config::Config::load(&path)
        .map(|c| format!("{} sources", c.sources.len()))
        .map_err(|e| format!("{e:#}"))
}

/// Parse a control socket request line as the daemon does (`control.rs`).
pub fn control_request(line: &[u8]) -> Result<String, String> {
    control::parse(line).map(|r| format!("{r:?}"))
}

/// Read a utmp file's bytes as a snapshot does (`snapshot.rs`), and serialize the sessions as
/// it stores them.
pub fn utmp_sessions(bytes: &[u8]) -> Result<String, String> {
    let entries = utmp_rs::parse_from_reader(bytes).map_err(|e| e.to_string())?;
    serde_json::to_string(&snapshot::sessions(entries)).map_err(|e| e.to_string())
}
