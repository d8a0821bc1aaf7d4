//! logkeep's signing state: the directory `[signing] key` names, holding the root public key,
//! the current epoch's secret key and the statement that introduced it, and during an epoch
//! switch the successor's. One process uses it at a time (an exclusive `flock`).
//!
//! ```text
//! STATE/                       mode 0700
//!   root.pub                   the root public key (SubjectPublicKeyInfo PEM)
//!   root.key                   the root secret (PKCS#8 PEM), only with `keygen --keep-root`
//!   epoch-<E>.key              the epoch's secret: its 32-byte seed, mode 0600
//!   epoch-<E>.statement.json   the `epoch` event that introduced it (one JSON line)
//! ```
//!
//! An epoch switch is crash-safe in three steps (`docs/FORMAT.md`, "Epoch switch"):
//! [`SigningState::begin_switch`] makes the successor key and its statement signed by the
//! current key and writes both durably (from then on the successor is fixed: a restart never
//! makes another); the caller commits the statement to the chain; [`SigningState::finish_switch`]
//! destroys the old secret (overwritten with zeros, fsynced, unlinked, the directory fsynced;
//! zeroed in memory on drop). [`SigningState::open`] and [`SigningState::reconcile`] finish a
//! switch a crash interrupted, from whatever step it reached. Statement and checkpoint texts are
//! the format crate's ([`logkeep_format::seal`]), since verifiers need them.

use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use logkeep_format::layout::Head;
use logkeep_format::seal::{self, Statement};
use logkeep_format::shown::Shown;
use logkeep_format::{Event, bundle};
use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// The root public key's file.
pub const ROOT_PUB: &str = "root.pub";
/// The root secret's file, present only when the administrator kept it on the host.
pub const ROOT_KEY: &str = "root.key";
/// Prefix of temporary files; a secret in one is overwritten before it is removed.
const TMP: &str = ".tmp-";

/// File name of epoch `e`'s secret.
pub fn key_name(e: u64) -> String {
    format!("epoch-{e}.key")
}

/// File name of epoch `e`'s statement.
pub fn statement_name(e: u64) -> String {
    format!("epoch-{e}.statement.json")
}

/// What went wrong, with the file it is about.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// An I/O error on a path.
    #[error("{}: {source}", Shown::path(path))]
    Io {
        /// The path.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// The state is not usable as it is.
    #[error("{}: {what}", Shown::path(path))]
    State {
        /// The file or directory.
        path: PathBuf,
        /// What is wrong and what to do.
        what: String,
    },
    /// Another process holds the state.
    #[error(
        "{}: the signing state is in use by another logkeep process (the daemon signs for the others through its control socket)",
        Shown::path(path)
    )]
    Locked {
        /// The directory.
        path: PathBuf,
    },
}

fn io_at(path: &Path) -> impl FnOnce(io::Error) -> SealError + '_ {
    move |source| SealError::Io {
        path: path.to_owned(),
        source,
    }
}

fn state(path: &Path, what: impl Into<String>) -> SealError {
    SealError::State {
        path: path.to_owned(),
        what: what.into(),
    }
}

/// Make core dumps of this process impossible, so that no secret it holds ends up in one:
/// `PR_SET_DUMPABLE` 0 (also keeps other processes of the same user from reading its memory
/// through `/proc`) and `RLIMIT_CORE` 0.
pub fn no_core_dumps() -> io::Result<()> {
    use rustix::process::{DumpableBehavior, Resource, Rlimit, set_dumpable_behavior, setrlimit};
    setrlimit(
        Resource::Core,
        Rlimit {
            current: Some(0),
            maximum: Some(0),
        },
    )?;
    set_dumpable_behavior(DumpableBehavior::NotDumpable)?;
    Ok(())
}

/// A new random Ed25519 key from the kernel's generator.
pub fn random_key() -> io::Result<SigningKey> {
    let mut seed = Zeroizing::new([0u8; 32]);
    rustix::rand::getrandom(&mut seed[..], rustix::rand::GetRandomFlags::empty())?;
    Ok(SigningKey::from_bytes(&seed))
}

