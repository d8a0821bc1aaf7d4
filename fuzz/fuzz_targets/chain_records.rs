//! Chain records (`docs/FORMAT.md`): `logkeep-store.json` on the first line, then one record
//! file per line, checked as `verify` checks a store's chain (every link, sequence number,
//! generation, seal and signature).
//!
//! Checked: a record that parses is canonical (its bytes are its serialization), and the
//! report names a problem for every record that does not parse.
#![no_main]

use libfuzzer_sys::fuzz_target;
use logkeep_format::Record;
use logkeep_format::verify::{ChainChecker, VerifyOptions, parse_store_info};

fuzz_target!(|data: &[u8]| {
    let mut lines = data.split_inclusive(|&b| b == b'\n');
    let Some(info) = lines.next() else {
        return;
    };
    let (store, v) = match parse_store_info(info) {
        Ok(i) => (i.store, i.v),
        Err(_) => ("0123456789abcdef0123456789abcdef".to_string(), 1),
    };
    let mut checker = ChainChecker::new(&store, "", VerifyOptions::default(), None).with_format(v);
    let mut unparsed = 0;
    for bytes in lines {
        match Record::parse(bytes) {
            Ok(r) => {
                assert_eq!(r.to_bytes(), bytes, "a record that parses is not canonical");
                assert_eq!(Record::parse(&r.to_bytes()).ok(), Some(r));
            }
            Err(_) => unparsed += 1,
        }
        let _ = checker.record(bytes);
    }
    let report = checker.finish();
    assert!(
        unparsed == 0 || report.problems.len() >= unparsed.min(1),
        "records that do not parse, and no problem reported"
    );
});
