//! What the media tests share: a directory made into a medium, a medium ejected through the
//! daemon's configuration, and every generation of one file extracted from a store or a medium.

use std::fs;
use std::path::{Path, PathBuf};

use super::site::Site;
use super::store::{logkeep, walk};

/// `logkeep media init PATH --id ID --force`, which must succeed.
pub fn init(path: &Path, id: &str) {
    fs::create_dir_all(path).expect("medium dir");
    let run = logkeep(&[
        "media".as_ref(),
        "init".as_ref(),
        path.as_os_str(),
        "--id".as_ref(),
        id.as_ref(),
        "--force".as_ref(),
    ]);
    assert_eq!(run.code, 0, "{run}");
}

/// Extract `root` (a store or a medium) and return the concatenation of every generation of
/// the file named `name`, in generation order.
pub fn extracted(root: &Path, name: &str) -> Vec<u8> {
    let out = tempfile::tempdir().expect("tmp");
    let dest = out.path().join("x");
    let run = super::store::extract(root, &dest);
    assert_eq!(run.code, 0, "{run}");
    let mut files: Vec<PathBuf> = walk(&dest)
        .into_iter()
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&format!("{name}.gen")))
        })
        .collect();
    files.sort_by_key(|p| {
        p.extension()
            .and_then(|e| e.to_str())
            .and_then(|e| e.trim_start_matches("gen").parse::<u64>().ok())
    });
    files
        .iter()
        .flat_map(|p| fs::read(p).expect("read output"))
        .collect()
}

/// `logkeep media eject ID` through the site's daemon, which must say the medium is safe to
/// unplug.
pub fn eject(site: &Site, id: &str) {
    let run = logkeep(&[
        "media".as_ref(),
        "eject".as_ref(),
        id.as_ref(),
        "--config".as_ref(),
        site.config().as_os_str(),
    ]);
    assert_eq!(run.code, 0, "{run}");
    assert!(run.text().contains("safe to unplug"), "{run}");
}
