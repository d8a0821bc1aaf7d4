//! Configuration and usage errors: exit 2, and the message names the file and
//! line (for configurations) or the path (for stores and output directories). An error never
//! leaves anything behind: no store is created from a bad configuration, nothing is written
//! into a non-empty output directory.

use crate::support::*;
use std::fs;
use std::path::Path;

const SOURCE: &str = "[[source]]\nid = \"vpn\"\npaths = [\"logs/*.log\"]\n";

/// `check-config` and `run` on `config` must exit 2 with a message that contains
/// `logkeep.toml:LINE` (or toml's own "at line LINE" after the file name) and every one of
/// `words`; `run` must not create the store.
fn check(config: &str, line: usize, words: &[&str]) {
    let site = Site::new(config);
    let file = site.config();
    let file_s = file.display().to_string();
    for cmd in ["check-config", "run"] {
        let run = logkeep(&[cmd.as_ref(), "--config".as_ref(), file.as_os_str()]);
        let msg = &run.stderr;
        assert_eq!(run.code, 2, "{cmd} on:\n{config}\n{run}");
        let located = msg.contains(&format!("{file_s}:{line}:"))
            || msg.contains(&format!("{file_s}: TOML parse error at line {line},"));
        assert!(
            located,
            "{cmd}: the message must name {file_s} line {line}:\n{run}"
        );
        for w in words {
            assert!(
                msg.contains(w),
                "{cmd}: the message must mention {w:?}:\n{run}"
            );
        }
        assert!(
            !site.store().exists(),
            "{cmd} created a store from a bad config"
        );
    }
}

#[test]
fn unknown_key_names_the_key_and_line() {
    check(
        &format!("[store]\npath = \"store\"\nseal_intreval = \"1s\"\n{SOURCE}"),
        3,
        &["seal_intreval"],
    );
}

#[test]
fn unknown_key_in_a_source_names_the_key_and_line() {
    check(
        &format!("[store]\npath = \"store\"\n\n{SOURCE}follow_symlinks = true\n"),
        7,
        &["follow_symlinks"],
    );
}

#[test]
fn unknown_table_names_the_table_and_line() {
    check(
        &format!("[store]\npath = \"store\"\n{SOURCE}\n[output]\nkind = \"s3\"\n"),
        7,
        &["output"],
    );
}

#[test]
fn bad_duration_names_the_key_and_line() {
    check(
        &format!("[store]\npath = \"store\"\n\nseal_interval = \"soon\"\n{SOURCE}"),
        4,
        &["seal_interval", "soon"],
    );
}

#[test]
fn zero_duration_is_rejected() {
    check(
        &format!("[store]\npath = \"store\"\nscan_interval = \"0s\"\n{SOURCE}"),
        3,
        &["scan_interval"],
    );
}

#[test]
fn too_small_segments_are_rejected() {
    check(
        &format!("[store]\npath = \"store\"\nsegment_max_bytes = \"1KiB\"\n{SOURCE}"),
        3,
        &["segment_max_bytes", "4KiB"],
    );
}

#[test]
fn compression_level_out_of_range_is_rejected() {
    check(
        &format!("[store]\npath = \"store\"\ncompression_level = 25\n{SOURCE}"),
        3,
        &["compression_level"],
    );
}

#[test]
fn duplicate_source_id_names_the_second_one() {
    check(
        &format!(
            "[store]\npath = \"store\"\n{SOURCE}\n[[source]]\nid = \"vpn\"\npaths = [\"/var/log/x\"]\n"
        ),
        8,
        &["\"vpn\"", "twice"],
    );
}

#[test]
fn invalid_source_id_is_rejected() {
    check(
        "[store]\npath = \"store\"\n[[source]]\nid = \"../etc\"\npaths = [\"logs/*.log\"]\n",
        4,
        &["../etc"],
    );
}

/// A `listen` source this logkeep cannot run names its line. (Written when `listen` was not
/// supported at all; an unknown scheme is an error whether it is supported or not.)
#[test]
fn a_listen_it_cannot_serve_names_the_line() {
    check(
        &format!(
            "[store]\npath = \"store\"\n{SOURCE}\n[[source]]\nid = \"fw\"\nlisten = \"ftp://0.0.0.0:514\"\n"
        ),
        9,
        &["listen", "\"fw\""],
    );
}

