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
    /// Look at this host (installed units and packages, /var/log, the journal, listening syslog
    /// ports) and print a commented configuration for the edge-host services found, saying for
    /// each file whether the service user can read it.
    Detect {
        /// Look at the host whose root directory is this (a mounted image, a prepared tree).
        #[arg(long, value_name = "DIR", default_value = "/")]
        root: PathBuf,
    },
    /// Validate a configuration file and check what the daemon will need: the store and media
    /// writable, the control socket's directory, the signing key; list every section and the
    /// files each source captures now. Exit 2 when something will fail; warnings exit 0.
    CheckConfig {
        /// Configuration file.
        #[arg(long, value_name = "FILE", default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        /// Print JSON (errors too, as {"error": ...}).
        #[arg(long)]
        json: bool,
    },
    /// Ask the running daemon for its state: sources, positions and lag, chain head, last
    /// seal, recent tamper events, media, version and uptime.
    Status {
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// The daemon's control socket (default: from the configuration).
        #[arg(long, value_name = "PATH")]
        socket: Option<PathBuf>,
        /// Configuration naming the socket (default: /etc/logkeep/logkeep.toml).
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Emergency snapshot: the daemon captures everything the sources hold now, seals it,
    /// records who asked and why, and stores the host's volatile context (users, network,
    /// connections, processes). Prints the snapshot id and the chain head.
    Snapshot {
        /// Why (recorded in the chain; up to 1024 bytes).
        #[arg(long, value_name = "TEXT")]
        reason: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// The daemon's control socket (default: from the configuration).
        #[arg(long, value_name = "PATH")]
        socket: Option<PathBuf>,
        /// Configuration naming the socket (default: /etc/logkeep/logkeep.toml).
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Verify a store directory or an evidence bundle: every record, link, segment and byte.
    Verify {
        /// Store directory, medium directory, or bundle file.
        path: PathBuf,
        /// The signing key's fingerprint, received out of band (bundles).
        #[arg(long, value_name = "FP")]
        fingerprint: Option<String>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
        /// A head known from elsewhere, as SEQ:SHA256; the chain must reach it.
        #[arg(long, value_name = "SEQ:SHA256")]
        expect_head: Option<String>,
        /// Another copy (store or medium): this chain must reach that copy's head, or it was
        /// rolled back or cut short.
        #[arg(long, value_name = "DIR")]
        against: Option<PathBuf>,
        /// A remote of the configuration: this chain must reach the newest signed checkpoint
        /// the remote holds, or it was rolled back or cut short.
        #[arg(long, value_name = "ID", conflicts_with = "against")]
        against_remote: Option<String>,
        /// Configuration naming the remote (for --against-remote).
        #[arg(long, value_name = "FILE", default_value = DEFAULT_CONFIG, requires = "against_remote")]
        config: PathBuf,
    },
    /// Write every captured file generation, byte for byte, under a new directory. A
    /// generation that is not whole is marked in its name (.INCOMPLETE, .DAMAGED) and its
    /// ranges are named in the index and on the console.
    Extract(ExtractArgs),
    /// List what a store, a medium or a bundle holds (verifying it): every file generation with
    /// its source, original path, byte ranges and times.
    List {
        /// Store directory, medium directory, or bundle file.
        path: PathBuf,
        /// The signing key's fingerprint, received out of band (bundles).
        #[arg(long, value_name = "FP")]
        fingerprint: Option<String>,
        /// Print the listing and the verification report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Seal an evidence bundle from a store.
    Export(ExportArgs),
    /// The investigator's timeline of a store, a medium or a bundle (verified first): logons,
    /// VPN and RDP sessions, privilege use, account and configuration changes, cleared logs,
    /// tampering and gaps, each with the offset, length and SHA-256 of the original line.
    Timeline {
        /// What to read and which events to keep.
        #[command(flatten)]
        args: TimelineArgs,
        /// jsonl (Timesketch-ready JSON Lines) or csv (RFC 4180, the same columns).
        #[arg(long, value_enum, default_value = "jsonl")]
        format: TimelineFormat,
    },
    /// Write report.html for a store, a medium or a bundle (verified first): one
    /// self-contained page, Japanese and English, every number linked to its timeline rows.
    Report(TimelineArgs),
    /// Create the host's signing state (root key, first epoch key) and print the root key's
    /// fingerprint.
    Keygen(KeygenArgs),
    /// Print the root key's fingerprint of a signing state or a public key file.
    Fingerprint {
        /// Configuration file naming the signing state.
        #[arg(long, value_name = "FILE", conflicts_with_all = ["key", "public"])]
        config: Option<PathBuf>,
        /// Signing state directory.
        #[arg(long, value_name = "DIR", conflicts_with = "public")]
        key: Option<PathBuf>,
        /// A public key in PEM (SubjectPublicKeyInfo), e.g. the state's root.pub.
        #[arg(long = "pub", value_name = "FILE.pem")]
        public: Option<PathBuf>,
    },
    /// Rehearse the day of an incident against the running daemon: snapshot (reason `drill`),
    /// export the last day from a medium or (--remote) a remote's copy pulled back whole (the
    /// host is assumed lost), verify the bundle with
    /// logkeep and with its own verify-with-openssl.sh against [incident] fingerprint, read it
    /// with `timeline`, check it holds the latest bytes of every source, and name what would
    /// fail on the day. The daemon records the verdict in the chain. Exit 0 passed, 1 failed.
    Drill {
        /// Configuration file (contacts, fingerprint, media, the daemon's socket).
        #[arg(long, value_name = "FILE", default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        /// The daemon's control socket (default: from the configuration).
        #[arg(long, value_name = "PATH")]
        socket: Option<PathBuf>,
        /// The medium to export from (default: the first one present).
        #[arg(long, value_name = "ID")]
        medium: Option<String>,
        /// Export from this remote ([[remote]] id) instead of a medium: its copy is pulled back
        /// whole into the drill's directory first, as an investigator would.
        #[arg(long, value_name = "ID", conflicts_with = "medium")]
        remote: Option<String>,
        /// Keep the bundle, the timeline and the report (drill.json) in DIR (new or empty);
        /// by default nothing but the report and the chain record outlives the run.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print the sheet for the day of an incident: the contacts of [incident], the exact
    /// commands for this host (snapshot, export from a medium, eject), what to hand over and
    /// what not to do.
    Incident {
        /// Configuration file.
        #[arg(long, value_name = "FILE", default_value = DEFAULT_CONFIG)]
        config: PathBuf,
    },
    /// Offline media.
    Media {
        /// What to do.
        #[command(subcommand)]
        action: MediaAction,
    },
    /// Remotes: S3 buckets with Object Lock holding copies nobody on the host can delete.
    Remote {
        /// What to do.
        #[command(subcommand)]
        action: RemoteAction,
    },
    /// The custody log of an evidence bundle.
    Custody {
        /// What to do.
        #[command(subcommand)]
        action: CustodyAction,
    },
}

/// `logkeep keygen`'s arguments.
#[derive(Debug, clap::Args)]
pub struct KeygenArgs {
    /// Configuration file naming the signing state's directory.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Where to create the signing state (default: from the configuration, else
    /// /var/lib/logkeep/signing).
    #[arg(long, value_name = "DIR")]
    pub key: Option<PathBuf>,
    /// Write the root secret to FILE (then move it to offline storage).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["keep_root", "enrol"])]
    pub root_out: Option<PathBuf>,
    /// Keep the root secret in the signing state (root.key); less safe: a thief of the host
    /// then holds it too.
    #[arg(long, conflicts_with = "enrol")]
    pub keep_root: bool,
    /// Re-enrol: a new epoch chain signed by an existing root (--root), for a host whose
    /// signing state was lost.
    #[arg(long, requires = "root")]
    pub enrol: bool,
    /// The root secret, for --enrol.
    #[arg(long, value_name = "FILE", requires = "enrol")]
    pub root: Option<PathBuf>,
    /// The first epoch's number for --enrol (default: one more than the newest epoch in the
    /// configured store's chain).
    #[arg(long, value_name = "N", requires = "enrol")]
    pub epoch: Option<u64>,
}

/// Remote actions.
#[derive(Debug, Subcommand)]
pub enum RemoteAction {
    /// Show each configured remote: reachable, records behind the store, last checkpoint
    /// copied (asks the remotes themselves).
    List {
        /// Configuration file.
        #[arg(long, value_name = "FILE", default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Rebuild a store directory from a remote (then `verify`, `extract` and `export` it).
    Pull {
        /// Remote id, as in the configuration's `[[remote]] id`.
        id: String,
        /// The directory to create (must not exist, or be empty).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Another host's key prefix in the same bucket (default: the configured prefix).
        #[arg(long, value_name = "PREFIX")]
        host: Option<String>,
        /// Configuration file naming the remote.
        #[arg(long, value_name = "FILE", default_value = DEFAULT_CONFIG)]
        config: PathBuf,
    },
}

/// Media actions.
#[derive(Debug, Subcommand)]
pub enum MediaAction {
    /// Make a directory (a mounted disk) into a medium.
    Init {
        /// The mounted disk's directory.
        path: PathBuf,
        /// The medium's id, as in the configuration's `[[media]] id`.
        #[arg(long)]
        id: String,
        /// Initialise even if the directory is not a mount point.
        #[arg(long)]
        force: bool,
        /// Print JSON (errors too, as {"error": ...}).
        #[arg(long)]
        json: bool,
    },
    /// Show each configured medium: present or absent, last sync, records behind, free space.
    List {
        /// Configuration file.
        #[arg(long, value_name = "FILE", default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Finish copying to a medium, flush it, record the detach in the chain, and say when it
    /// is safe to unplug. Without a running daemon, does it directly on the store.
    Eject {
        /// Medium id.
        id: String,
        /// Configuration file.
        #[arg(long, value_name = "FILE", default_value = DEFAULT_CONFIG)]
        config: PathBuf,
    },
}

/// Custody log actions.
#[derive(Debug, Subcommand)]
pub enum CustodyAction {
    /// Add a hand-over (or any custody event) to a bundle's custody log: the companion file
    /// BUNDLE.custody.jsonl beside it. The bundle file itself is never changed.
    Add {
        /// Bundle file.
        bundle: PathBuf,
        /// Who (name and organisation).
        #[arg(long, value_name = "NAME")]
        actor: String,
        /// What happened (e.g. "handed over to the prefectural police").
        #[arg(long, value_name = "TEXT")]
        action: String,
        /// Free text (no secrets).
        #[arg(long, value_name = "TEXT")]
        note: Option<String>,
        /// The signing key's fingerprint, received out of band: the bundle must be signed by
        /// that key.
        #[arg(long, value_name = "FP")]
        fingerprint: Option<String>,
        /// Sign the entry with the actor's own Ed25519 key (a PKCS#8 PEM file, mode 0600, as
        /// `openssl genpkey -algorithm ed25519` or `logkeep keygen --key` make it); its
        /// fingerprint is printed and shown by `verify`.
        #[arg(long, value_name = "FILE")]
        key: Option<PathBuf>,
        /// Print JSON (errors too, as {"error": ...}).
        #[arg(long)]
        json: bool,
    },
}

/// `logkeep export`: what the bundle holds and who seals it.
#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// Bundle file to write.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Store (or medium) directory to export from. Without it, the running daemon seals
    /// what it has read and the bundle is made from its store.
    #[arg(long, value_name = "DIR")]
    pub store: Option<PathBuf>,
    /// The daemon's control socket, when exporting from the running daemon (default: from
    /// the configuration).
    #[arg(long, value_name = "PATH", conflicts_with = "store")]
    pub socket: Option<PathBuf>,
    /// Configuration file: the signing key, inventory and the configuration itself go into
    /// the bundle (default: /etc/logkeep/logkeep.toml when it exists).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Export without any configuration, even if /etc/logkeep/logkeep.toml exists (the bundle
    /// then holds no inventory and no configuration).
    #[arg(long, conflicts_with = "config")]
    pub no_config: bool,
    /// Replace an existing bundle file (and its custody companion). The configuration, the
    /// signing key and files inside a store or medium are never replaced.
    #[arg(long)]
    pub force: bool,
    /// Print JSON (errors too, as {"error": ...}).
    #[arg(long)]
    pub json: bool,
    /// Signing state directory (default: from the configuration, else /var/lib/logkeep/signing).
    #[arg(long, value_name = "DIR")]
    pub key: Option<PathBuf>,
    /// Only segments with reads at or after this time (RFC 3339, e.g. 2026-11-20T03:00:00Z).
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Only segments with reads at or before this time.
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// Only segments holding this source (repeatable).
    #[arg(long = "source", value_name = "ID")]
    pub sources: Vec<String>,
    /// Case number.
    #[arg(long, value_name = "ID")]
    pub case: Option<String>,
    /// Evidence number.
    #[arg(long, value_name = "ID")]
    pub evidence: Option<String>,
    /// Who exports (name and contact).
    #[arg(long, value_name = "NAME")]
    pub examiner: Option<String>,
    /// Free text for the custody record (no secrets).
    #[arg(long, value_name = "TEXT")]
    pub note: Option<String>,
    /// The affected terminals (TOML: `[[terminal]]` with name, encrypted, symptoms, noticed;
    /// `notes`), sealed as incident.json. Without it, export asks on a terminal.
    #[arg(long, value_name = "FILE")]
    pub incident: Option<PathBuf>,
}

/// `logkeep extract`.
#[derive(Debug, clap::Args)]
pub struct ExtractArgs {
    /// Store directory, medium directory, or bundle file.
    pub path: PathBuf,
    /// The signing key's fingerprint, received out of band (bundles).
    #[arg(long, value_name = "FP")]
    pub fingerprint: Option<String>,
    /// Output directory (must not exist or be empty).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Extract even if verification finds problems (the report still says so, and damaged
    /// generations are marked .DAMAGED).
    #[arg(long)]
    pub force: bool,
    /// Only this source (repeat for several).
    #[arg(long, value_name = "ID")]
    pub source: Vec<String>,
    /// Only segments with a read at or after this time (RFC 3339, e.g. 2026-11-20T03:00:00Z).
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Only segments with a read at or before this time (RFC 3339).
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// Print the result (files written, ranges, report) or the error as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `logkeep timeline` and `logkeep report`.
#[derive(Debug, clap::Args)]
pub struct TimelineArgs {
    /// Store directory, medium directory, or bundle file.
    pub path: PathBuf,
    /// The signing key's fingerprint, received out of band (bundles).
    #[arg(long, value_name = "FP")]
    pub fingerprint: Option<String>,
    /// Write to FILE (made whole, then renamed into place) instead of standard output;
    /// required for `report`.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Replace an existing --out file.
    #[arg(long)]
    pub force: bool,
    /// Only events at or after this time (RFC 3339, e.g. 2026-11-20T03:00:00Z).
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Only events at or before this time (RFC 3339).
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// Only this source (repeat for several).
    #[arg(long, value_name = "ID")]
    pub source: Vec<String>,
    /// The zone of times written without one (BSD syslog, NXLog's EventTime), as a UTC offset
    /// (`+09:00`) or `UTC`; every such event says which zone was assumed.
    #[arg(long, value_name = "OFFSET", default_value = "UTC")]
    pub assume_zone: String,
}

/// `logkeep timeline --format`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum TimelineFormat {
    /// JSON Lines, ready for a Timesketch import.
    Jsonl,
    /// RFC 4180 CSV with a header row.
    Csv,
}
