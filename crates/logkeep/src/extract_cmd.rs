//! `logkeep extract`: write every captured file generation of a store, a medium or a bundle,
//! byte for byte, under a new directory, once verification allows it.

use crate::verify_cmd::{check_fp, is_bundle, print_bundle_report, print_report};
use anyhow::Result;
use logkeep_format::bundle::{self, BundleOptions};
use logkeep_format::segment::esc;
use logkeep_format::verify::VerifyOptions;
use std::path::PathBuf;

/// `logkeep extract PATH --out DIR`: 0 when everything verified, 1 otherwise.
pub fn run(path: PathBuf, fingerprint: Option<String>, out: PathBuf, force: bool) -> Result<u8> {
    // Never into a store, a medium, or over the configuration or a key (a non-empty --out is
    // refused below).
    crate::no_clobber::check_place(&out, "--out", &crate::no_clobber::Protected::new())?;
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
        let (report, files) =
            logkeep_format::extract::extract_store(&path, &out, &VerifyOptions::default(), force)?;
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
