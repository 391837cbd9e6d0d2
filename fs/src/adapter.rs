//! The tree on FUSE: fuser's `Filesystem` over [`View`](crate::tree), and
//! the mount's thread. The only file that names fuser.
//!
//! Every request resolves its path in a fresh view (each kernel's latest
//! snapshot, with what the path needs asked of its kernel). A file is
//! rendered once, at open, into a buffer that the handle's reads are
//! served from, so a file read in several pieces is one consistent
//! picture; a directory is listed once, at opendir, and its reads served
//! from that listing. Attributes and entries are never cached (zero TTL)
//! and files are opened with direct I/O, so a file's size is reported as 0,
//! as /proc does, and reads always come here. A path whose kernel did not
//! answer in time (stuck in a handler) answers EAGAIN where the view
//! cannot tell what is there.

use std::{
    collections::HashMap,
    ffi::OsStr,
    io,
    sync::{Arc, Mutex, MutexGuard},
    thread::{self, JoinHandle},
    time::{Duration, SystemTime},
};

use fuser::{
    Config, Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags, Generation, INodeNo,
    LockOwner, MountOption, OpenAccMode, OpenFlags, RenameFlags, ReplyAttr, ReplyCreate, ReplyData,
    ReplyDirectory, ReplyEmpty, ReplyEntry, ReplyOpen, ReplyWrite, Request, Session,
    SessionUnmounter, TimeOrNow, WriteFlags,
};

use crate::{
    error::{Result, WriteError},
    mount::{self, Mountpoint},
    snapshot::Shared,
    tree::{Applied, Found, Kind, Node},
};

/// Nothing is cached: sessions come and go between two `ls`.
const TTL: Duration = Duration::ZERO;

/// A path's components: `""` is the root, `"kernel/0"` a kernel.
fn components(path: &str) -> Vec<&str> {
    path.split('/').filter(|c| !c.is_empty()).collect()
}

fn join(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_owned()
    } else {
        format!("{parent}/{name}")
    }
}

/// Paths to inode numbers and back, for the paths the kernel has looked
/// up; an entry goes when the kernel forgets the inode.
struct Inodes {
    by_path: HashMap<String, u64>,
    /// The path and how many lookups the kernel holds.
    by_ino: HashMap<u64, (String, u64)>,
    next: u64,
}

impl Inodes {
    fn new() -> Inodes {
        let mut by_ino = HashMap::new();
        by_ino.insert(INodeNo::ROOT.0, (String::new(), 1));
        let mut by_path = HashMap::new();
        by_path.insert(String::new(), INodeNo::ROOT.0);
        Inodes {
            by_path,
            by_ino,
            next: INodeNo::ROOT.0 + 1,
        }
    }

    fn path(&self, ino: INodeNo) -> Option<String> {
        self.by_ino.get(&ino.0).map(|(path, _)| path.clone())
    }

    /// The inode of `path`, counting one more lookup.
    fn look_up(&mut self, path: String) -> INodeNo {
        if let Some(&ino) = self.by_path.get(&path) {
            if let Some((_, lookups)) = self.by_ino.get_mut(&ino) {
                *lookups += 1;
            }
            return INodeNo(ino);
        }
        let ino = self.next;
        self.next += 1;
        self.by_path.insert(path.clone(), ino);
        self.by_ino.insert(ino, (path, 1));
        INodeNo(ino)
    }

    /// The inode number to show for `path` in a listing: its own if it has
    /// one, otherwise one from its name that is never handed out by
    /// `look_up` (the kernel does not use a listing's numbers as inodes).
    fn listed(&self, path: &str) -> INodeNo {
        if let Some(&ino) = self.by_path.get(path) {
            return INodeNo(ino);
        }
        // FNV-1a, with the top bit set: apart from the counted numbers.
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for byte in path.bytes() {
            hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
        }
        INodeNo(hash | 1 << 63)
    }

    fn forget(&mut self, ino: INodeNo, n: u64) {
        if ino == INodeNo::ROOT {
            return;
        }
        if let Some((path, lookups)) = self.by_ino.get_mut(&ino.0) {
            *lookups = lookups.saturating_sub(n);
            if *lookups == 0 {
                let path = std::mem::take(path);
                self.by_ino.remove(&ino.0);
                self.by_path.remove(&path);
            }
        }
    }
}

