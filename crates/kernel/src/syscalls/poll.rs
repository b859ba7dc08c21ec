//! poll, ppoll, select, pselect6: wait until one of several files is ready; and the waiting
//! and temporary-signal-mask helpers epoll_wait shares.

use std::sync::Arc;

use abi::{Errno, Timespec, Timeval};
use vfs::OpenFile;
use waiter::{events, Notify, OwnedRegistration, WaitQueue};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use super::{arg_i32, arg_len, SyscallResult};
use crate::deadline::{duration_of, duration_of_select_timeval, millis, Deadline};
use crate::task::{Task, UNBLOCKABLE};

/// How a wait for readiness ended.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum WaitEnd {
    Ready,
    TimedOut,
    Interrupted,
}

/// Sleeps until `ready()` holds, `deadline` passes or a signal is deliverable. The task's
/// waiter is registered on every queue (with its event mask) before the first check, so no
/// change is missed; readiness wins over a pending signal, as on Linux. A deadline already
/// past (a zero timeout) checks once without registering and, as on Linux, without looking
/// at signals.
pub(super) fn wait_ready(
    task: &Task,
    queues: &[(Arc<WaitQueue>, u32)],
    deadline: Deadline,
    mut ready: impl FnMut() -> bool,
) -> WaitEnd {
    if deadline.has_passed() {
        return if ready() {
            WaitEnd::Ready
        } else {
            WaitEnd::TimedOut
        };
    }
    let waiter = &task.handle.waiter;
    let _registrations: Vec<OwnedRegistration> = queues
        .iter()
        .map(|(queue, mask)| {
            WaitQueue::register_owned(queue, Arc::clone(waiter) as Arc<dyn Notify>, *mask)
        })
        .collect();
    loop {
        waiter.clear();
        if ready() {
            return WaitEnd::Ready;
        }
        if task.has_deliverable_signal() {
            return WaitEnd::Interrupted;
        }
        if deadline.has_passed() {
            return WaitEnd::TimedOut;
        }
        waiter.sleep(deadline.instant());
    }
}

/// The kernel's sigset_t size, which every sigmask argument must give.
const SIGSET_SIZE: u64 = 8;

/// Reads a call's optional signal mask (`addr` 0: none).
pub(super) fn read_sigmask(task: &Task, addr: u64, size: u64) -> Result<Option<u64>, Errno> {
    if addr == 0 {
        return Ok(None);
    }
    if size != SIGSET_SIZE {
        return Err(Errno::EINVAL);
    }
    Ok(Some(task.mm.read_obj::<u64>(addr)?))
}

/// Installs a call's temporary signal mask; the old one waits in `saved_mask`, where a
/// handler's frame finds it (as rt_sigsuspend does).
pub(super) fn install_temporary_mask(task: &Task, mask: Option<u64>) {
    if let Some(mask) = mask {
        let mut signals = task.handle.signals.lock();
        signals.saved_mask = Some(signals.mask);
        signals.mask = mask & !UNBLOCKABLE;
    }
}

/// Ends the temporary mask: restored now unless the call was interrupted, in which case the
/// signal about to be delivered runs its handler under it (Linux's
/// restore_saved_sigmask_unless); delivery restores it if no handler runs.
pub(super) fn end_temporary_mask(task: &Task, interrupted: bool) {
    if interrupted {
        return;
    }
    let mut signals = task.handle.signals.lock();
    if let Some(mask) = signals.saved_mask.take() {
        signals.mask = mask;
    }
}

/// Reads a timespec timeout as a deadline (`None` for a null `addr`: no timeout to write
/// back, wait forever).
pub(super) fn timespec_deadline(task: &Task, addr: u64) -> Result<Option<Deadline>, Errno> {
    if addr == 0 {
        return Ok(None);
    }
    let ts: Timespec = task.mm.read_obj(addr)?;
    Ok(Some(Deadline::after(duration_of(ts)?)))
}

/// `struct pollfd`.
#[repr(C)]
#[derive(Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
struct PollFd {
    fd: i32,
    events: i16,
    revents: i16,
}

/// Offset of `revents` in `struct pollfd`.
const REVENTS_OFFSET: u64 = 6;

/// The events `mask` asks of `file`, as poll reports them (errors and hang-ups always).
fn poll_events(file: &OpenFile, mask: u32) -> u32 {
    file.readiness(mask | events::POLLERR | events::POLLHUP) & (mask | events::ALWAYS)
}

