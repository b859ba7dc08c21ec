//! The run loop: switch into the guest, serve what it trapped on, switch back.

use platform::Trap;

use super::{ExitStatus, Task};

impl Task {
    /// Runs the task until it exits, and returns how it ended.
    pub(crate) fn run(&mut self) -> ExitStatus {
        loop {
            if let Some(status) = self.exit {
                return status;
            }
            let trap = match self.ctx.switch() {
                Ok(trap) => trap,
                Err(e) => {
                    // The stub is gone (killed from outside the sandbox): the task can't go on.
                    tracing::error!("task {}: {e}", self.tid);
                    return ExitStatus::Signaled(libc::SIGKILL);
                }
            };
            match trap {
                Trap::Syscall => self.handle_syscall(),
                Trap::Fault {
                    addr,
                    access,
                    signo,
                    ..
                } => {
                    if let Err(code) = self.mm.handle_fault(addr, access) {
                        tracing::debug!(
                            "task {}: {access:?} fault at {addr:#x} (si_code {code:?}), rip {:#x}",
                            self.tid,
                            self.ctx.regs().rip
                        );
                        self.force_signal(if signo == libc::SIGBUS {
                            signo
                        } else {
                            libc::SIGSEGV
                        });
                    }
                }
                Trap::Signal { signo, code, addr } => {
                    tracing::debug!(
                        "task {}: signal {signo} (code {code}, addr {addr:#x})",
                        self.tid
                    );
                    self.force_signal(signo);
                }
            }
        }
    }
}
