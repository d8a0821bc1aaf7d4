//! The start-up cache: the state replaying the chain derives ([`Replay`]), saved with the head
//! it was derived from, so that opening a store replays only the records committed since.
//!
//! `replay-cache.json` in the store directory holds the store id, the head (sequence number and
//! hash) and the [`Replay`]. On open it is used only when the chain's record at that sequence
//! number has that hash; then only the records after it are replayed. Anything else — no file,
//! a file that does not parse, another store, a record that differs — means a replay of the
//! whole chain, and the log says which. It is written atomically when a store is opened
//! after a replay, every [`SAVE_EVERY`] records, and when the store is closed, so that after a
//! crash at most that many records (plus those of the last run) are replayed.
//!
//! It is not evidence: never copied to media or bundles, never verified. Whoever can write it
//! can write the chain's directory too; the chain stays the proof, and the cache only saves
//! reading it.

use crate::{Replay, durable};
use logkeep_format::layout::{CACHE_FILE, Head};
use logkeep_format::untrusted;
use serde::{Deserialize, Serialize};
use std::io;
use std::path::Path;

/// The cache is written again after this many records (a daemon that is killed replays at
/// most these on its next start).
pub const SAVE_EVERY: u64 = 4096;

/// Largest cache file read (it holds at most [`crate::FINISHED_KEPT`] finished generations
/// and the open ones: a few MiB).
const MAX_CACHE_BYTES: u64 = 256 << 20;

/// The version of the cache's own schema.
const CACHE_V: u32 = 1;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Cached {
    /// Always `"logkeep-replay-cache"`.
    cache: String,
    /// [`CACHE_V`].
    v: u32,
    /// The store it was derived from.
    store: String,
    /// The head it was derived up to.
    head: Head,
    /// What replaying the chain up to `head` found.
    replay: Replay,
}

/// What [`load`] found.
pub enum Loaded {
    /// No cache file.
    Absent,
    /// A cache file that cannot be used, and why.
    Unusable(String),
    /// The cached state and the head it was derived up to.
    Found(Head, Box<Replay>),
}

/// Read the cache of the store `id` at `root`.
pub fn load(root: &Path, id: &str) -> Loaded {
    let bytes = match untrusted::read_bounded(&root.join(CACHE_FILE), MAX_CACHE_BYTES) {
        Ok(b) => b,
        Err(untrusted::Refused::Missing) => return Loaded::Absent,
        Err(e) => return Loaded::Unusable(e.to_string()),
    };
    match serde_json::from_slice::<Cached>(&bytes) {
        Ok(c) if c.cache != "logkeep-replay-cache" || c.v != CACHE_V => {
            Loaded::Unusable(format!("{} version {} is not this logkeep's", c.cache, c.v))
        }
        Ok(c) if c.store != id => Loaded::Unusable(format!("it is of store {}", c.store)),
        Ok(c) => Loaded::Found(c.head, Box::new(c.replay)),
        Err(e) => Loaded::Unusable(format!("not valid: {e}")),
    }
}

/// Write the cache of store `id` at `root`: `replay` derived up to `head`.
pub fn save(root: &Path, id: &str, head: Head, replay: &Replay) -> io::Result<()> {
    let c = CachedRef {
        cache: "logkeep-replay-cache",
        v: CACHE_V,
        store: id,
        head,
        replay,
    };
    let mut bytes = serde_json::to_vec(&c).map_err(io::Error::other)?;
    bytes.push(b'\n');
    durable::write_atomic(root, CACHE_FILE, &bytes)
}

#[derive(Serialize)]
struct CachedRef<'a> {
    cache: &'a str,
    v: u32,
    store: &'a str,
    head: Head,
    replay: &'a Replay,
}
