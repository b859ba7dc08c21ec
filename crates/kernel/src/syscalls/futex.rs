//! futex and robust lists.

use abi::{Errno, Timespec};
use zerocopy::{FromBytes, Immutable, KnownLayout};

use super::{arg_i32, arg_u32, SyscallResult};
use crate::deadline::{duration_of, Deadline};
use crate::futex::{FutexKey, FutexWait, Locked, Sleeper, WakeOp};
use crate::task::Task;

/// `struct robust_list_head` is three words.
const ROBUST_LIST_HEAD_SIZE: u64 = 24;

/// FUTEX_LOCK_PI2 (Linux 5.14): FUTEX_LOCK_PI on CLOCK_MONOTONIC unless FUTEX_CLOCK_REALTIME.
const FUTEX_LOCK_PI2: i32 = 13;

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

/// The bitset of a *_BITSET operation (all bits otherwise); EINVAL if empty.
fn bitset(op: i32, value: u64) -> Result<u32, Errno> {
    if op != libc::FUTEX_WAIT_BITSET && op != libc::FUTEX_WAKE_BITSET {
        return Ok(u32::MAX);
    }
    match arg_u32(value) {
        0 => Err(Errno::EINVAL),
        bits => Ok(bits),
    }
}

/// The deadline of an absolute timeout at `timeout` (none if null), on CLOCK_REALTIME or
/// CLOCK_MONOTONIC.
fn absolute_deadline(task: &Task, timeout: u64, realtime: bool) -> Result<Deadline, Errno> {
    if timeout == 0 {
        return Ok(Deadline::Never);
    }
    let ts: Timespec = task.mm.read_obj(timeout)?;
    let clock = if realtime {
        libc::CLOCK_REALTIME
    } else {
        libc::CLOCK_MONOTONIC
    };
    Ok(Deadline::when_clock_reads(
        duration_of(ts)?,
        duration_of(super::time::now(task, clock)?)?,
    ))
}

pub(super) fn futex(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let raw_op = arg_i32(a[1]);
    let private = raw_op & libc::FUTEX_PRIVATE_FLAG != 0;
    let realtime = raw_op & libc::FUTEX_CLOCK_REALTIME != 0;
    let op = raw_op & !(libc::FUTEX_PRIVATE_FLAG | libc::FUTEX_CLOCK_REALTIME);
    // Only the operations with an absolute timeout take a clock (as Linux 5.14+).
    let takes_clock = [
        libc::FUTEX_WAIT_BITSET,
        libc::FUTEX_WAIT_REQUEUE_PI,
        FUTEX_LOCK_PI2,
    ];
    if realtime && !takes_clock.contains(&op) {
        return Err(Errno::ENOSYS);
    }
    let addr = a[0];
    check_aligned(addr)?;
    let key = |addr: u64| FutexKey::of(&task.mm, addr, private);
    match op {
        libc::FUTEX_WAIT | libc::FUTEX_WAIT_BITSET => {
            let bitset = bitset(op, a[5])?;
            // FUTEX_WAIT's timeout is relative; WAIT_BITSET's absolute (on the chosen clock).
            let deadline = if op == libc::FUTEX_WAIT && a[3] != 0 {
                Deadline::after(duration_of(task.mm.read_obj(a[3])?)?)
            } else {
                absolute_deadline(task, a[3], realtime)?
            };
            futex_wait(task, key(addr)?, addr, arg_u32(a[2]), bitset, deadline)
        }
        libc::FUTEX_WAKE | libc::FUTEX_WAKE_BITSET => {
            let bitset = bitset(op, a[5])?;
            let woken = task.kernel.futexes.wake(key(addr)?, count(a[2]), bitset)?;
            Ok(woken as u64)
        }
        libc::FUTEX_REQUEUE | libc::FUTEX_CMP_REQUEUE => {
            check_aligned(a[4])?;
            let (from, to) = (key(addr)?, key(a[4])?);
            // The current value is compared under the futex lock, as Linux does.
            let expected = (op == libc::FUTEX_CMP_REQUEUE).then(|| arg_u32(a[5]));
            let check = || match expected {
                Some(expected) => task.mm.read_obj::<u32>(addr).map(|v| v == expected),
                None => Ok(true),
            };
            // val2 (the requeue count) travels in the timeout register.
            let n = task
                .kernel
                .futexes
                .requeue(from, to, count(a[2]), count(a[3]), check)?;
            Ok(n as u64)
        }
        libc::FUTEX_WAKE_OP => {
            check_aligned(a[4])?;
            let (key1, key2) = (key(addr)?, key(a[4])?);
            let op = WakeOp::decode(arg_u32(a[5]))?;
            let woken = task.kernel.futexes.wake_op(
                &task.mm,
                (key1, count(a[2])),
                (key2, a[4], count(a[3])),
                op,
            )?;
            Ok(woken as u64)
        }
        libc::FUTEX_LOCK_PI | FUTEX_LOCK_PI2 | libc::FUTEX_TRYLOCK_PI => {
            // LOCK_PI's timeout is absolute on CLOCK_REALTIME; LOCK_PI2's on the chosen clock.
            let deadline = match op {
                libc::FUTEX_TRYLOCK_PI => Deadline::Never,
                libc::FUTEX_LOCK_PI => absolute_deadline(task, a[3], true)?,
                _ => absolute_deadline(task, a[3], realtime)?,
            };
            lock_pi(
                task,
                key(addr)?,
                addr,
                op == libc::FUTEX_TRYLOCK_PI,
                deadline,
            )
        }
        libc::FUTEX_UNLOCK_PI => {
            let key = key(addr)?;
            task.kernel
                .futexes
                .unlock_pi(&task.mm, key, addr, task.tid)?;
            Ok(0)
        }
        libc::FUTEX_WAIT_REQUEUE_PI => {
            check_aligned(a[4])?;
            let deadline = absolute_deadline(task, a[3], realtime)?;
            let (from, to) = (key(addr)?, key(a[4])?);
            if from == to {
                return Err(Errno::EINVAL);
            }
            wait_requeue_pi(task, (from, addr), (to, a[4]), arg_u32(a[2]), deadline)
        }
        libc::FUTEX_CMP_REQUEUE_PI => {
            check_aligned(a[4])?;
            // One waiter at most is woken (given the lock); the rest wait on the PI futex.
            if arg_i32(a[2]) != 1 || arg_i32(a[3]) < 0 {
                return Err(Errno::EINVAL);
            }
            let (from, to) = (key(addr)?, key(a[4])?);
            let n = task.kernel.futexes.cmp_requeue_pi(
                &task.mm,
                (from, addr),
                (to, a[4]),
                count(a[3]),
                arg_u32(a[5]),
                &|tid| thread_alive(task, tid),
            )?;
            Ok(n as u64)
        }
        _ => Err(Errno::ENOSYS),
    }
}

