//! The `Platform` trait: how the Sentry runs guest code and learns why it stopped.
//!
//! A platform provides address spaces (which guest memory is visible where) and contexts (threads
//! of guest execution). The Sentry runs a context with [`Context::switch`] until the guest traps:
//! a syscall, a memory fault, or another signal. Application syscalls are never executed by the
//! host: the platform only reports them, and the Sentry writes the result back.
//!
//! All guest memory is pages of one memory file (a memfd owned by `mm`); an address space maps
//! ranges of that file at guest addresses, so the Sentry reaches the same pages through its own
//! mapping of the file.
#![forbid(unsafe_code)]

use std::ops::Range;
use std::os::fd::BorrowedFd;
use std::sync::Arc;

pub use abi::{FpState, UserRegs};

/// Page protections for a guest mapping.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Prot {
    pub read: bool,
    pub write: bool,
    pub exec: bool,
}

impl Prot {
    pub const NONE: Prot = Prot {
        read: false,
        write: false,
        exec: false,
    };
    pub const READ: Prot = Prot {
        read: true,
        write: false,
        exec: false,
    };
    pub const RW: Prot = Prot {
        read: true,
        write: true,
        exec: false,
    };
    pub const RWX: Prot = Prot {
        read: true,
        write: true,
        exec: true,
    };

    /// From the `PROT_*` bits of mmap/mprotect (unknown bits are the caller's to reject).
    pub fn from_bits(bits: u64) -> Prot {
        Prot {
            read: bits & (libc_prot::READ) != 0,
            write: bits & (libc_prot::WRITE) != 0,
            exec: bits & (libc_prot::EXEC) != 0,
        }
    }

    /// The `PROT_*` bits.
    pub fn bits(self) -> u64 {
        (if self.read { libc_prot::READ } else { 0 })
            | (if self.write { libc_prot::WRITE } else { 0 })
            | (if self.exec { libc_prot::EXEC } else { 0 })
    }
}

/// PROT_* values (identical on every Linux architecture).
mod libc_prot {
    pub const READ: u64 = 1;
    pub const WRITE: u64 = 2;
    pub const EXEC: u64 = 4;
}

/// What kind of access faulted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
    Exec,
}

/// Why the guest stopped running.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trap {
    /// The guest executed `syscall`: the number is in `orig_rax`, the arguments in the
    /// argument registers ([`UserRegs::syscall_args`]). The host did not execute it.
    Syscall,
    /// A memory access faulted (host SIGSEGV or SIGBUS) at `addr`. A call into the legacy
    /// vsyscall page ([`abi::VSYSCALL_PAGE`]) is an `Exec` fault at the called address, with
    /// the registers as the call left them (the return address on top of the stack), whether
    /// or not the host has the page.
    Fault {
        addr: u64,
        access: Access,
        signo: i32,
        code: i32,
    },
    /// Any other synchronous signal (SIGILL, SIGFPE, SIGTRAP from int3, ...) with its siginfo
    /// code and address.
    Signal { signo: i32, code: i32, addr: u64 },
    /// [`Interrupter::interrupt`] was called (possibly before this switch began): the guest
    /// stopped at an instruction boundary so the Sentry can deliver a signal or end the task.
    Interrupted,
}

/// Errors of the platform itself (never of the guest).
#[derive(Debug, thiserror::Error)]
pub enum PlatformError {
    #[error("host call {call} failed: {source}")]
    Host {
        call: &'static str,
        source: std::io::Error,
    },
    #[error("stub process {pid} died unexpectedly: {reason}")]
    StubDied { pid: i32, reason: String },
    #[error("platform is not usable here: {0}")]
    Unavailable(String),
}

/// A set of guest mappings: ranges of the memory file placed at guest addresses.
///
/// Shared by all threads of a guest process. Implementations may require that the calling OS
/// thread is one that owns a [`Context`] of this address space (ptrace: only a tracer may inject
/// calls into its stub).
pub trait AddressSpace: Send + Sync {
    /// Maps `len` bytes of the memory file at `file_offset` to guest address `addr`, replacing
    /// whatever was there. `addr`, `len` and `file_offset` are page-aligned.
    fn map_file(
        &self,
        addr: u64,
        len: u64,
        file_offset: u64,
        prot: Prot,
    ) -> Result<(), PlatformError>;

    /// Removes the mappings in `[addr, addr + len)`; unmapped parts are ignored.
    fn unmap(&self, addr: u64, len: u64) -> Result<(), PlatformError>;

    /// Changes the protection of already mapped pages in `[addr, addr + len)`.
    fn protect(&self, addr: u64, len: u64, prot: Prot) -> Result<(), PlatformError>;
}

/// One thread of guest execution, bound to the OS thread that created it.
///
/// Dropping a context ends its thread; dropping the last context of an address space ends the
/// address space too.
///
/// The register cache holds the guest's registers as of the last trap; changes made through
/// [`Context::regs_mut`] or [`Context::set_return`] are written back on the next switch.
pub trait Context {
    /// Runs the guest until it traps.
    fn switch(&mut self) -> Result<Trap, PlatformError>;

    /// The guest registers as of the last trap.
    fn regs(&self) -> &UserRegs;

    /// The guest registers, for changing; all of them are written back on the next switch.
    fn regs_mut(&mut self) -> &mut UserRegs;

    /// Sets the syscall return value (`rax`): the cheap path for the common case of a syscall
    /// that changes no other register.
    fn set_return(&mut self, value: u64);

    /// Reads the guest's FPU/extended state.
    fn fp_state(&mut self) -> Result<FpState, PlatformError>;

    /// Replaces the guest's FPU/extended state.
    fn set_fp_state(&mut self, state: &FpState) -> Result<(), PlatformError>;

    /// The address space this context runs in.
    fn address_space(&self) -> Arc<dyn AddressSpace>;

    /// Starts another thread of execution in this context's address space (clone with
    /// CLONE_VM). It runs no guest code until [`PendingThread::attach`] is called on the OS
    /// thread that will own it; its registers then start as a copy of this context's as of now.
    fn spawn_thread(&mut self) -> Result<Box<dyn PendingThread>, PlatformError>;

    /// A handle that other OS threads use to make this context's `switch` return
    /// [`Trap::Interrupted`] soon.
    fn interrupter(&self) -> Arc<dyn Interrupter>;
}

/// A thread started by [`Context::spawn_thread`], not yet bound to an OS thread.
pub trait PendingThread: Send {
    /// Binds the thread to the calling OS thread and returns its context. Dropping a pending
    /// thread instead ends it.
    fn attach(self: Box<Self>) -> Result<Box<dyn Context>, PlatformError>;
}

/// Makes a running (or about to run) context stop and return [`Trap::Interrupted`].
pub trait Interrupter: Send + Sync {
    fn interrupt(&self);
}

/// A way to run guest code.
pub trait Platform: Send + Sync {
    /// A short name (`ptrace`, `kvm`).
    fn name(&self) -> &'static str;

    /// The guest addresses usable by applications: `[min, max)`.
    fn user_address_range(&self) -> Range<u64>;

    /// Creates an empty address space and its first context, bound to the calling OS thread.
    /// `memory_file` is the memfd that all mappings refer to.
    fn new_address_space(
        &self,
        memory_file: BorrowedFd<'_>,
    ) -> Result<Box<dyn Context>, PlatformError>;
}
