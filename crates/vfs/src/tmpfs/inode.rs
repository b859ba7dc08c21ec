//! tmpfs inodes: regular files, directories, symlinks and device nodes.

use std::any::Any;
use std::collections::BTreeMap;
use std::sync::Arc;

use abi::{Errno, Stat, Timespec};
use mm::{FilePages, PageQuota};
use parking_lot::{Mutex, MutexGuard};

use super::{DeviceOps, Shared};
use crate::file::FileOps;
use crate::fs::{DirEntry, FileType, Inode, SetAttr};
use crate::pipe::Pipe;
use crate::vfs::now;

/// Linux tmpfs counts this many bytes per directory entry in a directory's size.
const BOGO_DIRENT_SIZE: u64 = 20;

pub struct TmpfsInode {
    shared: Arc<Shared>,
    ino: u64,
    meta: Mutex<Meta>,
    body: Body,
}

struct Meta {
    /// Permission bits only; the type comes from the body.
    perm: u32,
    uid: u32,
    gid: u32,
    nlink: u64,
    atime: Timespec,
    mtime: Timespec,
    ctime: Timespec,
    /// An O_TMPFILE file that linkat may still give a name (Linux's I_LINKABLE).
    linkable: bool,
    /// Extended attributes (full name, value) in the order they were set, which listxattr
    /// keeps as Linux's tmpfs does; the kernel checks namespaces.
    xattrs: Vec<(Vec<u8>, Vec<u8>)>,
}

type Children = BTreeMap<Vec<u8>, Arc<TmpfsInode>>;

enum Body {
    /// A regular file's data lives in memory-file pages, which shared mappings map directly.
    Regular(Arc<FilePages>),
    Directory(Mutex<Children>),
    Symlink(Vec<u8>),
    Device {
        rdev: u64,
        ops: Arc<dyn DeviceOps>,
    },
    Fifo(Arc<Pipe>),
    /// A bound AF_UNIX socket's file: the socket is the net crate's, opaque here.
    Socket(Arc<dyn Any + Send + Sync>),
}

impl TmpfsInode {
    fn new(shared: &Arc<Shared>, perm: u32, nlink: u64, body: Body) -> Arc<TmpfsInode> {
        let now = now();
        Arc::new(TmpfsInode {
            shared: shared.clone(),
            ino: shared.next_ino(),
            meta: Mutex::new(Meta {
                perm: perm & 0o7777,
                uid: 0,
                gid: 0,
                nlink,
                atime: now,
                mtime: now,
                ctime: now,
                linkable: false,
                xattrs: Vec::new(),
            }),
            body,
        })
    }

    pub(super) fn new_dir(shared: &Arc<Shared>, perm: u32) -> Arc<TmpfsInode> {
        Self::new(
            shared,
            perm,
            2,
            Body::Directory(Mutex::new(BTreeMap::new())),
        )
    }

    /// The names from this directory down to the inode numbered `ino` (empty for this one).
    pub(super) fn path_to(&self, ino: u64) -> Option<Vec<Vec<u8>>> {
        if self.ino == ino {
            return Some(Vec::new());
        }
        let Body::Directory(children) = &self.body else {
            return None;
        };
        let children: Vec<(Vec<u8>, Arc<TmpfsInode>)> = children
            .lock()
            .iter()
            .map(|(name, child)| (name.clone(), child.clone()))
            .collect();
        for (name, child) in children {
            if let Some(mut rest) = child.path_to(ino) {
                rest.insert(0, name);
                return Some(rest);
            }
        }
        None
    }

    pub(super) fn shared(&self) -> &Shared {
        &self.shared
    }

    /// The body of a new, empty regular file: pages in the filesystem's memory file, charged to
    /// the filesystem.
    fn new_regular_body(&self) -> Body {
        let quota: Arc<dyn PageQuota> = self.shared.clone();
        Body::Regular(Arc::new(FilePages::new(
            Arc::clone(&self.shared.memory),
            quota,
        )))
    }

