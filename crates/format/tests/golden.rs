//! Golden files pin format v1: record bytes, segment content and a small complete store are
//! checked in, and a change to what the writer produces — or to what the reader accepts — fails
//! here. Set `LOGKEEP_UPDATE_GOLDEN=1` to rewrite the files after a deliberate format change
//! (which also needs a new version number and an update of docs/FORMAT.md).

use logkeep_format::layout::{self, Head, StoreInfo};
use logkeep_format::segment::{ChunkOrigin, Discard, SegmentWriter, read_segment, spans_of};
use logkeep_format::verify::{VerifyOptions, verify_store};
use logkeep_format::{Event, Host, Record, Sha256, SourceDecl};
use std::io::Read;
use std::path::{Path, PathBuf};

const STORE: &str = "00112233445566778899aabbccddeeff";
const T0: &str = "2026-11-20T03:10:12.000000000Z";

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

fn updating() -> bool {
    std::env::var_os("LOGKEEP_UPDATE_GOLDEN").is_some()
}

/// Compare `bytes` with the golden file `name`, or write it when updating.
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
        "{} differs from what the writer produces now: format v1 changed",
        path.display()
    );
}

fn host() -> Host {
    Host {
        hostname: "gw01".into(),
        machine_id: "0123456789abcdef0123456789abcdef".into(),
        boot_id: "b0".into(),
    }
}

fn record(seq: u64, prev: Sha256, event: Event) -> Record {
    Record {
        v: 1,
        seq,
        prev,
        store: STORE.into(),
        wall: T0.into(),
        mono_ns: 1_000_000 * seq,
        host: host(),
        event,
    }
}

/// The bytes of the sample log: a last line without newline, an empty line, CRLF, NUL and
/// invalid UTF-8.
fn sample() -> Vec<u8> {
    let mut v = b"2026-11-20 03:10:12 VERIFY OK: depth=0, CN=tanaka\n\r\n\n".to_vec();
    v.extend_from_slice(&[0, 0xff, 0xfe, b'x', b'\n']);
    v.extend_from_slice(b"no newline at the end");
    v
}

/// A segment holding the sample in two chunks, built deterministically.
fn segment(seq: u64, prev: Sha256) -> (Vec<u8>, logkeep_format::segment::Sealed) {
    let data = sample();
    let mut w = SegmentWriter::new(Vec::new(), 3, 0).expect("writer");
    for (start, chunk) in [(0usize, &data[..20]), (20, &data[20..])] {
        let end = start + chunk.len();
        let origin = ChunkOrigin {
            source: "openvpn",
            path: "/var/log/openvpn/server.log",
            dev: 2049,
            ino: 131_077,
            gen_id: 1,
            start: start as u64,
            head: Sha256::of(&data[..end.min(1024)]),
            read_at: T0,
            read_unix: 1_795_000_000,
        };
        w.append(&origin, chunk).expect("append");
    }
    w.finish(STORE, seq, prev, 1_795_000_001).expect("finish")
}

fn decompress(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    zstd::stream::read::Decoder::new(bytes)
        .expect("zstd")
        .read_to_end(&mut out)
        .expect("decompress");
    out
}

#[test]
fn records_are_pinned() {
    let events = vec![
        Event::Start {
            version: "0.1.0".into(),
            pid: 42,
        },
        Event::Config {
            path: "/etc/logkeep/logkeep.toml".into(),
            sha256: Sha256::of(b"config"),
            sources: vec![SourceDecl {
                id: "openvpn".into(),
                paths: vec!["/var/log/openvpn/*.log".into()],
            }],
        },
        Event::Tamper {
            source: "openvpn".into(),
            path: "/var/log/openvpn/server.log".into(),
            dev: 2049,
            ino: 131_077,
            gen_id: 1,
            captured: 4096,
            size_now: Some(0),
            what: "truncated".into(),
        },
        Event::Gap {
            source: "openvpn".into(),
            path: "/var/log/openvpn/old.log".into(),
            dev: 0,
            ino: 0,
            gen_id: 0,
            from: 0,
            size_seen: None,
            reason: "vanished before it could be opened".into(),
        },
        Event::Heartbeat {},
        Event::Stop {
            reason: "SIGTERM".into(),
        },
    ];
    let mut prev = Sha256::ZERO;
    let mut all = Vec::new();
    for (i, e) in events.into_iter().enumerate() {
        let r = record(i as u64 + 1, prev, e);
        let bytes = r.to_bytes();
        assert_eq!(Record::parse(&bytes).expect("parses"), r);
        prev = Sha256::of(&bytes);
        all.extend_from_slice(&bytes);
    }
    golden("records-v1.jsonl", &all);
}