#[test]
fn a_missing_config_file_is_named() {
    let dir = tempfile::tempdir().expect("tmp");
    let file = dir.path().join("absent.toml");
    for cmd in ["check-config", "run"] {
        let run = logkeep(&[cmd.as_ref(), "--config".as_ref(), file.as_os_str()]);
        assert_eq!(run.code, 2, "{run}");
        assert!(run.stderr.contains(&file.display().to_string()), "{run}");
    }
}

#[test]
fn a_config_without_sources_is_rejected() {
    let site = Site::new("[store]\npath = \"store\"\n");
    let run = logkeep(&[
        "check-config".as_ref(),
        "--config".as_ref(),
        site.config().as_os_str(),
    ]);
    assert_eq!(run.code, 2, "{run}");
    assert!(
        run.stderr.contains(&site.config().display().to_string()),
        "{run}"
    );
    assert!(run.stderr.contains("source"), "{run}");
}

/// A valid configuration: exit 0, relative paths resolved against the configuration's
/// directory (not the working directory), and every file the patterns match now listed.
#[test]
fn check_config_accepts_a_valid_config_and_lists_matched_files() {
    let config = format!(
        "# comment\n{FAST_STORE}heartbeat_interval = \"15m\"\ncompression_level = 19\n{}{}",
        source("vpn", &["logs/*.log", "logs/none-*.txt"]),
        source("auth", &["logs/auth.log"])
    );
    let site = Site::new(&config);
    site.append("openvpn.log", b"x\n");
    site.append("auth.log", b"y\n");
    site.append("ignored.txt", b"z\n");
    let run = logkeep(&[
        "check-config".as_ref(),
        "--config".as_ref(),
        site.config().as_os_str(),
    ]);
    assert_eq!(run.code, 0, "{run}");
    let out = &run.stdout;
    assert!(
        out.contains(&format!("[store] path {}\n", site.store().display())),
        "{run}"
    );
    let line = |p: &Path| format!("\n    {}\n", p.display());
    assert!(out.contains(&line(&site.log("openvpn.log"))), "{run}");
    assert!(out.contains(&line(&site.log("auth.log"))), "{run}");
    assert!(!out.contains("ignored.txt"), "{run}");
    assert!(
        out.contains("[[source]] vpn\n") && out.contains("[[source]] auth\n"),
        "{run}"
    );
    assert!(
        out.contains("(0 file(s) now)"),
        "a pattern matching nothing says so: {run}"
    );
    assert!(
        !site.store().exists(),
        "check-config must not create the store"
    );
}

/// Anything that is not a store is a usage error (exit 2) naming the path, for verify and
/// extract alike.
#[test]
fn verify_and_extract_reject_what_is_not_a_store() {
    let dir = tempfile::tempdir().expect("tmp");
    let empty = dir.path().join("empty");
    fs::create_dir(&empty).expect("dir");
    let missing = dir.path().join("missing");
    let out = dir.path().join("out");
    for path in [&empty, &missing] {
        let run = verify(path, &[]);
        assert_eq!(run.code, 2, "verify {}:\n{run}", path.display());
        assert!(run.stderr.contains(&path.display().to_string()), "{run}");
        assert!(run.stdout.is_empty(), "no report for a non-store:\n{run}");
        let run = extract(path, &out);
        assert_eq!(run.code, 2, "extract {}:\n{run}", path.display());
        assert!(run.stderr.contains(&path.display().to_string()), "{run}");
        assert!(!out.exists(), "extract created its output for a non-store");
    }
}

