//! Clocks and sleeping.

use std::time::{Duration, SystemTime};

use abi::{Errno, Timespec, Timeval};
use nix::time::{clock_gettime as host_clock_gettime, ClockId};

use super::{arg_i32, SyscallResult};
use crate::task::Task;

const NSEC_PER_SEC: i64 = 1_000_000_000;

/// The time of `clock`, as the guest sees it.
pub(super) fn now(task: &Task, clock: i32) -> Result<Timespec, Errno> {
    let host_clock = match clock {
        libc::CLOCK_REALTIME | libc::CLOCK_REALTIME_COARSE => ClockId::CLOCK_REALTIME,
        libc::CLOCK_MONOTONIC
        | libc::CLOCK_MONOTONIC_COARSE
        | libc::CLOCK_MONOTONIC_RAW
        | libc::CLOCK_BOOTTIME => ClockId::CLOCK_MONOTONIC,
        libc::CLOCK_PROCESS_CPUTIME_ID | libc::CLOCK_THREAD_CPUTIME_ID => {
            // CPU time of the guest isn't accounted yet: time since the task began bounds it.
            let elapsed = task.kernel.boot_time.elapsed();
            return Ok(timespec_of(elapsed));
        }
        _ => return Err(Errno::EINVAL),
    };
    let t = host_clock_gettime(host_clock).map_err(|e| Errno(e as i32))?;
    Ok(Timespec {
        tv_sec: t.tv_sec(),
        tv_nsec: t.tv_nsec(),
    })
}

fn timespec_of(d: Duration) -> Timespec {
    Timespec {
        tv_sec: d.as_secs().cast_signed(),
        tv_nsec: i64::from(d.subsec_nanos()),
    }
}

/// A guest timespec as a duration; EINVAL when out of range, as Linux checks.
pub(super) fn duration_of(ts: Timespec) -> Result<Duration, Errno> {
    let secs = u64::try_from(ts.tv_sec).map_err(|_| Errno::EINVAL)?;
    let nanos = u32::try_from(ts.tv_nsec)
        .ok()
        .filter(|&n| i64::from(n) < NSEC_PER_SEC);
    Ok(Duration::new(secs, nanos.ok_or(Errno::EINVAL)?))
}

pub(super) fn clock_gettime(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let ts = now(task, arg_i32(a[0]))?;
    task.mm.write_obj(a[1], &ts)?;
    Ok(0)
}

pub(super) fn clock_getres(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let clock = arg_i32(a[0]);
    now(task, clock)?;
    let res = match clock {
        // The coarse clocks tick with the scheduler (4 ms at HZ=250).
        libc::CLOCK_REALTIME_COARSE | libc::CLOCK_MONOTONIC_COARSE => 4_000_000,
        _ => 1,
    };
    if a[1] != 0 {
        task.mm.write_obj(
            a[1],
            &Timespec {
                tv_sec: 0,
                tv_nsec: res,
            },
        )?;
    }
    Ok(0)
}

pub(super) fn gettimeofday(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    if a[0] != 0 {
        let ts = now(task, libc::CLOCK_REALTIME)?;
        task.mm.write_obj(
            a[0],
            &Timeval {
                tv_sec: ts.tv_sec,
                tv_usec: ts.tv_nsec / 1000,
            },
        )?;
    }
    if a[1] != 0 {
        // struct timezone: the sandbox runs in UTC.
        task.mm.write_obj(a[1], &[0i32; 2])?;
    }
    Ok(0)
}

pub(super) fn time(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let secs = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    if a[0] != 0 {
        task.mm.write_obj(a[0], &secs)?;
    }
    Ok(secs)
}

pub(super) fn nanosleep(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let request = duration_of(task.mm.read_obj(a[0])?)?;
    std::thread::sleep(request);
    Ok(0)
}

pub(super) fn clock_nanosleep(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let (clock, flags) = (arg_i32(a[0]), arg_i32(a[1]));
    if matches!(clock, libc::CLOCK_THREAD_CPUTIME_ID) {
        return Err(Errno::EINVAL);
    }
    let request: Timespec = task.mm.read_obj(a[2])?;
    let mut sleep = duration_of(request)?;
    if flags & libc::TIMER_ABSTIME != 0 {
        let current = duration_of(now(task, clock)?)?;
        sleep = sleep.saturating_sub(current);
    }
    std::thread::sleep(sleep);
    Ok(0)
}