/// Poll bits as the 16-bit `revents` field holds them.
fn revents_of(ready: u32) -> i16 {
    u16::try_from(ready & 0xffff)
        .unwrap_or_default()
        .cast_signed()
}

/// poll/ppoll: the shared part. Returns the number of ready entries.
fn do_poll(task: &Task, fds_addr: u64, nfds: u64, deadline: Deadline) -> SyscallResult {
    let count = arg_len(nfds)?;
    if count > task.nofile_limit() {
        return Err(Errno::EINVAL);
    }
    let mut raw = vec![0u8; count * std::mem::size_of::<PollFd>()];
    task.mm.copy_in(fds_addr, &mut raw)?;
    let entries: Vec<PollFd> = raw
        .chunks_exact(std::mem::size_of::<PollFd>())
        .filter_map(|chunk| PollFd::read_from_bytes(chunk).ok())
        .collect();
    // A negative fd is skipped; a closed one reports POLLNVAL.
    let files: Vec<Option<Option<Arc<OpenFile>>>> = {
        let table = task.fds();
        entries
            .iter()
            .map(|e| (e.fd >= 0).then(|| table.get(u64::from(e.fd.cast_unsigned())).ok()))
            .collect()
    };
    let masks: Vec<u32> = entries
        .iter()
        .map(|e| u32::from(e.events.cast_unsigned()))
        .collect();
    let queues: Vec<(Arc<WaitQueue>, u32)> = files
        .iter()
        .zip(&masks)
        .filter_map(|(file, &mask)| {
            let queue = file.as_ref()?.as_ref()?.wait_queue()?;
            Some((queue, mask | events::ALWAYS))
        })
        .collect();
    let mut revents = vec![0u32; count];
    let mut ready_count = 0u64;
    let check = || {
        ready_count = 0;
        for ((slot, file), &mask) in revents.iter_mut().zip(&files).zip(&masks) {
            *slot = match file {
                None => 0,
                Some(None) => events::POLLNVAL,
                Some(Some(file)) => poll_events(file, mask),
            };
            if *slot != 0 {
                ready_count += 1;
            }
        }
        ready_count > 0
    };
    let end = wait_ready(task, &queues, deadline, check);
    // Linux writes every revents back, whatever the outcome.
    for (i, ready) in revents.iter().enumerate() {
        let at = fds_addr + (i * std::mem::size_of::<PollFd>()) as u64 + REVENTS_OFFSET;
        task.mm.write_obj(at, &revents_of(*ready))?;
    }
    match end {
        WaitEnd::Interrupted => Err(abi::restart::ERESTARTNOHAND),
        WaitEnd::Ready | WaitEnd::TimedOut => Ok(ready_count),
    }
}

pub(super) fn poll(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let deadline = Deadline::within(millis(arg_i32(a[2])));
    do_poll(task, a[0], a[1], deadline)
}

pub(super) fn ppoll(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let deadline = timespec_deadline(task, a[2])?;
    let mask = read_sigmask(task, a[3], a[4])?;
    install_temporary_mask(task, mask);
    let result = do_poll(task, a[0], a[1], deadline.unwrap_or(Deadline::Never));
    end_temporary_mask(task, result == Err(abi::restart::ERESTARTNOHAND));
    if let Some(deadline) = deadline {
        write_timespec_left(task, a[2], deadline);
    }
    result
}

/// Writes the time left back to a timespec timeout, as ppoll and pselect6 do. Linux ignores a
/// failure to write it (the call's result stands).
fn write_timespec_left(task: &Task, addr: u64, deadline: Deadline) {
    let _ = task
        .mm
        .write_obj(addr, &super::time::timespec_of(deadline.remaining()));
}

/// Events that make an fd "readable", "writable", "exceptional" for select (Linux's
/// POLLIN_SET, POLLOUT_SET, POLLEX_SET).
const SELECT_IN: u32 = events::READABLE | events::POLLRDBAND | events::POLLHUP | events::POLLERR;
const SELECT_OUT: u32 = events::WRITABLE | events::POLLWRBAND | events::POLLERR;
const SELECT_EX: u32 = events::POLLPRI;

/// The three fd_set pointers of select.
struct SelectSets {
    addrs: [u64; 3],
}

