//! More file syscalls: ownership (chown family), fchmod, mknod, the older utime calls, space
//! allocation and the sync/advice family, and memfd_create.

use std::sync::Arc;

use abi::{Errno, Timespec};
use vfs::permission::CAP_CHOWN;
use vfs::pipe::PipeEnd;
use vfs::{FileType, OpenFile, SetAttr, Vfs, VfsPath};

use super::{arg_i32, arg_i64, arg_u32, SyscallResult, AT_FDCWD};
use crate::task::Task;

/// CAP_MKNOD.
const CAP_MKNOD: u32 = 27;

/// "Leave this id alone" in the chown family.
const UNCHANGED: u32 = u32::MAX;

impl Task {
    /// Resolves an *at syscall's (dirfd, path, flags) to a place: AT_EMPTY_PATH with "" is the
    /// dirfd's own file, AT_SYMLINK_NOFOLLOW leaves a final symlink alone.
    fn at_target(&self, dirfd: u64, path_addr: u64, flags: i32) -> Result<VfsPath, Errno> {
        if flags & !(libc::AT_SYMLINK_NOFOLLOW | libc::AT_EMPTY_PATH) != 0 {
            return Err(Errno::EINVAL);
        }
        let path = self.mm.read_cstring(path_addr, super::PATH_MAX)?;
        if path.is_empty() {
            if flags & libc::AT_EMPTY_PATH == 0 {
                return Err(Errno::ENOENT);
            }
            if super::is_at_fdcwd(dirfd) {
                return Ok(self.fs.lock().cwd.clone());
            }
            let file = self.fds().get(dirfd)?;
            return file_path(&file).cloned();
        }
        let ctx = if path.starts_with(b"/") {
            self.lookup_ctx()
        } else {
            self.lookup_ctx_at(dirfd)?
        };
        let follow = flags & libc::AT_SYMLINK_NOFOLLOW == 0;
        self.kernel.vfs.lookup(&ctx, &path, follow)
    }
}

/// The place an open file was opened at; EBADF for files outside the VFS (pipes, host fds).
fn file_path(file: &OpenFile) -> Result<&VfsPath, Errno> {
    file.path().ok_or(Errno::EBADF)
}

/// chown of a resolved place, with Linux's rules: changing the owner needs CAP_CHOWN; the
/// owner may change the group to one of its own groups; set-user-ID (and group-executable
/// set-group-ID) bits of a non-directory are cleared, which only the owner (or CAP_FOWNER) may.
fn chown_path(task: &Task, target: &VfsPath, uid: u32, gid: u32) -> SyscallResult {
    let stat = target.inode().stat()?;
    let creds = task.creds();
    let privileged = creds.capable(CAP_CHOWN);
    let uid = (uid != UNCHANGED).then_some(uid);
    let gid = (gid != UNCHANGED).then_some(gid);
    if !privileged {
        if uid.is_some_and(|u| u != stat.st_uid) {
            return Err(Errno::EPERM);
        }
        let in_group = |g: u32| g == creds.fsgid || creds.groups.contains(&g);
        if gid.is_some_and(|g| g != stat.st_gid && (creds.fsuid != stat.st_uid || !in_group(g))) {
            return Err(Errno::EPERM);
        }
        if (uid.is_some() || gid.is_some()) && creds.fsuid != stat.st_uid {
            return Err(Errno::EPERM);
        }
    }
    let mut mode = None;
    let perm = stat.st_mode & 0o7777;
    if stat.st_mode & libc::S_IFMT != libc::S_IFDIR {
        let mut cleared = perm & !libc::S_ISUID;
        if perm & libc::S_IXGRP != 0 {
            cleared &= !libc::S_ISGID;
        }
        if cleared != perm {
            mode = Some(cleared);
        }
    }
    // Clearing set-id bits is a chmod, even for chown(-1, -1): the owner's or CAP_FOWNER's
    // (Linux's setattr_prepare on the ATTR_MODE that ATTR_KILL_SUID turned into).
    if mode.is_some() && !task.fs_creds().owns_or_capable(stat.st_uid) {
        return Err(Errno::EPERM);
    }
    let attr = SetAttr {
        uid,
        gid,
        mode,
        ..SetAttr::default()
    };
    Vfs::set_attr(target, &attr).map(|()| 0)
}

pub(super) fn chown(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let target = task.at_target(AT_FDCWD, a[0], 0)?;
    chown_path(task, &target, arg_u32(a[1]), arg_u32(a[2]))
}

