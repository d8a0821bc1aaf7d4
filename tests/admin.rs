//! What an administrator does besides running the daemon: export with nothing overwritten and
//! the installed configuration found, `media init` and `check-config` telling the truth, and
//! `--json` on every command with a result.

use crate::support::bundle::*;
use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};

/// Build an argument list from mixed strings and paths.
fn args(parts: &[&dyn AsRef<std::ffi::OsStr>]) -> Vec<OsString> {
    parts.iter().map(|p| p.as_ref().to_os_string()).collect()
}

/// A small stopped store of one source.
fn store() -> Capture {
    let mut cap = Capture::start(&[("vpn", "openvpn.log")]);
    cap.append("openvpn.log", &log_bytes(7, 3000, false));
    cap.stop();
    cap
}

/// `logkeep export --store S --key K --out OUT` plus `extra`.
fn export(cap: &Capture, key: &Key, out: &Path, extra: &[&dyn AsRef<std::ffi::OsStr>]) -> Output {
    let mut a = args(&[
        &"export",
        &"--store",
        &cap.store,
        &"--key",
        &key.path,
        &"--out",
        &out,
        &"--no-config",
    ]);
    a.extend(args(extra));
    logkeep(a)
}

fn companion(bundle: &Path) -> PathBuf {
    let mut name = bundle.file_name().unwrap().to_os_string();
    name.push(".custody.jsonl");
    bundle.with_file_name(name)
}

