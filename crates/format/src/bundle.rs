//! Evidence bundles: one tar file, sealed with SHA256SUMS and an Ed25519 signature, that an
//! investigator can check with `tar`, `sha256sum`, `openssl` and `zstd` alone, or with
//! `logkeep verify`.
//!
//! Layout (every member under one directory `logkeep-bundle-ID/`, in this order):
//!
//! ```text
//! bundle.json                 metadata: ids, custody fields, host, tool, selection, head, key
//! store/logkeep-store.json    the store's identity
//! store/chain/N.json          records first_seq..=head, each followed by its segment if selected
//! store/segments/N-H.tar.zst
//! config/logkeep.toml         the configuration in use (if known)
//! inventory/host.json         the host's network configuration and listening services
//! inventory/devices.json      the operator's internet-facing devices and contacts
//! VERIFY.txt                  how to verify, in Japanese and English
//! SHA256SUMS                  sha256sum listing of every member above
//! SHA256SUMS.sig              Ed25519 signature (64 raw bytes) over SHA256SUMS
//! signing-key.pub.pem         the public key (SubjectPublicKeyInfo PEM)
//! custody.jsonl               custody log, outside the seal: the entry of the export itself
//! ```
//!
//! Later custody entries never change the bundle file, whose SHA-256 was read out at export:
//! they go to a companion file beside it, `BUNDLE.custody.jsonl` (see [`companion_path`]),
//! whose first line is chained to the bundle file's SHA-256 and every later line to the line
//! before it. Bundles of earlier releases appended versions of `custody.jsonl` to the archive
//! instead; they still verify.
//!
//! Reading streams the tar once with bounded memory: the chain is checked as records and
//! segments pass by, every member is hashed on the way, and at the end the listing, the
//! signature and the custody log are checked. A bundle is hostile input: member names are
//! matched against the layout above and never used as paths.

use crate::extract::{self, Extracted, Extractor, Filter};
use crate::hash::{HashReader, HashWriter, Sha256};
use crate::layout::{self, Head};
use crate::record::{Event, MAX_RECORD_BYTES};
use crate::shown::text as esc;
use crate::untrusted;
use crate::verify::{
    self, ChainChecker, ChainVisitor, NoVisitor, Report, Tee, VerifyError, VerifyOptions,
};
use ed25519_dalek::pkcs8::DecodePublicKey;
use ed25519_dalek::{Signature, VerifyingKey};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

/// `format` value of `bundle.json`.
pub const BUNDLE_FORMAT: &str = "logkeep-bundle";
/// The only bundle version this crate reads or writes.
pub const BUNDLE_VERSION: u32 = 1;
/// The signature scheme of version 1: pure Ed25519 (RFC 8032) over the bytes of SHA256SUMS.
pub const SIG_SCHEME: &str = "ed25519-v1";
/// The signature scheme of format 2 stores: an epoch key signs [`crate::seal::bundle_text`] of
/// SHA256SUMS; the key statements from the root to that epoch are in `store/keys.jsonl`.
pub const SIG_SCHEME_V2: &str = "ed25519-epoch-v2";
/// Format 2: every key statement of the chain up to the head, one record file per line.
pub const KEYS: &str = "store/keys.jsonl";
/// Format 2: the POSIX sh verifier using standard tools only.
pub const SCRIPT: &str = "verify-with-openssl.sh";
/// Largest `store/keys.jsonl` a reader accepts.
pub const MAX_KEYS_BYTES: u64 = 64 << 20;
/// Metadata member.
pub const INFO: &str = "bundle.json";
/// Listing member.
pub const SUMS: &str = "SHA256SUMS";
/// Signature member.
pub const SIG: &str = "SHA256SUMS.sig";
/// Public key member.
pub const PUBKEY: &str = "signing-key.pub.pem";
/// Custody log member.
pub const CUSTODY: &str = "custody.jsonl";
/// Instructions member.
pub const VERIFY_TXT: &str = "VERIFY.txt";
/// The investigator's report: a self-contained HTML page (the timeline crate writes it).
pub const REPORT: &str = "report.html";
/// The affected terminals, the inventory and the network picture (`export --incident`).
pub const INCIDENT: &str = "incident.json";
/// Largest metadata member (bundle.json, inventory, config, VERIFY.txt) a reader accepts.
pub const MAX_META_BYTES: u64 = 4 << 20;
/// Largest SHA256SUMS a reader accepts (it is held in memory to check the signature).
pub const MAX_SUMS_BYTES: u64 = 256 << 20;
/// Largest custody log a reader accepts.
pub const MAX_CUSTODY_BYTES: u64 = 16 << 20;
/// What the custody companion's name adds to the bundle file's name.
pub const COMPANION_SUFFIX: &str = ".custody.jsonl";

/// Contents of `bundle.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundleInfo {
    /// Always `"logkeep-bundle"`.
    pub format: String,
    /// Always 1.
    pub v: u32,
    /// Random id, 32 hex characters; also the top directory's suffix.
    pub bundle_id: String,
    /// When the bundle was sealed, RFC 3339 UTC.
    pub created: String,
    /// Case number given at export.
    pub case: Option<String>,
    /// Evidence number given at export.
    pub evidence: Option<String>,
    /// Who exported it.
    pub examiner: Option<String>,
    /// Free text given at export.
    pub note: Option<String>,
    /// Store id.
    pub store: String,
    /// First record included.
    pub first_seq: u64,
    /// The chain head the bundle links to.
    pub head: Head,
    /// What was asked for.
    pub selection: Selection,
    /// Wall-clock range of the included segments' reads.
    pub time_range: Option<(String, String)>,
    /// Sources with data in the included segments.
    pub sources: Vec<String>,
    /// The machine the store belongs to, at export time.
    pub host: HostInfo,
    /// The program that exported.
    pub tool: Tool,
    /// The configuration file in use, if known (its content is `config/logkeep.toml`).
    pub config: Option<ConfigRef>,
    /// How SHA256SUMS is signed.
    pub signature: SignatureInfo,
}

/// What an export selected.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Selection {
    /// Segments with reads at or after this time (RFC 3339 UTC).
    pub since: Option<String>,
    /// Segments with reads at or before this time.
    pub until: Option<String>,
    /// Segments holding any of these sources (empty: all).
    pub sources: Vec<String>,
}

/// Host identity and basics.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostInfo {
    /// Host name.
    pub hostname: String,
    /// `/etc/machine-id`.
    pub machine_id: String,
    /// Boot id.
    pub boot_id: String,
    /// `PRETTY_NAME` of `/etc/os-release`.
    pub os: String,
    /// Kernel release.
    pub kernel: String,
    /// Time zone (`/etc/timezone` or the `/etc/localtime` link); all times in the bundle are UTC.
    pub timezone: String,
}

/// The exporting program.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tool {
    /// `logkeep`.
    pub name: String,
    /// Version.
    pub version: String,
    /// SHA-256 of the executable that ran the export.
    pub sha256: Option<Sha256>,
}

/// A configuration file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigRef {
    /// Where it was.
    pub path: String,
    /// SHA-256 of its bytes.
    pub sha256: Sha256,
}

/// Signature scheme and key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignatureInfo {
    /// `ed25519-v1`, or `ed25519-epoch-v2` for format 2 stores.
    pub scheme: String,
    /// Fingerprint of the signing key (see [`fingerprint`]); for `ed25519-epoch-v2`, of the
    /// root key.
    pub key_fingerprint: String,
    /// `ed25519-epoch-v2`: the epoch whose key signed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epoch: Option<u64>,
}

/// One custody log entry (a line of `custody.jsonl`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustodyEntry {
    /// 1, 2, ...
    pub seq: u64,
    /// When, RFC 3339 UTC.
    pub time: String,
    /// Who.
    pub actor: String,
    /// What (`exported`, `handed over to ...`, `received`, ...).
    pub action: String,
    /// Free text.
    pub note: Option<String>,
    /// SHA-256 of the previous line (with its newline); for entry 1, of SHA256SUMS.
    pub prev: Sha256,
}

