//! Thread groups: what Linux calls a process — the state its threads share.

use std::sync::Arc;

use parking_lot::Mutex;
use waiter::WaitQueue;

use super::signals::{PendingSignals, SigHandlers};
use super::{Credentials, ExitStatus, Rlimit, TaskHandle, RLIM_NLIMITS};
use crate::timers::ProcessTimers;

/// Job-control state of a thread group.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum JobState {
    #[default]
    Running,
    /// Stopped by this signal; `reported` once a wait(WUNTRACED) has seen it.
    Stopped { signo: i32, reported: bool },
    /// Continued by SIGCONT, not yet reported to a wait(WCONTINUED).
    Continued,
}

/// The mutable state of a thread group, under one lock. Lock order: the pid table first, then
/// a thread group (parents before children), then a task's own signal state.
pub(crate) struct TgState {
    pub(crate) parent: Option<Arc<ThreadGroup>>,
    pub(crate) children: Vec<Arc<ThreadGroup>>,
    /// Live threads; the group is a zombie once this is empty.
    pub(crate) threads: Vec<Arc<TaskHandle>>,
    pub(crate) pgid: i32,
    pub(crate) sid: i32,
    /// The signal the parent gets when this process ends (SIGCHLD, or clone's choice).
    pub(crate) exit_signal: i32,
    /// exit_group or a fatal signal in progress: every thread is to exit with this.
    pub(crate) group_exit: Option<ExitStatus>,
    /// Set when the last thread has exited; the zombie waits here to be reaped.
    pub(crate) zombie: Option<ExitStatus>,
    pub(crate) job: JobState,
    pub(crate) pending: PendingSignals,
    pub(crate) handlers: Arc<Mutex<SigHandlers>>,
    pub(crate) creds: Credentials,
    pub(crate) rlimits: [Rlimit; RLIM_NLIMITS],
    /// The executable's path in the sandbox (/proc/[pid]/exe).
    pub(crate) exe: Vec<u8>,
    /// argv of the running image (/proc/[pid]/cmdline).
    pub(crate) cmdline: Vec<Vec<u8>>,
    /// envp of the running image (/proc/[pid]/environ).
    pub(crate) environ: Vec<Vec<u8>>,
    /// Has called execve since fork (setpgid on such a child is EACCES).
    pub(crate) has_execed: bool,
    /// PR_SET_DUMPABLE.
    pub(crate) dumpable: bool,
    /// PR_SET_CHILD_SUBREAPER: orphaned descendants are reparented here rather than to init.
    pub(crate) child_subreaper: bool,
}

/// A process: a thread group with its id, state, and the queue its waiting parent sleeps on.
pub(crate) struct ThreadGroup {
    pub(crate) tgid: i32,
    pub(crate) state: Mutex<TgState>,
    /// Notified when a child of this group changes state (exits, stops, continues).
    pub(crate) child_events: WaitQueue,
    /// Notified (POLLIN) whenever a signal becomes pending in the group or one of its threads:
    /// what signalfd readiness waits on, since pending signals otherwise only kick a thread.
    pub(crate) signal_events: Arc<WaitQueue>,
    /// itimers, POSIX timers, and the CPU time of exited threads and reaped children.
    pub(crate) timers: ProcessTimers,
}

impl ThreadGroup {
    pub(crate) fn new(tgid: i32, state: TgState) -> Arc<ThreadGroup> {
        Arc::new(ThreadGroup {
            tgid,
            state: Mutex::new(state),
            child_events: WaitQueue::new(),
            signal_events: Arc::new(WaitQueue::new()),
            timers: ProcessTimers::default(),
        })
    }

    pub(crate) fn ppid(&self) -> i32 {
        self.state.lock().parent.as_ref().map_or(0, |p| p.tgid)
    }
}
