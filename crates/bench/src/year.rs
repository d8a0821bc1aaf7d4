//! Figure "year": a store as a year of operation leaves it, and what it costs then.
//!
//! The store is generated through the store's own commit path (`logkeep_store`), not written by
//! hand: one segment every 10 s of simulated time (the default seal interval) holding a few
//! log lines, each followed by a checkpoint signed with the epoch key of a signing state made
//! by `logkeep keygen`, and an epoch switch every simulated hour (the default epoch), with the
//! old secret destroyed as the daemon destroys it. The log file rotates daily (a `closed`
//! record, then a new generation). Records and segments carry the simulated time
//! ([`Store::set_clock`]), so that a day of the store is a day of its records.
//!
//! Generating a year must take minutes, not a year of fsyncs: the generator runs with the
//! store's fsyncs switched off ([`durable::skip_fsync_for_benchmarks`], in this process only;
//! every `logkeep` process measured fsyncs as usual).
//!
//! Measured: the daemon's start-up (`logkeep run` until it says it captures) and its peak RSS
//! at several ages of the store (the generation stops, the daemon starts and stops, the
//! generation goes on), so that the figure shows whether start-up grows with age;
//! `logkeep verify` of the whole store; `logkeep export` of one day from the middle (time,
//! bundle size against that day's segments); the largest directory.

use crate::figures::{Bench, Figure, fresh_dir, mibs, toml_str};
use crate::proc::{self, Measured, Spec};
use anyhow::{Context, Result, bail};
use logkeep_format::segment::ChunkOrigin;
use logkeep_format::{Event, Sha256, Timestamp};
use logkeep_seal::{Plan, SigningState};
use logkeep_store::{Store, durable};
use serde_json::json;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

/// The default seal interval, in seconds.
const SEAL_SECS: i64 = 10;
/// Seals per day.
const SEALS_PER_DAY: i64 = 86_400 / SEAL_SECS;
/// Seals per epoch (the default epoch, one hour).
const SEALS_PER_EPOCH: i64 = 3_600 / SEAL_SECS;
/// Log lines per seal.
const LINES_PER_SEAL: usize = 4;
/// Ready line of `logkeep run`.
const READY: &str = "capturing";
/// Start-up target, seconds.
const START_TARGET_S: f64 = 1.0;
/// RSS target, MiB.
const RSS_TARGET_MIB: f64 = 64.0;
/// Largest directory target, entries.
const DIR_TARGET: u64 = 100_000;
/// Bundle of a day over that day's segments, target.
const BUNDLE_TARGET: f64 = 1.5;

/// The simulated wall clock, nanoseconds since the epoch.
static SIM_NANOS: AtomicI64 = AtomicI64::new(0);

fn sim_now() -> Timestamp {
    Timestamp::from_unix_nanos(SIM_NANOS.load(Ordering::Relaxed) as i128)
}

/// The generator's state between runs of the daemon.
struct Generator {
    store_dir: PathBuf,
    state_dir: PathBuf,
    /// Unix seconds of the first seal (a midnight UTC, `days` before today's).
    start: i64,
    /// Seals made so far.
    seals: i64,
    /// Segment bytes committed per simulated day.
    day_bytes: Vec<u64>,
    /// Bytes of the current generation, its first 1 KiB, its last 1 KiB.
    end: u64,
    first_kib: Vec<u8>,
    last_kib: Vec<u8>,
    /// Records committed by the generator.
    records: u64,
}

const DEV: u64 = 2049;
const SOURCE: &str = "app";
const LOG_PATH: &str = "/var/log/app.log";

impl Generator {
    fn gen_id(day: i64) -> u64 {
        day as u64 + 1
    }

