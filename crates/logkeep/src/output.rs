//! What commands print on standard output: fallible writes (a closed pipe is an error that
//! propagates, never a panic), JSON results, and errors as JSON under `--json`.

use anyhow::Result;
use std::io::Write;

/// Run a command body; with `json`, an error becomes `{"error": "...", "exit": 2}` on
/// standard output (and the usual message on standard error) and exit code 2.
pub fn json_errors(json: bool, body: impl FnOnce() -> Result<u8>) -> Result<u8> {
    match body() {
        Ok(code) => Ok(code),
        Err(e) if json => {
            eprintln!("logkeep: error: {e:#}");
            print_json(&serde_json::json!({"error": format!("{e:#}"), "exit": 2}))?;
            Ok(2)
        }
        Err(e) => Err(e),
    }
}

/// Print `value` as pretty JSON and a newline on standard output.
pub fn print_json(value: &impl serde::Serialize) -> Result<()> {
    let mut out = crate::out::stdout();
    serde_json::to_writer_pretty(&mut out, value)?;
    writeln!(out)?;
    out.flush()?;
    Ok(())
}

/// Print lines on standard output, failing (not panicking) if it is closed.
pub fn print_lines(lines: &[String]) -> Result<()> {
    let mut out = crate::out::stdout();
    for l in lines {
        writeln!(out, "{l}")?;
    }
    out.flush()?;
    Ok(())
}
