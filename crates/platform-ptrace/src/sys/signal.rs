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

/// Kills process `pid` (SIGKILL) and waits for its end, with raw system calls only: for an exit
/// handler, which may run after the thread's thread-locals are gone. Errors mean it is gone.
pub(crate) fn kill_and_reap(pid: Pid) {
    // SAFETY: kill takes integers only.
    unsafe { libc::kill(pid.as_raw(), libc::SIGKILL) };
    while let Ok(status) = super::wait_for(pid) {
        if libc::WIFEXITED(status) || libc::WIFSIGNALED(status) {
            return;
        }
    }
}

/// Registers `handler` to run when the process exits normally (atexit(3)).
pub(crate) fn at_exit(handler: extern "C" fn()) -> io::Result<()> {
    // SAFETY: `handler` is a plain function that lives as long as the program.
    if unsafe { libc::atexit(handler) } == 0 {
        Ok(())
    } else {
        Err(io::Error::other("atexit refused the handler"))
    }
}