    /// The space the file takes, in 512-byte blocks as stat(2) counts: its pages holding data.
    fn blocks_512(&self) -> u64 {
        match &self.body {
            Body::Regular(pages) => pages.resident_pages() * (abi::PAGE_SIZE / 512),
            _ => self.size().div_ceil(512),
        }
    }

    fn children(&self) -> Result<MutexGuard<'_, Children>, Errno> {
        match &self.body {
            Body::Directory(children) => Ok(children.lock()),
            _ => Err(Errno::ENOTDIR),
        }
    }

    /// The children of this directory and of `other`, another one, locked in address order
    /// so that two renames between the same directories can't deadlock.
    fn children_with<'a>(
        &'a self,
        other: &'a TmpfsInode,
    ) -> Result<(MutexGuard<'a, Children>, MutexGuard<'a, Children>), Errno> {
        if std::ptr::from_ref(self) < std::ptr::from_ref(other) {
            let mine = self.children()?;
            Ok((mine, other.children()?))
        } else {
            let theirs = other.children()?;
            Ok((self.children()?, theirs))
        }
    }

    /// Inserts a new child, after checking the name is free.
    fn add_child(&self, name: &[u8], child: Arc<TmpfsInode>) -> Result<(), Errno> {
        let mut children = self.children()?;
        if children.contains_key(name) {
            return Err(Errno::EEXIST);
        }
        if child.file_type() == FileType::Directory {
            self.meta.lock().nlink += 1;
        }
        children.insert(name.to_vec(), child);
        self.touch_modified();
        Ok(())
    }

    /// Adds a character device node `name` with device number `rdev` (devfs).
    pub fn add_device(
        &self,
        name: &[u8],
        perm: u32,
        rdev: u64,
        ops: Arc<dyn DeviceOps>,
    ) -> Result<(), Errno> {
        self.add_child(
            name,
            Self::new(&self.shared, perm, 1, Body::Device { rdev, ops }),
        )
    }

    fn touch_modified(&self) {
        let now = now();
        let mut meta = self.meta.lock();
        meta.mtime = now;
        meta.ctime = now;
    }

    fn size(&self) -> u64 {
        match &self.body {
            Body::Regular(pages) => pages.size(),
            Body::Directory(children) => (children.lock().len() as u64 + 2) * BOGO_DIRENT_SIZE,
            Body::Symlink(target) => target.len() as u64,
            Body::Device { .. } | Body::Fifo(_) | Body::Socket(_) => 0,
        }
    }

    fn device(&self) -> Result<&Arc<dyn DeviceOps>, Errno> {
        match &self.body {
            Body::Device { ops, .. } => Ok(ops),
            _ => Err(Errno::EINVAL),
        }
    }

    /// `dir` as a tmpfs inode of this filesystem (EXDEV for another one), for the
    /// operations that take two directories.
    fn same_fs_dir(&self, dir: &Arc<dyn Inode>) -> Result<Arc<TmpfsInode>, Errno> {
        Self::from_inode(dir)
            .filter(|dir| Arc::ptr_eq(&dir.shared, &self.shared))
            .ok_or(Errno::EXDEV)
    }

    fn from_inode(inode: &Arc<dyn Inode>) -> Option<Arc<TmpfsInode>> {
        inode.clone().into_any().downcast::<TmpfsInode>().ok()
    }

    /// A subdirectory (and its "..") went away.
    fn drop_subdir_link(&self) {
        let mut meta = self.meta.lock();
        meta.nlink = meta.nlink.saturating_sub(1);
    }

    fn drop_link(&self) {
        let mut meta = self.meta.lock();
        meta.nlink = meta.nlink.saturating_sub(1);
        meta.ctime = now();
    }
}

/// An unlinked inode's end is reported when the last reference to it (link, open file, mapping)
/// is gone, as Linux's tmpfs reports IN_DELETE_SELF at eviction. (A regular file's pages give
/// their space back to the filesystem when its `FilePages` goes.)
impl Drop for TmpfsInode {
    fn drop(&mut self) {
        if self.meta.get_mut().nlink == 0 {
            let is_dir = matches!(self.body, Body::Directory(_));
            crate::inotify::notify_evicted(self.shared.dev, self.ino, is_dir);
        }
    }
}

