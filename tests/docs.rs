//! The documentation works as written: every shell example in `README.md` and `docs/*.md` is
//! run by this test, exactly as it stands in the file, against a scratch environment.
//!
//! What runs:
//!
//! - Every ```` ```sh ```` block runs with `sh -eu`, every ```` ```bash ```` block with
//!   `bash -eu -o pipefail`. A block that cannot run here (it installs a package, needs root
//!   and the installed service, runs for minutes) says so in its fence:
//!   ```` ```sh no-run: REASON ````; GitHub still renders it as shell. Such a block is checked
//!   for syntax (`sh -n`) and every `logkeep SUBCOMMAND --flag` in it is checked against that
//!   subcommand's `--help`, so a wrong flag fails even where the example cannot run.
//! - Every ```` ```console ```` block is a transcript: its `$ ` lines run in one
//!   `bash -e -o pipefail` shell (the output shown is not compared: hashes and times differ on
//!   each run; `crates/format/tests/golden.rs` checks the values FORMAT.md shows).
//! - Every ```` ```toml ```` block must parse as TOML.
//! - The English steps of the `VERIFY.txt` of a real bundle run as shell commands.
//!
//! The blocks of one document run in order in one scratch directory holding copies of `config/`
//! and `demo/logs/` (so README's paths work as in a clone of the repository), with the built
//! `logkeep` first on the `PATH`, `TMPDIR` inside the scratch area, and these variables, which
//! the documents name where they use them: `STORE` (a store the real daemon made from the
//! sample logs), `MEDIUM` (a medium holding a copy of it), `BUNDLE` (a bundle exported from
//! it) and `PORT` (a free TCP port on 127.0.0.1). Examples must never write into a store: after
//! every block has run, `STORE`, `MEDIUM` and `BUNDLE` must hold exactly the bytes they held
//! before and still verify, and so must every store the examples made themselves. A block that
//! leaves a process running fails. `sudo`, `apt-get`, `dpkg`, `systemctl`, `cargo` and the like
//! are stand-ins on that `PATH` that fail: an example that needs them must be marked `no-run`.
//!
//! A failure names the block (`FILE:LINE`), the command and everything it printed.

use crate::support::*;
use std::collections::BTreeMap;
use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Commands an example must not run here (they act on the host as root, or build the
/// workspace): the `PATH` the blocks get has a stand-in for each that fails with a hint.
const GUARDED_TOOLS: &[&str] = &[
    "sudo",
    "su",
    "apt",
    "apt-get",
    "dpkg",
    "systemctl",
    "adduser",
    "useradd",
    "cargo",
    "reboot",
];

/// How long one block may run before it is killed and fails.
const BLOCK_DEADLINE: Duration = Duration::from_secs(60);

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repository root")
}

/// The documents whose examples run: README.md, then docs/*.md in name order.
fn documents() -> Vec<PathBuf> {
    let root = root();
    let mut docs: Vec<PathBuf> = fs::read_dir(root.join("docs"))
        .expect("docs/")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    docs.sort();
    docs.insert(0, root.join("README.md"));
    docs
}

