//! The figures (figure 7, syslog ingest, is in `syslog.rs`; figure 9, UDP under overload, in
//! `udp.rs`). Each runs logkeep and its baseline
//! in the same invocation, on the same bytes, so the ratio is meaningful on whatever machine (and
//! under whatever load) it runs.

use crate::chain;
use crate::corpus::{self, CorpusStats};
use crate::proc::{self, Measured, Spec, Usage};
use anyhow::{Context, Result, bail};
use serde::Serialize;
use serde_json::json;
use std::collections::HashMap;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime};

const MIB: f64 = 1024.0 * 1024.0;
/// The daemon's default seal interval (`store.seal_interval`); the tail figure runs with it.
const DEFAULT_SEAL_INTERVAL: f64 = 10.0;
/// Line logkeep prints once its signal handlers are installed and capture begins.
const READY: &str = "capturing";

/// One row of the result table.
#[derive(Debug, Clone, Serialize)]
pub struct Figure {
    /// Short name, as `--only` takes it.
    pub key: &'static str,
    /// Title.
    pub title: &'static str,
    /// logkeep's side.
    pub logkeep: String,
    /// The baseline's side.
    pub baseline: String,
    /// Baseline over logkeep, oriented so that higher is better for logkeep.
    pub ratio: Option<f64>,
    /// The target, in words.
    pub target: String,
    /// Whether the target was met (`None`: no target or not measured).
    pub met: Option<bool>,
    /// What the reader needs to interpret the row.
    pub notes: Vec<String>,
    /// Raw measurements.
    pub details: serde_json::Value,
}

impl Figure {
    fn not_measured(key: &'static str, title: &'static str, why: String) -> Figure {
        Figure {
            key,
            title,
            logkeep: format!("not measured: {why}"),
            baseline: "-".into(),
            ratio: None,
            target: "-".into(),
            met: None,
            notes: vec![],
            details: json!({ "measured": false, "why": why }),
        }
    }
}

/// Settings of a run.
#[derive(Debug, Clone)]
pub struct Options {
    /// Corpus size.
    pub size: u64,
    /// Corpus seed.
    pub seed: u64,
    /// Runs of each timed side; the fastest counts.
    pub repeat: usize,
    /// Live tail: seconds of writing.
    pub tail_secs: f64,
    /// Live tail: total bytes per second over all writers.
    pub tail_rate: u64,
    /// Live tail: writer threads (one file each).
    pub tail_writers: usize,
    /// Live tail: each file is renamed away this often.
    pub tail_rotate_secs: f64,
    /// Memory: total bytes per run (capped by `size`).
    pub memory_size: u64,
    /// Syslog: messages to send (`None`: one per corpus line).
    pub syslog_messages: Option<usize>,
    /// Syslog: concurrent TCP connections.
    pub syslog_connections: usize,
    /// UDP overload: datagrams sent at each rate.
    pub udp_messages: u64,
}

/// A logkeep catch-up run.
#[derive(Debug, Clone)]
struct Ingest {
    usage: Usage,
    store: PathBuf,
    data: u64,
    compressed: u64,
    segments: usize,
}

/// State shared by the figures: paths, the corpus, the catch-up store.
pub struct Bench {
    /// This executable (the measuring wrapper).
    pub exe: PathBuf,
    /// The logkeep binary under test.
    pub logkeep: PathBuf,
    /// Work directory.
    pub dir: PathBuf,
    /// Settings.
    pub opts: Options,
    corpus: Option<(PathBuf, CorpusStats)>,
    catchup: Option<Ingest>,
    /// Correctness problems seen in logkeep's output (lost or duplicated bytes, failed runs).
    pub problems: Vec<String>,
}

pub(crate) fn mibs(bytes: u64, secs: f64) -> f64 {
    bytes as f64 / MIB / secs.max(1e-9)
}

pub(crate) fn fresh_dir(p: &Path) -> Result<()> {
    if p.exists() {
        fs::remove_dir_all(p).with_context(|| format!("{}: cannot remove", p.display()))?;
    }
    fs::create_dir_all(p).with_context(|| format!("{}: cannot create", p.display()))
}

/// Read a set of files once, so that every timed run finds them in the page cache and the
/// figures compare CPU work, not whichever run happened to go first to the disk.
fn warm(paths: &[PathBuf]) -> Result<()> {
    let mut buf = vec![0u8; 1 << 20];
    for p in paths {
        let mut f = fs::File::open(p).with_context(|| format!("{}: cannot open", p.display()))?;
        while f.read(&mut buf)? > 0 {}
    }
    Ok(())
}

pub(crate) fn toml_str(p: &Path) -> String {
    // Debug escaping of a plain path is a valid TOML basic string.
    format!("{:?}", p.display().to_string())
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i]
}

impl Bench {
    /// Prepare a benchmark in `dir`.
    pub fn new(exe: PathBuf, logkeep: PathBuf, dir: PathBuf, opts: Options) -> Bench {
        Bench {
            exe,
            logkeep,
            dir,
            opts,
            corpus: None,
            catchup: None,
            problems: Vec::new(),
        }
    }

    pub(crate) fn report_path(&self, name: &str) -> PathBuf {
        self.dir.join("reports").join(format!("{name}.json"))
    }

