//! The vDSO every process gets: the image and its data page (the vvar page), memory-file pages
//! the Sentry owns and maps read-only into each new address space at exec (fork shares them).

use std::ops::Range;

use abi::{Errno, PAGE_SIZE};
use mm::{MemoryFile, MemoryManager, MmError, SpecialPages};
use nix::sched::sched_getaffinity;
use nix::unistd::Pid;
use platform::Prot;

const READ_EXEC: Prot = Prot {
    read: true,
    write: false,
    exec: true,
};

pub(crate) struct Vdso {
    vvar: Range<u64>,
    image: Range<u64>,
    /// The vvar page's CPU map: the sandbox's number of each host CPU.
    cpu_map: Vec<u8>,
}

impl Vdso {
    /// Copies the image into the memory file below a zeroed vvar page, and fills the page's
    /// getcpu fields (which never change).
    pub(crate) fn new(memory: &MemoryFile) -> Result<Vdso, MmError> {
        let image_len = abi::page_ceil(vdso::IMAGE.len() as u64).unwrap_or(PAGE_SIZE);
        let pages = memory.allocate(PAGE_SIZE + image_len)?;
        let vvar = pages.start..pages.start + PAGE_SIZE;
        memory.write(vvar.end, vdso::IMAGE)?;
        let cpu_map = cpu_map();
        memory.write(vvar.start + vdso::CPU_MAP_OFFSET, &cpu_map)?;
        if vdso::rdtscp_is_available() {
            memory.write(vvar.start + vdso::GETCPU_READY_OFFSET, &1u64.to_le_bytes())?;
        }
        Ok(Vdso {
            vvar,
            image: pages.start + PAGE_SIZE..pages.end,
            cpu_map,
        })
    }

    /// The sandbox's number of host CPU `host`, as the vDSO's getcpu gives it.
    pub(crate) fn sandbox_cpu(&self, host: usize) -> Option<usize> {
        self.cpu_map
            .get(host)
            .filter(|&&cpu| cpu != vdso::NO_CPU)
            .map(|&cpu| usize::from(cpu))
    }

    /// The memory-file offset of the vvar page.
    pub(crate) fn vvar_offset(&self) -> u64 {
        self.vvar.start
    }

    /// Maps the vvar page and the image, in that order, into `mm`; returns the image's address
    /// (AT_SYSINFO_EHDR).
    pub(crate) fn map(&self, mm: &MemoryManager) -> Result<u64, Errno> {
        let vvar = mm.map_special(&[
            SpecialPages {
                name: b"[vvar]",
                memory: self.vvar.clone(),
                prot: Prot::READ,
            },
            SpecialPages {
                name: b"[vdso]",
                memory: self.image.clone(),
                prot: READ_EXEC,
            },
        ])?;
        Ok(vvar + PAGE_SIZE)
    }
}

/// The sandbox's number of each host CPU: the CPUs the Sentry may run on, in order, as many as
/// the sandbox shows (getcpu asks the Sentry on the others). Runs on the boot thread, which no
/// task pinned yet.
fn cpu_map() -> Vec<u8> {
    let mut map = vec![vdso::NO_CPU; vdso::CPU_MAP_LEN];
    let Ok(host) = sched_getaffinity(Pid::from_raw(0)) else {
        return map;
    };
    let shown = crate::syscalls::cpu_count().min(usize::from(vdso::NO_CPU));
    let host_cpus = (0..vdso::CPU_MAP_LEN).filter(|&cpu| host.is_set(cpu).unwrap_or(false));
    for (sandbox_cpu, host_cpu) in host_cpus.take(shown).enumerate() {
        map[host_cpu] = u8::try_from(sandbox_cpu).unwrap_or(vdso::NO_CPU);
    }
    map
}

#[cfg(test)]
mod tests {
    /// The kernel version in the image's "Linux" note (image/vdso.c) is the one uname reports.
    #[test]
    fn the_vdso_note_names_the_release_uname_reports() {
        let name = b"Linux\0\0\0";
        let at = vdso::IMAGE
            .windows(name.len())
            .position(|w| w == name)
            .expect("a Linux note")
            + name.len();
        let code = u32::from_le_bytes(vdso::IMAGE[at..at + 4].try_into().expect("4 bytes"));
        let release: Vec<u32> = crate::kernel::UNAME_RELEASE
            .split(['.', '-'])
            .take(3)
            .map(|part| part.parse().expect("numeric version"))
            .collect();
        assert_eq!(code, (release[0] << 16) | (release[1] << 8) | release[2]);
    }
}