/// How a fenced block is treated.
#[derive(Debug, Clone, PartialEq)]
enum Kind {
    /// Run with `sh -eu`.
    Sh,
    /// Run with `bash -eu -o pipefail`.
    Bash,
    /// Not run, for the reason given; syntax and `logkeep` flags are checked.
    NoRun { shell: &'static str, reason: String },
    /// A transcript: its `$ ` lines run.
    Console,
    /// Must parse as TOML.
    Toml,
}

/// One fenced block of a document.
#[derive(Debug, Clone)]
struct Block {
    /// `FILE:LINE` of the opening fence, the file relative to the repository root.
    at: String,
    kind: Kind,
    /// The lines between the fences, each with its final newline.
    body: String,
}

/// The fenced blocks of `text` that this test treats (shell, console, TOML), or the problems
/// with their fences (an unknown marker, a no-run without reason, an unclosed block).
fn blocks(rel: &str, text: &str) -> Result<Vec<Block>, Vec<String>> {
    let mut out = Vec::new();
    let mut problems = Vec::new();
    let mut open: Option<(usize, String, String)> = None;
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        let fence = line.trim_start();
        match &mut open {
            None => {
                if let Some(info) = fence.strip_prefix("```") {
                    open = Some((n, info.trim().to_owned(), String::new()));
                }
            }
            Some((start, info, body)) => {
                if fence.trim_end() == "```" {
                    let at = format!("{rel}:{start}");
                    match kind(info) {
                        Ok(Some(kind)) => out.push(Block {
                            at,
                            kind,
                            body: std::mem::take(body),
                        }),
                        Ok(None) => {}
                        Err(e) => problems.push(format!("{at}: {e}")),
                    }
                    open = None;
                } else {
                    body.push_str(line);
                    body.push('\n');
                }
            }
        }
    }
    if let Some((start, _, _)) = open {
        problems.push(format!("{rel}:{start}: the block is never closed"));
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    }
}

/// What a fence's info string asks for: `None` for blocks this test does not treat.
fn kind(info: &str) -> Result<Option<Kind>, String> {
    let (lang, rest) = info.split_once(char::is_whitespace).unwrap_or((info, ""));
    let rest = rest.trim();
    let shell = match lang {
        "sh" | "shell" => "sh",
        "bash" => "bash",
        "console" => return Ok(Some(Kind::Console)),
        "toml" => return Ok(Some(Kind::Toml)),
        _ => return Ok(None),
    };
    if rest.is_empty() {
        return Ok(Some(if shell == "sh" { Kind::Sh } else { Kind::Bash }));
    }
    match rest.strip_prefix("no-run:") {
        Some(reason) if !reason.trim().is_empty() => Ok(Some(Kind::NoRun {
            shell,
            reason: reason.trim().to_owned(),
        })),
        Some(_) => Err("`no-run:` needs a reason after it".into()),
        None => Err(format!(
            "unknown marker {rest:?}: a shell block is either run or marked `no-run: REASON`"
        )),
    }
}

/// The scratch world the examples run in.
struct Scratch {
    /// Everything below lives here and goes with it.
    dir: tempfile::TempDir,
    /// The site whose daemon made the store (kept for its store, medium and bundle).
    site: Site,
    path: std::ffi::OsString,
    port: u16,
}

/// The sample logs shipped in `demo/logs/`, by file name.
fn demo_logs() -> BTreeMap<String, Vec<u8>> {
    fs::read_dir(root().join("demo/logs"))
        .expect("demo/logs")
        .flatten()
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                fs::read(e.path()).expect("demo log"),
            )
        })
        .collect()
}

