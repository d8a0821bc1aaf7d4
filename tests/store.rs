//! The foundation with the real binary on real files: byte-exact round trips, exactly-once
//! capture across SIGTERM and `kill -9` restarts, every tampering of a store detected, and the
//! store opened with standard tools.

use crate::harness::*;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const FAST: &str = "[store]\npath = \"store\"\nseal_interval = \"200ms\"\nscan_interval = \"100ms\"\nsegment_max_bytes = \"4KiB\"\n\
                    [[source]]\nid = \"vpn\"\npaths = [\"logs/*.log\"]\n";

/// Wait until the store has committed `n` captured bytes in total.
fn wait_captured(site: &Site, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let have: usize = records(&site.path("store"))
            .iter()
            .filter(|r| r.contains("\"kind\":\"segment\""))
            .map(|r| {
                let v: serde_json::Value = serde_json::from_str(r).expect("record json");
                v["event"]["spans"]
                    .as_array()
                    .expect("spans")
                    .iter()
                    .map(|s| {
                        (s["end"].as_u64().expect("end") - s["start"].as_u64().expect("start"))
                            as usize
                    })
                    .sum::<usize>()
            })
            .sum();
        if have >= n {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "only {have} of {n} bytes committed:\n{}",
            site.stderr()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn every_kind_of_byte_comes_back_exactly() {
    let mut site = Site::with_config(FAST);
    let mut written = Vec::new();
    let mut add = |site: &Site, bytes: &[u8]| {
        site.append("a.log", bytes);
        written.extend_from_slice(bytes);
    };
    add(&site, b"first line\n\nafter an empty line\r\ncrlf\r\n");
    site.start();
    add(&site, &[0, 0, 0xff, 0xfe, 0xc3, 0x28, b'\n']); // NULs and invalid UTF-8
    let long: Vec<u8> = (0..10 << 20).map(|i| b'a' + (i % 26) as u8).collect();
    add(&site, &long); // a 10 MiB line
    add(&site, b"\nthe last line has no newline");
    wait_captured(&site, written.len());
    site.stop();
    let (code, out) = verify(&site.path("store"), &[]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(extracted(&site.path("store"), "a.log"), written);
    // A tiny file with no newline at all is captured too.
    let mut tiny = Site::with_config(FAST);
    tiny.append("t.log", b"x");
    tiny.start();
    wait_captured(&tiny, 1);
    tiny.stop();
    assert_eq!(extracted(&tiny.path("store"), "t.log"), b"x");
}

fn kill(site: &mut Site, signal: &str) {
    if let Some(mut c) = site.child.take() {
        let _ = Command::new("kill")
            .args([signal, &c.id().to_string()])
            .status();
        let st = c.wait().expect("wait");
        if signal == "-TERM" {
            assert!(st.success(), "exit {st}: {}", site.stderr());
        }
    }
}

#[test]
fn restarts_and_kill_9_lose_and_duplicate_nothing() {
    let mut site = Site::with_config(FAST);
    let mut n = 0u64;
    let mut written = Vec::new();
    let mut line = |site: &Site, count: u64| {
        let mut chunk = Vec::new();
        for _ in 0..count {
            n += 1;
            chunk.extend_from_slice(
                format!("{n:08} login user{n} from 198.51.100.{}\n", n % 250).as_bytes(),
            );
        }
        site.append("a.log", &chunk);
        written.extend_from_slice(&chunk);
    };
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    for round in 0..12 {
        site.start();
        // Appends while the daemon runs, then a stop at a pseudo-random moment.
        for _ in 0..5 {
            line(&site, 200);
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            std::thread::sleep(Duration::from_millis(seed % 60));
        }
        kill(&mut site, if round % 3 == 0 { "-TERM" } else { "-KILL" });
        // Appends while it is down.
        line(&site, 150);
    }
    site.start();
    wait_captured(&site, written.len());
    kill(&mut site, "-TERM");
    let (code, out) = verify(&site.path("store"), &[]);
    assert_eq!(code, 0, "{out}");
    let got = extracted(&site.path("store"), "a.log");
    assert_eq!(got.len(), written.len(), "lost or duplicated bytes");
    assert_eq!(got, written);
}

/// A stopped store with several segments, copied fresh for each tampering.
fn sample_store() -> (Site, PathBuf) {
    let mut site = Site::with_config(FAST);
    let mut all = Vec::new();
    for i in 0..6 {
        let chunk: Vec<u8> = noise(3000, i + 1);
        site.append("a.log", &chunk);
        all.extend_from_slice(&chunk);
        if i == 0 {
            site.start();
        }
        wait_captured(&site, all.len());
    }
    site.stop();
    let store = site.path("store");
    (site, store)
}

fn segment_files(store: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(store.join("segments"))
        .expect("segments")
        .flatten()
        .map(|e| e.path())
        .collect();
    v.sort();
    v
}

fn record_files(store: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(store.join("chain"))
        .expect("chain")
        .flatten()
        .map(|e| e.path())
        .collect();
    v.sort();
    v
}

fn writable(p: &Path) {
    let mut perm = fs::metadata(p).expect("meta").permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perm.set_readonly(false);
    fs::set_permissions(p, perm).expect("chmod");
}

fn flip(p: &Path, at: usize) {
    writable(p);
    let mut b = fs::read(p).expect("read");
    let at = at.min(b.len() - 1);
    b[at] ^= 0x01;
    fs::write(p, b).expect("write");
}

fn name(p: &Path) -> String {
    p.file_name().expect("name").to_string_lossy().into_owned()
}

#[test]
fn verify_catches_every_tampering() {
    let (_site, store) = sample_store();
    let (code, out) = verify(&store, &[]);
    assert_eq!(code, 0, "untouched store: {out}");
    let head_line = out
        .lines()
        .find(|l| l.starts_with("chain head:"))
        .expect("head line")
        .to_owned();
    let segs = segment_files(&store);
    let recs = record_files(&store);
    assert!(
        segs.len() >= 4,
        "want several segments, have {}",
        segs.len()
    );
    type Tamper = Box<dyn Fn(&Path)>;
    let seg = |i: usize| name(&segs[i]);
    let rec = |i: usize| name(&recs[i]);
    let last_rec = rec(recs.len() - 1);
    let cases: Vec<(&str, Tamper, String)> = vec![
        (
            "flipped byte in a segment",
            Box::new({
                let s = seg(1);
                move |st: &Path| flip(&st.join("segments").join(&s), 100)
            }),
            seg(1),
        ),
        (
            "flipped byte in a record",
            Box::new({
                let r = rec(2);
                move |st: &Path| flip(&st.join("chain").join(&r), 30)
            }),
            rec(2),
        ),
        (
            "deleted segment",
            Box::new({
                let s = seg(2);
                move |st: &Path| fs::remove_file(st.join("segments").join(&s)).expect("rm")
            }),
            seg(2),
        ),
        (
            "swapped segments",
            Box::new({
                let (a, b) = (seg(1), seg(2));
                move |st: &Path| {
                    let d = st.join("segments");
                    fs::rename(d.join(&a), d.join("tmp")).expect("mv");
                    fs::rename(d.join(&b), d.join(&a)).expect("mv");
                    fs::rename(d.join("tmp"), d.join(&b)).expect("mv");
                }
            }),
            seg(1),
        ),
        (
            "replayed older segment",
            Box::new({
                let (a, b) = (seg(0), seg(3));
                move |st: &Path| {
                    let d = st.join("segments");
                    writable(&d.join(&b));
                    fs::copy(d.join(&a), d.join(&b)).expect("cp");
                }
            }),
            seg(3),
        ),
        (
            "garbage after the zstd frame",
            Box::new({
                let s = seg(1);
                move |st: &Path| {
                    let p = st.join("segments").join(&s);
                    writable(&p);
                    let mut b = fs::read(&p).expect("read");
                    b.extend_from_slice(b"appended");
                    fs::write(&p, b).expect("write");
                }
            }),
            seg(1),
        ),
        (
            "a second zstd frame",
            Box::new({
                let s = seg(1);
                move |st: &Path| {
                    let p = st.join("segments").join(&s);
                    writable(&p);
                    let mut b = fs::read(&p).expect("read");
                    b.extend(zstd::encode_all(&b"hidden"[..], 3).expect("zstd"));
                    fs::write(&p, b).expect("write");
                }
            }),
            seg(1),
        ),
        (
            "truncated segment",
            Box::new({
                let s = seg(1);
                move |st: &Path| {
                    let p = st.join("segments").join(&s);
                    writable(&p);
                    let b = fs::read(&p).expect("read");
                    fs::write(&p, &b[..b.len() / 2]).expect("write");
                }
            }),
            seg(1),
        ),
        (
            "extra file in segments",
            Box::new(|st: &Path| fs::write(st.join("segments/notes.txt"), "x").expect("w")),
            "notes.txt".into(),
        ),
        (
            "extra file in chain",
            Box::new(|st: &Path| {
                fs::write(st.join("chain/0000000000000099.json"), "{}").expect("w")
            }),
            "0000000000000099.json".into(),
        ),
        (
            "last record removed",
            Box::new({
                let r = last_rec.clone();
                move |st: &Path| fs::remove_file(st.join("chain").join(&r)).expect("rm")
            }),
            "head.json".into(),
        ),
    ];
    let root = tempfile::tempdir().expect("tmp");
    for (i, (what, tamper, file)) in cases.iter().enumerate() {
        let copy = root.path().join(format!("case{i}"));
        let st = Command::new("cp")
            .arg("-a")
            .arg(&store)
            .arg(&copy)
            .status()
            .expect("cp");
        assert!(st.success());
        tamper(&copy);
        let (code, out) = verify(&copy, &[]);
        assert_eq!(code, 1, "{what}: expected exit 1:\n{out}");
        assert!(
            out.lines()
                .any(|l| l.starts_with("FAIL") && l.contains(file.as_str())),
            "{what}: no FAIL line naming {file}:\n{out}"
        );
    }
    // The whole tail cut cleanly (records, segments and the head hint) is only visible against
    // a head known from elsewhere.
    let copy = root.path().join("cut");
    assert!(
        Command::new("cp")
            .arg("-a")
            .arg(&store)
            .arg(&copy)
            .status()
            .expect("cp")
            .success()
    );
    fs::remove_file(copy.join("chain").join(&last_rec)).expect("rm");
    fs::remove_file(copy.join("head.json")).expect("rm");
    let (code, out) = verify(&copy, &[]);
    assert_eq!(code, 0, "{out}");
    let known = head_line.split_whitespace().collect::<Vec<_>>();
    let expect = format!("{}:{}", known[3], known[5]);
    let (code, out) = verify(&copy, &["--expect-head", &expect]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("truncated or rolled back"), "{out}");
}

#[test]
fn standard_tools_open_the_store() {
    let (_site, store) = sample_store();
    for tool in ["zstd", "tar", "sha256sum"] {
        assert!(
            Command::new("sh")
                .args(["-c", &format!("command -v {tool} >/dev/null")])
                .status()
                .expect("sh")
                .success(),
            "{tool} is missing: apt-get install zstd tar coreutils"
        );
    }
    let out = tempfile::tempdir().expect("tmp");
    for seg in segment_files(&store) {
        // The file's SHA-256 is in its name.
        let sum = Command::new("sha256sum")
            .arg(&seg)
            .output()
            .expect("sha256sum");
        let hash = String::from_utf8_lossy(&sum.stdout)[..64].to_owned();
        assert!(
            name(&seg).contains(&hash),
            "{} does not hash to its name",
            seg.display()
        );
        let st = Command::new("sh")
            .args(["-c", "zstd -q -d < \"$1\" | tar -x -C \"$2\"", "sh"])
            .arg(&seg)
            .arg(out.path())
            .status()
            .expect("zstd | tar");
        assert!(st.success());
    }
    // The chunk files of the generation, in name order, are the file.
    let gen_dir = walk(out.path())
        .into_iter()
        .find(|p| p.to_string_lossy().contains("a.log.gen"))
        .expect("chunks")
        .parent()
        .expect("dir")
        .to_owned();
    let mut chunks: Vec<PathBuf> = fs::read_dir(&gen_dir)
        .expect("dir")
        .flatten()
        .map(|e| e.path())
        .collect();
    chunks.sort();
    let joined: Vec<u8> = chunks
        .iter()
        .flat_map(|p| fs::read(p).expect("chunk"))
        .collect();
    assert_eq!(
        joined,
        fs::read(store.parent().expect("site").join("logs/a.log")).expect("source")
    );
    // `sha256sum` of record n is the prev of record n+1.
    let recs = record_files(&store);
    for pair in recs.windows(2) {
        let sum = Command::new("sha256sum")
            .arg(&pair[0])
            .output()
            .expect("sha256sum");
        let hash = String::from_utf8_lossy(&sum.stdout)[..64].to_owned();
        let next = fs::read_to_string(&pair[1]).expect("record");
        assert!(
            next.contains(&format!("\"prev\":\"{hash}\"")),
            "{} is not linked to {}",
            pair[1].display(),
            pair[0].display()
        );
    }
}

#[test]
fn configuration_errors_name_the_file_and_line() {
    let cases = [
        (
            "[store]\npath = \"s\"\nbogus = 1\n[[source]]\nid = \"a\"\npaths = [\"/x\"]\n",
            "bogus",
        ),
        (
            "[store]\npath = \"s\"\nseal_interval = \"soon\"\n[[source]]\nid = \"a\"\npaths = [\"/x\"]\n",
            ":3",
        ),
        (
            "[store]\npath = \"s\"\n[[source]]\nid = \"a\"\npaths = [\"/x\"]\n[[source]]\nid = \"a\"\npaths = [\"/y\"]\n",
            ":7",
        ),
        (
            "[store]\npath = \"s\"\n[[source]]\nid = \"../x\"\npaths = [\"/x\"]\n",
            ":4",
        ),
    ];
    for (text, needle) in cases {
        let site = Site::with_config(text);
        let (code, out) = logkeep(&[
            "check-config",
            "--config",
            site.path("c.toml").to_str().expect("utf-8"),
        ]);
        assert_eq!(code, 2, "{text}\n{out}");
        assert!(
            out.contains("c.toml") && out.contains(needle),
            "{text}\nmessage lacks file or {needle}: {out}"
        );
    }
    let site = Site::with_config(FAST);
    site.append("a.log", b"x\n");
    let (code, out) = logkeep(&[
        "check-config",
        "--config",
        site.path("c.toml").to_str().expect("utf-8"),
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("a.log"), "{out}");
    let (code, out) = logkeep(&["verify", site.path("logs").to_str().expect("utf-8")]);
    assert_eq!(code, 2, "a directory that is no store: {out}");
}
