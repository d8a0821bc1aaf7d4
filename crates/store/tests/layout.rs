//! Layout 2 through the real store: shard directories, packs of complete runs, and what a
//! crash while packing leaves, checked by reopening the store and by `verify_store`.

use logkeep_format::chain::ChainReader;
use logkeep_format::layout::{self, Layout};
use logkeep_format::verify::{VerifyOptions, verify_store};
use logkeep_format::{Event, Sha256};
use logkeep_store::{Store, StoreError};
use std::fs;
use std::path::Path;

/// Records per pack in these stores (new stores have 4096; the format allows any power of
/// two, and a small one lets the tests fill runs quickly).
const P: u64 = 16;
const LAY: Layout = Layout::Sharded { pack: P };
const PACK1: &str = "chain/000000000000/0000000000000001.pack";

/// A new layout 2 store of pack size [`P`] with `n` records (heartbeats), closed again.
fn store_with(n: u64) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("store");
    logkeep_store::init(&root, LAY).expect("init");
    let (mut store, _) = Store::open(&root, true, 1).expect("open");
    for _ in 0..n {
        store.append(Event::Heartbeat {}).expect("append");
    }
    dir
}

fn problems(root: &Path) -> Vec<String> {
    let r = verify_store(root, &VerifyOptions::default()).expect("verify");
    r.problems.iter().map(|p| format!("{p:?}")).collect()
}

fn notes(root: &Path) -> Vec<String> {
    let r = verify_store(root, &VerifyOptions::default()).expect("verify");
    r.notes.iter().map(|p| format!("{p:?}")).collect()
}

/// Put the single files of the first run back beside its pack, as a crash between writing
/// the pack and removing them leaves them.
fn restore_singles(root: &Path) {
    let pack = fs::read(root.join(PACK1)).expect("pack");
    for (i, line) in pack.split_inclusive(|b| *b == b'\n').enumerate() {
        let seq = i as u64 + 1;
        fs::write(root.join(LAY.record_rel(seq)), line).expect("single");
    }
}

#[test]
fn a_new_store_is_created_in_layout_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("store");
    let (mut store, _) = Store::open(&root, true, 1).expect("open");
    store.append(Event::Heartbeat {}).expect("append");
    let info = fs::read_to_string(root.join(layout::STORE_FILE)).expect("info");
    assert!(info.contains("\"layout\": 2"), "{info}");
    assert!(info.contains("\"pack\": 4096"), "{info}");
    assert!(
        root.join("chain/000000000000/0000000000000001.json")
            .exists()
    );
}

#[test]
fn a_complete_run_is_packed_line_for_record_and_reads_back_the_same() {
    let dir = store_with(2 * P + 4);
    let root = dir.path().join("store");
    let pack = fs::read(root.join(PACK1)).expect("the first run is packed");
    let lines: Vec<&[u8]> = pack.split_inclusive(|b| *b == b'\n').collect();
    assert_eq!(lines.len() as u64, P - 1);
    assert!(
        root.join("chain/000000000000/0000000000000016.pack")
            .exists()
    );
    // The runs' single files are gone; the records after them are files.
    assert!(!root.join(LAY.record_rel(1)).exists());
    assert!(!root.join(LAY.record_rel(2 * P - 1)).exists());
    assert!(root.join(LAY.record_rel(2 * P)).exists());
    // Line N is record N's exact bytes: its hash is what record N + 1 names as prev.
    let links: Vec<_> = ChainReader::new(&root).map(|l| l.expect("link")).collect();
    assert_eq!(links.len() as u64, 2 * P + 4);
    for (i, line) in lines.iter().enumerate() {
        assert_eq!(links[i].bytes, *line);
        assert_eq!(links[i + 1].record.prev, Sha256::of(line));
    }
    assert!(problems(&root).is_empty(), "{:?}", problems(&root));
    // Reopening replays through the pack.
    let (store, replay) = Store::open(&root, true, 1).expect("reopen");
    assert_eq!(replay.records, 2 * P + 4);
    assert_eq!(store.head().seq, 2 * P + 4);
    assert_eq!(store.head().hash, links[links.len() - 1].hash);
}

#[test]
fn packing_interrupted_before_or_after_removal_is_finished_on_open() {
    let dir = store_with(P);
    let root = dir.path().join("store");
    // A crash after the pack was linked but before its records' files were removed.
    restore_singles(&root);
    assert!(problems(&root).is_empty(), "{:?}", problems(&root));
    assert!(
        notes(&root)
            .iter()
            .any(|n| n.contains("interrupted packing")),
        "{:?}",
        notes(&root)
    );
    drop(Store::open(&root, true, 1).expect("open"));
    assert!(!root.join(LAY.record_rel(7)).exists());
    assert!(root.join(PACK1).exists());
    // A crash before the pack was linked: the run is all single files, packed on open.
    restore_singles(&root);
    fs::remove_file(root.join(PACK1)).expect("rm pack");
    assert!(problems(&root).is_empty(), "{:?}", problems(&root));
    let (_, replay) = Store::open(&root, true, 1).expect("open");
    assert_eq!(replay.records, P);
    assert!(root.join(PACK1).exists());
    assert!(!root.join(LAY.record_rel(7)).exists());
    assert!(problems(&root).is_empty(), "{:?}", problems(&root));
}

