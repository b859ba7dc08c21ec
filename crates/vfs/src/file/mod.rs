//! Open file descriptions: an offset, status flags and the file behind them.

mod dirent;
mod host;
mod inode_file;
mod reopen;

use std::sync::Arc;

use abi::{Errno, Stat, Statfs};
use parking_lot::Mutex;
use waiter::WaitQueue;

use crate::fs::{generic_seek, DirEntry};
use crate::lock::{self, Conflict, LockKey, LockKind, RecordOwner};
use crate::mount::VfsPath;
pub use host::ioctl_arg_len;
pub(crate) use host::pread_host;
pub(crate) use inode_file::InodeFile;
pub(crate) use reopen::file_node;

/// The file behind an open file description. Reads and writes that use the file offset get it
/// locked from the description; the defaults go through `pread`/`pwrite`.
pub trait FileOps: Send + Sync {
    fn stat(&self) -> Result<Stat, Errno>;

    fn pread(&self, _offset: u64, _buf: &mut [u8]) -> Result<usize, Errno> {
        Err(Errno::EINVAL)
    }
    fn pwrite(&self, _offset: u64, _buf: &[u8]) -> Result<usize, Errno> {
        Err(Errno::EINVAL)
    }
    /// read(2) at the file offset `pos`, advancing it.
    fn read(&self, pos: &mut u64, buf: &mut [u8]) -> Result<usize, Errno> {
        let n = self.pread(*pos, buf)?;
        *pos = pos.saturating_add(n as u64);
        Ok(n)
    }
    /// write(2) at the file offset `pos` (at the end first if `append`), advancing it.
    fn write(&self, pos: &mut u64, buf: &[u8], append: bool) -> Result<usize, Errno> {
        if append {
            *pos = u64::try_from(self.stat()?.st_size).unwrap_or(0);
        }
        let n = self.pwrite(*pos, buf)?;
        *pos = pos.saturating_add(n as u64);
        Ok(n)
    }
    fn seek(&self, pos: &mut u64, offset: i64, whence: i32) -> Result<u64, Errno> {
        let size = u64::try_from(self.stat()?.st_size).unwrap_or(0);
        generic_seek(pos, offset, whence, size)
    }
    /// The entries of a directory, without "." and "..".
    fn readdir(&self) -> Result<Vec<DirEntry>, Errno> {
        Err(Errno::ENOTDIR)
    }
    fn ioctl(&self, _cmd: u32, _arg: &mut [u8]) -> Result<u64, Errno> {
        Err(Errno::ENOTTY)
    }
    fn truncate(&self, _len: u64) -> Result<(), Errno> {
        Err(Errno::EINVAL)
    }
    fn fsync(&self) -> Result<(), Errno> {
        Ok(())
    }
    /// fallocate; the open file description has checked the mode, range and access.
    fn allocate(&self, _mode: i32, _offset: u64, _len: u64) -> Result<(), Errno> {
        Err(Errno::EOPNOTSUPP)
    }
    /// statfs of a file outside the VFS (host fds); VFS files answer from their mount.
    fn statfs(&self) -> Result<Statfs, Errno> {
        Err(Errno::ENOSYS)
    }
    /// The poll events of `mask` that are ready now. Files that never block are always
    /// readable and writable, as Linux reports regular files.
    fn readiness(&self, mask: u32) -> u32 {
        mask & (waiter::events::READABLE | waiter::events::WRITABLE)
    }
    /// Where to register to hear of readiness changes; `None` if readiness never changes.
    /// Shared, so that registrations may outlive a borrow of the file (epoll's watches).
    fn wait_queue(&self) -> Option<Arc<WaitQueue>> {
        None
    }
    /// The file as `Any`, for kernel file kinds that reach their own type behind an fd (an
    /// epoll instance for epoll_ctl); files nobody downcasts keep the default.
    fn as_any(&self) -> &dyn std::any::Any {
        &()
    }
}

