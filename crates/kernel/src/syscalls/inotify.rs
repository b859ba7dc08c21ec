//! inotify_init, inotify_init1, inotify_add_watch, inotify_rm_watch. The instances and the
//! events are the VFS's (`vfs::inotify`), generated where the Sentry changes files.

use abi::Errno;
use vfs::inotify::{Inotify, IN_DONT_FOLLOW};
use vfs::OpenFile;

use super::{arg_i32, arg_u32, SyscallResult, AT_FDCWD};
use crate::task::Task;

pub(super) fn inotify_init(task: &mut Task, _a: &[u64; 6]) -> SyscallResult {
    make_instance(task, 0)
}

pub(super) fn inotify_init1(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    make_instance(task, arg_i32(a[0]))
}

fn make_instance(task: &Task, flags: i32) -> SyscallResult {
    if flags & !(libc::IN_NONBLOCK | libc::IN_CLOEXEC) != 0 {
        return Err(Errno::EINVAL);
    }
    let file = OpenFile::anonymous(
        Box::new(Inotify::new()),
        libc::O_RDONLY | (flags & libc::IN_NONBLOCK),
    );
    let limit = task.nofile_limit();
    let fd = task
        .fds()
        .install(file, flags & libc::IN_CLOEXEC != 0, 0, limit)?;
    Ok(fd as u64)
}

/// Runs `op` on the inotify instance behind `fd`: EBADF for no file, EINVAL for another kind.
fn with_instance<T>(
    task: &Task,
    fd: u64,
    op: impl FnOnce(&Inotify) -> Result<T, Errno>,
) -> Result<T, Errno> {
    let file = task.fds().get(fd)?;
    let inotify = file
        .ops()
        .as_any()
        .downcast_ref::<Inotify>()
        .ok_or(Errno::EINVAL)?;
    op(inotify)
}

pub(super) fn inotify_add_watch(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    // The fd is checked before the path is resolved, as Linux does.
    with_instance(task, a[0], |_| Ok(()))?;
    let mask = arg_u32(a[2]);
    let (ctx, path) = task.at_path(AT_FDCWD, a[1])?;
    let target = task
        .kernel
        .vfs
        .lookup(&ctx, &path, mask & IN_DONT_FOLLOW == 0)?;
    let wd = with_instance(task, a[0], |inotify| inotify.add_watch(&target, mask))?;
    Ok(u64::from(wd.cast_unsigned()))
}

pub(super) fn inotify_rm_watch(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    with_instance(task, a[0], |inotify| inotify.rm_watch(arg_i32(a[1])))?;
    Ok(0)
}
