//! Signals: dispositions, pending sets, sending, and delivery at the task's return to guest.

use std::collections::VecDeque;
use std::sync::Arc;

use abi::SigInfo;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use super::{ExitStatus, JobState, Task, TaskHandle, ThreadGroup};
use crate::kernel::Kernel;

/// Signals are numbered 1..=64.
pub(crate) const NSIG: i32 = 64;

/// SIGKILL and SIGSTOP can be neither caught, blocked nor ignored.
pub(crate) const UNBLOCKABLE: u64 = sigbit(libc::SIGKILL) | sigbit(libc::SIGSTOP);

/// Standard signals (below SIGRTMIN) don't queue: a second one while pending is merged.
const SIGRTMIN: i32 = 32;

pub(crate) const fn sigbit(signo: i32) -> u64 {
    1 << ((signo - 1) & 63)
}

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

impl SigAction {
    pub(crate) fn is_default(&self) -> bool {
        self.handler == libc::SIG_DFL as u64
    }

    fn is_ignore(&self) -> bool {
        self.handler == libc::SIG_IGN as u64
    }

    pub(crate) fn has_flag(&self, flag: i32) -> bool {
        self.flags & u64::from(flag.cast_unsigned()) != 0
    }
}

/// sigaltstack flag: disarm the alternate stack while a handler runs on it.
pub(crate) const SS_AUTODISARM: i32 = i32::MIN;

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

impl SigStack {
    pub(crate) fn disabled() -> SigStack {
        SigStack {
            flags: libc::SS_DISABLE,
            ..SigStack::default()
        }
    }

    pub(crate) fn contains(&self, sp: u64) -> bool {
        self.flags & libc::SS_DISABLE == 0 && sp > self.sp && sp - self.sp <= self.size
    }
}

/// The dispositions of all signals; shared by CLONE_SIGHAND.
#[derive(Clone)]
pub(crate) struct SigHandlers {
    actions: [SigAction; NSIG as usize],
}

impl Default for SigHandlers {
    fn default() -> Self {
        SigHandlers {
            actions: [SigAction::default(); NSIG as usize],
        }
    }
}

impl SigHandlers {
    /// The disposition of `signo` (1..=NSIG; checked by the callers).
    pub(crate) fn get(&self, signo: i32) -> SigAction {
        self.actions[index(signo)]
    }

    pub(crate) fn set(&mut self, signo: i32, action: SigAction) {
        self.actions[index(signo)] = action;
    }

    /// execve: caught signals go back to their default; ignored ones stay ignored.
    pub(crate) fn reset_for_exec(&self) -> SigHandlers {
        let mut reset = SigHandlers::default();
        for (new, old) in reset.actions.iter_mut().zip(&self.actions) {
            if old.is_ignore() {
                *new = *old;
            }
        }
        reset
    }

    /// Whether sending `signo` now would be discarded at once.
    fn ignores(&self, signo: i32) -> bool {
        let action = self.get(signo);
        action.is_ignore()
            || (action.is_default() && default_action(signo) == DefaultAction::Ignore)
    }
}

fn index(signo: i32) -> usize {
    usize::try_from(signo - 1).unwrap_or_default() % NSIG as usize
}

/// Signals waiting for delivery, oldest first.
#[derive(Default)]
pub(crate) struct PendingSignals {
    queue: VecDeque<SigInfo>,
}

impl PendingSignals {
    /// The set of pending signal numbers.
    pub(crate) fn set(&self) -> u64 {
        self.queue
            .iter()
            .fold(0, |set, info| set | sigbit(info.signo))
    }

    pub(crate) fn push(&mut self, info: SigInfo) {
        if info.signo < SIGRTMIN && self.set() & sigbit(info.signo) != 0 {
            return;
        }
        self.queue.push_back(info);
    }

    /// Removes the lowest-numbered pending signal not in `blocked` (Linux delivers the
    /// synchronous, low-numbered ones first).
    pub(crate) fn take(&mut self, blocked: u64) -> Option<SigInfo> {
        let deliverable = self.set() & !blocked;
        if deliverable == 0 {
            return None;
        }
        let signo = deliverable.trailing_zeros().cast_signed() + 1;
        let at = self.queue.iter().position(|i| i.signo == signo)?;
        self.queue.remove(at)
    }

    /// Removes every pending instance of the signals in `set`.
    pub(crate) fn discard(&mut self, set: u64) {
        self.queue.retain(|i| sigbit(i.signo) & set == 0);
    }
}

