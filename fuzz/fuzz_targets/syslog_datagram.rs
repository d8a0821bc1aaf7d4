//! Syslog over UDP: one datagram, cut into pieces when longer than the maximum, the records
//! the listener writes for it, and the metadata a reader takes from the first piece.
//!
//! Checked: the pieces join back into the datagram, and each record reads back with its body.
#![no_main]

use libfuzzer_sys::fuzz_target;
use logkeep_syslog::{framing, fuzzing, meta, wal};

fuzz_target!(|data: &[u8]| {
    let Some((&control, datagram)) = data.split_first() else {
        return;
    };
    let max = match usize::from(control) {
        0 => logkeep_syslog::DEFAULT_MAX_MESSAGE_BYTES,
        m => m,
    };
    let pieces = framing::datagram(datagram, max);
    let joined: Vec<u8> = pieces.iter().flat_map(|f| f.body.iter().copied()).collect();
    assert_eq!(
        joined, datagram,
        "the pieces of a datagram do not join back into it"
    );
    let log = fuzzing::datagram(datagram, max);
    let records = wal::read_records(&log).expect("the listener wrote a malformed write-ahead log");
    assert_eq!(records.len(), pieces.len());
    for (r, f) in records.iter().zip(&pieces) {
        assert!(r.complete);
        assert_eq!(r.body, &f.body[..]);
        assert_eq!(r.transport, "udp");
    }
    if let Some(first) = records.first() {
        let _ = meta::parse(first.body);
    }
});