/// An open file or directory.
enum Handle {
    /// A file: its path, and its contents as rendered at open.
    File { path: String, bytes: Vec<u8> },
    /// A directory: its entries as listed at opendir, `.` and `..` first.
    Dir(Vec<(INodeNo, FileType, String)>),
}

/// fuser's filesystem: the tree, with inodes and open handles.
pub(crate) struct Adapter {
    shared: Arc<Shared>,
    inodes: Mutex<Inodes>,
    handles: Mutex<(HashMap<u64, Handle>, u64)>,
    uid: u32,
    gid: u32,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

fn errno(error: &WriteError) -> Errno {
    match error {
        WriteError::Invalid(_) => Errno::EINVAL,
        WriteError::ReadOnly => Errno::EACCES,
        WriteError::NotFound => Errno::ENOENT,
        WriteError::Gone => Errno::ESRCH,
    }
}

impl Adapter {
    fn new(shared: Arc<Shared>) -> Adapter {
        Adapter {
            shared,
            inodes: Mutex::new(Inodes::new()),
            handles: Mutex::new((HashMap::new(), 1)),
            uid: rustix::process::geteuid().as_raw(),
            gid: rustix::process::getegid().as_raw(),
        }
    }

    fn attr(&self, ino: INodeNo, found: &Found<'_>) -> FileAttr {
        let (kind, perm, nlink) = match &found.node {
            Node::Dir { subdirs, .. } => (
                FileType::Directory,
                0o555,
                2 + u32::try_from(*subdirs).unwrap_or(u32::MAX - 2),
            ),
            Node::File { writable, .. } => (
                FileType::RegularFile,
                if *writable { 0o644 } else { 0o444 },
                1,
            ),
        };
        FileAttr {
            ino,
            size: 0,
            blocks: 0,
            atime: found.mtime,
            mtime: found.mtime,
            ctime: found.mtime,
            crtime: found.mtime,
            kind,
            perm,
            nlink,
            uid: self.uid,
            gid: self.gid,
            rdev: 0,
            blksize: 4096,
            flags: 0,
        }
    }

    fn path(&self, ino: INodeNo) -> Option<String> {
        lock(&self.inodes).path(ino)
    }

    /// The attributes of `ino` as the tree has it now.
    fn attr_of(&self, ino: INodeNo) -> Result<FileAttr, Errno> {
        let path = self.path(ino).ok_or(Errno::ENOENT)?;
        let parts = components(&path);
        let (view, answered) = self.shared.view(&parts, false);
        let found = view.resolve(&parts).ok_or_else(|| missing(answered))?;
        Ok(self.attr(ino, &found))
    }

    /// Keeps an open handle; its number.
    fn keep(&self, handle: Handle) -> FileHandle {
        let mut handles = lock(&self.handles);
        let fh = handles.1;
        handles.1 += 1;
        handles.0.insert(fh, handle);
        FileHandle(fh)
    }
}

/// A path the view does not find: gone (ENOENT), or not known because its
/// kernel did not answer in time (EAGAIN: try again).
fn missing(answered: bool) -> Errno {
    if answered {
        Errno::ENOENT
    } else {
        Errno::EAGAIN
    }
}

impl Filesystem for Adapter {
    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        let (Some(parent), Some(name)) = (self.path(parent), name.to_str()) else {
            return reply.error(Errno::ENOENT);
        };
        let path = join(&parent, name);
        let parts = components(&path);
        let (view, answered) = self.shared.view(&parts, false);
        match view.resolve(&parts) {
            Some(found) => {
                let ino = lock(&self.inodes).look_up(path);
                reply.entry(&TTL, &self.attr(ino, &found), Generation(0));
            }
            None => reply.error(missing(answered)),
        }
    }

    fn forget(&self, _req: &Request, ino: INodeNo, nlookup: u64) {
        lock(&self.inodes).forget(ino, nlookup);
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        match self.attr_of(ino) {
            Ok(attr) => reply.attr(&TTL, &attr),
            Err(errno) => reply.error(errno),
        }
    }

