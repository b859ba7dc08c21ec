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
use crate::fs::{FileSystem, FileType, NewFile, NewOwner, SetAttr};
use crate::inotify;
use crate::mount::{Mount, VfsPath};
use crate::permission::{self, Credentials, Perm, MAY_EXEC, MAY_WRITE};
pub use resolve::Resolve;
use resolve::{check_path, Last, Parent, Walker};

/// The longest path (including its NUL), as Linux's `PATH_MAX`.
pub const PATH_MAX: usize = 4096;
/// The longest name of one path component.
pub const NAME_MAX: usize = 255;
/// How many symlinks one resolution follows before ELOOP.
pub const SYMLOOP_MAX: u32 = 40;

/// The bit of O_TMPFILE that is not O_DIRECTORY (Linux's __O_TMPFILE).
const O_TMPFILE_BIT: i32 = libc::O_TMPFILE & !libc::O_DIRECTORY;

/// Where a path argument is resolved from.
#[derive(Clone)]
pub struct LookupCtx {
    /// The sandbox root (the task's root): absolute paths and absolute symlinks start here, and
    /// ".." never leaves it.
    pub root: VfsPath,
    /// The cwd, or the directory of a dirfd.
    pub start: VfsPath,
    /// Who resolves the path and acts on what it names: every check of the walk and the
    /// operation is made against these.
    pub creds: Credentials,
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

    fn walker<'a>(&'a self, ctx: &'a LookupCtx) -> Walker<'a> {
        Walker::new(self, ctx, Resolve::default())
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
        self.open_resolve(ctx, path, flags, mode, Resolve::default())
    }

    /// openat2: open with `resolve`'s restrictions on the resolution.
    pub fn open_resolve(
        &self,
        ctx: &LookupCtx,
        path: &[u8],
        flags: i32,
        mode: u32,
        resolve: Resolve,
    ) -> Result<Arc<OpenFile>, Errno> {
        check_path(path)?;
        let mut walker = Walker::new(self, ctx, resolve);
        if flags & O_TMPFILE_BIT != 0 {
            return Self::open_tmpfile(&mut walker, ctx, path, flags, mode);
        }
        let follow = flags & libc::O_NOFOLLOW == 0;
        let parent = walker.parent(&ctx.start, path)?;
        let target = if flags & libc::O_CREAT != 0 {
            let Last::Name(name) = parent.last else {
                return Err(Errno::EISDIR);
            };
            if parent.trailing_slash {
                return Err(Errno::EISDIR);
            }
            match walker.step(&parent.dir, name, false) {
                Ok(_) if flags & libc::O_EXCL != 0 => return Err(Errno::EEXIST),
                Ok(existing) if follow && existing.file_type() == FileType::Symlink => {
                    walker.step(&parent.dir, name, true)?
                }
                Ok(existing) => existing,
                Err(Errno::ENOENT) => {
                    Self::check_writable(&parent.dir)?;
                    permission::may_create(&ctx.creds, parent.dir.inode().as_ref())?;
                    let owner = NewOwner::new(&ctx.creds, &parent.dir, false, mode)?;
                    parent.dir.inode().make(name, NewFile::Regular, owner)?;
                    inotify::notify_create(&parent.dir, name, false);
                    let created = self.child(&parent.dir, name)?;
                    owner.apply(&created)?;
                    // A new file is empty (O_TRUNC has nothing to do), and its creator may
                    // open it whatever its mode says.
                    return Self::open_path(created, flags & !libc::O_TRUNC, None);
                }
                Err(e) => return Err(e),
            }
        } else {
            walker.finish(parent, follow)?
        };
        if !follow && target.file_type() == FileType::Symlink && flags & libc::O_PATH == 0 {
            return Err(Errno::ELOOP);
        }
        Self::open_path(target, flags, Some(&ctx.creds))
    }

    /// execve's open of `path` (a final symlink followed if `follow`, ELOOP otherwise): see
    /// [`Vfs::open_exec_path`].
    pub fn open_exec(
        &self,
        ctx: &LookupCtx,
        path: &[u8],
        follow: bool,
    ) -> Result<Arc<OpenFile>, Errno> {
        let target = self.lookup(ctx, path, follow)?;
        if target.file_type() == FileType::Symlink {
            return Err(Errno::ELOOP);
        }
        Self::open_exec_path(&ctx.creds, target)
    }