impl CustodyEntry {
    /// The line as written: compact JSON and a newline.
    pub fn to_line(&self) -> Vec<u8> {
        let mut v = serde_json::to_vec(self).unwrap_or_default();
        v.push(b'\n');
        v
    }
}

/// One line of a custody companion: a custody entry, optionally signed by the actor's own key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompanionEntry {
    /// 1, 2, ...
    pub seq: u64,
    /// When, RFC 3339 UTC.
    pub time: String,
    /// Who.
    pub actor: String,
    /// What.
    pub action: String,
    /// Free text.
    pub note: Option<String>,
    /// SHA-256 of the previous line (with its newline); for entry 1, of the bundle file.
    pub prev: Sha256,
    /// The actor's Ed25519 public key (64 hex digits), when the entry is signed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signer: Option<String>,
    /// Ed25519 signature (128 hex digits) by `signer` over the line written without `sig`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sig: Option<String>,
}

impl CompanionEntry {
    /// The line as written: compact JSON and a newline.
    pub fn to_line(&self) -> Vec<u8> {
        let mut v = serde_json::to_vec(self).unwrap_or_default();
        v.push(b'\n');
        v
    }

    /// The entry's custody fields.
    pub fn entry(&self) -> CustodyEntry {
        CustodyEntry {
            seq: self.seq,
            time: self.time.clone(),
            actor: self.actor.clone(),
            action: self.action.clone(),
            note: self.note.clone(),
            prev: self.prev,
        }
    }

    /// Check the signature, if any: `Ok(None)` unsigned, `Ok(Some(fingerprint))` signed and
    /// valid, `Err(why)` otherwise.
    pub fn check_signature(&self) -> Result<Option<String>, String> {
        let (signer, sig) = match (&self.signer, &self.sig) {
            (None, None) => return Ok(None),
            (Some(k), Some(s)) => (k, s),
            _ => {
                return Err(
                    "has a signer without a signature, or a signature without a signer".into(),
                );
            }
        };
        let key: [u8; 32] = hex::decode(signer)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or("signer is not 64 hex digits")?;
        let vk =
            VerifyingKey::from_bytes(&key).map_err(|_| "signer is not an Ed25519 public key")?;
        let sig: [u8; 64] = hex::decode(sig)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or("sig is not 128 hex digits")?;
        let mut unsigned = self.clone();
        unsigned.sig = None;
        vk.verify_strict(&unsigned.to_line(), &Signature::from_bytes(&sig))
            .map_err(|_| "its signature does not verify".to_string())?;
        Ok(Some(fingerprint(&vk)))
    }
}

/// The short fingerprint of an Ed25519 public key: the first 16 bytes of SHA-256 of the raw
/// 32-byte key, as 8 groups of 4 lowercase hex digits joined by `-`.
pub fn fingerprint(key: &VerifyingKey) -> String {
    short_form(&Sha256::of(key.as_bytes()), 32, "-")
}

/// The first `digits` hex digits of `h` in groups of four joined by `sep`: the form people read
/// out on the phone or write down.
pub fn short_form(h: &Sha256, digits: usize, sep: &str) -> String {
    let hex = h.to_hex();
    hex.as_bytes()[..digits.min(64)]
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(sep)
}

/// A fingerprint as typed by a person, reduced to 32 lowercase hex digits, or `None`.
pub fn normalize_fingerprint(s: &str) -> Option<String> {
    let h: String = s
        .chars()
        .filter(|c| !matches!(c, '-' | ':' | ' '))
        .collect::<String>()
        .to_lowercase();
    (h.len() == 32 && h.bytes().all(|b| b.is_ascii_hexdigit())).then_some(h)
}

/// Streams a bundle into a writer. Members are hashed as they are written.
pub struct BundleWriter<W: Write> {
    tar: tar::Builder<HashWriter<W>>,
    dir: String,
    sums: Vec<(String, Sha256)>,
    mtime: u64,
}

fn header(size: u64, mtime: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_size(size);
    h.set_mode(0o444);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(mtime);
    h
}

impl<W: Write> BundleWriter<W> {
    /// Start a bundle whose members live under `logkeep-bundle-ID/`.
    pub fn new(out: W, bundle_id: &str, mtime: u64) -> Self {
        let mut tar = tar::Builder::new(HashWriter::new(out));
        tar.mode(tar::HeaderMode::Deterministic);
        BundleWriter {
            tar,
            dir: format!("logkeep-bundle-{bundle_id}"),
            sums: Vec::new(),
            mtime,
        }
    }

    /// The top directory's name.
    pub fn dir(&self) -> &str {
        &self.dir
    }

    fn put(&mut self, rel: &str, size: u64, data: impl Read) -> io::Result<Sha256> {
        let mut h = header(size, self.mtime);
        let mut r = HashReader::with_limit(data.take(size), u64::MAX);
        self.tar
            .append_data(&mut h, format!("{}/{rel}", self.dir), &mut r)?;
        let (digest, n) = r.finish();
        if n != size {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("{rel}: changed size while being read"),
            ));
        }
        Ok(digest)
    }

    /// Add a sealed member from memory.
    pub fn add_bytes(&mut self, rel: &str, bytes: &[u8]) -> io::Result<Sha256> {
        let d = self.put(rel, bytes.len() as u64, bytes)?;
        self.sums.push((rel.to_owned(), d));
        Ok(d)
    }

    /// Add a sealed member streamed from `data`, which must yield exactly `size` bytes.
    pub fn add_reader(&mut self, rel: &str, size: u64, data: impl Read) -> io::Result<Sha256> {
        let d = self.put(rel, size, data)?;
        self.sums.push((rel.to_owned(), d));
        Ok(d)
    }

    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.tar.get_ref().count()
    }

    /// Write SHA256SUMS, its signature by `sign`, the public key, and the first custody entry;
    /// close the archive. Returns the output and the SHA-256 of the whole bundle file.
    pub fn seal(
        mut self,
        sign: impl FnOnce(&[u8]) -> [u8; 64],
        public_key_pem: &str,
        first_custody: (&str, &str, Option<&str>, &str),
    ) -> io::Result<(W, Sha256)> {
        let mut sums = Vec::new();
        for (rel, d) in &self.sums {
            sums.extend_from_slice(format!("{d}  {rel}\n").as_bytes());
        }
        let sig = sign(&sums);
        self.put(SUMS, sums.len() as u64, &sums[..])?;
        self.put(SIG, 64, &sig[..])?;
        self.put(
            PUBKEY,
            public_key_pem.len() as u64,
            public_key_pem.as_bytes(),
        )?;
        let (time, actor, note, action) = first_custody;
        let entry = CustodyEntry {
            seq: 1,
            time: time.to_owned(),
            actor: actor.to_owned(),
            action: action.to_owned(),
            note: note.map(str::to_owned),
            prev: Sha256::of(&sums),
        };
        let line = entry.to_line();
        self.put(CUSTODY, line.len() as u64, &line[..])?;
        let inner = self.tar.into_inner()?;
        let (mut out, digest, _) = inner.finish();
        out.flush()?;
        Ok((out, digest))
    }
}

