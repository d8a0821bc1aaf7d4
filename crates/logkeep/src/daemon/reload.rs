//! SIGHUP: read the configuration file again and run on with it, without a restart.
//!
//! What capture does is reloaded: the file sources (added, removed, their patterns changed),
//! the seal, scan and heartbeat intervals, the segment size, the tamper rules and the
//! inventory. Everything read under the old sources is sealed first; then the chain records
//! the new `config` with its `source_added` and `source_removed` records, and the files no
//! longer watched are closed (`unwatched`). What the running daemon holds open — the store, the
//! control socket and its group, the signing key, the media and their retention, the syslog
//! listeners, the compression level — is kept, with a log line naming each change as needing
//! a restart. A configuration that does not load is rejected with its error logged, and the
//! daemon runs on with the previous one.

use super::engine::Engine;
use super::notify;
use super::startup::{config_records, source_decls};
use super::systemd::Notifier;
use crate::config::{Config, Source};
use logkeep_capture::SourceSpec;
use logkeep_format::shown;
use std::borrow::Cow;
use std::io;

/// `new` with every setting the running daemon cannot change taken from `old`, and the names
/// of the settings so kept.
pub(super) fn merge(old: &Config, mut new: Config) -> (Config, Vec<String>) {
    let mut kept = Vec::new();
    let mut keep = |what: &str, differs: bool| {
        if differs {
            kept.push(what.to_owned());
        }
        differs
    };
    if keep("[store] path", old.store != new.store) {
        new.store.clone_from(&old.store);
    }
    if keep(
        "[store] compression_level",
        old.compression_level != new.compression_level,
    ) {
        new.compression_level = old.compression_level;
    }
    if keep("[control] socket", old.control_socket != new.control_socket) {
        new.control_socket.clone_from(&old.control_socket);
    }
    if keep("[control] group", old.control_group != new.control_group) {
        new.control_group.clone_from(&old.control_group);
    }
    if keep("[signing] key", old.signing_key != new.signing_key) {
        new.signing_key.clone_from(&old.signing_key);
    }
    let media = |c: &Config| {
        c.media
            .iter()
            .map(|m| (m.id.clone(), m.path.clone()))
            .collect::<Vec<_>>()
    };
    if keep(
        "[[media]] and their retention",
        media(old) != media(&new)
            || old.retain_local != new.retain_local
            || old.min_copies != new.min_copies,
    ) {
        new.media.clone_from(&old.media);
        new.retain_local = old.retain_local;
        new.min_copies = old.min_copies;
    }
    let remotes = |c: &Config| format!("{:?}", c.remotes);
    if keep("[[remote]]", remotes(old) != remotes(&new)) {
        new.remotes.clone_from(&old.remotes);
    }
    // Syslog listeners hold their sockets: a `listen` source is kept as it runs, added or
    // removed only by a restart.
    let mut sources: Vec<Source> = Vec::new();
    for s in &new.sources {
        let before = old.sources.iter().find(|o| o.id == s.id);
        match (before, &s.listen) {
            (Some(o), _) if o.listen.is_some() || s.listen.is_some() => {
                if o.listen != s.listen || o.paths != s.paths {
                    kept.push(format!("source {} (its listener)", shown::text(&s.id)));
                }
                sources.push(o.clone());
            }
            (None, Some(_)) => {
                kept.push(format!("new source {} (a listener)", shown::text(&s.id)));
            }
            _ => sources.push(s.clone()),
        }
    }
    for o in &old.sources {
        if o.listen.is_some() && !new.sources.iter().any(|s| s.id == o.id) {
            kept.push(format!(
                "removed source {} (a listener)",
                shown::text(&o.id)
            ));
            sources.push(o.clone());
        }
    }
    new.sources = sources;
    (new, kept)
}

impl Engine<'_> {
    /// Reload the configuration file (SIGHUP), telling systemd while it lasts.
    pub(super) fn reload(&mut self, systemd: &mut Notifier) {
        systemd.reloading();
        let file = self.config.file.clone();
        tracing::info!(config = %shown::path(&file), "SIGHUP: reloading the configuration");
        match Config::load(&file) {
            Err(e) => tracing::error!(
                config = %shown::path(&file),
                "the configuration is rejected, running on with the previous one: {e:#}"
            ),
            Ok(new) => {
                if let Err(e) = self.apply(new) {
                    tracing::error!(
                        "cannot write the store, the configuration is not reloaded (send SIGHUP again): {e}"
                    );
                }
            }
        }
        systemd.reloaded();
    }

    /// Run on with `new`: seal what was read, record the configuration, change the sources.
    fn apply(&mut self, new: Config) -> io::Result<()> {
        let (new, kept) = merge(&self.config, new);
        for what in &kept {
            tracing::warn!(
                "{what} changed in the configuration: that needs a restart; the running value is kept"
            );
        }
        let before = source_decls(&self.config);
        let after = source_decls(&new);
        let sources_changed = before != after;
        if sources_changed || new.sha256 != self.config.sha256 {
            // Everything read under the old sources is sealed before the chain says they
            // changed.
            self.step(true)?;
            for e in config_records(&new, &before) {
                self.pipe.record(e)?;
            }
        }
        if sources_changed {
            let specs: Vec<SourceSpec> = new
                .sources
                .iter()
                .filter(|s| s.journal.is_none() && !s.rewritten)
                .map(|s| SourceSpec {
                    id: s.id.clone(),
                    patterns: s.paths.clone(),
                })
                .collect();
            self.tracker.reconfigure(specs.clone(), &mut self.pipe)?;
            self.journal
                .reconfigure(super::startup::journal_specs(&new));
            self.versions
                .reconfigure(super::startup::version_specs(&new));
            self.watcher = notify::watch(&specs, self.wake.clone());
        }
        self.pipe.retune(new.segment_max_bytes, new.seal_on_tamper);
        let added: Vec<&str> = after
            .iter()
            .filter(|d| !before.iter().any(|b| b.id == d.id))
            .map(|d| d.id.as_str())
            .collect();
        let removed: Vec<&str> = before
            .iter()
            .filter(|b| !after.iter().any(|d| d.id == b.id))
            .map(|b| b.id.as_str())
            .collect();
        tracing::info!(
            sources = after.len(),
            added = %shown::text(&added.join(", ")),
            removed = %shown::text(&removed.join(", ")),
            "configuration reloaded"
        );
        self.config = Cow::Owned(new);
        // The new sources are read now, not at the next tick.
        self.step(false)
    }
}
