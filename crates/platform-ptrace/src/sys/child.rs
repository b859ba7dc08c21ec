//! Forking a stub. Between `fork` and the jump into the stub page the child runs only raw system
//! calls on data prepared before the fork: the Sentry is multithreaded, so the child may not
//! allocate or take locks.

use std::cell::UnsafeCell;
use std::io;
use std::mem::size_of;
use std::os::fd::RawFd;
use std::ptr;

use libc::{c_long, c_ulong, sock_filter};
use nix::unistd::Pid;

/// What the child needs, all prepared before the fork.
#[derive(Debug)]
pub(crate) struct ChildPlan<'a> {
    /// The Sentry's pid, to detect that it died before PR_SET_PDEATHSIG took effect.
    pub(crate) parent: Pid,
    /// The memory file: the only descriptor the stub keeps.
    pub(crate) memory_fd: RawFd,
    pub(crate) filter: &'a [sock_filter],
    /// The stub code's entry point.
    pub(crate) entry: u64,
    /// Filled in the child's copy by the tracer at the child's first stop.
    pub(crate) rseq: RseqSlot,
}

/// The child's rseq registration, which the tracer writes into the child's copy of this slot.
///
/// The child inherits the forking thread's rseq registration, whose area (in the Sentry's TLS) the
/// stub unmaps; the kernel would then kill the stub with SIGSEGV on a later return to user mode.
/// Only the kernel knows the registration's exact length and signature, which unregistering must
/// repeat, and it tells them to a tracer (PTRACE_GET_RSEQ_CONFIGURATION).
#[derive(Debug, Default)]
#[repr(C)]
pub(crate) struct RseqSlot {
    /// `[area address, length | signature << 32]`; address 0: nothing registered.
    words: UnsafeCell<[u64; 2]>,
}

/// Writes the stopped child's rseq registration into its copy of `slot`.
pub(crate) fn fill_rseq_slot(child: Pid, slot: &RseqSlot) -> io::Result<()> {
    let mut config = libc::ptrace_rseq_configuration {
        rseq_abi_pointer: 0,
        rseq_abi_size: 0,
        signature: 0,
        flags: 0,
        pad: 0,
    };
    // SAFETY: the kernel writes at most `size_of` bytes (passed as `addr`) into `config`.
    let ret = unsafe {
        libc::ptrace(
            libc::PTRACE_GET_RSEQ_CONFIGURATION,
            child.as_raw(),
            size_of::<libc::ptrace_rseq_configuration>(),
            ptr::from_mut(&mut config),
        )
    };
    if ret == -1 {
        let err = io::Error::last_os_error();
        // Before Linux 5.13 (no such request) rseq registration by libc is rare: go on without.
        return if err.raw_os_error() == Some(libc::EIO) {
            Ok(())
        } else {
            Err(err)
        };
    }
    if config.rseq_abi_pointer == 0 {
        return Ok(());
    }
    let words = [
        config.rseq_abi_pointer,
        u64::from(config.rseq_abi_size) | (u64::from(config.signature) << 32),
    ];
    for (i, word) in words.into_iter().enumerate() {
        let addr = slot.words.get().cast::<u64>().wrapping_add(i);
        nix::sys::ptrace::write(child, addr.cast(), i64::from_ne_bytes(word.to_ne_bytes()))?;
    }
    Ok(())
}

/// `RSEQ_FLAG_UNREGISTER` of rseq(2).
const RSEQ_FLAG_UNREGISTER: libc::c_int = 1;

/// The exit status of a child that failed before reaching the stub: the step that failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i32)]
pub(crate) enum ChildFailure {
    DeathSignal = 120,
    ParentGone,
    CloseFds,
    TraceMe,
    Stop,
    Rseq,
    NoNewPrivs,
    Seccomp,
}

impl ChildFailure {
    const ALL: [ChildFailure; 8] = [
        ChildFailure::DeathSignal,
        ChildFailure::ParentGone,
        ChildFailure::CloseFds,
        ChildFailure::TraceMe,
        ChildFailure::Stop,
        ChildFailure::Rseq,
        ChildFailure::NoNewPrivs,
        ChildFailure::Seccomp,
    ];

    /// The step a child's exit status names, if it is one of ours.
    pub(crate) fn from_exit_status(status: i32) -> Option<ChildFailure> {
        ChildFailure::ALL
            .into_iter()
            .find(|step| *step as i32 == status)
    }

    pub(crate) fn step(self) -> &'static str {
        match self {
            ChildFailure::DeathSignal => "prctl(PR_SET_PDEATHSIG)",
            ChildFailure::ParentGone => "the Sentry exited during the fork",
            ChildFailure::CloseFds => "close_range",
            ChildFailure::TraceMe => "ptrace(PTRACE_TRACEME)",
            ChildFailure::Stop => "kill(SIGSTOP)",
            ChildFailure::Rseq => "rseq(RSEQ_FLAG_UNREGISTER)",
            ChildFailure::NoNewPrivs => "prctl(PR_SET_NO_NEW_PRIVS)",
            ChildFailure::Seccomp => "seccomp(SECCOMP_SET_MODE_FILTER)",
        }
    }
}

/// Forks; the child becomes a traced stub (see [`ChildPlan`]) and never returns.
pub(crate) fn fork_stub(plan: &ChildPlan<'_>) -> io::Result<Pid> {
    match raw_fork()? {
        0 => become_stub(plan),
        pid => Ok(Pid::from_raw(pid)),
    }
}

