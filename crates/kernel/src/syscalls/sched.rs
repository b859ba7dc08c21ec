//! Scheduling: affinity, policy and priority (nice), and getcpu. The Sentry's threads are
//! scheduled by the host; these record what the guest asked for and report it back, with
//! Linux's validation and permission rules. Only SCHED_OTHER-class policies are accepted.

use std::sync::{Arc, OnceLock};

use abi::Errno;

use super::creds::CAP_SYS_NICE;
use super::{arg_i32, arg_len, arg_u32, SyscallResult};
use crate::task::{Task, TaskHandle};

/// The CPUs the host lets the Sentry use, counted once at boot: task threads are later pinned
/// to the CPU they run on (see platform-ptrace), so asking from one would say 1.
static HOST_CPUS: OnceLock<usize> = OnceLock::new();

/// Counts the host's CPUs before any task thread is pinned (called at boot).
pub(crate) fn learn_host_cpus() {
    cpu_count();
}

/// CPUs the sandbox shows: as many as the host gave the Sentry at boot (its own affinity, as
/// nproc counts them).
pub(crate) fn cpu_count() -> usize {
    *HOST_CPUS.get_or_init(|| {
        nix::sched::sched_getaffinity(nix::unistd::Pid::from_raw(0))
            .map(|set| {
                (0..nix::sched::CpuSet::count())
                    .filter(|&cpu| set.is_set(cpu).unwrap_or(false))
                    .count()
            })
            .unwrap_or(1)
            .max(1)
    })
}

/// Bytes of an affinity mask covering every CPU, in whole longs as Linux requires.
fn mask_len() -> usize {
    cpu_count().div_ceil(64) * 8
}

/// The CPU numbers of an affinity mask (`None`: every CPU).
pub(crate) fn sched_cpus(affinity: Option<&[u8]>) -> Vec<usize> {
    (0..cpu_count())
        .filter(|&cpu| {
            affinity.is_none_or(|mask| mask.get(cpu / 8).is_some_and(|b| b & (1 << (cpu % 8)) != 0))
        })
        .collect()
}

/// The task `id` names (0: the caller).
fn target(task: &Task, id: i32) -> Result<Arc<TaskHandle>, Errno> {
    match id {
        0 => Ok(Arc::clone(&task.handle)),
        id if id < 0 => Err(Errno::EINVAL),
        id => task.kernel.pids.lock().task(id).ok_or(Errno::ESRCH),
    }
}

/// The CPUs `handle` may run on, one bit each.
fn affinity_of(handle: &TaskHandle) -> Vec<u8> {
    if let Some(mask) = &handle.settings.lock().affinity {
        return mask.clone();
    }
    let mut mask = vec![0u8; mask_len()];
    for cpu in 0..cpu_count() {
        mask[cpu / 8] |= 1 << (cpu % 8);
    }
    mask
}

/// The task an affinity call names: unlike the scheduling-parameter calls, Linux doesn't
/// reject a negative pid as EINVAL but finds no such task (ESRCH); callers that grow their
/// mask while the answer is EINVAL rely on that.
fn affinity_target(task: &Task, id: i32) -> Result<Arc<TaskHandle>, Errno> {
    if id < 0 {
        return Err(Errno::ESRCH);
    }
    target(task, id)
}

pub(super) fn sched_getaffinity(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let target = affinity_target(task, arg_i32(a[0]))?;
    let size = arg_len(a[1])?;
    let needed = mask_len();
    if size < needed || size % 8 != 0 {
        return Err(Errno::EINVAL);
    }
    task.mm.copy_out(a[2], &affinity_of(&target))?;
    Ok(needed as u64)
}

pub(super) fn sched_setaffinity(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let target = affinity_target(task, arg_i32(a[0]))?;
    let mut mask = vec![0u8; mask_len()];
    let given = arg_len(a[1])?.min(mask.len());
    task.mm.copy_in(a[2], &mut mask[..given])?;
    // CPUs the sandbox doesn't have are dropped; none left is EINVAL.
    for cpu in cpu_count()..mask.len() * 8 {
        mask[cpu / 8] &= !(1 << (cpu % 8));
    }
    if mask.iter().all(|&b| b == 0) {
        return Err(Errno::EINVAL);
    }
    check_may_change(task, &target)?;
    target.settings.lock().affinity = Some(mask);
    Ok(0)
}

