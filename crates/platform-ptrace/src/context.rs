//! A context: one stub thread, run with PTRACE_SYSEMU by the thread that traces it.

use std::sync::Arc;

use abi::{FpState, UserRegs};
use nix::unistd::Pid;
use platform::{Access, AddressSpace, Context, Interrupter, PendingThread, PlatformError, Trap};

use crate::address_space::PtraceAddressSpace;
use crate::interrupt::{ThreadInterrupter, INTERRUPT_SIGNAL};
use crate::sys::{self, SigInfo};
use crate::thread::PtracePendingThread;
use crate::tracee::{StopReason, Stopped};

/// `rax` values the kernel treats as "restart this system call" when it delivers a signal after
/// a syscall stop (-ERESTARTSYS ..= -ERESTART_RESTARTBLOCK); they are written with `orig_rax`
/// cleared so the kernel leaves them alone.
const KERNEL_RESTART_VALUES: std::ops::RangeInclusive<i64> = -516..=-512;

/// What the next switch must write back before resuming the guest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Pending {
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
    /// The stub thread.
    tid: Pid,
    /// `None` once the stub was lost (a ptrace request failed or it died).
    tracee: Option<Stopped>,
    regs: UserRegs,
    pending: Pending,
    interrupter: Arc<ThreadInterrupter>,
}

impl PtraceContext {
    /// The context of `tracee`, a stopped thread of `space`'s stub traced by the calling thread,
    /// whose registers are `regs` once `pending` is written back.
    pub(crate) fn new(
        space: Arc<PtraceAddressSpace>,
        tracee: Stopped,
        regs: UserRegs,
        pending: Pending,
    ) -> PtraceContext {
        let tid = tracee.tid();
        space.add_tracer(tid);
        PtraceContext {
            interrupter: Arc::new(ThreadInterrupter::new(space.pid(), tid)),
            space,
            tid,
            tracee: Some(tracee),
            regs,
            pending,
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
            tracee = stopped;
            let trap = match reason {
                StopReason::Syscall => Some(Trap::Syscall),
                StopReason::Signal(INTERRUPT_SIGNAL) => {
                    self.interrupter.take_request().then_some(Trap::Interrupted)
                }
                // Never deliver a host signal (SIGWINCH, SIGINT from the terminal, a stray kill)
                // into the guest: resuming without it drops it. A group-stop is resumed past.
                StopReason::Signal(_) => match tracee.signal_info()? {
                    Some(info) if is_synchronous(&info) => {
                        tracee.regs(&mut self.regs)?;
                        return Ok((tracee, trap_of(&info, self.regs.rip)));
                    }
                    Some(info) if is_vsyscall(&info) => {
                        tracee.regs(&mut self.regs)?;
                        return Ok((tracee, self.vsyscall_fault(info.addr)));
                    }
                    _ => None,
                },
                StopReason::EventStop => None,
            };
            if let Some(trap) = trap {
                tracee.regs(&mut self.regs)?;
                return Ok((tracee, trap));
            }
        }
    }
}

/// Whether a signal is the stub filter's SIGSYS for a call into the vsyscall page (its address
/// in `addr`, as siginfo's `si_call_addr`).
fn is_vsyscall(info: &SigInfo) -> bool {
    /// SYS_SECCOMP: the si_code of a SIGSYS raised by a seccomp filter.
    const SYS_SECCOMP: i32 = 1;
    info.signo == libc::SIGSYS
        && info.code == SYS_SECCOMP
        && abi::VSYSCALL_PAGE.contains(&info.addr)
}

impl PtraceContext {
    /// A call into the vsyscall page that the host emulated up to its seccomp check: the filter
    /// trapped it and the host then returned to the caller (popping the return address). That
    /// return is undone, so the Sentry sees what a host without the page would show: an
    /// instruction fetch fault at the called address.
    fn vsyscall_fault(&mut self, addr: u64) -> Trap {
        /// SEGV_MAPERR: the address is not mapped.
        const SEGV_MAPERR: i32 = 1;
        self.regs.rip = addr;
        self.regs.rsp = self.regs.rsp.wrapping_sub(8);
        self.pending = Pending::AllRegs;
        Trap::Fault {
            addr,
            access: Access::Exec,
            signo: libc::SIGSEGV,
            code: SEGV_MAPERR,
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
        if self.interrupter.take_request() {
            // Pending register changes stay pending for the switch that runs.
            return Ok(Trap::Interrupted);
        }
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

    fn spawn_thread(&mut self) -> Result<Box<dyn PendingThread>, PlatformError> {
        let tid = self.space.spawn_thread(self.tracee()?)?;
        Ok(Box::new(PtracePendingThread::new(
            self.space.clone(),
            tid,
            self.regs,
        )))
    }

    fn interrupter(&self) -> Arc<dyn Interrupter> {
        self.interrupter.clone()
    }
}

impl Drop for PtraceContext {
    fn drop(&mut self) {
        self.interrupter.disarm();
        self.space.remove_tracer(self.tid);
        // Ends the stub thread; the last thread's end kills and reaps the stub.
        self.space.end_thread(self.tid, self.tracee.take());
    }
}
