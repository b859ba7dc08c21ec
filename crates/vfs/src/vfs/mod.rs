//! The VFS: the mount table and the path-based operations of the syscalls.

mod resolve;
mod socket;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use abi::{Errno, Stat, Statfs, Timespec};
use parking_lot::{Mutex, RwLock};

use crate::dentry::{Dentry, RecentDentries, DENTRY_CACHE_CAPACITY};
use crate::file::{InodeFile, OpenFile};
use crate::fs::{FileSystem, FileType, SetAttr};
use crate::mount::{Mount, VfsPath};
use resolve::{check_path, Last, Parent, Walker};

/// The longest path (including its NUL), as Linux's `PATH_MAX`.
pub const PATH_MAX: usize = 4096;
/// The longest name of one path component.
pub const NAME_MAX: usize = 255;
/// How many symlinks one resolution follows before ELOOP.
pub const SYMLOOP_MAX: u32 = 40;

/// Where a path argument is resolved from.
#[derive(Clone)]
pub struct LookupCtx {
    /// The sandbox root (the task's root): absolute paths and absolute symlinks start here, and
    /// ".." never leaves it.
    pub root: VfsPath,
    /// The cwd, or the directory of a dirfd.
    pub start: VfsPath,
}

pub struct Vfs {
    root: VfsPath,
    /// Mounts by the place they cover: (parent mount id, mountpoint dentry).
    mounts: RwLock<HashMap<(u64, usize), Arc<Mount>>>,
    next_mount_id: AtomicU64,
    /// Keeps the dentries of recently resolved names (and so their attributes) alive.
    recent: RecentDentries,
    /// The hidden tmpfs memfd_create's files live in, mounted nowhere.
    memfd_mount: Arc<Mount>,
    /// Held while a memfd is briefly named in `memfd_mount`, so equal names don't collide.
    memfd_naming: Mutex<()>,
}

impl Vfs {
    /// A VFS over `root_fs`; memfds keep their data in `memory` (the sandbox's memory file, so
    /// they can be mapped shared).
    pub fn new(root_fs: Arc<dyn FileSystem>, memory: Arc<mm::MemoryFile>) -> Arc<Vfs> {
        let root_mount = Arc::new(Mount::new(0, root_fs, None));
        let root = VfsPath::new(root_mount.clone(), root_mount.root().clone());
        Arc::new(Vfs {
            root,
            mounts: RwLock::new(HashMap::new()),
            next_mount_id: AtomicU64::new(2),
            recent: RecentDentries::new(DENTRY_CACHE_CAPACITY),
            memfd_mount: Arc::new(Mount::new(
                1,
                crate::tmpfs::TmpFs::new(0o1777, memory),
                None,
            )),
            memfd_naming: Mutex::new(()),
        })
    }

    /// The root of the root mount.
    pub fn root(&self) -> VfsPath {
        self.root.clone()
    }

    /// Mounts `fs` over the directory `at`, hiding what was there.
    pub fn mount(&self, at: &VfsPath, fs: Arc<dyn FileSystem>) -> Result<Arc<Mount>, Errno> {
        if !at.is_dir() {
            return Err(Errno::ENOTDIR);
        }
        let mut mounts = self.mounts.write();
        if mounts.contains_key(&at.key())
            || (at.is_mount_root() && at.mount().mountpoint().is_none())
        {
            return Err(Errno::EBUSY);
        }
        let id = self.next_mount_id.fetch_add(1, Ordering::Relaxed);
        let mount = Arc::new(Mount::new(id, fs, Some(at.clone())));
        mounts.insert(at.key(), mount.clone());
        Ok(mount)
    }

    /// The child `name` of `dir`, entering whatever is mounted on it.
    fn child(&self, dir: &VfsPath, name: &[u8]) -> Result<VfsPath, Errno> {
        let dentry = dir.dentry().child(name)?;
        self.recent.touch(&dentry);
        let mut path = VfsPath::new(dir.mount().clone(), dentry);
        let mounts = self.mounts.read();
        while let Some(mount) = mounts.get(&path.key()) {
            path = VfsPath::new(mount.clone(), mount.root().clone());
        }
        Ok(path)
    }

    fn is_mountpoint(&self, path: &VfsPath) -> bool {
        path.is_mount_root() || self.mounts.read().contains_key(&path.key())
    }

