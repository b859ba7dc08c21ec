//! Clocks, sleeps and process times.

use std::sync::Arc;
use std::time::Duration;

use abi::{Errno, Timespec, Timeval, Tms};

use super::{arg_i32, SyscallResult};
use crate::deadline::{duration_of, duration_of_timeval, Deadline};
use crate::task::Task;

/// Clock ticks per second of times(2) and /proc (USER_HZ).
const USER_HZ: u128 = 100;

/// The time of `clock`, as the guest sees it. The wall and monotonic clocks are the sandbox's
/// clock (crate::clock), which the vDSO reads too: its `__vdso_clock_gettime` must compute the
/// same clocks in the same groups.
pub(super) fn now(task: &Task, clock: i32) -> Result<Timespec, Errno> {
    let ns = match clock {
        libc::CLOCK_REALTIME
        | libc::CLOCK_REALTIME_COARSE
        | libc::CLOCK_REALTIME_ALARM
        | libc::CLOCK_TAI => task.kernel.clock.realtime_ns(),
        libc::CLOCK_MONOTONIC
        | libc::CLOCK_MONOTONIC_COARSE
        | libc::CLOCK_MONOTONIC_RAW
        | libc::CLOCK_BOOTTIME
        | libc::CLOCK_BOOTTIME_ALARM => task.kernel.clock.monotonic_ns(),
        // CPU clocks count what the Sentry sees of CPU time: see timers::cpu.
        libc::CLOCK_PROCESS_CPUTIME_ID => {
            let times = task.tg().cpu_times();
            return Ok(timespec_of(times.user + times.system));
        }
        libc::CLOCK_THREAD_CPUTIME_ID => return Ok(timespec_of(task.handle.cpu.total())),
        _ if clock < 0 => return cpu_clock(task, clock).map(timespec_of),
        _ => return Err(Errno::EINVAL),
    };
    Ok(timespec_of(Duration::from_nanos(ns)))
}

/// A CPU clock by id, as clock_getcpuclockid and pthread_getcpuclockid make them
/// (linux/posix-timers.h): `~pid << 3`, bit 2 for a thread, the low bits which time
/// (0 PROF: user + system, 1 VIRT: user, 2 SCHED: all). Pid 0 is the caller. A thread's clock
/// is readable only within its own process, as in Linux.
fn cpu_clock(task: &Task, clock: i32) -> Result<Duration, Errno> {
    const CPUCLOCK_VIRT: i32 = 1;
    const CPUCLOCK_MAX: i32 = 3;
    let which = clock & 3;
    if which == CPUCLOCK_MAX {
        return Err(Errno::EINVAL);
    }
    let id = !(clock >> 3);
    let (user, system) = if clock & 4 != 0 {
        let thread = if id == 0 {
            Arc::clone(&task.handle)
        } else {
            task.kernel
                .pids
                .lock()
                .task(id)
                .filter(|t| Arc::ptr_eq(&t.tg, task.tg()))
                .ok_or(Errno::EINVAL)?
        };
        (thread.cpu.user(), thread.cpu.system())
    } else {
        let group = if id == 0 {
            Arc::clone(task.tg())
        } else {
            task.kernel.pids.lock().group(id).ok_or(Errno::EINVAL)?
        };
        let times = group.cpu_times();
        (times.user, times.system)
    };
    Ok(if which == CPUCLOCK_VIRT {
        user
    } else {
        user + system
    })
}

/// A duration as a guest timespec (saturating at `i64::MAX` seconds).
pub(super) fn timespec_of(d: Duration) -> Timespec {
    Timespec {
        tv_sec: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        tv_nsec: i64::from(d.subsec_nanos()),
    }
}

pub(super) fn timeval_of(d: Duration) -> Timeval {
    Timeval {
        tv_sec: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        tv_usec: i64::from(d.subsec_micros()),
    }
}

/// The deadline a guest time means: `ts` from now, or when `clock` reads `ts` if `absolute`
/// (a time already past is now).
pub(super) fn deadline_of(
    task: &Task,
    clock: i32,
    ts: Timespec,
    absolute: bool,
) -> Result<Deadline, Errno> {
    let value = duration_of(ts)?;
    if !absolute {
        return Ok(Deadline::after(value));
    }
    let current = duration_of(now(task, clock)?)?;
    Ok(Deadline::when_clock_reads(value, current))
}

