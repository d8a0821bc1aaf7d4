//! The FUSE side: every request answered from the [`Model`], and nothing but `EIO` while the
//! power is off.
//!
//! Data is never cached by the kernel (every open is `FOPEN_DIRECT_IO`, attributes and entries
//! have a zero lifetime), so after [`Model::power_on`] no process can see a byte the cut threw
//! away. Writes go straight to the backing file (no write-back cache in the kernel either), so a
//! `write` that returned is in the live tree, and an `fsync` that returned is in the durable
//! state.

use crate::model::{Model, Node, errno};
use fuser::{
    FileAttr, FileType, Filesystem, KernelConfig, ReplyAttr, ReplyCreate, ReplyData,
    ReplyDirectory, ReplyEmpty, ReplyEntry, ReplyOpen, ReplyStatfs, ReplyWrite, Request, TimeOrNow,
};
use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

/// No caching in the kernel: every lookup and stat comes here.
const TTL: Duration = Duration::ZERO;

/// The model and the power switch, shared by the FUSE thread and the control loop.
pub struct Shared {
    /// The live tree and its durable state.
    pub model: Model,
    /// While true, the power is off: every request fails with `EIO`.
    pub off: bool,
    /// Open files.
    handles: HashMap<u64, Handle>,
    next_fh: u64,
    /// Requests refused while the power was off (for the log).
    pub refused: u64,
    /// Armed: the power goes off just before this many more changing requests have run.
    pub armed: Option<u64>,
}

impl Shared {
    /// A running file system over `model`.
    pub fn new(model: Model) -> Shared {
        Shared {
            model,
            off: false,
            handles: HashMap::new(),
            next_fh: 1,
            refused: 0,
            armed: None,
        }
    }

    /// Power comes back: open handles of the old tree are forgotten.
    pub fn forget_handles(&mut self) {
        self.handles.clear();
    }
}

struct Handle {
    ino: u64,
    file: File,
    append: bool,
}

/// The FUSE file system.
pub struct PowerFs {
    shared: Arc<Mutex<Shared>>,
}

impl PowerFs {
    /// A file system answering from `shared`.
    pub fn new(shared: Arc<Mutex<Shared>>) -> PowerFs {
        PowerFs { shared }
    }

    /// The shared state, or `EIO` while the power is off.
    fn on(&self) -> Result<MutexGuard<'_, Shared>, i32> {
        let mut s = self.shared.lock().unwrap_or_else(|p| p.into_inner());
        if s.off {
            s.refused += 1;
            return Err(libc::EIO);
        }
        Ok(s)
    }

    /// [`PowerFs::on`] for a request that changes something (a write, a sync, a name): an
    /// armed cut counts it, and cuts the power instead of running the one it was armed for.
    fn changing(&self) -> Result<MutexGuard<'_, Shared>, i32> {
        let mut s = self.on()?;
        match s.armed {
            Some(0) => {
                s.armed = None;
                s.off = true;
                s.refused += 1;
                Err(libc::EIO)
            }
            Some(n) => {
                s.armed = Some(n - 1);
                Ok(s)
            }
            None => Ok(s),
        }
    }
}

fn attr(s: &Shared, ino: u64) -> Result<FileAttr, i32> {
    let node: &Node = s.model.node(ino).ok_or(libc::ENOENT)?;
    let (kind, size, mtime, atime) = if node.is_dir() {
        (FileType::Directory, 4096, node.mtime, node.mtime)
    } else {
        let m = std::fs::metadata(s.model.backing(ino)).map_err(errno)?;
        let mtime = m.modified().map_err(errno)?;
        (
            FileType::RegularFile,
            m.len(),
            mtime,
            m.accessed().unwrap_or(mtime),
        )
    };
    Ok(FileAttr {
        ino,
        size,
        blocks: size.div_ceil(512),
        atime,
        mtime,
        ctime: mtime,
        crtime: mtime,
        kind,
        perm: node.mode as u16,
        nlink: node.nlink + u32::from(node.is_dir()),
        uid: 0,
        gid: 0,
        rdev: 0,
        blksize: 4096,
        flags: 0,
    })
}

