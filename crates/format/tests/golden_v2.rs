//! Golden files pin format 2's seals: the `epoch` and `checkpoint` records, the exact texts
//! they sign and their signatures with fixed test keys, every event kind as a version 2 record,
//! and a small complete version 2 store that verifies against its root fingerprint. Format 1's
//! files (`golden.rs`) are untouched by format 2. `LOGKEEP_UPDATE_GOLDEN=1` rewrites these, as
//! for format 1: only for a deliberate format change.

use ed25519_dalek::SigningKey;
use logkeep_format::layout::{self, Head, StoreInfo};
use logkeep_format::seal::{
    self, checkpoint_text, sign_checkpoint, sign_statement, statement_text,
};
use logkeep_format::verify::{VerifyOptions, verify_store};
use logkeep_format::{Event, FORMAT_V2, Host, Record, Sha256};
use std::path::{Path, PathBuf};

const STORE: &str = "00112233445566778899aabbccddeeff";
const T0: &str = "2026-11-20T03:10:12.000000000Z";

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

fn updating() -> bool {
    std::env::var_os("LOGKEEP_UPDATE_GOLDEN").is_some()
}

fn golden(name: &str, bytes: &[u8]) {
    let path = dir().join(name);
    if updating() {
        std::fs::create_dir_all(path.parent().expect("parent")).expect("golden dir");
        std::fs::write(&path, bytes).expect("write golden");
        return;
    }
    let want = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(
        want == bytes,
        "{} differs from what the writer produces now: format 2 changed",
        path.display()
    );
}

/// The fixed test keys: root, epoch 1, epoch 2 (seeds of repeated bytes; never real keys).
fn root() -> SigningKey {
    SigningKey::from_bytes(&[0x11; 32])
}
fn epoch_key(e: u8) -> SigningKey {
    SigningKey::from_bytes(&[0x20 + e; 32])
}

fn record(seq: u64, prev: Sha256, event: Event) -> Record {
    Record {
        v: FORMAT_V2,
        seq,
        prev,
        store: STORE.into(),
        wall: T0.into(),
        mono_ns: 1_000_000 * seq,
        host: Host {
            hostname: "gw01".into(),
            machine_id: "0123456789abcdef0123456789abcdef".into(),
            boot_id: "b0".into(),
        },
        event,
    }
}

/// A sealed chain: enrolment of epoch 1, a heartbeat, a checkpoint, the switch to epoch 2, a
/// stop, a checkpoint. Each event is made once the head it follows is known.
fn sealed_chain(first: Vec<Event>) -> Vec<(Record, Vec<u8>)> {
    let mut out: Vec<(Record, Vec<u8>)> = Vec::new();
    let head = |out: &Vec<(Record, Vec<u8>)>| {
        out.last().map_or(
            Head {
                seq: 0,
                hash: Sha256::ZERO,
            },
            |(r, b)| Head {
                seq: r.seq,
                hash: Sha256::of(b),
            },
        )
    };
    let push = |out: &mut Vec<(Record, Vec<u8>)>, e: Event| {
        let h = head(out);
        let r = record(h.seq + 1, h.hash, e);
        let b = r.to_bytes();
        assert_eq!(Record::parse(&b).expect("parses"), r, "round trip");
        out.push((r, b));
    };
    push(
        &mut out,
        sign_statement(&root(), 1, &epoch_key(1).verifying_key(), None),
    );
    for e in first {
        push(&mut out, e);
    }
    let h = head(&out);
    push(&mut out, sign_checkpoint(&epoch_key(1), STORE, 1, h, T0));
    let h = head(&out);
    push(
        &mut out,
        sign_statement(&epoch_key(1), 2, &epoch_key(2).verifying_key(), Some(h)),
    );
    push(
        &mut out,
        Event::Stop {
            reason: "SIGTERM".into(),
        },
    );
    let h = head(&out);
    push(&mut out, sign_checkpoint(&epoch_key(2), STORE, 2, h, T0));
    out
}

fn concat(records: &[(Record, Vec<u8>)]) -> Vec<u8> {
    records
        .iter()
        .flat_map(|(_, b)| b.iter().copied())
        .collect()
}

/// The `clock` record (format 2 stores only: the daemon extends no format 1 store), set back
/// an hour.
#[test]
fn the_clock_record_is_pinned() {
    let r = record(
        7,
        Sha256::ZERO,
        Event::Clock {
            step_ns: -3_600_000_000_000,
        },
    );
    let b = r.to_bytes();
    assert_eq!(Record::parse(&b).expect("parses"), r, "round trip");
    golden("clock-v2.json", &b);
}

