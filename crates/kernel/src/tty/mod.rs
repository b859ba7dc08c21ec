//! Terminals: pseudo-terminals (devpts, the pty pair, the line discipline between its ends)
//! and the job-control state every terminal has, the sandbox's own host tty included.

pub(crate) mod devpts;
pub(crate) mod ioctl;
pub(crate) mod line_discipline;
pub(crate) mod pty;
mod read;

use std::sync::atomic::{AtomicI32, Ordering};

/// Which session a terminal is the controlling terminal of, and that session's foreground
/// process group (0: none).
#[derive(Default)]
pub(crate) struct JobControl {
    session: AtomicI32,
    foreground: AtomicI32,
}

impl JobControl {
    /// A terminal already controlling `session`, with `foreground` in front.
    pub(crate) fn controlling(session: i32, foreground: i32) -> JobControl {
        JobControl {
            session: AtomicI32::new(session),
            foreground: AtomicI32::new(foreground),
        }
    }

    pub(crate) fn session(&self) -> i32 {
        self.session.load(Ordering::Relaxed)
    }

    pub(crate) fn foreground(&self) -> i32 {
        self.foreground.load(Ordering::Relaxed)
    }

    pub(crate) fn set_foreground(&self, pgid: i32) {
        self.foreground.store(pgid, Ordering::Relaxed);
    }

    /// Becomes the controlling terminal of `session`, with `pgid` in the foreground.
    pub(crate) fn attach(&self, session: i32, pgid: i32) {
        self.session.store(session, Ordering::Relaxed);
        self.foreground.store(pgid, Ordering::Relaxed);
    }

    /// Stops controlling any session; returns the session it controlled (0: none).
    pub(crate) fn detach(&self) -> i32 {
        self.foreground.store(0, Ordering::Relaxed);
        self.session.swap(0, Ordering::Relaxed)
    }
}
