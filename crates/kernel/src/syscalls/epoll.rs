//! epoll_create, epoll_create1, epoll_ctl, epoll_wait, epoll_pwait, epoll_pwait2.

use std::sync::Arc;

use abi::Errno;
use vfs::OpenFile;
use zerocopy::IntoBytes;

use super::poll::{
    end_temporary_mask, install_temporary_mask, read_sigmask, timespec_deadline, wait_ready,
    WaitEnd,
};
use super::{arg_i32, SyscallResult};
use crate::deadline::{millis, Deadline};
use crate::epoll::{as_epoll, new_epoll, EpollEvent, EPOLLEXCLUSIVE, EPOLLONESHOT};
use crate::task::Task;

/// The most events one epoll_wait returns (Linux's EP_MAX_EVENTS).
const MAX_EVENTS: usize = i32::MAX as usize / std::mem::size_of::<EpollEvent>();

fn install(task: &Task, file: Arc<OpenFile>, cloexec: bool) -> SyscallResult {
    let limit = task.nofile_limit();
    Ok(task.fds().install(file, cloexec, 0, limit)? as u64)
}

pub(super) fn epoll_create(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    // The size hint is ignored but must be positive.
    if arg_i32(a[0]) <= 0 {
        return Err(Errno::EINVAL);
    }
    install(task, new_epoll(), false)
}

pub(super) fn epoll_create1(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let flags = arg_i32(a[0]);
    if flags & !libc::EPOLL_CLOEXEC != 0 {
        return Err(Errno::EINVAL);
    }
    install(task, new_epoll(), flags & libc::EPOLL_CLOEXEC != 0)
}

/// Whether epoll may watch `file`: Linux refuses files without a poll operation (regular
/// files, directories, /dev/null) with EPERM. Files of ours without a wait queue never change
/// readiness; those outside the VFS (the sandbox's host stdio) stand for pollable ones.
fn is_pollable(file: &OpenFile) -> bool {
    file.wait_queue().is_some() || file.path().is_none()
}

pub(super) fn epoll_ctl(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let op = arg_i32(a[1]);
    let fd = arg_i32(a[2]);
    // In Linux's order: the event (EFAULT), both fds (EBADF), pollability (EPERM), then the
    // arguments (EINVAL).
    let event = if op == libc::EPOLL_CTL_DEL {
        None
    } else {
        Some(task.mm.read_obj::<EpollEvent>(a[3])?)
    };
    let (epoll_file, target) = {
        let table = task.fds();
        (table.get(a[0])?, table.get(u64::from(fd.cast_unsigned()))?)
    };
    if !is_pollable(&target) {
        return Err(Errno::EPERM);
    }
    let epoll = as_epoll(&epoll_file).ok_or(Errno::EINVAL)?;
    if Arc::ptr_eq(&epoll_file, &target) {
        return Err(Errno::EINVAL);
    }
    if let Some(event) = event {
        let events = event.events;
        // EPOLLEXCLUSIVE goes only with ADD, without EPOLLONESHOT, and not on epoll fds.
        let exclusive_ok =
            op == libc::EPOLL_CTL_ADD && events & EPOLLONESHOT == 0 && as_epoll(&target).is_none();
        if events & EPOLLEXCLUSIVE != 0 && !exclusive_ok {
            return Err(Errno::EINVAL);
        }
    }
    match (op, event) {
        (libc::EPOLL_CTL_ADD, Some(event)) => {
            if let Some(inner) = as_epoll(&target) {
                if epoll.would_loop(inner) {
                    return Err(Errno::ELOOP);
                }
            }
            epoll.add(&target, fd, event)?;
        }
        (libc::EPOLL_CTL_MOD, Some(event)) => epoll.modify(&target, fd, event)?,
        (libc::EPOLL_CTL_DEL, None) => epoll.delete(&target, fd)?,
        _ => return Err(Errno::EINVAL),
    }
    Ok(0)
}

/// epoll_wait and its variants: waits for events, up to `max` of them, into `events_addr`.
/// A signal ends the wait with EINTR whatever SA_RESTART says (signal(7)).
fn do_epoll_wait(
    task: &Task,
    epfd: u64,
    events_addr: u64,
    max: u64,
    deadline: Deadline,
) -> SyscallResult {
    let max = usize::try_from(arg_i32(max))
        .ok()
        .filter(|&m| m > 0 && m <= MAX_EVENTS)
        .ok_or(Errno::EINVAL)?;
    let file = task.fds().get(epfd)?;
    let epoll = as_epoll(&file).ok_or(Errno::EINVAL)?;
    let queues = [(
        Arc::clone(epoll.queue()),
        waiter::events::ALWAYS | waiter::events::READABLE,
    )];
    let mut ready = Vec::new();
    let end = wait_ready(task, &queues, deadline, || {
        ready = epoll.collect(max);
        !ready.is_empty()
    });
    if end == WaitEnd::Interrupted {
        return Err(Errno::EINTR);
    }
    task.mm.copy_out(events_addr, ready.as_bytes())?;
    Ok(ready.len() as u64)
}

/// epoll_wait's millisecond timeout as a deadline (negative: forever).
fn ms_deadline(timeout: u64) -> Deadline {
    Deadline::within(millis(arg_i32(timeout)))
}

pub(super) fn epoll_wait(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    do_epoll_wait(task, a[0], a[1], a[2], ms_deadline(a[3]))
}

/// epoll_pwait and epoll_pwait2: the wait under a temporary signal mask.
fn epoll_wait_masked(task: &Task, a: &[u64; 6], deadline: Deadline) -> SyscallResult {
    let mask = read_sigmask(task, a[4], a[5])?;
    install_temporary_mask(task, mask);
    let result = do_epoll_wait(task, a[0], a[1], a[2], deadline);
    end_temporary_mask(task, result == Err(Errno::EINTR));
    result
}

pub(super) fn epoll_pwait(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    epoll_wait_masked(task, a, ms_deadline(a[3]))
}

pub(super) fn epoll_pwait2(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let deadline = timespec_deadline(task, a[3])?;
    epoll_wait_masked(task, a, deadline.unwrap_or(Deadline::Never))
}
