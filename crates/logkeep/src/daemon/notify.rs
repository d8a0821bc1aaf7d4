//! What wakes the engine: the [`Wake`] messages every other thread sends it, and the
//! filesystem watches over the sources' directories that send [`Wake::Fs`].

use crate::control::Call;
use logkeep_capture::SourceSpec;
use logkeep_media::replicator::MediaEvent;
use notify::Watcher;
use std::path::{Path, PathBuf};
use std::sync::mpsc::Sender;

/// A message to the engine thread.
pub(super) enum Wake {
    /// Something changed under a watched directory: look now.
    Fs,
    /// SIGTERM or SIGINT (stop), or SIGHUP (reload the configuration) arrived.
    Signal(i32),
    /// Something happened to an offline medium that belongs in the chain.
    Media(MediaEvent),
    /// A request from the control socket (or an automatic snapshot).
    Control(Call),
}

/// Watch the directories the sources' patterns can match in; every change sends
/// [`Wake::Fs`]. `None` when the host offers no watches: capture then relies on the scan
/// interval alone. Dropping the watcher stops it.
pub(super) fn watch(
    specs: &[SourceSpec],
    wake: Sender<Wake>,
) -> Option<notify::RecommendedWatcher> {
    let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        // Any change, error or overflow only means "look now"; the scan finds the truth. Mere
        // accesses are not changes: a poll's own directory listing is one, and waking on it
        // would make the daemon poll itself in a loop.
        if matches!(&res, Ok(e) if matches!(e.kind, notify::EventKind::Access(_))) {
            return;
        }
        let _ = wake.send(Wake::Fs);
    })
    .ok()?;
    for (dir, mode) in watch_dirs(specs) {
        if let Err(e) = watcher.watch(&dir, mode) {
            tracing::debug!(dir = %dir.display(), "not watched, polling only: {e}");
        }
    }
    Some(watcher)
}

/// The directories to watch for the sources' patterns: the part before the first wildcard,
/// recursively when a wildcard is followed by more components.
fn watch_dirs(sources: &[SourceSpec]) -> Vec<(PathBuf, notify::RecursiveMode)> {
    let mut out = Vec::new();
    for s in sources {
        for p in &s.patterns {
            let path = Path::new(p);
            let mut base = PathBuf::new();
            let mut rest = 0;
            for c in path.components() {
                let t = c.as_os_str().to_string_lossy();
                if rest > 0 || t.contains(['*', '?', '[']) {
                    rest += 1;
                } else {
                    base.push(c);
                }
            }
            // `base` is the file itself when there is no wildcard: watch its directory.
            let (dir, mode) = match rest {
                0 => (
                    base.parent().map(|p| p.to_path_buf()).unwrap_or(base),
                    notify::RecursiveMode::NonRecursive,
                ),
                1 => (base, notify::RecursiveMode::NonRecursive),
                _ => (base, notify::RecursiveMode::Recursive),
            };
            if !out.iter().any(|(d, _)| d == &dir) {
                out.push((dir, mode));
            }
        }
    }
    out
}
