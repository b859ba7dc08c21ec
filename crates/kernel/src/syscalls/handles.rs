//! name_to_handle_at and open_by_handle_at, for filesystems that export file handles (tmpfs,
//! as Linux's shmem); others answer EOPNOTSUPP to encode and ESTALE to decode, after the
//! argument checks Linux makes first.

use abi::Errno;
use vfs::VfsPath;

use super::{arg_i32, is_at_fdcwd, SyscallResult};
use crate::task::Task;

/// CAP_DAC_READ_SEARCH: opening by handle bypasses the path's permissions.
const CAP_DAC_READ_SEARCH: u32 = 2;
/// The largest `handle_bytes` (MAX_HANDLE_SZ).
const MAX_HANDLE_SZ: u32 = 128;
/// The handle type that says "too small a buffer" (FILEID_INVALID).
const FILEID_INVALID: i32 = 255;
const AT_HANDLE_MNT_ID_UNIQUE: i32 = 0x001;
const AT_HANDLE_CONNECTABLE: i32 = 0x002;
const AT_HANDLE_FID: i32 = 0x200;
/// `struct file_handle`'s fixed part: handle_bytes (u32), handle_type (i32).
const HEADER_LEN: u64 = 8;

impl Task {
    /// The place a (dirfd, path, AT_* flags) names, for name_to_handle_at.
    fn handle_target(&self, dirfd: u64, path_addr: u64, flags: i32) -> Result<VfsPath, Errno> {
        let path = self.mm.read_cstring(path_addr, super::PATH_MAX)?;
        if path.is_empty() {
            if flags & libc::AT_EMPTY_PATH == 0 {
                return Err(Errno::ENOENT);
            }
            if is_at_fdcwd(dirfd) {
                return Ok(self.fs.lock().cwd.clone());
            }
            return self
                .fds()
                .get(dirfd)?
                .path()
                .cloned()
                .ok_or(Errno::EOPNOTSUPP);
        }
        let (ctx, path) = self.at_path(dirfd, path_addr)?;
        let follow = flags & libc::AT_SYMLINK_FOLLOW != 0;
        self.kernel.vfs.lookup(&ctx, &path, follow)
    }
}

/// name_to_handle_at(dirfd, path, handle, mount_id, flags).
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
    let target = task.handle_target(a[0], a[1], flags)?;
    let (handle_type, handle) = target.mount().fs().encode_handle(target.inode())?;
    let [room, _] = task.mm.read_obj::<[u32; 2]>(a[2])?;
    if room > MAX_HANDLE_SZ {
        return Err(Errno::EINVAL);
    }
    let needed = u32::try_from(handle.len()).map_err(|_| Errno::EOVERFLOW)?;
    let fits = needed <= room;
    let mount_id = target.mount().id();
    if flags & AT_HANDLE_MNT_ID_UNIQUE != 0 {
        task.mm.write_obj(a[3], &mount_id)?;
    } else {
        task.mm
            .write_obj(a[3], &i32::try_from(mount_id).unwrap_or(i32::MAX))?;
    }
    let shown_type = if fits { handle_type } else { FILEID_INVALID };
    task.mm
        .write_obj(a[2], &[needed, shown_type.cast_unsigned()])?;
    if !fits {
        return Err(Errno::EOVERFLOW);
    }
    task.mm.copy_out(a[2] + HEADER_LEN, &handle)?;
    Ok(0)
}

/// open_by_handle_at(mount_fd, handle, flags): EBADF, EPERM without CAP_DAC_READ_SEARCH,
/// EINVAL for a malformed handle, ESTALE for one the filesystem can't find.
pub(super) fn open_by_handle_at(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let anchor = if is_at_fdcwd(a[0]) {
        task.fs.lock().cwd.clone()
    } else {
        let file = task.fds().get(a[0])?;
        file.path().cloned().ok_or(Errno::ESTALE)?
    };
    if !task.creds().capable(CAP_DAC_READ_SEARCH) {
        return Err(Errno::EPERM);
    }
    let [handle_bytes, handle_type] = task.mm.read_obj::<[u32; 2]>(a[1])?;
    let handle_type = handle_type.cast_signed();
    if handle_bytes == 0 || handle_bytes > MAX_HANDLE_SZ || handle_type < 0 {
        return Err(Errno::EINVAL);
    }
    let mut handle = vec![0u8; handle_bytes as usize];
    task.mm.copy_in(a[1] + HEADER_LEN, &mut handle)?;
    let flags = arg_i32(a[2]);
    let file = task
        .kernel
        .vfs
        .open_by_handle(anchor.mount(), handle_type, &handle, flags)?;
    let limit = task.nofile_limit();
    Ok(task
        .fds()
        .install(file, flags & libc::O_CLOEXEC != 0, 0, limit)? as u64)
}