/// The ioctl of a stream file that queues bytes (a pipe, a socket): FIONREAD answers `queued()`
/// as an int (capped at `i32::MAX`); every other command is ENOTTY.
pub fn queued_bytes_ioctl(
    cmd: u32,
    arg: &mut [u8],
    queued: impl FnOnce() -> usize,
) -> Result<u64, Errno> {
    if u64::from(cmd) != libc::FIONREAD {
        return Err(Errno::ENOTTY);
    }
    let queued = i32::try_from(queued()).unwrap_or(i32::MAX);
    let out = arg.get_mut(..4).ok_or(Errno::EFAULT)?;
    out.copy_from_slice(&queued.to_ne_bytes());
    Ok(0)
}

/// The status flags fcntl(F_SETFL) may change.
const SETTABLE_STATUS_FLAGS: i32 =
    libc::O_APPEND | libc::O_NONBLOCK | libc::O_ASYNC | libc::O_DIRECT | libc::O_NOATIME;

/// An open file description, shared by every fd dup'ed from it.
pub struct OpenFile {
    ops: Box<dyn FileOps>,
    path: Option<VfsPath>,
    /// The file offset; for directories, the index of the next entry in `dir_snapshot`.
    offset: Mutex<u64>,
    /// A directory's entries (with "." and ".."), read when reading starts at index 0: later
    /// reads index into this list, so that removing entries already returned (closing the fds
    /// of /proc/self/fd one by one, deleting files while listing) skips none of the rest, as
    /// Linux's stable directory offsets guarantee. Entries added or removed since are
    /// unspecified by POSIX until a rewind.
    dir_snapshot: Mutex<Option<Arc<[DirEntry]>>>,
    /// The O_* flags given at open, minus the creation flags, with F_SETFL changes.
    flags: Mutex<i32>,
    /// The file's lock key once this description took a lock: its flock and OFD locks are
    /// released when it is dropped.
    lock_key: Mutex<Option<LockKey>>,
}

impl OpenFile {
    pub(crate) fn new(ops: Box<dyn FileOps>, path: Option<VfsPath>, flags: i32) -> Arc<OpenFile> {
        let creation = libc::O_CREAT | libc::O_EXCL | libc::O_NOCTTY | libc::O_TRUNC;
        Arc::new(OpenFile {
            ops,
            path,
            offset: Mutex::new(0),
            dir_snapshot: Mutex::new(None),
            flags: Mutex::new(flags & !creation),
            lock_key: Mutex::new(None),
        })
    }

    /// A file over a host fd the Sentry was handed (the sandbox's stdio), with the access mode
    /// of the fd; never a file opened by name.
    pub fn host(fd: std::os::fd::OwnedFd) -> Result<Arc<OpenFile>, Errno> {
        let (ops, flags) = host::HostFile::new(fd)?;
        Ok(OpenFile::new(Box::new(ops), None, flags))
    }

    /// The poll events of `mask` that are ready now.
    pub fn readiness(&self, mask: u32) -> u32 {
        self.ops.readiness(mask)
    }

    /// Where to register to hear of readiness changes.
    pub fn wait_queue(&self) -> Option<Arc<WaitQueue>> {
        self.ops.wait_queue()
    }

    /// A file of a kind the VFS doesn't know (pipes, eventfds, epoll instances...) that the
    /// kernel makes: an open file description over `ops` with no path.
    pub fn anonymous(ops: Box<dyn FileOps>, flags: i32) -> Arc<OpenFile> {
        OpenFile::new(ops, None, flags)
    }

    /// The file's own operations, for kernel file kinds that need to reach their own type.
    pub fn ops(&self) -> &dyn FileOps {
        self.ops.as_ref()
    }

    /// Where the file was opened; `None` for host files.
    pub fn path(&self) -> Option<&VfsPath> {
        self.path.as_ref()
    }