    /// execve's open of a resolved file (fexecve's: the very file a descriptor holds, never
    /// found again by name): a regular file (EACCES otherwise) `creds` may execute, whether or
    /// not they may read it.
    pub fn open_exec_path(creds: &Credentials, target: VfsPath) -> Result<Arc<OpenFile>, Errno> {
        if target.file_type() != FileType::Regular {
            return Err(Errno::EACCES);
        }
        permission::check(creds, target.inode().as_ref(), MAY_EXEC)?;
        Self::open_path(target, libc::O_RDONLY, None)
    }

    /// open(O_TMPFILE): an unnamed regular file in the directory `path`, which linkat may name
    /// later unless O_EXCL.
    fn open_tmpfile(
        walker: &mut Walker<'_>,
        ctx: &LookupCtx,
        path: &[u8],
        flags: i32,
        mode: u32,
    ) -> Result<Arc<OpenFile>, Errno> {
        if flags & (libc::O_TMPFILE | libc::O_CREAT) != libc::O_TMPFILE
            || !matches!(flags & libc::O_ACCMODE, libc::O_WRONLY | libc::O_RDWR)
        {
            return Err(Errno::EINVAL);
        }
        let dir = walker.resolve(&ctx.start, path, true)?;
        if !dir.is_dir() {
            return Err(Errno::ENOTDIR);
        }
        Self::check_writable(&dir)?;
        permission::may_create(&ctx.creds, dir.inode().as_ref())?;
        let owner = NewOwner::new(&ctx.creds, &dir, false, mode)?;
        let linkable = flags & libc::O_EXCL == 0;
        let inode = dir.inode().tmpfile(owner.mode, linkable)?;
        let dentry = Dentry::unnamed(inode.clone(), dir.dentry());
        let file = VfsPath::new(dir.mount().clone(), dentry);
        owner.apply(&file)?;
        let ops = match inode.open(flags)? {
            Some(ops) => ops,
            None => Box::new(InodeFile::new(inode)),
        };
        inotify::notify(&file, inotify::IN_OPEN);
        Ok(OpenFile::new(ops, Some(file), flags))
    }

    /// open_by_handle_at: opens the file `handle` stands for in the filesystem of `mount`,
    /// reached by its names from the mount's root (no symlink is followed).
    pub fn open_by_handle(
        &self,
        mount: &Arc<Mount>,
        handle_type: i32,
        handle: &[u8],
        flags: i32,
    ) -> Result<Arc<OpenFile>, Errno> {
        let names = mount.fs().decode_handle(handle_type, handle)?;
        let mut path = VfsPath::new(mount.clone(), mount.root().clone());
        for name in names {
            let dentry = path.dentry().child(&name).map_err(|_| Errno::ESTALE)?;
            path = VfsPath::new(mount.clone(), dentry);
        }
        if path.file_type() == FileType::Symlink && flags & libc::O_PATH == 0 {
            return Err(Errno::ELOOP);
        }
        // The kernel has checked CAP_DAC_READ_SEARCH, which stands for the walk's checks.
        Self::open_path(path, flags & !(libc::O_CREAT | libc::O_EXCL), None)
    }

