//! Timers: alarm and itimers, POSIX timers (timer_*), timerfds.

use std::sync::Arc;
use std::time::Duration;

use abi::{Errno, Itimerspec, Itimerval, Sigevent};

use super::time::{deadline_of, timer_clock, timespec_of, timeval_of};
use super::{arg_i32, arg_u32, ret_id, SyscallResult};
use crate::deadline::{duration_of, duration_of_timeval, Deadline};
use crate::task::{Task, NSIG};
use crate::timers::{ItimerKind, PosixTimerSpec, Setting, TimerTarget};

/// sigev_notify values (asm-generic/siginfo.h).
const SIGEV_SIGNAL: i32 = 0;
const SIGEV_NONE: i32 = 1;
const SIGEV_THREAD: i32 = 2;
const SIGEV_THREAD_ID: i32 = 4;

/// timerfd flags (linux/timerfd.h).
const TFD_TIMER_ABSTIME: i32 = 1;
const TFD_TIMER_CANCEL_ON_SET: i32 = 2;

/// The remaining time an armed timer reports: at least 1 µs while armed, as Linux does so an
/// armed timer never reads as disarmed.
fn remaining(setting: &Setting) -> Duration {
    match setting.next {
        Some(_) => setting.remaining().max(Duration::from_micros(1)),
        None => Duration::ZERO,
    }
}

fn itimerspec_of(setting: &Setting) -> Itimerspec {
    Itimerspec {
        interval: timespec_of(setting.interval),
        value: timespec_of(remaining(setting)),
    }
}

/// The setting a guest itimerspec asks for on `clock`: a zero value disarms.
fn setting_of(task: &Task, clock: i32, spec: Itimerspec, absolute: bool) -> Result<Setting, Errno> {
    let interval = duration_of(spec.interval)?;
    let value = duration_of(spec.value)?;
    if value.is_zero() {
        return Ok(Setting::default());
    }
    Ok(Setting {
        next: Some(deadline_of(task, clock, spec.value, absolute)?.armed_instant()),
        interval,
    })
}

pub(super) fn alarm(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let seconds = arg_u32(a[0]);
    let timer = task
        .tg()
        .timers
        .itimer(&task.kernel, task.tg(), ItimerKind::Real);
    let setting = if seconds == 0 {
        Setting::default()
    } else {
        Setting {
            next: Some(Deadline::after(Duration::from_secs(seconds.into())).armed_instant()),
            interval: Duration::ZERO,
        }
    };
    let old = remaining(&timer.set(setting));
    // Whole seconds, rounded to nearest, and never 0 for a pending alarm.
    let mut left = old.as_secs();
    if old.subsec_micros() >= 500_000 || (left == 0 && !old.is_zero()) {
        left += 1;
    }
    Ok(left)
}

fn itimerval_of(setting: &Setting) -> Itimerval {
    Itimerval {
        interval: timeval_of(setting.interval),
        value: timeval_of(remaining(setting)),
    }
}

pub(super) fn getitimer(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let kind = ItimerKind::from_which(arg_i32(a[0]))?;
    let setting = task.tg().timers.itimer_setting(kind);
    task.mm.write_obj(a[1], &itimerval_of(&setting))?;
    Ok(0)
}

pub(super) fn setitimer(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let kind = ItimerKind::from_which(arg_i32(a[0]))?;
    // A null new value disarms: a misfeature Linux still supports.
    let new: Itimerval = if a[1] == 0 {
        Itimerval::default()
    } else {
        task.mm.read_obj(a[1])?
    };
    let interval = duration_of_timeval(new.interval)?;
    let value = duration_of_timeval(new.value)?;
    let setting = if value.is_zero() {
        Setting::default()
    } else {
        Setting {
            next: Some(Deadline::after(value).armed_instant()),
            interval,
        }
    };
    let timer = task.tg().timers.itimer(&task.kernel, task.tg(), kind);
    let old = timer.set(setting);
    if a[2] != 0 {
        task.mm.write_obj(a[2], &itimerval_of(&old))?;
    }
    Ok(0)
}

/// What a sigevent asks for, checked as Linux's good_sigevent does.
fn timer_spec(task: &Task, event: Option<Sigevent>) -> Result<PosixTimerSpec, Errno> {
    let Some(event) = event else {
        // No sigevent: SIGALRM to the process, with the timer id as its value.
        return Ok(PosixTimerSpec {
            signo: libc::SIGALRM,
            value: None,
            target: TimerTarget::Process,
        });
    };
    let valid_signal = (1..=NSIG).contains(&event.signo);
    let target = match event.notify {
        SIGEV_NONE => TimerTarget::Nobody,
        // SIGEV_THREAD is the C library's business; the kernel signals the process.
        SIGEV_SIGNAL | SIGEV_THREAD if valid_signal => TimerTarget::Process,
        n if n == SIGEV_THREAD_ID | SIGEV_SIGNAL && valid_signal => {
            let thread = task
                .kernel
                .pids
                .lock()
                .task(event.thread_id())
                .filter(|t| Arc::ptr_eq(&t.tg, task.tg()))
                .ok_or(Errno::EINVAL)?;
            TimerTarget::Thread(Arc::downgrade(&thread))
        }
        _ => return Err(Errno::EINVAL),
    };
    Ok(PosixTimerSpec {
        signo: event.signo,
        value: Some(event.value),
        target,
    })
}