impl Inode for TmpfsInode {
    fn ino(&self) -> u64 {
        self.ino
    }

    fn file_type(&self) -> FileType {
        match &self.body {
            Body::Regular(_) => FileType::Regular,
            Body::Directory(_) => FileType::Directory,
            Body::Symlink(_) => FileType::Symlink,
            Body::Device { .. } => FileType::CharDevice,
            Body::Fifo(_) => FileType::Fifo,
            Body::Socket(_) => FileType::Socket,
        }
    }

    fn stat(&self) -> Result<Stat, Errno> {
        let size = self.size();
        let meta = self.meta.lock();
        Ok(Stat {
            st_dev: self.shared.dev,
            st_ino: self.ino,
            st_nlink: meta.nlink,
            st_uid: meta.uid,
            st_gid: meta.gid,
            st_mode: self.file_type().mode_bits() | meta.perm,
            st_rdev: match &self.body {
                Body::Device { rdev, .. } => *rdev,
                _ => 0,
            },
            st_size: i64::try_from(size).unwrap_or(i64::MAX),
            st_blksize: 4096,
            st_blocks: i64::try_from(self.blocks_512()).unwrap_or(i64::MAX),
            st_atime: meta.atime,
            st_mtime: meta.mtime,
            st_ctime: meta.ctime,
            ..Stat::default()
        })
    }

    fn into_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync> {
        self
    }

    fn lookup(&self, name: &[u8]) -> Result<Arc<dyn Inode>, Errno> {
        let child = self.children()?.get(name).cloned().ok_or(Errno::ENOENT)?;
        Ok(child)
    }

    fn readdir(&self) -> Result<Vec<DirEntry>, Errno> {
        Ok(self
            .children()?
            .iter()
            .map(|(name, child)| DirEntry {
                ino: child.ino,
                file_type: child.file_type(),
                name: name.clone(),
            })
            .collect())
    }

    fn create(&self, name: &[u8], mode: u32) -> Result<Arc<dyn Inode>, Errno> {
        let file = Self::new(&self.shared, mode, 1, self.new_regular_body());
        self.add_child(name, file.clone())?;
        Ok(file)
    }

    fn mkdir(&self, name: &[u8], mode: u32) -> Result<(), Errno> {
        self.add_child(name, Self::new_dir(&self.shared, mode))
    }

    fn mknod(&self, name: &[u8], file_type: FileType, mode: u32, rdev: u64) -> Result<(), Errno> {
        let body = match file_type {
            FileType::Regular => self.new_regular_body(),
            FileType::Fifo => Body::Fifo(Pipe::new()),
            // Only devices the Sentry implements can be made: the node needs their behaviour.
            FileType::CharDevice => Body::Device {
                rdev,
                ops: crate::devfs::device(rdev).ok_or(Errno::EPERM)?,
            },
            _ => return Err(Errno::EPERM),
        };
        self.add_child(name, Self::new(&self.shared, mode, 1, body))
    }

    fn symlink(&self, name: &[u8], target: &[u8]) -> Result<(), Errno> {
        self.add_child(
            name,
            Self::new(&self.shared, 0o777, 1, Body::Symlink(target.to_vec())),
        )
    }

    fn link(&self, name: &[u8], target: &Arc<dyn Inode>) -> Result<(), Errno> {
        let target = Self::from_inode(target).ok_or(Errno::EXDEV)?;
        if !Arc::ptr_eq(&target.shared, &self.shared) {
            return Err(Errno::EXDEV);
        }
        if target.file_type() == FileType::Directory {
            return Err(Errno::EPERM);
        }
        {
            let mut meta = target.meta.lock();
            if meta.nlink == 0 && !meta.linkable {
                return Err(Errno::ENOENT);
            }
            meta.linkable = false;
            meta.nlink += 1;
            meta.ctime = now();
        }
        self.add_child(name, target.clone())
            .inspect_err(|_| target.drop_link())
    }