/// An fd_set read from the guest: one bit per fd in 64-bit words (0 when the pointer is null).
fn read_fd_set(task: &Task, addr: u64, words: usize) -> Result<Vec<u64>, Errno> {
    let mut set = vec![0u64; words];
    if addr != 0 {
        task.mm.copy_in(addr, set.as_mut_bytes())?;
    }
    Ok(set)
}

fn bit(set: &[u64], fd: usize) -> bool {
    set.get(fd / 64).is_some_and(|w| w & (1 << (fd % 64)) != 0)
}

/// select/pselect6: the shared part. `nfds` is clamped to the descriptor table's reach.
fn do_select(task: &Task, nfds: u64, sets: &SelectSets, deadline: Deadline) -> SyscallResult {
    let nfds = usize::try_from(arg_i32(nfds)).map_err(|_| Errno::EINVAL)?;
    let nfds = nfds.min(task.nofile_limit());
    let words = nfds.div_ceil(64);
    let wanted: Vec<Vec<u64>> = sets
        .addrs
        .iter()
        .map(|&addr| read_fd_set(task, addr, words))
        .collect::<Result<_, _>>()?;
    let interest = [SELECT_IN, SELECT_OUT, SELECT_EX];
    // Every fd named in any set, with the poll events it is asked for; EBADF for a closed one.
    let mut watched: Vec<(usize, Arc<OpenFile>, u32)> = Vec::new();
    {
        let table = task.fds();
        for fd in 0..nfds {
            let mask = (0..3)
                .filter(|&s| bit(&wanted[s], fd))
                .fold(0, |m, s| m | interest[s]);
            if mask != 0 {
                watched.push((fd, table.get(fd as u64)?, mask));
            }
        }
    }
    let queues: Vec<(Arc<WaitQueue>, u32)> = watched
        .iter()
        .filter_map(|(_, file, mask)| Some((file.wait_queue()?, *mask | events::ALWAYS)))
        .collect();
    let mut results = vec![vec![0u64; words]; 3];
    let mut total = 0u64;
    let check = || {
        total = 0;
        for set in &mut results {
            set.fill(0);
        }
        for (fd, file, mask) in &watched {
            let ready = file.readiness(*mask);
            for s in 0..3 {
                if bit(&wanted[s], *fd) && ready & interest[s] != 0 {
                    results[s][fd / 64] |= 1 << (fd % 64);
                    total += 1;
                }
            }
        }
        total > 0
    };
    let end = wait_ready(task, &queues, deadline, check);
    if end == WaitEnd::Interrupted {
        return Err(abi::restart::ERESTARTNOHAND);
    }
    for (addr, set) in sets.addrs.iter().zip(&results) {
        if *addr != 0 {
            task.mm.copy_out(*addr, set.as_bytes())?;
        }
    }
    Ok(total)
}

pub(super) fn select(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let sets = SelectSets {
        addrs: [a[1], a[2], a[3]],
    };
    let deadline = if a[4] == 0 {
        None
    } else {
        let tv: Timeval = task.mm.read_obj(a[4])?;
        Some(Deadline::after(duration_of_select_timeval(tv)?))
    };
    let result = do_select(task, a[0], &sets, deadline.unwrap_or(Deadline::Never));
    if let Some(deadline) = deadline {
        // select tells how much of the timeout is left (Linux's non-sticky timeouts).
        let _ = task
            .mm
            .write_obj(a[4], &super::time::timeval_of(deadline.remaining()));
    }
    result
}

/// pselect6's sixth argument: `{ const sigset_t *ss; size_t ss_len; }`.
#[repr(C)]
#[derive(Clone, Copy, FromBytes, Immutable, KnownLayout)]
struct SigmaskArg {
    addr: u64,
    size: u64,
}

pub(super) fn pselect6(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let sets = SelectSets {
        addrs: [a[1], a[2], a[3]],
    };
    let deadline = timespec_deadline(task, a[4])?;
    let mask = if a[5] == 0 {
        None
    } else {
        let arg: SigmaskArg = task.mm.read_obj(a[5])?;
        read_sigmask(task, arg.addr, arg.size)?
    };
    install_temporary_mask(task, mask);
    let result = do_select(task, a[0], &sets, deadline.unwrap_or(Deadline::Never));
    end_temporary_mask(task, result == Err(abi::restart::ERESTARTNOHAND));
    if let Some(deadline) = deadline {
        write_timespec_left(task, a[4], deadline);
    }
    result
}