fn open_handle(s: &mut Shared, ino: u64, flags: i32) -> Result<u64, i32> {
    let node = s.model.node_mut(ino).ok_or(libc::ENOENT)?;
    if node.is_dir() {
        return Err(libc::EISDIR);
    }
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(s.model.backing(ino))
        .map_err(errno)?;
    if flags & libc::O_TRUNC != 0 {
        file.set_len(0).map_err(errno)?;
    }
    if let Some(n) = s.model.node_mut(ino) {
        n.open += 1;
    }
    let fh = s.next_fh;
    s.next_fh += 1;
    s.handles.insert(
        fh,
        Handle {
            ino,
            file,
            append: flags & libc::O_APPEND != 0,
        },
    );
    Ok(fh)
}

fn time(t: TimeOrNow) -> SystemTime {
    match t {
        TimeOrNow::SpecificTime(t) => t,
        TimeOrNow::Now => SystemTime::now(),
    }
}

const DIRECT_IO: u32 = fuser::consts::FOPEN_DIRECT_IO;

impl Filesystem for PowerFs {
    fn init(&mut self, _req: &Request<'_>, _config: &mut KernelConfig) -> Result<(), i32> {
        Ok(())
    }

    fn lookup(&mut self, _req: &Request<'_>, parent: u64, name: &OsStr, reply: ReplyEntry) {
        match self
            .on()
            .and_then(|s| attr(&s, s.model.lookup(parent, name)?))
        {
            Ok(a) => reply.entry(&TTL, &a, 0),
            Err(e) => reply.error(e),
        }
    }

    fn getattr(&mut self, _req: &Request<'_>, ino: u64, _fh: Option<u64>, reply: ReplyAttr) {
        match self.on().and_then(|s| attr(&s, ino)) {
            Ok(a) => reply.attr(&TTL, &a),
            Err(e) => reply.error(e),
        }
    }

    fn setattr(
        &mut self,
        _req: &Request<'_>,
        ino: u64,
        mode: Option<u32>,
        _uid: Option<u32>,
        _gid: Option<u32>,
        size: Option<u64>,
        atime: Option<TimeOrNow>,
        mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        _fh: Option<u64>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<u32>,
        reply: ReplyAttr,
    ) {
        let r = self.changing().and_then(|mut s| {
            let node = s.model.node_mut(ino).ok_or(libc::ENOENT)?;
            if let Some(m) = mode {
                node.mode = m & 0o7777;
            }
            let is_dir = node.is_dir();
            if !is_dir && (size.is_some() || atime.is_some() || mtime.is_some()) {
                let f = OpenOptions::new()
                    .write(true)
                    .open(s.model.backing(ino))
                    .map_err(errno)?;
                if let Some(len) = size {
                    f.set_len(len).map_err(errno)?;
                }
                let mut times = std::fs::FileTimes::new();
                if let Some(t) = atime {
                    times = times.set_accessed(time(t));
                }
                if let Some(t) = mtime {
                    times = times.set_modified(time(t));
                }
                f.set_times(times).map_err(errno)?;
            } else if let (true, Some(t)) = (is_dir, mtime) {
                node.mtime = time(t);
            }
            attr(&s, ino)
        });
        match r {
            Ok(a) => reply.attr(&TTL, &a),
            Err(e) => reply.error(e),
        }
    }

    fn mknod(
        &mut self,
        _req: &Request<'_>,
        parent: u64,
        name: &OsStr,
        mode: u32,
        umask: u32,
        _rdev: u32,
        reply: ReplyEntry,
    ) {
        if mode & libc::S_IFMT != libc::S_IFREG {
            return reply.error(libc::EPERM);
        }
        let r = self.changing().and_then(|mut s| {
            let ino = s.model.create(parent, name, mode & !umask, false)?;
            attr(&s, ino)
        });
        match r {
            Ok(a) => reply.entry(&TTL, &a, 0),
            Err(e) => reply.error(e),
        }
    }

