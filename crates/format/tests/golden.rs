//! Golden files pin format v1: the bytes of every kind of record, the decompressed content of
//! segments (tar headers, member names, the manifest), a small complete store with its head, and
//! the worked example in `docs/FORMAT.md`. A change to what the writer produces, or to what the
//! reader accepts, fails here.
//!
//! Without `LOGKEEP_UPDATE_GOLDEN` these tests only read and compare. With
//! `LOGKEEP_UPDATE_GOLDEN=1` they rewrite the files under `tests/golden/` — do that only for a
//! deliberate format change, which also needs a new version number and an update of
//! `docs/FORMAT.md`.
//!
//! Compressed bytes depend on the zstd library's version, so they are not compared; the
//! decompressed content and everything hashed into the chain are, and the checked-in compressed
//! files must still read and verify.

use logkeep_format::layout::{self, Head, StoreInfo};
use logkeep_format::record::RecordError;
use logkeep_format::segment::{
    ChunkOrigin, Discard, MANIFEST_NAME, Manifest, Sealed, SegmentWriter, ZSTD_MAGIC, read_segment,
    spans_of,
};
use logkeep_format::verify::{Report, VerifyOptions, verify_store};
use logkeep_format::{Event, Host, Record, Sha256, SourceDecl};
use std::io::Read;
use std::path::{Path, PathBuf};

const STORE: &str = "00112233445566778899aabbccddeeff";
/// Every time in the golden data, and the same instant in seconds since the epoch.
const T0: &str = "2026-11-20T03:10:12.000000000Z";
const T0_UNIX: u64 = 1_795_144_212;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

fn updating() -> bool {
    std::env::var_os("LOGKEEP_UPDATE_GOLDEN").is_some()
}

fn read(name: &str) -> Vec<u8> {
    let path = dir().join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Compare `bytes` with the golden file `name`, or write it when updating.
fn golden(name: &str, bytes: &[u8]) {
    let path = dir().join(name);
    if updating() {
        std::fs::create_dir_all(path.parent().expect("parent")).expect("golden dir");
        std::fs::write(&path, bytes).expect("write golden");
        return;
    }
    let want = read(name);
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

/// Link `events` into records 1, 2, ... and return the records with their file bytes.
fn chain(events: Vec<Event>) -> Vec<(Record, Vec<u8>)> {
    let mut prev = Sha256::ZERO;
    let mut out = Vec::new();
    for (i, e) in events.into_iter().enumerate() {
        let r = record(i as u64 + 1, prev, e);
        let bytes = r.to_bytes();
        assert_eq!(Record::parse(&bytes).expect("parses"), r, "round trip");
        prev = Sha256::of(&bytes);
        out.push((r, bytes));
    }
    out
}

fn concat(records: &[(Record, Vec<u8>)]) -> Vec<u8> {
    records
        .iter()
        .flat_map(|(_, b)| b.iter().copied())
        .collect()
}

/// The bytes of the sample log: a last line without newline, an empty line, CRLF, NUL and
/// invalid UTF-8.
fn sample() -> Vec<u8> {
    let mut v = b"2026-11-20 03:10:12 VERIFY OK: depth=0, CN=tanaka\n\r\n\n".to_vec();
    v.extend_from_slice(&[0, 0xff, 0xfe, b'x', b'\n']);
    v.extend_from_slice(b"no newline at the end");
    v
}

fn origin<'a>(
    source: &'a str,
    path: &'a str,
    gen_id: u64,
    start: u64,
    (head, tail): (Sha256, Sha256),
) -> ChunkOrigin<'a> {
    ChunkOrigin {
        source,
        path,
        dev: 2049,
        ino: 131_077 + gen_id,
        gen_id,
        start,
        head,
        tail,
        read_at: T0,
        read_unix: T0_UNIX,
        cursor: None,
    }
}

/// A segment holding the sample in two chunks, built deterministically.
fn segment(seq: u64, prev: Sha256) -> (Vec<u8>, Sealed) {
    let data = sample();
    let mut w = SegmentWriter::new(Vec::new(), 3, 0).expect("writer");
    for (start, chunk) in [(0usize, &data[..20]), (20, &data[20..])] {
        let end = start + chunk.len();
        let o = origin(
            "openvpn",
            "/var/log/openvpn/server.log",
            1,
            start as u64,
            (
                Sha256::of(&data[..end.min(1024)]),
                Sha256::of(&data[end.saturating_sub(1024)..end]),
            ),
        );
        w.append(&o, chunk).expect("append");
    }
    w.finish(STORE, seq, prev, T0_UNIX + 1).expect("finish")
}

const LONG_PATH: &str = "/var/log/remote/fw-edge-01.branch-office.example.co.jp/2026/11/20/messages-forwarded-by-the-appliance.log";

/// A segment with a member name over 100 bytes (a GNU long-name entry), a generation that does
/// not start at 0, and two chunks of one generation that are not adjacent in the archive (so
/// they stay two spans).
fn long_segment() -> (Vec<u8>, Sealed) {
    let fw1 = b"<134>Nov 20 03:10:12 fw-edge-01 sslvpn: login user=tanaka from 203.0.113.7\n";
    let fw2 = b"<134>Nov 20 03:10:14 fw-edge-01 sslvpn: logout user=tanaka\n";
    let vpn = b"2026-11-20 03:10:13 openvpn[812]: 203.0.113.7:51234 VERIFY OK\n";
    let both = [&fw1[..], &fw2[..]].concat();
    let mut w = SegmentWriter::new(Vec::new(), 3, 0).expect("writer");
    let fw1_digest = Sha256::of(fw1);
    w.append(
        &origin("fw", LONG_PATH, 7, 0, (fw1_digest, fw1_digest)),
        fw1,
    )
    .expect("append");
    let vpn_head = Sha256::of(b"the first KiB of server.log");
    let vpn_tail = Sha256::of(b"the KiB of server.log before byte 4160");
    w.append(
        &origin(
            "openvpn",
            "/var/log/openvpn/server.log",
            3,
            4096,
            (vpn_head, vpn_tail),
        ),
        vpn,
    )
    .expect("append");
    let both_digest = Sha256::of(&both);
    w.append(
        &origin(
            "fw",
            LONG_PATH,
            7,
            fw1.len() as u64,
            (both_digest, both_digest),
        ),
        fw2,
    )
    .expect("append");
    w.finish(STORE, 9, Sha256::of(b"record 8"), T0_UNIX + 2)
        .expect("finish")
}