    fn setattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        size: Option<u64>,
        atime: Option<TimeOrNow>,
        mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        _fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<fuser::BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        let attr = match self.attr_of(ino) {
            Ok(attr) => attr,
            Err(errno) => return reply.error(errno),
        };
        if mode.is_some() || uid.is_some() || gid.is_some() || atime.is_some() || mtime.is_some() {
            return reply.error(Errno::EROFS);
        }
        // `echo v > file` truncates before it writes: a no-op for a
        // writable file, whose contents are rendered, not stored.
        if size.is_some() && attr.perm & 0o200 == 0 {
            return reply.error(Errno::EACCES);
        }
        reply.attr(&TTL, &attr);
    }

    fn open(&self, _req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        let Some(path) = self.path(ino) else {
            return reply.error(Errno::ENOENT);
        };
        let parts = components(&path);
        let mode = flags.acc_mode();
        // Written only: nothing is rendered, nothing needs asking.
        let (view, answered) = self.shared.view(&parts, mode != OpenAccMode::O_WRONLY);
        let Some(found) = view.resolve(&parts) else {
            return reply.error(missing(answered));
        };
        let Node::File { writable, render } = found.node else {
            return reply.error(Errno::EISDIR);
        };
        if mode != OpenAccMode::O_RDONLY && !writable {
            return reply.error(Errno::EACCES);
        }
        let bytes = if mode == OpenAccMode::O_WRONLY {
            Vec::new()
        } else if !answered {
            // Its kernel did not answer: what it shows is not known.
            return reply.error(Errno::EAGAIN);
        } else {
            render()
        };
        let fh = self.keep(Handle::File { path, bytes });
        reply.opened(fh, FopenFlags::FOPEN_DIRECT_IO);
    }

    fn read(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        let handles = lock(&self.handles);
        let Some(Handle::File { bytes, .. }) = handles.0.get(&fh.0) else {
            return reply.error(Errno::EBADF);
        };
        let start = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(bytes.len());
        let end = start.saturating_add(size as usize).min(bytes.len());
        reply.data(&bytes[start..end]);
    }

    fn write(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        let path = match lock(&self.handles).0.get(&fh.0) {
            Some(Handle::File { path, .. }) => path.clone(),
            _ => return reply.error(Errno::EBADF),
        };
        let parts = components(&path);
        let (view, answered) = self.shared.view(&parts, true);
        let result = match view.write(&parts, data) {
            Err(WriteError::NotFound) if !answered => return reply.error(Errno::EAGAIN),
            Ok(Applied::Command(command)) => {
                tracing::debug!(path, ?command, "a write to the fs view");
                self.shared.apply(command)
            }
            Ok(Applied::Tuned(tunable)) => {
                tracing::debug!(path, ?tunable, "a setting changed through the fs view");
                self.shared.tune(tunable);
                Ok(())
            }
            Ok(Applied::Done) => Ok(()),
            Err(error) => Err(error),
        };
        match result {
            Ok(()) => reply.written(u32::try_from(data.len()).unwrap_or(u32::MAX)),
            Err(error) => {
                tracing::debug!(path, %error, "a write to the fs view was refused");
                reply.error(errno(&error));
            }
        }
    }

    fn flush(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _lock_owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        reply.ok();
    }

    fn release(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        lock(&self.handles).0.remove(&fh.0);
        reply.ok();
    }

    fn opendir(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        let Some(path) = self.path(ino) else {
            return reply.error(Errno::ENOENT);
        };
        let parts = components(&path);
        let (view, answered) = self.shared.view(&parts, true);
        let Some(found) = view.resolve(&parts) else {
            return reply.error(missing(answered));
        };
        let Node::Dir { list, .. } = found.node else {
            return reply.error(Errno::ENOTDIR);
        };
        if !answered {
            // Its kernel did not answer: a listing would show only the
            // sessions it happened to describe, as if they were all.
            return reply.error(Errno::EAGAIN);
        }
        let entries = list();
        let inodes = lock(&self.inodes);
        let parent = path.rsplit_once('/').map_or("", |(parent, _)| parent);
        let mut all = vec![
            (ino, FileType::Directory, ".".to_owned()),
            (inodes.listed(parent), FileType::Directory, "..".to_owned()),
        ];
        all.extend(entries.into_iter().map(|entry| {
            let kind = match entry.kind {
                Kind::Dir => FileType::Directory,
                Kind::File | Kind::Writable => FileType::RegularFile,
            };
            (inodes.listed(&join(&path, &entry.name)), kind, entry.name)
        }));
        drop(inodes);
        let fh = self.keep(Handle::Dir(all));
        reply.opened(fh, FopenFlags::empty());
    }

    fn readdir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        let handles = lock(&self.handles);
        let Some(Handle::Dir(all)) = handles.0.get(&fh.0) else {
            return reply.error(Errno::EBADF);
        };
        let skip = usize::try_from(offset).unwrap_or(usize::MAX);
        for (i, (child, kind, name)) in all.iter().enumerate().skip(skip) {
            // The offset given is that of the next entry.
            if reply.add(*child, i as u64 + 1, *kind, name) {
                break;
            }
        }
        reply.ok();
    }

    fn releasedir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        reply: ReplyEmpty,
    ) {
        lock(&self.handles).0.remove(&fh.0);
        reply.ok();
    }

    // The tree's shape is the runtime's: nothing can be made, removed or
    // renamed in it.

    fn mknod(
        &self,
        _req: &Request,
        _parent: INodeNo,
        _name: &OsStr,
        _mode: u32,
        _umask: u32,
        _rdev: u32,
        reply: ReplyEntry,
    ) {
        reply.error(Errno::EROFS);
    }

    fn mkdir(
        &self,
        _req: &Request,
        _parent: INodeNo,
        _name: &OsStr,
        _mode: u32,
        _umask: u32,
        reply: ReplyEntry,
    ) {
        reply.error(Errno::EROFS);
    }

    fn unlink(&self, _req: &Request, _parent: INodeNo, _name: &OsStr, reply: ReplyEmpty) {
        reply.error(Errno::EROFS);
    }

    fn rmdir(&self, _req: &Request, _parent: INodeNo, _name: &OsStr, reply: ReplyEmpty) {
        reply.error(Errno::EROFS);
    }

    fn symlink(
        &self,
        _req: &Request,
        _parent: INodeNo,
        _link_name: &OsStr,
        _target: &std::path::Path,
        reply: ReplyEntry,
    ) {
        reply.error(Errno::EROFS);
    }

    fn rename(
        &self,
        _req: &Request,
        _parent: INodeNo,
        _name: &OsStr,
        _newparent: INodeNo,
        _newname: &OsStr,
        _flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        reply.error(Errno::EROFS);
    }

    fn link(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _newparent: INodeNo,
        _newname: &OsStr,
        reply: ReplyEntry,
    ) {
        reply.error(Errno::EROFS);
    }

    fn create(
        &self,
        _req: &Request,
        _parent: INodeNo,
        _name: &OsStr,
        _mode: u32,
        _umask: u32,
        _flags: i32,
        reply: ReplyCreate,
    ) {
        reply.error(Errno::EROFS);
    }
}

