//! The host's signing key: an Ed25519 key in a PKCS#8 PEM file, mode 0600, never printed and
//! never taken on the command line (a key in an argument list ends up in shell histories, in
//! `ps` output and in the very logs logkeep preserves).

use anyhow::{Context, Result, bail};
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::{
    DecodePrivateKey, EncodePrivateKey, EncodePublicKey, spki::der::pem::LineEnding,
};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Create a new key at `path`; refuses to overwrite. Returns its fingerprint.
pub fn generate(path: &Path) -> Result<String> {
    let mut seed = [0u8; 32];
    rustix::rand::getrandom(&mut seed, rustix::rand::GetRandomFlags::empty())
        .context("cannot get random bytes from the kernel")?;
    let key = SigningKey::from_bytes(&seed);
    // PKCS#8 v1 (the seed alone), which OpenSSL 3.0 reads as well; v2, with the public key
    // embedded, is not accepted by every OpenSSL release.
    let pem = ed25519_dalek::pkcs8::KeypairBytes {
        secret_key: key.to_bytes(),
        public_key: None,
    }
    .to_pkcs8_pem(LineEnding::LF)
    .context("cannot encode the key")?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("{}: cannot create directory", dir.display()))?;
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| {
            format!(
                "{}: cannot create the key file (an existing key is never overwritten)",
                path.display()
            )
        })?;
    f.write_all(pem.as_bytes())
        .and_then(|_| f.sync_all())
        .with_context(|| format!("{}: cannot write", path.display()))?;
    Ok(logkeep_format::bundle::fingerprint(&key.verifying_key()))
}

/// Load the key at `path`, refusing one that others can read.
pub fn load(path: &Path) -> Result<SigningKey> {
    let meta = std::fs::metadata(path).with_context(|| {
        format!(
            "{}: no signing key (create one with `logkeep keygen`)",
            path.display()
        )
    })?;
    if meta.permissions().mode() & 0o077 != 0 {
        bail!(
            "{}: the signing key is readable by others (mode {:o}); chmod 600 it",
            path.display(),
            meta.permissions().mode() & 0o777
        );
    }
    let pem = std::fs::read_to_string(path)
        .with_context(|| format!("{}: cannot read", path.display()))?;
    SigningKey::from_pkcs8_pem(&pem)
        .map_err(|e| anyhow::anyhow!("{}: not an Ed25519 PKCS#8 PEM key: {e}", path.display()))
}

/// The public half as SubjectPublicKeyInfo PEM, as `openssl pkeyutl -pubin` reads it.
pub fn public_pem(key: &SigningKey) -> Result<String> {
    key.verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .context("cannot encode the public key")
}