fn decompress(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    zstd::stream::read::Decoder::new(bytes)
        .expect("zstd")
        .read_to_end(&mut out)
        .expect("decompress");
    out
}

fn json_line<T: serde::Serialize>(v: &T) -> Vec<u8> {
    let mut b = serde_json::to_vec(v).expect("json");
    b.push(b'\n');
    b
}

// ---------------------------------------------------------------------------------------------
// Records
// ---------------------------------------------------------------------------------------------

#[test]
fn records_are_pinned() {
    let records = chain(vec![
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
                preset: None,
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
    ]);
    golden("records-v1.jsonl", &concat(&records));
}

/// Position of an event kind in [`every_kind`]. The match has no wildcard, so a new kind does
/// not compile until it is added here, to `every_kind`, to the golden file and to FORMAT.md.
fn kind_index(e: &Event) -> usize {
    match e {
        Event::Start { .. } => 0,
        Event::Config { .. } => 1,
        Event::SourceAdded { .. } => 2,
        Event::SourceRemoved { .. } => 3,
        Event::Segment { .. } => 4,
        Event::Heartbeat {} => 5,
        Event::Tamper { .. } => 6,
        Event::Gap { .. } => 7,
        Event::Closed { .. } => 8,
        Event::Unreadable { .. } => 9,
        Event::Readable { .. } => 10,
        Event::Medium { .. } => 11,
        Event::Pruned { .. } => 12,
        Event::Recovered { .. } => 13,
        Event::Snapshot { .. } => 14,
        Event::Stop { .. } => 15,
        Event::Remote { .. } => 16,
        Event::JournalFile { .. } => 17,
        Event::Version { .. } => 18,
        Event::Drill { .. } => 19,
        // Format 2 only: pinned by `golden_v2.rs`.
        Event::Epoch { .. } => 20,
        Event::Checkpoint { .. } => 21,
        Event::Clock { .. } => 22,
    }
}

/// One event of every kind, with strings that exercise the canonical escaping: quotes,
/// backslashes, control characters, DEL, `/` and non-ASCII text.
fn every_kind() -> Vec<Event> {
    let (_, sealed) = segment(5, Sha256::ZERO);
    let file = layout::segment_name(5, &sealed.sha256);
    vec![
        Event::Start {
            version: "0.1.0".into(),
            pid: 4_294_967_295,
        },
        Event::Config {
            path: "/etc/logkeep/logkeep.toml".into(),
            sha256: Sha256::of(b"config"),
            sources: vec![
                SourceDecl {
                    id: "openvpn".into(),
                    paths: vec!["/var/log/openvpn/*.log".into()],
                    preset: None,
                },
                SourceDecl {
                    id: "rdp-gw_1.a".into(),
                    paths: vec![
                        "/var/log/rdp/[a-z]*.log".into(),
                        "/srv/ログ/\"quoted\" back\\slash\u{7f}.log".into(),
                    ],
                    preset: None,
                },
            ],
        },
        Event::SourceAdded {
            source: "rdp-gw_1.a".into(),
        },
        Event::SourceRemoved {
            source: "old".into(),
        },
        Event::Segment {
            file,
            sha256: sealed.sha256,
            size: sealed.size,
            content_size: sealed.content_size,
            manifest_sha256: sealed.manifest_sha256,
            first: T0.into(),
            last: T0.into(),
            spans: spans_of(&sealed.manifest.members),
        },
        Event::Heartbeat {},
        Event::Tamper {
            source: "openvpn".into(),
            path: "/var/log/openvpn/server.log".into(),
            dev: 2049,
            ino: 131_077,
            gen_id: 1,
            captured: 79,
            size_now: None,
            what: "deleted".into(),
        },
        Event::Gap {
            source: "openvpn".into(),
            path: "/var/log/openvpn/server.log".into(),
            dev: 2049,
            ino: 131_078,
            gen_id: 2,
            from: 79,
            size_seen: Some(18_446_744_073_709_551_615),
            reason: "control\u{1}\u{8}\t\n\u{c}\r\u{1f} characters".into(),
        },
        Event::Closed {
            source: "openvpn".into(),
            path: "/var/log/openvpn/server.log.1".into(),
            dev: 2049,
            ino: 131_078,
            gen_id: 2,
            end: 79,
            reason: "rotated".into(),
        },
        Event::Unreadable {
            source: "auth".into(),
            path: "/var/log/auth.log".into(),
            dev: 2049,
            ino: 131_079,
            gen_id: 0,
            error: "Permission denied (os error 13)".into(),
        },
        Event::Readable {
            source: "auth".into(),
            path: "/var/log/auth.log".into(),
            dev: 2049,
            ino: 131_079,
            gen_id: 3,
        },
        Event::Medium {
            medium: "usb-a".into(),
            what: "caught_up".into(),
            head: Some(Head {
                seq: 8,
                hash: Sha256::of(b"record 8"),
            }),
            detail: Some("9 records, 1 segments copied; 0 segments no longer in the store".into()),
        },
        Event::Pruned {
            seq: 5,
            file: layout::segment_name(5, &Sha256::of(b"segment 5")),
            media: vec!["usb-a".into(), "nas".into()],
        },
        Event::Recovered {
            file: layout::segment_name(11, &Sha256::of(b"segment 11")),
        },
        Event::Snapshot {
            id: "20261120T031012Z-1a2b".into(),
            reason: None,
            uid: 0,
            pid: 4242,
            requested: T0.into(),
            context: 12,
        },
        Event::Stop {
            reason: "SIGTERM".into(),
        },
        Event::Remote {
            remote: "central".into(),
            what: "failed".into(),
            head: Some(Head {
                seq: 8,
                hash: Sha256::of(b"record 8"),
            }),
            detail: Some("http://127.0.0.1:7480: unreachable: \"timeout\"".into()),
        },
        Event::JournalFile {
            source: "journal".into(),
            path: "/var/log/journal/3d1219c7c4c5404aaa1f6d2a48adfda4/system.journal".into(),
            dev: 2049,
            ino: 131_080,
            gen_id: 4,
            file_id: "4b54e6928e2c42cd8e313e82e82db4df".into(),
            sealed: true,
            state: "online".into(),
            after_cursor: Some("s=4b54e6928e2c42cd8e313e82e82db4df;i=3;b=0123456789abcdef0123456789abcdef;m=3ea;t=60a24181e4002;x=4f9dca3ac5efb951".into()),
        },
        Event::Version {
            source: "openvpn-status".into(),
            path: "/run/openvpn-server/status-server.log".into(),
            dev: 25,
            ino: 1234,
            gen_id: 5,
            size: 412,
            sha256: Sha256::of(b"status"),
            modified: T0.into(),
        },
        Event::Drill {
            verdict: "failed".into(),
            medium: Some("usb-a".into()),
            bundle: Some(Sha256::of(b"bundle")),
            verified_ms: Some(2750),
            failures: vec!["medium \"usb-b\": not seen for 9d \u{7f}".into()],
            uid: 0,
            remote: None,
        },
    ]
}

