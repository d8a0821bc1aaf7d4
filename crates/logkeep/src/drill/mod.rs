//! `logkeep drill`: the day of an incident, rehearsed against the running daemon. The host is
//! assumed lost, so the bundle comes from a medium or from a remote's copy pulled back whole
//! into the drill's directory, never from the host's store; it is
//! verified as an investigator would (logkeep, then the bundle's own `verify-with-openssl.sh`
//! against the fingerprint as it was written down), read by `logkeep timeline`, and checked to
//! hold the latest bytes of every source. Every step is timed and judged, and whatever would
//! fail on the day is named. The daemon records the verdict in the chain (`drill` record).
//!
//! The drill changes the store only as any snapshot and export do (its `snapshot`, and the
//! epoch switch that signing its bundle ends with) and by its `drill` record; the bundle and
//! everything else it writes live in a private temporary directory removed at the end, unless
//! `--out DIR` asks to keep them.
//!
//! `checks` holds the judgments; this module runs the steps.

pub mod checks;

use crate::config::Config;
use crate::control_cmd;
use crate::export;
use crate::status::{DrillReport, MAX_DRILL_FAILURE_LEN, MAX_DRILL_FAILURES, Status};
use anyhow::{Context, Result, bail};
use checks::Origin;
use logkeep_format::bundle::{BundleOptions, Selection};
use logkeep_format::chain::ChainReader;
use logkeep_format::{Event, Sha256, Timestamp, shown};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// How long the drill waits for the medium to receive its snapshot: the copier follows every
/// commit, so a healthy medium takes a moment.
const CATCH_UP: Duration = Duration::from_secs(120);

/// How far back the bundle reaches: the last day, as on the day of an incident.
const LAST_DAY: Duration = Duration::from_secs(24 * 3600);

/// What the command line asked for.
pub struct Args {
    /// The configuration (contacts, fingerprint, media, the daemon's socket).
    pub config: PathBuf,
    /// The socket, if not the configuration's.
    pub socket: Option<PathBuf>,
    /// The medium to export from (default: the first present).
    pub medium: Option<String>,
    /// The remote to export from instead of a medium: its copy is pulled back whole first.
    pub remote: Option<String>,
    /// Keep the bundle, the timeline and the report here.
    pub out: Option<PathBuf>,
    /// Print the report as JSON.
    pub json: bool,
}

/// One step of the drill as reported.
#[derive(Debug, Serialize)]
struct Step {
    /// Its name.
    step: &'static str,
    /// Milliseconds from the start of the drill to the start of the step.
    at_ms: u64,
    /// How long it took.
    ms: u64,
    /// Whether it found nothing wrong.
    ok: bool,
    /// What it did or found, in one line.
    detail: String,
}

/// The drill's running account.
struct Drill {
    start: Instant,
    steps: Vec<Step>,
    failures: Vec<String>,
}

