//! Journal sources with the real journal tools: journal files written by
//! `systemd-journal-remote` from export streams the test makes (binary fields, multi-line
//! messages), read by the daemon through `journalctl`, extracted, and imported again.

use crate::support::*;
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Where Debian installs `systemd-journal-remote` (not on the PATH).
const JOURNAL_REMOTE: &str = "/usr/lib/systemd/systemd-journal-remote";

pub(crate) fn require_journal_tools() {
    require_tool("journalctl", "systemd");
    assert!(
        Path::new(JOURNAL_REMOTE).is_file(),
        "{JOURNAL_REMOTE} is missing; these tests need it: apt-get install systemd-journal-remote (scripts/test does)"
    );
}

/// A configuration reading the journal files in the site's `journal/`.
fn config(extra: &str) -> String {
    format!(
        "{FAST_STORE}\n[[source]]\nid = \"journal\"\njournal = true\njournal_directory = \"journal\"\n{extra}"
    )
}

/// An export stream of the entries `first..first + n`: each with a unique `SEQ`, a
/// multi-line `MESSAGE` and a binary `BLOB` (NUL bytes, newlines, random bytes) as binary
/// fields, and ordinary text fields.
pub(crate) fn entries(first: u64, n: u64, rng: &mut Rng) -> Vec<u8> {
    let mut out = Vec::new();
    for seq in first..first + n {
        out.extend_from_slice(
            format!(
                "__REALTIME_TIMESTAMP={}\n__MONOTONIC_TIMESTAMP={}\n_BOOT_ID=0123456789abcdef0123456789abcdef\n_HOSTNAME=edge\n_SYSTEMD_UNIT={}\nSEQ={seq}\n",
                1_764_900_000_000_000 + seq * 1000,
                1_000_000 + seq * 1000,
                if seq % 3 == 0 { "xrdp.service" } else { "ssh.service" },
            )
            .as_bytes(),
        );
        let message = format!(
            "Accepted publickey for alice from 192.0.2.{}\n  second line\n",
            seq % 250
        );
        let mut blob = vec![0u8, b'\n', b'\n', 0xff];
        let extra = rng.below(64) as usize;
        blob.extend(rng.bytes(extra));
        for (name, value) in [("MESSAGE", message.as_bytes()), ("BLOB", &blob[..])] {
            out.extend_from_slice(name.as_bytes());
            out.push(b'\n');
            out.extend_from_slice(&(value.len() as u64).to_le_bytes());
            out.extend_from_slice(value);
            out.push(b'\n');
        }
        out.push(b'\n');
    }
    out
}

