//! The kick: a signal whose handler does nothing, sent to a Sentry thread so that the system call
//! it sleeps in is restarted (see `waits`).

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};

/// How many kicks this process's threads took, for tests.
static TAKEN: AtomicU64 = AtomicU64::new(0);

/// The kick signal: the first real-time signal libc leaves to applications. Nothing else in the
/// Sentry uses it, and it is only ever sent to the Sentry's own threads.
pub(crate) fn kick_signal() -> i32 {
    libc::SIGRTMIN()
}

extern "C" fn take_kick(_signo: libc::c_int) {
    // An atomic add is async-signal-safe.
    TAKEN.fetch_add(1, Ordering::Relaxed);
}

/// How many kicks were taken so far.
#[cfg(test)]
pub(crate) fn kicks_taken() -> u64 {
    TAKEN.load(Ordering::Relaxed)
}

/// Installs the kick's handler, with SA_RESTART: a kicked wait4 (and whatever other restartable
/// call the kick may land in) is restarted by the kernel, which makes wait4 look at the tracee
/// again.
pub(crate) fn install_kick_handler() -> io::Result<()> {
    // SAFETY: a zeroed sigaction is valid (no handler, empty mask, no flags) before we fill it.
    let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
    action.sa_sigaction = take_kick as extern "C" fn(libc::c_int) as libc::sighandler_t;
    action.sa_flags = libc::SA_RESTART;
    // SAFETY: `action.sa_mask` is a valid sigset_t owned by us.
    unsafe { libc::sigemptyset(&raw mut action.sa_mask) };
    // SAFETY: the handler only does an atomic add, which is async-signal-safe; the pointers are
    // valid for the call.
    if unsafe { libc::sigaction(kick_signal(), &raw const action, std::ptr::null_mut()) } == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
