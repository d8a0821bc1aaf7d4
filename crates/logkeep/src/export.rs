//! `logkeep export`: seal a store (or a part of it) into an evidence bundle.
//!
//! Two passes over the chain: the first reads only records, to find the head, check the links
//! and choose the segments; the second streams records and segments into the bundle, checking
//! each segment's hash against its record on the way. Both read through the format's chain
//! reader, so the second pass also proves, link by link up to the head's hash, that it copies
//! the chain the first one judged. Memory stays bounded whatever the size of the store; the
//! bundle is written to a temporary name and renamed when complete.

use crate::config::Inventory;
use crate::{inventory, keys};
use anyhow::{Context, Result, bail};
use logkeep_format::bundle::{
    self, BundleInfo, BundleWriter, ConfigRef, Selection, SignatureInfo, Tool,
};
use logkeep_format::chain::{ChainError, ChainReader};
use logkeep_format::layout::{self, Head, Layout};
use logkeep_format::{Event, Sha256, Timestamp};
use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{BufWriter, IsTerminal};
use std::path::{Path, PathBuf};

/// What to export.
pub struct ExportArgs {
    /// Store directory (a store or a medium).
    pub store: PathBuf,
    /// Bundle file to write.
    pub out: PathBuf,
    /// Who signs.
    pub sealer: Sealer,
    /// Selection.
    pub selection: Selection,
    /// Custody fields.
    pub case: Option<String>,
    /// Evidence number.
    pub evidence: Option<String>,
    /// Examiner.
    pub examiner: Option<String>,
    /// Note.
    pub note: Option<String>,
    /// The configuration file in use and its bytes, if known.
    pub config: Option<(PathBuf, Vec<u8>)>,
    /// The operator's inventory from the configuration.
    pub inventory: Inventory,
    /// The affected terminals (`export --incident`), sealed as `incident.json`.
    pub incident: Option<crate::incident::Incident>,
    /// Replace an existing bundle file (the caller has checked it may be replaced).
    pub force: bool,
}

/// Who signs a bundle: the epoch key current at export, which is destroyed right after (the
/// epoch ends with the export).
pub enum Sealer {
    /// This process holds the signing state and the host's store (no daemon runs).
    Local {
        /// The signing state, locked.
        state: Box<logkeep_seal::SigningState>,
        /// The host's store, locked, to record the epoch switch.
        store: Box<logkeep_store::Store>,
    },
    /// The running daemon holds them: it signs through its control socket.
    Daemon(PathBuf),
}

impl Sealer {
    /// The current epoch and its public key.
    fn sign(
        &mut self,
        sums: &Sha256,
        epoch: u64,
    ) -> Result<([u8; 64], ed25519_dalek::VerifyingKey)> {
        let text = logkeep_format::seal::bundle_text(sums, epoch);
        match self {
            Sealer::Local { state, store } => {
                if state.epoch() != epoch {
                    bail!(
                        "the signing state is at epoch {} but the store's chain at epoch {epoch}",
                        state.epoch()
                    );
                }
                let sig = state.sign(text.as_bytes());
                let public = state.public();
                // The head was checkpointed before the bundle was read: the switch follows.
                keys::switch(state, store)?;
                Ok((sig, public))
            }
            Sealer::Daemon(socket) => crate::control_cmd::sign_bundle(socket, sums, epoch),
        }
    }
}

/// What was written.
pub struct Exported {
    /// Bundle id.
    pub bundle_id: String,
    /// SHA-256 of the bundle file.
    pub sha256: Sha256,
    /// Chain head the bundle links to: the store's head, or for a closed time range the first
    /// checkpoint after it.
    pub head: Head,
    /// The store's head when the bundle was read.
    pub store_head: Head,
    /// First record included.
    pub first_seq: u64,
    /// Segments included.
    pub segments: u64,
    /// Key fingerprint (the root's).
    pub fingerprint: String,
    /// The epoch whose key signed (and ended with the export).
    pub epoch: u64,
    /// When the bundle was sealed (the time of its first custody entry).
    pub created: String,
    /// Who exported it (the actor of its first custody entry).
    pub actor: String,
}

