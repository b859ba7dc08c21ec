//! Extended attributes: the get/set/list/remove families (path, l* and f* variants). The
//! namespaces are checked here as Linux's `xattr_permission` does (trusted.* needs
//! CAP_SYS_ADMIN, user.* only on regular files and directories); filesystems store them (tmpfs
//! does; others answer EOPNOTSUPP).

use abi::Errno;
use vfs::{FileType, VfsPath};

use super::creds::CAP_SYS_ADMIN;
use super::{arg_i32, arg_len, SyscallResult};
use crate::task::Task;

/// Longest attribute name Linux accepts (XATTR_NAME_MAX).
const XATTR_NAME_MAX: usize = 255;
/// Largest value (XATTR_SIZE_MAX) and list (XATTR_LIST_MAX).
const XATTR_SIZE_MAX: usize = 65536;
const XATTR_LIST_MAX: usize = 65536;
const CAP_FOWNER: u32 = 3;

/// The namespaces Linux tmpfs stores.
const TRUSTED: &[u8] = b"trusted.";
const USER: &[u8] = b"user.";
const SECURITY: &[u8] = b"security.";

/// Which file a call is about: a path (followed unless l*) or a file descriptor.
#[derive(Clone, Copy)]
enum Target {
    Path { follow: bool },
    Fd,
}

impl Task {
    fn xattr_file(&self, target: Target, arg: u64) -> Result<VfsPath, Errno> {
        match target {
            Target::Path { follow } => {
                let path = self.read_path(arg)?;
                self.kernel.vfs.lookup(&self.lookup_ctx(), &path, follow)
            }
            Target::Fd => {
                let file = self.fds().get(arg)?;
                if file.status_flags() & libc::O_PATH != 0 {
                    return Err(Errno::EBADF);
                }
                file.path().cloned().ok_or(Errno::EOPNOTSUPP)
            }
        }
    }
}

/// Reads an attribute name: empty or too long is ERANGE.
fn read_name(task: &Task, name: u64) -> Result<Vec<u8>, Errno> {
    let name = task
        .mm
        .read_cstring(name, XATTR_NAME_MAX + 1)
        .map_err(|e| match e {
            Errno::ENAMETOOLONG => Errno::ERANGE,
            e => e,
        })?;
    if name.is_empty() {
        return Err(Errno::ERANGE);
    }
    Ok(name)
}

/// Whether the caller may read (`write` false) or change attribute `name` of `file`, and
/// whether the namespace exists: Linux's `xattr_permission`, then its handler lookup.
fn check_access(task: &Task, file: &VfsPath, name: &[u8], write: bool) -> Result<(), Errno> {
    let denied = if write { Errno::EPERM } else { Errno::ENODATA };
    let namespace = [TRUSTED, USER, SECURITY]
        .into_iter()
        .find(|prefix| name.starts_with(prefix))
        .ok_or(Errno::EOPNOTSUPP)?;
    if name.len() == namespace.len() {
        return Err(Errno::EINVAL);
    }
    if namespace == TRUSTED && !task.creds().capable(CAP_SYS_ADMIN) {
        return Err(denied);
    }
    if namespace == USER {
        let file_type = file.file_type();
        if !matches!(file_type, FileType::Regular | FileType::Directory) {
            return Err(denied);
        }
        if write && file_type == FileType::Directory {
            let stat = file.inode().stat()?;
            let creds = task.creds();
            if stat.st_mode & libc::S_ISVTX != 0
                && creds.fsuid != stat.st_uid
                && !creds.capable(CAP_FOWNER)
            {
                return Err(Errno::EPERM);
            }
        }
    }
    if write && file.mount().fs().read_only() {
        return Err(Errno::EROFS);
    }
    Ok(())
}

fn get(task: &Task, target: Target, a: &[u64; 6]) -> SyscallResult {
    let name = read_name(task, a[1])?;
    let file = task.xattr_file(target, a[0])?;
    check_access(task, &file, &name, false)?;
    let value = file.inode().getxattr(&name)?;
    let size = arg_len(a[3])?.min(XATTR_SIZE_MAX);
    if size == 0 {
        return Ok(value.len() as u64);
    }
    if value.len() > size {
        return Err(Errno::ERANGE);
    }
    task.mm.copy_out(a[2], &value)?;
    Ok(value.len() as u64)
}

fn set(task: &Task, target: Target, a: &[u64; 6]) -> SyscallResult {
    let flags = arg_i32(a[4]);
    if flags & !(libc::XATTR_CREATE | libc::XATTR_REPLACE) != 0 {
        return Err(Errno::EINVAL);
    }
    let name = read_name(task, a[1])?;
    let size = arg_len(a[3])?;
    if size > XATTR_SIZE_MAX {
        return Err(Errno::E2BIG);
    }
    let mut value = vec![0u8; size];
    task.mm.copy_in(a[2], &mut value)?;
    let file = task.xattr_file(target, a[0])?;
    check_access(task, &file, &name, true)?;
    file.inode().setxattr(&name, &value, flags)?;
    vfs::inotify::notify(&file, vfs::inotify::IN_ATTRIB);
    Ok(0)
}

fn list(task: &Task, target: Target, a: &[u64; 6]) -> SyscallResult {
    let file = task.xattr_file(target, a[0])?;
    let privileged = task.creds().capable(CAP_SYS_ADMIN);
    let mut names = Vec::new();
    for name in file.inode().listxattr()? {
        if name.starts_with(TRUSTED) && !privileged {
            continue;
        }
        names.extend_from_slice(&name);
        names.push(0);
    }
    let size = arg_len(a[2])?.min(XATTR_LIST_MAX);
    if size == 0 {
        return Ok(names.len() as u64);
    }
    if names.len() > size {
        return Err(Errno::ERANGE);
    }
    task.mm.copy_out(a[1], &names)?;
    Ok(names.len() as u64)
}

fn remove(task: &Task, target: Target, a: &[u64; 6]) -> SyscallResult {
    let name = read_name(task, a[1])?;
    let file = task.xattr_file(target, a[0])?;
    check_access(task, &file, &name, true)?;
    file.inode().removexattr(&name)?;
    vfs::inotify::notify(&file, vfs::inotify::IN_ATTRIB);
    Ok(0)
}

const FOLLOW: Target = Target::Path { follow: true };
const NOFOLLOW: Target = Target::Path { follow: false };

pub(super) fn getxattr(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    get(task, FOLLOW, a)
}

pub(super) fn lgetxattr(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    get(task, NOFOLLOW, a)
}

pub(super) fn fgetxattr(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    get(task, Target::Fd, a)
}

pub(super) fn listxattr(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    list(task, FOLLOW, a)
}

pub(super) fn llistxattr(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    list(task, NOFOLLOW, a)
}

pub(super) fn flistxattr(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    list(task, Target::Fd, a)
}

pub(super) fn setxattr(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    set(task, FOLLOW, a)
}

pub(super) fn lsetxattr(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    set(task, NOFOLLOW, a)
}

pub(super) fn fsetxattr(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    set(task, Target::Fd, a)
}

pub(super) fn removexattr(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    remove(task, FOLLOW, a)
}

pub(super) fn lremovexattr(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    remove(task, NOFOLLOW, a)
}

pub(super) fn fremovexattr(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    remove(task, Target::Fd, a)
}
