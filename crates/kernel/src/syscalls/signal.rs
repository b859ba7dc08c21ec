//! Signal syscalls: dispositions, masks, sending, waiting, and returning from handlers.

use std::sync::Arc;

use abi::{Errno, SigInfo, Timespec};

use super::{arg_i32, SyscallResult};
use crate::deadline::{duration_of, Deadline};
use crate::task::{
    SigAction, SigStack, Task, TaskHandle, ThreadGroup, NSIG, SS_AUTODISARM, UNBLOCKABLE,
};

/// The kernel's sigset_t is 64 bits: rt_* calls must pass exactly that size.
const SIGSET_SIZE: u64 = 8;

fn signal_number(value: u64) -> Result<i32, Errno> {
    let signo = arg_i32(value);
    if (1..=NSIG).contains(&signo) {
        Ok(signo)
    } else {
        Err(Errno::EINVAL)
    }
}

/// A signal number that may also be 0 (kill's existence check).
fn signal_or_zero(value: u64) -> Result<i32, Errno> {
    let signo = arg_i32(value);
    if (0..=NSIG).contains(&signo) {
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
    let old = {
        let state = task.tg().state.lock();
        let mut handlers = state.handlers.lock();
        let old = handlers.get(signo);
        if let Some(mut action) = new {
            action.mask &= !UNBLOCKABLE;
            handlers.set(signo, action);
            // Setting SIG_IGN (or a default of ignore) discards what is already pending.
            if action.handler == libc::SIG_IGN as u64 {
                let bit = 1u64 << (signo - 1);
                drop(handlers);
                for t in &state.threads {
                    t.signals.lock().pending.discard(bit);
                }
            }
        }
        old
    };
    if let Some(action) = new {
        if action.handler == libc::SIG_IGN as u64 {
            task.tg().state.lock().pending.discard(1u64 << (signo - 1));
        }
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
    let set = if a[1] != 0 {
        Some(task.mm.read_obj::<u64>(a[1])?)
    } else {
        None
    };
    let old = {
        let mut signals = task.handle.signals.lock();
        let old = signals.mask;
        if let Some(set) = set {
            signals.mask = match arg_i32(a[0]) {
                libc::SIG_BLOCK => old | set,
                libc::SIG_UNBLOCK => old & !set,
                libc::SIG_SETMASK => set,
                _ => return Err(Errno::EINVAL),
            } & !UNBLOCKABLE;
        }
        old
    };
    if a[2] != 0 {
        task.mm.write_obj(a[2], &old)?;
    }
    Ok(0)
}

pub(super) fn rt_sigpending(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    if a[1] > SIGSET_SIZE {
        return Err(Errno::EINVAL);
    }
    let pending = {
        let state = task.tg().state.lock();
        let signals = task.handle.signals.lock();
        (state.pending.set() | signals.pending.set()) & signals.mask
    };
    task.mm.write_obj(a[0], &pending)?;
    Ok(0)
}

pub(super) fn rt_sigsuspend(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    if a[1] != SIGSET_SIZE {
        return Err(Errno::EINVAL);
    }
    let mask: u64 = task.mm.read_obj(a[0])?;
    {
        let mut signals = task.handle.signals.lock();
        // The handler's frame saves the old mask; rt_sigreturn puts it back.
        signals.saved_mask = Some(signals.mask);
        signals.mask = mask & !UNBLOCKABLE;
    }
    while !task.has_deliverable_signal() {
        task.handle.waiter.sleep(None);
    }
    Err(abi::restart::ERESTARTNOHAND)
}

pub(super) fn pause(task: &mut Task, _: &[u64; 6]) -> SyscallResult {
    while !task.has_deliverable_signal() {
        task.handle.waiter.sleep(None);
    }
    Err(abi::restart::ERESTARTNOHAND)
}

pub(super) fn rt_sigtimedwait(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    if a[3] != SIGSET_SIZE {
        return Err(Errno::EINVAL);
    }
    let set: u64 = task.mm.read_obj::<u64>(a[0])? & !UNBLOCKABLE;
    let deadline = if a[2] == 0 {
        Deadline::Never
    } else {
        let ts: Timespec = task.mm.read_obj(a[2])?;
        Deadline::after(duration_of(ts)?)
    };
    loop {
        if let Some(info) = task.take_signal_in(set) {
            if a[1] != 0 {
                task.mm.write_obj(a[1], &info)?;
            }
            return Ok(u64::from(info.signo.cast_unsigned()));
        }
        if task.has_deliverable_signal() {
            return Err(Errno::EINTR);
        }
        if deadline.has_passed() {
            return Err(Errno::EAGAIN);
        }
        task.handle.waiter.sleep(deadline.instant());
    }
}

pub(super) fn sigaltstack(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let sp = task.ctx.regs().rsp;
    let old = task.handle.signals.lock().altstack;
    let on_stack = old.contains(sp);
    if a[0] != 0 {
        let new: SigStack = task.mm.read_obj(a[0])?;
        if on_stack {
            return Err(Errno::EPERM);
        }
        if new.flags & !(libc::SS_DISABLE | SS_AUTODISARM) != 0 {
            return Err(Errno::EINVAL);
        }
        let new = if new.flags & libc::SS_DISABLE != 0 {
            SigStack::disabled()
        } else {
            if new.size < libc::MINSIGSTKSZ as u64 {
                return Err(Errno::ENOMEM);
            }
            new
        };
        task.handle.signals.lock().altstack = new;
    }
    if a[1] != 0 {
        let mut report = old;
        if on_stack {
            report.flags |= libc::SS_ONSTACK;
        }
        task.mm.write_obj(a[1], &report)?;
    }
    Ok(0)
}

pub(super) fn rt_sigreturn(task: &mut Task, _: &[u64; 6]) -> SyscallResult {
    if let Err(errno) = task.sigreturn() {
        // A frame that can't be read back: Linux kills the task with SIGSEGV.
        tracing::debug!("task {}: rt_sigreturn: {errno}", task.tid);
        task.kernel
            .start_group_exit(task.tg(), crate::task::ExitStatus::Signaled(libc::SIGSEGV));
    }
    Ok(0)
}

/// Whether the caller may signal `target`: CAP_KILL may signal anyone; others need a matching
/// real or effective uid (SIGCONT within the session always).
fn may_signal(task: &Task, target: &ThreadGroup) -> bool {
    let me = task.creds();
    let them = target.state.lock().creds.clone();
    me.capable(super::creds::CAP_KILL)
        || me.euid == them.ruid
        || me.euid == them.suid
        || me.ruid == them.ruid
        || me.ruid == them.suid
}

fn sender_info(task: &Task, signo: i32, code: i32) -> SigInfo {
    SigInfo::from_process(signo, code, task.pid(), task.creds().ruid)
}

/// Init ignores the signals its own namespace sends it that would take their default action,
/// SIGKILL and SIGSTOP included (Linux's SIGNAL_UNKILLABLE): only the host (forwarded signals) or
/// a fault ends it. A signal the receiving thread (`thread`, else the group's leader) blocks is
/// never ignored, as in Linux's sig_ignored: it stays pending for signalfd, sigwait or a handler
/// installed later. Permission is checked as if it were delivered.
fn init_ignores(target: &ThreadGroup, thread: Option<&TaskHandle>, signo: i32) -> bool {
    if target.tgid != 1 {
        return false;
    }
    let (default_action, leader) = {
        let state = target.state.lock();
        let default_action = state.handlers.lock().get(signo).is_default();
        let leader = state
            .threads
            .iter()
            .find(|t| t.tid() == target.tgid)
            .cloned();
        (default_action, leader)
    };
    let Some(receiver) = thread.or(leader.as_deref()) else {
        return default_action;
    };
    let bit = 1u64 << (signo - 1);
    let signals = receiver.signals.lock();
    let blocked = signals.mask | signals.saved_mask.unwrap_or(0);
    default_action && blocked & bit == 0
}

/// Signals every group in `targets` the caller may signal; ESRCH if none exists, EPERM if none
/// was permitted.
fn signal_groups(task: &Task, targets: &[Arc<ThreadGroup>], signo: i32) -> SyscallResult {
    if targets.is_empty() {
        return Err(Errno::ESRCH);
    }
    let mut sent = false;
    for tg in targets {
        if !may_signal(task, tg) {
            continue;
        }
        sent = true;
        if signo != 0 && !init_ignores(tg, None, signo) {
            task.kernel
                .signal_group(tg, sender_info(task, signo, abi::SI_USER));
        }
    }
    if sent {
        Ok(0)
    } else {
        Err(Errno::EPERM)
    }
}

pub(super) fn kill(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let signo = signal_or_zero(a[1])?;
    let pid = arg_i32(a[0]);
    if pid > 0 {
        let target = task.kernel.pids.lock().group(pid);
        return signal_groups(task, target.as_slice(), signo);
    }
    if pid == i32::MIN {
        return Err(Errno::ESRCH);
    }
    let pgid = match pid {
        0 => Some(task.tg().state.lock().pgid),
        -1 => None,
        p => Some(-p),
    };
    // The table stays locked while the signals go out, so a fork racing with this either is
    // in the table already (its child is signalled) or sees its parent's signal pending and
    // restarts (clone_task): no child of a signalled process escapes, as on Linux.
    let pids = task.kernel.pids.lock();
    let targets: Vec<Arc<ThreadGroup>> = pids
        .groups()
        .filter(|g| match pgid {
            Some(pgid) => g.state.lock().pgid == pgid,
            // kill(-1): everyone but init and the caller.
            None => g.tgid != 1 && !Arc::ptr_eq(g, task.tg()),
        })
        .filter(|g| g.state.lock().zombie.is_none())
        .cloned()
        .collect();
    let result = signal_groups(task, &targets, signo);
    drop(pids);
    result
}

fn signal_task(task: &Task, target: Option<Arc<TaskHandle>>, signo: i32) -> SyscallResult {
    let target = target.ok_or(Errno::ESRCH)?;
    if !may_signal(task, &target.tg) {
        return Err(Errno::EPERM);
    }
    if signo != 0 && !init_ignores(&target.tg, Some(&target), signo) {
        task.kernel
            .signal_thread(&target, sender_info(task, signo, abi::SI_TKILL));
    }
    Ok(0)
}

pub(super) fn tkill(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let tid = arg_i32(a[0]);
    let signo = signal_or_zero(a[1])?;
    if tid <= 0 {
        return Err(Errno::EINVAL);
    }
    let target = task.kernel.pids.lock().task(tid);
    signal_task(task, target, signo)
}

pub(super) fn tgkill(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let (tgid, tid) = (arg_i32(a[0]), arg_i32(a[1]));
    let signo = signal_or_zero(a[2])?;
    if tgid <= 0 || tid <= 0 {
        return Err(Errno::EINVAL);
    }
    let target = task
        .kernel
        .pids
        .lock()
        .task(tid)
        .filter(|t| t.tg.tgid == tgid);
    signal_task(task, target, signo)
}

pub(super) fn rt_sigqueueinfo(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let signo = signal_or_zero(a[1])?;
    let mut info: SigInfo = task.mm.read_obj(a[2])?;
    // Only the kernel may claim to be the kernel or kill(): Linux refuses such codes (EPERM).
    if info.code >= 0 || info.code == abi::SI_TKILL {
        return Err(Errno::EPERM);
    }
    info.signo = signo;
    let target = task
        .kernel
        .pids
        .lock()
        .group(arg_i32(a[0]))
        .ok_or(Errno::ESRCH)?;
    if !may_signal(task, &target) {
        return Err(Errno::EPERM);
    }
    if signo != 0 && !init_ignores(&target, None, signo) {
        task.kernel.signal_group(&target, info);
    }
    Ok(0)
}
