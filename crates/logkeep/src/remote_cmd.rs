//! `logkeep remote list|pull`, and the remote's head for `verify --against-remote`: the
//! remote as the administrator checks it and as the investigator reads it back, from any
//! machine with the bucket's address and read credentials.

use crate::cli::RemoteAction;
use crate::config::Config;
use anyhow::{Context, Result, bail};
use logkeep_format::layout::{self, Head, Layout};
use logkeep_format::shown;
use logkeep_media::remote::{self, RemoteSpec};
use logkeep_store::durable;
use serde::Serialize;
use std::fs;
use std::io::{BufWriter, Write};
use std::path::Path;

/// How many records back from the remote's head a checkpoint is looked for.
const CHECKPOINT_LOOKBACK: u64 = 2000;

/// Run a remote subcommand.
pub fn run(action: RemoteAction) -> Result<u8> {
    match action {
        RemoteAction::List { config, json } => {
            crate::output::json_errors(json, || list(&config, json))
        }
        RemoteAction::Pull {
            id,
            out,
            host,
            config,
        } => pull(&config, &id, &out, host.as_deref()),
    }
}

fn spec<'a>(c: &'a Config, id: &str) -> Result<&'a RemoteSpec> {
    c.remotes.iter().find(|r| r.id == id).with_context(|| {
        format!(
            "{}: no [[remote]] with id {}",
            c.file.display(),
            shown::text(id)
        )
    })
}

/// One remote as `remote list` shows it.
#[derive(Debug, Serialize)]
struct Listed {
    id: String,
    location: String,
    reachable: bool,
    error: Option<String>,
    /// Records 1 to this are on the remote.
    remote_head: Option<u64>,
    /// Records of the local store the remote does not hold.
    behind: Option<u64>,
    /// The newest checkpoint record on the remote.
    last_checkpoint: Option<u64>,
}

fn list(config: &Path, json: bool) -> Result<u8> {
    let c = Config::load(config)?;
    let local = logkeep_media::chain_head(&c.store).ok().flatten();
    let mut rows = Vec::new();
    for r in &c.remotes {
        let mut row = Listed {
            id: r.id.clone(),
            location: format!("{}/{}/{}", r.endpoint, r.bucket, r.prefix),
            reachable: false,
            error: None,
            remote_head: None,
            behind: None,
            last_checkpoint: None,
        };
        let result = (|| {
            let client = r.client()?;
            let lay = remote::remote_layout(&client, r).unwrap_or_default();
            let n = remote::listed_head_seq(&client, r, lay)?;
            row.reachable = true;
            row.remote_head = Some(n);
            row.behind = local.map(|l| l.seq.saturating_sub(n));
            if n > 0 {
                row.last_checkpoint =
                    remote::newest_checkpoint(&client, r, n, CHECKPOINT_LOOKBACK)?
                        .map(|(rec, _)| rec.seq);
            }
            Ok::<(), logkeep_remote::Error>(())
        })();
        if let Err(e) = result {
            row.error = Some(e.to_string());
        }
        rows.push(row);
    }
    if json {
        let mut out = crate::out::stdout();
        serde_json::to_writer_pretty(&mut out, &rows)?;
        writeln!(out)?;
    } else {
        if rows.is_empty() {
            println!("no [[remote]] is configured");
        }
        for r in &rows {
            match &r.error {
                Some(e) => println!("{}  {}  FAILING: {e}", shown::text(&r.id), r.location),
                None => println!(
                    "{}  {}  reachable; holds records 1 to {}; {} behind; last checkpoint copied: {}",
                    shown::text(&r.id),
                    r.location,
                    r.remote_head.unwrap_or(0),
                    r.behind
                        .map_or("? (no local store)".into(), |b| format!("{b} record(s)")),
                    r.last_checkpoint
                        .map_or("none".into(), |s| format!("record {s}"))
                ),
            }
        }
    }
    Ok(if rows.iter().all(|r| r.reachable) {
        0
    } else {
        2
    })
}

