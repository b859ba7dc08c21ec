//! Guest faults and demand paging of file-backed mappings.

use std::ops::Range;
use std::sync::atomic::Ordering;

use abi::Errno;
use platform::Access;

use super::{align_down, allows, MemoryManager, State};
use crate::error::SegvCode;
use crate::vma::{Backing, Vma};

/// How much of a demand-paged mapping one fault fills: large enough that sequential access
/// faults rarely, small enough that sparse access reads little of the file.
const FAULT_CHUNK: u64 = 64 << 10;

/// A point in the history of an address space's platform mappings, taken by a thread before it
/// runs guest code (see [`MemoryManager::mappings_epoch`]).
///
/// Threads share the address space: while one thread's fault travels to the Sentry, another may
/// fill the same page (both touched the same unfilled chunk) or widen its protection. The late
/// fault is then spurious and the access must simply be retried, as Linux retries a fault that
/// finds the page already present. Since the platform doesn't say which access faulted (a write
/// is reported as a read), "present and allowed" alone can't tell a spurious fault from a write
/// to a read-only page; a mapping change since the thread entered the guest can.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MappingsEpoch(u64);

impl MemoryManager {
    /// The current epoch of the platform mappings: take it before running guest code, and pass
    /// it to [`MemoryManager::handle_fault`] for a fault of that run.
    pub fn mappings_epoch(&self) -> MappingsEpoch {
        MappingsEpoch(self.mappings_changed.load(Ordering::Acquire))
    }

    /// Resolves a guest fault at `addr`, raised by guest code run since `entered`: `Ok` if the
    /// page is now mapped for the access (retry it), else the SIGSEGV code to deliver.
    pub fn handle_fault(
        &self,
        addr: u64,
        access: Access,
        entered: MappingsEpoch,
    ) -> Result<(), SegvCode> {
        self.apply_invalidations();
        let mut state = self.state.lock();
        let vma = state.vmas.find(addr).ok_or(SegvCode::MapErr)?.clone();
        if !allows(vma.prot, access) {
            return Err(SegvCode::AccErr);
        }
        let page = abi::page_floor(addr);
        if !vma.owns_memory() && state.file_pages.get(page).is_none() {
            return match self.place_file_page(&mut state, &vma, page) {
                Ok(_) => Ok(()),
                // Past the end of the file, or no room for the page: SIGBUS, as on Linux.
                Err(Errno::EFAULT | Errno::ENOSPC) => Err(SegvCode::BusAdrErr),
                Err(e) => {
                    tracing::warn!("placing the file page at {addr:#x}: {e}");
                    Err(SegvCode::BusAdrErr)
                }
            };
        }
        let present = !vma.demand_paged()
            || state
                .populated
                .contains(vma.memory_at(abi::page_floor(addr)));
        if !present {
            return self.populate_chunk(&mut state, &vma, addr).map_err(|e| {
                tracing::warn!("filling the page at {addr:#x} from its file: {e}");
                SegvCode::MapErr
            });
        }
        if !vma.owns_memory() && !vma.shared && vma.prot.write && !state.file_pages.is_own(page) {
            // A placed page of a private file mapping faulting: a write, which gets its copy.
            return self.own_file_page(&mut state, &vma, page).map_err(|e| {
                tracing::warn!("copying the private file page at {addr:#x}: {e}");
                SegvCode::BusAdrErr
            });
        }
        if vma.cow && vma.prot.write {
            // A present, readable page that faults in a writable copy-on-write mapping: a write.
            return self.break_cow(&mut state, addr).map_err(|e| {
                tracing::warn!("copy-on-write at {addr:#x}: {e}");
                SegvCode::BusAdrErr
            });
        }
        if self.mappings_epoch() != entered {
            // Mapped or widened by another thread after this one entered the guest: the fault
            // may predate that, so retry (a real one comes back with the epoch unchanged).
            return Ok(());
        }
        // Present and allowed, and mapped so all along: a protection fault the platform saw
        // and we cannot fix (e.g. a write to a read-only page, reported as a read).
        Err(SegvCode::AccErr)
    }

    /// Fills and maps every demand-paged chunk overlapping `range`, which VMAs cover, and places
    /// the file pages of shared file mappings in it (EFAULT past the end of the file).
    pub(super) fn populate(&self, state: &mut State, range: Range<u64>) -> Result<(), Errno> {
        let vmas: Vec<Vma> = state
            .vmas
            .overlapping(range.clone())
            .filter(|v| v.demand_paged() || !v.owns_memory())
            .cloned()
            .collect();
        for vma in vmas {
            let part = range.start.max(vma.range.start)..range.end.min(vma.range.end);
            if !vma.owns_memory() {
                let mut page = abi::page_floor(part.start);
                while page < part.end {
                    self.place_file_page(state, &vma, page)?;
                    page += abi::PAGE_SIZE;
                }
                continue;
            }
            let mut chunk = align_down(part.start, FAULT_CHUNK);
            while chunk < part.end {
                let filled = state
                    .populated
                    .gaps(vma.memory_for(&chunk_in(&vma, chunk)))
                    .is_empty();
                if !filled {
                    self.populate_chunk(state, &vma, chunk.max(vma.range.start))?;
                }
                chunk = chunk.saturating_add(FAULT_CHUNK);
            }
        }
        Ok(())
    }

    /// Fills the unfilled pages of the chunk of `vma` around `addr` from the file (zeros past its
    /// end) and maps the chunk.
    fn populate_chunk(&self, state: &mut State, vma: &Vma, addr: u64) -> Result<(), Errno> {
        let Backing::File { file, .. } = &vma.backing else {
            return Ok(());
        };
        let chunk = chunk_in(vma, align_down(addr, FAULT_CHUNK));
        let memory = vma.memory_for(&chunk);
        for gap in state.populated.gaps(memory.clone()) {
            let guest_start = vma.range.start + (gap.start - vma.memory_offset);
            let Some(file_offset) = vma.file_offset_at(guest_start) else {
                continue;
            };
            let len = usize::try_from(gap.end - gap.start).map_err(|_| Errno::ENOMEM)?;
            let mut data = vec![0u8; len];
            let mut filled = 0;
            while filled < len {
                let n = file.read_at(file_offset + filled as u64, &mut data[filled..])?;
                if n == 0 {
                    break; // end of file: the rest stays zero
                }
                // A file reporting more than asked for must not move us past the buffer.
                filled += n.min(len - filled);
            }
            self.memory.write(gap.start, &data[..filled]).map_err(|e| {
                tracing::error!("filling a demand-paged chunk: {e}");
                Errno::EFAULT
            })?;
        }
        self.map_file(
            chunk.start,
            chunk.end - chunk.start,
            memory.start,
            vma.mapped_prot(),
        )?;
        state.populated.insert(memory);
        Ok(())
    }
}

/// The fault chunk starting at `chunk_start`, clamped to `vma`.
fn chunk_in(vma: &Vma, chunk_start: u64) -> Range<u64> {
    chunk_start.max(vma.range.start)..chunk_start.saturating_add(FAULT_CHUNK).min(vma.range.end)
}