impl Scratch {
    /// A store made by the real daemon from the sample logs, a medium holding a copy, a signed
    /// bundle exported from it, and a directory with `logkeep` for the `PATH`.
    fn new() -> Scratch {
        let config = "[store]\n\
            path = \"store\"\n\
            seal_interval = \"200ms\"\n\
            scan_interval = \"50ms\"\n\n\
            [control]\n\
            socket = \"control.sock\"\n\n\
            [[source]]\n\
            id = \"openvpn\"\n\
            paths = [\"logs/openvpn*.log\"]\n\n\
            [[source]]\n\
            id = \"auth\"\n\
            paths = [\"logs/auth.log\"]\n\n\
            [[media]]\n\
            id = \"usb-a\"\n\
            path = \"medium\"\n\n\
            [signing]\n\
            key = \"signing\"\n";
        let mut site = Site::new(config);
        media::init(&site.path("medium"), "usb-a");
        // The signing state first: a daemon whose configured state is missing does not start.
        let cfg = site.config();
        let run = logkeep(&["keygen".as_ref(), "--config".as_ref(), cfg.as_os_str()]);
        assert_eq!(run.code, 0, "keygen for the scratch store:\n{run}");
        site.start();
        let mut total = 0;
        for (name, bytes) in demo_logs() {
            site.append(&name, &bytes);
            total += bytes.len() as u64;
        }
        site.wait_captured(total);
        site.term();
        let cfg = site.config();
        let run = logkeep(&[
            "media".as_ref(),
            "eject".as_ref(),
            "usb-a".as_ref(),
            "--config".as_ref(),
            cfg.as_os_str(),
        ]);
        assert_eq!(run.code, 0, "media eject of the scratch medium:\n{run}");
        let bundle = site.path("case-001.tar");
        let run = logkeep(&[
            "export".as_ref(),
            "--config".as_ref(),
            cfg.as_os_str(),
            "--store".as_ref(),
            site.store().as_os_str(),
            "--out".as_ref(),
            bundle.as_os_str(),
            "--case".as_ref(),
            "2026-001".as_ref(),
        ]);
        assert_eq!(run.code, 0, "export of the scratch bundle:\n{run}");

        let dir = tempfile::tempdir().expect("tmp");
        let bin_dir = dir.path().join("bin");
        fs::create_dir_all(&bin_dir).expect("bin dir");
        std::os::unix::fs::symlink(bin(), bin_dir.join("logkeep")).expect("link logkeep");
        // What must never run from an example that is not marked `no-run`: it fails instead
        // of installing packages, touching the host's services or building the workspace.
        for tool in GUARDED_TOOLS {
            let shim = bin_dir.join(tool);
            fs::write(
                &shim,
                format!(
                    "#!/bin/sh\necho \"{tool}: not run by the documentation test; \
                     mark the block no-run: REASON\" >&2\nexit 2\n"
                ),
            )
            .expect("shim");
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&shim, fs::Permissions::from_mode(0o755)).expect("chmod");
        }
        fs::create_dir_all(dir.path().join("tmp")).expect("tmp dir");
        let mut paths = vec![bin_dir];
        paths.extend(std::env::split_paths(
            &std::env::var_os("PATH").unwrap_or_default(),
        ));
        let path = std::env::join_paths(paths).expect("PATH");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        Scratch {
            dir,
            site,
            path,
            port,
        }
    }

    fn store(&self) -> PathBuf {
        self.site.store()
    }

    fn medium(&self) -> PathBuf {
        self.site.path("medium")
    }

    fn bundle(&self) -> PathBuf {
        self.site.path("case-001.tar")
    }

    /// A fresh working directory for the examples of one document: copies of `config/` and
    /// `demo/logs/`, as in a clone of the repository.
    fn workdir(&self, name: &str) -> PathBuf {
        let wd = self.dir.path().join("docs").join(name);
        fs::create_dir_all(wd.join("demo")).expect("workdir");
        copy_tree(&root().join("config"), &wd.join("config"));
        copy_tree(&root().join("demo/logs"), &wd.join("demo/logs"));
        wd
    }

    /// The environment every block runs in.
    fn command(&self, program: &str, cwd: &Path) -> Command {
        let mut cmd = Command::new(program);
        cmd.current_dir(cwd)
            .env("PATH", &self.path)
            .env("TMPDIR", self.dir.path().join("tmp"))
            .env("STORE", self.store())
            .env("MEDIUM", self.medium())
            .env("BUNDLE", self.bundle())
            .env("PORT", self.port.to_string())
            .env_remove("LOGKEEP_LOG")
            .env_remove("NOTIFY_SOCKET")
            .env_remove("WATCHDOG_USEC")
            .env_remove("WATCHDOG_PID")
            .env_remove("JOURNAL_STREAM")
            .stdin(Stdio::null())
            // Its own process group: whatever the block starts is found and ended with it.
            .process_group(0);
        cmd
    }
}

