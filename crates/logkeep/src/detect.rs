//! `logkeep detect`: look at a host (or a directory tree laid out like one, `--root`) and print
//! a commented configuration for the edge-host services it finds: OpenVPN, strongSwan,
//! WireGuard, xrdp, sshd, squid, nftables/iptables, auditd, the journal, login records and
//! syslog (files and receivers).
//!
//! The evidence it goes by: installed systemd units, installed Debian packages
//! (`var/lib/dpkg/status`), files under `var/log`, the journal's directory and the units that
//! logged to it (`journalctl --field _SYSTEMD_UNIT`), and listening syslog ports
//! (`proc/net/{udp,tcp}{,6}`). For every file it proposes, it says whether the service user
//! (`logkeep`, groups `adm` and `systemd-journal`) can read it, and what to change if not. The
//! output is a configuration `check-config` accepts once copied to `/etc/logkeep/logkeep.toml`.

use anyhow::Result;
use std::collections::{BTreeSet, HashMap};
use std::fmt::Write as _;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// The groups the shipped unit gives the daemon.
const SERVICE_GROUPS: [&str; 2] = ["adm", "systemd-journal"];

/// What was found on the host.
struct Host {
    root: PathBuf,
    units: BTreeSet<String>,
    packages: BTreeSet<String>,
    journal_units: BTreeSet<String>,
    journal_dirs: Vec<String>,
    syslog_ports: BTreeSet<(String, u16)>,
    groups: HashMap<u32, String>,
}

impl Host {
    fn look(root: &Path) -> Host {
        let mut units = BTreeSet::new();
        for d in [
            "lib/systemd/system",
            "usr/lib/systemd/system",
            "etc/systemd/system",
        ] {
            if let Ok(rd) = fs::read_dir(root.join(d)) {
                for e in rd.flatten() {
                    if let Some(n) = e.file_name().to_str() {
                        units.insert(n.to_owned());
                    }
                }
            }
        }
        let mut packages = BTreeSet::new();
        if let Ok(text) = fs::read_to_string(root.join("var/lib/dpkg/status")) {
            for para in text.split("\n\n") {
                let name = para.lines().find_map(|l| l.strip_prefix("Package: "));
                let installed = para
                    .lines()
                    .any(|l| l.starts_with("Status: ") && l.ends_with(" installed"));
                if let (Some(n), true) = (name, installed) {
                    packages.insert(n.trim().to_owned());
                }
            }
        }
        let journal_dirs: Vec<String> = ["var/log/journal", "run/log/journal"]
            .iter()
            .filter(|d| root.join(d).is_dir())
            .map(|d| format!("/{d}"))
            .collect();
        let mut journal_units = BTreeSet::new();
        for d in &journal_dirs {
            let dir = root.join(d.trim_start_matches('/'));
            if let Ok(out) = std::process::Command::new("journalctl")
                .arg("--directory")
                .arg(&dir)
                .args(["--field", "_SYSTEMD_UNIT", "--no-pager"])
                .stderr(std::process::Stdio::null())
                .output()
            {
                for l in String::from_utf8_lossy(&out.stdout).lines() {
                    journal_units.insert(l.trim().to_owned());
                }
            }
        }
        let mut syslog_ports = BTreeSet::new();
        for (file, proto, listen_state) in [
            ("proc/net/udp", "udp", None),
            ("proc/net/udp6", "udp", None),
            ("proc/net/tcp", "tcp", Some("0A")),
            ("proc/net/tcp6", "tcp", Some("0A")),
        ] {
            let Ok(text) = fs::read_to_string(root.join(file)) else {
                continue;
            };
            for l in text.lines().skip(1) {
                let f: Vec<&str> = l.split_whitespace().collect();
                let (Some(local), Some(state)) = (f.get(1), f.get(3)) else {
                    continue;
                };
                if listen_state.is_some_and(|s| s != *state) {
                    continue;
                }
                let port = local
                    .rsplit(':')
                    .next()
                    .and_then(|p| u16::from_str_radix(p, 16).ok());
                if let Some(p @ (514 | 601 | 6514)) = port {
                    syslog_ports.insert((proto.to_owned(), p));
                }
            }
        }
        let mut groups = HashMap::new();
        if let Ok(text) = fs::read_to_string(root.join("etc/group")) {
            for l in text.lines() {
                let f: Vec<&str> = l.split(':').collect();
                if let (Some(n), Some(g)) = (f.first(), f.get(2).and_then(|g| g.parse().ok())) {
                    groups.insert(g, (*n).to_owned());
                }
            }
        }
        Host {
            root: root.to_path_buf(),
            units,
            packages,
            journal_units,
            journal_dirs,
            syslog_ports,
            groups,
        }
    }

    fn unit(&self, names: &[&str]) -> Option<String> {
        names
            .iter()
            .find(|n| self.units.contains(**n) || self.journal_units.contains(**n))
            .map(|n| format!("unit {n}"))
    }

    fn package(&self, names: &[&str]) -> Option<String> {
        names
            .iter()
            .find(|n| self.packages.contains(**n))
            .map(|n| format!("package {n}"))
    }