/// Whether `tid` is a live thread of the sandbox (a PI futex's owner must be).
fn thread_alive(task: &Task, tid: i32) -> bool {
    task.kernel.pids.lock().task(tid).is_some()
}

/// The thread `task` as a futex sleeper, its pending wake-up forgotten.
fn sleeper(task: &Task) -> Sleeper<'_> {
    task.handle.waiter.clear();
    Sleeper {
        tid: task.tid,
        mm: &task.mm,
        waiter: &task.handle.waiter,
    }
}

/// Why a futex sleep ended without its wake.
enum Interrupted {
    Signal,
    Timeout,
}

/// Sleeps until `wait` is woken (`Ok`), or leaves its queue on a signal or at the deadline:
/// then why, and the futex it left (a requeue may have moved it).
fn sleep(
    task: &Task,
    wait: FutexWait<'_>,
    deadline: Deadline,
) -> Result<(), (Interrupted, FutexKey)> {
    loop {
        if wait.woken() {
            return Ok(());
        }
        let why = if task.has_deliverable_signal() {
            Interrupted::Signal
        } else if deadline.has_passed() {
            Interrupted::Timeout
        } else {
            task.handle.waiter.sleep(deadline.instant());
            continue;
        };
        return match wait.leave() {
            None => Ok(()),
            Some(key) => Err((why, key)),
        };
    }
}

/// Sleeps on the futex `key` (at `addr`) while it holds `expected`, until woken, timed out,
/// or interrupted by a signal.
fn futex_wait(
    task: &Task,
    key: FutexKey,
    addr: u64,
    expected: u32,
    bitset: u32,
    deadline: Deadline,
) -> SyscallResult {
    let sleeper = sleeper(task);
    let check = || task.mm.read_obj::<u32>(addr).map(|v| v == expected);
    let queued = task
        .kernel
        .futexes
        .enqueue(&sleeper, key, addr, bitset, check)?;
    let Some(wait) = queued else {
        return Err(Errno::EAGAIN);
    };
    match sleep(task, wait, deadline) {
        Ok(()) => Ok(0),
        Err((Interrupted::Signal, _)) => Err(abi::restart::ERESTARTSYS),
        Err((Interrupted::Timeout, _)) => Err(Errno::ETIMEDOUT),
    }
}

/// FUTEX_LOCK_PI and its kin: returns once the caller owns the lock.
fn lock_pi(
    task: &Task,
    key: FutexKey,
    addr: u64,
    trylock: bool,
    deadline: Deadline,
) -> SyscallResult {
    let sleeper = sleeper(task);
    let alive = |tid| thread_alive(task, tid);
    let wait = match task
        .kernel
        .futexes
        .lock_pi(&sleeper, key, addr, trylock, &alive)?
    {
        Locked::Now => return Ok(0),
        Locked::Queued(wait) => wait,
    };
    match sleep(task, wait, deadline) {
        Ok(()) => Ok(0),
        // Linux restarts the lock after the handler, whatever SA_RESTART says.
        Err((Interrupted::Signal, _)) => Err(abi::restart::ERESTARTNOINTR),
        Err((Interrupted::Timeout, _)) => Err(Errno::ETIMEDOUT),
    }
}

