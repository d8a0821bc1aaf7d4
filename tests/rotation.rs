//! Rotation with the real `logrotate` in every mode under a writer that keeps its descriptor
//! open, tampering (truncation and deletion in place), and file identity (same heads, tiny
//! files, reused paths and inodes, two globs, symlinks): each way a log file changes under a
//! capturing reader, checked line by line or byte by byte against what was written.

use crate::support::rotation::*;
use crate::support::{bin, require_tool};
use logkeep_format::Event;
use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------------------------
// The writer: a thread that behaves like a daemon logging to a file.

/// One line the writer wrote, and when the write call ran.
struct Written {
    line: Vec<u8>,
    began: Instant,
    ended: Instant,
}

struct WriterShared {
    stop: AtomicBool,
    lines: AtomicU64,
    reopens: AtomicU64,
    /// Held by the writer around each write; the test holds it to pause the writer.
    gate: Mutex<()>,
}

/// A thread that holds one open descriptor to the log (O_APPEND, as every logger that works
/// with `copytruncate` must) and writes numbered lines to it. Like a daemon on SIGHUP it
/// reopens the path only when told: when the flag file appears, which logrotate's
/// `postrotate` script creates with `touch`.
struct Writer {
    shared: Arc<WriterShared>,
    handle: Option<JoinHandle<Vec<Written>>>,
}

fn line_for(tag: &str, seq: u64) -> Vec<u8> {
    // Varying lengths, so that line and page boundaries fall everywhere.
    let filler: String = (0..(10 + (seq * 37) % 170))
        .map(|i| (b'a' + ((seq + i) % 26) as u8) as char)
        .collect();
    format!("{tag} {seq:08} {filler}\n").into_bytes()
}

fn open_append(path: &Path) -> File {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap_or_else(|e| panic!("open {}: {e}", path.display()))
}

impl Writer {
    fn start(path: PathBuf, flag: PathBuf, tag: &'static str) -> Writer {
        let shared = Arc::new(WriterShared {
            stop: AtomicBool::new(false),
            lines: AtomicU64::new(0),
            reopens: AtomicU64::new(0),
            gate: Mutex::new(()),
        });
        let s = shared.clone();
        let handle = std::thread::spawn(move || {
            let mut f = open_append(&path);
            let mut out = Vec::new();
            let mut seq = 0u64;
            while !s.stop.load(Ordering::SeqCst) {
                {
                    let _g = s.gate.lock().expect("gate");
                    if fs::remove_file(&flag).is_ok() {
                        f = open_append(&path);
                        s.reopens.fetch_add(1, Ordering::SeqCst);
                    }
                    let line = line_for(tag, seq);
                    let began = Instant::now();
                    f.write_all(&line).expect("write line");
                    let ended = Instant::now();
                    out.push(Written { line, began, ended });
                    seq += 1;
                    s.lines.fetch_add(1, Ordering::SeqCst);
                }
                std::thread::sleep(Duration::from_micros(400));
            }
            out
        });
        Writer {
            shared,
            handle: Some(handle),
        }
    }

