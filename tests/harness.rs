//! The harness shared by the integration tests: a temporary site with a configuration, the
//! real daemon started and stopped as a child process, and the real CLI run on its store.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_logkeep")
}

/// A temporary directory with a configuration, and the daemon running on it when started.
pub struct Site {
    pub dir: tempfile::TempDir,
    pub child: Option<Child>,
}

impl Site {
    /// A temporary directory with `logs/` and the configuration `config` in `c.toml`.
    pub fn with_config(config: &str) -> Site {
        let dir = tempfile::tempdir().expect("temp dir");
        fs::create_dir_all(dir.path().join("logs")).expect("logs dir");
        fs::write(dir.path().join("c.toml"), config).expect("config");
        Site { dir, child: None }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn start(&mut self) {
        let err = fs::File::create(self.path("daemon.err")).expect("stderr file");
        let child = Command::new(bin())
            .args(["run", "--config"])
            .arg(self.path("c.toml"))
            .stderr(err)
            .spawn()
            .expect("start logkeep");
        self.child = Some(child);
    }

    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &c.id().to_string()])
                .status();
            let status = c.wait().expect("wait");
            assert!(status.success(), "daemon exit {status}: {}", self.stderr());
        }
    }

    pub fn stderr(&self) -> String {
        fs::read_to_string(self.path("daemon.err")).unwrap_or_default()
    }

    pub fn append(&self, name: &str, data: &[u8]) {
        use std::io::Write;
        let mut f = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.path("logs").join(name))
            .expect("open log");
        f.write_all(data).expect("append");
    }

    /// Wait until some chain record's JSON contains `needle`.
    pub fn wait_record(&self, chain_root: &Path, needle: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if records(chain_root).iter().any(|r| r.contains(needle)) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "no record containing {needle}; the chain holds:\n{}\ndaemon said:\n{}",
                records(chain_root).join(""),
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        // For debugging a failure: keep the site's directory and say where it is.
        if std::env::var_os("LOGKEEP_TEST_KEEP").is_some() {
            let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().expect("tmp"));
            eprintln!("kept {}", dir.keep().display());
        }
    }
}

pub fn records(root: &Path) -> Vec<String> {
    let mut v: Vec<_> = fs::read_dir(root.join("chain"))
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    v.sort();
    v.iter()
        .filter_map(|p| fs::read_to_string(p).ok())
        .collect()
}

pub fn logkeep(args: &[&str]) -> (i32, String) {
    let out = Command::new(bin())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run logkeep");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

pub fn init(path: &Path, id: &str) {
    fs::create_dir_all(path).expect("medium dir");
    let (code, out) = logkeep(&[
        "media",
        "init",
        path.to_str().expect("utf-8"),
        "--id",
        id,
        "--force",
    ]);
    assert_eq!(code, 0, "{out}");
}

/// Deterministic bytes that do not compress much, so small media fill up.
pub fn noise(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x & 0xff) as u8
        })
        .collect()
}

pub fn verify(path: &Path, extra: &[&str]) -> (i32, String) {
    let mut args = vec!["verify", path.to_str().expect("utf-8")];
    args.extend_from_slice(extra);
    logkeep(&args)
}

/// Extract `root` and return the concatenation of every generation of `name`.
pub fn extracted(root: &Path, name: &str) -> Vec<u8> {
    let out = tempfile::tempdir().expect("tmp");
    let dest = out.path().join("x");
    let (code, text) = logkeep(&[
        "extract",
        root.to_str().expect("utf-8"),
        "--out",
        dest.to_str().expect("utf-8"),
    ]);
    assert_eq!(code, 0, "{text}");
    let mut files: Vec<PathBuf> = walk(&dest)
        .into_iter()
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&format!("{name}.gen")))
        })
        .collect();
    files.sort_by_key(|p| {
        p.extension()
            .and_then(|e| e.to_str())
            .and_then(|e| e.trim_start_matches("gen").parse::<u64>().ok())
    });
    files
        .iter()
        .flat_map(|p| fs::read(p).expect("read output"))
        .collect()
}

pub fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p))
        } else {
            out.push(p)
        }
    }
    out
}

pub fn eject(site: &Site, id: &str) {
    let (code, out) = logkeep(&[
        "media",
        "eject",
        id,
        "--config",
        site.path("c.toml").to_str().expect("utf-8"),
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("safe to unplug"), "{out}");
}
