//! The few host calls that need `unsafe`: handing a descriptor to a child across exec, and taking
//! ownership of a descriptor inherited that way.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command};

use nix::sys::prctl;
use nix::sys::signal::{SigHandler, Signal};
use nix::unistd;

/// Spawns `command` so that it inherits `fd` under the same number, and is killed (SIGKILL)
/// when this process dies, so that no child outlives `runsc do`.
pub fn spawn_inheriting(command: &mut Command, fd: BorrowedFd<'_>) -> io::Result<Child> {
    let parent = unistd::getpid();
    let raw_fd = fd.as_raw_fd();
    let in_child = move || -> io::Result<()> {
        prctl::set_pdeathsig(Signal::SIGKILL).map_err(io::Error::from)?;
        // The parent may have died before the death signal was armed: then nobody would kill
        // us. ESRCH ("no such process") is what spawn then reports.
        if unistd::getppid() != parent {
            return Err(io::Error::from_raw_os_error(libc::ESRCH));
        }
        // SAFETY: F_SETFD only changes the close-on-exec flag of `raw_fd`, which stays open in
        // the child (the borrow in the parent keeps it open across the fork).
        if unsafe { libc::fcntl(raw_fd, libc::F_SETFD, 0) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    };
    // SAFETY: the closure runs in the child between fork and exec. It only makes
    // async-signal-safe calls (prctl, getppid, fcntl) and does not allocate (its errors are
    // plain OS error numbers).
    unsafe { command.pre_exec(in_child) };
    command.spawn()
}

/// Takes ownership of descriptor `fd`, which this process inherited across exec (a `--fd N`
/// argument), and marks it close-on-exec so that nothing we start inherits it in turn.
///
/// Each caller takes a given number once, at start-up, before anything else could own it.
pub fn take_inherited_fd(fd: RawFd) -> io::Result<OwnedFd> {
    if fd <= libc::STDERR_FILENO {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("descriptor {fd} is stdio, not an inherited socket"),
        ));
    }
    // SAFETY: F_GETFD reads the descriptor flags of a number; on a closed number it fails
    // with EBADF and changes nothing.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
    if flags < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is open (checked above), and nothing else in this process owns it: it was
    // inherited across exec and is taken once, at start-up (see above).
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: F_SETFD only changes the flags of `fd`, which `owned` keeps open.
    if unsafe { libc::fcntl(owned.as_raw_fd(), libc::F_SETFD, flags | libc::FD_CLOEXEC) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(owned)
}

/// Sets each of `signals` to be ignored (`ignore`) or to its default action.
pub fn set_signal_dispositions(signals: &[Signal], ignore: bool) -> io::Result<()> {
    let handler = if ignore {
        SigHandler::SigIgn
    } else {
        SigHandler::SigDfl
    };
    for &signal in signals {
        // SAFETY: SIG_IGN and SIG_DFL install no handler code, so nothing can run in signal
        // context and no async-signal-safety rule applies.
        unsafe { nix::sys::signal::signal(signal, handler) }.map_err(io::Error::from)?;
    }
    Ok(())
}
