//! Evidence bundles end to end: a real daemon fills a store, `logkeep export` seals it, and the
//! bundle is checked the way an investigator would (tar, sha256sum, openssl, zstd), tampered
//! with the way an attacker would, and fed to `verify` and `extract` as hostile input.

use crate::support::bundle::*;
use logkeep_format::{Event, Record, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// Hostile input must be judged quickly, whatever it claims; the runner's own deadline only
/// stops a hang.
const HOSTILE_BOUND: Duration = Duration::from_secs(30);

/// Build an argument list from mixed strings and paths.
fn args(parts: &[&dyn AsRef<std::ffi::OsStr>]) -> Vec<OsString> {
    parts.iter().map(|p| p.as_ref().to_os_string()).collect()
}

/// A store of two sources captured in alternating rounds (each round at least one segment),
/// and the bytes each log file holds.
fn small_store() -> (Capture, BTreeMap<String, Vec<u8>>) {
    let mut cap = Capture::start(&[("vpn", "openvpn.log"), ("rdp", "xrdp.log")]);
    let mut written: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for round in 0..6u64 {
        let file = if round % 2 == 0 {
            "openvpn.log"
        } else {
            "xrdp.log"
        };
        let data = log_bytes(round + 1, 1800 + 900 * round as usize, round == 4);
        cap.append(file, &data);
        written.entry(file.to_owned()).or_default().extend(data);
    }
    cap.stop();
    (cap, written)
}

/// Export the whole store with `key`; returns the bundle path.
fn export_all(cap: &Capture, key: &Key, name: &str) -> PathBuf {
    let bundle = cap.root.path().join(name);
    logkeep(args(&[
        &"export",
        &"--store",
        &cap.store,
        &"--out",
        &bundle,
        &"--key",
        &key.path,
        &"--case",
        &"2026-0042",
    ]))
    .expect(0);
    bundle
}

/// Extract a bundle with GNU tar into a new directory; returns the bundle's top directory.
fn untar(bundle: &Path, into: &Path) -> PathBuf {
    fs::create_dir_all(into).expect("mkdir");
    let mut cmd = Command::new("tar");
    cmd.arg("-xf").arg(bundle).arg("-C").arg(into);
    run(&mut cmd, None, STEP).expect(0);
    let tops: Vec<_> = fs::read_dir(into)
        .expect("read")
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(tops.len(), 1, "a bundle has one top directory: {tops:?}");
    assert!(
        tops[0]
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("logkeep-bundle-")
    );
    tops[0].clone()
}

/// The lines of `logkeep-extract.jsonl`, by original path.
fn extract_index(out: &Path) -> BTreeMap<String, serde_json::Value> {
    let text = fs::read_to_string(out.join("logkeep-extract.jsonl")).expect("index");
    text.lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("index line is JSON");
            (v["path"].as_str().expect("path").to_owned(), v)
        })
        .collect()
}

/// Check the extracted file of `path` against `want` and return its index line.
fn extracted_file(out: &Path, path: &Path, want: &[u8]) -> serde_json::Value {
    let index = extract_index(out);
    let line = index
        .get(&path.display().to_string())
        .unwrap_or_else(|| panic!("{} not in the index: {index:?}", path.display()))
        .clone();
    let got = fs::read(out.join(line["output"].as_str().expect("output"))).expect("extracted");
    assert!(
        got == want,
        "{}: extracted {} bytes differ from the {} bytes expected",
        path.display(),
        got.len(),
        want.len()
    );
    line
}

#[test]
fn bundle_checks_out_with_standard_tools_and_logkeep() {
    require_investigator_tools();
    let (cap, written) = small_store();
    let dir = cap.root.path();
    let key = Key::generate(dir, "host");
    let bundle = dir.join("evidence.tar");
    let export = logkeep(args(&[
        &"export",
        &"--store",
        &cap.store,
        &"--out",
        &bundle,
        &"--key",
        &key.path,
        &"--case",
        &"2026-0042",
        &"--evidence",
        &"E-7",
        &"--examiner",
        &"Sato",
        &"--note",
        &"VPN gateway logs",
        &"--config",
        &cap.config,
    ]));
    export.expect(0);
    let bytes = fs::read(&bundle).expect("bundle");
    let whole = sha256sum_hex(&bytes);
    assert!(
        export.stdout.contains(&format!("sha256:      {whole}")),
        "export prints the bundle's SHA-256\n{}",
        export.describe()
    );

    // The seal, with nothing but coreutils and openssl.
    let top = untar(&bundle, &dir.join("x"));
    let sums = fs::read_to_string(top.join("SHA256SUMS")).expect("SHA256SUMS");
    let check = bash("sha256sum -c SHA256SUMS", &top);
    check.expect(0);
    assert_eq!(
        check.stdout.lines().filter(|l| l.ends_with(": OK")).count(),
        sums.lines().count(),
        "every listed file checks\n{}",
        check.describe()
    );
    // A closed listing: every file but the seal itself and the custody log is listed.
    let listed: BTreeSet<String> = sums
        .lines()
        .map(|l| l.split_once("  ").expect("sha256sum format").1.to_owned())
        .collect();
    let mut present = tree(&top, &[]);
    present.retain(|p| !p.ends_with('/'));
    for unsealed in UNSEALED {
        assert!(present.remove(unsealed), "{unsealed} is in the bundle");
    }
    assert_eq!(
        listed, present,
        "SHA256SUMS lists exactly the sealed members"
    );
    // The bundle's own script checks the seal with standard tools alone, against the root
    // fingerprint keygen printed.
    let script = bash(
        &format!("sh verify-with-openssl.sh {}", key.fingerprint),
        &top,
    );
    script.expect(0);
    assert!(
        script.stdout.contains(&format!(
            "OK: the bundle verified against root {}",
            key.hex()
        )),
        "{}",
        script.describe()
    );
    // The signature by hand: the epoch key signed the bundle text over SHA256SUMS's digest.
    let epoch =
        serde_json::from_slice::<serde_json::Value>(&fs::read(top.join("bundle.json")).unwrap())
            .unwrap()["signature"]["epoch"]
            .as_u64()
            .expect("the signing epoch");
    let sig = bash(
        &format!(
            "printf 'logkeep bundle\\nepoch {epoch}\\nsums %s\\n' \"$(sha256sum SHA256SUMS | cut -c1-64)\" > ../msg && openssl pkeyutl -verify -pubin -inkey signing-key.pub.pem -rawin -in ../msg -sigfile SHA256SUMS.sig"
        ),
        &top,
    );
    sig.expect(0);
    assert!(
        sig.stdout.contains("Signature Verified Successfully"),
        "{}",
        sig.describe()
    );

    // Every segment opens with zstd and tar, and its chunks put back together give the logs.
    let segdir = dir.join("segments-opened");
    fs::create_dir(&segdir).unwrap();
    let segments: Vec<PathBuf> = {
        let mut v: Vec<PathBuf> = fs::read_dir(top.join("store/segments"))
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .collect();
        v.sort();
        v
    };
    assert!(
        segments.len() >= 6,
        "one segment per round at least: {segments:?}"
    );
    for seg in &segments {
        bash(
            &format!(
                "zstd -q -d < '{}' | tar -x -C '{}'",
                seg.display(),
                segdir.display()
            ),
            dir,
        )
        .expect(0);
    }
    for (source, file) in [("vpn", "openvpn.log"), ("rdp", "xrdp.log")] {
        let original = cap.log_path(file);
        let parent = segdir
            .join(source)
            .join(original.parent().unwrap().strip_prefix("/").unwrap());
        let gens: Vec<PathBuf> = fs::read_dir(&parent)
            .unwrap_or_else(|e| panic!("{}: {e}", parent.display()))
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with(&format!("{file}.gen"))
            })
            .collect();
        assert_eq!(gens.len(), 1, "one generation of {file}: {gens:?}");
        let mut chunks: Vec<PathBuf> = fs::read_dir(&gens[0])
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .collect();
        chunks.sort();
        let joined: Vec<u8> = chunks.iter().flat_map(|c| fs::read(c).unwrap()).collect();
        assert!(
            joined == written[file],
            "{file}: the segments' chunks in name order are the log ({} vs {} bytes)",
            joined.len(),
            written[file].len()
        );
    }

    // Metadata that the export was asked to carry.
    assert_eq!(
        fs::read(top.join("config/logkeep.toml")).unwrap(),
        fs::read(&cap.config).unwrap()
    );
    let devices = fs::read_to_string(top.join("inventory/devices.json")).unwrap();
    assert!(
        devices.contains("vpn-gw-1") && devices.contains("ExampleVPN 9000"),
        "{devices}"
    );
    let info: serde_json::Value =
        serde_json::from_slice(&fs::read(top.join("bundle.json")).unwrap()).unwrap();
    assert_eq!(info["case"], "2026-0042");
    assert_eq!(info["evidence"], "E-7");
    assert_eq!(info["examiner"], "Sato");
    assert_eq!(
        info["signature"]["key_fingerprint"],
        key.fingerprint.as_str()
    );

    // logkeep itself, pinned to the fingerprint received out of band.
    let (head_seq, head_hash) = cap.sealed_head();
    let v = logkeep(args(&[
        &"verify",
        &bundle,
        &"--fingerprint",
        &key.fingerprint,
    ]));
    v.expect(0);
    for want in [
        "OK: the bundle verified".to_owned(),
        "signature: valid".to_owned(),
        format!(
            "signed by key {} (matches the fingerprint given)",
            key.fingerprint
        ),
        "case 2026-0042  evidence E-7  examiner Sato".to_owned(),
        format!("chain head: record {head_seq} sha256 {head_hash} (records from 1)"),
        format!("bundle file sha256 {whole}"),
        "custody log: 1 entry".to_owned(),
    ] {
        assert!(
            v.stdout.contains(&want),
            "missing {want:?}\n{}",
            v.describe()
        );
    }
    assert!(v.fail_lines().is_empty(), "{}", v.describe());
    let j = logkeep(args(&[
        &"verify",
        &bundle,
        &"--fingerprint",
        &key.fingerprint,
        &"--json",
    ]));
    j.expect(0);
    let json: serde_json::Value = serde_json::from_str(&j.stdout).expect("--json is JSON");
    assert_eq!(json["ok"], true, "{}", j.describe());
    assert_eq!(json["signature_ok"], true);
    assert_eq!(json["key_pinned"], true);

    let out = dir.join("extracted");
    let x = logkeep(args(&[
        &"extract",
        &bundle,
        &"--out",
        &out,
        &"--fingerprint",
        &key.fingerprint,
    ]));
    x.expect(0);
    for file in ["openvpn.log", "xrdp.log"] {
        let line = extracted_file(&out, &cap.log_path(file), &written[file]);
        assert_eq!(line["missing"], serde_json::json!([]), "{line}");
    }
    assert_eq!(
        tree(&out, &[]).iter().filter(|p| !p.ends_with('/')).count(),
        3,
        "two files and the index: {:?}",
        tree(&out, &[])
    );

    // A second extraction into the same, now non-empty, directory is refused and changes
    // nothing there.
    let before = tree(&out, &[]);
    let again = logkeep(args(&[&"extract", &bundle, &"--out", &out]));
    again.expect(2);
    assert!(again.stderr.contains("not empty"), "{}", again.describe());
    assert_eq!(tree(&out, &[]), before);

    check_verify_txt_commands(&bundle, &key, &top, &segments[0]);
}

