//! `logkeep extract`: write every captured file generation of a store, a medium or a bundle,
//! byte for byte, under a new directory, once verification allows it; a generation that is not
//! whole is marked in its name and its ranges are named on the console and in the index.

use crate::cli::ExtractArgs;
use crate::verify_cmd::{
    Progress, check_fp, input_kind, json_errors, print_bundle_report, print_report,
};
use anyhow::{Result, bail};
use logkeep_format::Timestamp;
use logkeep_format::bundle::{self, BundleOptions};
use logkeep_format::extract::{self, Condition, Extracted, Filter};
use logkeep_format::layout::valid_source_id;
use logkeep_format::shown::Shown;
use logkeep_format::verify::{Input, VerifyOptions};
use std::io::Write;

/// `logkeep extract PATH --out DIR`: 0 when everything verified, 1 otherwise.
pub fn run(args: ExtractArgs) -> Result<u8> {
    let json = args.json;
    json_errors(json, || extract(args))
}

fn time(flag: &str, t: Option<&str>) -> Result<Option<Timestamp>> {
    let Some(t) = t else { return Ok(None) };
    let st = humantime::parse_rfc3339_weak(t).map_err(|e| {
        anyhow::anyhow!(
            "{flag}: {} is not a time like 2026-11-20T03:00:00Z: {e}",
            Shown::text(t)
        )
    })?;
    Ok(Some(Timestamp::from(st)))
}

fn extract(args: ExtractArgs) -> Result<u8> {
    let ExtractArgs {
        path,
        fingerprint,
        out,
        force,
        source,
        since,
        until,
        json,
    } = args;
    // Never into a store, a medium, or over the configuration or a key (a non-empty --out is
    // refused below).
    crate::no_clobber::check_place(&out, "--out", &crate::no_clobber::Protected::new())?;
    for s in &source {
        if !valid_source_id(s) {
            bail!("--source: {} is not a source id", Shown::text(s));
        }
    }
    let filter = Filter {
        sources: source,
        since: time("--since", since.as_deref())?,
        until: time("--until", until.as_deref())?,
    };
    let mut progress = Progress::new("extract");
    let (ok, files, report) = match input_kind(&path)? {
        Input::Bundle => {
            let opts = BundleOptions {
                fingerprint: check_fp(fingerprint)?,
                chain: VerifyOptions::default(),
            };
            let (report, files) =
                bundle::extract_bundle(&path, &out, &opts, force, &filter, &mut progress)?;
            progress.done();
            if !report.ok() && !json {
                print_bundle_report(&report, false)?;
            }
            (report.ok(), files, serde_json::to_value(&report)?)
        }
        Input::Store => {
            if fingerprint.is_some() {
                bail!(
                    "--fingerprint applies to bundles; {} is a directory",
                    Shown::path(&path)
                );
            }
            let (report, files) = extract::extract_store(
                &path,
                &out,
                &VerifyOptions::default(),
                force,
                &filter,
                &mut progress,
            )?;
            progress.done();
            if !report.ok() && !json {
                print_report(&report, false)?;
            }
            (report.ok(), files, serde_json::to_value(&report)?)
        }
    };
    let code = if ok { 0 } else { 1 };
    let written = ok || force;
    if json {
        let v = serde_json::json!({
            "ok": ok,
            "exit": code,
            "extracted": written,
            "out": Shown::path(&out).to_string(),
            "index": extract::INDEX_NAME,
            "files": files,
            "report": report,
        });
        let mut o = crate::out::stdout();
        serde_json::to_writer_pretty(&mut o, &v)?;
        writeln!(o)?;
        return Ok(code);
    }
    if !ok && files.is_empty() {
        if force {
            eprintln!("logkeep: nothing extracted: verification failed and nothing could be read");
        } else {
            eprintln!(
                "logkeep: nothing extracted: verification failed (use --force to extract anyway)"
            );
        }
        return Ok(code);
    }
    print_files(&files, &out)?;
    Ok(code)
}

/// The console summary: every file written, then every generation that is not whole with the
/// ranges that make it so.
fn print_files(files: &[Extracted], out: &std::path::Path) -> Result<()> {
    let mut o = crate::out::stdout();
    let total: u64 = files.iter().map(|f| f.size).sum();
    writeln!(
        o,
        "extracted {} file generation(s), {total} bytes, into {} (index: {})",
        files.len(),
        Shown::path(out),
        extract::INDEX_NAME
    )?;
    for f in files {
        writeln!(
            o,
            "  {}  {}  {} bytes",
            f.sha256,
            Shown::text(&f.output),
            f.size
        )?;
    }
    let ranges = |list: &[(u64, u64)]| {
        list.iter()
            .map(|(a, b)| format!("[{a}, {b})"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let marked: Vec<&Extracted> = files
        .iter()
        .filter(|f| f.condition != Condition::Whole)
        .collect();
    for f in &marked {
        let label = match f.condition {
            Condition::Damaged => "DAMAGED",
            _ => "INCOMPLETE",
        };
        let mut parts = Vec::new();
        if !f.damaged.is_empty() {
            parts.push(format!(
                "damaged (from segments that did not verify) {}",
                ranges(&f.damaged)
            ));
        }
        if !f.missing.is_empty() {
            parts.push(format!("missing (zeros) {}", ranges(&f.missing)));
        }
        if !f.not_included.is_empty() {
            parts.push(format!("not included {}", ranges(&f.not_included)));
        }
        writeln!(
            o,
            "{label} {} ({} generation {} of {}): {}",
            Shown::text(&f.output),
            Shown::text(&f.source),
            f.gen_id,
            Shown::text(&f.path),
            parts.join("; ")
        )?;
    }
    if !marked.is_empty() {
        writeln!(
            o,
            "{} of {} generation(s) not whole: their names end in .INCOMPLETE or .DAMAGED",
            marked.len(),
            files.len()
        )?;
    }
    Ok(())
}
