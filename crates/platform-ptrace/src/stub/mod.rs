//! The stub: a page of machine code at [`STUB_ADDR`](crate::STUB_ADDR) in the Sentry and in every
//! stub process, and the seccomp filter that confines the stub to it.
//!
//! What the code does (the assembly is in `sys::stub_code`):
//! 1. `munmap` everything below the stub page and above it up to the end of user space, leaving
//!    the results in `r12` and `r13`, then clear the parent-death signal (result in `rax`);
//! 2. `int3`: the stub is set up and the tracer takes over;
//! 3. at [`StubPage::syscall_site`], `syscall; int3`: the tracer injects a system call by setting
//!    `rip` there and the number and arguments in the registers, continuing to the `int3`, and
//!    reading `rax`;
//! 4. at [`StubPage::clone_site`], the same for `clone`, except that the new thread (`rax` 0)
//!    parks in a loop of `pause` instead of reaching the `int3`, which would kill it untraced;
//! 5. at [`StubPage::fork_site`], the same for a fork of the whole stub (a new stub process made
//!    by the stub factory): the child sets its parent-death signal, checks its parent is still
//!    the Sentry, and parks.

pub(crate) mod seccomp;

use std::ops::Range;
use std::sync::OnceLock;

use abi::PAGE_SIZE;
use platform::PlatformError;

use crate::{sys, STUB_ADDR};

/// The stub code page, mapped once per process and never unmapped (stubs are forked from it).
#[derive(Debug)]
pub(crate) struct StubPage {
    syscall_site: InjectionSite,
    clone_site: InjectionSite,
    fork_site: InjectionSite,
}

/// Where an injected system call starts, and where `rip` is when it has returned and hit the
/// `int3` after it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct InjectionSite {
    pub(crate) start: u64,
    pub(crate) done: u64,
}

impl InjectionSite {
    fn at(offsets: Range<usize>) -> InjectionSite {
        InjectionSite {
            start: STUB_ADDR + offsets.start as u64,
            done: STUB_ADDR + offsets.end as u64,
        }
    }
}

impl StubPage {
    /// The process's stub page, mapping it on first use.
    pub(crate) fn get() -> Result<&'static StubPage, PlatformError> {
        static PAGE: OnceLock<Result<StubPage, String>> = OnceLock::new();
        PAGE.get_or_init(StubPage::map)
            .as_ref()
            .map_err(|why| PlatformError::Unavailable(why.clone()))
    }

    fn map() -> Result<StubPage, String> {
        let code = sys::stub_code();
        if code.bytes.len() as u64 > PAGE_SIZE {
            return Err(format!(
                "stub code is {} bytes, more than a page",
                code.bytes.len()
            ));
        }
        sys::map_code_page(STUB_ADDR, code.bytes)
            .map_err(|e| format!("mapping the stub page at {STUB_ADDR:#x}: {e}"))?;
        Ok(StubPage {
            syscall_site: InjectionSite::at(code.inject),
            clone_site: InjectionSite::at(code.clone),
            fork_site: InjectionSite::at(code.fork),
        })
    }

    /// Where the stub starts running after its seccomp filter is installed.
    pub(crate) fn entry_addr(&self) -> u64 {
        STUB_ADDR
    }

    /// The `syscall; int3` sequence used to inject system calls.
    pub(crate) fn syscall_site(&self) -> InjectionSite {
        self.syscall_site
    }

    /// The sequence used to inject `clone`: the parent stops as at [`StubPage::syscall_site`],
    /// the new thread parks.
    pub(crate) fn clone_site(&self) -> InjectionSite {
        self.clone_site
    }

    /// The sequence used to inject a fork: the parent stops as at [`StubPage::syscall_site`],
    /// the child parks (see `factory`).
    pub(crate) fn fork_site(&self) -> InjectionSite {
        self.fork_site
    }

    /// The addresses of the stub page.
    pub(crate) fn range(&self) -> Range<u64> {
        STUB_ADDR..STUB_ADDR + PAGE_SIZE
    }
}