/// Changing another task's scheduling needs a matching uid or CAP_SYS_NICE.
fn check_may_change(task: &Task, target: &TaskHandle) -> Result<(), Errno> {
    let me = task.creds();
    let them = target.tg.state.lock().creds.clone();
    if me.capable(CAP_SYS_NICE) || me.euid == them.euid || me.euid == them.ruid {
        Ok(())
    } else {
        Err(Errno::EPERM)
    }
}

pub(super) fn getcpu(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    // The CPU the task runs on (its Sentry thread and stub share one), as the vDSO's getcpu
    // numbers it; the host doesn't apply the affinity the guest set, so a CPU outside it gives
    // way to the lowest CPU the task may run on.
    let affinity = affinity_of(&task.handle);
    let allowed = |cpu: usize| {
        affinity
            .get(cpu / 8)
            .is_some_and(|b| b & (1 << (cpu % 8)) != 0)
    };
    let running = nix::sched::sched_getcpu()
        .ok()
        .and_then(|host| task.kernel.vdso.sandbox_cpu(host))
        .filter(|&cpu| allowed(cpu));
    let cpu = running.unwrap_or_else(|| {
        affinity
            .iter()
            .enumerate()
            .find(|(_, &byte)| byte != 0)
            .map_or(0, |(i, &byte)| i * 8 + byte.trailing_zeros() as usize)
    });
    let cpu = u32::try_from(cpu).unwrap_or(0);
    if a[0] != 0 {
        task.mm.write_obj(a[0], &cpu)?;
    }
    if a[1] != 0 {
        task.mm.write_obj(a[1], &0u32)?;
    }
    Ok(0)
}

const SCHED_OTHER: i32 = 0;
const SCHED_FIFO: i32 = 1;
const SCHED_RR: i32 = 2;
const SCHED_BATCH: i32 = 3;
const SCHED_IDLE: i32 = 5;
/// sched_setscheduler's flag bit asking that children go back to SCHED_OTHER.
const SCHED_RESET_ON_FORK: i32 = 0x4000_0000;

pub(super) fn sched_getscheduler(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    target(task, arg_i32(a[0]))?;
    Ok(SCHED_OTHER as u64)
}

pub(super) fn sched_getparam(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    if a[1] == 0 {
        return Err(Errno::EINVAL);
    }
    target(task, arg_i32(a[0]))?;
    task.mm.write_obj(a[1], &0i32)?;
    Ok(0)
}

/// `sched_priority` must be 0 for the time-sharing policies.
fn check_param(task: &Task, addr: u64) -> Result<(), Errno> {
    if addr == 0 {
        return Err(Errno::EINVAL);
    }
    let priority: i32 = task.mm.read_obj(addr)?;
    if priority != 0 {
        return Err(Errno::EINVAL);
    }
    Ok(())
}

pub(super) fn sched_setparam(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let target = target(task, arg_i32(a[0]))?;
    check_param(task, a[1])?;
    check_may_change(task, &target)?;
    Ok(0)
}

pub(super) fn sched_setscheduler(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let target = target(task, arg_i32(a[0]))?;
    match arg_i32(a[1]) & !SCHED_RESET_ON_FORK {
        SCHED_OTHER | SCHED_BATCH | SCHED_IDLE => {}
        // Real-time policies would need the host to schedule the Sentry's threads so.
        SCHED_FIFO | SCHED_RR => return Err(Errno::EPERM),
        _ => return Err(Errno::EINVAL),
    }
    check_param(task, a[2])?;
    check_may_change(task, &target)?;
    Ok(0)
}