    /// Opens this path-less file anew through a /proc/[pid]/fd link (see [`file_node`]): a
    /// pipe gets a new end, as a FIFO open does; a host file (the sandbox's stdio) a descriptor
    /// of its own; anything else (sockets, eventfds...) is ENXIO, as Linux for sockets.
    fn reopen(&self, flags: i32) -> Result<Box<dyn FileOps>, Errno> {
        let any = self.ops.as_any();
        if let Some(end) = any.downcast_ref::<crate::pipe::PipeEnd>() {
            return Ok(Box::new(end.pipe().reopen(flags)?));
        }
        if let Some(host) = any.downcast_ref::<host::HostFile>() {
            return Ok(Box::new(host.reopen()?));
        }
        Err(Errno::ENXIO)
    }

    /// The file's pages, for a shared mapping (mmap MAP_SHARED), if its filesystem keeps them
    /// in the sandbox's memory file (tmpfs, memfds); `None` otherwise.
    pub fn shared_pages(&self) -> Option<Arc<mm::FilePages>> {
        self.path.as_ref()?.inode().shared_pages()
    }

    /// The status flags and access mode, as F_GETFL returns them.
    pub fn status_flags(&self) -> i32 {
        *self.flags.lock()
    }

    /// F_SETFL: only O_APPEND, O_NONBLOCK, O_ASYNC, O_DIRECT and O_NOATIME change.
    pub fn set_status_flags(&self, flags: i32) {
        let mut current = self.flags.lock();
        *current = (*current & !SETTABLE_STATUS_FLAGS) | (flags & SETTABLE_STATUS_FLAGS);
    }

    fn is_path_only(&self) -> bool {
        self.status_flags() & libc::O_PATH != 0
    }

    pub fn readable(&self) -> bool {
        let flags = self.status_flags();
        flags & libc::O_PATH == 0
            && matches!(flags & libc::O_ACCMODE, libc::O_RDONLY | libc::O_RDWR)
    }

    pub fn writable(&self) -> bool {
        let flags = self.status_flags();
        flags & libc::O_PATH == 0
            && matches!(flags & libc::O_ACCMODE, libc::O_WRONLY | libc::O_RDWR)
    }

    fn is_dir(&self) -> bool {
        self.path.as_ref().is_some_and(VfsPath::is_dir)
    }

    pub fn read(&self, buf: &mut [u8]) -> Result<usize, Errno> {
        if !self.readable() {
            return Err(Errno::EBADF);
        }
        if self.is_dir() {
            return Err(Errno::EISDIR);
        }
        let mut offset = self.offset.lock();
        self.ops.read(&mut offset, buf)
    }

    pub fn write(&self, buf: &[u8]) -> Result<usize, Errno> {
        if !self.writable() {
            return Err(Errno::EBADF);
        }
        let append = self.status_flags() & libc::O_APPEND != 0;
        let mut offset = self.offset.lock();
        self.ops.write(&mut offset, buf, append)
    }

    pub fn pread(&self, buf: &mut [u8], offset: u64) -> Result<usize, Errno> {
        if !self.readable() {
            return Err(Errno::EBADF);
        }
        if self.is_dir() {
            return Err(Errno::EISDIR);
        }
        check_offset(offset)?;
        self.ops.pread(offset, buf)
    }

    /// pwrite; with O_APPEND the data goes to the end, as on Linux.
    pub fn pwrite(&self, buf: &[u8], offset: u64) -> Result<usize, Errno> {
        if !self.writable() {
            return Err(Errno::EBADF);
        }
        check_offset(offset)?;
        if self.status_flags() & libc::O_APPEND != 0 {
            let mut end = offset;
            return self.ops.write(&mut end, buf, true);
        }
        self.ops.pwrite(offset, buf)
    }

    /// lseek: SEEK_SET/SEEK_CUR/SEEK_END; ESPIPE where the file has no offset.
    pub fn seek(&self, offset: i64, whence: i32) -> Result<u64, Errno> {
        if self.is_path_only() {
            return Err(Errno::EBADF);
        }
        let mut pos = self.offset.lock();
        if self.is_dir() {
            // A directory offset is an entry index: rewinding and telling are what callers do.
            return match whence {
                libc::SEEK_SET | libc::SEEK_CUR => generic_seek(&mut pos, offset, whence, 0),
                _ => Err(Errno::EINVAL),
            };
        }
        self.ops.seek(&mut pos, offset, whence)
    }

