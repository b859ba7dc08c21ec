//! The stub's machine code, assembled into the Sentry's read-only data and copied to the stub page.

use std::arch::global_asm;
use std::io;
use std::ops::Range;
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
    "mov %rax, %r13",
    // Drop the parent-death signal: it fires when the Sentry thread that forked the stub exits,
    // which the stub's other threads may outlive. From here each tracer's PTRACE_O_EXITKILL ends
    // the stub if the Sentry dies.
    "mov ${prctl}, %eax",
    "mov ${set_pdeathsig}, %edi",
    "xor %esi, %esi",
    "syscall",
    // Set up: the tracer takes over.
    "int3",
    // Injection: `syscall; int3`.
    ".globl rvisor_ptrace_stub_inject",
    ".hidden rvisor_ptrace_stub_inject",
    "rvisor_ptrace_stub_inject:",
    "syscall",
    "int3",
    ".globl rvisor_ptrace_stub_inject_done",
    ".hidden rvisor_ptrace_stub_inject_done",
    "rvisor_ptrace_stub_inject_done:",
    // An injected clone: the parent stops at the int3 like any injection; the new thread, which
    // nobody traces yet, parks in `pause` (all its signals blocked) until its tracer seizes it.
    ".globl rvisor_ptrace_stub_clone",
    ".hidden rvisor_ptrace_stub_clone",
    "rvisor_ptrace_stub_clone:",
    "syscall",
    "test %rax, %rax",
    "jnz 3f",
    "2:",
    "mov ${pause}, %eax",
    "syscall",
    "jmp 2b",
    "3:",
    "int3",
    ".globl rvisor_ptrace_stub_clone_done",
    ".hidden rvisor_ptrace_stub_clone_done",
    "rvisor_ptrace_stub_clone_done:",
    // An injected fork (see `factory`): the parent stops at the int3 like any injection. The new
    // stub, untraced, with all its signals blocked, first makes sure it dies with the Sentry:
    // the parent-death signal, then a check that its parent (the Sentry, whose pid the tracer
    // left in r12) did not die before that took effect; then it parks in `pause` until its
    // tracer seizes it.
    ".globl rvisor_ptrace_stub_fork",
    ".hidden rvisor_ptrace_stub_fork",
    "rvisor_ptrace_stub_fork:",
    "syscall",
    "test %rax, %rax",
    "jnz 6f",
    "mov ${prctl}, %eax",
    "mov ${set_pdeathsig}, %edi",
    "mov ${sigkill}, %esi",
    "syscall",
    "test %rax, %rax",
    "jnz 5f",
    "mov ${getppid}, %eax",
    "syscall",
    "cmp %rax, %r12",
    "jne 5f",
    "4:",
    "mov ${pause}, %eax",
    "syscall",
    "jmp 4b",
    "5:",
    "mov ${exit}, %eax",
    "mov $1, %edi",
    "syscall",
    "6:",
    "int3",
    ".globl rvisor_ptrace_stub_fork_done",
    ".hidden rvisor_ptrace_stub_fork_done",
    "rvisor_ptrace_stub_fork_done:",
    ".globl rvisor_ptrace_stub_end",
    ".hidden rvisor_ptrace_stub_end",
    "rvisor_ptrace_stub_end:",
    ".popsection",
    munmap = const libc::SYS_munmap,
    prctl = const libc::SYS_prctl,
    set_pdeathsig = const libc::PR_SET_PDEATHSIG,
    pause = const libc::SYS_pause,
    getppid = const libc::SYS_getppid,
    exit = const libc::SYS_exit,
    sigkill = const libc::SIGKILL,
    page = const PAGE_SIZE,
    task_size = const TASK_SIZE,
    options(att_syntax)
);

unsafe extern "C" {
    static rvisor_ptrace_stub_begin: u8;
    static rvisor_ptrace_stub_inject: u8;
    static rvisor_ptrace_stub_inject_done: u8;
    static rvisor_ptrace_stub_clone: u8;
    static rvisor_ptrace_stub_clone_done: u8;
    static rvisor_ptrace_stub_fork: u8;
    static rvisor_ptrace_stub_fork_done: u8;
    static rvisor_ptrace_stub_end: u8;
}

/// The assembled stub and where its injection sequences are, as offsets into it.
#[derive(Debug)]
pub(crate) struct StubCode {
    pub(crate) bytes: &'static [u8],
    /// From the `syscall; int3` sequence to the address after its int3.
    pub(crate) inject: Range<usize>,
    /// From the clone sequence to the address after the int3 its parent stops at.
    pub(crate) clone: Range<usize>,
    /// From the fork sequence to the address after the int3 its parent stops at.
    pub(crate) fork: Range<usize>,
}

pub(crate) fn stub_code() -> StubCode {
    let begin = (&raw const rvisor_ptrace_stub_begin).addr();
    let offset = |label: *const u8| label.addr() - begin;
    let end = (&raw const rvisor_ptrace_stub_end).addr();
    // SAFETY: the labels delimit bytes the assembler emitted into a read-only section of this
    // binary, in this order; they live as long as the program and are never written.
    let bytes =
        unsafe { std::slice::from_raw_parts(&raw const rvisor_ptrace_stub_begin, end - begin) };
    StubCode {
        bytes,
        inject: offset(&raw const rvisor_ptrace_stub_inject)
            ..offset(&raw const rvisor_ptrace_stub_inject_done),
        clone: offset(&raw const rvisor_ptrace_stub_clone)
            ..offset(&raw const rvisor_ptrace_stub_clone_done),
        fork: offset(&raw const rvisor_ptrace_stub_fork)
            ..offset(&raw const rvisor_ptrace_stub_fork_done),
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
