//! The stub: a page of machine code at [`STUB_ADDR`](crate::STUB_ADDR) in the Sentry and in every
//! stub process, and the seccomp filter that confines the stub to it.
//!
//! What the code does (the assembly is in `sys::stub_code`):
//! 1. `munmap` everything below the stub page and above it up to the end of user space, leaving
//!    the results in `r12` and `rax`;
//! 2. `int3`: the stub is set up and the tracer takes over;
//! 3. at [`StubPage::inject_addr`], `syscall; int3`: the tracer injects a system call by setting
//!    `rip` there and the number and arguments in the registers, continuing to the `int3`, and
//!    reading `rax`.

pub(crate) mod seccomp;

use std::ops::Range;
use std::sync::OnceLock;

use abi::PAGE_SIZE;
use platform::PlatformError;

use crate::{sys, STUB_ADDR};

/// The stub code page, mapped once per process and never unmapped (stubs are forked from it).
#[derive(Debug)]
pub(crate) struct StubPage {
    inject_offset: u64,
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
            inject_offset: code.inject_offset as u64,
        })
    }

    /// Where the stub starts running after its seccomp filter is installed.
    pub(crate) fn entry_addr(&self) -> u64 {
        STUB_ADDR
    }

    /// The address of the `syscall; int3` sequence used to inject system calls.
    pub(crate) fn inject_addr(&self) -> u64 {
        STUB_ADDR + self.inject_offset
    }

    /// Where `rip` is when an injected system call has returned and hit the `int3` after it.
    pub(crate) fn inject_done_addr(&self) -> u64 {
        // `syscall` is 2 bytes, `int3` 1; the trap reports the address after the int3.
        self.inject_addr() + 3
    }

    /// The addresses of the stub page.
    pub(crate) fn range(&self) -> Range<u64> {
        STUB_ADDR..STUB_ADDR + PAGE_SIZE
    }
}
