//! The kill loop: the daemon is killed with SIGKILL at least fifty times at random moments
//! while another thread appends heavily to two logs and rotates them by renaming; every
//! restart must continue where the chain ends, and in the end the extraction must equal what
//! was written, byte for byte, each generation exactly once.

use crate::support::rotation::*;
use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const STREAMS: [&str; 2] = ["k1", "k2"];

/// Everything one stream wrote: its generations in the order they were started.
type Streams = HashMap<&'static str, Vec<Vec<u8>>>;

fn open_append(path: &Path) -> File {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap_or_else(|e| panic!("open {}: {e}", path.display()))
}

/// Append bursts of lines through descriptors held open, and now and then rotate a log the
/// way a daemon that rotates its own logs does: rename it, then open a new one.
fn writer(logs: PathBuf, stop: Arc<AtomicBool>, seed: u64) -> Streams {
    let mut rng = Rng::new(seed);
    let mut out: Streams = HashMap::new();
    let mut files: HashMap<&'static str, File> = HashMap::new();
    let mut rotated = 0u32;
    let start_gen = |name: &'static str, out: &mut Streams, files: &mut HashMap<_, File>| {
        let gens = out.entry(name).or_default();
        let head = format!("{name} g{:04} start\n", gens.len()).into_bytes();
        let mut f = open_append(&logs.join(format!("{name}.log")));
        f.write_all(&head).expect("write");
        gens.push(head);
        files.insert(name, f);
    };
    for name in STREAMS {
        start_gen(name, &mut out, &mut files);
    }
    while !stop.load(Ordering::SeqCst) {
        let name = *rng.pick(&STREAMS);
        let cur = out[name].len() - 1;
        let mut burst = Vec::new();
        for _ in 0..rng.range(1, 40) {
            let at = out[name][cur].len() + burst.len();
            let width = rng.range(0, 200) as usize;
            burst.extend_from_slice(format!("{name} g{cur:04} @{at} ").as_bytes());
            burst.extend((0..width).map(|i| b'a' + ((at + i) % 26) as u8));
            burst.push(b'\n');
        }
        files
            .get_mut(name)
            .expect("open")
            .write_all(&burst)
            .expect("write");
        out.get_mut(name).expect("stream")[cur].extend_from_slice(&burst);
        if out[name][cur].len() > 150_000 && rng.chance(20) {
            rotated += 1;
            let live = logs.join(format!("{name}.log"));
            fs::rename(&live, logs.join(format!("{name}.log.{rotated:06}"))).expect("rotate");
            start_gen(name, &mut out, &mut files);
        }
        std::thread::sleep(Duration::from_micros(rng.range(200, 2000)));
    }
    out
}

#[test]
fn kill_nine_fifty_times_during_appends_and_rotations() {
    let knobs = Knobs {
        scan_interval: "100ms",
        seal_interval: "200ms",
        segment_max_bytes: "128KiB",
        // A pack every other record: many kills land while a run is being packed (pack
        // written, record files not yet removed, or the other way round), and every restart
        // must settle it (docs/FORMAT.md §7.3).
        store_extra: "pack_records = 2\n",
    };
    // The pattern matches the rotated names too, so that a generation created and rotated
    // away while the daemon is dead is still found; what this test is about is crashes.
    let mut rig = Rig::with(knobs, &[("k", &["logs/*.log*"])]);
    let stop = Arc::new(AtomicBool::new(false));
    let handle = {
        let (logs, stop) = (rig.logs(), stop.clone());
        std::thread::spawn(move || writer(logs, stop, 4242))
    };
    let mut rng = Rng::new(99);
    let began = Instant::now();
    let mut kills = 0;
    let mut committed_kills = 0;
    while kills < 50 {
        rig.spawn();
        // A random moment: sometimes before the daemon has even opened the store, sometimes
        // in the middle of reading or sealing.
        std::thread::sleep(Duration::from_millis(rng.range(20, 700)));
        assert!(
            rig.alive(),
            "the daemon died by itself after {kills} kills\n{}",
            rig.daemon_log()
        );
        // Alive (checked above), and killed by signal 9; whether it had committed its start
        // record depends on the moment, and enough of them must have (counted below).
        if rig.kill9_at_any_moment() {
            committed_kills += 1;
        }
        kills += 1;
        assert!(
            began.elapsed() < Duration::from_secs(75),
            "the kill loop is too slow: {kills} kills in {:?}",
            began.elapsed()
        );
    }
    stop.store(true, Ordering::SeqCst);
    let written = handle.join().expect("writer");
    rig.start();
    rig.settle(&rig.plain_logs());
    rig.stop();
    rig.assert_verifies();
    // Every complete run was packed, whatever moment the kills hit: at most the newest
    // run's one record is a file of its own.
    let shard = rig.store().join("chain/000000000000");
    let names: Vec<String> = fs::read_dir(&shard)
        .expect("shard 0")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    let packs = names.iter().filter(|n| n.ends_with(".pack")).count();
    let singles = names.iter().filter(|n| n.ends_with(".json")).count();
    assert!(packs >= 10, "only {packs} packs: {names:?}");
    assert!(singles <= 1, "runs left unpacked: {names:?}");

    let starts = rig.events("start").len();
    assert!(
        committed_kills >= 20,
        "only {committed_kills} of {kills} kills hit a daemon that had committed its start record"
    );
    let recovered = rig.events("recovered").len();
    assert!(
        starts >= 20,
        "only {starts} of {} runs got as far as their start record",
        rig.starts
    );

    let outs = rig.extract();
    let mut by_gen: HashMap<(String, usize), Vec<u8>> = HashMap::new();
    for o in &outs {
        assert!(
            o.missing.is_empty(),
            "{} has holes {:?}",
            o.output,
            o.missing
        );
        let first = lines_of(&o.data)
            .first()
            .map(|l| l.to_vec())
            .unwrap_or_default();
        let text = String::from_utf8_lossy(&first).into_owned();
        let mut words = text.split_whitespace();
        let (Some(stream), Some(g)) = (
            words.next(),
            words
                .next()
                .and_then(|g| g.strip_prefix('g'))
                .and_then(|g| g.parse().ok()),
        ) else {
            panic!("{} does not start a generation: {text:?}", o.output);
        };
        if by_gen
            .insert((stream.to_owned(), g), o.data.clone())
            .is_some()
        {
            panic!(
                "{stream} generation {g} extracted twice\nchain:\n{}",
                rig.chain_summary()
            );
        }
    }
    for name in STREAMS {
        let gens = &written[name];
        let mut all_written = Vec::new();
        let mut all_got = Vec::new();
        for (g, bytes) in gens.iter().enumerate() {
            all_written.extend_from_slice(bytes);
            let got = by_gen.remove(&(name.to_owned(), g)).unwrap_or_default();
            assert!(
                got == *bytes,
                "{name} generation {g}: {} bytes extracted, {} written, equal for {}",
                got.len(),
                bytes.len(),
                got.iter().zip(bytes).take_while(|(a, b)| a == b).count()
            );
            all_got.extend_from_slice(&got);
        }
        assert!(all_got == all_written);
    }
    assert!(
        by_gen.is_empty(),
        "extracted generations nobody wrote: {:?}",
        by_gen.keys()
    );
    eprintln!(
        "kill loop: {kills} kills, {starts} start records, {recovered} segments recovered, \
         {} outputs, {:?}",
        outs.len(),
        began.elapsed()
    );
}