/// What verifying a bundle found, beyond the chain report.
#[derive(Debug, Clone, Default, Serialize)]
pub struct BundleReport {
    /// Chain, segment, listing, signature and metadata findings.
    pub report: Report,
    /// The parsed metadata (attacker-controlled until the report is clean; print escaped).
    pub info: Option<BundleInfo>,
    /// SHA-256 of the whole bundle file as read.
    pub bundle_sha256: Option<Sha256>,
    /// Size of the bundle file.
    pub bundle_size: u64,
    /// Fingerprint of the key that signed it.
    pub key_fingerprint: Option<String>,
    /// Whether the fingerprint was pinned by the caller and matched.
    pub key_pinned: bool,
    /// Whether the signature over SHA256SUMS verified.
    pub signature_ok: bool,
    /// Custody log entries (unsealed, chained to SHA256SUMS).
    pub custody: Vec<CustodyEntry>,
    /// Problems of the custody log; reported apart from the sealed content.
    pub custody_problems: Vec<String>,
    /// The custody companion beside the bundle file (its file name), if there is one.
    pub companion: Option<String>,
    /// The companion's entries (chained to the bundle file's SHA-256).
    pub companion_custody: Vec<CustodyEntry>,
    /// For each companion entry, the fingerprint of the actor's key that signed it, if signed.
    pub companion_signers: Vec<Option<String>>,
    /// SHA-256 of the companion file as read.
    pub companion_sha256: Option<Sha256>,
    /// Problems of the companion; reported apart from the sealed content, and failing.
    pub companion_problems: Vec<String>,
}

impl BundleReport {
    /// Whether the sealed content and the custody logs verified.
    pub fn ok(&self) -> bool {
        self.report.ok() && self.custody_problems.is_empty() && self.companion_problems.is_empty()
    }
}

/// Options for [`verify_bundle`].
#[derive(Debug, Clone, Default)]
pub struct BundleOptions {
    /// The fingerprint handed over out of band; the signing key must match it.
    pub fingerprint: Option<String>,
    /// Chain checks.
    pub chain: VerifyOptions,
}

enum Kind {
    Info,
    StoreInfo,
    Record(u64),
    Segment(String),
    Meta,
    Sums,
    Sig,
    Key,
    Custody,
    Keys,
}

fn classify(rel: &str) -> Option<Kind> {
    match rel {
        INFO => return Some(Kind::Info),
        "store/logkeep-store.json" => return Some(Kind::StoreInfo),
        "config/logkeep.toml"
        | "inventory/host.json"
        | "inventory/devices.json"
        | INCIDENT
        | REPORT
        | VERIFY_TXT
        | SCRIPT => {
            return Some(Kind::Meta);
        }
        SUMS => return Some(Kind::Sums),
        SIG => return Some(Kind::Sig),
        PUBKEY => return Some(Kind::Key),
        CUSTODY => return Some(Kind::Custody),
        KEYS => return Some(Kind::Keys),
        _ => {}
    }
    if let Some(n) = rel.strip_prefix("store/chain/") {
        return layout::parse_record_name(n).map(Kind::Record);
    }
    if let Some(n) = rel.strip_prefix("store/segments/") {
        return layout::parse_segment_name(n).map(|_| Kind::Segment(n.to_owned()));
    }
    None
}

fn read_bounded(r: &mut dyn Read, max: u64) -> io::Result<Option<Vec<u8>>> {
    let mut v = Vec::new();
    r.take(max + 1).read_to_end(&mut v)?;
    Ok((v.len() as u64 <= max).then_some(v))
}

/// The segment of record `r` is not in the bundle. A bundle of the whole store must hold every
/// segment the chain commits, except those a later `pruned` record says left the store for
/// media (the checker reports any other as missing); a selection leaves the rest out.
fn absent(
    c: &mut ChainChecker,
    r: &crate::Record,
    info: Option<&BundleInfo>,
    visitor: &mut dyn ChainVisitor,
) {
    visitor.segment_absent(r);
    match (&r.event, info) {
        (Event::Segment { file, .. }, Some(i)) if i.selection == Selection::default() => {
            c.segment_missing(r, format!("store/{}/{}", layout::SEGMENTS_DIR, esc(file)))
        }
        _ => c.segment_omitted(r),
    }
}

