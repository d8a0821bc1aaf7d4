//! Layout 2 through the real store: shard directories, packs of complete runs, and what a
//! crash while packing leaves, checked by reopening the store and by `verify_store`.

use logkeep_format::chain::ChainReader;
use logkeep_format::layout::{self, Layout};
use logkeep_format::verify::{VerifyOptions, verify_store};
use logkeep_format::{Event, Sha256};
use logkeep_store::{Store, StoreError};
use std::fs;
use std::path::Path;
use std::sync::OnceLock;

const PACK1: &str = "chain/000000000000/0000000000000001.pack";

/// A copy of a store with one complete run packed and one record after it (4096 records),
/// written once per test run through the real store (about 4 fsyncs a record) and copied
/// for each test, which may break its copy.
fn store_with(n: u64) -> tempfile::TempDir {
    static TEMPLATE: OnceLock<tempfile::TempDir> = OnceLock::new();
    let template = TEMPLATE.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("store");
        let (mut store, _) = Store::open(&root, true, 1).expect("open");
        for _ in 0..4096 {
            store.append(Event::Heartbeat {}).expect("append");
        }
        dir
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("store");
    copy_tree(&template.path().join("store"), &root);
    let (mut store, _) = Store::open(&root, true, 1).expect("open");
    for _ in 4096..n {
        store.append(Event::Heartbeat {}).expect("append");
    }
    dir
}

fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("mkdir");
    for e in fs::read_dir(from).expect("read_dir") {
        let e = e.expect("entry");
        let dest = to.join(e.file_name());
        if e.file_type().expect("type").is_dir() {
            copy_tree(&e.path(), &dest);
        } else {
            fs::copy(e.path(), &dest).expect("copy");
        }
    }
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
        fs::write(root.join(Layout::Sharded.record_rel(seq)), line).expect("single");
    }
}

#[test]
fn a_complete_run_is_packed_line_for_record_and_reads_back_the_same() {
    let dir = store_with(4100);
    let root = dir.path().join("store");
    let info = fs::read_to_string(root.join(layout::STORE_FILE)).expect("info");
    assert!(info.contains("\"layout\": 2"), "{info}");
    let pack = fs::read(root.join(PACK1)).expect("the first run is packed");
    let lines: Vec<&[u8]> = pack.split_inclusive(|b| *b == b'\n').collect();
    assert_eq!(lines.len(), 4095);
    // The run's single files are gone; the records after it are files.
    assert!(!root.join(Layout::Sharded.record_rel(1)).exists());
    assert!(!root.join(Layout::Sharded.record_rel(4095)).exists());
    assert!(root.join(Layout::Sharded.record_rel(4096)).exists());
    // Line N is record N's exact bytes: its hash is what record N + 1 names as prev.
    let links: Vec<_> = ChainReader::new(&root).map(|l| l.expect("link")).collect();
    assert_eq!(links.len(), 4100);
    for (i, line) in lines.iter().enumerate() {
        assert_eq!(links[i].bytes, *line);
        assert_eq!(links[i + 1].record.prev, Sha256::of(line));
    }
    assert!(problems(&root).is_empty(), "{:?}", problems(&root));
    // Reopening replays through the pack.
    let (store, replay) = Store::open(&root, true, 1).expect("reopen");
    assert_eq!(replay.records, 4100);
    assert_eq!(store.head().seq, 4100);
    assert_eq!(store.head().hash, links[4099].hash);
}

#[test]
fn packing_interrupted_before_or_after_removal_is_finished_on_open() {
    let dir = store_with(4096);
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
    assert!(!root.join(Layout::Sharded.record_rel(7)).exists());
    assert!(root.join(PACK1).exists());
    // A crash before the pack was linked: the run is all single files, packed on open.
    restore_singles(&root);
    fs::remove_file(root.join(PACK1)).expect("rm pack");
    assert!(problems(&root).is_empty(), "{:?}", problems(&root));
    let (_, replay) = Store::open(&root, true, 1).expect("open");
    assert_eq!(replay.records, 4096);
    assert!(root.join(PACK1).exists());
    assert!(!root.join(Layout::Sharded.record_rel(7)).exists());
    assert!(problems(&root).is_empty(), "{:?}", problems(&root));
}

#[test]
fn a_record_file_that_differs_from_its_pack_line_is_refused_and_reported() {
    let dir = store_with(4096);
    let root = dir.path().join("store");
    restore_singles(&root);
    let single = root.join(Layout::Sharded.record_rel(9));
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
    // The record file is read first, no longer parses, and the store is not extended.
    match Store::open(&root, true, 1) {
        Err(StoreError::Corrupt { path, .. }) => assert!(path.ends_with("0000000000000009.json")),
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
    let dir = store_with(4097);
    let root = dir.path().join("store");
    let path = root.join(PACK1);
    let clean = fs::read(&path).expect("pack");
    let writable = |p: &Path| {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(p, fs::Permissions::from_mode(0o644)).expect("chmod");
    };
    writable(&path);
    // A flipped byte in record 100's line.
    let start: usize = clean
        .split_inclusive(|b| *b == b'\n')
        .take(99)
        .map(<[u8]>::len)
        .sum();
    let mut flipped = clean.clone();
    flipped[start + 30] ^= 0x20;
    fs::write(&path, &flipped).expect("write");
    let found = problems(&root);
    assert!(
        found
            .iter()
            .any(|p| p.contains(&format!("{PACK1} line 100"))
                || p.contains(&format!("{PACK1} line 101"))),
        "{found:?}"
    );
    // A pack cut short: the records after the cut are missing, and that is said.
    fs::write(&path, &clean[..start]).expect("write");
    let found = problems(&root);
    assert!(
        found
            .iter()
            .any(|p| p.contains(PACK1) && p.contains("ends before record 100")),
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
