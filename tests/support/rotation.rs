//! What the rotation, model and kill-loop tests share: a rig (a site whose daemon logs capture
//! decisions at debug level) started, stopped with SIGTERM or killed with SIGKILL through
//! [`super::daemon`], the chain read back as typed records and as a ledger of generations, a
//! wait until the store has committed what the files hold, and `logkeep extract` and
//! `logkeep verify` run on the result through [`super::store`].
//!
//! Every wait here polls the store or the process and ends at a deadline with a message that
//! says what was expected and what the chain and the daemon's log held instead.

use logkeep_format::{Event, HEAD_LEN, Record, Sha256};
use rustix::process::{Pid, Signal, kill_process};

use super::daemon::Daemon;
pub use super::{Rng, append, truncate_in_place};
use super::{bin, require_tool};
use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long any single wait on the daemon may take before the test fails. Generous, because
/// the tests share two cores with each other and with builds.
pub const PATIENCE: Duration = Duration::from_secs(45);

/// Timing knobs written into the configuration.
#[derive(Debug, Clone)]
pub struct Knobs {
    pub scan_interval: &'static str,
    pub seal_interval: &'static str,
    pub segment_max_bytes: &'static str,
    /// More `[store]` lines, as they are written.
    pub store_extra: &'static str,
}

impl Default for Knobs {
    fn default() -> Self {
        Knobs {
            scan_interval: "100ms",
            seal_interval: "200ms",
            segment_max_bytes: "64KiB",
            store_extra: "",
        }
    }
}

/// One generation as the chain describes it.
#[derive(Debug, Clone)]
pub struct Gen {
    pub dev: u64,
    pub ino: u64,
    /// Largest span end committed.
    pub end: u64,
    /// Head digest carried by the span with the largest end.
    pub head: Sha256,
    /// Why the chain considers it finished: `tamper:truncated`, `closed:rotated`, `gap`, ...
    /// A `tamper` with what = deleted does not finish a generation (it is still read through
    /// its descriptor), so it is listed in `deleted` instead.
    pub finished: Option<String>,
    pub deleted: bool,
}

/// What the chain says about every generation.
#[derive(Debug, Default)]
pub struct Ledger {
    pub gens: BTreeMap<u64, Gen>,
}

impl Ledger {
    pub fn from_records(records: &[Record]) -> Ledger {
        let mut l = Ledger::default();
        for r in records {
            match &r.event {
                Event::Segment { spans, .. } => {
                    for s in spans {
                        let g = l.gens.entry(s.gen_id).or_insert_with(|| Gen {
                            dev: s.dev,
                            ino: s.ino,
                            end: 0,
                            head: s.head,
                            finished: None,
                            deleted: false,
                        });
                        if s.end >= g.end {
                            g.end = s.end;
                            g.head = s.head;
                        }
                    }
                }
                Event::Tamper { gen_id, what, .. } => {
                    if let Some(g) = l.gens.get_mut(gen_id) {
                        if what == "deleted" {
                            g.deleted = true;
                        } else {
                            g.finished = Some(format!("tamper:{what}"));
                        }
                    }
                }
                Event::Closed { gen_id, reason, .. } => {
                    if let Some(g) = l.gens.get_mut(gen_id) {
                        g.finished = Some(format!("closed:{reason}"));
                    }
                }
                Event::Gap { gen_id, .. } => {
                    if let Some(g) = l.gens.get_mut(gen_id) {
                        g.finished = Some("gap".into());
                    }
                }
                _ => {}
            }
        }
        l
    }

    fn with_key(&self, key: (u64, u64)) -> impl Iterator<Item = (&u64, &Gen)> {
        self.gens.iter().filter(move |(_, g)| (g.dev, g.ino) == key)
    }
}

/// What a file on disk holds now, as far as deciding whether the chain has all of it.
#[derive(Debug, Clone)]
pub struct FileNow {
    pub key: (u64, u64),
    pub size: u64,
    pub head: Sha256,
}

/// Stat (following symlinks) and digest the head of `path`; `None` if it does not exist.
pub fn file_now(path: &Path) -> Option<FileNow> {
    let mut f = File::open(path).ok()?;
    let m = f.metadata().ok()?;
    let mut head = vec![0u8; m.len().min(HEAD_LEN) as usize];
    f.read_exact(&mut head).ok()?;
    Some(FileNow {
        key: (m.dev(), m.ino()),
        size: m.len(),
        head: Sha256::of(&head),
    })
}