#[test]
fn every_event_kind_is_pinned() {
    let events = every_kind();
    let order: Vec<usize> = events.iter().map(kind_index).collect();
    assert_eq!(
        order,
        (0..events.len()).collect::<Vec<_>>(),
        "every_kind must list each kind once, in kind_index order"
    );
    golden("events-v1.jsonl", &concat(&chain(events)));
}

#[derive(Debug, PartialEq)]
enum Verdict {
    Ok,
    Syntax,
    Version(u64),
    NotCanonical,
}

fn verdict(bytes: &[u8]) -> Verdict {
    match Record::parse(bytes) {
        Ok(_) => Verdict::Ok,
        Err(RecordError::Syntax(_)) => Verdict::Syntax,
        Err(RecordError::Version(v)) => Verdict::Version(v),
        Err(RecordError::NotCanonical) => Verdict::NotCanonical,
        Err(RecordError::KindNotInVersion(_)) => Verdict::Syntax,
    }
}

/// What a record reader accepts is part of the format: one meaning per record, so that every
/// verifier reads (and hashes) a record the same way.
#[test]
fn record_parsing_is_strict() {
    let base = record(
        7,
        Sha256::of(b"x"),
        Event::Config {
            path: "/etc/logkeep/logkeep.toml".into(),
            sha256: Sha256::of(b"config"),
            sources: vec![],
        },
    );
    let canonical = String::from_utf8(base.to_bytes()).expect("utf-8");
    let edit = |from: &str, to: &str| {
        assert!(canonical.contains(from), "{from} not in the sample");
        canonical.replacen(from, to, 1).into_bytes()
    };
    let hex = Sha256::of(b"x").to_hex();
    let cases: Vec<(&str, Vec<u8>, Verdict)> = vec![
        ("canonical", canonical.clone().into_bytes(), Verdict::Ok),
        (
            "no final newline",
            canonical.trim_end().as_bytes().to_vec(),
            Verdict::NotCanonical,
        ),
        ("CRLF", edit("}}\n", "}}\r\n"), Verdict::NotCanonical),
        (
            "two final newlines",
            edit("}}\n", "}}\n\n"),
            Verdict::NotCanonical,
        ),
        (
            "space",
            edit("\"seq\":7", "\"seq\": 7"),
            Verdict::NotCanonical,
        ),
        (
            "members reordered",
            edit("\"v\":1,\"seq\":7,", "\"seq\":7,\"v\":1,"),
            Verdict::NotCanonical,
        ),
        (
            "needless escape",
            edit("/etc/logkeep", "\\/etc/logkeep"),
            Verdict::NotCanonical,
        ),
        (
            "unicode escape of a plain letter",
            edit("logkeep.toml", "\\u006cogkeep.toml"),
            Verdict::NotCanonical,
        ),
        (
            "uppercase hex digest",
            edit(&hex, &hex.to_uppercase()),
            Verdict::Syntax,
        ),
        ("short digest", edit(&hex, &hex[..62]), Verdict::Syntax),
        (
            "unknown member",
            edit("\"seq\":7", "\"seq\":7,\"x\":1"),
            Verdict::Syntax,
        ),
        (
            "unknown member in the event",
            edit("\"sources\"", "\"x\":1,\"sources\""),
            Verdict::Syntax,
        ),
        (
            "duplicate member",
            edit("\"seq\":7", "\"seq\":7,\"seq\":7"),
            Verdict::Syntax,
        ),
        (
            "unknown kind",
            edit("\"kind\":\"config\"", "\"kind\":\"configuration\""),
            Verdict::Syntax,
        ),
        (
            "leading zero",
            edit("\"seq\":7", "\"seq\":07"),
            Verdict::Syntax,
        ),
        (
            "fraction",
            edit("\"seq\":7", "\"seq\":7.0"),
            Verdict::Syntax,
        ),
        ("negative", edit("\"seq\":7", "\"seq\":-7"), Verdict::Syntax),
        (
            "byte order mark",
            [&b"\xef\xbb\xbf"[..], canonical.as_bytes()].concat(),
            Verdict::Syntax,
        ),
        ("missing v", edit("\"v\":1,", ""), Verdict::Syntax),
        // Format 2 reads the same schema (a chain's records must all have its store's version:
        // the chain checker's rule, not the record parser's).
        ("version 2", edit("\"v\":1", "\"v\":2"), Verdict::Ok),
        (
            "version 2 with an unknown schema",
            br#"{"v":2,"anything":["else"]}"#.to_vec(),
            Verdict::Syntax,
        ),
        ("version 3", edit("\"v\":1", "\"v\":3"), Verdict::Version(3)),
        (
            "version 3 with an unknown schema",
            br#"{"v":3,"anything":["else"]}"#.to_vec(),
            Verdict::Version(3),
        ),
        ("version 0", edit("\"v\":1", "\"v\":0"), Verdict::Version(0)),
    ];
    for (what, bytes, want) in cases {
        assert_eq!(verdict(&bytes), want, "{what}");
    }
}