    fn unlink(&self, name: &[u8]) -> Result<(), Errno> {
        let mut children = self.children()?;
        let child = children.get(name).ok_or(Errno::ENOENT)?;
        if child.file_type() == FileType::Directory {
            return Err(Errno::EISDIR);
        }
        if let Some(child) = children.remove(name) {
            child.drop_link();
        }
        drop(children);
        self.touch_modified();
        Ok(())
    }

    fn rmdir(&self, name: &[u8]) -> Result<(), Errno> {
        let mut children = self.children()?;
        let child = children.get(name).ok_or(Errno::ENOENT)?;
        if !child.children()?.is_empty() {
            return Err(Errno::ENOTEMPTY);
        }
        if let Some(child) = children.remove(name) {
            child.meta.lock().nlink = 0;
        }
        drop(children);
        self.drop_subdir_link();
        let mut meta = self.meta.lock();
        meta.mtime = now();
        meta.ctime = meta.mtime;
        Ok(())
    }

    fn rename(
        &self,
        old_name: &[u8],
        new_dir: &Arc<dyn Inode>,
        new_name: &[u8],
    ) -> Result<(), Errno> {
        let new_dir = self.same_fs_dir(new_dir)?;
        let same_dir = std::ptr::eq(self, Arc::as_ptr(&new_dir));
        let (mut old_children, mut new_children) = if same_dir {
            (self.children()?, None)
        } else {
            let (old, new) = self.children_with(&new_dir)?;
            (old, Some(new))
        };
        let source = old_children.get(old_name).cloned().ok_or(Errno::ENOENT)?;
        let source_is_dir = source.file_type() == FileType::Directory;
        let target_children = new_children.as_deref_mut().unwrap_or(&mut *old_children);
        if let Some(target) = target_children.get(new_name) {
            match (source_is_dir, target.file_type() == FileType::Directory) {
                (true, false) => return Err(Errno::ENOTDIR),
                (false, true) => return Err(Errno::EISDIR),
                (true, true) if !target.children()?.is_empty() => return Err(Errno::ENOTEMPTY),
                _ => {}
            }
        }
        let replaced = target_children.insert(new_name.to_vec(), source.clone());
        let source_slot_emptied = !(same_dir && old_name == new_name);
        if source_slot_emptied {
            old_children.remove(old_name);
        }
        drop(new_children);
        drop(old_children);
        if let Some(replaced) = replaced {
            if replaced.file_type() == FileType::Directory {
                replaced.meta.lock().nlink = 0;
                new_dir.drop_subdir_link();
            } else {
                replaced.drop_link();
            }
        }
        if source_is_dir && !same_dir {
            self.drop_subdir_link();
            new_dir.meta.lock().nlink += 1;
        }
        source.meta.lock().ctime = now();
        self.touch_modified();
        new_dir.touch_modified();
        Ok(())
    }

    fn exchange(
        &self,
        old_name: &[u8],
        new_dir: &Arc<dyn Inode>,
        new_name: &[u8],
    ) -> Result<(), Errno> {
        let new_dir = self.same_fs_dir(new_dir)?;
        let same_dir = std::ptr::eq(self, Arc::as_ptr(&new_dir));
        let (first, second) = if same_dir {
            let mut children = self.children()?;
            let first = children.get(old_name).cloned().ok_or(Errno::ENOENT)?;
            let second = children.get(new_name).cloned().ok_or(Errno::ENOENT)?;
            children.insert(old_name.to_vec(), second.clone());
            children.insert(new_name.to_vec(), first.clone());
            (first, second)
        } else {
            let (mut old_children, mut new_children) = self.children_with(&new_dir)?;
            let first = old_children.get(old_name).cloned().ok_or(Errno::ENOENT)?;
            let second = new_children.get(new_name).cloned().ok_or(Errno::ENOENT)?;
            old_children.insert(old_name.to_vec(), second.clone());
            new_children.insert(new_name.to_vec(), first.clone());
            (first, second)
        };
        if !same_dir {
            // A directory moving to the other side takes its ".." link with it.
            let is_dir = |inode: &TmpfsInode| inode.file_type() == FileType::Directory;
            match (is_dir(&first), is_dir(&second)) {
                (true, false) => {
                    self.drop_subdir_link();
                    new_dir.meta.lock().nlink += 1;
                }
                (false, true) => {
                    new_dir.drop_subdir_link();
                    self.meta.lock().nlink += 1;
                }
                _ => {}
            }
        }
        let now = now();
        first.meta.lock().ctime = now;
        second.meta.lock().ctime = now;
        self.touch_modified();
        new_dir.touch_modified();
        Ok(())
    }

