//! Nothing overwritten: the one check every command that writes a file makes before it writes.
//! An existing file is refused unless the user said `--force`; the configuration, the signing
//! key (or signing state) and anything inside a store or a medium are refused even then.

use anyhow::{Result, bail};
use logkeep_format::layout;
use logkeep_format::shown;
use std::path::{Path, PathBuf};

/// Files and directories that no command writes over, `--force` or not, with what they are.
#[derive(Debug, Default)]
pub struct Protected {
    paths: Vec<(PathBuf, &'static str)>,
}

impl Protected {
    /// The defaults every command protects: the installed configuration and signing key.
    pub fn new() -> Self {
        let mut p = Protected::default();
        p.add(Path::new(crate::cli::DEFAULT_CONFIG), "the configuration");
        p.add(Path::new(crate::config::DEFAULT_KEY), "the signing key");
        p
    }

    /// Protect `path` (a file, or a directory and everything under it) as `what`.
    pub fn add(&mut self, path: &Path, what: &'static str) {
        self.paths.push((resolve(path), what));
    }

    /// Protect what a loaded configuration names: the file itself, its signing key, its store
    /// and its media.
    pub fn add_config(&mut self, c: &crate::config::Config) {
        self.add(&c.file, "the configuration");
        self.add(&c.signing_key, "the signing key");
        self.add(&c.store, "the store");
        for m in &c.media {
            self.add(&m.path, "a medium");
        }
    }
}

/// `path` made absolute with its links resolved as far as it exists: an existing path is
/// canonicalised, a new one is its canonical parent joined with its name.
fn resolve(path: &Path) -> PathBuf {
    if let Ok(p) = std::fs::canonicalize(path) {
        return p;
    }
    let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
    match (abs.parent(), abs.file_name()) {
        (Some(parent), Some(name)) => std::fs::canonicalize(parent)
            .map(|p| p.join(name))
            .unwrap_or(abs),
        _ => abs,
    }
}

/// Whether `out` may be written: refused when it is or lies under a protected path or inside
/// a store or a medium (a directory holding `logkeep-store.json` or `logkeep-medium.json`),
/// whatever `force` says; refused when it exists unless `force`. `flag` names the option the
/// path came from, for the message.
pub fn check(out: &Path, flag: &str, force: bool, protected: &Protected) -> Result<()> {
    check_place(out, flag, protected)?;
    let shown_out = shown::path(out);
    match std::fs::symlink_metadata(out) {
        Ok(m) if m.is_dir() => {
            bail!("{flag} {shown_out}: is a directory; give a file name")
        }
        Ok(_) if !force => bail!(
            "{flag} {shown_out}: exists; refusing to overwrite it (use --force to replace it)"
        ),
        _ => Ok(()),
    }
}

/// Whether anything may be written at `out` (a file or a directory to fill) at all: refused
/// when it is or lies under a protected path, or inside a store or a medium.
pub fn check_place(out: &Path, flag: &str, protected: &Protected) -> Result<()> {
    let shown_out = shown::path(out);
    let target = resolve(out);
    for (p, what) in &protected.paths {
        if target == *p || target.starts_with(p) {
            bail!(
                "{flag} {shown_out}: that is {what} ({}); refusing to write there, even with --force",
                shown::path(p)
            );
        }
    }
    // The link itself, too: replacing a link named like a store file is writing in the store.
    let lexical = std::path::absolute(out).unwrap_or_else(|_| out.to_owned());
    for candidate in [&target, &lexical] {
        for dir in candidate.ancestors().skip(1) {
            for (marker, what) in [
                (layout::STORE_FILE, "a store"),
                (layout::MEDIUM_FILE, "a medium"),
            ] {
                if dir.join(marker).exists() {
                    bail!(
                        "{flag} {shown_out}: inside {what} ({}); refusing to write there, even with --force",
                        shown::path(dir)
                    );
                }
            }
        }
    }
    Ok(())
}

/// Move the finished temporary file `temp` to `out`: atomically refused when `out` appeared
/// meanwhile, unless `force`.
pub fn rename(temp: &Path, out: &Path, force: bool) -> Result<()> {
    use rustix::fs::{CWD, RenameFlags, renameat_with};
    let flags = if force {
        RenameFlags::empty()
    } else {
        RenameFlags::NOREPLACE
    };
    match renameat_with(CWD, temp, CWD, out, flags) {
        Ok(()) => Ok(()),
        Err(e) => {
            let _ = std::fs::remove_file(temp);
            if e == rustix::io::Errno::EXIST {
                bail!(
                    "{}: exists; refusing to overwrite it (use --force to replace it)",
                    shown::path(out)
                )
            }
            Err(std::io::Error::from(e))
                .map_err(|e| anyhow::anyhow!("{}: cannot create: {e}", shown::path(out)))
        }
    }
}
