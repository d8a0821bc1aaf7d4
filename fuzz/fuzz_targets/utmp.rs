//! utmp records, read as an emergency snapshot reads `/run/utmp` (`snapshot.rs`): the parse
//! (the `utmp-rs` crate) and the conversion into the sessions the snapshot stores.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = logkeep_fuzz::utmp_sessions(data);
});
