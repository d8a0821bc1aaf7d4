//! `logkeep verify`: check a store, a medium or a bundle, and the reports `verify` and
//! `extract` print (text, or JSON with the verdict as `ok`).

use anyhow::{Context, Result, bail};
use logkeep_format::bundle::{self, BundleOptions};
use logkeep_format::layout::Head;
use logkeep_format::segment::{esc, esc_controls};
use logkeep_format::verify::{self, Report, VerifyOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// `logkeep verify PATH`: 0 when it verified, 1 when a problem was found.
pub fn run(
    path: PathBuf,
    json: bool,
    fingerprint: Option<String>,
    expect_head: Option<String>,
    against: Option<PathBuf>,
) -> Result<u8> {
    let mut expect = parse_head(expect_head.as_deref())?;
    if let Some(other) = &against {
        let h = logkeep_media::known_head(other)
            .with_context(|| format!("{}: cannot read", other.display()))?
            .with_context(|| format!("{}: holds no chain to compare with", other.display()))?;
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

/// Whether `path` is a bundle file (as opposed to a store directory).
pub fn is_bundle(path: &Path) -> Result<bool> {
    let meta =
        std::fs::metadata(path).with_context(|| format!("{}: cannot read", path.display()))?;
    Ok(meta.is_file())
}

/// `--fingerprint` as given, once it is known to be a fingerprint.
pub fn check_fp(fp: Option<String>) -> Result<Option<String>> {
    match fp {
        Some(f) if bundle::normalize_fingerprint(&f).is_none() => {
            bail!(
                "--fingerprint: expected 32 hex digits (dashes allowed), as printed by `logkeep keygen`"
            )
        }
        other => Ok(other),
    }
}

/// The first 16 hex digits of a digest in groups of four, for reading out on the phone.
pub fn phone_form(h: &logkeep_format::Sha256) -> String {
    bundle::short_form(h, 16, " ")
}

/// A bundle's verification report, as text or JSON, on stdout.
pub fn print_bundle_report(b: &bundle::BundleReport, json: bool) -> Result<()> {
    let mut out = std::io::stdout().lock();
    if json {
        return print_json(&mut out, b, b.ok());
    }
    let r = &b.report;
    print_findings(&mut out, "FAIL", &r.problems)?;
    for p in &b.custody_problems {
        writeln!(out, "FAIL custody.jsonl: {}", esc(p))?;
    }
    for p in &b.companion_problems {
        let name = b.companion.as_deref().unwrap_or("custody companion");
        writeln!(out, "FAIL {name}: {}", esc(p))?;
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
    let entry = |out: &mut std::io::StdoutLock, e: &bundle::CustodyEntry| {
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
        )
    };
    for e in &b.custody {
        entry(&mut out, e)?;
    }
    match &b.companion {
        Some(name) => {
            writeln!(
                out,
                "custody companion {name}: {} entr{}, chained to the bundle file's sha256{}",
                b.companion_custody.len(),
                if b.companion_custody.len() == 1 {
                    "y"
                } else {
                    "ies"
                },
                b.companion_sha256
                    .map(|h| format!("; companion sha256 {h}"))
                    .unwrap_or_default()
            )?;
            for (i, e) in b.companion_custody.iter().enumerate() {
                entry(&mut out, e)?;
                if let Some(Some(fp)) = b.companion_signers.get(i) {
                    writeln!(out, "     signed by the key with fingerprint {fp}")?;
                }
            }
        }
        None => writeln!(out, "custody companion: none beside the bundle file")?,
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
            r.problems.len() + b.custody_problems.len() + b.companion_problems.len()
        )?;
    }
    Ok(())
}

/// `--expect-head SEQ:SHA256`.
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

/// A store's verification report, as text or JSON, on stdout.
pub fn print_report(report: &Report, json: bool) -> Result<()> {
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