    /// The existing files under the root for host paths `paths` (globs allowed).
    fn files(&self, paths: &[&str]) -> Vec<(String, PathBuf)> {
        let mut out = Vec::new();
        for p in paths {
            let pattern = self.root.join(p.trim_start_matches('/'));
            let Some(pattern) = pattern.to_str() else {
                continue;
            };
            for f in glob::glob(pattern).into_iter().flatten().flatten() {
                if let Ok(rel) = f.strip_prefix(&self.root) {
                    out.push((format!("/{}", rel.display()), f.clone()));
                }
            }
        }
        out
    }

    /// Whether the service user can read `file`, and if not, what to change.
    fn readable(&self, file: &Path) -> std::result::Result<(), String> {
        let Ok(md) = fs::metadata(file) else {
            return Err("cannot be examined".into());
        };
        let mode = md.mode();
        let group = self
            .groups
            .get(&md.gid())
            .cloned()
            .unwrap_or_else(|| md.gid().to_string());
        if mode & 0o004 != 0 || (mode & 0o040 != 0 && SERVICE_GROUPS.contains(&group.as_str())) {
            return Ok(());
        }
        if mode & 0o040 != 0 && group != "root" {
            return Err(format!(
                "group {group} may read it: add `SupplementaryGroups={group}` in a drop-in (`systemctl edit logkeep`)"
            ));
        }
        Err(format!(
            "only its owner (mode {:04o}) may read it: make it readable by group adm (the service's configuration or a `setfacl -m g:adm:r`), or run the daemon with more rights",
            mode & 0o7777
        ))
    }
}

/// One proposed source.
struct Proposal {
    id: &'static str,
    why: Vec<String>,
    body: String,
    files: Vec<(String, PathBuf)>,
    notes: Vec<String>,
    commented: bool,
}

