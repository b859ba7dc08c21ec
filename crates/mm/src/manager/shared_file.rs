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

/// The file pages placed in an address space: guest page address -> memory-file offset. Each
/// entry holds one reference to its memory-file page.
#[derive(Default)]
pub(super) struct MappedFilePages {
    pages: BTreeMap<u64, u64>,
}

impl MappedFilePages {
    /// The memory-file page placed at guest page `addr`.
    pub(super) fn get(&self, addr: u64) -> Option<u64> {
        self.pages.get(&addr).copied()
    }

    /// How many pages are placed in `range`.
    pub(super) fn count(&self, range: Range<u64>) -> u64 {
        self.pages.range(range).count() as u64
    }

    /// The placed pages of `range` as runs contiguous in both guest addresses and memory file:
    /// (guest range, memory-file offset of its start).
    pub(super) fn runs(&self, range: Range<u64>) -> Vec<(Range<u64>, u64)> {
        let mut runs: Vec<(Range<u64>, u64)> = Vec::new();
        for (&addr, &memory) in self.pages.range(range) {
            match runs.last_mut() {
                Some((run, start))
                    if run.end == addr && *start + (run.end - run.start) == memory =>
                {
                    run.end += PAGE_SIZE;
                }
                _ => runs.push((addr..addr + PAGE_SIZE, memory)),
            }
        }
        runs
    }

    /// Records `memory` at guest page `addr`; the caller has taken the reference.
    fn insert(&mut self, addr: u64, memory: u64) {
        self.pages.insert(addr, memory);
    }

    /// Forgets the pages placed in `range`, dropping their references.
    pub(super) fn release(&mut self, range: Range<u64>, memory: &MemoryFile) {
        let placed: Vec<u64> = self.pages.range(range).map(|(&addr, _)| addr).collect();
        for addr in placed {
            if let Some(page) = self.pages.remove(&addr) {
                memory.release(page..page + PAGE_SIZE);
            }
        }
    }

    /// Moves the pages placed in `range` to start at `dest` (mremap), references and all.
    pub(super) fn relocate(&mut self, range: Range<u64>, dest: u64) {
        let placed: Vec<(u64, u64)> = self
            .pages
            .range(range.clone())
            .map(|(&a, &m)| (a, m))
            .collect();
        for &(addr, _) in &placed {
            self.pages.remove(&addr);
        }
        for (addr, memory) in placed {
            self.pages.insert(dest + (addr - range.start), memory);
        }
    }

    /// A copy of the pages placed in `range` for a forked child, each with a new reference.
    pub(super) fn share_into(
        &self,
        range: Range<u64>,
        child: &mut MappedFilePages,
        memory: &MemoryFile,
    ) {
        for (&addr, &page) in self.pages.range(range) {
            memory.share(page..page + PAGE_SIZE);
            child.pages.insert(addr, page);
        }
    }
}

impl MemoryManager {
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
        state.file_pages.insert(page, memory);

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
                    state.file_pages.insert(addr, memory);
                }
            }
        }
        for (run, offset) in state.file_pages.runs(around_start..around_end) {
            self.map_file(run.start, run.end - run.start, offset, vma.prot)?;
        }
        Ok(memory)
    }
}