/// `logkeep remote pull ID --out DIR [--host PREFIX]`: rebuild a store directory from the
/// bucket, one object at a time, streamed to a temporary file and renamed into place. Only
/// keys with the names of a store's files are taken; `verify` then checks what came.
fn pull(config: &Path, id: &str, out: &Path, host: Option<&str>) -> Result<u8> {
    let c = Config::load(config)?;
    let spec = spec(&c, id)?;
    let p = pull_store(spec, out, host)?;
    println!(
        "pulled {} record(s), {} segment(s), {} bytes from {} into {}{}; check it with `logkeep verify {}`",
        p.records,
        p.segments,
        p.bytes,
        spec.id,
        shown::path(out),
        if p.skipped > 0 {
            format!(" ({} other object(s) left)", p.skipped)
        } else {
            String::new()
        },
        shown::path(out)
    );
    Ok(0)
}

/// What [`pull_store`] fetched.
#[derive(Debug, Clone, Copy)]
pub struct Pulled {
    /// Record files (and packs) written.
    pub records: u64,
    /// Segment files written.
    pub segments: u64,
    /// Bytes written.
    pub bytes: u64,
    /// Objects under the prefix that are not a store's files, left on the remote.
    pub skipped: u64,
    /// The head of the pulled chain, if it holds any record.
    pub head: Option<Head>,
}

/// Rebuild the store the remote `spec` holds (under `host`, a key prefix, instead of its own
/// when given) in the new or empty directory `out`. Used by `remote pull` and by `drill
/// --remote`.
pub fn pull_store(spec: &RemoteSpec, out: &Path, host: Option<&str>) -> Result<Pulled> {
    let mut spec = spec.clone();
    if let Some(h) = host {
        let h = if h.is_empty() || h.ends_with('/') {
            h.to_owned()
        } else {
            format!("{h}/")
        };
        if !h.is_empty() && !logkeep_remote::valid_key(&h) {
            bail!("--host: {} is not a key prefix", shown::text(&h));
        }
        spec.prefix = h;
    }
    crate::no_clobber::check_place(out, "--out", &crate::no_clobber::Protected::new())?;
    let client = spec.client()?;
    let chain_dir = out.join(layout::CHAIN_DIR);
    let segs_dir = out.join(layout::SEGMENTS_DIR);
    for d in [out, chain_dir.as_path(), segs_dir.as_path()] {
        fs::create_dir_all(d).with_context(|| format!("{}: cannot create", d.display()))?;
    }
    let store_key = spec.key(layout::STORE_FILE);
    let fetch = |key: &str, size: u64, dir: &Path, name: &str| -> Result<u64> {
        let (temp, file) = durable::create_temp(dir, name)
            .with_context(|| format!("{}: cannot write", dir.display()))?;
        let mut w = BufWriter::with_capacity(1 << 20, file);
        let n = client.get(key, size, &mut w);
        let file = w
            .into_inner()
            .map_err(|e| e.into_error())
            .with_context(|| format!("{}: cannot write", temp.display()));
        let result = n.map_err(anyhow::Error::from).and_then(|n| {
            durable::commit_new(file?, &temp, dir, name)
                .with_context(|| format!("{}: cannot write", dir.join(name).display()))?;
            Ok(n)
        });
        if result.is_err() {
            let _ = fs::remove_file(&temp);
        }
        result
    };
    fetch(&store_key, 1 << 20, out, layout::STORE_FILE).with_context(|| {
        format!(
            "{}: the remote holds no store under prefix {}",
            spec.id,
            shown::text(&spec.prefix)
        )
    })?;
    let lay = Layout::detect(out);
    let (mut records, mut segments, mut bytes, mut skipped) = (0u64, 0u64, 0u64, 0u64);
    for (dir_name, dir) in [
        (layout::SEGMENTS_DIR, &segs_dir),
        (layout::CHAIN_DIR, &chain_dir),
    ] {
        let prefix = spec.key(&format!("{dir_name}/"));
        let mut failed: Option<anyhow::Error> = None;
        client.list(&prefix, None, |l| {
            if failed.is_some() {
                return Ok(());
            }
            let rel = l.key.strip_prefix(&prefix).unwrap_or_default();
            // Flat: `chain/N.json`, `segments/N-SHA.tar.zst`; layout 2 one shard directory
            // deeper, with packs beside the records.
            let (shard, name) = match (lay.is_sharded(), rel.split_once('/')) {
                (false, None) => (None, rel),
                (true, Some((shard, name))) if layout::parse_shard_name(shard).is_some() => {
                    (Some(shard), name)
                }
                _ => (None, ""),
            };
            let known = !name.is_empty()
                && if dir_name == layout::CHAIN_DIR {
                    layout::parse_record_name(name).is_some() || lay.parse_pack_name(name).is_some()
                } else {
                    layout::parse_segment_name(name).is_some()
                };
            if !known {
                tracing::warn!(key = %shown::text(&l.key), "not a store file's name; not pulled");
                skipped += 1;
                return Ok(());
            }
            let dir = match shard {
                Some(shard) => {
                    let d = dir.join(shard);
                    if let Err(e) = fs::create_dir_all(&d) {
                        failed = Some(
                            anyhow::Error::from(e)
                                .context(format!("{}: cannot create", d.display())),
                        );
                        return Ok(());
                    }
                    d
                }
                None => dir.to_path_buf(),
            };
            match fetch(&l.key, l.size, &dir, name) {
                Ok(n) => {
                    bytes += n;
                    if dir_name == layout::CHAIN_DIR {
                        records += 1;
                    } else {
                        segments += 1;
                    }
                }
                Err(e) => failed = Some(e),
            }
            Ok(())
        })?;
        if let Some(e) = failed {
            return Err(e);
        }
    }
    if lay.is_sharded() {
        // A run uploaded record by record and then as its pack is held both ways: keep the
        // pack, as the store does once it has checked the files are its lines.
        settle_packs(out, lay)?;
    }
    let head = logkeep_media::chain_head(out)?;
    if let Some(h) = head {
        let mut b = serde_json::to_vec(&h)?;
        b.push(b'\n');
        durable::write_atomic(out, layout::HEAD_FILE, &b)?;
    }
    Ok(Pulled {
        records,
        segments,
        bytes,
        skipped,
        head,
    })
}

