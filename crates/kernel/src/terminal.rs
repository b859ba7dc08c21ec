//! The sandbox's controlling terminal: its stdio, when the caller gave it a tty. The terminal
//! belongs to init's session (1); its foreground process group decides who may read it and
//! who gets the keyboard's signals.

use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Weak};

use abi::{Errno, SigInfo};
use parking_lot::Mutex;
use vfs::OpenFile;

use crate::kernel::Kernel;
use crate::task::{Task, ThreadGroup};

/// The session that owns the terminal: init's.
const TERMINAL_SID: i32 = 1;

/// Size of the kernel's `struct termios` (TCGETS).
pub(crate) const TERMIOS_SIZE: usize = 36;

/// The terminal and its foreground process group.
pub(crate) struct Terminal {
    /// The open files (the stdio descriptions) that are the terminal.
    files: Mutex<Vec<Weak<OpenFile>>>,
    foreground: AtomicI32,
}

impl Default for Terminal {
    fn default() -> Self {
        Terminal {
            files: Mutex::new(Vec::new()),
            foreground: AtomicI32::new(1),
        }
    }
}

impl Terminal {
    /// Registers `file` as the terminal if it is a tty (TCGETS answers).
    pub(crate) fn adopt_if_tty(&self, file: &Arc<OpenFile>) {
        let mut termios = [0u8; TERMIOS_SIZE];
        if file
            .ioctl(crate::syscalls::arg_u32(libc::TCGETS), &mut termios)
            .is_ok()
        {
            self.files.lock().push(Arc::downgrade(file));
        }
    }

    pub(crate) fn is_terminal(&self, file: &Arc<OpenFile>) -> bool {
        self.files
            .lock()
            .iter()
            .any(|f| std::ptr::eq(f.as_ptr(), Arc::as_ptr(file)))
    }

    pub(crate) fn foreground(&self) -> i32 {
        self.foreground.load(Ordering::Relaxed)
    }
}

/// Whether a signal sent to the caller's own group now would be discarded or held back, in
/// which case Linux doesn't send the job-control signal and fails the access instead.
fn ignores_or_blocks(task: &Task, signo: i32) -> bool {
    let bit = 1u64 << (signo - 1);
    let blocked = task.handle.signals.lock().mask & bit != 0;
    let state = task.tg().state.lock();
    let handler = state.handlers.lock().get(signo).handler;
    blocked || handler == libc::SIG_IGN as u64
}

impl Task {
    /// The caller's process group and session.
    fn group_and_session(&self) -> (i32, i32) {
        let state = self.tg().state.lock();
        (state.pgid, state.sid)
    }

    /// Job control before touching the terminal (Linux's tty_check_change): a background
    /// process group gets `signo` (SIGTTIN or SIGTTOU) and the call is restarted once it is
    /// continued; if the signal would be ignored, reads fail with EIO and changes go ahead.
    pub(crate) fn terminal_access(&self, file: &Arc<OpenFile>, signo: i32) -> Result<(), Errno> {
        let terminal = &self.kernel.terminal;
        if !terminal.is_terminal(file) {
            return Ok(());
        }
        let (pgid, sid) = self.group_and_session();
        if sid != TERMINAL_SID || pgid == terminal.foreground() {
            return Ok(());
        }
        if ignores_or_blocks(self, signo) {
            return if signo == libc::SIGTTIN {
                Err(Errno::EIO)
            } else {
                Ok(())
            };
        }
        self.kernel
            .signal_process_group(pgid, SigInfo::kernel(signo));
        Err(abi::restart::ERESTARTSYS)
    }

    /// The job-control ioctls on the terminal; `None` for other files or requests.
    pub(crate) fn terminal_ioctl(
        &self,
        file: &Arc<OpenFile>,
        cmd: u64,
        arg: u64,
    ) -> Option<Result<u64, Errno>> {
        let terminal = &self.kernel.terminal;
        if !terminal.is_terminal(file) {
            return None;
        }
        let (_, sid) = self.group_and_session();
        let result = match cmd {
            libc::TIOCGPGRP | libc::TIOCGSID if sid != TERMINAL_SID => Err(Errno::ENOTTY),
            libc::TIOCGPGRP => self.mm.write_obj(arg, &terminal.foreground()).map(|()| 0),
            libc::TIOCGSID => self.mm.write_obj(arg, &TERMINAL_SID).map(|()| 0),
            libc::TIOCSPGRP => self.set_foreground(arg),
            // The terminal is already init's session's; a session leader asking for it again
            // gets it, anyone else EPERM, as for a terminal held by another session.
            libc::TIOCSCTTY => {
                if sid == TERMINAL_SID {
                    Ok(0)
                } else {
                    Err(Errno::EPERM)
                }
            }
            libc::TIOCNOTTY => Ok(0),
            _ => return None,
        };
        Some(result)
    }

    fn set_foreground(&self, arg: u64) -> Result<u64, Errno> {
        let (_, sid) = self.group_and_session();
        if sid != TERMINAL_SID {
            return Err(Errno::ENOTTY);
        }
        let pgid: i32 = self.mm.read_obj(arg)?;
        if pgid < 0 {
            return Err(Errno::EINVAL);
        }
        let terminal = &self.kernel.terminal;
        let exists = self.kernel.pids.lock().groups().any(|g| {
            let s = g.state.lock();
            s.pgid == pgid && s.sid == sid && s.zombie.is_none()
        });
        if !exists {
            return Err(Errno::EPERM);
        }
        let (own_pgid, _) = self.group_and_session();
        if own_pgid != terminal.foreground() && !ignores_or_blocks(self, libc::SIGTTOU) {
            self.kernel
                .signal_process_group(own_pgid, SigInfo::kernel(libc::SIGTTOU));
            return Err(abi::restart::ERESTARTSYS);
        }
        terminal.foreground.store(pgid, Ordering::Relaxed);
        Ok(0)
    }
}

impl Kernel {
    /// Sends `info` to every process of group `pgid`.
    pub(crate) fn signal_process_group(&self, pgid: i32, info: SigInfo) {
        let members: Vec<Arc<ThreadGroup>> = self
            .pids
            .lock()
            .groups()
            .filter(|g| {
                let s = g.state.lock();
                s.pgid == pgid && s.zombie.is_none()
            })
            .cloned()
            .collect();
        for tg in &members {
            self.signal_group(tg, info);
        }
    }

    /// A signal the host sent the Sentry, passed on to the guest: the keyboard's (SIGINT,
    /// SIGQUIT, SIGWINCH) to the terminal's foreground group, the rest to init — as if sent to
    /// the sandbox as a whole.
    pub fn forward_host_signal(&self, signo: i32) {
        let info = SigInfo::kernel(signo);
        match signo {
            libc::SIGINT | libc::SIGQUIT | libc::SIGWINCH => {
                self.signal_process_group(self.terminal.foreground(), info);
            }
            _ => {
                if let Some(init) = self.init() {
                    self.signal_group(&init, info);
                }
            }
        }
    }
}
