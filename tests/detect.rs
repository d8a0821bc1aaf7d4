//! `logkeep detect` on a prepared directory tree laid out like a host.

use crate::journal::{entries, journal_remote, require_journal_tools};
use crate::support::*;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

fn put(root: &Path, rel: &str, text: &str, mode: u32) {
    let p = root.join(rel);
    fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
    fs::write(&p, text).expect("write");
    fs::set_permissions(&p, fs::Permissions::from_mode(mode)).expect("chmod");
}

/// A tree with OpenVPN, xrdp, auditd, strongSwan (a package, logging to the journal), a journal
/// with sshd's entries and a syslog listener: `detect` proposes exactly those, says which files
/// the service user cannot read and why, and prints a configuration that parses.
#[test]
fn detect_finds_what_a_prepared_tree_contains() {
    require_journal_tools();
    let dir = tempfile::tempdir().expect("tmp");
    let root = dir.path();
    put(root, "lib/systemd/system/xrdp.service", "[Unit]\n", 0o644);
    put(
        root,
        "lib/systemd/system/openvpn-server@.service",
        "[Unit]\n",
        0o644,
    );
    put(root, "lib/systemd/system/auditd.service", "[Unit]\n", 0o644);
    put(
        root,
        "var/lib/dpkg/status",
        "Package: strongswan\nStatus: install ok installed\nVersion: 1\n\nPackage: squid\nStatus: deinstall ok config-files\n",
        0o644,
    );
    put(root, "var/log/openvpn/server.log", "vpn\n", 0o644);
    put(
        root,
        "var/log/openvpn/openvpn-status.log",
        "status\n",
        0o644,
    );
    put(root, "var/log/xrdp.log", "rdp\n", 0o640);
    put(root, "var/log/audit/audit.log", "type=LOGIN\n", 0o600);
    // The files' group, named as the prepared host names it: not one the service has.
    let gid = fs::metadata(root.join("var/log/xrdp.log"))
        .expect("stat")
        .gid();
    put(root, "etc/group", &format!("xrdpgrp:x:{gid}:\n"), 0o644);
    put(
        root,
        "proc/net/udp",
        "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 00000000:0202 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 1 2 0000000000000000 0\n",
        0o644,
    );
    fs::create_dir_all(root.join("var/log/journal/3d1219c7c4c5404aaa1f6d2a48adfda4"))
        .expect("journal dir");
    let mut rng = Rng::new(3);
    journal_remote(
        &root.join("var/log/journal/3d1219c7c4c5404aaa1f6d2a48adfda4/system.journal"),
        &entries(0, 5, &mut rng),
    );

    let run = logkeep(&["detect", "--root", root.to_str().expect("utf-8")]);
    assert_eq!(run.code, 0, "{run}");
    let text = run.stdout.clone();
    let config: toml::Table = text.parse().unwrap_or_else(|e| panic!("{e}\n{text}"));
    let ids: Vec<&str> = config["source"]
        .as_array()
        .expect("sources")
        .iter()
        .map(|s| s["id"].as_str().expect("id"))
        .collect();
    assert_eq!(
        ids,
        ["journal", "openvpn", "openvpn-status", "xrdp", "audit"],
        "{text}"
    );
    for want in [
        "units logging there: ssh.service, xrdp.service",
        // systemd-journal-remote makes its files root:root 0640.
        "some journal files are not readable by group systemd-journal or adm",
        "# strongswan: found package strongswan.",
        "# [[source]]\n# id = \"strongswan\"",
        "rewritten = true\npaths = [\"/var/log/openvpn/openvpn-status.log\"",
        "/var/log/openvpn/server.log: readable by the service user",
        "/var/log/xrdp.log: NOT readable by the service user: group xrdpgrp may read it",
        "/var/log/audit/audit.log: NOT readable by the service user: only its owner (mode 0600)",
        "SupplementaryGroups=adm systemd-journal xrdpgrp",
        "listens on udp/514",
    ] {
        assert!(text.contains(want), "detect lacks {want:?}:\n{text}");
    }
    assert!(!text.contains("squid"), "squid is not installed:\n{text}");
}
