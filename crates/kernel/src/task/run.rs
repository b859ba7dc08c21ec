//! The run loop: deliver signals, switch into the guest, serve what it trapped on.

use abi::SigInfo;
use platform::{Access, Trap};

use super::signals::Delivery;
use super::{ExitStatus, Task};

impl Task {
    /// Runs the task until it is to exit, and returns its exit status.
    pub(crate) fn run(&mut self) -> ExitStatus {
        loop {
            if let Delivery::Exit(status) = self.deliver_signals() {
                return status;
            }
            // File pages dropped by truncation or hole punching (possibly by another process)
            // leave this address space before its guest code runs again.
            self.mm.apply_invalidations();
            // Which mapping changes a fault of this run may have raced with (other threads').
            let entered = self.mm.mappings_epoch();
            // Time in the guest is the task's user time (see timers::cpu).
            let switch = self.handle.cpu.enter_guest();
            let switched = self.ctx.switch();
            self.handle.cpu.leave_guest(switch);
            let trap = match switched {
                Ok(trap) => trap,
                Err(e) => {
                    // The stub is gone (killed from outside the sandbox): the process can't go on.
                    tracing::error!("task {}: {e}", self.tid);
                    self.kernel
                        .start_group_exit(self.tg(), ExitStatus::Signaled(libc::SIGKILL));
                    continue;
                }
            };
            match trap {
                Trap::Syscall => self.handle_syscall(),
                // A call into the vsyscall page, emulated unless it is not one of its calls.
                Trap::Fault {
                    addr,
                    access: Access::Exec,
                    ..
                } if abi::VSYSCALL_PAGE.contains(&addr) && self.emulate_vsyscall(addr) => {}
                Trap::Fault {
                    addr,
                    access,
                    signo,
                    ..
                } => {
                    if let Err(code) = self.mm.handle_fault(addr, access, entered) {
                        tracing::debug!(
                            "task {}: {access:?} fault at {addr:#x} ({code:?}), rip {:#x}",
                            self.tid,
                            self.ctx.regs().rip
                        );
                        let signo = if signo == libc::SIGBUS {
                            signo
                        } else {
                            code.signo()
                        };
                        self.force_signal(SigInfo::fault(signo, code.si_code(), addr));
                    }
                }
                Trap::Signal { signo, code, addr } => {
                    self.force_signal(SigInfo::fault(signo, code, addr));
                }
                Trap::Interrupted => {}
            }
        }
    }
}
