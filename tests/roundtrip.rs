//! Byte-exact capture: logkeep stores byte ranges, not lines, so
//! whatever a source wrote — empty lines, CRLF, NUL bytes, invalid UTF-8, a 10 MiB line, a last
//! line without a newline that is completed later — comes back from `extract` unchanged.

use crate::support::*;

/// A file with every awkward kind of byte, appended in bursts while the daemon runs; a second
/// source in another directory; a one-byte file. Each extracts to exactly its source file.
#[test]
fn every_kind_of_byte_comes_back_exactly() {
    let config = format!(
        "{FAST_STORE}{}{}",
        source("vpn", &["logs/*.log"]),
        source("rdp", &["logs/rdp/*.txt"])
    );
    let mut site = Site::new(&config);
    std::fs::create_dir_all(site.path("logs/rdp")).expect("rdp dir");

    // Written before the daemon starts: an existing file is captured from its first byte.
    site.append(
        "a.log",
        b"first line\n\n\nafter two empty lines\r\nCRLF line\r\n\r\n",
    );
    // A one-byte file without a newline (Vector never reads such files; Filebeat ignores
    // files under 1 KiB).
    site.append("tiny.log", b"x");
    site.start();

    // Bytes the sources hold, to wait for.
    let mut total = len(&site, "a.log") + len(&site, "tiny.log");
    let burst = |site: &mut Site, name: &str, bytes: &[u8]| {
        site.append(name, bytes);
        bytes.len() as u64
    };
    // NUL bytes and invalid UTF-8 (a lone continuation byte, an overlong form, 0xff).
    total += burst(
        &mut site,
        "a.log",
        b"nul\0\0in\0line\n\x80\xc0\xaf\xff\xfe bad utf-8\n",
    );
    // A 10 MiB line with no newline inside (Vector drops lines over 100 KiB; Fluent Bit stops
    // a file at 32 KiB), followed by its newline in a separate write.
    let long: Vec<u8> = (0..10u32 << 20).map(|i| b'a' + (i % 26) as u8).collect();
    total += burst(&mut site, "a.log", &long);
    total += burst(&mut site, "a.log", b"\n");
    // A last line without a newline, captured as it is...
    total += burst(&mut site, "a.log", b"last line without newline");
    total += burst(
        &mut site,
        "rdp/session.txt",
        b"4624 logon type 10\r\n\0\x01\x02",
    );
    site.wait_captured(total);
    // ...then completed by a later write: the captured prefix and the rest join up exactly.
    total += burst(&mut site, "a.log", b" - now finished\nand another without");
    total += burst(&mut site, "rdp/session.txt", b"\n4634 logoff\n");
    site.wait_captured(total);
    site.term();

    assert_verifies(&site.store());
    let x = extract_all(&site.store());
    assert_eq!(
        x.files.len(),
        3,
        "one output file per file generation: {:?}",
        x.files.keys().collect::<Vec<_>>()
    );
    for (src, name) in [
        ("vpn", "a.log"),
        ("vpn", "tiny.log"),
        ("rdp", "rdp/session.txt"),
    ] {
        let want = std::fs::read(site.log(name)).expect("source file");
        assert_same_bytes(
            x.only_generation(src, &site.log(name)),
            &want,
            &format!("extracted {name}"),
        );
    }
    // The index names each generation by source and original path.
    let a = x
        .index
        .iter()
        .find(|e| e["path"] == site.log("a.log").to_str().expect("utf-8"))
        .expect("a.log in the index");
    assert_eq!(a["source"], "vpn");
    assert_eq!(a["size"].as_u64(), Some(len(&site, "a.log")));
    assert_eq!(
        a["missing"],
        serde_json::json!([]),
        "nothing left as a hole"
    );
}

fn len(site: &Site, name: &str) -> u64 {
    std::fs::metadata(site.log(name)).expect("log file").len()
}

/// A file whose name is not UTF-8 (`app-<0xff>.log`), matched by `*.log`: captured byte for
/// byte like any other, under the name the chain records for it (`app-\xff.log`: valid UTF-8
/// kept, every other byte as `\xNN`), and followed through a restart and a rename while the
/// daemon is stopped, which means finding it again by that recorded name.
#[test]
fn a_log_whose_name_is_not_utf8_is_captured_or_recorded_as_a_gap() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::MetadataExt;
    let config = format!("{FAST_STORE}{}", source("vpn", &["logs/*.log"]));
    let mut site = Site::new(&config);
    let odd = site
        .log("placeholder")
        .with_file_name(OsStr::from_bytes(b"app-\xff.log"));
    let rotated = odd.with_file_name(OsStr::from_bytes(b"app-\xff.log.1"));
    let first: &[u8] = b"2026-11-20 04:00:00 login from 203.0.113.7\n\xff\xfe raw bytes\0\n";
    append(&odd, first);
    site.append("plain.log", b"a plain neighbour\n");
    site.start();
    let mut total = first.len() as u64 + 18;
    site.wait_captured(total);
    site.term();
    // Stopped: the writer goes on a little, then the file is rotated away under a name the
    // pattern does not match, and a new file takes the name.
    let late: &[u8] = b"late line before the rotation\n";
    append(&odd, late);
    std::fs::rename(&odd, &rotated).expect("rotate");
    let newer: &[u8] = b"first line of the next generation \xc3\x28\n";
    append(&odd, newer);
    total += (late.len() + newer.len()) as u64;
    site.start();
    site.wait_captured(total);
    site.term();

    assert_verifies(&site.store());
    let x = extract_all(&site.store());
    let recorded = |p: &std::path::Path| {
        let dir = p.parent().expect("dir").to_str().expect("utf-8 site dir");
        let name = p.file_name().expect("name").as_bytes();
        let esc: String = name
            .utf8_chunks()
            .flat_map(|c| {
                let valid = c.valid().replace('\\', "\\\\");
                let bad: String = c.invalid().iter().map(|b| format!("\\x{b:02x}")).collect();
                [valid, bad]
            })
            .collect();
        format!("{dir}/{esc}")
    };
    // Both generations were first read at the same recorded name; the index names each by the
    // path it was first read at, and by its inode.
    let name = recorded(&odd);
    let at_name: Vec<&serde_json::Value> = x.index.iter().filter(|e| e["path"] == name).collect();
    let ino = |p: &std::path::Path| std::fs::metadata(p).expect("stat").ino();
    let find = |p: &std::path::Path| -> &serde_json::Value {
        let hits: Vec<&&serde_json::Value> = at_name
            .iter()
            .filter(|e| e["ino"].as_u64() == Some(ino(p)))
            .collect();
        assert_eq!(
            hits.len(),
            1,
            "want one generation of {p:?} at {name}: {:#?}",
            x.index
        );
        hits[0]
    };
    let (old, new) = (find(&rotated), find(&odd));
    let data = |e: &serde_json::Value| &x.files[e["output"].as_str().expect("output")];
    assert_same_bytes(
        data(old),
        &std::fs::read(&rotated).expect("rotated file"),
        "the rotated generation",
    );
    assert_same_bytes(
        data(new),
        &std::fs::read(&odd).expect("new file"),
        "the new generation",
    );
    assert_eq!(
        old["missing"],
        serde_json::json!([]),
        "nothing left as a hole"
    );
    // The output file is named by the recorded name.
    assert!(
        old["output"]
            .as_str()
            .is_some_and(|o| o.contains("/app-\\xff.log.gen")),
        "{old}"
    );
    assert_eq!(x.files.len(), 3, "{:?}", x.files.keys().collect::<Vec<_>>());
}
