//! The ptrace platform: guest code runs in stub processes driven by `PTRACE_SYSEMU`.
//!
//! Each address space is a stub process, forked from a template stub by the stub factory (see
//! `factory`; the template itself, or any stub if the factory fails, is forked from the Sentry).
//! A stub forked from the Sentry clears its whole address
//! space except one page of stub code at [`STUB_ADDR`], installs a seccomp filter that allows only
//! the few system calls the Sentry injects (and only from the stub page), and stops. The Sentry
//! thread that forked it is its tracer: it maps guest memory by injecting `mmap` through the stub's
//! `syscall; int3` sequence, and runs guest code with `PTRACE_SYSEMU`, which stops the stub at
//! every guest `syscall` *before* the host executes it.
//!
//! Threads: `Context::spawn_thread` injects `clone` (a thread of the stub process) from the stub
//! page; the new thread parks in `pause` with every host signal blocked, untraced, until
//! `PendingThread::attach` seizes it (PTRACE_SEIZE + PTRACE_INTERRUPT) from the OS thread that
//! will trace it. The stub lives while any context or pending thread does; a dropped context ends
//! only its own thread (injected `exit`; the first thread exits detached, since the kernel
//! reports its end only after all others', and lingers as a zombie until the stub ends).
//!
//! Lost stops: a tracer that has been inside one `waitpid` for a whole second is kicked with a
//! signal (SA_RESTART, empty handler) so the wait looks at its tracee again (see `waits`).
//!
//! Interrupts: a flag plus SIGURG to the stub thread (see `interrupt`); the tracer drops the
//! signal and reports `Trap::Interrupted` if the flag was set.
//!
//! Costs drive the shape of the hot path (measured on the project's machines): the tracer thread
//! and its stub are pinned to one CPU (a cross-CPU wake-up, ~40 µs, costs more than the whole round
//! trip), a syscall that changes only `rax` writes it with one `PTRACE_POKEUSER`, and the FPU state
//! (+40% per round trip) is read or written only when asked.
#![deny(unsafe_code)]

mod address_space;
mod bpf;
mod context;
mod factory;
mod interrupt;
mod reaper;
mod spawn;
mod stub;
#[allow(unsafe_code)]
mod sys;
mod thread;
mod tracee;
mod waits;

use std::ops::Range;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::sync::Arc;

use platform::{Context, Platform, PlatformError};

use address_space::PtraceAddressSpace;
use context::{Pending, PtraceContext};

/// Where the stub code page lives, in the Sentry and in every stub.
///
/// 1 TiB below the lowest base the kernel picks for the Sentry's own top-down mappings (the top of
/// the address space minus at most 1 TiB of randomisation), so the Sentry's mappings don't reach it.
pub const STUB_ADDR: u64 = 0x7e00_0000_0000;

/// The lowest guest address: below it stays unmapped, so null-pointer bugs fault.
pub const MIN_USER_ADDR: u64 = 0x1_0000;

/// The end of the user half of the address space (4-level paging): the stub unmaps up to here.
const TASK_SIZE: u64 = 0x7fff_ffff_f000;

/// The ptrace platform.
#[derive(Debug)]
pub struct PtracePlatform {
    stub: &'static stub::StubPage,
}

impl PtracePlatform {
    /// Maps the stub code page into this process and starts the thread that reaps ended stubs
    /// (once per process), and returns the platform.
    pub fn new() -> Result<PtracePlatform, PlatformError> {
        reaper::start();
        Ok(PtracePlatform {
            stub: stub::StubPage::get()?,
        })
    }

    /// [`Platform::new_address_space`] with the concrete context type.
    fn new_context(&self, memory_file: BorrowedFd<'_>) -> Result<PtraceContext, PlatformError> {
        let (tracee, regs, process) = match factory::new_stub(self.stub, memory_file) {
            Ok(made) => made,
            Err(err) => {
                // The factory is an optimisation: a stub forked from the Sentry works the same.
                tracing::debug!(%err, "stub factory failed; forking the stub from the Sentry");
                spawn::spawn_stub(self.stub, memory_file.as_raw_fd())?
            }
        };
        let space =
            PtraceAddressSpace::new(process, tracee.tid(), self.stub, memory_file.as_raw_fd());
        Ok(PtraceContext::new(
            Arc::new(space),
            tracee,
            regs,
            Pending::Nothing,
        ))
    }
}

impl Platform for PtracePlatform {
    fn name(&self) -> &'static str {
        "ptrace"
    }

    fn user_address_range(&self) -> Range<u64> {
        MIN_USER_ADDR..STUB_ADDR
    }

    fn new_address_space(
        &self,
        memory_file: BorrowedFd<'_>,
    ) -> Result<Box<dyn Context>, PlatformError> {
        Ok(Box::new(self.new_context(memory_file)?))
    }
}

/// A host-call error with the name of the call, for `map_err`.
fn host_error(call: &'static str) -> impl FnOnce(nix::Error) -> PlatformError {
    move |errno| PlatformError::Host {
        call,
        source: errno.into(),
    }
}

/// A register's bits read as a signed value (system calls return negative errnos in `rax`).
fn signed(register: u64) -> i64 {
    i64::from_ne_bytes(register.to_ne_bytes())
}
