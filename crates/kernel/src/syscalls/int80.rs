//! `int $0x80` from 64-bit code. Linux serves it with the i386 table (the number in eax, the
//! arguments in ebx, ecx, edx, esi, edi and ebp, 32 bits each), not the amd64 one, so its
//! numbers must not reach the amd64 table. Served here: the i386 calls whose arguments and
//! results mean the same in both ABIs (no structure, no `long`, no 64-bit offset), each by its
//! amd64 handler; every other i386 number is ENOSYS.

use abi::UserRegs;
use mm::MemoryManager;

/// The instruction's bytes: `cd 80`.
const INT80: [u8; 2] = [0xcd, 0x80];

/// (i386 number, amd64 number) of each call served.
const I386_TO_AMD64: &[(u64, u64)] = &[
    (1, 60),    // exit
    (3, 0),     // read
    (4, 1),     // write
    (5, 2),     // open
    (6, 3),     // close
    (10, 87),   // unlink
    (12, 80),   // chdir
    (20, 39),   // getpid
    (29, 34),   // pause
    (33, 21),   // access
    (36, 162),  // sync
    (37, 62),   // kill
    (38, 82),   // rename
    (39, 83),   // mkdir
    (40, 84),   // rmdir
    (41, 32),   // dup
    (42, 22),   // pipe
    (57, 109),  // setpgid
    (60, 95),   // umask
    (63, 33),   // dup2
    (64, 110),  // getppid
    (65, 111),  // getpgrp
    (66, 112),  // setsid
    (83, 88),   // symlink
    (85, 89),   // readlink
    (118, 74),  // fsync
    (132, 121), // getpgid
    (147, 124), // getsid
    (158, 24),  // sched_yield
    (199, 102), // getuid32
    (200, 104), // getgid32
    (201, 107), // geteuid32
    (202, 108), // getegid32
    (224, 186), // gettid
    (238, 200), // tkill
    (252, 231), // exit_group
    (270, 234), // tgkill
    (330, 292), // dup3
    (331, 293), // pipe2
];

/// Whether the syscall stop came from `int $0x80` rather than `syscall`. The `syscall`
/// instruction leaves the return address in rcx and the flags in r11, so only when they differ
/// is the instruction before rip looked at.
pub(crate) fn trapped_on_int80(regs: &UserRegs, mm: &MemoryManager) -> bool {
    if regs.rcx == regs.rip && regs.r11 == regs.eflags {
        return false;
    }
    regs.rip
        .checked_sub(INT80.len() as u64)
        .and_then(|at| mm.read_obj::<[u8; 2]>(at).ok())
        == Some(INT80)
}

/// The amd64 number serving i386 call `nr`, if it is served.
pub(crate) fn amd64_number(nr: u64) -> Option<u64> {
    I386_TO_AMD64
        .iter()
        .find(|&&(i386, _)| i386 == nr & 0xffff_ffff)
        .map(|&(_, amd64)| amd64)
}

/// The i386 argument registers, each its low 32 bits (as Linux's ia32 entry reads them).
pub(crate) fn args(regs: &UserRegs) -> [u64; 6] {
    [regs.rbx, regs.rcx, regs.rdx, regs.rsi, regs.rdi, regs.rbp].map(|r| r & 0xffff_ffff)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_i386_number_appears_once() {
        for (i, &(nr, _)) in I386_TO_AMD64.iter().enumerate() {
            assert!(I386_TO_AMD64[i + 1..].iter().all(|&(other, _)| other != nr));
        }
    }

    #[test]
    fn i386_numbers_map_to_their_amd64_calls() {
        assert_eq!(amd64_number(20), Some(39));
        assert_eq!(amd64_number(39), Some(83));
        assert_eq!(amd64_number(1000), None);
    }
}