#[test]
fn a_record_file_that_differs_from_its_pack_line_is_refused_and_reported() {
    let dir = store_with(P);
    let root = dir.path().join("store");
    restore_singles(&root);
    let single = root.join(LAY.record_rel(9));
    let mut bytes = fs::read(&single).expect("read");
    bytes[20] ^= 1;
    fs::write(&single, &bytes).expect("write");
    let found = problems(&root);
    assert!(
        found
            .iter()
            .any(|p| p.contains("0000000000000009.json") && p.contains("differs from line 9")),
        "{found:?}"
    );
    // Whether the start-up cache spares reading record 9 (then finishing the packing finds
    // it differs) or not (then it no longer parses), the store is not extended.
    match Store::open(&root, true, 1) {
        Err(StoreError::Corrupt { path, what }) => {
            let said = format!("{} {what}", path.display());
            assert!(said.contains("0000000000000009.json"), "{said}");
        }
        other => panic!(
            "opened a store whose pack and record differ: {:?}",
            other.err()
        ),
    }
    // Nothing was removed.
    assert!(single.exists());
}

#[test]
fn damage_inside_a_pack_is_reported_naming_the_pack_and_line() {
    let dir = store_with(P + 1);
    let root = dir.path().join("store");
    let path = root.join(PACK1);
    let clean = fs::read(&path).expect("pack");
    let writable = |p: &Path| {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(p, fs::Permissions::from_mode(0o644)).expect("chmod");
    };
    writable(&path);
    // A flipped byte in record 10's line.
    let start: usize = clean
        .split_inclusive(|b| *b == b'\n')
        .take(9)
        .map(<[u8]>::len)
        .sum();
    let mut flipped = clean.clone();
    flipped[start + 30] ^= 0x20;
    fs::write(&path, &flipped).expect("write");
    let found = problems(&root);
    assert!(
        found
            .iter()
            .any(|p| p.contains(&format!("{PACK1} line 10"))
                || p.contains(&format!("{PACK1} line 11"))),
        "{found:?}"
    );
    // A pack cut short: the records after the cut are missing, and that is said.
    fs::write(&path, &clean[..start]).expect("write");
    let found = problems(&root);
    assert!(
        found
            .iter()
            .any(|p| p.contains(PACK1) && p.contains("ends before record 10")),
        "{found:?}"
    );
    // A line too many.
    let mut longer = clean.clone();
    longer.extend_from_slice(&clean[..start.min(300)]);
    fs::write(&path, &longer).expect("write");
    let found = problems(&root);
    assert!(
        found
            .iter()
            .any(|p| p.contains(PACK1) && p.contains("more lines than its run")),
        "{found:?}"
    );
    fs::write(&path, &clean).expect("write");
    assert!(problems(&root).is_empty(), "{:?}", problems(&root));
}

#[test]
fn a_flat_store_is_extended_flat() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("flat");
    logkeep_store::init(&root, Layout::Flat).expect("init");
    let (mut store, _) = Store::open(&root, true, 1).expect("open");
    assert_eq!(store.layout(), Layout::Flat);
    store.append(Event::Heartbeat {}).expect("append");
    assert!(root.join("chain/0000000000000001.json").exists());
    let info = fs::read_to_string(root.join(layout::STORE_FILE)).expect("info");
    assert!(!info.contains("layout"), "{info}");
}

/// The replay state as comparable JSON.
fn state(r: &logkeep_store::Replay) -> serde_json::Value {
    serde_json::to_value(r).expect("json")
}