    /// Opens an already resolved path, checking the access `flags` ask for against `creds`
    /// (`None`: a file the caller just created, or an open of the Sentry's own).
    fn open_path(
        path: VfsPath,
        flags: i32,
        creds: Option<&Credentials>,
    ) -> Result<Arc<OpenFile>, Errno> {
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
        if let Some(creds) = creds {
            permission::check(creds, inode.as_ref(), permission::open_mask(flags))?;
            // Not updating access times hides reads from the owner: theirs to ask.
            if flags & libc::O_NOATIME != 0 && !creds.owns_or_capable(Perm::of(inode.as_ref())?.uid)
            {
                return Err(Errno::EPERM);
            }
        }
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
        inotify::notify(&path, inotify::IN_OPEN);
        if flags & libc::O_TRUNC != 0 && file_type == FileType::Regular {
            let mode = match creds {
                Some(creds) if !creds.capable(permission::CAP_FSETID) => {
                    permission::mode_after_write(creds, Perm::of(inode.as_ref())?)
                }
                _ => None,
            };
            inode.set_attr(&SetAttr {
                size: Some(0),
                mode,
                ..SetAttr::default()
            })?;
            inotify::notify(&path, inotify::IN_MODIFY);
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
        permission::may_create(&ctx.creds, dir.inode().as_ref())?;
        // Linux's mkdir takes only the permission and sticky bits of `mode`.
        let owner = NewOwner::new(&ctx.creds, &dir, true, mode & 0o1777)?;
        dir.inode().make(name, NewFile::Directory, owner)?;
        owner.apply(&self.child(&dir, name)?)?;
        inotify::notify_create(&dir, name, true);
        Ok(())
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
        permission::may_create(&ctx.creds, dir.inode().as_ref())?;
        let owner = NewOwner::new(&ctx.creds, &dir, false, mode)?;
        dir.inode()
            .make(name, NewFile::Node { file_type, rdev }, owner)?;
        owner.apply(&self.child(&dir, name)?)?;
        inotify::notify_create(&dir, name, false);
        Ok(())
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
        Self::open_path(path, libc::O_RDWR | libc::O_LARGEFILE, None)
    }

    pub fn symlink(&self, ctx: &LookupCtx, target: &[u8], linkpath: &[u8]) -> Result<(), Errno> {
        check_path(target)?;
        let (dir, name, trailing_slash) = self.lookup_parent(ctx, linkpath, Errno::EEXIST)?;
        self.check_absent(&dir, name)?;
        if trailing_slash {
            return Err(Errno::ENOENT);
        }
        Self::check_writable(&dir)?;
        permission::may_create(&ctx.creds, dir.inode().as_ref())?;
        let owner = NewOwner::new(&ctx.creds, &dir, false, 0o777)?;
        dir.inode().make(name, NewFile::Symlink { target }, owner)?;
        owner.apply(&self.child(&dir, name)?)?;
        inotify::notify_create(&dir, name, false);
        Ok(())
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
        self.link_path(&source, new_ctx, new)
    }

    /// linkat of an already resolved `source` (AT_EMPTY_PATH: the dirfd's own file, which may
    /// be an O_TMPFILE file getting its first name).
    pub fn link_path(
        &self,
        source: &VfsPath,
        new_ctx: &LookupCtx,
        new: &[u8],
    ) -> Result<(), Errno> {
        let (dir, name, trailing_slash) = self.lookup_parent(new_ctx, new, Errno::EEXIST)?;
        // Linux's order: the new name's errors, the mounts, permissions, then the type.
        self.check_absent(&dir, name)?;
        if trailing_slash {
            return Err(Errno::ENOENT);
        }
        Self::check_writable(&dir)?;
        if !Arc::ptr_eq(source.mount(), dir.mount()) {
            return Err(Errno::EXDEV);
        }
        permission::may_create(&new_ctx.creds, dir.inode().as_ref())?;
        if source.is_dir() {
            return Err(Errno::EPERM);
        }
        dir.inode().link(name, source.inode())?;
        inotify::notify_link_count(source.inode());
        inotify::notify_create(&dir, name, false);
        Ok(())
    }

    fn check_absent(&self, dir: &VfsPath, name: &[u8]) -> Result<(), Errno> {
        match self.child(dir, name) {
            Ok(_) => Err(Errno::EEXIST),
            Err(Errno::ENOENT) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// unlink/unlinkat. Errors come in Linux's order: a read-only filesystem before the name is
    /// looked up, a trailing slash before permissions, permissions before the file's type.
    pub fn unlink(&self, ctx: &LookupCtx, path: &[u8]) -> Result<(), Errno> {
        let (dir, name, trailing_slash) = self.lookup_parent(ctx, path, Errno::EISDIR)?;
        Self::check_writable(&dir)?;
        let victim = self.child(&dir, name)?;
        if trailing_slash {
            return Err(if victim.is_dir() {
                Errno::EISDIR
            } else {
                Errno::ENOTDIR
            });
        }
        permission::may_delete(&ctx.creds, dir.inode().as_ref(), victim.inode().as_ref())?;
        if victim.is_dir() {
            return Err(Errno::EISDIR);
        }
        dir.inode().unlink(name)?;
        self.forget(dir.dentry().forget_child(name));
        inotify::notify_remove(&dir, name, victim);
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
        // As unlink: read-only first, then the lookup, permissions, and the type.
        Self::check_writable(&dir)?;
        let victim = self.child(&dir, name)?;
        permission::may_delete(&ctx.creds, dir.inode().as_ref(), victim.inode().as_ref())?;
        if !victim.is_dir() {
            return Err(Errno::ENOTDIR);
        }
        if self.is_mountpoint(&victim) {
            return Err(Errno::EBUSY);
        }
        dir.inode().rmdir(name)?;
        self.forget(dir.dentry().forget_child(name));
        inotify::notify_remove(&dir, name, victim);
        Ok(())
    }

    /// rename/renameat2; `flags` may hold RENAME_NOREPLACE, RENAME_EXCHANGE (both names must
    /// exist; they swap) or RENAME_WHITEOUT (a whiteout is left at the old name; the caller
    /// checked CAP_MKNOD). Errors come in Linux's order: crossing mounts and a read-only
    /// filesystem before the names are looked up; a trailing slash on a non-directory, moving a
    /// directory under itself and an existing name under NOREPLACE before permissions;
    /// permissions before the types of source and target and before busy mount points.
    pub fn rename(
        &self,
        old_ctx: &LookupCtx,
        old: &[u8],
        new_ctx: &LookupCtx,
        new: &[u8],
        flags: u32,
    ) -> Result<(), Errno> {
        let known = libc::RENAME_NOREPLACE | libc::RENAME_EXCHANGE | libc::RENAME_WHITEOUT;
        let exchange = flags & libc::RENAME_EXCHANGE != 0;
        if flags & !known != 0
            || (exchange && flags & (libc::RENAME_NOREPLACE | libc::RENAME_WHITEOUT) != 0)
        {
            return Err(Errno::EINVAL);
        }
        let (old_dir, old_name, old_slash) = self.lookup_parent(old_ctx, old, Errno::EBUSY)?;
        let (new_dir, new_name, new_slash) = self.lookup_parent(new_ctx, new, Errno::EBUSY)?;
        if !Arc::ptr_eq(old_dir.mount(), new_dir.mount()) {
            return Err(Errno::EXDEV);
        }
        Self::check_writable(&old_dir)?;
        let source = self.child(&old_dir, old_name)?;
        if (old_slash || new_slash) && !source.is_dir() && !exchange {
            return Err(Errno::ENOTDIR);
        }
        if source.is_dir() && new_dir.dentry().is_descendant_of(source.dentry()) {
            return Err(Errno::EINVAL);
        }
        let target = match self.child(&new_dir, new_name) {
            Ok(_) if flags & libc::RENAME_NOREPLACE != 0 => return Err(Errno::EEXIST),
            Ok(target) => {
                if exchange {
                    if (old_slash || new_slash) && !(source.is_dir() && target.is_dir()) {
                        return Err(Errno::ENOTDIR);
                    }
                    if target.is_dir() && old_dir.dentry().is_descendant_of(target.dentry()) {
                        return Err(Errno::EINVAL);
                    }
                } else if old_dir.dentry().is_descendant_of(target.dentry()) {
                    return Err(Errno::ENOTEMPTY);
                }
                if Arc::ptr_eq(target.dentry(), source.dentry())
                    || target.inode().ino() == source.inode().ino()
                {
                    return Ok(());
                }
                Some(target)
            }
            Err(Errno::ENOENT) if exchange => return Err(Errno::ENOENT),
            Err(Errno::ENOENT) => None,
            Err(e) => return Err(e),
        };
        let renaming = Renaming {
            old_dir: &old_dir,
            source: &source,
            new_dir: &new_dir,
            target: target.as_ref(),
            exchange,
        };
        renaming.permitted(&old_ctx.creds)?;
        if self.is_mountpoint(&source) || target.as_ref().is_some_and(|t| self.is_mountpoint(t)) {
            return Err(Errno::EBUSY);
        }
        if let (true, Some(target)) = (exchange, &target) {
            old_dir
                .inode()
                .exchange(old_name, new_dir.inode(), new_name)?;
            old_dir
                .dentry()
                .exchange_children(old_name, new_dir.dentry(), new_name);
            inotify::notify_rename(&old_dir, old_name, &new_dir, new_name, source.inode(), None);
            inotify::notify_rename(&new_dir, new_name, &old_dir, old_name, target.inode(), None);
            return Ok(());
        }
        let whiteout = flags & libc::RENAME_WHITEOUT != 0;
        if whiteout && !old_dir.inode().supports_whiteout() {
            return Err(Errno::EINVAL);
        }
        old_dir
            .inode()
            .rename(old_name, new_dir.inode(), new_name)?;
        let replaced = old_dir
            .dentry()
            .move_child(old_name, new_dir.dentry(), new_name);
        self.forget(replaced);
        inotify::notify_rename(
            &old_dir,
            old_name,
            &new_dir,
            new_name,
            source.inode(),
            target,
        );
        if whiteout {
            old_dir.inode().whiteout(old_name)?;
        }
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
        Self::chmod_path(&ctx.creds, &target, mode)
    }

    /// chmod of a resolved path (fchmod): the owner's or CAP_FOWNER's.
    pub fn chmod_path(creds: &Credentials, target: &VfsPath, mode: u32) -> Result<(), Errno> {
        Self::check_writable(target)?;
        let mode = permission::chmod_mode(creds, Perm::of(target.inode().as_ref())?, mode)?;
        Self::set_attr(
            target,
            &SetAttr {
                mode: Some(mode),
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
        Self::check_writable(&target)?;
        let perm = Perm::of(target.inode().as_ref())?;
        permission::generic_permission(&ctx.creds, perm, MAY_WRITE)?;
        Self::set_attr(
            &target,
            &SetAttr {
                size: Some(len),
                mode: permission::mode_after_write(&ctx.creds, perm),
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
        Self::utimens_as(&ctx.creds, &target, times)
    }

    /// utimens of a resolved path by `creds` (futimens): explicit times are the owner's (or
    /// CAP_FOWNER's) to set; "now" also anyone's who may write the file.
    pub fn utimens_as(
        creds: &Credentials,
        target: &VfsPath,
        times: Option<[Timespec; 2]>,
    ) -> Result<(), Errno> {
        let nsecs = times.map(|t| t.map(|t| t.tv_nsec));
        if let Some(nsecs) = nsecs {
            let valid = |n: i64| matches!(n, libc::UTIME_OMIT | libc::UTIME_NOW | 0..=999_999_999);
            if !nsecs.into_iter().all(valid) {
                return Err(Errno::EINVAL);
            }
            if nsecs == [libc::UTIME_OMIT; 2] {
                return Ok(());
            }
        }
        let explicit = nsecs.is_some_and(|n| n != [libc::UTIME_NOW; 2]);
        Self::check_writable(target)?;
        permission::may_set_times(creds, target.inode().as_ref(), explicit)?;
        Self::utimens_path(target, times)
    }

    /// utimens of a resolved path, with no permission check (the caller made it).
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
        target.inode().set_attr(attr)?;
        inotify::notify(target, inotify::attr_change_mask(attr));
        Ok(())
    }

    /// access/faccessat: `mode` is F_OK or R_OK|W_OK|X_OK, checked for `ctx.creds` (which the
    /// caller made from the real ids unless AT_EACCESS): writes fail on read-only mounts, then
    /// the mode bits decide as for any other access.
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
        let mask = mode.cast_unsigned();
        if mask == 0 {
            return Ok(());
        }
        permission::check(&ctx.creds, target.inode().as_ref(), mask)
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

/// The owner and permission bits a file gets at creation; applied after the filesystem made
/// it when they differ from what it gave.
impl NewOwner {
    fn new(creds: &Credentials, dir: &VfsPath, is_dir: bool, mode: u32) -> Result<Self, Errno> {
        let dir = Perm::of(dir.inode().as_ref())?;
        let (uid, gid, mode) = permission::new_owner(creds, dir, is_dir, mode);
        Ok(NewOwner { uid, gid, mode })
    }

    fn apply(&self, created: &VfsPath) -> Result<(), Errno> {
        let stat = created.inode().stat()?;
        if (stat.st_uid, stat.st_gid) == (self.uid, self.gid) {
            return Ok(());
        }
        created.inode().set_attr(&SetAttr {
            uid: Some(self.uid),
            gid: Some(self.gid),
            ..SetAttr::default()
        })
    }
}

/// The two sides of a rename, for its permission checks.
struct Renaming<'a> {
    old_dir: &'a VfsPath,
    source: &'a VfsPath,
    new_dir: &'a VfsPath,
    target: Option<&'a VfsPath>,
    /// RENAME_EXCHANGE: the target moves to the source's place too.
    exchange: bool,
}

impl Renaming<'_> {
    /// Linux's may_delete of the source (and of a target being replaced or exchanged), or
    /// may_create where nothing is replaced; a plain rename between a directory and a
    /// non-directory fails on their types after that; a directory that changes parent needs
    /// write permission on itself (to update its "..").
    fn permitted(&self, creds: &Credentials) -> Result<(), Errno> {
        let old_dir = self.old_dir.inode();
        let new_dir = self.new_dir.inode();
        permission::may_delete(creds, old_dir.as_ref(), self.source.inode().as_ref())?;
        match self.target {
            Some(target) => {
                permission::may_delete(creds, new_dir.as_ref(), target.inode().as_ref())?;
                if !self.exchange {
                    match (self.source.is_dir(), target.is_dir()) {
                        (true, false) => return Err(Errno::ENOTDIR),
                        (false, true) => return Err(Errno::EISDIR),
                        _ => {}
                    }
                }
            }
            None => permission::may_create(creds, new_dir.as_ref())?,
        }
        if self.new_dir.same_as(self.old_dir) {
            return Ok(());
        }
        let moved = std::iter::once(self.source).chain(self.target.filter(|_| self.exchange));
        for dir in moved.filter(|path| path.is_dir()) {
            permission::check(creds, dir.inode().as_ref(), MAY_WRITE)?;
        }
        Ok(())
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