    fn supports_whiteout(&self) -> bool {
        true
    }

    fn whiteout(&self, name: &[u8]) -> Result<(), Errno> {
        let node = Self::new(
            &self.shared,
            0,
            1,
            Body::Device {
                rdev: 0,
                ops: Arc::new(Whiteout),
            },
        );
        self.add_child(name, node)
    }

    fn tmpfile(&self, mode: u32, linkable: bool) -> Result<Arc<dyn Inode>, Errno> {
        if self.file_type() != FileType::Directory {
            return Err(Errno::ENOTDIR);
        }
        let file = Self::new(&self.shared, mode, 0, self.new_regular_body());
        file.meta.lock().linkable = linkable;
        Ok(file)
    }

    fn getxattr(&self, name: &[u8]) -> Result<Vec<u8>, Errno> {
        let meta = self.meta.lock();
        let (_, value) = meta
            .xattrs
            .iter()
            .find(|(n, _)| n == name)
            .ok_or(Errno::ENODATA)?;
        Ok(value.clone())
    }

    fn setxattr(&self, name: &[u8], value: &[u8], flags: i32) -> Result<(), Errno> {
        let mut meta = self.meta.lock();
        match meta.xattrs.iter_mut().find(|(n, _)| n == name) {
            Some(_) if flags & libc::XATTR_CREATE != 0 => return Err(Errno::EEXIST),
            Some((_, old)) => *old = value.to_vec(),
            None if flags & libc::XATTR_REPLACE != 0 => return Err(Errno::ENODATA),
            None => meta.xattrs.push((name.to_vec(), value.to_vec())),
        }
        meta.ctime = now();
        Ok(())
    }

    fn listxattr(&self) -> Result<Vec<Vec<u8>>, Errno> {
        Ok(self
            .meta
            .lock()
            .xattrs
            .iter()
            .map(|(name, _)| name.clone())
            .collect())
    }

    fn removexattr(&self, name: &[u8]) -> Result<(), Errno> {
        let mut meta = self.meta.lock();
        let at = meta
            .xattrs
            .iter()
            .position(|(n, _)| n == name)
            .ok_or(Errno::ENODATA)?;
        meta.xattrs.remove(at);
        meta.ctime = now();
        Ok(())
    }

    fn bind_socket(
        &self,
        name: &[u8],
        mode: u32,
        socket: Arc<dyn Any + Send + Sync>,
    ) -> Result<(), Errno> {
        self.add_child(name, Self::new(&self.shared, mode, 1, Body::Socket(socket)))
    }

    fn bound_socket(&self) -> Option<Arc<dyn Any + Send + Sync>> {
        match &self.body {
            Body::Socket(socket) => Some(Arc::clone(socket)),
            _ => None,
        }
    }

    fn readlink(&self) -> Result<Vec<u8>, Errno> {
        match &self.body {
            Body::Symlink(target) => Ok(target.clone()),
            _ => Err(Errno::EINVAL),
        }
    }

