//! `logkeep verify`: check a store, a medium or a bundle, and the reports `verify` and
//! `extract` print (text, or JSON with the verdict as `ok`).

use anyhow::{Context, Result, bail};
use logkeep_format::bundle::{self, BundleOptions};
use logkeep_format::layout::Head;
use logkeep_format::shown::Shown;
use logkeep_format::shown::text as esc;
use logkeep_format::verify::{self, ChainVisitor, Input, Report, VerifyError, VerifyOptions};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// `logkeep verify PATH`: 0 when it verified, 1 when a problem was found. With `--json`, an
/// error is a JSON object too (and still exit 2).
pub fn run(
    path: PathBuf,
    json: bool,
    fingerprint: Option<String>,
    expect_head: Option<String>,
    against: Option<PathBuf>,
) -> Result<u8> {
    json_errors(json, || {
        verify(path, json, fingerprint, expect_head, against)
    })
}

/// `logkeep verify PATH --against-remote ID`: the chain must reach the newest signed
/// checkpoint the remote holds (a store rolled back or cut short does not).
pub fn run_against_remote(
    path: PathBuf,
    json: bool,
    fingerprint: Option<String>,
    config: &Path,
    id: &str,
) -> Result<u8> {
    json_errors(json, || {
        input_kind(&path)?;
        let head = crate::remote_cmd::witness_head(config, id, json)
            .with_context(|| format!("--against-remote {}", Shown::text(id)))?;
        verify(
            path,
            json,
            fingerprint,
            Some(format!("{}:{}", head.seq, head.hash)),
            None,
        )
    })
}

fn verify(
    path: PathBuf,
    json: bool,
    fingerprint: Option<String>,
    expect_head: Option<String>,
    against: Option<PathBuf>,
) -> Result<u8> {
    let mut expect = parse_head(expect_head.as_deref())?;
    let input = input_kind(&path)?;
    if let Some(other) = &against {
        if input_kind(other).context("--against")? != Input::Store {
            bail!(
                "--against: {} is a bundle; give another copy of the store (a store or a medium)",
                Shown::path(other)
            );
        }
        let h = logkeep_media::known_head(other)
            .with_context(|| format!("{}: cannot read", Shown::path(other)))?
            .with_context(|| format!("{}: holds no chain to compare with", Shown::path(other)))?;
        if expect.is_some_and(|e| e.seq > h.seq) {
            // Keep the newer of the two known heads.
        } else if !json {
            println!(
                "comparing with {}: its head is record {} sha256 {}",
                Shown::path(other),
                h.seq,
                h.hash
            );
            expect = Some(h);
        } else {
            expect = Some(h);
        }
    }
    let mut chain = VerifyOptions {
        expect_head: expect,
        ..VerifyOptions::default()
    };
    let mut progress = Progress::new("verify");
    match input {
        Input::Bundle => {
            let opts = BundleOptions {
                fingerprint: check_fp(fingerprint)?,
                chain,
            };
            let report = bundle::verify_bundle_with(&path, &opts, &mut progress)?;
            progress.done();
            print_bundle_report(&report, json)?;
            Ok(if report.ok() { 0 } else { 1 })
        }
        Input::Store => {
            chain.fingerprint = check_fp(fingerprint)?;
            let report = verify::verify_store_with(&path, &chain, &mut progress)?;
            progress.done();
            print_report(&report, json)?;
            Ok(if report.ok() { 0 } else { 1 })
        }
    }
}

/// Run `body`; with `--json`, print an error it returns as `{"ok": false, "error": ...}` on
/// standard output as well (the message still goes to standard error and the exit code is 2).
pub fn json_errors(json: bool, body: impl FnOnce() -> Result<u8>) -> Result<u8> {
    let result = body();
    if json && let Err(e) = &result {
        let (path, what) = match e.downcast_ref::<VerifyError>() {
            Some(v) => (Some(Shown::path(&v.path).to_string()), v.source.to_string()),
            None => (None, format!("{e:#}")),
        };
        let v = serde_json::json!({
            "ok": false,
            "exit": 2,
            "error": { "path": path, "what": what },
        });
        let mut out = crate::out::stdout();
        serde_json::to_writer_pretty(&mut out, &v)?;
        writeln!(out)?;
    }
    result
}

/// What `path` is: a store (or medium) or a bundle; anything else is a usage error naming the
/// path and why (exit 2).
pub fn input_kind(path: &Path) -> Result<Input> {
    Ok(verify::classify_input(path)?)
}

/// Progress on standard error while a large input is read, only when standard error is a
/// terminal: segments and bytes so far, at most five times a second, erased at the end.
pub struct Progress {
    what: &'static str,
    on: bool,
    segments: u64,
    bytes: u64,
    last: Option<Instant>,
    shown: bool,
}

impl Progress {
    /// Progress of `what` ("verify", "extract").
    pub fn new(what: &'static str) -> Progress {
        Progress {
            what,
            on: std::io::stderr().is_terminal(),
            segments: 0,
            bytes: 0,
            last: None,
            shown: false,
        }
    }

