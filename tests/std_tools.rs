//! Checkable without logkeep (docs/FORMAT.md): `sha256sum`, `zstd` and `tar`
//! alone open and check a store written by a real run. A missing tool fails the test with the
//! package to install; it is never skipped.

use crate::support::*;
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

fn require_all() {
    require_tool("zstd", "zstd");
    require_tool("tar", "tar");
    require_tool("sha256sum", "coreutils");
}

fn sha256sum(p: &Path) -> String {
    let out = sh("sha256sum < \"$1\"", &[p]);
    String::from_utf8_lossy(&out)[..64].to_owned()
}

/// A stopped store holding two files over several segments.
fn sample() -> Site {
    let config = format!("{FAST_STORE}{}", source("vpn", &["logs/*.log"]));
    let mut site = Site::new(&config);
    site.start();
    let mut rng = Rng::from_env(3);
    let mut total = 0;
    for i in 0..4 {
        let mut chunk = format!("burst {i}\r\n\0").into_bytes();
        chunk.extend(rng.bytes(4500));
        site.append("a.log", &chunk);
        site.append("b.log", b"2026-11-20 04:00:00 sshd accepted\n");
        total += chunk.len() as u64 + 34;
        site.wait_captured(total);
    }
    site.term();
    site
}

#[test]
fn zstd_and_tar_alone_reconstruct_the_captured_bytes() {
    require_all();
    let site = sample();
    let segs = segment_files(&site.store());
    assert!(segs.len() >= 3, "want several segments: {segs:?}");
    let out = tempfile::tempdir().expect("tmp");
    for seg in &segs {
        // The documented procedure: `zstd -d < SEGMENT | tar -x`, every segment into one
        // directory (run in it, as a user would).
        sh(
            "cd \"$2\" && zstd -q -d < \"$1\" | tar -x",
            &[seg, out.path()],
        );
        // Exactly one frame, with the content checksum the format requires.
        let info = String::from_utf8_lossy(&sh("zstd -lv \"$1\"", &[seg])).into_owned();
        assert!(
            info.contains("# Zstandard Frames: 1\n"),
            "{}: {info}",
            seg.display()
        );
        assert!(info.contains("Check: XXH64"), "{}: {info}", seg.display());
        // Members are regular read-only files owned by 0:0, the manifest last.
        let list = sh("zstd -q -d < \"$1\" | tar -tv --numeric-owner", &[seg]);
        let list = String::from_utf8_lossy(&list).into_owned();
        for line in list.lines() {
            assert!(
                line.starts_with("-r--r--r-- 0/0 "),
                "{}: {line}",
                seg.display()
            );
        }
        assert!(
            list.lines()
                .last()
                .is_some_and(|l| l.ends_with(" logkeep-manifest.json")),
            "{}: the manifest must be the last member:\n{list}",
            seg.display()
        );
    }
    // Each generation's chunk files, in name order, concatenate to the source file.
    for name in ["a.log", "b.log"] {
        let dir = out.path().join(gen_prefix("vpn", &site.log(name)));
        let gen_dir = fs::read_dir(dir.parent().expect("parent"))
            .expect("generation directories")
            .flatten()
            .map(|e| e.path())
            .filter(|p| file_name(p).starts_with(&format!("{name}.gen")))
            .collect::<Vec<PathBuf>>();
        assert_eq!(gen_dir.len(), 1, "one generation of {name}: {gen_dir:?}");
        let chunks = walk(&gen_dir[0]);
        for c in &chunks {
            let n = file_name(c);
            assert!(
                n.len() == 20 && n.bytes().all(|b| b.is_ascii_digit()),
                "chunk names are 20-digit offsets: {n}"
            );
        }
        let joined: Vec<u8> = chunks
            .iter()
            .flat_map(|c| fs::read(c).expect("chunk"))
            .collect();
        let want = fs::read(site.log(name)).expect("source");
        assert_same_bytes(&joined, &want, &format!("{name} from zstd | tar"));
    }
}

