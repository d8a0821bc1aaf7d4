//! The `logkeep` binary: it parses the command line (`cli`) and hands each command to its
//! module (`daemon` for `run`, `*_cmd` and `check_config` for the rest). Not a library.
//!
//! Exit codes: 0 ok, 1 an integrity problem was found, 2 usage, configuration or I/O error.
//!
//! Everything the binary prints goes through `out`: the macros below shadow the standard
//! library's in every module, so that a closed pipe (`logkeep verify STORE | head -1`) ends a
//! command quietly with its own exit code instead of a panic.

/// `print!` through `out::print` (see `out`).
#[allow(unused_macros)]
macro_rules! print {
    ($($arg:tt)*) => { $crate::out::print(format_args!($($arg)*)) };
}

/// `println!` through `out::print` (see `out`).
macro_rules! println {
    () => { $crate::out::print(format_args!("\n")) };
    ($($arg:tt)*) => { $crate::out::print(format_args!("{}\n", format_args!($($arg)*))) };
}

/// `eprint!` through `out::eprint` (see `out`).
#[allow(unused_macros)]
macro_rules! eprint {
    ($($arg:tt)*) => { $crate::out::eprint(format_args!($($arg)*)) };
}

/// `eprintln!` through `out::eprint` (see `out`).
macro_rules! eprintln {
    () => { $crate::out::eprint(format_args!("\n")) };
    ($($arg:tt)*) => { $crate::out::eprint(format_args!("{}\n", format_args!($($arg)*))) };
}

mod check_config;
mod cli;
mod config;
mod control;
mod control_cmd;
mod custody_cmd;
mod daemon;
mod detect;
mod drill;
mod export;
mod export_cmd;
mod extract_cmd;
mod incident;
mod incident_cmd;
mod inventory;
mod keygen_cmd;
mod keys;
mod list_cmd;
mod logging;
mod media_cmd;
mod media_link;
mod no_clobber;
mod out;
mod output;
mod remote_cmd;
mod snapshot;
mod status;
mod timeline_cmd;
mod verify_cmd;

use anyhow::Result;
use clap::Parser;
use cli::{Cli, Command, CustodyAction};
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    logging::init();
    let code = match dispatch(cli.command) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("logkeep: error: {e:#}");
            2
        }
    };
    if let Some(e) = out::failure() {
        eprintln!("logkeep: error: standard output: {e}");
        return ExitCode::from(2);
    }
    ExitCode::from(code)
}

fn dispatch(command: Command) -> Result<u8> {
    match command {
        Command::Run { config } => {
            let config = config::Config::load(&config)?;
            daemon::run(&config)?;
            Ok(0)
        }
        Command::CheckConfig { config, json } => check_config::run(&config, json),
        Command::Detect { root } => detect::run(&root),
        Command::Status {
            json,
            socket,
            config,
        } => output::json_errors(json, || {
            control_cmd::status(&control_cmd::socket_path(socket, config.as_deref())?, json)
        }),
        Command::Snapshot {
            reason,
            json,
            socket,
            config,
        } => output::json_errors(json, || {
            control_cmd::snapshot(
                &control_cmd::socket_path(socket, config.as_deref())?,
                reason,
                json,
            )
        }),
        Command::Verify {
            path,
            json,
            fingerprint,
            expect_head,
            against,
            against_remote,
            config,
        } => match against_remote {
            Some(id) => verify_cmd::run_against_remote(path, json, fingerprint, &config, &id),
            None => verify_cmd::run(path, json, fingerprint, expect_head, against),
        },
        Command::Extract(args) => extract_cmd::run(args),
        Command::Timeline { args, format } => timeline_cmd::timeline(args, format),
        Command::Report(args) => timeline_cmd::report(args),
        Command::List {
            path,
            fingerprint,
            json,
        } => list_cmd::run(path, fingerprint, json),
        Command::Keygen(args) => keygen_cmd::run(args),
        Command::Fingerprint {
            config,
            key,
            public,
        } => keygen_cmd::fingerprint(config, key, public),
        Command::Export(args) => export_cmd::run(args),
        Command::Media { action } => media_cmd::run(action),
        Command::Remote { action } => remote_cmd::run(action),
        Command::Drill {
            config,
            socket,
            medium,
            remote,
            out,
            json,
        } => drill::run(drill::Args {
            config,
            socket,
            medium,
            remote,
            out,
            json,
        }),
        Command::Incident { config } => incident_cmd::run(&config),
        Command::Custody {
            action:
                CustodyAction::Add {
                    bundle,
                    actor,
                    action,
                    note,
                    fingerprint,
                    key,
                    json,
                },
        } => custody_cmd::add(custody_cmd::Add {
            bundle,
            actor,
            action,
            note,
            fingerprint,
            key,
            json,
        }),
    }
}
