//! `logkeep keygen`: create the host's signing key and print its fingerprint.

use std::path::PathBuf;

/// `logkeep keygen`: create the signing key at `--key`, else where the configuration says,
/// else at the default path, and print its fingerprint.
pub fn run(config: Option<PathBuf>, key: Option<PathBuf>) -> anyhow::Result<u8> {
    let path = match (key, config) {
        (Some(k), _) => k,
        (None, Some(c)) => crate::config::Config::load(&c)?.signing_key,
        (None, None) => crate::config::DEFAULT_KEY.into(),
    };
    let fp = crate::keys::generate(&path)?;
    println!("created signing key {}", path.display());
    println!("fingerprint: {fp}");
    println!(
        "Write the fingerprint down and keep it apart from this host: investigators check bundles against it."
    );
    Ok(0)
}
