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
//! custody.jsonl               custody log, outside the seal; later versions are appended
//! ```
//!
//! Reading streams the tar once with bounded memory: the chain is checked as records and
//! segments pass by, every member is hashed on the way, and at the end the listing, the
//! signature and the custody log are checked. A bundle is hostile input: member names are
//! matched against the layout above and never used as paths.

use crate::extract::{self, Extracted, Extractor};
use crate::hash::{HashReader, HashWriter, Sha256};
use crate::layout::{self, Head};
use crate::record::{Event, MAX_RECORD_BYTES};
use crate::segment::esc;
use crate::verify::{
    self, ChainChecker, ChainVisitor, NoVisitor, Report, VerifyError, VerifyOptions,
};
use ed25519_dalek::pkcs8::DecodePublicKey;
use ed25519_dalek::{Signature, VerifyingKey};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;

/// `format` value of `bundle.json`.
pub const BUNDLE_FORMAT: &str = "logkeep-bundle";
/// The only bundle version this crate reads or writes.
pub const BUNDLE_VERSION: u32 = 1;
/// The signature scheme of version 1: pure Ed25519 (RFC 8032) over the bytes of SHA256SUMS.
pub const SIG_SCHEME: &str = "ed25519-v1";
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
/// Largest metadata member (bundle.json, inventory, config, VERIFY.txt) a reader accepts.
pub const MAX_META_BYTES: u64 = 4 << 20;
/// Largest SHA256SUMS a reader accepts (it is held in memory to check the signature).
pub const MAX_SUMS_BYTES: u64 = 256 << 20;
/// Largest custody log a reader accepts.
pub const MAX_CUSTODY_BYTES: u64 = 16 << 20;

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
    /// `ed25519-v1`.
    pub scheme: String,
    /// Fingerprint of the signing key (see [`fingerprint`]).
    pub key_fingerprint: String,
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
}

