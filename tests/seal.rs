//! Format 2 seals end to end, with the real daemon: the stolen-key attack (a copy of the whole
//! signing state cannot rewrite an earlier epoch, for `verify --fingerprint` nor for the
//! bundle's `verify-with-openssl.sh`), no byte of a destroyed secret left anywhere, an epoch
//! switch cut at each of its steps, and the openssl script on real bundles with one thing
//! wrong each.

use crate::support::seal::{
    chain, epoch_at, keys_of, newest_epoch, relink, rewrite_segment, sealed_site, state_secrets,
    statements,
};
use crate::support::site::Site;
use crate::support::store::{copy_tree, logkeep, verify, walk, writable};
use crate::support::tools::require_tool;
use logkeep_format::Event;
use logkeep_format::seal::sign_checkpoint;
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// Log a line every 100 ms until the chain has introduced epoch `epoch`.
fn log_until_epoch(site: &mut Site, epoch: u64, n: &mut u64) {
    site.wait_until(30, &format!("epoch {epoch} in the chain"), |s| {
        *n += 1;
        s.append(
            "app.log",
            format!("line {n} of the application log\n").as_bytes(),
        );
        std::thread::sleep(Duration::from_millis(100));
        newest_epoch(&s.store()) >= epoch
    });
}

/// `logkeep export` of a stopped site's store, signed through its signing state.
fn export(site: &Site, name: &str) -> PathBuf {
    let out = site.path(name);
    let run = logkeep(&[
        "export".as_ref(),
        "--config".as_ref(),
        site.config().as_os_str(),
        "--store".as_ref(),
        site.store().as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
    ]);
    assert_eq!(run.code, 0, "export:\n{run}");
    out
}

/// Unpack a bundle under `into`; returns its top directory.
fn untar(bundle: &Path, into: &Path) -> PathBuf {
    fs::create_dir_all(into).expect("dir");
    let st = Command::new("tar")
        .arg("-xf")
        .arg(bundle)
        .arg("-C")
        .arg(into)
        .status()
        .expect("tar");
    assert!(st.success());
    fs::read_dir(into)
        .expect("read")
        .next()
        .expect("top directory")
        .expect("entry")
        .path()
}