impl Drill {
    /// Run one step: `body` returns what it did and pushes what would fail on the day; an
    /// error ends the step as a failure of its own.
    fn step<T>(
        &mut self,
        name: &'static str,
        body: impl FnOnce(&mut Vec<String>) -> Result<(T, String)>,
    ) -> Option<T> {
        let began = Instant::now();
        let at_ms = ms(began - self.start);
        let mut found = Vec::new();
        let (value, detail) = match body(&mut found) {
            Ok((v, d)) => (Some(v), d),
            Err(e) => {
                found.push(format!("{name}: {e:#}"));
                (None, "could not be done".into())
            }
        };
        let ok = found.is_empty();
        if !ok {
            tracing::warn!(step = name, "drill: {}", found.join("; "));
        }
        self.failures.extend(found);
        self.steps.push(Step {
            step: name,
            at_ms,
            ms: ms(began.elapsed()),
            ok,
            detail,
        });
        value
    }
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// `logkeep drill`. Exit 0 when the drill passed, 1 when something would fail on the day, 2
/// when the drill could not run (no daemon, no configuration).
pub fn run(args: Args) -> Result<u8> {
    let json = args.json;
    crate::output::json_errors(json, || drill(args))
}

fn drill(args: Args) -> Result<u8> {
    let config = Config::load(&args.config)?;
    let socket = control_cmd::socket_path(args.socket.clone(), Some(&config.file))?;
    // Where the bundle goes: a private directory that goes with the run, or --out.
    let scratch;
    let work = match &args.out {
        Some(dir) => {
            prepare_out(dir)?;
            dir.clone()
        }
        None => {
            scratch = tempfile::Builder::new()
                .prefix("logkeep-drill-")
                .tempdir()
                .context("cannot make a temporary directory for the drill's bundle")?;
            scratch.path().to_path_buf()
        }
    };
    // The daemon must answer: the drill is recorded by it, and its snapshot is the incident.
    let before = settled_status(&socket, config.media.len())?;
    let mut d = Drill {
        start: Instant::now(),
        steps: Vec::new(),
        failures: Vec::new(),
    };

    d.step("arrangements", |found| {
        found.extend(checks::arrangements(&config.incident));
        found.extend(checks::sources(&before.sources));
        if let Some(e) = &before.store.error {
            found.push(format!("the store cannot be written: {}", shown::text(e)));
        }
        let media = media_records(Path::new(&before.store.path))?;
        found.extend(checks::media_age(
            &before.media,
            &media.seen,
            Timestamp::now(),
            config.drill_media_max_age,
        ));
        found.extend(media.rolled_back);
        Ok((
            (),
            format!(
                "{} contact(s) and the fingerprint in [incident], {} source(s), {} medium/media",
                3 - checks::missing_contacts(&config.incident).len(),
                before.sources.len(),
                before.media.len()
            ),
        ))
    });
    let origin = match &args.remote {
        Some(wanted) => d.step("remote", |_| {
            let origin =
                checks::choose_remote(&before.remotes, wanted).map_err(anyhow::Error::msg)?;
            Ok((
                origin,
                format!(
                    "exporting from remote {}, pulled back whole",
                    shown::text(wanted)
                ),
            ))
        }),
        None => d.step("medium", |found| {
            let origin = checks::choose(&before.media, args.medium.as_deref())
                .map_err(anyhow::Error::msg)?;
            if let Origin::Medium { id, path } = &origin
                && let Some(m) = before.media.iter().find(|m| &m.id == id)
                && let Some(why) =
                    checks::rolled_back(m, logkeep_media::medium_head(Path::new(path)))
            {
                found.push(why);
            }
            let detail = format!(
                "exporting from medium {}",
                shown::text(origin.medium().unwrap_or_default())
            );
            Ok((origin, detail))
        }),
    };
    let snapshot = d.step("snapshot", |_| {
        let s = control_cmd::take_snapshot(&socket, "drill")?;
        let detail = format!(
            "snapshot {} sealed everything read; chain head record {}",
            shown::text(&s.id),
            s.head.seq
        );
        Ok((s, detail))
    });
    let mut bundle: Option<(PathBuf, Sha256)> = None;
    let mut verified_ms = None;
    let mut generations = Vec::new();
    let fingerprint = config.incident.fingerprint.clone();
    if let (Some(origin), Some(snap)) = (&origin, &snapshot) {
        // The store the bundle is exported from: the medium, or the remote's copy pulled
        // into the drill's own directory.
        let store: Option<PathBuf> = match origin {
            Origin::Medium { id, path } => {
                let already = d.failures.iter().any(|f| f.contains("was rolled back"));
                d.step("copy", |found| {
                    let head = wait_for_medium(&socket, id, snap.head.seq)?;
                    // The copier may have found a rollback while the drill ran (and copied
                    // again since): by now its record is in the chain.
                    if !already {
                        found.extend(media_records(Path::new(&before.store.path))?.rolled_back);
                    }
                    Ok((
                        PathBuf::from(path),
                        format!(
                            "medium {} holds the chain up to record {head}",
                            shown::text(id)
                        ),
                    ))
                })
            }
            Origin::Remote { id } => d
                .step("copy", |_| {
                    let head = wait_for_remote(&socket, id, snap.head.seq)?;
                    Ok((
                        (),
                        format!(
                            "remote {} holds the chain up to record {head}",
                            shown::text(id)
                        ),
                    ))
                })
                .and_then(|()| {
                    d.step("pull", |_| {
                        let spec = config
                            .remotes
                            .iter()
                            .find(|r| &r.id == id)
                            .with_context(|| {
                                format!("remote {} is no longer configured", shown::text(id))
                            })?;
                        let dir = work.join("pulled");
                        let p = crate::remote_cmd::pull_store(spec, &dir, None).with_context(
                            || format!("remote {} cannot be pulled back", shown::text(id)),
                        )?;
                        let holds = p.head.map_or(0, |h| h.seq);
                        if holds < snap.head.seq {
                            bail!(
                                "remote {} is behind the host: what it holds ends at record {holds}, the snapshot is record {}",
                                shown::text(id),
                                snap.head.seq
                            );
                        }
                        Ok((
                            dir,
                            format!(
                                "pulled {} record file(s), {} segment(s), {} bytes from remote {}, up to record {holds}",
                                p.records,
                                p.segments,
                                p.bytes,
                                shown::text(id)
                            ),
                        ))
                    })
                }),
        };
        let from = match origin {
            Origin::Medium { id, .. } => format!("medium {}", shown::text(id)),
            Origin::Remote { id } => format!("remote {}", shown::text(id)),
        };
        let made = store.and_then(|store| {
            d.step("export", |_| {
                let out = work.join(format!("drill-{}.tar", snap.id));
                let e = export_from(&config, &socket, &store, &out, &from)?;
                let detail = format!(
                    "bundle {} from {from}, records {}..={}, {} segment(s), sha256 {}",
                    shown::path(&out),
                    e.first_seq,
                    e.head.seq,
                    e.segments,
                    e.sha256
                );
                Ok(((out, e.sha256), detail))
            })
        });
        if let Some((file, sha)) = made {
            bundle = Some((file.clone(), sha));
            let checked = d.step("verify", |found| {
                let opts = BundleOptions {
                    fingerprint: fingerprint.clone(),
                    ..BundleOptions::default()
                };
                let (report, gens) = logkeep_format::contents::list_bundle(&file, &opts)?;
                for p in &report.report.problems {
                    found.push(format!(
                        "the bundle does not verify: {}: {}",
                        shown::text(&p.file),
                        shown::text(&p.what)
                    ));
                }
                if fingerprint.is_some() && !report.key_pinned {
                    found.push(
                        "the bundle is not signed by the key whose fingerprint is in [incident] fingerprint"
                            .into(),
                    );
                }
                generations = gens;
                Ok(((), format!(
                    "logkeep verified {} record(s) and {} segment(s){}",
                    report.report.records,
                    report.report.segments,
                    if fingerprint.is_some() {
                        " against [incident] fingerprint"
                    } else {
                        " (no fingerprint on record to check against)"
                    }
                )))
            });
            let scripted = d.step("openssl", |found| {
                let Some(fp) = &fingerprint else {
                    found.push(
                        "verify-with-openssl.sh cannot be run without the fingerprint on record"
                            .into(),
                    );
                    return Ok(((), "not run".into()));
                };
                let (code, text) = openssl_script(&file, &work.join("unpacked"), fp)?;
                if code != 0 {
                    found.push(format!(
                        "the bundle's verify-with-openssl.sh says it does not verify (exit {code}): {}",
                        last_line(&text)
                    ));
                }
                Ok(((), format!("sh verify-with-openssl.sh: {}", last_line(&text))))
            });
            if checked.is_some()
                && scripted.is_some()
                && d.steps
                    .iter()
                    .all(|s| s.ok || !matches!(s.step, "verify" | "openssl"))
            {
                verified_ms = Some(ms(d.start.elapsed()));
            }
            d.step("timeline", |found| {
                let out = work.join("timeline.jsonl");
                let n = timeline(&file, &out, found)?;
                Ok((
                    (),
                    format!("logkeep timeline read {n} event(s) from the bundle"),
                ))
            });
            d.step("latest", |found| {
                let files: Vec<(&str, &crate::status::FileStatus)> = before
                    .sources
                    .iter()
                    .flat_map(|s| s.files.iter().map(move |f| (s.id.as_str(), f)))
                    .collect();
                found.extend(checks::latest(&files, &generations));
                Ok((
                    (),
                    format!(
                        "{} followed file(s) checked against the bundle's {} generation(s)",
                        files.len(),
                        generations.len()
                    ),
                ))
            });
        }
    }
    // The record: what an investigator sees of the drill in the chain.
    let report = DrillReport {
        verdict: if d.failures.is_empty() {
            "passed"
        } else {
            "failed"
        }
        .into(),
        medium: origin.as_ref().and_then(Origin::medium).map(str::to_owned),
        remote: origin.as_ref().and_then(Origin::remote).map(str::to_owned),
        bundle: bundle.as_ref().map(|(_, sha)| *sha),
        verified_ms,
        failures: recordable(&d.failures),
    };
    let recorded = d.step("record", |_| {
        let r = control_cmd::record_drill(&socket, &report)?;
        Ok((
            r.seq,
            format!("verdict recorded in the chain as record {}", r.seq),
        ))
    });
    // A failure to record is itself a failure of the drill (the verdict is not in the chain).
    let passed = d.failures.is_empty();
    print_report(
        &d,
        &report,
        recorded,
        args.out.as_deref(),
        &before,
        args.json,
    )?;
    Ok(if passed { 0 } else { 1 })
}

/// `--out DIR`: a new or empty directory, so that the drill's files are the only ones in it.
fn prepare_out(dir: &Path) -> Result<()> {
    match std::fs::read_dir(dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                bail!("--out {}: not empty", shown::path(dir));
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => std::fs::create_dir_all(dir)
            .with_context(|| format!("--out {}: cannot create", shown::path(dir))),
        Err(e) => Err(e).with_context(|| format!("--out {}: cannot read", shown::path(dir))),
    }
}

/// What the host's chain says about media.
struct MediaRecords {
    /// The newest time it recorded something about each medium (attached, caught up,
    /// detached, missing, failed): when it was last seen.
    seen: BTreeMap<String, Timestamp>,
    /// The rollbacks the copier found since the newest drill, one line each.
    rolled_back: Vec<String>,
}

/// Read the host's chain (read-only, through the chain reader) for [`MediaRecords`].
fn media_records(store: &Path) -> Result<MediaRecords> {
    let mut seen = BTreeMap::new();
    let mut rolled_back = Vec::new();
    for link in ChainReader::new(store) {
        let link = link.with_context(|| {
            format!(
                "{}: cannot read the host's chain to see when media were last seen",
                shown::path(store)
            )
        })?;
        match &link.record.event {
            Event::Medium {
                medium,
                what,
                detail,
                ..
            } => {
                if let Ok(t) = Timestamp::parse(&link.record.wall) {
                    seen.insert(medium.clone(), t);
                }
                if what == "rolled_back" {
                    rolled_back.push(format!(
                        "medium {} was rolled back (record {} at {}): {}",
                        shown::text(medium),
                        link.record.seq,
                        shown::text(&link.record.wall),
                        shown::text(detail.as_deref().unwrap_or("-"))
                    ));
                }
            }
            // What an earlier drill reported is not reported again.
            Event::Drill { .. } => rolled_back.clear(),
            _ => {}
        }
    }
    Ok(MediaRecords { seen, rolled_back })
}

/// The daemon's status once its copier has looked at every configured medium (a daemon that
/// just started lists none until the copier's first pass ends).
fn settled_status(socket: &Path, media: usize) -> Result<Status> {
    let deadline = Instant::now() + CATCH_UP;
    loop {
        let status = control_cmd::fetch_status(socket)
            .context("the drill runs against the running daemon, which did not answer")?;
        if status.media.len() >= media || Instant::now() > deadline {
            return Ok(status);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Wait until the medium `id` holds record `seq` (the copier follows every commit); return
/// the record it holds.
fn wait_for_medium(socket: &Path, id: &str, seq: u64) -> Result<u64> {
    let deadline = Instant::now() + CATCH_UP;
    loop {
        let status: Status = control_cmd::fetch_status(socket)?;
        let m = status
            .media
            .iter()
            .find(|m| m.id == id)
            .with_context(|| format!("medium {} is no longer configured", shown::text(id)))?;
        let holds = m.head.map_or(0, |h| h.seq);
        if holds >= seq {
            return Ok(holds);
        }
        if m.state != logkeep_media::replicator::MediaState::Present || Instant::now() > deadline {
            bail!(
                "medium {} is behind the host: it holds the chain up to record {holds}, the snapshot is record {seq} (it is {})",
                shown::text(id),
                m.state
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Wait until the remote `id` holds record `seq`, copied and read back; return the record it
/// holds. A remote failing (unreachable, refused) or still short at the deadline is behind.
fn wait_for_remote(socket: &Path, id: &str, seq: u64) -> Result<u64> {
    let deadline = Instant::now() + CATCH_UP;
    loop {
        let status: Status = control_cmd::fetch_status(socket)?;
        let r = status
            .remotes
            .iter()
            .find(|r| r.id == id)
            .with_context(|| format!("remote {} is no longer configured", shown::text(id)))?;
        match checks::remote_behind(r, seq) {
            None => return Ok(r.head.map_or(0, |h| h.seq)),
            Some(why) if r.state.starts_with("failed") || Instant::now() > deadline => {
                bail!("{why}")
            }
            Some(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

/// Export the last day from the store at `medium` (a medium, or a remote's pulled copy:
/// `from` names which), signed by the daemon, into `out`.
fn export_from(
    config: &Config,
    socket: &Path,
    medium: &Path,
    out: &Path,
    from: &str,
) -> Result<export::Exported> {
    let now = std::time::SystemTime::now();
    let since =
        Timestamp::from(now.checked_sub(LAST_DAY).unwrap_or(std::time::UNIX_EPOCH)).to_rfc3339();
    let mut args = export::ExportArgs {
        store: medium.to_path_buf(),
        out: out.to_path_buf(),
        sealer: export::Sealer::Daemon(socket.to_path_buf()),
        selection: Selection {
            since: Some(since),
            until: None,
            sources: Vec::new(),
        },
        case: Some("drill".into()),
        evidence: None,
        examiner: Some("logkeep drill".into()),
        note: Some(format!(
            "incident drill: exported from {from}, as on the day"
        )),
        config: Some((config.file.clone(), config.bytes.clone())),
        inventory: config.inventory.clone(),
        incident: None,
        force: false,
    };
    export::export(&mut args)
}

/// Unpack the bundle with `tar` and run its own `verify-with-openssl.sh` with `sh`, as the
/// bundle's VERIFY.txt tells an investigator to. Returns the script's exit code and output.
fn openssl_script(bundle: &Path, into: &Path, fp: &str) -> Result<(i32, String)> {
    std::fs::create_dir(into).with_context(|| format!("{}: cannot create", shown::path(into)))?;
    let tar = Command::new("tar")
        .arg("-xf")
        .arg(bundle)
        .arg("-C")
        .arg(into)
        .output()
        .context("cannot run tar (Debian package tar)")?;
    if !tar.status.success() {
        bail!(
            "tar -x failed: {}",
            last_line(&String::from_utf8_lossy(&tar.stderr))
        );
    }
    // The bundle holds one top directory.
    let mut dirs = std::fs::read_dir(into)?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()));
    let top = dirs
        .next()
        .context("the unpacked bundle has no top directory")?
        .path();
    let out = Command::new("sh")
        .arg(logkeep_format::bundle::SCRIPT)
        .arg(fp)
        .current_dir(&top)
        .output()
        .context("cannot run sh")?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok((out.status.code().unwrap_or(-1), text))
}

/// Run `logkeep timeline BUNDLE --format jsonl --out FILE` (this same binary) and check what
/// it wrote: one JSON object a line, each naming its `source` and its `evidence` (with the
/// SHA-256 of the original bytes). Returns how many.
fn timeline(bundle: &Path, out: &Path, found: &mut Vec<String>) -> Result<usize> {
    let exe = std::env::current_exe().context("cannot find this program to run `timeline`")?;
    let run = Command::new(exe)
        .arg("timeline")
        .arg(bundle)
        .arg("--format")
        .arg("jsonl")
        .arg("--out")
        .arg(out)
        .output()
        .context("cannot run `logkeep timeline`")?;
    if !run.status.success() {
        found.push(format!(
            "`logkeep timeline` cannot read the bundle (exit {}): {}",
            run.status.code().unwrap_or(-1),
            first_line(&String::from_utf8_lossy(&run.stderr))
        ));
        return Ok(0);
    }
    let text = std::fs::read(out)
        .with_context(|| format!("{}: cannot read the timeline", shown::path(out)))?;
    let mut n = 0;
    for (i, line) in text.split(|&b| b == b'\n').enumerate() {
        if line.is_empty() {
            continue;
        }
        let v: serde_json::Value = match serde_json::from_slice(line) {
            Ok(v) => v,
            Err(e) => {
                found.push(format!("the timeline's line {} is not JSON: {e}", i + 1));
                return Ok(n);
            }
        };
        if v.get("source").is_none() || v.get("evidence").and_then(|e| e.get("sha256")).is_none() {
            found.push(format!(
                "the timeline's line {} names no source or no evidence with its sha256",
                i + 1
            ));
            return Ok(n);
        }
        n += 1;
    }
    // No event is not a failure: a quiet day, or logs of a product the timeline does not
    // parse, still hand over every byte.
    Ok(n)
}

/// The last non-empty line of a tool's output, escaped, for a one-line report.
fn last_line(text: &str) -> String {
    text.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .map_or_else(
            || "(no output)".into(),
            |l| shown::text(l.trim()).to_string(),
        )
}

/// The first non-empty line of a tool's output (where an error says what went wrong), escaped.
fn first_line(text: &str) -> String {
    text.lines().find(|l| !l.trim().is_empty()).map_or_else(
        || "(no output)".into(),
        |l| shown::text(l.trim()).to_string(),
    )
}

/// The failures as a record holds them: at most [`MAX_DRILL_FAILURES`] lines, each cut to
/// [`MAX_DRILL_FAILURE_LEN`] bytes on a character boundary; the report lists them all.
fn recordable(failures: &[String]) -> Vec<String> {
    let mut out: Vec<String> = failures
        .iter()
        .take(MAX_DRILL_FAILURES)
        .map(|f| {
            let mut end = f.len().min(MAX_DRILL_FAILURE_LEN);
            while !f.is_char_boundary(end) {
                end -= 1;
            }
            f[..end].to_owned()
        })
        .collect();
    if failures.len() > MAX_DRILL_FAILURES
        && let Some(last) = out.last_mut()
    {
        *last = format!("... and {} more", failures.len() - MAX_DRILL_FAILURES + 1);
    }
    out
}

fn print_report(
    d: &Drill,
    report: &DrillReport,
    recorded: Option<u64>,
    kept: Option<&Path>,
    before: &Status,
    json: bool,
) -> Result<()> {
    let value = serde_json::json!({
        "verdict": report.verdict,
        "medium": report.medium,
        "remote": report.remote,
        "bundle_sha256": report.bundle,
        "verified_ms": report.verified_ms,
        "failures": d.failures,
        "steps": d.steps,
        "record": recorded,
        "store": before.store.path,
        "kept": kept.map(|p| shown::path(p).to_string()),
    });
    if let Some(dir) = kept {
        let path = dir.join("drill.json");
        let mut bytes = serde_json::to_vec_pretty(&value)?;
        bytes.push(b'\n');
        std::fs::write(&path, bytes)
            .with_context(|| format!("{}: cannot write the report", shown::path(&path)))?;
    }
    if json {
        return crate::output::print_json(&value);
    }
    let mut lines = vec![format!(
        "incident drill: {}",
        if d.failures.is_empty() {
            "PASSED".to_owned()
        } else {
            format!("FAILED ({} cause(s))", d.failures.len())
        }
    )];
    for s in &d.steps {
        lines.push(format!(
            "  {:<12} {:<4} at {:>7.3} s, took {:>7.3} s  {}",
            s.step,
            if s.ok { "ok" } else { "FAIL" },
            s.at_ms as f64 / 1000.0,
            s.ms as f64 / 1000.0,
            s.detail
        ));
    }
    lines.push(match report.verified_ms {
        Some(ms) => format!(
            "from the incident to a verified bundle: {:.3} s",
            ms as f64 / 1000.0
        ),
        None => "no verified bundle was reached".into(),
    });
    for f in &d.failures {
        lines.push(format!("would fail on the day: {f}"));
    }
    match recorded {
        Some(seq) => lines.push(format!("recorded in the chain as record {seq}")),
        None => lines.push("NOT recorded in the chain".into()),
    }
    if let Some(dir) = kept {
        lines.push(format!(
            "kept in {}: the bundle, the timeline and drill.json",
            shown::path(dir)
        ));
    }
    crate::output::print_lines(&lines)
}
