//! Syscalls on paths: open, stat family, directories, links, permissions, cwd.

use abi::{Errno, Statx, Timespec};
use vfs::permission::{self, MAY_EXEC};
use vfs::{LookupCtx, Resolve, Vfs};
use zerocopy::FromBytes;

use super::{arg_i32, arg_i64, arg_len, arg_u32, is_at_fdcwd, SyscallResult, AT_FDCWD};
use crate::task::Task;

/// CAP_DAC_READ_SEARCH and CAP_MKNOD.
const CAP_DAC_READ_SEARCH: u32 = 2;
const CAP_MKNOD: u32 = 27;

impl Task {
    /// The lookup context and path for an *at syscall's (dirfd, path) pair.
    pub(super) fn at_path(
        &self,
        dirfd: u64,
        path_addr: u64,
    ) -> Result<(LookupCtx, Vec<u8>), Errno> {
        let path = self.read_path(path_addr)?;
        let ctx = if path.starts_with(b"/") {
            self.lookup_ctx()
        } else {
            self.lookup_ctx_at(dirfd)?
        };
        Ok((ctx, path))
    }

    fn vfs(&self) -> &Vfs {
        &self.kernel.vfs
    }

    fn do_open(&mut self, dirfd: u64, path_addr: u64, flags: i32, mode: u32) -> SyscallResult {
        self.do_open_resolve(dirfd, path_addr, flags, mode, Resolve::default())
    }

    fn do_open_resolve(
        &mut self,
        dirfd: u64,
        path_addr: u64,
        flags: i32,
        mode: u32,
        resolve: Resolve,
    ) -> SyscallResult {
        let (ctx, path) = if resolve.scoped() {
            // A scoped lookup starts at the dirfd even for an absolute path.
            (self.lookup_ctx_at(dirfd)?, self.read_path(path_addr)?)
        } else {
            self.at_path(dirfd, path_addr)?
        };
        let mode = mode & !self.fs.lock().umask & 0o7777;
        let mut file = self.vfs().open_resolve(&ctx, &path, flags, mode, resolve)?;
        if super::file::is_regular(&file) {
            crate::lease::break_for_open(self, &file, flags)?;
        }
        super::fs_ext::wait_for_fifo_peer(self, &file)?;
        if is_controlling_tty_node(&file) {
            file = self.open_controlling_terminal(flags)?;
        } else {
            self.terminal_opened(&file, flags);
        }
        let limit = self.nofile_limit();
        Ok(self
            .fds()
            .install(file, flags & libc::O_CLOEXEC != 0, 0, limit)? as u64)
    }

    /// stat of a (dirfd, path) with AT_* flags; AT_EMPTY_PATH with "" is the dirfd itself.
    fn do_stat(&self, dirfd: u64, path_addr: u64, flags: i32) -> Result<abi::Stat, Errno> {
        if flags & !(libc::AT_SYMLINK_NOFOLLOW | libc::AT_EMPTY_PATH | libc::AT_NO_AUTOMOUNT) != 0 {
            return Err(Errno::EINVAL);
        }
        let path = self.mm.read_cstring(path_addr, super::PATH_MAX)?;
        if path.is_empty() {
            if flags & libc::AT_EMPTY_PATH == 0 {
                return Err(Errno::ENOENT);
            }
            if is_at_fdcwd(dirfd) {
                return self.fs.lock().cwd.inode().stat();
            }
            return self.fds().get(dirfd)?.stat();
        }
        let ctx = if path.starts_with(b"/") {
            self.lookup_ctx()
        } else {
            self.lookup_ctx_at(dirfd)?
        };
        self.vfs()
            .stat(&ctx, &path, flags & libc::AT_SYMLINK_NOFOLLOW == 0)
    }

    fn write_stat(&self, dirfd: u64, path_addr: u64, buf: u64, flags: i32) -> SyscallResult {
        let stat = self.do_stat(dirfd, path_addr, flags)?;
        self.mm.write_obj(buf, &stat)?;
        Ok(0)
    }
}