pub(super) fn lchown(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let target = task.at_target(AT_FDCWD, a[0], libc::AT_SYMLINK_NOFOLLOW)?;
    chown_path(task, &target, arg_u32(a[1]), arg_u32(a[2]))
}

pub(super) fn fchown(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let file = task.fds().get(a[0])?;
    chown_path(task, file_path(&file)?, arg_u32(a[1]), arg_u32(a[2]))
}

pub(super) fn fchownat(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let target = task.at_target(a[0], a[1], arg_i32(a[4]))?;
    chown_path(task, &target, arg_u32(a[2]), arg_u32(a[3]))
}

pub(super) fn fchmod(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let file = task.fds().get(a[0])?;
    if file.status_flags() & libc::O_PATH != 0 {
        return Err(Errno::EBADF);
    }
    Vfs::chmod_path(&task.fs_creds(), file_path(&file)?, arg_u32(a[1]) & 0o7777).map(|()| 0)
}

/// A blocking open of one side of a FIFO waits until the other side is opened (or was, since
/// this open began); a signal ends the wait with ERESTARTSYS, closing the half-open end.
pub(super) fn wait_for_fifo_peer(task: &Task, file: &OpenFile) -> Result<(), Errno> {
    let Some(end) = file.ops().as_any().downcast_ref::<PipeEnd>() else {
        return Ok(());
    };
    let queue = Arc::clone(end.pipe().wait_queue());
    while end.awaits_peer() {
        let waiter = Arc::clone(&task.handle.waiter);
        let _registration = queue.register(waiter.clone(), !0);
        waiter.clear();
        if !end.awaits_peer() {
            break;
        }
        if task.has_deliverable_signal() {
            return Err(abi::restart::ERESTARTSYS);
        }
        waiter.sleep(None);
    }
    Ok(())
}

fn mknod_at(task: &Task, dirfd: u64, path: u64, mode: u32, dev: u64) -> SyscallResult {
    let file_type = match mode & libc::S_IFMT {
        0 => FileType::Regular,
        libc::S_IFDIR => return Err(Errno::EPERM),
        fmt => FileType::from_mode(fmt).ok_or(Errno::EINVAL)?,
    };
    if matches!(file_type, FileType::CharDevice | FileType::BlockDevice)
        && !task.creds().capable(CAP_MKNOD)
    {
        return Err(Errno::EPERM);
    }
    let (ctx, path) = task.at_path(dirfd, path)?;
    let perm = mode & !task.fs.lock().umask & 0o7777;
    // The device number is the kernel's `new_decode_dev` of a 32-bit dev_t, as glibc's
    // makedev encodes it for mknod.
    let dev = u64::from(arg_u32(dev));
    task.kernel
        .vfs
        .mknod(&ctx, &path, file_type, perm, dev)
        .map(|()| 0)
}

pub(super) fn mknod(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    mknod_at(task, AT_FDCWD, a[0], arg_u32(a[1]), a[2])
}

pub(super) fn mknodat(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    mknod_at(task, a[0], a[1], arg_u32(a[2]), a[3])
}

/// `struct timeval`.
#[derive(Clone, Copy, zerocopy::FromBytes, zerocopy::Immutable, zerocopy::KnownLayout)]
#[repr(C)]
struct Timeval {
    sec: i64,
    usec: i64,
}

impl Timeval {
    fn to_timespec(self) -> Result<Timespec, Errno> {
        if !(0..1_000_000).contains(&self.usec) {
            return Err(Errno::EINVAL);
        }
        Ok(Timespec {
            tv_sec: self.sec,
            tv_nsec: self.usec * 1000,
        })
    }
}

/// utimes/futimesat: `times` points at two timevals (NULL: now).
fn utimes_at(task: &Task, dirfd: u64, path: u64, times: u64) -> SyscallResult {
    let times = if times == 0 {
        None
    } else {
        let [atime, mtime] = task.mm.read_obj::<[Timeval; 2]>(times)?;
        Some([atime.to_timespec()?, mtime.to_timespec()?])
    };
    let (ctx, path) = task.at_path(dirfd, path)?;
    task.kernel
        .vfs
        .utimens(&ctx, &path, times, true)
        .map(|()| 0)
}

pub(super) fn utimes(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    utimes_at(task, AT_FDCWD, a[0], a[1])
}