/// Verify a bundle read from `input`, handing every member of every included segment to
/// `visitor`. I/O errors reading `input` are errors; everything wrong with its content is in
/// the report.
pub fn verify_bundle(
    input: impl Read,
    opts: &BundleOptions,
    visitor: &mut dyn ChainVisitor,
) -> io::Result<BundleReport> {
    let mut out = BundleReport::default();
    let mut outer = HashReader::with_limit(input, u64::MAX);
    let mut problems = Report::default();
    let mut checker: Option<ChainChecker> = None;
    let mut pending: Option<crate::Record> = None;
    let mut seen: BTreeMap<String, Sha256> = BTreeMap::new();
    let mut sums: Option<Vec<u8>> = None;
    let mut sig: Option<Vec<u8>> = None;
    let mut key: Option<Vec<u8>> = None;
    let mut custody: Option<Vec<u8>> = None;
    let mut dir: Option<String> = None;
    let mut keys = KeyStatements::default();
    {
        let mut archive = tar::Archive::new(untrusted::TarGuard::new(&mut outer));
        let entries = match archive.entries() {
            Ok(e) => e,
            Err(e) => {
                problems.problem("bundle", format!("not a tar archive: {e}"));
                out.report = problems;
                return Ok(out);
            }
        };
        for (index, entry) in entries.enumerate() {
            let mut entry = match entry {
                Ok(e) => e,
                Err(e) if e.kind() == io::ErrorKind::PermissionDenied => return Err(e),
                Err(e) => {
                    problems.problem(
                        "bundle",
                        format!("damaged tar archive after member {index}: {e}"),
                    );
                    break;
                }
            };
            let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            let shown = esc(&name);
            if entry.header().entry_type() != tar::EntryType::Regular {
                problems.problem(
                    shown,
                    "not a regular file (links, devices and directories are not part of a bundle)",
                );
                continue;
            }
            let d = match &dir {
                Some(d) => d.clone(),
                None => {
                    let Some(d) = name.strip_suffix(&format!("/{INFO}")) else {
                        problems.problem(shown, format!("the first member must be {INFO}"));
                        break;
                    };
                    if !d.starts_with("logkeep-bundle-") || d.contains('/') {
                        problems.problem(shown, "is not under a logkeep-bundle-ID directory");
                        break;
                    }
                    dir = Some(d.to_owned());
                    d.to_owned()
                }
            };
            let Some(rel) = name.strip_prefix(&format!("{d}/")).map(str::to_owned) else {
                problems.problem(shown, "is outside the bundle directory");
                continue;
            };
            let Some(kind) = classify(&rel) else {
                problems.problem(esc(&rel), "extra file not part of a bundle");
                continue;
            };
            let sealed = !matches!(kind, Kind::Sums | Kind::Sig | Kind::Key | Kind::Custody);
            if sealed && seen.contains_key(&rel) {
                problems.problem(esc(&rel), "appears twice");
                continue;
            }
            // A segment record whose segment did not follow it was not selected.
            if !matches!(kind, Kind::Segment(_))
                && let (Some(c), Some(r)) = (checker.as_mut(), pending.take())
            {
                absent(c, &r, out.info.as_ref(), visitor);
            }
            let mut hashed = HashReader::with_limit(&mut entry, u64::MAX);
            match kind {
                Kind::Info => match read_bounded(&mut hashed, MAX_META_BYTES)? {
                    None => problems.problem(INFO, "too large"),
                    Some(b) => match serde_json::from_slice::<BundleInfo>(&b) {
                        Ok(i) if i.format == BUNDLE_FORMAT && i.v == BUNDLE_VERSION => {
                            out.info = Some(i)
                        }
                        Ok(i) => problems.problem(
                            INFO,
                            format!(
                                "unsupported bundle format {:?} version {}",
                                esc(&i.format),
                                i.v
                            ),
                        ),
                        Err(e) => problems.problem(INFO, format!("not valid: {e}")),
                    },
                },
                Kind::StoreInfo => match read_bounded(&mut hashed, MAX_META_BYTES)? {
                    Some(b) => match verify::parse_store_info(&b) {
                        Ok(s) => {
                            let first = out.info.as_ref().map_or(1, |i| i.first_seq.max(1));
                            let mut chain = opts.chain.clone();
                            chain.fingerprint = opts.fingerprint.clone();
                            keys.v2 = s.v == crate::record::FORMAT_V2;
                            keys.first = first;
                            keys.last = out.info.as_ref().map(|i| i.head.seq);
                            checker = Some(
                                ChainChecker::new(&s.store, "store/", chain, Some(first))
                                    .with_format(s.v),
                            );
                        }
                        Err(e) => problems.problem(esc(&rel), e),
                    },
                    None => problems.problem(esc(&rel), "too large"),
                },
                Kind::Record(seq) => {
                    let Some(c) = checker.as_mut() else {
                        problems.problem(esc(&rel), "record before store/logkeep-store.json");
                        continue;
                    };
                    if seq != c.next_seq() {
                        problems.problem(
                            esc(&rel),
                            format!("out of order: record {} was expected here", c.next_seq()),
                        );
                    }
                    match read_bounded(&mut hashed, MAX_RECORD_BYTES)? {
                        None => problems.problem(esc(&rel), "too large"),
                        Some(b) => {
                            let r = c.record(&b);
                            if let Some(r) = &r {
                                visitor.record(r);
                            }
                            if let Some(r) = &r
                                && let Event::Epoch { .. } = r.event
                            {
                                keys.in_chain(r.seq, Sha256::of(&b), &mut problems);
                            }
                            if let Some(r) = r
                                && matches!(r.event, Event::Segment { .. })
                            {
                                pending = Some(r);
                            }
                        }
                    }
                }
                Kind::Segment(file) => {
                    let (Some(c), Some(r)) = (checker.as_mut(), pending.take()) else {
                        problems.problem(
                            esc(&rel),
                            "segment without the record that commits it just before it",
                        );
                        io::copy(&mut hashed, &mut io::sink())?;
                        continue;
                    };
                    match &r.event {
                        Event::Segment { file: f, .. } if *f == file => {
                            c.segment(&r, &mut hashed, visitor)?
                        }
                        _ => {
                            problems.problem(
                                esc(&rel),
                                format!("is not the segment record {} commits", r.seq),
                            );
                            visitor.segment_absent(&r);
                            c.segment_omitted(&r);
                        }
                    }
                }
                Kind::Meta => {
                    if read_bounded(&mut hashed, MAX_META_BYTES)?.is_none() {
                        problems.problem(esc(&rel), "too large");
                    }
                }
                Kind::Keys => {
                    match (read_bounded(&mut hashed, MAX_KEYS_BYTES)?, checker.as_mut()) {
                        (None, _) => problems.problem(KEYS, "too large"),
                        (Some(_), None) => {
                            problems.problem(KEYS, "before store/logkeep-store.json")
                        }
                        (Some(b), Some(c)) => keys.read(&b, c, &mut problems),
                    }
                }
                Kind::Sums => sums = read_bounded(&mut hashed, MAX_SUMS_BYTES)?,
                Kind::Sig => sig = read_bounded(&mut hashed, 1024)?,
                Kind::Key => key = read_bounded(&mut hashed, 64 << 10)?,
                // A later version of the custody log replaces an earlier one; it must extend it.
                Kind::Custody => {
                    let new = read_bounded(&mut hashed, MAX_CUSTODY_BYTES)?;
                    match (&custody, new) {
                        (_, None) => out.custody_problems.push("custody log too large".into()),
                        (Some(old), Some(n)) if !n.starts_with(old) => {
                            out.custody_problems
                                .push("a later custody log does not extend the earlier one".into());
                            custody = Some(n);
                        }
                        (_, Some(n)) => custody = Some(n),
                    }
                }
            }
            io::copy(&mut hashed, &mut io::sink())?;
            let (digest, _) = hashed.finish();
            if sealed {
                seen.insert(rel, digest);
            }
        }
    }
    // After the end-of-archive blocks only zero padding may follow: tar tools would read a
    // second archive appended there, so anything else is content outside the seal.
    let mut trailing_data = 0u64;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = outer.read(&mut buf)?;
        if n == 0 {
            break;
        }
        trailing_data += buf[..n].iter().filter(|&&b| b != 0).count() as u64;
    }
    if trailing_data > 0 {
        problems.problem("bundle", format!("{trailing_data} non-zero bytes after the end of the tar archive (an appended archive?)"));
    }
    let (whole, size) = outer.finish();
    out.bundle_sha256 = Some(whole);
    out.bundle_size = size;
    if let (Some(c), Some(r)) = (checker.as_mut(), pending.take()) {
        absent(c, &r, out.info.as_ref(), visitor);
    }
    if let Some(c) = checker.as_mut() {
        keys.after_chain(c, &mut problems);
    }
    let mut report = match checker {
        Some(c) => c.finish(),
        None => {
            let mut r = Report::default();
            r.problem("store/logkeep-store.json", "missing");
            r
        }
    };
    keys.finish(report.head, &mut problems);
    report.problems.splice(0..0, problems.problems);
    check_info(&out.info, &report.clone(), &mut report);
    check_sums(&sums, &seen, &mut report);
    if keys.v2 {
        check_signature_v2(&mut out, &sums, &sig, &key, &keys, opts, &mut report);
    } else {
        check_signature(&mut out, &sums, &sig, &key, opts, &mut report);
    }
    check_custody(&mut out, &sums, &custody);
    out.report = report;
    Ok(out)
}

fn check_info(info: &Option<BundleInfo>, chain: &Report, report: &mut Report) {
    let Some(i) = info else {
        report.problem(
            INFO,
            "missing or unreadable: this is not a complete logkeep bundle",
        );
        return;
    };
    if chain.store.as_deref().is_some_and(|s| s != i.store) {
        report.problem(
            INFO,
            format!(
                "names store {} but the bundle holds store {}",
                esc(&i.store),
                chain.store.as_deref().unwrap_or("")
            ),
        );
    }
    if chain.first_seq.is_some_and(|f| f != i.first_seq) {
        report.problem(
            INFO,
            format!(
                "says the chain starts at record {} but it starts at {}",
                i.first_seq,
                chain.first_seq.unwrap_or(0)
            ),
        );
    }
    match chain.head {
        Some(h) if h == i.head => {}
        Some(h) => report.problem(
            INFO,
            format!(
                "says the head is record {} ({}) but the chain ends at record {} ({})",
                i.head.seq, i.head.hash, h.seq, h.hash
            ),
        ),
        None => report.problem(INFO, "the bundle holds no chain"),
    }
    let listed: std::collections::BTreeSet<String> = i.sources.iter().cloned().collect();
    if listed != chain.sources {
        report.problem(INFO, "lists other sources than the included segments hold");
    }
    let v2 = chain.seal.is_some();
    if i.signature.scheme != if v2 { SIG_SCHEME_V2 } else { SIG_SCHEME } {
        report.problem(
            INFO,
            format!(
                "unsupported signature scheme {:?}",
                esc(&i.signature.scheme)
            ),
        );
    }
}

fn check_sums(sums: &Option<Vec<u8>>, seen: &BTreeMap<String, Sha256>, report: &mut Report) {
    let Some(sums) = sums else {
        report.problem(SUMS, "missing: the bundle is not sealed");
        return;
    };
    let mut listed: BTreeMap<String, Sha256> = BTreeMap::new();
    for (n, line) in sums.split(|&b| b == b'\n').enumerate() {
        if line.is_empty() && n > 0 {
            continue;
        }
        let line = String::from_utf8_lossy(line);
        let parsed = line
            .split_once("  ")
            .and_then(|(h, name)| Sha256::parse(h).map(|h| (h, name)));
        match parsed {
            Some((h, name)) if listed.insert(name.to_owned(), h).is_none() => {}
            Some((_, name)) => {
                report.problem(SUMS, format!("line {}: {} listed twice", n + 1, esc(name)))
            }
            None => report.problem(SUMS, format!("line {} is not `SHA256  NAME`", n + 1)),
        }
    }
    for (name, h) in seen {
        match listed.get(name) {
            None => report.problem(esc(name), "not listed in SHA256SUMS (added after sealing)"),
            Some(l) if l != h => {
                report.problem(esc(name), format!("hashes to {h}, SHA256SUMS says {l}"))
            }
            Some(_) => {}
        }
    }
    for name in listed.keys() {
        if !seen.contains_key(name) {
            report.problem(
                esc(name),
                "listed in SHA256SUMS but missing from the bundle",
            );
        }
    }
}

