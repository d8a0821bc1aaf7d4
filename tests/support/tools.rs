//! The standard tools the tests drive (logrotate, gzip, zstd, openssl, rsyslogd, setpriv...):
//! a missing one fails the test with the package to install, never skips it.

use std::path::Path;
use std::process::{Command, Stdio};

/// Whether `tool` is an executable file on the PATH or in `/usr/sbin` or `/sbin` (where
/// rsyslogd lives, outside an unprivileged user's PATH).
pub fn has_tool(tool: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/sbin".into()])
        .any(|d| {
            std::fs::metadata(d.join(tool))
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// Fail (never skip) when a tool the tests rely on is missing, naming the Debian package that
/// provides it.
#[track_caller]
pub fn require_tool(tool: &str, package: &str) {
    assert!(
        has_tool(tool),
        "`{tool}` is missing; these tests need it: apt-get install {package} (scripts/test does)"
    );
}

/// Run `sh -c SCRIPT sh ARGS...`; require exit 0 and return stdout as bytes.
pub fn sh(script: &str, args: &[&Path]) -> Vec<u8> {
    let out = Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg("sh")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run sh");
    assert!(
        out.status.success(),
        "sh -c {script:?} {args:?} failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}