    /// Generate seals up to (not including) seal `until`.
    fn run(&mut self, until: i64) -> Result<()> {
        let (mut store, replay) = Store::open(&self.store_dir, true, 3)
            .with_context(|| format!("{}: cannot open the store", self.store_dir.display()))?;
        store.set_clock(sim_now);
        let mut state = SigningState::open(&self.state_dir)
            .with_context(|| format!("{}: cannot open", self.state_dir.display()))?;
        match state.reconcile(replay.epoch.as_ref().map(|(e, k)| (*e, k.as_str())))? {
            Plan::Nothing => {}
            Plan::Finish => state.finish_switch()?,
            Plan::Record { statement, finish } => {
                store.append(statement)?;
                self.records += 1;
                if finish {
                    state.finish_switch()?;
                }
            }
        }
        let id = store.id().to_owned();
        let mut line = String::new();
        while self.seals < until {
            let s = self.seals;
            let day = s / SEALS_PER_DAY;
            let t = self.start + s * SEAL_SECS;
            SIM_NANOS.store(t * 1_000_000_000, Ordering::Relaxed);
            if s % SEALS_PER_DAY == 0 && s > 0 {
                // Daily rotation: the previous generation is closed, a new one begins.
                store.append(Event::Closed {
                    source: SOURCE.into(),
                    path: format!("{LOG_PATH}.1"),
                    dev: DEV,
                    ino: Self::gen_id(day - 1) + 1000,
                    gen_id: Self::gen_id(day - 1),
                    end: self.end,
                    reason: "rotated".into(),
                })?;
                self.records += 1;
                self.end = 0;
                self.first_kib.clear();
                self.last_kib.clear();
            }
            let read_at = sim_now().to_rfc3339();
            let mut seg = store.begin_segment()?;
            line.clear();
            for i in 0..LINES_PER_SEAL {
                line.push_str(&format!(
                    "{read_at} gw01 app[{}]: request {} from 192.0.2.{} status=200 bytes={}\n",
                    1000 + day,
                    s * LINES_PER_SEAL as i64 + i as i64,
                    (s + i as i64) % 250 + 1,
                    (s * 7919 + i as i64 * 104_729) % 65_536,
                ));
            }
            let data = line.as_bytes();
            let start = self.end;
            self.end += data.len() as u64;
            if self.first_kib.len() < 1024 {
                let take = (1024 - self.first_kib.len()).min(data.len());
                self.first_kib.extend_from_slice(&data[..take]);
            }
            self.last_kib.extend_from_slice(data);
            if self.last_kib.len() > 1024 {
                self.last_kib.drain(..self.last_kib.len() - 1024);
            }
            let origin = ChunkOrigin {
                source: SOURCE,
                path: LOG_PATH,
                dev: DEV,
                ino: Self::gen_id(day) + 1000,
                gen_id: Self::gen_id(day),
                start,
                head: Sha256::of(&self.first_kib),
                tail: Sha256::of(&self.last_kib),
                read_at: &read_at,
                read_unix: t as u64,
                cursor: None,
            };
            seg.append(&origin, data)?;
            let r = store.commit_segment(seg)?;
            if let Event::Segment { size, .. } = r.event {
                let d = day as usize;
                if self.day_bytes.len() <= d {
                    self.day_bytes.resize(d + 1, 0);
                }
                self.day_bytes[d] += size;
            }
            store.append_with(|head, wall| state.checkpoint(&id, head, wall))?;
            self.records += 2;
            if (s + 1) % SEALS_PER_EPOCH == 0 {
                let statement = state.begin_switch(store.head())?;
                store.append(statement)?;
                state.finish_switch()?;
                self.records += 1;
            }
            self.seals += 1;
            if self.seals % SEALS_PER_DAY == 0 {
                let d = self.seals / SEALS_PER_DAY;
                if d % 10 == 0 {
                    eprintln!(
                        "logkeep-bench: year: {d} days generated ({} records)",
                        store.head().seq
                    );
                }
            }
        }
        Ok(())
    }
}

/// Start-up of the daemon on the store as it is.
#[derive(Debug, Clone, serde::Serialize)]
struct Startup {
    days: i64,
    records: u64,
    ready_s: f64,
    maxrss_mib: f64,
}