/// Whether the chain holds every byte `path` holds now. A file that is gone has nothing left
/// to wait for. An empty file is settled once no unfinished generation of its inode claims
/// bytes (a truncation to zero has been noticed). Otherwise a generation of the same inode
/// must end exactly at the file's size and carry the digest of the file's head, so that a
/// reused inode or a same-sized rewrite cannot pass for the old content.
pub fn settled_in(ledger: &Ledger, path: &Path) -> Result<(), String> {
    let Some(now) = file_now(path) else {
        return Ok(());
    };
    if now.size == 0 {
        let claims: Vec<_> = ledger
            .with_key(now.key)
            .filter(|(_, g)| g.end > 0 && g.finished.is_none() && !g.deleted)
            .map(|(id, g)| format!("gen{id} end {}", g.end))
            .collect();
        return if claims.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "{} is empty but the chain still follows {claims:?}",
                path.display()
            ))
        };
    }
    let ok = ledger.with_key(now.key).any(|(_, g)| {
        g.end == now.size
            && g.head == now.head
            && !g
                .finished
                .as_deref()
                .is_some_and(|f| f.starts_with("tamper") || f == "gap")
    });
    if ok {
        Ok(())
    } else {
        let seen: Vec<_> = ledger
            .with_key(now.key)
            .map(|(id, g)| format!("gen{id} end {} finished {:?}", g.end, g.finished))
            .collect();
        Err(format!(
            "{} (dev {}, ino {}) holds {} bytes; the chain has {seen:?}",
            path.display(),
            now.key.0,
            now.key.1,
            now.size
        ))
    }
}

/// One extracted generation, with its bytes. (`dev` and `ino` show in failure messages via
/// `Debug`.)
#[derive(Debug, Clone)]
#[allow(dead_code)]
pub struct Out {
    pub output: String,
    pub source: String,
    pub path: String,
    pub dev: u64,
    pub ino: u64,
    pub gen_id: u64,
    pub missing: Vec<(u64, u64)>,
    pub data: Vec<u8>,
}

/// A temporary site: `logs/`, `store/`, `c.toml`, and the daemon when it runs.
pub struct Rig {
    pub dir: tempfile::TempDir,
    child: Option<Daemon>,
    /// Records already parsed, by sequence number. Records are written once under their final
    /// name (temporary name, fsync, rename), so a record read once never changes.
    cache: Mutex<BTreeMap<u64, Record>>,
    /// How many times the daemon was started.
    pub starts: u32,
    /// The open-file limits the daemon starts with, if not the test's own, as util-linux
    /// `prlimit --nofile=` takes them: `SOFT:` or `SOFT:HARD`.
    pub nofile: Option<&'static str>,
}

impl Rig {
    /// A site whose sources are `(id, patterns)`; patterns are relative to the site.
    pub fn new(sources: &[(&str, &[&str])]) -> Rig {
        Rig::with(Knobs::default(), sources)
    }

