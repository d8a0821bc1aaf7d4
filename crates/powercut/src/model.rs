//! The durability model: the live tree every process sees, and the durable state that a power
//! cut leaves — nothing else.
//!
//! The live tree is held here (directories as name → inode maps, files as one backing file per
//! inode in the live directory), so renames, hard links and unlinks are exact and inode numbers
//! stay what the processes saw. Next to it the model keeps what POSIX `fsync` promised:
//!
//! - per file, its bytes, mode and modification time as of its last `fsync`/`fdatasync`
//!   (a file never synced is empty);
//! - per directory, its entries as of its last `fsync` (a directory never synced is empty).
//!
//! That is less than ext4 with `data=ordered` keeps (its journal commits every earlier
//! metadata change with any `fsync`), never more: a program that survives this model survives
//! any file system that keeps the promises of `fsync`. [`Model::power_on`] builds a new live tree
//! from the durable state alone, in a fresh backing directory, with the same inode numbers.

use std::collections::{BTreeMap, HashMap};
use std::ffi::{OsStr, OsString};
use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// The root directory's inode number, as FUSE requires.
pub const ROOT: u64 = 1;

/// A file or a directory of the live tree.
#[derive(Debug)]
pub struct Node {
    /// Permission bits.
    pub mode: u32,
    /// Names that link to it.
    pub nlink: u32,
    /// Open handles (a file with no name is deleted when the last one closes).
    pub open: u32,
    /// Set for directories: their entries.
    pub entries: Option<BTreeMap<OsString, u64>>,
    /// Directories' modification time (files keep theirs in the backing file).
    pub mtime: SystemTime,
}

impl Node {
    fn dir(mode: u32) -> Node {
        Node {
            mode,
            nlink: 1,
            open: 0,
            entries: Some(BTreeMap::new()),
            mtime: SystemTime::now(),
        }
    }

    fn file(mode: u32) -> Node {
        Node {
            mode,
            nlink: 1,
            open: 0,
            entries: None,
            mtime: SystemTime::now(),
        }
    }

    /// Whether it is a directory.
    pub fn is_dir(&self) -> bool {
        self.entries.is_some()
    }
}

/// A file as its last `fsync` left it.
#[derive(Debug, Clone)]
struct DurableFile {
    mode: u32,
    mtime: SystemTime,
}

/// A directory as its last `fsync` left it.
#[derive(Debug, Clone)]
struct DurableDir {
    mode: u32,
    entries: BTreeMap<OsString, u64>,
}

/// Counts of what a power cut threw away, for the log line.
#[derive(Debug, Default)]
pub struct Lost {
    /// Files whose live bytes differed from (or were never) their durable bytes.
    pub files_reverted: usize,
    /// Directories whose live entries differed from their durable entries.
    pub dirs_reverted: usize,
    /// Files that kept part of their unsynced tail (`torn`).
    pub torn: usize,
}

/// The live tree and its durable shadow.
pub struct Model {
    state: PathBuf,
    generation: u64,
    next_ino: u64,
    nodes: HashMap<u64, Node>,
    /// Every inode that was ever a directory (inode numbers are never reused).
    dir_inos: std::collections::HashSet<u64>,
    durable_files: HashMap<u64, DurableFile>,
    durable_dirs: HashMap<u64, DurableDir>,
}

fn live_dir(state: &Path, generation: u64) -> PathBuf {
    state.join(format!("live-{generation}"))
}

impl Model {
    /// An empty file system whose backing files live under `state` (which must be empty).
    pub fn new(state: &Path) -> io::Result<Model> {
        fs::create_dir_all(state.join("durable"))?;
        fs::create_dir_all(live_dir(state, 0))?;
        let mut nodes = HashMap::new();
        nodes.insert(ROOT, Node::dir(0o755));
        let mut durable_dirs = HashMap::new();
        durable_dirs.insert(
            ROOT,
            DurableDir {
                mode: 0o755,
                entries: BTreeMap::new(),
            },
        );
        Ok(Model {
            state: state.to_owned(),
            generation: 0,
            next_ino: ROOT + 1,
            nodes,
            dir_inos: [ROOT].into(),
            durable_files: HashMap::new(),
            durable_dirs,
        })
    }

