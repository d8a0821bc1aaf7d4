//! Helpers for the control socket tests: a site whose configuration names a socket in a
//! directory others may enter, a raw protocol client, a daemon started with an environment of
//! the test's choosing (NOTIFY_SOCKET, JOURNAL_STREAM), and running the CLI as another user.

use super::store::Run;
use super::{DEADLINE, Site};
use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A directory for sockets (and a copy of the binary) that any user may enter: a site's own
/// temporary directory is 0700, which would refuse other users before the daemon could.
pub struct OpenDir {
    pub dir: tempfile::TempDir,
}

impl OpenDir {
    pub fn new() -> OpenDir {
        let dir = tempfile::Builder::new()
            .prefix("lkc")
            .tempdir()
            .expect("temp dir");
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).expect("chmod");
        OpenDir { dir }
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("control.sock")
    }

    /// A copy of the binary that any user may run (the build tree may be closed to them).
    pub fn binary(&self) -> PathBuf {
        let p = self.dir.path().join("logkeep");
        if !p.exists() {
            fs::copy(super::bin(), &p).expect("copy the binary");
            fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).expect("chmod");
        }
        p
    }
}

/// A configuration with a fast store, one source `vpn` over `logs/*.log`, and a `[control]`
/// table naming `socket` plus `control_extra` lines.
pub fn config(socket: &Path, control_extra: &str) -> String {
    format!(
        "{}\n[control]\nsocket = {:?}\n{control_extra}\n{}",
        super::FAST_STORE,
        socket.to_str().expect("utf-8"),
        super::source("vpn", &["logs/*.log"])
    )
}

/// A started daemon with a control socket, and the directory of its socket.
pub fn started(control_extra: &str) -> (Site, OpenDir) {
    let open = OpenDir::new();
    let mut site = Site::new(&config(&open.socket(), control_extra));
    site.start();
    wait_socket(&open.socket(), &site);
    (site, open)
}

/// Wait until something answers on `socket`.
pub fn wait_socket(socket: &Path, site: &Site) {
    let deadline = Instant::now() + DEADLINE;
    while UnixStream::connect(socket).is_err() {
        assert!(
            Instant::now() < deadline,
            "no control socket at {} within {DEADLINE:?}:\n{}",
            socket.display(),
            site.stderr()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Send raw bytes as a request, close the sending side, and parse the one-line answer.
pub fn raw(socket: &Path, bytes: &[u8]) -> serde_json::Value {
    let mut s = UnixStream::connect(socket).expect("connect");
    s.set_read_timeout(Some(DEADLINE)).expect("timeout");
    s.write_all(bytes).expect("send");
    let _ = s.shutdown(std::net::Shutdown::Write);
    read_answer(&mut s)
}

/// Read one answer line to EOF and parse it.
pub fn read_answer(s: &mut UnixStream) -> serde_json::Value {
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).expect("read the answer");
    assert!(
        buf.ends_with(b"\n") && buf.iter().filter(|&&b| b == b'\n').count() == 1,
        "an answer is one line: {:?}",
        String::from_utf8_lossy(&buf)
    );
    serde_json::from_slice(&buf).expect("the answer is JSON")
}

/// `{"op":...}` as one line.
pub fn request(socket: &Path, req: serde_json::Value) -> serde_json::Value {
    let mut line = serde_json::to_vec(&req).expect("json");
    line.push(b'\n');
    raw(socket, &line)
}

/// The result of a successful request.
pub fn ok(socket: &Path, req: serde_json::Value) -> serde_json::Value {
    let a = request(socket, req.clone());
    assert_eq!(a["ok"], true, "{req} failed: {a}");
    assert_eq!(a["v"], 1, "{a}");
    a["result"].clone()
}

/// `head.json` of a store.
pub fn head(store: &Path) -> serde_json::Value {
    serde_json::from_slice(&fs::read(store.join("head.json")).expect("head.json")).expect("json")
}

/// Whether the tests run as root (CI does); the tests that switch users need it.
pub fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// The gid of group `name`.
pub fn gid_of(name: &str) -> Option<u32> {
    nix::unistd::Group::from_name(name)
        .ok()
        .flatten()
        .map(|g| g.gid.as_raw())
}

/// Run `program ARGS` under `setpriv` as uid/gid 65534 with the given supplementary groups.
pub fn as_nobody(groups: &[u32], program: &Path, args: &[&str]) -> Run {
    let groups_arg = if groups.is_empty() {
        "--clear-groups".to_owned()
    } else {
        format!(
            "--groups={}",
            groups
                .iter()
                .map(|g| g.to_string())
                .collect::<Vec<_>>()
                .join(",")
        )
    };
    let mut all: Vec<std::ffi::OsString> = vec![
        "--reuid=65534".into(),
        "--regid=65534".into(),
        groups_arg.into(),
        program.into(),
    ];
    all.extend(args.iter().map(Into::into));
    let out = Command::new("setpriv")
        .args(&all)
        .stdin(Stdio::null())
        .output()
        .expect("run setpriv (util-linux)");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}
