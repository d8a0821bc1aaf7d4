//! The configuration file (`config.rs`): TOML with every error naming the file and line, the
//! paths, durations, sizes, listeners and patterns in it checked.
//!
//! Checked: a configuration that does not load says so with the file's name.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(e) = logkeep_fuzz::load_config(data) {
        assert!(
            e.contains("logkeep.toml"),
            "an error that does not name the file: {e}"
        );
    }
});
