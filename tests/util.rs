//! The harness of the foundation tests: a temporary site (configuration, `logs/`, `store/`), the
//! real `logkeep` daemon as a child process, and the real CLI run on the store it wrote.
//!
//! Everything waits on what the store says (chain records, captured spans) with a deadline,
//! never on a fixed sleep alone, and every daemon started here is killed when its [`Site`] is
//! dropped, so a failing test never leaves a process behind.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// How long any wait may take before the test fails. Generous for a loaded two-core machine,
/// short enough that a hung daemon fails the test instead of hanging the suite.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// The `[store]` table of a daemon that seals quickly and often: segments of 4 KiB (the
/// minimum), a seal at least every 200 ms, a scan every 50 ms.
pub const FAST_STORE: &str = "[store]\n\
    path = \"store\"\n\
    seal_interval = \"200ms\"\n\
    scan_interval = \"50ms\"\n\
    segment_max_bytes = \"4KiB\"\n";

/// A `[[source]]` table.
pub fn source(id: &str, patterns: &[&str]) -> String {
    let list: Vec<String> = patterns.iter().map(|p| format!("{p:?}")).collect();
    format!(
        "\n[[source]]\nid = \"{id}\"\npaths = [{}]\n",
        list.join(", ")
    )
}

/// The path of the `logkeep` binary under test.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_logkeep")
}

/// A temporary directory holding `logkeep.toml`, `logs/`, the daemon's `store/` and its
/// stderr, and the daemon when it runs.
pub struct Site {
    dir: tempfile::TempDir,
    child: Option<Child>,
    runs: usize,
}

impl Site {
    /// A site whose configuration is `config` (relative paths resolve against the site).
    pub fn new(config: &str) -> Site {
        let dir = tempfile::tempdir().expect("temp dir");
        fs::create_dir_all(dir.path().join("logs")).expect("logs dir");
        // The daemon runs with its working directory here, so that a relative path resolved
        // against the working directory instead of the configuration's would be noticed.
        fs::create_dir_all(dir.path().join("cwd")).expect("cwd dir");
        fs::write(dir.path().join("logkeep.toml"), config).expect("config");
        Site {
            dir,
            child: None,
            runs: 0,
        }
    }

    /// A path inside the site.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// The configuration file.
    pub fn config(&self) -> PathBuf {
        self.path("logkeep.toml")
    }

    /// The store directory.
    pub fn store(&self) -> PathBuf {
        self.path("store")
    }

    /// A log file under `logs/`.
    pub fn log(&self, name: &str) -> PathBuf {
        self.path("logs").join(name)
    }

    /// Append `bytes` to `logs/<name>` in one write, creating it if needed.
    pub fn append(&self, name: &str, bytes: &[u8]) {
        append(&self.log(name), bytes);
    }

