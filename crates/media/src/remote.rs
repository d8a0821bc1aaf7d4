//! The replication engine's second kind of target: an S3 bucket with Object Lock, where every
//! committed file of the store becomes an object nobody on the host can delete before its
//! retention date.
//!
//! Object keys are the remote's prefix plus the file's path relative to the store
//! ([`crate::committed`]), so a bucket prefix holds a store directory's layout and
//! `logkeep remote pull` rebuilds one from it. A file counts as copied only once `HEAD` has read
//! it back (size, checksum, lock mode and date; see `logkeep_remote`). Where the remote stands
//! is found by listing it, at start and after every failure, never from a local note: a remote
//! that holds records 1 to N in a row, the last one the same bytes as the store's, is copied on
//! from N.

use crate::committed::{self, Kind};
use logkeep_format::chain::{self, ChainError};
use logkeep_format::layout::{self, Head};
use logkeep_format::{Event, Record, Sha256};
use logkeep_remote::{Client, Credentials, Error, Lock, LockMode};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

/// A configured remote.
#[derive(Debug, Clone)]
pub struct RemoteSpec {
    /// Id.
    pub id: String,
    /// `http(s)://host:port`.
    pub endpoint: String,
    /// Bucket (created with Object Lock enabled).
    pub bucket: String,
    /// Key prefix, empty or ending in `/`.
    pub prefix: String,
    /// Region, for signing.
    pub region: String,
    /// The credentials file; `None`: the standard AWS environment variables.
    pub credentials: Option<PathBuf>,
    /// Lock mode of every object.
    pub mode: LockMode,
    /// Retain-until = upload time + this.
    pub retention: Duration,
    /// Bound on connecting and on every wait for an answer.
    pub timeout: Duration,
}

impl RemoteSpec {
    /// A client for this remote, with its credentials read now (so that a fixed credentials
    /// file is picked up at the next attempt).
    pub fn client(&self) -> Result<Client, Error> {
        let creds = match &self.credentials {
            Some(p) => Credentials::from_file(p)?,
            None => Credentials::from_env().ok_or_else(|| Error::Credentials {
                where_: "environment".into(),
                what: "no credentials file is configured and AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set".into(),
            })?,
        };
        Client::new(
            &self.endpoint,
            &self.bucket,
            &self.region,
            creds,
            self.timeout,
        )
    }

    /// The object key of a file at `rel` in the store.
    pub fn key(&self, rel: &str) -> String {
        format!("{}{rel}", self.prefix)
    }

    fn lock(&self) -> Lock {
        Lock {
            mode: self.mode,
            until: SystemTime::now() + self.retention,
        }
    }
}

/// A remote's state, for `status` and `remote list`. Every `Option` member is present in the
/// JSON (as `null` when empty).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteState {
    /// Id.
    pub id: String,
    /// Where: `ENDPOINT/BUCKET/PREFIX`.
    pub location: String,
    /// `ok`, `connecting`, or `failed: WHY` (retried with backoff).
    pub state: String,
    /// The newest record copied and read back.
    #[serde(deserialize_with = "Option::deserialize")]
    pub head: Option<Head>,
    /// Records the remote is behind the store.
    pub behind: u64,
    /// The newest signed checkpoint record copied, if known.
    #[serde(deserialize_with = "Option::deserialize")]
    pub checkpoint: Option<u64>,
    /// When the last copy finished, RFC 3339 UTC.
    #[serde(deserialize_with = "Option::deserialize")]
    pub last_copy: Option<String>,
}

/// Why a remote cannot be copied to (beyond an outage, which is retried).
fn refused(what: String) -> Error {
    Error::Mismatch {
        target: "remote".into(),
        what,
    }
}

fn chain_err(e: ChainError) -> Error {
    match e {
        ChainError::Io { path, source } => Error::File { path, source },
        e => Error::Mismatch {
            target: e.path().display().to_string(),
            what: e.what(),
        },
    }
}

/// The records the remote holds under `prefix`: the sequence numbers of `chain/` objects, in
/// order, and the sizes of `segments/` objects are not needed. Returns the last `N` such that
/// records 1 to N are all there.
pub fn listed_head_seq(client: &Client, spec: &RemoteSpec) -> Result<u64, Error> {
    let mut next = 1;
    let prefix = spec.key(&format!("{}/", layout::CHAIN_DIR));
    client.list(&prefix, None, |l| {
        let name = l.key.strip_prefix(&prefix).unwrap_or_default();
        if layout::parse_record_name(name) == Some(next) {
            next += 1;
        }
        Ok(())
    })?;
    Ok(next - 1)
}

/// Fetch and parse the remote's record `seq`, returning it with the SHA-256 of its bytes.
pub fn fetch_record(
    client: &Client,
    spec: &RemoteSpec,
    seq: u64,
) -> Result<(Record, Sha256), Error> {
    let key = spec.key(&format!(
        "{}/{}",
        layout::CHAIN_DIR,
        layout::record_name(seq)
    ));
    let bytes = client.get_small(&key, logkeep_format::record::MAX_RECORD_BYTES)?;
    let hash = Sha256::of(&bytes);
    let record = Record::parse(&bytes).map_err(|e| Error::Mismatch {
        target: key.clone(),
        what: e.to_string(),
    })?;
    Ok((record, hash))
}