/// Append `stream` to the journal file `path` (created if new) with `systemd-journal-remote`.
pub(crate) fn journal_remote(path: &Path, stream: &[u8]) {
    let mut child = Command::new(JOURNAL_REMOTE)
        .arg("-o")
        .arg(path)
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run systemd-journal-remote");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(stream).expect("write the export stream");
    }
    let out = child
        .wait_with_output()
        .expect("wait systemd-journal-remote");
    assert!(
        out.status.success(),
        "systemd-journal-remote -o {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// What `journalctl` exports of one journal file, as the daemon reads it.
fn export_of(path: &Path) -> Vec<u8> {
    let out = Command::new("journalctl")
        .arg("--file")
        .arg(path)
        .args(["--output=export", "--no-pager"])
        .output()
        .expect("run journalctl");
    assert!(
        out.status.success(),
        "journalctl --file {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// The `SEQ` values of an export stream, in order (parsing binary fields by their length).
fn seqs(stream: &[u8]) -> Vec<u64> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < stream.len() {
        let end = stream[i..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(stream.len(), |p| i + p);
        let line = &stream[i..end];
        i = end + 1;
        if line.is_empty() {
            continue;
        }
        if let Some(v) = line.strip_prefix(b"SEQ=") {
            out.push(
                std::str::from_utf8(v)
                    .expect("utf-8")
                    .parse()
                    .expect("a number"),
            );
        } else if !line.contains(&b'=') {
            let len = u64::from_le_bytes(stream[i..i + 8].try_into().expect("8 bytes"));
            i += 8 + len as usize + 1;
        }
    }
    out
}

/// The extracted generations of every journal file, concatenated in generation order, by the
/// file's original path.
fn extracted_by_file(store: &Path) -> BTreeMap<String, Vec<u8>> {
    let ex = extract_all(store);
    let mut gens: BTreeMap<String, Vec<(u64, Vec<u8>)>> = BTreeMap::new();
    for e in &ex.index {
        assert_eq!(e["condition"], "whole", "{e}");
        let out = e["output"].as_str().expect("output");
        gens.entry(e["path"].as_str().expect("path").to_owned())
            .or_default()
            .push((e["gen_id"].as_u64().expect("gen_id"), ex.files[out].clone()));
    }
    gens.into_iter()
        .map(|(path, mut g)| {
            g.sort_by_key(|(id, _)| *id);
            (path, g.into_iter().flat_map(|(_, b)| b).collect())
        })
        .collect()
}

/// Thousands of entries in several journal files, some added and appended to while the daemon
/// runs and while it is stopped, across a `kill -9` and a SIGTERM: every journal file's entries
/// are extracted exactly once, byte for byte as `journalctl` exports them, and the extract
/// imported again by `systemd-journal-remote` reads back with every field.
#[test]
fn journal_entries_are_captured_exactly_once_across_restarts_and_import_again() {
    require_journal_tools();
    let mut rng = Rng::from_env(15);
    let mut site = Site::new(&config(""));
    let dir = site.path("journal");
    fs::create_dir_all(dir.join("machine")).expect("journal dir");
    let archived = dir.join(
        "machine/system@0123456789abcdef0123456789abcdef-0000000000000001-0005f00000000000.journal",
    );
    let active = dir.join("remote.journal");
    let mut files: Vec<PathBuf> = vec![archived.clone(), active.clone()];
    journal_remote(&archived, &entries(0, 1500, &mut rng));
    journal_remote(&active, &entries(1500, 500, &mut rng));
    let mut next = 2000;
    let total =
        |files: &[PathBuf]| -> u64 { files.iter().map(|f| export_of(f).len() as u64).sum() };

    site.start();
    site.wait_captured(total(&files));
    site.wait_record("\"reason\":\"archived\"");
    // Appended and added while running; then killed in the middle of whatever it does.
    journal_remote(&active, &entries(next, 700, &mut rng));
    next += 700;
    let added = dir.join("added-running.journal");
    journal_remote(&added, &entries(next, 300, &mut rng));
    next += 300;
    files.push(added.clone());
    site.wait_captured(total(&files) - 20_000);
    site.kill9();

    // While stopped: appended to, and a file added.
    journal_remote(&active, &entries(next, 400, &mut rng));
    next += 400;
    journal_remote(&added, &entries(next, 100, &mut rng));
    next += 100;
    let stopped = dir.join("machine/added-stopped.journal");
    journal_remote(&stopped, &entries(next, 250, &mut rng));
    next += 250;
    files.push(stopped.clone());
    site.start();
    site.wait_captured(total(&files));
    site.term();
    journal_remote(&active, &entries(next, 50, &mut rng));
    next += 50;
    site.start();
    site.wait_captured(total(&files));
    site.term();
    assert_verifies(&site.store());

    let got = extracted_by_file(&site.store());
    let mut all = Vec::new();
    for f in &files {
        let path = f.to_str().expect("utf-8").to_owned();
        let have = got
            .get(&path)
            .unwrap_or_else(|| panic!("nothing extracted for {path}: {:?}", got.keys()));
        assert_same_bytes(have, &export_of(f), &path);
        all.extend(seqs(have));
    }
    assert_eq!(got.len(), files.len(), "{:?}", got.keys());
    all.sort_unstable();
    assert_eq!(
        all,
        (0..next).collect::<Vec<_>>(),
        "every entry exactly once"
    );

    // Every generation begins with a journal_file record, the resumed ones after a cursor.
    let recs = records(&site.store());
    let starts: Vec<&serde_json::Value> = recs
        .iter()
        .filter(|r| r["event"]["kind"] == "journal_file")
        .collect();
    assert!(
        starts
            .iter()
            .any(|r| r["event"]["after_cursor"].is_string()),
        "a generation resumed after a committed cursor"
    );
    assert!(starts.iter().all(|r| r["event"]["sealed"] == false));

    // The extract imports again, with every field (binary ones included) as captured.
    let back = tempfile::tempdir().expect("tmp");
    let stream = back.path().join("all.export");
    fs::write(
        &stream,
        got.values().flatten().copied().collect::<Vec<u8>>(),
    )
    .expect("write");
    let imported = back.path().join("imported.journal");
    let out = Command::new(JOURNAL_REMOTE)
        .arg("-o")
        .arg(&imported)
        .arg(&stream)
        .output()
        .expect("run systemd-journal-remote");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Entries by SEQ, each as its fields (their encoded bytes) in name order, without
    // `__CURSOR` (the new file's own): a journal file keeps an entry's fields in its own order.
    let without_cursor = |s: &[u8]| -> BTreeMap<u64, Vec<Vec<u8>>> {
        let mut m = BTreeMap::new();
        let mut start = 0;
        for end in entry_ends(s) {
            let e = &s[start..end];
            start = end;
            let mut f = fields(e);
            f.retain(|f| !f.starts_with(b"__CURSOR="));
            f.sort();
            m.insert(seqs(e)[0], f);
        }
        m
    };
    let again = without_cursor(&export_of(&imported));
    let captured = without_cursor(&got.values().flatten().copied().collect::<Vec<u8>>());
    assert_eq!(again.len(), next as usize);
    if let Some((seq, e)) = captured.iter().find(|(k, v)| again.get(k) != Some(v)) {
        panic!(
            "entry SEQ={seq} imported differs:\n{:?}\ncaptured:\n{:?}",
            again.get(seq),
            e
        );
    }
}

/// The fields of one entry, each as its encoded bytes (a text line, or a binary field's name,
/// length and value).
fn fields(entry: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < entry.len() {
        let end = entry[i..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(entry.len(), |p| i + p);
        let start = i;
        let line = &entry[i..end];
        i = end + 1;
        if line.is_empty() {
            continue;
        }
        if !line.contains(&b'=') {
            let len = u64::from_le_bytes(entry[i..i + 8].try_into().expect("8 bytes"));
            i += 8 + len as usize + 1;
        }
        out.push(entry[start..i].to_vec());
    }
    out
}

/// Where each entry of an export stream ends (one past its empty line).
fn entry_ends(stream: &[u8]) -> Vec<usize> {
    let mut ends = Vec::new();
    let mut i = 0;
    while i < stream.len() {
        let end = stream[i..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(stream.len(), |p| i + p);
        let line = &stream[i..end];
        i = end + 1;
        if line.is_empty() {
            ends.push(i);
        } else if !line.contains(&b'=') {
            let len = u64::from_le_bytes(stream[i..i + 8].try_into().expect("8 bytes"));
            i += 8 + len as usize + 1;
        }
    }
    ends
}

/// journald's own vacuuming of a file not read to its end is a `gap` naming the last cursor
/// captured; an active journal file deleted is `tamper`; a journal file emptied is `tamper`.
#[test]
fn journal_vacuum_is_a_gap_and_a_deleted_or_truncated_file_is_tamper() {
    require_journal_tools();
    let mut rng = Rng::from_env(16);
    let mut site = Site::new(&config(""));
    let dir = site.path("journal");
    fs::create_dir_all(&dir).expect("journal dir");
    let x = dir.join("x.journal");
    journal_remote(&x, &entries(0, 200, &mut rng));
    let x_len = export_of(&x).len() as u64;
    site.start();
    site.wait_captured(x_len);
    site.term();
    let cursor = records(&site.store())
        .iter()
        .filter_map(|r| r["event"]["spans"].as_array().cloned())
        .flatten()
        .filter_map(|s| s["cursor"].as_str().map(str::to_owned))
        .next_back()
        .expect("a committed cursor");

    // While stopped: more entries, then journald's rotation and vacuuming take the file.
    journal_remote(&x, &entries(200, 100, &mut rng));
    let archived =
        dir.join("x@0123456789abcdef0123456789abcdef-0000000000000001-0005f00000000000.journal");
    fs::rename(&x, &archived).expect("archive");
    journal_remote(&dir.join("y.journal"), &entries(300, 10, &mut rng));
    sh(
        "journalctl --directory \"$1\" --vacuum-files=1",
        &[dir.as_path()],
    );
    assert!(!archived.exists(), "vacuumed");
    site.start();
    site.wait_record("\"kind\":\"gap\"");
    let gap = records(&site.store())
        .into_iter()
        .find(|r| r["event"]["kind"] == "gap")
        .expect("gap");
    assert_eq!(gap["event"]["path"], x.to_str().expect("utf-8"));
    assert!(
        gap["event"]["reason"]
            .as_str()
            .expect("reason")
            .contains(&cursor),
        "the gap names the last cursor captured: {gap}"
    );

    // An active file deleted while running: tamper.
    let y = dir.join("y.journal");
    site.wait_captured(x_len + export_of(&y).len() as u64);
    fs::remove_file(&y).expect("delete");
    site.wait_record("\"what\":\"deleted\"");
    // A journal file made shorter: tamper.
    let z = dir.join("z.journal");
    journal_remote(&z, &entries(400, 10, &mut rng));
    site.wait_record(z.to_str().expect("utf-8"));
    std::thread::sleep(std::time::Duration::from_millis(300));
    fs::OpenOptions::new()
        .write(true)
        .open(&z)
        .and_then(|f| f.set_len(4096))
        .expect("truncate");
    site.wait_record("\"what\":\"truncated\"");
    site.term();
    let recs = records(&site.store());
    let tampers: Vec<&serde_json::Value> = recs
        .iter()
        .filter(|r| r["event"]["kind"] == "tamper")
        .collect();
    assert_eq!(tampers.len(), 2, "{tampers:?}");
    assert_eq!(tampers[0]["event"]["path"], y.to_str().expect("utf-8"));
    assert_eq!(tampers[1]["event"]["path"], z.to_str().expect("utf-8"));
    assert_verifies(&site.store());
}

/// An sshd logon logged only to the journal: `logkeep timeline` finds it in the captured
/// export stream (the time from `__REALTIME_TIMESTAMP`, the host from `_HOSTNAME`), and its
/// evidence cuts exactly one whole entry, that entry, out of the extracted generation. The
/// same words in a field other than `MESSAGE` are no event.
#[test]
fn the_timeline_finds_sshd_logons_in_journal_entries() {
    require_journal_tools();
    let mut site = Site::new(&config(""));
    let dir = site.path("journal");
    fs::create_dir_all(&dir).expect("journal dir");
    let file = dir.join("remote.journal");
    let common = "_BOOT_ID=0123456789abcdef0123456789abcdef\n_HOSTNAME=edge\n_COMM=sshd\n";
    let mut stream = format!(
        "__REALTIME_TIMESTAMP=1764900000000000\n__MONOTONIC_TIMESTAMP=1000000\n{common}\
         SYSLOG_IDENTIFIER=sshd\nMESSAGE=Server listening on 0.0.0.0 port 22.\n\
         NOTE=Accepted password for mallory from 198.51.100.1 port 1 ssh2\n\n\
         __REALTIME_TIMESTAMP=1764900012345678\n__MONOTONIC_TIMESTAMP=13345678\n{common}\
         SYSLOG_IDENTIFIER=sshd\n"
    )
    .into_bytes();
    let message = b"Accepted password for alice from 203.0.113.7 port 50022 ssh2";
    stream.extend_from_slice(b"MESSAGE\n");
    stream.extend_from_slice(&(message.len() as u64).to_le_bytes());
    stream.extend_from_slice(message);
    stream.extend_from_slice(b"\n\n");
    journal_remote(&file, &stream);
    site.start();
    site.wait_captured(export_of(&file).len() as u64);
    site.term();

    let out = crate::support::bundle::logkeep(["timeline".as_ref(), site.store().as_os_str()]);
    out.expect(0);
    let rows: Vec<serde_json::Value> = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(rows.len(), 1, "one event:\n{}", out.stdout);
    let r = &rows[0];
    assert_eq!(r["event"], "logon_success", "{r}");
    assert_eq!(r["user"], "alice", "{r}");
    assert_eq!(r["src_ip"], "203.0.113.7", "{r}");
    assert_eq!(r["host"], "edge", "{r}");
    assert_eq!(r["source"], "journal", "{r}");
    let at = r["datetime"].as_str().expect("datetime");
    assert!(at.starts_with("2025-12-05T02:00:12.345678"), "{r}");

    let ev = &r["evidence"];
    assert_eq!(ev["path"], file.to_str().expect("utf-8"), "{r}");
    let ex = extract_all(&site.store());
    let e = ex
        .index
        .iter()
        .find(|e| e["path"] == ev["path"] && e["gen_id"] == ev["generation"])
        .unwrap_or_else(|| panic!("no extracted generation for {ev}: {:?}", ex.index));
    let generation = &ex.files[e["output"].as_str().expect("output")];
    let (offset, length) = (
        ev["offset"].as_u64().expect("offset") as usize,
        ev["length"].as_u64().expect("length") as usize,
    );
    let bytes = &generation[offset..offset + length];
    assert_eq!(
        ev["sha256"],
        logkeep_format::Sha256::of(bytes).to_hex(),
        "{r}"
    );
    // Exactly one whole entry: it begins where one ends, ends where one ends, and holds the
    // message.
    let ends = entry_ends(generation);
    assert!(offset == 0 || ends.contains(&offset), "{ends:?} {r}");
    assert!(ends.contains(&(offset + length)), "{ends:?} {r}");
    assert_eq!(
        ends.iter()
            .filter(|&&x| x > offset && x <= offset + length)
            .count(),
        1
    );
    assert!(bytes.starts_with(b"__CURSOR="), "{r}");
    assert!(
        bytes.windows(message.len()).any(|w| w == message),
        "the entry holds the message: {r}"
    );
}
