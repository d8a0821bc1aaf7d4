//! `logkeep list`: what a store, a medium or a bundle holds, verified as it is read — every
//! file generation with its source, original path (escaped), byte ranges and their state, and
//! the times of its first and last read; then the verdict. One shape for all three inputs,
//! as text or JSON.

use crate::verify_cmd::{check_fp, input_kind, json_errors, one_line};
use anyhow::{Result, bail};
use logkeep_format::bundle::BundleOptions;
use logkeep_format::contents::{self, Generation, RangeState};
use logkeep_format::shown::Shown;
use logkeep_format::verify::{Input, Report, VerifyOptions};
use std::io::Write;
use std::path::PathBuf;

/// `logkeep list PATH`: 0 when the input verified, 1 when a problem was found.
pub fn run(path: PathBuf, fingerprint: Option<String>, json: bool) -> Result<u8> {
    json_errors(json, || list(path, fingerprint, json))
}

fn list(path: PathBuf, fingerprint: Option<String>, json: bool) -> Result<u8> {
    // The chain report, what a bundle adds (signature, custody), and the verdict.
    let (kind, ok, gens, report, extra, full) = match input_kind(&path)? {
        Input::Bundle => {
            let opts = BundleOptions {
                fingerprint: check_fp(fingerprint)?,
                chain: VerifyOptions::default(),
            };
            let (b, gens) = contents::list_bundle(&path, &opts)?;
            let extra: Vec<String> = b
                .custody_problems
                .iter()
                .map(|p| format!("custody.jsonl: {}", one_line(p)))
                .collect();
            let full = serde_json::to_value(&b)?;
            ("bundle", b.ok(), gens, b.report, extra, full)
        }
        Input::Store => {
            if fingerprint.is_some() {
                bail!(
                    "--fingerprint applies to bundles; {} is a directory",
                    Shown::path(&path)
                );
            }
            let (r, gens) = contents::list_store(&path, &VerifyOptions::default())?;
            let full = serde_json::to_value(&r)?;
            ("store", r.ok(), gens, r, Vec::new(), full)
        }
    };
    let code = if ok { 0 } else { 1 };
    let mut o = crate::out::stdout();
    if json {
        let v = serde_json::json!({
            "ok": ok,
            "exit": code,
            "kind": kind,
            "path": Shown::path(&path).to_string(),
            "generations": gens,
            "report": full,
        });
        serde_json::to_writer_pretty(&mut o, &v)?;
        writeln!(o)?;
        return Ok(code);
    }
    print_text(&mut o, kind, &gens, &report, &extra)?;
    Ok(code)
}

fn print_text(
    o: &mut impl Write,
    kind: &str,
    gens: &[Generation],
    report: &Report,
    extra: &[String],
) -> Result<()> {
    for g in gens {
        let bytes: u64 = g
            .ranges
            .iter()
            .filter(|r| r.state != RangeState::NotIncluded)
            .map(|r| r.end - r.start)
            .sum();
        writeln!(
            o,
            "{}  gen {}  {}  dev {} ino {}  {} bytes  {} .. {}",
            Shown::text(&g.source),
            g.gen_id,
            Shown::text(&g.path),
            g.dev,
            g.ino,
            bytes,
            Shown::text(&g.first),
            Shown::text(&g.last)
        )?;
        for r in &g.ranges {
            let state = match r.state {
                RangeState::Verified => "verified",
                RangeState::Damaged => "DAMAGED",
                RangeState::NotIncluded => "not included",
            };
            let at = if r.seq == 0 {
                "before the first record".to_owned()
            } else {
                format!("record {}", r.seq)
            };
            writeln!(o, "    [{}, {})  {at}  {state}", r.start, r.end)?;
        }
    }
    for p in &report.problems {
        writeln!(o, "FAIL {}: {}", Shown::text(&p.file), Shown::text(&p.what))?;
    }
    for p in extra {
        writeln!(o, "FAIL {p}")?;
    }
    writeln!(
        o,
        "{} generation(s), {} records, {} segments checked, {} not included",
        gens.len(),
        report.records,
        report.segments,
        report.segments_omitted
    )?;
    if report.ok() && extra.is_empty() {
        writeln!(o, "OK: the {kind} verified")?;
    } else {
        writeln!(
            o,
            "FAILED: {} problem(s) found",
            report.problems.len() + extra.len()
        )?;
    }
    Ok(())
}
