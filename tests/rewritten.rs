//! Files rewritten in place (`rewritten = true`): every distinct content is a version of its
//! own, a rewrite is not tampering, a deletion is.

use crate::support::bundle::sha256sum_hex;
use crate::support::rng::noise;
use crate::support::*;
use std::fs;

fn versions(site: &Site) -> Vec<serde_json::Value> {
    records(&site.store())
        .into_iter()
        .filter(|r| r["event"]["kind"] == "version")
        .map(|r| r["event"].clone())
        .collect()
}

/// A status file rewritten five times with new content (and twice with content already
/// captured) gives five versions and no tamper record, across a restart; `extract` writes each
/// version whole; a large file is captured the same way; deleting a file is tamper.
#[test]
fn a_file_rewritten_in_place_is_captured_as_versions_without_tamper() {
    let mut site = Site::new(&format!(
        "{FAST_STORE}\n[[source]]\nid = \"status\"\nrewritten = true\npaths = [\"logs/*.status\"]\n"
    ));
    let status = site.log("openvpn.status");
    let big = site.log("lastlog.status");
    let contents: Vec<Vec<u8>> = (0..5)
        .map(|i| {
            format!(
                "OpenVPN CLIENT LIST\nUpdated,2026-12-05 07:0{i}:00\nalice,198.51.100.{i}:51820,{}\nEND\n",
                1000 * i
            )
            .into_bytes()
        })
        .collect();
    let mut big_content = noise(1536 * 1024, 7);
    fs::write(&status, &contents[0]).expect("write");
    fs::write(&big, &big_content).expect("write");
    site.start();
    site.wait_until(30, "the first two versions", |s| versions(s).len() == 2);
    for (i, c) in contents.iter().enumerate().skip(1) {
        fs::write(&status, c).expect("rewrite");
        site.wait_until(30, "a version per new content", |s| {
            versions(s).len() == 2 + i
        });
        if i == 2 {
            // Content already captured, and the same content written again: no version.
            fs::write(&status, &contents[0]).expect("rewrite");
            std::thread::sleep(std::time::Duration::from_millis(400));
            fs::write(&status, &contents[0]).expect("rewrite");
            std::thread::sleep(std::time::Duration::from_millis(400));
        }
    }
    site.term();
    // After a restart nothing is captured again: the files still hold the newest versions.
    site.start();
    big_content[777_777] ^= 1;
    fs::write(&big, &big_content).expect("rewrite the large file in its middle");
    site.wait_until(30, "the large file's second version", |s| {
        versions(s).len() == 7
    });
    site.term();
    let v = versions(&site);
    let status_versions: Vec<&serde_json::Value> = v
        .iter()
        .filter(|e| e["path"] == status.to_str().expect("utf-8"))
        .collect();
    assert_eq!(status_versions.len(), 5, "{v:#?}");
    let recs = records(&site.store());
    assert!(
        !recs.iter().any(|r| r["event"]["kind"] == "tamper"),
        "a rewrite is not tampering"
    );
    assert_verifies(&site.store());
    let ex = extract_all(&site.store());
    for (e, want) in status_versions.iter().zip(&contents) {
        let name = format!(
            "{}{}",
            gen_prefix("status", &status),
            e["gen_id"].as_u64().expect("gen_id")
        );
        assert_eq!(ex.files.get(&name), Some(want), "{name}");
        assert_eq!(e["sha256"], sha256sum_hex(want));
    }
    let big_versions: Vec<&serde_json::Value> = v
        .iter()
        .filter(|e| e["path"] == big.to_str().expect("utf-8"))
        .collect();
    assert_eq!(big_versions.len(), 2);
    let last = format!(
        "{}{}",
        gen_prefix("status", &big),
        big_versions[1]["gen_id"].as_u64().expect("gen_id")
    );
    assert_same_bytes(
        &ex.files[&last],
        &big_content,
        "the large file's second version",
    );

    // Deleted while logkeep runs: tamper, once (not again at the next start).
    site.start();
    // A file gone at start may have been reported before the stop: let the first scans see it.
    std::thread::sleep(std::time::Duration::from_millis(1000));
    fs::remove_file(&status).expect("delete");
    site.wait_record("\"kind\":\"tamper\"");
    site.term();
    site.start();
    site.term();
    let tampers: Vec<serde_json::Value> = records(&site.store())
        .into_iter()
        .filter(|r| r["event"]["kind"] == "tamper")
        .collect();
    assert_eq!(tampers.len(), 1, "{tampers:#?}");
    assert_eq!(tampers[0]["event"]["what"], "deleted");
    assert_eq!(tampers[0]["event"]["path"], status.to_str().expect("utf-8"));
}
