//! Extended attributes: resolved to the file's inode, which stores them if its filesystem does
//! (a volume's `user.*` attributes, on the host through the Gofer). Filesystems without them
//! answer with the defaults of `vfs::Inode`: no attributes, and setting one is EOPNOTSUPP.
//! Files without a path (pipes, sockets) answer the same.

use std::sync::Arc;

use abi::Errno;
use vfs::Inode;

use super::{arg_i32, SyscallResult};
use crate::task::Task;

/// Longest attribute name Linux accepts (XATTR_NAME_MAX).
const XATTR_NAME_MAX: usize = 255;

/// Largest attribute value (and attribute list) Linux handles (XATTR_SIZE_MAX).
const XATTR_SIZE_MAX: u64 = 1 << 16;

/// The file an xattr call is about: `None` for an open file without a path.
type Target = Option<Arc<dyn Inode>>;

impl Task {
    /// The file of a path-based xattr call (following symlinks unless `l*`).
    fn xattr_path(&self, path: u64, follow: bool) -> Result<Target, Errno> {
        let path = self.read_path(path)?;
        let found = self.kernel.vfs.lookup(&self.lookup_ctx(), &path, follow)?;
        Ok(Some(Arc::clone(found.inode())))
    }

    /// The file of an fd-based xattr call.
    fn xattr_fd(&self, fd: u64) -> Result<Target, Errno> {
        let file = self.fds().get(fd)?;
        Ok(file.path().map(|path| Arc::clone(path.inode())))
    }
}

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

/// Copies `value` out to a buffer of `size` bytes at `addr` (size 0: only its length asked).
fn copy_value(task: &Task, value: &[u8], addr: u64, size: u64) -> SyscallResult {
    let len = value.len() as u64;
    if size == 0 {
        return Ok(len);
    }
    if len > size {
        return Err(Errno::ERANGE);
    }
    task.mm.copy_out(addr, value)?;
    Ok(len)
}

fn get(task: &Task, target: Target, a: &[u64; 6]) -> SyscallResult {
    let name = read_name(task, a[1])?;
    let value = target.ok_or(Errno::ENODATA)?.get_xattr(&name)?;
    copy_value(task, &value, a[2], a[3])
}

fn list(task: &Task, target: Target, a: &[u64; 6]) -> SyscallResult {
    let names = match target {
        Some(inode) => inode.list_xattrs()?,
        None => Vec::new(),
    };
    copy_value(task, &names, a[1], a[2])
}

fn set(task: &Task, target: Target, a: &[u64; 6]) -> SyscallResult {
    let name = read_name(task, a[1])?;
    if a[3] > XATTR_SIZE_MAX {
        return Err(Errno::E2BIG);
    }
    let mut value = vec![0; usize::try_from(a[3]).map_err(|_| Errno::E2BIG)?];
    task.mm.copy_in(a[2], &mut value)?;
    let inode = target.ok_or(Errno::EOPNOTSUPP)?;
    inode.set_xattr(&name, &value, arg_i32(a[4]))?;
    Ok(0)
}

fn remove(task: &Task, target: Target, a: &[u64; 6]) -> SyscallResult {
    let name = read_name(task, a[1])?;
    target.ok_or(Errno::ENODATA)?.remove_xattr(&name)?;
    Ok(0)
}

pub(super) fn getxattr(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    get(task, task.xattr_path(a[0], true)?, a)
}

pub(super) fn lgetxattr(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    get(task, task.xattr_path(a[0], false)?, a)
}

pub(super) fn fgetxattr(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    get(task, task.xattr_fd(a[0])?, a)
}

pub(super) fn listxattr(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    list(task, task.xattr_path(a[0], true)?, a)
}

pub(super) fn llistxattr(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    list(task, task.xattr_path(a[0], false)?, a)
}

pub(super) fn flistxattr(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    list(task, task.xattr_fd(a[0])?, a)
}

fn check_set_flags(flags: u64) -> Result<(), Errno> {
    if arg_i32(flags) & !(libc::XATTR_CREATE | libc::XATTR_REPLACE) != 0 {
        return Err(Errno::EINVAL);
    }
    Ok(())
}

pub(super) fn setxattr(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    check_set_flags(a[4])?;
    set(task, task.xattr_path(a[0], true)?, a)
}

pub(super) fn lsetxattr(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    check_set_flags(a[4])?;
    set(task, task.xattr_path(a[0], false)?, a)
}

pub(super) fn fsetxattr(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    check_set_flags(a[4])?;
    set(task, task.xattr_fd(a[0])?, a)
}

pub(super) fn removexattr(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    remove(task, task.xattr_path(a[0], true)?, a)
}

pub(super) fn lremovexattr(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    remove(task, task.xattr_path(a[0], false)?, a)
}

pub(super) fn fremovexattr(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    remove(task, task.xattr_fd(a[0])?, a)
}