#[test]
fn sha256sum_checks_segment_names_chain_links_and_head() {
    require_all();
    let site = sample();
    let store = site.store();
    let segments = segment_files(&store);
    assert!(!segments.is_empty(), "the sample store has no segments");
    for seg in segments {
        let name = file_name(&seg);
        let hash = sha256sum(&seg);
        assert_eq!(
            name,
            format!("{}-{hash}.tar.zst", &name[..16]),
            "a segment's name carries the SHA-256 of its bytes"
        );
        // What it means: its record binds the manifest, which lists every member's digest.
        let manifest = sh(
            "zstd -q -d < \"$1\" | tar -xO logkeep-manifest.json | sha256sum | cut -c1-64",
            &[&seg],
        );
        let manifest = String::from_utf8_lossy(&manifest).trim().to_owned();
        let rec = records(&store)
            .into_iter()
            .find(|r| r["event"]["file"] == name.as_str())
            .expect("the segment's record");
        assert_eq!(
            rec["event"]["manifest_sha256"],
            manifest.as_str(),
            "{name}: tar -xO logkeep-manifest.json | sha256sum"
        );
    }
    // The loop FORMAT.md gives for checking segments with standard tools alone (layout 2:
    // one shard directory level).
    let loop_out = sh(
        "cd \"$1\" && for f in */*.tar.zst; do h=$(sha256sum < \"$f\" | cut -c1-64)\n  \
         case \"$f\" in *-\"$h\".tar.zst) echo \"OK $f\";; *) echo \"BAD $f\";; esac; done",
        &[&store.join("segments")],
    );
    let loop_out = String::from_utf8_lossy(&loop_out).into_owned();
    assert_eq!(
        loop_out.lines().filter(|l| l.starts_with("OK ")).count(),
        segment_files(&store).len(),
        "{loop_out}"
    );
    assert!(!loop_out.contains("BAD"), "{loop_out}");

    // `sha256sum` of record N is the `prev` of record N+1; record 1 links to 64 zeros.
    let recs = record_files(&store);
    let parsed = records(&store);
    assert_eq!(parsed[0]["prev"], "0".repeat(64));
    for (n, pair) in recs.windows(2).enumerate() {
        assert_eq!(
            parsed[n + 1]["prev"].as_str(),
            Some(sha256sum(&pair[0]).as_str()),
            "{} must link to {}",
            pair[1].display(),
            pair[0].display()
        );
    }
    // head.json names the last record by the same hash.
    let head: serde_json::Value =
        serde_json::from_slice(&fs::read(store.join("head.json")).expect("head")).expect("json");
    assert_eq!(head["seq"].as_u64(), Some(recs.len() as u64));
    assert_eq!(
        head["hash"].as_str(),
        Some(sha256sum(recs.last().expect("records")).as_str())
    );
    // A segment record's sha256 and size describe the file as stored.
    for r in parsed.iter().filter(|r| r["event"]["kind"] == "segment") {
        let file =
            crate::support::store::segment_path(&store, r["event"]["file"].as_str().expect("file"));
        assert_eq!(
            r["event"]["sha256"].as_str(),
            Some(sha256sum(&file).as_str())
        );
        assert_eq!(
            r["event"]["size"].as_u64(),
            Some(fs::metadata(&file).expect("segment").len())
        );
    }
    // And the extraction index's SHA-256s are those of the files written.
    let x = extract_all(&store);
    let by_output: BTreeMap<&str, &str> = x
        .index
        .iter()
        .map(|e| {
            (
                e["output"].as_str().expect("o"),
                e["sha256"].as_str().expect("h"),
            )
        })
        .collect();
    assert_eq!(by_output.len(), 2);
    for (output, hash) in by_output {
        assert_eq!(sha256sum(&x.out.join(output)), hash, "{output}");
    }
}
