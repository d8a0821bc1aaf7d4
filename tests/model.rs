//! A model-based test: seeded random sequences of writes, rename rotations, copytruncates,
//! truncations, gzip of rotated files, deletions, SIGTERM restarts and `kill -9`, run against
//! the real daemon and checked against a reference model of every byte written.
//!
//! What the model can assert exactly: before each destructive operation (rotation, copy,
//! truncation, compression, deletion) taken while the daemon runs, the test waits until the
//! store has committed everything the files hold, so from then on those bytes are owed in full.
//! A SIGTERM must leave the store in the same state (the daemon polls once more and seals).
//! Whatever was written while the daemon was down, or after the last wait before a `kill -9`,
//! may be lost only where the file was destroyed before the daemon could read it again; it
//! must never be duplicated, reordered or mixed with another generation's bytes.
//!
//! Set `LOGKEEP_MODEL_SEED=N` to replay one seed.

use crate::support::require_tool;
use crate::support::rotation::*;
use std::collections::HashMap;
use std::fs;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

const LIVE: [&str; 2] = ["a.log", "b.log"];

/// One generation: bytes that lived in one inode from offset 0.
#[derive(Debug)]
struct MGen {
    bytes: Vec<u8>,
    /// The store is known to have committed bytes of it (a wait saw them).
    known: bool,
    /// Bytes the store is known to have committed.
    floor: u64,
    /// Whether its bytes are still on disk somewhere (a live, rotated, copied or .gz file).
    survives: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// At a live name, matched by the pattern.
    Live,
    /// Renamed away from its live name: the same inode.
    Rotated,
    /// Made by copytruncate: another inode with the same bytes.
    Copy,
    /// A gzip of a rotated file or copy.
    Gz,
}

#[derive(Debug)]
struct MFile {
    path: PathBuf,
    kind: Kind,
    /// The generation whose bytes it holds; `None` for an empty live file.
    holds: Option<usize>,
}

struct Model {
    gens: Vec<MGen>,
    files: Vec<MFile>,
    counter: u32,
    log: Vec<String>,
}

impl Model {
    fn live(&self, name: &str) -> Option<usize> {
        self.files
            .iter()
            .position(|f| f.kind == Kind::Live && f.path.file_name().is_some_and(|n| n == name))
    }

    /// Files the daemon must be following (and so can be waited on): every live file, and
    /// every renamed file whose generation the store knows (it is found by its inode).
    fn followed(&self) -> Vec<PathBuf> {
        self.files
            .iter()
            .filter(|f| match f.kind {
                Kind::Live => true,
                Kind::Rotated => f.holds.is_some_and(|g| self.gens[g].known),
                _ => false,
            })
            .map(|f| f.path.clone())
            .collect()
    }

    /// After the store was seen to hold all of `followed()`: those bytes are owed.
    fn mark_settled(&mut self) {
        for f in &self.files {
            if matches!(f.kind, Kind::Live | Kind::Rotated)
                && let Some(g) = f.holds
                && (f.kind == Kind::Live || self.gens[g].known)
            {
                let g = &mut self.gens[g];
                g.floor = g.bytes.len() as u64;
                g.known = g.floor > 0;
            }
        }
    }

    fn next_name(&mut self, live: &str) -> PathBuf {
        self.counter += 1;
        PathBuf::from(format!("{live}.{:04}", self.counter))
    }
}

fn settle(rig: &mut Rig, m: &mut Model, seed: u64) {
    if rig.running() {
        if let Err(e) = rig.try_settle(&m.followed()) {
            panic!(
                "seed {seed} (replay with LOGKEEP_MODEL_SEED={seed}): {e}\nsteps:\n{}",
                m.log.join("\n")
            );
        }
        m.mark_settled();
    }
}