// ---------------------------------------------------------------------------------------------
// Segments
// ---------------------------------------------------------------------------------------------

/// One regular member of a tar stream, parsed by hand (not with the `tar` crate) so that the
/// header layout FORMAT.md describes is checked independently.
struct TarMember {
    header: [u8; 512],
    /// The GNU long-name entry (`L`) before it, if any: its header and its data.
    long: Option<([u8; 512], Vec<u8>)>,
    name: Vec<u8>,
    data: Vec<u8>,
}

fn octal(field: &[u8]) -> u64 {
    let digits: Vec<u8> = field
        .iter()
        .copied()
        .take_while(|&b| b != 0 && b != b' ')
        .collect();
    u64::from_str_radix(std::str::from_utf8(&digits).expect("ascii"), 8).expect("octal")
}

fn parse_tar(content: &[u8]) -> Vec<TarMember> {
    let mut out = Vec::new();
    let mut long = None;
    let mut off = 0;
    loop {
        let header: [u8; 512] = content[off..off + 512].try_into().expect("a header block");
        if header == [0u8; 512] {
            assert!(long.is_none(), "a long-name entry without its member");
            assert_eq!(
                &content[off..],
                &[0u8; 1024][..],
                "the archive ends with exactly two zero blocks and nothing after them"
            );
            return out;
        }
        // The checksum: the sum of the header's bytes with the checksum field read as spaces,
        // written as seven octal digits and a NUL.
        let sum: u64 = header
            .iter()
            .enumerate()
            .map(|(i, &b)| {
                if (148..156).contains(&i) {
                    32
                } else {
                    u64::from(b)
                }
            })
            .sum();
        assert_eq!(header[155], 0, "checksum field ends in NUL");
        assert_eq!(octal(&header[148..156]), sum, "header checksum");
        let size = octal(&header[124..136]) as usize;
        let padded = size.div_ceil(512) * 512;
        let data = content[off + 512..off + 512 + size].to_vec();
        assert!(
            content[off + 512 + size..off + 512 + padded]
                .iter()
                .all(|&b| b == 0),
            "data is padded with zeros to a whole block"
        );
        off += 512 + padded;
        match header[156] {
            b'L' => long = Some((header, data)),
            b'0' => {
                let name = match &long {
                    Some((_, d)) => {
                        assert_eq!(d.last(), Some(&0), "a long name ends in NUL");
                        d[..d.len() - 1].to_vec()
                    }
                    None => header[..100]
                        .iter()
                        .copied()
                        .take_while(|&b| b != 0)
                        .collect(),
                };
                out.push(TarMember {
                    header,
                    long: long.take(),
                    name,
                    data,
                });
            }
            t => panic!("entry type {:?} is not part of a segment", t as char),
        }
    }
}

/// The header fields FORMAT.md lists, checked for one member.
fn check_header(m: &TarMember, mtime: u64) {
    let h = &m.header;
    let name = String::from_utf8_lossy(&m.name);
    assert_eq!(&h[100..108], b"0000444\0", "{name}: mode");
    assert_eq!(&h[108..116], b"0000000\0", "{name}: uid");
    assert_eq!(&h[116..124], b"0000000\0", "{name}: gid");
    assert_eq!(h[135], 0, "{name}: size is 11 octal digits and a NUL");
    assert_eq!(octal(&h[124..136]), m.data.len() as u64, "{name}: size");
    assert_eq!(h[147], 0, "{name}: mtime is 11 octal digits and a NUL");
    assert_eq!(octal(&h[136..148]), mtime, "{name}: mtime");
    assert_eq!(h[156], b'0', "{name}: a regular file");
    assert!(h[157..257].iter().all(|&b| b == 0), "{name}: no link name");
    assert_eq!(&h[257..265], b"ustar  \0", "{name}: GNU magic and version");
    assert!(
        h[265..512].iter().all(|&b| b == 0),
        "{name}: no user or group name, no device numbers, nothing else"
    );
    match &m.long {
        None => {
            assert!(
                m.name.len() <= 100,
                "{name}: short names fit the name field"
            );
            let mut field = m.name.clone();
            field.resize(100, 0);
            assert_eq!(&h[..100], &field[..], "{name}: name field");
        }
        Some((lh, _)) => {
            assert!(
                m.name.len() > 100,
                "{name}: only names over 100 bytes are long"
            );
            assert_eq!(
                &h[..100],
                &m.name[..100],
                "{name}: first 100 bytes in the header"
            );
            let mut field = b"././@LongLink".to_vec();
            field.resize(100, 0);
            assert_eq!(&lh[..100], &field[..], "long-name entry name");
            assert_eq!(&lh[100..108], b"0000644\0", "long-name entry mode");
            assert_eq!(&lh[108..116], b"0000000\0", "long-name entry uid");
            assert_eq!(&lh[116..124], b"0000000\0", "long-name entry gid");
            assert_eq!(
                octal(&lh[124..136]),
                m.name.len() as u64 + 1,
                "long-name size"
            );
            assert_eq!(octal(&lh[136..148]), 0, "long-name entry mtime");
            assert_eq!(&lh[257..265], b"ustar  \0", "long-name entry magic");
        }
    }
}