pub(super) fn futimesat(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    utimes_at(task, a[0], a[1], a[2])
}

/// utime: `struct utimbuf` holds whole seconds (NULL: now).
pub(super) fn utime(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let times = if a[1] == 0 {
        None
    } else {
        let [atime, mtime] = task.mm.read_obj::<[i64; 2]>(a[1])?;
        Some([atime, mtime].map(|tv_sec| Timespec { tv_sec, tv_nsec: 0 }))
    };
    let (ctx, path) = task.at_path(AT_FDCWD, a[0])?;
    task.kernel
        .vfs
        .utimens(&ctx, &path, times, true)
        .map(|()| 0)
}

pub(super) fn fallocate(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let file = task.fds().get(a[0])?;
    file.allocate(arg_i32(a[1]), arg_i64(a[2]), arg_i64(a[3]))
        .map(|()| 0)
}

/// Whether the file is a pipe or FIFO (ESPIPE for the advice calls).
fn is_fifo(file: &OpenFile) -> Result<bool, Errno> {
    Ok(file.stat()?.st_mode & libc::S_IFMT == libc::S_IFIFO)
}

/// fadvise64: the advice is checked and needs no action (file data lives in memory or on the
/// Gofer's side).
pub(super) fn fadvise64(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let file = task.fds().get(a[0])?;
    if is_fifo(&file)? {
        return Err(Errno::ESPIPE);
    }
    let advice = arg_i32(a[3]);
    if arg_i64(a[2]) < 0 || !(libc::POSIX_FADV_NORMAL..=libc::POSIX_FADV_NOREUSE).contains(&advice)
    {
        return Err(Errno::EINVAL);
    }
    Ok(0)
}

/// readahead: nothing to prefetch; EINVAL unless a readable regular file.
pub(super) fn readahead(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let file = task.fds().get(a[0])?;
    if !file.readable() {
        return Err(Errno::EBADF);
    }
    if file.stat()?.st_mode & libc::S_IFMT != libc::S_IFREG {
        return Err(Errno::EINVAL);
    }
    Ok(0)
}

/// sync: every filesystem's data is already where it goes (memory, or written through to
/// the Gofer).
pub(super) fn sync(_task: &mut Task, _a: &[u64; 6]) -> SyscallResult {
    Ok(0)
}

pub(super) fn syncfs(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    task.fds().get(a[0])?;
    Ok(0)
}

pub(super) fn sync_file_range(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let file = task.fds().get(a[0])?;
    let (offset, nbytes, flags) = (arg_i64(a[1]), arg_i64(a[2]), arg_u32(a[3]));
    let known = libc::SYNC_FILE_RANGE_WAIT_BEFORE
        | libc::SYNC_FILE_RANGE_WRITE
        | libc::SYNC_FILE_RANGE_WAIT_AFTER;
    if flags & !known != 0 || offset < 0 || nbytes < 0 || offset.checked_add(nbytes).is_none() {
        return Err(Errno::EINVAL);
    }
    let mode = file.stat()?.st_mode & libc::S_IFMT;
    if ![libc::S_IFREG, libc::S_IFDIR, libc::S_IFBLK, libc::S_IFLNK].contains(&mode) {
        return Err(Errno::ESPIPE);
    }
    Ok(0)
}

/// memfd_create flags: MFD_CLOEXEC, MFD_ALLOW_SEALING (MFD_HUGETLB: EINVAL, no huge pages).
const MFD_CLOEXEC: u32 = 0x1;
const MFD_ALLOW_SEALING: u32 = 0x2;
/// The longest memfd name, without "memfd:" and the NUL (Linux's MFD_NAME_MAX_LEN).
const MFD_NAME_MAX: usize = 249;

pub(super) fn memfd_create(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let flags = arg_u32(a[1]);
    if flags & !(MFD_CLOEXEC | MFD_ALLOW_SEALING) != 0 {
        return Err(Errno::EINVAL);
    }
    let name = task.mm.read_cstring(a[0], MFD_NAME_MAX + 1).map_err(|e| {
        if e == Errno::ENAMETOOLONG {
            Errno::EINVAL
        } else {
            e
        }
    })?;
    let file = task.kernel.vfs.memfd_create(&name)?;
    let limit = task.nofile_limit();
    Ok(task
        .fds()
        .install(file, flags & MFD_CLOEXEC != 0, 0, limit)? as u64)
}
