//! The stub's seccomp filter: the injected system calls, only from the stub page.
//!
//! Guest system calls never get here: `PTRACE_SYSEMU` stops the stub before seccomp runs and the
//! call is skipped. The filter guards the injection path: anything the stub executes that the
//! Sentry did not mean to (a wrong `rip`, a bug) kills the stub.
//!
//! One exception: a guest call into the legacy vsyscall page, which the host emulates as a
//! system call made from that page, traps (SIGSYS) instead, so that the Sentry emulates it
//! (see `context::vsyscall_fault`).

use std::mem::offset_of;
use std::ops::Range;

use libc::{seccomp_data, sock_filter};

use crate::bpf::Filter;

/// `AUDIT_ARCH_X86_64`: `EM_X86_64 | __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE`.
const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;

/// The system calls a stub makes (all from the stub page), each for one reason.
const INJECTED: [libc::c_long; 8] = [
    // Maps guest memory (AddressSpace::map_file).
    libc::SYS_mmap,
    // Unmaps guest memory; clears the stub's address space at set-up.
    libc::SYS_munmap,
    // Changes guest page protections (AddressSpace::protect).
    libc::SYS_mprotect,
    // Clears the parent-death signal at set-up (the stub may outlive the thread that forked it);
    // sets it in a stub forked by the factory, whose parent is the factory's long-lived thread.
    libc::SYS_prctl,
    // Starts another thread of the stub (Context::spawn_thread), or forks a new stub from the
    // factory's template stub.
    libc::SYS_clone,
    // Parks a new thread until the Sentry thread that will trace it seizes it.
    libc::SYS_pause,
    // Ends one thread of a stub whose other threads go on (a dropped context); ends a forked
    // stub whose Sentry died before it could set its parent-death signal.
    libc::SYS_exit,
    // A forked stub checks that its parent is still the Sentry (see `factory`).
    libc::SYS_getppid,
];

/// The filter for a stub whose code occupies `page` (one page, not crossing a 4 GiB boundary).
pub(crate) fn stub_filter(page: Range<u64>) -> Vec<sock_filter> {
    let page_mask = !(u32::try_from(page.end - page.start - 1).expect("stub page fits 32 bits"));
    let (ip_high, ip_low) = split(page.start);
    let (vsyscall_high, vsyscall_low) = split(abi::VSYSCALL_PAGE.start);
    let mut filter = Filter::default();
    filter
        .load(field(offset_of!(seccomp_data, arch)))
        .require_eq(AUDIT_ARCH_X86_64);
    // instruction_pointer is the address after the `syscall` instruction (for an emulated
    // vsyscall, the address called), little-endian.
    let ip = offset_of!(seccomp_data, instruction_pointer);
    filter
        .load(field(ip + 4))
        .skip_unless_eq(vsyscall_high, 3)
        .load(field(ip))
        .and(!0xfff)
        .trap_if_eq(vsyscall_low);
    filter.load(field(ip + 4)).require_eq(ip_high);
    filter.load(field(ip)).and(page_mask).require_eq(ip_low);
    filter.load(field(offset_of!(seccomp_data, nr)));
    for nr in INJECTED {
        filter.allow_if_eq(u32::try_from(nr).expect("syscall numbers fit 32 bits"));
    }
    filter.build()
}

fn field(offset: usize) -> u32 {
    u32::try_from(offset).expect("seccomp_data is small")
}

/// The high and low 32-bit halves of an address.
fn split(addr: u64) -> (u32, u32) {
    let high = u32::try_from(addr >> 32).expect("shifted value fits 32 bits");
    let low = u32::try_from(addr & u64::from(u32::MAX)).expect("masked value fits 32 bits");
    (high, low)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stub::StubPage;

    /// `seccomp_data` as the filter reads it: nr, arch, instruction_pointer (low, high).
    fn data(nr: libc::c_long, ip: u64) -> [u32; 4] {
        let (high, low) = split(ip);
        [
            u32::try_from(nr).expect("small"),
            AUDIT_ARCH_X86_64,
            low,
            high,
        ]
    }

    #[test]
    fn traps_calls_from_the_vsyscall_page_allows_the_stubs_kills_the_rest() {
        let page = 0x7e00_0000_0000..0x7e00_0000_1000;
        let filter = stub_filter(page.clone());
        let run = |nr, ip| crate::bpf::tests::run(&filter, &data(nr, ip));
        for entry in [
            abi::VSYSCALL_GETTIMEOFDAY,
            abi::VSYSCALL_TIME,
            abi::VSYSCALL_GETCPU,
        ] {
            assert_eq!(run(libc::SYS_time, entry), libc::SECCOMP_RET_TRAP);
        }
        assert_eq!(
            run(libc::SYS_mmap, page.start + 0x10),
            libc::SECCOMP_RET_ALLOW
        );
        assert_eq!(
            run(libc::SYS_open, page.start + 0x10),
            libc::SECCOMP_RET_KILL_PROCESS
        );
        assert_eq!(
            run(libc::SYS_mmap, 0x40_0000),
            libc::SECCOMP_RET_KILL_PROCESS
        );
        assert_eq!(
            run(
                libc::SYS_mmap,
                0xffff_ffff_0000_0000 | (page.start & 0xffff_ffff)
            ),
            libc::SECCOMP_RET_KILL_PROCESS
        );
    }

    /// A process under the filter that makes a system call from outside the stub page dies.
    #[test]
    fn kills_a_syscall_from_outside_the_stub_page() {
        let page = StubPage::get().expect("stub page").range();
        let filter = stub_filter(page);
        let status = crate::sys::run_in_child_under_filter(&filter).expect("fork a child");
        assert!(
            libc::WIFSIGNALED(status),
            "child was not killed: status {status:#x}"
        );
        assert_eq!(libc::WTERMSIG(status), libc::SIGSYS);
    }
}
