//! Tamper evidence (docs/FORMAT.md §6 and §12): on a store
//! written by a real run, every kind of tampering makes `logkeep verify` exit 1 with a
//! `FAIL <file>: <what>` line naming the tampered file, and untampered data never fails.
//!
//! One store is made once; each case tampers with its own copy. The cases are a table of
//! one-line `fails` / `passes` calls; every failing case is reported, not just the first.

use crate::support::*;
use std::fs;
use std::path::{Path, PathBuf};

/// A store from a real run with several segments (4 KiB each at most) and its copies.
struct Bench {
    _site: Site,
    store: PathBuf,
    copies: tempfile::TempDir,
    cases: usize,
    failures: Vec<String>,
    /// `segments/<shard>/<name>` of each segment, in chain order.
    seg: Vec<String>,
    /// `chain/<shard>/<name>` of each record, in chain order.
    rec: Vec<String>,
    /// The head as `SEQ:SHA256`, as a note written down elsewhere would hold it.
    head: String,
}

impl Bench {
    fn new() -> Bench {
        let config = format!("{FAST_STORE}{}", source("vpn", &["logs/*.log"]));
        let mut site = Site::new(&config);
        site.start();
        let mut rng = Rng::from_env(11);
        let mut total = 0;
        for _ in 0..6 {
            // Incompressible, so segments stay near their 4 KiB limit and there are several.
            let chunk = rng.bytes(5000);
            site.append("a.log", &chunk);
            site.append("b.log", b"a short line beside it\n");
            total += chunk.len() as u64 + 23;
            site.wait_captured(total);
        }
        site.term();
        let store = site.store();
        let rel = |p: &PathBuf| {
            let r = p.strip_prefix(&store).expect("in the store");
            r.to_string_lossy().into_owned()
        };
        let seg: Vec<String> = segment_files(&store).iter().map(rel).collect();
        let rec: Vec<String> = record_files(&store).iter().map(rel).collect();
        assert!(seg.len() >= 5, "want several segments: {seg:?}");
        let head: serde_json::Value =
            serde_json::from_slice(&fs::read(store.join("head.json")).expect("head.json"))
                .expect("head.json is JSON");
        let head = format!("{}:{}", head["seq"], head["hash"].as_str().expect("hash"));
        Bench {
            _site: site,
            store,
            copies: tempfile::tempdir().expect("tmp"),
            cases: 0,
            failures: Vec::new(),
            seg,
            rec,
            head,
        }
    }

    /// A tampering verify must catch: exit 1, and for each entry of `expect` (`FILE` or
    /// `FILE: start of the message`) a report line `FAIL FILE: ...`.
    fn fails(&mut self, what: &str, args: &[&str], expect: &[&str], tamper: impl FnOnce(&Path)) {
        self.check(what, args, 1, expect, false, tamper);
    }

    /// [`Bench::fails`] with the report's FAIL lines exactly those `expect` names (one each),
    /// so that no other file is accused.
    fn fails_exactly(&mut self, what: &str, expect: &[&str], tamper: impl FnOnce(&Path)) {
        self.check(what, &[], 1, expect, true, tamper);
    }

    /// A change verify must accept (untampered evidence, or what it cannot know): exit 0 and
    /// no FAIL line.
    fn passes(&mut self, what: &str, args: &[&str], change: impl FnOnce(&Path)) {
        self.check(what, args, 0, &[], false, change);
    }

    /// Tamper with a fresh copy of the store, verify it with `args`, require exit `code` and
    /// the FAIL lines `expect` names. Failures are collected, so one run reports them all.
    fn check(
        &mut self,
        what: &str,
        args: &[&str],
        code: i32,
        expect: &[&str],
        only: bool,
        tamper: impl FnOnce(&Path),
    ) {
        self.cases += 1;
        let copy = self.copies.path().join(format!("case{}", self.cases));
        copy_tree(&self.store, &copy);
        tamper(&copy);
        let run = verify(&copy, args);
        let fails = run.fail_lines();
        let mut wrong = Vec::new();
        if run.code != code {
            wrong.push(format!("exit {} instead of {code}", run.code));
        }
        if code == 1 && fails.is_empty() {
            wrong.push("no FAIL line".into());
        }
        if code == 0 && !fails.is_empty() {
            wrong.push("FAIL lines on an acceptable store".into());
        }
        let verdict = match code {
            0 => "OK: the store verified\n".to_owned(),
            _ => format!("FAILED: {} problem(s) found\n", fails.len()),
        };
        if !run.stdout.ends_with(&verdict) {
            wrong.push(format!("the report does not end with {verdict:?}"));
        }
        for e in expect {
            let want = if e.contains(": ") {
                format!("FAIL {e}")
            } else {
                format!("FAIL {e}: ")
            };
            if !fails.iter().any(|l| l.starts_with(&want)) {
                wrong.push(format!("no line starting {want:?}"));
            }
        }
        if only && fails.len() != expect.len() {
            wrong.push(format!(
                "{} FAIL lines, where exactly {} were expected",
                fails.len(),
                expect.len()
            ));
        }
        if !wrong.is_empty() {
            self.failures.push(format!(
                "case {:?}: {}\n{}",
                what,
                wrong.join("; "),
                run.stdout
            ));
        }
    }

