//! Capture through rotation with the real `logrotate` in every mode, through truncation and
//! deletion (recorded as tampering), and through a model-based run of random writes, rotations,
//! copytruncates, compressions, deletions, restarts and `kill -9`s: every line written is
//! captured exactly once.

use crate::harness::*;
use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn config(patterns: &str) -> String {
    format!(
        "[store]\npath = \"store\"\nseal_interval = \"200ms\"\nscan_interval = \"100ms\"\nsegment_max_bytes = \"16KiB\"\n\
         [[source]]\nid = \"app\"\npaths = [{patterns}]\n"
    )
}

/// Every line of every extracted generation whose path contains `stem`, counted.
fn captured_lines(store: &Path, stem: &str) -> BTreeMap<Vec<u8>, usize> {
    let out = tempfile::tempdir().expect("tmp");
    let dest = out.path().join("x");
    let (code, text) = logkeep(&[
        "extract",
        store.to_str().expect("utf-8"),
        "--out",
        dest.to_str().expect("utf-8"),
    ]);
    assert_eq!(code, 0, "{text}");
    let mut lines = BTreeMap::new();
    for p in walk(&dest) {
        if !p.to_string_lossy().contains(stem) {
            continue;
        }
        for l in fs::read(&p)
            .expect("read")
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
        {
            *lines.entry(l.to_vec()).or_insert(0) += 1;
        }
    }
    lines
}

fn assert_exactly_once(store: &Path, stem: &str, written: &[Vec<u8>]) {
    let (code, out) = verify(store, &[]);
    assert_eq!(code, 0, "{out}");
    let got = captured_lines(store, stem);
    let dups: Vec<_> = got
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(l, _)| String::from_utf8_lossy(l).into_owned())
        .take(5)
        .collect();
    assert!(dups.is_empty(), "captured twice: {dups:?}");
    let missing: Vec<_> = written
        .iter()
        .filter(|l| !got.contains_key(*l))
        .map(|l| String::from_utf8_lossy(l).into_owned())
        .take(5)
        .collect();
    assert!(
        missing.is_empty(),
        "lost {} lines, e.g. {missing:?}",
        written.iter().filter(|l| !got.contains_key(*l)).count()
    );
    assert_eq!(got.len(), written.len(), "extra lines captured");
}