#[test]
fn segment_content_is_pinned_and_the_checked_in_segment_still_reads() {
    let (bytes, sealed) = segment(4, Sha256::of(b"prev"));
    // Compressed bytes depend on the zstd library's version; the decompressed content and the
    // manifest are the format.
    let content = decompress(&bytes);
    assert_eq!(Sha256::of(&content), sealed.content_sha256);
    golden("segment-v1.tar", &content);
    if updating() {
        std::fs::write(dir().join("segment-v1.tar.zst"), &bytes).expect("write");
    }
    let stored = std::fs::read(dir().join("segment-v1.tar.zst")).expect("golden segment");
    let seen = read_segment(&stored[..], content.len() as u64, &mut Discard).expect("read");
    assert!(seen.flaws.is_empty(), "{:?}", seen.flaws);
    assert_eq!(seen.content.map(|c| c.0), Some(Sha256::of(&content)));
    let m = seen.manifest.expect("manifest");
    assert_eq!(
        (m.seq, m.prev, m.store.as_str()),
        (4, Sha256::of(b"prev"), STORE)
    );
    assert_eq!(
        spans_of(&m.members).len(),
        1,
        "two adjacent chunks make one span"
    );
}

/// A complete store: start, config, one segment, stop.
fn build_store(root: &Path) -> Head {
    for d in [layout::CHAIN_DIR, layout::SEGMENTS_DIR] {
        std::fs::create_dir_all(root.join(d)).expect("dir");
    }
    let info = StoreInfo {
        format: "logkeep-store".into(),
        v: 1,
        store: STORE.into(),
        created: T0.into(),
    };
    std::fs::write(
        root.join(layout::STORE_FILE),
        serde_json::to_vec_pretty(&info).expect("json"),
    )
    .expect("write");
    let mut prev = Sha256::ZERO;
    let mut put = |r: Record| {
        let b = r.to_bytes();
        std::fs::write(
            root.join(layout::CHAIN_DIR)
                .join(layout::record_name(r.seq)),
            &b,
        )
        .expect("record");
        prev = Sha256::of(&b);
        prev
    };
    let p1 = put(record(
        1,
        Sha256::ZERO,
        Event::Start {
            version: "0.1.0".into(),
            pid: 42,
        },
    ));
    let (bytes, sealed) = segment(2, p1);
    let file = layout::segment_name(2, &sealed.sha256);
    std::fs::write(root.join(layout::SEGMENTS_DIR).join(&file), &bytes).expect("segment");
    let p2 = put(record(
        2,
        p1,
        Event::Segment {
            file,
            sha256: sealed.sha256,
            size: sealed.size,
            content_sha256: sealed.content_sha256,
            content_size: sealed.content_size,
            first: T0.into(),
            last: T0.into(),
            spans: spans_of(&sealed.manifest.members),
        },
    ));
    let p3 = put(record(
        3,
        p2,
        Event::Stop {
            reason: "SIGTERM".into(),
        },
    ));
    Head { seq: 3, hash: p3 }
}

#[test]
fn checked_in_store_verifies_at_its_pinned_head() {
    let root = dir().join("store-v1");
    if updating() {
        let _ = std::fs::remove_dir_all(&root);
        let head = build_store(&root);
        std::fs::write(
            dir().join("store-v1.head"),
            format!("{}:{}\n", head.seq, head.hash),
        )
        .expect("head");
    }
    let pinned = std::fs::read_to_string(dir().join("store-v1.head")).expect("pinned head");
    let (seq, hash) = pinned.trim().split_once(':').expect("SEQ:HASH");
    let report = verify_store(&root, &VerifyOptions::default()).expect("verify");
    assert!(report.ok(), "{:?}", report.problems);
    let head = report.head.expect("head");
    assert_eq!(
        (head.seq.to_string(), head.hash.to_hex()),
        (seq.to_owned(), hash.to_owned())
    );
    assert_eq!(report.captured_bytes, sample().len() as u64);
}