pub(super) fn sched_get_priority_max(_: &mut Task, a: &[u64; 6]) -> SyscallResult {
    match arg_i32(a[0]) {
        SCHED_FIFO | SCHED_RR => Ok(99),
        SCHED_OTHER | SCHED_BATCH | SCHED_IDLE => Ok(0),
        _ => Err(Errno::EINVAL),
    }
}

pub(super) fn sched_get_priority_min(_: &mut Task, a: &[u64; 6]) -> SyscallResult {
    match arg_i32(a[0]) {
        SCHED_FIFO | SCHED_RR => Ok(1),
        SCHED_OTHER | SCHED_BATCH | SCHED_IDLE => Ok(0),
        _ => Err(Errno::EINVAL),
    }
}

/// The nice range.
const NICE_MIN: i32 = -20;
const NICE_MAX: i32 = 19;

const PRIO_PROCESS: u32 = libc::PRIO_PROCESS;
const PRIO_PGRP: u32 = libc::PRIO_PGRP;
const PRIO_USER: u32 = libc::PRIO_USER;

/// The tasks getpriority/setpriority's (which, who) selects.
fn priority_targets(task: &Task, which: u32, who: i32) -> Result<Vec<Arc<TaskHandle>>, Errno> {
    if who < 0 {
        return Err(Errno::ESRCH);
    }
    let tasks: Vec<Arc<TaskHandle>> = match which {
        PRIO_PROCESS => vec![target(task, who)?],
        PRIO_PGRP | PRIO_USER => {
            let key = if who != 0 {
                who.cast_unsigned()
            } else if which == PRIO_PGRP {
                task.tg().state.lock().pgid.cast_unsigned()
            } else {
                task.creds().ruid
            };
            let groups: Vec<_> = task.kernel.pids.lock().groups().cloned().collect();
            groups
                .iter()
                .flat_map(|tg| {
                    let state = tg.state.lock();
                    let matches = if which == PRIO_PGRP {
                        state.pgid.cast_unsigned() == key
                    } else {
                        state.creds.ruid == key
                    };
                    if matches {
                        state.threads.clone()
                    } else {
                        Vec::new()
                    }
                })
                .collect()
        }
        _ => return Err(Errno::EINVAL),
    };
    if tasks.is_empty() {
        return Err(Errno::ESRCH);
    }
    Ok(tasks)
}

pub(super) fn getpriority(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let targets = priority_targets(task, arg_u32(a[0]), arg_i32(a[1]))?;
    let nice = targets
        .iter()
        .map(|t| t.settings.lock().nice)
        .min()
        .unwrap_or(0);
    // The raw syscall returns 20 - nice (1..=40) so that it is never negative.
    Ok(u64::from((20 - nice).cast_unsigned()))
}

pub(super) fn setpriority(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let targets = priority_targets(task, arg_u32(a[0]), arg_i32(a[1]))?;
    let nice = arg_i32(a[2]).clamp(NICE_MIN, NICE_MAX);
    let privileged = task.creds().capable(CAP_SYS_NICE);
    for target in &targets {
        check_may_change(task, target)?;
        let mut settings = target.settings.lock();
        // Raising priority (lowering nice) beyond RLIMIT_NICE needs CAP_SYS_NICE.
        if nice < settings.nice && !privileged && !within_rlimit_nice(task, nice) {
            return Err(Errno::EACCES);
        }
        settings.nice = nice;
    }
    Ok(0)
}

/// RLIMIT_NICE allows nice values down to `20 - limit`.
fn within_rlimit_nice(task: &Task, nice: i32) -> bool {
    let limit = task.rlimit(libc::RLIMIT_NICE).cur.min(40);
    i64::from(20 - nice) <= i64::try_from(limit).unwrap_or(0)
}

/// sched_rr_get_interval: every task is time-shared, and the host schedules the Sentry's
/// threads; the answer is Linux's round-robin time slice (RR_TIMESLICE, 100 ms).
pub(super) fn sched_rr_get_interval(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    target(task, arg_i32(a[0]))?;
    let slice = abi::Timespec {
        tv_sec: 0,
        tv_nsec: 100_000_000,
    };
    task.mm.write_obj(a[1], &slice)?;
    Ok(0)
}