/// Wait until the chain has committed everything the files under logs/ hold now (by size).
fn wait_settled(site: &Site) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut last = usize::MAX;
    let mut stable = 0;
    loop {
        let n = records(&site.path("store")).len();
        stable = if n == last { stable + 1 } else { 0 };
        last = n;
        if stable >= 8 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the chain never settled: {}",
            site.stderr()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A writer as daemons are: it keeps its descriptor and reopens only when told to (the
/// logrotate `postrotate` script touches a flag file, the stand-in for SIGHUP).
struct Writer {
    path: PathBuf,
    flag: PathBuf,
    file: File,
    n: u64,
    tag: String,
    written: Vec<Vec<u8>>,
}

impl Writer {
    fn new(path: PathBuf, tag: &str) -> Writer {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .expect("open");
        let flag = path.with_extension("reopen");
        Writer {
            path,
            flag,
            file,
            n: 0,
            tag: tag.into(),
            written: Vec::new(),
        }
    }

    fn write(&mut self, lines: u64) {
        if self.flag.exists() {
            fs::remove_file(&self.flag).expect("flag");
            self.file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)
                .expect("reopen");
        }
        let mut buf = Vec::new();
        for _ in 0..lines {
            self.n += 1;
            let line = format!(
                "{} {:06} user{} from 203.0.113.{} port {}",
                self.tag,
                self.n,
                self.n % 7,
                self.n % 250,
                40000 + self.n % 9000
            );
            buf.extend_from_slice(line.as_bytes());
            buf.push(b'\n');
            self.written.push(line.into_bytes());
        }
        self.file.write_all(&buf).expect("write");
    }
}

fn logrotate(conf: &Path, state: &Path) {
    let out = Command::new("logrotate")
        .arg("-f")
        .arg("-s")
        .arg(state)
        .arg(conf)
        .output()
        .unwrap_or_else(|e| panic!("logrotate: {e}: install it: apt-get install logrotate"));
    assert!(
        out.status.success(),
        "logrotate failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn rotation_case(mode: &str, patterns: &str, stopped_rotations: bool) {
    let mut site = Site::with_config(&config(patterns));
    let log = site.path("logs/app.log");
    let conf = site.path("lr.conf");
    fs::write(
        &conf,
        format!(
            "{} {{\n  rotate 3\n  missingok\n  {mode}\n  postrotate\n    touch {}\n  endscript\n}}\n",
            log.display(),
            log.with_extension("reopen").display()
        ),
    )
    .expect("logrotate conf");
    let state = site.path("lr.state");
    let mut w = Writer::new(log.clone(), mode.split_whitespace().next().unwrap_or("x"));
    w.write(50);
    site.start();
    for round in 0..4 {
        w.write(300);
        if mode.contains("dateext") {
            // The date format has one-second resolution: two rotations must not share a second.
            std::thread::sleep(Duration::from_millis(1100));
        }
        // logkeep runs long before logrotate does: let it see this generation first. (A
        // generation created and rotated away between two scans, under a name the patterns do
        // not match, is never seen; patterns that match the rotated names avoid that.)
        wait_settled(&site);
        logrotate(&conf, &state);
        // Written to the old descriptor after the rotation, before the writer reopens.
        w.write(20);
        w.write(100);
        if round == 1 && stopped_rotations {
            wait_settled(&site);
            site.stop();
            w.write(80);
            logrotate(&conf, &state);
            w.write(10);
            w.write(60);
            logrotate(&conf, &state);
            w.write(40);
            site.start();
        }
    }
    wait_settled(&site);
    site.stop();
    assert_exactly_once(&site.path("store"), "app.log", &w.written);
}

#[test]
fn logrotate_create() {
    rotation_case("create", "\"logs/app.log\"", false);
}

#[test]
fn logrotate_copytruncate() {
    rotation_case("copytruncate", "\"logs/app.log\"", false);
}

#[test]
fn logrotate_compress() {
    rotation_case("create\n  compress", "\"logs/app.log\"", false);
}

/// Run logrotate and hold it still while it writes the copy `copy` of `live` (8 KiB at a time),
/// as a loaded disk would, until the daemon `daemon` has had time to look: logkeep then sees a
/// copy that holds a prefix of the generation it captured. The daemon is held still until
/// logrotate is caught, so that the two cores are free to catch it. Returns whether it was
/// caught before the copy was whole.
fn logrotate_caught_copying(
    conf: &Path,
    state: &Path,
    live: &Path,
    copy: &Path,
    daemon: u32,
) -> bool {
    use rustix::process::{Pid, Signal, kill_process};
    use std::os::unix::fs::MetadataExt;
    let full = fs::metadata(live).map(|m| m.len()).unwrap_or(0);
    // The copy is a new file: the one there now is renamed away first.
    let earlier = fs::metadata(copy).map(|m| m.ino()).ok();
    let daemon = Pid::from_raw(daemon as i32).expect("daemon pid");
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
        .unwrap_or_else(|e| panic!("logrotate: {e}: install it: apt-get install logrotate"));
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
    let _ = kill_process(daemon, Signal::CONT);
    let st = child.wait().expect("wait for logrotate");
    assert!(st.success(), "logrotate failed");
    caught
}

#[test]
fn logrotate_copytruncate_with_copies_matching_the_glob() {
    // `app.log*` matches the copies logrotate makes. A copy seen while logrotate still writes
    // it holds a prefix of the generation already captured; it must not become a generation
    // of its own, then or once complete, and the generation's bytes are captured once.
    let mut site = Site::with_config(&config("\"logs/app.log*\""));
    let log = site.path("logs/app.log");
    let conf = site.path("lr.conf");
    fs::write(
        &conf,
        format!(
            "{} {{\n  rotate 9\n  missingok\n  copytruncate\n  postrotate\n    touch {}\n  endscript\n}}\n",
            log.display(),
            log.with_extension("reopen").display()
        ),
    )
    .expect("logrotate conf");
    let state = site.path("lr.state");
    let mut w = Writer::new(log.clone(), "copytruncate");
    w.write(50);
    site.start();
    // Until logrotate has been caught copying twice: whether this thread gets a core in the
    // fraction of a millisecond a copy takes is up to the scheduler.
    let mut caught = 0;
    for _ in 0..8 {
        // Enough that copying takes many writes.
        w.write(80_000);
        wait_settled(&site);
        let daemon = site.child.as_ref().expect("running").id();
        let copy = site.path("logs/app.log.1");
        if logrotate_caught_copying(&conf, &state, &log, &copy, daemon) {
            caught += 1;
        }
        w.write(100);
        if caught == 2 {
            break;
        }
    }
    assert!(caught > 0, "logrotate was never caught writing its copy");
    wait_settled(&site);
    site.stop();
    assert_exactly_once(&site.path("store"), "app.log", &w.written);
}

#[test]
fn logrotate_copytruncate_compress() {
    rotation_case("copytruncate\n  compress", "\"logs/app.log\"", false);
}

#[test]
fn logrotate_delaycompress_with_rotated_names_matching_the_glob() {
    rotation_case(
        "create\n  compress\n  delaycompress",
        "\"logs/app.log*\"",
        false,
    );
}

#[test]
fn logrotate_dateext() {
    rotation_case(
        "create\n  dateext\n  dateformat -%s",
        "\"logs/app.log\"",
        false,
    );
}

#[test]
fn logrotate_several_times_while_stopped() {
    rotation_case(
        "create\n  compress\n  delaycompress",
        "\"logs/app.log*\"",
        true,
    );
}

fn tamper_records(store: &Path) -> Vec<String> {
    records(store)
        .into_iter()
        .filter(|r| r.contains("\"kind\":\"tamper\""))
        .collect()
}

#[test]
fn truncation_and_deletion_are_recorded_as_tampering() {
    let mut site = Site::with_config(&config("\"logs/*.log\""));
    site.append("a.log", &noise(5000, 1));
    site.append("b.log", &noise(5000, 2));
    site.start();
    wait_settled(&site);
    // `: > a.log`
    File::create(site.path("logs/a.log")).expect("truncate");
    fs::remove_file(site.path("logs/b.log")).expect("rm");
    site.wait_record(&site.path("store"), "\"what\":\"truncated\"");
    site.wait_record(&site.path("store"), "\"what\":\"deleted\"");
    // Truncated, then regrown past the old offset: a new generation, captured from 0.
    let regrown = noise(9000, 3);
    site.append("a.log", &regrown);
    wait_settled(&site);
    site.stop();
    let t = tamper_records(&site.path("store"));
    assert!(
        t.iter()
            .any(|r| r.contains("a.log") && r.contains("truncated")),
        "{t:?}"
    );
    assert!(
        t.iter()
            .any(|r| r.contains("b.log") && r.contains("deleted")),
        "{t:?}"
    );
    let (code, out) = verify(&site.path("store"), &[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("alert"), "verify reports the tampering: {out}");
    let out = tempfile::tempdir().expect("tmp");
    let dest = out.path().join("x");
    let (code, text) = logkeep(&[
        "extract",
        site.path("store").to_str().expect("utf-8"),
        "--out",
        dest.to_str().expect("utf-8"),
    ]);
    assert_eq!(code, 0, "{text}");
    let gens: Vec<Vec<u8>> = walk(&dest)
        .into_iter()
        .filter(|p| p.to_string_lossy().contains("a.log.gen"))
        .map(|p| fs::read(p).expect("read"))
        .collect();
    assert!(
        gens.contains(&noise(5000, 1)),
        "the first generation is kept whole"
    );
    assert!(
        gens.contains(&regrown),
        "the regrown file is a new generation from offset 0"
    );
}

/// Random operations against a model of what was written, with restarts and `kill -9`.
#[test]
fn model_based_random_operations_with_kill_9() {
    let patterns = "\"logs/live.log*\"";
    let mut site = Site::with_config(&config(patterns));
    let live = site.path("logs/live.log");
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut n = 0u64;
    let mut written: Vec<Vec<u8>> = Vec::new();
    let mut rotated = 0u32;
    let mut kills = 0;
    let mut write = |count: u64, written: &mut Vec<Vec<u8>>| {
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&live)
            .expect("open");
        let mut buf = Vec::new();
        for _ in 0..count {
            n += 1;
            let l = format!(
                "m {n:07} event={} src=198.51.100.{}",
                n * 7919 % 1000,
                n % 250
            );
            buf.extend_from_slice(l.as_bytes());
            buf.push(b'\n');
            written.push(l.into_bytes());
        }
        f.write_all(&buf).expect("write");
    };
    site.start();
    let deadline = Instant::now() + Duration::from_secs(45);
    let mut step = 0;
    while step < 400 && Instant::now() < deadline {
        step += 1;
        match next() % 10 {
            0..=4 => write(1 + next() % 200, &mut written),
            5 => {
                // Rename rotation, then a new live file. Rotations happen while logkeep runs
                // and has had the chance to read the file, as logrotate's daily run does; a
                // generation written and rotated away unseen, under a name no pattern
                // matches, cannot be captured by anyone.
                if site.child.is_some() {
                    wait_settled(&site);
                }
                if live.exists() {
                    rotated += 1;
                    fs::rename(&live, site.path(&format!("logs/live.log.{rotated}")))
                        .expect("rename");
                }
            }
            6 => {
                // copytruncate, done atomically with respect to our own writes.
                if site.child.is_some() {
                    wait_settled(&site);
                }
                if live.exists() {
                    // The copy is named outside the patterns: it is found as the rotated copy
                    // by its content, and its tail is read from it.
                    rotated += 1;
                    fs::copy(&live, site.path(&format!("logs/live-ct.{rotated}"))).expect("copy");
                    File::create(&live).expect("truncate");
                }
            }
            7 => {
                // Compress an old rotation once everything is committed (as logrotate's
                // delaycompress would a cycle later).
                if rotated >= 2 && site.child.is_some() {
                    wait_settled(&site);
                    let old = site.path(&format!("logs/live.log.{}", rotated - 1));
                    if old.exists() {
                        let st = Command::new("gzip")
                            .arg("-f")
                            .arg(&old)
                            .status()
                            .expect("gzip (apt-get install gzip)");
                        assert!(st.success());
                    }
                }
            }
            8 => {
                if site.child.is_some() {
                    kills += 1;
                    if let Some(mut c) = site.child.take() {
                        let _ = c.kill(); // SIGKILL
                        let _ = c.wait();
                    }
                    write(1 + next() % 50, &mut written);
                    site.start();
                }
            }
            _ => std::thread::sleep(Duration::from_millis(next() % 80)),
        }
    }
    assert!(kills >= 8, "only {kills} kills");
    wait_settled(&site);
    site.stop();
    assert_exactly_once(&site.path("store"), "live.log", &written);
}

/// At least 50 `kill -9` at random moments during heavy appends and rename rotations.
#[test]
fn kill_loop_fifty_times() {
    let mut site = Site::with_config(&config("\"logs/k.log*\""));
    let live = site.path("logs/k.log");
    let mut written = Vec::new();
    let mut n = 0u64;
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    for round in 0..50 {
        site.start();
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let until = Instant::now() + Duration::from_millis(20 + seed % 120);
        while Instant::now() < until {
            let mut f = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&live)
                .expect("open");
            let mut buf = Vec::new();
            for _ in 0..100 {
                n += 1;
                let l = format!("k {n:08} {}", "x".repeat((n % 90) as usize));
                buf.extend_from_slice(l.as_bytes());
                buf.push(b'\n');
                written.push(l.into_bytes());
            }
            f.write_all(&buf).expect("write");
        }
        if round % 7 == 3 {
            fs::rename(&live, site.path(&format!("logs/k.log.{round}"))).expect("rotate");
        }
        if let Some(mut c) = site.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
    site.start();
    wait_settled(&site);
    site.stop();
    assert_exactly_once(&site.path("store"), "k.log", &written);
}