/// Run the commands VERIFY.txt prints, as printed, with only its placeholders filled in.
fn check_verify_txt_commands(bundle: &Path, key: &Key, top: &Path, segment: &Path) {
    let text = fs::read_to_string(top.join("VERIFY.txt")).expect("VERIFY.txt");
    let english = text
        .split_once("English: how to verify")
        .expect("an English section")
        .1;
    let mut commands: Vec<(u32, String)> = Vec::new();
    let mut step = 0;
    for line in english.lines() {
        let trimmed = line.trim();
        if let Some((n, rest)) = trimmed.split_once(". ")
            && let Ok(n) = n.parse::<u32>()
        {
            step = n;
            let cmd = rest.split_once(':').expect("label: command").1;
            commands.push((step, cmd.to_owned()));
        } else if step > 0 && line.starts_with("    ") && !trimmed.starts_with('(') {
            commands.push((step, trimmed.to_owned()));
        } else if trimmed.starts_with("custody.jsonl") {
            break;
        }
    }
    let commands: Vec<(u32, String)> = commands
        .into_iter()
        .map(|(n, c)| {
            let c = c
                .split_once("  (")
                .map_or(c.as_str(), |x| x.0)
                .trim()
                .to_owned();
            (n, c)
        })
        .filter(|(_, c)| !c.is_empty())
        .collect();
    let steps: BTreeSet<u32> = commands.iter().map(|c| c.0).collect();
    assert_eq!(steps, (1..=4).collect(), "four steps: {commands:?}");
    // The Japanese section gives the same commands for the steps that need no placeholder.
    for (n, c) in &commands {
        if *n == 2 || c.starts_with("logkeep verify") {
            assert!(
                text.split("English").next().unwrap().contains(c.as_str()),
                "{c}"
            );
        }
    }
    let work = top.parent().unwrap().parent().unwrap().join("verify-txt");
    fs::create_dir(&work).unwrap();
    let unpacked = work.join(top.file_name().unwrap());
    let stem = segment
        .file_name()
        .unwrap()
        .to_string_lossy()
        .trim_end_matches(".tar.zst")
        .to_owned();
    for (n, c) in &commands {
        let c = c
            .replace("BUNDLE.tar", &format!("'{}'", bundle.display()))
            .replace("NAME", &stem)
            .replace(
                "--out DIR",
                &format!("--out '{}'", work.join("out").display()),
            );
        let c = match c.strip_prefix("logkeep ") {
            Some(rest) => format!("'{}' {rest}", crate::support::bin()),
            None => c,
        };
        let cwd = if *n == 1 { &work } else { &unpacked };
        let out = bash(&c, cwd);
        out.expect(0);
        match n {
            1 => assert!(unpacked.join("SHA256SUMS").exists(), "step 1 unpacks"),
            2 => assert!(
                out.stdout.contains(&format!(
                    "OK: the bundle verified against root {}",
                    key.hex()
                )),
                "{}",
                out.describe()
            ),
            3 => assert!(
                out.stdout.contains(".gen"),
                "tar -v lists chunks\n{}",
                out.describe()
            ),
            _ => assert!(out.stdout.contains("OK: the bundle verified") || c.contains("extract")),
        }
    }
    assert!(
        work.join("out/logkeep-extract.jsonl").exists(),
        "step 4 extracts"
    );
}

/// The segment records of a store: (seq, first, last, spans as (path, start, end)).
type SegmentRow = (u64, String, String, Vec<(String, u64, u64)>);

fn segment_rows(cap: &Capture) -> Vec<SegmentRow> {
    cap.records()
        .into_iter()
        .filter(|(_, j, _)| j["event"]["kind"] == "segment")
        .map(|(seq, j, _)| {
            let e = &j["event"];
            let spans = e["spans"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| {
                    (
                        s["path"].as_str().unwrap().to_owned(),
                        s["start"].as_u64().unwrap(),
                        s["end"].as_u64().unwrap(),
                    )
                })
                .collect();
            (
                seq,
                e["first"].as_str().unwrap().to_owned(),
                e["last"].as_str().unwrap().to_owned(),
                spans,
            )
        })
        .collect()
}

/// Where the bundle of a range closed at `until` ends: the first checkpoint after the last
/// selected segment record and after every record written up to `until`; the store's head
/// (after the export: the record before the export's own epoch statement) when none follows.
fn range_head(cap: &Capture, last_selected: u64, until: &str) -> (u64, String) {
    let until = logkeep_format::Timestamp::parse(until).expect("until");
    let records = cap.records();
    let exported = cap.sealed_head().0;
    let after = records
        .iter()
        .filter(|(_, j, _)| {
            logkeep_format::Timestamp::parse(j["wall"].as_str().expect("wall")).expect("wall")
                <= until
        })
        .map(|(seq, _, _)| *seq)
        .max()
        .unwrap_or(0)
        .max(last_selected);
    records
        .iter()
        .find(|(seq, j, _)| *seq > after && *seq <= exported && j["event"]["kind"] == "checkpoint")
        .map(|(seq, _, bytes)| (*seq, sha256sum_hex(bytes)))
        .unwrap_or_else(|| cap.sealed_head())
}

/// Verify a partial bundle pinned to `key`: it must pass and link to `head` (the store's head,
/// or for a closed time range the checkpoint that closes it).
fn verify_links_to_head(bundle: &Path, key: &Key, head: &(u64, String), first: u64) -> String {
    let v = logkeep(args(&[
        &"verify",
        &bundle,
        &"--fingerprint",
        &key.fingerprint,
    ]));
    v.expect(0);
    let want = format!(
        "chain head: record {} sha256 {} (records from {first})",
        head.0, head.1
    );
    assert!(
        v.stdout.contains(&want),
        "missing {want:?}\n{}",
        v.describe()
    );
    v.stdout
}