    fn finish(self) {
        assert!(
            self.failures.is_empty(),
            "{} of {} cases failed:\n\n{}",
            self.failures.len(),
            self.cases,
            self.failures.join("\n")
        );
    }
}

/// Flip bits `mask` of byte `at` of `rel` in store `s` (after making it writable).
fn flip(s: &Path, rel: &str, at: usize, mask: u8) {
    let p = s.join(rel);
    writable(&p);
    let mut b = fs::read(&p).expect("read");
    b[at] ^= mask;
    fs::write(&p, b).expect("write");
}

fn append_to(s: &Path, rel: &str, bytes: &[u8]) {
    writable(&s.join(rel));
    append(&s.join(rel), bytes);
}

fn truncate(s: &Path, rel: &str, len: usize) {
    let p = s.join(rel);
    writable(&p);
    let f = fs::OpenOptions::new().write(true).open(&p).expect("open");
    f.set_len(len as u64).expect("truncate");
}

fn rm(s: &Path, rel: &str) {
    fs::remove_file(s.join(rel)).expect("rm");
}

fn mv(s: &Path, from: &str, to: &str) {
    fs::rename(s.join(from), s.join(to)).expect("mv");
}

fn cp(s: &Path, from: &str, to: &str) {
    if s.join(to).exists() {
        writable(&s.join(to));
    }
    fs::copy(s.join(from), s.join(to)).expect("cp");
}

/// The file name in a store-relative path.
fn name_of(rel: &str) -> &str {
    rel.rsplit('/').next().unwrap_or(rel)
}

/// The sequence number a record or segment file name starts with.
fn seq_of(rel: &str) -> &str {
    &name_of(rel)[..16]
}

fn put(s: &Path, rel: &str, bytes: &[u8]) {
    fs::write(s.join(rel), bytes).expect("write");
}

/// Remove the newest `n` records and the segments they commit, and rewrite `head.json` to
/// name the new last record: a consistent rollback only a head known from elsewhere exposes.
fn roll_back(s: &Path, n: usize) {
    let recs = record_files(s);
    for p in &recs[recs.len() - n..] {
        let r: serde_json::Value = serde_json::from_slice(&fs::read(p).expect("r")).expect("j");
        if let Some(file) = r["event"]["file"].as_str() {
            let at = crate::support::store::segment_path(s, file);
            let at = at
                .strip_prefix(s)
                .expect("in the store")
                .to_string_lossy()
                .into_owned();
            rm(s, &at);
        }
        fs::remove_file(p).expect("rm record");
    }
    let last = &recs[recs.len() - n - 1];
    let hash = String::from_utf8(sh("sha256sum < \"$1\" | cut -c1-64", &[last])).expect("hex");
    rm(s, "head.json");
    let head = format!(
        "{{\"seq\":{},\"hash\":\"{}\"}}",
        recs.len() - n,
        hash.trim()
    );
    put(s, "head.json", head.as_bytes());
}

/// Give the store another id in `logkeep-store.json`: every record now belongs elsewhere.
fn other_store(s: &Path) {
    let p = s.join("logkeep-store.json");
    let mut info: serde_json::Value = serde_json::from_slice(&fs::read(&p).expect("r")).expect("j");
    info["store"] = "0123456789abcdef0123456789abcdef".into();
    writable(&p);
    fs::write(&p, serde_json::to_vec_pretty(&info).expect("json")).expect("write");
}

