//! `logkeep-bench`: measures logkeep against what the machine can do at best and against what
//! users would run instead, side by side in one invocation, and prints the figures as a table
//! (or JSON). It drives the real `logkeep` binary as a subprocess, exactly as an installation
//! runs it; nothing is linked in, so the figures include process start, the store lock and every
//! fsync.
//!
//! ```text
//! logkeep-bench --size 1GiB --out /var/tmp/lkbench     # the documented run
//! logkeep-bench --size 4MiB --tail-secs 3 --only catchup,verify
//! logkeep-bench --year-days 365 --out /var/tmp/lkyear    # figure "year" alone (long)
//! ```

mod chain;
mod corpus;
mod figures;
mod proc;
mod syslog;
mod udp;
mod year;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand, ValueEnum};
use figures::{Bench, Figure, Options};
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

/// Benchmark logkeep against zstd/sha256sum baselines and rsyslog on a generated log corpus.
#[derive(Parser, Debug)]
#[command(version, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    internal: Option<Internal>,
    /// Size of the corpus (e.g. 8MiB for CI, 1GiB for the documented run).
    #[arg(long, default_value = "1GiB")]
    size: bytesize::ByteSize,
    /// Work directory: corpus (kept and reused), stores, reports, results.json and results.md.
    /// Default: a temporary directory, removed afterwards.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Run only these figures (repeatable or comma-separated).
    #[arg(long, value_enum, value_delimiter = ',')]
    only: Vec<Name>,
    /// Print the results as JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// The logkeep binary (default: `logkeep` next to this executable).
    #[arg(long)]
    logkeep: Option<PathBuf>,
    /// Corpus seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Timed runs of each side of figures 1 and 5; the fastest counts.
    #[arg(long, default_value_t = 1)]
    repeat: usize,
    /// Live tail: seconds of writing.
    #[arg(long, default_value_t = 30.0)]
    tail_secs: f64,
    /// Live tail: bytes per second over all writers.
    #[arg(long, default_value = "8MiB")]
    tail_rate: bytesize::ByteSize,
    /// Live tail: writer threads, one file each.
    #[arg(long, default_value_t = 4)]
    tail_writers: usize,
    /// Live tail: each file is renamed away (rotated) this often, in seconds.
    #[arg(long, default_value_t = 5.0)]
    tail_rotate_secs: f64,
    /// Memory: bytes archived per run (at most --size).
    #[arg(long, default_value = "256MiB")]
    memory_size: bytesize::ByteSize,
    /// Syslog: messages to send, one per corpus line from its start (default: every line;
    /// at most the corpus's lines).
    #[arg(long)]
    syslog_messages: Option<usize>,
    /// Syslog: concurrent TCP connections the messages are spread over.
    #[arg(long, default_value_t = 4)]
    syslog_connections: usize,
    /// UDP overload: datagrams sent at each rate.
    #[arg(long, default_value_t = 200_000)]
    udp_messages: u64,
    /// Figure "year" (never run otherwise): generate a store of this many days of operation
    /// at the default seal interval and measure start-up, verify and a day's export on it
    /// (365 for the documented figure; alone unless --only names other figures).
    #[arg(long, value_name = "DAYS")]
    year_days: Option<u32>,
}