/// Print the configuration for the host at `root`.
pub fn run(root: &Path) -> Result<u8> {
    let h = Host::look(root);
    let mut props: Vec<Proposal> = Vec::new();
    if !h.journal_dirs.is_empty() || h.units.contains("systemd-journald.service") {
        let interesting = [
            "ssh.service",
            "sshd.service",
            "xrdp.service",
            "xrdp-sesman.service",
            "strongswan.service",
            "strongswan-starter.service",
            "openvpn.service",
            "squid.service",
            "auditd.service",
        ];
        let seen: Vec<&str> = interesting
            .iter()
            .copied()
            .filter(|u| h.journal_units.contains(*u))
            .collect();
        let mut why = vec![format!("journal in {}", h.journal_dirs.join(", "))];
        if !seen.is_empty() {
            why.push(format!("units logging there: {}", seen.join(", ")));
        }
        let readable = h.journal_dirs.iter().all(|d| {
            h.files(&[&format!("{d}/*/*.journal"), &format!("{d}/*.journal")])
                .iter()
                .all(|(_, f)| h.readable(f).is_ok())
        });
        let notes = if readable {
            vec![
                "the daemon reads it through group systemd-journal (the shipped unit has it)"
                    .into(),
            ]
        } else {
            vec!["some journal files are not readable by group systemd-journal or adm".into()]
        };
        props.push(Proposal {
            id: "journal",
            why,
            body: "journal = true\n".into(),
            files: Vec::new(),
            notes,
            commented: false,
        });
    }
    let mut add = |id: &'static str,
                   why: Vec<Option<String>>,
                   paths: &[&str],
                   extra: &str,
                   notes: Vec<String>,
                   h: &Host| {
        let files = h.files(paths);
        let mut why: Vec<String> = why.into_iter().flatten().collect();
        if why.is_empty() && files.is_empty() {
            return;
        }
        if !files.is_empty() {
            why.push(format!("{} file(s) in /var/log", files.len()));
        }
        let list: Vec<String> = paths.iter().map(|p| format!("{p:?}")).collect();
        props.push(Proposal {
            id,
            why,
            body: format!("{extra}paths = [{}]\n", list.join(", ")),
            commented: files.is_empty(),
            files,
            notes,
        });
    };
    add(
        "openvpn",
        vec![
            h.unit(&[
                "openvpn.service",
                "openvpn-server@.service",
                "openvpn@.service",
            ]),
            h.package(&["openvpn"]),
        ],
        &["/var/log/openvpn/*.log", "/var/log/openvpn.log"],
        "",
        vec!["OpenVPN logs to the journal unless `log-append` names a file".into()],
        &h,
    );
    add(
        "openvpn-status",
        vec![],
        &[
            "/var/log/openvpn/openvpn-status.log",
            "/var/log/openvpn/status*.log",
            "/run/openvpn-server/status-*.log",
        ],
        "rewritten = true\n",
        vec!["status files are rewritten in place: captured as versions".into()],
        &h,
    );
    add(
        "strongswan",
        vec![
            h.unit(&[
                "strongswan.service",
                "strongswan-starter.service",
                "ipsec.service",
            ]),
            h.package(&["strongswan", "strongswan-charon", "charon-systemd"]),
        ],
        &["/var/log/charon.log"],
        "",
        vec!["without a charon filelog, strongSwan logs to the journal".into()],
        &h,
    );
    add(
        "wireguard",
        vec![
            h.unit(&["wg-quick@.service"]),
            h.package(&["wireguard", "wireguard-tools"]),
        ],
        &["/var/log/kern.log"],
        "",
        vec![
            "WireGuard logs only through the kernel (journal, kern.log), with dynamic debug enabled".into(),
        ],
        &h,
    );
    add(
        "xrdp",
        vec![
            h.unit(&["xrdp.service", "xrdp-sesman.service"]),
            h.package(&["xrdp"]),
        ],
        &["/var/log/xrdp.log", "/var/log/xrdp-sesman.log"],
        "",
        vec![],
        &h,
    );
    add(
        "auth",
        vec![
            h.unit(&["ssh.service", "sshd.service"]),
            h.package(&["openssh-server"]),
        ],
        &["/var/log/auth.log", "/var/log/secure"],
        "",
        vec!["without rsyslog, sshd, sudo and PAM log only to the journal".into()],
        &h,
    );
    add(
        "squid",
        vec![h.unit(&["squid.service"]), h.package(&["squid"])],
        &["/var/log/squid/access.log", "/var/log/squid/cache.log"],
        "",
        vec![],
        &h,
    );
    add(
        "firewall",
        vec![
            h.unit(&["nftables.service", "netfilter-persistent.service"]),
            h.package(&["nftables", "iptables"]),
        ],
        &["/var/log/ufw.log", "/var/log/kern.log"],
        "",
        vec![
            "nftables/iptables `log` rules write through the kernel: kern.log or the journal"
                .into(),
        ],
        &h,
    );
    add(
        "audit",
        vec![h.unit(&["auditd.service"]), h.package(&["auditd"])],
        &["/var/log/audit/audit.log"],
        "",
        vec!["auditd's own rotation (audit.log.1 ... audit.log.N) is followed".into()],
        &h,
    );
    add(
        "logins",
        vec![],
        &["/var/log/wtmp", "/var/log/btmp"],
        "",
        vec![],
        &h,
    );
    add(
        "lastlog",
        vec![],
        &["/var/log/lastlog"],
        "rewritten = true\n",
        vec!["lastlog is rewritten in place: captured as versions".into()],
        &h,
    );
    add(
        "syslog",
        vec![h.unit(&["rsyslog.service", "syslog-ng.service"])],
        &["/var/log/syslog", "/var/log/messages"],
        "",
        vec![],
        &h,
    );

    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Written by `logkeep detect` for the host at {}. Review it, then copy it to\n# /etc/logkeep/logkeep.toml and run `logkeep check-config`. The service user is logkeep with\n# groups {}.\n",
        h.root.display(),
        SERVICE_GROUPS.join(" and ")
    );
    out.push_str("[store]\npath = \"/var/lib/logkeep\"\nseal_interval = \"10s\"\n");
    let mut fixes = BTreeSet::new();
    for p in &props {
        let _ = writeln!(out, "\n# {}: found {}.", p.id, p.why.join("; "));
        for n in &p.notes {
            let _ = writeln!(out, "# {n}.");
        }
        for (name, f) in &p.files {
            match h.readable(f) {
                Ok(()) => {
                    let _ = writeln!(out, "#   {name}: readable by the service user");
                }
                Err(why) => {
                    let _ = writeln!(out, "#   {name}: NOT readable by the service user: {why}");
                    if let Some(g) = why
                        .split("SupplementaryGroups=")
                        .nth(1)
                        .and_then(|r| r.split('`').next())
                    {
                        fixes.insert(g.to_owned());
                    }
                }
            }
        }
        if p.commented {
            let _ = writeln!(
                out,
                "# (no file found now: uncomment once it logs to a file)"
            );
        }
        let prefix = if p.commented { "# " } else { "" };
        let _ = writeln!(out, "{prefix}[[source]]\n{prefix}id = \"{}\"", p.id);
        for l in p.body.lines() {
            let _ = writeln!(out, "{prefix}{l}");
        }
    }
    if !h.syslog_ports.is_empty() {
        let ports: Vec<String> = h
            .syslog_ports
            .iter()
            .map(|(p, n)| format!("{p}/{n}"))
            .collect();
        let _ = writeln!(
            out,
            "\n# syslog receiver: something listens on {} now (rsyslog?). Capture the files it writes\n# above, or let logkeep receive instead (stop the other listener first):",
            ports.join(", ")
        );
        let _ = writeln!(
            out,
            "# [[source]]\n# id = \"network-syslog\"\n# listen = \"udp://0.0.0.0:514\""
        );
    }
    if !fixes.is_empty() {
        let groups: Vec<String> = SERVICE_GROUPS
            .iter()
            .map(|s| (*s).to_owned())
            .chain(fixes)
            .collect();
        let _ = writeln!(
            out,
            "\n# To read every file above, give the unit these groups (`systemctl edit logkeep`):\n#   [Service]\n#   SupplementaryGroups={}",
            groups.join(" ")
        );
    }
    print!("{out}");
    Ok(0)
}