/// Check a segment's decompressed content against the layout FORMAT.md gives, independently of
/// the crate's reader; returns the manifest member's bytes.
fn check_content(content: &[u8], sealed: &Sealed, data_mtime: u64, seal_mtime: u64) -> Vec<u8> {
    let members = parse_tar(content);
    let (manifest, data) = members.split_last().expect("at least the manifest");
    assert_eq!(
        manifest.name,
        MANIFEST_NAME.as_bytes(),
        "the manifest is last"
    );
    check_header(manifest, seal_mtime);
    assert_eq!(
        manifest.data,
        json_line(&sealed.manifest),
        "the manifest is one line of compact JSON in declaration order"
    );
    let parsed: Manifest = serde_json::from_slice(&manifest.data).expect("manifest");
    assert_eq!(parsed, sealed.manifest);
    assert_eq!(data.len(), parsed.members.len());
    // A segment without data members would make the checks below vacuous.
    assert!(!data.is_empty(), "the segment holds no data member");
    for (m, listed) in data.iter().zip(&parsed.members) {
        check_header(m, data_mtime);
        let want = format!(
            "{}/{}.gen{}/{:020}",
            listed.source,
            listed.path.trim_start_matches('/'),
            listed.gen_id,
            listed.start
        );
        assert_eq!(String::from_utf8_lossy(&m.name), want, "member name");
        assert_eq!(listed.name, want);
        assert_eq!(m.data.len() as u64, listed.end - listed.start);
        assert_eq!(Sha256::of(&m.data), listed.sha256);
    }
    manifest.data.clone()
}

#[test]
fn segment_content_is_pinned_and_the_checked_in_segment_still_reads() {
    let (bytes, sealed) = segment(4, Sha256::of(b"prev"));
    let content = decompress(&bytes);
    assert_eq!(content.len() as u64, sealed.content_size);
    let manifest = check_content(&content, &sealed, T0_UNIX, T0_UNIX + 1);
    golden("segment-v1.tar", &content);
    golden("segment-v1.manifest.json", &manifest);
    if updating() {
        std::fs::write(dir().join("segment-v1.tar.zst"), &bytes).expect("write");
    }

    // The checked-in compressed segment, written by some earlier zstd library: exactly one
    // frame, with a content checksum, nothing after it, and the pinned content inside.
    let stored = read("segment-v1.tar.zst");
    assert_eq!(stored[..4], ZSTD_MAGIC);
    assert_ne!(stored[4] & 0x04, 0, "Content_Checksum_flag is set");
    assert_eq!(
        zstd::zstd_safe::find_frame_compressed_size(&stored).expect("a frame"),
        stored.len(),
        "one frame and nothing after it"
    );
    assert_eq!(decompress(&stored), read("segment-v1.tar"));
    let seen = read_segment(&stored[..], content.len() as u64, &mut Discard).expect("read");
    assert!(seen.flaws.is_empty(), "{:?}", seen.flaws);
    assert_eq!(seen.content, Some(content.len() as u64));
    let (m, digest) = seen.manifest.expect("manifest");
    assert_eq!(
        digest,
        Sha256::of(&read("segment-v1.manifest.json")),
        "the manifest digest covers the manifest member's bytes"
    );
    assert_eq!(
        (m.seq, m.prev, m.store.as_str()),
        (4, Sha256::of(b"prev"), STORE)
    );
    assert_eq!(
        spans_of(&m.members).len(),
        1,
        "adjacent chunks make one span"
    );
}

#[test]
fn long_names_and_spans_are_pinned() {
    let (bytes, sealed) = long_segment();
    let content = decompress(&bytes);
    check_content(&content, &sealed, T0_UNIX, T0_UNIX + 2);
    let members = parse_tar(&content);
    assert!(
        members[0].long.is_some(),
        "the first member needs a long name"
    );
    golden("segment-long-v1.tar", &content);
    // The merge rule for the record's spans: only members adjacent in the archive merge.
    let spans = spans_of(&sealed.manifest.members);
    assert_eq!(spans.len(), 3);
    golden("segment-long-v1.spans.json", &json_line(&spans));
    let seen = read_segment(&bytes[..], sealed.content_size, &mut Discard).expect("read");
    assert!(seen.flaws.is_empty(), "{:?}", seen.flaws);
}

// ---------------------------------------------------------------------------------------------
// A complete store
// ---------------------------------------------------------------------------------------------

