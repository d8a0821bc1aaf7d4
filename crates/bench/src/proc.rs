//! Running the measured programs: wall time, CPU time and peak memory of one process tree.
//!
//! Peak RSS and CPU come from `getrusage(RUSAGE_CHILDREN)`, which is exact but covers every
//! child a process ever waited for. So each measured program runs under a fresh copy of this
//! binary (`logkeep-bench rusage --report FILE -- PROGRAM ...`) that has no other children: its
//! figures are that program's alone (and its own children's, for a shell pipeline). The wrapper
//! forwards SIGTERM and SIGINT, so stopping it stops the program the way a service manager would.

use anyhow::{Context, Result, bail};
use nix::sys::resource::{UsageWho, getrusage};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};
use std::ffi::OsString;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What one measured process used.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Usage {
    /// Exit code, if it exited.
    pub code: Option<i32>,
    /// Terminating signal, if killed.
    pub signal: Option<i32>,
    /// Seconds from the wrapper's spawn to the program's exit, as the wrapper saw it.
    pub wall_s: f64,
    /// User CPU seconds.
    pub user_s: f64,
    /// System CPU seconds.
    pub sys_s: f64,
    /// Peak resident set size in KiB (the largest of the process tree).
    pub maxrss_kib: u64,
}

impl Usage {
    /// User plus system CPU seconds.
    pub fn cpu_s(&self) -> f64 {
        self.user_s + self.sys_s
    }
    /// Whether the program exited with status 0.
    pub fn ok(&self) -> bool {
        self.code == Some(0)
    }
}

/// The hidden `rusage` subcommand: run `argv`, forward termination signals, write the usage
/// as JSON to `report`, exit with the program's code.
pub fn rusage_main(report: &Path, argv: &[OsString]) -> Result<u8> {
    let Some((prog, args)) = argv.split_first() else {
        bail!("rusage: no program given");
    };
    // Installed before the spawn: a signal that arrives early must reach the program, not kill
    // the wrapper and orphan it.
    let mut signals = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGINT,
    ])?;
    let start = Instant::now();
    let mut child = Command::new(prog)
        .args(args)
        .spawn()
        .with_context(|| format!("cannot run {}", prog.to_string_lossy()))?;
    let pid = Pid::from_raw(child.id() as i32);
    std::thread::spawn(move || {
        for s in signals.forever() {
            if let Ok(sig) = Signal::try_from(s) {
                let _ = kill(pid, sig);
            }
        }
    });
    let status = child.wait()?;
    let wall_s = start.elapsed().as_secs_f64();
    let ru = getrusage(UsageWho::RUSAGE_CHILDREN)?;
    let tv = |t: nix::sys::time::TimeVal| t.tv_sec() as f64 + t.tv_usec() as f64 / 1e6;
    use std::os::unix::process::ExitStatusExt;
    let usage = Usage {
        code: status.code(),
        signal: status.signal(),
        wall_s,
        user_s: tv(ru.user_time()),
        sys_s: tv(ru.system_time()),
        maxrss_kib: ru.max_rss() as u64,
    };
    std::fs::write(report, serde_json::to_vec(&usage)?)
        .with_context(|| format!("{}: cannot write", report.display()))?;
    Ok(status.code().unwrap_or(1).clamp(0, 255) as u8)
}

/// A program running under the wrapper.
pub struct Measured {
    child: Child,
    start: Instant,
    report: PathBuf,
    stderr: Arc<Mutex<String>>,
    reader: Option<std::thread::JoinHandle<()>>,
    ready: mpsc::Receiver<()>,
}

/// How to start a measured program.
pub struct Spec<'a> {
    /// This benchmark's own executable (the wrapper).
    pub bench: &'a Path,
    /// The program and its arguments.
    pub argv: Vec<OsString>,
    /// Where its standard output goes.
    pub stdout: Stdio,
    /// Where the usage report is written.
    pub report: PathBuf,
    /// A line of standard error that means "ready" (wait for it with [`Measured::wait_ready`]).
    pub ready_marker: Option<&'static str>,
    /// Extra environment.
    pub env: Vec<(&'static str, String)>,
}

