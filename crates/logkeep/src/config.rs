//! The configuration file: TOML, unknown keys are errors, every error names the file and line.
//!
//! Relative paths (the store, source patterns) are resolved against the directory of the
//! configuration file, so a configuration and the files it names can move together.

use anyhow::{Context, Result, bail};
use logkeep_format::layout::valid_source_id;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;
use toml::Spanned;

/// The file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    /// Where and how captured data is stored.
    store: RawStore,
    /// The control socket (used by `status` and `snapshot`).
    #[serde(default)]
    control: Option<RawControl>,
    /// Log sources.
    #[serde(default)]
    source: Vec<RawSource>,
    /// Offline media: separate disks that receive verified copies of the store.
    #[serde(default)]
    media: Vec<RawMedium>,
    /// The key that signs evidence bundles.
    #[serde(default)]
    signing: Option<RawSigning>,
    /// What the police ask for about the network: written into every evidence bundle.
    #[serde(default)]
    inventory: Inventory,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMedium {
    /// Unique id, written into the medium by `logkeep media init PATH --id ID`.
    id: Spanned<String>,
    /// Where the medium is mounted; it may be absent, logkeep catches up when it appears.
    path: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSigning {
    /// Path of the Ed25519 key (PKCS#8 PEM, mode 0600) made by `logkeep keygen`.
    key: String,
}

/// The operator's description of the site, for investigators (`inventory/devices.json`).
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Inventory {
    /// The organisation operating this host.
    #[serde(default)]
    pub organisation: Option<String>,
    /// Whom the police should contact, and how.
    #[serde(default)]
    pub contact: Option<String>,
    /// The police contact (e.g. the prefectural police cybercrime consultation desk).
    #[serde(default)]
    pub police_contact: Option<String>,
    /// Where the network diagram is kept (a path or a description).
    #[serde(default)]
    pub network_diagram: Option<String>,
    /// Internet-facing devices: VPN appliances, firewalls, RDP gateways.
    #[serde(default)]
    pub device: Vec<Device>,
}

/// An internet-facing device.
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Device {
    /// Device name.
    pub name: String,
    /// Vendor and model.
    #[serde(default)]
    pub model: Option<String>,
    /// What it is used for (SSL-VPN, RDP gateway, ...).
    #[serde(default)]
    pub usage: Option<String>,
    /// Firmware or software version.
    #[serde(default)]
    pub firmware: Option<String>,
    /// Patch status (last update, known vulnerabilities fixed).
    #[serde(default)]
    pub patch_status: Option<String>,
    /// Where its logs go (e.g. "syslog to this host, source fw").
    #[serde(default)]
    pub logs_to: Option<String>,
    /// How long its logs are kept.
    #[serde(default)]
    pub retention: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStore {
    /// Store directory; created on first run.
    path: String,
    /// An open segment is sealed at least this often ("10s").
    #[serde(default)]
    seal_interval: Option<Spanned<String>>,
    /// A segment is sealed when it holds this many captured bytes ("64MiB").
    #[serde(default)]
    segment_max_bytes: Option<Spanned<String>>,
    /// With nothing to seal, a heartbeat record is written this often ("15m").
    #[serde(default)]
    heartbeat_interval: Option<Spanned<String>>,
    /// How often every pattern is re-resolved and every file checked ("1s").
    #[serde(default)]
    scan_interval: Option<Spanned<String>>,
    /// zstd level, 1 to 19 (default 3).
    #[serde(default)]
    compression_level: Option<Spanned<i32>>,
    /// Keep segments in the local store at least this long ("365d"); older ones are removed
    /// only once `min_copies` media hold them. Absent: never prune.
    #[serde(default)]
    retain_local: Option<Spanned<String>>,
    /// How many media must hold a segment before the local copy may be pruned (default 1).
    #[serde(default)]
    min_copies: Option<Spanned<u32>>,
    /// What a truncation or deletion outside rotation triggers besides its `tamper` record:
    /// `"seal"` (default) seals what was read at once; `"record"` only records it.
    #[serde(default)]
    on_tamper: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawControl {
    /// Path of the control socket.
    socket: Spanned<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSource {
    /// Unique id: 1 to 64 of A-Z a-z 0-9 . _ - (not starting with a dot).
    id: Spanned<String>,
    /// Files or glob patterns (`*`, `?`, `[...]`).
    #[serde(default)]
    paths: Option<Spanned<Vec<Spanned<String>>>>,
    /// A network listener (`udp://`, `tcp://`, `tls://`).
    #[serde(default)]
    listen: Option<Spanned<String>>,
}

/// A validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it was read from.
    pub file: PathBuf,
    /// SHA-256 of the file's bytes.
    pub sha256: logkeep_format::Sha256,
    /// Store directory.
    pub store: PathBuf,
    /// Seal at least this often.
    pub seal_interval: Duration,
    /// Seal at this many captured bytes.
    pub segment_max_bytes: u64,
    /// Heartbeat interval.
    pub heartbeat_interval: Duration,
    /// Scan interval.
    pub scan_interval: Duration,
    /// zstd level.
    pub compression_level: i32,
    /// Sources.
    pub sources: Vec<Source>,
    /// The signing key's path.
    pub signing_key: PathBuf,
    /// Offline media.
    pub media: Vec<Medium>,
    /// Local retention: prune segments older than this that enough media hold.
    pub retain_local: Option<Duration>,
    /// Media that must hold a segment before it is pruned.
    pub min_copies: u32,
    /// Seal at once when tampering is seen.
    pub seal_on_tamper: bool,
    /// The operator's inventory.
    pub inventory: Inventory,
    /// The file's bytes, as exported into bundles.
    pub bytes: Vec<u8>,
}

/// Default path of the signing key.
pub const DEFAULT_KEY: &str = "/etc/logkeep/signing.key";

/// A configured offline medium.
#[derive(Debug, Clone)]
pub struct Medium {
    /// Id.
    pub id: String,
    /// Mount point.
    pub path: PathBuf,
}

/// A validated source.
#[derive(Debug, Clone)]
pub struct Source {
    /// Id.
    pub id: String,
    /// Absolute patterns.
    pub paths: Vec<String>,
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())]
        .bytes()
        .filter(|&b| b == b'\n')
        .count()
        + 1
}

fn duration(
    text: &str,
    file: &Path,
    key: &str,
    v: &Option<Spanned<String>>,
    default: Duration,
) -> Result<Duration> {
    let Some(v) = v else { return Ok(default) };
    let d = humantime::parse_duration(v.get_ref()).map_err(|e| {
        anyhow::anyhow!(
            "{}:{}: store.{key}: {:?} is not a duration like \"10s\" or \"5m\": {e}",
            file.display(),
            line_of(text, v.span().start),
            v.get_ref()
        )
    })?;
    if d.is_zero() {
        bail!(
            "{}:{}: store.{key} must be more than zero",
            file.display(),
            line_of(text, v.span().start)
        );
    }
    Ok(d)
}

impl Config {
    /// Read and validate `file`.
    pub fn load(file: &Path) -> Result<Config> {
        let bytes =
            std::fs::read(file).with_context(|| format!("{}: cannot read", file.display()))?;
        let text = String::from_utf8(bytes.clone())
            .map_err(|_| anyhow::anyhow!("{}: not valid UTF-8", file.display()))?;
        let raw: RawConfig = toml::from_str(&text)
            .map_err(|e| anyhow::anyhow!("{}: {}", file.display(), e.to_string().trim_end()))?;
        let base = file.parent().map(Path::to_path_buf).unwrap_or_default();
        let base = if base.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            base
        };
        let base = std::path::absolute(&base).unwrap_or(base);
        let at = |span: std::ops::Range<usize>| {
            format!("{}:{}", file.display(), line_of(&text, span.start))
        };

        if let Some(c) = &raw.control {
            bail!(
                "{}: [control]: the control socket is not supported by this version of logkeep",
                at(c.socket.span())
            );
        }
        let mut media: Vec<Medium> = Vec::new();
        for m in &raw.media {
            let id = m.id.get_ref();
            if !valid_source_id(id) {
                bail!(
                    "{}: media id {id:?} must be 1 to 64 of A-Z a-z 0-9 . _ - and not start with a dot",
                    at(m.id.span())
                );
            }
            if media.iter().any(|x| &x.id == id) {
                bail!("{}: media id {id:?} is used twice", at(m.id.span()));
            }
            let path = if Path::new(&m.path).is_absolute() {
                PathBuf::from(&m.path)
            } else {
                base.join(&m.path)
            };
            media.push(Medium {
                id: id.clone(),
                path,
            });
        }
        let s = &raw.store;
        let retain_local = match &s.retain_local {
            None => None,
            Some(_) => Some(duration(
                &text,
                file,
                "retain_local",
                &s.retain_local,
                Duration::ZERO,
            )?),
        };
        let seal_on_tamper = match s
            .on_tamper
            .as_ref()
            .map(|v| (v.get_ref().as_str(), v.span()))
        {
            None | Some(("seal", _)) => true,
            Some(("record", _)) => false,
            Some((other, span)) => bail!(
                "{}: store.on_tamper must be \"seal\" or \"record\", not {other:?}",
                at(span)
            ),
        };
        let min_copies = match &s.min_copies {
            None => 1,
            Some(v) if *v.get_ref() >= 1 => *v.get_ref(),
            Some(v) => bail!("{}: store.min_copies must be at least 1", at(v.span())),
        };
        if retain_local.is_some() && (media.len() as u32) < min_copies {
            bail!(
                "{}: store.retain_local needs at least min_copies = {min_copies} [[media]] configured, or nothing could ever be pruned",
                file.display()
            );
        }
        let segment_max_bytes = match &s.segment_max_bytes {
            None => 64 << 20,
            Some(v) => {
                let b: bytesize::ByteSize = v.get_ref().parse().map_err(|e| {
                    anyhow::anyhow!(
                        "{}: store.segment_max_bytes: {:?} is not a size like \"64MiB\": {e}",
                        at(v.span()),
                        v.get_ref()
                    )
                })?;
                if b.as_u64() < 4096 {
                    bail!(
                        "{}: store.segment_max_bytes must be at least 4KiB",
                        at(v.span())
                    );
                }
                b.as_u64()
            }
        };
        let compression_level = match &s.compression_level {
            None => 3,
            Some(v) if (1..=19).contains(v.get_ref()) => *v.get_ref(),
            Some(v) => bail!("{}: store.compression_level must be 1 to 19", at(v.span())),
        };
        let mut sources: Vec<Source> = Vec::new();
        for src in &raw.source {
            let id = src.id.get_ref();
            if !valid_source_id(id) {
                bail!(
                    "{}: source id {:?} must be 1 to 64 of A-Z a-z 0-9 . _ - and not start with a dot",
                    at(src.id.span()),
                    id
                );
            }
            if id.starts_with("logkeep.") {
                bail!(
                    "{}: source id {:?}: the prefix `logkeep.` is reserved for logkeep's own records",
                    at(src.id.span()),
                    id
                );
            }
            if sources.iter().any(|x| &x.id == id) {
                bail!("{}: source id {:?} is used twice", at(src.id.span()), id);
            }
            if let Some(l) = &src.listen {
                bail!(
                    "{}: source {id:?}: `listen` (network syslog) is not supported by this version of logkeep",
                    at(l.span())
                );
            }
            let Some(paths) = &src.paths else {
                bail!("{}: source {id:?} needs `paths`", at(src.id.span()));
            };
            if paths.get_ref().is_empty() {
                bail!("{}: source {id:?}: `paths` is empty", at(paths.span()));
            }
            let mut resolved = Vec::new();
            for p in paths.get_ref() {
                let raw_path = p.get_ref();
                let abs = if Path::new(raw_path).is_absolute() {
                    PathBuf::from(raw_path)
                } else {
                    base.join(raw_path)
                };
                let abs = abs
                    .to_str()
                    .ok_or_else(|| anyhow::anyhow!("{}: path is not UTF-8", at(p.span())))?
                    .to_owned();
                if let Err(e) = glob::Pattern::new(&abs) {
                    bail!(
                        "{}: source {id:?}: bad pattern {raw_path:?}: {e}",
                        at(p.span())
                    );
                }
                resolved.push(abs);
            }
            sources.push(Source {
                id: id.clone(),
                paths: resolved,
            });
        }
        if sources.is_empty() {
            bail!(
                "{}: no [[source]] configured: nothing to capture",
                file.display()
            );
        }
        let resolve = |p: &str| {
            if Path::new(p).is_absolute() {
                PathBuf::from(p)
            } else {
                base.join(p)
            }
        };
        let store = resolve(&s.path);
        let signing_key = raw
            .signing
            .as_ref()
            .map_or_else(|| PathBuf::from(DEFAULT_KEY), |k| resolve(&k.key));
        Ok(Config {
            file: std::path::absolute(file).unwrap_or_else(|_| file.to_owned()),
            sha256: logkeep_format::Sha256::of(&bytes),
            store,
            seal_interval: duration(
                &text,
                file,
                "seal_interval",
                &s.seal_interval,
                Duration::from_secs(10),
            )?,
            segment_max_bytes,
            heartbeat_interval: duration(
                &text,
                file,
                "heartbeat_interval",
                &s.heartbeat_interval,
                Duration::from_secs(900),
            )?,
            scan_interval: duration(
                &text,
                file,
                "scan_interval",
                &s.scan_interval,
                Duration::from_secs(1),
            )?,
            compression_level,
            sources,
            signing_key,
            media,
            retain_local,
            min_copies,
            seal_on_tamper,
            inventory: raw.inventory,
            bytes,
        })
    }
}
