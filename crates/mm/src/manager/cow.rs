//! Copy-on-write: a private mapping that fork left sharing its memory-file range.
//!
//! Fork gives the child the parent's range of each private VMA (a second owner of its pages)
//! and marks the VMA copy-on-write on both sides: its pages are mapped without write
//! permission. The first write to a chunk (a fault on a present page of a writable
//! copy-on-write VMA: the platform can't tell a write fault from a read fault, but a read of a
//! present readable page does not fault) or a copy-out there breaks the sharing of that
//! [`COW_CHUNK`] of the VMA, which is split off: if another address space still owns part of
//! the chunk's range, the chunk gets a fresh range holding a copy of its data (only the runs
//! holding data, inside the host kernel); if not (the other side exited, exec'd or unmapped),
//! it keeps the range and is just write-enabled. A fork followed by exec or exit thus copies
//! only the chunks the child wrote before, and the parent nothing.

use std::ops::Range;

use abi::Errno;

use super::{align_down, present_runs, MemoryManager, State};
use crate::vma::Vma;

/// How much of a copy-on-write mapping one write breaks: Linux copies one page, but each break
/// here costs a fault's round trip through the Sentry, and each broken chunk is a VMA of its
/// own; 64 KiB keeps a forked child that writes a few bytes from copying its parent's whole
/// heap or stack, and a process writing through its memory from faulting on every page.
const COW_CHUNK: u64 = 64 << 10;

impl MemoryManager {
    /// Ends the copy-on-write sharing of the chunk around `addr`, if its VMA is copy-on-write,
    /// and maps the chunk's present pages with the VMA's own protection. ENOMEM if the copy
    /// does not fit.
    pub(super) fn break_cow(&self, state: &mut State, addr: u64) -> Result<(), Errno> {
        let Some(vma) = state.vmas.find(addr).filter(|vma| vma.cow).cloned() else {
            return Ok(());
        };
        let chunk_start = align_down(addr, COW_CHUNK);
        let chunk = chunk_start.max(vma.range.start)
            ..chunk_start.saturating_add(COW_CHUNK).min(vma.range.end);
        let old = vma.memory_for(&chunk);
        let copied = self.memory.shared_with_others(old.clone());
        let mut memory_offset = old.start;
        if copied {
            memory_offset = self.copy_chunk(state, &vma, old)?;
        }
        state.vmas.update(chunk.clone(), |v| {
            v.cow = false;
            v.memory_offset = memory_offset;
        });
        let Some(own) = state.vmas.find(chunk.start).cloned() else {
            return Ok(());
        };
        for (run, offset) in present_runs(state, &own, chunk) {
            if copied {
                self.map_file(run.start, run.end - run.start, offset, own.prot)?;
            } else if own.prot.write {
                self.protect(run.start, run.end - run.start, own.prot)?;
            }
        }
        Ok(())
    }

    /// Copies the data of `old`, a part of `vma`'s range that another address space shares,
    /// to a fresh range, which takes `old`'s place (and its filled pages, for a demand-paged
    /// VMA); returns the fresh range's start.
    fn copy_chunk(&self, state: &mut State, vma: &Vma, old: Range<u64>) -> Result<u64, Errno> {
        let len = old.end - old.start;
        let new = self.memory.allocate(len).map_err(|e| {
            tracing::debug!("copy-on-write of {len:#x} bytes: {e}");
            Errno::ENOMEM
        })?;
        let filled = if vma.demand_paged() {
            state.populated.intersection(old.clone())
        } else {
            vec![old.clone()]
        };
        for part in &filled {
            let to = new.start + (part.start - old.start);
            if let Err(e) = self.memory.copy_data(part.clone(), to) {
                tracing::error!("copy-on-write: {e}");
                self.memory.release(new);
                return Err(Errno::ENOMEM);
            }
        }
        if vma.demand_paged() {
            state.populated.remove(old.clone());
            for part in filled {
                let to = new.start + (part.start - old.start);
                state.populated.insert(to..to + (part.end - part.start));
            }
        }
        self.memory.release(old);
        Ok(new.start)
    }

    /// Gives the private file mappings overlapping `range` (placed) their own copies of its
    /// pages, before the Sentry writes there.
    pub(super) fn own_file_pages_in(
        &self,
        state: &mut State,
        range: std::ops::Range<u64>,
    ) -> Result<(), Errno> {
        let vmas: Vec<Vma> = state
            .vmas
            .overlapping(range.clone())
            .filter(|vma| !vma.owns_memory() && !vma.shared)
            .cloned()
            .collect();
        for vma in vmas {
            let mut page = abi::page_floor(range.start.max(vma.range.start));
            while page < range.end.min(vma.range.end) {
                self.own_file_page(state, &vma, page)?;
                page += abi::PAGE_SIZE;
            }
        }
        Ok(())
    }

    /// Breaks the copy-on-write sharing of every chunk overlapping `range` (before the Sentry
    /// writes there, or discards pages).
    pub(super) fn break_cow_in(
        &self,
        state: &mut State,
        range: std::ops::Range<u64>,
    ) -> Result<(), Errno> {
        let parts: Vec<Range<u64>> = state
            .vmas
            .overlapping(range.clone())
            .filter(|vma| vma.cow)
            .map(|vma| range.start.max(vma.range.start)..range.end.min(vma.range.end))
            .collect();
        for part in parts {
            let mut chunk = align_down(part.start, COW_CHUNK);
            while chunk < part.end {
                self.break_cow(state, chunk.max(part.start))?;
                chunk = chunk.saturating_add(COW_CHUNK);
            }
        }
        Ok(())
    }
}