    pub fn with(knobs: Knobs, sources: &[(&str, &[&str])]) -> Rig {
        let dir = tempfile::Builder::new()
            .prefix("logkeep-rot-")
            .tempdir()
            .expect("temp dir");
        fs::create_dir_all(dir.path().join("logs")).expect("logs dir");
        let mut c = format!(
            "[store]\npath = \"store\"\nscan_interval = \"{}\"\nseal_interval = \"{}\"\nsegment_max_bytes = \"{}\"\n{}",
            knobs.scan_interval, knobs.seal_interval, knobs.segment_max_bytes, knobs.store_extra
        );
        for (id, patterns) in sources {
            let list: Vec<String> = patterns.iter().map(|p| format!("{p:?}")).collect();
            c.push_str(&format!(
                "\n[[source]]\nid = \"{id}\"\npaths = [{}]\n",
                list.join(", ")
            ));
        }
        fs::write(dir.path().join("c.toml"), c).expect("write config");
        Rig {
            dir,
            child: None,
            cache: Mutex::new(BTreeMap::new()),
            starts: 0,
            nofile: None,
        }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn logs(&self) -> PathBuf {
        self.path("logs")
    }

    pub fn log(&self, name: &str) -> PathBuf {
        self.logs().join(name)
    }

    pub fn store(&self) -> PathBuf {
        self.path("store")
    }

    pub fn running(&self) -> bool {
        self.child.is_some()
    }

    /// The running daemon's process id.
    pub fn pid(&self) -> Pid {
        let c = self.child.as_ref().expect("the daemon is not running");
        Pid::from_raw(c.pid() as i32).expect("pid")
    }

    /// Hold the daemon still (SIGSTOP) while `f` runs, then let it go on (SIGCONT): whatever
    /// `f` does to the files happens between two of its polls, however fast they come.
    pub fn between_polls<T>(&mut self, f: impl FnOnce() -> T) -> T {
        let pid = self.pid();
        kill_process(pid, Signal::STOP).expect("SIGSTOP");
        let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
        kill_process(pid, Signal::CONT).expect("SIGCONT");
        out.unwrap_or_else(|p| std::panic::resume_unwind(p))
    }

    /// Start the daemon without waiting for it (the kill loop kills it at any moment, even
    /// before it has written anything).
    pub fn spawn(&mut self) {
        assert!(self.child.is_none(), "daemon already running");
        // One log for all runs, appended, so a failure shows every run's story.
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.path("daemon.log"))
            .expect("daemon log");
        let mut l2 = log.try_clone().expect("dup log");
        self.starts += 1;
        writeln!(l2, "===== start #{} =====", self.starts).expect("write the daemon log");
        // Open-file limits for the daemon alone, set by util-linux `prlimit`, which then
        // executes logkeep in its own process.
        let mut cmd = match self.nofile {
            Some(n) => {
                require_tool("prlimit", "util-linux");
                let mut c = Command::new("prlimit");
                c.arg(format!("--nofile={n}")).arg("--").arg(bin());
                c
            }
            None => Command::new(bin()),
        };
        cmd.args(["run", "--config"])
            .arg(self.path("c.toml"))
            .env("LOGKEEP_LOG", "info,logkeep_capture=debug")
            .stdin(Stdio::null())
            .stdout(l2)
            .stderr(log);
        self.child = Some(Daemon::spawn(&mut cmd));
    }

    /// Start the daemon and wait until it has written its `start` record, so that whatever
    /// the test does next happens while it captures.
    pub fn start(&mut self) {
        self.spawn();
        let pid = self.child.as_ref().expect("spawned").pid();
        self.wait_for(&format!("the start record of pid {pid}"), |recs| {
            recs.iter()
                .any(|r| matches!(r.event, Event::Start { pid: p, .. } if p == pid))
        });
    }

    /// SIGTERM, and wait for exit 0 and the `stop` record.
    pub fn stop(&mut self) {
        let Some(daemon) = self.child.take() else {
            panic!("stop: the daemon is not running");
        };
        daemon.stop(Signal::TERM, &|| self.daemon_log());
        let recs = self.records();
        assert!(
            matches!(recs.last().map(|r| &r.event), Some(Event::Stop { .. })),
            "the last record after SIGTERM is not a stop: {:?}",
            recs.last()
        );
    }

    /// SIGKILL a daemon that is capturing, at this very moment: it must be alive, must have
    /// committed its start record, and must die by signal 9.
    pub fn kill9(&mut self) {
        let daemon = self
            .child
            .take()
            .expect("kill -9: the daemon is not running");
        daemon.kill9(&self.store(), &|| self.daemon_log());
    }

    /// SIGKILL wherever the daemon is, even before it opened the store: it must be alive and
    /// must die by signal 9. Returns whether it had committed its start record.
    pub fn kill9_at_any_moment(&mut self) -> bool {
        let daemon = self
            .child
            .take()
            .expect("kill -9: the daemon is not running");
        let committed = super::daemon::started_in(&self.store(), daemon.pid());
        daemon.kill9_at_any_moment(&|| self.daemon_log());
        committed
    }

    /// The tail of the daemon's log, for failure messages.
    pub fn daemon_log(&self) -> String {
        let all = fs::read_to_string(self.path("daemon.log")).unwrap_or_default();
        let keep = 12_000;
        if all.len() > keep {
            let mut cut = all.len() - keep;
            while !all.is_char_boundary(cut) {
                cut += 1;
            }
            format!("daemon log (last {keep} bytes):\n{}", &all[cut..])
        } else {
            format!("daemon log:\n{all}")
        }
    }

