//! The initial stack: argc, argv, envp, the auxiliary vector, and the strings they point to.

use abi::Errno;
use mm::MemoryManager;

use super::elf::PHDR_SIZE;

// Auxiliary vector keys (linux/auxvec.h).
const AT_NULL: u64 = 0;
const AT_PHDR: u64 = 3;
const AT_PHENT: u64 = 4;
const AT_PHNUM: u64 = 5;
const AT_PAGESZ: u64 = 6;
const AT_BASE: u64 = 7;
const AT_FLAGS: u64 = 8;
const AT_ENTRY: u64 = 9;
const AT_UID: u64 = 11;
const AT_EUID: u64 = 12;
const AT_GID: u64 = 13;
const AT_EGID: u64 = 14;
const AT_PLATFORM: u64 = 15;
const AT_HWCAP: u64 = 16;
const AT_CLKTCK: u64 = 17;
const AT_SECURE: u64 = 23;
const AT_RANDOM: u64 = 25;
const AT_HWCAP2: u64 = 26;
const AT_EXECFN: u64 = 31;
const AT_SYSINFO_EHDR: u64 = 33;

/// Clock ticks per second that times(2) counts in.
pub(crate) const CLK_TCK: u64 = 100;

/// Most bytes of argument and environment strings execve takes (Linux: a quarter of the 8 MiB
/// stack limit).
const ARG_MAX: usize = 2 << 20;

/// The per-executable values of the auxiliary vector.
pub(super) struct Auxv {
    /// Where the vDSO image is mapped.
    pub(super) sysinfo_ehdr: u64,
    pub(super) phdr: u64,
    pub(super) phnum: u64,
    pub(super) entry: u64,
    pub(super) base: u64,
    pub(super) uid: u64,
    pub(super) euid: u64,
    pub(super) gid: u64,
    pub(super) egid: u64,
    /// AT_SECURE: the program runs with ids its caller did not have (a set-id file).
    pub(super) secure: bool,
}

/// Writes the initial stack below `top` and returns the stack pointer (pointing at argc).
pub(super) fn build(
    mm: &MemoryManager,
    top: u64,
    argv: &[Vec<u8>],
    envp: &[Vec<u8>],
    execfn: &[u8],
    aux: &Auxv,
    random: &[u8; 16],
) -> Result<u64, Errno> {
    let total: usize = argv.iter().chain(envp).map(|s| s.len() + 1).sum();
    if total > ARG_MAX {
        return Err(Errno::E2BIG);
    }

    // Strings go at the top, in this order downwards: execfn, envp, argv, platform, random.
    let mut strings = StringArea::new(top - 8);
    let execfn_addr = strings.push(execfn);
    let env_addrs: Vec<u64> = envp.iter().map(|s| strings.push(s)).collect();
    let arg_addrs: Vec<u64> = argv.iter().map(|s| strings.push(s)).collect();
    let platform_addr = strings.push(b"x86_64");
    let random_addr = strings.push_raw(random);

    let auxv: [(u64, u64); 19] = [
        (AT_SYSINFO_EHDR, aux.sysinfo_ehdr),
        (AT_PHDR, aux.phdr),
        (AT_PHENT, u64::from(PHDR_SIZE)),
        (AT_PHNUM, aux.phnum),
        (AT_PAGESZ, abi::PAGE_SIZE),
        (AT_BASE, aux.base),
        (AT_FLAGS, 0),
        (AT_ENTRY, aux.entry),
        (AT_UID, aux.uid),
        (AT_EUID, aux.euid),
        (AT_GID, aux.gid),
        (AT_EGID, aux.egid),
        (AT_SECURE, u64::from(aux.secure)),
        (AT_CLKTCK, CLK_TCK),
        (AT_HWCAP, u64::from(std::arch::x86_64::__cpuid(1).edx)),
        (AT_HWCAP2, 0),
        (AT_RANDOM, random_addr),
        (AT_PLATFORM, platform_addr),
        (AT_EXECFN, execfn_addr),
    ];

    let mut words: Vec<u64> = Vec::with_capacity(3 + argv.len() + envp.len() + 2 * auxv.len() + 2);
    words.push(argv.len() as u64);
    words.extend(&arg_addrs);
    words.push(0);
    words.extend(&env_addrs);
    words.push(0);
    for (key, value) in auxv {
        words.extend([key, value]);
    }
    words.extend([AT_NULL, 0]);

    // The ABI wants %rsp 16-byte aligned at process entry, where argc is.
    let table_len = (words.len() * 8) as u64;
    let sp = (strings.bottom() - table_len) & !15;
    let table: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
    mm.copy_out(sp, &table)?;
    mm.copy_out(strings.bottom(), &strings.bytes())?;
    Ok(sp)
}

/// Strings packed downwards from a top address.
struct StringArea {
    top: u64,
    /// Pushed strings, last pushed lowest; built in reverse and flipped at the end.
    reversed: Vec<u8>,
}

impl StringArea {
    fn new(top: u64) -> StringArea {
        StringArea {
            top,
            reversed: Vec::new(),
        }
    }

    /// Pushes a NUL-terminated copy of `s`; returns its guest address.
    fn push(&mut self, s: &[u8]) -> u64 {
        self.reversed.push(0);
        self.push_raw(s)
    }

    /// Pushes `bytes` as they are; returns their guest address.
    fn push_raw(&mut self, bytes: &[u8]) -> u64 {
        self.reversed.extend(bytes.iter().rev());
        self.bottom()
    }

    fn bottom(&self) -> u64 {
        self.top - self.reversed.len() as u64
    }

    fn bytes(&self) -> Vec<u8> {
        self.reversed.iter().rev().copied().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_pack_downwards_with_nul() {
        let mut area = StringArea::new(0x1000);
        let a = area.push(b"ab");
        let b = area.push(b"c");
        assert_eq!(a, 0x1000 - 3);
        assert_eq!(b, 0x1000 - 5);
        assert_eq!(area.bytes(), b"c\0ab\0");
        assert_eq!(area.bottom(), b);
    }
}