    /// The corpus file, generated once per (size, seed) and kept in the work directory.
    pub fn corpus(&mut self) -> Result<(PathBuf, CorpusStats)> {
        if let Some(c) = &self.corpus {
            return Ok(c.clone());
        }
        let d = self.dir.join("corpus");
        fs::create_dir_all(&d)?;
        let name = format!("corpus-{}-{}", self.opts.seed, self.opts.size);
        let path = d.join(format!("{name}.log"));
        let meta = d.join(format!("{name}.json"));
        let cached = fs::read(&meta)
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .and_then(|v| {
                let bytes = v["bytes"].as_u64()?;
                let ok = fs::metadata(&path).ok()?.len() == bytes;
                ok.then_some(v)
            });
        let stats = match cached {
            Some(v) => CorpusStats {
                bytes: v["bytes"].as_u64().unwrap_or(0),
                lines: v["lines"].as_u64().unwrap_or(0),
                empty_lines: v["empty_lines"].as_u64().unwrap_or(0),
                long_lines: v["long_lines"].as_u64().unwrap_or(0),
                longest_line: v["longest_line"].as_u64().unwrap_or(0),
            },
            None => {
                eprintln!(
                    "logkeep-bench: generating a {} corpus (seed {})",
                    bytesize::ByteSize::b(self.opts.size).display().iec(),
                    self.opts.seed
                );
                let t = Instant::now();
                let s = corpus::write_file(&path, self.opts.size, self.opts.seed)?;
                eprintln!(
                    "logkeep-bench: corpus written in {:.1} s",
                    t.elapsed().as_secs_f64()
                );
                fs::write(&meta, serde_json::to_vec(&s)?)?;
                s
            }
        };
        self.corpus = Some((path.clone(), stats.clone()));
        Ok((path, stats))
    }

    fn write_config(
        &self,
        dir: &Path,
        store: &Path,
        pattern: &Path,
        extra: &str,
    ) -> Result<PathBuf> {
        let cfg = dir.join("logkeep.toml");
        let text = format!(
            "# Written by logkeep-bench.\n[store]\npath = {}\n{extra}\n[[source]]\nid = \"bench\"\npaths = [{}]\n",
            toml_str(store),
            toml_str(pattern)
        );
        fs::write(&cfg, text).with_context(|| format!("{}: cannot write", cfg.display()))?;
        Ok(cfg)
    }

    /// Start `logkeep run` on `cfg` under the wrapper and wait until it captures.
    pub(crate) fn start_daemon(&self, cfg: &Path, report: &str) -> Result<Measured> {
        let mut m = Measured::start(Spec {
            bench: &self.exe,
            argv: vec![
                self.logkeep.clone().into(),
                "run".into(),
                "--config".into(),
                cfg.into(),
            ],
            stdout: Stdio::null(),
            report: self.report_path(report),
            ready_marker: Some(READY),
            env: vec![("LOGKEEP_LOG", "info".into())],
        })?;
        m.wait_ready(Duration::from_secs(120))?;
        Ok(m)
    }

    /// Archive the files matching `pattern` from scratch: start, SIGTERM at once (logkeep polls
    /// everything, seals it and exits), and check the chain covers every byte exactly once.
    fn ingest(&mut self, name: &str, pattern: &Path, files: &[PathBuf]) -> Result<Ingest> {
        let d = self.dir.join(name);
        fresh_dir(&d)?;
        let store = d.join("store");
        let cfg = self.write_config(&d, &store, pattern, "")?;
        let m = self.start_daemon(&cfg, name)?;
        m.terminate()?;
        let (usage, stderr) = m.wait()?;
        fs::write(d.join("daemon.err"), &stderr)?;
        if !usage.ok() {
            bail!("logkeep run exited with {usage:?}; stderr:\n{stderr}");
        }
        let segs = chain::segments(&store)?;
        let (data, compressed) = chain::totals(&segs);
        let ranges = chain::by_file(&segs);
        for f in files {
            let m = fs::metadata(f)?;
            let r = ranges
                .get(&(m.dev(), m.ino()))
                .map(Vec::as_slice)
                .unwrap_or(&[]);
            if let Err(e) = chain::exactly_once(r, m.len()) {
                self.problems.push(format!("{name}: {}: {e}", f.display()));
            }
        }
        Ok(Ingest {
            usage,
            store,
            data,
            compressed,
            segments: segs.len(),
        })
    }

    fn run_sh(&self, name: &str, script: &str, args: &[&Path]) -> Result<(Usage, String)> {
        let out = self.dir.join("reports").join(format!("{name}.out"));
        let f = fs::File::create(&out)?;
        let (u, err) = proc::run(
            &self.exe,
            proc::sh(script, args),
            Stdio::from(f),
            self.report_path(name),
        )?;
        if !u.ok() {
            bail!("{script} failed ({u:?}): {err}");
        }
        Ok((u, fs::read_to_string(&out).unwrap_or_default()))
    }

