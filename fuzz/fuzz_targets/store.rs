//! A whole store directory (`docs/FORMAT.md`), given as a tar archive of it: unpacked into a
//! fresh directory (regular files and directories only), verified as `logkeep verify STORE`
//! does, then extracted as `logkeep extract STORE --force` does, whatever the verification
//! found.
//!
//! Checked: a store that verifies extracts without an error, and extraction writes nothing
//! outside its output directory.
#![no_main]

use libfuzzer_sys::fuzz_target;
use logkeep_format::extract::{Filter, extract_store};
use logkeep_format::verify::{NoVisitor, VerifyOptions, verify_store};
use std::io::Read;
use std::path::{Component, Path};

/// Unpack the regular files and directories of `tar` under `root`, at most 16 MiB in all;
/// anything else (links, devices, names leaving `root`) is skipped.
fn unpack(tar: &[u8], root: &Path) {
    let mut archive = tar::Archive::new(tar);
    let Ok(entries) = archive.entries() else {
        return;
    };
    let mut budget: u64 = 16 << 20;
    for entry in entries {
        let Ok(mut entry) = entry else {
            return;
        };
        let Ok(path) = entry.path().map(|p| p.into_owned()) else {
            continue;
        };
        if path
            .components()
            .any(|c| !matches!(c, Component::Normal(_)))
        {
            continue;
        }
        let to = root.join(&path);
        let kind = entry.header().entry_type();
        if kind.is_dir() {
            let _ = std::fs::create_dir_all(&to);
        } else if kind.is_file() && entry.size() <= budget {
            budget -= entry.size();
            let mut data = Vec::new();
            if entry.read_to_end(&mut data).is_err() {
                return;
            }
            if let Some(parent) = to.parent() {
                let _ = std::fs::create_dir_all(parent);
            }
            let _ = std::fs::write(&to, data);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let dir = logkeep_fuzz::scratch();
    let store = dir.join("store");
    let out = dir.join("out");
    let _ = std::fs::remove_dir_all(&store);
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir(&store).expect("the scratch store");
    unpack(data, &store);
    let opts = VerifyOptions::default();
    let verified = verify_store(&store, &opts).map(|r| r.ok());
    let extracted = extract_store(
        &store,
        &out,
        &opts,
        true,
        &Filter::default(),
        &mut NoVisitor,
    );
    if verified.is_ok_and(|ok| ok) {
        extracted.expect("a store that verifies does not extract");
    }
    let names: Vec<_> = std::fs::read_dir(dir)
        .expect("the scratch directory")
        .filter_map(|e| e.ok().map(|e| e.file_name()))
        .filter(|n| n != "store" && n != "out")
        .collect();
    assert!(
        names.is_empty(),
        "extract wrote outside its directory: {names:?}"
    );
});