    /// The node `ino`, if it exists.
    pub fn node(&self, ino: u64) -> Option<&Node> {
        self.nodes.get(&ino)
    }

    /// The node `ino`, mutable.
    pub fn node_mut(&mut self, ino: u64) -> Option<&mut Node> {
        self.nodes.get_mut(&ino)
    }

    /// The backing file of file `ino` in the live tree.
    pub fn backing(&self, ino: u64) -> PathBuf {
        live_dir(&self.state, self.generation).join(ino.to_string())
    }

    fn durable_path(&self, ino: u64) -> PathBuf {
        self.state.join("durable").join(ino.to_string())
    }

    /// The entries of directory `ino`.
    pub fn entries(&self, ino: u64) -> Result<&BTreeMap<OsString, u64>, i32> {
        let node = self.nodes.get(&ino).ok_or(libc::ENOENT)?;
        node.entries.as_ref().ok_or(libc::ENOTDIR)
    }

    fn entries_mut(&mut self, ino: u64) -> Result<&mut BTreeMap<OsString, u64>, i32> {
        let node = self.nodes.get_mut(&ino).ok_or(libc::ENOENT)?;
        node.entries.as_mut().ok_or(libc::ENOTDIR)
    }

    /// The inode `name` in directory `parent` links to.
    pub fn lookup(&self, parent: u64, name: &OsStr) -> Result<u64, i32> {
        self.entries(parent)?.get(name).copied().ok_or(libc::ENOENT)
    }

    fn touch(&mut self, dir: u64) {
        if let Some(n) = self.nodes.get_mut(&dir) {
            n.mtime = SystemTime::now();
        }
    }

    /// Create a file or directory `name` in `parent`; returns its inode.
    pub fn create(&mut self, parent: u64, name: &OsStr, mode: u32, dir: bool) -> Result<u64, i32> {
        if self.entries(parent)?.contains_key(name) {
            return Err(libc::EEXIST);
        }
        let ino = self.next_ino;
        self.next_ino += 1;
        if dir {
            self.dir_inos.insert(ino);
            self.nodes.insert(ino, Node::dir(mode & 0o7777));
        } else {
            OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(self.backing(ino))
                .map_err(errno)?;
            self.nodes.insert(ino, Node::file(mode & 0o7777));
        }
        self.entries_mut(parent)?.insert(name.to_owned(), ino);
        self.touch(parent);
        Ok(ino)
    }

    /// Drop one link to `ino`; a file with no link and no open handle is deleted.
    fn unref(&mut self, ino: u64) {
        let Some(n) = self.nodes.get_mut(&ino) else {
            return;
        };
        n.nlink = n.nlink.saturating_sub(1);
        self.collect(ino);
    }

    /// Delete `ino` once nothing refers to it any more.
    pub fn collect(&mut self, ino: u64) {
        let Some(n) = self.nodes.get(&ino) else {
            return;
        };
        if n.nlink == 0 && n.open == 0 {
            if !n.is_dir() {
                let _ = fs::remove_file(self.backing(ino));
            }
            self.nodes.remove(&ino);
        }
    }

    /// Remove the name `name` from `parent` (`dir` says whether `rmdir` asked).
    pub fn remove(&mut self, parent: u64, name: &OsStr, dir: bool) -> Result<(), i32> {
        let ino = self.lookup(parent, name)?;
        let node = self.nodes.get(&ino).ok_or(libc::ENOENT)?;
        match (&node.entries, dir) {
            (Some(e), true) if !e.is_empty() => return Err(libc::ENOTEMPTY),
            (Some(_), false) => return Err(libc::EISDIR),
            (None, true) => return Err(libc::ENOTDIR),
            _ => {}
        }
        self.entries_mut(parent)?.remove(name);
        self.touch(parent);
        self.unref(ino);
        Ok(())
    }