/// An error message says its cause once: `logkeep: error: PATH: CAUSE`, not `PATH: CAUSE: CAUSE`.
#[test]
fn error_messages_say_the_cause_once() {
    let dir = tempfile::tempdir().expect("tmp");
    let empty = dir.path().join("empty");
    fs::create_dir(&empty).expect("dir");
    let busy = dir.path().join("busy");
    fs::create_dir(&busy).expect("dir");
    fs::write(busy.join("keep.txt"), b"mine").expect("write");
    let config = format!("{FAST_STORE}{}", source("vpn", &["logs/*.log"]));
    let mut site = Site::new(&config);
    site.start();
    site.term();
    let file = dir.path().join("file");
    fs::write(&file, b"mine").expect("write");
    let mut repeated = Vec::new();
    for (run, cause) in [
        (verify(&empty, &[]), "not a logkeep store"),
        (extract(&site.store(), &busy), "not empty"),
        (extract(&site.store(), &file), "Not a directory"),
    ] {
        assert_eq!(run.code, 2, "{run}");
        if run.stderr.matches(cause).count() != 1 {
            repeated.push(run.stderr);
        }
    }
    assert!(
        repeated.is_empty(),
        "causes said twice:\n{}",
        repeated.join("")
    );
}

/// A store holding `line`, captured by a daemon that has since stopped cleanly.
fn stopped_store(line: &[u8]) -> Site {
    let config = format!("{FAST_STORE}{}", source("vpn", &["logs/*.log"]));
    let mut site = Site::new(&config);
    site.append("a.log", line);
    site.start();
    site.wait_captured(line.len() as u64);
    site.term();
    site
}

/// The output of extract must be new or empty; a non-empty directory or a file is refused
/// with exit 2, and what is there stays untouched.
#[test]
fn extract_refuses_a_non_empty_output() {
    let site = stopped_store(b"one line\n");

    let dir = tempfile::tempdir().expect("tmp");
    let busy = dir.path().join("busy");
    fs::create_dir(&busy).expect("dir");
    fs::write(busy.join("keep.txt"), b"mine").expect("write");
    let run = extract(&site.store(), &busy);
    assert_eq!(run.code, 2, "{run}");
    assert!(run.stderr.contains(&busy.display().to_string()), "{run}");
    assert!(run.stderr.contains("not empty"), "{run}");
    assert_eq!(walk(&busy), vec![busy.join("keep.txt")], "nothing written");
    assert_eq!(fs::read(busy.join("keep.txt")).expect("read"), b"mine");

    let file = dir.path().join("file");
    fs::write(&file, b"mine").expect("write");
    let run = extract(&site.store(), &file);
    assert_eq!(run.code, 2, "{run}");
    assert_eq!(fs::read(&file).expect("read"), b"mine");

    // An empty directory is fine, once; afterwards it is not empty any more.
    let fresh = dir.path().join("fresh");
    fs::create_dir(&fresh).expect("dir");
    let run = extract(&site.store(), &fresh);
    assert_eq!(run.code, 0, "{run}");
    let run = extract(&site.store(), &fresh);
    assert_eq!(run.code, 2, "{run}");
}

/// Extracting a tampered store writes nothing and exits 1 (unless forced).
#[test]
fn extract_of_a_tampered_store_writes_nothing() {
    let site = stopped_store(b"evidence\n");
    let seg = segment_files(&site.store()).pop().expect("a segment");
    writable(&seg);
    append(&seg, b"x");
    let dir = tempfile::tempdir().expect("tmp");
    let out = dir.path().join("out");
    let run = extract(&site.store(), &out);
    assert_eq!(run.code, 1, "{run}");
    assert!(
        run.fail_lines()
            .iter()
            .any(|l| l.starts_with(&format!("FAIL segments/000000000000/{}: ", file_name(&seg)))),
        "{run}"
    );
    assert!(
        walk(&out).is_empty(),
        "nothing may be extracted: {:?}",
        walk(&out)
    );
}

/// Malformed command lines are usage errors.
#[test]
fn usage_errors_exit_2() {
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path().to_str().expect("utf-8");
    for args in [
        vec!["frobnicate"],
        vec!["verify"],
        vec!["extract", d],
        vec!["verify", d, "--expect-head", "12"],
        vec!["verify", d, "--expect-head", "x:0000"],
        vec!["run", "--no-such-flag"],
    ] {
        let run = logkeep(&args);
        assert_eq!(run.code, 2, "{args:?}:\n{run}");
        assert!(!run.stderr.is_empty(), "{args:?}: say what is wrong");
    }
}

