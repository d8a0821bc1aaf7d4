//! `logkeep-powercut`: a FUSE file system for the tests that keeps only what `fsync` made
//! durable, and cuts the power on command. Not part of the product; the power-loss test
//! (`tests/powercut.rs`) drives it.
//!
//! ```text
//! logkeep-powercut --mount DIR --state DIR
//! ```
//!
//! mounts an empty file system at `--mount` whose files are kept under `--state` (see
//! [`model`] for what survives a cut), prints `ready`, then reads commands, one per line, from
//! standard input and answers each with one line:
//!
//! - `off` — the power is cut: from now on every request fails with `EIO` (a write, an `fsync`,
//!   a `stat`, an `open`); answers `off`. The caller then kills what ran on it.
//! - `on` — the power comes back: the live tree is rebuilt, in a fresh backing directory, from
//!   the durable state alone; answers `on files=N dirs=M torn=T refused=R` (how many files and
//!   directories lost something, how many kept a torn tail, how many requests failed while the
//!   power was off).
//! - `on torn SEED` — the same, but a file that only grew since its last `fsync` keeps a random
//!   part (chosen from `SEED`) of what was appended, as a disk may have written some of it.
//! - `arm N` — the power goes off by itself just before the (N+1)th request from now that
//!   changes something (a write, a sync, a create, a rename, a link, an unlink, a `chmod`),
//!   which fails with `EIO` like everything after it; answers `armed`.
//! - `wait-off MS` — wait at most `MS` milliseconds for an armed cut; answers `off`, or
//!   `still on` (and disarms) if it did not come.
//! - `export DIR` — the durable state as a plain tree at `DIR`, for a person to look at.
//!
//! End of input unmounts the file system and exits: the file system never outlives its caller.

mod fs;
mod model;

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

fn usage() -> ExitCode {
    eprintln!("usage: logkeep-powercut --mount DIR --state DIR");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let mut mount = None;
    let mut state = None;
    let mut args = std::env::args_os().skip(1);
    while let Some(a) = args.next() {
        match a.to_str() {
            Some("--mount") => mount = args.next().map(PathBuf::from),
            Some("--state") => state = args.next().map(PathBuf::from),
            _ => return usage(),
        }
    }
    let (Some(mount), Some(state)) = (mount, state) else {
        return usage();
    };
    match run(mount, state) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("logkeep-powercut: {e}");
            ExitCode::from(2)
        }
    }
}

fn run(mount: PathBuf, state: PathBuf) -> Result<(), String> {
    let model = model::Model::new(&state)
        .map_err(|e| format!("cannot prepare {}: {e}", state.display()))?;
    let shared = Arc::new(Mutex::new(fs::Shared::new(model)));
    let options = [
        fuser::MountOption::FSName("logkeep-powercut".into()),
        fuser::MountOption::AutoUnmount,
        fuser::MountOption::DefaultPermissions,
    ];
    let session =
        fuser::spawn_mount2(fs::PowerFs::new(shared.clone()), &mount, &options).map_err(|e| {
            format!(
                "cannot mount on {} (needs /dev/fuse and fusermount3, Debian package fuse3): {e}",
                mount.display()
            )
        })?;
    let mut out = std::io::stdout().lock();
    let say = |out: &mut std::io::StdoutLock<'_>, line: &str| -> Result<(), String> {
        writeln!(out, "{line}")
            .and_then(|()| out.flush())
            .map_err(|e| format!("stdout: {e}"))
    };
    say(&mut out, "ready")?;
    for line in std::io::stdin().lock().lines() {
        let line = line.map_err(|e| format!("stdin: {e}"))?;
        let mut s = shared.lock().unwrap_or_else(|p| p.into_inner());
        let answer = match line.split_once(' ').unwrap_or((line.as_str(), "")) {
            ("off", "") => {
                s.off = true;
                "off".to_owned()
            }
            ("on", torn) => {
                let torn = match torn.strip_prefix("torn ").map(str::parse::<u64>) {
                    None if torn.is_empty() => None,
                    Some(Ok(seed)) => Some(seed),
                    _ => {
                        drop(s);
                        say(
                            &mut out,
                            &format!("error: on takes `torn SEED` or nothing, not {torn:?}"),
                        )?;
                        continue;
                    }
                };
                let lost = s
                    .model
                    .power_on(torn)
                    .map_err(|e| format!("power on in {}: {e}", state.display()))?;
                s.forget_handles();
                s.off = false;
                format!(
                    "on files={} dirs={} torn={} refused={}",
                    lost.files_reverted, lost.dirs_reverted, lost.torn, s.refused
                )
            }
            ("arm", n) => match n.parse() {
                Ok(n) => {
                    s.armed = Some(n);
                    "armed".to_owned()
                }
                Err(_) => format!("error: arm needs a count, not {n:?}"),
            },
            ("wait-off", ms) => match ms.parse::<u64>() {
                Ok(ms) => {
                    let deadline = std::time::Instant::now() + std::time::Duration::from_millis(ms);
                    while !s.off && std::time::Instant::now() < deadline {
                        drop(s);
                        std::thread::sleep(std::time::Duration::from_millis(2));
                        s = shared.lock().unwrap_or_else(|p| p.into_inner());
                    }
                    s.armed = None;
                    if s.off { "off" } else { "still on" }.to_owned()
                }
                Err(_) => format!("error: wait-off needs milliseconds, not {ms:?}"),
            },
            ("export", dir) if !dir.is_empty() => match s.model.export(dir.as_ref()) {
                Ok(()) => "exported".to_owned(),
                Err(e) => format!("error: export to {dir}: {e}"),
            },
            _ => format!("error: unknown command {line:?}"),
        };
        drop(s);
        say(&mut out, &answer)?;
    }
    drop(session);
    Ok(())
}
