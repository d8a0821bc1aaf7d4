//! The `logkeep` binary: command-line glue over the library crates. Not a library.
//!
//! Exit codes: 0 ok, 1 an integrity problem was found, 2 usage, configuration or I/O error.

mod cli;
mod config;
mod control;
mod control_cmd;
mod daemon;
mod export;
mod inventory;
mod keys;
mod logging;
mod media_cmd;
mod media_link;
mod snapshot;

use anyhow::{Context, Result, bail};
use clap::Parser;
use cli::{Cli, Command, CustodyAction};
use logkeep_format::bundle::{self, BundleOptions, Selection};
use logkeep_format::layout::Head;
use logkeep_format::segment::{esc, esc_controls};
use logkeep_format::verify::{self, Report, VerifyOptions};
use std::io::Write;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    logging::init();
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
        Command::Status {
            json,
            socket,
            config,
        } => control_cmd::status(&control_cmd::socket_path(socket, config.as_deref())?, json),
        Command::Snapshot {
            reason,
            json,
            socket,
            config,
        } => control_cmd::snapshot(
            &control_cmd::socket_path(socket, config.as_deref())?,
            reason,
            json,
        ),
        Command::Verify {
            path,
            json,
            fingerprint,
            expect_head,
            against,
        } => {
            let mut expect = parse_head(expect_head.as_deref())?;
            if let Some(other) = &against {
                let h = logkeep_media::known_head(other)
                    .with_context(|| format!("{}: cannot read", other.display()))?
                    .with_context(|| {
                        format!("{}: holds no chain to compare with", other.display())
                    })?;
                if expect.is_some_and(|e| e.seq > h.seq) {
                    // Keep the newer of the two known heads.
                } else {
                    println!(
                        "comparing with {}: its head is record {} sha256 {}",
                        other.display(),
                        h.seq,
                        h.hash
                    );
                    expect = Some(h);
                }
            }
            let chain = VerifyOptions {
                expect_head: expect,
            };
            if is_bundle(&path)? {
                let opts = BundleOptions {
                    fingerprint: check_fp(fingerprint)?,
                    chain,
                };
                let report = bundle::verify_bundle_file(&path, &opts)?;
                print_bundle_report(&report, json)?;
                Ok(if report.ok() { 0 } else { 1 })
            } else {
                if fingerprint.is_some() {
                    bail!(
                        "--fingerprint applies to bundles; {} is a directory",
                        path.display()
                    );
                }
                let report = verify::verify_store(&path, &chain)?;
                print_report(&report, json)?;
                Ok(if report.ok() { 0 } else { 1 })
            }
        }
        Command::Extract {
            path,
            fingerprint,
            out,
            force,
        } => {
            let (ok, files) = if is_bundle(&path)? {
                let opts = BundleOptions {
                    fingerprint: check_fp(fingerprint)?,
                    chain: VerifyOptions::default(),
                };
                let (report, files) = bundle::extract_bundle(&path, &out, &opts, force)?;
                if !report.ok() {
                    print_bundle_report(&report, false)?;
                }
                (report.ok(), files)
            } else {
                let (report, files) = logkeep_format::extract::extract_store(
                    &path,
                    &out,
                    &VerifyOptions::default(),
                    force,
                )?;
                if !report.ok() {
                    print_report(&report, false)?;
                }
                (report.ok(), files)
            };
            if !ok && files.is_empty() {
                eprintln!(
                    "logkeep: nothing extracted: verification failed (use --force to extract anyway)"
                );
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
            Ok(if ok { 0 } else { 1 })
        }
        Command::Keygen { config, key } => {
            let path = match (key, config) {
                (Some(k), _) => k,
                (None, Some(c)) => config::Config::load(&c)?.signing_key,
                (None, None) => config::DEFAULT_KEY.into(),
            };
            let fp = keys::generate(&path)?;
            println!("created signing key {}", path.display());
            println!("fingerprint: {fp}");
            println!(
                "Write the fingerprint down and keep it apart from this host: investigators check bundles against it."
            );
            Ok(0)
        }
        Command::Export {
            out,
            store,
            socket,
            config,
            key,
            since,
            until,
            sources,
            case,
            evidence,
            examiner,
            note,
        } => {
            let cfg = config.as_deref().map(config::Config::load).transpose()?;
            let store = match store {
                Some(s) => s,
                None => {
                    // From the running daemon: it seals what it has read, then the bundle is
                    // made from its store (reading a store is safe while the daemon writes).
                    let path = control_cmd::socket_path(socket, config.as_deref())?;
                    let (dir, head) = control_cmd::seal(&path).context(
                        "cannot export from the running daemon (or export from a store directory with --store DIR)",
                    )?;
                    eprintln!(
                        "the daemon sealed its store {} at record {}",
                        dir.display(),
                        head.seq
                    );
                    dir
                }
            };
            let key = key
                .or_else(|| cfg.as_ref().map(|c| c.signing_key.clone()))
                .unwrap_or_else(|| config::DEFAULT_KEY.into());
            let selection = Selection {
                since: since
                    .as_deref()
                    .map(|t| parse_time("--since", t))
                    .transpose()?,
                until: until
                    .as_deref()
                    .map(|t| parse_time("--until", t))
                    .transpose()?,
                sources,
            };
            let args = export::ExportArgs {
                store,
                out: out.clone(),
                key,
                selection,
                case,
                evidence,
                examiner,
                note,
                config: cfg.as_ref().map(|c| (c.file.clone(), c.bytes.clone())),
                inventory: cfg.map(|c| c.inventory).unwrap_or_default(),
            };
            let e = export::export(&args)?;
            println!("bundle:      {}", out.display());
            println!("bundle id:   {}", e.bundle_id);
            println!("sha256:      {}", e.sha256);
            println!("read-out:    {}", phone_form(&e.sha256));
            println!(
                "chain head:  record {} sha256 {} (records {}..={}, {} segment(s))",
                e.head.seq, e.head.hash, e.first_seq, e.head.seq, e.segments
            );
            println!("signing key: {}", e.fingerprint);
            Ok(0)
        }
        Command::Media { action } => media_cmd::run(action),
        Command::Custody {
            action:
                CustodyAction::Add {
                    bundle: path,
                    actor,
                    action,
                    note,
                },
        } => {
            let entry = bundle::append_custody(
                &path,
                &actor,
                &action,
                note.as_deref(),
                &logkeep_store::clock::wall_now(),
            )
            .with_context(|| format!("{}: cannot add to the custody log", path.display()))?;
            println!(
                "custody entry {} added to {} ({} by {})",
                entry.seq,
                path.display(),
                esc(&entry.action),
                esc(&entry.actor)
            );
            Ok(0)
        }
    }
}

