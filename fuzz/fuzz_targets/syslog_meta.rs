//! RFC 5424 and RFC 3164 header metadata (`syslog::meta::parse`), as a reader of the
//! write-ahead log takes it from a message.
//!
//! Checked: every field is taken from the message itself, the host and the application are
//! printable tokens, and what follows a header does not change its layout.
#![no_main]

use libfuzzer_sys::fuzz_target;
use logkeep_syslog::meta;

fn inside(msg: &[u8], field: &[u8]) -> bool {
    let (m, f) = (msg.as_ptr_range(), field.as_ptr_range());
    f.start >= m.start && f.end <= m.end
}

fuzz_target!(|data: &[u8]| {
    let Some(m) = meta::parse(data) else {
        return;
    };
    for field in [m.time, m.host, m.app].into_iter().flatten() {
        assert!(inside(data, field), "a field not taken from the message");
        assert!(!field.is_empty(), "an empty field");
    }
    // The host and the application are tokens; only an RFC 3164 time has spaces in it.
    for field in [m.host, m.app].into_iter().flatten() {
        assert!(
            field.iter().all(|b| (33..=126).contains(b)),
            "a field that is not a printable token: {:?}",
            String::from_utf8_lossy(field)
        );
    }
    let mut longer = data.to_vec();
    longer.extend_from_slice(b" and more");
    assert_eq!(
        meta::parse(&longer).map(|m| m.rfc),
        Some(m.rfc),
        "bytes after the header changed its layout"
    );
});
