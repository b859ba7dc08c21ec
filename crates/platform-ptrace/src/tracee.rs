//! A traced stub thread, typed by whether it is stopped (registers can be read and written) or
//! running (it can only be waited for).

use std::io;

use abi::UserRegs;
use nix::sys::ptrace;
use nix::unistd::Pid;
use platform::PlatformError;

use crate::sys::{self, ChildFailure, SigInfo};

/// Why a running tracee stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StopReason {
    /// A syscall-entry stop under PTRACE_SYSEMU: the host skips the call.
    Syscall,
    /// A signal-delivery stop for this signal (a fault, an int3, or a signal from the host).
    Signal(i32),
}

/// A tracee in a ptrace stop, traced by the calling thread.
#[derive(Debug)]
pub(crate) struct Stopped {
    tid: Pid,
}

/// A tracee that was resumed and has not been waited for.
#[derive(Debug)]
#[must_use = "a running tracee must be waited for"]
pub(crate) struct Running {
    tid: Pid,
}

fn host(call: &'static str) -> impl FnOnce(io::Error) -> PlatformError {
    move |source| PlatformError::Host { call, source }
}

impl Stopped {
    /// The tracee `tid`, which the calling thread traces and which is in a stop.
    ///
    /// The stub thread of a context is stopped whenever its tracer thread is not inside
    /// [`Running::wait`], so code running on the tracer thread outside a switch may use this.
    pub(crate) fn of_own_tracee(tid: Pid) -> Stopped {
        Stopped { tid }
    }

    pub(crate) fn tid(&self) -> Pid {
        self.tid
    }

    pub(crate) fn regs(&self, regs: &mut UserRegs) -> Result<(), PlatformError> {
        sys::get_regs(self.tid, regs).map_err(host("ptrace(PTRACE_GETREGS)"))
    }

    pub(crate) fn set_regs(&self, regs: &UserRegs) -> Result<(), PlatformError> {
        sys::set_regs(self.tid, regs).map_err(host("ptrace(PTRACE_SETREGS)"))
    }

    /// Writes `rax` alone (PTRACE_POKEUSER).
    pub(crate) fn set_rax(&self, value: u64) -> Result<(), PlatformError> {
        let offset = std::mem::offset_of!(UserRegs, rax);
        ptrace::write_user(
            self.tid,
            std::ptr::without_provenance_mut(offset),
            crate::signed(value),
        )
        .map_err(crate::host_error("ptrace(PTRACE_POKEUSER)"))
    }

    pub(crate) fn siginfo(&self) -> Result<SigInfo, PlatformError> {
        sys::get_siginfo(self.tid).map_err(host("ptrace(PTRACE_GETSIGINFO)"))
    }

    /// Reads the XSAVE area into `buf`, returning its length.
    pub(crate) fn xstate(&self, buf: &mut [u8]) -> Result<usize, PlatformError> {
        sys::get_xstate(self.tid, buf).map_err(host("ptrace(PTRACE_GETREGSET, NT_X86_XSTATE)"))
    }

    pub(crate) fn set_xstate(&self, state: &[u8]) -> Result<(), PlatformError> {
        sys::set_xstate(self.tid, state).map_err(host("ptrace(PTRACE_SETREGSET, NT_X86_XSTATE)"))
    }

    /// Kills the tracee if the tracer exits; marks syscall stops (SIGTRAP | 0x80).
    pub(crate) fn set_options(&self) -> Result<(), PlatformError> {
        let options = ptrace::Options::PTRACE_O_EXITKILL | ptrace::Options::PTRACE_O_TRACESYSGOOD;
        ptrace::setoptions(self.tid, options)
            .map_err(crate::host_error("ptrace(PTRACE_SETOPTIONS)"))
    }

    /// Resumes until the next syscall entry (which the host then skips) or signal; a pending
    /// signal of the current stop is suppressed.
    pub(crate) fn sysemu(self) -> Result<Running, PlatformError> {
        ptrace::sysemu(self.tid, None).map_err(crate::host_error("ptrace(PTRACE_SYSEMU)"))?;
        Ok(Running { tid: self.tid })
    }

    /// Resumes with system calls executing (injection); a pending signal is suppressed.
    pub(crate) fn cont(self) -> Result<Running, PlatformError> {
        ptrace::cont(self.tid, None).map_err(crate::host_error("ptrace(PTRACE_CONT)"))?;
        Ok(Running { tid: self.tid })
    }
}

impl Running {
    /// A child just forked with PTRACE_TRACEME: running until its first stop.
    pub(crate) fn forked(pid: Pid) -> Running {
        Running { tid: pid }
    }

    /// Waits for the next stop. An exit of the tracee is [`PlatformError::StubDied`].
    pub(crate) fn wait(self) -> Result<(Stopped, StopReason), PlatformError> {
        let status = sys::wait_for(self.tid).map_err(host("waitpid"))?;
        let stopped = Stopped { tid: self.tid };
        if libc::WIFSTOPPED(status) {
            let signo = libc::WSTOPSIG(status);
            return Ok(if signo == libc::SIGTRAP | 0x80 {
                (stopped, StopReason::Syscall)
            } else {
                (stopped, StopReason::Signal(signo))
            });
        }
        Err(PlatformError::StubDied {
            pid: self.tid.as_raw(),
            reason: describe_end(status),
        })
    }
}

/// Why a waited-for tracee is gone.
fn describe_end(status: i32) -> String {
    if libc::WIFEXITED(status) {
        let code = libc::WEXITSTATUS(status);
        match ChildFailure::from_exit_status(code) {
            Some(step) => format!("exited with status {code}: {} failed", step.step()),
            None => format!("exited with status {code}"),
        }
    } else if libc::WIFSIGNALED(status) {
        let signo = libc::WTERMSIG(status);
        let hint = if signo == libc::SIGSYS {
            " (its seccomp filter refused a system call)"
        } else {
            ""
        };
        format!("killed by signal {signo}{hint}")
    } else {
        format!("unexpected wait status {status:#x}")
    }
}