#[test]
fn partial_bundles_link_to_a_seal_and_hold_exactly_the_selection() {
    require_investigator_tools();
    let mut cap = Capture::start(&[("vpn", "openvpn.log"), ("rdp", "xrdp.log")]);
    let vpn = cap.log_path("openvpn.log");
    let rdp = cap.log_path("xrdp.log");
    // Phases A and B write the VPN log, C the RDP log, D the VPN log again; each phase is
    // sealed before the next begins, so no segment mixes phases.
    let mut vpn_data = Vec::new();
    let mut rdp_data = Vec::new();
    let mut phase_end = Vec::new();
    for (phase, file) in ["openvpn.log", "openvpn.log", "xrdp.log", "openvpn.log"]
        .into_iter()
        .enumerate()
    {
        for round in 0..3u64 {
            let data = log_bytes(
                100 + phase as u64 * 10 + round,
                1500 + 500 * round as usize,
                false,
            );
            cap.append(file, &data);
            if file == "openvpn.log" {
                vpn_data.extend(data);
            } else {
                rdp_data.extend(data);
            }
        }
        phase_end.push((vpn_data.len() as u64, rdp_data.len() as u64));
        // Reads of different phases must not share a timestamp.
        std::thread::sleep(Duration::from_millis(20));
    }
    cap.stop();
    let rows = segment_rows(&cap);
    let vpn_s = vpn.display().to_string();
    let (a_end, b_end) = (phase_end[0].0, phase_end[1].0);
    let in_b = |r: &SegmentRow| {
        r.3.iter()
            .all(|(p, s, e)| *p == vpn_s && *s >= a_end && *e <= b_end)
    };
    let b: Vec<&SegmentRow> = rows.iter().filter(|r| in_b(r)).collect();
    assert!(b.len() >= 3, "phase B has a segment per round: {rows:?}");
    let since = b.iter().map(|r| r.1.clone()).min().unwrap();
    let until = b.iter().map(|r| r.2.clone()).max().unwrap();
    let first_b = b[0].0;
    let key = Key::generate(cap.root.path(), "host");
    let dir = cap.root.path().to_owned();

    // The middle of the VPN log, by time.
    let middle = dir.join("middle.tar");
    logkeep(args(&[
        &"export", &"--store", &cap.store, &"--out", &middle, &"--key", &key.path, &"--since",
        &since, &"--until", &until,
    ]))
    .expect(0);
    let last_b = b.iter().map(|r| r.0).max().unwrap();
    let report = verify_links_to_head(&middle, &key, &range_head(&cap, last_b, &until), first_b);
    let omitted = rows.iter().filter(|r| r.0 > first_b && !in_b(r)).count();
    let want = format!("{} segments checked ({omitted} not selected)", b.len());
    assert!(report.contains(&want), "missing {want:?}\n{report}");
    let info = Bundle::parse(&fs::read(&middle).unwrap()).info();
    assert_eq!(info.first_seq, first_b);
    assert_eq!(info.selection.since.as_deref(), Some(since.as_str()));
    assert_eq!(info.selection.until.as_deref(), Some(until.as_str()));
    assert_eq!(info.sources, vec!["vpn".to_owned()]);
    let out = dir.join("middle-out");
    logkeep(args(&[&"extract", &middle, &"--out", &out])).expect(0);
    let index = extract_index(&out);
    assert_eq!(index.len(), 1, "only the VPN log: {index:?}");
    let line = &index[&vpn_s];
    assert_eq!(line["missing"], serde_json::json!([[0, a_end]]), "{line}");
    let got = fs::read(out.join(line["output"].as_str().unwrap())).unwrap();
    assert_eq!(
        got.len() as u64,
        b_end,
        "the output ends where the selection ends"
    );
    assert!(
        got[..a_end as usize].iter().all(|&b| b == 0),
        "unselected bytes are a hole"
    );
    assert!(
        got[a_end as usize..] == vpn_data[a_end as usize..b_end as usize],
        "the selected range is byte-exact"
    );

    // One source, all of it.
    let only_rdp = dir.join("rdp.tar");
    logkeep(args(&[
        &"export",
        &"--store",
        &cap.store,
        &"--out",
        &only_rdp,
        &"--key",
        &key.path,
        &"--source",
        &"rdp",
    ]))
    .expect(0);
    let first_rdp = rows
        .iter()
        .find(|r| r.3.iter().any(|s| s.0 == rdp.display().to_string()))
        .unwrap()
        .0;
    verify_links_to_head(&only_rdp, &key, &cap.sealed_head(), first_rdp);
    let out = dir.join("rdp-out");
    logkeep(args(&[&"extract", &only_rdp, &"--out", &out])).expect(0);
    assert_eq!(extract_index(&out).len(), 1, "only the RDP log");
    let line = extracted_file(&out, &rdp, &rdp_data);
    assert_eq!(line["missing"], serde_json::json!([]));

    // A source and a time bound together: the VPN log up to the end of phase A.
    let a_until = rows
        .iter()
        .filter(|r| r.3.iter().all(|s| s.0 == vpn_s && s.2 <= a_end))
        .map(|r| r.2.clone())
        .max()
        .unwrap();
    let early = dir.join("early.tar");
    logkeep(args(&[
        &"export",
        &"--store",
        &cap.store,
        &"--out",
        &early,
        &"--key",
        &key.path,
        &"--source",
        &"vpn",
        &"--until",
        &a_until,
    ]))
    .expect(0);
    let last_a = rows
        .iter()
        .filter(|r| r.3.iter().any(|s| s.0 == vpn_s) && r.1 <= a_until)
        .map(|r| r.0)
        .max()
        .unwrap();
    let end = range_head(&cap, last_a, &a_until);
    assert!(
        end.0 < cap.sealed_head().0,
        "a range that closed early ends before the head: {rows:?}"
    );
    verify_links_to_head(&early, &key, &end, rows[0].0);
    let out = dir.join("early-out");
    logkeep(args(&[&"extract", &early, &"--out", &out])).expect(0);
    assert_eq!(extract_index(&out).len(), 1);
    let line = extracted_file(&out, &vpn, &vpn_data[..a_end as usize]);
    assert_eq!(line["missing"], serde_json::json!([]));
}

/// Tampered copies of one good bundle, each judged by `verify` (pinned) and refused by
/// `extract`. Mismatches are collected so that one run shows every case that is wrong.
struct Table {
    dir: PathBuf,
    good: Vec<u8>,
    base: Bundle,
    fingerprint: String,
    n: usize,
    wrong: Vec<String>,
}

/// A mutation of the bundle's members.
fn edit(f: impl FnOnce(&mut Bundle)) -> impl FnOnce(&[u8], &Bundle) -> Vec<u8> {
    move |_, base| {
        let mut b = base.clone();
        f(&mut b);
        b.to_bytes()
    }
}

impl Table {
    fn check(
        &mut self,
        label: &str,
        mutation: impl FnOnce(&[u8], &Bundle) -> Vec<u8>,
        exit: i32,
        expected: &str,
    ) {
        self.n += 1;
        let path = self.dir.join(format!("case-{:02}.tar", self.n));
        fs::write(&path, mutation(&self.good, &self.base)).expect("write case");
        let v = logkeep(args(&[
            &"verify",
            &path,
            &"--fingerprint",
            &self.fingerprint,
        ]));
        let mut problems = Vec::new();
        if v.code != Some(exit) {
            problems.push(format!("verify exit {:?}, expected {exit}", v.code));
        }
        // A verdict is on standard output; an input that is not a bundle is an error on
        // standard error.
        if !v
            .stdout
            .lines()
            .chain(v.stderr.lines())
            .any(|l| l.contains(expected))
        {
            problems.push(format!("no line contains {expected:?}"));
        }
        if exit != 0 && v.stdout.contains("OK: the bundle verified") {
            problems.push("says OK".into());
        }
        if v.stderr.contains("panicked") {
            problems.push("verify panicked".into());
        }
        if exit != 0 {
            let out = self.dir.join(format!("out-{:02}", self.n));
            let x = logkeep(args(&[
                &"extract",
                &path,
                &"--out",
                &out,
                &"--fingerprint",
                &self.fingerprint,
            ]));
            if x.code != Some(exit) || out.exists() {
                problems.push(format!(
                    "extract exit {:?} (expected {exit}), output created: {}\n{}",
                    x.code,
                    out.exists(),
                    x.describe()
                ));
            }
        }
        if !problems.is_empty() {
            self.wrong.push(format!(
                "case {} {label:?}: {}\n{}",
                self.n,
                problems.join("; "),
                v.describe()
            ));
        }
    }
}

/// A segment file name for `seq` holding `data`, as the store names them.
fn segment_name(seq: u64, data: &[u8]) -> String {
    format!(
        "store/segments/{seq:016}-{}.tar.zst",
        Sha256::of(data).to_hex()
    )
}

/// The sequence number in a chain or segment member name.
fn seq_of(rel: &str) -> u64 {
    let file = rel.rsplit('/').next().unwrap();
    file[..16].parse().unwrap()
}

/// The content of a zstd frame, decompressed by the zstd tool.
fn zstd_content(frame: &[u8]) -> Vec<u8> {
    let mut cmd = Command::new("zstd");
    cmd.args(["-q", "-d", "-c"]);
    let out = run(&mut cmd, Some(frame.to_vec()), STEP);
    out.expect(0);
    out.raw
}

/// A zstd frame of `data`, made by the zstd tool.
fn zstd_frame(data: &[u8]) -> Vec<u8> {
    let mut cmd = Command::new("zstd");
    cmd.args(["-q", "-c"]);
    let out = run(&mut cmd, Some(data.to_vec()), STEP);
    out.expect(0);
    out.raw
}

/// Position of a member's data in the bundle file, and its size.
fn data_position(bytes: &[u8], rel: &str) -> (u64, u64) {
    let mut archive = tar::Archive::new(bytes);
    for e in archive.entries().unwrap() {
        let e = e.unwrap();
        let name = String::from_utf8_lossy(&e.path_bytes()).into_owned();
        if name.split_once('/').is_some_and(|(_, r)| r == rel) {
            return (e.raw_file_position(), e.size());
        }
    }
    panic!("no member {rel}");
}