    /// `rename(2)`, with `RENAME_NOREPLACE` (`noreplace`).
    pub fn rename(
        &mut self,
        parent: u64,
        name: &OsStr,
        newparent: u64,
        newname: &OsStr,
        noreplace: bool,
    ) -> Result<(), i32> {
        let ino = self.lookup(parent, name)?;
        self.entries(newparent)?;
        let is_dir = self.nodes.get(&ino).is_some_and(Node::is_dir);
        if is_dir && self.is_ancestor(ino, newparent) {
            return Err(libc::EINVAL);
        }
        if let Ok(old) = self.lookup(newparent, newname) {
            if noreplace {
                return Err(libc::EEXIST);
            }
            if old == ino {
                return Ok(());
            }
            let target = self.nodes.get(&old).ok_or(libc::ENOENT)?;
            match (&target.entries, is_dir) {
                (Some(e), true) if !e.is_empty() => return Err(libc::ENOTEMPTY),
                (Some(_), false) => return Err(libc::EISDIR),
                (None, true) => return Err(libc::ENOTDIR),
                _ => {}
            }
            self.unref(old);
        }
        self.entries_mut(parent)?.remove(name);
        self.entries_mut(newparent)?.insert(newname.to_owned(), ino);
        self.touch(parent);
        self.touch(newparent);
        Ok(())
    }

    fn is_ancestor(&self, dir: u64, of: u64) -> bool {
        // Directories have one name: walk up from `of` by searching parents.
        let mut cur = of;
        for _ in 0..4096 {
            if cur == dir {
                return true;
            }
            if cur == ROOT {
                return false;
            }
            match self.nodes.iter().find(|(_, n)| {
                n.entries
                    .as_ref()
                    .is_some_and(|e| e.values().any(|&i| i == cur))
            }) {
                Some((&p, _)) => cur = p,
                None => return false,
            }
        }
        true
    }

    /// `link(2)`: a new name for file `ino`.
    pub fn link(&mut self, ino: u64, newparent: u64, newname: &OsStr) -> Result<(), i32> {
        let node = self.nodes.get(&ino).ok_or(libc::ENOENT)?;
        if node.is_dir() {
            return Err(libc::EPERM);
        }
        if self.entries(newparent)?.contains_key(newname) {
            return Err(libc::EEXIST);
        }
        self.entries_mut(newparent)?.insert(newname.to_owned(), ino);
        self.touch(newparent);
        if let Some(n) = self.nodes.get_mut(&ino) {
            n.nlink += 1;
        }
        Ok(())
    }

    /// `fsync(2)` of file `ino`: its bytes, mode and modification time become durable.
    pub fn sync_file(&mut self, ino: u64) -> Result<(), i32> {
        let node = self.nodes.get(&ino).ok_or(libc::ENOENT)?;
        if node.is_dir() {
            return self.sync_dir(ino);
        }
        let mode = node.mode;
        let from = self.backing(ino);
        let mtime = fs::metadata(&from)
            .and_then(|m| m.modified())
            .map_err(errno)?;
        fs::copy(&from, self.durable_path(ino)).map_err(errno)?;
        self.durable_files.insert(ino, DurableFile { mode, mtime });
        Ok(())
    }

    /// `fsync(2)` of directory `ino`: its entries become durable.
    pub fn sync_dir(&mut self, ino: u64) -> Result<(), i32> {
        let node = self.nodes.get(&ino).ok_or(libc::ENOENT)?;
        let entries = node.entries.clone().ok_or(libc::ENOTDIR)?;
        let mode = node.mode;
        self.durable_dirs.insert(ino, DurableDir { mode, entries });
        Ok(())
    }

