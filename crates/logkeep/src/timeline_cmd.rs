//! `logkeep timeline` and `logkeep report`: the investigator's timeline of a store, a medium
//! or a bundle (JSON Lines for Timesketch, or CSV), and the self-contained `report.html` that
//! `export` also seals into every bundle. Both verify the input first: an input that does not
//! verify gives no timeline (exit 1). The work is `logkeep_timeline`'s; this module turns the
//! command line into its options and writes the output, to a new file only when it is whole.

use crate::cli::{TimelineArgs, TimelineFormat};
use crate::no_clobber::{self, Protected};
use crate::verify_cmd::check_fp;
use anyhow::{Context as _, Result, bail};
use logkeep_format::Timestamp;
use logkeep_format::shown::Shown;
use logkeep_timeline::output::{Csv, Jsonl};
use logkeep_timeline::report::{Context, Report};
use logkeep_timeline::walk::{Filter, Sink};
use logkeep_timeline::{Error, when};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

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

/// `--assume-zone`: `UTC`, `+09:00`, `-0500`.
pub fn zone(z: &str) -> Result<i32> {
    if z.eq_ignore_ascii_case("utc") {
        return Ok(0);
    }
    when::zone(z)
        .filter(|o| o.abs() < 24 * 3600)
        .ok_or_else(|| {
            anyhow::anyhow!(
                "--assume-zone: {} is not a UTC offset like +09:00 or UTC",
                Shown::text(z)
            )
        })
}

fn filter(a: &TimelineArgs) -> Result<Filter> {
    Ok(Filter {
        since: time("--since", a.since.as_deref())?,
        until: time("--until", a.until.as_deref())?,
        sources: a.source.clone(),
        assumed_offset: zone(&a.assume_zone)?,
    })
}

/// A temporary file beside `out`, renamed to it only when the output is whole.
fn temp_beside(out: &Path) -> PathBuf {
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    out.with_file_name(format!(".{name}.tmp-{}", std::process::id()))
}

/// Map the timeline's error to the exit code: 1 when the input does not verify.
fn finish(r: Result<u64, Error>, temp: Option<&Path>) -> Result<u8> {
    match r {
        Ok(_) => Ok(0),
        Err(e) => {
            if let Some(t) = temp {
                let _ = std::fs::remove_file(t);
            }
            match e {
                Error::Unverified { .. } => {
                    eprintln!("logkeep: {e}");
                    Ok(1)
                }
                other => Err(other.into()),
            }
        }
    }
}

/// `logkeep timeline PATH`.
pub fn timeline(a: TimelineArgs, format: TimelineFormat) -> Result<u8> {
    let f = filter(&a)?;
    let fp = check_fp(a.fingerprint.clone())?;
    let Some(out) = &a.out else {
        let mut o = crate::out::stdout();
        let r = match format {
            TimelineFormat::Jsonl => {
                let mut sink = Jsonl(&mut o);
                logkeep_timeline::timeline(&a.path, fp, f, &mut sink)
            }
            TimelineFormat::Csv => {
                let mut sink = Csv::new(&mut o)?;
                let r = logkeep_timeline::timeline(&a.path, fp, f, &mut sink);
                sink.into_inner()?;
                r
            }
        };
        o.flush()?;
        return finish(r, None);
    };
    no_clobber::check(out, "--out", a.force, &Protected::new())?;
    let temp = temp_beside(out);
    let file = File::create_new(&temp)
        .with_context(|| format!("{}: cannot create", Shown::path(&temp)))?;
    let mut w = BufWriter::new(file);
    let r = match format {
        TimelineFormat::Jsonl => {
            let mut sink = Jsonl(&mut w);
            logkeep_timeline::timeline(&a.path, fp, f, &mut sink)
        }
        TimelineFormat::Csv => {
            let mut sink = Csv::new(&mut w)?;
            let r = logkeep_timeline::timeline(&a.path, fp, f, &mut sink);
            sink.into_inner()?;
            r
        }
    };
    let done = finish(r, Some(&temp))?;
    if done != 0 {
        return Ok(done);
    }
    let file = w.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()?;
    no_clobber::rename(&temp, out, a.force)?;
    Ok(0)
}

/// `logkeep report PATH --out FILE`.
pub fn report(a: TimelineArgs) -> Result<u8> {
    let Some(out) = &a.out else {
        bail!("--out FILE is required: where to write the report");
    };
    let f = filter(&a)?;
    let offset = f.assumed_offset;
    let fp = check_fp(a.fingerprint.clone())?;
    no_clobber::check(out, "--out", a.force, &Protected::new())?;
    let mut rep = Report::new(offset);
    let r = logkeep_timeline::timeline(&a.path, fp, f, &mut rep as &mut dyn Sink);
    let code = finish(r, None)?;
    if code != 0 {
        return Ok(code);
    }
    let cx = Context {
        input: Shown::path(&a.path).to_string(),
        generated: Some(Timestamp::now()),
        local_offset: offset,
        ..Context::default()
    };
    let html = rep.render(&cx);
    let temp = temp_beside(out);
    let mut file = File::create_new(&temp)
        .with_context(|| format!("{}: cannot create", Shown::path(&temp)))?;
    file.write_all(html.as_bytes())?;
    file.sync_all()?;
    no_clobber::rename(&temp, out, a.force)?;
    Ok(0)
}

/// The `report.html` an export seals into its bundle: the report of the store's events in the
/// selection, with the host's network picture and the operator's device inventory answering
/// the police's second and third questions. A store that yields no timeline still gets a
/// page, saying why (the export itself does not fail for it).
pub fn bundle_report(
    store: &Path,
    sel: &logkeep_format::bundle::Selection,
    bundle_id: &str,
    (network, devices): (&[u8], &[u8]),
    terminals: Option<String>,
) -> String {
    let at = |s: &Option<String>| s.as_deref().and_then(|t| Timestamp::parse(t).ok());
    let filter = Filter {
        since: at(&sel.since),
        until: at(&sel.until),
        sources: sel.sources.clone(),
        assumed_offset: 0,
    };
    let cx = Context {
        input: format!("logkeep-bundle-{bundle_id}"),
        generated: Some(Timestamp::now()),
        local_offset: 0,
        terminals,
        network: Some(String::from_utf8_lossy(network).into_owned()),
        devices: Some(String::from_utf8_lossy(devices).into_owned()),
    };
    match logkeep_timeline::report_store(store, filter, &cx) {
        Ok(page) => page,
        Err(e) => logkeep_timeline::report::failed_page(&cx, &e.to_string()),
    }
}
