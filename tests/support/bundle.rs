//! Support for the evidence-bundle tests: a real daemon run that fills a store, child processes
//! with deadlines, the external tools an investigator uses, and a member-level model of a bundle
//! tar so that tests can tamper with it the way an attacker would.

use logkeep_format::Sha256;
use logkeep_format::bundle::{BundleInfo, CustodyEntry};
use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tempfile::TempDir;

use super::daemon::Daemon;
pub use super::require_tool;

/// Deadline of a single command. Generous because the machine is shared with other test runs;
/// a command that overruns it is killed and the test fails, so no test can hang.
pub const STEP: Duration = Duration::from_secs(120);

/// What a finished command did.
pub struct Output {
    /// What ran, for messages.
    pub what: String,
    /// Exit code (`None`: killed by a signal).
    pub code: Option<i32>,
    /// Standard output, raw.
    pub raw: Vec<u8>,
    /// Standard output as text.
    pub stdout: String,
    /// Standard error as text.
    pub stderr: String,
    /// Wall time taken.
    pub elapsed: Duration,
}

impl Output {
    /// Everything about the run, for assertion messages.
    pub fn describe(&self) -> String {
        format!(
            "{}\nexit: {:?} after {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.what, self.code, self.elapsed, self.stdout, self.stderr
        )
    }

    /// Assert the exit code; returns self for chaining.
    #[track_caller]
    pub fn expect(&self, code: i32) -> &Self {
        assert_eq!(
            self.code,
            Some(code),
            "unexpected exit code\n{}",
            self.describe()
        );
        assert!(
            !self.stderr.contains("panicked"),
            "the program panicked\n{}",
            self.describe()
        );
        self
    }

    /// The `FAIL <member>: <what>` lines of a verification report.
    pub fn fail_lines(&self) -> Vec<&str> {
        self.stdout
            .lines()
            .filter(|l| l.starts_with("FAIL "))
            .collect()
    }
}

/// Run `cmd` to completion, feeding it `input`, and kill it if it takes longer than `limit`.
pub fn run(cmd: &mut Command, input: Option<Vec<u8>>, limit: Duration) -> Output {
    let what = format!("{cmd:?}");
    cmd.stdin(if input.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let start = Instant::now();
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
    // Readers and the writer run on their own threads so that a full pipe never blocks the
    // child while this thread waits for it.
    let feeder = input.map(|data| {
        let mut stdin = child.stdin.take().expect("stdin is piped");
        std::thread::spawn(move || {
            // A child that exits without reading everything closes the pipe: not our concern.
            let _ = stdin.write_all(&data);
        })
    });
    let mut out_pipe = child.stdout.take().expect("stdout is piped");
    let mut err_pipe = child.stderr.take().expect("stderr is piped");
    let out_reader = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out_pipe.read_to_end(&mut v);
        v
    });
    let err_reader = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err_pipe.read_to_end(&mut v);
        v
    });
    let status = loop {
        if let Some(s) = child.try_wait().expect("waiting for a child") {
            break s;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not finish within {limit:?}: killed");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let elapsed = start.elapsed();
    if let Some(f) = feeder {
        let _ = f.join();
    }
    let raw = out_reader.join().unwrap_or_default();
    let err = err_reader.join().unwrap_or_default();
    Output {
        what,
        code: status.code(),
        stdout: String::from_utf8_lossy(&raw).into_owned(),
        raw,
        stderr: String::from_utf8_lossy(&err).into_owned(),
        elapsed,
    }
}

/// Run the product with `args`.
pub fn logkeep<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut cmd = Command::new(super::bin());
    cmd.args(args).env("LOGKEEP_LOG", "warn");
    run(&mut cmd, None, STEP)
}

/// Run a shell pipeline in `cwd` with `pipefail`, so that a failing first stage is not hidden by
/// a succeeding last one.
pub fn bash(script: &str, cwd: &Path) -> Output {
    require_tool("bash", "bash");
    let mut cmd = Command::new("bash");
    cmd.arg("-o")
        .arg("pipefail")
        .arg("-c")
        .arg(script)
        .current_dir(cwd);
    run(&mut cmd, None, STEP)
}

