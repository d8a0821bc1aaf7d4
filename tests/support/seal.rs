//! Format 2 seals for the tests: a site whose daemon seals with a signing state, the chain
//! read as records with their file bytes, the secrets a signing state holds at a moment, and
//! the forger's tools (rewrite a record and its segment, re-link the chain after it, re-sign
//! every seal whose key the forger holds).

use super::site::{FAST_STORE, Site, source};
use super::store::{logkeep, writable};
use ed25519_dalek::SigningKey;
use logkeep_format::layout::Head;
use logkeep_format::seal::{parse_key, sign_checkpoint, sign_statement};
use logkeep_format::{Event, Record, Sha256};
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

/// A site capturing `logs/app.log`, sealing with the signing state `state/` (made by
/// `logkeep keygen`), epochs of `epoch`. Returns the site and the root fingerprint.
pub fn sealed_site(epoch: &str) -> (Site, String) {
    let config = format!(
        "{FAST_STORE}{}\n[signing]\nkey = \"state\"\nepoch = \"{epoch}\"\n",
        source("app", &["logs/app.log"])
    );
    let site = Site::new(&config);
    let fp = keygen(&site.path("state"));
    (site, fp)
}

/// `logkeep keygen --key DIR`; returns the fingerprint it printed.
pub fn keygen(dir: &Path) -> String {
    let run = logkeep(&["keygen".as_ref(), "--key".as_ref(), dir.as_os_str()]);
    assert_eq!(run.code, 0, "keygen:\n{run}");
    run.stdout
        .lines()
        .find_map(|l| l.strip_prefix("fingerprint: "))
        .unwrap_or_else(|| panic!("keygen printed no fingerprint:\n{run}"))
        .trim()
        .to_owned()
}

/// One record of a chain: its file, the parsed record and the file's bytes.
pub struct Link {
    /// The record file.
    pub path: PathBuf,
    /// The record.
    pub record: Record,
    /// Its bytes.
    pub bytes: Vec<u8>,
}

/// The chain of the store at `store`, in order.
pub fn chain(store: &Path) -> Vec<Link> {
    super::store::record_files(store)
        .into_iter()
        .map(|path| {
            let bytes = fs::read(&path).expect("record");
            let record = Record::parse(&bytes).expect("record parses");
            Link {
                path,
                record,
                bytes,
            }
        })
        .collect()
}

/// The key statements of the chain: (record seq, epoch, base64 key).
pub fn statements(store: &Path) -> Vec<(u64, u64, String)> {
    chain(store)
        .into_iter()
        .filter_map(|l| match l.record.event {
            Event::Epoch { epoch, key, .. } => Some((l.record.seq, epoch, key)),
            _ => None,
        })
        .collect()
}

/// The newest epoch the chain introduced (0 before any).
pub fn newest_epoch(store: &Path) -> u64 {
    statements(store).last().map_or(0, |s| s.1)
}

/// The epoch in force at record `seq` (the newest statement before it).
pub fn epoch_at(store: &Path, seq: u64) -> u64 {
    statements(store)
        .into_iter()
        .filter(|s| s.0 < seq)
        .map(|s| s.1)
        .max()
        .unwrap_or(0)
}

/// The epoch secrets a signing state holds now (`epoch-N.key`: the 32-byte seed).
pub fn state_secrets(dir: &Path) -> BTreeMap<u64, [u8; 32]> {
    let mut out = BTreeMap::new();
    for e in fs::read_dir(dir).expect("state dir") {
        let e = e.expect("entry");
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(n) = name
            .strip_prefix("epoch-")
            .and_then(|n| n.strip_suffix(".key"))
            .and_then(|n| n.parse().ok())
        else {
            continue;
        };
        if let Ok(bytes) = fs::read(e.path())
            && let Ok(seed) = <[u8; 32]>::try_from(bytes.as_slice())
            && seed != [0; 32]
        {
            out.insert(n, seed);
        }
    }
    out
}

/// The signing keys of `secrets`, by epoch.
pub fn keys_of(secrets: &BTreeMap<u64, [u8; 32]>) -> BTreeMap<u64, SigningKey> {
    secrets
        .iter()
        .map(|(e, s)| (*e, SigningKey::from_bytes(s)))
        .collect()
}

fn write(path: &Path, bytes: &[u8]) {
    if path.exists() {
        writable(path);
    }
    fs::write(path, bytes).expect("write");
}

/// The forger's re-link: from record `from` on, every record's `prev` is the hash of the one
/// before as it now is, and every seal whose key is in `keys` is signed again over the new
/// head; the others keep their old signatures. `head.json` names the new head.
pub fn relink(store: &Path, from: u64, keys: &BTreeMap<u64, SigningKey>) {
    let links = chain(store);
    let mut prev: Option<Head> = None;
    for l in links {
        let mut r = l.record;
        if r.seq > from
            && let Some(p) = prev
        {
            r.prev = p.hash;
            match &r.event {
                Event::Checkpoint { epoch, .. } => {
                    if let Some(k) = keys.get(epoch) {
                        r.event = sign_checkpoint(k, &r.store, *epoch, p, &r.wall);
                    } else if let Event::Checkpoint { head, .. } = &mut r.event {
                        // Without the key only the head can be made to look right.
                        *head = p;
                    }
                }
                Event::Epoch {
                    epoch,
                    key,
                    head: Some(_),
                    ..
                } => {
                    if let Some(k) = keys.get(&(epoch - 1)) {
                        let public = parse_key(key).expect("key");
                        r.event = sign_statement(k, *epoch, &public, Some(p));
                    }
                }
                _ => {}
            }
        }
        let bytes = r.to_bytes();
        if bytes != l.bytes {
            write(&l.path, &bytes);
        }
        prev = Some(Head {
            seq: r.seq,
            hash: Sha256::of(&bytes),
        });
    }
    if let Some(h) = prev {
        let mut b = serde_json::to_vec(&h).expect("json");
        b.push(b'\n');
        write(&store.join("head.json"), &b);
    }
}

/// Rewrite segment record `seq` and its segment: the segment is compressed anew (other bytes,
/// the same content) and the record names the new file, as a forger replacing evidence would.
pub fn rewrite_segment(store: &Path, seq: u64) {
    let l = chain(store)
        .into_iter()
        .find(|l| l.record.seq == seq)
        .expect("record");
    let mut r = l.record;
    let Event::Segment {
        file, sha256, size, ..
    } = &mut r.event
    else {
        panic!("record {seq} is not a segment record");
    };
    let old = super::store::segment_path(store, file);
    let content = zstd::decode_all(&fs::read(&old).expect("segment")[..]).expect("zstd");
    let bytes = zstd::encode_all(&content[..], 19).expect("zstd");
    let h = Sha256::of(&bytes);
    let name = logkeep_format::layout::segment_name(seq, &h);
    writable(&old);
    fs::remove_file(&old).expect("remove");
    fs::write(super::store::segment_path(store, &name), &bytes).expect("segment");
    *file = name;
    *sha256 = h;
    *size = bytes.len() as u64;
    write(&l.path, &r.to_bytes());
}
