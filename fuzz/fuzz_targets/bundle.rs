//! A whole evidence bundle (`docs/FORMAT.md`): verified as `logkeep verify BUNDLE` does, then
//! extracted into a fresh directory as `logkeep extract BUNDLE --force` does, whatever the
//! verification found.
//!
//! Checked: nothing is written outside the output directory, and a bundle that verifies
//! extracts without an error.
#![no_main]

use libfuzzer_sys::fuzz_target;
use logkeep_format::bundle::{BundleOptions, extract_bundle, verify_bundle_file};
use logkeep_format::extract::Filter;
use logkeep_format::verify::NoVisitor;

fuzz_target!(|data: &[u8]| {
    let dir = logkeep_fuzz::scratch();
    let bundle = dir.join("case.tar");
    let out = dir.join("out");
    std::fs::write(&bundle, data).expect("writing the scratch bundle");
    let _ = std::fs::remove_dir_all(&out);
    let opts = BundleOptions::default();
    let verified = verify_bundle_file(&bundle, &opts).map(|r| r.ok());
    let extracted = extract_bundle(
        &bundle,
        &out,
        &opts,
        true,
        &Filter::default(),
        &mut NoVisitor,
    );
    if verified.is_ok_and(|ok| ok) {
        extracted.expect("a bundle that verifies does not extract");
    }
    let names: Vec<_> = std::fs::read_dir(dir)
        .expect("the scratch directory")
        .filter_map(|e| e.ok().map(|e| e.file_name()))
        .filter(|n| n != "case.tar" && n != "out" && n != "logkeep.toml")
        .collect();
    assert!(
        names.is_empty(),
        "extract wrote outside its directory: {names:?}"
    );
    let _ = std::fs::remove_dir_all(&out);
});
