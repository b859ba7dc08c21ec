//! Signal syscalls: dispositions, masks, and sending.

use abi::Errno;

use super::{arg_i32, SyscallResult};
use crate::task::{SigAction, Task, NSIG};

/// The kernel's sigset_t is 64 bits: rt_* calls must pass exactly that size.
const SIGSET_SIZE: u64 = 8;

/// sigaltstack's flag to disarm the stack while a handler runs on it.
const SS_AUTODISARM: i32 = 1 << 31;

/// SIGKILL and SIGSTOP can be neither caught, blocked nor ignored.
const UNBLOCKABLE: u64 = (1 << (libc::SIGKILL - 1)) | (1 << (libc::SIGSTOP - 1));

fn signal_number(value: u64) -> Result<i32, Errno> {
    let signo = arg_i32(value);
    if (1..=NSIG).contains(&signo) {
        Ok(signo)
    } else {
        Err(Errno::EINVAL)
    }
}

pub(super) fn rt_sigaction(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let signo = signal_number(a[0])?;
    if a[3] != SIGSET_SIZE {
        return Err(Errno::EINVAL);
    }
    let new = if a[1] != 0 {
        Some(task.mm.read_obj::<SigAction>(a[1])?)
    } else {
        None
    };
    if new.is_some() && (signo == libc::SIGKILL || signo == libc::SIGSTOP) {
        return Err(Errno::EINVAL);
    }
    let slot = task.signals.action_mut(signo);
    let old = *slot;
    if let Some(mut action) = new {
        action.mask &= !UNBLOCKABLE;
        *slot = action;
    }
    if a[2] != 0 {
        task.mm.write_obj(a[2], &old)?;
    }
    Ok(0)
}

pub(super) fn rt_sigprocmask(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    if a[3] != SIGSET_SIZE {
        return Err(Errno::EINVAL);
    }
    let old = task.signals.mask;
    if a[1] != 0 {
        let set: u64 = task.mm.read_obj(a[1])?;
        task.signals.mask = match arg_i32(a[0]) {
            libc::SIG_BLOCK => old | set,
            libc::SIG_UNBLOCK => old & !set,
            libc::SIG_SETMASK => set,
            _ => return Err(Errno::EINVAL),
        } & !UNBLOCKABLE;
    }
    if a[2] != 0 {
        task.mm.write_obj(a[2], &old)?;
    }
    Ok(0)
}

pub(super) fn sigaltstack(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let old = task.signals.altstack;
    if a[0] != 0 {
        let new: crate::task::SigStack = task.mm.read_obj(a[0])?;
        if new.flags & !(libc::SS_DISABLE | SS_AUTODISARM) != 0 {
            return Err(Errno::EINVAL);
        }
        if new.flags & libc::SS_DISABLE == 0 && new.size < libc::MINSIGSTKSZ as u64 {
            return Err(Errno::ENOMEM);
        }
        task.signals.altstack = new;
    }
    if a[1] != 0 {
        task.mm.write_obj(a[1], &old)?;
    }
    Ok(0)
}

/// Sends `signo` (0: only checks) to the calling task if `target_is_self`, else ESRCH: the
/// sandbox has one task until processes arrive.
fn send_to_self(task: &mut Task, target_is_self: bool, signo: u64) -> SyscallResult {
    let signo = arg_i32(signo);
    if !(0..=NSIG).contains(&signo) {
        return Err(Errno::EINVAL);
    }
    if !target_is_self {
        return Err(Errno::ESRCH);
    }
    if signo != 0 {
        task.send_signal(signo);
    }
    Ok(0)
}

pub(super) fn kill(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let pid = arg_i32(a[0]);
    let is_self = pid == task.pid || pid == 0 || pid == -1 || pid == -task.pgid;
    send_to_self(task, is_self, a[1])
}

pub(super) fn tkill(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let tid = arg_i32(a[0]);
    if tid <= 0 {
        return Err(Errno::EINVAL);
    }
    send_to_self(task, tid == task.tid, a[1])
}

pub(super) fn tgkill(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let (tgid, tid) = (arg_i32(a[0]), arg_i32(a[1]));
    if tgid <= 0 || tid <= 0 {
        return Err(Errno::EINVAL);
    }
    send_to_self(task, tgid == task.pid && tid == task.tid, a[2])
}