/// A complete store as the daemon leaves it: start, one segment, stop; `head.json` names the
/// last record.
fn build_store(root: &Path) -> Head {
    for d in [layout::CHAIN_DIR, layout::SEGMENTS_DIR] {
        std::fs::create_dir_all(root.join(d)).expect("dir");
    }
    let info = StoreInfo {
        format: "logkeep-store".into(),
        v: 1,
        store: STORE.into(),
        created: T0.into(),
        layout: None,
        pack: None,
    };
    let mut info_bytes = serde_json::to_vec_pretty(&info).expect("json");
    info_bytes.push(b'\n');
    std::fs::write(root.join(layout::STORE_FILE), info_bytes).expect("write");
    let put = |r: Record| {
        let b = r.to_bytes();
        let path = root
            .join(layout::CHAIN_DIR)
            .join(layout::record_name(r.seq));
        std::fs::write(path, &b).expect("record");
        Sha256::of(&b)
    };
    let start = Event::Start {
        version: "0.1.0".into(),
        pid: 42,
    };
    let p1 = put(record(1, Sha256::ZERO, start));
    let (bytes, sealed) = segment(2, p1);
    let file = layout::segment_name(2, &sealed.sha256);
    std::fs::write(root.join(layout::SEGMENTS_DIR).join(&file), &bytes).expect("segment");
    let seg = Event::Segment {
        file,
        sha256: sealed.sha256,
        size: sealed.size,
        content_size: sealed.content_size,
        manifest_sha256: sealed.manifest_sha256,
        first: T0.into(),
        last: T0.into(),
        spans: spans_of(&sealed.manifest.members),
    };
    let p2 = put(record(2, p1, seg));
    let stop = Event::Stop {
        reason: "SIGTERM".into(),
    };
    let p3 = put(record(3, p2, stop));
    let head = Head { seq: 3, hash: p3 };
    std::fs::write(root.join(layout::HEAD_FILE), json_line(&head)).expect("head");
    head
}

fn store_root() -> PathBuf {
    dir().join("store-v1")
}

fn pinned_head() -> Head {
    let text = String::from_utf8(read("store-v1.head")).expect("utf-8");
    let (seq, hash) = text.trim().split_once(':').expect("SEQ:HASH");
    Head {
        seq: seq.parse().expect("seq"),
        hash: Sha256::parse(hash).expect("hash"),
    }
}

#[test]
fn checked_in_store_verifies_at_its_pinned_head() {
    let root = store_root();
    if updating() {
        let _ = std::fs::remove_dir_all(&root);
        let head = build_store(&root);
        let line = format!("{}:{}\n", head.seq, head.hash);
        std::fs::write(dir().join("store-v1.head"), line).expect("head");
    }
    let pinned = pinned_head();
    let report = verify_store(&root, &VerifyOptions::default()).expect("verify");
    assert!(report.ok(), "{:?}", report.problems);
    assert!(report.notes.is_empty(), "{:?}", report.notes);
    assert_eq!(report.head, Some(pinned));
    assert_eq!(report.captured_bytes, sample().len() as u64);
    // The same head, known from elsewhere, is reached.
    let opts = VerifyOptions {
        expect_head: Some(pinned),
        ..VerifyOptions::default()
    };
    assert!(verify_store(&root, &opts).expect("verify").ok());
}

/// The checks FORMAT.md gives for standard tools, done on raw bytes without the crate's
/// parsers: each record's `prev` is the SHA-256 of the previous record file, each segment's name
/// carries the SHA-256 of its bytes, and `head.json` names the last record.
#[test]
fn checked_in_store_checks_with_plain_hashes() {
    let root = store_root();
    let mut names: Vec<String> = std::fs::read_dir(root.join("chain"))
        .expect("chain")
        .map(|e| e.expect("entry").file_name().into_string().expect("utf-8"))
        .collect();
    names.sort();
    assert!(!names.is_empty(), "the checked-in store has no records");
    let mut prev = "0".repeat(64);
    for (i, name) in names.iter().enumerate() {
        assert_eq!(name, &format!("{:016}.json", i + 1));
        let bytes = std::fs::read(root.join("chain").join(name)).expect("record");
        let text = String::from_utf8(bytes.clone()).expect("utf-8");
        let at = text.find("\"prev\":\"").expect("prev") + 8;
        assert_eq!(&text[at..at + 64], prev, "{name}: prev");
        prev = Sha256::of(&bytes).to_hex();
    }
    let head = std::fs::read(root.join("head.json")).expect("head.json");
    let want = format!("{{\"seq\":{},\"hash\":\"{prev}\"}}\n", names.len());
    assert_eq!(String::from_utf8(head).expect("utf-8"), want);
    assert_eq!(pinned_head().hash.to_hex(), prev);
    let segments: Vec<String> = std::fs::read_dir(root.join("segments"))
        .expect("segments")
        .map(|e| e.expect("entry").file_name().into_string().expect("utf-8"))
        .collect();
    assert!(
        !segments.is_empty(),
        "the checked-in store has no segments to check"
    );
    for name in segments {
        let bytes = std::fs::read(root.join("segments").join(&name)).expect("segment");
        let hash = name
            .strip_suffix(".tar.zst")
            .and_then(|s| s.split_once('-'))
            .expect("SEQ-HASH.tar.zst")
            .1;
        assert_eq!(hash, Sha256::of(&bytes).to_hex(), "{name}");
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read_dir") {
        let e = e.expect("entry");
        let target = to.join(e.file_name());
        if e.file_type().expect("type").is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).expect("copy");
            // Checked-in files may be read-only, as the store makes them; the copy is edited.
            let writable = std::os::unix::fs::PermissionsExt::from_mode(0o644);
            std::fs::set_permissions(&target, writable).expect("chmod");
        }
    }
}

fn segment_path(root: &Path) -> PathBuf {
    let e = std::fs::read_dir(root.join("segments"))
        .expect("segments")
        .next()
        .expect("one segment")
        .expect("entry");
    e.path()
}

fn edit_file(path: &Path, f: impl FnOnce(&mut Vec<u8>)) {
    let mut b = std::fs::read(path).expect("read");
    f(&mut b);
    std::fs::write(path, b).expect("write");
}

fn verify_copy(mutate: &dyn Fn(&Path), opts: &VerifyOptions) -> Report {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path().join("store");
    copy_dir(&store_root(), &root);
    mutate(&root);
    verify_store(&root, opts).expect("verify")
}