    /// Start the daemon and wait until it is ready: its `start` record (with its pid) is in the
    /// chain, which the daemon writes only after its signal handlers are installed, so a
    /// SIGTERM sent after this returns is always handled.
    pub fn start(&mut self) {
        let pid = self.spawn();
        let deadline = Instant::now() + DEADLINE;
        loop {
            let started = records(&self.store()).iter().any(|r| {
                r["event"]["kind"] == "start" && r["event"]["pid"].as_u64() == Some(pid as u64)
            });
            if started {
                return;
            }
            self.assert_running("while starting");
            assert!(
                Instant::now() < deadline,
                "the daemon did not write its start record within {DEADLINE:?}:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Start the daemon without waiting for anything (to kill it at any moment, even while it
    /// opens and recovers the store). Returns its pid.
    pub fn spawn(&mut self) -> u32 {
        assert!(self.child.is_none(), "the daemon is already running");
        self.runs += 1;
        let err =
            fs::File::create(self.path(&format!("daemon-{}.err", self.runs))).expect("stderr file");
        let child = Command::new(bin())
            .arg("run")
            .arg("--config")
            .arg(self.config())
            .current_dir(self.path("cwd"))
            .env("LOGKEEP_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(err)
            .spawn()
            .expect("start logkeep run");
        let pid = child.id();
        self.child = Some(child);
        pid
    }

    /// Fail if the daemon has exited.
    fn assert_running(&mut self, when: &str) {
        if let Some(c) = self.child.as_mut()
            && let Some(st) = c.try_wait().expect("try_wait")
        {
            self.child = None;
            panic!("the daemon exited {when}: {st}\n{}", self.stderr());
        }
    }

    /// SIGTERM: the daemon must seal what it read, write a `stop` record with reason
    /// `SIGTERM` as the last record, and exit 0.
    pub fn term(&mut self) {
        self.stop_by("-TERM", "SIGTERM");
    }

    /// SIGINT (Ctrl-C): the same as SIGTERM, with reason `SIGINT`.
    pub fn interrupt(&mut self) {
        self.stop_by("-INT", "SIGINT");
    }

    fn stop_by(&mut self, signal: &str, reason: &str) {
        let st = self.signal(signal);
        assert_eq!(
            st.code(),
            Some(0),
            "kill {signal} must stop the daemon with exit 0, got {st}:\n{}",
            self.stderr()
        );
        let last = records(&self.store()).pop().expect("records after a stop");
        assert_eq!(
            last["event"],
            serde_json::json!({"kind": "stop", "reason": reason}),
            "the last record after kill {signal} must be its stop record"
        );
    }

    /// SIGKILL: the daemon dies wherever it is.
    pub fn kill9(&mut self) {
        let st = self.signal("-KILL");
        assert_eq!(st.signal(), Some(9), "kill -9 ended the daemon with {st}");
    }

    /// Send `signal` with kill(1) and wait for the daemon to exit (at most [`DEADLINE`]).
    fn signal(&mut self, signal: &str) -> ExitStatus {
        let mut child = self.child.take().expect("the daemon is not running");
        let sent = Command::new("kill")
            .arg(signal)
            .arg(child.id().to_string())
            .status()
            .expect("run kill(1)");
        assert!(sent.success(), "kill {signal} {} failed", child.id());
        let deadline = Instant::now() + DEADLINE;
        loop {
            if let Some(st) = child.try_wait().expect("try_wait") {
                return st;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "the daemon did not exit within {DEADLINE:?} of kill {signal}:\n{}",
                    self.stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Everything every run of the daemon wrote to stderr, for failure messages.
    pub fn stderr(&self) -> String {
        (1..=self.runs)
            .map(|n| {
                let text =
                    fs::read_to_string(self.path(&format!("daemon-{n}.err"))).unwrap_or_default();
                format!("--- daemon run {n} stderr ---\n{text}")
            })
            .collect()
    }

    /// Wait until the committed segments hold at least `n` captured bytes in all.
    pub fn wait_captured(&mut self, n: u64) {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let have = captured_bytes(&self.store());
            if have >= n {
                return;
            }
            self.assert_running("while capturing");
            assert!(
                Instant::now() < deadline,
                "only {have} of {n} bytes were committed within {DEADLINE:?}:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        // LOGKEEP_TEST_KEEP=1 keeps the site of a failed test for a look.
        if std::env::var_os("LOGKEEP_TEST_KEEP").is_some() {
            let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().expect("tmp"));
            eprintln!("kept {}", dir.keep().display());
        }
    }
}

/// Append `bytes` to `path` in one write.
pub fn append(path: &Path, bytes: &[u8]) {
    let mut f = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    f.write_all(bytes).expect("append");
}

/// The chain's records, parsed, in sequence order (files still being written are skipped).
pub fn records(store: &Path) -> Vec<serde_json::Value> {
    record_files(store)
        .iter()
        .filter_map(|p| fs::read(p).ok())
        .map(|b| serde_json::from_slice(&b).expect("a chain record is JSON"))
        .collect()
}

/// Paths of the record files in `chain/`, in name (= sequence) order.
pub fn record_files(store: &Path) -> Vec<PathBuf> {
    listing(&store.join("chain"))
}

/// Paths of the segment files in `segments/`, in name (= sequence) order.
pub fn segment_files(store: &Path) -> Vec<PathBuf> {
    listing(&store.join("segments"))
}

fn listing(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    v.retain(|p| !file_name(p).starts_with(".tmp-"));
    v.sort();
    v
}

/// The last component of `p`.
pub fn file_name(p: &Path) -> String {
    p.file_name()
        .expect("file name")
        .to_string_lossy()
        .into_owned()
}

/// Captured bytes in all committed segments, from the records' spans.
pub fn captured_bytes(store: &Path) -> u64 {
    records(store)
        .iter()
        .filter(|r| r["event"]["kind"] == "segment")
        .flat_map(|r| r["event"]["spans"].as_array().expect("spans").clone())
        .map(|s| s["end"].as_u64().expect("end") - s["start"].as_u64().expect("start"))
        .sum()
}

/// What one CLI run did.
#[derive(Debug)]
pub struct Run {
    /// The exit code (-1 if a signal ended it).
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Run {
    /// The `FAIL file: what` lines of a verification report.
    pub fn fail_lines(&self) -> Vec<&str> {
        self.stdout
            .lines()
            .filter(|l| l.starts_with("FAIL "))
            .collect()
    }
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout ---\n{}--- stderr ---\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// Run `logkeep ARGS...` to completion (it must not take longer than [`DEADLINE`]).
pub fn logkeep<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Run {
    let out_dir = tempfile::tempdir().expect("tmp");
    let (out_path, err_path) = (out_dir.path().join("out"), out_dir.path().join("err"));
    let mut child = Command::new(bin())
        .args(args)
        .stdin(Stdio::null())
        .stdout(fs::File::create(&out_path).expect("stdout file"))
        .stderr(fs::File::create(&err_path).expect("stderr file"))
        .spawn()
        .expect("run logkeep");
    let deadline = Instant::now() + DEADLINE;
    let status = loop {
        if let Some(st) = child.try_wait().expect("try_wait") {
            break st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("logkeep did not finish within {DEADLINE:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    Run {
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&fs::read(&out_path).expect("stdout")).into_owned(),
        stderr: String::from_utf8_lossy(&fs::read(&err_path).expect("stderr")).into_owned(),
    }
}

/// `logkeep verify STORE EXTRA...`
pub fn verify(store: &Path, extra: &[&str]) -> Run {
    let mut args: Vec<std::ffi::OsString> = vec!["verify".into(), store.into()];
    args.extend(extra.iter().map(Into::into));
    logkeep(&args)
}

/// Verify and require a clean result: exit 0, no FAIL line, the final OK line.
pub fn assert_verifies(store: &Path) {
    let run = verify(store, &[]);
    assert_eq!(run.code, 0, "verify of an untampered store:\n{run}");
    assert!(run.fail_lines().is_empty(), "{run}");
    assert!(
        run.stdout.ends_with("OK: the store verified\n"),
        "verify must end with its verdict:\n{run}"
    );
}

/// `logkeep extract STORE --out OUT`
pub fn extract(store: &Path, out: &Path) -> Run {
    logkeep(&[
        "extract".as_ref(),
        store.as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
    ])
}

/// What `extract` wrote: every file under the output directory by its relative path, and
/// the parsed lines of `logkeep-extract.jsonl`.
pub struct Extracted {
    /// Kept alive for as long as the result is.
    _dir: tempfile::TempDir,
    /// The output directory.
    pub out: PathBuf,
    /// Relative path (with `/`) → content, the index excluded.
    pub files: BTreeMap<String, Vec<u8>>,
    /// `logkeep-extract.jsonl`, one value per line.
    pub index: Vec<serde_json::Value>,
}

impl Extracted {
    /// The content of the only generation of `original` captured by `source`: exactly one
    /// output file `SOURCE/ORIGINAL-WITHOUT-LEADING-SLASH.genN` must exist for it.
    pub fn only_generation(&self, source: &str, original: &Path) -> &[u8] {
        let stem = gen_prefix(source, original);
        let found: Vec<&String> = self
            .files
            .keys()
            .filter(|k| {
                k.strip_prefix(&stem)
                    .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
            })
            .collect();
        assert_eq!(
            found.len(),
            1,
            "want exactly one generation {stem}N, have {:?}",
            self.files.keys().collect::<Vec<_>>()
        );
        &self.files[found[0]]
    }
}

/// `SOURCE/PATH.gen`: the start of an extracted generation's relative name.
pub fn gen_prefix(source: &str, original: &Path) -> String {
    let rel = original
        .to_str()
        .expect("utf-8 path")
        .strip_prefix('/')
        .expect("absolute path");
    format!("{source}/{rel}.gen")
}

/// Extract `store` into a fresh directory; require exit 0 and an index that lists exactly the
/// files written, each with its size.
pub fn extract_all(store: &Path) -> Extracted {
    let dir = tempfile::tempdir().expect("tmp");
    let out = dir.path().join("out");
    let run = extract(store, &out);
    assert_eq!(run.code, 0, "extract:\n{run}");
    let mut files = BTreeMap::new();
    for p in walk(&out) {
        let rel = p
            .strip_prefix(&out)
            .expect("inside out")
            .to_str()
            .expect("utf-8")
            .to_owned();
        files.insert(rel, fs::read(&p).expect("read output"));
    }
    let index_bytes = files
        .remove("logkeep-extract.jsonl")
        .expect("extract writes logkeep-extract.jsonl");
    let index: Vec<serde_json::Value> = index_bytes
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).expect("index line is JSON"))
        .collect();
    let listed: BTreeMap<String, u64> = index
        .iter()
        .map(|e| {
            (
                e["output"].as_str().expect("output").to_owned(),
                e["size"].as_u64().expect("size"),
            )
        })
        .collect();
    let written: BTreeMap<String, u64> = files
        .iter()
        .map(|(k, v)| (k.clone(), v.len() as u64))
        .collect();
    assert_eq!(
        listed, written,
        "the index must list exactly the files written"
    );
    assert!(
        run.stdout
            .starts_with(&format!("extracted {} file generation(s), ", written.len())),
        "{run}"
    );
    Extracted {
        _dir: dir,
        out,
        files,
        index,
    }
}

/// Every regular file under `dir`, recursively, sorted.
pub fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if e.file_type().expect("file type").is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out.sort();
    out
}

/// Copy a store (or any tree) with `cp -a`, keeping modes.
pub fn copy_tree(from: &Path, to: &Path) {
    let st = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .expect("run cp");
    assert!(st.success(), "cp -a {} {}", from.display(), to.display());
}

/// Make a file writable again (segments and records are 0444).
pub fn writable(p: &Path) {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(p, fs::Permissions::from_mode(0o644))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", p.display()));
}

/// Fail (never skip) when a standard tool the tests rely on is missing.
pub fn require_tool(tool: &str, package: &str) {
    let found = Command::new("sh")
        .args(["-c", "command -v \"$1\" >/dev/null", "sh", tool])
        .status()
        .expect("run sh")
        .success();
    assert!(
        found,
        "`{tool}` is missing; these tests need it: apt-get install {package}"
    );
}

/// Run `sh -c SCRIPT sh ARGS...`; require exit 0 and return stdout as bytes.
pub fn sh(script: &str, args: &[&Path]) -> Vec<u8> {
    let out = Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg("sh")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run sh");
    assert!(
        out.status.success(),
        "sh -c {script:?} {args:?} failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// A small deterministic PRNG (xorshift64*) so "random" schedules repeat from their seed.
pub struct Rng(u64);

impl Rng {
    /// Seeded from `LOGKEEP_TEST_SEED` when set (to replay a failure), else from `default`.
    pub fn new(default: u64) -> Rng {
        let seed = std::env::var("LOGKEEP_TEST_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(default);
        eprintln!("seed {seed} (set LOGKEEP_TEST_SEED to replay)");
        Rng(seed | 1)
    }

    /// The next number in `[0, n)`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }

    /// `n` bytes that do not compress, so small segments stay several.
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.below(256) as u8).collect()
    }
}

/// Where the first difference between `got` and `want` is, for a readable failure.
pub fn first_difference(got: &[u8], want: &[u8]) -> String {
    let at = got
        .iter()
        .zip(want)
        .position(|(a, b)| a != b)
        .unwrap_or(got.len().min(want.len()));
    let show = |b: &[u8]| {
        String::from_utf8_lossy(&b[at.min(b.len())..(at + 60).min(b.len())]).into_owned()
    };
    format!(
        "lengths: got {} want {}; first difference at byte {at}: got {:?}, want {:?}",
        got.len(),
        want.len(),
        show(got),
        show(want)
    )
}

/// Assert two byte strings are equal without printing megabytes when they are not.
#[track_caller]
pub fn assert_same_bytes(got: &[u8], want: &[u8], what: &str) {
    if got != want {
        panic!("{what}: {}", first_difference(got, want));
    }
}
