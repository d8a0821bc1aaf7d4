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
    /// Path of the signing state directory made by `logkeep keygen`.
    key: String,
    /// How long an epoch key signs before the next one replaces it.
    #[serde(default)]
    epoch: Option<Spanned<String>>,
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
    /// `"seal"` (default) seals what was read at once; `"snapshot"` seals and takes an
    /// emergency snapshot of the host (at most one a minute); `"record"` only records it.
    #[serde(default)]
    on_tamper: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawControl {
    /// Path of the control socket (default `/run/logkeep/control.sock`).
    #[serde(default)]
    socket: Option<Spanned<String>>,
    /// Group whose members may use the socket besides root (default: the daemon's own group).
    #[serde(default)]
    group: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSource {
    /// Unique id: 1 to 64 of A-Z a-z 0-9 . _ - (not starting with a dot).
    id: Spanned<String>,
    /// Files or glob patterns (`*`, `?`, `[...]`).
    #[serde(default)]
    paths: Option<Spanned<Vec<Spanned<String>>>>,
    /// A network listener (`udp://HOST:PORT`, `tcp://HOST:PORT`, `tls://HOST:PORT`).
    #[serde(default)]
    listen: Option<Spanned<String>>,
    /// `tls://`: PEM certificate chain, leaf first.
    #[serde(default)]
    tls_cert: Option<Spanned<String>>,
    /// `tls://`: PEM private key of the certificate.
    #[serde(default)]
    tls_key: Option<Spanned<String>>,
    /// `tls://`: PEM CA certificates; when set, clients must present a certificate they signed.
    #[serde(default)]
    tls_client_ca: Option<Spanned<String>>,
    /// Longer messages are stored in marked pieces of this size ("256KiB").
    #[serde(default)]
    max_message_bytes: Option<Spanned<String>>,
    /// `tcp://`, `tls://`: open connections at most (256); more wait in the kernel's backlog.
    #[serde(default)]
    max_connections: Option<Spanned<u32>>,
    /// `tcp://`, `tls://`: close a connection silent this long ("1h"; "0s": never).
    #[serde(default)]
    idle_timeout: Option<Spanned<String>>,
    /// `tcp://`, `tls://`: "auto" (default: the first byte of a connection decides),
    /// "octet-counted" or "lf".
    #[serde(default)]
    framing: Option<Spanned<String>>,
    /// A write-ahead log file is finished at this size ("16MiB").
    #[serde(default)]
    wal_file_bytes: Option<Spanned<String>>,
    /// `udp://`: the socket's receive buffer ("8MiB").
    #[serde(default)]
    receive_buffer: Option<Spanned<String>>,
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
    /// The signing state's directory.
    pub signing_key: PathBuf,
    /// Whether `[signing]` names it (else it is the default path, and a daemon without a
    /// signing state there runs unsealed, saying so).
    pub signing_configured: bool,
    /// How long an epoch lasts (`[signing] epoch`, default one hour).
    pub signing_epoch: Duration,
    /// Offline media.
    pub media: Vec<Medium>,
    /// Local retention: prune segments older than this that enough media hold.
    pub retain_local: Option<Duration>,
    /// Media that must hold a segment before it is pruned.
    pub min_copies: u32,
    /// Seal at once when tampering is seen.
    pub seal_on_tamper: bool,
    /// Take an emergency snapshot when tampering is seen.
    pub snapshot_on_tamper: bool,
    /// The operator's inventory.
    pub inventory: Inventory,
    /// Path of the control socket.
    pub control_socket: PathBuf,
    /// The group allowed on the control socket besides root: its name and gid (`None`: the
    /// daemon's own group).
    pub control_group: Option<(String, u32)>,
    /// The file's bytes, as exported into bundles.
    pub bytes: Vec<u8>,
}

/// Default path of the control socket (systemd's `RuntimeDirectory=logkeep` makes its directory).
pub const DEFAULT_SOCKET: &str = "/run/logkeep/control.sock";

/// Default path of the signing state directory.
pub const DEFAULT_KEY: &str = "/var/lib/logkeep/signing";

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
    /// Absolute patterns (for a `listen` source, its write-ahead log files).
    pub paths: Vec<String>,
    /// The network listener whose write-ahead log `paths` captures.
    pub listen: Option<logkeep_syslog::ListenerConfig>,
}

