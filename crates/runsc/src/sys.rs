//! The few host calls that need `unsafe`: handing a descriptor to a child across exec, and taking
//! ownership of a descriptor inherited that way.

use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command};

use nix::sys::prctl;
use nix::sys::signal::{SigHandler, SigSet, Signal};
use nix::unistd;

/// Spawns `command` so that it inherits each of `fds` under the same number, and is killed
/// (SIGKILL) when this process dies, so that no child outlives `runsc do`.
pub fn spawn_inheriting(command: &mut Command, fds: &[BorrowedFd<'_>]) -> io::Result<Child> {
    let parent = unistd::getpid();
    let raw_fds: Vec<RawFd> = fds.iter().map(AsRawFd::as_raw_fd).collect();
    let in_child = move || -> io::Result<()> {
        prctl::set_pdeathsig(Signal::SIGKILL).map_err(io::Error::from)?;
        // The parent may have died before the death signal was armed: then nobody would kill
        // us. ESRCH ("no such process") is what spawn then reports.
        if unistd::getppid() != parent {
            return Err(io::Error::from_raw_os_error(libc::ESRCH));
        }
        for &raw_fd in &raw_fds {
            // SAFETY: F_SETFD only changes the close-on-exec flag of `raw_fd`, which stays
            // open in the child (the borrows in the parent keep it open across the fork).
            if unsafe { libc::fcntl(raw_fd, libc::F_SETFD, 0) } < 0 {
                return Err(io::Error::last_os_error());
            }
        }
        Ok(())
    };
    // SAFETY: the closure runs in the child between fork and exec. It only makes
    // async-signal-safe calls (prctl, getppid, fcntl) and does not allocate (it reads the fd
    // numbers collected before the fork; its errors are plain OS error numbers).
    unsafe { command.pre_exec(in_child) };
    command.spawn()
}

/// Takes ownership of descriptor `fd`, which this process inherited across exec (named by an
/// argument such as `--gofer-fd N`), and marks it close-on-exec so that nothing we start
/// inherits it in turn.
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

/// Sets each of `signals` to its default action (undoing an ignore inherited across exec).
pub fn reset_signal_dispositions(signals: &[Signal]) -> io::Result<()> {
    for &signal in signals {
        // SAFETY: SIG_DFL installs no handler code, so nothing can run in signal context and
        // no async-signal-safety rule applies.
        unsafe { nix::sys::signal::signal(signal, SigHandler::SigDfl) }.map_err(io::Error::from)?;
    }
    Ok(())
}

/// Where a signal came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignalSource {
    /// The kernel: a terminal's Ctrl-C or Ctrl-\, a window resize, a hang-up. It goes to the
    /// terminal's whole foreground process group.
    Kernel,
    /// A process: kill(2) and friends.
    Process,
}

/// Waits for one of `set`, which must be blocked in every thread, and says where it came from.
pub fn wait_for_signal(set: &SigSet) -> io::Result<(Signal, SignalSource)> {
    let mut info = MaybeUninit::<libc::siginfo_t>::zeroed();
    let signo = loop {
        // SAFETY: `set` is a valid sigset_t and `info` points to writable memory the size of a
        // siginfo_t, which sigwaitinfo fills when it returns a signal.
        let signo = unsafe { libc::sigwaitinfo(set.as_ref(), info.as_mut_ptr()) };
        if signo >= 0 {
            break signo;
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    };
    // SAFETY: sigwaitinfo returned a signal, so it filled `info` (which started zeroed anyway).
    let info = unsafe { info.assume_init() };
    let signal = Signal::try_from(signo).map_err(io::Error::from)?;
    let source = if info.si_code == libc::SI_KERNEL {
        SignalSource::Kernel
    } else {
        SignalSource::Process
    };
    Ok((signal, source))
}
