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

use logkeep_format::chain::Committed;
use logkeep_format::chain::{self, ChainError};
use logkeep_format::layout::Layout;
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

/// The records the remote holds under `prefix`, found by listing `chain/` in key order: record
/// objects (`chain/N.json` in the flat layout, `chain/SHARD/N.json` in layout 2) and, in layout
/// 2, packs (`chain/SHARD/FIRST.pack`, which hold records FIRST to the end of their run).
/// Returns the last `N` such that records 1 to N are all there.
pub fn listed_head_seq(client: &Client, spec: &RemoteSpec, lay: Layout) -> Result<u64, Error> {
    let mut next = 1;
    let prefix = spec.key(&format!("{}/", layout::CHAIN_DIR));
    client.list(&prefix, None, |l| {
        let rel = l.key.strip_prefix(&prefix).unwrap_or_default();
        let name = match (lay.is_sharded(), rel.split_once('/')) {
            (false, None) => rel,
            (true, Some((shard, name))) if layout::parse_shard_name(shard).is_some() => name,
            _ => return Ok(()),
        };
        if layout::parse_record_name(name) == Some(next) {
            next += 1;
        } else if let Some(first) = lay.parse_pack_name(name)
            && first <= next
            && next <= lay.pack_last(first)
        {
            next = lay.pack_last(first) + 1;
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
    let lay = remote_layout(client, spec)?;
    let key = spec.key(&lay.record_rel(seq));
    let bytes = match client.get_small(&key, logkeep_format::record::MAX_RECORD_BYTES) {
        Ok(b) => b,
        Err(e) if lay.is_sharded() && e.code() == Some("NoSuchKey") => {
            // Packed: the record is line `seq - first` of its run's pack.
            let pkey = spec.key(&lay.pack_rel(seq).unwrap_or_default());
            let pack = client.get_small(&pkey, lay.max_pack_bytes())?;
            let line = (seq - lay.pack_first(seq)) as usize;
            match pack.split(|&b| b == b'\n').nth(line) {
                Some(l) if !l.is_empty() => l.to_vec(),
                _ => {
                    return Err(Error::Mismatch {
                        target: pkey,
                        what: format!("holds no line for record {seq}"),
                    });
                }
            }
        }
        Err(e) => return Err(e),
    };
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
    let n = listed_head_seq(client, spec, Layout::detect(store))?;
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
    let _ = store_id;
    let mut files = chain::committed_files(store, from);
    while head.map_or(0, |h| h.seq) < upto.seq {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let Some(file) = files.next() else {
            return Err(refused(format!(
                "the store's chain ends before record {}",
                head.map_or(1, |h| h.seq + 1)
            )));
        };
        match file.map_err(chain_err)? {
            Committed::Segment { rel, sha256, .. } => {
                let path = store.join(&rel);
                if !path.exists() {
                    done.unavailable += 1;
                } else if upload(client, spec, &rel, &path, &sha256.0, &mut done)? {
                    done.segments += 1;
                }
            }
            Committed::Record { seq, rel, hash } => {
                let path = store.join(&rel);
                if !path.exists() {
                    // Packed since the walk began: the next pass takes its run's pack.
                    break;
                }
                if upload(client, spec, &rel, &path, &hash.0, &mut done)? {
                    done.records += 1;
                }
                advance(store, seq, &mut head, &mut done, &mut progress);
            }
            Committed::Pack { first, last, rel } => {
                let path = store.join(&rel);
                let bytes = std::fs::read(&path).map_err(|source| Error::File {
                    path: path.clone(),
                    source,
                })?;
                let sha = Sha256::of(&bytes).0;
                if upload(client, spec, &rel, &path, &sha, &mut done)? {
                    done.records += last + 1 - first;
                }
                // The pack's lines are its records' exact bytes (the store checked them when
                // it packed them): the newest checkpoint among them, and the head at its end.
                let mut at = None;
                for (line, seq) in bytes.split(|&b| b == b'\n').zip(first..=last) {
                    if matches!(
                        Record::parse(line).map(|r| r.event),
                        Ok(Event::Checkpoint { .. })
                    ) {
                        done.checkpoint = Some(seq);
                    }
                    at = Some(Head {
                        seq,
                        hash: Sha256::of(line),
                    });
                }
                if let Some(h) = at.filter(|h| h.seq == last) {
                    head = Some(h);
                    progress(h);
                }
            }
        }
    }
    Ok(done)
}

/// The remote's head moves to record `seq`: note a checkpoint, report progress.
fn advance(
    store: &Path,
    seq: u64,
    head: &mut Option<Head>,
    done: &mut Pushed,
    progress: &mut impl FnMut(Head),
) {
    if let Ok(Some(l)) = chain::read_link(store, seq) {
        if matches!(l.record.event, Event::Checkpoint { .. }) {
            done.checkpoint = Some(seq);
        }
        let h = l.head();
        *head = Some(h);
        progress(h);
    }
}

/// The layout of the store copied under the remote's prefix, from its `logkeep-store.json`.
pub fn remote_layout(client: &Client, spec: &RemoteSpec) -> Result<Layout, Error> {
    let key = spec.key(layout::STORE_FILE);
    let bytes = client.get_small(&key, 1 << 20)?;
    let info: logkeep_format::layout::StoreInfo =
        serde_json::from_slice(&bytes).map_err(|e| Error::Mismatch {
            target: key.clone(),
            what: e.to_string(),
        })?;
    Layout::of(&info).map_err(|what| Error::Mismatch { target: key, what })
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