/// fsync a directory.
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Write `bytes` to `dir/name` durably through a temporary file, mode 0600. A secret left in
/// the temporary file by a failure is overwritten before removal.
fn write_durable(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), SealError> {
    let tmp = dir.join(format!("{TMP}{name}"));
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, dir.join(name))?;
        sync_dir(dir)
    })();
    if result.is_err() && tmp.exists() {
        let _ = destroy_file(&tmp);
    }
    result.map_err(io_at(&dir.join(name)))
}

/// Destroy a file that held a secret: overwrite every byte with zeros, fsync, unlink, fsync
/// the directory.
pub fn destroy_file(path: &Path) -> io::Result<()> {
    let mut f = OpenOptions::new().write(true).open(path)?;
    let len = f.metadata()?.len();
    let zeros = [0u8; 4096];
    let mut left = len;
    while left > 0 {
        let n = left.min(zeros.len() as u64) as usize;
        f.write_all(&zeros[..n])?;
        left -= n as u64;
    }
    f.sync_all()?;
    drop(f);
    fs::remove_file(path)?;
    if let Some(dir) = path.parent() {
        sync_dir(dir)?;
    }
    Ok(())
}

/// Read a secret file: refused when others may read it.
fn read_secret(path: &Path) -> Result<Zeroizing<Vec<u8>>, SealError> {
    let mut f = File::open(path).map_err(io_at(path))?;
    let mode = f.metadata().map_err(io_at(path))?.permissions().mode();
    if mode & 0o077 != 0 {
        return Err(state(
            path,
            format!(
                "a secret key readable by others (mode {:o}); chmod 600 it",
                mode & 0o777
            ),
        ));
    }
    let mut buf = Zeroizing::new(Vec::with_capacity(64));
    Read::by_ref(&mut f)
        .take(4096)
        .read_to_end(&mut buf)
        .map_err(io_at(path))?;
    Ok(buf)
}

/// One epoch's key and the statement that introduced it.
pub struct EpochKey {
    epoch: u64,
    key: SigningKey,
    statement: Event,
}

impl std::fmt::Debug for EpochKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secret.
        f.debug_struct("EpochKey")
            .field("epoch", &self.epoch)
            .field("public", &seal::b64(self.key.verifying_key().as_bytes()))
            .finish()
    }
}

impl EpochKey {
    fn public_b64(&self) -> String {
        seal::b64(self.key.verifying_key().as_bytes())
    }
}

/// What a daemon (or a daemon-free command) must do so that the chain and the state agree
/// (see [`SigningState::reconcile`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// The chain holds the current statement: nothing to do.
    Nothing,
    /// The chain already holds the successor's statement: call
    /// [`SigningState::finish_switch`] (step 3).
    Finish,
    /// Commit this statement to the chain, then, when `finish`, call
    /// [`SigningState::finish_switch`].
    Record {
        /// The `epoch` event to commit.
        statement: Event,
        /// Whether a switch is being finished.
        finish: bool,
    },
}

/// The signing state directory, locked by this process.
pub struct SigningState {
    dir: PathBuf,
    _lock: File,
    root: VerifyingKey,
    current: EpochKey,
    pending: Option<EpochKey>,
}

impl std::fmt::Debug for SigningState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningState")
            .field("dir", &self.dir)
            .field("epoch", &self.current.epoch)
            .field("pending", &self.pending.as_ref().map(|p| p.epoch))
            .finish()
    }
}

/// The root public key's PEM, as `openssl pkey -pubin` reads it.
pub fn public_pem(key: &VerifyingKey) -> String {
    key.to_public_key_pem(LineEnding::LF).unwrap_or_default()
}