#[test]
fn export_never_overwrites_without_force_and_never_the_config_key_or_store() {
    let cap = store();
    let dir = cap.root.path().to_owned();
    let key = Key::generate(&dir, "host");
    let out = dir.join("case-001.tar");
    export(&cap, &key, &out, &[]).expect(0);
    let bundle = fs::read(&out).unwrap();
    let log = fs::read(companion(&out)).unwrap();

    // Again to the same name: refused, and the bundle with its custody log is intact.
    let again = export(&cap, &key, &out, &[]);
    again.expect(2);
    assert!(
        again.stderr.contains("exists") && again.stderr.contains("--force"),
        "{}",
        again.describe()
    );
    assert_eq!(fs::read(&out).unwrap(), bundle, "the bundle was replaced");
    assert_eq!(
        fs::read(companion(&out)).unwrap(),
        log,
        "its custody log was replaced"
    );

    // A custody log left without its bundle is not overwritten either.
    let lonely = dir.join("case-002.tar");
    fs::write(companion(&lonely), b"kept\n").unwrap();
    export(&cap, &key, &lonely, &[]).expect(2);
    assert!(!lonely.exists());
    assert_eq!(fs::read(companion(&lonely)).unwrap(), b"kept\n");

    // With --force it is replaced (a new bundle id, so new bytes), with a new custody log.
    let forced = export(&cap, &key, &out, &[&"--force"]);
    forced.expect(0);
    assert_ne!(fs::read(&out).unwrap(), bundle);
    logkeep(args(&[&"verify", &out])).expect(0);

    // Never the configuration, the key, or a file in the store, even with --force.
    let config_before = fs::read(&cap.config).unwrap();
    let key_before = fs::read(key.path.join("root.pub")).unwrap();
    let store_file = cap.store.join("logkeep-store.json");
    let store_before = fs::read(&store_file).unwrap();
    let cases: Vec<(&str, PathBuf, Vec<OsString>)> = vec![
        (
            "the loaded configuration",
            cap.config.clone(),
            args(&[
                &"export",
                &"--store",
                &cap.store,
                &"--key",
                &key.path,
                &"--config",
                &cap.config,
                &"--force",
                &"--out",
                &cap.config,
            ]),
        ),
        (
            "the key",
            key.path.clone(),
            args(&[
                &"export",
                &"--store",
                &cap.store,
                &"--key",
                &key.path,
                &"--no-config",
                &"--force",
                &"--out",
                &key.path,
            ]),
        ),
        (
            "a store file",
            store_file.clone(),
            args(&[
                &"export",
                &"--store",
                &cap.store,
                &"--key",
                &key.path,
                &"--no-config",
                &"--force",
                &"--out",
                &store_file,
            ]),
        ),
        (
            "a new file inside the store",
            cap.store.join("segments/new.tar"),
            args(&[
                &"export",
                &"--store",
                &cap.store,
                &"--key",
                &key.path,
                &"--no-config",
                &"--force",
                &"--out",
                &cap.store.join("segments/new.tar"),
            ]),
        ),
    ];
    let mut wrong = Vec::new();
    for (label, target, a) in cases {
        let run = logkeep(a);
        if run.code != Some(2) || !run.stderr.contains("even with --force") {
            wrong.push(format!(
                "{label}: expected exit 2, refused even with --force\n{}",
                run.describe()
            ));
        }
        if label.starts_with("a new") && target.exists() {
            wrong.push(format!("{label}: written"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n\n"));
    assert_eq!(fs::read(&cap.config).unwrap(), config_before);
    assert_eq!(fs::read(key.path.join("root.pub")).unwrap(), key_before);
    assert_eq!(fs::read(&store_file).unwrap(), store_before);
    crate::support::store::assert_verifies(&cap.store);
}

#[test]
fn export_uses_the_configuration_and_says_which_and_json() {
    let cap = store();
    let dir = cap.root.path().to_owned();
    let key = Key::generate(&dir, "configured");
    // A configuration naming the key: export takes the key, the inventory and the file itself
    // from it, and says so.
    let config = dir.join("with-key.toml");
    let mut text = fs::read_to_string(&cap.config).unwrap();
    text = text.replace(
        "path = \"store\"",
        &format!("path = {:?}", cap.store.display().to_string()),
    );
    text.push_str(&format!(
        "\n[signing]\nkey = {:?}\n",
        key.path.display().to_string()
    ));
    fs::write(&config, text).unwrap();
    let out = dir.join("configured.tar");
    let run = logkeep(args(&[
        &"export",
        &"--store",
        &cap.store,
        &"--config",
        &config,
        &"--out",
        &out,
        &"--json",
    ]));
    run.expect(0);
    let v: serde_json::Value = serde_json::from_str(&run.stdout).expect("export --json");
    assert_eq!(
        v["key_fingerprint"].as_str(),
        Some(key.fingerprint.as_str()),
        "{v}"
    );
    assert!(
        v["config"].as_str().unwrap().contains("with-key.toml"),
        "{v}"
    );
    assert_eq!(
        v["sha256"].as_str(),
        Some(sha256sum_hex(&fs::read(&out).unwrap()).as_str())
    );
    let b = Bundle::parse(&fs::read(&out).unwrap());
    assert_eq!(b.get("config/logkeep.toml"), fs::read(&config).unwrap());
    assert!(
        String::from_utf8_lossy(b.get("inventory/devices.json")).contains("vpn-gw-1"),
        "the inventory is in the bundle"
    );
    // The text form names the configuration used too.
    let out2 = dir.join("configured-2.tar");
    let run = logkeep(args(&[
        &"export",
        &"--store",
        &cap.store,
        &"--config",
        &config,
        &"--out",
        &out2,
    ]));
    run.expect(0);
    assert!(
        run.stdout
            .lines()
            .any(|l| l.starts_with("config:") && l.contains("with-key.toml")),
        "{}",
        run.describe()
    );
    // Errors under --json are JSON too, with the exit code.
    let run = logkeep(args(&[
        &"export",
        &"--store",
        &cap.store,
        &"--config",
        &config,
        &"--out",
        &out2,
        &"--json",
    ]));
    run.expect(2);
    let v: serde_json::Value = serde_json::from_str(&run.stdout).expect("error as JSON");
    assert!(v["error"].as_str().unwrap().contains("exists"), "{v}");
    assert_eq!(v["exit"], 2);
}

#[test]
fn snapshot_prints_the_head_as_expect_head_takes_it() {
    use crate::support::control::started;
    let (mut site, _open) = started("");
    site.append("a.log", b"one line\n");
    let config = site.config();
    let run = crate::support::store::logkeep(&[
        "snapshot".as_ref(),
        "--config".as_ref(),
        config.as_os_str(),
    ]);
    assert_eq!(run.code, 0, "{run}");
    let head = run
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("expect-head: "))
        .unwrap_or_else(|| panic!("no expect-head line:\n{run}"))
        .to_owned();
    let json = crate::support::store::logkeep(&[
        "snapshot".as_ref(),
        "--json".as_ref(),
        "--config".as_ref(),
        config.as_os_str(),
    ]);
    assert_eq!(json.code, 0, "{json}");
    let v: serde_json::Value = serde_json::from_str(&json.stdout).expect("snapshot --json");
    let json_head = v["expect_head"].as_str().expect("expect_head").to_owned();
    assert_eq!(
        json_head,
        format!(
            "{}:{}",
            v["head"]["seq"],
            v["head"]["hash"].as_str().unwrap()
        )
    );
    site.term();
    // Both, exactly as printed, are what verify --expect-head takes.
    for h in [head, json_head] {
        let run = crate::support::store::verify(&site.store(), &["--expect-head", &h]);
        assert_eq!(run.code, 0, "--expect-head {h}: {run}");
    }
}

#[test]
fn media_init_suggests_valid_toml_with_an_absolute_path() {
    let dir = tempfile::tempdir().unwrap();
    // A name TOML must escape, given relative to the working directory.
    let name = "usb \"a\"\\b";
    fs::create_dir(dir.path().join(name)).unwrap();
    let mut cmd = std::process::Command::new(crate::support::bin());
    cmd.current_dir(dir.path())
        .args(["media", "init", name, "--id", "usb-a", "--force"]);
    let out = run(&mut cmd, None, STEP);
    out.expect(0);
    let at = out
        .stdout
        .find("[[media]]")
        .unwrap_or_else(|| panic!("no [[media]] suggestion\n{}", out.describe()));
    let suggestion: toml::Table = toml::from_str(&out.stdout[at..])
        .unwrap_or_else(|e| panic!("not valid TOML: {e}\n{}", out.describe()));
    let media = suggestion["media"].as_array().expect("[[media]]");
    assert_eq!(media[0]["id"].as_str(), Some("usb-a"));
    let path = media[0]["path"].as_str().expect("path");
    assert!(Path::new(path).is_absolute(), "{path}");
    assert_eq!(
        Path::new(path),
        fs::canonicalize(dir.path().join(name)).unwrap()
    );
}

#[test]
fn media_init_and_extract_never_write_into_a_store() {
    let cap = store();
    let inside = cap.store.join("new-medium");
    fs::create_dir(&inside).unwrap();
    let run = logkeep(args(&[
        &"media", &"init", &inside, &"--id", &"usb-a", &"--force",
    ]));
    run.expect(2);
    assert!(run.stderr.contains("inside a store"), "{}", run.describe());
    assert_eq!(fs::read_dir(&inside).unwrap().count(), 0);
    fs::remove_dir(&inside).unwrap();
    // extract into a new directory inside the store: refused, nothing created.
    let out = cap.store.join("extracted");
    let run = logkeep(args(&[&"extract", &cap.store, &"--out", &out]));
    run.expect(2);
    assert!(run.stderr.contains("inside a store"), "{}", run.describe());
    assert!(!out.exists());
    crate::support::store::assert_verifies(&cap.store);
    // keygen does not replace an existing key.
    let key = cap.root.path().join("k.pem");
    logkeep(args(&[&"keygen", &"--key", &key])).expect(0);
    let before = fs::read(key.join("root.pub")).unwrap();
    logkeep(args(&[&"keygen", &"--key", &key])).expect(2);
    assert_eq!(fs::read(key.join("root.pub")).unwrap(), before);
}

/// `check-config --config FILE` plus `extra`, on a site.
fn check_config(site: &crate::support::Site, extra: &[&str]) -> crate::support::Run {
    let config = site.config();
    let mut a: Vec<&std::ffi::OsStr> = vec![
        "check-config".as_ref(),
        "--config".as_ref(),
        config.as_os_str(),
    ];
    a.extend(extra.iter().map(|s| std::ffi::OsStr::new(*s)));
    crate::support::store::logkeep(&a)
}

#[test]
fn check_config_fails_for_what_will_fail_and_names_the_field() {
    use crate::support::{FAST_STORE, Site, source};
    let base = |extra: &str| format!("{FAST_STORE}{}{extra}", source("vpn", &["logs/*.log"]));
    let mut wrong = Vec::new();
    let mut expect = |label: &str, site: &Site, code: i32, want: &str| {
        let run = check_config(site, &[]);
        if run.code != code || !run.stdout.contains(want) {
            wrong.push(format!("{label}: expected exit {code} and {want:?}\n{run}"));
        }
    };
    // A socket directory that does not exist (the daemon does not create it).
    let site = Site::new(&base(
        "\n[control]\nsocket = \"no-such-dir/control.sock\"\n",
    ));
    site.append("a.log", b"x\n");
    expect(
        "socket directory missing",
        &site,
        2,
        "PROBLEM: [control] socket",
    );
    // A store that cannot be created: its parent is a file.
    let site = Site::new(&base("").replace("path = \"store\"", "path = \"file/store\""));
    site.append("a.log", b"x\n");
    fs::write(site.path("file"), b"not a directory").unwrap();
    expect("store not creatable", &site, 2, "PROBLEM: [store] path");
    // A medium present but holding another medium.
    let site = Site::new(&base("\n[[media]]\nid = \"usb-a\"\npath = \"usb\"\n"));
    site.append("a.log", b"x\n");
    crate::support::media::init(&site.path("usb"), "usb-b");
    expect("another medium", &site, 2, "PROBLEM: [[media]] usb-a");
    // Warnings are printed, exit 0: a pattern matching nothing, a key not made yet, a medium
    // not initialised.
    let site = Site::new(&format!(
        "{}\n[signing]\nkey = \"no-key.pem\"\n[[media]]\nid = \"usb-a\"\npath = \"usb\"\n",
        base("")
    ));
    fs::create_dir(site.path("usb")).unwrap();
    expect(
        "nothing matched",
        &site,
        0,
        "warning: [[source]] vpn pattern",
    );
    expect("no key", &site, 0, "warning: [signing] key");
    expect(
        "medium not initialised",
        &site,
        0,
        "warning: [[media]] usb-a",
    );
    expect("warnings counted", &site, 0, "is valid, with ");
    assert!(wrong.is_empty(), "{}", wrong.join("\n\n"));
    // A valid configuration says valid only when nothing will fail, and lists every section.
    let key = site.path("key.pem");
    crate::support::store::logkeep(&["keygen", "--key", key.to_str().unwrap()]);
    let site = Site::new(&format!(
        "{}\n[control]\nsocket = \"ctl.sock\"\n[signing]\nkey = {:?}\n[[media]]\nid = \"usb-a\"\npath = \"usb\"\n[inventory]\norganisation = \"Example K.K.\"\n",
        base(""),
        key.to_str().unwrap()
    ));
    site.append("a.log", b"x\n");
    crate::support::media::init(&site.path("usb"), "usb-a");
    let run = check_config(&site, &[]);
    assert_eq!(run.code, 0, "{run}");
    for want in [
        "[store] path ",
        "[control] socket ",
        "[signing] key ",
        "a directory of signing state (format v2), readable by ",
        "[[source]] vpn",
        "[[media]] usb-a",
        "present: medium usb-a, writable",
        "[inventory] organisation Example K.K.",
        "is valid\n",
    ] {
        assert!(run.stdout.contains(want), "{want:?} missing\n{run}");
    }
    assert!(!run.stdout.contains("warning"), "{run}");
    // --json: the same findings, and errors as JSON.
    let run = check_config(&site, &["--json"]);
    assert_eq!(run.code, 0, "{run}");
    let v: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON");
    assert_eq!(v["valid"], true, "{v}");
    assert_eq!(v["media"][0]["state"], "present", "{v}");
    assert_eq!(
        v["sources"][0]["patterns"][0]["files"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    fs::remove_file(site.config()).unwrap();
    let run = check_config(&site, &["--json"]);
    assert_eq!(run.code, 2, "{run}");
    let v: serde_json::Value = serde_json::from_str(&run.stdout).expect("error as JSON");
    assert!(v["error"].as_str().unwrap().contains("logkeep.toml"), "{v}");
}

#[test]
fn check_config_lists_every_file_the_daemon_captures_escaped() {
    use crate::support::{FAST_STORE, Site, source};
    use std::os::unix::ffi::OsStrExt;
    let mut site = Site::new(&format!("{FAST_STORE}{}", source("app", &["logs/*"])));
    let names: Vec<&[u8]> = vec![
        b"plain.log",
        b"esc\x1b[2J.log",
        b"cr\rFAIL.log",
        b"nl\nconfig x is valid.log",
        b"bad\xff\xfe.log",
    ];
    for n in &names {
        fs::write(
            site.path("logs").join(std::ffi::OsStr::from_bytes(n)),
            b"line\n",
        )
        .unwrap();
    }
    let run = check_config(&site, &[]);
    assert_eq!(run.code, 0, "{run}");
    assert!(
        run.stdout
            .contains(&format!("({} file(s) now)", names.len())),
        "every name listed, UTF-8 or not\n{run}"
    );
    assert!(
        !run.stdout.bytes().any(|b| b == 0x1b || b == b'\r'),
        "raw control bytes printed\n{run}"
    );
    for n in &names {
        let p = site.path("logs").join(std::ffi::OsStr::from_bytes(n));
        let shown = logkeep_format::shown::path(&p);
        assert!(
            run.stdout.lines().any(|l| l.trim() == shown),
            "{shown} not on a line of its own\n{run}"
        );
    }
    // Exactly what the daemon captures: as many files, under the same names.
    site.start();
    site.wait_captured(5 * names.len() as u64);
    site.term();
    let captured: std::collections::BTreeSet<String> =
        crate::support::store::records(&site.store())
            .iter()
            .filter(|r| r["event"]["kind"] == "segment")
            .flat_map(|r| {
                r["event"]["spans"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                    .into_iter()
                    .map(|s| s["path"].as_str().unwrap_or_default().to_owned())
            })
            .collect();
    assert_eq!(captured.len(), names.len(), "{captured:?}");
}

#[test]
fn man_pages_and_completions_name_every_command_and_ship_in_the_package() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_logkeep-docs"));
    cmd.arg(dir.path());
    run(&mut cmd, None, STEP).expect(0);
    let help = logkeep(args(&[&"--help"]));
    help.expect(0);
    let commands: Vec<String> = help
        .stdout
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .map(str::to_owned)
        .collect();
    assert!(commands.len() >= 10, "{commands:?}\n{}", help.describe());
    let man = fs::read_to_string(dir.path().join("man/logkeep.1")).expect("logkeep.1");
    let completions: Vec<String> = ["logkeep.bash", "_logkeep", "logkeep.fish"]
        .iter()
        .map(|f| fs::read_to_string(dir.path().join("completions").join(f)).expect(f))
        .collect();
    let mut missing = Vec::new();
    for c in &commands {
        // roff writes each hyphen as `\-`.
        if !man.contains(&format!("logkeep\\-{}(1)", c.replace('-', "\\-"))) {
            missing.push(format!("logkeep.1 does not name {c}"));
        }
        let page = dir.path().join(format!("man/logkeep-{c}.1"));
        if !page.exists() {
            missing.push(format!("no {}", page.display()));
        }
        for (f, text) in ["bash", "zsh", "fish"].iter().zip(&completions) {
            if !text.contains(c.as_str()) {
                missing.push(format!("the {f} completion lacks {c}"));
            }
        }
    }
    // Options reach the pages too.
    let export = fs::read_to_string(dir.path().join("man/logkeep-export.1")).unwrap();
    if !export.contains("\\-\\-force") {
        missing.push("logkeep-export.1 lacks --force".into());
    }
    assert!(missing.is_empty(), "{}", missing.join("\n"));
    // The package ships them (scripts/deb-build generates them where these assets point;
    // scripts/deb-check installs the package and checks them in place).
    let manifest =
        fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml")).unwrap();
    for want in [
        "\"usr/share/man/man1/\"",
        "usr/share/bash-completion/completions/logkeep",
        "usr/share/zsh/vendor-completions/_logkeep",
        "usr/share/fish/vendor_completions.d/logkeep.fish",
    ] {
        assert!(manifest.contains(want), "the package lacks {want}");
    }
}

#[test]
fn no_color_turns_colours_off_on_a_terminal() {
    // `script` gives the command a terminal; a debug line is logged because no daemon answers.
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("c.toml");
    fs::write(
        &config,
        "[store]\npath = \"store\"\n[control]\nsocket = \"ctl.sock\"\n[[source]]\nid = \"a\"\npaths = [\"/nonexistent/*.log\"]\n",
    )
    .unwrap();
    let line = |no_color: bool| {
        let mut cmd = std::process::Command::new("script");
        cmd.arg("-qec")
            .arg(format!(
                "{} media list --config '{}'",
                crate::support::bin(),
                config.display()
            ))
            .arg("/dev/null")
            .env("LOGKEEP_LOG", "debug");
        if no_color {
            cmd.env("NO_COLOR", "1");
        } else {
            cmd.env_remove("NO_COLOR");
        }
        let out = run(&mut cmd, None, STEP);
        out.expect(0);
        assert!(out.stdout.contains("DEBUG"), "{}", out.describe());
        out.stdout
    };
    assert!(
        line(false).contains('\u{1b}'),
        "colours on a terminal (else this test proves nothing)"
    );
    assert!(!line(true).contains('\u{1b}'), "NO_COLOR set: no colours");
}

#[test]
fn check_config_tries_the_listen_addresses() {
    use crate::support::{FAST_STORE, Site};
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let site = Site::new(&format!(
        "{FAST_STORE}\n[[source]]\nid = \"fw\"\nlisten = \"tcp://127.0.0.1:{port}\"\n"
    ));
    let run = check_config(&site, &[]);
    assert_eq!(run.code, 0, "{run}");
    assert!(
        run.stdout
            .contains("warning: [[source]] fw listen tcp://127.0.0.1:")
            && run.stdout.contains("cannot be bound now"),
        "{run}"
    );
    drop(taken);
    let run = check_config(&site, &["--json"]);
    assert_eq!(run.code, 0, "{run}");
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(v["sources"][0]["bindable"], true, "{v}");
}

#[test]
fn check_config_lists_the_rotated_copies_a_new_store_captures() {
    use crate::support::{FAST_STORE, Site, source};
    let mut site = Site::new(&format!("{FAST_STORE}{}", source("app", &["logs/a.log"])));
    site.append("a.log.1", b"the generation before\n");
    site.append("a.log", b"the current one\n");
    let gz = std::process::Command::new("bash")
        .arg("-c")
        .arg("printf 'two generations ago\\n' | gzip -n > a.log.2.gz")
        .current_dir(site.path("logs"))
        .status()
        .expect("gzip");
    assert!(gz.success());
    let run = check_config(&site, &[]);
    assert_eq!(run.code, 0, "{run}");
    let listed: std::collections::BTreeSet<String> = run
        .stdout
        .lines()
        .filter(|l| l.starts_with("    /"))
        .map(|l| l.trim().to_owned())
        .collect();
    assert!(run.stdout.contains("and 2 rotated copies"), "{run}");
    site.start();
    site.wait_captured(
        ("the generation before\n".len()
            + "the current one\n".len()
            + "two generations ago\n".len()) as u64,
    );
    site.term();
    let captured: std::collections::BTreeSet<String> =
        crate::support::store::records(&site.store())
            .iter()
            .filter(|r| r["event"]["kind"] == "segment")
            .flat_map(|r| {
                r["event"]["spans"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                    .into_iter()
                    .map(|s| s["path"].as_str().unwrap_or_default().to_owned())
            })
            .collect();
    assert_eq!(listed, captured, "check-config:\n{run}");
}
