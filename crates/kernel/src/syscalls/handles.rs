//! name_to_handle_at and open_by_handle_at. No filesystem here exports file handles (Linux's
//! export operations), so encoding is EOPNOTSUPP and decoding ESTALE, after the argument
//! checks Linux makes first.

use abi::Errno;

use super::{arg_i32, is_at_fdcwd, SyscallResult};
use crate::task::Task;

/// CAP_DAC_READ_SEARCH: opening by handle bypasses the path's permissions.
const CAP_DAC_READ_SEARCH: u32 = 2;
/// The largest `handle_bytes` (MAX_HANDLE_SZ).
const MAX_HANDLE_SZ: u32 = 128;
const AT_HANDLE_MNT_ID_UNIQUE: i32 = 0x001;
const AT_HANDLE_CONNECTABLE: i32 = 0x002;
const AT_HANDLE_FID: i32 = 0x200;

/// name_to_handle_at(dirfd, path, handle, mount_id, flags): the file is resolved (so a
/// missing one is ENOENT), then its filesystem can't encode a handle.
pub(super) fn name_to_handle_at(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let flags = arg_i32(a[4]);
    let known = libc::AT_SYMLINK_FOLLOW
        | libc::AT_EMPTY_PATH
        | AT_HANDLE_FID
        | AT_HANDLE_MNT_ID_UNIQUE
        | AT_HANDLE_CONNECTABLE;
    let fid_and_connectable = AT_HANDLE_FID | AT_HANDLE_CONNECTABLE;
    if flags & !known != 0 || flags & fid_and_connectable == fid_and_connectable {
        return Err(Errno::EINVAL);
    }
    let path = task.mm.read_cstring(a[1], super::PATH_MAX)?;
    if path.is_empty() {
        if flags & libc::AT_EMPTY_PATH == 0 {
            return Err(Errno::ENOENT);
        }
        if !is_at_fdcwd(a[0]) {
            task.fds().get(a[0])?;
        }
    } else {
        let (ctx, path) = task.at_path(a[0], a[1])?;
        let follow = flags & libc::AT_SYMLINK_FOLLOW != 0;
        task.kernel.vfs.lookup(&ctx, &path, follow)?;
    }
    Err(Errno::EOPNOTSUPP)
}

/// open_by_handle_at(mount_fd, handle, flags): EBADF, EPERM without CAP_DAC_READ_SEARCH,
/// EINVAL for a malformed handle, then ESTALE: no filesystem decodes handles.
pub(super) fn open_by_handle_at(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    if !is_at_fdcwd(a[0]) {
        task.fds().get(a[0])?;
    }
    if !task.creds().capable(CAP_DAC_READ_SEARCH) {
        return Err(Errno::EPERM);
    }
    // struct file_handle { u32 handle_bytes; i32 handle_type; unsigned char f_handle[]; }
    let [handle_bytes, handle_type] = task.mm.read_obj::<[u32; 2]>(a[1])?;
    if handle_bytes == 0 || handle_bytes > MAX_HANDLE_SZ || handle_type.cast_signed() < 0 {
        return Err(Errno::EINVAL);
    }
    Err(Errno::ESTALE)
}
