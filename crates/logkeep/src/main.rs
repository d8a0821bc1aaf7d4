//! The `logkeep` binary: command-line glue over the library crates. Not a library.
//!
//! Exit codes: 0 ok, 1 an integrity problem was found, 2 usage, configuration or I/O error.

mod cli;
mod config;
mod daemon;

use anyhow::{Context, Result, bail};
use clap::Parser;
use cli::{Cli, Command};
use logkeep_format::layout::Head;
use logkeep_format::segment::esc;
use logkeep_format::verify::{self, Report, VerifyOptions};
use std::io::{IsTerminal, Write};
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("LOGKEEP_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    match dispatch(cli.command) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("logkeep: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn dispatch(command: Command) -> Result<u8> {
    match command {
        Command::Run { config } => {
            let config = config::Config::load(&config)?;
            daemon::run(&config)?;
            Ok(0)
        }
        Command::CheckConfig { config } => check_config(&config),
        Command::Verify {
            path,
            json,
            expect_head,
        } => {
            let opts = VerifyOptions {
                expect_head: parse_head(expect_head.as_deref())?,
            };
            let report = verify::verify_store(&path, &opts)?;
            print_report(&report, json)?;
            Ok(if report.ok() { 0 } else { 1 })
        }
        Command::Extract { path, out, force } => {
            let (report, files) = logkeep_format::extract::extract_store(
                &path,
                &out,
                &VerifyOptions::default(),
                force,
            )?;
            if !report.ok() {
                print_report(&report, false)?;
                if files.is_empty() {
                    eprintln!(
                        "logkeep: nothing extracted: the store failed verification (use --force to extract anyway)"
                    );
                }
                return Ok(1);
            }
            let total: u64 = files.iter().map(|f| f.size).sum();
            println!(
                "extracted {} file generation(s), {total} bytes, into {} (index: {})",
                files.len(),
                out.display(),
                logkeep_format::extract::INDEX_NAME
            );
            for f in &files {
                println!("  {}  {}  {} bytes", f.sha256, esc(&f.output), f.size);
            }
            Ok(0)
        }
    }
}

fn parse_head(s: Option<&str>) -> Result<Option<Head>> {
    let Some(s) = s else { return Ok(None) };
    let (seq, hash) = s
        .split_once(':')
        .context("--expect-head must be SEQ:SHA256")?;
    let seq: u64 = seq.parse().context("--expect-head: SEQ is not a number")?;
    let Some(hash) = logkeep_format::Sha256::parse(hash) else {
        bail!("--expect-head: SHA256 must be 64 lowercase hex characters");
    };
    Ok(Some(Head { seq, hash }))
}

fn print_report(report: &Report, json: bool) -> Result<()> {
    let mut out = std::io::stdout().lock();
    if json {
        let mut v = serde_json::to_value(report)?;
        v["ok"] = serde_json::Value::Bool(report.ok());
        serde_json::to_writer_pretty(&mut out, &v)?;
        writeln!(out)?;
        return Ok(());
    }
    for p in &report.problems {
        writeln!(out, "FAIL {}: {}", p.file, p.what)?;
    }
    for a in &report.alerts {
        writeln!(out, "alert {}: {}", a.file, a.what)?;
    }
    for n in &report.notes {
        writeln!(out, "note {}: {}", n.file, n.what)?;
    }
    let sources: Vec<String> = report.sources.iter().map(|s| esc(s)).collect();
    match report.head {
        Some(h) => writeln!(out, "chain head: record {} sha256 {}", h.seq, h.hash)?,
        None => writeln!(out, "chain head: none")?,
    }
    writeln!(
        out,
        "{} records, {} segments, {} bytes captured, sources: {}",
        report.records,
        report.segments,
        report.captured_bytes,
        if sources.is_empty() {
            "-".into()
        } else {
            sources.join(", ")
        }
    )?;
    if let Some((a, b)) = &report.time_range {
        writeln!(out, "captured from {} to {}", esc(a), esc(b))?;
    }
    if report.ok() {
        writeln!(out, "OK: the store verified")?;
    } else {
        writeln!(out, "FAILED: {} problem(s) found", report.problems.len())?;
    }
    Ok(())
}

fn check_config(path: &std::path::Path) -> Result<u8> {
    let c = config::Config::load(path)?;
    println!("config {} is valid (sha256 {})", c.file.display(), c.sha256);
    println!("store: {}", c.store.display());
    println!(
        "  seal_interval {}, segment_max_bytes {}, heartbeat_interval {}, scan_interval {}, compression_level {}",
        humantime::format_duration(c.seal_interval),
        bytesize::ByteSize(c.segment_max_bytes),
        humantime::format_duration(c.heartbeat_interval),
        humantime::format_duration(c.scan_interval),
        c.compression_level
    );
    for s in &c.sources {
        println!("source {}:", s.id);
        for p in &s.paths {
            let matches: Vec<String> = glob::glob(p)
                .map(|g| {
                    g.filter_map(|e| e.ok())
                        .map(|p| p.display().to_string())
                        .collect()
                })
                .unwrap_or_default();
            println!("  {p}  ({} file(s) now)", matches.len());
            for m in matches {
                println!("    {m}");
            }
        }
    }
    Ok(0)
}