/// The FUSE session's thread and the means to end it.
struct Running {
    unmounter: SessionUnmounter,
    thread: JoinHandle<()>,
}

/// A mounted view: unmounted by [`Mounted::unmount`], or when dropped.
pub(crate) struct Mounted {
    point: Mountpoint,
    running: Mutex<Option<Running>>,
}

impl Mounted {
    /// Where it is mounted.
    pub fn path(&self) -> &std::path::Path {
        &self.point.path
    }

    /// Whether it has not been unmounted from here yet (an unmount under
    /// way counts as mounted until it is done).
    pub fn is_mounted(&self) -> bool {
        lock(&self.running).is_some()
    }

    /// Unmounts the view and waits for its thread; a mount that is busy
    /// (a process has a file open in it, or its working directory there)
    /// is detached lazily instead, and its thread left to finish when the
    /// last user lets go. Removes the mountpoint if it was made here. Does
    /// nothing the second time.
    ///
    /// # Errors
    ///
    /// The unmount's failure, other than EBUSY.
    pub fn unmount(&self) -> io::Result<()> {
        // Held to the end, so that `is_mounted` answers once it is done.
        let mut running = lock(&self.running);
        let Some(Running {
            mut unmounter,
            thread,
        }) = running.take()
        else {
            return Ok(());
        };
        let result = match unmounter.unmount() {
            Ok(()) => {
                // The kernel has closed the connection: the loop ends.
                let _ = thread.join();
                Ok(())
            }
            Err(error) if error.raw_os_error() == Some(rustix::io::Errno::BUSY.raw_os_error()) => {
                tracing::warn!(
                    path = %self.point.path.display(),
                    "the fs view is busy: detached lazily"
                );
                mount::detach(&self.point.path)
            }
            Err(error) => Err(error),
        };
        self.point.remove();
        result
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        if let Err(error) = self.unmount() {
            tracing::warn!(path = %self.point.path.display(), %error, "the fs view could not be unmounted");
        }
    }
}

