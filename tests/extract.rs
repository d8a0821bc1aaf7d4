//! `extract` and `list` on stores and bundles as an investigator meets them: captured paths
//! whose output names would collide, a flipped byte, a partial bundle, a selection by source
//! and time, and the JSON forms. Whatever is not whole is said in the file name, the index
//! and the console.

use crate::support::{FAST_STORE, Site, logkeep, record_files, records, segment_files, source};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

/// The index lines of an extraction, by output name.
fn index(out: &Path) -> BTreeMap<String, Value> {
    fs::read_to_string(out.join("logkeep-extract.jsonl"))
        .expect("index")
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).expect("index line");
            (v["output"].as_str().expect("output").to_owned(), v)
        })
        .collect()
}

fn run_extract(input: &Path, out: &Path, extra: &[&str]) -> crate::support::Run {
    let mut args: Vec<std::ffi::OsString> =
        vec!["extract".into(), input.into(), "--out".into(), out.into()];
    args.extend(extra.iter().map(Into::into));
    logkeep(&args)
}

/// The generation id the chain gave to the file at `path`.
fn gen_of(store: &Path, path: &Path) -> u64 {
    let want = path.to_str().expect("utf-8");
    records(store)
        .iter()
        .filter(|r| r["event"]["kind"] == "segment")
        .flat_map(|r| r["event"]["spans"].as_array().expect("spans").clone())
        .find(|s| s["path"] == want)
        .and_then(|s| s["gen_id"].as_u64())
        .unwrap_or_else(|| panic!("{want} was not captured"))
}

/// A host holds, over time, a file `logs/vpn` (generation N), a directory `logs/vpn.genN/`
/// with a log in it, and later a directory where the file `logs/vpn` was: every generation is
/// written, byte for byte, under a name of its own, and the index gives each original path.
#[test]
fn a_file_and_a_directory_with_the_same_output_name_are_both_extracted() {
    let config = format!(
        "{FAST_STORE}{}",
        source("vpn", &["logs/vpn", "logs/*/*.log"])
    );
    let mut site = Site::new(&config);
    let first = b"vpn as a file\n".repeat(50);
    site.append("vpn", &first);
    site.start();
    site.wait_captured(first.len() as u64);
    let n = gen_of(&site.store(), &site.log("vpn"));
    let dir = site.log(&format!("vpn.gen{n}"));
    fs::create_dir(&dir).expect("mkdir");
    let second = b"a log under vpn.genN/\n".repeat(40);
    fs::write(dir.join("a.log"), &second).expect("write");
    site.wait_captured((first.len() + second.len()) as u64);
    site.term();

    let arena = tempfile::tempdir().expect("tmp");
    let out = arena.path().join("out");
    let run = run_extract(&site.store(), &out, &[]);
    assert_eq!(run.code, 0, "{run}");
    assert!(!run.text().contains("cannot be decoded"), "{run}");
    let idx = index(&out);
    let by_path: BTreeMap<String, &Value> = idx
        .values()
        .map(|v| (v["path"].as_str().expect("path").to_owned(), v))
        .collect();
    for (original, want) in [(site.log("vpn"), &first), (dir.join("a.log"), &second)] {
        let line = by_path
            .get(original.to_str().expect("utf-8"))
            .unwrap_or_else(|| panic!("{} not in the index: {idx:?}", original.display()));
        assert_eq!(line["condition"], "whole", "{line}");
        let got = fs::read(out.join(line["output"].as_str().expect("output"))).expect("output");
        assert_eq!(&got, want, "{}", original.display());
    }
}

/// A stopped store of two logs over several segments: (site, vpn bytes, rdp bytes).
fn two_logs() -> (Site, Vec<u8>, Vec<u8>) {
    let config = format!(
        "{FAST_STORE}{}{}",
        source("vpn", &["logs/vpn.log"]),
        source("rdp", &["logs/rdp.log"])
    );
    let mut site = Site::new(&config);
    site.start();
    let (mut vpn, mut rdp) = (Vec::new(), Vec::new());
    for round in 0..6 {
        let v = format!("vpn {round} {}\n", "v".repeat(2500)).into_bytes();
        site.append("vpn.log", &v);
        vpn.extend(v);
        if round >= 3 {
            let r = format!("rdp {round} {}\n", "r".repeat(2500)).into_bytes();
            site.append("rdp.log", &r);
            rdp.extend(r);
        }
        site.wait_captured((vpn.len() + rdp.len()) as u64);
        std::thread::sleep(std::time::Duration::from_millis(30));
    }
    site.term();
    (site, vpn, rdp)
}

/// The spans `[start, end)` of generation `gen_id` that record `seq` commits.
fn spans_in(store: &Path, seq: u64, gen_id: u64) -> Vec<(u64, u64)> {
    records(store)
        .iter()
        .filter(|r| r["seq"] == seq)
        .flat_map(|r| r["event"]["spans"].as_array().expect("spans").clone())
        .filter(|s| s["gen_id"] == gen_id)
        .map(|s| {
            (
                s["start"].as_u64().expect("start"),
                s["end"].as_u64().expect("end"),
            )
        })
        .collect()
}