/// Where `needle` ends in file `rel` of the store, plus `plus`; the byte there must be a
/// digit or letter, so that flipping its lowest bit keeps the record well-formed JSON.
fn offset_after(store: &Path, rel: &str, needle: &str, plus: usize) -> usize {
    let b = fs::read(store.join(rel)).expect("read");
    let at = b
        .windows(needle.len())
        .position(|w| w == needle.as_bytes())
        .unwrap_or_else(|| panic!("{needle} not in {rel}"))
        + needle.len()
        + plus;
    assert!(
        b[at].is_ascii_alphanumeric(),
        "{rel}[{at}] = {:?}",
        b[at] as char
    );
    at
}

/// One case per line (hence no rustfmt): what is done, the verify arguments, the FAIL lines
/// expected, and the tampering itself. Each runs on its own copy of one real store.
#[rustfmt::skip]
#[test]
fn verify_fails_on_every_tampering_and_names_the_file() {
    require_tool("zstd", "zstd");
    require_tool("sha256sum", "coreutils");
    let mut b = Bench::new();
    let (seg, rec, head) = (b.seg.clone(), b.rec.clone(), b.head.clone());
    let last = rec.len() - 1;
    // The record committing seg[2], a segment record in the middle of the chain.
    let k = rec.iter().position(|r| seq_of(&seg[2]) == seq_of(r)).expect("record of seg[2]");
    let n = fs::metadata(b.store.join(&seg[1])).expect("segment").len() as usize;
    let rn = fs::metadata(b.store.join(&rec[k])).expect("record").len() as usize;

    // Untampered data never fails.
    b.passes("untouched", &[], |_| {});
    b.passes("untouched, the head known", &["--expect-head", &head], |_| {});
    b.passes("left-over .tmp- files are notes", &[], |s| {
        put(s, "segments/.tmp-0000000000000099-x", b"partial");
        put(s, "chain/.tmp-0000000000000099.json-x", b"{");
    });

    // A flipped byte anywhere in a segment: zstd magic, frame header, data, checksum.
    for at in (0..16).map(|i| i * n / 16).chain([n - 1]) {
        b.fails(&format!("flip byte {at} of {n} of a segment"), &[], &[&seg[1]], |s| flip(s, &seg[1], at, 0x01));
    }
    b.fails("delete a segment", &[], &[&format!("{}: missing", seg[2])], |s| rm(s, &seg[2]));
    b.fails("swap two segments", &[], &[&seg[1], &seg[2]], |s| { mv(s, &seg[1], "x"); mv(s, &seg[2], &seg[1]); mv(s, "x", &seg[2]) });
    b.fails("replay an older segment as a newer one", &[], &[&seg[3]], |s| cp(s, &seg[0], &seg[3]));
    b.fails("garbage after the zstd frame", &[], &[&seg[1]], |s| append_to(s, &seg[1], b"hidden"));
    b.fails("one zero byte after the zstd frame", &[], &[&seg[1]], |s| append_to(s, &seg[1], b"\0"));
    let frame = sh("printf 'injected line\\n' | zstd -q -c", &[]);
    b.fails("a second valid zstd frame", &[], &[&seg[1]], |s| append_to(s, &seg[1], &frame));
    let skippable = [&[0x50, 0x2a, 0x4d, 0x18, 4, 0, 0, 0][..], b"evil"].concat();
    b.fails("a skippable frame", &[], &[&seg[1]], |s| append_to(s, &seg[1], &skippable));
    b.fails("truncate a segment to half", &[], &[&seg[1]], |s| truncate(s, &seg[1], n / 2));
    b.fails("cut the checksum off a segment", &[], &[&seg[1]], |s| truncate(s, &seg[1], n - 4));
    b.fails("empty a segment", &[], &[&seg[1]], |s| truncate(s, &seg[1], 0));

    // Injected files.
    b.fails("extra file in segments/", &[], &["segments/notes.txt"], |s| put(s, "segments/notes.txt", b"x"));
    let fake = format!("segments/000000000000/0000000000000099-{}.tar.zst", &name_of(&seg[0])[17..81]);
    b.fails("an unrecorded segment with a valid name", &[], &[&fake], |s| cp(s, &seg[0], &fake));
    b.fails("extra file in chain/", &[], &["chain/README"], |s| put(s, "chain/README", b"x"));
    b.fails("a record file beyond the end", &[], &["chain/000000000000/0000000000000099.json"], |s| cp(s, &rec[last], "chain/000000000000/0000000000000099.json"));
    b.fails("extra file in the store root", &[], &["run.sh"], |s| put(s, "run.sh", b"x"));

    // A flipped byte in a record that makes it malformed (non-canonical, bad hex, bad JSON).
    for at in (0..16).map(|i| i * rn / 16).chain([rn - 2, rn - 1]) {
        b.fails(&format!("flip byte {at} of {rn} of a record"), &[], &[&rec[k]], |s| flip(s, &rec[k], at, 0x20));
    }
    // The last record is witnessed by head.json alone.
    let at = offset_after(&b.store, &rec[last], "\"wall\":\"", 18);
    b.fails("forge the time of the last record", &[], &["head.json"], |s| flip(s, &rec[last], at, 0x01));

    // Records removed.
    b.fails("delete a record in the middle", &[], &[&rec[k + 1]], |s| rm(s, &rec[k]));
    b.fails("swap two records", &[], &[&rec[k], &rec[k + 1]], |s| { mv(s, &rec[k], "x"); mv(s, &rec[k + 1], &rec[k]); mv(s, "x", &rec[k + 1]) });
    b.fails("another store's identity", &[], &[&rec[0], &rec[last]], other_store);
    b.fails("delete the last record", &[], &["head.json: names record"], |s| rm(s, &rec[last]));
    // Cut cleanly with head.json rewritten: invisible without outside knowledge (FORMAT.md,
    // "Not detected"), caught with a head written down before.
    b.passes("last record removed, head.json fixed", &[], |s| roll_back(s, 1));
    b.fails("last record removed, head.json fixed, head known", &["--expect-head", &head], &["chain: chain ends at record"], |s| roll_back(s, 1));
    b.fails("three records rolled back, head known", &["--expect-head", &head], &["chain: chain ends at record"], |s| roll_back(s, 3));
    let other = format!("{}:{}", last + 1, "0".repeat(64));
    b.fails("another record at the known head", &["--expect-head", &other], &[&format!("{}: differs from the expected head", rec[last])], |_| {});
    b.finish();
}