/// Who exports: `--examiner`, else the user who ran sudo, else the user.
pub fn actor(examiner: Option<&str>) -> String {
    examiner.map(str::to_owned).unwrap_or_else(|| {
        std::env::var("SUDO_USER")
            .or_else(|_| std::env::var("USER"))
            .unwrap_or_else(|_| format!("uid {}", rustix::process::getuid().as_raw()))
    })
}

fn hash_file(path: &Path) -> Option<Sha256> {
    let mut f = File::open(path).ok()?;
    let mut w = logkeep_format::hash::HashWriter::new(std::io::sink());
    std::io::copy(&mut f, &mut w).ok()?;
    Some(w.finish().1)
}

fn selected(event: &Event, sel: &Selection) -> bool {
    let Event::Segment {
        first, last, spans, ..
    } = event
    else {
        return false;
    };
    // Records' times are compared as times. One that cannot be read (a segment without
    // members has none) counts as the epoch, where an empty string sorted before.
    let at = |s: &str| Timestamp::parse(s).unwrap_or(Timestamp::EPOCH);
    let bound = |b: &Option<String>| b.as_deref().and_then(|s| Timestamp::parse(s).ok());
    if bound(&sel.since).is_some_and(|s| at(last) < s)
        || bound(&sel.until).is_some_and(|u| at(first) > u)
    {
        return false;
    }
    sel.sources.is_empty() || spans.iter().any(|s| sel.sources.contains(&s.source))
}