/// Where the remote stands against the store at `store`: the head of the records it holds in
/// a row from the first, checked to be the store's own record at that position. A remote
/// that holds more than the store, or a different record, is refused: the store was rolled
/// back, or the prefix holds another store's copy.
pub fn remote_head(
    client: &Client,
    spec: &RemoteSpec,
    store: &Path,
) -> Result<Option<Head>, Error> {
    let n = listed_head_seq(client, spec)?;
    if n == 0 {
        return Ok(None);
    }
    let (_, hash) = fetch_record(client, spec, n)?;
    match chain::read_link(store, n).map_err(chain_err)? {
        Some(l) if l.hash == hash => Ok(Some(l.head())),
        Some(_) => Err(refused(format!(
            "{}: its record {n} differs from the store's: the histories diverge (another store under this prefix, or the store was rewritten); run `logkeep verify --against-remote {}`",
            spec.id, spec.id
        ))),
        None => Err(refused(format!(
            "{}: holds record {n}, which the store does not: the store was rolled back or cut short; run `logkeep verify --against-remote {}`",
            spec.id, spec.id
        ))),
    }
}

/// What one pass of [`sync`] did.
#[derive(Debug, Clone, Default)]
pub struct Pushed {
    /// Records copied.
    pub records: u64,
    /// Segments copied.
    pub segments: u64,
    /// Bytes uploaded.
    pub bytes: u64,
    /// Files found already there (uploaded before an interruption) and not uploaded again.
    pub present: u64,
    /// Segments the store no longer holds.
    pub unavailable: u64,
    /// The newest checkpoint record copied.
    pub checkpoint: Option<u64>,
}

/// Copy what the store committed after `from` (where the remote stands) up to `upto`,
/// calling `progress` with the new head after every record. Stops early when `stop` is set.
#[allow(clippy::too_many_arguments)]
pub fn sync(
    client: &Client,
    spec: &RemoteSpec,
    store: &Path,
    store_id: &str,
    from: Option<Head>,
    upto: Head,
    stop: &AtomicBool,
    mut progress: impl FnMut(Head),
) -> Result<Pushed, Error> {
    let mut done = Pushed::default();
    if from.is_none() {
        // The store's identity first: a pulled copy needs it, and it never changes.
        let path = store.join(layout::STORE_FILE);
        let bytes = std::fs::read(&path).map_err(|source| Error::File {
            path: path.clone(),
            source,
        })?;
        let sha = Sha256::of(&bytes).0;
        upload(client, spec, layout::STORE_FILE, &path, &sha, &mut done)?;
    }
    let mut head = from;
    let mut files = committed::committed_files(store, store_id, from);
    while head.map_or(0, |h| h.seq) < upto.seq {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let Some(file) = files.next() else {
            return Err(refused(format!(
                "the store's chain ends before record {}",
                files.next_seq()
            )));
        };
        let file = file.map_err(chain_err)?;
        let sha: [u8; 32] = file.sha256.0;
        match file.kind {
            Kind::Segment if !file.path.exists() => done.unavailable += 1,
            Kind::Segment => {
                if upload(client, spec, &file.rel, &file.path, &sha, &mut done)? {
                    done.segments += 1;
                }
            }
            Kind::Record(h) => {
                if upload(client, spec, &file.rel, &file.path, &sha, &mut done)? {
                    done.records += 1;
                }
                if let Ok(Some(l)) = chain::read_link(store, h.seq)
                    && matches!(l.record.event, Event::Checkpoint { .. })
                {
                    done.checkpoint = Some(h.seq);
                }
                head = Some(h);
                progress(h);
            }
        }
    }
    Ok(done)
}

/// Upload one file unless the remote holds it already (put there before an interruption,
/// with the same size and lock mode: S3 objects appear only whole). Returns whether it was
/// uploaded.
fn upload(
    client: &Client,
    spec: &RemoteSpec,
    rel: &str,
    path: &Path,
    sha256: &[u8; 32],
    done: &mut Pushed,
) -> Result<bool, Error> {
    let key = spec.key(rel);
    let size = std::fs::metadata(path)
        .map_err(|source| Error::File {
            path: path.to_owned(),
            source,
        })?
        .len();
    if let Some(info) = client.head(&key)?
        && info.size == size
        && info.lock_mode.as_deref() == Some(spec.mode.as_str())
    {
        done.present += 1;
        return Ok(false);
    }
    client.put_file(&key, path, sha256, &spec.lock())?;
    done.bytes += size;
    Ok(true)
}

/// The newest checkpoint record at or below `head` on the remote, looking back at most
/// `lookback` records.
pub fn newest_checkpoint(
    client: &Client,
    spec: &RemoteSpec,
    head: u64,
    lookback: u64,
) -> Result<Option<(Record, Sha256)>, Error> {
    let low = head.saturating_sub(lookback).max(1);
    for seq in (low..=head).rev() {
        let (record, hash) = fetch_record(client, spec, seq)?;
        if matches!(record.event, Event::Checkpoint { .. }) {
            return Ok(Some((record, hash)));
        }
    }
    Ok(None)
}