/// Run `script` (a pristine copy of the bundle's own) inside `dir` with the fingerprint.
fn script(script: &Path, dir: &Path, fp: &str) -> (i32, String) {
    let out = Command::new("sh")
        .arg(script)
        .arg(fp)
        .current_dir(dir)
        .output()
        .expect("sh");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn a_stolen_signing_state_cannot_rewrite_an_earlier_epoch() {
    require_tool("openssl", "openssl");
    require_tool("zstd", "zstd");
    let (mut site, fp) = sealed_site("1s");
    site.start();
    let mut n = 0;
    log_until_epoch(&mut site, 3, &mut n);
    // The intruder copies the whole signing state at time T...
    let stolen = site.path("stolen");
    copy_tree(&site.path("state"), &stolen);
    let stolen_keys = state_secrets(&stolen);
    let t_epoch = *stolen_keys.keys().next().expect("the copy holds a key");
    // ...and logging goes on for a few more epochs.
    log_until_epoch(&mut site, t_epoch + 2, &mut n);
    site.term();
    let run = verify(&site.store(), &["--fingerprint", &fp]);
    assert_eq!(run.code, 0, "the untouched store:\n{run}");
    assert!(
        run.stdout
            .contains(&format!("root key {fp} (matches the fingerprint given)")),
        "{run}"
    );
    let good = export(&site, "good.tar");
    let top = untar(&good, &site.path("good"));
    let pristine = top.join("verify-with-openssl.sh");
    let (code, text) = script(&pristine, &top, &fp);
    assert_eq!(code, 0, "the untouched bundle:\n{text}");

    // The forgery: a segment of an epoch before T's, rewritten with its record; then every
    // record after it re-linked, and every seal re-signed that the stolen copy and the state
    // current at the end allow.
    let store = site.store();
    let target = chain(&store)
        .into_iter()
        .filter(|l| matches!(l.record.event, Event::Segment { .. }))
        .map(|l| l.record.seq)
        .rfind(|&s| (1..t_epoch).contains(&epoch_at(&store, s)))
        .expect("a segment from before the theft");
    let target_epoch = epoch_at(&store, target);
    let mut keys = keys_of(&stolen_keys);
    keys.extend(keys_of(&state_secrets(&site.path("state"))));
    rewrite_segment(&store, target);
    relink(&store, target, &keys);
    let run = verify(&store, &["--fingerprint", &fp]);
    assert_eq!(run.code, 1, "the forged store:\n{run}");
    let want = format!(
        "FAIL {}: not proven (epoch {target_epoch})",
        crate::support::store::record_rel(&store, target)
    );
    assert!(run.stdout.contains(&want), "wanted {want:?}:\n{run}");
    // The bundle of the forged store, signed by the state current now, fails the script.
    let bad = export(&site, "bad.tar");
    let top = untar(&bad, &site.path("bad"));
    let (code, text) = script(&pristine, &top, &fp);
    assert_eq!(code, 1, "the forged bundle:\n{text}");
    assert!(
        text.contains(&format!("record {target} or one after it"))
            && text.contains(&format!("(epoch {target_epoch})")),
        "the script names the first forged record and its epoch:\n{text}"
    );
}

/// Every byte sequence a secret may be stored or shown as.
fn encodings(seed: &[u8; 32]) -> Vec<(String, Vec<u8>)> {
    let b64 = |b: &[u8]| logkeep_format::seal::b64(b).into_bytes();
    let mut pkcs8 = vec![
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    pkcs8.extend_from_slice(seed);
    vec![
        ("raw".into(), seed.to_vec()),
        ("hex".into(), hex::encode(seed).into_bytes()),
        ("base64".into(), b64(seed)),
        ("base64 without padding".into(), b64(seed)[..43].to_vec()),
        ("PKCS#8".into(), pkcs8.clone()),
        ("PKCS#8 PEM".into(), b64(&pkcs8)),
    ]
}

#[test]
fn no_byte_of_an_earlier_epoch_secret_remains() {
    let (mut site, fp) = sealed_site("1s");
    let mut seen: BTreeMap<u64, [u8; 32]> = state_secrets(&site.path("state"));
    site.start();
    let mut n = 0;
    site.wait_until(30, "epoch 4 in the chain", |s| {
        n += 1;
        s.append("app.log", format!("line {n}\n").as_bytes());
        for (e, k) in state_secrets(&s.path("state")) {
            seen.entry(e).or_insert(k);
        }
        std::thread::sleep(Duration::from_millis(50));
        newest_epoch(&s.store()) >= 4
    });
    site.term();
    let current = state_secrets(&site.path("state"));
    assert_eq!(
        current.len(),
        1,
        "one epoch key after a clean stop: {:?}",
        current.keys()
    );
    let earlier: Vec<(u64, [u8; 32])> = seen
        .into_iter()
        .filter(|(e, _)| !current.contains_key(e))
        .collect();
    assert!(
        earlier.len() >= 2,
        "the test saw the secrets of earlier epochs"
    );
    let mut files = walk(&site.path("state"));
    files.extend(walk(&site.store()));
    for f in &files {
        let bytes = fs::read(f).expect("read");
        for (e, seed) in &earlier {
            for (what, needle) in encodings(seed) {
                assert!(
                    !bytes.windows(needle.len()).any(|w| w == needle),
                    "{}: holds epoch {e}'s destroyed secret ({what})",
                    f.display()
                );
            }
        }
    }
    assert_eq!(verify(&site.store(), &["--fingerprint", &fp]).code, 0);
}

#[test]
fn a_switch_cut_at_any_step_leaves_exactly_one_successor() {
    for step in 1..=3 {
        let (mut site, fp) = sealed_site("1s");
        let at = format!("switch:{step}");
        site.spawn_with(&[("LOGKEEP_TEST_ABORT_AT", &at)]);
        let st = site.wait_exit();
        assert!(
            !st.success(),
            "{at}: the daemon aborts ({st})\n{}",
            site.stderr()
        );
        assert!(site.stderr().contains(&at), "{at}:\n{}", site.stderr());
        // What step 1 fixed is the successor the chain gets, whichever step was cut.
        let fixed = fs::read_to_string(site.path("state/epoch-2.statement.json")).ok();
        site.start();
        site.wait_until(30, "epoch 3 in the chain", |s| {
            newest_epoch(&s.store()) >= 3
        });
        site.term();
        let run = verify(&site.store(), &["--fingerprint", &fp]);
        assert_eq!(
            run.code, 0,
            "{at}: the store verifies after the restart:\n{run}"
        );
        let epochs: Vec<u64> = statements(&site.store()).iter().map(|s| s.1).collect();
        let want: Vec<u64> = (1..=epochs.len() as u64).collect();
        assert_eq!(epochs, want, "{at}: one statement per epoch, no fork");
        if let Some(fixed) = fixed {
            let key = statements(&site.store())[1].2.clone();
            assert!(
                fixed.contains(&key),
                "{at}: the chain's epoch 2 is the one step 1 fixed"
            );
        } else {
            assert!(step > 2, "{at}: step 1 leaves the successor in the state");
        }
        assert_eq!(
            state_secrets(&site.path("state")).len(),
            1,
            "{at}: one key left"
        );
    }
}

/// Recompute every line of SHA256SUMS in `dir` (what a forger does after editing files).
fn resum(dir: &Path) {
    let sums = fs::read_to_string(dir.join("SHA256SUMS")).expect("sums");
    let mut out = String::new();
    for line in sums.lines() {
        let (_, name) = line.split_once("  ").expect("sum line");
        let h = logkeep_format::Sha256::of(&fs::read(dir.join(name)).expect("member"));
        out.push_str(&format!("{h}  {name}\n"));
    }
    writable(&dir.join("SHA256SUMS"));
    fs::write(dir.join("SHA256SUMS"), out).expect("write");
}

fn flip(path: &Path) {
    let mut b = fs::read(path).expect("read");
    let mid = b.len() / 2;
    b[mid] ^= 0x01;
    writable(path);
    fs::write(path, b).expect("write");
}

/// One damaged copy of a bundle: what was done, how, and the line the script must print.
type Case = (String, Box<dyn Fn(&Path)>, String);

#[test]
fn the_openssl_script_checks_a_real_bundle_and_names_what_is_wrong() {
    require_tool("openssl", "openssl");
    require_tool("zstd", "zstd");
    let (mut site, fp) = sealed_site("1s");
    site.start();
    let mut n = 0;
    log_until_epoch(&mut site, 2, &mut n);
    let held = keys_of(&state_secrets(&site.path("state")));
    log_until_epoch(&mut site, 4, &mut n);
    site.term();
    let bundle = export(&site, "evidence.tar");
    let base = untar(&bundle, &site.path("base"));
    let pristine = site.path("verify-with-openssl.sh");
    fs::copy(base.join("verify-with-openssl.sh"), &pristine).expect("copy script");
    let (code, text) = script(&pristine, &base, &fp);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("OK: the bundle verified"), "{text}");
    let (code, text) = script(&pristine, &base, "0000-0000-0000-0000-0000-0000-0000-0000");
    assert_eq!(code, 1, "another root:\n{text}");

    let records: Vec<PathBuf> = walk(&base.join("store/chain"));
    let segment = walk(&base.join("store/segments")).pop().expect("a segment");
    let rel = |p: &Path| {
        p.strip_prefix(&base)
            .expect("in bundle")
            .display()
            .to_string()
    };
    let mut cases: Vec<Case> = Vec::new();
    for member in [
        base.join("bundle.json"),
        base.join("store/logkeep-store.json"),
        base.join("store/keys.jsonl"),
        records[records.len() / 2].clone(),
        segment.clone(),
        base.join("VERIFY.txt"),
        base.join("verify-with-openssl.sh"),
        base.join("SHA256SUMS"),
    ] {
        let r = rel(&member);
        cases.push((
            format!("flipped byte in {r}"),
            Box::new(move |d: &Path| flip(&d.join(&r))),
            "FAIL SHA256SUMS".into(),
        ));
    }
    // A line that is not "HASH  NAME" must fail the check, not be skipped with a warning
    // (a flipped byte in SHA256SUMS lands in a name or a separator as often as in a hash).
    cases.push((
        "a line of SHA256SUMS that is not a hash and a name".into(),
        Box::new(|d: &Path| {
            let p = d.join("SHA256SUMS");
            let mut b = fs::read(&p).expect("sums");
            // The separator before a chain record's name, one bit flipped: "  " becomes " !".
            let at = b
                .windows(14)
                .position(|w| w == b"  store/chain/")
                .expect("a chain record in SHA256SUMS");
            b[at + 1] ^= 0x01;
            writable(&p);
            fs::write(&p, b).expect("write");
        }),
        "FAIL SHA256SUMS:".into(),
    ));
    cases.push((
        "flipped signature".into(),
        Box::new(|d: &Path| flip(&d.join("SHA256SUMS.sig"))),
        "FAIL SHA256SUMS.sig".into(),
    ));
    cases.push((
        "flipped public key".into(),
        Box::new(|d: &Path| flip(&d.join("signing-key.pub.pem"))),
        "FAIL signing-key.pub.pem".into(),
    ));
    cases.push((
        "a key statement removed, SHA256SUMS recomputed".into(),
        Box::new(|d: &Path| {
            let p = d.join("store/keys.jsonl");
            let text = fs::read_to_string(&p).expect("keys");
            let kept: Vec<&str> = text
                .lines()
                .enumerate()
                .filter(|(i, _)| *i != 1)
                .map(|(_, l)| l)
                .collect();
            writable(&p);
            fs::write(&p, format!("{}\n", kept.join("\n"))).expect("write");
            resum(d);
        }),
        "FAIL store/keys.jsonl line 2".into(),
    ));
    // A checkpoint of an epoch signed with another epoch's key (one the test held).
    let (cp_path, cp_epoch) = records
        .iter()
        .find_map(|p| {
            let r = logkeep_format::Record::parse(&fs::read(p).expect("record")).expect("parses");
            match r.event {
                Event::Checkpoint { epoch, .. } if held.keys().any(|e| *e != epoch) => {
                    Some((p.clone(), epoch))
                }
                _ => None,
            }
        })
        .expect("a checkpoint");
    let wrong = held
        .iter()
        .find(|(e, _)| **e != cp_epoch)
        .map(|(_, k)| k.clone())
        .expect("key");
    let cp_rel = rel(&cp_path);
    cases.push((
        "a checkpoint signed by another epoch's key".into(),
        Box::new(move |d: &Path| {
            let p = d.join(&cp_rel);
            let mut r =
                logkeep_format::Record::parse(&fs::read(&p).expect("record")).expect("parses");
            if let Event::Checkpoint { epoch, head, .. } = r.event {
                r.event = sign_checkpoint(&wrong, &r.store, epoch, head, &r.wall);
            }
            writable(&p);
            fs::write(&p, r.to_bytes()).expect("write");
            // The records after it re-linked, as a forger would.
            let mut files = walk(&d.join("store/chain"));
            files.sort();
            let mut prev = None;
            for f in files {
                let bytes = fs::read(&f).expect("record");
                let mut rec = logkeep_format::Record::parse(&bytes).expect("parses");
                if let Some(h) = prev
                    && rec.prev != h
                    && f > p
                {
                    rec.prev = h;
                    writable(&f);
                    fs::write(&f, rec.to_bytes()).expect("write");
                }
                prev = Some(logkeep_format::Sha256::of(&rec.to_bytes()));
            }
            resum(d);
        }),
        format!(
            "FAIL {}: the checkpoint does not verify with epoch {cp_epoch}'s key",
            rel(&cp_path)
        ),
    ));
    for (i, (what, edit, want)) in cases.iter().enumerate() {
        let dir = site.path(&format!("case-{i}"));
        copy_tree(&base, &dir);
        edit(&dir);
        let (code, text) = script(&pristine, &dir, &fp);
        assert_eq!(code, 1, "{what}: the script must fail:\n{text}");
        assert!(
            text.contains(want.as_str()),
            "{what}: wanted {want:?}:\n{text}"
        );
    }
}

#[test]
fn format_1_stores_and_key_files_are_refused_with_the_way_forward() {
    // A format 1 store: the daemon does not extend it, and it still verifies.
    let (mut site, _) = sealed_site("1h");
    let v1 = Path::new(env!("CARGO_MANIFEST_DIR")).join("../format/tests/golden/store-v1");
    copy_tree(&v1, &site.store());
    site.spawn();
    let st = site.wait_exit();
    assert_eq!(st.code(), Some(2), "{}", site.stderr());
    assert!(
        site.stderr().contains("a format 1 store") && site.stderr().contains("[store] path"),
        "{}",
        site.stderr()
    );
    let run = verify(&site.store(), &[]);
    assert_eq!(run.code, 0, "the format 1 store still verifies:\n{run}");

    // A format 1 key file where the signing state belongs.
    let site = Site::new(&format!(
        "{}{}\n[signing]\nkey = \"signing.key\"\n",
        crate::support::site::FAST_STORE,
        crate::support::site::source("app", &["logs/app.log"])
    ));
    let pem = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIBERERERERERERERERERERERERERERERERERERERERER\n-----END PRIVATE KEY-----\n";
    fs::write(site.path("signing.key"), pem).expect("key file");
    let mut site = site;
    site.spawn();
    let st = site.wait_exit();
    assert_eq!(st.code(), Some(2), "{}", site.stderr());
    assert!(
        site.stderr().contains("a format 1 signing key file"),
        "{}",
        site.stderr()
    );
    assert!(
        !site.store().exists(),
        "nothing is created before the signing state is usable"
    );
    let run = logkeep(&[
        "fingerprint".as_ref(),
        "--config".as_ref(),
        site.config().as_os_str(),
    ]);
    assert_eq!(run.code, 2, "{run}");
    assert!(run.stderr.contains("logkeep keygen"), "{run}");
}

#[test]
fn a_lost_signing_state_is_re_enrolled_under_the_same_fingerprint() {
    let site = Site::new(&format!(
        "{}{}\n[signing]\nkey = \"state\"\nepoch = \"1s\"\n",
        crate::support::site::FAST_STORE,
        crate::support::site::source("app", &["logs/app.log"])
    ));
    let root = site.path("root.pem");
    let run = logkeep(&[
        "keygen".as_ref(),
        "--config".as_ref(),
        site.config().as_os_str(),
        "--root-out".as_ref(),
        root.as_os_str(),
    ]);
    assert_eq!(run.code, 0, "{run}");
    assert!(run.stdout.contains("offline storage"), "{run}");
    let fp = run
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("fingerprint: "))
        .expect("fingerprint")
        .to_owned();
    for (flag, path) in [
        ("--config", site.config()),
        ("--key", site.path("state")),
        ("--pub", site.path("state/root.pub")),
    ] {
        let a: Vec<std::ffi::OsString> = vec!["fingerprint".into(), flag.into(), path.into()];
        let run = logkeep(&a);
        assert_eq!((run.code, run.stdout.trim()), (0, fp.as_str()), "{run}");
    }
    let mut site = site;
    site.start();
    let mut n = 0;
    log_until_epoch(&mut site, 2, &mut n);
    site.term();
    let before = newest_epoch(&site.store());
    // The state is lost; the root secret, kept offline, re-enrols the host.
    fs::remove_dir_all(site.path("state")).expect("remove state");
    site.spawn();
    assert_eq!(site.wait_exit().code(), Some(2), "no state, no start");
    let run = logkeep(&[
        "keygen".as_ref(),
        "--config".as_ref(),
        site.config().as_os_str(),
        "--enrol".as_ref(),
        "--root".as_ref(),
        root.as_os_str(),
    ]);
    assert_eq!(run.code, 0, "{run}");
    assert!(run.stdout.contains(&format!("fingerprint: {fp}")), "{run}");
    site.start();
    log_until_epoch(&mut site, before + 2, &mut n);
    site.term();
    let run = verify(&site.store(), &["--fingerprint", &fp]);
    assert_eq!(run.code, 0, "{run}");
    let enrolments = chain(&site.store())
        .into_iter()
        .filter(|l| matches!(l.record.event, Event::Epoch { head: None, .. }))
        .count();
    assert_eq!(enrolments, 2, "the enrolment and the re-enrolment");
    // Without --root-out the root secret does not outlive keygen.
    let other = site.path("other-state");
    let run = logkeep(&["keygen".as_ref(), "--key".as_ref(), other.as_os_str()]);
    assert_eq!(run.code, 0, "{run}");
    assert!(run.stdout.contains("destroyed"), "{run}");
    assert!(!other.join("root.key").exists());
}