fn check_signature(
    out: &mut BundleReport,
    sums: &Option<Vec<u8>>,
    sig: &Option<Vec<u8>>,
    key: &Option<Vec<u8>>,
    opts: &BundleOptions,
    report: &mut Report,
) {
    let Some((sums, sig, vk)) = signed_parts(sums, sig, key, report) else {
        return;
    };
    let fp = fingerprint(&vk);
    out.key_fingerprint = Some(fp.clone());
    if let Some(i) = &out.info
        && normalize_fingerprint(&i.signature.key_fingerprint) != normalize_fingerprint(&fp)
    {
        report.problem(
            INFO,
            format!(
                "names key {} but the bundle was signed with key {fp}",
                esc(&i.signature.key_fingerprint)
            ),
        );
    }
    if let Some(pin) = &opts.fingerprint {
        if normalize_fingerprint(pin) == normalize_fingerprint(&fp) {
            out.key_pinned = true;
        } else {
            report.problem(
                PUBKEY,
                format!("key {fp} is not the expected key {}: substituted", esc(pin)),
            );
        }
    }
    out.signature_ok = signature_holds(
        &vk,
        sums,
        sig,
        report,
        "does not verify: SHA256SUMS was changed or signed by another key".into(),
    );
}

/// The parts a bundle signature is checked with: `SHA256SUMS`, the signature and the public
/// key, each present, the key parsed. What is missing or unreadable is a problem, and `None`.
fn signed_parts<'a>(
    sums: &'a Option<Vec<u8>>,
    sig: &'a Option<Vec<u8>>,
    key: &Option<Vec<u8>>,
    report: &mut Report,
) -> Option<(&'a [u8], &'a [u8], VerifyingKey)> {
    let (Some(sums), Some(sig), Some(key)) = (sums, sig, key) else {
        if sig.is_none() {
            report.problem(SIG, "missing: the bundle is not signed");
        }
        if key.is_none() {
            report.problem(PUBKEY, "missing");
        }
        return None;
    };
    let Some(vk) = std::str::from_utf8(key)
        .ok()
        .and_then(|k| VerifyingKey::from_public_key_pem(k).ok())
    else {
        report.problem(PUBKEY, "not an Ed25519 public key in PEM form");
        return None;
    };
    Some((sums, sig, vk))
}

/// Whether `sig` is a strict Ed25519 signature of `message` by `vk`; if not, a problem
/// (`failure` when it does not verify).
fn signature_holds(
    vk: &VerifyingKey,
    message: &[u8],
    sig: &[u8],
    report: &mut Report,
    failure: String,
) -> bool {
    let Ok(bytes) = <[u8; 64]>::try_from(sig) else {
        report.problem(SIG, "not a 64-byte Ed25519 signature");
        return false;
    };
    let holds = vk
        .verify_strict(message, &Signature::from_bytes(&bytes))
        .is_ok();
    if !holds {
        report.problem(SIG, failure);
    }
    holds
}

/// Format 2: `store/keys.jsonl`, every key statement of the store's chain up to the head it had
/// at export. Those before the bundle's first record are checked by their signatures alone (the
/// walk takes them in); those within it must be the very records the chain holds; those after
/// the bundle's last record (a bundle of a closed time range ends at a checkpoint, and the
/// epoch that signs came later) are checked by their signatures alone once the walk is done.
#[derive(Default)]
struct KeyStatements {
    v2: bool,
    first: u64,
    /// The bundle's head (`bundle.json`): statements after it wait for the end of the walk.
    last: Option<u64>,
    /// Those statements: line number, the record, the hash of the line.
    later: Vec<(usize, crate::Record, Sha256)>,
    seen: bool,
    /// Every line: record seq, hash of the line, epoch, key (base64).
    lines: Vec<(u64, Sha256, u64, String)>,
    /// Lines found in the chain.
    matched: std::collections::BTreeSet<u64>,
}

impl KeyStatements {
    fn read(&mut self, bytes: &[u8], checker: &mut ChainChecker, problems: &mut Report) {
        self.seen = true;
        if !self.v2 {
            problems.problem(KEYS, "a format 1 bundle holds no key statements");
            return;
        }
        for (n, line) in bytes.split_inclusive(|&b| b == b'\n').enumerate() {
            let at = KEYS;
            let r = match crate::Record::parse(line) {
                Ok(r) => r,
                Err(e) => {
                    problems.problem(at, format!("line {}: {e}", n + 1));
                    return;
                }
            };
            let Event::Epoch { epoch, key, .. } = &r.event else {
                problems.problem(at, format!("line {}: not a key statement", n + 1));
                return;
            };
            if self.lines.last().is_some_and(|l| l.0 >= r.seq)
                || self.later.last().is_some_and(|l| l.1.seq >= r.seq)
            {
                problems.problem(at, format!("line {}: out of order", n + 1));
                return;
            }
            if self.last.is_some_and(|last| r.seq > last) {
                self.later.push((n + 1, r, Sha256::of(line)));
                continue;
            }
            self.lines
                .push((r.seq, Sha256::of(line), *epoch, key.clone()));
            if r.seq < self.first
                && let Err(e) = checker.prior_statement(&r)
            {
                problems.problem(
                    at,
                    format!("line {} (record {}): {}", n + 1, r.seq, esc(&e)),
                );
                return;
            }
        }
    }

    /// After the walk: the statements that follow the bundle's last record, each signed by the
    /// epoch before it (or an enrolment by the root), from the epoch in force at that record.
    fn after_chain(&mut self, checker: &mut ChainChecker, problems: &mut Report) {
        for (n, r, hash) in std::mem::take(&mut self.later) {
            if let Err(e) = checker.prior_statement(&r) {
                problems.problem(KEYS, format!("line {n} (record {}): {}", r.seq, esc(&e)));
                return;
            }
            let Event::Epoch { epoch, key, .. } = &r.event else {
                continue;
            };
            self.lines.push((r.seq, hash, *epoch, key.clone()));
        }
    }

    fn in_chain(&mut self, seq: u64, hash: Sha256, problems: &mut Report) {
        if !self.v2 {
            return;
        }
        match self.lines.iter().find(|l| l.0 == seq) {
            Some(l) if l.1 == hash => {
                self.matched.insert(seq);
            }
            Some(_) => problems.problem(KEYS, format!("holds another record {seq} than the chain")),
            None => problems.problem(KEYS, format!("lacks the key statement of record {seq}")),
        }
    }

    fn finish(&self, head: Option<Head>, problems: &mut Report) {
        if !self.v2 {
            return;
        }
        if !self.seen {
            problems.problem(KEYS, "missing: the key statements of a format 2 bundle");
            return;
        }
        let last = head.map_or(0, |h| h.seq);
        for l in &self.lines {
            if l.0 >= self.first && l.0 <= last && !self.matched.contains(&l.0) {
                problems.problem(
                    KEYS,
                    format!("record {} is not the chain's record {}", l.0, l.0),
                );
            }
        }
    }

    /// The key of `epoch`, once the statements checked out.
    fn key(&self, epoch: u64) -> Option<&str> {
        self.lines
            .iter()
            .rev()
            .find(|l| l.2 == epoch)
            .map(|l| l.3.as_str())
    }
}

