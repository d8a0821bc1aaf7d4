//! logkeep's on-disk format, version 1: segments, the hash chain, the store layout, and the
//! verification and extraction that need nothing but this crate.
//!
//! This crate is what an investigator's verifier depends on, so it is small and synchronous:
//! it knows nothing of async runtimes, daemons, configuration or the network. Everything it
//! writes is specified byte for byte in `docs/FORMAT.md`; a golden-file test holds the two
//! together.
//!
//! ```
//! use logkeep_format::segment::{ChunkOrigin, SegmentWriter, read_segment, Discard};
//! use logkeep_format::hash::Sha256;
//!
//! let mut w = SegmentWriter::new(Vec::new(), 3, 0).unwrap();
//! let origin = ChunkOrigin {
//!     source: "vpn", path: "/var/log/vpn.log", dev: 1, ino: 2, gen_id: 1, start: 0,
//!     head: Sha256::of(b"login alice\n"), tail: Sha256::of(b"login alice\n"),
//!     read_at: "2026-01-01T00:00:00Z", read_unix: 0, cursor: None,
//! };
//! w.append(&origin, b"login alice\n").unwrap();
//! let (bytes, sealed) = w.finish("store", 1, Sha256::ZERO, 0).unwrap();
//! let seen = read_segment(&bytes[..], sealed.content_size, &mut Discard).unwrap();
//! assert!(seen.flaws.is_empty());
//! assert_eq!(seen.sha256, sealed.sha256);
//! ```

pub mod bundle;
pub mod chain;
pub mod contents;
pub mod extract;
pub mod generation;
pub mod hash;
pub mod layout;
pub mod openssl;
pub mod record;
pub mod seal;
pub mod segment;
pub mod shards;
pub mod shown;
pub mod time;
pub mod untrusted;
pub mod verify;

pub use generation::GenPos;
pub use hash::Sha256;
pub use record::{
    Event, FORMAT_V2, FORMAT_VERSION, HEAD_LEN, Host, Record, SourceDecl, Span, TAIL_LEN,
};
pub use time::Timestamp;