/// Whether `file` is an open of /dev/tty (5, 0), which stands for the caller's controlling
/// terminal.
fn is_controlling_tty_node(file: &vfs::OpenFile) -> bool {
    file.path()
        .is_some_and(|p| p.file_type() == vfs::FileType::CharDevice)
        && file
            .stat()
            .is_ok_and(|st| st.st_rdev == vfs::devfs::makedev(5, 0))
}

pub(super) fn open(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    task.do_open(AT_FDCWD, a[0], arg_i32(a[1]), arg_u32(a[2]))
}

pub(super) fn openat(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    task.do_open(a[0], a[1], arg_i32(a[2]), arg_u32(a[3]))
}

/// openat2's `struct open_how`: flags, mode, resolve.
#[derive(Clone, Copy, zerocopy::FromBytes, zerocopy::Immutable, zerocopy::KnownLayout)]
#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

/// The open flags openat2 accepts (Linux's VALID_OPEN_FLAGS); others are EINVAL.
const VALID_OPEN_FLAGS: u64 = 0o3
    | 0o100 // O_CREAT
    | 0o200 // O_EXCL
    | 0o400 // O_NOCTTY
    | 0o1000 // O_TRUNC
    | 0o2000 // O_APPEND
    | 0o4000 // O_NONBLOCK
    | 0o4010000 // O_SYNC
    | 0o20000 // FASYNC
    | 0o40000 // O_DIRECT
    | 0o100000 // O_LARGEFILE
    | 0o200000 // O_DIRECTORY
    | 0o400000 // O_NOFOLLOW
    | 0o1000000 // O_NOATIME
    | 0o2000000 // O_CLOEXEC
    | 0o10000000 // O_PATH
    | 0o20000000; // __O_TMPFILE
const VALID_RESOLVE_FLAGS: u64 = libc::RESOLVE_NO_XDEV
    | libc::RESOLVE_NO_MAGICLINKS
    | libc::RESOLVE_NO_SYMLINKS
    | libc::RESOLVE_BENEATH
    | libc::RESOLVE_IN_ROOT
    | libc::RESOLVE_CACHED;
/// The first `struct open_how`'s size; larger ones must be zero past it.
const OPEN_HOW_SIZE_VER0: usize = 24;
const PAGE_SIZE: usize = 4096;

/// openat2(dirfd, path, how, size): open with the RESOLVE_* restrictions of `how`, checked
/// strictly (unknown flags and a mode without O_CREAT/O_TMPFILE are EINVAL). RESOLVE_CACHED
/// resolves as usual, except that creating or truncating is EAGAIN, as Linux when not cached.
pub(super) fn openat2(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let size = arg_len(a[3])?;
    if size < OPEN_HOW_SIZE_VER0 {
        return Err(Errno::EINVAL);
    }
    if size > PAGE_SIZE {
        return Err(Errno::E2BIG);
    }
    let mut raw = vec![0u8; size];
    task.mm.copy_in(a[2], &mut raw)?;
    if raw[OPEN_HOW_SIZE_VER0..].iter().any(|&b| b != 0) {
        return Err(Errno::E2BIG);
    }
    let how = OpenHow::read_from_bytes(&raw[..OPEN_HOW_SIZE_VER0]).map_err(|_| Errno::EINVAL)?;
    if how.flags & !VALID_OPEN_FLAGS != 0 || how.resolve & !VALID_RESOLVE_FLAGS != 0 {
        return Err(Errno::EINVAL);
    }
    let both_scopes = libc::RESOLVE_BENEATH | libc::RESOLVE_IN_ROOT;
    if how.resolve & both_scopes == both_scopes {
        return Err(Errno::EINVAL);
    }
    let flags = i32::try_from(how.flags).map_err(|_| Errno::EINVAL)?;
    let creates = flags & libc::O_CREAT != 0 || flags & libc::O_TMPFILE == libc::O_TMPFILE;
    if (creates && how.mode & !0o7777 != 0) || (!creates && how.mode != 0) {
        return Err(Errno::EINVAL);
    }
    let has = |bit: u64| how.resolve & bit != 0;
    if has(libc::RESOLVE_CACHED) && flags & (libc::O_TRUNC | libc::O_CREAT | 0o20000000) != 0 {
        return Err(Errno::EAGAIN);
    }
    let resolve = Resolve {
        no_xdev: has(libc::RESOLVE_NO_XDEV),
        no_magiclinks: has(libc::RESOLVE_NO_MAGICLINKS),
        no_symlinks: has(libc::RESOLVE_NO_SYMLINKS),
        beneath: has(libc::RESOLVE_BENEATH),
        in_root: has(libc::RESOLVE_IN_ROOT),
    };
    task.do_open_resolve(a[0], a[1], flags, arg_u32(how.mode), resolve)
}

