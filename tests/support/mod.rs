//! The one support module of the integration tests: every test module finds the binary, runs
//! the daemon, reads the chain, verifies, extracts, kills and draws random numbers through it.
//!
//! - [`daemon`]: a running `logkeep run` process; SIGTERM, SIGINT and `kill -9` with checks.
//! - [`site`]: a temporary site (configuration, `logs/`, `store/`) and its daemon.
//! - [`store`]: the chain's records read back, and the CLI (`verify`, `extract`) run on a store.
//! - [`tools`]: the standard tools the tests drive, required with an installation hint.
//! - [`rng`]: the deterministic random generator every randomised test uses.
//! - [`rotation`], [`bundle`], [`control`], [`syslog`], [`media`]: what one concern's tests share.

pub mod bundle;
pub mod control;
pub mod daemon;
pub mod media;
pub mod rng;
pub mod rotation;
pub mod s3;
pub mod seal;
pub mod site;
pub mod store;
pub mod syslog;
pub mod tools;

pub use rng::Rng;
pub use site::*;
pub use store::*;
pub use tools::*;

use std::time::Duration;

/// How long any wait may take before the test fails. Generous for a loaded two-core machine,
/// short enough that a hung daemon fails the test instead of hanging the suite.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// How long one CLI run (verify, extract of a big store, export) may take: debug builds on a
/// loaded two-core machine are slow, and a run that overruns it is killed and fails the test.
pub const CLI_DEADLINE: Duration = Duration::from_secs(120);

/// The path of the `logkeep` binary under test: the one binary lookup of the suite.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_logkeep")
}
