//! Binary login records (wtmp, btmp) and auditd's `audit.log`, which auditd rotates itself by
//! renaming `audit.log.1` … `audit.log.N`: captured through their rotations, across a stop and
//! a `kill -9`, every byte exactly once, and no rotation taken for tampering or loss.

use crate::support::*;
use std::fs;
use std::path::Path;

/// `n` utmp-sized records (384 bytes: type, pid, line, id, user, host, ... with NUL padding),
/// as login(1) and sshd append them.
fn utmp_records(rng: &mut Rng, n: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for _ in 0..n {
        let mut r = vec![0u8; 384];
        r[0] = 7; // USER_PROCESS
        r[4..8].copy_from_slice(&(rng.below(65536) as u32).to_le_bytes());
        r[8..13].copy_from_slice(b"pts/3");
        r[44..49].copy_from_slice(b"alice");
        r[76..87].copy_from_slice(b"192.0.2.200");
        r[340..344].copy_from_slice(&(rng.below(1 << 31) as u32).to_le_bytes());
        out.extend(r);
    }
    out
}

/// auditd's rotation with `num_logs = keep + 1`: `.N-1` → `.N` (the oldest removed), …, the
/// log → `.1`, a new empty log.
fn audit_rotate(dir: &Path, keep: usize) {
    let log = dir.join("audit.log");
    let _ = fs::remove_file(dir.join(format!("audit.log.{keep}")));
    for i in (1..keep).rev() {
        let from = dir.join(format!("audit.log.{i}"));
        if from.exists() {
            fs::rename(&from, dir.join(format!("audit.log.{}", i + 1))).expect("rotate");
        }
    }
    fs::rename(&log, dir.join("audit.log.1")).expect("rotate");
    fs::write(&log, b"").expect("new log");
}

/// Every generation of `source`, concatenated in generation order.
fn all_generations(store: &Path, source: &str) -> Vec<u8> {
    let ex = extract_all(store);
    let mut gens: Vec<(u64, &Vec<u8>)> = ex
        .index
        .iter()
        .filter(|e| e["source"] == source)
        .map(|e| {
            assert_eq!(e["condition"], "whole", "{e}");
            (
                e["gen_id"].as_u64().expect("gen_id"),
                &ex.files[e["output"].as_str().expect("output")],
            )
        })
        .collect();
    gens.sort_by_key(|(g, _)| *g);
    gens.into_iter().flat_map(|(_, b)| b.clone()).collect()
}

#[test]
fn audit_log_and_login_records_are_captured_through_their_own_rotations() {
    let mut rng = Rng::from_env(17);
    let mut site = Site::new(&format!(
        "{FAST_STORE}{}{}",
        source("audit", &["logs/audit/audit.log"]),
        source("logins", &["logs/wtmp", "logs/btmp"])
    ));
    let audit = site.path("logs/audit");
    fs::create_dir_all(&audit).expect("audit dir");
    let mut audit_written = Vec::new();
    let mut logins_written = Vec::new();
    let mut serial = 0u64;
    let mut write_audit = |site: &Site, rng: &mut Rng, n: usize, written: &mut Vec<u8>| {
        let mut b = Vec::new();
        for _ in 0..n {
            serial += 1 + rng.below(3);
            b.extend_from_slice(
                format!(
                    "type=USER_LOGIN msg=audit(1764900000.{serial:03}:{serial}): pid=4242 uid=0 auid=1000 ses=3 msg='op=login acct=\"alice\" exe=\"/usr/sbin/sshd\" hostname=? addr=192.0.2.200 terminal=ssh res=success'\n"
                )
                .as_bytes(),
            );
        }
        append(&site.path("logs/audit/audit.log"), &b);
        written.extend(b);
    };
    fs::write(site.path("logs/audit/audit.log"), b"").expect("log");
    write_audit(&site, &mut rng, 200, &mut audit_written);
    let w = utmp_records(&mut rng, 20);
    site.append("wtmp", &w);
    let b = utmp_records(&mut rng, 3);
    site.append("btmp", &b);
    let btmp = b;
    logins_written.extend(w);

    site.start();
    for round in 0..4 {
        write_audit(&site, &mut rng, 100 + round * 30, &mut audit_written);
        // auditd rotates at a size far above what a scan reads: everything is read by then.
        site.wait_captured((audit_written.len() + logins_written.len() + 3 * 384) as u64);
        audit_rotate(&audit, 9);
        write_audit(&site, &mut rng, 50, &mut audit_written);
        let w = utmp_records(&mut rng, 5);
        site.append("wtmp", &w);
        logins_written.extend(w);
    }
    // logrotate's monthly wtmp rotation (`create 0664 root utmp`, `rotate 1`).
    fs::rename(site.log("wtmp"), site.log("wtmp.1")).expect("rotate wtmp");
    let w = utmp_records(&mut rng, 7);
    site.append("wtmp", &w);
    logins_written.extend(w);
    site.wait_captured((audit_written.len() + logins_written.len() + 3 * 384) as u64);
    site.term();

    // While stopped: more records, two rotations. (Every rotation here keeps every file: a
    // rotated generation deleted before capture closed it, `linger` after it left its name, is
    // a precautionary gap after a restart, as for any file.)
    write_audit(&site, &mut rng, 80, &mut audit_written);
    audit_rotate(&audit, 9);
    write_audit(&site, &mut rng, 60, &mut audit_written);
    audit_rotate(&audit, 9);
    write_audit(&site, &mut rng, 40, &mut audit_written);
    let w = utmp_records(&mut rng, 4);
    site.append("wtmp", &w);
    logins_written.extend(w);
    site.start();
    write_audit(&site, &mut rng, 30, &mut audit_written);
    // Killed while it catches up, then once more.
    site.kill9();
    site.start();
    audit_rotate(&audit, 9);
    write_audit(&site, &mut rng, 20, &mut audit_written);
    let total = (audit_written.len() + logins_written.len() + 3 * 384) as u64;
    site.wait_captured(total);
    site.term();
    assert_verifies(&site.store());
    let alarms: Vec<serde_json::Value> = records(&site.store())
        .into_iter()
        .filter(|r| r["event"]["kind"] == "tamper" || r["event"]["kind"] == "gap")
        .collect();
    assert!(
        alarms.is_empty(),
        "rotations are neither tampering nor loss: {alarms:#?}"
    );
    // Every record exactly once (generations are numbered in the order logkeep met them,
    // which after a restart is not the order auditd wrote them).
    let lines = |b: &[u8]| {
        let mut l: Vec<Vec<u8>> = b
            .split_inclusive(|&c| c == b'\n')
            .map(<[u8]>::to_vec)
            .collect();
        l.sort();
        l
    };
    let got = all_generations(&site.store(), "audit");
    assert_eq!(got.len(), audit_written.len());
    assert!(lines(&got) == lines(&audit_written), "audit records differ");
    let records_of = |b: &[u8]| {
        let mut r: Vec<Vec<u8>> = b.chunks(384).map(<[u8]>::to_vec).collect();
        r.sort();
        r
    };
    let logins = all_generations(&site.store(), "logins");
    logins_written.extend(&btmp);
    assert_eq!(logins.len(), logins_written.len());
    assert!(
        records_of(&logins) == records_of(&logins_written),
        "login records differ"
    );
}