#[test]
fn seal_records_and_texts_are_pinned() {
    let chain = sealed_chain(vec![Event::Heartbeat {}]);
    golden("records-v2.jsonl", &concat(&chain));
    // The texts each seal signs, and the signatures, as an openssl user rebuilds them.
    let mut texts = String::new();
    for (r, _) in &chain {
        match &r.event {
            Event::Epoch {
                epoch,
                key,
                head,
                sig,
                ..
            } => {
                texts.push_str(&statement_text(*epoch, key, head.as_ref()));
                texts.push_str(&format!("sig {sig}\n\n"));
            }
            Event::Checkpoint { epoch, head, sig } => {
                texts.push_str(&checkpoint_text(STORE, *epoch, head, &r.wall));
                texts.push_str(&format!("sig {sig}\n\n"));
            }
            _ => {}
        }
    }
    texts.push_str(&format!(
        "root fingerprint {}\n",
        logkeep_format::bundle::fingerprint(&root().verifying_key())
    ));
    golden("seal-texts-v2.txt", texts.as_bytes());
    // The walk proves the whole chain from the root.
    let mut w = seal::SealWalk::new(
        STORE,
        Some(&logkeep_format::bundle::fingerprint(
            &root().verifying_key(),
        )),
    );
    for (r, b) in &chain {
        w.record(r, Sha256::of(b));
    }
    let s = w.finish();
    assert_eq!(s.unproven, None);
    assert_eq!(s.proven.map(|p| p.seq), Some(chain.len() as u64 - 1));
}

fn build_store(root_dir: &Path) {
    for d in [layout::CHAIN_DIR, layout::SEGMENTS_DIR] {
        std::fs::create_dir_all(root_dir.join(d)).expect("dir");
    }
    let info = StoreInfo {
        format: "logkeep-store".into(),
        v: FORMAT_V2,
        store: STORE.into(),
        created: T0.into(),
        layout: None,
        pack: None,
    };
    let mut bytes = serde_json::to_vec_pretty(&info).expect("json");
    bytes.push(b'\n');
    std::fs::write(root_dir.join(layout::STORE_FILE), bytes).expect("write");
    let chain = sealed_chain(vec![Event::Start {
        version: "0.1.0".into(),
        pid: 42,
    }]);
    for (r, b) in &chain {
        let path = root_dir
            .join(layout::CHAIN_DIR)
            .join(layout::record_name(r.seq));
        std::fs::write(path, b).expect("record");
    }
    let (r, b) = chain.last().expect("records");
    let mut head = serde_json::to_vec(&Head {
        seq: r.seq,
        hash: Sha256::of(b),
    })
    .expect("json");
    head.push(b'\n');
    std::fs::write(root_dir.join(layout::HEAD_FILE), head).expect("head");
}

#[test]
fn checked_in_v2_store_verifies_against_its_root() {
    let store = dir().join("store-v2");
    if updating() {
        let _ = std::fs::remove_dir_all(&store);
        build_store(&store);
    }
    let fp = logkeep_format::bundle::fingerprint(&root().verifying_key());
    let opts = VerifyOptions {
        fingerprint: Some(fp.clone()),
        ..VerifyOptions::default()
    };
    // git keeps no empty directory: verify a copy with its (empty) `segments/` in place.
    let copy = std::env::temp_dir().join(format!("logkeep-golden-v2-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&copy);
    std::fs::create_dir_all(copy.join(layout::CHAIN_DIR)).expect("copy");
    std::fs::create_dir_all(copy.join(layout::SEGMENTS_DIR)).expect("copy");
    for name in [layout::STORE_FILE, layout::HEAD_FILE] {
        std::fs::copy(store.join(name), copy.join(name)).expect("copy");
    }
    for e in std::fs::read_dir(store.join(layout::CHAIN_DIR)).expect("chain") {
        let e = e.expect("chain");
        std::fs::copy(e.path(), copy.join(layout::CHAIN_DIR).join(e.file_name())).expect("copy");
    }
    let report = verify_store(&copy, &opts).expect("verify");
    let _ = std::fs::remove_dir_all(&copy);
    assert!(report.ok(), "{:?}", report.problems);
    assert!(report.notes.is_empty(), "{:?}", report.notes);
    let s = report.seal.expect("a format 2 store has seals");
    assert!(s.fingerprint_checked);
    assert_eq!((s.statements, s.checkpoints, s.epoch), (2, 2, 2));
    // Another root is refused, naming the first record.
    let other =
        logkeep_format::bundle::fingerprint(&SigningKey::from_bytes(&[9; 32]).verifying_key());
    let opts = VerifyOptions {
        fingerprint: Some(other),
        ..VerifyOptions::default()
    };
    let report = verify_store(&store, &opts).expect("verify");
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.file == "chain/0000000000000001.json"),
        "{:?}",
        report.problems
    );
}

