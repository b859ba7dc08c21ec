//! Shared file mappings: guest pages that show a file's own pages (see [`FilePages`]).
//!
//! Unlike the other VMAs, a shared file mapping has no memory-file range of its own: each of
//! its pages is the file's page, placed one by one on first touch. The address space records
//! which memory-file page it placed at which guest page, and holds a reference to each, so a
//! page the file drops (truncation, a punched hole) stays valid memory until it is unmapped.

use std::collections::BTreeMap;
use std::ops::Range;

use abi::{Errno, PAGE_SIZE};

use super::{MemoryManager, State};
use crate::memory_file::MemoryFile;
use crate::vma::Vma;

/// How many pages around a fault are placed with it, if the file already holds them.
const FAULT_AROUND_PAGES: u64 = 16;

/// The file pages placed in an address space: guest page address -> memory-file page. Each
/// entry holds one reference to its memory-file page.
#[derive(Default)]
pub(super) struct MappedFilePages {
    pages: BTreeMap<u64, Placed>,
}

/// A page placed in a file mapping.
#[derive(Clone, Copy)]
struct Placed {
    memory: u64,
    /// In a private mapping: the page is this address space's own copy (written since placed,
    /// and not shared by a fork since), so it may be mapped writable. Until then a private
    /// mapping shows the file's page (or a copy shared with a fork) without write permission.
    own: bool,
}

impl MappedFilePages {
    /// The memory-file page placed at guest page `addr`.
    pub(super) fn get(&self, addr: u64) -> Option<u64> {
        self.pages.get(&addr).map(|placed| placed.memory)
    }

    /// Whether the page placed at `addr` is the address space's own copy (see [`Placed::own`]).
    pub(super) fn is_own(&self, addr: u64) -> bool {
        self.pages.get(&addr).is_some_and(|placed| placed.own)
    }

    /// How many pages are placed in `range`.
    pub(super) fn count(&self, range: Range<u64>) -> u64 {
        self.pages.range(range).count() as u64
    }

    /// The placed pages of `range` as runs contiguous in both guest addresses and memory file,
    /// and alike in being own copies or not: (guest range, memory-file offset of its start).
    pub(super) fn runs(&self, range: Range<u64>) -> Vec<(Range<u64>, u64)> {
        let mut runs: Vec<(Range<u64>, u64, bool)> = Vec::new();
        for (&addr, &placed) in self.pages.range(range) {
            match runs.last_mut() {
                Some((run, start, own))
                    if run.end == addr
                        && *start + (run.end - run.start) == placed.memory
                        && *own == placed.own =>
                {
                    run.end += PAGE_SIZE;
                }
                _ => runs.push((addr..addr + PAGE_SIZE, placed.memory, placed.own)),
            }
        }
        runs.into_iter()
            .map(|(run, start, _)| (run, start))
            .collect()
    }

    /// Records `memory` at guest page `addr`; the caller has taken the reference.
    fn insert(&mut self, addr: u64, memory: u64, own: bool) {
        self.pages.insert(addr, Placed { memory, own });
    }

    /// How many of the pages placed in `range` are own copies.
    pub(super) fn own_count(&self, range: Range<u64>) -> u64 {
        self.pages.range(range).filter(|(_, p)| p.own).count() as u64
    }

    /// Forgets the pages placed in `range`, dropping their references.
    pub(super) fn release(&mut self, range: Range<u64>, memory: &MemoryFile) {
        let placed: Vec<u64> = self.pages.range(range).map(|(&addr, _)| addr).collect();
        for addr in placed {
            if let Some(placed) = self.pages.remove(&addr) {
                memory.release(placed.memory..placed.memory + PAGE_SIZE);
            }
        }
    }

    /// Moves the pages placed in `range` to start at `dest` (mremap), references and all.
    pub(super) fn relocate(&mut self, range: Range<u64>, dest: u64) {
        let placed: Vec<(u64, Placed)> = self
            .pages
            .range(range.clone())
            .map(|(&a, &p)| (a, p))
            .collect();
        for &(addr, _) in &placed {
            self.pages.remove(&addr);
        }
        for (addr, page) in placed {
            self.pages.insert(dest + (addr - range.start), page);
        }
    }

    /// A copy of the pages placed in `range` for a forked child, each with a new reference;
    /// own copies of a private mapping become shared by both, so neither's own any more.
    /// Returns the guest pages that stopped being own copies (to write-protect).
    pub(super) fn share_into(
        &mut self,
        range: Range<u64>,
        child: &mut MappedFilePages,
        memory: &MemoryFile,
    ) -> Vec<u64> {
        let mut unowned = Vec::new();
        for (&addr, placed) in self.pages.range_mut(range) {
            memory.share(placed.memory..placed.memory + PAGE_SIZE);
            if placed.own {
                placed.own = false;
                unowned.push(addr);
            }
            child.pages.insert(addr, *placed);
        }
        unowned
    }
}