    /// Power comes back: a new live tree, in a fresh backing directory, holding exactly the
    /// durable state reachable from the root. Inode numbers are kept, as on a real disk.
    ///
    /// With `torn` (a seed), a file that only grew since its last `fsync` also keeps a random
    /// part of what was appended, as a disk may have written some of those blocks before the
    /// cut: the torn tail a real power cut leaves at the end of an append-only file.
    pub fn power_on(&mut self, torn: Option<u64>) -> io::Result<Lost> {
        let mut rng = torn.map(|seed| seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let generation = self.generation + 1;
        let live = live_dir(&self.state, generation);
        fs::create_dir(&live)?;
        let mut lost = Lost::default();
        let mut nodes: HashMap<u64, Node> = HashMap::new();
        let mut stack = vec![ROOT];
        while let Some(dir) = stack.pop() {
            let d = self.durable_dirs.get(&dir).cloned().unwrap_or(DurableDir {
                mode: self.nodes.get(&dir).map_or(0o755, |n| n.mode),
                entries: BTreeMap::new(),
            });
            if self.nodes.get(&dir).and_then(|n| n.entries.as_ref()) != Some(&d.entries) {
                lost.dirs_reverted += 1;
            }
            let mut entries = BTreeMap::new();
            for (name, &ino) in &d.entries {
                if let Some(n) = nodes.get_mut(&ino) {
                    // A name this tree already holds: a second hard link to a file (a rename
                    // whose old directory was not synced again), never a second directory.
                    if n.is_dir() {
                        continue;
                    }
                    n.nlink += 1;
                    entries.insert(name.clone(), ino);
                    continue;
                }
                if self.dir_inos.contains(&ino) {
                    let mode = self
                        .durable_dirs
                        .get(&ino)
                        .map_or(self.nodes.get(&ino).map_or(0o755, |n| n.mode), |d| d.mode);
                    nodes.insert(ino, Node::dir(mode));
                    stack.push(ino);
                } else {
                    let to = live.join(ino.to_string());
                    let node = match self.durable_files.get(&ino) {
                        Some(f) => {
                            fs::copy(self.durable_path(ino), &to)?;
                            File::options()
                                .write(true)
                                .open(&to)?
                                .set_modified(f.mtime)?;
                            Node::file(f.mode)
                        }
                        None => {
                            File::create(&to)?;
                            Node::file(self.nodes.get(&ino).map_or(0o644, |n| n.mode))
                        }
                    };
                    if let Some(state) = rng.as_mut() {
                        lost.torn += self.keep_torn_tail(ino, &to, state)?;
                    }
                    if !self.same_bytes(ino, &to) {
                        lost.files_reverted += 1;
                    }
                    nodes.insert(ino, node);
                }
                entries.insert(name.clone(), ino);
            }
            let mut node = Node::dir(d.mode);
            if let Some(old) = nodes.get(&dir) {
                node.nlink = old.nlink;
            }
            node.entries = Some(entries);
            nodes.insert(dir, node);
        }
        let old = live_dir(&self.state, self.generation);
        self.generation = generation;
        self.nodes = nodes;
        fs::remove_dir_all(old)?;
        Ok(lost)
    }

    /// Append to `to` (the durable bytes of `ino`) a random prefix of what the live file
    /// holds beyond them, if the live file is those bytes and more; returns 1 if it did.
    fn keep_torn_tail(&self, ino: u64, to: &Path, state: &mut u64) -> io::Result<usize> {
        if self.nodes.get(&ino).is_none_or(Node::is_dir) {
            return Ok(0);
        }
        let (Ok(live), Ok(durable)) = (fs::read(self.backing(ino)), fs::read(to)) else {
            return Ok(0);
        };
        if live.len() <= durable.len() || !live.starts_with(&durable) {
            return Ok(0);
        }
        // xorshift64*: a few bits of chance, repeatable from the seed.
        *state ^= *state >> 12;
        *state ^= *state << 25;
        *state ^= *state >> 27;
        let r = state.wrapping_mul(0x2545_F491_4F6C_DD1D);
        let extra = (r % (live.len() - durable.len() + 1) as u64) as usize;
        if extra == 0 {
            return Ok(0);
        }
        let mut f = OpenOptions::new().append(true).open(to)?;
        std::io::Write::write_all(&mut f, &live[durable.len()..durable.len() + extra])?;
        Ok(1)
    }

    fn same_bytes(&self, ino: u64, durable: &Path) -> bool {
        let live = self.backing(ino);
        match (fs::metadata(&live), fs::metadata(durable)) {
            (Ok(a), Ok(b)) if a.len() == b.len() => fs::read(live).ok() == fs::read(durable).ok(),
            _ => false,
        }
    }

    /// Write the durable state as a plain directory tree at `out` (which must not exist), for a
    /// person to look at after a failure.
    pub fn export(&self, out: &Path) -> io::Result<()> {
        fs::create_dir_all(out)?;
        let mut stack = vec![(ROOT, out.to_owned())];
        let mut seen = std::collections::HashSet::new();
        while let Some((dir, path)) = stack.pop() {
            let Some(d) = self.durable_dirs.get(&dir) else {
                continue;
            };
            for (name, &ino) in &d.entries {
                let to = path.join(name);
                if self.dir_inos.contains(&ino) {
                    if seen.insert(ino) {
                        fs::create_dir_all(&to)?;
                        stack.push((ino, to));
                    }
                } else if self.durable_files.contains_key(&ino) {
                    fs::copy(self.durable_path(ino), &to)?;
                } else {
                    File::create(&to)?;
                }
            }
        }
        Ok(())
    }
}

/// The errno of an I/O error (`EIO` when it has none).
pub fn errno(e: io::Error) -> i32 {
    e.raw_os_error().unwrap_or(libc::EIO)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A model in a temporary directory, and a helper to write a file's live bytes.
    fn model() -> (tempfile::TempDir, Model) {
        let dir = tempfile::tempdir().expect("tmp");
        let m = Model::new(&dir.path().join("state")).expect("model");
        (dir, m)
    }

    fn write(m: &Model, ino: u64, bytes: &[u8]) {
        fs::write(m.backing(ino), bytes).expect("write");
    }

    fn read(m: &Model, parent: u64, name: &str) -> Option<Vec<u8>> {
        let ino = m.lookup(parent, name.as_ref()).ok()?;
        Some(fs::read(m.backing(ino)).expect("read"))
    }

    #[test]
    fn a_synced_file_whose_directory_was_not_synced_is_lost() {
        let (_d, mut m) = model();
        let f = m.create(ROOT, "f".as_ref(), 0o644, false).unwrap();
        write(&m, f, b"data");
        m.sync_file(f).unwrap();
        m.power_on(None).unwrap();
        assert_eq!(read(&m, ROOT, "f"), None);
    }

    #[test]
    fn a_file_in_a_synced_directory_keeps_only_its_synced_bytes() {
        let (_d, mut m) = model();
        let f = m.create(ROOT, "f".as_ref(), 0o644, false).unwrap();
        let g = m.create(ROOT, "g".as_ref(), 0o644, false).unwrap();
        m.sync_dir(ROOT).unwrap();
        write(&m, f, b"synced");
        m.sync_file(f).unwrap();
        write(&m, f, b"synced, then more");
        write(&m, g, b"never synced");
        m.power_on(None).unwrap();
        assert_eq!(read(&m, ROOT, "f").as_deref(), Some(&b"synced"[..]));
        assert_eq!(read(&m, ROOT, "g").as_deref(), Some(&b""[..]));
        // Inode numbers are what they were, as on a disk.
        assert_eq!(m.lookup(ROOT, "f".as_ref()), Ok(f));
    }

    #[test]
    fn a_rename_or_unlink_without_a_directory_sync_is_undone() {
        let (_d, mut m) = model();
        let f = m.create(ROOT, "tmp".as_ref(), 0o600, false).unwrap();
        let gone = m.create(ROOT, "gone".as_ref(), 0o600, false).unwrap();
        write(&m, f, b"x");
        write(&m, gone, b"y");
        m.sync_file(f).unwrap();
        m.sync_file(gone).unwrap();
        m.sync_dir(ROOT).unwrap();
        m.rename(ROOT, "tmp".as_ref(), ROOT, "final".as_ref(), false)
            .unwrap();
        m.remove(ROOT, "gone".as_ref(), false).unwrap();
        m.power_on(None).unwrap();
        assert_eq!(read(&m, ROOT, "tmp").as_deref(), Some(&b"x"[..]));
        assert_eq!(read(&m, ROOT, "final"), None);
        assert_eq!(read(&m, ROOT, "gone").as_deref(), Some(&b"y"[..]));
    }

    #[test]
    fn synced_links_renames_modes_and_subdirectories_survive() {
        let (_d, mut m) = model();
        let sub = m.create(ROOT, "sub".as_ref(), 0o755, true).unwrap();
        m.sync_dir(ROOT).unwrap();
        let f = m.create(sub, ".tmp".as_ref(), 0o600, false).unwrap();
        write(&m, f, b"evidence");
        m.node_mut(f).unwrap().mode = 0o444;
        m.sync_file(f).unwrap();
        m.link(f, sub, "a".as_ref()).unwrap();
        m.remove(sub, ".tmp".as_ref(), false).unwrap();
        m.rename(sub, "a".as_ref(), sub, "b".as_ref(), false)
            .unwrap();
        m.link(f, sub, "c".as_ref()).unwrap();
        m.sync_dir(sub).unwrap();
        m.power_on(None).unwrap();
        assert_eq!(read(&m, sub, "b").as_deref(), Some(&b"evidence"[..]));
        assert_eq!(read(&m, sub, ".tmp"), None);
        let node = m.node(f).unwrap();
        assert_eq!((node.mode, node.nlink), (0o444, 2));
    }

    #[test]
    fn a_torn_power_on_keeps_a_prefix_of_an_unsynced_tail_only() {
        let mut lengths = std::collections::BTreeSet::new();
        for seed in 0..20 {
            let (_d, mut m) = model();
            let f = m.create(ROOT, "wal".as_ref(), 0o600, false).unwrap();
            let g = m.create(ROOT, "rewritten".as_ref(), 0o600, false).unwrap();
            m.sync_dir(ROOT).unwrap();
            write(&m, f, b"synced");
            write(&m, g, b"old");
            m.sync_file(f).unwrap();
            m.sync_file(g).unwrap();
            write(&m, f, b"synced and appended");
            write(&m, g, b"new");
            m.power_on(Some(seed)).unwrap();
            let wal = read(&m, ROOT, "wal").unwrap();
            assert!(b"synced and appended".starts_with(&wal) && wal.starts_with(b"synced"));
            lengths.insert(wal.len());
            // A file rewritten in place has no tail: only its synced bytes come back.
            assert_eq!(read(&m, ROOT, "rewritten").as_deref(), Some(&b"old"[..]));
        }
        assert!(
            lengths.len() > 2,
            "torn tails of several lengths: {lengths:?}"
        );
    }

    #[test]
    fn a_directory_never_synced_comes_back_empty() {
        let (_d, mut m) = model();
        let sub = m.create(ROOT, "sub".as_ref(), 0o755, true).unwrap();
        let f = m.create(sub, "f".as_ref(), 0o644, false).unwrap();
        m.sync_file(f).unwrap();
        m.sync_dir(ROOT).unwrap();
        m.power_on(None).unwrap();
        assert!(m.entries(sub).unwrap().is_empty());
    }
}