/// A malformed `--expect-head` on a real store that verifies: only the malformed value can
/// make the exit code 2, and the message names the flag.
#[test]
fn malformed_expect_head_on_a_store_that_verifies_is_a_usage_error_naming_the_flag() {
    let site = stopped_store(b"evidence\n");
    assert_verifies(&site.store());
    let head: serde_json::Value =
        serde_json::from_slice(&std::fs::read(site.store().join("head.json")).expect("head.json"))
            .expect("head.json is JSON");
    let (seq, hash) = (
        head["seq"].as_u64().expect("head seq"),
        head["hash"].as_str().expect("head hash").to_owned(),
    );
    // The well-formed head of this very store is accepted.
    let good = format!("{seq}:{hash}");
    let run = verify(&site.store(), &["--expect-head", &good]);
    assert_eq!(run.code, 0, "--expect-head {good}:\n{run}");
    for bad in [
        "12".to_owned(),
        "x:0000".to_owned(),
        format!("x:{hash}"),
        format!("{seq}:{}", &hash[..63]),
        format!("{seq}:{}", hash.to_uppercase()),
    ] {
        let run = verify(&site.store(), &["--expect-head", &bad]);
        assert_eq!(run.code, 2, "--expect-head {bad}:\n{run}");
        assert!(
            run.stderr.contains("--expect-head"),
            "the message names the flag (--expect-head {bad}):\n{run}"
        );
        assert!(
            run.fail_lines().is_empty(),
            "a usage error verifies nothing (--expect-head {bad}):\n{run}"
        );
    }
}

/// Under `--json` an error is JSON too: `{"error": ..., "exit": 2}` on standard output, with
/// exit code 2, for every command with a JSON result.
#[test]
fn json_errors_are_json_with_the_exit_code() {
    let dir = tempfile::tempdir().expect("tmp");
    let absent = dir.path().join("absent");
    let a = absent.to_str().expect("utf-8");
    let bundle = dir.path().join("b.tar");
    let b = bundle.to_str().expect("utf-8");
    let cases: Vec<Vec<&str>> = vec![
        vec!["status", "--json", "--socket", a],
        vec!["snapshot", "--json", "--socket", a],
        vec!["check-config", "--json", "--config", a],
        vec!["media", "list", "--json", "--config", a],
        vec!["media", "init", a, "--id", "usb-a", "--json"],
        vec![
            "export",
            "--json",
            "--store",
            a,
            "--key",
            a,
            "--no-config",
            "--out",
            b,
        ],
        vec![
            "custody", "add", a, "--actor", "x", "--action", "y", "--json",
        ],
    ];
    let mut wrong = Vec::new();
    for c in cases {
        let run = logkeep(&c);
        let v: Option<serde_json::Value> = serde_json::from_str(&run.stdout).ok();
        let ok = run.code == 2
            && v.as_ref().is_some_and(|v| {
                v["exit"] == 2 && v["error"].as_str().is_some_and(|e| e.contains("absent"))
            });
        if !ok {
            wrong.push(format!("{c:?}: {run}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n\n"));
}

/// `check-config | head -1` with more output than a pipe holds: no panic (exit 101), whatever
/// the closed pipe does to the rest of the output.
#[test]
fn check_config_into_a_closed_pipe_does_not_panic() {
    let site = Site::new(&format!("{FAST_STORE}{}", source("many", &["logs/*.log"])));
    for i in 0..3000 {
        fs::write(
            site.log(&format!("file-with-a-long-name-{i:05}.log")),
            b"x\n",
        )
        .expect("log");
    }
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!(
            "'{}' check-config --config '{}' | head -1; exit ${{PIPESTATUS[0]}}",
            crate::support::bin(),
            site.config().display()
        ))
        .output()
        .expect("bash");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_ne!(out.status.code(), Some(101), "{stderr}");
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("config "),
        "{stderr}"
    );
}

#[test]
fn unknown_preset_names_the_value_the_line_and_the_choices() {
    check(
        &format!("[store]\npath = \"store\"\n\n{SOURCE}preset = \"sshd2\"\n"),
        7,
        &["sshd2", "preset", "fortigate", "cisco-asa"],
    );
}