#[test]
fn the_start_up_cache_is_used_when_it_matches_and_rebuilt_when_not() {
    let dir = store_with(P + 3);
    let root = dir.path().join("store");
    let cache = root.join(layout::CACHE_FILE);
    assert!(cache.exists(), "a closed store leaves its start-up cache");
    fs::remove_file(&cache).expect("rm");
    let (_, full) = Store::open(&root, true, 1).expect("open without a cache");
    let full = state(&full);
    // The cache of an earlier head, then more records: only those after it are replayed.
    let early = fs::read(&cache).expect("written on open");
    {
        let (mut store, _) = Store::open(&root, true, 1).expect("open");
        for _ in 0..5 {
            store.append(Event::Heartbeat {}).expect("append");
        }
    }
    fs::remove_file(&cache).expect("rm");
    let (_, longer) = Store::open(&root, true, 1).expect("open without a cache");
    let longer = state(&longer);
    assert_ne!(longer, full);
    fs::write(&cache, &early).expect("put back the early cache");
    let (_, resumed) = Store::open(&root, true, 1).expect("open from the early cache");
    assert_eq!(state(&resumed), longer);
    // A record before the cached head is not read at all: remove one (a full replay would
    // refuse the store) and the cached start still opens it.
    let head = {
        let (store, _) = Store::open(&root, true, 1).expect("open");
        store.head()
    };
    let gone = root.join(LAY.record_rel(head.seq - 2));
    let kept = fs::read(&gone).expect("record");
    fs::remove_file(&gone).expect("rm");
    let (_, cached) = Store::open(&root, true, 1).expect("open from the cache");
    assert_eq!(state(&cached), longer);
    fs::write(&gone, &kept).expect("restore");
    // A cache whose head is not the chain's record (another hash): rebuilt from the chain.
    let text = fs::read_to_string(&cache).expect("cache");
    let h = head.hash.to_string();
    assert!(text.contains(&h));
    fs::write(&cache, text.replace(&h, &Sha256::of(b"x").to_string())).expect("write");
    let (_, rebuilt) = Store::open(&root, true, 1).expect("open");
    assert_eq!(state(&rebuilt), longer);
    // And one that is not JSON.
    fs::write(&cache, b"{").expect("write");
    let (_, rebuilt) = Store::open(&root, true, 1).expect("open");
    assert_eq!(state(&rebuilt), longer);
    // The cache is not evidence: verification does not mind it.
    assert!(problems(&root).is_empty(), "{:?}", problems(&root));
}

/// The shell loop of docs/FORMAT.md §8.1, as it stands in the document.
fn chain_loop_of_the_format_document() -> String {
    let doc = fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/FORMAT.md"))
        .expect("FORMAT.md");
    let section = doc
        .split("### 8.1 ")
        .nth(1)
        .and_then(|s| s.split("```sh\n").nth(1))
        .and_then(|s| s.split("\n```").next())
        .expect("the §8.1 block");
    section.to_owned()
}

fn run_sh(script: &str, store: &Path) -> String {
    let out = std::process::Command::new("sh")
        .arg("-eu")
        .arg("-c")
        .arg(script)
        .env("STORE", store)
        .output()
        .expect("sh (coreutils, grep, sed)");
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_standard_tools_loop_walks_packs_line_by_line() {
    let dir = store_with(2 * P + 3);
    let root = dir.path().join("store");
    let script = chain_loop_of_the_format_document();
    let head = {
        let (store, _) = Store::open(&root, true, 1).expect("open");
        store.head()
    };
    let out = run_sh(&script, &root);
    assert!(!out.contains("BROKEN"), "{out}");
    assert!(
        out.contains(&format!(
            "chain head: chain/000000000000/{:016}.json {}",
            head.seq, head.hash
        )),
        "{out}"
    );
    // A flipped byte in a pack line breaks the link to the next line, and the loop says where.
    let pack = root.join("chain/000000000000/0000000000000016.pack");
    let mut bytes = fs::read(&pack).expect("pack");
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(&pack, fs::Permissions::from_mode(0o644)).expect("chmod");
    let at = bytes.iter().position(|b| *b == b'\n').expect("line") + 40;
    bytes[at] ^= 0x01;
    fs::write(&pack, &bytes).expect("write");
    let out = run_sh(&script, &root);
    assert!(
        out.contains("BROKEN LINK at chain/000000000000/0000000000000016.pack line 3"),
        "{out}"
    );
}

#[test]
fn committed_files_come_in_commit_order_with_packs_once_complete() {
    use logkeep_format::chain::{Committed, committed_files};
    let dir = store_with(2 * P + 2);
    let root = dir.path().join("store");
    let all: Vec<Committed> = committed_files(&root, None)
        .map(|c| c.expect("committed"))
        .collect();
    let rel = |c: &Committed| match c {
        Committed::Segment { rel, .. }
        | Committed::Record { rel, .. }
        | Committed::Pack { rel, .. } => rel.clone(),
    };
    let names: Vec<String> = all.iter().map(rel).collect();
    assert_eq!(
        names,
        [
            "chain/000000000000/0000000000000001.pack",
            "chain/000000000000/0000000000000016.pack",
            "chain/000000000000/0000000000000032.json",
            "chain/000000000000/0000000000000033.json",
            "chain/000000000000/0000000000000034.json",
        ]
    );
    // Every file listed exists; a copier resuming after record 20 gets the pack it is in.
    assert!(names.iter().all(|n| root.join(n).is_file()));
    let links: Vec<_> = ChainReader::new(&root).map(|l| l.expect("link")).collect();
    let resumed: Vec<String> = committed_files(&root, Some(links[19].head()))
        .map(|c| rel(&c.expect("committed")))
        .collect();
    assert_eq!(resumed[0], "chain/000000000000/0000000000000016.pack");
    assert_eq!(resumed.len(), 4);
}
