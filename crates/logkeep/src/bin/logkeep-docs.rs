//! `logkeep-docs DIR`: write the man pages (`DIR/man/logkeep.1` and one `logkeep-COMMAND.1`
//! per subcommand) and the shell completions (`DIR/completions/logkeep.bash`, `_logkeep` for
//! zsh, `logkeep.fish`) from the same clap definition the `logkeep` binary parses, so they
//! cannot drift from it. The Debian package ships them (see `scripts/deb-check`).

#[allow(dead_code)]
#[path = "../cli.rs"]
mod cli;

use clap::CommandFactory;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    let (Some(dir), None) = (args.next(), args.next()) else {
        eprintln!("usage: logkeep-docs DIR");
        return ExitCode::from(2);
    };
    match write_all(Path::new(&dir)) {
        Ok(files) => {
            for f in files {
                println!("{}", f.display());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("logkeep-docs: error: {e}");
            ExitCode::from(2)
        }
    }
}

/// Write every man page and completion under `dir`; returns the files written.
fn write_all(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let cmd = cli::Cli::command();
    let man = dir.join("man");
    let completions = dir.join("completions");
    std::fs::create_dir_all(&man)?;
    std::fs::create_dir_all(&completions)?;
    let mut written = Vec::new();
    // logkeep.1 (with the list of commands), then logkeep-COMMAND.1 (and logkeep-media-init.1
    // and so on for nested commands).
    clap_mangen::generate_to(cmd.clone(), &man)?;
    for e in std::fs::read_dir(&man)? {
        written.push(e?.path());
    }
    for shell in [
        clap_complete::Shell::Bash,
        clap_complete::Shell::Zsh,
        clap_complete::Shell::Fish,
    ] {
        let mut c = cmd.clone();
        written.push(clap_complete::generate_to(
            shell,
            &mut c,
            "logkeep",
            &completions,
        )?);
    }
    written.sort();
    Ok(written)
}