/// Write the bundle.
pub fn export(args: &mut ExportArgs) -> Result<Exported> {
    let store_info_bytes = std::fs::read(args.store.join(layout::STORE_FILE))
        .with_context(|| format!("{}: not a logkeep store", args.store.display()))?;
    let info = logkeep_format::verify::parse_store_info(&store_info_bytes)
        .map_err(|e| anyhow::anyhow!("{}: {e}", args.store.join(layout::STORE_FILE).display()))?;
    if info.v != logkeep_format::FORMAT_V2 {
        bail!(
            "{}: a format 1 store: this logkeep seals bundles of format 2 stores only (the store itself verifies with `logkeep verify`)",
            args.store.display()
        );
    }
    // Every key statement up to the head (`store/keys.jsonl`), and the epoch current at the
    // head: the key that signs must be that epoch's.
    let mut keys_jsonl: Vec<u8> = Vec::new();
    let mut epoch_at_head: Option<(u64, String)> = None;
    let mut root_fp: Option<String> = None;

    // Pass 1: records only.
    // Selected segment records: seq, size, first and last read, sources.
    let mut chosen: Vec<(u64, u64, String, String, Vec<String>)> = Vec::new();
    // Segments a `pruned` record says left this store for media: the chain still commits them,
    // the bundle cannot hold them.
    let mut pruned: BTreeMap<u64, Vec<String>> = BTreeMap::new();
    // Where a bundle of a closed time range ends: the first checkpoint after its last selected
    // segment and after every record written up to `until` (a clock that went back pushes the
    // end on), so that the range is proven by a seal whose key no longer exists and the bundle's
    // size follows the range, not the store's age. An open range runs to the head.
    let until = args
        .selection
        .until
        .as_deref()
        .and_then(|u| Timestamp::parse(u).ok());
    let mut end: Option<Head> = None;
    let mut reader = ChainReader::new(&args.store).of_store(&info.store);
    for link in reader.by_ref() {
        let record = match link {
            Ok(l) => {
                if let Some(u) = until {
                    let wall = Timestamp::parse(&l.record.wall).unwrap_or(Timestamp::EPOCH);
                    let chosen_here = selected(&l.record.event, &args.selection);
                    if chosen_here || wall <= u {
                        end = None;
                    } else if end.is_none()
                        && matches!(l.record.event, Event::Checkpoint { .. })
                        && !chosen.is_empty()
                    {
                        end = Some(Head {
                            seq: l.record.seq,
                            hash: l.hash,
                        });
                    }
                }
                if let Event::Epoch {
                    epoch,
                    key,
                    head,
                    signer_key,
                    ..
                } = &l.record.event
                {
                    keys_jsonl.extend_from_slice(&l.bytes);
                    epoch_at_head = Some((*epoch, key.clone()));
                    if head.is_none() {
                        root_fp = logkeep_format::seal::fingerprint_b64(signer_key);
                    }
                }
                l.record
            }
            Err(ChainError::Io { path, source }) => {
                return Err(source).with_context(|| format!("{}: cannot read", path.display()));
            }
            Err(ChainError::Broken { path, .. }) => bail!(
                "{}: does not continue the chain; run `logkeep verify` on the store",
                path.display()
            ),
            Err(e) => bail!(
                "{}: {}; run `logkeep verify` on the store",
                e.path().display(),
                e.what()
            ),
        };
        if let Event::Pruned { seq, media, .. } = &record.event {
            pruned.insert(*seq, media.clone());
        }
        if selected(&record.event, &args.selection)
            && let Event::Segment {
                size,
                first,
                last,
                spans,
                ..
            } = &record.event
        {
            let sources = spans.iter().map(|s| s.source.clone()).collect();
            chosen.push((record.seq, *size, first.clone(), last.clone(), sources));
        }
    }
    let (gone, chosen): (Vec<_>, Vec<_>) =
        chosen.into_iter().partition(|c| pruned.contains_key(&c.0));
    if !gone.is_empty() {
        let mut on: BTreeSet<&str> = BTreeSet::new();
        for g in &gone {
            on.extend(pruned[&g.0].iter().map(String::as_str));
        }
        eprintln!(
            "logkeep: {} selected segment(s) were pruned from {} after being copied to media ({}); the bundle holds their chain records, not their data: export from a medium to include them",
            gone.len(),
            args.store.display(),
            on.into_iter().collect::<Vec<_>>().join(", ")
        );
    }
    // A whole export starts at the genesis record, so the bundle holds the complete chain; it
    // is worth making even when every segment has left for media (the chain proves what they
    // were, and a medium has them).
    let everything = args.selection == Selection::default();
    let Some(first_seq) = chosen
        .first()
        .map(|c| c.0)
        .or((everything && !gone.is_empty()).then_some(1))
    else {
        bail!(
            "no sealed segment in {} matches the selection{}",
            args.store.display(),
            if gone.is_empty() {
                ""
            } else {
                " (those that did were pruned from it after being copied to media)"
            }
        );
    };
    let bytes_sel: u64 = chosen.iter().map(|c| c.1).sum();
    let count_sel = chosen.len() as u64;
    let sources: BTreeSet<String> = chosen.iter().flat_map(|c| c.4.iter().cloned()).collect();
    let range = chosen
        .first()
        .zip(chosen.last())
        .map(|(a, b)| (a.2.clone(), b.3.clone()));
    let included: BTreeSet<u64> = chosen.iter().map(|c| c.0).collect();
    let store_head = reader.head().unwrap_or(Head {
        seq: 0,
        hash: Sha256::ZERO,
    });
    let head = if everything {
        store_head
    } else {
        end.unwrap_or(store_head)
    };
    let first_seq = if everything { 1 } else { first_seq };
    let (Some((epoch, epoch_key)), Some(fingerprint)) = (epoch_at_head, root_fp) else {
        bail!(
            "{}: the chain holds no key statement: the store was written without a signing state, so no epoch key can seal a bundle of it",
            args.store.display()
        );
    };

    let mut id = [0u8; 16];
    rustix::rand::getrandom(&mut id, rustix::rand::GetRandomFlags::empty())?;
    let bundle_id = hex::encode(id);
    let created = Timestamp::now().to_rfc3339();
    let binfo = BundleInfo {
        format: bundle::BUNDLE_FORMAT.into(),
        v: bundle::BUNDLE_VERSION,
        bundle_id: bundle_id.clone(),
        created: created.clone(),
        case: args.case.clone(),
        evidence: args.evidence.clone(),
        examiner: args.examiner.clone(),
        note: args.note.clone(),
        store: info.store.clone(),
        first_seq,
        head,
        selection: args.selection.clone(),
        time_range: range,
        sources: sources.into_iter().collect(),
        host: inventory::host_info(),
        tool: Tool {
            name: "logkeep".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            sha256: hash_file(Path::new("/proc/self/exe")),
        },
        config: args.config.as_ref().map(|(p, b)| ConfigRef {
            path: p.display().to_string(),
            sha256: Sha256::of(b),
        }),
        signature: SignatureInfo {
            scheme: bundle::SIG_SCHEME_V2.into(),
            key_fingerprint: fingerprint.clone(),
            epoch: Some(epoch),
        },
    };

    let out_dir = match args.out.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let (temp, file) = logkeep_store::durable::create_temp(&out_dir, "bundle")
        .with_context(|| format!("{}: cannot create the bundle", out_dir.display()))?;
    let result = write_bundle(
        args,
        &binfo,
        file,
        &store_info_bytes,
        first_seq,
        head,
        bytes_sel,
        &included,
        &keys_jsonl,
        (epoch, &epoch_key),
        &created,
    );
    let (file, sha256) = match result {
        Ok(x) => x,
        Err(e) => {
            let _ = std::fs::remove_file(&temp);
            return Err(e);
        }
    };
    file.sync_all()?;
    drop(file);
    crate::no_clobber::rename(&temp, &args.out, args.force)?;
    logkeep_store::durable::sync_dir(&out_dir)?;
    Ok(Exported {
        bundle_id,
        sha256,
        head,
        store_head,
        first_seq,
        segments: count_sel,
        fingerprint,
        epoch,
        actor: actor(args.examiner.as_deref()),
        created,
    })
}

