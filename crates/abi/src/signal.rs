use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// `siginfo_t` (128 bytes): the common header and the union as raw words, with constructors for
/// the layouts the Sentry produces.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct SigInfo {
    pub signo: i32,
    pub errno: i32,
    pub code: i32,
    pub pad: i32,
    /// The union, starting at byte 16.
    pub fields: [u64; 14],
}

// si_code values (asm-generic/siginfo.h).
pub const SI_USER: i32 = 0;
pub const SI_KERNEL: i32 = 0x80;
pub const SI_QUEUE: i32 = -1;
pub const SI_TIMER: i32 = -2;
pub const SI_TKILL: i32 = -6;
pub const CLD_EXITED: i32 = 1;
pub const CLD_KILLED: i32 = 2;
pub const CLD_DUMPED: i32 = 3;
pub const CLD_TRAPPED: i32 = 4;
pub const CLD_STOPPED: i32 = 5;
pub const CLD_CONTINUED: i32 = 6;

/// Two 32-bit fields in one union word, as C lays out `pid_t si_pid; uid_t si_uid;`.
fn pair(low: i32, high: u32) -> u64 {
    u64::from(low.cast_unsigned()) | (u64::from(high) << 32)
}

impl SigInfo {
    fn new(signo: i32, code: i32) -> SigInfo {
        SigInfo {
            signo,
            errno: 0,
            code,
            pad: 0,
            fields: [0; 14],
        }
    }

    /// A signal sent by a process (kill: SI_USER; tgkill: SI_TKILL).
    pub fn from_process(signo: i32, code: i32, pid: i32, uid: u32) -> SigInfo {
        let mut info = SigInfo::new(signo, code);
        info.fields[0] = pair(pid, uid);
        info
    }

    /// A signal the kernel raises (SI_KERNEL), e.g. SIGKILL at group exit.
    pub fn kernel(signo: i32) -> SigInfo {
        SigInfo::new(signo, SI_KERNEL)
    }

    /// A fault (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP) at `addr`.
    pub fn fault(signo: i32, code: i32, addr: u64) -> SigInfo {
        let mut info = SigInfo::new(signo, code);
        info.fields[0] = addr;
        info
    }

    /// SIGCHLD: a child's pid, uid, and status (exit code or signal number).
    pub fn child(signo: i32, code: i32, pid: i32, uid: u32, status: i32) -> SigInfo {
        let mut info = SigInfo::new(signo, code);
        info.fields[0] = pair(pid, uid);
        info.fields[1] = u64::from(status.cast_unsigned());
        info
    }

    /// The sender's pid for signals from processes (and SIGCHLD's child pid).
    pub fn pid(&self) -> i32 {
        u32::try_from(self.fields[0] & 0xffff_ffff)
            .unwrap_or_default()
            .cast_signed()
    }
}

/// Internal errnos (never seen by the guest): a syscall interrupted by a signal asks to be
/// restarted, depending on how the signal is handled.
pub mod restart {
    use crate::Errno;
    /// Restart if the handler has SA_RESTART (or no handler runs); else EINTR.
    pub const ERESTARTSYS: Errno = Errno(512);
    /// Always restart.
    pub const ERESTARTNOINTR: Errno = Errno(513);
    /// Restart only if no handler runs; else EINTR.
    pub const ERESTARTNOHAND: Errno = Errno(514);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn siginfo_is_128_bytes_with_the_union_at_16() {
        assert_eq!(std::mem::size_of::<SigInfo>(), 128);
        let info = SigInfo::child(17, CLD_EXITED, 42, 1000, 3);
        let bytes = info.as_bytes();
        assert_eq!(&bytes[16..20], &42i32.to_ne_bytes());
        assert_eq!(&bytes[20..24], &1000u32.to_ne_bytes());
        assert_eq!(&bytes[24..28], &3i32.to_ne_bytes());
        assert_eq!(info.pid(), 42);
    }
}