/// The head `verify --against-remote ID` holds a store to: the newest signed checkpoint the
/// remote holds (the store must reach it with the same record), else the remote's newest
/// record. Prints which.
pub fn witness_head(config: &Path, id: &str, json: bool) -> Result<Head> {
    let c = Config::load(config)?;
    let r = spec(&c, id)?;
    let client = r.client()?;
    let lay = remote::remote_layout(&client, r).unwrap_or_default();
    let n = remote::listed_head_seq(&client, r, lay)?;
    if n == 0 {
        bail!(
            "{id}: the remote holds no records under {}",
            shown::text(&r.prefix)
        );
    }
    let (what, head) = match remote::newest_checkpoint(&client, r, n, CHECKPOINT_LOOKBACK)? {
        Some((rec, hash)) => ("its newest signed checkpoint", Head { seq: rec.seq, hash }),
        None => {
            let (rec, hash) = remote::fetch_record(&client, r, n)?;
            (
                "its newest record (it holds no checkpoint)",
                Head { seq: rec.seq, hash },
            )
        }
    };
    if !json {
        println!(
            "comparing with remote {id}: {what} is record {} sha256 {}",
            head.seq, head.hash
        );
    }
    Ok(head)
}

/// Finish, in a pulled layout-2 store, every run held both as a pack and as record files.
fn settle_packs(out: &Path, lay: Layout) -> Result<()> {
    let chain = out.join(layout::CHAIN_DIR);
    let mut shards: Vec<_> = fs::read_dir(&chain)
        .with_context(|| format!("{}: cannot list", chain.display()))?
        .filter_map(|e| e.ok())
        .filter(|e| layout::parse_shard_name(&e.file_name().to_string_lossy()).is_some())
        .map(|e| e.path())
        .collect();
    shards.sort();
    for shard in shards {
        let mut packs: Vec<u64> = fs::read_dir(&shard)
            .with_context(|| format!("{}: cannot list", shard.display()))?
            .filter_map(|e| e.ok())
            .filter_map(|e| lay.parse_pack_name(&e.file_name().to_string_lossy()))
            .collect();
        packs.sort_unstable();
        for first in packs {
            logkeep_store::pack::settle_run(out, lay, first).with_context(|| {
                format!(
                    "{}: cannot settle the pack of record {first}",
                    shard.display()
                )
            })?;
        }
    }
    Ok(())
}