#[test]
fn tampered_bundles_fail_naming_the_member() {
    require_investigator_tools();
    let (cap, _) = small_store();
    let dir = cap.root.path().to_owned();
    let key = Key::generate(&dir, "host");
    let other = Key::generate(&dir, "intruder");
    let bundle = export_all(&cap, &key, "good.tar");
    let good = fs::read(&bundle).unwrap();
    let base = Bundle::parse(&good);
    let mut t = Table {
        dir: dir.join("cases"),
        good: good.clone(),
        base: base.clone(),
        fingerprint: key.fingerprint.clone(),
        n: 0,
        wrong: Vec::new(),
    };
    fs::create_dir(&t.dir).unwrap();
    tamper_table(&mut t, &key, &other);

    // A path that cannot be read at all is a usage/I-O error, not a verdict on content; so
    // is a fingerprint that is not one.
    let missing = logkeep(args(&[&"verify", &dir.join("no-such.tar")]));
    missing.expect(2);
    assert!(
        missing.stderr.contains("no-such.tar"),
        "{}",
        missing.describe()
    );
    logkeep(args(&[&"verify", &bundle, &"--fingerprint", &"12ab"])).expect(2);

    // Without the pinned fingerprint, the root the chain names is only as good as the reader's
    // comparison: the report says so loudly; a bundle re-signed by another key fails anyway,
    // since the signing key is not an epoch key of that root.
    let mut forged = base.clone();
    let mut i = forged.info();
    i.signature.key_fingerprint = other.fingerprint.clone();
    forged.set_info(&i);
    forged.reseal(&other);
    let path = dir.join("forged.tar");
    fs::write(&path, forged.to_bytes()).unwrap();
    let v = logkeep(args(&[&"verify", &path]));
    v.expect(1);
    let warning = format!("root key {} — NOT CHECKED", key.fingerprint);
    assert!(v.stdout.contains(&warning), "{}", v.describe());
    assert!(
        v.stdout.contains("FAIL signing-key.pub.pem"),
        "{}",
        v.describe()
    );

    assert!(
        t.wrong.is_empty(),
        "{} of {} cases wrong:\n\n{}",
        t.wrong.len(),
        t.n,
        t.wrong.join("\n\n")
    );
}

/// The tamper table: one case per line, `check(label, mutation, exit code, expected line)`.
/// Kept unformatted so that it stays a table.
#[rustfmt::skip]
fn tamper_table(t: &mut Table, key: &Key, other: &Key) {
    let base = t.base.clone();
    let top = base.dir();
    let segs = base.names("store/segments/");
    let recs = base.names("store/chain/");
    assert!(segs.len() >= 6, "one segment per round at least: {segs:?}");
    let (s1, s2, s_last) = (segs[1].clone(), segs[2].clone(), segs[segs.len() - 1].clone());
    let rec_of = |seg: &str| format!("store/chain/{:016}.json", seq_of(seg));
    let (seq1, seq0) = (seq_of(&s1), seq_of(&segs[0]));
    // A segment's content is decompressed only up to the size its record promises, so a
    // foreign segment reaches the manifest check only in a place with a larger bound: the
    // swap and replay cases expect the message for that place.
    let bound = |seg: &str| match Record::parse(base.get(&rec_of(seg))).unwrap().event { Event::Segment { content_size, .. } => content_size, _ => panic!("{seg} is committed by a segment record") };
    let (swap_place, swap_from) = if bound(&s1) <= bound(&s2) { (s2.clone(), seq1) } else { (s1.clone(), seq_of(&s2)) };
    let newer = segs[1..].iter().max_by_key(|s| bound(s)).unwrap().clone();
    assert!(bound(&segs[0]) <= bound(&newer), "the first round is the smallest");
    let (r1, r0, last_rec) = (rec_of(&s1), rec_of(&segs[0]), recs[recs.len() - 1].clone());
    let planted = segment_name(99, b"x");
    let (end_pos, end_size) = data_position(&t.good, &s_last);
    let (sums_pos, _) = data_position(&t.good, "SHA256SUMS");
    let resum = |b: &mut Bundle, rel: &str| { let old = Sha256::of(base.get(rel)).to_hex(); let new = Sha256::of(b.get(rel)).to_hex(); let s = String::from_utf8(b.get("SHA256SUMS").to_vec()).unwrap().replace(&old, &new); b.set("SHA256SUMS", s.into_bytes()); };
    let append = |b: &mut Bundle, rel: &str, tail: &[u8]| { let mut d = b.get(rel).to_vec(); d.extend_from_slice(tail); b.set(rel, d); };
    let skippable = [0x50, 0x2a, 0x4d, 0x18, 4, 0, 0, 0, 1, 2, 3, 4];

    t.check("untouched", |g, _| g.to_vec(), 0, "OK: the bundle verified");
    // One flipped byte in each kind of member.
    t.check("flip bundle.json", edit(|b| b.flip("bundle.json")), 1, "FAIL bundle.json: ");
    t.check("flip store identity", edit(|b| b.flip("store/logkeep-store.json")), 1, "FAIL store/logkeep-store.json: ");
    t.check("flip a record", edit(|b| b.flip(&r1)), 1, &format!("FAIL {r1}: "));
    t.check("flip a segment", edit(|b| b.flip(&s1)), 1, &format!("FAIL {s1}: "));
    t.check("flip inventory/host.json", edit(|b| b.flip("inventory/host.json")), 1, "FAIL inventory/host.json: ");
    t.check("flip inventory/devices.json", edit(|b| b.flip("inventory/devices.json")), 1, "FAIL inventory/devices.json: ");
    t.check("flip VERIFY.txt", edit(|b| b.flip("VERIFY.txt")), 1, "FAIL VERIFY.txt: ");
    t.check("flip SHA256SUMS", edit(|b| b.flip("SHA256SUMS")), 1, "FAIL SHA256SUMS.sig: does not verify");
    t.check("flip the signature", edit(|b| b.flip("SHA256SUMS.sig")), 1, "FAIL SHA256SUMS.sig: does not verify");
    t.check("flip the public key", edit(|b| b.flip("signing-key.pub.pem")), 1, "FAIL signing-key.pub.pem: ");
    // Deletion, reordering, replay.
    t.check("segment deleted", edit(|b| b.remove(&s1)), 1, &format!("FAIL {s1}: listed in SHA256SUMS but missing from the bundle"));
    t.check("segment and its record deleted", edit(|b| { b.remove(&s1); b.remove(&r1); }), 1, &format!("FAIL {r1}: listed in SHA256SUMS but missing from the bundle"));
    t.check("two segments swapped in the archive", edit(|b| { let (i, j) = (b.find(&s1), b.find(&s2)); b.members.swap(i, j); }), 1, &format!("FAIL {s2}: is not the segment record {seq1} commits"));
    t.check("two segments' contents swapped", edit(|b| { let (x, y) = (b.get(&s1).to_vec(), b.get(&s2).to_vec()); b.set(&s1, y); b.set(&s2, x); }), 1, &format!("FAIL {swap_place}: manifest binds it to seq {swap_from}"));
    t.check("older segment replayed in a newer one's place", edit(|b| { let old = b.get(&segs[0]).to_vec(); b.set(&newer, old); }), 1, &format!("FAIL {newer}: manifest binds it to seq {seq0}"));
    t.check("older record and segment replayed after the chain", edit(|b| { let r = b.members[b.find(&r0)].clone(); let s = b.members[b.find(&segs[0])].clone(); b.insert_after(&last_rec, s); b.insert_after(&last_rec, r); }), 1, &format!("FAIL {r0}: appears twice"));
    // Data after the one zstd frame of a segment.
    t.check("bytes appended after a segment's frame", edit(|b| append(b, &s1, b"garbage")), 1, &format!("FAIL {s1}: 7 bytes after the end of the zstd frame"));
    t.check("second zstd frame appended", edit(|b| append(b, &s1, &zstd_frame(b"injected line\n"))), 1, &format!("FAIL {s1}: "));
    t.check("skippable frame appended", edit(|b| append(b, &s1, &skippable)), 1, &format!("FAIL {s1}: 12 bytes after the end of the zstd frame"));
    // Injected and moved members.
    t.check("extra file", edit(|b| b.insert_after("VERIFY.txt", Member::file(&format!("{top}/notes.txt"), b"planted\n".to_vec()))), 1, "FAIL notes.txt: extra file not part of a bundle");
    t.check("extra member with a bundle name, not sealed", edit(|b| b.insert_after("VERIFY.txt", Member::file(&format!("{top}/config/logkeep.toml"), b"[store]\n".to_vec()))), 1, "FAIL config/logkeep.toml: not listed in SHA256SUMS (added after sealing)");
    t.check("extra segment without a record", edit(|b| b.insert_after(&last_rec, Member::file(&format!("{top}/{planted}"), b"x".to_vec()))), 1, &format!("FAIL {planted}: segment without the record that commits it"));
    t.check("member moved to another bundle directory", edit(|b| { let i = b.find("VERIFY.txt"); b.members[i].name = b"logkeep-bundle-00000000000000000000000000000000/VERIFY.txt".to_vec(); }), 1, "FAIL VERIFY.txt: listed in SHA256SUMS but missing from the bundle");
    t.check("bundle.json not first", edit(|b| b.members.swap(0, 1)), 1, "the first member must be bundle.json");
    t.check("member hidden after the end-of-archive marker", |g, b| [g.to_vec(), Bundle { members: vec![Member::file(&format!("{}/store/segments/hidden.tar.zst", b.dir()), b"hidden".to_vec())] }.to_bytes()].concat(), 1, "FAIL bundle: ");
    // The seal.
    t.check("segment changed, SHA256SUMS recomputed", edit(|b| { b.flip(&s1); resum(b, &s1); }), 1, "FAIL SHA256SUMS.sig: does not verify");
    // Format 2: the signing key must be the epoch key the statements from the root introduce.
    t.check("re-signed by another key, bundle.json naming it", edit(|b| { let mut i = b.info(); i.signature.key_fingerprint = other.fingerprint.clone(); b.set_info(&i); b.reseal(other); }), 1, "FAIL signing-key.pub.pem: is not the key the key statements introduce for epoch 1");
    t.check("signature and key replaced by another key's", edit(|b| { let s = other.sign(b.get("SHA256SUMS")); b.set("SHA256SUMS.sig", s); b.set("signing-key.pub.pem", other.public_pem.clone().into_bytes()); }), 1, "FAIL signing-key.pub.pem: is not the key the key statements introduce for epoch 1");
    t.check("key statements removed, re-sealed", edit(|b| { b.set("store/keys.jsonl", Vec::new()); b.reseal(key); }), 1, "FAIL store/keys.jsonl: lacks the key statement of record");
    t.check("signature removed", edit(|b| b.remove("SHA256SUMS.sig")), 1, "FAIL SHA256SUMS.sig: missing: the bundle is not signed");
    t.check("public key removed", edit(|b| b.remove("signing-key.pub.pem")), 1, "FAIL signing-key.pub.pem: missing");
    t.check("seal removed (downgrade to unsealed)", edit(|b| { for m in ["SHA256SUMS", "SHA256SUMS.sig", "signing-key.pub.pem"] { b.remove(m); } }), 1, "FAIL SHA256SUMS: missing: the bundle is not sealed");
    t.check("bundle.json v 2, re-sealed (fail closed)", edit(|b| { let mut i = b.info(); i.v = 2; b.set_info(&i); b.reseal(key); }), 1, "FAIL bundle.json: unsupported bundle format \"logkeep-bundle\" version 2");
    t.check("unknown signature scheme, re-sealed", edit(|b| { let mut i = b.info(); i.signature.scheme = "ed25519-v9".into(); b.set_info(&i); b.reseal(key); }), 1, "FAIL bundle.json: unsupported signature scheme");
    t.check("chain tail cut off, re-sealed", edit(|b| { b.remove(&last_rec); b.reseal(key); }), 1, "FAIL bundle.json: says the head is record");
    // Files that are not bundles at all: a wrong input (exit 2) named as such, not a verdict.
    t.check("empty tar", |_, _| vec![0u8; 10240], 2, "not a logkeep store, medium or bundle: an empty tar archive");
    t.check("zero-length file", |_, _| Vec::new(), 2, "not a logkeep store, medium or bundle: the file is empty");
    t.check("not a tar archive", |_, _| b"not a tar archive at all\n".repeat(100), 2, "not a logkeep store, medium or bundle");
    // Damaged bundles whose first member is intact: judged (exit 1), never an I/O error.
    t.check("truncated in a segment", |g, _| g[..(end_pos + end_size / 2) as usize].to_vec(), 1, &format!("FAIL {s_last}: "));
    t.check("truncated before SHA256SUMS", |g, _| g[..(sums_pos - 512) as usize].to_vec(), 1, "FAIL SHA256SUMS: missing: the bundle is not sealed");
}