/// Every tool the bundle tests use, checked up front so a missing one fails with its package.
pub fn require_investigator_tools() {
    for (tool, pkg) in [
        ("tar", "tar"),
        ("sha256sum", "coreutils"),
        ("tail", "coreutils"),
        ("head", "coreutils"),
        ("openssl", "openssl"),
        ("zstd", "zstd"),
        ("bash", "bash"),
    ] {
        require_tool(tool, pkg);
    }
}

/// Deterministic log content that exercises byte exactness: long and empty lines, CR, NUL,
/// invalid UTF-8 and, when `last_line_open`, no final newline.
pub fn log_bytes(seed: u64, len: usize, last_line_open: bool) -> Vec<u8> {
    let mut rng = super::Rng::new(seed);
    let mut next = move || rng.next();
    let mut out = Vec::with_capacity(len + 64);
    let mut line = 0u64;
    while out.len() < len {
        line += 1;
        match next() % 9 {
            0 => out.push(b'\n'),
            1 => out.extend_from_slice(b"bin \x00\xff\xfe\xc3\x28 \r\n"),
            _ => {
                let n = (next() % 300) as usize;
                out.extend_from_slice(format!("seed {seed} line {line} ").as_bytes());
                out.extend((0..n).map(|i| b'a' + ((i as u64 + line) % 26) as u8));
                out.push(b'\n');
            }
        }
    }
    out.truncate(len);
    if last_line_open {
        if let Some(l) = out.last_mut() {
            *l = b'x';
        }
    } else if let Some(l) = out.last_mut() {
        *l = b'\n';
    }
    out
}

/// A store filled by the real daemon from log files the test writes.
pub struct Capture {
    /// Everything lives here: config, logs, store, bundles, outputs.
    pub root: TempDir,
    /// The configuration file.
    pub config: PathBuf,
    /// The store directory.
    pub store: PathBuf,
    daemon: Option<Daemon>,
    daemon_log: PathBuf,
}

impl Capture {
    /// Write a configuration with one source per `(id, file name)`, each file under `logs/`,
    /// and start `logkeep run` on it. Segments are small and sealed quickly so that a few
    /// writes give many segments.
    pub fn start(sources: &[(&str, &str)]) -> Capture {
        Capture::start_with(sources, "")
    }

