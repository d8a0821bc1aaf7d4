//! Byte-exact capture (PRODUCT.md §4 "Byte-exact"): logkeep stores byte ranges, not lines, so
//! whatever a source wrote — empty lines, CRLF, NUL bytes, invalid UTF-8, a 10 MiB line, a last
//! line without a newline that is completed later — comes back from `extract` unchanged.

use crate::util::*;

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
