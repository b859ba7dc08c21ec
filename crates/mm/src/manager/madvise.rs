//! madvise(2).

use abi::Errno;

use super::{page_aligned, platform_failure, present_runs, MemoryManager};
use crate::vma::Vma;

impl MemoryManager {
    /// madvise(2). MADV_DONTNEED drops private pages (anonymous ones read as zeros afterwards,
    /// file-backed ones are read from the file again); MADV_REMOVE drops shared anonymous pages;
    /// the other advice Linux knows is accepted and ignored, which Linux allows. ENOMEM if part
    /// of the range is unmapped (the mapped parts are still advised, as on Linux).
    pub fn madvise(&self, addr: u64, len: u64, advice: i32) -> Result<(), Errno> {
        if !page_aligned(addr) {
            return Err(Errno::EINVAL);
        }
        let end = abi::page_ceil(len)
            .and_then(|len| addr.checked_add(len))
            .ok_or(Errno::EINVAL)?;
        let discard = match advice {
            libc::MADV_DONTNEED | libc::MADV_REMOVE => true,
            libc::MADV_NORMAL
            | libc::MADV_RANDOM
            | libc::MADV_SEQUENTIAL
            | libc::MADV_WILLNEED
            | libc::MADV_FREE
            | libc::MADV_DONTFORK
            | libc::MADV_DOFORK
            | libc::MADV_MERGEABLE
            | libc::MADV_UNMERGEABLE
            | libc::MADV_HUGEPAGE
            | libc::MADV_NOHUGEPAGE
            | libc::MADV_DONTDUMP
            | libc::MADV_DODUMP
            | libc::MADV_WIPEONFORK
            | libc::MADV_KEEPONFORK
            | libc::MADV_COLD
            | libc::MADV_PAGEOUT
            | libc::MADV_POPULATE_READ
            | libc::MADV_POPULATE_WRITE => false,
            _ => return Err(Errno::EINVAL),
        };
        if addr == end {
            return Ok(());
        }
        let mut state = self.state.lock();
        let vmas: Vec<Vma> = state.vmas.overlapping(addr..end).cloned().collect();
        if advice == libc::MADV_REMOVE && vmas.iter().any(|vma| !vma.shared) {
            return Err(Errno::EINVAL);
        }
        if discard {
            for vma in &vmas {
                // DONTNEED keeps a shared mapping's contents (they belong to the shared object);
                // REMOVE is the advice that frees them.
                if vma.shared && advice == libc::MADV_DONTNEED {
                    continue;
                }
                let part = addr.max(vma.range.start)..end.min(vma.range.end);
                if vma.demand_paged() {
                    // Unmap so the next touch faults and reads the file again.
                    for run in present_runs(&state, vma, part.clone()) {
                        self.space
                            .unmap(run.start, run.end - run.start)
                            .map_err(|e| platform_failure("unmap", &e))?;
                    }
                    state.populated.remove(vma.memory_for(&part));
                }
                // Punching the hole zeroes the pages in every mapping of the memory file, the
                // guest's included, so anonymous memory needs no re-map.
                self.memory.decommit(vma.memory_for(&part)).map_err(|e| {
                    tracing::error!("madvise at {addr:#x}: {e}");
                    Errno::ENOMEM
                })?;
            }
        }
        if !state.vmas.covers(addr..end) {
            return Err(Errno::ENOMEM);
        }
        Ok(())
    }
}
