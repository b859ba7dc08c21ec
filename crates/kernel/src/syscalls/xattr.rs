//! Extended attributes. No filesystem here stores them yet: the path (or fd) is resolved with
//! the usual errors, then a file simply has no attributes, and setting one is ENOTSUP.

use abi::Errno;

use super::{arg_i32, SyscallResult};
use crate::task::Task;

/// Longest attribute name Linux accepts (XATTR_NAME_MAX).
const XATTR_NAME_MAX: usize = 255;

impl Task {
    /// Resolves the path of a path-based xattr call (following symlinks unless `l*`) and checks
    /// the attribute name, so errors come in the order Linux gives them.
    fn xattr_target(&self, path: u64, name: Option<u64>, follow: bool) -> Result<(), Errno> {
        let path = self.read_path(path)?;
        self.kernel.vfs.lookup(&self.lookup_ctx(), &path, follow)?;
        if let Some(name) = name {
            check_name(self, name)?;
        }
        Ok(())
    }
}

fn check_name(task: &Task, name: u64) -> Result<(), Errno> {
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
    Ok(())
}

pub(super) fn getxattr(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    task.xattr_target(a[0], Some(a[1]), true)?;
    Err(Errno::ENODATA)
}

pub(super) fn lgetxattr(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    task.xattr_target(a[0], Some(a[1]), false)?;
    Err(Errno::ENODATA)
}

pub(super) fn fgetxattr(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    task.fds().get(a[0])?;
    check_name(task, a[1])?;
    Err(Errno::ENODATA)
}

pub(super) fn listxattr(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    task.xattr_target(a[0], None, true)?;
    Ok(0)
}

pub(super) fn llistxattr(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    task.xattr_target(a[0], None, false)?;
    Ok(0)
}

pub(super) fn flistxattr(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    task.fds().get(a[0])?;
    Ok(0)
}

fn check_set_flags(flags: u64) -> Result<(), Errno> {
    if arg_i32(flags) & !(libc::XATTR_CREATE | libc::XATTR_REPLACE) != 0 {
        return Err(Errno::EINVAL);
    }
    Ok(())
}

pub(super) fn setxattr(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    check_set_flags(a[4])?;
    task.xattr_target(a[0], Some(a[1]), true)?;
    Err(Errno::EOPNOTSUPP)
}

pub(super) fn lsetxattr(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    check_set_flags(a[4])?;
    task.xattr_target(a[0], Some(a[1]), false)?;
    Err(Errno::EOPNOTSUPP)
}

pub(super) fn fsetxattr(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    check_set_flags(a[4])?;
    task.fds().get(a[0])?;
    check_name(task, a[1])?;
    Err(Errno::EOPNOTSUPP)
}

pub(super) fn removexattr(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    task.xattr_target(a[0], Some(a[1]), true)?;
    Err(Errno::ENODATA)
}

pub(super) fn lremovexattr(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    task.xattr_target(a[0], Some(a[1]), false)?;
    Err(Errno::ENODATA)
}

pub(super) fn fremovexattr(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    task.fds().get(a[0])?;
    check_name(task, a[1])?;
    Err(Errno::ENODATA)
}