/// A record changed so that it stays well-formed (a forged time, clock or host) must be named
/// as the changed file. Record k+1, which only witnesses the change through its `prev`, is
/// intact: record k+2 still links to it, and the manifest of the segment record k+1 commits
/// binds the original hash of record k as well.
#[rustfmt::skip]
#[test]
fn verify_names_a_forged_record_not_the_next_one() {
    let mut b = Bench::new();
    let (seg, rec) = (b.seg.clone(), b.rec.clone());
    let k = rec.iter().position(|r| seq_of(&seg[2]) == seq_of(r)).expect("record of seg[2]");
    // The forged record is named as changed; the next one only as the other end of the broken
    // link (FORMAT.md §6.2 checks `prev` on it), never as changed itself; nothing else is
    // named, record k+2 included.
    let next = rec.get(k + 1).expect("a record after the forged one");
    assert!(rec.len() > k + 2, "record k+2 exists, so that naming it would be seen");
    let changed = format!("{}: hashes to ", rec[k]);
    let link = format!("{next}: broken link: ");
    for (field, plus) in [("\"wall\":\"", 18), ("\"mono_ns\":", 3), ("\"boot_id\":\"", 2)] {
        let at = offset_after(&b.store, &rec[k], field, plus);
        b.fails_exactly(&format!("forge {field} of a record"), &[&changed, &link], |s| flip(s, &rec[k], at, 0x01));
    }
    b.finish();
}

/// `--json` reports the same verdict for machines: `ok` false and the problem's file.
#[test]
fn verify_json_reports_the_problem() {
    let b = Bench::new();
    let run = verify(&b.store, &["--json"]);
    assert_eq!(run.code, 0, "{run}");
    let v: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON");
    assert_eq!(v["ok"], true, "{run}");
    assert_eq!(v["problems"], serde_json::json!([]));

    let copy = b.copies.path().join("json");
    copy_tree(&b.store, &copy);
    flip(&copy, &b.seg[1], 40, 0x01);
    let run = verify(&copy, &["--json"]);
    assert_eq!(run.code, 1, "{run}");
    let v: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON");
    assert_eq!(v["ok"], false, "{run}");
    let files: Vec<&str> = v["problems"]
        .as_array()
        .expect("problems")
        .iter()
        .map(|p| p["file"].as_str().expect("file"))
        .collect();
    assert!(files.contains(&b.seg[1].as_str()), "{run}");
}
