//! Interrupting a running context from another OS thread.
//!
//! The request itself is a flag; a signal to the stub thread only makes its tracer look at the
//! flag. The signal (SIGURG, reserved for this) makes the running stub thread stop for its tracer
//! at once, even in a loop without system calls. A signal that finds the flag already cleared is
//! stale (its request was answered at the start of a switch) and is dropped; a signal sent while
//! the stub is stopped waits for the next resume. A signal can't be lost: the flag is set before
//! it is sent, so either the next switch sees the flag, or the signal arrives after the switch
//! started and stops the stub.

use std::sync::atomic::{AtomicBool, Ordering};

use nix::unistd::Pid;
use parking_lot::Mutex;
use platform::Interrupter;

use crate::sys;

/// The host signal that interrupts a stub thread: ignored by default, so it harms no thread
/// that isn't traced, and unused by the stub otherwise.
pub(crate) const INTERRUPT_SIGNAL: i32 = libc::SIGURG;

/// The interrupter of one context.
#[derive(Debug)]
pub(crate) struct ThreadInterrupter {
    requested: AtomicBool,
    /// The stub's pid and the thread's tid; `None` once the context is gone (the tid may be
    /// reused). Locked while signalling, so the thread can't be reaped meanwhile.
    target: Mutex<Option<(Pid, Pid)>>,
}

impl ThreadInterrupter {
    pub(crate) fn new(pid: Pid, tid: Pid) -> ThreadInterrupter {
        ThreadInterrupter {
            requested: AtomicBool::new(false),
            target: Mutex::new(Some((pid, tid))),
        }
    }

    /// Whether an interrupt was requested since the last call (clears the request).
    pub(crate) fn take_request(&self) -> bool {
        // The plain load keeps the common case (no request) free of a locked instruction.
        self.requested.load(Ordering::Relaxed) && self.requested.swap(false, Ordering::Acquire)
    }

    /// Stops signalling the thread: its context is ending.
    pub(crate) fn disarm(&self) {
        *self.target.lock() = None;
    }
}

impl Interrupter for ThreadInterrupter {
    fn interrupt(&self) {
        self.requested.store(true, Ordering::Release);
        if let Some((pid, tid)) = *self.target.lock() {
            // ESRCH: the thread died; its context reports that on the next switch.
            let _ = sys::tgkill(pid, tid, INTERRUPT_SIGNAL);
        }
    }
}
