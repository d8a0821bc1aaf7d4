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
    /// Remotes: S3 buckets with Object Lock that receive copies nobody on the host can delete.
    #[serde(default)]
    remote: Vec<RawRemote>,
    /// The key that signs evidence bundles.
    #[serde(default)]
    signing: Option<RawSigning>,
    /// What the police ask for about the network: written into every evidence bundle.
    #[serde(default)]
    inventory: Inventory,
    /// The incident drill (`logkeep drill`).
    #[serde(default)]
    drill: Option<RawDrill>,
    /// Whom to call on the day of an incident, printed by `logkeep incident`.
    #[serde(default)]
    incident: Incident,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDrill {
    /// A medium not seen (present, or recorded in the chain) for longer than this fails the
    /// drill ("8d" by default): on the day, its copy would be that old.
    #[serde(default)]
    media_max_age: Option<Spanned<String>>,
}

/// The contacts and facts an organisation prepares for the day of an incident
/// (`[incident]`): printed by `logkeep incident`, checked by `logkeep drill`.
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Incident {
    /// The police's cyber-crime desk to call (e.g. the prefectural police's cyber-crime
    /// consultation desk, with its telephone number).
    #[serde(default)]
    pub police: Option<String>,
    /// The internal responders, each a name and how to reach them.
    #[serde(default)]
    pub responders: Vec<String>,
    /// Who keeps the written-down fingerprint of the signing key, and where.
    #[serde(default)]
    pub fingerprint_holder: Option<String>,
    /// The signing key's fingerprint as it was written down when `logkeep keygen` printed it;
    /// the drill checks its bundle against this copy, not against the key on the host.
    #[serde(default)]
    pub fingerprint: Option<String>,
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
struct RawRemote {
    /// Unique id, named in `remote` records and by `logkeep remote`.
    id: Spanned<String>,
    /// `https://host[:port]` (or `http://` on a trusted network).
    endpoint: Spanned<String>,
    /// The bucket, created by the administrator with Object Lock enabled.
    bucket: Spanned<String>,
    /// Key prefix, one per host (e.g. `"vpn-gw-1/"`); empty or ending in `/`.
    #[serde(default)]
    prefix: Option<Spanned<String>>,
    /// Region, for signing (default `us-east-1`).
    #[serde(default)]
    region: Option<String>,
    /// TOML file with `access_key_id` and `secret_access_key`, mode 0600. Absent: the standard
    /// AWS environment variables.
    #[serde(default)]
    credentials: Option<String>,
    /// Object Lock mode: `"compliance"` (default) or `"governance"`.
    #[serde(default)]
    mode: Option<Spanned<String>>,
    /// How long every object is retained from its upload, e.g. `"400d"`.
    retention: Spanned<String>,
    /// Bound on connecting and on every wait for an answer (default `"30s"`).
    #[serde(default)]
    timeout: Option<Spanned<String>>,
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
    /// Chain records per pack file in a store this daemon creates: a power of two from 2 to
    /// 65536 (default 4096; docs/FORMAT.md §2). An existing store keeps the value it was
    /// created with.
    #[serde(default)]
    pack_records: Option<Spanned<u64>>,
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
    /// `true`: the files are rewritten in place (status files, lastlog): each distinct content
    /// is captured whole as a version, and a rewrite is not tampering.
    #[serde(default)]
    rewritten: Option<Spanned<bool>>,
    /// `true`: the source captures the systemd journal (not files, not a listener).
    #[serde(default)]
    journal: Option<Spanned<bool>>,
    /// A journal source: a directory of journal files instead of the system journal.
    #[serde(default)]
    journal_directory: Option<Spanned<String>>,
    /// A journal source: journalctl matches (`_SYSTEMD_UNIT=ssh.service`, `+`).
    #[serde(default)]
    journal_match: Option<Spanned<Vec<Spanned<String>>>>,
    /// `udp://`: the socket's receive buffer ("8MiB").
    #[serde(default)]
    receive_buffer: Option<Spanned<String>>,
    /// The parser family the timeline tries first for this source's lines ("sshd", ...).
    #[serde(default)]
    preset: Option<Spanned<String>>,
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
    /// Records per pack in a store created by the daemon.
    pub pack_records: u64,
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
    /// Remotes: S3 buckets with Object Lock.
    pub remotes: Vec<logkeep_media::remote::RemoteSpec>,
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
    /// `[drill] media_max_age`: the longest a medium may go unseen before a drill fails.
    pub drill_media_max_age: Duration,
    /// `[incident]`: the contacts and the written-down fingerprint.
    pub incident: Incident,
}

/// Default of `[drill] media_max_age`: a weekly rotation, with a day's grace.
pub const DEFAULT_MEDIA_MAX_AGE: Duration = Duration::from_secs(8 * 24 * 3600);

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
    /// A journal source (`journal = true`): what it reads; `paths` is empty.
    pub journal: Option<logkeep_journal::JournalSpec>,
    /// `rewritten = true`: the files of `paths` are captured as versions.
    pub rewritten: bool,
    /// `preset = "..."`: the parser family the timeline tries first (recorded in `config`).
    pub preset: Option<String>,
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

/// The `[[remote]]` sections, validated.
fn remotes(
    raw: &[RawRemote],
    text: &str,
    file: &Path,
    base: &Path,
    media: &[Medium],
) -> Result<Vec<logkeep_media::remote::RemoteSpec>> {
    use logkeep_remote::LockMode;
    let at =
        |span: std::ops::Range<usize>| format!("{}:{}", file.display(), line_of(text, span.start));
    let mut out: Vec<logkeep_media::remote::RemoteSpec> = Vec::new();
    for r in raw {
        let id = r.id.get_ref();
        if !valid_source_id(id) {
            bail!(
                "{}: remote id {id:?} must be 1 to 64 of A-Z a-z 0-9 . _ - and not start with a dot",
                at(r.id.span())
            );
        }
        if out.iter().any(|x| &x.id == id) || media.iter().any(|m| &m.id == id) {
            bail!(
                "{}: remote id {id:?} is used twice (ids of media and remotes are one namespace)",
                at(r.id.span())
            );
        }
        let endpoint = r.endpoint.get_ref().trim_end_matches('/').to_owned();
        let rest = endpoint
            .strip_prefix("https://")
            .or_else(|| endpoint.strip_prefix("http://"));
        if rest.is_none_or(|h| h.is_empty() || h.contains(['/', '?', '#', '@'])) {
            bail!(
                "{}: remote.endpoint {:?} must be http(s)://HOST[:PORT], without a path or credentials",
                at(r.endpoint.span()),
                r.endpoint.get_ref()
            );
        }
        let bucket = r.bucket.get_ref().clone();
        if bucket.len() < 3
            || !bucket
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-.".contains(&b))
        {
            bail!(
                "{}: remote.bucket {bucket:?} must be 3 or more of a-z 0-9 - .",
                at(r.bucket.span())
            );
        }
        let prefix = r
            .prefix
            .as_ref()
            .map(|p| p.get_ref().clone())
            .unwrap_or_default();
        if !prefix.is_empty() && (!prefix.ends_with('/') || !logkeep_remote::valid_key(&prefix)) {
            bail!(
                "{}: remote.prefix {prefix:?} must end in / and hold only A-Z a-z 0-9 - . _ /",
                at(r.prefix.as_ref().map(|p| p.span()).unwrap_or_default())
            );
        }
        let mode = match r.mode.as_ref().map(|m| (m.get_ref().as_str(), m.span())) {
            None | Some(("compliance", _)) => LockMode::Compliance,
            Some(("governance", _)) => LockMode::Governance,
            Some((other, span)) => bail!(
                "{}: remote.mode must be \"compliance\" or \"governance\", not {other:?}",
                at(span)
            ),
        };
        let span_duration = |v: &Spanned<String>, key: &str| -> Result<Duration> {
            let d = humantime::parse_duration(v.get_ref()).map_err(|e| {
                anyhow::anyhow!(
                    "{}: remote.{key}: {:?} is not a duration like \"400d\": {e}",
                    at(v.span()),
                    v.get_ref()
                )
            })?;
            if d.is_zero() {
                bail!("{}: remote.{key} must be more than zero", at(v.span()));
            }
            Ok(d)
        };
        let retention = span_duration(&r.retention, "retention")?;
        let timeout = match &r.timeout {
            Some(t) => span_duration(t, "timeout")?,
            None => Duration::from_secs(30),
        };
        let credentials = r.credentials.as_ref().map(|c| {
            if Path::new(c).is_absolute() {
                normalize(Path::new(c))
            } else {
                normalize(&base.join(c))
            }
        });
        out.push(logkeep_media::remote::RemoteSpec {
            id: id.clone(),
            endpoint,
            bucket,
            prefix,
            region: r.region.clone().unwrap_or_else(|| "us-east-1".into()),
            credentials,
            mode,
            retention,
            timeout,
        });
    }
    Ok(out)
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
        let remotes = remotes(&raw.remote, &text, file, &base, &media)?;
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
        if retain_local.is_some() && ((media.len() + remotes.len()) as u32) < min_copies {
            bail!(
                "{}: store.retain_local needs at least min_copies = {min_copies} [[media]] and [[remote]] configured, or nothing could ever be pruned",
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
        let pack_records = match &s.pack_records {
            None => logkeep_format::layout::PACK_RECORDS,
            Some(v)
                if v.get_ref().is_power_of_two()
                    && (2..=logkeep_format::layout::SHARD_RECORDS).contains(v.get_ref()) =>
            {
                *v.get_ref()
            }
            Some(v) => bail!(
                "{}: store.pack_records must be a power of two from 2 to 65536",
                at(v.span())
            ),
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
            if let Some(r) = &src.rewritten
                && *r.get_ref()
                && (src.listen.is_some() || src.journal.as_ref().is_some_and(|j| *j.get_ref()))
            {
                bail!(
                    "{}: source {id:?}: `rewritten` applies only to a source with `paths`",
                    at(r.span())
                );
            }
            let preset = match &src.preset {
                Some(p) if !logkeep_timeline::parse::PRESETS.contains(&p.get_ref().as_str()) => {
                    bail!(
                        "{}: source {id:?}: unknown preset {:?} (one of: {})",
                        at(p.span()),
                        p.get_ref(),
                        logkeep_timeline::parse::PRESETS.join(", ")
                    );
                }
                p => p.as_ref().map(|p| p.get_ref().clone()),
            };
            if let Some(spec) = journal_source(src, &at, &base)? {
                sources.push(Source {
                    id: id.clone(),
                    paths: Vec::new(),
                    listen: None,
                    journal: Some(spec),
                    rewritten: false,
                    preset: preset.clone(),
                });
                continue;
            }
            if let Some(l) = &src.listen {
                // A listener writes a write-ahead log in the store, captured as files.
                let (pattern, listener) = listen_source(src, l, &at, &base, &s.path)?;
                sources.push(Source {
                    id: id.clone(),
                    paths: vec![pattern],
                    listen: Some(listener),
                    journal: None,
                    rewritten: false,
                    preset: preset.clone(),
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
                journal: None,
                rewritten: src.rewritten.as_ref().is_some_and(|r| *r.get_ref()),
                preset,
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
        let drill_media_max_age = match raw.drill.as_ref().and_then(|d| d.media_max_age.as_ref()) {
            None => DEFAULT_MEDIA_MAX_AGE,
            Some(v) => match humantime::parse_duration(v.get_ref()) {
                Ok(d) if !d.is_zero() => d,
                Ok(_) => bail!(
                    "{}: drill.media_max_age must be more than zero",
                    at(v.span())
                ),
                Err(e) => bail!(
                    "{}: drill.media_max_age: {:?} is not a duration like \"8d\": {e}",
                    at(v.span()),
                    v.get_ref()
                ),
            },
        };
        if let Some(fp) = &raw.incident.fingerprint
            && logkeep_format::bundle::normalize_fingerprint(fp).is_none()
        {
            // The value is a plain string (it is printed and exported as such): its line is
            // where its text first appears.
            bail!(
                "{}: incident.fingerprint: {fp:?} is not a fingerprint (32 hex digits, dashes allowed, as `logkeep keygen` prints it)",
                at(text.find(fp.as_str()).map_or(0..0, |i| i..i))
            );
        }
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
            pack_records,
            sources,
            signing_key,
            signing_configured: raw.signing.is_some(),
            signing_epoch,
            media,
            remotes,
            retain_local,
            min_copies,
            seal_on_tamper,
            snapshot_on_tamper,
            inventory: raw.inventory,
            control_socket,
            control_group,
            bytes,
            drill_media_max_age,
            incident: raw.incident,
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

/// Check the journal keys of a source: `Some` for a journal source (`journal = true`), `None`
/// for any other, which must not use them.
fn journal_source(
    src: &RawSource,
    at: &dyn Fn(std::ops::Range<usize>) -> String,
    base: &Path,
) -> Result<Option<logkeep_journal::JournalSpec>> {
    let id = src.id.get_ref();
    let on = src.journal.as_ref().is_some_and(|j| *j.get_ref());
    if !on {
        let other = src
            .journal_directory
            .as_ref()
            .map(|d| ("journal_directory", d.span()))
            .or_else(|| {
                src.journal_match
                    .as_ref()
                    .map(|m| ("journal_match", m.span()))
            });
        if let Some((key, span)) = other {
            bail!(
                "{}: source {id:?}: `{key}` applies only to a source with `journal = true`",
                at(span)
            );
        }
        return Ok(None);
    }
    if let Some(l) = &src.listen {
        bail!(
            "{}: source {id:?} has both `journal = true` and `listen`: use two sources",
            at(l.span())
        );
    }
    if let Some(p) = &src.paths {
        bail!(
            "{}: source {id:?} has both `journal = true` and `paths`: a source either reads the journal or files; use two sources",
            at(p.span())
        );
    }
    let directory = match &src.journal_directory {
        None => None,
        Some(d) => {
            let p = Path::new(d.get_ref());
            let abs = if p.is_absolute() {
                normalize(p)
            } else {
                normalize(&base.join(p))
            };
            if abs.to_str().is_none() {
                bail!("{}: journal_directory is not UTF-8", at(d.span()));
            }
            Some(abs)
        }
    };
    let mut matches = Vec::new();
    for m in src.journal_match.iter().flat_map(|m| m.get_ref()) {
        let s = m.get_ref();
        let ok = s == "+"
            || s.split_once('=').is_some_and(|(name, _)| {
                !name.is_empty()
                    && name
                        .bytes()
                        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
            });
        if !ok {
            bail!(
                "{}: source {id:?}: journal_match {s:?} is not FIELD=value (FIELD of A-Z 0-9 _) or +",
                at(m.span())
            );
        }
        matches.push(s.clone());
    }
    Ok(Some(logkeep_journal::JournalSpec {
        id: id.clone(),
        directory,
        matches,
    }))
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
