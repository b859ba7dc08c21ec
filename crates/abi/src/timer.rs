//! Timer ABI: itimers, POSIX timers and timerfds (`struct itimerval`, `struct itimerspec`,
//! `struct sigevent`, `struct tms`), and the siginfo a POSIX timer's signal carries.

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use crate::{Errno, SigInfo, Timespec, Timeval, SI_TIMER};

/// `struct itimerval` (setitimer/getitimer).
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct Itimerval {
    pub interval: Timeval,
    pub value: Timeval,
}

/// `struct itimerspec` (timer_settime, timerfd_settime).
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct Itimerspec {
    pub interval: Timespec,
    pub value: Timespec,
}

/// `struct sigevent` (64 bytes): how a POSIX timer notifies.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct Sigevent {
    /// `union sigval`: handed back in the signal's si_value.
    pub value: u64,
    pub signo: i32,
    pub notify: i32,
    /// The union; its first int is `sigev_notify_thread_id` for SIGEV_THREAD_ID.
    pub union: [i32; 12],
}

impl Sigevent {
    /// The thread SIGEV_THREAD_ID aims at.
    pub fn thread_id(&self) -> i32 {
        self.union[0]
    }
}

/// `struct tms` (times(2)), in clock ticks.
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct Tms {
    pub utime: i64,
    pub stime: i64,
    pub cutime: i64,
    pub cstime: i64,
}

/// Internal errno (never seen by the guest): the syscall was interrupted; if no handler runs it
/// continues through restart_syscall(2) with the state it saved (a sleep's remaining time),
/// else it fails with EINTR.
pub const ERESTART_RESTARTBLOCK: Errno = Errno(516);

impl SigInfo {
    /// A POSIX timer's signal (SI_TIMER): the timer id, overrun count and the sigevent's value,
    /// laid out as the `_timer` member of the union.
    pub fn timer(signo: i32, timer_id: i32, overrun: i32, value: u64) -> SigInfo {
        let mut info = SigInfo {
            signo,
            errno: 0,
            code: SI_TIMER,
            pad: 0,
            fields: [0; 14],
        };
        info.set_timer_fields(timer_id, overrun);
        info.fields[1] = value;
        info
    }

    /// The timer id of an SI_TIMER signal (si_timerid).
    pub fn timer_id(&self) -> i32 {
        u32::try_from(self.fields[0] & 0xffff_ffff)
            .unwrap_or_default()
            .cast_signed()
    }

    /// Sets si_overrun of an SI_TIMER signal as it is dequeued.
    pub fn set_timer_overrun(&mut self, overrun: i32) {
        self.set_timer_fields(self.timer_id(), overrun);
    }

    fn set_timer_fields(&mut self, timer_id: i32, overrun: i32) {
        self.fields[0] =
            u64::from(timer_id.cast_unsigned()) | (u64::from(overrun.cast_unsigned()) << 32);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_match_linux() {
        assert_eq!(std::mem::size_of::<Sigevent>(), 64);
        assert_eq!(std::mem::size_of::<Itimerval>(), 32);
        assert_eq!(std::mem::size_of::<Itimerspec>(), 32);
        assert_eq!(std::mem::size_of::<Tms>(), 32);
    }

    #[test]
    fn timer_siginfo_fields() {
        let mut info = SigInfo::timer(34, 7, 0, 0xdead_beef);
        info.set_timer_overrun(3);
        let bytes = info.as_bytes();
        assert_eq!(info.code, SI_TIMER);
        assert_eq!(&bytes[16..20], &7i32.to_ne_bytes()); // si_timerid
        assert_eq!(&bytes[20..24], &3i32.to_ne_bytes()); // si_overrun
        assert_eq!(&bytes[24..32], &0xdead_beef_u64.to_ne_bytes()); // si_value
        assert_eq!(info.timer_id(), 7);
    }
}