/// The root secret as PKCS#8 PEM (v1, the seed alone: every OpenSSL 3 reads it).
pub fn secret_pem(key: &SigningKey) -> Result<Zeroizing<String>, SealError> {
    ed25519_dalek::pkcs8::KeypairBytes {
        secret_key: key.to_bytes(),
        public_key: None,
    }
    .to_pkcs8_pem(LineEnding::LF)
    .map(|p| Zeroizing::new(p.to_string()))
    .map_err(|e| state(Path::new("root key"), format!("cannot encode: {e}")))
}

/// Read a root secret written by [`secret_pem`] (`keygen --root-out`, `--keep-root`).
pub fn read_root_secret(path: &Path) -> Result<SigningKey, SealError> {
    use ed25519_dalek::pkcs8::DecodePrivateKey;
    let bytes = read_secret(path)?;
    let text = std::str::from_utf8(&bytes).map_err(|_| state(path, "not a PKCS#8 PEM root key"))?;
    SigningKey::from_pkcs8_pem(text)
        .map_err(|e| state(path, format!("not an Ed25519 PKCS#8 PEM key: {e}")))
}

/// Read a public key in PEM (SubjectPublicKeyInfo), as in `root.pub`.
pub fn read_public_pem(path: &Path) -> Result<VerifyingKey, SealError> {
    let text = fs::read_to_string(path).map_err(io_at(path))?;
    VerifyingKey::from_public_key_pem(&text)
        .map_err(|e| state(path, format!("not an Ed25519 public key in PEM: {e}")))
}

/// Why `dir` is not a signing state directory, when it is a format 1 key file or absent.
fn check_is_state(dir: &Path) -> Result<(), SealError> {
    match fs::metadata(dir) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(state(
            dir,
            "a format 1 signing key file; format 2 keeps a signing state directory here (root key, epoch keys). Make a new one with `logkeep keygen` (a new fingerprint to hand over), and keep the old file with the bundles it signed",
        )),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(state(
            dir,
            "no signing state (create one with `logkeep keygen`, or re-enrol this host with `logkeep keygen --enrol --root ROOT.key`)",
        )),
        Err(e) => Err(io_at(dir)(e)),
    }
}

/// The fingerprint of the root key of the state at `dir`, read without locking it.
pub fn root_fingerprint(dir: &Path) -> Result<String, SealError> {
    check_is_state(dir)?;
    Ok(bundle::fingerprint(&read_public_pem(&dir.join(ROOT_PUB))?))
}