    /// Whether the daemon started last is still running (it has not exited by itself).
    pub fn alive(&mut self) -> bool {
        self.child.as_mut().is_some_and(|c| c.exited().is_none())
    }

    /// Fail if the daemon exited by itself.
    fn check_alive(&mut self) {
        if let Some(c) = self.child.as_mut()
            && let Some(status) = c.exited()
        {
            self.child = None;
            panic!(
                "the daemon exited by itself with {status}\n{}",
                self.daemon_log()
            );
        }
    }

    /// Every record in the chain so far, in order.
    pub fn records(&self) -> Vec<Record> {
        let mut cache = self.cache.lock().expect("cache");
        // Committed records never change: read on from the newest one known, in files or
        // packs (layout 2), up to the first that is not there (yet).
        let next = cache.keys().next_back().map_or(1, |s| s + 1);
        for f in logkeep_format::chain::ChainFiles::new(&self.store(), next) {
            let Ok(f) = f else { break };
            let Ok(r) = Record::parse(&f.bytes) else {
                break;
            };
            cache.insert(f.seq, r);
        }
        // Only the unbroken run from seq 1 counts, as it does for the daemon.
        let mut out = Vec::new();
        for (seq, r) in cache.iter() {
            if *seq != out.len() as u64 + 1 {
                break;
            }
            out.push(r.clone());
        }
        out
    }

    pub fn ledger(&self) -> Ledger {
        Ledger::from_records(&self.records())
    }

