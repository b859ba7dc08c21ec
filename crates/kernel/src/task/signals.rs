//! Signal state: dispositions and the blocked mask. Delivery into guest handlers (signal frames,
//! rt_sigreturn) comes with the signals issue; until then a signal that reaches a task takes its
//! default action.

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use super::{ExitStatus, Task};

/// Signals are numbered 1..=64.
pub(crate) const NSIG: i32 = 64;

/// `struct sigaction` as rt_sigaction takes it on amd64.
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub(crate) struct SigAction {
    pub(crate) handler: u64,
    pub(crate) flags: u64,
    pub(crate) restorer: u64,
    pub(crate) mask: u64,
}

/// `stack_t` for sigaltstack.
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub(crate) struct SigStack {
    pub(crate) sp: u64,
    pub(crate) flags: i32,
    pub(crate) pad: i32,
    pub(crate) size: u64,
}

pub(crate) struct SignalState {
    actions: [SigAction; NSIG as usize],
    /// Blocked signals: bit `n - 1` for signal `n`.
    pub(crate) mask: u64,
    pub(crate) altstack: SigStack,
}

impl SignalState {
    /// The disposition of `signo` (1..=NSIG, checked by the caller).
    pub(crate) fn action_mut(&mut self, signo: i32) -> &mut SigAction {
        let index = usize::try_from(signo - 1).unwrap_or_default();
        &mut self.actions[index]
    }
}

impl Default for SignalState {
    fn default() -> Self {
        SignalState {
            actions: [SigAction::default(); NSIG as usize],
            mask: 0,
            altstack: SigStack {
                flags: libc::SS_DISABLE,
                ..SigStack::default()
            },
        }
    }
}

/// What a signal does when it isn't caught.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DefaultAction {
    Terminate,
    Ignore,
    Stop,
    Continue,
}

pub(crate) fn default_action(signo: i32) -> DefaultAction {
    match signo {
        libc::SIGCHLD | libc::SIGURG | libc::SIGWINCH => DefaultAction::Ignore,
        libc::SIGSTOP | libc::SIGTSTP | libc::SIGTTIN | libc::SIGTTOU => DefaultAction::Stop,
        libc::SIGCONT => DefaultAction::Continue,
        _ => DefaultAction::Terminate,
    }
}

impl Task {
    /// A synchronous fault signal (SIGSEGV, SIGILL...): with no delivery to handlers yet, the
    /// process dies of it, as Linux kills a process whose fault signal can't be handled.
    pub(crate) fn force_signal(&mut self, signo: i32) {
        self.exit = Some(ExitStatus::Signaled(signo));
    }

    /// A signal sent to this task by kill/tgkill.
    pub(crate) fn send_signal(&mut self, signo: i32) {
        let action = *self.signals.action_mut(signo);
        let ignored = action.handler == libc::SIG_IGN as u64
            || (action.handler == libc::SIG_DFL as u64
                && default_action(signo) == DefaultAction::Ignore);
        if signo == libc::SIGKILL || !ignored {
            // Stop/continue need job control (later issue); a caught signal needs delivery.
            match default_action(signo) {
                DefaultAction::Stop | DefaultAction::Continue | DefaultAction::Ignore
                    if signo != libc::SIGKILL => {}
                _ => self.exit = Some(ExitStatus::Signaled(signo)),
            }
        }
    }
}
