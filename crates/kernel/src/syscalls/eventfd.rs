//! eventfd, eventfd2.

use abi::Errno;

use super::{arg_i32, arg_u32, SyscallResult};
use crate::task::Task;

/// EFD_SEMAPHORE: reads take 1 from the counter.
const EFD_SEMAPHORE: i32 = 1;

pub(super) fn eventfd(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    make_eventfd(task, arg_u32(a[0]), 0)
}

pub(super) fn eventfd2(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    make_eventfd(task, arg_u32(a[0]), arg_i32(a[1]))
}

fn make_eventfd(task: &Task, initial: u32, flags: i32) -> SyscallResult {
    if flags & !(EFD_SEMAPHORE | libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) != 0 {
        return Err(Errno::EINVAL);
    }
    let file = crate::eventfd::new_eventfd(
        u64::from(initial),
        flags & EFD_SEMAPHORE != 0,
        flags & libc::EFD_NONBLOCK,
    );
    let limit = task.nofile_limit();
    let fd = task
        .fds()
        .install(file, flags & libc::EFD_CLOEXEC != 0, 0, limit)?;
    Ok(fd as u64)
}