/// The custody companion of a bundle file: its name with `.custody.jsonl` added.
fn companion(bundle: &Path) -> PathBuf {
    let mut name = bundle.file_name().unwrap().to_os_string();
    name.push(".custody.jsonl");
    bundle.with_file_name(name)
}

/// Check that every line of a custody log carries the SHA-256 of the line before it, the
/// first one `first`, with sha256sum as an investigator would.
fn assert_chained(log: &[u8], first: &str) {
    let mut prev = first.to_owned();
    for line in log.split_inclusive(|&c| c == b'\n') {
        let e: serde_json::Value = serde_json::from_slice(line).unwrap();
        assert_eq!(e["prev"].as_str(), Some(prev.as_str()), "{e}");
        prev = sha256sum_hex(line);
    }
}

#[test]
fn custody_log_grows_beside_the_bundle_which_never_changes() {
    require_investigator_tools();
    let (cap, _) = small_store();
    let dir = cap.root.path().to_owned();
    let key = Key::generate(&dir, "host");
    let bundle = export_all(&cap, &key, "custody.tar");
    let original = fs::read(&bundle).unwrap();
    let said = sha256sum_hex(&original);
    let log_path = companion(&bundle);
    // The export wrote the companion: its first entry is chained to the bundle's SHA-256.
    let first_log = fs::read(&log_path).expect("export writes the custody companion");
    assert_eq!(first_log.iter().filter(|&&c| c == b'\n').count(), 1);
    assert_chained(&first_log, &said);
    let add = |actor: &str, action: &str, note: Option<&str>| {
        let mut a = args(&[
            &"custody",
            &"add",
            &bundle,
            &"--actor",
            &actor,
            &"--action",
            &action,
        ]);
        if let Some(n) = note {
            a.push("--note".into());
            a.push(n.into());
        }
        logkeep(a)
    };
    let first = add(
        "Tanaka (Osaka Pref. Police)",
        "received on USB stick",
        Some("sealed bag 12"),
    );
    first.expect(0);
    // It says what changed: the entry, the custody log's new hash, the bundle's unchanged one.
    for want in [
        "custody entry 2 added to ".to_owned(),
        "Tanaka (Osaka Pref. Police)  received on USB stick  (sealed bag 12)".to_owned(),
        format!(
            "custody log sha256: {}",
            sha256sum_hex(&fs::read(&log_path).unwrap())
        ),
        format!("bundle sha256:      {said} (unchanged"),
    ] {
        assert!(
            first.stdout.contains(&want),
            "missing {want:?}\n{}",
            first.describe()
        );
    }
    add("Suzuki", "copied to the forensic lab", None).expect(0);

    // The bundle file is byte for byte what export wrote: the hash read out still holds.
    assert!(
        fs::read(&bundle).unwrap() == original,
        "custody add changed the bundle file"
    );

    let v = logkeep(args(&[
        &"verify",
        &bundle,
        &"--fingerprint",
        &key.fingerprint,
    ]));
    v.expect(0);
    for want in [
        "custody log: 1 entry",
        "custody companion custody.tar.custody.jsonl: 3 entries",
        "Tanaka (Osaka Pref. Police)  received on USB stick  (sealed bag 12)",
        "Suzuki  copied to the forensic lab",
        "signature: valid",
    ] {
        assert!(
            v.stdout.contains(want),
            "missing {want:?}\n{}",
            v.describe()
        );
    }

    // With only sha256sum: the first line is chained to the bundle file's SHA-256, each later
    // line to the line before it; and inside the bundle the seal holds as exported.
    let log = fs::read(&log_path).unwrap();
    assert!(log.starts_with(&first_log), "the companion only grows");
    assert_chained(&log, &said);
    let top = untar(&bundle, &dir.join("x"));
    bash("sha256sum -c SHA256SUMS", &top).expect(0);
    let sig = bash(
        &format!("sh verify-with-openssl.sh {}", key.fingerprint),
        &top,
    );
    sig.expect(0);
    assert!(
        sig.stdout.contains("ok   SHA256SUMS is signed by epoch"),
        "{}",
        sig.describe()
    );
    assert_chained(
        &fs::read(top.join("custody.jsonl")).unwrap(),
        &sha256sum_hex(&fs::read(top.join("SHA256SUMS")).unwrap()),
    );

    // Metadata in the custody log is printed escaped: it cannot forge report lines or drive
    // the terminal.
    let hostile = add("Eve\nFAIL bundle.json: forged\u{1b}[2J", "x\u{7}", None);
    hostile.expect(0);
    assert!(
        !hostile.stdout.contains('\u{1b}') && !hostile.stdout.contains('\u{7}'),
        "{}",
        hostile.describe()
    );
    let v = logkeep(args(&[
        &"verify",
        &bundle,
        &"--fingerprint",
        &key.fingerprint,
    ]));
    v.expect(0);
    assert!(
        !v.stdout.contains('\u{1b}') && !v.stdout.contains('\u{7}'),
        "{}",
        v.describe()
    );
    assert!(
        !v.stdout.lines().any(|l| l.starts_with("FAIL")),
        "{}",
        v.describe()
    );
    assert!(
        v.stdout.contains("Eve\\nFAIL bundle.json: forged"),
        "{}",
        v.describe()
    );

    // Rewriting history in the companion, or tying it to another bundle, fails verification
    // (apart from the sealed content, which still verifies).
    let good = fs::read(&log_path).unwrap();
    let lines: Vec<&[u8]> = good.split_inclusive(|&c| c == b'\n').collect();
    let rewritten = String::from_utf8(good.clone())
        .unwrap()
        .replacen("Tanaka (Osaka Pref. Police)", "Nobody", 1)
        .into_bytes();
    let without_second: Vec<u8> = lines
        .iter()
        .enumerate()
        .filter(|(n, _)| *n != 1)
        .flat_map(|(_, l)| l.to_vec())
        .collect();
    let other = export_all(&cap, &key, "other.tar");
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "an entry rewritten",
            rewritten,
            "FAIL custody.tar.custody.jsonl: entry 3 is not chained to the entry before it",
        ),
        (
            "an entry removed",
            without_second,
            "FAIL custody.tar.custody.jsonl: entry 2 says seq 3",
        ),
        (
            "the log of another bundle",
            fs::read(companion(&other)).unwrap(),
            "FAIL custody.tar.custody.jsonl: entry 1 is not chained to the entry before it (or, for the first, to the bundle file)",
        ),
        (
            "a cut line",
            good[..good.len() - 3].to_vec(),
            "FAIL custody.tar.custody.jsonl: entry 4 is not a complete line",
        ),
    ];
    let mut wrong = Vec::new();
    for (label, log, expected) in cases {
        fs::write(&log_path, &log).unwrap();
        let v = logkeep(args(&[
            &"verify",
            &bundle,
            &"--fingerprint",
            &key.fingerprint,
        ]));
        if v.code != Some(1)
            || !v.stdout.lines().any(|l| l.contains(expected))
            || !v.stdout.contains("signature: valid")
        {
            wrong.push(format!(
                "{label}: expected exit 1 and {expected:?}\n{}",
                v.describe()
            ));
        }
        // And custody add refuses to chain onto it.
        let a = add("Mallory", "hid the gap", None);
        if a.code != Some(1) || fs::read(&log_path).unwrap() != log {
            wrong.push(format!(
                "{label}: custody add should refuse (exit 1) and leave the log alone\n{}",
                a.describe()
            ));
        }
    }
    // A link in the place of the companion is not followed.
    fs::remove_file(&log_path).unwrap();
    std::os::unix::fs::symlink(companion(&other), &log_path).unwrap();
    let v = logkeep(args(&[&"verify", &bundle]));
    if v.code != Some(1)
        || !v
            .stdout
            .contains("FAIL custody.tar.custody.jsonl: not a regular file")
    {
        wrong.push(format!("a link as the companion\n{}", v.describe()));
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n\n"));
    fs::remove_file(&log_path).unwrap();

    // Without its companion the bundle still verifies, and says there is none.
    let v = logkeep(args(&[&"verify", &bundle]));
    v.expect(0);
    assert!(
        v.stdout
            .contains("custody companion: none beside the bundle file"),
        "{}",
        v.describe()
    );
}