fn check_signature_v2(
    out: &mut BundleReport,
    sums: &Option<Vec<u8>>,
    sig: &Option<Vec<u8>>,
    key: &Option<Vec<u8>>,
    keys: &KeyStatements,
    opts: &BundleOptions,
    report: &mut Report,
) {
    let Some((sums, sig, vk)) = signed_parts(sums, sig, key, report) else {
        return;
    };
    let seal = report.seal.clone().unwrap_or_default();
    out.key_fingerprint = seal.root_fingerprint.clone();
    out.key_pinned = opts.fingerprint.is_some() && seal.unproven.is_none();
    let Some(epoch) = out.info.as_ref().and_then(|i| i.signature.epoch) else {
        report.problem(INFO, "names no signing epoch");
        return;
    };
    if let Some(i) = &out.info
        && seal
            .root_fingerprint
            .as_deref()
            .and_then(normalize_fingerprint)
            != normalize_fingerprint(&i.signature.key_fingerprint)
    {
        report.problem(
            INFO,
            format!(
                "names root key {} but the key statements descend from {}",
                esc(&i.signature.key_fingerprint),
                seal.root_fingerprint.as_deref().unwrap_or("no root")
            ),
        );
    }
    match keys.key(epoch).map(crate::seal::parse_key) {
        Some(Ok(k)) if k == vk => {}
        _ => {
            report.problem(
                PUBKEY,
                format!("is not the key the key statements introduce for epoch {epoch}"),
            );
            return;
        }
    }
    let text = crate::seal::bundle_text(&Sha256::of(sums), epoch);
    out.signature_ok = signature_holds(
        &vk,
        text.as_bytes(),
        sig,
        report,
        format!(
            "does not verify with epoch {epoch}'s key: SHA256SUMS was changed or signed by another key"
        ),
    );
}

fn check_custody(out: &mut BundleReport, sums: &Option<Vec<u8>>, custody: &Option<Vec<u8>>) {
    let Some(c) = custody else {
        out.custody_problems.push("custody log missing".into());
        return;
    };
    let first = sums.as_deref().map(Sha256::of).unwrap_or(Sha256::ZERO);
    let (entries, problems) = check_log(c, first, "SHA256SUMS");
    out.custody = entries;
    out.custody_problems.extend(problems);
}

/// Check a custody log: complete canonical lines, numbered from 1, the first chained to
/// `first` (the SHA-256 of `anchor`), every later one to the line before it.
fn check_log(log: &[u8], first: Sha256, anchor: &str) -> (Vec<CustodyEntry>, Vec<String>) {
    let mut entries = Vec::new();
    let mut problems = Vec::new();
    let mut prev = first;
    for (i, line) in log.split_inclusive(|&b| b == b'\n').enumerate() {
        let n = i as u64 + 1;
        if !line.ends_with(b"\n") {
            problems.push(format!("entry {n} is not a complete line"));
            break;
        }
        let e: CustodyEntry = match serde_json::from_slice(&line[..line.len() - 1]) {
            Ok(e) => e,
            Err(err) => {
                problems.push(format!("entry {n} is not valid: {err}"));
                break;
            }
        };
        if e.seq != n {
            problems.push(format!("entry {n} says seq {}", e.seq));
        }
        if e.prev != prev {
            problems.push(format!(
                "entry {n} is not chained to the entry before it (or, for the first, to {anchor})"
            ));
        }
        if e.to_line() != line {
            problems.push(format!("entry {n} is not in canonical form"));
        }
        prev = Sha256::of(line);
        entries.push(e);
    }
    (entries, problems)
}

/// Check a companion's lines as [`check_log`] does, and each signature.
fn check_companion_log(out: &mut BundleReport, log: &[u8], first: Sha256) {
    let mut prev = first;
    for (i, line) in log.split_inclusive(|&b| b == b'\n').enumerate() {
        let n = i as u64 + 1;
        let problems = &mut out.companion_problems;
        if !line.ends_with(b"\n") {
            problems.push(format!("entry {n} is not a complete line"));
            break;
        }
        let e: CompanionEntry = match serde_json::from_slice(&line[..line.len() - 1]) {
            Ok(e) => e,
            Err(err) => {
                problems.push(format!("entry {n} is not valid: {err}"));
                break;
            }
        };
        if e.seq != n {
            problems.push(format!("entry {n} says seq {}", e.seq));
        }
        if e.prev != prev {
            problems.push(format!(
                "entry {n} is not chained to the entry before it (or, for the first, to the bundle file)"
            ));
        }
        if e.to_line() != line {
            problems.push(format!("entry {n} is not in canonical form"));
        }
        let signer = match e.check_signature() {
            Ok(s) => s,
            Err(why) => {
                problems.push(format!("entry {n}: {why}"));
                None
            }
        };
        prev = Sha256::of(line);
        out.companion_custody.push(e.entry());
        out.companion_signers.push(signer);
    }
}

/// The custody companion of the bundle file at `bundle`: the same name with
/// [`COMPANION_SUFFIX`] added (`case-001.tar` → `case-001.tar.custody.jsonl`).
pub fn companion_path(bundle: &Path) -> PathBuf {
    let mut name = bundle.file_name().map(OsString::from).unwrap_or_default();
    name.push(COMPANION_SUFFIX);
    bundle.with_file_name(name)
}

/// Read the companion at `path`, bounded, never through a link or from a special file.
/// `Ok(None)` when there is none.
fn read_companion(path: &Path) -> io::Result<Option<Vec<u8>>> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    if !meta.file_type().is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "not a regular file (a link, a directory or a special file); not read",
        ));
    }
    if meta.len() > MAX_CUSTODY_BYTES {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("larger than the {MAX_CUSTODY_BYTES} bytes a custody log may have"),
        ));
    }
    let mut f = File::open(path)?;
    match read_bounded(&mut f, MAX_CUSTODY_BYTES)? {
        Some(v) => Ok(Some(v)),
        None => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("larger than the {MAX_CUSTODY_BYTES} bytes a custody log may have"),
        )),
    }
}

/// Check the custody companion beside the bundle file `bundle` whose SHA-256 (as read by the
/// verification) is `bundle_sha256`, and put what it found into `out`.
pub fn check_companion(out: &mut BundleReport, bundle: &Path, bundle_sha256: Sha256) {
    let path = companion_path(bundle);
    let name = path
        .file_name()
        .map(|n| crate::shown::path(Path::new(n)))
        .unwrap_or_default();
    match read_companion(&path) {
        Ok(None) => {}
        Ok(Some(log)) => {
            out.companion = Some(name);
            out.companion_sha256 = Some(Sha256::of(&log));
            check_companion_log(out, &log, bundle_sha256);
        }
        Err(e) => {
            out.companion = Some(name);
            out.companion_problems.push(e.to_string());
        }
    }
}

/// A custody entry to append to the companion log `log` (its current bytes) of a bundle
/// file whose SHA-256 is `bundle_sha256`, signed with `key` if given.
pub fn next_entry(
    log: &[u8],
    bundle_sha256: Sha256,
    time: &str,
    actor: &str,
    action: &str,
    note: Option<&str>,
    key: Option<&ed25519_dalek::SigningKey>,
) -> CompanionEntry {
    let (seq, prev) = match log.split_inclusive(|&b| b == b'\n').next_back() {
        Some(last) => (
            log.split_inclusive(|&b| b == b'\n').count() as u64 + 1,
            Sha256::of(last),
        ),
        None => (1, bundle_sha256),
    };
    let mut e = CompanionEntry {
        seq,
        time: time.to_owned(),
        actor: actor.to_owned(),
        action: action.to_owned(),
        note: note.map(str::to_owned),
        prev,
        signer: key.map(|k| hex::encode(k.verifying_key().as_bytes())),
        sig: None,
    };
    if let Some(k) = key {
        use ed25519_dalek::Signer;
        e.sig = Some(hex::encode(k.sign(&e.to_line()).to_bytes()));
    }
    e
}

/// What [`append_companion`] wrote.
#[derive(Debug, Clone, Serialize)]
pub struct Appended {
    /// The companion file.
    pub path: PathBuf,
    /// The entry added.
    pub entry: CompanionEntry,
    /// SHA-256 of the companion after the entry was added.
    pub companion_sha256: Sha256,
}

