//! A control socket request line, parsed and checked as the daemon does before anything
//! reaches the engine (`control.rs`), and the SHA-256 a `sign_bundle` request names.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = logkeep_fuzz::control_request(data);
    if let Ok(text) = std::str::from_utf8(data)
        && let Some(h) = logkeep_format::Sha256::parse(text)
    {
        assert_eq!(
            h.to_string(),
            text,
            "a SHA-256 that does not print as it was written"
        );
    }
});