    fn open(&self, _flags: i32) -> Result<Option<Box<dyn FileOps>>, Errno> {
        match &self.body {
            Body::Device { ops, .. } => ops.open()?,
            // Sockets are reached by connect(2), never opened (Linux's ENXIO).
            Body::Socket(_) => return Err(Errno::ENXIO),
            _ => {}
        }
        Ok(None)
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize, Errno> {
        match &self.body {
            Body::Regular(pages) => pages.read_at(offset, buf),
            Body::Directory(_) => Err(Errno::EISDIR),
            Body::Device { ops, .. } => ops.read(offset, buf),
            Body::Symlink(_) | Body::Fifo(_) | Body::Socket(_) => Err(Errno::EINVAL),
        }
    }

    fn write_at(&self, offset: u64, buf: &[u8]) -> Result<usize, Errno> {
        let pages = match &self.body {
            Body::Regular(pages) => pages,
            Body::Directory(_) => return Err(Errno::EISDIR),
            Body::Device { ops, .. } => return ops.write(offset, buf),
            Body::Symlink(_) | Body::Fifo(_) | Body::Socket(_) => return Err(Errno::EINVAL),
        };
        if buf.is_empty() {
            return Ok(0);
        }
        // As Linux, a write that doesn't fit writes what does, if anything.
        let written = pages.write_at(offset, buf)?;
        self.touch_modified();
        Ok(written)
    }

    fn seek(&self, pos: &mut u64, offset: i64, whence: i32) -> Result<u64, Errno> {
        match &self.body {
            Body::Device { ops, .. } => ops.seek(pos, offset, whence),
            _ => crate::fs::generic_seek(pos, offset, whence, self.size()),
        }
    }

    fn ioctl(&self, cmd: u32, arg: &mut [u8]) -> Result<u64, Errno> {
        self.device().map_err(|_| Errno::ENOTTY)?.ioctl(cmd, arg)
    }

    fn set_attr(&self, attr: &SetAttr) -> Result<(), Errno> {
        if let Some(size) = attr.size {
            let Body::Regular(pages) = &self.body else {
                return Err(Errno::EINVAL);
            };
            // Growing costs nothing until written: tmpfs files are sparse.
            pages.set_size(size);
            self.meta.lock().mtime = now();
        }
        let mut meta = self.meta.lock();
        if let Some(mode) = attr.mode {
            meta.perm = mode & 0o7777;
        }
        if let Some(uid) = attr.uid {
            meta.uid = uid;
        }
        if let Some(gid) = attr.gid {
            meta.gid = gid;
        }
        if let Some(atime) = attr.atime {
            meta.atime = atime;
        }
        if let Some(mtime) = attr.mtime {
            meta.mtime = mtime;
        }
        meta.ctime = now();
        Ok(())
    }

    /// tmpfs's fallocate, as Linux's shmem_fallocate: mode 0 allocates the range's pages
    /// (charging the filesystem) and grows the file, FALLOC_FL_KEEP_SIZE allocates without
    /// growing, FALLOC_FL_PUNCH_HOLE (with KEEP_SIZE) drops the pages of the range inside the
    /// file; the other modes are EOPNOTSUPP.
    fn allocate(&self, mode: i32, offset: u64, len: u64) -> Result<(), Errno> {
        let Body::Regular(pages) = &self.body else {
            return Err(Errno::ENODEV);
        };
        match mode {
            0 | libc::FALLOC_FL_KEEP_SIZE => {
                let grows = offset.saturating_add(len) > pages.size();
                pages.allocate(offset, len, mode == libc::FALLOC_FL_KEEP_SIZE)?;
                if grows && mode == 0 {
                    self.touch_modified();
                }
                Ok(())
            }
            m if m == libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE => {
                pages.punch(offset, len);
                self.touch_modified();
                Ok(())
            }
            _ => Err(Errno::EOPNOTSUPP),
        }
    }

    fn shared_pages(&self) -> Option<Arc<FilePages>> {
        match &self.body {
            Body::Regular(pages) => Some(Arc::clone(pages)),
            _ => None,
        }
    }

    fn reports_eviction(&self) -> bool {
        true
    }

    fn fifo(&self) -> Option<Arc<Pipe>> {
        match &self.body {
            Body::Fifo(pipe) => Some(Arc::clone(pipe)),
            _ => None,
        }
    }
}

/// The node a RENAME_WHITEOUT leaves (a 0/0 character device): opening it is ENXIO, as for
/// any device without a driver.
struct Whiteout;

impl DeviceOps for Whiteout {
    fn open(&self) -> Result<(), Errno> {
        Err(Errno::ENXIO)
    }
    fn read(&self, _offset: u64, _buf: &mut [u8]) -> Result<usize, Errno> {
        Err(Errno::ENXIO)
    }
    fn write(&self, _offset: u64, _buf: &[u8]) -> Result<usize, Errno> {
        Err(Errno::ENXIO)
    }
}