/// Mounts the view at `point` and serves it from a thread of its own,
/// `roe-procalike`; returns once the kernel has accepted the mount. When
/// the session ends (unmounted from here or from outside), the ProcAlike
/// session is told.
///
/// # Errors
///
/// [`Error::Io`](crate::Error::Io) when /dev/fuse cannot be opened, the
/// mount is refused, or the thread cannot start. The mountpoint is
/// removed again if it was made for this.
pub(crate) fn mount(shared: Arc<Shared>, point: Mountpoint) -> Result<Mounted> {
    let mut config = Config::default();
    // No AutoUnmount: with fuser 0.18's pure-Rust mount it needs the
    // fusermount3 helper, and then unmounting hangs.
    config.mount_options = vec![
        MountOption::FSName("procalike".into()),
        MountOption::DefaultPermissions,
        MountOption::NoExec,
        MountOption::NoSuid,
        MountOption::NoDev,
    ];
    let mut session = match Session::new(Adapter::new(Arc::clone(&shared)), &point.path, &config) {
        Ok(session) => session,
        Err(error) => {
            point.remove();
            return Err(error.into());
        }
    };
    let mut unmounter = session.unmount_callable();
    let spawned = thread::Builder::new()
        .name("roe-procalike".into())
        .spawn(move || {
            if let Err(error) = session.run() {
                tracing::warn!(%error, "the fs view's FUSE session failed");
            }
            shared.closed();
        });
    match spawned {
        Ok(thread) => Ok(Mounted {
            point,
            running: Mutex::new(Some(Running { unmounter, thread })),
        }),
        Err(error) => {
            let _ = unmounter.unmount();
            point.remove();
            Err(error.into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inodes_live_while_looked_up() {
        let mut inodes = Inodes::new();
        let a = inodes.look_up("kernel".into());
        assert_eq!(inodes.look_up("kernel".into()), a);
        let b = inodes.look_up("kernel/0".into());
        assert_ne!(a, b);
        assert_eq!(inodes.path(b).as_deref(), Some("kernel/0"));
        inodes.forget(a, 1);
        assert_eq!(inodes.path(a).as_deref(), Some("kernel"));
        inodes.forget(a, 1);
        assert_eq!(inodes.path(a), None);
        // A new lookup gets a new number: the old one is stale.
        assert_ne!(inodes.look_up("kernel".into()), a);
        inodes.forget(INodeNo::ROOT, 5);
        assert_eq!(inodes.path(INodeNo::ROOT).as_deref(), Some(""));
    }

    #[test]
    fn listed_numbers_never_collide_with_counted_ones() {
        let mut inodes = Inodes::new();
        let listed = inodes.listed("kernel/0/sessions/7");
        assert!(listed.0 >= 1 << 63);
        assert_eq!(inodes.listed("kernel/0/sessions/7"), listed);
        let counted = inodes.look_up("kernel/0/sessions/7".into());
        assert_eq!(inodes.listed("kernel/0/sessions/7"), counted);
        assert!(counted.0 < 1 << 63);
    }

    #[test]
    fn paths() {
        assert_eq!(components(""), Vec::<&str>::new());
        assert_eq!(components("kernel/0"), ["kernel", "0"]);
        assert_eq!(join("", "kernel"), "kernel");
        assert_eq!(join("kernel", "0"), "kernel/0");
    }
}