    /// getdents64: as many `linux_dirent64` records as fit in `max_bytes`, starting with "."
    /// and ".."; EINVAL if not even the next one fits, empty at the end.
    pub fn getdents64(&self, max_bytes: usize) -> Result<Vec<u8>, Errno> {
        self.getdents_in(max_bytes, dirent::Format::Dirent64)
    }

    /// getdents: as getdents64, in the older `linux_dirent` layout.
    pub fn getdents(&self, max_bytes: usize) -> Result<Vec<u8>, Errno> {
        self.getdents_in(max_bytes, dirent::Format::Dirent)
    }

    fn getdents_in(&self, max_bytes: usize, format: dirent::Format) -> Result<Vec<u8>, Errno> {
        if self.is_path_only() {
            return Err(Errno::EBADF);
        }
        let path = self.path.as_ref().ok_or(Errno::ENOTDIR)?;
        if !path.is_dir() {
            return Err(Errno::ENOTDIR);
        }
        let mut index = self.offset.lock();
        let start = usize::try_from(*index).unwrap_or(usize::MAX);
        let entries = {
            let mut snapshot = self.dir_snapshot.lock();
            match &*snapshot {
                Some(entries) if start != 0 => Arc::clone(entries),
                _ => {
                    let entries = self.dir_entries(path)?;
                    *snapshot = Some(Arc::clone(&entries));
                    entries
                }
            }
        };
        let (records, consumed) =
            dirent::encode(entries.iter().skip(start), start, max_bytes, format)?;
        *index += consumed as u64;
        Ok(records)
    }

    /// The entries of the directory at `path`, "." and ".." first.
    fn dir_entries(&self, path: &VfsPath) -> Result<Arc<[DirEntry]>, Errno> {
        let mut entries = self.ops.readdir()?;
        let dotdot_ino = path
            .parent()
            .map_or(path.inode().ino(), |parent| parent.inode().ino());
        let dots =
            [(path.inode().ino(), &b"."[..]), (dotdot_ino, &b".."[..])].map(|(ino, name)| {
                DirEntry {
                    ino,
                    file_type: crate::fs::FileType::Directory,
                    name: name.to_vec(),
                }
            });
        entries.splice(0..0, dots);
        Ok(entries.into())
    }

    pub fn stat(&self) -> Result<Stat, Errno> {
        self.ops.stat()
    }

    /// ioctl: `arg` is the argument buffer the kernel copied in (and copies back out).
    pub fn ioctl(&self, cmd: u32, arg: &mut [u8]) -> Result<u64, Errno> {
        if self.is_path_only() {
            return Err(Errno::EBADF);
        }
        self.ops.ioctl(cmd, arg)
    }

    /// ftruncate: EINVAL unless open for writing.
    pub fn truncate(&self, len: u64) -> Result<(), Errno> {
        if !self.writable() {
            return Err(Errno::EINVAL);
        }
        check_offset(len)?;
        if let Some(path) = &self.path {
            if path.mount().fs().read_only() {
                return Err(Errno::EROFS);
            }
        }
        self.ops.truncate(len)
    }

    pub fn fsync(&self) -> Result<(), Errno> {
        if self.is_path_only() {
            return Err(Errno::EBADF);
        }
        self.ops.fsync()
    }

    pub fn statfs(&self) -> Result<Statfs, Errno> {
        match &self.path {
            Some(path) => path.mount().fs().statfs(),
            None => self.ops.statfs(),
        }
    }