#[test]
fn custody_add_requires_its_fields_and_a_bundle_that_verifies() {
    require_investigator_tools();
    let (cap, _) = small_store();
    let dir = cap.root.path().to_owned();
    let key = Key::generate(&dir, "host");
    let bundle = export_all(&cap, &key, "case.tar");
    let log_path = companion(&bundle);
    let log = fs::read(&log_path).unwrap();
    let add = |actor: &str, action: &str| {
        logkeep(args(&[
            &"custody",
            &"add",
            &bundle,
            &"--actor",
            &actor,
            &"--action",
            &action,
        ]))
    };
    for (actor, action, field) in [
        ("", "received", "--actor"),
        ("  ", "received", "--actor"),
        ("Tanaka", "", "--action"),
    ] {
        let a = add(actor, action);
        a.expect(2);
        assert!(a.stderr.contains(field), "{}", a.describe());
        assert_eq!(fs::read(&log_path).unwrap(), log, "nothing added");
    }
    // A bundle that fails verification gets no entry (exit 1), and is left alone.
    let mut b = Bundle::parse(&fs::read(&bundle).unwrap());
    let seg = b.names("store/segments/")[0].clone();
    b.flip(&seg);
    let damaged = dir.join("damaged.tar");
    fs::write(&damaged, b.to_bytes()).unwrap();
    let before = fs::read(&damaged).unwrap();
    let a = add_to(&damaged);
    a.expect(1);
    assert!(a.stderr.contains("fails verification"), "{}", a.describe());
    assert_eq!(fs::read(&damaged).unwrap(), before);
    assert!(!companion(&damaged).exists(), "no companion started for it");
    // A bundle signed by another key than the one named is refused too.
    let other = Key::generate(&dir, "other");
    let a = logkeep(args(&[
        &"custody",
        &"add",
        &bundle,
        &"--actor",
        &"x",
        &"--action",
        &"y",
        &"--fingerprint",
        &other.fingerprint,
    ]));
    a.expect(1);
    // --json: the entry, the hashes, and errors as JSON.
    let a = logkeep(args(&[
        &"custody",
        &"add",
        &bundle,
        &"--actor",
        &"x",
        &"--action",
        &"y",
        &"--json",
    ]));
    a.expect(0);
    let v: serde_json::Value = serde_json::from_str(&a.stdout).expect("JSON");
    assert_eq!(v["entry"]["seq"], 2);
    assert_eq!(v["bundle_changed"], false);
    assert_eq!(
        v["bundle_sha256"].as_str(),
        Some(sha256sum_hex(&fs::read(&bundle).unwrap()).as_str())
    );
    let a = logkeep(args(&[
        &"custody",
        &"add",
        &bundle,
        &"--actor",
        &"",
        &"--action",
        &"y",
        &"--json",
    ]));
    a.expect(2);
    let v: serde_json::Value = serde_json::from_str(&a.stdout).expect("JSON error");
    assert!(v["error"].as_str().unwrap().contains("--actor"), "{v}");

    // A bundle of an earlier release, whose custody versions were appended to the archive,
    // still verifies, and a rewritten earlier version is still found.
    let mut legacy = Bundle::parse(&fs::read(&bundle).unwrap());
    let first = legacy.get("custody.jsonl").to_vec();
    // The canonical form: the fields in the writer's order.
    let entry = format!(
        "{{\"seq\":2,\"time\":\"2026-11-21T00:00:00Z\",\"actor\":\"Tanaka\",\"action\":\"received\",\"note\":null,\"prev\":\"{}\"}}",
        sha256sum_hex(&first)
    );
    let mut second = first.clone();
    second.extend(entry.as_bytes());
    second.push(b'\n');
    let top = legacy.dir();
    legacy
        .members
        .push(Member::file(&format!("{top}/custody.jsonl"), second));
    let legacy_path = dir.join("legacy.tar");
    fs::write(&legacy_path, legacy.to_bytes()).unwrap();
    let v = logkeep(args(&[
        &"verify",
        &legacy_path,
        &"--fingerprint",
        &key.fingerprint,
    ]));
    v.expect(0);
    assert!(
        v.stdout.contains("custody log: 2 entries"),
        "{}",
        v.describe()
    );
    let mut broken = legacy.clone();
    let i = (0..broken.members.len())
        .find(|&i| broken.rel(i) == "custody.jsonl")
        .unwrap();
    broken.members[i].data = String::from_utf8(first)
        .unwrap()
        .replacen("\"exported\"", "\"lost\"", 1)
        .into_bytes();
    fs::write(&legacy_path, broken.to_bytes()).unwrap();
    let v = logkeep(args(&[&"verify", &legacy_path]));
    v.expect(1);
    assert!(
        v.stdout
            .contains("FAIL custody.jsonl: a later custody log does not extend the earlier one"),
        "{}",
        v.describe()
    );

    // Adding to something that is not a bundle is an error, and leaves it alone.
    let junk = dir.join("junk.tar");
    fs::write(&junk, b"not a bundle").unwrap();
    let j = add_to(&junk);
    j.expect(2);
    assert_eq!(fs::read(&junk).unwrap(), b"not a bundle");
    assert!(!companion(&junk).exists());
}

fn add_to(path: &Path) -> Output {
    logkeep(args(&[
        &"custody",
        &"add",
        &path,
        &"--actor",
        &"x",
        &"--action",
        &"y",
    ]))
}

/// What `extract --force` of a hostile bundle should write, by case: every log whole; the
/// logs whole but one, which the damage cut short (a strict prefix, when the damaged segment
/// is the last of that log) or left with holes (listed as missing, all other bytes exact); or
/// nothing, when the tar archive itself cannot be read past the damage.
fn forced_outcome(label: &str) -> Result<Option<&'static str>, ()> {
    match label {
        "symlink in a segment's place"
        | "zstd bomb in a segment's place"
        | "zstd bomb committed by the chain and signed"
        | "record over 16 MiB" => Ok(Some("xrdp.log")),
        "span path with `..`"
        | "span source id `..`"
        | "segment tar header quoting a terminal escape" => Ok(Some("openvpn.log")),
        "tar header quoting a terminal escape" => Err(()),
        _ => Ok(None),
    }
}