/// fork as the bare system call: libc's fork would run `pthread_atfork` handlers in the child,
/// which may allocate or lock.
fn raw_fork() -> io::Result<libc::pid_t> {
    // SAFETY: clone without CLONE_VM and with no new stack is fork: the child continues on its own
    // copy of this stack. Callers run only raw system calls in the child.
    let ret = unsafe { libc::syscall(libc::SYS_clone, c_long::from(libc::SIGCHLD), 0, 0, 0, 0) };
    if ret == -1 {
        return Err(io::Error::last_os_error());
    }
    libc::pid_t::try_from(ret).map_err(|_| io::Error::other(format!("clone returned {ret}")))
}

fn fail(step: ChildFailure) -> ! {
    // SAFETY: _exit ends the process at once, without running any of the Sentry's exit handlers.
    unsafe { libc::_exit(step as i32) }
}

fn ok_or_fail(ret: c_long, step: ChildFailure) {
    if ret != 0 {
        fail(step);
    }
}

fn become_stub(plan: &ChildPlan<'_>) -> ! {
    // SAFETY: prctl with integer arguments only.
    ok_or_fail(
        c_long::from(unsafe {
            libc::prctl(
                libc::PR_SET_PDEATHSIG,
                c_ulong::from(libc::SIGKILL.unsigned_abs()),
                0,
                0,
                0,
            )
        }),
        ChildFailure::DeathSignal,
    );
    // SAFETY: getppid has no arguments.
    if unsafe { libc::getppid() } != plan.parent.as_raw() {
        fail(ChildFailure::ParentGone);
    }
    close_all_but(plan.memory_fd);
    // SAFETY: PTRACE_TRACEME takes no pointers.
    ok_or_fail(
        unsafe {
            libc::ptrace(
                libc::PTRACE_TRACEME,
                0,
                ptr::null_mut::<libc::c_void>(),
                ptr::null_mut::<libc::c_void>(),
            )
        },
        ChildFailure::TraceMe,
    );
    // SAFETY: signals ourselves; the tracer sees the stop and continues us.
    ok_or_fail(
        c_long::from(unsafe { libc::kill(libc::getpid(), libc::SIGSTOP) }),
        ChildFailure::Stop,
    );
    // SAFETY: the slot is plain memory of this process; the tracer wrote it while we were stopped,
    // which the compiler can't know, hence the volatile read.
    let [area, len_and_sig] = unsafe { ptr::read_volatile(plan.rseq.words.get()) };
    if area != 0 {
        let (len, sig) = (len_and_sig & u64::from(u32::MAX), len_and_sig >> 32);
        // SAFETY: unregistering only makes the kernel forget the area; it touches no memory.
        ok_or_fail(
            unsafe { libc::syscall(libc::SYS_rseq, area, len, RSEQ_FLAG_UNREGISTER, sig) },
            ChildFailure::Rseq,
        );
    }
    // SAFETY: prctl with integer arguments only.
    ok_or_fail(
        c_long::from(unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) }),
        ChildFailure::NoNewPrivs,
    );
    install_filter(plan.filter);
    let entry = usize::try_from(plan.entry).unwrap_or_else(|_| fail(ChildFailure::Seccomp));
    // SAFETY: `entry` is the stub code's entry in the stub page, mapped read+exec before the fork
    // and inherited; the stub never returns (it stops for the tracer, which only ever resumes it
    // inside the stub page or in guest code).
    let stub: extern "C" fn() -> ! =
        unsafe { std::mem::transmute::<usize, extern "C" fn() -> !>(entry) };
    stub()
}

fn close_all_but(keep: RawFd) {
    let keep = keep.unsigned_abs();
    if keep > 0 {
        // SAFETY: close_range with integer arguments only.
        ok_or_fail(
            unsafe { libc::syscall(libc::SYS_close_range, 0u32, keep - 1, 0u32) },
            ChildFailure::CloseFds,
        );
    }
    // SAFETY: close_range with integer arguments only.
    ok_or_fail(
        unsafe { libc::syscall(libc::SYS_close_range, keep + 1, u32::MAX, 0u32) },
        ChildFailure::CloseFds,
    );
}

fn install_filter(filter: &[sock_filter]) {
    let len = u16::try_from(filter.len()).unwrap_or_else(|_| fail(ChildFailure::Seccomp));
    let program = libc::sock_fprog {
        len,
        filter: filter.as_ptr().cast_mut(),
    };
    // SAFETY: `program` points at `len` instructions that stay alive; the kernel copies them.
    ok_or_fail(
        unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER,
                0u32,
                &raw const program,
            )
        },
        ChildFailure::Seccomp,
    );
}

/// Forks a child that installs `filter` and then exits with exit_group from outside the stub
/// page; returns the child's wait status. exit_group is on the allowed list, so only the
/// instruction-pointer check can stop it.
#[cfg(test)]
pub(crate) fn run_in_child_under_filter(filter: &[sock_filter]) -> io::Result<i32> {
    let pid = match raw_fork()? {
        0 => {
            // SAFETY: prctl with integer arguments only.
            ok_or_fail(
                c_long::from(unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) }),
                ChildFailure::NoNewPrivs,
            );
            install_filter(filter);
            // SAFETY: _exit ends the child (or the filter does).
            unsafe { libc::_exit(0) }
        }
        pid => Pid::from_raw(pid),
    };
    super::wait_for(pid)
}