    fn tick(&mut self, record: &logkeep_format::Record) {
        if let logkeep_format::Event::Segment { size, .. } = &record.event {
            self.segments += 1;
            self.bytes += size;
        }
        if !self.on {
            return;
        }
        let now = Instant::now();
        let due = self
            .last
            .is_none_or(|t| now.duration_since(t) >= Duration::from_millis(200));
        // Only an input that takes a moment is worth a line.
        let started = self.last.get_or_insert(now);
        if due && now.duration_since(*started) >= Duration::from_millis(200) {
            self.last = Some(now);
            self.shown = true;
            eprint!(
                "\r{}: {} segments, {} MiB read",
                self.what,
                self.segments,
                self.bytes >> 20
            );
        }
    }

    /// Erase the progress line, if one was shown.
    pub fn done(&mut self) {
        if self.shown {
            eprint!("\r\x1b[K");
            self.shown = false;
        }
    }
}

impl ChainVisitor for Progress {
    fn segment_end(&mut self, record: &logkeep_format::Record, _: bool) {
        self.tick(record);
    }

    fn segment_absent(&mut self, record: &logkeep_format::Record) {
        self.tick(record);
    }
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
    let mut out = crate::out::stdout();
    if json {
        return print_json(&mut out, b, b.ok());
    }
    let r = &b.report;
    print_findings(&mut out, "FAIL", &r.problems)?;
    for p in &b.custody_problems {
        writeln!(out, "FAIL custody.jsonl: {}", one_line(p))?;
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
    if let Some(s) = &r.seal {
        print_seal(&mut out, s)?;
    }
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
    let entry = |out: &mut crate::out::Stdout, e: &bundle::CustodyEntry| {
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

/// What a format 2 chain's seals prove, in plain words.
pub fn print_seal(
    out: &mut impl Write,
    s: &logkeep_format::seal::SealSummary,
) -> std::io::Result<()> {
    match (&s.root_fingerprint, s.fingerprint_checked) {
        (Some(fp), true) => writeln!(out, "root key {fp} (matches the fingerprint given)")?,
        (Some(fp), false) => writeln!(
            out,
            "root key {fp} — NOT CHECKED: the chain names this root; compare it with the fingerprint received out of band, or pass --fingerprint"
        )?,
        (None, _) => writeln!(out, "root key: none (no key statement in the chain)")?,
    }
    writeln!(
        out,
        "seals: {} key statement(s), {} checkpoint(s), newest epoch {}",
        s.statements, s.checkpoints, s.epoch
    )?;
    match &s.proven {
        Some(p) => writeln!(
            out,
            "proven up to record {} (checkpoint of epoch {} at {})",
            p.seq,
            p.epoch,
            esc(&p.time)
        )?,
        None => writeln!(out, "proven: nothing (no checkpoint checked out)")?,
    }
    if let Some(u) = &s.unproven {
        writeln!(
            out,
            "NOT PROVEN from record {} on (epoch {}): {}",
            u.first,
            u.epoch,
            esc(&u.why)
        )?;
    } else if let Some((a, z)) = s.unsealed {
        if s.statements == 0 {
            // No key statement at all: the store was written without a signing state, and no
            // later seal will cover these records unless the host is enrolled.
            writeln!(
                out,
                "unsealed: records {a} to {z} carry no checkpoint (the store was written without a signing state; once `logkeep keygen` has enrolled the host, its first checkpoint covers them)"
            )?;
        } else {
            writeln!(
                out,
                "unsealed tail: records {a} to {z} were written after the last checkpoint (not a failure: the next seal covers them)"
            )?;
        }
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

/// A finding's text for one line of a report. Strings from the data are already escaped where
/// the finding was made (by `logkeep_format::shown`); what else may reach here (an error text
/// of a library quoting hostile bytes) has every character the escaping rule hides escaped by
/// the same rule, and nothing else touched.
pub fn one_line(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut buf = [0u8; 4];
    for c in s.chars() {
        let one = c.encode_utf8(&mut buf);
        if c != '\\' && Shown::text(one).to_string() != *one {
            out.push_str(&Shown::text(one).to_string());
        } else {
            out.push(c);
        }
    }
    out
}

/// One line per finding, `LABEL FILE: WHAT`, with control characters from the data escaped.
fn print_findings(
    out: &mut impl Write,
    label: &str,
    list: &[logkeep_format::verify::Problem],
) -> std::io::Result<()> {
    for p in list {
        writeln!(out, "{label} {}: {}", one_line(&p.file), one_line(&p.what))?;
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
    let mut out = crate::out::stdout();
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
    if let Some(s) = &report.seal {
        print_seal(&mut out, s)?;
    }
    if report.ok() {
        writeln!(out, "OK: the store verified")?;
    } else {
        writeln!(out, "FAILED: {} problem(s) found", report.problems.len())?;
    }
    Ok(())
}