/// One flipped byte in a segment: extract refuses; `extract --force` writes every generation,
/// but those the segment holds are named `.DAMAGED`, and the index and the console name the
/// damaged ranges (today the index said `"missing": []`).
#[test]
fn a_flipped_byte_is_named_in_the_file_name_the_index_and_the_console() {
    let (site, vpn, _) = two_logs();
    let arena = tempfile::tempdir().expect("tmp");
    let store = arena.path().join("store");
    let st = std::process::Command::new("cp")
        .arg("-a")
        .arg(site.store())
        .arg(&store)
        .status()
        .expect("cp");
    assert!(st.success());
    let segments = segment_files(&store);
    assert!(segments.len() >= 3, "several segments: {segments:?}");
    let victim: &PathBuf = &segments[1];
    let seq: u64 = crate::support::file_name(victim)[..16]
        .parse()
        .expect("seq");
    let mut bytes = fs::read(victim).expect("segment");
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    let mut perm = fs::metadata(victim).expect("meta").permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perm.set_readonly(false);
    fs::set_permissions(victim, perm).expect("chmod");
    fs::write(victim, &bytes).expect("flip");

    let out = arena.path().join("refused");
    let run = run_extract(&store, &out, &[]);
    assert_eq!(run.code, 1, "{run}");
    assert!(!out.join("logkeep-extract.jsonl").exists(), "{run}");

    let out = arena.path().join("forced");
    let run = run_extract(&store, &out, &["--force"]);
    assert_eq!(run.code, 1, "{run}");
    let idx = index(&out);
    let vpn_gen = gen_of(&store, &site.log("vpn.log"));
    let mut damaged_seen = 0;
    for (output, line) in &idx {
        let gen_id = line["gen_id"].as_u64().expect("gen");
        let want: Vec<(u64, u64)> = spans_in(&store, seq, gen_id);
        let got: Vec<(u64, u64)> =
            serde_json::from_value(line["damaged"].clone()).expect("damaged");
        if want.is_empty() {
            assert_eq!(line["condition"], "whole", "{line}");
            assert!(!output.ends_with(".DAMAGED"), "{line}");
            continue;
        }
        damaged_seen += 1;
        assert_eq!(line["condition"], "damaged", "{line}");
        assert!(output.ends_with(".DAMAGED"), "{line}");
        assert_eq!(
            got, want,
            "the damaged ranges are the segment's spans: {line}"
        );
        let console = run
            .stdout
            .lines()
            .find(|l| l.starts_with(&format!("DAMAGED {output} ")))
            .unwrap_or_else(|| panic!("no console line for {output}\n{run}"));
        for (a, b) in &want {
            assert!(console.contains(&format!("[{a}, {b})")), "{console}");
        }
        assert!(fs::metadata(out.join(output)).is_ok(), "{output} written");
    }
    assert!(
        damaged_seen >= 1,
        "the flipped segment holds a generation: {idx:?}"
    );
    assert!(
        spans_in(&store, seq, vpn_gen).is_empty() || damaged_seen >= 1,
        "vpn.log is in the victim"
    );
    let _ = vpn;
    // The listing says the same, range by range.
    let list = logkeep(&["list".as_ref(), store.as_os_str()]);
    assert_eq!(list.code, 1, "{list}");
    assert!(
        list.stdout
            .lines()
            .any(|l| l.contains(&format!("record {seq}  DAMAGED"))),
        "{list}"
    );
}

