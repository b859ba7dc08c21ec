//! The legacy vsyscall page: old static binaries call gettimeofday, time and getcpu at fixed
//! addresses above the address space. Linux emulates such a call; so does the Sentry, when the
//! platform reports the instruction fetch there.

use abi::{Errno, VSYSCALL_GETCPU, VSYSCALL_GETTIMEOFDAY, VSYSCALL_TIME};

use super::table;
use crate::task::Task;

impl Task {
    /// Emulates a call to `addr` in the vsyscall page as Linux does: the system call it names,
    /// with the caller's arguments, its result in `rax`, then a return to the address on top of
    /// the stack. False (nothing changed; the fault is the guest's SIGSEGV) for any other
    /// address, an unreadable stack, or a bad pointer argument.
    pub(crate) fn emulate_vsyscall(&mut self, addr: u64) -> bool {
        let nr = match addr {
            VSYSCALL_GETTIMEOFDAY => libc::SYS_gettimeofday,
            VSYSCALL_TIME => libc::SYS_time,
            VSYSCALL_GETCPU => libc::SYS_getcpu,
            _ => return false,
        };
        let Some(entry) = table::lookup(nr.cast_unsigned()) else {
            return false;
        };
        let regs = *self.ctx.regs();
        let Ok(caller) = self.mm.read_obj::<u64>(regs.rsp) else {
            return false;
        };
        let ret = match (entry.handler)(self, &[regs.rdi, regs.rsi, regs.rdx, 0, 0, 0]) {
            Ok(value) => value,
            Err(Errno::EFAULT) => return false,
            Err(errno) => errno.as_return(),
        };
        let regs = self.ctx.regs_mut();
        regs.rax = ret;
        regs.rip = caller;
        regs.rsp = regs.rsp.wrapping_add(8);
        true
    }
}
