//! Copy-on-write: a private mapping that fork left sharing its memory-file range.
//!
//! Fork gives the child the parent's range of each private VMA (a second owner of its pages)
//! and marks the VMA copy-on-write on both sides: its pages are mapped without write
//! permission. The first write (a fault on a present page of a writable copy-on-write VMA: the
//! platform can't tell a write fault from a read fault, but a read of a present readable page
//! does not fault) or copy-out breaks the sharing for the whole VMA: if another address space
//! still owns part of the range, the VMA gets a fresh range holding a copy of the data (only the
//! runs holding data, inside the host kernel); if not (the other side exited, exec'd or
//! unmapped), it keeps the range and is just write-enabled. A fork followed by exec or exit
//! thus copies only what the child wrote before, and the parent nothing.

use abi::Errno;

use super::{present_runs, MemoryManager, State};
use crate::vma::Vma;

impl MemoryManager {
    /// Ends the copy-on-write sharing of the VMA containing `addr`, if it is copy-on-write,
    /// and maps its present pages with its own protection. ENOMEM if the copy does not fit.
    pub(super) fn break_cow(&self, state: &mut State, addr: u64) -> Result<(), Errno> {
        let Some(vma) = state.vmas.find(addr).filter(|vma| vma.cow).cloned() else {
            return Ok(());
        };
        let old = vma.memory_range();
        let copied = self.memory.shared_with_others(old.clone());
        let mut own = vma.clone();
        own.cow = false;
        if copied {
            let new = self.memory.allocate(vma.len()).map_err(|e| {
                tracing::debug!("copy-on-write of {:#x} bytes: {e}", vma.len());
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
            own.memory_offset = new.start;
        }
        state.vmas.update(vma.range.clone(), |v| {
            v.cow = false;
            v.memory_offset = own.memory_offset;
        });
        for (run, offset) in present_runs(state, &own, own.range.clone()) {
            if copied {
                self.map_file(run.start, run.end - run.start, offset, own.prot)?;
            } else if own.prot.write {
                self.protect(run.start, run.end - run.start, own.prot)?;
            }
        }
        Ok(())
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

    /// Breaks the copy-on-write sharing of every VMA overlapping `range` (before the Sentry
    /// writes there, or discards pages).
    pub(super) fn break_cow_in(
        &self,
        state: &mut State,
        range: std::ops::Range<u64>,
    ) -> Result<(), Errno> {
        let starts: Vec<u64> = state
            .vmas
            .overlapping(range)
            .filter(|vma| vma.cow)
            .map(|vma| vma.range.start)
            .collect();
        for start in starts {
            self.break_cow(state, start)?;
        }
        Ok(())
    }
}