    /// Wait until the writer has written `n` more lines.
    fn wait_lines(&self, n: u64) {
        let target = self.shared.lines.load(Ordering::SeqCst) + n;
        let deadline = Instant::now() + PATIENCE;
        while self.shared.lines.load(Ordering::SeqCst) < target {
            assert!(Instant::now() < deadline, "the writer stalled");
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Wait until the writer has reopened its file `n` times in all.
    fn wait_reopens(&self, n: u64) {
        let deadline = Instant::now() + PATIENCE;
        while self.shared.reopens.load(Ordering::SeqCst) < n {
            assert!(
                Instant::now() < deadline,
                "the writer never saw the reopen flag"
            );
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    fn finish(mut self) -> Vec<Written> {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.handle
            .take()
            .expect("joined once")
            .join()
            .expect("writer thread")
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
    }
}

// ---------------------------------------------------------------------------------------------
// logrotate

/// How one logrotate scenario runs.
struct Scenario {
    /// Directives for the file's block (the mode).
    directives: &'static str,
    /// The source's pattern, relative to the site.
    pattern: &'static str,
    /// `rotate N`: how many rotated files are kept.
    keep: u32,
    /// Rotations while logkeep runs.
    running: usize,
    /// Rotations while logkeep is stopped (SIGTERM before, started again after).
    stopped: usize,
    /// Whether the writer keeps writing while logrotate runs. When false it is paused around
    /// each run, so that nothing logrotate itself loses can blur the assertions.
    concurrent: bool,
    /// Rotated names carry the epoch second (`dateext` with `dateformat -%s`): rotations must
    /// fall in different seconds, or logrotate would refuse to overwrite the earlier one.
    per_second: bool,
    /// logrotate runs back to back at each rotation (2: `rotate 1` removes the file the first
    /// run made, as a rule before a scan has seen it renamed).
    burst: usize,
    /// Before each run, the rotated files are made three days old, so that `maxage` removes them.
    age_rotated: bool,
}

/// Make every rotated file of `live` (in its directory or `old/` beneath it) three days old.
fn age_rotated(live: &Path) {
    let dir = live.parent().expect("dir");
    let base = live
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    let old = std::time::SystemTime::now() - Duration::from_secs(3 * 86400);
    for d in [dir.to_path_buf(), dir.join("old")] {
        for e in fs::read_dir(&d).into_iter().flatten().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name != base
                && name.starts_with(&base)
                && let Ok(f) = OpenOptions::new().write(true).open(e.path())
            {
                let _ = f.set_modified(old);
            }
        }
    }
}

fn run_logrotate(conf: &Path, state: &Path) -> (Instant, Instant) {
    let began = Instant::now();
    let out = Command::new("logrotate")
        .arg("-f")
        .arg("-s")
        .arg(state)
        .arg(conf)
        .output()
        .expect("run logrotate");
    let ended = Instant::now();
    assert!(
        out.status.success(),
        "logrotate failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (began, ended)
}

fn listing(dir: &Path) -> String {
    let mut v: Vec<String> = fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| {
                    let m = e.metadata().ok();
                    format!(
                        "{} (ino {}, {} bytes)",
                        e.file_name().to_string_lossy(),
                        m.as_ref().map(|m| m.ino()).unwrap_or(0),
                        m.as_ref().map(|m| m.len()).unwrap_or(0)
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v.join(", ")
}

/// The files under `dir` (`.gz` ones decompressed) that contain `line`.
fn holding(dir: &Path, line: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        let data = if p.extension().is_some_and(|x| x == "gz") {
            Command::new("gzip")
                .arg("-dc")
                .arg(&p)
                .output()
                .map(|o| o.stdout)
                .unwrap_or_default()
        } else {
            fs::read(&p).unwrap_or_default()
        };
        if data.windows(line.len()).any(|w| w == line) {
            out.push(e.file_name().to_string_lossy().into_owned());
        }
    }
    out
}

fn logrotate_scenario(sc: Scenario) {
    require_tool("logrotate", "logrotate");
    require_tool("gzip", "gzip");
    let mut rig = Rig::new(&[("app", &[sc.pattern])]);
    let live = rig.log("app.log");
    let flag = rig.path("reopen.flag");
    let conf = rig.path("logrotate.conf");
    let state = rig.path("logrotate.state");
    fs::write(
        &conf,
        format!(
            "{} {{\n    rotate {}\n    missingok\n{}    postrotate\n        touch {}\n    endscript\n}}\n",
            live.display(),
            sc.keep,
            sc.directives,
            flag.display()
        ),
    )
    .expect("logrotate.conf");

    let writer = Writer::start(live.clone(), flag, "app");
    writer.wait_lines(50);
    rig.start();
    let mut rng = Rng::new(sc.keep as u64 * 1000 + sc.running as u64 * 10 + sc.stopped as u64);
    let mut windows = Vec::new();
    let mut rotations = 0u64;
    let mut last_second = 0u64;
    let mut rotate = |writer: &Writer, windows: &mut Vec<(Instant, Instant)>| {
        for _ in 0..sc.burst {
            if sc.age_rotated {
                age_rotated(&live);
            }
            if sc.per_second {
                // A new epoch second for a new rotated name; waiting is what the naming demands.
                // logrotate reads the time with time(2), from a clock that may lag the precise one
                // by a few milliseconds: wait 50 ms into the new second.
                loop {
                    let now = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .unwrap_or_default();
                    if now.as_secs() > last_second && now.subsec_millis() >= 50 {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
            let w = if sc.concurrent {
                run_logrotate(&conf, &state)
            } else {
                let _paused = writer.shared.gate.lock().expect("gate");
                run_logrotate(&conf, &state)
            };
            last_second = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            windows.push(w);
            rotations += 1;
            // Like a daemon after SIGHUP, the writer writes to the new file from now on.
            writer.wait_reopens(rotations);
        }
    };

    for _ in 0..sc.running {
        writer.wait_lines(rng.range(100, 400));
        if rng.chance(50) {
            // Sometimes logkeep is caught up when the rotation comes, sometimes it is behind.
            // The writer pauses meanwhile: a file that grows all the time is never caught up.
            let _paused = writer.shared.gate.lock().expect("gate");
            rig.settle(std::slice::from_ref(&live));
        } else {
            // Behind, but not blind: a generation logkeep never saw at its path before it was
            // rotated away is the case `rotations_faster_than_the_scan` is about. Without this
            // wait, a loaded machine decides at random which of the two this test exercises.
            rig.wait_seen(&live);
        }
        rotate(&writer, &mut windows);
    }
    if sc.stopped > 0 {
        writer.wait_lines(rng.range(100, 300));
        rig.stop();
        for _ in 0..sc.stopped {
            writer.wait_lines(rng.range(100, 300));
            rotate(&writer, &mut windows);
        }
        writer.wait_lines(100);
        rig.start();
    }
    writer.wait_lines(rng.range(100, 300));
    let written = writer.finish();
    rig.settle(std::slice::from_ref(&live));
    // SIGTERM makes the daemon poll once more and seal everything it read: every generation
    // it follows is read to its end.
    rig.stop();
    rig.assert_verifies();

    let ledger_text = rig.chain_summary();
    let bad: Vec<Event> = rig
        .records()
        .into_iter()
        .filter(|r| matches!(r.event, Event::Tamper { .. } | Event::Gap { .. }))
        .map(|r| r.event)
        .collect();
    let outs = rig.extract();
    for o in &outs {
        assert!(
            o.missing.is_empty(),
            "{} has holes {:?}",
            o.output,
            o.missing
        );
    }
    let counts = line_counts(&outs);
    let expected: HashSet<&[u8]> = written.iter().map(|w| w.line.as_slice()).collect();
    let strangers: Vec<String> = counts
        .keys()
        .filter(|l| !expected.contains(l.as_slice()))
        .take(5)
        .map(|l| String::from_utf8_lossy(l).into_owned())
        .collect();
    assert!(
        strangers.is_empty(),
        "captured lines that were never written (torn or mixed): {strangers:?}"
    );
    let dups: Vec<String> = counts
        .iter()
        .filter(|(_, n)| **n > 1)
        .take(5)
        .map(|(l, n)| format!("{n}x {}", String::from_utf8_lossy(&l[..20.min(l.len())])))
        .collect();
    let ndups = counts.values().filter(|n| **n > 1).count();
    let lost: Vec<&Written> = written
        .iter()
        .filter(|w| !counts.contains_key(&w.line))
        .collect();
    // With copytruncate and a writer that keeps writing, logrotate itself loses the lines
    // written between the end of its copy and its truncation: they are in neither file, and
    // logkeep can only have them if it happened to read the live file in that instant. Such a
    // line was necessarily written while logrotate ran, so every lost line must overlap a
    // logrotate run; a line written outside every run was on disk for logkeep to read.
    let unexplained: Vec<String> = lost
        .iter()
        .filter(|w| {
            let lossy_mode = sc.concurrent && sc.directives.contains("copytruncate");
            !(lossy_mode && windows.iter().any(|(b, e)| w.began <= *e && w.ended >= *b))
        })
        .take(5)
        .map(|w| String::from_utf8_lossy(&w.line[..20.min(w.line.len())]).into_owned())
        .collect();
    let nunexplained = lost.len()
        - if sc.concurrent && sc.directives.contains("copytruncate") {
            lost.iter()
                .filter(|w| windows.iter().any(|(b, e)| w.began <= *e && w.ended >= *b))
                .count()
        } else {
            0
        };
    let files = listing(&rig.logs());
    let whereabouts = lost
        .iter()
        .take(1)
        .map(|w| {
            format!(
                "the first lost line, {:?}, is on disk in {:?}",
                String::from_utf8_lossy(&w.line[..20.min(w.line.len())]),
                holding(&rig.logs(), &w.line)
            )
        })
        .collect::<String>();
    assert!(
        dups.is_empty() && unexplained.is_empty(),
        "{} lines written, {} lost ({nunexplained} outside any logrotate run, e.g. {unexplained:?}), \
         {ndups} captured more than once (e.g. {dups:?}).\n{whereabouts}\nfiles now: {files}\nchain:\n{ledger_text}",
        written.len(),
        lost.len()
    );
    assert!(
        bad.is_empty(),
        "rotation by logrotate was recorded as tampering or loss: {bad:?}\nchain:\n{ledger_text}"
    );
}

#[test]
fn logrotate_create_under_a_writer_holding_its_descriptor() {
    logrotate_scenario(Scenario {
        directives: "    create 0640\n",
        pattern: "logs/app.log",
        keep: 3,
        running: 5,
        stopped: 0,
        concurrent: true,
        per_second: false,
        burst: 1,
        age_rotated: false,
    });
}

#[test]
fn logrotate_create_with_expiry_and_a_glob_matching_rotated_names() {
    // `rotate 2` with five rotations: the oldest rotated files are deleted by logrotate, which
    // is expiry, not tampering; `app.log*` also matches every rotated name.
    logrotate_scenario(Scenario {
        directives: "    create\n",
        pattern: "logs/app.log*",
        keep: 2,
        running: 5,
        stopped: 0,
        concurrent: true,
        per_second: false,
        burst: 1,
        age_rotated: false,
    });
}

#[test]
fn logrotate_copytruncate_while_the_writer_keeps_writing() {
    logrotate_scenario(Scenario {
        directives: "    copytruncate\n",
        pattern: "logs/app.log",
        keep: 4,
        running: 5,
        stopped: 0,
        concurrent: true,
        per_second: false,
        burst: 1,
        age_rotated: false,
    });
}

#[test]
fn logrotate_copytruncate_compress() {
    logrotate_scenario(Scenario {
        directives: "    copytruncate\n    compress\n",
        pattern: "logs/app.log",
        keep: 3,
        running: 4,
        stopped: 0,
        concurrent: false,
        per_second: false,
        burst: 1,
        age_rotated: false,
    });
}

#[test]
fn logrotate_compress_without_delay_while_the_writer_still_writes_the_old_file() {
    // Without delaycompress, gzip reads the rotated file while the writer may still be
    // writing to it until it reopens; those lines are only in the old inode, which logkeep
    // reads through its open descriptor.
    logrotate_scenario(Scenario {
        directives: "    compress\n    create\n",
        pattern: "logs/app.log",
        keep: 3,
        running: 4,
        stopped: 0,
        concurrent: true,
        per_second: false,
        burst: 1,
        age_rotated: false,
    });
}

#[test]
fn logrotate_compress_delaycompress() {
    logrotate_scenario(Scenario {
        directives: "    compress\n    delaycompress\n    create\n",
        pattern: "logs/app.log*",
        keep: 3,
        running: 5,
        stopped: 0,
        concurrent: true,
        per_second: false,
        burst: 1,
        age_rotated: false,
    });
}

#[test]
fn logrotate_dateext_with_epoch_seconds() {
    logrotate_scenario(Scenario {
        directives: "    create\n    dateext\n    dateformat -%s\n",
        pattern: "logs/app.log",
        keep: 3,
        running: 3,
        stopped: 0,
        concurrent: true,
        per_second: true,
        burst: 1,
        age_rotated: false,
    });
}

#[test]
fn logrotate_several_times_while_stopped_with_a_glob_matching_rotated_names() {
    logrotate_scenario(Scenario {
        directives: "    create\n",
        pattern: "logs/app.log*",
        keep: 5,
        running: 1,
        stopped: 3,
        concurrent: false,
        per_second: false,
        burst: 1,
        age_rotated: false,
    });
}

// `rotate 0`, `rotate 1`, olddir, dateext and maxage: logrotate removes a file logkeep follows,
// often before a scan has seen it renamed. logkeep holds it open and reads it to its end, and
// another file has its name: a rotation, never tamper, and every line captured once.

#[test]
fn logrotate_rotate_0_removes_the_followed_file_in_the_same_run() {
    logrotate_scenario(Scenario {
        directives: "    create\n",
        pattern: "logs/app.log",
        keep: 0,
        running: 5,
        stopped: 0,
        concurrent: true,
        per_second: false,
        burst: 1,
        age_rotated: false,
    });
}

#[test]
fn logrotate_rotate_1_twice_between_two_scans() {
    // The second run removes the file the first one renamed, as a rule before a scan saw the
    // rename; the generation made between the two runs is captured from its rotated name.
    logrotate_scenario(Scenario {
        directives: "    create\n",
        pattern: "logs/app.log",
        keep: 1,
        running: 4,
        stopped: 0,
        concurrent: true,
        per_second: false,
        burst: 2,
        age_rotated: false,
    });
}

#[test]
fn logrotate_olddir_rotate_0_and_rotate_1() {
    for keep in [0, 1] {
        logrotate_scenario(Scenario {
            directives: "    create\n    olddir old\n    createolddir 0755\n",
            pattern: "logs/app.log",
            keep,
            running: 4,
            stopped: 0,
            concurrent: true,
            per_second: false,
            burst: 1,
            age_rotated: false,
        });
    }
}

#[test]
fn logrotate_dateext_rotate_0_and_rotate_1() {
    for keep in [0, 1] {
        logrotate_scenario(Scenario {
            directives: "    create\n    dateext\n    dateformat -%s\n",
            pattern: "logs/app.log",
            keep,
            running: 3,
            stopped: 0,
            concurrent: true,
            per_second: true,
            burst: 1,
            age_rotated: false,
        });
    }
}

#[test]
fn logrotate_maxage_removes_rotated_files_seen_or_not() {
    // The rotated files are made old before every run, so that `maxage 1` removes them; with
    // two runs back to back it removes one a scan has not seen renamed.
    logrotate_scenario(Scenario {
        directives: "    create\n    maxage 1\n",
        pattern: "logs/app.log",
        keep: 5,
        running: 3,
        stopped: 0,
        concurrent: true,
        per_second: false,
        burst: 2,
        age_rotated: true,
    });
}

// Several rotations while logkeep is stopped, with `rotate` high enough that logrotate deletes
// nothing: every generation made and rotated away meanwhile is still on disk under a rotated
// name (plain, a copy, or a `.gz`) that the pattern does not match, and must be captured from
// there exactly once, next to the generation logkeep was following when it stopped and the
// rotated files it had captured before.

#[test]
fn logrotate_several_times_while_stopped_create() {
    logrotate_scenario(Scenario {
        directives: "    create\n",
        pattern: "logs/app.log",
        keep: 6,
        running: 1,
        stopped: 3,
        concurrent: false,
        per_second: false,
        burst: 1,
        age_rotated: false,
    });
}

#[test]
fn logrotate_several_times_while_stopped_copytruncate() {
    logrotate_scenario(Scenario {
        directives: "    copytruncate\n",
        pattern: "logs/app.log",
        keep: 6,
        running: 1,
        stopped: 3,
        concurrent: false,
        per_second: false,
        burst: 1,
        age_rotated: false,
    });
}

#[test]
fn logrotate_several_times_while_stopped_compress() {
    logrotate_scenario(Scenario {
        directives: "    create\n    compress\n",
        pattern: "logs/app.log",
        keep: 6,
        running: 1,
        stopped: 3,
        concurrent: false,
        per_second: false,
        burst: 1,
        age_rotated: false,
    });
}

#[test]
fn logrotate_several_times_while_stopped_delaycompress_and_glob() {
    // `app.log*` matches the plain rotated names but not the `.gz` ones: the generation
    // compressed a rotation later is only on disk as `app.log.2.gz`.
    logrotate_scenario(Scenario {
        directives: "    create\n    compress\n    delaycompress\n",
        pattern: "logs/app.log*",
        keep: 6,
        running: 1,
        stopped: 3,
        concurrent: false,
        per_second: false,
        burst: 1,
        age_rotated: false,
    });
}

// ---------------------------------------------------------------------------------------------
// Tampering

fn tampers(rig: &Rig) -> Vec<(String, u64, u64, Option<u64>, String)> {
    rig.events("tamper")
        .into_iter()
        .filter_map(|e| match e {
            Event::Tamper {
                path,
                gen_id,
                captured,
                size_now,
                what,
                ..
            } => Some((path, gen_id, captured, size_now, what)),
            _ => None,
        })
        .collect()
}

fn numbered(tag: &str, n: usize) -> Vec<u8> {
    (0..n)
        .flat_map(|i| format!("{tag} {i:06} the quick brown fox\n").into_bytes())
        .collect()
}

fn gen_of(rig: &Rig, path: &Path) -> u64 {
    let now = file_now(path).expect("file");
    let ledger = rig.ledger();
    *ledger
        .gens
        .iter()
        .filter(|(_, g)| (g.dev, g.ino) == now.key && g.finished.is_none())
        .map(|(id, _)| id)
        .max()
        .expect("a generation for the file")
}

#[test]
fn truncation_in_place_is_tamper_and_the_new_content_a_new_generation() {
    let mut rig = Rig::new(&[("t", &["logs/t.log"])]);
    let path = rig.log("t.log");
    rig.start();
    let old = numbered("old", 100);
    append(&path, &old);
    rig.settle(std::slice::from_ref(&path));
    let g = gen_of(&rig, &path);
    truncate_in_place(&path);
    let p = path.display().to_string();
    rig.wait_for("a tamper record, what = truncated", |recs| {
        recs.iter().any(|r| {
            matches!(&r.event, Event::Tamper { gen_id, what, captured, path: tp, .. }
                if *gen_id == g && what == "truncated" && *captured == old.len() as u64 && *tp == p)
        })
    });
    let new = numbered("new", 30);
    append(&path, &new);
    rig.settle(std::slice::from_ref(&path));
    rig.stop();
    rig.assert_verifies();
    let (_, report) = rig.verify();
    assert!(
        report.contains("alert"),
        "verify reports the tampering:\n{report}"
    );
    let outs = rig.extract();
    assert_eq!(
        outs.len(),
        2,
        "{:?}",
        outs.iter().map(|o| &o.output).collect::<Vec<_>>()
    );
    let by_gen = |id: u64| outs.iter().find(|o| o.gen_id == id).expect("output");
    assert!(
        by_gen(g).data == old,
        "the truncated generation is not what was written"
    );
    let newer = outs.iter().find(|o| o.gen_id != g).expect("new generation");
    assert!(
        newer.data == new,
        "the new generation is not captured from offset 0"
    );
}

#[test]
fn deletion_is_tamper() {
    let mut rig = Rig::new(&[("t", &["logs/t.log"])]);
    let path = rig.log("t.log");
    rig.start();
    let old = numbered("doomed", 80);
    append(&path, &old);
    rig.settle(std::slice::from_ref(&path));
    let g = gen_of(&rig, &path);
    fs::remove_file(&path).expect("rm");
    rig.wait_for("a tamper record, what = deleted", |recs| {
        recs.iter().any(|r| {
            matches!(&r.event, Event::Tamper { gen_id, what, captured, size_now: None, .. }
                if *gen_id == g && what == "deleted" && *captured == old.len() as u64)
        })
    });
    rig.stop();
    rig.assert_verifies();
    let (_, report) = rig.verify();
    assert!(
        report.contains("alert"),
        "verify reports the tampering:\n{report}"
    );
    let outs = rig.extract();
    assert_eq!(outs.len(), 1);
    assert!(outs[0].data == old);
}

/// Truncate and regrow past the old offset in one go: open with O_TRUNC and write more than
/// there was, with different content.
fn truncate_and_regrow(path: &Path, content: &[u8]) {
    let mut f = OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(path)
        .expect("open O_TRUNC");
    f.write_all(content).expect("regrow");
}

#[test]
fn truncate_then_regrow_past_the_old_offset_while_running() {
    let mut rig = Rig::new(&[("t", &["logs/t.log"])]);
    let path = rig.log("t.log");
    rig.start();
    let old = numbered("before", 60);
    append(&path, &old);
    rig.settle(std::slice::from_ref(&path));
    let g = gen_of(&rig, &path);
    let new = numbered("after", 200);
    assert!(new.len() > 2 * old.len());
    truncate_and_regrow(&path, &new);
    // Whether logkeep looks between the truncation and the write (it sees a shrink) or after
    // (it sees other content below its offset), the old generation ends with a tamper record.
    rig.wait_for("a tamper record for the old generation", |recs| {
        recs.iter().any(|r| {
            matches!(&r.event, Event::Tamper { gen_id, what, captured, .. }
                if *gen_id == g && (what == "truncated" || what == "rewritten")
                    && *captured == old.len() as u64)
        })
    });
    rig.settle(std::slice::from_ref(&path));
    rig.stop();
    rig.assert_verifies();
    let outs = rig.extract();
    assert!(outs.iter().find(|o| o.gen_id == g).expect("old").data == old);
    let fresh: Vec<&Out> = outs.iter().filter(|o| o.gen_id != g).collect();
    assert_eq!(fresh.len(), 1, "{:?}", tampers(&rig));
    assert!(
        fresh[0].data == new,
        "the new content is not captured whole from offset 0 ({} of {} bytes)",
        fresh[0].data.len(),
        new.len()
    );
}

/// Emptied in place and refilled to exactly its former size between two polls: same inode,
/// same size, other bytes. Only the file's times and content tell, and neither the old
/// generation's end nor the new bytes may be lost silently.
#[test]
fn truncated_and_refilled_to_the_same_size_between_polls_is_tamper_and_a_new_generation() {
    let mut rig = Rig::new(&[("t", &["logs/t.log"])]);
    let path = rig.log("t.log");
    rig.start();
    let old = numbered("aaa", 100);
    append(&path, &old);
    rig.settle(std::slice::from_ref(&path));
    let g = gen_of(&rig, &path);
    let ino = file_now(&path).expect("file").key;
    let new = numbered("bbb", 100);
    assert_eq!(new.len(), old.len());
    rig.between_polls(|| {
        truncate_in_place(&path);
        append(&path, &new);
    });
    assert_eq!(
        file_now(&path).expect("file").key,
        ino,
        "the inode was kept"
    );
    std::thread::sleep(Duration::from_secs(2));
    rig.stop();
    let t = tampers(&rig);
    assert!(
        t.iter().any(|(_, id, captured, size_now, what)| *id == g
            && *captured == old.len() as u64
            && *size_now == Some(new.len() as u64)
            && what == "rewritten"),
        "no tamper record for the first generation: {t:?}\nchain:\n{}",
        rig.chain_summary()
    );
    rig.assert_verifies();
    let outs = rig.extract();
    assert!(outs.iter().find(|o| o.gen_id == g).expect("old").data == old);
    let fresh: Vec<&Out> = outs.iter().filter(|o| o.gen_id != g).collect();
    assert_eq!(fresh.len(), 1, "{t:?}\nchain:\n{}", rig.chain_summary());
    assert!(
        fresh[0].data == new,
        "the second generation is not captured exactly ({} of {} bytes)",
        fresh[0].data.len(),
        new.len()
    );
}

#[test]
fn truncate_then_regrow_past_the_old_offset_while_stopped() {
    let mut rig = Rig::new(&[("t", &["logs/t.log"])]);
    let path = rig.log("t.log");
    rig.start();
    let old = numbered("before", 60);
    append(&path, &old);
    rig.settle(std::slice::from_ref(&path));
    let g = gen_of(&rig, &path);
    rig.stop();
    let new = numbered("after", 200);
    truncate_and_regrow(&path, &new);
    rig.start();
    rig.settle(std::slice::from_ref(&path));
    rig.stop();
    let t = tampers(&rig);
    assert!(
        t.iter().any(|(_, id, captured, _, what)| *id == g
            && *captured == old.len() as u64
            && (what == "truncated" || what == "rewritten")),
        "no tamper record for the overwritten generation: {t:?}"
    );
    rig.assert_verifies();
    let outs = rig.extract();
    assert!(outs.iter().find(|o| o.gen_id == g).expect("old").data == old);
    let fresh: Vec<&Out> = outs.iter().filter(|o| o.gen_id != g).collect();
    assert_eq!(fresh.len(), 1);
    assert!(
        fresh[0].data == new,
        "the new content is not captured whole from offset 0"
    );
}

// ---------------------------------------------------------------------------------------------
// Identity

/// A header longer than both fingerprint windows, as some appliances write at the top of each
/// file.
fn banner() -> Vec<u8> {
    let mut b = Vec::new();
    let mut i = 0;
    while b.len() < 2100 {
        b.extend_from_slice(
            format!("# RDP gateway audit log, format 7, field {i:03}\n").as_bytes(),
        );
        i += 1;
    }
    b
}

#[test]
fn files_with_identical_first_two_kib_are_captured_separately() {
    let mut rig = Rig::new(&[("gw", &["logs/*.log"])]);
    let (x, y) = (rig.log("x.log"), rig.log("y.log"));
    let mut xs = banner();
    let mut ys = banner();
    xs.extend_from_slice(&numbered("x", 20));
    ys.extend_from_slice(&numbered("y", 25));
    append(&x, &xs);
    append(&y, &ys);
    rig.start();
    rig.settle(&[x.clone(), y.clone()]);
    // After a restart each is recognised by its inode and resumed, not confused with the other.
    rig.stop();
    rig.start();
    let (mx, my) = (numbered("x-more", 10), numbered("y-more", 12));
    append(&x, &mx);
    append(&y, &my);
    xs.extend_from_slice(&mx);
    ys.extend_from_slice(&my);
    rig.settle(&[x.clone(), y.clone()]);
    rig.stop();
    rig.assert_verifies();
    let outs = rig.extract();
    assert_eq!(
        outs.len(),
        2,
        "{:?}",
        outs.iter().map(|o| &o.output).collect::<Vec<_>>()
    );
    assert!(
        outs.iter()
            .any(|o| o.data == xs && o.path.ends_with("x.log"))
    );
    assert!(
        outs.iter()
            .any(|o| o.data == ys && o.path.ends_with("y.log"))
    );
}

/// Write the banner and `n` numbered lines tagged `tag` to `path`, capture them, and stop:
/// what was written, and its generation.
fn banner_captured_then_stopped(rig: &mut Rig, path: &Path, tag: &str, n: usize) -> (Vec<u8>, u64) {
    let mut data = banner();
    data.extend_from_slice(&numbered(tag, n));
    append(path, &data);
    rig.start();
    rig.settle(&[path.to_owned()]);
    let g = gen_of(rig, path);
    rig.stop();
    (data, g)
}

/// `copytruncate` done by hand: copy the file to `copy`, then truncate it in place.
fn copy_then_truncate(live: &Path, copy: &Path) {
    fs::copy(live, copy).expect("copy");
    truncate_in_place(live);
}

#[test]
fn copies_with_the_same_first_kib_after_a_restart_are_told_apart_by_their_tail() {
    // Two copytruncate rotations while logkeep is stopped, of two generations that begin with
    // the same 2 KiB banner. The newer copy (`a.log.1`) is found first and is longer than what
    // was captured of the older generation; only the digest of the window before the captured
    // end tells that the older one's rest is in `a.log.2`.
    let mut rig = Rig::new(&[("gw", &["logs/a.log"])]);
    let live = rig.log("a.log");
    let (mut a, g) = banner_captured_then_stopped(&mut rig, &live, "gen-a", 50);
    let more = numbered("gen-a-while-stopped", 20);
    append(&live, &more);
    a.extend_from_slice(&more);
    copy_then_truncate(&live, &rig.log("a.log.1"));
    let mut b = banner();
    b.extend_from_slice(&numbered("gen-b", 400));
    append(&live, &b);
    fs::rename(rig.log("a.log.1"), rig.log("a.log.2")).expect("rename");
    copy_then_truncate(&live, &rig.log("a.log.1"));
    let c = numbered("gen-c", 10);
    append(&live, &c);

    rig.start();
    rig.settle(std::slice::from_ref(&live));
    rig.stop();
    rig.assert_verifies();
    let outs = rig.extract();
    let old = outs
        .iter()
        .find(|o| o.gen_id == g)
        .expect("the old generation");
    assert!(
        old.data == a,
        "the old generation was not finished from its own copy: {:?}\nchain:\n{}",
        summary(&outs),
        rig.chain_summary()
    );
    let closed = rig.events("closed");
    assert!(
        closed
            .iter()
            .any(|e| matches!(e, Event::Closed { gen_id, path, reason, .. }
            if *gen_id == g && path.ends_with("a.log.2") && reason == "rotated")),
        "the old generation is not closed at a.log.2: {closed:?}"
    );
    assert!(
        holding_exactly(&outs, &c).len() == 1,
        "the live file: {:?}",
        summary(&outs)
    );
    // The newer generation, never seen by logkeep, is captured from its copy as one of its own.
    assert!(
        holding_exactly(&outs, &b).len() == 1 && outs.len() == 3,
        "the copy of the unseen generation: {:?}\nchain:\n{}",
        summary(&outs),
        rig.chain_summary()
    );
    assert!(rig.events("tamper").is_empty(), "{}", rig.chain_summary());
}

#[test]
fn rewritten_while_stopped_with_the_same_first_kib_is_tamper_not_a_continuation() {
    // An appliance (or an intruder) rewrites the log while logkeep is stopped: same inode, same
    // banner, longer than what was captured. Its bytes past our position are not the old
    // generation's: the old one ends in a tamper record and the new content is captured whole.
    let mut rig = Rig::new(&[("t", &["logs/t.log"])]);
    let path = rig.log("t.log");
    let (old, g) = banner_captured_then_stopped(&mut rig, &path, "before", 40);
    let mut new = banner();
    new.extend_from_slice(&numbered("after", 200));
    truncate_and_regrow(&path, &new);
    rig.start();
    rig.settle(std::slice::from_ref(&path));
    rig.stop();
    let t = tampers(&rig);
    assert!(
        t.iter().any(|(_, id, captured, _, what)| *id == g
            && *captured == old.len() as u64
            && (what == "truncated" || what == "rewritten")),
        "no tamper record for the rewritten generation: {t:?}\nchain:\n{}",
        rig.chain_summary()
    );
    rig.assert_verifies();
    let outs = rig.extract();
    assert!(outs.iter().find(|o| o.gen_id == g).expect("old").data == old);
    let fresh: Vec<&Out> = outs.iter().filter(|o| o.gen_id != g).collect();
    assert!(
        fresh.len() == 1 && fresh[0].data == new,
        "the new content is not one generation captured whole from offset 0: {:?}",
        summary(&outs)
    );
}

#[test]
fn tiny_file_without_newline_then_restart() {
    let mut rig = Rig::new(&[("tiny", &["logs/*.log"])]);
    let (one, part) = (rig.log("one.log"), rig.log("part.log"));
    append(&one, b"x");
    rig.start();
    append(&part, b"2026-11-20 04:00:00 login fro");
    rig.settle(&[one.clone(), part.clone()]);
    // A last line without its newline, then a restart, then the rest of the line.
    rig.stop();
    append(&part, b"m 203.0.113.7\n");
    rig.start();
    rig.settle(&[one.clone(), part.clone()]);
    rig.stop();
    rig.assert_verifies();
    let outs = rig.extract();
    assert_eq!(
        outs.len(),
        2,
        "{:?}",
        outs.iter().map(|o| &o.output).collect::<Vec<_>>()
    );
    assert!(outs.iter().any(|o| o.data == b"x"));
    assert!(
        outs.iter()
            .any(|o| o.data == b"2026-11-20 04:00:00 login from 203.0.113.7\n")
    );
}

#[test]
fn long_lines_binary_and_empty_lines() {
    let mut rig = Rig::new(&[("raw", &["logs/raw.log"])]);
    let path = rig.log("raw.log");
    rig.start();
    let mut all = Vec::new();
    let mut rng = Rng::new(17);
    // A 3 MiB line written in uneven pieces, empty lines, and bytes that are not UTF-8.
    for _ in 0..30 {
        let piece: Vec<u8> = (0..rng.range(50_000, 150_000))
            .map(|_| b'A' + (rng.next() % 26) as u8)
            .collect();
        append(&path, &piece);
        all.extend_from_slice(&piece);
    }
    for chunk in [
        &b"\n\n\n"[..],
        &[0xff, 0xfe, 0x00, 0xc3, 0x28, b'\n'],
        b"\r\n\n",
    ] {
        append(&path, chunk);
        all.extend_from_slice(chunk);
    }
    rig.settle(std::slice::from_ref(&path));
    rig.stop();
    rig.assert_verifies();
    let outs = rig.extract();
    assert_eq!(outs.len(), 1);
    assert!(
        outs[0].data == all,
        "{} of {} bytes",
        outs[0].data.len(),
        all.len()
    );
}

/// Write `first` numbered lines tagged `tag` to `path`, capture them, restart, write `more`
/// lines tagged `TAG-more`, and capture those: everything written, with the daemon running.
fn captured_across_a_restart(
    rig: &mut Rig,
    path: &Path,
    tag: &str,
    first: usize,
    more: usize,
) -> Vec<u8> {
    let mut all = numbered(tag, first);
    append(path, &all);
    rig.start();
    rig.settle(&[path.to_owned()]);
    rig.stop();
    rig.start();
    let later = numbered(&format!("{tag}-more"), more);
    append(path, &later);
    all.extend_from_slice(&later);
    rig.settle(&[path.to_owned()]);
    all
}

#[test]
fn one_file_matched_by_two_globs_and_two_sources_is_captured_once() {
    let mut rig = Rig::new(&[
        ("first", &["logs/dup.log", "logs/d*.log"]),
        ("second", &["logs/dup.log", "logs/*"]),
    ]);
    let path = rig.log("dup.log");
    let all = captured_across_a_restart(&mut rig, &path, "dup", 40, 10);
    rig.stop();
    rig.assert_verifies();
    let outs = rig.extract();
    assert_eq!(
        outs.len(),
        1,
        "{:?}",
        outs.iter()
            .map(|o| (&o.output, o.data.len()))
            .collect::<Vec<_>>()
    );
    assert!(outs[0].data == all);
    // The first source that names the file claims it, so that a reader of the store finds it
    // under one source only.
    assert_eq!(outs[0].source, "first");
}

#[test]
fn symlinked_log_path_retargeted_captures_both_targets() {
    let mut rig = Rig::new(&[("link", &["logs/current.log"])]);
    let targets = rig.path("targets");
    fs::create_dir_all(&targets).expect("targets");
    let (t1, t2) = (targets.join("t1.log"), targets.join("t2.log"));
    let link = rig.log("current.log");
    std::os::unix::fs::symlink(&t1, &link).expect("symlink");
    let mut c1 = numbered("target-one", 50);
    append(&link, &c1);
    rig.start();
    rig.settle(std::slice::from_ref(&link));
    // Retarget atomically (a new link renamed over the old), as deployment tools do.
    let tmp = rig.log(".current.tmp");
    std::os::unix::fs::symlink(&t2, &tmp).expect("symlink");
    fs::rename(&tmp, &link).expect("retarget");
    let c2 = numbered("target-two", 40);
    append(&link, &c2);
    // A writer that still has the old target open goes on writing to it for a moment.
    let late = numbered("target-one-late", 5);
    append(&t1, &late);
    c1.extend_from_slice(&late);
    rig.settle(&[link.clone(), t1.clone()]);
    rig.stop();
    rig.assert_verifies();
    let outs = rig.extract();
    assert!(
        outs.iter().filter(|o| o.data == c1).count() == 1
            && outs.iter().filter(|o| o.data == c2).count() == 1,
        "{:?}",
        outs.iter()
            .map(|o| (&o.output, o.data.len()))
            .collect::<Vec<_>>()
    );
    assert!(fs::read(&t2).expect("t2") == c2);
}

// ---------------------------------------------------------------------------------------------
// Focused cases around rotated copies

#[test]
fn rotated_and_compressed_while_stopped_is_finished_from_the_gz() {
    // logkeep stops with a generation partly read; the file then grows, is renamed and gzipped
    // (the plain rotated file is gone). On restart the rest is read from the .gz.
    require_tool("gzip", "gzip");
    let mut rig = Rig::new(&[("app", &["logs/app.log"])]);
    let live = rig.log("app.log");
    let mut first = numbered("first", 100);
    append(&live, &first);
    rig.start();
    rig.settle(std::slice::from_ref(&live));
    rig.stop();
    let rest = numbered("first-unread", 400);
    append(&live, &rest);
    first.extend_from_slice(&rest);
    fs::rename(&live, rig.log("app.log.1")).expect("rotate");
    let st = Command::new("gzip")
        .arg(rig.log("app.log.1"))
        .status()
        .expect("gzip");
    assert!(st.success());
    let second = numbered("second", 50);
    append(&live, &second);
    rig.start();
    rig.settle(std::slice::from_ref(&live));
    rig.stop();
    rig.assert_verifies();
    let outs = rig.extract();
    assert!(
        outs.iter().filter(|o| o.data == first).count() == 1
            && outs.iter().filter(|o| o.data == second).count() == 1
            && outs.len() == 2,
        "{:?}\nchain:\n{}",
        outs.iter()
            .map(|o| (&o.output, o.data.len()))
            .collect::<Vec<_>>(),
        rig.chain_summary()
    );
}

#[test]
fn deleted_while_stopped_with_unread_bytes_is_a_gap() {
    // Bytes written after logkeep stopped and deleted before it started again are lost; the
    // chain must say so with a gap record from the committed end, never stay silent.
    let mut rig = Rig::new(&[("app", &["logs/app.log"])]);
    let live = rig.log("app.log");
    let first = numbered("kept", 60);
    append(&live, &first);
    rig.start();
    rig.settle(std::slice::from_ref(&live));
    let g = gen_of(&rig, &live);
    rig.stop();
    append(&live, &numbered("never-read", 60));
    fs::remove_file(&live).expect("rm");
    rig.start();
    let p = live.display().to_string();
    rig.wait_for("a gap record for the deleted generation", |recs| {
        recs.iter().any(|r| {
            matches!(&r.event, Event::Gap { gen_id, from, path, .. }
                if *gen_id == g && *from == first.len() as u64 && *path == p)
        })
    });
    rig.stop();
    rig.assert_verifies();
    let outs = rig.extract();
    assert_eq!(outs.len(), 1);
    assert!(outs[0].data == first);
}

#[test]
fn generation_found_renamed_after_a_restart_survives_the_next_restart() {
    // A file renamed while logkeep was stopped is found by its inode at the next start and
    // read at its new name, which the pattern does not match. At the start after that it must
    // be found again at that very name: the writer may still be appending to it (it has not
    // reopened yet), and it was neither deleted nor lost.
    let mut rig = Rig::new(&[("app", &["logs/app.log"])]);
    let live = rig.log("app.log");
    let rotated = rig.log("app.log.1");
    let mut old = numbered("old", 50);
    append(&live, &old);
    rig.start();
    rig.settle(std::slice::from_ref(&live));
    rig.stop();
    fs::rename(&live, &rotated).expect("rotate");
    let late = numbered("old-late", 10);
    append(&rotated, &late);
    old.extend_from_slice(&late);
    rig.start();
    rig.settle(std::slice::from_ref(&rotated));
    rig.stop();
    let later = numbered("old-later", 10);
    append(&rotated, &later);
    old.extend_from_slice(&later);
    rig.start();
    // Either it catches up with the file, or it gives the generation up with a gap record;
    // the assertions below tell which.
    let r = rotated.clone();
    rig.wait_for("app.log.1 captured whole, or a gap record", move |recs| {
        settled_in(&Ledger::from_records(recs), &r).is_ok()
            || recs.iter().any(|x| matches!(x.event, Event::Gap { .. }))
    });
    rig.stop();
    let gaps = rig.events("gap");
    rig.assert_verifies();
    let outs = rig.extract();
    assert!(
        outs.len() == 1 && outs[0].data == old && gaps.is_empty(),
        "want the one generation whole and no gap; got {:?}, gaps {gaps:?}\nchain:\n{}",
        outs.iter()
            .map(|o| (&o.output, o.data.len()))
            .collect::<Vec<_>>(),
        rig.chain_summary()
    );
}

// ---------------------------------------------------------------------------------------------
// Generations never seen under a watched name, and copies seen half-written

/// Rotate `live` as logrotate's `create` mode does, by hand: `NAME.N` becomes `NAME.N+1`,
/// `NAME` becomes `NAME.1`; the next append creates `NAME` again.
fn rotate_by_rename(live: &Path) {
    let dir = live.parent().expect("dir");
    let name = live
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    let numbered = |n: u32| dir.join(format!("{name}.{n}"));
    let mut top = 0;
    while numbered(top + 1).exists() {
        top += 1;
    }
    for n in (1..=top).rev() {
        fs::rename(numbered(n), numbered(n + 1)).expect("shift");
    }
    fs::rename(live, numbered(1)).expect("rotate");
}

/// Every output whose data is `want`.
fn holding_exactly<'a>(outs: &'a [Out], want: &[u8]) -> Vec<&'a Out> {
    outs.iter().filter(|o| o.data == want).collect()
}

fn summary(outs: &[Out]) -> Vec<(String, u64, usize)> {
    outs.iter()
        .map(|o| (o.path.clone(), o.gen_id, o.data.len()))
        .collect()
}

#[test]
fn rotations_faster_than_the_scan() {
    // Four rename rotations while the daemon is held between two polls: three generations are
    // created, written and rotated away to `app.log.N`, which the pattern does not match,
    // without logkeep ever seeing them at `app.log`. They are found among the rotated siblings
    // and captured from there; the generation it was following is read to its end through
    // its descriptor at `app.log.4`.
    let mut rig = Rig::new(&[("app", &["logs/app.log"])]);
    let live = rig.log("app.log");
    // A restart first: the store then holds generations, which is the harder case for telling
    // new rotated files from old ones.
    let mut a = captured_across_a_restart(&mut rig, &live, "gen-a", 200, 20);
    let later: Vec<Vec<u8>> = rig.between_polls(|| {
        // Written just before the first rotation: logkeep has not read it yet.
        let late = numbered("gen-a-late", 10);
        append(&live, &late);
        let mut gens = vec![late];
        for tag in ["gen-b", "gen-c", "gen-d"] {
            rotate_by_rename(&live);
            let g = numbered(tag, 150);
            append(&live, &g);
            gens.push(g);
        }
        rotate_by_rename(&live);
        let e = numbered("gen-e", 40);
        append(&live, &e);
        gens.push(e);
        gens
    });
    a.extend_from_slice(&later[0]);
    rig.settle(&rig.plain_logs());
    rig.stop();
    rig.assert_verifies();
    let outs = rig.extract();
    let mut want = vec![a];
    want.extend_from_slice(&later[1..]);
    for w in &want {
        assert_eq!(
            holding_exactly(&outs, w).len(),
            1,
            "a generation ({} bytes, {:?}...) is not captured exactly once: {:?}\nchain:\n{}",
            w.len(),
            String::from_utf8_lossy(&w[..20]),
            summary(&outs),
            rig.chain_summary()
        );
    }
    assert_eq!(outs.len(), want.len(), "{:?}", summary(&outs));
    assert!(
        rig.events("tamper").is_empty() && rig.events("gap").is_empty(),
        "rotation recorded as tampering or loss:\n{}",
        rig.chain_summary()
    );
}

#[test]
fn copytruncate_copy_seen_half_written_with_a_glob_matching_it() {
    // `app.log*` matches the copy `app.log.1` that copytruncate makes. It is written slowly, in
    // pieces, once with a stall longer than logkeep's patience for a file that stopped
    // growing, so logkeep sees it while it holds only a prefix of the generation it captured.
    // It must never become a generation of its own: the old generation is finished from it
    // once the original is truncated, and its bytes are captured once.
    let mut rig = Rig::new(&[("app", &["logs/app.log*"])]);
    let live = rig.log("app.log");
    let copy = rig.log("app.log.1");
    let old = numbered("old", 6000);
    append(&live, &old);
    rig.start();
    rig.settle(std::slice::from_ref(&live));
    let g = gen_of(&rig, &live);
    let mut f = File::create(&copy).expect("copy");
    let pieces: Vec<&[u8]> = old.chunks(old.len() / 6 + 1).collect();
    for (i, piece) in pieces.iter().enumerate() {
        f.write_all(piece).expect("copy piece");
        f.sync_data().expect("sync");
        let stall = if i == 2 { 1500 } else { 200 };
        std::thread::sleep(Duration::from_millis(stall));
    }
    drop(f);
    truncate_in_place(&live);
    let new = numbered("new", 50);
    append(&live, &new);
    let c = copy.display().to_string();
    rig.wait_for("the old generation closed at its copy", |recs| {
        recs.iter().any(|r| {
            matches!(&r.event, Event::Closed { gen_id, path, end, .. }
                if *gen_id == g && *path == c && *end == old.len() as u64)
        })
    });
    rig.settle(std::slice::from_ref(&live));
    rig.stop();
    rig.assert_verifies();
    let outs = rig.extract();
    assert!(
        outs.len() == 2
            && holding_exactly(&outs, &old).len() == 1
            && holding_exactly(&outs, &new).len() == 1,
        "want the old and the new generation, once each: {:?}\nchain:\n{}",
        summary(&outs),
        rig.chain_summary()
    );
    assert!(rig.events("tamper").is_empty(), "{}", rig.chain_summary());
}

/// Run the real logrotate and hold it still while it writes the copy `copy` of `live`, as a
/// loaded disk would, until the daemon has had time to look: logkeep then sees a copy that
/// holds a prefix of the generation it captured. The daemon is held still until logrotate is
/// caught, so that the two cores are free to catch it. Returns whether logrotate was caught
/// before the copy was whole.
fn logrotate_caught_copying(
    rig: &Rig,
    conf: &Path,
    state: &Path,
    live: &Path,
    copy: &Path,
) -> bool {
    use rustix::process::{Pid, Signal, kill_process};
    let full = fs::metadata(live).expect("the live log").len();
    // The copy is a new file: the one there now is renamed away first.
    let earlier = fs::metadata(copy).map(|m| m.ino()).ok();
    let daemon = rig.pid();
    kill_process(daemon, Signal::STOP).expect("SIGSTOP the daemon");
    // At the lowest priority, so that this thread, spinning, runs whenever both want a core.
    let mut child = Command::new("nice")
        .args(["-n", "19", "logrotate"])
        .arg("-f")
        .arg("-s")
        .arg(state)
        .arg(conf)
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("run logrotate");
    let pid = Pid::from_raw(child.id() as i32).expect("pid");
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut caught = false;
    while Instant::now() < deadline {
        if fs::metadata(copy).is_ok_and(|m| Some(m.ino()) != earlier) {
            kill_process(pid, Signal::STOP).expect("SIGSTOP logrotate");
            // Stopped after its last write, or before it: caught if the copy is not whole.
            caught = fs::metadata(copy).is_ok_and(|m| m.len() < full);
            kill_process(daemon, Signal::CONT).expect("SIGCONT the daemon");
            std::thread::sleep(Duration::from_millis(400));
            kill_process(pid, Signal::CONT).expect("SIGCONT logrotate");
            break;
        }
        if child.try_wait().expect("try_wait").is_some() {
            break;
        }
    }
    // The daemon goes on in every case (it may still be stopped if logrotate was never seen).
    kill_process(daemon, Signal::CONT).expect("SIGCONT the daemon");
    let st = child.wait().expect("wait for logrotate");
    assert!(st.success(), "logrotate failed: {st}");
    caught
}

#[test]
fn real_logrotate_copytruncate_caught_copying_with_a_glob_matching_the_copy() {
    // The same pitfall as above with the real logrotate, held still mid-copy: `app.log*`
    // matches the copy `app.log.1`; seen while logrotate still writes it, it holds a prefix of
    // the generation already captured. It must not become a generation of its own, then or
    // once complete, and every line is captured exactly once.
    require_tool("logrotate", "logrotate");
    require_tool("nice", "coreutils");
    let mut rig = Rig::new(&[("app", &["logs/app.log*"])]);
    let live = rig.log("app.log");
    let copy = rig.log("app.log.1");
    let conf = rig.path("logrotate.conf");
    let state = rig.path("logrotate.state");
    fs::write(
        &conf,
        format!(
            "{} {{\n    rotate 9\n    missingok\n    copytruncate\n}}\n",
            live.display()
        ),
    )
    .expect("logrotate.conf");
    let mut written: Vec<u8> = Vec::new();
    let mut round = 0;
    let mut write = |lines: usize, written: &mut Vec<u8>| {
        round += 1;
        let data = numbered(&format!("r{round:02}"), lines);
        append(&live, &data);
        written.extend_from_slice(&data);
    };
    write(50, &mut written);
    rig.start();
    // Until logrotate has been caught copying twice: whether this thread gets a core in the
    // fraction of a millisecond a copy takes is up to the scheduler.
    let mut caught = 0;
    for i in 0..8 {
        // Enough that copying takes many writes. A different size each round: a file emptied
        // and refilled to exactly its former size between two polls is another pitfall, not
        // this one.
        write(80_000 + 13 * i, &mut written);
        rig.settle(std::slice::from_ref(&live));
        if logrotate_caught_copying(&rig, &conf, &state, &live, &copy) {
            caught += 1;
        }
        write(100, &mut written);
        if caught == 2 {
            break;
        }
    }
    assert!(caught > 0, "logrotate was never caught writing its copy");
    rig.settle(std::slice::from_ref(&live));
    rig.stop();
    rig.assert_verifies();
    let outs = rig.extract();
    let counts = line_counts(&outs);
    let lines = lines_of(&written);
    assert!(!lines.is_empty(), "nothing was written");
    let wrong: Vec<String> = lines
        .iter()
        .filter(|l| counts.get(**l) != Some(&1))
        .take(5)
        .map(|l| format!("{:?}x {}", counts.get(*l), String::from_utf8_lossy(l)))
        .collect();
    assert!(
        wrong.is_empty(),
        "lines not captured exactly once (count, line): {wrong:?}\nchain:\n{}",
        rig.chain_summary()
    );
    assert_eq!(
        counts.len(),
        lines.len(),
        "captured lines that were never written\nchain:\n{}",
        rig.chain_summary()
    );
}

#[test]
fn a_new_file_that_starts_like_a_followed_one_is_not_taken_for_a_copy() {
    // The opposite risk: a file under a rotated-looking name that begins with the same 2 KiB
    // banner as the followed log, shorter than it, is a log of its own (a copy would repeat
    // every byte). It is captured, however long it stays shorter.
    let mut rig = Rig::new(&[("gw", &["logs/gw.log*"])]);
    let (live, other) = (rig.log("gw.log"), rig.log("gw.log.2"));
    let mut main = banner();
    main.extend_from_slice(&numbered("main", 300));
    append(&live, &main);
    rig.start();
    rig.settle(std::slice::from_ref(&live));
    let mut second = banner();
    second.extend_from_slice(&numbered("second", 5));
    append(&other, &second);
    rig.settle(&[live.clone(), other.clone()]);
    rig.stop();
    rig.assert_verifies();
    let outs = rig.extract();
    assert!(
        outs.len() == 2
            && holding_exactly(&outs, &main).len() == 1
            && holding_exactly(&outs, &second).len() == 1,
        "{:?}",
        summary(&outs)
    );
}

#[test]
fn rotated_sibling_deleted_while_stopped_leaves_a_gap_and_the_survivor_is_captured_once() {
    // `rotate 1`, three rotations while logkeep is stopped. The generation it was following
    // (with lines written after it stopped) and the next one are deleted by logrotate before
    // logkeep could read them; the one after that is at `app.log.1`, the newest at `app.log`.
    // The chain must say what is known to be lost (a gap from the captured end of the
    // followed generation), capture what survives exactly once, and record no tampering.
    // `app.log.1` matches no generation the chain holds, followed or finished, so it is one
    // logkeep never saw.
    require_tool("logrotate", "logrotate");
    let mut rig = Rig::new(&[("app", &["logs/app.log"])]);
    let live = rig.log("app.log");
    let conf = rig.path("logrotate.conf");
    let state = rig.path("logrotate.state");
    fs::write(
        &conf,
        format!(
            "{} {{\n    rotate 1\n    create\n    missingok\n}}\n",
            live.display()
        ),
    )
    .expect("logrotate.conf");
    let a = numbered("gen-a", 120);
    append(&live, &a);
    rig.start();
    rig.settle(std::slice::from_ref(&live));
    let g = gen_of(&rig, &live);
    let a_ino = fs::metadata(&live).expect("live").ino();
    rig.stop();
    let unread = numbered("gen-a-unread", 30);
    append(&live, &unread);
    run_logrotate(&conf, &state);
    let b = numbered("gen-b", 60);
    append(&live, &b);
    run_logrotate(&conf, &state);
    let c = numbered("gen-c", 70);
    append(&live, &c);
    run_logrotate(&conf, &state);
    let d = numbered("gen-d", 40);
    append(&live, &d);
    // On file systems that give a freed inode to the next new file, as ext4 often does,
    // `app.log.1` has the inode of the followed generation's file, and the gap says so.
    let witnessed = fs::metadata(rig.log("app.log.1")).expect("app.log.1").ino() == a_ino;
    let reused_live = fs::metadata(&live).expect("app.log").ino() == a_ino;
    rig.start();
    rig.settle(&[live.clone(), rig.log("app.log.1")]);
    rig.stop();
    rig.assert_verifies();
    let p = live.display().to_string();
    let gaps = rig.events("gap");
    assert!(
        gaps.iter().any(
            |e| matches!(e, Event::Gap { gen_id, from, path, size_seen: None, .. }
            if *gen_id == g && *from == a.len() as u64 && *path == p)
        ),
        "no gap record from the captured end of the followed generation: {gaps:?}\nchain:\n{}",
        rig.chain_summary()
    );
    assert!(rig.events("tamper").is_empty(), "{}", rig.chain_summary());
    let outs = rig.extract();
    let counts = line_counts(&outs);
    let twice: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "captured twice: {twice:?}");
    assert_eq!(holding_exactly(&outs, &a).len(), 1, "{:?}", summary(&outs));
    assert_eq!(holding_exactly(&outs, &d).len(), 1, "{:?}", summary(&outs));
    for l in lines_of(&unread).into_iter().chain(lines_of(&b)) {
        assert!(!counts.contains_key(l), "a deleted line came back");
    }
    assert_eq!(
        holding_exactly(&outs, &c).len(),
        1,
        "the surviving rotated generation is not captured: {:?}\nchain:\n{}",
        summary(&outs),
        rig.chain_summary()
    );
    // Whether the file system gave the freed inode to a newer file is its choice: each case
    // has its own reason, and each is checked (none is skipped).
    let gap_says = |what: &str| {
        gaps.iter().any(|e| {
            matches!(e, Event::Gap { gen_id, reason, .. }
            if *gen_id == g && reason.contains(what))
        })
    };
    if witnessed {
        assert!(gap_says("rotated away and deleted"), "{gaps:?}");
    } else if reused_live {
        assert!(
            gap_says("rotated away and deleted") || gap_says("file gone while logkeep was stopped"),
            "the inode was reused by app.log: {gaps:?}"
        );
    } else {
        assert!(
            gap_says("file gone while logkeep was stopped"),
            "no file holds the followed generation's inode, so the gap must say the file is gone: \
             {gaps:?}"
        );
    }
}

#[test]
fn a_source_added_to_an_existing_store_keeps_the_rotated_files_it_finds() {
    // The store already follows one source. The administrator adds the VPN log, which has been
    // rotating for weeks: its rotated files are evidence too and are captured, once, the same
    // as on a new store; the first source's rotated file, captured by the first run, is not
    // captured again.
    let mut rig = Rig::new(&[("app", &["logs/app.log"])]);
    let app_old = numbered("app-rotated", 30);
    append(&rig.log("app.log.1"), &app_old);
    let app = numbered("app", 50);
    append(&rig.log("app.log"), &app);
    rig.start();
    rig.settle(&[rig.log("app.log"), rig.log("app.log.1")]);
    rig.stop();

    let vpn = numbered("vpn", 40);
    let vpn1 = numbered("vpn-rotated-1", 30);
    let vpn2 = numbered("vpn-rotated-2", 20);
    append(&rig.log("vpn.log"), &vpn);
    append(&rig.log("vpn.log.1"), &vpn1);
    append(&rig.log("vpn.log.2"), &vpn2);
    let st = Command::new("gzip")
        .arg("-n")
        .arg(rig.log("vpn.log.2"))
        .status()
        .expect("run gzip");
    assert!(st.success(), "gzip failed");
    let mut config = fs::read_to_string(rig.path("c.toml")).expect("config");
    config.push_str("\n[[source]]\nid = \"vpn\"\npaths = [\"logs/vpn.log\"]\n");
    fs::write(rig.path("c.toml"), config).expect("write config");

    rig.start();
    rig.settle(&[rig.log("vpn.log"), rig.log("vpn.log.1")]);
    rig.wait_for("the rotated vpn.log.2.gz closed", |recs| {
        recs.iter().any(
            |r| matches!(&r.event, Event::Closed { path, .. } if path.ends_with("vpn.log.2.gz")),
        )
    });
    rig.stop();
    rig.assert_verifies();
    let outs = rig.extract();
    for (what, want) in [
        ("vpn.log", &vpn),
        ("vpn.log.1", &vpn1),
        ("vpn.log.2.gz", &vpn2),
        ("app.log", &app),
        ("app.log.1", &app_old),
    ] {
        assert_eq!(
            holding_exactly(&outs, want).len(),
            1,
            "{what} is not captured exactly once: {:?}\nchain:\n{}",
            summary(&outs),
            rig.chain_summary()
        );
    }
    assert_eq!(outs.len(), 5, "{:?}", summary(&outs));
    assert!(rig.events("tamper").is_empty(), "{}", rig.chain_summary());
}

/// Bytes the daemon has read so far with read system calls of any kind (`rchar`).
fn bytes_read(rig: &Rig) -> u64 {
    let io = fs::read_to_string(format!("/proc/{}/io", rig.pid().as_raw_nonzero()))
        .expect("read /proc/PID/io of the daemon");
    io.lines()
        .find_map(|l| l.strip_prefix("rchar: "))
        .and_then(|n| n.trim().parse().ok())
        .expect("rchar in /proc/PID/io")
}

/// Whether the daemon has a descriptor open on `path`.
fn holds_open(rig: &Rig, path: &Path) -> bool {
    fs::read_dir(format!("/proc/{}/fd", rig.pid().as_raw_nonzero()))
        .map(|d| {
            d.flatten()
                .any(|e| fs::read_link(e.path()).is_ok_and(|l| l == path))
        })
        .unwrap_or(false)
}

#[test]
fn tampering_seals_what_was_read_at_once_unless_on_tamper_is_record() {
    // With an hour's seal interval, what was read sits in the open segment. A truncation seals
    // it at once by default, so the evidence up to the tampering is durable and chained before
    // the tamper record; with `on_tamper = "record"` the tamper record is written at once and
    // the bytes wait for the seal (here, the clean stop).
    for record_only in [false, true] {
        let knobs = Knobs {
            scan_interval: "100ms",
            seal_interval: "1h",
            segment_max_bytes: "64MiB",
            store_extra: "",
        };
        let mut rig = Rig::with(knobs, &[("t", &["logs/t.log"])]);
        if record_only {
            let c = fs::read_to_string(rig.path("c.toml")).expect("config");
            let c = c.replacen("[store]\n", "[store]\non_tamper = \"record\"\n", 1);
            fs::write(rig.path("c.toml"), c).expect("write config");
        }
        let path = rig.log("t.log");
        let data = numbered("evidence", 4000);
        append(&path, b"");
        rig.start();
        // Once the daemon follows the empty file, count what it reads from the appends on.
        let deadline = Instant::now() + PATIENCE;
        while !holds_open(&rig, &path) {
            assert!(
                Instant::now() < deadline,
                "the daemon did not open t.log within {PATIENCE:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let before = bytes_read(&rig);
        append(&path, &data);
        while bytes_read(&rig) < before + data.len() as u64 {
            assert!(
                Instant::now() < deadline,
                "the daemon did not read t.log within {PATIENCE:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        // The read is in the poll that opened the file; let that poll finish.
        std::thread::sleep(Duration::from_millis(300));
        truncate_in_place(&path);
        rig.wait_for("a tamper record", |recs| {
            recs.iter()
                .any(|r| matches!(&r.event, Event::Tamper { what, .. } if what == "truncated"))
        });
        let recs = rig.records();
        let tamper_at = recs
            .iter()
            .position(|r| matches!(r.event, Event::Tamper { .. }))
            .expect("tamper");
        let sealed_before = recs[..tamper_at].iter().any(|r| {
            matches!(&r.event, Event::Segment { spans, .. }
                if spans.iter().any(|s| s.end == data.len() as u64))
        });
        let sealed_after = recs[tamper_at..]
            .iter()
            .any(|r| matches!(r.event, Event::Segment { .. }));
        assert!(
            sealed_before != record_only && !sealed_after,
            "record_only {record_only}: the bytes read are sealed before the tamper record: \
             {sealed_before}, after it: {sealed_after}\n{}",
            rig.chain_summary()
        );
        rig.stop();
        rig.assert_verifies();
        let outs = rig.extract();
        assert!(
            outs.len() == 1 && outs[0].data == data,
            "record_only {record_only}: {:?}",
            summary(&outs)
        );
    }
}

#[test]
fn thousands_of_files_under_a_low_open_file_limit_are_all_captured() {
    // 3,000 logs in 30 directories under one `**` pattern, and the daemon started with the
    // soft open-file limit a shell or a service gets (1,024): it follows every file with a
    // descriptor of its own, so it raises that limit; the directories, not the files, are
    // watched. Every file is captured exactly, then again after appends to some of them.
    let hard = rustix::process::getrlimit(rustix::process::Resource::Nofile).maximum;
    assert!(
        hard.is_none_or(|m| m >= 8192),
        "this test needs a hard open-file limit of at least 8192 (ulimit -Hn), not {hard:?}"
    );
    let mut rig = Rig::new(&[("gw", &["logs/**/*.log"])]);
    rig.nofile = Some("1024:");
    let paths = many_logs(&rig);
    rig.start();
    rig.settle(&paths);
    for p in paths.iter().step_by(10) {
        append(p, b"one more line after the first capture\n");
    }
    rig.settle(&paths);
    rig.stop();
    rig.assert_verifies();
    let outs = rig.extract();
    assert_eq!(outs.len(), paths.len(), "one generation per file");
    for p in &paths {
        let want = fs::read(p).expect("read log");
        let name = p.display().to_string();
        let got: Vec<&Out> = outs.iter().filter(|o| o.path == name).collect();
        assert!(
            got.len() == 1 && got[0].data == want,
            "{name} is not captured exactly"
        );
    }
}

/// 3,000 small logs in 30 directories under `logs/`.
fn many_logs(rig: &Rig) -> Vec<PathBuf> {
    let mut paths = Vec::new();
    for d in 0..30 {
        let dir = rig.logs().join(format!("site{d:02}"));
        fs::create_dir_all(&dir).expect("mkdir");
        for f in 0..100 {
            let p = dir.join(format!("tunnel{f:03}.log"));
            append(&p, &numbered(&format!("site{d:02}-tunnel{f:03}"), 2));
            paths.push(p);
        }
    }
    paths
}

#[test]
fn more_files_than_the_hard_open_file_limit_allows_do_not_starve_the_store() {
    // A hard limit of 1,024 descriptors and 3,000 files: the daemon cannot follow them all. It
    // follows as many as leave the store descriptors to write with, says so, and commits what
    // it reads, rather than taking every descriptor and then failing to write anything.
    let mut rig = Rig::new(&[("gw", &["logs/**/*.log"])]);
    rig.nofile = Some("1024:1024");
    let c = fs::read_to_string(rig.path("c.toml")).expect("config");
    fs::write(
        rig.path("c.toml"),
        format!("{c}\n[control]\nsocket = \"ctl.sock\"\n"),
    )
    .expect("write config");
    let paths = many_logs(&rig);
    rig.start();
    rig.wait_for("500 files captured", |recs| {
        Ledger::from_records(recs)
            .gens
            .values()
            .filter(|g| g.end > 0)
            .count()
            >= 500
    });
    // Files that wait and are deleted before they could be followed are not lost silently.
    // Which ones wait: those the daemon holds no descriptor for.
    let open: HashSet<PathBuf> = fs::read_dir(format!("/proc/{}/fd", rig.pid().as_raw_nonzero()))
        .expect("list the daemon's descriptors")
        .flatten()
        .filter_map(|e| fs::read_link(e.path()).ok())
        .collect();
    let doomed: Vec<PathBuf> = paths
        .iter()
        .filter(|p| !open.contains(*p))
        .take(50)
        .cloned()
        .collect();
    assert_eq!(doomed.len(), 50, "fewer than 50 files wait");
    // `logkeep status` lists the files that wait.
    let status = |json: bool| {
        let mut cmd = Command::new(bin());
        cmd.arg("status").arg("--socket").arg(rig.path("ctl.sock"));
        if json {
            cmd.arg("--json");
        }
        let out = cmd.output().expect("run logkeep status");
        assert!(out.status.success(), "logkeep status failed");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let st: serde_json::Value = serde_json::from_str(&status(true)).expect("status json");
    let listed = st["sources"][0]["waiting"]
        .as_array()
        .map_or(0, |w| w.len());
    let not_open = paths.iter().filter(|p| !open.contains(*p)).count();
    assert_eq!(listed, not_open, "files waiting in `logkeep status`");
    assert!(
        status(false).contains(&format!("{not_open} more file(s) wait for a descriptor")),
        "{}",
        status(false)
    );
    for p in &doomed {
        fs::remove_file(p).expect("rm");
    }
    let names: HashSet<String> = doomed.iter().map(|p| p.display().to_string()).collect();
    rig.wait_for(
        "a gap record for each file deleted while it waited",
        |recs| {
            recs.iter()
                .filter(|r| {
                    matches!(&r.event, Event::Gap { path, reason, size_seen: Some(_), .. }
                    if names.contains(path) && reason.contains("open-file limit"))
                })
                .count()
                == names.len()
        },
    );
    rig.stop();
    let log = fs::read_to_string(rig.path("daemon.log")).expect("daemon log");
    assert!(
        log.contains("open-file limit allows"),
        "no warning about the open-file limit in the daemon's log"
    );
    rig.assert_verifies();
    let outs = rig.extract();
    assert!(
        (500..1024).contains(&outs.len()),
        "{} files captured",
        outs.len()
    );
    for o in &outs {
        let p = paths
            .iter()
            .find(|p| p.display().to_string() == o.path)
            .expect("a captured file is one of the logs");
        assert!(
            !doomed.contains(p),
            "{} was deleted before it was followed",
            o.path
        );
        assert!(
            o.data == fs::read(p).expect("read"),
            "{} not captured exactly",
            o.path
        );
    }
}
