//! futex and robust lists.

use abi::{Errno, Timespec};

use super::{arg_i32, arg_u32, SyscallResult};
use crate::deadline::{duration_of, Deadline};
use crate::task::Task;

/// `struct robust_list_head` is three words.
const ROBUST_LIST_HEAD_SIZE: u64 = 24;

pub(super) fn set_robust_list(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    if a[1] != ROBUST_LIST_HEAD_SIZE {
        return Err(Errno::EINVAL);
    }
    task.robust_list = a[0];
    Ok(0)
}

pub(super) fn get_robust_list(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    if arg_i32(a[0]) != 0 && arg_i32(a[0]) != task.tid {
        return Err(Errno::ESRCH);
    }
    task.mm.write_obj(a[1], &task.robust_list)?;
    task.mm.write_obj(a[2], &ROBUST_LIST_HEAD_SIZE)?;
    Ok(0)
}

/// The futex word is 4-byte aligned, as Linux checks.
fn check_aligned(addr: u64) -> Result<(), Errno> {
    if !addr.is_multiple_of(4) {
        return Err(Errno::EINVAL);
    }
    Ok(())
}

/// A count argument (val or val2) as Linux reads it: an int, negatives meaning "all".
fn count(value: u64) -> usize {
    usize::try_from(arg_i32(value)).unwrap_or(usize::MAX)
}

pub(super) fn futex(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let raw_op = arg_i32(a[1]);
    let op = raw_op & !(libc::FUTEX_PRIVATE_FLAG | libc::FUTEX_CLOCK_REALTIME);
    let addr = a[0];
    match op {
        libc::FUTEX_WAIT | libc::FUTEX_WAIT_BITSET => {
            check_aligned(addr)?;
            let bitset = if op == libc::FUTEX_WAIT {
                u32::MAX
            } else {
                arg_u32(a[5])
            };
            if bitset == 0 {
                return Err(Errno::EINVAL);
            }
            // FUTEX_WAIT's timeout is relative; WAIT_BITSET's absolute (on the chosen clock).
            let deadline = if a[3] == 0 {
                Deadline::Never
            } else {
                let ts: Timespec = task.mm.read_obj(a[3])?;
                let d = duration_of(ts)?;
                if op == libc::FUTEX_WAIT {
                    Deadline::after(d)
                } else {
                    let clock = if raw_op & libc::FUTEX_CLOCK_REALTIME != 0 {
                        libc::CLOCK_REALTIME
                    } else {
                        libc::CLOCK_MONOTONIC
                    };
                    Deadline::when_clock_reads(d, duration_of(super::time::now(task, clock)?)?)
                }
            };
            futex_wait(task, addr, arg_u32(a[2]), bitset, deadline)
        }
        libc::FUTEX_WAKE | libc::FUTEX_WAKE_BITSET => {
            check_aligned(addr)?;
            let bitset = if op == libc::FUTEX_WAKE {
                u32::MAX
            } else {
                arg_u32(a[5])
            };
            if bitset == 0 {
                return Err(Errno::EINVAL);
            }
            Ok(task
                .kernel
                .futexes
                .wake(&task.mm, addr, count(a[2]), bitset) as u64)
        }
        libc::FUTEX_REQUEUE | libc::FUTEX_CMP_REQUEUE => {
            check_aligned(addr)?;
            check_aligned(a[4])?;
            if op == libc::FUTEX_CMP_REQUEUE {
                let current: u32 = task.mm.read_obj(addr)?;
                if current != arg_u32(a[5]) {
                    return Err(Errno::EAGAIN);
                }
            }
            // val2 (the requeue count) travels in the timeout register.
            let n = task
                .kernel
                .futexes
                .requeue(&task.mm, addr, a[4], count(a[2]), count(a[3]));
            Ok(n as u64)
        }
        _ => Err(Errno::ENOSYS),
    }
}

/// Sleeps on the futex at `addr` while it holds `expected`, until woken, timed out, or
/// interrupted by a signal.
fn futex_wait(
    task: &Task,
    addr: u64,
    expected: u32,
    bitset: u32,
    deadline: Deadline,
) -> SyscallResult {
    let waiter = std::sync::Arc::clone(&task.handle.waiter);
    waiter.clear();
    let queued = task
        .kernel
        .futexes
        .enqueue(&task.mm, addr, bitset, &waiter, || {
            task.mm.read_obj::<u32>(addr).map(|v| v == expected)
        })?;
    let Some(wait) = queued else {
        return Err(Errno::EAGAIN);
    };
    loop {
        if wait.woken() {
            return Ok(0);
        }
        if task.has_deliverable_signal() {
            return Err(abi::restart::ERESTARTSYS);
        }
        if deadline.has_passed() {
            return Err(Errno::ETIMEDOUT);
        }
        waiter.sleep(deadline.instant());
    }
}
