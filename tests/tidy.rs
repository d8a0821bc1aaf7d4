//! Repository checks: the documentation a newcomer reads first stays true to the tree.
//!
//! Every Rust file opens with a `//!` doc saying what it owns, every crate's `lib.rs` (or
//! `main.rs`) with an overview of several lines, and every file `docs/ARCHITECTURE.md` names
//! exists, so the map cannot drift from the code without a test failing.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repository root")
}

/// Every `.rs` file under `dir`, skipping build output.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        let name = e.file_name();
        if name == "target" || name.to_string_lossy().starts_with('.') {
            continue;
        }
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The workspace members, read from the root `Cargo.toml`.
fn members(root: &Path) -> Vec<String> {
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).expect("Cargo.toml");
    let line = manifest
        .lines()
        .find(|l| l.trim_start().starts_with("members"))
        .expect("Cargo.toml: a members line");
    line.split('"')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

/// How many `//!` lines a file opens with.
fn leading_doc_lines(text: &str) -> usize {
    text.lines().take_while(|l| l.starts_with("//!")).count()
}

#[test]
fn every_rust_file_opens_with_a_doc() {
    let root = root();
    let mut files = Vec::new();
    rust_files(&root.join("crates"), &mut files);
    rust_files(&root.join("tests"), &mut files);
    assert!(files.len() > 20, "found only {} Rust files", files.len());
    let missing: Vec<_> = files
        .iter()
        .filter(|f| leading_doc_lines(&std::fs::read_to_string(f).unwrap_or_default()) == 0)
        .map(|f| f.strip_prefix(&root).unwrap_or(f).display().to_string())
        .collect();
    assert!(
        missing.is_empty(),
        "these files do not open with a //! doc saying what they own: {missing:?}"
    );
}

#[test]
fn every_crate_opens_with_an_overview() {
    let root = root();
    let members = members(&root);
    assert!(members.len() >= 5, "members: {members:?}");
    for m in members {
        let src = root.join(&m).join("src");
        let entry = ["lib.rs", "main.rs"]
            .iter()
            .map(|f| src.join(f))
            .find(|p| p.exists())
            .unwrap_or_else(|| panic!("{m}: neither src/lib.rs nor src/main.rs"));
        let text = std::fs::read_to_string(&entry).expect("read crate root");
        let n = leading_doc_lines(&text);
        assert!(
            n >= 3,
            "{}: opens with {n} //! lines; a crate root opens with an overview of what the \
             crate owns (at least three lines)",
            entry.strip_prefix(&root).unwrap().display()
        );
    }
}

/// The files a markdown document names in backticks, each with the crate section it appears
/// under (`### \`crates/NAME\``), if any.
fn named_files(doc: &str) -> Vec<(Option<String>, String)> {
    let mut section = None;
    let mut out = Vec::new();
    for line in doc.lines() {
        if line.starts_with('#') {
            // A crate's section runs to the next heading of any level.
            section = line
                .strip_prefix("### ")
                .and_then(|h| h.split('`').nth(1))
                .filter(|s| s.starts_with("crates/"))
                .map(str::to_string);
            continue;
        }
        for (i, token) in line.split('`').enumerate() {
            // Odd pieces are inside backticks.
            if i % 2 == 0 {
                continue;
            }
            let looks_like_file = [".rs", ".md", ".toml", ".service"]
                .iter()
                .any(|ext| token.ends_with(ext));
            let placeholder = token.chars().any(|c| "<>*… $".contains(c))
                || token.starts_with("STORE/")
                || token.starts_with("OUT/")
                || token.starts_with('/');
            if looks_like_file && !placeholder {
                out.push((section.clone(), token.to_string()));
            }
        }
    }
    out
}

/// Whether a named file exists: relative to the root, else to its crate, else anywhere in
/// that crate's `src/` (outside a crate's section: anywhere in a crate).
fn resolves(root: &Path, section: Option<&str>, name: &str) -> bool {
    if root.join(name).exists() {
        return true;
    }
    let Some(krate) = section else {
        // Outside a crate's section, a bare file name must be a file of some crate.
        let mut files = Vec::new();
        rust_files(&root.join("crates"), &mut files);
        return !name.contains('/') && files.iter().any(|f| f.ends_with(name));
    };
    let dir = root.join(krate);
    if dir.join(name).exists() || dir.join("src").join(name).exists() {
        return true;
    }
    let mut files = Vec::new();
    rust_files(&dir.join("src"), &mut files);
    files.iter().any(|f| f.ends_with(name))
}

#[test]
fn architecture_names_only_files_that_exist() {
    let root = root();
    let doc = std::fs::read_to_string(root.join("docs/ARCHITECTURE.md")).expect("ARCHITECTURE.md");
    let named = named_files(&doc);
    assert!(
        named.len() > 20,
        "ARCHITECTURE.md names only {} files",
        named.len()
    );
    let missing: Vec<_> = named
        .iter()
        .filter(|(s, n)| !resolves(&root, s.as_deref(), n))
        .map(|(s, n)| format!("{n} (under {})", s.as_deref().unwrap_or("no crate")))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/ARCHITECTURE.md names files that do not exist: {missing:?}"
    );
}

#[test]
fn architecture_has_a_section_for_every_crate() {
    let root = root();
    let doc = std::fs::read_to_string(root.join("docs/ARCHITECTURE.md")).expect("ARCHITECTURE.md");
    for m in members(&root) {
        assert!(
            doc.contains(&format!("### `{m}`")),
            "docs/ARCHITECTURE.md has no section `### `{m}``"
        );
    }
}

#[test]
fn the_file_check_can_fail() {
    // The checker itself, on a document that names one file that exists and one that does not.
    let root = root();
    let doc = "### `crates/format` — x\n- `hash.rs` and `no_such_file.rs`\n";
    let named = named_files(doc);
    assert_eq!(named.len(), 2);
    assert!(resolves(&root, named[0].0.as_deref(), &named[0].1));
    assert!(!resolves(&root, named[1].0.as_deref(), &named[1].1));
}
