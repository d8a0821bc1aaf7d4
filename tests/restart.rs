//! Exactly-once capture across restarts: a position is durable
//! only together with the bytes it covers, so a clean stop, a stop with data written while
//! the daemon is down, and `kill -9` at any moment neither lose nor duplicate a byte.

use crate::support::*;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

fn config() -> String {
    format!("{FAST_STORE}{}", source("vpn", &["logs/*.log"]))
}

/// Numbered lines `first..first+count`, each distinct, so a loss or duplicate can be named.
fn lines(first: u64, count: u64) -> Vec<u8> {
    (first..first + count)
        .flat_map(|n| format!("{n:08} vpn login user{n} from 203.0.113.{}\n", n % 250).into_bytes())
        .collect()
}

/// Name the first missing or duplicated numbered line, if the difference is one.
fn diagnose(got: &[u8], want: &[u8]) -> String {
    let numbers = |b: &[u8]| -> Vec<String> {
        b.split(|&c| c == b'\n')
            .map(|l| String::from_utf8_lossy(&l[..l.len().min(8)]).into_owned())
            .collect()
    };
    let (g, w) = (numbers(got), numbers(want));
    let at = g.iter().zip(&w).position(|(a, b)| a != b);
    format!(
        "{}; first differing line: got {:?}, want {:?}",
        first_difference(got, want),
        at.map(|i| &g[i]),
        at.map(|i| &w[i])
    )
}

/// Write, SIGTERM, append while stopped (completing a line left without its newline), restart,
/// append more, SIGTERM: one generation holding exactly the file, resumed where it stopped.
#[test]
fn sigterm_restart_resumes_exactly_where_it_stopped() {
    let mut site = Site::new(&config());
    let mut first = lines(1, 300);
    first.extend_from_slice(b"00000301 a line cut by the stop"); // no newline yet
    site.append("a.log", &first);
    site.start();
    site.wait_captured(first.len() as u64);
    site.term();
    let mut stopped = b" and finished while logkeep was down\n".to_vec();
    stopped.extend(lines(302, 200));
    site.append("a.log", &stopped);

    site.start();
    let all = std::fs::read(site.log("a.log")).expect("a.log");
    site.wait_captured(all.len() as u64);
    site.append("a.log", &lines(502, 300));
    let all = std::fs::read(site.log("a.log")).expect("a.log");
    site.wait_captured(all.len() as u64);
    site.term();

    assert_verifies(&site.store());
    let x = extract_all(&site.store());
    assert_eq!(x.files.len(), 1, "{:?}", x.files.keys().collect::<Vec<_>>());
    let got = x.only_generation("vpn", &site.log("a.log"));
    assert!(got == all, "{}", diagnose(got, &all));

    // The second run read on from the committed end, not from 0 and not from the end of the
    // file as it found it: its first span starts exactly where the first run stopped.
    let recs = records(&site.store());
    let second_start = recs
        .iter()
        .rposition(|r| r["event"]["kind"] == "start")
        .expect("start records");
    assert_eq!(
        recs.iter()
            .filter(|r| r["event"]["kind"] == "start")
            .count(),
        2
    );
    let resumed = recs[second_start..]
        .iter()
        .find(|r| r["event"]["kind"] == "segment")
        .expect("a segment in the second run");
    assert_eq!(
        resumed["event"]["spans"][0]["start"].as_u64(),
        Some(first.len() as u64),
        "{resumed}"
    );
}

/// SIGINT (Ctrl-C in the foreground) stops as cleanly as SIGTERM.
#[test]
fn sigint_seals_and_stops_cleanly() {
    let mut site = Site::new(&config());
    site.start();
    let data = lines(1, 50);
    site.append("a.log", &data);
    site.wait_captured(data.len() as u64);
    site.interrupt();
    assert_verifies(&site.store());
    assert_same_bytes(
        extract_all(&site.store()).only_generation("vpn", &site.log("a.log")),
        &data,
        "after SIGINT",
    );
}

/// A writer thread appends numbered lines as fast as a busy gateway would while the daemon is
/// stopped twelve times at pseudo-random moments: nine times with SIGKILL — during start-up
/// and store recovery as well as in the middle of reading and committing — and three times
/// with SIGTERM while the appends go on. After a final clean run the one generation equals
/// the file byte for byte and the store verifies.
#[test]
fn kill_9_during_heavy_appends_loses_and_duplicates_nothing() {
    let mut site = Site::new(&config());
    site.append("a.log", &lines(0, 1)); // the file exists before the first start
    let stop = Arc::new(AtomicBool::new(false));
    // Stops the writer however the test ends, so no thread outlives a failure.
    let _stop_writer = StopOnDrop(stop.clone());
    let writer = {
        let (stop, path) = (stop.clone(), site.log("a.log"));
        std::thread::spawn(move || {
            let mut rng = Rng::from_env(7);
            let mut n = 1;
            while !stop.load(Ordering::Relaxed) {
                let count = 1 + rng.below(40);
                append(&path, &lines(n, count));
                n += count;
                std::thread::sleep(Duration::from_millis(1 + rng.below(4)));
            }
            n
        })
    };
    let mut rng = Rng::from_env(0x5eed_c0ff_ee00);
    let mut terms = 0;
    for round in 0..12 {
        match round % 4 {
            // Killed at any moment from exec on: opening, recovering, replaying the chain.
            1 => {
                site.spawn();
            }
            // Running: reading, sealing, committing, or idle between polls.
            _ => site.start(),
        }
        std::thread::sleep(Duration::from_millis(rng.below(600)));
        match round % 4 {
            3 => {
                site.term();
                terms += 1;
            }
            // Spawned without waiting: it may die before it committed anything, but it must
            // have been alive and must die by signal 9.
            1 => {
                site.kill9_at_any_moment();
            }
            // Started: it had committed its start record, was alive, and dies by signal 9.
            _ => site.kill9(),
        }
        // The writer goes on while the daemon is down.
        std::thread::sleep(Duration::from_millis(rng.below(150)));
    }
    stop.store(true, Ordering::Relaxed);
    let written = writer.join().expect("writer thread");
    assert!(written > 1000, "the writer only wrote {written} lines");

    site.start();
    let all = std::fs::read(site.log("a.log")).expect("a.log");
    site.wait_captured(all.len() as u64);
    site.term();
    let recs = records(&site.store());
    let starts = recs
        .iter()
        .filter(|r| r["event"]["kind"] == "start")
        .count();
    assert!(starts >= 10, "only {starts} runs got as far as starting");
    // The kills hit runs that were capturing, not only idle ones: the stopped runs committed
    // segments, and only the SIGTERMed ones wrote a stop record.
    let last_start = recs
        .iter()
        .rposition(|r| r["event"]["kind"] == "start")
        .expect("start");
    let killed = &recs[..last_start];
    let sealed = killed
        .iter()
        .filter(|r| r["event"]["kind"] == "segment")
        .count();
    assert!(
        sealed >= 10,
        "the killed runs sealed only {sealed} segments"
    );
    let stops = killed
        .iter()
        .filter(|r| r["event"]["kind"] == "stop")
        .count();
    assert_eq!(
        stops, terms,
        "one stop record per SIGTERM, none per SIGKILL"
    );

    assert_verifies(&site.store());
    let x = extract_all(&site.store());
    let got = x.only_generation("vpn", &site.log("a.log"));
    assert!(got == all, "{}", diagnose(got, &all));
}

struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}
