//! Reading back a write-ahead log file (`syslog::wal::read_records`): what recovery and the
//! readers of `STORE/wal/` do with a file a crash, a full disk or an intruder left.
//!
//! Checked: a file that reads without error reads the same after a record is appended.
#![no_main]

use libfuzzer_sys::fuzz_target;
use logkeep_syslog::{fuzzing, wal};

fuzz_target!(|data: &[u8]| {
    let Ok(records) = wal::read_records(data) else {
        return;
    };
    // Records before a cut-short last one are whole; only the last may be incomplete.
    for r in records.iter().rev().skip(1) {
        assert!(r.complete, "a record in the middle is incomplete");
    }
    if records.last().is_some_and(|r| !r.complete) || data.last().is_some_and(|&b| b != b'\n') {
        return;
    }
    let mut more = data.to_vec();
    more.extend_from_slice(&fuzzing::datagram(b"<13>1 - - - - - appended", 1024));
    let again = wal::read_records(&more).expect("a valid file followed by a valid record");
    assert_eq!(again.len(), records.len() + 1);
    assert_eq!(&again[..records.len()], &records[..]);
});