impl MemoryManager {
    /// Unmaps the pages that files mapped here dropped since the last call (truncation,
    /// punched holes), so the next touch faults: SIGBUS past a file's end, the hole's zeros
    /// inside. Must run on a thread owning a context of the address space, before it enters
    /// the guest (and before copies of guest memory).
    pub fn apply_invalidations(&self) {
        let dropped = self.invalidations.take();
        if dropped.is_empty() {
            return;
        }
        let mut state = self.state.lock();
        for (file, indices) in dropped {
            let vmas: Vec<Vma> = state
                .vmas
                .iter()
                .filter(|vma| vma.shared_file().is_some_and(|pages| pages.id() == file))
                .cloned()
                .collect();
            for vma in vmas {
                let Some(first) = vma.file_offset_at(vma.range.start) else {
                    continue;
                };
                let dropped_start = indices.start.saturating_mul(PAGE_SIZE);
                let dropped_end = indices.end.saturating_mul(PAGE_SIZE);
                let start = dropped_start.max(first);
                let end = dropped_end.min(first + vma.len());
                if start >= end {
                    continue;
                }
                let guest = vma.range.start + (start - first)..vma.range.start + (end - first);
                for (run, _) in state.file_pages.runs(guest.clone()) {
                    if let Err(e) = self.space.unmap(run.start, run.end - run.start) {
                        tracing::error!("unmapping dropped file pages: {e}");
                    }
                }
                state.file_pages.release(guest, &self.memory);
            }
        }
    }

    /// Places the file page behind guest page `page` of the shared file mapping `vma`, and the
    /// file's pages around it that already hold data, and maps them. EFAULT if the page is past
    /// the end of the file (SIGBUS for a fault), ENOSPC if the file's filesystem is full.
    pub(super) fn place_file_page(
        &self,
        state: &mut State,
        vma: &Vma,
        page: u64,
    ) -> Result<u64, Errno> {
        let pages = vma.shared_file().ok_or(Errno::EFAULT)?;
        if let Some(memory) = state.file_pages.get(page) {
            return Ok(memory);
        }
        let file_page = |addr: u64| vma.file_offset_at(addr).map(|offset| offset / PAGE_SIZE);
        let index = file_page(page).ok_or(Errno::EFAULT)?;
        let memory = pages.page(index)?;
        self.memory.share(memory..memory + PAGE_SIZE);
        state.file_pages.insert(page, memory, false);

        let around_start =
            super::align_down(page, FAULT_AROUND_PAGES * PAGE_SIZE).max(vma.range.start);
        let around_end = around_start
            .saturating_add(FAULT_AROUND_PAGES * PAGE_SIZE)
            .min(vma.range.end);
        let (first, last) = (file_page(around_start), file_page(around_end - PAGE_SIZE));
        if let (Some(first), Some(last)) = (first, last) {
            for (index, memory) in pages.backed_pages(first..last + 1) {
                let addr = around_start + (index - first) * PAGE_SIZE;
                if state.file_pages.get(addr).is_none() {
                    self.memory.share(memory..memory + PAGE_SIZE);
                    state.file_pages.insert(addr, memory, false);
                }
            }
        }
        for (run, offset) in state.file_pages.runs(around_start..around_end) {
            let prot = vma.file_page_prot(state.file_pages.is_own(run.start));
            self.map_file(run.start, run.end - run.start, offset, prot)?;
        }
        Ok(memory)
    }

    /// Gives a private file mapping its own copy of the page at guest page `page` (placed), so
    /// a write to it stays private: a copy if anyone else holds the page (the file, a fork),
    /// else the page itself; mapped writable. ENOMEM if the copy does not fit.
    pub(super) fn own_file_page(
        &self,
        state: &mut State,
        vma: &Vma,
        page: u64,
    ) -> Result<(), Errno> {
        let Some(memory) = state.file_pages.get(page) else {
            return Err(Errno::EFAULT);
        };
        if vma.shared || state.file_pages.is_own(page) {
            return Ok(());
        }
        let placed = memory..memory + PAGE_SIZE;
        if self.memory.shared_with_others(placed.clone()) {
            let copy = self.memory.allocate(PAGE_SIZE).map_err(|e| {
                tracing::debug!("copying a private file page: {e}");
                Errno::ENOMEM
            })?;
            if let Err(e) = self.memory.copy_data(placed.clone(), copy.start) {
                tracing::error!("copying a private file page: {e}");
                self.memory.release(copy);
                return Err(Errno::ENOMEM);
            }
            self.memory.release(placed);
            state.file_pages.insert(page, copy.start, true);
            self.map_file(page, PAGE_SIZE, copy.start, vma.prot)
        } else {
            state.file_pages.insert(page, memory, true);
            self.protect(page, PAGE_SIZE, vma.prot)
        }
    }
}