    /// As [`Capture::start`], with `extra` appended to the configuration (a listener source).
    pub fn start_with(sources: &[(&str, &str)], extra: &str) -> Capture {
        let root = tempfile::Builder::new()
            .prefix("lk-bundle-")
            .tempdir()
            .expect("temp dir");
        fs::create_dir(root.path().join("logs")).expect("logs dir");
        let mut text = String::from(
            "# written by the bundle tests\n[store]\npath = \"store\"\nseal_interval = \"200ms\"\n\
             scan_interval = \"100ms\"\nsegment_max_bytes = \"4KiB\"\n",
        );
        for (id, file) in sources {
            text.push_str(&format!(
                "\n[[source]]\nid = \"{id}\"\npaths = [\"logs/{file}\"]\n"
            ));
        }
        // Devices the police ask about; they must reach inventory/devices.json.
        text.push_str(
            "\n[inventory]\norganisation = \"Example K.K.\"\n\n[[inventory.device]]\n\
             name = \"vpn-gw-1\"\nmodel = \"ExampleVPN 9000\"\npatch_status = \"2026-10 firmware\"\n",
        );
        text.push_str(extra);
        let config = root.path().join("logkeep.toml");
        fs::write(&config, text).expect("write config");
        let daemon_log = root.path().join("daemon.log");
        let log = fs::File::create(&daemon_log).expect("daemon log");
        let child = Daemon::spawn(
            Command::new(super::bin())
                .arg("run")
                .arg("--config")
                .arg(&config)
                .env("LOGKEEP_LOG", "info")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log),
        );
        let mut c = Capture {
            store: root.path().join("store"),
            root,
            config,
            daemon: Some(child),
            daemon_log,
        };
        // The start and config records show the daemon is up and owns the store.
        c.wait_until("the daemon's first records", |c| {
            super::store::record_path(&c.store, 2).exists()
        });
        c
    }

    /// Absolute path of a log file.
    pub fn log_path(&self, file: &str) -> PathBuf {
        self.root.path().join("logs").join(file)
    }

    /// Append `data` to a log file and wait until the daemon has sealed all of it.
    pub fn append(&mut self, file: &str, data: &[u8]) {
        let path = self.log_path(file);
        let mut f = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .expect("open log");
        f.write_all(data).expect("append to log");
        drop(f);
        let len = fs::metadata(&path).expect("log size").len();
        let shown = path.display().to_string();
        self.wait_until(&format!("{len} bytes of {shown} sealed"), |c| {
            c.sealed_end(&shown) >= len
        });
    }

    /// The furthest offset of `path` that a segment record commits.
    pub fn sealed_end(&self, path: &str) -> u64 {
        let mut end = 0;
        for (_, json, _) in self.records() {
            if json["event"]["kind"] == "segment" {
                for s in json["event"]["spans"].as_array().into_iter().flatten() {
                    if s["path"] == path {
                        end = end.max(s["end"].as_u64().unwrap_or(0));
                    }
                }
            }
        }
        end
    }

    /// Every committed record: sequence number, parsed JSON, exact bytes.
    pub fn records(&self) -> Vec<(u64, serde_json::Value, Vec<u8>)> {
        let mut out = Vec::new();
        for p in super::store::record_files(&self.store) {
            let name = super::store::file_name(&p);
            let Some(seq) = name
                .strip_suffix(".json")
                .and_then(|s| s.parse::<u64>().ok())
            else {
                continue;
            };
            let bytes = fs::read(&p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()));
            // The store renames complete files into place, so a record is never half there.
            let json = serde_json::from_slice(&bytes).expect("a committed record is JSON");
            out.push((seq, json, bytes));
        }
        out
    }

    fn wait_until(&mut self, what: &str, mut done: impl FnMut(&Capture) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if done(self) {
                return;
            }
            if let Some(child) = self.daemon.as_mut()
                && let Some(status) = child.exited()
            {
                panic!(
                    "the daemon exited ({status}) while waiting for {what}:\n{}",
                    fs::read_to_string(&self.daemon_log).unwrap_or_default()
                );
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; daemon log:\n{}",
                fs::read_to_string(&self.daemon_log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stop the daemon with SIGTERM, as systemd does, and require a clean exit.
    pub fn stop(&mut self) {
        let daemon = self.daemon.take().expect("the daemon is running");
        daemon.stop(rustix::process::Signal::TERM, &|| {
            fs::read_to_string(&self.daemon_log).unwrap_or_default()
        });
    }

    /// The head a bundle exported just now links to: the record before the last, since an
    /// export ends the epoch that signed it.
    pub fn sealed_head(&self) -> (u64, String) {
        // An export ends the epoch that signed it: the statement of the next one follows the
        // bundle's head in the store.
        // The store's own head (head.json agreeing) is the statement after it.
        let (last, _) = self.head();
        let records = self.records();
        assert_eq!(records.last().map(|r| r.0), Some(last));
        assert!(
            matches!(records.last(), Some((_, r, _)) if r["event"]["kind"] == "epoch"),
            "an export ends with the next epoch's statement"
        );
        let (seq, _, bytes) = &records[records.len() - 2];
        (*seq, sha256sum_hex(bytes))
    }

    /// The store's head as the store itself states it: the last record file's sequence number
    /// and its SHA-256 computed by `sha256sum`, checked against `head.json`.
    pub fn head(&self) -> (u64, String) {
        let records = self.records();
        let (seq, _, bytes) = records.last().expect("the store has records");
        let hash = sha256sum_hex(bytes);
        let hint: serde_json::Value =
            serde_json::from_slice(&fs::read(self.store.join("head.json")).expect("head.json"))
                .expect("head.json is JSON");
        assert_eq!(
            hint["seq"].as_u64(),
            Some(*seq),
            "head.json names the last record"
        );
        assert_eq!(hint["hash"].as_str(), Some(hash.as_str()), "head.json hash");
        (*seq, hash)
    }
}

/// SHA-256 as `sha256sum` prints it: the independent reference, not the product's code.
pub fn sha256sum_hex(data: &[u8]) -> String {
    let mut cmd = Command::new("sha256sum");
    let out = run(&mut cmd, Some(data.to_vec()), STEP);
    out.expect(0);
    out.stdout
        .split_whitespace()
        .next()
        .expect("sha256sum prints a digest")
        .to_owned()
}

/// A signing state made by `logkeep keygen`, plus its root key in a form `openssl` can sign
/// with (a forger holding the root, or another host's root).
pub struct Key {
    /// The signing state directory logkeep wrote.
    pub path: PathBuf,
    /// The fingerprint keygen printed.
    pub fingerprint: String,
    /// The root private key as a PKCS#8 v1 DER file.
    pub der: PathBuf,
    /// The root public key as `openssl pkey -pubout` derives it.
    pub public_pem: String,
    /// Epoch 1's secret, read from the state before any export destroys it: what an intruder
    /// who copied the state then holds (the key of the bundles' signing epoch).
    pub epoch1: ed25519_dalek::SigningKey,
}

impl Key {
    /// Create a signing state with `logkeep keygen --key DIR/NAME --keep-root`: the root key
    /// (whose fingerprint this is) stays in it as `root.key`, which openssl reads.
    pub fn generate(dir: &Path, name: &str) -> Key {
        let path = dir.join(name);
        let out = logkeep([
            OsStr::new("keygen"),
            OsStr::new("--key"),
            path.as_os_str(),
            OsStr::new("--keep-root"),
        ]);
        out.expect(0);
        let fingerprint = out
            .stdout
            .lines()
            .find_map(|l| l.strip_prefix("fingerprint: "))
            .unwrap_or_else(|| panic!("keygen printed no fingerprint\n{}", out.describe()))
            .trim()
            .to_owned();
        let der_path = dir.join(format!("{name}.root.der"));
        let mut cmd = Command::new("openssl");
        cmd.args(["pkey", "-outform", "DER", "-in"])
            .arg(path.join("root.key"))
            .arg("-out")
            .arg(&der_path);
        run(&mut cmd, None, STEP).expect(0);
        let mut cmd = Command::new("openssl");
        cmd.args(["pkey", "-inform", "DER", "-pubout", "-in"])
            .arg(&der_path);
        let out = run(&mut cmd, None, STEP);
        out.expect(0);
        let seed: [u8; 32] = fs::read(path.join("epoch-1.key"))
            .expect("epoch 1's key")
            .try_into()
            .expect("a 32-byte seed");
        Key {
            path,
            fingerprint,
            der: der_path,
            public_pem: out.stdout,
            epoch1: ed25519_dalek::SigningKey::from_bytes(&seed),
        }
    }

    /// The fingerprint without dashes, as `sha256sum` shows its first 32 digits.
    pub fn hex(&self) -> String {
        self.fingerprint.replace('-', "")
    }

    /// A raw Ed25519 signature over `data`, made by `openssl pkeyutl`.
    pub fn sign(&self, data: &[u8]) -> Vec<u8> {
        let dir = tempfile::tempdir().expect("temp dir");
        let input = dir.path().join("in");
        let sig = dir.path().join("sig");
        fs::write(&input, data).expect("write");
        let mut cmd = Command::new("openssl");
        cmd.args(["pkeyutl", "-sign", "-keyform", "DER", "-rawin", "-inkey"])
            .arg(&self.der)
            .arg("-in")
            .arg(&input)
            .arg("-out")
            .arg(&sig);
        run(&mut cmd, None, STEP).expect(0);
        let s = fs::read(&sig).expect("read signature");
        assert_eq!(s.len(), 64, "an Ed25519 signature is 64 bytes");
        s
    }
}

/// One member of a bundle tar: raw name, header as read, content.
#[derive(Clone)]
pub struct Member {
    /// The member's name exactly as stored (may be hostile).
    pub name: Vec<u8>,
    /// Its header; size and name are rewritten on output.
    pub header: tar::Header,
    /// Its content.
    pub data: Vec<u8>,
}

impl Member {
    /// A regular file as the bundle writer makes them.
    pub fn file(name: &str, data: Vec<u8>) -> Member {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_mode(0o444);
        header.set_mtime(1_700_000_000);
        Member {
            name: name.as_bytes().to_vec(),
            header,
            data,
        }
    }

    /// A member of another type (link, device, directory) with an optional link target.
    pub fn special(name: &str, kind: tar::EntryType, link: Option<&str>) -> Member {
        let mut m = Member::file(name, Vec::new());
        m.header.set_entry_type(kind);
        m.header.set_mode(0o777);
        if let Some(l) = link {
            let field = &mut m.header.as_old_mut().linkname;
            assert!(l.len() <= field.len(), "link target too long for the test");
            field.fill(0);
            field[..l.len()].copy_from_slice(l.as_bytes());
        }
        if kind == tar::EntryType::Char {
            m.header.set_device_major(1).expect("device major");
            m.header.set_device_minor(3).expect("device minor");
        }
        m
    }
}

/// A bundle as its members, in archive order, so tests can change one thing and write it back.
#[derive(Clone)]
pub struct Bundle {
    /// Members in order (a later custody log version is a later member of the same name).
    pub members: Vec<Member>,
}

/// The members that are not covered by SHA256SUMS.
pub const UNSEALED: [&str; 4] = [
    "SHA256SUMS",
    "SHA256SUMS.sig",
    "signing-key.pub.pem",
    "custody.jsonl",
];

impl Bundle {
    /// Read a bundle file's members.
    pub fn parse(bytes: &[u8]) -> Bundle {
        let mut archive = tar::Archive::new(bytes);
        let mut members = Vec::new();
        for e in archive.entries().expect("a tar archive") {
            let mut e = e.expect("a readable member");
            let name = e.path_bytes().into_owned();
            let header = e.header().clone();
            let mut data = Vec::new();
            e.read_to_end(&mut data).expect("member data");
            members.push(Member { name, header, data });
        }
        assert!(!members.is_empty(), "the bundle has members");
        Bundle { members }
    }

    /// Write the members back as a tar archive, in the same order.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for m in &self.members {
            let mut h = m.header.clone();
            h.set_size(m.data.len() as u64);
            let name = String::from_utf8_lossy(&m.name).into_owned();
            let plain = !name.starts_with('/') && !name.split('/').any(|c| c == "..");
            if plain && m.name.len() > 100 {
                // Long names (most of a bundle's) need the GNU extension the builder writes.
                b.append_data(&mut h, &name, &m.data[..])
                    .expect("append member");
            } else {
                // Hostile names are written raw: the builder refuses them, an attacker does not.
                let field = &mut h.as_old_mut().name;
                assert!(m.name.len() <= field.len(), "raw names must fit the header");
                field.fill(0);
                field[..m.name.len()].copy_from_slice(&m.name);
                h.set_cksum();
                b.append(&h, &m.data[..]).expect("append member");
            }
        }
        b.into_inner().expect("finish tar")
    }

    /// The top directory, `logkeep-bundle-ID`.
    pub fn dir(&self) -> String {
        let first = String::from_utf8_lossy(&self.members[0].name).into_owned();
        first
            .split_once('/')
            .map(|(d, _)| d.to_owned())
            .expect("members live under one directory")
    }

    /// The member's name relative to the top directory.
    pub fn rel(&self, i: usize) -> String {
        let name = String::from_utf8_lossy(&self.members[i].name).into_owned();
        let prefix = format!("{}/", self.dir());
        name.strip_prefix(&prefix).unwrap_or(&name).to_owned()
    }

    /// Index of the first member named `rel` (relative to the top directory).
    pub fn find(&self, rel: &str) -> usize {
        (0..self.members.len())
            .find(|&i| self.rel(i) == rel)
            .unwrap_or_else(|| panic!("no member {rel}"))
    }

    /// The content of the first member named `rel`.
    pub fn get(&self, rel: &str) -> &[u8] {
        &self.members[self.find(rel)].data
    }

    /// Replace the content of the first member named `rel`.
    pub fn set(&mut self, rel: &str, data: Vec<u8>) {
        let i = self.find(rel);
        self.members[i].data = data;
    }

    /// Remove every member named `rel`.
    pub fn remove(&mut self, rel: &str) {
        let dir = format!("{}/{rel}", self.dir());
        self.members.retain(|m| m.name != dir.as_bytes());
    }

    /// Insert a member right after the first member named `rel`.
    pub fn insert_after(&mut self, rel: &str, m: Member) {
        let i = self.find(rel);
        self.members.insert(i + 1, m);
    }

    /// Relative names starting with `prefix`, in archive order.
    pub fn names(&self, prefix: &str) -> Vec<String> {
        (0..self.members.len())
            .map(|i| self.rel(i))
            .filter(|r| r.starts_with(prefix))
            .collect()
    }

    /// Flip one bit of the byte in the middle of a member.
    pub fn flip(&mut self, rel: &str) {
        let i = self.find(rel);
        let d = &mut self.members[i].data;
        let mid = d.len() / 2;
        d[mid] ^= 0x01;
    }

    /// The parsed bundle.json.
    pub fn info(&self) -> BundleInfo {
        serde_json::from_slice(self.get("bundle.json")).expect("bundle.json parses")
    }

    /// Write bundle.json back in the exporter's layout (pretty JSON and a newline).
    pub fn set_info(&mut self, info: &BundleInfo) {
        let mut v = serde_json::to_vec_pretty(info).expect("serialize bundle.json");
        v.push(b'\n');
        self.set("bundle.json", v);
    }

    /// Recompute the chain links from the first record on (records keep everything but `prev`)
    /// and point bundle.json at the new head: what an attacker rewriting history has to do.
    pub fn relink(&mut self) {
        let mut prev: Option<Sha256> = None;
        let mut head = None;
        for rel in self.names("store/chain/") {
            let mut r = logkeep_format::Record::parse(self.get(&rel)).expect("record parses");
            if let Some(p) = prev {
                r.prev = p;
            }
            let bytes = r.to_bytes();
            prev = Some(Sha256::of(&bytes));
            head = Some(logkeep_format::layout::Head {
                seq: r.seq,
                hash: Sha256::of(&bytes),
            });
            self.set(&rel, bytes);
        }
        let mut info = self.info();
        info.head = head.expect("the bundle holds records");
        self.set_info(&info);
    }

    /// Seal again with `key`: a new SHA256SUMS over the sealed members in archive order, its
    /// signature (by epoch 1's key for a format 2 bundle), the public key, and a first custody entry chained to the new listing (later
    /// custody versions are dropped).
    pub fn reseal(&mut self, key: &Key) {
        let mut sums = String::new();
        for i in 0..self.members.len() {
            let rel = self.rel(i);
            if UNSEALED.contains(&rel.as_str()) {
                continue;
            }
            sums.push_str(&format!(
                "{}  {rel}\n",
                Sha256::of(&self.members[i].data).to_hex()
            ));
        }
        let sums = sums.into_bytes();
        // Format 2: epoch 1's key signs the bundle text; format 1: the key signs SHA256SUMS.
        let info = self.info();
        let (sig, public) = match info.signature.epoch {
            Some(epoch) if info.signature.scheme == "ed25519-epoch-v2" => {
                use ed25519_dalek::Signer;
                let text = logkeep_format::seal::bundle_text(&Sha256::of(&sums), epoch);
                (
                    key.epoch1.sign(text.as_bytes()).to_bytes().to_vec(),
                    logkeep_seal::public_pem(&key.epoch1.verifying_key()),
                )
            }
            _ => (key.sign(&sums), key.public_pem.clone()),
        };
        self.set("SHA256SUMS", sums.clone());
        self.set("SHA256SUMS.sig", sig);
        self.set("signing-key.pub.pem", public.into_bytes());
        let custody = format!("{}/custody.jsonl", self.dir()).into_bytes();
        let mut seen = false;
        self.members.retain(|m| {
            let later = m.name == custody && seen;
            seen |= m.name == custody;
            !later
        });
        let line = self.get("custody.jsonl").split(|&b| b == b'\n').next();
        let mut entry: CustodyEntry =
            serde_json::from_slice(line.unwrap_or_default()).expect("custody entry");
        entry.prev = Sha256::of(&sums);
        self.set("custody.jsonl", entry.to_line());
    }
}

/// Every path under `root` (relative, sorted), not following symlinks, except those under
/// `skip`; symlinks are marked so a new one shows up as a difference.
pub fn tree(root: &Path, skip: &[&Path]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = fs::read_dir(&d) else { continue };
        for e in rd.flatten() {
            let p = e.path();
            if skip.iter().any(|s| p.starts_with(s)) {
                continue;
            }
            let meta = fs::symlink_metadata(&p).expect("stat");
            let rel = p.strip_prefix(root).unwrap_or(&p).display().to_string();
            if meta.file_type().is_symlink() {
                out.insert(format!("{rel} (symlink)"));
            } else if meta.is_dir() {
                out.insert(format!("{rel}/"));
                stack.push(p);
            } else {
                out.insert(rel);
            }
        }
    }
    out
}