    /// Figure 1: catch-up ingest.
    pub fn catchup(&mut self) -> Result<Figure> {
        let (file, stats) = self.corpus()?;
        warm(std::slice::from_ref(&file))?;
        let mut best_base: Option<Usage> = None;
        let mut best_two: Option<Usage> = None;
        let mut best_lk: Option<Ingest> = None;
        for _ in 0..self.opts.repeat.max(1) {
            let (b, _) = self.run_sh(
                "catchup-baseline",
                "zstd -3 -T1 -q < \"$1\" | sha256sum",
                &[&file],
            )?;
            if best_base.as_ref().is_none_or(|x| b.wall_s < x.wall_s) {
                best_base = Some(b);
            }
            // The machine's limit: compression on both cores, and the hash of the compressed
            // stream overlapping it in its own process.
            let (b, _) = self.run_sh(
                "catchup-baseline-t2",
                "zstd -3 -T2 -q < \"$1\" | openssl dgst -sha256",
                &[&file],
            )?;
            if best_two.as_ref().is_none_or(|x| b.wall_s < x.wall_s) {
                best_two = Some(b);
            }
            let r = self.ingest("catchup", &file, std::slice::from_ref(&file))?;
            if best_lk
                .as_ref()
                .is_none_or(|x| r.usage.wall_s < x.usage.wall_s)
            {
                best_lk = Some(r);
            }
        }
        let (base, two, lk) = (
            best_base.context("no baseline run")?,
            best_two.context("no two-core baseline run")?,
            best_lk.context("no logkeep run")?,
        );
        let (_, zsize) = self.run_sh(
            "catchup-zstd-size",
            "zstd -3 -T1 -q -c < \"$1\" | wc -c",
            &[&file],
        )?;
        let zsize: u64 = zsize.trim().parse().unwrap_or(0);
        let ratio_one = base.wall_s / lk.usage.wall_s;
        let ratio = two.wall_s / lk.usage.wall_s;
        let lk_ratio = stats.bytes as f64 / lk.compressed.max(1) as f64;
        let z_ratio = stats.bytes as f64 / zsize.max(1) as f64;
        let fig = Figure {
            key: "catchup",
            title: "1. catch-up ingest",
            logkeep: format!(
                "{:.0} MiB/s, {:.2}:1, {:.2} cores",
                mibs(stats.bytes, lk.usage.wall_s),
                lk_ratio,
                lk.usage.cpu_s() / lk.usage.wall_s
            ),
            baseline: format!(
                "zstd -3 -T2, openssl dgst -sha256: {:.0} MiB/s, {:.2} cores; zstd -3 -T1, sha256sum: {:.0} MiB/s, {:.2}:1, {:.2} cores (ratio {:.2})",
                mibs(stats.bytes, two.wall_s),
                two.cpu_s() / two.wall_s,
                mibs(stats.bytes, base.wall_s),
                z_ratio,
                base.cpu_s() / base.wall_s,
                ratio_one
            ),
            ratio: Some(ratio),
            target: "≥ 1.0 against zstd -3 -T2, openssl".into(),
            met: Some(ratio >= 1.0),
            notes: vec![
                format!(
                    "{} file of {} lines archived into {} segments (start to exit, SIGTERM as soon as logkeep captures; every byte hashed, compressed, fsynced); best of {}",
                    bytesize::ByteSize::b(stats.bytes).display().iec(),
                    stats.lines,
                    lk.segments,
                    self.opts.repeat.max(1)
                ),
                format!(
                    "CPU: logkeep {:.2} s ({:.2} user, {:.2} sys), baseline {:.2} s; CPU ratio {:.2} (load-independent: the wall ratio moves with the machine's load, this one does not)",
                    lk.usage.cpu_s(),
                    lk.usage.user_s,
                    lk.usage.sys_s,
                    base.cpu_s(),
                    base.cpu_s() / lk.usage.cpu_s()
                ),
                format!(
                    "two-core baseline (zstd -3 -T2 | openssl dgst -sha256): {:.2} s, {:.2} CPU-s; wall ratio {:.2}, CPU ratio {:.2}; against zstd -3 -T1 | sha256sum the wall ratio is {:.2}",
                    two.wall_s,
                    two.cpu_s(),
                    ratio,
                    two.cpu_s() / lk.usage.cpu_s(),
                    ratio_one
                ),
            ],
            details: json!({
                "corpus_bytes": stats.bytes,
                "logkeep": { "usage": lk.usage, "captured": lk.data, "compressed": lk.compressed, "segments": lk.segments },
                "baseline": { "usage": base, "compressed": zsize },
                "baseline_two_cores": { "usage": two, "command": "zstd -3 -T2 | openssl dgst -sha256" },
            }),
        };
        self.catchup = Some(lk);
        Ok(fig)
    }

    fn catchup_run(&mut self) -> Result<Ingest> {
        if let Some(c) = &self.catchup {
            return Ok(c.clone());
        }
        let (file, _) = self.corpus()?;
        warm(std::slice::from_ref(&file))?;
        let r = self.ingest("catchup", &file, std::slice::from_ref(&file))?;
        self.catchup = Some(r.clone());
        Ok(r)
    }

    /// Figure 5: verification.
    pub fn verify(&mut self) -> Result<Figure> {
        let lk = self.catchup_run()?;
        let segs: Vec<PathBuf> = chain::segments(&lk.store)?
            .into_iter()
            .map(|s| s.file)
            .collect();
        warm(&segs)?;
        let seg_refs: Vec<&Path> = segs.iter().map(PathBuf::as_path).collect();
        let mut best_base: Option<Usage> = None;
        let mut best_lk: Option<Usage> = None;
        for _ in 0..self.opts.repeat.max(1) {
            let (b, _) = self.run_sh(
                "verify-baseline",
                "zstd -d -q -c -- \"$@\" | sha256sum",
                &seg_refs,
            )?;
            if best_base.as_ref().is_none_or(|x| b.wall_s < x.wall_s) {
                best_base = Some(b);
            }
            let (v, err) = proc::run(
                &self.exe,
                vec![
                    self.logkeep.clone().into(),
                    "verify".into(),
                    lk.store.clone().into(),
                ],
                Stdio::null(),
                self.report_path("verify"),
            )?;
            if !v.ok() {
                self.problems
                    .push(format!("verify: logkeep verify failed ({v:?}): {err}"));
            }
            if best_lk.as_ref().is_none_or(|x| v.wall_s < x.wall_s) {
                best_lk = Some(v);
            }
        }
        let (base, v) = (best_base.context("no run")?, best_lk.context("no run")?);
        let ratio = base.wall_s / v.wall_s;
        // coreutils' sha256sum may not use the CPU's SHA extensions, which logkeep's hashing
        // does: the same pipeline with OpenSSL's hash shows how much of the ratio that is.
        let ossl = match proc::find_program("openssl") {
            Some(_) => {
                let mut best: Option<Usage> = None;
                for _ in 0..self.opts.repeat.max(1) {
                    let (b, _) = self.run_sh(
                        "verify-baseline-openssl",
                        "zstd -d -q -c -- \"$@\" | openssl dgst -sha256",
                        &seg_refs,
                    )?;
                    if best.as_ref().is_none_or(|x| b.wall_s < x.wall_s) {
                        best = Some(b);
                    }
                }
                best
            }
            None => None,
        };
        Ok(Figure {
            key: "verify",
            title: "5. verify",
            logkeep: format!(
                "{:.0} MiB/s of content ({:.2} s), {:.2} cores",
                mibs(lk.data, v.wall_s),
                v.wall_s,
                v.cpu_s() / v.wall_s
            ),
            baseline: format!(
                "zstd -d, sha256sum: {:.0} MiB/s ({:.2} s), {:.2} cores",
                mibs(lk.data, base.wall_s),
                base.wall_s,
                base.cpu_s() / base.wall_s
            ),
            ratio: Some(ratio),
            target: "≥ 0.8".into(),
            met: Some(ratio >= 0.8),
            notes: vec![
                format!(
                    "the catch-up store: {} segments, {} compressed; logkeep also checks every record, link, member digest and the manifest; peak RSS {:.1} MiB; best of {}",
                    segs.len(),
                    bytesize::ByteSize::b(lk.compressed).display().iec(),
                    v.maxrss_kib as f64 / 1024.0,
                    self.opts.repeat.max(1)
                ),
                format!(
                    "CPU: logkeep {:.2} s, baseline {:.2} s; CPU ratio {:.2}",
                    v.cpu_s(),
                    base.cpu_s(),
                    base.cpu_s() / v.cpu_s()
                ),
                match &ossl {
                    Some(o) => format!(
                        "with `openssl dgst -sha256` in place of sha256sum the baseline takes {:.2} s: ratio {:.2}",
                        o.wall_s,
                        o.wall_s / v.wall_s
                    ),
                    None => "openssl not found: no second baseline".into(),
                },
            ],
            details: json!({ "logkeep": v, "baseline": base, "baseline_openssl": ossl, "content_bytes": lk.data, "compressed_bytes": lk.compressed }),
        })
    }

