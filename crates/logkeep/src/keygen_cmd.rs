//! `logkeep keygen`: create the host's signing state (the root key whose fingerprint the police
//! receive, epoch 1's key and its enrolment) or re-enrol a host with an existing root; and
//! `logkeep fingerprint`: print an existing root key's fingerprint.

use crate::cli::KeygenArgs;
use crate::config::{self, Config};
use anyhow::{Context, Result, bail};
use logkeep_format::chain::ChainReader;
use logkeep_format::shown::Shown;
use logkeep_format::{Event, bundle};
use logkeep_seal::SigningState;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

fn state_path(config: Option<&Path>, key: Option<PathBuf>) -> Result<PathBuf> {
    Ok(match (key, config) {
        (Some(k), _) => k,
        (None, Some(c)) => Config::load(c)?.signing_key,
        (None, None) => config::DEFAULT_KEY.into(),
    })
}

/// The newest epoch in the chain of the store at `store`, if it has one.
fn newest_epoch(store: &Path) -> Result<u64> {
    let mut newest = 0;
    for link in ChainReader::new(store) {
        let link = link.map_err(|e| anyhow::anyhow!("{}: {}", Shown::path(e.path()), e.what()))?;
        if let Event::Epoch { epoch, .. } = link.record.event {
            newest = newest.max(epoch);
        }
    }
    Ok(newest)
}

/// `logkeep keygen`.
pub fn run(args: KeygenArgs) -> Result<u8> {
    let path = state_path(args.config.as_deref(), args.key)?;
    logkeep_seal::no_core_dumps().context("cannot switch off core dumps")?;
    if args.enrol {
        let Some(root_file) = &args.root else {
            bail!("--enrol needs --root FILE (the root secret kept offline)");
        };
        let root = logkeep_seal::read_root_secret(root_file)?;
        let epoch = match (args.epoch, &args.config) {
            (Some(0), _) => bail!("--epoch: epochs start at 1"),
            (Some(e), _) => e,
            (None, Some(c)) => {
                let store = Config::load(c)?.store;
                if store.join(logkeep_format::layout::STORE_FILE).exists() {
                    newest_epoch(&store)? + 1
                } else {
                    1
                }
            }
            (None, None) => bail!(
                "--enrol needs --epoch N (one more than the newest epoch in the store's chain) or --config naming the store"
            ),
        };
        let state = SigningState::create(&path, &root, epoch)?;
        println!(
            "re-enrolled: signing state {} from epoch {epoch}",
            Shown::path(&path)
        );
        println!("fingerprint: {}", state.fingerprint());
        println!("The fingerprint is unchanged: bundles and stores still verify against it.");
        return Ok(0);
    }
    if let Some(out) = &args.root_out
        && std::fs::symlink_metadata(out).is_ok()
    {
        bail!(
            "{}: exists; the root secret is never written over a file",
            Shown::path(out)
        );
    }
    let root = logkeep_seal::random_key().context("cannot get random bytes from the kernel")?;
    let state = SigningState::create(&path, &root, 1)?;
    let fp = state.fingerprint();
    let secret = logkeep_seal::secret_pem(&root)?;
    let kept = match (&args.root_out, args.keep_root) {
        (Some(out), _) => {
            write_secret(out, secret.as_bytes())?;
            Some(out.clone())
        }
        (None, true) => {
            let p = path.join(logkeep_seal::ROOT_KEY);
            write_secret(&p, secret.as_bytes())?;
            Some(p)
        }
        (None, false) => None,
    };
    drop(secret);
    drop(root);
    drop(state);
    println!("created signing state {}", Shown::path(&path));
    println!("fingerprint: {fp}");
    println!(
        "Write the fingerprint down and keep it apart from this host: investigators check stores and bundles against it."
    );
    // Where it was written down is what the day of an incident depends on: the drill checks
    // its bundle against that copy, and fails until it is recorded.
    println!(
        "Confirm where it is written down: put it in the configuration as [incident] fingerprint = \"{fp}\", and who keeps the paper as [incident] fingerprint_holder; `logkeep drill` fails until both are recorded."
    );
    match (kept, args.keep_root) {
        (Some(p), false) => println!(
            "The root secret is in {}: move it to offline storage (a USB key in a safe) and delete it here. With it, `logkeep keygen --enrol --root FILE` re-enrols this host under the same fingerprint if its signing state is lost.",
            Shown::path(&p)
        ),
        (Some(p), true) => println!(
            "The root secret stays on this host ({}): whoever takes the host can then enrol keys of their own. Prefer --root-out FILE and offline storage.",
            Shown::path(&p)
        ),
        (None, _) => println!(
            "The root secret was destroyed after signing epoch 1 (use --root-out FILE to keep it offline). If this signing state is lost, re-enrolment needs a new `logkeep keygen` and a new fingerprint given to the police."
        ),
    }
    Ok(0)
}

fn write_secret(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("{}: cannot create (never overwritten)", Shown::path(path)))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .with_context(|| format!("{}: cannot write", Shown::path(path)))
}

/// `logkeep fingerprint`.
pub fn fingerprint(
    config: Option<PathBuf>,
    key: Option<PathBuf>,
    public: Option<PathBuf>,
) -> Result<u8> {
    let fp = match public {
        Some(p) => bundle::fingerprint(&logkeep_seal::read_public_pem(&p)?),
        None => logkeep_seal::root_fingerprint(&state_path(config.as_deref(), key)?)?,
    };
    println!("{fp}");
    Ok(0)
}
