//! A context: one stub thread, run with PTRACE_SYSEMU by the thread that traces it.

use std::sync::Arc;

use abi::{FpState, UserRegs};
use platform::{Access, AddressSpace, Context, PlatformError, Trap};

use crate::address_space::PtraceAddressSpace;
use crate::sys::{self, SigInfo};
use crate::tracee::{StopReason, Stopped};

/// `rax` values the kernel treats as "restart this system call" when it delivers a signal after
/// a syscall stop (-ERESTARTSYS ..= -ERESTART_RESTARTBLOCK); they are written with `orig_rax`
/// cleared so the kernel leaves them alone.
const KERNEL_RESTART_VALUES: std::ops::RangeInclusive<i64> = -516..=-512;

/// What the next switch must write back before resuming the guest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pending {
    Nothing,
    /// Only `rax` changed (a syscall result): one PTRACE_POKEUSER.
    Rax,
    /// Anything may have changed: PTRACE_SETREGS.
    AllRegs,
}

/// A guest thread: a stub thread traced by the OS thread that created this context.
#[derive(Debug)]
pub(crate) struct PtraceContext {
    space: Arc<PtraceAddressSpace>,
    /// `None` once the stub was lost (a ptrace request failed or it died).
    tracee: Option<Stopped>,
    regs: UserRegs,
    pending: Pending,
}

impl PtraceContext {
    pub(crate) fn new(space: PtraceAddressSpace, tracee: Stopped, regs: UserRegs) -> PtraceContext {
        let space = Arc::new(space);
        space.add_tracer(tracee.tid());
        PtraceContext {
            space,
            tracee: Some(tracee),
            regs,
            pending: Pending::Nothing,
        }
    }

    fn tracee(&self) -> Result<&Stopped, PlatformError> {
        self.tracee.as_ref().ok_or_else(|| self.lost())
    }

    fn lost(&self) -> PlatformError {
        PlatformError::StubDied {
            pid: self.space.pid().as_raw(),
            reason: "lost by an earlier error".into(),
        }
    }

    /// Writes back what changed in the register cache.
    fn flush(&mut self, tracee: &Stopped) -> Result<(), PlatformError> {
        match self.pending {
            Pending::Nothing => {}
            Pending::Rax => tracee.set_rax(self.regs.rax)?,
            Pending::AllRegs => {
                // Syscall restarts are the Sentry's business: with orig_rax = -1 the kernel never
                // rewinds rip on its own when it delivers a host signal to the stopped stub.
                let regs = UserRegs {
                    orig_rax: u64::MAX,
                    ..self.regs
                };
                tracee.set_regs(&regs)?;
            }
        }
        self.pending = Pending::Nothing;
        Ok(())
    }

    /// Runs the stub until a stop the Sentry must see, suppressing host signals.
    fn run(&mut self, mut tracee: Stopped) -> Result<(Stopped, Trap), PlatformError> {
        loop {
            let (stopped, reason) = tracee.sysemu()?.wait()?;
            match reason {
                StopReason::Syscall => {
                    stopped.regs(&mut self.regs)?;
                    return Ok((stopped, Trap::Syscall));
                }
                StopReason::Signal(_) => {
                    let info = stopped.siginfo()?;
                    if !is_synchronous(&info) {
                        // Never deliver a host signal (SIGWINCH, SIGINT from the terminal, a
                        // stray kill) into the guest: resuming without it drops it.
                        tracee = stopped;
                        continue;
                    }
                    stopped.regs(&mut self.regs)?;
                    return Ok((stopped, trap_of(&info, self.regs.rip)));
                }
            }
        }
    }
}

/// Whether a signal was raised by what the stub executed (a fault, an int3, a bad instruction),
/// rather than sent to it. Kernel-raised signals have a positive `si_code`; signals sent by a
/// process (kill, tgkill, sigqueue) have `si_code <= 0`.
pub(crate) fn is_synchronous(info: &SigInfo) -> bool {
    matches!(
        info.signo,
        libc::SIGSEGV | libc::SIGBUS | libc::SIGILL | libc::SIGFPE | libc::SIGTRAP
    ) && info.code > 0
}

fn trap_of(info: &SigInfo, rip: u64) -> Trap {
    match info.signo {
        libc::SIGSEGV | libc::SIGBUS => {
            // ptrace doesn't say which access faulted; like gVisor, guess: the instruction
            // fetch if it faulted at rip, else a read (the caller retries as a write).
            let access = if info.addr == rip {
                Access::Exec
            } else {
                Access::Read
            };
            Trap::Fault {
                addr: info.addr,
                access,
                signo: info.signo,
                code: info.code,
            }
        }
        _ => Trap::Signal {
            signo: info.signo,
            code: info.code,
            addr: info.addr,
        },
    }
}

impl Context for PtraceContext {
    fn switch(&mut self) -> Result<Trap, PlatformError> {
        let tracee = self.tracee.take().ok_or_else(|| self.lost())?;
        if let Err(err) = self.flush(&tracee) {
            // The stub is still stopped; the caller may fix the registers and retry.
            self.tracee = Some(tracee);
            return Err(err);
        }
        let (tracee, trap) = self.run(tracee)?;
        self.tracee = Some(tracee);
        Ok(trap)
    }

    fn regs(&self) -> &UserRegs {
        &self.regs
    }

    fn regs_mut(&mut self) -> &mut UserRegs {
        self.pending = Pending::AllRegs;
        &mut self.regs
    }

    fn set_return(&mut self, value: u64) {
        self.regs.rax = value;
        if self.pending == Pending::Nothing {
            self.pending = if KERNEL_RESTART_VALUES.contains(&crate::signed(value)) {
                Pending::AllRegs
            } else {
                Pending::Rax
            };
        }
    }

    fn fp_state(&mut self) -> Result<FpState, PlatformError> {
        let mut buf = vec![0; sys::xstate_size()];
        let len = self.tracee()?.xstate(&mut buf)?;
        buf.truncate(len);
        Ok(FpState(buf))
    }

    fn set_fp_state(&mut self, state: &FpState) -> Result<(), PlatformError> {
        self.tracee()?.set_xstate(&state.0)
    }

    fn address_space(&self) -> Arc<dyn AddressSpace> {
        self.space.clone()
    }
}

impl Drop for PtraceContext {
    fn drop(&mut self) {
        // The last reference to the address space kills and reaps the stub.
        self.space.remove_tracer();
    }
}