    /// Wait until `pred` holds for the chain.
    pub fn wait_for(&mut self, what: &str, pred: impl Fn(&[Record]) -> bool) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if pred(&self.records()) {
                return;
            }
            self.check_alive();
            if Instant::now() > deadline {
                panic!(
                    "waited {PATIENCE:?} for {what}; the chain holds:\n{}\n{}",
                    self.chain_summary(),
                    self.daemon_log()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Wait until the chain holds every byte that each of `paths` holds now (see
    /// [`settled_in`]). The daemon must be running.
    pub fn settle(&mut self, paths: &[PathBuf]) {
        if let Err(e) = self.try_settle(paths) {
            panic!("{e}");
        }
    }

    /// [`Rig::settle`], returning what went wrong instead of failing, so that a caller can
    /// add its own context (the model adds its seed and steps).
    pub fn try_settle(&mut self, paths: &[PathBuf]) -> Result<(), String> {
        assert!(self.running(), "settle needs a running daemon");
        let deadline = Instant::now() + PATIENCE;
        loop {
            let ledger = self.ledger();
            let problems: Vec<String> = paths
                .iter()
                .filter_map(|p| settled_in(&ledger, p).err())
                .collect();
            if problems.is_empty() {
                return Ok(());
            }
            self.check_alive();
            if Instant::now() > deadline {
                return Err(format!(
                    "the store did not catch up within {PATIENCE:?}:\n  {}\nchain:\n{}\n{}",
                    problems.join("\n  "),
                    self.chain_summary(),
                    self.daemon_log()
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Wait until the daemon has read at least part of the file now at `path` (the chain has
    /// an unfinished generation of its inode whose head matches the file), without waiting
    /// for it to catch up.
    pub fn wait_seen(&mut self, path: &Path) {
        let p = path.to_owned();
        self.wait_for(
            &format!("a generation of {}", path.display()),
            move |recs| {
                let Ok(mut f) = File::open(&p) else {
                    return false;
                };
                let Ok(m) = f.metadata() else { return false };
                let mut head = vec![0u8; HEAD_LEN as usize];
                let mut n = 0;
                while n < head.len() {
                    match f.read(&mut head[n..]) {
                        Ok(0) | Err(_) => break,
                        Ok(k) => n += k,
                    }
                }
                Ledger::from_records(recs)
                    .with_key((m.dev(), m.ino()))
                    .any(|(_, g)| {
                        g.finished.is_none()
                            && g.end > 0
                            && Sha256::of(&head[..(g.end.min(HEAD_LEN) as usize).min(n)]) == g.head
                    })
            },
        );
    }

    /// Every regular file directly under `logs/` whose name does not end in `.gz`.
    pub fn plain_logs(&self) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = fs::read_dir(self.logs())
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .map(|e| e.path())
                    .filter(|p| {
                        fs::symlink_metadata(p).is_ok_and(|m| m.is_file())
                            && p.extension().is_none_or(|e| e != "gz")
                    })
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }

    /// One line per record, without the noise, for failure messages.
    pub fn chain_summary(&self) -> String {
        let mut s = String::new();
        for r in self.records() {
            let line = match &r.event {
                Event::Segment { spans, .. } => {
                    let sp: Vec<String> = spans
                        .iter()
                        .map(|x| {
                            format!(
                                "gen{} {}@{}:{} [{},{})",
                                x.gen_id,
                                Path::new(&x.path)
                                    .file_name()
                                    .map(|n| n.to_string_lossy().into_owned())
                                    .unwrap_or_default(),
                                x.dev,
                                x.ino,
                                x.start,
                                x.end
                            )
                        })
                        .collect();
                    format!("segment {}", sp.join(" "))
                }
                other => serde_json::to_string(other).unwrap_or_default(),
            };
            s.push_str(&format!("  {:>4} {line}\n", r.seq));
        }
        s
    }

    /// Records of one kind.
    pub fn events(&self, kind: &str) -> Vec<Event> {
        self.records()
            .into_iter()
            .filter(|r| r.event.kind() == kind)
            .map(|r| r.event)
            .collect()
    }

    /// `logkeep verify STORE`: (exit code, output).
    pub fn verify(&self) -> (i32, String) {
        super::store::verify(&self.store(), &[]).code_and_text()
    }

    /// Verify and require a clean result: exit 0, no FAIL line, the final OK line.
    pub fn assert_verifies(&self) {
        super::store::assert_verifies(&self.store());
    }

    /// `logkeep extract STORE --out DIR`, with every output read back and checked against the
    /// index's size and SHA-256.
    pub fn extract(&self) -> Vec<Out> {
        let tmp = tempfile::tempdir().expect("tmp");
        let dest = tmp.path().join("x");
        let run = super::store::extract(&self.store(), &dest);
        assert_eq!(run.code, 0, "logkeep extract failed:\n{run}");
        let index = fs::read_to_string(dest.join("logkeep-extract.jsonl")).expect("index");
        let mut outs = Vec::new();
        for line in index.lines() {
            let v: serde_json::Value = serde_json::from_str(line).expect("index line");
            let s = |k: &str| v[k].as_str().expect(k).to_owned();
            let n = |k: &str| v[k].as_u64().expect(k);
            let data = fs::read(dest.join(s("output"))).expect("read output");
            assert_eq!(data.len() as u64, n("size"), "size in index: {line}");
            assert_eq!(
                Sha256::of(&data).to_hex(),
                s("sha256"),
                "sha256 in index: {line}"
            );
            let missing = v["missing"]
                .as_array()
                .expect("missing")
                .iter()
                .map(|r| (r[0].as_u64().expect("from"), r[1].as_u64().expect("to")))
                .collect();
            outs.push(Out {
                output: s("output"),
                source: s("source"),
                path: s("path"),
                dev: n("dev"),
                ino: n("ino"),
                gen_id: n("gen_id"),
                missing,
                data,
            });
        }
        outs
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        // Dropping the daemon kills and reaps it.
        self.child.take();
        if std::env::var_os("LOGKEEP_TEST_KEEP").is_some() {
            let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().expect("tmp"));
            eprintln!("kept {}", dir.keep().display());
        }
    }
}

/// Lines of `data` (each with its `\n`; a last line without one is kept as it is).
pub fn lines_of(data: &[u8]) -> Vec<&[u8]> {
    data.split_inclusive(|&b| b == b'\n').collect()
}

/// Count how often each line occurs across `outs`.
pub fn line_counts<'a>(outs: impl IntoIterator<Item = &'a Out>) -> HashMap<Vec<u8>, usize> {
    let mut m = HashMap::new();
    for o in outs {
        for l in lines_of(&o.data) {
            *m.entry(l.to_vec()).or_insert(0) += 1;
        }
    }
    m
}