impl Bench {
    /// Figure "year": generate `days` days of operation and measure them (see the module).
    pub fn year(&mut self, days: u32) -> Result<Figure> {
        if days == 0 {
            bail!("--year-days must be at least 1");
        }
        let days = i64::from(days);
        let d = self.dir.join("year");
        fresh_dir(&d)?;
        let store_dir = d.join("store");
        let state_dir = d.join("signing");
        let out = std::process::Command::new(&self.logkeep)
            .arg("keygen")
            .arg("--key")
            .arg(&state_dir)
            .arg("--root-out")
            .arg(d.join("root.key"))
            .output()
            .context("cannot run logkeep keygen")?;
        if !out.status.success() {
            bail!(
                "logkeep keygen failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let fingerprint = logkeep_seal::root_fingerprint(&state_dir)?;
        let logs = d.join("logs");
        fs::create_dir_all(&logs)?;
        let cfg = d.join("logkeep.toml");
        fs::write(
            &cfg,
            format!(
                "# Written by logkeep-bench.\n[store]\npath = {}\n[signing]\nkey = {}\n[[source]]\nid = \"{SOURCE}\"\npaths = [{}]\n",
                toml_str(&store_dir),
                toml_str(&state_dir),
                toml_str(&logs.join("app.log")),
            ),
        )?;
        let now = Timestamp::now().unix_secs() as i64;
        let mut g = Generator {
            store_dir: store_dir.clone(),
            state_dir: state_dir.clone(),
            start: (now / 86_400 - days) * 86_400,
            seals: 0,
            day_bytes: Vec::new(),
            end: 0,
            first_kib: Vec::new(),
            last_kib: Vec::new(),
            records: 0,
        };
        durable::skip_fsync_for_benchmarks();
        let mut stops: Vec<i64> = [1, 7, 30, 91, 182, 365, 730]
            .into_iter()
            .filter(|&x| x < days)
            .collect();
        stops.push(days);
        let mut startups = Vec::new();
        let mut gen_secs = 0.0;
        for &stop in &stops {
            let t = Instant::now();
            g.run(stop * SEALS_PER_DAY)?;
            gen_secs += t.elapsed().as_secs_f64();
            let s = self.year_startup(&cfg, stop, &d)?;
            eprintln!(
                "logkeep-bench: year: {stop} days: start-up {:.3} s, peak RSS {:.1} MiB ({} records)",
                s.ready_s, s.maxrss_mib, s.records
            );
            startups.push(s);
        }
        let records = head_seq(&store_dir)?;
        eprintln!(
            "logkeep-bench: year: generated {days} days ({records} records) in {gen_secs:.0} s; measuring"
        );
        let (largest, largest_dir, entries) = largest_dir(&store_dir)?;
        let store_bytes = dir_bytes(&store_dir)?;
        // verify of the whole store.
        let (vu, verr) = proc::run(
            &self.exe,
            vec![
                self.logkeep.clone().into(),
                "verify".into(),
                store_dir.clone().into(),
                "--fingerprint".into(),
                fingerprint.clone().into(),
            ],
            Stdio::null(),
            self.report_path("year-verify"),
        )?;
        fs::write(d.join("verify.err"), &verr)?;
        if !vu.ok() {
            self.problems
                .push(format!("year: logkeep verify failed ({vu:?}): {verr}"));
        }
        // export of one day from the middle.
        let mid = days / 2;
        let since = Timestamp::from_unix_nanos(i128::from(g.start + mid * 86_400) * 1_000_000_000);
        let until =
            Timestamp::from_unix_nanos(i128::from(g.start + (mid + 1) * 86_400) * 1_000_000_000);
        let bundle = d.join("day.tar");
        let (eu, eerr) = proc::run(
            &self.exe,
            vec![
                self.logkeep.clone().into(),
                "export".into(),
                "--no-config".into(),
                "--store".into(),
                store_dir.clone().into(),
                "--key".into(),
                state_dir.clone().into(),
                "--since".into(),
                since.to_rfc3339().into(),
                "--until".into(),
                until.to_rfc3339().into(),
                "--out".into(),
                bundle.clone().into(),
            ],
            Stdio::null(),
            self.report_path("year-export"),
        )?;
        fs::write(d.join("export.err"), &eerr)?;
        let bundle_bytes = fs::metadata(&bundle).map(|m| m.len()).unwrap_or(0);
        if !eu.ok() {
            self.problems
                .push(format!("year: logkeep export failed ({eu:?}): {eerr}"));
        }
        let day_bytes = g.day_bytes.get(mid as usize).copied().unwrap_or(0);
        let bundle_ratio = bundle_bytes as f64 / (day_bytes.max(1)) as f64;
        let last = startups.last().cloned().context("no start-up measured")?;
        let met = last.ready_s <= START_TARGET_S
            && last.maxrss_mib <= RSS_TARGET_MIB
            && largest <= DIR_TARGET
            && bundle_ratio <= BUNDLE_TARGET;
        let series = startups
            .iter()
            .map(|s| format!("{} d {:.2} s/{:.0} MiB", s.days, s.ready_s, s.maxrss_mib))
            .collect::<Vec<_>>()
            .join(", ");
        Ok(Figure {
            key: "year",
            title: "A year of operation",
            logkeep: format!(
                "{days} days, {records} records: start-up {:.2} s, RSS {:.1} MiB; verify {:.0} s ({:.0} records/s, {:.1} MiB/s); export of day {mid}: {:.1} s, {} bundle = {bundle_ratio:.1}x its segments; largest directory {largest} entries",
                last.ready_s,
                last.maxrss_mib,
                vu.wall_s,
                records as f64 / vu.wall_s.max(1e-9),
                mibs(store_bytes, vu.wall_s),
                eu.wall_s,
                bytesize::ByteSize::b(bundle_bytes).display().iec(),
            ),
            baseline: "-".into(),
            ratio: None,
            target: format!(
                "start-up <= {START_TARGET_S} s, RSS <= {RSS_TARGET_MIB} MiB, bundle of a day <= {BUNDLE_TARGET}x its segments, directories <= {DIR_TARGET} entries"
            ),
            met: Some(met),
            notes: vec![
                format!("start-up by age: {series}"),
                format!(
                    "generated through the store's commit path in {gen_secs:.0} s with fsync off (the measured logkeep commands fsync as usual); one segment of {LINES_PER_SEAL} lines and one signed checkpoint every {SEAL_SECS} s, an epoch switch every hour, a rotation every day"
                ),
                "catch-up of one day onto a medium: not measured by this figure yet".into(),
            ],
            details: json!({
                "days": days,
                "records": records,
                "generation_s": gen_secs,
                "store_bytes": store_bytes,
                "entries": entries,
                "largest_dir": largest,
                "largest_dir_path": largest_dir.display().to_string(),
                "startups": startups,
                "verify": vu,
                "export": eu,
                "export_day": mid,
                "export_since": since.to_rfc3339(),
                "export_until": until.to_rfc3339(),
                "day_segment_bytes": day_bytes,
                "bundle_bytes": bundle_bytes,
            }),
        })
    }

    /// Start `logkeep run` on the year store, time it until it captures, stop it.
    fn year_startup(&self, cfg: &Path, days: i64, d: &Path) -> Result<Startup> {
        let name = format!("year-run-{days}");
        let mut m = Measured::start(Spec {
            bench: &self.exe,
            argv: vec![
                self.logkeep.clone().into(),
                "run".into(),
                "--config".into(),
                cfg.into(),
            ],
            stdout: Stdio::null(),
            report: self.report_path(&name),
            ready_marker: Some(READY),
            env: vec![("LOGKEEP_LOG", "info".into())],
        })?;
        m.wait_ready(Duration::from_secs(600))?;
        let ready_s = m.elapsed();
        m.terminate()?;
        let (usage, stderr) = m.wait()?;
        fs::write(d.join(format!("{name}.err")), &stderr)?;
        if !usage.ok() {
            bail!("logkeep run exited with {usage:?}; stderr:\n{stderr}");
        }
        let store_dir = d.join("store");
        Ok(Startup {
            days,
            records: head_seq(&store_dir)?,
            ready_s,
            maxrss_mib: usage.maxrss_kib as f64 / 1024.0,
        })
    }
}

/// The head's sequence number, from the head hint.
fn head_seq(store: &Path) -> Result<u64> {
    let p = store.join(logkeep_format::layout::HEAD_FILE);
    let v: serde_json::Value = serde_json::from_slice(
        &fs::read(&p).with_context(|| format!("{}: cannot read", p.display()))?,
    )?;
    v["seq"]
        .as_u64()
        .with_context(|| format!("{}: no seq", p.display()))
}

/// The directory with the most entries under `root`: its count, its path, and the entries of
/// the whole tree.
fn largest_dir(root: &Path) -> Result<(u64, PathBuf, u64)> {
    let mut best = (0, root.to_owned());
    let mut total = 0;
    let mut todo = vec![root.to_owned()];
    while let Some(dir) = todo.pop() {
        let mut n = 0;
        for e in fs::read_dir(&dir).with_context(|| format!("{}: cannot list", dir.display()))? {
            let e = e?;
            n += 1;
            if e.file_type()?.is_dir() {
                todo.push(e.path());
            }
        }
        total += n;
        if n > best.0 {
            best = (n, dir);
        }
    }
    Ok((best.0, best.1, total))
}

/// Bytes of the files under `root`.
fn dir_bytes(root: &Path) -> Result<u64> {
    let mut total = 0;
    let mut todo = vec![root.to_owned()];
    while let Some(dir) = todo.pop() {
        for e in fs::read_dir(&dir)? {
            let e = e?;
            let m = e.metadata()?;
            if m.is_dir() {
                todo.push(e.path());
            } else {
                total += m.len();
            }
        }
    }
    Ok(total)
}