pub(super) fn creat(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    task.do_open(
        AT_FDCWD,
        a[0],
        libc::O_CREAT | libc::O_WRONLY | libc::O_TRUNC,
        arg_u32(a[1]),
    )
}

pub(super) fn stat(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    task.write_stat(AT_FDCWD, a[0], a[1], 0)
}

pub(super) fn lstat(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    task.write_stat(AT_FDCWD, a[0], a[1], libc::AT_SYMLINK_NOFOLLOW)
}

pub(super) fn newfstatat(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    task.write_stat(a[0], a[1], a[2], arg_i32(a[3]))
}

pub(super) fn statx(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    // AT_STATX_* sync flags only say how fresh the answer must be; every answer here is.
    let sync_flags = libc::AT_STATX_FORCE_SYNC | libc::AT_STATX_DONT_SYNC;
    let stat = task.do_stat(a[0], a[1], arg_i32(a[2]) & !sync_flags)?;
    if arg_u32(a[3]) & libc::STATX__RESERVED.cast_unsigned() != 0 {
        return Err(Errno::EINVAL);
    }
    task.mm.write_obj(a[4], &Statx::from(&stat))?;
    Ok(0)
}

fn access_at(task: &Task, dirfd: u64, path: u64, mode: u64, flags: i32) -> SyscallResult {
    if flags & !(libc::AT_EACCESS | libc::AT_SYMLINK_NOFOLLOW | libc::AT_EMPTY_PATH) != 0 {
        return Err(Errno::EINVAL);
    }
    let (mut ctx, path) = task.at_path(dirfd, path)?;
    if flags & libc::AT_EACCESS == 0 {
        ctx.creds = task.creds().access_creds();
    }
    let follow = flags & libc::AT_SYMLINK_NOFOLLOW == 0;
    task.vfs()
        .access(&ctx, &path, arg_i32(mode), follow)
        .map(|()| 0)
}

pub(super) fn access(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    access_at(task, AT_FDCWD, a[0], a[1], 0)
}

pub(super) fn faccessat(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    access_at(task, a[0], a[1], a[2], 0)
}

pub(super) fn faccessat2(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    access_at(task, a[0], a[1], a[2], arg_i32(a[3]))
}

fn mkdir_at(task: &Task, dirfd: u64, path: u64, mode: u64) -> SyscallResult {
    let (ctx, path) = task.at_path(dirfd, path)?;
    let mode = arg_u32(mode) & !task.fs.lock().umask & 0o7777;
    task.vfs().mkdir(&ctx, &path, mode).map(|()| 0)
}

pub(super) fn mkdir(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    mkdir_at(task, AT_FDCWD, a[0], a[1])
}

pub(super) fn mkdirat(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    mkdir_at(task, a[0], a[1], a[2])
}

pub(super) fn rmdir(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let (ctx, path) = task.at_path(AT_FDCWD, a[0])?;
    task.vfs().rmdir(&ctx, &path).map(|()| 0)
}

pub(super) fn unlink(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let (ctx, path) = task.at_path(AT_FDCWD, a[0])?;
    task.vfs().unlink(&ctx, &path).map(|()| 0)
}