fn one_seed(seed: u64, ops: usize) -> Vec<String> {
    let mut rig = Rig::new(&[("m", &["logs/*.log"])]);
    let mut rng = Rng::new(seed);
    let mut m = Model {
        gens: Vec::new(),
        files: Vec::new(),
        counter: 0,
        log: Vec::new(),
    };
    rig.start();
    for step in 0..ops {
        let roll = rng.range(0, 100);
        let live_name = *rng.pick(&LIVE);
        let live_idx = m.live(live_name);
        let live_gen = live_idx.and_then(|i| m.files[i].holds);
        let what: String;
        if roll < 40 {
            // Append a few lines, starting a generation if the file is new or was emptied.
            let g = match live_gen {
                Some(g) => g,
                None => {
                    let g = m.gens.len();
                    m.gens.push(MGen {
                        bytes: format!("{live_name} g{g:04} start\n").into_bytes(),
                        known: false,
                        floor: 0,
                        survives: true,
                    });
                    let path = rig.log(live_name);
                    match live_idx {
                        Some(i) => m.files[i].holds = Some(g),
                        None => m.files.push(MFile {
                            path,
                            kind: Kind::Live,
                            holds: Some(g),
                        }),
                    }
                    append(&rig.log(live_name), &m.gens[g].bytes.clone());
                    g
                }
            };
            let mut data = Vec::new();
            for _ in 0..rng.range(1, 25) {
                let n = m.gens[g].bytes.len();
                let width = rng.range(0, 300) as usize;
                data.extend_from_slice(format!("{live_name} g{g:04} @{n} ").as_bytes());
                data.extend((0..width).map(|i| b'a' + ((n + i) % 26) as u8));
                data.push(b'\n');
            }
            append(&rig.log(live_name), &data);
            m.gens[g].bytes.extend_from_slice(&data);
            what = format!("write {} bytes to {live_name} (g{g})", data.len());
        } else if roll < 52 && live_gen.is_some() {
            settle(&mut rig, &mut m, seed);
            let i = live_idx.expect("live");
            let to = m.next_name(live_name);
            let to = rig.log(&to.to_string_lossy());
            fs::rename(&m.files[i].path, &to).expect("rotate");
            m.files[i].path = to.clone();
            m.files[i].kind = Kind::Rotated;
            if rng.chance(50) {
                // `create` mode: the new file exists, empty, right away.
                append(&rig.log(live_name), b"");
                m.files.push(MFile {
                    path: rig.log(live_name),
                    kind: Kind::Live,
                    holds: None,
                });
            }
            what = format!("rotate {live_name} -> {}", to.display());
        } else if roll < 60 && live_gen.is_some() {
            settle(&mut rig, &mut m, seed);
            let to = m.next_name(live_name);
            let to = rig.log(&to.to_string_lossy());
            fs::copy(rig.log(live_name), &to).expect("copy");
            truncate_in_place(&rig.log(live_name));
            let i = live_idx.expect("live");
            m.files[i].holds = None;
            m.files.push(MFile {
                path: to.clone(),
                kind: Kind::Copy,
                holds: live_gen,
            });
            what = format!("copytruncate {live_name} -> {}", to.display());
        } else if roll < 66 && live_gen.is_some() {
            settle(&mut rig, &mut m, seed);
            truncate_in_place(&rig.log(live_name));
            let g = live_gen.expect("gen");
            m.gens[g].survives = false;
            m.files[live_idx.expect("live")].holds = None;
            what = format!("truncate {live_name} (g{g})");
        } else if roll < 72 {
            let cands: Vec<usize> = (0..m.files.len())
                .filter(|&i| matches!(m.files[i].kind, Kind::Rotated | Kind::Copy))
                .collect();
            if cands.is_empty() {
                continue;
            }
            settle(&mut rig, &mut m, seed);
            let i = *rng.pick(&cands);
            let st = Command::new("gzip")
                .arg("-n")
                .arg(&m.files[i].path)
                .status()
                .expect("run gzip");
            assert!(st.success(), "gzip failed");
            let mut gz = m.files[i].path.clone().into_os_string();
            gz.push(".gz");
            m.files[i].path = PathBuf::from(gz);
            m.files[i].kind = Kind::Gz;
            what = format!("gzip {}", m.files[i].path.display());
        } else if roll < 78 {
            if m.files.is_empty() {
                continue;
            }
            settle(&mut rig, &mut m, seed);
            let i = rng.range(0, m.files.len() as u64) as usize;
            let f = m.files.remove(i);
            fs::remove_file(&f.path).expect("rm");
            if let Some(g) = f.holds {
                // Its bytes survive only if another file (a copy, a .gz) still holds them.
                m.gens[g].survives = m.files.iter().any(|o| o.holds == Some(g));
            }
            what = format!("rm {} ({:?})", f.path.display(), f.holds);
        } else if roll < 89 {
            if rig.running() {
                rig.stop();
                // SIGTERM polls once more and seals: the store must hold every byte of every
                // followed file now, without any waiting.
                let ledger = rig.ledger();
                for p in m.followed() {
                    if let Err(e) = settled_in(&ledger, &p) {
                        panic!(
                            "seed {seed}: after SIGTERM the store does not hold everything: {e}\n\
                             steps:\n{}\nchain:\n{}\n{}",
                            m.log.join("\n"),
                            rig.chain_summary(),
                            rig.daemon_log()
                        );
                    }
                }
                m.mark_settled();
                what = "SIGTERM".into();
            } else {
                rig.start();
                what = "start".into();
            }
        } else if rig.running() {
            rig.kill9();
            what = "kill -9".into();
        } else {
            rig.start();
            what = "start".into();
        }
        m.log.push(format!("{step:3}: {what}"));
    }
    if !rig.running() {
        rig.start();
    }
    settle(&mut rig, &mut m, seed);
    rig.stop();
    let (code, out) = rig.verify();
    let context = || {
        format!(
            "seed {seed} (replay with LOGKEEP_MODEL_SEED={seed})\nsteps:\n{}\nchain:\n{}",
            m.log.join("\n"),
            rig.chain_summary()
        )
    };
    assert_eq!(code, 0, "verify: {out}\n{}", context());

    let outs = rig.extract();
    let mut seen: HashMap<usize, u64> = HashMap::new();
    for o in &outs {
        assert!(
            o.missing.is_empty(),
            "{} has holes {:?}\n{}",
            o.output,
            o.missing,
            context()
        );
        let first = lines_of(&o.data)
            .first()
            .map(|l| l.to_vec())
            .unwrap_or_default();
        let text = String::from_utf8_lossy(&first);
        let g: usize = text
            .split_whitespace()
            .nth(1)
            .and_then(|t| t.strip_prefix('g'))
            .and_then(|t| t.parse().ok())
            .unwrap_or_else(|| {
                panic!(
                    "{} does not start a generation: {text:?}\n{}",
                    o.output,
                    context()
                )
            });
        let mg = &m.gens[g];
        assert!(
            text.ends_with(" start\n") && mg.bytes.starts_with(&o.data),
            "{} (gen{}) is not a prefix of model generation g{g}: {} bytes extracted, {} written, \
             equal for {}\n{}",
            o.output,
            o.gen_id,
            o.data.len(),
            mg.bytes.len(),
            o.data
                .iter()
                .zip(&mg.bytes)
                .take_while(|(a, b)| a == b)
                .count(),
            context()
        );
        if let Some(other) = seen.insert(g, o.gen_id) {
            panic!(
                "model generation g{g} was captured twice, as gen{other} and gen{}\n{}",
                o.gen_id,
                context()
            );
        }
    }
    for (g, mg) in m.gens.iter().enumerate() {
        let owed = if mg.known && mg.survives {
            mg.bytes.len() as u64
        } else {
            mg.floor
        };
        let got = outs
            .iter()
            .find(|o| seen.get(&g) == Some(&o.gen_id))
            .map(|o| o.data.len() as u64)
            .unwrap_or(0);
        assert!(
            got >= owed,
            "model generation g{g}: {got} bytes captured, {owed} owed (written {}, known {}, \
             survives {}, committed when last seen {})\n{}",
            mg.bytes.len(),
            mg.known,
            mg.survives,
            mg.floor,
            context()
        );
    }
    m.log
}