/// Check what `extract --force` (run `f`) wrote to `out` against [`forced_outcome`] of the
/// case `label`; `written` holds each log's bytes by file name, `original` gives a log's path
/// as the index names it. Returns the problems found.
fn check_forced(
    label: &str,
    out: &Path,
    f: &Output,
    written: &BTreeMap<String, Vec<u8>>,
    original: &dyn Fn(&str) -> String,
) -> Vec<String> {
    let mut problems = Vec::new();
    let index = if out.join("logkeep-extract.jsonl").exists() {
        extract_index(out)
    } else {
        problems.push(format!("extract --force wrote no index\n{}", f.describe()));
        return problems;
    };
    let Ok(damaged) = forced_outcome(label) else {
        if !index.is_empty() || tree(out, &[]).len() != 1 {
            problems.push(format!(
                "extract --force of an unreadable archive must extract nothing: {:?}",
                tree(out, &[])
            ));
        }
        if !f.stderr.contains("nothing extracted") {
            problems.push(format!(
                "extract --force must say nothing was extracted\n{}",
                f.describe()
            ));
        }
        return problems;
    };
    assert!(!written.is_empty(), "the store holds no logs");
    for (name, want) in written {
        let Some(line) = index.get(&original(name)) else {
            problems.push(format!(
                "extract --force: {name} is not in the index: {index:?}"
            ));
            continue;
        };
        let got = fs::read(out.join(line["output"].as_str().expect("output")))
            .unwrap_or_else(|e| panic!("{name}: the output the index names: {e}"));
        let missing: Vec<(usize, usize)> = line["missing"]
            .as_array()
            .expect("missing")
            .iter()
            .map(|r| {
                let n = |i: usize| r[i].as_u64().expect("range") as usize;
                (n(0), n(1))
            })
            .collect();
        if damaged != Some(name.as_str()) {
            if got != *want || !missing.is_empty() {
                problems.push(format!(
                    "extract --force: {name} is not whole ({} of {} bytes, missing {missing:?})",
                    got.len(),
                    want.len()
                ));
            }
        } else if missing.is_empty() {
            if !(got.len() < want.len() && want.starts_with(&got)) {
                problems.push(format!(
                    "extract --force: {name} without holes must be a strict prefix of the log \
                     ({} of {} bytes)",
                    got.len(),
                    want.len()
                ));
            }
        } else {
            let outside_holes_equal = got.len() == want.len()
                && (0..got.len())
                    .filter(|i| !missing.iter().any(|(a, b)| a <= i && i < b))
                    .all(|i| got[i] == want[i]);
            if !outside_holes_equal {
                problems.push(format!(
                    "extract --force: {name} with holes {missing:?} must hold every other byte \
                     of the log ({} of {} bytes)",
                    got.len(),
                    want.len()
                ));
            }
        }
    }
    problems
}

#[test]
fn hostile_bundles_fail_cleanly_and_write_nothing_outside() {
    require_investigator_tools();
    let (cap, written) = small_store();
    let dir = cap.root.path().to_owned();
    let key = Key::generate(&dir, "host");
    let good = Bundle::parse(&fs::read(export_all(&cap, &key, "good.tar")).unwrap());
    let top = good.dir();
    let segs = good.names("store/segments/");
    let recs = good.names("store/chain/");
    let s_last = segs.last().unwrap().clone();

    // Everything happens in one arena; `outside` is where a symlink or `..` would lead.
    let arena = dir.join("arena");
    fs::create_dir_all(arena.join("outside")).unwrap();
    let outside = arena.join("outside");

    let mut cases: Vec<(String, Vec<u8>, String)> = Vec::new();
    let mut add = |label: &str, f: &dyn Fn(&mut Bundle), expected: String| {
        let mut b = good.clone();
        f(&mut b);
        cases.push((label.to_owned(), b.to_bytes(), expected));
    };
    let after_info = |b: &mut Bundle, m: Member| b.insert_after("bundle.json", m);
    add(
        "`..` inside the bundle directory",
        &|b| {
            after_info(
                b,
                Member::file(&format!("{top}/../../escape.txt"), b"x".to_vec()),
            )
        },
        "FAIL ../../escape.txt: extra file not part of a bundle".to_string(),
    );
    add(
        "`..` at the start",
        &|b| after_info(b, Member::file("../escape.txt", b"x".to_vec())),
        "FAIL ../escape.txt: is outside the bundle directory".into(),
    );
    let abs = format!("{}/abs-escape.txt", arena.display());
    add(
        "absolute path",
        &|b| after_info(b, Member::file(&abs, b"x".to_vec())),
        format!("FAIL {abs}: is outside the bundle directory"),
    );
    let target = outside.display().to_string();
    add(
        "symlink to outside",
        &|b| {
            after_info(
                b,
                Member::special(
                    &format!("{top}/store/segments"),
                    tar::EntryType::Symlink,
                    Some(&target),
                ),
            )
        },
        format!("FAIL {top}/store/segments: not a regular file"),
    );
    add(
        "symlink in a segment's place",
        &|b| {
            let i = b.find(&s_last);
            b.members[i] = Member::special(
                &format!("{top}/{s_last}"),
                tar::EntryType::Symlink,
                Some(&target),
            );
        },
        format!("FAIL {top}/{s_last}: not a regular file"),
    );
    add(
        "hard link in a member's place",
        &|b| {
            let i = b.find("inventory/host.json");
            b.members[i] = Member::special(
                &format!("{top}/inventory/host.json"),
                tar::EntryType::Link,
                Some("/etc/passwd"),
            );
        },
        format!("FAIL {top}/inventory/host.json: not a regular file"),
    );
    add(
        "character device",
        &|b| {
            after_info(
                b,
                Member::special(&format!("{top}/dev-null"), tar::EntryType::Char, None),
            )
        },
        format!("FAIL {top}/dev-null: not a regular file"),
    );
    add(
        "fifo",
        &|b| {
            after_info(
                b,
                Member::special(&format!("{top}/fifo"), tar::EntryType::Fifo, None),
            )
        },
        format!("FAIL {top}/fifo: not a regular file"),
    );
    add(
        "directory member",
        &|b| {
            after_info(
                b,
                Member::special(&format!("{top}/store/"), tar::EntryType::Directory, None),
            )
        },
        format!("FAIL {top}/store/: not a regular file"),
    );

    // A zstd bomb: 200 MiB of zeros in a few kilobytes, where the record promises a small
    // segment. Once in place of a segment, once fully committed by a rewritten chain and a
    // valid signature (as with a stolen key), so that only the decompression bound stops it.
    let bomb_path = arena.join("bomb.zst");
    bash(
        &format!(
            "head -c 209715200 /dev/zero | zstd -q -c > '{}'",
            bomb_path.display()
        ),
        &arena,
    )
    .expect(0);
    let bomb = fs::read(&bomb_path).unwrap();
    fs::remove_file(&bomb_path).unwrap();
    assert!(bomb.len() < 1 << 20, "a bomb is small: {}", bomb.len());
    add(
        "zstd bomb in a segment's place",
        &|b| b.set(&s_last, bomb.clone()),
        format!("FAIL {s_last}: decompresses to more than the"),
    );
    let committed = segment_name(seq_of(&s_last), &bomb);
    add(
        "zstd bomb committed by the chain and signed",
        &|b| {
            let rel = format!("store/chain/{:016}.json", seq_of(&s_last));
            let mut r = Record::parse(b.get(&rel)).unwrap();
            if let Event::Segment {
                file, sha256, size, ..
            } = &mut r.event
            {
                *file = committed.rsplit('/').next().unwrap().to_owned();
                *sha256 = Sha256::of(&bomb);
                *size = bomb.len() as u64;
            }
            b.set(&rel, r.to_bytes());
            let i = b.find(&s_last);
            b.members[i].name = format!("{top}/{committed}").into_bytes();
            b.members[i].data = bomb.clone();
            b.relink();
            b.reseal(&key);
        },
        format!("FAIL {committed}: decompresses to more than the"),
    );
    // Oversized metadata.
    add(
        "bundle.json over 4 MiB",
        &|b| {
            let mut i = b.info();
            i.note = Some("n".repeat(5 << 20));
            b.set_info(&i);
        },
        "FAIL bundle.json: too large".into(),
    );
    // The middle of the records the daemon wrote (the export added the enrolment of the
    // signing state and a checkpoint after them): an RDP segment's record.
    let rec = recs[(recs.len() - 2) / 2].clone();
    add(
        "record over 16 MiB",
        &|b| b.set(&rec, vec![b' '; 17 << 20]),
        format!("FAIL {rec}: too large"),
    );
    add(
        "custody entry of one 17 MiB line",
        &|b| {
            let mut log = b.get("custody.jsonl").to_vec();
            log.extend(std::iter::repeat_n(b'A', 17 << 20));
            log.push(b'\n');
            b.members
                .push(Member::file(&format!("{top}/custody.jsonl"), log));
        },
        "FAIL custody.jsonl: custody log too large".into(),
    );
    // Paths inside the chain that point out of the output directory.
    for (label, source, path) in [
        ("span path with `..`", None, "/../../../escape.log"),
        ("span source id `..`", Some(".."), "/var/log/x.log"),
    ] {
        let rel = format!("store/chain/{:016}.json", seq_of(&segs[0]));
        add(
            label,
            &|b| {
                let mut r = Record::parse(b.get(&rel)).unwrap();
                if let Event::Segment { spans, .. } = &mut r.event {
                    for s in spans {
                        s.path = path.to_owned();
                        if let Some(id) = source {
                            s.source = id.to_owned();
                        }
                    }
                }
                b.set(&rel, r.to_bytes());
                b.relink();
                b.reseal(&key);
            },
            format!("FAIL {rel}: spans differ from the segment's manifest"),
        );
    }

    // Error texts that quote hostile bytes: a tar header whose name and checksum field carry
    // a terminal escape and a forged report line, and JSON with such a field name.
    let forged = "\u{1b}[2J\nOK: the bundle verified\n";
    let mut raw = good.to_bytes();
    let (pos, size) = data_position(&raw, "bundle.json");
    let at = (pos + size.div_ceil(512) * 512) as usize;
    let mut header = [0u8; 512];
    header[..forged.len() + 1].copy_from_slice(format!("x{forged}").as_bytes());
    header[100..108].copy_from_slice(b"0000644\0");
    header[124..136].copy_from_slice(b"00000000000\0");
    header[148..156].copy_from_slice(b"z\x1b[1A\n\0\0");
    header[156] = b'0';
    raw.splice(at..at, header);
    cases.push((
        "tar header quoting a terminal escape".into(),
        raw,
        "FAIL bundle: damaged tar archive after member 1".into(),
    ));
    let json_key = "\"\\u001b[2J\\nOK: the bundle verified\":1,";
    let mut b = good.clone();
    let text = String::from_utf8(b.get("bundle.json").to_vec()).unwrap();
    b.set(
        "bundle.json",
        text.replacen('{', &format!("{{{json_key}"), 1).into_bytes(),
    );
    cases.push((
        "bundle.json field name with a terminal escape".into(),
        b.to_bytes(),
        "FAIL bundle.json: not valid".into(),
    ));
    let mut b = good.clone();
    let rel = recs[1].clone();
    let text = String::from_utf8(b.get(&rel).to_vec()).unwrap();
    b.set(
        &rel,
        text.replacen('{', &format!("{{{json_key}"), 1).into_bytes(),
    );
    cases.push((
        "record field name with a terminal escape".into(),
        b.to_bytes(),
        format!("FAIL {rel}: "),
    ));
    // The same inside a segment: its tar's first header has such a checksum field.
    let mut b = good.clone();
    let mut inner = zstd_content(b.get(&segs[0]));
    inner[148..156].copy_from_slice(b"z\x1b[1A\n\0\0");
    b.set(&segs[0], zstd_frame(&inner));
    cases.push((
        "segment tar header quoting a terminal escape".into(),
        b.to_bytes(),
        format!("FAIL {}: cannot be decoded", segs[0]),
    ));

    let mut wrong = Vec::new();
    for (n, (label, bytes, expected)) in cases.into_iter().enumerate() {
        let file = arena.join(format!("hostile-{n}.tar"));
        fs::write(&file, bytes).unwrap();
        let out = arena.join(format!("out-{n}"));
        let before = tree(&arena, &[out.as_path()]);
        let mut problems = Vec::new();
        let v = logkeep(args(&[
            &"verify",
            &file,
            &"--fingerprint",
            &key.fingerprint,
        ]));
        if v.code != Some(1) || !v.stdout.lines().any(|l| l.contains(&expected)) {
            problems.push(format!(
                "verify: expected exit 1 and {expected:?}\n{}",
                v.describe()
            ));
        }
        let x = logkeep(args(&[&"extract", &file, &"--out", &out]));
        if x.code != Some(1) || out.exists() || !x.stderr.contains("nothing extracted") {
            problems.push(format!(
                "extract: expected exit 1 and nothing extracted\n{}",
                x.describe()
            ));
        }
        // Forced extraction goes ahead despite the problems; it must still stay inside --out.
        let f = logkeep(args(&[&"extract", &file, &"--out", &out, &"--force"]));
        if !matches!(f.code, Some(1 | 2)) || f.stderr.contains("panicked") {
            problems.push(format!(
                "extract --force: expected exit 1 or 2\n{}",
                f.describe()
            ));
        }
        // What forcing should give in this very case: exit 1 (the problem is reported, not a
        // usage or I/O error), the same FAIL line as verify, and the logs extracted as far as
        // the damage allows.
        // Extraction decodes the segments before it compares them with their records, so a
        // span that names a path out of --out is reported where the segment is decoded.
        let forced_report = match label.as_str() {
            "span path with `..`" => "has a forbidden component".to_owned(),
            "span source id `..`" => "invalid source id \"..\"".to_owned(),
            _ => expected.clone(),
        };
        if f.code != Some(1) || !f.fail_lines().iter().any(|l| l.contains(&forced_report)) {
            problems.push(format!(
                "extract --force: expected exit 1 and {forced_report:?}\n{}",
                f.describe()
            ));
        }
        problems.extend(check_forced(&label, &out, &f, &written, &|name| {
            cap.log_path(name).display().to_string()
        }));
        for o in [&v, &x, &f] {
            if o.elapsed > HOSTILE_BOUND {
                problems.push(format!("took {:?}: {}", o.elapsed, o.what));
            }
            // Whatever the bundle holds, the report is plain lines: no terminal control, no
            // line that a hostile string forged.
            let text = format!("{}{}", o.stdout, o.stderr);
            if let Some(l) = text
                .lines()
                .find(|l| l.chars().any(|c| c.is_control() && c != '\n'))
            {
                problems.push(format!(
                    "control characters in the output of {}: {l:?}",
                    o.what
                ));
            }
            if text.lines().any(|l| l == "OK: the bundle verified") {
                problems.push(format!("a forged OK line in the output of {}", o.what));
            }
        }
        let after = tree(&arena, &[out.as_path()]);
        if after != before {
            problems.push(format!(
                "written outside --out: {:?}",
                after.symmetric_difference(&before).collect::<Vec<_>>()
            ));
        }
        let inside = tree(&out, &[]);
        if let Some(l) = inside.iter().find(|p| p.ends_with("(symlink)")) {
            problems.push(format!("a symlink was created in --out: {l}"));
        }
        if !problems.is_empty() {
            wrong.push(format!("case {n} {label}: {}", problems.join("\n")));
        }
        fs::remove_file(&file).expect("remove the hostile bundle");
        if out.exists() {
            fs::remove_dir_all(&out).expect("remove the extraction");
        }
    }
    assert!(
        fs::read_dir(&outside).unwrap().next().is_none(),
        "nothing reached `outside`"
    );
    assert!(!dir.join("escape.txt").exists() && !Path::new("/escape.log").exists());
    assert!(
        wrong.is_empty(),
        "{} hostile cases wrong:\n\n{}",
        wrong.len(),
        wrong.join("\n\n")
    );

    // Metadata from the host is printed escaped, even when the bundle is otherwise sound.
    let mut b = good.clone();
    let mut i = b.info();
    i.host.hostname = "gw\nFAIL store/chain: forged\u{1b}]0;pwned\u{7}".into();
    b.set_info(&i);
    b.reseal(&key);
    let file = arena.join("hostname.tar");
    fs::write(&file, b.to_bytes()).unwrap();
    let v = logkeep(args(&[
        &"verify",
        &file,
        &"--fingerprint",
        &key.fingerprint,
    ]));
    v.expect(0);
    assert!(
        !v.stdout.contains('\u{1b}') && !v.stdout.contains('\u{7}'),
        "{}",
        v.describe()
    );
    assert!(v.fail_lines().is_empty(), "{}", v.describe());
}