/// FUTEX_WAIT_REQUEUE_PI: waits on `from` while it holds `expected`, to be requeued to the PI
/// futex `to` and given its lock.
fn wait_requeue_pi(
    task: &Task,
    (from, addr): (FutexKey, u64),
    (to, target_addr): (FutexKey, u64),
    expected: u32,
    deadline: Deadline,
) -> SyscallResult {
    let sleeper = sleeper(task);
    let check = || task.mm.read_obj::<u32>(addr).map(|v| v == expected);
    let queued =
        task.kernel
            .futexes
            .enqueue_requeue_pi(&sleeper, (from, addr), (to, target_addr), check)?;
    let Some(wait) = queued else {
        return Err(Errno::EAGAIN);
    };
    match sleep(task, wait, deadline) {
        Ok(()) => Ok(0),
        Err((Interrupted::Timeout, _)) => Err(Errno::ETIMEDOUT),
        // Still on the first futex: the wait restarts after the handler, as on Linux.
        Err((Interrupted::Signal, key)) if key == from => Err(abi::restart::ERESTARTNOINTR),
        // Already requeued: a restart would find the first futex changed, so Linux says so.
        Err((Interrupted::Signal, _)) => Err(Errno::EAGAIN),
    }
}

/// `struct futex_waitv`: one futex of a futex_waitv call.
#[derive(Clone, Copy, FromBytes, Immutable, KnownLayout)]
#[repr(C)]
struct FutexWaitv {
    val: u64,
    uaddr: u64,
    flags: u32,
    reserved: u32,
}

/// FUTEX_WAITV_MAX: the most futexes one call waits on.
const FUTEX_WAITV_MAX: u64 = 128;
/// futex2 flags: the word size field, a 32-bit word, and FUTEX2_PRIVATE.
const FUTEX2_SIZE_MASK: u32 = 3;
const FUTEX2_SIZE_U32: u32 = 2;
const FUTEX2_PRIVATE: u32 = 128;

/// futex_waitv(waiters, nr_futexes, flags, timeout, clockid): sleeps until one of the futexes
/// is woken, returning its index.
pub(super) fn futex_waitv(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let count = a[1] & 0xffff_ffff;
    if a[0] == 0 || a[2] & 0xffff_ffff != 0 || count == 0 || count > FUTEX_WAITV_MAX {
        return Err(Errno::EINVAL);
    }
    let deadline = if a[3] == 0 {
        Deadline::Never
    } else {
        match arg_i32(a[4]) {
            libc::CLOCK_MONOTONIC => absolute_deadline(task, a[3], false)?,
            libc::CLOCK_REALTIME => absolute_deadline(task, a[3], true)?,
            _ => return Err(Errno::EINVAL),
        }
    };
    let size = size_of::<FutexWaitv>();
    let mut bytes = vec![0u8; size * count as usize];
    task.mm.copy_in(a[0], &mut bytes)?;
    let mut futexes = Vec::with_capacity(count as usize);
    for chunk in bytes.chunks_exact(size) {
        let entry = FutexWaitv::read_from_bytes(chunk).map_err(|_| Errno::EINVAL)?;
        let known = FUTEX2_SIZE_MASK | FUTEX2_PRIVATE;
        if entry.reserved != 0
            || entry.flags & !known != 0
            || entry.flags & FUTEX2_SIZE_MASK != FUTEX2_SIZE_U32
        {
            return Err(Errno::EINVAL);
        }
        let expected = u32::try_from(entry.val).map_err(|_| Errno::EINVAL)?;
        check_aligned(entry.uaddr)?;
        let private = entry.flags & FUTEX2_PRIVATE != 0;
        let key = FutexKey::of(&task.mm, entry.uaddr, private)?;
        futexes.push((key, entry.uaddr, expected));
    }
    let sleeper = sleeper(task);
    let read = |addr| task.mm.read_obj::<u32>(addr);
    let Some(waits) = task.kernel.futexes.enqueue_all(&sleeper, &futexes, read)? else {
        return Err(Errno::EAGAIN);
    };
    loop {
        let why = if waits.iter().any(FutexWait::woken) {
            None
        } else if task.has_deliverable_signal() {
            Some(abi::restart::ERESTARTSYS)
        } else if deadline.has_passed() {
            Some(Errno::ETIMEDOUT)
        } else {
            task.handle.waiter.sleep(deadline.instant());
            continue;
        };
        // Linux reports the last futex found woken as it leaves them all.
        let mut woken = None;
        for (index, wait) in waits.into_iter().enumerate() {
            if wait.leave().is_none() {
                woken = Some(index as u64);
            }
        }
        return match (woken, why) {
            (Some(index), _) => Ok(index),
            (None, Some(errno)) => Err(errno),
            (None, None) => unreachable!("a woken futex was found before leaving"),
        };
    }
}