    /// Figure 8: the investigator's timeline of the catch-up store (`logkeep timeline`, which
    /// verifies the store and then walks it again, parsing every line) against decompressing
    /// the same segments and counting their lines (`zstd -d | wc -l`), the least any line
    /// reader does.
    pub fn timeline(&mut self) -> Result<Figure> {
        let lk = self.catchup_run()?;
        let segs: Vec<PathBuf> = chain::segments(&lk.store)?
            .into_iter()
            .map(|s| s.file)
            .collect();
        warm(&segs)?;
        let seg_refs: Vec<&Path> = segs.iter().map(PathBuf::as_path).collect();
        let mut best_base: Option<Usage> = None;
        let mut best_lk: Option<Usage> = None;
        let mut events = 0usize;
        for _ in 0..self.opts.repeat.max(1) {
            let (b, _) = self.run_sh(
                "timeline-baseline",
                "zstd -d -q -c -- \"$@\" | wc -l",
                &seg_refs,
            )?;
            if best_base.as_ref().is_none_or(|x| b.wall_s < x.wall_s) {
                best_base = Some(b);
            }
            let out = self.dir.join("reports").join("timeline.jsonl");
            let (v, err) = proc::run(
                &self.exe,
                vec![
                    self.logkeep.clone().into(),
                    "timeline".into(),
                    lk.store.clone().into(),
                ],
                Stdio::from(fs::File::create(&out)?),
                self.report_path("timeline"),
            )?;
            if !v.ok() {
                self.problems
                    .push(format!("timeline: logkeep timeline failed ({v:?}): {err}"));
            }
            events = fs::read(&out)
                .map(|b| b.iter().filter(|&&c| c == b'\n').count())
                .unwrap_or(0);
            if best_lk.as_ref().is_none_or(|x| v.wall_s < x.wall_s) {
                best_lk = Some(v);
            }
        }
        let (base, v) = (best_base.context("no run")?, best_lk.context("no run")?);
        let ratio = base.wall_s / v.wall_s;
        Ok(Figure {
            key: "timeline",
            title: "8. timeline",
            logkeep: format!(
                "{:.0} MiB/s of content ({:.2} s), {:.2} cores, {events} events",
                mibs(lk.data, v.wall_s),
                v.wall_s,
                v.cpu_s() / v.wall_s
            ),
            baseline: format!(
                "zstd -d, wc -l: {:.0} MiB/s ({:.2} s), {:.2} cores",
                mibs(lk.data, base.wall_s),
                base.wall_s,
                base.cpu_s() / base.wall_s
            ),
            ratio: Some(ratio),
            target: "reported (verifies first, then reads every line)".into(),
            met: None,
            notes: vec![format!(
                "the catch-up store: {} segments; logkeep verifies the whole store (one pass), then decompresses, splits and parses every line (a second pass); peak RSS {:.1} MiB; best of {}",
                segs.len(),
                v.maxrss_kib as f64 / 1024.0,
                self.opts.repeat.max(1)
            )],
            details: json!({ "logkeep": v, "baseline": base, "events": events, "content_bytes": lk.data }),
        })
    }

    /// Figure 4: peak memory with 1, 100 and 5,000 watched files.
    pub fn memory(&mut self) -> Result<Figure> {
        let total = self.opts.memory_size.min(self.opts.size);
        let mut rows = Vec::new();
        let mut one_file = None;
        for n in [1usize, 100, 5000] {
            let d = self.dir.join(format!("memory-{n}-logs"));
            fresh_dir(&d)?;
            let per = (total / n as u64).max(1);
            let mut files = Vec::with_capacity(n);
            for i in 0..n {
                let p = d.join(format!("host{i:04}.log"));
                corpus::write_file(
                    &p,
                    per,
                    self.opts.seed.wrapping_mul(7919).wrapping_add(i as u64),
                )?;
                files.push(p);
            }
            warm(&files)?;
            let r = self.ingest(&format!("memory-{n}"), &d.join("*.log"), &files)?;
            if n == 1 {
                one_file = Some(files[0].clone());
            }
            rows.push((n, r.usage, r.data));
            fs::remove_dir_all(&d).ok();
            fs::remove_dir_all(self.dir.join(format!("memory-{n}"))).ok();
        }
        // The baseline: what compressing the same bytes costs in memory at all.
        let (zbase, _) = {
            let d = self.dir.join("memory-1-logs");
            fresh_dir(&d)?;
            let p = one_file.context("no one-file run")?;
            corpus::write_file(&p, total, self.opts.seed.wrapping_mul(7919))?;
            let r = self.run_sh(
                "memory-baseline",
                "zstd -3 -T1 -q < \"$1\" | sha256sum",
                &[&p],
            )?;
            fs::remove_dir_all(&d).ok();
            r
        };
        let mib = |u: &Usage| u.maxrss_kib as f64 / 1024.0;
        let at100 = rows
            .iter()
            .find(|r| r.0 == 100)
            .map(|r| mib(&r.1))
            .unwrap_or(f64::NAN);
        let (soft, hard) =
            nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
                .unwrap_or((0, 0));
        Ok(Figure {
            key: "memory",
            title: "4. memory (peak RSS)",
            logkeep: rows
                .iter()
                .map(|(n, u, _)| {
                    format!(
                        "{n} file{}: {:.1} MiB",
                        if *n == 1 { "" } else { "s" },
                        mib(u)
                    )
                })
                .collect::<Vec<_>>()
                .join("; "),
            baseline: format!("zstd -3 -T1, sha256sum: {:.1} MiB", mib(&zbase)),
            ratio: Some(64.0 / at100),
            target: "< 64 MiB at 100 files".into(),
            met: Some(at100 < 64.0),
            notes: vec![
                format!(
                    "each run archives {} split evenly over the files (catch-up, then SIGTERM); ratio = 64 MiB / peak at 100 files",
                    bytesize::ByteSize::b(total).display().iec()
                ),
                format!(
                    "open-file limit for the runs: soft {soft}, hard {hard} (logkeep keeps one descriptor per followed file)"
                ),
            ],
            details: json!({
                "bytes_per_run": total,
                "runs": rows.iter().map(|(n, u, d)| json!({"files": n, "usage": u, "captured": d})).collect::<Vec<_>>(),
                "baseline": zbase,
                "nofile_limit": [soft, hard],
            }),
        })
    }