#[test]
fn custody_entries_can_be_signed_with_the_actors_own_key() {
    let (cap, _) = small_store();
    let dir = cap.root.path().to_owned();
    let key = Key::generate(&dir, "host");
    let actor = Key::generate(&dir, "tanaka");
    let bundle = export_all(&cap, &key, "signed.tar");
    let add = logkeep(args(&[
        &"custody",
        &"add",
        &bundle,
        &"--actor",
        &"Tanaka",
        &"--action",
        &"received",
        &"--key",
        // The actor's own Ed25519 key: a PKCS#8 PEM file (here a kept root key).
        &actor.path.join("root.key"),
    ]));
    add.expect(0);
    assert!(
        add.stdout.contains(&format!(
            "signed by the key with fingerprint {}",
            actor.fingerprint
        )),
        "{}",
        add.describe()
    );
    let v = logkeep(args(&[&"verify", &bundle]));
    v.expect(0);
    assert!(
        v.stdout.contains(&format!(
            "signed by the key with fingerprint {}",
            actor.fingerprint
        )),
        "{}",
        v.describe()
    );
    // The signed entry changed (its actor), or its signature changed: caught.
    let log_path = companion(&bundle);
    let good = fs::read_to_string(&log_path).unwrap();
    let last = good.lines().last().unwrap().to_owned();
    let e: serde_json::Value = serde_json::from_str(&last).unwrap();
    let sig = e["sig"].as_str().unwrap().to_owned();
    let flipped = format!(
        "{}{}",
        if sig.starts_with('0') { "1" } else { "0" },
        &sig[1..]
    );
    for (label, text) in [
        (
            "actor changed",
            good.replacen("\"actor\":\"Tanaka\"", "\"actor\":\"Nobody\"", 1),
        ),
        ("signature changed", good.replacen(&sig, &flipped, 1)),
    ] {
        fs::write(&log_path, &text).unwrap();
        let v = logkeep(args(&[&"verify", &bundle]));
        assert_eq!(v.code, Some(1), "{label}\n{}", v.describe());
        assert!(
            v.stdout
                .contains("FAIL signed.tar.custody.jsonl: entry 2: its signature does not verify"),
            "{label}\n{}",
            v.describe()
        );
    }
    fs::write(&log_path, &good).unwrap();
    // A key others can read is refused, and nothing is added.
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(
        actor.path.join("root.key"),
        fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let add = logkeep(args(&[
        &"custody",
        &"add",
        &bundle,
        &"--actor",
        &"Tanaka",
        &"--action",
        &"x",
        &"--key",
        &actor.path.join("root.key"),
    ]));
    add.expect(2);
    assert!(add.stderr.contains("--key"), "{}", add.describe());
    assert_eq!(fs::read_to_string(&log_path).unwrap(), good);
}
