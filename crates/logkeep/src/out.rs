//! Standard output and standard error that a closed pipe cannot break.
//!
//! `logkeep verify STORE | head -1` closes the pipe after one line. Rust ignores `SIGPIPE`, so
//! the next write fails with `EPIPE`, and `println!` panics (exit 101). Every command prints
//! through this module instead: `main.rs` shadows `print!`, `println!`, `eprint!` and
//! `eprintln!` with macros that call [`print`] and [`eprint`], and reports are written to
//! [`stdout`]. Once standard output is found closed, everything further written to it is
//! dropped quietly and the command runs to its end, so that its exit code (the verdict) is
//! the one it would have had. Any other write error on standard output is remembered and turns
//! the exit code into 2 ([`failure`]).

use std::fmt;
use std::io::{self, Write};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

static CLOSED: AtomicBool = AtomicBool::new(false);
static FAILED: Mutex<Option<String>> = Mutex::new(None);

/// Standard output, quiet once the reader has gone (see the module documentation).
pub struct Stdout(());

/// Standard output for a report.
pub fn stdout() -> Stdout {
    Stdout(())
}

fn note_error(e: &io::Error) {
    if e.kind() == io::ErrorKind::BrokenPipe {
        CLOSED.store(true, Ordering::Relaxed);
    } else if let Ok(mut f) = FAILED.lock() {
        f.get_or_insert_with(|| e.to_string());
        CLOSED.store(true, Ordering::Relaxed);
    }
}

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if CLOSED.load(Ordering::Relaxed) {
            return Ok(buf.len());
        }
        match io::stdout().lock().write_all(buf) {
            Ok(()) => {}
            Err(e) => note_error(&e),
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if !CLOSED.load(Ordering::Relaxed)
            && let Err(e) = io::stdout().lock().flush()
        {
            note_error(&e);
        }
        Ok(())
    }
}

/// What `print!` and `println!` call.
pub fn print(args: fmt::Arguments<'_>) {
    let _ = stdout().write_fmt(args);
}

/// What `eprint!` and `eprintln!` call: a closed standard error is not a reason to stop.
pub fn eprint(args: fmt::Arguments<'_>) {
    let _ = io::stderr().lock().write_fmt(args);
}

/// The first write error on standard output other than a closed pipe, if any.
pub fn failure() -> Option<String> {
    let _ = stdout().flush();
    FAILED.lock().ok().and_then(|f| f.clone())
}