    /// fallocate: `mode` is FALLOC_FL_* bits; checks as Linux's `vfs_fallocate` does, in its
    /// order, before the file's own `allocate`.
    pub fn allocate(&self, mode: i32, offset: i64, len: i64) -> Result<(), Errno> {
        let known = libc::FALLOC_FL_KEEP_SIZE
            | libc::FALLOC_FL_PUNCH_HOLE
            | libc::FALLOC_FL_COLLAPSE_RANGE
            | libc::FALLOC_FL_ZERO_RANGE
            | libc::FALLOC_FL_INSERT_RANGE
            | libc::FALLOC_FL_UNSHARE_RANGE;
        if offset < 0 || len <= 0 {
            return Err(Errno::EINVAL);
        }
        if mode & !known != 0 {
            return Err(Errno::EOPNOTSUPP);
        }
        let punch = mode & libc::FALLOC_FL_PUNCH_HOLE != 0;
        if punch && mode & libc::FALLOC_FL_KEEP_SIZE == 0 {
            return Err(Errno::EOPNOTSUPP);
        }
        if !self.writable() {
            return Err(Errno::EBADF);
        }
        if offset.checked_add(len).is_none() {
            return Err(Errno::EFBIG);
        }
        if let Some(path) = &self.path {
            if path.mount().fs().read_only() {
                return Err(Errno::EROFS);
            }
        }
        self.ops
            .allocate(mode, offset.cast_unsigned(), len.cast_unsigned())
    }

    /// The key locks know this file by.
    fn lock_key(&self) -> Result<LockKey, Errno> {
        let stat = self.ops.stat()?;
        Ok((stat.st_dev, stat.st_ino))
    }

    /// Marks this description as holding locks to release when dropped, and returns the key.
    fn take_lock_key(&self) -> Result<LockKey, Errno> {
        let key = self.lock_key()?;
        *self.lock_key.lock() = Some(key);
        Ok(key)
    }

    /// flock: `Some` takes (or converts to) a shared or exclusive lock held by this open file
    /// description, `None` releases it. EAGAIN (EWOULDBLOCK) on a conflict; the caller waits
    /// on [`lock::lock_queue`] for a blocking request.
    pub fn flock(self: &Arc<Self>, kind: Option<LockKind>) -> Result<(), Errno> {
        if self.is_path_only() {
            return Err(Errno::EBADF);
        }
        let key = self.take_lock_key()?;
        lock::flock(key, Arc::as_ptr(self).addr(), kind)
    }

    /// F_SETLK/F_OFD_SETLK over `[start, end]` (inclusive; `i64::MAX` for "to the end"):
    /// `Some` locks, `None` unlocks; EAGAIN on a conflict. The access mode must allow the
    /// kind of lock (EBADF).
    pub fn set_record_lock(
        &self,
        owner: &RecordOwner,
        kind: Option<LockKind>,
        start: i64,
        end: i64,
    ) -> Result<(), Errno> {
        match kind {
            Some(LockKind::Shared) if !self.readable() => return Err(Errno::EBADF),
            Some(LockKind::Exclusive) if !self.writable() => return Err(Errno::EBADF),
            _ if self.is_path_only() => return Err(Errno::EBADF),
            _ => {}
        }
        let key = self.take_lock_key()?;
        lock::set_record(key, owner, kind, start, end)
    }

    /// F_GETLK: the lock of another owner that would stop `owner` taking `kind` over
    /// `[start, end]`.
    pub fn test_record_lock(
        &self,
        owner: &RecordOwner,
        kind: LockKind,
        start: i64,
        end: i64,
    ) -> Result<Option<Conflict>, Errno> {
        if self.is_path_only() {
            return Err(Errno::EBADF);
        }
        Ok(lock::test_record(self.lock_key()?, owner, kind, start, end))
    }

    /// A process closed a descriptor of this file: its POSIX locks on the file go.
    pub fn release_record_locks(&self, owner: &RecordOwner) {
        if !lock::any_locks() {
            return;
        }
        if let Ok(key) = self.lock_key() {
            lock::release_records(key, owner.id());
        }
    }
}

impl Drop for OpenFile {
    fn drop(&mut self) {
        if let Some(key) = *self.lock_key.get_mut() {
            lock::release_open_file(key, std::ptr::from_ref(self).addr());
        }
    }
}

/// Offsets are `loff_t`: they must fit in an i64.
fn check_offset(offset: u64) -> Result<(), Errno> {
    if i64::try_from(offset).is_err() {
        return Err(Errno::EINVAL);
    }
    Ok(())
}