/// Damage to a copy of the checked-in store is found, and the report names the file.
#[test]
fn damaged_copies_of_the_checked_in_store_fail() {
    let rec = |n: u64| format!("chain/{}", layout::record_name(n));
    let seg = || {
        std::fs::read_dir(store_root().join("segments"))
            .expect("segments")
            .next()
            .expect("one")
            .expect("entry")
            .file_name()
            .into_string()
            .expect("utf-8")
    };
    let seg_rel = format!("segments/{}", seg());
    type Case = (&'static str, Box<dyn Fn(&Path)>, String);
    let cases: Vec<Case> = vec![
        (
            "a flipped byte in the segment",
            Box::new(|r: &Path| {
                edit_file(&segment_path(r), |b| {
                    let middle = b.len() / 2;
                    b[middle] ^= 1
                })
            }),
            seg_rel.clone(),
        ),
        (
            "a byte appended after the frame",
            Box::new(|r: &Path| edit_file(&segment_path(r), |b| b.push(0))),
            seg_rel.clone(),
        ),
        (
            "a second frame appended",
            Box::new(|r: &Path| {
                let frame = zstd::encode_all(&b"more"[..], 3).expect("zstd");
                edit_file(&segment_path(r), |b| b.extend_from_slice(&frame))
            }),
            seg_rel.clone(),
        ),
        (
            "the segment deleted",
            Box::new(|r: &Path| std::fs::remove_file(segment_path(r)).expect("rm")),
            seg_rel.clone(),
        ),
        (
            "a changed value in a record",
            Box::new(move |r: &Path| {
                edit_file(&r.join(rec(1)), |b| {
                    *b = String::from_utf8_lossy(b)
                        .replacen("\"pid\":42", "\"pid\":43", 1)
                        .into_bytes()
                })
            }),
            rec(2),
        ),
        (
            "a changed value in the last record",
            Box::new(move |r: &Path| {
                edit_file(&r.join(rec(3)), |b| {
                    *b = String::from_utf8_lossy(b)
                        .replacen("SIGTERM", "SIGINT", 1)
                        .into_bytes()
                })
            }),
            "head.json".into(),
        ),
        (
            "a record re-serialised with a space",
            Box::new(move |r: &Path| {
                edit_file(&r.join(rec(1)), |b| {
                    *b = String::from_utf8_lossy(b)
                        .replacen("\"seq\":1", "\"seq\": 1", 1)
                        .into_bytes()
                })
            }),
            rec(1),
        ),
        (
            "two records swapped",
            Box::new(move |r: &Path| {
                let (a, b) = (r.join(rec(1)), r.join(rec(3)));
                let (x, y) = (std::fs::read(&a).expect("a"), std::fs::read(&b).expect("b"));
                std::fs::write(&a, y).expect("a");
                std::fs::write(&b, x).expect("b");
            }),
            rec(1),
        ),
        (
            "the last record removed while head.json names it",
            Box::new(move |r: &Path| std::fs::remove_file(r.join(rec(3))).expect("rm")),
            "head.json".into(),
        ),
        (
            "a record removed in the middle",
            Box::new(move |r: &Path| std::fs::remove_file(r.join(rec(2))).expect("rm")),
            rec(3),
        ),
        (
            "an extra file among the segments",
            Box::new(|r: &Path| std::fs::write(r.join("segments/notes.txt"), b"x").expect("w")),
            "segments/notes.txt".into(),
        ),
        (
            "an extra file in the store",
            Box::new(|r: &Path| std::fs::write(r.join("README"), b"x").expect("w")),
            "README".into(),
        ),
        (
            "the store's identity replaced",
            Box::new(|r: &Path| {
                edit_file(&r.join("logkeep-store.json"), |b| {
                    *b = String::from_utf8_lossy(b)
                        .replace(STORE, "ffeeddccbbaa99887766554433221100")
                        .into_bytes()
                })
            }),
            rec(1),
        ),
    ];
    for (what, mutate, file) in cases {
        let report = verify_copy(&*mutate, &VerifyOptions::default());
        assert!(!report.ok(), "{what}: not detected");
        assert!(
            report.problems.iter().any(|p| p.file == file),
            "{what}: no problem names {file}: {:?}",
            report.problems
        );
    }
    // Cut back to record 2 including head.json: only a head known from elsewhere tells.
    let cut = |r: &Path| {
        std::fs::remove_file(r.join(rec(3))).expect("rm");
        let bytes = std::fs::read(r.join(rec(2))).expect("record 2");
        let head = Head {
            seq: 2,
            hash: Sha256::of(&bytes),
        };
        std::fs::write(r.join("head.json"), json_line(&head)).expect("head");
    };
    assert!(verify_copy(&cut, &VerifyOptions::default()).ok());
    let known = VerifyOptions {
        expect_head: Some(pinned_head()),
        ..VerifyOptions::default()
    };
    let report = verify_copy(&cut, &known);
    assert!(
        report.problems.iter().any(|p| p.file == "chain"),
        "{report:?}"
    );
    // A temporary file left by an interrupted write is a note, not a problem.
    let temp = |r: &Path| std::fs::write(r.join("chain/.tmp-x-000000000000"), b"{").expect("w");
    let report = verify_copy(&temp, &VerifyOptions::default());
    assert!(report.ok() && !report.notes.is_empty(), "{report:?}");
}

// ---------------------------------------------------------------------------------------------
// docs/FORMAT.md
// ---------------------------------------------------------------------------------------------

fn format_md() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/FORMAT.md");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The lines of the fenced block that follows `marker` in `doc`.
fn block_after(doc: &str, marker: &str) -> Vec<String> {
    let at = doc
        .find(marker)
        .unwrap_or_else(|| panic!("FORMAT.md lost its {marker} marker"));
    doc[at..]
        .lines()
        .skip_while(|l| !l.starts_with("```"))
        .skip(1)
        .take_while(|l| !l.starts_with("```"))
        .map(str::to_owned)
        .collect()
}

/// FORMAT.md must change with the format: it names every event kind in its table, and its
/// worked example (the records of a real run) still parses and links under today's rules.
#[test]
fn format_md_names_every_kind_and_its_example_verifies() {
    let doc = format_md();
    for e in every_kind() {
        let row = format!("\n| `{}` |", e.kind());
        assert!(
            doc.contains(&row),
            "FORMAT.md has no table row for kind {}",
            e.kind()
        );
    }
    let lines = block_after(&doc, "<!-- example:records -->");
    assert!(lines.len() >= 3, "the example shows a few records");
    let mut prev = Sha256::ZERO;
    let mut hashes = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let bytes = format!("{line}\n").into_bytes();
        let r = Record::parse(&bytes).unwrap_or_else(|e| panic!("example record {}: {e}", i + 1));
        assert_eq!(r.seq, i as u64 + 1, "example record numbering");
        assert_eq!(r.prev, prev, "example record {} prev", i + 1);
        prev = Sha256::of(&bytes);
        hashes.push(prev);
    }
    let head = block_after(&doc, "<!-- example:head -->");
    let want = format!("{{\"seq\":{},\"hash\":\"{prev}\"}}", lines.len());
    assert_eq!(head, vec![want], "the example's head.json");
    let mut sums = 0;
    for line in block_after(&doc, "<!-- example:sha256sum -->") {
        if let Some((hash, name)) = line.split_once("  ")
            && let Some(seq) = name
                .strip_prefix("store/chain/")
                .and_then(layout::parse_record_name)
        {
            assert_eq!(
                hash,
                hashes[seq as usize - 1].to_hex(),
                "sha256sum of {name}"
            );
            sums += 1;
        }
    }
    assert_eq!(
        sums,
        lines.len(),
        "the example shows sha256sum of every record"
    );
}