/// A thread's own signal state.
pub(crate) struct ThreadSignals {
    /// Blocked signals.
    pub(crate) mask: u64,
    /// Thread-directed pending signals (tgkill, faults).
    pub(crate) pending: PendingSignals,
    /// The mask to restore after a sigsuspend/ppoll/pselect-style temporary mask.
    pub(crate) saved_mask: Option<u64>,
    pub(crate) altstack: SigStack,
}

impl ThreadSignals {
    pub(crate) fn new(mask: u64) -> ThreadSignals {
        ThreadSignals {
            mask,
            pending: PendingSignals::default(),
            saved_mask: None,
            altstack: SigStack::disabled(),
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

const STOP_SIGNALS: u64 =
    sigbit(libc::SIGSTOP) | sigbit(libc::SIGTSTP) | sigbit(libc::SIGTTIN) | sigbit(libc::SIGTTOU);

impl Kernel {
    /// Sends a process-directed signal to `tg` (kill(2)).
    pub(crate) fn signal_group(&self, tg: &Arc<ThreadGroup>, info: SigInfo) {
        let signo = info.signo;
        let mut state = tg.state.lock();
        if state.zombie.is_some() || state.group_exit.is_some() {
            return;
        }
        if signo == libc::SIGKILL {
            drop(state);
            self.start_group_exit(tg, ExitStatus::Signaled(libc::SIGKILL));
            return;
        }
        if signo == libc::SIGCONT {
            state.pending.discard(STOP_SIGNALS);
            for t in &state.threads {
                t.signals.lock().pending.discard(STOP_SIGNALS);
            }
            if matches!(state.job, JobState::Stopped { .. }) {
                state.job = JobState::Continued;
                let parent = state.parent.clone();
                drop(state);
                if let Some(parent) = parent {
                    self.notify_parent_job(tg, &parent, abi::CLD_CONTINUED, libc::SIGCONT);
                }
                state = tg.state.lock();
                for t in &state.threads {
                    t.kick();
                }
            }
        } else if sigbit(signo) & STOP_SIGNALS != 0 {
            state.pending.discard(sigbit(libc::SIGCONT));
        }
        let blocked_everywhere = state
            .threads
            .iter()
            .all(|t| t.signals.lock().mask & sigbit(signo) != 0);
        if state.handlers.lock().ignores(signo) && !blocked_everywhere {
            return;
        }
        state.pending.push(info);
        tg.signal_events.notify(waiter::events::POLLIN);
        // Wake a thread that can take it; any will look at the shared pending set.
        let target = state
            .threads
            .iter()
            .find(|t| t.signals.lock().mask & sigbit(signo) == 0)
            .or(state.threads.first());
        if let Some(target) = target {
            target.kick();
        }
    }

    /// Sends a thread-directed signal (tgkill(2), faults).
    pub(crate) fn signal_thread(&self, task: &Arc<TaskHandle>, info: SigInfo) {
        let signo = info.signo;
        if signo == libc::SIGKILL || sigbit(signo) & (STOP_SIGNALS | sigbit(libc::SIGCONT)) != 0 {
            // Job control and SIGKILL act on the whole process whoever they are aimed at.
            self.signal_group(&task.tg, info);
            return;
        }
        {
            let state = task.tg.state.lock();
            if state.zombie.is_some() || state.group_exit.is_some() {
                return;
            }
            let mut signals = task.signals.lock();
            if state.handlers.lock().ignores(signo) && signals.mask & sigbit(signo) == 0 {
                return;
            }
            signals.pending.push(info);
        }
        task.tg.signal_events.notify(waiter::events::POLLIN);
        task.kick();
    }

    /// exit_group or a fatal signal: every thread of `tg` ends with `status`.
    pub(crate) fn start_group_exit(&self, tg: &Arc<ThreadGroup>, status: ExitStatus) {
        let mut state = tg.state.lock();
        if state.group_exit.is_some() || state.zombie.is_some() {
            return;
        }
        state.group_exit = Some(status);
        if matches!(state.job, JobState::Stopped { .. }) {
            state.job = JobState::Running;
        }
        for t in &state.threads {
            t.kick();
        }
    }

    /// Tells `parent` a child stopped or continued: SIGCHLD unless SA_NOCLDSTOP, and a wake-up
    /// for its waits.
    pub(crate) fn notify_parent_job(
        &self,
        child: &ThreadGroup,
        parent: &Arc<ThreadGroup>,
        code: i32,
        signo: i32,
    ) {
        let handlers = Arc::clone(&parent.state.lock().handlers);
        let nocldstop = handlers
            .lock()
            .get(libc::SIGCHLD)
            .has_flag(libc::SA_NOCLDSTOP);
        if !nocldstop {
            let uid = child.state.lock().creds.ruid;
            self.signal_group(
                parent,
                SigInfo::child(libc::SIGCHLD, code, child.tgid, uid, signo),
            );
        }
        parent.child_events.notify(waiter::events::POLLIN);
    }
}

/// What the run loop does after looking at pending signals.
pub(crate) enum Delivery {
    /// Go on running the guest (possibly in a handler just set up).
    Resume,
    /// The thread is to exit with this status.
    Exit(ExitStatus),
}

impl Task {
    /// The signals this thread could take now (pending, not blocked), without taking them.
    /// A thread that is to exit (exit_group, a fatal signal, another thread's execve) counts
    /// as having one, so every blocking call returns to the run loop, which ends the thread.
    pub(crate) fn has_deliverable_signal(&self) -> bool {
        if self.is_exiting() {
            return true;
        }
        let state = self.tg().state.lock();
        let signals = self.handle.signals.lock();
        (signals.pending.set() | state.pending.set()) & !signals.mask != 0
    }

    /// Dequeues the next deliverable signal (thread-directed first) with its disposition.
    fn take_signal(&self) -> Option<(SigInfo, SigAction)> {
        let (mut info, action) = {
            let mut state = self.tg().state.lock();
            let info = {
                let mut signals = self.handle.signals.lock();
                let mask = signals.mask;
                signals
                    .pending
                    .take(mask)
                    .or_else(|| state.pending.take(mask))
            }?;
            let action = state.handlers.lock().get(info.signo);
            (info, action)
        };
        // A POSIX timer's signal picks up its overrun count as it leaves the queue.
        self.tg().timers.signal_dequeued(&mut info);
        Some((info, action))
    }

    /// Dequeues a pending signal in `set` whether blocked or not (sigtimedwait, signalfd).
    pub(crate) fn take_signal_in(&self, set: u64) -> Option<SigInfo> {
        let mut info = {
            let mut state = self.tg().state.lock();
            let mut signals = self.handle.signals.lock();
            signals
                .pending
                .take(!set)
                .or_else(|| state.pending.take(!set))
        }?;
        self.tg().timers.signal_dequeued(&mut info);
        Some(info)
    }

    /// Delivers pending signals before the guest runs again: default actions, or a handler
    /// frame. Also settles a syscall that asked to be restarted.
    pub(crate) fn deliver_signals(&mut self) -> Delivery {
        loop {
            if let Some(exit) = self.pending_exit() {
                return Delivery::Exit(exit);
            }
            if self.wait_while_stopped() {
                continue;
            }
            let Some((info, action)) = self.take_signal() else {
                self.restore_saved_mask();
                self.settle_restart(None);
                return Delivery::Resume;
            };
            let signo = info.signo;
            if action.is_ignore() {
                continue;
            }
            if action.is_default() {
                match default_action(signo) {
                    DefaultAction::Ignore | DefaultAction::Continue => continue,
                    DefaultAction::Stop => {
                        self.group_stop(signo);
                        continue;
                    }
                    DefaultAction::Terminate => {
                        self.kernel
                            .start_group_exit(self.tg(), ExitStatus::Signaled(signo));
                        continue;
                    }
                }
            }
            self.settle_restart(Some(&action));
            if self.push_signal_frame(&info, &action).is_err() {
                // No room for the frame: Linux kills the process with SIGSEGV.
                self.kernel
                    .start_group_exit(self.tg(), ExitStatus::Signaled(libc::SIGSEGV));
                continue;
            }
            if action.has_flag(libc::SA_RESETHAND) {
                self.tg()
                    .state
                    .lock()
                    .handlers
                    .lock()
                    .set(signo, SigAction::default());
            }
            return Delivery::Resume;
        }
    }

    /// No handler ran to save it in a frame: the mask a sigsuspend/ppoll/pselect/epoll_pwait
    /// replaced for the call's duration comes back now, as Linux's restore_saved_sigmask.
    fn restore_saved_mask(&self) {
        let mut signals = self.handle.signals.lock();
        if let Some(mask) = signals.saved_mask.take() {
            signals.mask = mask;
        }
    }

    /// Whether this thread is to exit as soon as it is back in the run loop.
    pub(crate) fn is_exiting(&self) -> bool {
        self.pending_exit().is_some()
    }

    /// Whether another thread's execve told this one to go.
    pub(crate) fn is_marked_to_exit(&self) -> bool {
        self.handle
            .must_exit
            .load(std::sync::atomic::Ordering::Acquire)
    }

    /// The status this thread must exit with, if it must.
    fn pending_exit(&self) -> Option<ExitStatus> {
        if self.is_marked_to_exit() {
            return Some(ExitStatus::Signaled(libc::SIGKILL));
        }
        self.thread_exit
            .or_else(|| self.tg().state.lock().group_exit)
    }

    /// A signal the thread itself caused (a fault): Linux's force_sig_info — if the thread
    /// blocks or ignores it, it is unblocked and its default action restored, so it can't be
    /// escaped.
    pub(crate) fn force_signal(&mut self, info: SigInfo) {
        let signo = info.signo;
        let state = self.tg().state.lock();
        let mut handlers = state.handlers.lock();
        let mut signals = self.handle.signals.lock();
        if handlers.get(signo).is_ignore() || signals.mask & sigbit(signo) != 0 {
            handlers.set(signo, SigAction::default());
            signals.mask &= !sigbit(signo);
        }
        signals.pending.push(info);
    }

    /// Job control: the group stops; the parent hears of it.
    fn group_stop(&mut self, signo: i32) {
        let parent = {
            let mut state = self.tg().state.lock();
            if state.group_exit.is_some() {
                return;
            }
            state.job = JobState::Stopped {
                signo,
                reported: false,
            };
            for t in &state.threads {
                t.kick();
            }
            state.parent.clone()
        };
        if let Some(parent) = parent {
            self.kernel
                .notify_parent_job(self.tg(), &parent, abi::CLD_STOPPED, signo);
        }
    }

    /// Sleeps while the group is stopped; returns whether it slept.
    fn wait_while_stopped(&self) -> bool {
        let stopped = |task: &Task| {
            let state = task.tg().state.lock();
            matches!(state.job, JobState::Stopped { .. }) && state.group_exit.is_none()
        };
        if !stopped(self) {
            return false;
        }
        while stopped(self) {
            self.handle.waiter.sleep(None);
        }
        true
    }

    /// A syscall returned ERESTART*: restart it (rewind to the `syscall` instruction) or make
    /// it fail with EINTR, depending on the handler about to run (`None`: no handler runs).
    fn settle_restart(&mut self, handler: Option<&SigAction>) {
        let Some(errno) = self.restart.take() else {
            return;
        };
        let restart = match handler {
            None => true,
            Some(action) => {
                errno == abi::restart::ERESTARTNOINTR
                    || (errno == abi::restart::ERESTARTSYS && action.has_flag(libc::SA_RESTART))
            }
        };
        if !restart {
            // A handler runs: what restart_syscall would have continued is over.
            self.restart_block = None;
        }
        let regs = self.ctx.regs_mut();
        if restart {
            // ERESTART_RESTARTBLOCK continues through restart_syscall(2) with the state the
            // syscall left in `restart_block`, as Linux does; the others re-run as they were.
            regs.rax = if errno == abi::ERESTART_RESTARTBLOCK {
                libc::SYS_restart_syscall.cast_unsigned()
            } else {
                regs.orig_rax
            };
            regs.rip -= 2; // the length of `syscall`
        } else {
            regs.rax = abi::Errno::EINTR.as_return();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(signo: i32) -> SigInfo {
        SigInfo::kernel(signo)
    }

    #[test]
    fn standard_signals_merge_and_realtime_ones_queue() {
        let mut pending = PendingSignals::default();
        pending.push(info(libc::SIGUSR1));
        pending.push(info(libc::SIGUSR1));
        pending.push(info(40));
        pending.push(info(40));
        assert_eq!(pending.take(0).map(|i| i.signo), Some(libc::SIGUSR1));
        assert_eq!(pending.take(0).map(|i| i.signo), Some(40));
        assert_eq!(pending.take(0).map(|i| i.signo), Some(40));
        assert!(pending.take(0).is_none());
    }

    #[test]
    fn lowest_unblocked_first() {
        let mut pending = PendingSignals::default();
        pending.push(info(libc::SIGTERM));
        pending.push(info(libc::SIGINT));
        assert_eq!(
            pending.take(sigbit(libc::SIGINT)).map(|i| i.signo),
            Some(libc::SIGTERM)
        );
        assert!(pending.take(sigbit(libc::SIGINT)).is_none());
        assert_eq!(pending.take(0).map(|i| i.signo), Some(libc::SIGINT));
    }
}