#[test]
fn tampering_ends_the_epoch_at_once() {
    let (mut site, fp) = sealed_site("1h");
    site.start();
    site.append("app.log", b"before the intruder\n");
    site.wait_captured(20);
    assert_eq!(newest_epoch(&site.store()), 1);
    crate::support::site::truncate_in_place(&site.log("app.log"));
    site.wait_until(30, "a new epoch after the tamper record", |s| {
        newest_epoch(&s.store()) >= 2
    });
    site.term();
    let links = chain(&site.store());
    let tamper = links
        .iter()
        .position(|l| matches!(l.record.event, Event::Tamper { .. }))
        .expect("a tamper record");
    let switch = links
        .iter()
        .position(|l| matches!(l.record.event, Event::Epoch { epoch: 2, .. }))
        .expect("epoch 2");
    assert!(tamper < switch, "the switch follows the tampering");
    assert!(
        links[tamper..switch]
            .iter()
            .any(|l| matches!(l.record.event, Event::Checkpoint { epoch: 1, .. })),
        "epoch 1 seals the tamper record before it ends"
    );
    assert_eq!(verify(&site.store(), &["--fingerprint", &fp]).code, 0);
}

#[test]
fn a_bundle_of_an_early_range_ends_at_the_first_checkpoint_after_it_and_carries_the_later_keys() {
    require_tool("openssl", "openssl");
    require_tool("zstd", "zstd");
    let (mut site, fp) = sealed_site("1s");
    site.start();
    let mut n = 0;
    log_until_epoch(&mut site, 2, &mut n);
    // The end of the range: every record after it was written later.
    std::thread::sleep(Duration::from_millis(300));
    let until = logkeep_format::Timestamp::now().to_string();
    std::thread::sleep(Duration::from_millis(1200));
    log_until_epoch(&mut site, 5, &mut n);
    site.term();
    let links = chain(&site.store());
    let store_head = links.last().expect("records").record.seq;

    let whole = export(&site, "whole.tar");
    let out = site.path("range.tar");
    // (An export ends the epoch that signs it: count before it.)
    let in_store = statements(&site.store()).len();
    let run = logkeep(&[
        "export".as_ref(),
        "--config".as_ref(),
        site.config().as_os_str(),
        "--store".as_ref(),
        site.store().as_os_str(),
        "--until".as_ref(),
        until.as_ref(),
        "--out".as_ref(),
        out.as_os_str(),
    ]);
    assert_eq!(run.code, 0, "export --until {until}:\n{run}");
    assert!(
        run.stdout.contains("the range ends at that checkpoint"),
        "the export says where the range ends:\n{run}"
    );
    let base = untar(&out, &site.path("range"));
    let info: serde_json::Value =
        serde_json::from_slice(&fs::read(base.join("bundle.json")).expect("bundle.json"))
            .expect("json");
    let head = info["head"]["seq"].as_u64().expect("head seq");
    assert!(
        head < store_head,
        "the range's bundle ends before the head {store_head}: {head}"
    );
    // The bundle's head is a checkpoint: the first after the range, and after every record
    // written up to its end.
    let end = &links[head as usize - 1].record;
    assert!(matches!(end.event, Event::Checkpoint { .. }), "{end:?}");
    let until_t = logkeep_format::Timestamp::parse(&until).expect("until");
    let last_in_range = links
        .iter()
        .filter(|l| logkeep_format::Timestamp::parse(&l.record.wall).expect("wall") <= until_t)
        .map(|l| l.record.seq)
        .max()
        .expect("records up to the range's end");
    assert!(head > last_in_range, "{head} after {last_in_range}");
    assert!(
        links[last_in_range as usize..head as usize - 1]
            .iter()
            .all(|l| !matches!(l.record.event, Event::Checkpoint { .. })),
        "the first checkpoint after the range, not a later one"
    );
    // Every key statement up to the signing epoch rides along, the later ones beyond the head.
    let keys = fs::read_to_string(base.join("store/keys.jsonl")).expect("keys");
    let stated: Vec<u64> = keys
        .lines()
        .map(|l| {
            logkeep_format::Record::parse(format!("{l}\n").as_bytes())
                .expect("statement")
                .seq
        })
        .collect();
    assert!(
        stated.iter().any(|s| *s > head),
        "statements after the head: {stated:?}"
    );
    assert_eq!(stated.len(), in_store, "every statement of the store");
    assert!(
        fs::metadata(&out).expect("range").len() < fs::metadata(&whole).expect("whole").len(),
        "the range's bundle is smaller than the whole store's"
    );

    // It verifies with logkeep and with the openssl script alone.
    let run = logkeep(&[
        "verify".as_ref(),
        out.as_os_str(),
        "--fingerprint".as_ref(),
        fp.as_ref(),
    ]);
    assert_eq!(run.code, 0, "verify of the range's bundle:\n{run}");
    let pristine = site.path("verify-with-openssl.sh");
    fs::copy(base.join("verify-with-openssl.sh"), &pristine).expect("copy script");
    let (code, text) = script(&pristine, &base, &fp);
    assert_eq!(code, 0, "{text}");

    // A later statement whose signature is not its predecessor's: both verifiers refuse it,
    // even with SHA256SUMS recomputed and signed again by the signing epoch's own key (what a
    // thief of that key can do).
    let signing = keys_of(&state_secrets(&site.path("state")));
    let (_, key) = signing.iter().next_back().expect("the signing epoch's key");
    let dir = site.path("forged");
    copy_tree(&base, &dir);
    let p = dir.join("store/keys.jsonl");
    let mut lines: Vec<String> = keys.lines().map(str::to_owned).collect();
    let at = stated
        .iter()
        .rposition(|s| *s > head)
        .expect("a later statement");
    let mut r =
        logkeep_format::Record::parse(format!("{}\n", lines[at]).as_bytes()).expect("statement");
    if let Event::Epoch { sig, .. } = &mut r.event {
        let mut b = sig.clone().into_bytes();
        let i = b.len() / 2;
        b[i] = if b[i] == b'A' { b'B' } else { b'A' };
        *sig = String::from_utf8(b).expect("base64");
    }
    lines[at] = String::from_utf8(r.to_bytes())
        .expect("utf-8")
        .trim_end()
        .to_owned();
    writable(&p);
    fs::write(&p, format!("{}\n", lines.join("\n"))).expect("write");
    resum(&dir);
    let sums = fs::read(dir.join("SHA256SUMS")).expect("sums");
    let be = info["signature"]["epoch"].as_u64().expect("epoch");
    let msg = format!(
        "logkeep bundle\nepoch {be}\nsums {}\n",
        logkeep_format::Sha256::of(&sums)
    );
    use ed25519_dalek::Signer;
    writable(&dir.join("SHA256SUMS.sig"));
    fs::write(
        dir.join("SHA256SUMS.sig"),
        key.sign(msg.as_bytes()).to_bytes(),
    )
    .expect("sig");
    let (code, text) = script(&pristine, &dir, &fp);
    assert_eq!(
        code, 1,
        "a forged later statement must fail the script:\n{text}"
    );
    assert!(text.contains("FAIL store/keys.jsonl"), "{text}");
    let forged = site.path("forged.tar");
    let mut tar = crate::support::bundle::Bundle::parse(&fs::read(&out).expect("bundle"));
    for rel in ["store/keys.jsonl", "SHA256SUMS", "SHA256SUMS.sig"] {
        tar.set(rel, fs::read(dir.join(rel)).expect("member"));
    }
    fs::write(&forged, tar.to_bytes()).expect("write");
    let run = logkeep(&[
        "verify".as_ref(),
        forged.as_os_str(),
        "--fingerprint".as_ref(),
        fp.as_ref(),
    ]);
    assert_ne!(run.code, 0, "verify of the forged range bundle:\n{run}");
    assert!(run.stdout.contains("FAIL store/keys.jsonl: line"), "{run}");
}
