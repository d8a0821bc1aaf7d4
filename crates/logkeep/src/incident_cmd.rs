//! `logkeep incident`: the sheet for the day of an incident, from the configuration: whom to
//! call (`[incident]`), the exact commands for this host (snapshot, export from a medium,
//! eject), what to hand over and what not to do. It reads the configuration only, so it works
//! when the daemon does not (`docs/RUNBOOK.md` walks through the same steps).

use crate::config::Config;
use anyhow::Result;
use logkeep_format::shown;
use std::path::Path;

/// `logkeep incident`.
pub fn run(config: &Path) -> Result<u8> {
    let c = Config::load(config)?;
    let inc = &c.incident;
    let cfg = shown::path(&c.file).to_string();
    let unset = "NOT SET (add it to [incident] now)";
    let text = |o: &Option<String>| {
        o.as_deref()
            .map_or_else(|| unset.to_owned(), |s| shown::text(s).to_string())
    };
    let mut l: Vec<String> = vec![
        "INCIDENT SHEET — keep the host running; do not power it off before step 1.".into(),
        String::new(),
        "Whom to call".into(),
        format!("  police (cyber-crime desk):  {}", text(&inc.police)),
    ];
    if inc.responders.is_empty() {
        l.push(format!("  internal responders:        {unset}"));
    }
    for r in &inc.responders {
        l.push(format!("  internal responder:         {}", shown::text(r)));
    }
    l.push(format!(
        "  holds the fingerprint:      {}",
        text(&inc.fingerprint_holder)
    ));
    l.push(format!(
        "  fingerprint on record:      {}",
        text(&inc.fingerprint)
    ));
    let medium = c.media.first();
    let (mid, mpath) = medium.map_or_else(
        || ("MEDIUM-ID".to_owned(), "/media/MEDIUM".to_owned()),
        |m| (m.id.clone(), shown::path(&m.path).to_string()),
    );
    l.extend([
        String::new(),
        "The commands, in this order (as root on this host)".into(),
        format!("  1. logkeep snapshot --config {cfg} --reason \"WHAT WAS SEEN, WHEN\""),
        "     seals everything read and records users, network and processes; write down the".into(),
        "     expect-head line it prints".into(),
        format!("  2. logkeep status --config {cfg}"),
        "     every medium `present` with `behind 0`: the copy holds the snapshot".into(),
        format!(
            "  3. logkeep export --config {cfg} --store {mpath} --out /root/CASE.tar --case CASE --examiner \"NAME\""
        ),
        format!(
            "     the bundle comes from medium {}, not from this host's store{}",
            shown::text(&mid),
            if c.media.len() > 1 {
                format!(
                    " (or --store the mount point of another: {})",
                    c.media
                        .iter()
                        .skip(1)
                        .map(|m| format!("{} at {}", shown::text(&m.id), shown::path(&m.path)))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            } else {
                String::new()
            }
        ),
        format!("  4. logkeep media eject {} --config {cfg}", shown::text(&mid)),
        "     then unplug it and keep it for the police".into(),
        "  5. logkeep verify /root/CASE.tar --fingerprint FINGERPRINT".into(),
        "     with the fingerprint read out by the person who holds it, not taken from this host".into(),
    ]);
    l.extend([
        String::new(),
        "Hand over".into(),
        "  - the bundle (CASE.tar) and its custody log (CASE.tar.custody.jsonl)".into(),
        "  - the fingerprint, separately (by phone or on paper, from the person who holds it)".into(),
        format!("  - this sheet (logkeep incident --config {cfg} > incident.txt) and the expect-head of step 1"),
        "  - the ejected media, unplugged".into(),
        String::new(),
        "Do not".into(),
        "  - power the host off or reboot it before the snapshot: the volatile context is lost".into(),
        "  - plug media that were away (rotated out) into the compromised host: verify them on a clean machine".into(),
        "  - delete, rotate or edit logs by hand, or reinstall the host, before the export".into(),
    ]);
    crate::output::print_lines(&l)?;
    Ok(0)
}