impl BundleReport {
    /// Whether the sealed content and the custody log verified.
    pub fn ok(&self) -> bool {
        self.report.ok() && self.custody_problems.is_empty()
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
}

fn classify(rel: &str) -> Option<Kind> {
    match rel {
        INFO => return Some(Kind::Info),
        "store/logkeep-store.json" => return Some(Kind::StoreInfo),
        "config/logkeep.toml" | "inventory/host.json" | "inventory/devices.json" | VERIFY_TXT => {
            return Some(Kind::Meta);
        }
        SUMS => return Some(Kind::Sums),
        SIG => return Some(Kind::Sig),
        PUBKEY => return Some(Kind::Key),
        CUSTODY => return Some(Kind::Custody),
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
fn absent(c: &mut ChainChecker, r: &crate::Record, info: Option<&BundleInfo>) {
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
    {
        let mut archive = tar::Archive::new(&mut outer);
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
                absent(c, &r, out.info.as_ref());
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
                            checker = Some(ChainChecker::new(
                                &s.store,
                                "store/",
                                opts.chain.clone(),
                                Some(first),
                            ));
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
                            if let Some(r) = c.record(&b)
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
                            c.segment_omitted(&r);
                        }
                    }
                }
                Kind::Meta => {
                    if read_bounded(&mut hashed, MAX_META_BYTES)?.is_none() {
                        problems.problem(esc(&rel), "too large");
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
        absent(c, &r, out.info.as_ref());
    }
    let mut report = match checker {
        Some(c) => c.finish(),
        None => {
            let mut r = Report::default();
            r.problem("store/logkeep-store.json", "missing");
            r
        }
    };
    report.problems.splice(0..0, problems.problems);
    check_info(&out.info, &report.clone(), &mut report);
    check_sums(&sums, &seen, &mut report);
    check_signature(&mut out, &sums, &sig, &key, opts, &mut report);
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
    if i.signature.scheme != SIG_SCHEME {
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
    let (Some(sums), Some(sig), Some(key)) = (sums, sig, key) else {
        if sig.is_none() {
            report.problem(SIG, "missing: the bundle is not signed");
        }
        if key.is_none() {
            report.problem(PUBKEY, "missing");
        }
        return;
    };
    let vk = match std::str::from_utf8(key)
        .ok()
        .and_then(|k| VerifyingKey::from_public_key_pem(k).ok())
    {
        Some(k) => k,
        None => {
            report.problem(PUBKEY, "not an Ed25519 public key in PEM form");
            return;
        }
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
    let Ok(bytes) = <[u8; 64]>::try_from(sig.as_slice()) else {
        report.problem(SIG, "not a 64-byte Ed25519 signature");
        return;
    };
    match vk.verify_strict(sums, &Signature::from_bytes(&bytes)) {
        Ok(()) => out.signature_ok = true,
        Err(_) => report.problem(
            SIG,
            "does not verify: SHA256SUMS was changed or signed by another key",
        ),
    }
}

fn check_custody(out: &mut BundleReport, sums: &Option<Vec<u8>>, custody: &Option<Vec<u8>>) {
    let Some(c) = custody else {
        out.custody_problems.push("custody log missing".into());
        return;
    };
    let mut prev = sums.as_deref().map(Sha256::of).unwrap_or(Sha256::ZERO);
    for (i, line) in c.split_inclusive(|&b| b == b'\n').enumerate() {
        let n = i as u64 + 1;
        if !line.ends_with(b"\n") {
            out.custody_problems
                .push(format!("entry {n} is not a complete line"));
            break;
        }
        let e: CustodyEntry = match serde_json::from_slice(&line[..line.len() - 1]) {
            Ok(e) => e,
            Err(err) => {
                out.custody_problems
                    .push(format!("entry {n} is not valid: {err}"));
                break;
            }
        };
        if e.seq != n {
            out.custody_problems
                .push(format!("entry {n} says seq {}", e.seq));
        }
        if e.prev != prev {
            out.custody_problems.push(format!(
                "entry {n} is not chained to the entry before it (or, for the first, to SHA256SUMS)"
            ));
        }
        if e.to_line() != line {
            out.custody_problems
                .push(format!("entry {n} is not in canonical form"));
        }
        prev = Sha256::of(line);
        out.custody.push(e);
    }
}

/// Verify the bundle file at `path`.
pub fn verify_bundle_file(path: &Path, opts: &BundleOptions) -> Result<BundleReport, VerifyError> {
    let err = |source| VerifyError {
        path: path.to_owned(),
        source,
    };
    let f = File::open(path).map_err(err)?;
    verify_bundle(
        io::BufReader::with_capacity(1 << 20, f),
        opts,
        &mut NoVisitor,
    )
    .map_err(err)
}

/// Verify the bundle at `path` and, if it verified (or `force`), write the captured files
/// under `out` (new or empty), as [`extract::extract_store`] does for a store.
pub fn extract_bundle(
    path: &Path,
    out: &Path,
    opts: &BundleOptions,
    force: bool,
) -> Result<(BundleReport, Vec<Extracted>), VerifyError> {
    let first = verify_bundle_file(path, opts)?;
    if !first.ok() && !force {
        return Ok((first, Vec::new()));
    }
    let err = |source| VerifyError {
        path: out.to_owned(),
        source,
    };
    extract::prepare_out(out).map_err(err)?;
    let mut ex = Extractor::new(out);
    let f = File::open(path).map_err(|source| VerifyError {
        path: path.to_owned(),
        source,
    })?;
    let report = verify_bundle(io::BufReader::with_capacity(1 << 20, f), opts, &mut ex).map_err(
        |source| VerifyError {
            path: path.to_owned(),
            source,
        },
    )?;
    let list = ex.finish().map_err(err)?;
    Ok((report, list))
}

/// Append an entry to the custody log of the bundle file at `path`: a new version of
/// `custody.jsonl` is added at the end of the archive, so the sealed members and their
/// signature are untouched. Returns the entry written.
pub fn append_custody(
    path: &Path,
    actor: &str,
    action: &str,
    note: Option<&str>,
    time: &str,
) -> io::Result<CustodyEntry> {
    let mut f = OpenOptions::new().read(true).write(true).open(path)?;
    let mut end = 0u64;
    let mut dir = None;
    let mut sums: Option<Vec<u8>> = None;
    let mut custody: Option<Vec<u8>> = None;
    {
        let mut archive = tar::Archive::new(&mut f);
        for entry in archive.entries()? {
            let mut entry = entry?;
            let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            let size = entry.size();
            end = entry.raw_file_position() + size.div_ceil(512) * 512;
            let Some((d, rel)) = name.split_once('/') else {
                continue;
            };
            dir.get_or_insert_with(|| d.to_owned());
            if rel == SUMS {
                sums = read_bounded(&mut entry, MAX_SUMS_BYTES)?;
            } else if rel == CUSTODY {
                custody = read_bounded(&mut entry, MAX_CUSTODY_BYTES)?;
            }
        }
    }
    let (Some(dir), Some(sums)) = (dir, sums) else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "not a logkeep bundle (no SHA256SUMS)",
        ));
    };
    let old = custody.unwrap_or_default();
    let (seq, prev) = match old.split_inclusive(|&b| b == b'\n').next_back() {
        Some(last) => (
            old.split_inclusive(|&b| b == b'\n').count() as u64 + 1,
            Sha256::of(last),
        ),
        None => (1, Sha256::of(&sums)),
    };
    let entry = CustodyEntry {
        seq,
        time: time.to_owned(),
        actor: actor.to_owned(),
        action: action.to_owned(),
        note: note.map(str::to_owned),
        prev,
    };
    let mut content = old;
    content.extend_from_slice(&entry.to_line());
    f.seek(SeekFrom::Start(end))?;
    let mut b = tar::Builder::new(&mut f);
    let mut h = header(content.len() as u64, 0);
    b.append_data(&mut h, format!("{dir}/{CUSTODY}"), &content[..])?;
    b.finish()?;
    drop(b);
    let pos = f.stream_position()?;
    f.set_len(pos)?;
    f.sync_all()?;
    Ok(entry)
}

/// The text of VERIFY.txt for a bundle, in Japanese and English.
pub fn verify_txt(info: &BundleInfo, dir: &str) -> String {
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

custody.jsonl は受け渡しの記録で、署名の対象外です。各行は前の行（最初の行は SHA256SUMS）の
SHA-256 を prev に持ちます。

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

custody.jsonl records hand-overs and is not covered by the signature; each line carries in
`prev` the SHA-256 of the line before it (for the first line, of SHA256SUMS).

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
