//! A segment's manifest (`logkeep-manifest.json`, `docs/FORMAT.md`): the input replaces the
//! manifest of a real segment (`fuzz/seeds/manifest.base.tar`, the tar stream of a segment the
//! daemon wrote), which is then read as `verify` reads a segment: parsed strictly and checked
//! against the members it lists.
//!
//! Checked: the real manifest, unchanged, passes without a flaw (so the target tests what it
//! means to), and a manifest that passes parses as JSON into the same manifest.
#![no_main]

use libfuzzer_sys::fuzz_target;
use logkeep_format::segment::{Discard, MANIFEST_NAME, Manifest, read_segment};
use std::io::Read;

static BASE: &[u8] = include_bytes!("../seeds/manifest.base.tar");

/// The base segment's data members, and its own manifest.
fn base() -> (Vec<(tar::Header, Vec<u8>)>, Vec<u8>) {
    let mut members = Vec::new();
    let mut manifest = Vec::new();
    let mut archive = tar::Archive::new(BASE);
    for entry in archive.entries().expect("the base segment is a tar stream") {
        let mut entry = entry.expect("a member of the base segment");
        let mut data = Vec::new();
        entry.read_to_end(&mut data).expect("a member's data");
        if entry.path_bytes().as_ref() == MANIFEST_NAME.as_bytes() {
            manifest = data;
        } else {
            members.push((entry.header().clone(), data));
        }
    }
    (members, manifest)
}

fuzz_target!(|data: &[u8]| {
    let (members, real) = base();
    let mut tar = tar::Builder::new(Vec::new());
    for (mut header, bytes) in members {
        let path = header.path().expect("a member name").into_owned();
        tar.append_data(&mut header, path, &bytes[..])
            .expect("a tar in memory");
    }
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Regular);
    header.set_size(data.len() as u64);
    header.set_mode(0o444);
    tar.append_data(&mut header, MANIFEST_NAME, data)
        .expect("a tar in memory");
    let plain = tar.into_inner().expect("a tar in memory");
    let file = zstd::bulk::compress(&plain, 1).expect("zstd compresses any bytes");
    let seen = read_segment(&file[..], u64::MAX, &mut Discard).expect("reading from memory");
    if data == real {
        assert!(
            seen.flaws.is_empty(),
            "the real manifest has flaws: {:?}",
            seen.flaws
        );
    }
    if seen.flaws.is_empty() {
        let (parsed, _) = seen.manifest.expect("no flaw, yet no manifest");
        assert_eq!(serde_json::from_slice::<Manifest>(data).ok(), Some(parsed));
    }
});