#[test]
fn model_based_random_operations() {
    require_tool("gzip", "gzip");
    if let Some(seed) = std::env::var("LOGKEEP_MODEL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        one_seed(seed, 40);
        return;
    }
    // As many seeds as fit in about a minute, at least four.
    let began = Instant::now();
    let mut seed = 1u64;
    let mut kinds: std::collections::BTreeMap<String, usize> = Default::default();
    while seed <= 4 || began.elapsed() < Duration::from_secs(50) {
        for step in one_seed(seed, 40) {
            let kind = step.split(": ").nth(1).and_then(|w| w.split(' ').next());
            *kinds.entry(kind.unwrap_or("?").to_owned()).or_default() += 1;
        }
        seed += 1;
    }
    eprintln!(
        "model: {} seeds in {:?}, operations: {kinds:?}",
        seed - 1,
        began.elapsed()
    );
    // A run that never took one of the operations proved nothing about it.
    for kind in [
        "write",
        "rotate",
        "copytruncate",
        "truncate",
        "gzip",
        "rm",
        "SIGTERM",
        "start",
        "kill",
    ] {
        assert!(
            kinds.get(kind).is_some_and(|n| *n > 0),
            "no `{kind}` operation in any seed: {kinds:?}"
        );
    }
    let kills = kinds.get("kill").copied().unwrap_or(0);
    assert!(kills >= 8, "only {kills} kill -9 in all seeds: {kinds:?}");
}