/// Run `cmd` (a shell on a script) to its end, at most [`BLOCK_DEADLINE`]; stdout and stderr
/// together, in the order written. Afterwards nothing it started may still run.
fn run_block(mut cmd: Command, out_file: &Path) -> Result<String, String> {
    let out = fs::File::create(out_file).expect("output file");
    let err = out.try_clone().expect("dup output");
    let mut child = cmd
        .stdout(out)
        .stderr(err)
        .spawn()
        .map_err(|e| format!("cannot start the shell: {e}"))?;
    let pgid = rustix::process::Pid::from_child(&child);
    let deadline = Instant::now() + BLOCK_DEADLINE;
    let status = loop {
        if let Some(st) = child.try_wait().expect("try_wait") {
            break Some(st);
        }
        if Instant::now() > deadline {
            break None;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    // Anything of the block's process group still alive (a daemon it started in the
    // background and did not stop) is a defect of the example; end it either way.
    let mut leftover = rustix::process::test_kill_process_group(pgid).is_ok();
    if leftover {
        // A process that was exiting as the block ended is given a moment.
        std::thread::sleep(Duration::from_millis(300));
        leftover = rustix::process::test_kill_process_group(pgid).is_ok();
    }
    let _ = rustix::process::kill_process_group(pgid, rustix::process::Signal::KILL);
    if status.is_none() {
        let _ = child.wait();
    }
    let text = String::from_utf8_lossy(&fs::read(out_file).unwrap_or_default()).into_owned();
    match status {
        None => Err(format!(
            "did not finish within {BLOCK_DEADLINE:?}\n--- output ---\n{text}"
        )),
        Some(st) if !st.success() => Err(format!("failed ({st})\n--- output ---\n{text}")),
        Some(_) if leftover => Err(format!(
            "left a process running (stop what the example starts)\n--- output ---\n{text}"
        )),
        Some(_) => Ok(text),
    }
}

/// The commands of a `console` transcript: its `$ ` lines (a line ending in `\` continues on
/// the next).
fn transcript_commands(body: &str) -> String {
    let mut script = String::new();
    let mut continued = false;
    for line in body.lines() {
        if continued {
            script.push_str(line);
            script.push('\n');
            continued = line.ends_with('\\');
        } else if let Some(cmd) = line.strip_prefix("$ ") {
            script.push_str(cmd);
            script.push('\n');
            continued = cmd.ends_with('\\');
        }
    }
    script
}

/// Words of a shell line up to its comment, with `\`-continued lines joined.
fn logical_lines(body: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for line in body.lines() {
        if let Some(part) = line.strip_suffix('\\') {
            cur.push_str(part);
            cur.push(' ');
            continue;
        }
        cur.push_str(line);
        out.push(std::mem::take(&mut cur));
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Every `logkeep SUBCOMMAND ... --flag` in a block that does not run: the subcommand must
/// exist and every flag must be one its `--help` lists.
fn check_logkeep_flags(block: &Block) -> Vec<String> {
    let mut problems = Vec::new();
    for line in logical_lines(&block.body) {
        let code = match line.find(" #") {
            Some(i) => &line[..i],
            None if line.trim_start().starts_with('#') => "",
            None => &line,
        };
        let words: Vec<&str> = code.split_whitespace().collect();
        for (i, w) in words.iter().enumerate() {
            if *w != "logkeep" && !w.ends_with("/logkeep") {
                continue;
            }
            let mut rest = words[i + 1..]
                .iter()
                .take_while(|w| !matches!(**w, "|" | "||" | "&&" | ";" | "&"))
                .copied()
                .skip_while(|w| *w == "--");
            let Some(sub) = rest.next() else { continue };
            if sub.starts_with('-') || !sub.bytes().all(|b| b.is_ascii_lowercase() || b == b'-') {
                continue;
            }
            let rest: Vec<&str> = rest.collect();
            let mut cmd = vec![sub];
            if matches!(sub, "media" | "custody" | "remote")
                && let Some(s) = rest.first()
            {
                cmd.push(s);
            }
            let mut args = cmd.clone();
            args.push("--help");
            let help = logkeep(&args);
            if help.code != 0 {
                problems.push(format!(
                    "{}: `logkeep {}` is not a command:\n{help}",
                    block.at,
                    cmd.join(" ")
                ));
                continue;
            }
            for flag in rest.iter().filter(|w| w.starts_with("--")) {
                let flag = flag.split('=').next().unwrap_or(flag);
                let listed = help
                    .stdout
                    .lines()
                    .any(|l| l.split([' ', ',']).any(|t| t == flag));
                if !listed {
                    problems.push(format!(
                        "{}: `logkeep {}` has no flag {flag}",
                        block.at,
                        cmd.join(" ")
                    ));
                }
            }
        }
    }
    problems
}

/// Every regular file under `dir` (or `dir` itself if it is a file) with its bytes.
fn contents(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let files = if dir.is_file() {
        vec![dir.to_path_buf()]
    } else {
        walk(dir)
    };
    files
        .into_iter()
        .map(|p| {
            let b = fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (p, b)
        })
        .collect()
}

/// What changed between two [`contents`]: files added, removed or changed.
fn changes(before: &BTreeMap<PathBuf, Vec<u8>>, after: &BTreeMap<PathBuf, Vec<u8>>) -> Vec<String> {
    let mut out = Vec::new();
    for (p, b) in after {
        match before.get(p) {
            None => out.push(format!("created {}", p.display())),
            Some(old) if old != b => out.push(format!("changed {}", p.display())),
            Some(_) => {}
        }
    }
    for p in before.keys().filter(|p| !after.contains_key(*p)) {
        out.push(format!("removed {}", p.display()));
    }
    out
}

/// The English steps of VERIFY.txt that are shell commands, with the bundle's real file name
/// for `BUNDLE.tar` and `extracted` for the output directory `DIR`. Notes in parentheses are
/// skipped.
fn verify_txt_commands(text: &str, bundle: &Path) -> String {
    let start = text
        .find("English: how to verify")
        .expect("VERIFY.txt has English steps");
    let mut script = String::new();
    let mut in_note = false;
    let mut seen_step = false;
    for line in text[start..].lines().skip(2) {
        if line.trim().is_empty() {
            if seen_step {
                break;
            }
            continue;
        }
        seen_step = true;
        // The command column starts after the step's label (column 26).
        let cmd = line.get(26..).unwrap_or("").trim();
        if in_note || cmd.starts_with('(') {
            in_note = !cmd.ends_with(')');
            continue;
        }
        // A note may also follow a command on its line, after two spaces.
        let cmd = match cmd.find("  (") {
            Some(i) if cmd.ends_with(')') => cmd[..i].trim_end(),
            _ => cmd,
        };
        if cmd.is_empty() {
            continue;
        }
        let cmd = cmd
            .replace("BUNDLE.tar", &bundle.to_string_lossy())
            .replace("--out DIR", "--out extracted");
        script.push_str(&cmd);
        script.push('\n');
    }
    script
}

#[test]
fn every_shell_example_in_the_documentation_runs_as_written() {
    for (tool, package) in [
        ("zstd", "zstd"),
        ("tar", "tar"),
        ("sha256sum", "coreutils"),
        ("openssl", "openssl"),
        ("xxd", "xxd"),
        ("jq", "jq"),
        ("socat", "socat"),
        ("bash", "bash"),
    ] {
        require_tool(tool, package);
    }
    let scratch = Scratch::new();
    let guarded = [scratch.store(), scratch.medium(), scratch.bundle()];
    let before: Vec<_> = guarded.iter().map(|p| contents(p)).collect();
    let scripts = scratch.dir.path().join("scripts");
    fs::create_dir_all(&scripts).expect("scripts dir");

    let mut failures = Vec::new();
    let mut ran = 0;
    let mut no_run = 0;
    for doc in documents() {
        let rel = doc
            .strip_prefix(root())
            .expect("inside the repository")
            .to_string_lossy()
            .into_owned();
        let text = fs::read_to_string(&doc).unwrap_or_else(|e| panic!("{rel}: {e}"));
        let blocks = match blocks(&rel, &text) {
            Ok(b) => b,
            Err(problems) => {
                failures.extend(problems);
                continue;
            }
        };
        if blocks.is_empty() {
            continue;
        }
        let wd = scratch.workdir(&rel.replace('/', "-"));
        for (i, block) in blocks.iter().enumerate() {
            let script = scripts.join(format!("{}-{i}.sh", rel.replace('/', "-")));
            let (shell, flags, body): (&str, &[&str], String) = match &block.kind {
                Kind::Sh => ("sh", &["-eu"], block.body.clone()),
                Kind::Bash => ("bash", &["-eu", "-o", "pipefail"], block.body.clone()),
                Kind::Console => (
                    "bash",
                    &["-e", "-o", "pipefail"],
                    transcript_commands(&block.body),
                ),
                Kind::NoRun { shell, reason } => {
                    no_run += 1;
                    assert!(!reason.is_empty());
                    fs::write(&script, &block.body).expect("script");
                    let mut cmd = scratch.command(shell, &wd);
                    cmd.arg("-n").arg(&script);
                    if let Err(e) = run_block(cmd, &script.with_extension("out")) {
                        failures.push(format!("{} (no-run, syntax): {e}", block.at));
                    }
                    failures.extend(check_logkeep_flags(block));
                    continue;
                }
                Kind::Toml => {
                    if let Err(e) = block.body.parse::<toml::Table>() {
                        failures.push(format!("{}: not valid TOML: {e}", block.at));
                    }
                    continue;
                }
            };
            if body.trim().is_empty() {
                failures.push(format!("{}: a transcript without `$ ` commands", block.at));
                continue;
            }
            fs::write(&script, &body).expect("script");
            let mut cmd = scratch.command(shell, &wd);
            cmd.args(flags).arg(&script);
            ran += 1;
            if let Err(e) = run_block(cmd, &script.with_extension("out")) {
                failures.push(format!(
                    "{}: `{shell} {}` {e}\n--- the block ---\n{body}",
                    block.at,
                    flags.join(" ")
                ));
            }
        }
    }

    // VERIFY.txt, as an investigator without logkeep follows it.
    let wd = scratch.dir.path().join("verify-txt");
    fs::create_dir_all(&wd).expect("verify-txt dir");
    let out = sh(
        "tar -xOf \"$1\" --wildcards '*/VERIFY.txt'",
        &[&scratch.bundle()],
    );
    let steps = verify_txt_commands(&String::from_utf8_lossy(&out), &scratch.bundle());
    assert!(
        steps.lines().count() >= 5,
        "VERIFY.txt: too few commands found:\n{steps}"
    );
    let script = scripts.join("VERIFY.txt.sh");
    fs::write(&script, &steps).expect("script");
    let mut cmd = scratch.command("sh", &wd);
    cmd.arg("-eu").arg(&script);
    ran += 1;
    match run_block(cmd, &script.with_extension("out")) {
        Err(e) => failures.push(format!("VERIFY.txt (English steps): {e}\n{steps}")),
        Ok(out) => {
            // Format 2 bundles are checked by their script (it ends with "OK:"); format 1
            // bundles by openssl's own words.
            if !out.contains("OK: the bundle verified")
                && !out.contains("Signature Verified Successfully")
            {
                failures.push(format!(
                    "VERIFY.txt's signature step did not verify:\n{out}"
                ));
            }
        }
    }

    // Every store the examples made or ran a daemon on (README's demo/store, the worked
    // example's...) still verifies: an example that unpacked or wrote a file into one fails.
    let made: Vec<PathBuf> = walk(&scratch.dir.path().join("docs"))
        .into_iter()
        .filter(|p| file_name(p) == "logkeep-store.json")
        .filter_map(|p| p.parent().map(Path::to_path_buf))
        .collect();
    if made.is_empty() {
        failures.push("no example made a store: were the blocks run?".into());
    }
    for store in made {
        let run = verify(&store, &[]);
        if run.code != 0 {
            failures.push(format!(
                "{}: a store the examples made no longer verifies:\n{run}",
                store.display()
            ));
        }
    }

    // Nothing wrote into the store, the medium or the bundle, and all still verify.
    for (p, old) in guarded.iter().zip(&before) {
        let now = contents(p);
        let diff = changes(old, &now);
        if !diff.is_empty() {
            failures.push(format!("an example wrote into {}: {diff:?}", file_name(p)));
        }
        let run = verify(p, &[]);
        if run.code != 0 {
            failures.push(format!("{} no longer verifies:\n{run}", p.display()));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of the documentation's examples failed:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
    assert!(
        ran >= 10 && no_run >= 1,
        "only {ran} examples ran ({no_run} marked no-run): were the blocks found?"
    );
}

#[test]
fn fences_are_read_as_the_documentation_means_them() {
    let doc = "text\n```sh\necho a\n```\n```sh no-run: needs root\nsudo x\n```\n\
               ```console\n$ ls \\\n  -l\nout\n$ pwd\n```\n```json\n{}\n```\n```toml\na = 1\n```\n";
    let b = blocks("X.md", doc).expect("well-formed");
    let kinds: Vec<&Kind> = b.iter().map(|b| &b.kind).collect();
    assert_eq!(
        kinds,
        vec![
            &Kind::Sh,
            &Kind::NoRun {
                shell: "sh",
                reason: "needs root".into()
            },
            &Kind::Console,
            &Kind::Toml
        ]
    );
    assert_eq!(b[0].at, "X.md:2");
    assert_eq!(transcript_commands(&b[2].body), "ls \\\n  -l\npwd\n");
    for bad in [
        "```sh no-run\nx\n```\n",
        "```sh norun: x\nx\n```\n",
        "```sh\nx\n",
    ] {
        assert!(blocks("X.md", bad).is_err(), "{bad:?} must be refused");
    }
}

#[test]
fn wrong_logkeep_flags_in_blocks_that_do_not_run_are_found() {
    let block = |body: &str| Block {
        at: "X.md:1".into(),
        kind: Kind::NoRun {
            shell: "sh",
            reason: "r".into(),
        },
        body: body.into(),
    };
    assert!(
        check_logkeep_flags(&block(
            "sudo logkeep snapshot --reason \"x\"   # --bogus in a comment\n\
             cargo run -p logkeep -- run --config c.toml\n\
             systemctl enable --now logkeep\n\
             logkeep media eject usb-a \\\n    --config /etc/logkeep/logkeep.toml\n"
        ))
        .is_empty()
    );
    let wrong = check_logkeep_flags(&block("sudo logkeep export --out x --stor y\n"));
    assert_eq!(wrong.len(), 1, "{wrong:?}");
    assert!(wrong[0].contains("--stor"), "{wrong:?}");
    let wrong = check_logkeep_flags(&block("logkeep snaphot\n"));
    assert_eq!(wrong.len(), 1, "{wrong:?}");
    let wrong = check_logkeep_flags(&block("logkeep media ejetc usb-a\n"));
    assert_eq!(wrong.len(), 1, "{wrong:?}");
}

#[test]
fn verify_txt_steps_are_read_from_the_command_column() {
    let text = "x\nEnglish: how to verify\n----------------------\n\
        1. Unpack:                tar -xf BUNDLE.tar && cd d\n\
        2. Hashes:                sha256sum -c SHA256SUMS        (every line must say OK)\n\
        \x20                         (a note\n\
        \x20                         over two lines)\n\
        6. With logkeep:          logkeep extract BUNDLE.tar --out DIR\n\
        \n\
        custody.jsonl ...\n";
    assert_eq!(
        verify_txt_commands(text, Path::new("/b/c.tar")),
        "tar -xf /b/c.tar && cd d\nsha256sum -c SHA256SUMS\nlogkeep extract /b/c.tar --out extracted\n"
    );
}
