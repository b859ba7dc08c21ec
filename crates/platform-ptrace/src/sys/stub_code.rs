//! The stub's machine code, assembled into the Sentry's read-only data and copied to the stub page.

use std::arch::global_asm;
use std::io;
use std::ptr;

use abi::PAGE_SIZE;

use crate::TASK_SIZE;

// Position-independent: the only address it uses is its own, taken `rip`-relative.
global_asm!(
    ".pushsection .rodata.rvisor_ptrace_stub, \"a\", @progbits",
    ".balign 16",
    ".globl rvisor_ptrace_stub_begin",
    ".hidden rvisor_ptrace_stub_begin",
    "rvisor_ptrace_stub_begin:",
    // Unmap [0, stub page).
    "lea rvisor_ptrace_stub_begin(%rip), %rbx",
    "xor %edi, %edi",
    "mov %rbx, %rsi",
    "mov ${munmap}, %eax",
    "syscall",
    "mov %rax, %r12",
    // Unmap [stub page end, TASK_SIZE).
    "lea {page}(%rbx), %rdi",
    "movabs ${task_size}, %rsi",
    "sub %rdi, %rsi",
    "mov ${munmap}, %eax",
    "syscall",
    // Set up: the tracer takes over.
    "int3",
    ".globl rvisor_ptrace_stub_inject",
    ".hidden rvisor_ptrace_stub_inject",
    "rvisor_ptrace_stub_inject:",
    "syscall",
    "int3",
    ".globl rvisor_ptrace_stub_end",
    ".hidden rvisor_ptrace_stub_end",
    "rvisor_ptrace_stub_end:",
    ".popsection",
    munmap = const libc::SYS_munmap,
    page = const PAGE_SIZE,
    task_size = const TASK_SIZE,
    options(att_syntax)
);

unsafe extern "C" {
    static rvisor_ptrace_stub_begin: u8;
    static rvisor_ptrace_stub_inject: u8;
    static rvisor_ptrace_stub_end: u8;
}

/// The assembled stub and where its injection sequence starts.
#[derive(Debug)]
pub(crate) struct StubCode {
    pub(crate) bytes: &'static [u8],
    pub(crate) inject_offset: usize,
}

pub(crate) fn stub_code() -> StubCode {
    let begin = (&raw const rvisor_ptrace_stub_begin).addr();
    let inject = (&raw const rvisor_ptrace_stub_inject).addr();
    let end = (&raw const rvisor_ptrace_stub_end).addr();
    // SAFETY: the three labels delimit bytes the assembler emitted into a read-only section of
    // this binary, in this order; they live as long as the program and are never written.
    let bytes =
        unsafe { std::slice::from_raw_parts(&raw const rvisor_ptrace_stub_begin, end - begin) };
    StubCode {
        bytes,
        inject_offset: inject - begin,
    }
}

/// Maps a private read+exec page holding `code` at exactly `addr`, failing if anything is there.
pub(crate) fn map_code_page(addr: u64, code: &[u8]) -> io::Result<()> {
    let len = usize::try_from(PAGE_SIZE).expect("page size fits usize");
    assert!(code.len() <= len, "code larger than a page");
    let want = usize::try_from(addr).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: MAP_FIXED_NOREPLACE never replaces an existing mapping, so no memory of this
    // process changes; we only get a fresh anonymous page or an error.
    let got = unsafe {
        libc::mmap(
            want as *mut libc::c_void,
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED_NOREPLACE,
            -1,
            0,
        )
    };
    if got == libc::MAP_FAILED {
        let err = io::Error::last_os_error();
        return Err(if err.raw_os_error() == Some(libc::EEXIST) {
            io::Error::new(
                io::ErrorKind::AlreadyExists,
                "the address is already mapped",
            )
        } else {
            err
        });
    }
    if got.addr() != want {
        // A kernel without MAP_FIXED_NOREPLACE treats the address as a hint.
        // SAFETY: `got` is the page just mapped, used by nothing else.
        unsafe { libc::munmap(got, len) };
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "the kernel placed the page elsewhere",
        ));
    }
    // SAFETY: `got` is a fresh writable page of `len` bytes and `code` is at most that long.
    unsafe { ptr::copy_nonoverlapping(code.as_ptr(), got.cast::<u8>(), code.len()) };
    // SAFETY: changes only the page just mapped, which nothing else refers to.
    if unsafe { libc::mprotect(got, len, libc::PROT_READ | libc::PROT_EXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