/// Append an entry to the custody companion of the bundle file at `bundle` (whose SHA-256 is
/// `bundle_sha256`), creating the companion if there is none. The bundle file is not touched.
/// The caller verifies the bundle and the companion first.
pub fn append_companion(
    bundle: &Path,
    bundle_sha256: Sha256,
    time: &str,
    actor: &str,
    action: &str,
    note: Option<&str>,
    key: Option<&ed25519_dalek::SigningKey>,
) -> io::Result<Appended> {
    let path = companion_path(bundle);
    let old = read_companion(&path)?;
    let log = old.clone().unwrap_or_default();
    let entry = next_entry(&log, bundle_sha256, time, actor, action, note, key);
    let line = entry.to_line();
    let mut f = if old.is_some() {
        let mut f = OpenOptions::new().read(true).append(true).open(&path)?;
        // One writer at a time, and still the log that was read: appending to anything else
        // would chain wrongly.
        f.lock()?;
        let mut now = Vec::new();
        (&mut f).take(MAX_CUSTODY_BYTES + 1).read_to_end(&mut now)?;
        if now != log {
            return Err(io::Error::other(
                "changed while the entry was being added; try again",
            ));
        }
        f
    } else {
        // A new log: never through a link, never over a file that appeared meanwhile.
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)?
    };
    f.write_all(&line)?;
    f.sync_all()?;
    let mut all = log;
    all.extend_from_slice(&line);
    Ok(Appended {
        path,
        entry,
        companion_sha256: Sha256::of(&all),
    })
}

/// Verify the bundle file at `path`, and the custody companion beside it if there is one.
pub fn verify_bundle_file(path: &Path, opts: &BundleOptions) -> Result<BundleReport, VerifyError> {
    verify_bundle_with(path, opts, &mut NoVisitor)
}

/// Verify the bundle file at `path` (opened as untrusted input), handing every member of
/// every included segment to `visitor`.
pub fn verify_bundle_with(
    path: &Path,
    opts: &BundleOptions,
    visitor: &mut dyn ChainVisitor,
) -> Result<BundleReport, VerifyError> {
    let err = |source| VerifyError {
        path: path.to_owned(),
        source,
    };
    let (f, _) = untrusted::open_given(path).map_err(|e| err(e.into_io()))?;
    let mut report =
        verify_bundle(io::BufReader::with_capacity(1 << 20, f), opts, visitor).map_err(err)?;
    if let Some(h) = report.bundle_sha256 {
        check_companion(&mut report, path, h);
    }
    Ok(report)
}

/// Verify the bundle at `path` and, if it verified (or `force`), write the captured files
/// `filter` selects under `out` (new or empty), as [`extract::extract_store`] does for a store.
pub fn extract_bundle(
    path: &Path,
    out: &Path,
    opts: &BundleOptions,
    force: bool,
    filter: &Filter,
    progress: &mut dyn ChainVisitor,
) -> Result<(BundleReport, Vec<Extracted>), VerifyError> {
    let first = verify_bundle_with(path, opts, progress)?;
    if !first.ok() && !force {
        return Ok((first, Vec::new()));
    }
    extract::prepare_out(out).map_err(|source| VerifyError {
        path: out.to_owned(),
        source,
    })?;
    let mut ex = Extractor::new(out, filter.clone());
    let (f, _) = untrusted::open_given(path).map_err(|e| VerifyError {
        path: path.to_owned(),
        source: e.into_io(),
    })?;
    let walked = verify_bundle(
        io::BufReader::with_capacity(1 << 20, f),
        opts,
        &mut Tee(&mut ex, progress),
    );
    if let Some(e) = ex.take_failure() {
        return Err(e);
    }
    let report = walked.map_err(|source| VerifyError {
        path: path.to_owned(),
        source,
    })?;
    let mut report = report;
    if let Some(h) = report.bundle_sha256 {
        check_companion(&mut report, path, h);
    }
    let list = ex.finish()?;
    Ok((report, list))
}

