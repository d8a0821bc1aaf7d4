//! `verify-with-openssl.sh`, the verifier every format 2 bundle carries: POSIX sh and standard
//! tools only (`sha256sum`, `openssl`, `zstd`, `tar`, plus `sed`, `grep`, `head`, `tail`, `cut`,
//! `printf`, `cat`), so that a bundle can be checked without logkeep. The texts it rebuilds are
//! [`crate::seal`]'s; `docs/FORMAT.md` ("Checking a format 2 bundle with standard tools")
//! walks through it.

/// The script, byte for byte as bundles carry it.
pub const SCRIPT: &str = include_str!("verify-with-openssl.sh");