impl Measured {
    /// Start the program; standard error is collected (and scanned for the ready marker).
    pub fn start(spec: Spec<'_>) -> Result<Measured> {
        let _ = std::fs::remove_file(&spec.report);
        let mut cmd = Command::new(spec.bench);
        cmd.arg("rusage")
            .arg("--report")
            .arg(&spec.report)
            .arg("--")
            .args(&spec.argv)
            .stdin(Stdio::null())
            .stdout(spec.stdout)
            .stderr(Stdio::piped());
        for (k, v) in spec.env {
            cmd.env(k, v);
        }
        let start = Instant::now();
        let mut child = cmd
            .spawn()
            .with_context(|| format!("cannot run {}", spec.bench.display()))?;
        let pipe = child.stderr.take().context("no stderr pipe")?;
        let stderr = Arc::new(Mutex::new(String::new()));
        let (tx, ready) = mpsc::channel();
        let buf = stderr.clone();
        let marker = spec.ready_marker;
        let reader = std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(pipe).lines() {
                let Ok(line) = line else { break };
                if !sent && marker.is_some_and(|m| line.contains(m)) {
                    let _ = tx.send(());
                    sent = true;
                }
                let mut b = buf.lock().unwrap_or_else(|e| e.into_inner());
                // Keep the start and the end of a chatty log, which is where problems show.
                if b.len() < 256 * 1024 {
                    b.push_str(&line);
                    b.push('\n');
                }
            }
        });
        Ok(Measured {
            child,
            start,
            report: spec.report,
            stderr,
            reader: Some(reader),
            ready,
        })
    }

    /// Wait for the ready marker on standard error.
    pub fn wait_ready(&mut self, timeout: Duration) -> Result<()> {
        match self.ready.recv_timeout(timeout) {
            Ok(()) => Ok(()),
            Err(_) => {
                let _ = self.terminate();
                bail!(
                    "the program did not become ready within {timeout:?}; its stderr:\n{}",
                    self.stderr()
                )
            }
        }
    }

    /// Seconds since the start.
    pub fn elapsed(&self) -> f64 {
        self.start.elapsed().as_secs_f64()
    }

    /// Send SIGTERM (forwarded to the program).
    pub fn terminate(&self) -> Result<()> {
        kill(Pid::from_raw(self.child.id() as i32), Signal::SIGTERM)?;
        Ok(())
    }

    /// Everything read from standard error so far.
    pub fn stderr(&self) -> String {
        self.stderr
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Wait for the exit; returns the usage (wall time measured here, from the start to the
    /// reaping) and standard error.
    pub fn wait(mut self) -> Result<(Usage, String)> {
        self.child.wait()?;
        let wall = self.start.elapsed().as_secs_f64();
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
        let stderr = self.stderr();
        let bytes = std::fs::read(&self.report).with_context(|| {
            format!(
                "{}: no usage report (the wrapper failed); stderr:\n{stderr}",
                self.report.display()
            )
        })?;
        let mut usage: Usage = serde_json::from_slice(&bytes)?;
        usage.wall_s = wall;
        Ok((usage, stderr))
    }
}

/// Run a program to completion under the wrapper.
pub fn run(
    bench: &Path,
    argv: Vec<OsString>,
    stdout: Stdio,
    report: PathBuf,
) -> Result<(Usage, String)> {
    Measured::start(Spec {
        bench,
        argv,
        stdout,
        report,
        ready_marker: None,
        env: Vec::new(),
    })?
    .wait()
}

/// `sh -c SCRIPT sh ARGS...` as an argument vector.
pub fn sh(script: &str, args: &[&Path]) -> Vec<OsString> {
    let mut v: Vec<OsString> = vec!["sh".into(), "-c".into(), script.into(), "sh".into()];
    v.extend(args.iter().map(|p| p.as_os_str().to_owned()));
    v
}

/// Whether `name` is an executable on `PATH` (or in the sbin directories, for daemons).
pub fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/local/sbin"].map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}
