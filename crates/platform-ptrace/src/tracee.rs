//! A traced stub thread, typed by whether it is stopped (registers can be read and written) or
//! running (it can only be waited for).

use std::io;

use abi::UserRegs;
use nix::sys::ptrace;
use nix::unistd::Pid;
use platform::PlatformError;

use crate::sys::{self, ChildFailure, SigInfo};
use crate::waits;

/// Why a running tracee stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StopReason {
    /// A syscall-entry stop under PTRACE_SYSEMU: the host skips the call.
    Syscall,
    /// A signal-delivery stop for this signal (a fault, an int3, or a signal from the host), or
    /// a group-stop of a thread traced without PTRACE_SEIZE (its siginfo tells them apart).
    Signal(i32),
    /// A PTRACE_EVENT_STOP of a seized thread: PTRACE_INTERRUPT or a group-stop.
    EventStop,
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

    /// The signal of a [`StopReason::Signal`] stop; `None` if the stop is a group-stop (a stop
    /// signal sent to the stub, which the tracer resumes past, so it can't stop the guest).
    pub(crate) fn signal_info(&self) -> Result<Option<SigInfo>, PlatformError> {
        match sys::get_siginfo(self.tid) {
            Ok(info) => Ok(Some(info)),
            Err(err) if err.raw_os_error() == Some(libc::EINVAL) => Ok(None),
            Err(err) => Err(host("ptrace(PTRACE_GETSIGINFO)")(err)),
        }
    }

    /// Sets the host signals the thread blocks (see [`sys::set_sigmask`]).
    pub(crate) fn set_sigmask(&self, mask: u64) -> Result<(), PlatformError> {
        sys::set_sigmask(self.tid, mask).map_err(host("ptrace(PTRACE_SETSIGMASK)"))
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
        ptrace::setoptions(self.tid, OPTIONS)
            .map_err(crate::host_error("ptrace(PTRACE_SETOPTIONS)"))
    }

    /// Stops tracing the thread, which resumes where its registers say.
    pub(crate) fn detach(self) -> Result<(), PlatformError> {
        ptrace::detach(self.tid, None).map_err(crate::host_error("ptrace(PTRACE_DETACH)"))
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

/// What every tracee gets: killed if its tracer exits (which also covers the Sentry dying), and
/// syscall stops marked (SIGTRAP | 0x80).
const OPTIONS: ptrace::Options =
    ptrace::Options::PTRACE_O_EXITKILL.union(ptrace::Options::PTRACE_O_TRACESYSGOOD);

impl Running {
    /// A child just forked with PTRACE_TRACEME: running until its first stop.
    pub(crate) fn forked(pid: Pid) -> Running {
        Running { tid: pid }
    }

    /// A thread the calling thread traces, in whatever state (e.g. killed and not yet reaped).
    pub(crate) fn of_traced(tid: Pid) -> Running {
        Running { tid }
    }

    /// Makes the calling thread the tracer of the untraced thread `tid` and stops it
    /// (PTRACE_SEIZE, PTRACE_INTERRUPT); it reports a [`StopReason::EventStop`].
    pub(crate) fn seize(tid: Pid) -> Result<Running, PlatformError> {
        ptrace::seize(tid, OPTIONS).map_err(crate::host_error("ptrace(PTRACE_SEIZE)"))?;
        ptrace::interrupt(tid).map_err(crate::host_error("ptrace(PTRACE_INTERRUPT)"))?;
        Ok(Running { tid })
    }

    /// Waits until the tracee has ended (and is reaped), resuming it past any stop on the way.
    /// Errors mean it is already gone.
    pub(crate) fn reap(self) {
        while let Ok(status) = waits::wait_for(self.tid) {
            if !libc::WIFSTOPPED(status) {
                return;
            }
            // ESRCH: a SIGKILL got there first; the next wait reports the end.
            let _ = ptrace::cont(self.tid, None);
        }
    }

    /// Waits for the next stop. An exit of the tracee is [`PlatformError::StubDied`].
    pub(crate) fn wait(self) -> Result<(Stopped, StopReason), PlatformError> {
        let status = waits::wait_for(self.tid).map_err(host("waitpid"))?;
        let stopped = Stopped { tid: self.tid };
        if libc::WIFSTOPPED(status) {
            let signo = libc::WSTOPSIG(status);
            let reason = if status >> 16 == libc::PTRACE_EVENT_STOP {
                StopReason::EventStop
            } else if signo == libc::SIGTRAP | 0x80 {
                StopReason::Syscall
            } else {
                StopReason::Signal(signo)
            };
            return Ok((stopped, reason));
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
