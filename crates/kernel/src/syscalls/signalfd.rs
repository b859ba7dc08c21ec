//! signalfd, signalfd4.

use abi::Errno;

use super::{arg_i32, SyscallResult};
use crate::signalfd::{new_signalfd, SignalFd};
use crate::task::Task;

/// The kernel's sigset_t size, which `sizemask` must give.
const SIGSET_SIZE: u64 = 8;

pub(super) fn signalfd(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    make_signalfd(task, a[0], a[1], a[2], 0)
}

pub(super) fn signalfd4(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    make_signalfd(task, a[0], a[1], a[2], arg_i32(a[3]))
}

/// A new signalfd (`fd` -1) or a new mask for an existing one.
fn make_signalfd(task: &Task, fd: u64, mask_addr: u64, size: u64, flags: i32) -> SyscallResult {
    if flags & !(libc::SFD_CLOEXEC | libc::SFD_NONBLOCK) != 0 || size != SIGSET_SIZE {
        return Err(Errno::EINVAL);
    }
    let mask: u64 = task.mm.read_obj(mask_addr)?;
    if arg_i32(fd) != -1 {
        let file = task.fds().get(fd)?;
        let signalfd = file
            .ops()
            .as_any()
            .downcast_ref::<SignalFd>()
            .ok_or(Errno::EINVAL)?;
        signalfd.set_mask(mask);
        return Ok(fd);
    }
    let file = new_signalfd(task.tg(), mask, flags & libc::SFD_NONBLOCK);
    let limit = task.nofile_limit();
    let fd = task
        .fds()
        .install(file, flags & libc::SFD_CLOEXEC != 0, 0, limit)?;
    Ok(fd as u64)
}