/// What a transcript printed: its lines that are not `$ ` commands.
fn output_lines(block: &[String]) -> Vec<&str> {
    block
        .iter()
        .filter(|l| !l.starts_with("$ "))
        .map(String::as_str)
        .collect()
}

/// The worked example's segments, manifest and verification agree with its records: what
/// `sha256sum`, `tar -xO logkeep-manifest.json` and `logkeep verify` print there is what the
/// records bind (a transcript made up or cut from a failed command cannot pass).
#[test]
fn format_md_example_segments_and_manifest_match_its_records() {
    let doc = format_md();
    let records: Vec<Record> = block_after(&doc, "<!-- example:records -->")
        .iter()
        .map(|l| Record::parse(format!("{l}\n").as_bytes()).expect("example record"))
        .collect();
    let segments: Vec<(&Record, String, Sha256, Sha256)> = records
        .iter()
        .filter_map(|r| match &r.event {
            Event::Segment {
                file,
                sha256,
                manifest_sha256,
                ..
            } => Some((r, file.clone(), *sha256, *manifest_sha256)),
            _ => None,
        })
        .collect();
    assert!(!segments.is_empty(), "the example has segment records");

    // sha256sum of every segment file: the hash in its name and in its record.
    let seg_block = block_after(&doc, "<!-- example:segments -->");
    let out = output_lines(&seg_block);
    for (_, file, sha, _) in &segments {
        let line = format!("{sha}  store/segments/{file}");
        assert!(
            out.contains(&line.as_str()),
            "the example's sha256sum of segments lacks {line:?}"
        );
        assert!(file.contains(&sha.to_hex()), "{file}: name and hash");
    }
    // The manifest's hash as `tar -xO ... | sha256sum` printed it: the first segment's.
    let (first, _, _, manifest_sha) = &segments[0];
    let at = seg_block
        .iter()
        .position(|l| l.starts_with("$ ") && l.ends_with("logkeep-manifest.json | sha256sum"))
        .expect("the example shows the manifest's sha256sum");
    assert_eq!(
        seg_block.get(at + 1).map(String::as_str),
        Some(format!("{manifest_sha}  -").as_str()),
        "the manifest's sha256sum in the example is not record {}'s manifest_sha256",
        first.seq
    );

    // The manifest itself: its bytes hash to the record's manifest_sha256, and it names the
    // record's seq and prev.
    let man_block = block_after(&doc, "<!-- example:manifest -->");
    let man_lines = output_lines(&man_block);
    assert_eq!(
        man_lines.len(),
        1,
        "the manifest is one line: {man_lines:?}"
    );
    let bytes = format!("{}\n", man_lines[0]).into_bytes();
    assert_eq!(
        Sha256::of(&bytes),
        *manifest_sha,
        "the example's manifest does not hash to record {}'s manifest_sha256",
        first.seq
    );
    let manifest: Manifest = serde_json::from_slice(&bytes).expect("the manifest is JSON");
    assert_eq!(manifest.seq, first.seq);
    assert_eq!(manifest.prev, first.prev);
    assert_eq!(manifest.store, first.store);

    // verify's verdict names the head the records end at.
    let last = records.last().expect("records");
    let head = Sha256::of(&last.to_bytes());
    let verify = block_after(&doc, "<!-- example:verify -->");
    let verdict = format!("chain head: record {} sha256 {head}", last.seq);
    assert!(
        output_lines(&verify).contains(&verdict.as_str()),
        "the example's verify output lacks {verdict:?}"
    );
    assert!(
        output_lines(&verify).contains(&"OK: the store verified"),
        "{verify:?}"
    );
}
