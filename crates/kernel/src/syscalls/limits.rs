//! Resource limits and usage.

use abi::Errno;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use super::{arg_i32, arg_u32, SyscallResult};
use crate::task::{Rlimit, Task, RLIM_NLIMITS};

/// `struct rlimit64`.
#[repr(C)]
#[derive(Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
struct RlimitAbi {
    cur: u64,
    max: u64,
}

fn resource(value: u64) -> Result<usize, Errno> {
    usize::try_from(arg_u32(value))
        .ok()
        .filter(|&r| r < RLIM_NLIMITS)
        .ok_or(Errno::EINVAL)
}

pub(super) fn getrlimit(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let limit = task.tg().state.lock().rlimits[resource(a[0])?];
    task.mm.write_obj(
        a[1],
        &RlimitAbi {
            cur: limit.cur,
            max: limit.max,
        },
    )?;
    Ok(0)
}

/// Sets `resource` of the caller's process; raising a hard limit needs root.
fn set_limit(task: &Task, res: usize, new: RlimitAbi) -> Result<Rlimit, Errno> {
    if new.cur > new.max {
        return Err(Errno::EINVAL);
    }
    let mut state = task.tg().state.lock();
    let old = state.rlimits[res];
    if new.max > old.max && state.creds.euid != 0 {
        return Err(Errno::EPERM);
    }
    if res == libc::RLIMIT_NOFILE as usize && new.max > crate::fd_table::NR_OPEN {
        return Err(Errno::EPERM);
    }
    state.rlimits[res] = Rlimit {
        cur: new.cur,
        max: new.max,
    };
    Ok(old)
}

pub(super) fn setrlimit(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let res = resource(a[0])?;
    let new: RlimitAbi = task.mm.read_obj(a[1])?;
    set_limit(task, res, new).map(|_| 0)
}

pub(super) fn prlimit64(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let pid = arg_i32(a[0]);
    if pid != 0 && pid != task.pid() {
        // Other processes' limits: a later addition; only the caller's are reachable.
        return Err(if task.kernel.pids.lock().group(pid).is_some() {
            Errno::EPERM
        } else {
            Errno::ESRCH
        });
    }
    let res = resource(a[1])?;
    let old = if a[2] != 0 {
        let new: RlimitAbi = task.mm.read_obj(a[2])?;
        set_limit(task, res, new)?
    } else {
        task.tg().state.lock().rlimits[res]
    };
    if a[3] != 0 {
        task.mm.write_obj(
            a[3],
            &RlimitAbi {
                cur: old.cur,
                max: old.max,
            },
        )?;
    }
    Ok(0)
}

pub(super) fn getrusage(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let who = arg_i32(a[0]);
    let (user, system) = match who {
        libc::RUSAGE_SELF => {
            let t = task.tg().cpu_times();
            (t.user, t.system)
        }
        libc::RUSAGE_CHILDREN => {
            let t = task.tg().cpu_times();
            (t.children_user, t.children_system)
        }
        libc::RUSAGE_THREAD => (task.handle.cpu.user(), task.handle.cpu.system()),
        _ => return Err(Errno::EINVAL),
    };
    task.mm.write_obj(a[1], &rusage(user, system))?;
    Ok(0)
}

/// A `struct rusage`: ru_utime, ru_stime, then 14 longs of counters this kernel doesn't keep
/// (faults, context switches...), reported as zero.
pub(super) fn rusage(user: std::time::Duration, system: std::time::Duration) -> [i64; 18] {
    let mut usage = [0i64; 18];
    usage[..2].copy_from_slice(&timeval_words(user));
    usage[2..4].copy_from_slice(&timeval_words(system));
    usage
}

/// A duration as the two words of a `struct timeval`.
fn timeval_words(d: std::time::Duration) -> [i64; 2] {
    [d.as_secs().cast_signed(), i64::from(d.subsec_micros())]
}