    fn mkdir(
        &mut self,
        _req: &Request<'_>,
        parent: u64,
        name: &OsStr,
        mode: u32,
        umask: u32,
        reply: ReplyEntry,
    ) {
        let r = self.changing().and_then(|mut s| {
            let ino = s.model.create(parent, name, mode & !umask, true)?;
            attr(&s, ino)
        });
        match r {
            Ok(a) => reply.entry(&TTL, &a, 0),
            Err(e) => reply.error(e),
        }
    }

    fn unlink(&mut self, _req: &Request<'_>, parent: u64, name: &OsStr, reply: ReplyEmpty) {
        match self
            .changing()
            .and_then(|mut s| s.model.remove(parent, name, false))
        {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn rmdir(&mut self, _req: &Request<'_>, parent: u64, name: &OsStr, reply: ReplyEmpty) {
        match self
            .changing()
            .and_then(|mut s| s.model.remove(parent, name, true))
        {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn rename(
        &mut self,
        _req: &Request<'_>,
        parent: u64,
        name: &OsStr,
        newparent: u64,
        newname: &OsStr,
        flags: u32,
        reply: ReplyEmpty,
    ) {
        let noreplace = flags & libc::RENAME_NOREPLACE != 0;
        if flags & !libc::RENAME_NOREPLACE != 0 {
            return reply.error(libc::EINVAL);
        }
        match self
            .on()
            .and_then(|mut s| s.model.rename(parent, name, newparent, newname, noreplace))
        {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn link(
        &mut self,
        _req: &Request<'_>,
        ino: u64,
        newparent: u64,
        newname: &OsStr,
        reply: ReplyEntry,
    ) {
        let r = self.changing().and_then(|mut s| {
            s.model.link(ino, newparent, newname)?;
            attr(&s, ino)
        });
        match r {
            Ok(a) => reply.entry(&TTL, &a, 0),
            Err(e) => reply.error(e),
        }
    }

    fn open(&mut self, _req: &Request<'_>, ino: u64, flags: i32, reply: ReplyOpen) {
        match self
            .changing()
            .and_then(|mut s| open_handle(&mut s, ino, flags))
        {
            Ok(fh) => reply.opened(fh, DIRECT_IO),
            Err(e) => reply.error(e),
        }
    }

    fn create(
        &mut self,
        _req: &Request<'_>,
        parent: u64,
        name: &OsStr,
        mode: u32,
        umask: u32,
        flags: i32,
        reply: ReplyCreate,
    ) {
        let r = self.changing().and_then(|mut s| {
            let ino = s.model.create(parent, name, mode & !umask, false)?;
            let fh = open_handle(&mut s, ino, flags)?;
            Ok((attr(&s, ino)?, fh))
        });
        match r {
            Ok((a, fh)) => reply.created(&TTL, &a, 0, fh, DIRECT_IO),
            Err(e) => reply.error(e),
        }
    }

    fn read(
        &mut self,
        _req: &Request<'_>,
        _ino: u64,
        fh: u64,
        offset: i64,
        size: u32,
        _flags: i32,
        _lock_owner: Option<u64>,
        reply: ReplyData,
    ) {
        let r = self.on().and_then(|s| {
            let h = s.handles.get(&fh).ok_or(libc::EBADF)?;
            let mut buf = vec![0u8; size as usize];
            let mut n = 0;
            while n < buf.len() {
                match h.file.read_at(&mut buf[n..], offset as u64 + n as u64) {
                    Ok(0) => break,
                    Ok(k) => n += k,
                    Err(e) => return Err(errno(e)),
                }
            }
            buf.truncate(n);
            Ok(buf)
        });
        match r {
            Ok(b) => reply.data(&b),
            Err(e) => reply.error(e),
        }
    }

    fn write(
        &mut self,
        _req: &Request<'_>,
        _ino: u64,
        fh: u64,
        offset: i64,
        data: &[u8],
        _write_flags: u32,
        _flags: i32,
        _lock_owner: Option<u64>,
        reply: ReplyWrite,
    ) {
        let r = self.changing().and_then(|s| {
            let h = s.handles.get(&fh).ok_or(libc::EBADF)?;
            let at = if h.append {
                h.file.metadata().map_err(errno)?.len()
            } else {
                offset as u64
            };
            h.file.write_all_at(data, at).map_err(errno)?;
            Ok(data.len() as u32)
        });
        match r {
            Ok(n) => reply.written(n),
            Err(e) => reply.error(e),
        }
    }

    fn flush(&mut self, _req: &Request<'_>, _ino: u64, _fh: u64, _lo: u64, reply: ReplyEmpty) {
        match self.on() {
            Ok(_) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn release(
        &mut self,
        _req: &Request<'_>,
        _ino: u64,
        fh: u64,
        _flags: i32,
        _lock_owner: Option<u64>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        // Closing always succeeds, even with the power off: the killed process's descriptors
        // close after the cut.
        let mut s = self.shared.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(h) = s.handles.remove(&fh) {
            let ino = h.ino;
            drop(h);
            if let Some(n) = s.model.node_mut(ino) {
                n.open = n.open.saturating_sub(1);
            }
            if !s.off {
                s.model.collect(ino);
            }
        }
        reply.ok();
    }

    fn fsync(&mut self, _req: &Request<'_>, ino: u64, _fh: u64, _ds: bool, reply: ReplyEmpty) {
        match self.changing().and_then(|mut s| s.model.sync_file(ino)) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn opendir(&mut self, _req: &Request<'_>, ino: u64, _flags: i32, reply: ReplyOpen) {
        match self.on().and_then(|s| s.model.entries(ino).map(|_| ())) {
            Ok(()) => reply.opened(0, 0),
            Err(e) => reply.error(e),
        }
    }

    fn readdir(
        &mut self,
        _req: &Request<'_>,
        ino: u64,
        _fh: u64,
        offset: i64,
        mut reply: ReplyDirectory,
    ) {
        let r = self.on().and_then(|s| {
            let mut list = vec![
                (ino, FileType::Directory, ".".into()),
                (ino, FileType::Directory, "..".into()),
            ];
            for (name, &child) in s.model.entries(ino)? {
                let kind = match s.model.node(child) {
                    Some(n) if n.is_dir() => FileType::Directory,
                    _ => FileType::RegularFile,
                };
                list.push((child, kind, name.clone()));
            }
            Ok(list)
        });
        match r {
            Ok(list) => {
                for (i, (ino, kind, name)) in list.into_iter().enumerate().skip(offset as usize) {
                    if reply.add(ino, i as i64 + 1, kind, &name) {
                        break;
                    }
                }
                reply.ok()
            }
            Err(e) => reply.error(e),
        }
    }

    fn fsyncdir(&mut self, _req: &Request<'_>, ino: u64, _fh: u64, _ds: bool, reply: ReplyEmpty) {
        match self.changing().and_then(|mut s| s.model.sync_dir(ino)) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn statfs(&mut self, _req: &Request<'_>, _ino: u64, reply: ReplyStatfs) {
        match self.on() {
            Ok(_) => reply.statfs(1 << 24, 1 << 23, 1 << 23, 1 << 20, 1 << 19, 4096, 255, 4096),
            Err(e) => reply.error(e),
        }
    }

    fn access(&mut self, _req: &Request<'_>, ino: u64, _mask: i32, reply: ReplyEmpty) {
        match self
            .on()
            .and_then(|s| s.model.node(ino).map(|_| ()).ok_or(libc::ENOENT))
        {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }
}