#[allow(clippy::too_many_arguments)]
fn write_bundle(
    args: &mut ExportArgs,
    binfo: &BundleInfo,
    file: File,
    store_info_bytes: &[u8],
    first_seq: u64,
    head: Head,
    bytes_sel: u64,
    included: &BTreeSet<u64>,
    keys_jsonl: &[u8],
    (epoch, epoch_key): (u64, &str),
    created: &str,
) -> Result<(File, Sha256)> {
    let progress = if std::io::stderr().is_terminal() {
        let p = indicatif::ProgressBar::new(bytes_sel);
        p.set_style(
            indicatif::ProgressStyle::with_template(
                "{bar:40} {bytes}/{total_bytes} {bytes_per_sec} {eta}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        p
    } else {
        indicatif::ProgressBar::hidden()
    };
    let mtime = Timestamp::now().unix_secs();
    let mut w = BundleWriter::new(
        BufWriter::with_capacity(1 << 20, file),
        &binfo.bundle_id,
        mtime,
    );
    let dir = w.dir().to_owned();
    let mut info_bytes = serde_json::to_vec_pretty(binfo)?;
    info_bytes.push(b'\n');
    w.add_bytes(bundle::INFO, &info_bytes)?;
    w.add_bytes("store/logkeep-store.json", store_info_bytes)?;
    w.add_bytes(bundle::KEYS, keys_jsonl)?;
    let lay = Layout::detect(&args.store);
    // The second pass reads the chain again, from the first record included up to the head
    // the first pass found: the links between the records, and the head's hash at the end,
    // prove it is the chain the first pass read.
    let mut reader = ChainReader::from_seq(&args.store, first_seq).of_store(&binfo.store);
    while reader.head().is_none_or(|h| h.seq < head.seq) {
        let link = match reader.next() {
            Some(Ok(l)) => l,
            Some(Err(ChainError::Io { path, source })) => {
                return Err(source).with_context(|| format!("{}: cannot read", path.display()));
            }
            Some(Err(e)) => bail!("{}: changed during the export", e.path().display()),
            None => {
                let path = args.store.join(lay.record_rel(reader.next_seq()));
                bail!("{}: cannot read: removed during the export", path.display());
            }
        };
        let seq = link.record.seq;
        if seq == head.seq && link.hash != head.hash {
            bail!("{}: changed during the export", link.path.display());
        }
        let name = layout::record_name(seq);
        w.add_bytes(&format!("store/chain/{name}"), &link.bytes)?;
        if included.contains(&seq)
            && let Event::Segment {
                file, sha256, size, ..
            } = &link.record.event
        {
            let spath = args.store.join(lay.segment_rel(seq, file));
            let f =
                File::open(&spath).with_context(|| format!("{}: cannot read", spath.display()))?;
            let got = w
                .add_reader(
                    &format!("store/segments/{file}"),
                    *size,
                    progress.wrap_read(f),
                )
                .with_context(|| format!("{}: cannot copy", spath.display()))?;
            if got != *sha256 {
                bail!(
                    "{}: hashes to {got} but record {seq} says {sha256}: the store is damaged; run `logkeep verify`",
                    spath.display()
                );
            }
        }
    }
    progress.finish_and_clear();
    if let Some((_, bytes)) = &args.config {
        w.add_bytes("config/logkeep.toml", bytes)?;
    }
    let mut net = serde_json::to_vec_pretty(&inventory::network())?;
    net.push(b'\n');
    w.add_bytes("inventory/host.json", &net)?;
    let mut dev = serde_json::to_vec_pretty(&args.inventory)?;
    dev.push(b'\n');
    w.add_bytes("inventory/devices.json", &dev)?;
    if let Some(inc) = &args.incident {
        let json = crate::incident::to_json(
            inc,
            &args.inventory,
            &serde_json::from_slice(&net).unwrap_or_default(),
        )?;
        w.add_bytes(bundle::INCIDENT, &json)?;
    }
    let report = crate::timeline_cmd::bundle_report(
        &args.store,
        &args.selection,
        &binfo.bundle_id,
        (&net, &dev),
        args.incident.as_ref().map(|i| i.summary()),
    );
    w.add_bytes(bundle::REPORT, report.as_bytes())?;
    w.add_bytes(
        bundle::VERIFY_TXT,
        bundle::verify_txt(binfo, &dir).as_bytes(),
    )?;
    w.add_bytes(bundle::SCRIPT, logkeep_format::openssl::SCRIPT.as_bytes())?;
    let actor = actor(args.examiner.as_deref());
    // The signature is made (and the epoch ended) once SHA256SUMS is final; the public key is
    // the one the chain introduced for this epoch, checked against what signed.
    let want = logkeep_format::seal::parse_key(epoch_key)
        .map_err(|e| anyhow::anyhow!("the chain's key of epoch {epoch}: {e}"))?;
    let public_pem = logkeep_seal::public_pem(&want);
    let mut failed = None;
    let sealer = &mut args.sealer;
    let (buf, sha256) = w.seal(
        |sums| match sealer.sign(&Sha256::of(sums), epoch) {
            Ok((sig, public)) if public == want => sig,
            Ok(_) => {
                failed = Some(anyhow::anyhow!(
                    "the signing key is not the key the chain introduced for epoch {epoch}"
                ));
                [0; 64]
            }
            Err(e) => {
                failed = Some(e);
                [0; 64]
            }
        },
        &public_pem,
        (created, &actor, args.note.as_deref(), "exported"),
    )?;
    if let Some(e) = failed {
        return Err(e.context("cannot sign the bundle"));
    }
    let file = buf.into_inner().map_err(|e| e.into_error())?;
    Ok((file, sha256))
}