/// Whether `path` is a bundle file (as opposed to a store directory).
fn is_bundle(path: &std::path::Path) -> Result<bool> {
    let meta =
        std::fs::metadata(path).with_context(|| format!("{}: cannot read", path.display()))?;
    Ok(meta.is_file())
}

fn check_fp(fp: Option<String>) -> Result<Option<String>> {
    match fp {
        Some(f) if bundle::normalize_fingerprint(&f).is_none() => {
            bail!(
                "--fingerprint: expected 32 hex digits (dashes allowed), as printed by `logkeep keygen`"
            )
        }
        other => Ok(other),
    }
}

fn parse_time(flag: &str, t: &str) -> Result<String> {
    let st = humantime::parse_rfc3339_weak(t).map_err(|e| {
        anyhow::anyhow!("{flag}: {t:?} is not a time like 2026-11-20T03:00:00Z: {e}")
    })?;
    Ok(logkeep_store::clock::wall_at(st))
}

/// The first 16 hex digits of a digest in groups of four, for reading out on the phone.
fn phone_form(h: &logkeep_format::Sha256) -> String {
    bundle::short_form(h, 16, " ")
}

fn print_bundle_report(b: &bundle::BundleReport, json: bool) -> Result<()> {
    let mut out = std::io::stdout().lock();
    if json {
        return print_json(&mut out, b, b.ok());
    }
    let r = &b.report;
    print_findings(&mut out, "FAIL", &r.problems)?;
    for p in &b.custody_problems {
        writeln!(out, "FAIL custody.jsonl: {}", esc(p))?;
    }
    print_findings(&mut out, "alert", &r.alerts)?;
    print_findings(&mut out, "note", &r.notes)?;
    if let Some(i) = &b.info {
        let opt = |o: &Option<String>| o.as_deref().map(esc).unwrap_or_else(|| "-".into());
        writeln!(
            out,
            "bundle {}  created {}",
            esc(&i.bundle_id),
            esc(&i.created)
        )?;
        writeln!(
            out,
            "case {}  evidence {}  examiner {}",
            opt(&i.case),
            opt(&i.evidence),
            opt(&i.examiner)
        )?;
        writeln!(
            out,
            "host {} (machine {})  {}",
            esc(&i.host.hostname),
            esc(&i.host.machine_id),
            esc(&i.host.os)
        )?;
        writeln!(
            out,
            "sources: {}",
            i.sources
                .iter()
                .map(|s| esc(s))
                .collect::<Vec<_>>()
                .join(", ")
        )?;
        if let Some((a, z)) = &i.time_range {
            writeln!(out, "captured from {} to {}", esc(a), esc(z))?;
        }
    }
    match r.head {
        Some(h) => writeln!(
            out,
            "chain head: record {} sha256 {} (records from {})",
            h.seq,
            h.hash,
            r.first_seq.unwrap_or(0)
        )?,
        None => writeln!(out, "chain head: none")?,
    }
    writeln!(
        out,
        "{} records, {} segments checked ({} not selected), {} bytes captured",
        r.records, r.segments, r.segments_omitted, r.captured_bytes
    )?;
    match &b.key_fingerprint {
        Some(fp) if b.key_pinned => {
            writeln!(out, "signed by key {fp} (matches the fingerprint given)")?
        }
        Some(fp) => writeln!(
            out,
            "signed by key {fp} — NOT PINNED: compare it with the fingerprint received out of band, or pass --fingerprint"
        )?,
        None => writeln!(out, "signing key: none")?,
    }
    writeln!(
        out,
        "signature: {}",
        if b.signature_ok {
            "valid"
        } else {
            "INVALID or missing"
        }
    )?;
    writeln!(
        out,
        "custody log: {} entr{}",
        b.custody.len(),
        if b.custody.len() == 1 { "y" } else { "ies" }
    )?;
    for e in &b.custody {
        writeln!(
            out,
            "  {}. {}  {}  {}{}",
            e.seq,
            esc(&e.time),
            esc(&e.actor),
            esc(&e.action),
            e.note
                .as_deref()
                .map(|n| format!("  ({})", esc(n)))
                .unwrap_or_default()
        )?;
    }
    if let Some(h) = b.bundle_sha256 {
        writeln!(
            out,
            "bundle file sha256 {h} ({} bytes); read-out: {}",
            b.bundle_size,
            phone_form(&h)
        )?;
    }
    if b.ok() {
        writeln!(out, "OK: the bundle verified")?;
    } else {
        writeln!(
            out,
            "FAILED: {} problem(s) found",
            r.problems.len() + b.custody_problems.len()
        )?;
    }
    Ok(())
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

/// One line per finding, `LABEL FILE: WHAT`, with control characters from the data escaped.
fn print_findings(
    out: &mut impl Write,
    label: &str,
    list: &[logkeep_format::verify::Problem],
) -> std::io::Result<()> {
    for p in list {
        writeln!(
            out,
            "{label} {}: {}",
            esc_controls(&p.file),
            esc_controls(&p.what)
        )?;
    }
    Ok(())
}

/// A report as pretty JSON with its verdict as `ok`.
fn print_json(out: &mut impl Write, report: &impl serde::Serialize, ok: bool) -> Result<()> {
    let mut v = serde_json::to_value(report)?;
    v["ok"] = serde_json::Value::Bool(ok);
    serde_json::to_writer_pretty(&mut *out, &v)?;
    writeln!(out)?;
    Ok(())
}

fn print_report(report: &Report, json: bool) -> Result<()> {
    let mut out = std::io::stdout().lock();
    if json {
        return print_json(&mut out, report, report.ok());
    }
    print_findings(&mut out, "FAIL", &report.problems)?;
    print_findings(&mut out, "alert", &report.alerts)?;
    print_findings(&mut out, "note", &report.notes)?;
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
        if let Some(l) = &s.listen {
            let stream = if l.transport == logkeep_syslog::Transport::Udp {
                String::new()
            } else {
                format!(
                    ", max_connections {}, idle_timeout {}, framing {:?}",
                    l.max_connections,
                    l.idle_timeout
                        .map_or("never".into(), |d| humantime::format_duration(d)
                            .to_string()),
                    l.framing
                )
            };
            let tls = l.tls.as_ref().map_or(String::new(), |t| {
                format!(
                    ", tls_cert {}{}",
                    t.cert.display(),
                    if t.client_ca.is_some() {
                        ", client certificates required"
                    } else {
                        ""
                    }
                )
            });
            println!(
                "  listen {}  (max_message_bytes {}{stream}{tls})",
                l.url,
                bytesize::ByteSize(l.max_message_bytes as u64)
            );
            println!("  its write-ahead log, captured as files:");
        }
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
