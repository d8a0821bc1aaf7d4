//! Clock faults: the wall clock set back an hour and then forward three while the daemon
//! captures and a file rotates. The real daemon runs under libfaketime (`faketime` package),
//! which moves `CLOCK_REALTIME` for that process alone as a file says, while the boot clock
//! runs on: no false tamper, no loss, order by sequence, and each step stated in the chain by a
//! `clock` record carrying its size.

use crate::support::seal::{keygen, newest_epoch};
use crate::support::site::{FAST_STORE, Site, source};
use crate::support::store::{assert_same_bytes, assert_verifies, extract_all, records, verify};
use std::fs;
use std::path::{Path, PathBuf};

/// libfaketime's multi-threaded preload library, or a failure saying how to install it.
fn libfaketime() -> PathBuf {
    let found = fs::read_dir("/usr/lib")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("faketime/libfaketimeMT.so.1"))
        .chain([PathBuf::from("/usr/lib/faketime/libfaketimeMT.so.1")])
        .find(|p| p.exists());
    found.expect(
        "libfaketime is missing; these tests need it: apt-get install faketime (scripts/test does)",
    )
}

/// Set the offset libfaketime applies to the daemon's wall clock, atomically (a reader never
/// sees an empty file).
fn set_offset(file: &Path, offset: &str) {
    let tmp = file.with_extension("tmp");
    fs::write(&tmp, format!("{offset}\n")).expect("write offset");
    fs::rename(&tmp, file).expect("rename offset");
}

fn clock_steps(store: &Path) -> Vec<(u64, i64)> {
    records(store)
        .iter()
        .filter(|r| r["event"]["kind"] == "clock")
        .map(|r| {
            (
                r["seq"].as_u64().expect("seq"),
                r["event"]["step_ns"].as_i64().expect("step_ns"),
            )
        })
        .collect()
}

#[test]
fn a_wall_clock_set_back_and_forward_is_recorded_and_nothing_else_changes() {
    let lib = libfaketime();
    // Sealed, with an epoch a second: checkpoints sign the stepped wall times, and the epochs
    // must go on switching while the clock is an hour behind.
    let mut site = Site::new(&format!(
        "{FAST_STORE}{}\n[signing]\nkey = \"state\"\nepoch = \"1s\"\n",
        source("app", &["logs/app.log*"])
    ));
    let fp = keygen(&site.path("state"));
    let offset = site.path("faketime");
    set_offset(&offset, "+0");
    site.start_with(&[
        ("LD_PRELOAD", lib.to_str().expect("utf-8")),
        ("FAKETIME_TIMESTAMP_FILE", offset.to_str().expect("utf-8")),
        ("FAKETIME_NO_CACHE", "1"),
        ("FAKETIME_DONT_FAKE_MONOTONIC", "1"),
        ("NO_FAKE_STAT", "1"),
    ]);
    let mut written: Vec<u8> = Vec::new();
    let mut rotated: Vec<u8> = Vec::new();
    let mut n = 0;
    let mut write = |site: &mut Site, lines: usize, into: &mut Vec<u8>| {
        for _ in 0..lines {
            n += 1;
            let line = format!("{n:06} vpn session event from 198.51.100.{}\n", n % 250);
            site.append("app.log", line.as_bytes());
            into.extend_from_slice(line.as_bytes());
        }
    };
    write(&mut site, 50, &mut rotated);
    site.wait_captured(rotated.len() as u64);
    assert_eq!(
        clock_steps(&site.store()),
        vec![],
        "no step, no clock record"
    );

    // Set back an hour, then rotate by renaming while the clock is wrong.
    set_offset(&offset, "-3600");
    write(&mut site, 50, &mut rotated);
    site.wait_captured(rotated.len() as u64);
    let epoch_then = newest_epoch(&site.store());
    fs::rename(site.log("app.log"), site.log("app.log.1")).expect("rotate");
    write(&mut site, 50, &mut written);
    site.wait_captured((rotated.len() + written.len()) as u64);
    site.wait_until(30, "an epoch switch with the clock an hour behind", |s| {
        newest_epoch(&s.store()) >= epoch_then + 2
    });

    // Forward to two hours ahead of the real time: a step of three hours.
    set_offset(&offset, "+7200");
    write(&mut site, 50, &mut written);
    site.wait_captured((rotated.len() + written.len()) as u64);
    site.term();

    let steps = clock_steps(&site.store());
    assert_eq!(steps.len(), 2, "one record per step: {steps:?}");
    let secs = |ns: i64| ns as f64 / 1e9;
    assert!(
        (secs(steps[0].1) + 3600.0).abs() < 5.0,
        "set back an hour: {steps:?}"
    );
    assert!(
        (secs(steps[1].1) - 10_800.0).abs() < 5.0,
        "forward three hours: {steps:?}"
    );
    let all = records(&site.store());
    for (seq, _) in &steps {
        let wall = |s: u64| {
            logkeep_format::Timestamp::parse(all[s as usize - 1]["wall"].as_str().expect("wall"))
                .expect("wall parses")
        };
        let (before, at) = (wall(seq - 1), wall(*seq));
        assert!(before != at, "the clock record carries the new time");
    }
    // The chain keeps its order by sequence whatever the wall times say, and nothing reads
    // as tampering or loss.
    for (i, r) in all.iter().enumerate() {
        assert_eq!(r["seq"].as_u64(), Some(i as u64 + 1));
        let kind = r["event"]["kind"].as_str().expect("kind");
        assert!(
            kind != "tamper" && kind != "gap",
            "a stepped clock is neither tampering nor loss: {r}"
        );
    }
    assert!(
        site.stderr().contains("the wall clock moved by -3599.")
            || site.stderr().contains("the wall clock moved by -3600."),
        "the daemon says so in its log:\n{}",
        site.stderr()
    );
    assert_verifies(&site.store());
    let v = verify(&site.store(), &["--fingerprint", &fp]);
    assert_eq!(v.code, 0, "verify against the root:\n{v}");
    for (one, other) in [
        ("set back by 3599.", "set back by 3600."),
        ("set forward by 10799.", "set forward by 10800."),
    ] {
        assert!(
            v.stdout.contains(one) || v.stdout.contains(other),
            "verify notes each step ({other}):\n{v}"
        );
    }
    let ex = extract_all(&site.store());
    let rel = |p: &Path| crate::support::store::gen_prefix("app", p);
    let got: Vec<(&String, &Vec<u8>)> = ex
        .files
        .iter()
        .filter(|(k, _)| {
            k.starts_with(&rel(&site.log("app.log"))) || k.starts_with(&rel(&site.log("app.log.1")))
        })
        .collect();
    assert_eq!(got.len(), 2, "two generations: {:?}", ex.files.keys());
    let mut contents: Vec<&Vec<u8>> = got.iter().map(|(_, v)| *v).collect();
    contents.sort_by_key(|v| v.first().copied());
    assert_same_bytes(contents[0], &rotated, "the rotated file");
    assert_same_bytes(contents[1], &written, "the file after rotation");
}