pub(super) fn timer_create(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let clock = timer_clock(arg_i32(a[0]))?;
    let event = if a[1] == 0 {
        None
    } else {
        Some(task.mm.read_obj::<Sigevent>(a[1])?)
    };
    let spec = timer_spec(task, event)?;
    let timers = &task.tg().timers;
    let id = timers.create_posix(&task.kernel, task.tg(), clock, spec)?;
    if let Err(e) = task.mm.write_obj(a[2], &id) {
        timers.delete_posix(id)?;
        return Err(e);
    }
    Ok(0)
}

pub(super) fn timer_settime(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let timer = task.tg().timers.posix(arg_i32(a[0]))?;
    let flags = arg_i32(a[1]);
    let new: Itimerspec = task.mm.read_obj(a[2])?;
    let setting = setting_of(task, timer.clock, new, flags & libc::TIMER_ABSTIME != 0)?;
    let old = timer.timer.set(setting);
    if a[3] != 0 {
        task.mm.write_obj(a[3], &itimerspec_of(&old))?;
    }
    Ok(0)
}

pub(super) fn timer_gettime(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let timer = task.tg().timers.posix(arg_i32(a[0]))?;
    task.mm
        .write_obj(a[1], &itimerspec_of(&timer.timer.get()))?;
    Ok(0)
}

pub(super) fn timer_getoverrun(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let timer = task.tg().timers.posix(arg_i32(a[0]))?;
    Ok(ret_id(timer.overrun()))
}

pub(super) fn timer_delete(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    task.tg().timers.delete_posix(arg_i32(a[0]))?;
    Ok(0)
}

pub(super) fn timerfd_create(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let (clock, flags) = (arg_i32(a[0]), arg_i32(a[1]));
    if !matches!(
        clock,
        libc::CLOCK_REALTIME
            | libc::CLOCK_MONOTONIC
            | libc::CLOCK_BOOTTIME
            | libc::CLOCK_REALTIME_ALARM
            | libc::CLOCK_BOOTTIME_ALARM
    ) {
        return Err(Errno::EINVAL);
    }
    if flags & !(libc::TFD_CLOEXEC | libc::TFD_NONBLOCK) != 0 {
        return Err(Errno::EINVAL);
    }
    let kernel = &task.kernel;
    let file = crate::timers::new_timerfd(
        &kernel.timers,
        &kernel.timerfds,
        clock,
        flags & libc::O_NONBLOCK,
    );
    let limit = task.nofile_limit();
    let fd = task
        .fds()
        .install(file, flags & libc::TFD_CLOEXEC != 0, 0, limit)?;
    Ok(fd as u64)
}

pub(super) fn timerfd_settime(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let flags = arg_i32(a[1]);
    if flags & !(TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET) != 0 {
        return Err(Errno::EINVAL);
    }
    let file = task.fds().get(a[0])?;
    let timerfd = task.kernel.timerfds.get(&file)?;
    let new: Itimerspec = task.mm.read_obj(a[2])?;
    let setting = setting_of(task, timerfd.clock, new, flags & TFD_TIMER_ABSTIME != 0)?;
    let old = timerfd.set(setting);
    if a[3] != 0 {
        task.mm.write_obj(a[3], &itimerspec_of(&old))?;
    }
    Ok(0)
}

pub(super) fn timerfd_gettime(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let file = task.fds().get(a[0])?;
    let timerfd = task.kernel.timerfds.get(&file)?;
    task.mm
        .write_obj(a[1], &itimerspec_of(&timerfd.timer.get()))?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use abi::Timespec;

    #[test]
    fn armed_timers_never_read_as_disarmed() {
        let due = Setting {
            next: Some(std::time::Instant::now()),
            interval: Duration::ZERO,
        };
        assert_eq!(remaining(&due), Duration::from_micros(1));
        assert_eq!(remaining(&Setting::default()), Duration::ZERO);
        let spec = itimerspec_of(&Setting {
            next: None,
            interval: Duration::from_millis(1500),
        });
        assert_eq!(
            spec.interval,
            Timespec {
                tv_sec: 1,
                tv_nsec: 500_000_000
            }
        );
    }
}