/// `p` without `.` and `..` components, resolved lexically: configured paths become the names
/// the capture layer records, and a `..` must not survive into a segment's member names.
pub fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
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

        let (control_socket, control_group) = match &raw.control {
            None => (PathBuf::from(DEFAULT_SOCKET), None),
            Some(c) => {
                let socket = match &c.socket {
                    None => PathBuf::from(DEFAULT_SOCKET),
                    Some(p) if p.get_ref().is_empty() => {
                        bail!("{}: control.socket is empty", at(p.span()))
                    }
                    Some(p) if Path::new(p.get_ref()).is_absolute() => PathBuf::from(p.get_ref()),
                    Some(p) => base.join(p.get_ref()),
                };
                // sun_path holds 108 bytes including the terminating NUL.
                if socket.as_os_str().len() > 107 {
                    bail!(
                        "{}: control.socket {} is longer than the 107 bytes a Unix socket path may have",
                        c.socket
                            .as_ref()
                            .map_or_else(|| file.display().to_string(), |p| at(p.span())),
                        socket.display()
                    );
                }
                let group = match &c.group {
                    None => None,
                    Some(g) => {
                        let name = g.get_ref();
                        match nix::unistd::Group::from_name(name) {
                            Ok(Some(gr)) => Some((name.clone(), gr.gid.as_raw())),
                            Ok(None) => bail!(
                                "{}: control.group: no group {name:?} on this host (create it, or leave the key out to admit the daemon's own group)",
                                at(g.span())
                            ),
                            Err(e) => bail!(
                                "{}: control.group: cannot look up group {name:?}: {e}",
                                at(g.span())
                            ),
                        }
                    }
                };
                (socket, group)
            }
        };
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
                normalize(Path::new(&m.path))
            } else {
                normalize(&base.join(&m.path))
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
        let (seal_on_tamper, snapshot_on_tamper) = match s
            .on_tamper
            .as_ref()
            .map(|v| (v.get_ref().as_str(), v.span()))
        {
            None | Some(("seal", _)) => (true, false),
            Some(("snapshot", _)) => (true, true),
            Some(("record", _)) => (false, false),
            Some((other, span)) => bail!(
                "{}: store.on_tamper must be \"seal\", \"snapshot\" or \"record\", not {other:?}",
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
                // A listener writes a write-ahead log in the store, captured as files.
                let (pattern, listener) = listen_source(src, l, &at, &base, &s.path)?;
                sources.push(Source {
                    id: id.clone(),
                    paths: vec![pattern],
                    listen: Some(listener),
                });
                continue;
            }
            if let Some((key, span)) = listener_key(src) {
                bail!(
                    "{}: source {id:?}: `{key}` applies only to a source with `listen`",
                    at(span)
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
                    normalize(Path::new(raw_path))
                } else {
                    normalize(&base.join(raw_path))
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
                listen: None,
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
                normalize(Path::new(p))
            } else {
                normalize(&base.join(p))
            }
        };
        let store = resolve(&s.path);
        let signing_key = raw
            .signing
            .as_ref()
            .map_or_else(|| PathBuf::from(DEFAULT_KEY), |k| resolve(&k.key));
        let signing_epoch = match raw.signing.as_ref().and_then(|k| k.epoch.as_ref()) {
            None => Duration::from_secs(3600),
            Some(v) => match humantime::parse_duration(v.get_ref()) {
                Ok(d) if !d.is_zero() => d,
                Ok(_) => bail!(
                    "{}:{}: signing.epoch must be more than zero",
                    file.display(),
                    line_of(&text, v.span().start)
                ),
                Err(e) => bail!(
                    "{}:{}: signing.epoch: {:?} is not a duration like \"1h\": {e}",
                    file.display(),
                    line_of(&text, v.span().start),
                    v.get_ref()
                ),
            },
        };
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
            signing_configured: raw.signing.is_some(),
            signing_epoch,
            media,
            retain_local,
            min_copies,
            seal_on_tamper,
            snapshot_on_tamper,
            inventory: raw.inventory,
            control_socket,
            control_group,
            bytes,
        })
    }
}

/// The first listener-only key a file source has, with its span.
fn listener_key(src: &RawSource) -> Option<(&'static str, std::ops::Range<usize>)> {
    let strings = [
        ("tls_cert", &src.tls_cert),
        ("tls_key", &src.tls_key),
        ("tls_client_ca", &src.tls_client_ca),
        ("max_message_bytes", &src.max_message_bytes),
        ("idle_timeout", &src.idle_timeout),
        ("framing", &src.framing),
        ("wal_file_bytes", &src.wal_file_bytes),
        ("receive_buffer", &src.receive_buffer),
    ];
    strings
        .into_iter()
        .find_map(|(k, v)| v.as_ref().map(|v| (k, v.span())))
        .or_else(|| {
            src.max_connections
                .as_ref()
                .map(|v| ("max_connections", v.span()))
        })
}