#[derive(Subcommand, Debug)]
enum Internal {
    /// (internal) Run a program and report its CPU time and peak memory.
    #[command(hide = true)]
    Rusage {
        /// Where the JSON report goes.
        #[arg(long)]
        report: PathBuf,
        /// The program and its arguments.
        #[arg(last = true, required = true)]
        argv: Vec<OsString>,
    },
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Name {
    Catchup,
    Tail,
    Peer,
    Memory,
    Verify,
    Snapshot,
    Syslog,
    Timeline,
    Udp,
}

const ALL: [Name; 9] = [
    Name::Catchup,
    Name::Tail,
    Name::Peer,
    Name::Memory,
    Name::Verify,
    Name::Snapshot,
    Name::Syslog,
    Name::Timeline,
    Name::Udp,
];

fn main() -> ExitCode {
    let cli = Cli::parse();
    let r = match cli.internal {
        Some(Internal::Rusage { report, argv }) => proc::rusage_main(&report, &argv),
        None => bench(cli),
    };
    match r {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("logkeep-bench: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn find_logkeep(given: Option<PathBuf>) -> Result<PathBuf> {
    if let Some(p) = given {
        return Ok(p);
    }
    let me = std::env::current_exe().context("cannot find this executable")?;
    let p = me.with_file_name("logkeep");
    if !p.is_file() {
        bail!(
            "{} not found: build it (cargo build --release -p logkeep) or pass --logkeep PATH",
            p.display()
        );
    }
    Ok(p)
}

fn bench(cli: Cli) -> Result<u8> {
    let logkeep = find_logkeep(cli.logkeep)?;
    let exe = std::env::current_exe()?;
    let (dir, _temp) = match cli.out {
        Some(d) => (d, None),
        None => {
            let t = tempfile::Builder::new()
                .prefix("logkeep-bench-")
                .tempdir()?;
            (t.path().to_owned(), Some(t))
        }
    };
    std::fs::create_dir_all(dir.join("reports"))
        .with_context(|| format!("{}: cannot create", dir.display()))?;
    let dir = dir.canonicalize()?;
    let mut machine = figures::machine();
    machine.insert("logkeep", figures::version_of(&logkeep, "--version"));
    machine.insert(
        "zstd",
        figures::version_of(std::path::Path::new("zstd"), "--version"),
    );
    let opts = Options {
        size: cli.size.as_u64(),
        seed: cli.seed,
        repeat: cli.repeat,
        tail_secs: cli.tail_secs,
        tail_rate: cli.tail_rate.as_u64(),
        tail_writers: cli.tail_writers,
        tail_rotate_secs: cli.tail_rotate_secs,
        memory_size: cli.memory_size.as_u64(),
        syslog_messages: cli.syslog_messages,
        syslog_connections: cli.syslog_connections,
        udp_messages: cli.udp_messages,
    };
    let mut b = Bench::new(exe, logkeep, dir.clone(), opts);
    let wanted: Vec<Name> = if cli.only.is_empty() && cli.year_days.is_some() {
        Vec::new()
    } else if cli.only.is_empty() {
        ALL.to_vec()
    } else {
        ALL.into_iter().filter(|n| cli.only.contains(n)).collect()
    };
    let started = std::time::Instant::now();
    let mut rows: Vec<Figure> = Vec::new();
    let mut errors = Vec::new();
    let mut corpus_stats = None;
    for name in wanted {
        eprintln!("logkeep-bench: {name:?} (load {})", figures::load());
        let r = match name {
            Name::Catchup => b.catchup(),
            Name::Tail => b.tail(),
            Name::Peer => b.peer(),
            Name::Memory => b.memory(),
            Name::Verify => b.verify(),
            Name::Snapshot => b.snapshot(),
            Name::Syslog => b.syslog(),
            Name::Timeline => b.timeline(),
            Name::Udp => b.udp(),
        };
        match r {
            Ok(f) => rows.push(f),
            Err(e) => {
                eprintln!("logkeep-bench: {name:?} failed: {e:#}");
                errors.push(format!("{name:?}: {e:#}"));
            }
        }
        if corpus_stats.is_none()
            && matches!(
                name,
                Name::Catchup | Name::Verify | Name::Peer | Name::Syslog | Name::Timeline
            )
        {
            corpus_stats = b.corpus().ok().map(|c| c.1);
        }
    }
    if let Some(days) = cli.year_days {
        eprintln!("logkeep-bench: year (load {})", figures::load());
        match b.year(days) {
            Ok(f) => rows.push(f),
            Err(e) => {
                eprintln!("logkeep-bench: year failed: {e:#}");
                errors.push(format!("year: {e:#}"));
            }
        }
    }
    machine.insert("load_at_end", figures::load());
    let result = serde_json::json!({
        "size": cli.size.as_u64(),
        "seed": cli.seed,
        "seconds": started.elapsed().as_secs_f64(),
        "machine": machine,
        "corpus": corpus_stats,
        "figures": rows,
        "problems": b.problems,
        "errors": errors,
    });
    let table = render(&rows, &machine, corpus_stats.as_ref(), &b.problems, &errors);
    std::fs::write(
        dir.join("results.json"),
        serde_json::to_vec_pretty(&result)?,
    )?;
    std::fs::write(dir.join("results.md"), &table)?;
    if cli.json {
        println!("{}", serde_json::to_string_pretty(&result)?);
    } else {
        print!("{table}");
    }
    // Targets missed are findings, not failures; lost bytes or a crashed run are failures.
    Ok(if !b.problems.is_empty() || !errors.is_empty() {
        1
    } else {
        0
    })
}

fn render(
    rows: &[Figure],
    machine: &std::collections::HashMap<&'static str, String>,
    corpus: Option<&corpus::CorpusStats>,
    problems: &[String],
    errors: &[String],
) -> String {
    let mut s = String::new();
    s.push_str("| figure | logkeep | baseline | ratio | target |\n|---|---|---|---|---|\n");
    for f in rows {
        let ratio = f.ratio.map_or("-".into(), |r| format!("{r:.2}"));
        let met = match f.met {
            Some(true) => " (met)",
            Some(false) => " (NOT met)",
            None => "",
        };
        s.push_str(&format!(
            "| {} | {} | {} | {ratio} | {}{met} |\n",
            f.title, f.logkeep, f.baseline, f.target
        ));
    }
    s.push('\n');
    for f in rows {
        for n in &f.notes {
            s.push_str(&format!("- {}: {n}\n", f.title));
        }
    }
    if let Some(c) = corpus {
        s.push_str(&format!(
            "- corpus: {} bytes, {} lines, {} empty, {} longer than 8 KiB (longest {} bytes)\n",
            c.bytes, c.lines, c.empty_lines, c.long_lines, c.longest_line
        ));
    }
    let mut keys: Vec<_> = machine.keys().collect();
    keys.sort();
    s.push_str(&format!(
        "- machine: {}\n",
        keys.iter()
            .map(|k| format!("{k}: {}", machine[*k]))
            .collect::<Vec<_>>()
            .join("; ")
    ));
    for p in problems {
        s.push_str(&format!("- PROBLEM: {p}\n"));
    }
    for e in errors {
        s.push_str(&format!("- ERROR: {e}\n"));
    }
    s
}
