//! System calls: the table (number, name, argument kinds, handler) and one file per family.

mod creds;
mod epoll;
mod eventfd;
mod file;
mod fs;
mod fs_ext;
mod futex;
mod handles;
mod injected_panic;
mod inotify;
mod int80;
mod io;
mod ipc;
mod limits;
mod locks;
mod memory;
mod mqueue;
mod poll;
mod prctl;
mod process;
mod sched;
mod signal;
mod signalfd;
mod socket;
pub(crate) mod strace;
mod system;
pub mod table;
mod time;
mod timer;
mod vsyscall;
mod xattr;

use abi::Errno;

pub(crate) use creds::{SetIds, CAP_LAST_CAP, CAP_SYS_ADMIN};
pub(crate) use file::Iovec;
pub(crate) use sched::{cpu_count, learn_host_cpus, sched_cpus};

use crate::task::Task;

/// What a handler returns: the value for `rax`, or an errno (returned negated).
pub(crate) type SyscallResult = Result<u64, Errno>;

/// A syscall handler: the task and the six argument registers.
pub(crate) type Handler = fn(&mut Task, &[u64; 6]) -> SyscallResult;

/// Longest path a syscall accepts, terminating NUL included (PATH_MAX).
pub(crate) const PATH_MAX: usize = 4096;

impl Task {
    /// Serves the syscall the guest just trapped on and writes its result back.
    pub(crate) fn handle_syscall(&mut self) {
        let regs = self.ctx.regs();
        injected_panic::check(regs.syscall_nr());
        let (nr, args, entry) = if int80::trapped_on_int80(regs, &self.mm) {
            let nr = regs.syscall_nr();
            let entry = int80::amd64_number(nr).and_then(table::lookup);
            (nr, int80::args(regs), entry)
        } else {
            let nr = regs.syscall_nr();
            (nr, regs.syscall_args(), table::lookup(nr))
        };
        let result = match entry {
            Some(entry) => {
                if self.kernel.strace {
                    strace::enter(self, entry, &args);
                }
                (entry.handler)(self, &args)
            }
            None => Err(Errno::ENOSYS),
        };
        if self.kernel.strace {
            strace::exit(self, nr, entry, &args, &result);
        }
        if std::mem::take(&mut self.regs_replaced) {
            return;
        }
        let ret = match result {
            Ok(value) => value,
            Err(errno) => {
                if is_restart(errno) {
                    self.restart = Some(errno);
                }
                errno.as_return()
            }
        };
        self.ctx.set_return(ret);
    }

    /// Reads a NUL-terminated path from guest memory.
    pub(crate) fn read_path(&self, addr: u64) -> Result<Vec<u8>, Errno> {
        let path = self.mm.read_cstring(addr, PATH_MAX)?;
        if path.is_empty() {
            return Err(Errno::ENOENT);
        }
        Ok(path)
    }
}

/// An ERESTART* errno: the syscall was interrupted and may be restarted.
fn is_restart(errno: Errno) -> bool {
    use abi::restart::{ERESTARTNOHAND, ERESTARTNOINTR, ERESTARTSYS};
    errno == ERESTARTSYS
        || errno == ERESTARTNOINTR
        || errno == ERESTARTNOHAND
        || errno == abi::ERESTART_RESTARTBLOCK
}

/// An `int` argument: the register's low 32 bits (the ABI leaves the upper half undefined).
pub(crate) fn arg_i32(value: u64) -> i32 {
    arg_u32(value).cast_signed()
}

/// An `unsigned int` argument: the register's low 32 bits.
#[expect(
    clippy::cast_possible_truncation,
    reason = "a 32-bit argument is the low half"
)]
pub(crate) fn arg_u32(value: u64) -> u32 {
    value as u32
}

/// A signed 64-bit argument (`off_t`, `long`).
pub(crate) fn arg_i64(value: u64) -> i64 {
    value.cast_signed()
}

/// A pid, uid or other non-negative `int` as a return value.
pub(crate) fn ret_id(id: i32) -> u64 {
    i64::from(id).cast_unsigned()
}

/// An int-sized flags word as a return value (F_GETFL), its bits kept as they are.
pub(crate) fn ret_flags(flags: i32) -> u64 {
    u64::from(flags.cast_unsigned())
}

/// Whether a dirfd argument is AT_FDCWD.
pub(crate) fn is_at_fdcwd(dirfd: u64) -> bool {
    arg_i32(dirfd) == libc::AT_FDCWD
}

/// AT_FDCWD as an argument register holds it.
pub(crate) const AT_FDCWD: u64 = (libc::AT_FDCWD as i64).cast_unsigned();

/// A `size_t`/length argument as usize.
pub(crate) fn arg_len(value: u64) -> Result<usize, Errno> {
    usize::try_from(value).map_err(|_| Errno::EINVAL)
}