/// Check a `listen` source; returns the pattern of its write-ahead log and the listener.
fn listen_source(
    src: &RawSource,
    listen: &Spanned<String>,
    at: &dyn Fn(std::ops::Range<usize>) -> String,
    base: &Path,
    store: &str,
) -> Result<(String, logkeep_syslog::ListenerConfig)> {
    use logkeep_syslog::{Framing, ListenerConfig, TlsFiles, Transport};
    let id = src.id.get_ref();
    if let Some(p) = &src.paths {
        bail!(
            "{}: source {id:?} has both `listen` and `paths`: a source either listens or reads files; use two sources",
            at(p.span())
        );
    }
    let mut l = ListenerConfig::new(id, listen.get_ref())
        .map_err(|e| anyhow::anyhow!("{}: source {id:?}: listen: {e}", at(listen.span())))?;
    let resolve = |p: &str| {
        if Path::new(p).is_absolute() {
            normalize(Path::new(p))
        } else {
            normalize(&base.join(p))
        }
    };
    let stream_only = |key: &str, span: std::ops::Range<usize>| -> Result<()> {
        if l.transport == Transport::Udp {
            bail!(
                "{}: source {id:?}: `{key}` applies to tcp:// and tls:// listeners, not udp://",
                at(span)
            );
        }
        Ok(())
    };
    let tls_keys = [
        ("tls_cert", &src.tls_cert),
        ("tls_key", &src.tls_key),
        ("tls_client_ca", &src.tls_client_ca),
    ];
    if l.transport.uses_tls() {
        let (Some(cert), Some(key)) = (&src.tls_cert, &src.tls_key) else {
            bail!(
                "{}: source {id:?}: a tls:// or relps:// listener needs `tls_cert` and `tls_key` (PEM files)",
                at(listen.span())
            );
        };
        let files = TlsFiles {
            cert: resolve(cert.get_ref()),
            key: resolve(key.get_ref()),
            client_ca: src.tls_client_ca.as_ref().map(|c| resolve(c.get_ref())),
        };
        // Checked now, so that `check-config` finds a wrong file, not the daemon's start.
        logkeep_syslog::tls::server_config(&files)
            .map_err(|e| anyhow::anyhow!("{}: source {id:?}: {e}", at(cert.span())))?;
        l.tls = Some(files);
    } else if let Some((k, v)) = tls_keys
        .iter()
        .find_map(|(k, v)| v.as_ref().map(|v| (k, v)))
    {
        bail!(
            "{}: source {id:?}: `{k}` applies only to a tls:// listener (or relps://)",
            at(v.span())
        );
    }
    if let Some(v) = &src.max_message_bytes {
        let b: bytesize::ByteSize = v.get_ref().parse().map_err(|e| {
            anyhow::anyhow!(
                "{}: source {id:?}: max_message_bytes: {:?} is not a size like \"256KiB\": {e}",
                at(v.span()),
                v.get_ref()
            )
        })?;
        if !(1024..=64 << 20).contains(&b.as_u64()) {
            bail!(
                "{}: source {id:?}: max_message_bytes must be 1KiB to 64MiB",
                at(v.span())
            );
        }
        l.max_message_bytes = b.as_u64() as usize;
    }
    if let Some(v) = &src.wal_file_bytes {
        let b: bytesize::ByteSize = v.get_ref().parse().map_err(|e| {
            anyhow::anyhow!(
                "{}: source {id:?}: wal_file_bytes: {:?} is not a size like \"16MiB\": {e}",
                at(v.span()),
                v.get_ref()
            )
        })?;
        if b.as_u64() < 4096 {
            bail!(
                "{}: source {id:?}: wal_file_bytes must be at least 4KiB",
                at(v.span())
            );
        }
        l.wal_file_bytes = b.as_u64();
    }
    if let Some(v) = &src.receive_buffer {
        if l.transport != Transport::Udp {
            bail!(
                "{}: source {id:?}: `receive_buffer` applies to udp:// listeners only",
                at(v.span())
            );
        }
        let b: bytesize::ByteSize = v.get_ref().parse().map_err(|e| {
            anyhow::anyhow!(
                "{}: source {id:?}: receive_buffer: {:?} is not a size like \"8MiB\": {e}",
                at(v.span()),
                v.get_ref()
            )
        })?;
        if !(4096..=1 << 30).contains(&b.as_u64()) {
            bail!(
                "{}: source {id:?}: receive_buffer must be 4KiB to 1GiB",
                at(v.span())
            );
        }
        l.receive_buffer = Some(b.as_u64() as usize);
    }
    if let Some(v) = &src.max_connections {
        stream_only("max_connections", v.span())?;
        if *v.get_ref() == 0 {
            bail!(
                "{}: source {id:?}: max_connections must be at least 1",
                at(v.span())
            );
        }
        l.max_connections = *v.get_ref() as usize;
    }
    if let Some(v) = &src.idle_timeout {
        stream_only("idle_timeout", v.span())?;
        let d = humantime::parse_duration(v.get_ref()).map_err(|e| {
            anyhow::anyhow!(
                "{}: source {id:?}: idle_timeout: {:?} is not a duration like \"1h\": {e}",
                at(v.span()),
                v.get_ref()
            )
        })?;
        l.idle_timeout = (!d.is_zero()).then_some(d);
    }
    if let Some(v) = &src.framing {
        stream_only("framing", v.span())?;
        l.framing = match v.get_ref().as_str() {
            "auto" => Framing::Auto,
            "octet-counted" => Framing::OctetCounted,
            "lf" => Framing::Lf,
            other => bail!(
                "{}: source {id:?}: framing must be \"auto\", \"octet-counted\" or \"lf\", not {other:?}",
                at(v.span())
            ),
        };
    }
    let pattern = logkeep_syslog::wal_pattern(&resolve(store), id)
        .ok_or_else(|| anyhow::anyhow!("{}: store.path is not UTF-8", at(listen.span())))?;
    Ok((pattern, l))
}
