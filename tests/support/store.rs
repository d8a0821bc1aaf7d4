//! The store as the tests read it back: the chain's records (the one records reader), segment
//! and record files, captured bytes, and the real CLI (`verify`, `extract`) run on a store, a
//! medium or a bundle, with the checks every test wants of a clean result.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::{CLI_DEADLINE, bin};

/// The exact bytes of the chain's records, in sequence order, from their files or packs
/// (layout 2), up to the first missing one.
fn record_bytes(store: &Path) -> Vec<Vec<u8>> {
    logkeep_format::chain::ChainFiles::new(store, 1)
        .map_while(Result::ok)
        .map(|f| f.bytes)
        .collect()
}

/// The chain's records, parsed, in sequence order (files still being written are skipped).
pub fn records(store: &Path) -> Vec<serde_json::Value> {
    record_bytes(store)
        .iter()
        .map(|b| serde_json::from_slice(b).expect("a chain record is JSON"))
        .collect()
}

/// The chain's records as their exact text, in sequence order.
pub fn record_texts(store: &Path) -> Vec<String> {
    record_bytes(store)
        .into_iter()
        .filter_map(|b| String::from_utf8(b).ok())
        .collect()
}

/// Paths of the record files in `chain/` (and its shard directories, layout 2), in name
/// (= sequence) order. Records packed (layout 2, complete runs) are not files of their own.
pub fn record_files(store: &Path) -> Vec<PathBuf> {
    let mut v = listing(&store.join("chain"));
    v.retain(|p| p.extension().is_some_and(|e| e == "json"));
    v
}

/// Paths of the segment files in `segments/` (and its shard directories), in name
/// (= sequence) order.
pub fn segment_files(store: &Path) -> Vec<PathBuf> {
    listing(&store.join("segments"))
}

/// Where the store at `store` keeps the segment file `name` (flat or in its shard).
pub fn segment_path(store: &Path, name: &str) -> PathBuf {
    let (seq, _) = logkeep_format::layout::parse_segment_name(name).expect("a segment name");
    store.join(logkeep_format::layout::Layout::detect(store).segment_rel(seq, name))
}

/// Where the store at `store` keeps record `seq` while it is a file of its own.
pub fn record_path(store: &Path, seq: u64) -> PathBuf {
    store.join(logkeep_format::layout::Layout::detect(store).record_rel(seq))
}

/// Where record `seq`'s file is, relative to the store, as `verify` names it.
pub fn record_rel(store: &Path, seq: u64) -> String {
    logkeep_format::layout::Layout::detect(store).record_rel(seq)
}

/// Files of `dir` and of its shard directories (12-digit names), sorted.
fn listing(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = Vec::new();
    for e in fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        let shard = logkeep_format::layout::parse_shard_name(&file_name(&p)).is_some();
        if shard && e.file_type().is_ok_and(|t| t.is_dir()) {
            v.extend(
                fs::read_dir(&p)
                    .into_iter()
                    .flatten()
                    .flatten()
                    .map(|e| e.path()),
            );
        } else {
            v.push(p);
        }
    }
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
    /// The exit code and standard output followed by standard error, for checks that do not
    /// care which stream said it.
    pub fn code_and_text(&self) -> (i32, String) {
        (self.code, self.text())
    }

    /// Standard output followed by standard error, for checks that do not care which.
    pub fn text(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }

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

/// Run `logkeep ARGS...` to completion (it must not take longer than [`CLI_DEADLINE`]).
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
    let deadline = Instant::now() + CLI_DEADLINE;
    let status = loop {
        if let Some(st) = child.try_wait().expect("try_wait") {
            break st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "logkeep {:?} did not finish within {CLI_DEADLINE:?}",
                args.iter()
                    .map(|a| a.as_ref().to_string_lossy().into_owned())
                    .collect::<Vec<_>>()
            );
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