/// The golden version 2 store re-laid in layout 2 with two records per pack, checked in as
/// `store-v2-layout2`: records 1, 2–3 and 4–5 in packs, record 6 a file of its own, all in
/// shard 0. It must verify exactly as the flat store does (same head, same seals), and every
/// pack must be the concatenation of the flat store's record files.
#[test]
fn checked_in_layout_2_store_verifies_as_the_flat_one_does() {
    let flat = dir().join("store-v2");
    let store = dir().join("store-v2-layout2");
    let lay = layout::Layout::Sharded { pack: 2 };
    let rec = |n: u64| {
        std::fs::read(flat.join(layout::CHAIN_DIR).join(layout::record_name(n))).expect("record")
    };
    if updating() {
        let _ = std::fs::remove_dir_all(&store);
        let shard = store.join(lay.record_dir(1));
        std::fs::create_dir_all(&shard).expect("mkdir");
        let mut info: StoreInfo =
            serde_json::from_slice(&std::fs::read(flat.join(layout::STORE_FILE)).expect("info"))
                .expect("info");
        (info.layout, info.pack) = lay.values();
        let mut bytes = serde_json::to_vec_pretty(&info).expect("json");
        bytes.push(b'\n');
        std::fs::write(store.join(layout::STORE_FILE), bytes).expect("write");
        std::fs::copy(flat.join(layout::HEAD_FILE), store.join(layout::HEAD_FILE)).expect("cp");
        for (first, last) in [(1, 1), (2, 3), (4, 5)] {
            let pack: Vec<u8> = (first..=last).flat_map(rec).collect();
            std::fs::write(store.join(lay.pack_rel(first).expect("pack")), pack).expect("pack");
        }
        std::fs::write(store.join(lay.record_rel(6)), rec(6)).expect("record");
    }
    for (first, last) in [(1, 1), (2, 3), (4, 5)] {
        let pack = std::fs::read(store.join(lay.pack_rel(first).expect("pack"))).expect("pack");
        let want: Vec<u8> = (first..=last).flat_map(rec).collect();
        assert_eq!(
            pack, want,
            "pack of {first}..={last} is its records' bytes, in order"
        );
    }
    let info = logkeep_format::verify::read_store_info(&store).expect("info");
    assert_eq!(layout::Layout::of(&info), Ok(lay));
    // git keeps no empty directory: verify a copy with its (empty) `segments/` in place.
    let copy = std::env::temp_dir().join(format!("logkeep-golden-l2-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&copy);
    let shard = copy.join(lay.record_dir(1));
    std::fs::create_dir_all(&shard).expect("copy");
    std::fs::create_dir_all(copy.join(layout::SEGMENTS_DIR)).expect("copy");
    for name in [layout::STORE_FILE, layout::HEAD_FILE] {
        std::fs::copy(store.join(name), copy.join(name)).expect("copy");
    }
    for e in std::fs::read_dir(store.join(lay.record_dir(1))).expect("shard") {
        let e = e.expect("shard");
        std::fs::copy(e.path(), shard.join(e.file_name())).expect("copy");
    }
    let fp = logkeep_format::bundle::fingerprint(&root().verifying_key());
    let opts = VerifyOptions {
        fingerprint: Some(fp),
        ..VerifyOptions::default()
    };
    let report = verify_store(&copy, &opts).expect("verify");
    let want = verify_store(&flat, &opts).expect("verify");
    let _ = std::fs::remove_dir_all(&copy);
    assert!(report.ok(), "{:?}", report.problems);
    assert!(report.notes.is_empty(), "{:?}", report.notes);
    assert_eq!(report.head, want.head);
    assert_eq!(report.records, 6);
    let s = report.seal.expect("seals");
    assert!(s.fingerprint_checked);
    assert_eq!((s.statements, s.checkpoints, s.epoch), (2, 2, 2));
}
