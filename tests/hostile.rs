//! Hostile and wrong inputs to `verify`, `extract` and `list`: a store, a medium or a bundle
//! from a disk that was plugged into a compromised host (links, FIFOs, devices, directories and
//! oversized files where a file belongs), paths that are not a store at all, and a standard
//! output that closes early. Every run here is bounded in time and in memory: a command that
//! follows a link to `/dev/zero`, blocks on a FIFO or reads a huge file fails the test instead
//! of hanging it.

use crate::support::bundle::run;
use crate::support::{FAST_STORE, Site, file_name, segment_files, source};
use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// How long one command on a hostile input may take.
const BOUND: Duration = Duration::from_secs(20);

/// Address space a command on a hostile input may use: a read of a 64 MiB file, or of
/// `/dev/zero`, without a bound would not fit.
const MEMORY: &str = "600000000";

/// What a bounded run did.
struct Ran {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Ran {
    fn text(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

impl std::fmt::Display for Ran {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {:?}\n--- stdout ---\n{}--- stderr ---\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// Run `logkeep ARGS` under the time bound and the memory bound.
fn bounded<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Ran {
    let mut cmd = Command::new("prlimit");
    cmd.arg(format!("--as={MEMORY}"))
        .arg("--")
        .arg(crate::support::bin())
        .args(args);
    let out = run(&mut cmd, None, BOUND);
    Ran {
        code: out.code,
        stdout: out.stdout,
        stderr: out.stderr,
    }
}

/// A stopped store of two sources and several segments, made once per test.
fn store() -> Site {
    let config = format!(
        "{FAST_STORE}{}{}",
        source("vpn", &["logs/vpn*.log"]),
        source("rdp", &["logs/rdp.log"])
    );
    let mut site = Site::new(&config);
    let mut total = 0;
    site.start();
    for round in 0..4 {
        for name in ["vpn.log", "rdp.log"] {
            let line = format!("{name} round {round}: {}\n", "x".repeat(3000));
            site.append(name, line.as_bytes());
            total += line.len() as u64;
        }
        site.wait_captured(total);
    }
    site.term();
    site
}

/// A fresh copy of `from` under `dir`, with every file writable so that it can be spoiled.
fn copy_store(from: &Path, to: &Path) {
    let status = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .expect("cp");
    assert!(status.success(), "cp -a");
    let status = Command::new("chmod")
        .args(["-R", "u+w"])
        .arg(to)
        .status()
        .expect("chmod");
    assert!(status.success(), "chmod");
}

/// What can sit where a file of the layout belongs.
#[derive(Clone, Copy, Debug)]
enum Hostile {
    Fifo,
    Device,
    LinkToDevice,
    LinkToCopy,
    LinkToDir,
    Dir,
    Oversized,
}

const ALL: [Hostile; 7] = [
    Hostile::Fifo,
    Hostile::Device,
    Hostile::LinkToDevice,
    Hostile::LinkToCopy,
    Hostile::LinkToDir,
    Hostile::Dir,
    Hostile::Oversized,
];

impl Hostile {
    /// Words the report must use for it.
    fn named(self) -> &'static str {
        match self {
            Hostile::Fifo => "a FIFO",
            Hostile::Device => "a character device",
            Hostile::LinkToDevice | Hostile::LinkToCopy | Hostile::LinkToDir => "a symbolic link",
            Hostile::Dir => "a directory",
            Hostile::Oversized => "bytes",
        }
    }

    /// Put it at `path` (which holds the right file now); `outside` is a directory out of the
    /// store where a link may lead.
    fn plant(self, path: &Path, outside: &Path) {
        let name = path.file_name().expect("name").to_owned();
        let copy = outside.join(&name);
        if self.is_link() || matches!(self, Hostile::Oversized) {
            fs::copy(path, &copy).expect("copy outside");
        }
        fs::remove_file(path).expect("remove the right file");
        match self {
            Hostile::Fifo => mkfifo(path),
            Hostile::Device => {
                let st = Command::new("mknod")
                    .arg(path)
                    .args(["c", "1", "5"])
                    .status()
                    .expect("mknod");
                assert!(
                    st.success(),
                    "mknod needs root (the suite runs as root here)"
                );
            }
            Hostile::LinkToDevice => symlink("/dev/zero", path).expect("symlink"),
            Hostile::LinkToCopy => symlink(&copy, path).expect("symlink"),
            Hostile::LinkToDir => symlink(outside, path).expect("symlink"),
            Hostile::Dir => fs::create_dir(path).expect("mkdir"),
            Hostile::Oversized => {
                // The right bytes, then a sparse tail far past what the format allows.
                fs::copy(&copy, path).expect("copy back");
                let f = fs::OpenOptions::new().write(true).open(path).expect("open");
                f.set_len(64 << 20).expect("grow");
            }
        }
    }

    fn is_link(self) -> bool {
        matches!(
            self,
            Hostile::LinkToDevice | Hostile::LinkToCopy | Hostile::LinkToDir
        )
    }
}

fn mkfifo(path: &Path) {
    let st = Command::new("mkfifo").arg(path).status().expect("mkfifo");
    assert!(st.success(), "mkfifo");
}

/// Every file a store holds, by its path relative to the store: the identity, the head hint,
/// the first and the last record, the first and the last segment.
fn places(store: &Path) -> Vec<String> {
    let rel = |p: &PathBuf| {
        p.strip_prefix(store)
            .expect("inside")
            .to_str()
            .expect("utf-8")
            .to_owned()
    };
    let records = crate::support::record_files(store);
    let segments = segment_files(store);
    assert!(segments.len() >= 2, "the fixture has several segments");
    vec![
        "logkeep-store.json".into(),
        "head.json".into(),
        rel(records.first().expect("a record")),
        rel(records.last().expect("a record")),
        rel(segments.first().expect("a segment")),
        rel(segments.last().expect("a segment")),
    ]
}

/// In every place a store holds a file, every kind of hostile file: verify, extract and list
/// end in time and memory, exit 1 (2 for the identity file, without which nothing can be
/// judged), and name the file and what it is; nothing is followed.
#[test]
fn a_store_file_that_is_not_a_regular_file_is_named_and_never_followed() {
    let site = store();
    let good = site.store();
    let places = places(&good);
    let arena = tempfile::tempdir().expect("tmp");
    let mut wrong = Vec::new();
    let mut n = 0;
    // mknod needs root; without it a device is reached through a link (LinkToDevice), which
    // is what a non-root verifier would meet on a disk anyway.
    let kinds: Vec<Hostile> = if crate::support::control::is_root() {
        ALL.to_vec()
    } else {
        eprintln!("not root: a device node in the store is tried through a link only");
        ALL.into_iter()
            .filter(|k| !matches!(k, Hostile::Device))
            .collect()
    };
    for place in &places {
        for &kind in &kinds {
            n += 1;
            let store = arena.path().join(format!("store-{n}"));
            let outside = arena.path().join(format!("outside-{n}"));
            fs::create_dir(&outside).expect("outside");
            copy_store(&good, &store);
            kind.plant(&store.join(place), &outside);
            let want = if place == "logkeep-store.json" { 2 } else { 1 };
            let out = arena.path().join(format!("out-{n}"));
            for args in [
                vec!["verify".into(), store.clone().into_os_string()],
                vec![
                    "extract".into(),
                    store.clone().into_os_string(),
                    "--out".into(),
                    out.clone().into_os_string(),
                ],
                vec!["list".into(), store.clone().into_os_string()],
            ] {
                let r = bounded(&args);
                let text = r.text();
                let file = Path::new(place)
                    .file_name()
                    .and_then(|f| f.to_str())
                    .expect("name");
                let named = text
                    .lines()
                    .any(|l| l.contains(file) && l.contains(kind.named()));
                if r.code != Some(want) || !named || text.contains("panicked") {
                    wrong.push(format!(
                        "{place} as {kind:?}: {:?} wants exit {want} and a line naming {file} as {:?}\n{r}",
                        args[0],
                        kind.named()
                    ));
                }
            }
            assert!(
                !out.exists(),
                "{place} as {kind:?}: extract wrote output without --force"
            );
        }
    }
    assert!(
        wrong.is_empty(),
        "{} cases wrong:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

/// The layout's directories and names that are links, FIFOs or directories where a file
/// belongs: each is a problem, none is followed.
#[test]
fn layout_entries_of_the_wrong_type_are_problems() {
    let site = store();
    let good = site.store();
    let arena = tempfile::tempdir().expect("tmp");
    let outside = arena.path().join("outside");
    copy_store(&good, &outside);
    type Spoil = fn(&Path, &Path);
    let cases: Vec<(&str, Spoil, &str)> = vec![
        (
            "chain/ is a link to a copy",
            |s, o| {
                fs::remove_dir_all(s.join("chain")).expect("rm");
                symlink(o.join("chain"), s.join("chain")).expect("ln");
            },
            "FAIL chain: is a symbolic link",
        ),
        (
            "segments/ is a link to a copy",
            |s, o| {
                fs::remove_dir_all(s.join("segments")).expect("rm");
                symlink(o.join("segments"), s.join("segments")).expect("ln");
            },
            "FAIL segments: is a symbolic link",
        ),
        (
            "a FIFO named like the next record",
            |s, _| mkfifo(&crate::support::store::record_path(s, 9999)),
            "FAIL chain/000000000000/0000000000009999.json: is a FIFO",
        ),
        (
            "a link to /dev/zero named like a segment",
            |s, _| {
                let name = format!("0000000000009999-{}.tar.zst", "a".repeat(64));
                let at = crate::support::store::segment_path(s, &name);
                symlink("/dev/zero", at).expect("ln");
            },
            "is a symbolic link, not a regular file",
        ),
        (
            "wal/ is a FIFO",
            |s, _| mkfifo(&s.join("wal")),
            "FAIL wal: is a FIFO",
        ),
        (
            "chain/ is missing",
            |s, _| fs::remove_dir_all(s.join("chain")).expect("rm"),
            "FAIL chain: missing",
        ),
    ];
    let mut wrong = Vec::new();
    for (i, (label, spoil, want)) in cases.into_iter().enumerate() {
        let store = arena.path().join(format!("store-{i}"));
        copy_store(&good, &store);
        spoil(&store, &outside);
        let r = bounded(&["verify".as_ref(), store.as_os_str()]);
        if r.code != Some(1) || !r.stdout.contains(want) {
            wrong.push(format!("{label}: wants exit 1 and {want:?}\n{r}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// A medium's own files (its identity, the head it saw) of the wrong type: verifying the
/// medium names them, and `verify --against MEDIUM` neither follows nor waits on them.
#[test]
fn a_medium_with_files_of_the_wrong_type_is_contained() {
    let site = store();
    let arena = tempfile::tempdir().expect("tmp");
    let mut wrong = Vec::new();
    for (i, name) in ["logkeep-medium.json", "seen-head.json", "head.json"]
        .into_iter()
        .enumerate()
    {
        for kind in [Hostile::Fifo, Hostile::LinkToDevice, Hostile::Oversized] {
            let medium = arena.path().join(format!("medium-{i}-{kind:?}"));
            copy_store(&site.store(), &medium);
            let outside = arena.path().join(format!("outside-{i}-{kind:?}"));
            fs::create_dir(&outside).expect("outside");
            let p = medium.join(name);
            if !p.exists() {
                fs::write(&p, b"{}").expect("write");
            }
            kind.plant(&p, &outside);
            let r = bounded(&["verify".as_ref(), medium.as_os_str()]);
            if r.code != Some(1) || !r.stdout.lines().any(|l| l.contains(name)) {
                wrong.push(format!("verify of a medium with {name} as {kind:?}\n{r}"));
            }
            let r = bounded(&[
                "verify".as_ref(),
                site.store().as_os_str(),
                "--against".as_ref(),
                medium.as_os_str(),
            ]);
            if r.code.is_none() || r.code == Some(101) || r.text().contains("panicked") {
                wrong.push(format!(
                    "verify --against a medium with {name} as {kind:?}\n{r}"
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// What is not a store, a medium or a bundle is a usage error (exit 2) that says so and why:
/// never an integrity verdict, never raw bytes, never a bare "No such file or directory".
#[test]
fn wrong_inputs_are_usage_errors_that_say_why() {
    let site = store();
    let arena = tempfile::tempdir().expect("tmp");
    let a = arena.path();
    let empty = a.join("empty.tar");
    fs::write(&empty, b"").expect("write");
    let segment = segment_files(&site.store()).pop().expect("a segment");
    let record = crate::support::record_files(&site.store())
        .pop()
        .expect("a record");
    let plain = a.join("plain");
    fs::create_dir(&plain).expect("mkdir");
    fs::write(plain.join("notes.txt"), b"mine").expect("write");
    let fifo = a.join("fifo");
    mkfifo(&fifo);
    let zero = a.join("zero");
    symlink("/dev/zero", &zero).expect("ln");
    let cases: Vec<(PathBuf, &str)> = vec![
        (a.join("missing"), "does not exist"),
        (empty, "the file is empty"),
        (segment, "a zstd file"),
        (record, "a JSON file"),
        (plain, "a directory without logkeep-store.json"),
        (
            site.store().join("chain"),
            "is the chain/ directory of a store",
        ),
        (fifo, "it is a FIFO"),
        (zero, "it is a character device"),
    ];
    let mut wrong = Vec::new();
    for (path, why) in cases {
        let out = a.join("out");
        for args in [
            vec!["verify".into(), path.clone().into_os_string()],
            vec![
                "extract".into(),
                path.clone().into_os_string(),
                "--out".into(),
                out.clone().into_os_string(),
            ],
            vec!["list".into(), path.clone().into_os_string()],
        ] {
            let r = bounded(&args);
            let says = r.stderr.contains(&path.display().to_string()) && r.stderr.contains(why);
            let raw = r
                .stdout
                .bytes()
                .chain(r.stderr.bytes())
                .any(|b| b < 0x20 && b != b'\n');
            if r.code != Some(2) || !says || raw || !r.stdout.is_empty() {
                wrong.push(format!(
                    "{:?} {}: wants exit 2 and {why:?}\n{r}",
                    args[0],
                    path.display()
                ));
            }
        }
        assert!(
            !out.exists(),
            "extract created its output for {}",
            path.display()
        );
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));

    // A store whose identity is fine but whose content is damaged is judged: exit 1.
    let damaged = a.join("damaged");
    copy_store(&site.store(), &damaged);
    let seg = segment_files(&damaged).pop().expect("segment");
    fs::write(&seg, b"not a segment").expect("spoil");
    let r = bounded(&["verify".as_ref(), damaged.as_os_str()]);
    assert_eq!(r.code, Some(1), "{r}");

    // With --json the error is JSON too, and still exit 2.
    let r = bounded(&[
        "verify".as_ref(),
        a.join("missing").as_os_str(),
        "--json".as_ref(),
    ]);
    assert_eq!(r.code, Some(2), "{r}");
    let v: serde_json::Value = serde_json::from_str(&r.stdout).expect("JSON error");
    assert_eq!(v["ok"], false, "{r}");
    assert!(
        v["error"]["what"]
            .as_str()
            .is_some_and(|w| w.contains("does not exist")),
        "{r}"
    );
}

/// A bundle path that is a FIFO: refused at once, exit 2. A bundle whose first header promises
/// a GNU long name of 100 MiB: refused before it is read (the tar library would hold it all
/// in memory), exit 1 naming it.
#[test]
fn a_bundle_path_that_is_a_special_file_or_a_memory_bomb_is_refused() {
    let arena = tempfile::tempdir().expect("tmp");
    let bomb = arena.path().join("bomb.tar");
    let mut h = tar::Header::new_gnu();
    h.set_path("././@LongLink").expect("path");
    h.set_entry_type(tar::EntryType::GNULongName);
    h.set_size(100 << 20);
    h.set_cksum();
    fs::write(&bomb, h.as_bytes()).expect("write");
    let f = fs::OpenOptions::new()
        .write(true)
        .open(&bomb)
        .expect("open");
    f.set_len((100 << 20) + 4096).expect("sparse");
    for cmd in ["verify", "list"] {
        let r = bounded(&[cmd.as_ref(), bomb.as_os_str()]);
        assert_eq!(r.code, Some(1), "{cmd}: {r}");
        assert!(r.stdout.contains("long-name"), "{cmd}: {r}");
    }
    let fifo = arena.path().join("case.tar");
    mkfifo(&fifo);
    for args in [
        vec!["verify".as_ref(), fifo.as_os_str()],
        vec!["list".as_ref(), fifo.as_os_str()],
    ] {
        let r = bounded(&args);
        assert_eq!(r.code, Some(2), "{r}");
        assert!(r.stderr.contains("it is a FIFO"), "{r}");
    }
}

/// A standard output that is closed before the command writes: it ends quietly with its own
/// exit code (the verdict), not a panic (101) and not a broken-pipe message.
#[test]
fn a_closed_standard_output_keeps_the_exit_code() {
    let site = store();
    let damaged = tempfile::tempdir().expect("tmp");
    let bad = damaged.path().join("bad");
    copy_store(&site.store(), &bad);
    fs::write(segment_files(&bad).pop().expect("segment"), b"x").expect("spoil");
    let config = site.config();
    let good = site.store();
    let cases: Vec<(Vec<&std::ffi::OsStr>, i32)> = vec![
        (vec!["verify".as_ref(), good.as_os_str()], 0),
        (vec!["verify".as_ref(), bad.as_os_str()], 1),
        (vec!["list".as_ref(), good.as_os_str()], 0),
        (
            vec!["verify".as_ref(), bad.as_os_str(), "--json".as_ref()],
            1,
        ),
        (
            vec![
                "check-config".as_ref(),
                "--config".as_ref(),
                config.as_os_str(),
            ],
            0,
        ),
    ];
    for (args, want) in cases {
        let (reader, writer) = std::io::pipe().expect("pipe");
        drop(reader);
        let out = Command::new(crate::support::bin())
            .args(&args)
            .stdin(Stdio::null())
            .stdout(writer)
            .stderr(Stdio::piped())
            .output()
            .expect("run");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(want), "{args:?}: {stderr}");
        assert!(
            !stderr.contains("panicked") && !stderr.contains("Broken pipe"),
            "{args:?}: {stderr}"
        );
    }
}

/// `logkeep verify STORE | head -1` and `check-config | head -1` through a real pipe: the first
/// line arrives, and the command's exit code is its own.
#[test]
fn head_dash_1_gets_the_first_line_and_the_exit_code_stays() {
    let site = store();
    let arena = tempfile::tempdir().expect("tmp");
    // Many problems make a report longer than a pipe's buffer.
    let bad = arena.path().join("bad");
    copy_store(&site.store(), &bad);
    for i in 0..3000 {
        fs::write(bad.join(format!("extra-{i:05}")), b"x").expect("extra");
    }
    let script = r#""$1" verify "$2" | head -1; echo "exit ${PIPESTATUS[0]}"
"$1" check-config --config "$3" | head -1; echo "exit ${PIPESTATUS[0]}"
"$1" list "$4" | head -1; echo "exit ${PIPESTATUS[0]}""#;
    let mut cmd = Command::new("bash");
    cmd.arg("-c")
        .arg(script)
        .arg("bash")
        .arg(crate::support::bin())
        .arg(&bad)
        .arg(site.config())
        .arg(site.store());
    let out = run(&mut cmd, None, BOUND);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 6, "{}", out.describe());
    assert!(lines[0].starts_with("FAIL "), "{}", out.describe());
    assert_eq!(lines[1], "exit 1", "{}", out.describe());
    assert_eq!(lines[3], "exit 0", "{}", out.describe());
    assert_eq!(lines[5], "exit 0", "{}", out.describe());
    assert!(
        !out.stderr.contains("panicked") && !out.stderr.contains("Broken pipe"),
        "{}",
        out.describe()
    );
}

/// A captured file whose name carries a terminal escape, a forged report line and invalid
/// UTF-8: `list`, `extract` (console and index) and `verify --json` print it escaped, one line
/// per entry, and the only verdict line is the real one.
#[test]
fn hostile_file_names_are_printed_escaped() {
    use std::os::unix::ffi::OsStrExt;
    let config = format!("{FAST_STORE}{}", source("vpn", &["logs/*.log"]));
    let mut site = Site::new(&config);
    let name = std::ffi::OsStr::from_bytes(b"x\x1b[2J\nOK: the store verified\n\xff.log");
    let data = b"line\n".repeat(20);
    fs::write(site.path("logs").join(name), &data).expect("write");
    site.start();
    site.wait_captured(data.len() as u64);
    site.term();
    let arena = tempfile::tempdir().expect("tmp");
    let out = arena.path().join("out");
    let runs = [
        bounded(&["list".as_ref(), site.store().as_os_str()]),
        bounded(&[
            "extract".as_ref(),
            site.store().as_os_str(),
            "--out".as_ref(),
            out.as_os_str(),
        ]),
        bounded(&["list".as_ref(), site.store().as_os_str(), "--json".as_ref()]),
    ];
    for r in &runs {
        assert_eq!(r.code, Some(0), "{r}");
        let raw = r
            .stdout
            .bytes()
            .chain(r.stderr.bytes())
            .any(|b| (b < 0x20 && b != b'\n') || b == 0x7f);
        assert!(!raw, "a control byte reached the terminal:\n{r}");
        assert!(
            r.stdout.lines().filter(|l| l.starts_with("OK:")).count() <= 1,
            "a forged verdict line:\n{r}"
        );
    }
    assert!(
        runs[0]
            .stdout
            .contains(r"x\u{001B}[2J\nOK: the store verified\n"),
        "{}",
        runs[0]
    );
    // The index holds the original path exactly (JSON escapes it), and the output file exists.
    let index = fs::read_to_string(out.join("logkeep-extract.jsonl")).expect("index");
    let line: serde_json::Value =
        serde_json::from_str(index.lines().next().expect("a line")).expect("JSON");
    let output = line["output"].as_str().expect("output");
    assert_eq!(fs::read(out.join(output)).expect("output"), data);
}

/// A medium whose segments are links to the store's own files (a disk prepared by someone who
/// wants the evidence gone): they are not copies, so retention never prunes the store's
/// segments on their account. Followed, the links would have counted, and pruning would have
/// left only dangling links.
#[test]
fn links_on_a_medium_are_not_copies_for_retention() {
    let arena = tempfile::tempdir().expect("tmp");
    let medium = arena.path().join("usb");
    let config = format!(
        "[store]\npath = \"store\"\nseal_interval = \"200ms\"\nscan_interval = \"100ms\"\n\
         segment_max_bytes = \"4KiB\"\nretain_local = \"1s\"\nmin_copies = 1\n\
         [[source]]\nid = \"vpn\"\npaths = [\"logs/*.log\"]\n\
         [[media]]\nid = \"usb-a\"\npath = \"{}\"\n",
        medium.display()
    );
    let mut site = Site::new(&config);
    site.start();
    let mut total = 0;
    for round in 0..3 {
        let data = format!("evidence {round} {}\n", "e".repeat(5000));
        site.append("a.log", data.as_bytes());
        total += data.len() as u64;
        site.wait_captured(total);
    }
    site.term();
    let store = site.store();
    let before = segment_files(&store);
    assert!(before.len() >= 2, "several segments");

    // The medium: its identity, the store's chain copied, and links where segments belong.
    crate::support::media::init(&medium, "usb-a");
    copy_store(&store.join("chain"), &medium.join("chain"));
    for f in ["logkeep-store.json", "head.json"] {
        fs::copy(store.join(f), medium.join(f)).expect("copy");
    }
    fs::create_dir(medium.join("segments")).expect("mkdir");
    for seg in &before {
        let at = crate::support::store::segment_path(&medium, &file_name(seg));
        fs::create_dir_all(at.parent().expect("shard")).expect("mkdir");
        symlink(seg, at).expect("link");
    }
    site.start();
    // Past the first retention check (as the media tests wait for it).
    std::thread::sleep(Duration::from_secs(7));
    site.term();
    assert!(
        !crate::support::record_texts(&store)
            .iter()
            .any(|r| r.contains("\"kind\":\"pruned\"")),
        "pruned on the strength of links"
    );
    assert_eq!(
        segment_files(&store),
        before,
        "every segment is still in the store"
    );
    let r = bounded(&["verify".as_ref(), medium.as_os_str()]);
    assert_eq!(r.code, Some(1), "the medium's links are problems:\n{r}");
    assert!(r.stdout.contains("is a symbolic link"), "{r}");
}