impl SigningState {
    /// Create a state at `dir` (absent or an empty directory) enrolled by `root`: `root.pub`,
    /// epoch `epoch`'s key and its statement signed by the root. The root secret is not
    /// written; the caller decides where it goes.
    pub fn create(dir: &Path, root: &SigningKey, epoch: u64) -> Result<SigningState, SealError> {
        match fs::read_dir(dir) {
            Ok(mut entries) => {
                if entries.next().is_some() {
                    return Err(state(
                        dir,
                        "exists and is not empty: an existing signing state is never overwritten",
                    ));
                }
                fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(io_at(dir))?;
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(dir)
                    .map_err(io_at(dir))?;
            }
            Err(e) if e.kind() == io::ErrorKind::NotADirectory => {
                return Err(state(dir, "is a file, not a directory"));
            }
            Err(e) => return Err(io_at(dir)(e)),
        }
        if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
            let _ = sync_dir(parent);
        }
        let pem = public_pem(&root.verifying_key());
        write_durable(dir, ROOT_PUB, pem.as_bytes())?;
        let key = random_key().map_err(io_at(dir))?;
        let statement = seal::sign_statement(root, epoch, &key.verifying_key(), None);
        write_durable(dir, &key_name(epoch), key.as_bytes())?;
        write_durable(dir, &statement_name(epoch), &statement_line(&statement))?;
        drop(key);
        SigningState::open(dir)
    }

    /// Open and lock the state at `dir`, cleaning what a crash left: temporary files (a secret
    /// in one is overwritten first), a successor key whose statement was never written (the
    /// switch had not fixed it yet), statements without their key.
    pub fn open(dir: &Path) -> Result<SigningState, SealError> {
        check_is_state(dir)?;
        let lock = File::open(dir).map_err(io_at(dir))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                return Err(SealError::Locked {
                    path: dir.to_owned(),
                });
            }
            Err(fs::TryLockError::Error(e)) => return Err(io_at(dir)(e)),
        }
        let mode = lock.metadata().map_err(io_at(dir))?.permissions().mode();
        if mode & 0o077 != 0 {
            return Err(state(
                dir,
                format!(
                    "the signing state directory is open to others (mode {:o}); chmod 700 it",
                    mode & 0o777
                ),
            ));
        }
        let root = read_public_pem(&dir.join(ROOT_PUB))?;
        let mut keys = BTreeMap::new();
        let mut statements = BTreeMap::new();
        for e in fs::read_dir(dir).map_err(io_at(dir))? {
            let e = e.map_err(io_at(dir))?;
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with(TMP) {
                destroy_file(&e.path()).map_err(io_at(&e.path()))?;
            } else if let Some(n) = epoch_of(&name, ".key") {
                keys.insert(n, e.path());
            } else if let Some(n) = epoch_of(&name, ".statement.json") {
                statements.insert(n, e.path());
            }
        }
        for (n, path) in &keys {
            if !statements.contains_key(n) {
                // Step 1 of a switch did not finish: this successor was never fixed.
                destroy_file(path).map_err(io_at(path))?;
            }
        }
        for (n, path) in &statements {
            if !keys.contains_key(n) {
                fs::remove_file(path).map_err(io_at(path))?;
            }
        }
        let epochs: Vec<u64> = keys
            .keys()
            .copied()
            .filter(|n| statements.contains_key(n))
            .collect();
        let load = |n: u64| -> Result<EpochKey, SealError> {
            let kp = dir.join(key_name(n));
            let sp = dir.join(statement_name(n));
            let bytes = read_secret(&kp)?;
            let seed: [u8; 32] = bytes
                .as_slice()
                .try_into()
                .map_err(|_| state(&kp, "not a 32-byte epoch key"))?;
            let key = SigningKey::from_bytes(&seed);
            let text = fs::read(&sp).map_err(io_at(&sp))?;
            let statement: Event = serde_json::from_slice(&text)
                .map_err(|e| state(&sp, format!("not a key statement: {e}")))?;
            let s = match Statement::check(&statement) {
                Some(Ok(s)) => s,
                Some(Err(e)) => return Err(state(&sp, e)),
                None => return Err(state(&sp, "not a key statement")),
            };
            if s.epoch != n || s.key != key.verifying_key() {
                return Err(state(
                    &sp,
                    format!("does not introduce the key of {}", key_name(n)),
                ));
            }
            Ok(EpochKey {
                epoch: n,
                key,
                statement,
            })
        };
        let (current, pending) = match epochs.as_slice() {
            [] => {
                return Err(state(
                    dir,
                    "holds no epoch key: the signing state was lost or destroyed; re-enrol this host with `logkeep keygen --enrol --root ROOT.key`",
                ));
            }
            [n] => (load(*n)?, None),
            [a, b] if *b == a + 1 => {
                let next = load(*b)?;
                match load(*a) {
                    Ok(cur) => (cur, Some(next)),
                    // A destruction cut short (the old key partly overwritten): the switch was
                    // past its step 2, the successor is current.
                    Err(_) => (next, None),
                }
            }
            more => {
                return Err(state(
                    dir,
                    format!(
                        "holds keys of epochs {more:?}: at most the current one and its successor can exist; the state is damaged"
                    ),
                ));
            }
        };
        if let Some(p) = &pending {
            let ok = matches!(Statement::check(&p.statement), Some(Ok(s))
                if s.signer == current.key.verifying_key() && s.head.is_some());
            if !ok {
                return Err(state(
                    &dir.join(statement_name(p.epoch)),
                    format!("is not signed by epoch {}'s key", current.epoch),
                ));
            }
        }
        Ok(SigningState {
            dir: dir.to_owned(),
            _lock: lock,
            root,
            current,
            pending,
        })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The root public key.
    pub fn root(&self) -> &VerifyingKey {
        &self.root
    }

    /// The root key's fingerprint: what the police received.
    pub fn fingerprint(&self) -> String {
        bundle::fingerprint(&self.root)
    }

    /// The current epoch.
    pub fn epoch(&self) -> u64 {
        self.current.epoch
    }

    /// The current epoch's public key.
    pub fn public(&self) -> VerifyingKey {
        self.current.key.verifying_key()
    }

    /// The statement that introduced the current epoch.
    pub fn statement(&self) -> &Event {
        &self.current.statement
    }

    /// The successor's statement, while a switch is between its steps 1 and 3.
    pub fn pending(&self) -> Option<&Event> {
        self.pending.as_ref().map(|p| &p.statement)
    }

    /// Sign `message` with the current epoch key.
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.current.key.sign(message).to_bytes()
    }

    /// The checkpoint event of `head` for store `store` in a record written at `time`.
    pub fn checkpoint(&self, store: &str, head: Head, time: &str) -> Event {
        seal::sign_checkpoint(&self.current.key, store, self.current.epoch, head, time)
    }

    /// Step 1 of a switch: make the successor key and its statement (naming `head`) signed by
    /// the current key, and write both durably. If a successor is already fixed (a switch
    /// interrupted after this step), it is returned, never replaced.
    pub fn begin_switch(&mut self, head: Head) -> Result<Event, SealError> {
        if let Some(p) = &self.pending {
            return Ok(p.statement.clone());
        }
        let next = self.current.epoch + 1;
        let key = random_key().map_err(io_at(&self.dir))?;
        let statement =
            seal::sign_statement(&self.current.key, next, &key.verifying_key(), Some(head));
        write_durable(&self.dir, &key_name(next), key.as_bytes())?;
        write_durable(
            &self.dir,
            &statement_name(next),
            &statement_line(&statement),
        )?;
        self.pending = Some(EpochKey {
            epoch: next,
            key,
            statement: statement.clone(),
        });
        Ok(statement)
    }

    /// Step 3 of a switch, once the successor's statement is in the chain: destroy the old
    /// secret on disk (and, dropped, in memory); the successor becomes current.
    pub fn finish_switch(&mut self) -> Result<(), SealError> {
        let Some(next) = self.pending.take() else {
            return Ok(());
        };
        let old = std::mem::replace(&mut self.current, next);
        let kp = self.dir.join(key_name(old.epoch));
        destroy_file(&kp).map_err(io_at(&kp))?;
        let sp = self.dir.join(statement_name(old.epoch));
        match fs::remove_file(&sp) {
            Ok(()) => sync_dir(&self.dir).map_err(io_at(&self.dir))?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_at(&sp)(e)),
        }
        drop(old);
        Ok(())
    }

    /// What to do so that the chain, whose newest key statement is `chain` (epoch and base64
    /// public key), and this state agree: record the current statement (an enrolment or
    /// re-enrolment the chain does not have yet), record the successor's (a switch cut after
    /// step 1), finish a switch cut after step 2, or nothing. An error when the state does not
    /// continue the chain's keys (another store's state, or an old copy).
    pub fn reconcile(&self, chain: Option<(u64, &str)>) -> Result<Plan, SealError> {
        let cur = (self.current.epoch, self.current.public_b64());
        let is = |e: &(u64, String)| chain.is_some_and(|(ce, ck)| ce == e.0 && ck == e.1);
        if let Some(p) = &self.pending {
            let next = (p.epoch, p.public_b64());
            if is(&next) {
                return Ok(Plan::Finish);
            }
            if is(&cur) {
                return Ok(Plan::Record {
                    statement: p.statement.clone(),
                    finish: true,
                });
            }
        } else {
            if is(&cur) {
                return Ok(Plan::Nothing);
            }
            let enrolment = matches!(&self.current.statement, Event::Epoch { head: None, .. });
            if enrolment && chain.is_none_or(|(ce, _)| self.current.epoch > ce) {
                return Ok(Plan::Record {
                    statement: self.current.statement.clone(),
                    finish: false,
                });
            }
        }
        let at = chain.map_or_else(
            || "has no key statement".to_string(),
            |(e, _)| format!("is at epoch {e}"),
        );
        Err(state(
            &self.dir,
            format!(
                "holds epoch {} but the store's chain {at}: this is not the store's signing state, or an old copy of it (its keys must not be used again). Re-enrol this host: `logkeep keygen --enrol --root ROOT.key --key NEW-DIR --epoch {}`",
                self.current.epoch,
                chain.map_or(1, |(e, _)| e + 1).max(self.current.epoch + 1)
            ),
        ))
    }
}