    fn walker(&self, ctx: &LookupCtx) -> Walker<'_> {
        Walker::new(self, ctx.root.clone())
    }

    /// Resolves `path`; a final symlink is followed if `follow_last`.
    pub fn lookup(
        &self,
        ctx: &LookupCtx,
        path: &[u8],
        follow_last: bool,
    ) -> Result<VfsPath, Errno> {
        check_path(path)?;
        self.walker(ctx).resolve(&ctx.start, path, follow_last)
    }

    /// Resolves all but the last component, which must be a plain name (not "." or "..").
    fn lookup_parent<'p>(
        &self,
        ctx: &LookupCtx,
        path: &'p [u8],
        dot_error: Errno,
    ) -> Result<(VfsPath, &'p [u8], bool), Errno> {
        check_path(path)?;
        let Parent {
            dir,
            last,
            trailing_slash,
        } = self.walker(ctx).parent(&ctx.start, path)?;
        match last {
            Last::Name(name) => Ok((dir, name, trailing_slash)),
            Last::Root | Last::Dot | Last::DotDot => Err(dot_error),
        }
    }

    fn check_writable(path: &VfsPath) -> Result<(), Errno> {
        if path.mount().fs().read_only() {
            return Err(Errno::EROFS);
        }
        Ok(())
    }

    /// open/openat: `flags` are the O_* flags, `mode` the permission bits for O_CREAT (umask
    /// already applied).
    pub fn open(
        &self,
        ctx: &LookupCtx,
        path: &[u8],
        flags: i32,
        mode: u32,
    ) -> Result<Arc<OpenFile>, Errno> {
        check_path(path)?;
        let follow = flags & libc::O_NOFOLLOW == 0;
        let mut walker = self.walker(ctx);
        let parent = walker.parent(&ctx.start, path)?;
        let target = if flags & libc::O_CREAT != 0 {
            let Last::Name(name) = parent.last else {
                return Err(Errno::EISDIR);
            };
            if parent.trailing_slash {
                return Err(Errno::EISDIR);
            }
            match self.child(&parent.dir, name) {
                Ok(_) if flags & libc::O_EXCL != 0 => return Err(Errno::EEXIST),
                Ok(existing) if follow && existing.file_type() == FileType::Symlink => {
                    walker.step(&parent.dir, name, true)?
                }
                Ok(existing) => existing,
                Err(Errno::ENOENT) => {
                    Self::check_writable(&parent.dir)?;
                    parent.dir.inode().create(name, mode & 0o7777)?;
                    let created = self.child(&parent.dir, name)?;
                    // A new file is empty: O_TRUNC has nothing to do.
                    return Self::open_path(created, flags & !libc::O_TRUNC);
                }
                Err(e) => return Err(e),
            }
        } else {
            walker.finish(parent, follow)?
        };
        if !follow && target.file_type() == FileType::Symlink && flags & libc::O_PATH == 0 {
            return Err(Errno::ELOOP);
        }
        Self::open_path(target, flags)
    }

    /// Opens an already resolved path.
    fn open_path(path: VfsPath, flags: i32) -> Result<Arc<OpenFile>, Errno> {
        let file_type = path.file_type();
        if flags & libc::O_DIRECTORY != 0 && file_type != FileType::Directory {
            return Err(Errno::ENOTDIR);
        }
        if flags & libc::O_PATH != 0 {
            let ops = Box::new(InodeFile::new(path.inode().clone()));
            return Ok(OpenFile::new(ops, Some(path), flags));
        }
        let access = flags & libc::O_ACCMODE;
        if access == libc::O_ACCMODE {
            return Err(Errno::EINVAL);
        }
        let writes = access != libc::O_RDONLY || flags & libc::O_TRUNC != 0;
        match file_type {
            FileType::Directory if writes || flags & libc::O_CREAT != 0 => {
                return Err(Errno::EISDIR)
            }
            FileType::Regular | FileType::Directory | FileType::Symlink if writes => {
                Self::check_writable(&path)?;
            }
            _ => {}
        }
        let inode = path.inode().clone();
        let fifo = if file_type == FileType::Fifo {
            inode.fifo()
        } else {
            None
        };
        let ops: Box<dyn crate::file::FileOps> = if let Some(pipe) = fifo {
            Box::new(pipe.open_fifo(flags, inode.clone())?)
        } else {
            match inode.open(flags)? {
                Some(ops) => ops,
                None => Box::new(InodeFile::new(inode.clone())),
            }
        };
        if flags & libc::O_TRUNC != 0 && file_type == FileType::Regular {
            inode.set_attr(&SetAttr {
                size: Some(0),
                ..SetAttr::default()
            })?;
        }
        Ok(OpenFile::new(ops, Some(path), flags))
    }

    pub fn stat(&self, ctx: &LookupCtx, path: &[u8], follow: bool) -> Result<Stat, Errno> {
        self.lookup(ctx, path, follow)?.inode().stat()
    }

    pub fn statfs(&self, ctx: &LookupCtx, path: &[u8]) -> Result<Statfs, Errno> {
        self.lookup(ctx, path, true)?.mount().fs().statfs()
    }

    pub fn readlink(&self, ctx: &LookupCtx, path: &[u8]) -> Result<Vec<u8>, Errno> {
        let link = self.lookup(ctx, path, false)?;
        if link.file_type() != FileType::Symlink {
            return Err(Errno::EINVAL);
        }
        link.inode().readlink()
    }

    pub fn mkdir(&self, ctx: &LookupCtx, path: &[u8], mode: u32) -> Result<(), Errno> {
        let (dir, name, _) = self.lookup_parent(ctx, path, Errno::EEXIST)?;
        self.check_absent(&dir, name)?;
        Self::check_writable(&dir)?;
        dir.inode().mkdir(name, mode & 0o7777)
    }

    /// mknod/mknodat: a node of `file_type` (not a directory or symlink) with permission bits
    /// `mode` (umask applied) and device number `rdev`; the caller checked privileges.
    pub fn mknod(
        &self,
        ctx: &LookupCtx,
        path: &[u8],
        file_type: FileType,
        mode: u32,
        rdev: u64,
    ) -> Result<(), Errno> {
        let (dir, name, trailing_slash) = self.lookup_parent(ctx, path, Errno::EEXIST)?;
        self.check_absent(&dir, name)?;
        if trailing_slash {
            return Err(Errno::ENOENT);
        }
        Self::check_writable(&dir)?;
        dir.inode().mknod(name, file_type, mode & 0o7777, rdev)
    }

    /// memfd_create: an anonymous tmpfs file open for reading and writing, named
    /// "memfd:`name`" in /proc/self/fd and already unlinked.
    pub fn memfd_create(&self, name: &[u8]) -> Result<Arc<OpenFile>, Errno> {
        let mut display = b"memfd:".to_vec();
        display.extend_from_slice(name);
        let dir = self.memfd_mount.root();
        let _naming = self.memfd_naming.lock();
        dir.inode().create(&display, 0o777)?;
        let dentry = dir.child(&display);
        dir.inode().unlink(&display)?;
        dir.forget_child(&display);
        let path = VfsPath::new(self.memfd_mount.clone(), dentry?);
        Self::open_path(path, libc::O_RDWR | libc::O_LARGEFILE)
    }

    pub fn symlink(&self, ctx: &LookupCtx, target: &[u8], linkpath: &[u8]) -> Result<(), Errno> {
        check_path(target)?;
        let (dir, name, trailing_slash) = self.lookup_parent(ctx, linkpath, Errno::EEXIST)?;
        self.check_absent(&dir, name)?;
        if trailing_slash {
            return Err(Errno::ENOENT);
        }
        Self::check_writable(&dir)?;
        dir.inode().symlink(name, target)
    }

    /// link/linkat: a new name `new` for the non-directory `old` (followed if `follow`).
    pub fn link(
        &self,
        old_ctx: &LookupCtx,
        old: &[u8],
        new_ctx: &LookupCtx,
        new: &[u8],
        follow: bool,
    ) -> Result<(), Errno> {
        let source = self.lookup(old_ctx, old, follow)?;
        let (dir, name, trailing_slash) = self.lookup_parent(new_ctx, new, Errno::EEXIST)?;
        self.check_absent(&dir, name)?;
        if source.is_dir() {
            return Err(Errno::EPERM);
        }
        if trailing_slash {
            return Err(Errno::ENOENT);
        }
        if !Arc::ptr_eq(source.mount(), dir.mount()) {
            return Err(Errno::EXDEV);
        }
        Self::check_writable(&dir)?;
        dir.inode().link(name, source.inode())
    }

    fn check_absent(&self, dir: &VfsPath, name: &[u8]) -> Result<(), Errno> {
        match self.child(dir, name) {
            Ok(_) => Err(Errno::EEXIST),
            Err(Errno::ENOENT) => Ok(()),
            Err(e) => Err(e),
        }
    }

    pub fn unlink(&self, ctx: &LookupCtx, path: &[u8]) -> Result<(), Errno> {
        let (dir, name, trailing_slash) = self.lookup_parent(ctx, path, Errno::EISDIR)?;
        let victim = self.child(&dir, name)?;
        if victim.is_dir() {
            return Err(Errno::EISDIR);
        }
        if trailing_slash {
            return Err(Errno::ENOTDIR);
        }
        Self::check_writable(&dir)?;
        dir.inode().unlink(name)?;
        self.forget(dir.dentry().forget_child(name));
        Ok(())
    }

    pub fn rmdir(&self, ctx: &LookupCtx, path: &[u8]) -> Result<(), Errno> {
        check_path(path)?;
        let Parent { dir, last, .. } = self.walker(ctx).parent(&ctx.start, path)?;
        let name = match last {
            Last::Name(name) => name,
            Last::Dot => return Err(Errno::EINVAL),
            Last::DotDot => return Err(Errno::ENOTEMPTY),
            Last::Root => return Err(Errno::EBUSY),
        };
        let victim = self.child(&dir, name)?;
        if !victim.is_dir() {
            return Err(Errno::ENOTDIR);
        }
        if self.is_mountpoint(&victim) {
            return Err(Errno::EBUSY);
        }
        Self::check_writable(&dir)?;
        dir.inode().rmdir(name)?;
        self.forget(dir.dentry().forget_child(name));
        Ok(())
    }

    /// rename/renameat2; `flags` may hold RENAME_NOREPLACE (RENAME_EXCHANGE and others: EINVAL).
    pub fn rename(
        &self,
        old_ctx: &LookupCtx,
        old: &[u8],
        new_ctx: &LookupCtx,
        new: &[u8],
        flags: u32,
    ) -> Result<(), Errno> {
        if flags & !libc::RENAME_NOREPLACE != 0 {
            return Err(Errno::EINVAL);
        }
        let (old_dir, old_name, old_slash) = self.lookup_parent(old_ctx, old, Errno::EBUSY)?;
        let (new_dir, new_name, new_slash) = self.lookup_parent(new_ctx, new, Errno::EBUSY)?;
        let source = self.child(&old_dir, old_name)?;
        if (old_slash || new_slash) && !source.is_dir() {
            return Err(Errno::ENOTDIR);
        }
        if !Arc::ptr_eq(old_dir.mount(), new_dir.mount()) {
            return Err(Errno::EXDEV);
        }
        if self.is_mountpoint(&source) {
            return Err(Errno::EBUSY);
        }
        if source.is_dir() && new_dir.dentry().is_descendant_of(source.dentry()) {
            return Err(Errno::EINVAL);
        }
        match self.child(&new_dir, new_name) {
            Ok(_) if flags & libc::RENAME_NOREPLACE != 0 => return Err(Errno::EEXIST),
            Ok(target) => {
                if Arc::ptr_eq(target.dentry(), source.dentry())
                    || target.inode().ino() == source.inode().ino()
                {
                    return Ok(());
                }
                if self.is_mountpoint(&target) {
                    return Err(Errno::EBUSY);
                }
                match (source.is_dir(), target.is_dir()) {
                    (true, false) => return Err(Errno::ENOTDIR),
                    (false, true) => return Err(Errno::EISDIR),
                    _ => {}
                }
                if old_dir.dentry().is_descendant_of(target.dentry()) {
                    return Err(Errno::ENOTEMPTY);
                }
            }
            Err(Errno::ENOENT) => {}
            Err(e) => return Err(e),
        }
        Self::check_writable(&old_dir)?;
        old_dir
            .inode()
            .rename(old_name, new_dir.inode(), new_name)?;
        let replaced = old_dir
            .dentry()
            .move_child(old_name, new_dir.dentry(), new_name);
        self.forget(replaced);
        Ok(())
    }

    /// Lets go of a dentry whose name was removed.
    fn forget(&self, removed: Option<Arc<Dentry>>) {
        if let Some(dentry) = removed {
            self.recent.forget(&dentry);
        }
    }

    /// chmod/fchmodat: sets the permission bits (follows a final symlink).
    pub fn chmod(&self, ctx: &LookupCtx, path: &[u8], mode: u32) -> Result<(), Errno> {
        let target = self.lookup(ctx, path, true)?;
        Self::set_attr(
            &target,
            &SetAttr {
                mode: Some(mode & 0o7777),
                ..SetAttr::default()
            },
        )
    }

    /// truncate: sets the size of a regular file.
    pub fn truncate(&self, ctx: &LookupCtx, path: &[u8], len: u64) -> Result<(), Errno> {
        let target = self.lookup(ctx, path, true)?;
        match target.file_type() {
            FileType::Regular => {}
            FileType::Directory => return Err(Errno::EISDIR),
            _ => return Err(Errno::EINVAL),
        }
        Self::set_attr(
            &target,
            &SetAttr {
                size: Some(len),
                ..SetAttr::default()
            },
        )
    }

    /// utimensat: `times` are [atime, mtime] with UTIME_NOW/UTIME_OMIT as Linux takes them;
    /// `None` sets both to now.
    pub fn utimens(
        &self,
        ctx: &LookupCtx,
        path: &[u8],
        times: Option<[Timespec; 2]>,
        follow: bool,
    ) -> Result<(), Errno> {
        let target = self.lookup(ctx, path, follow)?;
        Self::utimens_path(&target, times)
    }

    /// utimens of a resolved path (futimens).
    pub fn utimens_path(target: &VfsPath, times: Option<[Timespec; 2]>) -> Result<(), Errno> {
        let now = now();
        let [atime, mtime] = times.unwrap_or([now; 2]);
        let resolve = |t: Timespec| -> Result<Option<Timespec>, Errno> {
            match t.tv_nsec {
                libc::UTIME_OMIT => Ok(None),
                libc::UTIME_NOW => Ok(Some(now)),
                0..=999_999_999 => Ok(Some(t)),
                _ => Err(Errno::EINVAL),
            }
        };
        let attr = SetAttr {
            atime: resolve(atime)?,
            mtime: resolve(mtime)?,
            ..SetAttr::default()
        };
        if attr.atime.is_none() && attr.mtime.is_none() {
            return Ok(());
        }
        Self::set_attr(target, &attr)
    }

    /// Changes attributes of a resolved path (fchmod, ftruncate by path, futimens).
    pub fn set_attr(target: &VfsPath, attr: &SetAttr) -> Result<(), Errno> {
        Self::check_writable(target)?;
        target.inode().set_attr(attr)
    }

    /// access/faccessat: `mode` is F_OK or R_OK|W_OK|X_OK, checked as the Sentry's only user
    /// (root): writes fail on read-only mounts, execution needs an x bit on non-directories.
    pub fn access(
        &self,
        ctx: &LookupCtx,
        path: &[u8],
        mode: i32,
        follow: bool,
    ) -> Result<(), Errno> {
        if mode & !(libc::R_OK | libc::W_OK | libc::X_OK) != 0 {
            return Err(Errno::EINVAL);
        }
        let target = self.lookup(ctx, path, follow)?;
        if mode & libc::W_OK != 0
            && matches!(target.file_type(), FileType::Regular | FileType::Directory)
        {
            Self::check_writable(&target)?;
        }
        if mode & libc::X_OK != 0 && !target.is_dir() && target.inode().stat()?.st_mode & 0o111 == 0
        {
            return Err(Errno::EACCES);
        }
        Ok(())
    }

    /// The absolute path of `path` as seen from the VFS root (getcwd, /proc/self/fd); an
    /// unlinked file gets Linux's " (deleted)" suffix.
    pub fn path_of(&self, path: &VfsPath) -> Vec<u8> {
        let mut names = Vec::new();
        let mut cur = path.clone();
        while !cur.same_as(&self.root) {
            if cur.is_mount_root() {
                match cur.mount().mountpoint() {
                    Some(mountpoint) => {
                        cur = mountpoint.clone();
                        continue;
                    }
                    None => break,
                }
            }
            let Some(parent) = cur.dentry().parent() else {
                break;
            };
            names.push(cur.dentry().name());
            cur = VfsPath::new(cur.mount().clone(), parent);
        }
        let mut out = Vec::new();
        for name in names.iter().rev() {
            out.push(b'/');
            out.extend_from_slice(name);
        }
        if out.is_empty() {
            out.push(b'/');
        }
        if path.dentry().is_deleted() {
            out.extend_from_slice(b" (deleted)");
        }
        out
    }
}

/// The current time as a timespec.
pub(crate) fn now() -> Timespec {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    Timespec {
        tv_sec: i64::try_from(since.as_secs()).unwrap_or(i64::MAX),
        tv_nsec: i64::from(since.subsec_nanos()),
    }
}