/// Checks a clock for timers and sleeps: EOPNOTSUPP for the clocks Linux has no timers on,
/// EINVAL for unknown ones.
pub(super) fn timer_clock(clock: i32) -> Result<i32, Errno> {
    match clock {
        libc::CLOCK_REALTIME
        | libc::CLOCK_MONOTONIC
        | libc::CLOCK_BOOTTIME
        | libc::CLOCK_REALTIME_ALARM
        | libc::CLOCK_BOOTTIME_ALARM
        | libc::CLOCK_TAI
        // CPU-clock timers and sleeps run on wall time (see timers::cpu).
        | libc::CLOCK_PROCESS_CPUTIME_ID
        | libc::CLOCK_THREAD_CPUTIME_ID => Ok(clock),
        libc::CLOCK_MONOTONIC_RAW | libc::CLOCK_REALTIME_COARSE | libc::CLOCK_MONOTONIC_COARSE => {
            Err(Errno::EOPNOTSUPP)
        }
        _ => Err(Errno::EINVAL),
    }
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

/// clock_settime: the sandbox has no CAP_SYS_TIME over the host's clock, as in gVisor.
pub(super) fn clock_settime(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let clock = arg_i32(a[0]);
    let ts: Timespec = task.mm.read_obj(a[1])?;
    duration_of(ts)?;
    match clock {
        libc::CLOCK_REALTIME => Err(Errno::EPERM),
        _ => Err(Errno::EINVAL),
    }
}

/// settimeofday: as clock_settime; a time zone alone is accepted and ignored (UTC).
pub(super) fn settimeofday(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    if a[0] == 0 {
        return Ok(0);
    }
    duration_of_timeval(task.mm.read_obj(a[0])?)?;
    Err(Errno::EPERM)
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
    let secs = task.kernel.clock.realtime_ns() / 1_000_000_000;
    if a[0] != 0 {
        task.mm.write_obj(a[0], &secs)?;
    }
    Ok(secs)
}

/// `d` in clock ticks.
fn ticks(d: Duration) -> i64 {
    i64::try_from(d.as_millis() * USER_HZ / 1000).unwrap_or(i64::MAX)
}

/// times(2): CPU times as the Sentry accounts them (timers::cpu); returns ticks since boot.
pub(super) fn times(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    if a[0] != 0 {
        let times = task.tg().cpu_times();
        let tms = Tms {
            utime: ticks(times.user),
            stime: ticks(times.system),
            cutime: ticks(times.children_user),
            cstime: ticks(times.children_system),
        };
        task.mm.write_obj(a[0], &tms)?;
    }
    Ok(ticks(task.kernel.boot_time.elapsed()).cast_unsigned())
}

/// How a sleep ends when a signal interrupts it.
#[derive(Clone, Copy)]
enum Interrupted {
    /// A relative sleep: the time left goes to `rem` (if not null); with no handler to run, the
    /// sleep goes on to the same deadline through restart_syscall (ERESTART_RESTARTBLOCK).
    Relative { rem: u64 },
    /// An absolute sleep: re-run as it was if no handler runs (ERESTARTNOHAND), else EINTR.
    Absolute,
}

/// Sleeps on the task's waiter until `deadline` or a signal.
fn sleep_until(task: &mut Task, deadline: Deadline, interrupted: Interrupted) -> SyscallResult {
    let waiter = Arc::clone(&task.handle.waiter);
    loop {
        waiter.clear();
        if deadline.has_passed() {
            return Ok(0);
        }
        if task.has_deliverable_signal() {
            break;
        }
        waiter.sleep(deadline.instant());
    }
    match interrupted {
        Interrupted::Absolute => Err(abi::restart::ERESTARTNOHAND),
        Interrupted::Relative { rem } => {
            if rem != 0 {
                task.mm.write_obj(rem, &timespec_of(deadline.remaining()))?;
            }
            task.restart_block = Some(Box::new(move |task: &mut Task| {
                sleep_until(task, deadline, interrupted)
            }));
            Err(abi::ERESTART_RESTARTBLOCK)
        }
    }
}

pub(super) fn nanosleep(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let request = duration_of(task.mm.read_obj(a[0])?)?;
    sleep_until(
        task,
        Deadline::after(request),
        Interrupted::Relative { rem: a[1] },
    )
}

pub(super) fn clock_nanosleep(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let (clock, flags) = (arg_i32(a[0]), arg_i32(a[1]));
    // Linux can't sleep on the calling thread's own CPU clock.
    if timer_clock(clock)? == libc::CLOCK_THREAD_CPUTIME_ID {
        return Err(Errno::EINVAL);
    }
    let request: Timespec = task.mm.read_obj(a[2])?;
    // CLOCK_PROCESS_CPUTIME_ID sleeps count wall time: the Sentry has no CPU-time events.
    let absolute = flags & libc::TIMER_ABSTIME != 0;
    let deadline = deadline_of(task, clock, request, absolute)?;
    let interrupted = if absolute {
        Interrupted::Absolute
    } else {
        Interrupted::Relative { rem: a[3] }
    };
    sleep_until(task, deadline, interrupted)
}

/// restart_syscall(2): continues what a syscall interrupted without a handler left (see
/// [`abi::ERESTART_RESTARTBLOCK`]); EINTR when there is nothing to continue, as Linux.
pub(super) fn restart_syscall(task: &mut Task, _: &[u64; 6]) -> SyscallResult {
    match task.restart_block.take() {
        Some(rest) => rest(task),
        None => Err(Errno::EINTR),
    }
}