pub(super) fn unlinkat(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let flags = arg_i32(a[2]);
    if flags & !libc::AT_REMOVEDIR != 0 {
        return Err(Errno::EINVAL);
    }
    let (ctx, path) = task.at_path(a[0], a[1])?;
    if flags & libc::AT_REMOVEDIR != 0 {
        task.vfs().rmdir(&ctx, &path).map(|()| 0)
    } else {
        task.vfs().unlink(&ctx, &path).map(|()| 0)
    }
}

fn rename_at(
    task: &Task,
    olddir: u64,
    old: u64,
    newdir: u64,
    new: u64,
    flags: u64,
) -> SyscallResult {
    let flags = arg_u32(flags);
    if flags & libc::RENAME_WHITEOUT != 0 && !task.creds().capable(CAP_MKNOD) {
        return Err(Errno::EPERM);
    }
    let (old_ctx, old) = task.at_path(olddir, old)?;
    let (new_ctx, new) = task.at_path(newdir, new)?;
    task.vfs()
        .rename(&old_ctx, &old, &new_ctx, &new, flags)
        .map(|()| 0)
}

pub(super) fn rename(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    rename_at(task, AT_FDCWD, a[0], AT_FDCWD, a[1], 0)
}

pub(super) fn renameat(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    rename_at(task, a[0], a[1], a[2], a[3], 0)
}

pub(super) fn renameat2(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    rename_at(task, a[0], a[1], a[2], a[3], a[4])
}

fn link_at(task: &Task, olddir: u64, old: u64, newdir: u64, new: u64, flags: i32) -> SyscallResult {
    if flags & !(libc::AT_SYMLINK_FOLLOW | libc::AT_EMPTY_PATH) != 0 {
        return Err(Errno::EINVAL);
    }
    let old_path = task.mm.read_cstring(old, super::PATH_MAX)?;
    if old_path.is_empty() && flags & libc::AT_EMPTY_PATH != 0 {
        // The dirfd's own file (an O_TMPFILE file getting its name); Linux asks for
        // CAP_DAC_READ_SEARCH, as naming an open file bypasses the path's permissions.
        if !task.creds().capable(CAP_DAC_READ_SEARCH) {
            return Err(Errno::ENOENT);
        }
        let source = if is_at_fdcwd(olddir) {
            task.fs.lock().cwd.clone()
        } else {
            task.fds().get(olddir)?.path().ok_or(Errno::ENOENT)?.clone()
        };
        let (new_ctx, new) = task.at_path(newdir, new)?;
        return task.vfs().link_path(&source, &new_ctx, &new).map(|()| 0);
    }
    let (old_ctx, old) = task.at_path(olddir, old)?;
    let (new_ctx, new) = task.at_path(newdir, new)?;
    let follow = flags & libc::AT_SYMLINK_FOLLOW != 0;
    task.vfs()
        .link(&old_ctx, &old, &new_ctx, &new, follow)
        .map(|()| 0)
}

pub(super) fn link(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    link_at(task, AT_FDCWD, a[0], AT_FDCWD, a[1], 0)
}

pub(super) fn linkat(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    link_at(task, a[0], a[1], a[2], a[3], arg_i32(a[4]))
}

fn symlink_at(task: &Task, target: u64, dirfd: u64, path: u64) -> SyscallResult {
    let target = task.read_path(target)?;
    let (ctx, path) = task.at_path(dirfd, path)?;
    task.vfs().symlink(&ctx, &target, &path).map(|()| 0)
}

pub(super) fn symlink(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    symlink_at(task, a[0], AT_FDCWD, a[1])
}

pub(super) fn symlinkat(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    symlink_at(task, a[0], a[1], a[2])
}

fn readlink_at(task: &Task, dirfd: u64, path: u64, buf: u64, size: u64) -> SyscallResult {
    // bufsiz is an int: zero or negative is EINVAL.
    let size = usize::try_from(arg_i32(size))
        .ok()
        .filter(|&s| s > 0)
        .ok_or(Errno::EINVAL)?;
    let (ctx, path) = task.at_path(dirfd, path)?;
    let target = task.vfs().readlink(&ctx, &path)?;
    let n = target.len().min(size);
    task.mm.copy_out(buf, &target[..n])?;
    Ok(n as u64)
}

