//! The command line, parsed with clap and turned at once into plain values.

use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// Default configuration file.
pub const DEFAULT_CONFIG: &str = "/etc/logkeep/logkeep.toml";

/// logkeep captures log files byte for byte into a hash-chained store and proves what it stored.
///
/// Exit codes: 0 ok; 1 verification found an integrity problem; 2 usage, configuration or I/O
/// error.
#[derive(Debug, Parser)]
#[command(name = "logkeep", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon in the foreground; SIGTERM or SIGINT seals what was read and exits.
    Run {
        /// Configuration file.
        #[arg(long, value_name = "FILE", default_value = DEFAULT_CONFIG)]
        config: PathBuf,
    },
    /// Validate a configuration file and print the resolved sources.
    CheckConfig {
        /// Configuration file.
        #[arg(long, value_name = "FILE", default_value = DEFAULT_CONFIG)]
        config: PathBuf,
    },
    /// Verify a store directory: every record, link, segment and byte.
    Verify {
        /// Store directory.
        path: PathBuf,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
        /// A head known from elsewhere, as SEQ:SHA256; the chain must reach it.
        #[arg(long, value_name = "SEQ:SHA256")]
        expect_head: Option<String>,
    },
    /// Write every captured file generation, byte for byte, under a new directory.
    Extract {
        /// Store directory.
        path: PathBuf,
        /// Output directory (must not exist or be empty).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Extract even if verification finds problems (the report still says so).
        #[arg(long)]
        force: bool,
    },
}
