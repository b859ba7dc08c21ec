//! Signalling one stub thread.

use std::io;

use nix::unistd::Pid;

/// tgkill(2): sends `signo` to thread `tid` of process `pid` only.
pub(crate) fn tgkill(pid: Pid, tid: Pid, signo: i32) -> io::Result<()> {
    // SAFETY: tgkill takes integers only.
    if unsafe { libc::tgkill(pid.as_raw(), tid.as_raw(), signo) } == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}