/// The text of VERIFY.txt for a bundle, in Japanese and English.
pub fn verify_txt(info: &BundleInfo, dir: &str) -> String {
    if info.signature.scheme == SIG_SCHEME_V2 {
        return verify_txt_v2(info, dir);
    }
    let fp = &info.signature.key_fingerprint;
    format!(
        r#"logkeep 証拠バンドル / logkeep evidence bundle
================================================

バンドル ID / Bundle id : {id}
ストア / Store           : {store}
チェーンの先頭 / Head    : record {seq}  sha256 {head}
署名鍵の指紋 / Key fingerprint : {fp}

この指紋は、バンドルとは別の経路（電話・書面など）で受け取った値と一致しなければなりません。
The fingerprint must match the one you received separately (by phone or on paper).

日本語: 検証手順
----------------
1. 展開します:            tar -xf BUNDLE.tar && cd {dir}
2. 各ファイルのハッシュ:  sha256sum -c SHA256SUMS        （すべて OK であること）
3. 署名の検証:            openssl pkeyutl -verify -pubin -inkey signing-key.pub.pem -rawin -in SHA256SUMS -sigfile SHA256SUMS.sig
                          （"Signature Verified Successfully" と表示されること）
4. 鍵の指紋:              openssl pkey -pubin -in signing-key.pub.pem -outform DER | tail -c 32 | sha256sum
                          （先頭 32 桁が上記の指紋と一致すること。区切りの "-" は除いて比較）
5. 記録されたファイル:    mkdir ../files && for f in store/segments/*.tar.zst; do zstd -d < "$f" | tar -xv -C ../files; done
                          find ../files -type d -name '*.gen[0-9]*' -exec sh -c 'cat "$1"/* > "$1.joined" && echo "$1.joined"' sh {{}} \;
                          （このディレクトリの外に展開します。つなぎ方は下の説明を参照）
6. logkeep がある場合:    logkeep verify BUNDLE.tar --fingerprint {fp}
                          logkeep extract BUNDLE.tar --out 出力先ディレクトリ

手順 5 について: 各セグメントは、記録されたファイルのバイト範囲を持ちます。メンバー
SOURCE/PATH.genN/OFFSET は、ファイル /PATH の世代 N の、OFFSET バイト目（20 桁）からの内容です。
すべてのセグメントを一つのディレクトリに展開すると、同じ世代の範囲がその世代のディレクトリに
集まり、シェルの * がオフセット順に並べるので、cat でつなぐと元のファイルになります
（../files/SOURCE/PATH.genN.joined）。各範囲は前の範囲の終わり（OFFSET + サイズ）から始まります。
そうでない所のバイトは記録されていないか、書き出されていません（理由は store/chain の gap
レコード）。その場合、つないだファイルは元のファイルの全体ではありません。

custody.jsonl は書き出し時の受け渡しの記録で、署名の対象外です。各行は前の行（最初の行は
SHA256SUMS）の SHA-256 を prev に持ちます。その後の受け渡しはバンドルを変更せず、隣のファイル
BUNDLE.tar.custody.jsonl に追記されます。その 1 行目の prev はバンドルファイル全体の SHA-256
（書き出し時に読み上げた値: sha256sum BUNDLE.tar）で、以降の各行は前の行の SHA-256 です。

English: how to verify
----------------------
1. Unpack:                tar -xf BUNDLE.tar && cd {dir}
2. Every file's hash:     sha256sum -c SHA256SUMS        (every line must say OK)
3. The signature:         openssl pkeyutl -verify -pubin -inkey signing-key.pub.pem -rawin -in SHA256SUMS -sigfile SHA256SUMS.sig
                          (must print "Signature Verified Successfully")
4. The key fingerprint:   openssl pkey -pubin -in signing-key.pub.pem -outform DER | tail -c 32 | sha256sum
                          (the first 32 hex digits must equal the fingerprint above, without the dashes)
5. The captured files:    mkdir ../files && for f in store/segments/*.tar.zst; do zstd -d < "$f" | tar -xv -C ../files; done
                          find ../files -type d -name '*.gen[0-9]*' -exec sh -c 'cat "$1"/* > "$1.joined" && echo "$1.joined"' sh {{}} \;
                          (unpacked outside this directory; how the pieces join is explained below)
6. With logkeep:          logkeep verify BUNDLE.tar --fingerprint {fp}
                          logkeep extract BUNDLE.tar --out DIR

Step 5: each segment holds byte ranges of the captured files. The member
SOURCE/PATH.genN/OFFSET holds generation N of the file /PATH from byte OFFSET (20 digits) on.
Unpacked into one directory, the ranges of a generation from every segment meet in its
directory, and the shell's * sorts them by offset, so cat joins them into the file
../files/SOURCE/PATH.genN.joined. Each range starts where the one before it ended (OFFSET plus
its size); where one does not, the bytes in between were not captured or not exported (a gap
record in store/chain says why), and the joined file is not the whole original.

custody.jsonl records the export and is not covered by the signature; each line carries in
`prev` the SHA-256 of the line before it (for the first line, of SHA256SUMS). Later hand-overs
never change the bundle: they go to the file beside it, BUNDLE.tar.custody.jsonl, whose first
line carries in `prev` the SHA-256 of the whole bundle file (the value read out at export:
sha256sum BUNDLE.tar), and each later line the SHA-256 of the line before it.

Everything in this bundle was written on the host named in bundle.json and may have been
written by an attacker who controlled it: read metadata as data, never run it.
"#,
        id = info.bundle_id,
        store = info.store,
        seq = info.head.seq,
        head = info.head.hash,
        fp = fp,
        dir = dir,
    )
}

/// VERIFY.txt of a format 2 bundle (`ed25519-epoch-v2`): the script, and what it does step by
/// step, so that each step can also be done by hand.
fn verify_txt_v2(info: &BundleInfo, dir: &str) -> String {
    format!(
        r#"logkeep 証拠バンドル / logkeep evidence bundle (format 2)
==========================================================

バンドル ID / Bundle id           : {id}
ストア / Store                     : {store}
チェーンの先頭 / Head              : record {seq}  sha256 {head}
ルート鍵の指紋 / Root key fingerprint : {fp}
署名したエポック / Signing epoch   : {epoch}

この指紋は、バンドルとは別の経路（電話・書面など）で受け取った値と一致しなければなりません。
The fingerprint must match the one you received separately (by phone or on paper).

日本語: 検証手順
----------------
1. 展開します:          tar -xf BUNDLE.tar && cd {dir}
2. 一括検証:            sh verify-with-openssl.sh {fp}
                        （指紋は受け取った値を使うこと。最後に "OK:" と表示され終了コード 0 であること）
3. 記録されたファイル:  mkdir ../files && for f in store/segments/*.tar.zst; do zstd -d < "$f" | tar -xv -C ../files; done
                        find ../files -type d -name '*.gen[0-9]*' -exec sh -c 'cat "$1"/* > "$1.joined" && echo "$1.joined"' sh {{}} \;
                        （このディレクトリの外に展開します。範囲のつなぎ方は英語の説明を参照）
4. logkeep がある場合:  logkeep verify BUNDLE.tar --fingerprint {fp}
                        logkeep extract BUNDLE.tar --out 出力先ディレクトリ

verify-with-openssl.sh は sha256sum, openssl, zstd と標準的なシェルコマンドだけを使い、次を順に
確認します（手でも再現できます。各文字列の行末は改行）:
 a. sha256sum -c --strict SHA256SUMS で全ファイルのハッシュ。
 b. store/keys.jsonl の鍵宣言。最初はルート鍵（指紋が一致する鍵）の署名、以降は一つ前の
   エポック鍵の署名。署名対象: logkeep epoch / epoch <E> / key <公開鍵 base64> /
   head <seq> <sha256>（登録時は head none）。
 c. store/chain/ の各レコード: prev が直前のレコードの sha256 であること。チェックポイントは
   そのエポックの鍵で logkeep checkpoint / store <ストア ID> / epoch <E> /
   head <seq> <sha256> / time <レコードの wall> に署名し、直前のレコードを指すこと。
   エポック切替の head がチェーンのレコードと一致すること（期間を指定したバンドルは期間後の
   最初のチェックポイントで終わり、それより後の切替は署名だけで確認）。セグメントのハッシュと zstd。
 d. SHA256SUMS.sig: bundle.json のエポックの鍵（signing-key.pub.pem）による
   logkeep bundle / epoch <E> / sums <SHA256SUMS の sha256> への署名。
最後のチェックポイントより後のレコードは「未封印の末尾」として表示されます（失敗ではありません）。

English: how to verify
----------------------
1. Unpack:                tar -xf BUNDLE.tar && cd {dir}
2. Check everything:      sh verify-with-openssl.sh {fp}
                          (with the fingerprint you received; it must end with "OK:" and exit 0)
3. The captured files:    mkdir ../files && for f in store/segments/*.tar.zst; do zstd -d < "$f" | tar -xv -C ../files; done
                          find ../files -type d -name '*.gen[0-9]*' -exec sh -c 'cat "$1"/* > "$1.joined" && echo "$1.joined"' sh {{}} \;
                          (unpacked outside this directory; how the pieces join is explained below)
4. With logkeep:          logkeep verify BUNDLE.tar --fingerprint {fp}
                          logkeep extract BUNDLE.tar --out DIR

Step 3: each segment holds byte ranges of the captured files. The member
SOURCE/PATH.genN/OFFSET holds generation N of the file /PATH from byte OFFSET (20 digits) on.
Unpacked into one directory, the ranges of a generation from every segment meet in its
directory, and the shell's * sorts them by offset, so cat joins them into the file
../files/SOURCE/PATH.genN.joined. Each range starts where the one before it ended (OFFSET plus
its size); where one does not, the bytes in between were not captured or not exported (a gap
record in store/chain says why), and the joined file is not the whole original.

verify-with-openssl.sh uses only sha256sum, openssl, zstd and standard shell commands, and
checks in this order (each step can be done by hand; every line of a signed text ends in a
newline):
 a. every file against SHA256SUMS (sha256sum -c --strict SHA256SUMS: a line that is not a hash and a name fails too);
 b. the key statements in store/keys.jsonl: the first signed by the root key (the one with
   your fingerprint), each later one by the epoch key before it, over the text
   logkeep epoch / epoch <E> / key <public key, base64> / head <seq> <sha256>
   ("head none" for an enrolment);
 c. every record in store/chain/: prev is the sha256 of the record before; every checkpoint
   is signed by its epoch's key over logkeep checkpoint / store <store id> / epoch <E> /
   head <seq> <sha256> / time <the record's wall>, and names the record just before it; every
   switch names a record of the chain by its hash (a bundle of a time range ends at the first
   checkpoint after the range: the switches after that record are checked by their signatures
   alone); every segment has the hash its record says and is a sound zstd stream;
 d. SHA256SUMS.sig: the key of the epoch bundle.json names (signing-key.pub.pem) signed
   logkeep bundle / epoch <E> / sums <sha256 of SHA256SUMS>.
Records after the last checkpoint are reported as the unsealed tail, not as a failure.

The key that signed this bundle was destroyed on the host right after signing: a later intruder
cannot sign records of this epoch or an earlier one.

custody.jsonl records hand-overs and is not covered by the signature; each line carries in
`prev` the SHA-256 of the line before it (for the first line, of SHA256SUMS).

Everything in this bundle was written on the host named in bundle.json and may have been
written by an attacker who controlled it: read metadata as data, never run it - except
verify-with-openssl.sh, which you may read first (it only reads files and writes a temporary
directory).
"#,
        id = info.bundle_id,
        store = info.store,
        seq = info.head.seq,
        head = info.head.hash,
        fp = info.signature.key_fingerprint,
        epoch = info.signature.epoch.unwrap_or(0),
        dir = dir,
    )
}
