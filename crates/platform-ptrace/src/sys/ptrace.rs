//! Raw ptrace requests that nix doesn't wrap for our types: registers straight into
//! [`UserRegs`], the XSAVE area, siginfo fields, and a wait that accepts any stop signal.

use std::io;
use std::mem::{offset_of, size_of};
use std::ptr;

use abi::UserRegs;
use nix::unistd::Pid;

/// `NT_X86_XSTATE`: the XSAVE area as a register set.
const NT_X86_XSTATE: libc::c_int = 0x202;

// `UserRegs` is filled by PTRACE_GETREGS directly, so it must be `user_regs_struct` exactly.
const _: () = {
    assert!(size_of::<UserRegs>() == size_of::<libc::user_regs_struct>());
    assert!(offset_of!(UserRegs, rax) == offset_of!(libc::user_regs_struct, rax));
    assert!(offset_of!(UserRegs, orig_rax) == offset_of!(libc::user_regs_struct, orig_rax));
    assert!(offset_of!(UserRegs, fs_base) == offset_of!(libc::user_regs_struct, fs_base));
    assert!(offset_of!(UserRegs, gs) == offset_of!(libc::user_regs_struct, gs));
};

fn check(ret: libc::c_long) -> io::Result<()> {
    if ret == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// PTRACE_GETREGS of a stopped tracee.
pub(crate) fn get_regs(tid: Pid, regs: &mut UserRegs) -> io::Result<()> {
    // SAFETY: `regs` is a writable `user_regs_struct`-sized buffer (asserted above); the kernel
    // writes exactly that much.
    check(unsafe {
        libc::ptrace(
            libc::PTRACE_GETREGS,
            tid.as_raw(),
            ptr::null_mut::<libc::c_void>(),
            ptr::from_mut(regs),
        )
    })
}

/// PTRACE_SETREGS of a stopped tracee.
pub(crate) fn set_regs(tid: Pid, regs: &UserRegs) -> io::Result<()> {
    // SAFETY: the kernel only reads a `user_regs_struct` from `regs`, which has that layout.
    check(unsafe {
        libc::ptrace(
            libc::PTRACE_SETREGS,
            tid.as_raw(),
            ptr::null_mut::<libc::c_void>(),
            ptr::from_ref(regs),
        )
    })
}

/// PTRACE_SETSIGMASK of a stopped tracee: the host signals it blocks, one bit per signal
/// (bit `n - 1` for signal `n`, the kernel's own 8-byte `sigset_t`).
pub(crate) fn set_sigmask(tid: Pid, mask: u64) -> io::Result<()> {
    // SAFETY: the kernel reads `addr` bytes (the size of its sigset_t, 8) from `mask`, which is
    // that large.
    check(unsafe {
        libc::ptrace(
            libc::PTRACE_SETSIGMASK,
            tid.as_raw(),
            size_of::<u64>(),
            ptr::from_ref(&mask),
        )
    })
}

/// The size of the XSAVE area for every feature this CPU supports: enough for any
/// PTRACE_GETREGSET of NT_X86_XSTATE.
pub(crate) fn xstate_size() -> usize {
    // CPUID leaf 0xd, sub-leaf 0: ecx is the XSAVE area size for all supported features.
    let leaf = std::arch::x86_64::__cpuid_count(0xd, 0);
    usize::try_from(leaf.ecx).expect("u32 fits usize")
}

/// PTRACE_GETREGSET NT_X86_XSTATE into `buf`; returns how many bytes the kernel wrote.
pub(crate) fn get_xstate(tid: Pid, buf: &mut [u8]) -> io::Result<usize> {
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: `iov` describes `buf`, writable for its whole length; the kernel writes at most
    // `iov_len` bytes and updates `iov_len`.
    check(unsafe {
        libc::ptrace(
            libc::PTRACE_GETREGSET,
            tid.as_raw(),
            NT_X86_XSTATE,
            ptr::from_mut(&mut iov),
        )
    })?;
    Ok(iov.iov_len)
}

/// PTRACE_SETREGSET NT_X86_XSTATE from `state`.
pub(crate) fn set_xstate(tid: Pid, state: &[u8]) -> io::Result<()> {
    let mut iov = libc::iovec {
        iov_base: state.as_ptr().cast_mut().cast(),
        iov_len: state.len(),
    };
    // SAFETY: `iov` describes `state`; for SETREGSET the kernel only reads through it.
    check(unsafe {
        libc::ptrace(
            libc::PTRACE_SETREGSET,
            tid.as_raw(),
            NT_X86_XSTATE,
            ptr::from_mut(&mut iov),
        )
    })
}

/// The parts of a signal-delivery stop's siginfo the platform uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SigInfo {
    pub(crate) signo: i32,
    pub(crate) code: i32,
    /// The faulting address (meaningful for SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP).
    pub(crate) addr: u64,
}

/// PTRACE_GETSIGINFO of a tracee in a signal-delivery stop.
pub(crate) fn get_siginfo(tid: Pid) -> io::Result<SigInfo> {
    let info = nix::sys::ptrace::getsiginfo(tid)?;
    // SAFETY: si_addr reads the first union field as a pointer; every siginfo_t is large enough,
    // and for signals without an address the value is simply not meaningful.
    let addr = unsafe { info.si_addr() }.addr() as u64;
    Ok(SigInfo {
        signo: info.si_signo,
        code: info.si_code,
        addr,
    })
}

/// waitpid(tid, __WALL), retrying on EINTR; returns the raw status.
///
/// nix's `waitpid` can't represent a stop by a real-time signal, and a status that failed to
/// convert would be lost, so the status is decoded by the caller.
pub(crate) fn wait_for(tid: Pid) -> io::Result<i32> {
    let mut status = 0;
    loop {
        // SAFETY: `status` is a valid out-pointer for the duration of the call.
        let ret = unsafe { libc::waitpid(tid.as_raw(), &raw mut status, libc::__WALL) };
        if ret == tid.as_raw() {
            return Ok(status);
        }
        let err = io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::EINTR) {
            return Err(err);
        }
    }
}
