//! fork(2): the child's copy of an address space.

use std::ops::Range;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use abi::Errno;
use parking_lot::Mutex;
use platform::{AddressSpace, Prot};

use super::{present_runs, run_prot, MemoryManager, State};
use crate::memory_file::MemoryFile;
use crate::vma::Vma;

/// An address space copied for a child by [`MemoryManager::fork`], not yet placed in the child's
/// platform address space. It owns the child's memory: [`MemoryManager::from_fork`] takes it
/// over, and dropping it instead frees it.
pub struct ForkedMemory {
    memory: Arc<MemoryFile>,
    range: Range<u64>,
    mmap_base: u64,
    state: State,
}

impl Drop for ForkedMemory {
    fn drop(&mut self) {
        self.state.release_memory(&self.memory);
    }
}

impl MemoryManager {
    /// fork(2), first half, on the parent's OS thread: a snapshot of this address space for a
    /// child. Private mappings become copy-on-write in both (their memory-file range gets a
    /// second owner and is mapped without write permission until one side writes, see
    /// [`MemoryManager::break_cow`]); shared ones and the Sentry's special pages are shared,
    /// MADV_DONTFORK ranges left out and MADV_WIPEONFORK ones zero-filled; brk, the mmap base
    /// and each mapping's attributes carry over. ENOMEM if the memory file cannot hold a wiped
    /// range.
    ///
    /// Other threads of the parent may write until their pages are write-protected here; the
    /// child then sees each page as of some moment during the call, as a racing write would on
    /// Linux.
    pub fn fork(&self) -> Result<ForkedMemory, Errno> {
        let mut guard = self.state.lock();
        let parent = &mut *guard;
        let mut forked = ForkedMemory {
            memory: self.memory.clone(),
            range: self.range.clone(),
            mmap_base: self.mmap_base,
            state: State::empty(),
        };
        forked.state.brk = parent.brk;
        let child = &mut forked.state;
        let mut made_cow: Vec<Range<u64>> = Vec::new();
        // Private file pages that were the parent's own copies, now shared with the child.
        let mut unowned_pages: Vec<Range<u64>> = Vec::new();
        for vma in parent.vmas.iter().filter(|vma| !vma.on_fork.skip) {
            if !vma.owns_memory() {
                let unowned = parent.file_pages.share_into(
                    vma.range.clone(),
                    &mut child.file_pages,
                    &self.memory,
                );
                if vma.prot.write {
                    for page in unowned {
                        unowned_pages.push(page..page + abi::PAGE_SIZE);
                    }
                }
                child.vmas.insert(Vma {
                    locked: false,
                    ..vma.clone()
                });
                continue;
            }
            if vma.shared || vma.special() {
                self.memory.share(vma.memory_range());
                child.vmas.insert(Vma {
                    locked: false,
                    ..vma.clone()
                });
                continue;
            }
            if vma.on_fork.wipe {
                let memory = self.memory.allocate(vma.len()).map_err(|e| {
                    tracing::warn!("fork: wiping a mapping of {:#x} bytes: {e}", vma.len());
                    Errno::ENOMEM
                })?;
                child.vmas.insert(Vma {
                    memory_offset: memory.start,
                    cow: false,
                    locked: false,
                    ..vma.clone()
                });
                continue;
            }
            self.memory.share(vma.memory_range());
            // Locks are not inherited, as on Linux.
            child.vmas.insert(Vma {
                cow: true,
                locked: false,
                ..vma.clone()
            });
            if vma.demand_paged() {
                for part in parent.populated.intersection(vma.memory_range()) {
                    child.populated.insert(part);
                }
            }
            if !vma.cow {
                made_cow.push(vma.range.clone());
            }
        }
        // The parent's side: the same pages, now without write permission.
        let mut runs: Vec<(Range<u64>, Prot)> = Vec::new();
        for range in made_cow {
            parent.vmas.update(range.clone(), |vma| vma.cow = true);
            let Some(vma) = parent.vmas.find(range.start).cloned() else {
                continue;
            };
            if !vma.prot.write {
                continue;
            }
            for (run, _) in present_runs(parent, &vma, range) {
                match runs.last_mut() {
                    Some((last, prot)) if last.end == run.start && *prot == vma.mapped_prot() => {
                        last.end = run.end;
                    }
                    _ => runs.push((run, vma.mapped_prot())),
                }
            }
        }
        for page in unowned_pages {
            let Some(vma) = parent.vmas.find(page.start) else {
                continue;
            };
            runs.push((page, vma.file_page_prot(false)));
        }
        for (run, prot) in runs {
            self.protect(run.start, run.end - run.start, prot)?;
        }
        Ok(forked)
    }

    /// fork(2), second half, on the child's OS thread: builds the child's manager over its new
    /// (empty) address space and maps everything into it. On failure the child's memory is freed.
    pub fn from_fork(
        mut forked: ForkedMemory,
        space: Arc<dyn AddressSpace>,
    ) -> Result<MemoryManager, Errno> {
        let state = std::mem::replace(&mut forked.state, State::empty());
        let manager = MemoryManager {
            memory: forked.memory.clone(),
            space,
            range: forked.range.clone(),
            mmap_base: forked.mmap_base,
            state: Mutex::new(state),
            mappings_changed: AtomicU64::new(0),
            invalidations: Arc::default(),
        };
        for vma in manager.state.lock().vmas.iter() {
            if let Some(pages) = vma.shared_file() {
                pages.add_mapper(&manager.invalidations);
            }
        }
        manager.map_everything()?;
        Ok(manager)
    }

    /// Maps every present page into the platform address space (empty until now), one call per
    /// run that is contiguous in both guest addresses and memory file and has one protection.
    fn map_everything(&self) -> Result<(), Errno> {
        let state = self.state.lock();
        let mut runs: Vec<(Range<u64>, u64, Prot)> = Vec::new();
        for vma in state.vmas.iter() {
            for (run, offset) in present_runs(&state, vma, vma.range.clone()) {
                match runs.last_mut() {
                    Some((last, last_offset, prot))
                        if last.end == run.start
                            && *last_offset + (last.end - last.start) == offset
                            && *prot == run_prot(&state, vma, run.start, vma.prot) =>
                    {
                        last.end = run.end;
                    }
                    _ => {
                        let prot = run_prot(&state, vma, run.start, vma.prot);
                        runs.push((run, offset, prot));
                    }
                }
            }
        }
        for (run, offset, prot) in runs {
            self.map_file(run.start, run.end - run.start, offset, prot)?;
        }
        Ok(())
    }
}
