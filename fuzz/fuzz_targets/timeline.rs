//! The timeline's parsers (`crates/timeline`): log lines of every preset family and by
//! content (sshd, sudo, PAM, OpenVPN, strongSwan, xrdp, FortiGate, Cisco ASA, Ivanti, Windows),
//! their time stamps, and journal export entries as the timeline frames and reads them from
//! captured bytes handed over in pieces.
//!
//! Checked, beyond "no panic": the journal framer accounts for every byte exactly once,
//! whatever the pieces, and finds the same entries as when given the stream whole.
#![no_main]

use libfuzzer_sys::fuzz_target;
use logkeep_timeline::journal::{Entry, Framer, MAX_ENTRY};
use logkeep_timeline::parse::{PRESETS, parse_preset};
use logkeep_timeline::when;

/// Entries (their lengths) the framer finds in `reads`, and the bytes it took in all.
fn frame(reads: &[&[u8]]) -> (Vec<usize>, usize) {
    let mut framer = Framer::default();
    let mut entries = Vec::new();
    let mut entry: Vec<u8> = Vec::new();
    let mut taken = 0;
    for r in reads {
        let mut rest = *r;
        while !rest.is_empty() {
            let (n, ended) = framer.step(rest);
            assert!(n <= rest.len(), "the framer took more than it was given");
            assert!(
                ended || n == rest.len(),
                "an entry that goes on takes the whole piece"
            );
            assert!(n > 0 || !ended, "an entry ends with a byte");
            taken += n;
            entry.extend_from_slice(&rest[..n]);
            rest = &rest[n..];
            if ended {
                if entry.len() <= MAX_ENTRY {
                    let _ = Entry::read(&entry);
                }
                entries.push(entry.len());
                entry.clear();
            }
        }
    }
    (entries, taken)
}

fuzz_target!(|data: &[u8]| {
    let Some(split) = logkeep_fuzz::split(data) else {
        return;
    };
    if split.control & 1 == 0 {
        // Lines: with each preset the control byte picks (or none), and their time stamps.
        let text = String::from_utf8_lossy(split.stream);
        let preset = match usize::from(split.control >> 1) {
            i if i < PRESETS.len() => Some(PRESETS[i]),
            _ => None,
        };
        for line in text.lines() {
            let _ = parse_preset(line, preset);
            let _ = when::bsd(line);
            let _ = when::ctime(line);
            let _ = when::compact(line);
            let (date, time) = line.split_once(' ').unwrap_or((line, ""));
            let _ = when::iso(date, (!time.is_empty()).then_some(time));
        }
    } else {
        let (entries, taken) = frame(&split.reads);
        assert_eq!(taken, split.stream.len(), "every byte taken once");
        assert_eq!(
            frame(&[split.stream]).0,
            entries,
            "independent of the pieces"
        );
    }
});
