//! mmap, munmap and mprotect.

use std::sync::Arc;

use abi::Errno;
use platform::Prot;

use super::{page_aligned, present_runs, run_prot, MappableFile, MemoryManager, VmaTemplate};
use crate::vma::{Backing, ForkFlags};

/// A guest's mmap request, its flags already decoded.
#[derive(Clone)]
pub struct MmapRequest {
    /// The address (MAP_FIXED) or hint.
    pub addr: u64,
    pub len: u64,
    pub prot: Prot,
    /// MAP_FIXED: exactly at `addr`, replacing what is there.
    pub fixed: bool,
    /// MAP_FIXED_NOREPLACE: exactly at `addr`, EEXIST if anything is there.
    pub fixed_noreplace: bool,
    /// MAP_SHARED (else MAP_PRIVATE).
    pub shared: bool,
    /// The file and the offset in it, or `None` for anonymous memory.
    pub file: Option<(Arc<dyn MappableFile>, u64)>,
    /// MAP_GROWSDOWN.
    pub grows_down: bool,
}

/// Decodes the `prot` argument of mmap/mprotect: EINVAL on bits Linux rejects (PROT_SEM is
/// accepted and means nothing here).
pub fn parse_prot(bits: u64) -> Result<Prot, Errno> {
    /// PROT_READ | PROT_WRITE | PROT_EXEC | PROT_SEM.
    const KNOWN: u64 = 0xf;
    if bits & !KNOWN != 0 {
        return Err(Errno::EINVAL);
    }
    Ok(Prot::from_bits(bits))
}

impl MemoryManager {
    /// mmap(2): returns the address of the new mapping.
    pub fn mmap(&self, request: MmapRequest) -> Result<u64, Errno> {
        if request.len == 0 {
            return Err(Errno::EINVAL);
        }
        let len = abi::page_ceil(request.len).ok_or(Errno::ENOMEM)?;
        let fixed = request.fixed || request.fixed_noreplace;
        if fixed && !page_aligned(request.addr) {
            return Err(Errno::EINVAL);
        }
        let mut max_prot = Prot::RWX;
        let backing = match request.file {
            None => Backing::Anonymous,
            Some((file, offset)) => {
                if !page_aligned(offset) {
                    return Err(Errno::EINVAL);
                }
                offset.checked_add(len).ok_or(Errno::EOVERFLOW)?;
                // The file's own pages, if they live in this address space's memory file: a
                // shared mapping shows them, a private one too until it writes them.
                let pages = file
                    .shared_pages()
                    .filter(|pages| Arc::ptr_eq(pages.memory(), &self.memory));
                if !request.shared {
                    match pages {
                        Some(pages) => Backing::SharedFile {
                            file,
                            pages,
                            offset,
                        },
                        None => Backing::File { file, offset },
                    }
                } else {
                    let pages = pages.ok_or(Errno::ENODEV)?;
                    // A read-only cache of a file (a Gofer file) is never written back.
                    if !file.writable() || !pages.writable() {
                        if request.prot.write {
                            return Err(Errno::EACCES);
                        }
                        max_prot.write = false;
                    }
                    Backing::SharedFile {
                        file,
                        pages,
                        offset,
                    }
                }
            }
        };
        let template = VmaTemplate {
            prot: request.prot,
            max_prot,
            shared: request.shared,
            grows_down: request.grows_down,
            backing,
            on_fork: ForkFlags::default(),
        };

        let mut state = self.state.lock();
        let addr = if fixed {
            let end = request.addr.checked_add(len).ok_or(Errno::ENOMEM)?;
            if request.addr < self.range.start {
                return Err(Errno::EPERM);
            }
            if end > self.range.end {
                return Err(Errno::ENOMEM);
            }
            if request.fixed_noreplace && state.vmas.overlaps(request.addr..end) {
                return Err(Errno::EEXIST);
            }
            // A new anonymous mapping replaces the old pages in the platform by itself; a
            // demand-paged one leaves the range unmapped, so the old pages must go.
            let demand_paged = matches!(
                template.backing,
                Backing::File { .. } | Backing::SharedFile { .. }
            );
            self.remove(&mut state, request.addr..end, demand_paged)?;
            request.addr
        } else {
            self.place(&state.vmas, request.addr, len)?
        };
        self.map_new(&mut state, addr, len, template)?;
        Ok(addr)
    }

    /// munmap(2).
    pub fn munmap(&self, addr: u64, len: u64) -> Result<(), Errno> {
        if !page_aligned(addr) || len == 0 {
            return Err(Errno::EINVAL);
        }
        let end = abi::page_ceil(len)
            .and_then(|len| addr.checked_add(len))
            .filter(|&end| end <= self.range.end)
            .ok_or(Errno::EINVAL)?;
        let mut state = self.state.lock();
        self.remove(&mut state, addr..end, true)
    }

    /// mprotect(2): ENOMEM if part of the range is unmapped, EACCES if a mapping may not get
    /// `prot`; nothing changes in either case.
    pub fn mprotect(&self, addr: u64, len: u64, prot: Prot) -> Result<(), Errno> {
        if !page_aligned(addr) {
            return Err(Errno::EINVAL);
        }
        if len == 0 {
            return Ok(());
        }
        let end = abi::page_ceil(len)
            .and_then(|len| addr.checked_add(len))
            .ok_or(Errno::ENOMEM)?;
        let mut state = self.state.lock();
        if !state.vmas.covers(addr..end) {
            return Err(Errno::ENOMEM);
        }
        let exceeds = |max: Prot| {
            (prot.read && !max.read) || (prot.write && !max.write) || (prot.exec && !max.exec)
        };
        if state
            .vmas
            .overlapping(addr..end)
            .any(|vma| exceeds(vma.max_prot))
        {
            return Err(Errno::EACCES);
        }

        // One protect call per run of present pages with one protection, however many VMAs
        // it spans (copy-on-write pages stay without write until written).
        let mut runs: Vec<(std::ops::Range<u64>, Prot)> = Vec::new();
        for vma in state.vmas.overlapping(addr..end) {
            for (run, _) in present_runs(&state, vma, addr..end) {
                let mapped = run_prot(&state, vma, run.start, prot);
                match runs.last_mut() {
                    Some((last, last_prot)) if last.end == run.start && *last_prot == mapped => {
                        last.end = run.end;
                    }
                    _ => runs.push((run, mapped)),
                }
            }
        }
        for (run, mapped) in runs {
            self.protect(run.start, run.end - run.start, mapped)?;
        }
        state.vmas.update(addr..end, |vma| vma.prot = prot);
        Ok(())
    }
}