fn epoch_of(name: &str, suffix: &str) -> Option<u64> {
    let n = name.strip_prefix("epoch-")?.strip_suffix(suffix)?;
    if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) || n.starts_with('0') {
        return None;
    }
    n.parse().ok()
}

fn statement_line(e: &Event) -> Vec<u8> {
    let mut v = serde_json::to_vec(e).unwrap_or_default();
    v.push(b'\n');
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use logkeep_format::Sha256;

    fn head(n: u64) -> Head {
        Head {
            seq: n,
            hash: Sha256::of(&n.to_le_bytes()),
        }
    }

    fn files(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn a_switch_interrupted_at_each_step_ends_with_one_successor() {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join("state");
        let root = random_key().unwrap();
        let s = SigningState::create(&dir, &root, 1).unwrap();
        assert_eq!(
            s.reconcile(None).unwrap(),
            Plan::Record {
                statement: s.statement().clone(),
                finish: false
            }
        );
        let k1 = seal::b64(s.public().as_bytes());
        // Locked while open.
        assert!(matches!(
            SigningState::open(&dir),
            Err(SealError::Locked { .. })
        ));
        let mut s = s;
        let st = s.begin_switch(head(3)).unwrap();
        // Cut after step 1: the same successor comes back, the chain gets it recorded.
        drop(s);
        let mut s = SigningState::open(&dir).unwrap();
        assert_eq!(s.pending(), Some(&st));
        assert_eq!(s.begin_switch(head(9)).unwrap(), st);
        assert_eq!(
            s.reconcile(Some((1, &k1))).unwrap(),
            Plan::Record {
                statement: st.clone(),
                finish: true
            }
        );
        // Cut after step 2: the chain has it; finishing destroys epoch 1.
        let Event::Epoch { key: k2, .. } = &st else {
            panic!()
        };
        assert_eq!(s.reconcile(Some((2, k2))).unwrap(), Plan::Finish);
        s.finish_switch().unwrap();
        assert_eq!(s.epoch(), 2);
        drop(s);
        assert_eq!(
            files(&dir),
            vec!["epoch-2.key", "epoch-2.statement.json", "root.pub"]
        );
        let s = SigningState::open(&dir).unwrap();
        assert_eq!(s.reconcile(Some((2, k2))).unwrap(), Plan::Nothing);
        // An old copy of the state is refused.
        assert!(s.reconcile(Some((3, k2))).is_err());
    }

    #[test]
    fn a_successor_without_its_statement_is_destroyed() {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join("state");
        let root = random_key().unwrap();
        drop(SigningState::create(&dir, &root, 1).unwrap());
        fs::write(dir.join(key_name(2)), [7u8; 32]).unwrap();
        fs::write(dir.join(".tmp-epoch-3.key"), [8u8; 32]).unwrap();
        let s = SigningState::open(&dir).unwrap();
        assert_eq!(s.epoch(), 1);
        assert!(s.pending().is_none());
        assert_eq!(
            files(&dir),
            vec!["epoch-1.key", "epoch-1.statement.json", "root.pub"]
        );
    }
}