    /// Figure 2: live tail with rotation.
    pub fn tail(&mut self) -> Result<Figure> {
        let d = self.dir.join("tail");
        fresh_dir(&d)?;
        let logs = d.join("logs");
        fs::create_dir_all(&logs)?;
        let store = d.join("store");
        // The default seal interval and segment size: this is what an installation runs.
        let cfg = self.write_config(&d, &store, &logs.join("*.log"), "")?;
        let m = self.start_daemon(&cfg, "tail")?;
        let writers = self.opts.tail_writers.max(1);
        let per_writer = self.opts.tail_rate as f64 / writers as f64;
        let secs = self.opts.tail_secs;
        let rotate = self.opts.tail_rotate_secs;
        let seed = self.opts.seed;
        let start = Instant::now();
        let handles: Vec<_> = (0..writers)
            .map(|k| {
                let logs = logs.clone();
                std::thread::spawn(move || {
                    // Stagger the rotations so they do not all land in one poll.
                    let offset = rotate * (k as f64 + 1.0) / writers as f64;
                    write_tail(&logs, k, per_writer, secs, rotate, offset, seed, start)
                })
            })
            .collect();
        let mut samples = Vec::new();
        let mut files = Vec::new();
        for h in handles {
            let (s, f) = h
                .join()
                .map_err(|_| anyhow::anyhow!("a writer thread panicked"))??;
            samples.extend(s);
            files.extend(f);
        }
        let wrote_s = start.elapsed().as_secs_f64();
        let written: u64 = files.iter().map(|f: &TailFile| f.size).sum();
        // Let logkeep seal on its own schedule: the delays measured are the ones a user gets,
        // not ones cut short by the stop.
        let deadline = Instant::now() + Duration::from_secs_f64(DEFAULT_SEAL_INTERVAL * 2.0 + 15.0);
        let mut sealed_all_after = None;
        while Instant::now() < deadline {
            let (data, _) = chain::totals(&chain::segments(&store)?);
            if data >= written {
                sealed_all_after = Some(start.elapsed().as_secs_f64() - wrote_s);
                break;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        m.terminate()?;
        let (usage, stderr) = m.wait()?;
        fs::write(d.join("daemon.err"), &stderr)?;
        if !usage.ok() {
            bail!("logkeep run exited with {usage:?}; stderr:\n{stderr}");
        }
        let segs = chain::segments(&store)?;
        let (captured, compressed) = chain::totals(&segs);
        let content: u64 = segs.iter().map(|s| s.content_size).sum();
        let ranges = chain::by_file(&segs);
        let mut incomplete = 0;
        for f in &files {
            let r = ranges
                .get(&(f.dev, f.ino))
                .map(Vec::as_slice)
                .unwrap_or(&[]);
            if let Err(e) = chain::exactly_once(r, f.size) {
                incomplete += 1;
                self.problems
                    .push(format!("tail: {}: {e}", f.path.display()));
            }
        }
        let mut delays = Vec::with_capacity(samples.len());
        let mut unsealed = 0;
        for s in &samples {
            let hit = ranges.get(&(s.dev, s.ino)).and_then(|v| {
                v.iter()
                    .filter(|(a, b, _)| *a <= s.offset && s.offset < *b)
                    .map(|r| r.2)
                    .min()
            });
            match hit.and_then(|w| w.duration_since(s.at).ok()) {
                Some(dt) => delays.push(dt.as_secs_f64()),
                None => unsealed += 1,
            }
        }
        delays.sort_by(f64::total_cmp);
        let (p50, p99, max) = (
            percentile(&delays, 0.5),
            percentile(&delays, 0.99),
            delays.last().copied().unwrap_or(f64::NAN),
        );
        // The same bytes through the minimal pipeline, for the CPU comparison.
        let mut all: Vec<PathBuf> = files.iter().map(|f| f.path.clone()).collect();
        all.sort();
        warm(&all)?;
        let refs: Vec<&Path> = all.iter().map(PathBuf::as_path).collect();
        let (base, _) = self.run_sh(
            "tail-baseline",
            "cat -- \"$@\" | zstd -3 -T1 -q | sha256sum",
            &refs,
        )?;
        let gib = written as f64 / (1024.0 * MIB);
        let lk_cpu_gib = usage.cpu_s() / gib;
        let base_cpu_gib = base.cpu_s() / gib;
        let rotations = files.len() - writers;
        fs::remove_dir_all(&logs).ok();
        Ok(Figure {
            key: "tail",
            title: "2. live tail",
            logkeep: format!(
                "{:.1} MiB/s sustained, delay p50 {p50:.1} s p99 {p99:.1} s, CPU {:.0} % of a core ({lk_cpu_gib:.1} CPU-s/GiB)",
                mibs(written, wrote_s),
                100.0 * usage.cpu_s() / usage.wall_s
            ),
            baseline: format!("zstd -3 -T1, sha256sum on the same bytes: {base_cpu_gib:.1} CPU-s/GiB"),
            ratio: Some(base_cpu_gib / lk_cpu_gib),
            target: format!("p99 delay ≤ seal interval ({DEFAULT_SEAL_INTERVAL:.0} s) + scan; keep up"),
            met: Some(unsealed == 0 && incomplete == 0 && p99 <= DEFAULT_SEAL_INTERVAL + 2.0),
            notes: vec![
                format!(
                    "{writers} writers for {secs:.0} s at {:.1} MiB/s in total, {rotations} rename rotations; {} delay samples, {unsealed} never sealed; {}/{} files captured exactly once; all sealed {} after the writers stopped",
                    self.opts.tail_rate as f64 / MIB,
                    samples.len(),
                    files.len() - incomplete,
                    files.len(),
                    sealed_all_after.map_or("not within the wait".into(), |s| format!("{s:.1} s"))
                ),
                "delay = chain record `wall` of the first segment covering a written byte minus the time its write returned; ratio = baseline CPU per GiB / logkeep CPU per GiB (logkeep's includes polling, tar, per-member hashing, fsync and idle time)".into(),
                format!(
                    "{} segments; tar headers and manifests add {:.1} % to the captured bytes before compression (one member per read); compression {:.2}:1",
                    segs.len(),
                    100.0 * (content as f64 / captured.max(1) as f64 - 1.0),
                    captured as f64 / compressed.max(1) as f64
                ),
            ],
            details: json!({
                "written": written, "captured": captured, "content": content, "compressed": compressed, "segments": segs.len(),
                "writers": writers, "seconds": wrote_s, "rate": self.opts.tail_rate, "files": files.len(),
                "delay_s": { "p50": p50, "p90": percentile(&delays, 0.9), "p99": p99, "max": max, "samples": delays.len(), "unsealed": unsealed },
                "sealed_all_after_s": sealed_all_after,
                "logkeep": usage, "baseline": base,
            }),
        })
    }

    /// Figure 3: rsyslog imfile → omfile on the same corpus.
    pub fn peer(&mut self) -> Result<Figure> {
        let Some(rsyslogd) = proc::find_program("rsyslogd") else {
            return Ok(Figure::not_measured(
                "peer",
                "3. peer: rsyslog",
                "rsyslogd is not installed (apt-get install rsyslog)".into(),
            ));
        };
        let lk = self.catchup_run()?;
        let (file, stats) = self.corpus()?;
        warm(std::slice::from_ref(&file))?;
        let d = self.dir.join("rsyslog");
        fresh_dir(&d)?;
        let work = d.join("work");
        fs::create_dir_all(&work)?;
        let out = d.join("out.log");
        let conf = d.join("rsyslog.conf");
        // What a user would write: imfile reads the file from its start, omfile writes each
        // message as it was read. Everything else is rsyslog's default.
        fs::write(
            &conf,
            format!(
                "global(workDirectory={})\nmodule(load=\"imfile\")\ntemplate(name=\"raw\" type=\"string\" string=\"%rawmsg%\\n\")\nruleset(name=\"bench\") {{\n  action(type=\"omfile\" file={} template=\"raw\")\n}}\ninput(type=\"imfile\" file={} tag=\"bench\" ruleset=\"bench\")\n",
                toml_str(&work),
                toml_str(&out),
                toml_str(&file)
            ),
        )?;
        let m = Measured::start(Spec {
            bench: &self.exe,
            argv: vec![
                rsyslogd.into(),
                "-n".into(),
                "-f".into(),
                conf.clone().into(),
                "-i".into(),
                d.join("rsyslogd.pid").into(),
            ],
            stdout: Stdio::null(),
            report: self.report_path("rsyslog"),
            ready_marker: None,
            env: vec![],
        })?;
        // rsyslog has no "done" signal: watch the output until it stops growing.
        let quiet = Duration::from_secs(3);
        let mut last_size = 0;
        let mut last_change = Instant::now();
        let mut done_at = None;
        let give_up = Instant::now()
            + Duration::from_secs(60)
            + Duration::from_secs_f64(stats.bytes as f64 / (5.0 * MIB));
        while Instant::now() < give_up {
            std::thread::sleep(Duration::from_millis(10));
            let size = fs::metadata(&out).map(|m| m.len()).unwrap_or(0);
            if size != last_size {
                last_size = size;
                last_change = Instant::now();
                done_at = Some(m.elapsed());
            } else if size > 0 && last_change.elapsed() >= quiet {
                break;
            }
        }
        m.terminate()?;
        let (usage, stderr) = m.wait()?;
        fs::write(d.join("rsyslogd.err"), &stderr)?;
        let Some(rs_wall) = done_at else {
            bail!("rsyslog wrote nothing within the wait; its stderr:\n{stderr}");
        };
        let check = compare_lines(&file, &out)?;
        let exact = check.identical;
        fs::remove_file(&out).ok();
        let ratio = rs_wall / lk.usage.wall_s;
        Ok(Figure {
            key: "peer",
            title: "3. peer: rsyslog imfile → omfile",
            logkeep: format!(
                "{:.0} MiB/s, every byte: {}",
                mibs(stats.bytes, lk.usage.wall_s),
                if lk.data == stats.bytes { "yes" } else { "NO" }
            ),
            baseline: format!(
                "{:.0} MiB/s, {:.2} cores, every byte: {}",
                mibs(stats.bytes, rs_wall),
                usage.cpu_s() / rs_wall,
                if exact { "yes" } else { "no" }
            ),
            ratio: Some(ratio),
            target: "≥ 1.0 (and every byte)".into(),
            met: Some(ratio >= 1.0 && lk.data == stats.bytes),
            notes: vec![
                format!(
                    "rsyslog {}: {} of {} input lines exact, {} empty lines dropped, {} long lines split, {} truncated, {} differ, {} missing, {} extra; output {} bytes of {}",
                    rsyslog_version(),
                    check.exact,
                    check.in_lines,
                    check.dropped_empty,
                    check.split,
                    check.truncated,
                    check.mismatched,
                    check.missing,
                    check.extra,
                    check.out_bytes,
                    check.in_bytes
                ),
                "rsyslog's time is to its last output write (polled every 10 ms), without fsync and without hashing or compressing; logkeep's is the catch-up run's start to exit, everything sealed and fsynced".into(),
            ],
            details: json!({ "rsyslog": usage, "rsyslog_wall_s": rs_wall, "check": check, "logkeep_wall_s": lk.usage.wall_s }),
        })
    }

    /// Figure 6: emergency snapshot latency with 100 MiB read but not sealed.
    pub fn snapshot(&mut self) -> Result<Figure> {
        const TITLE: &str = "6. emergency snapshot";
        let has = std::process::Command::new(&self.logkeep)
            .args(["snapshot", "--help"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !has {
            return Ok(Figure::not_measured(
                "snapshot",
                TITLE,
                "no snapshot command".into(),
            ));
        }
        let d = self.dir.join("snapshot");
        fresh_dir(&d)?;
        let logs = d.join("logs");
        fs::create_dir_all(&logs)?;
        let log = logs.join("vpn.log");
        fs::write(&log, b"")?;
        let socket = d.join("control.sock");
        let store = d.join("store");
        // Nothing is sealed on its own during the figure: the snapshot must do it all.
        let extra = format!(
            "seal_interval = \"1h\"\nsegment_max_bytes = \"4GiB\"\n[control]\nsocket = {}\n",
            toml_str(&socket)
        );
        let cfg = self.write_config(&d, &store, &log, &extra)?;
        let m = self.start_daemon(&cfg, "snapshot-daemon")?;
        let staged = d.join("staged.log");
        let bytes = corpus::write_file(
            &staged,
            self.opts.size.min(100 << 20),
            self.opts.seed.wrapping_add(99),
        )?
        .bytes;
        fs::copy(&staged, &log)?;
        // Give the daemon the time to read it (it polls every second); sealing is left.
        std::thread::sleep(
            Duration::from_secs(3) + Duration::from_secs_f64(bytes as f64 / (100.0 * MIB)),
        );
        let key = {
            let m = fs::metadata(&log)?;
            (m.dev(), m.ino())
        };
        let sealed_of = |store: &Path| -> Result<u64> {
            let segs = chain::segments(store)?;
            Ok(chain::by_file(&segs)
                .get(&key)
                .map_or(0, |v| v.iter().map(|r| r.1 - r.0).sum()))
        };
        let before = sealed_of(&store)?;
        let (snap, out) = proc::run(
            &self.exe,
            vec![
                self.logkeep.clone().into(),
                "snapshot".into(),
                "--socket".into(),
                socket.clone().into(),
                "--reason".into(),
                "logkeep-bench".into(),
            ],
            Stdio::null(),
            self.report_path("snapshot"),
        )?;
        let after = sealed_of(&store)?;
        m.terminate()?;
        let (usage, stderr) = m.wait()?;
        fs::write(d.join("daemon.err"), &stderr)?;
        if after != bytes {
            self.problems.push(format!(
                "snapshot: {after} of {bytes} bytes sealed when `logkeep snapshot` returned"
            ));
        }
        if !snap.ok() {
            bail!("logkeep snapshot failed ({snap:?}): {out}");
        }
        if !usage.ok() {
            bail!("logkeep run exited with {usage:?}; stderr:\n{stderr}");
        }
        // What a user would do by hand: archive the file, compress it, make it durable.
        let out_file = d.join("manual.tar.zst");
        let (base, _) = self.run_sh(
            "snapshot-baseline",
            "tar -cf - -C \"$(dirname \"$1\")\" \"$(basename \"$1\")\" | zstd -3 -T1 -q > \"$2\" && sync \"$2\"",
            &[&log, &out_file],
        )?;
        let ratio = base.wall_s / snap.wall_s;
        fs::remove_dir_all(&logs).ok();
        fs::remove_file(&staged).ok();
        Ok(Figure {
            key: "snapshot",
            title: TITLE,
            logkeep: format!(
                "{:.2} s for {} unsealed",
                snap.wall_s,
                bytesize::ByteSize::b(bytes).display().iec()
            ),
            baseline: format!("tar, zstd -3 -T1, sync: {:.2} s", base.wall_s),
            ratio: Some(ratio),
            target: "-".into(),
            met: None,
            notes: vec![
                "latency = `logkeep snapshot` from start to exit (it returns once the snapshot is sealed and recorded), socket round trip and host context included".into(),
                format!(
                    "sealed before the snapshot: {before} bytes, when it returned: {after} of {bytes}; logkeep had already read and compressed the bytes into its open segment, so the snapshot only closes the frame, fsyncs and records; the baseline compresses from scratch"
                ),
            ],
            details: json!({ "bytes": bytes, "sealed_before": before, "sealed_after": after, "snapshot": snap, "baseline": base }),
        })
    }
}

pub(crate) fn rsyslog_version() -> String {
    std::process::Command::new(proc::find_program("rsyslogd").unwrap_or_else(|| "rsyslogd".into()))
        .arg("-v")
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .split_whitespace()
                .nth(1)
                .map(str::to_owned)
        })
        .unwrap_or_else(|| "?".into())
}

/// A file a tail writer wrote.
struct TailFile {
    path: PathBuf,
    dev: u64,
    ino: u64,
    size: u64,
}

/// When one written byte (the last of a batch) was handed to the kernel.
struct Sample {
    dev: u64,
    ino: u64,
    offset: u64,
    at: SystemTime,
}

/// One writer: append lines at `rate` bytes/s to `logs/wK.log` for `secs`, renaming the file
/// to `wK.log.N` and starting a new one every `rotate` seconds (first after `offset`).
#[allow(clippy::too_many_arguments)]
fn write_tail(
    logs: &Path,
    k: usize,
    rate: f64,
    secs: f64,
    rotate: f64,
    offset: f64,
    seed: u64,
    start: Instant,
) -> Result<(Vec<Sample>, Vec<TailFile>)> {
    let path = logs.join(format!("w{k}.log"));
    let open = |p: &Path| -> Result<(fs::File, u64, u64)> {
        let f = fs::OpenOptions::new().create(true).append(true).open(p)?;
        let m = f.metadata()?;
        Ok((f, m.dev(), m.ino()))
    };
    let (mut f, mut dev, mut ino) = open(&path)?;
    let mut g = corpus::Generator::new(seed.wrapping_mul(1_000_003).wrapping_add(k as u64));
    let (mut size, mut written, mut n) = (0u64, 0u64, 0);
    let mut next_rotate = offset;
    let mut samples = Vec::new();
    let mut files = Vec::new();
    let mut batch = Vec::with_capacity(1 << 20);
    loop {
        let t = start.elapsed().as_secs_f64();
        if t >= secs {
            break;
        }
        batch.clear();
        let due = (rate * t) as u64;
        while written + (batch.len() as u64) < due {
            g.line(&mut batch);
        }
        if !batch.is_empty() {
            f.write_all(&batch)?;
            let at = SystemTime::now();
            size += batch.len() as u64;
            written += batch.len() as u64;
            samples.push(Sample {
                dev,
                ino,
                offset: size - 1,
                at,
            });
        }
        if t >= next_rotate {
            n += 1;
            let rotated = logs.join(format!("w{k}.log.{n}"));
            fs::rename(&path, &rotated)?;
            files.push(TailFile {
                path: rotated,
                dev,
                ino,
                size,
            });
            (f, dev, ino) = open(&path)?;
            size = 0;
            next_rotate += rotate;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    files.push(TailFile {
        path,
        dev,
        ino,
        size,
    });
    Ok((samples, files))
}

/// How an output file of lines compares with its input.
#[derive(Debug, Default, Serialize)]
pub struct LineCheck {
    /// Byte-identical files.
    pub identical: bool,
    /// Input bytes.
    pub in_bytes: u64,
    /// Output bytes.
    pub out_bytes: u64,
    /// Input lines.
    pub in_lines: u64,
    /// Input lines found unchanged.
    pub exact: u64,
    /// Empty input lines absent from the output.
    pub dropped_empty: u64,
    /// Input lines that came out as several lines.
    pub split: u64,
    /// Input lines that came out cut short.
    pub truncated: u64,
    /// Input lines that came out different.
    pub mismatched: u64,
    /// Input lines with no output left.
    pub missing: u64,
    /// Output lines left over.
    pub extra: u64,
}

struct Lines<R> {
    r: R,
}

impl<R: BufRead> Iterator for Lines<R> {
    type Item = Vec<u8>;
    fn next(&mut self) -> Option<Vec<u8>> {
        let mut v = Vec::new();
        match self.r.read_until(b'\n', &mut v) {
            Ok(0) | Err(_) => None,
            Ok(_) => {
                if v.last() == Some(&b'\n') {
                    v.pop();
                }
                Some(v)
            }
        }
    }
}

/// Align the output's lines with the input's, counting how each input line came out.
pub fn compare_lines(input: &Path, output: &Path) -> Result<LineCheck> {
    let mut c = LineCheck {
        in_bytes: fs::metadata(input)?.len(),
        out_bytes: fs::metadata(output)?.len(),
        ..Default::default()
    };
    let ins = Lines {
        r: BufReader::with_capacity(1 << 20, fs::File::open(input)?),
    };
    let mut outs = Lines {
        r: BufReader::with_capacity(1 << 20, fs::File::open(output)?),
    }
    .peekable();
    let mut same_bytes = c.in_bytes == c.out_bytes;
    for line in ins {
        c.in_lines += 1;
        if line.is_empty() {
            if outs.peek().is_some_and(Vec::is_empty) {
                outs.next();
                c.exact += 1;
            } else {
                c.dropped_empty += 1;
                same_bytes = false;
            }
            continue;
        }
        match outs.next() {
            None => {
                c.missing += 1;
                same_bytes = false;
            }
            Some(o) if o == line => c.exact += 1,
            Some(o) if !o.is_empty() && line.starts_with(&o) => {
                same_bytes = false;
                let mut at = o.len();
                while at < line.len() {
                    match outs.peek() {
                        Some(n) if !n.is_empty() && line[at..].starts_with(n) => {
                            at += n.len();
                            outs.next();
                        }
                        _ => break,
                    }
                }
                if at == line.len() {
                    c.split += 1;
                } else {
                    c.truncated += 1;
                }
            }
            Some(_) => {
                c.mismatched += 1;
                same_bytes = false;
            }
        }
    }
    c.extra = outs.count() as u64;
    c.identical = same_bytes && c.extra == 0;
    Ok(c)
}

/// Summary of the machine for the report.
pub fn machine() -> HashMap<&'static str, String> {
    let mut m = HashMap::new();
    let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .unwrap_or("?")
        .trim()
        .to_owned();
    m.insert("cpu", model);
    m.insert(
        "cores",
        std::thread::available_parallelism()
            .map(|n| n.to_string())
            .unwrap_or_default(),
    );
    let meminfo = fs::read_to_string("/proc/meminfo").unwrap_or_default();
    m.insert(
        "memory",
        meminfo
            .lines()
            .next()
            .unwrap_or("")
            .split_whitespace()
            .nth(1)
            .and_then(|k| k.parse::<u64>().ok())
            .map(|k| format!("{:.1} GiB", k as f64 / 1024.0 / 1024.0))
            .unwrap_or_default(),
    );
    m.insert(
        "kernel",
        fs::read_to_string("/proc/sys/kernel/osrelease")
            .unwrap_or_default()
            .trim()
            .to_owned(),
    );
    m.insert("load_at_start", load());
    m
}

/// `/proc/loadavg`'s three averages.
pub fn load() -> String {
    fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// `--version` output of a program, first line.
pub fn version_of(prog: &Path, arg: &str) -> String {
    std::process::Command::new(prog)
        .arg(arg)
        .output()
        .ok()
        .map(|o| {
            let s = if o.stdout.is_empty() {
                o.stderr
            } else {
                o.stdout
            };
            String::from_utf8_lossy(&s)
                .lines()
                .next()
                .unwrap_or("")
                .to_owned()
        })
        .unwrap_or_default()
}