/// A bundle of the store's later segments only: the generation that began before is written
/// with a hole, named `.INCOMPLETE`, and the index and the console name the missing range.
#[test]
fn a_partial_bundle_marks_what_it_does_not_hold() {
    let (site, vpn, rdp) = two_logs();
    let arena = tempfile::tempdir().expect("tmp");
    let key = arena.path().join("k.pem");
    let k = logkeep(&["keygen".as_ref(), "--key".as_ref(), key.as_os_str()]);
    assert_eq!(k.code, 0, "{k}");
    // From the first segment that holds rdp.log on.
    let rdp_path = site.log("rdp.log");
    let since = records(&site.store())
        .into_iter()
        .find(|r| {
            r["event"]["kind"] == "segment"
                && r["event"]["spans"]
                    .as_array()
                    .expect("spans")
                    .iter()
                    .any(|s| s["path"] == rdp_path.to_str().expect("utf-8"))
        })
        .map(|r| r["event"]["first"].as_str().expect("first").to_owned())
        .expect("rdp captured");
    let bundle = arena.path().join("late.tar");
    let e = logkeep(&[
        "export".as_ref(),
        "--store".as_ref(),
        site.store().as_os_str(),
        "--key".as_ref(),
        key.as_os_str(),
        "--out".as_ref(),
        bundle.as_os_str(),
        "--since".as_ref(),
        since.as_ref(),
    ]);
    assert_eq!(e.code, 0, "{e}");
    let out = arena.path().join("out");
    let run = run_extract(&bundle, &out, &[]);
    assert_eq!(run.code, 0, "{run}");
    let idx = index(&out);
    let vpn_line = idx
        .values()
        .find(|v| v["path"] == site.log("vpn.log").to_str().expect("utf-8"))
        .expect("vpn.log extracted");
    let output = vpn_line["output"].as_str().expect("output");
    assert_eq!(vpn_line["condition"], "incomplete", "{vpn_line}");
    assert!(output.ends_with(".INCOMPLETE"), "{vpn_line}");
    let missing: Vec<(u64, u64)> =
        serde_json::from_value(vpn_line["missing"].clone()).expect("missing");
    assert_eq!(missing.len(), 1, "{vpn_line}");
    assert_eq!(missing[0].0, 0, "{vpn_line}");
    let got = fs::read(out.join(output)).expect("vpn output");
    let hole = missing[0].1 as usize;
    assert!(
        got[..hole].iter().all(|&b| b == 0),
        "the hole reads as zeros"
    );
    assert_eq!(got[hole..], vpn[hole..got.len()], "the rest is byte-exact");
    let console = run
        .stdout
        .lines()
        .find(|l| l.starts_with(&format!("INCOMPLETE {output} ")))
        .unwrap_or_else(|| panic!("no console line for {output}\n{run}"));
    assert!(
        console.contains(&format!("missing (zeros) [0, {hole})")),
        "{console}"
    );
    // rdp.log is all there.
    let rdp_line = idx
        .values()
        .find(|v| v["path"] == rdp_path.to_str().expect("utf-8"))
        .expect("rdp.log extracted");
    assert_eq!(rdp_line["condition"], "whole", "{rdp_line}");
    let got = fs::read(out.join(rdp_line["output"].as_str().expect("o"))).expect("rdp output");
    assert_eq!(got, rdp);

    // The listing of the bundle says which ranges it does not hold, in JSON too. The path
    // given is the user's: a link to the bundle is followed.
    let link = arena.path().join("link.tar");
    std::os::unix::fs::symlink(&bundle, &link).expect("link");
    let list = logkeep(&["list".as_ref(), link.as_os_str(), "--json".as_ref()]);
    assert_eq!(list.code, 0, "{list}");
    let v: Value = serde_json::from_str(&list.stdout).expect("list JSON");
    assert_eq!(v["kind"], "bundle");
    assert_eq!(v["ok"], true);
    let g = v["generations"]
        .as_array()
        .expect("generations")
        .iter()
        .find(|g| g["path"] == site.log("vpn.log").to_str().expect("utf-8"))
        .expect("vpn.log listed");
    let states: Vec<&str> = g["ranges"]
        .as_array()
        .expect("ranges")
        .iter()
        .map(|r| r["state"].as_str().expect("state"))
        .collect();
    assert!(states.contains(&"not_included"), "{g}");
    assert!(states.contains(&"verified"), "{g}");
}

/// `--source`, `--since` and `--until` select what is written; `--json` gives the result as
/// JSON; a store lists every generation.
#[test]
fn extract_selects_by_source_and_time_and_speaks_json() {
    let (site, vpn, rdp) = two_logs();
    let arena = tempfile::tempdir().expect("tmp");
    let out = arena.path().join("rdp-only");
    let run = run_extract(&site.store(), &out, &["--source", "rdp", "--json"]);
    assert_eq!(run.code, 0, "{run}");
    let v: Value = serde_json::from_str(&run.stdout).expect("JSON result");
    assert_eq!(v["ok"], true);
    let files = v["files"].as_array().expect("files");
    assert_eq!(files.len(), 1, "{v}");
    assert_eq!(files[0]["source"], "rdp");
    let got = fs::read(out.join(files[0]["output"].as_str().expect("o"))).expect("rdp");
    assert_eq!(got, rdp);

    let out = arena.path().join("future");
    let run = run_extract(&site.store(), &out, &["--since", "2999-01-01T00:00:00Z"]);
    assert_eq!(run.code, 0, "{run}");
    assert!(index(&out).is_empty(), "nothing read after 2999");

    let out = arena.path().join("past");
    let run = run_extract(&site.store(), &out, &["--until", "2000-01-01T00:00:00Z"]);
    assert_eq!(run.code, 0, "{run}");
    assert!(index(&out).is_empty(), "nothing read before 2000");

    let out = arena.path().join("bad");
    let run = run_extract(&site.store(), &out, &["--since", "yesterday"]);
    assert_eq!(run.code, 2, "{run}");
    assert!(run.stderr.contains("--since"), "{run}");

    let list = logkeep(&["list".as_ref(), site.store().as_os_str()]);
    assert_eq!(list.code, 0, "{list}");
    for (name, data) in [("vpn.log", &vpn), ("rdp.log", &rdp)] {
        let path = site.log(name);
        assert!(
            list.stdout
                .lines()
                .any(|l| l.contains(path.to_str().expect("utf-8"))
                    && l.contains(&format!("{} bytes", data.len()))),
            "{list}"
        );
    }
    assert!(list.stdout.ends_with("OK: the store verified\n"), "{list}");
    assert!(!record_files(&site.store()).is_empty());
}