pub(super) fn readlink(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    readlink_at(task, AT_FDCWD, a[0], a[1], a[2])
}

pub(super) fn readlinkat(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    readlink_at(task, a[0], a[1], a[2], a[3])
}

fn chmod_at(task: &Task, dirfd: u64, path: u64, mode: u64) -> SyscallResult {
    let (ctx, path) = task.at_path(dirfd, path)?;
    task.vfs()
        .chmod(&ctx, &path, arg_u32(mode) & 0o7777)
        .map(|()| 0)
}

pub(super) fn chmod(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    chmod_at(task, AT_FDCWD, a[0], a[1])
}

pub(super) fn fchmodat(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    chmod_at(task, a[0], a[1], a[2])
}

pub(super) fn truncate(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    if arg_i64(a[1]) < 0 {
        return Err(Errno::EINVAL);
    }
    let (ctx, path) = task.at_path(AT_FDCWD, a[0])?;
    let stat = task.vfs().stat(&ctx, &path, true);
    if stat
        .as_ref()
        .is_ok_and(|st| super::file::truncate_too_big(task, st, a[1]))
    {
        return Err(super::file::file_too_big(task));
    }
    if let Ok(stat) = &stat {
        crate::lease::break_for_truncate(task, stat)?;
    }
    task.vfs().truncate(&ctx, &path, a[1]).map(|()| 0)
}

pub(super) fn utimensat(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let flags = arg_i32(a[3]);
    if flags & !(libc::AT_SYMLINK_NOFOLLOW | libc::AT_EMPTY_PATH) != 0 {
        return Err(Errno::EINVAL);
    }
    let times = if a[2] == 0 {
        None
    } else {
        Some(task.mm.read_obj::<[Timespec; 2]>(a[2])?)
    };
    // A NULL path is futimens: the file dirfd refers to.
    if a[1] == 0 {
        let file = task.fds().get(a[0])?;
        let path = file.path().ok_or(Errno::EBADF)?;
        return Vfs::utimens_as(&task.fs_creds(), path, times).map(|()| 0);
    }
    let (ctx, path) = task.at_path(a[0], a[1])?;
    let follow = flags & libc::AT_SYMLINK_NOFOLLOW == 0;
    task.vfs().utimens(&ctx, &path, times, follow).map(|()| 0)
}

pub(super) fn statfs(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let (ctx, path) = task.at_path(AT_FDCWD, a[0])?;
    let statfs = task.vfs().statfs(&ctx, &path)?;
    task.mm.write_obj(a[1], &statfs)?;
    Ok(0)
}

pub(super) fn getcwd(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let cwd = task.fs.lock().cwd.clone();
    let mut path = task.vfs().path_of(&cwd);
    path.push(0);
    if path.len() > arg_len(a[1])? {
        return Err(Errno::ERANGE);
    }
    task.mm.copy_out(a[0], &path)?;
    Ok(path.len() as u64)
}

pub(super) fn chdir(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let (ctx, path) = task.at_path(AT_FDCWD, a[0])?;
    let dir = task.vfs().lookup(&ctx, &path, true)?;
    if !dir.is_dir() {
        return Err(Errno::ENOTDIR);
    }
    permission::check(&ctx.creds, dir.inode().as_ref(), MAY_EXEC)?;
    task.fs.lock().cwd = dir;
    Ok(0)
}

pub(super) fn fchdir(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let file = task.fds().get(a[0])?;
    let dir = file.path().ok_or(Errno::ENOTDIR)?;
    if !dir.is_dir() {
        return Err(Errno::ENOTDIR);
    }
    permission::check(&task.fs_creds(), dir.inode().as_ref(), MAY_EXEC)?;
    task.fs.lock().cwd = dir.clone();
    Ok(0)
}

pub(super) fn umask(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let old = task.fs.lock().umask;
    task.fs.lock().umask = arg_u32(a[0]) & 0o777;
    Ok(u64::from(old))
}
